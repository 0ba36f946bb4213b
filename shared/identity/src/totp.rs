//! TOTP (RFC 6238) over HOTP (RFC 4226) with HMAC-SHA1, 6 digits and 30
//! second steps (what authenticator apps use by default), the base32 the
//! secret is shown in (RFC 4648), and the `otpauth://` URI apps scan.
//!
//! The HOTP computation and base32 are `totp-rs` (on the workspace's
//! RustCrypto generation: hmac 0.13, sha1 0.11). What stays here is the
//! policy: the window of one step either side, single use of a step (its
//! `check` leaves replay to the caller) and the exact URI format.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Seconds per time step.
pub const PERIOD_SECS: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Random bytes of a secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;
/// Steps accepted either side of the current one (clock drift).
pub const WINDOW: u64 = 1;

/// A `totp-rs` generator for `secret` with `digits` digits. Built without
/// its RFC checks (`build_noncompliant`): the secrets are ours (20 random
/// bytes), and the RFC 4226 test vectors use 8 digits.
fn generator(secret: &[u8], digits: u32) -> Totp {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(u8::try_from(digits).unwrap_or(6))
        .with_step_duration(PERIOD_SECS)
        .with_skew(0)
        .with_secret(Secret::from(secret))
        .build_noncompliant()
}

/// The HOTP value of `secret` at `counter` with `digits` digits (RFC 4226
/// section 5.3: dynamic truncation, then modulo 10^digits).
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // totp-rs signs `time / step`: the counter's first second is that step.
    generator(secret, digits)
        .generate(counter.saturating_mul(PERIOD_SECS))
        .to_string()
        .parse()
        .unwrap_or(0)
}

/// The time step of a Unix time (RFC 6238: T0 = 0, X = 30).
pub fn step_at(unix_secs: u64) -> u64 {
    unix_secs / PERIOD_SECS
}

/// The 6-digit code of `secret` at time step `step`, zero-padded.
pub fn code_at(secret: &[u8], step: u64) -> String {
    generator(secret, DIGITS)
        .generate(step.saturating_mul(PERIOD_SECS))
        .to_string()
}

/// Checks `code` against the steps `now_step - 1 ..= now_step + 1`, never
/// accepting a step at or before `last_step` (each code works once).
/// Returns the matching step. Every candidate is compared, in constant time,
/// whichever matches (`totp-rs`'s `check` stops at the first match and
/// knows nothing of used steps).
pub fn verify(secret: &[u8], code: &str, now_step: u64, last_step: Option<u64>) -> Option<u64> {
    let totp = generator(secret, DIGITS);
    let mut found = None;
    for step in now_step.saturating_sub(WINDOW)..=now_step.saturating_add(WINDOW) {
        let expected = totp.generate(step.saturating_mul(PERIOD_SECS)).to_string();
        let same: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        let fresh = last_step.is_none_or(|last| step > last);
        if same && fresh && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A new random secret.
pub fn new_secret() -> Result<[u8; SECRET_BYTES], getrandom::Error> {
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret)?;
    Ok(secret)
}

/// RFC 4648 base32, unpadded (as `otpauth://` URIs carry secrets).
pub fn base32_encode(bytes: &[u8]) -> String {
    Secret::from(bytes).to_base32()
}

/// Decodes RFC 4648 base32 (case-insensitive, padding and spaces ignored);
/// `None` for any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let plain: String = text
        .chars()
        .filter(|c| !matches!(c, '=' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Secret::try_from_base32(plain)
        .ok()
        .map(|s| s.as_bytes().to_vec())
}

/// Everything but RFC 3986 unreserved characters and `@` is percent-encoded.
const LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

fn uri_encode(text: &str) -> String {
    utf8_percent_encode(text, LABEL).to_string()
}

/// The key URI authenticator apps scan:
/// `otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
/// Built here rather than with totp-rs's `otpauth` feature: its parameter
/// order and encoding differ from what this API has always answered, and it
/// would bring the `url` crate into the component.
pub fn otpauth_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    let issuer = uri_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={secret_base32}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECS}",
        uri_encode(account)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// RFC 6238 Appendix B: the SHA1 seed and column (8 digits).
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        for (time, expected) in [
            (59u64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(SEED, step_at(time), 8), expected, "T={time}");
        }
    }

    #[test]
    fn rfc_4226_appendix_d_hotp_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(SEED, counter as u64, 6), *code, "counter {counter}");
        }
        assert_eq!(code_at(SEED, 1), "287082");
    }

    #[test]
    fn verify_accepts_one_step_either_side_once() {
        let now = step_at(1_700_000_000);
        for step in [now - 1, now, now + 1] {
            assert_eq!(verify(SEED, &code_at(SEED, step), now, None), Some(step));
        }
        assert_eq!(verify(SEED, &code_at(SEED, now - 2), now, None), None);
        assert_eq!(verify(SEED, &code_at(SEED, now + 2), now, None), None);
        // Replays: the accepted step and anything before it are refused.
        let code = code_at(SEED, now);
        assert_eq!(verify(SEED, &code, now, Some(now)), None);
        assert_eq!(verify(SEED, &code_at(SEED, now - 1), now, Some(now)), None);
        assert_eq!(
            verify(SEED, &code_at(SEED, now + 1), now, Some(now)),
            Some(now + 1)
        );
        assert_eq!(verify(SEED, "12345", now, None), None);
        assert_eq!(verify(SEED, "", now, None), None);
        assert_eq!(verify(b"another secret", &code, now, None), None);
    }

    #[test]
    fn base32_rfc_4648_vectors_round_trip() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZX1"), None);
        let secret = new_secret().unwrap();
        let text = base32_encode(&secret);
        assert_eq!(text.len(), 32);
        assert_eq!(base32_decode(&text).unwrap(), secret);
    }

    #[test]
    fn otpauth_uri_encodes_the_label() {
        assert_eq!(
            otpauth_uri("agent-control-plane", "ada+x@example.com", "JBSWY3DP"),
            "otpauth://totp/agent-control-plane:ada%2Bx@example.com?secret=JBSWY3DP\
             &issuer=agent-control-plane&algorithm=SHA1&digits=6&period=30"
        );
    }
}
