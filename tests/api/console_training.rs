//! The training loop over HTTP: a question residents asked that was handed off shows on
//! the console's "Questions sans réponse", the editor of the service attaches it to the
//! entry that answers it, a validator validates, and once the engine is swapped the same
//! question is answered with that entry. Roles are checked on the server, dismissing
//! records a label, labels hold redacted text only, and `guichet calibrate --from-store`
//! builds its labelled set from the store's labels.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use chrono::{Local, NaiveDate, Utc};
use guichet::corpus::sha256_hex;
use guichet::engine::AskContext;
use guichet::kb;
use guichet::privacy::Redacted;
use guichet::staff::{Account, Role};
use guichet::store::{LabelDecision, NewLabel};
use guichet::training::{self, TrainingError};
use serde_json::Value;

use crate::helpers::{Console, STAFF_PASSWORD, TestApp, engine, root};

/// Handed off by the demo corpus today; `recensement-citoyen` answers it.
const QUESTION: &str = "mon fils a eu 16 ans il doit aller où";
const ENTRY: &str = "recensement-citoyen";
/// A liveness bound for the engine swap (a debug build indexes the corpus in about half
/// a minute on a busy machine), not a speed claim.
const SWAP_LIMIT: Duration = Duration::from_secs(240);

fn today() -> NaiveDate {
    Local::now().date_naive()
}

