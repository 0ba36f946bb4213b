//! CLI login: the device authorization grant (RFC 8628).
//!
//! 1. The CLI calls `POST /auth/device` and shows the person the user code
//!    (`XXXX-XXXX`) and `verificationUriComplete`.
//! 2. In a browser, `GET /auth/device/activate?userCode=` (without a session
//!    it first sends the browser through the OIDC login and back) shows the
//!    request with approve and deny buttons: POST forms carrying a CSRF
//!    token derived from the session cookie (a cross-site form cannot know
//!    it; the page also forbids framing, against clickjacking).
//! 3. The CLI polls `GET /auth/device/token?deviceCode=` no faster than
//!    `interval` seconds (429 with `Retry-After` otherwise): 202 while
//!    pending, 200 with a session JWT exactly once after approval, 410 once
//!    denied, expired or collected.
//!
//! The device code is a bearer secret (256 bits): only its digest is
//! stored. The user code has 8 characters of an alphabet without vowels
//! (no words) and without look-alikes (0/O, 1/I/L): 27^8 ≈ 2^38.

use cp_auth::jwt::JwtKey;
use cp_auth::{cookie, session_user, tokens_equal, SESSION_COOKIE};
use cp_http::error::ErrorBody;
use cp_http::PathParams;
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope};
use cp_macros::operation;
use cp_platform::auth::UserPrincipal;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, DbError, FromRow, Value};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::account::{Session, User};
use crate::oidc::{audit_as, random, OidcConfig};
use crate::sql;

/// How long a device code lives.
pub const DEVICE_CODE_TTL_SECS: i64 = 600;
/// Default least seconds between two polls (RFC 8628 §3.2).
pub const DEFAULT_INTERVAL_SECS: i64 = 5;
/// Prefix of device codes.
const DEVICE_CODE_PREFIX: &str = "cpd_";
/// The user code alphabet: no vowels, no 0/O, 1/I/L.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKMNPQRSTVWXZ23456789";
/// Path of the activation page.
const ACTIVATE_PATH: &str = "/api/v1/auth/device/activate";

/// The poll interval: `device_poll_interval_secs` (1-60), else 5.
fn interval<P: Platform>(platform: &P) -> i64 {
    platform
        .variable("device_poll_interval_secs")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|s| (1..=60).contains(s))
        .unwrap_or(DEFAULT_INTERVAL_SECS)
}

/// A new user code, `XXXX-XXXX` (uniform over the alphabet: bytes past the
/// largest multiple of its size are drawn again).
fn new_user_code() -> Result<String, Failure> {
    let n = USER_CODE_ALPHABET.len();
    let limit = 256 - 256 % n;
    let mut chars = Vec::with_capacity(8);
    while chars.len() < 8 {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| {
            Failure::with_cause(ApiError::Internal, format!("random user code: {e}"))
        })?;
        for b in bytes {
            if usize::from(b) < limit && chars.len() < 8 {
                chars.push(USER_CODE_ALPHABET[usize::from(b) % n] as char);
            }
        }
    }
    let code: String = chars.into_iter().collect();
    Ok(format!("{}-{}", &code[..4], &code[4..]))
}

/// A typed user code as stored (`abcd 1234`, `ABCD1234` → `ABCD-1234`), or
/// `None` when it cannot be one.
pub fn normalise_user_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = code.len() == 8 && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    valid.then(|| format!("{}-{}", &code[..4], &code[4..]))
}

fn user_code_param(value: Option<&str>) -> Result<String, ApiError> {
    let value = value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid("userCode", "is required"))?;
    // As long as the documented schema allows (spaces and dashes are free).
    if value.len() > 64 {
        return Err(ApiError::invalid(
            "userCode",
            "must be at most 64 characters",
        ));
    }
    normalise_user_code(value).ok_or_else(|| {
        ApiError::invalid(
            "userCode",
            "must be the 8-character code the CLI shows (XXXX-XXXX)",
        )
    })
}

