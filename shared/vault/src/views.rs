//! The vault's API types: what clients send and what they get back, with the
//! validation of each body. Values appear in exactly one type,
//! [`SecretValue`], the answer to an authorised read.

use chrono::{DateTime, Utc};
use cp_http::time::{parse_timestamp, timestamp_schema};
use cp_http::validate::{integer_schema, pattern_string, Validator, TEXT_PATTERN};
use cp_http::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, Schema};
use utoipa::openapi::{RefOr, Type};
use utoipa::ToSchema;

use crate::model::{SecretType, MAX_DESCRIPTION_CHARS, MAX_TAGS, TAG_PATTERN};
use crate::path::SecretPath;
use crate::policy::{Action, ConditionsInput, Effect, Policy, PolicyInput, Principal};

/// A vault name: 1-64 characters of letters, digits, `.`, `_` and `-`.
pub const VAULT_NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";
/// A secret path: `/`-separated segments of letters, digits, `.`, `_` and
/// `-`, none empty, `.` or `..`; at most 512 characters.
pub const SECRET_PATH_PATTERN: &str =
    r"^(?!(.*/)?\.{1,2}(/.*)?$)[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$";
/// A listing prefix: a path, possibly ending with `/`, or nothing.
pub const PREFIX_PATTERN: &str = r"^(?!(.*/)?\.{1,2}(/|$))([A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/?)?$";
/// A path glob: segments of the path alphabet and `*`, `**` only as a
/// whole segment, no empty, `.` or `..` segment.
pub const GLOB_PATTERN: &str = concat!(
    r"^(?!(.*/)?\.{1,2}(/|$))",
    r"(\*\*|(?=[^/])\*?([A-Za-z0-9._-]+\*)*[A-Za-z0-9._-]*)",
    r"(/(\*\*|(?=[^/])\*?([A-Za-z0-9._-]+\*)*[A-Za-z0-9._-]*))*$"
);
/// A source network: an IPv4 or IPv6 address (no embedded IPv4 form), with
/// an optional prefix length (no leading zero).
pub const CIDR_PATTERN: &str = concat!(
    r"^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])){3}",
    r"(/(3[0-2]|[12][0-9]|[0-9]))?",
    r"|(([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|([0-9A-Fa-f]{1,4}:){1,7}:",
    r"|([0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|([0-9A-Fa-f]{1,4}:){1,5}(:[0-9A-Fa-f]{1,4}){1,2}",
    r"|([0-9A-Fa-f]{1,4}:){1,4}(:[0-9A-Fa-f]{1,4}){1,3}|([0-9A-Fa-f]{1,4}:){1,3}(:[0-9A-Fa-f]{1,4}){1,4}",
    r"|([0-9A-Fa-f]{1,4}:){1,2}(:[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(:[0-9A-Fa-f]{1,4}){1,6}",
    r"|:((:[0-9A-Fa-f]{1,4}){1,7}|:))",
    r"(/(12[0-8]|1[01][0-9]|[1-9][0-9]|[0-9]))?)$"
);
/// The longest secret path.
pub const MAX_PATH_CHARS: usize = 512;
/// The longest vault name.
pub const MAX_VAULT_NAME: usize = 64;

/// A vault: its metadata, never its key.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Vault {
    /// Vault id.
    pub id: String,
    /// The organisation it belongs to.
    pub org_id: String,
    /// Name, unique among the organisation's vaults.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Live secrets (soft-deleted ones not counted).
    pub secret_count: i64,
    /// Who holds the master key wrapping the vault's key: `local` (the
    /// `secrets_key` variable) or `aws-kms`.
    pub key_provider: String,
    /// The SHA-256 fingerprint (hex) of the customer key the vault's
    /// clients encrypt values with, when client-side CMEK is on.
    pub cmek_fingerprint: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
}

/// Body of `POST /vaults`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VaultCreate {
    /// The organisation the vault belongs to (its owners and admins create
    /// vaults).
    #[schema(schema_with = org_id_schema)]
    pub org_id: String,
    /// 1-64 characters of letters, digits, `.`, `_` and `-`.
    #[schema(schema_with = vault_name_schema)]
    pub name: String,
    /// At most 1024 characters, no control characters.
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
}

/// A validated [`VaultCreate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidVault {
    /// Canonical organisation id.
    pub org_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
}

