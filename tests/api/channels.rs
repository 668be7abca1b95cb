//! Messenger, WhatsApp, Telegram and the generic webhook against platform stubs on
//! loopback: signatures, batches, exactly-once delivery, verbatim and split answers.

use std::sync::Arc;

use chrono::Local;
use guichet::engine::{Engine, EngineOptions};
use guichet::store::{Author, Channel};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, config, copy_dir, engine};
use crate::stub::Stub;

pub const HOURS_Q: &str = "Quels sont les horaires d'ouverture de la mairie ?";
pub const CNI_Q: &str = "Comment renouveler ma carte d'identité ?";

/// The validated answer of an entry, as the corpus holds it.
pub fn validated(id: &str) -> String {
    let e = engine();
    let i = e.corpus().index_of(id).expect("entry exists");
    e.corpus().entry(i).answer.clone()
}

pub fn greeting() -> String {
    engine().corpus().messages().get("fr").1.greeting.clone()
}

/// Meta's signature, computed independently of the code under test.
pub fn meta_sign(secret: &str, body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

pub fn generic_sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(format!("{t}.").as_bytes());
    m.update(body);
    format!("t={t},v1={}", hex::encode(m.finalize().into_bytes()))
}

pub async fn meta_app(stub: &Stub) -> TestApp {
    TestApp::spawn_with(&[
        "--meta-verify-token",
        "verify-me",
        "--meta-app-secret",
        "app-secret",
        "--meta-api-base",
        &stub.base,
        "--messenger-page-token",
        "page-token",
        "--whatsapp-token",
        "wa-token",
    ])
    .await
}

pub fn telegram_flags(stub: &Stub) -> Vec<&str> {
    vec![
        "--telegram-secret",
        "tg-secret",
        "--telegram-bot-token",
        "123:abc",
        "--telegram-api-base",
        &stub.base,
    ]
}

pub async fn telegram_app(stub: &Stub, extra: &[&str]) -> TestApp {
    let mut flags = telegram_flags(stub);
    flags.extend_from_slice(extra);
    TestApp::spawn_with(&flags).await
}

pub async fn post_raw(app: &TestApp, path: &str, body: &[u8], headers: &[(&str, &str)]) -> u16 {
    let mut r = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap().status().as_u16()
}

pub fn messenger_event(messages: &[(&str, &str, &str)]) -> Vec<u8> {
    let messaging: Vec<Value> = messages
        .iter()
        .map(|(psid, mid, text)| {
            json!({
                "sender": { "id": psid }, "recipient": { "id": "PAGE" }, "timestamp": 1,
                "message": { "mid": mid, "text": text }
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "object": "page",
        "entry": [{ "id": "PAGE", "time": 1, "messaging": messaging }]
    }))
    .unwrap()
}

pub fn telegram_update(update_id: i64, chat: i64, text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1, "text": text,
            "chat": { "id": chat, "type": "private" },
            "from": { "id": chat, "is_bot": false, "first_name": "A" }
        }
    }))
    .unwrap()
}

pub async fn post_telegram(app: &TestApp, body: &[u8]) -> u16 {
    post_raw(
        app,
        "/webhooks/telegram",
        body,
        &[("x-telegram-bot-api-secret-token", "tg-secret")],
    )
    .await
}

/// Texts sent to one Messenger recipient, in order.
fn messenger_texts(stub: &Stub, psid: &str) -> Vec<String> {
    stub.at("/me/messages")
        .into_iter()
        .filter(|r| r.body["recipient"]["id"] == psid)
        .map(|r| r.body["message"]["text"].as_str().unwrap().to_string())
        .collect()
}

