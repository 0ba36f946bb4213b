//! Secret paths (`team-a/db/password`) and listing prefixes (`?prefix=`).
//!
//! A path is the secret's name within its vault and the thing policies'
//! globs match, so it is validated once, when it enters, and carried as a
//! [`SecretPath`] afterwards: code holding one never re-checks it. The rules
//! keep paths unambiguous (no empty, `.` or `..` segment, so two spellings
//! never name one secret and nothing looks like a relative file path), safe
//! to put in a URL without escaping (a small ASCII character set), and
//! bounded (512 characters, so an index entry stays small).

use std::fmt;

use cp_http::{ApiError, FieldError};
use serde::Serialize;

/// The longest path or prefix, in characters (all ASCII, so also bytes).
pub const MAX_PATH_CHARS: usize = 512;

/// Why a path, prefix or glob was refused. The message is written for API
/// clients and never repeats the offending value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Nothing was given where a path is required.
    #[error("is required")]
    Empty,
    /// Longer than [`MAX_PATH_CHARS`].
    #[error("must be at most {MAX_PATH_CHARS} characters")]
    TooLong,
    /// A character outside `[A-Za-z0-9._-]` and the `/` separator.
    #[error("may contain only letters, digits, '.', '_', '-' and '/' between segments")]
    Character,
    /// A leading, trailing or doubled `/`.
    #[error("must not start or end with '/' or contain '//'")]
    EmptySegment,
    /// A `.` or `..` segment.
    #[error("must not contain '.' or '..' segments")]
    DotSegment,
    /// A glob whose `**` is part of a segment (`a**`, `***`) rather than a
    /// whole one.
    #[error("'**' must be a whole segment (between slashes)")]
    PartialDoubleStar,
}

impl PathError {
    /// This error as a client-facing error on `field`.
    pub fn at(self, field: &str) -> FieldError {
        FieldError::new(field, self.to_string())
    }
}

impl From<PathError> for ApiError {
    /// A `400 VALIDATION_ERROR` on the field `path`, where secret paths
    /// arrive. Use [`PathError::at`] for other fields.
    fn from(error: PathError) -> Self {
        ApiError::validation(vec![error.at("path")])
    }
}

