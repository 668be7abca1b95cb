//! Several real `guichet serve` processes on one store, answering as one: platform
//! messages sent to any of them while one is killed with SIGKILL and restarted, tickets
//! and staff sessions used across them, and (on PostgreSQL) the database restarted under
//! load.
//!
//! The store is one SQLite file the replicas share (WAL and a busy timeout make that work
//! on one machine), or, when `GUICHET_TEST_PG` names a PostgreSQL server, a new database
//! with a random name on it, dropped at the end. Each replica's platform API base is the
//! stub's address under a prefix naming the replica and its incarnation (`/r1g2`), so the
//! stub knows which process sent each piece.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::channels::{CNI_Q, HOURS_Q, meta_sign, telegram_update};
use crate::helpers::{field, root, set_cookie};
use crate::stub::{Received, Stub};

const TG_SECRET: &str = "tg-secret";
const APP_SECRET: &str = "app-secret";
const ADMIN_TOKEN: &str = "agent-token";
const PASSWORD: &str = "une phrase de passe de test";

/// Runs `f` on a thread of its own: the `postgres` crate's client drives a runtime of its
/// own, which cannot be started from inside the test's.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("the thread finishes"))
}

/// The server `GUICHET_TEST_PG` names, if set.
pub fn test_pg() -> Option<String> {
    std::env::var("GUICHET_TEST_PG")
        .ok()
        .filter(|s| !s.is_empty())
}

/// What the replicas share: `db` is their `GUICHET_DB`.
pub struct SharedStore {
    pub db: String,
    pub dir: tempfile::TempDir,
    /// The PostgreSQL server's URL and the database made for this test.
    pg: Option<(String, String)>,
}

impl SharedStore {
    /// A SQLite file in a temporary folder, or with `GUICHET_TEST_PG` a new database.
    pub fn new() -> Self {
        match test_pg() {
            Some(server) => Self::on_postgres(&server),
            None => {
                let dir = tempfile::tempdir().unwrap();
                let db = dir.path().join("guichet.sqlite").display().to_string();
                Self { db, dir, pg: None }
            }
        }
    }

    /// A new database with a random name on `server`.
    pub fn on_postgres(server: &str) -> Self {
        let name = format!(
            "guichet_replicas_{}",
            hex::encode(rand::random::<[u8; 6]>())
        );
        off_runtime(|| {
            let mut admin = postgres::Client::connect(server, postgres::NoTls)
                .unwrap_or_else(|e| panic!("PostgreSQL at {server}: {e}"));
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
        });
        let mut url = reqwest::Url::parse(server).expect("GUICHET_TEST_PG is a URL");
        url.set_path(&name);
        Self {
            db: url.to_string(),
            dir: tempfile::tempdir().unwrap(),
            pg: Some((server.to_string(), name)),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    pub fn backend(&self) -> &'static str {
        if self.is_postgres() {
            "PostgreSQL"
        } else {
            "one SQLite file"
        }
    }

    /// Runs one query returning a count on the shared store.
    pub fn count(&self, sql: &str) -> i64 {
        match &self.pg {
            Some(_) => off_runtime(|| {
                let mut c = postgres::Client::connect(&self.db, postgres::NoTls).unwrap();
                c.query_one(sql, &[]).unwrap().get::<_, i64>(0)
            }),
            None => rusqlite::Connection::open(&self.db)
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
        }
    }
}

impl Drop for SharedStore {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.pg {
            let dropped = off_runtime(|| {
                let mut admin = postgres::Client::connect(server, postgres::NoTls)?;
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            });
            if let Err(e) = dropped {
                eprintln!("database {name} not dropped: {e}");
            }
        }
    }
}

/// A free loopback port, kept by a replica across its restarts (platforms send to a fixed
/// address).
fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

pub struct Replica {
    pub addr: String,
    /// Incremented at each start: `r{index}g{generation}` names one process.
    pub generation: usize,
    child: Option<Child>,
}

/// Replicas over one store, their platform APIs at one stub.
pub struct Cluster {
    pub store: Arc<SharedStore>,
    pub stub: Arc<Stub>,
    pub replicas: Vec<Replica>,
    key_file: PathBuf,
    log: PathBuf,
}

impl Cluster {
    pub fn new(store: SharedStore, stub: Stub, n: usize) -> Self {
        let key_file = store.dir.path().join("route.key");
        let log = store.dir.path().join("replicas.log");
        let replicas = (0..n)
            .map(|_| Replica {
                addr: free_addr(),
                generation: 0,
                child: None,
            })
            .collect();
        Self {
            store: Arc::new(store),
            stub: Arc::new(stub),
            replicas,
            key_file,
            log,
        }
    }

    /// Every replica started: the first until it listens (it has migrated the store and
    /// imported the corpus by then), then the others; returns once all are ready, with
    /// how long each took.
    pub async fn start_all(&mut self) -> Vec<Duration> {
        let started = Instant::now();
        self.spawn(0);
        self.wait_for(0, "/healthz", started).await;
        for i in 1..self.replicas.len() {
            self.spawn(i);
        }
        let mut took = Vec::new();
        for i in 0..self.replicas.len() {
            took.push(self.wait_ready(i, started).await);
        }
        took
    }

