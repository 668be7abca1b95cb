//! Gap mining: the questions people asked that were handed off or clarified (already
//! redacted in the store), grouped by meaning, each group with its size, representative
//! questions, the nearest entry, and the service that should answer it when the evidence
//! is strong (else none: "à attribuer").
//!
//! A request for a person ("je veux parler à quelqu'un", the `human_phrases` of
//! `messages.toml`) is not a gap: no entry should answer it, so it is left out.
//!
//! Clustering is complete-linkage agglomerative (the `kodama` crate) on the cosine
//! dissimilarity of e5 query vectors centred on the knowledge base's phrasings, cut where
//! two groups hold a pair less similar than a threshold: every two questions of a group
//! are at least that close. e5 puts any two questions of one language close (raw cosines
//! of 0.8 to 0.9 for unrelated French questions), so single linkage chains topics through
//! intermediate questions, and average linkage on raw cosines let "inscription crèche" and
//! "jveux ma carte didentité" share a group. The linkage and threshold were chosen on the
//! labelled paraphrases of `../shared/data` (`tests/api/gaps.rs`, `gaps_purity_sweep`).
//! The similarity matrix is n x n, so the input is capped at [`MAX_QUESTIONS`] distinct
//! texts.
//!
//! A service is suggested for a group only when most of its central questions were placed
//! in that service by the engine itself: answered or offered a "did you mean" (so its
//! candidates were plausible), with its three leading candidates all in that service (the
//! rule the engine uses to pick the service of a hand-off). A question the engine handed
//! off had no entry close enough to tell, so it is no evidence for any service.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::embedder::{Embedding, TextKind};
use crate::engine::{Engine, EngineError};
use crate::policy::Decision;
use crate::text::fold;

/// Most recent unanswered questions read from the store for gap mining.
pub const MAX_STORED: usize = 20_000;
/// Most distinct questions clustered at once (the most frequent are kept).
pub const MAX_QUESTIONS: usize = 2000;
/// Two groups merge while every pair across them has at least this cosine, once centred
/// (see [`centred`]; e5-small, queries). Chosen on the labelled paraphrases of
/// `../shared/data` (`gaps_purity_sweep`): of the settings where groups are at least 80 %
/// pure on every set, the best pairwise F1. Complete linkage at 0.40: purity 0.96
/// (cnil_faq), 0.92 (covid en), 0.83 (covid de), 0.85 (hint3), pairwise F1 0.75, 0.70,
/// 0.43, 0.09; the former average linkage on raw cosines at 0.86 had purity 0.16, 0.26,
/// 0.46, 0.64 and F1 0.07, 0.08, 0.13, 0.23.
pub const DEFAULT_THRESHOLD: f32 = 0.40;
/// The linkage gap mining uses.
pub const LINKAGE: Linkage = Linkage::Complete;
/// Central questions of a group whose engine decisions are weighed to suggest a service.
const EVIDENCE: usize = 5;
/// Leading candidates of a question that must share a service for it to place there.
const AGREEING: usize = 3;
/// Representative questions shown per gap.
const REPRESENTATIVES: usize = 3;

/// One unanswered question, as stored (redacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Asked {
    pub text: String,
    /// `handoff` or `clarify`.
    pub outcome: Option<crate::reply::Outcome>,
}

impl From<crate::store::Turn> for Asked {
    fn from(t: crate::store::Turn) -> Self {
        Self {
            text: t.text,
            outcome: t.outcome,
        }
    }
}

/// The entry nearest to a gap's most central question: a lead for whoever writes the
/// answer, not an attribution (see [`Gap::service`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Closest {
    pub id: String,
    pub score: f32,
}

/// How many of a group's central questions the engine placed in the suggested service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub agree: usize,
    pub of: usize,
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
    /// The service key that should write the answer, only on strong evidence; `None`
    /// (JSON `null`) is "à attribuer": an agent decides.
    pub service: Option<String>,
    /// For the best-supported service (suggested or not): how many of the central
    /// questions point to it.
    pub evidence: Evidence,
}

/// The unanswered questions that ask for a person: not gaps (how many were left out).
pub fn requests_for_a_person(engine: &Engine, asked: &[Asked]) -> usize {
    asked
        .iter()
        .filter(|a| engine.asks_for_a_person(&a.text))
        .count()
}