impl VaultCreate {
    /// Checks every field, naming each bad one.
    pub fn validate(self) -> Result<ValidVault, ApiError> {
        let mut v = Validator::new();
        let org_id = cp_http::ids::parse_id(&self.org_id);
        if let Err(msg) = &org_id {
            v.error("orgId", msg.clone());
        }
        v.check(
            !self.name.is_empty()
                && self.name.len() <= MAX_VAULT_NAME
                && self
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')),
            "name",
            "must be 1-64 characters of letters, digits, '.', '_' and '-'",
        );
        v.text(
            "description",
            self.description.as_deref(),
            MAX_DESCRIPTION_CHARS,
        );
        v.finish()?;
        Ok(ValidVault {
            org_id: org_id.map(|id| id.to_string()).unwrap_or_default(),
            name: self.name,
            description: self.description,
        })
    }
}

/// A secret's metadata: everything but its value.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretMeta {
    /// Secret id (what shares name).
    pub id: String,
    /// The vault.
    pub vault_id: String,
    /// Its path in the vault.
    pub path: String,
    /// `password`, `api_key`, `private_key`, `ssh_key`, `certificate`,
    /// `note` or `json`.
    #[serde(rename = "type")]
    #[schema(schema_with = secret_type_schema)]
    pub secret_type: String,
    /// What it is.
    pub description: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// When reads start answering 410 (RFC 3339), if ever.
    pub expires_at: Option<String>,
    /// The current (latest) version.
    pub version: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: the latest version's time.
    pub updated_at: String,
    /// Who created it.
    pub created_by: String,
    /// Who wrote the latest version.
    pub updated_by: String,
}

/// An authorised read: the metadata, the version read and its value.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretValue {
    /// Secret id.
    pub id: String,
    /// Its path.
    pub path: String,
    /// Its type.
    #[serde(rename = "type")]
    #[schema(schema_with = secret_type_schema)]
    pub secret_type: String,
    /// The version read.
    pub version: i64,
    /// The value, as it was written (for a CMEK vault, the client's
    /// ciphertext).
    pub value: String,
    /// When it expires, if ever.
    pub expires_at: Option<String>,
    /// For a client-encrypted value (CMEK): the fingerprint of the key that
    /// opens it.
    pub cmek_fingerprint: Option<String>,
}

/// Body of `POST /vaults/{vaultId}/cmek` and `POST .../cmek-rotate`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CmekFingerprintBody {
    /// SHA-256 of the customer's 32-byte key: 64 lowercase hex characters.
    #[schema(schema_with = fingerprint_schema)]
    pub fingerprint: String,
}

/// A CMEK rotation job.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CmekJob {
    /// Job id.
    pub id: String,
    /// The vault.
    pub vault_id: String,
    /// `pending`, `running`, `completed` or `failed`.
    #[schema(schema_with = job_status_schema)]
    pub status: String,
    /// Versions to re-encrypt when the job started.
    pub total: i64,
    /// Versions re-encrypted so far.
    pub processed: i64,
    /// Why it failed (no key material).
    pub error: Option<String>,
    /// The fingerprint of the key it rotates to.
    pub new_fingerprint: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Body of `PUT /vaults/{vaultId}/secrets/{path}`: a new version.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretPut {
    /// The secret's type (it may change between versions).
    #[serde(rename = "type")]
    #[schema(schema_with = secret_type_schema)]
    pub secret_type: String,
    /// The value: at most 65536 bytes of UTF-8; a `json` value must parse
    /// as JSON.
    #[schema(schema_with = value_schema)]
    pub value: String,
    /// At most 1024 characters (absent: unchanged on a new version; null:
    /// removed).
    #[serde(default, deserialize_with = "cp_http::json::present")]
    #[schema(schema_with = description_schema)]
    pub description: Option<Option<String>>,
    /// At most 32 tags of 1-64 characters of `[A-Za-z0-9._:-]` (absent:
    /// unchanged).
    #[serde(default)]
    #[schema(schema_with = tags_schema)]
    pub tags: Option<Vec<String>>,
    /// RFC 3339: reads answer 410 from then on (absent: unchanged; null:
    /// never).
    #[serde(default, deserialize_with = "cp_http::json::present")]
    #[schema(schema_with = expires_schema)]
    pub expires_at: Option<Option<String>>,
}

/// A validated [`SecretPut`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSecretPut {
    /// Type.
    pub secret_type: SecretType,
    /// Value bytes.
    pub value: String,
    /// `None`: keep; `Some(None)`: clear.
    pub description: Option<Option<String>>,
    /// `None`: keep.
    pub tags: Option<Vec<String>>,
    /// `None`: keep; `Some(None)`: never expires.
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

