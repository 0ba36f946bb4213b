//! The resource types the stand-in serves, described once so that routing,
//! storage, error messages and discovery all agree on names.

/// One REST resource, as `kube-apiserver` knows it (a `GroupVersionResource`
/// plus the strategy flags that change how writes behave).
#[derive(Debug)]
pub(crate) struct ResourceType {
    /// API group; empty for the core (`/api/v1`) group.
    pub(crate) group: &'static str,
    pub(crate) version: &'static str,
    pub(crate) plural: &'static str,
    pub(crate) singular: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) short_names: &'static [&'static str],
    /// Whether the type has a `/status` subresource. Writes to the main
    /// resource then keep the stored status, and `/status` writes change
    /// only the status.
    pub(crate) status_subresource: bool,
    /// Whether the type has a `/scale` subresource (Deployments).
    pub(crate) scale_subresource: bool,
    /// Custom resources are validated against their CRD schema, carry
    /// `apiVersion`/`kind` on list items and refuse strategic merge patches.
    pub(crate) custom: bool,
    /// Whether `metadata.generation` is maintained (not for ServiceAccounts).
    pub(crate) generation: bool,
    /// `ReturnDeletedObject` in the real registry: DELETE answers with the
    /// deleted object instead of a `Status` (ServiceAccounts do this).
    pub(crate) return_deleted_object: bool,
}

impl ResourceType {
    /// `apiVersion` of objects of this type (`opencrane.io/v1alpha1`, `v1`).
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group-qualified resource used in error messages
    /// (`tenants.opencrane.io`, `deployments.apps`, `serviceaccounts`).
    pub(crate) fn qualified_resource(&self) -> String {
        qualify(self.plural, self.group)
    }

    /// The group-qualified kind used in `Invalid` messages
    /// (`Tenant.opencrane.io`, `ServiceAccount`).
    pub(crate) fn qualified_kind(&self) -> String {
        qualify(self.kind, self.group)
    }

    /// The `kind` of list responses.
    pub(crate) fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

/// `name.group`, or just `name` for the core group.
pub(crate) fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

/// The OpenCrane CRD group and version.
pub(crate) const OPENCRANE_GROUP: &str = "opencrane.io";
pub(crate) const OPENCRANE_VERSION: &str = "v1alpha1";

pub(crate) static TENANTS: ResourceType = ResourceType {
    group: OPENCRANE_GROUP,
    version: OPENCRANE_VERSION,
    plural: "tenants",
    singular: "tenant",
    kind: "Tenant",
    short_names: &["tn"],
    status_subresource: true,
    scale_subresource: false,
    custom: true,
    generation: true,
    return_deleted_object: false,
};

pub(crate) static ACCESS_POLICIES: ResourceType = ResourceType {
    group: OPENCRANE_GROUP,
    version: OPENCRANE_VERSION,
    plural: "accesspolicies",
    singular: "accesspolicy",
    kind: "AccessPolicy",
    short_names: &["ap"],
    status_subresource: true,
    scale_subresource: false,
    custom: true,
    generation: true,
    return_deleted_object: false,
};

pub(crate) static CLUSTER_TENANTS: ResourceType = ResourceType {
    group: OPENCRANE_GROUP,
    version: OPENCRANE_VERSION,
    plural: "clustertenants",
    singular: "clustertenant",
    kind: "ClusterTenant",
    short_names: &["ct"],
    status_subresource: true,
    scale_subresource: false,
    custom: true,
    generation: true,
    return_deleted_object: false,
};

pub(crate) static DEPLOYMENTS: ResourceType = ResourceType {
    group: "apps",
    version: "v1",
    plural: "deployments",
    singular: "deployment",
    kind: "Deployment",
    short_names: &["deploy"],
    status_subresource: true,
    scale_subresource: true,
    custom: false,
    generation: true,
    return_deleted_object: false,
};

pub(crate) static SERVICE_ACCOUNTS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "serviceaccounts",
    singular: "serviceaccount",
    kind: "ServiceAccount",
    short_names: &["sa"],
    status_subresource: false,
    scale_subresource: false,
    custom: false,
    generation: false,
    return_deleted_object: true,
};

/// Every resource type served, in discovery order.
pub(crate) static ALL: [&ResourceType; 5] = [
    &TENANTS,
    &ACCESS_POLICIES,
    &CLUSTER_TENANTS,
    &DEPLOYMENTS,
    &SERVICE_ACCOUNTS,
];

/// The resource type served at `group/version/plural`, if any.
pub(crate) fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    ALL.iter()
        .copied()
        .find(|rt| rt.group == group && rt.version == version && rt.plural == plural)
}

/// Whether `group/version` is served at all (for discovery and 404s).
pub(crate) fn serves_group_version(group: &str, version: &str) -> bool {
    ALL.iter()
        .any(|rt| rt.group == group && rt.version == version)
}
