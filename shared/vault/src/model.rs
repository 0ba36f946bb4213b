//! What a secret is, beyond its value: its type, its tags, its description,
//! and the limits that keep each bounded.
//!
//! The limits exist so one secret cannot make a row, an audit entry or a
//! listing page arbitrarily large: a value is at most 64 KiB (a certificate
//! chain or a service-account JSON fits easily), a secret has at most 32
//! tags of 1-64 characters from a small set (so tags can be used in query
//! strings and label selectors without escaping), and a description is at
//! most 1024 characters of text.

use std::collections::HashSet;
use std::fmt;

use cp_http::{ApiError, FieldError};
use serde::{Deserialize, Serialize};

/// The largest secret value, in bytes (64 KiB).
pub const MAX_VALUE_BYTES: usize = 65_536;
/// The most tags one secret may carry.
pub const MAX_TAGS: usize = 32;
/// The longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// OpenAPI pattern of a tag (with `maxLength: 64`).
pub const TAG_PATTERN: &str = "^[A-Za-z0-9._:-]{1,64}$";

/// What kind of value a secret holds. The type decides how the value is
/// checked (a `json` value must parse) and who may read it directly (see
/// [`crate::policy::direct_read_forbidden`]: key material is kept from
/// agents that have the intents API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretType {
    /// A password.
    Password,
    /// An API key or token.
    ApiKey,
    /// A private key (PEM or similar).
    PrivateKey,
    /// An SSH private key.
    SshKey,
    /// A certificate (chain).
    Certificate,
    /// Free text.
    Note,
    /// A JSON document (checked to parse).
    Json,
}

impl SecretType {
    /// Every type, in the order of the API documentation.
    pub const ALL: [SecretType; 7] = [
        Self::Password,
        Self::ApiKey,
        Self::PrivateKey,
        Self::SshKey,
        Self::Certificate,
        Self::Note,
        Self::Json,
    ];

    /// The wire name (`api_key`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::ApiKey => "api_key",
            Self::PrivateKey => "private_key",
            Self::SshKey => "ssh_key",
            Self::Certificate => "certificate",
            Self::Note => "note",
            Self::Json => "json",
        }
    }

    /// The type named `name` on the wire.
    pub fn parse(name: &str) -> Result<Self, ModelError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or(ModelError::UnknownType)
    }

    /// Whether the value is a private key: something that signs or
    /// decrypts, better used through an intent than handed out.
    pub fn is_key_material(self) -> bool {
        matches!(self, Self::PrivateKey | Self::SshKey)
    }
}

impl fmt::Display for SecretType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a secret's type, value, tags or description were refused. No variant
/// carries (part of) the value: its messages are safe to show and log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// `type` is not one of [`SecretType::ALL`].
    #[error("must be one of password, api_key, private_key, ssh_key, certificate, note, json")]
    UnknownType,
    /// An empty value.
    #[error("must not be empty")]
    EmptyValue,
    /// A value over [`MAX_VALUE_BYTES`].
    #[error("must be at most {MAX_VALUE_BYTES} bytes")]
    ValueTooLarge,
    /// A `json` secret whose value does not parse as JSON.
    #[error("must be a JSON document (the secret's type is json)")]
    ValueNotJson,
    /// More than [`MAX_TAGS`] tags.
    #[error("must have at most {MAX_TAGS} tags")]
    TooManyTags,
    /// The tag at `index` is empty, too long or has a character outside
    /// `[A-Za-z0-9._:-]`.
    #[error("must be 1-{MAX_TAG_CHARS} of letters, digits, '.', '_', ':' and '-'")]
    BadTag {
        /// Position in `tags`.
        index: usize,
    },
    /// The tag at `index` repeats an earlier one.
    #[error("repeats an earlier tag")]
    DuplicateTag {
        /// Position in `tags`.
        index: usize,
    },
    /// A description over [`MAX_DESCRIPTION_CHARS`].
    #[error("must be at most {MAX_DESCRIPTION_CHARS} characters")]
    DescriptionTooLong,
    /// A description with control characters (which only garble consoles
    /// and logs; PostgreSQL text cannot even hold NUL).
    #[error("must not contain control characters")]
    DescriptionControl,
}

