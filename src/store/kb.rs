//! The persistence of the knowledge base: files of the corpus format as append-only
//! revisions, the live revision of each path, the version replicas watch, and the labels
//! of the training loop. The rules (who may propose or validate, the checks) are in
//! [`crate::kb`]; this is the part of the [`super::Store`] seam it uses.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevisionStatus {
    /// Proposed, never served.
    Draft,
    /// Validated: live until a later validated revision of its path.
    Validated,
    /// Sent back to its author with a comment.
    SentBack,
    /// Given up by its author.
    Cancelled,
}

impl RevisionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Validated => "validated",
            Self::SentBack => "sent_back",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => Self::Draft,
            "validated" => Self::Validated,
            "sent_back" => Self::SentBack,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

/// Where a revision comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `guichet corpus import`, or the first start on a folder.
    Import,
    /// An editor's proposal in the console.
    Proposal,
    /// An earlier validated revision proposed again.
    Restore,
    /// An administrator's change of a service's contacts and hours.
    Admin,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Proposal => "proposal",
            Self::Restore => "restore",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "import" => Self::Import,
            "proposal" => Self::Proposal,
            "restore" => Self::Restore,
            "admin" => Self::Admin,
            _ => return None,
        })
    }
}

/// One revision of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revision {
    pub id: i64,
    /// Relative to the corpus root: `entries/etat-civil/pacs.md`, `services.toml`.
    pub path: String,
    pub entry_id: Option<String>,
    pub service: Option<String>,
    /// The file's full text; `None` withdraws the file.
    pub content: Option<String>,
    pub status: RevisionStatus,
    pub origin: Origin,
    pub author: String,
    pub author_staff: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// The live revision it was written against; `None` for a new file.
    pub base: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_staff: Option<i64>,
    pub decided_at: Option<DateTime<Utc>>,
    pub comment: Option<String>,
    /// The French answer's hash, once validated.
    pub answer_sha256: Option<String>,
}

/// A revision to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRevision {
    pub path: String,
    pub entry_id: Option<String>,
    pub service: Option<String>,
    pub content: Option<String>,
    pub origin: Origin,
    pub author: String,
    pub author_staff: Option<i64>,
    pub base: Option<i64>,
    pub comment: Option<String>,
    pub answer_sha256: Option<String>,
}

/// A file as it is served now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFile {
    pub path: String,
    pub revision: i64,
    pub entry_id: Option<String>,
    pub content: String,
}

/// Who decided, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decider<'a> {
    pub name: &'a str,
    pub staff: Option<i64>,
}

/// What staff decided about a question residents asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelDecision {
    /// Attached as an alternate of an entry.
    Attach,
    /// A new entry drafted from it.
    Create,
    /// Out of scope: for a person.
    Dismiss,
}

impl LabelDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attach => "attach",
            Self::Create => "create",
            Self::Dismiss => "dismiss",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "attach" => Self::Attach,
            "create" => Self::Create,
            "dismiss" => Self::Dismiss,
            _ => return None,
        })
    }
}

/// A labelled question: `entry_id` answers it, or `None`: it is for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    pub id: i64,
    /// Redacted, as turns are.
    pub question: String,
    pub lang: Option<String>,
    pub entry_id: Option<String>,
    pub decision: LabelDecision,
    pub service: Option<String>,
    pub staff: Option<i64>,
    pub revision: Option<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLabel {
    pub question: String,
    pub lang: Option<String>,
    pub entry_id: Option<String>,
    pub decision: LabelDecision,
    pub service: Option<String>,
    pub staff: Option<i64>,
    pub revision: Option<i64>,
}

pub trait KbStore: Send + Sync {
    /// Goes up by one with every change of what is live; 0 for an empty knowledge base.
    fn kb_version(&self) -> Result<i64, StoreError>;
    /// Every live file, by path.
    fn kb_live(&self) -> Result<Vec<LiveFile>, StoreError>;
    /// The live revision of `path`, if the file is live.
    fn kb_live_revision(&self, path: &str) -> Result<Option<i64>, StoreError>;
    /// The live path of an entry.
    fn kb_entry_path(&self, entry_id: &str) -> Result<Option<String>, StoreError>;
    /// Records `changes` as validated revisions and makes them live, all or none, with
    /// one new version (returned). [`StoreError::Conflict`] when a change's `base` is not
    /// its path's live revision any more.
    fn kb_apply(
        &self,
        changes: &[NewRevision],
        by: &Decider<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError>;
    /// Records a draft; its id.
    fn kb_propose(&self, new: &NewRevision, now: DateTime<Utc>) -> Result<i64, StoreError>;
    fn kb_revision(&self, id: i64) -> Result<Option<Revision>, StoreError>;
    /// Every revision of `path`, newest first.
    fn kb_history(&self, path: &str) -> Result<Vec<Revision>, StoreError>;
    /// Drafts waiting for a decision, for `services` (every service when `None`), oldest
    /// first.
    fn kb_drafts(&self, services: Option<&[String]>) -> Result<Vec<Revision>, StoreError>;
    /// Validates draft `id` with its stamped text (`None` withdraws the file) and makes it
    /// live: the new version. [`StoreError::Conflict`] when it is no longer a draft or its
    /// base is no longer live.
    fn kb_validate(
        &self,
        id: i64,
        content: Option<&str>,
        answer_sha256: Option<&str>,
        by: &Decider<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError>;
    /// Closes draft `id` without serving it: sent back with a comment, or cancelled.
    fn kb_close_draft(
        &self,
        id: i64,
        status: RevisionStatus,
        comment: Option<&str>,
        by: &Decider<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    fn kb_self_validation(&self, service: &str) -> Result<bool, StoreError>;
    fn set_kb_self_validation(
        &self,
        service: &str,
        allowed: bool,
        staff: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    fn kb_add_label(&self, label: &NewLabel, now: DateTime<Utc>) -> Result<i64, StoreError>;
    /// Every label, oldest first.
    fn kb_labels(&self) -> Result<Vec<Label>, StoreError>;
}
