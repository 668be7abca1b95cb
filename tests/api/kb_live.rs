//! The knowledge base in the store: import and export of the exchange format, proposals
//! and validation by the owning service (rules checked in the core, whoever calls), and
//! a validated change served without restart, by this replica and by another one.

use std::time::{Duration, Instant};

use chrono::{Local, Utc};
use guichet::corpus::{Files, sha256_hex};
use guichet::kb::{self, Draft, KbError};
use guichet::staff::Role;
use guichet::store::{Decider, Origin, RevisionStatus};

use crate::helpers::{TestApp, copy_dir, root};

const BY: Decider<'static> = Decider {
    name: "test",
    staff: None,
};

const QUESTION: &str = "Comment obtenir une copie de mon acte de naissance ?";
const PATH: &str = "entries/etat-civil/acte-naissance-copie.md";
/// How long a replica may take to serve a validated change before the test gives up: a
/// liveness bound, not a speed claim (an unoptimised test build indexes the corpus in
/// about half a minute on a busy 2-core machine; the note gives release figures).
const SWAP_LIMIT: Duration = Duration::from_secs(240);
const ADDED: &str = "Pour une démarche urgente, le service répond aussi par téléphone.";

fn today() -> chrono::NaiveDate {
    Local::now().date_naive()
}

/// The live text of `PATH` with one more paragraph in its answer.
fn changed(app: &TestApp) -> String {
    let (files, _) = kb::live_files(app.state.store.as_ref()).unwrap();
    let text = files.get(PATH).expect("the entry is live").to_string();
    format!("{}\n\n{ADDED}\n", text.trim_end())
}

/// The answer body of an entry file.
fn body(text: &str) -> String {
    text.splitn(3, "+++\n").nth(2).unwrap().trim().to_string()
}

#[tokio::test]
async fn live_import_then_export_gives_back_the_same_files() {
    let app = TestApp::spawn().await;
    let store = app.state.store.as_ref();
    let before = store.kb_version().unwrap();
    assert!(before > 0, "the first start imported the corpus");
    let out = tempfile::tempdir().unwrap();
    let report = kb::export(store, out.path()).unwrap();
    let original = Files::read_dir(&root().join("corpus")).unwrap();
    let exported = Files::read_dir(out.path()).unwrap();
    assert_eq!(report.written, original.len());
    assert!(original.len() > 40, "the demo corpus has its entries");
    for (path, text) in original.iter() {
        assert_eq!(
            exported.get(path),
            Some(text),
            "{path} exported byte for byte"
        );
    }
    assert_eq!(exported.len(), original.len());
    // Importing the export again changes nothing: no revision, same version.
    let again = kb::import(store, out.path(), &BY, today(), Utc::now()).unwrap();
    assert_eq!(again.unchanged, original.len());
    assert!(again.created.is_empty() && again.changed.is_empty() && again.withdrawn.is_empty());
    assert_eq!(store.kb_version().unwrap(), before);
    assert_eq!(store.kb_history(PATH).unwrap().len(), 1);
}

#[tokio::test]
async fn live_a_bad_folder_applies_nothing() {
    let app = TestApp::spawn().await;
    let store = app.state.store.as_ref();
    let before = store.kb_version().unwrap();
    let live_before = store.kb_live().unwrap();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("corpus"), dir.path());
    // One good change and one broken file: neither is applied.
    let good = dir.path().join("entries/accueil/objets-trouves.md");
    let text = std::fs::read_to_string(&good).unwrap();
    std::fs::write(&good, format!("{text}\nUne phrase de plus.\n")).unwrap();
    let bad = dir.path().join(PATH);
    let text = std::fs::read_to_string(&bad).unwrap();
    std::fs::write(
        &bad,
        text.replacen("service = \"etat-civil\"", "service = \"nulle-part\"", 1),
    )
    .unwrap();
    match kb::import(store, dir.path(), &BY, today(), Utc::now()) {
        Err(KbError::Invalid(problems)) => {
            let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
            assert!(
                shown.iter().any(|p| p.contains("acte-naissance-copie.md:")),
                "the problem names the file and line: {shown:?}"
            );
        }
        other => panic!("a broken folder is refused, got {other:?}"),
    }
    assert_eq!(store.kb_version().unwrap(), before);
    assert_eq!(store.kb_live().unwrap(), live_before);
}

