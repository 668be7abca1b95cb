//! The validated knowledge base: entries, services, messages and glossary, loaded once,
//! checked, and immutable afterwards. Only what passed every check is ever served.

mod entry;
pub mod entry_edit;
mod glossary;
mod load;
pub mod messages;
mod problem;
mod services;
pub mod services_edit;
pub mod stamp;

use std::collections::BTreeMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

pub use entry::{Entry, EntryId, Status, Translation, Variant};
pub use glossary::Glossary;
pub use load::{
    Files, GLOBAL_FILES, check, check_files, load, load_checked, load_files, load_files_checked,
};
pub use messages::{MessageSet, Messages, PRIMARY_LANG};
pub use problem::{Kind, Msg, Problem, ProblemLang, Severity};
pub use services::{Contacts, Service, Services, WeeklyHours};

/// Errors that stop a corpus from being used at all.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("impossible de lire {path} : {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every problem is listed, so one deployment shows them all.
    #[error("le corpus a {} problème(s) bloquant(s) :\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

/// Lowercase hex SHA-256 of a validated text, as recorded in `answer_sha256`.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The servable knowledge base. Built only by [`load`] (from files) or
/// [`Corpus::from_trusted`] (evaluation data that counts as validated).
#[derive(Debug, Clone)]
pub struct Corpus {
    entries: Vec<Entry>,
    by_id: BTreeMap<EntryId, usize>,
    services: Services,
    messages: Messages,
    glossary: Glossary,
    version: String,
}

impl Corpus {
    fn build(
        entries: Vec<Entry>,
        services: Services,
        messages: Messages,
        glossary: Glossary,
    ) -> Self {
        let by_id = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.clone(), i))
            .collect();
        let mut hasher = Sha256::new();
        for entry in &entries {
            hasher.update(entry.id.as_str());
            hasher.update(&entry.answer_sha256);
            for (lang, tr) in &entry.translations {
                hasher.update(lang);
                hasher.update(&tr.sha256);
            }
            if let Some(easy) = &entry.easy_read {
                hasher.update(&easy.sha256);
            }
        }
        hasher.update(services.fingerprint());
        hasher.update(messages.fingerprint());
        hasher.update(glossary.fingerprint());
        let version = hex::encode(hasher.finalize())[..12].to_string();
        Self {
            entries,
            by_id,
            services,
            messages,
            glossary,
            version,
        }
    }

    /// A corpus whose entries are taken as validated without files (evaluation sets).
    /// Their hashes are computed here, so grounding still holds for what they serve.
    pub fn from_trusted(entries: Vec<Entry>) -> Self {
        let entries = entries
            .into_iter()
            .map(|mut e| {
                e.answer_sha256 = sha256_hex(&e.answer);
                e
            })
            .collect();
        Self::build(
            entries,
            Services::fallback(),
            Messages::fallback(),
            Glossary::default(),
        )
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn entry(&self, index: usize) -> &Entry {
        &self.entries[index]
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    pub fn messages(&self) -> &Messages {
        &self.messages
    }

    pub fn glossary(&self) -> &Glossary {
        &self.glossary
    }

    /// Short fingerprint of everything that can reach a person; changes with any validated text.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
