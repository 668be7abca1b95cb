//! Corpus lint for `guichet check --report`: what the services should look at before a
//! person notices. Review dates, drafts and hash mismatches come from `corpus::check`;
//! services without contacts and confusable entries (questions whose meanings are close
//! enough to take each other's traffic) are found here.

use std::fmt::Write as _;
use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;

use crate::corpus::{self, CorpusError, Kind, Problem, Severity};
use crate::embedder::{Embedding, TextKind};
use crate::engine::{Engine, EngineError};

/// Two entries' questions above this cosine (e5-small, queries) are reported as confusable.
pub const DEFAULT_CONFUSABLE: f32 = 0.95;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfusableEntries {
    pub a: String,
    pub b: String,
    pub cosine: f32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LintReport {
    /// Not served until reviewed.
    pub review_passed: Vec<Problem>,
    /// Within 30 days of `review_by`.
    pub review_near: Vec<Problem>,
    pub drafts: Vec<Problem>,
    /// Texts changed since they were validated.
    pub hash_mismatches: Vec<Problem>,
    /// Every other error or warning.
    pub other: Vec<Problem>,
    /// Service keys with no phone or no email: a hand-off to them reaches less people.
    pub services_without_contacts: Vec<String>,
    pub confusable: Vec<ConfusableEntries>,
    /// Entries no one was answered with in the last `days` (from the store, when there
    /// is one): candidates for better phrasings, or for withdrawal.
    pub never_served: Option<NeverServed>,
    /// None when the corpus cannot be loaded at all.
    pub servable: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NeverServed {
    pub days: u32,
    pub entries: Vec<String>,
}

/// The ids of the corpus's entries that are not among `answered` (entry ids served).
pub fn never_served<'a>(
    corpus: &corpus::Corpus,
    answered: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let served: std::collections::BTreeSet<&str> = answered.into_iter().collect();
    corpus
        .entries()
        .iter()
        .map(|e| e.id.to_string())
        .filter(|id| !served.contains(id.as_str()))
        .collect()
}

/// Sorts `corpus::check`'s problems into the report's sections by their kind; anything
/// else lands in `other`.
pub fn lint(dir: &Path, today: NaiveDate) -> Result<LintReport, CorpusError> {
    Ok(lint_files(&corpus::Files::read_dir(dir)?, today))
}

/// [`lint`] on a corpus given as its files (the store's knowledge base).
pub fn lint_files(files: &corpus::Files, today: NaiveDate) -> LintReport {
    let mut report = LintReport::default();
    for p in corpus::check_files(files, today) {
        let section = match p.kind {
            Kind::ReviewPassed => &mut report.review_passed,
            Kind::ReviewNear => &mut report.review_near,
            Kind::NotServed => &mut report.drafts,
            Kind::Changed | Kind::StaleVariant => &mut report.hash_mismatches,
            _ if p.severity >= Severity::Warning => &mut report.other,
            _ => continue,
        };
        section.push(p);
    }
    if let Ok((c, _)) = corpus::load_files(files, today) {
        report.servable = Some(c.entries().len());
        report.services_without_contacts = c
            .services()
            .iter()
            .filter(|s| s.phone.is_none() || s.email.is_none())
            .map(|s| s.key.clone())
            .collect();
    }
    report
}

/// Pairs of entries whose questions embed within `threshold` of each other, closest first.
pub fn confusable_entries(
    engine: &Engine,
    threshold: f32,
) -> Result<Vec<ConfusableEntries>, EngineError> {
    let entries = engine.corpus().entries();
    let vectors: Vec<Embedding> = entries
        .iter()
        .map(|e| engine.embedder().embed(&e.question, TextKind::Query))
        .collect::<Result<_, _>>()?;
    let mut pairs = Vec::new();
    for i in 0..entries.len() {
        for j in (i + 1)..entries.len() {
            let cosine = vectors[i].dot(&vectors[j]);
            if cosine >= threshold {
                pairs.push(ConfusableEntries {
                    a: entries[i].id.to_string(),
                    b: entries[j].id.to_string(),
                    cosine,
                });
            }
        }
    }
    pairs.sort_by(|x, y| y.cosine.total_cmp(&x.cosine));
    Ok(pairs)
}

impl LintReport {
    /// A report for people: one section per kind of problem, empty sections say so.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut section = |title: &str, items: &[Problem]| {
            let _ = writeln!(out, "## {title} ({})", items.len());
            for p in items {
                let _ = writeln!(out, "  {p}");
            }
            out.push('\n');
        };
        section("Review date passed (not served)", &self.review_passed);
        section("Review due within 30 days", &self.review_near);
        section("Drafts (not served)", &self.drafts);
        section(
            "Changed since validated (not served)",
            &self.hash_mismatches,
        );
        section("Other problems", &self.other);
        let _ = writeln!(
            out,
            "## Services without phone or email ({})",
            self.services_without_contacts.len()
        );
        for s in &self.services_without_contacts {
            let _ = writeln!(out, "  {s}");
        }
        out.push('\n');
        let _ = writeln!(out, "## Confusable entries ({})", self.confusable.len());
        for c in &self.confusable {
            let _ = writeln!(out, "  {} <-> {}  cosine {:.3}", c.a, c.b, c.cosine);
        }
        out.push('\n');
        if let Some(n) = &self.never_served {
            let _ = writeln!(
                out,
                "## Never served in the last {} days ({})",
                n.days,
                n.entries.len()
            );
            for id in &n.entries {
                let _ = writeln!(out, "  {id}");
            }
            out.push('\n');
        }
        match self.servable {
            Some(n) => {
                let _ = writeln!(out, "{n} entries servable");
            }
            None => out.push_str("corpus not loadable\n"),
        }
        out
    }
}
