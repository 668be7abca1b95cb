//! Gap mining: the questions people asked that were handed off or clarified (already
//! redacted in the store), grouped by meaning, each group with its size, representative
//! questions and the closest existing entry (whose service owns the gap).
//!
//! Clustering is average-linkage agglomerative (the `kodama` crate) on the cosine
//! dissimilarity of e5 query vectors, cut where the two closest groups are less similar
//! than a threshold. Average linkage
//! rather than single linkage: e5 puts any two French questions fairly close, so single
//! linkage chains unrelated topics together through intermediate questions. The
//! similarity matrix is n x n, so the input is capped at [`MAX_QUESTIONS`] distinct texts.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::embedder::{Embedding, TextKind};
use crate::engine::{Engine, EngineError};
use crate::text::fold;

/// Most recent unanswered questions read from the store for gap mining.
pub const MAX_STORED: usize = 20_000;
/// Most distinct questions clustered at once (the most frequent are kept).
pub const MAX_QUESTIONS: usize = 2000;
/// Two groups merge while their average cosine is at least this (e5-small, queries).
pub const DEFAULT_THRESHOLD: f32 = 0.86;
/// Representative questions shown per gap.
const REPRESENTATIVES: usize = 3;

/// One unanswered question, as stored (redacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Asked {
    pub text: String,
    /// `handoff` or `clarify`.
    pub outcome: String,
}

impl From<crate::store::Turn> for Asked {
    fn from(t: crate::store::Turn) -> Self {
        Self {
            text: t.text,
            outcome: t.outcome.unwrap_or_default(),
        }
    }
}

/// The entry nearest to a gap: it is probably the service that should write the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Closest {
    pub id: String,
    pub service: String,
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    /// Questions in the group, repeats included.
    pub size: usize,
    pub handed_off: usize,
    pub clarified: usize,
    /// The questions nearest the group's centre, most central first.
    pub representatives: Vec<String>,
    pub closest: Option<Closest>,
}

/// Groups `asked` by meaning; largest gaps first.
pub fn mine(engine: &Engine, asked: &[Asked], threshold: f32) -> Result<Vec<Gap>, EngineError> {
    // Distinct texts (by folded form), with how often and how each was left unanswered.
    let mut distinct: BTreeMap<String, (String, usize, usize)> = BTreeMap::new();
    for a in asked {
        let text = a.text.trim();
        if text.is_empty() {
            continue;
        }
        let slot = distinct
            .entry(fold(text))
            .or_insert_with(|| (text.to_string(), 0, 0));
        if a.outcome == "clarify" {
            slot.2 += 1;
        } else {
            slot.1 += 1;
        }
    }
    let mut items: Vec<(String, usize, usize)> = distinct.into_values().collect();
    items.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then(a.0.cmp(&b.0)));
    items.truncate(MAX_QUESTIONS);
    let embedder = engine.embedder();
    let vectors: Vec<Embedding> = items
        .iter()
        .map(|(t, _, _)| embedder.embed(t, TextKind::Query))
        .collect::<Result<_, _>>()?;
    let mut gaps = Vec::new();
    for members in cluster(&vectors, threshold) {
        let central = by_centrality(&vectors, &members);
        let representatives: Vec<String> = central
            .iter()
            .take(REPRESENTATIVES)
            .map(|&i| items[i].0.clone())
            .collect();
        let closest = engine
            .retrieve(&representatives[0])?
            .into_iter()
            .next()
            .map(|c| {
                let e = engine.corpus().entry(c.entry);
                Closest {
                    id: e.id.to_string(),
                    service: e.service.clone(),
                    score: c.score,
                }
            });
        gaps.push(Gap {
            size: members.iter().map(|&i| items[i].1 + items[i].2).sum(),
            handed_off: members.iter().map(|&i| items[i].1).sum(),
            clarified: members.iter().map(|&i| items[i].2).sum(),
            representatives,
            closest,
        });
    }
    gaps.sort_by(|a, b| {
        b.size
            .cmp(&a.size)
            .then(a.representatives.cmp(&b.representatives))
    });
    Ok(gaps)
}

/// Members ordered by cosine with their (unnormalised) mean vector, highest first.
fn by_centrality(vectors: &[Embedding], members: &[usize]) -> Vec<usize> {
    let dim = vectors[members[0]].dim();
    let mut centre = vec![0f32; dim];
    for &m in members {
        for (c, x) in centre.iter_mut().zip(vectors[m].as_slice()) {
            *c += x;
        }
    }
    let score = |m: usize| -> f32 {
        vectors[m]
            .as_slice()
            .iter()
            .zip(&centre)
            .map(|(a, b)| a * b)
            .sum()
    };
    let mut ordered = members.to_vec();
    ordered.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
    ordered
}

