//! Serving the router over TCP with bounds an unfriendly client cannot lift: a deadline
//! for each request head, a cap on connections overall and per client address, an accept
//! loop that survives running out of file descriptors, and a stop that ends on time.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::Config;

/// The bounds [`serve`] applies (from `Config`: `GUICHET_HEADER_TIMEOUT`,
/// `GUICHET_MAX_CONNECTIONS`, `GUICHET_MAX_CONNECTIONS_PER_CLIENT`, `GUICHET_SHUTDOWN_GRACE`).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Time to send a complete request head, counted from the connection's start and
    /// again after each response: it closes silent, half-open and idle kept-alive
    /// connections alike.
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub max_per_client: usize,
    /// How long a stop waits for connections under way before closing them.
    pub grace: Duration,
    /// Their connections stand for many clients: the per-client cap does not apply.
    pub trusted_proxies: Vec<IpAddr>,
}

impl ServeOptions {
    pub fn from_config(config: &Config) -> Self {
        Self {
            header_timeout: Duration::from_secs(config.header_timeout),
            max_connections: config.max_connections,
            max_per_client: config.max_connections_per_client,
            grace: Duration::from_secs(config.shutdown_grace),
            trusted_proxies: config.trusted_proxies.to_vec(),
        }
    }
}

/// Open connections per client address; a slot gives its place back when dropped.
struct PerClient {
    open: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
}

struct ClientSlot {
    table: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A warning at most every few seconds for a condition that may repeat per connection
/// (a log line per refused connection would be a second way to fill the disk).
struct Throttled {
    last: Option<Instant>,
    missed: u64,
}

impl Throttled {
    const EVERY: Duration = Duration::from_secs(10);

    fn new() -> Self {
        Self {
            last: None,
            missed: 0,
        }
    }

    /// Whether to log now, and how many occurrences were not logged since the last line.
    fn due(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|t| now - t < Self::EVERY) {
            self.missed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.missed))
    }
}

/// Errors of one connection that went away before `accept` returned: not ours to report.
fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves `app` on `listener` until `stop` is cancelled; then stops accepting, lets the
/// requests under way finish for at most `options.grace`, and closes what is left.
/// Returns the moment the stop began, so that the caller's own draining shares the grace
/// period rather than adding to it.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    stop: CancellationToken,
) -> io::Result<Instant> {
    let overall = Arc::new(Semaphore::new(options.max_connections));
    let per_client = Arc::new(PerClient {
        open: Mutex::new(HashMap::new()),
        max: options.max_per_client,
    });
    let mut connections = JoinSet::new();
    let mut out_of_fds = Throttled::new();
    let mut refused = Throttled::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if per_connection(&e) => continue,
            Err(e) => {
                metrics::counter!(crate::telemetry::ACCEPT_ERRORS).increment(1);
                // Out of file descriptors (or memory): the pending connections wait in
                // the backlog while the header deadline frees descriptors; try again
                // soon, without a log line per attempt.
                if let Some(missed) = out_of_fds.due() {
                    tracing::warn!(error = %e, missed, "cannot accept connections");
                }
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(20)) => continue,
                }
            }
        };
        let Some(slots) = admit(&overall, &per_client, &options, peer.ip()) else {
            // Dropping the stream closes it at once: the descriptor is not held.
            metrics::counter!(crate::telemetry::CONNECTIONS_REFUSED).increment(1);
            if let Some(missed) = refused.due() {
                tracing::warn!(missed, "connection refused: too many open connections");
            }
            continue;
        };
        connections.spawn(connection(
            stream,
            peer,
            app.clone(),
            options.header_timeout,
            stop.clone(),
            slots,
        ));
    }
    let stopped = Instant::now();
    drop(listener);
    let drained = tokio::time::timeout(options.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "connections still open at the end of the grace period: closed"
        );
        connections.shutdown().await;
    }
    Ok(stopped)
}

/// The places a new connection takes, or `None` when it must be refused.
fn admit(
    overall: &Arc<Semaphore>,
    per_client: &Arc<PerClient>,
    options: &ServeOptions,
    ip: IpAddr,
) -> Option<(OwnedSemaphorePermit, Option<ClientSlot>)> {
    let permit = overall.clone().try_acquire_owned().ok()?;
    if options.trusted_proxies.contains(&ip) {
        return Some((permit, None));
    }
    let slot = per_client.take(ip)?;
    Some((permit, Some(slot)))
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    stop: CancellationToken,
    slots: (OwnedSemaphorePermit, Option<ClientSlot>),
) {
    let _slots = slots;
    // Answers are small and interactive: do not wait to fill a segment.
    let _ = stream.set_nodelay(true);
    let service = app.map_request(move |request: axum::http::Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stop.cancelled() => {
            // Idle connections close at once; one that is sending a request may
            // finish it, within the grace period `serve` enforces.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection closed with an error");
    }
}
