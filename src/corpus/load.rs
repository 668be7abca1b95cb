//! Reading a corpus folder: `services.toml`, `messages.toml`, `glossary.toml` and one
//! Markdown file per entry under `entries/`. Every problem is collected, none hides another.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use super::entry::{Entry, EntryId, Status, Translation, Variant};
use super::problem::{Problem, Severity, line_of, toml_error_line, toml_error_message};
use super::{Corpus, CorpusError, Glossary, Messages, Services, sha256_hex};

/// How far ahead a coming review date is worth a warning.
const REVIEW_WARNING_DAYS: i64 = 30;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: Spanned<String>,
    question: Spanned<String>,
    #[serde(default)]
    alternates: Vec<String>,
    service: Spanned<String>,
    status: Spanned<String>,
    validated_by: Option<String>,
    validated_on: Option<Spanned<String>>,
    review_by: Option<Spanned<String>>,
    answer_sha256: Option<Spanned<String>>,
    lang: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    url: Option<Spanned<String>>,
    easy_read: Option<Spanned<RawVariant>>,
    #[serde(default)]
    translations: BTreeMap<String, Spanned<RawTranslation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    answer: String,
    sha256: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTranslation {
    question: String,
    answer: String,
    sha256: Option<String>,
}

/// An entry file cut in two: the TOML front matter and the answer body.
#[derive(Debug)]
pub(crate) struct Split<'a> {
    pub front: &'a str,
    /// Line number (1-based) of the first front-matter line.
    pub front_first_line: usize,
    /// The body, trimmed: the validated answer.
    pub body: &'a str,
    /// Byte offset where the text after the closing `+++` line starts.
    pub rest_start: usize,
}

/// Cuts `+++` front matter from the body; the error says which line is wrong.
pub(crate) fn split_front_matter(text: &str) -> Result<Split<'_>, (usize, String)> {
    let mut offset = 0;
    let mut delimiters = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_end() == "+++" {
            delimiters.push((i + 1, offset, offset + line.len()));
            if delimiters.len() == 2 {
                break;
            }
        } else if i == 0 {
            return Err((
                1,
                "the file must start with a line `+++` opening the TOML front matter".into(),
            ));
        }
        offset += line.len();
    }
    match delimiters.as_slice() {
        [] => Err((
            1,
            "the file must start with a line `+++` opening the TOML front matter".into(),
        )),
        [(line, ..)] => Err((
            *line,
            "the front matter opened here is never closed by a line `+++`".into(),
        )),
        [(_, _, front_start), (_, close_start, close_end), ..] => Ok(Split {
            front: &text[*front_start..*close_start],
            front_first_line: 2,
            body: text[*close_end..].trim(),
            rest_start: *close_end,
        }),
    }
}

fn parse_date(raw: &Spanned<String>) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(raw.get_ref(), "%Y-%m-%d")
        .map_err(|_| format!("{:?} is not a date \"YYYY-MM-DD\"", raw.get_ref()))
}

