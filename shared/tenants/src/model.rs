//! The tenant as the API shows it, the requests that change it, their
//! validation, and the mapping to the CRD spec and the projection row.

use std::borrow::Cow;

use cp_http::validate::{
    dns_label, pattern_string, skill_name, Validator, DNS_LABEL_PATTERN, EMAIL_PATTERN,
    SKILL_NAME_PATTERN, TEXT_PATTERN,
};
use cp_http::{time, ApiError};
use cp_kube::{TenantObject, TenantResources, TenantSpec};
use cp_store::{DbError, FromRow, Row};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::lifecycle::State;

/// Label on a Tenant CRD holding the tenant's id, so the CRD (the source of
/// truth) carries it and a repair re-imports the same id.
pub const TENANT_ID_LABEL: &str = "opencrane.io/tenant-id";

/// Label on a Tenant CRD holding the id of its organisation.
pub const ORG_ID_LABEL: &str = "opencrane.io/organization-id";

/// Label on a Tenant CRD holding the user id of its owner (set by the
/// server, never from the editable `email`).
pub const OWNER_ID_LABEL: &str = "opencrane.io/owner-id";

/// Largest accepted monthly budget, in cents (one billion dollars).
const MAX_BUDGET_CENTS: i64 = 100_000_000_000;

/// Names a tenant cannot have: the literal paths under `/tenants/` (a tenant
/// called `drift` could never be read, `GET /tenants/drift` being the drift
/// report), and Kubernetes names it would collide with. A tenant's name is
/// also the name of its Deployment and ServiceAccount in the namespace (pod
/// tokens are minted for that ServiceAccount): `default` is the namespace's
/// default ServiceAccount, `kubernetes` the API server's Service.
pub const RESERVED_NAMES: &[&str] = &["drift", "repair", "default", "kubernetes"];

/// Prefixes a tenant name cannot start with: `kube-` (reserved by
/// Kubernetes for its own objects) and `opencrane-` (this control plane's
/// own ServiceAccount, Secret, Role and Job live in the namespace as
/// `opencrane-control-plane`, `opencrane-migrate`, ...).
pub const RESERVED_PREFIXES: &[&str] = &["kube-", "opencrane-"];

/// OpenAPI pattern of a tenant name: a DNS-1123 label (`maxLength: 63`) that
/// is not one of [`RESERVED_NAMES`] and starts with none of
/// [`RESERVED_PREFIXES`].
pub const TENANT_NAME_PATTERN: &str =
    "^(?!(drift|repair|default|kubernetes)$)(?!(kube|opencrane)-)[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// OpenAPI pattern of a Kubernetes quantity ([`is_quantity`], `maxLength: 24`).
pub const QUANTITY_PATTERN: &str = "^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$";

/// Checks a tenant name: a DNS-1123 label, not reserved.
pub fn tenant_name(value: &str) -> Result<(), String> {
    dns_label(value)?;
    if RESERVED_NAMES.contains(&value) {
        return Err(format!(
            "'{value}' is reserved (a path under /tenants/, or a Kubernetes name the tenant's \
             Deployment and ServiceAccount would collide with); choose another name"
        ));
    }
    if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| value.starts_with(*p)) {
        return Err(format!(
            "names starting with '{prefix}' are reserved (Kubernetes and this control plane \
             name their own objects so); choose another name"
        ));
    }
    Ok(())
}

pub(crate) fn tenant_name_schema() -> Object {
    pattern_string(
        false,
        TENANT_NAME_PATTERN,
        63,
        "DNS-1123 label (lowercase letters, digits, '-'); not `drift`, `repair`, `default` or \
         `kubernetes`, and not starting with `kube-` or `opencrane-`.",
    )
}

fn display_name_schema() -> Object {
    pattern_string(
        true,
        TEXT_PATTERN,
        200,
        "Name shown in consoles (at most 200 characters, no control characters).",
    )
}

