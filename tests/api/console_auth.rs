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
