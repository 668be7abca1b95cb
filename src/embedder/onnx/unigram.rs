//! The XLM-R tokenizer's Unigram model, held compactly: the same pieces, scores and
//! Viterbi search as `tokenizers`' own `Unigram`, which keeps its 250,002 pieces in a
//! trie of one hash map per byte (~280 MiB, most of a load's time to build). Here the
//! pieces are one string, their ends and scores two arrays, and the prefix search a
//! binary search over the piece ids sorted by their bytes (~6 MiB).
//!
//! `tokenizers`' `TokenizerImpl` takes any model: the normaliser (the precompiled
//! character map), the Metaspace pre-tokeniser, the template post-processor and the added
//! tokens stay `tokenizers`' own, read from the same tokenizer.json. The test
//! `tokenizer_ids_are_those_of_tokenizers_unigram` (tests/api/embedder.rs) checks the ids
//! against `tokenizers`' model over the corpus and the evaluation FAQs.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use tokenizers::models::unigram::UnigramTrainer;
use tokenizers::{DecoderWrapper, Model, NormalizerWrapper, PostProcessorWrapper};
use tokenizers::{PreTokenizerWrapper, Token, TokenizerImpl};

/// A tokenizer.json read with this model.
pub type CompactTokenizer = TokenizerImpl<
    Unigram,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

/// What an unknown character scores below the lowest piece (sentencepiece's
/// `kUnkPenalty`, as in `tokenizers`).
const UNK_PENALTY: f64 = 10.0;

type Error = Box<dyn std::error::Error + Send + Sync>;

pub struct Unigram {
    /// Every piece, one after the other.
    text: String,
    /// Where each piece ends in `text` (it starts where the one before ends).
    ends: Vec<u32>,
    scores: Vec<f64>,
    /// The piece ids in the order of their bytes; equal pieces by id.
    sorted: Vec<u32>,
    unk_id: Option<u32>,
    byte_fallback: bool,
    /// The lowest score of a piece, [`UNK_PENALTY`] above what an unknown character scores.
    min_score: f64,
}

/// A piece of the best path: its bytes in the text and its id.
struct Step {
    start: usize,
    end: usize,
    id: u32,
}

impl Unigram {
    fn new(
        text: String,
        ends: Vec<u32>,
        scores: Vec<f64>,
        unk_id: Option<usize>,
        byte_fallback: bool,
    ) -> Result<Self, String> {
        if let Some(unk) = unk_id {
            if ends.is_empty() {
                return Err("the vocabulary is empty but at least <unk> is needed".into());
            }
            if unk >= ends.len() {
                return Err("unk_id is larger than the vocabulary".into());
            }
        }
        let n = u32::try_from(ends.len()).map_err(|_| "too many pieces".to_string())?;
        let mut model = Self {
            text,
            ends,
            min_score: scores.iter().copied().fold(f64::INFINITY, f64::min),
            scores,
            sorted: (0..n).collect(),
            unk_id: unk_id.map(|u| u as u32),
            byte_fallback,
        };
        let mut sorted = std::mem::take(&mut model.sorted);
        sorted.sort_unstable_by(|&a, &b| model.bytes(a).cmp(model.bytes(b)).then(a.cmp(&b)));
        model.sorted = sorted;
        Ok(model)
    }

    fn piece(&self, id: u32) -> &str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    fn bytes(&self, id: u32) -> &[u8] {
        self.piece(id).as_bytes()
    }

    /// The id of a piece; of the last one when a piece is listed twice (as `tokenizers`,
    /// whose map from piece to id keeps the last).
    fn id_of(&self, piece: &str) -> Option<u32> {
        let at = self
            .sorted
            .partition_point(|&id| self.bytes(id) <= piece.as_bytes());
        (at > 0)
            .then(|| self.sorted[at - 1])
            .filter(|&id| self.piece(id) == piece)
    }