fn email_schema() -> Object {
    pattern_string(false, EMAIL_PATTERN, 254, "Owner's email (required).")
}

fn owner_id_schema() -> Object {
    pattern_string(
        true,
        cp_http::ids::UUID_PATTERN,
        36,
        "User id (UUID) of the owner; set by the server unless an operator assigns it.",
    )
}

fn team_schema() -> Object {
    pattern_string(
        true,
        TEXT_PATTERN,
        100,
        "Team (at most 100 characters, no control characters).",
    )
}

fn cluster_tenant_ref_schema() -> Object {
    pattern_string(true, DNS_LABEL_PATTERN, 63, "Parent ClusterTenant name.")
}

fn policy_ref_schema() -> Object {
    pattern_string(true, DNS_LABEL_PATTERN, 63, "AccessPolicy name.")
}

fn quantity_schema() -> Object {
    pattern_string(
        true,
        QUANTITY_PATTERN,
        24,
        "Kubernetes quantity such as `500m`, `2`, `1Gi` or `10G`.",
    )
}

fn budget_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Number, Type::Null]))
        .minimum(Some(0))
        .maximum(Some(1_000_000_000))
        .multiple_of(Some(0.01))
        .description(Some(
            "Monthly AI budget in US dollars, 0 to 1000000000, at most two decimals.",
        ))
        .build()
}

fn skill_allowlist_schema() -> ArrayBuilder {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(pattern_string(
            false,
            SKILL_NAME_PATTERN,
            128,
            "Skill name.",
        ))
        .max_items(Some(200))
        .unique_items(true)
        .description(Some(
            "Skill names (at most 200, no duplicates): 1-128 of a-z, 0-9, '-', '_', '.', '/', \
             starting with a letter or digit.",
        ))
}

/// A tenant (agent pod).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// Stable id (UUIDv7), used by `/organizations/{orgId}/tenants/{tenantId}`.
    pub id: String,
    /// DNS-1123 name; also the CRD's and the Deployment's name.
    pub name: String,
    /// The organisation the tenant belongs to (null: a platform tenant,
    /// managed by operators only).
    pub organization_id: Option<String>,
    /// Lifecycle state (read-only; see suspend, resume, decommission).
    pub state: State,
    /// Name shown in consoles.
    pub display_name: Option<String>,
    /// Contact email (a label: it identifies no one; `ownerId` does).
    pub email: String,
    /// The owning user's id: the user who created the tenant, or whom an
    /// operator assigned. Pod tokens and per-account budget ceilings
    /// follow it. Null for a platform tenant no user owns.
    pub owner_id: Option<String>,
    /// Team.
    pub team: Option<String>,
    /// Parent ClusterTenant.
    pub cluster_tenant_ref: Option<String>,
    /// Monthly AI budget in US dollars (exact to the cent).
    #[schema(value_type = Option<f64>)]
    pub monthly_budget_usd: Option<serde_json::Number>,
    /// Resource requests of the pod.
    pub resources: Resources,
    /// Skills the tenant may use.
    pub skill_allowlist: Vec<String>,
    /// Bound AccessPolicy.
    pub policy_ref: Option<String>,
    /// Lifecycle phase (read-only): `Pending`, `Running`, `Suspended`, ...
    pub phase: String,
    /// Whether the pod is scaled to zero (read-only: `state` is
    /// `suspended`; use suspend/resume).
    pub suspended: bool,
    /// Host the pod is served on, once assigned (read-only).
    pub ingress_host: Option<String>,
    /// Creation time (read-only).
    pub created_at: String,
    /// Last change (read-only).
    pub updated_at: String,
    /// When it was decommissioned (read-only; null unless `state` is
    /// `decommissioned`).
    pub decommissioned_at: Option<String>,
}

