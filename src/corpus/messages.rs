//! The assistant's own sentences, validated like answers, per language.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::problem::{Msg, Problem, Severity, msg, toml_problem};

/// Every sentence the assistant may say besides answers. All keys are required in
/// every language, so no reply ever falls back to an unvalidated string.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSet {
    /// Who validated this language's sentences, as for an entry.
    #[serde(default, skip_serializing)]
    pub validated_by: Option<String>,
    #[serde(default, skip_serializing)]
    pub validated_on: Option<String>,
    /// [`MessageSet::digest`] as validated: a language whose sentences changed since is
    /// not served until validated again.
    #[serde(default, skip_serializing)]
    pub sha256: Option<String>,
    pub greeting: String,
    pub clarify: String,
    pub handoff_low_confidence: String,
    pub handoff_requested: String,
    pub handoff_empty: String,
    pub handoff_ticket_open: String,
    /// A ticket is open but nobody can answer it now (the service is closed): no reply
    /// "here" is promised; the contacts follow.
    pub handoff_ticket_unattended: String,
    /// The web widget's notice while a ticket waits for an agent who can answer.
    pub ticket_waiting: String,
    /// The same notice when nobody can answer now.
    pub ticket_unattended: String,
    /// The person cancelled their request for a person.
    pub ticket_cancelled: String,
    /// An agent closed the ticket: the assistant answers again.
    pub ticket_resolved: String,
    /// Who answers, when the agent gave no first name or role of their own.
    pub agent_label: String,
    /// Served with the French answer when the translation in the person's language is
    /// out of date (held back until validated again).
    pub variant_stale: String,
    pub open_now: String,
    pub closed_now: String,
    pub error_generic: String,
    pub error_busy: String,
    pub feedback_thanks: String,
    pub personal_data_warning: String,
    /// Lowercase phrases that mean "I want a person".
    pub human_phrases: Vec<String>,
}

impl MessageSet {
    /// The hash of every sentence and phrase of the set (not of its validation fields),
    /// over its JSON form, whose key order is the struct's.
    pub fn digest(&self) -> String {
        let json = serde_json::to_string(self).expect("a message set serializes");
        hex::encode(Sha256::digest(json.as_bytes()))
    }

    /// What keeps this language from being served, if anything.
    fn unvalidated(&self, today: NaiveDate) -> Option<Msg> {
        if self
            .validated_by
            .as_deref()
            .is_none_or(|s| s.trim().is_empty())
        {
            return Some(msg!(
                "validated_by manque (lancez `guichet stamp messages.toml --by \"Service\" --messages-lang xx`)",
                "needs validated_by (run `guichet stamp messages.toml --by \"Service\" --messages-lang xx`)"
            ));
        }
        let Some(on) = &self.validated_on else {
            return Some(msg!(
                "validated_on manque (lancez `guichet stamp messages.toml`)",
                "needs validated_on (run `guichet stamp messages.toml`)"
            ));
        };
        match NaiveDate::parse_from_str(on, "%Y-%m-%d") {
            Err(_) => {
                return Some(msg!(
                    "validated_on {on:?} n'est pas une date (AAAA-MM-JJ)",
                    "validated_on {on:?} is not a date (YYYY-MM-DD)"
                ));
            }
            Ok(d) if d > today => {
                return Some(msg!(
                    "validated_on {d} est dans le futur",
                    "validated_on {d} is in the future"
                ));
            }
            Ok(_) => {}
        }
        let actual = self.digest();
        match &self.sha256 {
            None => Some(msg!(
                "sha256 manque (lancez `guichet stamp messages.toml`)",
                "needs sha256 (run `guichet stamp messages.toml`)"
            )),
            Some(r) if r.trim().to_lowercase() != actual => Some(msg!(
                "les phrases ont changé depuis leur validation (sha256 {r}, elles donnent {actual}) : non servies tant qu'elles ne sont pas revalidées avec `guichet stamp messages.toml`",
                "the sentences changed since they were validated (sha256 {r} but they hash to {actual}): not served until validated again with `guichet stamp messages.toml`"
            )),
            Some(_) => None,
        }
    }
}

/// A language's sentences as a reply uses them.
pub type Said<'a> = (&'a str, &'a MessageSet);

/// The language a reply falls back to when the messages do not speak the person's.
pub const FALLBACK_LANG: &str = "en";

#[derive(Debug, Clone)]
pub struct Messages {
    sets: BTreeMap<String, MessageSet>,
    fingerprint: String,
}

/// The language every corpus must at least speak.
pub const PRIMARY_LANG: &str = "fr";

