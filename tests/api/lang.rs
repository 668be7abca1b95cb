//! Residents' languages: the assistant's own sentences in the language people write in,
//! else in English and French.

use guichet::channels::format::Markup;
use guichet::channels::{Style, compose};
use guichet::engine::{AskContext, Engine};
use guichet::privacy::Redacted;
use serde_json::Value;

use crate::helpers::{TestApp, engine};

/// The validated sentence for `reason` in `lang`, from the demo corpus itself.
fn sentence(engine: &Engine, lang: &str, reason: &str) -> String {
    let (got, set) = engine.corpus().messages().get(lang);
    assert_eq!(got, lang, "the demo messages speak {lang}");
    match reason {
        "requested" => set.handoff_requested.clone(),
        "low_confidence" => set.handoff_low_confidence.clone(),
        "empty" => set.handoff_empty.clone(),
        "ticket_open" => set.handoff_ticket_open.clone(),
        other => panic!("unknown reason {other}"),
    }
}

#[tokio::test]
async fn lang_a_request_for_a_person_gets_the_handoff_sentence_in_the_persons_language() {
    let app = TestApp::spawn().await;
    let engine = engine();
    for (lang, question) in [
        ("ar", "أريد التحدث مع شخص من فضلك"),
        ("de", "Ich möchte mit einem Menschen sprechen"),
        ("tr", "Bir insanla konuşmak istiyorum"),
        ("es", "Quiero hablar con una persona, por favor"),
        ("pt", "Quero falar com uma pessoa"),
        ("uk", "Я хочу поговорити з людиною"),
        ("en", "I would like to speak to a person"),
    ] {
        let (status, body) = app.chat(question).await;
        assert_eq!(status, 200, "{question}: {body}");
        assert_eq!(body["outcome"], "handoff", "{question}: {body}");
        assert_eq!(body["handoff"]["reason"], "requested", "{question}: {body}");
        assert_eq!(body["lang"], lang, "{question}: {body}");
        assert_eq!(
            body["handoff"]["message"],
            sentence(&engine, lang, "requested").as_str(),
            "{question}"
        );
        assert!(body["handoff"].get("also").is_none(), "{question}: {body}");
    }
}

#[tokio::test]
async fn lang_a_question_in_a_language_the_messages_lack_gets_english_then_french() {
    let app = TestApp::spawn().await;
    let engine = engine();
    let question = "Dove posso parcheggiare la mia barca a vela per tutto l'inverno?";
    let (status, body) = app.chat(question).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "handoff", "{body}");
    assert_eq!(body["lang"], "en", "{body}");
    let reason = body["handoff"]["reason"].as_str().unwrap().to_string();
    assert_eq!(
        body["handoff"]["message"],
        sentence(&engine, "en", &reason).as_str()
    );
    let also: &Vec<Value> = body["handoff"]["also"].as_array().expect("also");
    assert_eq!(also.len(), 1, "{body}");
    assert_eq!(also[0]["lang"], "fr");
    assert_eq!(
        also[0]["message"],
        sentence(&engine, "fr", &reason).as_str()
    );
}

#[test]
fn lang_the_channels_send_the_english_then_the_french_sentence() {
    let engine = engine();
    let question = Redacted::new("Vorrei parlare con una persona del comune, per favore");
    let asked = engine.ask(&question, &AskContext::now()).unwrap();
    assert_eq!(asked.reply.lang, "en");
    let h = asked.reply.handoff.as_ref().expect("a hand-off");
    let reason = serde_json::to_value(h.reason).unwrap();
    let (en, fr) = (
        sentence(&engine, "en", reason.as_str().unwrap()),
        sentence(&engine, "fr", reason.as_str().unwrap()),
    );
    let style = Style {
        markup: Markup::Plain,
        limit: usize::MAX,
        numbered: false,
    };
    let text: String = compose(&engine, &asked.reply, None, style)
        .into_iter()
        .map(|m| m.text)
        .collect();
    let (at_en, at_fr) = (
        text.find(&en).expect("english"),
        text.find(&fr).expect("french"),
    );
    assert!(at_en < at_fr, "{text}");
    assert!(
        text[at_fr..].contains(&h.contacts.name),
        "contacts follow: {text}"
    );
}
