//! Redaction of personal data before anything is stored or logged: emails, phone numbers,
//! NIR, IBAN and card numbers become typed placeholders such as `[email]` or `[IBAN]`.
//!
//! A number shaped like a NIR (social-security number) is redacted whatever its key: a
//! resident who mistypes one digit has still written their number, and a redacted file
//! reference costs the agent a question while a number left in clear leaks. The key only
//! labels it: `[NIR]` when it checks, `[carte]` when it fails but the number passes the
//! card check instead (an American Express number has the same shape), `[NIR ?]` else.
//!
//! IBANs and card numbers, whose shape is common to many references, are redacted only
//! when their check holds: a file number or an invoice reference that merely looks long
//! stays readable for the agent who takes the conversation over.
//!
//! Matching runs on a normalised copy of the text (NFKC, every space as a space, every
//! dash as `-`, digits of every script as ASCII, invisible characters dropped) with
//! generous separators and obfuscated emails (`arobase`, `[at]`, ` point `); each match
//! is mapped back to the original characters, which are replaced whole. Dates, times,
//! form numbers (`cerfa 12100*02`) and other short numbers stay: none has the length of
//! a phone number, and the long kinds are checked (key, Luhn, IBAN length and checksum).

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

pub const EMAIL: &str = "[email]";
pub const PHONE: &str = "[téléphone]";
pub const NIR: &str = "[NIR]";
/// A number shaped like a NIR whose key does not check (a typo, or another number).
pub const NIR_UNCHECKED: &str = "[NIR ?]";
pub const IBAN: &str = "[IBAN]";
pub const CARD: &str = "[carte]";

/// Between the groups of a number: up to three spaces, dots, dashes, slashes or
/// underscores (people type `06 - 12`, `06..12`, double spaces, `06/12/34/56/78`). The
/// patterns below run on [`normalize`]d text, where every space is `' '`, every dash `-`
/// and every digit ASCII.
const SEP: &str = r"[ ./_-]{0,3}";

/// `@` as people write it to fool robots: `@` with spaces around, `[at]`, `(arobase)`,
/// ` at `, ` arobase `.
const AT: &str = r"(?: ?@ ?|\s*[\[({<]\s*(?:at|arobase|@)\s*[\])}>]\s*|\s+(?:at|arobase)\s+)";
/// `.` likewise: `.`, ` . `, `[dot]`, `(point)`, ` dot `, ` point `.
const DOT: &str = r"(?:\.| \. |\s*[\[({<]\s*(?:dot|point)\s*[\])}>]\s*|\s+(?:dot|point)\s+)";

static EMAIL_RE: LazyLock<Regex> = LazyLock::new(|| {
    let local = r"[a-z0-9_%+-][a-z0-9._%+-]*";
    let label = r"[a-z0-9-]+";
    Regex::new(&format!(
        r"(?i){local}(?:{DOT}{local})*{AT}{label}(?:{DOT}{label})*{DOT}[a-z]{{2,}}"
    ))
    .expect("email regex")
});

/// Two letters, two check digits, then 11 to 30 letters or digits, grouped as people do.
static IBAN_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)[a-z]{{2}}[0-9]{{2}}(?:{SEP}[a-z0-9]){{11,30}}"
    ))
    .expect("iban regex")
});

/// Sex, year, month, department (2A/2B in Corsica), commune, order, key: 15 characters,
/// grouped as people do.
static NIR_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)[1-478]{SEP}[0-9]{{2}}{SEP}[0-9]{{2}}{SEP}(?:[0-9]{{2}}|2[ab]){SEP}[0-9]{{3}}{SEP}[0-9]{{3}}{SEP}[0-9]{{2}}"
    ))
    .expect("nir regex")
});

/// 13 to 19 digits, grouped as people do.
static CARD_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"[0-9](?:{SEP}[0-9]){{12,18}}")).expect("card regex"));

