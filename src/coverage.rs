//! Coverage: probing the engine with batches of questions and expectations (an entry id
//! or a hand-off), summarising what passed, and the self-test (every stored phrasing must
//! find its own entry). Synchronous and framework-free; `http/coverage.rs` and `cli` call it.
//! Probes are never recorded as traffic: nothing here touches the store.

pub mod gaps;
pub mod lint;
pub mod render;
pub mod report;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::{AskContext, Engine, EngineError, Question, QuestionError, ScoredEntry};
use crate::privacy::Redacted;
use crate::reply::Outcome;
use crate::retrieval::match_texts;

/// Most items in one batch.
pub const MAX_BATCH: usize = 1000;
/// Candidates kept per probe result.
const TOP_CANDIDATES: usize = 3;

/// What a probe expects: a given entry to be served, or a hand-off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
pub enum Expect {
    Entry(String),
    Handoff,
}

impl From<String> for Expect {
    fn from(raw: String) -> Self {
        let t = raw.trim();
        if t == "handoff" {
            Self::Handoff
        } else {
            Self::Entry(t.to_string())
        }
    }
}

impl From<Expect> for String {
    fn from(e: Expect) -> Self {
        match e {
            Expect::Entry(id) => id,
            Expect::Handoff => "handoff".into(),
        }
    }
}

/// One question to try, with what should happen.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub question: String,
    #[serde(default)]
    pub expect: Option<Expect>,
}

#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    #[error("a batch has at most {MAX_BATCH} items, this one has {0}")]
    TooMany(usize),
    #[error("item {index}: {source}")]
    Question {
        index: usize,
        #[source]
        source: QuestionError,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What the engine did with one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    pub question: String,
    pub expect: Option<Expect>,
    pub outcome: Outcome,
    /// The entry served (answers only).
    pub entry: Option<String>,
    /// The entries offered (clarifications only).
    pub options: Vec<String>,
    pub confidence: f32,
    pub margin: f32,
    pub candidates: Vec<ScoredEntry>,
    /// Whether the expectation was met; `None` without an expectation.
    pub passed: Option<bool>,
    /// What kind of pass or failure it is; `None` without an expectation.
    pub verdict: Option<Verdict>,
}

/// How a probe with an expectation fared. Serialised in snake_case: these are the stable
/// values of the API's `verdict` field and of the CSV's `verdict` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Answered with another entry than expected: a person would have read it.
    WrongAnswer,
    /// A hand-off was expected and an entry answered: most often an entry written since
    /// the probe was, so the expectation is out of date (to check, then update).
    ExpectationToUpdate,
    /// An entry was expected and the person got a "did you mean" or a hand-off.
    NotAnswered,
    /// An entry was expected that the knowledge base does not serve (absent, draft,
    /// past its review date).
    UnknownEntry,
    /// A hand-off was expected and the person got a "did you mean".
    ClarifiedInstead,
    Pass,
}

impl Verdict {
    pub fn passed(self) -> bool {
        self == Self::Pass
    }

    /// The serialised value (the API's and the CSV's).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WrongAnswer => "wrong_answer",
            Self::ExpectationToUpdate => "expectation_to_update",
            Self::NotAnswered => "not_answered",
            Self::UnknownEntry => "unknown_entry",
            Self::ClarifiedInstead => "clarified_instead",
            Self::Pass => "pass",
        }
    }

    /// In French, for the HTML page.
    pub fn label(self) -> &'static str {
        match self {
            Self::WrongAnswer => "mauvaise réponse",
            Self::ExpectationToUpdate => "attendu à mettre à jour",
            Self::NotAnswered => "non répondu",
            Self::UnknownEntry => "entrée attendue introuvable",
            Self::ClarifiedInstead => "précision au lieu d'un transfert",
            Self::Pass => "réussi",
        }
    }

    /// What a failure tells the person who maintains the probes or the entries to do, in
    /// French (their language), for `r`.
    pub fn action(self, r: &ProbeResult) -> String {
        let expected = match &r.expect {
            Some(Expect::Entry(id)) => id.as_str(),
            _ => "",
        };
        let served = r.entry.as_deref().unwrap_or_default();
        match self {
            Self::Pass => String::new(),
            Self::WrongAnswer => format!(
                "Ajouter cette formulation aux alternates de « {expected} », ou préciser « {served} » qui l'a prise."
            ),
            Self::ExpectationToUpdate => format!(
                "Mettre à jour l'attendu (handoff → {served}) si « {served} » répond bien à la question ; sinon, c'est une mauvaise réponse : préciser « {served} »."
            ),
            Self::NotAnswered => {
                format!("Ajouter cette formulation aux alternates de « {expected} ».")
            }
            Self::UnknownEntry => format!(
                "Écrire (ou valider) l'entrée « {expected} » : elle n'est pas servie aujourd'hui ; ou corriger l'attendu."
            ),
            Self::ClarifiedInstead => format!(
                "Des entrées proches sont proposées ({}) : si l'une répond, mettre à jour l'attendu et lui ajouter cette formulation ; sinon, écrire une entrée.",
                r.options.join(", ")
            ),
        }
    }
}

