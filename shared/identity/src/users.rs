//! The `/auth` routes: signup, login (JWT), logout, password change, the
//! caller's profile, and personal API keys.
//!
//! Sessions are JWTs ([`cp_auth::jwt`], 15 minutes); `cp_auth`
//! checks them on every request. Failed logins answer one 401 body whether
//! the email is unknown or the password wrong, after the same argon2 work
//! (an unknown email is verified against [`password::DUMMY_HASH`]).

use cp_auth::jwt::JwtKey;
use cp_auth::API_KEY_PREFIX;
use cp_http::error::ErrorBody;
use cp_http::ids::{new_id, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::auth::{UserPrincipal, UserVia};
use cp_platform::resource::{keyset_list, KeysetList, TieBreak};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, DbError, FromRow, Value};
use serde_json::json;

use crate::account::{
    ApiKey, ApiKeyCreate, ApiKeyExchange, ChangePassword, CreatedApiKey, LogIn, Me, PendingSignUp,
    RevokedApiKeys, Session, SignUp, SignUpResult, UpdateMe, User, SHOWN_KEY_PREFIX_LEN,
};
use crate::api::TokenIdPath;
use crate::mfa::{self, LoginResult};
use crate::throttle::{self, LOGIN_ACCOUNT, LOGIN_ADDRESS, SIGNUP};
use crate::{password, refresh, sql, verify};

/// Cursor scope of the API key list.
pub(crate) const KEYS_SCOPE: &str = "api-keys";

/// The one answer to a failed login, whatever failed.
const BAD_LOGIN: &str = "invalid email or password";

pub(crate) fn hash_failure(e: password::HashError) -> Failure {
    Failure::with_cause(ApiError::Internal, e.to_string())
}

/// A JWT just issued for a user, and what refresh tokens and password
/// changes need of it.
pub(crate) struct Issued {
    /// The session (without a refresh token).
    pub session: Session,
    /// The JWT's id.
    pub jti: String,
    /// Its issue instant, Unix milliseconds.
    pub issued_ms: i64,
}

/// A session JWT for `user` (sign-ins add a refresh token:
/// [`crate::refresh::signed_in`]).
pub(crate) fn session(key: &JwtKey, user: User) -> Result<Issued, Failure> {
    let issued = key.issue(&user.id)?;
    Ok(Issued {
        session: Session {
            user,
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token: None,
            refresh_expires_in: None,
        },
        jti: issued.jti,
        issued_ms: issued.issued_ms,
    })
}

/// The calling user, or a 403 for operators and access tokens (they have no
/// account).
pub(crate) fn user_of<'a, P: Platform>(
    ctx: &'a RequestContext<'_, P>,
) -> Result<&'a UserPrincipal, Failure> {
    ctx.principal.user().ok_or_else(|| {
        ApiError::Forbidden(
            "only a signed-in user has an account here; operators and access tokens do not".into(),
        )
        .into()
    })
}

fn duplicate_email(e: DbError) -> Failure {
    match e {
        DbError::UniqueViolation { .. } => {
            ApiError::Conflict("a user with this email already exists".into()).into()
        }
        other => other.into(),
    }
}

/// Checks the `currentPassword` of a re-authentication against the stored
/// hash: a 400 naming it when wrong, or when the account has none.
fn check_current_password(stored: Option<String>, given: &str) -> Result<(), Failure> {
    let Some(stored) = stored else {
        return Err(ApiError::invalid(
            "currentPassword",
            "this account has no password: it signs in through the identity provider",
        )
        .into());
    };
    if !password::verify(given, &stored).map_err(hash_failure)? {
        return Err(ApiError::invalid("currentPassword", "is incorrect").into());
    }
    Ok(())
}

/// A refused login or key exchange: audited here (actor anonymous, the
/// user's id when known, never the password or key), then answered as a
/// response rather than an error so the pipeline does not audit it twice.
async fn refuse_login<P: Platform>(
    ctx: &RequestContext<'_, P>,
    user_id: Option<&str>,
    detail: serde_json::Value,
    message: &str,
) -> Result<ApiResponse, Failure> {
    ctx.audit("user", user_id.unwrap_or(""))
        .failed()
        .detail(detail)
        .write(ctx.db())
        .await?;
    Ok(ApiError::Unauthorized(message.to_owned()).to_response(&ctx.request_id))
}

