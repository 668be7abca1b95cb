//! The knowledge base's workflow pages: an editor's proposal form (a change of an entry,
//! or a new entry), their list of proposals, the validators' review queue with word
//! diffs, an entry's history, and the administrators' self-validation switch.
//!
//! A diff never relies on colour alone: added words are `<ins>` (underlined), removed
//! ones `<del>` (struck through), each preceded by words a screen reader says.

use std::collections::BTreeMap;

use chrono::{DateTime, Local, Utc};
use maud::{Markup, html};

use super::console::{Chrome, csrf_field, page};
use crate::kb::{Change, DiffPart, diff_words};
use crate::store::{Origin, Revision, RevisionStatus};

/// The fields of an entry file a person reads and edits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFields {
    pub id: String,
    pub service: String,
    pub question: String,
    /// The French answer: the file's body, trimmed.
    pub answer: String,
    pub alternates: Vec<String>,
    pub easy_read: Option<String>,
    /// Per language: (question, answer).
    pub translations: BTreeMap<String, (String, String)>,
    pub review_by: Option<String>,
    pub status: Option<String>,
}

/// Reads an entry file's front matter and body (`None` when it is not one).
pub fn entry_fields(text: &str) -> Option<EntryFields> {
    let mut lines = text.split_inclusive('\n');
    if lines.next()?.trim_end() != "+++" {
        return None;
    }
    let start = text.find('\n')? + 1;
    let mut offset = start;
    let mut end = None;
    for line in text[start..].split_inclusive('\n') {
        if line.trim_end() == "+++" {
            end = Some((offset, offset + line.len()));
            break;
        }
        offset += line.len();
    }
    let (front_end, body_start) = end?;
    let front: toml::Table = text[start..front_end].parse().ok()?;
    let s = |t: &toml::Table, k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let mut translations = BTreeMap::new();
    if let Some(all) = front.get("translations").and_then(|v| v.as_table()) {
        for (lang, t) in all {
            if let Some(t) = t.as_table() {
                translations.insert(
                    lang.clone(),
                    (
                        s(t, "question").unwrap_or_default(),
                        s(t, "answer").unwrap_or_default(),
                    ),
                );
            }
        }
    }
    Some(EntryFields {
        id: s(&front, "id").unwrap_or_default(),
        service: s(&front, "service").unwrap_or_default(),
        question: s(&front, "question").unwrap_or_default(),
        answer: text[body_start..].trim().to_string(),
        alternates: front
            .get("alternates")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        easy_read: front
            .get("easy_read")
            .and_then(|v| v.as_table())
            .and_then(|t| s(t, "answer")),
        translations,
        review_by: front.get("review_by").map(|v| match v.as_str() {
            Some(s) => s.to_string(),
            None => v.to_string(),
        }),
        status: s(&front, "status"),
    })
}

/// One field that changed, as a word diff.
#[derive(Debug, Clone)]
pub struct FieldDiff {
    pub label: String,
    /// The language of the texts (a translation's).
    pub lang: Option<String>,
    pub parts: Vec<DiffPart>,
}

