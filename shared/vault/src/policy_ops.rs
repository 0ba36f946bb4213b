//! Vault policies: who (a user, an agent, a group) may do which actions on
//! which paths. Owners and admins manage them; every member may read them.

use cp_http::ids::{id_param, new_id, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::{ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::transaction;
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::access::vault_access;
use crate::api::vault_id;
use crate::store::{self, POLICIES_SCOPE};
use crate::views::{VaultPolicy, VaultPolicyInput};

/// `{vaultId}` and `{policyId}`, for the OpenAPI document.
pub(crate) struct PolicyPath;

impl IntoParams for PolicyPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            id_param("vaultId", "Vault id"),
            id_param("policyId", "Vault policy id"),
        ]
    }
}

#[operation(get, "/api/v1/vaults/{vaultId}/policies", id = "listVaultPolicies", callers = users, kind = "vault_policy",
    tag = "vaults",
    summary = "List a vault's policies (keyset pagination, oldest first)",
    params(crate::api::VaultPath, PageQuery),
    responses((status = 200, body = ListEnvelope<VaultPolicy>)))]
pub(crate) async fn list_policies<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let access = vault_access(ctx, req, &vault_id(params)?, false).await?;
    let page = PageRequest::from_request(req, POLICIES_SCOPE)?;
    let (items, pagination) = store::list_policies(ctx.db(), &page, &access.vault.view.id).await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/vaults/{vaultId}/policies", id = "createVaultPolicy", callers = users, kind = "vault_policy",
    tag = "vaults",
    summary = "Add a policy to a vault (owners and admins)",
    description = "Decisions: among the policies whose principal, action, path glob and \
        conditions match, the highest priority wins, and at that priority a deny wins; nothing \
        matching means denied. A `group` principal covers the users whose verified email is a \
        member of that catalog group. `sourceCidrs` match the client address Spin reports \
        (`spin-client-addr`); `notBefore`/`notAfter` bound when the policy applies.",
    request_body = VaultPolicyInput,
    params(crate::api::VaultPath, IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<VaultPolicy>, headers(("ETag" = String)))))]
pub(crate) async fn create_policy<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let vault = vault_id(params)?;
    let policy = parse_body::<VaultPolicyInput>(req)?.validate(new_id())?;
    let row = transaction(ctx.db(), async |db| {
        let access = vault_access(ctx, req, &vault, true).await?;
        access.require_manager()?;
        let row = store::insert_policy(db, &vault, &policy).await?;
        ctx.audit("vault_policy", &policy.id.to_string())
            .detail(json!({"vaultId": vault, "policy": row.view()}))
            .write(db)
            .await?;
        Ok::<_, Failure>(row)
    })
    .await?;
    Ok(ctx.created(&row.view()).with_etag(row.etag()))
}

#[operation(put, "/api/v1/vaults/{vaultId}/policies/{policyId}", id = "replaceVaultPolicy", callers = users, kind = "vault_policy",
    tag = "vaults",
    summary = "Replace a vault policy (owners and admins)",
    description = "A full replacement; If-Match guards it with the policy's ETag.",
    request_body = VaultPolicyInput,
    params(PolicyPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<VaultPolicy>, headers(("ETag" = String)))))]
pub(crate) async fn replace_policy<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let vault = vault_id(params)?;
    let id = path_id(params, "policyId")?;
    let policy = parse_body::<VaultPolicyInput>(req)?.validate(id)?;
    let row = transaction(ctx.db(), async |db| {
        let access = vault_access(ctx, req, &vault, true).await?;
        access.require_manager()?;
        let current = store::policy_for_update(db, &vault, &id.to_string()).await?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        let row = store::update_policy(db, &vault, &policy).await?;
        ctx.audit("vault_policy", &id.to_string())
            .detail(json!({"vaultId": vault, "policy": row.view()}))
            .write(db)
            .await?;
        Ok::<_, Failure>(row)
    })
    .await?;
    Ok(ctx.ok(&row.view()).with_etag(row.etag()))
}

#[operation(delete, "/api/v1/vaults/{vaultId}/policies/{policyId}", id = "deleteVaultPolicy", callers = users, kind = "vault_policy",
    tag = "vaults",
    summary = "Delete a vault policy (owners and admins)",
    params(PolicyPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete_policy<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let vault = vault_id(params)?;
    let id = path_id(params, "policyId")?.to_string();
    transaction(ctx.db(), async |db| {
        let access = vault_access(ctx, req, &vault, true).await?;
        access.require_manager()?;
        let current = store::policy_for_update(db, &vault, &id).await?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        store::delete_policy(db, &vault, &id).await?;
        ctx.audit("vault_policy", &id)
            .detail(json!({"vaultId": vault}))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}