    /// Whether replica `i` answers its readiness check now.
    pub async fn is_ready(&self, i: usize) -> bool {
        reqwest::Client::new()
            .get(self.url(i, "/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    pub fn label(&self, i: usize) -> String {
        format!("r{i}g{}", self.replicas[i].generation)
    }

    pub fn url(&self, i: usize, path: &str) -> String {
        format!("http://{}{path}", self.replicas[i].addr)
    }

    pub fn addrs(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.addr.clone()).collect()
    }

    /// The environment every `guichet` command of this cluster runs with.
    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_guichet"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        c.env_remove("GUICHET_TEST_PG")
            .env("GUICHET_DB", &self.store.db)
            .env("GUICHET_ROUTE_KEY_FILE", &self.key_file)
            .env("GUICHET_CORPUS", root().join("corpus"))
            .env("GUICHET_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        c
    }

    /// Starts replica `i` as a new incarnation, without waiting.
    pub fn spawn(&mut self, i: usize) {
        let path = |p: &str| root().join(p).display().to_string();
        let base = format!("{}/{}", self.stub.base, self.label(i));
        let child = self
            .command()
            .arg("serve")
            .args(["--bind", &self.replicas[i].addr])
            .args(["--models", &path("models")])
            .args(["--cache", &path("target/test-cache")])
            .args(["--policy", &path("calibration/policy.toml")])
            .args([
                "--telegram-secret",
                TG_SECRET,
                "--telegram-bot-token",
                "123:abc",
            ])
            .args(["--telegram-api-base", &base])
            .args([
                "--meta-verify-token",
                "verify-me",
                "--meta-app-secret",
                APP_SECRET,
            ])
            .args(["--meta-api-base", &base, "--whatsapp-token", "wa-token"])
            .args(["--admin-token", ADMIN_TOKEN])
            // One test client speaks for hundreds of residents and agents.
            .args(["--rate-public", "100000", "--rate-agents", "100000"])
            .args(["--max-connections-per-client", "1000"])
            .spawn()
            .expect("the guichet binary starts");
        self.replicas[i].child = Some(child);
    }

    pub async fn wait_ready(&mut self, i: usize, started: Instant) -> Duration {
        self.wait_for(i, "/readyz", started).await
    }

    async fn wait_for(&mut self, i: usize, path: &str, started: Instant) -> Duration {
        let client = reqwest::Client::new();
        let url = self.url(i, path);
        while started.elapsed() < Duration::from_secs(300) {
            let ready = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return started.elapsed();
            }
            if let Some(status) = self.replicas[i].child.as_mut().unwrap().try_wait().unwrap() {
                panic!("replica {i} exited ({status}): {}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("replica {i} not ready: {}", self.log_tail());
    }

    /// SIGKILL to replica `i`: returns the incarnation killed and the instant just before.
    pub fn kill(&mut self, i: usize) -> (String, Instant) {
        let label = self.label(i);
        let mut child = self.replicas[i].child.take().expect("replica running");
        let at = Instant::now();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        self.replicas[i].generation += 1;
        (label, at)
    }

    /// `guichet staff add` on the shared store: an agent with the test password.
    pub fn add_agent(&self, email: &str, name: &str) {
        let out = self
            .command()
            .stderr(Stdio::piped())
            .args(["staff", "add", email, "--role", "agent", "--name", name])
            .args(["--password", PASSWORD])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "staff add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The replicas' logged errors (their log is in the store's temporary folder, gone
    /// after the test).
    fn errors(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
        errors.join("\n")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut start = log.len().saturating_sub(3000);
        while !log.is_char_boundary(start) {
            start += 1;
        }
        log[start..].to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for r in &mut self.replicas {
            if let Some(mut c) = r.child.take() {
                c.kill().ok();
                c.wait().ok();
            }
        }
    }
}

/// A platform message, as the platform posts it to a webhook.
#[derive(Clone)]
struct Message {
    /// Whom the reply goes to, as the stub reads it: `tg:<chat>` or `wa:<phone>`.
    to: String,
    question: &'static str,
    path: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

impl Message {
    fn telegram(n: i64, question: &'static str) -> Self {
        let chat = 700_000 + n;
        Self {
            to: format!("tg:{chat}"),
            question,
            path: "/webhooks/telegram",
            body: telegram_update(9_000_000 + n, chat, question),
            headers: vec![("x-telegram-bot-api-secret-token", TG_SECRET.into())],
        }
    }

    fn whatsapp(n: i64, question: &'static str) -> Self {
        let phone = format!("3361{n:07}");
        let body = serde_json::to_vec(&json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "33199000000", "phone_number_id": "PNID" },
                "contacts": [{ "profile": { "name": "A" }, "wa_id": phone }],
                "messages": [{ "from": phone, "id": format!("wamid.R{n}"), "timestamp": "1",
                               "type": "text", "text": { "body": question } }]
            }}]}]
        }))
        .unwrap();
        let sig = meta_sign(APP_SECRET, &body);
        Self {
            to: format!("wa:{phone}"),
            question,
            path: "/webhooks/whatsapp",
            body,
            headers: vec![("x-hub-signature-256", sig)],
        }
    }

    fn channel(&self) -> &str {
        &self.to[..2]
    }

    /// Posts once to `addr`: the status, or 0 when the connection failed.
    async fn post(&self, client: &reqwest::Client, addr: &str) -> u16 {
        let mut r = client
            .post(format!("http://{addr}{}", self.path))
            .timeout(Duration::from_secs(15))
            .header("content-type", "application/json")
            .body(self.body.clone());
        for (k, v) in &self.headers {
            r = r.header(*k, v);
        }
        r.send().await.map_or(0, |r| r.status().as_u16())
    }
}