impl ModelError {
    /// The request field at fault (`value`, `tags[3]`, …).
    pub fn field(self) -> String {
        match self {
            Self::UnknownType => "type".into(),
            Self::EmptyValue | Self::ValueTooLarge | Self::ValueNotJson => "value".into(),
            Self::TooManyTags => "tags".into(),
            Self::BadTag { index } | Self::DuplicateTag { index } => format!("tags[{index}]"),
            Self::DescriptionTooLong | Self::DescriptionControl => "description".into(),
        }
    }

    /// This error as a client-facing field error.
    pub fn to_field_error(self) -> FieldError {
        FieldError::new(self.field(), self.to_string())
    }
}

impl From<ModelError> for ApiError {
    fn from(error: ModelError) -> Self {
        ApiError::validation(vec![error.to_field_error()])
    }
}

/// Checks a value for its type: 1 to [`MAX_VALUE_BYTES`] bytes, and JSON
/// for a `json` secret. Other types are opaque bytes to the vault.
pub fn check_value(secret_type: SecretType, value: &[u8]) -> Result<(), ModelError> {
    if value.is_empty() {
        return Err(ModelError::EmptyValue);
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(ModelError::ValueTooLarge);
    }
    if secret_type == SecretType::Json
        && serde_json::from_slice::<serde::de::IgnoredAny>(value).is_err()
    {
        // serde_json's message is dropped: it can quote the input.
        return Err(ModelError::ValueNotJson);
    }
    Ok(())
}

