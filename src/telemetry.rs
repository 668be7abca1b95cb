//! What the operator can count: every metric's name and description in one place, the
//! process-wide Prometheus recorder, and the few calls the core makes to the `metrics`
//! facade (no web framework here; the web layer serves [`render`] at `/metrics`).
//!
//! Labels carry only fixed vocabularies (a route template, a channel, an outcome, a
//! status code, an error kind): never a raw path, an id or anything a person typed.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::embedder::SessionKind;
use crate::reply::Outcome;
use crate::store::{Channel, StoreError};

/// Requests answered, by `method`, `route` (the matched template) and `status`.
pub const HTTP_REQUESTS: &str = "guichet_http_requests_total";
/// Time to answer a request (until the response head), by `method` and `route`.
pub const HTTP_DURATION: &str = "guichet_http_request_duration_seconds";
/// Requests being answered now.
pub const HTTP_IN_FLIGHT: &str = "guichet_http_requests_in_flight";
/// Engine jobs running now (questions, batches), and how many may run at once.
pub const ENGINE_IN_FLIGHT: &str = "guichet_engine_in_flight";
pub const ENGINE_CAPACITY: &str = "guichet_engine_capacity";
/// Connections closed as soon as accepted (over `GUICHET_MAX_CONNECTIONS` or the
/// per-client cap), and accepts that failed (out of file descriptors).
pub const CONNECTIONS_REFUSED: &str = "guichet_connections_refused_total";
pub const ACCEPT_ERRORS: &str = "guichet_accept_errors_total";
/// Requests refused with 503 `busy` (every engine slot taken).
pub const BUSY: &str = "guichet_busy_rejections_total";
/// Requests refused with 429 `rate_limited` (a client over its per-minute budget).
pub const RATE_LIMITED: &str = "guichet_rate_limited_total";
/// Replies given to a person, by `channel` and `outcome` (answer, clarify, handoff).
pub const REPLIES: &str = "guichet_replies_total";
/// Time to embed a question with the model.
pub const EMBEDDING_DURATION: &str = "guichet_embedding_duration_seconds";
/// The embedder's query cache (a question embedded before is not embedded again).
///
/// Counted by the cache at each look-up ([`query_cache_lookup`]).
/// Model runs by kind of session (`lone`: a question alone on every core; `single`: one of
/// several at once, one core each).
pub const EMBEDDING_RUNS: &str = "guichet_embedding_runs_total";
pub const QUERY_CACHE_HITS: &str = "guichet_query_cache_hits_total";
pub const QUERY_CACHE_MISSES: &str = "guichet_query_cache_misses_total";
/// Platform messages acknowledged and not yet answered, and how long the oldest has
/// waited (sampled from the store at each scrape: every replica sees the same inbox).
pub const INBOX_DEPTH: &str = "guichet_inbox_depth";
pub const INBOX_OLDEST_AGE: &str = "guichet_inbox_oldest_age_seconds";
/// Messages a platform did not accept after every retry, or given up on, by `channel`.
pub const DELIVERIES_FAILED: &str = "guichet_deliveries_failed_total";
/// Store calls that failed, by `kind`: busy (locked, a lost race), unavailable (cannot
/// be reached), backend (anything else the database refused, a full disk).
pub const STORE_ERRORS: &str = "guichet_store_errors_total";

/// Histogram buckets (seconds): an embedding takes milliseconds, a request up to the
/// 30 s timeout.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often the recorder folds recent histogram samples in when nobody scrapes: without
/// it they pile up in memory between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

const CHANNELS: [Channel; 5] = [
    Channel::Web,
    Channel::Messenger,
    Channel::Whatsapp,
    Channel::Telegram,
    Channel::Generic,
];
const OUTCOMES: [Outcome; 3] = [Outcome::Answer, Outcome::Clarify, Outcome::Handoff];
const STORE_KINDS: [&str; 3] = ["busy", "unavailable", "backend"];

/// The process's recorder, installed at the first call: every server of the process
/// (tests start many) counts into it.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder installed first (an embedding program's): ours then renders
        // nothing, which is visible at once at `/metrics`, and serving goes on.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed before: /metrics stays empty");
        }
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            })
            .expect("a thread starts");
        describe();
        handle
    })
}