/// French numbers: 0X XX XX XX XX, (0)X..., +33 X XX XX XX XX, +33 (0)X..., 0033...;
/// then any international number written with + or 00 and a country code.
static PHONE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        concat!(
            r"(?:(?:\+|00) ?33{SEP}(?:\(0\){SEP})?[1-9]|\(0\){SEP}[1-9]|\(0[1-9]\)|0[1-9])(?:{SEP}[0-9]{{2}}){{4}}",
            r"|(?:\+|00)[1-9][0-9]{{0,2}}{SEP}(?:\([0-9]{{1,4}}\){SEP})?[0-9](?:{SEP}[0-9]){{5,13}}",
        ),
        SEP = SEP
    ))
    .expect("phone regex")
});

/// `text` with every email, phone number, NIR-shaped number, valid IBAN and valid card number
/// replaced by its placeholder, however it is spelled (full-width or Arabic-Indic digits,
/// no-break spaces, `arobase`...). Idempotent: placeholders contain no digit nor `@`.
pub fn redact(text: &str) -> String {
    // A number glued to an email only stands alone once the email is a placeholder, so
    // run the passes until nothing changes (twice in practice).
    let mut current = redact_once(text);
    for _ in 0..3 {
        let next = redact_once(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn redact_once(text: &str) -> String {
    let text = pass(text, |n| {
        EMAIL_RE.find_iter(n).map(|m| (m.range(), EMAIL)).collect()
    });
    let text = pass(&text, |n| {
        checked(n, &IBAN_RE, 15, 34, IBAN, |compact, glued| {
            // Glued to a word (`ibanFR76...`) only for a country whose IBAN length is
            // known: else a word's last letters and a number would pass 1 time in 97.
            iban_is_valid(compact) && (!glued || iban_length(&compact[..2]).is_some())
        })
    });
    // Every NIR-shaped number goes, whatever its key, before the card pass could leave a
    // 15-digit one failing Luhn in clear.
    let text = pass(&text, |n| {
        standalone(n, &NIR_RE)
            .into_iter()
            .map(|r| {
                let compact: String = n[r.clone()]
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_uppercase())
                    .collect();
                let label = if nir_is_valid(&compact) {
                    NIR
                } else if luhn_is_valid(&compact) {
                    // An American Express number fits the NIR's shape; its check names it.
                    CARD
                } else {
                    NIR_UNCHECKED
                };
                (r, label)
            })
            .collect()
    });
    let text = pass(&text, |n| {
        checked(n, &CARD_RE, 13, 19, CARD, |compact, _| {
            luhn_is_valid(compact)
        })
    });
    pass(&text, |n| {
        standalone(n, &PHONE_RE)
            .into_iter()
            .map(|r| (r, PHONE))
            .collect()
    })
}

/// Text prepared for matching, with where each of its bytes came from in the original:
/// the patterns see one spelling, and the placeholders replace the original's spans.
struct Normalized {
    text: String,
    /// For each byte of `text`, the byte range of the original character it came from.
    origin: Vec<Range<usize>>,
}

/// Zeros of the Unicode scripts whose ten digits follow each other (general category Nd):
/// a number typed on an Arabic, Persian or Devanagari keyboard is still a number. The
/// standard library gives no digit value beyond ASCII, and NFKC maps only full-width
/// and mathematical digits.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1E140, 0x1E2F0, 0x1E950,
];

/// The ASCII digit of a decimal digit of any script.
fn ascii_digit(c: char) -> Option<char> {
    let u = u32::from(c);
    DIGIT_ZEROS
        .iter()
        .find(|&&zero| (zero..zero + 10).contains(&u))
        .and_then(|zero| char::from_digit(u - zero, 10))
}

/// One character as the patterns see it: NFKC (full-width letters, `＠`, `①`), every
/// space as `' '`, every dash as `-`, digits of every script as ASCII; invisible
/// characters (zero-width spaces, soft hyphens) vanish.
fn normalize_char(c: char, out: &mut String) {
    match c {
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => {}
        c if c.is_whitespace() => out.push(' '),
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => {
            out.push('-')
        }
        '\u{00B7}' | '\u{2022}' | '\u{2027}' | '\u{3002}' | '\u{FF61}' => out.push('.'),
        '\u{2044}' | '\u{2215}' => out.push('/'),
        c if c.is_ascii() => out.push(c),
        c => {
            for d in std::iter::once(c).nfkc() {
                match d {
                    d if d.is_ascii() => out.push(d),
                    d if d.is_whitespace() => out.push(' '),
                    d => out.push(ascii_digit(d).unwrap_or(d)),
                }
            }
        }
    }
}

fn normalize(text: &str) -> Normalized {
    let mut out = Normalized {
        text: String::with_capacity(text.len()),
        origin: Vec::with_capacity(text.len()),
    };
    for (i, c) in text.char_indices() {
        let before = out.text.len();
        normalize_char(c, &mut out.text);
        let span = i..i + c.len_utf8();
        out.origin
            .extend(std::iter::repeat_n(span, out.text.len() - before));
    }
    out
}

/// Replaces in `text` the spans `find` reports on its normalized form, mapped back to
/// the original characters (a full-width digit or a no-break space inside a number goes
/// with it).
fn pass(text: &str, find: impl Fn(&str) -> Vec<(Range<usize>, &'static str)>) -> String {
    let n = normalize(text);
    let spans = find(&n.text);
    if spans.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (r, placeholder) in spans {
        if r.is_empty() {
            continue;
        }
        let start = n.origin[r.start].start;
        let end = n.origin[r.end - 1].end;
        if start < last {
            continue;
        }
        out.push_str(&text[last..start]);
        out.push_str(placeholder);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

fn digit_at(s: &str, i: usize) -> bool {
    s.as_bytes().get(i).is_some_and(u8::is_ascii_digit)
}

fn digit_before(s: &str, i: usize) -> bool {
    i > 0 && digit_at(s, i - 1)
}

/// The next char boundary after `i`.
fn next_boundary(s: &str, i: usize) -> usize {
    s[i..].chars().next().map_or(s.len(), |c| i + c.len_utf8())
}

/// Matches of `re` that are a whole number: no digit right before nor right after, while
/// letters may touch it (`tel0612345678svp`). A match inside a longer run of digits is
/// tried again one character further.
fn standalone(text: &str, re: &Regex) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let Some(m) = re.find_at(text, at) else {
            break;
        };
        if digit_before(text, m.start()) || digit_at(text, m.end()) {
            at = next_boundary(text, m.start());
        } else {
            found.push(m.range());
            at = m.end();
        }
    }
    found
}

/// Matches of `re` whose longest valid prefix (of `min..=max` significant characters,
/// ending at a group boundary) passes `check`. Trying prefixes matters when a number is
/// followed by another group, e.g. an IBAN followed by a word in capitals; a match with
/// no valid prefix is tried again one character further (`AB12FR76...`). `check` also
/// learns whether a letter or digit touches the match on the left.
fn checked(
    text: &str,
    re: &Regex,
    min: usize,
    max: usize,
    placeholder: &'static str,
    check: impl Fn(&str, bool) -> bool,
) -> Vec<(Range<usize>, &'static str)> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let Some(m) = re.find_at(text, at) else {
            break;
        };
        let s = m.as_str();
        let glued = text[..m.start()]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric());
        // Byte offsets (in `s`) just after each significant character.
        let ends: Vec<(usize, char)> = s
            .char_indices()
            .filter(|(_, c)| c.is_ascii_alphanumeric())
            .map(|(i, c)| (i + c.len_utf8(), c))
            .collect();
        let valid = (min..=max.min(ends.len())).rev().find_map(|k| {
            let (end, last) = ends[k - 1];
            // Cut only where a group ends (a separator, the end, or letters glued to the
            // digits: `...189merci`), never inside one.
            let at_boundary = match text[m.start() + end..].chars().next() {
                Some(c) if c.is_ascii_digit() => false,
                Some(c) if c.is_ascii_alphabetic() => last.is_ascii_digit(),
                _ => true,
            };
            let compact: String = ends[..k]
                .iter()
                .map(|(_, c)| c.to_ascii_uppercase())
                .collect();
            (at_boundary && check(&compact, glued)).then_some(end)
        });
        match valid {
            Some(end) if !digit_before(text, m.start()) => {
                found.push((m.start()..m.start() + end, placeholder));
                at = m.start() + end;
            }
            _ => at = next_boundary(text, m.start()),
        }
    }
    found
}

