//! Start-up: a restart of `guichet serve` over the same store and cache answers as before
//! (the vector indexes of a small knowledge base are scanned, not rebuilt as graphs).
//! Times are printed, never asserted.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{models, root};

/// `guichet serve` on the demo corpus over `db` and `cache`, its log in `log`.
fn serve(db: &Path, cache: &Path, log: &Path) -> (Child, String) {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let root = root();
    let path = |p: &str| root.join(p).display().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("serve")
        .args(["--bind", &addr, "--db", &db.display().to_string()])
        .args(["--corpus", &path("corpus")])
        .args(["--models", &models().display().to_string()])
        .args(["--cache", &cache.display().to_string()])
        .args(["--policy", &path("calibration/policy.toml")])
        .env("GUICHET_LOG", "warn,guichet::cli=info")
        .env_remove("GUICHET_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("the guichet binary starts");
    (child, addr)
}

/// Seconds until `/readyz` answers 200.
async fn ready(addr: &str, child: &mut Child) -> f64 {
    let started = Instant::now();
    let client = reqwest::Client::new();
    loop {
        let r = client.get(format!("http://{addr}/readyz")).send().await;
        if r.is_ok_and(|r| r.status().is_success()) {
            return started.elapsed().as_secs_f64();
        }
        assert!(child.try_wait().unwrap().is_none(), "guichet serve exited");
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not ready in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const QUESTIONS: [&str; 3] = [
    "Comment renouveler ma carte d'identité ?",
    "comment inscrire mon fils à l'école ?",
    "inscription cantine tarif",
];

/// The outcome of each of [`QUESTIONS`], with the entries it names.
async fn answers(addr: &str) -> Vec<Value> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for q in QUESTIONS {
        let r = client
            .post(format!("http://{addr}/v1/chat"))
            .json(&json!({ "message": q }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        out.push(json!({
            "outcome": body["outcome"],
            "entry": body["entry"]["id"],
            "sha256": body["entry"]["answer_sha256"],
            "options": body["options"],
        }));
    }
    out
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    if child.wait().is_err() {
        child.kill().ok();
    }
}

#[tokio::test]
async fn a_restart_of_serve_over_the_same_store_and_cache_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("guichet.sqlite");
    let cache = dir.path().join("cache");
    // The passage vectors other tests computed, so the first start does not embed the
    // corpus again (what is measured here is the rest of a start).
    std::fs::create_dir_all(&cache).unwrap();
    for f in std::fs::read_dir(root().join("target/test-cache"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if f.file_name().to_string_lossy().starts_with("passages-") {
            std::fs::copy(f.path(), cache.join(f.file_name())).unwrap();
        }
    }
    let mut runs = Vec::new();
    for what in ["first start", "restart"] {
        let log = dir.path().join(format!("{}.log", runs.len()));
        let (mut child, addr) = serve(&db, &cache, &log);
        let seconds = ready(&addr, &mut child).await;
        let got = answers(&addr).await;
        stop(child);
        eprintln!("{what}: ready after {seconds:.2} s");
        runs.push(got);
    }
    assert_eq!(runs[1], runs[0], "the same answers after the restart");
    assert_eq!(runs[0][0]["entry"], "cni-renouvellement", "{:?}", runs[0]);
}
