//! The operator's view of a real `guichet serve`: `/metrics` behind the admin token and on
//! its own address, counters that move by exactly what was sent, and logs that a collector
//! can read (JSON lines, no colour codes when piped). The binary runs in its own process:
//! the metrics recorder is process-wide, and the other tests of this binary count into it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::channels::{HOURS_Q, telegram_flags, telegram_update};
use crate::helpers::root;
use crate::stub::Stub;

const TOKEN: &str = "metrics-admin-token-5e0d";

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// `guichet serve` on `addr` over a new SQLite file in `dir`, its standard error written
/// to `stderr` (a file: not a terminal); returns once it is ready.
async fn serve(
    dir: &Path,
    addr: &str,
    flags: &[&str],
    env: &[(&str, &str)],
    stderr: &Path,
) -> Child {
    let root = root();
    let path = |p: &str| root.join(p).display().to_string();
    let db = dir.join("guichet.sqlite").display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("serve")
        .args(["--bind", addr, "--db", &db])
        .args(["--corpus", &path("corpus"), "--models", &path("models")])
        .args(["--cache", &path("target/test-cache")])
        .args(["--policy", &path("calibration/policy.toml")])
        .args(flags)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .expect("the guichet binary starts");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(240) {
        let ready = client
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().ok();
    child.wait().ok();
    panic!("guichet serve not ready");
}

fn stop(mut child: Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("still running after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Samples of an exposition text: series (name, then its labels sorted) -> value.
type Samples = BTreeMap<(String, Vec<(String, String)>), f64>;

/// Parses the Prometheus text format (each sample line `name{k="v",...} value`).
fn parse(text: &str) -> Samples {
    let mut samples = Samples::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample line has a value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').expect("labels end with }");
                let mut labels: Vec<(String, String)> = inner
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once("=\"").expect("label=\"value\"");
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                labels.sort();
                (name.to_string(), labels)
            }
            None => (series.to_string(), Vec::new()),
        };
        samples.insert((name, labels), value);
    }
    samples
}

/// The value of one series (0 when absent: a counter not yet moved).
fn get(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    samples
        .get(&(name.to_string(), labels))
        .copied()
        .unwrap_or(0.0)
}

