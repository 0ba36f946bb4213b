//! Request bodies with their validation (every problem at once, each naming
//! its field, e.g. `grants[2].name`) and the views the API returns.

use std::borrow::Cow;
use std::collections::HashSet;

use cp_http::validate::Validator;
use cp_http::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::schema::{self, *};

/// What [`is_http_url`] accepts, for validation messages.
const URL_RULE: &str = "must be an http:// or https:// URL of at most 2048 characters: an ASCII \
    host name or IPv4 address (an internationalised name in its xn-- form; no user info, no \
    IPv6 literal), an optional port, then no spaces or control characters";

/// An `http(s)://` URL as [`URL_PATTERN`] describes it. The host is what
/// every URL parser agrees on, so a stored endpoint never fails to parse
/// where it is used.
pub fn is_http_url(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let host_char = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=%".contains(c);
    s.chars().count() <= URL_MAX
        && !host.is_empty()
        && host.chars().all(host_char)
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        && !tail.chars().any(|c| c.is_control() || c == ' ')
}

/// A stdio command line as [`COMMAND_PATTERN`] describes it.
pub fn is_command(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c != ' ')
        && !s.chars().any(char::is_control)
        && s.chars().count() <= COMMAND_MAX
}

/// An awareness scope ([`SCOPE_PATTERN`]).
pub fn is_scope(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'.' | b'_' | b':' | b'/' | b'*' | b'-')
        })
}

/// A DNS-1123 subdomain as Kubernetes checks object names: at most 253
/// characters in all, labels of `[a-z0-9-]` with alphanumeric ends (no
/// per-label limit, like `IsDNS1123Subdomain`).
fn is_secret_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

fn is_secret_key(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Non-empty text without control characters, at most `max` characters.
fn title(v: &mut Validator, field: &str, value: Option<&str>, max: usize) -> String {
    match value {
        None => v.error(field, "is required"),
        Some("") => v.error(field, "must not be empty"),
        Some(s) => v.text(field, Some(s), max),
    }
    value.unwrap_or_default().to_owned()
}

fn required_label(v: &mut Validator, field: &str, value: Option<&str>) -> String {
    match value {
        None => v.error(field, "is required"),
        Some(s) => v.dns_label(field, s),
    }
    value.unwrap_or_default().to_owned()
}

fn one_of(v: &mut Validator, field: &str, value: Option<&str>, allowed: &[&str]) -> String {
    match value {
        None => v.error(field, "is required"),
        Some(s) if !allowed.contains(&s) => {
            v.error(field, format!("must be one of: {}", allowed.join(", ")))
        }
        Some(_) => {}
    }
    value.unwrap_or_default().to_owned()
}

fn max_items<T>(v: &mut Validator, field: &str, items: &[T], max: usize) {
    v.check(
        items.len() <= max,
        field,
        format!("must have at most {max} entries"),
    );
}

// ---------------------------------------------------------------- MCP servers

/// Transports of an MCP server.
pub const TRANSPORTS: &[&str] = &["stdio", "sse", "streamable-http"];

/// One grant: who may use a server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = McpServerGrant)]
pub struct Grant {
    /// `tenant` or `group`.
    #[schema(schema_with = grant_kind_schema)]
    pub kind: String,
    /// The tenant or group name.
    pub name: String,
}

fn grant_kind_schema() -> utoipa::openapi::schema::Object {
    enum_string(&["tenant", "group"], "`tenant` or `group`.")
}

/// A Kubernetes Secret reference.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = McpSecretRef)]
pub struct SecretRef {
    /// Secret name.
    pub name: String,
    /// Key in the Secret.
    pub key: String,
}

/// A credential in a request (see [`crate::schema::credential_input`]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialInput {
    display_name: Option<String>,
    brokering_mode: Option<String>,
    #[serde(default, deserialize_with = "cp_http::json::present")]
    secret_ref: Option<Option<SecretRef>>,
    /// Taken as any JSON value so a wrongly typed secret is never echoed
    /// in serde's error message.
    #[serde(default, deserialize_with = "cp_http::json::present")]
    value: Option<serde_json::Value>,
}

impl PartialSchema for CredentialInput {
    fn schema() -> RefOr<Schema> {
        schema::credential_input().into()
    }
}

impl ToSchema for CredentialInput {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("McpCredentialInput")
    }
}

