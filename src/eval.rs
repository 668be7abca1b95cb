//! Measuring answer quality on FAQ data nobody here wrote (`../shared/data` format):
//! entries count as validated; each query names the entry that answers it, or none,
//! in which case the only right outcome is a hand-off.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::corpus::{Corpus, Entry};
use crate::embedder::Embedder;
use crate::engine::{Engine, EngineError, EngineOptions};
use crate::policy::{Decision, Features, Policy, features, rank};
use crate::retrieval::Signals;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Format {
        path: String,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

#[derive(Debug, Clone, Deserialize)]
pub struct EvalEntry {
    pub id: String,
    pub question: String,
    pub answer: Option<String>,
    #[serde(default = "default_lang")]
    pub lang: String,
    #[serde(default)]
    pub variants: Vec<String>,
    pub kb: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EvalQuery {
    pub query: String,
    pub entry_id: Option<String>,
    #[serde(default = "default_lang")]
    pub lang: String,
    pub kb: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
}

fn default_lang() -> String {
    "fr".into()
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, EvalError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: shown.clone(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| EvalError::Format {
                path: shown.clone(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// A data set, restricted to one language when `lang` is given.
pub struct EvalSet {
    pub entries: Vec<EvalEntry>,
    pub queries: Vec<EvalQuery>,
}

impl EvalSet {
    pub fn read(entries: &Path, queries: &Path, lang: Option<&str>) -> Result<Self, EvalError> {
        let mut entries: Vec<EvalEntry> = read_jsonl(entries)?;
        let mut queries: Vec<EvalQuery> = read_jsonl(queries)?;
        if let Some(lang) = lang {
            entries.retain(|e| e.lang == lang);
            queries.retain(|q| q.lang == lang);
        }
        Ok(Self { entries, queries })
    }

    /// Keeps one knowledge base (`kb`): its entries and the queries sent to it.
    pub fn retain_kb(&mut self, kb: &str) {
        self.entries.retain(|e| e.kb.as_deref() == Some(kb));
        self.queries.retain(|q| q.kb.as_deref() == Some(kb));
    }

    /// One engine per knowledge base (`kb`), each over its own entries only.
    pub fn engines(
        &self,
        embedder: Arc<dyn Embedder>,
        options: &EngineOptions,
    ) -> Result<BTreeMap<Option<String>, Engine>, EvalError> {
        let mut groups: BTreeMap<Option<String>, Vec<Entry>> = BTreeMap::new();
        for e in &self.entries {
            let alternates = e
                .variants
                .iter()
                .filter(|v| **v != e.question)
                .cloned()
                .collect();
            let answer = e.answer.clone().unwrap_or_default();
            groups.entry(e.kb.clone()).or_default().push(Entry::trusted(
                &e.id,
                &e.question,
                alternates,
                &answer,
                &e.lang,
            ));
        }
        groups
            .into_iter()
            .map(|(kb, entries)| {
                Ok((
                    kb,
                    Engine::build(
                        Corpus::from_trusted(entries),
                        embedder.clone(),
                        options.clone(),
                    )?,
                ))
            })
            .collect()
    }
}

/// One query with the signals of its candidates: computed once (the model's work), then
/// decided under as many policies as calibration wants to try.
#[derive(Debug, Clone)]
pub struct Probe {
    pub query: String,
    pub expected: Option<String>,
    pub kb: Option<String>,
    pub kind: Option<String>,
    /// (entry id, signals), unranked.
    pub candidates: Vec<(String, Signals)>,
    /// Embedding and retrieval time.
    pub ms: f64,
}

/// Embeds and retrieves every query through its knowledge base's engine.
pub fn probe(
    set: &EvalSet,
    engines: &BTreeMap<Option<String>, Engine>,
) -> Result<Vec<Probe>, EvalError> {
    let mut out = Vec::with_capacity(set.queries.len());
    for q in &set.queries {
        let Some(engine) = engines.get(&q.kb) else {
            continue;
        };
        let started = Instant::now();
        // Matched as `Engine::ask` matches it: redacted first.
        let redacted = crate::privacy::Redacted::new(&q.query);
        let signals = engine.signals(redacted.as_str())?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let candidates = signals
            .into_iter()
            .map(|(e, s)| (engine.corpus().entry(e).id.to_string(), s))
            .collect();
        out.push(Probe {
            query: q.query.clone(),
            expected: q.entry_id.clone(),
            kb: q.kb.clone(),
            kind: q.kind.clone(),
            candidates,
            ms,
        });
    }
    Ok(out)
}

/// What happened to one query under a policy.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    pub query: String,
    pub expected: Option<String>,
    pub kb: Option<String>,
    pub kind: Option<String>,
    /// "answer", "clarify" or "handoff".
    pub outcome: &'static str,
    pub answered: Option<String>,
    pub options: Vec<String>,
    /// The leading candidate, whatever was decided.
    pub top: Option<String>,
    /// Where the expected entry stands in the ranking (1 = leader), if it was retrieved.
    pub expected_rank: Option<usize>,
    pub features: Option<Features>,
    pub confidence: f32,
    pub ms: f64,
}

/// Decides one probe under `policy` (ranking with its weights included).
pub fn decide(p: &Probe, policy: &Policy) -> QueryResult {
    let started = Instant::now();
    let ranked = rank(
        p.candidates
            .iter()
            .enumerate()
            .map(|(i, (_, s))| (i, *s))
            .collect(),
        policy.weights(),
    );
    let decision = policy.decide(&ranked);
    let ms = p.ms + started.elapsed().as_secs_f64() * 1e3;
    let id = |i: usize| p.candidates[i].0.clone();
    let confidence = decision.confidence();
    let (outcome, answered, options) = match decision {
        Decision::Answer { entry, .. } => ("answer", Some(id(entry)), Vec::new()),
        Decision::Clarify { entries, .. } => {
            ("clarify", None, entries.into_iter().map(id).collect())
        }
        Decision::HandOff { .. } => ("handoff", None, Vec::new()),
    };
    QueryResult {
        query: p.query.clone(),
        expected: p.expected.clone(),
        kb: p.kb.clone(),
        kind: p.kind.clone(),
        outcome,
        answered,
        options,
        top: ranked.first().map(|c| id(c.entry)),
        expected_rank: p.expected.as_ref().and_then(|e| {
            ranked
                .iter()
                .position(|c| &p.candidates[c.entry].0 == e)
                .map(|i| i + 1)
        }),
        features: features(&ranked),
        confidence,
        ms,
    }
}

pub fn decide_all(probes: &[Probe], policy: &Policy) -> Vec<QueryResult> {
    probes.iter().map(|p| decide(p, policy)).collect()
}

/// One point of the trade-off between answering more and answering wrongly.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CurvePoint {
    pub answer_threshold: f32,
    pub coverage: f64,
    pub wrong_answer_rate: f64,
}

/// Coverage and wrong-answer rate as the answer threshold goes from loose to strict.
pub fn curve(probes: &[Probe], policy: &Policy, steps: usize) -> Vec<CurvePoint> {
    (0..=steps)
        .filter_map(|i| {
            let t = i as f32 / steps as f32;
            let p = policy
                .with_thresholds(t, policy.clarify_threshold().min(t))
                .ok()?;
            let r = score(&decide_all(probes, &p));
            Some(CurvePoint {
                answer_threshold: t,
                coverage: r.coverage,
                wrong_answer_rate: r.wrong_answer_rate,
            })
        })
        .collect()
}

/// One point of the trade-off between resolving more (did-you-means) and handing off
/// the questions nobody can answer.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ClarifyPoint {
    pub clarify_threshold: f32,
    pub resolved_rate: f64,
    /// `None` when the set has no unanswerable query.
    pub handoff_recall: Option<f64>,
}

/// Resolved rate and hand-off recall at each of `thresholds` for the did-you-mean, the
/// answer threshold unchanged (a threshold the policy cannot take is left out).
pub fn clarify_sweep(probes: &[Probe], policy: &Policy, thresholds: &[f32]) -> Vec<ClarifyPoint> {
    thresholds
        .iter()
        .filter_map(|&t| {
            let p = policy.with_thresholds(policy.answer_threshold(), t).ok()?;
            let r = score(&decide_all(probes, &p));
            Some(ClarifyPoint {
                clarify_threshold: t,
                resolved_rate: r.resolved_rate,
                handoff_recall: (r.null > 0).then_some(r.handoff_recall),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Report {
    pub queries: usize,
    pub answerable: usize,
    pub null: usize,
    pub answered_correct: usize,
    pub answered_wrong: usize,
    pub clarified_with_correct: usize,
    pub clarified_without_correct: usize,
    pub handed_off_answerable: usize,
    pub answered_null: usize,
    pub clarified_null: usize,
    pub handed_off_null: usize,
    /// Top-1 of the ranking is the right entry, whatever was decided (answerable only).
    pub accuracy_at_1: f64,
    /// The right entry is among the first three of the ranking (answerable only).
    pub recall_at_3: f64,
    pub wrong_answer_rate: f64,
    pub coverage: f64,
    pub resolved_rate: f64,
    pub handoff_recall: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

pub fn score(results: &[QueryResult]) -> Report {
    let mut r = Report {
        queries: results.len(),
        ..Report::default()
    };
    let (mut top1, mut top3) = (0, 0);
    for q in results {
        match &q.expected {
            Some(expected) => {
                r.answerable += 1;
                top1 += usize::from(q.top.as_ref() == Some(expected));
                top3 += usize::from(q.expected_rank.is_some_and(|r| r <= 3));
                match q.outcome {
                    "answer" if q.answered.as_ref() == Some(expected) => r.answered_correct += 1,
                    "answer" => r.answered_wrong += 1,
                    "clarify" if q.options.contains(expected) => r.clarified_with_correct += 1,
                    "clarify" => r.clarified_without_correct += 1,
                    _ => r.handed_off_answerable += 1,
                }
            }
            None => {
                r.null += 1;
                match q.outcome {
                    "answer" => r.answered_null += 1,
                    "clarify" => r.clarified_null += 1,
                    _ => r.handed_off_null += 1,
                }
            }
        }
    }
    let answers = r.answered_correct + r.answered_wrong + r.answered_null;
    r.accuracy_at_1 = ratio(top1, r.answerable);
    r.recall_at_3 = ratio(top3, r.answerable);
    r.wrong_answer_rate = ratio(r.answered_wrong + r.answered_null, answers);
    r.coverage = ratio(r.answered_correct, r.answerable);
    r.resolved_rate = ratio(r.answered_correct + r.clarified_with_correct, r.answerable);
    r.handoff_recall = ratio(r.handed_off_null, r.null);
    let mut ms: Vec<f64> = results.iter().map(|q| q.ms).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if ms.is_empty() {
            0.0
        } else {
            ms[((ms.len() - 1) as f64 * p).round() as usize]
        }
    };
    r.p50_ms = pct(0.5);
    r.p99_ms = pct(0.99);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(
        expected: Option<&str>,
        outcome: &'static str,
        answered: Option<&str>,
        options: &[&str],
    ) -> QueryResult {
        QueryResult {
            query: String::new(),
            expected: expected.map(Into::into),
            kb: None,
            kind: None,
            outcome,
            answered: answered.map(Into::into),
            options: options.iter().map(|s| s.to_string()).collect(),
            top: answered.or(options.first().copied()).map(Into::into),
            expected_rank: expected.and_then(|e| {
                answered
                    .into_iter()
                    .chain(options.iter().copied())
                    .position(|x| x == e)
                    .map(|i| i + 1)
            }),
            features: None,
            confidence: 0.0,
            ms: 1.0,
        }
    }

    #[test]
    fn a_looser_did_you_mean_never_resolves_less_nor_hands_off_more() {
        let signals = |dense: f32| crate::retrieval::Signals {
            dense,
            dense_answer: dense,
            lexical: dense / 2.0,
            lexical_answer: 0.0,
        };
        // Ten queries, answerable or not, whose leaders score from strong to weak.
        let probes: Vec<Probe> = (0..10)
            .map(|i| {
                let lead = 0.95 - i as f32 * 0.05;
                Probe {
                    query: format!("q{i}"),
                    expected: (i % 3 != 0).then(|| "a".to_string()),
                    kb: None,
                    kind: None,
                    candidates: vec![
                        ("a".into(), signals(lead)),
                        ("b".into(), signals(lead - 0.01 * i as f32)),
                    ],
                    ms: 0.0,
                }
            })
            .collect();
        let policy = Policy::default().with_thresholds(0.99, 0.5).unwrap();
        let thresholds: Vec<f32> = (0..=10).rev().map(|i| i as f32 / 10.0).collect();
        let sweep = clarify_sweep(&probes, &policy, &thresholds);
        assert!(sweep.len() >= 2);
        for w in sweep.windows(2) {
            assert!(w[1].clarify_threshold < w[0].clarify_threshold);
            assert!(w[1].resolved_rate >= w[0].resolved_rate);
            assert!(w[1].handoff_recall.unwrap() <= w[0].handoff_recall.unwrap());
        }
        let (first, last) = (sweep[0], sweep[sweep.len() - 1]);
        assert!(
            last.resolved_rate > first.resolved_rate,
            "the sweep moves something"
        );
    }

    #[test]
    fn each_outcome_is_counted_where_the_scoring_rules_put_it() {
        let results = vec![
            result(Some("a"), "answer", Some("a"), &[]),
            result(Some("a"), "answer", Some("b"), &[]),
            result(Some("a"), "clarify", None, &["b", "a"]),
            result(Some("a"), "clarify", None, &["b", "c"]),
            result(Some("a"), "handoff", None, &[]),
            result(None, "answer", Some("a"), &[]),
            result(None, "handoff", None, &[]),
            result(None, "clarify", None, &["a", "b"]),
        ];
        let r = score(&results);
        assert_eq!((r.answerable, r.null), (5, 3));
        assert_eq!(
            (
                r.answered_correct,
                r.answered_wrong,
                r.clarified_with_correct,
                r.clarified_without_correct,
                r.handed_off_answerable
            ),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(
            (r.answered_null, r.clarified_null, r.handed_off_null),
            (1, 1, 1)
        );
        assert!((r.wrong_answer_rate - 2.0 / 3.0).abs() < 1e-9);
        assert!((r.coverage - 0.2).abs() < 1e-9);
        assert!((r.resolved_rate - 0.4).abs() < 1e-9);
        assert!((r.handoff_recall - 1.0 / 3.0).abs() < 1e-9);
        // Ranked within the first three: the right answer and the clarification with "a".
        assert!((r.recall_at_3 - 0.4).abs() < 1e-9);
    }
}
