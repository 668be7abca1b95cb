//! `GET /openapi.json`: the description generated from the code lists every public,
//! agents' and webhook route with the errors each can give, and matches the router: each
//! documented operation exists and answers only statuses it documents.

use serde_json::Value;

use crate::helpers::TestApp;

const PATHS: &[(&str, &str)] = &[
    ("post", "/v1/chat"),
    ("get", "/v1/chat/{session_id}/messages"),
    ("post", "/v1/chat/{session_id}/cancel"),
    ("post", "/v1/feedback"),
    ("get", "/v1/widget/messages"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/v1/handoffs"),
    ("post", "/v1/handoffs/{id}/claim"),
    ("post", "/v1/handoffs/{id}/reply"),
    ("post", "/v1/handoffs/{id}/resolve"),
    ("post", "/webhooks/generic"),
    ("post", "/webhooks/telegram"),
    ("post", "/webhooks/messenger"),
    ("post", "/webhooks/whatsapp"),
    ("get", "/webhooks/messenger"),
];

async fn description(app: &TestApp) -> Value {
    let r = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().await.unwrap()
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.clone(), path.clone(), op.clone()));
        }
    }
    out
}

#[tokio::test]
async fn openapi_lists_every_route_with_its_errors_and_retry_after() {
    let app = TestApp::spawn().await;
    let doc = description(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let ops = operations(&doc);
    let listed: Vec<(&str, &str)> = ops
        .iter()
        .map(|(m, p, _)| (m.as_str(), p.as_str()))
        .collect();
    for want in PATHS {
        assert!(listed.contains(want), "{want:?} is not described");
    }
    assert_eq!(ops.len(), PATHS.len(), "described: {listed:?}");
    for (method, path, op) in &ops {
        let responses = op["responses"].as_object().unwrap();
        let busy = &responses["503"];
        assert!(
            busy["headers"]["Retry-After"].is_object(),
            "{method} {path}: 503 without Retry-After"
        );
        assert_eq!(
            busy["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
        if path.starts_with("/v1/handoffs") {
            assert_eq!(op["security"][0]["admin_token"], serde_json::json!([]));
            assert!(responses.contains_key("401"), "{method} {path}: no 401");
            assert!(responses["429"]["headers"]["Retry-After"].is_object());
        }
        if op.get("requestBody").is_some() && !path.starts_with("/webhooks/") {
            for status in ["400", "413", "415", "422"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path}: no {status}"
                );
            }
        }
    }
    let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
    for code in [
        "malformed_json",
        "rate_limited",
        "unavailable",
        "already_claimed",
    ] {
        assert!(
            codes.as_array().unwrap().iter().any(|c| c == code),
            "{code}"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["admin_token"]["scheme"],
        "bearer"
    );
}

/// A request to each documented operation, with its path parameters filled in and no
/// body or credentials: it must reach the route (not the fallback), and its status must
/// be one the description gives.
#[tokio::test]
async fn every_described_operation_answers_a_status_it_describes() {
    let app = TestApp::spawn_with(&[
        "--admin-token",
        "agent-token",
        "--webhook-secret",
        "s",
        "--telegram-secret",
        "t",
        "--meta-app-secret",
        "m",
        "--meta-verify-token",
        "v",
    ])
    .await;
    let doc = description(&app).await;
    for (method, path, op) in operations(&doc) {
        let url = app.url(
            &path
                .replace("{session_id}", "abcdefghijklmnop")
                .replace("{id}", "1"),
        );
        let request = match method.as_str() {
            "get" => app.client.get(&url),
            "post" => app
                .client
                .post(&url)
                .header("content-type", "application/json")
                .body("{}"),
            other => panic!("{other}"),
        };
        let r = request.send().await.unwrap();
        let status = r.status().as_u16().to_string();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_ne!(
            body["error"]["code"], "method_not_allowed",
            "{method} {path}"
        );
        assert!(
            op["responses"].as_object().unwrap().contains_key(&status),
            "{method} {path} answered {status} ({body}), which it does not describe"
        );
    }
}
