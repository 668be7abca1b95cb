//! The `guichet` command line: serve, ask, check, stamp, eval, quality, coverage, gaps,
//! report. With main.rs, the only place that uses anyhow; everything else returns typed
//! errors.

mod coverage;
pub mod kb;
mod staff;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::Local;
use clap::{Parser, Subcommand};

use crate::calibrate::{LabelledSet, Targets};
use crate::config::Config;
use crate::corpus::{self, ProblemLang, Severity};
use crate::embedder::{Embedder, ModelPaths, OnnxEmbedder};
use crate::engine::{AskContext, Engine, EngineOptions};
use crate::eval::{self, EvalSet};
use crate::policy::Policy;
use crate::reply::{Outcome, Reply};

#[derive(Debug, Parser)]
#[command(
    name = "guichet",
    version,
    about = "A digital front desk that answers only with validated answers, word for word."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (chat, webhooks, agents) on the corpus.
    Serve {
        #[command(flatten)]
        config: Config,
    },
    /// Ask one question, as a person would.
    Ask {
        question: String,
        /// Print the reply object as JSON (the same as POST /v1/chat).
        #[arg(long)]
        json: bool,
        /// Language of the question (detected when absent).
        #[arg(long)]
        lang: Option<String>,
        /// Also print why (candidates, signals, confidence) on standard error.
        #[arg(long)]
        explain: bool,
        #[command(flatten)]
        config: Config,
    },
    /// Validate the corpus; print every problem with file and line; exit 1 on errors.
    Check {
        /// Print the lint report instead: review dates, drafts, hash mismatches, services
        /// without contacts, confusable entries (loads the model).
        #[arg(long)]
        report: bool,
        /// Cosine between two entries' questions above which they are confusable.
        #[arg(long, default_value_t = crate::coverage::lint::DEFAULT_CONFUSABLE)]
        confusable: f32,
        /// Language of the problems: fr (default) or en; else from LANG.
        #[arg(long)]
        lang: Option<String>,
        /// Check the knowledge base in the store (GUICHET_DB) instead of the corpus folder.
        #[arg(long)]
        store: bool,
        #[command(flatten)]
        config: Config,
    },
    /// The knowledge base in the store and its exchange format, a corpus folder:
    /// `import DIR` (checked, applied as validated revisions) and `export DIR`.
    Corpus {
        #[command(subcommand)]
        action: kb::CorpusCommand,
        #[command(flatten)]
        config: Config,
    },
    /// Probe the assistant with questions from a file (CSV `question,expect`, JSONL, or one
    /// per line), or check that every stored phrasing finds its own entry (`--self`).
    Coverage {
        #[arg(required_unless_present = "self_test", conflicts_with = "self_test")]
        file: Option<PathBuf>,
        /// Every validated question and alternate must find its own entry; exit 1 if not.
        #[arg(long = "self")]
        self_test: bool,
        /// Write the results as CSV.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Write a self-contained HTML report.
        #[arg(long)]
        html: Option<PathBuf>,
        #[command(flatten)]
        config: Config,
    },
    /// Questions handed off or clarified in the last days (from GUICHET_DB), by meaning.
    Gaps {
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// Least cosine (centred on the corpus's phrasings) every two questions of a group
        /// must have.
        #[arg(long, default_value_t = crate::coverage::gaps::DEFAULT_THRESHOLD)]
        threshold: f32,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: Config,
    },
    /// Write the coverage report: one self-contained HTML page (rates per day, channel and
    /// service from GUICHET_DB, the self-test, the top gaps, entries to review).
    Report {
        /// Where to write the page.
        #[arg(long)]
        out: PathBuf,
        /// Days covered, today included.
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// Least cosine (centred on the corpus's phrasings) every two unanswered questions
        /// of a group must have.
        #[arg(long, default_value_t = crate::coverage::gaps::DEFAULT_THRESHOLD)]
        threshold: f32,
        #[command(flatten)]
        config: Config,
    },
    /// Record that a service validated entries (hashes, date, validator). Only the French
    /// answer is stamped unless a variant is named; variants left behind are listed.
    Stamp {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Who validated: the entry's service name in services.toml (or one of its
        /// `validators`).
        #[arg(long)]
        by: String,
        /// Also validate this translation (language code); repeat for several.
        #[arg(long = "variant", value_name = "LANG")]
        variants: Vec<String>,
        /// Also validate the easy-read version.
        #[arg(long)]
        easy_read: bool,
        /// Set the status (draft, validated, withdrawn); without it the status is kept.
        #[arg(long, value_parser = ["draft", "validated", "withdrawn"])]
        status: Option<String>,
        /// With `messages.toml`: a language whose sentences were validated (repeat it).
        #[arg(long = "messages-lang", value_name = "LANG")]
        messages_langs: Vec<String>,
        /// Language of the messages: fr (default) or en; else from LANG.
        #[arg(long)]
        lang: Option<String>,
    },
    /// Measure answer quality on a data set in the ../shared/data format.
    Eval {
        #[arg(long)]
        entries: PathBuf,
        #[arg(long)]
        queries: PathBuf,
        /// Keep only entries and queries of this language.
        #[arg(long)]
        lang: Option<String>,
        /// Keep only entries and queries of this knowledge base (`kb`, e.g. one hint3 bot).
        #[arg(long)]
        kb: Option<String>,
        #[arg(long)]
        json: bool,
        /// Also give the coverage / wrong-answer rate curve as the answer threshold rises
        /// from 0 to 1 (`curve` in the JSON).
        #[arg(long)]
        curve: bool,
        /// Also write each query's outcome and features as JSON lines to this file.
        #[arg(long)]
        dump: Option<PathBuf>,
        #[command(flatten)]
        config: Config,
    },
    /// Write the quality report: every set under --data measured with the configured policy,
    /// as a markdown page (with the did-you-mean threshold swept) and an SVG plot of
    /// wrong-answer rate against coverage.
    Quality {
        /// The folder of data sets (../shared/data format).
        #[arg(long)]
        data: PathBuf,
        /// Where to write the markdown page.
        #[arg(long)]
        out: PathBuf,
        /// Where to write the plot.
        #[arg(long)]
        svg: PathBuf,
        /// Answer thresholds tried between 0 and 1 for the curve, minus one.
        #[arg(long, default_value_t = 50)]
        steps: usize,
        #[command(flatten)]
        config: Config,
    },
    /// Staff accounts of the console: add (with a one-time set-up link), list, disable,
    /// enable, link, roles.
    Staff {
        #[command(subcommand)]
        action: staff::StaffCommand,
        #[command(flatten)]
        config: Config,
    },
    /// Fit the decision policy on labelled sets and write it (see calibration/README.md).
    Calibrate {
        /// A labelled set: NAME=DIR[:LANG][#KB][@MAX_WRONG[,MIN_RECALL]], DIR holding
        /// entries.jsonl and queries.dev.jsonl; #KB keeps one knowledge base (one hint3 bot);
        /// the targets after @ override the defaults for that set.
        #[arg(long = "set", required_unless_present = "from_store")]
        sets: Vec<String>,
        /// Also fit on the deployment's own labels (the console's training loop) over the
        /// live knowledge base of the store (GUICHET_DB).
        #[arg(long)]
        from_store: bool,
        /// Fewest usable labels `--from-store` fits on.
        #[arg(long, default_value_t = crate::calibrate::MIN_STORE_LABELS)]
        min_labels: usize,
        /// Highest wrong-answer rate allowed on any set.
        #[arg(long, default_value_t = 0.05)]
        max_wrong_rate: f64,
        /// Lowest hand-off recall allowed on sets with unanswerable queries, and on each
        /// knowledge base of a set that has several.
        #[arg(long, default_value_t = 0.90)]
        min_handoff_recall: f64,
        /// Where to write the policy.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        config: Config,
    },
}

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GUICHET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,ort=warn,hnsw_rs=warn"));
    // Colours only on a terminal: journald and log files would keep the escape codes.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // One JSON object a line, for a log collector; any other value keeps the text lines.
    if std::env::var("GUICHET_LOG_FORMAT").is_ok_and(|f| f.trim().eq_ignore_ascii_case("json")) {
        logs.json().init();
    } else {
        logs.init();
    }
}

