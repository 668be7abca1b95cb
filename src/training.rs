//! The training loop: the questions residents asked that were not answered (hand-offs and
//! did-you-means nobody picked from, redacted as stored), grouped by meaning with the gap
//! mining of [`crate::coverage::gaps`], each group given to a service; an editor of that
//! service attaches its questions to an entry (a proposal adding them to `alternates`),
//! drafts a new entry from them, or dismisses them as out of scope. Every decision is a
//! label in the store (question -> entry, or -> hand-off), which `guichet calibrate
//! --from-store` fits the decision policy on.
//!
//! Proposals go through [`crate::kb::propose`] (roles, services, every corpus check), so a
//! draft made here is validated like any other before anything is served. The questions
//! an action names must be among those the page shows the account: the server mines the
//! groups again rather than trusting the form.

use std::collections::BTreeSet;

use chrono::{DateTime, Months, NaiveDate, Utc};

use crate::corpus::entry_edit::{EditError, EntryEdit, NewEntry, edit_entry, id_from, new_entry};
use crate::corpus::{self, CorpusError, Problem, Severity};
use crate::coverage::gaps::{self, Asked, Gap, Member};
use crate::engine::{Engine, EngineError};
use crate::kb::{self, Draft, KbError};
use crate::staff::{Account, Action};
use crate::store::{Label, LabelDecision, NewLabel, Origin, Store, StoreError};
use crate::text::fold;

/// Nearest entries offered for a group (an editor may also search by words).
pub const NEAREST: usize = 5;
/// Leading candidates of a group's central question that must share a service for the
/// group to go to it when the gap mining could not tell (the rule the engine uses to route
/// a hand-off: that is the service the ticket went to).
const AGREEING: usize = 3;
/// How long a new entry drafted from residents' questions may be served before its review.
const REVIEW_MONTHS: u32 = 12;

#[derive(Debug, thiserror::Error)]
pub enum TrainingError {
    #[error(transparent)]
    Kb(#[from] KbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error("la fiche ne se lit pas : {0}")]
    Edit(#[from] EditError),
    /// The account may not do it (checked on the server).
    #[error("{0}")]
    Forbidden(String),
    /// The request itself is wrong; nothing was changed.
    #[error("{0}")]
    Refused(String),
}

/// Why a group was given to its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The gap mining placed most of its central questions there (answered or offered a
    /// "did you mean" in that service): `agree` of `of`.
    Placed { agree: usize, of: usize },
    /// Handed off to that service: the leading entries of its central question all
    /// belong to it.
    HandedOff,
    /// Neither: "Sans service".
    Unknown,
}

/// An entry offered to attach a group to.
#[derive(Debug, Clone, PartialEq)]
pub struct Near {
    pub id: String,
    pub question: String,
    pub service: String,
    pub score: f32,
}

/// One group of unanswered questions, as the training page shows it.
#[derive(Debug, Clone)]
pub struct Group {
    pub gap: Gap,
    /// Every distinct question not labelled yet, most central first.
    pub questions: Vec<Member>,
    pub service: Option<String>,
    pub basis: Basis,
    /// The entries nearest its central question, best first.
    pub nearest: Vec<Near>,
}

impl Group {
    /// Whether `account` sees it: an editor or validator of its service, or of any
    /// service when it has none.
    pub fn visible_to(&self, account: &Account) -> bool {
        (account.may(Action::ProposeKnowledge) || account.may(Action::ValidateKnowledge))
            && self
                .service
                .as_ref()
                .is_none_or(|s| account.services.contains(s))
    }
}

/// The unanswered questions grouped by meaning, less those already labelled, each group
/// with its service and nearest entries; largest first.
pub fn groups(
    engine: &Engine,
    asked: &[Asked],
    labels: &[Label],
    threshold: f32,
) -> Result<Vec<Group>, EngineError> {
    let labelled: BTreeSet<String> = labels.iter().map(|l| fold(&l.question)).collect();
    let open: Vec<Asked> = asked
        .iter()
        .filter(|a| !labelled.contains(&fold(&a.text)))
        .cloned()
        .collect();
    let mut out = Vec::new();
    for (gap, questions) in gaps::mine_members(engine, &open, threshold)? {
        let Some(central) = questions.first() else {
            continue;
        };
        let candidates = engine.retrieve(&central.text)?;
        let corpus = engine.corpus();
        let nearest = candidates
            .iter()
            .take(NEAREST)
            .map(|c| {
                let e = corpus.entry(c.entry);
                Near {
                    id: e.id.to_string(),
                    question: e.question.clone(),
                    service: e.service.clone(),
                    score: c.score,
                }
            })
            .collect();
        let (service, basis) = match &gap.service {
            Some(s) => (
                Some(s.clone()),
                Basis::Placed {
                    agree: gap.evidence.agree,
                    of: gap.evidence.of,
                },
            ),
            None => {
                let mut top = candidates
                    .iter()
                    .take(AGREEING)
                    .map(|c| &corpus.entry(c.entry).service);
                match top.next() {
                    Some(first) if candidates.len() >= AGREEING && top.all(|s| s == first) => {
                        (Some(first.clone()), Basis::HandedOff)
                    }
                    _ => (None, Basis::Unknown),
                }
            }
        };
        out.push(Group {
            gap,
            questions,
            service,
            basis,
            nearest,
        });
    }
    Ok(out)
}

/// The group that holds every one of `questions`, if `account` sees it: the questions an
/// action may name (refused otherwise, nothing changed). Returns the group and the
/// questions as stored.
pub fn chosen<'a>(
    groups: &'a [Group],
    account: &Account,
    questions: &[String],
) -> Result<(&'a Group, Vec<String>), TrainingError> {
    let wanted: Vec<String> = questions
        .iter()
        .map(|q| fold(q))
        .filter(|q| !q.is_empty())
        .collect();
    if wanted.is_empty() {
        return Err(TrainingError::Refused(
            "cochez au moins une question du groupe".into(),
        ));
    }
    let group = groups
        .iter()
        .find(|g| g.questions.iter().any(|m| fold(&m.text) == wanted[0]))
        .ok_or_else(|| {
            TrainingError::Refused(
                "ces questions ne sont plus à traiter (déjà rattachées, écartées, ou trop anciennes) : rechargez la page"
                    .into(),
            )
        })?;
    if !group.visible_to(account) {
        return Err(TrainingError::Forbidden(format!(
            "ces questions sont confiées au service {} : seuls ses éditeurs les traitent",
            group.service.as_deref().unwrap_or("?")
        )));
    }
    let mut stored = Vec::new();
    for w in &wanted {
        let m = group
            .questions
            .iter()
            .find(|m| fold(&m.text) == *w)
            .ok_or_else(|| {
                TrainingError::Refused(
                    "les questions cochées ne sont pas toutes du même groupe : traitez un groupe à la fois"
                        .into(),
                )
            })?;
        if !stored.contains(&m.text) {
            stored.push(m.text.clone());
        }
    }
    Ok((group, stored))
}

