//! The console's accounts, sessions and roles over HTTP: signing in, CSRF, the role
//! matrix, lockout, expiry, audit rows.

use guichet::staff::Role;

use guichet::store::{SqliteStore, StaffStore};

use crate::helpers::{Console, STAFF_PASSWORD, TestApp};

#[tokio::test]
async fn an_agent_signs_in_and_sees_the_home_page_with_their_name() {
    let app = TestApp::spawn().await;
    let c = app
        .console_as("camille.martin@belleval.fr", &[Role::Agent])
        .await;
    let home = c.get("/console/").await.text().await.unwrap();
    assert!(home.contains("Camille"), "{home}");
    assert!(home.contains("Demandes"));
    assert!(
        !home.contains("Administration"),
        "an agent is not shown the admin section"
    );
}

#[tokio::test]
async fn a_state_change_without_the_session_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app
        .console_as("dominique@belleval.fr", &[Role::Admin])
        .await;
    let form = [("email", "karim@belleval.fr"), ("role", "agent")];
    let missing = admin.post_raw("/console/admin/staff", &form).await;
    assert_eq!(missing.status(), 403);
    let wrong = admin
        .post_raw(
            "/console/admin/staff",
            &[form[0], form[1], ("csrf", "0".repeat(64).as_str())],
        )
        .await;
    assert_eq!(wrong.status(), 403);
    let store = app.state.store.clone();
    assert!(
        store.staff_by_email("karim@belleval.fr").unwrap().is_none(),
        "nothing was created"
    );
    let ok = admin.post("/console/admin/staff", &form).await;
    assert_eq!(ok.status(), 200);
    let page = ok.text().await.unwrap();
    assert!(
        page.contains("/console/setup/"),
        "the set-up link is shown once: {page}"
    );
    let karim = store.staff_by_email("karim@belleval.fr").unwrap().unwrap();
    assert_eq!(karim.roles, vec![Role::Agent]);
    assert_ne!(karim.id, admin.account.id);
}

/// Who may open what. Written out by hand, on purpose not computed from
/// `guichet::staff::Action`: a route whose guard is forgotten or wrong fails here.
/// `ANY`: every role (agent, editor, validator, admin); `ADMIN`: admins only;
/// `SIGNED`: any signed-in account, even one without a role.
const ANY: &[Role] = &[Role::Agent, Role::Editor, Role::Validator, Role::Admin];
const ADMIN: &[Role] = &[Role::Admin];
const SIGNED: &[Role] = &[];
const EDITOR: &[Role] = &[Role::Editor];
const VALIDATOR: &[Role] = &[Role::Validator];
/// The training loop: editors act, validators read.
const EDITOR_VALIDATOR: &[Role] = &[Role::Editor, Role::Validator];

/// Every console route (method, path, who), `{id}` a placeholder for an id that exists
/// nowhere (so that an allowed action fails with 404 rather than changing anything).
const MATRIX: &[(&str, &str, &[Role])] = &[
    ("GET", "/console/", SIGNED),
    ("GET", "/console/inbox", ANY),
    ("GET", "/console/inbox/events", ANY),
    ("GET", "/console/tickets/{id}", ANY),
    ("POST", "/console/tickets/{id}/take", ANY),
    ("POST", "/console/tickets/{id}/reply", ANY),
    ("POST", "/console/tickets/{id}/send-entry", ANY),
    ("POST", "/console/tickets/{id}/close", ANY),
    ("GET", "/console/kb", ANY),
    ("GET", "/console/kb/{entry}", ANY),
    ("GET", "/console/kb/{entry}/print", ANY),
    ("GET", "/console/kb/service/{service}/print", ANY),
    ("GET", "/console/kb/{entry}/history", ANY),
    ("GET", "/console/kb/{entry}/propose", EDITOR),
    ("POST", "/console/kb/{entry}/propose", EDITOR),
    ("GET", "/console/proposals", EDITOR),
    ("GET", "/console/proposals/new", EDITOR),
    ("POST", "/console/proposals/new", EDITOR),
    ("POST", "/console/proposals/{id}/cancel", EDITOR),
    ("POST", "/console/kb/revisions/{id}/restore", EDITOR),
    ("GET", "/console/review", VALIDATOR),
    ("POST", "/console/review/{id}/validate", VALIDATOR),
    ("POST", "/console/review/{id}/send-back", VALIDATOR),
    ("GET", "/console/admin/self-validation", ADMIN),
    ("POST", "/console/admin/self-validation/{service}", ADMIN),
    ("GET", "/console/try", ANY),
    ("GET", "/console/coverage", ANY),
    ("GET", "/console/coverage/report", ANY),
    ("POST", "/console/coverage/probe", ANY),
    ("GET", "/console/admin/staff", ADMIN),
    ("POST", "/console/admin/staff", ADMIN),
    ("POST", "/console/admin/staff/{id}/roles", ADMIN),
    ("POST", "/console/admin/staff/{id}/disable", ADMIN),
    ("POST", "/console/admin/staff/{id}/enable", ADMIN),
    ("POST", "/console/admin/staff/{id}/link", ADMIN),
    ("POST", "/console/admin/staff/{id}/signout", ADMIN),
    ("GET", "/console/admin/audit", ADMIN),
    ("GET", "/console/admin/services", ADMIN),
    ("POST", "/console/admin/services/{service}", ADMIN),
    ("GET", "/console/training", EDITOR_VALIDATOR),
    ("POST", "/console/training/attach/choose", EDITOR),
    ("POST", "/console/training/attach", EDITOR),
    ("POST", "/console/training/create/form", EDITOR),
    ("POST", "/console/training/create", EDITOR),
    ("POST", "/console/training/dismiss", EDITOR),
    // Last: they end the session.
    ("POST", "/console/logout-everywhere", SIGNED),
    ("POST", "/console/logout", SIGNED),
];