fn is_tag(tag: &str) -> bool {
    (1..=MAX_TAG_CHARS).contains(&tag.len())
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Checks tags: at most [`MAX_TAGS`], each 1-64 of `[A-Za-z0-9._:-]`, no
/// repeats (tags are a set; case matters). Reports every bad tag.
pub fn check_tags(tags: &[String]) -> Result<(), Vec<ModelError>> {
    if tags.len() > MAX_TAGS {
        // Not worth checking each of an oversized list.
        return Err(vec![ModelError::TooManyTags]);
    }
    let mut seen = HashSet::new();
    let errors: Vec<ModelError> = tags
        .iter()
        .enumerate()
        .filter_map(|(index, tag)| {
            if !is_tag(tag) {
                Some(ModelError::BadTag { index })
            } else if !seen.insert(tag.as_str()) {
                Some(ModelError::DuplicateTag { index })
            } else {
                None
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Checks a description: at most [`MAX_DESCRIPTION_CHARS`] characters, no
/// control characters.
pub fn check_description(description: &str) -> Result<(), ModelError> {
    if description.chars().any(char::is_control) {
        return Err(ModelError::DescriptionControl);
    }
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ModelError::DescriptionTooLong);
    }
    Ok(())
}

/// Checks everything a secret write carries at once, naming each bad
/// field (`value`, `tags[i]`, `description`), as a `400 VALIDATION_ERROR`.
pub fn check_secret(
    secret_type: SecretType,
    value: &[u8],
    tags: &[String],
    description: Option<&str>,
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Err(error) = check_value(secret_type, value) {
        errors.push(error);
    }
    if let Err(tag_errors) = check_tags(tags) {
        errors.extend(tag_errors);
    }
    if let Some(Err(error)) = description.map(check_description) {
        errors.push(error);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(
            errors.into_iter().map(ModelError::to_field_error).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn types_use_their_snake_case_wire_names() {
        let names: Vec<&str> = SecretType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            names,
            [
                "password",
                "api_key",
                "private_key",
                "ssh_key",
                "certificate",
                "note",
                "json"
            ]
        );
        for t in SecretType::ALL {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<SecretType>(&json).unwrap(), t);
            assert_eq!(SecretType::parse(t.as_str()), Ok(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        for bad in ["", "Password", "apiKey", "api-key", "secret"] {
            assert_eq!(
                SecretType::parse(bad),
                Err(ModelError::UnknownType),
                "{bad}"
            );
            assert!(serde_json::from_str::<SecretType>(&format!("\"{bad}\"")).is_err());
        }
        let key_material: Vec<SecretType> = SecretType::ALL
            .into_iter()
            .filter(|t| t.is_key_material())
            .collect();
        assert_eq!(key_material, [SecretType::PrivateKey, SecretType::SshKey]);
    }

    #[test]
    fn values_are_bounded() {
        let limit = vec![b'x'; MAX_VALUE_BYTES];
        assert_eq!(check_value(SecretType::Password, &limit), Ok(()));
        let over = vec![b'x'; MAX_VALUE_BYTES + 1];
        assert_eq!(
            check_value(SecretType::Note, &over),
            Err(ModelError::ValueTooLarge)
        );
        assert_eq!(
            check_value(SecretType::ApiKey, b""),
            Err(ModelError::EmptyValue)
        );
        // Opaque types take any bytes, even invalid UTF-8.
        assert_eq!(check_value(SecretType::PrivateKey, &[0xff, 0, 1]), Ok(()));
    }

    #[test]
    fn json_values_must_parse() {
        for ok in [
            &b"{}"[..],
            b"[1,2]",
            b"\"s\"",
            b"42",
            b"null",
            b" {\"a\": {\"b\": [true]}} ",
        ] {
            assert_eq!(check_value(SecretType::Json, ok), Ok(()), "{ok:?}");
        }
        for bad in [&b"{"[..], b"{'a': 1}", b"hunter2", b"{} {}", &[0xff, 0xfe]] {
            assert_eq!(
                check_value(SecretType::Json, bad),
                Err(ModelError::ValueNotJson),
                "{bad:?}"
            );
        }
        // The same bytes are fine for a type that does not parse them.
        assert_eq!(check_value(SecretType::Note, b"{"), Ok(()));
        assert_eq!(ModelError::ValueNotJson.field(), "value");
    }

    #[test]
    fn tags_are_checked_one_by_one() {
        let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert_eq!(check_tags(&[]), Ok(()));
        assert_eq!(
            check_tags(&tags(&[
                "env:prod",
                "team.a",
                "x_y-z",
                "A1",
                &"t".repeat(64)
            ])),
            Ok(())
        );
        assert_eq!(
            check_tags(&tags(&[
                "ok",
                "",
                "has space",
                "ok",
                &"t".repeat(65),
                "ünï",
                "a/b"
            ])),
            Err(vec![
                ModelError::BadTag { index: 1 },
                ModelError::BadTag { index: 2 },
                ModelError::DuplicateTag { index: 3 },
                ModelError::BadTag { index: 4 },
                ModelError::BadTag { index: 5 },
                ModelError::BadTag { index: 6 },
            ])
        );
        // Case matters: these are two tags.
        assert_eq!(check_tags(&tags(&["Prod", "prod"])), Ok(()));
        let many: Vec<String> = (0..MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert_eq!(check_tags(&many), Ok(()));
        let too_many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert_eq!(check_tags(&too_many), Err(vec![ModelError::TooManyTags]));
        assert_eq!(ModelError::BadTag { index: 4 }.field(), "tags[4]");
        assert_eq!(ModelError::TooManyTags.field(), "tags");
    }

    #[test]
    fn descriptions_are_bounded_text() {
        assert_eq!(check_description(""), Ok(()));
        // Characters, not bytes: 1024 two-byte characters are fine.
        assert_eq!(
            check_description(&"é".repeat(MAX_DESCRIPTION_CHARS)),
            Ok(())
        );
        assert_eq!(
            check_description(&"a".repeat(MAX_DESCRIPTION_CHARS + 1)),
            Err(ModelError::DescriptionTooLong)
        );
        for bad in ["line\nbreak", "tab\there", "nul\0", "esc\u{1b}[31m"] {
            assert_eq!(
                check_description(bad),
                Err(ModelError::DescriptionControl),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn check_secret_names_every_bad_field_and_never_the_value() {
        let error = check_secret(
            SecretType::Json,
            b"not json: hunter2",
            &["ok".into(), "bad tag".into()],
            Some("a\nb"),
        )
        .unwrap_err();
        let ApiError::Validation { fields, message } = &error else {
            panic!("{error:?}");
        };
        let named: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(named, ["value", "tags[1]", "description"]);
        assert_eq!(message, "3 fields are invalid");
        assert!(!format!("{error:?}").contains("hunter2"));
        assert_eq!(
            check_secret(SecretType::Password, b"hunter2", &[], None),
            Ok(())
        );
        let one = ApiError::from(ModelError::ValueTooLarge);
        assert_eq!(
            one.to_string(),
            "invalid value: must be at most 65536 bytes"
        );
    }
}
