//! What the logs keep, at the most verbose level: the route a request took, never the
//! person's words, their personal data, their conversation id or a webhook's secret.
//! Its own test binary, because it installs the process-wide log subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

/// Everything logged, shared with the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn trace_logs_name_routes_but_keep_no_text_personal_data_session_or_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    const TOKEN: &str = "verify-token-4c1b9e";
    const SESSION: &str = "logsession0123456789abcdef";
    let app = helpers::TestApp::spawn_with(&["--meta-verify-token", TOKEN]).await;
    let message = "Bonjour, je suis jeanne.dupont@example.org, 06 12 34 56 78, \
                   quels sont les horaires de la mairie ?";
    let r = app
        .post_json(
            "/v1/chat",
            &json!({ "message": message, "session_id": SESSION }),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let r = app
        .client
        .get(format!(
            "http://{}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={TOKEN}&hub.challenge=77",
            app.addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = app
        .client
        .get(format!("http://{}/v1/chat/{SESSION}/messages", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The logs were captured, and name the routes taken.
    for route in [
        "/v1/chat",
        "/webhooks/whatsapp",
        "/v1/chat/{session_id}/messages",
    ] {
        assert!(logs.contains(route), "no span names {route}:\n{logs}");
    }
    for secret in [
        "jeanne.dupont",
        "06 12 34 56 78",
        "horaires de la mairie",
        SESSION,
        TOKEN,
    ] {
        assert!(!logs.contains(secret), "the logs keep {secret:?}:\n{logs}");
    }
}
