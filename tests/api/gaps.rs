//! Gap mining over the real model: requests for a person are not gaps, groups hold
//! questions that mean the same thing, and a service is suggested only on strong evidence.

use chrono::Utc;
use guichet::coverage::gaps::{
    self, Asked, ClusterScores, Gap, Linkage, centred, cluster_scores, cluster_with, mean,
};
use guichet::coverage::{self, render};
use guichet::embedder::{Embedding, TextKind};
use guichet::eval::EvalSet;
use guichet::reply::Outcome;
use serde_json::Value;

use crate::coverage::person_turn;
use crate::helpers::{TestApp, engine, root};

const TOKEN: &str = "agent-secret";

/// The resident's session of issue 14, item 17.
const CRECHE: &str = "inscription crèche";
const ID_CARD: &str = "jveux ma carte didentité";
const CCAS: &str = "rdv au CCAS";
const PRIVACY: &str = "que faites-vous de mes données personnelles ?";
const ROBOT: &str = "tu es un robot ?";
const SOFA: &str = "où jeter un vieux canapé ?";
const PERSON: [&str; 3] = [
    "je veux parler à quelqu'un",
    "je voudrais parler à une vraie personne",
    "Je veux parler à un conseiller",
];

fn asked(text: &str, outcome: Outcome) -> Asked {
    Asked {
        text: text.to_string(),
        outcome: Some(match outcome {
            Outcome::Clarify => Outcome::Clarify,
            _ => Outcome::Handoff,
        }),
    }
}

/// What the store holds after the 47 probe questions and the resident's session: every
/// question the engine did not answer, with how it was left.
fn issue_session() -> Vec<Asked> {
    let engine = engine();
    let mut probes = render::read_probes(&root().join("docs/coverage-probe.csv")).unwrap();
    assert_eq!(probes.len(), 47);
    for q in [CRECHE, ID_CARD, CCAS, PRIVACY, ROBOT, SOFA]
        .into_iter()
        .chain(PERSON)
    {
        probes.push(coverage::Probe {
            question: q.into(),
            expect: None,
        });
    }
    let results = coverage::run(&engine, &probes, Utc::now()).unwrap();
    let mut out: Vec<Asked> = results
        .iter()
        .filter(|r| r.outcome != Outcome::Answer)
        .map(|r| asked(&r.question, r.outcome))
        .collect();
    // Whatever the engine does with them today, these were left unanswered in the issue.
    for q in [CRECHE, ID_CARD, CCAS, PRIVACY, ROBOT, SOFA] {
        if !out.iter().any(|a| a.text == q) {
            out.push(asked(q, Outcome::Handoff));
        }
    }
    out
}

fn gap_of<'a>(found: &'a [Gap], q: &str) -> Option<&'a Gap> {
    found
        .iter()
        .find(|g| g.representatives.iter().any(|r| r == q))
}

#[test]
fn gaps_the_issue_examples_are_neither_mixed_nor_charged_to_the_wrong_service() {
    let engine = engine();
    let session = issue_session();
    let found = gaps::mine(&engine, &session, gaps::DEFAULT_THRESHOLD).unwrap();
    // Every question but the requests for a person is in some gap.
    let sizes: usize = found.iter().map(|g| g.size).sum();
    assert_eq!(sizes, session.len() - PERSON.len(), "{found:#?}");
    let (creche, id_card, ccas) = (
        gap_of(&found, CRECHE).expect("crèche is a gap"),
        gap_of(&found, ID_CARD).expect("carte d'identité is a gap"),
        gap_of(&found, CCAS).expect("CCAS is a gap"),
    );
    assert!(
        !std::ptr::eq(creche, id_card)
            && !std::ptr::eq(creche, ccas)
            && !std::ptr::eq(id_card, ccas),
        "{found:#?}"
    );
    for q in [PRIVACY, ROBOT] {
        let g = gap_of(&found, q).expect("a gap");
        assert_eq!(g.service, None, "{q}: {g:#?}");
    }
    let sofa = gap_of(&found, SOFA).expect("a gap");
    assert!(
        sofa.service.as_deref().is_none_or(|s| s == "dechets"),
        "{sofa:#?}"
    );
    assert!(
        session
            .iter()
            .filter(|a| PERSON.contains(&a.text.as_str()))
            .count()
            == PERSON.len()
    );
    for q in PERSON {
        assert!(gap_of(&found, q).is_none(), "{q} is not a gap: {found:#?}");
    }
    assert_eq!(gaps::requests_for_a_person(&engine, &session), PERSON.len());
}