/// Average-linkage agglomerative clustering (kodama) on cosine dissimilarity `1 - cos`,
/// with the dendrogram cut at `1 - threshold`: groups merge while their mean pairwise
/// similarity is at least `threshold`. Returns groups of indices, each sorted, in order of
/// their first member.
pub fn cluster(vectors: &[Embedding], threshold: f32) -> Vec<Vec<usize>> {
    let n = vectors.len();
    if n < 2 {
        return (0..n).map(|i| vec![i]).collect();
    }
    let mut condensed = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in (i + 1)..n {
            // Rounding can push a cosine a hair past 1; a dissimilarity stays >= 0.
            condensed.push((1.0 - f64::from(vectors[i].dot(&vectors[j]))).max(0.0));
        }
    }
    let dendrogram = kodama::linkage(&mut condensed, n, kodama::Method::Average);
    let cut = 1.0 - f64::from(threshold);
    // Step k creates cluster n + k from two earlier ones. Average linkage is monotone, so
    // the steps under the cut form whole subtrees: joining them gives the groups.
    let mut parent: Vec<usize> = (0..2 * n - 1).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for (k, step) in dendrogram.steps().iter().enumerate() {
        if step.dissimilarity <= cut {
            for child in [step.cluster1, step.cluster2] {
                let r = root(&mut parent, child);
                parent[r] = n + k;
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    groups.sort_by_key(|g| g[0]);
    groups
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The slow oracle: recompute every mean pairwise similarity between groups, merge the
    /// best pair while it is at least `threshold`.
    fn naive(vectors: &[Embedding], threshold: f32) -> Vec<Vec<usize>> {
        let mut groups: Vec<Vec<usize>> = (0..vectors.len()).map(|i| vec![i]).collect();
        loop {
            let mut best: Option<(usize, usize, f64)> = None;
            for a in 0..groups.len() {
                for b in (a + 1)..groups.len() {
                    let mut sum = 0.0;
                    for &i in &groups[a] {
                        for &j in &groups[b] {
                            sum += f64::from(vectors[i].dot(&vectors[j]));
                        }
                    }
                    let mean = sum / (groups[a].len() * groups[b].len()) as f64;
                    if best.is_none_or(|(_, _, m)| mean > m) {
                        best = Some((a, b, mean));
                    }
                }
            }
            match best {
                Some((a, b, mean)) if mean >= f64::from(threshold) => {
                    let moved = groups.remove(b);
                    groups[a].extend(moved);
                }
                _ => break,
            }
        }
        for g in &mut groups {
            g.sort_unstable();
        }
        groups.sort_by_key(|g| g[0]);
        groups
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn kodama_average_linkage_agrees_with_the_slow_oracle(
            raw in prop::collection::vec(prop::collection::vec(0.05f32..1.0, 4), 0..14),
            threshold in 0.80f32..0.99,
        ) {
            let vectors: Vec<Embedding> = raw.into_iter().map(|x| Embedding::new(x).unwrap()).collect();
            prop_assert_eq!(cluster(&vectors, threshold), naive(&vectors, threshold));
        }
    }

    fn v(x: &[f32]) -> Embedding {
        Embedding::new(x.to_vec()).unwrap()
    }

    #[test]
    fn close_vectors_group_and_distant_ones_stay_apart() {
        let vectors = [
            v(&[1.0, 0.0, 0.0]),
            v(&[0.0, 1.0, 0.0]),
            v(&[0.98, 0.1, 0.0]),
            v(&[0.0, 0.99, 0.1]),
            v(&[0.0, 0.0, 1.0]),
        ];
        assert_eq!(
            cluster(&vectors, 0.9),
            vec![vec![0, 2], vec![1, 3], vec![4]]
        );
    }

    #[test]
    fn average_linkage_does_not_chain_through_an_intermediate() {
        // a ~ b and b ~ c, but a and c are far apart: single linkage would make one group.
        let a = v(&[1.0, 0.0]);
        let b = v(&[0.92, 0.39]);
        let c = v(&[0.7, 0.714]);
        assert!(a.dot(&b) > 0.9 && b.dot(&c) > 0.9 && a.dot(&c) < 0.75);
        assert_eq!(cluster(&[a, b, c], 0.9).len(), 2);
    }

    #[test]
    fn nothing_in_gives_no_group_and_one_in_gives_one() {
        assert!(cluster(&[], 0.5).is_empty());
        assert_eq!(cluster(&[v(&[1.0, 0.0])], 0.5), vec![vec![0]]);
    }

    #[test]
    fn groups_merge_by_mean_similarity_at_the_threshold() {
        // a, b, c close together; d is 0.8 from each: the mean over the group is 0.8.
        let a = v(&[1.0, 0.0, 0.0]);
        let b = v(&[0.99, 0.141, 0.0]);
        let c = v(&[0.99, -0.141, 0.0]);
        let d = v(&[0.8, 0.0, 0.6]);
        let all = [a, b, c, d];
        assert_eq!(cluster(&all, 0.9), vec![vec![0, 1, 2], vec![3]]);
        assert_eq!(cluster(&all, 0.75), vec![vec![0, 1, 2, 3]]);
        assert_eq!(cluster(&all, 0.999).len(), 4);
    }
}
