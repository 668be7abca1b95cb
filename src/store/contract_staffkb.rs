//! The contract of the staff and knowledge-base parts of the seam, run on every backend:
//! each check is a function of the store, called once on SQLite and once on a scratch
//! PostgreSQL database. Races between replicas are checked on PostgreSQL alone (SQLite
//! serves one machine).

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{
    Decider, KbStore, LabelDecision, NewLabel, NewRevision, Origin, RevisionStatus, StaffStore,
    StoreError,
};
use crate::staff::{Account, Actor, NewAccount, Role};

/// Both parts at once, until the whole [`super::Store`] exists on every backend.
trait StaffKb: StaffStore + KbStore {}
impl<T: StaffStore + KbStore> StaffKb for T {}

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&crate::store::SqliteStore::in_memory().unwrap());
                }
            )*
        }
        mod on_postgres {
            $(
                #[test]
                fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let (store, db) = crate::store::postgres::scratch::store(dir.path());
                    super::$name(&store);
                    drop(store);
                    drop(db);
                }
            )*
        }
    };
}

on_every_backend!(
    accounts_are_unique_by_email_whatever_its_case_and_by_sso_subject,
    accounts_are_listed_by_email_and_keep_what_is_set,
    disabling_an_account_ends_its_sessions,
    a_setup_token_works_once_and_only_before_it_expires,
    sessions_are_kept_touched_and_ended,
    signin_failures_are_counted_within_the_window_and_cleared,
    the_audit_log_is_newest_first_in_pages,
    an_oidc_signin_is_taken_once_and_only_while_fresh,
    the_purge_keeps_open_sessions_and_recent_audit_rows_only,
    an_import_makes_files_live_all_or_none_with_one_new_version,
    a_draft_is_validated_once_and_only_on_its_live_base,
    drafts_are_listed_oldest_first_by_service_and_closed_once,
    self_validation_is_allowed_per_service_and_withdrawn,
    labels_are_kept_oldest_first,
);

/// Now, in whole seconds: what every backend gives back unchanged.
fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(Utc::now().timestamp(), 0).unwrap()
}

fn account(email: &str, roles: Vec<Role>, services: &[&str]) -> NewAccount {
    NewAccount {
        email: email.into(),
        name: "Camille".into(),
        roles,
        services: services.iter().map(|s| s.to_string()).collect(),
        sso: None,
    }
}

fn add(s: &dyn StaffKb, email: &str) -> Account {
    s.add_staff(&account(email, vec![Role::Agent], &[]), now())
        .unwrap()
}