/// A validated credential, its value still in plaintext (sealed by the service).
#[derive(Clone, PartialEq, Eq)]
pub struct ValidCredential {
    /// Display name.
    pub display_name: String,
    /// `static` or `obo`.
    pub brokering_mode: String,
    /// Secret reference.
    pub secret_ref: Option<SecretRef>,
    /// Inline value (never logged: no Debug).
    pub value: Option<String>,
}

impl std::fmt::Debug for ValidCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidCredential")
            .field("display_name", &self.display_name)
            .field("brokering_mode", &self.brokering_mode)
            .field("secret_ref", &self.secret_ref)
            .field("value", &self.value.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl CredentialInput {
    /// Validates into `v`, fields prefixed with `at` (`credentials[0]` or empty).
    pub fn check(self, v: &mut Validator, at: &str) -> ValidCredential {
        let f = |name: &str| {
            if at.is_empty() {
                name.to_owned()
            } else {
                format!("{at}.{name}")
            }
        };
        let display_name = title(
            v,
            &f("displayName"),
            self.display_name.as_deref(),
            TITLE_MAX,
        );
        let mode = one_of(
            v,
            &f("brokeringMode"),
            self.brokering_mode.as_deref(),
            &["static", "obo"],
        );
        if matches!(self.secret_ref, Some(None)) {
            v.error(f("secretRef"), "must be an object with name and key");
        }
        let secret_ref = self.secret_ref.flatten();
        if let Some(r) = &secret_ref {
            v.check(
                is_secret_name(&r.name),
                f("secretRef.name"),
                "must be a Kubernetes Secret name (DNS-1123 subdomain, at most 253 characters)",
            );
            v.check(
                is_secret_key(&r.key),
                f("secretRef.key"),
                "must be 1-253 of a-z, A-Z, 0-9, '-', '_', '.'",
            );
        }
        let value_mistyped = matches!(&self.value, Some(x) if !x.is_string());
        let value = match self.value {
            None => None,
            Some(serde_json::Value::String(s)) => {
                if s.is_empty() {
                    v.error(f("value"), "must not be empty");
                } else if s.chars().count() > VALUE_MAX {
                    v.error(
                        f("value"),
                        format!("must be at most {VALUE_MAX} characters"),
                    );
                }
                Some(s)
            }
            Some(_) => {
                v.error(f("value"), "must be a string");
                None
            }
        };
        match mode.as_str() {
            "static" => match (&secret_ref, &value) {
                (Some(_), Some(_)) => v.error(
                    f("value"),
                    "a static credential takes either secretRef or value, not both",
                ),
                // A mistyped value was reported already.
                (None, None) if !value_mistyped => v.error(
                    f("secretRef"),
                    "a static credential needs secretRef or value",
                ),
                _ => {}
            },
            "obo" => {
                if secret_ref.is_some() {
                    v.error(f("secretRef"), "an obo credential carries no secret");
                }
                if value.is_some() {
                    v.error(f("value"), "an obo credential carries no secret");
                }
            }
            _ => {}
        }
        ValidCredential {
            display_name,
            brokering_mode: mode,
            secret_ref,
            value,
        }
    }
}

/// Body of `POST /mcp-servers` and `PUT /mcp-servers/{id}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpServerInput {
    name: Option<String>,
    endpoint: Option<String>,
    transport: Option<String>,
    description: Option<String>,
    grants: Option<Vec<Grant>>,
    credentials: Option<Vec<CredentialInput>>,
}

impl PartialSchema for McpServerInput {
    fn schema() -> RefOr<Schema> {
        schema::mcp_server_input().into()
    }
}

impl ToSchema for McpServerInput {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("McpServerInput")
    }
}

/// A validated MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidMcpServer {
    /// Name.
    pub name: String,
    /// URL or command.
    pub endpoint: String,
    /// Transport.
    pub transport: String,
    /// Description.
    pub description: Option<String>,
    /// Grants, in request order.
    pub grants: Vec<Grant>,
    /// Credentials to create.
    pub credentials: Vec<ValidCredential>,
}

/// Validates grants (the existence of group grants is checked against the
/// database by the service).
fn check_grants(v: &mut Validator, grants: &[Grant]) {
    max_items(v, "grants", grants, MAX_GRANTS);
    for (i, g) in grants.iter().enumerate() {
        if !matches!(g.kind.as_str(), "tenant" | "group") {
            v.error(format!("grants[{i}].kind"), "must be one of: tenant, group");
        }
        v.dns_label(&format!("grants[{i}].name"), &g.name);
        if grants[..i].contains(g) {
            v.error(format!("grants[{i}]"), "is a duplicate");
        }
    }
}

