//! multilingual-e5-small through fastembed and a dynamically loaded ONNX Runtime.
//! `TextEmbedding::embed` takes `&mut self`, so a small pool of sessions serves threads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};
use sha2::{Digest, Sha256};

use super::{EmbedError, Embedder, Embedding, TextKind};

/// Where `make models` puts things, relative to the models folder.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    pub model_dir: PathBuf,
    pub runtime: PathBuf,
    /// Written last by scripts/fetch_models.sh, once every file was verified.
    pub ready: PathBuf,
}

/// What [`OnnxEmbedder::load`] reads from `model_dir`.
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

/// ONNX Runtime is loaded once per process; later calls reuse it.
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

pub struct OnnxEmbedder {
    sessions: Vec<Mutex<TextEmbedding>>,
    next: AtomicUsize,
    model_id: String,
}

impl OnnxEmbedder {
    /// Loads the model with `workers` sessions of one thread each (one per core serves
    /// concurrent questions best; a single question costs one core either way).
    pub fn load(paths: &ModelPaths, workers: usize) -> Result<Self, EmbedError> {
        let env = runtime(&paths.runtime)?;
        let dir = &paths.model_dir;
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| EmbedError::ModelFiles {
                path: dir.display().to_string(),
                detail: format!("{name}: {e}"),
            })
        };
        let [
            model,
            tokenizer_file,
            config_file,
            special_tokens,
            tokenizer_config,
        ] = MODEL_FILES;
        let onnx = read(model)?;
        let tokenizer = TokenizerFiles {
            tokenizer_file: read(tokenizer_file)?,
            config_file: read(config_file)?,
            special_tokens_map_file: read(special_tokens)?,
            tokenizer_config_file: read(tokenizer_config)?,
        };
        let mut hasher = Sha256::new();
        hasher.update(&onnx);
        hasher.update(&tokenizer.tokenizer_file);
        let model_id = format!("e5-small-{}", &hex::encode(hasher.finalize())[..16]);
        let mut sessions = Vec::new();
        for _ in 0..workers.max(1) {
            let model = UserDefinedEmbeddingModel::new(onnx.clone(), tokenizer.clone())
                .with_pooling(Pooling::Mean);
            let options = InitOptionsUserDefined::new()
                .with_environment(env.clone())
                .with_max_length(MAX_TOKENS)
                .with_intra_threads(1);
            let session =
                TextEmbedding::try_new_from_user_defined(model, options).map_err(|e| {
                    EmbedError::ModelFiles {
                        path: dir.display().to_string(),
                        detail: e.to_string(),
                    }
                })?;
            sessions.push(Mutex::new(session));
        }
        Ok(Self {
            sessions,
            next: AtomicUsize::new(0),
            model_id,
        })
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
        // Take a free session if there is one, else wait on the next in turn.
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.sessions.len();
        let mut guard = (0..n).find_map(|i| self.sessions[(start + i) % n].try_lock().ok());
        if guard.is_none() {
            guard = Some(
                self.sessions[start % n]
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            );
        }
        let mut session = guard.expect("a session was taken above");
        let mut out = session
            .embed([prefixed.as_str()], Some(1))
            .map_err(|e| EmbedError::Inference(e.to_string()))?;
        let v = out
            .pop()
            .ok_or_else(|| EmbedError::Inference("no vector returned".into()))?;
        if v.len() != DIM {
            return Err(EmbedError::Dimension {
                got: v.len(),
                expected: DIM,
            });
        }
        Embedding::new(v)
    }
}
