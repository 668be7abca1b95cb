//! Fitting the decision on labelled data: ranking weights by grid search (top-1 accuracy),
//! a logistic model of "the leader is right" on the leader's features (and one of "the
//! right entry is among the options" per clarify window), then the answer and clarify
//! thresholds that keep wrong answers and missed hand-offs within targets.
//! Every set counts equally, however many queries it has.
//!
//! A deployment's own labels (the training loop's decisions in the store: this question ->
//! this entry, or -> hand-off) become one more labelled set over the store's live
//! knowledge base ([`store_set`]), so `guichet calibrate --from-store` fits the policy on
//! the city's own residents' phrasing and its own out-of-scope traffic.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::eval::{EvalEntry, EvalQuery, EvalSet, Probe, decide_all, score};
use crate::kb::{self, KbError};
use crate::policy::{
    Calibration, FEATURES, Features, Policy, PolicyError, Weights, features, options, rank,
};
use crate::store::{LabelDecision, RevisionStatus, Store, StoreError};
use crate::text::fold;

/// What the thresholds must hold on every set.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    /// Highest wrong-answer rate allowed on any set.
    pub max_wrong_rate: f64,
    /// Lowest hand-off recall allowed on any set that has unanswerable queries, and on
    /// each of its knowledge bases (each hint3 bot is a deployment of its own: one whose
    /// out-of-scope messages get did-you-means is a broken bot, whatever the others do).
    /// The wrong-answer rate is held over the whole set: a bot gives too few answers for
    /// its own rate to be more than noise.
    pub min_handoff_recall: f64,
}

/// One labelled set: its name, its probed queries and what it must hold.
pub struct LabelledSet {
    pub name: String,
    pub probes: Vec<Probe>,
    pub targets: Targets,
}

#[derive(Debug, Clone, Serialize)]
pub struct FitSummary {
    pub weights_accuracy: Vec<(String, f64)>,
    pub log_loss: f64,
}

const DENSE_ANSWER: [f32; 6] = [0.0, 0.1, 0.2, 0.3, 0.5, 0.8];
const LEXICAL: [f32; 6] = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5];
const LEXICAL_ANSWER: [f32; 4] = [0.0, 0.05, 0.1, 0.2];
/// Clarify windows tried: options must compete with the leader (a wider window wins a
/// little recall on the dev sets by offering unrelated third options, which people read
/// as the assistant not understanding them).
const WINDOWS: [f32; 4] = [0.01, 0.02, 0.03, 0.05];

/// The leader's features, whether the leader is right, and whether the right entry is
/// among what a "did you mean" with this `window` would offer.
fn ranked_labels(p: &Probe, w: &Weights, window: f32) -> Option<(bool, bool, Features)> {
    let ranked = rank(
        p.candidates
            .iter()
            .enumerate()
            .map(|(i, (_, s))| (i, *s))
            .collect(),
        w,
    );
    let f = features(&ranked)?;
    let is_expected = |c: &crate::policy::Candidate| {
        p.expected.as_deref() == Some(p.candidates[c.entry].0.as_str())
    };
    let shortlisted = options(&ranked, window).iter().any(is_expected);
    Some((is_expected(&ranked[0]), shortlisted, f))
}

fn accuracy(probes: &[Probe], w: &Weights) -> f64 {
    let answerable = probes
        .iter()
        .filter(|p| p.expected.is_some())
        .count()
        .max(1);
    let right = probes
        .iter()
        .filter_map(|p| ranked_labels(p, w, 0.0))
        .filter(|(right, ..)| *right)
        .count();
    right as f64 / answerable as f64
}

/// The weights with the best mean top-1 accuracy across sets.
pub fn fit_weights(sets: &[LabelledSet]) -> (Weights, f64) {
    let mut best = (
        Weights {
            dense_answer: 0.0,
            lexical: 0.0,
            lexical_answer: 0.0,
        },
        f64::MIN,
    );
    for &dense_answer in &DENSE_ANSWER {
        for &lexical in &LEXICAL {
            for &lexical_answer in &LEXICAL_ANSWER {
                let w = Weights {
                    dense_answer,
                    lexical,
                    lexical_answer,
                };
                let mean = sets.iter().map(|s| accuracy(&s.probes, &w)).sum::<f64>()
                    / sets.len().max(1) as f64;
                if mean > best.1 + 1e-9 {
                    best = (w, mean);
                }
            }
        }
    }
    best
}

