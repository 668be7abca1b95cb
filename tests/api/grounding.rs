//! Strict grounding on the demo corpus with the real model: every entry is found by its
//! own phrasings, every answer served is its file's body byte for byte, and questions
//! from elsewhere are handed off.

use std::path::Path;

use guichet::corpus::sha256_hex;
use guichet::engine::AskContext;
use guichet::privacy::Redacted;
use guichet::reply::{HandoffReason, Outcome};

use crate::helpers::engine;

/// The body of an entry file, cut independently of the code under test: everything after
/// the second `+++` line, trimmed.
fn body_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.starts_with("+++\n"));
    text.split_once("\n+++\n")
        .expect("a body after the front matter")
        .1
        .trim()
        .to_string()
}

#[test]
fn every_question_and_alternate_retrieves_its_own_entry_first() {
    let engine = engine();
    let mut misses = Vec::new();
    let mut total = 0;
    for (i, entry) in engine.corpus().entries().iter().enumerate() {
        let phrasings = std::iter::once(&entry.question).chain(&entry.alternates);
        for p in phrasings {
            total += 1;
            let top = engine.retrieve(p).unwrap().first().map(|c| c.entry);
            if top != Some(i) {
                let got = top.map(|t| engine.corpus().entry(t).id.to_string());
                misses.push(format!("{p:?} -> {got:?}, expected {}", entry.id));
            }
        }
    }
    assert!(
        total > 300,
        "the demo corpus should have hundreds of phrasings, has {total}"
    );
    assert!(
        misses.is_empty(),
        "{} of {total} phrasings find another entry first:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

#[test]
fn every_answer_served_is_the_file_body_byte_for_byte_with_a_matching_hash() {
    let engine = engine();
    let mut answered = 0;
    for entry in engine.corpus().entries() {
        let asked = engine
            .ask(&Redacted::new(&entry.question), &AskContext::now())
            .unwrap();
        if asked.reply.outcome != Outcome::Answer {
            continue;
        }
        answered += 1;
        let served = asked.reply.entry.expect("an answer carries its entry");
        assert_eq!(served.id, entry.id.as_str(), "asking {:?}", entry.question);
        let body = body_of(&entry.source);
        assert_eq!(served.answer, body, "{} is not served verbatim", entry.id);
        assert_eq!(served.answer_sha256, sha256_hex(&body));
        assert_eq!(
            served.answer_sha256, entry.answer_sha256,
            "{}: the hash served is the recorded one",
            entry.id
        );
    }
    // Asking an entry's own validated question must answer it for nearly all entries.
    let n = engine.corpus().entries().len();
    assert!(
        answered * 10 >= n * 9,
        "only {answered} of {n} exact questions were answered"
    );
}

#[test]
fn questions_from_another_domain_are_handed_off_to_the_default_service() {
    let engine = engine();
    for q in [
        "Quelle est la capitale de l'Australie ?",
        "Donne-moi une recette de pâte à crêpes",
        "Qui a gagné la coupe du monde de football en 1998 ?",
        "Comment installer Python sur mon ordinateur ?",
    ] {
        let asked = engine.ask(&Redacted::new(q), &AskContext::now()).unwrap();
        assert_eq!(
            asked.reply.outcome,
            Outcome::Handoff,
            "{q:?} got {:?} (trace {:?})",
            asked.reply,
            asked.trace
        );
        let h = asked.reply.handoff.unwrap();
        assert_eq!(h.reason, HandoffReason::LowConfidence);
        assert!(
            h.contacts.phone.is_some(),
            "a hand-off gives a phone number"
        );
    }
}

#[test]
fn asking_for_a_person_hands_off_even_when_a_topic_is_recognised() {
    let engine = engine();
    let asked = engine
        .ask(
            &Redacted::new(
                "Je veux parler à quelqu'un pour le renouvellement de ma carte d'identité",
            ),
            &AskContext::now(),
        )
        .unwrap();
    let h = asked.reply.handoff.expect("a hand-off");
    assert_eq!(h.reason, HandoffReason::Requested);
    assert_eq!(
        h.contacts.service, "titres",
        "routed to the service of the topic"
    );
    let plain = engine
        .ask(
            &Redacted::new("je veux parler à quelqu'un"),
            &AskContext::now(),
        )
        .unwrap();
    assert_eq!(
        plain.reply.handoff.unwrap().reason,
        HandoffReason::Requested
    );
}

#[test]
fn an_english_question_gets_the_validated_english_translation() {
    let engine = engine();
    let entry = engine
        .corpus()
        .entries()
        .iter()
        .find(|e| e.translations.contains_key("en"))
        .expect("the demo corpus has English translations");
    let en = &entry.translations["en"];
    let asked = engine
        .ask(&Redacted::new(&en.question), &AskContext::now())
        .unwrap();
    assert_eq!(asked.reply.outcome, Outcome::Answer, "{:?}", asked.trace);
    assert_eq!(asked.reply.lang, "en");
    let served = asked.reply.entry.unwrap();
    assert_eq!(served.id, entry.id.as_str());
    assert_eq!(served.answer, en.answer);
    assert_eq!(served.answer_sha256, sha256_hex(&en.answer));
}
