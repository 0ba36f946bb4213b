//! Sharing routes: create a share of a secret, list what one shared and
//! what one was sent, accept, decline, revoke, and open a share (the public
//! `GET /share/{shareId}`). What a share may be is [`crate::share`]'s;
//! storage is [`crate::share_store`]'s.
//!
//! Who sees a share: its creator, its recipient, and operators (and access
//! tokens, which stand above every role). Anyone else gets the same 404 as
//! for a share that does not exist.

use cp_http::ids::{id_param, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{path_param, IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::outbox::Notification;
use cp_platform::{Failure, Platform, Principal, RequestContext};
use cp_store::transaction;
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::access::vault_access;
use crate::policy::{direct_read_forbidden, direct_read_refusal, Action, PrincipalKind};
use crate::secrets::{open_version, readable_version};
use crate::share::{
    Recipient, RecipientType, Share, ShareCreate, ShareCreated, ShareStatus, SharedSecretValue,
    SHARE_KEY_PREFIX,
};
use crate::share_store::{self, share_not_found, Direction, NewShare, ShareRow};
use crate::store::{self, secret_not_found};
use crate::views::secret_path;

/// The header that carries a share's key.
const SHARE_KEY_HEADER: &str = "x-share-key";

/// `{secretId}`, for the OpenAPI document.
pub(crate) struct SecretIdPath;

impl IntoParams for SecretIdPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("secretId", "Secret id")]
    }
}

/// `{shareId}`, for the OpenAPI document.
pub(crate) struct ShareIdPath;

impl IntoParams for ShareIdPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("shareId", "Share id")]
    }
}

/// `X-Share-Key`, for the OpenAPI document.
pub(crate) struct ShareKeyHeader;

impl IntoParams for ShareKeyHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut param = path_param(
            "X-Share-Key",
            "The key of an external_email or anyone_with_link share (shown once to its \
             creator). A header, never a query parameter: URLs end up in logs and histories.",
            cp_http::validate::pattern_string(
                false,
                crate::share::SHARE_KEY_PATTERN,
                49,
                "A share key.",
            ),
        );
        param.parameter_in = ParameterIn::Header;
        param.required = utoipa::openapi::Required::False;
        vec![param]
    }
}

/// The path where share `id` is opened.
fn share_url(id: &str) -> String {
    format!("/api/v1/share/{id}")
}

/// Whether the caller is share `row`'s creator, its recipient, or above
/// both (operators, access tokens).
enum Standing {
    /// Operators and access tokens.
    Above,
    /// The share's creator.
    Creator,
    /// The user or agent the share was sent to.
    Recipient,
}

/// The caller's standing towards share `row`: a 404 for anyone who may not
/// see it.
fn standing<P: Platform>(
    ctx: &RequestContext<'_, P>,
    row: &ShareRow,
) -> Result<Standing, ApiError> {
    match &ctx.principal {
        Principal::Operator | Principal::AccessToken(_) => Ok(Standing::Above),
        _ if row.view.created_by == ctx.principal.actor() => Ok(Standing::Creator),
        Principal::User(u) if row.view.recipient_id.as_deref() == Some(u.id.as_str()) => {
            Ok(Standing::Recipient)
        }
        Principal::Agent(a) if row.view.recipient_id.as_deref() == Some(a.id.as_str()) => {
            Ok(Standing::Recipient)
        }
        _ => Err(share_not_found(&row.view.id)),
    }
}

#[operation(post, "/api/v1/secrets/{secretId}/share", id = "createShare", callers = users, kind = "share",
    area = "vaults", shows_secret,
    tag = "vaults",
    summary = "Share a secret with a user, an agent, an external address, or anyone with the link",
    description = "Needs policies granting both `read` and `share` on the secret's path \
        (operators need none); a secret an agent may not read directly cannot be shared by it \
        either. A share to a user waits until they accept it; a share to an external address \
        or to anyone with the link is opened with its `shareKey`, returned this once (send it \
        as `X-Share-Key`). An external address is also sent a notice through the notification \
        outbox, without the key: pass the key on through another channel. Every share expires \
        (`expiresAt`, 7 days by default, at most 90) and may carry `maxAccessCount`; `version` \
        pins one version (by default a share reads the latest).",
    request_body = ShareCreate,
    params(SecretIdPath, IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<ShareCreated>, headers(("ETag" = String)))))]