#[operation(post, "/api/v1/auth/signup", id = "signUp", callers = public, shows_secret,
    tag = "auth",
    summary = "Sign up with an email and a password; answers the account and a session JWT",
    description = "Password policy: 12-128 characters; not a single repeated character; must not \
        contain the local part of the email (case-insensitive, when it has 3 or more characters); \
        not one of the most common passwords. A violation is a 400 naming `password`. The email \
        is stored lowercased and is unique (409 CONFLICT). Passwords are stored as argon2id hashes. \
        The account's email starts unverified (`emailVerified: false`): it is not trusted for \
        invitations or for linking an identity-provider sign-in, and a verification mail (a \
        token for POST /auth/verify-email) goes to the notification outbox. With \
        `unverified_login` = `deny`, the answer is the account alone \
        (`verificationRequired: true`), without a session, until the email is verified. Signups are limited per source \
        address (`signup_max_per_address` per `signup_window_secs`, default 20 an hour): over it, \
        429 RATE_LIMITED with `Retry-After`.",
    request_body = SignUp,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<SignUpResult>), (status = 409, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(crate) async fn sign_up<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<SignUp>(req)?.validate()?;
    let key = JwtKey::for_sign_in(ctx.platform)?;
    throttle::reserve(ctx, &SIGNUP, &throttle::client_address(req)).await?;
    let hash = password::hash(&input.password).map_err(hash_failure)?;
    let id = new_id().to_string();
    let result = transaction(ctx.db(), async |db| {
        let row = db
            .query_one(
                &sql::insert_user(),
                &[
                    id.as_str().into(),
                    input.email.as_str().into(),
                    input.display_name.clone().into(),
                    hash.as_str().into(),
                ],
            )
            .await
            .map_err(duplicate_email)?;
        let user = User::from_row(&row)?;
        ctx.audit("user", &id)
            .detail(json!({ "email": user.email }))
            .write(db)
            .await?;
        verify::send(ctx, db, &user.id, &user.email).await?;
        if !verify::unverified_login_allowed(ctx.platform) {
            return Ok::<_, Failure>(SignUpResult::VerificationRequired(PendingSignUp {
                user,
                verification_required: true,
            }));
        }
        let session = refresh::signed_in(db, &key, user, None).await?;
        Ok(SignUpResult::Session(Box::new(session)))
    })
    .await?;
    Ok(ctx.created(&result))
}

#[operation(post, "/api/v1/auth/token", id = "logIn", callers = public, shows_secret,
    tag = "auth",
    summary = "Log in with email and password; answers a session JWT (15 minutes), or an MFA challenge",
    description = "An unknown email and a wrong password give the same 401 after the same work. \
        Successes and failures are audited (never the password). When the user has MFA enabled, \
        the answer is `{mfaRequired: true, mfaToken, expiresIn}` instead of a session: send the \
        mfaToken and a current code to POST /auth/mfa/verify (single use, 5 minutes). Failed \
        logins are limited per account (`login_max_failures_per_account`, default 10) and per \
        source address (`login_max_failures_per_address`, default 100) within \
        `login_window_secs` (default 900): beyond that, 429 RATE_LIMITED with `Retry-After` \
        until the window ends, without checking the password.",
    request_body = LogIn,
    params(IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<LoginResult>), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(crate) async fn log_in<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let (email, pw) = parse_body::<LogIn>(req)?.validate()?;
    let key = JwtKey::for_sign_in(ctx.platform)?;
    // Both counters are reserved before the argon2 check, so concurrent
    // guesses cannot run more checks than the limits allow.
    let account = throttle::reserve(ctx, &LOGIN_ACCOUNT, &email).await?;
    let address = match throttle::reserve(ctx, &LOGIN_ADDRESS, &throttle::client_address(req)).await
    {
        Ok(r) => r,
        Err(refused) => {
            throttle::release(ctx.db(), &account).await?;
            return Err(refused);
        }
    };
    let row = ctx
        .db()
        .query_opt(&sql::user_by_email(), &[email.as_str().into()])
        .await?;
    // A user who signs in only through the identity provider has no
    // password: checked against the dummy hash too, and refused.
    let stored = match &row {
        Some(r) => r.opt_text("password_hash")?,
        None => None,
    };
    let has_password = stored.is_some();
    let stored = stored.unwrap_or_else(|| password::DUMMY_HASH.to_owned());
    // Verified even for an unknown email, so both failures take as long.
    let matches = password::verify(&pw, &stored).map_err(hash_failure)? && has_password;
    let user_id = match &row {
        Some(r) => Some(r.text("id")?),
        None => None,
    };
    let Some(row) = row.filter(|_| matches) else {
        let reason = if user_id.is_some() {
            "wrong password"
        } else {
            "unknown email"
        };
        return refuse_login(
            ctx,
            user_id.as_deref(),
            json!({ "email": email, "reason": reason }),
            BAD_LOGIN,
        )
        .await;
    };
    let user = User::from_row(&row)?;
    // A success is not a failure: the attempt is given back.
    throttle::release(ctx.db(), &account).await?;
    throttle::release(ctx.db(), &address).await?;
    if !user.email_verified && !verify::unverified_login_allowed(ctx.platform) {
        // Refused, with a new verification mail (the old one may be lost).
        transaction(ctx.db(), async |db| {
            verify::send(ctx, db, &user.id, &user.email).await?;
            ctx.audit("user", &user.id)
                .failed()
                .detail(json!({ "reason": "email not verified" }))
                .write(db)
                .await?;
            Ok::<_, Failure>(())
        })
        .await?;
        return Err(verify::not_verified().into());
    }
    if mfa::is_enabled(ctx.db(), &user.id).await? {
        return mfa::challenge(ctx, &user).await;
    }
    ctx.audit("user", &user.id)
        .detail(json!({ "email": user.email }))
        .write(ctx.db())
        .await?;
    let session = refresh::signed_in(ctx.db(), &key, user, None).await?;
    Ok(ctx.ok(&LoginResult::Session(Box::new(session))))
}

