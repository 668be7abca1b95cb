//! The agents' inbox and ticket pages: the list of tickets waiting (also sent, as is, to
//! the live inbox's event stream), and one ticket with its conversation, the entries the
//! engine considered, the service's contacts and the agent's actions. French throughout.

use crate::reply::HandoffReason;
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::console::csrf_field;
use crate::corpus::Service;
use crate::engine::Engine;
use crate::reply::EntryReply;
use crate::store::{Author, Channel, Ticket, TicketStatus, Turn};

/// The channel a ticket came through, in words.
pub fn channel_fr(channel: Channel) -> &'static str {
    match channel {
        Channel::Web => "chat du site",
        Channel::Messenger => "Messenger",
        Channel::Whatsapp => "WhatsApp",
        Channel::Telegram => "Telegram",
        Channel::Generic => "intégration (webhook)",
    }
}

/// Why the assistant handed the conversation over, in words.
pub fn reason_fr(reason: HandoffReason) -> &'static str {
    match reason {
        HandoffReason::Requested => "la personne a demandé à parler à quelqu'un",
        HandoffReason::LowConfidence => "l'assistant n'a pas trouvé de réponse sûre",
        HandoffReason::Empty => "message vide ou illisible",
        HandoffReason::TicketOpen => "une personne a déjà la conversation",
    }
}

/// How long since `since`, in words: "moins d'une minute", "12 minutes", "2 h 05",
/// "3 jours".
pub fn waiting_fr(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - since).num_minutes().max(0);
    match minutes {
        0 => "moins d'une minute".into(),
        1 => "1 minute".into(),
        m if m < 60 => format!("{m} minutes"),
        m if m < 24 * 60 => format!("{} h {:02}", m / 60, m % 60),
        m if m < 48 * 60 => "1 jour".into(),
        m => format!("{} jours", m / (24 * 60)),
    }
}

fn status_badge(ticket: &Ticket) -> Markup {
    match ticket.status {
        TicketStatus::Open => html! { span.badge.open { "en attente d'un agent" } },
        TicketStatus::Claimed => html! {
            span.badge.claimed { "prise en charge par " (ticket.claimed_by.as_deref().unwrap_or("une intégration")) }
        },
        TicketStatus::Resolved => html! { span.badge { "close" } },
    }
}

fn service_name<'a>(engine: &'a Engine, ticket: &Ticket) -> &'a str {
    &engine
        .corpus()
        .services()
        .get_or_default(&ticket.service)
        .name
}