impl Command {
    fn config_mut(&mut self) -> Option<&mut Config> {
        match self {
            Self::Serve { config }
            | Self::Ask { config, .. }
            | Self::Check { config, .. }
            | Self::Coverage { config, .. }
            | Self::Gaps { config, .. }
            | Self::Report { config, .. }
            | Self::Eval { config, .. }
            | Self::Quality { config, .. }
            | Self::Calibrate { config, .. }
            | Self::Staff { config, .. }
            | Self::Corpus { config, .. } => Some(config),
            Self::Stamp { .. } => None,
        }
    }
}

/// The command line as the binary reads it: errors name the variable the operator set,
/// default paths are resolved (see [`Config::resolve`]), unknown `GUICHET_*` variables are
/// warned about. Exits on a bad command line, as clap does.
pub fn parse() -> Cli {
    use clap::CommandFactory;
    let parsed =
        crate::config::parse_from::<Cli>(std::env::args_os().collect()).and_then(|(mut cli, m)| {
            if let (Some(config), Some((_, sub))) = (cli.command.config_mut(), m.subcommand()) {
                config.resolve(sub)?;
            }
            Ok(cli)
        });
    let cli = parsed.unwrap_or_else(|e| e.exit());
    crate::config::warn_unknown_variables(&Cli::command());
    cli
}

pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Serve { config } => serve(config).map(|()| 0),
        Command::Staff { action, config } => staff::run(&config, action),
        Command::Ask {
            question,
            json,
            lang,
            explain,
            config,
        } => ask(&config, &question, json, lang, explain),
        Command::Corpus { action, config } => kb::run(&config, action),
        Command::Check {
            report: false,
            store: true,
            config,
            lang,
            ..
        } => check_store(&config, ProblemLang::choose(lang.as_deref())),
        Command::Check {
            report: false,
            config,
            lang,
            ..
        } => check(&config.corpus, ProblemLang::choose(lang.as_deref())),
        Command::Check {
            report: true,
            confusable,
            store,
            config,
            ..
        } => coverage::check_report(&config, confusable, store),
        Command::Coverage {
            file,
            self_test,
            csv,
            html,
            config,
        } => match file {
            Some(file) if !self_test => {
                coverage::probe_file(&config, &file, csv.as_deref(), html.as_deref())
            }
            _ => coverage::self_test(&config),
        },
        Command::Gaps {
            days,
            threshold,
            json,
            config,
        } => coverage::gaps(&config, days, threshold, json),
        Command::Report {
            out,
            days,
            threshold,
            config,
        } => coverage::report(&config, &out, days, threshold),
        Command::Stamp {
            files,
            by,
            variants,
            easy_read,
            status,
            messages_langs,
            lang,
        } => stamp(
            &files,
            &by,
            &StampFlags {
                variants: &variants,
                easy_read,
                status: status.as_deref().and_then(corpus::Status::parse),
                messages_langs: &messages_langs,
            },
            ProblemLang::choose(lang.as_deref()),
        ),
        Command::Eval {
            entries,
            queries,
            lang,
            kb,
            json,
            curve,
            dump,
            config,
        } => run_eval(
            &config,
            &entries,
            &queries,
            EvalFilter {
                lang: lang.as_deref(),
                kb: kb.as_deref(),
            },
            EvalOutput {
                json,
                curve,
                dump: dump.as_deref(),
            },
        ),
        Command::Quality {
            data,
            out,
            svg,
            steps,
            config,
        } => quality(&config, &data, &out, &svg, steps),
        Command::Calibrate {
            sets,
            from_store,
            min_labels,
            max_wrong_rate,
            min_handoff_recall,
            out,
            config,
        } => calibrate(
            &config,
            &sets,
            from_store.then_some(min_labels),
            Targets {
                max_wrong_rate,
                min_handoff_recall,
            },
            &out,
        ),
    }
}

/// The calibrated policy; the uncalibrated default only when asked for by name: a policy
/// file gone missing must not quietly change which answers are served.
fn load_policy(config: &Config) -> Result<Policy> {
    if config.uncalibrated() {
        tracing::warn!(
            "GUICHET_POLICY={}: serving with the uncalibrated default policy",
            crate::config::UNCALIBRATED
        );
        return Ok(Policy::default());
    }
    Policy::from_file(&config.policy).with_context(|| {
        format!(
            "no calibrated policy at {}: set GUICHET_POLICY to the file `guichet calibrate` writes \
             (calibration/policy.toml in the source), or GUICHET_POLICY={} to serve with the \
             uncalibrated default on purpose",
            std::path::absolute(&config.policy)
                .unwrap_or_else(|_| config.policy.clone())
                .display(),
            crate::config::UNCALIBRATED
        )
    })
}

