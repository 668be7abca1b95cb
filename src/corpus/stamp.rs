//! `guichet stamp`: records that a service validated an entry, so editors never compute
//! hashes by hand. Only the front matter is rewritten; the body is kept byte for byte.
//!
//! A stamp records only what it is told: the French answer always (that is what the
//! service signs), a translation with `--variant xx`, the easy-read version with
//! `--easy-read`, and a new status only with `--status`. A variant not named keeps the
//! hash of the French answer it was validated against, so `check` reports it out of date
//! when the French changed, and it is not served until someone validates it again.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use toml_edit::{DocumentMut, Item, value};

use super::load::{parse_entry, split_front_matter};
use super::problem::{Problem, Severity, line_of};
use super::{Services, Status, sha256_hex};

#[derive(Debug, thiserror::Error)]
pub enum StampError {
    #[error("impossible de lire ou d'écrire {path} : {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: erreur: {message}")]
    Format {
        path: String,
        line: usize,
        message: String,
    },
    #[error(
        "{path} : aucun services.toml dans les dossiers au-dessus de ce fichier (une entrée se trouve dans CORPUS/entries/SERVICE/)"
    )]
    NoServices { path: String },
    #[error("{path} : pas de {what} à valider dans cette entrée")]
    NoVariant { path: String, what: String },
    /// What `check` would report on the entry once stamped: nothing is written.
    #[error("validation refusée, rien n'a été écrit :\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Refused(Vec<Problem>),
}

/// What a stamp is asked to record.
#[derive(Debug, Clone)]
pub struct StampRequest<'a> {
    /// Who validated: the owning service's name, or a validator services.toml declares.
    pub by: &'a str,
    pub today: NaiveDate,
    /// Translations validated too (language codes).
    pub variants: &'a [String],
    pub easy_read: bool,
    /// A status to set; `None` keeps the entry's.
    pub status: Option<Status>,
}

/// What a stamp recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamped {
    pub answer_sha256: String,
    /// Variants validated with the answer (`easy_read`, `translations.en`).
    pub variants: Vec<String>,
    /// Variants left out of date: validated against another French answer, not served.
    pub stale: Vec<String>,
    pub status: Status,
}

/// The id and service an entry file declares, read from its front matter without the
/// other checks (the knowledge base indexes revisions by them).
pub fn entry_meta(text: &str) -> Option<(String, String)> {
    let split = split_front_matter(text).ok()?;
    let doc: DocumentMut = split.front.parse().ok()?;
    let id = doc.get("id")?.as_str()?.trim().to_string();
    let service = doc.get("service")?.as_str()?.trim().to_string();
    Some((id, service))
}

/// The status an entry file declares (`None` when unreadable or unknown).
pub fn entry_status(text: &str) -> Option<Status> {
    let split = split_front_matter(text).ok()?;
    let doc: DocumentMut = split.front.parse().ok()?;
    Status::parse(doc.get("status")?.as_str()?.trim())
}

/// The hash of an entry file's answer (its body), as `answer_sha256` records it.
pub fn body_sha256(text: &str) -> Option<String> {
    split_front_matter(text).ok().map(|s| sha256_hex(s.body))
}

/// The variants of an entry a proposal wrote or rewrote, compared with the live `base`:
/// `(easy_read, translations)`. Validating a proposal validates what it changed, and
/// only that; a variant it left alone stays as validated before (stale when the French
/// answer changed).
pub fn changed_variants(base: Option<&str>, text: &str) -> (bool, Vec<String>) {
    fn variants(text: &str) -> (Option<String>, Vec<(String, String)>) {
        let Ok(split) = split_front_matter(text) else {
            return (None, Vec::new());
        };
        let Ok(doc) = split.front.parse::<DocumentMut>() else {
            return (None, Vec::new());
        };
        let easy = doc
            .get("easy_read")
            .and_then(|t| t.get("answer"))
            .and_then(Item::as_str)
            .map(str::to_string);
        let mut langs = Vec::new();
        if let Some(t) = doc.get("translations").and_then(Item::as_table_like) {
            for (lang, tr) in t.iter() {
                let q = tr
                    .get("question")
                    .and_then(Item::as_str)
                    .unwrap_or_default();
                let a = tr.get("answer").and_then(Item::as_str).unwrap_or_default();
                langs.push((lang.to_string(), format!("{q}\u{0}{a}")));
            }
        }
        (easy, langs)
    }
    let (new_easy, new_langs) = variants(text);
    let (old_easy, old_langs) = base.map(variants).unwrap_or_default();
    let easy = new_easy.is_some() && new_easy != old_easy;
    let langs = new_langs
        .into_iter()
        .filter(|(lang, t)| !old_langs.iter().any(|(l, o)| l == lang && o == t))
        .map(|(lang, _)| lang)
        .collect();
    (easy, langs)
}