#[operation(delete, "/api/v1/auth/token", id = "logOut", callers = users,
    tag = "auth",
    summary = "Log out: revoke the session JWT making this request (by its jti)",
    description = "The token answers 401 from then on. Only a JWT can be revoked here (an API \
        key is revoked at DELETE /auth/api-keys/{id}).",
    params(IdempotencyKeyHeader),
    responses((status = 204, description = "Revoked")))]
pub(crate) async fn log_out<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let user = user_of(ctx)?;
    let UserVia::Jwt {
        jti,
        expires_at_secs,
    } = &user.via
    else {
        return Err(ApiError::Forbidden(
            "only a session JWT can be revoked here; revoke an API key at /api/v1/auth/api-keys/{id}"
                .into(),
        )
        .into());
    };
    transaction(ctx.db(), async |db| {
        db.execute(sql::PRUNE_REVOKED, &[]).await?;
        db.execute(
            sql::REVOKE_JTI,
            &[
                jti.as_str().into(),
                user.id.as_str().into(),
                Value::Int(*expires_at_secs),
            ],
        )
        .await?;
        // The sign-in's refresh tokens end with it.
        let refresh_revoked = refresh::revoke_for_jti(db, jti).await?;
        ctx.audit("user", &user.id)
            .detail(json!({ "jti": jti, "refreshTokensRevoked": refresh_revoked }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}

#[operation(post, "/api/v1/auth/change-password", id = "changePassword", callers = users, shows_secret,
    tag = "auth",
    summary = "Change the caller's password; every earlier JWT stops working, the response carries a fresh one",
    description = "A wrong `currentPassword` is a 400 naming `currentPassword` (the request's \
        credentials are fine; one of its fields is wrong). The new password must meet the signup \
        policy (a 400 naming `newPassword`). Every JWT of the user issued before the change, the \
        one making this request included, answers 401 afterwards; the response carries a fresh \
        JWT for the caller. Personal API keys are not affected: they are credentials of their own \
        (revoke them all at DELETE /auth/api-keys). Wrong current passwords count as failed \
        logins of the account (429 RATE_LIMITED beyond the limit).",
    request_body = ChangePassword,
    params(IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Session>), (status = 429, body = ErrorBody)))]
