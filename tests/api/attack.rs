//! The server under an unfriendly client: idle and half-open connections by the
//! thousand, a stop while a client holds a request half sent, floods of requests, and
//! requests that are wrong in every way but the ones the handlers expect.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, root};

/// A partial request head: a request line and one header, never the blank line.
const PARTIAL_HEAD: &[u8] = b"POST /v1/chat HTTP/1.1\r\nHost: guichet\r\n";

/// A client on another loopback address than the attacker's 127.0.0.1 (Linux routes the
/// whole of 127.0.0.0/8 to the loopback interface).
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .unwrap()
}

/// Waits until the server closes `stream` (end of file or a reset), for at most `limit`
/// after `started`; returns how long after `started` it was, or `None` if it stayed open.
async fn closed_since(
    stream: &mut TcpStream,
    started: Instant,
    limit: Duration,
) -> Option<Duration> {
    let mut buf = [0u8; 1024];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            // A response (a 408, say) before the close: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

async fn connect_from(ip: Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(ip), 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Connections the attacker opens (each costs this process two descriptors, its end and
/// the server's: 4,000 of the 20,000 the test machine allows).
const IDLE: usize = 2_000;

#[tokio::test]
async fn attack_thousands_of_idle_connections_leave_normal_clients_served() {
    let app = TestApp::spawn_with(&[
        "--header-timeout",
        "1",
        "--max-connections-per-client",
        "64",
    ])
    .await;
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        if i % 2 == 0 {
            // Half of them start a request and never finish its head.
            let _ = stream.write_all(PARTIAL_HEAD).await;
        }
        idle.push(stream);
    }

    // Every attacker's connection still open on its side: another client is answered.
    let client = client_from(2);
    let health = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "liveness answers beside {IDLE} idle connections"
    );
    let chat = client
        .post(app.url("/v1/chat"))
        .json(&serde_json::json!({ "message": crate::channels::HOURS_Q }))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 200, "a question is answered beside them");
    let body: serde_json::Value = chat.json().await.unwrap();
    assert_eq!(body["outcome"], "answer", "{body}");

    // Each of them is closed by the server: beyond the per-client cap at once, the
    // others when their head deadline passes.
    let mut closed = 0;
    let mut slowest = Duration::ZERO;
    for stream in &mut idle {
        if let Some(after) = closed_since(stream, Instant::now(), Duration::from_secs(30)).await {
            closed += 1;
            slowest = slowest.max(after);
        }
    }
    eprintln!(
        "{IDLE} idle connections from one address: a normal client served while they were open; {closed} closed by the server, the last {slowest:?} after the normal client's answer"
    );
    assert_eq!(closed, IDLE, "every idle or half-open connection is closed");
}

#[tokio::test]
async fn attack_half_open_and_idle_kept_alive_connections_are_closed_after_the_head_deadline() {
    let app = TestApp::spawn_with(&["--header-timeout", "1"]).await;
    let started = Instant::now();
    // Sends nothing at all.
    let mut silent = connect_from(Ipv4Addr::new(127, 0, 0, 3), app.addr).await;
    // Sends half a request head.
    let mut partial = connect_from(Ipv4Addr::new(127, 0, 0, 3), app.addr).await;
    partial.write_all(PARTIAL_HEAD).await.unwrap();
    // Sends a whole request, reads the answer, then stays silent (keep-alive).
    let mut kept = connect_from(Ipv4Addr::new(127, 0, 0, 3), app.addr).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: guichet\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).await.unwrap();
    assert_eq!(
        &head, b"HTTP/1.1 200",
        "the kept-alive connection was answered"
    );

    for (what, stream) in [
        ("silent", &mut silent),
        ("partial head", &mut partial),
        ("idle after a response", &mut kept),
    ] {
        let after = closed_since(stream, started, Duration::from_secs(30)).await;
        eprintln!("{what} connection closed {after:?} after it opened (head deadline 1 s)");
        assert!(
            after.is_some(),
            "the {what} connection is closed by the server"
        );
    }
}

/// Starts `guichet serve` on a free port with `env` and waits until it is ready.
async fn serve_binary(env: &[(&str, &str)]) -> (std::process::Child, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("guichet.sqlite");
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let root = root();
    let path = |p: &str| root.join(p).display().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("serve")
        .args(["--bind", &addr, "--db", &db.display().to_string()])
        .args(["--corpus", &path("corpus"), "--models", &path("models")])
        .args(["--cache", &path("target/test-cache")])
        .args(["--policy", &path("calibration/policy.toml")])
        .envs(env.iter().copied())
        .env("GUICHET_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the guichet binary starts");
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let ready = client
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not ready in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (child, addr, dir)
}

