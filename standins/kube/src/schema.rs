//! The OpenCrane CRDs' `openAPIV3Schema`s and the part of the real API
//! server's custom-resource handling that depends on them: pruning of
//! unknown fields (structural schemas drop them silently, or reject them
//! with `fieldValidation=Strict`), dropping of non-nullable `null`s, and
//! validation with the real messages.
//!
//! The schemas mirror `deploy/crds/*.yaml`; a test parses those files and
//! compares (descriptions aside), so the two cannot drift apart silently.
//! Only the keywords those files use are implemented (`type`,
//! `properties`, `required`, `items`, `enum`, `minimum`, `maximum`,
//! `minLength`, `maxLength`, `format: date-time`, `nullable` and the
//! `pattern`s listed in `KNOWN_PATTERNS`).

use serde_json::{json, Value};

use crate::resources::ResourceType;
use crate::status::FieldError;

/// `resource.Quantity`'s pattern, as controller-gen writes it.
pub(crate) const QUANTITY_PATTERN: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";
/// `metav1.Condition.reason`.
pub(crate) const CONDITION_REASON_PATTERN: &str = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$";
/// `metav1.Condition.type`.
pub(crate) const CONDITION_TYPE_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$";

/// The patterns the validator can check, each with a hand-written matcher
/// (the workspace has no regex engine, and these three are all we use).
/// A hand-written matcher for one regular expression.
type Matcher = fn(&str) -> bool;

const KNOWN_PATTERNS: [(&str, Matcher); 3] = [
    (QUANTITY_PATTERN, is_quantity),
    (CONDITION_REASON_PATTERN, is_condition_reason),
    (CONDITION_TYPE_PATTERN, is_condition_type),
];

fn conditions_schema() -> Value {
    json!({
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "required": ["lastTransitionTime", "message", "reason", "status", "type"],
            "properties": {
                "lastTransitionTime": {"type": "string", "format": "date-time"},
                "message": {"type": "string", "maxLength": 32768},
                "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
                "reason": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": CONDITION_REASON_PATTERN},
                "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                "type": {"type": "string", "maxLength": 316, "pattern": CONDITION_TYPE_PATTERN}
            }
        }
    })
}

fn string_list() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

/// `tenants.opencrane.io` v1alpha1.
pub(crate) fn tenant_schema() -> Value {
    let quantity = json!({"type": "string", "pattern": QUANTITY_PATTERN});
    json!({
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["email"],
                "properties": {
                    "displayName": {"type": "string"},
                    "email": {"type": "string", "minLength": 1},
                    "team": {"type": "string"},
                    "clusterTenantRef": {"type": "string"},
                    "monthlyBudgetUsd": {"type": "number", "minimum": 0},
                    "resources": {
                        "type": "object",
                        "properties": {
                            "cpu": quantity.clone(),
                            "memory": quantity.clone(),
                            "storage": quantity
                        }
                    },
                    "skillAllowlist": string_list(),
                    "policyRef": {"type": "string"},
                    "suspended": {"type": "boolean"}
                }
            },
            "status": {
                "type": "object",
                "properties": {
                    "phase": {"type": "string"},
                    "ingressHost": {"type": "string"},
                    "observedGeneration": {"type": "integer", "format": "int64"},
                    "conditions": conditions_schema()
                }
            }
        }
    })
}

/// `accesspolicies.opencrane.io` v1alpha1.
pub(crate) fn access_policy_schema() -> Value {
    json!({
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "description": {"type": "string"},
                    "subjects": {
                        "type": "object",
                        "properties": {
                            "tenants": string_list(),
                            "groups": string_list()
                        }
                    },
                    "datasets": {
                        "type": "object",
                        "properties": {
                            "allow": string_list(),
                            "deny": string_list()
                        }
                    },
                    "mcpServers": string_list(),
                    "skills": string_list()
                }
            },
            "status": {
                "type": "object",
                "properties": {
                    "observedGeneration": {"type": "integer", "format": "int64"},
                    "conditions": conditions_schema()
                }
            }
        }
    })
}

