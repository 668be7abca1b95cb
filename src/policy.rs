//! The decision, pure and synchronous: from scored candidates to answer, clarify or hand
//! off. A calibrated model turns the features of the best candidate into the probability
//! that answering with it is right; strictness is a threshold on that probability.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// What retrieval says about one entry.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Candidate {
    pub entry: usize,
    /// Best cosine between the question and one of the entry's texts.
    pub dense: f32,
    /// BM25 of the entry, normalised into [0, 1] by the query's ceiling.
    pub lexical: f32,
    /// Reciprocal-rank fusion of both rankings; candidates are sorted by it.
    pub fused: f32,
}

/// Features of the leading candidate, in the order of [`Calibration::weights`].
pub const FEATURES: [&str; 6] = [
    "dense",
    "dense_margin",
    "lexical",
    "lexical_margin",
    "agree",
    "fused_margin",
];

pub fn features(candidates: &[Candidate]) -> Option<[f32; 6]> {
    let top = candidates.first()?;
    let second = candidates.get(1);
    let dense_second = candidates
        .iter()
        .skip(1)
        .map(|c| c.dense)
        .fold(f32::MIN, f32::max);
    let lexical_second = candidates
        .iter()
        .skip(1)
        .map(|c| c.lexical)
        .fold(0.0, f32::max);
    let best_dense = candidates
        .iter()
        .max_by(|a, b| a.dense.total_cmp(&b.dense))
        .map(|c| c.entry);
    let best_lexical = candidates
        .iter()
        .max_by(|a, b| a.lexical.total_cmp(&b.lexical))
        .filter(|c| c.lexical > 0.0)
        .map(|c| c.entry);
    let agree = best_dense == Some(top.entry) && best_lexical == Some(top.entry);
    Some([
        top.dense,
        if second.is_some() {
            top.dense - dense_second
        } else {
            top.dense
        },
        top.lexical,
        top.lexical - lexical_second,
        if agree { 1.0 } else { 0.0 },
        top.fused - second.map_or(0.0, |c| c.fused),
    ])
}

/// Logistic model: P(right) = sigmoid(bias + weights . features).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub bias: f32,
    pub weights: [f32; 6],
    /// Where the coefficients came from (data sets, command, date).
    #[serde(default)]
    pub provenance: String,
}

impl Default for Calibration {
    /// Hand-set until fitted: leans on the dense score and the margin.
    fn default() -> Self {
        Self {
            bias: -70.0,
            weights: [75.0, 60.0, 2.0, 2.0, 1.0, 0.0],
            provenance: "hand-set default, not fitted".into(),
        }
    }
}

impl Calibration {
    pub fn probability(&self, f: &[f32; 6]) -> f32 {
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
    #[error("cannot read policy file {path}: {detail}")]
    File { path: String, detail: String },
}

/// The decision parameters, built only through [`Policy::new`], which checks them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    calibration: Calibration,
    /// Answer when P(right) is at least this.
    answer_threshold: f32,
    /// Below the answer threshold, offer a "did you mean" when P(right) is at least this.
    clarify_threshold: f32,
    /// Offer other entries whose dense score is within this of the best one.
    clarify_window: f32,
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

impl Policy {
    pub fn new(
        calibration: Calibration,
        answer_threshold: f32,
        clarify_threshold: f32,
        clarify_window: f32,
    ) -> Result<Self, PolicyError> {
        for (name, value) in [
            ("answer_threshold", answer_threshold),
            ("clarify_threshold", clarify_threshold),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(PolicyError::Threshold { name, value });
            }
        }
        if clarify_threshold > answer_threshold {
            return Err(PolicyError::Order {
                clarify: clarify_threshold,
                answer: answer_threshold,
            });
        }
        if !(0.0..=1.0).contains(&clarify_window) {
            return Err(PolicyError::Threshold {
                name: "clarify_window",
                value: clarify_window,
            });
        }
        Ok(Self {
            calibration,
            answer_threshold,
            clarify_threshold,
            clarify_window,
        })
    }

    /// Reads a policy file (TOML), checking it like [`Policy::new`].
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::File {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        let p: Policy = toml::from_str(&text).map_err(|e| PolicyError::File {
            path: path.display().to_string(),
            detail: e.message().to_string(),
        })?;
        Self::new(
            p.calibration,
            p.answer_threshold,
            p.clarify_threshold,
            p.clarify_window,
        )
    }

    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    pub fn answer_threshold(&self) -> f32 {
        self.answer_threshold
    }