    /// Calls `found(length, id)` for every piece that `text` starts with, shortest first.
    fn prefixes(&self, text: &[u8], mut found: impl FnMut(usize, u32)) {
        // Every piece in sorted[lo..hi] starts with text[..k]; being sorted, those that
        // are exactly text[..k] come first.
        let (mut lo, mut hi) = (0, self.sorted.len());
        for (k, &byte) in text.iter().enumerate() {
            let range = &self.sorted[lo..hi];
            let below = |id: &u32, inclusive: bool| {
                let p = self.bytes(*id);
                p.len() <= k || p[k] < byte || (inclusive && p[k] == byte)
            };
            let first = range.partition_point(|id| below(id, false));
            let last = range.partition_point(|id| below(id, true));
            (lo, hi) = (lo + first, lo + last);
            if lo == hi {
                return;
            }
            let exact = self.sorted[lo..hi]
                .iter()
                .take_while(|&&id| self.bytes(id).len() == k + 1)
                .count();
            if exact > 0 {
                found(k + 1, self.sorted[lo + exact - 1]);
            }
        }
    }

    /// The best segmentation of `sentence` (sentencepiece's optimised Viterbi, as
    /// `tokenizers`' `encode_optimized`): ties keep the first path found, a character no
    /// piece starts with is unknown.
    fn best_path(&self, sentence: &str) -> Result<Vec<Step>, Error> {
        #[derive(Clone, Copy)]
        struct Best {
            score: f64,
            start: Option<usize>,
            id: u32,
        }
        let size = sentence.len();
        let unk_score = self.min_score - UNK_PENALTY;
        let mut best = vec![
            Best {
                score: 0.0,
                start: None,
                id: 0,
            };
            size + 1
        ];
        let bytes = sentence.as_bytes();
        let mut start = 0;
        while start < size {
            let here = best[start].score;
            let char_len = sentence[start..].chars().next().map_or(1, char::len_utf8);
            let mut single = false;
            let offer = |best: &mut [Best], len: usize, id: u32, score: f64| {
                let target = &mut best[start + len];
                let candidate = here + score;
                if target.start.is_none() || candidate > target.score {
                    *target = Best {
                        score: candidate,
                        start: Some(start),
                        id,
                    };
                }
            };
            self.prefixes(&bytes[start..], |len, id| {
                offer(&mut best, len, id, self.scores[id as usize]);
                single |= len == char_len;
            });
            if !single {
                let unk = self.unk_id.ok_or("an unknown character but no unk_id")?;
                offer(&mut best, char_len, unk, unk_score);
            }
            start += char_len;
        }
        let mut path = Vec::new();
        let mut end = size;
        while end > 0 {
            let node = best[end];
            let start = node.start.expect("every character boundary is reached");
            path.push(Step {
                start,
                end,
                id: node.id,
            });
            end = start;
        }
        path.reverse();
        Ok(path)
    }
}

impl Model for Unigram {
    type Trainer = UnigramTrainer;

    fn tokenize(&self, sentence: &str) -> tokenizers::Result<Vec<Token>> {
        if sentence.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.best_path(sentence)?;
        // Unknown characters next to each other make one token (`fuse_unk`).
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(path.len());
        let mut previous_unk = false;
        for step in &path {
            let unk = Some(step.id) == self.unk_id;
            match spans.last_mut() {
                Some(last) if unk && previous_unk => last.1 = step.end,
                _ => spans.push((step.start, step.end)),
            }
            previous_unk = unk;
        }
        let mut tokens = Vec::with_capacity(spans.len());
        for (start, end) in spans {
            let value = &sentence[start..end];
            if let Some(id) = self.id_of(value) {
                tokens.push(Token::new(id, value.to_string(), (start, end)));
                continue;
            }
            if self.byte_fallback {
                let bytes: Option<Vec<Token>> = value
                    .bytes()
                    .map(|b| {
                        let piece = format!("<0x{b:02X}>");
                        self.id_of(&piece)
                            .map(|id| Token::new(id, piece, (start, end)))
                    })
                    .collect();
                if let Some(bytes) = bytes {
                    tokens.extend(bytes);
                    continue;
                }
            }
            let unk = self.unk_id.ok_or("an unknown token but no unk_id")?;
            tokens.push(Token::new(unk, value.to_string(), (start, end)));
        }
        Ok(tokens)
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.id_of(token)
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        ((id as usize) < self.ends.len()).then(|| self.piece(id).to_string())
    }