/// A 410 in the error envelope (the grant is gone for good: start again).
fn gone(request_id: &str, code: &str, message: &str) -> ApiResponse {
    let body = ErrorBody {
        error: message.to_owned(),
        code: code.to_owned(),
        detail: None,
        request_id: request_id.to_owned(),
        field_errors: Vec::new(),
    };
    ApiResponse::json(410, serde_json::to_vec(&body).unwrap_or_default())
}

// --- POST /auth/device ---

/// A new device login.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceAuthorization {
    /// The secret the CLI polls with (`cpd_…`); shown once, stored as a
    /// SHA-256 digest.
    pub device_code: String,
    /// The code the person checks on the activation page (`XXXX-XXXX`).
    #[schema(example = "BCDF-2345")]
    pub user_code: String,
    /// The activation page.
    pub verification_uri: String,
    /// The activation page with the user code filled in.
    pub verification_uri_complete: String,
    /// Least seconds between two polls.
    pub interval: i64,
    /// Seconds until the device code expires.
    pub expires_in: i64,
}

/// An (empty) body of `POST /auth/device`: nothing to send.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceStart {}

const PRUNE_GRANTS: &str = "DELETE FROM device_grants WHERE expires_at < now() - interval '1 day'";

/// Stores a grant ($1 id, $2 device code digest, $3 user code, $4 interval,
/// $5 lifetime in seconds).
const INSERT_GRANT: &str =
    "INSERT INTO device_grants (id, device_code_hash, user_code, interval_secs, expires_at)
     VALUES ($1::text::uuid, $2, $3, $4::int8, now() + $5::int8 * interval '1 second')";

#[operation(post, "/api/v1/auth/device", id = "startDeviceLogin", callers = public, kind = "device_grant", shows_secret,
    tag = "auth",
    summary = "Start a CLI login (RFC 8628 device grant): a device code to poll with and a user code to approve in a browser",
    description = "No credentials and no body needed. Show the person `userCode` and \
        `verificationUriComplete`; poll GET /auth/device/token every `interval` seconds until \
        it answers 200 (or 410). The device code lives 10 minutes. Needs OIDC configured (503 \
        otherwise): approving signs in through the identity provider. A body, if any, must be \
        `{}`. Starts are limited per source address (`device_start_max_per_address` per \
        `device_start_window_secs`, default 30 per 10 minutes): over it, 429 RATE_LIMITED with \
        `Retry-After`.",
    params(cp_http::params::IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<DeviceAuthorization>), (status = 429, body = ErrorBody)))]
pub(crate) async fn start<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    if req.body.iter().any(|b| !b.is_ascii_whitespace()) {
        cp_http::json::parse_body::<DeviceStart>(req)?;
    }
    let cfg = OidcConfig::require(ctx.platform)?;
    cfg.browser()?;
    crate::throttle::reserve(
        ctx,
        &crate::throttle::DEVICE_START,
        &crate::throttle::client_address(req),
    )
    .await?;
    let origin = cfg.public_origin().unwrap_or_default().to_owned();
    let interval = interval(ctx.platform);
    let device_code = random(DEVICE_CODE_PREFIX)?;
    let id = cp_http::ids::new_id().to_string();
    // A user code collision (one in 2^38 per live grant) is retried.
    let mut attempts = 0;
    let user_code = loop {
        let user_code = new_user_code()?;
        let stored = transaction(ctx.db(), async |db| {
            db.execute(PRUNE_GRANTS, &[]).await?;
            db.execute(
                INSERT_GRANT,
                &[
                    id.as_str().into(),
                    cp_crypto::token_hash(&device_code).into(),
                    user_code.as_str().into(),
                    Value::Int(interval),
                    Value::Int(DEVICE_CODE_TTL_SECS),
                ],
            )
            .await?;
            ctx.audit("device_grant", &id)
                .detail(json!({ "expiresIn": DEVICE_CODE_TTL_SECS }))
                .write(db)
                .await?;
            Ok::<_, DbError>(())
        })
        .await;
        match stored {
            Ok(()) => break user_code,
            Err(DbError::UniqueViolation { .. }) if attempts < 3 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let verification_uri = format!("{origin}{ACTIVATE_PATH}");
    Ok(ctx.created(&DeviceAuthorization {
        device_code,
        verification_uri_complete: format!("{verification_uri}?userCode={user_code}"),
        user_code,
        verification_uri,
        interval,
        expires_in: DEVICE_CODE_TTL_SECS,
    }))
}

// --- the activation page ---

/// `userCode` of the activation page.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivateParams {
    /// The code the CLI shows (`XXXX-XXXX`; case, spaces and the dash do not
    /// matter). Without it the page asks for it.
    #[param(
        rename = "userCode",
        pattern = "^[ -]*([BCDFGHJKMNPQRSTVWXZbcdfghjkmnpqrstvwxz2-9][ -]*){8}$",
        max_length = 64
    )]
    pub user_code: Option<String>,
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// An HTML page that may not be framed (clickjacking) nor run scripts.
fn page(status: u16, title: &str, body: &str) -> ApiResponse {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    ApiResponse::text(status, "text/html; charset=utf-8", html)
        .with_header("cache-control", "no-store")
        .with_header("x-frame-options", "DENY")
        .with_header(
            "content-security-policy",
            "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
        )
}