/// What changes from `old` to `new` (`None`: no entry before, or the entry withdrawn),
/// field by field; unchanged fields are left out.
pub fn field_diffs(old: Option<&str>, new: Option<&str>) -> Vec<FieldDiff> {
    let (o, n) = (old.and_then(entry_fields), new.and_then(entry_fields));
    if (old.is_some() && o.is_none()) || (new.is_some() && n.is_none()) {
        // Not an entry file (a global file): the whole text.
        let (a, b) = (old.unwrap_or_default(), new.unwrap_or_default());
        return (a != b)
            .then(|| FieldDiff {
                label: "Texte du fichier".into(),
                lang: None,
                parts: diff_words(a, b),
            })
            .into_iter()
            .collect();
    }
    let empty = EntryFields::default();
    let (o, n) = (o.as_ref().unwrap_or(&empty), n.as_ref().unwrap_or(&empty));
    let mut out = Vec::new();
    let mut push = |label: String, lang: Option<String>, a: &str, b: &str| {
        if a != b {
            out.push(FieldDiff {
                label,
                lang,
                parts: diff_words(a, b),
            });
        }
    };
    push("Question".into(), None, &o.question, &n.question);
    push("Réponse (français)".into(), None, &o.answer, &n.answer);
    push(
        "Autres façons de le demander (une par ligne)".into(),
        None,
        &o.alternates.join("\n"),
        &n.alternates.join("\n"),
    );
    push(
        "Version facile à lire".into(),
        None,
        o.easy_read.as_deref().unwrap_or_default(),
        n.easy_read.as_deref().unwrap_or_default(),
    );
    let langs: std::collections::BTreeSet<&String> =
        o.translations.keys().chain(n.translations.keys()).collect();
    for lang in langs {
        let none = (String::new(), String::new());
        let a = o.translations.get(lang).unwrap_or(&none);
        let b = n.translations.get(lang).unwrap_or(&none);
        let name = lang_name(lang);
        push(
            format!("Traduction ({name}) : question"),
            Some(lang.clone()),
            &a.0,
            &b.0,
        );
        push(
            format!("Traduction ({name}) : réponse"),
            Some(lang.clone()),
            &a.1,
            &b.1,
        );
    }
    push(
        "À revoir le".into(),
        None,
        o.review_by.as_deref().unwrap_or_default(),
        n.review_by.as_deref().unwrap_or_default(),
    );
    if new.is_none() && old.is_some() {
        out.push(FieldDiff {
            label: "Retrait".into(),
            lang: None,
            parts: vec![DiffPart {
                change: Change::Removed,
                text: "la fiche entière n'est plus servie".into(),
            }],
        });
    } else if n.status.as_deref() == Some("withdrawn") && o.status.as_deref() != Some("withdrawn") {
        out.push(FieldDiff {
            label: "Retrait".into(),
            lang: None,
            parts: vec![DiffPart {
                change: Change::Added,
                text: "la fiche ne sera plus servie (retrait proposé)".into(),
            }],
        });
    }
    out
}

pub fn lang_name(code: &str) -> &str {
    match code {
        "fr" => "français",
        "en" => "anglais",
        "de" => "allemand",
        "es" => "espagnol",
        "it" => "italien",
        "pt" => "portugais",
        "ar" => "arabe",
        "tr" => "turc",
        "uk" => "ukrainien",
        "ru" => "russe",
        "ro" => "roumain",
        "pl" => "polonais",
        "zh" => "chinois",
        other => other,
    }
}

/// Languages offered when adding a translation.
pub const LANGS: [&str; 12] = [
    "en", "de", "es", "it", "pt", "ar", "tr", "uk", "ru", "ro", "pl", "zh",
];

const LEGEND: &str = "Légende : les mots ajoutés sont soulignés sur fond vert et annoncés « ajouté », \
     les mots retirés sont barrés sur fond rouge et annoncés « retiré ».";

/// A word diff: `<ins>` and `<del>`, each announced in words.
pub fn diff_markup(parts: &[DiffPart], lang: Option<&str>) -> Markup {
    html! {
        div.diff lang=[lang] {
            @for p in parts {
                @match p.change {
                    Change::Same => { (p.text) }
                    Change::Added => { span.sr-only { "[ajouté : ] " } ins { (p.text) } }
                    Change::Removed => { span.sr-only { "[retiré : ] " } del { (p.text) } }
                }
            }
        }
    }
}

fn diffs_block(diffs: &[FieldDiff]) -> Markup {
    html! {
        @if diffs.is_empty() {
            p.muted { "Aucun changement dans le texte." }
        } @else {
            p.small.muted.legend-text { (LEGEND) }
            @for d in diffs {
                h4 { (d.label) }
                (diff_markup(&d.parts, d.lang.as_deref()))
            }
        }
    }
}

