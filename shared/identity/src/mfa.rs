//! The `/auth/mfa` routes: TOTP (RFC 6238, [`crate::totp`]) as a second
//! factor for users who log in with a password.
//!
//! - Setup stores a *pending* secret sealed with AES-256-GCM under the
//!   `secrets_key` master key (bound to the user id) and shows it once;
//!   verify-setup enables it with a first code.
//! - With MFA enabled, `POST /auth/token` answers a challenge (`mfaToken`,
//!   random, stored as a SHA-256 digest, single use, 5 minutes) instead of
//!   a JWT; `POST /auth/mfa/verify` exchanges it and a code for the session.
//! - Codes: 6 digits, one step (30 s) either side, compared in constant
//!   time; each time step is accepted once per user (the last accepted one
//!   is stored), so a seen code cannot be replayed.
//! - Failed codes (and wrong passwords at `DELETE /auth/mfa`) are counted
//!   per user in PostgreSQL: [`MAX_FAILURES`] within [`FAILURE_WINDOW_SECS`]
//!   answer `429 RATE_LIMITED` with `Retry-After` until the oldest of them
//!   leaves the window; a success clears them.
//! - Failures, enabling and disabling are audited; never a secret or code.

use cp_auth::jwt::JwtKey;
use cp_crypto::{MasterKey, Sealed};
use cp_http::error::ErrorBody;
use cp_http::json::parse_body;
use cp_http::params::IdempotencyKeyHeader;
use cp_http::validate::{pattern_string, Validator, TEXT_PATTERN};
use cp_http::PathParams;
use cp_http::{time, ApiError, ApiRequest, ApiResponse, Envelope};
use cp_macros::operation;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, DbError, FromRow, Row, Value};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::ToSchema;

use crate::account::{Session, User};
use crate::users::{hash_failure, user_of};
use crate::{password, sql, totp};

/// Prefix of login challenge tokens.
pub const MFA_TOKEN_PREFIX: &str = "cpmfa_";
/// Lifetime of a login challenge.
pub const CHALLENGE_TTL_SECS: u64 = 5 * 60;
/// Failed verifications allowed per user within [`FAILURE_WINDOW_SECS`].
pub const MAX_FAILURES: i64 = 5;
/// The rolling window of the rate limit.
pub const FAILURE_WINDOW_SECS: i64 = 5 * 60;
/// Issuer shown by authenticator apps.
pub const ISSUER: &str = "agent-control-plane";
/// Longest `mfaToken` accepted.
const MAX_MFA_TOKEN: usize = 200;
/// What a code looks like.
const CODE_PATTERN: &str = "^[0-9]{6}$";

/// Whether a user has MFA (`GET /auth/mfa/status`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaStatus {
    /// Whether logins need a TOTP code.
    pub enabled: bool,
    /// When MFA was enabled (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolled_at: Option<String>,
}

/// A pending enrolment (`POST /auth/mfa/setup`): the only time the secret
/// is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaSetup {
    /// The TOTP secret, base32 (RFC 4648, unpadded): enter it in an
    /// authenticator app, or scan `otpauthUri`. Never returned again.
    #[schema(pattern = "^[A-Z2-7]+$")]
    pub secret: String,
    /// `otpauth://totp/<issuer>:<email>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
    pub otpauth_uri: String,
}

/// The first step of a login with MFA: send `mfaToken` and a code to
/// `POST /auth/mfa/verify`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaChallenge {
    /// Always `true`.
    pub mfa_required: bool,
    /// Single-use challenge token (`cpmfa_…`), valid for `expiresIn` seconds.
    pub mfa_token: String,
    /// Seconds until the challenge expires (300).
    pub expires_in: u64,
}

/// What `POST /auth/token` answers: a session, or a challenge when the
/// user has MFA.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResult {
    /// No MFA: the session.
    Session(Box<Session>),
    /// MFA enabled: the challenge.
    MfaRequired(MfaChallenge),
}