/// What an attach or a create did: the draft and what the corpus check says about it.
#[derive(Debug, Clone)]
pub struct Proposed {
    pub revision: i64,
    pub entry_id: String,
    pub path: String,
    /// Warnings about the entry's file (too many alternates, answer length...): shown to
    /// the editor, the draft is recorded anyway.
    pub warnings: Vec<Problem>,
}

fn editor_of(account: &Account, service: &str) -> Result<(), TrainingError> {
    if kb::may_for(account, Action::ProposeKnowledge, service) {
        Ok(())
    } else {
        Err(TrainingError::Forbidden(format!(
            "seuls les éditeurs du service {service} proposent ses fiches"
        )))
    }
}

/// The warnings the checks give on `path` once `text` replaces it.
fn warnings_for(
    files: &corpus::Files,
    path: &str,
    text: &str,
    today: NaiveDate,
) -> Result<Vec<Problem>, TrainingError> {
    let mut next = files.clone();
    next.insert(path, text.to_string());
    let file = next.path_of(path);
    let problems = match corpus::load_files_checked(&next, today) {
        Ok((_, problems)) => problems,
        Err(CorpusError::Invalid(problems)) => problems,
        Err(e) => return Err(e.into()),
    };
    Ok(problems
        .into_iter()
        .filter(|p| p.file == file && p.severity >= Severity::Warning)
        .collect())
}

/// One label per question, as `template` says (its question and language set per
/// question).
fn label_all(
    store: &dyn Store,
    template: &NewLabel,
    questions: &[String],
    now: DateTime<Utc>,
) -> Result<(), TrainingError> {
    for q in questions {
        store.kb_add_label(
            &NewLabel {
                // Stored texts are redacted already; once more costs nothing and keeps a
                // label from ever holding what a turn would not.
                question: crate::privacy::Redacted::new(q).as_str().to_string(),
                lang: Some(crate::text::detect_lang(q, corpus::PRIMARY_LANG)),
                ..template.clone()
            },
            now,
        )?;
    }
    Ok(())
}

fn label(
    account: &Account,
    entry_id: Option<&str>,
    decision: LabelDecision,
    service: Option<&str>,
    revision: Option<i64>,
) -> NewLabel {
    NewLabel {
        question: String::new(),
        lang: None,
        entry_id: entry_id.map(str::to_string),
        decision,
        service: service.map(str::to_string),
        staff: Some(account.id),
        revision,
    }
}

