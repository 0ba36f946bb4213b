//! The generic object envelope: metadata, lists, conditions.
//!
//! Modelled on `k8s.io/apimachinery/pkg/apis/meta/v1`, reduced to the fields
//! the control plane reads or writes. Fields the API server sends and we do
//! not model are ignored on decode, so a `replace` drops them: use
//! [`crate::KubeClient::merge_patch`] to change a few fields of an object
//! other writers also touch.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// Go encodes a nil slice or map as `null`; `#[serde(default)]` alone only
/// covers a missing field, so accept both.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// `metadata` of an object (the subset of `ObjectMeta` we use).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectMeta {
    /// Unique within the namespace; DNS-1123 for our resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Set by the server from the request URL when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Server-assigned, distinguishes a re-created object from the old one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Opaque version for optimistic concurrency: a write carrying a stale
    /// one fails with [`crate::KubeError::Conflict`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Bumped by the server on every spec change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Server-assigned creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<DateTime<Utc>>,
    /// Set when deletion was requested but finalizers still hold the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<DateTime<Utc>>,
    /// Label key → value.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub labels: BTreeMap<String, String>,
    /// Annotation key → value.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Objects this one depends on (garbage collection).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub owner_references: Vec<OwnerReference>,
    /// Keys that must be removed before the object is really deleted.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub finalizers: Vec<String>,
}

impl ObjectMeta {
    /// Metadata carrying only a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            ..Self::default()
        }
    }
}

/// An entry of `metadata.ownerReferences`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OwnerReference {
    /// `group/version` of the owner.
    pub api_version: String,
    /// Kind of the owner.
    pub kind: String,
    /// Name of the owner.
    pub name: String,
    /// UID of the owner.
    pub uid: String,
    /// Whether the owner is the managing controller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// Whether foreground deletion of the owner waits for this object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// A whole object: `apiVersion`, `kind`, `metadata`, `spec`, `status`.
///
/// Use [`crate::Resource::object`] to build one with the right `apiVersion`
/// and `kind`; the client sends them as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object<Spec, Status> {
    /// `group/version`, e.g. `opencrane.io/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// e.g. `Tenant`.
    #[serde(default)]
    pub kind: String,
    /// Name, versions, labels, ….
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired state.
    pub spec: Spec,
    /// Observed state; written through the `status` subresource only.
    // No `default` here: it would demand `Status: Default`, and a missing
    // `Option` field decodes as `None` anyway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

impl<Spec, Status> Object<Spec, Status> {
    /// `metadata.name`, or `""` when unset.
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }
}

/// A list response, e.g. `TenantList`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct ObjectList<T> {
    /// Paging and consistency information.
    #[serde(default)]
    pub metadata: ListMeta,
    /// The objects.
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub items: Vec<T>,
}

/// `metadata` of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListMeta {
    /// Token for the next page; absent or empty on the last one.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_token: Option<String>,
    /// The version the list was read at (all pages share it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// A `metav1.Condition` as operators report them in `status.conditions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Condition {
    /// e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase machine-readable reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When `status` last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<DateTime<Utc>>,
    /// The `metadata.generation` the condition was computed from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn empty_metadata_serialises_to_an_empty_object() {
        assert_eq!(
            serde_json::to_value(ObjectMeta::default()).unwrap(),
            json!({})
        );
        assert_eq!(
            serde_json::to_value(ObjectMeta::named("acme")).unwrap(),
            json!({"name": "acme"})
        );
    }

    #[test]
    fn metadata_round_trips_in_camel_case() {
        let wire = json!({
            "name": "acme",
            "namespace": "opencrane",
            "uid": "6f1c",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "labels": {"team": "eng"},
            "annotations": {"note": "x"},
            "ownerReferences": [{"apiVersion": "opencrane.io/v1alpha1", "kind": "ClusterTenant",
                                  "name": "corp", "uid": "u1", "controller": true}],
            "finalizers": ["opencrane.io/cleanup"]
        });
        let meta: ObjectMeta = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(meta.resource_version.as_deref(), Some("42"));
        assert_eq!(meta.owner_references[0].controller, Some(true));
        assert_eq!(serde_json::to_value(&meta).unwrap(), wire);
    }

    #[test]
    fn go_nulls_decode_as_empty() {
        let meta: ObjectMeta =
            serde_json::from_value(json!({"labels": null, "finalizers": null})).unwrap();
        assert!(meta.labels.is_empty() && meta.finalizers.is_empty());
        let list: ObjectList<serde_json::Value> =
            serde_json::from_value(json!({"metadata": {}, "items": null})).unwrap();
        assert!(list.items.is_empty());
    }
}