fn code_schema() -> Object {
    let mut s = pattern_string(
        false,
        CODE_PATTERN,
        6,
        "The current 6-digit code of the authenticator app.",
    );
    s.min_length = Some(6);
    s
}

fn mfa_token_schema() -> Object {
    let mut s = pattern_string(
        false,
        TEXT_PATTERN,
        MAX_MFA_TOKEN,
        "The `mfaToken` POST /auth/token answered.",
    );
    s.min_length = Some(1);
    s
}

fn password_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .min_length(Some(1))
        .max_length(Some(password::MAX_CHARS))
        .description(Some("The account's password."))
        .build()
}

fn check_code(v: &mut Validator, field: &str, code: Option<&str>) -> String {
    let code = code.unwrap_or_default();
    if code.is_empty() {
        v.error(field, "is required");
    } else if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        v.error(field, "must be 6 digits");
    }
    code.to_owned()
}

/// Body of `POST /auth/mfa/verify-setup`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfaCode {
    /// A code.
    #[schema(schema_with = code_schema, required = true)]
    pub code: Option<String>,
}

impl MfaCode {
    /// The code (6 digits).
    pub fn validate(self) -> Result<String, ApiError> {
        let mut v = Validator::new();
        let code = check_code(&mut v, "code", self.code.as_deref());
        v.finish()?;
        Ok(code)
    }
}

/// Body of `POST /auth/mfa/verify`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfaVerify {
    /// The challenge.
    #[schema(schema_with = mfa_token_schema, required = true)]
    pub mfa_token: Option<String>,
    /// A code.
    #[schema(schema_with = code_schema, required = true)]
    pub code: Option<String>,
}

impl MfaVerify {
    /// The challenge token and the code; a wrong token is a 401, not a 400.
    pub fn validate(self) -> Result<(String, String), ApiError> {
        let mut v = Validator::new();
        let token = self.mfa_token.unwrap_or_default();
        if token.is_empty() {
            v.error("mfaToken", "is required");
        } else {
            v.text("mfaToken", Some(&token), MAX_MFA_TOKEN);
        }
        let code = check_code(&mut v, "code", self.code.as_deref());
        v.finish()?;
        Ok((token, code))
    }
}

/// Body of `DELETE /auth/mfa`: a current code or the password, not both.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfaDisable {
    /// A current code.
    #[schema(schema_with = code_schema)]
    pub code: Option<String>,
    /// Or the account's password.
    #[schema(schema_with = password_schema)]
    pub password: Option<String>,
}

/// What proves the user may disable MFA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// A TOTP code.
    Code(String),
    /// The password.
    Password(String),
}

impl MfaDisable {
    /// Exactly one of `code` and `password`.
    pub fn validate(self) -> Result<Proof, ApiError> {
        let mut v = Validator::new();
        let proof = match (self.code, self.password) {
            (Some(c), None) => Proof::Code(check_code(&mut v, "code", Some(&c))),
            (None, Some(p)) => {
                if p.is_empty() {
                    v.error("password", "is required");
                }
                v.max_chars("password", Some(&p), password::MAX_CHARS);
                Proof::Password(p)
            }
            (Some(_), Some(_)) => {
                v.error("code", "give either code or password, not both");
                Proof::Code(String::new())
            }
            (None, None) => {
                v.error("code", "is required (or password)");
                Proof::Code(String::new())
            }
        };
        v.finish()?;
        Ok(proof)
    }
}

/// The master key, or a 503 naming the variable (never a value).
fn master_key<P: Platform>(ctx: &RequestContext<'_, P>) -> Result<MasterKey, Failure> {
    cp_platform::config::require_secrets_key(ctx.platform, "MFA is not available")
}

/// What binds a sealed TOTP secret to its user.
fn secret_aad(user_id: &str) -> Vec<u8> {
    format!("cp/user-mfa-secret/v1/{user_id}").into_bytes()
}