/// `clustertenants.opencrane.io` v1alpha1.
pub(crate) fn cluster_tenant_schema() -> Value {
    json!({
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "displayName": {"type": "string"},
                    "isolationTier": {
                        "type": "string",
                        "enum": ["shared", "namespace", "vcluster", "dedicated"]
                    },
                    "region": {"type": "string"}
                }
            },
            "status": {
                "type": "object",
                "properties": {
                    "phase": {"type": "string"},
                    "conditions": conditions_schema()
                }
            }
        }
    })
}

/// The schema of a custom resource type, `None` for built-in types.
pub(crate) fn schema_for(rt: &ResourceType) -> Option<Value> {
    match (rt.custom, rt.plural) {
        (true, "tenants") => Some(tenant_schema()),
        (true, "accesspolicies") => Some(access_policy_schema()),
        (true, "clustertenants") => Some(cluster_tenant_schema()),
        _ => None,
    }
}

/// What pruning and validation found.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) errors: Vec<FieldError>,
    /// Paths of fields the schema does not know, already removed.
    pub(crate) unknown_fields: Vec<String>,
}

/// Prunes and validates a whole custom resource object against `schema`.
/// `apiVersion`, `kind` and `metadata` are implicit (validated elsewhere).
pub(crate) fn prune_and_validate(object: &mut Value, schema: &Value) -> Outcome {
    let mut outcome = Outcome::default();
    let Value::Object(map) = object else {
        return outcome;
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match properties.and_then(|p| p.get(&key)) {
            Some(sub) => {
                if map.get(&key).is_some_and(Value::is_null) && !nullable(sub) {
                    map.remove(&key);
                } else if let Some(value) = map.get_mut(&key) {
                    walk(value, sub, &key, &mut outcome);
                }
            }
            None => {
                map.remove(&key);
                outcome.unknown_fields.push(key);
            }
        }
    }
    for required in required_of(schema) {
        if !map.contains_key(required) {
            outcome
                .errors
                .push(FieldError::required(required.to_string(), ""));
        }
    }
    outcome
}

fn nullable(schema: &Value) -> bool {
    schema.get("nullable").and_then(Value::as_bool) == Some(true)
}

fn required_of(schema: &Value) -> impl Iterator<Item = &str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// The OpenAPI type name of a JSON value, as the real messages print it.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => true,
    }
}