/// The CSRF token of a session: a digest of its cookie (which a page of
/// another site can neither read nor compute it from).
fn csrf_token(session_cookie: &str) -> String {
    cp_crypto::token_hash(&format!("device-csrf:{session_cookie}"))
}

/// The signed-in user of a browser request, or `None` (no or stale cookie).
async fn browser_user<P: Platform>(
    platform: &P,
    req: &ApiRequest,
) -> Result<Option<UserPrincipal>, Failure> {
    match session_user(platform, req).await {
        Ok(user) => Ok(user),
        Err(f) if f.error.status() == 401 => Ok(None),
        Err(f) => Err(f),
    }
}

/// A grant by user code, locked; `live` is false once expired.
const GRANT_BY_USER_CODE: &str = concat!(
    "SELECT id::text AS id, status, expires_at > now() AS live, ",
    cp_store::epoch_micros!("created_at"),
    " AS created_micros
    FROM device_grants WHERE user_code = $1 FOR UPDATE"
);

/// Why a grant cannot be decided: as an error or a 410 response.
fn undecidable(ctx_request_id: &str, status: &str, live: bool) -> Result<ApiResponse, Failure> {
    if status != "pending" {
        return Err(ApiError::Conflict(format!(
            "this device login was already {}",
            if status == "denied" {
                "denied"
            } else {
                "approved"
            }
        ))
        .into());
    }
    debug_assert!(!live);
    Ok(gone(
        ctx_request_id,
        "DEVICE_CODE_EXPIRED",
        "this device login expired; start a new one in the CLI",
    ))
}