impl SecretPut {
    /// Checks every field, naming each bad one.
    pub fn validate(self) -> Result<ValidSecretPut, ApiError> {
        let secret_type = SecretType::parse(&self.secret_type)
            .map_err(|e| ApiError::validation(vec![e.to_field_error()]))?;
        let description = self.description.clone().flatten();
        // A `json` value is checked once the vault is known: a CMEK vault
        // holds the client's ciphertext, whatever the type.
        let content = if secret_type == SecretType::Json {
            SecretType::Note
        } else {
            secret_type
        };
        crate::model::check_secret(
            content,
            self.value.as_bytes(),
            self.tags.as_deref().unwrap_or_default(),
            description.as_deref(),
        )?;
        let expires_at = match self.expires_at {
            None => None,
            Some(None) => Some(None),
            Some(Some(text)) => Some(Some(parse_timestamp(&text).ok_or_else(|| {
                ApiError::invalid(
                    "expiresAt",
                    "must be an RFC 3339 timestamp such as 2026-11-25T10:00:00Z",
                )
            })?)),
        };
        Ok(ValidSecretPut {
            secret_type,
            value: self.value,
            description: self.description,
            tags: self.tags,
            expires_at,
        })
    }
}

/// One version of a secret (never its value).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersion {
    /// Version number (from 1).
    pub version: i64,
    /// A disabled version cannot be read.
    pub disabled: bool,
    /// Whether it is the latest.
    pub current: bool,
    /// Who wrote it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
}

/// Body of `PATCH /vaults/{vaultId}/versions/{path}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionChange {
    /// The version to change.
    #[serde(deserialize_with = "cp_http::json::whole_number")]
    #[schema(schema_with = version_schema)]
    pub version: i64,
    /// Disable (true) or enable again (false).
    pub disabled: bool,
}

/// A vault policy as clients see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultPolicy {
    /// Policy id.
    pub id: String,
    /// The vault.
    pub vault_id: String,
    /// `{"kind": "user"|"agent", "id": "<uuid>"}` or `{"kind": "group",
    /// "id": "<group name>"}`.
    #[schema(schema_with = principal_schema)]
    pub principal: serde_json::Value,
    /// `read`, `write`, `delete`, `list`, `share`.
    #[schema(schema_with = actions_schema)]
    pub actions: Vec<Action>,
    /// `*` within a segment, `**` across segments.
    pub path_glob: String,
    /// `allow` or `deny`.
    #[schema(schema_with = effect_schema)]
    pub effect: Effect,
    /// Higher wins; deny wins a tie.
    pub priority: i32,
    /// Source networks and a validity window.
    #[schema(schema_with = conditions_schema)]
    pub conditions: serde_json::Value,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl VaultPolicy {
    /// The view of a stored policy.
    pub fn of(policy: &Policy, vault_id: &str, created_micros: i64, updated_micros: i64) -> Self {
        let json = serde_json::to_value(policy).unwrap_or_default();
        Self {
            id: policy.id.to_string(),
            vault_id: vault_id.to_owned(),
            principal: json["principal"].clone(),
            actions: policy.actions.iter().copied().collect(),
            path_glob: policy.path_glob.as_str().to_owned(),
            effect: policy.effect,
            priority: policy.priority,
            conditions: json["conditions"].clone(),
            created_at: cp_http::time::micros_rfc3339(created_micros),
            updated_at: cp_http::time::micros_rfc3339(updated_micros),
        }
    }
}

/// Body of `POST /vaults/{vaultId}/policies` and `PUT .../{policyId}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VaultPolicyInput {
    /// Whom it is about.
    #[schema(schema_with = principal_schema)]
    pub principal: Principal,
    /// At least one of `read`, `write`, `delete`, `list`, `share`.
    #[schema(schema_with = actions_schema)]
    pub actions: Vec<Action>,
    /// `*` matches within one segment, `**` any number of whole segments.
    #[schema(schema_with = glob_schema)]
    pub path_glob: String,
    /// `allow` or `deny`.
    #[schema(schema_with = effect_schema)]
    pub effect: Effect,
    /// Higher wins (default 0).
    #[serde(default, deserialize_with = "cp_http::json::whole_number")]
    #[schema(schema_with = priority_schema)]
    pub priority: i64,
    /// Optional source networks and validity window.
    #[serde(default)]
    #[schema(schema_with = conditions_schema)]
    pub conditions: Option<ConditionsBody>,
}

