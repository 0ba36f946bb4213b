//! The agents' API types and their validation: what clients send, what they
//! get back. Pure: no database, unit-tested here.

use cp_http::ids::{id_schema, parse_id};
use cp_http::validate::{integer_schema, pattern_string, Validator, TEXT_PATTERN};
use cp_http::ApiError;
use cp_platform::auth::AGENT_SCOPE_AREAS;
use cp_platform::scopes::{self, Scope};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder};
use utoipa::openapi::{RefOr, Schema, Type};
use utoipa::ToSchema;

/// An agent name: 1-64 characters of letters, digits, `.`, `_` and `-`.
pub const AGENT_NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";
/// The longest agent name.
pub const MAX_NAME: usize = 64;
/// The longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Shortest token lifetime, seconds.
pub const MIN_TOKEN_TTL: i64 = 60;
/// Longest token lifetime, seconds (a day).
pub const MAX_TOKEN_TTL: i64 = 86_400;
/// Token lifetime when none is asked for (an hour).
pub const DEFAULT_TOKEN_TTL: i64 = 3_600;
/// Most vaults one agent may use.
pub const MAX_VAULTS: usize = 100;
/// The scopes an agent can hold: read or write its vaults' secrets.
pub const AGENT_SCOPES: [&str; 2] = ["vaults:read", "vaults:write"];
/// Most scope entries in a request (repeats included).
pub const MAX_SCOPES: usize = 8;
/// What a new agent may do when no scopes are named.
pub const DEFAULT_SCOPES: [&str; 1] = ["vaults:read"];
/// How many characters of a key are shown in views (`cpag_` and 7 more).
pub const SHOWN_PREFIX_LEN: usize = 12;

/// An agent: its profile, never its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    /// Agent id (UUIDv7).
    pub id: String,
    /// The organisation it belongs to.
    pub org_id: String,
    /// Unique among the organisation's active agents.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// What it may do in its vaults: `vaults:read`, `vaults:write`.
    pub scopes: Vec<String>,
    /// The vaults it may use (their policies decide which paths).
    pub vault_ids: Vec<String>,
    /// Lifetime of its tokens, seconds.
    pub token_ttl_seconds: i64,
    /// Whether it uses the intents API; then it never reads `private_key`
    /// or `ssh_key` secrets directly.
    pub intents_api_enabled: bool,
    /// `active` or `deactivated`.
    #[schema(schema_with = status_schema)]
    pub status: String,
    /// The first characters of its current API key (none while an
    /// enrolled agent has not collected its key).
    pub key_prefix: Option<String>,
    /// Who registered it (`user:<id>`, `operator`, `access-token:<id>`).
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// When its key was last rotated (RFC 3339).
    pub key_rotated_at: Option<String>,
    /// When it last exchanged its key for a token (RFC 3339).
    pub last_used_at: Option<String>,
    /// When it was deactivated (RFC 3339).
    pub deactivated_at: Option<String>,
}

/// An agent with its API key: the answer to registering it and to rotating
/// its key, the only two times the key is ever shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentWithKey {
    /// The agent.
    #[serde(flatten)]
    pub agent: Agent,
    /// The API key (`cpag_…`): exchange it at `POST /auth/agent-token`. It
    /// is stored only as a SHA-256 digest and never returned again.
    pub api_key: String,
}

/// Body of `POST /agents`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentCreate {
    /// The organisation the agent belongs to (its owners and admins
    /// register agents).
    #[schema(schema_with = org_id_schema)]
    pub org_id: String,
    /// 1-64 characters of letters, digits, `.`, `_` and `-`.
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// At most 1024 characters, no control characters.
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    /// `vaults:read` and/or `vaults:write`; `["vaults:read"]` when absent.
    #[serde(default, deserialize_with = "cp_http::json::present")]
    #[schema(schema_with = scopes_schema)]
    pub scopes: Option<Vec<String>>,
    /// Vaults of the organisation the agent may use; none when absent.
    #[serde(default, deserialize_with = "cp_http::json::present")]
    #[schema(schema_with = vault_ids_schema)]
    pub vault_ids: Option<Vec<String>>,
    /// 60 to 86400; 3600 when absent.
    #[serde(default, deserialize_with = "cp_http::json::opt_whole_number")]
    #[schema(schema_with = ttl_schema)]
    pub token_ttl_seconds: Option<i64>,
    /// Whether the agent uses the intents API; false when absent.
    #[serde(default)]
    pub intents_api_enabled: Option<bool>,
}