fn walk(value: &mut Value, schema: &Value, path: &str, out: &mut Outcome) {
    if value.is_null() && nullable(schema) {
        return;
    }
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        if !type_matches(expected, value) {
            let actual = type_name(value);
            out.errors.push(FieldError::type_invalid(
                path,
                actual,
                format!("{path} in body must be of type {expected}: {actual:?}"),
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            out.errors.push(FieldError::not_supported(
                path,
                value.clone(),
                allowed
                    .iter()
                    .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
                    .collect(),
            ));
        }
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let preserve = schema
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                == Some(true);
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let sub = properties.and_then(|p| p.get(&key)).or(additional);
                let child_path = format!("{path}.{key}");
                match sub {
                    Some(sub) => {
                        if map.get(&key).is_some_and(Value::is_null) && !nullable(sub) {
                            map.remove(&key);
                        } else if let Some(child) = map.get_mut(&key) {
                            walk(child, sub, &child_path, out);
                        }
                    }
                    None if preserve => {}
                    None => {
                        map.remove(&key);
                        out.unknown_fields.push(child_path);
                    }
                }
            }
            for required in required_of(schema) {
                if !map.contains_key(required) {
                    out.errors
                        .push(FieldError::required(format!("{path}.{required}"), ""));
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item, item_schema, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::String(s) => check_string(s, schema, path, out),
        Value::Number(n) => {
            if let (Some(min), Some(v)) =
                (schema.get("minimum").and_then(Value::as_f64), n.as_f64())
            {
                if v < min {
                    out.errors.push(FieldError::invalid(
                        path,
                        Value::Number(n.clone()),
                        format!(
                            "{path} in body should be greater than or equal to {}",
                            render_number(min)
                        ),
                    ));
                }
            }
            if let (Some(max), Some(v)) =
                (schema.get("maximum").and_then(Value::as_f64), n.as_f64())
            {
                if v > max {
                    out.errors.push(FieldError::invalid(
                        path,
                        Value::Number(n.clone()),
                        format!(
                            "{path} in body should be less than or equal to {}",
                            render_number(max)
                        ),
                    ));
                }
            }
        }
        _ => {}
    }
}

fn render_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn check_string(s: &str, schema: &Value, path: &str, out: &mut Outcome) {
    let chars = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
        if chars < min {
            out.errors.push(FieldError::invalid(
                path,
                s,
                format!("{path} in body should be at least {min} chars long"),
            ));
        }
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        if chars > max {
            out.errors.push(FieldError::invalid(
                path,
                s,
                format!("{path} in body should be at most {max} chars long"),
            ));
        }
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        // An unknown pattern is not checked rather than guessed at.
        if let Some((_, matcher)) = KNOWN_PATTERNS.iter().find(|(p, _)| *p == pattern) {
            if !matcher(s) {
                out.errors.push(FieldError::invalid(
                    path,
                    s,
                    format!("{path} in body should match '{pattern}'"),
                ));
            }
        }
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && chrono::DateTime::parse_from_rfc3339(s).is_err()
    {
        out.errors.push(FieldError::invalid(
            path,
            s,
            format!("{path} in body must be of type date-time: {s:?}"),
        ));
    }
}

/// Digits with an optional fraction: `[0-9]+(\.[0-9]*)?|\.[0-9]+`.
/// Returns the rest of the input after the number.
fn strip_decimal(s: &str) -> Option<&str> {
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &s[int_len..];
    if let Some(frac) = rest.strip_prefix('.') {
        let frac_len = frac.bytes().take_while(u8::is_ascii_digit).count();
        if int_len == 0 && frac_len == 0 {
            return None;
        }
        Some(&frac[frac_len..])
    } else if int_len == 0 {
        None
    } else {
        Some(rest)
    }
}

fn strip_sign(s: &str) -> &str {
    s.strip_prefix('+')
        .or_else(|| s.strip_prefix('-'))
        .unwrap_or(s)
}

/// A Kubernetes quantity (`500m`, `1.5Gi`, `1e3`, `10`).
pub(crate) fn is_quantity(s: &str) -> bool {
    let Some(suffix) = strip_decimal(strip_sign(s)) else {
        return false;
    };
    match suffix {
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "n" | "u" | "m" | "k" | "M" | "G" | "T"
        | "P" | "E" => true,
        exp => match exp.strip_prefix(['e', 'E']) {
            Some(rest) => strip_decimal(strip_sign(rest)) == Some(""),
            None => false,
        },
    }
}

fn is_condition_reason(s: &str) -> bool {
    let b = s.as_bytes();
    match b {
        [] => false,
        [first] => first.is_ascii_alphabetic(),
        [first, middle @ .., last] => {
            first.is_ascii_alphabetic()
                && middle
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b',' | b':'))
                && (last.is_ascii_alphanumeric() || *last == b'_')
        }
    }
}