/// The services of the corpus `entry` belongs to: the nearest `services.toml` above it.
pub fn services_for(entry: &Path) -> Result<Services, StampError> {
    let shown = entry.display().to_string();
    let absolute = std::path::absolute(entry).unwrap_or_else(|_| PathBuf::from(entry));
    let file = absolute
        .ancestors()
        .skip(1)
        .map(|d| d.join("services.toml"))
        .find(|f| f.is_file())
        .ok_or(StampError::NoServices { path: shown })?;
    let text = std::fs::read_to_string(&file).map_err(|source| StampError::Io {
        path: file.display().to_string(),
        source,
    })?;
    Services::parse(&file, &text).map_err(StampError::Refused)
}

/// Records in `path` that `request.by` validated the entry on `request.today`, after
/// checking the result as `check` would: an unknown service, a validator who is not the
/// service, or any other error refuses the stamp and leaves the file untouched.
pub fn stamp(
    path: &Path,
    services: &Services,
    request: &StampRequest<'_>,
) -> Result<Stamped, StampError> {
    let text = std::fs::read_to_string(path).map_err(|source| StampError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let (out, stamped) = stamp_text(path, &text, services, request)?;
    std::fs::write(path, out).map_err(|source| StampError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(stamped)
}

/// [`stamp`] on an entry's text (`path` only names it in problems): the stamped text, or
/// the problems that refuse it.
pub fn stamp_text(
    path: &Path,
    text: &str,
    services: &Services,
    request: &StampRequest<'_>,
) -> Result<(String, Stamped), StampError> {
    let shown = path.display().to_string();
    let split = split_front_matter(text).map_err(|(line, message)| StampError::Format {
        path: shown.clone(),
        line,
        message: message.fr,
    })?;
    let mut doc: DocumentMut =
        split
            .front
            .parse()
            .map_err(|e: toml_edit::TomlError| StampError::Format {
                path: shown.clone(),
                line: e
                    .span()
                    .map(|s| line_of(split.front, s.start) + 1)
                    .unwrap_or(1),
                message: e.message().to_string(),
            })?;
    let answer_sha256 = sha256_hex(split.body);
    if let Some(status) = request.status {
        doc["status"] = value(match status {
            Status::Draft => "draft",
            Status::Validated => "validated",
            Status::Withdrawn => "withdrawn",
        });
    }
    doc["validated_by"] = value(request.by.trim());
    doc["validated_on"] = value(request.today.format("%Y-%m-%d").to_string());
    doc["answer_sha256"] = value(answer_sha256.clone());
    let mut variants = Vec::new();
    let mut sign = |table: &mut dyn toml_edit::TableLike, what: String| -> bool {
        let Some(answer) = table.get("answer").and_then(Item::as_str) else {
            return false;
        };
        let h = sha256_hex(answer);
        table.insert("sha256", value(h));
        table.insert("source_sha256", value(answer_sha256.clone()));
        variants.push(what);
        true
    };
    if request.easy_read {
        let signed = doc
            .get_mut("easy_read")
            .and_then(Item::as_table_like_mut)
            .is_some_and(|t| sign(t, "easy_read".into()));
        if !signed {
            return Err(StampError::NoVariant {
                path: shown,
                what: "[easy_read]".into(),
            });
        }
    }
    for lang in request.variants {
        let signed = doc
            .get_mut("translations")
            .and_then(Item::as_table_like_mut)
            .and_then(|t| t.get_mut(lang))
            .and_then(Item::as_table_like_mut)
            .is_some_and(|t| sign(t, format!("translations.{lang}")));
        if !signed {
            return Err(StampError::NoVariant {
                path: shown,
                what: format!("[translations.{lang}]"),
            });
        }
    }
    let mut out = String::with_capacity(text.len() + 128);
    out.push_str("+++\n");
    out.push_str(&doc.to_string());
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("+++\n");
    out.push_str(&text[split.rest_start..]);

    let (entry, problems) = parse_entry(path, &out, Some(services), request.today);
    let errors: Vec<Problem> = problems
        .into_iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    let Some(entry) = entry.filter(|_| errors.is_empty()) else {
        return Err(StampError::Refused(errors));
    };
    let stamped = Stamped {
        answer_sha256,
        variants,
        stale: entry
            .stale
            .iter()
            .map(|v| {
                if v == "easy_read" {
                    v.clone()
                } else {
                    format!("translations.{v}")
                }
            })
            .collect(),
        status: entry.status,
    };
    Ok((out, stamped))
}
