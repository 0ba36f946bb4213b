//! The `vault` route group: vaults (here), their secrets
//! ([`crate::secrets`]) and their policies ([`crate::policy_ops`]).
//! Who may do what is [`crate::access`]'s.

use cp_http::ids::{id_param, new_id, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_orgs::roles::{org_access, OrgRole};
use cp_platform::{Failure, Platform, Principal, RequestContext};
use cp_store::transaction;
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, ToSchema};

use crate::access::vault_access;
use crate::envelope::VaultKey;
use crate::keyring::keyring;
use crate::store::{self, NewVault, VaultLister, VAULTS_SCOPE};
use crate::views::{SecretMeta, SecretValue, SecretVersion, Vault, VaultCreate, VaultPolicy};
use crate::{cmek_ops, master_key_ops, policy_ops, secrets, share_ops};

cp_macros::route_group! {
    /// The vault route group.
    pub struct Vaults;
    kind = "vault";
    openapi(
        components(schemas(SecretMeta, SecretValue, SecretVersion, VaultPolicy, crate::share::Share)),
        tags((name = "vaults", description = "Agent secrets vaults: an organisation's vaults, \
          path-addressed secrets with versions (values sealed under a data key per version, \
          wrapped by the vault's key, wrapped by the master key), and vault policies deciding \
          who may read, write, delete, list and share which paths (nothing by default). \
          Viewers see metadata only; owners and admins manage vaults and policies; operators \
          may do everything."))
    );
    operations = [
        get_kms_health,
        list_vaults,
        create_vault,
        get_vault,
        delete_vault,
        secrets::list_secrets,
        secrets::put_secret,
        secrets::get_secret,
        secrets::delete_secret,
        secrets::list_versions,
        secrets::change_version,
        secrets::restore_secret,
        policy_ops::list_policies,
        policy_ops::create_policy,
        policy_ops::replace_policy,
        policy_ops::delete_policy,
        cmek_ops::enable_cmek,
        cmek_ops::disable_cmek,
        cmek_ops::rotate_cmek,
        cmek_ops::get_rotation,
        share_ops::create_share,
        share_ops::list_outbound,
        share_ops::list_inbound,
        share_ops::accept_share,
        share_ops::decline_share,
        share_ops::revoke_share,
        share_ops::open_share,
        master_key_ops::get_master_key,
        master_key_ops::rewrap,
    ];
}

/// `{vaultId}`, for the OpenAPI document.
pub struct VaultPath;

impl IntoParams for VaultPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("vaultId", "Vault id")]
    }
}

/// `?force=`, for the OpenAPI document.
#[derive(ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForceQuery {
    /// Delete the vault even though it holds secrets (they are
    /// soft-deleted with it).
    pub force: Option<bool>,
}

/// The `{vaultId}` path parameter, canonical.
pub(crate) fn vault_id(params: &PathParams) -> Result<String, Failure> {
    Ok(path_id(params, "vaultId")?.to_string())
}

/// A key-handling failure: the server's fault, never the client's (the
/// cause is logged, never returned).
pub(crate) fn crypto_failure(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::with_cause(ApiError::Internal, format!("{what}: {e}"))
}

/// The master key's health.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KmsHealthView {
    /// Who wraps new vaults' keys: `aws-kms` or `local`.
    pub provider: &'static str,
    /// `ok`: keys can be wrapped and unwrapped now.
    pub status: &'static str,
    /// The KMS key's ARN (KMS only).
    pub key_arn: Option<String>,
    /// The KMS key's state, `Enabled` when usable (KMS only).
    pub key_state: Option<String>,
}

#[operation(get, "/api/v1/health/kms", id = "getKmsHealth", callers = operator, area = "vaults",
    tag = "vaults",
    summary = "Whether the vault's master key can be used now (the KMS key, or the local one)",
    description = "With `kms_url` configured, asks the KMS for its key (DescribeKey): a KMS that \
        cannot be reached, or a key that is not enabled, is a 503 UNAVAILABLE saying so. \
        Without a KMS, the local master key (`secrets_key`) must be configured.",
    responses((status = 200, body = Envelope<KmsHealthView>)))]
async fn get_kms_health<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let keys = keyring(ctx)?;
    let view = match keys.kms_health().await {
        None if keys.has_local() => KmsHealthView {
            provider: "local",
            status: "ok",
            key_arn: None,
            key_state: None,
        },
        None => {
            return Err(ApiError::Unavailable(
                "no master key: neither kms_url nor a usable secrets_key is configured".into(),
            )
            .into())
        }
        Some(Ok(health)) if health.usable => KmsHealthView {
            provider: "aws-kms",
            status: "ok",
            key_arn: Some(health.key_arn),
            key_state: Some(health.key_state),
        },
        Some(Ok(health)) => {
            return Err(ApiError::Unavailable(format!(
                "the KMS key is {}, not Enabled",
                health.key_state
            ))
            .into())
        }
        Some(Err(e)) => {
            return Err(Failure::with_cause(
                ApiError::Unavailable("the KMS cannot be reached or refuses the key".into()),
                format!("KMS health: {e}"),
            ))
        }
    };
    Ok(ctx.ok(&view))
}

