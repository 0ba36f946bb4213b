//! TOTP (RFC 6238) over HOTP (RFC 4226) with HMAC-SHA1, 6 digits and 30
//! second steps (what authenticator apps use by default), the base32 the
//! secret is shown in (RFC 4648), and the `otpauth://` URI apps scan.
//!
//! Written here on the workspace's `hmac` and a `sha1` of the same
//! RustCrypto generation rather than pulling a TOTP crate that brings a
//! second generation of them.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Seconds per time step.
pub const PERIOD_SECS: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Random bytes of a secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;
/// Steps accepted either side of the current one (clock drift).
pub const WINDOW: u64 = 1;

/// The HOTP value of `secret` at `counter` with `digits` digits (RFC 4226
/// section 5.3: dynamic truncation, then modulo 10^digits).
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC accepts a key of any length, so this cannot fail.
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    binary % 10u32.pow(digits)
}

/// The time step of a Unix time (RFC 6238: T0 = 0, X = 30).
pub fn step_at(unix_secs: u64) -> u64 {
    unix_secs / PERIOD_SECS
}

/// The 6-digit code of `secret` at time step `step`, zero-padded.
pub fn code_at(secret: &[u8], step: u64) -> String {
    format!("{:06}", hotp(secret, step, DIGITS))
}

/// Checks `code` against the steps `now_step - 1 ..= now_step + 1`, never
/// accepting a step at or before `last_step` (each code works once).
/// Returns the matching step. Every candidate is compared, in constant time,
/// whichever matches.
pub fn verify(secret: &[u8], code: &str, now_step: u64, last_step: Option<u64>) -> Option<u64> {
    let mut found = None;
    for step in now_step.saturating_sub(WINDOW)..=now_step.saturating_add(WINDOW) {
        let expected = code_at(secret, step);
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

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32, unpadded (as `otpauth://` URIs carry secrets).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes RFC 4648 base32 (case-insensitive, padding and spaces ignored);
/// `None` for any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for c in text.bytes().filter(|c| !matches!(c, b'=' | b' ')) {
        let v = BASE32.iter().position(|a| *a == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | v as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `@`.
fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The key URI authenticator apps scan:
/// `otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
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