pub(crate) async fn create_share<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let secret_id = path_id(params, "secretId")?.to_string();
    let input = parse_body::<ShareCreate>(req)?.validate(ctx.now)?;
    let key = match input.recipient.kind().opened_by_key() {
        true => Some(cp_crypto::new_token(SHARE_KEY_PREFIX).map_err(|e| {
            Failure::with_cause(ApiError::Internal, format!("generating a share key: {e}"))
        })?),
        false => None,
    };
    let share_id = cp_http::ids::new_id().to_string();
    let actor = ctx.principal.actor();
    let row = transaction(ctx.db(), async |db| {
        let secret = store::secret_by_id(db, &secret_id)
            .await?
            .ok_or_else(|| secret_not_found(&secret_id))?;
        let access = vault_access(ctx, req, &secret.meta.vault_id, false)
            .await
            .map_err(|f| match f.error {
                // Whose vault the secret lies in is not the caller's to learn.
                ApiError::NotFound { .. } => Failure::from(secret_not_found(&secret_id)),
                _ => f,
            })?;
        let path = secret_path(&secret.meta.path)?;
        access
            .authorize_all(ctx, &[Action::Read, Action::Share], &path)
            .await?;
        let secret_type = crate::model::SecretType::parse(&secret.meta.secret_type)
            .map_err(|e| crate::api::crypto_failure("stored secret type", e))?;
        access.check_direct_read(secret_type)?;
        if let Some(version) = input.version {
            if store::version(db, &secret_id, version).await?.is_none() {
                return Err(ApiError::invalid(
                    "version",
                    format!("the secret has no version {version}"),
                )
                .into());
            }
        }
        match &input.recipient {
            Recipient::User(id) => {
                let id = id.to_string();
                if ctx.principal.user().is_some_and(|u| u.id == id) {
                    return Err(
                        ApiError::invalid("userId", "is you: read the secret instead").into(),
                    );
                }
                if !share_store::user_exists(db, &id).await? {
                    return Err(ApiError::invalid("userId", "no user has this id").into());
                }
            }
            Recipient::Agent(id) => {
                if !share_store::active_agent_exists(db, &id.to_string()).await? {
                    return Err(ApiError::invalid("agentId", "no active agent has this id").into());
                }
            }
            Recipient::ExternalEmail(_) | Recipient::AnyoneWithLink => {}
        }
        share_store::insert(
            db,
            NewShare {
                id: &share_id,
                secret_id: &secret_id,
                vault_id: &secret.meta.vault_id,
                share: &input,
                key_hash: key.as_deref().map(cp_crypto::token_hash),
                created_by: &actor,
            },
        )
        .await?;
        let kind = input.recipient.kind();
        ctx.audit("share", &share_id)
            .detail(json!({
                "secretId": secret_id,
                "vaultId": secret.meta.vault_id,
                "path": secret.meta.path,
                "recipientType": kind.as_str(),
                "version": input.version,
                "maxAccessCount": input.max_access_count,
                "expiresAt": cp_http::time::rfc3339(input.expires_at),
            }))
            .write(db)
            .await?;
        if let Recipient::ExternalEmail(email) = &input.recipient {
            Notification {
                kind: "vault.share",
                recipient: email.clone(),
                payload: json!({
                    "shareId": share_id,
                    "url": share_url(&share_id),
                    "sharedBy": ctx.principal.user().map_or(actor.as_str(), |u| u.email.as_str()),
                    "secretType": secret.meta.secret_type,
                    "expiresAt": cp_http::time::rfc3339(input.expires_at),
                    "maxAccessCount": input.max_access_count,
                    "keyDelivery": "the sender passes the share key on separately",
                }),
            }
            .write(db, &ctx.request_id)
            .await?;
        }
        share_store::share(db, &share_id, false, ctx.now.timestamp_micros())
            .await?
            .ok_or_else(|| Failure::from(share_not_found(&share_id)))
    })
    .await?;
    let etag = row.etag();
    let created = ShareCreated {
        url: share_url(&row.view.id),
        share: row.view,
        share_key: key,
    };
    Ok(ctx.created(&created).with_etag(etag))
}