#[operation(get, "/api/v1/vaults", id = "listVaults", callers = agents,
    tag = "vaults",
    summary = "List vaults (keyset pagination, oldest first; users see their organisations' vaults, agents the vaults they were given)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<Vault>)))]
async fn list_vaults<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, VAULTS_SCOPE)?;
    let lister = match &ctx.principal {
        Principal::User(user) => VaultLister::Member(&user.id),
        Principal::Agent(agent) => VaultLister::Given(&agent.vault_ids),
        _ => VaultLister::All,
    };
    let (items, pagination) = store::list_vaults(ctx.db(), &page, lister).await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/vaults", id = "createVault", callers = users,
    tag = "vaults",
    summary = "Create a vault in an organisation (owners and admins)",
    description = "The vault gets its own random 256-bit key, stored only wrapped by the master \
        key: the KMS key when `kms_url` is configured, else the `secrets_key` variable (without \
        a usable one this is a 503 naming it). A name \
        the organisation's live vaults already use is a 409; an organisation the caller does \
        not belong to is a 404.",
    request_body = VaultCreate,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Vault>, headers(("ETag" = String)))))]
async fn create_vault<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<VaultCreate>(req)?.validate()?;
    let access = org_access(ctx.db(), &ctx.principal, &input.org_id, OrgRole::Viewer).await?;
    access.require(OrgRole::Admin)?;
    let id = new_id();
    let key = VaultKey::generate().map_err(|e| crypto_failure("generating a vault key", e))?;
    let wrapped = keyring(ctx)?.wrap_new(id, &key).await?;
    let id = id.to_string();
    let actor = ctx.principal.actor();
    let vault = transaction(ctx.db(), async |db| {
        store::insert_vault(
            db,
            NewVault {
                id: &id,
                org_id: &access.org_id,
                name: &input.name,
                description: input.description.as_deref(),
                wrapped: wrapped.clone(),
                created_by: &actor,
            },
        )
        .await?;
        ctx.audit("vault", &id)
            .detail(json!({"orgId": access.org_id, "name": input.name}))
            .write(db)
            .await?;
        cp_orgs::roles::event(ctx, &access.org_id, "vault.created", &input.name)
            .detail(json!({"vaultId": id}))
            .write(db)
            .await?;
        store::vault(db, &id, false).await
    })
    .await?;
    Ok(ctx.created(&vault.view).with_etag(vault.etag()))
}

#[operation(get, "/api/v1/vaults/{vaultId}", id = "getVault", callers = agents,
    tag = "vaults",
    summary = "Get a vault's metadata (any member of its organisation; an agent given the vault)",
    params(VaultPath),
    responses((status = 200, body = Envelope<Vault>, headers(("ETag" = String)))))]
async fn get_vault<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let access = vault_access(ctx, req, &vault_id(params)?, false).await?;
    Ok(ctx.ok(&access.vault.view).with_etag(access.vault.etag()))
}

#[operation(delete, "/api/v1/vaults/{vaultId}", id = "deleteVault", callers = users,
    tag = "vaults",
    summary = "Delete a vault (owners and admins)",
    description = "A vault that still holds secrets is a 409 unless `?force=true`, which \
        soft-deletes its secrets with it. If-Match guards it with the vault's ETag.",
    params(VaultPath, ForceQuery, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted")))]
async fn delete_vault<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id = vault_id(params)?;
    let force = match req.query_param("force").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid("force", "must be true or false").into()),
    };
    transaction(ctx.db(), async |db| {
        let access = vault_access(ctx, req, &id, true).await?;
        access.require_manager()?;
        cp_http::etag::check_if_match(req, &access.vault.etag())?;
        let held = access.vault.view.secret_count;
        if held > 0 && !force {
            return Err(ApiError::Conflict(format!(
                "the vault holds {held} secret(s): delete them first, or send ?force=true"
            ))
            .into());
        }
        let deleted = store::delete_vault(db, &id).await?;
        ctx.audit("vault", &id)
            .detail(json!({"name": access.vault.view.name, "secretsDeleted": deleted}))
            .write(db)
            .await?;
        cp_orgs::roles::event(
            ctx,
            &access.vault.view.org_id,
            "vault.deleted",
            &access.vault.view.name,
        )
        .detail(json!({"vaultId": id, "secretsDeleted": deleted}))
        .write(db)
        .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use utoipa::OpenApi;

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_routed() {
        let problems = cp_platform::openapi::route_mismatches::<Vaults>(&VaultsApi::openapi());
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn a_secret_path_is_documented_as_one_parameter_and_routed_as_the_rest() {
        let doc = VaultsApi::openapi();
        assert!(doc
            .paths
            .paths
            .contains_key("/api/v1/vaults/{vaultId}/secrets/{path}"));
        let routes = <Vaults as cp_platform::RouteGroup>::routes();
        let m = cp_http::router::match_route(
            routes,
            &cp_http::Method::Get,
            "/api/v1/vaults/0190f5c2-7a4b-7c3d-8e9f-0a1b2c3d4e5f/secrets/config/prod/db",
        )
        .unwrap();
        assert_eq!(m.route.operation_id, "getSecret");
        assert_eq!(m.params.get("path"), "config/prod/db");
    }
}