/// A user's MFA row.
struct MfaRow {
    sealed: Sealed,
    enabled_micros: Option<i64>,
    last_step: Option<u64>,
}

impl FromRow for MfaRow {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        Ok(Self {
            sealed: Sealed {
                nonce: row.bytes("secret_nonce")?,
                ciphertext: row.bytes("secret_ciphertext")?,
            },
            enabled_micros: row.opt_i64("enabled_micros")?,
            last_step: row
                .opt_i64("last_step")?
                .and_then(|s| u64::try_from(s).ok()),
        })
    }
}

impl MfaRow {
    fn secret(&self, key: &MasterKey, user_id: &str) -> Result<Vec<u8>, Failure> {
        key.open(&self.sealed, &secret_aad(user_id)).map_err(|e| {
            Failure::with_cause(ApiError::Internal, format!("opening a TOTP secret: {e}"))
        })
    }
}

/// The outcome of a code check.
enum Check {
    /// Accepted (its time step is now the user's last).
    Accepted,
    /// Wrong, replayed or too old (the failure is recorded).
    Wrong,
    /// Too many recent failures: retry after this many seconds.
    Limited(u64),
}

/// Seconds until the user may try again, when rate-limited.
async fn limited<D: Database>(db: &D, user_id: &str) -> Result<Option<u64>, Failure> {
    let row = db
        .query_opt(
            sql::MFA_RETRY_AFTER,
            &[
                user_id.into(),
                Value::Int(FAILURE_WINDOW_SECS),
                Value::Int(MAX_FAILURES - 1),
            ],
        )
        .await?;
    Ok(match row {
        Some(r) => Some(u64::try_from(r.i64("retry_secs")?).unwrap_or(0).max(1)),
        None => None,
    })
}

async fn record_failure<D: Database>(db: &D, user_id: &str) -> Result<(), Failure> {
    db.execute(
        sql::MFA_PRUNE_FAILURES,
        &[user_id.into(), Value::Int(FAILURE_WINDOW_SECS)],
    )
    .await?;
    db.execute(sql::MFA_RECORD_FAILURE, &[user_id.into()])
        .await?;
    Ok(())
}

/// Checks `code` for the user (rate limit first), recording a failure or
/// accepting the step (and clearing the failures).
async fn check<P: Platform>(
    ctx: &RequestContext<'_, P>,
    db: &P::Db,
    user_id: &str,
    mfa: &MfaRow,
    secret: &[u8],
    code: &str,
) -> Result<Check, Failure> {
    if let Some(secs) = limited(db, user_id).await? {
        return Ok(Check::Limited(secs));
    }
    let now = totp::step_at(u64::try_from(ctx.now.timestamp()).unwrap_or(0));
    let Some(step) = totp::verify(secret, code, now, mfa.last_step) else {
        record_failure(db, user_id).await?;
        return Ok(Check::Wrong);
    };
    db.execute(
        sql::MFA_ACCEPT_STEP,
        &[
            user_id.into(),
            Value::Int(i64::try_from(step).unwrap_or(i64::MAX)),
        ],
    )
    .await?;
    db.execute(sql::MFA_CLEAR_FAILURES, &[user_id.into()])
        .await?;
    Ok(Check::Accepted)
}

fn rate_limited(secs: u64) -> ApiError {
    ApiError::RateLimited {
        message: "too many failed MFA attempts; retry later".into(),
        retry_after_secs: secs,
    }
}

/// Audits a refused step (never the code) and answers `error`; the audit
/// entry and the recorded failure commit with the transaction, so the
/// refusal is a response, not an error.
async fn refuse<P: Platform, T>(
    ctx: &RequestContext<'_, P>,
    db: &P::Db,
    user_id: &str,
    reason: &str,
    error: ApiError,
) -> Result<Result<T, ApiError>, Failure> {
    ctx.audit("user", user_id)
        .failed()
        .detail(json!({ "mfa": reason, "status": error.status() }))
        .write(db)
        .await?;
    Ok(Err(error))
}

