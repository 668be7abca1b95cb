//! `guichet stamp`: records that a service validated an entry, so editors never compute
//! hashes by hand. Only the front matter is rewritten; the body is kept byte for byte.

use std::path::Path;

use chrono::NaiveDate;
use toml_edit::{DocumentMut, Item, value};

use super::load::split_front_matter;
use super::sha256_hex;

#[derive(Debug, thiserror::Error)]
pub enum StampError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Format {
        path: String,
        line: usize,
        message: String,
    },
}

/// What a stamp recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamped {
    pub answer_sha256: String,
    pub variants: Vec<String>,
}

/// Marks the entry in `path` as validated by `by` on `today`, with the hashes of its
/// answer, easy-read variant and translations as they stand now.
pub fn stamp(path: &Path, by: &str, today: NaiveDate) -> Result<Stamped, StampError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| StampError::Io {
        path: shown.clone(),
        source,
    })?;
    let split = split_front_matter(&text).map_err(|(line, message)| StampError::Format {
        path: shown.clone(),
        line,
        message,
    })?;
    let mut doc: DocumentMut =
        split
            .front
            .parse()
            .map_err(|e: toml_edit::TomlError| StampError::Format {
                path: shown.clone(),
                line: e
                    .span()
                    .map(|s| super::problem::line_of(split.front, s.start) + 1)
                    .unwrap_or(1),
                message: e.message().to_string(),
            })?;
    let answer_sha256 = sha256_hex(split.body);
    doc["status"] = value("validated");
    doc["validated_by"] = value(by);
    doc["validated_on"] = value(today.format("%Y-%m-%d").to_string());
    doc["answer_sha256"] = value(answer_sha256.clone());
    let mut variants = Vec::new();
    if let Some(easy) = doc.get_mut("easy_read").and_then(Item::as_table_like_mut)
        && let Some(answer) = easy.get("answer").and_then(Item::as_str)
    {
        let h = sha256_hex(answer);
        easy.insert("sha256", value(h));
        variants.push("easy_read".to_string());
    }
    if let Some(translations) = doc
        .get_mut("translations")
        .and_then(Item::as_table_like_mut)
    {
        for (lang, tr) in translations.iter_mut() {
            if let Some(tr) = tr.as_table_like_mut()
                && let Some(answer) = tr.get("answer").and_then(Item::as_str)
            {
                let h = sha256_hex(answer);
                tr.insert("sha256", value(h));
                variants.push(format!("translations.{lang}"));
            }
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
    std::fs::write(path, out).map_err(|source| StampError::Io {
        path: shown,
        source,
    })?;
    Ok(Stamped {
        answer_sha256,
        variants,
    })
}