pub fn when(t: DateTime<Utc>) -> Markup {
    let local = t.with_timezone(&Local);
    html! { time datetime=(t.to_rfc3339()) { (local.format("%d/%m/%Y à %H:%M")) } }
}

pub fn status_label(s: RevisionStatus) -> &'static str {
    match s {
        RevisionStatus::Draft => "brouillon, en attente de validation",
        RevisionStatus::Validated => "validée",
        RevisionStatus::SentBack => "renvoyée",
        RevisionStatus::Cancelled => "abandonnée",
    }
}

pub fn origin_label(o: Origin) -> &'static str {
    match o {
        Origin::Import => "import d'un dossier",
        Origin::Proposal => "proposition",
        Origin::Restore => "reprise d'une version antérieure",
        Origin::Admin => "changement par un administrateur",
    }
}

/// A notice after an action (focused by the console's script through `#statut`).
pub fn notice(ok: Option<&str>, error: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = ok {
            p.notice.ok id="statut" tabindex="-1" role="status" { (text) }
        }
        @if let Some(text) = error {
            div.notice.error id="statut" tabindex="-1" role="alert" {
                @for line in text.lines() { p { (line) } }
            }
        }
    }
}

/// What refused a proposal: every problem (file, line, in French), and the text it was
/// checked as, so that the lines can be found.
pub fn problems_block(problems: &[String], text: Option<&str>) -> Markup {
    html! {
        div.notice.error id="statut" tabindex="-1" role="alert" {
            p { b { "Rien n'a été enregistré : la proposition ne passerait pas les vérifications. Ce que vous avez écrit est conservé ci-dessous." } }
            ul.plain.problems { @for p in problems { li { (p) } } }
            @if let Some(text) = text {
                details {
                    summary { "Le fichier tel qu'il serait enregistré (les numéros de ligne s'y rapportent)" }
                    ol.file-lines { @for l in text.lines() { li { code { (l) } } } }
                }
            }
        }
    }
}

/// One translation in the form.
#[derive(Debug, Clone, Default)]
pub struct TranslationForm {
    pub lang: String,
    pub question: String,
    pub answer: String,
    pub remove: bool,
}

/// The form of a change to an entry, as shown or as typed.
#[derive(Debug, Clone, Default)]
pub struct EditForm {
    pub entry_id: String,
    pub service_name: String,
    pub question: String,
    pub answer: String,
    /// One per line.
    pub alternates: String,
    pub easy_read: String,
    pub translations: Vec<TranslationForm>,
    pub new_lang: String,
    pub new_question: String,
    pub new_answer: String,
    pub review_by: String,
    pub withdraw: bool,
    pub comment: String,
}

impl EditForm {
    pub fn of(f: &EntryFields, service_name: &str) -> Self {
        Self {
            entry_id: f.id.clone(),
            service_name: service_name.to_string(),
            question: f.question.clone(),
            answer: f.answer.clone(),
            alternates: f.alternates.join("\n"),
            easy_read: f.easy_read.clone().unwrap_or_default(),
            translations: f
                .translations
                .iter()
                .map(|(lang, (q, a))| TranslationForm {
                    lang: lang.clone(),
                    question: q.clone(),
                    answer: a.clone(),
                    remove: false,
                })
                .collect(),
            review_by: f.review_by.clone().unwrap_or_default(),
            ..Self::default()
        }
    }
}

fn textarea(id: &str, label: &str, help: Option<&str>, value: &str, rows: u32) -> Markup {
    let help_id = format!("{id}-aide");
    html! {
        label for=(id) { (label) }
        @if let Some(help) = help { p.small.muted id=(help_id) { (help) } }
        textarea id=(id) name=(id) rows=(rows) aria-describedby=[help.map(|_| help_id.as_str())] { (value) }
    }
}

