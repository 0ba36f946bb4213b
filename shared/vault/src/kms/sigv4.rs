//! AWS Signature Version 4 for the outbound-HTTP port, written by hand over
//! `hmac`/`sha2`.
//!
//! Why not `aws-sigv4`: it brings the AWS SDK's runtime crates (smithy
//! types, its own HTTP abstractions, time and checksum crates) into every
//! component for what is about a hundred lines of hashing. The algorithm is
//! fixed and public; the tests check this implementation against AWS's
//! published SigV4 test-suite vectors.
//!
//! What is signed: the method, the path, the query, every header of the
//! request plus `host` (derived from the URL's authority, since the
//! transport sets `Host` from it and some runtimes refuse a `host` header),
//! `x-amz-date` and, with temporary credentials, `x-amz-security-token`, and
//! the SHA-256 of the body.

use std::fmt;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// AWS credentials: an access key id and its secret, and a session token
/// for temporary credentials. `Debug` shows only the access key id.
#[derive(Clone)]
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
}

impl AwsCredentials {
    /// Long-term (or any) credentials without a session token.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: Zeroizing::new(secret_access_key.into()),
            session_token: None,
        }
    }

    /// Adds the session token of temporary (STS) credentials.
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(Zeroizing::new(token.into()));
        self
    }

    /// The access key id (not secret: it names the key).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Why a request could not be signed: its URL is not absolute HTTP(S).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot sign a request to a URL that is not absolute http(s)")]
pub struct SignError;

/// Signs requests for one service in one region.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The service's signing name (`kms`).
    pub service: String,
    /// The region (`eu-west-1`).
    pub region: String,
    /// Whose request it is.
    pub credentials: AwsCredentials,
}

/// The parts of an absolute URL the signature covers.
struct UrlParts<'a> {
    host: String,
    path: &'a str,
    query: &'a str,
}

fn split_url(url: &str) -> Result<UrlParts<'_>, SignError> {
    let (scheme, rest) = url.split_once("://").ok_or(SignError)?;
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return Err(SignError),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(end);
    // Userinfo is never sent as part of Host.
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.is_empty() {
        return Err(SignError);
    }
    // The transport sends Host without a default port, so sign it that way.
    let host = authority
        .strip_suffix(default_port)
        .unwrap_or(authority)
        .to_ascii_lowercase();
    let rest = rest.split('#').next().unwrap_or("");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    Ok(UrlParts { host, path, query })
}

/// RFC 3986 percent-encoding of everything but the unreserved characters,
/// upper-case hex, as SigV4 requires.
fn uri_encode(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Undoes percent-encoding (`+` stays a plus: this is a URL, not a form).
fn uri_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                // Two hex digits are at most 0xff.
                out.push(u8::try_from(high * 16 + low).unwrap_or(u8::MAX));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The canonical URI: each segment of the path as sent encoded once more
/// (the rule for every service but S3).
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(segment.as_bytes(), &mut out);
    }
    out
}