#[operation(get, "/api/v1/shares/outbound", id = "listOutboundShares", callers = users, kind = "share",
    area = "vaults",
    tag = "vaults",
    summary = "The shares you created, oldest first (never a key or a value)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<Share>)))]
pub(crate) async fn list_outbound<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, share_store::OUTBOUND_SCOPE)?;
    let actor = ctx.principal.actor();
    let (items, pagination) = share_store::list(
        ctx.db(),
        &page,
        Direction::Outbound(&actor),
        ctx.now.timestamp_micros(),
    )
    .await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(get, "/api/v1/shares/inbound", id = "listInboundShares", callers = agents, kind = "share",
    area = "vaults",
    tag = "vaults",
    summary = "The shares sent to you, oldest first (accept one to read it)",
    description = "Shares sent to the signed-in user, or to the calling agent. Operators and \
        access tokens are sent nothing: their list is empty.",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<Share>)))]
pub(crate) async fn list_inbound<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, share_store::INBOUND_SCOPE)?;
    let recipient = match &ctx.principal {
        Principal::User(user) => Some(user.id.as_str()),
        Principal::Agent(agent) => Some(agent.id.as_str()),
        _ => None,
    };
    let (items, pagination) = match recipient {
        Some(id) => {
            share_store::list(
                ctx.db(),
                &page,
                Direction::Inbound(id),
                ctx.now.timestamp_micros(),
            )
            .await?
        }
        None => page.paginate(share_store::INBOUND_SCOPE, Vec::<Share>::new(), |_| {
            Vec::new()
        }),
    };
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/shares/{shareId}/accept", id = "acceptShare", callers = agents, kind = "share",
    area = "vaults",
    tag = "vaults",
    summary = "Accept a share sent to you: from now on you can open it",
    description = "Only the recipient answers a share (403 for its creator). A share that is \
        not pending is a 409 naming its status. If-Match guards it with the share's ETag.",
    params(ShareIdPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Share>, headers(("ETag" = String)))))]
pub(crate) async fn accept_share<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    respond(ctx, req, params, true).await
}

#[operation(post, "/api/v1/shares/{shareId}/decline", id = "declineShare", callers = agents, kind = "share",
    area = "vaults",
    tag = "vaults",
    summary = "Decline a share sent to you (pending, or accepted: you drop it)",
    description = "Only the recipient answers a share (403 for its creator). A declined share \
        can no longer be opened. If-Match guards it with the share's ETag.",
    params(ShareIdPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Share>, headers(("ETag" = String)))))]
pub(crate) async fn decline_share<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    respond(ctx, req, params, false).await
}

/// The recipient's answer to a share.
async fn respond<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
    accept: bool,
) -> Result<ApiResponse, Failure> {
    let id = path_id(params, "shareId")?.to_string();
    let now = ctx.now.timestamp_micros();
    let row = transaction(ctx.db(), async |db| {
        let row = share_store::share(db, &id, true, now)
            .await?
            .ok_or_else(|| share_not_found(&id))?;
        if !matches!(standing(ctx, &row)?, Standing::Recipient) {
            return Err(ApiError::Forbidden(
                "only the share's recipient accepts or declines it".into(),
            )
            .into());
        }
        cp_http::etag::check_if_match(req, &row.etag())?;
        let status = row.state.respond(accept, now)?;
        share_store::set_status(db, &id, status).await?;
        ctx.audit("share", &id)
            .detail(json!({"secretId": row.view.secret_id, "status": status.as_str()}))
            .write(db)
            .await?;
        share_store::share(db, &id, false, now)
            .await?
            .ok_or_else(|| Failure::from(share_not_found(&id)))
    })
    .await?;
    Ok(ctx.ok(&row.view).with_etag(row.etag()))
}