/// Kubernetes resource quantities of the tenant's pod.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// CPU, e.g. `500m`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = quantity_schema)]
    pub cpu: Option<String>,
    /// Memory, e.g. `1Gi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = quantity_schema)]
    pub memory: Option<String>,
    /// Storage, e.g. `10Gi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = quantity_schema)]
    pub storage: Option<String>,
}

/// Body of `PUT /tenants/{name}` (and, with `name`, of `POST /tenants`: see
/// [`TenantCreate`]).
///
/// Unknown fields are rejected (naming the field) so typos never pass
/// silently; read-only fields are rejected with "is read-only".
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = TenantUpdate)]
pub struct TenantInput {
    /// Required on create; on PUT it may be present only if equal to the
    /// path (so a read tenant can be sent back), hence not documented there.
    #[schema(ignore)]
    pub name: Option<String>,
    /// Name shown in consoles (at most 200 characters).
    #[schema(schema_with = display_name_schema)]
    pub display_name: Option<String>,
    /// Contact email (required).
    #[schema(schema_with = email_schema, required = true)]
    pub email: Option<String>,
    /// The owning user's id. Users may only name themselves, on create
    /// (the default); operators assign any existing user. Omitted on a
    /// PUT: unchanged.
    #[schema(schema_with = owner_id_schema)]
    pub owner_id: Option<String>,
    /// Team (at most 100 characters).
    #[schema(schema_with = team_schema)]
    pub team: Option<String>,
    /// Parent ClusterTenant name.
    #[schema(schema_with = cluster_tenant_ref_schema)]
    pub cluster_tenant_ref: Option<String>,
    /// Monthly AI budget in US dollars, at most two decimals.
    #[schema(schema_with = budget_schema)]
    pub monthly_budget_usd: Option<serde_json::Number>,
    /// Resource quantities.
    #[schema(nullable)]
    pub resources: Option<Resources>,
    /// Skill names.
    #[schema(schema_with = skill_allowlist_schema)]
    pub skill_allowlist: Option<Vec<String>>,
    /// AccessPolicy name.
    #[schema(schema_with = policy_ref_schema)]
    pub policy_ref: Option<String>,
    /// Read-only.
    #[schema(ignore)]
    pub phase: Option<serde_json::Value>,
    /// Read-only (use suspend/resume).
    #[schema(ignore)]
    pub suspended: Option<serde_json::Value>,
    /// Read-only.
    #[schema(ignore)]
    pub ingress_host: Option<serde_json::Value>,
    /// Read-only.
    #[schema(ignore)]
    pub created_at: Option<serde_json::Value>,
    /// Read-only.
    #[schema(ignore)]
    pub updated_at: Option<serde_json::Value>,
    /// Read-only.
    #[schema(ignore)]
    pub id: Option<serde_json::Value>,
    /// Read-only (set by the route a tenant is created through).
    #[schema(ignore)]
    pub organization_id: Option<serde_json::Value>,
    /// Read-only (use suspend/resume/decommission).
    #[schema(ignore)]
    pub state: Option<serde_json::Value>,
    /// Read-only.
    #[schema(ignore)]
    pub decommissioned_at: Option<serde_json::Value>,
}

/// Body of `POST /tenants`: the fields of `TenantUpdate` plus the required
/// `name`. Parsed as a [`TenantInput`]; this type only documents it, derived
/// from `TenantUpdate`'s schema so the two cannot drift apart.
pub struct TenantCreate;

impl PartialSchema for TenantCreate {
    fn schema() -> RefOr<Schema> {
        cp_platform::openapi::create_schema(
            <TenantInput as PartialSchema>::schema(),
            "name",
            tenant_name_schema(),
            "Body of `POST /tenants`.\n\nUnknown fields are rejected (naming the field) so \
             typos never pass silently; read-only fields are rejected with \"is read-only\".",
        )
    }
}

impl ToSchema for TenantCreate {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TenantCreate")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <TenantInput as ToSchema>::schemas(schemas);
    }
}

