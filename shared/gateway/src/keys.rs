//! Tenant gateway keys (`sk_…`): created per tenant, shown once, stored as SHA-256
//! digests; they authenticate usage ingestion for their tenant only
//! (`cp_auth` looks them up and refuses disabled ones with a 401).
//! Lists and audit entries never hold a key, only its first characters.

use cp_http::ids::{id_param, new_id, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, PageQuery};
use cp_http::validate::{dns_label, dns_label_schema, pattern_string, Validator};
use cp_http::{time, ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::openapi::ResourceLinks;
use cp_platform::resource::{keyset_page, views, KeysetList, TieBreak};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, DbError, FromRow, Row, Value};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::fleet::TenantNamePath;
use crate::fleet_store::lock_live_tenant;

/// Cursor scope of `GET /keys`.
const LIST_SCOPE: &str = "gateway-keys";
/// Characters of a key shown in lists: `sk_` and the first 12 random ones.
pub const SHOWN_PREFIX_LEN: usize = 15;
/// Longest key name, in characters.
pub const KEY_NAME_MAX: usize = 64;
/// OpenAPI pattern of a key name: no control characters, and at least one
/// character that is not white space (Unicode `White_Space`, what `trim`
/// removes), so the trimmed name is never empty.
pub const KEY_NAME_PATTERN: &str = concat!(
    "^[^\\x00-\\x1F\\x7F-\\x9F]*",
    "[^\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
    "[^\\x00-\\x1F\\x7F-\\x9F]*$"
);

// ------------------------------------------------------------------ queries

macro_rules! key_columns {
    () => {
        concat!(
            "id::text AS id, version, tenant_name, name, key_prefix, disabled, ",
            cp_store::epoch_micros!("created_at"),
            " AS created_micros, ",
            cp_store::epoch_micros!("last_used_at"),
            " AS last_used_micros"
        )
    };
}

const KEY_INSERT: &str = concat!(
    "INSERT INTO gateway_keys (id, tenant_name, name, key_prefix, key_hash, created_by)
    VALUES ($1::text::uuid, $2, $3, $4, $5, $6) RETURNING ",
    key_columns!()
);
const KEY_LIST_FIRST: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM gateway_keys ORDER BY created_at, id LIMIT $1"
);
const KEY_LIST_AFTER: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM gateway_keys WHERE (created_at, id) >
        (",
    cp_store::micros_timestamptz!("$2"),
    ", $3::text::uuid)
    ORDER BY created_at, id LIMIT $1"
);
/// One tenant's keys, on `gateway_keys_tenant` (`$2` the tenant).
const KEY_LIST_TENANT_FIRST: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM gateway_keys WHERE tenant_name = $2 ORDER BY created_at, id LIMIT $1"
);
/// The page after a cursor of one tenant's keys (`$4` the tenant).
const KEY_LIST_TENANT_AFTER: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM gateway_keys WHERE tenant_name = $4 AND (created_at, id) >
        (",
    cp_store::micros_timestamptz!("$2"),
    ", $3::text::uuid)
    ORDER BY created_at, id LIMIT $1"
);
const KEY_DELETE: &str =
    "DELETE FROM gateway_keys WHERE id = $1::text::uuid RETURNING tenant_name, name, key_prefix";
const KEY_SET_DISABLED: &str = concat!(
    "UPDATE gateway_keys SET disabled = $2, version = version + 1, updated_at = now()
    WHERE id = $1::text::uuid RETURNING ",
    key_columns!()
);

// -------------------------------------------------------------------- model

fn key_name_schema() -> Object {
    let mut s = pattern_string(
        false,
        KEY_NAME_PATTERN,
        KEY_NAME_MAX,
        "What the key is for (at most 64 characters, no control characters, not only white \
         space; stored trimmed), unique per tenant.",
    );
    s.min_length = Some(1);
    s
}

