//! The web chat's conversation store: greeting on the first reply, turns stored redacted,
//! feedback, and the retention purge.

use chrono::{Duration, Utc};
use guichet::store::{Author, Channel};
use serde_json::{Value, json};

use crate::channels::{HOURS_Q, greeting, validated};
use crate::helpers::{TestApp, engine};

const SESSION: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

async fn chat(app: &TestApp, message: &str, session: &str) -> Value {
    let r = app
        .post_json(
            "/v1/chat",
            &json!({ "message": message, "session_id": session }),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

/// Texts stored for a web session, oldest first.
fn stored(app: &TestApp, session: &str) -> Vec<String> {
    let s = &app.state.store;
    let c = s
        .find_conversation(Channel::Web, &s.pseudonym(Channel::Web, session))
        .unwrap()
        .expect("conversation stored");
    s.turns_after(c.id, Some(Author::Person), 0)
        .unwrap()
        .into_iter()
        .map(|t| t.text)
        .collect()
}

#[tokio::test]
async fn the_first_reply_of_a_web_conversation_carries_the_greeting_and_only_the_first() {
    let app = TestApp::spawn().await;
    let first = chat(&app, HOURS_Q, SESSION).await;
    assert_eq!(first["greeting"], greeting());
    assert_eq!(first["outcome"], "answer");
    assert_eq!(first["entry"]["answer"], validated("horaires-mairie"));
    let second = chat(&app, HOURS_Q, SESSION).await;
    assert!(second.get("greeting").is_none());
    assert_eq!(second["entry"]["answer"], validated("horaires-mairie"));
    let other = chat(&app, HOURS_Q, "ffffffffffffffffffffffffffffffff").await;
    assert_eq!(
        other["greeting"],
        greeting(),
        "another conversation is greeted"
    );
}

#[tokio::test]
async fn a_session_id_must_be_long_and_plain() {
    let app = TestApp::spawn().await;
    for bad in [
        "short",
        "a1b2c3d4e5f60718293a4b5c6d7e8f9 ",
        "../../../../etc/passwd/xx",
    ] {
        let r = app
            .post_json(
                "/v1/chat",
                &json!({ "message": HOURS_Q, "session_id": bad }),
            )
            .await;
        assert_eq!(r.status().as_u16(), 422, "{bad:?}");
    }
}

#[tokio::test]
async fn web_turns_are_stored_with_outcome_and_entry_and_personal_data_redacted() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            "mon mail est jean.dupont@exemple.fr",
            "mon mail est [email]",
        ),
        ("appelez le 06 12 34 56 78", "appelez le [téléphone]"),
        ("ou le +44 20 7946 0958", "ou le [téléphone]"),
        ("sécu 1 85 05 78 006 084 91", "sécu [NIR]"),
        ("sécu corse 1 84 01 2A 001 002 58", "sécu corse [NIR]"),
        // A wrong key is still a social-security number: redacted, labelled unchecked.
        ("sécu fausse 1 85 05 78 006 084 92", "sécu fausse [NIR ?]"),
        ("iban FR76 3000 6000 0112 3456 7890 189", "iban [IBAN]"),
        (
            "iban faux FR76 3000 6000 0112 3456 7890 188",
            "iban faux FR76 3000 6000 0112 3456 7890 188",
        ),
        ("carte 4111 1111 1111 1111", "carte [carte]"),
        (
            "référence 4111 1111 1111 1112",
            "référence 4111 1111 1111 1112",
        ),
    ];
    for (said, _) in &cases {
        chat(&app, said, SESSION).await;
    }
    let texts = stored(&app, SESSION);
    let expected: Vec<&str> = cases.iter().map(|(_, e)| *e).collect();
    assert_eq!(texts, expected);

    // The first turn has the assistant's decision with it.
    let s = &app.state.store;
    let c = s
        .find_conversation(Channel::Web, &s.pseudonym(Channel::Web, SESSION))
        .unwrap()
        .unwrap();
    let session2 = "00000000000000000000000000000002";
    chat(&app, HOURS_Q, session2).await;
    let c2 = s
        .find_conversation(Channel::Web, &s.pseudonym(Channel::Web, session2))
        .unwrap()
        .unwrap();
    let turn = &s.turns_after(c2.id, None, 0).unwrap()[0];
    assert_eq!(turn.outcome, Some(guichet::reply::Outcome::Answer));
    assert_eq!(turn.entry_id.as_deref(), Some("horaires-mairie"));
    assert_ne!(c.id, c2.id);
}