    fn get_vocab(&self) -> HashMap<String, u32> {
        (0..self.ends.len() as u32)
            .map(|id| (self.piece(id).to_string(), id))
            .collect()
    }

    fn get_vocab_size(&self) -> usize {
        self.ends.len()
    }

    fn save(&self, folder: &Path, prefix: Option<&str>) -> tokenizers::Result<Vec<PathBuf>> {
        let name = prefix.map_or("unigram.json".to_string(), |p| format!("{p}-unigram.json"));
        let path = folder.join(name);
        std::fs::write(&path, serde_json::to_string(&self.as_json())?)?;
        Ok(vec![path])
    }

    fn get_trainer(&self) -> UnigramTrainer {
        UnigramTrainer::default()
    }
}

impl Unigram {
    /// The model as tokenizer.json writes it.
    fn as_json(&self) -> impl Serialize + '_ {
        #[derive(Serialize)]
        struct Json<'a> {
            r#type: &'static str,
            unk_id: Option<u32>,
            vocab: Vec<(&'a str, f64)>,
            byte_fallback: bool,
        }
        Json {
            r#type: "Unigram",
            unk_id: self.unk_id,
            vocab: (0..self.ends.len() as u32)
                .map(|id| (self.piece(id), self.scores[id as usize]))
                .collect(),
            byte_fallback: self.byte_fallback,
        }
    }
}

impl fmt::Debug for Unigram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unigram")
            .field("pieces", &self.ends.len())
            .field("unk_id", &self.unk_id)
            .field("byte_fallback", &self.byte_fallback)
            .finish()
    }
}

/// Reads `{"type": "Unigram", "unk_id": .., "vocab": [[piece, score], ..],
/// "byte_fallback": ..}` straight into the arrays, one piece at a time.
impl<'de> Deserialize<'de> for Unigram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(
            "Unigram",
            &["type", "vocab", "unk_id", "byte_fallback"],
            ModelVisitor,
        )
    }
}

struct ModelVisitor;

#[derive(Default)]
struct Pieces {
    text: String,
    ends: Vec<u32>,
    scores: Vec<f64>,
}

impl<'de> Visitor<'de> for ModelVisitor {
    type Value = Unigram;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Unigram model")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unigram, A::Error> {
        let mut pieces = None;
        let mut unk_id: Option<usize> = None;
        let mut byte_fallback = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => {
                    let kind: String = map.next_value()?;
                    if kind != "Unigram" {
                        return Err(de::Error::invalid_value(
                            de::Unexpected::Str(&kind),
                            &"Unigram",
                        ));
                    }
                }
                "unk_id" => unk_id = map.next_value()?,
                "byte_fallback" => byte_fallback = map.next_value()?,
                "vocab" => {
                    let mut read = Pieces::default();
                    map.next_value_seed(VocabSeed(&mut read))?;
                    pieces = Some(read);
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let Pieces { text, ends, scores } =
            pieces.ok_or_else(|| de::Error::missing_field("vocab"))?;
        Unigram::new(text, ends, scores, unk_id, byte_fallback).map_err(de::Error::custom)
    }
}

struct VocabSeed<'a>(&'a mut Pieces);

impl<'de> DeserializeSeed<'de> for VocabSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for VocabSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of [piece, score]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if let Some(n) = seq.size_hint() {
            self.0.ends.reserve(n);
            self.0.scores.reserve(n);
        }
        while seq.next_element_seed(EntrySeed(self.0))?.is_some() {}
        Ok(())
    }
}

