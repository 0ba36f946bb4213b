//! Secrets: path-addressed, versioned, sealed. The wildcard `{path...}`
//! takes the rest of the URL, so version history and restore live under
//! their own prefixes (`/versions/{path}`, `/restore/{path}`) and never
//! collide with a secret's path.

use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{path_param, query_param, IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::transaction;
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::access::{vault_access, VaultAccess};
use crate::api::{crypto_failure, vault_id};
use crate::cmek::CmekCipher;
use crate::envelope::{EncryptedVersion, VaultKey, VersionRef};
use crate::keyring::keyring;
use crate::model::SecretType;
use crate::path::{PathPrefix, SecretPath};
use crate::policy::Action;
use crate::store::{self, secret_not_found, SecretFields, SecretRow, VaultRow, SECRETS_SCOPE};
use crate::views::{
    prefix_schema, secret_path, secret_path_schema, SecretMeta, SecretPut, SecretValue,
    SecretVersion, VersionChange,
};

/// `{vaultId}` and the secret's `{path}`, for the OpenAPI document.
pub(crate) struct SecretPathParams;

impl IntoParams for SecretPathParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            cp_http::ids::id_param("vaultId", "Vault id"),
            path_param(
                "path",
                "The secret's path ('/' as is or %2F)",
                secret_path_schema(),
            ),
        ]
    }
}

/// `?prefix=`, for the OpenAPI document.
pub(crate) struct PrefixQuery;

impl IntoParams for PrefixQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![query_param(
            "prefix",
            "Only secrets under this path",
            prefix_schema(),
        )]
    }
}

/// `?version=`, for the OpenAPI document.
pub(crate) struct VersionQuery;

impl IntoParams for VersionQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![query_param(
            "version",
            "Read this version instead of the latest",
            cp_http::validate::integer_schema(false, 1, i64::from(i32::MAX), "A version number."),
        )]
    }
}

/// The secret a route's URL names: its vault and its path.
pub(crate) struct SecretTarget {
    vault_id: String,
    path: SecretPath,
}

impl SecretTarget {
    /// `{vaultId}` and `{path}`, validated.
    fn of(params: &PathParams) -> Result<Self, Failure> {
        Ok(Self {
            vault_id: vault_id(params)?,
            path: secret_path(params.get("path"))?,
        })
    }

    /// The caller's standing in the vault (locked for the transaction when
    /// `lock`), allowed `action` on the path when one is named (none:
    /// metadata, which every member sees).
    async fn access<P: Platform>(
        &self,
        ctx: &RequestContext<'_, P>,
        req: &ApiRequest,
        action: Option<Action>,
        lock: bool,
    ) -> Result<VaultAccess, Failure> {
        let access = vault_access(ctx, req, &self.vault_id, lock).await?;
        if let Some(action) = action {
            access.authorize(ctx, action, &self.path).await?;
        }
        Ok(access)
    }

    /// The live secret at the path (locked when `lock`), if any.
    async fn find<D: cp_store::Database>(
        &self,
        db: &D,
        lock: bool,
    ) -> Result<Option<SecretRow>, Failure> {
        store::secret(db, &self.vault_id, self.path.as_str(), lock).await
    }

    /// The live secret at the path (locked when `lock`), or a 404.
    async fn secret<D: cp_store::Database>(
        &self,
        db: &D,
        lock: bool,
    ) -> Result<SecretRow, Failure> {
        self.find(db, lock)
            .await?
            .ok_or_else(|| secret_not_found(self.path.as_str()).into())
    }
}

/// The vault key of `vault`, unwrapped by the master key.
pub(crate) async fn vault_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    vault: &VaultRow,
) -> Result<VaultKey, Failure> {
    keyring(ctx)?
        .unwrap(
            &vault.view.key_provider,
            vault.master_key_id.as_deref(),
            vault.uuid()?,
            &vault.wrapped_key,
        )
        .await
}

