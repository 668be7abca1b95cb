//! The `conversation` module on its own: the real engine, an in-memory store, no HTTP.
//! A ticket's life from open to close, and the rule of what the assistant says while a
//! ticket is open (the web answers what the corpus answers; the messengers stay quiet).

use chrono::Utc;
use guichet::conversation::{self, Handled, Inbound};
use guichet::reply::{HandoffReason, Outcome};
use guichet::store::{
    AgentName, Author, Channel, ClosedBy, Route, SqliteStore, Store, StoreError, TicketStatus,
};

use crate::channels::{HOURS_Q, validated};
use crate::helpers::engine;

const ASK_PERSON: &str = "je veux parler à quelqu'un, rappelez-moi au 06 12 34 56 78";
const SESSION: &str = "conversation-flow-session-0001";

fn inbound(channel: Channel, user: &str, text: &str, route: Route) -> Inbound {
    Inbound {
        channel,
        message_id: None,
        user: user.to_string(),
        text: text.to_string(),
        choice: None,
        lang: None,
        route,
    }
}

fn receive(store: &dyn Store, message: Inbound) -> Handled {
    conversation::receive(&engine(), store, message, Utc::now())
        .expect("the message is handled")
        .expect("not a retry")
}

fn telegram(store: &dyn Store, text: &str) -> Handled {
    receive(
        store,
        inbound(
            Channel::Telegram,
            "4242",
            text,
            Route::Telegram { chat_id: 4242 },
        ),
    )
}

fn web(store: &dyn Store, text: &str) -> Handled {
    receive(store, inbound(Channel::Web, SESSION, text, Route::Web))
}

fn agent(name: &str) -> AgentName {
    AgentName::parse(name).unwrap()
}

fn reason(handled: &Handled) -> Option<HandoffReason> {
    handled.reply.handoff.as_ref().map(|h| h.reason)
}

#[test]
fn a_ticket_lives_from_open_to_take_reply_and_close_then_the_assistant_answers_again() {
    let store = SqliteStore::in_memory().unwrap();
    let now = Utc::now();

    let opened = telegram(&store, ASK_PERSON);
    assert_eq!(reason(&opened), Some(HandoffReason::Requested));
    let ticket = opened
        .ticket
        .clone()
        .expect("a requested hand-off opens a ticket");
    assert_eq!(opened.active.as_ref().map(|t| t.id), Some(ticket.id));
    assert_eq!(ticket.status, TicketStatus::Open);
    assert_eq!(ticket.route, Some(Route::Telegram { chat_id: 4242 }));
    assert!(
        !ticket.questions[0].contains("06 12 34 56 78"),
        "the phone number is redacted before it is stored: {:?}",
        ticket.questions
    );

    let taken = conversation::take(&store, ticket.id, Some(&agent("Camille")), now).unwrap();
    assert_eq!(taken.status, TicketStatus::Claimed);
    assert_eq!(taken.claimed_by.as_deref(), Some("Camille"));
    match conversation::take(&store, ticket.id, Some(&agent("Sami")), now) {
        Err(StoreError::AlreadyClaimed(by)) => assert_eq!(by.as_deref(), Some("Camille")),
        other => panic!("a second take must be refused naming who has it: {other:?}"),
    }
    match conversation::answer(
        &store,
        ticket.id,
        Some(&agent("Sami")),
        conversation::agent_text("Je m'en occupe").unwrap(),
        now,
    ) {
        Err(StoreError::AlreadyClaimed(by)) => assert_eq!(by.as_deref(), Some("Camille")),
        other => panic!("another agent's reply must be refused: {other:?}"),
    }

    let text = conversation::agent_text("  Bonjour, je vous rappelle cet après-midi.  ").unwrap();
    let answered =
        conversation::answer(&store, ticket.id, Some(&agent("Camille")), text, now).unwrap();
    assert_eq!(answered.route, Some(Route::Telegram { chat_id: 4242 }));
    assert_eq!(
        answered.text.as_str(),
        "Bonjour, je vous rappelle cet après-midi."
    );
    let turns = store
        .turns_after(opened.conversation, Some(Author::Agent), 0)
        .unwrap();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].text, "Bonjour, je vous rappelle cet après-midi.");
    assert_eq!(turns[0].agent.as_deref(), Some("Camille"));

    let closed = conversation::close(&store, ticket.id, None, now).unwrap();
    assert_eq!(closed.status, TicketStatus::Resolved);
    assert_eq!(closed.closed_by, Some(ClosedBy::Agent));
    assert!(matches!(
        conversation::close(&store, ticket.id, None, now),
        Err(StoreError::Conflict(_))
    ));

    let again = telegram(&store, HOURS_Q);
    assert_eq!(again.reply.outcome, Outcome::Answer);
    let entry = again
        .reply
        .entry
        .as_ref()
        .expect("an answer carries its entry");
    assert_eq!(entry.id, "horaires-mairie");
    assert_eq!(entry.answer, validated("horaires-mairie"));
    assert!(again.active.is_none() && again.ticket.is_none());
    assert_eq!(again.conversation, opened.conversation);
}

