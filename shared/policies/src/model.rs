//! The access policy as the API shows it, the request that writes it, its
//! validation, and the projection row.

use cp_http::validate::{
    dataset_name, dns_label, pattern_string, skill_name, Validator, DNS_LABEL_PATTERN,
    SKILL_NAME_PATTERN, TEXT_PATTERN,
};
use cp_http::{time, ApiError};
use cp_kube::{AccessPolicySpec, DatasetRules as SpecDatasetRules, PolicySubjects};
use cp_store::{DbError, FromRow, Row};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, Object, ObjectBuilder, SchemaType, Type,
};
use utoipa::ToSchema;

/// Names a policy cannot have: the literal paths under `/policies/`.
pub const RESERVED_NAMES: &[&str] = &["drift", "repair"];

/// OpenAPI pattern of a policy name: a DNS-1123 label that is not reserved.
pub const POLICY_NAME_PATTERN: &str = "^(?!(drift|repair)$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// OpenAPI pattern of a dataset rule: `*`, a dataset name, or a dataset
/// name prefix ending in `*` ([`dataset_pattern`], `maxLength: 128`).
pub const DATASET_RULE_PATTERN: &str = "^(\\*|[a-z0-9][-a-z0-9_.]*\\*?)$";

/// Largest number of entries in each list of a policy.
pub const MAX_ENTRIES: usize = 200;

/// Longest description.
const MAX_DESCRIPTION: usize = 500;

/// Checks a policy name.
pub fn policy_name(value: &str) -> Result<(), String> {
    dns_label(value)?;
    if RESERVED_NAMES.contains(&value) {
        return Err(format!(
            "'{value}' is reserved (it is a path under /policies/); choose another name"
        ));
    }
    Ok(())
}

/// Checks a dataset rule: `*`, a dataset name, or `prefix*`.
pub fn dataset_pattern(value: &str) -> Result<(), String> {
    if value == "*" {
        return Ok(());
    }
    let name = value.strip_suffix('*').unwrap_or(value);
    if value.len() > 128 || dataset_name(name).is_err() {
        return Err(
            "must be '*', a dataset name (1-128 of a-z, 0-9, '-', '_', '.', starting with a letter \
             or digit), or such a name's prefix followed by '*'"
                .into(),
        );
    }
    Ok(())
}

pub(crate) fn policy_name_schema() -> Object {
    pattern_string(
        false,
        POLICY_NAME_PATTERN,
        63,
        "DNS-1123 label (lowercase letters, digits, '-'); not `drift` or `repair`.",
    )
}

fn list_schema(item: Object, what: &str) -> ArrayBuilder {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(item)
        .max_items(Some(MAX_ENTRIES))
        .unique_items(true)
        .description(Some(format!(
            "{what} (at most {MAX_ENTRIES}, no duplicates)."
        )))
}

fn tenants_schema() -> ArrayBuilder {
    list_schema(
        pattern_string(false, DNS_LABEL_PATTERN, 63, "Tenant name."),
        "Tenants the policy applies to: each name is bound to the live tenant holding it when it is \
         added (a name no live tenant holds is a 400 naming `subjects.tenants[i]`), so a later tenant \
         of the same name is not a subject",
    )
}

fn groups_schema() -> ArrayBuilder {
    list_schema(
        pattern_string(false, DNS_LABEL_PATTERN, 63, "Group name."),
        "Groups whose tenant members the policy applies to",
    )
}

fn dataset_rules_schema(what: &str) -> ArrayBuilder {
    list_schema(
        pattern_string(
            false,
            DATASET_RULE_PATTERN,
            128,
            "`*`, a dataset name, or a name prefix followed by `*`.",
        ),
        what,
    )
}

fn allow_schema() -> ArrayBuilder {
    dataset_rules_schema("Datasets the subjects may join; empty: no restriction from this policy")
}

fn deny_schema() -> ArrayBuilder {
    dataset_rules_schema("Datasets the subjects must not join (deny wins over any allow)")
}

fn mcp_servers_schema() -> ArrayBuilder {
    list_schema(
        pattern_string(false, DNS_LABEL_PATTERN, 63, "MCP server name."),
        "MCP servers the subjects may use",
    )
}

fn skills_schema() -> ArrayBuilder {
    list_schema(
        pattern_string(false, SKILL_NAME_PATTERN, 128, "Skill name."),
        "Skills the subjects may use",
    )
}

fn description_schema() -> Object {
    pattern_string(
        true,
        TEXT_PATTERN,
        MAX_DESCRIPTION,
        "What the policy is for (at most 500 characters, no control characters).",
    )
}

fn object_or_null() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
}

/// Who a policy applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subjects {
    /// Tenant names.
    pub tenants: Vec<String>,
    /// Group names (every tenant member of the group).
    pub groups: Vec<String>,
}

/// Dataset rules: deny wins over allow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetRules {
    /// Patterns of datasets the subjects may join (empty: no restriction).
    pub allow: Vec<String>,
    /// Patterns of datasets the subjects must not join.
    pub deny: Vec<String>,
}