fn is_condition_type(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if prefix.is_some_and(|p| !crate::validation::is_dns1123_subdomain(p)) {
        return false;
    }
    let b = name.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn quantities() {
        for ok in [
            "1", "500m", "1.5Gi", "0.5", ".5", "1e3", "2E-2", "+1k", "-1", "10Mi",
        ] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "Gi", "1.5GB", "abc", "1 Gi", ".", "1e", "1Ki2"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn condition_fields() {
        assert!(is_condition_reason("Reconciled"));
        assert!(is_condition_reason("A_b:c,D"));
        assert!(!is_condition_reason("1abc"));
        assert!(!is_condition_reason("abc:"));
        assert!(is_condition_type("Ready"));
        assert!(is_condition_type("opencrane.io/Synced"));
        assert!(!is_condition_type("Bad Type"));
    }

    /// Parses the block-style YAML subset the CRD schemas use (mappings,
    /// sequences of scalars, plain/quoted scalars, `{}`) into JSON.
    fn parse_yaml_block(lines: &[(usize, &str)], pos: &mut usize, indent: usize) -> Value {
        if lines.get(*pos).is_some_and(|(_, l)| l.starts_with("- ")) {
            let mut items = Vec::new();
            while let Some((i, l)) = lines.get(*pos) {
                match l.strip_prefix("- ") {
                    Some(item) if *i == indent => items.push(scalar(item)),
                    _ => break,
                }
                *pos += 1;
            }
            return Value::Array(items);
        }
        let mut map = serde_json::Map::new();
        while let Some((i, l)) = lines.get(*pos) {
            if *i != indent || l.starts_with("- ") {
                break;
            }
            let (key, rest) = l.split_once(':').expect("a mapping line");
            *pos += 1;
            let value = if rest.trim().is_empty() {
                match lines.get(*pos) {
                    Some((next, nl))
                        if *next > indent || (*next == indent && nl.starts_with("- ")) =>
                    {
                        let child = *next;
                        parse_yaml_block(lines, pos, child)
                    }
                    _ => Value::Null,
                }
            } else {
                scalar(rest.trim())
            };
            map.insert(key.trim().to_string(), value);
        }
        Value::Object(map)
    }

    fn scalar(s: &str) -> Value {
        if s == "{}" {
            return json!({});
        }
        if let Some(q) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            return json!(q);
        }
        if let Ok(n) = s.parse::<i64>() {
            return json!(n);
        }
        match s {
            "true" => json!(true),
            "false" => json!(false),
            _ => json!(s),
        }
    }

    fn strip_descriptions(v: &mut Value) {
        match v {
            Value::Object(m) => {
                // Documentation text, not a property that is named so.
                if m.get("description").is_some_and(Value::is_string) {
                    m.remove("description");
                }
                m.values_mut().for_each(strip_descriptions);
            }
            Value::Array(a) => a.iter_mut().for_each(strip_descriptions),
            _ => {}
        }
    }

    /// `deploy/crds/<name>.yaml`'s `openAPIV3Schema`, without descriptions
    /// and the implicit apiVersion/kind/metadata properties.
    fn crd_schema(file: &str) -> Value {
        let path = format!("{}/../../deploy/crds/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("the CRD file");
        let lines: Vec<(usize, &str)> = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|l| (l.len() - l.trim_start().len(), l.trim()))
            .collect();
        let start = lines
            .iter()
            .position(|(_, l)| *l == "openAPIV3Schema:")
            .expect("an openAPIV3Schema");
        let mut pos = start + 1;
        let indent = lines[pos].0;
        let mut schema = parse_yaml_block(&lines, &mut pos, indent);
        strip_descriptions(&mut schema);
        if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            for implicit in ["apiVersion", "kind", "metadata"] {
                props.remove(implicit);
            }
        }
        schema
    }

    #[test]
    fn schemas_match_the_shipped_crds() {
        assert_eq!(crd_schema("tenants.opencrane.io.yaml"), tenant_schema());
        assert_eq!(
            crd_schema("accesspolicies.opencrane.io.yaml"),
            access_policy_schema()
        );
        assert_eq!(
            crd_schema("clustertenants.opencrane.io.yaml"),
            cluster_tenant_schema()
        );
    }

    #[test]
    fn prunes_unknown_and_null_fields_and_reports_errors() {
        let mut obj = json!({
            "apiVersion": "opencrane.io/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "a"},
            "extra": 1,
            "spec": {
                "email": "a@example.com",
                "team": null,
                "bogus": "x",
                "monthlyBudgetUsd": -1,
                "resources": {"cpu": "lots"}
            }
        });
        let outcome = prune_and_validate(&mut obj, &tenant_schema());
        assert_eq!(outcome.unknown_fields, vec!["extra", "spec.bogus"]);
        assert!(obj.get("extra").is_none());
        assert!(obj["spec"].get("team").is_none());
        assert_eq!(outcome.errors.len(), 2, "{:?}", outcome.errors);
    }
}
