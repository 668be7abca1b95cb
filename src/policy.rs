//! The decision, pure and synchronous: from retrieval signals to answer, clarify or hand
//! off. Candidates are ranked by a weighted score; a calibrated logistic model turns the
//! features of the leader into the probability that answering with it is right, and
//! strictness is a threshold on that probability. Below the answer threshold, a "did you
//! mean" offers the leader and the entries that compete with it (the leader alone, to be
//! confirmed with one tap, when none does); below the clarify threshold, a hand-off.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::retrieval::Signals;

/// How the four signals add up to one ranking score (the phrasing cosine counts 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    pub dense_answer: f32,
    pub lexical: f32,
    pub lexical_answer: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            dense_answer: 0.3,
            lexical: 0.1,
            lexical_answer: 0.05,
        }
    }
}

impl Weights {
    pub fn score(&self, s: &Signals) -> f32 {
        s.dense
            + self.dense_answer * s.dense_answer
            + self.lexical * s.lexical
            + self.lexical_answer * s.lexical_answer
    }
}

/// One entry as ranked for a question.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Candidate {
    pub entry: usize,
    pub signals: Signals,
    pub score: f32,
}

/// Ranks candidates by score, best first (ties: by entry, for determinism).
pub fn rank(candidates: Vec<(usize, Signals)>, weights: &Weights) -> Vec<Candidate> {
    let mut ranked: Vec<Candidate> = candidates
        .into_iter()
        .map(|(entry, signals)| Candidate {
            entry,
            signals,
            score: weights.score(&signals),
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.entry.cmp(&b.entry)));
    ranked
}

/// Names of the features of the leading candidate, in the order of `features()`.
pub const FEATURES: [&str; 10] = [
    "score",
    "score_margin",
    "dense",
    "dense_margin",
    "lexical",
    "lexical_margin",
    "dense_answer",
    "agree",
    "dense_spread",
    "shortlist_margin",
];
pub type Features = [f32; 10];

/// How many runners-up the leader's `dense_spread` is measured against.
const CROWD: usize = 9;