fn status_of(row: Option<&Row>) -> Result<MfaStatus, Failure> {
    let enabled_micros = match row {
        Some(r) => r.opt_i64("enabled_micros")?,
        None => None,
    };
    Ok(MfaStatus {
        enabled: enabled_micros.is_some(),
        enrolled_at: enabled_micros.map(time::micros_rfc3339),
    })
}

#[operation(get, "/api/v1/auth/mfa/status", id = "getMfaStatus", callers = users,
    tag = "auth",
    summary = "Whether the caller (a user) has MFA enabled, and since when",
    responses((status = 200, body = Envelope<MfaStatus>)))]
pub(crate) async fn get_status<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let caller = user_of(ctx)?;
    let row = ctx
        .db()
        .query_opt(sql::MFA_STATUS, &[caller.id.as_str().into()])
        .await?;
    Ok(ctx.ok(&status_of(row.as_ref())?))
}

#[operation(post, "/api/v1/auth/mfa/setup", id = "setUpMfa", callers = users, shows_secret,
    tag = "auth",
    summary = "Begin TOTP enrolment: answers the secret and its otpauth:// URI, this once",
    description = "The secret is stored pending, encrypted at rest (AES-256-GCM under the \
        `secrets_key` variable; 503 UNAVAILABLE naming it when not configured), until \
        POST /auth/mfa/verify-setup confirms a code. Calling setup again replaces a pending \
        secret. 409 CONFLICT when MFA is already enabled.",
    params(IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<MfaSetup>)))]
pub(crate) async fn set_up<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let caller = user_of(ctx)?;
    let key = master_key(ctx)?;
    let secret = totp::new_secret().map_err(|e| {
        Failure::with_cause(ApiError::Internal, format!("generating a TOTP secret: {e}"))
    })?;
    let sealed = key
        .seal(&secret, &secret_aad(&caller.id))
        .map_err(|e| Failure::with_cause(ApiError::Internal, format!("sealing: {e}")))?;
    transaction(ctx.db(), async |db| {
        let stored = db
            .query_opt(
                sql::MFA_SET_PENDING,
                &[
                    caller.id.as_str().into(),
                    Value::Bytes(sealed.nonce.clone()),
                    Value::Bytes(sealed.ciphertext.clone()),
                ],
            )
            .await?;
        if stored.is_none() {
            return Err(ApiError::Conflict(
                "MFA is already enabled; disable it first (DELETE /api/v1/auth/mfa)".into(),
            )
            .into());
        }
        ctx.audit("user", &caller.id)
            .detail(json!({ "mfa": "setupStarted" }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    let text = totp::base32_encode(&secret);
    Ok(ctx.ok(&MfaSetup {
        otpauth_uri: totp::otpauth_uri(ISSUER, &caller.email, &text),
        secret: text,
    }))
}

#[operation(post, "/api/v1/auth/mfa/verify-setup", id = "verifyMfaSetup", callers = users,
    tag = "auth",
    summary = "Finish enrolment: a current code of the pending secret enables MFA",
    description = "A wrong code is a 400 naming `code`; failures are rate-limited per user (429 \
        RATE_LIMITED with Retry-After). 409 CONFLICT without a pending setup or when already \
        enabled.",
    request_body = MfaCode,
    params(IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<MfaStatus>), (status = 429, body = ErrorBody)))]
