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
    let body = html! {
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
        "/console/try" => "Ce que l'assistant répondrait à une question, et pourquoi.",
        "/console/coverage" => "Le rapport de couverture et le test d'une liste de questions.",
        "/console/admin/staff" => "Comptes, rôles et journal des actions.",
        _ => "",
    }
}
