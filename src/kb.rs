//! The knowledge base as the services keep it: the files of the corpus format live in the
//! store as revisions; editors of a service propose (drafts, never served), validators of
//! that service validate (stamped, checked with the whole base, then live) or send back;
//! a folder is only the exchange format (`guichet corpus import|export`).
//!
//! Every rule is here, synchronous: who may propose or validate what (the role matrix of
//! [`crate::staff`] and the account's services), that nothing is made live which the
//! corpus checks refuse, and that an export gives back the bytes an import took in.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::corpus::stamp::{StampRequest, changed_variants, entry_meta, stamp_text};
use crate::corpus::{self, Corpus, CorpusError, Files, GLOBAL_FILES, Problem, Severity, Status};
use crate::staff::{Account, Action};
use crate::store::{Decider, NewRevision, Origin, Revision, RevisionStatus, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// What the corpus checks found: nothing was changed.
    #[error("rien n'a été changé, la base ne passerait pas les vérifications :\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
    /// The account's roles or services do not allow it (checked on the server).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request itself is wrong (a path outside the corpus, an empty text).
    #[error("{0}")]
    Refused(String),
}

/// Where problems about the store's knowledge base point: paths read as in a folder.
pub const STORE_ROOT: &str = "";

/// The live knowledge base as files, with the version it was read at (read first, so a
/// change in between is seen again at the next look, never missed).
pub fn live_files(store: &dyn Store) -> Result<(Files, i64), KbError> {
    let version = store.kb_version()?;
    let mut files = Files::new(STORE_ROOT);
    for f in store.kb_live()? {
        files.insert(&f.path, f.content);
    }
    Ok((files, version))
}

/// The knowledge base as it is served.
pub struct Loaded {
    pub corpus: Corpus,
    /// Warnings and notes (stale variants, review dates).
    pub problems: Vec<Problem>,
    /// The store's version it was read at.
    pub version: i64,
}

/// The corpus built from the store's live revisions, checked as a server start checks a
/// folder: an error anywhere refuses it ([`KbError::Invalid`]) and the caller keeps the
/// engine it has.
pub fn load(store: &dyn Store, today: NaiveDate) -> Result<Loaded, KbError> {
    let (files, version) = live_files(store)?;
    match corpus::load_files_checked(&files, today) {
        Ok((corpus, problems)) => Ok(Loaded {
            corpus,
            problems,
            version,
        }),
        Err(CorpusError::Invalid(problems)) => Err(KbError::Invalid(problems)),
        Err(e) => Err(e.into()),
    }
}

/// What an import changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub created: Vec<String>,
    pub changed: Vec<String>,
    pub withdrawn: Vec<String>,
    pub unchanged: usize,
    /// The knowledge base's version after the import (unchanged when nothing changed).
    pub version: i64,
    /// Warnings and notes of the imported corpus.
    pub problems: Vec<Problem>,
}