impl McpServerInput {
    /// Validates every field.
    pub fn validate(self) -> Result<ValidMcpServer, ApiError> {
        let mut v = Validator::new();
        let name = required_label(&mut v, "name", self.name.as_deref());
        let transport = one_of(&mut v, "transport", self.transport.as_deref(), TRANSPORTS);
        match self.endpoint.as_deref() {
            None => v.error("endpoint", "is required"),
            Some(e) if transport == "stdio" => v.check(
                is_command(e),
                "endpoint",
                "for transport stdio, must be a command line of at most 1024 characters without control characters, not starting with a space",
            ),
            Some(e) => v.check(
                is_http_url(e),
                "endpoint",
                URL_RULE,
            ),
        }
        v.text("description", self.description.as_deref(), DESCRIPTION_MAX);
        let grants = self.grants.unwrap_or_default();
        check_grants(&mut v, &grants);
        let inputs = self.credentials.unwrap_or_default();
        max_items(&mut v, "credentials", &inputs, MAX_CREDENTIALS);
        let credentials = inputs
            .into_iter()
            .enumerate()
            .map(|(i, c)| c.check(&mut v, &format!("credentials[{i}]")))
            .collect();
        v.finish()?;
        Ok(ValidMcpServer {
            name,
            endpoint: self.endpoint.unwrap_or_default(),
            transport,
            description: self.description,
            grants,
            credentials,
        })
    }
}

/// Validates the body of `POST /mcp-servers/{id}/credentials`.
pub fn validate_credential(input: CredentialInput) -> Result<ValidCredential, ApiError> {
    let mut v = Validator::new();
    let c = input.check(&mut v, "");
    v.finish()?;
    Ok(c)
}

/// `valueHint`: the last four characters of a value of at least 12, unless
/// one of them is a control character (not printable, and PostgreSQL text
/// cannot hold NUL).
pub fn value_hint(value: &str) -> Option<String> {
    let n = value.chars().count();
    let hint: String = value.chars().skip(n.saturating_sub(4)).collect();
    (n >= 12 && !hint.chars().any(char::is_control)).then_some(hint)
}

/// Credential metadata (the value itself is never returned).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = McpCredential)]
pub struct Credential {
    /// Credential id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// `static` or `obo`.
    #[schema(schema_with = mode_schema)]
    pub brokering_mode: String,
    /// The Kubernetes Secret reference, when the value lives there.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::secret_ref_view)]
    pub secret_ref: Option<SecretRef>,
    /// Whether an inline value is stored (encrypted).
    pub has_value: bool,
    /// Last four characters of an inline value of at least 12 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_hint: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

fn mode_schema() -> utoipa::openapi::schema::Object {
    enum_string(&["static", "obo"], "`static` or `obo`.")
}

fn transport_schema() -> utoipa::openapi::schema::Object {
    enum_string(TRANSPORTS, "`stdio`, `sse` or `streamable-http`.")
}

/// An MCP server.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpServer {
    /// Id (UUIDv7).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// URL (`sse`, `streamable-http`) or command line (`stdio`).
    pub endpoint: String,
    /// Transport.
    #[schema(schema_with = transport_schema)]
    pub transport: String,
    /// Description.
    pub description: Option<String>,
    /// Who may use it.
    pub grants: Vec<Grant>,
    /// Brokered credentials (metadata only).
    pub credentials: Vec<Credential>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

// --------------------------------------------------------------------- groups

/// A group member.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = GroupMember)]
pub struct Member {
    /// `tenant` or `user`.
    #[schema(schema_with = member_kind_schema)]
    pub kind: String,
    /// Tenant name or user email.
    pub name: String,
}

fn member_kind_schema() -> utoipa::openapi::schema::Object {
    enum_string(&["tenant", "user"], "`tenant` or `user`.")
}

/// An awareness grant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = GroupAwarenessGrant)]
pub struct AwarenessGrant {
    /// Scope, e.g. `datasets:sales-*`.
    pub scope: String,
    /// `read` or `write`.
    #[schema(schema_with = access_schema)]
    pub access: String,
}

fn access_schema() -> utoipa::openapi::schema::Object {
    enum_string(&["read", "write"], "`read` or `write`.")
}

/// Body of `POST /groups` and `PUT /groups/{id}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupInput {
    name: Option<String>,
    description: Option<String>,
    members: Option<Vec<Member>>,
    awareness_grants: Option<Vec<AwarenessGrant>>,
}

