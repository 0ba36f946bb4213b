//! The `identity` route group: `/access-tokens` and the `/auth` routes
//! (users, sessions, personal API keys: [`crate::users`]).

use cp_http::ids::{id_param, new_id, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, PageQuery};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::openapi::ResourceLinks;
use cp_platform::resource::{keyset_list, KeysetList, TieBreak};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, FromRow, Value};
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::model::{AccessToken, AccessTokenCreate, CreatedAccessToken, SHOWN_PREFIX_LEN};
use crate::{device, mfa, oidc, pod_token, session, sql, users};

/// Cursor scope of the token list.
const LIST_SCOPE: &str = "access-tokens";

cp_macros::route_group! {
    /// The identity route group.
    pub struct Identity;
    kind = "user";
    openapi(
        modifiers(&TokenLinks),
        tags((name = "access-tokens", description = "Opaque bearer tokens for automation: scoped, \
          optionally expiring, shown once, stored as SHA-256 digests"),
        (name = "auth", description = "Users: signup, login (HS256 JWTs, 15 minutes, revocable \
          by jti), password changes, the caller's profile, personal API keys (`cpk_…`, shown \
          once, stored as SHA-256 digests), TOTP MFA (RFC 6238; secrets encrypted at rest, \
          failed codes rate-limited), federated login through the OIDC identity provider \
          (browser sessions: the `__Host-cp_session` cookie; ID-token exchange)."))
    );
    operations = [
        list_access_tokens,
        create_access_token,
        delete_access_token,
        users::sign_up,
        users::log_in,
        users::log_out,
        crate::refresh::refresh_session,
        crate::verify::verify_email,
        crate::verify::resend,
        users::change_password,
        users::get_me,
        users::update_me,
        users::delete_me,
        users::list_api_keys,
        users::create_api_key,
        users::delete_api_key,
        users::revoke_api_keys,
        users::exchange_api_key,
        mfa::get_status,
        mfa::set_up,
        mfa::verify_setup,
        mfa::verify,
        mfa::disable,
        oidc::login,
        oidc::callback,
        session::log_out,
        oidc::exchange_id_token,
        device::start,
        device::activate,
        device::approve,
        device::deny,
        device::poll,
        pod_token::create,
    ];
}

/// The `{id}` path parameter, for the OpenAPI document.
pub struct TokenIdPath;

impl IntoParams for TokenIdPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("id", "Access token or API key id")]
    }
}

#[operation(get, "/api/v1/access-tokens", id = "listAccessTokens", callers = operator, kind = "access_token",
    tag = "access-tokens",
    summary = "List access tokens (never their secrets; keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<AccessToken>)))]
async fn list_access_tokens<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, LIST_SCOPE)?;
    let list = KeysetList {
        scope: LIST_SCOPE,
        first: &sql::list_first(),
        after: &sql::list_after(),
        tie: TieBreak::Id,
    };
    let (tokens, pagination) = keyset_list(ctx.db(), &page, list, None, |t: &AccessToken| {
        vec![json!(t.created_micros), json!(t.id)]
    })
    .await?;
    Ok(ctx.list(&tokens, pagination))
}

#[operation(post, "/api/v1/access-tokens", id = "createAccessToken", callers = operator, kind = "access_token", shows_secret,
    tag = "access-tokens",
    summary = "Create an access token; its plainTextToken is returned this once and never again",
    description = "A token created by another access token gets only scopes its creator holds \
        (403 naming `scopes[i]` otherwise) and never outlives it: without `expiresInDays` it \
        expires when its creator does, a lifetime reaching past that is a 403 naming \
        `expiresInDays`, and revoking the creator revokes it too.",
    request_body = AccessTokenCreate,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<CreatedAccessToken>)))]