/// Applies the corpus folder `dir` to the store: every check of `guichet check` first,
/// and nothing applied if any error; then one validated revision per file that differs
/// from the live one (unchanged files create none), and files no longer in the folder
/// withdrawn, all in one change of version.
pub fn import(
    store: &dyn Store,
    dir: &Path,
    by: &Decider<'_>,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<ImportReport, KbError> {
    let files = Files::read_dir(dir)?;
    let problems = match corpus::load_files_checked(&files, today) {
        Ok((_, problems)) => problems,
        Err(CorpusError::Invalid(problems)) => return Err(KbError::Invalid(problems)),
        Err(e) => return Err(e.into()),
    };
    let live: Vec<_> = store.kb_live()?;
    let mut report = ImportReport {
        problems,
        ..ImportReport::default()
    };
    let mut changes = Vec::new();
    for (path, text) in files.iter() {
        let current = live.iter().find(|l| l.path == path);
        if current.is_some_and(|l| l.content == text) {
            report.unchanged += 1;
            continue;
        }
        let meta = entry_meta(text);
        changes.push(NewRevision {
            path: path.to_string(),
            entry_id: meta.as_ref().map(|(id, _)| id.clone()),
            service: meta.map(|(_, s)| s),
            content: Some(text.to_string()),
            origin: Origin::Import,
            author: by.name.to_string(),
            author_staff: by.staff,
            base: current.map(|l| l.revision),
            comment: None,
            answer_sha256: answer_hash(path, text),
        });
        if current.is_some() {
            report.changed.push(path.to_string());
        } else {
            report.created.push(path.to_string());
        }
    }
    for gone in live.iter().filter(|l| files.get(&l.path).is_none()) {
        changes.push(NewRevision {
            path: gone.path.clone(),
            entry_id: gone.entry_id.clone(),
            service: entry_meta(&gone.content).map(|(_, s)| s),
            content: None,
            origin: Origin::Import,
            author: by.name.to_string(),
            author_staff: by.staff,
            base: Some(gone.revision),
            comment: None,
            answer_sha256: None,
        });
        report.withdrawn.push(gone.path.clone());
    }
    report.version = if changes.is_empty() {
        store.kb_version()?
    } else {
        store.kb_apply(&changes, by, now)?
    };
    Ok(report)
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    pub written: usize,
    /// Entry files of the folder that are no longer in the knowledge base, removed.
    pub removed: Vec<String>,
    pub version: i64,
}

/// Writes the live knowledge base into `dir` in the corpus format, byte for byte as it was
/// imported or validated; entry files of `dir` that are not live any more are removed (a
/// folder kept in git then shows the withdrawal), nothing else is touched.
pub fn export(store: &dyn Store, dir: &Path) -> Result<ExportReport, KbError> {
    let (files, version) = live_files(store)?;
    if files.is_empty() {
        return Err(KbError::NotFound(
            "la base de connaissances est vide : importez d'abord un corpus (guichet corpus import DOSSIER)"
                .into(),
        ));
    }
    files.write_to(dir)?;
    let mut removed = Vec::new();
    if dir.join("entries").is_dir() {
        let present = Files::read_dir(dir)?;
        for (path, _) in present.iter() {
            if path.starts_with("entries/") && files.get(path).is_none() {
                let full = dir.join(path);
                std::fs::remove_file(&full).map_err(|source| CorpusError::Io {
                    path: full.clone(),
                    source,
                })?;
                removed.push(path.to_string());
            }
        }
    }
    Ok(ExportReport {
        written: files.len(),
        removed,
        version,
    })
}

fn answer_hash(path: &str, text: &str) -> Option<String> {
    path.starts_with("entries/")
        .then(|| corpus::stamp::body_sha256(text))
        .flatten()
}

/// A proposal an editor writes: the full text of one file of the corpus format.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The file: `entries/SERVICE/ID.md` (new or live), or a global file.
    pub path: String,
    pub text: String,
    /// What the editor says about it.
    pub comment: Option<String>,
    pub origin: Origin,
}

/// The service a file belongs to: an entry's, or none for the global files (which only
/// an administrator changes).
fn service_of(path: &str, text: Option<&str>) -> Option<String> {
    if let Some((_, service)) = text.and_then(entry_meta) {
        return Some(service);
    }
    path.strip_prefix("entries/")
        .and_then(|rest| rest.split('/').next())
        .map(str::to_string)
}