/// A validated create or update.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTenant {
    /// Tenant name.
    pub name: String,
    /// Desired spec (without `suspended`, which only suspend/resume change).
    pub spec: TenantSpec,
    /// Budget in cents, the exact value stored.
    pub budget_cents: Option<i64>,
    /// The owner the request names (canonical id), if it names one.
    pub owner_id: Option<String>,
}

impl TenantInput {
    /// Validates a create (`path_name` None) or an update of `path_name`.
    pub fn validate(self, path_name: Option<&str>) -> Result<ValidTenant, ApiError> {
        let mut v = Validator::new();
        v.read_only(&[
            ("phase", self.phase.is_some()),
            ("suspended", self.suspended.is_some()),
            ("ingressHost", self.ingress_host.is_some()),
            ("createdAt", self.created_at.is_some()),
            ("updatedAt", self.updated_at.is_some()),
            ("id", self.id.is_some()),
            ("organizationId", self.organization_id.is_some()),
            ("state", self.state.is_some()),
            ("decommissionedAt", self.decommissioned_at.is_some()),
        ]);
        let name = v.key("name", path_name, self.name, tenant_name);
        let email = self.email.unwrap_or_default();
        if email.is_empty() {
            v.error("email", "is required");
        } else {
            v.email("email", &email);
        }
        let owner_id = match self.owner_id.as_deref().map(cp_http::ids::parse_id) {
            None => None,
            Some(Ok(id)) => Some(id.to_string()),
            Some(Err(_)) => {
                v.error("ownerId", "must be a user id (UUID)");
                None
            }
        };
        v.text("displayName", self.display_name.as_deref(), 200);
        v.text("team", self.team.as_deref(), 100);
        for (field, value) in [
            ("clusterTenantRef", &self.cluster_tenant_ref),
            ("policyRef", &self.policy_ref),
        ] {
            if let Some(r) = value {
                if let Err(msg) = dns_label(r) {
                    v.error(field, msg);
                }
            }
        }
        let budget_cents = match &self.monthly_budget_usd {
            None => None,
            Some(n) => match dollars_to_cents(n) {
                Ok(c) => Some(c),
                Err(msg) => {
                    v.error("monthlyBudgetUsd", msg);
                    None
                }
            },
        };
        let resources = self.resources.unwrap_or_default();
        for (field, q) in [
            ("resources.cpu", &resources.cpu),
            ("resources.memory", &resources.memory),
            ("resources.storage", &resources.storage),
        ] {
            if let Some(q) = q {
                v.check(
                    is_quantity(q),
                    field,
                    "must be a Kubernetes quantity such as 500m, 2, 1Gi or 10G",
                );
            }
        }
        let skills = self.skill_allowlist.unwrap_or_default();
        v.check(
            skills.len() <= 200,
            "skillAllowlist",
            "must have at most 200 entries",
        );
        for (i, s) in skills.iter().enumerate() {
            if let Err(msg) = skill_name(s) {
                v.error(format!("skillAllowlist[{i}]"), msg);
            } else if skills[..i].contains(s) {
                v.error(format!("skillAllowlist[{i}]"), "is a duplicate");
            }
        }
        v.finish()?;
        let has_resources = resources != Resources::default();
        Ok(ValidTenant {
            spec: TenantSpec {
                display_name: self.display_name.unwrap_or_default(),
                email,
                team: self.team,
                cluster_tenant_ref: self.cluster_tenant_ref,
                monthly_budget_usd: budget_cents.map(cents_to_f64),
                resources: has_resources.then_some(TenantResources {
                    cpu: resources.cpu,
                    memory: resources.memory,
                    storage: resources.storage,
                }),
                skill_allowlist: skills,
                policy_ref: self.policy_ref,
                suspended: false,
            },
            name,
            budget_cents,
            owner_id,
        })
    }
}