/// Text that went through [`redact`]: the only kind the store accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(raw: &str) -> Self {
        Self(redact(raw))
    }

    /// A validated answer of the corpus, sent by an agent as it stands: the city's own
    /// words, never a resident's, and served byte for byte (redacting would blank the
    /// service's own phone number in it).
    pub(crate) fn validated(answer: &str) -> Self {
        Self(answer.to_string())
    }

    /// Text read back from the store, where only redacted text is ever written.
    pub fn from_store(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Remainder modulo 97 of a long decimal number given as digits.
fn mod97(digits: impl Iterator<Item = u32>) -> u32 {
    digits.fold(0, |r, d| (r * 10 + d) % 97)
}

/// NIR key: 97 - (the 13 first digits mod 97), with Corsica's 2A and 2B counted as 19
/// and 18 (INSEE's rule).
pub fn nir_is_valid(compact: &str) -> bool {
    if compact.len() != 15 || !compact.is_ascii() {
        return false;
    }
    let (body, key) = compact.split_at(13);
    let body = match &body[5..7] {
        "2A" => format!("{}19{}", &body[..5], &body[7..]),
        "2B" => format!("{}18{}", &body[..5], &body[7..]),
        _ => body.to_string(),
    };
    if !body.bytes().all(|b| b.is_ascii_digit()) || !key.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(key) = key.parse::<u32>() else {
        return false;
    };
    let rest = mod97(body.bytes().map(|b| u32::from(b - b'0')));
    key == 97 - rest
}

/// The length of the IBANs of a country (SWIFT's IBAN registry, and the French
/// overseas territories that use France's format).
fn iban_length(country: &str) -> Option<usize> {
    let len = match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FK" | "FO" | "GL" | "NL" | "SD" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "MN" | "XK" => 20,
        "CH" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "CR" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "OM" | "SO" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "AO" | "CV" | "GW" | "LY" | "MZ" | "PT" | "ST" => 25,
        "DZ" | "IR" | "IS" | "TR" => 26,
        "BI" | "CF" | "CG" | "CM" | "DJ" | "FR" | "GA" | "GQ" | "GR" | "IT" | "KM" | "MC"
        | "MG" | "MR" | "SM" | "TD" | "BL" | "GF" | "GP" | "MF" | "MQ" | "NC" | "PF" | "PM"
        | "RE" | "TF" | "WF" | "YT" => 27,
        "AL" | "AZ" | "BF" | "BJ" | "BY" | "CI" | "CY" | "DO" | "GT" | "HN" | "HU" | "LB"
        | "MA" | "ML" | "NE" | "NI" | "PL" | "SN" | "SV" | "TG" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" | "YE" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        "RU" => 33,
        _ => return None,
    };
    Some(len)
}

