//! `guichet corpus import|export`: the knowledge base in the store and its exchange format,
//! a corpus folder (kept in git by a city that wants to). Thin: the rules are in
//! `crate::kb`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{Local, Utc};
use clap::Subcommand;

use crate::config::Config;
use crate::corpus::{ProblemLang, Severity};
use crate::kb::{self, KbError};
use crate::staff::{self, Actor};
use crate::store::{Decider, Store};

#[derive(Debug, Subcommand)]
pub enum CorpusCommand {
    /// Apply a corpus folder to the store's knowledge base: every check of `guichet check`
    /// first (nothing applied on any error), then one validated revision per changed file;
    /// files no longer in the folder are withdrawn.
    Import {
        dir: PathBuf,
        /// Language of the problems: fr (default) or en; else from LANG.
        #[arg(long)]
        lang: Option<String>,
    },
    /// Write the store's live knowledge base into a folder, byte for byte.
    Export { dir: PathBuf },
}

pub fn open(config: &Config) -> Result<std::sync::Arc<dyn crate::store::Store>> {
    crate::store::open(&config.db, config.route_key_file.as_deref(), config.pg_pool)
        .with_context(|| format!("database {}", crate::store::shown(&config.db)))
}

/// Who an import from the command line is recorded as.
pub const CLI_IMPORT: Decider<'static> = Decider {
    name: "import (ligne de commande)",
    staff: None,
};

pub fn run(config: &Config, action: CorpusCommand) -> Result<i32> {
    let store = open(config)?;
    match action {
        CorpusCommand::Import { dir, lang } => import(
            &*store,
            &dir,
            &CLI_IMPORT,
            ProblemLang::choose(lang.as_deref()),
        ),
        CorpusCommand::Export { dir } => {
            let report = kb::export(&*store, &dir)?;
            println!(
                "{} fichier(s) écrit(s) dans {} (version {} de la base)",
                report.written,
                dir.display(),
                report.version
            );
            for path in &report.removed {
                println!("  retiré : {path}");
            }
            staff::audit(
                &*store,
                &Actor::cli(),
                "corpus.export",
                Some(&dir.display().to_string()),
                None,
                Utc::now(),
            )?;
            Ok(0)
        }
    }
}

/// Imports `dir`, printing what changed or every problem; 1 when refused.
pub fn import(store: &dyn Store, dir: &Path, by: &Decider<'_>, lang: ProblemLang) -> Result<i32> {
    match kb::import(store, dir, by, Local::now().date_naive(), Utc::now()) {
        Ok(report) => {
            for p in report
                .problems
                .iter()
                .filter(|p| p.severity >= Severity::Warning)
            {
                println!("{}", p.in_lang(lang));
            }
            println!(
                "{} : {} créé(s), {} modifié(s), {} retiré(s), {} inchangé(s) ; version {} de la base",
                dir.display(),
                report.created.len(),
                report.changed.len(),
                report.withdrawn.len(),
                report.unchanged,
                report.version
            );
            if report.created.len() + report.changed.len() + report.withdrawn.len() > 0 {
                staff::audit(
                    store,
                    &Actor::cli(),
                    "corpus.import",
                    Some(&dir.display().to_string()),
                    Some(&format!(
                        "{} créé(s), {} modifié(s), {} retiré(s)",
                        report.created.len(),
                        report.changed.len(),
                        report.withdrawn.len()
                    )),
                    Utc::now(),
                )?;
            }
            Ok(0)
        }
        Err(KbError::Invalid(problems)) => {
            for p in &problems {
                println!("{}", p.in_lang(lang));
            }
            println!(
                "{} : rien n'a été importé, {} problème(s) bloquant(s)",
                dir.display(),
                problems.len()
            );
            Ok(1)
        }
        Err(e) => Err(e).with_context(|| format!("import de {}", dir.display())),
    }
}
