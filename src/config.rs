//! One `Config` for every subcommand: flags, each with a `GUICHET_*` environment variable.
//! A secret that is not set turns its channel off; it is never printed. Every value is
//! checked as it is read, and an error names what the operator set: the variable or the
//! flag. Default paths are found from the install, not from the working directory.

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::embedder::Threads;

/// The `GUICHET_POLICY` value that asks for the uncalibrated default policy on purpose.
pub const UNCALIBRATED: &str = "uncalibrated";

/// Ten years: longer is a typo, not a retention policy.
pub const MAX_RETENTION_DAYS: i64 = 3650;

/// `GUICHET_*` variables read outside `Config`: the log filter, and the browser tests'.
const OTHER_VARIABLES: &[&str] = &[
    "GUICHET_LOG",
    "GUICHET_LOG_FORMAT",
    "GUICHET_URL",
    "GUICHET_ROOT",
    "GUICHET_BIN",
];

/// A value that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            Err("a secret may not be blank".into())
        } else {
            Ok(Self(s.to_string()))
        }
    }
}

/// What single sign-on needs from the configuration (GUICHET_OIDC_*).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// A claim's name or a dotted path (`realm_access.roles`).
    pub roles_claim: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Folder the default paths below are relative to (default: the install folder, that
    /// is the binary's folder or one of its three parents that holds corpus/; else the
    /// working directory). Paths given explicitly are used as given.
    #[arg(long, env = "GUICHET_HOME")]
    pub home: Option<PathBuf>,
    /// Address the HTTP server listens on.
    #[arg(long, env = "GUICHET_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// A second address serving only `GET /metrics`, without the admin token (bind it to
    /// an address only the monitoring can reach). Unset: `/metrics` is served on the
    /// main address, behind the admin token.
    #[arg(long, env = "GUICHET_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Folder of the validated corpus (entries/, services.toml, messages.toml, glossary.toml).
    #[arg(long, env = "GUICHET_CORPUS", default_value = "corpus")]
    pub corpus: PathBuf,
    /// Folder of the model: multilingual-e5-small/, onnxruntime/ and READY, as written by
    /// `make models` (scripts/fetch_models.sh).
    #[arg(long, env = "GUICHET_MODELS", default_value = "models")]
    pub models: PathBuf,
    /// The store of conversations, hand-offs, staff and the knowledge base: an SQLite
    /// file (one machine), or a `postgres://user@host/db` URL (several replicas sharing
    /// one PostgreSQL database; GUICHET_ROUTE_KEY_FILE is then required).
    #[arg(long, env = "GUICHET_DB", default_value = "data/guichet.sqlite")]
    pub db: PathBuf,
    /// Connections each process keeps to PostgreSQL at most.
    #[arg(long, env = "GUICHET_PG_POOL", default_value_t = 16)]
    pub pg_pool: u32,
    /// Folder of the passage-embedding cache.
    #[arg(long, env = "GUICHET_CACHE", default_value = "data/cache")]
    pub cache: PathBuf,
    /// Decision policy (calibration and thresholds), written by `guichet calibrate`;
    /// `uncalibrated` serves with the uncalibrated default on purpose.
    #[arg(
        long,
        env = "GUICHET_POLICY",
        default_value = "calibration/policy.toml"
    )]
    pub policy: PathBuf,
    /// Model sessions (one core each), from 1 to 64; default: the number of cores.
    #[arg(long, env = "GUICHET_EMBED_WORKERS", value_parser = embed_workers, allow_hyphen_values = true)]
    pub embed_workers: Option<usize>,
    /// Threads of the model session that takes a question arriving alone (concurrent ones
    /// run on the one-thread sessions, one core each); 1: no such session. Default: the
    /// number of cores.
    #[arg(long, env = "GUICHET_EMBED_THREADS", value_parser = embed_workers, allow_hyphen_values = true)]
    pub embed_threads: Option<usize>,
    /// Distinct questions whose vectors are kept in memory; 0: none.
    #[arg(long, env = "GUICHET_QUERY_CACHE", default_value = "4096", value_parser = query_cache)]
    pub query_cache: usize,
    /// Questions computed or waiting at once before new ones get a fast 503.
    #[arg(
        long,
        env = "GUICHET_MAX_INFLIGHT",
        default_value = "64",
        value_parser = max_inflight,
        allow_hyphen_values = true
    )]
    pub max_inflight: usize,
    /// Bearer token for agents' and admin endpoints (unset: those endpoints are off).
    #[arg(long, env = "GUICHET_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,
    /// Origins allowed to call /v1/chat from a browser (scheme://host[:port]), separated by
    /// commas or spaces.
    #[arg(
        long,
        env = "GUICHET_ALLOWED_ORIGINS",
        default_value = "",
        hide_default_value = true,
        value_parser = Origins::parse
    )]
    pub allowed_origins: Origins,
    /// Meta webhooks subscription check token (Messenger, WhatsApp).
    #[arg(long, env = "GUICHET_META_VERIFY_TOKEN", hide_env_values = true)]
    pub meta_verify_token: Option<Secret>,
    /// Meta app secret: signs every webhook POST.
    #[arg(long, env = "GUICHET_META_APP_SECRET", hide_env_values = true)]
    pub meta_app_secret: Option<Secret>,
    /// Base URL of Meta's Graph API.
    #[arg(
        long,
        env = "GUICHET_META_API_BASE",
        default_value = "https://graph.facebook.com/v21.0",
        value_parser = http_url
    )]
    pub meta_api_base: String,
    /// Messenger page token for the Send API.
    #[arg(long, env = "GUICHET_MESSENGER_PAGE_TOKEN", hide_env_values = true)]
    pub messenger_page_token: Option<Secret>,
    /// WhatsApp Cloud API token.
    #[arg(long, env = "GUICHET_WHATSAPP_TOKEN", hide_env_values = true)]
    pub whatsapp_token: Option<Secret>,
    /// Telegram webhook secret token.
    #[arg(long, env = "GUICHET_TELEGRAM_SECRET", hide_env_values = true)]
    pub telegram_secret: Option<Secret>,
    /// Telegram bot token.
    #[arg(long, env = "GUICHET_TELEGRAM_BOT_TOKEN", hide_env_values = true)]
    pub telegram_bot_token: Option<Secret>,
    /// Base URL of the Telegram Bot API.
    #[arg(
        long,
        env = "GUICHET_TELEGRAM_API_BASE",
        default_value = "https://api.telegram.org",
        value_parser = http_url
    )]
    pub telegram_api_base: String,
    /// Secret of the generic signed webhook, also signing outbound notifications.
    #[arg(long, env = "GUICHET_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<Secret>,
    /// Where new hand-off tickets are announced (an http:// or https:// URL).
    #[arg(long, env = "GUICHET_HANDOFF_WEBHOOK_URL", value_parser = http_url)]
    pub handoff_webhook_url: Option<String>,
    /// How long turns and tickets are kept, in days (1 to 3650).
    #[arg(
        long,
        env = "GUICHET_RETENTION_DAYS",
        default_value = "30",
        value_parser = retention_days,
        allow_hyphen_values = true
    )]
    pub retention_days: u32,
    /// Issuer of the city's identity provider, for staff single sign-on with OpenID Connect
    /// (a Keycloak realm's URL, Entra ID's `https://login.microsoftonline.com/<tenant>/v2.0`,
    /// ProConnect's); with GUICHET_OIDC_CLIENT_ID and GUICHET_OIDC_CLIENT_SECRET. Unset: no
    /// single sign-on.
    #[arg(long, env = "GUICHET_OIDC_ISSUER", value_parser = http_url)]
    pub oidc_issuer: Option<String>,
    /// Client id guichet is registered under at the identity provider.
    #[arg(long, env = "GUICHET_OIDC_CLIENT_ID", value_parser = not_blank)]
    pub oidc_client_id: Option<String>,
    /// Client secret given by the identity provider.
    #[arg(long, env = "GUICHET_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<Secret>,
    /// Claim holding the staff member's roles: a name, or a dotted path into nested claims
    /// (`realm_access.roles` for Keycloak). A claim whose own name has dots is found too.
    #[arg(
        long,
        env = "GUICHET_OIDC_ROLES_CLAIM",
        default_value = "roles",
        value_parser = claim_path
    )]
    pub oidc_roles_claim: String,
    /// The console's address as staff's browsers reach it, behind any proxy (such as
    /// https://guichet.ville.fr); the identity provider sends staff back under it.
    /// Default: http:// and GUICHET_BIND.
    #[arg(long, env = "GUICHET_PUBLIC_URL", value_parser = public_url)]
    pub public_url: Option<String>,
    /// How long the audit log of staff actions is kept, in days (1 to 3650).
    #[arg(
        long,
        env = "GUICHET_AUDIT_DAYS",
        default_value = "365",
        value_parser = retention_days,
        allow_hyphen_values = true
    )]
    pub audit_days: u32,
    /// How often each server looks whether the knowledge base in the store changed, in
    /// milliseconds (a validation in this process is picked up at once).
    #[arg(
        long,
        env = "GUICHET_KB_WATCH_MS",
        default_value = "2000",
        value_parser = clap::value_parser!(u64).range(50..=600_000)
    )]
    pub kb_watch_ms: u64,
    /// Seconds a connection has to send a complete request head, the first one and each
    /// next one on a kept-alive connection (so it also bounds keep-alive idle time).
    #[arg(
        long,
        env = "GUICHET_HEADER_TIMEOUT",
        default_value = "10",
        value_parser = seconds,
        allow_hyphen_values = true
    )]
    pub header_timeout: u64,
    /// Connections open at once; more are closed as soon as they are accepted.
    #[arg(
        long,
        env = "GUICHET_MAX_CONNECTIONS",
        default_value = "4096",
        value_parser = connections,
        allow_hyphen_values = true
    )]
    pub max_connections: usize,
    /// Connections open at once from one client address (trusted proxies excepted).
    #[arg(
        long,
        env = "GUICHET_MAX_CONNECTIONS_PER_CLIENT",
        default_value = "64",
        value_parser = connections,
        allow_hyphen_values = true
    )]
    pub max_connections_per_client: usize,
    /// Seconds a stop waits for requests and replies under way before it closes what is
    /// left (a reply not sent stays in the inbox for the next start).
    #[arg(
        long,
        env = "GUICHET_SHUTDOWN_GRACE",
        default_value = "20",
        value_parser = seconds,
        allow_hyphen_values = true
    )]
    pub shutdown_grace: u64,
    /// Addresses of the reverse proxies in front of guichet, separated by commas or
    /// spaces: from them only, the client's address is read from X-Forwarded-For.
    #[arg(
        long,
        env = "GUICHET_TRUSTED_PROXIES",
        default_value = "",
        hide_default_value = true,
        value_parser = TrustedProxies::parse
    )]
    pub trusted_proxies: TrustedProxies,
    /// Requests per minute one client may send to /v1/chat and /v1/feedback (together).
    #[arg(
        long,
        env = "GUICHET_RATE_PUBLIC",
        default_value = "60",
        value_parser = per_minute,
        allow_hyphen_values = true
    )]
    pub rate_public: u32,
    /// Sign-in attempts per minute from one client address (the console's form).
    #[arg(
        long,
        env = "GUICHET_RATE_SIGNIN",
        default_value = "20",
        value_parser = per_minute,
        allow_hyphen_values = true
    )]
    pub rate_signin: u32,
    /// Requests per minute one client may send to the agents' API (/v1/handoffs).
    #[arg(
        long,
        env = "GUICHET_RATE_AGENTS",
        default_value = "600",
        value_parser = per_minute,
        allow_hyphen_values = true
    )]
    pub rate_agents: u32,
    /// The key that seals how to reach people (tickets' routes, inbox rows) in the
    /// database: 64 hexadecimal digits, created 0600 if missing. Default: next to the
    /// SQLite file, `<db>.route-key`; required with PostgreSQL, the same file on every
    /// replica. Keep it out of the database's backups.
    #[arg(long, env = "GUICHET_ROUTE_KEY_FILE")]
    pub route_key_file: Option<PathBuf>,
    /// Where the defaults above were taken from (set by [`Config::resolve`]).
    #[arg(skip)]
    resolved_home: Home,
}