/// The conditions of a policy body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionsBody {
    /// Networks or addresses.
    #[serde(default)]
    pub source_cidrs: Vec<String>,
    /// RFC 3339, inclusive.
    #[serde(default)]
    pub not_before: Option<String>,
    /// RFC 3339, inclusive.
    #[serde(default)]
    pub not_after: Option<String>,
}

impl VaultPolicyInput {
    /// Checks every field, naming each bad one, into a policy with `id`.
    pub fn validate(self, id: uuid::Uuid) -> Result<Policy, ApiError> {
        let conditions = self.conditions.unwrap_or_default();
        let mut v = Validator::new();
        let mut time = |field: &str, text: &Option<String>| {
            text.as_deref().and_then(|t| {
                let parsed = parse_timestamp(t);
                if parsed.is_none() {
                    v.error(
                        field,
                        "must be an RFC 3339 timestamp such as 2026-11-25T10:00:00Z",
                    );
                }
                parsed
            })
        };
        let not_before = time("conditions.notBefore", &conditions.not_before);
        let not_after = time("conditions.notAfter", &conditions.not_after);
        let priority = i32::try_from(self.priority);
        if priority.is_err() {
            v.error("priority", "must be a 32-bit integer");
        }
        v.finish()?;
        PolicyInput {
            principal: self.principal,
            actions: self.actions,
            path_glob: self.path_glob,
            effect: self.effect,
            priority: priority.unwrap_or_default(),
            conditions: Some(ConditionsInput {
                source_cidrs: conditions.source_cidrs,
                not_before,
                not_after,
            }),
        }
        .validate(id)
    }
}

/// A validated secret path from the `{path}` parameter (a 400 naming
/// `path`).
pub fn secret_path(text: &str) -> Result<SecretPath, ApiError> {
    SecretPath::parse(text).map_err(ApiError::from)
}

// ------------------------------------------------------------------ schemas

fn fingerprint_schema() -> Object {
    let mut s = pattern_string(
        false,
        "^[0-9a-f]{64}$",
        64,
        "SHA-256 of the customer's 32-byte key, 64 lowercase hex characters.",
    );
    s.min_length = Some(64);
    s
}

fn job_status_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["pending", "running", "completed", "failed"]))
        .build()
}

fn org_id_schema() -> Object {
    cp_http::ids::id_schema("The organisation's id.")
}

/// OpenAPI schema of a vault name.
pub fn vault_name_schema() -> Object {
    let mut s = pattern_string(false, VAULT_NAME_PATTERN, MAX_VAULT_NAME, "Vault name.");
    s.min_length = Some(1);
    s
}

/// OpenAPI schema of a secret path.
pub fn secret_path_schema() -> Object {
    let mut s = pattern_string(
        false,
        SECRET_PATH_PATTERN,
        MAX_PATH_CHARS,
        "Secret path: '/'-separated segments of letters, digits, '.', '_' and '-' (no empty, \
         '.' or '..' segment), at most 512 characters. A '/' may be sent as is or as %2F.",
    );
    s.min_length = Some(1);
    s
}

/// OpenAPI schema of `?prefix=`.
pub fn prefix_schema() -> Object {
    pattern_string(
        false,
        PREFIX_PATTERN,
        MAX_PATH_CHARS,
        "Only secrets under this path (whole segments; a trailing '/' excludes the path itself).",
    )
}

fn description_schema() -> Object {
    pattern_string(
        true,
        TEXT_PATTERN,
        MAX_DESCRIPTION_CHARS,
        "At most 1024 characters, no control characters.",
    )
}

fn secret_type_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(SecretType::ALL.iter().map(|t| t.as_str())))
        .description(Some("The secret's type."))
        .build()
}

fn value_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(crate::model::MAX_VALUE_BYTES))
        .description(Some(
            "The value: 1 to 65536 bytes of UTF-8 (maxLength counts characters; the limit is in \
         bytes); a `json` value must parse as JSON.",
        ))
        .build()
}

fn tags_schema() -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(pattern_string(false, TAG_PATTERN, 64, "A tag."))
        .max_items(Some(MAX_TAGS))
        .unique_items(true)
        .description(Some("At most 32 distinct tags."))
        .into()
}

fn expires_schema() -> Object {
    timestamp_schema(
        true,
        "RFC 3339 (upper-case T and Z or an offset); reads answer 410 SECRET_EXPIRED from then on \
         (null: never).",
    )
}