pub(crate) async fn verify_setup<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let caller = user_of(ctx)?;
    let code = parse_body::<MfaCode>(req)?.validate()?;
    let key = master_key(ctx)?;
    let user_id = caller.id.as_str();
    let outcome = transaction(ctx.db(), async |db| {
        let Some(row) = db.query_opt(sql::MFA_FOR_UPDATE, &[user_id.into()]).await? else {
            return Err(ApiError::Conflict(
                "no MFA setup is in progress; start one with POST /api/v1/auth/mfa/setup".into(),
            )
            .into());
        };
        let mfa = MfaRow::from_row(&row)?;
        if mfa.enabled_micros.is_some() {
            return Err(ApiError::Conflict("MFA is already enabled".into()).into());
        }
        let secret = mfa.secret(&key, user_id)?;
        match check(ctx, db, user_id, &mfa, &secret, &code).await? {
            Check::Limited(secs) => {
                refuse(ctx, db, user_id, "rateLimited", rate_limited(secs)).await
            }
            Check::Wrong => {
                let wrong =
                    ApiError::invalid("code", "is not a current code of the pending secret");
                refuse(ctx, db, user_id, "wrongCode", wrong).await
            }
            Check::Accepted => {
                db.execute(sql::MFA_ENABLE, &[user_id.into()]).await?;
                ctx.audit("user", user_id)
                    .detail(json!({ "mfa": "enabled" }))
                    .write(db)
                    .await?;
                Ok(Ok(()))
            }
        }
    })
    .await?;
    if let Err(e) = outcome {
        return Ok(e.to_response(&ctx.request_id));
    }
    let row = ctx
        .db()
        .query_opt(sql::MFA_STATUS, &[user_id.into()])
        .await?;
    Ok(ctx.ok(&status_of(row.as_ref())?))
}

