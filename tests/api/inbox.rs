//! The inbox across a crash: a message acknowledged to the platform but not answered is
//! answered by the next process over the same SQLite file, once; the platform's retries
//! of it are not answered again; a message that cannot be queued is refused (503) and
//! answered when the platform sends it again.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use guichet::channels::inbox::{LEASE, replay_stale};
use guichet::privacy::Redacted;
use guichet::store::{Channel, Queued, Route, SqliteStore, Store};

use crate::channels::{
    HOURS_Q, greeting, post_telegram, telegram_flags, telegram_texts, telegram_update, validated,
};
use crate::helpers::TestApp;
use crate::stub::Stub;

/// What a process that crashed after acknowledging update `update_id` left in the store
/// file of `dir`: the update queued (and marked received) at `at`, held until `at + LEASE`.
fn left_by_a_crash(dir: &tempfile::TempDir, update_id: i64, chat: i64, at: chrono::DateTime<Utc>) {
    let store = SqliteStore::open(&TestApp::db_in(dir)).unwrap();
    let message = Queued {
        channel: Channel::Telegram,
        user: chat.to_string(),
        text: Redacted::new(HOURS_Q),
        choice: None,
        lang: None,
        greet: false,
        route: Route::Telegram { chat_id: chat },
    };
    let queued = store
        .enqueue_inbound(&update_id.to_string(), &message, at, LEASE)
        .unwrap();
    assert!(queued.is_some(), "a first delivery is queued");
}

fn inbox_is_empty(app: &TestApp) -> bool {
    let far = Utc::now() + chrono::Duration::days(2);
    app.state.store.stale_inbound(far, 10).unwrap().is_empty()
}

#[tokio::test]
async fn a_message_left_by_a_crashed_process_is_answered_once_by_the_next_one() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    // The crash was ten minutes ago: its hold on the message has ended.
    left_by_a_crash(&dir, 9001, 880, Utc::now() - chrono::Duration::minutes(10));
    let stub = Stub::start().await;
    let app = TestApp::spawn_on(dir, &telegram_flags(&stub)).await;

    stub.wait_for("/sendMessage", 2).await;
    assert_eq!(
        telegram_texts(&stub, 880),
        vec![greeting(), validated("horaires-mairie")],
        "one reply, word for word"
    );
    assert!(inbox_is_empty(&app));

    // Telegram retries the update it never saw acknowledged: acknowledged, not answered.
    assert_eq!(
        post_telegram(&app, &telegram_update(9001, 880, HOURS_Q)).await,
        200
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(telegram_texts(&stub, 880).len(), 2, "no second reply");
    assert_eq!(replay_stale(&app.state).await, 0);
    assert!(inbox_is_empty(&app));
}

#[tokio::test]
async fn a_retry_while_the_crashed_hold_lasts_is_not_answered_and_the_message_is_answered_once_after()
 {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    // The crashed process's hold ends two seconds from now.
    let at = Utc::now() - LEASE + chrono::Duration::seconds(2);
    left_by_a_crash(&dir, 9002, 881, at);
    let stub = Stub::start().await;
    let app = TestApp::spawn_on(dir, &telegram_flags(&stub)).await;

    assert_eq!(
        post_telegram(&app, &telegram_update(9002, 881, HOURS_Q)).await,
        200
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        telegram_texts(&stub, 881).is_empty(),
        "neither the retry nor the start answers a message still held"
    );

    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(replay_stale(&app.state).await, 1);
    stub.wait_for("/sendMessage", 2).await;
    assert_eq!(
        telegram_texts(&stub, 881),
        vec![greeting(), validated("horaires-mairie")]
    );
    assert_eq!(
        post_telegram(&app, &telegram_update(9002, 881, HOURS_Q)).await,
        200
    );
    assert_eq!(replay_stale(&app.state).await, 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(telegram_texts(&stub, 881).len(), 2, "still one reply");
    assert!(inbox_is_empty(&app));
}

#[tokio::test]
async fn a_message_that_cannot_be_queued_is_refused_and_answered_when_sent_again() {
    let stub = Stub::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let app = TestApp::spawn_on(dir.clone(), &telegram_flags(&stub)).await;
    // Another connection to the same file takes the inbox away (a broken disk, a
    // locked database: the store fails).
    let other = rusqlite::Connection::open(TestApp::db_in(&dir)).unwrap();
    other
        .execute_batch("ALTER TABLE inbox RENAME TO inbox_away")
        .unwrap();
    let update = telegram_update(9003, 882, HOURS_Q);
    let refused = app
        .client
        .post(app.url("/webhooks/telegram"))
        .header("content-type", "application/json")
        .header("x-telegram-bot-api-secret-token", "tg-secret")
        .body(update.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status().as_u16(),
        503,
        "not acknowledged: Telegram will send it again"
    );
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(
        !body.to_string().contains("inbox"),
        "no internals in a 5xx body: {body}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(telegram_texts(&stub, 882).is_empty());

    other
        .execute_batch("ALTER TABLE inbox_away RENAME TO inbox")
        .unwrap();
    assert_eq!(post_telegram(&app, &update).await, 200);
    stub.wait_for("/sendMessage", 2).await;
    assert_eq!(
        telegram_texts(&stub, 882),
        vec![greeting(), validated("horaires-mairie")],
        "the refused message was not marked as received"
    );
    assert!(inbox_is_empty(&app));
}