/// Refuses a model folder that lacks a file the embedder reads, saying what to install
/// where: the model loads after the server listens, too late for a clear refusal.
fn check_models(config: &Config) -> Result<()> {
    let missing = ModelPaths::in_folder(&config.models).missing();
    if missing.is_empty() {
        return Ok(());
    }
    let models = std::path::absolute(&config.models).unwrap_or_else(|_| config.models.clone());
    let copy = format!(
        "copy the models folder that scripts/fetch_models.sh builds (multilingual-e5-small/, \
         onnxruntime/ and READY) to {}, or set GUICHET_MODELS to the folder that holds it",
        models.display()
    );
    let checkout =
        Some(&config.home_dir().dir).filter(|root| root.join("scripts/fetch_models.sh").is_file());
    let advice = match checkout {
        Some(root) if root.join("models") == models => format!(
            "In this source checkout, run `make models` in {} (PyPI access needed); elsewhere, {copy}.",
            root.display()
        ),
        Some(root) => format!(
            "In this source checkout, run `make models` in {} (it writes {}) and set \
             GUICHET_MODELS to that folder; elsewhere, {copy}.",
            root.display(),
            root.join("models").display()
        ),
        None => format!(
            "To install it, {copy}; `make models` builds that folder in a source checkout of \
             guichet (PyPI access needed)."
        ),
    };
    bail!(
        "no usable model in {} (GUICHET_MODELS or --models): missing {}. {advice}",
        models.display(),
        missing
            .iter()
            .map(|p| p
                .strip_prefix(&config.models)
                .unwrap_or(p)
                .display()
                .to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// What `serve` settles before it opens anything or listens: the paths it uses (said
/// once, absolute), the policy, the model files.
fn preflight(config: &Config) -> Result<()> {
    let shown = |p: &Path| {
        if p.as_os_str() == crate::config::UNCALIBRATED {
            p.display().to_string()
        } else {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string()
        }
    };
    let home = config.home_dir();
    tracing::info!(
        home = %home.dir.display(),
        from = %home.from,
        corpus = %shown(&config.corpus),
        policy = %shown(&config.policy),
        models = %shown(&config.models),
        db = %crate::store::shown(&config.db),
        cache = %shown(&config.cache),
        "paths in use"
    );
    for w in config.warnings() {
        tracing::warn!("{w}");
    }
    load_policy(config)?;
    check_models(config)
}

fn load_embedder(config: &Config) -> Result<Arc<dyn Embedder>> {
    let embedder = OnnxEmbedder::load_with(
        &ModelPaths::in_folder(&config.models),
        config.workers(),
        config.threads(),
    )?
    .with_query_cache(config.query_cache);
    tracing::info!(
        workers = embedder.workers(),
        threads = ?embedder.threads(),
        "model loaded"
    );
    Ok(Arc::new(embedder))
}

/// The engine over the configured corpus, as `serve` and `ask` use it.
/// The engine over the corpus as it is now on disk, with the model and the policy of the
/// engine it replaces (nothing loaded twice).
pub fn build_engine(config: &Config) -> Result<Engine> {
    config.validate().map_err(anyhow::Error::msg)?;
    let today = Local::now().date_naive();
    let (corpus, problems) = corpus::load_checked(&config.corpus, today)
        .with_context(|| format!("corpus {}", config.corpus.display()))?;
    for p in problems.iter().filter(|p| p.severity >= Severity::Warning) {
        tracing::warn!("{p}");
    }
    build_engine_on(config, corpus)
}

/// Who the first start's import of the corpus folder is recorded as.
const FIRST_START: crate::store::Decider<'static> = crate::store::Decider {
    name: "premier démarrage (dossier du corpus)",
    staff: None,
};

/// The store's knowledge base, checked; a store without one imports the corpus folder
/// first. Either refuses with every problem listed.
pub fn knowledge_base(
    config: &Config,
    store: &dyn crate::store::Store,
) -> Result<crate::kb::Loaded> {
    use crate::kb::{self, KbError};
    let today = Local::now().date_naive();
    let invalid = |problems, what: String| {
        anyhow::Error::new(corpus::CorpusError::Invalid(problems)).context(what)
    };
    if store.kb_version()? == 0 {
        match kb::import(
            store,
            &config.corpus,
            &FIRST_START,
            today,
            chrono::Utc::now(),
        ) {
            Ok(report) => tracing::info!(
                files = report.created.len(),
                version = report.version,
                "knowledge base imported from {}",
                config.corpus.display()
            ),
            Err(KbError::Invalid(p)) => {
                return Err(invalid(p, format!("corpus {}", config.corpus.display())));
            }
            Err(e) => {
                return Err(e).with_context(|| format!("corpus {}", config.corpus.display()));
            }
        }
    }
    match kb::load(store, today) {
        Ok(loaded) => {
            for p in kb::serious(&loaded.problems) {
                tracing::warn!("{p}");
            }
            Ok(loaded)
        }
        Err(KbError::Invalid(p)) => Err(invalid(
            p,
            format!("knowledge base in {}", crate::store::shown(&config.db)),
        )),
        Err(e) => {
            Err(e).with_context(|| format!("knowledge base in {}", crate::store::shown(&config.db)))
        }
    }
}

/// The engine on `corpus`, with the configured model and policy.
pub fn build_engine_on(config: &Config, corpus: corpus::Corpus) -> Result<Engine> {
    let options = EngineOptions {
        cache_dir: Some(config.cache.clone()),
        policy: load_policy(config)?,
        ..EngineOptions::default()
    };
    Ok(Engine::build(corpus, load_embedder(config)?, options)?)
}

fn serve(config: Config) -> Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    preflight(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Opened before listening: a database that cannot be opened or migrated stops the
    // start, rather than losing conversations later.
    let started = std::time::Instant::now();
    let store = kb::open(&config)?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis(), "store opened");
    // The knowledge base is the store's; a store without one takes the corpus folder in
    // (the first start). Checked before listening (cheap, no model): a broken knowledge
    // base refuses the start with every problem listed, so a deployment catches it.
    let loaded = knowledge_base(&config, store.as_ref())?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis(),
        entries = loaded.corpus.entries().len(),
        "knowledge base loaded"
    );
    runtime.block_on(async move {
        let state = crate::http::AppState::new(config.clone(), store);
        let options = crate::http::ServeOptions::from_config(&config);
        let grace = options.grace;
        crate::http::spawn_retention(&state);
        // What a previous process acknowledged but did not answer, once the engine is up.
        crate::channels::inbox::spawn_replay(&state);
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        tracing::info!(addr = %listener.local_addr()?, "listening");
        // Bound before the model loads, like the main address: a monitoring that cannot
        // reach the metrics should learn it at the start, not at the first scrape.
        if let Some(addr) = config.metrics_addr {
            let metrics = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (GUICHET_METRICS_ADDR)"))?;
            tracing::info!(addr = %metrics.local_addr()?, "metrics listening");
            let (app, options) = (crate::http::metrics_router(state.clone()), options.clone());
            let stopping = state.stopping.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::http::serve(metrics, app, options, stopping).await {
                    tracing::error!(error = %e, "the metrics address stopped");
                }
            });
        }
        let loading = state.clone();
        let version = loaded.version;
        let build = tokio::task::spawn_blocking(move || build_engine_on(&config, loaded.corpus));
        tokio::spawn(async move {
            match build.await {
                Ok(Ok(engine)) => {
                    tracing::info!(
                        entries = engine.corpus().entries().len(),
                        version = engine.corpus().version(),
                        kb_version = version,
                        "ready"
                    );
                    loading.set_engine(Arc::new(engine));
                    loading.serving_kb(version);
                    crate::http::spawn_kb_watch(&loading);
                }
                Ok(Err(e)) => {
                    tracing::error!("cannot start: {e:#}");
                    crate::embedder::before_exit();
                    std::process::exit(1);
                }
                Err(e) => {
                    tracing::error!("cannot start: {e}");
                    crate::embedder::before_exit();
                    std::process::exit(1);
                }
            }
        });
        let background = state.background.clone();
        let stopping = state.stopping.clone();
        tokio::spawn({
            let stopping = stopping.clone();
            async move {
                shutdown().await;
                // Connections close and open event streams end on this token.
                stopping.cancel();
            }
        });
        let stopped =
            crate::http::serve(listener, crate::http::router(state), options, stopping).await?;
        // Replies under way finish; what does not within the grace period stays in the
        // inbox, for another replica or the next start.
        background.close();
        if tokio::time::timeout(grace.saturating_sub(stopped.elapsed()), background.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = background.len(),
                "replies still under way at shutdown: left in the inbox"
            );
        }
        tracing::info!("stopped");
        Ok(())
    })
}

