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

/// The language of a question when the text says so clearly, else `default`. Function
/// words decide between French and English (short questions fool statistical detectors);
/// other languages need a reliable detection, or a script of their own.
pub fn detect_lang(text: &str, default: &str) -> String {
    let folded = fold(text);
    let words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    let fr = words.iter().filter(|w| STOP_FR.contains(w)).count();
    let en = words.iter().filter(|w| STOP_EN.contains(w)).count();
    if en >= 2 && en > fr {
        return "en".into();
    }
    if fr >= 2 && fr > en {
        return "fr".into();
    }
    let Some(info) = whatlang::detect(text) else {
        return default.into();
    };
    let own_script = !matches!(info.script(), whatlang::Script::Latin);
    if !(info.is_reliable() || own_script && words.len() >= 2) {
        return default.into();
    }
    let code = match info.lang().code() {
        "fra" => "fr",
        "eng" => "en",
        "deu" => "de",
        "spa" => "es",
        "ita" => "it",
        "por" => "pt",
        "ara" => "ar",
        "tur" => "tr",
        "ukr" => "uk",
        "rus" => "ru",
        "nld" => "nl",
        "pol" => "pl",
        "ron" => "ro",
        _ => default,
    };
    code.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_english_and_french_questions_are_told_apart_by_function_words() {
        assert_eq!(detect_lang("How do I renew my ID card?", "fr"), "en");
        assert_eq!(detect_lang("Comment renouveler ma carte ?", "en"), "fr");
        assert_eq!(detect_lang("piscine", "fr"), "fr");
        assert_eq!(detect_lang("كيف أحصل على المساعدة الغذائية؟", "fr"), "ar");
    }

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