pub(crate) fn version_ref<'a>(
    vault: Uuid,
    path: &'a SecretPath,
    version: i64,
) -> Result<VersionRef<'a>, Failure> {
    Ok(VersionRef {
        vault,
        path,
        version: u32::try_from(version).map_err(|_| crypto_failure("version number", version))?,
    })
}

#[operation(get, "/api/v1/vaults/{vaultId}/secrets", id = "listSecrets", callers = agents, kind = "secret",
    tag = "vaults",
    summary = "List a vault's secrets by path: metadata only, never a value",
    description = "Ordered by path, with keyset pagination; `?prefix=` keeps the paths under a \
        prefix, whole segments (`config` covers `config` and `config/...`, `config/` only what \
        lies below). Members of the organisation see every path; an agent only the paths a \
        policy lets it `list`.",
    params(crate::api::VaultPath, PrefixQuery, PageQuery),
    responses((status = 200, body = ListEnvelope<SecretMeta>)))]
pub(crate) async fn list_secrets<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let access = vault_access(ctx, req, &vault_id(params)?, false).await?;
    let prefix_text = req.query_param("prefix").unwrap_or_default();
    let prefix =
        PathPrefix::parse(&prefix_text).map_err(|e| ApiError::validation(vec![e.at("prefix")]))?;
    let page = PageRequest::from_request(req, SECRETS_SCOPE)?;
    let (rows, pagination) =
        store::list_secrets(ctx.db(), &page, &access.vault.view.id, prefix.as_str()).await?;
    let items = access
        .listable(ctx, rows.into_iter().map(|s| s.meta).collect())
        .await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(put, "/api/v1/vaults/{vaultId}/secrets/{path...}", id = "putSecret", callers = agents, kind = "secret",
    tag = "vaults",
    summary = "Write a secret: a new version (1 for a new path), sealed under its own data key",
    description = "Needs a policy granting `write` on the path (operators need none). The value \
        is sealed with AES-256-GCM under a fresh data key bound to the vault, path and version; \
        the data key is wrapped by the vault's key. `description`, `tags` and `expiresAt` left \
        out keep their current values. If-Match guards against a concurrent writer (the \
        secret's ETag changes with every version). Answers 201 for a new secret, 200 for a new \
        version; never the value.",
    request_body = SecretPut,
    params(SecretPathParams, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<SecretMeta>, headers(("ETag" = String))),
              (status = 201, body = Envelope<SecretMeta>, headers(("ETag" = String)))))]
pub(crate) async fn put_secret<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let target = SecretTarget::of(params)?;
    let (vault_id, path) = (&target.vault_id, &target.path);
    let input = parse_body::<SecretPut>(req)?.validate()?;
    let actor = ctx.principal.actor();
    let (secret, created) = transaction(ctx.db(), async |db| {
        let access = target.access(ctx, req, Some(Action::Write), true).await?;
        // A CMEK vault takes the client's ciphertext, whatever the type
        // (its content is the client's to check).
        let cmek = access.vault.view.cmek_fingerprint.clone();
        match cmek {
            Some(_) => {
                CmekCipher::decode(&input.value).map_err(ApiError::from)?;
            }
            None => crate::model::check_value(input.secret_type, input.value.as_bytes())
                .map_err(|e| ApiError::validation(vec![e.to_field_error()]))?,
        }
        let key = vault_key(ctx, &access.vault).await?;
        let vault = access.vault.uuid()?;
        store::purge_expired_deletions(db, vault_id).await?;
        let current = target.find(db, true).await?;
        if let Some(current) = &current {
            cp_http::etag::check_if_match(req, &current.etag())?;
        } else if req.header("if-match").is_some_and(|v| v.trim() != "*") {
            // An If-Match naming a version of a secret that does not exist
            // cannot match.
            return Err(ApiError::Conflict(
                "If-Match names a version, but no secret exists at this path".into(),
            )
            .into());
        }
        let description = match &input.description {
            None => current.as_ref().and_then(|c| c.description.clone()),
            Some(d) => d.clone(),
        };
        let tags = match &input.tags {
            None => current.as_ref().map(|c| c.tags.clone()).unwrap_or_default(),
            Some(t) => t.clone(),
        };
        let expires_micros = match input.expires_at {
            None => current.as_ref().and_then(|c| c.expires_micros),
            Some(e) => e.map(|t| t.timestamp_micros()),
        };
        let fields = SecretFields {
            secret_type: input.secret_type.as_str(),
            description: description.as_deref(),
            tags: &tags,
            expires_micros,
            actor: &actor,
        };
        let (secret_id, version) = match &current {
            Some(c) => (
                c.meta.id.clone(),
                store::bump_secret(db, &c.meta.id, &fields).await?,
            ),
            None => {
                let id = cp_http::ids::new_id().to_string();
                store::insert_secret(db, &id, vault_id, path.as_str(), &fields).await?;
                (id, 1)
            }
        };
        let sealed = key
            .seal_version(&version_ref(vault, path, version)?, input.value.as_bytes())
            .map_err(|e| crypto_failure("sealing a secret", e))?;
        store::insert_version(
            db,
            &secret_id,
            version,
            sealed.to_bytes(),
            &actor,
            cmek.as_deref(),
        )
        .await?;
        ctx.audit("secret", path.as_str())
            .detail(json!({
                "vaultId": vault_id,
                "secretId": secret_id,
                "version": version,
                "type": input.secret_type.as_str(),
            }))
            .write(db)
            .await?;
        let secret = target.secret(db, false).await?;
        Ok::<_, Failure>((secret, current.is_none()))
    })
    .await?;
    let resp = if created {
        ctx.created(&secret.meta)
    } else {
        ctx.ok(&secret.meta)
    };
    Ok(resp.with_etag(secret.etag()))
}