/// Resolves on Ctrl-C or SIGTERM (what a service manager or an orchestrator sends).
async fn shutdown() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

fn ask(
    config: &Config,
    question: &str,
    json: bool,
    lang: Option<String>,
    explain: bool,
) -> Result<i32> {
    let engine = build_engine(config)?;
    let asked = engine.ask(
        &crate::privacy::Redacted::new(question),
        &AskContext {
            lang,
            ..AskContext::now()
        },
    )?;
    if explain {
        eprintln!("{}", serde_json::to_string_pretty(&asked.trace)?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&asked.reply)?);
    } else {
        print!("{}", render(&asked.reply));
    }
    Ok(0)
}

/// A reply as text for a terminal: the validated words, then where they come from.
pub fn render(reply: &Reply) -> String {
    let mut out = String::new();
    match reply.outcome {
        Outcome::Answer => {
            let e = reply.entry.as_ref().expect("an answer carries its entry");
            out.push_str(&format!(
                "{}\n\n{}\n\n[{} · {} · validé le {} · sha256 {}]\n",
                e.question,
                e.answer,
                e.id,
                e.service,
                e.validated_on.as_deref().unwrap_or("-"),
                &e.answer_sha256[..12.min(e.answer_sha256.len())]
            ));
        }
        Outcome::Clarify => {
            out.push_str(reply.message.as_deref().unwrap_or_default());
            out.push('\n');
            for (i, o) in reply.options.iter().flatten().enumerate() {
                out.push_str(&format!("  {}. {}  [{}]\n", i + 1, o.question, o.id));
            }
        }
        Outcome::Handoff => {
            let h = reply
                .handoff
                .as_ref()
                .expect("a hand-off carries its contacts");
            let c = &h.contacts;
            out.push_str(&format!("{}\n\n{}\n", h.message, c.name));
            for line in [
                c.phone.as_deref(),
                c.email.as_deref(),
                c.address.as_deref(),
                c.web.as_deref(),
            ]
            .into_iter()
            .flatten()
            {
                out.push_str(&format!("  {line}\n"));
            }
            out.push_str(&format!(
                "  {}\n",
                if c.open_now {
                    "ouvert en ce moment"
                } else {
                    "fermé en ce moment"
                }
            ));
        }
    }
    out
}

fn check(dir: &Path, lang: ProblemLang) -> Result<i32> {
    let files = corpus::Files::read_dir(dir)?;
    check_files(&files, lang)
}