/// How a platform delivers: to a replica chosen at random, again (maybe to another) after
/// a failed connection or a 5xx, until a 2xx. Returns the attempts and the statuses that
/// were not 2xx.
async fn deliver_until_acked(
    client: &reqwest::Client,
    addrs: &[String],
    m: &Message,
    rng: &mut StdRng,
) -> (usize, Vec<u16>) {
    let mut refused = Vec::new();
    for attempt in 1..=400 {
        let addr = &addrs[rng.gen_range(0..addrs.len())];
        let status = m.post(client, addr).await;
        if (200..300).contains(&status) {
            return (attempt, refused);
        }
        assert!(
            status == 0 || status >= 500,
            "{}: {status} is not a reason to resend",
            m.to
        );
        refused.push(status);
        tokio::time::sleep(Duration::from_millis(rng.gen_range(100..400))).await;
    }
    panic!("{} never acknowledged: {refused:?}", m.to);
}

/// One piece the stub accepted: who it went to, which process sent it, when, and what
/// (the body without its recipient, to compare across recipients).
struct Piece {
    to: String,
    from: String,
    at: Instant,
    what: String,
}

fn piece(r: &Received) -> Option<Piece> {
    let mut segments = r.path.trim_start_matches('/').split('/');
    let from = segments.next()?.to_string();
    let mut body = r.body.clone();
    let obj = body.as_object_mut()?;
    let to = if r.path.ends_with("/sendMessage") {
        format!("tg:{}", obj.remove("chat_id")?)
    } else if r.path.ends_with("/messages") {
        format!("wa:{}", obj.remove("to")?.as_str()?)
    } else {
        return None;
    };
    Some(Piece {
        to,
        from,
        at: r.at,
        what: body.to_string(),
    })
}

/// Pieces per recipient, in the order the stub accepted them.
fn pieces_by_recipient(stub: &Stub) -> HashMap<String, Vec<Piece>> {
    let mut out: HashMap<String, Vec<Piece>> = HashMap::new();
    for p in stub.received().iter().filter_map(piece) {
        out.entry(p.to.clone()).or_default().push(p);
    }
    out
}

