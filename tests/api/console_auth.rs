//! The console's accounts, sessions and roles over HTTP: signing in, CSRF, the role
//! matrix, lockout, expiry, audit rows.

use guichet::staff::Role;

use crate::helpers::TestApp;

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