/// Body of `POST /tenants/{name}/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayKeyCreate {
    /// The key's name.
    #[schema(schema_with = key_name_schema, required = true)]
    name: Option<String>,
}

impl GatewayKeyCreate {
    /// The trimmed name.
    pub fn validate(self) -> Result<String, ApiError> {
        let mut v = Validator::new();
        match self.name.as_deref() {
            None => v.error("name", "is required"),
            Some(n) if n.chars().any(char::is_control) => {
                v.error("name", "must not contain control characters");
            }
            Some(n) if n.chars().count() > KEY_NAME_MAX => {
                v.error("name", format!("must be at most {KEY_NAME_MAX} characters"));
            }
            Some(n) => v.check(!n.trim().is_empty(), "name", "must not be empty or blank"),
        }
        v.finish()?;
        Ok(self.name.unwrap_or_default().trim().to_owned())
    }
}

/// Body of `PUT /keys/{id}/disabled`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayKeyDisabled {
    /// `true` disables the key (it is refused with a 401), `false` re-enables it.
    #[schema(required = true, value_type = bool)]
    disabled: Option<bool>,
}

impl GatewayKeyDisabled {
    /// The new state.
    pub fn validate(self) -> Result<bool, ApiError> {
        self.disabled
            .ok_or_else(|| ApiError::invalid("disabled", "is required"))
    }
}

/// A gateway key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayKey {
    /// Key id (UUIDv7).
    pub id: String,
    /// The tenant whose usage it reports.
    pub tenant: String,
    /// What the key is for.
    pub name: String,
    /// The key's first characters (`sk_` and 12 more), to recognise it.
    pub key_prefix: String,
    /// Whether it is disabled (refused with a 401).
    pub disabled: bool,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// When it last authenticated a request (RFC 3339, to the minute); null if never.
    pub last_used_at: Option<String>,
}

/// A key just created: the only time its plaintext is returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedGatewayKey {
    /// The key.
    #[serde(flatten)]
    pub key: GatewayKey,
    /// The secret: the gateway sends it as `Authorization: Bearer <plainTextKey>`.
    /// It is stored only as a SHA-256 digest and never returned again.
    pub plain_text_key: String,
}

impl FromRow for GatewayKey {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(Self {
            id: r.text("id")?,
            tenant: r.text("tenant_name")?,
            name: r.text("name")?,
            key_prefix: r.text("key_prefix")?,
            disabled: r.bool("disabled")?,
            created_at: time::micros_rfc3339(r.i64("created_micros")?),
            last_used_at: r.opt_i64("last_used_micros")?.map(time::micros_rfc3339),
        })
    }
}

fn not_found(id: &str) -> Failure {
    ApiError::not_found("GATEWAY_KEY", id).into()
}

/// `{id}` of a gateway key, for the OpenAPI document.
pub struct KeyPath;

impl IntoParams for KeyPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("id", "Gateway key id")]
    }
}

/// The `tenant` filter of `GET /keys`, for the OpenAPI document.
pub struct TenantFilterQuery;

impl IntoParams for TenantFilterQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = dns_label_schema(false, "Tenant name");
        vec![cp_http::params::query_param(
            "tenant",
            "Only this tenant's keys",
            schema,
        )]
    }
}

// ----------------------------------------------------------------- handlers

#[operation(post, "/api/v1/tenants/{name}/keys", id = "createGatewayKey", callers = operator, kind = "gateway_key", area = "keys", shows_secret,
    tag = "gateway-keys",
    summary = "Create a gateway key for a tenant; its plainTextKey is returned this once and never again",
    description = "The key (`sk_` and 43 random characters) authenticates usage ingestion \
        (`POST /token-usage`) for this tenant only; every other route answers it with a 403. \
        It is stored as a SHA-256 digest. A duplicate name for the tenant is a 409, as is a \
        decommissioned tenant. Users get a 403.",
    request_body = GatewayKeyCreate,
    params(TenantNamePath, IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<CreatedGatewayKey>)))]