#[test]
fn while_a_ticket_is_open_the_web_still_answers_and_a_messenger_only_says_how_to_reach_a_person() {
    let store = SqliteStore::in_memory().unwrap();

    let on_telegram = telegram(&store, ASK_PERSON).ticket.unwrap();
    let quiet = telegram(&store, HOURS_Q);
    assert_eq!(reason(&quiet), Some(HandoffReason::TicketOpen));
    assert!(quiet.reply.entry.is_none());
    assert!(quiet.ticket.is_none(), "no second ticket");
    let still = quiet.active.expect("the ticket is still open");
    assert_eq!(still.id, on_telegram.id);
    assert_eq!(still.questions.len(), 2, "the question joins the ticket");

    let on_web = web(&store, ASK_PERSON).ticket.unwrap();
    assert_ne!(on_web.id, on_telegram.id);
    let answered = web(&store, HOURS_Q);
    assert_eq!(answered.reply.outcome, Outcome::Answer);
    assert_eq!(
        answered.reply.entry.as_ref().map(|e| e.answer.clone()),
        Some(validated("horaires-mairie"))
    );
    assert!(answered.ticket.is_none());
    assert_eq!(answered.active.map(|t| t.id), Some(on_web.id));

    // An option picked on the web is served too; on a messenger it is not.
    let mut pick = inbound(Channel::Web, SESSION, HOURS_Q, Route::Web);
    pick.choice = Some("horaires-mairie".into());
    assert_eq!(receive(&store, pick).reply.outcome, Outcome::Answer);
    let mut pick = inbound(
        Channel::Telegram,
        "4242",
        HOURS_Q,
        Route::Telegram { chat_id: 4242 },
    );
    pick.choice = Some("horaires-mairie".into());
    assert_eq!(
        reason(&receive(&store, pick)),
        Some(HandoffReason::TicketOpen)
    );
}

#[test]
fn a_message_id_seen_before_is_not_handled_twice() {
    let store = SqliteStore::in_memory().unwrap();
    let mut message = inbound(
        Channel::Generic,
        "helpdesk-7",
        HOURS_Q,
        Route::Generic {
            conversation_id: "helpdesk-7".into(),
        },
    );
    message.message_id = Some("m-1".into());
    let first = conversation::receive(&engine(), &store, message.clone(), Utc::now()).unwrap();
    assert!(first.is_some());
    let retry = conversation::receive(&engine(), &store, message, Utc::now()).unwrap();
    assert!(retry.is_none(), "a retry is not answered twice");
}

#[test]
fn the_web_view_shows_the_agent_and_the_person_can_cancel_once() {
    let store = SqliteStore::in_memory().unwrap();
    let engine = engine();
    let now = Utc::now();
    let ticket = web(&store, ASK_PERSON).ticket.unwrap();

    let view = conversation::web_messages(&engine, &store, SESSION, 0, "fr", now).unwrap();
    assert!(view.messages.is_empty());
    let shown = view.ticket.expect("the open ticket is shown");
    assert_eq!(shown.status, TicketStatus::Open);
    assert_eq!(shown.agent, None);

    conversation::take(&store, ticket.id, Some(&agent("Camille")), now).unwrap();
    let text = conversation::agent_text("Je regarde votre dossier.").unwrap();
    conversation::answer(&store, ticket.id, Some(&agent("Camille")), text, now).unwrap();
    let view = conversation::web_messages(&engine, &store, SESSION, 0, "fr", now).unwrap();
    assert_eq!(view.messages.len(), 1);
    assert_eq!(view.messages[0].agent, "Camille");
    assert_eq!(view.messages[0].text, "Je regarde votre dossier.");
    let shown = view.ticket.unwrap();
    assert_eq!(shown.agent.as_deref(), Some("Camille"));
    assert!(
        shown.attended,
        "an agent who took it is there, whatever the hours"
    );
    let after = view.messages[0].id;
    let later = conversation::web_messages(&engine, &store, SESSION, after, "fr", now).unwrap();
    assert!(later.messages.is_empty());

    assert_eq!(
        conversation::cancel(&store, SESSION, now).unwrap(),
        Some(ticket.id)
    );
    assert_eq!(
        store.ticket(ticket.id).unwrap().unwrap().closed_by,
        Some(ClosedBy::Person)
    );
    assert_eq!(conversation::cancel(&store, SESSION, now).unwrap(), None);
    let view = conversation::web_messages(&engine, &store, SESSION, 0, "fr", now).unwrap();
    assert!(view.ticket.is_none());
}

#[test]
fn an_agent_reply_must_say_something_and_not_too_much() {
    assert!(matches!(
        conversation::agent_text("   "),
        Err(conversation::ConversationError::EmptyReply)
    ));
    let long = "a".repeat(conversation::MAX_REPLY_CHARS + 1);
    assert!(matches!(
        conversation::agent_text(&long),
        Err(conversation::ConversationError::ReplyTooLong)
    ));
    let most = "a".repeat(conversation::MAX_REPLY_CHARS);
    assert_eq!(conversation::agent_text(&most).unwrap().as_str(), most);
}
