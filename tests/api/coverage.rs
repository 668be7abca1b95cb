//! Coverage for agents, over the real model: the probe API (`POST /v1/coverage`) with
//! expectations both ways, its auth and limits; the self-test finding a planted
//! near-duplicate; gap mining over turns in the store; the lint finding a near review.

use std::path::Path;

use chrono::{Duration, Local, NaiveDate, Utc};
use guichet::corpus;
use guichet::coverage::{self, lint};
use guichet::engine::{Engine, EngineOptions};
use guichet::privacy::Redacted;
use guichet::reply::Outcome;
use guichet::store::{Author, Channel, NewTurn, Store};
use serde_json::{Value, json};

use crate::helpers::{TestApp, config, demo_copy, engine, root};

const TOKEN: &str = "agent-secret";
const SCHOOL: &str = "comment inscrire mon fils à l'école ?";
const OUT_OF_SCOPE: &str = "Quelle est la capitale de l'Australie ?";

async fn post_coverage(app: &TestApp, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut r = app.client.post(app.url("/v1/coverage")).json(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_batch_judges_entry_and_handoff_expectations_both_ways() {
    let app = TestApp::spawn_with(&["--admin-token", TOKEN]).await;
    let body = json!({ "items": [
        { "question": SCHOOL, "expect": "inscription-scolaire" },
        { "question": OUT_OF_SCOPE, "expect": "handoff" },
        { "question": SCHOOL, "expect": "handoff" },
        { "question": OUT_OF_SCOPE, "expect": "inscription-scolaire" },
        { "question": SCHOOL, "expect": "cantine-tarifs" },
        { "question": SCHOOL },
    ]});
    let (status, out) = post_coverage(&app, Some(TOKEN), &body).await;
    assert_eq!(status, 200, "{out}");
    let results = out["results"].as_array().unwrap();
    let passed: Vec<&Value> = results.iter().map(|r| &r["passed"]).collect();
    assert_eq!(
        passed,
        [
            &json!(true),
            &json!(true),
            &json!(false),
            &json!(false),
            &json!(false),
            &Value::Null
        ],
        "{out}"
    );
    assert_eq!(results[0]["outcome"], "answer");
    assert_eq!(results[0]["entry"], "inscription-scolaire");
    assert_eq!(results[1]["outcome"], "handoff");
    assert!(results[0]["confidence"].as_f64().unwrap() > 0.0);
    assert!(results[0]["margin"].is_number());
    assert_eq!(results[0]["candidates"][0]["id"], "inscription-scolaire");
    assert!(results[0]["candidates"][0]["score"].is_number());
    let s = &out["summary"];
    assert_eq!(s["total"], 6);
    assert_eq!(s["answered"], 4, "{s}");
    assert_eq!(s["handed_off"], 2, "{s}");
    assert_eq!(s["judged"], 5);
    assert_eq!(s["passed"], 2);
    // Answered with another entry is a wrong answer; answered where a hand-off was
    // expected is an expectation to update, counted apart.
    assert_eq!(s["wrong_answers"], 1, "{s}");
    assert_eq!(s["expectations_to_update"], 1, "{s}");
    assert_eq!(results[2]["verdict"], "expectation_to_update", "{out}");
    assert_eq!(results[4]["verdict"], "wrong_answer", "{out}");
    assert_eq!(results[3]["verdict"], "not_answered", "{out}");
    assert_eq!(results[0]["verdict"], "pass");
    assert_eq!(results[5]["verdict"], Value::Null);
    assert_eq!(
        s["confusable"],
        json!([{ "expected": "cantine-tarifs", "got": "inscription-scolaire", "count": 1 }])
    );
}

#[tokio::test]
async fn probes_are_not_recorded_as_traffic() {
    let app = TestApp::spawn_with(&["--admin-token", TOKEN]).await;
    let body = json!({ "items": [{ "question": OUT_OF_SCOPE }, { "question": SCHOOL }] });
    let (status, _) = post_coverage(&app, Some(TOKEN), &body).await;
    assert_eq!(status, 200);
    let unanswered = app
        .state
        .store
        .unanswered_since(Utc::now() - Duration::days(1), 100)
        .unwrap();
    assert!(unanswered.is_empty());
    assert!(app.state.store.tickets(None).unwrap().is_empty());
    assert!(app.state.store.daily_counts().unwrap().is_empty());
}

#[tokio::test]
async fn the_probe_api_needs_the_admin_token_and_does_not_exist_without_one() {
    let app = TestApp::spawn_with(&["--admin-token", TOKEN]).await;
    let body = json!({ "items": [{ "question": SCHOOL }] });
    assert_eq!(post_coverage(&app, None, &body).await.0, 401);
    assert_eq!(post_coverage(&app, Some("wrong"), &body).await.0, 401);
    let r = app.client.get(app.url("/v1/gaps")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let closed = TestApp::spawn().await;
    assert_eq!(post_coverage(&closed, Some(TOKEN), &body).await.0, 404);
}

#[tokio::test]
async fn a_batch_over_a_thousand_items_is_refused_with_a_stable_code() {
    let app = TestApp::spawn_with(&["--admin-token", TOKEN]).await;
    let items: Vec<Value> = (0..1001)
        .map(|i| json!({ "question": format!("question numéro {i} sur les poubelles") }))
        .collect();
    let (status, out) = post_coverage(&app, Some(TOKEN), &json!({ "items": items })).await;
    assert_eq!(status, 422, "{out}");
    assert_eq!(out["error"]["code"], "too_many_items");
}

fn engine_over(dir: &Path) -> Engine {
    let (c, _) = corpus::load(dir, Local::now().date_naive()).unwrap();
    let options = EngineOptions {
        cache_dir: Some(config(&[]).cache),
        policy: engine().policy().clone(),
        ..EngineOptions::default()
    };
    Engine::build(c, engine().embedder().clone(), options).unwrap()
}

#[test]
fn the_self_test_finds_a_planted_near_duplicate() {
    let (_dir, corpus_dir) = demo_copy();
    let original = corpus_dir.join("entries/education/inscription-scolaire.md");
    let copy = corpus_dir.join("entries/education/inscription-ecole-bis.md");
    let text = std::fs::read_to_string(&original).unwrap();
    let text = text.replacen(
        "id = \"inscription-scolaire\"",
        "id = \"inscription-ecole-bis\"",
        1,
    );
    std::fs::write(
        &copy,
        text.replacen("puis à l'école.", "puis à l'école primaire.", 1),
    )
    .unwrap();
    // A full copy: its translation is validated with it, as the original's is.
    let services = corpus::stamp::services_for(&copy).unwrap();
    let request = corpus::stamp::StampRequest {
        by: "Espace Famille (Éducation et restauration scolaire)",
        today: Local::now().date_naive(),
        variants: &["en".to_string()],
        easy_read: false,
        status: None,
    };
    corpus::stamp::stamp(&copy, &services, &request).unwrap();
    let dup = engine_over(&corpus_dir);
    assert!(dup.corpus().index_of("inscription-ecole-bis").is_some());
    let t = coverage::self_test(&dup).unwrap();
    assert!(!t.passed());
    assert_eq!(
        t.steals[0].entries,
        (
            "inscription-ecole-bis".to_string(),
            "inscription-scolaire".to_string()
        ),
        "{t:#?}"
    );
    // Each phrasing of the pair finds exactly one of the two first: one of them loses
    // at least as many phrasings as it has.
    let entry = dup
        .corpus()
        .entry(dup.corpus().index_of("inscription-scolaire").unwrap());
    let per_entry = guichet::retrieval::match_texts(entry).count();
    assert!(t.steals[0].phrasings >= per_entry, "{t:#?}");
    // The lint sees the pair as confusable too.
    let pairs = lint::confusable_entries(&dup, lint::DEFAULT_CONFUSABLE).unwrap();
    assert!(
        pairs
            .iter()
            .any(|p| p.a.starts_with("inscription") && p.b.starts_with("inscription")),
        "{pairs:#?}"
    );
}

#[test]
fn the_demo_corpus_self_test_names_no_duplicate_of_the_planted_kind() {
    let t = coverage::self_test(&engine()).unwrap();
    assert!(t.phrasings > 200, "{t:#?}");
    // A few alternates may lean on a neighbour, but no pair takes five phrasings.
    assert!(t.steals.iter().all(|s| s.phrasings < 5), "{t:#?}");
}

/// Records a person's turn in a web conversation, as the chat would.
pub fn person_turn(store: &dyn Store, conversation: &str, text: &str, outcome: Outcome) {
    let now = Utc::now();
    let c = store
        .conversation(
            Channel::Web,
            &store.pseudonym(Channel::Web, conversation),
            now,
        )
        .unwrap();
    store
        .record_turn(
            c.id,
            &NewTurn {
                kind: guichet::store::TurnKind::Message,
                author: Author::Person,
                text: Redacted::new(text),
                outcome: Some(outcome),
                entry_id: None,
                answer_sha256: None,
                confidence: Some(0.1),
                scores: None,
                agent: None,
            },
            now,
        )
        .unwrap();
}

/// Topics the demo corpus does not cover (see docs/coverage-probe.txt).
const CEMETERY: [&str; 3] = [
    "Comment acheter une concession au cimetière ?",
    "je voudrais réserver une place au cimetière communal pour ma famille",
    "renouveler la concession funéraire de mes grands-parents",
];
const HORNETS: [&str; 3] = [
    "il y a un nid de frelons dans mon jardin",
    "qui contacter pour enlever un nid de guêpes ?",
    "destruction d'un nid de frelons asiatiques",
];
const UNRELATED: &str = OUT_OF_SCOPE;

#[tokio::test]
async fn gap_mining_groups_paraphrases_of_a_missing_topic_and_keeps_others_apart() {
    let app = TestApp::spawn_with(&["--admin-token", TOKEN]).await;
    let store = app.state.store.clone();
    for (i, q) in CEMETERY.iter().enumerate() {
        person_turn(store.as_ref(), &format!("c{i}"), q, Outcome::Handoff);
    }
    // The same words twice count twice but are one representative.
    person_turn(store.as_ref(), "c-again", CEMETERY[0], Outcome::Handoff);
    for (i, q) in HORNETS.iter().enumerate() {
        person_turn(store.as_ref(), &format!("h{i}"), q, Outcome::Clarify);
    }
    person_turn(store.as_ref(), "u", UNRELATED, Outcome::Handoff);
    // Answered questions are not gaps.
    person_turn(store.as_ref(), "a", SCHOOL, Outcome::Answer);

    let r = app
        .client
        .get(app.url("/v1/gaps?days=7"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["questions"], 8, "{out:#}");
    let found = out["gaps"].as_array().unwrap();
    let reps = |g: &Value| -> Vec<String> {
        let mut r: Vec<String> = g["representatives"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q.as_str().unwrap().to_string())
            .collect();
        r.sort();
        r
    };
    let sorted = |qs: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = qs.iter().map(|q| q.to_string()).collect();
        v.sort();
        v
    };
    // Groups hold questions that mean the same thing (complete linkage, measured on
    // labelled paraphrases in tests/api/gaps.rs): the closest paraphrases of each topic
    // are one group; a looser one ("réserver une place", "un nid de guêpes") may stand
    // alone, but no group mixes topics.
    let group_of = |q: &str| {
        found
            .iter()
            .position(|g| reps(g).contains(&q.to_string()))
            .unwrap_or_else(|| panic!("{q}: {out:#}"))
    };
    let cemetery = &found[group_of(CEMETERY[0])];
    assert_eq!(group_of(CEMETERY[2]), group_of(CEMETERY[0]), "{out:#}");
    assert_eq!(cemetery["size"], 3, "{out:#}");
    assert_eq!(cemetery["handed_off"], 3, "{out:#}");
    assert_eq!(group_of(HORNETS[2]), group_of(HORNETS[0]), "{out:#}");
    let hornets = &found[group_of(HORNETS[0])];
    assert_eq!(hornets["clarified"], hornets["size"], "{out:#}");
    for g in found {
        let r = reps(g);
        let has = |qs: &[&str]| qs.iter().any(|q| r.contains(&q.to_string()));
        assert!(!(has(&CEMETERY) && has(&HORNETS)), "{out:#}");
        assert!(!has(&[UNRELATED]) || r.len() == 1, "{out:#}");
    }
    assert_eq!(reps(&found[group_of(UNRELATED)]), sorted(&[UNRELATED]));
    let sizes: u64 = found.iter().map(|g| g["size"].as_u64().unwrap()).sum();
    assert_eq!(sizes, 8, "{out:#}");
    // The nearest entry is a lead; a service is named only on strong evidence.
    assert!(cemetery["closest"]["id"].is_string(), "{out:#}");
    assert_eq!(cemetery["service"], Value::Null, "{out:#}");
}

fn today() -> NaiveDate {
    Local::now().date_naive()
}

#[test]
fn the_lint_finds_a_planted_near_review_entry_and_a_draft() {
    let (_dir, corpus_dir) = demo_copy();
    let entry = corpus_dir.join("entries/education/cantine-tarifs.md");
    let text = std::fs::read_to_string(&entry).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("review_by"))
        .expect("the entry has a review date")
        .to_string();
    let soon = (today() + Duration::days(10)).format("%Y-%m-%d");
    std::fs::write(
        &entry,
        text.replacen(&line, &format!("review_by = \"{soon}\""), 1),
    )
    .unwrap();
    let before = lint::lint(&root().join("corpus"), today()).unwrap();
    let report = lint::lint(&corpus_dir, today()).unwrap();
    assert_eq!(
        report.review_near.len(),
        before.review_near.len() + 1,
        "{report:#?}"
    );
    assert!(
        report
            .review_near
            .iter()
            .any(|p| p.file.ends_with("cantine-tarifs.md") && p.line.is_some())
    );
    assert!(report.render().contains("cantine-tarifs.md"));
}

/// One planted turn of the report test: days before today (UTC), channel, outcome, the
/// entry served or the first candidate, and what the person wrote.
struct Planted {
    days_ago: i64,
    channel: Channel,
    outcome: Outcome,
    entry: Option<&'static str>,
    text: &'static str,
}

const fn planted(
    days_ago: i64,
    channel: Channel,
    outcome: Outcome,
    entry: Option<&'static str>,
    text: &'static str,
) -> Planted {
    Planted {
        days_ago,
        channel,
        outcome,
        entry,
        text,
    }
}

const PLANTED: [Planted; 10] = [
    planted(
        2,
        Channel::Web,
        Outcome::Answer,
        Some("inscription-scolaire"),
        SCHOOL,
    ),
    planted(
        2,
        Channel::Web,
        Outcome::Answer,
        Some("inscription-scolaire"),
        SCHOOL,
    ),
    planted(
        2,
        Channel::Web,
        Outcome::Answer,
        Some("inscription-scolaire"),
        SCHOOL,
    ),
    planted(
        2,
        Channel::Web,
        Outcome::Handoff,
        Some("cantine-tarifs"),
        CEMETERY[0],
    ),
    planted(
        1,
        Channel::Telegram,
        Outcome::Answer,
        Some("cni-renouvellement"),
        "carte d'identité périmée",
    ),
    planted(
        1,
        Channel::Telegram,
        Outcome::Answer,
        Some("cni-renouvellement"),
        "refaire ma CNI",
    ),
    planted(
        1,
        Channel::Telegram,
        Outcome::Clarify,
        Some("cni-renouvellement"),
        "renouveler un titre",
    ),
    planted(1, Channel::Whatsapp, Outcome::Handoff, None, CEMETERY[1]),
    planted(
        0,
        Channel::Messenger,
        Outcome::Answer,
        Some("jours-collecte"),
        "quand passe la poubelle ?",
    ),
    planted(
        0,
        Channel::Messenger,
        Outcome::Handoff,
        Some("jours-collecte"),
        CEMETERY[2],
    ),
];

fn plant(store: &dyn Store, p: &Planted, at: chrono::DateTime<Utc>, n: usize) {
    let c = store
        .conversation(
            p.channel,
            &store.pseudonym(p.channel, &format!("{}-{n}", p.channel.as_str())),
            at,
        )
        .unwrap();
    let answered = p.outcome == Outcome::Answer;
    let turn = NewTurn {
        kind: guichet::store::TurnKind::Message,
        author: Author::Person,
        text: Redacted::new(p.text),
        outcome: Some(p.outcome),
        entry_id: p.entry.filter(|_| answered).map(String::from),
        answer_sha256: None,
        confidence: Some(if answered { 0.9 } else { 0.2 }),
        scores: p
            .entry
            .filter(|_| !answered)
            .map(|e| json!({ "margin": 0.0, "candidates": [{ "id": e, "score": 0.5 }] })),
        agent: None,
    };
    store.record_turn(c.id, &turn, at).unwrap();
}

/// The cells of each body row of the table with this id, tags stripped.
fn table_rows(html: &str, id: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("<table id=\"{id}\""))
        .unwrap_or_else(|| panic!("table {id} in the report"));
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    let body = &table[table.find("<tbody>").unwrap()..];
    let row = regex::Regex::new(r"(?s)<tr>(.*?)</tr>").unwrap();
    let cell = regex::Regex::new(r"(?s)<t[hd][^>]*>(.*?)</t[hd]>").unwrap();
    let tag = regex::Regex::new(r"<[^>]+>").unwrap();
    row.captures_iter(body)
        .map(|r| {
            cell.captures_iter(&r[1])
                .map(|c| tag.replace_all(&c[1], "").trim().to_string())
                .collect()
        })
        .collect()
}

/// French percentage, computed here independently of the report's own helper.
fn pct(n: u64, total: u64) -> String {
    if total == 0 {
        return "–".into();
    }
    let tenths = (n * 1000 + total / 2) / total;
    format!("{},{}\u{a0}%", tenths / 10, tenths % 10)
}

/// total, answered, rate, clarified, rate, handed off, rate: the columns of every table.
fn expected_cells(rows: &[&Planted]) -> Vec<String> {
    let count = |o: Outcome| rows.iter().filter(|p| p.outcome == o).count() as u64;
    let total = rows.len() as u64;
    let (a, c, h) = (
        count(Outcome::Answer),
        count(Outcome::Clarify),
        count(Outcome::Handoff),
    );
    vec![
        total.to_string(),
        a.to_string(),
        pct(a, total),
        c.to_string(),
        pct(c, total),
        h.to_string(),
        pct(h, total),
    ]
}

#[test]
fn the_report_shows_the_figures_of_planted_traffic_by_day_channel_and_service() {
    let dir = tempfile::tempdir().unwrap();
    let store = guichet::store::SqliteStore::open(&dir.path().join("g.sqlite")).unwrap();
    let now = Utc::now();
    let noon = |days_ago: i64| {
        (now.date_naive() - Duration::days(days_ago))
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc()
            .min(now)
    };
    for (n, p) in PLANTED.iter().enumerate() {
        plant(&store, p, noon(p.days_ago), n);
    }
    // Neither an agent's message nor a question older than the period counts.
    let c = store
        .conversation(
            Channel::Web,
            &store.pseudonym(Channel::Web, "agent"),
            noon(1),
        )
        .unwrap();
    let agent = NewTurn {
        kind: guichet::store::TurnKind::Message,
        author: Author::Agent,
        text: Redacted::new("je regarde votre dossier"),
        outcome: None,
        entry_id: None,
        answer_sha256: None,
        confidence: None,
        scores: None,
        agent: None,
    };
    store.record_turn(c.id, &agent, noon(1)).unwrap();
    plant(&store, &PLANTED[7], noon(12), 99);

    let period = coverage::report::Period::last_days(7, now);
    let traffic = store.traffic_since(period.since()).unwrap();
    let unanswered = store.unanswered_since(period.since(), 1000).unwrap();
    let engine = engine();
    let report = coverage::report::assemble(
        &engine,
        &root().join("corpus"),
        period,
        &traffic,
        &unanswered,
        coverage::gaps::DEFAULT_THRESHOLD,
        now,
    )
    .unwrap();
    let html = guichet::html::report::page(&report, guichet::html::Styles::Inline).into_string();
    let out = root().join("target/e2e");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("report-planted.html"), &html).unwrap();

    // Self-contained: no script, no external asset.
    assert!(html.starts_with("<!DOCTYPE html><html lang=\"fr\">"));
    for banned in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(banned), "{banned} in the report");
    }
    assert_eq!(html.matches("<svg").count(), 3);

    let all: Vec<&Planted> = PLANTED.iter().collect();
    assert!(html.contains(&format!(
        "<b>{}</b><span>questions reçues</span>",
        PLANTED.len()
    )));
    let answered = expected_cells(&all);
    assert!(html.contains(&format!(
        "<b>{}</b><span>répondues ({})</span>",
        answered[2], answered[1]
    )));

    // Per channel: the four main channels, in order, with their counts and rates.
    let channels = table_rows(&html, "t-canal");
    let names = ["Site web", "Messenger", "WhatsApp", "Telegram"];
    let kinds = [
        Channel::Web,
        Channel::Messenger,
        Channel::Whatsapp,
        Channel::Telegram,
    ];
    assert_eq!(channels.len(), 4, "{channels:?}");
    for ((row, name), kind) in channels.iter().zip(names).zip(kinds) {
        let mine: Vec<&Planted> = PLANTED.iter().filter(|p| p.channel == kind).collect();
        assert_eq!(row[0], name);
        assert_eq!(row[1..], expected_cells(&mine)[..], "{name}");
    }

    // Per day: all seven days, the quiet ones at zero.
    let days = table_rows(&html, "t-jour");
    assert_eq!(days.len(), 7, "{days:?}");
    for (i, row) in days.iter().enumerate() {
        let days_ago = 6 - i as i64;
        let day = now.date_naive() - Duration::days(days_ago);
        assert_eq!(row[0], day.format("%d/%m/%Y").to_string());
        let mine: Vec<&Planted> = PLANTED.iter().filter(|p| p.days_ago == days_ago).collect();
        assert_eq!(row[1..], expected_cells(&mine)[..], "{days_ago} days ago");
    }

    // Per service: the service of the entry served or nearest; nothing near gets its row.
    let services = table_rows(&html, "t-service");
    let service_of = |id: &str| {
        let c = engine.corpus();
        c.entry(c.index_of(id).unwrap()).service.clone()
    };
    for key in ["education", "titres", "dechets"] {
        let name = engine.corpus().services().get(key).unwrap().name.clone();
        let row = services
            .iter()
            .find(|r| escape_free(&r[0]) == name)
            .unwrap_or_else(|| panic!("row for {name}: {services:?}"));
        let mine: Vec<&Planted> = PLANTED
            .iter()
            .filter(|p| p.entry.is_some_and(|e| service_of(e) == key))
            .collect();
        assert_eq!(row[3..], expected_cells(&mine)[..], "{key}");
    }
    let none = services.last().unwrap();
    assert_eq!(none[0], "Aucune fiche proche");
    let mine: Vec<&Planted> = PLANTED.iter().filter(|p| p.entry.is_none()).collect();
    assert_eq!(none[3..], expected_cells(&mine)[..]);

    // The two closest cemetery questions are one gap, apart from the identity-document
    // one, with no service suggested (nothing near); the drafts of the demo corpus are
    // listed.
    let gaps = table_rows(&html, "t-lacunes");
    let shown = |cell: &str, q: &str| cell.contains(&q.replace('\'', "&#39;")) || cell.contains(q);
    assert_eq!(gaps[0][1], "2", "{gaps:?}");
    for q in [CEMETERY[0], CEMETERY[2]] {
        assert!(shown(&gaps[0][4], q), "{gaps:?}");
    }
    assert_eq!(gaps[0][5], "à attribuer", "{gaps:?}");
    for row in &gaps {
        let cemetery = CEMETERY.iter().any(|q| shown(&row[4], q));
        assert!(!(cemetery && row[4].contains("titre")), "{gaps:?}");
    }
    assert!(html.contains("entries/sports-culture/conservatoire-inscription.md"));

    // Every servable entry but the three answered with is listed as never served.
    let answered: std::collections::BTreeSet<&str> = PLANTED
        .iter()
        .filter(|p| p.outcome == Outcome::Answer)
        .filter_map(|p| p.entry)
        .collect();
    let never = engine.corpus().entries().len() - answered.len();
    assert!(html.contains(&format!(
        "<h3>Fiches jamais servies sur la période ({never})</h3>"
    )));
    let start = html.find("<details id=\"l-jamais\">").unwrap();
    let listed = &html[start..start + html[start..].find("</details>").unwrap()];
    assert_eq!(listed.matches("<code>").count(), never);
    for id in answered {
        assert!(
            !listed.contains(&format!("<code>{id}</code>")),
            "{id} was served"
        );
    }
    assert!(listed.contains("<code>horaires-mairie</code>"));
}