async fn scrape(client: &reqwest::Client, metrics_addr: &str) -> (String, Samples) {
    let r = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let samples = parse(&text);
    (text, samples)
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let r = client.post(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn metrics_need_the_admin_token_and_count_exactly_what_was_sent_by_route_channel_and_outcome()
{
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (addr, metrics_addr) = (free_addr(), free_addr());
    let stderr = dir.path().join("stderr.log");
    let mut flags = vec![
        "--admin-token",
        TOKEN,
        "--metrics-addr",
        &metrics_addr,
        "--max-inflight",
        "1",
        "--rate-public",
        "20",
        "--max-connections-per-client",
        "16",
    ];
    flags.extend(telegram_flags(&stub));
    let child = serve(
        dir.path(),
        &addr,
        &flags,
        &[("GUICHET_LOG", "info")],
        &stderr,
    )
    .await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{addr}{path}");

    // On the main address: the admin token, checked before anything else.
    for auth in [None, Some("Bearer wrong-token"), Some(TOKEN)] {
        let mut r = client.get(url("/metrics"));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["code"],
            "unauthorized"
        );
    }
    let r = client
        .get(url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("# TYPE guichet_replies_total counter")
    );
    // The metrics address serves /metrics without the token, and nothing else.
    let other = client
        .get(format!("http://{metrics_addr}/v1/handoffs"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    let (_, before) = scrape(&client, &metrics_addr).await;
    let mut sent_chats = 0.0;
    let mut statuses: BTreeMap<u16, f64> = BTreeMap::new();
    let mut web: BTreeMap<String, f64> = BTreeMap::new();

    // A conversation each: an answer, a did-you-mean, a hand-off the person asks for.
    let sessions = [
        ("metricsanswer0123456789", HOURS_Q, "answer"),
        (
            "metricsclarify012345678",
            "quand passe le camion poubelle ?",
            "clarify",
        ),
        (
            "metricshandoff012345678",
            "je veux parler à quelqu'un",
            "handoff",
        ),
    ];
    for (session, message, expected) in sessions {
        let (status, body) = post(
            &client,
            url("/v1/chat"),
            json!({ "message": message, "session_id": session }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["outcome"], expected, "{body}");
        sent_chats += 1.0;
        *statuses.entry(status).or_default() += 1.0;
        *web.entry(expected.to_string()).or_default() += 1.0;
    }

    // Two Telegram messages; the platform refuses every attempt at the second's first
    // piece: one delivery failed.
    for (update, chat) in [(9101, 9101), (9102, 9102)] {
        let before_sends = stub.received().len();
        if update == 9102 {
            stub.fail_next(4);
        }
        let status = client
            .post(url("/webhooks/telegram"))
            .header("content-type", "application/json")
            .header("x-telegram-bot-api-secret-token", "tg-secret")
            .body(telegram_update(update, chat, HOURS_Q))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        if update == 9101 {
            stub.wait_for("/sendMessage", before_sends + 1).await;
        }
    }
    let failed = |s: &Samples| {
        get(
            s,
            "guichet_deliveries_failed_total",
            &[("channel", "telegram")],
        )
    };
    let started = Instant::now();
    loop {
        let (_, now) = scrape(&client, &metrics_addr).await;
        let inbox = get(&now, "guichet_inbox_depth", &[]);
        if failed(&now) > failed(&before) && inbox == 0.0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the failed delivery is not counted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // One engine slot, eight long questions at once: some are refused with 503 busy.
    let long = "Comment renouveler ma carte d'identité quand elle est périmée ? ".repeat(15);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, url, message) = (client.clone(), url("/v1/chat"), long.clone());
        set.spawn(async move { post(&client, url, json!({ "message": message })).await });
    }
    let mut busy = 0.0;
    for (status, body) in set.join_all().await {
        sent_chats += 1.0;
        *statuses.entry(status).or_default() += 1.0;
        match status {
            200 => {
                *web.entry(body["outcome"].as_str().unwrap().to_string())
                    .or_default() += 1.0
            }
            503 => {
                assert_eq!(body["error"]["code"], "busy", "{body}");
                busy += 1.0;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        busy >= 1.0,
        "with one slot, concurrent questions are refused"
    );

    // Empty messages (refused before the engine) until the client is over its budget.
    let mut limited = 0.0;
    for _ in 0..20 {
        let (status, body) = post(&client, url("/v1/chat"), json!({ "message": "" })).await;
        sent_chats += 1.0;
        *statuses.entry(status).or_default() += 1.0;
        match status {
            422 => {}
            429 => limited += 1.0,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        limited >= 1.0,
        "20 a minute: 31 posts in a moment are limited"
    );

    // More connections to the metrics address than one client may hold: those over the
    // cap are closed at once (read: end of stream), the others wait for a request head.
    let mut held = Vec::new();
    for _ in 0..24 {
        held.push(tokio::net::TcpStream::connect(&metrics_addr).await.unwrap());
    }
    let mut closed = 0.0;
    for stream in &mut held {
        use tokio::io::AsyncReadExt;
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut byte)).await;
        if matches!(read, Ok(Ok(0)) | Ok(Err(_))) {
            closed += 1.0;
        }
    }
    drop(held);
    assert!(
        closed >= 8.0,
        "24 connections against a cap of 16: {closed} closed"
    );

    let (text, after) = scrape(&client, &metrics_addr).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        get(&after, name, labels) - get(&before, name, labels)
    };

    for (status, n) in &statuses {
        let status = status.to_string();
        assert_eq!(
            delta(
                "guichet_http_requests_total",
                &[
                    ("method", "POST"),
                    ("route", "/v1/chat"),
                    ("status", &status)
                ]
            ),
            *n,
            "POST /v1/chat answered {status}"
        );
    }
    assert_eq!(
        delta(
            "guichet_http_request_duration_seconds_count",
            &[("method", "POST"), ("route", "/v1/chat")]
        ),
        sent_chats,
        "every chat is timed"
    );
    assert_eq!(
        delta(
            "guichet_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/webhooks/telegram"),
                ("status", "200")
            ]
        ),
        2.0
    );
    for outcome in ["answer", "clarify", "handoff"] {
        assert_eq!(
            delta(
                "guichet_replies_total",
                &[("channel", "web"), ("outcome", outcome)]
            ),
            web.get(outcome).copied().unwrap_or(0.0),
            "web {outcome}"
        );
    }
    assert_eq!(
        delta(
            "guichet_replies_total",
            &[("channel", "telegram"), ("outcome", "answer")]
        ),
        2.0,
        "each Telegram message answered once"
    );
    assert_eq!(failed(&after) - failed(&before), 1.0);
    assert_eq!(delta("guichet_busy_rejections_total", &[]), busy);
    assert_eq!(delta("guichet_connections_refused_total", &[]), closed);
    assert_eq!(delta("guichet_rate_limited_total", &[]), limited);
    // Every reply here was asked of the engine (none was a picked option): each
    // question embedded once, and timed.
    let replies: f64 = web.values().sum::<f64>() + 2.0;
    let embedded = delta("guichet_embedding_duration_seconds_count", &[]);
    assert_eq!(embedded, replies, "one embedding a question asked");
    assert!(delta("guichet_embedding_duration_seconds_sum", &[]) > 0.0);
    // Each of them looked up in the query cache first, found there or not.
    assert_eq!(
        delta("guichet_query_cache_hits_total", &[])
            + delta("guichet_query_cache_misses_total", &[]),
        embedded,
        "one cache look-up a question embedded"
    );
    // Each miss ran the model once, on one kind of session or the other.
    assert_eq!(
        delta("guichet_embedding_runs_total", &[("session", "lone")])
            + delta("guichet_embedding_runs_total", &[("session", "single")]),
        delta("guichet_query_cache_misses_total", &[]),
        "one model run a question not in the cache"
    );
    // Quiet now: nothing in flight, nothing waiting; the engine has its one slot.
    assert_eq!(get(&after, "guichet_http_requests_in_flight", &[]), 0.0);
    assert_eq!(get(&after, "guichet_engine_in_flight", &[]), 0.0);
    assert_eq!(get(&after, "guichet_engine_capacity", &[]), 1.0);
    assert_eq!(get(&after, "guichet_inbox_depth", &[]), 0.0);
    assert_eq!(get(&after, "guichet_inbox_oldest_age_seconds", &[]), 0.0);
    for kind in ["busy", "unavailable", "backend"] {
        assert_eq!(
            delta("guichet_store_errors_total", &[("kind", kind)]),
            0.0,
            "{kind}"
        );
    }
    for name in [
        "guichet_query_cache_hits_total",
        "guichet_query_cache_misses_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} counter")),
            "{name} is registered"
        );
    }
    // Labels hold route templates and fixed words: no session, no text, no token.
    for secret in [
        "metricsanswer0123456789",
        "horaires",
        "poubelle",
        "9101",
        TOKEN,
    ] {
        assert!(!text.contains(secret), "/metrics shows {secret:?}");
    }
    println!(
        "metrics after the session: {} series, {} bytes; busy {busy}, limited {limited}, embeddings {embedded}, connections refused {closed}",
        after.len(),
        text.len()
    );
    let sample: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("guichet_replies_total")
                || l.starts_with("guichet_http_requests_total{method=\"POST\"")
                || l.starts_with("guichet_deliveries_failed_total{channel=\"telegram\"")
                || l.starts_with("guichet_inbox")
                || l.starts_with("guichet_embedding_duration_seconds_")
                || l.starts_with("guichet_http_request_duration_seconds_sum")
                || l.starts_with("guichet_connections_refused_total")
        })
        .collect();
    println!("{}", sample.join("\n"));
    stop(child);

    // Standard error is a file here: the text logs carry no colour codes.
    let logs = std::fs::read_to_string(&stderr).unwrap();
    assert!(logs.contains("listening"), "{logs}");
    assert!(
        !logs.contains("\x1b["),
        "colour codes in piped logs:\n{logs}"
    );
}