pub(crate) async fn change_password<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let caller = user_of(ctx)?;
    let (current, new) = parse_body::<ChangePassword>(req)?.validate(&caller.email)?;
    let key = JwtKey::for_sign_in(ctx.platform)?;
    let new_hash = password::hash(&new).map_err(hash_failure)?;
    // Re-authentication counts against the account's failed-login limit.
    let reserved = throttle::reserve(ctx, &LOGIN_ACCOUNT, &caller.email).await?;
    let session = transaction(ctx.db(), async |db| {
        let Some(row) = db
            .query_opt(&sql::user_for_update(), &[caller.id.as_str().into()])
            .await?
        else {
            return Err(ApiError::Unauthorized("the token's user no longer exists".into()).into());
        };
        check_current_password(row.opt_text("password_hash")?, &current)?;
        let issued = session(&key, User::from_row(&row)?)?;
        let (mut session, issued_ms) = (issued.session, issued.issued_ms);
        let row = db
            .query_one(
                &sql::set_password(),
                &[
                    caller.id.as_str().into(),
                    new_hash.as_str().into(),
                    Value::Int(issued_ms),
                ],
            )
            .await?;
        session.user = User::from_row(&row)?;
        // A new sign-in: earlier refresh tokens are stale from now on.
        refresh::attach(db, &mut session, &issued.jti, issued_ms, None).await?;
        ctx.audit("user", &caller.id)
            .detail(json!({ "earlierTokensRevoked": true }))
            .write(db)
            .await?;
        Ok::<_, Failure>(session)
    })
    .await?;
    throttle::release(ctx.db(), &reserved).await?;
    Ok(ctx.ok(&session))
}

#[operation(get, "/api/v1/auth/me", id = "getMe", callers = public,
    tag = "auth",
    summary = "Who the caller is: a user (token or browser session), the operator, an access token, or anonymous",
    description = "Public. With an `Authorization` header the token is checked as on every other \
        route (a bad one is a 401; an access token needs the * or read scope). Without one, the \
        session cookie's user with `session` (a stale cookie reads as anonymous). Without \
        credentials: `{kind: anonymous, authModes}`, the ways to sign in here.",
    responses((status = 200, body = Envelope<Me>), (status = 401, body = ErrorBody)))]
pub(crate) async fn get_me<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    use cp_platform::Principal;
    let principal = if req.header("authorization").is_some() {
        let principal = cp_auth::authenticate(req, ctx.platform).await?;
        // Checked as for any operation users may call in their own area.
        principal.authorize(
            cp_platform::scopes::Access::Read,
            cp_platform::auth::USER_AREA,
            cp_http::Callers::Users,
        )?;
        principal
    } else {
        match cp_auth::session_user(ctx.platform, req).await {
            Ok(Some(user)) => Principal::User(user),
            Ok(None) => Principal::Anonymous,
            Err(f) if f.error.status() == 401 => Principal::Anonymous,
            Err(f) => return Err(f),
        }
    };
    let me = match &principal {
        Principal::User(u) => {
            let Some(row) = ctx
                .db()
                .query_opt(&sql::user_by_id(), &[u.id.as_str().into()])
                .await?
            else {
                return Err(
                    ApiError::Unauthorized("the token's user no longer exists".into()).into(),
                );
            };
            let user = User::from_row(&row)?;
            let session = match &u.via {
                UserVia::Session { session_id } => {
                    crate::session::session_info(ctx.db(), session_id).await?
                }
                _ => None,
            };
            let etag = user.etag();
            return Ok(ctx
                .ok(&Me {
                    kind: "user",
                    access_token_id: None,
                    user: Some(user),
                    session,
                    auth_modes: None,
                })
                .with_etag(etag));
        }
        Principal::AccessToken(t) => Me {
            kind: "accessToken",
            access_token_id: Some(t.id.clone()),
            user: None,
            session: None,
            auth_modes: None,
        },
        // Gateway keys and agents never get here (`Principal::authorize`).
        Principal::Operator | Principal::GatewayKey(_) | Principal::Agent(_) => Me {
            kind: "operator",
            access_token_id: None,
            user: None,
            session: None,
            auth_modes: None,
        },
        Principal::Anonymous => Me {
            kind: "anonymous",
            access_token_id: None,
            user: None,
            session: None,
            auth_modes: Some(crate::session::auth_modes(ctx.platform)),
        },
    };
    Ok(ctx.ok(&me))
}

#[operation(patch, "/api/v1/auth/me", id = "updateMe", callers = users,
    tag = "auth",
    summary = "Change the caller's display name, or ask for another email (users only)",
    description = "`If-Match` with the ETag of GET /auth/me is honoured (stale: 409 CONFLICT). \
        A new `email` needs `currentPassword`; a `currentPassword` is checked whenever it is \
        given (re-authentication; a wrong one is a 400 naming it, and counts as a failed \
        login). The new email does not take effect: it is stored as \
        `pendingEmail` until verified, and nothing (sign-in, invitations, identity-provider \
        linking) uses it before then. Sending the account's own email cancels a pending change. \
        An account without a password (identity-provider sign-in) takes its email from the \
        provider: a 400 naming `currentPassword`.",
    request_body = UpdateMe,
    params(IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<User>), (status = 429, body = ErrorBody)))]
