//! Field validation that names the field, collecting every problem of a
//! request at once rather than failing on the first.

use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use crate::{ApiError, FieldError};

/// Collects field errors.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error for `field`.
    pub fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Records an error when `ok` is false.
    pub fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.error(field, message);
        }
    }

    /// Refuses each of `fields` (name, present) the client sent although
    /// the server owns it.
    pub fn read_only(&mut self, fields: &[(&str, bool)]) {
        for (field, present) in fields {
            if *present {
                self.error(*field, "is read-only");
            }
        }
    }

    /// The key of a resource named in its path on update (`PUT /x/{name}`)
    /// and in its body on create: on a create (`path` None) the body's
    /// `field`, required and checked by `valid`; on an update the path's,
    /// which the body may repeat but not change.
    pub fn key(
        &mut self,
        field: &str,
        path: Option<&str>,
        body: Option<String>,
        valid: impl Fn(&str) -> Result<(), String>,
    ) -> String {
        match (path, body) {
            (None, None) => {
                self.error(field, "is required");
                String::new()
            }
            (None, Some(given)) => {
                if let Err(msg) = valid(&given) {
                    self.error(field, msg);
                }
                given
            }
            (Some(path), Some(given)) if given != path => {
                self.error(
                    field,
                    "cannot be changed; it must equal the name in the path",
                );
                path.to_owned()
            }
            (Some(path), _) => path.to_owned(),
        }
    }

    /// A DNS-1123 label (Kubernetes object names of our CRDs).
    pub fn dns_label(&mut self, field: &str, value: &str) {
        if let Err(msg) = dns_label(value) {
            self.error(field, msg);
        }
    }

    /// An optional string's length in characters.
    pub fn max_chars(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value {
            if v.chars().count() > max {
                self.error(field, format!("must be at most {max} characters"));
            }
        }
    }

    /// An optional free-text field: at most `max` characters and no control
    /// characters (PostgreSQL text cannot hold NUL; the others only ever
    /// garble consoles and logs). OpenAPI: [`TEXT_PATTERN`] and `maxLength`.
    pub fn text(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value {
            if v.chars().any(char::is_control) {
                self.error(field, "must not contain control characters");
            } else if v.chars().count() > max {
                self.error(field, format!("must be at most {max} characters"));
            }
        }
    }

    /// A plausible email address (one `@`, non-empty parts, a dot in the
    /// domain, no spaces); deliverability is not our business.
    pub fn email(&mut self, field: &str, value: &str) {
        if !is_email(value) {
            self.error(field, "must be an email address");
        }
    }

    /// Ok when no error was recorded.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

/// OpenAPI schema of a string field with the pattern and maximum length its
/// validator enforces, so a schema-valid value is accepted and any other is
/// a 400 (what the spec fuzzer checks). `nullable` allows JSON `null`.
pub fn pattern_string(nullable: bool, pattern: &str, max: usize, description: &str) -> Object {
    let schema_type = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(schema_type)
        .pattern(Some(pattern))
        .max_length(Some(max))
        .description(Some(description))
        .build()
}

/// OpenAPI schema of an integer field between `min` and `max` (what its
/// validator enforces); `nullable` allows JSON `null`.
pub fn integer_schema(nullable: bool, min: i64, max: i64, description: &str) -> Object {
    let schema_type = if nullable {
        SchemaType::from_iter([Type::Integer, Type::Null])
    } else {
        SchemaType::Type(Type::Integer)
    };
    ObjectBuilder::new()
        .schema_type(schema_type)
        .minimum(Some(min))
        .maximum(Some(max))
        .description(Some(description))
        .build()
}

/// OpenAPI schema of a DNS-1123 label: 1 to 63 characters of
/// [`DNS_LABEL_PATTERN`].
pub fn dns_label_schema(nullable: bool, description: &str) -> Object {
    let mut schema = pattern_string(nullable, DNS_LABEL_PATTERN, 63, description);
    schema.min_length = Some(1);
    schema
}

/// OpenAPI pattern of a DNS-1123 label (with `maxLength: 63`).
pub const DNS_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// OpenAPI pattern of free text without control characters (Unicode
/// category Cc, what `char::is_control` tests), see [`Validator::text`].
pub const TEXT_PATTERN: &str = "^[^\\x00-\\x1F\\x7F-\\x9F]*$";

/// OpenAPI pattern of what [`Validator::email`] accepts (with
/// `maxLength: 254`): one `@`, a non-empty local part, a domain with a dot
/// that neither starts nor ends it, no whitespace or control characters.
pub const EMAIL_PATTERN: &str = concat!(
    "^[^@\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]+",
    "@[^@.\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
    "[^@\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*",
    "\\.",
    "[^@\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*",
    "[^@.\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]$",
);

/// OpenAPI pattern of a skill name ([`skill_name`], `maxLength: 128`).
pub const SKILL_NAME_PATTERN: &str = "^[a-z0-9][-a-z0-9_./]{0,127}$";

/// OpenAPI pattern of a dataset name ([`dataset_name`], `maxLength: 128`).
pub const DATASET_NAME_PATTERN: &str = "^[a-z0-9][-a-z0-9_.]{0,127}$";

fn name_of(value: &str, extra: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value.as_bytes()[0].is_ascii_alphanumeric()
        && value.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b"-_.".contains(&b)
                || extra.contains(&b)
        })
}

/// Checks a skill name: 1-128 of `a-z 0-9 - _ . /`, starting with a letter or digit.
pub fn skill_name(value: &str) -> Result<(), String> {
    if name_of(value, b"/") {
        Ok(())
    } else {
        Err("must be 1-128 of a-z, 0-9, '-', '_', '.', '/', starting with a letter or digit".into())
    }
}

/// Checks a dataset name: 1-128 of `a-z 0-9 - _ .`, starting with a letter or digit.
pub fn dataset_name(value: &str) -> Result<(), String> {
    if name_of(value, b"") {
        Ok(())
    } else {
        Err("must be 1-128 of a-z, 0-9, '-', '_', '.', starting with a letter or digit".into())
    }
}

/// Checks a DNS-1123 label: 1..=63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn dns_label(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("is required".into());
    }
    if value.len() > 63 {
        return Err("must be at most 63 characters".into());
    }
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let bytes = value.as_bytes();
    let ends_ok =
        bytes[0].is_ascii_alphanumeric() && bytes[bytes.len() - 1].is_ascii_alphanumeric();
    if !ok_chars || !ends_ok {
        return Err(
            "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit"
                .into(),
        );
    }
    Ok(())
}

fn is_email(v: &str) -> bool {
    if v.chars().count() > 254 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dns_labels() {
        for ok in ["a", "acme", "a-1", "0abc", &"a".repeat(63)] {
            assert!(dns_label(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "Acme", "a_b", "a.b", &"a".repeat(64), "é"] {
            assert!(dns_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(is_email("ops@example.com"));
        for bad in ["", "x", "a@b", "a@@b.c", "a b@c.d", "@b.c", "a@.c", "a@c."] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn collects_all_errors() {
        let mut v = Validator::new();
        v.dns_label("name", "Bad_Name");
        v.email("email", "nope");
        v.max_chars("displayName", Some("abcd"), 3);
        let err = v.finish().unwrap_err();
        let fields: Vec<_> = err
            .field_errors()
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, vec!["name", "email", "displayName"]);
    }
}