/// ISO 13616: move the first four characters to the end, letters as 10..35, mod 97 = 1;
/// and the length of the country's IBANs when it is known.
pub fn iban_is_valid(compact: &str) -> bool {
    if !(15..=34).contains(&compact.len()) || !compact.is_ascii() {
        return false;
    }
    if iban_length(&compact[..2]).is_some_and(|len| len != compact.len()) {
        return false;
    }
    let b = compact.as_bytes();
    let country_and_check = b[0].is_ascii_uppercase()
        && b[1].is_ascii_uppercase()
        && b[2].is_ascii_digit()
        && b[3].is_ascii_digit();
    if !country_and_check {
        return false;
    }
    let rotated = compact[4..].chars().chain(compact[..4].chars());
    let mut digits = Vec::with_capacity(68);
    for c in rotated {
        match c.to_digit(36) {
            Some(v) if v >= 10 => {
                digits.push(v / 10);
                digits.push(v % 10);
            }
            Some(v) => digits.push(v),
            None => return false,
        }
    }
    mod97(digits.into_iter()) == 1
}

/// The Luhn check of payment cards.
pub fn luhn_is_valid(compact: &str) -> bool {
    if !(13..=19).contains(&compact.len()) || !compact.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = compact
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn emails_are_redacted() {
        assert_eq!(
            redact("écrivez à jean.dupont+mairie@exemple.fr svp"),
            "écrivez à [email] svp"
        );
        assert_eq!(redact("A.B@SUB.DOMAIN.ORG"), "[email]");
    }

    #[test]
    fn french_phone_numbers_are_redacted_in_every_usual_spelling() {
        for n in [
            "06 12 34 56 78",
            "0612345678",
            "06.12.34.56.78",
            "06-12-34-56-78",
            "+33 6 12 34 56 78",
            "+33612345678",
            "0033 6 12 34 56 78",
            "+33 (0)6 12 34 56 78",
        ] {
            assert_eq!(
                redact(&format!("appelez le {n} merci")),
                "appelez le [téléphone] merci",
                "{n}"
            );
        }
    }

    #[test]
    fn international_phone_numbers_are_redacted() {
        for n in [
            "+44 20 7946 0958",
            "+1 415 555 2671",
            "0049 30 123456",
            "+212 612-345678",
        ] {
            assert_eq!(
                redact(&format!("mon numéro : {n}.")),
                "mon numéro : [téléphone].",
                "{n}"
            );
        }
    }

    #[test]
    fn short_numbers_stay() {
        let text =
            "ma fille a 3 ans, le bus 12, dossier 2024-118, le 15/03/2024, 3 place du 8 mai 1945";
        assert_eq!(redact(text), text);
    }

    #[test]
    fn a_nir_with_a_valid_key_is_redacted() {
        assert_eq!(
            redact("mon numéro 1 85 05 78 006 084 91 !"),
            "mon numéro [NIR] !"
        );
        assert_eq!(redact("185057800608491"), "[NIR]");
        assert_eq!(redact("NIR: 2.69.04.99.350.012.82"), "NIR: [NIR]");
    }

    #[test]
    fn a_corsican_nir_is_checked_with_2a_as_19_and_2b_as_18() {
        assert_eq!(redact("1 84 01 2A 001 002 58"), "[NIR]");
        assert_eq!(redact("291022B05001568"), "[NIR]");
        assert!(nir_is_valid("184012A00100258"));
        assert!(
            !nir_is_valid("184012B00100258"),
            "2B would need another key"
        );
    }

    #[test]
    fn privacy_a_nir_shaped_number_with_a_wrong_key_is_redacted_and_labelled_unchecked() {
        assert!(!nir_is_valid("185057800608492"));
        // A mistyped key is still somebody's social-security number.
        assert_eq!(
            redact("sécu 1 85 05 78 006 084 92 merci"),
            format!("sécu {NIR_UNCHECKED} merci")
        );
        assert_eq!(redact("185057800608400"), NIR_UNCHECKED);
        assert_eq!(redact("2.69.04.99.350.012.83"), NIR_UNCHECKED);
        assert_eq!(redact("1 84 01 2B 001 002 58"), NIR_UNCHECKED);
    }

    #[test]
    fn an_iban_with_a_valid_checksum_is_redacted() {
        assert_eq!(
            redact("IBAN FR76 3000 6000 0112 3456 7890 189 merci"),
            "IBAN [IBAN] merci"
        );
        assert_eq!(redact("DE89370400440532013000"), "[IBAN]");
        assert_eq!(redact("fr7630006000011234567890189"), "[IBAN]");
        // A word in capitals right after the IBAN is not swallowed.
        assert_eq!(
            redact("FR76 3000 6000 0112 3456 7890 189 MERCI"),
            "[IBAN] MERCI"
        );
    }

    #[test]
    fn an_iban_with_a_wrong_checksum_stays() {
        let text = "FR76 3000 6000 0112 3456 7890 188";
        assert!(!iban_is_valid("FR7630006000011234567890188"));
        assert!(!redact(text).contains(IBAN));
    }

    #[test]
    fn a_card_number_passing_luhn_is_redacted() {
        assert_eq!(
            redact("carte 4111 1111 1111 1111 exp 12/27"),
            "carte [carte] exp 12/27"
        );
        assert_eq!(redact("5555-5555-5555-4444"), "[carte]");
        assert_eq!(redact("Amex 378282246310005"), "Amex [carte]");
    }

    #[test]
    fn a_number_failing_luhn_is_not_called_a_card() {
        assert!(!luhn_is_valid("4111111111111112"));
        assert_eq!(
            redact("référence 4111 1111 1111 1112"),
            "référence 4111 1111 1111 1112"
        );
    }

    #[test]
    fn several_kinds_in_one_message_are_each_replaced_by_their_placeholder() {
        assert_eq!(
            redact(
                "Je suis joignable au 06 12 34 56 78 ou a@b.fr, sécu 185057800608491, \
                 IBAN DE89 3704 0044 0532 0130 00, carte 4111111111111111."
            ),
            "Je suis joignable au [téléphone] ou [email], sécu [NIR], IBAN [IBAN], carte [carte]."
        );
    }

    #[test]
    fn leak_ordinary_questions_with_short_numbers_and_references_survive() {
        for text in [
            "horaires le 12/05",
            "formulaire cerfa 12100*02",
            "rendez-vous le 12/05/2024 à 14h30",
            "le bus 12 passe à 8 h 15",
            "3 enfants de 4, 6 et 9 ans",
            "dossier n° 2024/118-B",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn leak_unusual_spellings_seen_in_the_attack_are_redacted_whole() {
        for (text, want) in [
            ("jean.dupont arobase exemple point fr", "[email]"),
            ("jean at exemple dot org merci", "[email] merci"),
            ("jean[at]exemple[dot]fr", "[email]"),
            ("jean (at) exemple (point) com", "[email]"),
            ("jean @ exemple.fr", "[email]"),
            ("jean＠exemple．fr", "[email]"),
            ("tel0622334455svp", "tel[téléphone]svp"),
            ("06\u{a0}22\u{a0}33\u{a0}44\u{a0}55", "[téléphone]"),
            ("06\u{202f}22\u{202f}33\u{202f}44\u{202f}55", "[téléphone]"),
            ("06/22/33/44/55", "[téléphone]"),
            ("(0)6 22 33 44 55", "[téléphone]"),
            ("０６２２３３４４５５", "[téléphone]"),
            ("٠٦٢٢٣٣٤٤٥٥", "[téléphone]"),
            ("NIR 1-85-05-78-006-084-91", "NIR [NIR]"),
            (
                "NIR\u{a0}1\u{a0}85\u{a0}05\u{a0}78\u{a0}006\u{a0}084\u{a0}91",
                "NIR\u{a0}[NIR]",
            ),
            ("NIR１８５０５７８００６０８４９１", "NIR[NIR]"),
            ("sécu185057800608443", "sécu[NIR ?]"),
            ("FR76-3000-6000-0112-3456-7890-189", "[IBAN]"),
            ("FR76.3000.6000.0112.3456.7890.189", "[IBAN]"),
            ("FR76  3000  6000  0112  3456  7890  189", "[IBAN]"),
            (
                "FR76\u{a0}3000\u{a0}6000\u{a0}0112\u{a0}3456\u{a0}7890\u{a0}189",
                "[IBAN]",
            ),
            ("4111.1111.1111.1111", "[carte]"),
            ("4111/1111/1111/1111", "[carte]"),
            ("4111\u{a0}1111\u{a0}1111\u{a0}1111", "[carte]"),
            ("４１１１ １１１１ １１１１ １１１１", "[carte]"),
        ] {
            assert_eq!(redact(text), want, "{text:?}");
        }
    }

    /// Digits of another script, as a phone keyboard in that script types them.
    fn in_script(digits: &str, zero: u32) -> String {
        digits
            .chars()
            .map(|c| match c.to_digit(10) {
                Some(d) => char::from_u32(zero + d).unwrap(),
                None => c,
            })
            .collect()
    }

    /// Digits spelled with `sep` between `groups` (lengths), in the script of `zero`.
    fn spelled(digits: &str, groups: &[usize], sep: &str, zero: u32) -> String {
        let mut parts = Vec::new();
        let mut at = 0;
        for g in groups {
            parts.push(&digits[at..at + g]);
            at += g;
        }
        in_script(&parts.join(sep), zero)
    }

    fn luhn_digit(body: &str) -> u32 {
        (0..10)
            .find(|c| luhn_is_valid(&format!("{body}{c}")))
            .unwrap()
    }

    fn iban_check(bban: &str) -> String {
        (2..=98)
            .map(|k| format!("FR{k:02}{bban}"))
            .find(|i| iban_is_valid(i))
            .unwrap()
    }

    fn seps() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "", " ", ".", "-", "/", "  ", " - ", "\u{a0}", "\u{202f}", "\u{2009}", "\u{3000}",
            "\u{2011}", "\u{200b}",
        ])
    }

    fn scripts() -> impl Strategy<Value = u32> {
        // ASCII, full-width, Arabic-Indic, Persian, Devanagari, Bengali, Thai.
        prop::sample::select(vec![0x30, 0xFF10, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50])
    }

    fn around() -> impl Strategy<Value = (&'static str, &'static str)> {
        prop::sample::select(vec![
            ("mon numéro ", " merci"),
            ("tel", "svp"),
            ("NIR:", "."),
            ("", ""),
            ("(", ")"),
            ("voici\n", "\n"),
        ])
    }

    fn placeholders() -> [&'static str; 6] {
        [EMAIL, PHONE, NIR, NIR_UNCHECKED, IBAN, CARD]
    }

    /// `out` is `pre`, one placeholder, `post`: nothing of the value is left, not even
    /// half of it.
    fn whole(out: &str, pre: &str, post: &str) -> bool {
        placeholders()
            .iter()
            .any(|p| out == format!("{pre}{p}{post}"))
    }

    /// The key that makes a 13-digit NIR body valid, computed the slow way.
    fn nir_key(body: u64) -> u64 {
        97 - body % 97
    }

    proptest! {
        #[test]
        fn any_nir_with_its_computed_key_is_redacted(
            sex in 1u64..=2, year in 0u64..100, month in 1u64..=12, dept in 1u64..=95,
            commune in 1u64..990, order in 1u64..999,
        ) {
            let body = format!("{sex}{year:02}{month:02}{dept:02}{commune:03}{order:03}");
            let key = nir_key(body.parse().unwrap());
            let nir = format!("{body}{key:02}");
            prop_assert!(nir_is_valid(&nir));
            prop_assert_eq!(redact(&format!("n° {nir}")), format!("n° {NIR}"));
            let wrong = format!("{body}{:02}", (key % 97) + 1);
            prop_assert!(!nir_is_valid(&wrong));
        }

        /// Whatever its key, a number shaped like a NIR (sex 1, 2, or 3, 4, 7, 8 for
        /// temporary numbers; year; month 01-12, 20-42 or 50-99; department, 2A or 2B;
        /// commune; order), spaced or not, leaves no digit of it behind.
        #[test]
        fn privacy_any_nir_shaped_number_is_redacted_whatever_its_key(
            sex in prop::sample::select(vec!['1', '2', '3', '4', '7', '8']),
            year in 0u32..100,
            month in prop::sample::select((1u32..=12).chain(20..=42).chain(50..=99).collect::<Vec<_>>()),
            dept in prop::sample::select(
                (1u32..=99).map(|d| format!("{d:02}")).chain(["2A".into(), "2B".into(), "2a".into()]).collect::<Vec<_>>()
            ),
            commune in 0u32..1000, order in 0u32..1000, key in 0u32..100,
            sep in prop::sample::select(vec!["", " ", "."]),
        ) {
            let nir = [
                sex.to_string(), format!("{year:02}"), format!("{month:02}"), dept,
                format!("{commune:03}"), format!("{order:03}"), format!("{key:02}"),
            ].join(sep);
            let out = redact(&format!("mon numéro {nir} merci"));
            let compact: String = nir.chars().filter(char::is_ascii_alphanumeric).collect();
            let label = if nir_is_valid(&compact.to_ascii_uppercase()) {
                NIR
            } else if luhn_is_valid(&compact) {
                CARD
            } else {
                NIR_UNCHECKED
            };
            prop_assert_eq!(out, format!("mon numéro {label} merci"));
        }

        #[test]
        fn leak_a_phone_number_in_any_spelling_is_redacted_whole(
            lead in 1u32..10, rest in "[0-9]{8}", sep in seps(), zero in scripts(),
            form in 0usize..4, (pre, post) in around(),
        ) {
            let digits = format!("0{lead}{rest}");
            let national = spelled(&digits, &[2, 2, 2, 2, 2], sep, zero);
            let tail = spelled(&digits[1..], &[1, 2, 2, 2, 2], sep, zero);
            let value = match form {
                0 => national,
                1 => format!("+{}{sep}{tail}", in_script("33", zero)),
                2 => format!("+{}{sep}({}){sep}{tail}", in_script("33", zero), in_script("0", zero)),
                _ => format!("({}){tail}", in_script("0", zero)),
            };
            let out = redact(&format!("{pre}{value}{post}"));
            prop_assert!(whole(&out, pre, post), "{value:?} -> {out:?}");
        }

        #[test]
        fn leak_a_nir_in_any_spelling_is_redacted_whole(
            sex in 1u32..=2, body in "[0-9]{12}", key in 0u32..100, sep in seps(),
            zero in scripts(), (pre, post) in around(),
        ) {
            let digits = format!("{sex}{body}{key:02}");
            let value = spelled(&digits, &[1, 2, 2, 2, 3, 3, 2], sep, zero);
            let out = redact(&format!("{pre}{value}{post}"));
            prop_assert!(whole(&out, pre, post), "{value:?} -> {out:?}");
        }

        #[test]
        fn leak_an_iban_in_any_spelling_is_redacted_whole(
            bban in "[0-9]{23}", sep in seps(), zero in scripts(), (pre, post) in around(),
        ) {
            let iban = iban_check(&bban);
            let value = format!("FR{}", spelled(&iban[2..], &[2, 4, 4, 4, 4, 4, 3], sep, zero));
            let out = redact(&format!("{pre}{value}{post}"));
            prop_assert!(whole(&out, pre, post), "{value:?} -> {out:?}");
        }

        #[test]
        fn leak_a_card_number_in_any_spelling_is_redacted_whole(
            body in "[3-6][0-9]{14}", sep in seps(), zero in scripts(), (pre, post) in around(),
        ) {
            let digits = format!("{body}{}", luhn_digit(&body));
            let value = spelled(&digits, &[4, 4, 4, 4], sep, zero);
            let out = redact(&format!("{pre}{value}{post}"));
            prop_assert!(whole(&out, pre, post), "{value:?} -> {out:?}");
        }

        #[test]
        fn leak_an_email_in_any_spelling_is_redacted_whole(
            user in "[a-z]{2,8}(\\.[a-z]{2,6})?", domain in "[a-z]{3,8}",
            tld in prop::sample::select(vec!["fr", "com", "org", "net"]),
            at in prop::sample::select(vec![
                "@", " @ ", "＠", " [at] ", "[at]", "(at)", " (at) ", " at ", " arobase ",
                " (arobase) ", "[@]", "﹫",
            ]),
            dot in prop::sample::select(vec![".", " point ", " dot ", "[dot]", " (point) ", "．"]),
            (pre, post) in prop::sample::select(vec![
                ("écrivez à ", " merci"), ("mail:", "."), ("", ""), ("(", ")"),
            ]),
        ) {
            let value = format!("{user}{at}{domain}{dot}{tld}");
            let out = redact(&format!("{pre}{value}{post}"));
            prop_assert!(whole(&out, pre, post), "{value:?} -> {out:?}");
        }

        #[test]
        fn luhn_accepts_exactly_one_check_digit(digits in proptest::collection::vec(0u32..10, 12..18)) {
            let body: String = digits.iter().map(|d| char::from_digit(*d, 10).unwrap()).collect();
            let valid: Vec<u32> = (0..10)
                .filter(|c| luhn_is_valid(&format!("{body}{c}")))
                .collect();
            prop_assert_eq!(valid.len(), 1);
        }

        #[test]
        fn redaction_is_idempotent_and_never_grows_digits(text in "[a-z0-9 @.+]{0,60}") {
            let once = redact(&text);
            prop_assert_eq!(&redact(&once), &once);
            let digits = |s: &str| s.chars().filter(char::is_ascii_digit).count();
            prop_assert!(digits(&once) <= digits(&text));
        }
    }
}