pub fn edit_page(chrome: &Chrome, f: &EditForm, refused: Option<Markup>) -> Markup {
    let action = format!("/console/kb/{}/propose", f.entry_id);
    page(
        chrome,
        &format!("Proposer une modification : {}", f.question),
        html! {
            @if let Some(r) = refused { (r) }
            p {
                "Fiche " code { (f.entry_id) } " du service " (f.service_name)
                ". Votre proposition est un brouillon : elle n'est servie qu'une fois validée par un validateur du service."
            }
            p.actions {
                a href={ "/console/kb/" (f.entry_id) } { "Retour à la fiche" }
                a href={ "/console/kb/" (f.entry_id) "/history" } { "Historique" }
            }
            form.proposal method="post" action=(action) {
                (csrf_field(&chrome.csrf))
                label for="question" { "Question" }
                input type="text" id="question" name="question" value=(f.question) required;
                (textarea("answer", "Réponse en français (Markdown)",
                    Some("Gras : **mot** ; lien : [texte](https://…) ; liste : une ligne par point commençant par « - ». Pas de HTML."),
                    &f.answer, 12))
                (textarea("alternates", "Autres façons de le demander",
                    Some("Une par ligne, comme les habitants l'écrivent (fautes comprises)."),
                    &f.alternates, 6))
                (textarea("easy_read", "Version facile à lire",
                    Some("Une phrase courte par ligne. Laissez vide pour ne pas en avoir."),
                    &f.easy_read, 6))
                fieldset.group {
                    legend { "Traductions" }
                    @for t in &f.translations {
                        @let q = format!("tr_{}_question", t.lang);
                        @let a = format!("tr_{}_answer", t.lang);
                        @let r = format!("tr_{}_remove", t.lang);
                        fieldset.group lang=(t.lang) {
                            legend lang="fr" { (lang_name(&t.lang)) " (" (t.lang) ")" }
                            label for=(q) lang="fr" { "Question" }
                            input type="text" id=(q) name=(q) value=(t.question);
                            label for=(a) lang="fr" { "Réponse" }
                            textarea id=(a) name=(a) rows="8" { (t.answer) }
                            div.check lang="fr" {
                                input type="checkbox" id=(r) name=(r) value="1" checked[t.remove];
                                label for=(r) { "Retirer cette traduction" }
                            }
                        }
                    }
                    label for="new_lang" { "Ajouter une traduction : langue" }
                    select id="new_lang" name="new_lang" {
                        option value="" selected[f.new_lang.is_empty()] { "— aucune —" }
                        @for l in LANGS {
                            @if !f.translations.iter().any(|t| t.lang == l) {
                                option value=(l) selected[f.new_lang == l] { (lang_name(l)) " (" (l) ")" }
                            }
                        }
                    }
                    label for="new_question" { "Question traduite" }
                    input type="text" id="new_question" name="new_question" value=(f.new_question);
                    label for="new_answer" { "Réponse traduite" }
                    textarea id="new_answer" name="new_answer" rows="6" { (f.new_answer) }
                }
                label for="review_by" { "À revoir le" }
                input type="date" id="review_by" name="review_by" value=(f.review_by);
                div.check {
                    input type="checkbox" id="withdraw" name="withdraw" value="1" checked[f.withdraw];
                    label for="withdraw" { "Proposer le retrait de cette fiche (elle ne serait plus servie)" }
                }
                (textarea("comment", "Commentaire pour le validateur (facultatif)", None, &f.comment, 3))
                div.actions { button type="submit" { "Envoyer la proposition" } }
            }
        },
    )
}

/// The form of a new entry.
#[derive(Debug, Clone, Default)]
pub struct NewForm {
    /// The editor's services: (key, name).
    pub services: Vec<(String, String)>,
    pub service: String,
    pub id: String,
    pub question: String,
    pub answer: String,
    pub alternates: String,
    pub review_by: String,
    pub comment: String,
}