/// The list of open and claimed tickets (oldest first), as the page shows it and the
/// event stream sends it: one element, `#inbox-list`, whose `data-open` is the count of
/// tickets waiting for an agent and whose items carry their id and service.
pub fn inbox_list(engine: &Engine, tickets: &[Ticket], now: DateTime<Utc>) -> Markup {
    let open = tickets
        .iter()
        .filter(|t| t.status == TicketStatus::Open)
        .count();
    html! {
        div id="inbox-list" data-open=(open) {
            @if tickets.is_empty() {
                p.notice.empty { "Aucune demande en attente. Les nouvelles demandes apparaissent ici d'elles-mêmes." }
            } @else {
                p.muted {
                    (open) " en attente d'un agent, "
                    (tickets.len() - open) " prise(s) en charge. Les plus anciennes d'abord."
                }
                ol.tickets {
                    @for t in tickets {
                        @let service = service_name(engine, t);
                        li.ticket data-ticket=(t.id) data-service=(service) {
                            h2 {
                                a href={ "/console/tickets/" (t.id) } {
                                    "Demande n° " (t.id) " · " (service)
                                }
                            }
                            p.meta {
                                (status_badge(t))
                                " "
                                span { "attend depuis " (waiting_fr(t.created_at, now)) }
                                " · "
                                span { (channel_fr(t.channel)) }
                            }
                            p.meta { "Raison : " (reason_fr(t.reason)) }
                            @if let Some(first) = t.questions.first() {
                                blockquote.question { (first) }
                            }
                            @if t.questions.len() > 1 {
                                p.muted {
                                    @let more = t.questions.len() - 1;
                                    "et " (more) " autre" @if more > 1 { "s" } " message" @if more > 1 { "s" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The inbox page's content: the live region, the list, the link that reloads it.
pub fn inbox_body(engine: &Engine, tickets: &[Ticket], now: DateTime<Utc>) -> Markup {
    html! {
        div.actions {
            a.button.secondary href="/console/inbox" { "Actualiser" }
            span.muted id="inbox-state" { "La liste se met à jour d'elle-même." }
        }
        div id="inbox-live" class="live" role="status" aria-live="polite" {}
        (inbox_list(engine, tickets, now))
    }
}

/// What the agent may do on the ticket page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Can {
    /// Read only (a role without HandleTicket, or a closed ticket).
    Read,
    /// Open: take it, or answer it (which takes it).
    Take,
    /// This agent has it: answer, insert, close.
    Answer,
    /// Another agent has it: close only (a supervisor ending a forgotten ticket).
    Other,
}

/// One result of the knowledge base search on the ticket page.
pub struct Found {
    pub entry: EntryReply,
}

/// Everything the ticket page shows.
pub struct TicketView<'a> {
    pub engine: &'a Engine,
    pub ticket: &'a Ticket,
    pub turns: &'a [Turn],
    pub now: DateTime<Utc>,
    pub can: Can,
    pub csrf: &'a str,
    /// The status notice of the action just done.
    pub notice: Option<&'a str>,
    /// The search typed on the page, and what it found.
    pub query: Option<&'a str>,
    pub found: &'a [Found],
    /// The language the person wrote in (validated answers are offered in it).
    pub lang: &'a str,
}

pub fn ticket_body(v: &TicketView<'_>) -> Markup {
    let t = v.ticket;
    let service = v.engine.corpus().services().get_or_default(&t.service);
    html! {
        @if let Some(notice) = v.notice {
            p.notice.ok id="statut" role="status" tabindex="-1" { (notice) }
        }
        p { a href="/console/inbox" { "← Toutes les demandes" } }
        dl.facts {
            dt { "État" } dd { (status_badge(t)) }
            dt { "Service" } dd { (service.name) }
            dt { "Raison" } dd { (reason_fr(t.reason)) }
            dt { "Canal" } dd { (channel_fr(t.channel)) }
            dt { "Attente" } dd {
                @match t.resolved_at {
                    Some(at) => { "close après " (waiting_fr(t.created_at, at)) }
                    None => { "depuis " (waiting_fr(t.created_at, v.now)) }
                }
            }
            @if let Some(note) = &t.note {
                dt { "Note de clôture" } dd { (note) }
            }
        }
        h2 id="conversation" { "Conversation" }
        (turns(v))
        @if v.can != Can::Read {
            (actions(v))
        }
        h2 { "Réponses envisagées par l'assistant" }
        @if t.candidates.is_empty() {
            p.muted { "Aucune : l'assistant n'avait pas de piste." }
        } @else {
            ol.plain {
                @for id in &t.candidates {
                    li {
                        @match v.engine.corpus().index_of(id) {
                            Some(i) => { a href={ "/console/kb/" (id) } { (v.engine.corpus().entry(i).question) } " " span.muted { "(" (id) ")" } }
                            None => { (id) " " span.muted { "(plus dans la base)" } }
                        }
                    }
                }
            }
        }
        (service_card(service, v.now))
    }
}

fn turns(v: &TicketView<'_>) -> Markup {
    let corpus = v.engine.corpus();
    // In the service's own time, as its agents read a clock.
    let tz = corpus.services().get_or_default(&v.ticket.service).timezone;
    let at = |t: &Turn| t.at.with_timezone(&tz).format("%d/%m à %H:%M").to_string();
    html! {
        @if v.turns.is_empty() {
            p.muted { "La conversation n'est plus conservée (durée de conservation dépassée)." }
        } @else {
            ol.turns {
                @for turn in v.turns {
                    @match turn.author {
                        Author::Person => {
                            li.person {
                                p.who { "La personne" span.muted { " · " (at(turn)) } }
                                p.said { (person_text(turn)) }
                            }
                            @if let Some(outcome) = &turn.outcome {
                                li.assistant {
                                    p.who { "L'assistant" }
                                    p.said {
                                        @match (outcome.as_str(), turn.entry_id.as_deref()) {
                                            ("answer", Some(id)) => {
                                                "a répondu par la réponse validée « "
                                                (corpus.index_of(id).map_or(id, |i| corpus.entry(i).question.as_str()))
                                                " »"
                                            }
                                            ("clarify", _) => { "a proposé des questions proches (« vouliez-vous dire »)" }
                                            _ => { "a donné les coordonnées du service" }
                                        }
                                    }
                                }
                            }
                        }
                        Author::Agent => {
                            li.agent {
                                p.who {
                                    (turn.agent.as_deref().unwrap_or("Un agent")) " (agent)"
                                    span.muted { " · " (at(turn)) }
                                    @if let Some(id) = &turn.entry_id { " · réponse validée " code { (id) } }
                                }
                                p.said { (turn.text) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A picked option is stored as its entry id: shown as what it is.
fn person_text(turn: &crate::store::Turn) -> String {
    match turn.kind {
        crate::store::TurnKind::Option => format!("(a choisi la proposition {})", turn.text),
        crate::store::TurnKind::Message => turn.text.clone(),
    }
}

fn actions(v: &TicketView<'_>) -> Markup {
    let t = v.ticket;
    let base = format!("/console/tickets/{}", t.id);
    html! {
        h2 id="actions" { "Actions" }
        @match v.can {
            Can::Take => {
                form method="post" action={ (base) "/take" } {
                    (csrf_field(v.csrf))
                    p { "Prenez la demande pour que la personne sache qu'un agent s'en occupe ; aucun collègue ne pourra lui répondre en même temps." }
                    button type="submit" { "Prendre la demande" }
                }
            }
            Can::Other => {
                p.notice { "Déjà prise en charge par " (t.claimed_by.as_deref().unwrap_or("une intégration")) " : seule cette personne répond." }
            }
            _ => {}
        }
        @if matches!(v.can, Can::Take | Can::Answer) {
            h3 id="repondre" { "Répondre" }
            form method="post" action={ (base) "/reply" } {
                (csrf_field(v.csrf))
                label for="reply-text" { "Votre message, envoyé par le canal de la personne" }
                textarea id="reply-text" name="text" required maxlength=(crate::conversation::MAX_REPLY_CHARS) aria-describedby="reply-help" {}
                p.muted id="reply-help" { "Les numéros (téléphone, IBAN, sécurité sociale) sont masqués avant l'envoi." }
                button type="submit" { "Envoyer le message" }
            }
            h3 id="inserer" { "Insérer une réponse validée" }
            form method="get" action={ (base) "#resultats" } role="search" {
                label for="kb-q" { "Chercher dans la base de connaissances" }
                input type="search" id="kb-q" name="q" value=(v.query.unwrap_or_default());
                div.actions { button.secondary type="submit" { "Chercher" } }
            }
            @if let Some(q) = v.query {
                h4 id="resultats" tabindex="-1" { "Résultats pour « " (q) " »" }
                @if v.lang != crate::corpus::PRIMARY_LANG {
                    p.muted { "La personne écrit en « " (v.lang) " » : chaque réponse est proposée dans cette langue quand sa traduction est validée, sinon en français." }
                }
                @if v.found.is_empty() {
                    p.muted { "Aucune réponse validée ne correspond." }
                } @else {
                    ol.found {
                        @for (i, f) in v.found.iter().enumerate() {
                            li {
                                p.q id={ "found-" (i) } { b { (f.entry.question) } " " span.muted { "(" (f.entry.id) ")" } }
                                // The best match is shown whole; the others open on demand, so
                                // that the list stays short enough to compare the questions.
                                @if i == 0 {
                                    (super::validated(&f.entry.answer, None))
                                } @else {
                                    details {
                                        summary { "Lire la réponse validée" }
                                        (super::validated(&f.entry.answer, None))
                                    }
                                }
                                form method="post" action={ (base) "/send-entry" } {
                                    (csrf_field(v.csrf))
                                    input type="hidden" name="entry" value=(f.entry.id);
                                    input type="hidden" name="lang" value=(v.lang);
                                    button type="submit" aria-describedby={ "found-" (i) } { "Envoyer cette réponse" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h3 id="clore" { "Clore" }
        form method="post" action={ (base) "/close" } {
            (csrf_field(v.csrf))
            label for="close-note" { "Note pour les collègues (facultative, jamais envoyée à la personne)" }
            textarea id="close-note" name="note" maxlength="2000" {}
            p.muted { "L'assistant reprend la conversation une fois la demande close." }
            button type="submit" { "Clore la demande" }
        }
    }
}

/// A service's contacts and hours, and whether it is open now: the knowledge base's
/// block, under a heading of its own.
pub fn service_card(service: &Service, now: DateTime<Utc>) -> Markup {
    html! {
        section.service aria-labelledby="service-titre" {
            h2 id="service-titre" { "Service : " (service.name) }
            (super::kb::contacts_block(&service.contacts("fr", now), true))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_times_read_as_words() {
        let now = Utc::now();
        let ago = |m: i64| now - chrono::Duration::minutes(m);
        assert_eq!(waiting_fr(now, now), "moins d'une minute");
        assert_eq!(waiting_fr(ago(1), now), "1 minute");
        assert_eq!(waiting_fr(ago(12), now), "12 minutes");
        assert_eq!(waiting_fr(ago(125), now), "2 h 05");
        assert_eq!(waiting_fr(ago(3 * 24 * 60 + 5), now), "3 jours");
    }
}
