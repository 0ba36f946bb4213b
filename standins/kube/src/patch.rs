//! The two patch formats custom resources accept: JSON merge patch
//! (RFC 7386, `application/merge-patch+json`) and JSON patch (RFC 6902,
//! `application/json-patch+json`).

use serde_json::Value;

/// Applies an RFC 7386 merge patch: objects merge recursively, `null`
/// deletes, anything else (arrays included) replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                let entry = target_map.entry(key.clone()).or_insert(Value::Null);
                merge_patch(entry, value);
            }
        }
    }
}

/// Why a JSON patch could not be decoded (a 400) or applied (a 422).
#[derive(Debug, thiserror::Error)]
pub(crate) enum JsonPatchError {
    #[error("{0}")]
    Decode(String),
    #[error("{0}")]
    Apply(String),
}

/// Applies an RFC 6902 JSON patch document to `target`, all or nothing.
pub(crate) fn json_patch(target: &mut Value, patch: &Value) -> Result<(), JsonPatchError> {
    let ops = patch.as_array().ok_or_else(|| {
        JsonPatchError::Decode(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch".into(),
        )
    })?;
    // Work on a copy so a failing operation leaves the object untouched.
    let mut doc = target.clone();
    for op in ops {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| JsonPatchError::Apply("Unexpected kind: unknown".into()))?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| JsonPatchError::Apply(format!("{name} operation missing path")))?;
        match name {
            "add" => {
                let value = op_value(op, name)?;
                add(&mut doc, path, value)?;
            }
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                let value = op_value(op, name)?;
                remove(&mut doc, path)?;
                add(&mut doc, path, value)?;
            }
            "move" => {
                let from = op_from(op, name)?;
                let value = remove(&mut doc, from)?;
                add(&mut doc, path, value)?;
            }
            "copy" => {
                let from = op_from(op, name)?;
                let value = get(&doc, from).cloned().ok_or_else(|| missing(from))?;
                add(&mut doc, path, value)?;
            }
            "test" => {
                let value = op_value(op, name)?;
                if get(&doc, path) != Some(&value) {
                    return Err(JsonPatchError::Apply(format!(
                        "testing value {path} failed: test failed"
                    )));
                }
            }
            other => {
                return Err(JsonPatchError::Apply(format!("Unexpected kind: {other}")));
            }
        }
    }
    *target = doc;
    Ok(())
}

fn op_value(op: &Value, name: &str) -> Result<Value, JsonPatchError> {
    op.get("value").cloned().ok_or_else(|| {
        JsonPatchError::Apply(format!(
            "{name} operation does not apply: doc is missing value"
        ))
    })
}

fn op_from<'a>(op: &'a Value, name: &str) -> Result<&'a str, JsonPatchError> {
    op.get("from")
        .and_then(Value::as_str)
        .ok_or_else(|| JsonPatchError::Apply(format!("{name} operation missing from")))
}

fn missing(path: &str) -> JsonPatchError {
    JsonPatchError::Apply(format!("doc is missing path: \"{path}\": missing value"))
}

/// Splits a JSON pointer into unescaped reference tokens.
fn tokens(path: &str) -> Result<Vec<String>, JsonPatchError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| JsonPatchError::Apply(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn get<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = doc;
    for token in tokens(path).ok()? {
        current = match current {
            Value::Object(map) => map.get(&token)?,
            Value::Array(items) => items.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// The container holding the last token of `path`, and that token.
fn parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), JsonPatchError> {
    let mut toks = tokens(path)?;
    let last = toks.pop().ok_or_else(|| missing(path))?;
    let mut current = doc;
    for token in toks {
        current = match current {
            Value::Object(map) => map.get_mut(&token).ok_or_else(|| missing(path))?,
            Value::Array(items) => {
                let index = token.parse::<usize>().map_err(|_| missing(path))?;
                items.get_mut(index).ok_or_else(|| missing(path))?
            }
            _ => return Err(missing(path)),
        };
    }
    Ok((current, last))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), JsonPatchError> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (container, last) = parent(doc, path)?;
    match container {
        Value::Object(map) => {
            map.insert(last, value);
            Ok(())
        }
        Value::Array(items) => {
            let index = if last == "-" {
                items.len()
            } else {
                last.parse::<usize>().map_err(|_| missing(path))?
            };
            if index > items.len() {
                return Err(JsonPatchError::Apply(format!(
                    "add operation does not apply: doc is missing path: \"{path}\": invalid index"
                )));
            }
            items.insert(index, value);
            Ok(())
        }
        _ => Err(missing(path)),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, JsonPatchError> {
    let (container, last) = parent(doc, path)?;
    match container {
        Value::Object(map) => map.remove(&last).ok_or_else(|| missing(path)),
        Value::Array(items) => {
            let index = last.parse::<usize>().map_err(|_| missing(path))?;
            if index >= items.len() {
                return Err(missing(path));
            }
            Ok(items.remove(index))
        }
        _ => Err(missing(path)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}, "l": [3]}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}, "l": [3]}));
    }

    #[test]
    fn json_patch_ops() {
        let mut doc = json!({"spec": {"a": 1, "list": ["x"]}});
        json_patch(
            &mut doc,
            &json!([
                {"op": "replace", "path": "/spec/a", "value": 2},
                {"op": "add", "path": "/spec/list/-", "value": "y"},
                {"op": "add", "path": "/spec/b~1c", "value": true},
                {"op": "test", "path": "/spec/a", "value": 2},
                {"op": "copy", "from": "/spec/a", "path": "/spec/copy"},
                {"op": "move", "from": "/spec/copy", "path": "/spec/moved"},
                {"op": "remove", "path": "/spec/list/0"}
            ]),
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"spec": {"a": 2, "list": ["y"], "b/c": true, "moved": 2}})
        );
    }

    #[test]
    fn json_patch_is_atomic() {
        let mut doc = json!({"a": 1});
        let err = json_patch(
            &mut doc,
            &json!([
                {"op": "replace", "path": "/a", "value": 2},
                {"op": "test", "path": "/a", "value": 3}
            ]),
        );
        assert!(matches!(err, Err(JsonPatchError::Apply(_))));
        assert_eq!(doc, json!({"a": 1}));
        assert!(json_patch(&mut doc, &json!([{"op": "remove", "path": "/zz"}])).is_err());
    }
}
