//! The knowledge base for the counter and the phone: the search page, an entry's page,
//! and the printable sheets (one entry, or a service's booklet, one entry per A4 page).
//! Every validated text is shown as it is stored, byte for byte (escaped by maud, never
//! rendered from Markdown), so what staff read out is what the assistant serves.

use chrono::{DateTime, Local, NaiveDate, Utc};
use maud::{Markup, html};

use super::console::{Chrome, page};
use super::{Styles, document};
use crate::corpus::{Contacts, Entry, Service};

/// What the assistant itself would do with the typed question.
pub enum Assistant<'a> {
    /// It would serve this entry.
    Answer(&'a Entry),
    /// It would ask "did you mean" with these entries.
    Clarify(Vec<&'a Entry>),
    /// It would hand the person over to this service.
    Handoff(&'a Service),
}

/// The search page's inputs: what was typed, the filter, and what was found.
pub struct Search<'a> {
    pub q: &'a str,
    pub service: Option<&'a str>,
    pub services: Vec<&'a Service>,
    pub assistant: Option<Assistant<'a>>,
    /// Entries found by their words, best first (the assistant's answer left out).
    pub hits: Vec<&'a Entry>,
    /// Without a question: every entry (of the filtered service), by service.
    pub groups: Vec<(&'a Service, Vec<&'a Entry>)>,
}

fn service_name<'a>(services: &'a [&'a Service], key: &'a str) -> &'a str {
    services
        .iter()
        .find(|s| s.key == key)
        .map_or(key, |s| s.name.as_str())
}

fn entry_link(e: &Entry) -> String {
    format!("/console/kb/{}", e.id)
}

fn hit(e: &Entry, services: &[&Service], mark: Option<&str>) -> Markup {
    html! {
        li.hit {
            @if let Some(mark) = mark { span.badge.assistant { (mark) } " " }
            a href=(entry_link(e)) { (e.question) }
            " "
            span.muted.small { (service_name(services, &e.service)) " · " code { (e.id) } }
        }
    }
}

pub fn search_page(chrome: &Chrome, s: &Search<'_>) -> Markup {
    let title = "Base de connaissances";
    page(
        chrome,
        title,
        html! {
            form.search method="get" action="/console/kb" role="search" aria-label="Chercher dans la base" {
                label for="kb-q" { "Question, comme une personne la poserait, ou un mot" }
                input type="search" id="kb-q" name="q" value=(s.q) autocomplete="off";
                label for="kb-service" { "Service" }
                select id="kb-service" name="service" {
                    option value="" selected[s.service.is_none()] { "Tous les services" }
                    @for svc in &s.services {
                        option value=(svc.key) selected[s.service == Some(svc.key.as_str())] { (svc.name) }
                    }
                }
                div.actions { button type="submit" { "Chercher" } }
            }
            @if !s.q.trim().is_empty() {
                section aria-labelledby="kb-results" {
                    h2 id="kb-results" { "Résultats pour « " (s.q) " »" }
                    @match &s.assistant {
                        Some(Assistant::Answer(e)) => {
                            ul.hits { (hit(e, &s.services, Some("Réponse de l'assistant"))) }
                        }
                        Some(Assistant::Clarify(options)) => {
                            div.notice {
                                p { "L'assistant demanderait « Vouliez-vous dire… » avec :" }
                                ul.hits { @for e in options { (hit(e, &s.services, None)) } }
                            }
                        }
                        Some(Assistant::Handoff(svc)) => {
                            p.notice {
                                "L'assistant ne trouverait pas de réponse assez sûre : il passerait la main à un agent ("
                                (svc.name) @if let Some(phone) = &svc.phone { ", " (phone) } ")."
                            }
                        }
                        None => {}
                    }
                    @if s.hits.is_empty() {
                        p.muted { "Aucune fiche ne contient ces mots." }
                    } @else {
                        h3 { "Fiches qui contiennent ces mots (" (s.hits.len()) ")" }
                        ul.hits { @for e in &s.hits { (hit(e, &s.services, None)) } }
                    }
                }
            } @else {
                @for (svc, entries) in &s.groups {
                    section aria-labelledby={ "svc-" (svc.key) } {
                        h2 id={ "svc-" (svc.key) } { (svc.name) " (" (entries.len()) ")" }
                        p.actions {
                            a.button.secondary href={ "/console/kb/service/" (svc.key) "/print" } {
                                "Livret imprimable : " (svc.name)
                            }
                        }
                        ul.hits { @for e in entries { (hit(e, &s.services, None)) } }
                    }
                }
            }
        },
    )
}