fn accounts_are_unique_by_email_whatever_its_case_and_by_sso_subject(s: &dyn StaffKb) {
    let t = now();
    let a = s
        .add_staff(
            &account("camille@belleval.fr", vec![Role::Editor], &["etat-civil"]),
            t,
        )
        .unwrap();
    assert_eq!(a.email, "camille@belleval.fr");
    assert_eq!(a.roles, vec![Role::Editor]);
    assert_eq!(a.services, vec!["etat-civil".to_string()]);
    assert_eq!(a.created_at, t);
    assert!(!a.has_password && !a.sso && !a.disabled);
    assert!(matches!(
        s.add_staff(&account("Camille@Belleval.FR", vec![], &[]), t),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.staff_by_email("CAMILLE@belleval.fr")
            .unwrap()
            .map(|x| x.id),
        Some(a.id)
    );
    assert_eq!(s.staff(a.id).unwrap(), Some(a.clone()));
    assert_eq!(s.staff(a.id + 1000).unwrap(), None);

    let mut sso = account("dominique@belleval.fr", vec![Role::Agent], &[]);
    sso.sso = Some(("https://idp.belleval.fr".into(), "sub-1".into()));
    let d = s.add_staff(&sso, t).unwrap();
    assert!(d.sso);
    assert_eq!(
        s.staff_by_sso("https://idp.belleval.fr", "sub-1").unwrap(),
        Some(d)
    );
    assert_eq!(s.staff_by_sso("https://autre.fr", "sub-1").unwrap(), None);
    sso.email = "autre@belleval.fr".into();
    assert!(matches!(s.add_staff(&sso, t), Err(StoreError::Conflict(_))));
    assert!(
        s.link_sso(a.id, "https://idp.belleval.fr", "sub-1")
            .is_err(),
        "a subject already linked to another account"
    );
    s.link_sso(a.id, "https://idp.belleval.fr", "sub-2")
        .unwrap();
    assert_eq!(
        s.staff_by_sso("https://idp.belleval.fr", "sub-2")
            .unwrap()
            .map(|x| x.id),
        Some(a.id)
    );
    assert!(matches!(
        s.link_sso(a.id + 1000, "https://idp.belleval.fr", "sub-3"),
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.list_staff().unwrap().len(), 2, "no half-made account");
}

fn accounts_are_listed_by_email_and_keep_what_is_set(s: &dyn StaffKb) {
    for email in ["zoe@belleval.fr", "a.b@belleval.fr", "ab@belleval.fr"] {
        add(s, email);
    }
    let listed: Vec<String> = s
        .list_staff()
        .unwrap()
        .into_iter()
        .map(|a| a.email)
        .collect();
    // Bytewise, as SQLite: '.' sorts before 'b' whatever the server's locale.
    assert_eq!(
        listed,
        ["a.b@belleval.fr", "ab@belleval.fr", "zoe@belleval.fr"]
    );

    let z = s.staff_by_email("zoe@belleval.fr").unwrap().unwrap();
    assert_eq!(
        s.staff_password("zoe@belleval.fr").unwrap(),
        Some((z.clone(), None))
    );
    s.set_password(z.id, "$argon2id$v=19$x").unwrap();
    let (with, hash) = s.staff_password("ZOE@belleval.fr").unwrap().unwrap();
    assert!(with.has_password);
    assert_eq!(hash.as_deref(), Some("$argon2id$v=19$x"));
    assert_eq!(s.staff_password("personne@belleval.fr").unwrap(), None);

    s.set_roles(
        z.id,
        &[Role::Validator, Role::Admin],
        &["etat-civil".into(), "urbanisme".into()],
    )
    .unwrap();
    let z = s.staff(z.id).unwrap().unwrap();
    assert_eq!(z.roles, vec![Role::Validator, Role::Admin]);
    assert_eq!(z.services, vec!["etat-civil", "urbanisme"]);
    s.set_roles(z.id, &[], &[]).unwrap();
    let z = s.staff(z.id).unwrap().unwrap();
    assert!(z.roles.is_empty() && z.services.is_empty());

    assert!(matches!(
        s.set_password(z.id + 1000, "h"),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.set_roles(z.id + 1000, &[Role::Agent], &[]),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.set_disabled(z.id + 1000, true, now()),
        Err(StoreError::NotFound)
    ));
}

fn disabling_an_account_ends_its_sessions(s: &dyn StaffKb) {
    let a = add(s, "a@belleval.fr");
    let b = add(s, "b@belleval.fr");
    let t = now();
    s.insert_session("sa1", a.id, "c1", t).unwrap();
    s.insert_session("sa2", a.id, "c2", t).unwrap();
    s.insert_session("sb", b.id, "c3", t).unwrap();
    s.set_disabled(a.id, true, t).unwrap();
    assert!(s.staff(a.id).unwrap().unwrap().disabled);
    assert_eq!(s.session_row("sa1").unwrap(), None);
    assert_eq!(s.session_row("sa2").unwrap(), None);
    assert!(s.session_row("sb").unwrap().is_some(), "others keep theirs");
    s.set_disabled(a.id, false, t).unwrap();
    assert!(!s.staff(a.id).unwrap().unwrap().disabled);
}

fn a_setup_token_works_once_and_only_before_it_expires(s: &dyn StaffKb) {
    let a = add(s, "a@belleval.fr");
    let t = now();
    s.put_setup_token("h1", a.id, t + Duration::hours(72))
        .unwrap();
    assert_eq!(s.setup_token_staff("h1", t).unwrap(), Some(a.id));
    assert_eq!(s.setup_token_staff("other", t).unwrap(), None);
    assert!(s.use_setup_token("h1", t).unwrap());
    assert!(!s.use_setup_token("h1", t).unwrap(), "a link works once");
    assert_eq!(s.setup_token_staff("h1", t).unwrap(), None);

    s.put_setup_token("h2", a.id, t + Duration::hours(1))
        .unwrap();
    let later = t + Duration::hours(1);
    assert_eq!(s.setup_token_staff("h2", later).unwrap(), None);
    assert!(!s.use_setup_token("h2", later).unwrap(), "expired");
    assert!(s.use_setup_token("h2", t).unwrap(), "still there before");
    assert!(
        s.put_setup_token("h3", a.id + 1000, t + Duration::hours(1))
            .is_err(),
        "a link is for an account"
    );
}

fn sessions_are_kept_touched_and_ended(s: &dyn StaffKb) {
    let a = add(s, "a@belleval.fr");
    let t = now();
    s.insert_session("s1", a.id, "csrf1", t).unwrap();
    s.insert_session("s2", a.id, "csrf2", t).unwrap();
    let row = s.session_row("s1").unwrap().unwrap();
    assert_eq!(
        (row.staff, row.csrf.as_str(), row.created_at, row.last_seen),
        (a.id, "csrf1", t, t)
    );
    let later = t + Duration::minutes(20);
    s.touch_session("s1", later).unwrap();
    let row = s.session_row("s1").unwrap().unwrap();
    assert_eq!((row.created_at, row.last_seen), (t, later));
    assert!(
        s.insert_session("s1", a.id, "again", t).is_err(),
        "a token hash names one session"
    );
    s.delete_session("s1").unwrap();
    assert_eq!(s.session_row("s1").unwrap(), None);
    s.insert_session("s3", a.id, "csrf3", t).unwrap();
    assert_eq!(s.delete_sessions_of(a.id).unwrap(), 2);
    assert_eq!(s.delete_sessions_of(a.id).unwrap(), 0);
    assert_eq!(s.session_row("s2").unwrap(), None);
}

fn signin_failures_are_counted_within_the_window_and_cleared(s: &dyn StaffKb) {
    let t = now();
    for minutes in [1, 20, 5] {
        s.record_signin_failure("account:a@belleval.fr", t - Duration::minutes(minutes))
            .unwrap();
    }
    s.record_signin_failure("address:x", t).unwrap();
    assert_eq!(
        s.signin_failures_since("account:a@belleval.fr", t - Duration::minutes(15))
            .unwrap(),
        vec![t - Duration::minutes(5), t - Duration::minutes(1)],
        "oldest first, within the window"
    );
    s.clear_signin_failures("account:a@belleval.fr").unwrap();
    assert!(
        s.signin_failures_since("account:a@belleval.fr", t - Duration::days(1))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.signin_failures_since("address:x", t - Duration::minutes(15))
            .unwrap(),
        vec![t]
    );
}

fn the_audit_log_is_newest_first_in_pages(s: &dyn StaffKb) {
    let a = add(s, "a@belleval.fr");
    let t = now();
    let actor = Actor::staff(&a);
    for i in 0..5 {
        s.record_audit(
            &actor,
            &format!("action.{i}"),
            Some("42"),
            (i == 0).then_some("détail"),
            t + Duration::seconds(i),
        )
        .unwrap();
    }
    s.record_audit(&Actor::cli(), "cli", None, None, t).unwrap();
    let first = s.audit_log(2, None).unwrap();
    let actions: Vec<&str> = first.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["cli", "action.4"]);
    assert_eq!(first[0].staff, None);
    assert_eq!(first[1].staff, Some(a.id));
    assert_eq!(first[1].actor, a.email);
    assert_eq!(first[1].at, t + Duration::seconds(4));
    let rest = s.audit_log(10, Some(first[1].id)).unwrap();
    let actions: Vec<&str> = rest.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["action.3", "action.2", "action.1", "action.0"]);
    assert_eq!(rest[3].target.as_deref(), Some("42"));
    assert_eq!(rest[3].detail.as_deref(), Some("détail"));
    assert!(s.audit_log(0, None).unwrap().is_empty());
}

