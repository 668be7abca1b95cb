//! Checks of who is calling: Meta's `X-Hub-Signature-256`, the generic webhook's
//! `X-Guichet-Signature: t=..,v1=..`, and plain shared tokens (Telegram, agents). Every
//! comparison runs in constant time; signatures are checked over the raw bytes, before
//! any parsing.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How far a generic webhook's timestamp may be from our clock, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

fn mac(secret: &str) -> HmacSha256 {
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key")
}

/// Hex HMAC-SHA256 of `body` under `secret`.
pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// `X-Hub-Signature-256: sha256=<hex>` over the exact bytes Meta sent.
pub fn meta_is_valid(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header
        .and_then(|h| h.strip_prefix("sha256="))
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut m = mac(secret);
    m.update(body);
    m.verify_slice(&given).is_ok()
}

/// The header a generic webhook call (or our own notification) carries.
pub fn generic_header(secret: &str, t: i64, body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    format!("t={t},v1={}", hex::encode(m.finalize().into_bytes()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenericRejection {
    Missing,
    Malformed,
    Stale,
    Mismatch,
}

/// Checks `t=<unix seconds>,v1=<hex HMAC(secret, t + "." + body)>`, `now` within
/// [`TOLERANCE_SECS`]. Several `v1` values are allowed (secret rotation).
pub fn generic_check(
    secret: &str,
    body: &[u8],
    header: Option<&str>,
    now: i64,
) -> Result<(), GenericRejection> {
    let header = header.ok_or(GenericRejection::Missing)?;
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => {
                signatures.push(hex::decode(v).map_err(|_| GenericRejection::Malformed)?)
            }
            _ => {}
        }
    }
    let t = t.ok_or(GenericRejection::Malformed)?;
    if signatures.is_empty() {
        return Err(GenericRejection::Malformed);
    }
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(GenericRejection::Stale);
    }
    let mut m = mac(secret);
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    let expected = m.finalize().into_bytes();
    let mut any = subtle::Choice::from(0);
    for s in &signatures {
        any |= expected.as_slice().ct_eq(s.as_slice());
    }
    if bool::from(any) {
        Ok(())
    } else {
        Err(GenericRejection::Mismatch)
    }
}