pub fn new_page(chrome: &Chrome, f: &NewForm, refused: Option<Markup>) -> Markup {
    page(
        chrome,
        "Nouvelle fiche",
        html! {
            @if let Some(r) = refused { (r) }
            p { "La fiche est un brouillon tant qu'un validateur du service ne l'a pas validée." }
            form.proposal method="post" action="/console/proposals/new" {
                (csrf_field(&chrome.csrf))
                label for="service" { "Service" }
                select id="service" name="service" {
                    @for (key, name) in &f.services {
                        option value=(key) selected[f.service == *key] { (name) }
                    }
                }
                label for="question" { "Question" }
                input type="text" id="question" name="question" value=(f.question) required;
                label for="id" { "Identifiant de la fiche" }
                p.small.muted id="id-aide" {
                    "Lettres minuscules, chiffres et tirets. Laissé vide, il est fait à partir de la question."
                }
                input type="text" id="id" name="id" value=(f.id) aria-describedby="id-aide";
                (textarea("answer", "Réponse en français (Markdown)",
                    Some("Gras : **mot** ; lien : [texte](https://…) ; liste : une ligne par point commençant par « - ». Pas de HTML."),
                    &f.answer, 12))
                (textarea("alternates", "Autres façons de le demander",
                    Some("Une par ligne, comme les habitants l'écrivent."), &f.alternates, 6))
                label for="review_by" { "À revoir le" }
                input type="date" id="review_by" name="review_by" value=(f.review_by);
                (textarea("comment", "Commentaire pour le validateur (facultatif)", None, &f.comment, 3))
                div.actions { button type="submit" { "Envoyer la proposition" } }
            }
        },
    )
}

/// One of an editor's proposals.
pub struct Mine {
    pub revision: Revision,
    pub title: String,
}

