//! The hand-off as a state of the conversation: a ticket opens, the assistant stays quiet,
//! an agent claims, replies through the person's channel, resolves; the assistant answers
//! again. Tickets and dedupe survive a restart.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::channels::{HOURS_Q, greeting, post_telegram, telegram_app, telegram_update, validated};
use crate::helpers::TestApp;
use crate::stub::Stub;

const ASK_PERSON: &str = "je veux parler à quelqu'un, rappelez-moi au 06 12 34 56 78";

async fn agent(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = match method {
        "GET" => app.client.get(app.url(path)),
        _ => app.client.post(app.url(path)),
    };
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn telegram_texts(stub: &Stub, chat: i64) -> Vec<String> {
    stub.at("/sendMessage")
        .into_iter()
        .filter(|r| r.body["chat_id"] == chat)
        .map(|r| r.body["text"].as_str().unwrap().to_string())
        .collect()
}

/// What the assistant says while a ticket of the default service (the Accueil) is open:
/// a reply "here" is promised only while the service is open.
fn ticket_open_message() -> String {
    let engine = crate::helpers::engine();
    let corpus = engine.corpus();
    let messages = corpus.messages().get("fr").1;
    let open = corpus
        .services()
        .get_or_default("accueil")
        .is_open_at(chrono::Utc::now());
    if open {
        messages.handoff_ticket_open.clone()
    } else {
        messages.handoff_ticket_unattended.clone()
    }
}

#[tokio::test]
async fn a_telegram_hand_off_opens_a_ticket_keeps_the_bot_quiet_reaches_the_person_and_hands_back()
{
    let stub = Stub::start().await;
    let hook = Stub::start().await;
    let hook_url = format!("{}/helpdesk", hook.base);
    let app = telegram_app(
        &stub,
        &[
            "--admin-token",
            "agent-token",
            "--webhook-secret",
            "hook-secret",
            "--handoff-webhook-url",
            &hook_url,
        ],
    )
    .await;

    // The person asks for a human: the hand-off reply, and a ticket.
    assert_eq!(
        post_telegram(&app, &telegram_update(100, 9001, ASK_PERSON)).await,
        200
    );
    stub.wait_for("/sendMessage", 2).await;
    let texts = telegram_texts(&stub, 9001);
    assert_eq!(texts[0], greeting());
    let requested = crate::helpers::engine()
        .corpus()
        .messages()
        .get("fr")
        .1
        .handoff_requested
        .clone();
    assert!(texts[1].starts_with(&requested), "{}", texts[1]);

    let (status, list) = agent(
        &app,
        "GET",
        "/v1/handoffs?status=open",
        Some("agent-token"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let tickets = list["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 1);
    let t = &tickets[0];
    assert_eq!(t["channel"], "telegram");
    assert_eq!(t["reason"], "requested");
    assert_eq!(
        t["questions"],
        json!(["je veux parler à quelqu'un, rappelez-moi au [téléphone]"])
    );
    assert!(
        t.get("route").is_none(),
        "the platform address is not shown"
    );
    assert!(!t["service"].as_str().unwrap().is_empty());
    let id = t["id"].as_i64().unwrap();

    // The helpdesk is told, signed like the generic webhook.
    let told = hook.wait_for("/helpdesk", 1).await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].body["event"], "handoff.created");
    assert_eq!(told[0].body["ticket"]["id"], id);
    let sig = told[0].header("x-guichet-signature").unwrap();
    let (t_part, v_part) = sig.split_once(',').unwrap();
    let ts = t_part.strip_prefix("t=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"hook-secret").unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&told[0].raw);
    assert_eq!(
        v_part.strip_prefix("v1=").unwrap(),
        hex::encode(mac.finalize().into_bytes())
    );

    // While the ticket is open, a question the bot knows gets only how to reach a person.
    assert_eq!(
        post_telegram(&app, &telegram_update(101, 9001, HOURS_Q)).await,
        200
    );
    stub.wait_for("/sendMessage", 3).await;
    let texts = telegram_texts(&stub, 9001);
    assert_eq!(texts.len(), 3);
    assert!(texts[2].starts_with(&ticket_open_message()), "{}", texts[2]);
    assert!(!texts.iter().any(|t| t == &validated("horaires-mairie")));
    let (_, one) = agent(
        &app,
        "GET",
        "/v1/handoffs?status=open",
        Some("agent-token"),
        None,
    )
    .await;
    assert_eq!(one["tickets"][0]["questions"].as_array().unwrap().len(), 2);

    // An agent claims and replies: the reply reaches the platform, redacted.
    let (status, claimed) = agent(
        &app,
        "POST",
        &format!("/v1/handoffs/{id}/claim"),
        Some("agent-token"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(claimed["ticket"]["status"], "claimed");
    let (status, replied) = agent(
        &app,
        "POST",
        &format!("/v1/handoffs/{id}/reply"),
        Some("agent-token"),
        Some(json!({ "text": "Bonjour, je m'occupe de votre demande. Écrivez-moi à agent.prive@exemple.fr." })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(replied["delivered"], true);
    stub.wait_for("/sendMessage", 4).await;
    assert_eq!(
        telegram_texts(&stub, 9001)[3],
        "Bonjour, je m'occupe de votre demande. Écrivez-moi à [email]."
    );

    // Resolved: the assistant answers again.
    let (status, resolved) = agent(
        &app,
        "POST",
        &format!("/v1/handoffs/{id}/resolve"),
        Some("agent-token"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(resolved["ticket"]["status"], "resolved");
    let (status, _) = agent(
        &app,
        "POST",
        &format!("/v1/handoffs/{id}/resolve"),
        Some("agent-token"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        post_telegram(&app, &telegram_update(102, 9001, HOURS_Q)).await,
        200
    );
    stub.wait_for("/sendMessage", 5).await;
    assert_eq!(telegram_texts(&stub, 9001)[4], validated("horaires-mairie"));
    let (_, open) = agent(
        &app,
        "GET",
        "/v1/handoffs?status=open",
        Some("agent-token"),
        None,
    )
    .await;
    assert!(open["tickets"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_agents_api_needs_the_bearer_token_and_is_off_without_one() {
    let app = TestApp::spawn_with(&["--admin-token", "agent-token"]).await;
    assert_eq!(agent(&app, "GET", "/v1/handoffs", None, None).await.0, 401);
    assert_eq!(
        agent(&app, "GET", "/v1/handoffs", Some("agent-toke"), None)
            .await
            .0,
        401
    );
    assert_eq!(
        agent(&app, "GET", "/v1/handoffs", Some("agent-token2"), None)
            .await
            .0,
        401
    );
    assert_eq!(
        agent(&app, "POST", "/v1/handoffs/1/claim", Some("nope"), None)
            .await
            .0,
        401
    );
    assert_eq!(
        agent(&app, "GET", "/v1/handoffs", Some("agent-token"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        agent(
            &app,
            "POST",
            "/v1/handoffs/999/claim",
            Some("agent-token"),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        agent(
            &app,
            "GET",
            "/v1/handoffs?status=lost",
            Some("agent-token"),
            None
        )
        .await
        .0,
        422
    );

    let off = TestApp::spawn().await;
    assert_eq!(
        agent(&off, "GET", "/v1/handoffs", Some("agent-token"), None)
            .await
            .0,
        404
    );
}

async fn poll(app: &TestApp, session: &str, after: i64) -> Value {
    app.client
        .get(app.url(&format!("/v1/chat/{session}/messages?after={after}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_web_hand_off_is_answered_by_an_agent_through_the_polled_messages() {
    let app = TestApp::spawn_with(&["--admin-token", "agent-token"]).await;
    let session = "0123456789abcdef0123456789abcdef";
    let chat = |message: &str| {
        let app = &app;
        let body = json!({ "message": message, "session_id": session });
        async move {
            let r = app.post_json("/v1/chat", &body).await;
            assert_eq!(r.status().as_u16(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let first = chat("je veux parler à quelqu'un").await;
    assert_eq!(first["outcome"], "handoff");
    assert_eq!(first["handoff"]["reason"], "requested");
    // The widget learns that a ticket is open, and whether anyone can answer now.
    assert_eq!(first["ticket"]["status"], "open");
    assert!(first["ticket"]["agent"].is_null());
    let attended = first["ticket"]["attended"].as_bool().unwrap();
    let messages = crate::helpers::engine()
        .corpus()
        .messages()
        .get("fr")
        .1
        .clone();
    let expected_notice = if attended {
        &messages.ticket_waiting
    } else {
        &messages.ticket_unattended
    };
    assert_eq!(first["ticket"]["notice"], expected_notice.as_str());

    // While the ticket waits, a question the corpus answers still gets its validated
    // answer on the web, and the agent sees it in the ticket.
    let answered = chat(HOURS_Q).await;
    assert_eq!(answered["outcome"], "answer");
    assert_eq!(answered["entry"]["answer"], validated("horaires-mairie"));
    assert_eq!(answered["ticket"]["status"], "open");
    assert!(answered.get("greeting").is_none());
    // One the corpus does not answer gets how to reach a person, as before.
    let unknown = chat("Quelle est la capitale de l'Australie ?").await;
    assert_eq!(unknown["handoff"]["reason"], "ticket_open");
    assert_eq!(unknown["handoff"]["message"], ticket_open_message());

    let (_, list) = agent(
        &app,
        "GET",
        "/v1/handoffs?status=open",
        Some("agent-token"),
        None,
    )
    .await;
    let id = list["tickets"][0]["id"].as_i64().unwrap();
    assert_eq!(list["tickets"][0]["channel"], "web");
    assert_eq!(
        list["tickets"][0]["questions"].as_array().unwrap().len(),
        3,
        "the agent sees every question: {list}"
    );

    // Camille takes it; Karim, a second agent, cannot, and is told who has it.
    let (status, claimed) = agent(
        &app,
        "POST",
        &format!("/v1/handoffs/{id}/claim"),
        Some("agent-token"),
        Some(json!({ "agent": "Camille" })),
    )
    .await;
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(claimed["ticket"]["claimed_by"], "Camille");
    let (status, refused) = agent(
        &app,
        "POST",
        &format!("/v1/handoffs/{id}/claim"),
        Some("agent-token"),
        Some(json!({ "agent": "Karim" })),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "already_claimed");
    assert_eq!(refused["error"]["claimed_by"], "Camille");
    let (status, _) = agent(
        &app,
        "POST",
        &format!("/v1/handoffs/{id}/reply"),
        Some("agent-token"),
        Some(json!({ "text": "Je prends la suite.", "agent": "Karim" })),
    )
    .await;
    assert_eq!(status, 409, "Karim may not answer Camille's ticket");
    // An email is not a name the person should see.
    let (status, _) = agent(
        &app,
        "POST",
        &format!("/v1/handoffs/{id}/reply"),
        Some("agent-token"),
        Some(json!({ "text": "Bonjour", "agent": "camille.martin@belleval.example" })),
    )
    .await;
    assert_eq!(status, 422);

    let (status, _) = agent(
        &app,
        "POST",
        &format!("/v1/handoffs/{id}/reply"),
        Some("agent-token"),
        Some(json!({ "text": "Je vous réponds ici.", "agent": "Camille" })),
    )
    .await;
    assert_eq!(status, 200);
    let polled = poll(&app, session, 0).await;
    let msgs = polled["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{polled}");
    assert_eq!(msgs[0]["text"], "Je vous réponds ici.");
    assert_eq!(msgs[0]["author"], "agent");
    assert_eq!(msgs[0]["agent"], "Camille");
    assert_eq!(polled["ticket"]["status"], "claimed");
    assert_eq!(polled["ticket"]["agent"], "Camille");
    // Camille is there, whatever the service's hours.
    assert_eq!(polled["ticket"]["attended"], true);
    assert_eq!(polled["ticket"]["notice"], messages.ticket_waiting.as_str());
    let last = msgs[0]["id"].as_i64().unwrap();
    assert!(
        poll(&app, session, last).await["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let other = poll(&app, "ffffffffffffffffffffffffffffffff", 0).await;
    assert!(
        other["messages"].as_array().unwrap().is_empty() && other["ticket"].is_null(),
        "another session sees nothing"
    );

    let (status, _) = agent(
        &app,
        "POST",
        &format!("/v1/handoffs/{id}/resolve"),
        Some("agent-token"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(poll(&app, session, last).await["ticket"].is_null());
    let back = chat(HOURS_Q).await;
    assert_eq!(back["outcome"], "answer");
    assert_eq!(back["entry"]["answer"], validated("horaires-mairie"));
    assert!(back.get("ticket").is_none());

    // What the integration did is in the staff audit log, as `api`, without the text.
    let log = app.state.store.audit_log(50, None).unwrap();
    let done: Vec<(&str, &str, Option<&str>)> = log
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_deref()))
        .collect();
    let target = id.to_string();
    for action in ["ticket.reply", "ticket.close"] {
        assert!(
            done.contains(&("api", action, Some(target.as_str()))),
            "{action}: {done:?}"
        );
    }
    assert!(
        log.iter()
            .all(|e| !e.detail.as_deref().unwrap_or("").contains("réponds"))
    );
}

#[tokio::test]
async fn a_person_on_the_web_can_cancel_their_request_for_a_person() {
    let app = TestApp::spawn_with(&["--admin-token", "agent-token"]).await;
    let session = "cancel0123456789abcdef0123456789";
    let ask = |message: &'static str| {
        let app = &app;
        async move {
            let body = json!({ "message": message, "session_id": session });
            app.post_json("/v1/chat", &body)
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        ask("je veux parler à quelqu'un").await["ticket"]["status"],
        "open"
    );
    let r = app
        .client
        .post(app.url(&format!("/v1/chat/{session}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cancelled: Value = r.json().await.unwrap();
    assert_eq!(cancelled["cancelled"], true);
    let messages = crate::helpers::engine()
        .corpus()
        .messages()
        .get("fr")
        .1
        .clone();
    assert_eq!(cancelled["message"], messages.ticket_cancelled.as_str());
    let (_, list) = agent(&app, "GET", "/v1/handoffs", Some("agent-token"), None).await;
    assert_eq!(list["tickets"][0]["status"], "resolved");
    assert_eq!(list["tickets"][0]["closed_by"], "person");
    // The assistant is back: an unknown question opens a new ticket, not "ticket open".
    let again = ask("Quelle est la capitale de l'Australie ?").await;
    assert_eq!(again["handoff"]["reason"], "low_confidence", "{again}");
    // Nothing left to cancel is not an error.
    let r = app
        .client
        .post(app.url("/v1/chat/nothing0123456789abcdef012345678/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["cancelled"], false);
}

#[tokio::test]
async fn a_restart_keeps_open_tickets_and_processed_messages() {
    let stub = Stub::start().await;
    let app = telegram_app(&stub, &["--admin-token", "agent-token"]).await;
    assert_eq!(
        post_telegram(
            &app,
            &telegram_update(500, 77, "je veux parler à quelqu'un")
        )
        .await,
        200
    );
    stub.wait_for("/sendMessage", 2).await;

    let restarted = app.restart().await;
    assert_ne!(restarted.addr, app.addr);
    let (_, list) = agent(
        &restarted,
        "GET",
        "/v1/handoffs?status=open",
        Some("agent-token"),
        None,
    )
    .await;
    assert_eq!(
        list["tickets"].as_array().unwrap().len(),
        1,
        "the ticket survived"
    );
    // Telegram retries the same update after the restart: not answered twice.
    assert_eq!(
        post_telegram(
            &restarted,
            &telegram_update(500, 77, "je veux parler à quelqu'un")
        )
        .await,
        200
    );
    // A new message: still a person's conversation, and no second greeting.
    assert_eq!(
        post_telegram(&restarted, &telegram_update(501, 77, HOURS_Q)).await,
        200
    );
    stub.wait_for("/sendMessage", 3).await;
    let texts = telegram_texts(&stub, 77);
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts[2].starts_with(&ticket_open_message()));
}

#[test]
fn a_ticket_open_while_the_service_is_closed_promises_no_reply_here() {
    use chrono::TimeZone;
    use guichet::engine::AskContext;
    use guichet::reply::HandoffReason;

    let engine = crate::helpers::engine();
    let corpus = engine.corpus();
    let messages = corpus.messages().get("fr").1;
    let accueil = corpus.services().get_or_default("accueil");
    // Sunday 29 November 2026, 3 am in Paris; Tuesday 1 December, 10 am in Paris.
    let closed = chrono::Utc.with_ymd_and_hms(2026, 11, 29, 2, 0, 0).unwrap();
    let open = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
    assert!(!accueil.is_open_at(closed) && accueil.is_open_at(open));
    let at = |now| AskContext { lang: None, now };
    let night = engine.handoff(HandoffReason::TicketOpen, accueil, "fr", &at(closed));
    let night = night.handoff.unwrap();
    assert_eq!(night.message, messages.handoff_ticket_unattended);
    assert!(!night.contacts.open_now, "the hours and phone come with it");
    let day = engine.handoff(HandoffReason::TicketOpen, accueil, "fr", &at(open));
    assert_eq!(day.handoff.unwrap().message, messages.handoff_ticket_open);
}