/// Body of `PATCH /agents/{agentId}`: the fields to change (absent ones
/// stay; `description: null` clears it).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentPatch {
    /// 1-64 characters of letters, digits, `.`, `_` and `-`.
    #[serde(default, deserialize_with = "cp_http::json::present")]
    #[schema(schema_with = name_schema)]
    pub name: Option<String>,
    /// At most 1024 characters, no control characters; `null` clears it.
    #[serde(default, deserialize_with = "cp_http::json::present")]
    #[schema(schema_with = description_schema)]
    pub description: Option<Option<String>>,
    /// `vaults:read` and/or `vaults:write`.
    #[serde(default, deserialize_with = "cp_http::json::present")]
    #[schema(schema_with = scopes_schema)]
    pub scopes: Option<Vec<String>>,
    /// Vaults of the organisation the agent may use.
    #[serde(default, deserialize_with = "cp_http::json::present")]
    #[schema(schema_with = vault_ids_schema)]
    pub vault_ids: Option<Vec<String>>,
    /// 60 to 86400.
    #[serde(default, deserialize_with = "cp_http::json::opt_whole_number")]
    #[schema(schema_with = ttl_schema)]
    pub token_ttl_seconds: Option<i64>,
    /// Whether the agent uses the intents API.
    #[serde(default)]
    pub intents_api_enabled: Option<bool>,
}

/// What an agent is made of once validated (a new agent, or one after a
/// patch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    /// Canonical organisation id.
    pub org_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Scopes, each one of [`AGENT_SCOPES`], without repeats.
    pub scopes: Vec<String>,
    /// Canonical vault ids, without repeats (their existence in the
    /// organisation is checked against the database).
    pub vault_ids: Vec<String>,
    /// Token lifetime, seconds.
    pub token_ttl_seconds: i64,
    /// Intents API.
    pub intents_api_enabled: bool,
}

impl AgentCreate {
    /// Checks every field, naming each bad one.
    pub fn validate(self) -> Result<AgentSpec, ApiError> {
        let mut v = Validator::new();
        let org_id = parse_id(&self.org_id);
        if let Err(msg) = &org_id {
            v.error("orgId", msg.clone());
        }
        check_name(&mut v, &self.name);
        v.text(
            "description",
            self.description.as_deref(),
            MAX_DESCRIPTION_CHARS,
        );
        let default_scopes = || DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        let scopes = check_scopes(&mut v, self.scopes.unwrap_or_else(default_scopes));
        let vault_ids = check_vault_ids(&mut v, self.vault_ids.unwrap_or_default());
        let ttl = self.token_ttl_seconds.unwrap_or(DEFAULT_TOKEN_TTL);
        check_ttl(&mut v, ttl);
        v.finish()?;
        Ok(AgentSpec {
            org_id: org_id.map(|id| id.to_string()).unwrap_or_default(),
            name: self.name,
            description: self.description,
            scopes,
            vault_ids,
            token_ttl_seconds: ttl,
            intents_api_enabled: self.intents_api_enabled.unwrap_or(false),
        })
    }
}

impl AgentPatch {
    /// The agent `current` with this patch applied, every field checked.
    pub fn apply(self, current: &Agent) -> Result<AgentSpec, ApiError> {
        let mut v = Validator::new();
        let name = self.name.unwrap_or_else(|| current.name.clone());
        check_name(&mut v, &name);
        let description = self
            .description
            .unwrap_or_else(|| current.description.clone());
        v.text("description", description.as_deref(), MAX_DESCRIPTION_CHARS);
        let scopes = check_scopes(
            &mut v,
            self.scopes.unwrap_or_else(|| current.scopes.clone()),
        );
        let vault_ids = check_vault_ids(
            &mut v,
            self.vault_ids.unwrap_or_else(|| current.vault_ids.clone()),
        );
        let ttl = self.token_ttl_seconds.unwrap_or(current.token_ttl_seconds);
        check_ttl(&mut v, ttl);
        v.finish()?;
        Ok(AgentSpec {
            org_id: current.org_id.clone(),
            name,
            description,
            scopes,
            vault_ids,
            token_ttl_seconds: ttl,
            intents_api_enabled: self
                .intents_api_enabled
                .unwrap_or(current.intents_api_enabled),
        })
    }
}

pub(crate) fn check_name(v: &mut Validator, name: &str) {
    v.check(
        !name.is_empty()
            && name.len() <= MAX_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')),
        "name",
        "must be 1-64 characters of letters, digits, '.', '_' and '-'",
    );
}

