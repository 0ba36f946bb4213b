//! The authorisation matrix: every routed operation × every kind of caller
//! the shared authentication step must refuse or limit, with the status each
//! one gets.
//!
//! Rows are per operation ([`MATRIX`]); a route group adds its rows when it
//! adds routes. The operations themselves come from the served OpenAPI
//! document, and the test fails while one has no row (or a row names an
//! operation that is no longer served), so the table cannot fall behind.
//!
//! Columns:
//! - no token, malformed header, expired credential (a user JWT past its
//!   `exp`, an access token past its expiry), revoked credential (a
//!   logged-out JWT, a deleted access token, a deleted personal API key):
//!   401 on every non-public operation, whatever the route;
//! - another organisation's user (an owner elsewhere): per row — 404 for
//!   anything inside organisation A (it must not learn A exists), 403 for
//!   operator-only areas;
//! - a viewer of organisation A: per row — reads succeed, writes are 403;
//! - a member and an admin of organisation A: the refusals of [`ROLES`]
//!   (with the request bodies that probe operator- and admin-only tenant
//!   fields and dataset access); every operator-only row refuses them too;
//! - a scope-limited access token (`tenants:write`): 403 on every operation
//!   outside the `tenants` area, which is the operation's declared area
//!   (`x-access.scopeArea` in the document), not its path's (gateway keys and
//!   fair-share settings live under `/tenants/{name}/...` but are areas of
//!   their own);
//! - a tenant gateway key: 403 everywhere but usage ingestion;
//! - an agent of organisation A, given A's vault and a policy letting it
//!   read and list there, and an agent of organisation B: 403 on every
//!   operation not declared for agents (`x-access.callers`), and on those
//!   the statuses of [`AGENT_ROWS`]; a deactivated agent's token and an
//!   agent key sent as a bearer token are among the refused credentials;
//! - a browser session cookie without the CSRF header: 403 on every write.
//!
//! Write requests carry valid bodies, so a missing authorisation check shows
//! up as a success rather than hiding behind a validation error. "Public"
//! comes from the document, which a unit test of every route group keeps
//! equal to the route declarations (`cp_platform::openapi::route_mismatches`),
//! and each public operation is checked to answer without credentials.

#![allow(clippy::unwrap_used)]

use cp_tests::oidc::{cp_url, signed_in, Browser};
use cp_tests::{
    bearer, call, db, email, env, forge_jwt, jwt_claims, jwt_key, sign_up, tenant_body, unique,
    Call, TestAgent, TestUser,
};
use serde_json::{json, Value};

/// What a caller of one column should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// This status.
    Status(u16),
    /// The operation acts on the caller's own account (`/auth/...`): there
    /// is no organisation boundary to test (tests/tests/users.rs covers it).
    OwnAccount,
}

use Expect::{OwnAccount, Status};

/// One operation's row.
struct Row {
    method: &'static str,
    /// The OpenAPI path template.
    path: &'static str,
    /// A user who belongs only to another organisation.
    other_org: Expect,
    /// A viewer of the organisation that owns the resources.
    viewer: Expect,
    /// The request body (JSON; `{new}` becomes a fresh unique name; empty:
    /// no body).
    body: &'static str,
}

const fn row(
    method: &'static str,
    path: &'static str,
    other_org: Expect,
    viewer: Expect,
    body: &'static str,
) -> Row {
    Row {
        method,
        path,
        other_org,
        viewer,
        body,
    }
}

/// Operator-only areas refuse every user, member or not.
const OPERATOR: Expect = Status(403);
const OK: Expect = Status(200);
const CREATED: Expect = Status(201);
const HIDDEN: Expect = Status(404);
const FORBIDDEN: Expect = Status(403);

const TENANT_SPEC: &str = r#"{"email": "matrix@example.com"}"#;
const NEW_TENANT: &str = r#"{"name": "{new}", "email": "matrix@example.com"}"#;
const NEW_VAULT: &str = r#"{"orgId": "{orgId}", "name": "{new}"}"#;
const SECRET: &str = r#"{"type": "note", "value": "matrix"}"#;
const VAULT_POLICY: &str = r#"{"principal": {"kind": "group", "id": "matrix"},
    "actions": ["read"], "pathGlob": "**", "effect": "allow"}"#;
const FINGERPRINT: &str =
    r#"{"fingerprint": "0000000000000000000000000000000000000000000000000000000000000000"}"#;
const NEW_CHAIN: &str = r#"{"name": "{new}", "chainId": 424242, "rpcUrl": "http://127.0.0.1:8545",
    "nativeCurrency": {"name": "Ether", "symbol": "ETH", "decimals": 18}}"#;
const NEW_AGENT: &str = r#"{"orgId": "{orgId}", "name": "{new}"}"#;
const MODEL: &str = r#"{"name": "{new}", "provider": "openai", "upstreamModel": "gpt-4o",
    "contextWindow": 128000, "inputPricePerMillion": "2.50", "outputPricePerMillion": "10.00"}"#;