/// Parses and checks one entry file. Returns the entry when it could be read at all, and
/// every problem found; the entry is servable only when no problem is an error.
fn parse_entry(
    path: &Path,
    text: &str,
    services: Option<&Services>,
    today: NaiveDate,
) -> (Option<Entry>, Vec<Problem>) {
    let mut problems = Vec::new();
    let split = match split_front_matter(text) {
        Ok(s) => s,
        Err((line, msg)) => return (None, vec![Problem::error(path, Some(line), msg)]),
    };
    let at = |span: std::ops::Range<usize>| {
        Some(line_of(split.front, span.start) + split.front_first_line - 1)
    };
    let raw: RawEntry = match toml::from_str(split.front) {
        Ok(r) => r,
        Err(e) => {
            let line = toml_error_line(split.front, &e).map(|l| l + split.front_first_line - 1);
            return (
                None,
                vec![Problem::error(path, line, toml_error_message(&e))],
            );
        }
    };
    let mut err = |line: Option<usize>, msg: String| problems.push(Problem::error(path, line, msg));

    let id = match EntryId::parse(raw.id.get_ref()) {
        Ok(id) => id,
        Err(msg) => {
            err(at(raw.id.span()), msg);
            EntryId::trusted(raw.id.get_ref().clone())
        }
    };
    if path.file_stem().and_then(|s| s.to_str()) != Some(id.as_str()) {
        err(
            at(raw.id.span()),
            format!("the file should be named {id}.md, after its id"),
        );
    }
    if raw.question.get_ref().trim().is_empty() {
        err(at(raw.question.span()), "question is empty".into());
    }
    if let Some(services) = services
        && !services.contains(raw.service.get_ref())
    {
        err(
            at(raw.service.span()),
            format!(
                "service {:?} is not defined in services.toml",
                raw.service.get_ref()
            ),
        );
    }
    let status = Status::parse(raw.status.get_ref()).unwrap_or_else(|| {
        err(
            at(raw.status.span()),
            format!(
                "status {:?} must be draft, validated or withdrawn",
                raw.status.get_ref()
            ),
        );
        Status::Draft
    });
    let mut date = |field: &Option<Spanned<String>>| -> Option<NaiveDate> {
        let raw = field.as_ref()?;
        parse_date(raw).map_err(|msg| err(at(raw.span()), msg)).ok()
    };
    let validated_on = date(&raw.validated_on);
    let review_by = date(&raw.review_by);
    let answer = split.body.to_string();
    if answer.is_empty() {
        err(
            Some(text.lines().count().max(1)),
            "the answer (the text after the front matter) is empty".into(),
        );
    }
    let lang = raw.lang.clone().unwrap_or_else(|| "fr".into());
    if lang.len() != 2 || !lang.bytes().all(|b| b.is_ascii_lowercase()) {
        err(
            None,
            format!("lang {lang:?} must be a two-letter code such as \"fr\""),
        );
    }
    if let Some(url) = &raw.url
        && !url.get_ref().starts_with("https://")
    {
        err(
            at(url.span()),
            format!("url {:?} must start with https://", url.get_ref()),
        );
    }
    let recorded = raw
        .answer_sha256
        .as_ref()
        .map(|s| s.get_ref().trim().to_lowercase())
        .unwrap_or_default();
    let easy_read = raw.easy_read.as_ref().and_then(|v| {
        let (span, v) = (v.span(), v.get_ref());
        let ok = check_variant_hash(&v.answer, v.sha256.as_deref(), "easy_read", &mut |m| {
            err(at(span.clone()), m)
        });
        ok.then(|| Variant {
            answer: v.answer.clone(),
            sha256: sha256_hex(&v.answer),
        })
    });
    let mut translations = BTreeMap::new();
    for (tr_lang, tr) in &raw.translations {
        let (span, t) = (tr.span(), tr.get_ref());
        let what = format!("translations.{tr_lang}");
        let ok = check_variant_hash(&t.answer, t.sha256.as_deref(), &what, &mut |m| {
            err(at(span.clone()), m)
        });
        if t.question.trim().is_empty() {
            err(at(span.clone()), format!("{what}.question is empty"));
        } else if ok {
            translations.insert(
                tr_lang.clone(),
                Translation {
                    question: t.question.clone(),
                    answer: t.answer.clone(),
                    sha256: sha256_hex(&t.answer),
                },
            );
        }
    }

    if status == Status::Validated {
        if raw
            .validated_by
            .as_deref()
            .is_none_or(|s| s.trim().is_empty())
        {
            err(
                None,
                "a validated entry needs validated_by (run `guichet stamp FILE --by \"Service\"`)"
                    .into(),
            );
        }
        match validated_on {
            None => err(
                None,
                "a validated entry needs validated_on (run `guichet stamp`)".into(),
            ),
            Some(d) if d > today => err(
                raw.validated_on.as_ref().and_then(|s| at(s.span())),
                format!("validated_on {d} is in the future"),
            ),
            Some(_) => {}
        }
        let actual = sha256_hex(&answer);
        match &raw.answer_sha256 {
            None => err(
                None,
                "a validated entry needs answer_sha256 (run `guichet stamp`)".into(),
            ),
            Some(s) if recorded != actual => err(
                at(s.span()),
                format!(
                    "the answer changed since it was validated (answer_sha256 {recorded} but the text hashes to {actual}): not served until validated again with `guichet stamp`"
                ),
            ),
            Some(_) => {}
        }
        if let Some(review) = review_by {
            let span = raw.review_by.as_ref().map(|s| s.span());
            if review < today {
                err(
                    span.and_then(at),
                    format!("review date {review} has passed: not served until reviewed"),
                );
            } else if (review - today).num_days() <= REVIEW_WARNING_DAYS {
                problems.push(Problem::new(
                    path,
                    span.and_then(at),
                    Severity::Warning,
                    format!("review date {review} is near"),
                ));
            }
        }
    } else {
        let what = if status == Status::Draft {
            "draft"
        } else {
            "withdrawn"
        };
        problems.push(Problem::new(
            path,
            at(raw.status.span()),
            Severity::Note,
            format!("{what}: not served"),
        ));
    }

    let entry = Entry {
        id,
        question: raw.question.into_inner(),
        alternates: raw.alternates,
        service: raw.service.into_inner(),
        status,
        validated_by: raw.validated_by,
        validated_on,
        review_by,
        answer_sha256: recorded,
        answer,
        lang,
        tags: raw.tags,
        url: raw.url.map(Spanned::into_inner),
        easy_read,
        translations,
        source: path.to_path_buf(),
    };
    (Some(entry), problems)
}

