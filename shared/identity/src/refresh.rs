//! Refresh tokens (`cprt_…`): a sign-in answers a 15-minute access JWT and a
//! refresh token good for 30 days; `POST /auth/refresh` trades the refresh
//! token for a new pair. The tokens of one sign-in form a **family**: each
//! refresh uses its token up and issues the next, so a used token presented
//! again means two parties hold the family (a stolen copy), and the whole
//! family is revoked (reuse detection). Logging out revokes the family of
//! the JWT that logs out; a password change makes every earlier token stale.
//! Only the SHA-256 of a token is stored (`migrations/sql/0023_refresh_tokens.sql`).

use cp_auth::jwt::JwtKey;
use cp_http::error::ErrorBody;
use cp_http::json::parse_body;
use cp_http::params::IdempotencyKeyHeader;
use cp_http::validate::pattern_string;
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, PathParams};
use cp_macros::operation;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, FromRow, Value};
use serde::Deserialize;
use serde_json::json;
use utoipa::openapi::schema::Object;
use utoipa::ToSchema;

use crate::account::{Session, User};
use crate::sql;

/// What a refresh token starts with.
pub const REFRESH_TOKEN_PREFIX: &str = "cprt_";
/// How long a refresh token is good for: 30 days.
pub const REFRESH_TTL_SECS: u64 = 30 * 24 * 3600;
/// The form of a refresh token: the prefix and 256 random bits.
const REFRESH_TOKEN_PATTERN: &str = "^cprt_[A-Za-z0-9_-]{43}$";

const INSERT: &str = "INSERT INTO refresh_tokens
    (id, family_id, user_id, token_hash, access_jti, issued_at, expires_at)
    VALUES ($1::text::uuid, $2::text::uuid, $3::text::uuid, $4, $5::text::uuid,
            to_timestamp($6::int8 / 1000.0), to_timestamp($6::int8 / 1000.0) + make_interval(secs => $7::int8))";
/// A refresh token by digest, locked, with what decides it.
const LOOKUP: &str = "SELECT r.id::text AS id, r.family_id::text AS family_id,
        r.user_id::text AS user_id, r.used_at IS NOT NULL AS used,
        r.revoked_at IS NOT NULL AS revoked, r.expires_at <= now() AS expired,
        r.issued_at < u.tokens_valid_after AS stale
    FROM refresh_tokens r JOIN users u ON u.id = r.user_id
    WHERE r.token_hash = $1 FOR UPDATE OF r";
const MARK_USED: &str = "UPDATE refresh_tokens SET used_at = now() WHERE id = $1::text::uuid";
const REVOKE_FAMILY: &str = "UPDATE refresh_tokens SET revoked_at = now()
    WHERE family_id = $1::text::uuid AND revoked_at IS NULL";
/// Revokes the family of the sign-in that issued JWT `$1`.
const REVOKE_FOR_JTI: &str = "UPDATE refresh_tokens SET revoked_at = now()
    WHERE revoked_at IS NULL AND family_id IN
        (SELECT family_id FROM refresh_tokens WHERE access_jti = $1::text::uuid)";
/// Refresh tokens expired a day ago are of no use to anyone.
const PRUNE: &str = "DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'";

/// What to do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Good: use it up and issue the next of its family.
    Rotate,
    /// Used before: revoke its family.
    Reused,
    /// Refused, for this reason.
    Refused(&'static str),
}

/// Decides a refresh token from what its row says. A revoked family stays
/// revoked; a reuse is treated as theft even past expiry.
pub(crate) fn judge(used: bool, revoked: bool, expired: bool, stale: bool) -> Verdict {
    if revoked {
        Verdict::Refused("the refresh token was revoked; sign in again")
    } else if used {
        Verdict::Reused
    } else if expired {
        Verdict::Refused("the refresh token has expired; sign in again")
    } else if stale {
        Verdict::Refused("the password changed since this sign-in; sign in again")
    } else {
        Verdict::Rotate
    }
}

/// A JWT session with the refresh token of `family` (a new family when
/// `None`): what every sign-in answers.
pub(crate) async fn signed_in<D: Database>(
    db: &D,
    key: &JwtKey,
    user: User,
    family: Option<&str>,
) -> Result<Session, Failure> {
    let issued = crate::users::session(key, user)?;
    let mut session = issued.session;
    attach(db, &mut session, &issued.jti, issued.issued_ms, family).await?;
    Ok(session)
}

/// Issues a refresh token for the JWT `jti` issued at `issued_ms`, of
/// `family` (a new one when `None`), into `session`.
pub(crate) async fn attach<D: Database>(
    db: &D,
    session: &mut Session,
    jti: &str,
    issued_ms: i64,
    family: Option<&str>,
) -> Result<(), Failure> {
    let token = cp_crypto::new_token(REFRESH_TOKEN_PREFIX)
        .map_err(|e| Failure::with_cause(ApiError::Internal, format!("refresh token: {e}")))?;
    let id = cp_http::ids::new_id().to_string();
    let family = family.map_or_else(|| id.clone(), str::to_owned);
    db.execute(
        INSERT,
        &[
            id.as_str().into(),
            family.as_str().into(),
            session.user.id.as_str().into(),
            cp_crypto::token_hash(&token).into(),
            jti.into(),
            Value::Int(issued_ms),
            Value::Int(i64::try_from(REFRESH_TTL_SECS).unwrap_or(i64::MAX)),
        ],
    )
    .await?;
    session.refresh_token = Some(token);
    session.refresh_expires_in = Some(REFRESH_TTL_SECS);
    Ok(())
}

