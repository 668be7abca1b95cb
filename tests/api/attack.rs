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
