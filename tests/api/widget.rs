//! The website widget's routes (script, style sheet, demo page, validated sentences) and
//! the CORS rules a browser on a city's site meets on `/v1/chat`.

use reqwest::Method;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, ORIGIN,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, engine};

const CITY: &str = "https://www.belleval.example";

fn header(r: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<&str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn the_script_style_sheet_and_demo_page_are_served_with_their_types_and_cache_rules() {
    let app = TestApp::spawn().await;
    for (path, content_type, cache, needle) in [
        (
            "/widget.js",
            "text/javascript; charset=utf-8",
            "public, max-age=3600",
            "document.currentScript",
        ),
        (
            "/widget.css",
            "text/css; charset=utf-8",
            "public, max-age=3600",
            "prefers-reduced-motion",
        ),
        (
            "/",
            "text/html; charset=utf-8",
            "no-cache",
            "Ville de Belleval",
        ),
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert_eq!(header(&r, CONTENT_TYPE), Some(content_type), "{path}");
        assert_eq!(header(&r, CACHE_CONTROL), Some(cache), "{path}");
        assert_eq!(
            header(&r, "x-content-type-options".parse().unwrap()),
            Some("nosniff")
        );
        assert!(
            header(&r, ETAG).is_some_and(|e| e.starts_with('"')),
            "{path}"
        );
        let body = r.text().await.unwrap();
        assert!(body.contains(needle), "{path} should contain {needle}");
    }
}

#[tokio::test]
async fn an_unchanged_script_is_revalidated_by_its_etag() {
    let app = TestApp::spawn().await;
    let first = app.client.get(app.url("/widget.js")).send().await.unwrap();
    let etag = header(&first, ETAG).unwrap().to_string();
    let again = app
        .client
        .get(app.url("/widget.js"))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);
    assert!(again.text().await.unwrap().is_empty());
    let stale = app
        .client
        .get(app.url("/widget.js"))
        .header(IF_NONE_MATCH, "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 200);
}

#[tokio::test]
async fn the_demo_page_embeds_the_widget_with_one_script_tag_under_a_strict_policy() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/")).send().await.unwrap();
    let csp = header(&r, CONTENT_SECURITY_POLICY).unwrap().to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    assert_eq!(html.matches("<script").count(), 1, "one script tag");
    assert!(html.contains(r#"<script src="/widget.js""#));
    assert!(html.contains(" defer></script>"));
}

#[tokio::test]
async fn widget_messages_are_the_corpus_validated_sentences_in_the_asked_language() {
    let app = TestApp::spawn().await;
    let engine = engine();
    let messages = engine.corpus().messages();
    for (asked, served) in [("fr", "fr"), ("en", "en"), ("xx", "fr")] {
        let r = app
            .client
            .get(app.url(&format!("/v1/widget/messages?lang={asked}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let body: Value = r.json().await.unwrap();
        let (lang, set) = messages.get(served);
        assert_eq!(body["lang"], lang);
        assert_eq!(body["corpus_version"], engine.corpus().version());
        let m = &body["messages"];
        assert_eq!(m["greeting"], set.greeting.as_str());
        assert_eq!(
            m["personal_data_warning"],
            set.personal_data_warning.as_str()
        );
        assert_eq!(m["feedback_thanks"], set.feedback_thanks.as_str());
        assert_eq!(m["open_now"], set.open_now.as_str());
        assert_eq!(m["closed_now"], set.closed_now.as_str());
        assert_eq!(m["error_generic"], set.error_generic.as_str());
        assert!(
            m.get("human_phrases").is_none(),
            "matching phrases are not interface text"
        );
        let titres = engine.corpus().services().get("titres").unwrap();
        let expected = match (lang, &titres.name_en) {
            ("en", Some(en)) => en,
            _ => &titres.name,
        };
        assert_eq!(body["services"]["titres"], expected.as_str());
    }
}

#[tokio::test]
async fn widget_messages_wait_for_the_engine() {
    let app = TestApp::spawn_not_ready().await;
    let r = app
        .client
        .get(app.url("/v1/widget/messages?lang=fr"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    // The script itself does not need the engine.
    let js = app.client.get(app.url("/widget.js")).send().await.unwrap();
    assert_eq!(js.status().as_u16(), 200);
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url(path))
        .header(ORIGIN, origin)
        .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn chat_accepts_browsers_from_listed_origins_only() {
    let app = TestApp::spawn_with(&["--allowed-origins", CITY]).await;

    let allowed = preflight(&app, "/v1/chat", CITY).await;
    assert!(allowed.status().is_success());
    assert_eq!(header(&allowed, ACCESS_CONTROL_ALLOW_ORIGIN), Some(CITY));
    let methods = header(&allowed, "access-control-allow-methods".parse().unwrap()).unwrap();
    assert!(methods.contains("POST"), "{methods}");

    let refused = preflight(&app, "/v1/chat", "https://evil.example").await;
    assert_eq!(header(&refused, ACCESS_CONTROL_ALLOW_ORIGIN), None);

    let r = app
        .client
        .post(app.url("/v1/chat"))
        .header(ORIGIN, CITY)
        .json(&json!({ "message": "horaires de la mairie" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(&r, ACCESS_CONTROL_ALLOW_ORIGIN), Some(CITY));

    let other = app
        .client
        .post(app.url("/v1/chat"))
        .header(ORIGIN, "https://evil.example")
        .json(&json!({ "message": "horaires de la mairie" }))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&other, ACCESS_CONTROL_ALLOW_ORIGIN), None);
}

#[tokio::test]
async fn with_no_listed_origin_no_browser_origin_is_allowed() {
    let app = TestApp::spawn().await;
    let r = preflight(&app, "/v1/chat", CITY).await;
    assert_eq!(header(&r, ACCESS_CONTROL_ALLOW_ORIGIN), None);
}

#[tokio::test]
async fn widget_messages_name_only_a_listed_origin() {
    let app = TestApp::spawn_with(&["--allowed-origins", CITY]).await;
    for (origin, expected) in [(CITY, Some(CITY)), ("https://evil.example", None)] {
        let r = app
            .client
            .get(app.url("/v1/widget/messages?lang=fr"))
            .header(ORIGIN, origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            header(&r, ACCESS_CONTROL_ALLOW_ORIGIN),
            expected,
            "{origin}"
        );
        assert_eq!(header(&r, "vary".parse().unwrap()), Some("origin"));
    }
}
