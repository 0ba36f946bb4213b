//! Which API path a typed object lives at.

use serde::{de::DeserializeOwned, Serialize};

use crate::object::{Object, ObjectMeta};

/// A namespaced resource type the client can address generically: the
/// constants give the URL (`/apis/{GROUP}/{VERSION}/namespaces/{ns}/{PLURAL}`)
/// and the associated types give the body.
///
/// Implemented by marker types ([`crate::Tenant`], …) rather than by the
/// spec structs, so call sites read `kube.get::<Tenant>("acme")`.
pub trait Resource {
    /// The `spec` type.
    type Spec: Serialize + DeserializeOwned;
    /// The `status` type.
    type Status: Serialize + DeserializeOwned;

    /// API group; empty for the core group (`/api/v1`).
    const GROUP: &'static str;
    /// API version, e.g. `v1alpha1`.
    const VERSION: &'static str;
    /// Kind, e.g. `Tenant`.
    const KIND: &'static str;
    /// Lower-case plural used in URLs, e.g. `tenants`.
    const PLURAL: &'static str;

    /// `group/version`, or just `version` for the core group.
    fn api_version() -> String {
        if Self::GROUP.is_empty() {
            Self::VERSION.to_owned()
        } else {
            format!("{}/{}", Self::GROUP, Self::VERSION)
        }
    }

    /// A new object with this type's `apiVersion` and `kind`, the given name
    /// and spec, and no status — ready for [`crate::KubeClient::create`].
    fn object(name: impl Into<String>, spec: Self::Spec) -> ObjectOf<Self> {
        Object {
            api_version: Self::api_version(),
            kind: Self::KIND.to_owned(),
            metadata: ObjectMeta::named(name),
            spec,
            status: None,
        }
    }
}

/// The object type of resource `R`, e.g. `ObjectOf<Tenant>`.
pub type ObjectOf<R> = Object<<R as Resource>::Spec, <R as Resource>::Status>;