/// A shared token (Telegram's secret header, the agents' bearer token), in constant time.
pub fn token_matches(expected: &str, given: Option<&str>) -> bool {
    given.is_some_and(|g| bool::from(expected.as_bytes().ct_eq(g.as_bytes())))
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn meta_signature_matches_a_known_vector() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC-style vector.
        let sig = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
        assert!(meta_is_valid(
            "key",
            b"The quick brown fox jumps over the lazy dog",
            Some(sig)
        ));
        assert!(!meta_is_valid(
            "key",
            b"The quick brown fox jumps over the lazy dog.",
            Some(sig)
        ));
        assert!(!meta_is_valid("key", b"x", None));
        assert!(!meta_is_valid("key", b"x", Some("sha1=00")));
        assert!(!meta_is_valid("key", b"x", Some("sha256=zz")));
    }

    #[test]
    fn generic_signature_is_rejected_when_stale_or_malformed() {
        let h = generic_header("s", 1_000, b"{}");
        assert_eq!(
            generic_check("s", b"{}", Some(&h), 1_000 + TOLERANCE_SECS),
            Ok(())
        );
        assert_eq!(
            generic_check("s", b"{}", Some(&h), 1_000 + TOLERANCE_SECS + 1),
            Err(GenericRejection::Stale)
        );
        assert_eq!(
            generic_check("s", b"{}", None, 1_000),
            Err(GenericRejection::Missing)
        );
        assert_eq!(
            generic_check("s", b"{}", Some("v1=00"), 1_000),
            Err(GenericRejection::Malformed)
        );
        assert_eq!(
            generic_check("s", b"{}", Some("t=1000"), 1_000),
            Err(GenericRejection::Malformed)
        );
        assert_eq!(
            generic_check("t", b"{}", Some(&h), 1_000),
            Err(GenericRejection::Mismatch)
        );
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(token_matches("abc", Some("abc")));
        assert!(!token_matches("abc", Some("ab")));
        assert!(!token_matches("abc", Some("abcd")));
        assert!(!token_matches("abc", None));
        assert_eq!(bearer(Some("Bearer t0k")), Some("t0k"));
        assert_eq!(bearer(Some("Basic t0k")), None);
    }

    proptest! {
        #[test]
        fn a_meta_signature_holds_only_for_its_body_and_secret(
            secret in "[ -~]{1,40}",
            body in proptest::collection::vec(any::<u8>(), 0..300),
            flip in any::<prop::sample::Index>(),
            other in "[ -~]{1,40}",
        ) {
            let header = format!("sha256={}", hmac_hex(&secret, &body));
            prop_assert!(meta_is_valid(&secret, &body, Some(&header)));
            if !body.is_empty() {
                let mut changed = body.clone();
                let i = flip.index(changed.len());
                changed[i] ^= 0x01;
                prop_assert!(!meta_is_valid(&secret, &changed, Some(&header)));
            }
            if other != secret {
                prop_assert!(!meta_is_valid(&other, &body, Some(&header)));
            }
        }

        #[test]
        fn a_generic_signature_holds_only_in_its_window(
            body in proptest::collection::vec(any::<u8>(), 0..200),
            t in 0i64..2_000_000_000,
            skew in -1_000i64..1_000,
        ) {
            let h = generic_header("secret", t, &body);
            let r = generic_check("secret", &body, Some(&h), t + skew);
            prop_assert_eq!(r.is_ok(), skew.abs() <= TOLERANCE_SECS);
            let mut tampered = body;
            tampered.push(b' ');
            prop_assert!(generic_check("secret", &tampered, Some(&h), t).is_err());
        }
    }

    /// Fuzz harnesses: signature headers are the first thing an outside caller controls.
    /// Any value (any text, and values shaped like the real ones) never panics and never
    /// passes, unless it is the one signature of that body under that secret.
    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        const CASES: u32 = 1000;

        fn meta_like() -> impl Strategy<Value = String> {
            prop_oneof![
                "(?s).{0,120}",
                "sha256=[0-9a-fA-F]{0,70}",
                "(sha256|SHA256|sha1|sha256 )=[0-9a-f]{64}",
                "sha256=[^,]{0,70}",
            ]
        }

        fn generic_like() -> impl Strategy<Value = String> {
            let part = prop_oneof![
                "t=-?[0-9]{0,12}",
                "v1=[0-9a-f]{0,66}",
                "v1=[^,]{0,10}",
                "v0=[0-9a-f]{64}",
                " *[a-z0-9]{0,3}=?[0-9a-f]{0,8} *",
                "(?s).{0,20}",
            ];
            prop_oneof![
                "(?s).{0,120}",
                proptest::collection::vec(part, 0..6).prop_map(|p| p.join(",")),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(CASES))]

            #[test]
            fn no_forged_meta_signature_header_is_accepted(
                header in meta_like(),
                body in proptest::collection::vec(any::<u8>(), 0..200),
            ) {
                let real = format!("sha256={}", hmac_hex("app-secret", &body));
                // The one value that may pass (hex compares case-insensitively).
                let forged = !header
                    .strip_prefix("sha256=")
                    .is_some_and(|h| h.eq_ignore_ascii_case(&real["sha256=".len()..]));
                prop_assert_eq!(meta_is_valid("app-secret", &body, Some(&header)), !forged);
            }

            #[test]
            fn no_forged_generic_signature_header_is_accepted(
                header in generic_like(),
                body in proptest::collection::vec(any::<u8>(), 0..200),
                now in 0i64..2_000_000_000,
            ) {
                let real = generic_header("webhook-secret", now, &body);
                let genuine = real.rsplit_once("v1=").map(|(_, sig)| sig.to_string()).unwrap();
                prop_assume!(!header.to_ascii_lowercase().contains(&genuine));
                prop_assert!(generic_check("webhook-secret", &body, Some(&header), now).is_err());
            }

            #[test]
            fn a_genuine_generic_signature_among_forged_ones_still_passes(
                forged in proptest::collection::vec("v1=[0-9a-f]{64}", 0..3),
                now in 0i64..2_000_000_000,
            ) {
                // Secret rotation: several v1 values, one of them right.
                let real = generic_header("webhook-secret", now, b"{}");
                let header = std::iter::once(real).chain(forged).collect::<Vec<_>>().join(",");
                prop_assert_eq!(generic_check("webhook-secret", b"{}", Some(&header), now), Ok(()));
            }

            #[test]
            fn no_other_token_matches(
                given in "(?s).{0,80}",
                bearer_header in "(?s).{0,80}",
            ) {
                let expected = "telegram-secret-token-0123456789";
                prop_assert_eq!(token_matches(expected, Some(&given)), given == expected);
                // A bearer header holds only what follows "Bearer ", trimmed.
                match bearer(Some(&bearer_header)) {
                    Some(t) => {
                        prop_assert!(bearer_header.starts_with("Bearer "));
                        prop_assert_eq!(t, bearer_header["Bearer ".len()..].trim());
                    }
                    None => prop_assert!(!bearer_header.starts_with("Bearer ")),
                }
            }
        }
    }
}
