//! `labelSelector` and `fieldSelector` list filters.
//!
//! Label selectors support the whole set-based grammar clients send
//! (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`);
//! field selectors support `metadata.name` and `metadata.namespace`, the
//! only fields a custom resource can be selected by without
//! `selectableFields`.

use std::collections::BTreeMap;

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector(Vec<Requirement>);

/// Splits at commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'))
}

fn valid_value(value: &str) -> bool {
    value
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn parse_error(detail: impl std::fmt::Display) -> String {
    format!("unable to parse requirement: {detail}")
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self(requirements));
        }
        for part in split_top_level(s) {
            requirements.push(Self::parse_requirement(part.trim())?);
        }
        Ok(Self(requirements))
    }

    fn parse_requirement(part: &str) -> Result<Requirement, String> {
        let checked_key = |key: &str| -> Result<String, String> {
            let key = key.trim();
            if valid_key(key) {
                Ok(key.to_string())
            } else {
                Err(parse_error(format!("invalid label key {key:?}")))
            }
        };
        let checked_value = |value: &str| -> Result<String, String> {
            let value = value.trim();
            if valid_value(value) {
                Ok(value.to_string())
            } else {
                Err(parse_error(format!("invalid label value {value:?}")))
            }
        };
        if let Some(key) = part.strip_prefix('!') {
            return Ok(Requirement::DoesNotExist(checked_key(key)?));
        }
        if let Some(open) = part.find('(') {
            let close = part
                .rfind(')')
                .filter(|close| *close > open && part[close + 1..].trim().is_empty())
                .ok_or_else(|| parse_error(format!("unterminated set in {part:?}")))?;
            let head: Vec<&str> = part[..open].split_whitespace().collect();
            let values = part[open + 1..close]
                .split(',')
                .map(checked_value)
                .collect::<Result<Vec<_>, _>>()?;
            return match head.as_slice() {
                [key, "in"] => Ok(Requirement::In(checked_key(key)?, values)),
                [key, "notin"] => Ok(Requirement::NotIn(checked_key(key)?, values)),
                _ => Err(parse_error(format!("found {part:?}, expected: in, notin"))),
            };
        }
        if let Some((key, value)) = part.split_once("!=") {
            return Ok(Requirement::NotEquals(
                checked_key(key)?,
                checked_value(value)?,
            ));
        }
        if let Some((key, value)) = part.split_once("==") {
            return Ok(Requirement::Equals(
                checked_key(key)?,
                checked_value(value)?,
            ));
        }
        if let Some((key, value)) = part.split_once('=') {
            return Ok(Requirement::Equals(
                checked_key(key)?,
                checked_value(value)?,
            ));
        }
        if part.contains(['<', '>']) {
            return Err(parse_error(format!(
                "{part:?}: the stand-in does not support gt/lt label requirements"
            )));
        }
        Ok(Requirement::Exists(checked_key(part)?))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        let get = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            // As in the real implementation, `!=` also matches objects
            // without the label.
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        })
    }
}

/// The canonical string form of a `metav1.LabelSelector` (requirements
/// sorted by key), as a Scale's `status.selector` carries it.
pub(crate) fn label_selector_string(selector: &Value) -> String {
    let mut parts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            parts
                .entry(k.clone())
                .or_default()
                .push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
        for expr in exprs {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
            let op = expr
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let mut values: Vec<&str> = expr
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            values.sort_unstable();
            let rendered = match op {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_string(),
                "DoesNotExist" => format!("!{key}"),
                _ => continue,
            };
            parts.entry(key.to_string()).or_default().push(rendered);
        }
    }
    parts.into_values().flatten().collect::<Vec<_>>().join(",")
}

/// A `fieldSelector` over `metadata.name` / `metadata.namespace`.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            if !matches!(field, "metadata.name" | "metadata.namespace") {
                return Err(format!(
                    "{field:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                ));
            }
            terms.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(Self(terms))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let pointer = if field == "metadata.name" {
                "/metadata/name"
            } else {
                "/metadata/namespace"
            };
            let actual = object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default();
            (actual == value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "n", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn label_selectors() {
        let o = obj(json!({"app": "openclaw", "tier": "gold"}));
        for (sel, want) in [
            ("app=openclaw", true),
            ("app==openclaw,tier=gold", true),
            ("app=other", false),
            ("app!=other", true),
            ("missing!=x", true),
            ("app", true),
            ("!app", false),
            ("tier in (gold, silver)", true),
            ("tier notin (gold)", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&o),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("a in (b").is_err());
        assert!(LabelSelector::parse("a=b c").is_err());
    }

    #[test]
    fn field_selectors() {
        let o = obj(json!({}));
        assert!(FieldSelector::parse("metadata.name=n").unwrap().matches(&o));
        assert!(!FieldSelector::parse("metadata.namespace!=ns")
            .unwrap()
            .matches(&o));
        assert!(FieldSelector::parse("spec.x=1").is_err());
    }

    #[test]
    fn selector_strings_are_sorted() {
        let s = label_selector_string(&json!({
            "matchLabels": {"z": "1", "a": "2"},
            "matchExpressions": [{"key": "m", "operator": "In", "values": ["y", "x"]}]
        }));
        assert_eq!(s, "a=2,m in (x,y),z=1");
    }
}
