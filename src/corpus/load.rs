//! Reading a corpus folder: `services.toml`, `messages.toml`, `glossary.toml` and one
//! Markdown file per entry under `entries/`. Every problem is collected, none hides another.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use super::entry::{Entry, EntryId, Status, Translation, Variant};
use super::problem::{Kind, Msg, Problem, Severity, line_of, msg, toml_problem};
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
    lang: Option<Spanned<String>>,
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
    /// The `answer_sha256` of the French answer this variant was validated against.
    source_sha256: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTranslation {
    question: String,
    answer: String,
    sha256: Option<String>,
    /// The `answer_sha256` of the French answer this translation was validated against.
    source_sha256: Option<String>,
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

fn no_opening() -> Msg {
    msg!(
        "le fichier doit commencer par une ligne `+++` qui ouvre l'en-tête TOML",
        "the file must start with a line `+++` opening the TOML front matter"
    )
}

/// Cuts `+++` front matter from the body; the error says which line is wrong.
pub(crate) fn split_front_matter(text: &str) -> Result<Split<'_>, (usize, Msg)> {
    let mut offset = 0;
    let mut delimiters = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_end() == "+++" {
            delimiters.push((i + 1, offset, offset + line.len()));
            if delimiters.len() == 2 {
                break;
            }
        } else if i == 0 {
            return Err((1, no_opening()));
        }
        offset += line.len();
    }
    match delimiters.as_slice() {
        [] => Err((1, no_opening())),
        [(line, ..)] => Err((
            *line,
            msg!(
                "l'en-tête ouvert ici n'est jamais fermé par une ligne `+++`",
                "the front matter opened here is never closed by a line `+++`"
            ),
        )),
        [(_, _, front_start), (_, close_start, close_end), ..] => Ok(Split {
            front: &text[*front_start..*close_start],
            front_first_line: 2,
            body: text[*close_end..].trim(),
            rest_start: *close_end,
        }),
    }
}

fn parse_date(raw: &Spanned<String>) -> Result<NaiveDate, Msg> {
    let shown = raw.get_ref();
    NaiveDate::parse_from_str(shown, "%Y-%m-%d").map_err(|_| {
        msg!(
            "{shown:?} n'est pas une date \"AAAA-MM-JJ\"",
            "{shown:?} is not a date \"YYYY-MM-DD\""
        )
    })
}

/// The writing rules of corpus/README.md: answers of 40 to 180 words, 3 to 6 alternates.
const ANSWER_WORDS: std::ops::RangeInclusive<usize> = 40..=180;
const ALTERNATES: std::ops::RangeInclusive<usize> = 3..=6;

/// Words as a reader counts them: runs with a letter or digit (not list dashes, not `:`).
fn word_count(text: &str) -> usize {
    text.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

/// A raw HTML tag or comment. Answers are Markdown: the channels and the widget show HTML
/// as text, so `<b>` would reach a person as `<b>`. Autolinks (`<https://…>`) are not tags.
fn html_tag(text: &str) -> Option<&str> {
    static TAG: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"<!--|</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
            .expect("the HTML tag pattern compiles")
    });
    TAG.find(text).map(|m| m.as_str())
}

/// The entry's services.toml problems, the same for `check` and `stamp`: the service must
/// exist, and a validation must be signed by it (its name or a declared validator).
pub(crate) fn service_problems(
    path: &Path,
    services: &Services,
    service: &str,
    service_line: Option<usize>,
    validated_by: Option<(&str, Option<usize>)>,
) -> Vec<Problem> {
    let Some(s) = services.get(service) else {
        return vec![Problem::error(
            path,
            service_line,
            msg!(
                "le service {service:?} n'est pas défini dans services.toml (la clé doit être celle d'un [services.…] et le nom du dossier)",
                "service {service:?} is not defined in services.toml"
            ),
        )];
    };
    match validated_by {
        Some((by, line)) if !s.may_validate(by) => {
            let signers = s.signers();
            vec![Problem::error(
                path,
                line,
                msg!(
                    "validated_by {by:?} n'est pas le service {service} : seul {signers} peut valider ses réponses (services.toml, champ validators pour en ajouter)",
                    "validated_by {by:?} is not service {service}: only {signers} may validate its answers (services.toml, validators to add some)"
                ),
            )]
        }
        _ => Vec::new(),
    }
}

