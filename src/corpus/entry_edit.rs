//! An editor changes an entry from the console: the change is made in the entry file's
//! text itself (toml_edit keeps the front matter's comments and layout, the body is the
//! answer), so that a proposal is a file of the corpus format like any other, checked as
//! `guichet check` checks it, and an export gives it back as it was validated.
//!
//! Hashes are not touched here: validating a proposal stamps it (see [`super::stamp`]).

use chrono::NaiveDate;
use toml_edit::{Array, DocumentMut, Item, Table, value};

use super::load::split_front_matter;

/// What an editor changes in an entry; `None` keeps the field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryEdit {
    pub question: Option<String>,
    /// The French answer (the file's body).
    pub answer: Option<String>,
    pub alternates: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// `Some("")` removes the link.
    pub url: Option<String>,
    pub review_by: Option<NaiveDate>,
    /// `Some(None)` removes the easy-read version.
    pub easy_read: Option<Option<String>>,
    /// Per language: `Some((question, answer))` writes the translation, `None` removes it.
    pub translations: Vec<(String, Option<(String, String)>)>,
    /// Proposes to stop serving the entry (`status = "withdrawn"`).
    pub withdraw: bool,
}

/// Why an edit could not be made (the text is not an entry file one can read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ligne {line} : {message}")]
pub struct EditError {
    pub line: usize,
    pub message: String,
}

fn strings(items: &[String]) -> Array {
    let mut a = Array::new();
    for s in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        a.push(s);
    }
    a
}

/// Normalises an answer as a file stores it: trimmed, one final newline, Unix line ends.
fn body_text(answer: &str) -> String {
    let mut b = answer.replace("\r\n", "\n").trim().to_string();
    b.push('\n');
    b
}

fn assemble(doc: &DocumentMut, body: &str) -> String {
    let mut out = String::from("+++\n");
    out.push_str(&doc.to_string());
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("+++\n");
    out.push_str(body);
    out
}

/// The text of the entry file `text` with `edit` applied.
pub fn edit_entry(text: &str, edit: &EntryEdit) -> Result<String, EditError> {
    let split = split_front_matter(text).map_err(|(line, m)| EditError {
        line,
        message: m.fr,
    })?;
    let mut doc: DocumentMut =
        split
            .front
            .parse()
            .map_err(|e: toml_edit::TomlError| EditError {
                line: split.front_first_line,
                message: e.message().to_string(),
            })?;
    if let Some(q) = &edit.question {
        doc["question"] = value(q.trim());
    }
    if let Some(alternates) = &edit.alternates {
        doc["alternates"] = value(strings(alternates));
    }
    if let Some(tags) = &edit.tags {
        doc["tags"] = value(strings(tags));
    }
    if let Some(url) = &edit.url {
        if url.trim().is_empty() {
            doc.remove("url");
        } else {
            doc["url"] = value(url.trim());
        }
    }
    if let Some(date) = edit.review_by {
        doc["review_by"] = value(date.format("%Y-%m-%d").to_string());
    }
    if edit.withdraw {
        doc["status"] = value("withdrawn");
    }
    match &edit.easy_read {
        Some(None) => {
            doc.remove("easy_read");
        }
        Some(Some(easy)) => {
            let table = doc
                .entry("easy_read")
                .or_insert_with(|| Item::Table(Table::new()));
            if let Some(t) = table.as_table_like_mut() {
                t.insert("answer", value(body_text(easy).trim_end()));
            }
        }
        None => {}
    }
    for (lang, tr) in &edit.translations {
        match tr {
            None => {
                if let Some(t) = doc
                    .get_mut("translations")
                    .and_then(Item::as_table_like_mut)
                {
                    t.remove(lang);
                }
            }
            Some((question, answer)) => {
                let all = doc.entry("translations").or_insert_with(|| {
                    let mut t = Table::new();
                    t.set_implicit(true);
                    Item::Table(t)
                });
                if let Some(all) = all.as_table_like_mut() {
                    let one = all.entry(lang).or_insert_with(|| Item::Table(Table::new()));
                    if let Some(one) = one.as_table_like_mut() {
                        one.insert("question", value(question.trim()));
                        one.insert("answer", value(body_text(answer).trim_end()));
                    }
                }
            }
        }
    }
    let body = match &edit.answer {
        Some(answer) => body_text(answer),
        None => text[split.rest_start..].to_string(),
    };
    Ok(assemble(&doc, &body))
}