impl PartialSchema for GroupInput {
    fn schema() -> RefOr<Schema> {
        Schema::Object(schema::group_input(true)).into()
    }
}

impl ToSchema for GroupInput {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("GroupCreate")
    }
}

/// The `PUT /groups/{id}` body, for the OpenAPI document (same type).
pub struct GroupUpdate;

impl PartialSchema for GroupUpdate {
    fn schema() -> RefOr<Schema> {
        let mut s = schema::group_input(false);
        if let Some(RefOr::T(Schema::Object(name))) = s.properties.get_mut("name") {
            name.schema_type = utoipa::openapi::schema::SchemaType::from_iter([
                utoipa::openapi::schema::Type::String,
                utoipa::openapi::schema::Type::Null,
            ]);
        }
        Schema::Object(s).into()
    }
}

impl ToSchema for GroupUpdate {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("GroupUpdate")
    }
}

/// A validated group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidGroup {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Members, in request order.
    pub members: Vec<Member>,
    /// Awareness grants, in request order.
    pub awareness_grants: Vec<AwarenessGrant>,
}

impl GroupInput {
    /// Validates a create (`current` None) or a replace of the group now
    /// named `current` (the name is immutable).
    pub fn validate(self, current: Option<&str>) -> Result<ValidGroup, ApiError> {
        let mut v = Validator::new();
        let name = match current {
            None => required_label(&mut v, "name", self.name.as_deref()),
            Some(cur) => {
                if self.name.as_deref().is_some_and(|n| n != cur) {
                    v.error(
                        "name",
                        "cannot be changed: policies, grants and entitlements refer to the group by name",
                    );
                }
                cur.to_owned()
            }
        };
        v.text("description", self.description.as_deref(), DESCRIPTION_MAX);
        let members = self.members.unwrap_or_default();
        max_items(&mut v, "members", &members, MAX_MEMBERS);
        for (i, m) in members.iter().enumerate() {
            let field = format!("members[{i}].name");
            match m.kind.as_str() {
                "tenant" => v.dns_label(&field, &m.name),
                "user" => v.email(&field, &m.name),
                _ => v.error(format!("members[{i}].kind"), "must be one of: tenant, user"),
            }
            if members[..i].contains(m) {
                v.error(format!("members[{i}]"), "is a duplicate");
            }
        }
        let grants = self.awareness_grants.unwrap_or_default();
        max_items(&mut v, "awarenessGrants", &grants, MAX_AWARENESS);
        let mut scopes = HashSet::new();
        for (i, g) in grants.iter().enumerate() {
            if !is_scope(&g.scope) {
                v.error(
                    format!("awarenessGrants[{i}].scope"),
                    "must be 1-128 of a-z, 0-9, '.', '_', ':', '/', '*', '-'",
                );
            } else if !scopes.insert(g.scope.as_str()) {
                v.error(
                    format!("awarenessGrants[{i}].scope"),
                    "is a duplicate: each scope may be granted once",
                );
            }
            if !matches!(g.access.as_str(), "read" | "write") {
                v.error(
                    format!("awarenessGrants[{i}].access"),
                    "must be one of: read, write",
                );
            }
        }
        v.finish()?;
        Ok(ValidGroup {
            name,
            description: self.description,
            members,
            awareness_grants: grants,
        })
    }
}

/// A group.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Id (UUIDv7).
    pub id: String,
    /// Unique, immutable name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Number of members.
    pub member_count: i64,
    /// Members (single-group responses only; lists show `memberCount`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<Member>>,
    /// Awareness grants.
    pub awareness_grants: Vec<AwarenessGrant>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

// -------------------------------------------------------- third-party sources

/// A linked item of a third-party source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = ThirdPartyItem)]
pub struct SourceItem {
    /// The item's id in the source.
    pub external_id: String,
    /// Title.
    pub title: String,
    /// Link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Body of `POST /third-party-sources` and `PUT /third-party-sources/{id}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceInput {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
    description: Option<String>,
    items: Option<Vec<SourceItem>>,
}

impl PartialSchema for SourceInput {
    fn schema() -> RefOr<Schema> {
        Schema::Object(schema::source_input()).into()
    }
}

