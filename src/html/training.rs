//! The training loop's pages: the unanswered questions grouped by meaning and by service,
//! the choice of the entry to attach a group to, the form of a new entry drafted from a
//! group, and what an action did. Residents' questions are shown as stored (redacted),
//! escaped by maud.

use maud::{Markup, html};

use super::console::{Chrome, csrf_field, page};
use crate::coverage::gaps::Member;
use crate::training::{Basis, Group, Near, Proposed};

/// What the page lists, for whom.
pub struct Listing<'a> {
    pub days: i64,
    /// Service keys and names, in the knowledge base's order.
    pub services: &'a [(String, String)],
    /// The groups the account sees.
    pub groups: Vec<&'a Group>,
    /// Whether the account proposes (an editor) or only reads (a validator).
    pub editor_of: &'a dyn Fn(Option<&str>) -> bool,
    /// Questions read from the store (before grouping) and those already labelled.
    pub asked: usize,
    pub notice: Option<String>,
}

fn name_of<'a>(services: &'a [(String, String)], key: &'a str) -> &'a str {
    services
        .iter()
        .find(|(k, _)| k == key)
        .map_or(key, |(_, n)| n.as_str())
}

fn counts(m: &Member) -> String {
    let mut parts = Vec::new();
    if m.handed_off > 0 {
        parts.push(format!("{} transmise(s) à un agent", m.handed_off));
    }
    if m.clarified > 0 {
        parts.push(format!("{} « vouliez-vous dire » sans choix", m.clarified));
    }
    parts.join(", ")
}

fn basis(b: Basis, services: &[(String, String)], service: Option<&str>) -> Markup {
    let name = service.map(|s| name_of(services, s)).unwrap_or("");
    html! {
        @match b {
            Basis::Placed { agree, of } => {
                "Confié à " strong { (name) } " : l'assistant a placé " (agree) " de ses " (of)
                " questions centrales dans ce service."
            }
            Basis::HandedOff => {
                "Confié à " strong { (name) } " : les trois fiches les plus proches de sa question centrale sont de ce service (c'est à lui que la demande a été transmise)."
            }
            Basis::Unknown => "Aucun service ne se dégage : tout éditeur peut le traiter.",
        }
    }
}

fn hidden_questions(questions: &[String], days: i64, csrf: &str) -> Markup {
    html! {
        (csrf_field(csrf))
        input type="hidden" name="days" value=(days);
        @for q in questions { input type="hidden" name="q" value=(q); }
    }
}