/// A resident asks through the web chat, in a conversation of their own: the turn is
/// stored (redacted), as the widget's are.
async fn asked(app: &TestApp, q: &str) -> Value {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static RESIDENT: AtomicUsize = AtomicUsize::new(0);
    let session = format!(
        "resident-{}-0123456789abcdef",
        RESIDENT.fetch_add(1, Ordering::Relaxed)
    );
    let r = app
        .post_json(
            "/v1/chat",
            &serde_json::json!({ "message": q, "session_id": session }),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Asked without a session: nothing stored (the test's own polling).
async fn probed(app: &TestApp, q: &str) -> Value {
    let (status, reply) = app.chat(q).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

/// The engine's confidence for `q`, as the serving engine computes it now.
fn confidence(app: &TestApp, q: &str) -> f32 {
    app.state
        .engine()
        .unwrap()
        .ask(&Redacted::new(q), &AskContext::now())
        .unwrap()
        .trace
        .confidence
}

async fn signed_in(app: &TestApp, email: &str, roles: &[Role], services: &[&str]) -> Console {
    app.add_staff(email, roles, services);
    app.sign_in(email, STAFF_PASSWORD)
        .await
        .unwrap_or_else(|r| panic!("sign-in refused: {}", r.status()))
}

async fn page(c: &Console) -> String {
    let r = c.get("/console/training?days=30").await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

fn every_service() -> Vec<String> {
    engine()
        .corpus()
        .services()
        .iter()
        .map(|s| s.key.clone())
        .collect()
}

#[tokio::test]
async fn training_a_handed_off_question_attached_and_validated_is_answered_with_that_entry() {
    let app = TestApp::spawn_with(&["--kb-watch-ms", "500"]).await;
    let store = app.state.store.clone();
    let before = asked(&app, QUESTION).await;
    assert_eq!(before["outcome"], "handoff", "handed off today: {before}");
    let confidence_before = confidence(&app, QUESTION);

    let editor = signed_in(&app, "nadia@belleval.fr", &[Role::Editor], &["etat-civil"]).await;
    let listed = page(&editor).await;
    assert!(listed.contains(QUESTION), "the page lists it: {listed}");
    assert!(
        listed.contains("Comment le service d&#39;un groupe est choisi")
            || listed.contains("Comment le service d'un groupe est choisi"),
        "the page says how a group's service is chosen"
    );

    let choose = editor
        .post(
            "/console/training/attach/choose",
            &[("days", "30"), ("q", QUESTION)],
        )
        .await;
    assert_eq!(choose.status(), 200);
    let choose = choose.text().await.unwrap();
    assert!(
        choose.contains(&format!("value=\"{ENTRY}\"")),
        "the nearest entries of the editor's services are offered: {choose}"
    );
    let searched = editor
        .post(
            "/console/training/attach/choose",
            &[("days", "30"), ("q", QUESTION), ("search", "recensement")],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(searched.contains(&format!("value=\"{ENTRY}\"")));

    let done = editor
        .post(
            "/console/training/attach",
            &[("days", "30"), ("q", QUESTION), ("entry", ENTRY)],
        )
        .await;
    assert_eq!(done.status(), 200);
    let done = done.text().await.unwrap();
    assert!(done.contains("Proposition n°"), "{done}");

    let drafts = store.kb_drafts(Some(&["etat-civil".to_string()])).unwrap();
    assert_eq!(drafts.len(), 1);
    let draft = &drafts[0];
    assert_eq!(draft.entry_id.as_deref(), Some(ENTRY));
    assert!(draft.content.as_deref().unwrap().contains(QUESTION));
    let labels = store.kb_labels().unwrap();
    assert_eq!(labels.len(), 1);
    assert_eq!(labels[0].question, QUESTION);
    assert_eq!(labels[0].entry_id.as_deref(), Some(ENTRY));
    assert_eq!(labels[0].decision, LabelDecision::Attach);
    assert_eq!(labels[0].revision, Some(draft.id));
    assert_eq!(labels[0].staff, Some(editor.account.id));
    assert!(
        !page(&editor).await.contains(QUESTION),
        "a labelled question is not listed again"
    );
    // A draft is never served.
    assert_eq!(probed(&app, QUESTION).await["outcome"], "handoff");

    // The review screens are another helper's: the core rule they call, directly.
    let validator = app.add_staff("yann@belleval.fr", &[Role::Validator], &["etat-civil"]);
    kb::validate(store.as_ref(), &validator, draft.id, today(), Utc::now()).unwrap();
    app.state.kb_changed();

    let started = Instant::now();
    let mut after = Value::Null;
    while started.elapsed() < SWAP_LIMIT {
        after = probed(&app, QUESTION).await;
        if after["outcome"] == "answer" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        after["outcome"],
        "answer",
        "answered once validated (refused: {:?}): {after}",
        app.state.kb.problem()
    );
    assert_eq!(after["entry"]["id"], ENTRY);
    let answer = after["entry"]["answer"].as_str().unwrap();
    assert_eq!(
        after["entry"]["answer_sha256"].as_str(),
        Some(sha256_hex(answer).as_str())
    );
    eprintln!(
        "training loop: {QUESTION:?} handoff (confidence {confidence_before:.3}) -> answer {ENTRY} (confidence {:.3}) {} ms after validation",
        confidence(&app, QUESTION),
        started.elapsed().as_millis()
    );
}

#[tokio::test]
async fn training_an_agent_can_neither_read_the_page_nor_attach() {
    let app = TestApp::spawn().await;
    assert_eq!(asked(&app, QUESTION).await["outcome"], "handoff");
    let agent = app.console_as("camille@belleval.fr", &[Role::Agent]).await;
    assert_eq!(agent.get("/console/training").await.status(), 403);
    let r = agent
        .post(
            "/console/training/attach",
            &[("days", "30"), ("q", QUESTION), ("entry", ENTRY)],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert!(app.state.store.kb_drafts(None).unwrap().is_empty());
    assert!(app.state.store.kb_labels().unwrap().is_empty());
    // A validator reads the page but has no form to act with.
    let validator = app.console_as("yann@belleval.fr", &[Role::Validator]).await;
    let listed = page(&validator).await;
    assert!(listed.contains(QUESTION), "{listed}");
    assert!(!listed.contains("/console/training/dismiss"));
}

#[tokio::test]
async fn training_an_editor_of_another_service_cannot_attach_to_this_services_entry() {
    let app = TestApp::spawn().await;
    assert_eq!(asked(&app, QUESTION).await["outcome"], "handoff");
    let store = app.state.store.clone();
    let other = signed_in(&app, "ed@belleval.fr", &[Role::Editor], &["dechets"]).await;
    let r = other
        .post(
            "/console/training/attach",
            &[("days", "30"), ("q", QUESTION), ("entry", ENTRY)],
        )
        .await;
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    // Nor may this service's editor attach to another service's entry.
    let own = signed_in(&app, "nadia@belleval.fr", &[Role::Editor], &["etat-civil"]).await;
    let r = own
        .post(
            "/console/training/attach",
            &[("days", "30"), ("q", QUESTION), ("entry", "jours-collecte")],
        )
        .await;
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    // The core refuses it whoever calls.
    let refused = training::attach(
        store.as_ref(),
        &other.account,
        ENTRY,
        &[QUESTION.to_string()],
        today(),
        Utc::now(),
    );
    assert!(
        matches!(refused, Err(TrainingError::Forbidden(_))),
        "{refused:?}"
    );
    assert!(store.kb_drafts(None).unwrap().is_empty());
    assert!(store.kb_labels().unwrap().is_empty());
}

/// An editor of every service: sees every group whatever its service.
async fn editor_of_all(app: &TestApp) -> Console {
    let services = every_service();
    let services: Vec<&str> = services.iter().map(String::as_str).collect();
    signed_in(app, "sam@belleval.fr", &[Role::Editor], &services).await
}

#[tokio::test]
async fn training_dismiss_records_a_label_and_the_questions_leave_the_page() {
    let app = TestApp::spawn().await;
    let out_of_scope = "pouvez-vous me prêter une tondeuse pour mon jardin";
    assert_ne!(asked(&app, out_of_scope).await["outcome"], "answer");
    assert_eq!(asked(&app, QUESTION).await["outcome"], "handoff");
    let editor = editor_of_all(&app).await;
    let listed = page(&editor).await;
    assert!(listed.contains(out_of_scope), "{listed}");
    let r = editor
        .post(
            "/console/training/dismiss",
            &[("days", "30"), ("q", out_of_scope)],
        )
        .await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/console/training?days=30"), "{to}");
    let after = editor.get(&to).await.text().await.unwrap();
    assert!(!after.contains(out_of_scope), "gone from the page");
    assert!(after.contains(QUESTION), "the others stay");
    assert!(after.contains("1 question(s) écartée(s)"));
    let labels = app.state.store.kb_labels().unwrap();
    assert_eq!(labels.len(), 1);
    assert_eq!(labels[0].question, out_of_scope);
    assert_eq!(labels[0].decision, LabelDecision::Dismiss);
    assert_eq!(labels[0].entry_id, None);
    assert_eq!(labels[0].revision, None);
    assert_eq!(labels[0].staff, Some(editor.account.id));
    assert!(app.state.store.kb_drafts(None).unwrap().is_empty());
    // Dismissing it again: it is no longer on the page, so nothing is recorded.
    let again = editor
        .post(
            "/console/training/dismiss",
            &[("days", "30"), ("q", out_of_scope)],
        )
        .await;
    assert_eq!(again.status(), 422);
    assert_eq!(app.state.store.kb_labels().unwrap().len(), 1);
}

#[tokio::test]
async fn training_labels_hold_the_redacted_question_only() {
    let app = TestApp::spawn().await;
    let raw = "mon fils a eu 16 ans il doit aller où, écrivez à jean.dupont@example.com ou au 06 12 34 56 78";
    assert_ne!(asked(&app, raw).await["outcome"], "answer");
    let editor = editor_of_all(&app).await;
    let listed = page(&editor).await;
    assert!(
        listed.contains("[email]") && listed.contains("[téléphone]"),
        "{listed}"
    );
    assert!(!listed.contains("jean.dupont") && !listed.contains("06 12 34"));
    // The raw text is not a question of the page: refused, nothing recorded.
    let r = editor
        .post("/console/training/dismiss", &[("days", "30"), ("q", raw)])
        .await;
    assert_eq!(r.status(), 422);
    assert!(app.state.store.kb_labels().unwrap().is_empty());
    let stored = Redacted::new(raw).as_str().to_string();
    let r = editor
        .post(
            "/console/training/dismiss",
            &[("days", "30"), ("q", &stored)],
        )
        .await;
    assert_eq!(r.status(), 303);
    let labels = app.state.store.kb_labels().unwrap();
    assert_eq!(labels.len(), 1);
    let q = &labels[0].question;
    assert!(q.contains("[email]") && q.contains("[téléphone]"), "{q}");
    assert!(!q.contains("jean.dupont") && !q.contains("06 12 34"), "{q}");
}

/// `guichet ARGS` over the demo corpus, the real model and the test's store.
fn guichet(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(args)
        .args(["--corpus", &root().join("corpus").display().to_string()])
        .args(["--models", &root().join("models").display().to_string()])
        .args([
            "--cache",
            &root().join("target/test-cache").display().to_string(),
        ])
        .env("GUICHET_DB", db)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "fr_FR.UTF-8")
        .output()
        .unwrap()
}

fn label(q: &str, entry: Option<&str>, decision: LabelDecision, revision: Option<i64>) -> NewLabel {
    NewLabel {
        question: q.into(),
        lang: Some("fr".into()),
        entry_id: entry.map(str::to_string),
        decision,
        service: None,
        staff: None,
        revision,
    }
}

#[tokio::test]
async fn training_calibrate_from_store_builds_its_set_from_the_labels() {
    let app = TestApp::spawn().await;
    let store = app.state.store.clone();
    let s = store.as_ref();
    let editor: Account = app.add_staff("nadia@belleval.fr", &[Role::Editor], &["etat-civil"]);
    let validator = app.add_staff("yann@belleval.fr", &[Role::Validator], &["etat-civil"]);
    let now = Utc::now();
    // Attached and validated: kept, and held out of the entry's alternates.
    let validated = "on veut se pacser comment ça marche";
    let p = training::attach(s, &editor, "pacs", &[validated.into()], today(), now).unwrap();
    kb::validate(s, &validator, p.revision, today(), now).unwrap();
    // Attached, the proposal still a draft: left out.
    let pending = "on se marie en juin que faut il préparer";
    training::attach(
        s,
        &editor,
        "mariage-dossier",
        &[pending.into()],
        today(),
        now,
    )
    .unwrap();
    // Labelled without a proposal, entry live: kept. Entry not live: left out.
    let direct = "récupérer mon extrait de naissance";
    s.kb_add_label(
        &label(
            direct,
            Some("acte-naissance-copie"),
            LabelDecision::Attach,
            None,
        ),
        now,
    )
    .unwrap();
    s.kb_add_label(
        &label(
            "une fiche disparue",
            Some("fiche-disparue"),
            LabelDecision::Attach,
            None,
        ),
        now,
    )
    .unwrap();
    for q in ["tu es un robot ?", "pouvez-vous me prêter une tondeuse"] {
        s.kb_add_label(&label(q, None, LabelDecision::Dismiss, None), now)
            .unwrap();
    }

    let found = guichet::calibrate::store_set(s, today()).unwrap();
    assert_eq!((found.answerable, found.handoffs), (2, 2));
    assert_eq!(found.skipped.len(), 2, "{:?}", found.skipped);
    let expected: Vec<(&str, Option<&str>)> = found
        .set
        .queries
        .iter()
        .map(|q| (q.query.as_str(), q.entry_id.as_deref()))
        .collect();
    for want in [
        (validated, Some("pacs")),
        (direct, Some("acte-naissance-copie")),
        ("tu es un robot ?", None),
        ("pouvez-vous me prêter une tondeuse", None),
    ] {
        assert!(expected.contains(&want), "{want:?} in {expected:?}");
    }
    assert_eq!(found.set.entries.len(), engine().corpus().entries().len());
    let pacs = found.set.entries.iter().find(|e| e.id == "pacs").unwrap();
    assert!(
        !pacs.variants.iter().any(|v| v == validated),
        "a labelled question is held out of the alternates it became"
    );
    assert!(!pacs.variants.is_empty());
    assert!(found.enough(guichet::calibrate::MIN_STORE_LABELS).is_err());
    assert!(found.enough(4).is_ok());

    // The command line: refused on the default minimum, fits and writes with a lower one.
    let db = TestApp::db_in(&app.dir);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("policy.toml");
    let out_arg = out.display().to_string();
    let refused = guichet(&db, &["calibrate", "--from-store", "--out", &out_arg]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("trop peu de questions étiquetées"),
        "{stderr}"
    );
    assert!(!out.exists());
    let fitted = guichet(
        &db,
        &[
            "calibrate",
            "--from-store",
            "--min-labels",
            "4",
            "--out",
            &out_arg,
        ],
    );
    assert!(
        fitted.status.success(),
        "{}",
        String::from_utf8_lossy(&fitted.stderr)
    );
    eprintln!(
        "calibrate --from-store: {}",
        String::from_utf8_lossy(&fitted.stderr)
            .lines()
            .filter(|l| l.starts_with("store"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let policy = std::fs::read_to_string(&out).unwrap();
    assert!(policy.contains("--from-store"), "{policy}");
    guichet::policy::Policy::from_file(&out).expect("the written policy reads back");
}

#[tokio::test]
async fn training_create_drafts_an_entry_and_attach_shows_the_checks_warnings() {
    let app = TestApp::spawn().await;
    let store = app.state.store.clone();
    let grandfather = "papier de naissance de mon grand père";
    assert_ne!(asked(&app, grandfather).await["outcome"], "answer");
    assert_eq!(asked(&app, QUESTION).await["outcome"], "handoff");
    let editor = editor_of_all(&app).await;

    // acte-naissance-copie has 6 alternates, the most corpus/README.md asks for: a 7th
    // is proposed, and the check's warning is shown.
    let done = editor
        .post(
            "/console/training/attach",
            &[
                ("days", "30"),
                ("q", grandfather),
                ("entry", "acte-naissance-copie"),
            ],
        )
        .await;
    assert_eq!(done.status(), 200);
    let done = done.text().await.unwrap();
    assert!(
        done.contains("7 formulation(s) dans alternates"),
        "the warning is shown: {done}"
    );

    let form = editor
        .post(
            "/console/training/create/form",
            &[("days", "30"), ("q", QUESTION)],
        )
        .await;
    assert_eq!(form.status(), 200);
    let form = form.text().await.unwrap();
    assert!(
        form.contains(&format!("name=\"question\" value=\"{QUESTION}\"")),
        "{form}"
    );
    let answer = "Votre enfant se fait recenser à la mairie dans les trois mois qui suivent ses 16 ans, avec sa carte d'identité et le livret de famille.";
    let fields = |service: &'static str| {
        [
            ("days", "30"),
            ("q", QUESTION),
            ("service", service),
            ("question", "Où faire recenser mon enfant à 16 ans ?"),
            ("answer", answer),
        ]
    };
    // An editor of état civil only may not draft an entry for another service.
    let own = signed_in(&app, "nadia@belleval.fr", &[Role::Editor], &["etat-civil"]).await;
    let refused = own
        .post("/console/training/create", &fields("dechets"))
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(store.kb_drafts(None).unwrap().len(), 1, "the attach only");
    let created = editor
        .post("/console/training/create", &fields("etat-civil"))
        .await;
    assert_eq!(created.status(), 200);
    let created = created.text().await.unwrap();
    assert!(created.contains("Proposition n°"), "{created}");
    let drafts = store.kb_drafts(Some(&["etat-civil".to_string()])).unwrap();
    let draft = drafts
        .iter()
        .find(|d| d.path == "entries/etat-civil/ou-faire-recenser-mon-enfant-a-16-ans.md")
        .expect("the new entry is a draft of its service");
    let text = draft.content.as_deref().unwrap();
    assert!(text.contains("status = \"draft\""));
    assert!(
        text.contains(&format!("alternates = [\"{QUESTION}\"]")),
        "{text}"
    );
    assert!(text.trim_end().ends_with(answer));
    let label = store
        .kb_labels()
        .unwrap()
        .into_iter()
        .find(|l| l.question == QUESTION)
        .unwrap();
    assert_eq!(label.decision, LabelDecision::Create);
    assert_eq!(
        label.entry_id.as_deref(),
        Some("ou-faire-recenser-mon-enfant-a-16-ans")
    );
    assert_eq!(label.revision, Some(draft.id));
    // Once labelled, the question is no longer one to act on.
    let refused = own
        .post(
            "/console/training/create/form",
            &[("days", "30"), ("q", QUESTION)],
        )
        .await;
    assert_eq!(
        refused.status(),
        422,
        "already labelled: no longer on the page"
    );
}