impl ToSchema for SourceInput {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ThirdPartySourceInput")
    }
}

/// A validated third-party source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSource {
    /// Name.
    pub name: String,
    /// Type.
    pub kind: String,
    /// URL.
    pub url: String,
    /// Description.
    pub description: Option<String>,
    /// Items, in request order.
    pub items: Vec<SourceItem>,
}

impl SourceInput {
    /// Validates every field.
    pub fn validate(self) -> Result<ValidSource, ApiError> {
        let mut v = Validator::new();
        let name = required_label(&mut v, "name", self.name.as_deref());
        let kind = one_of(&mut v, "type", self.kind.as_deref(), SOURCE_TYPES);
        match self.url.as_deref() {
            None => v.error("url", "is required"),
            Some(u) => v.check(is_http_url(u), "url", URL_RULE),
        }
        v.text("description", self.description.as_deref(), DESCRIPTION_MAX);
        let items = self.items.unwrap_or_default();
        max_items(&mut v, "items", &items, MAX_ITEMS);
        let mut ids = HashSet::new();
        for (i, it) in items.iter().enumerate() {
            let field = format!("items[{i}].externalId");
            title(&mut v, &field, Some(&it.external_id), EXTERNAL_ID_MAX);
            if !ids.insert(it.external_id.as_str()) {
                v.error(field, "is a duplicate: each externalId may appear once");
            }
            title(&mut v, &format!("items[{i}].title"), Some(&it.title), 500);
            if let Some(u) = &it.url {
                v.check(is_http_url(u), format!("items[{i}].url"), URL_RULE);
            }
        }
        v.finish()?;
        Ok(ValidSource {
            name,
            kind,
            url: self.url.unwrap_or_default(),
            description: self.description,
            items,
        })
    }
}

fn source_type_schema() -> utoipa::openapi::schema::Object {
    enum_string(SOURCE_TYPES, "What kind of system the source is.")
}

