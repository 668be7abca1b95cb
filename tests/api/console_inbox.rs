//! The agents' inbox in the console: the list of tickets a web chat opened, its live
//! event stream, taking a ticket (of two agents at once, one wins), sending a validated
//! answer word for word with its id and sha256, closing (the assistant answers again),
//! and the audit rows of each action.

use std::time::Duration;

use guichet::corpus::sha256_hex;
use guichet::staff::Role;
use guichet::store::Author;
use serde_json::{Value, json};

use crate::helpers::{Console, TestApp, engine, field};

/// A person asking for someone, with a number the store must never keep.
const ASK_PERSON: &str = "je veux parler à quelqu'un <b>vite</b>, rappelez-moi au 06 12 34 56 78";

/// Asks on the web chat as the widget does (a session), returns the reply.
async fn web_chat(app: &TestApp, session: &str, message: &str) -> Value {
    let r = app
        .post_json(
            "/v1/chat",
            &json!({ "message": message, "session_id": session }),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Opens a ticket from the web chat of `session`; returns its id.
async fn open_ticket(app: &TestApp, session: &str) -> i64 {
    let reply = web_chat(app, session, ASK_PERSON).await;
    assert_eq!(reply["outcome"], "handoff", "{reply}");
    assert_eq!(reply["ticket"]["status"], "open", "{reply}");
    let store = app.state.store.clone();
    let tickets = store
        .tickets(Some(guichet::store::TicketStatus::Open))
        .unwrap();
    tickets.last().expect("the hand-off opened a ticket").id
}

fn service_name_of(app: &TestApp, ticket: i64) -> String {
    let t = app.state.store.ticket(ticket).unwrap().unwrap();
    engine()
        .corpus()
        .services()
        .get_or_default(&t.service)
        .name
        .clone()
}

async fn text(r: reqwest::Response) -> String {
    r.text().await.unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

/// The agents' messages the widget polls for `session`.
async fn widget_messages(app: &TestApp, session: &str) -> Value {
    app.client
        .get(app.url(&format!("/v1/chat/{session}/messages?after=0")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Searches the knowledge base from the ticket page; the first entry offered.
async fn first_offered(c: &Console, ticket: i64, q: &str) -> (String, String) {
    let page = text(
        c.get(&format!(
            "/console/tickets/{ticket}?q={}",
            guichet::http::console::urlencode(q)
        ))
        .await,
    )
    .await;
    assert!(page.contains("Envoyer cette réponse"), "{page}");
    let entry = field(&page, "entry").expect("an entry is offered");
    (entry, page)
}

#[tokio::test]
async fn the_inbox_lists_a_ticket_opened_by_a_web_chat_asking_for_a_person() {
    let app = TestApp::spawn().await;
    let agent = app
        .console_as("camille.martin@belleval.fr", &[Role::Agent])
        .await;
    let empty = text(agent.get("/console/inbox").await).await;
    assert!(empty.contains("<title>(0) Demandes"), "{empty}");
    assert!(empty.contains("Aucune demande en attente"), "{empty}");

    let id = open_ticket(&app, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").await;
    let page = text(agent.get("/console/inbox").await).await;
    assert!(page.contains("<title>(1) Demandes"), "{page}");
    assert!(
        page.contains(&format!("href=\"/console/tickets/{id}\"")),
        "{page}"
    );
    assert!(page.contains(&service_name_of(&app, id)), "{page}");
    assert!(page.contains("chat du site"), "{page}");
    assert!(
        page.contains("la personne a demandé à parler à quelqu'un"),
        "{page}"
    );
    assert!(page.contains("en attente d'un agent"), "{page}");
    // The question as stored: redacted, and escaped by the template.
    assert!(!page.contains("06 12 34 56 78"), "{page}");
    assert!(!page.contains("<b>vite</b>"), "{page}");
    assert!(page.contains("&lt;b&gt;vite&lt;/b&gt;"), "{page}");

    let ticket = text(agent.get(&format!("/console/tickets/{id}")).await).await;
    assert!(ticket.contains("Prendre la demande"), "{ticket}");
    assert!(ticket.contains("&lt;b&gt;vite&lt;/b&gt;"), "{ticket}");
    assert!(!ticket.contains("06 12 34 56 78"), "{ticket}");
}

#[tokio::test]
async fn of_two_agents_taking_one_ticket_at_once_exactly_one_wins_and_the_other_is_told_who() {
    let app = TestApp::spawn().await;
    let camille = app
        .console_as("camille.martin@belleval.fr", &[Role::Agent])
        .await;
    let karim = app.console_as("karim@belleval.fr", &[Role::Agent]).await;
    let id = open_ticket(&app, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").await;
    let path = format!("/console/tickets/{id}/take");
    let (a, b) = tokio::join!(camille.post(&path, &[]), karim.post(&path, &[]));
    let (winner, won, lost) = match (a.status().as_u16(), b.status().as_u16()) {
        (303, 409) => (&camille, a, b),
        (409, 303) => (&karim, b, a),
        other => panic!("one take wins, one is refused: {other:?}"),
    };
    assert!(location(&won).starts_with(&format!("/console/tickets/{id}?fait=prise")));
    let refused = text(lost).await;
    assert!(
        refused.contains(&format!("déjà prise en charge par {}", winner.account.name)),
        "{refused}"
    );
    let t = app.state.store.ticket(id).unwrap().unwrap();
    assert_eq!(t.claimed_staff, Some(winner.account.id));
    assert_eq!(t.claimed_by.as_deref(), Some(winner.account.name.as_str()));
}

#[tokio::test]
async fn an_inserted_validated_answer_reaches_the_widget_byte_identical_with_its_id_and_sha256() {
    let app = TestApp::spawn().await;
    let agent = app
        .console_as("camille.martin@belleval.fr", &[Role::Agent])
        .await;
    let session = "cccccccccccccccccccccccccccccccc";
    let id = open_ticket(&app, session).await;
    let took = agent
        .post(&format!("/console/tickets/{id}/take"), &[])
        .await;
    assert_eq!(took.status(), 303);

    let (entry_id, page) = first_offered(&agent, id, "carte d'identité").await;
    let corpus = engine();
    let entry = corpus
        .corpus()
        .entry(corpus.corpus().index_of(&entry_id).unwrap());
    assert!(
        entry.question.to_lowercase().contains("identité"),
        "the search finds the identity card first: {}",
        entry.question
    );
    assert!(page.contains(&guichet::html::html! { (entry.answer) }.into_string()));

    let sent = agent
        .post(
            &format!("/console/tickets/{id}/send-entry"),
            &[("entry", &entry_id), ("lang", "fr")],
        )
        .await;
    assert_eq!(sent.status(), 303);
    assert!(
        location(&sent).contains("fait=reponse"),
        "{}",
        location(&sent)
    );

    // The widget gets the entry's own words, signed with the agent's name.
    let polled = widget_messages(&app, session).await;
    let messages = polled["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{polled}");
    assert_eq!(messages[0]["text"].as_str().unwrap(), entry.answer);
    assert_eq!(messages[0]["agent"], agent.account.name.as_str());
    assert_ne!(messages[0]["agent"], agent.account.email.as_str());
    // And knows it is a validated text (it renders it as the assistant's answers).
    assert_eq!(messages[0]["entry"]["id"], entry_id.as_str());
    assert_eq!(
        messages[0]["entry"]["answer_sha256"],
        entry.answer_sha256.as_str()
    );

    // The stored turn records which validated text it was, like the assistant's.
    let t = app.state.store.ticket(id).unwrap().unwrap();
    let turns = app
        .state
        .store
        .turns_after(t.conversation, Some(Author::Agent), 0)
        .unwrap();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].text, entry.answer);
    assert_eq!(turns[0].entry_id.as_deref(), Some(entry_id.as_str()));
    assert_eq!(
        turns[0].answer_sha256.as_deref(),
        Some(sha256_hex(&entry.answer).as_str())
    );
    assert_eq!(entry.answer_sha256, sha256_hex(&entry.answer));
    assert_eq!(turns[0].agent.as_deref(), Some(agent.account.name.as_str()));

    // An id that is not a served entry is refused and sends nothing.
    let bogus = agent
        .post(
            &format!("/console/tickets/{id}/send-entry"),
            &[("entry", "pas-une-entree"), ("lang", "fr")],
        )
        .await;
    assert_eq!(bogus.status(), 422);
    let polled = widget_messages(&app, session).await;
    assert_eq!(polled["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn each_action_on_a_ticket_is_audited_and_closing_hands_back_to_the_assistant() {
    let app = TestApp::spawn().await;
    let agent = app
        .console_as("camille.martin@belleval.fr", &[Role::Agent])
        .await;
    let session = "dddddddddddddddddddddddddddddddd";
    let id = open_ticket(&app, session).await;
    let base = format!("/console/tickets/{id}");
    assert_eq!(agent.post(&format!("{base}/take"), &[]).await.status(), 303);
    let reply = "Bonjour, je regarde votre dossier (IBAN FR76 3000 6000 0112 3456 7890 189).";
    let r = agent
        .post(&format!("{base}/reply"), &[("text", reply)])
        .await;
    assert_eq!(r.status(), 303);
    let (entry_id, _) = first_offered(&agent, id, "carte d'identité").await;
    let r = agent
        .post(
            &format!("{base}/send-entry"),
            &[("entry", &entry_id), ("lang", "fr")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let note = "Rappeler au 06 12 34 56 78 si besoin";
    let r = agent
        .post(&format!("{base}/close"), &[("note", note)])
        .await;
    assert_eq!(r.status(), 303);
    let closed = text(agent.get(&location(&r)).await).await;
    assert!(closed.contains("Demande close"), "{closed}");

    // The reply went out redacted; the note is kept redacted.
    let polled = widget_messages(&app, session).await;
    let first = polled["messages"][0]["text"].as_str().unwrap();
    assert!(first.starts_with("Bonjour, je regarde"), "{first}");
    assert!(!first.contains("3456 7890"), "{first}");
    let t = app.state.store.ticket(id).unwrap().unwrap();
    assert_eq!(t.status, guichet::store::TicketStatus::Resolved);
    let kept = t.note.expect("the note is kept");
    assert!(kept.starts_with("Rappeler au"), "{kept}");
    assert!(!kept.contains("06 12 34 56 78"), "{kept}");
    assert!(polled["ticket"].is_null(), "{polled}");

    let log = app.state.store.audit_log(50, None).unwrap();
    let target = id.to_string();
    let of = |action: &str| {
        log.iter()
            .filter(|e| e.action == action && e.target.as_deref() == Some(target.as_str()))
            .collect::<Vec<_>>()
    };
    for action in [
        "ticket.claim",
        "ticket.reply",
        "ticket.answer",
        "ticket.close",
    ] {
        let rows = of(action);
        assert_eq!(rows.len(), 1, "{action}: {log:?}");
        assert_eq!(rows[0].staff, Some(agent.account.id));
    }
    assert_eq!(
        of("ticket.answer")[0].detail.as_deref(),
        Some(entry_id.as_str())
    );
    // Ids only: never what the agent or the person wrote.
    for e in &log {
        let detail = e.detail.as_deref().unwrap_or_default();
        assert!(
            !detail.contains("Bonjour") && !detail.contains("Rappeler"),
            "{e:?}"
        );
    }

    // The assistant answers the next question again.
    let next = web_chat(&app, session, "Quels sont les horaires de la mairie ?").await;
    assert_eq!(next["outcome"], "answer", "{next}");
    assert!(next.get("ticket").is_none_or(Value::is_null), "{next}");
}

/// Reads the event stream until `needle` arrives (or panics after `within`).
async fn read_until(r: &mut reqwest::Response, seen: &mut String, needle: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, r.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in the stream; got {seen}"))
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_live_inbox_sends_a_new_ticket_with_its_service_once_it_is_opened() {
    let app = TestApp::spawn().await;
    let agent = app
        .console_as("camille.martin@belleval.fr", &[Role::Agent])
        .await;
    let mut stream = agent
        .client
        .get(agent.url("/console/inbox/events"))
        .header("cookie", &agent.cookie)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let h = stream.headers();
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-accel-buffering"], "no");
    let mut seen = String::new();
    // On connecting: the list as it is (empty).
    read_until(
        &mut stream,
        &mut seen,
        "Aucune demande",
        Duration::from_secs(10),
    )
    .await;
    assert!(seen.contains("event: inbox"), "{seen}");

    let id = open_ticket(&app, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee").await;
    let item = format!("data-ticket=\"{id}\"");
    read_until(&mut stream, &mut seen, &item, Duration::from_secs(10)).await;
    let service = service_name_of(&app, id);
    let after = &seen[seen.find(&item).unwrap()..];
    assert!(
        after.contains(&format!("data-service=\"{service}\"")),
        "{after}"
    );
    assert!(seen.contains("data-open=\"1\""), "{seen}");
    assert!(!seen.contains("<b>vite</b>"), "escaped: {seen}");

    // Taken: the list is sent again, saying who has it.
    let took = agent
        .post(&format!("/console/tickets/{id}/take"), &[])
        .await;
    assert_eq!(took.status(), 303);
    let mark = seen.len();
    let by = format!("prise en charge par {}", agent.account.name);
    read_until(&mut stream, &mut seen, &by, Duration::from_secs(10)).await;
    assert!(
        seen[mark..].contains("data-open=\"0\""),
        "{}",
        &seen[mark..]
    );

    // Signed out, the stream is refused (the browser's reconnection stops there).
    let anonymous = app
        .client
        .get(app.url("/console/inbox/events"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn sigterm_ends_the_open_live_inboxes_and_the_server_stops_at_once() {
    use std::process::{Command, Stdio};
    use std::time::Instant;

    use guichet::staff;
    use guichet::store::SqliteStore;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("guichet.sqlite");
    // An agent signed in, straight in the store file the server will open.
    let token = {
        let store = SqliteStore::open(&db).unwrap();
        let now = chrono::Utc::now();
        let new =
            staff::NewAccount::new("camille@belleval.fr", None, vec![Role::Agent], vec![], &[])
                .unwrap();
        let (account, _) = staff::add_account(&store, &new, &staff::Actor::cli(), now).unwrap();
        staff::open_session(&store, &account, "test", now)
            .unwrap()
            .token
    };
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let root = crate::helpers::root();
    let path = |p: &str| root.join(p).display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("serve")
        .args(["--bind", &addr, "--db", &db.display().to_string()])
        .args(["--corpus", &path("corpus"), "--models", &path("models")])
        .args(["--cache", &path("target/test-cache")])
        .args(["--policy", &path("calibration/policy.toml")])
        .env("GUICHET_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the guichet binary starts");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while !client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not ready in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut stream = client
        .get(format!("http://{addr}/console/inbox/events"))
        .header("cookie", format!("guichet_staff={token}"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    read_until(
        &mut stream,
        &mut seen,
        "event: inbox",
        Duration::from_secs(10),
    )
    .await;

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The stream ends (rather than holding the shutdown for its five minutes)...
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the event stream stays open after SIGTERM");
    // ...and the process exits cleanly.
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn a_validated_answer_goes_out_in_the_persons_language_when_its_translation_is_validated() {
    let app = TestApp::spawn().await;
    let agent = app
        .console_as("camille.martin@belleval.fr", &[Role::Agent])
        .await;
    let session = "ffffffffffffffffffffffffffffffff";
    let asked = web_chat(&app, session, "I want to talk to someone please").await;
    assert_eq!(asked["outcome"], "handoff", "{asked}");
    let id = app.state.store.tickets(None).unwrap().last().unwrap().id;

    let (entry_id, page) = first_offered(&agent, id, "horaires d'ouverture de la mairie").await;
    assert_eq!(field(&page, "lang").as_deref(), Some("en"), "{page}");
    let corpus = engine();
    let index = corpus.corpus().index_of(&entry_id).unwrap();
    let (english, served) = corpus.entry_reply(index, "en");
    assert_eq!(served, "en", "{entry_id} has a validated English text");
    assert_ne!(english.answer, corpus.corpus().entry(index).answer);
    assert!(page.contains(&guichet::html::html! { (english.answer) }.into_string()));

    let sent = agent
        .post(
            &format!("/console/tickets/{id}/send-entry"),
            &[("entry", &entry_id), ("lang", "en")],
        )
        .await;
    assert_eq!(sent.status(), 303);
    let polled = widget_messages(&app, session).await;
    assert_eq!(polled["messages"][0]["text"], english.answer.as_str());
    assert_eq!(
        polled["messages"][0]["entry"]["answer_sha256"],
        sha256_hex(&english.answer).as_str()
    );
}