/// The matrix. `{orgId}`, `{tenantId}`, `{name}` under `/tenants`,
/// `{vaultId}`, its secret `{path}` (`{secretId}`), its `{policyId}` and a
/// `{shareId}` of the secret are organisation A's; `{userId}` is A's owner; other ids are unknown. `{orgId}` in a body
/// is A's too.
const MATRIX: &[Row] = &[
    // --- own account ---
    // GET /auth/me is public (anonymous callers learn the sign-in modes);
    // tests/tests/oidc.rs covers its refused credentials.
    // A pod token needs a browser session: a bearer-token user has none
    // (tests/tests/pod_token.rs covers the session's outcomes).
    row(
        "POST",
        "/api/v1/auth/pod-token",
        Status(401),
        Status(401),
        "",
    ),
    row("PATCH", "/api/v1/auth/me", OwnAccount, OwnAccount, ""),
    row("DELETE", "/api/v1/auth/me", OwnAccount, OwnAccount, ""),
    row("DELETE", "/api/v1/auth/token", OwnAccount, OwnAccount, ""),
    row(
        "POST",
        "/api/v1/auth/verify-email/resend",
        OwnAccount,
        OwnAccount,
        "",
    ),
    row(
        "POST",
        "/api/v1/auth/change-password",
        OwnAccount,
        OwnAccount,
        "",
    ),
    row("GET", "/api/v1/auth/api-keys", OK, OK, ""),
    row("GET", "/api/v1/auth/mfa/status", OK, OK, ""),
    row("POST", "/api/v1/auth/mfa/setup", OwnAccount, OwnAccount, ""),
    row(
        "POST",
        "/api/v1/auth/mfa/verify-setup",
        OwnAccount,
        OwnAccount,
        "",
    ),
    row("DELETE", "/api/v1/auth/mfa", OwnAccount, OwnAccount, ""),
    row("POST", "/api/v1/auth/api-keys", OwnAccount, OwnAccount, ""),
    row(
        "DELETE",
        "/api/v1/auth/api-keys/{id}",
        OwnAccount,
        OwnAccount,
        "",
    ),
    row(
        "DELETE",
        "/api/v1/auth/api-keys",
        OwnAccount,
        OwnAccount,
        "",
    ),
    // --- operator-only areas ---
    row("GET", "/api/v1/access-tokens", OPERATOR, OPERATOR, ""),
    row(
        "POST",
        "/api/v1/access-tokens",
        OPERATOR,
        OPERATOR,
        r#"{"name": "{new}"}"#,
    ),
    row(
        "DELETE",
        "/api/v1/access-tokens/{id}",
        OPERATOR,
        OPERATOR,
        "",
    ),
    row("GET", "/api/v1/policies", OPERATOR, OPERATOR, ""),
    row(
        "POST",
        "/api/v1/policies",
        OPERATOR,
        OPERATOR,
        r#"{"name": "{new}"}"#,
    ),
    row("GET", "/api/v1/policies/drift", OPERATOR, OPERATOR, ""),
    row("POST", "/api/v1/policies/repair", OPERATOR, OPERATOR, ""),
    row("GET", "/api/v1/policies/{name}", OPERATOR, OPERATOR, ""),
    row("PUT", "/api/v1/policies/{name}", OPERATOR, OPERATOR, "{}"),
    row("DELETE", "/api/v1/policies/{name}", OPERATOR, OPERATOR, ""),
    row("GET", "/api/v1/mcp-servers", OPERATOR, OPERATOR, ""),
    row(
        "POST",
        "/api/v1/mcp-servers",
        OPERATOR,
        OPERATOR,
        r#"{"name": "{new}", "endpoint": "https://mcp.example.com", "transport": "http"}"#,
    ),
    row("GET", "/api/v1/mcp-servers/{id}", OPERATOR, OPERATOR, ""),
    row("PUT", "/api/v1/mcp-servers/{id}", OPERATOR, OPERATOR, "{}"),
    row("DELETE", "/api/v1/mcp-servers/{id}", OPERATOR, OPERATOR, ""),
    row(
        "GET",
        "/api/v1/mcp-servers/{id}/credentials",
        OPERATOR,
        OPERATOR,
        "",
    ),
    row(
        "POST",
        "/api/v1/mcp-servers/{id}/credentials",
        OPERATOR,
        OPERATOR,
        "{}",
    ),
    row(
        "DELETE",
        "/api/v1/mcp-servers/{id}/credentials/{credentialId}",
        OPERATOR,
        OPERATOR,
        "",
    ),
    row("GET", "/api/v1/groups", OPERATOR, OPERATOR, ""),
    row(
        "POST",
        "/api/v1/groups",
        OPERATOR,
        OPERATOR,
        r#"{"name": "{new}"}"#,
    ),
    row("GET", "/api/v1/groups/{id}", OPERATOR, OPERATOR, ""),
    row("PUT", "/api/v1/groups/{id}", OPERATOR, OPERATOR, "{}"),
    row("DELETE", "/api/v1/groups/{id}", OPERATOR, OPERATOR, ""),
    row("GET", "/api/v1/third-party-sources", OPERATOR, OPERATOR, ""),
    row(
        "POST",
        "/api/v1/third-party-sources",
        OPERATOR,
        OPERATOR,
        r#"{"name": "{new}", "type": "git", "url": "https://example.com/x.git"}"#,
    ),
    row(
        "GET",
        "/api/v1/third-party-sources/{id}",
        OPERATOR,
        OPERATOR,
        "",
    ),
    row(
        "PUT",
        "/api/v1/third-party-sources/{id}",
        OPERATOR,
        OPERATOR,
        "{}",
    ),
    row(
        "DELETE",
        "/api/v1/third-party-sources/{id}",
        OPERATOR,
        OPERATOR,
        "",
    ),
    row("GET", "/api/v1/skills/catalog", OPERATOR, OPERATOR, ""),
    row("POST", "/api/v1/skills/catalog", OPERATOR, OPERATOR, "{}"),
    row(
        "POST",
        "/api/v1/skills/catalog/backfill",
        OPERATOR,
        OPERATOR,
        "",
    ),
    row("GET", "/api/v1/skills/catalog/{id}", OPERATOR, OPERATOR, ""),
    row(
        "PUT",
        "/api/v1/skills/catalog/{id}",
        OPERATOR,
        OPERATOR,
        "{}",
    ),
    row(
        "DELETE",
        "/api/v1/skills/catalog/{id}",
        OPERATOR,
        OPERATOR,
        "",
    ),
    row("GET", "/api/v1/providers/keys", OPERATOR, OPERATOR, ""),
    row(
        "PUT",
        "/api/v1/providers/keys/{provider}",
        OPERATOR,
        OPERATOR,
        r#"{"key": "sk-matrix-0123456789"}"#,
    ),
    row(
        "DELETE",
        "/api/v1/providers/keys/{provider}",
        OPERATOR,
        OPERATOR,
        "",
    ),
    row("GET", "/api/v1/models", OPERATOR, OPERATOR, ""),
    row("POST", "/api/v1/models", OPERATOR, OPERATOR, MODEL),
    row("GET", "/api/v1/models/{id}", OPERATOR, OPERATOR, ""),
    row("PUT", "/api/v1/models/{id}", OPERATOR, OPERATOR, MODEL),
    row("DELETE", "/api/v1/models/{id}", OPERATOR, OPERATOR, ""),
    row(
        "PUT",
        "/api/v1/models/{id}/cache",
        OPERATOR,
        OPERATOR,
        r#"{"enabled": true, "ttlSeconds": 300, "maxEntries": 1000}"#,
    ),
    row("GET", "/api/v1/ai-budget/global", OPERATOR, OPERATOR, ""),
    row(
        "PUT",
        "/api/v1/ai-budget/global",
        OPERATOR,
        OPERATOR,
        r#"{"monthlyCeiling": "5000.00"}"#,
    ),
    row("GET", "/api/v1/ai-budget/accounts", OPERATOR, OPERATOR, ""),
    row(
        "PUT",
        "/api/v1/ai-budget/accounts/{userId}",
        OPERATOR,
        OPERATOR,
        r#"{"monthlyCeiling": "250.00"}"#,
    ),
    row(
        "DELETE",
        "/api/v1/ai-budget/accounts/{userId}",
        OPERATOR,
        OPERATOR,
        "",
    ),
    // --- gateway traffic: the operator's, also under /tenants/{name} ---
    row(
        "POST",
        "/api/v1/tenants/{name}/keys",
        OPERATOR,
        OPERATOR,
        r#"{"name": "{new}"}"#,
    ),
    row("GET", "/api/v1/keys", OPERATOR, OPERATOR, ""),
    row("DELETE", "/api/v1/keys/{id}", OPERATOR, OPERATOR, ""),
    row(
        "PUT",
        "/api/v1/keys/{id}/disabled",
        OPERATOR,
        OPERATOR,
        r#"{"disabled": true}"#,
    ),
    row(
        "PATCH",
        "/api/v1/tenants/{name}/weight",
        OPERATOR,
        OPERATOR,
        r#"{"weight": 5}"#,
    ),
    row(
        "PUT",
        "/api/v1/tenants/{name}/quota",
        OPERATOR,
        OPERATOR,
        r#"{"tokensPerMinute": 1000}"#,
    ),
    row(
        "PATCH",
        "/api/v1/tenants/{name}/group",
        OPERATOR,
        OPERATOR,
        r#"{"group": null}"#,
    ),
    row("GET", "/api/v1/fairshare/groups", OPERATOR, OPERATOR, ""),
    row(
        "POST",
        "/api/v1/fairshare/groups",
        OPERATOR,
        OPERATOR,
        r#"{"name": "{new}", "weight": 1}"#,
    ),
    row(
        "PATCH",
        "/api/v1/fairshare/groups/{name}/weight",
        OPERATOR,
        OPERATOR,
        r#"{"weight": 2}"#,
    ),
    row(
        "POST",
        "/api/v1/fairshare/heartbeat",
        OPERATOR,
        OPERATOR,
        r#"{"instanceId": "{new}", "tenants": []}"#,
    ),
    row("GET", "/api/v1/fairshare/live", OPERATOR, OPERATOR, ""),
    row("GET", "/api/v1/stats", OPERATOR, OPERATOR, ""),
    row("GET", "/api/v1/capacity", OPERATOR, OPERATOR, ""),
    row(
        "PUT",
        "/api/v1/capacity",
        OPERATOR,
        OPERATOR,
        r#"{"maxInFlight": 64}"#,
    ),
    row(
        "POST",
        "/api/v1/token-usage",
        OPERATOR,
        OPERATOR,
        r#"{"records": []}"#,
    ),
    row("GET", "/api/v1/token-usage", OPERATOR, OPERATOR, ""),
    row("GET", "/api/v1/usage", OPERATOR, OPERATOR, ""),
    row("GET", "/api/v1/usage/keys", OPERATOR, OPERATOR, ""),
    row("GET", "/api/v1/usage/models", OPERATOR, OPERATOR, ""),
    row("GET", "/api/v1/usage/series", OPERATOR, OPERATOR, ""),
    row(
        "GET",
        "/api/v1/usage/series/tenants",
        OPERATOR,
        OPERATOR,
        "",
    ),
    row("GET", "/api/v1/usage/cache", OPERATOR, OPERATOR, ""),
    row("GET", "/api/v1/costs", OPERATOR, OPERATOR, ""),
    row(
        "GET",
        "/api/v1/ai-budget/{tenantName}/spend",
        OPERATOR,
        OPERATOR,
        "",
    ),
    row(
        "GET",
        "/api/v1/ai-budget/accounts/spend",
        OPERATOR,
        OPERATOR,
        "",
    ),
    row(
        "GET",
        "/api/v1/ai-budget/{tenantName}/litellm-key",
        OPERATOR,
        OPERATOR,
        "",
    ),
    row(
        "POST",
        "/api/v1/ai-budget/{tenantName}/litellm-key/revoke",
        OPERATOR,
        OPERATOR,
        "",
    ),
    // --- tenants: users reach their organisations' tenants ---
    row("GET", "/api/v1/tenants", OK, OK, ""),
    row("POST", "/api/v1/tenants", FORBIDDEN, FORBIDDEN, NEW_TENANT),
    row("GET", "/api/v1/tenants/drift", OPERATOR, OPERATOR, ""),
    row("POST", "/api/v1/tenants/repair", OPERATOR, OPERATOR, ""),
    row("GET", "/api/v1/tenants/{name}", HIDDEN, OK, ""),
    row(
        "PUT",
        "/api/v1/tenants/{name}",
        HIDDEN,
        FORBIDDEN,
        TENANT_SPEC,
    ),
    row("DELETE", "/api/v1/tenants/{name}", HIDDEN, FORBIDDEN, ""),
    row("GET", "/api/v1/tenants/{name}/datasets", HIDDEN, OK, ""),
    row(
        "PUT",
        "/api/v1/tenants/{name}/datasets",
        HIDDEN,
        FORBIDDEN,
        r#"{"datasets": []}"#,
    ),
    row(
        "GET",
        "/api/v1/tenants/{name}/effective-contract",
        HIDDEN,
        OK,
        "",
    ),
    row(
        "POST",
        "/api/v1/tenants/{name}/suspend",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    row(
        "POST",
        "/api/v1/tenants/{name}/resume",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    // --- vaults: members of the organisation; values by policy only ---
    row("GET", "/api/v1/vaults", OK, OK, ""),
    row("POST", "/api/v1/vaults", HIDDEN, FORBIDDEN, NEW_VAULT),
    row("GET", "/api/v1/vaults/{vaultId}", HIDDEN, OK, ""),
    row("DELETE", "/api/v1/vaults/{vaultId}", HIDDEN, FORBIDDEN, ""),
    row("GET", "/api/v1/vaults/{vaultId}/secrets", HIDDEN, OK, ""),
    row(
        "PUT",
        "/api/v1/vaults/{vaultId}/secrets/{path}",
        HIDDEN,
        FORBIDDEN,
        SECRET,
    ),
    // Viewers never read a value.
    row(
        "GET",
        "/api/v1/vaults/{vaultId}/secrets/{path}",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    row(
        "DELETE",
        "/api/v1/vaults/{vaultId}/secrets/{path}",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    row(
        "GET",
        "/api/v1/vaults/{vaultId}/versions/{path}",
        HIDDEN,
        OK,
        "",
    ),
    row(
        "PATCH",
        "/api/v1/vaults/{vaultId}/versions/{path}",
        HIDDEN,
        FORBIDDEN,
        r#"{"version": 1, "disabled": false}"#,
    ),
    row(
        "POST",
        "/api/v1/vaults/{vaultId}/restore/{path}",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    row("GET", "/api/v1/vaults/{vaultId}/policies", HIDDEN, OK, ""),
    row(
        "POST",
        "/api/v1/vaults/{vaultId}/policies",
        HIDDEN,
        FORBIDDEN,
        VAULT_POLICY,
    ),
    row(
        "PUT",
        "/api/v1/vaults/{vaultId}/policies/{policyId}",
        HIDDEN,
        FORBIDDEN,
        VAULT_POLICY,
    ),
    row(
        "DELETE",
        "/api/v1/vaults/{vaultId}/policies/{policyId}",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    row(
        "POST",
        "/api/v1/vaults/{vaultId}/cmek",
        HIDDEN,
        FORBIDDEN,
        FINGERPRINT,
    ),
    row(
        "DELETE",
        "/api/v1/vaults/{vaultId}/cmek",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    row(
        "POST",
        "/api/v1/vaults/{vaultId}/cmek-rotate",
        HIDDEN,
        FORBIDDEN,
        FINGERPRINT,
    ),
    // A finished rotation of A's vault: its members read it.
    row(
        "GET",
        "/api/v1/vaults/{vaultId}/cmek-rotate/{jobId}",
        HIDDEN,
        OK,
        "",
    ),
    row("GET", "/api/v1/health/kms", OPERATOR, OPERATOR, ""),
    row("GET", "/api/v1/vault-master-key", OPERATOR, OPERATOR, ""),
    row(
        "POST",
        "/api/v1/vault-master-key/rewrap",
        OPERATOR,
        OPERATOR,
        "",
    ),
    // Sharing: what one may read and share, to a user of A's (the admin).
    row(
        "POST",
        "/api/v1/secrets/{secretId}/share",
        HIDDEN,
        FORBIDDEN,
        r#"{"recipientType": "anyone_with_link"}"#,
    ),
    row("GET", "/api/v1/shares/outbound", OK, OK, ""),
    row("GET", "/api/v1/shares/inbound", OK, OK, ""),
    // A share is its creator's and its recipient's: others never see it.
    row(
        "POST",
        "/api/v1/shares/{shareId}/accept",
        HIDDEN,
        HIDDEN,
        "",
    ),
    row(
        "POST",
        "/api/v1/shares/{shareId}/decline",
        HIDDEN,
        HIDDEN,
        "",
    ),
    row("DELETE", "/api/v1/share/{shareId}", HIDDEN, HIDDEN, ""),
    // --- organisations ---
    row("GET", "/api/v1/organizations", OK, OK, ""),
    row(
        "POST",
        "/api/v1/organizations",
        CREATED,
        CREATED,
        r#"{"name": "{new}"}"#,
    ),
    row("GET", "/api/v1/organizations/{orgId}", HIDDEN, OK, ""),
    row(
        "GET",
        "/api/v1/organizations/{orgId}/members",
        HIDDEN,
        OK,
        "",
    ),
    row(
        "GET",
        "/api/v1/organizations/{orgId}/members/{userId}",
        HIDDEN,
        OK,
        "",
    ),
    row(
        "PATCH",
        "/api/v1/organizations/{orgId}/members/{userId}",
        HIDDEN,
        FORBIDDEN,
        r#"{"role": "admin"}"#,
    ),
    row(
        "DELETE",
        "/api/v1/organizations/{orgId}/members/{userId}",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    row(
        "POST",
        "/api/v1/organizations/{orgId}/invitations",
        HIDDEN,
        FORBIDDEN,
        r#"{"email": "{new}@example.com", "role": "member"}"#,
    ),
    // Pending invitations are for admins.
    row(
        "GET",
        "/api/v1/organizations/{orgId}/invitations",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    row(
        "DELETE",
        "/api/v1/organizations/{orgId}/invitations/{invitationId}",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    row(
        "POST",
        "/api/v1/invitations/{token}/accept",
        HIDDEN,
        HIDDEN,
        "",
    ),
    row(
        "GET",
        "/api/v1/organizations/{orgId}/events",
        HIDDEN,
        OK,
        "",
    ),
    row(
        "GET",
        "/api/v1/organizations/{orgId}/tenants",
        HIDDEN,
        OK,
        "",
    ),
    row(
        "POST",
        "/api/v1/organizations/{orgId}/tenants",
        HIDDEN,
        FORBIDDEN,
        NEW_TENANT,
    ),
    row(
        "GET",
        "/api/v1/organizations/{orgId}/tenants/{tenantId}",
        HIDDEN,
        OK,
        "",
    ),
    row(
        "POST",
        "/api/v1/organizations/{orgId}/tenants/{tenantId}/suspend",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    row(
        "POST",
        "/api/v1/organizations/{orgId}/tenants/{tenantId}/resume",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    row(
        "POST",
        "/api/v1/organizations/{orgId}/tenants/{tenantId}/decommission",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    // --- agents ---
    row("GET", "/api/v1/agents", OK, OK, ""),
    row("POST", "/api/v1/agents", HIDDEN, FORBIDDEN, NEW_AGENT),
    // An agent's own profile: users have none.
    row("GET", "/api/v1/agents/me", OPERATOR, OPERATOR, ""),
    row("GET", "/api/v1/agents/{agentId}", HIDDEN, OK, ""),
    row(
        "PATCH",
        "/api/v1/agents/{agentId}",
        HIDDEN,
        FORBIDDEN,
        r#"{"description": "matrix"}"#,
    ),
    row("DELETE", "/api/v1/agents/{agentId}", HIDDEN, FORBIDDEN, ""),
    row(
        "POST",
        "/api/v1/agents/{agentId}/rotate-key",
        HIDDEN,
        FORBIDDEN,
        "",
    ),
    // --- chains registry (operators) ---
    row("GET", "/api/v1/admin/chains", OPERATOR, OPERATOR, ""),
    row(
        "POST",
        "/api/v1/admin/chains",
        OPERATOR,
        OPERATOR,
        NEW_CHAIN,
    ),
    row(
        "PUT",
        "/api/v1/admin/chains/{chainId}",
        OPERATOR,
        OPERATOR,
        NEW_CHAIN,
    ),
    row(
        "DELETE",
        "/api/v1/admin/chains/{chainId}",
        OPERATOR,
        OPERATOR,
        "",
    ),
    row("GET", "/api/v1/agents/enrollments", OK, OK, ""),
    row(
        "GET",
        "/api/v1/agents/enrollments/{enrollmentId}",
        HIDDEN,
        OK,
        "",
    ),
    row(
        "POST",
        "/api/v1/agents/enrollments/{enrollmentId}/approve",
        HIDDEN,
        FORBIDDEN,
        "{}",
    ),
    row(
        "POST",
        "/api/v1/agents/enrollments/{enrollmentId}/reject",
        HIDDEN,
        FORBIDDEN,
        "{}",
    ),
];

/// What a member and an admin of organisation A must be refused, beyond
/// what every user is refused on operator-only rows. A body given here
/// replaces the row's: it probes fields and datasets the role may not set.
/// `None`: allowed (the functional suites cover the success).
struct RoleRow {
    method: &'static str,
    path: &'static str,
    member: Option<(u16, &'static str)>,
    admin: Option<(u16, &'static str)>,
    body: &'static str,
}

const fn role(
    method: &'static str,
    path: &'static str,
    member: Option<(u16, &'static str)>,
    admin: Option<(u16, &'static str)>,
    body: &'static str,
) -> RoleRow {
    RoleRow {
        method,
        path,
        member,
        admin,
        body,
    }
}

const DENIED: Option<(u16, &str)> = Some((403, "FORBIDDEN"));
const FIELD: Option<(u16, &str)> = Some((403, "FIELD_FORBIDDEN"));

const ROLES: &[RoleRow] = &[
    // Agents are registered and managed by owners and admins.
    role("POST", "/api/v1/agents", DENIED, None, NEW_AGENT),
    role(
        "PATCH",
        "/api/v1/agents/{agentId}",
        DENIED,
        None,
        r#"{"description": "matrix"}"#,
    ),
    role("DELETE", "/api/v1/agents/{agentId}", DENIED, None, ""),
    role(
        "POST",
        "/api/v1/agents/{agentId}/rotate-key",
        DENIED,
        None,
        "",
    ),
    role(
        "POST",
        "/api/v1/agents/enrollments/{enrollmentId}/approve",
        DENIED,
        None,
        "{}",
    ),
    role(
        "POST",
        "/api/v1/agents/enrollments/{enrollmentId}/reject",
        DENIED,
        None,
        "{}",
    ),
    // Operator-grade tenant fields, for anyone in the organisation.
    role(
        "POST",
        "/api/v1/organizations/{orgId}/tenants",
        FIELD,
        FIELD,
        r#"{"name": "{new}", "email": "m@example.com", "policyRef": "open"}"#,
    ),
    role(
        "PUT",
        "/api/v1/tenants/{name}",
        FIELD,
        FIELD,
        r#"{"email": "m@example.com", "clusterTenantRef": "elsewhere"}"#,
    ),
    // Resources: admins only, within the organisation's limits.
    role(
        "PUT",
        "/api/v1/tenants/{name}",
        FIELD,
        Some((403, "LIMIT_EXCEEDED")),
        r#"{"email": "m@example.com", "resources": {"cpu": "100000", "memory": "1000Ti"}}"#,
    ),
    // No policy allows a dataset to an organisation's tenant.
    role(
        "PUT",
        "/api/v1/tenants/{name}/datasets",
        Some((403, "DATASET_DENIED")),
        Some((403, "DATASET_DENIED")),
        r#"{"datasets": [{"name": "hr-payroll", "access": "write"}]}"#,
    ),
    role("DELETE", "/api/v1/tenants/{name}", DENIED, None, ""),
    role(
        "POST",
        "/api/v1/organizations/{orgId}/tenants/{tenantId}/decommission",
        DENIED,
        None,
        "",
    ),
    role(
        "POST",
        "/api/v1/organizations/{orgId}/invitations",
        DENIED,
        None,
        r#"{"email": "{new}@example.com", "role": "member"}"#,
    ),
    role(
        "GET",
        "/api/v1/organizations/{orgId}/invitations",
        DENIED,
        None,
        "",
    ),
    // `{userId}` is the owner: only owners manage owners.
    role(
        "PATCH",
        "/api/v1/organizations/{orgId}/members/{userId}",
        DENIED,
        DENIED,
        r#"{"role": "member"}"#,
    ),
    role(
        "DELETE",
        "/api/v1/organizations/{orgId}/members/{userId}",
        DENIED,
        DENIED,
        "",
    ),
];

/// What the two agents get on the operations declared for agents
/// (`x-access.callers` `agents`); every other operation is a 403 for them.
/// Organisation A's agent was given A's vault and may read and list
/// `matrix/**` there, nothing more; B's agent was given nothing of A's.
struct AgentRow {
    method: &'static str,
    path: &'static str,
    own: u16,
    other_org: u16,
}

const AGENT_ROWS: &[AgentRow] = &[
    AgentRow {
        method: "GET",
        path: "/api/v1/vaults",
        own: 200,
        other_org: 200,
    },
    AgentRow {
        method: "GET",
        path: "/api/v1/vaults/{vaultId}",
        own: 200,
        other_org: 404,
    },
    AgentRow {
        method: "GET",
        path: "/api/v1/vaults/{vaultId}/secrets",
        own: 200,
        other_org: 404,
    },
    AgentRow {
        method: "GET",
        path: "/api/v1/vaults/{vaultId}/secrets/{path}",
        own: 200,
        other_org: 404,
    },
    // No policy lets it write or delete.
    AgentRow {
        method: "PUT",
        path: "/api/v1/vaults/{vaultId}/secrets/{path}",
        own: 403,
        other_org: 404,
    },
    AgentRow {
        method: "DELETE",
        path: "/api/v1/vaults/{vaultId}/secrets/{path}",
        own: 403,
        other_org: 404,
    },
    AgentRow {
        method: "GET",
        path: "/api/v1/vaults/{vaultId}/versions/{path}",
        own: 200,
        other_org: 404,
    },
    AgentRow {
        method: "GET",
        path: "/api/v1/agents/me",
        own: 200,
        other_org: 200,
    },
    // Shares sent to them (none): the share of the fixture went to A's
    // admin, so neither agent may see it.
    AgentRow {
        method: "GET",
        path: "/api/v1/shares/inbound",
        own: 200,
        other_org: 200,
    },
    AgentRow {
        method: "POST",
        path: "/api/v1/shares/{shareId}/accept",
        own: 404,
        other_org: 404,
    },
    AgentRow {
        method: "POST",
        path: "/api/v1/shares/{shareId}/decline",
        own: 404,
        other_org: 404,
    },
];

/// An operation the API serves, from its OpenAPI document.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Operation {
    method: String,
    path: String,
    public: bool,
    /// Its scope area, as its declaration states it (`x-access.scopeArea`).
    area: String,
    /// Who may call it (`x-access.callers`).
    callers: String,
}

async fn served_operations() -> Vec<Operation> {
    let doc = call("GET", "/api/v1/openapi.json")
        .anonymous()
        .send()
        .await
        .expect(200);
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (key, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&key.as_str()) {
                continue;
            }
            ops.push(Operation {
                method: key.to_uppercase(),
                path: path.clone(),
                public: op["security"] == json!([{}]),
                area: op["x-access"]["scopeArea"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                callers: op["x-access"]["callers"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
    }
    ops.sort();
    ops
}

/// Organisation A (owner, viewer, a tenant), a user of organisation B only,
/// and refused credentials of every kind.
struct Fixture {
    org_id: String,
    owner: TestUser,
    tenant_name: String,
    tenant_id: String,
    viewer: TestUser,
    member: TestUser,
    admin: TestUser,
    other: TestUser,
    /// An access token with the scope `tenants:write` only.
    tenants_token: String,
    /// A gateway key of A's tenant.
    gateway_key: String,
    /// A vault of A holding the secret `matrix/secret`, and a policy of it.
    vault_id: String,
    vault_policy_id: String,
    /// That secret, and a share of it from A's owner to A's admin.
    secret_id: String,
    share_id: String,
    /// A finished CMEK rotation of the vault (CMEK is off again).
    cmek_job_id: String,
    /// A's agent (given the vault, reading and listing `matrix/**`), and
    /// an agent of organisation B.
    agent: TestAgent,
    other_agent: TestAgent,
    /// A pending enrolment into A.
    enrollment_id: String,
    /// A browser signed in at the identity provider.
    browser: Browser,
    /// `(label, Authorization header value)`, each to be refused with 401.
    refused: Vec<(&'static str, String)>,
}

/// A new user who joined organisation `org_id` as `role`.
async fn joined(owner: &TestUser, org_id: &str, role: &str) -> TestUser {
    cp_tests::join_org(owner, org_id, role, &format!("matrix-{role}")).await
}

async fn fixture() -> Fixture {
    let owner = sign_up("matrix-owner").await;
    let org = owner
        .call("POST", "/api/v1/organizations")
        .json(&json!({"name": unique("matrix-a")}))
        .send()
        .await
        .expect(201);
    let org_id = org["data"]["id"].as_str().unwrap().to_owned();

    let viewer = joined(&owner, &org_id, "viewer").await;
    let member = joined(&owner, &org_id, "member").await;
    let admin = joined(&owner, &org_id, "admin").await;

    let tenant_name = unique("matrix-t");
    let tenant = owner
        .call("POST", &format!("/api/v1/organizations/{org_id}/tenants"))
        .json(&tenant_body(&tenant_name))
        .send()
        .await
        .expect(201);
    let tenant_id = tenant["data"]["id"].as_str().unwrap().to_owned();
    let gateway_key = call("POST", &format!("/api/v1/tenants/{tenant_name}/keys"))
        .json(&json!({"name": "matrix"}))
        .send()
        .await
        .expect(201)["data"]["plainTextKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let tenants_token = call("POST", "/api/v1/access-tokens")
        .json(&json!({"name": unique("matrix"), "scopes": ["tenants:write"]}))
        .send()
        .await
        .expect(201)["data"]["plainTextToken"]
        .as_str()
        .unwrap()
        .to_owned();

    let vault_id = owner
        .call("POST", "/api/v1/vaults")
        .json(&json!({"orgId": org_id, "name": "matrix"}))
        .created_id()
        .await;
    let secret_id = call(
        "PUT",
        &format!("/api/v1/vaults/{vault_id}/secrets/matrix/secret"),
    )
    .json(&json!({"type": "note", "value": "matrix"}))
    .created_id()
    .await;
    let cmek_job_id = finished_rotation(&vault_id).await;
    let share_id = call("POST", &format!("/api/v1/secrets/{secret_id}/share"))
        .json(&json!({"recipientType": "user", "userId": admin.id}))
        .created_id()
        .await;
    let vault_policy_id = owner
        .call("POST", &format!("/api/v1/vaults/{vault_id}/policies"))
        .json(&serde_json::from_str::<Value>(VAULT_POLICY).unwrap())
        .created_id()
        .await;

    let agent = owner
        .register_agent(
            &json!({"orgId": org_id, "name": "matrix", "vaultIds": [vault_id],
                                "scopes": ["vaults:read", "vaults:write"]}),
        )
        .await;
    owner
        .call("POST", &format!("/api/v1/vaults/{vault_id}/policies"))
        .json(&json!({"principal": {"kind": "agent", "id": agent.id},
                      "actions": ["read", "list"], "pathGlob": "matrix/**", "effect": "allow"}))
        .send()
        .await
        .expect(201);

    let enrollment_id = call("POST", "/api/v1/agents/enroll")
        .anonymous()
        .json(&json!({"orgId": org_id, "name": "matrix-enrolled", "approverEmail": owner.email}))
        .send()
        .await
        .expect(202)["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let other = sign_up("matrix-other").await;
    let other_org = other
        .call("POST", "/api/v1/organizations")
        .json(&json!({"name": unique("matrix-b")}))
        .created_id()
        .await;
    let other_agent = other
        .register_agent(&json!({"orgId": other_org, "name": "matrix-b",
                                "scopes": ["vaults:read", "vaults:write"]}))
        .await;

    Fixture {
        org_id,
        owner,
        tenant_name,
        tenant_id,
        viewer,
        member,
        admin,
        other,
        tenants_token,
        gateway_key,
        vault_id,
        vault_policy_id,
        secret_id,
        share_id,
        cmek_job_id,
        agent,
        other_agent,
        enrollment_id,
        browser: signed_in(&email("matrix-browser")).await,
        refused: refused_credentials().await,
    }
}

/// A CMEK rotation of `vault` run to its end, CMEK then turned off again
/// (so the vault's other rows see it as before); the job's id.
async fn finished_rotation(vault: &str) -> String {
    use cp_tests::cmek::ClientKey;
    let (old, new) = (ClientKey::new(3), ClientKey::new(4));
    call("POST", &format!("/api/v1/vaults/{vault}/cmek"))
        .json(&json!({"fingerprint": old.fingerprint()}))
        .send()
        .await
        .expect(200);
    let job = call("POST", &format!("/api/v1/vaults/{vault}/cmek-rotate"))
        .header("x-cmek-old-key", &old.header())
        .header("x-cmek-new-key", &new.header())
        .json(&json!({"fingerprint": new.fingerprint()}))
        .send()
        .await
        .expect(200);
    call("DELETE", &format!("/api/v1/vaults/{vault}/cmek"))
        .send()
        .await
        .expect(204);
    job["data"]["id"].as_str().unwrap().to_owned()
}

/// Credentials that were good once, or never were.
async fn refused_credentials() -> Vec<(&'static str, String)> {
    let mut refused = vec![
        ("malformed header", "Token abc".to_owned()),
        ("unknown bearer", "Bearer not-a-token".to_owned()),
    ];

    // A user JWT past its expiry, correctly signed for an existing user.
    let user = sign_up("matrix-expired").await;
    let mut claims = jwt_claims(&user.token);
    let now = chrono_secs();
    claims["iat"] = json!(now - 3600);
    claims["nbf"] = json!(now - 3600);
    claims["exp"] = json!(now - 1800);
    refused.push((
        "expired JWT",
        format!("Bearer {}", forge_jwt(&claims, &jwt_key())),
    ));

    // A logged-out JWT.
    let user = sign_up("matrix-revoked").await;
    user.call("DELETE", "/api/v1/auth/token")
        .send()
        .await
        .expect(204);
    refused.push(("revoked JWT", format!("Bearer {}", user.token)));

    // A deleted personal API key.
    let key = user_api_key().await;
    refused.push(("revoked API key", format!("Bearer {key}")));

    // An access token past its expiry, and a deleted one.
    let (id, expired) = access_token().await;
    db().await
        .execute(
            "UPDATE access_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap();
    refused.push(("expired access token", format!("Bearer {expired}")));
    let (id, revoked) = access_token().await;
    call("DELETE", &format!("/api/v1/access-tokens/{id}"))
        .send()
        .await
        .expect(204);
    refused.push(("revoked access token", format!("Bearer {revoked}")));

    // A deactivated agent's token, and an agent key used as a bearer token.
    let owner = sign_up("matrix-agent-owner").await;
    let org = owner.create_org("matrix-agents").await;
    let agent = owner
        .register_agent(&json!({"orgId": org, "name": "gone"}))
        .await;
    owner
        .call("DELETE", &format!("/api/v1/agents/{}", agent.id))
        .send()
        .await
        .expect(204);
    refused.push(("deactivated agent", format!("Bearer {}", agent.token)));
    let live = owner
        .register_agent(&json!({"orgId": org, "name": "live"}))
        .await;
    refused.push(("agent key as bearer", format!("Bearer {}", live.key)));
    refused
}

async fn user_api_key() -> String {
    let user = sign_up("matrix-key").await;
    let created = user
        .call("POST", "/api/v1/auth/api-keys")
        .json(&json!({"name": "matrix"}))
        .send()
        .await
        .expect(201);
    let key = created["data"]["plainTextKey"].as_str().unwrap().to_owned();
    let id = created["data"]["id"].as_str().unwrap();
    user.call("DELETE", &format!("/api/v1/auth/api-keys/{id}"))
        .send()
        .await
        .expect(204);
    key
}

async fn access_token() -> (String, String) {
    let created = call("POST", "/api/v1/access-tokens")
        .json(&json!({"name": unique("matrix"), "scopes": ["*"]}))
        .send()
        .await
        .expect(201);
    (
        created["data"]["id"].as_str().unwrap().to_owned(),
        created["data"]["plainTextToken"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

fn chrono_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Fixture {
    /// The concrete URL of a row's path.
    fn url(&self, path: &str) -> String {
        let unknown = uuid::Uuid::now_v7().to_string();
        path.split('/')
            .map(|seg| match seg {
                "{orgId}" => self.org_id.clone(),
                "{tenantId}" => self.tenant_id.clone(),
                "{userId}" => self.owner.id.clone(),
                "{vaultId}" => self.vault_id.clone(),
                "{policyId}" => self.vault_policy_id.clone(),
                "{secretId}" => self.secret_id.clone(),
                "{shareId}" => self.share_id.clone(),
                "{jobId}" => self.cmek_job_id.clone(),
                "{agentId}" => self.agent.id.clone(),
                "{enrollmentId}" => self.enrollment_id.clone(),
                "{path}" => "matrix/secret".to_owned(),
                "{token}" => format!("cpinv_{}", unique("unknown")),
                "{name}" if path.starts_with("/api/v1/tenants/") => self.tenant_name.clone(),
                "{name}" => unique("matrix-unknown"),
                s if s.starts_with('{') => unknown.clone(),
                s => s.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    fn request(&self, row: &Row, auth: Option<&str>) -> Call {
        self.request_with(row.method, row.path, row.body, auth)
    }

    fn request_with(&self, method: &str, path: &str, body: &str, auth: Option<&str>) -> Call {
        let mut c = call(leak(method), &self.url(path));
        c = match auth {
            Some(value) => c.header("authorization", value),
            None => c.anonymous(),
        };
        if body.is_empty() {
            return c;
        }
        let body = body
            .replace("{new}", &unique("matrix-new"))
            .replace("{orgId}", &self.org_id);
        c.json(&serde_json::from_str::<Value>(&body).unwrap())
    }
}

/// Method names are `'static` in the request builder.
fn leak(method: &str) -> &'static str {
    ["GET", "POST", "PUT", "PATCH", "DELETE"]
        .into_iter()
        .find(|m| *m == method)
        .unwrap()
}

#[tokio::test]
async fn every_operation_has_a_row_and_every_caller_gets_its_status() {
    env();
    let served = served_operations().await;

    // The table and the API agree on what exists.
    let mut problems = Vec::new();
    for op in served.iter().filter(|o| !o.public) {
        if !MATRIX
            .iter()
            .any(|r| r.method == op.method && r.path == op.path)
        {
            problems.push(format!(
                "{} {} is served but has no row in MATRIX",
                op.method, op.path
            ));
        }
    }
    for r in MATRIX {
        if !served
            .iter()
            .any(|o| o.method == r.method && o.path == r.path && !o.public)
        {
            problems.push(format!(
                "MATRIX row {} {} is not a served authenticated operation",
                r.method, r.path
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let f = fixture().await;
    let mut checked = 0;
    for r in MATRIX {
        // Unauthenticated and refused credentials: 401 everywhere.
        let mut cells: Vec<(String, Call, u16)> =
            vec![("no token".into(), f.request(r, None), 401)];
        for (label, value) in &f.refused {
            cells.push(((*label).into(), f.request(r, Some(value)), 401));
        }
        for (label, user, expect) in [
            ("another organisation's user", &f.other, r.other_org),
            ("viewer", &f.viewer, r.viewer),
        ] {
            if let Status(status) = expect {
                let auth = format!("Bearer {}", user.token);
                cells.push((label.into(), f.request(r, Some(&auth)), status));
            }
        }
        // Operator-only rows refuse members and admins like every user.
        if r.other_org == OPERATOR && r.viewer == OPERATOR {
            for (label, user) in [("member", &f.member), ("admin", &f.admin)] {
                let auth = format!("Bearer {}", user.token);
                cells.push((label.into(), f.request(r, Some(&auth)), 403));
            }
        }
        // A token scoped to tenants reaches nothing else (the operation's
        // declared area, which for gateway keys and fair-share settings
        // under /tenants/{name}/... is not `tenants`).
        let area = served
            .iter()
            .find(|o| o.method == r.method && o.path == r.path)
            .map_or("", |o| o.area.as_str());
        if area != "tenants" {
            let auth = format!("Bearer {}", f.tenants_token);
            cells.push(("tenants:write token".into(), f.request(r, Some(&auth)), 403));
        }
        // A gateway key reports usage, and nothing else.
        if !(r.method == "POST" && r.path == "/api/v1/token-usage") {
            let auth = format!("Bearer {}", f.gateway_key);
            cells.push(("gateway key".into(), f.request(r, Some(&auth)), 403));
        }
        // Agents: what AGENT_ROWS says on operations declared for them,
        // 403 everywhere else.
        let for_agents = served
            .iter()
            .any(|o| o.method == r.method && o.path == r.path && o.callers == "agents");
        let agent_row = AGENT_ROWS
            .iter()
            .find(|a| a.method == r.method && a.path == r.path);
        if for_agents != agent_row.is_some() {
            problems.push(format!(
                "{} {}: declared for agents: {for_agents}, but AGENT_ROWS {} it",
                r.method,
                r.path,
                if for_agents { "lacks" } else { "has" }
            ));
        }
        let (own, other_org) = agent_row.map_or((403, 403), |a| (a.own, a.other_org));
        for (label, agent, status) in [
            ("organisation A's agent", &f.agent, own),
            ("another organisation's agent", &f.other_agent, other_org),
        ] {
            let auth = format!("Bearer {}", agent.token);
            cells.push((label.into(), f.request(r, Some(&auth)), status));
        }
        for (label, c, expected) in cells {
            let resp = c.send().await;
            checked += 1;
            if resp.status != expected {
                problems.push(format!(
                    "{} {} as {label}: expected {expected}, got {} {}",
                    r.method,
                    r.path,
                    resp.status,
                    String::from_utf8_lossy(&resp.body)
                ));
            } else if expected >= 400 && resp.json()["code"].as_str().is_none() {
                problems.push(format!(
                    "{} {} as {label}: {expected} without an error envelope",
                    r.method, r.path
                ));
            }
        }
    }
    // Members and admins: the refusals their role must meet.
    for rr in ROLES {
        assert!(
            MATRIX
                .iter()
                .any(|r| r.method == rr.method && r.path == rr.path),
            "ROLES row {} {} has no MATRIX row",
            rr.method,
            rr.path
        );
        for (label, user, expect) in [
            ("member", &f.member, rr.member),
            ("admin", &f.admin, rr.admin),
        ] {
            let Some((status, code)) = expect else {
                continue;
            };
            let auth = format!("Bearer {}", user.token);
            let resp = f
                .request_with(rr.method, rr.path, rr.body, Some(&auth))
                .send()
                .await;
            checked += 1;
            if resp.status != status || resp.json()["code"] != code {
                problems.push(format!(
                    "{} {} as {label}: expected {status} {code}, got {} {}",
                    rr.method,
                    rr.path,
                    resp.status,
                    String::from_utf8_lossy(&resp.body)
                ));
            }
        }
    }
    // A session cookie without the CSRF header writes nothing.
    for r in MATRIX.iter().filter(|r| r.method != "GET") {
        let body = r.body.replace("{new}", &unique("matrix-new"));
        let resp = f
            .browser
            .request(
                r.method,
                &cp_url(&f.url(r.path)),
                &[],
                (!body.is_empty()).then(|| (body.into_bytes(), "application/json")),
            )
            .await;
        checked += 1;
        if resp.status != 403 || !String::from_utf8_lossy(&resp.body).contains("X-Requested-With") {
            problems.push(format!(
                "{} {} with a session cookie and no CSRF header: expected 403, got {} {}",
                r.method,
                r.path,
                resp.status,
                String::from_utf8_lossy(&resp.body)
            ));
        }
    }
    // What the document calls public answers without credentials.
    for op in served.iter().filter(|o| o.public) {
        let resp = f.request_with(&op.method, &op.path, "", None).send().await;
        checked += 1;
        if resp.status == 401 {
            problems.push(format!(
                "{} {} is documented as public but answered 401",
                op.method, op.path
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    cp_tests::report(
        "authorisation matrix",
        &format!("{} operations, {checked} requests", MATRIX.len()),
    );

    // Nothing the refused callers sent changed organisation A's tenant.
    let tenant = bearer(
        &f.owner.token,
        "GET",
        &format!("/api/v1/organizations/{}/tenants/{}", f.org_id, f.tenant_id),
    )
    .send()
    .await
    .expect(200);
    assert_eq!(tenant["data"]["name"], f.tenant_name.as_str());
    assert_ne!(tenant["data"]["state"], "decommissioned");
}