fn group_block(l: &Listing<'_>, chrome: &Chrome, n: usize, g: &Group) -> Markup {
    let id = format!("groupe-{n}");
    let can_edit = (l.editor_of)(g.service.as_deref());
    html! {
        section.panel aria-labelledby=(id) {
            h3 id=(id) { "« " (g.questions[0].text) " »" }
            p.muted.small {
                (g.gap.size) " question(s) : " (g.gap.handed_off) " transmise(s) à un agent, "
                (g.gap.clarified) " « vouliez-vous dire » sans choix. "
                (basis(g.basis, l.services, g.service.as_deref()))
            }
            @if can_edit {
                form method="post" action="/console/training/attach/choose" {
                    (csrf_field(&chrome.csrf))
                    input type="hidden" name="days" value=(l.days);
                    fieldset.checks {
                        legend { "Questions du groupe (cochez celles à traiter)" }
                        @for (i, m) in g.questions.iter().enumerate() {
                            @let qid = format!("{id}-q{i}");
                            div.check {
                                input type="checkbox" id=(qid) name="q" value=(m.text) checked;
                                label for=(qid) { (m.text) " " span.muted.small { "(" (counts(m)) ")" } }
                            }
                        }
                    }
                    div.actions {
                        button type="submit" formaction="/console/training/attach/choose" { "Rattacher à une fiche…" }
                        button.secondary type="submit" formaction="/console/training/create/form" { "Créer une fiche…" }
                        button.secondary type="submit" formaction="/console/training/dismiss" { "Écarter : pour une personne" }
                    }
                }
            } @else {
                ul {
                    @for m in &g.questions {
                        li { (m.text) " " span.muted.small { "(" (counts(m)) ")" } }
                    }
                }
            }
            @if !g.nearest.is_empty() {
                details {
                    summary { "Fiches les plus proches" }
                    ul.plain {
                        @for e in &g.nearest {
                            li {
                                a href={ "/console/kb/" (e.id) } { (e.question) }
                                " " span.muted.small { (name_of(l.services, &e.service)) " · " code { (e.id) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The list of unanswered questions.
pub fn listing(chrome: &Chrome, l: &Listing<'_>) -> Markup {
    let mut keys: Vec<Option<&str>> = l
        .services
        .iter()
        .map(|(k, _)| Some(k.as_str()))
        .filter(|k| l.groups.iter().any(|g| g.service.as_deref() == *k))
        .collect();
    if l.groups.iter().any(|g| g.service.is_none()) {
        keys.push(None);
    }
    let mut n = 0usize;
    let sections: Vec<(&str, Vec<(usize, &Group)>)> = keys
        .iter()
        .map(|key| {
            let title = key.map_or("Sans service", |k| name_of(l.services, k));
            let mine = l
                .groups
                .iter()
                .filter(|g| g.service.as_deref() == *key)
                .map(|g| {
                    n += 1;
                    (n, *g)
                })
                .collect();
            (title, mine)
        })
        .collect();
    page(
        chrome,
        "Questions sans réponse",
        html! {
            @if let Some(n) = &l.notice { p.notice.ok role="status" { (n) } }
            p {
                "Les questions que des résidents ont posées ces " (l.days) " derniers jours et qui n'ont pas eu de réponse : "
                "transmises à un agent, ou « vouliez-vous dire » où la personne n'a choisi aucune fiche. "
                "Elles sont enregistrées sans données personnelles (adresses, numéros, courriels remplacés) et "
                "regroupées par sens. Rattacher une question à la fiche qui y répond, c'est ce qui améliore le plus les réponses de l'assistant."
            }
            details {
                summary { "Comment le service d'un groupe est choisi" }
                p {
                    "Un groupe va au service où l'assistant a placé au moins deux tiers de ses questions centrales "
                    "(réponse ou « vouliez-vous dire » dont les trois premières fiches sont de ce service). "
                    "Sinon, au service des trois fiches les plus proches de sa question centrale quand elles sont du même service : "
                    "c'est le service auquel la demande a été transmise. Sinon, le groupe est « Sans service » et tout éditeur peut le traiter."
                }
                p {
                    "Chaque décision est gardée (question → fiche, ou → agent) : elle sert à recalibrer l'assistant "
                    "sur les questions de la ville (" code { "guichet calibrate --from-store" } "). "
                    "Une question traitée ne revient pas dans cette liste."
                }
            }
            form.search method="get" action="/console/training" {
                label for="training-days" { "Période (jours)" }
                input type="number" id="training-days" name="days" min="1" max="366" value=(l.days);
                div.actions { button type="submit" { "Afficher" } }
            }
            @if l.groups.is_empty() {
                p.notice role="status" { "Aucune question sans réponse à traiter sur cette période." }
            }
            @for (title, mine) in &sections {
                section aria-label=(title) {
                    h2 { (title) }
                    @for (n, g) in mine { (group_block(l, chrome, *n, g)) }
                }
            }
            p.muted.small { (l.asked) " question(s) sans réponse enregistrée(s) sur la période." }
        },
    )
}

fn back(days: i64) -> Markup {
    html! { p { a href={ "/console/training?days=" (days) } { "Retour aux questions sans réponse" } } }
}

/// The choice of the entry to attach questions to.
pub fn choose(
    chrome: &Chrome,
    services: &[(String, String)],
    questions: &[String],
    days: i64,
    nearest: &[Near],
    search: &str,
    hits: &[Near],
) -> Markup {
    let radio = |prefix: &str, i: usize, e: &Near| {
        let id = format!("{prefix}-{i}");
        html! {
            div.check {
                input type="radio" id=(id) name="entry" value=(e.id);
                label for=(id) { (e.question) " " span.muted.small { (name_of(services, &e.service)) " · " code { (e.id) } } }
            }
        }
    };
    page(
        chrome,
        "Rattacher des questions à une fiche",
        html! {
            p { "Ces questions deviendront des formulations (" code { "alternates" } ") de la fiche choisie. "
                "C'est une proposition : un validateur du service la valide avant qu'elle ne change les réponses." }
            ul { @for q in questions { li { (q) } } }
            form method="post" action="/console/training/attach" {
                (hidden_questions(questions, days, &chrome.csrf))
                fieldset.checks {
                    legend { "Fiche qui répond à ces questions (de vos services)" }
                    @if nearest.is_empty() && hits.is_empty() {
                        p.muted { "Aucune fiche de vos services parmi les plus proches : cherchez-la par ses mots." }
                    }
                    @for (i, e) in nearest.iter().enumerate() { (radio("proche", i, e)) }
                    @for (i, e) in hits.iter().enumerate() { (radio("trouve", i, e)) }
                }
                label for="training-search" { "Chercher une fiche par ses mots" }
                input type="search" id="training-search" name="search" value=(search) autocomplete="off";
                div.actions {
                    button.secondary type="submit" formaction="/console/training/attach/choose" { "Chercher" }
                    button type="submit" { "Proposer le rattachement" }
                }
            }
            (back(days))
        },
    )
}

/// The form of a new entry drafted from questions.
pub fn create_form(
    chrome: &Chrome,
    services: &[(String, String)],
    mine: &[String],
    questions: &[String],
    days: i64,
    preferred: Option<&str>,
) -> Markup {
    page(
        chrome,
        "Créer une fiche à partir de questions",
        html! {
            p { "La première question devient la question de la fiche (reformulez-la si besoin), les autres ses formulations. "
                "La fiche est un brouillon : un validateur du service la valide avant qu'elle ne soit servie, mot pour mot." }
            ul { @for q in questions { li { (q) } } }
            form method="post" action="/console/training/create" {
                (hidden_questions(questions, days, &chrome.csrf))
                label for="training-service" { "Service" }
                select id="training-service" name="service" {
                    @for key in mine {
                        option value=(key) selected[preferred == Some(key.as_str())] { (name_of(services, key)) }
                    }
                }
                label for="training-question" { "Question de la fiche" }
                input type="text" id="training-question" name="question" value=(questions.first().map_or("", String::as_str)) required;
                label for="training-answer" { "Réponse (Markdown, telle qu'elle sera servie)" }
                textarea id="training-answer" name="answer" rows="8" required {}
                div.actions { button type="submit" { "Proposer la fiche" } }
            }
            (back(days))
        },
    )
}

/// What an attach or a create did.
pub fn proposed(chrome: &Chrome, title: &str, p: &Proposed, days: i64) -> Markup {
    page(
        chrome,
        title,
        html! {
            p.notice.ok role="status" {
                "Proposition n° " (p.revision) " enregistrée pour la fiche " code { (p.entry_id) }
                " : un validateur du service doit la valider avant qu'elle ne soit servie."
            }
            @if !p.warnings.is_empty() {
                div.notice.warn role="note" {
                    p { "La vérification de la fiche signale :" }
                    ul { @for w in &p.warnings { li { (w.to_string()) } } }
                }
            }
            (back(days))
        },
    )
}
