//! Configuration mistakes an operator makes: each must stop the start with a message that
//! names what they set, or be read as they meant it; never pass unnoticed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ORIGIN};

use crate::helpers::{TestApp, root};

/// The model folder the tests use: GUICHET_MODELS, else the checkout's `models/`.
fn models() -> PathBuf {
    std::env::var_os("GUICHET_MODELS").map_or_else(|| root().join("models"), PathBuf::from)
}

/// What a run of the binary showed before it exited or said it was listening.
struct Run {
    /// The exit code, or `None` when the server started listening (it was then stopped).
    code: Option<i32>,
    stderr: String,
}

impl Run {
    fn listened(&self) -> bool {
        self.code.is_none()
    }
}

/// Runs `guichet ARGS` from `cwd` with only the `GUICHET_*` variables in `env` (the
/// test's own are removed); a server is stopped as soon as it logs `listening`.
fn run(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_guichet"));
    cmd.args(args).current_dir(cwd);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GUICHET_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("GUICHET_LOG", "info");
    cmd.envs(env.iter().copied());
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the guichet binary starts");
    let mut stderr = String::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        stderr.push_str(&line);
        stderr.push('\n');
        if line.contains("listening") {
            child.kill().unwrap();
            child.wait().unwrap();
            return Run { code: None, stderr };
        }
    }
    let status = child.wait().unwrap();
    Run {
        code: Some(status.code().expect("exited, not killed")),
        stderr,
    }
}

/// `serve` from `dir` on a free port, over a fresh database and the shared passage cache;
/// the rest comes from `extra`, `env` or the defaults.
fn serve(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let db = dir.join("guichet.sqlite").display().to_string();
    let cache = root().join("target/test-cache").display().to_string();
    let mut args = vec![
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--db",
        &db,
        "--cache",
        &cache,
    ];
    args.extend_from_slice(extra);
    run(dir, &args, env)
}

fn models_flag() -> String {
    models().display().to_string()
}

#[tokio::test]
async fn config_origins_separated_by_spaces_are_each_allowed() {
    let app = TestApp::spawn_with(&[
        "--allowed-origins",
        "https://a.example.fr https://b.example.fr,\thttps://c.example.fr:8443",
    ])
    .await;
    for origin in [
        "https://a.example.fr",
        "https://b.example.fr",
        "https://c.example.fr:8443",
    ] {
        let r = app
            .client
            .get(app.url("/v1/widget/messages?lang=fr"))
            .header(ORIGIN, origin)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()
                .get(ACCESS_CONTROL_ALLOW_ORIGIN)
                .and_then(|v| v.to_str().ok()),
            Some(origin),
            "{origin} is listed"
        );
    }
}

#[test]
fn config_origins_separated_by_semicolons_stop_the_start_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let models = models_flag();
    let run = serve(
        dir.path(),
        &["--models", &models],
        &[(
            "GUICHET_ALLOWED_ORIGINS",
            "https://a.example.fr;https://b.example.fr",
        )],
    );
    assert!(
        !run.listened(),
        "started with a broken origin list:\n{}",
        run.stderr
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("GUICHET_ALLOWED_ORIGINS"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("https://a.example.fr;https://b.example.fr"),
        "the message quotes the bad entry: {}",
        run.stderr
    );
}

#[test]
fn config_an_origin_with_a_path_is_refused() {
    let r = run(
        &root(),
        &["check", "--allowed-origins", "https://a.example.fr/widget"],
        &[],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--allowed-origins"), "{}", r.stderr);
    assert!(r.stderr.contains("path"), "{}", r.stderr);
}

#[test]
fn config_a_missing_policy_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let models = models_flag();
    let absent = dir.path().join("absent-policy.toml");
    let absent = absent.display().to_string();
    let run = serve(dir.path(), &["--models", &models, "--policy", &absent], &[]);
    assert!(
        !run.listened(),
        "served without its policy:\n{}",
        run.stderr
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains(&absent), "{}", run.stderr);
    assert!(
        run.stderr.contains("GUICHET_POLICY=uncalibrated"),
        "says how to ask for the uncalibrated default: {}",
        run.stderr
    );
}

#[test]
fn config_an_unreadable_policy_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let models = models_flag();
    // A folder where a file is expected: unreadable as a policy, whoever runs the test.
    let policy = dir.path().join("policy.toml");
    std::fs::create_dir(&policy).unwrap();
    let policy = policy.display().to_string();
    let run = serve(
        dir.path(),
        &["--models", &models],
        &[("GUICHET_POLICY", &policy)],
    );
    assert!(
        !run.listened(),
        "served without its policy:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains(&policy), "{}", run.stderr);
}

#[test]
fn config_the_uncalibrated_policy_is_served_only_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let models = models_flag();
    let run = serve(
        dir.path(),
        &["--models", &models],
        &[("GUICHET_POLICY", "uncalibrated")],
    );
    assert!(run.listened(), "{}", run.stderr);
    assert!(
        run.stderr.contains("uncalibrated default policy"),
        "the start says it serves uncalibrated: {}",
        run.stderr
    );
}

