//! The request and response every route group handles, independent of the
//! runtime that delivered them (a Spin component, or a native server in the
//! benchmark). Header names are stored in lower case.

use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// HTTP method of an incoming request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// Anything else (answered with 405).
    Other(String),
}

impl Method {
    /// Parses a method name (case-sensitive, as HTTP says).
    pub fn parse(name: &str) -> Self {
        match name {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The method name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
            Self::Other(s) => s,
        }
    }

    /// Whether the method changes state (and so is audited and idempotent
    /// under an `Idempotency-Key`).
    pub fn is_mutation(&self) -> bool {
        matches!(self, Self::Post | Self::Put | Self::Patch | Self::Delete)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An incoming API request.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// Request method.
    pub method: Method,
    /// Raw (still percent-encoded) path, starting with `/`.
    pub path: String,
    /// Raw query string without the leading `?` (empty when none).
    pub query: String,
    /// Headers with lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// A request with no headers or body (handy in tests and adapters).
    pub fn new(method: Method, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (path_and_query.to_owned(), String::new()),
        };
        Self {
            method,
            path,
            query,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header (name lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Decoded query parameters in order. Undecodable pairs are kept with
    /// lossy decoding; validation happens where a parameter is used.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_pairs(self.query.as_bytes())
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// The RFC 3986 unreserved characters: what [`percent_encode`] leaves as is.
pub const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-decodes bytes; malformed escapes are kept literally.
pub fn percent_decode(raw: &str) -> Vec<u8> {
    percent_decode_str(raw).collect()
}

/// Percent-encodes a string for use as a path segment or query value
/// (everything but RFC 3986 unreserved characters).
pub fn percent_encode(raw: &str) -> String {
    utf8_percent_encode(raw, UNRESERVED).to_string()
}

/// Decodes an `application/x-www-form-urlencoded` string (a query string or
/// a form body): pairs in order, `+` as a space, malformed escapes kept
/// literally, invalid UTF-8 replaced (lossy).
pub fn form_pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).into_owned().collect()
}

/// A response ready to be written by the runtime adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    /// Status code.
    pub status: u16,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// A JSON response.
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }
    }

    /// A response without a body (e.g. 204).
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A plain-text response with an explicit content type.
    pub fn text(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// Sets (replacing) a header.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(k, _)| *k != name);
        self.headers.push((name, value.into()));
    }

    /// Builder form of [`Self::set_header`].
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set_header(name, value);
        self
    }

    /// The response with its resource's entity tag (`ETag`), which a later
    /// write sends back in `If-Match`.
    pub fn with_etag(self, etag: impl Into<String>) -> Self {
        self.with_header("etag", etag)
    }

    /// The first header with this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn splits_path_and_decodes_query() {
        let req = ApiRequest::new(Method::Get, "/api/v1/tenants?limit=5&cursor=a%2Bb&x=1+2");
        assert_eq!(req.path, "/api/v1/tenants");
        assert_eq!(req.query_param("limit").as_deref(), Some("5"));
        assert_eq!(req.query_param("cursor").as_deref(), Some("a+b"));
        assert_eq!(req.query_param("x").as_deref(), Some("1 2"));
        assert_eq!(req.query_param("missing"), None);
    }

    #[test]
    fn percent_round_trip_and_malformed_escapes() {
        assert_eq!(percent_decode("a%20b"), b"a b");
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz"), b"%zz");
        assert_eq!(percent_decode("%ff"), vec![0xff]);
        assert_eq!(percent_encode("a b/é"), "a%20b%2F%C3%A9");
        assert_eq!(
            percent_encode("AZaz09-._~!*'()"),
            "AZaz09-._~%21%2A%27%28%29"
        );
    }

    #[test]
    fn form_pairs_decode_plus_and_keep_malformed_escapes() {
        assert_eq!(
            form_pairs(b"a=1&&b&c=%zz+x%2B&d=%ff&e=%C3%A9"),
            [
                ("a".into(), "1".into()),
                ("b".into(), String::new()),
                ("c".into(), "%zz x+".into()),
                ("d".into(), "\u{fffd}".into()),
                ("e".into(), "é".into()),
            ]
        );
    }

    #[test]
    fn headers_are_case_insensitive() {
        let req = ApiRequest::new(Method::Get, "/").with_header("X-Request-Id", "abc");
        assert_eq!(req.header("x-request-id"), Some("abc"));
        let mut resp = ApiResponse::empty(204);
        resp.set_header("ETag", "\"1\"");
        resp.set_header("etag", "\"2\"");
        assert_eq!(resp.header("ETag"), Some("\"2\""));
        assert_eq!(resp.headers.len(), 1);
    }
}