fn check_path(path: &str) -> Result<(), KbError> {
    let ok = GLOBAL_FILES.contains(&path)
        || (path.starts_with("entries/")
            && path.ends_with(".md")
            && !path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.')));
    if ok {
        Ok(())
    } else {
        Err(KbError::Refused(format!(
            "{path} n'est pas un fichier de la base (entries/SERVICE/ID.md, ou un fichier global)"
        )))
    }
}

/// Whether `account` may do `action` for `service`: the role, and the service among the
/// account's.
pub fn may_for(account: &Account, action: Action, service: &str) -> bool {
    account.may(action) && account.services.iter().any(|s| s == service)
}

fn forbidden(what: &str, service: &str) -> KbError {
    KbError::Forbidden(format!(
        "{what} est réservé aux comptes du service {service} qui en ont le rôle"
    ))
}

/// The problems that would refuse `files` with `path` replaced by `text`, and what
/// `check` reports about that file alone (shown to the editor).
fn check_with(
    files: &Files,
    path: &str,
    text: Option<&str>,
    today: NaiveDate,
) -> Result<Vec<Problem>, KbError> {
    let mut next = files.clone();
    match text {
        Some(t) => next.insert(path, t.to_string()),
        None => {
            next.remove(path);
        }
    }
    match corpus::load_files_checked(&next, today) {
        Ok((_, problems)) => Ok(problems),
        Err(CorpusError::Invalid(problems)) => Err(KbError::Invalid(problems)),
        Err(e) => Err(e.into()),
    }
}

/// Records an editor's proposal as a draft (never served): refused unless the account is
/// an editor of the entry's service (of the service it had, and of the one it gets), and
/// unless the text, once validated, would pass every check with the rest of the base.
pub fn propose(
    store: &dyn Store,
    account: &Account,
    draft: &Draft,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<i64, KbError> {
    check_path(&draft.path)?;
    if draft.text.trim().is_empty() {
        return Err(KbError::Refused("le texte proposé est vide".into()));
    }
    let (files, _) = live_files(store)?;
    let live_text = files.get(&draft.path);
    let service = service_of(&draft.path, Some(&draft.text));
    let Some(service) = service else {
        return Err(KbError::Forbidden(
            "les fichiers globaux (services, messages, glossaire) se changent par un administrateur"
                .into(),
        ));
    };
    if !may_for(account, Action::ProposeKnowledge, &service) {
        return Err(forbidden("proposer une fiche", &service));
    }
    if let Some(old) = live_text.and_then(|t| service_of(&draft.path, Some(t)))
        && !may_for(account, Action::ProposeKnowledge, &old)
    {
        return Err(forbidden("proposer une fiche", &old));
    }
    if live_text == Some(draft.text.as_str()) {
        return Err(KbError::Refused(
            "la proposition est identique à la version en ligne".into(),
        ));
    }
    // Checked as it would be validated: a proposal nobody could validate is refused now,
    // with the problems, rather than later.
    let stamped = stamp_for(&files, &draft.path, live_text, &draft.text, &service, today)?;
    check_with(&files, &draft.path, Some(&stamped.0), today)?;
    let id = store.kb_propose(
        &NewRevision {
            path: draft.path.clone(),
            entry_id: entry_meta(&draft.text).map(|(id, _)| id),
            service: Some(service),
            content: Some(draft.text.clone()),
            origin: draft.origin,
            author: account.name.clone(),
            author_staff: Some(account.id),
            base: store.kb_live_revision(&draft.path)?,
            comment: draft.comment.clone().filter(|c| !c.trim().is_empty()),
            answer_sha256: None,
        },
        now,
    )?;
    Ok(id)
}

/// The text of a proposal as a validator of `service` would stamp it: the French answer,
/// the variants the proposal wrote, the status it asks for (a withdrawal keeps
/// `withdrawn`, anything else becomes `validated`).
fn stamp_for(
    files: &Files,
    path: &str,
    base: Option<&str>,
    text: &str,
    service: &str,
    today: NaiveDate,
) -> Result<(String, Option<String>), KbError> {
    if !path.starts_with("entries/") {
        return Ok((text.to_string(), None));
    }
    // Only the services are needed to stamp; the whole base is checked after, once.
    let services = files
        .get("services.toml")
        .ok_or_else(|| KbError::Refused("la base n'a pas de services.toml".into()))
        .and_then(|text| {
            corpus::Services::parse(&files.path_of("services.toml"), text).map_err(KbError::Invalid)
        })?;
    let by = services
        .get(service)
        .map(|s| s.name.clone())
        .ok_or_else(|| KbError::Refused(format!("le service {service} n'existe pas")))?;
    let (easy_read, variants) = changed_variants(base, text);
    let withdrawn = corpus::stamp::entry_status(text) == Some(Status::Withdrawn);
    let request = StampRequest {
        by: &by,
        today,
        variants: &variants,
        easy_read,
        status: Some(if withdrawn {
            Status::Withdrawn
        } else {
            Status::Validated
        }),
    };
    match stamp_text(&files.path_of(path), text, &services, &request) {
        Ok((out, stamped)) => Ok((out, Some(stamped.answer_sha256))),
        Err(corpus::stamp::StampError::Refused(p)) => Err(KbError::Invalid(p)),
        Err(e) => Err(KbError::Refused(e.to_string())),
    }
}

/// A validator of the proposal's service validates it: stamped (the service's name, the
/// date, the answer's hash, the variants it changed), checked with the whole base, and
/// live at once in the store (every replica picks the new version up). Refused for an
/// editor's own proposal unless an administrator allowed it for that service, and when
/// the live file changed since the proposal was written.
pub fn validate(
    store: &dyn Store,
    account: &Account,
    id: i64,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<i64, KbError> {
    let draft = pending(store, id)?;
    let service = draft.service.clone().unwrap_or_default();
    if !may_for(account, Action::ValidateKnowledge, &service) {
        return Err(forbidden("valider une fiche", &service));
    }
    if draft.author_staff == Some(account.id) && !store.kb_self_validation(&service)? {
        return Err(KbError::Forbidden(
            "vous ne pouvez pas valider votre propre proposition : un autre validateur du service doit le faire"
                .into(),
        ));
    }
    let (files, _) = live_files(store)?;
    let live = store.kb_live_revision(&draft.path)?;
    if live != draft.base {
        return Err(KbError::Refused(
            "la fiche a changé depuis cette proposition : renvoyez-la pour qu'elle soit reprise sur la version en ligne"
                .into(),
        ));
    }
    let (text, hash) = match &draft.content {
        Some(text) => {
            let (out, hash) = stamp_for(
                &files,
                &draft.path,
                files.get(&draft.path),
                text,
                &service,
                today,
            )?;
            (Some(out), hash)
        }
        None => (None, None),
    };
    check_with(&files, &draft.path, text.as_deref(), today)?;
    let version = store.kb_validate(
        id,
        text.as_deref(),
        hash.as_deref(),
        &Decider {
            name: &account.name,
            staff: Some(account.id),
        },
        now,
    )?;
    Ok(version)
}

/// A validator of the service sends a proposal back to its author with a comment.
pub fn send_back(
    store: &dyn Store,
    account: &Account,
    id: i64,
    comment: &str,
    now: DateTime<Utc>,
) -> Result<(), KbError> {
    let draft = pending(store, id)?;
    let service = draft.service.unwrap_or_default();
    if !may_for(account, Action::ValidateKnowledge, &service) {
        return Err(forbidden("renvoyer une proposition", &service));
    }
    if comment.trim().is_empty() {
        return Err(KbError::Refused(
            "dites à l'auteur ce qu'il faut reprendre".into(),
        ));
    }
    store.kb_close_draft(
        id,
        RevisionStatus::SentBack,
        Some(comment.trim()),
        &Decider {
            name: &account.name,
            staff: Some(account.id),
        },
        now,
    )?;
    Ok(())
}

/// The author gives up a proposal.
pub fn cancel(
    store: &dyn Store,
    account: &Account,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), KbError> {
    let draft = pending(store, id)?;
    if draft.author_staff != Some(account.id) {
        return Err(KbError::Forbidden(
            "seul l'auteur d'une proposition peut l'abandonner".into(),
        ));
    }
    store.kb_close_draft(
        id,
        RevisionStatus::Cancelled,
        None,
        &Decider {
            name: &account.name,
            staff: Some(account.id),
        },
        now,
    )?;
    Ok(())
}

/// An earlier validated revision proposed again (a draft, validated like any other).
pub fn restore(
    store: &dyn Store,
    account: &Account,
    revision: i64,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<i64, KbError> {
    let old = store
        .kb_revision(revision)?
        .ok_or_else(|| KbError::NotFound("version introuvable".into()))?;
    if old.status != RevisionStatus::Validated {
        return Err(KbError::Refused(
            "seule une version validée peut être reprise".into(),
        ));
    }
    let Some(text) = old.content else {
        return Err(KbError::Refused(
            "cette version retirait la fiche : proposez la fiche de nouveau".into(),
        ));
    };
    propose(
        store,
        account,
        &Draft {
            path: old.path,
            text,
            comment: Some(format!("reprise de la version n° {revision}")),
            origin: Origin::Restore,
        },
        today,
        now,
    )
}

fn pending(store: &dyn Store, id: i64) -> Result<Revision, KbError> {
    let draft = store
        .kb_revision(id)?
        .ok_or_else(|| KbError::NotFound("proposition introuvable".into()))?;
    if draft.status != RevisionStatus::Draft {
        return Err(KbError::Refused(
            "cette proposition a déjà été traitée".into(),
        ));
    }
    Ok(draft)
}

/// One piece of a word diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffPart {
    pub change: Change,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Same,
    Added,
    Removed,
}

/// Words added and removed from `old` to `new` (whitespace kept with its word), for a
/// validator who reads what a proposal changes.
pub fn diff_words(old: &str, new: &str) -> Vec<DiffPart> {
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Patience)
        .diff_words(old, new);
    let mut parts: Vec<DiffPart> = Vec::new();
    for op in diff.iter_all_changes() {
        let change = match op.tag() {
            similar::ChangeTag::Equal => Change::Same,
            similar::ChangeTag::Insert => Change::Added,
            similar::ChangeTag::Delete => Change::Removed,
        };
        match parts.last_mut() {
            Some(last) if last.change == change => last.text.push_str(op.value()),
            _ => parts.push(DiffPart {
                change,
                text: op.value().to_string(),
            }),
        }
    }
    parts
}

/// The warnings and errors among `problems`, for a page that shows them.
pub fn serious(problems: &[Problem]) -> impl Iterator<Item = &Problem> {
    problems.iter().filter(|p| p.severity >= Severity::Warning)
}

/// An administrator changes a global file (a service's contacts and hours in
/// `services.toml`): checked with the whole base, then live at once, recorded as a
/// validated revision by that administrator. The new version.
pub fn admin_change(
    store: &dyn Store,
    account: &Account,
    path: &str,
    text: &str,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<i64, KbError> {
    if !account.may(Action::ManageStaff) {
        return Err(KbError::Forbidden(
            "les fichiers globaux se changent par un administrateur".into(),
        ));
    }
    if !GLOBAL_FILES.contains(&path) {
        return Err(KbError::Refused(format!(
            "{path} n'est pas un fichier global"
        )));
    }
    let (files, _) = live_files(store)?;
    if files.is_empty() {
        return Err(KbError::NotFound(
            "la base de connaissances est vide : importez d'abord un corpus".into(),
        ));
    }
    check_with(&files, path, Some(text), today)?;
    let version = store.kb_apply(
        &[NewRevision {
            path: path.to_string(),
            entry_id: None,
            service: None,
            content: Some(text.to_string()),
            origin: Origin::Admin,
            author: account.name.clone(),
            author_staff: Some(account.id),
            base: store.kb_live_revision(path)?,
            comment: None,
            answer_sha256: None,
        }],
        &Decider {
            name: &account.name,
            staff: Some(account.id),
        },
        now,
    )?;
    Ok(version)
}