#[tokio::test]
async fn live_roles_are_checked_by_the_core() {
    let app = TestApp::spawn().await;
    let store = app.state.store.as_ref();
    let editor = app.add_staff("nadia@test.example", &[Role::Editor], &["etat-civil"]);
    let other_editor = app.add_staff("ed@test.example", &[Role::Editor], &["dechets"]);
    let agent = app.add_staff("camille@test.example", &[Role::Agent], &[]);
    let validator = app.add_staff("yann@test.example", &[Role::Validator], &["etat-civil"]);
    let other_validator = app.add_staff("vero@test.example", &[Role::Validator], &["dechets"]);
    let both = app.add_staff(
        "sam@test.example",
        &[Role::Editor, Role::Validator],
        &["etat-civil"],
    );
    let draft = Draft {
        path: PATH.into(),
        text: changed(&app),
        comment: None,
        origin: Origin::Proposal,
    };
    let now = Utc::now();
    for who in [&agent, &other_editor, &validator] {
        assert!(
            matches!(
                kb::propose(store, who, &draft, today(), now),
                Err(KbError::Forbidden(_))
            ),
            "{} may not propose for état civil",
            who.email
        );
    }
    let id = kb::propose(store, &editor, &draft, today(), now).unwrap();
    for who in [&editor, &other_validator, &agent] {
        assert!(
            matches!(
                kb::validate(store, who, id, today(), now),
                Err(KbError::Forbidden(_))
            ),
            "{} may not validate",
            who.email
        );
    }
    // An editor who is also a validator may not validate their own proposal...
    let own = kb::propose(store, &both, &draft, today(), now).unwrap();
    assert!(matches!(
        kb::validate(store, &both, own, today(), now),
        Err(KbError::Forbidden(_))
    ));
    // ...unless an administrator allowed it for the service.
    store
        .set_kb_self_validation("etat-civil", true, None, now)
        .unwrap();
    let version = kb::validate(store, &both, own, today(), now).unwrap();
    assert_eq!(store.kb_version().unwrap(), version);
    // The other proposal was written against the revision that is no longer live.
    assert!(matches!(
        kb::validate(store, &validator, id, today(), now),
        Err(KbError::Refused(_))
    ));
    kb::send_back(store, &validator, id, "déjà fait par Sam", now).unwrap();
    let back = store.kb_revision(id).unwrap().unwrap();
    assert_eq!(back.status, RevisionStatus::SentBack);
    assert_eq!(back.comment.as_deref(), Some("déjà fait par Sam"));
}

#[tokio::test]
async fn live_a_proposal_that_would_fail_the_checks_is_refused() {
    let app = TestApp::spawn().await;
    let store = app.state.store.as_ref();
    let editor = app.add_staff("nadia@test.example", &[Role::Editor], &["etat-civil"]);
    let text = changed(&app) + "\n<b>gras</b>\n";
    let refused = kb::propose(
        store,
        &editor,
        &Draft {
            path: PATH.into(),
            text,
            comment: None,
            origin: Origin::Proposal,
        },
        today(),
        Utc::now(),
    );
    assert!(
        matches!(refused, Err(KbError::Invalid(_))),
        "raw HTML is refused as check refuses it: {refused:?}"
    );
    assert!(store.kb_drafts(None).unwrap().is_empty());
}

