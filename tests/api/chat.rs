//! `POST /v1/chat` and the health routes, over HTTP: the reply contract, errors with
//! stable codes, and the three outcomes.

use serde_json::{Value, json};

use crate::helpers::TestApp;

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_reworded_question_gets_the_validated_answer_verbatim() {
    let app = TestApp::spawn().await;
    let (status, body) = app.chat("comment inscrire mon fils à l'école ?").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "answer", "{body}");
    assert_eq!(body["entry"]["id"], "inscription-scolaire");
    let engine = crate::helpers::engine();
    let entry = engine
        .corpus()
        .entry(engine.corpus().index_of("inscription-scolaire").unwrap());
    let phrasings: Vec<&String> = std::iter::once(&entry.question)
        .chain(&entry.alternates)
        .collect();
    assert!(
        !phrasings
            .iter()
            .any(|p| p.as_str() == "comment inscrire mon fils à l'école ?"),
        "the question is reworded, not a stored phrasing"
    );
    assert_eq!(body["entry"]["answer"], entry.answer.as_str());
    assert_eq!(body["entry"]["answer_sha256"], entry.answer_sha256.as_str());
    assert_eq!(body["corpus_version"], engine.corpus().version());
}

#[tokio::test]
async fn the_reply_shape_of_each_outcome_is_stable() {
    let app = TestApp::spawn().await;
    let (_, answer) = app.chat("Comment renouveler ma carte d'identité ?").await;
    let (_, handoff) = app.chat("je veux parler à un conseiller").await;
    let (_, clarify) = app.chat("inscription cantine tarif").await;
    let settings = {
        let mut s = insta::Settings::clone_current();
        s.add_redaction(".corpus_version", "[version]");
        s.add_redaction(".handoff.contacts.open_now", "[bool]");
        s
    };
    settings.bind(|| {
        insta::assert_json_snapshot!("answer_reply", answer);
        insta::assert_json_snapshot!("handoff_reply", handoff);
        insta::assert_json_snapshot!("clarify_reply", clarify);
    });
}

#[tokio::test]
async fn a_lone_did_you_mean_option_shows_the_opening_of_its_validated_answer() {
    let app = TestApp::spawn().await;
    let (_, one) = app.chat("quand passe le camion poubelle ?").await;
    assert_eq!(one["outcome"], "clarify", "{one}");
    let options = one["options"].as_array().unwrap();
    assert_eq!(options.len(), 1, "{one}");
    let id = options[0]["id"].as_str().unwrap();
    let excerpt = options[0]["excerpt"].as_str().unwrap();
    let answer = crate::channels::validated(id);
    assert!(
        excerpt.len() >= 20 && answer.starts_with(excerpt),
        "the excerpt is the opening of the validated answer, word for word: {excerpt:?}"
    );
    // Several options: the questions alone, as before.
    let (_, several) = app.chat("inscription cantine tarif").await;
    let options = several["options"].as_array().unwrap();
    assert!(options.len() > 1);
    assert!(options.iter().all(|o| o.get("excerpt").is_none()));
}

#[tokio::test]
async fn an_empty_or_blank_message_is_refused_with_422() {
    let app = TestApp::spawn().await;
    for message in ["", "   \n\t"] {
        let (status, body) = app.chat(message).await;
        assert_eq!(status, 422);
        assert_eq!(code(&body), "empty_message");
    }
}

#[tokio::test]
async fn a_message_over_1000_characters_is_refused_and_1000_is_accepted() {
    let app = TestApp::spawn().await;
    let (status, body) = app.chat(&"é".repeat(1001)).await;
    assert_eq!((status, code(&body)), (422, "message_too_long"));
    let (status, _) = app.chat(&"a".repeat(1000)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn malformed_json_gets_400_and_a_wrong_shape_gets_422_in_the_same_error_format() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(app.url("/v1/chat"))
        .header("content-type", "application/json")
        .body("{\"message\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "malformed_json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );

    let r = app
        .post_json("/v1/chat", &json!({ "text": "bonjour" }))
        .await;
    assert_eq!(r.status().as_u16(), 422);
    assert_eq!(code(&r.json().await.unwrap()), "invalid_request");

    let r = app
        .client
        .post(app.url("/v1/chat"))
        .body("{\"message\":\"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    assert_eq!(code(&r.json().await.unwrap()), "unsupported_media_type");
}

#[tokio::test]
async fn an_unknown_route_answers_404_in_the_error_format() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(code(&r.json().await.unwrap()), "not_found");
}

#[tokio::test]
async fn health_is_up_at_once_and_ready_only_with_the_engine() {
    let loading = TestApp::spawn_not_ready().await;
    let r = loading
        .client
        .get(loading.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = loading
        .client
        .get(loading.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let (status, body) = loading.chat("bonjour").await;
    assert_eq!((status, code(&body)), (503, "not_ready"));

    let ready = TestApp::spawn().await;
    let r = ready.client.get(ready.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["entries"],
        crate::helpers::engine().corpus().entries().len()
    );
}

#[tokio::test]
async fn when_every_slot_is_taken_a_question_gets_a_fast_503_busy() {
    let app = TestApp::spawn_with(&["--max-inflight", "1"]).await;
    // Eight long questions at once against one slot: the first is computed, the others
    // must be refused at once rather than queued.
    let long = "Comment renouveler ma carte d'identité quand elle est périmée ? ".repeat(15);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, url, message) = (app.client.clone(), app.url("/v1/chat"), long.clone());
        set.spawn(async move {
            let r = client
                .post(url)
                .json(&json!({ "message": message }))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (status, retry, r.json::<Value>().await.unwrap())
        });
    }
    let results = set.join_all().await;
    let ok = results.iter().filter(|(s, ..)| *s == 200).count();
    let busy: Vec<_> = results.iter().filter(|(s, ..)| *s == 503).collect();
    assert!(ok >= 1, "at least one question is answered");
    assert!(
        !busy.is_empty(),
        "with one slot, concurrent questions are refused, not queued"
    );
    for (_, retry, body) in busy {
        assert_eq!(code(body), "busy");
        assert_eq!(retry.as_deref(), Some("1"));
    }
    assert_eq!(ok + results.iter().filter(|(s, ..)| *s == 503).count(), 8);
}

#[test]
fn a_question_redacted_once_or_twice_gets_the_same_reply() {
    let engine = crate::helpers::engine();
    let ctx = guichet::engine::AskContext::now();
    let raw = "je suis jeanne.dupont@example.org, tél 06 12 34 56 78 : comment inscrire mon fils à l'école ?";
    let redacted = guichet::privacy::Redacted::new(raw);
    assert_ne!(redacted.as_str(), raw, "the redaction changed the text");
    // A channel that stored the text redacted and asks again redacts it a second time.
    let once = engine.ask(&redacted, &ctx).unwrap();
    let twice = engine
        .ask(&guichet::privacy::Redacted::new(redacted.as_str()), &ctx)
        .unwrap();
    assert_eq!(once.reply, twice.reply);
    assert_eq!(once.trace.confidence, twice.trace.confidence);
}
