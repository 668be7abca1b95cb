//! Faults and attacks from outside, on loopback: personal data in unusual spellings
//! through the web chat and a webhook, looked for in the SQLite file and its WAL.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::channels::{post_telegram, telegram_flags, telegram_update};
use crate::helpers::TestApp;
use crate::stub::Stub;

/// Digits of another script.
fn script(digits: &str, zero: u32) -> String {
    digits
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(zero + d).unwrap(),
            None => c,
        })
        .collect()
}

/// Luhn check digit of `body`, computed here (not by the code under test).
fn luhn(body: &str) -> u32 {
    let sum: u32 = body
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap();
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// A French IBAN's check digits for a 23-digit BBAN (ISO 13616, computed here).
fn fr_iban(bban: &str) -> String {
    let digits = format!("{bban}152700");
    let rest = digits
        .chars()
        .fold(0u32, |r, c| (r * 10 + c.to_digit(10).unwrap()) % 97);
    format!("FR{:02}{bban}", 98 - rest)
}

fn nir_key(body: &str) -> u64 {
    97 - body.parse::<u64>().unwrap() % 97
}

/// One personal value as a resident may type it, and what of it must not be stored:
/// the value as typed, and its canonical form.
struct Value {
    typed: String,
    canonical: String,
}

fn grouped(digits: &str, groups: &[usize], sep: &str) -> String {
    let mut parts = Vec::new();
    let mut at = 0;
    for g in groups {
        parts.push(&digits[at..at + g]);
        at += g;
    }
    parts.join(sep)
}

/// 80 values: each kind of personal data in the spellings the attack run used.
fn generated() -> Vec<Value> {
    let mut out = Vec::new();
    let mut push = |typed: String, canonical: String| out.push(Value { typed, canonical });
    let seps = [
        "\u{a0}", "\u{202f}", "\u{2009}", "/", "  ", "-", ".", " - ", "", " ",
    ];
    let emails = [
        "camille.zorn arobase exemple point fr",
        "camille.zorn at exemple dot fr",
        "camille.zorn[at]exemple[dot]fr",
        "camille.zorn (at) exemple (dot) fr",
        "camille.zorn @ exemple.fr",
        "camille.zorn＠exemple.fr",
        "camille.zorn﹫exemple.fr",
        "camille.zorn(arobase)exemple.fr",
        "camille.zorn [at] exemple . fr",
        "camille.zorn@exemple．fr",
    ];
    for (i, e) in emails.iter().enumerate() {
        let typed = e.replace("zorn", &format!("zorn{}", script(&i.to_string(), 0x30)));
        push(typed, format!("camille.zorn{i}@exemple.fr"));
    }
    // Phones: 10 separators, then scripts, (0), +33 and glued to words.
    for (i, sep) in seps.iter().enumerate() {
        let d = format!("06223344{:02}", 10 + i);
        push(grouped(&d, &[2, 2, 2, 2, 2], sep), d);
    }
    for (i, zero) in [0xFF10, 0x0660, 0x06F0, 0x0966, 0x0E50].iter().enumerate() {
        let d = format!("07223344{:02}", 30 + i);
        push(script(&grouped(&d, &[2, 2, 2, 2, 2], " "), *zero), d);
    }
    for i in 0..5 {
        let d = format!("0622334{:03}", 400 + i);
        let typed = match i {
            0 => format!("+33 (0){}", grouped(&d[1..], &[1, 2, 2, 2, 2], " ")),
            1 => format!("(0){}", grouped(&d[1..], &[1, 2, 2, 2, 2], "\u{a0}")),
            2 => format!("tel{d}svp"),
            3 => format!("+33{}", grouped(&d[1..], &[1, 2, 2, 2, 2], "/")),
            _ => format!("appel{}", script(&d, 0xFF10)),
        };
        push(typed, d);
    }
    for (typed, canonical) in [
        ("+44\u{a0}20\u{a0}7946\u{a0}0958", "442079460958"),
        (
            "0033\u{a0}6\u{a0}22\u{a0}33\u{a0}44\u{a0}60",
            "0033622334460",
        ),
        ("06\n22\n33\n44\n61", "0622334461"),
        ("０６．２２．３３．４４．６２", "0622334462"),
        ("+212\u{a0}612-345678", "212612345678"),
    ] {
        push(typed.to_string(), canonical.to_string());
    }
    // NIR: every separator, full-width, glued.
    for (i, sep) in seps.iter().enumerate() {
        let body = format!("1850578{:06}", 6084 + i);
        let d = format!("{body}{:02}", nir_key(&body));
        push(grouped(&d, &[1, 2, 2, 2, 3, 3, 2], sep), d);
    }
    for i in 0..5 {
        let body = format!("2690499{:06}", 350_012 + i);
        let d = format!("{body}{:02}", nir_key(&body));
        let typed = match i {
            0 => script(&grouped(&d, &[1, 2, 2, 2, 3, 3, 2], " "), 0xFF10),
            1 => format!("NIR{d}"),
            2 => format!("sécu{}merci", grouped(&d, &[1, 2, 2, 2, 3, 3, 2], "-")),
            3 => script(&d, 0x0660),
            _ => grouped(&d, &[1, 2, 2, 2, 3, 3, 2], "\u{a0}-\u{a0}"),
        };
        push(typed, d);
    }
    // IBAN: every separator, full-width.
    for (i, sep) in seps.iter().enumerate() {
        let iban = fr_iban(&format!("300060000112345678{:05}", 90_189 + i));
        let typed = grouped(&iban, &[4, 4, 4, 4, 4, 4, 3], sep);
        push(typed, iban);
    }
    for i in 0..5 {
        let iban = fr_iban(&format!("100960000112345678{:05}", 10_000 + i));
        let g = grouped(&iban, &[4, 4, 4, 4, 4, 4, 3], " ");
        let typed = match i {
            0 => format!("FR{}", script(&g[2..], 0xFF10)),
            1 => format!("iban{iban}"),
            2 => g.replace(' ', " . "),
            3 => g.replace(' ', "\u{202f}"),
            _ => g.replace(' ', "--"),
        };
        push(typed, iban);
    }
    // Cards: every separator, full-width, Arabic-Indic.
    for (i, sep) in seps.iter().enumerate() {
        let body = format!("497010000000{:03}", 100 + i);
        let d = format!("{body}{}", luhn(&body));
        push(grouped(&d, &[4, 4, 4, 4], sep), d);
    }
    for (i, zero) in [0xFF10, 0x0660, 0x0966, 0x30, 0x30].iter().enumerate() {
        let body = format!("513100000000{:03}", 200 + i);
        let d = format!("{body}{}", luhn(&body));
        let typed = match i {
            3 => format!("carte{d}exp"),
            4 => grouped(&d, &[4, 4, 4, 4], "\u{a0}/\u{a0}"),
            _ => script(&grouped(&d, &[4, 4, 4, 4], " "), *zero),
        };
        push(typed, d);
    }
    out
}

/// How many values are in clear in the database file or its WAL.
fn found_in_clear(app: &TestApp, values: &[Value]) -> Vec<String> {
    let db = TestApp::db_in(&app.dir);
    let mut bytes = std::fs::read(&db).unwrap();
    let wal = db.with_file_name("guichet.sqlite-wal");
    if let Ok(w) = std::fs::read(&wal) {
        bytes.extend(w);
    }
    let has = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    values
        .iter()
        .filter(|v| has(&v.typed) || has(&v.canonical))
        .map(|v| v.typed.clone())
        .collect()
}

#[tokio::test]
async fn leak_personal_values_in_unusual_spellings_are_not_stored_in_clear_from_web_or_webhook() {
    let values = generated();
    assert_eq!(values.len(), 80);
    let stub = Stub::start().await;
    // One client sends all 160 messages: above the default per-client rate.
    let mut flags = telegram_flags(&stub);
    flags.extend(["--rate-public", "100000"]);
    let app = TestApp::spawn_with(&flags).await;
    for (i, v) in values.iter().enumerate() {
        let text = format!("Bonjour, voici {} pour mon dossier", v.typed);
        let session = format!("leak-session-{i:04}-abcdef");
        let r = app
            .post_json(
                "/v1/chat",
                &json!({ "message": text, "session_id": session }),
            )
            .await;
        assert_eq!(r.status(), 200, "{text}");
        let update = telegram_update(70_000 + i as i64, 500 + i as i64, &text);
        assert_eq!(post_telegram(&app, &update).await, 200);
    }
    // Every webhook message answered and out of the inbox.
    let far = Utc::now() + chrono::Duration::days(2);
    for _ in 0..600 {
        if app.state.store.stale_inbound(far, 1).unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(app.state.store.stale_inbound(far, 1).unwrap().is_empty());
    let leaked = found_in_clear(&app, &values);
    eprintln!(
        "leak: {} of {} generated values found in clear in the database and its WAL",
        leaked.len(),
        values.len()
    );
    assert!(leaked.is_empty(), "in clear: {leaked:#?}");
}

/// The person's turns and the daily counts' sum in a server's SQLite file.
fn turns_and_counts(dir: &tempfile::TempDir) -> (i64, i64) {
    let db = rusqlite::Connection::open(TestApp::db_in(dir)).unwrap();
    let turns = db
        .query_row(
            "SELECT count(*) FROM turns WHERE author = 'person'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let counts = db
        .query_row("SELECT coalesce(sum(n), 0) FROM daily_counts", [], |r| {
            r.get(0)
        })
        .unwrap_or(-1);
    (turns, counts)
}

#[tokio::test]
async fn once_a_replay_after_a_crash_mid_reply_sends_only_the_pieces_not_accepted_and_records_the_question_once()
 {
    use crate::channels::{HOURS_Q, greeting, telegram_texts, validated};
    // The first platform accepts the greeting, then hangs on the answer: the process
    // dies while waiting.
    let first = Stub::start().await;
    first.slow_after(1, 60_000);
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let crashed = TestApp::spawn_on(dir.clone(), &telegram_flags(&first)).await;
    assert_eq!(
        post_telegram(&crashed, &telegram_update(9101, 901, HOURS_Q)).await,
        200
    );
    first.wait_for("/sendMessage", 1).await;
    assert_eq!(telegram_texts(&first, 901), vec![greeting()]);
    let (turns, counts) = turns_and_counts(&dir);
    assert_eq!(turns, 1);
    // The crash: its lease is over (a dead process's rows are taken at once: see the
    // store's tests), and another process takes the message.
    let db = rusqlite::Connection::open(TestApp::db_in(&dir)).unwrap();
    db.execute("UPDATE inbox SET claimed_until = 0", [])
        .unwrap();
    let second = Stub::start().await;
    let next = TestApp::spawn_on(dir.clone(), &telegram_flags(&second)).await;
    second.wait_for("/sendMessage", 1).await;
    assert_eq!(
        telegram_texts(&second, 901),
        vec![validated("horaires-mairie")],
        "the greeting the platform accepted is not sent again"
    );
    assert_eq!(
        turns_and_counts(&dir),
        (1, counts),
        "the question is recorded once, and counted once"
    );
    let far = Utc::now() + chrono::Duration::days(2);
    assert!(next.state.store.stale_inbound(far, 1).unwrap().is_empty());
}

/// `guichet serve` over `db`, Telegram's API at `stub`; returns once it is ready.
async fn serve(db: &std::path::Path, stub: &Stub, addr: &str) -> std::process::Child {
    use std::process::{Command, Stdio};
    let root = crate::helpers::root();
    let path = |p: &str| root.join(p).display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("serve")
        .args(["--bind", addr, "--db", &db.display().to_string()])
        .args(["--corpus", &path("corpus"), "--models", &path("models")])
        .args(["--cache", &path("target/test-cache")])
        .args(["--policy", &path("calibration/policy.toml")])
        .args(telegram_flags(stub))
        .env("GUICHET_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("the guichet binary starts");
    let client = reqwest::Client::new();
    // A liveness bound, not a speed claim: with a cold embedding cache (a fresh clone)
    // the first start embeds the whole corpus, which took over two minutes on a busy
    // 2-core machine.
    for _ in 0..3000 {
        let ready = client
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().ok();
    child.wait().ok();
    panic!("guichet serve not ready");
}

fn inbox_rows(db: &std::path::Path) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT count(*) FROM inbox", [], |r| r.get(0))
        .unwrap()
}

/// Kills `guichet serve` with SIGKILL four times (each restart loads the model: the
/// figure in the notes was measured with ten) while replies are being delivered to a
/// platform that answers in 0.7 s, then lets a last process finish: every message is
/// answered, its question recorded once, and the duplicates per crash are counted.
#[tokio::test]
async fn once_kill_9_during_slow_sends_loses_nothing_and_duplicates_at_most_a_piece_per_crash() {
    use crate::channels::{HOURS_Q, greeting, telegram_texts, validated};
    const KILLS: usize = 4;
    const PER_ROUND: i64 = 3;
    let stub = Stub::start().await;
    stub.slow_after(0, 700);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("guichet.sqlite");
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let client = reqwest::Client::new();
    let mut chats = Vec::new();
    let mut takeovers = Vec::new();
    for round in 0..=KILLS {
        let mut child = serve(&db, &stub, &addr).await;
        let ready = std::time::Instant::now();
        if round > 0 {
            // The rows the killed process held are taken at the first look.
            for _ in 0..600 {
                if inbox_rows(&db) == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            takeovers.push(ready.elapsed());
        }
        if round == KILLS {
            assert_eq!(inbox_rows(&db), 0, "the last process answers everything");
            child.kill().unwrap();
            child.wait().unwrap();
            break;
        }
        for i in 0..PER_ROUND {
            let chat = 1000 + round as i64 * 10 + i;
            chats.push(chat);
            let status = client
                .post(format!("http://{addr}/webhooks/telegram"))
                .header("content-type", "application/json")
                .header("x-telegram-bot-api-secret-token", "tg-secret")
                .body(telegram_update(chat * 7, chat, HOURS_Q))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status.as_u16(), 200);
        }
        // Somewhere in the sends (two pieces of 0.7 s per message, three at once).
        let at = 300 + (round as u64 * 370) % 1200;
        tokio::time::sleep(Duration::from_millis(at)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let want = [greeting(), validated("horaires-mairie")];
    let mut duplicates = 0;
    for chat in &chats {
        let texts = telegram_texts(&stub, *chat);
        for w in &want {
            let n = texts.iter().filter(|t| *t == w).count();
            assert!(n >= 1, "chat {chat}: a piece was lost: {texts:?}");
            duplicates += n - 1;
        }
        assert_eq!(
            texts.len(),
            texts.iter().filter(|t| want.contains(t)).count()
        );
    }
    let turns: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM turns WHERE author = 'person'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let slowest = takeovers.iter().max().unwrap();
    eprintln!(
        "once: {duplicates} duplicate pieces over {KILLS} kills ({} messages, {} pieces); \
         {turns} questions recorded for {} messages; inbox emptied at most {slowest:?} after a restart was ready",
        chats.len(),
        chats.len() * 2,
        chats.len()
    );
    assert_eq!(turns, chats.len() as i64, "each question recorded once");
    // A duplicate needs a kill between the platform's answer and its record: at most
    // one piece per message in flight at the kill.
    assert!(
        duplicates <= KILLS * PER_ROUND as usize,
        "{duplicates} duplicates"
    );
}

#[tokio::test]
async fn leak_a_whatsapp_senders_phone_is_not_in_the_database_while_its_ticket_is_open() {
    use crate::channels::{meta_app, meta_sign, post_raw};
    let phone = "33698765432";
    let stub = Stub::start().await;
    let app = meta_app(&stub).await;
    let body = serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "33199000000", "phone_number_id": "PNID" },
            "contacts": [{ "profile": { "name": "A" }, "wa_id": phone }],
            "messages": [{ "from": phone, "id": "wamid.ROUTE", "timestamp": "1",
                           "type": "text", "text": { "body": "je veux parler à un conseiller" } }]
        }}]}]
    }))
    .unwrap();
    let sig = meta_sign("app-secret", &body);
    let headers = [("x-hub-signature-256", sig.as_str())];
    assert_eq!(
        post_raw(&app, "/webhooks/whatsapp", &body, &headers).await,
        200
    );
    let sent = stub.wait_for("/PNID/messages", 2).await;
    assert!(
        sent.iter().all(|r| r.body["to"] == phone),
        "replied to the sender"
    );
    let tickets = app.state.store.tickets(None).unwrap();
    assert_eq!(tickets.len(), 1, "a hand-off ticket is open");
    assert!(
        matches!(&tickets[0].route, Some(guichet::store::Route::Whatsapp { to, .. }) if to == phone),
        "the store still knows how to reply"
    );
    let values = [Value {
        typed: phone.to_string(),
        canonical: "+33 6 98 76 54 32".to_string(),
    }];
    assert_eq!(found_in_clear(&app, &values), Vec::<String>::new());
}
