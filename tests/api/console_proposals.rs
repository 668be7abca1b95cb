//! The knowledge base's workflow through the console, as browsers use it (issue 11): an
//! editor proposes from an entry's page, the validator of the service reads the word
//! diff and validates, the widget's endpoint serves the new text word for word; roles
//! checked on the server; sent back with a comment; refused proposals keep what was
//! typed; history and restore; review dates and a refused knowledge base on the home page.

use std::time::{Duration, Instant};

use chrono::{Local, Utc};
use guichet::corpus::sha256_hex;
use guichet::staff::Role;
use guichet::store::{Decider, NewRevision, Origin, RevisionStatus};

use crate::helpers::{Console, STAFF_PASSWORD, TestApp};

const ENTRY: &str = "acte-naissance-copie";
const PATH: &str = "entries/etat-civil/acte-naissance-copie.md";
const QUESTION: &str = "Comment obtenir une copie de mon acte de naissance ?";
const ADDED: &str = "Pour une démarche urgente, le service répond aussi par téléphone.";
/// A liveness bound for the engine swap of an unoptimised test build on a busy machine
/// (see kb_live.rs), not a speed claim.
const SWAP_LIMIT: Duration = Duration::from_secs(240);

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(unescape(tag[at..].split('"').next()?))
}

fn has_flag(tag: &str, name: &str) -> bool {
    tag.split(|c: char| c.is_whitespace() || c == '>')
        .any(|w| w == name || w.starts_with(&format!("{name}=")))
}

/// The fields a browser would send from the form whose action is `action`: inputs
/// (checkboxes only when checked), textareas and selects, with the values the page
/// filled in.
fn form_fields(page: &str, action: &str) -> Vec<(String, String)> {
    let at = page
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form posting to {action}: {page}"));
    let end = page[at..].find("</form>").map_or(page.len(), |e| at + e);
    let form = &page[at..end];
    let mut out = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        let tag_end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        if tag.starts_with("<input ") {
            let kind = attr(tag, "type").unwrap_or_default();
            if let Some(name) = attr(tag, "name")
                && (kind != "checkbox" || has_flag(tag, "checked"))
            {
                out.push((name, attr(tag, "value").unwrap_or_default()));
            }
        } else if tag.starts_with("<textarea ") {
            let body = &rest[tag_end + 1..];
            let text = &body[..body.find("</textarea>").unwrap()];
            if let Some(name) = attr(tag, "name") {
                out.push((name, unescape(text)));
            }
        } else if tag.starts_with("<select ") {
            let body = &rest[tag_end + 1..];
            let options = &body[..body.find("</select>").unwrap()];
            let chosen = options
                .split("<option ")
                .skip(1)
                .find(|o| has_flag(o.split('>').next().unwrap_or_default(), "selected"))
                .or_else(|| options.split("<option ").nth(1))
                .and_then(|o| attr(&format!(" {o}"), "value"))
                .unwrap_or_default();
            if let Some(name) = attr(tag, "name") {
                out.push((name, chosen));
            }
        }
        rest = &rest[1..];
    }
    out
}

fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    match fields.iter_mut().find(|(k, _)| k == name) {
        Some(f) => f.1 = value.to_string(),
        None => fields.push((name.to_string(), value.to_string())),
    }
}

fn get_field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no field {name}"))
}

async fn post_fields(c: &Console, path: &str, fields: &[(String, String)]) -> reqwest::Response {
    let form: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(k, _)| k != "csrf")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    c.post(path, &form).await
}