const NO_SUCH_ID: &str = "987654";

fn concrete(path: &str) -> String {
    let path = path
        .replace("{id}", NO_SUCH_ID)
        .replace("{entry}", "fiche-qui-n-existe-pas")
        .replace("{service}", "service-qui-n-existe-pas");
    if path == "/console/coverage/report" {
        // A period out of range is refused (422) once the guard let the request through,
        // without running the whole report for every role.
        return format!("{path}?days=0");
    }
    path
}

async fn status_of(c: &Console, method: &str, path: &str) -> u16 {
    let path = concrete(path);
    match method {
        "GET" => c.get(&path).await.status().as_u16(),
        _ => c.post(&path, &[]).await.status().as_u16(),
    }
}

#[tokio::test]
async fn every_route_checks_the_role_on_the_server() {
    let app = TestApp::spawn().await;
    // An account without a role: a first sign-in through the SSO with no roles claim.
    app.add_staff("sans.role@belleval.fr", &[], &[]);
    let mut people = vec![(None, "sans.role@belleval.fr".to_string())];
    for role in Role::ALL {
        let email = format!("{}@belleval.fr", role.as_str());
        let services: &[&str] = match role {
            Role::Editor | Role::Validator => &["etat-civil"],
            _ => &[],
        };
        app.add_staff(&email, &[role], services);
        people.push((Some(role), email));
    }
    let sign_in = |email: String| {
        let app = &app;
        async move {
            app.sign_in(&email, STAFF_PASSWORD)
                .await
                .unwrap_or_else(|r| panic!("{}", r.status()))
        }
    };
    let mut wrong = Vec::new();
    for (role, email) in &people {
        let mut c = sign_in(email.clone()).await;
        for (method, path, who) in MATRIX {
            let allowed = match role {
                Some(r) => who.is_empty() || who.contains(r),
                None => who.is_empty(),
            };
            if path.starts_with("/console/logout") {
                // Each ends the session it is sent in: a new one for each.
                c = sign_in(email.clone()).await;
            }
            let status = status_of(&c, method, path).await;
            let ok = if allowed {
                !matches!(status, 401 | 403)
            } else {
                status == 403
            };
            if !ok {
                wrong.push(format!(
                    "{} {method} {path}: {status} (allowed: {allowed})",
                    role.map_or("sans rôle", |r| r.as_str())
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "role checks out of line:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn without_a_session_pages_lead_to_sign_in_and_actions_are_refused() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (method, path, _) in MATRIX {
        let url = app.url(&concrete(path));
        let r = match *method {
            "GET" => client.get(&url).send().await.unwrap(),
            _ => client
                .post(&url)
                .form(&[("csrf", "x")])
                .send()
                .await
                .unwrap(),
        };
        if *method == "GET" {
            assert_eq!(r.status(), 303, "{path}");
            let to = r.headers()["location"].to_str().unwrap();
            assert!(to.starts_with("/console/login?next="), "{path} -> {to}");
        } else {
            assert_eq!(r.status(), 401, "{method} {path}");
        }
    }
}

/// Every link and form of the pages an admin sees is in [`MATRIX`]: a new route shown in
/// the console cannot be left out of the role checks above.
#[tokio::test]
async fn every_console_link_and_form_is_in_the_role_matrix() {
    let app = TestApp::spawn().await;
    let admin = app
        .console_as("dominique@belleval.fr", &[Role::Admin])
        .await;
    // A ticket, so that the inbox and the ticket page show their actions.
    let body = serde_json::json!({
        "message": "je veux parler à quelqu'un",
        "session_id": "0123456789abcdef0123456789abcdef",
    });
    assert_eq!(app.post_json("/v1/chat", &body).await.status(), 200);
    let ticket = app.state.store.tickets(None).unwrap()[0].id;
    let ticket_page = format!("/console/tickets/{ticket}?q=carte");
    let mut pages: Vec<&str> = MATRIX
        .iter()
        .filter(|(m, p, _)| *m == "GET" && !p.contains('{'))
        // The live stream never ends; the report is a page of figures without actions.
        .filter(|(_, p, _)| !p.ends_with("/events") && !p.ends_with("/report"))
        .map(|(_, p, _)| *p)
        .collect();
    pages.extend([
        ticket_page.as_str(),
        "/console/kb?q=carte+d%27identit%C3%A9",
        "/console/kb/cni-renouvellement",
        "/console/kb/service/titres/print",
        "/console/try?q=horaires+de+la+mairie",
    ]);
    let id_segment = regex::Regex::new(r"/\d+(/|$)").unwrap();
    let service = regex::Regex::new(r"^/console/kb/service/[^/]+").unwrap();
    let entry = regex::Regex::new(r"^/console/kb/([^/{]+)").unwrap();
    // A link, or a form's opening tag (whose method decides GET or POST).
    let target =
        regex::Regex::new(r#"(<form[^>]*)?\b(href|action)="(/console/[^"?#]*)[^>]*"#).unwrap();
    let mut missing = Vec::new();
    for page in pages {
        let html = admin.get(page).await.text().await.unwrap();
        for cap in target.captures_iter(&html) {
            let tag = &cap[0];
            let post = &cap[2] == "action" && tag.to_lowercase().contains(r#"method="post""#);
            let method = if post { "POST" } else { "GET" };
            let path = id_segment.replace_all(&cap[3], "/{id}$1").to_string();
            let path = if path.starts_with("/console/admin/services/") {
                "/console/admin/services/{service}".to_string()
            } else if path.starts_with("/console/admin/self-validation/") {
                "/console/admin/self-validation/{service}".to_string()
            } else if path.starts_with("/console/kb/service/") {
                service
                    .replace(&path, "/console/kb/service/{service}")
                    .to_string()
            } else {
                entry.replace(&path, "/console/kb/{entry}").to_string()
            };
            if path.starts_with("/console/assets/") {
                continue;
            }
            let known = MATRIX.iter().any(|(m, p, _)| *m == method && *p == path);
            if !known && !missing.contains(&format!("{method} {path}")) {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes shown in the console but not in MATRIX:\n{}",
        missing.join("\n")
    );
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account_even_for_the_right_one() {
    let app = TestApp::spawn().await;
    app.add_staff("camille@belleval.fr", &[Role::Agent], &[]);
    for _ in 0..guichet::staff::ACCOUNT_MAX_FAILURES {
        let r = app
            .sign_in("camille@belleval.fr", "pas le bon mot de passe")
            .await
            .err()
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("incorrect"));
    }
    let r = app
        .sign_in("camille@belleval.fr", STAFF_PASSWORD)
        .await
        .err()
        .expect("locked");
    assert_eq!(r.status(), 429);
    let page = r.text().await.unwrap();
    assert!(page.contains("Trop de tentatives"), "{page}");
    assert!(
        page.contains("minutes"),
        "the message says how long: {page}"
    );
    // Another account from the same address is not locked by five failures.
    app.add_staff("karim@belleval.fr", &[Role::Agent], &[]);
    assert!(
        app.sign_in("karim@belleval.fr", STAFF_PASSWORD)
            .await
            .is_ok()
    );
    // An unknown email fails like a wrong password: the page does not tell which.
    let r = app
        .sign_in("personne@belleval.fr", STAFF_PASSWORD)
        .await
        .err()
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[test]
fn sign_ins_from_one_address_are_limited_across_accounts() {
    use guichet::staff;
    let store = SqliteStore::in_memory().unwrap();
    let now = chrono::Utc::now();
    for i in 0..staff::ADDRESS_MAX_FAILURES {
        let r =
            staff::sign_in(&store, &format!("x{i}@belleval.fr"), "faux", "addr-1", now).unwrap();
        assert_eq!(r, Err(staff::SignInError::Invalid));
    }
    let r = staff::sign_in(&store, "autre@belleval.fr", "faux", "addr-1", now).unwrap();
    assert!(matches!(r, Err(staff::SignInError::Locked { .. })), "{r:?}");
    let r = staff::sign_in(&store, "autre@belleval.fr", "faux", "addr-2", now).unwrap();
    assert_eq!(
        r,
        Err(staff::SignInError::Invalid),
        "another address is not locked"
    );
    let later = now + staff::FAILURE_WINDOW + chrono::Duration::seconds(1);
    let r = staff::sign_in(&store, "autre@belleval.fr", "faux", "addr-1", later).unwrap();
    assert_eq!(
        r,
        Err(staff::SignInError::Invalid),
        "the lock ends with the window"
    );
}

fn store_account(store: &SqliteStore, email: &str) -> guichet::staff::Account {
    use guichet::staff;
    let new = staff::NewAccount::new(email, None, vec![Role::Agent], vec![], &[]).unwrap();
    staff::add_account(store, &new, &staff::Actor::cli(), chrono::Utc::now())
        .unwrap()
        .0
}

#[test]
fn a_session_ends_when_idle_too_long_or_too_old_or_when_the_account_is_disabled() {
    use chrono::Duration;
    use guichet::staff::{self, SESSION_IDLE, SESSION_MAX};
    let store = SqliteStore::in_memory().unwrap();
    let a = store_account(&store, "camille@belleval.fr");
    let t0 = chrono::Utc::now();
    // Idle.
    let idle = staff::open_session(&store, &a, "password", t0).unwrap();
    assert!(
        staff::session(&store, &idle.token, t0 + Duration::minutes(30))
            .unwrap()
            .is_some()
    );
    let after_idle = t0 + Duration::minutes(30) + SESSION_IDLE + Duration::minutes(1);
    assert!(
        staff::session(&store, &idle.token, after_idle)
            .unwrap()
            .is_none()
    );
    assert!(
        staff::session(&store, &idle.token, t0 + Duration::minutes(31))
            .unwrap()
            .is_none(),
        "an ended session is deleted, not revived"
    );
    // Used every hour, it still ends after SESSION_MAX.
    let busy = staff::open_session(&store, &a, "password", t0).unwrap();
    let mut t = t0;
    while t + Duration::hours(1) < t0 + SESSION_MAX {
        t += Duration::hours(1);
        assert!(
            staff::session(&store, &busy.token, t).unwrap().is_some(),
            "at {t}"
        );
    }
    assert!(
        staff::session(&store, &busy.token, t0 + SESSION_MAX + Duration::minutes(1))
            .unwrap()
            .is_none()
    );
    // Disabled.
    let s = staff::open_session(&store, &a, "password", t0).unwrap();
    store.set_disabled(a.id, true, t0).unwrap();
    assert!(staff::session(&store, &s.token, t0).unwrap().is_none());
    // A token nobody issued.
    assert!(
        staff::session(&store, &staff::random_token(), t0)
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_the_account_only() {
    let app = TestApp::spawn().await;
    let phone = app.console_as("camille@belleval.fr", &[Role::Agent]).await;
    let desk = app
        .sign_in("camille@belleval.fr", STAFF_PASSWORD)
        .await
        .ok()
        .unwrap();
    let colleague = app.console_as("karim@belleval.fr", &[Role::Agent]).await;
    let r = desk.post("/console/logout-everywhere", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        phone.get("/console/").await.status(),
        303,
        "the other device is signed out"
    );
    assert_eq!(desk.get("/console/").await.status(), 303);
    assert_eq!(
        colleague.get("/console/").await.status(),
        200,
        "a colleague is not"
    );
}

#[tokio::test]
async fn staff_actions_are_written_to_the_audit_log_admins_read() {
    let app = TestApp::spawn().await;
    let admin = app
        .console_as("dominique@belleval.fr", &[Role::Admin])
        .await;
    let _ = app
        .sign_in("camille@belleval.fr", "faux mot de passe")
        .await;
    let r = admin
        .post(
            "/console/admin/staff",
            &[("email", "karim@belleval.fr"), ("role", "agent")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let karim = app
        .state
        .store
        .staff_by_email("karim@belleval.fr")
        .unwrap()
        .unwrap();
    let path = format!("/console/admin/staff/{}/roles", karim.id);
    let r = admin
        .post(
            &path,
            &[
                ("role", "agent"),
                ("role", "editor"),
                ("service", "etat-civil"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = admin
        .post(&format!("/console/admin/staff/{}/disable", karim.id), &[])
        .await;
    assert_eq!(r.status(), 303);
    let log = app.state.store.audit_log(100, None).unwrap();
    let actions: Vec<(&str, Option<&str>, &str)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.target.as_deref(), e.actor.as_str()))
        .collect();
    for expected in [
        ("signin", None, "dominique@belleval.fr"),
        ("signin.failed", None, "camille@belleval.fr"),
        (
            "staff.add",
            Some("karim@belleval.fr"),
            "dominique@belleval.fr",
        ),
        (
            "staff.roles",
            Some("karim@belleval.fr"),
            "dominique@belleval.fr",
        ),
        (
            "staff.disable",
            Some("karim@belleval.fr"),
            "dominique@belleval.fr",
        ),
    ] {
        assert!(
            actions.contains(&expected),
            "{expected:?} not in {actions:?}"
        );
    }
    let roles = log.iter().find(|e| e.action == "staff.roles").unwrap();
    assert!(
        roles
            .detail
            .as_deref()
            .unwrap()
            .contains("éditeur (etat-civil)"),
        "{roles:?}"
    );
    // The page shows them, to admins only.
    let page = admin
        .get("/console/admin/audit")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("staff.disable") && page.contains("karim@belleval.fr"));
}

#[tokio::test]
async fn an_admin_changes_a_services_phone_and_hours_and_the_assistant_gives_them() {
    let (_dir, corpus_dir) = crate::helpers::demo_copy();
    let corpus_flag = corpus_dir.display().to_string();
    let app = TestApp::spawn_with(&["--corpus", &corpus_flag]).await;
    let admin = app
        .console_as("dominique@belleval.fr", &[Role::Admin])
        .await;
    let file = corpus_dir.join("services.toml");
    let before = std::fs::read_to_string(&file).unwrap();
    // The change goes into the store's knowledge base (every replica serves it), not the
    // folder: an export writes it back.
    let live = |a: &TestApp| {
        let (files, _) = guichet::kb::live_files(a.state.store.as_ref()).unwrap();
        files.get("services.toml").unwrap().to_string()
    };
    assert_eq!(live(&app), before);
    let mut form = vec![
        ("phone", "01 99 00 12 99"),
        ("email", "etat-civil@belleval.example"),
        (
            "address",
            "Hôtel de ville, 1 place de la République, 99100 Belleval",
        ),
        ("web", ""),
        ("mon", "08:30-12:00, 13:30-17:30"),
        ("tue", "08:30-12:00"),
        ("wed", ""),
        ("thu", "8h-12h"),
        ("fri", "08:30-12:00"),
        ("sat", ""),
        ("sun", ""),
    ];
    // A wrong time: refused with the file's problem, nothing changed.
    let r = admin
        .post("/console/admin/services/etat-civil", &form)
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Rien n&#39;a été changé") || page.contains("Rien n'a été changé"),
        "{page}"
    );
    assert_eq!(live(&app), before);
    form[7] = ("thu", "08:30-12:00, 13:30-19:00");
    let r = admin
        .post("/console/admin/services/etat-civil", &form)
        .await;
    assert_eq!(r.status(), 200);
    let after = live(&app);
    assert!(after.contains(r#"phone = "01 99 00 12 99""#), "{after}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "the folder is left alone"
    );
    assert!(
        after.starts_with(before.lines().next().unwrap()),
        "comments are kept"
    );
    let svc = |a: &TestApp| {
        a.state
            .engine()
            .unwrap()
            .corpus()
            .services()
            .get("etat-civil")
            .unwrap()
            .clone()
    };
    // The engine is rebuilt in the background with the new contacts.
    let mut waited = 0;
    while svc(&app).phone.as_deref() != Some("01 99 00 12 99") {
        // A liveness bound: an unoptimised build indexes the corpus in about 30 s here.
        assert!(waited < 2400, "the engine was not rebuilt within 240 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(svc(&app).web, None, "an empty field is removed");
    let log = app.state.store.audit_log(20, None).unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "service.update" && e.target.as_deref() == Some("etat-civil"))
    );
    // An agent may not.
    let agent = app.console_as("camille@belleval.fr", &[Role::Agent]).await;
    assert_eq!(
        agent
            .post("/console/admin/services/etat-civil", &form)
            .await
            .status(),
        403
    );
}