pub(crate) async fn create_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    // Under /tenants, which users reach: refuse them before anything else.
    ctx.principal
        .forbid_users("gateway keys are the platform operator's")?;
    let tenant = params.valid("name", dns_label)?;
    let name = parse_body::<GatewayKeyCreate>(req)?.validate()?;
    let secret = cp_crypto::new_token(cp_auth::GATEWAY_KEY_PREFIX)
        .map_err(|e| Failure::with_cause(ApiError::Internal, format!("generating a key: {e}")))?;
    let id = new_id().to_string();
    let prefix: String = secret.chars().take(SHOWN_PREFIX_LEN).collect();
    let key = transaction(ctx.db(), async |db| {
        lock_live_tenant(db, tenant).await?;
        let row = db
            .query_one(
                KEY_INSERT,
                &[
                    id.as_str().into(),
                    tenant.into(),
                    name.as_str().into(),
                    prefix.as_str().into(),
                    cp_crypto::token_hash(&secret).into(),
                    ctx.principal.actor().into(),
                ],
            )
            .await
            .map_err(|err| match err {
                DbError::UniqueViolation { .. } => Failure::with_cause(
                    ApiError::Conflict(format!(
                        "tenant '{tenant}' already has a gateway key named '{name}'"
                    )),
                    err.to_string(),
                ),
                other => other.into(),
            })?;
        ctx.audit("gateway_key", &id)
            .tenant(tenant)
            .detail(json!({ "name": name, "keyPrefix": prefix }))
            .write(db)
            .await?;
        Ok::<_, Failure>(GatewayKey::from_row(&row)?)
    })
    .await?;
    Ok(ctx.created(&CreatedGatewayKey {
        key,
        plain_text_key: secret,
    }))
}

#[operation(get, "/api/v1/keys", id = "listGatewayKeys", callers = operator, kind = "gateway_key",
    tag = "gateway-keys",
    summary = "List gateway keys, never their secrets (keyset pagination, oldest first)",
    params(TenantFilterQuery, PageQuery),
    responses((status = 200, body = ListEnvelope<GatewayKey>)))]
pub(crate) async fn list_keys<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let tenant = req.query_param("tenant");
    if let Some(t) = &tenant {
        dns_label(t).map_err(|msg| ApiError::invalid("tenant", msg))?;
    }
    let page = PageRequest::from_request(req, LIST_SCOPE)?;
    let list = match tenant {
        None => KeysetList {
            scope: LIST_SCOPE,
            first: KEY_LIST_FIRST,
            after: KEY_LIST_AFTER,
            tie: TieBreak::Id,
        },
        Some(_) => KeysetList {
            scope: LIST_SCOPE,
            first: KEY_LIST_TENANT_FIRST,
            after: KEY_LIST_TENANT_AFTER,
            tie: TieBreak::Id,
        },
    };
    let extra = tenant.map(Value::Text);
    let (rows, pagination) = keyset_page::<_, GatewayKey>(ctx.db(), &page, list, extra).await?;
    Ok(ctx.list(&views(rows), pagination))
}

