//! The console's knowledge base, "try it" pane and coverage section (issue 10): search
//! the way residents ask, word search, service filter, the entry page's verbatim texts
//! and held-back variants, the printable booklet, a try that records nothing, and the
//! sign-in these pages need.

use std::process::Command;
use std::sync::Arc;

use chrono::{Local, TimeZone, Utc};
use guichet::corpus;
use guichet::engine::{Engine, EngineOptions};
use guichet::staff::Role;

use crate::helpers::{Console, TestApp, config, demo_copy, edit, engine};

/// What maud writes for a text: the escaping every validated text goes through.
fn escaped(text: &str) -> String {
    maud::html! { (text) }.into_string()
}

/// The entry ids a page links to, in page order (each once).
fn linked_entries(page: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for part in page.split("href=\"/console/kb/").skip(1) {
        let id = part.split('"').next().unwrap_or_default();
        if id.contains('/') || id.starts_with('?') || id.is_empty() {
            continue;
        }
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }
    ids
}

/// The part of a search page after its form: the results.
fn results(page: &str) -> &str {
    let at = page
        .find("id=\"kb-results\"")
        .unwrap_or_else(|| panic!("no results section: {page}"));
    &page[at..]
}

async fn agent(app: &TestApp) -> Console {
    app.console_as("camille.martin@belleval.fr", &[Role::Agent])
        .await
}

