//! Splitting a long text into messages a platform accepts, at paragraph, then line, then
//! sentence, then word boundaries: never inside a word, never dropping a character. The
//! pieces put together are the text, byte for byte.

/// Length as platforms count it (UTF-16 code units: Telegram and Meta both do; for
/// French text it equals the number of characters).
pub fn platform_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `text` cut into pieces of at most `limit` units each (see [`platform_len`]). A cut
/// falls after a blank line, else after a line break, else after a sentence's end, else
/// after a space; only a single word longer than `limit` (a very long link) is cut
/// inside, since no message could carry it whole.
pub fn split(text: &str, limit: usize) -> Vec<&str> {
    assert!(limit >= 2, "a message holds at least a character");
    let mut pieces = Vec::new();
    let mut rest = text;
    while platform_len(rest) > limit {
        let cut = cut_point(rest, limit);
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// Where a kind of boundary last occurs in a window (the end of its separator).
type Rule<'a> = &'a dyn Fn(&str) -> Option<usize>;

/// The byte offset at which to end the first piece of `text` (0 < offset < len).
fn cut_point(text: &str, limit: usize) -> usize {
    // The longest prefix that fits.
    let mut units = 0;
    let mut max = 0;
    for (i, c) in text.char_indices() {
        units += c.len_utf16();
        if units > limit {
            break;
        }
        max = i + c.len_utf8();
    }
    let window = &text[..max];
    // Each rule gives the end of a separator; the piece keeps the separator, so the
    // next piece starts with a word.
    let rules: [Rule; 4] = [
        &|w| w.rfind("\n\n").map(|i| i + 2),
        &|w| w.rfind('\n').map(|i| i + 1),
        &|w| sentence_end(w),
        &|w| {
            w.char_indices()
                .rev()
                .find(|(_, c)| c.is_whitespace())
                .map(|(i, c)| i + c.len_utf8())
        },
    ];
    for rule in rules {
        if let Some(end) = rule(window).filter(|&e| e > 0 && e < text.len()) {
            // Keep whitespace runs together: a separator followed by more spaces moves
            // the cut past them when they still fit.
            let extra: usize = text[end..]
                .chars()
                .take_while(|c| c.is_whitespace())
                .map(char::len_utf8)
                .sum();
            let end = if end + extra <= max && end + extra < text.len() {
                end + extra
            } else {
                end
            };
            if text[..end].chars().any(|c| !c.is_whitespace()) {
                return end;
            }
        }
    }
    // Only whitespace before the next word (a run of blank lines longer than a
    // message, never seen in real answers): a piece of whitespace, still not cutting.
    if let Some(end) = rules[3](window).filter(|&e| e > 0 && e < text.len()) {
        return end;
    }
    // One word longer than a whole message: cut it where it must (on a char boundary).
    max.max(text.chars().next().map_or(1, char::len_utf8))
}

/// The end of the last ". ", "! ", "? ", "; " or ": " in `w` (after the space).
fn sentence_end(w: &str) -> Option<usize> {
    let bytes = w.as_bytes();
    (1..bytes.len())
        .rev()
        .find(|&i| bytes[i] == b' ' && matches!(bytes[i - 1], b'.' | b'!' | b'?' | b';' | b':'))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_short_text_is_one_piece() {
        assert_eq!(split("Bonjour.", 10), vec!["Bonjour."]);
        assert!(split("", 10).is_empty());
    }

    #[test]
    fn paragraphs_come_first_then_sentences_then_words() {
        let text = "Premier paragraphe.\n\nDeuxième paragraphe, un peu plus long.";
        assert_eq!(
            split(text, 30),
            vec![
                "Premier paragraphe.\n\n",
                "Deuxième paragraphe, un peu ",
                "plus long."
            ]
        );
        let text = "Une phrase. Une autre phrase qui suit.";
        assert_eq!(
            split(text, 20),
            vec!["Une phrase. ", "Une autre phrase ", "qui suit."]
        );
    }

    #[test]
    fn a_word_longer_than_a_message_is_the_only_thing_cut() {
        let pieces = split("voir https://exemple.fr/une/adresse/tres/longue fin", 12);
        assert_eq!(
            pieces.concat(),
            "voir https://exemple.fr/une/adresse/tres/longue fin"
        );
        assert!(pieces.iter().all(|p| platform_len(p) <= 12));
    }

    fn words() -> impl Strategy<Value = String> {
        // Words, spaces, punctuation, line breaks and accented letters.
        proptest::collection::vec(
            prop_oneof![
                "[a-zéèàç]{1,12}",
                Just(" ".to_string()),
                Just(". ".to_string()),
                Just("\n".to_string()),
                Just("\n\n".to_string()),
                Just(" – ".to_string()),
            ],
            0..200,
        )
        // Tokens joined by spaces, so that no word is longer than 13 characters.
        .prop_map(|v| v.join(" "))
    }

    proptest! {
        #[test]
        fn pieces_join_back_fit_and_never_cut_a_word(text in words(), limit in 15usize..200) {
            let pieces = split(&text, limit);
            prop_assert_eq!(pieces.concat(), text.clone());
            for (i, p) in pieces.iter().enumerate() {
                prop_assert!(platform_len(p) <= limit, "piece {} too long", i);
                prop_assert!(!p.is_empty());
                if i + 1 < pieces.len() {
                    // Words are at most 12 letters, shorter than any limit: every cut
                    // falls next to whitespace.
                    let next = pieces[i + 1];
                    let ends_ws = p.chars().last().is_some_and(char::is_whitespace);
                    let starts_ws = next.chars().next().is_some_and(char::is_whitespace);
                    prop_assert!(ends_ws || starts_ws, "cut inside a word: {:?} | {:?}", p, next);
                }
            }
        }
    }
}
