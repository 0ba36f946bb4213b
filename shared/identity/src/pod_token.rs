//! `POST /auth/pod-token`: single sign-on from the control plane to the
//! caller's tenant pod. The tenant is the one the signed-in user owns
//! (`ownerId`: set by the server when the user created it, or by an
//! operator; never the tenant's editable `email`); Kubernetes mints a short-lived token of the
//! tenant's service account bound to the pod's audience (TokenRequest), so
//! nobody obtains a token for another person's pod. The ingress host comes
//! from the tenant's row, else (a tenant not written since its operator
//! assigned one) from its CRD.

use cp_http::error::ErrorBody;
use cp_http::ApiRequest;
use cp_http::PathParams;
use cp_http::{ApiError, ApiResponse, Envelope};
use cp_kube::{KubeError, Tenant};
use cp_macros::operation;
use cp_platform::auth::UserVia;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::Database;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::oidc::audit_as;

/// How long a pod token lives (the least the API server accepts).
pub const POD_TOKEN_TTL_SECS: i64 = 600;

/// A token for the caller's pod.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodToken {
    /// The service account token (a JWT) to present to the pod.
    pub token: String,
    /// When it stops working (RFC 3339); call again before then.
    pub expires_at: String,
    /// The audience it is bound to: `https://<ingressHost>`.
    pub audience: String,
    /// Where the pod is reached.
    pub ingress_host: String,
    /// The tenant.
    pub tenant: String,
}

/// The live tenants user $1 owns (`tenants_owner`); two are enough to refuse.
const OWNED_TENANTS: &str = "SELECT name, ingress_host FROM tenants
    WHERE owner_user_id = $1::text::uuid AND state <> 'decommissioned' ORDER BY name LIMIT 5";

fn no_session() -> Failure {
    ApiError::Unauthorized(
        "a pod token needs a browser session: sign in at /api/v1/auth/login (bearer tokens do \
         not qualify)"
            .into(),
    )
    .into()
}

#[operation(post, "/api/v1/auth/pod-token", id = "createPodToken", callers = users, kind = "tenant", shows_secret,
    tag = "auth",
    summary = "A short-lived, audience-bound token for the caller's tenant pod (Kubernetes TokenRequest)",
    description = "Needs the browser session cookie (a bearer token is a 401) and, like every \
        cookie-authenticated write, an `X-Requested-With` header. The tenant is the one the \
        caller owns (`ownerId`, never the tenant's `email`): 403 when none, 409 when several or \
        when its pod has no ingress host yet. The token is minted for the tenant's service account with the \
        audience `https://<ingressHost>` and lives 10 minutes: call again before `expiresAt`.",
    params(cp_http::params::IdempotencyKeyHeader),
    security(("session" = [])),
    responses((status = 200, body = Envelope<PodToken>), (status = 502, body = ErrorBody)))]
pub(crate) async fn create<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let Some(user) = ctx.principal.user() else {
        return Err(no_session());
    };
    // Authentication already checked that the session is live.
    let UserVia::Session { .. } = &user.via else {
        return Err(no_session());
    };
    let tenants = ctx
        .db()
        .query(OWNED_TENANTS, &[user.id.as_str().into()])
        .await?;
    let (tenant, ingress_host) = match tenants.as_slice() {
        [] => {
            return Err(ApiError::Forbidden("you own no tenant".into()).into());
        }
        [one] => (one.text("name")?, one.opt_text("ingress_host")?),
        several => {
            let names = several
                .iter()
                .map(|r| r.text("name"))
                .collect::<Result<Vec<_>, _>>()?;
            return Err(ApiError::Conflict(format!(
                "you own several tenants ({}); a pod token needs exactly one",
                names.join(", ")
            ))
            .into());
        }
    };
    let kube = ctx.kube()?;
    // The row is a projection that learns the host when the tenant is next
    // written; until then the CRD (the source of truth) may know it.
    let ingress_host = match ingress_host.filter(|h| !h.is_empty()) {
        Some(host) => Some(host),
        None => match kube.get::<Tenant>(&tenant).await {
            Ok(crd) => crd.status.and_then(|s| s.ingress_host),
            Err(KubeError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
    };
    let Some(ingress_host) = ingress_host.filter(|h| !h.is_empty()) else {
        return Err(ApiError::Conflict(format!(
            "tenant '{tenant}' has no ingress host yet; retry once its pod is running"
        ))
        .into());
    };
    let audience = format!("https://{ingress_host}");
    let minted = match kube
        .request_service_account_token(&tenant, std::slice::from_ref(&audience), POD_TOKEN_TTL_SECS)
        .await
    {
        Ok(minted) => minted,
        Err(KubeError::NotFound { .. }) => {
            return Err(ApiError::Conflict(format!(
                "tenant '{tenant}' has no service account yet; retry once its pod is running"
            ))
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    let expires_at = cp_http::time::micros_rfc3339(minted.expiration_timestamp.timestamp_micros());
    audit_as(ctx, &user.id, "tenant", &tenant)
        .tenant(&tenant)
        .detail(json!({ "audience": audience, "expiresAt": expires_at }))
        .write(ctx.db())
        .await?;
    Ok(ctx.ok(&PodToken {
        token: minted.token.expose().to_owned(),
        expires_at,
        audience,
        ingress_host,
        tenant,
    }))
}