/// `guichet check --store`: the live knowledge base of GUICHET_DB, with the same checks.
fn check_store(config: &Config, lang: ProblemLang) -> Result<i32> {
    let store = kb::open(config)?;
    let (files, version) = crate::kb::live_files(store.as_ref())?;
    if files.is_empty() {
        bail!(
            "la base de connaissances de {} est vide : guichet corpus import DOSSIER",
            crate::store::shown(&config.db)
        );
    }
    println!(
        "base de connaissances de {}, version {version}",
        crate::store::shown(&config.db)
    );
    check_files(&files, lang)
}

fn check_files(files: &corpus::Files, lang: ProblemLang) -> Result<i32> {
    let today = Local::now().date_naive();
    let problems = corpus::check_files(files, today);
    for p in &problems {
        println!("{}", p.in_lang(lang));
    }
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = problems
        .iter()
        .filter(|p| p.severity == Severity::Warning)
        .count();
    let loaded = corpus::load_files(files, today);
    println!(
        "{}",
        match (&loaded, lang) {
            (Ok((c, _)), ProblemLang::Fr) => format!(
                "{} entrées servies, {errors} erreur(s), {warnings} avertissement(s)",
                c.entries().len()
            ),
            (Ok((c, _)), ProblemLang::En) => format!(
                "{} entries servable, {errors} error(s), {warnings} warning(s)",
                c.entries().len()
            ),
            (Err(_), ProblemLang::Fr) =>
                format!("corpus inutilisable : {errors} erreur(s), {warnings} avertissement(s)"),
            (Err(_), ProblemLang::En) => {
                format!("corpus not loadable: {errors} error(s), {warnings} warning(s)")
            }
        }
    );
    Ok(if errors > 0 { 1 } else { 0 })
}

/// What `guichet stamp` is told to validate besides the French answer.
struct StampFlags<'a> {
    variants: &'a [String],
    easy_read: bool,
    status: Option<corpus::Status>,
    /// For `messages.toml`: the languages validated.
    messages_langs: &'a [String],
}