#[tokio::test]
async fn feedback_is_stored_for_a_validated_text_and_refused_otherwise() {
    let app = TestApp::spawn().await;
    let e = engine();
    let entry = e
        .corpus()
        .entry(e.corpus().index_of("horaires-mairie").unwrap());
    let ok = app
        .post_json(
            "/v1/feedback",
            &json!({ "entry_id": "horaires-mairie", "answer_sha256": entry.answer_sha256, "helpful": true, "session_id": SESSION }),
        )
        .await;
    assert_eq!(ok.status().as_u16(), 204);
    let translated = &entry.translations["en"].sha256;
    let ok = app
        .post_json("/v1/feedback", &json!({ "entry_id": "horaires-mairie", "answer_sha256": translated, "helpful": false }))
        .await;
    assert_eq!(ok.status().as_u16(), 204);
    for bad in [
        json!({ "entry_id": "no-such-entry", "answer_sha256": entry.answer_sha256, "helpful": true }),
        json!({ "entry_id": "horaires-mairie", "answer_sha256": "0".repeat(64), "helpful": true }),
    ] {
        let r = app.post_json("/v1/feedback", &bad).await;
        assert_eq!(r.status().as_u16(), 422);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unknown_entry");
    }
    let r = app
        .post_json(
            "/v1/feedback",
            &json!({ "entry_id": "horaires-mairie", "helpful": true }),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
}

#[tokio::test]
async fn expired_turns_and_tickets_are_purged_and_counts_stay() {
    let app = TestApp::spawn().await;
    chat(&app, HOURS_Q, SESSION).await;
    chat(
        &app,
        "je veux parler à quelqu'un",
        "0000000000000000000000000000dead",
    )
    .await;
    let store = &app.state.store;
    assert_eq!(store.tickets(None).unwrap().len(), 1);

    // Nothing is 30 days old yet.
    let nothing = guichet::http::purge_expired(store.as_ref(), 30, Utc::now()).unwrap();
    assert_eq!((nothing.turns, nothing.tickets), (0, 0));
    assert_eq!(stored(&app, SESSION).len(), 1);

    let later = Utc::now() + Duration::days(31);
    let purged = guichet::http::purge_expired(store.as_ref(), 30, later).unwrap();
    assert_eq!(
        (purged.turns, purged.tickets, purged.conversations),
        (2, 1, 2)
    );
    assert!(store.tickets(None).unwrap().is_empty());
    assert!(
        store
            .find_conversation(Channel::Web, &store.pseudonym(Channel::Web, SESSION))
            .unwrap()
            .is_none()
    );
    let counts = store.daily_counts().unwrap();
    let total = |kind: &str| {
        counts
            .iter()
            .filter(|c| c.2 == kind)
            .map(|c| c.3)
            .sum::<u64>()
    };
    assert_eq!(
        (total("answer"), total("handoff"), total("ticket")),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn a_picked_option_serves_that_entry_and_resolves_the_clarification_for_gap_mining() {
    let app = TestApp::spawn().await;
    let session = "0123456789abcdef0123456789abcdef";
    let clarify = chat(&app, "inscription cantine tarif", session).await;
    assert_eq!(clarify["outcome"], "clarify", "{clarify}");
    let option = &clarify["options"][1];
    let id = option["id"].as_str().unwrap();
    let picked = app
        .post_json(
            "/v1/chat",
            &json!({ "message": option["question"], "session_id": session, "choice": id }),
        )
        .await;
    assert_eq!(picked.status().as_u16(), 200);
    let picked: Value = picked.json().await.unwrap();
    assert_eq!(picked["outcome"], "answer");
    assert_eq!(
        picked["entry"]["id"], id,
        "the picked entry, not a new search"
    );
    assert_eq!(picked["entry"]["answer"], validated(id));
    assert_eq!(
        stored(&app, session)[1],
        id,
        "the entry picked, as an option turn"
    );
    let picked = {
        let s = &app.state.store;
        let c = s
            .find_conversation(Channel::Web, &s.pseudonym(Channel::Web, session))
            .unwrap()
            .unwrap();
        s.turns_after(c.id, Some(Author::Person), 0).unwrap()[1].kind
    };
    assert_eq!(picked, guichet::store::TurnKind::Option);
    // The clarification was resolved: it is not a gap. A clarification left alone is.
    chat(&app, "piscine", "fedcba9876543210fedcba9876543210").await;
    let gaps: Vec<String> = app
        .state
        .store
        .unanswered_since(Utc::now() - Duration::hours(1), 100)
        .unwrap()
        .into_iter()
        .map(|t| t.text)
        .collect();
    assert_eq!(gaps, vec!["piscine"]);

    // Without a session, a picked option is served the same way (nothing stored).
    let r = app
        .post_json(
            "/v1/chat",
            &json!({ "message": "Combien coûte la cantine ?", "choice": "cantine-tarifs" }),
        )
        .await;
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["entry"]["id"], "cantine-tarifs");
    // An id that names no served entry is ignored: the message is asked.
    let r = app
        .post_json(
            "/v1/chat",
            &json!({ "message": HOURS_Q, "choice": "no-such-entry" }),
        )
        .await;
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["entry"]["id"], "horaires-mairie");
}
