//! Path globs: which secret paths a policy covers.
//!
//! Semantics, chosen to be predictable rather than clever:
//! - a glob is `/`-separated segments over the path alphabet plus `*`;
//! - `*` inside a segment matches **zero or more** characters of that one
//!   segment, never a `/`: `db-*` matches `db-`, `db-main` and
//!   `db-replica` but not `db` or `db-main/x`; `*` alone as a segment
//!   matches exactly one segment (paths have no empty segments, so it
//!   always consumes something);
//! - `**` must be a whole segment and matches **zero or more** whole
//!   segments: `config/**` matches `config`, `config/a` and `config/a/b`;
//!   `a/**/z` matches `a/z` and `a/b/c/z`; `**` alone matches every path.
//!
//! That `config/**` also covers `config` itself is deliberate: a policy on
//! a "directory" applies to a secret of the same name, as `**` matching
//! zero segments implies. A policy author wanting only what lies below
//! writes `config/*/**` (any depth) or `config/*` (one level).
//!
//! Matching is over whole segments with a table of (glob segment, path
//! segment) pairs, so its cost is bounded by the product of the two lengths
//! (at most 512 characters each): no exponential backtracking on globs such
//! as `**/**/**/x`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::path::{check_segments, is_segment_byte, PathError, SecretPath, MAX_PATH_CHARS};

/// One segment of a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: zero or more whole segments.
    AnyDepth,
    /// A segment, literal or with `*` wildcards inside it.
    Pattern(String),
}

/// A validated path glob (see the module documentation for its semantics).
/// Serialised as its text; deserialising validates it again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PathGlob {
    text: String,
    segments: Vec<Segment>,
}

impl fmt::Debug for PathGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PathGlob").field(&self.text).finish()
    }
}