/// Where the default paths are relative to, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Home {
    pub dir: PathBuf,
    pub from: HomeSource,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HomeSource {
    /// `GUICHET_HOME` or `--home`.
    Set,
    /// The install folder, found from the binary's path.
    Install,
    /// Neither: the working directory, as a command run by hand in a checkout expects.
    #[default]
    WorkingDirectory,
}

impl fmt::Display for HomeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Set => "GUICHET_HOME",
            Self::Install => "install folder",
            Self::WorkingDirectory => "working directory",
        })
    }
}

/// The folder of the install: the nearest of the binary's folder and its three parents
/// (`target/release/` and `target/debug/deps/` in a checkout, `bin/` in /opt/guichet)
/// that holds a `corpus/` folder.
pub fn install_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(4)
        .find(|dir| dir.join("corpus").is_dir())
        .map(Path::to_path_buf)
}

fn find_home(set: Option<&Path>) -> Result<Home, String> {
    if let Some(dir) = set {
        if !dir.is_dir() {
            return Err(format!(
                "GUICHET_HOME {}: no such folder (it holds corpus/, calibration/policy.toml, models/ and data/)",
                dir.display()
            ));
        }
        return Ok(Home {
            dir: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
            from: HomeSource::Set,
        });
    }
    if let Some(dir) = install_dir() {
        return Ok(Home {
            dir,
            from: HomeSource::Install,
        });
    }
    Ok(Home {
        dir: std::env::current_dir().unwrap_or_default(),
        from: HomeSource::WorkingDirectory,
    })
}