/// The service the engine placed one question in, if it did: it answered or offered a
/// "did you mean", and its three leading candidates belong to that one service.
fn placed_in(engine: &Engine, question: &str) -> Result<Option<String>, EngineError> {
    let candidates = engine.retrieve(question)?;
    if let Decision::HandOff { .. } = engine.policy().decide(&candidates) {
        return Ok(None);
    }
    let corpus = engine.corpus();
    let mut services = candidates
        .iter()
        .take(AGREEING)
        .map(|c| &corpus.entry(c.entry).service);
    let first = services.next();
    Ok(first.filter(|f| services.all(|s| s == *f)).cloned())
}

/// The service most central questions were placed in, kept only when at least two
/// thirds of them agree on it.
pub fn attribute(placed: &[Option<String>]) -> (Option<String>, Evidence) {
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for s in placed.iter().flatten() {
        *votes.entry(s.as_str()).or_default() += 1;
    }
    let best = votes
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)));
    let of = placed.len();
    match best {
        Some((service, agree)) => {
            let strong = agree * 3 >= of * 2;
            (strong.then(|| service.to_string()), Evidence { agree, of })
        }
        None => (None, Evidence { agree: 0, of }),
    }
}

/// Groups `asked` by meaning; largest gaps first.
pub fn mine(engine: &Engine, asked: &[Asked], threshold: f32) -> Result<Vec<Gap>, EngineError> {
    Ok(mine_members(engine, asked, threshold)?
        .into_iter()
        .map(|(gap, _)| gap)
        .collect())
}

/// One distinct question of a group (texts equal once folded count as one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// As stored (redacted), the first spelling seen.
    pub text: String,
    pub handed_off: usize,
    pub clarified: usize,
}

/// [`mine`], with every distinct question of each group, most central first (the
/// console's training page lists them all for an editor to attach or dismiss).
pub fn mine_members(
    engine: &Engine,
    asked: &[Asked],
    threshold: f32,
) -> Result<Vec<(Gap, Vec<Member>)>, EngineError> {
    // Distinct texts (by folded form), with how often and how each was left unanswered.
    let mut distinct: BTreeMap<String, (String, usize, usize)> = BTreeMap::new();
    for a in asked {
        let text = a.text.trim();
        if text.is_empty() || engine.asks_for_a_person(text) {
            continue;
        }
        let slot = distinct
            .entry(fold(text))
            .or_insert_with(|| (text.to_string(), 0, 0));
        if a.outcome == Some(crate::reply::Outcome::Clarify) {
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
    let vectors = match mean(engine.phrasing_vectors()) {
        Some(m) => centred(&vectors, &m),
        None => vectors,
    };
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
            .map(|c| Closest {
                id: engine.corpus().entry(c.entry).id.to_string(),
                score: c.score,
            });
        let placed: Vec<Option<String>> = central
            .iter()
            .take(EVIDENCE)
            .map(|&i| placed_in(engine, &items[i].0))
            .collect::<Result<_, _>>()?;
        let (service, evidence) = attribute(&placed);
        let listed = central
            .iter()
            .map(|&i| Member {
                text: items[i].0.clone(),
                handed_off: items[i].1,
                clarified: items[i].2,
            })
            .collect();
        gaps.push((
            Gap {
                size: members.iter().map(|&i| items[i].1 + items[i].2).sum(),
                handed_off: members.iter().map(|&i| items[i].1).sum(),
                clarified: members.iter().map(|&i| items[i].2).sum(),
                representatives,
                closest,
                service,
                evidence,
            },
            listed,
        ));
    }
    gaps.sort_by(|(a, _), (b, _)| {
        b.size
            .cmp(&a.size)
            .then(a.representatives.cmp(&b.representatives))
    });
    Ok(gaps)
}

/// The mean of `vectors` (none when there are none).
pub fn mean<'a>(vectors: impl Iterator<Item = &'a Embedding>) -> Option<Vec<f32>> {
    let mut sum: Vec<f32> = Vec::new();
    let mut n = 0usize;
    for v in vectors {
        if sum.is_empty() {
            sum = vec![0.0; v.dim()];
        }
        for (s, x) in sum.iter_mut().zip(v.as_slice()) {
            *s += x;
        }
        n += 1;
    }
    (n > 0).then(|| sum.into_iter().map(|s| s / n as f32).collect())
}