async fn create_access_token<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<AccessTokenCreate>(req)?.validate()?;
    let held = ctx.principal.scopes();
    if let Some(i) = input.parsed.iter().position(|s| !s.within(&held)) {
        return Err(ApiError::Forbidden(format!(
            "scopes[{i}]: '{}' exceeds the scopes of the token creating it",
            input.scopes[i]
        ))
        .into());
    }
    let secret = cp_crypto::new_token(cp_auth::ACCESS_TOKEN_PREFIX)
        .map_err(|e| Failure::with_cause(ApiError::Internal, format!("generating a token: {e}")))?;
    let id = new_id().to_string();
    let prefix: String = secret.chars().take(SHOWN_PREFIX_LEN).collect();
    let parent = match &ctx.principal {
        cp_platform::Principal::AccessToken(t) => Some(t.id.clone()),
        _ => None,
    };
    let token = transaction(ctx.db(), async |db| {
        // A minted token never outlives the token minting it: without a
        // lifetime of its own it expires with it, a longer one is refused,
        // and it is revoked with it (`parent_id`, ON DELETE CASCADE).
        let mut parent_expiry = None;
        if let Some(parent) = &parent {
            let Some(row) = db
                .query_opt(
                    sql::TOKEN_EXPIRY,
                    &[parent.as_str().into(), input.expires_in_days.into()],
                )
                .await?
            else {
                return Err(ApiError::Unauthorized("invalid or revoked access token".into()).into());
            };
            parent_expiry = row.opt_i64("expires_micros")?;
            if row.bool("outlives")? {
                let until = parent_expiry.map(cp_http::time::micros_rfc3339);
                return Err(ApiError::Forbidden(format!(
                    "expiresInDays: the new token would outlive the token creating it (which \
                     expires at {}); ask for fewer days, or omit expiresInDays to expire with it",
                    until.unwrap_or_default()
                ))
                .into());
            }
        }
        let row = db
            .query_one(
                &sql::insert(),
                &[
                    id.as_str().into(),
                    input.name.as_str().into(),
                    prefix.as_str().into(),
                    cp_crypto::token_hash(&secret).into(),
                    Value::Json(json!(input.scopes)),
                    ctx.principal.actor().into(),
                    input.expires_in_days.into(),
                    parent.clone().into(),
                    parent_expiry.into(),
                ],
            )
            .await?;
        let token = AccessToken::from_row(&row)?;
        ctx.audit("access_token", &id)
            .detail(json!({ "name": token.name, "scopes": token.scopes, "expiresAt": token.expires_at }))
            .write(db)
            .await?;
        Ok::<_, Failure>(token)
    })
    .await?;
    Ok(ctx.created(&CreatedAccessToken {
        token,
        plain_text_token: secret,
    }))
}

#[operation(delete, "/api/v1/access-tokens/{id}", id = "deleteAccessToken", callers = operator, kind = "access_token",
    tag = "access-tokens",
    summary = "Revoke an access token (it stops working at once) and delete it",
    params(TokenIdPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Revoked")))]
async fn delete_access_token<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id = path_id(params, "id")?.to_string();
    transaction(ctx.db(), async |db| {
        let Some(row) = db.query_opt(sql::DELETE, &[id.as_str().into()]).await? else {
            return Err(ApiError::not_found("ACCESS_TOKEN", &id).into());
        };
        ctx.audit("access_token", &id)
            .detail(json!({ "name": row.text("name")? }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}

struct TokenLinks;

impl utoipa::Modify for TokenLinks {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        ResourceLinks {
            key: "id",
            by_key: &[("DeleteAccessToken", "deleteAccessToken")],
            update: None,
            one: &[("/api/v1/access-tokens", "post", "201")],
            list: Some(("/api/v1/access-tokens", "listAccessTokens")),
        }
        .apply(doc);
        ResourceLinks {
            key: "id",
            by_key: &[("DeleteApiKey", "deleteApiKey")],
            update: None,
            one: &[("/api/v1/auth/api-keys", "post", "201")],
            list: Some(("/api/v1/auth/api-keys", "listApiKeys")),
        }
        .apply(doc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi;

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_routed() {
        let problems = cp_platform::openapi::route_mismatches::<Identity>(&IdentityApi::openapi());
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