async fn ok_page(c: &Console, path: &str) -> String {
    let r = c.get(path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.text().await.unwrap()
}

fn url_query(q: &str) -> String {
    url::form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

#[tokio::test]
async fn console_kb_a_residents_phrasing_finds_the_right_entry_first_as_the_assistants_answer() {
    let app = TestApp::spawn().await;
    let c = agent(&app).await;
    let q = "il me faut un extrait de naissance pour mon dossier";
    let page = ok_page(&c, &format!("/console/kb?q={}", url_query(q))).await;
    let found = results(&page);
    let ids = linked_entries(found);
    assert_eq!(
        ids.first().map(String::as_str),
        Some("acte-naissance-copie"),
        "{ids:?}"
    );
    let mark = found
        .find("Réponse de l&#39;assistant")
        .or_else(|| found.find("Réponse de l'assistant"));
    let first = found
        .find("href=\"/console/kb/acte-naissance-copie\"")
        .unwrap();
    assert!(
        mark.is_some_and(|m| m < first),
        "the engine's answer is marked as such, first"
    );
}

#[tokio::test]
async fn console_kb_the_word_search_finds_an_entry_by_a_word_of_its_answer_only() {
    let app = TestApp::spawn().await;
    let c = agent(&app).await;
    let engine = engine();
    let corpus = engine.corpus();
    // A long word of an answer that its question and alternates never use, and that no
    // other entry's texts use either: only the answer can bring this entry up.
    let folded = |t: &str| guichet::text::fold(t);
    let everything_else = |i: usize| {
        corpus
            .entries()
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, e)| {
                folded(&format!(
                    "{} {} {}",
                    e.question,
                    e.alternates.join(" "),
                    e.answer
                ))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (index, word) = corpus
        .entries()
        .iter()
        .enumerate()
        .find_map(|(i, e)| {
            let phrasings = folded(&format!("{} {}", e.question, e.alternates.join(" ")));
            let others = everything_else(i);
            folded(&e.answer)
                .split_whitespace()
                .find(|w| {
                    let stem: String = w.chars().take(6).collect();
                    w.chars().count() >= 9
                        && w.chars().all(char::is_alphabetic)
                        && !phrasings.contains(&stem)
                        && !others.contains(&stem)
                })
                .map(|w| (i, w.to_string()))
        })
        .expect("some answer has a word of its own");
    let id = corpus.entry(index).id.to_string();
    assert!(
        engine.word_search(&word).iter().any(|(i, _)| *i == index),
        "the engine's word search finds {id} by {word:?}"
    );
    let page = ok_page(&c, &format!("/console/kb?q={}", url_query(&word))).await;
    let ids = linked_entries(results(&page));
    assert!(ids.contains(&id), "{word:?} lists {id}: {ids:?}");
}

#[tokio::test]
async fn console_kb_the_service_filter_keeps_only_that_services_entries() {
    let app = TestApp::spawn().await;
    let c = agent(&app).await;
    let engine = engine();
    let service_of = |id: &str| {
        let i = engine.corpus().index_of(id).unwrap();
        engine.corpus().entry(i).service.clone()
    };
    let q = "demande dossier";
    let all = ok_page(&c, &format!("/console/kb?q={}", url_query(q))).await;
    let all_ids = linked_entries(results(&all));
    let services: std::collections::BTreeSet<String> =
        all_ids.iter().map(|id| service_of(id)).collect();
    assert!(
        services.len() > 1,
        "unfiltered, several services: {all_ids:?}"
    );
    assert!(services.contains("etat-civil"), "{all_ids:?}");
    let only = ok_page(
        &c,
        &format!("/console/kb?q={}&service=etat-civil", url_query(q)),
    )
    .await;
    let ids = linked_entries(results(&only));
    assert!(!ids.is_empty());
    for id in &ids {
        assert_eq!(service_of(id), "etat-civil", "{id} in {ids:?}");
    }
    // Without a question: the service's entries, all of them, and no other.
    let listed = ok_page(&c, "/console/kb?service=etat-civil").await;
    let mut ids = linked_entries(&listed);
    ids.sort();
    let mut expected: Vec<String> = engine
        .corpus()
        .entries()
        .iter()
        .filter(|e| e.service == "etat-civil")
        .map(|e| e.id.to_string())
        .collect();
    expected.sort();
    assert_eq!(ids, expected);
    let unknown = c.get("/console/kb?q=x&service=nope").await;
    assert_eq!(unknown.status(), 422);
}

/// The demo corpus with Thursday's closing time changed in the French answer of
/// `horaires-mairie` and stamped again: its English and easy-read variants go stale.
fn stale_engine() -> (tempfile::TempDir, Arc<Engine>) {
    let (dir, corpus_dir) = demo_copy();
    let file = corpus_dir.join("entries/accueil/horaires-mairie.md");
    edit(
        &file,
        "- jeudi : 8 h 30 – 12 h et 13 h 30 – 19 h ;",
        "- jeudi : 8 h 30 – 12 h et 13 h 30 – 18 h ;",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["stamp", "--by", "Accueil de la mairie"])
        .arg(&file)
        .env("LANG", "fr_FR.UTF-8")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (c, _) = corpus::load_checked(&corpus_dir, Local::now().date_naive()).unwrap();
    let options = EngineOptions {
        cache_dir: Some(config(&[]).cache),
        policy: engine().policy().clone(),
        ..EngineOptions::default()
    };
    let e = Engine::build(c, engine().embedder().clone(), options).unwrap();
    (dir, Arc::new(e))
}

#[tokio::test]
async fn console_kb_the_entry_page_shows_the_validated_texts_verbatim_and_no_stale_variant() {
    let app = TestApp::spawn().await;
    let c = agent(&app).await;
    let engine = engine();
    let i = engine.corpus().index_of("acte-naissance-copie").unwrap();
    let e = engine.corpus().entry(i);
    let page = ok_page(&c, "/console/kb/acte-naissance-copie").await;
    assert!(
        page.contains(&format!(
            "<div class=\"answer\" lang=\"fr\">{}</div>",
            escaped(&e.answer)
        )),
        "the answer byte for byte: {page}"
    );
    assert!(page.contains(&e.answer_sha256));
    let easy = e
        .easy_read
        .as_ref()
        .expect("the demo entry has an easy-read");
    assert!(page.contains(&escaped(&easy.answer)));
    let en = &e.translations["en"];
    assert!(page.contains(&escaped(&en.answer)));
    let service = engine.corpus().services().get(&e.service).unwrap();
    assert!(page.contains(&escaped(service.phone.as_deref().unwrap())));
    assert!(page.contains("ouvert maintenant") || page.contains("fermé en ce moment"));
    assert!(page.contains(&escaped(e.url.as_deref().unwrap())));
    assert!(page.contains(&e.validated_on.unwrap().format("%d/%m/%Y").to_string()));
    assert!(page.contains(&escaped(&e.alternates[0])));
    assert!(page.contains("href=\"/console/kb/acte-naissance-copie/print\""));

    // A changed French answer: its variants are listed to revalidate, not shown.
    let (_dir, stale) = stale_engine();
    let before = engine.corpus().index_of("horaires-mairie").unwrap();
    let old_en = engine.corpus().entry(before).translations["en"]
        .answer
        .clone();
    let old_easy = engine
        .corpus()
        .entry(before)
        .easy_read
        .clone()
        .unwrap()
        .answer;
    let app = TestApp::spawn_with_engine(stale.clone(), &[]).await;
    let c = agent(&app).await;
    let page = ok_page(&c, "/console/kb/horaires-mairie").await;
    let i = stale.corpus().index_of("horaires-mairie").unwrap();
    let french = &stale.corpus().entry(i).answer;
    assert!(page.contains(&format!(
        "<div class=\"answer\" lang=\"fr\">{}</div>",
        escaped(french)
    )));
    assert!(
        !page.contains(&escaped(&old_en)),
        "the stale English text is not shown"
    );
    assert!(
        !page.contains(&escaped(&old_easy)),
        "the stale easy-read is not shown"
    );
    assert!(page.contains("À revalider"), "{page}");
    assert!(page.contains("<li>anglais</li>") && page.contains("<li>facile à lire</li>"));
}

#[tokio::test]
async fn console_kb_a_services_booklet_has_one_sheet_per_entry_and_the_corpus_version() {
    let app = TestApp::spawn().await;
    let c = agent(&app).await;
    let engine = engine();
    let entries: Vec<_> = engine
        .corpus()
        .entries()
        .iter()
        .filter(|e| e.service == "etat-civil")
        .collect();
    let page = ok_page(&c, "/console/kb/service/etat-civil/print").await;
    assert_eq!(
        page.matches("<article class=\"sheet\">").count(),
        entries.len()
    );
    for e in &entries {
        assert!(page.contains(&escaped(&e.answer)), "{} verbatim", e.id);
    }
    // Every sheet ends with its footer: the print date and the corpus version.
    let footers: Vec<&str> = page
        .split("<footer class=\"print-footer\">")
        .skip(1)
        .collect();
    assert_eq!(footers.len(), entries.len());
    for f in footers {
        let f = &f[..f.find("</footer>").unwrap()];
        assert!(
            f.contains(&format!("corpus {}", engine.corpus().version())),
            "{f}"
        );
    }
    assert!(
        !page.contains("class=\"top\""),
        "no console navigation on paper"
    );
    let one = ok_page(&c, "/console/kb/pacs/print").await;
    assert_eq!(one.matches("<article class=\"sheet\">").count(), 1);
    assert_eq!(c.get("/console/kb/service/nope/print").await.status(), 404);
    assert_eq!(c.get("/console/kb/nope").await.status(), 404);
}

/// Everything the store counts as traffic: daily counts, tickets, turns of the period.
fn traffic(app: &TestApp) -> (String, usize, String, usize) {
    let s = app.state.store.clone();
    let since = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    (
        format!("{:?}", s.daily_counts().unwrap()),
        s.tickets(None).unwrap().len(),
        format!("{:?}", s.traffic_since(since).unwrap()),
        s.unanswered_since(since, 10_000).unwrap().len(),
    )
}

#[tokio::test]
async fn console_kb_the_try_pane_shows_the_reply_and_its_trace_and_records_nothing() {
    let app = TestApp::spawn().await;
    let c = agent(&app).await;
    let before = traffic(&app);
    let answered = ok_page(
        &c,
        &format!(
            "/console/try?q={}",
            url_query("il me faut un extrait de naissance pour mon dossier")
        ),
    )
    .await;
    let engine = engine();
    let e = engine
        .corpus()
        .entry(engine.corpus().index_of("acte-naissance-copie").unwrap());
    assert!(answered.contains(&escaped(&e.answer)), "{answered}");
    for header in [
        "Rang",
        "Fiche",
        "Score",
        "Sens : questions",
        "Mots : réponse",
    ] {
        assert!(answered.contains(&format!(">{header}</th>")), "{header}");
    }
    assert!(answered.contains("Confiance"));
    let person = ok_page(
        &c,
        &format!("/console/try?q={}", url_query("je veux parler à quelqu'un")),
    )
    .await;
    assert!(person.contains("Transfert à un agent"), "{person}");
    assert!(person.contains("la personne demande un agent"));
    let unknown = ok_page(
        &c,
        &format!(
            "/console/try?q={}&lang=en",
            url_query("Quelle est la couleur préférée du maire ?")
        ),
    )
    .await;
    assert!(unknown.contains("aucune fiche assez sûre"), "{unknown}");
    assert_eq!(traffic(&app), before, "trying records nothing");

    // The same question from a resident is traffic: the measure above can see it.
    let r = app
        .post_json(
            "/v1/chat",
            &serde_json::json!({
                "message": "je veux parler à quelqu'un",
                "session_id": "console-kb-try-resident-0001",
            }),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_ne!(traffic(&app), before);
}

#[tokio::test]
async fn console_kb_the_coverage_section_runs_a_probe_that_records_nothing() {
    let app = TestApp::spawn().await;
    let c = agent(&app).await;
    let page = ok_page(&c, "/console/coverage").await;
    assert!(page.contains("href=\"/console/coverage/report?days=30\""));
    let before = traffic(&app);
    let r = c
        .post(
            "/console/coverage/probe",
            &[(
                "questions",
                "il me faut un extrait de naissance pour mon dossier\n\nje veux parler à quelqu'un\n",
            )],
        )
        .await;
    assert_eq!(r.status(), 200);
    let results = r.text().await.unwrap();
    assert!(results.contains("acte-naissance-copie"), "{results}");
    assert!(
        !results.contains("<style>"),
        "the console CSP refuses inline styles"
    );
    assert_eq!(traffic(&app), before, "a probe records nothing");
    assert_eq!(c.get("/console/coverage/report?days=0").await.status(), 422);
}

/// A two-entry engine: the coverage report over it takes a moment, not half a minute
/// (over the demo corpus it runs the self-test of every phrasing, which on a loaded
/// machine competes with the suite's own report test for the request timeout).
fn small_engine() -> Arc<Engine> {
    let entries = vec![
        guichet::corpus::Entry::trusted(
            "piscine-horaires",
            "Quels sont les horaires de la piscine ?",
            vec!["quand ouvre la piscine".into()],
            "La piscine ouvre de 9 h à 19 h.",
            "fr",
        ),
        guichet::corpus::Entry::trusted(
            "cantine-inscription",
            "Comment inscrire mon enfant à la cantine ?",
            vec![],
            "L'inscription se fait en ligne sur le portail famille.",
            "fr",
        ),
    ];
    let options = EngineOptions {
        cache_dir: Some(config(&[]).cache),
        policy: engine().policy().clone(),
        ..EngineOptions::default()
    };
    let c = guichet::corpus::Corpus::from_trusted(entries);
    Arc::new(Engine::build(c, engine().embedder().clone(), options).unwrap())
}

#[tokio::test]
async fn console_kb_the_coverage_report_is_served_in_the_console_with_its_linked_stylesheet() {
    let small = small_engine();
    let app = TestApp::spawn_with_engine(small.clone(), &[]).await;
    let c = agent(&app).await;
    let report = c.get("/console/coverage/report?days=7").await;
    assert_eq!(report.status(), 200);
    let report = report.text().await.unwrap();
    assert!(report.contains("Rapport de couverture"), "{report}");
    assert!(
        report.contains(small.corpus().version()),
        "the report of this corpus"
    );
    assert!(report.contains("/console/assets/console.css") && !report.contains("<style>"));
    assert_eq!(c.get("/console/coverage/report?days=0").await.status(), 422);
}

#[tokio::test]
async fn console_kb_every_page_sends_an_anonymous_visitor_to_the_sign_in_page() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/console/kb",
        "/console/kb?q=pacs",
        "/console/kb/pacs",
        "/console/kb/pacs/print",
        "/console/kb/service/etat-civil/print",
        "/console/try?q=pacs",
        "/console/coverage",
        "/console/coverage/report",
    ] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        let to = r.headers()["location"].to_str().unwrap();
        assert!(to.starts_with("/console/login?next="), "{path} -> {to}");
    }
    let r = client
        .post(app.url("/console/coverage/probe"))
        .form(&[("questions", "pacs")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