/// Whether an outcome meets an expectation: an entry id passes only on an answer with
/// that id; "handoff" only on a hand-off (a clarification meets neither).
pub fn judge(expect: Option<&Expect>, outcome: Outcome, entry: Option<&str>) -> Option<bool> {
    verdict(expect, outcome, entry, true).map(Verdict::passed)
}

/// The kind of pass or failure; `known` tells whether the expected entry (if any) is one
/// the knowledge base serves.
pub fn verdict(
    expect: Option<&Expect>,
    outcome: Outcome,
    entry: Option<&str>,
    known: bool,
) -> Option<Verdict> {
    expect.map(|e| match (e, outcome) {
        (Expect::Entry(id), Outcome::Answer) if entry == Some(id.as_str()) => Verdict::Pass,
        (Expect::Entry(_), Outcome::Answer) => Verdict::WrongAnswer,
        (Expect::Entry(_), _) if !known => Verdict::UnknownEntry,
        (Expect::Entry(_), _) => Verdict::NotAnswered,
        (Expect::Handoff, Outcome::Handoff) => Verdict::Pass,
        (Expect::Handoff, Outcome::Answer) => Verdict::ExpectationToUpdate,
        (Expect::Handoff, Outcome::Clarify) => Verdict::ClarifiedInstead,
    })
}

/// Checks every question before running any, so a bad item refuses the whole batch.
pub fn validate(probes: &[Probe]) -> Result<(), CoverageError> {
    if probes.len() > MAX_BATCH {
        return Err(CoverageError::TooMany(probes.len()));
    }
    for (index, p) in probes.iter().enumerate() {
        Question::parse(&p.question).map_err(|source| CoverageError::Question { index, source })?;
    }
    Ok(())
}

/// Runs each probe through [`Engine::ask`], exactly as a person's question would be.
pub fn run(
    engine: &Engine,
    probes: &[Probe],
    now: DateTime<Utc>,
) -> Result<Vec<ProbeResult>, CoverageError> {
    validate(probes)?;
    let ctx = AskContext { lang: None, now };
    probes
        .iter()
        .map(|p| {
            let asked = engine.ask(&Redacted::new(p.question.trim()), &ctx)?;
            let reply = asked.reply;
            let entry = reply.entry.as_ref().map(|e| e.id.clone());
            let options = reply
                .options
                .iter()
                .flatten()
                .map(|o| o.id.clone())
                .collect();
            let known = match &p.expect {
                Some(Expect::Entry(id)) => engine.corpus().index_of(id).is_some(),
                _ => true,
            };
            let verdict = verdict(p.expect.as_ref(), reply.outcome, entry.as_deref(), known);
            let mut candidates = asked.trace.candidates;
            candidates.truncate(TOP_CANDIDATES);
            Ok(ProbeResult {
                question: p.question.trim().to_string(),
                expect: p.expect.clone(),
                outcome: reply.outcome,
                entry,
                options,
                confidence: asked.trace.confidence,
                margin: asked.trace.margin,
                candidates,
                passed: verdict.map(Verdict::passed),
                verdict,
            })
        })
        .collect()
}

