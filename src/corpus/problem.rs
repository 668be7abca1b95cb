//! A problem found in the corpus, named by file and line for the people who write it.
//! Editors are French: every message exists in French (the default) and in English.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Not a fault: drafts and withdrawn entries, which are simply not served.
    Note,
    /// Servable today, but needs attention soon.
    Warning,
    /// Not served (entry-level) or not loadable (corpus-level).
    Error,
}

/// What a problem is about, for tools that sort them (`check --report`) and for what may
/// stop a server from starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A file that is wrong: it blocks a start.
    #[default]
    Defect,
    /// A file not where its id and service say it belongs (its name, its folder): a
    /// defect too, and what tells a copy from the original when two take one id.
    Misplaced,
    /// A text changed since it was validated (the answer, or a variant's own text).
    Changed,
    /// A translation or easy-read version validated against an older French answer.
    StaleVariant,
    /// The review date passed: the calendar, not a broken file, so it does not block a start.
    ReviewPassed,
    ReviewNear,
    /// Drafts and withdrawn entries.
    NotServed,
    /// A writing rule of corpus/README.md (length, alternates).
    Writing,
}

/// The language problems are printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProblemLang {
    /// The editors' language, and so the default.
    #[default]
    Fr,
    En,
}

impl ProblemLang {
    /// `--lang` when given, else `LANG`/`LC_ALL`/`LC_MESSAGES` starting with `en`, else French.
    pub fn choose(flag: Option<&str>) -> Self {
        let from_env = || {
            ["LC_ALL", "LC_MESSAGES", "LANG"]
                .iter()
                .filter_map(|v| std::env::var(v).ok())
                .find(|v| !v.is_empty())
        };
        match flag.map(str::to_string).or_else(from_env) {
            Some(l) if l.to_ascii_lowercase().starts_with("en") => Self::En,
            _ => Self::Fr,
        }
    }
}

/// One message in both languages problems are printed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub fr: String,
    pub en: String,
}

/// `msg!("français {x}", "English {x}")`: a [`Msg`] from two format strings.
macro_rules! msg {
    ($fr:literal, $en:literal $(,)?) => {
        $crate::corpus::problem::Msg {
            fr: format!($fr),
            en: format!($en),
        }
    };
}
pub(crate) use msg;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    pub severity: Severity,
    pub kind: Kind,
    /// In French, the editors' language.
    pub message: String,
    pub message_en: String,
}

impl Problem {
    pub fn new(file: &Path, line: Option<usize>, severity: Severity, message: Msg) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            severity,
            kind: Kind::Defect,
            message: message.fr,
            message_en: message.en,
        }
    }

    pub fn error(file: &Path, line: Option<usize>, message: Msg) -> Self {
        Self::new(file, line, Severity::Error, message)
    }

    pub fn warning(file: &Path, line: Option<usize>, message: Msg) -> Self {
        Self::new(file, line, Severity::Warning, message)
    }

    pub fn with_kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Whether this problem refuses a start: an error in a file, not a review date passing.
    pub fn blocks_start(&self) -> bool {
        self.severity == Severity::Error && self.kind != Kind::ReviewPassed
    }

    /// Whether this problem says the file is not where its entry belongs.
    pub fn misplaces(&self) -> bool {
        self.kind == Kind::Misplaced
    }

    /// The problem as printed for `lang`: `file:line: gravité: message`.
    pub fn in_lang(&self, lang: ProblemLang) -> Localized<'_> {
        Localized {
            problem: self,
            lang,
        }
    }
}

/// A problem printed in one language.
pub struct Localized<'a> {
    problem: &'a Problem,
    lang: ProblemLang,
}