fn version_schema() -> Object {
    integer_schema(false, 1, i64::from(i32::MAX), "A version number.")
}

fn priority_schema() -> Object {
    integer_schema(
        false,
        i64::from(i32::MIN),
        i64::from(i32::MAX),
        "Higher wins (default 0).",
    )
}

fn glob_schema() -> Object {
    let mut s = pattern_string(
        false,
        GLOB_PATTERN,
        MAX_PATH_CHARS,
        "Path glob: `*` within a segment, `**` (a whole segment) across segments.",
    );
    s.min_length = Some(1);
    s
}

fn action_names() -> [&'static str; 5] {
    ["read", "write", "delete", "list", "share"]
}

fn actions_schema() -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(action_names())),
        )
        .min_items(Some(1))
        .description(Some("At least one action."))
        .into()
}

fn effect_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["allow", "deny"]))
        .build()
}

fn principal_schema() -> RefOr<Schema> {
    let by_id = |kind: &str| {
        ObjectBuilder::new()
            .property(
                "kind",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([kind])),
            )
            .required("kind")
            .property("id", cp_http::ids::id_schema("The user's or agent's id."))
            .required("id")
            .build()
    };
    let group = ObjectBuilder::new()
        .property(
            "kind",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["group"])),
        )
        .required("kind")
        .property(
            "id",
            pattern_string(
                false,
                TEXT_PATTERN,
                crate::policy::MAX_GROUP_NAME_CHARS,
                "A group name (catalog groups whose user members are verified emails).",
            ),
        )
        .required("id")
        .build();
    let mut group = group;
    if let Some(RefOr::T(Schema::Object(id))) = group.properties.get_mut("id") {
        id.min_length = Some(1);
    }
    OneOfBuilder::new()
        .item(by_id("user"))
        .item(by_id("agent"))
        .item(group)
        .description(Some("Whom the policy is about."))
        .into()
}

fn conditions_schema() -> Object {
    let time = |d: &str| timestamp_schema(true, d);
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Object,
            Type::Null,
        ]))
        .property(
            "sourceCidrs",
            ArrayBuilder::new()
                .items(pattern_string(
                    false,
                    CIDR_PATTERN,
                    43,
                    "A network (10.0.0.0/8, 2001:db8::/32) or a single address.",
                ))
                .max_items(Some(crate::policy::MAX_SOURCE_CIDRS)),
        )
        .property("notBefore", time("From this instant (inclusive)."))
        .property("notAfter", time("Until this instant (inclusive)."))
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
        ))
        .description(Some("Every condition must hold."))
        .build()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The documented patterns are the server's rules: each sample is
    /// checked against both (the patterns with a regex engine of the
    /// schema's dialect are checked by the spec fuzzer; here their plain
    /// cases against the validators).
    #[test]
    fn cidrs_the_server_accepts_are_the_canonical_spellings() {
        for ok in [
            "10.0.0.0/8",
            "192.0.2.1",
            "0.0.0.0/0",
            "2001:db8::/32",
            "::1",
            "::",
            "fe80::1/128",
        ] {
            assert!(crate::policy::parse_cidr(ok).is_some(), "{ok}");
        }
        for bad in [
            "10.0.0.0/08",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "::ffff:1.2.3.4",
            "10.0.0.0/33",
            "1.2.3",
            "fe80::1%eth0",
        ] {
            assert!(crate::policy::parse_cidr(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn absent_fields_keep_their_values_and_null_clears_them() {
        let put: SecretPut =
            serde_json::from_value(serde_json::json!({"type": "json", "value": "{\"a\":1}"}))
                .unwrap();
        let valid = put.validate().unwrap();
        assert_eq!(valid.description, None);
        assert_eq!(valid.expires_at, None);
        let put: SecretPut = serde_json::from_value(
            serde_json::json!({"type": "json", "value": "{", "expiresAt": null}),
        )
        .unwrap();
        // Whether it parses is decided with the vault (a CMEK vault holds
        // ciphertext): the content check does it.
        let valid = put.validate().unwrap();
        assert!(crate::model::check_value(valid.secret_type, valid.value.as_bytes()).is_err());
        let cleared: SecretPut = serde_json::from_value(
            serde_json::json!({"type": "note", "value": "v", "expiresAt": null, "description": null}),
        )
        .unwrap();
        let cleared = cleared.validate().unwrap();
        assert_eq!(cleared.expires_at, Some(None));
        assert_eq!(cleared.description, Some(None));
    }
}