/// Origins a browser may call from, each `scheme://host[:port]` as browsers send it in
/// `Origin` (default ports dropped, host in ASCII).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins(Vec<String>);

impl std::ops::Deref for Origins {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl Origins {
    /// A list separated by commas and/or whitespace; any entry that is not an origin
    /// refuses the whole list (a site left out would fail with no message).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut out: Vec<String> = Vec::new();
        for entry in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            let origin = origin(entry)?;
            if !out.contains(&origin) {
                out.push(origin);
            }
        }
        Ok(Self(out))
    }
}

fn origin(entry: &str) -> Result<String, String> {
    let hint = if entry.contains(';') {
        "; separate origins with commas or spaces"
    } else {
        ""
    };
    let bad = |why: &str| {
        format!(
            "'{entry}' is not an origin ({why}): an origin is scheme://host[:port], such as https://www.ville.fr{hint}"
        )
    };
    let url = url::Url::parse(entry).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it holds a user name"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it has a path, a query or a fragment"));
    }
    let host_ok = match url.host() {
        Some(url::Host::Domain(d)) => d.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => true,
        None => false,
    };
    if !host_ok {
        return Err(bad("its host is not a domain name or an IP address"));
    }
    Ok(url.origin().ascii_serialization())
}

/// An absolute http(s) URL, kept as written (base URLs are joined with `/...` later).
fn http_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(s.to_string())
        }
        _ => Err(
            "not an http:// or https:// URL (such as https://helpdesk.ville.fr/hooks/guichet)"
                .into(),
        ),
    }
}