/// Asks until the answer's text is `expected` or `limit` passes; the time it took.
async fn served_within(app: &TestApp, expected: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        let (status, reply) = app.chat(QUESTION).await;
        assert_eq!(status, 200);
        if reply["entry"]["answer"].as_str() == Some(expected) {
            assert_eq!(
                reply["entry"]["answer_sha256"].as_str(),
                Some(sha256_hex(expected).as_str())
            );
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn live_a_validated_change_is_served_by_both_replicas_without_restart() {
    // The test polls from one address: above the default per-client rate.
    let first = TestApp::spawn_with(&["--kb-watch-ms", "500", "--rate-public", "100000"]).await;
    // A second replica: its own state and engine, the same SQLite file.
    let second = first.restart().await;
    let store = first.state.store.as_ref();
    let editor = first.add_staff("nadia@test.example", &[Role::Editor], &["etat-civil"]);
    let validator = first.add_staff("yann@test.example", &[Role::Validator], &["etat-civil"]);
    let text = changed(&first);
    let (_, before) = first.chat(QUESTION).await;
    assert!(!before["entry"]["answer"].as_str().unwrap().contains(ADDED));

    let id = kb::propose(
        store,
        &editor,
        &Draft {
            path: PATH.into(),
            text: text.clone(),
            comment: Some("urgence".into()),
            origin: Origin::Proposal,
        },
        today(),
        Utc::now(),
    )
    .unwrap();
    // A draft is never served.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, still) = second.chat(QUESTION).await;
    assert_eq!(still["entry"]["answer"], before["entry"]["answer"]);

    let validated_at = Instant::now();
    kb::validate(store, &validator, id, today(), Utc::now()).unwrap();
    first.state.kb_changed();
    let expected = body(&text);
    let on_first = served_within(&first, &expected, SWAP_LIMIT).await;
    let on_second = served_within(&second, &expected, SWAP_LIMIT).await;
    let (Some(a), Some(_)) = (on_first, on_second) else {
        panic!(
            "served by this replica: {on_first:?} (refused: {:?}), by the other: {on_second:?} (refused: {:?})",
            first.state.kb.problem(),
            second.state.kb.problem()
        );
    };
    eprintln!(
        "validate -> served: this replica {} ms, the other replica {} ms (watch every 500 ms)",
        a.as_millis(),
        validated_at.elapsed().as_millis()
    );
    let revision = store.kb_revision(id).unwrap().unwrap();
    assert_eq!(revision.status, RevisionStatus::Validated);
    assert_eq!(
        revision.decided_by.as_deref(),
        Some(validator.name.as_str())
    );
    assert_eq!(revision.answer_sha256, Some(sha256_hex(&expected)));
    let history = store.kb_history(PATH).unwrap();
    assert_eq!(history.len(), 2, "the import and the validated proposal");
}

#[tokio::test]
async fn live_an_engine_swap_under_load_drops_no_question() {
    // Hundreds of residents at once, here from one address: above the per-client limits.
    let app = TestApp::spawn_with(&[
        "--kb-watch-ms",
        "100",
        "--max-inflight",
        "512",
        "--rate-public",
        "100000",
        "--max-connections-per-client",
        "1000",
    ])
    .await;
    let store = app.state.store.as_ref();
    let editor = app.add_staff("nadia@test.example", &[Role::Editor], &["etat-civil"]);
    let validator = app.add_staff("yann@test.example", &[Role::Validator], &["etat-civil"]);
    let text = changed(&app);
    let id = kb::propose(
        store,
        &editor,
        &Draft {
            path: PATH.into(),
            text: text.clone(),
            comment: None,
            origin: Origin::Proposal,
        },
        today(),
        Utc::now(),
    )
    .unwrap();
    let client = reqwest::Client::new();
    let url = app.url("/v1/chat");
    let mut asks = tokio::task::JoinSet::new();
    for i in 0..300 {
        let (client, url) = (client.clone(), url.clone());
        asks.spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 5)).await;
            let r = client
                .post(&url)
                .json(&serde_json::json!({ "message": QUESTION }))
                .send()
                .await
                .expect("the server answers");
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (status, body)
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    kb::validate(store, &validator, id, today(), Utc::now()).unwrap();
    app.state.kb_changed();
    let expected = body(&text);
    let (mut old, mut new, mut errors) = (0, 0, Vec::new());
    while let Some(done) = asks.join_next().await {
        let (status, body) = done.unwrap();
        match (status, body["entry"]["answer"].as_str()) {
            (200, Some(a)) if a == expected => new += 1,
            (200, Some(_)) => old += 1,
            other => errors.push(format!("{other:?}")),
        }
    }
    eprintln!(
        "engine swap under load: {old} answered by the old engine, {new} by the new one, {} errors",
        errors.len()
    );
    assert!(errors.is_empty(), "every question answered: {errors:?}");
    assert_eq!(old + new, 300);
    assert!(served_within(&app, &expected, SWAP_LIMIT).await.is_some());
}

/// `guichet corpus import|export` and `check --store`, as an operator runs them.
#[test]
fn live_the_command_line_imports_exports_and_checks_the_store() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("guichet.sqlite");
    // The configuration's flags come before a sub-action, as for `guichet staff`.
    let run = |args: &[&str]| {
        let (head, tail) = args.split_at(1);
        let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
            .args(head)
            .arg("--db")
            .arg(&db)
            .args(tail)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap(),
        )
    };
    let corpus = root().join("corpus");
    let corpus = corpus.to_str().unwrap();
    let (code, out) = run(&["corpus", "import", corpus]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("modifié(s)") && out.contains("version 1"),
        "{out}"
    );
    let (code, out) = run(&["corpus", "import", corpus]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("0 créé(s), 0 modifié(s), 0 retiré(s)"),
        "{out}"
    );
    assert!(
        out.contains("version 1"),
        "a second import changes nothing: {out}"
    );
    let (code, out) = run(&["check", "--store"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("entrées servies, 0 erreur(s)"), "{out}");
    let export = dir.path().join("export");
    let (code, out) = run(&["corpus", "export", export.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let original = Files::read_dir(&root().join("corpus")).unwrap();
    let exported = Files::read_dir(&export).unwrap();
    assert_eq!(
        original.iter().collect::<Vec<_>>(),
        exported.iter().collect::<Vec<_>>(),
        "export gives the imported files back byte for byte"
    );
    // A broken folder: every problem with file and line, nothing applied, exit 1.
    let broken = dir.path().join("broken");
    copy_dir(&root().join("corpus"), &broken);
    let file = broken.join(PATH);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("+++\n", "+++\nid = 3\n", 1)).unwrap();
    let (code, out) = run(&["corpus", "import", broken.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("acte-naissance-copie.md:3: erreur"), "{out}");
    assert!(out.contains("rien n'a été importé"), "{out}");
    let (_, out) = run(&["check", "--store"]);
    assert!(out.contains("version 1"), "{out}");
}