pub fn mine_page(
    chrome: &Chrome,
    mine: &[Mine],
    may_create: bool,
    notice_markup: Markup,
) -> Markup {
    page(
        chrome,
        "Mes propositions",
        html! {
            (notice_markup)
            @if may_create {
                p.actions { a.button href="/console/proposals/new" { "Nouvelle fiche" } }
            }
            p.muted {
                "Pour changer une fiche existante, ouvrez-la dans la "
                a href="/console/kb" { "base de connaissances" }
                " puis « Proposer une modification »."
            }
            @if mine.is_empty() {
                p { "Vous n'avez encore fait aucune proposition." }
            } @else {
                table.stack.mine {
                    caption.sr-only { "Mes propositions, les plus récentes d'abord" }
                    thead { tr {
                        th scope="col" { "Fiche" }
                        th scope="col" { "Proposée le" }
                        th scope="col" { "État" }
                        th scope="col" { "Action" }
                    } }
                    tbody {
                        @for m in mine {
                            @let r = &m.revision;
                            tr data-revision=(r.id) {
                                td {
                                    (m.title) br;
                                    @if let Some(id) = &r.entry_id {
                                        a.small href={ "/console/kb/" (id) "/history" } { "Historique de " code { (id) } }
                                    }
                                }
                                td { (when(r.created_at)) }
                                td {
                                    span.badge.status { (status_label(r.status)) }
                                    @if let (Some(by), Some(at)) = (&r.decided_by, r.decided_at) {
                                        @if r.status != RevisionStatus::Cancelled {
                                            br; span.small { "par " (by) ", le " (when(at)) }
                                        }
                                    }
                                    @if r.status == RevisionStatus::SentBack {
                                        @if let Some(c) = &r.comment {
                                            blockquote.question { "Commentaire du validateur : " (c) }
                                        }
                                    }
                                }
                                td {
                                    @if r.status == RevisionStatus::Draft {
                                        form.inline method="post" action={ "/console/proposals/" (r.id) "/cancel" } {
                                            (csrf_field(&chrome.csrf))
                                            button.secondary type="submit" { "Abandonner la proposition n° " (r.id) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A proposal waiting for a validator.
pub struct Pending {
    pub revision: Revision,
    pub title: String,
    pub service_name: String,
    pub diffs: Vec<FieldDiff>,
    /// The live file changed since it was written.
    pub outdated: bool,
    /// Written by the validator looking at it, and the service does not allow it.
    pub own: bool,
}

pub fn review_page(chrome: &Chrome, items: &[Pending], notice_markup: Markup) -> Markup {
    page(
        chrome,
        "Relecture des propositions",
        html! {
            (notice_markup)
            @if items.is_empty() {
                p { "Aucune proposition n'attend de validation pour vos services." }
            }
            @for (n, p) in items.iter().enumerate() {
                @let r = &p.revision;
                @let h = format!("prop-{}", r.id);
                section.proposal-review aria-labelledby=(h) data-revision=(r.id) {
                    h2 id=(h) { "Proposition n° " (r.id) " : " (p.title) }
                    dl.meta {
                        dt { "Service" } dd { (p.service_name) }
                        dt { "Fichier" } dd { code { (r.path) } }
                        dt { "Proposée par" } dd { (r.author) ", le " (when(r.created_at)) }
                        dt { "Nature" } dd {
                            (origin_label(r.origin))
                            @if r.base.is_none() { " (nouvelle fiche)" }
                        }
                        @if let Some(c) = &r.comment { dt { "Commentaire" } dd { (c) } }
                    }
                    @if p.outdated {
                        p.notice.warn { "La fiche a changé depuis cette proposition : elle ne peut plus être validée telle quelle ; renvoyez-la pour qu'elle soit reprise sur la version en ligne." }
                    }
                    @if p.own {
                        p.notice.warn { "C'est votre propre proposition : un autre validateur du service doit la valider (sauf si un administrateur l'a permis pour ce service)." }
                    }
                    h3 { "Ce qui change par rapport à la version en ligne" }
                    (diffs_block(&p.diffs))
                    div.actions.review-actions {
                        form.inline method="post" action={ "/console/review/" (r.id) "/validate" } {
                            (csrf_field(&chrome.csrf))
                            button type="submit" data-validate=(r.id) { "Valider la proposition n° " (r.id) }
                        }
                    }
                    form.send-back method="post" action={ "/console/review/" (r.id) "/send-back" } {
                        (csrf_field(&chrome.csrf))
                        @let c = format!("comment-{n}");
                        label for=(c) { "Renvoyer à l'auteur avec un commentaire (obligatoire)" }
                        textarea id=(c) name="comment" rows="3" required {}
                        div.actions { button.secondary type="submit" { "Renvoyer la proposition n° " (r.id) } }
                    }
                }
            }
        },
    )
}

/// One revision of an entry's history.
pub struct Step {
    pub revision: Revision,
    pub diffs: Vec<FieldDiff>,
    pub live: bool,
    pub may_restore: bool,
}

pub fn history_page(
    chrome: &Chrome,
    entry_id: &str,
    title: &str,
    steps: &[Step],
    notice_markup: Markup,
) -> Markup {
    page(
        chrome,
        &format!("Historique : {title}"),
        html! {
            (notice_markup)
            p.actions {
                a href={ "/console/kb/" (entry_id) } { "Retour à la fiche" }
            }
            p { (steps.len()) " version(s), la plus récente d'abord." }
            ol.history reversed {
                @for s in steps {
                    @let r = &s.revision;
                    li.revision data-revision=(r.id) data-status=(r.status.as_str()) {
                        h2 {
                            "Version n° " (r.id) " · " (status_label(r.status))
                            @if s.live { " " span.badge.open-now { "en ligne" } }
                        }
                        dl.meta {
                            dt { "Origine" } dd { (origin_label(r.origin)) }
                            dt { "Proposée par" } dd { (r.author) ", le " (when(r.created_at)) }
                            @if let (Some(by), Some(at)) = (&r.decided_by, r.decided_at) {
                                dt { (match r.status {
                                    RevisionStatus::Validated => "Validée par",
                                    RevisionStatus::SentBack => "Renvoyée par",
                                    RevisionStatus::Cancelled => "Abandonnée par",
                                    RevisionStatus::Draft => "Décidée par",
                                }) }
                                dd { (by) ", le " (when(at)) }
                            }
                            @if let Some(h) = &r.answer_sha256 {
                                dt { "sha256 de la réponse" } dd { code.sha { (h) } }
                            }
                            @if let Some(c) = &r.comment { dt { "Commentaire" } dd { (c) } }
                        }
                        details {
                            summary { "Ce que la version n° " (r.id) " change" }
                            (diffs_block(&s.diffs))
                        }
                        @if s.may_restore {
                            form method="post" action={ "/console/kb/revisions/" (r.id) "/restore" } {
                                (csrf_field(&chrome.csrf))
                                button.secondary type="submit" { "Reprendre la version n° " (r.id) }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub fn self_validation_page(
    chrome: &Chrome,
    sub_nav: Markup,
    services: &[(String, String, bool)],
    notice_markup: Markup,
) -> Markup {
    page(
        chrome,
        "Validation de ses propres propositions",
        html! {
            (sub_nav)
            (notice_markup)
            p {
                "Par défaut, une proposition est validée par un autre validateur du service que son auteur. "
                "Un petit service qui n'a qu'une personne peut être autorisé à valider ses propres propositions."
            }
            table.stack {
                caption.sr-only { "Services et autorisation" }
                thead { tr { th scope="col" { "Service" } th scope="col" { "Autovalidation" } th scope="col" { "Action" } } }
                tbody {
                    @for (key, name, allowed) in services {
                        tr {
                            td { (name) }
                            td { @if *allowed { "permise" } @else { "non permise" } }
                            td {
                                form.inline method="post" action={ "/console/admin/self-validation/" (key) } {
                                    (csrf_field(&chrome.csrf))
                                    input type="hidden" name="allowed" value=(if *allowed { "0" } else { "1" });
                                    button.secondary type="submit" {
                                        @if *allowed { "Ne plus permettre pour " (name) } @else { "Permettre pour " (name) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "+++\nid = \"x\"\nquestion = \"Q ?\"\nalternates = [\"a\", \"b\"]\nservice = \"accueil\"\nreview_by = \"2027-01-01\"\n\n[translations.en]\nquestion = \"Q?\"\nanswer = \"The answer.\"\n+++\nLa réponse.\n";

    #[test]
    fn an_entry_file_reads_as_its_fields() {
        let f = entry_fields(ENTRY).unwrap();
        assert_eq!(f.question, "Q ?");
        assert_eq!(f.answer, "La réponse.");
        assert_eq!(f.alternates, vec!["a", "b"]);
        assert_eq!(f.review_by.as_deref(), Some("2027-01-01"));
        assert_eq!(f.translations["en"].1, "The answer.");
        assert!(entry_fields("[x]\n").is_none());
    }

    #[test]
    fn a_diff_names_only_what_changed_and_marks_words_in_words() {
        let new = ENTRY.replace("La réponse.", "La nouvelle réponse.");
        let diffs = field_diffs(Some(ENTRY), Some(&new));
        assert_eq!(diffs.len(), 1);
        let out = diff_markup(&diffs[0].parts, None).into_string();
        assert!(out.contains("<ins>nouvelle </ins>"), "{out}");
        assert!(out.contains("[ajouté : ]"), "{out}");
        let withdrawn = field_diffs(Some(ENTRY), None);
        assert!(withdrawn.iter().any(|d| d.label == "Retrait"));
    }
}
