//! Percent-encoding for path segments and query values.
//!
//! Resource names are DNS-1123 in practice, but they reach us from API
//! requests, so they are encoded as untrusted input: anything outside the
//! RFC 3986 unreserved set becomes `%XX`. That keeps `/`, `?`, `#`, `%` and
//! `&` in a name from changing which URL we call.

use crate::error::KubeError;

/// Encodes every byte outside `A-Z a-z 0-9 - . _ ~`.
pub(crate) fn encode(value: &str) -> String {
    cp_http::request::percent_encode(value)
}

/// Encodes one path segment, refusing values that would address a different
/// URL whatever the encoding: an empty name turns `…/tenants/{name}` into the
/// collection, and `.`/`..` are dot segments that clients and proxies
/// normalise away.
pub(crate) fn segment(what: &str, value: &str) -> Result<String, KubeError> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(KubeError::InvalidRequest(format!(
            "{what} {value:?} cannot be used in a URL path"
        )));
    }
    Ok(encode(value))
}

/// Builds `?k=v&k=v` from already-chosen pairs, encoding each value. Keys are
/// our own constants and are not encoded.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        out.push_str(&encode(value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_pass_through() {
        assert_eq!(encode("acme-corp.v1_x~"), "acme-corp.v1_x~");
    }

    #[test]
    fn reserved_and_non_ascii_bytes_are_encoded() {
        assert_eq!(
            encode("a/b?c#d%e&f=g h+i"),
            "a%2Fb%3Fc%23d%25e%26f%3Dg%20h%2Bi"
        );
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn label_selectors_are_encoded_as_one_value() {
        assert_eq!(
            query(&[
                ("limit", "500"),
                ("labelSelector", "app=x,tier!=db,env in (a,b)")
            ]),
            "?limit=500&labelSelector=app%3Dx%2Ctier%21%3Ddb%2Cenv%20in%20%28a%2Cb%29"
        );
    }

    #[test]
    fn empty_and_dot_segments_are_refused() {
        for bad in ["", ".", ".."] {
            assert!(matches!(
                segment("name", bad),
                Err(KubeError::InvalidRequest(_))
            ));
        }
        assert_eq!(segment("name", "...").ok().as_deref(), Some("..."));
    }
}
