//! A model-free embedder: hashed character trigrams. It knows nothing of meaning and is
//! only for tests about something else than retrieval quality (HTTP shapes, policy, store).

use sha2::{Digest, Sha256};

use super::{EmbedError, Embedder, Embedding, TextKind};

pub struct HashingEmbedder {
    dim: usize,
}

impl HashingEmbedder {
    pub fn new(dim: usize) -> Self {
        Self { dim: dim.max(8) }
    }
}

impl Embedder for HashingEmbedder {
    fn model_id(&self) -> &str {
        "hashing-trigrams-v1"
    }

    fn dimension(&self) -> usize {
        self.dim
    }

    fn embed(&self, text: &str, _kind: TextKind) -> Result<Embedding, EmbedError> {
        let mut v = vec![0f32; self.dim];
        let folded: Vec<char> = format!("  {}  ", crate::text::fold(text)).chars().collect();
        for w in folded.windows(3) {
            let gram: String = w.iter().collect();
            let h = Sha256::digest(gram.as_bytes());
            let bucket = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize % self.dim;
            v[bucket] += if h[4] & 1 == 0 { 1.0 } else { -1.0 };
        }
        // A text with no trigram at all still gets a defined (if meaningless) vector.
        v[0] += 1e-3;
        Embedding::new(v)
    }
}