async fn page(c: &Console, path: &str) -> String {
    let r = c.get(path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.text().await.unwrap()
}

fn today() -> chrono::NaiveDate {
    Local::now().date_naive()
}

/// The form of a change to the entry, as the page fills it in.
async fn change_form(c: &Console) -> Vec<(String, String)> {
    let action = format!("/console/kb/{ENTRY}/propose");
    form_fields(&page(c, &action).await, &action)
}

/// Proposes the entry's answer with one more paragraph, through the form; the answer
/// proposed.
async fn propose_added(c: &Console) -> String {
    let mut fields = change_form(c).await;
    let answer = format!("{}\n\n{ADDED}", get_field(&fields, "answer").trim_end());
    set(&mut fields, "answer", &answer);
    set(&mut fields, "comment", "urgence : précisez le téléphone");
    let r = post_fields(c, &format!("/console/kb/{ENTRY}/propose"), &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    answer
}

fn drafts(app: &TestApp) -> Vec<guichet::store::Revision> {
    app.state.store.kb_drafts(None).unwrap()
}

async fn signed_in(app: &TestApp, email: &str, roles: &[Role], services: &[&str]) -> Console {
    app.add_staff(email, roles, services);
    app.sign_in(email, STAFF_PASSWORD)
        .await
        .unwrap_or_else(|r| panic!("sign-in refused: {}", r.status()))
}

/// The text inside each `<ins>` of a page.
fn inserted(page: &str) -> Vec<String> {
    page.split("<ins>")
        .skip(1)
        .map(|p| unescape(p.split("</ins>").next().unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn console_proposals_a_changed_answer_goes_from_the_editor_to_the_validator_to_the_widget() {
    let app = TestApp::spawn_with(&["--kb-watch-ms", "500"]).await;
    let editor = signed_in(&app, "nadia@test.example", &[Role::Editor], &["etat-civil"]).await;
    let validator = signed_in(
        &app,
        "yann@test.example",
        &[Role::Validator],
        &["etat-civil"],
    )
    .await;

    let entry = page(&editor, &format!("/console/kb/{ENTRY}")).await;
    assert!(entry.contains(&format!("href=\"/console/kb/{ENTRY}/propose\"")));
    assert!(entry.contains("Proposer une modification") && entry.contains("Historique"));
    let answer = propose_added(&editor).await;
    let mine = page(&editor, "/console/proposals").await;
    assert!(mine.contains("brouillon"), "{mine}");
    let id = drafts(&app)[0].id;

    let home = page(&validator, "/console/").await;
    assert!(
        home.contains("<b>1</b><a href=\"/console/review\">"),
        "one proposal waits: {home}"
    );
    let review = page(&validator, "/console/review").await;
    assert!(
        inserted(&review).iter().any(|i| i.contains(ADDED)),
        "the added words are inside <ins>: {review}"
    );
    assert!(review.contains("[ajouté : ]"), "announced in words");
    assert!(review.contains("urgence : précisez le téléphone"));
    assert!(review.to_lowercase().contains("nadia"), "who proposed");
    let r = validator
        .post(&format!("/console/review/{id}/validate"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let validated_at = Instant::now();

    let mut served = None;
    while validated_at.elapsed() < SWAP_LIMIT {
        let (status, reply) = app.chat(QUESTION).await;
        assert_eq!(status, 200);
        if reply["entry"]["answer"].as_str() == Some(answer.as_str()) {
            assert_eq!(
                reply["entry"]["answer_sha256"].as_str(),
                Some(sha256_hex(&answer).as_str())
            );
            served = Some(validated_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let served = served.unwrap_or_else(|| {
        panic!(
            "not served within the bound (refused: {:?})",
            app.state.kb.problem()
        )
    });
    eprintln!(
        "console validate -> served by /v1/chat: {} ms",
        served.as_millis()
    );

    let history = page(&editor, &format!("/console/kb/{ENTRY}/history")).await;
    assert_eq!(
        history.matches("<li class=\"revision\"").count(),
        2,
        "the import and the validated proposal: {history}"
    );
    assert!(history.contains(&sha256_hex(&answer)));
    assert!(history.to_lowercase().contains("yann"), "who validated");
    assert!(
        inserted(&history).iter().any(|i| i.contains(ADDED)),
        "the history shows what the version changed"
    );
    let revision = app.state.store.kb_revision(id).unwrap().unwrap();
    assert_eq!(revision.status, RevisionStatus::Validated);
}

#[tokio::test]
async fn console_proposals_roles_are_checked_on_the_server() {
    let app = TestApp::spawn().await;
    let agent = signed_in(&app, "camille@test.example", &[Role::Agent], &[]).await;
    let editor = signed_in(&app, "nadia@test.example", &[Role::Editor], &["etat-civil"]).await;
    let other_editor = signed_in(&app, "eddy@test.example", &[Role::Editor], &["dechets"]).await;
    let other_validator =
        signed_in(&app, "vero@test.example", &[Role::Validator], &["dechets"]).await;

    // An agent may not propose.
    let fields = change_form(&editor).await;
    let r = post_fields(&agent, &format!("/console/kb/{ENTRY}/propose"), &fields).await;
    assert_eq!(r.status(), 403);
    assert_eq!(agent.get("/console/proposals/new").await.status(), 403);
    // Nor an editor of another service.
    let r = other_editor
        .get(&format!("/console/kb/{ENTRY}/propose"))
        .await;
    assert_eq!(r.status(), 403);
    let r = post_fields(
        &other_editor,
        &format!("/console/kb/{ENTRY}/propose"),
        &fields,
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(drafts(&app).is_empty(), "nothing was proposed");
    let entry = page(&agent, &format!("/console/kb/{ENTRY}")).await;
    assert!(!entry.contains("Proposer une modification"));

    propose_added(&editor).await;
    let id = drafts(&app)[0].id;
    // The editor may not validate.
    let r = editor
        .post(&format!("/console/review/{id}/validate"), &[])
        .await;
    assert_eq!(r.status(), 403);
    // Nor a validator of another service: the queue does not show it, and the core refuses.
    assert!(
        !page(&other_validator, "/console/review")
            .await
            .contains(&format!("Proposition n° {id}"))
    );
    let r = other_validator
        .post(&format!("/console/review/{id}/validate"), &[])
        .await;
    assert_eq!(r.status(), 403);
    let text = r.text().await.unwrap();
    assert!(text.contains("n'a pas été validée"), "{text}");
    let r = other_validator
        .post(
            &format!("/console/review/{id}/send-back"),
            &[("comment", "pas chez nous")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let still = app.state.store.kb_revision(id).unwrap().unwrap();
    assert_eq!(still.status, RevisionStatus::Draft);
}

#[tokio::test]
async fn console_proposals_a_proposal_sent_back_shows_its_comment_on_the_editors_list() {
    let app = TestApp::spawn().await;
    let editor = signed_in(&app, "nadia@test.example", &[Role::Editor], &["etat-civil"]).await;
    let validator = signed_in(
        &app,
        "yann@test.example",
        &[Role::Validator],
        &["etat-civil"],
    )
    .await;
    propose_added(&editor).await;
    let id = drafts(&app)[0].id;
    let path = format!("/console/review/{id}/send-back");
    let r = validator.post(&path, &[("comment", "  ")]).await;
    assert_eq!(r.status(), 409, "a comment is required");
    assert!(r.text().await.unwrap().contains("dites à l'auteur"));
    let r = validator
        .post(&path, &[("comment", "Donnez le numéro du service.")])
        .await;
    assert_eq!(r.status(), 303);
    let mine = page(&editor, "/console/proposals").await;
    assert!(mine.contains("renvoyée"), "{mine}");
    assert!(mine.contains("Donnez le numéro du service."), "{mine}");
    assert!(drafts(&app).is_empty());

    // A draft the author gives up.
    propose_added(&editor).await;
    let again = drafts(&app)[0].id;
    let r = editor
        .post(&format!("/console/proposals/{again}/cancel"), &[])
        .await;
    assert_eq!(r.status(), 303);
    assert!(
        page(&editor, "/console/proposals")
            .await
            .contains("abandonnée")
    );
    let audit = app.state.store.audit_log(50, None).unwrap();
    for action in ["kb.propose", "kb.send_back", "kb.cancel"] {
        assert!(
            audit.iter().any(|e| e.action == action),
            "{action} is audited"
        );
    }
}

#[tokio::test]
async fn console_proposals_raw_html_is_refused_with_the_problem_and_what_was_typed_kept() {
    let app = TestApp::spawn().await;
    let editor = signed_in(&app, "nadia@test.example", &[Role::Editor], &["etat-civil"]).await;
    let mut fields = change_form(&editor).await;
    let typed = format!(
        "{}\n\nC'est <b>gratuit</b>.",
        get_field(&fields, "answer").trim_end()
    );
    set(&mut fields, "answer", &typed);
    set(&mut fields, "comment", "mon commentaire tapé");
    let r = post_fields(&editor, &format!("/console/kb/{ENTRY}/propose"), &fields).await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(body.contains("Rien n'a été enregistré"), "{body}");
    assert!(
        body.contains(&format!("{PATH}:")) && body.contains("erreur"),
        "the problem names the file and its line: {body}"
    );
    let again = form_fields(&body, &format!("/console/kb/{ENTRY}/propose"));
    assert_eq!(get_field(&again, "answer"), typed, "the answer as typed");
    assert_eq!(get_field(&again, "comment"), "mon commentaire tapé");
    assert!(drafts(&app).is_empty(), "nothing recorded");
}

#[tokio::test]
async fn console_proposals_a_new_entry_then_restoring_an_earlier_version_makes_drafts() {
    let app = TestApp::spawn().await;
    let editor = signed_in(&app, "nadia@test.example", &[Role::Editor], &["etat-civil"]).await;
    let validator = signed_in(
        &app,
        "yann@test.example",
        &[Role::Validator],
        &["etat-civil"],
    )
    .await;
    let store = app.state.store.clone();

    // A new entry, its id made from the question.
    let new = page(&editor, "/console/proposals/new").await;
    let mut fields = form_fields(&new, "/console/proposals/new");
    assert_eq!(get_field(&fields, "service"), "etat-civil");
    set(
        &mut fields,
        "question",
        "Où faire légaliser une signature ?",
    );
    set(
        &mut fields,
        "answer",
        "La légalisation de signature se fait **à la mairie**, sur rendez-vous.",
    );
    set(
        &mut fields,
        "alternates",
        "legaliser signature\nlégalisation",
    );
    let r = post_fields(&editor, "/console/proposals/new", &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let draft = drafts(&app).pop().unwrap();
    assert_eq!(
        draft.path,
        "entries/etat-civil/ou-faire-legaliser-une-signature.md"
    );
    let r = validator
        .post(&format!("/console/review/{}/validate", draft.id), &[])
        .await;
    assert_eq!(r.status(), 303);
    assert!(
        store
            .kb_entry_path("ou-faire-legaliser-une-signature")
            .unwrap()
            .is_some()
    );

    // A change validated, then the imported version taken up again.
    propose_added(&editor).await;
    let id = drafts(&app)[0].id;
    assert_eq!(
        validator
            .post(&format!("/console/review/{id}/validate"), &[])
            .await
            .status(),
        303
    );
    let history = store.kb_history(PATH).unwrap();
    let imported = history.last().unwrap().clone();
    assert_eq!(imported.origin, Origin::Import);
    let page_text = page(&editor, &format!("/console/kb/{ENTRY}/history")).await;
    let action = format!("/console/kb/revisions/{}/restore", imported.id);
    assert!(page_text.contains(&action), "{page_text}");
    assert!(
        !page_text.contains(&format!("/console/kb/revisions/{id}/restore")),
        "the live version is not offered again"
    );
    let r = editor.post(&action, &[]).await;
    assert_eq!(r.status(), 303);
    let restored = drafts(&app).pop().unwrap();
    assert_eq!(restored.origin, Origin::Restore);
    assert_eq!(restored.content, imported.content);
    assert_eq!(restored.status, RevisionStatus::Draft);
}

#[tokio::test]
async fn console_proposals_an_admin_allows_self_validation_for_a_service() {
    let app = TestApp::spawn().await;
    let admin = signed_in(&app, "dominique@test.example", &[Role::Admin], &[]).await;
    let both = signed_in(
        &app,
        "sam@test.example",
        &[Role::Editor, Role::Validator],
        &["etat-civil"],
    )
    .await;
    propose_added(&both).await;
    let id = drafts(&app)[0].id;
    let review = page(&both, "/console/review").await;
    assert!(review.contains("C'est votre propre proposition"));
    let r = both
        .post(&format!("/console/review/{id}/validate"), &[])
        .await;
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("vous ne pouvez pas valider votre propre proposition")
    );
    assert_eq!(
        both.post(
            "/console/admin/self-validation/etat-civil",
            &[("allowed", "1")]
        )
        .await
        .status(),
        403
    );
    let r = admin
        .post(
            "/console/admin/self-validation/etat-civil",
            &[("allowed", "1")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(app.state.store.kb_self_validation("etat-civil").unwrap());
    assert!(
        page(&admin, "/console/admin/self-validation")
            .await
            .contains("permise")
    );
    let r = both
        .post(&format!("/console/review/{id}/validate"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let audit = app.state.store.audit_log(50, None).unwrap();
    assert!(audit.iter().any(|e| e.action == "kb.self_validation"));
    assert!(audit.iter().any(|e| e.action == "kb.validate"));
}

#[tokio::test]
async fn console_proposals_the_home_page_lists_review_dates_and_a_refused_knowledge_base() {
    let app = TestApp::spawn().await;
    let editor = signed_in(&app, "nadia@test.example", &[Role::Editor], &["etat-civil"]).await;
    let validator = signed_in(
        &app,
        "yann@test.example",
        &[Role::Validator],
        &["etat-civil"],
    )
    .await;
    let other = signed_in(&app, "vero@test.example", &[Role::Validator], &["dechets"]).await;
    let home = page(&validator, "/console/").await;
    assert!(!home.contains("class=\"stack review-dates\""), "{home}");
    // A review date ten days ahead, proposed and validated through the console.
    let action = format!("/console/kb/{ENTRY}/propose");
    let mut fields = form_fields(&page(&editor, &action).await, &action);
    let soon = today() + chrono::Days::new(10);
    set(
        &mut fields,
        "review_by",
        &soon.format("%Y-%m-%d").to_string(),
    );
    let r = post_fields(&editor, &action, &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let id = drafts(&app)[0].id;
    let r = validator
        .post(&format!("/console/review/{id}/validate"), &[])
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    // A date in the past is refused to a proposal; one passes with time: written past
    // the core, as the calendar would make it.
    let mut fields = form_fields(
        &page(&editor, "/console/kb/pacs/propose").await,
        "/console/kb/pacs/propose",
    );
    let yesterday = (today() - chrono::Days::new(1))
        .format("%Y-%m-%d")
        .to_string();
    set(&mut fields, "review_by", &yesterday);
    let r = post_fields(&editor, "/console/kb/pacs/propose", &fields).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("est passée"));
    let store = app.state.store.as_ref();
    let pacs = "entries/etat-civil/pacs.md";
    let (files, _) = guichet::kb::live_files(store).unwrap();
    let text = files.get(pacs).unwrap();
    let line = text.lines().find(|l| l.starts_with("review_by")).unwrap();
    let aged = text.replacen(line, &format!("review_by = \"{yesterday}\""), 1);
    apply(store, pacs, "pacs", aged);
    let home = page(&validator, "/console/").await;
    assert!(
        home.contains(&format!("/console/kb/{ENTRY}/history")),
        "{home}"
    );
    assert!(home.contains("/console/kb/pacs/history"), "{home}");
    assert_eq!(
        home.matches("la fiche n'est plus servie").count(),
        1,
        "the past one is said not served: {home}"
    );
    assert!(
        !page(&other, "/console/")
            .await
            .contains("/console/kb/pacs/history"),
        "only for the validators of the service"
    );

    // A version that fails its checks (written past the core, as a broken import would
    // be): the previous one keeps serving, and validators are told.
    apply(
        store,
        PATH,
        ENTRY,
        "+++\nid = \"acte-naissance-copie\"\n+++\n".into(),
    );
    app.state.kb_changed();
    let started = Instant::now();
    while app.state.kb.problem().is_none() && started.elapsed() < SWAP_LIMIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let home = page(&validator, "/console/").await;
    assert!(
        home.contains("a été refusée") && home.contains("acte-naissance-copie.md"),
        "{home}"
    );
    let agent = signed_in(&app, "camille@test.example", &[Role::Agent], &[]).await;
    assert!(!page(&agent, "/console/").await.contains("a été refusée"));
}

/// Makes `content` live at `path` straight in the store, past the core's checks.
fn apply(store: &dyn guichet::store::Store, path: &str, entry: &str, content: String) {
    let live = store.kb_live_revision(path).unwrap();
    store
        .kb_apply(
            &[NewRevision {
                path: path.into(),
                entry_id: Some(entry.into()),
                service: Some("etat-civil".into()),
                content: Some(content),
                origin: Origin::Admin,
                author: "test".into(),
                author_staff: None,
                base: live,
                comment: None,
                answer_sha256: None,
            }],
            &Decider {
                name: "test",
                staff: None,
            },
            Utc::now(),
        )
        .unwrap();
}

#[tokio::test]
async fn console_proposals_a_translation_added_and_a_withdrawal_are_proposed_from_the_form() {
    let app = TestApp::spawn().await;
    let editor = signed_in(&app, "nadia@test.example", &[Role::Editor], &["etat-civil"]).await;
    let validator = signed_in(
        &app,
        "yann@test.example",
        &[Role::Validator],
        &["etat-civil"],
    )
    .await;
    let action = "/console/kb/recensement-citoyen/propose";
    let mut fields = form_fields(&page(&editor, action).await, action);
    set(&mut fields, "new_lang", "es");
    set(
        &mut fields,
        "new_question",
        "¿Cómo hacer el censo ciudadano a los 16 años?",
    );
    set(
        &mut fields,
        "new_answer",
        "Se hace en el ayuntamiento o en línea.",
    );
    let r = post_fields(&editor, action, &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let draft = drafts(&app).pop().unwrap();
    let text = draft.content.unwrap();
    assert!(text.contains("[translations.es]"), "{text}");
    assert!(text.contains("Se hace en el ayuntamiento o en línea."));
    let review = page(&validator, "/console/review").await;
    assert!(
        review.contains("Traduction (espagnol) : réponse"),
        "{review}"
    );
    assert!(
        inserted(&review)
            .iter()
            .any(|i| i.contains("Se hace en el ayuntamiento"))
    );
    let r = validator
        .post(&format!("/console/review/{}/validate", draft.id), &[])
        .await;
    assert_eq!(r.status(), 303);

    // The live text now has the translation: the form shows it, editable; a withdrawal.
    let mut fields = form_fields(&page(&editor, action).await, action);
    assert_eq!(
        get_field(&fields, "tr_es_answer"),
        "Se hace en el ayuntamiento o en línea."
    );
    set(&mut fields, "withdraw", "1");
    let r = post_fields(&editor, action, &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let draft = drafts(&app).pop().unwrap();
    assert!(draft.content.unwrap().contains("status = \"withdrawn\""));
    assert!(
        page(&validator, "/console/review")
            .await
            .contains("retrait proposé")
    );
}
