//! multilingual-e5-small through `ort` (a dynamically loaded ONNX Runtime) and `tokenizers`.
//! One tokenizer serves every worker (`encode` takes `&self`; the XLM-R vocabulary is
//! ~280 MiB in memory); a session's `run` takes `&mut self`, so a small pool of sessions
//! serves threads, all sharing the model's big tensors and repacked weights. fastembed's
//! `TextEmbedding` cannot share a tokenizer or a tensor between sessions (each instance
//! owns and parses its own), hence these two crates directly.
//!
//! Two kinds of session: one thread each, for questions that come together (each runs on
//! its caller's thread, the cores split between them with no hand-over), and one spread
//! over every core, for a question that comes alone (nothing else wants the cores).

mod initializers;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, PrepackedWeights};
use ort::value::Tensor;
use prost::bytes::Bytes;
use sha2::{Digest, Sha256};
use tokenizers::{Tokenizer, TruncationParams};

use super::query_cache::QueryCache;
use super::{EmbedError, Embedder, Embedding, QueryCacheStats, TextKind};

/// Where `make models` puts things, relative to the models folder.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    pub model_dir: PathBuf,
    pub runtime: PathBuf,
    /// Written last by scripts/fetch_models.sh, once every file was verified.
    pub ready: PathBuf,
}

/// What [`OnnxEmbedder::load`] needs in `model_dir` (the folder's layout is shared with
/// other runtimes, which read config.json and special_tokens_map.json too).
const MODEL_FILES: [&str; 5] = [
    "model.onnx",
    "tokenizer.json",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
];

impl ModelPaths {
    pub fn in_folder(models: &Path) -> Self {
        Self {
            model_dir: models.join("multilingual-e5-small"),
            runtime: models.join("onnxruntime").join("libonnxruntime.so"),
            ready: models.join("READY"),
        }
    }

    /// The files a load needs that are not there, checked without loading anything.
    pub fn missing(&self) -> Vec<PathBuf> {
        MODEL_FILES
            .iter()
            .map(|f| self.model_dir.join(f))
            .chain([self.runtime.clone(), self.ready.clone()])
            .filter(|p| !p.is_file())
            .collect()
    }
}

const DIM: usize = 384;
const MAX_TOKENS: usize = 512;
/// Distinct questions whose vectors are kept (about 1.6 KiB each).
pub const QUERY_CACHE_ENTRIES: usize = 4096;

/// How the model's sessions get their threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// One thread per session: a question costs one core whatever the load.
    PerSession,
    /// The one-thread sessions, and one more session of this many threads that takes a
    /// question arriving while no other is computed: alone, it spreads over the cores
    /// (its threads spin while it runs, and stop when it returns).
    Adaptive(usize),
}

/// Which kind of session computed a vector (counted in `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A question alone, on the session of every core.
    Lone = 0,
    /// One of several at once, on a one-thread session.
    Single = 1,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lone => "lone",
            Self::Single => "single",
        }
    }
}

/// ONNX Runtime is loaded once per process, its environment built by the first load.
static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

fn runtime(path: &Path) -> Result<ort::environment::Environment, EmbedError> {
    let fail = |detail: String| EmbedError::Runtime {
        path: path.display().to_string(),
        detail,
    };
    if !path.exists() {
        return Err(fail("file not found".into()));
    }
    RUNTIME
        .get_or_init(|| {
            ort::init_from(path)
                .map_err(|e| e.to_string())?
                .with_name("guichet")
                .with_telemetry(false)
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(fail)
}

/// Counts a question as computed from its start to its end (the guard's drop).
struct InFlight<'a>(&'a AtomicUsize);

/// A session taken for one question; the question stops counting as computed once the
/// session is released (fields drop in order).
struct Taken<'a> {
    session: MutexGuard<'a, Session>,
    kind: SessionKind,
    _in_flight: InFlight<'a>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct OnnxEmbedder {
    threads: Threads,
    tokenizer: Tokenizer,
    /// One thread each.
    sessions: Vec<Mutex<Session>>,
    /// Every core, for a question alone (with [`Threads::Adaptive`]).
    lone: Option<Mutex<Session>>,
    /// Questions being computed now.
    in_flight: AtomicUsize,
    /// Model runs on the lone session, and on the one-thread ones.
    runs: [AtomicU64; 2],
    token_type_ids: bool,
    next: AtomicUsize,
    model_id: String,
    queries: Option<QueryCache>,
}

