//! Lexical retrieval (BM25) next to the dense one: it catches acronyms and rare words
//! (PLU, FCC, a street name) that embeddings blur. Texts are folded and stemmed first.

use std::collections::HashMap;

use crate::text::Analyzer;

const K1: f32 = 1.2;
const B: f32 = 0.75;

/// A BM25 index over short documents, each owned by an entry.
pub struct Bm25 {
    analyzer: Analyzer,
    docs: Vec<Doc>,
    postings: HashMap<String, Vec<(u32, u16)>>,
    avg_len: f32,
}

struct Doc {
    entry: usize,
    len: u16,
}

impl Bm25 {
    /// `docs` are (entry index, text) pairs; an entry may own several documents.
    pub fn build(lang: &str, docs: impl IntoIterator<Item = (usize, String)>) -> Self {
        let analyzer = Analyzer::for_lang(lang);
        let mut postings: HashMap<String, Vec<(u32, u16)>> = HashMap::new();
        let mut stored = Vec::new();
        for (i, (entry, text)) in docs.into_iter().enumerate() {
            let terms = analyzer.terms(&text);
            let mut tf: HashMap<String, u16> = HashMap::new();
            for t in &terms {
                *tf.entry(t.clone()).or_default() += 1;
            }
            for (t, n) in tf {
                postings.entry(t).or_default().push((i as u32, n));
            }
            stored.push(Doc {
                entry,
                len: terms.len().min(u16::MAX as usize) as u16,
            });
        }
        let avg_len = if stored.is_empty() {
            1.0
        } else {
            stored.iter().map(|d| d.len as f32).sum::<f32>() / stored.len() as f32
        };
        Self {
            analyzer,
            docs: stored,
            postings,
            avg_len: avg_len.max(1.0),
        }
    }

    fn idf(&self, df: usize) -> f32 {
        let n = self.docs.len() as f32;
        ((n - df as f32 + 0.5) / (df as f32 + 0.5) + 1.0).ln()
    }

    /// Best BM25 score per entry (the max over its documents), and the highest score any
    /// document could reach for this query, to normalise scores into [0, 1].
    pub fn search(&self, query: &str) -> (HashMap<usize, f32>, f32) {
        let mut terms = self.analyzer.terms(query);
        terms.sort();
        terms.dedup();
        let mut per_doc: HashMap<u32, f32> = HashMap::new();
        let mut ceiling = 0.0;
        for t in &terms {
            let Some(list) = self.postings.get(t) else {
                continue;
            };
            let idf = self.idf(list.len());
            ceiling += idf * (K1 + 1.0);
            for &(doc, tf) in list {
                let len = self.docs[doc as usize].len as f32;
                let tf = tf as f32;
                let s = idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / self.avg_len));
                *per_doc.entry(doc).or_default() += s;
            }
        }
        let mut per_entry: HashMap<usize, f32> = HashMap::new();
        for (doc, s) in per_doc {
            let e = self.docs[doc as usize].entry;
            let best = per_entry.entry(e).or_default();
            *best = best.max(s);
        }
        (per_entry, ceiling)
    }

    /// Whether any word of `query` is known to the index at all.
    pub fn knows_any(&self, query: &str) -> bool {
        self.analyzer
            .terms(query)
            .iter()
            .any(|t| self.postings.contains_key(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rare_acronym_outweighs_common_words() {
        let idx = Bm25::build(
            "fr",
            vec![
                (0, "Comment consulter le PLU de la commune ?".to_string()),
                (1, "Comment consulter les menus de la cantine ?".to_string()),
                (
                    2,
                    "Comment consulter les horaires de la piscine ?".to_string(),
                ),
            ],
        );
        let (scores, ceiling) = idx.search("consulter plu");
        assert!(scores[&0] > scores.get(&1).copied().unwrap_or(0.0));
        assert!(scores[&0] <= ceiling);
        assert!(idx.knows_any("le plu"));
        assert!(!idx.knows_any("zzz"));
    }
}