#[operation(get, "/api/v1/auth/device/activate", id = "activateDeviceLogin", callers = public, kind = "device_grant",
    tag = "auth",
    summary = "The browser page approving a CLI login (HTML); without a session it signs in first",
    description = "Without a session: 303 to /auth/login, which returns here. With one: the \
        device login of `userCode` with approve and deny buttons (POST forms with a CSRF token), \
        or a form asking for the code when none is given. A malformed code is a 400 (before the \
        sign-in), an unknown one a 404, 410 once expired, 409 once decided.",
    params(ActivateParams),
    responses((status = 200, description = "The page", content_type = "text/html", body = String),
              (status = 303, description = "To /auth/login, returning here",
            headers(("location" = String, description = "The login"))),
              (status = 409, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub(crate) async fn activate<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    OidcConfig::require(ctx.platform)?.browser()?;
    // A code, when given, is checked first: a malformed one is a 400 even
    // before signing in.
    let given = req
        .query_param("userCode")
        .map(|code| user_code_param(Some(&code)))
        .transpose()?;
    let Some(user) = browser_user(ctx.platform, req).await? else {
        let here = match &given {
            Some(code) => format!("{ACTIVATE_PATH}?userCode={code}"),
            None => ACTIVATE_PATH.to_owned(),
        };
        let login = format!(
            "/api/v1/auth/login?returnTo={}",
            cp_http::request::percent_encode(&here)
        );
        return Ok(ApiResponse::empty(303)
            .with_header("location", login)
            .with_header("cache-control", "no-store"));
    };
    let Some(user_code) = given else {
        return Ok(page(
            200,
            "Sign in a device",
            &format!(
                "<p>Enter the code your terminal shows.</p>\
                 <form method=\"get\" action=\"{ACTIVATE_PATH}\">\
                 <input name=\"userCode\" placeholder=\"XXXX-XXXX\" autofocus required>\
                 <button type=\"submit\">Continue</button></form>"
            ),
        ));
    };
    let row = ctx
        .db()
        .query_opt(GRANT_BY_USER_CODE, &[user_code.as_str().into()])
        .await?
        .ok_or_else(|| ApiError::not_found("USER_CODE", &user_code))?;
    let status = row.text("status")?;
    let live = row.bool("live")?;
    if status != "pending" || !live {
        return undecidable(&ctx.request_id, &status, live);
    }
    let csrf = csrf_token(cookie(req, SESSION_COOKIE).unwrap_or_default());
    let form = |action: &str, label: &str| {
        format!(
            "<form method=\"post\" action=\"/api/v1/auth/device/{action}\">\
             <input type=\"hidden\" name=\"userCode\" value=\"{code}\">\
             <input type=\"hidden\" name=\"csrfToken\" value=\"{csrf}\">\
             <button type=\"submit\">{label}</button></form>",
            code = escape(&user_code),
        )
    };
    Ok(page(
        200,
        "Sign in a device",
        &format!(
            "<p>A device asks to sign in as <strong>{email}</strong>.</p>\
             <p>Code: <strong>{code}</strong>. Approve only if your terminal shows this code.</p>\
             {approve}{deny}",
            email = escape(&user.email),
            code = escape(&user_code),
            approve = form("approve", "Approve"),
            deny = form("deny", "Deny"),
        ),
    ))
}

// --- approve / deny ---

/// The form the activation page posts.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceDecision {
    /// The user code.
    #[schema(
        required = true,
        nullable = false,
        example = "BCDF-2345",
        max_length = 64,
        pattern = "^[ -]*([BCDFGHJKMNPQRSTVWXZbcdfghjkmnpqrstvwxz2-9][ -]*){8}$"
    )]
    pub user_code: Option<String>,
    /// The page's CSRF token.
    #[schema(required = true, nullable = false)]
    pub csrf_token: Option<String>,
}

/// The fields of an `application/x-www-form-urlencoded` body.
fn form_fields(req: &ApiRequest) -> Result<DeviceDecision, ApiError> {
    let content_type = req.header("content-type").unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    {
        return Err(ApiError::UnsupportedMediaType(
            "expected Content-Type: application/x-www-form-urlencoded (the activation page's form)"
                .into(),
        ));
    }
    let mut decision = DeviceDecision::default();
    for (k, v) in cp_http::request::form_pairs(&req.body) {
        match k.as_str() {
            "userCode" => decision.user_code = Some(v),
            "csrfToken" => decision.csrf_token = Some(v),
            other => return Err(ApiError::invalid(other, "unknown field")),
        }
    }
    Ok(decision)
}

const DECIDE: &str = "UPDATE device_grants SET status = $2, user_id = $3::text::uuid,
        decided_at = now()
    WHERE id = $1::text::uuid";

