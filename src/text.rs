//! Text normalisation shared by matching (never applied to what is served): case and
//! accent folding, word splitting, French stemming, stop words.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Whether `text` shows nothing: only white space, control characters (NUL...) and
/// invisible format characters (zero-width spaces and joiners, the byte-order mark, soft
/// hyphens, direction marks). The one definition of an empty message, for residents'
/// questions and agents' replies alike.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(invisible)
}

/// A character that shows nothing on its own.
fn invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

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

/// Words that give a short question's language away, for the other languages the
/// assistant speaks or that people often write in (folded forms). None is a French stop
/// word, so a French question never scores in them for its grammar.
const FUNCTION_WORDS: &[(&str, &[&str])] = &[
    (
        "de",
        &[
            "ich", "sie", "wir", "der", "die", "das", "den", "dem", "ein", "eine", "einen",
            "einem", "einer", "und", "oder", "mit", "von", "zu", "zum", "zur", "ist", "sind",
            "bin", "habe", "hat", "haben", "kann", "konnen", "mochte", "wie", "wo", "wann",
            "warum", "welche", "nicht", "kein", "keine", "fur", "auf", "bei", "nach", "mein",
            "meine", "meinen", "bitte", "hallo", "guten", "sprechen", "im",
        ],
    ),
    (
        "es",
        &[
            "el", "los", "las", "del", "al", "con", "una", "uno", "unos", "unas", "mi", "mis",
            "su", "sus", "por", "para", "donde", "como", "cuando", "cual", "quien", "quiero",
            "puedo", "necesito", "tengo", "hay", "es", "esta", "estoy", "hablar", "hola",
            "gracias", "favor", "buenos", "dias", "ayuda", "lo",
        ],
    ),
    (
        "pt",
        &[
            "o", "os", "do", "da", "dos", "das", "na", "nas", "com", "uma", "um", "meu", "minha",
            "meus", "onde", "como", "quando", "quero", "posso", "preciso", "tenho", "falar",
            "para", "nao", "e", "em", "ola", "obrigado", "obrigada", "voce",
        ],
    ),
    (
        "it",
        &[
            "il",
            "lo",
            "gli",
            "della",
            "delle",
            "dello",
            "del",
            "di",
            "con",
            "una",
            "uno",
            "per",
            "vorrei",
            "voglio",
            "posso",
            "dove",
            "come",
            "quando",
            "parlare",
            "sono",
            "ho",
            "mio",
            "mia",
            "non",
            "che",
            "ciao",
            "grazie",
            "favore",
            "buongiorno",
            "e",
        ],
    ),
    (
        "tr",
        &[
            "bir",
            "ve",
            "ile",
            "icin",
            "ne",
            "nerede",
            "nasıl",
            "neden",
            "hangi",
            "istiyorum",
            "mi",
            "mı",
            "mu",
            "ben",
            "benim",
            "var",
            "yok",
            "lutfen",
            "merhaba",
            "saat",
            "kac",
            "kacta",
            "konusmak",
            "degil",
        ],
    ),
    (
        "nl",
        &[
            "ik", "wil", "met", "een", "het", "van", "waar", "hoe", "wanneer", "niet", "mijn",
            "kan", "praten", "iemand", "graag", "hallo", "bedankt",
        ],
    ),
];