/// A base URL that links are built under: http(s), a host, maybe a path (a proxy's
/// prefix), no query, no fragment; kept without its trailing slash.
fn public_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    let bad = || {
        "not the console's base URL: http:// or https://, a host, maybe a path, no query (such as https://guichet.ville.fr)"
            .to_string()
    };
    let url = url::Url::parse(s).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(bad());
    }
    Ok(s.trim_end_matches('/').to_string())
}

fn not_blank(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        Err("may not be blank".into())
    } else {
        Ok(s.to_string())
    }
}

/// A claim's name or a dotted path of names, none of them empty.
fn claim_path(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s.split('.').any(str::is_empty) {
        return Err("must be a claim's name or a dotted path such as realm_access.roles".into());
    }
    Ok(s.to_string())
}

/// The same wording for every bad value, whether it is too small, negative or not a number.
fn whole_number(s: &str, min: i64, max: i64, unit: &str) -> Result<i64, String> {
    s.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("must be a whole number{unit} from {min} to {max}"))
}

fn retention_days(s: &str) -> Result<u32, String> {
    whole_number(s, 1, MAX_RETENTION_DAYS, " of days").map(|n| n as u32)
}

fn max_inflight(s: &str) -> Result<usize, String> {
    whole_number(s, 1, 100_000, "").map(|n| n as usize)
}

fn seconds(s: &str) -> Result<u64, String> {
    whole_number(s, 1, 3600, " of seconds").map(|n| n as u64)
}

fn connections(s: &str) -> Result<usize, String> {
    whole_number(s, 1, 1_000_000, "").map(|n| n as usize)
}

fn per_minute(s: &str) -> Result<u32, String> {
    whole_number(s, 1, 1_000_000, " of requests per minute").map(|n| n as u32)
}

/// The reverse proxies whose `X-Forwarded-For` is believed (see `http::clients`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<std::net::IpAddr>);

impl std::ops::Deref for TrustedProxies {
    type Target = [std::net::IpAddr];
    fn deref(&self) -> &[std::net::IpAddr] {
        &self.0
    }
}

impl TrustedProxies {
    /// IP addresses separated by commas and/or whitespace; one that is not an address
    /// refuses the whole list (a proxy left out would be taken for one busy client).
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.parse()
                    .map_err(|_| format!("{e:?} is not an IP address (such as 10.0.0.2 or ::1)"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

fn query_cache(s: &str) -> Result<usize, String> {
    whole_number(s, 0, 1_000_000, "").map(|n| n as usize)
}

fn embed_workers(s: &str) -> Result<usize, String> {
    whole_number(s, 1, 64, "").map(|n| n as usize)
}

impl Config {
    /// Whether staff cookies must be `Secure`: the console is reached over https, or
    /// from anywhere but this machine.
    pub fn secure_cookies(&self) -> bool {
        self.public_url().starts_with("https://") || !self.bind.ip().is_loopback()
    }

    /// Model sessions to run: the configured number, else one per core.
    pub fn workers(&self) -> usize {
        self.embed_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, 64)
    }

    /// How the model's sessions get their threads.
    pub fn threads(&self) -> Threads {
        match self
            .embed_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        {
            0 | 1 => Threads::PerSession,
            n => Threads::Adaptive(n.min(64)),
        }
    }

    /// Checks what the parsers cannot see alone: combinations.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_inflight == 0 {
            return Err("GUICHET_MAX_INFLIGHT must be at least 1".into());
        }
        if self.retention_days == 0 {
            return Err("GUICHET_RETENTION_DAYS must be at least 1".into());
        }
        if self.metrics_addr == Some(self.bind) {
            return Err(format!(
                "GUICHET_METRICS_ADDR must differ from GUICHET_BIND ({}): the metrics address \
                 serves /metrics without the admin token",
                self.bind
            ));
        }
        self.oidc_parts()?;
        Ok(())
    }

