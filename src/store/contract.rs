//! The store's contract: one suite of behaviours every backend must keep, run against
//! SQLite and PostgreSQL alike (what passes on one must pass on the other). A backend
//! gives a [`Fixture`]: stores over one database (several of them stand for several
//! processes or replicas), another database, and the few observations the seam does not
//! expose (failed deliveries, the inbox rows as stored, a worker's heartbeat).

#![allow(clippy::missing_panics_doc)]

use chrono::{DateTime, Duration as Days, TimeZone, Utc};

use super::*;
use crate::privacy::Redacted;
use crate::reply::{HandoffReason, Outcome};

/// One database of one backend, for one test.
pub trait Fixture: Sync {
    /// A new store over this database: a process or replica of its own.
    fn open(&self) -> Box<dyn Store>;
    /// A store over another, new database.
    fn other_database(&self) -> Box<dyn Store>;
    /// Failed deliveries recorded: channel, attempts, detail; oldest first.
    fn failed_deliveries(&self) -> Vec<(String, u32, String)>;
    /// The inbox rows' messages as stored.
    fn inbox_rows(&self) -> Vec<String>;
    /// Sets a worker's last heartbeat, as a process that stopped beating.
    fn set_heartbeat(&self, worker: &str, at: DateTime<Utc>);
    /// Says a worker runs as `pid` started at `started` (a process that is gone).
    fn set_process(&self, worker: &str, pid: u32, started: &str);
}

pub mod cases {
    use super::*;

    fn person(text: &str) -> NewTurn {
        NewTurn {
            author: Author::Person,
            kind: TurnKind::Message,
            text: Redacted::new(text),
            outcome: Some(Outcome::Answer),
            entry_id: Some("horaires-mairie".into()),
            answer_sha256: Some("ab".into()),
            confidence: Some(0.9),
            scores: None,
            agent: None,
        }
    }

    fn ticket_for(conversation: i64, route: Route) -> NewTicket {
        NewTicket {
            channel: Channel::Telegram,
            conversation,
            reason: HandoffReason::Requested,
            question: Redacted::new("je veux parler à quelqu'un, 06 12 34 56 78"),
            candidates: vec!["horaires-mairie".into()],
            service: "accueil".into(),
            route,
        }
    }

    pub fn pseudonyms_are_stable_keyed_and_not_the_raw_id(f: &dyn Fixture) {
        let a = f.open();
        let b = f.other_database();
        let p = a.pseudonym(Channel::Telegram, "123456");
        assert_eq!(p, a.pseudonym(Channel::Telegram, "123456"));
        assert_ne!(p, a.pseudonym(Channel::Messenger, "123456"));
        assert_ne!(
            p,
            b.pseudonym(Channel::Telegram, "123456"),
            "each database has its key"
        );
        assert!(!p.as_str().contains("123456"));
    }

    pub fn a_conversation_counts_its_turns(f: &dyn Fixture) {
        let s = f.open();
        let now = Utc::now();
        let c = s
            .conversation(Channel::Web, &s.pseudonym(Channel::Web, "abc"), now)
            .unwrap();
        assert_eq!(c.turns, 0);
        s.record_turn(c.id, &person("bonjour"), now).unwrap();
        let again = s
            .conversation(Channel::Web, &s.pseudonym(Channel::Web, "abc"), now)
            .unwrap();
        assert_eq!((again.id, again.turns), (c.id, 1));
        assert_eq!(
            s.conversation(
                Channel::Telegram,
                &s.pseudonym(Channel::Telegram, "abc"),
                now
            )
            .unwrap()
            .turns,
            0
        );
    }

    pub fn turns_are_stored_redacted(f: &dyn Fixture) {
        let s = f.open();
        let now = Utc::now();
        let c = s
            .conversation(Channel::Web, &s.pseudonym(Channel::Web, "abc"), now)
            .unwrap();
        s.record_turn(c.id, &person("mon mail est a@b.fr"), now)
            .unwrap();
        let turns = s.turns_after(c.id, None, 0).unwrap();
        assert_eq!(turns[0].text, "mon mail est [email]");
    }

    pub fn a_ticket_goes_open_claimed_resolved_and_forgets_its_route(f: &dyn Fixture) {
        let s = f.open();
        let now = Utc::now();
        let c = s
            .conversation(Channel::Telegram, &s.pseudonym(Channel::Telegram, "p"), now)
            .unwrap();
        let t = s
            .open_ticket(&ticket_for(c.id, Route::Telegram { chat_id: 42 }), now)
            .unwrap();
        assert_eq!(t.status, TicketStatus::Open);
        assert_eq!(t.questions, vec!["je veux parler à quelqu'un, [téléphone]"]);
        assert_eq!(s.active_ticket(c.id).unwrap().map(|t| t.id), Some(t.id));
        s.add_question(t.id, &Redacted::new("allo ?")).unwrap();
        let claimed = s.claim_ticket(t.id, Some("Camille").into(), now).unwrap();
        assert_eq!(claimed.status, TicketStatus::Claimed);
        assert_eq!(claimed.claimed_by.as_deref(), Some("Camille"));
        assert_eq!(claimed.questions.len(), 2);
        assert_eq!(claimed.route, Some(Route::Telegram { chat_id: 42 }));
        assert_eq!(s.tickets(Some(TicketStatus::Open)).unwrap().len(), 0);
        let resolved = s.resolve_ticket(t.id, ClosedBy::Agent, now).unwrap();
        assert_eq!(resolved.status, TicketStatus::Resolved);
        assert_eq!(resolved.closed_by, Some(ClosedBy::Agent));
        assert_eq!(resolved.route, None);
        assert!(s.active_ticket(c.id).unwrap().is_none());
        assert!(matches!(
            s.resolve_ticket(t.id, ClosedBy::Person, now),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.claim_ticket(999, Claimant::default(), now),
            Err(StoreError::NotFound)
        ));
    }