#[operation(get, "/api/v1/vaults/{vaultId}/secrets/{path...}", id = "getSecret", callers = agents, kind = "secret",
    tag = "vaults",
    summary = "Read a secret's value: the latest version, or `?version=N`",
    description = "Needs a policy granting `read` on the path (operators need none; viewers \
        never read values). Every read is audited (who, which path, which version), in the \
        same transaction: no audit, no value. A disabled version is a 409 \
        SECRET_VERSION_DISABLED; an expired secret a 410 SECRET_EXPIRED. An agent with the \
        intents API cannot read `private_key` or `ssh_key` secrets directly (403 \
        DIRECT_READ_FORBIDDEN).",
    params(SecretPathParams, VersionQuery),
    responses((status = 200, body = Envelope<SecretValue>, headers(("ETag" = String))),
              (status = 409, body = cp_http::error::ErrorBody),
              (status = 410, body = cp_http::error::ErrorBody)))]
pub(crate) async fn get_secret<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let target = SecretTarget::of(params)?;
    let path = &target.path;
    let wanted = match req.query_param("version") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| (1..=i64::from(i32::MAX)).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid("version", "must be a version number (1 or more)")
                })?,
        ),
    };
    let (secret, value) = transaction(ctx.db(), async |db| {
        let access = target.access(ctx, req, Some(Action::Read), false).await?;
        let secret = target.secret(db, false).await?;
        let readable = readable_version(ctx, db, &secret, path, wanted, |t| {
            access.check_direct_read(t)
        })
        .await?;
        let audit = ctx.audit("secret", path.as_str());
        let value = open_version(ctx, db, &access.vault, &secret, path, readable, audit).await?;
        Ok::<_, Failure>((secret, value))
    })
    .await?;
    Ok(ctx
        .ok(&value)
        .with_etag(secret.etag())
        .with_header("cache-control", "no-store"))
}

/// A version of a secret that may be read now.
pub(crate) struct ReadableVersion {
    version: i64,
    stored: store::StoredVersion,
}

