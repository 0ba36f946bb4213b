//! The control plane's custom resources: `Tenant`, `AccessPolicy`,
//! `ClusterTenant` (group `opencrane.io`, version `v1alpha1`, namespaced).
//!
//! The CRD is the source of truth; PostgreSQL holds a projection. Specs
//! decode leniently (`#[serde(default)]`): a field missing from an object
//! written by another tool must not make a whole list — and with it drift
//! detection — fail. Optional fields are left out of the JSON when unset, so
//! what we write is what `kubectl get -o yaml` shows.

use serde::{Deserialize, Serialize};

use crate::object::{null_as_default, Condition};
use crate::resource::{ObjectOf, Resource};

/// API group of the control plane's CRDs.
pub const GROUP: &str = "opencrane.io";
/// API version of the control plane's CRDs.
pub const VERSION: &str = "v1alpha1";

// ---------------------------------------------------------------------------
// Tenant
// ---------------------------------------------------------------------------

/// Marker for the `Tenant` resource: one agent pod (Deployment) per tenant.
#[derive(Debug, Clone, Copy)]
pub enum Tenant {}

impl Resource for Tenant {
    type Spec = TenantSpec;
    type Status = TenantStatus;
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "Tenant";
    const PLURAL: &'static str = "tenants";
}

/// A whole `Tenant` object.
pub type TenantObject = ObjectOf<Tenant>;

/// `Tenant.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TenantSpec {
    /// Name shown in consoles.
    pub display_name: String,
    /// Owner's email; the pod-token flow resolves a session's tenant by it.
    pub email: String,
    /// Team, for grouping and policy subjects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Parent `ClusterTenant` (customer / isolation unit), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_tenant_ref: Option<String>,
    /// Monthly AI budget in US dollars. A JSON number (`f64`) because that is
    /// what the CRD schema declares; the control plane keeps the exact amount
    /// as integer cents in PostgreSQL and writes this field from it, so never
    /// do money arithmetic on this value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_budget_usd: Option<f64>,
    /// Resource requests of the agent pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<TenantResources>,
    /// Skills the tenant may use.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub skill_allowlist: Vec<String>,
    /// Name of the `AccessPolicy` bound to this tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_ref: Option<String>,
    /// When true the tenant's Deployment is scaled to zero.
    pub suspended: bool,
}

/// `Tenant.spec.resources`: Kubernetes quantities as strings (`"500m"`,
/// `"1Gi"`), passed through unparsed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TenantResources {
    /// CPU request, e.g. `500m`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory request, e.g. `1Gi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Persistent volume size, e.g. `10Gi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

/// `Tenant.status`, written by the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TenantStatus {
    /// Lifecycle phase (`Pending`, `Running`, `Suspended`, `Error`, …); a
    /// string so a phase added by a newer operator still decodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Host the tenant pod is served on, once assigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress_host: Option<String>,
    /// `metadata.generation` the operator last acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Detailed conditions (`Ready`, …).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub conditions: Vec<Condition>,
}

// ---------------------------------------------------------------------------
// AccessPolicy
// ---------------------------------------------------------------------------

/// Marker for the `AccessPolicy` resource: which datasets, MCP servers and
/// skills a set of tenants and groups may use.
#[derive(Debug, Clone, Copy)]
pub enum AccessPolicy {}

impl Resource for AccessPolicy {
    type Spec = AccessPolicySpec;
    type Status = AccessPolicyStatus;
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "AccessPolicy";
    const PLURAL: &'static str = "accesspolicies";
}

/// A whole `AccessPolicy` object.
pub type AccessPolicyObject = ObjectOf<AccessPolicy>;

/// `AccessPolicy.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AccessPolicySpec {
    /// What the policy is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who the policy applies to.
    pub subjects: PolicySubjects,
    /// Dataset rules.
    pub datasets: DatasetRules,
    /// MCP servers the subjects may use.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub mcp_servers: Vec<String>,
    /// Skills the subjects may use.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub skills: Vec<String>,
}

/// `AccessPolicy.spec.subjects`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicySubjects {
    /// Tenant names.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub tenants: Vec<String>,
    /// Group names.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub groups: Vec<String>,
}

/// `AccessPolicy.spec.datasets`: deny wins over allow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DatasetRules {
    /// Datasets the subjects may join.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub allow: Vec<String>,
    /// Datasets the subjects must not join.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub deny: Vec<String>,
}

/// `AccessPolicy.status`, written by the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AccessPolicyStatus {
    /// `metadata.generation` the operator last acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Detailed conditions.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub conditions: Vec<Condition>,
}

// ---------------------------------------------------------------------------
// ClusterTenant
// ---------------------------------------------------------------------------

/// Marker for the `ClusterTenant` resource: a customer and its isolation
/// unit, parent of tenants that set `clusterTenantRef`.
#[derive(Debug, Clone, Copy)]
pub enum ClusterTenant {}