/// An expected entry and what was served or offered first instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfusablePair {
    pub expected: String,
    pub got: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub total: usize,
    pub answered: usize,
    pub clarified: usize,
    pub handed_off: usize,
    /// Items that carried an expectation.
    pub judged: usize,
    pub passed: usize,
    /// passed / judged; `None` when nothing was judged.
    pub pass_rate: Option<f64>,
    /// Answered with another entry than expected: the failures a person would see.
    pub wrong_answers: usize,
    /// Answered where a hand-off was expected: most often an entry written since, so the
    /// expectation is to check and update; counted apart from the wrong answers.
    pub expectations_to_update: usize,
    /// Most frequent first.
    pub confusable: Vec<ConfusablePair>,
}

pub fn summarise(results: &[ProbeResult]) -> Summary {
    let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
    let judged = results.iter().filter(|r| r.passed.is_some()).count();
    let passed = results.iter().filter(|r| r.passed == Some(true)).count();
    let verdicts = |v: Verdict| results.iter().filter(|r| r.verdict == Some(v)).count();
    let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in results {
        let Some(Expect::Entry(expected)) = &r.expect else {
            continue;
        };
        // An answer with another entry, or a clarification led by another entry.
        let got = match r.outcome {
            Outcome::Answer => r.entry.as_ref(),
            Outcome::Clarify => r.options.first(),
            Outcome::Handoff => None,
        };
        if let Some(got) = got.filter(|g| *g != expected) {
            *pairs.entry((expected.clone(), got.clone())).or_default() += 1;
        }
    }
    let mut confusable: Vec<ConfusablePair> = pairs
        .into_iter()
        .map(|((expected, got), count)| ConfusablePair {
            expected,
            got,
            count,
        })
        .collect();
    confusable.sort_by_key(|c| std::cmp::Reverse(c.count));
    Summary {
        total: results.len(),
        answered: count(Outcome::Answer),
        clarified: count(Outcome::Clarify),
        handed_off: count(Outcome::Handoff),
        judged,
        passed,
        pass_rate: (judged > 0).then(|| passed as f64 / judged as f64),
        wrong_answers: verdicts(Verdict::WrongAnswer),
        expectations_to_update: verdicts(Verdict::ExpectationToUpdate),
        confusable,
    }
}

/// A stored phrasing whose best candidate is another entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    pub entry: String,
    pub phrasing: String,
    /// The entry that came first instead (none: nothing was retrieved).
    pub got: Option<String>,
}

/// Two entries that take each other's phrasings: candidates to merge or to sharpen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Steal {
    /// The two ids, in alphabetical order.
    pub entries: (String, String),
    /// Phrasings of either one that found the other first.
    pub phrasings: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfTest {
    pub phrasings: usize,
    pub misses: Vec<Miss>,
    pub steals: Vec<Steal>,
}

impl SelfTest {
    pub fn passed(&self) -> bool {
        self.misses.is_empty()
    }
}

/// Every validated question, alternate and translated question must find its own entry
/// first ([`Engine::retrieve`], top-1).
pub fn self_test(engine: &Engine) -> Result<SelfTest, EngineError> {
    let corpus = engine.corpus();
    let mut phrasings = 0;
    let mut misses = Vec::new();
    for (i, entry) in corpus.entries().iter().enumerate() {
        for text in match_texts(entry) {
            phrasings += 1;
            let top = engine.retrieve(text)?.into_iter().next().map(|c| c.entry);
            if top != Some(i) {
                misses.push(Miss {
                    entry: entry.id.to_string(),
                    phrasing: text.to_string(),
                    got: top.map(|t| corpus.entry(t).id.to_string()),
                });
            }
        }
    }
    Ok(SelfTest {
        phrasings,
        steals: steals(&misses),
        misses,
    })
}

/// Groups misses by unordered pair of entries, most phrasings first.
pub fn steals(misses: &[Miss]) -> Vec<Steal> {
    let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
    for m in misses {
        let Some(got) = &m.got else { continue };
        let key = if m.entry <= *got {
            (m.entry.clone(), got.clone())
        } else {
            (got.clone(), m.entry.clone())
        };
        *pairs.entry(key).or_default() += 1;
    }
    let mut out: Vec<Steal> = pairs
        .into_iter()
        .map(|(entries, phrasings)| Steal { entries, phrasings })
        .collect();
    out.sort_by_key(|o| std::cmp::Reverse(o.phrasings));
    out
}