/// Table cells are HTML-escaped text.
fn escape_free(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn the_report_page_is_for_agents_only_and_counts_the_chat_it_served() {
    let app = TestApp::spawn_with(&["--admin-token", TOKEN]).await;
    let r = app.client.get(app.url("/v1/report")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // Only chats with a session are remembered, and so counted.
    for q in [SCHOOL, OUT_OF_SCOPE] {
        let body = json!({ "message": q, "session_id": "report-test-session-0001" });
        assert_eq!(
            app.post_json("/v1/chat", &body).await.status().as_u16(),
            200
        );
    }
    assert_eq!(app.chat(SCHOOL).await.0, 200);
    let r = app
        .client
        .get(app.url("/v1/report?days=3"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    let html = r.text().await.unwrap();
    let web = &table_rows(&html, "t-canal")[0];
    assert_eq!(web[0], "Site web");
    assert_eq!(web[1], "2", "{web:?}");
    assert_eq!(table_rows(&html, "t-jour").len(), 3);
    let bad = app
        .client
        .get(app.url("/v1/report?days=0"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
}

#[test]
fn check_report_lists_the_entries_never_served_when_there_is_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("guichet.sqlite");
    let store = guichet::store::SqliteStore::open(&db).unwrap();
    let now = Utc::now();
    let c = store
        .conversation(Channel::Web, &store.pseudonym(Channel::Web, "served"), now)
        .unwrap();
    for id in ["horaires-mairie", "cantine-tarifs"] {
        let turn = NewTurn {
            kind: guichet::store::TurnKind::Message,
            author: Author::Person,
            text: Redacted::new("question"),
            outcome: Some(Outcome::Answer),
            entry_id: Some(id.into()),
            answer_sha256: None,
            confidence: Some(0.9),
            scores: None,
            agent: None,
        };
        store.record_turn(c.id, &turn, now).unwrap();
    }
    drop(store);
    let run = |db: &Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
            .args(["check", "--report", "--corpus"])
            .arg(root().join("corpus"))
            .args(["--models"])
            .arg(root().join("models"))
            .args(["--cache"])
            .arg(root().join("target/test-cache"))
            .arg("--db")
            .arg(db)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let servable = engine().corpus().entries().len();
    let out = run(&db);
    let heading = format!("## Never served in the last 30 days ({})", servable - 2);
    assert!(out.contains(&heading), "no {heading:?} in:\n{out}");
    let section = out.split(&heading).nth(1).unwrap();
    let section = section.split("\n\n").next().unwrap();
    assert!(!section.contains("horaires-mairie") && !section.contains("cantine-tarifs"));
    assert!(section.contains("inscription-scolaire"));
    // Without a store, the section is not there (nothing to say either way).
    let none = run(&dir.path().join("absent.sqlite"));
    assert!(!none.contains("Never served"), "{none}");
}