    pub fn a_taken_ticket_cannot_be_taken_again_and_the_refusal_names_who_has_it(f: &dyn Fixture) {
        let s = f.open();
        let now = Utc::now();
        let c = s
            .conversation(Channel::Web, &s.pseudonym(Channel::Web, "p"), now)
            .unwrap();
        let t = s.open_ticket(&ticket_for(c.id, Route::Web), now).unwrap();
        s.claim_ticket(t.id, Some("Camille").into(), now).unwrap();
        for second in [Some("Karim"), Some("Camille"), None] {
            match s.claim_ticket(t.id, second.into(), now) {
                Err(StoreError::AlreadyClaimed(by)) => assert_eq!(by.as_deref(), Some("Camille")),
                other => panic!("second claim by {second:?}: {other:?}"),
            }
        }
        // Camille replies on her ticket; Karim may not.
        assert_eq!(
            s.take_for_reply(t.id, Some("Camille").into(), now)
                .unwrap()
                .claimed_by
                .as_deref(),
            Some("Camille")
        );
        assert!(matches!(
            s.take_for_reply(t.id, Some("Karim").into(), now),
            Err(StoreError::AlreadyClaimed(Some(by))) if by == "Camille"
        ));
        // A reply on an open ticket takes it.
        let c2 = s
            .conversation(Channel::Web, &s.pseudonym(Channel::Web, "q"), now)
            .unwrap();
        let t2 = s.open_ticket(&ticket_for(c2.id, Route::Web), now).unwrap();
        let taken = s.take_for_reply(t2.id, Some("Karim").into(), now).unwrap();
        assert_eq!(
            (taken.status, taken.claimed_by.as_deref()),
            (TicketStatus::Claimed, Some("Karim"))
        );
    }

    pub fn of_concurrent_claims_from_several_replicas_exactly_one_wins(f: &dyn Fixture) {
        let now = Utc::now();
        let id = {
            let s = f.open();
            let c = s
                .conversation(Channel::Web, &s.pseudonym(Channel::Web, "p"), now)
                .unwrap();
            s.open_ticket(&ticket_for(c.id, Route::Web), now)
                .unwrap()
                .id
        };
        // Separate stores, as several processes (or replicas) have.
        let stores: Vec<Box<dyn Store>> = (0..8).map(|_| f.open()).collect();
        let barrier = std::sync::Barrier::new(stores.len());
        let wins: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = stores
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        let name = format!("agent {i}");
                        match s.claim_ticket(id, Some(name.as_str()).into(), now) {
                            Ok(_) => 1,
                            Err(StoreError::AlreadyClaimed(Some(_))) => 0,
                            Err(e) => panic!("{e}"),
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1);
    }