pub fn telegram_texts(stub: &Stub, chat: i64) -> Vec<String> {
    stub.at("/sendMessage")
        .into_iter()
        .filter(|r| r.body["chat_id"] == chat)
        .map(|r| r.body["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn meta_subscription_check_answers_the_challenge_only_with_the_right_token() {
    let stub = Stub::start().await;
    let app = meta_app(&stub).await;
    for path in ["/webhooks/messenger", "/webhooks/whatsapp"] {
        let ok = app
            .client
            .get(app.url(&format!(
                "{path}?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        assert_eq!(ok.text().await.unwrap(), "1158201444");
        for query in [
            "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
            "hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1",
            "hub.mode=subscribe&hub.challenge=1",
        ] {
            let r = app
                .client
                .get(app.url(&format!("{path}?{query}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 403, "{path}?{query}");
        }
    }
}

#[tokio::test]
async fn channels_without_their_secret_do_not_exist() {
    let app = TestApp::spawn().await;
    let body = messenger_event(&[("p", "m", HOURS_Q)]);
    let sig = meta_sign("x", &body);
    for path in ["/webhooks/messenger", "/webhooks/whatsapp"] {
        assert_eq!(
            post_raw(&app, path, &body, &[("x-hub-signature-256", &sig)]).await,
            404
        );
        let r = app
            .client
            .get(app.url(&format!(
                "{path}?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404);
    }
    assert_eq!(
        post_raw(
            &app,
            "/webhooks/telegram",
            b"{}",
            &[("x-telegram-bot-api-secret-token", "x")]
        )
        .await,
        404
    );
    assert_eq!(post_raw(&app, "/webhooks/generic", b"{}", &[]).await, 404);
}

#[tokio::test]
async fn a_signed_messenger_batch_of_two_messages_gets_two_verbatim_replies() {
    let stub = Stub::start().await;
    let app = meta_app(&stub).await;
    // Two messages, plus what must be ignored: an echo of our own message and a read.
    let body = serde_json::to_vec(&json!({
        "object": "page",
        "entry": [
            { "id": "PAGE", "time": 1, "messaging": [
                { "sender": { "id": "psid-a" }, "recipient": { "id": "PAGE" }, "timestamp": 1,
                  "message": { "mid": "m-a", "text": HOURS_Q } },
                { "sender": { "id": "PAGE" }, "recipient": { "id": "psid-a" }, "timestamp": 1,
                  "message": { "mid": "m-echo", "text": "écho", "is_echo": true } },
                { "sender": { "id": "psid-a" }, "recipient": { "id": "PAGE" }, "timestamp": 1,
                  "read": { "watermark": 1 } }
            ]},
            { "id": "PAGE", "time": 1, "messaging": [
                { "sender": { "id": "psid-b" }, "recipient": { "id": "PAGE" }, "timestamp": 1,
                  "message": { "mid": "m-b", "text": CNI_Q } }
            ]}
        ]
    }))
    .unwrap();
    let status = post_raw(
        &app,
        "/webhooks/messenger",
        &body,
        &[("x-hub-signature-256", &meta_sign("app-secret", &body))],
    )
    .await;
    assert_eq!(status, 200);
    let sent = stub.wait_for("/me/messages", 4).await;
    assert_eq!(
        sent.len(),
        4,
        "a greeting and an answer for each person, nothing for the echo or the read"
    );
    assert!(
        sent.iter()
            .all(|r| r.header("authorization").as_deref() == Some("Bearer page-token"))
    );
    assert!(sent.iter().all(|r| r.body["messaging_type"] == "RESPONSE"));
    assert_eq!(
        messenger_texts(&stub, "psid-a"),
        vec![greeting(), validated("horaires-mairie")]
    );
    let b = messenger_texts(&stub, "psid-b");
    assert_eq!(b[0], greeting());
    assert_eq!(
        b[1..].concat(),
        guichet::channels::format::render(
            &validated("cni-renouvellement"),
            guichet::channels::format::Markup::Plain
        )
    );
}

#[tokio::test]
async fn a_changed_missing_malformed_or_wrongly_keyed_signature_is_refused_and_nothing_is_sent() {
    let stub = Stub::start().await;
    let app = meta_app(&stub).await;
    let body = messenger_event(&[("psid-x", "m-x", HOURS_Q)]);
    let good = meta_sign("app-secret", &body);
    let mut changed = body.clone();
    let i = changed.iter().position(|&b| b == b'?').unwrap();
    changed[i] = b'!';
    let wrong_secret = meta_sign("another-secret", &body);
    let cases: Vec<(&str, &[u8], Option<&str>)> = vec![
        ("one byte changed", &changed, Some(&good)),
        ("missing header", &body, None),
        ("not sha256=", &body, Some("sha1=abcdef")),
        ("not hex", &body, Some("sha256=not-hex")),
        ("wrong secret", &body, Some(&wrong_secret)),
    ];
    for (what, b, sig) in cases {
        for path in ["/webhooks/messenger", "/webhooks/whatsapp"] {
            let headers: Vec<(&str, &str)> = sig
                .map(|s| ("x-hub-signature-256", s))
                .into_iter()
                .collect();
            assert_eq!(
                post_raw(&app, path, b, &headers).await,
                401,
                "{what} on {path}"
            );
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        stub.received().is_empty(),
        "nothing may be sent for a refused body"
    );
}

#[tokio::test]
async fn the_same_whatsapp_message_delivered_three_times_gets_one_reply() {
    let stub = Stub::start().await;
    let app = meta_app(&stub).await;
    let body = serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "33199000000", "phone_number_id": "PNID" },
            "contacts": [{ "profile": { "name": "A" }, "wa_id": "33612345678" }],
            "messages": [{ "from": "33612345678", "id": "wamid.ONE", "timestamp": "1",
                           "type": "text", "text": { "body": HOURS_Q } }],
            "statuses": [{ "id": "wamid.OLD", "status": "delivered", "recipient_id": "33612345678" }]
        }}]}]
    }))
    .unwrap();
    let sig = meta_sign("app-secret", &body);
    let headers = [("x-hub-signature-256", sig.as_str())];
    let (a, b, c) = tokio::join!(
        post_raw(&app, "/webhooks/whatsapp", &body, &headers),
        post_raw(&app, "/webhooks/whatsapp", &body, &headers),
        post_raw(&app, "/webhooks/whatsapp", &body, &headers),
    );
    assert_eq!((a, b, c), (200, 200, 200), "each retry is acknowledged");
    let sent = stub.wait_for("/PNID/messages", 2).await;
    let texts: Vec<&str> = sent
        .iter()
        .map(|r| r.body["text"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        vec![greeting().as_str(), validated("horaires-mairie").as_str()]
    );
    assert!(
        sent.iter()
            .all(|r| r.body["to"] == "33612345678" && r.body["messaging_product"] == "whatsapp")
    );
    assert!(
        sent.iter()
            .all(|r| r.header("authorization").as_deref() == Some("Bearer wa-token"))
    );
}

#[tokio::test]
async fn a_failed_send_is_retried_until_the_platform_takes_it() {
    let stub = Stub::start().await;
    let app = telegram_app(&stub, &[]).await;
    stub.fail_next(2);
    assert_eq!(
        post_telegram(&app, &telegram_update(70, 700, HOURS_Q)).await,
        200
    );
    stub.wait_for("/sendMessage", 4).await;
    // Two failed attempts at the greeting, then the greeting and the answer.
    assert_eq!(
        telegram_texts(&stub, 700)[2..],
        [greeting(), validated("horaires-mairie")]
    );
}

fn long_corpus() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = crate::helpers::root().join("corpus");
    copy_dir(&root, dir.path());
    let body = (1..=14)
        .map(|i| {
            format!(
                "Article {i}. Les commerçants du marché forain de la place des Tilleuls installent leur étal entre 6 h et 8 h, \
                 dans l'emplacement attribué par le placier municipal. Chaque emplacement est nettoyé par son titulaire avant 13 h 30, \
                 et les invendus sont emportés ; les cartons sont pliés et déposés dans la benne prévue à cet effet. \
                 Le placier peut retirer l'autorisation en cas de manquement répété."
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    let sha = hex::encode(Sha256::digest(body.as_bytes()));
    let entry = format!(
        "+++\nid = \"reglement-marche-forain\"\nquestion = \"Quel est le règlement du marché forain pour les commerçants ?\"\n\
         alternates = [\"règlement du marché forain\", \"règles pour les commerçants du marché\", \"placier marché forain\"]\n\
         service = \"accueil\"\nstatus = \"validated\"\nvalidated_by = \"Accueil de la mairie\"\nvalidated_on = \"2026-06-01\"\n\
         review_by = \"2099-06-01\"\nanswer_sha256 = \"{sha}\"\nlang = \"fr\"\ntags = [\"marché\"]\n+++\n{body}\n"
    );
    std::fs::write(
        dir.path()
            .join("entries/accueil/reglement-marche-forain.md"),
        entry,
    )
    .unwrap();
    (dir, body)
}

#[tokio::test]
async fn a_long_answer_is_split_into_pieces_that_join_back_to_the_exact_text() {
    let (dir, long) = long_corpus();
    assert!(long.chars().count() > 4096);
    let (corpus, _) = guichet::corpus::load(dir.path(), Local::now().date_naive()).unwrap();
    let options = EngineOptions {
        cache_dir: Some(config(&[]).cache),
        policy: engine().policy().clone(),
        ..EngineOptions::default()
    };
    let long_engine =
        Arc::new(Engine::build(corpus, engine().embedder().clone(), options).unwrap());
    let stub = Stub::start().await;
    let base = stub.base.clone();
    let app = TestApp::spawn_with_engine(
        long_engine,
        &[
            "--telegram-secret",
            "tg-secret",
            "--telegram-bot-token",
            "1:x",
            "--telegram-api-base",
            &base,
            "--meta-app-secret",
            "app-secret",
            "--meta-api-base",
            &base,
            "--messenger-page-token",
            "pt",
        ],
    )
    .await;
    let q = "Quel est le règlement du marché forain pour les commerçants ?";
    assert_eq!(post_telegram(&app, &telegram_update(1, 42, q)).await, 200);
    let body = messenger_event(&[("psid-long", "m-long", q)]);
    assert_eq!(
        post_raw(
            &app,
            "/webhooks/messenger",
            &body,
            &[("x-hub-signature-256", &meta_sign("app-secret", &body))]
        )
        .await,
        200
    );
    stub.wait_for("/sendMessage", 3).await;
    stub.wait_for("/me/messages", 4).await;
    for (texts, limit) in [
        (telegram_texts(&stub, 42), 4096),
        (messenger_texts(&stub, "psid-long"), 2000),
    ] {
        assert_eq!(texts[0], greeting());
        let pieces = &texts[1..];
        assert!(pieces.len() >= 2, "split for a limit of {limit}");
        assert_eq!(
            pieces.concat(),
            long,
            "the pieces put together are the validated text"
        );
        for (i, p) in pieces.iter().enumerate() {
            assert!(p.encode_utf16().count() <= limit);
            if i + 1 < pieces.len() {
                assert!(
                    p.ends_with(char::is_whitespace),
                    "cut at a boundary, not in a word: {:?}",
                    &p[p.len() - 20..]
                );
            }
        }
    }
}

#[tokio::test]
async fn telegram_needs_its_secret_and_gets_verbatim_answers() {
    let stub = Stub::start().await;
    let app = telegram_app(&stub, &[]).await;
    let body = telegram_update(10, 4242, HOURS_Q);
    assert_eq!(post_raw(&app, "/webhooks/telegram", &body, &[]).await, 401);
    assert_eq!(
        post_raw(
            &app,
            "/webhooks/telegram",
            &body,
            &[("x-telegram-bot-api-secret-token", "tg-secre")]
        )
        .await,
        401
    );
    assert_eq!(
        post_raw(
            &app,
            "/webhooks/telegram",
            &body,
            &[("x-telegram-bot-api-secret-token", "tg-secret!")]
        )
        .await,
        401
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(stub.received().is_empty());
    assert_eq!(post_telegram(&app, &body).await, 200);
    let sent = stub.wait_for("/sendMessage", 2).await;
    assert!(sent.iter().all(|r| r.path == "/bot123:abc/sendMessage"));
    assert_eq!(
        telegram_texts(&stub, 4242),
        vec![greeting(), validated("horaires-mairie")]
    );
}

#[tokio::test]
async fn telegram_options_are_buttons_carrying_the_entry_id_and_a_press_gets_that_answer() {
    let stub = Stub::start().await;
    let app = telegram_app(&stub, &[]).await;
    assert_eq!(
        post_telegram(&app, &telegram_update(20, 55, "inscription cantine tarif")).await,
        200
    );
    let sent = stub.wait_for("/sendMessage", 2).await;
    let keyboard = &sent[1].body["reply_markup"]["inline_keyboard"];
    let ids: Vec<&str> = keyboard
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0]["callback_data"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"cantine-tarifs"), "{keyboard}");
    let e = engine();
    let pacs = e
        .corpus()
        .entry(e.corpus().index_of("cantine-tarifs").unwrap());
    assert!(
        keyboard
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row[0]["text"] == pacs.question.as_str())
    );

    let press = serde_json::to_vec(&json!({
        "update_id": 21,
        "callback_query": {
            "id": "cbq-1", "from": { "id": 55, "is_bot": false, "first_name": "A" }, "data": "cantine-tarifs",
            "message": { "message_id": 3, "date": 1, "chat": { "id": 55, "type": "private" }, "text": "…" }
        }
    }))
    .unwrap();
    assert_eq!(post_telegram(&app, &press).await, 200);
    stub.wait_for("/sendMessage", 3).await;
    let texts = telegram_texts(&stub, 55);
    assert_eq!(texts.len(), 3, "no second greeting");
    assert_eq!(
        texts[2],
        guichet::channels::format::render(&pacs.answer, guichet::channels::format::Markup::Plain)
    );
    let acks = stub.wait_for("/answerCallbackQuery", 1).await;
    assert_eq!(acks[0].body["callback_query_id"], "cbq-1");
}

#[tokio::test]
async fn telegram_start_is_greeted_without_a_ticket() {
    let stub = Stub::start().await;
    let app = telegram_app(&stub, &[]).await;
    assert_eq!(
        post_telegram(&app, &telegram_update(30, 66, "/start")).await,
        200
    );
    assert_eq!(
        post_telegram(&app, &telegram_update(30, 66, "/start")).await,
        200
    );
    stub.wait_for("/sendMessage", 1).await;
    assert_eq!(telegram_texts(&stub, 66), vec![greeting()]);
    assert!(app.state.store.tickets(None).unwrap().is_empty());
}

#[tokio::test]
async fn the_generic_webhook_answers_synchronously_checks_its_signature_and_answers_a_retry_again()
{
    let app = TestApp::spawn_with(&["--webhook-secret", "gen-secret"]).await;
    let body = serde_json::to_vec(
        &json!({ "message_id": "g-1", "conversation_id": "helpdesk-9", "text": HOURS_Q }),
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let post = |b: Vec<u8>, sig: Option<String>| {
        let app = &app;
        async move {
            let mut r = app
                .client
                .post(app.url("/webhooks/generic"))
                .header("content-type", "application/json")
                .body(b);
            if let Some(s) = sig {
                r = r.header("x-guichet-signature", s);
            }
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(post(body.clone(), None).await.0, 401);
    assert_eq!(
        post(body.clone(), Some(generic_sign("other", now, &body)))
            .await
            .0,
        401
    );
    assert_eq!(
        post(
            body.clone(),
            Some(generic_sign("gen-secret", now - 301, &body))
        )
        .await
        .0,
        401,
        "stale"
    );
    assert_eq!(
        post(body.clone(), Some(format!("t={now}"))).await.0,
        401,
        "malformed"
    );
    let mut changed = body.clone();
    changed[3] ^= 1;
    assert_eq!(
        post(changed, Some(generic_sign("gen-secret", now, &body)))
            .await
            .0,
        401
    );

    let (status, reply) = post(body.clone(), Some(generic_sign("gen-secret", now, &body))).await;
    assert_eq!(status, 200);
    assert_eq!(reply["outcome"], "answer");
    assert_eq!(reply["entry"]["answer"], validated("horaires-mairie"));
    assert_eq!(reply["greeting"], greeting());
    let turns = || {
        let s = &app.state.store;
        let c = s
            .find_conversation(
                Channel::Generic,
                &s.pseudonym(Channel::Generic, "helpdesk-9"),
            )
            .unwrap()
            .expect("conversation stored");
        s.turns_after(c.id, Some(Author::Person), 0).unwrap().len()
    };
    assert_eq!(turns(), 1);
    // A retry (the first response was lost): the same answer, nothing stored twice.
    let (status, again) = post(
        body.clone(),
        Some(generic_sign("gen-secret", now + 5, &body)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again["entry"], reply["entry"]);
    assert!(again.get("greeting").is_none());
    assert_eq!(turns(), 1, "a retry is not a second question");

    let next = serde_json::to_vec(
        &json!({ "message_id": "g-2", "conversation_id": "helpdesk-9", "text": CNI_Q }),
    )
    .unwrap();
    let (status, reply) = post(next.clone(), Some(generic_sign("gen-secret", now, &next))).await;
    assert_eq!(status, 200);
    assert_eq!(reply["entry"]["id"], "cni-renouvellement");
    assert!(
        reply.get("greeting").is_none(),
        "only the first reply greets"
    );

    // The person asks for someone: a ticket opens. A late retry of the first message now
    // gets how to reach that person, not the assistant's answer.
    let human = serde_json::to_vec(&json!({
        "message_id": "g-3", "conversation_id": "helpdesk-9",
        "text": "je veux parler à un conseiller"
    }))
    .unwrap();
    let (status, reply) = post(human.clone(), Some(generic_sign("gen-secret", now, &human))).await;
    assert_eq!(status, 200);
    assert_eq!(reply["handoff"]["reason"], "requested");
    let (status, late) = post(
        body.clone(),
        Some(generic_sign("gen-secret", now + 9, &body)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(late["handoff"]["reason"], "ticket_open", "{late}");
    assert_eq!(turns(), 3, "retries are not recorded");
}