async fn decide<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    approve: bool,
) -> Result<ApiResponse, Failure> {
    let form = form_fields(req)?;
    let Some(user) = session_user(ctx.platform, req).await? else {
        return Err(ApiError::Unauthorized(
            "approving a device needs a browser session; open the activation page again".into(),
        )
        .into());
    };
    let expected = csrf_token(cookie(req, SESSION_COOKIE).unwrap_or_default());
    let given = form.csrf_token.unwrap_or_default();
    if given.is_empty() || !tokens_equal(&given, &expected) {
        return Err(ApiError::Forbidden(
            "the form's CSRF token does not match this session; open the activation page again"
                .into(),
        )
        .into());
    }
    let user_code = user_code_param(form.user_code.as_deref())?;
    let (status, verb) = if approve {
        ("approved", "approved")
    } else {
        ("denied", "denied")
    };
    transaction(ctx.db(), async |db| {
        let row = db
            .query_opt(GRANT_BY_USER_CODE, &[user_code.as_str().into()])
            .await?
            .ok_or_else(|| ApiError::not_found("USER_CODE", &user_code))?;
        let current = row.text("status")?;
        let live = row.bool("live")?;
        if current != "pending" || !live {
            return undecidable(&ctx.request_id, &current, live);
        }
        let id = row.text("id")?;
        let owner: Option<&str> = approve.then_some(user.id.as_str());
        db.execute(DECIDE, &[id.as_str().into(), status.into(), owner.into()])
            .await?;
        audit_as(ctx, &user.id, "device_grant", &id)
            .detail(json!({ "decision": status }))
            .write(db)
            .await?;
        let message = if approve {
            "The device is signed in. You can close this page and return to your terminal."
        } else {
            "The device login was denied. Nothing was signed in."
        };
        Ok::<_, Failure>(page(
            200,
            &format!("Device login {verb}"),
            &format!("<p>{message}</p>"),
        ))
    })
    .await
}

#[operation(post, "/api/v1/auth/device/approve", id = "approveDeviceLogin", callers = public, kind = "device_grant",
    tag = "auth",
    summary = "Approve a device login as the signed-in user (the activation page's form; HTML answer)",
    description = "Needs the session cookie (401) and the page's CSRF token (403). The next \
        poll of the device code gets a session JWT of this user.",
    request_body(content = DeviceDecision, content_type = "application/x-www-form-urlencoded"),
    params(cp_http::params::IdempotencyKeyHeader),
    responses((status = 200, description = "Approved", content_type = "text/html", body = String),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub(crate) async fn approve<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    decide(ctx, req, true).await
}

#[operation(post, "/api/v1/auth/device/deny", id = "denyDeviceLogin", callers = public, kind = "device_grant",
    tag = "auth",
    summary = "Deny a device login (the activation page's form; HTML answer)",
    description = "Needs the session cookie (401) and the page's CSRF token (403). The next \
        poll of the device code gets 410.",
    request_body(content = DeviceDecision, content_type = "application/x-www-form-urlencoded"),
    params(cp_http::params::IdempotencyKeyHeader),
    responses((status = 200, description = "Denied", content_type = "text/html", body = String),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub(crate) async fn deny<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    decide(ctx, req, false).await
}

// --- polling ---

/// `deviceCode` of the poll.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PollParams {
    /// The device code `POST /auth/device` answered.
    #[param(rename = "deviceCode", required = true, min_length = 1)]
    pub device_code: Option<String>,
}

/// A poll before approval.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DevicePending {
    /// Always `authorization_pending`.
    #[schema(example = "authorization_pending")]
    pub status: &'static str,
    /// Least seconds before the next poll.
    pub interval: i64,
}

/// A grant by device code digest, locked, with how long the caller must
/// still wait before polling (0 when it may).
const GRANT_FOR_POLL: &str = "SELECT id::text AS id, status, user_id::text AS user_id,
        interval_secs::int8 AS interval_secs, expires_at > now() AS live,
        COALESCE(ceil(extract(epoch FROM
            last_polled_at + interval_secs * interval '1 second' - now()))::int8, 0) AS wait_secs
    FROM device_grants WHERE device_code_hash = $1 FOR UPDATE";

const TOUCH_POLL: &str =
    "UPDATE device_grants SET last_polled_at = now() WHERE id = $1::text::uuid";

const COLLECT: &str = "UPDATE device_grants SET status = 'collected' WHERE id = $1::text::uuid";

