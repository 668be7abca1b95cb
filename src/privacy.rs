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

use std::sync::LazyLock;

use regex::Regex;

pub const EMAIL: &str = "[email]";
pub const PHONE: &str = "[téléphone]";
pub const NIR: &str = "[NIR]";
/// A number shaped like a NIR whose key does not check (a typo, or another number).
pub const NIR_UNCHECKED: &str = "[NIR ?]";
pub const IBAN: &str = "[IBAN]";
pub const CARD: &str = "[carte]";

static EMAIL_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}").expect("email regex")
});

/// Two letters, two check digits, then 11 to 30 letters or digits, optionally grouped by
/// single spaces (as printed on a RIB).
static IBAN_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z]{2}[0-9]{2}(?: ?[a-z0-9]){11,30}\b").expect("iban regex")
});

/// Sex, year, month, department (2A/2B in Corsica), commune, order, key: 15 characters,
/// optionally separated by spaces or dots.
static NIR_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b[1-478][ .]?[0-9]{2}[ .]?[0-9]{2}[ .]?(?:[0-9]{2}|2[ab])[ .]?[0-9]{3}[ .]?[0-9]{3}[ .]?[0-9]{2}\b",
    )
    .expect("nir regex")
});

/// 13 to 19 digits, optionally grouped by spaces or hyphens.
static CARD_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[0-9](?:[ -]?[0-9]){12,18}\b").expect("card regex"));

/// French numbers: 0X XX XX XX XX, +33 X XX XX XX XX, 0033..., with spaces, dots or
/// hyphens; then any international number written with + or 00 and a country code.
static PHONE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?:(?:\+|\b00)33[ .-]?(?:\(0\)[ .-]?)?|\b0)[1-9](?:[ .-]?[0-9]{2}){4}\b",
        r"|(?:\+|\b00)[1-9][0-9]{0,2}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9](?:[ .-]?[0-9]){5,13}\b",
    ))
    .expect("phone regex")
});

/// `text` with every email, phone number, NIR-shaped number, valid IBAN and valid card number
/// replaced by its placeholder. Idempotent: placeholders contain no digit nor `@`.
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
    let text = EMAIL_RE.replace_all(text, EMAIL);
    let text = replace_checked(&text, &IBAN_RE, 15, 34, IBAN, iban_is_valid);
    // Every NIR-shaped number goes, whatever its key, before the card pass could leave a
    // 15-digit one failing Luhn in clear.
    let text = NIR_RE.replace_all(&text, |c: &regex::Captures| {
        let compact: String = c[0]
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if nir_is_valid(&compact) {
            NIR
        } else if luhn_is_valid(&compact) {
            // An American Express number fits the NIR's shape; its check names it.
            CARD
        } else {
            NIR_UNCHECKED
        }
    });
    let text = replace_checked(&text, &CARD_RE, 13, 19, CARD, luhn_is_valid);
    PHONE_RE.replace_all(&text, PHONE).into_owned()
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

/// Replaces each match of `re` whose longest valid prefix (of `min..=max` significant
/// characters, ending at a group boundary) passes `check`. Trying prefixes matters when a
/// number is followed by another group, e.g. an IBAN followed by a word in capitals.
fn replace_checked(
    text: &str,
    re: &Regex,
    min: usize,
    max: usize,
    placeholder: &str,
    check: fn(&str) -> bool,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in re.find_iter(text) {
        let s = m.as_str();
        // Byte offsets (in `s`) just after each significant character.
        let ends: Vec<(usize, char)> = s
            .char_indices()
            .filter(|(_, c)| c.is_ascii_alphanumeric())
            .map(|(i, c)| (i + c.len_utf8(), c))
            .collect();
        let found = (min..=max.min(ends.len())).rev().find_map(|k| {
            let end = ends[k - 1].0;
            // Cut only where a group ends (a separator or the end), never inside one.
            let at_boundary =
                end == s.len() || !s[end..].starts_with(|c: char| c.is_ascii_alphanumeric());
            let compact: String = ends[..k]
                .iter()
                .map(|(_, c)| c.to_ascii_uppercase())
                .collect();
            (at_boundary && check(&compact)).then_some(end)
        });
        if let Some(end) = found {
            out.push_str(&text[last..m.start()]);
            out.push_str(placeholder);
            last = m.start() + end;
        }
    }
    out.push_str(&text[last..]);
    out
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

/// ISO 13616: move the first four characters to the end, letters as 10..35, mod 97 = 1.
pub fn iban_is_valid(compact: &str) -> bool {
    if !(15..=34).contains(&compact.len()) || !compact.is_ascii() {
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