impl PathGlob {
    /// Validates `text`: 1-512 characters of `[A-Za-z0-9._-*]` in segments
    /// separated by single `/`, none empty, `.` or `..`, and `**` only as a
    /// whole segment.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        if text.len() > MAX_PATH_CHARS {
            return Err(PathError::TooLong);
        }
        check_segments(text, |b| b == b'*' || is_segment_byte(b))?;
        let segments = text
            .split('/')
            .map(|segment| match segment {
                "**" => Ok(Segment::AnyDepth),
                _ if segment.contains("**") => Err(PathError::PartialDoubleStar),
                _ => Ok(Segment::Pattern(segment.to_owned())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The glob as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `path` is covered by this glob.
    pub fn matches(&self, path: &SecretPath) -> bool {
        let path: Vec<&str> = path.segments().collect();
        let globs = &self.segments;
        let width = path.len() + 1;
        // done[g * width + p]: globs[g..] matches path[p..]. Filled from
        // the end, so each cell reads only cells already computed.
        let mut done = vec![false; (globs.len() + 1) * width];
        done[globs.len() * width + path.len()] = true;
        for g in (0..globs.len()).rev() {
            for p in (0..=path.len()).rev() {
                done[g * width + p] = match &globs[g] {
                    // Zero segments (skip the `**`) or one more (stay on it).
                    Segment::AnyDepth => {
                        done[(g + 1) * width + p] || (p < path.len() && done[g * width + p + 1])
                    }
                    Segment::Pattern(pattern) => {
                        p < path.len()
                            && segment_matches(pattern, path[p])
                            && done[(g + 1) * width + p + 1]
                    }
                };
            }
        }
        done[0]
    }
}

/// Whether one path segment matches one glob segment, `*` standing for any
/// run of characters (possibly empty). The classic two-pointer wildcard
/// match: on a mismatch, retry from the last `*` one character further.
fn segment_matches(pattern: &str, segment: &str) -> bool {
    let (pattern, segment) = (pattern.as_bytes(), segment.as_bytes());
    let (mut p, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < segment.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, s));
            p += 1;
        } else if p < pattern.len() && pattern[p] == segment[s] {
            p += 1;
            s += 1;
        } else if let Some((star_p, star_s)) = star {
            p = star_p + 1;
            s = star_s + 1;
            star = Some((star_p, star_s + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

impl fmt::Display for PathGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for PathGlob {
    type Error = PathError;

    fn try_from(text: String) -> Result<Self, PathError> {
        Self::parse(&text)
    }
}

impl From<PathGlob> for String {
    fn from(glob: PathGlob) -> Self {
        glob.text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn matches(glob: &str, path: &str) -> bool {
        PathGlob::parse(glob)
            .unwrap()
            .matches(&SecretPath::parse(path).unwrap())
    }

    #[test]
    fn globs_match_as_documented() {
        let cases: &[(&str, &str, bool)] = &[
            // literals
            ("a/b", "a/b", true),
            ("a/b", "a/bc", false),
            ("a/b", "a", false),
            ("a/b", "a/b/c", false),
            // `*` within a segment
            ("a/*", "a/b", true),
            ("a/*", "a", false),
            ("a/*", "a/b/c", false),
            ("*", "x", true),
            ("*", "x/y", false),
            ("db-*", "db-main", true),
            ("db-*", "db-", true),
            ("db-*", "db", false),
            ("*-prod", "api-prod", true),
            ("*-prod", "api-prod-2", false),
            ("*-prod-*", "eu-prod-1", true),
            ("*-prod-*", "eu-staging-1", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYc-", false),
            ("*/*", "a/b", true),
            ("*/*", "a/b/c", false),
            // `**` across segments
            ("**", "a", true),
            ("**", "a/b/c/d", true),
            ("config/**", "config", true),
            ("config/**", "config/a", true),
            ("config/**", "config/a/b", true),
            ("config/**", "configs/a", false),
            ("config/**", "other/config/a", false),
            ("a/**/z", "a/z", true),
            ("a/**/z", "a/b/z", true),
            ("a/**/z", "a/b/c/z", true),
            ("a/**/z", "a/b/c", false),
            ("a/**/z", "a/z/y", false),
            ("**/password", "password", true),
            ("**/password", "team/db/password", true),
            ("**/password", "team/db/password2", false),
            ("**/db-*/**", "x/db-main/y", true),
            ("**/db-*/**", "db-main", true),
            ("**/db-*/**", "x/main/y", false),
            ("**/**/**/x", "a/b/c/d/e/f/x", true),
            ("**/**/**/x", "a/b/c/d/e/f/y", false),
            ("a/*/**", "a", false),
            ("a/*/**", "a/b", true),
            ("a/*/**", "a/b/c/d", true),
        ];
        for (glob, path, want) in cases {
            assert_eq!(matches(glob, path), *want, "{glob:?} on {path:?}");
        }
    }

    #[test]
    fn refuses_malformed_globs() {
        let cases: &[(&str, PathError)] = &[
            ("", PathError::Empty),
            (&"*".repeat(513), PathError::TooLong),
            ("/a", PathError::EmptySegment),
            ("a/", PathError::EmptySegment),
            ("a//**", PathError::EmptySegment),
            ("a/../**", PathError::DotSegment),
            ("./*", PathError::DotSegment),
            ("a?", PathError::Character),
            ("a b/*", PathError::Character),
            ("[ab]", PathError::Character),
            ("a**", PathError::PartialDoubleStar),
            ("**b/c", PathError::PartialDoubleStar),
            ("***", PathError::PartialDoubleStar),
            ("a/x**y", PathError::PartialDoubleStar),
        ];
        for (text, want) in cases {
            assert_eq!(PathGlob::parse(text), Err(*want), "{text:?}");
        }
        for ok in ["**", "*", "a/*", "*.json", "a/**/b/*-x-*"] {
            assert_eq!(PathGlob::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn pathological_globs_stay_fast() {
        // Many stars against a long non-matching path: quadratic at worst.
        let glob = PathGlob::parse(&vec!["**"; 170].join("/")).unwrap();
        let path = SecretPath::parse(&vec!["a"; 200].join("/")).unwrap();
        assert!(glob.matches(&path));
        let glob = PathGlob::parse(&format!("{}/b", vec!["*a*a*a*"; 60].join("/"))).unwrap();
        let path = SecretPath::parse(&vec!["aaaaaa"; 61].join("/")).unwrap();
        assert!(!glob.matches(&path));
    }

    #[test]
    fn serialises_as_text_and_revalidates() {
        let glob = PathGlob::parse("config/**").unwrap();
        assert_eq!(serde_json::to_string(&glob).unwrap(), "\"config/**\"");
        let back: PathGlob = serde_json::from_str("\"config/**\"").unwrap();
        assert_eq!(back, glob);
        assert!(serde_json::from_str::<PathGlob>("\"a**\"").is_err());
    }
}
