//! Retrieval: from a question to candidate entries with their signals. Four views of an
//! entry are searched: its phrasings (question, alternates, translated questions) and its
//! answer, each densely (e5 vectors, hnsw_rs; a long answer also by its passages) and
//! lexically (BM25, folded and stemmed).

use std::collections::HashMap;
use std::path::Path;

use unicode_segmentation::UnicodeSegmentation;

use crate::corpus::{Corpus, Entry};
use crate::embedder::{EmbedError, Embedder, Embedding, TextKind, embed_cached};
use crate::index::{IndexError, IndexParams, VectorIndex};
use crate::lexical::Bm25;

/// Nearest phrasings taken from the vector index per question.
const DENSE_K: usize = 40;
/// Nearest points taken from the answer index (whole answers and passages).
const ANSWER_K: usize = 20;
/// Entries taken from each lexical ranking.
const LEXICAL_K: usize = 15;

/// What retrieval knows of one entry for one question. Every signal is computed exactly
/// for every candidate, whichever view found it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Signals {
    /// Best cosine with one of the entry's phrasings.
    pub dense: f32,
    /// Best cosine with the entry's answer or one of its passages (the phrasing cosine
    /// when it has no answer text).
    pub dense_answer: f32,
    /// BM25 over phrasings, divided by what the query's known words could reach at most.
    pub lexical: f32,
    /// BM25 over the answer, normalised likewise.
    pub lexical_answer: f32,
}

/// The texts an entry is found by: its question, alternates and translated questions.
pub fn match_texts(entry: &Entry) -> impl Iterator<Item = &str> {
    std::iter::once(entry.question.as_str())
        .chain(entry.alternates.iter().map(String::as_str))
        .chain(entry.translations.values().map(|t| t.question.as_str()))
}

pub struct Retriever {
    phrasings: VectorIndex,
    /// Entry of each phrasing point.
    owners: Vec<usize>,
    /// Phrasing points of each entry.
    points_of: Vec<Vec<usize>>,
    /// Points of the entries' answers: the whole answer, and its passages when it is long;
    /// `answer_points_of[e]` are entry e's points.
    answers: VectorIndex,
    answer_points_of: Vec<Vec<usize>>,
    answer_owner: Vec<usize>,
    lexical_phrasings: Bm25,
    lexical_answers: Bm25,
}