pub(crate) async fn update_me<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let caller = user_of(ctx)?;
    let input = parse_body::<UpdateMe>(req)?.validate()?;
    // Re-authentication counts against the account's failed-login limit.
    let reserved = match &input.current_password {
        Some(_) => Some(throttle::reserve(ctx, &LOGIN_ACCOUNT, &caller.email).await?),
        None => None,
    };
    let user = transaction(ctx.db(), async |db| {
        let Some(row) = db
            .query_opt(&sql::user_for_update(), &[caller.id.as_str().into()])
            .await?
        else {
            return Err(ApiError::Unauthorized("the token's user no longer exists".into()).into());
        };
        cp_http::etag::check_if_match(req, &User::from_row(&row)?.etag())?;
        if let Some(current) = &input.current_password {
            check_current_password(row.opt_text("password_hash")?, current)?;
        }
        let row = db
            .query_one(
                &sql::update_profile(),
                &[
                    caller.id.as_str().into(),
                    input.display_name.clone().into(),
                    input.email.as_deref().into(),
                ],
            )
            .await?;
        let user = User::from_row(&row)?;
        if let (Some(_), Some(pending)) = (&input.email, &user.pending_email) {
            verify::send(ctx, db, &user.id, pending).await?;
        }
        ctx.audit("user", &caller.id)
            .detail(json!({
                "displayName": input.display_name.is_some(),
                "pendingEmail": input.email.is_some(),
            }))
            .write(db)
            .await?;
        Ok::<_, Failure>(user)
    })
    .await?;
    if let Some(r) = &reserved {
        throttle::release(ctx.db(), r).await?;
    }
    let etag = user.etag();
    Ok(ctx.ok(&user).with_etag(etag))
}

#[operation(delete, "/api/v1/auth/me", id = "deleteMe", callers = users,
    tag = "auth",
    summary = "Delete the caller's account and their data (API keys); their tokens stop working",
    description = "Refused with 409 CONFLICT, naming the organisations, while the caller is the \
        only owner of an organisation: make another member owner first. Their memberships go \
        with the account.",
    params(IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete_me<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let caller = user_of(ctx)?;
    transaction(ctx.db(), async |db| {
        // An organisation always keeps an owner: refused (409) while the
        // user is the only owner of one (the owner rows stay locked).
        let sole = cp_orgs::roles::sole_owned_org_ids(db, &caller.id).await?;
        if !sole.is_empty() {
            return Err(ApiError::Conflict(format!(
                "you are the last owner of organisation(s) {}; make another member owner \
                 (PATCH /api/v1/organizations/{{orgId}}/members/{{userId}}) first",
                sole.join(", ")
            ))
            .into());
        }
        let Some(row) = db
            .query_opt(sql::DELETE_USER, &[caller.id.as_str().into()])
            .await?
        else {
            return Err(ApiError::Unauthorized("the token's user no longer exists".into()).into());
        };
        // Revoked jtis of the user stay until they expire (harmless).
        ctx.audit("user", &caller.id)
            .detail(json!({ "email": row.text("email")? }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}

#[operation(get, "/api/v1/auth/api-keys", id = "listApiKeys", callers = users, kind = "api_key",
    tag = "auth",
    summary = "List the caller's personal API keys (never their secrets; keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<ApiKey>)))]
pub(crate) async fn list_api_keys<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let caller = user_of(ctx)?;
    let page = PageRequest::from_request(req, KEYS_SCOPE)?;
    let list = KeysetList {
        scope: KEYS_SCOPE,
        first: &sql::keys_first(),
        after: &sql::keys_after(),
        tie: TieBreak::Id,
    };
    let user = Some(caller.id.as_str().into());
    let (keys, pagination) = keyset_list(ctx.db(), &page, list, user, |k: &ApiKey| {
        vec![json!(k.created_micros), json!(k.id)]
    })
    .await?;
    Ok(ctx.list(&keys, pagination))
}

#[operation(post, "/api/v1/auth/api-keys", id = "createApiKey", callers = users, kind = "api_key", shows_secret,
    tag = "auth",
    summary = "Create a personal API key; its plainTextKey is returned this once and never again",
    description = "The key (`cpk_…`) acts as the user: send it as a bearer token, or exchange it \
        for a JWT at /auth/api-key-token. It is stored as a SHA-256 digest.",
    request_body = ApiKeyCreate,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<CreatedApiKey>)))]