fn an_oidc_signin_is_taken_once_and_only_while_fresh(s: &dyn StaffKb) {
    let t = now();
    s.put_oidc_login("state1", r#"{"nonce":"n"}"#, t).unwrap();
    s.put_oidc_login("state2", "p2", t - Duration::minutes(20))
        .unwrap();
    assert_eq!(
        s.take_oidc_login("state1", t - Duration::minutes(10))
            .unwrap()
            .as_deref(),
        Some(r#"{"nonce":"n"}"#)
    );
    assert_eq!(
        s.take_oidc_login("state1", t - Duration::minutes(10))
            .unwrap(),
        None,
        "taken once"
    );
    assert_eq!(
        s.take_oidc_login("state2", t - Duration::minutes(10))
            .unwrap(),
        None,
        "begun too long ago"
    );
    assert!(
        s.put_oidc_login("state1", "again", t).is_ok(),
        "a taken state is gone"
    );
}

fn the_purge_keeps_open_sessions_and_recent_audit_rows_only(s: &dyn StaffKb) {
    let t = now();
    let a = s
        .add_staff(
            &account("a@belleval.fr", vec![Role::Agent], &[]),
            t - Duration::days(400),
        )
        .unwrap();
    s.insert_session("idle", a.id, "c", t - Duration::hours(3))
        .unwrap();
    s.insert_session("old", a.id, "c", t - Duration::hours(13))
        .unwrap();
    s.touch_session("old", t - Duration::minutes(1)).unwrap();
    s.insert_session("fresh", a.id, "c", t).unwrap();
    s.record_audit(&Actor::cli(), "old", None, None, t - Duration::days(366))
        .unwrap();
    s.record_audit(&Actor::staff(&a), "signin", None, None, t)
        .unwrap();
    s.record_signin_failure("account:a@belleval.fr", t - Duration::hours(1))
        .unwrap();
    s.record_signin_failure("account:a@belleval.fr", t - Duration::minutes(1))
        .unwrap();
    s.put_setup_token("h", a.id, t - Duration::minutes(1))
        .unwrap();
    s.put_setup_token("valid", a.id, t + Duration::hours(1))
        .unwrap();
    s.put_oidc_login("stale", "p", t - Duration::hours(2))
        .unwrap();
    s.put_oidc_login("recent", "p", t - Duration::minutes(5))
        .unwrap();

    let purged = s.purge_staff(t - Duration::days(365), t).unwrap();
    assert_eq!(
        purged, 6,
        "2 sessions, 1 link, 1 sign-in, 1 failure, 1 audit row"
    );
    assert_eq!(s.session_row("idle").unwrap(), None);
    assert_eq!(s.session_row("old").unwrap(), None, "too old, used or not");
    assert!(s.session_row("fresh").unwrap().is_some());
    let log = s.audit_log(10, None).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["signin"]);
    assert_eq!(
        s.signin_failures_since("account:a@belleval.fr", t - Duration::days(1))
            .unwrap(),
        vec![t - Duration::minutes(1)]
    );
    assert_eq!(
        s.setup_token_staff("h", t - Duration::days(1)).unwrap(),
        None
    );
    assert_eq!(s.setup_token_staff("valid", t).unwrap(), Some(a.id));
    assert!(
        s.take_oidc_login("recent", t - Duration::hours(1))
            .unwrap()
            .is_some()
    );
    assert_eq!(s.purge_staff(t - Duration::days(365), t).unwrap(), 0);
}

fn file(path: &str, entry: Option<&str>, text: Option<&str>, base: Option<i64>) -> NewRevision {
    NewRevision {
        path: path.into(),
        entry_id: entry.map(Into::into),
        service: path
            .strip_prefix("entries/")
            .and_then(|p| p.split('/').next())
            .map(Into::into),
        content: text.map(Into::into),
        origin: Origin::Import,
        author: "import".into(),
        author_staff: None,
        base,
        comment: None,
        answer_sha256: None,
    }
}

const IMPORT: Decider<'static> = Decider {
    name: "import",
    staff: None,
};

