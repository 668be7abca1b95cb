//! Markdown of validated answers turned into what each platform shows, without changing
//! a word: only markup changes (emphasis markers, link syntax, heading hashes).

use std::sync::LazyLock;

use regex::Regex;

/// What a platform renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    /// Plain text (Messenger, Telegram without parse mode).
    Plain,
    /// WhatsApp: `*bold*`, `_italic_`.
    WhatsApp,
}

static LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)").expect("link regex"));
static BOLD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\*\*([^*\n]+)\*\*|__([^_\n]+)__").expect("bold regex"));
static HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^#{1,6} +").expect("heading regex"));

/// `markdown` as `markup`. A text without markup comes back unchanged.
pub fn render(markdown: &str, markup: Markup) -> String {
    let text = LINK.replace_all(markdown, |c: &regex::Captures<'_>| {
        if c[1] == c[2] {
            c[2].to_string()
        } else {
            format!("{} ({})", &c[1], &c[2])
        }
    });
    let text = HEADING.replace_all(&text, "");
    BOLD.replace_all(&text, |c: &regex::Captures<'_>| {
        let inner = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
        match markup {
            Markup::Plain => inner.to_string(),
            Markup::WhatsApp => format!("*{inner}*"),
        }
    })
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn markup_changes_but_words_do_not() {
        let md = "## Pièces\n\nDéclarez **dans les 5 jours** sur [la page Naissance](https://www.belleval.example/n) ;\n- un justificatif";
        let plain = render(md, Markup::Plain);
        assert_eq!(
            plain,
            "Pièces\n\nDéclarez dans les 5 jours sur la page Naissance (https://www.belleval.example/n) ;\n- un justificatif"
        );
        assert_eq!(words(&plain), words(md));
        let wa = render(md, Markup::WhatsApp);
        assert!(wa.contains("*dans les 5 jours*"));
        assert_eq!(words(&wa), words(md));
    }

    #[test]
    fn text_without_markup_is_unchanged() {
        let t = "L'Hôtel de ville est ouvert :\n\n- lundi : 8 h 30 – 12 h ;\n\nTél. 01 99 00 10 00 * 2.";
        assert_eq!(render(t, Markup::Plain), t);
        assert_eq!(render(t, Markup::WhatsApp), t);
    }

    #[test]
    fn every_corpus_answer_keeps_its_words() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/entries");
        let mut seen = 0;
        for dir in std::fs::read_dir(root).unwrap() {
            for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
                let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
                let body = text.splitn(3, "+++").nth(2).unwrap_or_default();
                for markup in [Markup::Plain, Markup::WhatsApp] {
                    assert_eq!(words(&render(body, markup)), words(body));
                }
                seen += 1;
            }
        }
        assert!(seen > 10);
    }
}