pub(crate) async fn create_api_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let caller = user_of(ctx)?;
    let name = parse_body::<ApiKeyCreate>(req)?.validate()?;
    let secret = cp_crypto::new_token(API_KEY_PREFIX)
        .map_err(|e| Failure::with_cause(ApiError::Internal, format!("generating a key: {e}")))?;
    let id = new_id().to_string();
    let prefix: String = secret.chars().take(SHOWN_KEY_PREFIX_LEN).collect();
    let key = transaction(ctx.db(), async |db| {
        let row = db
            .query_one(
                &sql::insert_key(),
                &[
                    id.as_str().into(),
                    caller.id.as_str().into(),
                    name.as_str().into(),
                    prefix.as_str().into(),
                    cp_crypto::token_hash(&secret).into(),
                ],
            )
            .await?;
        let key = ApiKey::from_row(&row)?;
        ctx.audit("api_key", &id)
            .detail(json!({ "name": key.name, "userId": caller.id }))
            .write(db)
            .await?;
        Ok::<_, Failure>(key)
    })
    .await?;
    Ok(ctx.created(&CreatedApiKey {
        key,
        plain_text_key: secret,
    }))
}

#[operation(delete, "/api/v1/auth/api-keys/{id}", id = "deleteApiKey", callers = users, kind = "api_key",
    tag = "auth",
    summary = "Revoke one of the caller's API keys (it stops working at once); another user's key is 404",
    params(TokenIdPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Revoked")))]
pub(crate) async fn delete_api_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let caller = user_of(ctx)?;
    let id = path_id(params, "id")?.to_string();
    transaction(ctx.db(), async |db| {
        let Some(row) = db
            .query_opt(
                sql::DELETE_KEY,
                &[id.as_str().into(), caller.id.as_str().into()],
            )
            .await?
        else {
            return Err(ApiError::not_found("API_KEY", &id).into());
        };
        ctx.audit("api_key", &id)
            .detail(json!({ "name": row.text("name")? }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}

#[operation(delete, "/api/v1/auth/api-keys", id = "revokeAllApiKeys", callers = users, kind = "api_key",
    tag = "auth",
    summary = "Revoke every personal API key of the caller at once (they stop working at once)",
    description = "API keys are credentials of their own: a password change leaves them working \
        (it ends every JWT). After a suspected compromise, change the password and call this. \
        Answers how many keys were revoked (0 is fine); one audit entry names them.",
    params(IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<RevokedApiKeys>)))]
pub(crate) async fn revoke_api_keys<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let caller = user_of(ctx)?;
    let revoked = transaction(ctx.db(), async |db| {
        let rows = db
            .query(sql::DELETE_USER_KEYS, &[caller.id.as_str().into()])
            .await?;
        let ids = rows
            .iter()
            .map(|r| r.text("id"))
            .collect::<Result<Vec<_>, DbError>>()?;
        ctx.audit("api_key", "*")
            .detail(json!({ "userId": caller.id, "revoked": ids }))
            .write(db)
            .await?;
        Ok::<_, Failure>(ids.len())
    })
    .await?;
    Ok(ctx.ok(&RevokedApiKeys {
        revoked: i64::try_from(revoked).unwrap_or(i64::MAX),
    }))
}

#[operation(post, "/api/v1/auth/api-key-token", id = "exchangeApiKey", callers = public, shows_secret,
    tag = "auth",
    summary = "Exchange a personal API key for a session JWT of its user (15 minutes)",
    request_body = ApiKeyExchange,
    params(IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Session>), (status = 401, body = ErrorBody)))]
pub(crate) async fn exchange_api_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let api_key = parse_body::<ApiKeyExchange>(req)?.validate()?;
    let key = JwtKey::for_sign_in(ctx.platform)?;
    let digest = cp_crypto::token_hash(&api_key);
    let Some(row) = ctx
        .db()
        .query_opt(&sql::user_by_key(), &[digest.into()])
        .await?
    else {
        return refuse_login(
            ctx,
            None,
            json!({ "reason": "unknown API key" }),
            "invalid or revoked API key",
        )
        .await;
    };
    let user = User::from_row(&row)?;
    ctx.audit("user", &user.id)
        .detail(json!({ "via": "apiKey" }))
        .write(ctx.db())
        .await?;
    // An API key is the long-lived credential here: no refresh token.
    let session = session(&key, user)?.session;
    Ok(ctx.ok(&session))
}