/// The exposition text (Prometheus 0.0.4 format).
pub fn render() -> String {
    handle().render()
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        Unit::Count,
        "Requests answered, by method, route template and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer a request, by method and route template."
    );
    describe_gauge!(HTTP_IN_FLIGHT, "Requests being answered now.");
    describe_gauge!(
        ENGINE_IN_FLIGHT,
        "Engine jobs (questions, batches) running now."
    );
    describe_gauge!(
        ENGINE_CAPACITY,
        "Engine jobs that may run at once (GUICHET_MAX_INFLIGHT)."
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        Unit::Count,
        "Connections closed at once: too many open overall or from one client."
    );
    describe_counter!(
        ACCEPT_ERRORS,
        Unit::Count,
        "Failed accepts (out of file descriptors or memory)."
    );
    describe_counter!(
        BUSY,
        Unit::Count,
        "Requests refused with 503 busy: every engine slot taken."
    );
    describe_counter!(
        RATE_LIMITED,
        Unit::Count,
        "Requests refused with 429: a client over its per-minute budget."
    );
    describe_counter!(
        REPLIES,
        Unit::Count,
        "Replies given to a person, by channel and outcome (answer, clarify, handoff)."
    );
    describe_histogram!(
        EMBEDDING_DURATION,
        Unit::Seconds,
        "Time to embed a question."
    );
    describe_counter!(
        EMBEDDING_RUNS,
        Unit::Count,
        "Model runs, by kind of session: lone (a question alone, on every core) or single \
         (one of several at once, one core each)."
    );
    describe_counter!(
        QUERY_CACHE_HITS,
        Unit::Count,
        "Questions whose embedding came from the query cache."
    );
    describe_counter!(
        QUERY_CACHE_MISSES,
        Unit::Count,
        "Questions embedded by the model (not in the query cache)."
    );
    describe_gauge!(
        INBOX_DEPTH,
        "Platform messages acknowledged and not yet answered (all replicas)."
    );
    describe_gauge!(
        INBOX_OLDEST_AGE,
        Unit::Seconds,
        "How long the oldest message of the inbox has waited (0 when it is empty)."
    );
    describe_counter!(
        DELIVERIES_FAILED,
        Unit::Count,
        "Messages a platform did not accept after every retry, or given up on, by channel."
    );
    describe_counter!(
        STORE_ERRORS,
        Unit::Count,
        "Store calls that failed, by kind (busy, unavailable, backend)."
    );
    // Series with fixed labels start at 0, so that a rate is defined from the first
    // scrape and an absent series means a bug, not "nothing yet".
    for channel in CHANNELS {
        for outcome in OUTCOMES {
            counter!(REPLIES, "channel" => channel.as_str(), "outcome" => outcome.as_str())
                .increment(0);
        }
        counter!(DELIVERIES_FAILED, "channel" => channel.as_str()).increment(0);
    }
    for kind in [SessionKind::Lone, SessionKind::Single] {
        counter!(EMBEDDING_RUNS, "session" => kind.as_str()).increment(0);
    }
    for kind in STORE_KINDS {
        counter!(STORE_ERRORS, "kind" => kind).increment(0);
    }
    for name in [
        BUSY,
        RATE_LIMITED,
        QUERY_CACHE_HITS,
        QUERY_CACHE_MISSES,
        CONNECTIONS_REFUSED,
        ACCEPT_ERRORS,
    ] {
        counter!(name).increment(0);
    }
}

/// A reply given on `channel`.
pub fn replied(channel: Channel, outcome: Outcome) {
    counter!(REPLIES, "channel" => channel.as_str(), "outcome" => outcome.as_str()).increment(1);
}

/// A question embedded in `took`.
pub fn embedded(took: Duration) {
    histogram!(EMBEDDING_DURATION).record(took.as_secs_f64());
}

/// A model run on a session of `kind`.
pub fn embedding_run(kind: SessionKind) {
    counter!(EMBEDDING_RUNS, "session" => kind.as_str()).increment(1);
}

/// A question looked up in the embedder's query cache.
pub fn query_cache_lookup(hit: bool) {
    counter!(if hit {
        QUERY_CACHE_HITS
    } else {
        QUERY_CACHE_MISSES
    })
    .increment(1);
}

/// A message on `channel` that will not reach the person.
pub fn delivery_failed(channel: Channel) {
    counter!(DELIVERIES_FAILED, "channel" => channel.as_str()).increment(1);
}

/// Counts a failed store call, when it is a failure of the store (not a refusal such as
/// a ticket not found or already taken).
pub fn store_failed(e: &StoreError) {
    if let Some(kind) = store_error_kind(e) {
        counter!(STORE_ERRORS, "kind" => kind).increment(1);
    }
}

fn store_error_kind(e: &StoreError) -> Option<&'static str> {
    match e {
        StoreError::Busy(_) => Some("busy"),
        StoreError::Unavailable(_) => Some("unavailable"),
        StoreError::Backend(_)
        | StoreError::Folder { .. }
        | StoreError::KeyFile { .. }
        | StoreError::Json(_)
        | StoreError::Corrupt(_)
        | StoreError::Config(_) => Some("backend"),
        StoreError::NotFound | StoreError::Conflict(_) | StoreError::AlreadyClaimed(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_not_store_failures_and_failures_have_their_kind() {
        assert_eq!(store_error_kind(&StoreError::NotFound), None);
        assert_eq!(store_error_kind(&StoreError::AlreadyClaimed(None)), None);
        assert_eq!(
            store_error_kind(&StoreError::Busy("locked".into())),
            Some("busy")
        );
        assert_eq!(
            store_error_kind(&StoreError::Unavailable("refused".into())),
            Some("unavailable")
        );
        assert_eq!(
            store_error_kind(&StoreError::Corrupt("bad row".into())),
            Some("backend")
        );
    }
}
