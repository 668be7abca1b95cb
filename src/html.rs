//! The one rendering layer for HTML: every page guichet writes (the staff console, the
//! coverage report and probe results, whether served or saved to a file) is a maud
//! template, so escaping happens by construction and in one place. Framework-free: the
//! web layer turns a [`Markup`] into a response.

pub mod console;
pub mod inbox;
pub mod kb;
pub mod probe;
pub mod report;
pub mod try_it;

pub use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The one stylesheet: the console links it (`/console/assets/console.css`), a document
/// saved to a file carries it inline so that it opens anywhere, offline.
pub const STYLESHEET: &str = include_str!("../assets/console/console.css");

/// How a document gets its stylesheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Styles {
    /// Linked from the console's assets (served pages, under a strict CSP).
    Linked,
    /// Inline (a file written by the command line, opened from disk).
    Inline,
}

/// A whole HTML document in `lang`, with `title`, the stylesheet and `body`.
pub fn document(lang: &str, title: &str, styles: Styles, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                title { (title) }
                @match styles {
                    Styles::Linked => link rel="stylesheet" href="/console/assets/console.css";,
                    Styles::Inline => style { (PreEscaped(STYLESHEET)) },
                }
            }
            body { (body) }
        }
    }
}

/// A decimal number the French way (`0,42`), `digits` after the comma.
pub fn decimal_fr(x: f64, digits: usize) -> String {
    format!("{x:.digits$}").replace('.', ",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_people_typed_is_escaped_by_construction() {
        let page = document(
            "fr",
            "<script>alert(1)</script>",
            Styles::Linked,
            html! { p { ("<img src=x onerror=alert(1)> & \"") } },
        )
        .into_string();
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(
            page.contains("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;"),
            "{page}"
        );
    }

    #[test]
    fn a_saved_document_carries_its_stylesheet() {
        let page = document("fr", "t", Styles::Inline, html! {}).into_string();
        assert!(page.contains(STYLESHEET.trim()));
        assert!(!page.contains("/console/assets/console.css"));
    }
}