/// Parses a dollar amount into exact cents (at most two decimals, 0 to one
/// billion). Works on the number's decimal text, never on float arithmetic.
pub fn dollars_to_cents(n: &serde_json::Number) -> Result<i64, String> {
    const MSG: &str = "must be a number of dollars from 0 to 1000000000 with at most 2 decimals";
    let text = n.to_string();
    if let Some(magnitude) = text.strip_prefix('-') {
        // Negative zero (`-0`, `-0.0`) is zero; anything else below it is not a budget.
        return if magnitude.bytes().all(|b| matches!(b, b'0' | b'.')) {
            Ok(0)
        } else {
            Err(MSG.into())
        };
    }
    if text.contains(['e', 'E']) {
        // Exponent notation (1e3): accept only exact whole-cent values.
        let f = n.as_f64().ok_or(MSG)?;
        let cents = (f * 100.0).round();
        if (f * 100.0 - cents).abs() > 1e-6 || !(0.0..=MAX_BUDGET_CENTS as f64).contains(&cents) {
            return Err(MSG.into());
        }
        return Ok(cents as i64);
    }
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    if frac.len() > 2 || whole.is_empty() || whole.len() > 12 {
        return Err(MSG.into());
    }
    let whole: i64 = whole.parse().map_err(|_| MSG)?;
    let frac_cents: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().map_err(|_| MSG)? * 10,
        _ => frac.parse::<i64>().map_err(|_| MSG)?,
    };
    let cents = whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac_cents))
        .ok_or(MSG)?;
    if cents > MAX_BUDGET_CENTS {
        return Err(MSG.into());
    }
    Ok(cents)
}

/// Cents as a JSON number with exactly the cents' decimal digits.
pub fn cents_to_number(cents: i64) -> serde_json::Number {
    let text = format!("{}.{:02}", cents / 100, cents % 100);
    serde_json::from_str(&text).unwrap_or_else(|_| serde_json::Number::from(cents / 100))
}

/// Cents as the CRD's float field (display only; never computed with).
pub fn cents_to_f64(cents: i64) -> f64 {
    cents_to_number(cents).as_f64().unwrap_or(0.0)
}

/// A Kubernetes quantity: digits with optional fraction, then an optional
/// SI or binary suffix (`500m`, `0.5`, `1Gi`, `10G`), at most 24 characters
/// in all ([`QUANTITY_PATTERN`]).
pub fn is_quantity(q: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ];
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let num_ok = !num.is_empty()
        && q.len() <= 24
        && num.matches('.').count() <= 1
        && !num.starts_with('.')
        && !num.ends_with('.');
    num_ok && SUFFIXES.contains(&suffix)
}

/// The phase the projection shows: a suspended tenant is `Suspended` at once
/// (the operator may not have caught up); otherwise what the operator
/// reported, or `Pending` before it reported anything.
pub fn projected_phase(obj: &TenantObject) -> String {
    if obj.spec.suspended {
        return "Suspended".into();
    }
    obj.status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .filter(|p| p != "Suspended")
        .unwrap_or_else(|| "Pending".into())
}

/// The budget of a CRD spec in cents (the CRD stores a float).
pub fn spec_budget_cents(spec: &TenantSpec) -> Option<i64> {
    spec.monthly_budget_usd.map(|f| (f * 100.0).round() as i64)
}

/// A projection row as read back from PostgreSQL.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRow {
    /// The API view.
    pub tenant: Tenant,
    /// Lifecycle state (also in the view).
    pub state: State,
    /// Budget in cents.
    pub budget_cents: Option<i64>,
    /// UID of the projected CRD.
    pub kube_uid: String,
    /// resourceVersion of the projected CRD (the ETag).
    pub kube_resource_version: String,
    /// Creation time in microseconds (keyset cursor).
    pub created_micros: i64,
}

impl TenantRow {
    /// The ETag of this tenant.
    pub fn etag(&self) -> String {
        cp_http::etag::for_version(&self.kube_resource_version)
    }
}