    /// The same policy, stricter or looser (used to trace a coverage / wrong-answer curve).
    pub fn with_thresholds(&self, answer: f32, clarify: f32) -> Result<Self, PolicyError> {
        Self::new(
            self.calibration.clone(),
            answer,
            clarify,
            self.clarify_window,
        )
    }

    /// Candidates must come sorted by `fused`, best first.
    pub fn decide(&self, candidates: &[Candidate]) -> Decision {
        let Some(f) = features(candidates) else {
            return Decision::HandOff { confidence: 0.0 };
        };
        let confidence = self.calibration.probability(&f);
        let top = candidates[0];
        if confidence >= self.answer_threshold {
            return Decision::Answer {
                entry: top.entry,
                confidence,
            };
        }
        if confidence >= self.clarify_threshold {
            let mut options = vec![top.entry];
            let best_dense = candidates.iter().map(|c| c.dense).fold(f32::MIN, f32::max);
            for c in &candidates[1..] {
                if options.len() == MAX_OPTIONS {
                    break;
                }
                if c.dense >= best_dense - self.clarify_window {
                    options.push(c.entry);
                }
            }
            if options.len() >= 2 {
                return Decision::Clarify {
                    entries: options,
                    confidence,
                };
            }
        }
        Decision::HandOff { confidence }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::new(Calibration::default(), 0.5, 0.15, 0.02).expect("default thresholds are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn candidate(entry: usize, dense: f32, lexical: f32, fused: f32) -> Candidate {
        Candidate {
            entry,
            dense,
            lexical,
            fused,
        }
    }

    #[test]
    fn an_empty_candidate_list_always_hands_off() {
        for t in [0.0, 0.3, 1.0] {
            let p = Policy::default().with_thresholds(t, 0.0).unwrap();
            assert!(matches!(p.decide(&[]), Decision::HandOff { .. }));
        }
    }

    #[test]
    fn thresholds_out_of_range_or_out_of_order_are_refused() {
        assert!(Policy::new(Calibration::default(), 1.5, 0.1, 0.02).is_err());
        assert!(Policy::new(Calibration::default(), 0.3, 0.6, 0.02).is_err());
    }

    #[test]
    fn a_clear_winner_is_answered_and_a_tie_is_clarified() {
        let p = Policy::default();
        let clear = [candidate(0, 0.95, 0.8, 0.03), candidate(1, 0.85, 0.1, 0.02)];
        assert!(matches!(
            p.decide(&clear),
            Decision::Answer { entry: 0, .. }
        ));
        let tie = [
            candidate(0, 0.90, 0.3, 0.03),
            candidate(1, 0.895, 0.3, 0.029),
            candidate(2, 0.80, 0.0, 0.01),
        ];
        match p.with_thresholds(0.99, 0.01).unwrap().decide(&tie) {
            Decision::Clarify { entries, .. } => assert_eq!(entries, vec![0, 1]),
            other => panic!("expected a clarification, got {other:?}"),
        }
    }

    fn arb_candidates() -> impl Strategy<Value = Vec<Candidate>> {
        prop::collection::vec((0.5f32..1.0, 0.0f32..1.0, 0.0f32..0.04), 0..6).prop_map(|v| {
            let mut c: Vec<Candidate> = v
                .into_iter()
                .enumerate()
                .map(|(i, (d, l, f))| candidate(i, d, l, f))
                .collect();
            c.sort_by(|a, b| b.fused.total_cmp(&a.fused));
            c
        })
    }

    proptest! {
        #[test]
        fn a_stricter_setting_never_turns_a_handoff_into_an_answer(
            cands in arb_candidates(), a in 0.0f32..1.0, b in 0.0f32..1.0, c in 0.0f32..1.0,
        ) {
            let (loose, strict) = if a <= b { (a, b) } else { (b, a) };
            let clarify = c.min(loose);
            let loose_p = Policy::default().with_thresholds(loose, clarify).unwrap();
            let strict_p = Policy::default().with_thresholds(strict, clarify).unwrap();
            let answered_strict = matches!(strict_p.decide(&cands), Decision::Answer { .. });
            let answered_loose = matches!(loose_p.decide(&cands), Decision::Answer { .. });
            prop_assert!(!answered_strict || answered_loose);
            if let Decision::Answer { entry, .. } = strict_p.decide(&cands) {
                prop_assert_eq!(loose_p.decide(&cands), Decision::Answer { entry, confidence: loose_p.calibration().probability(&features(&cands).unwrap()) });
            }
        }
    }
}