/// Weighted logistic regression by gradient descent on standardised features, with a
/// little L2 so that separable data keeps finite coefficients. Returns the model in the
/// raw feature scale and its mean log loss.
pub fn fit_logistic(rows: &[(Features, bool, f64)]) -> (Calibration, f64) {
    let n = FEATURES.len();
    let total: f64 = rows.iter().map(|r| r.2).sum::<f64>().max(1e-12);
    let mut mean = vec![0.0f64; n];
    let mut sd = vec![0.0f64; n];
    for (f, _, w) in rows {
        for j in 0..n {
            mean[j] += w * f[j] as f64 / total;
        }
    }
    for (f, _, w) in rows {
        for j in 0..n {
            sd[j] += w * (f[j] as f64 - mean[j]).powi(2) / total;
        }
    }
    let sd: Vec<f64> = sd.into_iter().map(|v| v.sqrt().max(1e-6)).collect();
    let x: Vec<Vec<f64>> = rows
        .iter()
        .map(|(f, ..)| (0..n).map(|j| (f[j] as f64 - mean[j]) / sd[j]).collect())
        .collect();
    let (mut b, mut w) = (0.0f64, vec![0.0f64; n]);
    let (lr, l2) = (0.5, 1e-3);
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    for _ in 0..4000 {
        let (mut gb, mut gw) = (0.0, vec![0.0; n]);
        for (xi, (_, y, wt)) in x.iter().zip(rows) {
            let p = sigmoid(b + w.iter().zip(xi).map(|(a, c)| a * c).sum::<f64>());
            let err = (p - if *y { 1.0 } else { 0.0 }) * wt / total;
            gb += err;
            for j in 0..n {
                gw[j] += err * xi[j];
            }
        }
        b -= lr * gb;
        for j in 0..n {
            w[j] -= lr * (gw[j] + l2 * w[j]);
        }
    }
    let loss = x
        .iter()
        .zip(rows)
        .map(|(xi, (_, y, wt))| {
            let p = sigmoid(b + w.iter().zip(xi).map(|(a, c)| a * c).sum::<f64>())
                .clamp(1e-9, 1.0 - 1e-9);
            -wt * if *y { p.ln() } else { (1.0 - p).ln() } / total
        })
        .sum();
    let raw: Vec<f32> = (0..n).map(|j| (w[j] / sd[j]) as f32).collect();
    let bias = (b - (0..n).map(|j| w[j] * mean[j] / sd[j]).sum::<f64>()) as f32;
    (
        Calibration {
            bias,
            weights: raw,
            features: FEATURES.iter().map(|s| s.to_string()).collect(),
        },
        loss,
    )
}

/// A set's probes split by knowledge base (one group when it has one). The set's hand-off
/// recall is the mean of its groups' weighted by their unanswerable queries, so a bound
/// every group holds, the whole set holds too.
fn by_kb(probes: &[Probe]) -> Vec<Vec<Probe>> {
    let mut groups: std::collections::BTreeMap<Option<&str>, Vec<Probe>> = Default::default();
    for p in probes {
        groups.entry(p.kb.as_deref()).or_default().push(p.clone());
    }
    groups.into_values().collect()
}

