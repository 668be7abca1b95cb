//! Text -> normalised vector. The trait hides the engine (ONNX Runtime in production,
//! a model-free hashing embedder for unit tests about something else).

mod cache;
mod hashing;
mod onnx;
mod query_cache;

pub use cache::embed_cached;
pub use hashing::HashingEmbedder;
pub use onnx::{ModelPaths, OnnxEmbedder, QUERY_CACHE_ENTRIES, SessionKind, Threads, before_exit};

/// Which side of a retrieval pair a text is on: e5 was trained with `query: ` and
/// `passage: ` prefixes, and scores are only comparable when they are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Query,
    Passage,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(
        "model files missing or unreadable in {path}: {detail} (install the model folder: `make models` in a source checkout, else the folder scripts/fetch_models.sh builds, at GUICHET_MODELS)"
    )]
    ModelFiles { path: String, detail: String },
    #[error(
        "cannot load ONNX Runtime from {path}: {detail} (install the model folder: `make models` in a source checkout, else the folder scripts/fetch_models.sh builds, at GUICHET_MODELS)"
    )]
    Runtime { path: String, detail: String },
    #[error("embedding failed: {0}")]
    Inference(String),
    #[error("the model returned a vector of length {got}, expected {expected}")]
    Dimension { got: usize, expected: usize },
    #[error("the model returned a zero or non-finite vector")]
    Degenerate,
    #[error("embedding cache {path}: {source}")]
    Cache {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A unit-length vector; cosine similarity is a dot product.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding(Vec<f32>);

impl Embedding {
    /// Normalises `v`; refuses zero and non-finite vectors.
    pub fn new(mut v: Vec<f32>) -> Result<Self, EmbedError> {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return Err(EmbedError::Degenerate);
        }
        v.iter_mut().for_each(|x| *x /= norm);
        Ok(Self(v))
    }

    /// A vector that was normalised before (read back from a cache): kept bit for bit, so a
    /// restart scores exactly as before, but refused unless its norm is 1.
    pub fn from_unit(v: Vec<f32>) -> Result<Self, EmbedError> {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if (norm - 1.0).abs() > 1e-3 {
            return Err(EmbedError::Degenerate);
        }
        Ok(Self(v))
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    pub fn dim(&self) -> usize {
        self.0.len()
    }

    /// Cosine similarity, in [-1, 1].
    pub fn dot(&self, other: &Embedding) -> f32 {
        self.0.iter().zip(&other.0).map(|(a, b)| a * b).sum()
    }
}

pub trait Embedder: Send + Sync {
    /// Identifies the model and its exact weights: embeddings from two ids never mix.
    fn model_id(&self) -> &str;
    fn dimension(&self) -> usize;
    /// Embeds one text. One at a time on purpose: a dynamically quantised model scales
    /// activations per batch, so batching would make a text's vector depend on its neighbours.
    fn embed(&self, text: &str, kind: TextKind) -> Result<Embedding, EmbedError>;
    /// How many texts it can embed at once (threads that embedding a whole corpus uses).
    fn workers(&self) -> usize {
        1
    }
    /// How the memory of question vectors fares, for engines that keep one.
    fn query_cache_stats(&self) -> Option<QueryCacheStats> {
        None
    }
}

/// Counters of the in-memory question vector cache (for /metrics and the logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
    pub capacity: usize,
}

impl QueryCacheStats {
    pub fn lookups(&self) -> u64 {
        self.hits + self.misses
    }

    /// Hits over look-ups (0 before the first).
    pub fn hit_rate(&self) -> f64 {
        if self.lookups() == 0 {
            0.0
        } else {
            self.hits as f64 / self.lookups() as f64
        }
    }
}
