//! The one reply object every channel renders (web chat, `ask --json`, webhooks,
//! coverage). Channels translate it; none changes a word of it.

use serde::Serialize;

use crate::corpus::Contacts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Answer,
    Clarify,
    Handoff,
}

impl Outcome {
    /// The name stored and shown (`answer`, `clarify`, `handoff`), as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answer => "answer",
            Self::Clarify => "clarify",
            Self::Handoff => "handoff",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "answer" => Self::Answer,
            "clarify" => Self::Clarify,
            "handoff" => Self::Handoff,
            _ => return None,
        })
    }
}

/// A validated entry, served verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EntryReply {
    pub id: String,
    pub question: String,
    /// The validated text, byte for byte.
    pub answer: String,
    pub answer_sha256: String,
    pub service: String,
    pub validated_on: Option<String>,
    pub url: Option<String>,
    /// The plain-language variant, when the entry has a validated one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub easy_read: Option<EasyRead>,
    /// Variants held back because the answer changed since they were validated: the
    /// language asked for (the answer above is then in the entry's own language, `fr`)
    /// and/or `"easy_read"`. A channel tells the person, rather than serve an old text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_variants: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EasyRead {
    pub answer: String,
    pub sha256: String,
}

/// A validated question offered in a "did you mean".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OptionReply {
    pub id: String,
    pub question: String,
    /// When it is the only option: the opening of its validated answer (a prefix of it,
    /// byte for byte, cut at a word), so the person sees whether it is the right one
    /// before tapping. The whole answer is served only once they confirm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoffReason {
    /// Nothing in the corpus answers with enough confidence.
    LowConfidence,
    /// The person asked for a human.
    Requested,
    /// The message was empty or carried no words.
    Empty,
    /// A person already has this conversation; the assistant stays quiet.
    TicketOpen,
}

impl HandoffReason {
    /// The name stored and shown (`low_confidence`…), as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LowConfidence => "low_confidence",
            Self::Requested => "requested",
            Self::Empty => "empty",
            Self::TicketOpen => "ticket_open",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "low_confidence" => Self::LowConfidence,
            "requested" => Self::Requested,
            "empty" => Self::Empty,
            "ticket_open" => Self::TicketOpen,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HandoffReply {
    pub reason: HandoffReason,
    /// The validated sentence from `messages.toml`.
    pub message: String,
    /// The same validated sentence in other languages, shown after `message`: when the
    /// messages do not speak the person's language, `message` is in English and this
    /// holds the French one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<AlsoSaid>,
    pub contacts: Contacts,
}

/// A validated sentence in one more language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AlsoSaid {
    pub lang: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Reply {
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryReply>,
    /// With `clarify`: the validated sentence that introduces the options. With `answer`:
    /// a validated notice about the text served (`variant_stale`: the translation in the
    /// person's language is being validated again, so the French answer is served).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<OptionReply>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffReply>,
    /// The language the reply is in (that of the validated text served).
    pub lang: String,
    pub corpus_version: String,
}