pub(crate) fn check_scopes(v: &mut Validator, given: Vec<String>) -> Vec<String> {
    if given.len() > MAX_SCOPES {
        v.error("scopes", format!("at most {MAX_SCOPES} entries"));
        return Vec::new();
    }
    let mut scopes = Vec::new();
    for (i, scope) in given.into_iter().enumerate() {
        if agent_scope(&scope).is_none() {
            v.error(
                format!("scopes[{i}]"),
                format!("must be one of {}", AGENT_SCOPES.join(", ")),
            );
        } else if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes
}

/// The scope an agent may hold, parsed; `None` for any other string
/// (access-token scopes such as `*` or `tenants:read` included).
pub fn agent_scope(text: &str) -> Option<Scope> {
    match scopes::parse(text) {
        Ok(scope @ Scope::Area(area, _)) if AGENT_SCOPE_AREAS.contains(&area) => Some(scope),
        _ => None,
    }
}

fn check_vault_ids(v: &mut Validator, given: Vec<String>) -> Vec<String> {
    if given.len() > MAX_VAULTS {
        v.error("vaultIds", format!("at most {MAX_VAULTS} vaults"));
        return Vec::new();
    }
    let mut ids = Vec::new();
    for (i, id) in given.iter().enumerate() {
        match parse_id(id) {
            Ok(id) => {
                let id = id.to_string();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Err(msg) => v.error(format!("vaultIds[{i}]"), msg),
        }
    }
    ids
}

fn check_ttl(v: &mut Validator, ttl: i64) {
    v.check(
        (MIN_TOKEN_TTL..=MAX_TOKEN_TTL).contains(&ttl),
        "tokenTtlSeconds",
        format!("must be between {MIN_TOKEN_TTL} and {MAX_TOKEN_TTL} seconds"),
    );
}

/// Body of `POST /auth/agent-token`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentTokenRequest {
    /// The agent's id.
    #[schema(schema_with = agent_id_schema)]
    pub agent_id: String,
    /// Its API key (`cpag_…`).
    #[schema(schema_with = api_key_schema)]
    pub api_key: String,
}

/// An agent token.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentToken {
    /// The JWT: send it as `Authorization: Bearer <accessToken>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires (the agent's `tokenTtlSeconds`).
    pub expires_in: u64,
    /// The agent.
    pub agent_id: String,
    /// Its organisation.
    pub org_id: String,
    /// What the token carries: the agent's scopes.
    pub scopes: Vec<String>,
    /// The vaults it may use.
    pub vault_ids: Vec<String>,
    /// Whether the agent uses the intents API.
    pub intents_api_enabled: bool,
}

fn org_id_schema() -> Object {
    id_schema("The organisation's id.")
}

fn agent_id_schema() -> Object {
    id_schema("The agent's id.")
}

fn api_key_schema() -> Object {
    let mut s = pattern_string(
        false,
        "^cpag_[A-Za-z0-9_-]{1,200}$",
        205,
        "An agent API key.",
    );
    s.min_length = Some(6);
    s
}

pub(crate) fn name_schema() -> Object {
    let mut s = pattern_string(false, AGENT_NAME_PATTERN, MAX_NAME, "Agent name.");
    s.min_length = Some(1);
    s
}

pub(crate) fn description_schema() -> Object {
    pattern_string(
        true,
        TEXT_PATTERN,
        MAX_DESCRIPTION_CHARS,
        "At most 1024 characters, no control characters.",
    )
}

pub(crate) fn scopes_schema() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(AGENT_SCOPES))
                .build(),
        )))
        .max_items(Some(MAX_SCOPES))
        .description(Some("What the agent may do in its vaults."))
        .build()
}

pub(crate) fn vault_ids_schema() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(RefOr::T(Schema::Object(id_schema("A vault's id."))))
        .max_items(Some(MAX_VAULTS))
        .description(Some("Vaults of the agent's organisation."))
        .build()
}

pub(crate) fn ttl_schema() -> Object {
    integer_schema(
        true,
        MIN_TOKEN_TTL,
        MAX_TOKEN_TTL,
        "Lifetime of the agent's tokens, seconds (null or absent: the default, or unchanged).",
    )
}