/// A variant (easy-read, translation) is servable only when its recorded hash matches.
fn check_variant_hash(
    answer: &str,
    recorded: Option<&str>,
    what: &str,
    err: &mut dyn FnMut(String),
) -> bool {
    let actual = sha256_hex(answer);
    if answer.trim().is_empty() {
        err(format!("{what}.answer is empty"));
        return false;
    }
    match recorded {
        None => {
            err(format!("{what} has no sha256 (run `guichet stamp`)"));
            false
        }
        Some(r) if r.trim().to_lowercase() != actual => {
            err(format!(
                "{what} changed since it was validated (sha256 {r} but the text hashes to {actual})"
            ));
            false
        }
        Some(_) => true,
    }
}

fn read(path: &Path) -> Result<String, CorpusError> {
    std::fs::read_to_string(path).map_err(|source| CorpusError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn entry_files(dir: &Path) -> Result<Vec<PathBuf>, CorpusError> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|source| CorpusError::Io {
            path: d.clone(),
            source,
        })?;
        for item in rd {
            let path = item
                .map_err(|source| CorpusError::Io {
                    path: d.clone(),
                    source,
                })?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

struct Parsed {
    services: Option<Services>,
    messages: Option<Messages>,
    glossary: Option<Glossary>,
    /// Entries that parsed, with whether they may be served.
    entries: Vec<(Entry, bool)>,
    problems: Vec<Problem>,
    /// Whether a problem makes the whole corpus unusable (not just one entry).
    blocking: bool,
}

fn parse_dir(dir: &Path, today: NaiveDate) -> Result<Parsed, CorpusError> {
    let mut problems = Vec::new();
    let mut blocking = false;
    let global = |name: &str,
                  problems: &mut Vec<Problem>,
                  required: bool|
     -> Result<Option<(PathBuf, String)>, CorpusError> {
        let path = dir.join(name);
        if !path.exists() {
            if required {
                problems.push(Problem::error(&path, None, format!("{name} is missing")));
            }
            return Ok(None);
        }
        Ok(Some((path.clone(), read(&path)?)))
    };
    let services = global("services.toml", &mut problems, true)?
        .and_then(|(p, t)| take(Services::parse(&p, &t), &mut problems));
    let messages = global("messages.toml", &mut problems, true)?
        .and_then(|(p, t)| take(Messages::parse(&p, &t, today), &mut problems))
        .map(|(m, found)| {
            problems.extend(found);
            m
        });
    let glossary = match global("glossary.toml", &mut problems, false)? {
        Some((p, t)) => take(Glossary::parse(&p, &t), &mut problems),
        None => Some(Glossary::default()),
    };
    if services.is_none() || messages.is_none() || glossary.is_none() {
        blocking = true;
    }

    let entries_dir = dir.join("entries");
    if !entries_dir.is_dir() {
        problems.push(Problem::error(
            &entries_dir,
            None,
            "the entries/ folder is missing",
        ));
        blocking = true;
    }
    let files = if entries_dir.is_dir() {
        entry_files(&entries_dir)?
    } else {
        Vec::new()
    };
    let mut entries: Vec<(Entry, bool)> = Vec::new();
    let mut seen: HashMap<EntryId, PathBuf> = HashMap::new();
    for path in files {
        let text = read(&path)?;
        let (entry, mut found) = parse_entry(&path, &text, services.as_ref(), today);
        if let Some(entry) = entry {
            if let Some(first) = seen.get(&entry.id) {
                found.push(Problem::error(
                    &path,
                    None,
                    format!(
                        "duplicate id {}: already used by {}",
                        entry.id,
                        first.display()
                    ),
                ));
            } else {
                seen.insert(entry.id.clone(), path.clone());
            }
            let servable = entry.status == Status::Validated
                && !found.iter().any(|p| p.severity == Severity::Error);
            entries.push((entry, servable));
        }
        problems.extend(found);
    }
    Ok(Parsed {
        services,
        messages,
        glossary,
        entries,
        problems,
        blocking,
    })
}

/// Every problem of the corpus in `dir`, as of `today` (what `guichet check` prints).
pub fn take<T>(parsed: Result<T, Vec<Problem>>, problems: &mut Vec<Problem>) -> Option<T> {
    parsed.map_err(|p| problems.extend(p)).ok()
}

/// Every problem of the corpus in `dir`, as of `today` (what `guichet check` prints).
pub fn check(dir: &Path, today: NaiveDate) -> Result<Vec<Problem>, CorpusError> {
    Ok(parse_dir(dir, today)?.problems)
}

/// The servable corpus in `dir`, as of `today`, with the problems of the entries left out.
/// Fails only when the corpus as a whole cannot be used (services, messages, glossary).
pub fn load(dir: &Path, today: NaiveDate) -> Result<(Corpus, Vec<Problem>), CorpusError> {
    let parsed = parse_dir(dir, today)?;
    if parsed.blocking {
        return Err(CorpusError::Invalid(
            parsed
                .problems
                .into_iter()
                .filter(|p| p.severity == Severity::Error)
                .collect(),
        ));
    }
    let (Some(services), Some(messages), Some(glossary)) =
        (parsed.services, parsed.messages, parsed.glossary)
    else {
        unreachable!("blocking is set whenever a global file is missing")
    };
    let entries = parsed
        .entries
        .into_iter()
        .filter_map(|(e, servable)| servable.then_some(e))
        .collect();
    Ok((
        Corpus::build(entries, services, messages, glossary),
        parsed.problems,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_is_cut_from_a_trimmed_body() {
        let s = split_front_matter("+++\nid = \"a\"\n+++\n\nLe texte.\n\n").unwrap();
        assert_eq!(s.front, "id = \"a\"\n");
        assert_eq!(s.body, "Le texte.");
    }

    #[test]
    fn a_file_without_front_matter_is_refused_at_line_one() {
        assert_eq!(split_front_matter("Bonjour\n").unwrap_err().0, 1);
        assert_eq!(split_front_matter("+++\nid = 1\n").unwrap_err().0, 1);
    }
}