    /// The console's external base URL, without a trailing slash: GUICHET_PUBLIC_URL, else
    /// http:// and the bind address.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.bind),
        }
    }

    /// Single sign-on's settings, when it is configured (see [`Config::validate`]).
    pub fn oidc(&self) -> Option<OidcSettings> {
        self.oidc_parts().ok().flatten()
    }

    /// Issuer, client id and secret go together: a part set alone is a mistake the operator
    /// would otherwise learn of only when staff cannot sign in.
    fn oidc_parts(&self) -> Result<Option<OidcSettings>, String> {
        match (
            &self.oidc_issuer,
            &self.oidc_client_id,
            &self.oidc_client_secret,
        ) {
            (None, None, None) => Ok(None),
            (Some(issuer), Some(client_id), Some(secret)) => Ok(Some(OidcSettings {
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                client_secret: secret.clone(),
                roles_claim: self.oidc_roles_claim.clone(),
            })),
            (issuer, client_id, secret) => {
                let (set, unset): (Vec<_>, Vec<_>) = [
                    ("GUICHET_OIDC_ISSUER", issuer.is_some()),
                    ("GUICHET_OIDC_CLIENT_ID", client_id.is_some()),
                    ("GUICHET_OIDC_CLIENT_SECRET", secret.is_some()),
                ]
                .into_iter()
                .partition(|(_, is_set)| *is_set);
                let names = |v: Vec<(&str, bool)>| {
                    v.into_iter()
                        .map(|(n, _)| n)
                        .collect::<Vec<_>>()
                        .join(" and ")
                };
                Err(format!(
                    "{} set without {}: single sign-on needs all three (or none)",
                    names(set),
                    names(unset)
                ))
            }
        }
    }

    /// Where the default paths were taken from.
    pub fn home_dir(&self) -> &Home {
        &self.resolved_home
    }

    /// Whether the uncalibrated default policy was asked for (`GUICHET_POLICY=uncalibrated`).
    pub fn uncalibrated(&self) -> bool {
        self.policy.as_os_str() == UNCALIBRATED
    }

    /// What a start should say that it ignores: set variables no part of guichet reads.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.oidc().is_some() && self.public_url.is_none() {
            out.push(format!(
                "GUICHET_OIDC_ISSUER is set without GUICHET_PUBLIC_URL: the identity provider will send staff back under {}",
                self.public_url()
            ));
        }
        if self.handoff_webhook_url.is_some() && self.webhook_secret.is_none() {
            out.push(
                "GUICHET_HANDOFF_WEBHOOK_URL is set without GUICHET_WEBHOOK_SECRET: no hand-off will be announced"
                    .to_string(),
            );
        }
        out
    }

    /// Puts the paths left to their default under the home folder, so that a service
    /// started from any working directory (a systemd unit without `WorkingDirectory=`)
    /// finds the same files. `matches` are those of the (sub)command holding this config.
    pub fn resolve(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        let home = find_home(self.home.as_deref())
            .map_err(|e| clap::Error::raw(clap::error::ErrorKind::ValueValidation, e + "\n"))?;
        let defaulted = |id: &str| matches.value_source(id) == Some(ValueSource::DefaultValue);
        for (id, path) in [
            ("corpus", &mut self.corpus),
            ("models", &mut self.models),
            ("cache", &mut self.cache),
            ("policy", &mut self.policy),
        ] {
            if defaulted(id) {
                *path = home.dir.join(&*path);
            }
        }
        if defaulted("db") && !crate::store::is_postgres(&self.db) {
            self.db = home.dir.join(&self.db);
        }
        self.resolved_home = home;
        Ok(())
    }
}

/// Parses `argv` into `P` (a parser holding a [`Config`]), with an invalid value taken from
/// the environment reported under the variable's name, not the flag's.
pub fn parse_from<P: CommandFactory + FromArgMatches>(
    argv: Vec<OsString>,
) -> Result<(P, ArgMatches), clap::Error> {
    let cmd = P::command();
    let matches = cmd
        .clone()
        .try_get_matches_from(&argv)
        .map_err(|e| name_the_variable(e, &cmd, &argv, &|v| std::env::var_os(v)))?;
    Ok((P::from_arg_matches(&matches)?, matches))
}