fn stamp(files: &[PathBuf], by: &str, flags: &StampFlags<'_>, lang: ProblemLang) -> Result<i32> {
    if by.trim().is_empty() {
        bail!("--by doit nommer le service qui a validé");
    }
    let today = Local::now().date_naive();
    let request = corpus::stamp::StampRequest {
        by,
        today,
        variants: flags.variants,
        easy_read: flags.easy_read,
        status: flags.status,
    };
    let fr = lang == ProblemLang::Fr;
    let mut refused = 0;
    for f in files {
        if f.file_name().is_some_and(|n| n == "messages.toml") {
            if flags.messages_langs.is_empty() {
                bail!(
                    "{}: {}",
                    f.display(),
                    if fr {
                        "nommez chaque langue validée avec --messages-lang (par ex. --messages-lang fr --messages-lang ar)"
                    } else {
                        "name each language you validated with --messages-lang (e.g. --messages-lang fr --messages-lang ar)"
                    }
                );
            }
            for (l, sha) in corpus::messages::stamp(f, flags.messages_langs, by, today)? {
                if fr {
                    println!(
                        "{} : [{l}] validé par {by} le {today}, sha256 {sha}",
                        f.display()
                    );
                } else {
                    println!(
                        "{}: [{l}] validated by {by} on {today}, sha256 {sha}",
                        f.display()
                    );
                }
            }
            continue;
        }
        let stamped = corpus::stamp::services_for(f)
            .and_then(|services| corpus::stamp::stamp(f, &services, &request));
        let s = match stamped {
            Ok(s) => s,
            Err(corpus::stamp::StampError::Refused(problems)) => {
                refused += 1;
                eprintln!(
                    "{}",
                    if fr {
                        format!("{} : validation refusée, rien n'a été écrit :", f.display())
                    } else {
                        format!("{}: stamp refused, nothing written:", f.display())
                    }
                );
                for p in &problems {
                    eprintln!("  {}", p.in_lang(lang));
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let by = by.trim();
        let mut line = if fr {
            format!(
                "{} : validé par {by} le {today}, answer_sha256 {}",
                f.display(),
                s.answer_sha256
            )
        } else {
            format!(
                "{}: validated by {by} on {today}, answer_sha256 {}",
                f.display(),
                s.answer_sha256
            )
        };
        if !s.variants.is_empty() {
            line.push_str(&format!(" (+ {})", s.variants.join(", ")));
        }
        println!("{line}");
        if !s.stale.is_empty() {
            let left = s.stale.join(", ");
            println!(
                "  {}",
                if fr {
                    format!(
                        "laissé périmé, non servi tant qu'il n'est pas revu et revalidé (--variant LANGUE, --easy-read) : {left}"
                    )
                } else {
                    format!(
                        "left out of date, not served until reviewed and validated (--variant LANG, --easy-read): {left}"
                    )
                }
            );
        }
        if s.status != corpus::Status::Validated {
            let status = serde_json::to_value(s.status)?;
            let status = status.as_str().unwrap_or_default();
            println!(
                "  {}",
                if fr {
                    format!(
                        "statut inchangé : {status}, non servie (--status validated pour la publier)"
                    )
                } else {
                    format!(
                        "status unchanged: {status}, not served (--status validated to publish it)"
                    )
                }
            );
        }
    }
    Ok(if refused > 0 { 1 } else { 0 })
}

fn eval_options(config: &Config, policy: Policy) -> EngineOptions {
    EngineOptions {
        cache_dir: Some(config.cache.clone()),
        policy,
        ..EngineOptions::default()
    }
}

/// Which part of a data set `eval` measures.
struct EvalFilter<'a> {
    lang: Option<&'a str>,
    kb: Option<&'a str>,
}

/// What `eval` prints or writes.
struct EvalOutput<'a> {
    json: bool,
    curve: bool,
    dump: Option<&'a Path>,
}

fn run_eval(
    config: &Config,
    entries: &Path,
    queries: &Path,
    filter: EvalFilter<'_>,
    output: EvalOutput<'_>,
) -> Result<i32> {
    let EvalOutput { json, curve, dump } = output;
    let mut set = EvalSet::read(entries, queries, filter.lang)?;
    if let Some(kb) = filter.kb {
        set.retain_kb(kb);
        if set.entries.is_empty() {
            bail!("--kb {kb:?}: no entry of {} has this kb", entries.display());
        }
    }
    let policy = load_policy(config)?;
    let engines = set.engines(
        load_embedder(config)?,
        &eval_options(config, policy.clone()),
    )?;
    let probes = eval::probe(&set, &engines)?;
    let results = eval::decide_all(&probes, &policy);
    let report = eval::score(&results);
    let curve = curve.then(|| eval::curve(&probes, &policy, 50));
    if let Some(path) = dump {
        let lines: Vec<String> = results
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<_, _>>()?;
        std::fs::write(path, lines.join("\n") + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if json {
        #[derive(serde::Serialize)]
        struct WithCurve<'a> {
            #[serde(flatten)]
            report: &'a eval::Report,
            #[serde(skip_serializing_if = "Option::is_none")]
            curve: Option<Vec<eval::CurvePoint>>,
        }
        let out = WithCurve {
            report: &report,
            curve,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{report:#?}");
        for p in curve.iter().flatten() {
            println!(
                "answer_threshold {:.2}: coverage {:.3}, wrong_answer_rate {:.3}",
                p.answer_threshold, p.coverage, p.wrong_answer_rate
            );
        }
    }
    Ok(0)
}

fn quality(config: &Config, data: &Path, out: &Path, svg: &Path, steps: usize) -> Result<i32> {
    if steps == 0 {
        bail!("--steps must be at least 1");
    }
    let specs = crate::quality::discover(data)
        .with_context(|| format!("data sets in {}", data.display()))?;
    if specs.is_empty() {
        bail!(
            "no data set (entries.jsonl + queries.dev.jsonl) under {}",
            data.display()
        );
    }
    let policy = load_policy(config)?;
    let embedder = load_embedder(config)?;
    let options = eval_options(config, policy.clone());
    let mut sets = Vec::with_capacity(specs.len());
    for spec in &specs {
        let m = crate::quality::measure(spec, embedder.clone(), &options, &policy, steps)?;
        eprintln!(
            "{}: {} queries, wrong {:.3}, coverage {:.3}, resolved {:.3}, handoff_recall {:.3}",
            m.name,
            m.report.queries,
            m.report.wrong_answer_rate,
            m.report.coverage,
            m.report.resolved_rate,
            m.report.handoff_recall
        );
        sets.push(m);
    }
    let svg_link = match (svg.parent(), out.parent()) {
        (Some(a), Some(b)) if a == b => svg
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        _ => svg.display().to_string(),
    };
    let page = crate::quality::Page {
        command: format!(
            "guichet quality --data {} --out {} --svg {} --steps {steps} --policy {}",
            data.display(),
            out.display(),
            svg.display(),
            config.policy.display()
        ),
        generated: Local::now().format("%Y-%m-%d").to_string(),
        policy_path: config.policy.display().to_string(),
        policy,
        svg_link,
    };
    for (path, text) in [
        (out, crate::quality::markdown(&page, &sets)),
        (svg, crate::quality::svg(&sets)),
    ] {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("wrote {} and {}", out.display(), svg.display());
    Ok(0)
}

/// One `--set` of `guichet calibrate`.
struct SetArg {
    name: String,
    dir: PathBuf,
    lang: Option<String>,
    kb: Option<String>,
    targets: Targets,
}

/// Parses `NAME=DIR[:LANG][#KB][@WRONG[,RECALL]]`.
fn parse_set(spec: &str, defaults: Targets) -> Result<SetArg> {
    let bad = || format!("--set {spec:?}: expected NAME=DIR[:LANG][#KB][@MAX_WRONG[,MIN_RECALL]]");
    let (spec_main, targets) = match spec.split_once('@') {
        None => (spec, defaults),
        Some((main, t)) => {
            let mut nums = t.split(',').map(|x| x.parse::<f64>());
            let max_wrong_rate = nums
                .next()
                .transpose()
                .with_context(bad)?
                .unwrap_or(defaults.max_wrong_rate);
            let min_handoff_recall = nums
                .next()
                .transpose()
                .with_context(bad)?
                .unwrap_or(defaults.min_handoff_recall);
            (
                main,
                Targets {
                    max_wrong_rate,
                    min_handoff_recall,
                },
            )
        }
    };
    let (name, rest) = spec_main.split_once('=').with_context(bad)?;
    let (rest, kb) = match rest.split_once('#') {
        Some((r, kb)) if !kb.is_empty() => (r, Some(kb.to_string())),
        Some(_) => bail!(bad()),
        None => (rest, None),
    };
    let (dir, lang) = match rest.rsplit_once(':') {
        Some((d, l)) if l.len() == 2 => (d, Some(l.to_string())),
        _ => (rest, None),
    };
    Ok(SetArg {
        name: name.to_string(),
        dir: PathBuf::from(dir),
        lang,
        kb,
        targets,
    })
}

/// The store's labels as one more set (`--from-store`), refused when too few.
fn store_labelled_set(
    config: &Config,
    embedder: &Arc<dyn Embedder>,
    min_labels: usize,
    targets: Targets,
) -> Result<LabelledSet> {
    let store = kb::open(config)?;
    let found = crate::calibrate::store_set(&*store, Local::now().date_naive())?;
    for (question, why) in &found.skipped {
        eprintln!("label left out: {question:?}: {why}");
    }
    found.enough(min_labels)?;
    let engines = found
        .set
        .engines(embedder.clone(), &eval_options(config, Policy::default()))?;
    eprintln!(
        "store {}: {} labelled questions probed ({} answered by an entry, {} for a person), {} entries",
        crate::store::shown(&config.db),
        found.usable(),
        found.answerable,
        found.handoffs,
        found.set.entries.len()
    );
    Ok(LabelledSet {
        name: "store".into(),
        probes: eval::probe(&found.set, &engines)?,
        targets,
    })
}

fn calibrate(
    config: &Config,
    specs: &[String],
    from_store: Option<usize>,
    targets: Targets,
    out: &Path,
) -> Result<i32> {
    let embedder = load_embedder(config)?;
    let mut sets = Vec::new();
    if let Some(min_labels) = from_store {
        sets.push(store_labelled_set(config, &embedder, min_labels, targets)?);
    }
    for spec in specs {
        let SetArg {
            name,
            dir,
            lang,
            kb,
            targets: set_targets,
        } = parse_set(spec, targets)?;
        let mut set = EvalSet::read(
            &dir.join("entries.jsonl"),
            &dir.join("queries.dev.jsonl"),
            lang.as_deref(),
        )?;
        if let Some(kb) = &kb {
            set.retain_kb(kb);
            if set.entries.is_empty() {
                bail!("--set {spec:?}: no entry has kb {kb:?}");
            }
        }
        let engines = set.engines(embedder.clone(), &eval_options(config, Policy::default()))?;
        eprintln!("{name}: {} queries probed", set.queries.len());
        sets.push(LabelledSet {
            name,
            probes: eval::probe(&set, &engines)?,
            targets: set_targets,
        });
    }
    let (mut policy, summary) = crate::calibrate::fit(&sets)?;
    policy.provenance = format!(
        "fitted {} by `guichet calibrate {}` (default targets: max wrong-answer rate {}, min hand-off recall {}); top-1 with these weights: {}; log loss {:.3}",
        Local::now().format("%Y-%m-%d"),
        from_store
            .map(|_| "--from-store".to_string())
            .into_iter()
            .chain(specs.iter().map(|s| format!("--set {s}")))
            .collect::<Vec<_>>()
            .join(" "),
        targets.max_wrong_rate,
        targets.min_handoff_recall,
        summary
            .weights_accuracy
            .iter()
            .map(|(n, a)| format!("{n} {a:.3}"))
            .collect::<Vec<_>>()
            .join(", "),
        summary.log_loss,
    );
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, policy.to_toml())
        .with_context(|| format!("cannot write {}", out.display()))?;
    for s in &sets {
        let r = eval::score(&eval::decide_all(&s.probes, &policy));
        eprintln!(
            "{}: acc@1 {:.3} wrong {:.3} coverage {:.3} resolved {:.3} handoff_recall {:.3}",
            s.name,
            r.accuracy_at_1,
            r.wrong_answer_rate,
            r.coverage,
            r.resolved_rate,
            r.handoff_recall
        );
    }
    println!("{}", policy.to_toml());
    Ok(0)
}