/// `vectors` less `mean`, normalised again. e5 puts every question of a language in one
/// narrow cone (any two French questions have a cosine above 0.75), so raw cosines tell
/// topics apart by a few hundredths; less the mean of the knowledge base's phrasings,
/// what is left is what sets a question apart from any other question of the domain.
/// A vector equal to the mean is kept as it was.
pub fn centred(vectors: &[Embedding], mean: &[f32]) -> Vec<Embedding> {
    vectors
        .iter()
        .map(|v| {
            let less: Vec<f32> = v.as_slice().iter().zip(mean).map(|(x, m)| x - m).collect();
            Embedding::new(less).unwrap_or_else(|_| v.clone())
        })
        .collect()
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

/// Agglomerative clustering (kodama, [`LINKAGE`]) on cosine dissimilarity `1 - cos`, with
/// the dendrogram cut at `1 - threshold`: groups merge while their linkage similarity is
/// at least `threshold`. Returns groups of indices, each sorted, in order of their first
/// member.
pub fn cluster(vectors: &[Embedding], threshold: f32) -> Vec<Vec<usize>> {
    cluster_with(vectors, threshold, LINKAGE)
}

/// How the similarity of two groups is measured when deciding to merge them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    /// The mean similarity over every pair across the two groups.
    Average,
    /// The least similar pair across the two groups: every pair in a group is at least
    /// the threshold apart.
    Complete,
}

/// [`cluster`] with another linkage (for the purity evaluation).
pub fn cluster_with(vectors: &[Embedding], threshold: f32, linkage: Linkage) -> Vec<Vec<usize>> {
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
    let method = match linkage {
        Linkage::Average => kodama::Method::Average,
        Linkage::Complete => kodama::Method::Complete,
    };
    let dendrogram = kodama::linkage(&mut condensed, n, method);
    let cut = 1.0 - f64::from(threshold);
    // Step k creates cluster n + k from two earlier ones. Both linkages are monotone, so
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

/// How well groups match known labels (questions with one label mean the same thing).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClusterScores {
    pub items: usize,
    pub labels: usize,
    pub groups: usize,
    /// Share of items whose group's most common label is theirs: 1 when no group mixes
    /// meanings (singletons score 1, so read it with the next three).
    pub purity: f64,
    /// Share of items whose label's largest group holds them: 1 when no meaning is split.
    pub inverse_purity: f64,
    /// Of the pairs put in one group, the share that share a label.
    pub pair_precision: f64,
    /// Of the pairs that share a label, the share put in one group.
    pub pair_recall: f64,
    pub pair_f1: f64,
}

