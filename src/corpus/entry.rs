//! One validated FAQ entry and the types it is built from.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Serialize;

/// A stable slug: lowercase ASCII letters, digits and single hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EntryId(String);

impl EntryId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= 80
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-')
            && !raw.contains("--");
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(format!(
                "id {raw:?} is not a slug (lowercase letters, digits and single hyphens, at most 80 characters)"
            ))
        }
    }

    /// Ids of evaluation data are taken as they come (they are never shown as slugs).
    pub fn trusted(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for EntryId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Validated,
    Withdrawn,
}

impl Status {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "draft" => Some(Self::Draft),
            "validated" => Some(Self::Validated),
            "withdrawn" => Some(Self::Withdrawn),
            _ => None,
        }
    }
}

/// A validated alternative text (the easy-read version), with its own hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub answer: String,
    pub sha256: String,
}

/// A separately validated translation of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    pub question: String,
    pub answer: String,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: EntryId,
    pub question: String,
    /// Other phrasings people use, jargon and acronyms included; matched, never shown.
    pub alternates: Vec<String>,
    pub service: String,
    pub status: Status,
    pub validated_by: Option<String>,
    pub validated_on: Option<NaiveDate>,
    pub review_by: Option<NaiveDate>,
    /// The body of the file, trimmed: exactly what is served.
    pub answer: String,
    pub answer_sha256: String,
    pub lang: String,
    pub tags: Vec<String>,
    pub url: Option<String>,
    pub easy_read: Option<Variant>,
    pub translations: BTreeMap<String, Translation>,
    /// Variants left out because the French answer changed since they were validated:
    /// `"easy_read"` or a language code. The French answer is served in their place.
    pub stale: Vec<String>,
    pub source: PathBuf,
}

impl Entry {
    /// An entry of evaluation data: counted as validated, with no file behind it.
    pub fn trusted(
        id: &str,
        question: &str,
        alternates: Vec<String>,
        answer: &str,
        lang: &str,
    ) -> Self {
        Self {
            id: EntryId::trusted(id),
            question: question.to_string(),
            alternates,
            service: String::new(),
            status: Status::Validated,
            validated_by: None,
            validated_on: None,
            review_by: None,
            answer: answer.to_string(),
            answer_sha256: String::new(),
            lang: lang.to_string(),
            tags: Vec::new(),
            url: None,
            easy_read: None,
            translations: BTreeMap::new(),
            stale: Vec::new(),
            source: PathBuf::new(),
        }
    }
}
