//! `TestApp`: the real router on `127.0.0.1:0`, over an engine built once per test binary
//! from the demo corpus and the real model (`make models`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use guichet::config::Config;
use guichet::engine::Engine;
use guichet::http::{AppState, router};
use guichet::store::{SqliteStore, Store};
use serde_json::{Value, json};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The model folder: GUICHET_MODELS, else the checkout's `models/`.
pub fn models() -> PathBuf {
    std::env::var_os("GUICHET_MODELS").map_or_else(|| root().join("models"), PathBuf::from)
}

/// A config over the demo corpus and the real model, with `extra` flags on top.
/// Copies a folder tree (a corpus, to edit it in a test).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let path = item.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A copy of the demo corpus in a temporary folder.
pub fn demo_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    copy_dir(&root().join("corpus"), &corpus);
    (dir, corpus)
}

pub fn config(extra: &[&str]) -> Config {
    let root = root();
    // `--corpus` in `extra` replaces the demo corpus (a copy a test changes).
    let corpus = match extra.iter().position(|a| *a == "--corpus") {
        Some(i) => extra[i + 1].to_string(),
        None => root.join("corpus").display().to_string(),
    };
    let extra: Vec<&str> = match extra.iter().position(|a| *a == "--corpus") {
        Some(i) => [&extra[..i], &extra[i + 2..]].concat(),
        None => extra.to_vec(),
    };
    let mut args: Vec<String> = vec![
        "--corpus".into(),
        corpus,
        "--models".into(),
        models().display().to_string(),
        "--cache".into(),
        root.join("target/test-cache").display().to_string(),
        "--policy".into(),
        root.join("calibration/policy.toml").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Config::from_args(args).expect("test config parses")
}

/// The engine over the demo corpus, built once and shared by every test of the binary.
pub fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            Arc::new(
                guichet::cli::build_engine(&config(&[]))
                    .expect("engine builds: run `make models` first"),
            )
        })
        .clone()
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    /// Holds this server's SQLite file (`--db`), removed when the last user drops it.
    pub dir: Arc<tempfile::TempDir>,
    extra: Vec<String>,
}