impl Messages {
    /// The messages of `text`, with the languages that are not validated left out (each
    /// named with its line). Fails when nothing can be served in the primary language.
    pub(super) fn parse(
        path: &Path,
        text: &str,
        today: NaiveDate,
    ) -> Result<(Self, Vec<Problem>), Vec<Problem>> {
        let mut sets: BTreeMap<String, MessageSet> =
            toml::from_str(text).map_err(|e| vec![toml_problem(path, text, 1, &e)])?;
        let mut problems = Vec::new();
        sets.retain(|lang, set| match set.unvalidated(today) {
            None => true,
            Some(why) => {
                let line = text
                    .lines()
                    .position(|l| l.trim() == format!("[{lang}]"))
                    .map(|i| i + 1);
                let Msg { fr, en } = why;
                problems.push(Problem::new(
                    path,
                    line,
                    Severity::Error,
                    msg!("[{lang}] {fr}", "[{lang}] {en}"),
                ));
                false
            }
        });
        if !sets.contains_key(PRIMARY_LANG) {
            // The refused [fr] section's line when there is one, else the top of the file.
            let line = text
                .lines()
                .position(|l| l.trim() == format!("[{PRIMARY_LANG}]"))
                .map_or(1, |i| i + 1);
            problems.push(Problem::error(
                path,
                Some(line),
                msg!(
                    "aucune section [{PRIMARY_LANG}] validée : les phrases de l'assistant en français sont obligatoires",
                    "no validated [{PRIMARY_LANG}] messages"
                ),
            ));
            return Err(problems);
        }
        let fingerprint = hex::encode(Sha256::digest(text.as_bytes()));
        Ok((Self { sets, fingerprint }, problems))
    }

    pub(super) fn fallback() -> Self {
        let fr = MessageSet {
            validated_by: None,
            validated_on: None,
            sha256: None,
            greeting: "Assistant automatique (évaluation).".into(),
            clarify: "Vouliez-vous dire :".into(),
            handoff_low_confidence: "Je n'ai pas de réponse validée.".into(),
            handoff_requested: "Voici comment joindre une personne.".into(),
            handoff_empty: "Je n'ai pas compris.".into(),
            handoff_ticket_open: "Une personne va vous répondre.".into(),
            handoff_ticket_unattended: "Personne ne peut vous répondre ici pour l'instant.".into(),
            ticket_waiting: "Une personne va vous répondre.".into(),
            ticket_unattended: "Personne ne peut vous répondre ici pour l'instant.".into(),
            ticket_cancelled: "Demande annulée.".into(),
            ticket_resolved: "Conversation terminée.".into(),
            agent_label: "Agent".into(),
            variant_stale: "Réponse en français uniquement.".into(),
            open_now: "Ouvert".into(),
            closed_now: "Fermé".into(),
            error_generic: "Erreur.".into(),
            error_busy: "Occupé.".into(),
            feedback_thanks: "Merci.".into(),
            personal_data_warning: "Pas de données personnelles.".into(),
            human_phrases: Vec::new(),
        };
        Self {
            sets: BTreeMap::from([(PRIMARY_LANG.to_string(), fr)]),
            fingerprint: String::new(),
        }
    }

    /// The messages in `lang`, or in the primary language when `lang` has none.
    pub fn get(&self, lang: &str) -> (&str, &MessageSet) {
        match self.sets.get_key_value(lang) {
            Some((k, set)) => (k.as_str(), set),
            None => (PRIMARY_LANG, &self.sets[PRIMARY_LANG]),
        }
    }

    /// The sentences for someone writing in `lang`: in `lang` when the messages speak it;
    /// else in English followed by French (who writes in a language we lack more often
    /// reads English, and French is what the service will speak at the counter).
    pub fn for_lang(&self, lang: &str) -> (Said<'_>, Option<Said<'_>>) {
        if let Some((k, set)) = self.sets.get_key_value(lang) {
            return ((k.as_str(), set), None);
        }
        match self.sets.get_key_value(FALLBACK_LANG) {
            Some((k, set)) => (
                (k.as_str(), set),
                Some((PRIMARY_LANG, &self.sets[PRIMARY_LANG])),
            ),
            None => ((PRIMARY_LANG, &self.sets[PRIMARY_LANG]), None),
        }
    }

    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.sets.keys().map(String::as_str)
    }

    /// Every phrase, in any language, by which a person asks for a human.
    pub fn all_human_phrases(&self) -> impl Iterator<Item = &str> {
        self.sets
            .values()
            .flat_map(|s| s.human_phrases.iter().map(String::as_str))
    }

    pub(super) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// `guichet stamp messages.toml --messages-lang L`: records that `by` validated the sentences of