#[test]
fn config_defaults_are_found_beside_the_binary_and_printed_whatever_the_working_directory() {
    // As a systemd unit without WorkingDirectory= would start it: from another folder.
    let dir = tempfile::tempdir().unwrap();
    let models = models_flag();
    let run = serve(dir.path(), &[], &[("GUICHET_MODELS", &models)]);
    assert!(run.listened(), "{}", run.stderr);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("paths in use"))
        .unwrap_or_else(|| panic!("no line of paths in:\n{}", run.stderr));
    let root = root().canonicalize().unwrap();
    for expected in [
        format!("corpus={}", root.join("corpus").display()),
        format!("policy={}", root.join("calibration/policy.toml").display()),
        format!("models={models}"),
    ] {
        assert!(line.contains(&expected), "no {expected:?} in {line}");
    }
}

#[test]
fn config_guichet_home_moves_every_default() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_guichet"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GUICHET_") {
            cmd.env_remove(name);
        }
    }
    let out = cmd
        .arg("check")
        .current_dir(root())
        .env("GUICHET_HOME", home.path())
        .output()
        .unwrap();
    // An empty home holds no corpus: the check looks for it there, not in the checkout.
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let services = home.path().join("corpus/services.toml");
    assert!(stdout.contains(&services.display().to_string()), "{stdout}");
}

#[test]
fn config_an_invalid_variable_is_named_in_the_error_not_its_flag() {
    let r = run(&root(), &["check"], &[("GUICHET_RETENTION_DAYS", "abc")]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("GUICHET_RETENTION_DAYS"), "{}", r.stderr);
    assert!(!r.stderr.contains("--retention-days"), "{}", r.stderr);
    // The same mistake on the command line names the flag.
    let r = run(&root(), &["check", "--retention-days", "abc"], &[]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--retention-days"), "{}", r.stderr);
}

#[test]
fn config_retention_days_below_one_give_one_range() {
    let ranges: Vec<String> = ["-5", "0", "abc"]
        .into_iter()
        .map(|v| {
            let r = run(&root(), &["check"], &[("GUICHET_RETENTION_DAYS", v)]);
            assert_eq!(r.code, Some(2), "{v}: {}", r.stderr);
            let line = r
                .stderr
                .lines()
                .find(|l| l.contains("GUICHET_RETENTION_DAYS"))
                .unwrap_or_else(|| panic!("{v}: {}", r.stderr))
                .to_string();
            // What follows the value: the rule, the same whatever the value.
            line.rsplit_once(": ").unwrap().1.to_string()
        })
        .collect();
    assert!(ranges[0].contains("from 1 to"), "{ranges:?}");
    assert!(ranges.iter().all(|r| r == &ranges[0]), "{ranges:?}");
}

#[test]
fn config_a_handoff_webhook_that_is_not_a_url_is_refused() {
    for bad in [
        "not a url",
        "ftp://helpdesk.example.fr/hook",
        "helpdesk.example.fr",
    ] {
        let r = run(&root(), &["check"], &[("GUICHET_HANDOFF_WEBHOOK_URL", bad)]);
        assert_eq!(r.code, Some(2), "{bad}: {}", r.stderr);
        assert!(
            r.stderr.contains("GUICHET_HANDOFF_WEBHOOK_URL"),
            "{}",
            r.stderr
        );
    }
    let ok = run(
        &root(),
        &["check"],
        &[(
            "GUICHET_HANDOFF_WEBHOOK_URL",
            "https://helpdesk.example.fr/hooks/guichet",
        )],
    );
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
}

#[test]
fn config_an_unknown_guichet_variable_is_warned_about_with_the_closest_name() {
    let r = run(&root(), &["check"], &[("GUICHET_RETENTON_DAYS", "10")]);
    assert_eq!(
        r.code,
        Some(0),
        "a typo does not stop a check: {}",
        r.stderr
    );
    let warning = r
        .stderr
        .lines()
        .find(|l| l.contains("GUICHET_RETENTON_DAYS"))
        .unwrap_or_else(|| panic!("no warning in:\n{}", r.stderr));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("GUICHET_RETENTION_DAYS"), "{warning}");
    // Variables the tooling reads (logs, browser tests) are known.
    let r = run(
        &root(),
        &["check"],
        &[("GUICHET_URL", "http://127.0.0.1:1")],
    );
    assert!(!r.stderr.contains("unknown"), "{}", r.stderr);
}

#[test]
fn config_missing_models_stop_the_start_before_listening_and_say_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("no-models");
    let nowhere = nowhere.display().to_string();
    let run = serve(dir.path(), &[], &[("GUICHET_MODELS", &nowhere)]);
    assert!(!run.listened(), "listened without a model:\n{}", run.stderr);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    for expected in [
        nowhere.as_str(),
        "model.onnx",
        "libonnxruntime.so",
        "make models",
        "scripts/fetch_models.sh",
        "GUICHET_MODELS",
    ] {
        assert!(
            run.stderr.contains(expected),
            "no {expected:?} in:\n{}",
            run.stderr
        );
    }
}