/// Starts a login of a user with MFA: stores a fresh challenge and answers it.
pub(crate) async fn challenge<P: Platform>(
    ctx: &RequestContext<'_, P>,
    user: &User,
) -> Result<ApiResponse, Failure> {
    let token = cp_crypto::new_token(MFA_TOKEN_PREFIX).map_err(|e| {
        Failure::with_cause(ApiError::Internal, format!("generating a challenge: {e}"))
    })?;
    transaction(ctx.db(), async |db| {
        db.execute(sql::MFA_PRUNE_CHALLENGES, &[]).await?;
        db.execute(
            sql::MFA_INSERT_CHALLENGE,
            &[
                cp_crypto::token_hash(&token).into(),
                user.id.as_str().into(),
                Value::Int(i64::try_from(CHALLENGE_TTL_SECS).unwrap_or(300)),
            ],
        )
        .await?;
        ctx.audit("user", &user.id)
            .detail(json!({ "email": user.email, "mfaRequired": true }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ctx.ok(&LoginResult::MfaRequired(MfaChallenge {
        mfa_required: true,
        mfa_token: token,
        expires_in: CHALLENGE_TTL_SECS,
    })))
}

/// Whether the user must pass a TOTP check to log in.
pub(crate) async fn is_enabled<D: Database>(db: &D, user_id: &str) -> Result<bool, Failure> {
    let row = db.query_opt(sql::MFA_STATUS, &[user_id.into()]).await?;
    Ok(status_of(row.as_ref())?.enabled)
}

#[operation(post, "/api/v1/auth/mfa/verify", id = "verifyMfa", callers = public, shows_secret,
    tag = "auth",
    summary = "Complete a login with MFA: the mfaToken of POST /auth/token and a current code",
    description = "Answers what POST /auth/token answers without MFA: the session JWT. The \
        mfaToken is single use and expires after 5 minutes; an unknown, used or expired one, or \
        a wrong or replayed code, is a 401. Failed codes are rate-limited per user (429 \
        RATE_LIMITED with Retry-After). Every outcome is audited (never the code).",
    request_body = MfaVerify,
    params(IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Session>), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
pub(crate) async fn verify<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let (token, code) = parse_body::<MfaVerify>(req)?.validate()?;
    let jwt = JwtKey::for_sign_in(ctx.platform)?;
    let key = master_key(ctx)?;
    let digest = cp_crypto::token_hash(&token);
    let outcome = transaction(ctx.db(), async |db| {
        let bad_token = || ApiError::Unauthorized("invalid or expired MFA token".into());
        let Some(ch) = db
            .query_opt(sql::MFA_CHALLENGE_FOR_UPDATE, &[digest.as_str().into()])
            .await?
        else {
            return refuse(ctx, db, "", "unknownOrExpiredToken", bad_token()).await;
        };
        let user_id = ch.text("user_id")?;
        let mfa: Option<MfaRow> = db
            .fetch_opt(sql::MFA_FOR_UPDATE, &[user_id.as_str().into()])
            .await?;
        let Some(mfa) = mfa.filter(|m| m.enabled_micros.is_some()) else {
            // MFA was disabled since the password step: log in again.
            db.execute(sql::MFA_DELETE_CHALLENGE, &[digest.as_str().into()])
                .await?;
            return refuse(ctx, db, &user_id, "notEnabled", bad_token()).await;
        };
        let secret = mfa.secret(&key, &user_id)?;
        match check(ctx, db, &user_id, &mfa, &secret, &code).await? {
            Check::Limited(secs) => {
                refuse(ctx, db, &user_id, "rateLimited", rate_limited(secs)).await
            }
            Check::Wrong => {
                refuse(
                    ctx,
                    db,
                    &user_id,
                    "wrongCode",
                    ApiError::Unauthorized("invalid MFA code".into()),
                )
                .await
            }
            Check::Accepted => {
                db.execute(sql::MFA_DELETE_CHALLENGE, &[digest.as_str().into()])
                    .await?;
                let Some(row) = db
                    .query_opt(&sql::user_by_id(), &[user_id.as_str().into()])
                    .await?
                else {
                    return refuse(ctx, db, &user_id, "userGone", bad_token()).await;
                };
                let user = User::from_row(&row)?;
                ctx.audit("user", &user.id)
                    .detail(json!({ "email": user.email, "mfa": "verified" }))
                    .write(db)
                    .await?;
                Ok(Ok(user))
            }
        }
    })
    .await?;
    match outcome {
        Ok(user) => {
            let session = crate::refresh::signed_in(ctx.db(), &jwt, user, None).await?;
            Ok(ctx.ok(&session))
        }
        Err(e) => Ok(e.to_response(&ctx.request_id)),
    }
}

#[operation(delete, "/api/v1/auth/mfa", id = "disableMfa", callers = users,
    tag = "auth",
    summary = "Disable MFA with a current code or the account's password",
    description = "Exactly one of `code` and `password`; a wrong one is a 400 naming it. Failures \
        are rate-limited per user (429 RATE_LIMITED with Retry-After). 409 CONFLICT when MFA is \
        not enabled.",
    request_body = MfaDisable,
    params(IdempotencyKeyHeader),
    responses((status = 204, description = "Disabled"), (status = 429, body = ErrorBody)))]
