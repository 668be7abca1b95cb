//! Stopping `guichet serve` the way an orchestrator does (SIGTERM) while a reply is under
//! way: the process stops cleanly, the reply still reaches the platform, and nothing is
//! left in the inbox.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use guichet::store::{SqliteStore, Store};

use crate::channels::{
    HOURS_Q, greeting, telegram_flags, telegram_texts, telegram_update, validated,
};
use crate::helpers::root;
use crate::stub::Stub;

#[tokio::test]
async fn sigterm_lets_the_reply_under_way_finish_and_exits_cleanly() {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("guichet.sqlite");
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let root = root();
    let path = |p: &str| root.join(p).display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("serve")
        .args(["--bind", &addr, "--db", &db.display().to_string()])
        .args(["--corpus", &path("corpus"), "--models", &path("models")])
        .args(["--cache", &path("target/test-cache")])
        .args(["--policy", &path("calibration/policy.toml")])
        .args(telegram_flags(&stub))
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

    let status = client
        .post(format!("http://{addr}/webhooks/telegram"))
        .header("content-type", "application/json")
        .header("x-telegram-bot-api-secret-token", "tg-secret")
        .body(telegram_update(7001, 640, HOURS_Q))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);
    // Acknowledged: the answer is being prepared and sent in the background. Stop now.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "a clean stop, not a kill: {exit:?}");
    assert_eq!(
        telegram_texts(&stub, 640),
        vec![greeting(), validated("horaires-mairie")],
        "the reply under way was delivered, word for word"
    );
    let store = SqliteStore::open(&db).unwrap();
    let far = Utc::now() + chrono::Duration::days(2);
    assert!(
        store.stale_inbound(far, 10).unwrap().is_empty(),
        "nothing left in the inbox"
    );
}