#[tokio::test]
async fn with_guichet_log_format_json_every_log_line_is_a_json_object_without_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let stderr = dir.path().join("stderr.log");
    let child = serve(
        dir.path(),
        &addr,
        &[],
        &[
            ("GUICHET_LOG_FORMAT", "json"),
            ("GUICHET_LOG", "info,guichet=debug,tower_http=debug"),
        ],
        &stderr,
    )
    .await;
    let client = reqwest::Client::new();
    let message = "je suis jeanne.dupont@example.org, 06 12 34 56 78 : quels sont les horaires ?";
    let (status, _) = post(
        &client,
        format!("http://{addr}/v1/chat"),
        json!({ "message": message, "session_id": "jsonlogsession0123456789" }),
    )
    .await;
    assert_eq!(status, 200);
    stop(child);

    let logs = std::fs::read_to_string(&stderr).unwrap();
    assert!(
        !logs.contains("\x1b["),
        "colour codes in piped logs:\n{logs}"
    );
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for line in &lines {
        for field in ["timestamp", "level", "fields", "target"] {
            assert!(line.get(field).is_some(), "no {field}: {line}");
        }
    }
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    for said in ["listening", "ready", "stopped"] {
        assert!(messages.contains(&said), "no {said:?} line in {messages:?}");
    }
    assert!(
        lines.iter().any(|l| l["span"]["route"] == "/v1/chat"),
        "the request's span names its route"
    );
    for secret in [
        "jeanne.dupont",
        "06 12 34 56 78",
        "horaires",
        "jsonlogsession",
    ] {
        assert!(!logs.contains(secret), "the logs keep {secret:?}");
    }
    println!("{} JSON log lines", lines.len());
}