/// Fits a whole policy. Thresholds: the loosest answer threshold under which every set
/// stays within the wrong-answer target; then the clarify window and the loosest clarify
/// threshold under which every set, and every knowledge base in it, keeps its hand-off
/// recall, best mean resolved rate first.
pub fn fit(sets: &[LabelledSet]) -> Result<(Policy, FitSummary), PolicyError> {
    let (weights, _) = fit_weights(sets);
    // Logistic models on the same features, every set weighing the same: "the leader is
    // right" (answer) and, for each window, "the right entry is among the options" (did
    // you mean).
    let labelled = |window: f32| {
        let mut rows = Vec::new();
        for s in sets {
            let mine: Vec<(bool, bool, Features)> = s
                .probes
                .iter()
                .filter_map(|p| ranked_labels(p, &weights, window))
                .collect();
            let per = 1.0 / mine.len().max(1) as f64;
            rows.extend(mine.into_iter().map(|(r, o, f)| (f, r, o, per)));
        }
        rows
    };
    let rows: Vec<(Features, bool, f64)> = labelled(0.0)
        .into_iter()
        .map(|(f, right, _, per)| (f, right, per))
        .collect();
    let (calibration, log_loss) = fit_logistic(&rows);
    let base = Policy::new(weights, calibration, 1.0, 0.0, WINDOWS[0])?;
    let holds = |p: &Policy, check: &dyn Fn(&crate::eval::Report, &Targets) -> bool| {
        sets.iter()
            .all(|s| check(&score(&decide_all(&s.probes, p)), &s.targets))
    };
    let steps: Vec<f32> = (0..=100).map(|i| i as f32 / 100.0).collect();
    let answer = steps
        .iter()
        .copied()
        .find(|&t| {
            holds(&base.with_thresholds(t, 0.0).expect("valid"), &|r, t| {
                r.wrong_answer_rate <= t.max_wrong_rate
            })
        })
        .unwrap_or(1.0);
    // The clarification: on the leader's probability or on the shortlist's, with the
    // window and the loosest threshold under which every set and each of its knowledge
    // bases keeps its hand-off recall; best mean resolved rate wins.
    let handoff_groups: Vec<(Vec<Probe>, f64)> = sets
        .iter()
        .flat_map(|s| {
            by_kb(&s.probes)
                .into_iter()
                .map(|g| (g, s.targets.min_handoff_recall))
        })
        .collect();
    let mut best: Option<(f64, Policy)> = None;
    for shortlisted in [false, true] {
        for &window in &WINDOWS {
            let model = shortlisted.then(|| {
                let rows: Vec<(Features, bool, f64)> = labelled(window)
                    .into_iter()
                    .map(|(f, _, offered, per)| (f, offered, per))
                    .collect();
                fit_logistic(&rows).0
            });
            let windowed = Policy::new(weights, base.calibration().clone(), answer, 0.0, window)?
                .with_shortlist(model.clone())?;
            let ceiling = if model.is_some() { 1.0 } else { answer };
            let clarify = steps.iter().copied().filter(|&c| c <= ceiling).find(|&c| {
                let p = windowed.with_thresholds(answer, c).expect("valid");
                handoff_groups.iter().all(|(probes, min)| {
                    let r = score(&decide_all(probes, &p));
                    r.null == 0 || r.handoff_recall >= *min
                })
            });
            let Some(clarify) = clarify else { continue };
            let p = windowed.with_thresholds(answer, clarify)?;
            let resolved = sets
                .iter()
                .map(|s| score(&decide_all(&s.probes, &p)).resolved_rate)
                .sum::<f64>()
                / sets.len().max(1) as f64;
            tracing::debug!(
                shortlist = model.is_some(),
                window,
                clarify,
                resolved,
                "clarify setting"
            );
            if best.as_ref().is_none_or(|(r, _)| resolved > *r + 1e-9) {
                best = Some((resolved, p));
            }
        }
    }
    let policy = match best {
        Some((_, p)) => p,
        None => Policy::new(
            weights,
            base.calibration().clone(),
            answer,
            answer,
            WINDOWS[0],
        )?,
    };
    let weights_accuracy = sets
        .iter()
        .map(|s| (s.name.clone(), accuracy(&s.probes, &weights)))
        .collect();
    Ok((
        policy,
        FitSummary {
            weights_accuracy,
            log_loss,
        },
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kb(#[from] KbError),
    /// Too few labels to fit anything but noise; nothing was written.
    #[error(
        "trop peu de questions étiquetées dans la base : {usable} utilisable(s) ({answerable} rattachée(s) à une fiche, {handoffs} écartée(s)), il en faut au moins {min}, dont au moins une de chaque sorte ({skipped} étiquette(s) laissée(s) de côté : fiche hors ligne ou proposition non validée). Traitez d'autres questions dans la console (Questions sans réponse) ou ajoutez des jeux --set."
    )]
    TooFew {
        usable: usize,
        answerable: usize,
        handoffs: usize,
        skipped: usize,
        min: usize,
    },
}

/// Fewest usable labels `--from-store` fits on by default: under that, thresholds would
/// follow a handful of questions.
pub const MIN_STORE_LABELS: usize = 20;

/// The labelled set of a deployment: its live entries and its labelled questions.
pub struct StoreSet {
    pub set: EvalSet,
    /// Questions labelled with a live entry (attach, create).
    pub answerable: usize,
    /// Questions labelled as for a person (dismiss).
    pub handoffs: usize,
    /// Labels left out, with why (the question, redacted, and the reason in French).
    pub skipped: Vec<(String, String)>,
}

impl StoreSet {
    pub fn usable(&self) -> usize {
        self.answerable + self.handoffs
    }

    /// Refuses a set too small to fit on: fewer than `min` labels, or none of one kind
    /// (without hand-offs the clarify threshold would have nothing to hold; without
    /// answers, the answer threshold).
    pub fn enough(&self, min: usize) -> Result<(), CalibrateError> {
        if self.usable() < min || self.answerable == 0 || self.handoffs == 0 {
            return Err(CalibrateError::TooFew {
                usable: self.usable(),
                answerable: self.answerable,
                handoffs: self.handoffs,
                skipped: self.skipped.len(),
                min,
            });
        }
        Ok(())
    }
}

/// The store's labels as a labelled set over its live knowledge base (as of `today`):
/// a question attached to or drafted into an entry expects that entry, kept only while
/// the entry is served and, when the label names the proposal it made, once that
/// proposal was validated; a dismissed question expects a hand-off. A question labelled
/// twice keeps its latest label. The labelled questions are taken out of the entries'
/// alternates (an attached question is one of them once validated): calibration then
/// measures how the policy treats residents' phrasings it has not seen, not how it finds
/// a text it indexed word for word.
pub fn store_set(store: &dyn Store, today: NaiveDate) -> Result<StoreSet, CalibrateError> {
    let loaded = kb::load(store, today)?;
    let corpus = &loaded.corpus;
    let mut latest = BTreeMap::new();
    for label in store.kb_labels()? {
        latest.insert(fold(&label.question), label);
    }
    let mut skipped = Vec::new();
    let mut queries = Vec::new();
    let (mut answerable, mut handoffs) = (0, 0);
    for label in latest.into_values() {
        if let Some(id) = &label.entry_id {
            if corpus.index_of(id).is_none() {
                skipped.push((label.question, format!("la fiche {id} n'est pas servie")));
                continue;
            }
            if let Some(rev) = label.revision {
                let validated = store
                    .kb_revision(rev)?
                    .is_some_and(|r| r.status == RevisionStatus::Validated);
                if !validated {
                    skipped.push((
                        label.question,
                        format!("la proposition n° {rev} n'est pas validée"),
                    ));
                    continue;
                }
            }
            answerable += 1;
        } else if label.decision == LabelDecision::Dismiss {
            handoffs += 1;
        } else {
            skipped.push((label.question, "étiquette sans fiche".into()));
            continue;
        }
        queries.push(EvalQuery {
            query: label.question,
            entry_id: label.entry_id,
            lang: label
                .lang
                .unwrap_or_else(|| crate::corpus::PRIMARY_LANG.to_string()),
            kb: None,
            kind: Some(label.decision.as_str().to_string()),
        });
    }
    let held_out: BTreeSet<String> = queries.iter().map(|q| fold(&q.query)).collect();
    let entries = corpus
        .entries()
        .iter()
        .map(|e| EvalEntry {
            id: e.id.to_string(),
            question: e.question.clone(),
            answer: Some(e.answer.clone()),
            lang: e.lang.clone(),
            variants: e
                .alternates
                .iter()
                .filter(|a| !held_out.contains(&fold(a)))
                .cloned()
                .collect(),
            kb: None,
        })
        .collect();
    Ok(StoreSet {
        set: EvalSet { entries, queries },
        answerable,
        handoffs,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_regression_separates_a_feature_that_decides_the_label() {
        // Label is true exactly when feature 0 is above 0.5; the other features are noise.
        let rows: Vec<(Features, bool, f64)> = (0..200)
            .map(|i| {
                let x = i as f32 / 200.0;
                let noise = ((i * 37) % 11) as f32 / 11.0;
                (
                    [x, noise, 0.5, 0.0, noise, 0.0, 0.3, 0.0, noise, 0.1],
                    x > 0.5,
                    1.0,
                )
            })
            .collect();
        let (c, loss) = fit_logistic(&rows);
        assert!(loss < 0.3, "loss {loss}");
        let at = |x: f32| c.probability(&[x, 0.5, 0.5, 0.0, 0.5, 0.0, 0.3, 0.0, 0.5, 0.1]);
        assert!(
            at(0.9) > 0.9 && at(0.1) < 0.1,
            "p(0.9) = {}, p(0.1) = {}",
            at(0.9),
            at(0.1)
        );
        assert!(at(0.6) > at(0.4), "monotone in the deciding feature");
    }
}