impl Resource for ClusterTenant {
    type Spec = ClusterTenantSpec;
    type Status = ClusterTenantStatus;
    const GROUP: &'static str = GROUP;
    const VERSION: &'static str = VERSION;
    const KIND: &'static str = "ClusterTenant";
    const PLURAL: &'static str = "clustertenants";
}

/// A whole `ClusterTenant` object.
pub type ClusterTenantObject = ObjectOf<ClusterTenant>;

/// `ClusterTenant.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterTenantSpec {
    /// Customer name shown in consoles.
    pub display_name: String,
    /// `shared`, `dedicatedNodes` or `dedicatedCluster`. A string, not an
    /// enum: whether a tier is servable is the API's decision (it rejects
    /// tiers no provisioner serves), and an object with a tier this build
    /// does not know must still decode.
    pub isolation_tier: String,
    /// Where the customer's workloads run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// `ClusterTenant.status`, written by the provisioner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterTenantStatus {
    /// Lifecycle phase (`pending`, `provisioning`, `ready`, `failed`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Detail for failed or transitional phases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Namespace bound to this customer once provisioned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound_namespace: Option<String>,
    /// `metadata.generation` the provisioner last acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Detailed conditions.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub conditions: Vec<Condition>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn resource_constants() {
        assert_eq!(Tenant::api_version(), "opencrane.io/v1alpha1");
        assert_eq!(AccessPolicy::PLURAL, "accesspolicies");
        assert_eq!(ClusterTenant::KIND, "ClusterTenant");
    }

    #[test]
    fn tenant_serialises_in_camel_case_without_unset_fields() {
        let spec = TenantSpec {
            display_name: "Acme".into(),
            email: "owner@acme.io".into(),
            cluster_tenant_ref: Some("corp".into()),
            monthly_budget_usd: Some(12.5),
            resources: Some(TenantResources {
                cpu: Some("500m".into()),
                ..TenantResources::default()
            }),
            skill_allowlist: vec!["search".into()],
            ..TenantSpec::default()
        };
        let object = Tenant::object("acme", spec);
        assert_eq!(
            serde_json::to_value(&object).unwrap(),
            json!({
                "apiVersion": "opencrane.io/v1alpha1",
                "kind": "Tenant",
                "metadata": {"name": "acme"},
                "spec": {
                    "displayName": "Acme",
                    "email": "owner@acme.io",
                    "clusterTenantRef": "corp",
                    "monthlyBudgetUsd": 12.5,
                    "resources": {"cpu": "500m"},
                    "skillAllowlist": ["search"],
                    "suspended": false
                }
            })
        );
    }

    #[test]
    fn sparse_objects_decode_with_defaults() {
        let object: TenantObject = serde_json::from_value(json!({
            "apiVersion": "opencrane.io/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "acme"},
            "spec": {"email": "o@acme.io", "skillAllowlist": null, "unknownField": 1},
            "status": {"phase": "Running", "ingressHost": "acme.example.com",
                        "conditions": [{"type": "Ready", "status": "True",
                                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
        .unwrap();
        assert_eq!(object.spec.email, "o@acme.io");
        assert!(!object.spec.suspended && object.spec.skill_allowlist.is_empty());
        let status = object.status.unwrap();
        assert_eq!(status.ingress_host.as_deref(), Some("acme.example.com"));
        assert_eq!(status.conditions[0].type_, "Ready");
    }

    #[test]
    fn access_policy_and_cluster_tenant_wire_shape() {
        let policy = AccessPolicySpec {
            description: Some("research".into()),
            subjects: PolicySubjects {
                tenants: vec!["acme".into()],
                groups: vec!["eng".into()],
            },
            datasets: DatasetRules {
                allow: vec!["papers".into()],
                deny: vec!["hr".into()],
            },
            mcp_servers: vec!["github".into()],
            skills: vec!["search".into()],
        };
        assert_eq!(
            serde_json::to_value(&policy).unwrap(),
            json!({
                "description": "research",
                "subjects": {"tenants": ["acme"], "groups": ["eng"]},
                "datasets": {"allow": ["papers"], "deny": ["hr"]},
                "mcpServers": ["github"],
                "skills": ["search"]
            })
        );
        let spec: ClusterTenantSpec = serde_json::from_value(
            json!({"displayName": "Corp", "isolationTier": "dedicatedNodes", "region": "eu-west"}),
        )
        .unwrap();
        assert_eq!(spec.isolation_tier, "dedicatedNodes");
        let status: ClusterTenantStatus =
            serde_json::from_value(json!({"phase": "ready", "boundNamespace": "ct-corp"})).unwrap();
        assert_eq!(status.bound_namespace.as_deref(), Some("ct-corp"));
    }
}
