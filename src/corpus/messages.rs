//! The assistant's own sentences, validated like answers, per language.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::problem::{Problem, msg, toml_problem};

/// Every sentence the assistant may say besides answers. All keys are required in
/// every language, so no reply ever falls back to an unvalidated string.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSet {
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
    pub open_now: String,
    pub closed_now: String,
    pub error_generic: String,
    pub error_busy: String,
    pub feedback_thanks: String,
    pub personal_data_warning: String,
    /// Lowercase phrases that mean "I want a person".
    pub human_phrases: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Messages {
    sets: BTreeMap<String, MessageSet>,
    fingerprint: String,
}

/// The language every corpus must at least speak.
pub const PRIMARY_LANG: &str = "fr";

impl Messages {
    pub(super) fn parse(path: &Path, text: &str) -> Result<Self, Vec<Problem>> {
        let sets: BTreeMap<String, MessageSet> =
            toml::from_str(text).map_err(|e| vec![toml_problem(path, text, 1, &e)])?;
        if !sets.contains_key(PRIMARY_LANG) {
            return Err(vec![Problem::error(
                path,
                None,
                msg!(
                    "aucune section [{PRIMARY_LANG}] : les phrases de l'assistant en français sont obligatoires",
                    "no [{PRIMARY_LANG}] messages"
                ),
            )]);
        }
        let fingerprint = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(Self { sets, fingerprint })
    }

    pub(super) fn fallback() -> Self {
        let fr = MessageSet {
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