/// A third-party source.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThirdPartySource {
    /// Id (UUIDv7).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    #[schema(schema_with = source_type_schema)]
    pub kind: String,
    /// URL.
    pub url: String,
    /// Description.
    pub description: Option<String>,
    /// Number of linked items.
    pub item_count: i64,
    /// Linked items (single-source responses only; lists show `itemCount`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<SourceItem>>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fields(err: ApiError) -> Vec<String> {
        err.field_errors().iter().map(|f| f.field.clone()).collect()
    }

    fn server(json: &str) -> Result<ValidMcpServer, ApiError> {
        serde_json::from_str::<McpServerInput>(json)
            .unwrap()
            .validate()
    }

    #[test]
    fn urls_and_commands() {
        for ok in [
            "http://a",
            "https://mcp.example.com:8443/sse?x=1",
            "https://xn--tda.example/ä",
            "http://10.0.0.1:80#top",
            "https://a?q=[1]",
        ] {
            assert!(is_http_url(ok), "{ok}");
        }
        for bad in [
            "",
            "ftp://a",
            "http://",
            "https:///x",
            "http://a b",
            "HTTP://a",
            "http://a\n",
            // Hosts URL parsers disagree on (or refuse): brackets, user
            // info, non-ASCII, a bad port.
            "http://[",
            "http://[::1]/",
            "https://user:pw@a/",
            "https://ü.example/",
            "https://a:/x",
            "https://a:123456",
            "https://a:8b",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
        assert!(is_command("npx -y @acme/mcp --port 1"));
        for bad in ["", " npx", "npx\tx", "a\u{0}"] {
            assert!(!is_command(bad), "{bad:?}");
        }
        assert!(is_scope("datasets:sales-*"));
        assert!(!is_scope("Datasets") && !is_scope("") && !is_scope(&"a".repeat(129)));
    }

    #[test]
    fn endpoint_depends_on_transport() {
        assert!(server(r#"{"name":"a","transport":"stdio","endpoint":"npx x"}"#).is_ok());
        let err = server(r#"{"name":"a","transport":"sse","endpoint":"npx x"}"#).unwrap_err();
        assert_eq!(fields(err), vec!["endpoint"]);
        let err = server(r#"{}"#).unwrap_err();
        assert_eq!(fields(err), vec!["name", "transport", "endpoint"]);
    }

    #[test]
    fn grant_and_credential_errors_name_the_element() {
        let err = server(
            r#"{"name":"a","transport":"sse","endpoint":"https://x",
            "grants":[{"kind":"tenant","name":"t"},{"kind":"team","name":"t"},{"kind":"group","name":"Bad"},{"kind":"tenant","name":"t"}],
            "credentials":[
              {"displayName":"ok","brokeringMode":"static","value":"secret-value-1234"},
              {"displayName":"both","brokeringMode":"static","value":"x","secretRef":{"name":"s","key":"k"}},
              {"displayName":"none","brokeringMode":"static"},
              {"displayName":"obo","brokeringMode":"obo","secretRef":{"name":"s","key":"k"}},
              {"displayName":"","brokeringMode":"magic","value":12345678901234}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            fields(err),
            vec![
                "grants[1].kind",
                "grants[2].name",
                "grants[3]",
                "credentials[1].value",
                "credentials[2].secretRef",
                "credentials[3].secretRef",
                "credentials[4].displayName",
                "credentials[4].brokeringMode",
                "credentials[4].value",
            ]
        );
    }

    #[test]
    fn wrongly_typed_values_are_not_echoed() {
        let err = server(
            r#"{"name":"a","transport":"sse","endpoint":"https://x",
            "credentials":[{"displayName":"d","brokeringMode":"static","value":987654321}]}"#,
        )
        .unwrap_err();
        assert!(!format!("{err:?}").contains("987654321"));
        let c = serde_json::from_str::<CredentialInput>(
            r#"{"displayName":"d","brokeringMode":"static","value":"sup3r-s3cret-value"}"#,
        )
        .unwrap();
        let valid = validate_credential(c).unwrap();
        assert!(!format!("{valid:?}").contains("sup3r"));
    }

    #[test]
    fn secret_references() {
        for ok in ["s", "search-creds", "a.b-c.d", &"a".repeat(100)] {
            assert!(is_secret_name(ok), "{ok}");
        }
        for bad in ["", "A", "a..b", ".a", "a-", &"a".repeat(254)] {
            assert!(!is_secret_name(bad), "{bad}");
        }
        assert!(is_secret_key("API_KEY.v-1") && !is_secret_key("a/b") && !is_secret_key(""));
    }

    #[test]
    fn hints_only_for_long_values() {
        assert_eq!(value_hint("abcdefghijkl").as_deref(), Some("ijkl"));
        assert_eq!(value_hint("abcdefghijk"), None);
        assert_eq!(value_hint("ééééééééwxyz").as_deref(), Some("wxyz"));
        assert_eq!(value_hint("abcdefghijk\u{0}"), None);
    }

    #[test]
    fn group_rules() {
        let g = |json: &str, cur: Option<&str>| {
            serde_json::from_str::<GroupInput>(json)
                .unwrap()
                .validate(cur)
        };
        let err = g(
            r#"{"name":"ops","members":[{"kind":"tenant","name":"a"},{"kind":"user","name":"nope"},{"kind":"tenant","name":"a"}],
               "awarenessGrants":[{"scope":"channel:support","access":"read"},{"scope":"channel:support","access":"write"},{"scope":"X","access":"all"}]}"#,
            None,
        )
        .unwrap_err();
        assert_eq!(
            fields(err),
            vec![
                "members[1].name",
                "members[2]",
                "awarenessGrants[1].scope",
                "awarenessGrants[2].scope",
                "awarenessGrants[2].access"
            ]
        );
        assert_eq!(
            fields(g(r#"{"name":"other"}"#, Some("ops")).unwrap_err()),
            vec!["name"]
        );
        assert_eq!(g(r#"{}"#, Some("ops")).unwrap().name, "ops");
        assert_eq!(g(r#"{"name":"ops"}"#, Some("ops")).unwrap().name, "ops");
    }

    #[test]
    fn source_rules() {
        let s = |json: &str| {
            serde_json::from_str::<SourceInput>(json)
                .unwrap()
                .validate()
        };
        assert!(s(r#"{"name":"docs","type":"notion","url":"https://notion.so/x"}"#).is_ok());
        let err = s(
            r#"{"name":"docs","type":"ftp","url":"ftp://x","items":[{"externalId":"1","title":"a"},{"externalId":"1","title":"b","url":"nope"},{"externalId":"","title":""}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            fields(err),
            vec![
                "type",
                "url",
                "items[1].externalId",
                "items[1].url",
                "items[2].externalId",
                "items[2].title"
            ]
        );
    }
}