/// Checks that version `wanted` (the latest when `None`) of `secret` can be
/// read: whatever `may_read` says of its type (agents with the intents
/// API), 410 SECRET_EXPIRED once the secret expired, 409
/// SECRET_VERSION_DISABLED for a disabled version. Nothing is decrypted
/// yet: callers refuse before they change anything.
pub(crate) async fn readable_version<P: Platform, D: cp_store::Database>(
    ctx: &RequestContext<'_, P>,
    db: &D,
    secret: &SecretRow,
    path: &SecretPath,
    wanted: Option<i64>,
    may_read: impl FnOnce(SecretType) -> Result<(), ApiError>,
) -> Result<ReadableVersion, Failure> {
    let secret_type = SecretType::parse(&secret.meta.secret_type)
        .map_err(|e| crypto_failure("stored secret type", e))?;
    may_read(secret_type)?;
    if secret
        .expires_micros
        .is_some_and(|at| at <= ctx.now.timestamp_micros())
    {
        return Err(ApiError::Refused {
            status: 410,
            code: "SECRET_EXPIRED",
            message: format!("the secret at {:?} has expired", path.as_str()),
        }
        .into());
    }
    let version = wanted.unwrap_or(secret.meta.version);
    let stored = store::version(db, &secret.meta.id, version)
        .await?
        .ok_or_else(|| ApiError::not_found("SECRET_VERSION", version.to_string()))?;
    if stored.disabled {
        return Err(ApiError::Refused {
            status: 409,
            code: "SECRET_VERSION_DISABLED",
            message: format!("version {version} of {:?} is disabled", path.as_str()),
        }
        .into());
    }
    Ok(ReadableVersion { version, stored })
}

/// Opens a readable version of `secret` in `vault` and writes `audit`
/// (with the vault, secret and version added to its detail) in the
/// caller's transaction: no audit, no value. The one way a value leaves
/// the vault, for direct reads and shares alike.
pub(crate) async fn open_version<P: Platform, D: cp_store::Database>(
    ctx: &RequestContext<'_, P>,
    db: &D,
    vault: &VaultRow,
    secret: &SecretRow,
    path: &SecretPath,
    readable: ReadableVersion,
    audit: cp_platform::audit::AuditEntry,
) -> Result<SecretValue, Failure> {
    let ReadableVersion { version, stored } = readable;
    let key = vault_key(ctx, vault).await?;
    let sealed = EncryptedVersion::from_bytes(&stored.sealed)
        .map_err(|e| crypto_failure("stored secret version", e))?;
    let plain = key
        .open_version(&version_ref(vault.uuid()?, path, version)?, &sealed)
        .map_err(|e| crypto_failure("opening a secret", e))?;
    let value = String::from_utf8(plain.expose().to_vec())
        .map_err(|_| crypto_failure("secret value", "not UTF-8"))?;
    let mut detail = match audit.detail.clone() {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    detail.insert("vaultId".into(), json!(secret.meta.vault_id));
    detail.insert("secretId".into(), json!(secret.meta.id));
    detail.insert("path".into(), json!(secret.meta.path));
    detail.insert("version".into(), json!(version));
    audit.detail(detail.into()).write(db).await?;
    Ok(SecretValue {
        id: secret.meta.id.clone(),
        path: secret.meta.path.clone(),
        secret_type: secret.meta.secret_type.clone(),
        version,
        value,
        expires_at: secret.meta.expires_at.clone(),
        cmek_fingerprint: stored.cmek_fingerprint,
    })
}

#[operation(delete, "/api/v1/vaults/{vaultId}/secrets/{path...}", id = "deleteSecret", callers = agents, kind = "secret",
    tag = "vaults",
    summary = "Delete a secret (soft: restorable for 30 days, then purged)",
    description = "Needs a policy granting `delete` on the path. The secret disappears from \
        lists and reads at once; `POST /vaults/{vaultId}/restore/{path}` brings it back within \
        30 days, after which it and its versions are purged for good. If-Match guards it.",
    params(SecretPathParams, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete_secret<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let target = SecretTarget::of(params)?;
    let (vault_id, path) = (&target.vault_id, &target.path);
    transaction(ctx.db(), async |db| {
        target.access(ctx, req, Some(Action::Delete), true).await?;
        let secret = target.secret(db, true).await?;
        cp_http::etag::check_if_match(req, &secret.etag())?;
        store::soft_delete_secret(db, &secret.meta.id).await?;
        store::purge_expired_deletions(db, vault_id).await?;
        ctx.audit("secret", path.as_str())
            .detail(json!({"vaultId": vault_id, "secretId": secret.meta.id}))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}

#[operation(get, "/api/v1/vaults/{vaultId}/versions/{path...}", id = "listSecretVersions", callers = agents, kind = "secret",
    tag = "vaults",
    summary = "A secret's versions, newest first (never a value)",
    description = "Members see every secret's versions; an agent needs a policy granting \
        `list` on the path.",
    params(SecretPathParams),
    responses((status = 200, body = Envelope<Vec<SecretVersion>>)))]
pub(crate) async fn list_versions<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let target = SecretTarget::of(params)?;
    // Members see every path's metadata; an agent what a policy lists.
    let action = ctx.principal.agent().map(|_| Action::List);
    target.access(ctx, req, action, false).await?;
    let secret = target.secret(ctx.db(), false).await?;
    let versions = store::versions(ctx.db(), &secret).await?;
    Ok(ctx.ok(&versions))
}

