//! multilingual-e5-small through `ort` (a dynamically loaded ONNX Runtime) and `tokenizers`.
//! One tokenizer serves every worker (`encode` takes `&self`), its 250,002-piece vocabulary
//! held compactly ([`unigram`]: ~6 MiB where `tokenizers`' own model takes ~280 MiB); a
//! session's `run` takes `&mut self`, so a small pool of sessions serves threads, all
//! sharing the model's big tensors and repacked weights. fastembed's `TextEmbedding`
//! cannot share a tokenizer or a tensor between sessions (each instance owns and parses
//! its own), hence these two crates directly.
//!
//! Two kinds of session: one thread each, for questions that come together (each runs on
//! its caller's thread, the cores split between them with no hand-over), and one spread
//! over every core, for a question that comes alone (nothing else wants the cores).

mod initializers;
mod unigram;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, PrepackedWeights};
use ort::value::{DynValue, Tensor};
use prost::bytes::Bytes;
use sha2::{Digest, Sha256};
use tokenizers::TruncationParams;

use unigram::CompactTokenizer;

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

/// Set once the process is about to exit: no session is started after it.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Held while a session is built after load (ONNX Runtime's static state must outlive it).
static BUILDING: Mutex<()> = Mutex::new(());

/// Call before `std::process::exit`: waits for a session being built in the background to
/// be done and starts no other one (exiting while ONNX Runtime builds one crashes the
/// process as its static state is torn down under it).
pub fn before_exit() {
    EXITING.store(true, Ordering::SeqCst);
    std::mem::forget(BUILDING.lock());
}

/// The sessions of an embedder: the first is built at load, the others by a thread of
/// their own just after (see [`SessionFactory::fill`]).
struct Pool {
    /// One thread each.
    sessions: Vec<OnceLock<Mutex<Session>>>,
    /// Every core, for a question alone (with [`Threads::Adaptive`]).
    lone: OnceLock<Mutex<Session>>,
    /// True once every session is built or given up.
    complete: (Mutex<bool>, Condvar),
}

impl Pool {
    fn mark_complete(&self) {
        let (done, built) = &self.complete;
        *done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        built.notify_all();
    }
}

/// What building a session takes: the model's bytes, the tensors all sessions share in
/// place and the weights ONNX Runtime repacks once for all of them.
struct SessionFactory {
    env: ort::environment::Environment,
    onnx: Bytes,
    shared: Vec<(String, Arc<DynValue>)>,
    prepacked: PrepackedWeights,
    /// model.onnx, for errors.
    path: PathBuf,
    started: Instant,
}

