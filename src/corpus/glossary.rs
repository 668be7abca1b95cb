//! Jargon and acronyms people type ("CNI", "QF"), expanded for matching only: an
//! expansion never reaches an answer.

use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::problem::{Problem, msg, toml_problem};

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Term {
    pub abbr: String,
    pub expansion: String,
}

#[derive(Debug, Clone, Default)]
pub struct Glossary {
    /// (lowercased abbreviation, expansion)
    terms: Vec<(String, String)>,
    fingerprint: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlossary {
    #[serde(default)]
    term: Vec<Term>,
}

impl Glossary {
    pub(super) fn parse(path: &Path, text: &str) -> Result<Self, Vec<Problem>> {
        let raw: RawGlossary =
            toml::from_str(text).map_err(|e| vec![toml_problem(path, text, 1, &e)])?;
        let mut problems = Vec::new();
        // The n-th `[[term]]` header, for a term that is wrong as a whole.
        let headers: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == "[[term]]")
            .map(|(i, _)| i + 1)
            .collect();
        for (n, t) in raw.term.iter().enumerate() {
            if t.abbr.trim().is_empty()
                || t.expansion.trim().is_empty()
                || t.abbr.contains(char::is_whitespace)
            {
                problems.push(Problem::error(
                    path,
                    Some(headers.get(n).copied().unwrap_or(1)),
                    {
                        let abbr = &t.abbr;
                        msg!(
                            "terme du glossaire {abbr:?} : abbr doit être un seul mot et expansion ne pas être vide",
                            "glossary term {abbr:?}: abbr must be one word and expansion non-empty"
                        )
                    },
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let terms = raw
            .term
            .into_iter()
            .map(|t| (t.abbr.to_lowercase(), t.expansion))
            .collect();
        Ok(Self {
            terms,
            fingerprint: hex::encode(Sha256::digest(text.as_bytes())),
        })
    }

    pub fn from_terms(terms: impl IntoIterator<Item = Term>) -> Self {
        Self {
            terms: terms
                .into_iter()
                .map(|t| (t.abbr.to_lowercase(), t.expansion))
                .collect(),
            fingerprint: String::new(),
        }
    }

    /// The text with the expansion of each known abbreviation appended once, in order of
    /// appearance ("ma CNI" -> "ma CNI (carte nationale d'identité)"). Words are compared
    /// case-insensitively and as whole words.
    pub fn expand(&self, text: &str) -> String {
        let mut expansions: Vec<&str> = Vec::new();
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let lower = word.to_lowercase();
            if let Some((_, exp)) = self.terms.iter().find(|(abbr, _)| *abbr == lower)
                && !expansions.contains(&exp.as_str())
            {
                expansions.push(exp);
            }
        }
        if expansions.is_empty() {
            text.to_string()
        } else {
            format!("{text} ({})", expansions.join(", "))
        }
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub(super) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glossary() -> Glossary {
        Glossary::from_terms([
            Term {
                abbr: "CNI".into(),
                expansion: "carte nationale d'identité".into(),
            },
            Term {
                abbr: "QF".into(),
                expansion: "quotient familial".into(),
            },
        ])
    }

    #[test]
    fn an_acronym_is_expanded_whatever_its_case() {
        assert_eq!(
            glossary().expand("renouveler ma cni"),
            "renouveler ma cni (carte nationale d'identité)"
        );
        assert_eq!(
            glossary().expand("Mon QF ?"),
            "Mon QF ? (quotient familial)"
        );
    }

    #[test]
    fn only_whole_words_are_expanded_and_each_once() {
        assert_eq!(glossary().expand("qfx cnil"), "qfx cnil");
        assert_eq!(
            glossary().expand("CNI et cni"),
            "CNI et cni (carte nationale d'identité)"
        );
        assert_eq!(
            glossary().expand("CNI, QF"),
            "CNI, QF (carte nationale d'identité, quotient familial)"
        );
    }

    #[test]
    fn text_without_jargon_is_left_as_it_is() {
        assert_eq!(
            glossary().expand("horaires de la mairie"),
            "horaires de la mairie"
        );
    }
}