/// One `[piece, score]`.
struct EntrySeed<'a>(&'a mut Pieces);

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_tuple(2, self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[piece, score]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let pieces = self.0;
        seq.next_element_seed(PieceSeed(&mut pieces.text))?
            .ok_or_else(|| de::Error::invalid_length(0, &"[piece, score]"))?;
        let score: f64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &"[piece, score]"))?;
        let end = u32::try_from(pieces.text.len())
            .map_err(|_| de::Error::custom("the pieces are over 4 GiB"))?;
        pieces.ends.push(end);
        pieces.scores.push(score);
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &"[piece, score]"));
        }
        Ok(())
    }
}

/// A piece, appended to the text of all of them.
struct PieceSeed<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for PieceSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for PieceSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a piece")
    }

    fn visit_str<E: de::Error>(self, piece: &str) -> Result<(), E> {
        self.0.push_str(piece);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(pieces: &[(&str, f64)], unk: Option<usize>) -> Unigram {
        let json = serde_json::json!({
            "type": "Unigram",
            "unk_id": unk,
            "vocab": pieces,
            "byte_fallback": false,
        });
        serde_json::from_value(json).unwrap()
    }

    fn reference(
        pieces: &[(&str, f64)],
        unk: Option<usize>,
    ) -> tokenizers::models::unigram::Unigram {
        let vocab = pieces.iter().map(|(p, s)| (p.to_string(), *s)).collect();
        tokenizers::models::unigram::Unigram::from(vocab, unk, false).unwrap()
    }

    fn ids(m: &impl Model, text: &str) -> Vec<(u32, String, (usize, usize))> {
        m.tokenize(text)
            .unwrap()
            .into_iter()
            .map(|t| (t.id, t.value, t.offsets))
            .collect()
    }

    #[test]
    fn the_segmentation_unknowns_and_offsets_are_those_of_tokenizers() {
        let pieces = [
            ("<unk>", 0.0),
            ("a", -1.0),
            ("b", -2.0),
            ("ab", -2.5),
            ("abc", -4.0),
            ("c", -3.0),
            ("cd", -1.5),
            ("é", -2.0),
            ("éb", -1.0),
            ("ab", -0.5),
            ("bcd", -3.0),
            // Two paths of one score: the first found is kept.
            ("x", -1.0),
            ("y", -2.0),
            ("xy", -3.0),
        ];
        let (ours, theirs) = (model(&pieces, Some(0)), reference(&pieces, Some(0)));
        for text in [
            "abcd", "abcabcd", "xxab", "abxyzc", "ébcd", "aébé", "cdcdx", "€", "a€€b", "",
            "bcdbcd", "dddd", "xyxy", "axyb",
        ] {
            assert_eq!(ids(&ours, text), ids(&theirs, text), "{text:?}");
        }
        assert_eq!(
            ours.token_to_id("ab"),
            theirs.token_to_id("ab"),
            "the last of two"
        );
        assert_eq!(ours.token_to_id("zz"), None);
        assert_eq!(ours.id_to_token(7).as_deref(), Some("é"));
        assert_eq!(ours.get_vocab(), theirs.get_vocab());
    }

    #[test]
    fn an_unknown_character_without_unk_id_is_an_error_not_a_guess() {
        let m = model(&[("a", -1.0)], None);
        assert!(m.tokenize("a").is_ok());
        assert!(m.tokenize("ab").is_err());
    }

    #[test]
    fn a_malformed_vocabulary_is_refused() {
        for json in [
            r#"{"type": "BPE", "vocab": []}"#,
            r#"{"type": "Unigram", "unk_id": 0, "vocab": []}"#,
            r#"{"type": "Unigram", "unk_id": 2, "vocab": [["a", -1.0]]}"#,
            r#"{"type": "Unigram", "vocab": [["a"]]}"#,
            r#"{"type": "Unigram", "vocab": [["a", -1.0, 3]]}"#,
            r#"{"type": "Unigram"}"#,
        ] {
            assert!(serde_json::from_str::<Unigram>(json).is_err(), "{json}");
        }
    }
}