/// The labelled paraphrases of `../shared/data` (relative to the repository, as `make
/// quality` reads them): per set, the answerable queries and the entry each one means.
fn labelled_sets(wanted: &[&str]) -> Option<Vec<LabelledSet>> {
    let data = root().join("../shared/data");
    if !data.join("README.md").exists() {
        eprintln!(
            "skipped: no evaluation data at {} (see its README)",
            data.display()
        );
        return None;
    }
    let mut sets = Vec::new();
    for (name, folder, lang) in [
        ("cnil_faq", "cnil_faq", Some("fr")),
        ("covid_en", "deepset_covid_faq", Some("en")),
        ("covid_de", "deepset_covid_faq", Some("de")),
        ("hint3", "hint3", None),
    ]
    .into_iter()
    .filter(|(name, ..)| wanted.contains(name))
    {
        let dir = data.join(folder);
        let set = EvalSet::read(
            &dir.join("entries.jsonl"),
            &dir.join("queries.dev.jsonl"),
            lang,
        )
        .unwrap();
        // hint3 is three bots: their labels are bot/intent, distinct across bots, and a
        // group mixing bots is as wrong as one mixing intents.
        let queries = set
            .queries
            .into_iter()
            .filter_map(|q| q.entry_id.map(|id| (q.query, id)))
            .collect();
        // The knowledge base's phrasings, which gap mining centres questions on.
        let phrasings = set
            .entries
            .into_iter()
            .flat_map(|e| std::iter::once(e.question).chain(e.variants))
            .take(REFERENCE)
            .collect();
        sets.push(LabelledSet {
            name: name.to_string(),
            queries,
            phrasings,
        });
    }
    Some(sets)
}

/// Phrasings a set's mean is taken over: the mean of a few hundred is as good as of all,
/// and each costs an embedding.
const REFERENCE: usize = 400;

struct LabelledSet {
    name: String,
    /// Query and the entry it means.
    queries: Vec<(String, String)>,
    phrasings: Vec<String>,
}

/// Each set's queries as gap mining sees them (centred on the set's own phrasings), with
/// their labels.
fn embedded(sets: Vec<LabelledSet>) -> Vec<(String, Vec<Embedding>, Vec<String>)> {
    let engine = engine();
    let embed = |t: &String| engine.embedder().embed(t, TextKind::Query).unwrap();
    sets.into_iter()
        .map(|set| {
            let vectors: Vec<Embedding> = set.queries.iter().map(|(q, _)| embed(q)).collect();
            let reference: Vec<Embedding> = set.phrasings.iter().map(embed).collect();
            let vectors = centred(&vectors, &mean(reference.iter()).unwrap());
            let labels = set.queries.into_iter().map(|(_, l)| l).collect();
            (set.name, vectors, labels)
        })
        .collect()
}

fn show(name: &str, linkage: Linkage, threshold: f32, s: &ClusterScores) {
    println!(
        "{name:9} {linkage:?} {threshold:.2}: {} items {} labels {} groups, purity {:.3}, inverse purity {:.3}, pairs P {:.3} R {:.3} F1 {:.3}",
        s.items,
        s.labels,
        s.groups,
        s.purity,
        s.inverse_purity,
        s.pair_precision,
        s.pair_recall,
        s.pair_f1
    );
}

/// The sweep the threshold was chosen on: `cargo test --test api gaps_purity_sweep --
/// --ignored --nocapture`.
#[test]
#[ignore = "a measurement to read, not a check: prints purity by linkage and threshold"]
fn gaps_purity_sweep() {
    let Some(sets) = labelled_sets(&["cnil_faq", "covid_en", "covid_de", "hint3"]) else {
        return;
    };
    let sets = embedded(sets);
    for linkage in [Linkage::Average, Linkage::Complete] {
        for t in (20..=50).step_by(5) {
            let threshold = t as f32 / 100.0;
            for (name, vectors, labels) in &sets {
                let s = cluster_scores(&cluster_with(vectors, threshold, linkage), labels);
                show(name, linkage, threshold, &s);
            }
        }
    }
}

