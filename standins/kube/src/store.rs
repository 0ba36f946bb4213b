//! In-memory object storage standing in for etcd: objects keyed by
//! resource, namespace and name, and one global revision counter that every
//! write (create, update, delete) advances, so `metadata.resourceVersion`
//! behaves as on a real cluster (monotonic, shared across all types,
//! opaque to clients).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::resources::ResourceType;

/// (namespace, name): the order a real list returns objects in, because
/// etcd keys are `/registry/<resource>/<namespace>/<name>`.
pub(crate) type Key = (String, String);

#[derive(Debug, Default)]
pub(crate) struct Store {
    revision: u64,
    objects: BTreeMap<&'static str, BTreeMap<Key, Value>>,
}

impl Store {
    pub(crate) fn new() -> Self {
        Self {
            // etcd revisions of a fresh cluster are already in the hundreds;
            // starting above 1 keeps clients from relying on small numbers.
            revision: 100,
            objects: BTreeMap::new(),
        }
    }

    /// The current revision: the `resourceVersion` of a list.
    pub(crate) fn revision(&self) -> u64 {
        self.revision
    }

    pub(crate) fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(rt.plural)
            .and_then(|m| m.get(&(namespace.to_string(), name.to_string())))
    }

    /// Objects of `rt` (in `namespace`, or all), in key order, whose key is
    /// strictly after `after` when given (for `continue`).
    pub(crate) fn list<'a>(
        &'a self,
        rt: &ResourceType,
        namespace: Option<&'a str>,
        after: Option<&'a Key>,
    ) -> impl Iterator<Item = (&'a Key, &'a Value)> + 'a {
        self.objects
            .get(rt.plural)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(move |(key, _)| namespace.is_none_or(|ns| key.0 == ns))
            .filter(move |(key, _)| after.is_none_or(|a| *key > a))
    }

    /// Stores `object` (create or replace) at a new revision and returns
    /// the stored copy, whose `metadata.resourceVersion` is that revision.
    pub(crate) fn put(&mut self, rt: &'static ResourceType, mut object: Value) -> Value {
        self.revision += 1;
        let namespace = str_at(&object, "/metadata/namespace").to_string();
        let name = str_at(&object, "/metadata/name").to_string();
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert(
                "resourceVersion".into(),
                Value::String(self.revision.to_string()),
            );
        }
        self.objects
            .entry(rt.plural)
            .or_default()
            .insert((namespace, name), object.clone());
        object
    }

    /// Removes an object; a delete is a revision too.
    pub(crate) fn remove(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let removed = self
            .objects
            .get_mut(rt.plural)
            .and_then(|m| m.remove(&(namespace.to_string(), name.to_string())));
        if removed.is_some() {
            self.revision += 1;
        }
        removed
    }
}

/// The string at a JSON pointer, or "" when absent.
pub(crate) fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `metadata.generation`; 1, where every object starts, when it is missing.
pub(crate) fn generation_of(object: &Value) -> i64 {
    object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}