/// Features of the leader of a ranked list (none for an empty list). Besides the leader's
/// own signals and its margins over the runner-up: `dense_spread`, how far its phrasing
/// cosine stands above the mean of the next [`CROWD`] (e5 cosines bunch, so a question no
/// entry answers tends to find a flat crowd), and `shortlist_margin`, how far the last
/// option of a "did you mean" stands above the first entry left out.
pub fn features(ranked: &[Candidate]) -> Option<Features> {
    let top = ranked.first()?;
    let others = || ranked.iter().skip(1);
    let best_other = |f: fn(&Candidate) -> f32| {
        others()
            .map(f)
            .fold(None, |m: Option<f32>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    let score_second = best_other(|c| c.score).unwrap_or(0.0);
    let dense_second = best_other(|c| c.signals.dense).unwrap_or(0.0);
    let lexical_second = best_other(|c| c.signals.lexical).unwrap_or(0.0);
    let crowd: Vec<f32> = others().take(CROWD).map(|c| c.signals.dense).collect();
    let crowd_dense = if crowd.is_empty() {
        0.0
    } else {
        crowd.iter().sum::<f32>() / crowd.len() as f32
    };
    let last_option = ranked[..ranked.len().min(MAX_OPTIONS)]
        .last()
        .map_or(0.0, |c| c.score);
    let shortlist_margin = last_option - ranked.get(MAX_OPTIONS).map_or(0.0, |c| c.score);
    let leads = |f: fn(&Candidate) -> f32| others().all(|c| f(c) < f(top));
    let agree =
        leads(|c| c.signals.dense) && top.signals.lexical > 0.0 && leads(|c| c.signals.lexical);
    Some([
        top.score,
        top.score - score_second,
        top.signals.dense,
        top.signals.dense - dense_second,
        top.signals.lexical,
        top.signals.lexical - lexical_second,
        top.signals.dense_answer,
        if agree { 1.0 } else { 0.0 },
        top.signals.dense - crowd_dense,
        shortlist_margin,
    ])
}

/// Logistic model: P(right) = sigmoid(bias + weights . features).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub bias: f32,
    pub weights: Vec<f32>,
    /// Feature names, as a check that the file matches this code.
    pub features: Vec<String>,
}

impl Default for Calibration {
    /// Hand-set until fitted: leans on the phrasing cosine and the margin.
    fn default() -> Self {
        Self {
            bias: -70.0,
            weights: vec![0.0, 0.0, 75.0, 60.0, 2.0, 2.0, 0.0, 1.0, 0.0, 0.0],
            features: FEATURES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Calibration {
    pub fn probability(&self, f: &Features) -> f32 {
        let z = self.bias + self.weights.iter().zip(f).map(|(w, x)| w * x).sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{name} = {value} must be within [0, 1]")]
    Threshold { name: &'static str, value: f32 },
    #[error("clarify_threshold ({clarify}) must not exceed answer_threshold ({answer})")]
    Order { clarify: f32, answer: f32 },
    #[error(
        "the calibration has features {found:?}, this build computes {expected:?}: fit it again (`guichet calibrate`)"
    )]
    Features {
        found: Vec<String>,
        expected: Vec<String>,
    },
    #[error("a weight or coefficient is not a finite number")]
    NotFinite,
    #[error("cannot read policy file {path}: {detail}")]
    File { path: String, detail: String },
}

/// The decision parameters, built only through [`Policy::new`], which checks them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Where these numbers come from: data, command, date.
    #[serde(default)]
    pub provenance: String,
    /// Answer when P(right) is at least this.
    answer_threshold: f32,
    /// Below the answer threshold, offer a "did you mean" when P(right) (or the shortlist
    /// probability, see `shortlist`) is at least this.
    clarify_threshold: f32,
    /// Offer other entries whose score is within this of the leader's.
    clarify_window: f32,
    weights: Weights,
    calibration: Calibration,
    /// When present, the probability that the right entry is among the first
    /// [`MAX_OPTIONS`] decides the "did you mean" (instead of the leader's probability), and
    /// `clarify_threshold` applies to it; fitted like `calibration`, on other labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shortlist: Option<Calibration>,
}

/// How many validated questions a "did you mean" offers at most.
pub const MAX_OPTIONS: usize = 3;

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Answer {
        entry: usize,
        confidence: f32,
    },
    Clarify {
        entries: Vec<usize>,
        confidence: f32,
    },
    HandOff {
        confidence: f32,
    },
}

impl Decision {
    pub fn confidence(&self) -> f32 {
        match self {
            Self::Answer { confidence, .. }
            | Self::Clarify { confidence, .. }
            | Self::HandOff { confidence } => *confidence,
        }
    }
}

impl Policy {
    pub fn new(
        weights: Weights,
        calibration: Calibration,
        answer_threshold: f32,
        clarify_threshold: f32,
        clarify_window: f32,
    ) -> Result<Self, PolicyError> {
        let p = Self {
            provenance: String::new(),
            answer_threshold,
            clarify_threshold,
            clarify_window,
            weights,
            calibration,
            shortlist: None,
        };
        p.validate()?;
        Ok(p)
    }

    /// The same policy, clarifying on the shortlist probability given by `shortlist`.
    pub fn with_shortlist(mut self, shortlist: Option<Calibration>) -> Result<Self, PolicyError> {
        self.shortlist = shortlist;
        self.validate()?;
        Ok(self)
    }

    pub fn shortlist(&self) -> Option<&Calibration> {
        self.shortlist.as_ref()
    }

    fn validate(&self) -> Result<(), PolicyError> {
        for (name, value) in [
            ("answer_threshold", self.answer_threshold),
            ("clarify_threshold", self.clarify_threshold),
            ("clarify_window", self.clarify_window),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(PolicyError::Threshold { name, value });
            }
        }
        // Both thresholds apply to the same probability only without a shortlist model.
        if self.shortlist.is_none() && self.clarify_threshold > self.answer_threshold {
            return Err(PolicyError::Order {
                clarify: self.clarify_threshold,
                answer: self.answer_threshold,
            });
        }
        let expected: Vec<String> = FEATURES.iter().map(|s| s.to_string()).collect();
        for c in std::iter::once(&self.calibration).chain(&self.shortlist) {
            if c.features != expected || c.weights.len() != FEATURES.len() {
                return Err(PolicyError::Features {
                    found: c.features.clone(),
                    expected,
                });
            }
            if !c.bias.is_finite() || !c.weights.iter().all(|x| x.is_finite()) {
                return Err(PolicyError::NotFinite);
            }
        }
        let w = &self.weights;
        if ![w.dense_answer, w.lexical, w.lexical_answer]
            .iter()
            .all(|x| x.is_finite())
        {
            return Err(PolicyError::NotFinite);
        }
        Ok(())
    }

    /// Reads a policy file (TOML), checking it like [`Policy::new`].
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let fail = |detail: String| PolicyError::File {
            path: path.display().to_string(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let p: Policy = toml::from_str(&text).map_err(|e| fail(e.message().to_string()))?;
        p.validate()?;
        Ok(p)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a policy serialises")
    }

    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    pub fn answer_threshold(&self) -> f32 {
        self.answer_threshold
    }

    pub fn clarify_threshold(&self) -> f32 {
        self.clarify_threshold
    }

    /// The same policy with other thresholds (stricter or looser).
    pub fn with_thresholds(&self, answer: f32, clarify: f32) -> Result<Self, PolicyError> {
        let p = Self {
            answer_threshold: answer,
            clarify_threshold: clarify,
            ..self.clone()
        };
        p.validate()?;
        Ok(p)
    }

    /// Decides on a list ranked by [`rank`] with this policy's weights.
    pub fn decide(&self, ranked: &[Candidate]) -> Decision {
        let Some(f) = features(ranked) else {
            return Decision::HandOff { confidence: 0.0 };
        };
        let confidence = self.calibration.probability(&f);
        let top = ranked[0];
        if confidence >= self.answer_threshold {
            return Decision::Answer {
                entry: top.entry,
                confidence,
            };
        }
        let clarify_on = match &self.shortlist {
            Some(shortlist) => shortlist.probability(&f),
            None => confidence,
        };
        if clarify_on >= self.clarify_threshold {
            // The leader, and the entries that compete with it: a lone leader is offered
            // as "did you mean ...?", which one tap confirms.
            let entries: Vec<usize> = options(ranked, self.clarify_window)
                .iter()
                .map(|c| c.entry)
                .collect();
            return Decision::Clarify {
                entries,
                confidence,
            };
        }
        Decision::HandOff { confidence }
    }
}

/// What a did-you-mean offers from a ranked list: the leader and the entries scoring within
/// `window` of it, at most [`MAX_OPTIONS`].
pub fn options(ranked: &[Candidate], window: f32) -> &[Candidate] {
    let Some(top) = ranked.first() else {
        return &[];
    };
    let n = ranked
        .iter()
        .take(MAX_OPTIONS)
        .take_while(|c| c.score >= top.score - window)
        .count();
    &ranked[..n]
}

impl Default for Policy {
    fn default() -> Self {
        let mut p = Self::new(Weights::default(), Calibration::default(), 0.5, 0.15, 0.02)
            .expect("default thresholds are valid");
        p.provenance = "hand-set default, not fitted".into();
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn signals(dense: f32, lexical: f32) -> Signals {
        Signals {
            dense,
            dense_answer: dense - 0.05,
            lexical,
            lexical_answer: 0.0,
        }
    }

    fn ranked(list: &[(f32, f32)]) -> Vec<Candidate> {
        rank(
            list.iter()
                .enumerate()
                .map(|(i, (d, l))| (i, signals(*d, *l)))
                .collect(),
            &Weights::default(),
        )
    }

    #[test]
    fn a_did_you_mean_offers_the_leader_and_its_close_rivals_at_most_three() {
        assert!(options(&[], 0.05).is_empty());
        let list = ranked(&[
            (0.90, 0.0),
            (0.89, 0.0),
            (0.70, 0.0),
            (0.88, 0.0),
            (0.87, 0.0),
        ]);
        let ids = |window| {
            options(&list, window)
                .iter()
                .map(|c| c.entry)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(0.0),
            vec![0],
            "the leader alone when nothing is as close"
        );
        assert_eq!(ids(0.015), vec![0, 1]);
        assert_eq!(ids(0.5), vec![0, 1, 3], "three at most, best first");
    }

    #[test]
    fn an_empty_candidate_list_always_hands_off() {
        for t in [0.0, 0.3, 1.0] {
            let p = Policy::default().with_thresholds(t, 0.0).unwrap();
            assert!(matches!(p.decide(&[]), Decision::HandOff { .. }));
        }
    }

    #[test]
    fn thresholds_out_of_range_out_of_order_or_a_stale_calibration_are_refused() {
        let (w, c) = (Weights::default(), Calibration::default());
        assert!(matches!(
            Policy::new(w, c.clone(), 1.5, 0.1, 0.02),
            Err(PolicyError::Threshold { .. })
        ));
        assert!(matches!(
            Policy::new(w, c.clone(), 0.3, 0.6, 0.02),
            Err(PolicyError::Order { .. })
        ));
        let stale = Calibration {
            weights: vec![1.0; 3],
            features: vec!["dense".into()],
            ..c
        };
        assert!(matches!(
            Policy::new(w, stale, 0.5, 0.1, 0.02),
            Err(PolicyError::Features { .. })
        ));
    }

    #[test]
    fn a_policy_survives_a_round_trip_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, Policy::default().to_toml()).unwrap();
        assert_eq!(Policy::from_file(&path).unwrap(), Policy::default());
    }

    #[test]
    fn a_clear_winner_is_answered_and_a_tie_is_clarified() {
        let p = Policy::default();
        assert!(matches!(
            p.decide(&ranked(&[(0.95, 0.8), (0.85, 0.1)])),
            Decision::Answer { entry: 0, .. }
        ));
        let tie = ranked(&[(0.90, 0.3), (0.895, 0.3), (0.80, 0.0)]);
        match p.with_thresholds(1.0, 0.0).unwrap().decide(&tie) {
            Decision::Clarify { entries, .. } => assert_eq!(entries, vec![0, 1]),
            other => panic!("expected a clarification, got {other:?}"),
        }
    }

    fn constant(p: f32) -> Calibration {
        Calibration {
            bias: (p / (1.0 - p)).ln(),
            weights: vec![0.0; FEATURES.len()],
            ..Calibration::default()
        }
    }

    #[test]
    fn with_a_shortlist_model_its_probability_decides_the_clarification() {
        let tie = ranked(&[(0.90, 0.3), (0.895, 0.3), (0.80, 0.0)]);
        let strict = Policy::default().with_thresholds(1.0, 0.5).unwrap();
        let likely = strict.clone().with_shortlist(Some(constant(0.8))).unwrap();
        assert!(matches!(likely.decide(&tie), Decision::Clarify { .. }));
        let unlikely = strict.with_shortlist(Some(constant(0.2))).unwrap();
        assert!(matches!(unlikely.decide(&tie), Decision::HandOff { .. }));
        // On its own probability, the clarify threshold may exceed the answer threshold.
        assert!(likely.with_thresholds(0.3, 0.6).is_ok());
    }

    fn arb_ranked() -> impl Strategy<Value = Vec<Candidate>> {
        prop::collection::vec((0.5f32..1.0, 0.0f32..1.0), 0..6).prop_map(|v| ranked(&v))
    }

    proptest! {
        #[test]
        fn a_stricter_setting_never_turns_a_handoff_into_an_answer(
            cands in arb_ranked(), a in 0.0f32..=1.0, b in 0.0f32..=1.0, c in 0.0f32..=1.0,
            shortlist in prop::option::of(0.01f32..0.99),
        ) {
            let (loose, strict) = if a <= b { (a, b) } else { (b, a) };
            let clarify = if shortlist.is_some() { c } else { c.min(loose) };
            let base = Policy::default().with_shortlist(shortlist.map(constant)).unwrap();
            let loose_d = base.with_thresholds(loose, clarify).unwrap().decide(&cands);
            let strict_d = base.with_thresholds(strict, clarify).unwrap().decide(&cands);
            if let Decision::Answer { entry, .. } = strict_d {
                let same = matches!(loose_d, Decision::Answer { entry: e, .. } if e == entry);
                prop_assert!(same, "strict answers {entry}, loose decides {loose_d:?}");
            }
            if matches!(loose_d, Decision::HandOff { .. }) {
                let handed_off = matches!(strict_d, Decision::HandOff { .. });
                prop_assert!(handed_off, "loose hands off, strict decides {strict_d:?}");
            }
        }

        #[test]
        fn an_answer_is_always_the_leader_and_options_are_distinct_leaders(cands in arb_ranked(), t in 0.0f32..=1.0) {
            match Policy::default().with_thresholds(t, t / 2.0).unwrap().decide(&cands) {
                Decision::Answer { entry, .. } => prop_assert_eq!(entry, cands[0].entry),
                Decision::Clarify { entries, .. } => {
                    prop_assert!(!entries.is_empty() && entries.len() <= MAX_OPTIONS);
                    prop_assert_eq!(entries[0], cands[0].entry);
                    let mut d = entries.clone();
                    d.dedup();
                    prop_assert_eq!(d.len(), entries.len());
                }
                Decision::HandOff { .. } => {}
            }
        }
    }
}
