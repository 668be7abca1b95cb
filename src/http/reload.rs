//! Live knowledge base: every replica watches the version of the knowledge base in the
//! store (every `GUICHET_KB_WATCH_MS`, and at once when this process validated a change)
//! and, when it moved, builds a new engine from the live revisions beside the one serving
//! and swaps it in atomically; questions in flight finish on the old one. Only passages
//! not in the embedding cache are embedded. A knowledge base that fails its checks is
//! never swapped in: the previous engine keeps serving and the problems are kept for the
//! console. The date matters too: an entry whose review date passed at midnight leaves.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Local, NaiveDate, Utc};

use super::AppState;
use crate::engine::{Engine, EngineOptions};
use crate::kb::{self, KbError};

/// What a replica serves of the knowledge base, and what refused the last change.
#[derive(Default)]
pub struct KbState {
    /// The store's version the serving engine was built from (0: none, or from a folder).
    version: AtomicI64,
    /// The day the serving engine's review dates were checked on.
    built_on: std::sync::Mutex<Option<NaiveDate>>,
    problem: std::sync::Mutex<Option<KbProblem>>,
    wake: tokio::sync::Notify,
    /// One build at a time.
    building: tokio::sync::Mutex<()>,
}

/// A version of the knowledge base that was not swapped in, and why.
#[derive(Debug, Clone)]
pub struct KbProblem {
    pub version: i64,
    pub problems: Vec<String>,
    pub at: DateTime<Utc>,
}

impl KbState {
    pub fn version(&self) -> i64 {
        self.version.load(Ordering::SeqCst)
    }

    pub fn problem(&self) -> Option<KbProblem> {
        self.problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl AppState {
    /// Records that the serving engine was built from `version` of the store's knowledge
    /// base (at start, before the watch).
    pub fn serving_kb(&self, version: i64) {
        self.kb.version.store(version, Ordering::SeqCst);
        *self.kb.built_on.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Local::now().date_naive());
    }

    /// This process changed the knowledge base: look now rather than at the next tick.
    pub fn kb_changed(&self) {
        self.kb.wake.notify_one();
    }
}

/// Watches the store's knowledge base for as long as the server runs.
pub fn spawn_kb_watch(state: &AppState) {
    let state = state.clone();
    let every = Duration::from_millis(state.config.kb_watch_ms);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = state.kb.wake.notified() => {}
                () = state.stopping.cancelled() => return,
            }
            if let Err(e) = refresh(&state).await {
                tracing::warn!("knowledge base watch: {e}");
            }
        }
    });
}

/// Swaps in a new engine if the store's knowledge base moved (or the day changed);
/// whether it did.
pub async fn refresh(state: &AppState) -> Result<bool, super::ApiError> {
    let _one = state.kb.building.lock().await;
    let version = state.with_store(|s| s.kb_version()).await?;
    let today = Local::now().date_naive();
    let same_day = *state.kb.built_on.lock().unwrap_or_else(|e| e.into_inner()) == Some(today);
    let refused = state.kb.problem().is_some_and(|p| p.version == version);
    // Version 0: the store holds no knowledge base (an engine over a folder, in tests).
    if version == 0 || (version == state.kb.version() && same_day) || (refused && same_day) {
        return Ok(false);
    }
    let Ok(old) = state.engine() else {
        return Ok(false);
    };
    let store = state.store.clone();
    let cache = state.config.cache.clone();
    let started = std::time::Instant::now();
    let built = tokio::task::spawn_blocking(move || -> Result<(Engine, i64), KbError> {
        let loaded = kb::load(store.as_ref(), today)?;
        for p in kb::serious(&loaded.problems) {
            tracing::warn!("{p}");
        }
        let options = EngineOptions {
            cache_dir: Some(cache),
            policy: old.policy().clone(),
            ..EngineOptions::default()
        };
        let engine = Engine::build(loaded.corpus, old.embedder().clone(), options)
            .map_err(|e| KbError::Refused(e.to_string()))?;
        Ok((engine, loaded.version))
    })
    .await
    .map_err(|e| super::ApiError::Internal(format!("engine build task failed: {e}")))?;
    match built {
        Ok((engine, version)) => {
            tracing::info!(
                version,
                corpus = engine.corpus().version(),
                entries = engine.corpus().entries().len(),
                ms = started.elapsed().as_millis() as u64,
                "knowledge base swapped in"
            );
            state.set_engine(Arc::new(engine));
            state.serving_kb(version);
            *state.kb.problem.lock().unwrap_or_else(|e| e.into_inner()) = None;
            Ok(true)
        }
        Err(e) => {
            // A base that fails its checks is refused until it changes; anything else (the
            // store, the model) is tried again at the next tick.
            let (problems, refused) = match &e {
                KbError::Invalid(p) => (p.iter().map(ToString::to_string).collect(), version),
                other => (vec![other.to_string()], 0),
            };
            tracing::error!(
                version,
                problems = problems.len(),
                "knowledge base refused, the previous one keeps serving: {}",
                problems.join("; ")
            );
            *state.kb.problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(KbProblem {
                version: refused,
                problems,
                at: Utc::now(),
            });
            if refused != 0 {
                // The calendar is checked again tomorrow, not at every tick.
                *state.kb.built_on.lock().unwrap_or_else(|e| e.into_inner()) = Some(today);
            }
            Ok(false)
        }
    }
}
