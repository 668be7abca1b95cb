//! The one rendering layer for HTML: every page guichet writes (the staff console, the
//! coverage report and probe results, whether served or saved to a file) is a maud
//! template, so escaping happens by construction and in one place. Framework-free: the
//! web layer turns a [`Markup`] into a response.

pub mod console;
pub mod inbox;
pub mod kb;
pub mod probe;
pub mod proposals;
pub mod report;
pub mod training;
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

/// A validated text as staff read it: its Markdown rendered the way the widget renders
/// it, then the exact text, byte for byte, folded ("what is sent"). Printed, only the
/// rendered text shows.
pub fn validated(text: &str, lang: Option<&str>) -> Markup {
    html! {
        div.validated {
            div.md lang=[lang] { (markdown(text)) }
            details.exact {
                summary { "Texte exact envoyé" }
                div.answer lang=[lang] { (text) }
            }
        }
    }
}

/// Markdown to HTML with pulldown-cmark, line breaks kept as the widget keeps them. What
/// would not be plain formatting is written
/// as text: raw HTML (the corpus refuses it anyway) and links other than http(s),
/// mailto: and tel:.
pub fn markdown(text: &str) -> Markup {
    use pulldown_cmark::{CowStr, Event, Parser, Tag, TagEnd};
    let safe = |url: &CowStr<'_>| {
        let u = url.to_ascii_lowercase();
        ["https://", "http://", "mailto:", "tel:"]
            .iter()
            .any(|p| u.starts_with(p))
    };
    let mut unsafe_link = Vec::new();
    let events = Parser::new(text).filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Link { dest_url, .. }) if !safe(&dest_url) => {
            unsafe_link.push(true);
            None
        }
        Event::Start(Tag::Link { .. }) => {
            unsafe_link.push(false);
            Some(event)
        }
        Event::End(TagEnd::Link) => match unsafe_link.pop() {
            Some(true) => None,
            _ => Some(event),
        },
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        // As the widget does: a line break in a paragraph stays one (an easy-read text
        // has one sentence a line).
        Event::SoftBreak => Some(Event::HardBreak),
        other => Some(other),
    });
    let mut out = String::with_capacity(text.len() * 2);
    pulldown_cmark::html::push_html(&mut out, events);
    PreEscaped(out)
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
    fn markdown_is_rendered_but_html_and_odd_links_stay_text() {
        let out = markdown(
            "**gratuit** sur [la page](https://www.belleval.example/x)\n\n<script>alert(1)</script>\n\n\
             [piège](javascript:alert(1)) ![img](https://x/y.png)",
        )
        .into_string();
        assert!(out.contains("<strong>gratuit</strong>"), "{out}");
        assert!(
            out.contains(r#"<a href="https://www.belleval.example/x">la page</a>"#),
            "{out}"
        );
        assert!(!out.contains("<script"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
        assert!(!out.contains("href=\"javascript"), "{out}");
        assert!(out.contains("piège"), "the link's words stay: {out}");
        assert!(!out.contains("<img"), "{out}");
    }

    #[test]
    fn a_validated_text_keeps_its_exact_words_beside_the_rendering() {
        let text = "À apporter :\n\n- une **photo** & un justificatif";
        let out = validated(text, Some("fr")).into_string();
        assert!(
            out.contains("<li>une <strong>photo</strong> &amp; un justificatif</li>"),
            "{out}"
        );
        assert!(out.contains(&html! { (text) }.into_string()), "{out}");
    }

    #[test]
    fn a_saved_document_carries_its_stylesheet() {
        let page = document("fr", "t", Styles::Inline, html! {}).into_string();
        assert!(page.contains(STYLESHEET.trim()));
        assert!(!page.contains("/console/assets/console.css"));
    }
}