/// Whether `b` may appear inside a segment.
pub(crate) fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// Checks `/`-separated segments: no empty, `.` or `..` segment, each byte
/// allowed by `byte_ok`. Length and emptiness are the caller's.
pub(crate) fn check_segments(text: &str, byte_ok: impl Fn(u8) -> bool) -> Result<(), PathError> {
    if !text.bytes().all(|b| b == b'/' || byte_ok(b)) {
        return Err(PathError::Character);
    }
    for segment in text.split('/') {
        match segment {
            "" => return Err(PathError::EmptySegment),
            "." | ".." => return Err(PathError::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// A validated secret path: 1-512 characters of `[A-Za-z0-9._-]`, segments
/// separated by single `/`, none of them `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SecretPath(String);

impl SecretPath {
    /// Validates `text` as a secret path.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        if text.len() > MAX_PATH_CHARS {
            return Err(PathError::TooLong);
        }
        check_segments(text, is_segment_byte)?;
        Ok(Self(text.to_owned()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its segments, in order (never empty, never `.` or `..`).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// Whether listing `prefix` includes this path (see [`PathPrefix`]).
    pub fn is_under(&self, prefix: &PathPrefix) -> bool {
        prefix.contains(self)
    }
}

impl fmt::Display for SecretPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SecretPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SecretPath {
    type Err = PathError;

    fn from_str(text: &str) -> Result<Self, PathError> {
        Self::parse(text)
    }
}

/// A listing prefix (`GET …/secrets?prefix=team-a/db/`): whole segments,
/// the same characters as a path, possibly ending with `/`, possibly empty.
///
/// Prefixes match by segment, never inside one, so `team-a` does not list
/// `team-ab/x`:
/// - empty: every path;
/// - `team-a/db/` (trailing slash): the paths strictly below `team-a/db`;
/// - `team-a/db` (no trailing slash): `team-a/db` itself and every path
///   below it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PathPrefix(String);

impl PathPrefix {
    /// Validates `text` as a listing prefix.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        if text.len() > MAX_PATH_CHARS {
            return Err(PathError::TooLong);
        }
        let body = text.strip_suffix('/').unwrap_or(text);
        if body.is_empty() {
            // "" lists everything; "/" alone would be an empty segment.
            return if text.is_empty() {
                Ok(Self::default())
            } else {
                Err(PathError::EmptySegment)
            };
        }
        check_segments(body, is_segment_byte)?;
        Ok(Self(text.to_owned()))
    }

    /// The prefix as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the prefix is empty (lists every path).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `path` is listed under this prefix.
    pub fn contains(&self, path: &SecretPath) -> bool {
        let path = path.as_str();
        if self.0.is_empty() {
            return true;
        }
        if self.0.ends_with('/') {
            // Strictly below: "a/" lists "a/x", not "a".
            return path.len() > self.0.len() && path.starts_with(&self.0);
        }
        match path.strip_prefix(self.0.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

impl fmt::Display for PathPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn path(text: &str) -> SecretPath {
        SecretPath::parse(text).unwrap()
    }

    fn prefix(text: &str) -> PathPrefix {
        PathPrefix::parse(text).unwrap()
    }

    #[test]
    fn accepts_well_formed_paths() {
        let longest = format!("{}/{}", "a".repeat(255), "b".repeat(256));
        assert_eq!(longest.len(), MAX_PATH_CHARS);
        for ok in [
            "a",
            "db-password",
            "team_a/db/password",
            "A/b.c/D-e_F/0",
            "...",
            ".hidden",
            "v1.2..3",
            &longest,
        ] {
            let parsed = SecretPath::parse(ok).unwrap();
            assert_eq!(parsed.as_str(), ok);
            assert_eq!(parsed.to_string(), ok);
        }
        assert_eq!(
            path("a/bb/c").segments().collect::<Vec<_>>(),
            ["a", "bb", "c"]
        );
    }

    #[test]
    fn refuses_each_rule_with_its_reason() {
        let cases: &[(&str, PathError)] = &[
            ("", PathError::Empty),
            (&"a".repeat(513), PathError::TooLong),
            ("/a", PathError::EmptySegment),
            ("a/", PathError::EmptySegment),
            ("a//b", PathError::EmptySegment),
            ("/", PathError::EmptySegment),
            (".", PathError::DotSegment),
            ("..", PathError::DotSegment),
            ("a/./b", PathError::DotSegment),
            ("a/..", PathError::DotSegment),
            ("../etc/passwd", PathError::DotSegment),
            ("a b", PathError::Character),
            ("a*b", PathError::Character),
            ("a\\b", PathError::Character),
            ("é", PathError::Character),
            ("a\0b", PathError::Character),
            ("a?b=1", PathError::Character),
            ("a%2fb", PathError::Character),
            ("a:b", PathError::Character),
        ];
        for (text, want) in cases {
            assert_eq!(SecretPath::parse(text), Err(*want), "{text:?}");
        }
    }

    #[test]
    fn length_is_checked_before_content() {
        // A huge value is refused for its length without scanning it.
        assert_eq!(SecretPath::parse(&"é".repeat(300)), Err(PathError::TooLong));
    }

    #[test]
    fn errors_name_the_field_without_echoing_the_value() {
        let error = ApiError::from(SecretPath::parse("secret value/../x").unwrap_err());
        assert_eq!(error.status(), 400);
        match &error {
            ApiError::Validation { fields, .. } => {
                assert_eq!(fields.len(), 1);
                assert_eq!(fields[0].field, "path");
                assert_eq!(
                    fields[0].message,
                    "may contain only letters, digits, '.', '_', '-' and '/' between segments"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(!error.to_string().contains("secret value"));
        assert_eq!(PathError::TooLong.at("prefix").field, "prefix");
    }

    #[test]
    fn prefixes_parse() {
        for ok in ["", "a", "a/", "a/b", "a/b/", "x.y_z-1/"] {
            assert_eq!(prefix(ok).as_str(), ok);
        }
        assert!(prefix("").is_empty());
        let cases: &[(&str, PathError)] = &[
            ("/", PathError::EmptySegment),
            ("/a", PathError::EmptySegment),
            ("a//", PathError::EmptySegment),
            ("a//b", PathError::EmptySegment),
            ("./", PathError::DotSegment),
            ("a/../", PathError::DotSegment),
            ("a/..", PathError::DotSegment),
            ("a*", PathError::Character),
            ("a b/", PathError::Character),
            (&format!("{}/", "a".repeat(512)), PathError::TooLong),
        ];
        for (text, want) in cases {
            assert_eq!(PathPrefix::parse(text), Err(*want), "{text:?}");
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let cases: &[(&str, &str, bool)] = &[
            ("", "a", true),
            ("", "a/b/c", true),
            ("a", "a", true),
            ("a", "a/b", true),
            ("a", "a/b/c", true),
            ("a", "ab", false),
            ("a", "ab/c", false),
            ("a", "b/a", false),
            ("a/", "a", false),
            ("a/", "a/b", true),
            ("a/", "a/b/c", true),
            ("a/", "ab/c", false),
            ("a/b", "a/b", true),
            ("a/b", "a/bc", false),
            ("a/b", "a/b/c", true),
            ("a/b/", "a/b", false),
            ("a/b/", "a/b/c", true),
            ("a/b/c/d", "a/b", false),
        ];
        for (p, candidate, want) in cases {
            assert_eq!(
                path(candidate).is_under(&prefix(p)),
                *want,
                "{candidate:?} under {p:?}"
            );
        }
    }
}