/// A store over the test's own SQLite file.
fn open_store(config: &Config) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&config.db).expect("test database opens"))
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// A server whose config has `extra` flags (secrets, origins...).
    pub async fn spawn_with(extra: &[&str]) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Self::start(dir, extra, true).await
    }

    /// A server over the SQLite file in `dir` (written before, as by a process that
    /// stopped), with `extra` flags.
    pub async fn spawn_on(dir: Arc<tempfile::TempDir>, extra: &[&str]) -> Self {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Self::start(dir, extra, true).await
    }

    /// The SQLite file of a server started in `dir`.
    pub fn db_in(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("guichet.sqlite")
    }

    /// A server over another engine (a corpus built for one test).
    pub async fn spawn_with_engine(engine: Arc<Engine>, extra: &[&str]) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let app = Self::start(dir, extra, false).await;
        app.state.set_engine(engine);
        app
    }

    /// A server whose engine is not loaded (yet).
    pub async fn spawn_not_ready() -> Self {
        Self::start(Arc::new(tempfile::tempdir().unwrap()), Vec::new(), false).await
    }

    /// A new server (new `AppState`, new port) over the same flags and SQLite file, as
    /// after a restart of the process.
    pub async fn restart(&self) -> Self {
        Self::start(self.dir.clone(), self.extra.clone(), true).await
    }

    async fn start(dir: Arc<tempfile::TempDir>, extra: Vec<String>, ready: bool) -> Self {
        let db = Self::db_in(&dir).display().to_string();
        let mut flags: Vec<&str> = vec!["--db", &db];
        flags.extend(extra.iter().map(String::as_str));
        let config = config(&flags);
        let state = AppState::new(config.clone(), open_store(&config));
        // As `guichet serve` does: the store's knowledge base, the corpus folder imported
        // into a new store; the shared engine was built from the same files.
        let loaded = guichet::cli::knowledge_base(&config, state.store.as_ref())
            .expect("the test corpus imports");
        if ready {
            state.set_engine(engine());
            state.serving_kb(loaded.version);
        }
        guichet::http::spawn_kb_watch(&state);
        // As `guichet serve` does: answer what an earlier process left in the inbox.
        guichet::channels::inbox::spawn_replay(&state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(state.clone());
        let options = guichet::http::ServeOptions::from_config(&state.config);
        let stop = state.stopping.clone();
        tokio::spawn(async move { guichet::http::serve(listener, app, options, stop).await });
        Self {
            addr,
            client: reqwest::Client::new(),
            state,
            dir,
            extra,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Asks through `POST /v1/chat`; returns the status and the JSON body.
    pub async fn chat(&self, message: &str) -> (u16, Value) {
        let r = self
            .post_json("/v1/chat", &json!({ "message": message }))
            .await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }
}

/// Replaces the first `from` in a file by `to` (which must be there).
pub fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// 1-based line of the first occurrence of `needle` in the file.
pub fn line_of(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{} lacks {needle:?}", path.display()))
        + 1
}

/// A browser signed in to the console: its session cookie and the session's CSRF token,
/// sending requests as the console's pages do (no redirect followed, so tests see them).
pub struct Console {
    pub client: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
    pub account: guichet::staff::Account,
}

/// The password of every test account.
pub const STAFF_PASSWORD: &str = "une phrase de passe de test";

impl TestApp {
    /// Creates an account with `roles` (and `services`, for editors and validators)
    /// straight in the store, as `guichet staff add --password` does.
    pub fn add_staff(
        &self,
        email: &str,
        roles: &[guichet::staff::Role],
        services: &[&str],
    ) -> guichet::staff::Account {
        use guichet::staff;
        let store = self.state.store.as_ref();
        let known: Vec<String> = engine()
            .corpus()
            .services()
            .iter()
            .map(|s| s.key.clone())
            .collect();
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        let new = staff::NewAccount::new(
            email,
            None,
            roles.to_vec(),
            services.iter().map(|s| s.to_string()).collect(),
            &known,
        )
        .expect("a valid test account");
        let now = chrono::Utc::now();
        let (_, token) = staff::add_account(store, &new, &staff::Actor::cli(), now).unwrap();
        staff::complete_setup(store, &token, STAFF_PASSWORD, now).unwrap()
    }

    /// Signs in through the sign-in form, as a browser does.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Console, reqwest::Response> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = client.get(self.url("/console/login")).send().await.unwrap();
        let pre = set_cookie(&page, "guichet_form").expect("the sign-in page sets its form cookie");
        let html = page.text().await.unwrap();
        let token = field(&html, "csrf").expect("the sign-in form carries its token");
        let r = client
            .post(self.url("/console/login"))
            .header("cookie", format!("guichet_form={pre}"))
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf", &token),
                ("next", "/console/"),
            ])
            .send()
            .await
            .unwrap();
        if r.status() != 303 {
            return Err(r);
        }
        let cookie = set_cookie(&r, "guichet_staff").expect("signing in sets the session cookie");
        let mut console = Console {
            client,
            base: format!("http://{}", self.addr),
            cookie: format!("guichet_staff={cookie}"),
            csrf: String::new(),
            account: self
                .state
                .store
                .staff_by_email(&email.to_lowercase())
                .unwrap()
                .unwrap(),
        };
        let home = console.get("/console/").await;
        assert_eq!(home.status(), 200, "the home page opens once signed in");
        console.csrf =
            field(&home.text().await.unwrap(), "csrf").expect("pages carry the CSRF token");
        Ok(console)
    }

    /// A new account with `roles`, signed in.
    pub async fn console_as(&self, email: &str, roles: &[guichet::staff::Role]) -> Console {
        let services: &[&str] = if roles.iter().any(|r| {
            matches!(
                r,
                guichet::staff::Role::Editor | guichet::staff::Role::Validator
            )
        }) {
            &["etat-civil"]
        } else {
            &[]
        };
        self.add_staff(email, roles, services);
        match self.sign_in(email, STAFF_PASSWORD).await {
            Ok(c) => c,
            Err(r) => panic!("sign-in refused: {}", r.status()),
        }
    }
}

impl Console {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form with the session's CSRF token, as the console's forms do.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf", &self.csrf));
        self.post_raw(path, &fields).await
    }

    /// Posts a form as given (no token added).
    pub async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }
}

/// The value of cookie `name` a response sets.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=')?;
            (k.trim() == name).then(|| val.trim().to_string())
        })
}

/// The value of the first hidden field `name` in a page.
pub fn field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    rest.split('"').next().map(str::to_string)
}
