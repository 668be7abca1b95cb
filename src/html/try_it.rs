//! The "try it" pane (what a resident would get for a question, and why: the engine's
//! trace as `ask --explain` prints it) and the console's coverage page (links to the
//! report, a batch probe form).

use maud::{Markup, html};

use super::console::{Chrome, csrf_field, page};
use super::decimal_fr;
use super::kb::contacts_block;
use crate::engine::Trace;
use crate::reply::{HandoffReason, Outcome, Reply};

/// The question and the language asked for, as the form sends them back.
pub struct Asked<'a> {
    pub q: &'a str,
    pub lang: &'a str,
    pub langs: Vec<&'a str>,
}

/// Thresholds of the policy, shown next to the confidence.
pub struct Thresholds {
    pub answer: f32,
    pub clarify: f32,
}

fn outcome_fr(o: Outcome) -> &'static str {
    match o {
        Outcome::Answer => "Réponse validée",
        Outcome::Clarify => "« Vouliez-vous dire… »",
        Outcome::Handoff => "Transfert à un agent",
    }
}

fn reason_fr(r: HandoffReason) -> &'static str {
    match r {
        HandoffReason::LowConfidence => "aucune fiche assez sûre",
        HandoffReason::Requested => "la personne demande un agent",
        HandoffReason::Empty => "message vide",
        HandoffReason::TicketOpen => "une demande est déjà ouverte",
    }
}

fn percent(x: f32) -> String {
    format!("{} %", decimal_fr(f64::from(x) * 100.0, 0))
}

fn num(x: f32) -> String {
    decimal_fr(f64::from(x), 3)
}

fn reply_block(reply: &Reply) -> Markup {
    html! {
        p { span.badge.outcome { (outcome_fr(reply.outcome)) } " · langue de la réponse : " code { (reply.lang) } }
        @if let Some(m) = &reply.message { p.notice lang=(reply.lang) { (m) } }
        @if let Some(e) = &reply.entry {
            p { b { (e.question) } " " a href={ "/console/kb/" (e.id) } { "(ouvrir la fiche)" } }
            (super::validated(&e.answer, Some(&reply.lang)))
            p.small.muted { "Fiche " code { (e.id) } " · sha256 " code.sha { (e.answer_sha256) } }
            @if let Some(easy) = &e.easy_read {
                details { summary { "Version facile à lire proposée" } (super::validated(&easy.answer, Some(&reply.lang))) }
            }
        }
        @if let Some(options) = &reply.options {
            ol {
                @for o in options {
                    li {
                        a href={ "/console/kb/" (o.id) } lang=(reply.lang) { (o.question) }
                        " " code.small { (o.id) }
                        @if let Some(x) = &o.excerpt { div.answer.excerpt lang=(reply.lang) { (x) "…" } }
                    }
                }
            }
        }
        @if let Some(h) = &reply.handoff {
            p.small.muted { "Motif : " (reason_fr(h.reason)) }
            p.notice lang=(reply.lang) { (h.message) }
            @for also in &h.also { p.notice lang=(also.lang) { (also.message) } }
            (contacts_block(&h.contacts, true))
        }
    }
}

fn trace_block(trace: &Trace, t: &Thresholds) -> Markup {
    html! {
        dl.meta {
            dt { "Confiance" } dd { (percent(trace.confidence)) " (réponse à partir de " (percent(t.answer)) ", « vouliez-vous dire » à partir de " (percent(t.clarify)) ")" }
            dt { "Écart avec la fiche suivante" } dd { (num(trace.margin)) }
            dt { "Langue détectée ou choisie" } dd { code { (trace.asked_lang) } }
        }
        @if trace.candidates.is_empty() {
            p.muted { "Aucune fiche candidate." }
        } @else {
            div.scroll tabindex="0" role="region" aria-label="Fiches candidates" {
                table.trace {
                    caption { "Fiches candidates et leurs signaux" }
                    thead { tr {
                        th scope="col" { "Rang" }
                        th scope="col" { "Fiche" }
                        th scope="col" { "Service" }
                        th scope="col" class="num" { "Score" }
                        th scope="col" class="num" { "Sens : questions" }
                        th scope="col" class="num" { "Sens : réponse" }
                        th scope="col" class="num" { "Mots : questions" }
                        th scope="col" class="num" { "Mots : réponse" }
                    } }
                    tbody {
                        @for (i, c) in trace.candidates.iter().enumerate() {
                            tr {
                                td.num { (i + 1) }
                                td { a href={ "/console/kb/" (c.id) } { (c.id) } }
                                td { (c.service) }
                                td.num { (num(c.score)) }
                                td.num { (num(c.signals.dense)) }
                                td.num { (num(c.signals.dense_answer)) }
                                td.num { (num(c.signals.lexical)) }
                                td.num { (num(c.signals.lexical_answer)) }
                            }
                        }
                    }
                }
            }
            p.small.muted {
                "Sens : similarité des vecteurs (e5) avec les formulations de la fiche ou avec sa réponse ; "
                "mots : BM25 normalisé sur les mêmes textes. Le score combine les quatre selon la politique calibrée."
            }
        }
    }
}

pub fn try_page(
    chrome: &Chrome,
    asked: &Asked<'_>,
    result: Option<(&Reply, &Trace)>,
    thresholds: &Thresholds,
) -> Markup {
    page(
        chrome,
        "Essayer l'assistant",
        html! {
            p.muted { "Ce que vous tapez ici n'est pas enregistré : ni conversation, ni demande, ni statistique." }
            form method="get" action="/console/try" {
                label for="try-q" { "Question d'un habitant" }
                textarea id="try-q" name="q" rows="3" maxlength="1000" { (asked.q) }
                label for="try-lang" { "Langue" }
                select id="try-lang" name="lang" {
                    option value="" selected[asked.lang.is_empty()] { "Détectée automatiquement" }
                    @for l in &asked.langs {
                        option value=(l) selected[asked.lang == *l] { (l) }
                    }
                }
                div.actions { button type="submit" { "Essayer" } }
            }
            @if let Some((reply, trace)) = result {
                div.try-result {
                    section aria-labelledby="try-got" {
                        h2 id="try-got" { "Ce que l'habitant recevrait" }
                        (reply_block(reply))
                    }
                    section aria-labelledby="try-why" {
                        h2 id="try-why" { "Pourquoi" }
                        (trace_block(trace, thresholds))
                    }
                }
            }
        },
    )
}

/// The console's coverage page: the report over a period, and a batch of questions to try.
pub fn coverage_page(chrome: &Chrome) -> Markup {
    let csrf = chrome.csrf.clone();
    page(
        chrome,
        "Couverture",
        html! {
            section aria-labelledby="cov-report" {
                h2 id="cov-report" { "Rapport de couverture" }
                p { "Ce que les habitants ont demandé, ce qui a été répondu, les questions sans réponse regroupées, les fiches à revoir." }
                ul.plain {
                    @for days in [7, 30, 90] {
                        li { a href={ "/console/coverage/report?days=" (days) } { "Rapport des " (days) " derniers jours" } }
                    }
                }
            }
            section aria-labelledby="cov-probe" {
                h2 id="cov-probe" { "Tester une liste de questions" }
                p.muted { "Chaque ligne est posée à l'assistant comme par un habitant ; rien n'est enregistré. Jusqu'à 1 000 questions." }
                form method="post" action="/console/coverage/probe" {
                    (csrf_field(&csrf))
                    label for="cov-questions" { "Questions, une par ligne" }
                    textarea id="cov-questions" name="questions" rows="8" required {}
                    div.actions { button type="submit" { "Lancer le test" } }
                }
            }
        },
    )
}