/// Attaches `questions` as alternates of the live entry `entry_id`: a proposal (a draft,
/// validated like any other) and one label per question pointing at it.
pub fn attach(
    store: &dyn Store,
    account: &Account,
    entry_id: &str,
    questions: &[String],
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Proposed, TrainingError> {
    let loaded = kb::load(store, today)?;
    let entry = loaded
        .corpus
        .index_of(entry_id)
        .map(|i| loaded.corpus.entry(i))
        .ok_or_else(|| TrainingError::Refused(format!("la fiche {entry_id} n'est pas en ligne")))?;
    editor_of(account, &entry.service)?;
    let path = store
        .kb_entry_path(entry_id)?
        .ok_or_else(|| TrainingError::Refused(format!("la fiche {entry_id} n'est pas en ligne")))?;
    let (files, _) = kb::live_files(store)?;
    let live = files
        .get(&path)
        .ok_or_else(|| TrainingError::Refused(format!("la fiche {entry_id} n'est pas en ligne")))?;
    let mut alternates = entry.alternates.clone();
    let mut known: BTreeSet<String> = alternates.iter().map(|a| fold(a)).collect();
    known.insert(fold(&entry.question));
    let mut added = 0;
    for q in questions {
        if known.insert(fold(q)) {
            alternates.push(q.trim().to_string());
            added += 1;
        }
    }
    if added == 0 {
        return Err(TrainingError::Refused(
            "ces questions sont déjà des formulations de la fiche".into(),
        ));
    }
    let text = edit_entry(
        live,
        &EntryEdit {
            alternates: Some(alternates),
            ..EntryEdit::default()
        },
    )?;
    let warnings = warnings_for(&files, &path, &text, today)?;
    let revision = kb::propose(
        store,
        account,
        &Draft {
            path: path.clone(),
            text,
            comment: Some(format!(
                "{added} question(s) de résidents sans réponse rattachée(s) à la fiche"
            )),
            origin: Origin::Proposal,
        },
        today,
        now,
    )?;
    label_all(
        store,
        &label(
            account,
            Some(entry_id),
            LabelDecision::Attach,
            Some(&entry.service),
            Some(revision),
        ),
        questions,
        now,
    )?;
    Ok(Proposed {
        revision,
        entry_id: entry_id.to_string(),
        path,
        warnings,
    })
}

/// What an editor writes to draft a new entry from a group.
#[derive(Debug, Clone)]
pub struct Creation<'a> {
    pub service: &'a str,
    /// The entry's question (the group's first question, as the editor reworded it).
    pub question: &'a str,
    pub answer: &'a str,
    /// The residents' questions: every one but the question becomes an alternate.
    pub questions: &'a [String],
}

/// Drafts a new entry for `service` from residents' questions: a proposal and one label
/// per question pointing at it.
pub fn create(
    store: &dyn Store,
    account: &Account,
    c: &Creation<'_>,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Proposed, TrainingError> {
    editor_of(account, c.service)?;
    let question = c.question.trim();
    if question.is_empty() {
        return Err(TrainingError::Refused(
            "écrivez la question de la fiche".into(),
        ));
    }
    if c.answer.trim().is_empty() {
        return Err(TrainingError::Refused(
            "écrivez la réponse : c'est elle qui sera validée puis servie mot pour mot".into(),
        ));
    }
    let base = id_from(question);
    let mut id = base.clone();
    let mut n = 2;
    while store.kb_entry_path(&id)?.is_some() {
        id = format!("{base}-{n}");
        n += 1;
    }
    let alternates: Vec<String> = c
        .questions
        .iter()
        .filter(|q| fold(q) != fold(question))
        .cloned()
        .collect();
    let (path, text) = new_entry(&NewEntry {
        id: id.clone(),
        service: c.service.to_string(),
        question: question.to_string(),
        answer: c.answer.to_string(),
        alternates,
        tags: Vec::new(),
        url: None,
        review_by: today
            .checked_add_months(Months::new(REVIEW_MONTHS))
            .unwrap_or(today),
    });
    let (files, _) = kb::live_files(store)?;
    let warnings = warnings_for(&files, &path, &text, today)?;
    let revision = kb::propose(
        store,
        account,
        &Draft {
            path: path.clone(),
            text,
            comment: Some(format!(
                "nouvelle fiche à partir de {} question(s) de résidents sans réponse",
                c.questions.len()
            )),
            origin: Origin::Proposal,
        },
        today,
        now,
    )?;
    label_all(
        store,
        &label(
            account,
            Some(&id),
            LabelDecision::Create,
            Some(c.service),
            Some(revision),
        ),
        c.questions,
        now,
    )?;
    Ok(Proposed {
        revision,
        entry_id: id,
        path,
        warnings,
    })
}

/// Dismisses `questions` as out of scope (for a person): labels only, nothing proposed.
/// `service` is the group's (an editor of any service dismisses a group without one).
pub fn dismiss(
    store: &dyn Store,
    account: &Account,
    service: Option<&str>,
    questions: &[String],
    now: DateTime<Utc>,
) -> Result<usize, TrainingError> {
    match service {
        Some(s) => editor_of(account, s)?,
        None if account.may(Action::ProposeKnowledge) => {}
        None => {
            return Err(TrainingError::Forbidden(
                "écarter des questions est réservé aux éditeurs".into(),
            ));
        }
    }
    label_all(
        store,
        &label(account, None, LabelDecision::Dismiss, service, None),
        questions,
        now,
    )?;
    Ok(questions.len())
}