fn an_import_makes_files_live_all_or_none_with_one_new_version(s: &dyn StaffKb) {
    let t = now();
    assert_eq!(s.kb_version().unwrap(), 0);
    assert!(s.kb_live().unwrap().is_empty());
    let v = s
        .kb_apply(
            &[
                file("services.toml", None, Some("[services]"), None),
                file(
                    "entries/etat-civil/pacs.md",
                    Some("pacs"),
                    Some("PACS"),
                    None,
                ),
                file("entries/etat-civil/a-b.md", Some("ab"), Some("AB"), None),
            ],
            &IMPORT,
            t,
        )
        .unwrap();
    assert_eq!(v, 1);
    assert_eq!(s.kb_version().unwrap(), 1);
    let live = s.kb_live().unwrap();
    let paths: Vec<&str> = live.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "entries/etat-civil/a-b.md",
            "entries/etat-civil/pacs.md",
            "services.toml"
        ],
        "by path, bytewise"
    );
    let pacs = live.iter().find(|f| f.path.ends_with("pacs.md")).unwrap();
    assert_eq!(
        (pacs.entry_id.as_deref(), pacs.content.as_str()),
        (Some("pacs"), "PACS")
    );
    assert_eq!(
        s.kb_live_revision("entries/etat-civil/pacs.md").unwrap(),
        Some(pacs.revision)
    );
    assert_eq!(
        s.kb_entry_path("pacs").unwrap().as_deref(),
        Some("entries/etat-civil/pacs.md")
    );
    let rev = s.kb_revision(pacs.revision).unwrap().unwrap();
    assert_eq!(rev.status, RevisionStatus::Validated);
    assert_eq!(rev.origin, Origin::Import);
    assert_eq!(rev.service.as_deref(), Some("etat-civil"));
    assert_eq!(rev.decided_by.as_deref(), Some("import"));
    assert_eq!((rev.created_at, rev.decided_at), (t, Some(t)));

    // One stale change spoils the batch: nothing of it is kept.
    let stale = s.kb_apply(
        &[
            file("glossary.toml", None, Some("g"), None),
            file(
                "services.toml",
                None,
                Some("[services] v2"),
                Some(pacs.revision),
            ),
        ],
        &IMPORT,
        t,
    );
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(s.kb_version().unwrap(), 1);
    assert_eq!(s.kb_live().unwrap(), live);
    assert_eq!(s.kb_history("glossary.toml").unwrap(), vec![]);
    assert_eq!(s.kb_history("services.toml").unwrap().len(), 1);
    assert!(matches!(
        s.kb_apply(
            &[file("glossary.toml", None, Some("g"), Some(1))],
            &IMPORT,
            t
        ),
        Err(StoreError::Conflict(_))
    ));

    // A rename in one import: the withdrawal frees the entry id first, whatever the order.
    let v = s
        .kb_apply(
            &[
                file(
                    "entries/etat-civil/pacs-2.md",
                    Some("pacs"),
                    Some("PACS 2"),
                    None,
                ),
                file(
                    "entries/etat-civil/pacs.md",
                    Some("pacs"),
                    None,
                    Some(pacs.revision),
                ),
            ],
            &IMPORT,
            t,
        )
        .unwrap();
    assert_eq!(v, 2);
    assert_eq!(
        s.kb_live_revision("entries/etat-civil/pacs.md").unwrap(),
        None
    );
    assert_eq!(
        s.kb_entry_path("pacs").unwrap().as_deref(),
        Some("entries/etat-civil/pacs-2.md")
    );
    let history = s.kb_history("entries/etat-civil/pacs.md").unwrap();
    assert_eq!(history.len(), 2);
    assert!(history[0].id > history[1].id, "newest first");
    assert_eq!(history[0].content, None);
    assert_eq!(history[0].base, Some(pacs.revision));
    assert_eq!(s.kb_live().unwrap().len(), 3);
}