/// Rewrites clap's `invalid value 'abc' for '--retention-days <RETENTION_DAYS>'` as
/// `invalid value 'abc' for GUICHET_RETENTION_DAYS` when the flag was not given and the
/// variable was: the operator set the variable and may not know the flag.
fn name_the_variable(
    e: clap::Error,
    cmd: &clap::Command,
    argv: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        e.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return e;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return e;
    };
    let long = arg
        .trim_start_matches("--")
        .split([' ', '='])
        .next()
        .unwrap_or_default();
    let Some(var) = env_of(cmd, long) else {
        return e;
    };
    let flag = format!("--{long}");
    let on_command_line = argv.iter().any(|a| {
        a.to_str()
            .is_some_and(|a| a == flag || a.starts_with(&format!("{flag}=")))
    });
    if on_command_line || env(&var).is_none() {
        return e;
    }
    let text = e.to_string().replacen(&format!("'{arg}'"), &var, 1);
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    clap::Error::raw(e.kind(), text)
}

/// The variable of the flag `--long`, in `cmd` or any of its subcommands.
fn env_of(cmd: &clap::Command, long: &str) -> Option<String> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned())
        .or_else(|| cmd.get_subcommands().find_map(|s| env_of(s, long)))
}

/// Every `GUICHET_*` variable some part of guichet reads.
fn known_variables(cmd: &clap::Command) -> Vec<String> {
    fn walk(cmd: &clap::Command, out: &mut Vec<String>) {
        out.extend(
            cmd.get_arguments()
                .filter_map(|a| a.get_env())
                .map(|v| v.to_string_lossy().into_owned()),
        );
        for s in cmd.get_subcommands() {
            walk(s, out);
        }
    }
    let mut out: Vec<String> = OTHER_VARIABLES.iter().map(|s| s.to_string()).collect();
    walk(cmd, &mut out);
    out.sort();
    out.dedup();
    out
}

/// Set `GUICHET_*` variables nothing reads (typos), each with the closest known name.
pub fn unknown_variables(
    cmd: &clap::Command,
    set: impl IntoIterator<Item = String>,
) -> Vec<(String, Option<String>)> {
    let known = known_variables(cmd);
    let mut out: Vec<(String, Option<String>)> = set
        .into_iter()
        .filter(|name| name.starts_with("GUICHET_") && !known.contains(name))
        .map(|name| {
            let closest = known
                .iter()
                .map(|k| (strsim::levenshtein(&name, k), k))
                .filter(|(d, _)| *d <= 4)
                .min()
                .map(|(_, k)| k.clone());
            (name, closest)
        })
        .collect();
    out.sort();
    out
}

/// Logs one warning per unknown `GUICHET_*` variable of the environment.
pub fn warn_unknown_variables(cmd: &clap::Command) {
    let set = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
    for (name, closest) in unknown_variables(cmd, set) {
        match closest {
            Some(c) => tracing::warn!("unknown variable {name} is ignored: did you mean {c}?"),
            None => tracing::warn!("unknown variable {name} is ignored"),
        }
    }
}

#[derive(clap::Parser)]
struct Standalone {
    #[command(flatten)]
    config: Config,
}

