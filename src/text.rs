//! Text normalisation shared by matching (never applied to what is served): case and
//! accent folding, word splitting, French stemming, stop words.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Lowercase, without accents, with apostrophes and punctuation turned into spaces,
/// white space folded ("L'état-civil ?" -> "l etat civil").
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = true;
    for c in text
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
    {
        let c = match c {
            'œ' => {
                out.push('o');
                'e'
            }
            'æ' => {
                out.push('a');
                'e'
            }
            'ß' => {
                out.push('s');
                's'
            }
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        if c == ' ' {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// French words too common to tell entries apart (folded forms).
const STOP_FR: &[&str] = &[
    "a", "au", "aux", "avec", "ce", "ces", "cet", "cette", "comment", "d", "dans", "de", "des",
    "du", "elle", "en", "est", "et", "etre", "faire", "faut", "il", "j", "je", "l", "la", "le",
    "les", "leur", "lui", "m", "ma", "mais", "me", "mes", "moi", "mon", "n", "ne", "nos", "notre",
    "nous", "on", "ou", "par", "pas", "peut", "peux", "pour", "qu", "quand", "que", "quel",
    "quelle", "quels", "quelles", "qui", "quoi", "s", "sa", "se", "ses", "si", "son", "sont",
    "sur", "t", "ta", "te", "tes", "toi", "ton", "tu", "un", "une", "vos", "votre", "vous", "y",
    "est-ce", "c", "ca", "suis", "ai", "as", "avez", "ont", "puis", "dois", "doit", "bonjour",
    "merci", "svp", "stp",
];

/// English words likewise (the second language, and evaluation sets).
const STOP_EN: &[&str] = &[
    "the", "a", "an", "of", "to", "in", "on", "for", "and", "or", "is", "are", "be", "can", "i",
    "my", "me", "you", "your", "it", "do", "does", "how", "what", "when", "where", "which", "who",
    "with", "at", "from", "by", "this", "that", "there", "have", "has", "will", "should", "would",
    "could", "if", "as", "about", "hi", "hello", "please", "am",
];

/// A word splitter and stemmer for one language of matching.
pub struct Analyzer {
    stemmer: Stemmer,
    stop: &'static [&'static str],
}

impl Analyzer {
    pub fn for_lang(lang: &str) -> Self {
        let (algo, stop) = match lang {
            "en" => (Algorithm::English, STOP_EN),
            "de" => (Algorithm::German, &[][..]),
            _ => (Algorithm::French, STOP_FR),
        };
        Self {
            stemmer: Stemmer::create(algo),
            stop,
        }
    }

    /// Folded, stemmed content words of `text`.
    pub fn terms(&self, text: &str) -> Vec<String> {
        fold(text)
            .split(' ')
            .filter(|w| !w.is_empty() && !self.stop.contains(w))
            .map(|w| self.stemmer.stem(w).into_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_removes_case_accents_and_punctuation() {
        assert_eq!(fold("L'état-civil ?  Œuvre"), "l etat civil oeuvre");
        assert_eq!(fold("  "), "");
    }

    #[test]
    fn french_terms_drop_stop_words_and_share_stems() {
        let a = Analyzer::for_lang("fr");
        assert_eq!(
            a.terms("Comment renouveler ma carte ?"),
            a.terms("renouvellement cartes")
        );
        assert!(
            a.terms("je veux une carte")
                .iter()
                .all(|t| t != "je" && t != "une")
        );
    }
}