    pub fn of_concurrent_claims_of_one_stale_inbox_row_exactly_one_wins(f: &dyn Fixture) {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let lease = Days::minutes(5);
        let first = f.open();
        let item = first
            .enqueue_inbound("wamid.9", &queued("horaires ?"), t0, lease)
            .unwrap()
            .unwrap();
        let after = t0 + lease;
        let stores: Vec<Box<dyn Store>> = (0..6).map(|_| f.open()).collect();
        let barrier = std::sync::Barrier::new(stores.len());
        let claimed: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = stores
                .iter()
                .map(|s| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        match s.claim_inbound(item.id, after, lease).unwrap() {
                            Claim::Claimed(_) => 1,
                            Claim::Unavailable => 0,
                            other => panic!("{other:?}"),
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(claimed, 1);
    }

    pub fn traffic_counts_person_turns_by_day_channel_outcome_and_entry(f: &dyn Fixture) {
        let s = f.open();
        let day1 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let day2 = day1 + Days::days(1);
        let web = s
            .conversation(Channel::Web, &s.pseudonym(Channel::Web, "w"), day1)
            .unwrap();
        let tg = s
            .conversation(
                Channel::Telegram,
                &s.pseudonym(Channel::Telegram, "t"),
                day1,
            )
            .unwrap();
        s.record_turn(web.id, &person("horaires ?"), day1).unwrap();
        s.record_turn(web.id, &person("horaires ??"), day1).unwrap();
        let handoff = NewTurn {
            outcome: Some(Outcome::Handoff),
            entry_id: None,
            answer_sha256: None,
            scores: Some(serde_json::json!({
                "margin": 0.01,
                "candidates": [{ "id": "etat-civil", "score": 0.4 }, { "id": "x", "score": 0.3 }]
            })),
            ..person("un nid de frelons")
        };
        s.record_turn(tg.id, &handoff, day2).unwrap();
        let nothing_close = NewTurn {
            scores: None,
            ..handoff
        };
        s.record_turn(tg.id, &nothing_close, day2).unwrap();
        let agent = NewTurn {
            author: Author::Agent,
            ..person("je regarde")
        };
        s.record_turn(tg.id, &agent, day2).unwrap();
        // Before the period: not counted.
        s.record_turn(web.id, &person("vieux"), day1 - Days::days(3))
            .unwrap();

        let counts = s.traffic_since(day1 - Days::days(1)).unwrap();
        let row = |day: DateTime<Utc>, channel, outcome, entry: Option<&str>, n| TrafficCount {
            day: day.date_naive(),
            channel,
            outcome,
            entry: entry.map(String::from),
            n,
        };
        assert_eq!(
            counts,
            vec![
                row(
                    day1,
                    Channel::Web,
                    Outcome::Answer,
                    Some("horaires-mairie"),
                    2
                ),
                row(day2, Channel::Telegram, Outcome::Handoff, None, 1),
                row(
                    day2,
                    Channel::Telegram,
                    Outcome::Handoff,
                    Some("etat-civil"),
                    1
                ),
            ]
        );
    }

    pub fn a_clarification_the_person_resolved_by_picking_an_option_is_not_a_gap(f: &dyn Fixture) {
        let s = f.open();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let at = |min: i64| t0 + chrono::Duration::minutes(min);
        let with = |text: &str, outcome| NewTurn {
            outcome: Some(outcome),
            ..person(text)
        };
        let a = s
            .conversation(Channel::Web, &s.pseudonym(Channel::Web, "a"), t0)
            .unwrap();
        let b = s
            .conversation(Channel::Web, &s.pseudonym(Channel::Web, "b"), t0)
            .unwrap();
        // a: clarified, then an option picked (resolved); later a hand-off (a gap).
        s.record_turn(a.id, &with("cantine ?", Outcome::Clarify), at(0))
            .unwrap();
        let picked = NewTurn {
            kind: TurnKind::Option,
            ..with("cantine-tarifs", Outcome::Answer)
        };
        s.record_turn(a.id, &picked, at(1)).unwrap();
        s.record_turn(a.id, &with("un nid de frelons", Outcome::Handoff), at(2))
            .unwrap();
        // b: clarified, then the person typed something else (still a gap), and a last
        // clarification left without any next turn (a gap).
        s.record_turn(b.id, &with("piscine", Outcome::Clarify), at(3))
            .unwrap();
        s.record_turn(b.id, &with("horaires", Outcome::Answer), at(4))
            .unwrap();
        s.record_turn(b.id, &with("jardin partagé", Outcome::Clarify), at(5))
            .unwrap();
        // An option picked in another conversation does not resolve b's clarification.
        s.record_turn(a.id, &picked, at(6)).unwrap();

        let texts: Vec<String> = s
            .unanswered_since(t0, 10)
            .unwrap()
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(
            texts,
            vec!["jardin partagé", "piscine", "un nid de frelons"]
        );
    }

    pub fn an_inbound_message_is_processed_once(f: &dyn Fixture) {
        let s = f.open();
        let now = Utc::now();
        assert!(s.first_delivery(Channel::Messenger, "mid.1", now).unwrap());
        assert!(!s.first_delivery(Channel::Messenger, "mid.1", now).unwrap());
        assert!(s.first_delivery(Channel::Whatsapp, "mid.1", now).unwrap());
    }

    fn queued(text: &str) -> Queued {
        Queued {
            channel: Channel::Whatsapp,
            user: "33612345678".into(),
            text: Redacted::new(text),
            choice: None,
            lang: None,
            greet: false,
            route: Route::Whatsapp {
                phone_number_id: "PNID".into(),
                to: "33612345678".into(),
            },
        }
    }

    pub fn once_rows_of_a_silent_or_dead_worker_are_taken_at_once_and_a_live_ones_are_not(
        f: &dyn Fixture,
    ) {
        let now = Utc::now();
        let lease = Days::minutes(5);
        let crashed = f.open();
        let alive = f.open();
        let silent = crashed
            .enqueue_inbound("m1", &queued("a"), now, lease)
            .unwrap()
            .unwrap();
        let held = alive
            .enqueue_inbound("m2", &queued("b"), now, lease)
            .unwrap()
            .unwrap();
        let next = f.open();
        assert!(
            next.stale_inbound(now, 10).unwrap().is_empty(),
            "both holders beat: their leases stand"
        );
        // The first holder stops beating, as a process that crashed.
        f.set_heartbeat(
            &crashed.worker().id,
            now - HEARTBEAT_GRACE - Days::seconds(1),
        );
        assert_eq!(next.stale_inbound(now, 10).unwrap(), vec![silent.id]);
        assert!(matches!(
            next.claim_inbound(silent.id, now, lease).unwrap(),
            Claim::Claimed(_)
        ));
        assert!(matches!(
            next.claim_inbound(held.id, now, lease).unwrap(),
            Claim::Unavailable
        ));

        // A holder whose process is gone on this machine: taken without waiting.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        if !alive.worker().boot_id.is_empty() {
            f.set_process(&alive.worker().id, pid, "1");
            assert_eq!(next.stale_inbound(now, 10).unwrap(), vec![held.id]);
        }
    }

    pub fn once_an_inbox_row_keeps_its_reply_and_the_pieces_sent(f: &dyn Fixture) {
        let s = f.open();
        let now = Utc::now();
        let item = s
            .enqueue_inbound("m1", &queued("a"), now, Days::seconds(1))
            .unwrap()
            .unwrap();
        assert_eq!((item.reply, item.sent), (None, 0));
        let reply =
            serde_json::json!([{ "text": "un", "choices": [] }, { "text": "deux", "choices": [] }]);
        s.record_reply(item.id, &reply).unwrap();
        s.record_sent(item.id, 1).unwrap();
        let later = now + Days::seconds(2);
        let Claim::Claimed(again) = s.claim_inbound(item.id, later, Days::seconds(1)).unwrap()
        else {
            panic!("the row's lease ended");
        };
        assert_eq!((again.reply, again.sent), (Some(reply), 1));
    }

    pub fn an_inbound_message_is_queued_once_redacted_and_claimed_by_its_receiver(f: &dyn Fixture) {
        let s = f.open();
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let lease = Days::minutes(5);
        let message = queued("mon mail est a@b.fr, les horaires ?");
        let item = s
            .enqueue_inbound("wamid.1", &message, now, lease)
            .unwrap()
            .expect("a first delivery is queued");
        assert_eq!(
            item.message.text.as_str(),
            "mon mail est [email], les horaires ?"
        );
        assert_eq!((item.attempts, item.claimed_until), (1, now + lease));
        for retry in [now, now + Days::minutes(10)] {
            assert_eq!(
                s.enqueue_inbound("wamid.1", &message, retry, lease)
                    .unwrap(),
                None,
                "a retry queues nothing"
            );
        }
        assert!(
            !s.first_delivery(Channel::Whatsapp, "wamid.1", now).unwrap(),
            "the enqueue marked the id processed"
        );
        let rows = f.inbox_rows();
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].contains("a@b.fr"), "stored redacted: {}", rows[0]);
        assert!(!rows[0].contains("wamid"));
        assert!(
            !rows[0].contains("33612345678"),
            "the route is sealed: {}",
            rows[0]
        );
        // The same id on another channel is another message.
        let telegram = Queued {
            channel: Channel::Telegram,
            ..message
        };
        assert!(
            s.enqueue_inbound("wamid.1", &telegram, now, lease)
                .unwrap()
                .is_some()
        );
    }

    pub fn the_inbox_depth_counts_every_workers_rows_and_names_the_oldest(f: &dyn Fixture) {
        let (a, b) = (f.open(), f.open());
        assert_eq!(a.inbox_depth().unwrap(), InboxDepth::default());
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let lease = Days::minutes(5);
        let first = a
            .enqueue_inbound("wamid.d1", &queued("horaires ?"), t0, lease)
            .unwrap()
            .unwrap();
        b.enqueue_inbound(
            "wamid.d2",
            &queued("tarifs ?"),
            t0 + Days::minutes(3),
            lease,
        )
        .unwrap()
        .unwrap();
        // Seen alike from either worker: the inbox is the store's, not a process's.
        let both = InboxDepth {
            rows: 2,
            oldest: Some(t0),
        };
        assert_eq!(a.inbox_depth().unwrap(), both);
        assert_eq!(b.inbox_depth().unwrap(), both);
        a.finish_inbound(first.id).unwrap();
        assert_eq!(
            b.inbox_depth().unwrap(),
            InboxDepth {
                rows: 1,
                oldest: Some(t0 + Days::minutes(3)),
            }
        );
    }

    pub fn a_claimed_row_is_not_claimed_again_before_its_lease_ends_and_finish_removes_it(
        f: &dyn Fixture,
    ) {
        let s = f.open();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let lease = Days::minutes(5);
        let item = s
            .enqueue_inbound("wamid.2", &queued("horaires ?"), t0, lease)
            .unwrap()
            .unwrap();
        // The receiver holds it: nothing is stale, nobody else can take it.
        let during = t0 + Days::minutes(4);
        assert!(s.stale_inbound(during, 10).unwrap().is_empty());
        assert_eq!(
            s.claim_inbound(item.id, during, lease).unwrap(),
            Claim::Unavailable
        );
        // The receiver crashed: once the lease ends the row comes back, for one taker.
        let after = t0 + lease;
        assert_eq!(s.stale_inbound(after, 10).unwrap(), vec![item.id]);
        let Claim::Claimed(again) = s.claim_inbound(item.id, after, lease).unwrap() else {
            panic!("a stale row is claimed");
        };
        assert_eq!(again.message, item.message);
        assert_eq!((again.attempts, again.received_at), (2, t0));
        assert_eq!(
            s.claim_inbound(item.id, after, lease).unwrap(),
            Claim::Unavailable,
            "a second replica does not take it too"
        );
        assert!(s.stale_inbound(after, 10).unwrap().is_empty());
        s.finish_inbound(item.id).unwrap();
        let much_later = after + Days::days(1);
        assert!(s.stale_inbound(much_later, 10).unwrap().is_empty());
        assert_eq!(
            s.claim_inbound(item.id, much_later, lease).unwrap(),
            Claim::Unavailable
        );
    }

    pub fn attempts_are_counted_and_a_poison_row_is_given_up_after_the_limit(f: &dyn Fixture) {
        let s = f.open();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let lease = Days::minutes(5);
        let item = s
            .enqueue_inbound("wamid.3", &queued("horaires ?"), t0, lease)
            .unwrap()
            .unwrap();
        let mut now = t0;
        for attempt in 2..=INBOX_MAX_ATTEMPTS {
            now += lease;
            match s.claim_inbound(item.id, now, lease).unwrap() {
                Claim::Claimed(i) => assert_eq!(i.attempts, attempt),
                other => panic!("attempt {attempt}: {other:?}"),
            }
        }
        assert!(f.failed_deliveries().is_empty());
        now += lease;
        assert_eq!(s.stale_inbound(now, 10).unwrap(), vec![item.id]);
        assert_eq!(
            s.claim_inbound(item.id, now, lease).unwrap(),
            Claim::GaveUp {
                channel: Channel::Whatsapp,
                attempts: INBOX_MAX_ATTEMPTS
            }
        );
        assert!(s.stale_inbound(now + Days::days(1), 10).unwrap().is_empty());
        let failed = f.failed_deliveries();
        assert_eq!(failed.len(), 1, "the loss is recorded, not silent");
        assert_eq!(
            (failed[0].0.as_str(), failed[0].1),
            ("whatsapp", INBOX_MAX_ATTEMPTS)
        );
    }

    pub fn purge_gives_up_on_inbox_rows_older_than_a_day(f: &dyn Fixture) {
        let s = f.open();
        let now = Utc::now();
        let lease = Days::minutes(5);
        s.enqueue_inbound("old", &queued("horaires ?"), now - Days::hours(25), lease)
            .unwrap()
            .unwrap();
        let recent = s
            .enqueue_inbound("new", &queued("horaires ?"), now - Days::hours(1), lease)
            .unwrap()
            .unwrap();
        let purged = s.purge(now - Days::days(30), now).unwrap();
        assert_eq!(purged.inbox, 1);
        assert_eq!(s.stale_inbound(now, 10).unwrap(), vec![recent.id]);
        assert_eq!(f.failed_deliveries().len(), 1);
    }

    pub fn purge_deletes_expired_rows_and_keeps_counts(f: &dyn Fixture) {
        let s = f.open();
        let now = Utc::now();
        let old = now - Days::days(40);
        let c_old = s
            .conversation(Channel::Web, &s.pseudonym(Channel::Web, "old"), old)
            .unwrap();
        s.record_turn(c_old.id, &person("ancienne"), old).unwrap();
        s.open_ticket(&ticket_for(c_old.id, Route::Web), old)
            .unwrap();
        s.first_delivery(Channel::Telegram, "1", old).unwrap();
        let c_new = s
            .conversation(Channel::Web, &s.pseudonym(Channel::Web, "new"), now)
            .unwrap();
        s.record_turn(c_new.id, &person("récente"), now).unwrap();
        s.first_delivery(Channel::Telegram, "2", now).unwrap();

        let purged = s.purge(now - Days::days(30), now).unwrap();
        assert_eq!(
            purged,
            Purged {
                turns: 1,
                tickets: 1,
                conversations: 1,
                processed: 1,
                deliveries: 0,
                inbox: 0
            }
        );
        assert!(s.turns_after(c_old.id, None, 0).unwrap().is_empty());
        assert_eq!(s.turns_after(c_new.id, None, 0).unwrap().len(), 1);
        assert!(s.tickets(None).unwrap().is_empty());
        assert!(!s.first_delivery(Channel::Telegram, "2", now).unwrap());
        let counts = s.daily_counts().unwrap();
        assert!(
            counts
                .iter()
                .any(|(_, ch, kind, n)| ch == "telegram" && kind == "ticket" && *n == 1)
        );
        assert_eq!(
            counts
                .iter()
                .filter(|c| c.2 == "answer")
                .map(|c| c.3)
                .sum::<u64>(),
            2
        );
    }

    pub fn a_reopened_store_keeps_tickets_dedupe_and_pseudonyms(f: &dyn Fixture) {
        let now = Utc::now();
        let (pseudonym, ticket) = {
            let s = f.open();
            let c = s
                .conversation(Channel::Telegram, &s.pseudonym(Channel::Telegram, "p"), now)
                .unwrap();
            let t = s
                .open_ticket(&ticket_for(c.id, Route::Telegram { chat_id: 7 }), now)
                .unwrap();
            s.first_delivery(Channel::Telegram, "update-1", now)
                .unwrap();
            (s.pseudonym(Channel::Telegram, "7"), t.id)
        };
        let s = f.open();
        assert_eq!(s.pseudonym(Channel::Telegram, "7"), pseudonym);
        assert_eq!(
            s.ticket(ticket).unwrap().unwrap().status,
            TicketStatus::Open
        );
        assert!(
            !s.first_delivery(Channel::Telegram, "update-1", now)
                .unwrap()
        );
    }

    pub fn an_exchange_records_the_turn_the_ticket_and_the_kept_reply_together(f: &dyn Fixture) {
        let s = f.open();
        let now = Utc::now();
        let c = s
            .conversation(Channel::Whatsapp, &s.pseudonym(Channel::Whatsapp, "p"), now)
            .unwrap();
        let item = s
            .enqueue_inbound(
                "wamid.x",
                &queued("je veux parler à quelqu'un"),
                now,
                Days::minutes(5),
            )
            .unwrap()
            .unwrap();
        let reply = serde_json::json!([{ "text": "Un agent va vous répondre.", "choices": [] }]);
        let handoff = NewTurn {
            outcome: Some(Outcome::Handoff),
            entry_id: None,
            answer_sha256: None,
            ..person("je veux parler à quelqu'un")
        };
        let done = s
            .record_exchange(
                &Exchange {
                    conversation: c.id,
                    turn: handoff,
                    ticket: TicketStep::Open(ticket_for(c.id, Route::Web)),
                    kept_reply: Some((item.id, reply.clone())),
                },
                now,
            )
            .unwrap();
        let opened = done.opened.expect("the hand-off opened a ticket");
        assert_eq!(done.active.as_ref().map(|t| t.id), Some(opened.id));
        assert_eq!(opened.reason, HandoffReason::Requested);
        let turns = s.turns_after(c.id, None, 0).unwrap();
        assert_eq!(turns.len(), 1);
        assert_eq!(
            (turns[0].id, turns[0].outcome, turns[0].kind),
            (done.turn, Some(Outcome::Handoff), TurnKind::Message)
        );
        let Claim::Claimed(kept) = s
            .claim_inbound(item.id, now + Days::minutes(5), Days::minutes(5))
            .unwrap()
        else {
            panic!("the row's lease ended");
        };
        assert_eq!(kept.reply, Some(reply.clone()));

        // A second message while the ticket is open joins it.
        let more = s
            .record_exchange(
                &Exchange {
                    conversation: c.id,
                    turn: person("allo ?"),
                    ticket: TicketStep::AddQuestion(opened.id),
                    kept_reply: None,
                },
                now,
            )
            .unwrap();
        assert!(more.opened.is_none());
        assert_eq!(more.active.map(|t| t.questions.len()), Some(2));

        // All or nothing: a question for a ticket closed in between fails the exchange,
        // and neither the turn nor the reply is kept.
        s.resolve_ticket(opened.id, ClosedBy::Agent, now).unwrap();
        let other = s
            .enqueue_inbound("wamid.y", &queued("encore"), now, Days::minutes(5))
            .unwrap()
            .unwrap();
        let failed = s.record_exchange(
            &Exchange {
                conversation: c.id,
                turn: person("encore"),
                ticket: TicketStep::AddQuestion(opened.id),
                kept_reply: Some((other.id, reply)),
            },
            now,
        );
        assert!(matches!(failed, Err(StoreError::NotFound)), "{failed:?}");
        assert_eq!(s.turns_after(c.id, None, 0).unwrap().len(), 2);
        let Claim::Claimed(not_kept) = s
            .claim_inbound(other.id, now + Days::minutes(5), Days::minutes(5))
            .unwrap()
        else {
            panic!("the row's lease ended");
        };
        assert_eq!(not_kept.reply, None);
    }

    /// Runs `each(i, store)` on every store at once (after a barrier), collecting results.
    fn at_once<T: Send>(
        stores: &[Box<dyn Store>],
        each: impl Fn(usize, &dyn Store) -> T + Sync,
    ) -> Vec<T> {
        let barrier = std::sync::Barrier::new(stores.len());
        std::thread::scope(|scope| {
            let handles: Vec<_> = stores
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let (barrier, each) = (&barrier, &each);
                    scope.spawn(move || {
                        barrier.wait();
                        each(i, s.as_ref())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    pub fn of_one_message_delivered_to_several_replicas_at_once_exactly_one_queues_it(
        f: &dyn Fixture,
    ) {
        let now = Utc::now();
        let stores: Vec<Box<dyn Store>> = (0..8).map(|_| f.open()).collect();
        // The platform resends the same message to every replica at the same instant,
        // twenty times over.
        for round in 0..20 {
            let id = format!("wamid.{round}");
            let queued_by = at_once(&stores, |_, s| {
                s.enqueue_inbound(&id, &queued("horaires ?"), now, Days::minutes(5))
                    .unwrap()
                    .is_some()
            });
            assert_eq!(
                queued_by.iter().filter(|q| **q).count(),
                1,
                "message {id}: {queued_by:?}"
            );
        }
        assert_eq!(f.inbox_rows().len(), 20);
        assert!(
            !stores[0]
                .first_delivery(Channel::Whatsapp, "wamid.3", now)
                .unwrap()
        );
    }

    pub fn of_replicas_taking_back_a_gone_workers_rows_at_once_each_row_is_claimed_once(
        f: &dyn Fixture,
    ) {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let lease = Days::minutes(5);
        let crashed = f.open();
        let ids: Vec<i64> = (0..12)
            .map(|i| {
                crashed
                    .enqueue_inbound(&format!("m{i}"), &queued("a"), t0, lease)
                    .unwrap()
                    .unwrap()
                    .id
            })
            .collect();
        let replicas: Vec<Box<dyn Store>> = (0..4).map(|_| f.open()).collect();
        // A minute later, well within the leases: only the silence of their holder makes
        // the rows stale.
        let now = t0 + Days::minutes(1);
        for r in &replicas {
            r.beat(now).unwrap();
        }
        f.set_heartbeat(
            &crashed.worker().id,
            now - HEARTBEAT_GRACE - Days::seconds(1),
        );
        let taken = at_once(&replicas, |_, r| {
            let mut mine = Vec::new();
            for id in r.stale_inbound(now, 100).unwrap() {
                if let Claim::Claimed(item) = r.claim_inbound(id, now, lease).unwrap() {
                    assert_eq!(item.attempts, 2);
                    mine.push(item.id);
                }
            }
            mine
        });
        let mut all: Vec<i64> = taken.into_iter().flatten().collect();
        all.sort_unstable();
        assert_eq!(all, ids, "every row taken back, each by one replica");
        assert!(replicas[0].stale_inbound(now, 100).unwrap().is_empty());
    }

    pub fn concurrent_exchanges_on_one_conversation_lose_no_turn_and_no_count(f: &dyn Fixture) {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let stores: Vec<Box<dyn Store>> = (0..6).map(|_| f.open()).collect();
        // The same person on every replica: one conversation, whoever creates it first.
        let convs = at_once(&stores, |_, s| {
            s.conversation(Channel::Telegram, &s.pseudonym(Channel::Telegram, "7"), now)
                .unwrap()
                .id
        });
        assert!(convs.iter().all(|c| *c == convs[0]), "{convs:?}");
        let conversation = convs[0];
        let per_store = 10;
        let turns = at_once(&stores, |i, s| {
            (0..per_store)
                .map(|k| {
                    s.record_exchange(
                        &Exchange {
                            conversation,
                            turn: person(&format!("question {i}-{k}")),
                            ticket: TicketStep::None,
                            kept_reply: None,
                        },
                        now,
                    )
                    .unwrap()
                    .turn
                })
                .collect::<Vec<_>>()
        });
        let stored = stores[0].turns_after(conversation, None, 0).unwrap();
        let total = stores.len() * per_store;
        assert_eq!(stored.len(), total);
        let mut ids: Vec<i64> = turns.into_iter().flatten().collect();
        ids.sort_unstable();
        assert_eq!(ids, stored.iter().map(|t| t.id).collect::<Vec<_>>());
        let answers: u64 = stores[0]
            .daily_counts()
            .unwrap()
            .into_iter()
            .filter(|(_, channel, kind, _)| channel == "telegram" && kind == "answer")
            .map(|(.., n)| n)
            .sum();
        assert_eq!(
            answers, total as u64,
            "no count lost to a concurrent update"
        );
    }

    pub fn a_closed_ticket_refuses_every_event_and_an_unknown_one_is_not_found(f: &dyn Fixture) {
        let s = f.open();
        let now = Utc::now();
        let c = s
            .conversation(Channel::Web, &s.pseudonym(Channel::Web, "z"), now)
            .unwrap();
        let t = s.open_ticket(&ticket_for(c.id, Route::Web), now).unwrap();
        let closed = s.resolve_ticket(t.id, ClosedBy::Person, now).unwrap();
        assert_eq!(closed.closed_by, Some(ClosedBy::Person));
        for event in [
            TicketEvent::Claim(Some("Camille").into()),
            TicketEvent::Reply(Some("Camille").into()),
            TicketEvent::Close(ClosedBy::Agent),
        ] {
            assert!(
                matches!(
                    s.ticket_event(t.id, event, now),
                    Err(StoreError::Conflict(_))
                ),
                "{event:?}"
            );
        }
        assert!(matches!(
            s.ticket_event(t.id + 1000, TicketEvent::Close(ClosedBy::Agent), now),
            Err(StoreError::NotFound)
        ));
    }
}

/// A `#[test]` per contract case for one backend: `contract_tests!(fixture_expr)`.
macro_rules! contract_tests {
    ($fixture:expr) => {
        contract_tests!(@cases $fixture; pseudonyms_are_stable_keyed_and_not_the_raw_id, a_conversation_counts_its_turns, turns_are_stored_redacted, a_ticket_goes_open_claimed_resolved_and_forgets_its_route, a_taken_ticket_cannot_be_taken_again_and_the_refusal_names_who_has_it, of_concurrent_claims_from_several_replicas_exactly_one_wins, of_concurrent_claims_of_one_stale_inbox_row_exactly_one_wins, traffic_counts_person_turns_by_day_channel_outcome_and_entry, a_clarification_the_person_resolved_by_picking_an_option_is_not_a_gap, an_inbound_message_is_processed_once, once_rows_of_a_silent_or_dead_worker_are_taken_at_once_and_a_live_ones_are_not, once_an_inbox_row_keeps_its_reply_and_the_pieces_sent, an_inbound_message_is_queued_once_redacted_and_claimed_by_its_receiver, a_claimed_row_is_not_claimed_again_before_its_lease_ends_and_finish_removes_it, the_inbox_depth_counts_every_workers_rows_and_names_the_oldest, attempts_are_counted_and_a_poison_row_is_given_up_after_the_limit, purge_gives_up_on_inbox_rows_older_than_a_day, purge_deletes_expired_rows_and_keeps_counts, a_reopened_store_keeps_tickets_dedupe_and_pseudonyms, an_exchange_records_the_turn_the_ticket_and_the_kept_reply_together, a_closed_ticket_refuses_every_event_and_an_unknown_one_is_not_found, of_one_message_delivered_to_several_replicas_at_once_exactly_one_queues_it, of_replicas_taking_back_a_gone_workers_rows_at_once_each_row_is_claimed_once, concurrent_exchanges_on_one_conversation_lose_no_turn_and_no_count);
    };
    (@cases $fixture:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let fixture = $fixture;
                $crate::store::contract::cases::$name(&fixture);
            }
        )*
    };
}
#[allow(unused_imports)] // For backends' own suites outside this file.
pub(crate) use contract_tests;

mod on_sqlite {
    //! The contract on SQLite: a file in a temporary folder, opened once per process.

    use std::path::PathBuf;

    use rusqlite::{Connection, params};

    use super::*;

    pub struct Sqlite {
        dir: tempfile::TempDir,
        file: PathBuf,
    }

    impl Sqlite {
        pub fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("guichet.sqlite");
            Self { dir, file }
        }

        fn raw(&self) -> Connection {
            Connection::open(&self.file).unwrap()
        }
    }

    impl Fixture for Sqlite {
        fn open(&self) -> Box<dyn Store> {
            Box::new(SqliteStore::open(&self.file).unwrap())
        }

        fn other_database(&self) -> Box<dyn Store> {
            Box::new(SqliteStore::open(&self.dir.path().join("other.sqlite")).unwrap())
        }

        fn failed_deliveries(&self) -> Vec<(String, u32, String)> {
            let conn = self.raw();
            let mut stmt = conn
                .prepare(
                    "SELECT channel, attempts, detail FROM deliveries WHERE ok = 0 ORDER BY id",
                )
                .unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }

        fn inbox_rows(&self) -> Vec<String> {
            let conn = self.raw();
            let mut stmt = conn
                .prepare("SELECT inbound FROM inbox ORDER BY id")
                .unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }

        fn set_heartbeat(&self, worker: &str, at: DateTime<Utc>) {
            self.raw()
                .execute(
                    "UPDATE workers SET heartbeat = ?2 WHERE id = ?1",
                    params![worker, at.timestamp()],
                )
                .unwrap();
        }

        fn set_process(&self, worker: &str, pid: u32, started: &str) {
            self.raw()
                .execute(
                    "UPDATE workers SET pid = ?2, started = ?3 WHERE id = ?1",
                    params![worker, pid, started],
                )
                .unwrap();
        }
    }

    contract_tests!(Sqlite::new());
}

mod on_postgres {
    //! The contract on PostgreSQL: a scratch database on the server of `GUICHET_TEST_PG`.

    use ::postgres::{Client, NoTls};

    use super::*;
    use crate::store::postgres::scratch::ScratchDb;

    pub struct Postgres {
        dir: tempfile::TempDir,
        db: ScratchDb,
        others: std::sync::Mutex<Vec<ScratchDb>>,
    }

    impl Postgres {
        pub fn new() -> Self {
            Self {
                dir: tempfile::tempdir().unwrap(),
                db: ScratchDb::new(),
                others: std::sync::Mutex::default(),
            }
        }

        fn raw(&self) -> Client {
            Client::connect(&self.db.url, NoTls).unwrap()
        }
    }

    impl Fixture for Postgres {
        fn open(&self) -> Box<dyn Store> {
            Box::new(PgStore::open(&self.db.url, &self.dir.path().join("route-key"), 4).unwrap())
        }

        fn other_database(&self) -> Box<dyn Store> {
            let db = ScratchDb::new();
            let store = PgStore::open(&db.url, &self.dir.path().join("route-key"), 2).unwrap();
            self.others.lock().unwrap().push(db);
            Box::new(store)
        }

        fn failed_deliveries(&self) -> Vec<(String, u32, String)> {
            self.raw()
                .query(
                    "SELECT channel, attempts, detail FROM deliveries WHERE NOT ok ORDER BY id",
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get::<_, i32>(1) as u32, r.get(2)))
                .collect()
        }

        fn inbox_rows(&self) -> Vec<String> {
            self.raw()
                .query("SELECT inbound::text FROM inbox ORDER BY id", &[])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        }

        fn set_heartbeat(&self, worker: &str, at: DateTime<Utc>) {
            self.raw()
                .execute(
                    "UPDATE workers SET heartbeat = $2 WHERE id = $1",
                    &[&worker, &at],
                )
                .unwrap();
        }

        fn set_process(&self, worker: &str, pid: u32, started: &str) {
            self.raw()
                .execute(
                    "UPDATE workers SET pid = $2, started = $3 WHERE id = $1",
                    &[&worker, &i64::from(pid), &started],
                )
                .unwrap();
        }
    }

    contract_tests!(Postgres::new());
}