fn status_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["active", "deactivated"]))
        .build()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const ORG: &str = "0190a000-0000-7000-8000-000000000001";
    const VAULT: &str = "0190a000-0000-7000-8000-0000000000aa";

    fn create(body: serde_json::Value) -> Result<AgentSpec, ApiError> {
        serde_json::from_value::<AgentCreate>(body)
            .unwrap()
            .validate()
    }

    fn fields(err: ApiError) -> Vec<String> {
        err.field_errors().iter().map(|f| f.field.clone()).collect()
    }

    #[test]
    fn a_minimal_agent_gets_the_defaults() {
        let spec = create(json!({"orgId": ORG, "name": "deploy-bot"})).unwrap();
        assert_eq!(spec.scopes, ["vaults:read"]);
        assert!(spec.vault_ids.is_empty());
        assert_eq!(spec.token_ttl_seconds, DEFAULT_TOKEN_TTL);
        assert!(!spec.intents_api_enabled);
    }

    #[test]
    fn every_bad_field_is_named() {
        let err = create(json!({
            "orgId": "acme", "name": "no spaces", "description": "a\u{7}b",
            "scopes": ["vaults:read", "*", "tenants:read"],
            "vaultIds": [VAULT, "nope"], "tokenTtlSeconds": 59,
        }))
        .unwrap_err();
        assert_eq!(
            fields(err),
            [
                "orgId",
                "name",
                "description",
                "scopes[1]",
                "scopes[2]",
                "vaultIds[1]",
                "tokenTtlSeconds"
            ]
        );
        let err =
            create(json!({"orgId": ORG, "name": "a", "tokenTtlSeconds": 86_401})).unwrap_err();
        assert_eq!(fields(err), ["tokenTtlSeconds"]);
        let many: Vec<String> = (0..=MAX_VAULTS).map(|_| VAULT.to_owned()).collect();
        let err = create(json!({"orgId": ORG, "name": "a", "vaultIds": many})).unwrap_err();
        assert_eq!(fields(err), ["vaultIds"]);
    }

    #[test]
    fn ttl_bounds_are_inclusive_and_repeats_collapse() {
        for ttl in [MIN_TOKEN_TTL, MAX_TOKEN_TTL] {
            assert!(create(json!({"orgId": ORG, "name": "a", "tokenTtlSeconds": ttl})).is_ok());
        }
        // The same id in upper case is the same vault.
        let upper = VAULT.to_uppercase();
        let spec = create(json!({
            "orgId": ORG, "name": "a",
            "scopes": ["vaults:write", "vaults:write"], "vaultIds": [VAULT, upper],
        }))
        .unwrap();
        assert_eq!(spec.scopes, ["vaults:write"]);
        assert_eq!(spec.vault_ids, [VAULT]);
    }

    #[test]
    fn only_vault_scopes_are_agent_scopes() {
        assert!(agent_scope("vaults:read").is_some());
        assert!(agent_scope("vaults:write").is_some());
        for not in ["*", "read", "tenants:write", "agents:read", "vaults", ""] {
            assert!(agent_scope(not).is_none(), "{not}");
        }
    }

    fn current() -> Agent {
        Agent {
            id: "a".into(),
            org_id: ORG.into(),
            name: "bot".into(),
            description: Some("old".into()),
            scopes: vec!["vaults:read".into()],
            vault_ids: vec![VAULT.into()],
            token_ttl_seconds: 600,
            intents_api_enabled: false,
            status: "active".into(),
            key_prefix: Some("cpag_x".into()),
            created_by: "operator".into(),
            created_at: String::new(),
            updated_at: String::new(),
            key_rotated_at: None,
            last_used_at: None,
            deactivated_at: None,
        }
    }

    fn patch(body: serde_json::Value) -> Result<AgentSpec, ApiError> {
        serde_json::from_value::<AgentPatch>(body)
            .unwrap()
            .apply(&current())
    }

    #[test]
    fn a_patch_changes_what_it_names_and_keeps_the_rest() {
        let spec = patch(json!({"intentsApiEnabled": true})).unwrap();
        assert!(spec.intents_api_enabled);
        assert_eq!((spec.name.as_str(), spec.token_ttl_seconds), ("bot", 600));
        assert_eq!(spec.description.as_deref(), Some("old"));
        let spec = patch(json!({"description": null, "vaultIds": []})).unwrap();
        assert_eq!(spec.description, None);
        assert!(spec.vault_ids.is_empty());
        assert_eq!(spec.scopes, ["vaults:read"]);
        let err = patch(json!({"tokenTtlSeconds": 10, "scopes": ["x"]})).unwrap_err();
        assert_eq!(fields(err), ["scopes[0]", "tokenTtlSeconds"]);
        assert!(serde_json::from_value::<AgentPatch>(json!({"orgId": ORG})).is_err());
    }
}