pub(crate) async fn disable<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let caller = user_of(ctx)?;
    let proof = parse_body::<MfaDisable>(req)?.validate()?;
    let key = match proof {
        Proof::Code(_) => Some(master_key(ctx)?),
        Proof::Password(_) => None,
    };
    let user_id = caller.id.as_str();
    let outcome = transaction(ctx.db(), async |db| {
        let mfa: Option<MfaRow> = db.fetch_opt(sql::MFA_FOR_UPDATE, &[user_id.into()]).await?;
        let Some(mfa) = mfa.filter(|m| m.enabled_micros.is_some()) else {
            return Err(ApiError::Conflict("MFA is not enabled".into()).into());
        };
        let via = match (&proof, &key) {
            (Proof::Code(code), Some(key)) => {
                let secret = mfa.secret(key, user_id)?;
                match check(ctx, db, user_id, &mfa, &secret, code).await? {
                    Check::Limited(secs) => {
                        return refuse(ctx, db, user_id, "rateLimited", rate_limited(secs)).await
                    }
                    Check::Wrong => {
                        return refuse(
                            ctx,
                            db,
                            user_id,
                            "wrongCode",
                            ApiError::invalid("code", "is not a current code"),
                        )
                        .await
                    }
                    Check::Accepted => "code",
                }
            }
            (Proof::Password(pw), _) => {
                if let Some(secs) = limited(db, user_id).await? {
                    return refuse(ctx, db, user_id, "rateLimited", rate_limited(secs)).await;
                }
                let Some(row) = db
                    .query_opt(&sql::user_for_update(), &[user_id.into()])
                    .await?
                else {
                    return Err(
                        ApiError::Unauthorized("the token's user no longer exists".into()).into(),
                    );
                };
                // No password (an identity-provider account): never matches.
                let matches = match row.opt_text("password_hash")? {
                    Some(stored) => password::verify(pw, &stored).map_err(hash_failure)?,
                    None => false,
                };
                if !matches {
                    record_failure(db, user_id).await?;
                    return refuse(
                        ctx,
                        db,
                        user_id,
                        "wrongPassword",
                        ApiError::invalid("password", "is incorrect"),
                    )
                    .await;
                }
                "password"
            }
            (Proof::Code(_), None) => {
                return Err(Failure::with_cause(ApiError::Internal, "no master key"))
            }
        };
        db.execute(sql::MFA_DISABLE, &[user_id.into()]).await?;
        ctx.audit("user", user_id)
            .detail(json!({ "mfa": "disabled", "via": via }))
            .write(db)
            .await?;
        Ok(Ok(()))
    })
    .await?;
    match outcome {
        Ok(()) => Ok(ApiResponse::empty(204)),
        Err(e) => Ok(e.to_response(&ctx.request_id)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fields(err: &ApiError) -> Vec<&str> {
        err.field_errors()
            .iter()
            .map(|f| f.field.as_str())
            .collect()
    }

    #[test]
    fn codes_are_six_digits() {
        let ok: MfaCode = serde_json::from_value(json!({"code": "012345"})).unwrap();
        assert_eq!(ok.validate().unwrap(), "012345");
        for bad in [
            json!({}),
            json!({"code": "12345"}),
            json!({"code": "12a456"}),
        ] {
            let req: MfaCode = serde_json::from_value(bad).unwrap();
            assert_eq!(fields(&req.validate().unwrap_err()), ["code"]);
        }
        let req: MfaVerify = serde_json::from_value(json!({"code": "1"})).unwrap();
        assert_eq!(fields(&req.validate().unwrap_err()), ["mfaToken", "code"]);
    }

    #[test]
    fn disabling_takes_a_code_or_a_password() {
        let parse = |v| serde_json::from_value::<MfaDisable>(v).unwrap().validate();
        assert_eq!(
            parse(json!({"code": "123456"})).unwrap(),
            Proof::Code("123456".into())
        );
        assert_eq!(
            parse(json!({"password": "pw"})).unwrap(),
            Proof::Password("pw".into())
        );
        for bad in [json!({}), json!({"code": "123456", "password": "pw"})] {
            assert_eq!(fields(&parse(bad).unwrap_err()), ["code"]);
        }
        assert_eq!(
            fields(&parse(json!({"password": ""})).unwrap_err()),
            ["password"]
        );
    }

    #[test]
    fn a_missing_secrets_key_names_the_variable() {
        let e = cp_platform::config::SecretsKeyError::Missing.to_string();
        assert!(e.contains("`secrets_key`"), "{e}");
    }

    #[test]
    fn login_results_serialise_as_one_of_two_shapes() {
        let v = serde_json::to_value(LoginResult::MfaRequired(MfaChallenge {
            mfa_required: true,
            mfa_token: "cpmfa_x".into(),
            expires_in: 300,
        }))
        .unwrap();
        assert_eq!(
            v,
            json!({"mfaRequired": true, "mfaToken": "cpmfa_x", "expiresIn": 300})
        );
    }
}