/// A probe's result as tests build them: `expect` judged against `outcome` and `entry`.
#[cfg(test)]
pub(crate) fn probe_result(
    question: &str,
    expect: &str,
    outcome: Outcome,
    entry: Option<&str>,
) -> ProbeResult {
    let expect = Some(Expect::from(expect.to_string()));
    let verdict = verdict(expect.as_ref(), outcome, entry, true);
    ProbeResult {
        question: question.into(),
        expect,
        outcome,
        entry: entry.map(String::from),
        options: Vec::new(),
        confidence: 0.634,
        margin: 0.1,
        candidates: Vec::new(),
        passed: verdict.map(Verdict::passed),
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(expect: Option<&str>, outcome: Outcome, entry: Option<&str>) -> ProbeResult {
        let expect = expect.map(|e| Expect::from(e.to_string()));
        let options = match outcome {
            Outcome::Clarify => vec!["b".to_string(), "a".to_string()],
            _ => Vec::new(),
        };
        let verdict = verdict(expect.as_ref(), outcome, entry, true);
        ProbeResult {
            question: "q".into(),
            passed: verdict.map(Verdict::passed),
            verdict,
            expect,
            outcome,
            entry: entry.map(String::from),
            options,
            confidence: 0.5,
            margin: 0.1,
            candidates: Vec::new(),
        }
    }

    #[test]
    fn an_entry_expectation_passes_only_on_an_answer_with_that_entry() {
        let a = Some(Expect::Entry("a".into()));
        assert_eq!(judge(a.as_ref(), Outcome::Answer, Some("a")), Some(true));
        assert_eq!(judge(a.as_ref(), Outcome::Answer, Some("b")), Some(false));
        assert_eq!(judge(a.as_ref(), Outcome::Clarify, None), Some(false));
        assert_eq!(judge(a.as_ref(), Outcome::Handoff, None), Some(false));
    }

    #[test]
    fn a_handoff_expectation_passes_only_on_a_handoff_and_no_expectation_is_not_judged() {
        let h = Some(Expect::Handoff);
        assert_eq!(judge(h.as_ref(), Outcome::Handoff, None), Some(true));
        assert_eq!(judge(h.as_ref(), Outcome::Answer, Some("a")), Some(false));
        assert_eq!(judge(h.as_ref(), Outcome::Clarify, None), Some(false));
        assert_eq!(judge(None, Outcome::Answer, Some("a")), None);
    }

    #[test]
    fn expect_reads_handoff_as_a_keyword_and_anything_else_as_an_entry_id() {
        let p: Probe = serde_json::from_str(r#"{"question":"x","expect":"handoff"}"#).unwrap();
        assert_eq!(p.expect, Some(Expect::Handoff));
        let p: Probe = serde_json::from_str(r#"{"question":"x","expect":"etat-civil"}"#).unwrap();
        assert_eq!(p.expect, Some(Expect::Entry("etat-civil".into())));
        let p: Probe = serde_json::from_str(r#"{"question":"x"}"#).unwrap();
        assert_eq!(p.expect, None);
    }

    #[test]
    fn the_summary_counts_outcomes_passes_wrong_answers_and_confusable_pairs() {
        let results = vec![
            result(Some("a"), Outcome::Answer, Some("a")), // pass
            result(Some("a"), Outcome::Answer, Some("c")), // wrong answer, a->c
            result(Some("a"), Outcome::Answer, Some("c")), // wrong answer, a->c
            result(Some("handoff"), Outcome::Answer, Some("a")), // expectation to update
            result(Some("handoff"), Outcome::Handoff, None), // pass
            result(Some("a"), Outcome::Clarify, None),     // fail, a->b (first option)
            result(Some("a"), Outcome::Handoff, None),     // fail, not a wrong answer
            result(None, Outcome::Answer, Some("z")),      // not judged
        ];
        let s = summarise(&results);
        assert_eq!(s.total, 8);
        assert_eq!((s.answered, s.clarified, s.handed_off), (5, 1, 2));
        assert_eq!((s.judged, s.passed), (7, 2));
        assert!((s.pass_rate.unwrap() - 2.0 / 7.0).abs() < 1e-9);
        assert_eq!(s.wrong_answers, 2);
        assert_eq!(s.expectations_to_update, 1);
        assert_eq!(
            s.confusable,
            vec![
                ConfusablePair {
                    expected: "a".into(),
                    got: "c".into(),
                    count: 2
                },
                ConfusablePair {
                    expected: "a".into(),
                    got: "b".into(),
                    count: 1
                },
            ]
        );
    }

    #[test]
    fn probe_an_answer_where_a_handoff_was_expected_is_an_expectation_to_update_not_a_wrong_answer()
    {
        let h = Some(Expect::Handoff);
        let a = Some(Expect::Entry("a".into()));
        let v = |e: &Option<Expect>, o, entry, known| verdict(e.as_ref(), o, entry, known);
        assert_eq!(
            v(&h, Outcome::Answer, Some("new-entry"), true),
            Some(Verdict::ExpectationToUpdate)
        );
        assert_eq!(
            v(&a, Outcome::Answer, Some("b"), true),
            Some(Verdict::WrongAnswer)
        );
        assert_eq!(v(&a, Outcome::Answer, Some("a"), true), Some(Verdict::Pass));
        assert_eq!(
            v(&a, Outcome::Handoff, None, true),
            Some(Verdict::NotAnswered)
        );
        assert_eq!(
            v(&a, Outcome::Clarify, None, false),
            Some(Verdict::UnknownEntry)
        );
        assert_eq!(
            v(&h, Outcome::Clarify, None, true),
            Some(Verdict::ClarifiedInstead)
        );
        assert_eq!(v(&h, Outcome::Handoff, None, true), Some(Verdict::Pass));
        assert_eq!(v(&None, Outcome::Answer, Some("a"), true), None);
        let s = summarise(&[
            result(Some("handoff"), Outcome::Answer, Some("new-entry")),
            result(Some("a"), Outcome::Answer, Some("b")),
        ]);
        assert_eq!((s.wrong_answers, s.expectations_to_update), (1, 1));
        assert_eq!(s.passed, 0);
    }

    #[test]
    fn probe_each_failure_says_what_to_do() {
        let stale = result(Some("handoff"), Outcome::Answer, Some("new-entry"));
        let action = stale.verdict.unwrap().action(&stale);
        assert!(
            action.contains("Mettre à jour l'attendu (handoff → new-entry)"),
            "{action}"
        );
        let wrong = result(Some("a"), Outcome::Answer, Some("c"));
        let action = wrong.verdict.unwrap().action(&wrong);
        assert!(
            action.contains("alternates de « a »") && action.contains("« c »"),
            "{action}"
        );
        let missing = result(Some("a"), Outcome::Handoff, None);
        assert!(
            missing
                .verdict
                .unwrap()
                .action(&missing)
                .contains("alternates de « a »")
        );
    }

    #[test]
    fn a_summary_of_nothing_judged_has_no_pass_rate() {
        let s = summarise(&[result(None, Outcome::Handoff, None)]);
        assert_eq!(s.pass_rate, None);
        assert_eq!(s.wrong_answers, 0);
    }

    #[test]
    fn steals_pair_two_entries_whichever_took_the_other() {
        let m = |e: &str, g: Option<&str>| Miss {
            entry: e.into(),
            phrasing: "p".into(),
            got: g.map(String::from),
        };
        let s = steals(&[
            m("b", Some("a")),
            m("a", Some("b")),
            m("a", Some("b")),
            m("c", Some("d")),
            m("e", None),
        ]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].entries, ("a".into(), "b".into()));
        assert_eq!(s[0].phrasings, 3);
        assert_eq!(s[1].entries, ("c".into(), "d".into()));
    }

    #[test]
    fn a_batch_over_the_limit_or_with_an_empty_question_is_refused() {
        let p = Probe {
            question: "bonjour".into(),
            expect: None,
        };
        assert!(matches!(
            validate(&vec![p.clone(); MAX_BATCH + 1]),
            Err(CoverageError::TooMany(n)) if n == MAX_BATCH + 1
        ));
        assert!(validate(&vec![p.clone(); MAX_BATCH]).is_ok());
        let empty = Probe {
            question: "  ".into(),
            expect: None,
        };
        assert!(matches!(
            validate(&[p, empty]),
            Err(CoverageError::Question { index: 1, .. })
        ));
    }
}
