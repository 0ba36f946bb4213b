//! Email verification. A password signup, an email change and a resend
//! each mail a one-time token (`cpev_…`, 24 hours) through the notification
//! outbox, in the transaction of the change: the token is sealed there with
//! the `secrets_key` master key (`cp_platform::outbox`), never in the
//! payload, and only its SHA-256 is kept here. `POST /auth/verify-email`
//! with the token verifies the address: the account's email, or its pending
//! email, which then becomes the account's email.
//!
//! Whether unverified accounts may sign in with their password is the
//! `unverified_login` variable: `allow` (the default) or `deny`. Denied, a
//! signup answers the account without a session, and a password login is a
//! `403 EMAIL_NOT_VERIFIED` that mails a new token.

use cp_http::error::ErrorBody;
use cp_http::json::parse_body;
use cp_http::params::IdempotencyKeyHeader;
use cp_http::validate::pattern_string;
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, PathParams};
use cp_macros::operation;
use cp_platform::outbox::Notification;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, DbError, FromRow};
use serde::Deserialize;
use serde_json::json;
use utoipa::openapi::schema::Object;
use utoipa::ToSchema;

use crate::account::User;
use crate::sql;

/// What a verification token starts with.
pub const VERIFY_TOKEN_PREFIX: &str = "cpev_";
/// The outbox kind of a verification mail.
pub const OUTBOX_KIND: &str = "user.verify-email";
/// The variable deciding whether unverified accounts sign in.
pub const UNVERIFIED_LOGIN_VARIABLE: &str = "unverified_login";
/// The code of a sign-in refused for an unverified email.
pub const EMAIL_NOT_VERIFIED: &str = "EMAIL_NOT_VERIFIED";
/// How long a token is good for.
const TTL_HOURS: i64 = 24;
const TOKEN_PATTERN: &str = "^cpev_[A-Za-z0-9_-]{43}$";

/// Earlier tokens of the user are replaced by a new one.
const INVALIDATE: &str = "UPDATE email_verifications SET used_at = now()
    WHERE user_id = $1::text::uuid AND used_at IS NULL";
const INSERT: &str = "INSERT INTO email_verifications (id, user_id, email, token_hash, expires_at)
    VALUES ($1::text::uuid, $2::text::uuid, $3, $4, now() + make_interval(hours => $5::int8::int))";
/// A token by digest, locked with its user.
const LOOKUP: &str = "SELECT v.id::text AS id, v.user_id::text AS user_id, v.email,
        v.used_at IS NOT NULL AS used, v.expires_at <= now() AS expired,
        u.email AS account_email, u.pending_email
    FROM email_verifications v JOIN users u ON u.id = v.user_id
    WHERE v.token_hash = $1 FOR UPDATE OF v, u";
const MARK_USED: &str = "UPDATE email_verifications SET used_at = now() WHERE id = $1::text::uuid";

/// What a token verifies, given the account as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The account's own email.
    Account,
    /// The pending email, which becomes the account's.
    Pending,
    /// Neither any more (the email changed since): nothing to verify.
    Gone,
}

/// Which address `token_email` is for the account now.
pub(crate) fn target(token_email: &str, account: &str, pending: Option<&str>) -> Target {
    if token_email == account {
        Target::Account
    } else if pending == Some(token_email) {
        Target::Pending
    } else {
        Target::Gone
    }
}

/// Whether unverified accounts may sign in with their password.
pub(crate) fn unverified_login_allowed<P: Platform>(platform: &P) -> bool {
    match platform.variable(UNVERIFIED_LOGIN_VARIABLE).as_deref() {
        None | Some("") | Some("allow") => true,
        Some("deny") => false,
        Some(other) => {
            // A misspelt setting must not open the door: deny, and say so.
            eprintln!("{UNVERIFIED_LOGIN_VARIABLE}={other:?} is neither allow nor deny: denying");
            false
        }
    }
}

/// The refusal of a sign-in with an unverified email.
pub(crate) fn not_verified() -> ApiError {
    ApiError::Refused {
        status: 403,
        code: EMAIL_NOT_VERIFIED,
        message: "verify your email first: a new verification mail is on its way \
                  (POST /api/v1/auth/verify-email with its token)"
            .into(),
    }
}

/// Mails `user_id` a new token for `email` (earlier ones stop working), in
/// the caller's transaction. Without a usable `secrets_key` no mail can
/// carry a token: nothing is sent, and the log says why.
pub(crate) async fn send<P: Platform, D: Database>(
    ctx: &RequestContext<'_, P>,
    db: &D,
    user_id: &str,
    email: &str,
) -> Result<(), Failure> {
    let Ok(key) = cp_platform::config::secrets_key(ctx.platform) else {
        eprintln!(
            "request_id={} no verification mail for user {user_id}: secrets_key is not set",
            ctx.request_id
        );
        return Ok(());
    };
    let token = cp_crypto::new_token(VERIFY_TOKEN_PREFIX)
        .map_err(|e| Failure::with_cause(ApiError::Internal, format!("verification token: {e}")))?;
    db.execute(INVALIDATE, &[user_id.into()]).await?;
    db.execute(
        INSERT,
        &[
            cp_http::ids::new_id().to_string().into(),
            user_id.into(),
            email.into(),
            cp_crypto::token_hash(&token).into(),
            TTL_HOURS.into(),
        ],
    )
    .await?;
    Notification {
        kind: OUTBOX_KIND,
        recipient: email.to_owned(),
        payload: json!({
            "userId": user_id,
            "email": email,
            "verifyPath": "/api/v1/auth/verify-email",
            "expiresInHours": TTL_HOURS,
            "token": "sealed",
        }),
    }
    .write_with_secret(db, &ctx.request_id, &token, &key)
    .await
}