/// The canonical query: pairs decoded, re-encoded and sorted by name, then
/// value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let mut encoded = (String::new(), String::new());
            uri_encode(&uri_decode(name), &mut encoded.0);
            uri_encode(&uri_decode(value), &mut encoded.1);
            encoded
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header value as signed: trimmed, inner runs of spaces made one.
fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length; the error arm cannot happen.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl Signer {
    /// A signer for `service` in `region`.
    pub fn new(
        service: impl Into<String>,
        region: impl Into<String>,
        credentials: AwsCredentials,
    ) -> Self {
        Self {
            service: service.into(),
            region: region.into(),
            credentials,
        }
    }

    /// Signs a request at `now`: adds `x-amz-date`, `x-amz-security-token`
    /// (temporary credentials) and `authorization` to `headers` (lower-case
    /// names, as the outbound port has them). Every header already there is
    /// signed too.
    pub fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &mut Vec<(String, String)>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), SignError> {
        let parts = split_url(url)?;
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let date = now.format("%Y%m%d").to_string();
        headers.retain(|(name, _)| {
            !matches!(
                name.to_ascii_lowercase().as_str(),
                "authorization" | "x-amz-date" | "x-amz-security-token"
            )
        });
        headers.push(("x-amz-date".into(), amz_date.clone()));
        if let Some(token) = &self.credentials.session_token {
            headers.push(("x-amz-security-token".into(), token.to_string()));
        }

        // name → values, sorted by name; `host` from the URL unless given.
        let mut signed: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (name, value) in headers.iter() {
            signed
                .entry(name.to_ascii_lowercase())
                .or_default()
                .push(canonical_value(value));
        }
        signed
            .entry("host".into())
            .or_insert_with(|| vec![parts.host.clone()]);
        let canonical_headers: String = signed
            .iter()
            .map(|(name, values)| format!("{name}:{}\n", values.join(",")))
            .collect();
        let signed_headers = signed.keys().cloned().collect::<Vec<_>>().join(";");

        let canonical_request = format!(
            "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
            canonical_uri(parts.path),
            canonical_query(parts.query),
            hex::encode(Sha256::digest(body)),
        );
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );

        let secret = Zeroizing::new(format!(
            "AWS4{}",
            self.credentials.secret_access_key.as_str()
        ));
        let key = Zeroizing::new(hmac(secret.as_bytes(), date.as_bytes()));
        let key = Zeroizing::new(hmac(key.as_slice(), self.region.as_bytes()));
        let key = Zeroizing::new(hmac(key.as_slice(), self.service.as_bytes()));
        let key = Zeroizing::new(hmac(key.as_slice(), b"aws4_request"));
        let signature = hex::encode(hmac(key.as_slice(), string_to_sign.as_bytes()));

        headers.push((
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                self.credentials.access_key_id
            ),
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    // The credentials, time, region and service of AWS's SigV4 test suite.
    const ACCESS_KEY: &str = "AKIDEXAMPLE";
    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SCOPE: &str = "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    const STS_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

    fn suite_signer(credentials: AwsCredentials) -> Signer {
        Signer::new("service", "us-east-1", credentials)
    }

    fn suite_time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap()
    }

    fn authorization(headers: &[(String, String)]) -> &str {
        &headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1
    }

    fn sign(
        method: &str,
        url: &str,
        extra: &[(&str, &str)],
        credentials: AwsCredentials,
    ) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        suite_signer(credentials)
            .sign(method, url, &mut headers, b"", suite_time())
            .unwrap();
        headers
    }

    #[test]
    fn aws_test_suite_vectors() {
        let plain = || AwsCredentials::new(ACCESS_KEY, SECRET_KEY);
        /// Name, method, URL, extra headers, expected end of `authorization`.
        type Case<'c> = (&'c str, &'c str, &'c str, &'c [(&'c str, &'c str)], &'c str);
        let cases: &[Case<'_>] = &[
            (
                "get-vanilla",
                "GET",
                "https://example.amazonaws.com/",
                &[],
                "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "post-vanilla",
                "POST",
                "https://example.amazonaws.com/",
                &[],
                "SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "get-vanilla-query-order-key-case",
                "GET",
                "https://example.amazonaws.com/?Param2=value2&Param1=value1",
                &[],
                "SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
            (
                "post-header-value-case",
                "POST",
                "https://example.amazonaws.com/",
                &[("My-Header1", "VALUE1")],
                "SignedHeaders=host;my-header1;x-amz-date, Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
            ),
            (
                // The suite's requests carry Host; ours derive it from the URL.
                "get-vanilla, explicit host header",
                "GET",
                "https://example.amazonaws.com/",
                &[("Host", "example.amazonaws.com")],
                "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "get-vanilla, default port",
                "GET",
                "https://example.amazonaws.com:443/",
                &[],
                "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
        ];
        for (name, method, url, extra, want) in cases {
            let headers = sign(method, url, extra, plain());
            assert_eq!(
                authorization(&headers),
                format!("AWS4-HMAC-SHA256 {SCOPE}, {want}"),
                "{name}"
            );
            assert!(headers.contains(&("x-amz-date".into(), "20150830T123600Z".into())));
        }

        // post-sts-header-before: the session token is signed.
        let headers = sign(
            "POST",
            "https://example.amazonaws.com/",
            &[],
            plain().with_session_token(STS_TOKEN),
        );
        assert_eq!(
            authorization(&headers),
            format!("AWS4-HMAC-SHA256 {SCOPE}, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead")
        );
        assert!(headers.contains(&("x-amz-security-token".into(), STS_TOKEN.into())));
    }

    #[test]
    fn the_signature_covers_the_request() {
        let base = || {
            let headers = sign(
                "POST",
                "https://example.amazonaws.com/",
                &[],
                AwsCredentials::new(ACCESS_KEY, SECRET_KEY),
            );
            authorization(&headers).to_owned()
        };
        let reference = base();
        assert_eq!(base(), reference, "deterministic");
        let other_secret = sign(
            "POST",
            "https://example.amazonaws.com/",
            &[],
            AwsCredentials::new(ACCESS_KEY, "other"),
        );
        let other_host = sign(
            "POST",
            "https://other.amazonaws.com/",
            &[],
            AwsCredentials::new(ACCESS_KEY, SECRET_KEY),
        );
        let other_port = sign(
            "POST",
            "https://example.amazonaws.com:8443/",
            &[],
            AwsCredentials::new(ACCESS_KEY, SECRET_KEY),
        );
        let other_path = sign(
            "POST",
            "https://example.amazonaws.com/x",
            &[],
            AwsCredentials::new(ACCESS_KEY, SECRET_KEY),
        );
        for headers in [other_secret, other_host, other_port, other_path] {
            assert_ne!(authorization(&headers), reference);
        }
        let mut headers = vec![];
        suite_signer(AwsCredentials::new(ACCESS_KEY, SECRET_KEY))
            .sign(
                "POST",
                "https://example.amazonaws.com/",
                &mut headers,
                b"{}",
                suite_time(),
            )
            .unwrap();
        assert_ne!(authorization(&headers), reference, "the body is signed");
    }

    #[test]
    fn re_signing_replaces_the_previous_signature() {
        let signer = suite_signer(AwsCredentials::new(ACCESS_KEY, SECRET_KEY));
        let mut headers = vec![];
        signer
            .sign(
                "GET",
                "https://example.amazonaws.com/",
                &mut headers,
                b"",
                suite_time(),
            )
            .unwrap();
        signer
            .sign(
                "GET",
                "https://example.amazonaws.com/",
                &mut headers,
                b"",
                suite_time(),
            )
            .unwrap();
        assert_eq!(headers.len(), 2, "{headers:?}");
        assert!(authorization(&headers)
            .ends_with("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
    }

    #[test]
    fn urls_split_and_encode_canonically() {
        let parts = split_url("http://user@127.0.0.1:55100/a%20b/c?x=1#frag").unwrap();
        assert_eq!(parts.host, "127.0.0.1:55100");
        assert_eq!(parts.path, "/a%20b/c");
        assert_eq!(parts.query, "x=1");
        assert_eq!(
            split_url("http://Example.COM:80").unwrap().host,
            "example.com"
        );
        assert_eq!(split_url("http://example.com:80").unwrap().path, "");
        for bad in ["example.com/", "ftp://x/", "http:///x"] {
            assert!(split_url(bad).is_err(), "{bad}");
        }
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/a%20b/c~d"), "/a%2520b/c~d");
        assert_eq!(canonical_query("b=2&a=%7e&a=1&c"), "a=1&a=~&b=2&c=");
        assert_eq!(canonical_query("q=a+b&s=%2F"), "q=a%2Bb&s=%2F");
        assert_eq!(canonical_value("  a   b \t c "), "a b c");
    }

    #[test]
    fn credentials_never_print() {
        let credentials =
            AwsCredentials::new(ACCESS_KEY, SECRET_KEY).with_session_token("tok3n-value");
        let text = format!("{:?}", suite_signer(credentials));
        assert!(text.contains("AKIDEXAMPLE"));
        assert!(!text.contains("EXAMPLEKEY"), "{text}");
        assert!(!text.contains("tok3n"), "{text}");
    }
}