/// Decodes a row of [`crate::sql::SELECT_COLUMNS`].
impl FromRow for TenantRow {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let budget_cents = row.opt_i64("monthly_budget_cents")?;
        let resources: Resources = serde_json::from_value(row.json("resources")?)
            .map_err(|e| DbError::Decode(format!("resources: {e}")))?;
        let skill_allowlist: Vec<String> = serde_json::from_value(row.json("skill_allowlist")?)
            .map_err(|e| DbError::Decode(format!("skill_allowlist: {e}")))?;
        let created_micros = row.i64("created_micros")?;
        let stored = row.text("state")?;
        let state = State::parse(&stored)
            .ok_or_else(|| DbError::Decode(format!("state: unknown {stored:?}")))?;
        Ok(Self {
            state,
            tenant: Tenant {
                id: row.text("id")?,
                name: row.text("name")?,
                organization_id: row.opt_text("org_id")?,
                state,
                display_name: row.opt_text("display_name")?,
                email: row.text("email")?,
                owner_id: row.opt_text("owner_id")?,
                team: row.opt_text("team")?,
                cluster_tenant_ref: row.opt_text("cluster_tenant_ref")?,
                monthly_budget_usd: budget_cents.map(cents_to_number),
                resources,
                skill_allowlist,
                policy_ref: row.opt_text("policy_ref")?,
                phase: row.text("phase")?,
                suspended: state == State::Suspended,
                ingress_host: row.opt_text("ingress_host")?,
                created_at: time::micros_rfc3339(created_micros),
                updated_at: time::micros_rfc3339(row.i64("updated_micros")?),
                decommissioned_at: row
                    .opt_i64("decommissioned_micros")?
                    .map(time::micros_rfc3339),
            },
            budget_cents,
            kube_uid: row.text("kube_uid")?,
            kube_resource_version: row.text("kube_resource_version")?,
            created_micros,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn num(s: &str) -> serde_json::Number {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn money_is_exact() {
        assert_eq!(dollars_to_cents(&num("12.34")), Ok(1234));
        assert_eq!(dollars_to_cents(&num("0.1")), Ok(10));
        assert_eq!(dollars_to_cents(&num("100")), Ok(10000));
        assert_eq!(dollars_to_cents(&num("1e3")), Ok(100000));
        assert_eq!(dollars_to_cents(&num("1000000000")), Ok(100_000_000_000));
        // Negative zero is zero (a generator's -0.0 is a valid `minimum: 0`).
        assert_eq!(dollars_to_cents(&num("-0.0")), Ok(0));
        assert_eq!(dollars_to_cents(&num("-0")), Ok(0));
        for bad in ["-1", "-0.01", "0.001", "1000000000.01", "1e20", "12.345"] {
            assert!(dollars_to_cents(&num(bad)).is_err(), "{bad}");
        }
        assert_eq!(cents_to_number(1234).to_string(), "12.34");
        assert_eq!(cents_to_number(5).to_string(), "0.05");
        assert_eq!(
            spec_budget_cents(&TenantSpec {
                monthly_budget_usd: Some(cents_to_f64(1999)),
                ..TenantSpec::default()
            }),
            Some(1999)
        );
    }

    #[test]
    fn quantities() {
        for ok in ["500m", "2", "0.5", "1Gi", "10G", "128Mi"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "Gi", "1.2.3", "1GB", "-1", ".5", "1 Gi"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    fn input(json: &str) -> TenantInput {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn create_validation_names_every_bad_field() {
        let err = input(
            r#"{"name":"Bad_Name","email":"nope","monthlyBudgetUsd":-5,
            "resources":{"cpu":"lots"},"skillAllowlist":["ok","ok","BAD"],"phase":"Running"}"#,
        )
        .validate(None)
        .unwrap_err();
        let fields: Vec<_> = err.field_errors().iter().map(|f| f.field.clone()).collect();
        assert_eq!(
            fields,
            vec![
                "phase",
                "name",
                "email",
                "monthlyBudgetUsd",
                "resources.cpu",
                "skillAllowlist[1]",
                "skillAllowlist[2]"
            ]
        );
        let err = input(r#"{}"#).validate(None).unwrap_err();
        let fields: Vec<_> = err.field_errors().iter().map(|f| f.field.clone()).collect();
        assert_eq!(fields, vec!["name", "email"]);
    }

    #[test]
    fn update_keeps_path_name() {
        let ok = input(r#"{"email":"a@b.co","monthlyBudgetUsd":19.99}"#)
            .validate(Some("acme"))
            .unwrap();
        assert_eq!(ok.name, "acme");
        assert_eq!(ok.budget_cents, Some(1999));
        let err = input(r#"{"name":"other","email":"a@b.co"}"#)
            .validate(Some("acme"))
            .unwrap_err();
        assert_eq!(err.field_errors()[0].field, "name");
    }

    #[test]
    fn reserved_names_and_control_characters_are_refused() {
        let prefixed: Vec<String> = RESERVED_PREFIXES
            .iter()
            .map(|p| format!("{p}system"))
            .collect();
        let reserved = RESERVED_NAMES
            .iter()
            .map(|n| (*n).to_owned())
            .chain(prefixed);
        for reserved in reserved {
            let body = format!(r#"{{"name":"{reserved}","email":"a@b.co"}}"#);
            let err = input(&body).validate(None).unwrap_err();
            assert_eq!(err.field_errors()[0].field, "name", "{reserved}");
        }
        for fine in [
            "kube",
            "kubernetes-lab",
            "defaults",
            "opencrane",
            "my-kube-x",
        ] {
            let body = format!(r#"{{"name":"{fine}","email":"a@b.co"}}"#);
            assert!(input(&body).validate(None).is_ok(), "{fine}");
        }
        // The OpenAPI pattern refuses exactly what the validator refuses.
        let prefixes: Vec<&str> = RESERVED_PREFIXES
            .iter()
            .map(|p| p.trim_end_matches('-'))
            .collect();
        assert_eq!(
            TENANT_NAME_PATTERN,
            format!(
                "^(?!({})$)(?!({})-)[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                RESERVED_NAMES.join("|"),
                prefixes.join("|")
            )
        );
        // PostgreSQL text cannot hold NUL: refused as a 400, not a 500.
        let err =
            input(r#"{"name":"a","email":"a@b.co","displayName":"x\u0000y","team":"\u001b"}"#)
                .validate(None)
                .unwrap_err();
        let fields: Vec<_> = err.field_errors().iter().map(|f| f.field.clone()).collect();
        assert_eq!(fields, vec!["displayName", "team"]);
        assert!(
            input(r#"{"name":"a","email":"a@b.co","displayName":"Ünïcode ✓"}"#)
                .validate(None)
                .is_ok()
        );
    }

    #[test]
    fn create_schema_is_the_update_schema_plus_a_required_name() {
        let create = serde_json::to_value(TenantCreate::schema()).unwrap();
        let update = serde_json::to_value(<TenantInput as PartialSchema>::schema()).unwrap();
        assert_eq!(TenantInput::name(), "TenantUpdate");
        assert_eq!(create["required"], serde_json::json!(["name", "email"]));
        assert_eq!(update["required"], serde_json::json!(["email"]));
        assert_eq!(create["properties"]["name"]["pattern"], TENANT_NAME_PATTERN);
        assert!(update["properties"].get("name").is_none());
        let mut without_name = create["properties"].as_object().unwrap().clone();
        without_name.remove("name");
        assert_eq!(
            serde_json::Value::Object(without_name),
            update["properties"]
        );
        assert_eq!(create["additionalProperties"], false);
    }
}
