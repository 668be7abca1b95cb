//! Single sign-on against a real OpenID provider: e2e/oidc/provider.mjs (oidc-provider on
//! loopback), driven as a browser would, through its login page, to `Oidc::finish`.
//!
//! Ignored by default: it needs node and the e2e packages (`cd e2e && npm ci`). Run with
//! `cargo test --locked --test api oidc:: -- --ignored`; the test starts the provider itself.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use guichet::config::{OidcSettings, Secret};
use guichet::http::oidc::{Identity, Oidc, OidcError, Pending};

const CLIENT_ID: &str = "guichet-test";
const REDIRECT: &str = "http://127.0.0.1:9/console/login/oidc/callback";

/// The provider process, ended when the test ends (pass or fail).
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_provider(secret: &str) -> Provider {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("e2e/node_modules/oidc-provider").is_dir(),
        "run `npm ci` in e2e/ first"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("node")
        .arg(root.join("e2e/oidc/provider.mjs"))
        .env("OIDC_PORT", port.to_string())
        .env("OIDC_CLIENT_ID", CLIENT_ID)
        .env("OIDC_CLIENT_SECRET", secret)
        .env("OIDC_REDIRECT_URI", REDIRECT)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let issuer = format!("http://127.0.0.1:{port}");
    let ready = format!("oidc-provider ready on {issuer}");
    loop {
        match lines.next() {
            Some(Ok(line)) if line == ready => break,
            Some(Ok(_)) => {}
            _ => panic!("the provider exited before it was ready"),
        }
    }
    // Kept read: a provider writing to a closed pipe would die of EPIPE.
    std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .for_each(|line| println!("provider: {line}"))
    });
    Provider { child, issuer }
}

/// What a browser keeps between the provider's pages: its cookies.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, response: &reqwest::Response) {
        for set in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            if let Some((name, value)) = pair.split_once('=') {
                self.0.insert(name.trim().to_string(), value.to_string());
            }
        }
    }
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Follows the provider's redirects and fills its login form as `login` (any password),
/// until it sends the browser back to guichet: the callback's query.
async fn sign_in_at_provider(start: url::Url, login: &str) -> BTreeMap<String, String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut jar = Jar::default();
    let mut next = http.get(start.clone());
    let mut at = start;
    for _ in 0..12 {
        let response = next
            .header(reqwest::header::COOKIE, jar.header())
            .send()
            .await
            .unwrap();
        jar.take(&response);
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers()[reqwest::header::LOCATION]
                .to_str()
                .unwrap();
            let target = at.join(location).unwrap();
            if target.as_str().starts_with(REDIRECT) {
                return target.query_pairs().into_owned().collect();
            }
            next = http.get(target.clone());
            at = target;
            continue;
        }
        let page = response.text().await.unwrap();
        assert!(status.is_success(), "{status} at {at}: {page}");
        let action = page
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no form at {at}: {page}"));
        let target = at.join(action).unwrap();
        assert!(
            page.contains(r#"name="login""#),
            "expected the login page at {at}, got: {page}"
        );
        next = http.post(target.clone()).form(&[
            ("prompt", "login"),
            ("login", login),
            ("password", "any password"),
        ]);
        at = target;
    }
    panic!("the provider did not send the browser back");
}

async fn discover(provider: &Provider, secret: &str) -> Oidc {
    let settings = OidcSettings {
        issuer: provider.issuer.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: secret.parse::<Secret>().unwrap(),
        roles_claim: "roles".into(),
    };
    Oidc::discover(settings, REDIRECT.into()).await.unwrap()
}

async fn sign_in(oidc: &Oidc, login: &str) -> Result<Identity, OidcError> {
    let (url, pending) = oidc.begin();
    let query = sign_in_at_provider(url, login).await;
    assert_eq!(
        query["state"], pending.state,
        "the state comes back as sent"
    );
    oidc.finish(pending, &query["code"]).await
}

#[tokio::test]
#[ignore = "needs node and e2e/node_modules (npm ci in e2e/); starts e2e/oidc/provider.mjs"]
async fn oidc_staff_sign_in_with_a_real_provider_gives_their_identity_and_roles() {
    let secret = "provider-test-secret-0123456789";
    let provider = start_provider(secret);
    let oidc = discover(&provider, secret).await;

    let (url, _) = oidc.begin();
    let asked: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["code_challenge_method"], "S256");
    let mut scopes: Vec<&str> = asked["scope"].split(' ').collect();
    scopes.sort();
    assert_eq!(scopes, ["email", "openid", "profile"]);

    let camille = sign_in(&oidc, "camille.sso").await.unwrap();
    println!("{camille:?}");
    assert_eq!(
        camille,
        Identity {
            issuer: provider.issuer.clone(),
            subject: "camille.sso".into(),
            email: Some("camille.sso@ville.example".into()),
            name: Some("Camille".into()),
            roles: vec!["agent".into()],
        }
    );
    let dominique = sign_in(&oidc, "dominique.sso").await.unwrap();
    assert_eq!(dominique.name.as_deref(), Some("Dominique"));
    assert_eq!(dominique.roles, ["admin"]);
    let sam = sign_in(&oidc, "sam.sso").await.unwrap();
    assert_eq!(sam.name.as_deref(), Some("Sam"));
    assert!(sam.roles.is_empty(), "{sam:?}");
}

#[tokio::test]
#[ignore = "needs node and e2e/node_modules (npm ci in e2e/); starts e2e/oidc/provider.mjs"]
async fn oidc_a_replayed_code_or_a_tampered_sign_in_is_refused() {
    let secret = "provider-test-secret-0123456789";
    let provider = start_provider(secret);
    let oidc = discover(&provider, secret).await;

    // A code is good once.
    let (url, pending) = oidc.begin();
    let query = sign_in_at_provider(url, "camille.sso").await;
    oidc.finish(pending.clone(), &query["code"]).await.unwrap();
    let e = oidc.finish(pending, &query["code"]).await.unwrap_err();
    assert!(matches!(e, OidcError::Expired), "{e:?}");

    // Another PKCE verifier than the one the challenge was made from: the code is refused.
    let (url, pending) = oidc.begin();
    let query = sign_in_at_provider(url, "camille.sso").await;
    let e = oidc
        .finish(tampered(&pending, "pkce_verifier"), &query["code"])
        .await
        .unwrap_err();
    assert!(matches!(e, OidcError::Expired), "{e:?}");

    // Another nonce than the ID token's: the token is refused.
    let (url, pending) = oidc.begin();
    let query = sign_in_at_provider(url, "camille.sso").await;
    let e = oidc
        .finish(tampered(&pending, "nonce"), &query["code"])
        .await
        .unwrap_err();
    assert!(matches!(e, OidcError::InvalidToken(_)), "{e:?}");
    assert!(!e.to_string().contains(&query["code"]), "{e}");

    // The wrong client secret is the operator's to fix.
    let oidc = discover(&provider, "not-the-secret").await;
    let (url, pending) = oidc.begin();
    let query = sign_in_at_provider(url, "camille.sso").await;
    let e = oidc.finish(pending, &query["code"]).await.unwrap_err();
    assert!(matches!(e, OidcError::Misconfigured(_)), "{e:?}");
}

/// `pending` with one field replaced, through its stored form (JSON), as a tampered store
/// row would be.
fn tampered(pending: &Pending, field: &str) -> Pending {
    let mut json = serde_json::to_value(pending).unwrap();
    json[field] =
        serde_json::Value::String("a-different-value-of-forty-three-characters-long-xx".into());
    serde_json::from_value(json).unwrap()
}