/// each language in `langs` as they stand now. Only those tables change (a language not
/// named stays as it was, validated or not), and the rest of the file is kept as written.
pub fn stamp(
    path: &Path,
    langs: &[String],
    by: &str,
    today: NaiveDate,
) -> Result<Vec<(String, String)>, super::stamp::StampError> {
    use super::stamp::StampError;
    use toml_edit::{DocumentMut, value};

    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| StampError::Io {
        path: shown.clone(),
        source,
    })?;
    let format = |line: Option<usize>, message: String| StampError::Format {
        path: shown.clone(),
        line: line.unwrap_or(1),
        message,
    };
    let sets: BTreeMap<String, MessageSet> = toml::from_str(&text).map_err(|e| {
        let p = toml_problem(path, &text, 1, &e);
        format(p.line, p.message)
    })?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| format(None, e.message().to_string()))?;
    let mut stamped = Vec::new();
    for lang in langs {
        let Some(set) = sets.get(lang) else {
            let known: Vec<&str> = sets.keys().map(String::as_str).collect();
            return Err(format(
                None,
                format!("no [{lang}] messages (languages: {})", known.join(", ")),
            ));
        };
        let digest = set.digest();
        let table = &mut doc[lang.as_str()];
        table["validated_by"] = value(by);
        table["validated_on"] = value(today.format("%Y-%m-%d").to_string());
        table["sha256"] = value(digest.clone());
        stamped.push((lang.clone(), digest));
    }
    std::fs::write(path, doc.to_string()).map_err(|source| StampError::Io {
        path: shown.clone(),
        source,
    })?;
    Ok(stamped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> (std::path::PathBuf, String) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/messages.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        (path, text)
    }

    fn today() -> NaiveDate {
        chrono::Utc::now().date_naive()
    }

    #[test]
    fn lang_the_demo_messages_speak_the_languages_of_residents_all_validated() {
        let (path, text) = demo();
        let (messages, problems) = Messages::parse(&path, &text, today()).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let langs: Vec<&str> = messages.languages().collect();
        for lang in ["ar", "de", "en", "es", "fr", "pt", "tr", "uk"] {
            assert!(langs.contains(&lang), "no validated [{lang}] in {langs:?}");
        }
        // The facts are the same in every language.
        for lang in langs {
            let (_, set) = messages.get(lang);
            assert!(set.error_generic.contains("01 99 00 10 00"), "[{lang}]");
            assert!(!set.human_phrases.is_empty(), "[{lang}]");
        }
    }

    #[test]
    fn lang_a_language_changed_since_validation_is_not_served_and_named_by_line() {
        let (path, text) = demo();
        let edited = text.replacen(
            "Sie möchten mit einem Menschen sprechen.",
            "Sie wollen einen Menschen.",
            1,
        );
        assert_ne!(edited, text);
        let (messages, problems) = Messages::parse(&path, &edited, today()).unwrap();
        assert!(!messages.languages().any(|l| l == "de"));
        let line = text.lines().position(|l| l == "[de]").unwrap() + 1;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, Some(line));
        assert!(problems[0].message.contains("[de]") && problems[0].message.contains("changé"));
        assert!(problems[0].message_en.contains("changed"));
        // Someone writing German now gets English and French, never the edited text.
        let ((lang, _), second) = messages.for_lang("de");
        assert_eq!((lang, second.map(|s| s.0)), ("en", Some("fr")));

        let unsigned = text.replacen(
            "Vous souhaitez parler à une personne.",
            "Vous voulez une personne.",
            1,
        );
        let problems = Messages::parse(&path, &unsigned, today()).unwrap_err();
        assert!(
            problems.iter().any(|p| p.message.contains("[fr]")),
            "{problems:?}"
        );
    }

    #[test]
    fn lang_a_language_the_messages_lack_gets_english_then_french() {
        let (path, text) = demo();
        let (messages, _) = Messages::parse(&path, &text, today()).unwrap();
        let ((lang, set), second) = messages.for_lang("it");
        assert_eq!(lang, "en");
        assert_eq!(
            set.handoff_requested,
            messages.get("en").1.handoff_requested
        );
        let (second_lang, second_set) = second.unwrap();
        assert_eq!(second_lang, "fr");
        assert_eq!(
            second_set.handoff_requested,
            messages.get("fr").1.handoff_requested
        );
        let ((lang, _), second) = messages.for_lang("ar");
        assert_eq!((lang, second.is_none()), ("ar", true));
        let ((lang, _), second) = messages.for_lang("fr");
        assert_eq!((lang, second.is_none()), ("fr", true));
    }

    #[test]
    fn lang_stamp_validates_only_the_languages_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("messages.toml");
        let (_, text) = demo();
        let edited = text
            .replacen(
                "Sie möchten mit einem Menschen sprechen.",
                "Sie wollen einen Menschen.",
                1,
            )
            .replacen(
                "Quiere hablar con una persona.",
                "Desea hablar con una persona.",
                1,
            );
        std::fs::write(&path, &edited).unwrap();
        stamp(&path, &["de".to_string()], "Accueil de la mairie", today()).unwrap();
        let stamped = std::fs::read_to_string(&path).unwrap();
        let (messages, problems) = Messages::parse(&path, &stamped, today()).unwrap();
        assert!(messages.languages().any(|l| l == "de"));
        assert_eq!(
            messages.get("de").1.handoff_requested,
            "Sie wollen einen Menschen. So erreichen Sie die zuständige Stelle:"
        );
        assert!(
            !messages.languages().any(|l| l == "es"),
            "es was not stamped"
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            stamped.contains("# Phrases fixes de l'assistant"),
            "comments are kept"
        );
    }
}
