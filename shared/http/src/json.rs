//! JSON request bodies: content type, size limit, and deserialisation errors
//! turned into field-named validation errors.
//!
//! Request types use `#[serde(deny_unknown_fields)]`: an unknown field is a
//! 400 naming it, so a typo (`dispalyName`) never silently does nothing.

use serde::de::DeserializeOwned;

use crate::{ApiError, ApiRequest, FieldError};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Parses the request body as JSON into `T`.
pub fn parse_body<T: DeserializeOwned>(req: &ApiRequest) -> Result<T, ApiError> {
    check_size(req)?;
    check_content_type(req)?;
    match req.body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(ApiError::invalid("body", "a JSON body is required")),
        // Every request body of the API is an object; serde would otherwise
        // accept an array for a struct, positionally.
        Some(b'{') => parse_bytes(&req.body),
        Some(_) => Err(ApiError::invalid("body", "must be a JSON object")),
    }
}

/// Rejects bodies over [`MAX_BODY_BYTES`].
pub fn check_size(req: &ApiRequest) -> Result<(), ApiError> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(())
}

fn check_content_type(req: &ApiRequest) -> Result<(), ApiError> {
    let ct = req.header("content-type").unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "expected Content-Type: application/json, got '{}'",
            if ct.is_empty() { "none" } else { ct }
        )))
    }
}

/// Deserialises bytes, reporting the failing field's path.
pub fn parse_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de);
    match value {
        Ok(v) => match de.end() {
            Ok(()) => Ok(v),
            Err(e) => Err(ApiError::invalid(
                "body",
                format!("malformed JSON: {}", strip_position(&e.to_string())),
            )),
        },
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let (field, message) = describe(&path, &inner);
            Err(ApiError::validation(vec![FieldError::new(field, message)]))
        }
    }
}

fn describe(path: &str, err: &serde_json::Error) -> (String, String) {
    use serde_json::error::Category;
    let reason = strip_position(&err.to_string());
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ("body".into(), format!("malformed JSON: {reason}"))
        }
        Category::Data => {
            if let Some(name) = unknown_field_name(&reason) {
                // The path already ends at the unknown field.
                let field = if path == "." || path.is_empty() {
                    name
                } else {
                    path.to_owned()
                };
                return (field, "unknown field".into());
            }
            if let Some(name) = missing_field_name(&reason) {
                let field = if path == "." || path.is_empty() {
                    name
                } else {
                    format!("{path}.{name}")
                };
                return (field, "is required".into());
            }
            let field = if path == "." || path.is_empty() {
                "body".into()
            } else {
                path.to_owned()
            };
            (field, reason)
        }
    }
}

/// serde_json appends " at line X column Y"; clients want the reason.
fn strip_position(text: &str) -> String {
    text.rsplit_once(" at line ")
        .map(|(r, _)| r.to_owned())
        .unwrap_or_else(|| text.to_owned())
}

fn quoted_after<'a>(reason: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = reason.strip_prefix(prefix)?;
    let rest = rest.strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name)
}

fn unknown_field_name(reason: &str) -> Option<String> {
    quoted_after(reason, "unknown field ").map(str::to_owned)
}

fn missing_field_name(reason: &str) -> Option<String> {
    quoted_after(reason, "missing field ").map(str::to_owned)
}

/// A field that is present, told apart from an absent one: with
/// `#[serde(default, deserialize_with = "cp_http::json::present")]` an
/// absent field is `None` and a present one `Some(value)`; with `T` an
/// `Option`, a present `null` is `Some(None)` (a patch clearing a field).
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A JSON integer as JSON Schema counts them: `7` and `7.0` alike (serde's
/// integers refuse an integral float, which a schema-valid client may send).
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    use serde::Deserialize as _;
    let n = serde_json::Number::deserialize(d)?;
    integral(&n).ok_or_else(|| serde::de::Error::custom("must be a whole number"))
}

/// An optional [`whole_number`]: absent or `null` is `None`.
pub fn opt_whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::Deserialize as _;
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => integral(&n)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("must be a whole number")),
    }
}

fn integral(n: &serde_json::Number) -> Option<i64> {
    // Beyond 2^53 a float no longer holds every integer exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT)
            .and_then(|f| format!("{f:.0}").parse().ok())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Method;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Inner {
        #[allow(dead_code)]
        cpu: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Body {
        #[allow(dead_code)]
        display_name: String,
        #[allow(dead_code)]
        resources: Option<Inner>,
        #[allow(dead_code)]
        weight: Option<u32>,
    }

    fn req(body: &str) -> ApiRequest {
        ApiRequest::new(Method::Post, "/")
            .with_header("content-type", "application/json; charset=utf-8")
            .with_body(body)
    }

    fn field_of(err: ApiError) -> (String, String) {
        let f = &err.field_errors()[0];
        (f.field.clone(), f.message.clone())
    }

    #[test]
    fn accepts_valid_json() {
        let b: Body = parse_body(&req(r#"{"displayName":"A"}"#)).unwrap();
        assert_eq!(b.display_name, "A");
    }

    #[test]
    fn names_the_field_for_each_kind_of_mistake() {
        let e = parse_body::<Body>(&req(r#"{}"#)).unwrap_err();
        assert_eq!(field_of(e).0, "displayName");
        let e = parse_body::<Body>(&req(r#"{"displayName":"A","dispalyName":1}"#)).unwrap_err();
        assert_eq!(field_of(e), ("dispalyName".into(), "unknown field".into()));
        let e = parse_body::<Body>(&req(r#"{"displayName":"A","weight":-1}"#)).unwrap_err();
        assert_eq!(field_of(e).0, "weight");
        let e =
            parse_body::<Body>(&req(r#"{"displayName":"A","weight":99999999999}"#)).unwrap_err();
        assert_eq!(field_of(e).0, "weight");
        let e =
            parse_body::<Body>(&req(r#"{"displayName":"A","resources":{"cpu":1}}"#)).unwrap_err();
        assert_eq!(field_of(e).0, "resources.cpu");
        let e =
            parse_body::<Body>(&req(r#"{"displayName":"A","resources":{"gpu":"1"}}"#)).unwrap_err();
        assert_eq!(field_of(e).0, "resources.gpu");
        let e = parse_body::<Body>(&req(r#"{"displayName": "#)).unwrap_err();
        assert_eq!(field_of(e).0, "body");
        let e = parse_body::<Body>(&req(r#"{"displayName":"A"} trailing"#)).unwrap_err();
        assert_eq!(field_of(e).0, "body");
    }

    #[test]
    fn content_type_size_and_empty_body() {
        let no_ct = ApiRequest::new(Method::Post, "/").with_body("{}");
        assert_eq!(parse_body::<Body>(&no_ct).unwrap_err().status(), 415);
        let big = req(&"x".repeat(MAX_BODY_BYTES + 1));
        assert_eq!(parse_body::<Body>(&big).unwrap_err().status(), 413);
        assert_eq!(parse_body::<Body>(&req("")).unwrap_err().status(), 400);
        let e = parse_body::<Body>(&req(r#"["A"]"#)).unwrap_err();
        assert_eq!(field_of(e), ("body".into(), "must be a JSON object".into()));
        let invalid_utf8 = ApiRequest::new(Method::Post, "/")
            .with_header("content-type", "application/json")
            .with_body(vec![b'"', 0xff, b'"']);
        assert_eq!(
            parse_body::<String>(&invalid_utf8).unwrap_err().status(),
            400
        );
    }
}