#[tokio::test]
async fn attack_sigterm_with_a_half_open_client_stops_within_the_grace_period() {
    // A head deadline far beyond the grace period: only the stop may close them.
    let (mut child, addr, _dir) = serve_binary(&[
        ("GUICHET_SHUTDOWN_GRACE", "2"),
        ("GUICHET_HEADER_TIMEOUT", "600"),
    ])
    .await;
    let addr: SocketAddr = addr.parse().unwrap();
    let mut half_head = TcpStream::connect(addr).await.unwrap();
    half_head.write_all(PARTIAL_HEAD).await.unwrap();
    let mut half_body = TcpStream::connect(addr).await.unwrap();
    half_body
        .write_all(
            b"POST /v1/chat HTTP/1.1\r\nHost: guichet\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"message\": \"Quels",
        )
        .await
        .unwrap();
    // Let the server read what was sent before the stop.
    let answered = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let stopping = Instant::now();
    let deadline = stopping + Duration::from_secs(60);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running 60 s after SIGTERM, held by half-open clients");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "stopped {:?} after SIGTERM with two half-open clients (grace 2 s)",
        stopping.elapsed()
    );
    assert!(exit.success(), "a clean stop: {exit:?}");
    assert!(
        closed_since(&mut half_head, Instant::now(), Duration::from_secs(5))
            .await
            .is_some()
    );
}

fn code(body: &serde_json::Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// Status, `Retry-After` and JSON body of a response (`Null` when the body is not JSON).
async fn parts(r: reqwest::Response) -> (u16, Option<String>, String, serde_json::Value) {
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let ctype = r
        .headers()
        .get("content-type")
        .map_or(String::new(), |v| v.to_str().unwrap().to_string());
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, retry, ctype, body)
}

#[tokio::test]
async fn attack_a_store_that_cannot_write_answers_503_with_retry_after_on_every_route() {
    let app = TestApp::spawn_with(&["--webhook-secret", "gen-secret"]).await;
    let engine = crate::helpers::engine();
    let entry = engine
        .corpus()
        .entry(engine.corpus().index_of("horaires-mairie").unwrap());
    let feedback = serde_json::json!({
        "entry_id": "horaires-mairie",
        "answer_sha256": entry.answer_sha256,
        "helpful": true,
    });
    let generic = serde_json::to_vec(&serde_json::json!({
        "message_id": "g-store", "conversation_id": "helpdesk-store", "text": crate::channels::HOURS_Q,
    }))
    .unwrap();
    let signature =
        crate::channels::generic_sign("gen-secret", chrono::Utc::now().timestamp(), &generic);

    // Another process holds the database's write lock past the store's busy timeout, as
    // a disk in trouble or a stuck backup would.
    let lock = rusqlite::Connection::open(TestApp::db_in(&app.dir)).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let question = serde_json::json!({
        "message": crate::channels::HOURS_Q,
        "session_id": "store-fault-session-0001",
    });
    let chat = app.post_json("/v1/chat", &question);
    let feedback = app.post_json("/v1/feedback", &feedback);
    let webhook = app
        .client
        .post(app.url("/webhooks/generic"))
        .header("content-type", "application/json")
        .header("x-guichet-signature", signature)
        .body(generic)
        .send();
    let (chat, feedback, webhook) = tokio::join!(chat, feedback, webhook);
    for (route, r) in [
        ("/v1/chat", chat),
        ("/v1/feedback", feedback),
        ("/webhooks/generic", webhook.unwrap()),
    ] {
        let (status, retry, _, body) = parts(r).await;
        assert_eq!(status, 503, "{route}: {body}");
        assert_eq!(code(&body), "unavailable", "{route}: {body}");
        assert!(retry.is_some(), "{route} says when to try again");
    }
    lock.execute_batch("ROLLBACK").unwrap();
    assert!(
        app.state.store.tickets(None).unwrap().is_empty(),
        "nothing was half recorded"
    );
}