/// Waits until no request reached the stub for `quiet`, at most `limit`.
async fn until_quiet(stub: &Stub, quiet: Duration, limit: Duration) {
    let started = Instant::now();
    let mut seen = stub.received().len();
    let mut since = Instant::now();
    while started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = stub.received().len();
        if now != seen {
            seen = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

/// Questions the demo corpus answers, and requests for a person (a hand-off).
const ANSWERED: [&str; 6] = [
    HOURS_Q,
    CNI_Q,
    "Comment déclarer la naissance de mon enfant ?",
    "Comment faire un PACS à Belleval ?",
    "Comment m'inscrire sur les listes électorales ?",
    "Comment prendre rendez-vous à la mairie ?",
];
const HANDOFF: [&str; 2] = [
    "je veux parler à un conseiller",
    "je voudrais parler à une personne s'il vous plaît",
];

/// How a message is judged at the stub against the reply the same question got with no
/// fault (`want`, piece by piece).
#[derive(Debug, PartialEq)]
enum Verdict {
    Once,
    /// Every piece arrived; `n` extra copies, each sent by a process killed after the
    /// platform accepted it and before it sent anything else to that person (the gaps
    /// between the acceptance and the kill).
    WindowDuplicates(Vec<Duration>),
    /// Extra copies some kill does not explain.
    Duplicated(String),
    /// Pieces missing (a prefix of the reply arrived).
    Lost(usize),
    /// Something else than the reply.
    Wrong(String),
}

fn judge(want: &[String], got: &[Piece], kills: &HashMap<String, Instant>) -> Verdict {
    // Runs of the same piece, in order: a replay resends only the pieces not recorded, so
    // an extra copy follows the first at once.
    let mut runs: Vec<(&str, Vec<&Piece>)> = Vec::new();
    for p in got {
        match runs.last_mut() {
            Some((what, copies)) if *what == p.what => copies.push(p),
            _ => runs.push((&p.what, vec![p])),
        }
    }
    let distinct: Vec<&str> = runs.iter().map(|(w, _)| *w).collect();
    if distinct.len() < want.len() && distinct.iter().zip(want).all(|(a, b)| *a == b) {
        return Verdict::Lost(want.len() - distinct.len());
    }
    if distinct.len() != want.len() || distinct.iter().zip(want).any(|(a, b)| *a != b) {
        return Verdict::Wrong(format!("{distinct:#?}"));
    }
    let mut gaps = Vec::new();
    for (_, copies) in &runs {
        for (k, c) in copies.iter().enumerate().take(copies.len() - 1) {
            let Some(killed) = kills.get(&c.from) else {
                return Verdict::Duplicated(format!("{} sent it and was not killed", c.from));
            };
            if *killed < c.at {
                return Verdict::Duplicated(format!("{} was killed before", c.from));
            }
            let later = got.iter().any(|p| p.from == c.from && p.at > c.at);
            if later || copies[k + 1].from == c.from {
                return Verdict::Duplicated(format!("{} sent more after it", c.from));
            }
            gaps.push(*killed - c.at);
        }
    }
    if gaps.is_empty() {
        Verdict::Once
    } else {
        Verdict::WindowDuplicates(gaps)
    }
}

/// The reply each (channel, question) gets with no fault: one person per pair asks on
/// replica 0, before the run.
async fn replies_without_faults(cluster: &Cluster) -> HashMap<(String, &'static str), Vec<String>> {
    let client = reqwest::Client::new();
    let mut probes = Vec::new();
    for (n, q) in ANSWERED.iter().chain(&HANDOFF).enumerate() {
        probes.push(Message::telegram(90_000 + n as i64, q));
        probes.push(Message::whatsapp(90_000 + n as i64, q));
    }
    for m in &probes {
        assert_eq!(m.post(&client, &cluster.replicas[0].addr).await, 200);
    }
    until_quiet(
        &cluster.stub,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )
    .await;
    let got = pieces_by_recipient(&cluster.stub);
    probes
        .iter()
        .map(|m| {
            let want: Vec<String> = got
                .get(&m.to)
                .map(|ps| ps.iter().map(|p| p.what.clone()).collect())
                .unwrap_or_default();
            assert!(!want.is_empty(), "{} {:?} got no reply", m.to, m.question);
            ((m.channel().to_string(), m.question), want)
        })
        .collect()
}

const KILLS: usize = 4;
/// One message released every `PACE_MS`: the 600 span about 70 s, the time the kills take.
const PACE_MS: u64 = 120;
const PER_CHANNEL: i64 = 300;

/// Three replicas, 600 messages to random replicas, one replica killed and restarted
/// [`KILLS`] times during the run: at the stub, every message is answered, each piece
/// once except those whose sender died between the platform's acceptance and its record.
#[tokio::test]
async fn replicas_three_answer_600_platform_messages_exactly_once_while_one_is_killed_repeatedly() {
    let began = Instant::now();
    let mut cluster = Cluster::new(SharedStore::new(), Stub::start().await, 3);
    let starts = cluster.start_all().await;
    let want = replies_without_faults(&cluster).await;
    let probe_requests = cluster.stub.received().len();

    let seed: u64 = rand::random();
    let mut messages = Vec::new();
    for n in 0..PER_CHANNEL {
        // One person in five asks for someone.
        let pick = |k: i64| {
            if k % 5 == 4 {
                HANDOFF[(k as usize / 5) % HANDOFF.len()]
            } else {
                ANSWERED[k as usize % ANSWERED.len()]
            }
        };
        messages.push(Message::telegram(n, pick(n)));
        messages.push(Message::whatsapp(n, pick(n + 2)));
    }
    // Interleaved channels, in a random order.
    let mut order = StdRng::seed_from_u64(seed);
    for i in (1..messages.len()).rev() {
        messages.swap(i, order.gen_range(0..=i));
    }

    // The platforms: each message released at its time, delivered until acknowledged.
    let addrs = Arc::new(cluster.addrs());
    let client = reqwest::Client::new();
    let pace = Duration::from_millis(PACE_MS);
    let sending = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for (i, m) in messages.iter().cloned().enumerate() {
        let (addrs, client) = (addrs.clone(), client.clone());
        senders.spawn(async move {
            tokio::time::sleep(pace * i as u32).await;
            let mut rng = StdRng::seed_from_u64(seed ^ (i as u64 + 1));
            deliver_until_acked(&client, &addrs, &m, &mut rng).await
        });
    }

    // A few seconds apart, a ready replica killed and started again at once, as long as
    // another one is ready to take the traffic (each start loads the model: tens of
    // seconds in a debug build, during which the others answer).
    let killer = tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(seed.rotate_left(17));
        let mut kills = HashMap::new();
        let mut restarting: Vec<(usize, Instant)> = Vec::new();
        let mut restarts = Vec::new();
        while kills.len() < KILLS {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(2000..5000))).await;
            let mut ready = Vec::new();
            for i in 0..cluster.replicas.len() {
                if cluster.is_ready(i).await {
                    ready.push(i);
                }
            }
            for (i, started) in std::mem::take(&mut restarting) {
                if ready.contains(&i) {
                    restarts.push(started.elapsed());
                } else {
                    restarting.push((i, started));
                }
            }
            if ready.len() < 2 {
                continue;
            }
            let victim = ready[rng.gen_range(0..ready.len())];
            let (label, at) = cluster.kill(victim);
            kills.insert(label, at);
            cluster.spawn(victim);
            restarting.push((victim, Instant::now()));
        }
        for (i, started) in restarting {
            restarts.push(cluster.wait_ready(i, started).await);
        }
        (cluster, kills, restarts)
    });

    let mut attempts = 0;
    let mut refused: HashMap<u16, usize> = HashMap::new();
    let mut acked = 0;
    while let Some(done) = senders.join_next().await {
        let (a, r) = done.unwrap();
        acked += 1;
        attempts += a;
        for s in r {
            *refused.entry(s).or_default() += 1;
        }
    }
    let sent_for = sending.elapsed();
    let (cluster, kills, restarts) = killer.await.unwrap();

    // Every message answered (or two minutes), then quiet for longer than a replay look.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = pieces_by_recipient(&cluster.stub);
        let complete = messages.iter().all(|m| {
            let n = want[&(m.channel().to_string(), m.question)].len();
            got.get(&m.to).is_some_and(|ps| ps.len() >= n)
        });
        if complete || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    until_quiet(
        &cluster.stub,
        Duration::from_secs(7),
        Duration::from_secs(60),
    )
    .await;

    let got = pieces_by_recipient(&cluster.stub);
    let none = Vec::new();
    let mut once = 0;
    let mut with_window_duplicates = 0;
    let mut gaps = Vec::new();
    let mut failures = Vec::new();
    let mut lost = 0;
    for m in &messages {
        let w = &want[&(m.channel().to_string(), m.question)];
        match judge(w, got.get(&m.to).unwrap_or(&none), &kills) {
            Verdict::Once => once += 1,
            Verdict::WindowDuplicates(g) => {
                with_window_duplicates += 1;
                gaps.extend(g);
            }
            Verdict::Lost(n) => {
                lost += 1;
                failures.push(format!("{} {:?}: {n} piece(s) lost", m.to, m.question));
            }
            other => failures.push(format!("{} {:?}: {other:?}", m.to, m.question)),
        }
    }
    let received = cluster.stub.received();
    let pieces = received.len() - probe_requests;
    // The last piece's acceptance: when the last message was fully answered.
    let answered_after = received
        .iter()
        .map(|r| r.at.saturating_duration_since(sending))
        .max()
        .unwrap_or_default();
    let widest = gaps.iter().max().copied().unwrap_or_default();
    println!(
        "replicas exactly once on {}: {} messages sent ({} Telegram, {} WhatsApp), {acked} \
         acknowledged after {attempts} posts (refused: {refused:?}), sent over {sent_for:.1?}; \
         {} kills with SIGKILL, restarts ready in {restarts:.1?} (first starts {starts:.1?}); \
         {pieces} pieces accepted by the stub; {once} answered exactly once, \
         {with_window_duplicates} with {} duplicate piece(s) all in the window between the \
         platform's acceptance and the kill (widest gap {widest:?}, gaps {gaps:?}), {lost} \
         with pieces lost, {} failures; every message answered {answered_after:.1?} after \
         sending began; total {:.1?}",
        cluster.store.backend(),
        messages.len(),
        PER_CHANNEL,
        PER_CHANNEL,
        kills.len(),
        gaps.len(),
        failures.len(),
        began.elapsed(),
    );
    assert_eq!(acked, messages.len(), "every message acknowledged");
    assert!(
        failures.is_empty(),
        "{failures:#?}\nthe replicas' errors:\n{}",
        cluster.errors()
    );
    assert_eq!(once + with_window_duplicates, messages.len());
}

