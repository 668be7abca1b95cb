//! One `Config` for every subcommand: flags, each with a `GUICHET_*` environment variable.
//! A secret that is not set turns its channel off; it is never printed.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

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

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "GUICHET_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Folder of the validated corpus (entries/, services.toml, messages.toml, glossary.toml).
    #[arg(long, env = "GUICHET_CORPUS", default_value = "corpus")]
    pub corpus: PathBuf,
    /// Folder written by `make models` (the ONNX model and ONNX Runtime).
    #[arg(long, env = "GUICHET_MODELS", default_value = "models")]
    pub models: PathBuf,
    /// SQLite file of conversations, hand-offs and feedback.
    #[arg(long, env = "GUICHET_DB", default_value = "data/guichet.sqlite")]
    pub db: PathBuf,
    /// Folder of the passage-embedding cache.
    #[arg(long, env = "GUICHET_CACHE", default_value = "data/cache")]
    pub cache: PathBuf,
    /// Decision policy (calibration and thresholds).
    #[arg(
        long,
        env = "GUICHET_POLICY",
        default_value = "calibration/policy.toml"
    )]
    pub policy: PathBuf,
    /// Model sessions (one core each); default: the number of cores.
    #[arg(long, env = "GUICHET_EMBED_WORKERS")]
    pub embed_workers: Option<usize>,
    /// Questions computed or waiting at once before new ones get a fast 503.
    #[arg(long, env = "GUICHET_MAX_INFLIGHT", default_value_t = 64)]
    pub max_inflight: usize,
    /// Bearer token for agents' and admin endpoints (unset: those endpoints are off).
    #[arg(long, env = "GUICHET_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,
    /// Origins allowed to call /v1/chat from a browser, comma-separated.
    #[arg(long, env = "GUICHET_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
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
        default_value = "https://graph.facebook.com/v21.0"
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
        default_value = "https://api.telegram.org"
    )]
    pub telegram_api_base: String,
    /// Secret of the generic signed webhook, also signing outbound notifications.
    #[arg(long, env = "GUICHET_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<Secret>,
    /// Where new hand-off tickets are announced.
    #[arg(long, env = "GUICHET_HANDOFF_WEBHOOK_URL")]
    pub handoff_webhook_url: Option<String>,
    /// How long turns and tickets are kept, in days.
    #[arg(long, env = "GUICHET_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,
}

impl Config {
    /// Model sessions to run: the configured number, else one per core.
    pub fn workers(&self) -> usize {
        self.embed_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, 64)
    }

    /// Checks what clap cannot: ranges and combinations.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_inflight == 0 {
            return Err("GUICHET_MAX_INFLIGHT must be at least 1".into());
        }
        if self.retention_days == 0 {
            return Err("GUICHET_RETENTION_DAYS must be at least 1".into());
        }
        for origin in &self.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.ends_with('/')
            {
                return Err(format!(
                    "allowed origin {origin:?} must look like https://host[:port], without a trailing slash"
                ));
            }
        }
        Ok(())
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
        S: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        let argv = std::iter::once(std::ffi::OsString::from("guichet"))
            .chain(args.into_iter().map(Into::into));
        Ok(Standalone::try_parse_from(argv)?.config)
    }
}