/// Revokes the family of the sign-in that issued JWT `jti` (logout).
pub(crate) async fn revoke_for_jti<D: Database>(db: &D, jti: &str) -> Result<u64, Failure> {
    Ok(db.execute(REVOKE_FOR_JTI, &[jti.into()]).await?)
}

/// A refresh request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last sign-in or refresh.
    #[schema(schema_with = refresh_token_schema)]
    pub refresh_token: String,
}

fn refresh_token_schema() -> Object {
    pattern_string(
        false,
        REFRESH_TOKEN_PATTERN,
        48,
        "A refresh token (`cprt_…`).",
    )
}

fn is_refresh_token(text: &str) -> bool {
    cp_crypto::is_token(text, REFRESH_TOKEN_PREFIX)
}

#[operation(post, "/api/v1/auth/refresh", id = "refreshSession", callers = public, shows_secret,
    tag = "auth",
    summary = "Trade a refresh token for a new access JWT and a new refresh token",
    description = "Every sign-in (signup, password log-in and its MFA step, identity-provider \
        token exchange, device grant, password change) answers a `refreshToken` (30 days) next to \
        the 15-minute `accessToken`. A refresh token works once: the answer carries the next one \
        of the same family. Presenting a used one again revokes the whole family (reuse \
        detection: someone else holds a copy) and answers 401; so does a token of a family \
        revoked by logout (DELETE /auth/token), an expired one, or one issued before a password \
        change. Every refresh, and every refused reuse, is audited.",
    request_body = RefreshRequest,
    params(IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Session>), (status = 401, body = ErrorBody)))]
pub(crate) async fn refresh_session<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<RefreshRequest>(req)?;
    if !is_refresh_token(&input.refresh_token) {
        return Err(ApiError::invalid(
            "refreshToken",
            "must be a refresh token (cprt_ and 43 base64url characters)",
        )
        .into());
    }
    let key = JwtKey::for_sign_in(ctx.platform)?;
    let digest = cp_crypto::token_hash(&input.refresh_token);
    let outcome = transaction(ctx.db(), async |db| {
        db.execute(PRUNE, &[]).await?;
        let Some(row) = db.query_opt(LOOKUP, &[digest.as_str().into()]).await? else {
            return Ok::<Result<Session, &'static str>, Failure>(Err(
                "invalid refresh token; sign in again",
            ));
        };
        let (id, family, user_id) = (
            row.text("id")?,
            row.text("family_id")?,
            row.text("user_id")?,
        );
        match judge(
            row.bool("used")?,
            row.bool("revoked")?,
            row.bool("expired")?,
            row.bool("stale")?,
        ) {
            Verdict::Refused(why) => Ok(Err(why)),
            Verdict::Reused => {
                let revoked = db.execute(REVOKE_FAMILY, &[family.as_str().into()]).await?;
                crate::oidc::audit_as(ctx, &user_id, "user", &user_id)
                    .failed()
                    .detail(json!({"refresh": "reused", "familyId": family, "revoked": revoked}))
                    .write(db)
                    .await?;
                Ok(Err(
                    "this refresh token was used before: every token of its sign-in is revoked; \
                     sign in again",
                ))
            }
            Verdict::Rotate => {
                db.execute(MARK_USED, &[id.as_str().into()]).await?;
                let user_row = db
                    .query_one(&sql::user_by_id(), &[user_id.as_str().into()])
                    .await?;
                let session =
                    signed_in(db, &key, User::from_row(&user_row)?, Some(&family)).await?;
                crate::oidc::audit_as(ctx, &user_id, "user", &user_id)
                    .detail(json!({"refresh": "rotated", "familyId": family}))
                    .write(db)
                    .await?;
                Ok(Ok(session))
            }
        }
    })
    .await?;
    match outcome {
        Ok(session) => Ok(ctx.ok(&session)),
        Err(why) => Err(ApiError::Unauthorized(why.into()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_family_stays_revoked_and_a_reuse_is_theft_even_when_expired() {
        assert_eq!(judge(false, false, false, false), Verdict::Rotate);
        assert_eq!(judge(true, false, false, false), Verdict::Reused);
        assert_eq!(judge(true, false, true, true), Verdict::Reused);
        assert!(matches!(
            judge(true, true, false, false),
            Verdict::Refused(m) if m.contains("revoked")
        ));
        assert!(matches!(
            judge(false, false, true, false),
            Verdict::Refused(m) if m.contains("expired")
        ));
        assert!(matches!(
            judge(false, false, false, true),
            Verdict::Refused(m) if m.contains("password")
        ));
    }

    #[test]
    fn refresh_tokens_are_recognised_by_their_form() {
        let token = cp_crypto::new_token(REFRESH_TOKEN_PREFIX).unwrap_or_default();
        assert!(is_refresh_token(&token));
        assert!(!is_refresh_token(&token[1..]));
        assert!(!is_refresh_token("cprt_short"));
        assert!(!is_refresh_token(&token.replace("cprt_", "cpat_")));
    }
}