fn proposal(path: &str, text: &str, base: Option<i64>, author: &Account) -> NewRevision {
    NewRevision {
        origin: Origin::Proposal,
        author: author.name.clone(),
        author_staff: Some(author.id),
        comment: Some("à jour".into()),
        ..file(path, Some("pacs"), Some(text), base)
    }
}

fn a_draft_is_validated_once_and_only_on_its_live_base(s: &dyn StaffKb) {
    let t = now();
    let editor = add(s, "editeur@belleval.fr");
    let validator = add(s, "valideur@belleval.fr");
    let by = Decider {
        name: &validator.name,
        staff: Some(validator.id),
    };
    let path = "entries/etat-civil/pacs.md";
    s.kb_apply(&[file(path, Some("pacs"), Some("v1"), None)], &IMPORT, t)
        .unwrap();
    let base = s.kb_live_revision(path).unwrap();
    let first = s
        .kb_propose(&proposal(path, "v2", base, &editor), t)
        .unwrap();
    let second = s
        .kb_propose(&proposal(path, "v2 bis", base, &editor), t)
        .unwrap();
    assert_eq!(s.kb_version().unwrap(), 1, "a draft changes nothing live");
    let draft = s.kb_revision(first).unwrap().unwrap();
    assert_eq!(draft.status, RevisionStatus::Draft);
    assert_eq!(draft.author_staff, Some(editor.id));
    assert_eq!(draft.decided_at, None);

    let later = t + Duration::minutes(5);
    let v = s
        .kb_validate(first, Some("v2 stamped"), Some("sha"), &by, later)
        .unwrap();
    assert_eq!(v, 2);
    assert_eq!(s.kb_version().unwrap(), 2);
    assert_eq!(s.kb_live_revision(path).unwrap(), Some(first));
    let done = s.kb_revision(first).unwrap().unwrap();
    assert_eq!(done.status, RevisionStatus::Validated);
    assert_eq!(done.content.as_deref(), Some("v2 stamped"));
    assert_eq!(done.answer_sha256.as_deref(), Some("sha"));
    assert_eq!(done.decided_staff, Some(validator.id));
    assert_eq!(done.decided_at, Some(later));
    assert_eq!(done.comment.as_deref(), Some("à jour"));

    let stale = s.kb_validate(second, Some("v2 bis"), None, &by, later);
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(
        s.kb_revision(second).unwrap().unwrap().status,
        RevisionStatus::Draft,
        "refused: left as it was"
    );
    assert!(matches!(
        s.kb_validate(first, Some("v2"), None, &by, later),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.kb_validate(first + 1000, Some("v2"), None, &by, later),
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.kb_version().unwrap(), 2);

    // A draft withdrawing the file, validated: the path and its entry are gone.
    let withdraw = s
        .kb_propose(
            &NewRevision {
                content: None,
                ..proposal(path, "", Some(first), &editor)
            },
            t,
        )
        .unwrap();
    assert_eq!(s.kb_validate(withdraw, None, None, &by, later).unwrap(), 3);
    assert_eq!(s.kb_live_revision(path).unwrap(), None);
    assert_eq!(s.kb_entry_path("pacs").unwrap(), None);
    // A new file again: its base is none.
    let again = s
        .kb_propose(&proposal(path, "v3", None, &editor), t)
        .unwrap();
    assert_eq!(
        s.kb_validate(again, Some("v3"), None, &by, later).unwrap(),
        4
    );
    assert_eq!(s.kb_entry_path("pacs").unwrap().as_deref(), Some(path));
}

fn drafts_are_listed_oldest_first_by_service_and_closed_once(s: &dyn StaffKb) {
    let t = now();
    let editor = add(s, "editeur@belleval.fr");
    let by = Decider {
        name: "Valideur",
        staff: None,
    };
    let a1 = s
        .kb_propose(&proposal("entries/etat-civil/a.md", "a", None, &editor), t)
        .unwrap();
    let b1 = s
        .kb_propose(&proposal("entries/urbanisme/b.md", "b", None, &editor), t)
        .unwrap();
    let root = s
        .kb_propose(&proposal("glossary.toml", "g", None, &editor), t)
        .unwrap();
    let a2 = s
        .kb_propose(&proposal("entries/etat-civil/c.md", "c", None, &editor), t)
        .unwrap();
    let ids = |services: Option<&[String]>| -> Vec<i64> {
        s.kb_drafts(services)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(ids(None), [a1, b1, root, a2]);
    assert_eq!(ids(Some(&["etat-civil".into()])), [a1, a2]);
    assert_eq!(
        ids(Some(&["etat-civil".into(), "urbanisme".into()])),
        [a1, b1, a2]
    );
    assert_eq!(ids(Some(&[])), Vec::<i64>::new());

    s.kb_close_draft(a1, RevisionStatus::SentBack, Some("à reprendre"), &by, t)
        .unwrap();
    s.kb_close_draft(b1, RevisionStatus::Cancelled, None, &by, t)
        .unwrap();
    assert_eq!(ids(None), [root, a2]);
    let sent = s.kb_revision(a1).unwrap().unwrap();
    assert_eq!(sent.status, RevisionStatus::SentBack);
    assert_eq!(sent.comment.as_deref(), Some("à reprendre"));
    assert_eq!(sent.decided_by.as_deref(), Some("Valideur"));
    let cancelled = s.kb_revision(b1).unwrap().unwrap();
    assert_eq!(cancelled.status, RevisionStatus::Cancelled);
    assert_eq!(
        cancelled.comment.as_deref(),
        Some("à jour"),
        "the proposer's note stays"
    );
    for (id, status) in [
        (a1, RevisionStatus::Cancelled),
        (b1, RevisionStatus::SentBack),
        (a1 + 1000, RevisionStatus::Cancelled),
    ] {
        assert!(matches!(
            s.kb_close_draft(id, status, Some("x"), &by, t),
            Err(StoreError::Conflict(_))
        ));
    }
    assert!(matches!(
        s.kb_validate(a1, Some("a"), None, &by, t),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.kb_version().unwrap(), 0);
}

fn self_validation_is_allowed_per_service_and_withdrawn(s: &dyn StaffKb) {
    let admin = add(s, "admin@belleval.fr");
    let t = now();
    assert!(!s.kb_self_validation("etat-civil").unwrap());
    s.set_kb_self_validation("etat-civil", true, Some(admin.id), t)
        .unwrap();
    s.set_kb_self_validation("etat-civil", true, None, t)
        .unwrap();
    assert!(s.kb_self_validation("etat-civil").unwrap());
    assert!(!s.kb_self_validation("urbanisme").unwrap());
    s.set_kb_self_validation("etat-civil", false, Some(admin.id), t)
        .unwrap();
    assert!(!s.kb_self_validation("etat-civil").unwrap());
    s.set_kb_self_validation("urbanisme", false, None, t)
        .unwrap();
}

fn labels_are_kept_oldest_first(s: &dyn StaffKb) {
    let agent = add(s, "agent@belleval.fr");
    let t = now();
    s.kb_apply(
        &[file(
            "entries/etat-civil/pacs.md",
            Some("pacs"),
            Some("v1"),
            None,
        )],
        &IMPORT,
        t,
    )
    .unwrap();
    let rev = s.kb_live_revision("entries/etat-civil/pacs.md").unwrap();
    let first = s
        .kb_add_label(
            &NewLabel {
                question: "se pacser [adresse]".into(),
                lang: Some("fr".into()),
                entry_id: Some("pacs".into()),
                decision: LabelDecision::Attach,
                service: Some("etat-civil".into()),
                staff: Some(agent.id),
                revision: rev,
            },
            t,
        )
        .unwrap();
    let second = s
        .kb_add_label(
            &NewLabel {
                question: "ma voisine fait du bruit".into(),
                lang: None,
                entry_id: None,
                decision: LabelDecision::Dismiss,
                service: None,
                staff: None,
                revision: None,
            },
            t + Duration::seconds(1),
        )
        .unwrap();
    let labels = s.kb_labels().unwrap();
    assert_eq!(
        labels.iter().map(|l| l.id).collect::<Vec<_>>(),
        [first, second]
    );
    assert_eq!(labels[0].question, "se pacser [adresse]");
    assert_eq!(labels[0].decision, LabelDecision::Attach);
    assert_eq!(labels[0].revision, rev);
    assert_eq!(labels[0].staff, Some(agent.id));
    assert_eq!(labels[0].created_at, t);
    assert_eq!(labels[1].decision, LabelDecision::Dismiss);
    assert_eq!(labels[1].entry_id, None);
}

/// Two replicas (two stores, two pools) on one PostgreSQL database racing for the same
/// thing: the database lets exactly one of them have it.
mod replicas {
    use std::sync::Barrier;

    use super::*;
    use crate::store::PgStore;
    use crate::store::postgres::scratch::{self, ScratchDb};

    fn two_replicas() -> (tempfile::TempDir, ScratchDb, PgStore, PgStore) {
        let dir = tempfile::tempdir().unwrap();
        let (one, db) = scratch::store(dir.path());
        let two = PgStore::open(&db.url, &dir.path().join("route-key"), 2).unwrap();
        (dir, db, one, two)
    }

    /// Runs `f` on both replicas at once (as near as a barrier gets), returning both
    /// results.
    fn at_once<T: Send>(one: &PgStore, two: &PgStore, f: impl Fn(&PgStore) -> T + Sync) -> (T, T) {
        let barrier = Barrier::new(2);
        std::thread::scope(|scope| {
            let a = scope.spawn(|| {
                barrier.wait();
                f(one)
            });
            let b = scope.spawn(|| {
                barrier.wait();
                f(two)
            });
            (a.join().unwrap(), b.join().unwrap())
        })
    }

    #[test]
    fn two_replicas_validating_proposals_on_one_base_let_exactly_one_win() {
        let (_dir, _db, one, two) = two_replicas();
        let editor = add(&one, "editeur@belleval.fr");
        let path = "entries/etat-civil/pacs.md";
        one.kb_apply(
            &[file(path, Some("pacs"), Some("v0"), None)],
            &IMPORT,
            now(),
        )
        .unwrap();
        const ROUNDS: i64 = 20;
        let mut slower = Vec::new();
        for round in 1..=ROUNDS {
            let base = one.kb_live_revision(path).unwrap();
            let a = one
                .kb_propose(&proposal(path, &format!("a{round}"), base, &editor), now())
                .unwrap();
            let b = two
                .kb_propose(&proposal(path, &format!("b{round}"), base, &editor), now())
                .unwrap();
            let (ra, rb) = at_once(&one, &two, |s| {
                let id = if std::ptr::eq(s, &one) { a } else { b };
                let by = Decider {
                    name: "Valideur",
                    staff: None,
                };
                let started = std::time::Instant::now();
                let r = s.kb_validate(id, Some(&format!("stamped {id}")), None, &by, now());
                (r, started.elapsed())
            });
            let (winner, loser, lost) = match (&ra.0, &rb.0) {
                (Ok(_), Err(e)) => (a, b, e),
                (Err(e), Ok(_)) => (b, a, e),
                other => panic!("round {round}: exactly one wins, got {other:?}"),
            };
            assert!(matches!(lost, StoreError::Conflict(_)), "{lost:?}");
            let version = ra.0.as_ref().or(rb.0.as_ref()).copied().unwrap();
            assert_eq!(version, 1 + round, "one version per validation");
            assert_eq!(one.kb_live_revision(path).unwrap(), Some(winner));
            assert_eq!(
                two.kb_revision(loser).unwrap().unwrap().status,
                RevisionStatus::Draft
            );
            slower.push(ra.1.max(rb.1));
        }
        assert_eq!(two.kb_version().unwrap(), 1 + ROUNDS);
        assert_eq!(
            one.kb_history(path)
                .unwrap()
                .iter()
                .filter(|r| r.status == RevisionStatus::Validated)
                .count() as i64,
            1 + ROUNDS
        );
        slower.sort();
        println!(
            "{ROUNDS} rounds of two validations at once, one winner each; the slower of the two: \
             median {:?}, max {:?}",
            slower[slower.len() / 2],
            slower[slower.len() - 1]
        );
    }

    #[test]
    fn a_draft_validated_on_one_replica_and_sent_back_on_another_is_decided_once() {
        let (_dir, _db, one, two) = two_replicas();
        let editor = add(&one, "editeur@belleval.fr");
        let by = Decider {
            name: "Valideur",
            staff: None,
        };
        let mut validated = 0;
        for i in 0..20 {
            let path = format!("entries/etat-civil/f{i}.md");
            let id = one
                .kb_propose(
                    &NewRevision {
                        entry_id: Some(format!("f{i}")),
                        ..proposal(&path, "texte", None, &editor)
                    },
                    now(),
                )
                .unwrap();
            let (v, back) = at_once(&one, &two, |s| {
                if std::ptr::eq(s, &one) {
                    s.kb_validate(id, Some("texte"), None, &by, now())
                        .map(|_| ())
                } else {
                    s.kb_close_draft(id, RevisionStatus::SentBack, Some("non"), &by, now())
                }
            });
            assert!(v.is_ok() ^ back.is_ok(), "{path}: {v:?} {back:?}");
            let lost = v.as_ref().err().or(back.as_ref().err()).unwrap();
            assert!(matches!(lost, StoreError::Conflict(_)), "{lost:?}");
            let status = two.kb_revision(id).unwrap().unwrap().status;
            let live = one.kb_live_revision(&path).unwrap();
            if v.is_ok() {
                validated += 1;
                assert_eq!((status, live), (RevisionStatus::Validated, Some(id)));
            } else {
                assert_eq!((status, live), (RevisionStatus::SentBack, None));
            }
        }
        assert_eq!(one.kb_version().unwrap(), validated);
        println!(
            "20 drafts validated and sent back at once: {validated} validated, {} sent back",
            20 - validated
        );
    }

    #[test]
    fn two_replicas_using_one_setup_token_let_exactly_one_succeed() {
        let (_dir, _db, one, two) = two_replicas();
        let a = add(&one, "a@belleval.fr");
        const TOKENS: usize = 30;
        for i in 0..TOKENS {
            let hash = format!("token-{i}");
            one.put_setup_token(&hash, a.id, now() + Duration::hours(1))
                .unwrap();
            let (x, y) = at_once(&one, &two, |s| s.use_setup_token(&hash, now()).unwrap());
            assert!(x ^ y, "token {i}: exactly one of {x} and {y}");
        }
    }

    #[test]
    fn two_replicas_taking_one_oidc_signin_or_adding_one_email_let_exactly_one_succeed() {
        let (_dir, _db, one, two) = two_replicas();
        for i in 0..20 {
            let state = format!("state-{i}");
            one.put_oidc_login(&state, "pending", now()).unwrap();
            let (x, y) = at_once(&one, &two, |s| {
                s.take_oidc_login(&state, now() - Duration::minutes(1))
                    .unwrap()
            });
            assert!(x.is_some() ^ y.is_some(), "{state}: {x:?} {y:?}");

            let email = format!("agent{i}@belleval.fr");
            let (x, y) = at_once(&one, &two, |s| {
                s.add_staff(&account(&email, vec![Role::Agent], &[]), now())
            });
            match (&x, &y) {
                (Ok(_), Err(StoreError::Conflict(_))) | (Err(StoreError::Conflict(_)), Ok(_)) => {}
                other => panic!("{email}: one account and one conflict, got {other:?}"),
            }
        }
        assert_eq!(two.list_staff().unwrap().len(), 20);
    }
}