/// An access policy: which tenants and groups may use which datasets, MCP
/// servers and skills. Dual-written as an `AccessPolicy` CRD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Policy name (DNS-1123 label).
    pub name: String,
    /// What the policy is for.
    pub description: Option<String>,
    /// Who it applies to.
    pub subjects: Subjects,
    /// Dataset rules.
    pub datasets: DatasetRules,
    /// MCP servers the subjects may use.
    pub mcp_servers: Vec<String>,
    /// Skills the subjects may use.
    pub skills: Vec<String>,
    /// When the policy was created (RFC 3339).
    pub created_at: String,
    /// When the policy was last written (RFC 3339).
    pub updated_at: String,
}

impl Policy {
    fn of(name: String, spec: &AccessPolicySpec, created_at: String, updated_at: String) -> Self {
        Self {
            name,
            description: spec.description.clone(),
            subjects: Subjects {
                tenants: spec.subjects.tenants.clone(),
                groups: spec.subjects.groups.clone(),
            },
            datasets: DatasetRules {
                allow: spec.datasets.allow.clone(),
                deny: spec.datasets.deny.clone(),
            },
            mcp_servers: spec.mcp_servers.clone(),
            skills: spec.skills.clone(),
            created_at,
            updated_at,
        }
    }
}

/// `subjects` of a request.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubjectsInput {
    /// Tenant names.
    #[schema(schema_with = tenants_schema)]
    pub tenants: Option<Vec<String>>,
    /// Group names.
    #[schema(schema_with = groups_schema)]
    pub groups: Option<Vec<String>>,
}

/// `datasets` of a request.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatasetRulesInput {
    /// Allowed dataset patterns.
    #[schema(schema_with = allow_schema)]
    pub allow: Option<Vec<String>>,
    /// Denied dataset patterns.
    #[schema(schema_with = deny_schema)]
    pub deny: Option<Vec<String>>,
}

fn subjects_schema() -> Object {
    object_or_null()
        .property("tenants", tenants_schema())
        .property("groups", groups_schema())
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .description(Some("Who the policy applies to."))
        .build()
}

fn datasets_schema() -> Object {
    object_or_null()
        .property("allow", allow_schema())
        .property("deny", deny_schema())
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .description(Some("Dataset rules (deny wins over allow)."))
        .build()
}

/// Body of `PUT /policies/{name}`: the whole spec (omitted lists are
/// empty); `POST /policies` adds the required `name` ([`PolicyCreate`]).
/// Unknown fields are rejected, naming them.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = PolicyUpdate)]
pub struct PolicyInput {
    /// Policy name: required on create; on update, if given, it must equal
    /// the path's (documented only on create).
    #[schema(ignore)]
    pub name: Option<String>,
    /// What the policy is for.
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    /// Who the policy applies to.
    #[schema(schema_with = subjects_schema)]
    pub subjects: Option<SubjectsInput>,
    /// Dataset rules.
    #[schema(schema_with = datasets_schema)]
    pub datasets: Option<DatasetRulesInput>,
    /// MCP server names.
    #[schema(schema_with = mcp_servers_schema)]
    pub mcp_servers: Option<Vec<String>>,
    /// Skill names.
    #[schema(schema_with = skills_schema)]
    pub skills: Option<Vec<String>>,
    /// Read-only.
    #[schema(ignore)]
    pub created_at: Option<serde_json::Value>,
    /// Read-only.
    #[schema(ignore)]
    pub updated_at: Option<serde_json::Value>,
}

/// Body of `POST /policies`: `PolicyUpdate` plus the required `name`.
/// Parsed as a [`PolicyInput`]; this type only documents it.
pub struct PolicyCreate;

impl utoipa::PartialSchema for PolicyCreate {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        cp_platform::openapi::create_schema(
            <PolicyInput as utoipa::PartialSchema>::schema(),
            "name",
            policy_name_schema(),
            "Body of `POST /policies`. Unknown fields are rejected, naming them.",
        )
    }
}

impl ToSchema for PolicyCreate {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("PolicyCreate")
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <PolicyInput as ToSchema>::schemas(schemas);
    }
}

/// A validated create or update.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidPolicy {
    /// Policy name.
    pub name: String,
    /// The CRD spec to write.
    pub spec: AccessPolicySpec,
}

fn check_list(
    v: &mut Validator,
    field: &str,
    items: Option<Vec<String>>,
    check: fn(&str) -> Result<(), String>,
) -> Vec<String> {
    let items = items.unwrap_or_default();
    v.check(
        items.len() <= MAX_ENTRIES,
        field,
        format!("must have at most {MAX_ENTRIES} entries"),
    );
    for (i, item) in items.iter().enumerate() {
        if let Err(msg) = check(item) {
            v.error(format!("{field}[{i}]"), msg);
        } else if items[..i].contains(item) {
            v.error(format!("{field}[{i}]"), "is a duplicate");
        }
    }
    items
}