/// A verification.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyEmail {
    /// The token of the verification mail.
    #[schema(schema_with = token_schema)]
    pub token: String,
}

fn token_schema() -> Object {
    pattern_string(false, TOKEN_PATTERN, 48, "A verification token (`cpev_…`).")
}

fn is_token(text: &str) -> bool {
    cp_crypto::is_token(text, VERIFY_TOKEN_PREFIX)
}

#[operation(post, "/api/v1/auth/verify-email", id = "verifyEmail", callers = public,
    tag = "auth",
    summary = "Verify an email address with the token mailed to it",
    description = "Public: the token is the proof. It verifies the account's email, or its \
        pending email (an email change), which then becomes the account's email (409 when \
        another account took that address meanwhile). A token works once, for 24 hours, and a \
        newer one replaces it; an unknown, used, expired or replaced token is a 404 \
        VERIFICATION_TOKEN_NOT_FOUND (a malformed one a 400 naming `token`). Answers the account.",
    request_body = VerifyEmail,
    params(IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<User>), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub(crate) async fn verify_email<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<VerifyEmail>(req)?;
    if !is_token(&input.token) {
        return Err(ApiError::invalid(
            "token",
            "must be a verification token (cpev_ and 43 base64url characters)",
        )
        .into());
    }
    let invalid = || ApiError::Refused {
        status: 404,
        code: "VERIFICATION_TOKEN_NOT_FOUND",
        message: "the verification token is unknown, used, expired or replaced: use the newest \
                  mail, or ask for a new one (POST /api/v1/auth/verify-email/resend)"
            .into(),
    };
    let digest = cp_crypto::token_hash(&input.token);
    let user = transaction(ctx.db(), async |db| {
        let Some(row) = db.query_opt(LOOKUP, &[digest.as_str().into()]).await? else {
            return Err(invalid().into());
        };
        if row.bool("used")? || row.bool("expired")? {
            return Err(invalid().into());
        }
        let (id, user_id, email) = (row.text("id")?, row.text("user_id")?, row.text("email")?);
        let pending = row.opt_text("pending_email")?;
        let sql = match target(&email, &row.text("account_email")?, pending.as_deref()) {
            Target::Account => sql::verify_email(),
            Target::Pending => sql::adopt_pending_email(),
            Target::Gone => return Err(invalid().into()),
        };
        db.execute(MARK_USED, &[id.as_str().into()]).await?;
        let updated = db
            .query_one(&sql, &[user_id.as_str().into()])
            .await
            .map_err(|e| match e {
                DbError::UniqueViolation { .. } => Failure::from(ApiError::Conflict(format!(
                    "another account uses {email} now"
                ))),
                other => other.into(),
            })?;
        crate::oidc::audit_as(ctx, &user_id, "user", &user_id)
            .detail(json!({"emailVerified": email}))
            .write(db)
            .await?;
        Ok::<_, Failure>(User::from_row(&updated)?)
    })
    .await?;
    Ok(ctx.ok(&user))
}

#[operation(post, "/api/v1/auth/verify-email/resend", id = "resendVerificationEmail", callers = users,
    tag = "auth",
    summary = "Mail a new verification token: for the pending email, else the unverified account email",
    description = "Earlier tokens stop working. Nothing to verify (a verified email and no \
        pending change) is a 409.",
    params(IdempotencyKeyHeader),
    responses((status = 202, description = "A verification mail is on its way (the outbox)")))]
pub(crate) async fn resend<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let caller = crate::users::user_of(ctx)?;
    transaction(ctx.db(), async |db| {
        let row = db
            .query_one(&sql::user_by_id(), &[caller.id.as_str().into()])
            .await?;
        let user = User::from_row(&row)?;
        let email = match (&user.pending_email, user.email_verified) {
            (Some(pending), _) => pending.clone(),
            (None, false) => user.email.clone(),
            (None, true) => {
                return Err(ApiError::Conflict(
                    "the email is verified and no change is pending".into(),
                )
                .into())
            }
        };
        send(ctx, db, &user.id, &email).await?;
        ctx.audit("user", &user.id)
            .detail(json!({"verificationMailed": true}))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(202))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_the_address_it_was_mailed_to_as_long_as_the_account_has_it() {
        assert_eq!(target("a@x.io", "a@x.io", None), Target::Account);
        assert_eq!(target("b@x.io", "a@x.io", Some("b@x.io")), Target::Pending);
        // The change was cancelled, or replaced by another.
        assert_eq!(target("b@x.io", "a@x.io", None), Target::Gone);
        assert_eq!(target("b@x.io", "a@x.io", Some("c@x.io")), Target::Gone);
    }

    #[test]
    fn verification_tokens_are_recognised_by_their_form() {
        let token = cp_crypto::new_token(VERIFY_TOKEN_PREFIX).unwrap_or_default();
        assert!(is_token(&token));
        assert!(!is_token(&token[1..]));
        assert!(!is_token("cpev_short"));
    }
}