impl Config {
    /// A config from flags alone (and the environment), as the binary would build it:
    /// `Config::from_args(["--corpus", "corpus"])`.
    pub fn from_args<I, S>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString> + Clone,
    {
        let argv = std::iter::once(OsString::from("guichet"))
            .chain(args.into_iter().map(Into::into))
            .collect();
        let (Standalone { mut config }, matches) = parse_from::<Standalone>(argv)?;
        config.resolve(&matches)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(list: &str) -> Result<Vec<String>, String> {
        Origins::parse(list).map(|o| o.to_vec())
    }

    #[test]
    fn origins_are_split_on_commas_and_whitespace_and_normalised() {
        assert_eq!(
            origins(" https://a.fr, https://b.fr\thttps://B.fr:443/ ,,http://localhost:8080\n")
                .unwrap(),
            ["https://a.fr", "https://b.fr", "http://localhost:8080"]
        );
        assert_eq!(origins("").unwrap(), Vec::<String>::new());
        assert_eq!(
            origins("https://[::1]:3000 http://127.0.0.1").unwrap(),
            ["https://[::1]:3000", "http://127.0.0.1"]
        );
    }

    #[test]
    fn anything_but_a_list_of_origins_is_refused_with_the_entry_named() {
        for bad in [
            "https://a.fr;https://b.fr",
            "https://a.fr;b.fr",
            "https://a.fr/widget",
            "https://a.fr?x=1",
            "https://a.fr#top",
            "ftp://a.fr",
            "a.fr",
            "*",
            "https://user@a.fr",
        ] {
            let e = origins(&format!("https://ok.fr {bad}")).unwrap_err();
            assert!(e.contains(&format!("'{bad}'")), "{bad}: {e}");
        }
        let e = origins("https://a.fr;https://b.fr").unwrap_err();
        assert!(e.contains("separate origins with commas or spaces"), "{e}");
    }

    #[test]
    fn every_bad_number_of_days_gets_the_same_rule() {
        let errors: Vec<String> = ["-5", "0", "abc", "3651", ""]
            .into_iter()
            .map(|v| retention_days(v).unwrap_err())
            .collect();
        assert!(
            errors
                .iter()
                .all(|e| e == "must be a whole number of days from 1 to 3650")
        );
        assert_eq!(retention_days("1"), Ok(1));
        assert_eq!(retention_days(" 3650 "), Ok(3650));
    }

    #[test]
    fn urls_must_be_http_or_https_with_a_host() {
        for bad in [
            "not a url",
            "helpdesk.ville.fr/hook",
            "ftp://h.fr/x",
            "https://",
        ] {
            assert!(http_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            http_url("https://api.telegram.org").as_deref(),
            Ok("https://api.telegram.org")
        );
    }

    #[test]
    fn a_value_from_the_environment_is_reported_under_the_variable() {
        let cmd = Standalone::command();
        let argv: Vec<OsString> = vec!["guichet".into()];
        let e = cmd
            .clone()
            .try_get_matches_from(["guichet", "--retention-days", "abc"])
            .unwrap_err();
        let env = |v: &str| (v == "GUICHET_RETENTION_DAYS").then(|| OsString::from("abc"));
        let text = name_the_variable(e, &cmd, &argv, &env).to_string();
        assert!(
            text.starts_with("error: invalid value 'abc' for GUICHET_RETENTION_DAYS: "),
            "{text}"
        );
        // Given on the command line, the flag is what the operator typed.
        let argv: Vec<OsString> = vec!["guichet".into(), "--retention-days=abc".into()];
        let e = cmd
            .clone()
            .try_get_matches_from(["guichet", "--retention-days=abc"])
            .unwrap_err();
        let text = name_the_variable(e, &cmd, &argv, &env).to_string();
        assert!(
            text.contains("'--retention-days <RETENTION_DAYS>'"),
            "{text}"
        );
    }

    #[test]
    fn trusted_proxies_are_a_list_of_addresses_and_anything_else_is_refused() {
        let list = TrustedProxies::parse("10.0.0.2, ::1  192.168.1.1").unwrap();
        let want: Vec<std::net::IpAddr> = ["10.0.0.2", "::1", "192.168.1.1"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(&*list, want.as_slice());
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        let e = TrustedProxies::parse("10.0.0.2,proxy.local").unwrap_err();
        assert!(e.contains("\"proxy.local\" is not an IP address"), "{e}");
        assert!(TrustedProxies::parse("10.0.0.0/8").is_err());
    }

    #[test]
    fn unknown_guichet_variables_are_named_with_the_closest_known_one() {
        let cmd = Standalone::command();
        let set = [
            "GUICHET_ALLOWED_ORIGIN",
            "GUICHET_LOG",
            "GUICHET_DB",
            "GUICHET_ROOT",
            "GUICHET_SOMETHING_ELSE_ENTIRELY",
            "PATH",
        ]
        .map(String::from);
        assert_eq!(
            unknown_variables(&cmd, set),
            [
                (
                    "GUICHET_ALLOWED_ORIGIN".to_string(),
                    Some("GUICHET_ALLOWED_ORIGINS".to_string())
                ),
                ("GUICHET_SOMETHING_ELSE_ENTIRELY".to_string(), None),
            ]
        );
    }

    #[test]
    fn defaults_are_resolved_under_the_home_and_given_paths_are_kept() {
        let home = tempfile::tempdir().unwrap();
        let home_arg = home.path().display().to_string();
        let c = Config::from_args(["--home", &home_arg, "--db", "here.sqlite"]).unwrap();
        assert_eq!(c.home_dir().from, HomeSource::Set);
        assert_eq!(c.corpus, home.path().join("corpus"));
        assert_eq!(c.policy, home.path().join("calibration/policy.toml"));
        if std::env::var_os("GUICHET_MODELS").is_none() {
            assert_eq!(c.models, home.path().join("models"));
        }
        assert_eq!(c.cache, home.path().join("data/cache"));
        assert_eq!(c.db, PathBuf::from("here.sqlite"));
        let e = Config::from_args(["--home", "/no/such/guichet/home"]).unwrap_err();
        assert!(e.to_string().contains("/no/such/guichet/home"), "{e}");
    }

    #[test]
    fn the_test_binary_finds_the_checkout_as_its_install_folder() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .canonicalize()
            .unwrap();
        assert_eq!(install_dir(), Some(root.clone()));
        let c = Config::from_args(["--bind", "127.0.0.1:0"]).unwrap();
        assert_eq!(c.corpus, root.join("corpus"));
    }

    #[test]
    fn single_sign_on_is_all_or_nothing_and_names_what_is_missing() {
        let issuer = ["--oidc-issuer", "https://sso.ville.fr/realms/agents"];
        let id = ["--oidc-client-id", "guichet"];
        let secret = ["--oidc-client-secret", "s3cret"];
        let c = Config::from_args(issuer).unwrap();
        assert_eq!(
            c.validate().unwrap_err(),
            "GUICHET_OIDC_ISSUER set without GUICHET_OIDC_CLIENT_ID and GUICHET_OIDC_CLIENT_SECRET: single sign-on needs all three (or none)"
        );
        assert_eq!(c.oidc(), None);
        let c = Config::from_args(id.iter().chain(&secret)).unwrap();
        assert_eq!(
            c.validate().unwrap_err(),
            "GUICHET_OIDC_CLIENT_ID and GUICHET_OIDC_CLIENT_SECRET set without GUICHET_OIDC_ISSUER: single sign-on needs all three (or none)"
        );
        let c = Config::from_args(issuer.iter().chain(&id)).unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .contains("set without GUICHET_OIDC_CLIENT_SECRET:")
        );

        let c = Config::from_args(
            issuer
                .iter()
                .chain(&id)
                .chain(&secret)
                .chain(&["--oidc-roles-claim", " realm_access.roles "]),
        )
        .unwrap();
        c.validate().unwrap();
        let settings = c.oidc().unwrap();
        assert_eq!(settings.issuer, "https://sso.ville.fr/realms/agents");
        assert_eq!(settings.client_id, "guichet");
        assert_eq!(settings.client_secret.expose(), "s3cret");
        assert_eq!(settings.roles_claim, "realm_access.roles");
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[test]
    fn the_metrics_address_must_not_be_the_main_one() {
        let c = Config::from_args([
            "--bind",
            "127.0.0.1:8080",
            "--metrics-addr",
            "127.0.0.1:8080",
        ])
        .unwrap();
        let e = c.validate().unwrap_err();
        assert!(e.contains("GUICHET_METRICS_ADDR must differ"), "{e}");
        let c = Config::from_args([
            "--bind",
            "127.0.0.1:8080",
            "--metrics-addr",
            "127.0.0.1:9090",
        ])
        .unwrap();
        assert_eq!(c.metrics_addr, Some("127.0.0.1:9090".parse().unwrap()));
    }

    #[test]
    fn no_single_sign_on_unless_configured() {
        if [
            "GUICHET_OIDC_ISSUER",
            "GUICHET_OIDC_CLIENT_ID",
            "GUICHET_OIDC_CLIENT_SECRET",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
        {
            return;
        }
        let c = Config::from_args(["--bind", "127.0.0.1:0"]).unwrap();
        c.validate().unwrap();
        assert_eq!(c.oidc(), None);
    }

    #[test]
    fn roles_claim_is_a_name_or_a_dotted_path() {
        assert_eq!(claim_path("roles").as_deref(), Ok("roles"));
        assert_eq!(
            claim_path("resource_access.guichet.roles").as_deref(),
            Ok("resource_access.guichet.roles")
        );
        for bad in ["", "  ", "realm_access.", ".roles", "a..b"] {
            assert!(claim_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn public_url_defaults_to_the_bind_address_and_loses_its_trailing_slash() {
        if std::env::var_os("GUICHET_PUBLIC_URL").is_none() {
            let c = Config::from_args(["--bind", "127.0.0.1:8181"]).unwrap();
            assert_eq!(c.public_url(), "http://127.0.0.1:8181");
        }
        let c = Config::from_args(["--public-url", "https://guichet.ville.fr/"]).unwrap();
        assert_eq!(c.public_url(), "https://guichet.ville.fr");
        let c = Config::from_args(["--public-url", "https://www.ville.fr/guichet/"]).unwrap();
        assert_eq!(c.public_url(), "https://www.ville.fr/guichet");
        for bad in [
            "guichet.ville.fr",
            "ftp://guichet.ville.fr",
            "https://guichet.ville.fr/?a=1",
            "https://guichet.ville.fr/#top",
        ] {
            assert!(public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn single_sign_on_without_a_public_url_is_warned_about() {
        if std::env::var_os("GUICHET_PUBLIC_URL").is_some() {
            return;
        }
        let c = Config::from_args([
            "--bind",
            "0.0.0.0:8080",
            "--oidc-issuer",
            "https://sso.ville.fr",
            "--oidc-client-id",
            "guichet",
            "--oidc-client-secret",
            "s3cret",
        ])
        .unwrap();
        assert!(
            c.warnings()
                .iter()
                .any(|w| w.contains("GUICHET_PUBLIC_URL") && w.contains("http://0.0.0.0:8080")),
            "{:?}",
            c.warnings()
        );
    }

    #[test]
    fn uncalibrated_is_asked_for_by_name_only() {
        let c = Config::from_args(["--policy", UNCALIBRATED]).unwrap();
        assert!(c.uncalibrated());
        let c = Config::from_args(["--policy", "calibration/absent.toml"]).unwrap();
        assert!(!c.uncalibrated());
    }
}