#[operation(delete, "/api/v1/share/{shareId}", id = "revokeShare", callers = users, kind = "share",
    area = "vaults",
    tag = "vaults",
    summary = "Revoke a share you created: it can no longer be opened",
    description = "Only its creator (or an operator) revokes a share: its recipient declines \
        it instead (403). Revoking a revoked share is a 409. If-Match guards it.",
    params(ShareIdPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 204, description = "Revoked")))]
pub(crate) async fn revoke_share<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id = path_id(params, "shareId")?.to_string();
    let now = ctx.now.timestamp_micros();
    transaction(ctx.db(), async |db| {
        let row = share_store::share(db, &id, true, now)
            .await?
            .ok_or_else(|| share_not_found(&id))?;
        if matches!(standing(ctx, &row)?, Standing::Recipient) {
            return Err(ApiError::Forbidden(
                "only the share's creator revokes it; its recipient declines it instead".into(),
            )
            .into());
        }
        cp_http::etag::check_if_match(req, &row.etag())?;
        row.state.revocable()?;
        share_store::revoke(db, &id).await?;
        ctx.audit("share", &id)
            .detail(json!({"secretId": row.view.secret_id, "status": "revoked"}))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}

#[operation(get, "/api/v1/share/{shareId}", id = "openShare", callers = public, kind = "share",
    area = "vaults",
    tag = "vaults",
    summary = "Open a share: the shared secret's value (public; by key, or as its recipient)",
    description = "A share to an external address or to anyone with the link opens with its key \
        in `X-Share-Key`; a share to a user opens for that user, signed in (bearer token or \
        session), once accepted, and a share to an agent for that agent (its agent token); \
        an agent with the intents API is refused key material (403 DIRECT_READ_FORBIDDEN); without either, every share is a 404. Each opening counts one access, atomically: a share limited \
        to N accesses opens exactly N times, however many readers race. A wrong key, or a \
        caller who is not the recipient, gets the same 404 as a share that does not exist. \
        Refusals: 409 SHARE_NOT_ACCEPTED (pending), 410 SHARE_EXPIRED, SHARE_EXHAUSTED, \
        SHARE_REVOKED, SHARE_DECLINED, SHARED_SECRET_DELETED; the secret's own 410 \
        SECRET_EXPIRED and 409 SECRET_VERSION_DISABLED. Every opening, and every refused one, \
        is audited.",
    params(ShareIdPath, ShareKeyHeader),
    responses((status = 200, body = Envelope<SharedSecretValue>),
              (status = 404, body = cp_http::error::ErrorBody),
              (status = 409, body = cp_http::error::ErrorBody),
              (status = 410, body = cp_http::error::ErrorBody)))]