const DAYS_FR: [(&str, &str); 7] = [
    ("mon", "lundi"),
    ("tue", "mardi"),
    ("wed", "mercredi"),
    ("thu", "jeudi"),
    ("fri", "vendredi"),
    ("sat", "samedi"),
    ("sun", "dimanche"),
];

/// A date the French way (`15/06/2026`).
fn date_fr(d: Option<NaiveDate>) -> String {
    d.map_or_else(|| "–".to_string(), |d| d.format("%d/%m/%Y").to_string())
}

/// Who to call and when: contacts, hours per day, and on screen (`live`) whether the
/// service is open now (a printed sheet is read later: it gives the hours only).
pub fn contacts_block(c: &Contacts, live: bool) -> Markup {
    html! {
        div.contacts {
            p.contact-name {
                b { (c.name) }
                @if live {
                    " "
                    @if c.open_now { span.badge.open-now { "ouvert maintenant" } }
                    @else { span.badge.closed-now { "fermé en ce moment" } }
                }
            }
            dl.meta {
                @if let Some(p) = &c.phone { dt { "Téléphone" } dd { (p) } }
                @if let Some(m) = &c.email { dt { "E-mail" } dd { (m) } }
                @if let Some(a) = &c.address { dt { "Adresse" } dd { (a) } }
                @if let Some(w) = &c.web { dt { "Site" } dd { a href=(w) { (w) } } }
            }
            table.hours {
                caption { "Horaires (" (c.timezone) ")" }
                tbody {
                    @for (key, day) in DAYS_FR {
                        tr {
                            th scope="row" { (day) }
                            td {
                                @match c.hours.get(key) {
                                    Some(r) if !r.is_empty() => { (r.join(", ").replace('-', " – ")) }
                                    _ => { "fermé" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn lang_name(code: &str) -> &str {
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
        "easy_read" => "facile à lire",
        other => other,
    }
}

/// The validated texts of an entry: the answer, then its variants valid for it.
fn texts(e: &Entry, all_variants: bool) -> Markup {
    html! {
        (super::validated(&e.answer, Some(&e.lang)))
        p.small.muted {
            "Fiche " code { (e.id) } " · sha256 " code.sha { (e.answer_sha256) }
        }
        @if let Some(easy) = &e.easy_read {
            h3 { "Version facile à lire" }
            (super::validated(&easy.answer, Some(&e.lang)))
        }
        @if all_variants {
            @for (lang, t) in &e.translations {
                h3 { "Traduction : " (lang_name(lang)) }
                div lang=(lang) {
                    p { b { (t.question) } }
                    (super::validated(&t.answer, Some(lang)))
                }
            }
            @if !e.stale.is_empty() {
                div.notice.warn {
                    p { "À revalider (le texte français a changé depuis leur validation ; elles ne sont pas servies) :" }
                    ul.plain { @for v in &e.stale { li { (lang_name(v)) } } }
                }
            }
        }
    }
}

/// An entry's page; `may_propose`: the person is an editor of its service.
pub fn entry_page(
    chrome: &Chrome,
    e: &Entry,
    service: &Service,
    now: DateTime<Utc>,
    may_propose: bool,
) -> Markup {
    let contacts = service.contacts("fr", now);
    page(
        chrome,
        &e.question,
        html! {
            p.actions {
                a.button href={ "/console/kb/" (e.id) "/print" } { "Imprimer cette fiche" }
                a.button.secondary href={ "/console/kb/service/" (service.key) "/print" } {
                    "Livret du service : " (service.name)
                }
                @if may_propose {
                    a.button.secondary href={ "/console/kb/" (e.id) "/propose" } { "Proposer une modification" }
                }
                a href={ "/console/kb/" (e.id) "/history" } { "Historique" }
                a href="/console/kb" { "Retour à la recherche" }
            }
            div.entry-layout {
                section aria-labelledby="reponse" {
                    h2 id="reponse" { "Réponse validée" }
                    (texts(e, true))
                    @if !e.alternates.is_empty() {
                        h2 { "Autres façons de le demander" }
                        ul.plain { @for a in &e.alternates { li { (a) } } }
                    }
                }
                aside aria-labelledby="service" {
                    h2 id="service" { "Service responsable" }
                    (contacts_block(&contacts, true))
                    h2 { "Validation" }
                    dl.meta {
                        dt { "Validée le" } dd { (date_fr(e.validated_on)) }
                        @if let Some(by) = &e.validated_by { dt { "Par" } dd { (by) } }
                        dt { "À revoir le" } dd { (date_fr(e.review_by)) }
                        @if let Some(url) = &e.url {
                            dt { "Page officielle" } dd { a href=(url) { (url) } }
                        }
                    }
                }
            }
        },
    )
}

/// One entry as a printed sheet: question, answer, easy-read version, service contacts
/// and hours, and a footer (print date, corpus version) ending the page.
fn sheet(e: &Entry, service: &Service, now: DateTime<Utc>, footer: &Markup) -> Markup {
    let contacts = service.contacts("fr", now);
    html! {
        article.sheet {
            p.small.muted { (service.name) }
            h2 { (e.question) }
            (texts(e, false))
            h3 { "Contact" }
            (contacts_block(&contacts, false))
            p.small.muted {
                "Validée le " (date_fr(e.validated_on)) " · à revoir le " (date_fr(e.review_by))
                @if let Some(url) = &e.url { " · " (url) }
            }
            (footer)
        }
    }
}

/// The footer of every sheet: when it was printed and from which corpus, so an old
/// sheet at the counter can be told from a current one.
fn footer(corpus_version: &str) -> Markup {
    let printed = Local::now().format("%d/%m/%Y à %H:%M");
    html! {
        footer.print-footer {
            "Imprimé le " (printed) " · corpus " (corpus_version)
            " · réponses validées, à lire telles quelles"
        }
    }
}

/// A printable document: a toolbar on screen (hidden on paper), then the sheets.
fn printable(title: &str, back: &str, sheets: Markup) -> Markup {
    document(
        "fr",
        &format!("{title} · Console guichet"),
        Styles::Linked,
        html! {
            div.print-toolbar.no-print {
                a href=(back) { "Retour" }
                button type="button" data-print { "Imprimer" }
                span.muted { "ou Ctrl+P (Cmd+P sur Mac) ; format A4, une fiche par page." }
            }
            main.printable id="contenu" {
                h1.sr-only { (title) }
                (sheets)
            }
            script src="/console/assets/console.js" defer {}
        },
    )
}

pub fn entry_print(e: &Entry, service: &Service, corpus_version: &str) -> Markup {
    printable(
        &e.question,
        &entry_link(e),
        sheet(e, service, Utc::now(), &footer(corpus_version)),
    )
}

pub fn booklet_print(service: &Service, entries: &[&Entry], corpus_version: &str) -> Markup {
    let now = Utc::now();
    let footer = footer(corpus_version);
    printable(
        &format!("Livret : {}", service.name),
        &format!("/console/kb?service={}", service.key),
        html! { @for e in entries { (sheet(e, service, now, &footer)) } },
    )
}