/// A new entry an editor drafts: what the services write in a new file, before anyone
/// validated it (`status = "draft"`: validation stamps it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub id: String,
    pub service: String,
    pub question: String,
    pub answer: String,
    pub alternates: Vec<String>,
    pub tags: Vec<String>,
    pub url: Option<String>,
    pub review_by: NaiveDate,
}

/// The file of a new entry, and its path in the corpus.
pub fn new_entry(entry: &NewEntry) -> (String, String) {
    let mut doc = DocumentMut::new();
    doc["id"] = value(entry.id.trim());
    doc["question"] = value(entry.question.trim());
    doc["alternates"] = value(strings(&entry.alternates));
    doc["service"] = value(entry.service.trim());
    doc["status"] = value("draft");
    doc["review_by"] = value(entry.review_by.format("%Y-%m-%d").to_string());
    doc["lang"] = value("fr");
    doc["tags"] = value(strings(&entry.tags));
    if let Some(url) = entry
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        doc["url"] = value(url);
    }
    let path = format!("entries/{}/{}.md", entry.service.trim(), entry.id.trim());
    (path, assemble(&doc, &body_text(&entry.answer)))
}

/// An entry id made from a question: lowercase ASCII words joined by `-`, at most 60
/// characters (`Comment obtenir un acte ?` gives `comment-obtenir-un-acte`).
pub fn id_from(question: &str) -> String {
    let mut id = String::new();
    for word in crate::text::fold(question)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if id.len() + word.len() + 1 > 60 {
            break;
        }
        if !id.is_empty() {
            id.push('-');
        }
        id.push_str(word);
    }
    if id.is_empty() { "fiche".into() } else { id }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "+++\n# a comment kept\nid = \"x\"\nquestion = \"Q ?\"\nalternates = [\"a\", \"b\"]\nservice = \"accueil\"\nstatus = \"validated\"\n+++\nLa réponse.\n";

    #[test]
    fn an_edit_changes_only_what_it_names_and_keeps_comments() {
        let out = edit_entry(
            ENTRY,
            &EntryEdit {
                answer: Some("Nouvelle réponse.\r\n".into()),
                alternates: Some(vec!["a".into(), " c ".into(), "".into()]),
                ..EntryEdit::default()
            },
        )
        .unwrap();
        assert!(out.contains("# a comment kept"));
        assert!(out.contains("question = \"Q ?\""));
        assert!(out.contains("alternates = [\"a\", \"c\"]"), "{out}");
        assert!(out.ends_with("+++\nNouvelle réponse.\n"), "{out}");
    }

    #[test]
    fn an_untouched_body_is_kept_byte_for_byte() {
        let out = edit_entry(
            ENTRY,
            &EntryEdit {
                question: Some("Autre ?".into()),
                ..EntryEdit::default()
            },
        )
        .unwrap();
        assert!(out.ends_with("+++\nLa réponse.\n"));
    }

    #[test]
    fn translations_and_easy_read_are_written_and_removed() {
        let out = edit_entry(
            ENTRY,
            &EntryEdit {
                easy_read: Some(Some("Ligne un.\nLigne deux.".into())),
                translations: vec![("en".into(), Some(("Q?".into(), "The answer.".into())))],
                ..EntryEdit::default()
            },
        )
        .unwrap();
        let (easy, langs) = super::super::stamp::changed_variants(Some(ENTRY), &out);
        assert!(easy);
        assert_eq!(langs, vec!["en".to_string()]);
        let removed = edit_entry(
            &out,
            &EntryEdit {
                easy_read: Some(None),
                translations: vec![("en".into(), None)],
                ..EntryEdit::default()
            },
        )
        .unwrap();
        assert!(!removed.contains("easy_read") && !removed.contains("The answer."));
    }

    #[test]
    fn ids_are_made_from_questions() {
        assert_eq!(
            id_from("Où déclarer l'arrivée d'un bébé ?"),
            "ou-declarer-l-arrivee-d-un-bebe"
        );
        assert_eq!(id_from("???"), "fiche");
    }
}