pub(crate) async fn open_share<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id = path_id(params, "shareId")?.to_string();
    let key = req.header(SHARE_KEY_HEADER).map(str::to_owned);
    if key
        .as_deref()
        .is_some_and(|k| !crate::share::is_share_key(k))
    {
        return Err(ApiError::invalid(
            "X-Share-Key",
            "must be a share key (cpshr_ and 43 base64url characters)",
        )
        .into());
    }
    // Without a key, the caller must be the signed-in recipient (bearer
    // token or session, as on any route; a bad token is a 401). Anyone
    // else gets the 404 of a share that does not exist.
    let caller = match &key {
        Some(_) => None,
        None if req.header("authorization").is_some() => {
            match cp_auth::authenticate(req, ctx.platform).await? {
                p @ (Principal::User(_) | Principal::Agent(_)) => Some(p),
                _ => None,
            }
        }
        // A stale session cookie reads as no sign-in, as on GET /auth/me.
        None => match cp_auth::session_user(ctx.platform, req).await {
            Ok(user) => user.map(Principal::User),
            Err(f) if f.error.status() == 401 => None,
            Err(f) => return Err(f),
        },
    };
    // The recipient the caller is: a user or an agent, by id.
    let recipient = match &caller {
        Some(Principal::User(u)) => Some((RecipientType::User, u.id.as_str())),
        Some(Principal::Agent(a)) => Some((RecipientType::Agent, a.id.as_str())),
        _ => None,
    };
    let now = ctx.now.timestamp_micros();
    // Who opened it, for the audit trail (the route is public).
    let opener = match &caller {
        Some(p) => p.actor(),
        None => format!("share-key:{id}"),
    };
    let opened = transaction(ctx.db(), async |db| {
        let row = share_store::share(db, &id, false, now)
            .await?
            .ok_or_else(|| share_not_found(&id))?;
        let kind = RecipientType::parse(&row.view.recipient_type).ok_or_else(|| {
            Failure::with_cause(ApiError::Internal, format!("share {id}: recipient type"))
        })?;
        let proven = match (&key, recipient) {
            (Some(key), _) => {
                kind.opened_by_key()
                    && row
                        .key_hash
                        .as_deref()
                        .is_some_and(|h| h == cp_crypto::token_hash(key))
            }
            (None, Some((recipient_kind, recipient_id))) => {
                kind == recipient_kind && row.view.recipient_id.as_deref() == Some(recipient_id)
            }
            (None, None) => false,
        };
        if !proven {
            return Err(share_not_found(&id).into());
        }
        // From here the caller holds the share: a refusal is audited, and
        // every refusal comes before the access is counted, so the
        // transaction commits the audit entry and nothing else.
        let refuse = async |error: ApiError| {
            ctx.audit("share", &id)
                .actor(opener.clone())
                .failed()
                .detail(json!({
                    "secretId": row.view.secret_id,
                    "code": error.code(),
                }))
                .write(db)
                .await?;
            Ok::<_, Failure>(Err(error))
        };
        if let Some(refusal) = row.state.status(now).read_refusal() {
            return refuse(refusal).await;
        }
        let Some(secret) = store::secret_by_id(db, &row.view.secret_id).await? else {
            return refuse(ApiError::Refused {
                status: 410,
                code: "SHARED_SECRET_DELETED",
                message: "the shared secret was deleted".into(),
            })
            .await;
        };
        let path = secret_path(&secret.meta.path)?;
        // An agent with the intents API never receives key material,
        // shared or not.
        let may_read = |t| match &caller {
            Some(Principal::Agent(a))
                if direct_read_forbidden(PrincipalKind::Agent, a.intents_api, t) =>
            {
                Err(direct_read_refusal(t))
            }
            _ => Ok(()),
        };
        let readable =
            match readable_version(ctx, db, &secret, &path, row.view.version, may_read).await {
                Ok(readable) => readable,
                Err(f) if f.error.status() < 500 => return refuse(f.error).await,
                Err(f) => return Err(f),
            };
        let Some(access_count) = share_store::consume(db, &id, now).await? else {
            // Another reader took the last access (or the share changed)
            // between the read and the count: say what it is now.
            let latest = share_store::share(db, &id, false, now)
                .await?
                .ok_or_else(|| share_not_found(&id))?;
            let refusal = latest
                .state
                .status(now)
                .read_refusal()
                .or_else(|| ShareStatus::Exhausted.read_refusal())
                .unwrap_or_else(|| ApiError::Conflict("the share changed; open it again".into()));
            return refuse(refusal).await;
        };
        let vault = store::vault(db, &row.view.vault_id, false).await?;
        let audit = ctx.audit("share", &id).actor(opener.clone()).detail(json!({
            "via": if key.is_some() { "key" } else { "recipient" },
            "accessCount": access_count,
        }));
        let value = open_version(ctx, db, &vault, &secret, &path, readable, audit).await?;
        Ok(Ok(SharedSecretValue {
            secret: value,
            share_id: id.clone(),
            access_count,
            max_access_count: row.view.max_access_count,
        }))
    })
    .await?;
    let value = opened?;
    Ok(ctx.ok(&value).with_header("cache-control", "no-store"))
}