#[operation(patch, "/api/v1/vaults/{vaultId}/versions/{path...}", id = "changeSecretVersion", callers = users, kind = "secret",
    tag = "vaults",
    summary = "Disable a version of a secret (it can no longer be read), or enable it again",
    description = "Needs a policy granting `write` on the path. The latest version can be \
        disabled too: reads of the secret then answer 409 SECRET_VERSION_DISABLED until a new \
        version is written or it is enabled again.",
    request_body = VersionChange,
    params(SecretPathParams, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Vec<SecretVersion>>)))]
pub(crate) async fn change_version<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let target = SecretTarget::of(params)?;
    let (vault_id, path) = (&target.vault_id, &target.path);
    let change = parse_body::<VersionChange>(req)?;
    if !(1..=i64::from(i32::MAX)).contains(&change.version) {
        return Err(ApiError::invalid("version", "must be a version number (1 or more)").into());
    }
    let versions = transaction(ctx.db(), async |db| {
        target.access(ctx, req, Some(Action::Write), false).await?;
        let secret = target.secret(db, true).await?;
        if !store::set_version_disabled(db, &secret.meta.id, change.version, change.disabled)
            .await?
        {
            return Err(ApiError::not_found("SECRET_VERSION", change.version.to_string()).into());
        }
        ctx.audit("secret", path.as_str())
            .detail(json!({
                "vaultId": vault_id,
                "secretId": secret.meta.id,
                "version": change.version,
                "disabled": change.disabled,
            }))
            .write(db)
            .await?;
        store::versions(db, &secret).await
    })
    .await?;
    Ok(ctx.ok(&versions))
}

#[operation(post, "/api/v1/vaults/{vaultId}/restore/{path...}", id = "restoreSecret", callers = users, kind = "secret",
    tag = "vaults",
    summary = "Restore the secret most recently deleted at a path (within 30 days)",
    description = "Needs a policy granting `write` on the path. A live secret at the same path \
        is a 409; nothing deleted there in the last 30 days is a 404.",
    params(SecretPathParams, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<SecretMeta>, headers(("ETag" = String)))))]
pub(crate) async fn restore_secret<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let target = SecretTarget::of(params)?;
    let (vault_id, path) = (&target.vault_id, &target.path);
    let secret = transaction(ctx.db(), async |db| {
        target.access(ctx, req, Some(Action::Write), true).await?;
        let deleted = store::deleted_secret(db, vault_id, path.as_str())
            .await?
            .ok_or_else(|| secret_not_found(path.as_str()))?;
        store::restore_secret(db, &deleted.meta.id, path.as_str()).await?;
        ctx.audit("secret", path.as_str())
            .detail(json!({"vaultId": vault_id, "secretId": deleted.meta.id}))
            .write(db)
            .await?;
        target.secret(db, false).await
    })
    .await?;
    Ok(ctx.ok(&secret.meta).with_etag(secret.etag()))
}