#[operation(delete, "/api/v1/keys/{id}", id = "deleteGatewayKey", callers = operator, kind = "gateway_key",
    tag = "gateway-keys",
    summary = "Delete a gateway key (it is refused with a 401 at once)",
    params(KeyPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = path_id(params, "id")?;
    let id = id.to_string();
    transaction(ctx.db(), async |db| {
        let row = db
            .query_opt(KEY_DELETE, &[id.as_str().into()])
            .await?
            .ok_or_else(|| not_found(&id))?;
        let tenant = row.text("tenant_name")?;
        ctx.audit("gateway_key", &id)
            .tenant(&tenant)
            .detail(json!({ "name": row.text("name")?, "keyPrefix": row.text("key_prefix")? }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}

#[operation(put, "/api/v1/keys/{id}/disabled", id = "setGatewayKeyDisabled", callers = operator, kind = "gateway_key",
    tag = "gateway-keys",
    summary = "Disable a gateway key (refused with a 401 from now on) or re-enable it",
    request_body = GatewayKeyDisabled,
    params(KeyPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<GatewayKey>)))]
pub(crate) async fn set_disabled<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = path_id(params, "id")?;
    let disabled = parse_body::<GatewayKeyDisabled>(req)?.validate()?;
    let id = id.to_string();
    let key = transaction(ctx.db(), async |db| {
        let row = db
            .query_opt(
                KEY_SET_DISABLED,
                &[id.as_str().into(), Value::Bool(disabled)],
            )
            .await?
            .ok_or_else(|| not_found(&id))?;
        let key = GatewayKey::from_row(&row)?;
        ctx.audit("gateway_key", &id)
            .tenant(&key.tenant)
            .detail(json!({ "name": key.name, "disabled": disabled }))
            .write(db)
            .await?;
        Ok::<_, Failure>(key)
    })
    .await?;
    Ok(ctx.ok(&key))
}

/// Adds the OpenAPI links between a key's operations (by `id`).
pub(crate) struct KeyLinks;

impl utoipa::Modify for KeyLinks {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        ResourceLinks {
            key: "id",
            by_key: &[
                ("DeleteGatewayKey", "deleteGatewayKey"),
                ("SetGatewayKeyDisabled", "setGatewayKeyDisabled"),
            ],
            update: None,
            one: &[
                ("/api/v1/tenants/{name}/keys", "post", "201"),
                ("/api/v1/keys/{id}/disabled", "put", "200"),
            ],
            list: Some(("/api/v1/keys", "listGatewayKeys")),
        }
        .apply(doc);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn name(json: &str) -> Result<String, ApiError> {
        serde_json::from_str::<GatewayKeyCreate>(json)
            .unwrap()
            .validate()
    }

    #[test]
    fn names_are_trimmed_bounded_and_required() {
        assert_eq!(name(r#"{"name":"  prod-key "}"#).unwrap(), "prod-key");
        assert_eq!(name(r#"{"name":"\u00a0x"}"#).unwrap(), "x");
        let max = "é".repeat(KEY_NAME_MAX);
        assert_eq!(name(&format!(r#"{{"name":"{max}"}}"#)).unwrap(), max);
        for bad in [
            r#"{}"#,
            r#"{"name":""}"#,
            r#"{"name":"   "}"#,
            r#"{"name":"\u3000"}"#,
            r#"{"name":"a\nb"}"#,
        ] {
            let err = name(bad).unwrap_err();
            assert_eq!(err.field_errors()[0].field, "name", "{bad}");
        }
        let long = format!(r#"{{"name":"{}"}}"#, "a".repeat(KEY_NAME_MAX + 1));
        assert!(name(&long).is_err());
        assert!(serde_json::from_str::<GatewayKeyCreate>(r#"{"name":"a","x":1}"#).is_err());
    }

    #[test]
    fn the_disabled_flag_is_required() {
        let d = |j: &str| {
            serde_json::from_str::<GatewayKeyDisabled>(j)
                .unwrap()
                .validate()
        };
        assert!(d(r#"{"disabled":true}"#).unwrap());
        assert!(!d(r#"{"disabled":false}"#).unwrap());
        assert_eq!(d("{}").unwrap_err().field_errors()[0].field, "disabled");
    }

    #[test]
    fn the_prefix_shows_the_kind_and_twelve_characters() {
        let secret = cp_crypto::new_token(cp_auth::GATEWAY_KEY_PREFIX).unwrap();
        let prefix: String = secret.chars().take(SHOWN_PREFIX_LEN).collect();
        assert!(prefix.starts_with("sk_"));
        assert_eq!(prefix.len(), 15);
        assert!(secret.len() > prefix.len() + 30);
    }
}