#[tokio::test]
async fn attack_wrong_methods_queries_and_ids_get_json_errors_and_auth_comes_first() {
    let app = TestApp::spawn_with(&["--admin-token", "agents-token"]).await;
    for path in ["/v1/chat", "/v1/feedback", "/webhooks/generic"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        let allow = r.headers().get("allow").cloned();
        let (status, _, ctype, body) = parts(r).await;
        assert_eq!(status, 405, "GET {path}");
        assert!(ctype.starts_with("application/json"), "GET {path}: {ctype}");
        assert_eq!(code(&body), "method_not_allowed", "GET {path}: {body}");
        assert!(allow.is_some(), "GET {path} says which methods are allowed");
    }
    let bad_query = app
        .client
        .get(app.url("/v1/chat/a-session-id-long-enough/messages?after=abc"))
        .send()
        .await
        .unwrap();
    let (status, _, ctype, body) = parts(bad_query).await;
    assert_eq!(status, 400, "{body}");
    assert!(ctype.starts_with("application/json"), "{ctype}");
    assert_eq!(code(&body), "invalid_query", "{body}");

    // Without the token: 401 whatever is wrong with the rest.
    for path in ["/v1/handoffs/abc/claim", "/v1/handoffs/1/reply"] {
        let r = app
            .client
            .post(app.url(path))
            .body("[")
            .send()
            .await
            .unwrap();
        let (status, _, _, body) = parts(r).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(code(&body), "unauthorized", "{path}: {body}");
    }
    let r = app
        .client
        .get(app.url("/v1/handoffs?status=open&status=x&limit"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // With it, a bad id is a JSON error of its own.
    let r = app
        .client
        .post(app.url("/v1/handoffs/abc/claim"))
        .bearer_auth("agents-token")
        .send()
        .await
        .unwrap();
    let (status, _, ctype, body) = parts(r).await;
    assert_eq!(status, 400, "{body}");
    assert!(ctype.starts_with("application/json"), "{ctype}");
    assert_eq!(code(&body), "invalid_path", "{body}");
}

#[tokio::test]
async fn attack_invisible_messages_are_empty_and_a_bare_array_is_not_a_request() {
    let app = TestApp::spawn().await;
    let (status, body) = app.chat("   \n\t ").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(code(&body), "empty_message");
    for invisible in [
        "\u{200b}",
        "\u{feff}",
        "\u{0000}",
        "\u{200b} \u{feff}\u{00a0}\u{2060}",
        "\u{00ad}\u{200d}",
    ] {
        let (status, body) = app.chat(invisible).await;
        assert_eq!(status, 422, "{invisible:?}: {body}");
        assert_eq!(code(&body), "empty_message", "{invisible:?}: {body}");
    }
    // Letters around zero-width characters are a question like any other.
    let (status, body) = app.chat("horaires\u{200b} de la mairie").await;
    assert_eq!(status, 200, "{body}");

    for bare in [
        serde_json::json!(["Quels sont les horaires de la mairie ?"]),
        serde_json::json!([{ "message": "Quels sont les horaires de la mairie ?" }]),
    ] {
        let r = app.post_json("/v1/chat", &bare).await;
        let (status, _, ctype, body) = parts(r).await;
        assert_eq!(status, 422, "{bare}: {body}");
        assert!(ctype.starts_with("application/json"));
        assert_eq!(code(&body), "invalid_request", "{bare}: {body}");
    }
    let r = app
        .post_json(
            "/v1/feedback",
            &serde_json::json!(["horaires-mairie", "x", true]),
        )
        .await;
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn attack_every_page_and_api_response_carries_the_security_headers() {
    use sha2::Digest;
    let app = TestApp::spawn_with(&["--admin-token", "agents-token"]).await;
    let report = app
        .client
        .get(app.url("/v1/report?days=1"))
        .bearer_auth("agents-token")
        .send()
        .await
        .unwrap();
    let chat = app
        .post_json(
            "/v1/chat",
            &serde_json::json!({ "message": crate::channels::HOURS_Q }),
        )
        .await;
    let gone = app
        .client
        .get(app.url("/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    let handoffs = app
        .client
        .get(app.url("/v1/handoffs"))
        .bearer_auth("agents-token")
        .send()
        .await
        .unwrap();
    let login = app
        .client
        .get(app.url("/console/login"))
        .send()
        .await
        .unwrap();
    let demo = app.client.get(app.url("/")).send().await.unwrap();
    let mut report_html = String::new();
    for (what, r) in [
        ("/v1/report", report),
        ("/v1/chat", chat),
        ("a 404", gone),
        ("/v1/handoffs", handoffs),
        ("/console/login", login),
        ("the demo page", demo),
    ] {
        assert!(r.status().as_u16() < 500, "{what}: {}", r.status());
        let h = r.headers().clone();
        let get = |name: &str| {
            h.get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
        assert!(
            !get("referrer-policy").is_empty(),
            "{what}: Referrer-Policy"
        );
        let csp = get("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp:?}");
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp:?}");
        if get("content-type").starts_with("text/html") {
            assert_eq!(get("x-frame-options"), "DENY", "{what}");
        }
        if what != "the demo page" {
            assert_eq!(get("cache-control"), "no-store", "{what}");
        }
        if what == "/v1/report" {
            report_html = r.text().await.unwrap();
            // The page's one inline stylesheet is allowed by its hash, nothing else is.
            let style = report_html
                .split_once("<style>")
                .and_then(|(_, rest)| rest.split_once("</style>"))
                .map(|(css, _)| css)
                .expect("the report carries its stylesheet");
            let hash = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                sha2::Sha256::digest(style.as_bytes()),
            );
            assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
            assert!(csp.contains("script-src 'none'") || csp.contains("default-src 'none'"));
        }
    }
    assert!(!report_html.is_empty());
}

/// Posts `body` to `path` from the loopback address `127.0.0.{from}` with `headers`.
async fn post_from(
    app: &TestApp,
    from: u8,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, serde_json::Value) {
    let mut r = client_from(from)
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let (status, retry, _, body) = parts(r.send().await.unwrap()).await;
    (status, retry, body)
}

#[tokio::test]
async fn attack_floods_get_429_per_client_while_others_and_webhooks_are_served() {
    let app = TestApp::spawn_with(&[
        "--rate-public",
        "3",
        "--rate-agents",
        "3",
        "--rate-signin",
        "3",
        "--admin-token",
        "agents-token",
        "--webhook-secret",
        "gen-secret",
        "--trusted-proxies",
        "127.0.0.9",
    ])
    .await;
    // Cheap requests use the budget up (an empty message is refused after the count).
    for _ in 0..3 {
        let (status, _, _) = post_from(&app, 2, "/v1/chat", r#"{"message": ""}"#, &[]).await;
        assert_eq!(status, 422);
    }
    let (status, retry, body) =
        post_from(&app, 2, "/v1/chat", r#"{"message": "mairie"}"#, &[]).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(code(&body), "rate_limited");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!(retry >= 1, "{retry}");
    let (status, _, _) = post_from(&app, 2, "/v1/feedback", "{}", &[]).await;
    assert_eq!(status, 429, "chat and feedback share the budget");
    // Polling for agents' replies is not a post: still answered.
    let poll = client_from(2)
        .get(app.url("/v1/chat/a-session-id-long-enough/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(poll.status(), 200);
    // A forged X-Forwarded-For from a client that is not a proxy changes nothing.
    let forged = [("x-forwarded-for", "198.51.100.50")];
    let (status, _, _) = post_from(&app, 2, "/v1/chat", "{}", &forged).await;
    assert_eq!(status, 429);
    // Another client is answered.
    let question = serde_json::json!({ "message": crate::channels::HOURS_Q }).to_string();
    let (status, _, body) = post_from(&app, 3, "/v1/chat", &question, &[]).await;
    assert_eq!(status, 200, "{body}");

    // Behind the trusted proxy, each forwarded client has its own budget.
    let behind = |ip: &'static str| [("x-forwarded-for", ip)];
    for _ in 0..3 {
        let (status, _, _) = post_from(&app, 9, "/v1/chat", "{}", &behind("198.51.100.1")).await;
        assert_eq!(status, 422);
    }
    let (status, _, _) = post_from(&app, 9, "/v1/chat", "{}", &behind("198.51.100.1")).await;
    assert_eq!(status, 429);
    let (status, _, body) =
        post_from(&app, 9, "/v1/chat", &question, &behind("198.51.100.2")).await;
    assert_eq!(status, 200, "another client behind the same proxy: {body}");

    // The agents' API, with or without the token.
    let agents = client_from(4);
    let mut statuses = Vec::new();
    for token in ["agents-token", "agents-token", "wrong", "agents-token"] {
        let r = agents
            .get(app.url("/v1/handoffs"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 401, 429]);

    // The console's sign-in form.
    let signin = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = signin
            .post(app.url("/console/login"))
            .form(&[
                ("email", "x@belleval.fr"),
                ("password", "faux"),
                ("csrf", "x"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert!(statuses[..3].iter().all(|s| *s != 429), "{statuses:?}");
    assert_eq!(statuses[3], 429, "{statuses:?}");

    // Webhooks are signed and retried by their platforms: never limited.
    for _ in 0..6 {
        let (status, _, _) = post_from(&app, 2, "/webhooks/generic", "{}", &[]).await;
        assert_eq!(
            status, 401,
            "an unsigned webhook is refused, not rate limited"
        );
    }
}

/// `guichet check` with `env`, its standard error.
fn check_stderr(env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("check")
        .current_dir(root())
        .env("GUICHET_LOG", "info")
        .env("GUICHET_UNKNOWN_SETTING", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn attack_logs_are_json_lines_on_request_and_never_carry_colour_codes_off_a_terminal() {
    let text = check_stderr(&[]);
    assert!(
        text.contains("unknown variable GUICHET_UNKNOWN_SETTING"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no escape codes in a pipe: {text:?}"
    );
    let json = check_stderr(&[("GUICHET_LOG_FORMAT", "json")]);
    let warning: serde_json::Value = json
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("GUICHET_UNKNOWN_SETTING"))
        })
        .unwrap_or_else(|| panic!("a JSON line for the warning: {json}"));
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert!(!json.contains('\u{1b}'), "{json:?}");
}