impl SessionFactory {
    fn build(&self, threads: usize) -> Result<Session, EmbedError> {
        let fail = |e: String| EmbedError::ModelFiles {
            path: self.path.display().to_string(),
            detail: e,
        };
        let mut builder = Session::builder(&self.env)
            .map_err(|e| fail(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| fail(e.to_string()))?
            .with_prepacked_weights(&self.prepacked)
            .map_err(|e| fail(e.to_string()))?
            .with_intra_threads(threads)
            .map_err(|e| fail(e.to_string()))?;
        if threads > 1 {
            // Spinning hands work to the threads fast while a question runs; they stop at
            // its end instead of burning the cores between questions.
            builder = builder
                .with_intra_op_spinning(true)
                .map_err(|e| fail(e.to_string()))?
                .with_config_entry("session.force_spinning_stop", "1")
                .map_err(|e| fail(e.to_string()))?;
        }
        for (name, value) in &self.shared {
            builder = builder
                .with_initializer(name, Arc::clone(value))
                .map_err(|e| fail(e.to_string()))?;
        }
        let session = builder
            .commit_from_memory(&self.onnx)
            .map_err(|e| fail(e.to_string()))?;
        tracing::debug!(
            elapsed_ms = self.started.elapsed().as_millis(),
            threads,
            "model session built"
        );
        Ok(session)
    }

    /// Builds the sessions `pool` still lacks, the one of every core first (it serves the
    /// quiet times, which are most of them), one at a time; stops when the embedder is
    /// dropped or the process exits. A session that cannot be built is left out (the
    /// others serve), and said in the log.
    fn fill(self, pool: &Arc<Pool>, lone_threads: Option<usize>) {
        let wanted = lone_threads
            .map(|n| (None, n))
            .into_iter()
            .chain((1..pool.sessions.len()).map(|i| (Some(i), 1)));
        for (slot, threads) in wanted {
            let _building = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
            if EXITING.load(Ordering::SeqCst) || Arc::strong_count(pool) == 1 {
                break;
            }
            match self.build(threads) {
                Ok(session) => {
                    let target = slot.map_or(&pool.lone, |i| &pool.sessions[i]);
                    let _ = target.set(Mutex::new(session));
                }
                Err(e) => tracing::warn!(threads, "a model session was left out: {e}"),
            }
        }
        pool.mark_complete();
    }
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
    tokenizer: CompactTokenizer,
    /// The sessions, built the first at load and the others just after.
    pool: Arc<Pool>,
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
    /// tokenizer is parsed once, while the first session is built; the others are built
    /// by a thread of their own once this returns ([`Self::wait_for_sessions`]).
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
        let parse_tokenizer = || -> Result<CompactTokenizer, EmbedError> {
            let fail = |e: String| files_error(format!("{tokenizer_file}: {e}"));
            let mut t =
                CompactTokenizer::from_bytes(&tokenizer_json).map_err(|e| fail(e.to_string()))?;
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
        // The tokenizer (the longest part of a load) is parsed from the start, while the
        // model is read and its first session built: the embedder is ready once both are
        // done. The other sessions are built after, one at a time, while it answers.
        let (tokenizer, loaded) = std::thread::scope(|s| {
            let tokenizer = s.spawn(parse_tokenizer);
            let loaded = (|| {
                let onnx = Bytes::from(read(model)?);
                // The id that keys the embedding cache, hashed beside the session build.
                let hashing = s.spawn({
                    let (onnx, tokenizer_json) = (onnx.clone(), &tokenizer_json);
                    move || {
                        let mut hasher = Sha256::new();
                        hasher.update(&onnx);
                        hasher.update(tokenizer_json);
                        format!("e5-small-{}", &hex::encode(hasher.finalize())[..16])
                    }
                });
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
                    "model read and its big tensors taken out"
                );
                let factory = SessionFactory {
                    env,
                    onnx,
                    shared,
                    prepacked: PrepackedWeights::new(),
                    path: dir.join(model),
                    started,
                };
                let first = factory.build(1)?;
                let model_id = hashing.join().expect("model hasher panicked");
                Ok::<_, EmbedError>((model_id, factory, first))
            })();
            (tokenizer.join().expect("tokenizer parser panicked"), loaded)
        });
        let (model_id, factory, first) = loaded?;
        let tokenizer = tokenizer?;
        let token_type_ids = first.inputs().iter().any(|i| i.name() == "token_type_ids");
        let pool = Arc::new(Pool {
            sessions: (0..workers.max(1)).map(|_| OnceLock::new()).collect(),
            lone: OnceLock::new(),
            complete: (Mutex::new(false), Condvar::new()),
        });
        let _ = pool.sessions[0].set(Mutex::new(first));
        let background = Arc::clone(&pool);
        let spawned = std::thread::Builder::new()
            .name("guichet-sessions".into())
            .spawn(move || factory.fill(&background, lone_threads));
        if let Err(e) = spawned {
            tracing::warn!("cannot build the other model sessions: {e}");
            pool.mark_complete();
        }
        Ok(Self {
            threads: lone_threads.map_or(Threads::PerSession, Threads::Adaptive),
            tokenizer,
            pool,
            in_flight: AtomicUsize::new(0),
            runs: Default::default(),
            token_type_ids,
            next: AtomicUsize::new(0),
            model_id,
            queries: Some(QueryCache::new(QUERY_CACHE_ENTRIES)),
        })
    }

    /// Returns once every session is built (or given up): a measure of the whole pool
    /// waits for it.
    pub fn wait_for_sessions(&self) {
        let (done, built) = &self.pool.complete;
        let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = built.wait(done).unwrap_or_else(|e| e.into_inner());
        }
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
    pub fn token_ids(&self, text: &str, kind: TextKind) -> Result<Vec<u32>, EmbedError> {
        let prefixed = match kind {
            TextKind::Query => format!("query: {text}"),
            TextKind::Passage => format!("passage: {text}"),
        };
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
        if alone && let Some(session) = self.pool.lone.get().and_then(|l| l.try_lock().ok()) {
            return Taken {
                session,
                kind: SessionKind::Lone,
                _in_flight: in_flight,
            };
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let slots = &self.pool.sessions;
        let k = slots.len();
        // The sessions built so far, from the next in turn.
        let turn = |i: usize| slots[(start + i) % k].get();
        let free = (0..k).filter_map(turn).find_map(|m| m.try_lock().ok());
        let session = free.unwrap_or_else(|| {
            (0..k)
                .find_map(turn)
                .expect("the first session is built at load")
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
        let ids = self.token_ids(text, kind)?;
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

    /// One per one-thread session (counting those still being built).
    fn workers(&self) -> usize {
        self.pool.sessions.len()
    }

    fn query_cache_stats(&self) -> Option<QueryCacheStats> {
        self.queries.as_ref().map(QueryCache::stats)
    }
}
