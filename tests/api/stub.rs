//! A platform on loopback (Meta's Graph API, Telegram's Bot API, a helpdesk): a real HTTP
//! server that records every request it receives and answers 200 (or fails on demand).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub body: Value,
    /// When the platform accepted it (recorded just before answering): a sender killed
    /// after this instant but before recording the send makes a duplicate.
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

#[derive(Clone, Default)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    failures: Arc<AtomicUsize>,
    /// Requests answered at once before the platform turns slow, and how slow (ms).
    fast: Arc<AtomicUsize>,
    slow_ms: Arc<AtomicUsize>,
}

pub struct Stub {
    pub base: String,
    shared: Shared,
}

async fn record(
    State(s): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let slow = s.slow_ms.load(Ordering::SeqCst);
    let fast = s
        .fast
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if slow > 0 && !fast {
        // Accepted only once answered: a sender that dies while waiting sent nothing.
        tokio::time::sleep(Duration::from_millis(slow as u64)).await;
    }
    s.received.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        headers,
        raw,
        body,
        at: std::time::Instant::now(),
    });
    let failing = s
        .failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "ok": false })),
        )
    } else {
        (
            StatusCode::OK,
            axum::Json(json!({ "ok": true, "result": {} })),
        )
    }
}

impl Stub {
    pub async fn start() -> Self {
        let shared = Shared::default();
        let app = Router::new().fallback(record).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base: format!("http://{addr}"),
            shared,
        }
    }

    /// After the next `fast` requests, each is answered (and recorded) `ms` late.
    pub fn slow_after(&self, fast: usize, ms: u64) {
        self.shared.fast.store(fast, Ordering::SeqCst);
        self.shared.slow_ms.store(ms as usize, Ordering::SeqCst);
    }

    /// The next `n` requests get a 503.
    pub fn fail_next(&self, n: usize) {
        self.shared.failures.store(n, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Requests whose path ends with `suffix`.
    pub fn at(&self, suffix: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path.ends_with(suffix))
            .collect()
    }

    /// Waits until at least `n` requests ended with `suffix` (background sends), then a
    /// little longer so that an extra one would show.
    pub async fn wait_for(&self, suffix: &str, n: usize) -> Vec<Received> {
        for _ in 0..500 {
            if self.at(suffix).len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.at(suffix)
    }
}
