//! The console's home page: what there is to do now (tickets waiting), the sections the
//! person's roles open, signing out everywhere. An account without a role (a first
//! sign-in through the city's SSO) sees that it waits for an administrator.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{ConsoleError, Page, Staff, signed_in};
use crate::html::console::{csrf_field, page};
use crate::html::html;
use crate::http::AppState;
use crate::staff::Action;
use crate::store::TicketStatus;

pub fn router(state: &AppState) -> Router<AppState> {
    signed_in(state, Router::new().route("/console/", get(home)))
        .merge(super::signin::signed_in_router(state))
}

async fn home(State(state): State<AppState>, me: Staff) -> Result<Response, ConsoleError> {
    let chrome = me.chrome("/console/");
    let account = me.account().clone();
    if account.roles.is_empty() {
        let body = html! {
            p.notice role="status" {
                "Votre compte (" (account.email) ") est créé, mais il n'a pas encore de rôle : "
                "un administrateur doit vous en donner un (agent, éditeur, validateur) avant que "
                "vous puissiez travailler dans la console."
            }
        };
        return Ok(Page(page(&chrome, "Compte en attente", body)).into_response());
    }
    let waiting = if account.may(Action::SeeInbox) {
        let tickets = state
            .with_store(|s| {
                let mut all = s.tickets(Some(TicketStatus::Open))?;
                all.extend(s.tickets(Some(TicketStatus::Claimed))?);
                Ok(all)
            })
            .await?;
        let open = tickets
            .iter()
            .filter(|t| t.status == TicketStatus::Open)
            .count();
        let mine = tickets
            .iter()
            .filter(|t| t.claimed_staff == Some(account.id))
            .count();
        Some((open, mine))
    } else {
        None
    };
    let todo = if account.may(Action::ValidateKnowledge) {
        Some(super::proposals::validator_todo(&state, &account).await?)
    } else {
        None
    };
    // A version of the knowledge base that failed its checks: the previous one serves.
    let refused = (account.may(Action::ValidateKnowledge) || account.may(Action::ManageStaff))
        .then(|| state.kb.problem())
        .flatten();
    let body = html! {
        @if let Some(p) = &refused {
            div.notice.error role="alert" {
                p { b { "Une version de la base de connaissances a été refusée" }
                    @if p.version > 0 { " (version " (p.version) ")" }
                    " : la version précédente reste servie. À corriger :" }
                ul.plain { @for line in &p.problems { li { (line) } } }
            }
        }
        @if let Some((waiting_kb, due)) = &todo {
            section aria-labelledby="a-valider" {
                h2 id="a-valider" { "Base de connaissances de vos services" }
                div.cards {
                    div.card { b { (waiting_kb) } a href="/console/review" { "proposition(s) en attente de validation" } }
                }
                @if due.is_empty() {
                    p.muted { "Aucune fiche de vos services n'est à revoir dans les 30 jours." }
                } @else {
                    table.stack.review-dates {
                        caption { "Fiches à revoir (date de relecture dans les 30 jours ou passée)" }
                        thead { tr {
                            th scope="col" { "Fiche" }
                            th scope="col" { "Service" }
                            th scope="col" { "À revoir le" }
                        } }
                        tbody {
                            @for d in due {
                                tr {
                                    td { a href={ "/console/kb/" (d.entry_id) "/history" } { (d.question) } }
                                    td { (d.service) }
                                    td {
                                        (d.review_by.format("%d/%m/%Y"))
                                        @if d.past {
                                            " " span.badge.closed-now { "date passée : la fiche n'est plus servie" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some((open, mine)) = waiting {
            div.cards {
                div.card { b { (open) } "demande(s) en attente d'un agent" }
                div.card { b { (mine) } "demande(s) que vous suivez" }
            }
        }
        div.grid {
            @for item in &chrome.nav {
                section {
                    h2 { a href=(item.href) { (item.label) } }
                    p.muted { (section_help(item.href)) }
                }
            }
        }
        h2 { "Vos sessions" }
        form method="post" action="/console/logout-everywhere" {
            (csrf_field(&chrome.csrf))
            p { "Un ordinateur partagé, un appareil perdu : fermez toutes vos sessions, ici comprise." }
            button.secondary type="submit" { "Se déconnecter de tous les appareils" }
        }
    };
    Ok(Page(page(&chrome, "Accueil", body)).into_response())
}

fn section_help(href: &str) -> &'static str {
    match href {
        "/console/inbox" => "Les personnes qui ont demandé un agent : prendre, répondre, clore.",
        "/console/kb" => {
            "Les réponses validées, pour le guichet et le téléphone : chercher, lire, imprimer."
        }
        "/console/proposals" => {
            "Proposer une nouvelle fiche ou une modification, suivre vos propositions."
        }
        "/console/review" => "Les propositions pour vos services : relire, valider ou renvoyer.",
        "/console/try" => "Ce que l'assistant répondrait à une question, et pourquoi.",
        "/console/coverage" => "Le rapport de couverture et le test d'une liste de questions.",
        "/console/admin/staff" => "Comptes, rôles et journal des actions.",
        _ => "",
    }
}