/// Scores `groups` (indices into `labels`) against `labels`.
pub fn cluster_scores<L: Ord>(groups: &[Vec<usize>], labels: &[L]) -> ClusterScores {
    let n = labels.len();
    let pairs = |k: usize| (k * k.saturating_sub(1) / 2) as f64;
    let mut by_label: BTreeMap<&L, BTreeMap<usize, usize>> = BTreeMap::new();
    let (mut majority, mut grouped_pairs, mut same_pairs) = (0, 0.0, 0.0);
    for (g, members) in groups.iter().enumerate() {
        let mut counts: BTreeMap<&L, usize> = BTreeMap::new();
        for &i in members {
            *counts.entry(&labels[i]).or_default() += 1;
            *by_label
                .entry(&labels[i])
                .or_default()
                .entry(g)
                .or_default() += 1;
        }
        majority += counts.values().max().copied().unwrap_or(0);
        grouped_pairs += pairs(members.len());
        same_pairs += counts.values().map(|&c| pairs(c)).sum::<f64>();
    }
    let inverse: usize = by_label
        .values()
        .map(|gs| gs.values().max().copied().unwrap_or(0))
        .sum();
    let label_pairs: f64 = by_label.values().map(|gs| pairs(gs.values().sum())).sum();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 1.0 };
    let pair_precision = ratio(same_pairs, grouped_pairs);
    let pair_recall = ratio(same_pairs, label_pairs);
    let pair_f1 = if pair_precision + pair_recall > 0.0 {
        2.0 * pair_precision * pair_recall / (pair_precision + pair_recall)
    } else {
        0.0
    };
    ClusterScores {
        items: n,
        labels: by_label.len(),
        groups: groups.len(),
        purity: ratio(majority as f64, n as f64),
        inverse_purity: ratio(inverse as f64, n as f64),
        pair_precision,
        pair_recall,
        pair_f1,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The slow oracle: recompute every linkage similarity between groups (the mean, or
    /// the least, over the pairs across them), merge the best pair while it is at least
    /// `threshold`.
    fn naive(vectors: &[Embedding], threshold: f32, linkage: Linkage) -> Vec<Vec<usize>> {
        let mut groups: Vec<Vec<usize>> = (0..vectors.len()).map(|i| vec![i]).collect();
        loop {
            let mut best: Option<(usize, usize, f64)> = None;
            for a in 0..groups.len() {
                for b in (a + 1)..groups.len() {
                    let mut sum = 0.0;
                    let mut least = f64::INFINITY;
                    for &i in &groups[a] {
                        for &j in &groups[b] {
                            let sim = f64::from(vectors[i].dot(&vectors[j]));
                            sum += sim;
                            least = least.min(sim);
                        }
                    }
                    let mean = match linkage {
                        Linkage::Average => sum / (groups[a].len() * groups[b].len()) as f64,
                        Linkage::Complete => least,
                    };
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
        fn kodama_agrees_with_the_slow_oracle_for_both_linkages(
            raw in prop::collection::vec(prop::collection::vec(0.05f32..1.0, 4), 0..14),
            threshold in 0.80f32..0.99,
        ) {
            let vectors: Vec<Embedding> = raw.into_iter().map(|x| Embedding::new(x).unwrap()).collect();
            for linkage in [Linkage::Average, Linkage::Complete] {
                prop_assert_eq!(
                    cluster_with(&vectors, threshold, linkage),
                    naive(&vectors, threshold, linkage)
                );
            }
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
    fn the_linkage_does_not_chain_through_an_intermediate() {
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
        let avg = |t| cluster_with(&all, t, Linkage::Average);
        assert_eq!(avg(0.9), vec![vec![0, 1, 2], vec![3]]);
        assert_eq!(avg(0.75), vec![vec![0, 1, 2, 3]]);
        assert_eq!(avg(0.999).len(), 4);
    }

    #[test]
    fn gaps_complete_linkage_keeps_apart_what_the_mean_would_join() {
        // a ~ b and a ~ c, but b and c are 0.78 apart: joining c to {a, b} has a mean of
        // 0.86, which passes 0.85, and a least similar pair of 0.78, which does not.
        let a = v(&[1.0, 0.0, 0.0]);
        let b = v(&[0.95, 0.3122, 0.0]);
        let c = v(&[0.936, -0.352, 0.0]);
        let (ab, ac, bc) = (a.dot(&b), a.dot(&c), b.dot(&c));
        assert!(ab > 0.9 && ac > 0.9 && bc < 0.8, "{ab} {ac} {bc}");
        let all = [a, b, c];
        assert_eq!(
            cluster_with(&all, 0.85, Linkage::Average),
            vec![vec![0, 1, 2]]
        );
        assert_eq!(
            cluster_with(&all, 0.85, Linkage::Complete),
            vec![vec![0, 1], vec![2]]
        );
        assert_eq!(cluster(&all, 0.85), cluster_with(&all, 0.85, LINKAGE));
    }

    #[test]
    fn gaps_a_service_needs_two_thirds_of_the_central_questions() {
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            attribute(&[s("social"), s("social"), None]),
            (s("social"), Evidence { agree: 2, of: 3 })
        );
        assert_eq!(
            attribute(&[s("social"), s("titres"), None]),
            (None, Evidence { agree: 1, of: 3 })
        );
        assert_eq!(attribute(&[None]), (None, Evidence { agree: 0, of: 1 }));
        assert_eq!(attribute(&[s("voirie")]).0, s("voirie"));
        assert_eq!(attribute(&[s("voirie"), None]).0, None);
    }

    #[test]
    fn gaps_cluster_scores_count_purity_fragmentation_and_pairs() {
        let labels = ["a", "a", "a", "b", "b", "c"];
        // One mixed group {a, a, b}, a stray a, {b}, {c}.
        let s = cluster_scores(&[vec![0, 1, 3], vec![2], vec![4], vec![5]], &labels);
        assert_eq!((s.items, s.labels, s.groups), (6, 3, 4));
        assert!((s.purity - 5.0 / 6.0).abs() < 1e-9, "{s:?}");
        assert!((s.inverse_purity - 4.0 / 6.0).abs() < 1e-9, "{s:?}");
        // Grouped pairs: 3 (one same-label); same-label pairs: a 3 + b 1.
        assert!((s.pair_precision - 1.0 / 3.0).abs() < 1e-9, "{s:?}");
        assert!((s.pair_recall - 1.0 / 4.0).abs() < 1e-9, "{s:?}");
        let singletons: Vec<Vec<usize>> = (0..6).map(|i| vec![i]).collect();
        let s = cluster_scores(&singletons, &labels);
        assert_eq!((s.purity, s.pair_recall), (1.0, 0.0));
        assert!((s.inverse_purity - 3.0 / 6.0).abs() < 1e-9);
    }
}
