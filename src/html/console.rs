//! The console's page shell: skip link, top bar with the sections the signed-in person
//! may open (computed on the server from their roles), who is signed in and the sign-out
//! form, then the page's own content. Pages without a session (sign-in, set-up) use
//! [`bare`].

use maud::{Markup, html};

use super::{Styles, document};

/// One entry of the top navigation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What every signed-in page shows around its content.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The name the person shows (never an email to residents; here, to colleagues).
    pub name: String,
    /// Their roles, in words ("agent, éditeur (état civil)").
    pub roles: String,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
    pub nav: Vec<NavItem>,
}

/// The hidden field every state-changing form carries.
pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A signed-in page: `title` is both the document's title and the page's `h1`.
pub fn page(chrome: &Chrome, title: &str, content: Markup) -> Markup {
    titled(chrome, title, title, content)
}

/// A signed-in page whose document title says more than its `h1` (the inbox's count of
/// tickets waiting: "(3) Demandes").
pub fn titled(chrome: &Chrome, doc_title: &str, title: &str, content: Markup) -> Markup {
    let full = format!("{doc_title} · Console guichet");
    document(
        "fr",
        &full,
        Styles::Linked,
        html! {
            a.skip href="#contenu" { "Aller au contenu" }
            header.top {
                a.brand href="/console/" { "guichet · console" }
                nav aria-label="Sections" {
                    ul {
                        @for item in &chrome.nav {
                            li {
                                @if item.current {
                                    a href=(item.href) aria-current="page" { (item.label) }
                                } @else {
                                    a href=(item.href) { (item.label) }
                                }
                            }
                        }
                    }
                }
                div.who {
                    span { (chrome.name) " · " span.roles { (chrome.roles) } }
                    form method="post" action="/console/logout" {
                        (csrf_field(&chrome.csrf))
                        button type="submit" { "Se déconnecter" }
                    }
                }
            }
            main id="contenu" tabindex="-1" {
                h1 { (title) }
                (content)
            }
            script src="/console/assets/console.js" defer {}
        },
    )
}

/// A page outside a session (sign-in, account set-up, an error before sign-in).
pub fn bare(title: &str, content: Markup) -> Markup {
    let full = format!("{title} · Console guichet");
    document(
        "fr",
        &full,
        Styles::Linked,
        html! {
            header.top { span.brand { "guichet · console" } }
            main id="contenu" {
                h1 { (title) }
                (content)
            }
        },
    )
}