impl OnnxEmbedder {
    /// Loads the model with `workers` sessions of one thread each (one per core serves
    /// concurrent questions best; a single question costs one core either way). The
    /// tokenizer is parsed once, while the sessions are built, all at the same time.
    pub fn load(paths: &ModelPaths, workers: usize) -> Result<Self, EmbedError> {
        Self::load_with(paths, workers, Threads::PerSession)
    }

    /// [`Self::load`] with the threads asked.
    pub fn load_with(
        paths: &ModelPaths,
        workers: usize,
        threads: Threads,
    ) -> Result<Self, EmbedError> {
        let env = runtime(&paths.runtime)?;
        let dir = &paths.model_dir;
        let files_error = |detail: String| EmbedError::ModelFiles {
            path: dir.display().to_string(),
            detail,
        };
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| files_error(format!("{name}: {e}")))
        };
        let [model, tokenizer_file, ..] = MODEL_FILES;
        for name in &MODEL_FILES[2..] {
            if !dir.join(name).is_file() {
                return Err(files_error(format!("{name}: not found")));
            }
        }
        let started = std::time::Instant::now();
        let tokenizer_json = read(tokenizer_file)?;
        let parse_tokenizer = || -> Result<Tokenizer, EmbedError> {
            let fail = |e: String| files_error(format!("{tokenizer_file}: {e}"));
            let mut t = Tokenizer::from_bytes(&tokenizer_json).map_err(|e| fail(e.to_string()))?;
            t.with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| fail(e.to_string()))?;
            // One text at a time: nothing is ever padded.
            t.with_padding(None);
            tracing::debug!(
                elapsed_ms = started.elapsed().as_millis(),
                "tokenizer parsed"
            );
            Ok(t)
        };
        let lone_threads = match threads {
            Threads::PerSession => None,
            Threads::Adaptive(n) => Some(n.max(2)),
        };
        // The tokenizer (the longest part of a load: 250k pieces in a trie) is parsed from
        // the start, while the model is read and each session built on a thread of its
        // own: a load takes the longest of them, not their sum.
        let (tokenizer, loaded) = std::thread::scope(|s| {
            let tokenizer = s.spawn(parse_tokenizer);
            let loaded = (|| {
                let onnx = Bytes::from(read(model)?);
                let mut hasher = Sha256::new();
                hasher.update(&onnx);
                hasher.update(&tokenizer_json);
                let model_id = format!("e5-small-{}", &hex::encode(hasher.finalize())[..16]);
                // The tensors every session uses in place, and the weights ONNX Runtime
                // repacks for its kernels, once for all of them.
                let shared = initializers::big_ones(&onnx)
                    .and_then(|big| {
                        big.iter()
                            .map(|t| Ok((t.name.clone(), t.value()?)))
                            .collect::<Result<Vec<_>, String>>()
                    })
                    .map_err(|e| files_error(format!("{model}: {e}")))?;
                tracing::debug!(
                    elapsed_ms = started.elapsed().as_millis(),
                    shared = shared.len(),
                    "model read, hashed and its big tensors taken out"
                );
                let prepacked = PrepackedWeights::new();
                let build_session = |threads: usize| -> Result<Session, EmbedError> {
                    let fail = |e: String| files_error(format!("{model}: {e}"));
                    let mut builder = Session::builder(&env)
                        .map_err(|e| fail(e.to_string()))?
                        .with_optimization_level(GraphOptimizationLevel::Level3)
                        .map_err(|e| fail(e.to_string()))?
                        .with_prepacked_weights(&prepacked)
                        .map_err(|e| fail(e.to_string()))?
                        .with_intra_threads(threads)
                        .map_err(|e| fail(e.to_string()))?;
                    if threads > 1 {
                        // Spinning hands work to the threads fast while a question runs; they
                        // stop at its end instead of burning the cores between questions.
                        builder = builder
                            .with_intra_op_spinning(true)
                            .map_err(|e| fail(e.to_string()))?
                            .with_config_entry("session.force_spinning_stop", "1")
                            .map_err(|e| fail(e.to_string()))?;
                    }
                    for (name, value) in &shared {
                        builder = builder
                            .with_initializer(name, Arc::clone(value))
                            .map_err(|e| fail(e.to_string()))?;
                    }
                    builder
                        .commit_from_memory(&onnx)
                        .map_err(|e| fail(e.to_string()))
                        .inspect(|_| {
                            tracing::debug!(
                                elapsed_ms = started.elapsed().as_millis(),
                                threads,
                                "model session built"
                            )
                        })
                };
                let (sessions, lone) = std::thread::scope(|inner| {
                    let build_session = &build_session;
                    let lone = lone_threads.map(|n| inner.spawn(move || build_session(n)));
                    let sessions: Vec<_> = (0..workers.max(1))
                        .map(|_| inner.spawn(|| build_session(1)))
                        .collect();
                    let sessions = sessions
                        .into_iter()
                        .map(|h| h.join().expect("session builder panicked"))
                        .collect::<Result<Vec<_>, _>>();
                    let lone = lone
                        .map(|h| h.join().expect("session builder panicked"))
                        .transpose();
                    (sessions, lone)
                });
                let (sessions, lone) = (sessions?, lone?);
                Ok::<_, EmbedError>((model_id, sessions, lone))
            })();
            (tokenizer.join().expect("tokenizer parser panicked"), loaded)
        });
        let (model_id, sessions, lone) = loaded?;
        let tokenizer = tokenizer?;
        let token_type_ids = sessions[0]
            .inputs()
            .iter()
            .any(|i| i.name() == "token_type_ids");
        Ok(Self {
            threads: lone_threads.map_or(Threads::PerSession, Threads::Adaptive),
            tokenizer,
            sessions: sessions.into_iter().map(Mutex::new).collect(),
            lone: lone.map(Mutex::new),
            in_flight: AtomicUsize::new(0),
            runs: Default::default(),
            token_type_ids,
            next: AtomicUsize::new(0),
            model_id,
            queries: Some(QueryCache::new(QUERY_CACHE_ENTRIES)),
        })
    }

    /// The threads its sessions run on.
    pub fn threads(&self) -> Threads {
        self.threads
    }

    /// Model runs so far: (on the session of every core, on the one-thread sessions).
    pub fn runs(&self) -> (u64, u64) {
        let [lone, single] = &self.runs;
        (lone.load(Ordering::Relaxed), single.load(Ordering::Relaxed))
    }

    /// The same embedder keeping `entries` question vectors (0: none, every question runs
    /// the model, as a benchmark of the model needs).
    pub fn with_query_cache(self, entries: usize) -> Self {
        Self {
            queries: (entries > 0).then(|| QueryCache::new(entries)),
            ..self
        }
    }

    /// Token ids of a text as the model reads it (prefixed, normalised, truncated).
    fn encode(&self, prefixed: &str) -> Result<Vec<u32>, EmbedError> {
        let encoding = self
            .tokenizer
            .encode(prefixed, true)
            .map_err(|e| EmbedError::Inference(format!("tokenizer: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The session for a question starting now: the one of every core when no other
    /// question is being computed (and it is free), else a one-thread session, a free one
    /// if there is one, else the next in turn.
    fn session(&self) -> Taken<'_> {
        let alone = self.in_flight.fetch_add(1, Ordering::AcqRel) == 0;
        let in_flight = InFlight(&self.in_flight);
        if alone && let Some(session) = self.lone.as_ref().and_then(|l| l.try_lock().ok()) {
            return Taken {
                session,
                kind: SessionKind::Lone,
                _in_flight: in_flight,
            };
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let k = self.sessions.len();
        let free = (0..k).find_map(|i| self.sessions[(start + i) % k].try_lock().ok());
        let session = free.unwrap_or_else(|| {
            self.sessions[start % k]
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        });
        Taken {
            session,
            kind: SessionKind::Single,
            _in_flight: in_flight,
        }
    }

    /// One forward pass over `ids` (a batch of one, all tokens attended), mean-pooled.
    fn run(&self, ids: &[u32]) -> Result<Vec<f32>, EmbedError> {
        let fail = |e: ort::Error| EmbedError::Inference(e.to_string());
        let n = ids.len();
        let tensor = |v: Vec<i64>| Tensor::from_array(([1, n], v)).map_err(fail);
        let input_ids = tensor(ids.iter().map(|&i| i64::from(i)).collect())?;
        let mask = tensor(vec![1; n])?;
        let mut taken = self.session();
        self.runs[taken.kind as usize].fetch_add(1, Ordering::Relaxed);
        crate::telemetry::embedding_run(taken.kind);
        let outputs = if self.token_type_ids {
            taken.session.run(ort::inputs![
                "input_ids" => input_ids,
                "attention_mask" => mask,
                "token_type_ids" => tensor(vec![0; n])?,
            ])
        } else {
            taken.session.run(ort::inputs![
                "input_ids" => input_ids,
                "attention_mask" => mask,
            ])
        }
        .map_err(fail)?;
        let hidden = outputs
            .get("last_hidden_state")
            .ok_or_else(|| EmbedError::Inference("no last_hidden_state output".into()))?;
        let (shape, data) = hidden.try_extract_tensor::<f32>().map_err(fail)?;
        let dim = shape.last().copied().unwrap_or(0) as usize;
        if dim != DIM || data.len() != n * DIM {
            return Err(EmbedError::Dimension {
                got: dim,
                expected: DIM,
            });
        }
        // Mean pooling over the tokens (every one is attended: nothing is padded).
        let mut v = vec![0f32; DIM];
        for token in data.chunks_exact(DIM) {
            v.iter_mut().zip(token).for_each(|(a, x)| *a += x);
        }
        v.iter_mut().for_each(|a| *a /= n as f32);
        Ok(v)
    }
}

impl Embedder for OnnxEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimension(&self) -> usize {
        DIM
    }

    fn embed(&self, text: &str, kind: TextKind) -> Result<Embedding, EmbedError> {
        let prefixed = match kind {
            TextKind::Query => format!("query: {text}"),
            TextKind::Passage => format!("passage: {text}"),
        };
        let ids = self.encode(&prefixed)?;
        let Some(queries) = self.queries.as_ref().filter(|_| kind == TextKind::Query) else {
            return Embedding::new(self.run(&ids)?);
        };
        // Questions are keyed by their token ids: two texts the tokenizer's own
        // normaliser makes one (spacing, compatibility forms) share a vector, and a cached
        // vector is exactly the one the model would compute again.
        if let Some(hit) = queries.get(&ids) {
            return Ok(hit);
        }
        let e = Embedding::new(self.run(&ids)?)?;
        queries.insert(ids, e.clone());
        Ok(e)
    }

    /// One per model session.
    fn workers(&self) -> usize {
        self.sessions.len()
    }

    fn query_cache_stats(&self) -> Option<QueryCacheStats> {
        self.queries.as_ref().map(QueryCache::stats)
    }
}