/// Groups hold questions that mean the same thing: clustering the labelled paraphrases of
/// the FAQ sets (each query labelled with the entry it means) as gap mining does, most of
/// each group shares one label, and paraphrases are grouped rather than left alone.
#[test]
fn gaps_groups_are_pure_on_labelled_paraphrases() {
    let Some(sets) = labelled_sets(&["cnil_faq", "covid_en", "covid_de"]) else {
        return;
    };
    for (name, vectors, labels) in embedded(sets) {
        let s = cluster_scores(&gaps::cluster(&vectors, gaps::DEFAULT_THRESHOLD), &labels);
        show(&name, gaps::LINKAGE, gaps::DEFAULT_THRESHOLD, &s);
        assert!(s.purity >= 0.8, "{name}: {s:?}");
        // Not bought with singletons: at least one paraphrase pair in three is grouped.
        assert!(s.pair_recall >= 0.33, "{name}: {s:?}");
        assert!(s.pair_f1 >= 0.4, "{name}: {s:?}");
    }
}

#[tokio::test]
async fn gaps_api_leaves_out_requests_for_a_person_and_says_when_no_service_is_suggested() {
    let app = TestApp::spawn_with(&["--admin-token", TOKEN]).await;
    for (i, q) in PERSON.iter().enumerate() {
        person_turn(
            app.state.store.as_ref(),
            &format!("p{i}"),
            q,
            Outcome::Handoff,
        );
    }
    person_turn(app.state.store.as_ref(), "r", ROBOT, Outcome::Handoff);
    person_turn(app.state.store.as_ref(), "d", PRIVACY, Outcome::Handoff);
    let r = app
        .client
        .get(app.url("/v1/gaps?days=7"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["questions"], 5, "{out:#}");
    assert_eq!(out["requests_for_a_person"], 3, "{out:#}");
    let found = out["gaps"].as_array().unwrap();
    let sizes: u64 = found.iter().map(|g| g["size"].as_u64().unwrap()).sum();
    assert_eq!(sizes, 2, "{out:#}");
    for g in found {
        // Handed off, nothing close: no service can be suggested, and JSON says so.
        assert_eq!(g["service"], Value::Null, "{out:#}");
        assert_eq!(g["evidence"]["agree"], 0, "{out:#}");
        assert!(g["closest"]["id"].is_string(), "{out:#}");
    }
}

/// `guichet coverage FILE`: a hand-off expected for a question an entry now answers is an
/// expectation to update, in the summary line, the CSV and the HTML, apart from a wrong
/// answer.
#[test]
fn probe_the_cli_reports_an_expectation_to_update_apart_from_wrong_answers() {
    let dir = tempfile::tempdir().unwrap();
    let probes = dir.path().join("probes.csv");
    let school = "comment inscrire mon fils à l'école ?";
    std::fs::write(
        &probes,
        format!("question,expect\n\"{school}\",handoff\n\"{school}\",cantine-tarifs\n"),
    )
    .unwrap();
    let (csv, html) = (dir.path().join("out.csv"), dir.path().join("out.html"));
    let root = root();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("coverage")
        .arg(&probes)
        .arg("--csv")
        .arg(&csv)
        .arg("--html")
        .arg(&html)
        .arg("--corpus")
        .arg(root.join("corpus"))
        .arg("--models")
        .arg(root.join("models"))
        .arg("--cache")
        .arg(root.join("target/test-cache"))
        .arg("--policy")
        .arg(root.join("calibration/policy.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "0/2 expectations met (0.0 %), 1 wrong answer(s), 1 expectation(s) to update"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("expectation to update"), "{stdout}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let verdicts: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[10].to_string())
        .collect();
    assert_eq!(verdicts, ["expectation_to_update", "wrong_answer"], "{csv}");
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(html.contains("<b>1</b>attendus à mettre à jour"), "{html}");
    assert!(html.contains("<b>1</b>mauvaises réponses"), "{html}");
    assert!(
        html.contains("Mettre à jour l'attendu (handoff → inscription-scolaire)"),
        "{html}"
    );
}