/// Parses and checks one entry file. Returns the entry when it could be read at all, and
/// every problem found; the entry is servable only when no problem is an error.
pub(crate) fn parse_entry(
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
            return (
                None,
                vec![toml_problem(path, split.front, split.front_first_line, &e)],
            );
        }
    };
    let mut err = |line: Option<usize>, msg: Msg| problems.push(Problem::error(path, line, msg));

    let id = match EntryId::parse(raw.id.get_ref()) {
        Ok(id) => id,
        Err(_) => {
            let shown = raw.id.get_ref();
            err(
                at(raw.id.span()),
                msg!(
                    "l'id {shown:?} doit être fait de minuscules sans accents, de chiffres et de tirets simples (80 caractères au plus)",
                    "id {shown:?} is not a slug (lowercase letters, digits and single hyphens, at most 80 characters)"
                ),
            );
            EntryId::trusted(raw.id.get_ref().clone())
        }
    };
    let misplaced = (path.file_stem().and_then(|s| s.to_str()) != Some(id.as_str())).then(|| {
        Problem::error(
            path,
            at(raw.id.span()),
            msg!(
                "le fichier doit s'appeler {id}.md, comme son id",
                "the file should be named {id}.md, after its id"
            ),
        )
        .with_kind(Kind::Misplaced)
    });
    if raw.question.get_ref().trim().is_empty() {
        err(
            at(raw.question.span()),
            msg!("la question est vide", "question is empty"),
        );
    }
    let status = Status::parse(raw.status.get_ref()).unwrap_or_else(|| {
        let shown = raw.status.get_ref();
        err(
            at(raw.status.span()),
            msg!(
                "status {shown:?} doit être draft, validated ou withdrawn",
                "status {shown:?} must be draft, validated or withdrawn"
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
    let body_line = line_of(text, split.rest_start).min(text.lines().count().max(1));
    if answer.is_empty() {
        err(
            Some(text.lines().count().max(1)),
            msg!(
                "la réponse (le texte après l'en-tête) est vide",
                "the answer (the text after the front matter) is empty"
            ),
        );
    }
    let lang = raw
        .lang
        .as_ref()
        .map_or_else(|| "fr".to_string(), |l| l.get_ref().clone());
    if lang.len() != 2 || !lang.bytes().all(|b| b.is_ascii_lowercase()) {
        err(
            raw.lang.as_ref().and_then(|l| at(l.span())),
            msg!(
                "lang {lang:?} doit être un code de deux lettres comme \"fr\"",
                "lang {lang:?} must be a two-letter code such as \"fr\""
            ),
        );
    }
    if let Some(url) = &raw.url
        && !url.get_ref().starts_with("https://")
    {
        let shown = url.get_ref();
        err(
            at(url.span()),
            msg!(
                "l'url {shown:?} doit commencer par https://",
                "url {shown:?} must start with https://"
            ),
        );
    }
    if let Some(tag) = html_tag(&answer) {
        err(
            Some(body_line),
            msg!(
                "la réponse contient du HTML ({tag}) : les réponses s'écrivent en Markdown seulement (**gras**, [lien](https://…)), le HTML s'afficherait tel quel",
                "the answer contains HTML ({tag}): answers are Markdown only (**bold**, [link](https://…)); HTML would be shown as text"
            ),
        );
    }
    let actual = sha256_hex(&answer);
    let recorded = raw
        .answer_sha256
        .as_ref()
        .map(|s| s.get_ref().trim().to_lowercase())
        .unwrap_or_default();
    let mut stale = Vec::new();
    let easy_read = raw.easy_read.as_ref().and_then(|v| {
        let (line, v) = (at(v.span()), v.get_ref());
        let own = check_variant(path, line, "easy_read", &v.answer, v.sha256.as_deref());
        let fresh = own.is_empty() && {
            let s = stale_problem(path, line, "easy_read", v.source_sha256.as_deref(), &actual);
            s.map(|p| {
                problems.push(p);
                stale.push("easy_read".to_string());
            })
            .is_none()
        };
        problems.extend(own);
        fresh.then(|| Variant {
            answer: v.answer.clone(),
            sha256: sha256_hex(&v.answer),
        })
    });
    let mut translations = BTreeMap::new();
    for (tr_lang, tr) in &raw.translations {
        let (line, t) = (at(tr.span()), tr.get_ref());
        let what = format!("translations.{tr_lang}");
        let mut own = check_variant(path, line, &what, &t.answer, t.sha256.as_deref());
        if t.question.trim().is_empty() {
            own.push(Problem::error(
                path,
                line,
                msg!("{what}.question est vide", "{what}.question is empty"),
            ));
        }
        let fresh = own.is_empty()
            && stale_problem(path, line, &what, t.source_sha256.as_deref(), &actual)
                .map(|p| {
                    problems.push(p);
                    stale.push(tr_lang.clone());
                })
                .is_none();
        problems.extend(own);
        if fresh {
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
    if let Some(services) = services {
        let by = raw.validated_by.as_deref().filter(|b| !b.trim().is_empty());
        let by_line = by.and_then(|b| {
            split
                .front
                .lines()
                .position(|l| l.starts_with("validated_by") && l.contains(b))
                .map(|i| i + split.front_first_line)
        });
        problems.extend(service_problems(
            path,
            services,
            raw.service.get_ref(),
            at(raw.service.span()),
            by.map(|b| (b, by_line)),
        ));
    }
    let mut err = |line: Option<usize>, msg: Msg| problems.push(Problem::error(path, line, msg));
    // A missing field has no line of its own: the status that requires it has one.
    let status_line = at(raw.status.span());
    if status == Status::Validated {
        if raw
            .validated_by
            .as_deref()
            .is_none_or(|s| s.trim().is_empty())
        {
            err(
                status_line,
                msg!(
                    "une entrée validée doit avoir validated_by (lancer `guichet stamp FICHIER --by \"Service\"`)",
                    "a validated entry needs validated_by (run `guichet stamp FILE --by \"Service\"`)"
                ),
            );
        }
        match validated_on {
            None => err(
                status_line,
                msg!(
                    "une entrée validée doit avoir validated_on (lancer `guichet stamp`)",
                    "a validated entry needs validated_on (run `guichet stamp`)"
                ),
            ),
            Some(d) if d > today => err(
                raw.validated_on.as_ref().and_then(|s| at(s.span())),
                msg!(
                    "validated_on {d} est dans le futur",
                    "validated_on {d} is in the future"
                ),
            ),
            Some(_) => {}
        }
        match &raw.answer_sha256 {
            None => err(
                status_line,
                msg!(
                    "une entrée validée doit avoir answer_sha256 (lancer `guichet stamp`)",
                    "a validated entry needs answer_sha256 (run `guichet stamp`)"
                ),
            ),
            Some(s) if recorded != actual => problems.push(
                Problem::error(
                    path,
                    at(s.span()),
                    msg!(
                        "la réponse a changé depuis sa validation (answer_sha256 {recorded} mais le texte donne {actual}) : elle n'est plus servie tant que le service ne l'a pas revalidée avec `guichet stamp`",
                        "the answer changed since it was validated (answer_sha256 {recorded} but the text hashes to {actual}): not served until validated again with `guichet stamp`"
                    ),
                )
                .with_kind(Kind::Changed),
            ),
            Some(_) => {}
        }
        if let Some(review) = review_by {
            let line = raw.review_by.as_ref().and_then(|s| at(s.span()));
            if review < today {
                problems.push(
                    Problem::error(
                        path,
                        line,
                        msg!(
                            "la date de relecture {review} est passée : l'entrée n'est plus servie tant qu'elle n'a pas été relue",
                            "review date {review} has passed: not served until reviewed"
                        ),
                    )
                    .with_kind(Kind::ReviewPassed),
                );
            } else if (review - today).num_days() <= REVIEW_WARNING_DAYS {
                problems.push(
                    Problem::warning(
                        path,
                        line,
                        msg!(
                            "la date de relecture {review} approche",
                            "review date {review} is near"
                        ),
                    )
                    .with_kind(Kind::ReviewNear),
                );
            }
        }
    } else {
        let (fr, en) = if status == Status::Draft {
            ("brouillon", "draft")
        } else {
            ("retirée", "withdrawn")
        };
        problems.push(
            Problem::new(
                path,
                at(raw.status.span()),
                Severity::Note,
                msg!("{fr} : non servie", "{en}: not served"),
            )
            .with_kind(Kind::NotServed),
        );
    }

    let words = word_count(&answer);
    if !answer.is_empty() && !ANSWER_WORDS.contains(&words) {
        let (min, max) = (ANSWER_WORDS.start(), ANSWER_WORDS.end());
        problems.push(
            Problem::warning(
                path,
                Some(body_line),
                msg!(
                    "la réponse fait {words} mots : corpus/README.md conseille de {min} à {max} mots (assez pour dire quoi faire, où, quand, combien ; pas plus qu'on ne lit sur un téléphone)",
                    "the answer has {words} words: corpus/README.md advises {min} to {max}"
                ),
            )
            .with_kind(Kind::Writing),
        );
    }
    let alternates = raw.alternates.len();
    if !ALTERNATES.contains(&alternates) {
        let (min, max) = (ALTERNATES.start(), ALTERNATES.end());
        let line = split
            .front
            .lines()
            .position(|l| l.starts_with("alternates"))
            .map(|i| i + split.front_first_line)
            // None written: the question they would be phrasings of.
            .or_else(|| at(raw.question.span()));
        problems.push(
            Problem::warning(
                path,
                line,
                msg!(
                    "{alternates} formulation(s) dans alternates : corpus/README.md en demande de {min} à {max} (mots du quotidien, sans accents, sigles, fautes courantes)",
                    "{alternates} alternate(s): corpus/README.md asks for {min} to {max}"
                ),
            )
            .with_kind(Kind::Writing),
        );
    }

    problems.extend(misplaced);
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
        stale,
        source: path.to_path_buf(),
    };
    (Some(entry), problems)
}

/// A variant's (easy-read, translation) own problems: empty, HTML, or a text that does
/// not match the hash it was validated with. Any of them keeps the variant from being served.
fn check_variant(
    path: &Path,
    line: Option<usize>,
    what: &str,
    answer: &str,
    recorded: Option<&str>,
) -> Vec<Problem> {
    if answer.trim().is_empty() {
        return vec![Problem::error(
            path,
            line,
            msg!("{what}.answer est vide", "{what}.answer is empty"),
        )];
    }
    let mut problems = Vec::new();
    if let Some(tag) = html_tag(answer) {
        problems.push(Problem::error(
            path,
            line,
            msg!(
                "{what}.answer contient du HTML ({tag}) : Markdown seulement, le HTML s'afficherait tel quel",
                "{what}.answer contains HTML ({tag}): Markdown only; HTML would be shown as text"
            ),
        ));
    }
    let actual = sha256_hex(answer);
    match recorded {
        None => problems.push(
            Problem::error(
                path,
                line,
                msg!(
                    "{what} n'a pas de sha256 (lancer `guichet stamp`)",
                    "{what} has no sha256 (run `guichet stamp`)"
                ),
            )
            .with_kind(Kind::Changed),
        ),
        Some(r) if r.trim().to_lowercase() != actual => problems.push(
            Problem::error(
                path,
                line,
                msg!(
                    "{what} a changé depuis sa validation (sha256 {r} mais le texte donne {actual}) : non servi tant qu'il n'est pas revalidé",
                    "{what} changed since it was validated (sha256 {r} but the text hashes to {actual})"
                ),
            )
            .with_kind(Kind::Changed),
        ),
        Some(_) => {}
    }
    problems
}

/// A variant validated against another French answer than today's is out of date: the
/// French changed (a time, an amount), so the variant may say something no longer true.
/// It is a warning, not an error: the entry is still served, in French.
fn stale_problem(
    path: &Path,
    line: Option<usize>,
    what: &str,
    source: Option<&str>,
    current: &str,
) -> Option<Problem> {
    let flag = if what == "easy_read" {
        "--easy-read".to_string()
    } else {
        format!("--variant {}", what.trim_start_matches("translations."))
    };
    let message = match source {
        Some(s) if s.trim().eq_ignore_ascii_case(current) => return None,
        Some(_) => msg!(
            "{what} est périmé : la réponse en français a changé depuis sa validation ; il n'est plus servi (la réponse en français l'est à sa place) tant qu'il n'est pas revu puis revalidé avec `guichet stamp FICHIER --by \"Service\" {flag}`",
            "{what} is out of date: the French answer changed since it was validated; not served (the French answer is, instead) until reviewed and validated again with `guichet stamp FILE --by \"Service\" {flag}`"
        ),
        None => msg!(
            "{what} n'a pas de source_sha256 : on ne sait pas sur quelle réponse en français il a été validé ; non servi tant qu'il n'est pas revalidé avec `guichet stamp FICHIER --by \"Service\" {flag}`",
            "{what} has no source_sha256: which French answer it was validated against is unknown; not served until validated with `guichet stamp FILE --by \"Service\" {flag}`"
        ),
    };
    Some(Problem::warning(path, line, message).with_kind(Kind::StaleVariant))
}

fn read(path: &Path) -> Result<String, CorpusError> {
    std::fs::read_to_string(path).map_err(|source| CorpusError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The global files of a corpus, beside `entries/`.
pub const GLOBAL_FILES: [&str; 3] = ["services.toml", "messages.toml", "glossary.toml"];

/// A corpus as its files: paths relative to the corpus root (`services.toml`,
/// `entries/etat-civil/pacs.md`, with `/`) and their exact text. A folder and the store's
/// knowledge base both become this, so one loader checks them alike and an export writes
/// back the very bytes that were imported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Files {
    /// Where problems point: the folder read, or a name for the store's knowledge base.
    root: PathBuf,
    texts: BTreeMap<String, String>,
    /// Entry files that could not be read as text, with the line where that starts
    /// (the first byte that is not UTF-8) and why.
    unreadable: Vec<(String, Option<usize>, String)>,
}

impl Files {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            ..Self::default()
        }
    }

    /// The corpus files of `dir`: the global files and every `.md` under `entries/`.
    pub fn read_dir(dir: &Path) -> Result<Self, CorpusError> {
        let mut files = Self::new(dir);
        for name in GLOBAL_FILES {
            let path = dir.join(name);
            if path.exists() {
                files.insert(name, read(&path)?);
            }
        }
        let entries_dir = dir.join("entries");
        if entries_dir.is_dir() {
            for path in entry_files(&entries_dir)? {
                let rel = relative(dir, &path);
                match std::fs::read_to_string(&path) {
                    Ok(text) => files.insert(&rel, text),
                    Err(e) => files
                        .unreadable
                        .push((rel, unreadable_line(&path), e.to_string())),
                }
            }
        }
        Ok(files)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn insert(&mut self, rel: &str, text: String) {
        self.texts.insert(rel.to_string(), text);
    }

    pub fn remove(&mut self, rel: &str) -> Option<String> {
        self.texts.remove(rel)
    }

    pub fn get(&self, rel: &str) -> Option<&str> {
        self.texts.get(rel).map(String::as_str)
    }

    /// Every file, by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.texts.iter().map(|(p, t)| (p.as_str(), t.as_str()))
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// The path a problem about `rel` names.
    pub fn path_of(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes every file under `dir`, byte for byte, folders created.
    pub fn write_to(&self, dir: &Path) -> Result<(), CorpusError> {
        for (rel, text) in &self.texts {
            let path = dir.join(rel);
            let io = |source| CorpusError::Io {
                path: path.clone(),
                source,
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            std::fs::write(&path, text).map_err(io)?;
        }
        Ok(())
    }
}

/// `path` under `dir`, with `/` whatever the platform.
fn relative(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
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

/// The line (1-based) of the file's first byte that is not UTF-8, when it can be read at all.
fn unreadable_line(path: &Path) -> Option<usize> {
    let bytes = std::fs::read(path).ok()?;
    let valid = match std::str::from_utf8(&bytes) {
        Ok(_) => return Some(1),
        Err(e) => e.valid_up_to(),
    };
    Some(bytes[..valid].iter().filter(|&&b| b == b'\n').count() + 1)
}

/// The line of a top-level `key = …` of an entry's front matter, for problems the TOML
/// parser gives no span for (a missing field, a field read as a plain string).
pub(crate) fn front_key_line(text: &str, key: &str) -> Option<usize> {
    let split = split_front_matter(text).ok()?;
    split
        .front
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + split.front_first_line)
}

/// An entry file that parsed, before the duplicates across files are known.
struct ReadEntry {
    entry: Entry,
    found: Vec<Problem>,
    id_line: Option<usize>,
    /// Named after its id and in its service's folder: where the entry belongs, so the
    /// one kept when a copy takes the same id.
    rightful: bool,
}

/// An entry whose folder under `entries/` is not its service: a copy moved there, or a
/// service changed without moving the file. Either way the folder says one owner and the
/// file another, and a copy would otherwise pass for the original.
fn folder_problem(
    path: &Path,
    rel: &str,
    service: &str,
    service_line: Option<usize>,
) -> Option<Problem> {
    let parts: Vec<&str> = rel.split('/').collect();
    let message = match parts.as_slice() {
        ["entries", folder, _, ..] if *folder == service => return None,
        ["entries", folder, _, ..] => msg!(
            "le fichier est dans le dossier entries/{folder}/ mais son service est {service:?} : une fiche se range dans le dossier de son service (entries/{service}/) ; déplacez-la, ou corrigez le service",
            "the file is in folder entries/{folder}/ but its service is {service:?}: an entry belongs in its service's folder (entries/{service}/); move it, or correct the service"
        ),
        _ => msg!(
            "le fichier n'est dans aucun dossier de service : rangez-le dans entries/{service}/",
            "the file is in no service folder: put it in entries/{service}/"
        ),
    };
    Some(Problem::error(path, service_line, message).with_kind(Kind::Misplaced))
}

/// One problem per file that takes an id another file already has, naming both files
/// and lines. The file that keeps the id is judged on its own text only, so a copy never
/// knocks out the original: the rightful one (named after its id, in its service's
/// folder) without errors of its own, else the rightful one, else the first by path.
fn duplicate_problems(read: &mut [ReadEntry]) {
    let mut groups: BTreeMap<EntryId, Vec<usize>> = BTreeMap::new();
    for (i, r) in read.iter().enumerate() {
        groups.entry(r.entry.id.clone()).or_default().push(i);
    }
    for members in groups.values().filter(|m| m.len() > 1) {
        let clean = |i: &&usize| {
            read[**i].rightful
                && !read[**i]
                    .found
                    .iter()
                    .any(|p| p.severity == Severity::Error)
        };
        let keeper = *members
            .iter()
            .find(clean)
            .or_else(|| members.iter().find(|&&i| read[i].rightful))
            .unwrap_or(&members[0]);
        let kept = shown_at(&read[keeper]);
        for &i in members.iter().filter(|&&i| i != keeper) {
            let id = read[i].entry.id.clone();
            let here = read[i].entry.source.clone();
            let message = if read[keeper].rightful && !read[i].rightful {
                msg!(
                    "id {id} en double : déjà pris par {kept}, l'original ; ce fichier-ci en est une copie mal rangée, supprimez-le ou donnez-lui un autre id (et le nom de fichier qui va avec)",
                    "duplicate id {id}: already used by {kept}, the original; this file is a misplaced copy, delete it or give it another id (and the matching file name)"
                )
            } else {
                msg!(
                    "id {id} en double : déjà pris par {kept} ; un id ne désigne qu'une fiche, changez l'un des deux",
                    "duplicate id {id}: already used by {kept}; an id names one entry, change one of them"
                )
            };
            read[i]
                .found
                .push(Problem::error(&here, read[i].id_line, message));
        }
    }
}

/// `file:line` of an entry's id, as problems print it.
fn shown_at(r: &ReadEntry) -> String {
    let file = r.entry.source.display();
    match r.id_line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_string(),
    }
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

fn parse_files(files: &Files, today: NaiveDate) -> Parsed {
    let mut problems = Vec::new();
    let mut blocking = false;
    let global = |name: &str, problems: &mut Vec<Problem>, required: bool| {
        let path = files.path_of(name);
        match files.get(name) {
            Some(text) => Some((path, text)),
            None => {
                if required {
                    problems.push(Problem::error(
                        &path,
                        None,
                        msg!("{name} manque", "{name} is missing"),
                    ));
                }
                None
            }
        }
    };
    let services = global("services.toml", &mut problems, true)
        .and_then(|(p, t)| take(Services::parse(&p, t), &mut problems));
    let messages = global("messages.toml", &mut problems, true)
        .and_then(|(p, t)| take(Messages::parse(&p, t, today), &mut problems))
        .map(|(m, found)| {
            problems.extend(found);
            m
        });
    let glossary = match global("glossary.toml", &mut problems, false) {
        Some((p, t)) => take(Glossary::parse(&p, t), &mut problems),
        None => Some(Glossary::default()),
    };
    if services.is_none() || messages.is_none() || glossary.is_none() {
        blocking = true;
    }

    let entry_paths: Vec<&str> = files
        .iter()
        .map(|(rel, _)| rel)
        .filter(|rel| rel.starts_with("entries/") && rel.ends_with(".md"))
        .collect();
    if entry_paths.is_empty() && files.unreadable.is_empty() {
        problems.push(Problem::error(
            &files.path_of("entries"),
            None,
            msg!(
                "le dossier entries/ manque",
                "the entries/ folder is missing"
            ),
        ));
        blocking = true;
    }
    // An unreadable entry is one problem among others, not the end of the check.
    for (rel, line, e) in &files.unreadable {
        problems.push(Problem::error(
            &files.path_of(rel),
            *line,
            msg!(
                "fichier illisible ({e}) : enregistrez-le en UTF-8",
                "unreadable file ({e}): save it as UTF-8"
            ),
        ));
    }
    let mut read: Vec<ReadEntry> = Vec::new();
    for rel in entry_paths {
        let path = files.path_of(rel);
        let text = files.get(rel).unwrap_or_default();
        let (entry, mut found) = parse_entry(&path, text, services.as_ref(), today);
        let Some(entry) = entry else {
            problems.extend(found);
            continue;
        };
        let service_line = front_key_line(text, "service");
        if let Some(problem) = folder_problem(&path, rel, &entry.service, service_line) {
            found.push(problem);
        }
        let rightful = !found.iter().any(Problem::misplaces);
        read.push(ReadEntry {
            id_line: front_key_line(text, "id"),
            entry,
            found,
            rightful,
        });
    }
    duplicate_problems(&mut read);
    let mut entries: Vec<(Entry, bool)> = Vec::new();
    for r in read {
        let servable = r.entry.status == Status::Validated
            && !r.found.iter().any(|p| p.severity == Severity::Error);
        entries.push((r.entry, servable));
        problems.extend(r.found);
    }
    Parsed {
        services,
        messages,
        glossary,
        entries,
        problems,
        blocking,
    }
}

/// Keeps the value, or moves its problems into `problems`.
pub fn take<T>(parsed: Result<T, Vec<Problem>>, problems: &mut Vec<Problem>) -> Option<T> {
    parsed.map_err(|p| problems.extend(p)).ok()
}

/// Every problem of the corpus in `dir`, as of `today` (what `guichet check` prints).
pub fn check(dir: &Path, today: NaiveDate) -> Result<Vec<Problem>, CorpusError> {
    Ok(check_files(&Files::read_dir(dir)?, today))
}

/// Every problem of a corpus given as its files.
pub fn check_files(files: &Files, today: NaiveDate) -> Vec<Problem> {
    parse_files(files, today).problems
}

/// The corpus in `dir` as a server may start on it, or every problem that refuses it.
///
/// One rule for every file: any error in a file (services.toml, messages.toml,
/// glossary.toml or an entry) refuses the whole corpus, with every problem listed, so a
/// deployment catches it; review dates that passed only withhold their entry (the
/// calendar, not a broken file). Nothing here panics or exits: a hot reload calls this
/// and, on `Err`, keeps serving the engine it has, so a corpus change never takes a
/// running server down. On `Ok`, the problems are the warnings and notes.
pub fn load_checked(dir: &Path, today: NaiveDate) -> Result<(Corpus, Vec<Problem>), CorpusError> {
    load_files_checked(&Files::read_dir(dir)?, today)
}

/// [`load_checked`] on a corpus given as its files (the store's knowledge base).
pub fn load_files_checked(
    files: &Files,
    today: NaiveDate,
) -> Result<(Corpus, Vec<Problem>), CorpusError> {
    let (corpus, problems) = load_files(files, today)?;
    let blocking: Vec<Problem> = problems
        .iter()
        .filter(|p| p.blocks_start())
        .cloned()
        .collect();
    if blocking.is_empty() {
        Ok((corpus, problems))
    } else {
        Err(CorpusError::Invalid(blocking))
    }
}

/// The servable corpus in `dir`, as of `today`, with the problems of the entries left out
/// (what `check` and the reports count). Fails only when the corpus as a whole cannot be
/// used (services, messages, glossary); a server starts with [`load_checked`] instead.
pub fn load(dir: &Path, today: NaiveDate) -> Result<(Corpus, Vec<Problem>), CorpusError> {
    load_files(&Files::read_dir(dir)?, today)
}

/// [`load`] on a corpus given as its files.
pub fn load_files(files: &Files, today: NaiveDate) -> Result<(Corpus, Vec<Problem>), CorpusError> {
    let parsed = parse_files(files, today);
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

    fn demo() -> Files {
        Files::read_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")).unwrap()
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
    }

    /// The errors of `files` about `rel`, printed.
    fn errors_of(files: &Files, rel: &str) -> Vec<String> {
        check_files(files, day())
            .iter()
            .filter(|p| p.severity == Severity::Error && p.file == files.path_of(rel))
            .map(ToString::to_string)
            .collect()
    }

    fn served_from(files: &Files, id: &str) -> Option<PathBuf> {
        let (c, _) = load_files(files, day()).unwrap();
        c.index_of(id).map(|i| c.entry(i).source.clone())
    }

    #[test]
    fn a_misnamed_copy_that_sorts_first_is_blamed_and_the_original_stays() {
        let mut files = demo();
        let original = "entries/education/cantine-tarifs.md";
        let copy = "entries/education/cantine-tarifs-copie.md";
        let text = files.get(original).unwrap().to_string();
        files.insert(copy, text.clone());
        let id_line = text.lines().position(|l| l.starts_with("id = ")).unwrap() + 1;
        assert!(
            errors_of(&files, original).is_empty(),
            "the original is not blamed"
        );
        let on_copy = errors_of(&files, copy);
        let root = files.root().display().to_string();
        let original_at = format!("{root}/{original}:{id_line}");
        assert!(
            on_copy.iter().any(|p| p.contains(&format!(
                "{copy}:{id_line}: erreur: id cantine-tarifs en double"
            )) && p.contains(&original_at)),
            "{on_copy:?}"
        );
        assert_eq!(
            served_from(&files, "cantine-tarifs"),
            Some(files.path_of(original))
        );
        // A server refuses it all the same, with both problems of the copy.
        let Err(CorpusError::Invalid(refused)) = load_files_checked(&files, day()) else {
            panic!("a duplicate refuses a start");
        };
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(
            refused
                .iter()
                .all(|p| p.file == files.path_of(copy) && p.line == Some(id_line))
        );
    }

    #[test]
    fn a_copy_in_another_services_folder_is_reported_and_never_replaces_the_original() {
        let mut files = demo();
        let original = "entries/etat-civil/pacs.md";
        let copy = "entries/accueil/pacs.md";
        let text = files.get(original).unwrap().to_string();
        files.insert(copy, text.clone());
        let line = |key: &str| front_key_line(&text, key);
        let on_copy = errors_of(&files, copy);
        assert!(
            on_copy.iter().any(|p| p.contains(&format!(
                "{copy}:{}: erreur: le fichier est dans le dossier entries/accueil/",
                line("service").unwrap()
            ))),
            "{on_copy:?}"
        );
        assert!(
            on_copy.iter().any(|p| p.contains("en double")),
            "{on_copy:?}"
        );
        assert!(errors_of(&files, original).is_empty());
        assert_eq!(served_from(&files, "pacs"), Some(files.path_of(original)));
    }

    #[test]
    fn a_file_moved_alone_into_another_folder_is_refused() {
        let mut files = demo();
        let text = files.remove("entries/voirie/fourriere.md").unwrap();
        let moved = "entries/urbanisme/fourriere.md";
        files.insert(moved, text.clone());
        let errors = errors_of(&files, moved);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains(&format!(
            "{moved}:{}:",
            front_key_line(&text, "service").unwrap()
        )));
        assert!(
            errors[0].contains("entries/voirie/"),
            "says where it belongs: {errors:?}"
        );
        assert_eq!(served_from(&files, "fourriere"), None);
        assert!(load_files_checked(&files, day()).is_err());
        let mut top = demo();
        let text = top.remove("entries/voirie/fourriere.md").unwrap();
        top.insert("entries/fourriere.md", text);
        assert!(errors_of(&top, "entries/fourriere.md")[0].contains("aucun dossier de service"));
    }

    #[test]
    fn two_rightful_files_with_one_id_keep_the_clean_one() {
        let mut files = demo();
        let original = "entries/etat-civil/pacs.md";
        // The same id in another service, in that service's folder: a real conflict. The
        // copy is signed by the wrong service, so the original is the one to keep.
        let text = files.get(original).unwrap().replacen(
            "service = \"etat-civil\"",
            "service = \"accueil\"",
            1,
        );
        files.insert("entries/accueil/pacs.md", text);
        assert!(errors_of(&files, original).is_empty());
        assert!(
            errors_of(&files, "entries/accueil/pacs.md")
                .iter()
                .any(|p| p.contains("un id ne désigne qu'une fiche"))
        );
        assert_eq!(served_from(&files, "pacs"), Some(files.path_of(original)));
    }

    #[test]
    fn every_problem_of_a_broken_file_has_a_line() {
        let mut files = demo();
        let rel = "entries/accueil/objets-trouves.md";
        let text = files.get(rel).unwrap();
        let broken: String = text
            .lines()
            .filter(|l| {
                !["validated_on", "answer_sha256", "validated_by", "lang"]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .replacen("+++\n", "+++\nlang = \"français\"\n", 1);
        files.insert(rel, broken);
        let problems: Vec<Problem> = check_files(&files, day())
            .into_iter()
            .filter(|p| p.file == files.path_of(rel) && p.severity == Severity::Error)
            .collect();
        assert!(problems.len() >= 4, "{problems:?}");
        for p in &problems {
            assert!(p.line.is_some(), "{p}");
        }
    }

    #[test]
    fn a_file_that_is_not_utf8_is_named_with_the_line_it_breaks_at() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        for name in GLOBAL_FILES {
            std::fs::copy(root.join(name), dir.path().join(name)).unwrap();
        }
        let entries = dir.path().join("entries/accueil");
        std::fs::create_dir_all(&entries).unwrap();
        std::fs::write(
            entries.join("latin1.md"),
            b"+++\nid = \"latin1\"\nquestion = \"caf\xe9\"\n",
        )
        .unwrap();
        let problems = check(dir.path(), day()).unwrap();
        let p = problems
            .iter()
            .find(|p| p.message.contains("illisible"))
            .unwrap();
        assert_eq!(p.line, Some(3), "{p}");
    }

    #[test]
    fn a_file_without_front_matter_is_refused_at_line_one() {
        assert_eq!(split_front_matter("Bonjour\n").unwrap_err().0, 1);
        assert_eq!(split_front_matter("+++\nid = 1\n").unwrap_err().0, 1);
    }

    /// Fuzz harnesses: entry files are written by hand by corpus editors (and come in
    /// through the console's editor), so any text must give problems with a line, never
    /// a panic. Bounded so that a debug `cargo test` spends seconds here.
    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        const CASES: u32 = 512;

        fn today() -> NaiveDate {
            NaiveDate::from_ymd_opt(2026, 12, 1).expect("a valid date")
        }

        /// Lines an entry file is made of, right and wrong, so that the generated files
        /// reach past the TOML parser into the checks.
        fn line() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("+++".to_string()),
                Just("id = \"cantine-tarifs\"".to_string()),
                "id = \"[a-zA-Z0-9 -]{0,12}\"",
                Just("question = \"Combien coûte la cantine ?\"".to_string()),
                Just("question = '  '".to_string()),
                Just("question = 'l'emplacement'".to_string()),
                Just("service = \"education\"".to_string()),
                "status = \"(draft|validated|withdrawn|[a-z]{0,6})\"",
                Just("validated_by = \"Service Éducation\"".to_string()),
                "validated_on = \"20[0-9]{2}-[0-1][0-9]-[0-3][0-9]\"",
                "review_by = \"[0-9-]{0,12}\"",
                "answer_sha256 = \"[0-9a-f]{0,64}\"",
                "lang = \"[a-zA-Z]{0,3}\"",
                "url = \"(https://|http://)?[a-z.]{0,10}\"",
                Just("tags = [\"a\", 1]".to_string()),
                Just("[easy_read]".to_string()),
                "answer = \"[^\"\\\\]{0,20}\"",
                "sha256 = \"[0-9a-f]{0,64}\"",
                Just("source_sha256 = \"0\"".to_string()),
                "\\[translations\\.[a-z]{0,3}\\]",
                Just("question = \"What?\"".to_string()),
                Just("unknown = true".to_string()),
                Just("[[x]]".to_string()),
                "[^\n]{0,30}",
                Just(String::new()),
                Just("<b>gras</b>".to_string()),
            ]
        }

        fn toml_ish() -> impl Strategy<Value = String> {
            proptest::collection::vec(line(), 0..24).prop_map(|lines| lines.join("\n"))
        }

        /// A file with the four required keys, each optional key absent, right or wrong:
        /// the TOML parses, so every check of the fields runs.
        fn structured() -> impl Strategy<Value = String> {
            let optional = |key: &'static str, values: &'static [&'static str]| {
                proptest::option::of(proptest::sample::select(values))
                    .prop_map(move |v| v.map(|v| format!("{key} = {v}")))
            };
            (
                proptest::sample::select(&["\"cantine-tarifs\"", "\"Cantine\"", "\"\""][..]),
                proptest::sample::select(&["\"Combien ?\"", "\" \""][..]),
                proptest::sample::select(&["\"validated\"", "\"draft\"", "\"ok\""][..]),
                (
                    optional("validated_by", &["\"Service\"", "\" \""]),
                    optional(
                        "validated_on",
                        &["\"2026-06-15\"", "\"2030-01-01\"", "\"15/06\""],
                    ),
                    optional("review_by", &["\"2027-06-15\"", "\"2026-01-01\"", "\"x\""]),
                    optional("answer_sha256", &["\"00\"", "\"4b\""]),
                    optional("lang", &["\"fr\"", "\"FR\"", "\"fra\""]),
                    optional("url", &["\"https://a.example\"", "\"http://a.example\""]),
                ),
                proptest::sample::select(&["Le texte.", "", "<b>gras</b>", "Un\n\ndeux."][..]),
            )
                .prop_map(|(id, question, status, optional, body)| {
                    let (a, b, c, d, e, f) = optional;
                    let mut lines = vec![
                        "+++".to_string(),
                        format!("id = {id}"),
                        format!("question = {question}"),
                        "service = \"education\"".to_string(),
                        format!("status = {status}"),
                    ];
                    lines.extend([a, b, c, d, e, f].into_iter().flatten());
                    lines.push("+++".to_string());
                    lines.push(body.to_string());
                    lines.join("\n")
                })
        }

        fn check(text: &str) -> Result<(), TestCaseError> {
            let path = Path::new("entries/education/cantine-tarifs.md");
            let lines = text.lines().count().max(1);
            let (_, problems) = parse_entry(path, text, None, today());
            for p in &problems {
                prop_assert!(
                    p.line.is_some_and(|l| (1..=lines).contains(&l)),
                    "{:?} at line {:?} of a file of {} lines",
                    p.message_en,
                    p.line,
                    lines
                );
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(CASES))]

            #[test]
            fn any_text_gives_problems_that_each_name_a_line_of_the_file(text in "(?s).{0,300}") {
                check(&text)?;
            }

            #[test]
            fn toml_ish_text_gives_problems_that_each_name_a_line_of_the_file(text in toml_ish()) {
                check(&text)?;
            }

            #[test]
            fn checked_fields_give_problems_that_each_name_a_line_of_the_file(text in structured()) {
                check(&text)?;
            }

            #[test]
            fn a_valid_entry_file_reads_back_as_written(
                id in "[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}",
                question in "[A-Za-zÀ-ÿ0-9 ,?'’-]{1,60}",
                answer in "[A-Za-zÀ-ÿ0-9 .,;:!?'’()*\n-]{1,300}",
                draft in any::<bool>(),
            ) {
                let question = question.trim().to_string();
                let answer = answer.trim().to_string();
                prop_assume!(!question.is_empty() && !answer.is_empty());
                let sha = sha256_hex(&answer);
                let status = if draft { "draft" } else { "validated" };
                let text = format!(
                    "+++\nid = {id:?}\nquestion = {question:?}\nservice = \"education\"\nstatus = \"{status}\"\nvalidated_by = \"Service Éducation\"\nvalidated_on = \"2026-06-15\"\nanswer_sha256 = \"{sha}\"\n+++\n{answer}\n"
                );
                let path = PathBuf::from(format!("entries/education/{id}.md"));
                let (entry, problems) = parse_entry(&path, &text, None, today());
                let errors: Vec<_> = problems
                    .iter()
                    .filter(|p| p.severity == Severity::Error)
                    .map(|p| &p.message_en)
                    .collect();
                prop_assert!(errors.is_empty(), "{:?}", errors);
                let entry = entry.expect("a valid file gives its entry");
                prop_assert_eq!(entry.id.as_str(), id.as_str());
                prop_assert_eq!(&entry.question, &question);
                prop_assert_eq!(&entry.answer, &answer);
                prop_assert_eq!(&entry.answer_sha256, &sha);
                prop_assert_eq!(entry.status == Status::Draft, draft);
            }
        }
    }
}