impl Retriever {
    pub fn build(
        corpus: &Corpus,
        embedder: &dyn Embedder,
        cache: Option<&Path>,
        params: IndexParams,
    ) -> Result<Self, RetrievalError> {
        let lang = majority_lang(corpus);
        let mut texts = Vec::new();
        let mut owners = Vec::new();
        let mut points_of = vec![Vec::new(); corpus.entries().len()];
        for (i, entry) in corpus.entries().iter().enumerate() {
            for t in match_texts(entry) {
                points_of[i].push(texts.len());
                // Expanded like questions are, so "délais CNI" matches itself, not "CNI" entries.
                texts.push(corpus.glossary().expand(t));
                owners.push(i);
            }
        }
        let mut answer_texts = Vec::new();
        let mut answer_points_of = vec![Vec::new(); corpus.entries().len()];
        let mut answer_owner = Vec::new();
        for (i, entry) in corpus.entries().iter().enumerate() {
            for passage in answer_passages(&entry.answer) {
                answer_points_of[i].push(answer_texts.len());
                answer_texts.push(passage);
                answer_owner.push(i);
            }
        }
        let started = std::time::Instant::now();
        // Question against question is a symmetric match: e5 wants `query: ` on both sides;
        // question against answer is asymmetric: `passage: ` for the answer.
        let (phrasing_vectors, computed) = embed_cached(embedder, &texts, TextKind::Query, cache)?;
        let (answer_vectors, computed_answers) =
            embed_cached(embedder, &answer_texts, TextKind::Passage, cache)?;
        tracing::info!(
            phrasings = texts.len(),
            answers = answer_texts.len(),
            computed = computed + computed_answers,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "corpus embedded"
        );
        let lexical_phrasings = Bm25::build(&lang, owners.iter().copied().zip(texts));
        let whole_answers = corpus
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.answer.trim().is_empty())
            .map(|(i, e)| (i, e.answer.clone()));
        let lexical_answers = Bm25::build(&lang, whole_answers);
        Ok(Self {
            phrasings: VectorIndex::build(phrasing_vectors, params)?,
            owners,
            points_of,
            answers: VectorIndex::build(answer_vectors, params)?,
            answer_points_of,
            answer_owner,
            lexical_phrasings,
            lexical_answers,
        })
    }

    /// Candidate entries for a question (its text and its query embedding), unsorted.
    /// The vectors of every phrasing (questions, alternates, translated questions).
    pub fn phrasing_vectors(&self) -> impl Iterator<Item = &Embedding> {
        (0..self.phrasings.len()).map(|i| self.phrasings.point(i))
    }

    /// Entries whose phrasings or answer contain words of `text` (folded and stemmed, as
    /// matching does), best first: the lexical half of retrieval alone, for people who
    /// search the knowledge base by a word rather than ask. Scores are normalised as in
    /// [`Signals`]; an entry's score is the better of its two views.
    pub fn word_search(&self, text: &str) -> Vec<(usize, f32)> {
        let (lex_p, ceil_p) = self.lexical_phrasings.search(text);
        let (lex_a, ceil_a) = self.lexical_answers.search(text);
        let mut best: HashMap<usize, f32> = HashMap::new();
        for (scores, ceiling) in [(&lex_p, ceil_p), (&lex_a, ceil_a)] {
            if ceiling <= 0.0 {
                continue;
            }
            for (&e, &s) in scores {
                let v = best.entry(e).or_default();
                *v = v.max(s / ceiling);
            }
        }
        let mut ranked: Vec<(usize, f32)> = best.into_iter().filter(|(_, s)| *s > 0.0).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
    }

    pub fn candidates(&self, text: &str, query: &Embedding) -> Vec<(usize, Signals)> {
        let mut pool: Vec<usize> = Vec::new();
        pool.extend(
            self.phrasings
                .search(query, DENSE_K)
                .iter()
                .map(|h| self.owners[h.point]),
        );
        pool.extend(
            self.answers
                .search(query, ANSWER_K)
                .iter()
                .map(|h| self.answer_owner[h.point]),
        );
        let (lex_p, ceil_p) = self.lexical_phrasings.search(text);
        let (lex_a, ceil_a) = self.lexical_answers.search(text);
        for scores in [&lex_p, &lex_a] {
            let mut top: Vec<(usize, f32)> = scores.iter().map(|(e, s)| (*e, *s)).collect();
            top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            pool.extend(top.into_iter().take(LEXICAL_K).map(|(e, _)| e));
        }
        pool.sort_unstable();
        pool.dedup();
        let norm = |scores: &HashMap<usize, f32>, ceiling: f32, e: usize| {
            if ceiling > 0.0 {
                scores.get(&e).copied().unwrap_or(0.0) / ceiling
            } else {
                0.0
            }
        };
        pool.into_iter()
            .map(|e| {
                let dense = self.points_of[e]
                    .iter()
                    .map(|&p| query.dot(self.phrasings.point(p)))
                    .fold(f32::MIN, f32::max);
                let dense_answer = self.answer_points_of[e]
                    .iter()
                    .map(|&p| query.dot(self.answers.point(p)))
                    .reduce(f32::max)
                    .unwrap_or(dense);
                let signals = Signals {
                    dense,
                    dense_answer,
                    lexical: norm(&lex_p, ceil_p, e),
                    lexical_answer: norm(&lex_a, ceil_a, e),
                };
                (e, signals)
            })
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Longest passage of an answer embedded on its own, in words.
const PASSAGE_WORDS: usize = 60;

/// The texts an answer is found by: the whole answer, and when it is longer than one
/// passage, its runs of whole sentences of at most [`PASSAGE_WORDS`] words (a question
/// often matches one part of a long answer better than the whole). None when it is empty.
pub fn answer_passages(answer: &str) -> Vec<String> {
    if answer.trim().is_empty() {
        return Vec::new();
    }
    let mut passages = vec![answer.to_string()];
    let mut current = String::new();
    let mut words = 0;
    let mut split = Vec::new();
    for sentence in answer.split_sentence_bounds() {
        let n = sentence.split_whitespace().count();
        if words > 0 && words + n > PASSAGE_WORDS {
            split.push(std::mem::take(&mut current));
            words = 0;
        }
        current.push_str(sentence);
        words += n;
    }
    if words > 0 {
        split.push(current);
    }
    if split.len() > 1 {
        passages.extend(split.into_iter().map(|p| p.trim().to_string()));
    }
    passages
}

/// The language most entries are written in (it picks the stemmer).
pub fn majority_lang(corpus: &Corpus) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for e in corpus.entries() {
        *counts.entry(e.lang.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(l, n)| (*n, *l == "fr"))
        .map_or_else(|| "fr".to_string(), |(l, _)| l.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_answer_is_one_passage_and_an_empty_one_none() {
        assert!(answer_passages("").is_empty());
        assert!(answer_passages("  \n").is_empty());
        let short = "Le marché a lieu le samedi matin. Il ferme à 13 h.";
        assert_eq!(answer_passages(short), vec![short.to_string()]);
    }

    #[test]
    fn a_long_answer_is_kept_whole_and_cut_into_runs_of_whole_sentences() {
        let sentence = |i: usize| format!("Phrase {i} avec quelques mots de plus pour compter. ");
        let answer: String = (0..20).map(sentence).collect();
        let passages = answer_passages(&answer);
        assert_eq!(passages[0], answer, "the whole answer comes first");
        assert!(passages.len() > 2);
        for p in &passages[1..] {
            assert!(p.split_whitespace().count() <= PASSAGE_WORDS);
            assert!(
                p.starts_with("Phrase ") && p.ends_with('.'),
                "whole sentences: {p:?}"
            );
        }
        // Nothing is lost or repeated: the runs put back together are the answer.
        let joined: String = passages[1..].join(" ");
        assert_eq!(joined, answer.trim());
    }

    #[test]
    fn a_sentence_longer_than_a_passage_stays_whole() {
        let long = "mot ".repeat(PASSAGE_WORDS + 10);
        let answer = format!("{}. Fin.", long.trim());
        let passages = answer_passages(&answer);
        assert_eq!(passages.len(), 3);
        assert_eq!(passages[1], format!("{}.", long.trim()));
        assert_eq!(passages[2], "Fin.");
    }
}