impl fmt::Display for Localized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.problem;
        let (severity, message) = match self.lang {
            ProblemLang::Fr => (
                match p.severity {
                    Severity::Note => "note",
                    Severity::Warning => "avertissement",
                    Severity::Error => "erreur",
                },
                &p.message,
            ),
            ProblemLang::En => (
                match p.severity {
                    Severity::Note => "note",
                    Severity::Warning => "warning",
                    Severity::Error => "error",
                },
                &p.message_en,
            ),
        };
        match p.line {
            Some(line) => write!(f, "{}:{line}: {severity}: {message}", p.file.display()),
            None => write!(f, "{}: {severity}: {message}", p.file.display()),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.in_lang(ProblemLang::Fr).fmt(f)
    }
}

/// 1-based line number of a byte offset in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The problem a TOML parse error of `text` makes; `first_line` is the line of the file
/// `text` starts at (front matter starts after the `+++` line).
pub(crate) fn toml_problem(
    path: &Path,
    text: &str,
    first_line: usize,
    err: &toml::de::Error,
) -> Problem {
    let line = err.span().map(|span| line_of(text, span.start));
    let detail = err.message().trim().to_string();
    let source_line = line.and_then(|l| text.lines().nth(l - 1)).unwrap_or("");
    let message = if apostrophe_in_single_quotes(source_line) {
        msg!(
            "apostrophe dans une chaîne entre apostrophes : en TOML, 'texte' s'arrête à la première apostrophe, donc « l'emplacement » coupe la phrase. Écrivez la phrase entre guillemets droits \"…\" (par exemple question = \"Comment obtenir l'emplacement ?\") ; détail technique : {detail}",
            "apostrophe inside a single-quoted string: in TOML, 'text' ends at the first apostrophe. Put the sentence between double quotes \"…\" instead; detail: {detail}",
        )
    } else {
        msg!(
            "syntaxe TOML incorrecte : {detail} (vérifiez les guillemets, les crochets et les virgules de cette ligne)",
            "invalid TOML: {detail}",
        )
    };
    Problem::error(path, line.map(|l| l + first_line - 1), message)
}

/// Whether a line holds a single-quoted TOML string with an apostrophe inside a word
/// (`'Comment obtenir l'emplacement ?'`), the mistake French text makes most.
fn apostrophe_in_single_quotes(line: &str) -> bool {
    let Some((_, value)) = line.split_once('=') else {
        return false;
    };
    let value = value.trim_start().trim_start_matches('[').trim_start();
    if !value.starts_with('\'') || value.starts_with("'''") {
        return false;
    }
    let chars: Vec<char> = value.chars().collect();
    chars
        .windows(3)
        .any(|w| w[0].is_alphabetic() && w[1] == '\'' && w[2].is_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apostrophe_in_a_single_quoted_question_is_explained_in_french() {
        let text = "id = \"a\"\nquestion = 'Comment obtenir l'emplacement ?'\n";
        let err = toml::from_str::<toml::Table>(text).unwrap_err();
        let p = toml_problem(Path::new("e.md"), text, 2, &err);
        assert_eq!(p.line, Some(3));
        assert!(p.message.contains("guillemets droits"), "{}", p.message);
        assert!(p.to_string().starts_with("e.md:3: erreur: apostrophe"));
    }

    #[test]
    fn other_toml_errors_are_not_blamed_on_apostrophes() {
        let text = "question = \"Comment obtenir l'emplacement ?\nid = 1\n";
        let err = toml::from_str::<toml::Table>(text).unwrap_err();
        let p = toml_problem(Path::new("e.md"), text, 1, &err);
        assert!(
            p.message.starts_with("syntaxe TOML incorrecte"),
            "{}",
            p.message
        );
    }

    #[test]
    fn problems_print_in_english_when_asked() {
        let p = Problem::error(Path::new("f"), Some(2), msg!("texte vide", "empty text"));
        assert_eq!(
            p.in_lang(ProblemLang::En).to_string(),
            "f:2: error: empty text"
        );
        assert_eq!(p.to_string(), "f:2: erreur: texte vide");
        assert_eq!(ProblemLang::choose(Some("en")), ProblemLang::En);
        assert_eq!(ProblemLang::choose(Some("fr")), ProblemLang::Fr);
    }
}