impl PolicyInput {
    /// Validates a create (`path_name` None) or an update of `path_name`.
    pub fn validate(self, path_name: Option<&str>) -> Result<ValidPolicy, ApiError> {
        let mut v = Validator::new();
        v.read_only(&[
            ("createdAt", self.created_at.is_some()),
            ("updatedAt", self.updated_at.is_some()),
        ]);
        let name = v.key("name", path_name, self.name, policy_name);
        v.text("description", self.description.as_deref(), MAX_DESCRIPTION);
        let subjects = self.subjects.unwrap_or_default();
        let datasets = self.datasets.unwrap_or_default();
        let spec = AccessPolicySpec {
            description: self.description.filter(|d| !d.is_empty()),
            subjects: PolicySubjects {
                tenants: check_list(&mut v, "subjects.tenants", subjects.tenants, dns_label),
                groups: check_list(&mut v, "subjects.groups", subjects.groups, dns_label),
            },
            datasets: SpecDatasetRules {
                allow: check_list(&mut v, "datasets.allow", datasets.allow, dataset_pattern),
                deny: check_list(&mut v, "datasets.deny", datasets.deny, dataset_pattern),
            },
            mcp_servers: check_list(&mut v, "mcpServers", self.mcp_servers, dns_label),
            skills: check_list(&mut v, "skills", self.skills, skill_name),
        };
        v.finish()?;
        Ok(ValidPolicy { name, spec })
    }
}

/// A projection row.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRow {
    /// The policy as shown.
    pub policy: Policy,
    /// The projected spec.
    pub spec: AccessPolicySpec,
    /// UID of the CRD.
    pub kube_uid: String,
    /// `resourceVersion` of the CRD at the last write.
    pub kube_resource_version: String,
    /// Creation time in microseconds (the list keyset).
    pub created_micros: i64,
}

impl PolicyRow {
    /// The ETag of this policy.
    pub fn etag(&self) -> String {
        cp_http::etag::for_version(&self.kube_resource_version)
    }
}

/// Decodes a row of the `sql` queries.
impl FromRow for PolicyRow {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let name = row.text("name")?;
        let spec: AccessPolicySpec = serde_json::from_value(row.json("spec")?)
            .map_err(|e| DbError::Decode(format!("spec: {e}")))?;
        let created_micros = row.i64("created_micros")?;
        Ok(Self {
            policy: Policy::of(
                name,
                &spec,
                time::micros_rfc3339(created_micros),
                time::micros_rfc3339(row.i64("updated_micros")?),
            ),
            spec,
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

    fn input(json: serde_json::Value) -> PolicyInput {
        serde_json::from_value(json).unwrap()
    }

    fn fields(err: ApiError) -> Vec<String> {
        err.field_errors().iter().map(|f| f.field.clone()).collect()
    }

    #[test]
    fn a_full_policy_becomes_its_crd_spec() {
        let p = input(serde_json::json!({
            "name": "eng",
            "description": "Engineering",
            "subjects": {"tenants": ["acme"], "groups": ["eng"]},
            "datasets": {"allow": ["sales-*", "hr"], "deny": ["hr"]},
            "mcpServers": ["github"],
            "skills": ["code/review"]
        }))
        .validate(None)
        .unwrap();
        assert_eq!(p.name, "eng");
        assert_eq!(p.spec.subjects.groups, vec!["eng"]);
        assert_eq!(p.spec.datasets.allow, vec!["sales-*", "hr"]);
        assert_eq!(p.spec.skills, vec!["code/review"]);
    }

    #[test]
    fn every_bad_field_is_named() {
        let err = input(serde_json::json!({
            "name": "Drift",
            "subjects": {"tenants": ["ok", "ok"], "groups": ["NO"]},
            "datasets": {"allow": ["*x"], "deny": ["a**"]},
            "mcpServers": ["-x"],
            "skills": ["/bad"],
            "createdAt": "now"
        }))
        .validate(None)
        .unwrap_err();
        assert_eq!(
            fields(err),
            vec![
                "createdAt",
                "name",
                "subjects.tenants[1]",
                "subjects.groups[0]",
                "datasets.allow[0]",
                "datasets.deny[0]",
                "mcpServers[0]",
                "skills[0]"
            ]
        );
    }

    #[test]
    fn names_are_checked_and_immutable() {
        assert!(policy_name("drift").is_err());
        assert!(policy_name("eng").is_ok());
        let err = input(serde_json::json!({"name": "other"}))
            .validate(Some("eng"))
            .unwrap_err();
        assert_eq!(fields(err), vec!["name"]);
        assert_eq!(
            input(serde_json::json!({}))
                .validate(Some("eng"))
                .unwrap()
                .name,
            "eng"
        );
    }

    #[test]
    fn dataset_patterns() {
        for ok in ["*", "sales", "sales-*", "a.b_c*"] {
            assert!(dataset_pattern(ok).is_ok(), "{ok}");
        }
        for bad in ["", "**", "*sales", "Sales", "sa*les", "-x*"] {
            assert!(dataset_pattern(bad).is_err(), "{bad}");
        }
        assert!(dataset_pattern(&"a".repeat(128)).is_ok());
        assert!(dataset_pattern(&format!("{}*", "a".repeat(128))).is_err());
    }
}