/// The language of a question when the text says so clearly, else `default`. Function
/// words decide first (short questions fool statistical detectors): a language needs two
/// of its words and more than any other language; otherwise a reliable statistical
/// detection, or a script of its own, decides.
pub fn detect_lang(text: &str, default: &str) -> String {
    let folded = fold(text);
    let words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    let count = |list: &[&str]| words.iter().filter(|w| list.contains(w)).count();
    let mut scores: Vec<(&str, usize)> = vec![("fr", count(STOP_FR)), ("en", count(STOP_EN))];
    scores.extend(
        FUNCTION_WORDS
            .iter()
            .map(|(lang, list)| (*lang, count(list))),
    );
    scores.sort_by_key(|s| std::cmp::Reverse(s.1));
    if let [(lang, best), (_, next), ..] = scores[..]
        && best >= 2
        && best > next
    {
        return lang.into();
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
    #[test]
    fn invisible_characters_alone_are_blank_and_letters_are_not() {
        for blank in [
            "",
            " \t\n",
            "\u{200B}",
            "\u{FEFF}",
            "\u{0000}",
            "\u{00A0}\u{202F}\u{2060}",
            "\u{00AD}\u{200D}\u{E0001}",
        ] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for shown in ["a", "\u{200B}?", "٣", "😀", "\u{FEFF}mairie"] {
            assert!(!is_blank(shown), "{shown:?}");
        }
    }

    use super::*;

    #[test]
    fn short_english_and_french_questions_are_told_apart_by_function_words() {
        assert_eq!(detect_lang("How do I renew my ID card?", "fr"), "en");
        assert_eq!(detect_lang("Comment renouveler ma carte ?", "en"), "fr");
        assert_eq!(detect_lang("piscine", "fr"), "fr");
        assert_eq!(detect_lang("كيف أحصل على المساعدة الغذائية؟", "fr"), "ar");
    }

    /// Short questions residents write, in each language the assistant speaks.
    fn lang_cases() -> Vec<(&'static str, &'static str)> {
        vec![
            ("de", "Ich möchte mit einem Menschen sprechen"),
            ("de", "Wie lange hat das Rathaus geöffnet?"),
            ("de", "Wo kann ich meinen Ausweis verlängern?"),
            ("es", "¿Dónde puedo renovar mi pasaporte?"),
            ("es", "Quiero hablar con una persona"),
            ("pt", "Quero falar com uma pessoa"),
            ("pt", "Onde posso renovar o meu passaporte?"),
            ("tr", "Bir insanla konuşmak istiyorum"),
            ("tr", "Belediye saat kaçta açılıyor?"),
            ("uk", "Я хочу поговорити з людиною"),
            ("uk", "Де можна оновити паспорт?"),
            ("ar", "أريد التحدث مع شخص"),
            ("ar", "متى تفتح البلدية؟"),
            ("en", "I want to talk to a person"),
            ("en", "When is the town hall open?"),
            ("fr", "Je veux parler à quelqu'un"),
        ]
    }

    #[test]
    fn lang_short_questions_are_detected_in_each_language_of_the_messages() {
        let wrong: Vec<_> = lang_cases()
            .into_iter()
            .map(|(want, q)| (want, q, detect_lang(q, "fr")))
            .filter(|(want, _, got)| got != want)
            .collect();
        assert!(wrong.is_empty(), "misdetected: {wrong:?}");
    }

    #[test]
    fn lang_other_languages_are_still_detected_for_the_fallback() {
        assert_eq!(
            detect_lang("Vorrei parlare con una persona, per favore", "fr"),
            "it"
        );
        assert_eq!(detect_lang("Я хочу поговорить с человеком", "fr"), "ru");
    }

    #[test]
    fn lang_every_question_of_the_demo_corpus_is_detected_in_its_own_language() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let (corpus, _) = crate::corpus::load(&root, chrono::Utc::now().date_naive()).unwrap();
        let mut wrong = Vec::new();
        let mut seen = 0;
        for e in corpus.entries() {
            let own = std::iter::once(&e.question).chain(&e.alternates);
            let translated = e
                .translations
                .iter()
                .map(|(l, t)| (l.as_str(), &t.question));
            for (lang, q) in own.map(|q| (e.lang.as_str(), q)).chain(translated) {
                seen += 1;
                let got = detect_lang(q, "fr");
                if got != lang {
                    wrong.push((lang, q.clone(), got));
                }
            }
        }
        assert!(seen > 400, "{seen} questions");
        assert!(wrong.is_empty(), "misdetected: {wrong:?}");
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
