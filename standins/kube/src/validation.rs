//! Name, label and object-metadata validation with the real API server's
//! messages (`k8s.io/apimachinery/pkg/util/validation`), so a 422 from the
//! stand-in reads the same as one from a cluster.

use serde_json::Value;

use crate::status::FieldError;

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// One DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 chars.
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 chars in all.
pub(crate) fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|part| {
            // Within the subdomain regex a label may be longer than 63; only the
            // total length is bounded.
            let b = part.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// Errors for `metadata.name` of an object whose names are subdomains
/// (custom resources, Deployments, ServiceAccounts).
pub(crate) fn validate_name(name: &str, generate_name: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
        return errors;
    }
    let field = if generate_name {
        "metadata.generateName"
    } else {
        "metadata.name"
    };
    if name.len() > 253 {
        errors.push(FieldError::invalid(
            field,
            name,
            "must be no more than 253 characters",
        ));
    }
    if !is_dns1123_subdomain(name) {
        errors.push(FieldError::invalid(field, name, DNS1123_SUBDOMAIN_MSG));
    }
    errors
}

fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.is_empty()
        || (b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric())
}

/// A qualified name (`prefix/name` or `name`), as label and annotation keys are.
fn qualified_name_errors(key: &str, field: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errors.push(FieldError::invalid(
                field,
                key,
                "prefix part must be non-empty",
            ));
        } else if !is_dns1123_subdomain(prefix) {
            errors.push(FieldError::invalid(
                field,
                key,
                format!("prefix part {DNS1123_SUBDOMAIN_MSG}"),
            ));
        }
    }
    if name.is_empty() {
        errors.push(FieldError::invalid(
            field,
            key,
            "name part must be non-empty",
        ));
    } else if name.len() > 63 {
        errors.push(FieldError::invalid(
            field,
            key,
            "name part must be no more than 63 characters",
        ));
    } else if !is_label_value(name) {
        errors.push(FieldError::invalid(field, key, QUALIFIED_NAME_MSG));
    }
    errors
}

/// Checks `metadata.labels` and `metadata.annotations` keys and label values.
pub(crate) fn validate_labels_and_annotations(metadata: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match metadata.get("labels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(labels)) => {
            for (key, value) in labels {
                errors.extend(qualified_name_errors(key, "metadata.labels"));
                match value {
                    Value::String(v) if v.len() > 63 => errors.push(FieldError::invalid(
                        "metadata.labels",
                        v.as_str(),
                        "must be no more than 63 characters",
                    )),
                    Value::String(v) if !is_label_value(v) => errors.push(FieldError::invalid(
                        "metadata.labels",
                        v.as_str(),
                        LABEL_VALUE_MSG,
                    )),
                    Value::String(_) => {}
                    other => errors.push(FieldError::type_invalid(
                        format!("metadata.labels.{key}"),
                        other.clone(),
                        "must be a string",
                    )),
                }
            }
        }
        Some(other) => errors.push(FieldError::type_invalid(
            "metadata.labels",
            other.clone(),
            "must be a map of strings",
        )),
    }
    match metadata.get("annotations") {
        None | Some(Value::Null) => {}
        Some(Value::Object(annotations)) => {
            for (key, value) in annotations {
                errors.extend(qualified_name_errors(key, "metadata.annotations"));
                if !value.is_string() {
                    errors.push(FieldError::type_invalid(
                        format!("metadata.annotations.{key}"),
                        value.clone(),
                        "must be a string",
                    ));
                }
            }
        }
        Some(other) => errors.push(FieldError::type_invalid(
            "metadata.annotations",
            other.clone(),
            "must be a map of strings",
        )),
    }
    if let Some(finalizers) = metadata.get("finalizers") {
        match finalizers {
            Value::Null => {}
            Value::Array(items) => {
                for (i, f) in items.iter().enumerate() {
                    match f.as_str() {
                        Some(s) => errors.extend(qualified_name_errors(
                            s,
                            &format!("metadata.finalizers[{i}]"),
                        )),
                        None => errors.push(FieldError::type_invalid(
                            format!("metadata.finalizers[{i}]"),
                            f.clone(),
                            "must be a string",
                        )),
                    }
                }
            }
            other => errors.push(FieldError::type_invalid(
                "metadata.finalizers",
                other.clone(),
                "must be a list of strings",
            )),
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns1123_subdomain("acme"));
        assert!(is_dns1123_subdomain("a.b-c.d1"));
        assert!(!is_dns1123_subdomain("Acme"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain("a_b"));
        assert!(!is_dns1123_subdomain(""));
        assert!(is_dns1123_label("a-1"));
        assert!(!is_dns1123_label("a.b"));
    }

    #[test]
    fn label_values() {
        assert!(is_label_value(""));
        assert!(is_label_value("My_value.1"));
        assert!(!is_label_value("_x"));
        assert!(!is_label_value("a b"));
    }
}
