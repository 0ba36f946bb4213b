//! Request ids: a well-formed client `X-Request-Id` is kept (so a caller can
//! correlate), anything else is replaced by a fresh UUIDv7.

/// Longest accepted client request id.
pub const MAX_LEN: usize = 128;

/// The id for this request: the client's if well-formed, else a new one.
pub fn resolve(client_value: Option<&str>) -> String {
    match client_value {
        Some(v) if is_well_formed(v) => v.to_owned(),
        _ => uuid::Uuid::now_v7().to_string(),
    }
}

/// 1..=128 characters of `[A-Za-z0-9._:-]`: safe to echo in headers, JSON
/// and logs without escaping.
pub fn is_well_formed(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keeps_good_ids_and_replaces_bad_ones() {
        assert_eq!(resolve(Some("abc-123")), "abc-123");
        for bad in ["", "has space", "new\nline", &"x".repeat(129), "<script>"] {
            let id = resolve(Some(bad));
            assert_ne!(id, bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok());
        }
        assert!(uuid::Uuid::parse_str(&resolve(None)).is_ok());
    }
}