/// A browser signed in to the console on one replica: its cookie and CSRF token, sent to
/// whichever replica a load balancer would pick.
struct Staff {
    client: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl Staff {
    async fn sign_in(base: &str, email: &str) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = client
            .get(format!("{base}/console/login"))
            .send()
            .await
            .unwrap();
        let pre = set_cookie(&page, "guichet_form").expect("the form cookie");
        let token = field(&page.text().await.unwrap(), "csrf").expect("the form's token");
        let r = client
            .post(format!("{base}/console/login"))
            .header("cookie", format!("guichet_form={pre}"))
            .form(&[
                ("email", email),
                ("password", PASSWORD),
                ("csrf", &token),
                ("next", "/console/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "signed in on {base}");
        let cookie = format!(
            "guichet_staff={}",
            set_cookie(&r, "guichet_staff").expect("the session cookie")
        );
        let mut me = Self {
            client,
            cookie,
            csrf: String::new(),
        };
        let home = me.get(base, "/console/").await;
        assert_eq!(home.status(), 200);
        me.csrf = field(&home.text().await.unwrap(), "csrf").expect("the session's token");
        me
    }

    async fn get(&self, base: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{base}{path}"))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, base: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut fields = form.to_vec();
        fields.push(("csrf", &self.csrf));
        self.client
            .post(format!("{base}{path}"))
            .header("cookie", &self.cookie)
            .form(&fields)
            .send()
            .await
            .unwrap()
    }
}

/// The agents' API of a replica.
async fn agents_api(client: &reqwest::Client, url: String, body: Option<Value>) -> (u16, Value) {
    let r = match body {
        None => client.get(url),
        Some(b) => client.post(url).json(&b),
    };
    let r = r.bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The open tickets replica `i` lists.
async fn open_tickets(cluster: &Cluster, i: usize) -> Vec<Value> {
    let client = reqwest::Client::new();
    let (status, list) =
        agents_api(&client, cluster.url(i, "/v1/handoffs?status=open"), None).await;
    assert_eq!(status, 200, "{list}");
    list["tickets"].as_array().unwrap().clone()
}

/// A hand-off opened through replica A (the web chat, and a Telegram webhook) is listed
/// on B's API and console, taken once of two concurrent takes on B and C, answered from
/// C, and the reply reaches the person; a console session signed in on A works on B and
/// C.
#[tokio::test]
async fn replicas_a_ticket_opened_on_one_is_listed_taken_once_and_answered_from_the_others() {
    let mut cluster = Cluster::new(SharedStore::new(), Stub::start().await, 3);
    cluster.start_all().await;
    let [a, b, c] = [0, 1, 2].map(|i| cluster.url(i, ""));
    cluster.add_agent("camille.martin@belleval.fr", "Camille");
    cluster.add_agent("karim@belleval.fr", "Karim");
    let client = reqwest::Client::new();

    // The web chat on A: a person asks for someone.
    let session = hex::encode(rand::random::<[u8; 16]>());
    let r = client
        .post(format!("{a}/v1/chat"))
        .json(&json!({ "message": "je veux parler à quelqu'un", "session_id": session }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["outcome"], "handoff", "{reply}");
    let tickets = open_tickets(&cluster, 1).await;
    assert_eq!(tickets.len(), 1, "B lists the ticket A opened: {tickets:?}");
    assert_eq!(tickets[0]["channel"], "web");
    let id = tickets[0]["id"].as_i64().unwrap();

    // Two agents signed in on A; their sessions on B's and C's console.
    let camille = Staff::sign_in(&a, "camille.martin@belleval.fr").await;
    let karim = Staff::sign_in(&a, "karim@belleval.fr").await;
    let inbox = camille.get(&b, "/console/inbox").await;
    assert_eq!(inbox.status(), 200, "A's session works on B");
    let inbox = inbox.text().await.unwrap();
    assert!(
        inbox.contains(&format!("href=\"/console/tickets/{id}\"")),
        "{inbox}"
    );
    assert_eq!(karim.get(&c, "/console/inbox").await.status(), 200);

    // Both take it at once, on B and on C: one wins.
    let take = format!("/console/tickets/{id}/take");
    let (on_b, on_c) = tokio::join!(camille.post(&b, &take, &[]), karim.post(&c, &take, &[]));
    let (winner, name, lost) = match (on_b.status().as_u16(), on_c.status().as_u16()) {
        (303, 409) => (&camille, "Camille", on_c),
        (409, 303) => (&karim, "Karim", on_b),
        other => panic!("one take wins, the other is refused: {other:?}"),
    };
    let refused = lost.text().await.unwrap();
    assert!(
        refused.contains(&format!("déjà prise en charge par {name}")),
        "{refused}"
    );

    // The winner answers from C; the widget polling A gets it.
    let text = "Bonjour, je reprends votre demande et je vous réponds ici.";
    let sent = winner
        .post(
            &c,
            &format!("/console/tickets/{id}/reply"),
            &[("text", text)],
        )
        .await;
    assert_eq!(sent.status(), 303);
    let location = sent.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("fait=envoye"), "{location}");
    let polled: Value = client
        .get(format!("{a}/v1/chat/{session}/messages?after=0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = polled["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{polled}");
    assert_eq!(messages[0]["text"], text);
    assert_eq!(messages[0]["agent"], name);

    // A Telegram hand-off through A's webhook, taken through the agents' API.
    let m = Message::telegram(1, HANDOFF[0]);
    assert_eq!(m.post(&client, &cluster.replicas[0].addr).await, 200);
    cluster.stub.wait_for("/sendMessage", 2).await;
    let tickets = open_tickets(&cluster, 1).await;
    let t = tickets
        .iter()
        .find(|t| t["channel"] == "telegram")
        .unwrap_or_else(|| panic!("B lists the Telegram ticket: {tickets:?}"));
    let id = t["id"].as_i64().unwrap();
    let claim = |i: usize, agent: &str| {
        agents_api(
            &client,
            cluster.url(i, &format!("/v1/handoffs/{id}/claim")),
            Some(json!({ "agent": agent })),
        )
    };
    let (on_b, on_c) = tokio::join!(claim(1, "Camille"), claim(2, "Karim"));
    let agent = match (on_b.0, on_c.0) {
        (200, 409) => "Camille",
        (409, 200) => "Karim",
        other => panic!("one claim wins, the other is refused: {other:?} {on_b:?} {on_c:?}"),
    };
    let text = "Bonjour, votre dossier est en cours de traitement.";
    let (status, answered) = agents_api(
        &client,
        cluster.url(2, &format!("/v1/handoffs/{id}/reply")),
        Some(json!({ "text": text, "agent": agent })),
    )
    .await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered["delivered"], true, "{answered}");
    let from_c = cluster.label(2);
    let reached: Vec<Piece> = pieces_by_recipient(&cluster.stub)
        .remove(&m.to)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.what.contains(text))
        .collect();
    assert_eq!(reached.len(), 1, "the reply reached the person once");
    assert_eq!(reached[0].from, from_c, "sent by C");
    println!(
        "replicas tickets on {}: web ticket taken by {name} (B and C at once), answered from C, \
         polled on A; Telegram ticket claimed by {agent} through the API, answered from C",
        cluster.store.backend()
    );
}

/// A PostgreSQL cluster of this test's own in a temporary folder, so that it can be
/// stopped and started (the shared server is never restarted). Run as the `postgres`
/// user when the test runs as root: PostgreSQL refuses to run as root.
struct PrivatePostgres {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn start_new() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL installed under /usr/lib/postgresql")
            .filter_map(|d| d.ok().map(|d| d.path().join("bin")))
            .filter(|b| b.join("pg_ctl").exists())
            .max()
            .expect("pg_ctl");
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        if is_root() {
            let owned = Command::new("chown")
                .args(["postgres:postgres", &data.display().to_string()])
                .status()
                .unwrap();
            assert!(owned.success());
        }
        let port = free_addr().rsplit_once(':').unwrap().1.parse().unwrap();
        let pg = Self {
            _dir: dir,
            data,
            bin,
            port,
        };
        pg.run(&format!(
            "{}/initdb -D {} -U postgres --auth=trust -E UTF8 --no-sync",
            pg.bin.display(),
            pg.data.display()
        ));
        pg.start();
        pg
    }

    fn run(&self, command: &str) {
        let out = if is_root() {
            Command::new("su")
                .args(["postgres", "-s", "/bin/sh", "-c", command])
                .output()
        } else {
            Command::new("/bin/sh").args(["-c", command]).output()
        }
        .unwrap();
        assert!(
            out.status.success(),
            "{command}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, action: &str) {
        let data = self.data.display();
        self.run(&format!(
            "{}/pg_ctl -D {data} -l {data}/server.log -w -o \"-p {} -k {data} -c listen_addresses=127.0.0.1\" {action}",
            self.bin.display(),
            self.port
        ));
    }

    fn start(&self) {
        self.pg_ctl("start");
    }

    /// Stops at once: open connections are cut, as when the server fails.
    fn stop(&self) {
        self.pg_ctl("-m fast stop");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data.display();
        let command = format!(
            "{}/pg_ctl -D {data} -m immediate -w stop",
            self.bin.display()
        );
        let _ = if is_root() {
            Command::new("su")
                .args(["postgres", "-s", "/bin/sh", "-c", &command])
                .output()
        } else {
            Command::new("/bin/sh").args(["-c", &command]).output()
        };
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// What one request of the load got.
#[derive(Debug, Clone)]
struct Outcome {
    replica: usize,
    at: Instant,
    status: u16,
    retry_after: bool,
}

async fn post_json(client: &reqwest::Client, url: String, body: &Value) -> (u16, bool, Value) {
    match client
        .post(url)
        .timeout(Duration::from_secs(30))
        .json(body)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry_after = r.headers().contains_key("retry-after");
            (status, retry_after, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, false, Value::Null),
    }
}

/// Two replicas under a steady stream of web chat questions and Telegram updates;
/// PostgreSQL stopped for a few seconds, then started: during the outage requests get 503
/// with `Retry-After` (the platform sends its updates again), nothing acknowledged is
/// lost, and the replicas serve again by themselves.
#[tokio::test]
async fn replicas_postgres_restarted_under_load_answers_503_with_retry_after_loses_nothing_and_resumes()
 {
    // Not skipped without it: `make test` sets it, and a test that passes by not running
    // would hide that PostgreSQL was never tried.
    assert!(
        test_pg().is_some(),
        "GUICHET_TEST_PG is not set: `make test` starts a PostgreSQL server and sets it"
    );
    let pg = PrivatePostgres::start_new();
    let mut cluster = Cluster::new(SharedStore::on_postgres(&pg.url()), Stub::start().await, 2);
    cluster.start_all().await;
    let want = replies_without_faults(&cluster).await;
    let turns_before = cluster
        .store
        .count("SELECT count(*) FROM turns WHERE author = 'person'");

    let client = reqwest::Client::new();
    let addrs = Arc::new(cluster.addrs());
    let chats = Arc::new(std::sync::Mutex::new(Vec::<Outcome>::new()));
    let hooks = Arc::new(std::sync::Mutex::new(Vec::<Outcome>::new()));
    let mut load = tokio::task::JoinSet::new();
    let mut telegram = Vec::new();
    let mut n: i64 = 0;
    let began = Instant::now();
    let mut stopped_at = None;
    let mut started_at = None;
    let mut outage = Duration::ZERO;
    // 25 s of load: 8 s, PostgreSQL down for 5 s, then 12 s.
    while began.elapsed() < Duration::from_secs(25) {
        if stopped_at.is_none() && began.elapsed() > Duration::from_secs(8) {
            stopped_at = Some(Instant::now());
            pg.stop();
        }
        if let (Some(s), None) = (stopped_at, started_at)
            && s.elapsed() > Duration::from_secs(5)
        {
            pg.start();
            started_at = Some(Instant::now());
            outage = s.elapsed();
        }
        n += 1;
        let replica = n as usize % addrs.len();
        let (c, a, chats) = (client.clone(), addrs.clone(), chats.clone());
        load.spawn(async move {
            let body = json!({
                "message": ANSWERED[n as usize % ANSWERED.len()],
                "session_id": format!("{n:032x}"),
            });
            let (status, retry_after, _) =
                post_json(&c, format!("http://{}/v1/chat", a[replica]), &body).await;
            chats.lock().unwrap().push(Outcome {
                replica,
                at: Instant::now(),
                status,
                retry_after,
            });
        });
        if n % 2 == 0 {
            let m = Message::telegram(n, ANSWERED[n as usize % ANSWERED.len()]);
            telegram.push(m.clone());
            let (client, addrs, hooks) = (client.clone(), addrs.clone(), hooks.clone());
            load.spawn(async move {
                // As Telegram does: the same update again until a 2xx.
                for attempt in 0..600 {
                    let replica = (n as usize + attempt) % addrs.len();
                    let mut r = client
                        .post(format!("http://{}{}", addrs[replica], m.path))
                        .timeout(Duration::from_secs(30))
                        .header("content-type", "application/json")
                        .body(m.body.clone());
                    for (k, v) in &m.headers {
                        r = r.header(*k, v);
                    }
                    let (status, retry_after) = match r.send().await {
                        Ok(r) => (r.status().as_u16(), r.headers().contains_key("retry-after")),
                        Err(_) => (0, false),
                    };
                    hooks.lock().unwrap().push(Outcome {
                        replica,
                        at: Instant::now(),
                        status,
                        retry_after,
                    });
                    if (200..300).contains(&status) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                panic!("{} never acknowledged", m.to);
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while let Some(done) = load.join_next().await {
        done.unwrap();
    }
    let restarted = started_at.expect("PostgreSQL was restarted");
    let stopped = stopped_at.unwrap();

    // Every acknowledged update answered at the stub, in full.
    let deadline = Instant::now() + Duration::from_secs(90);
    let complete = |got: &HashMap<String, Vec<Piece>>| {
        telegram.iter().all(|m| {
            let w = &want[&(m.channel().to_string(), m.question)];
            got.get(&m.to).is_some_and(|ps| ps.len() >= w.len())
        })
    };
    while !complete(&pieces_by_recipient(&cluster.stub)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    until_quiet(
        &cluster.stub,
        Duration::from_secs(7),
        Duration::from_secs(60),
    )
    .await;
    let got = pieces_by_recipient(&cluster.stub);
    let none = Vec::new();
    let no_kills = HashMap::new();
    let mut not_answered = Vec::new();
    for m in &telegram {
        let w = &want[&(m.channel().to_string(), m.question)];
        let verdict = judge(w, got.get(&m.to).unwrap_or(&none), &no_kills);
        if verdict != Verdict::Once {
            not_answered.push(format!("{}: {verdict:?}", m.to));
        }
    }

    let chats = chats.lock().unwrap().clone();
    let hooks = hooks.lock().unwrap().clone();
    let ok = |o: &&Outcome| o.status == 200;
    let unavailable = |o: &&Outcome| o.status == 503;
    let chat_ok = chats.iter().filter(ok).count();
    let chat_503 = chats.iter().filter(unavailable).count();
    let chat_503_retry = chats
        .iter()
        .filter(unavailable)
        .filter(|o| o.retry_after)
        .count();
    let hook_503 = hooks.iter().filter(unavailable).count();
    let hook_503_retry = hooks
        .iter()
        .filter(unavailable)
        .filter(|o| o.retry_after)
        .count();
    let acked = hooks
        .iter()
        .filter(|o| (200..300).contains(&o.status))
        .count();
    let other: Vec<u16> = chats
        .iter()
        .chain(&hooks)
        .filter(|o| o.status != 200 && o.status != 503)
        .map(|o| o.status)
        .collect();
    // Per replica: the first success answered after PostgreSQL was back, and whether
    // every request answered later than that succeeded.
    let mut resumed = Vec::new();
    for r in 0..addrs.len() {
        let first = chats
            .iter()
            .filter(|o| o.replica == r && o.at > restarted && o.status == 200)
            .map(|o| o.at)
            .min();
        resumed.push(first.map(|f| f - restarted));
    }
    let last_failure = chats
        .iter()
        .chain(&hooks)
        .filter(|o| o.status != 200)
        .map(|o| o.at)
        .max();
    let turns = cluster
        .store
        .count("SELECT count(*) FROM turns WHERE author = 'person'")
        - turns_before;
    println!(
        "replicas PostgreSQL outage: stopped {outage:.1?} under load; web chat {} requests: \
         {chat_ok} × 200, {chat_503} × 503 ({chat_503_retry} with Retry-After); Telegram {} \
         updates, {} posts: {acked} acknowledged, {hook_503} × 503 ({hook_503_retry} with \
         Retry-After); other statuses {other:?}; first 200 per replica after the restart: \
         {resumed:.2?}; last failure {:?} after the restart; {turns} person turns recorded \
         for {chat_ok} chat answers + {acked} updates; {} updates not answered exactly once",
        chats.len(),
        telegram.len(),
        hooks.len(),
        last_failure.map(|l| l.saturating_duration_since(restarted)),
        not_answered.len(),
    );
    assert!(chat_503 > 0, "the outage was seen: requests got 503");
    assert_eq!(chat_503_retry, chat_503, "every 503 says when to retry");
    assert_eq!(hook_503_retry, hook_503, "every 503 says when to retry");
    assert!(other.is_empty(), "only 200 or 503: {other:?}");
    assert!(stopped < restarted);
    assert_eq!(
        acked,
        telegram.len(),
        "every update acknowledged in the end"
    );
    assert!(not_answered.is_empty(), "{not_answered:#?}");
    assert!(
        resumed.iter().all(Option::is_some),
        "every replica serves again without a restart: {resumed:?}"
    );
    assert!(
        turns >= (chat_ok + acked) as i64,
        "every answered question has its turn: {turns} turns"
    );
}
