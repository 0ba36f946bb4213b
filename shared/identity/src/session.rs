//! Browser sessions: the `__Host-cp_session` cookie an OIDC login sets, its
//! server-side row, and `POST /auth/logout`. The `__Host-` prefix binds the
//! cookie to this host (`Secure`, `Path=/`, no `Domain`), so a sibling
//! subdomain cannot plant one; a request carrying two is refused (400
//! `DUPLICATE_SESSION_COOKIE`).
//!
//! The cookie's value is 256 random bits (`cps_…`); the row keeps only its
//! SHA-256 digest, the user, the email the identity provider verified at
//! sign-in and an absolute expiry ([`SESSION_TTL_SECS`]).
//! `cp_auth` authenticates requests with it (and demands
//! `X-Requested-With` on cookie-authenticated writes: CSRF).

use cp_auth::{SESSION_COOKIE, SESSION_PREFIX};
use cp_http::PathParams;
use cp_http::{ApiRequest, ApiResponse};
use cp_macros::operation;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{Database, Value};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// Most session cookies one logout ends (a request carries one or two).
const MAX_COOKIES_ENDED: usize = 4;

/// Lifetime of a browser session: a working day; then sign in again.
pub const SESSION_TTL_SECS: i64 = 12 * 3600;

/// A browser session as `GET /auth/me` shows it (never its cookie).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The email the identity provider verified at sign-in.
    pub email: String,
    /// The identity provider (issuer URL).
    pub issuer: String,
    /// When the session started (RFC 3339).
    pub created_at: String,
    /// When it ends (RFC 3339); sign in again then.
    pub expires_at: String,
}

const SESSION_INFO: &str = concat!(
    "SELECT email, issuer, ",
    cp_store::epoch_micros!("created_at"),
    " AS created_micros, ",
    cp_store::epoch_micros!("expires_at"),
    " AS expires_micros
    FROM user_sessions WHERE id = $1::text::uuid"
);

/// Stores a session ($1 id, $2 cookie digest, $3 user, $4 verified email,
/// $5 issuer, $6 lifetime in seconds).
const INSERT_SESSION: &str =
    "INSERT INTO user_sessions (id, token_hash, user_id, email, issuer, expires_at)
     VALUES ($1::text::uuid, $2, $3::text::uuid, $4, $5, now() + $6::int8 * interval '1 second')";

/// Expired sessions are no longer needed.
const PRUNE_SESSIONS: &str = "DELETE FROM user_sessions WHERE expires_at < now()";

/// Ends the session of a cookie digest ($1).
const DELETE_SESSION: &str =
    "DELETE FROM user_sessions WHERE token_hash = $1 RETURNING id::text AS id, user_id::text AS user_id";

/// The session behind `GET /auth/me`'s cookie.
pub(crate) async fn session_info<D: Database>(
    db: &D,
    session_id: &str,
) -> Result<Option<SessionInfo>, Failure> {
    let Some(row) = db.query_opt(SESSION_INFO, &[session_id.into()]).await? else {
        return Ok(None);
    };
    Ok(Some(SessionInfo {
        email: row.text("email")?,
        issuer: row.text("issuer")?,
        created_at: cp_http::time::micros_rfc3339(row.i64("created_micros")?),
        expires_at: cp_http::time::micros_rfc3339(row.i64("expires_micros")?),
    }))
}

/// The ways to sign in that this deployment offers (for anonymous callers).
pub(crate) fn auth_modes<P: Platform>(platform: &P) -> Vec<&'static str> {
    let mut modes = Vec::new();
    if crate::oidc::OidcConfig::load(platform).is_some_and(|c| c.browser().is_ok()) {
        modes.extend(["oidc", "device"]);
    }
    if cp_auth::jwt::JwtKey::from_variable(platform).is_ok() {
        modes.push("password");
    }
    modes.push("bearer");
    modes
}

/// A new session for `user_id` in the caller's transaction: the cookie
/// value to set (shown to this browser only).
pub(crate) async fn create<D: Database>(
    db: &D,
    user_id: &str,
    email: &str,
    issuer: &str,
) -> Result<String, Failure> {
    let secret = crate::oidc::random(SESSION_PREFIX)?;
    db.execute(PRUNE_SESSIONS, &[]).await?;
    db.execute(
        INSERT_SESSION,
        &[
            cp_http::ids::new_id().to_string().into(),
            cp_crypto::token_hash(&secret).into(),
            user_id.into(),
            email.into(),
            issuer.into(),
            Value::Int(SESSION_TTL_SECS),
        ],
    )
    .await?;
    Ok(secret)
}

/// `Set-Cookie` that deletes the session cookie.
pub(crate) fn clear_session_cookie() -> String {
    cp_auth::set_cookie(SESSION_COOKIE, "", "/", 0)
}

#[operation(post, "/api/v1/auth/logout", id = "logOutSession", callers = public,
    tag = "auth",
    summary = "End the browser session: its row is deleted and the cookie cleared",
    description = "Public and idempotent: without a session (or with one already ended) it \
        still answers 204 and clears the cookie. Every session cookie the request carries is \
        ended. Bearer JWTs are revoked at DELETE /auth/token. \
        No X-Requested-With is needed: a forged logout only signs the victim out.",
    responses((status = 204, description = "Signed out; `Set-Cookie` clears `__Host-cp_session`")))]
pub(crate) async fn log_out<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    // Every session cookie sent is ended (a planted second one included).
    let digests: Vec<String> = cp_auth::cookies(req, SESSION_COOKIE)
        .take(MAX_COOKIES_ENDED)
        .map(cp_crypto::token_hash)
        .collect();
    if !digests.is_empty() {
        cp_store::transaction(ctx.db(), async |db| {
            for digest in &digests {
                if let Some(row) = db
                    .query_opt(DELETE_SESSION, &[digest.as_str().into()])
                    .await?
                {
                    let user_id = row.text("user_id")?;
                    crate::oidc::audit_as(ctx, &user_id, "user", &user_id)
                        .detail(json!({ "sessionId": row.text("id")? }))
                        .write(db)
                        .await?;
                }
            }
            Ok::<_, Failure>(())
        })
        .await?;
    }
    Ok(ApiResponse::empty(204).with_header("set-cookie", clear_session_cookie()))
}