#[operation(get, "/api/v1/auth/device/token", id = "pollDeviceLogin", callers = public, kind = "device_grant",
    tag = "auth",
    summary = "Poll a device login: 202 pending, 200 with a session JWT exactly once, 410 expired, denied or collected",
    description = "Poll no faster than `interval` seconds: a faster poll is a 429 RATE_LIMITED \
        with `Retry-After` (RFC 8628 slow_down) and does not count as a poll. The 410's code \
        says why: DEVICE_CODE_EXPIRED, DEVICE_CODE_DENIED or DEVICE_CODE_USED (the token was \
        already collected).",
    params(PollParams),
    responses((status = 200, body = Envelope<Session>),
              (status = 202, body = Envelope<DevicePending>), (status = 401, body = ErrorBody),
              (status = 410, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn poll<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let device_code = req
        .query_param("deviceCode")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::invalid("deviceCode", "is required"))?;
    let digest = cp_crypto::token_hash(&device_code);
    transaction(ctx.db(), async |db| {
        let Some(row) = db.query_opt(GRANT_FOR_POLL, &[digest.into()]).await? else {
            // The device code is the poller's credential.
            return Err(ApiError::Unauthorized(
                "unknown device code; start a device login at POST /api/v1/auth/device".into(),
            )
            .into());
        };
        let status = row.text("status")?;
        match status.as_str() {
            "collected" => {
                return Ok(gone(
                    &ctx.request_id,
                    "DEVICE_CODE_USED",
                    "this device login's token was already issued; start a new device login",
                ))
            }
            "denied" => {
                return Ok(gone(
                    &ctx.request_id,
                    "DEVICE_CODE_DENIED",
                    "the device login was denied",
                ))
            }
            _ => {}
        }
        if !row.bool("live")? {
            return Ok(gone(
                &ctx.request_id,
                "DEVICE_CODE_EXPIRED",
                "the device code expired; start a new device login",
            ));
        }
        let wait = row.i64("wait_secs")?;
        let interval = row.i64("interval_secs")?;
        if wait > 0 {
            return Err(ApiError::RateLimited {
                message: format!(
                    "polled faster than every {interval} s (slow_down); retry after {wait} s"
                ),
                retry_after_secs: u64::try_from(wait).unwrap_or(1),
            }
            .into());
        }
        let id = row.text("id")?;
        db.execute(TOUCH_POLL, &[id.as_str().into()]).await?;
        let Some(user_id) = row.opt_text("user_id")? else {
            return Ok(cp_http::envelope::data_response(
                202,
                &DevicePending {
                    status: "authorization_pending",
                    interval,
                },
                ctx.meta(),
            ));
        };
        let key = JwtKey::for_sign_in(ctx.platform)?;
        let Some(user_row) = db
            .query_opt(&sql::user_by_id(), &[user_id.as_str().into()])
            .await?
        else {
            return Ok(gone(
                &ctx.request_id,
                "DEVICE_CODE_DENIED",
                "the approving user no longer exists",
            ));
        };
        db.execute(COLLECT, &[id.as_str().into()]).await?;
        audit_as(ctx, &user_id, "device_grant", &id)
            .detail(json!({ "collected": true }))
            .write(db)
            .await?;
        let session = crate::refresh::signed_in(db, &key, User::from_row(&user_row)?, None).await?;
        Ok(ctx.ok(&session))
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn user_codes_are_unambiguous_and_normalised() {
        for _ in 0..200 {
            let code = new_user_code().unwrap();
            assert_eq!(code.len(), 9);
            assert_eq!(&code[4..5], "-");
            assert_eq!(normalise_user_code(&code).as_deref(), Some(code.as_str()));
            for c in code.chars().filter(|c| *c != '-') {
                assert!(!"AEIOU01L".contains(c), "{code}");
            }
        }
        assert_eq!(
            normalise_user_code("bcdf 2345").as_deref(),
            Some("BCDF-2345")
        );
        assert_eq!(
            normalise_user_code("BCDF2345").as_deref(),
            Some("BCDF-2345")
        );
        for bad in ["BCDF-234", "ABCD-2345", "BCDF-0345", "BCDF-23456", ""] {
            assert_eq!(normalise_user_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn pages_escape_and_forbid_framing() {
        let page = page(200, "<t>", "<p>x</p>");
        let body = String::from_utf8(page.body.clone()).unwrap();
        assert!(body.contains("&lt;t&gt;"));
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert!(escape("\"<'&>").chars().all(|c| !"\"<'>".contains(c)));
    }
}
