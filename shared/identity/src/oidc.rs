//! OpenID Connect login against the identity provider the Spin variables
//! name: the authorization code flow with PKCE (S256), `state` and `nonce`
//! (`/auth/login` → provider → `/auth/callback` → session cookie), and the
//! exchange of a provider ID token for an API JWT (`/auth/oidc-token`).
//!
//! Variables: `oidc_issuer` (exactly the provider's `iss`), `oidc_client_id`,
//! `oidc_client_secret` and `oidc_redirect_uri` (this server's
//! `/api/v1/auth/callback` as registered at the provider; its origin is
//! also the public base URL of the device flow), `oidc_extra_audiences`
//! (comma-separated client ids of first-party apps whose ID tokens
//! `/auth/oidc-token` also accepts). The component's allow-list needs the
//! provider's origin (`oidc_allowed_host`).
//!
//! The discovery document and the JWKS are fetched over outbound HTTP and
//! cached in PostgreSQL (components keep nothing between requests) for an
//! hour; a token naming an unknown key refetches the JWKS at most once a
//! minute (rotation, without letting random `kid`s hammer the provider).
//! ID tokens are verified with `jwt-simple` (RS256 and ES256): signature
//! against the JWKS key of its `kid`, `iss`, `aud`, `exp` (5 s tolerance)
//! and, in the browser flow, the `nonce` of the login attempt.
//!
//! Users are found by the provider's `(iss, sub)`, else linked to the
//! account with that email when the account's email is verified, else
//! created without a password (email verified). An account whose email is
//! unverified (a password signup) is never linked by email: anyone can sign
//! up with any address, so the sign-in is refused (409
//! `ACCOUNT_EMAIL_UNVERIFIED`) unless the caller proves control of the
//! account by sending the ID token to `/auth/oidc-token` signed in to it.
//! An email the provider has not verified is refused: the session's email
//! is what pod tokens trust. ID tokens are exchanged at `/auth/oidc-token`
//! once (by `jti`, else digest), and `azp` is checked. The provider is the
//! authenticator here: the local TOTP second factor is not asked for.

use cp_http::PathParams;
use std::collections::HashSet;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use cp_auth::jwt::JwtKey;
use cp_http::error::ErrorBody;
use cp_http::json::parse_body;
use cp_http::outbound::{HttpTransport, OutboundRequest, TransportError};
use cp_http::request::percent_encode;
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope};
use cp_macros::operation;
use cp_platform::audit::AuditEntry;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, FromRow, Value};
use jwt_simple::prelude::{
    ECDSAP256PublicKeyLike, ES256PublicKey, JWTClaims, RS256PublicKey, RSAPublicKeyLike, Token,
    VerificationOptions,
};
use jwt_simple::JWTError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::account::{normalise_email, Session, User};
use crate::session::{self, SESSION_TTL_SECS};
use crate::sql;

/// The cookie binding a login attempt to the browser that started it.
pub const LOGIN_COOKIE: &str = "cp_login";
/// How long a login attempt may take (provider sign-in included).
const ATTEMPT_TTL_SECS: i64 = 600;
/// How long the discovery document and JWKS are trusted.
const CACHE_TTL_SECS: i64 = 3600;
/// Least time between two JWKS fetches for unknown keys.
const JWKS_REFRESH_MIN_SECS: i64 = 60;
/// Upper bound of one call to the provider.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Clock skew tolerated on `exp`/`iat`/`nbf`.
const TOLERANCE_SECS: u64 = 5;
/// Longest ID token accepted.
const MAX_ID_TOKEN: usize = 16 * 1024;
/// What the login asks the provider for.
const SCOPE: &str = "openid email profile";
/// Where the callback sends the browser when the login named no `returnTo`.
const DEFAULT_RETURN_TO: &str = "/api/v1/auth/me";

/// The identity provider settings, from the component's variables.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The provider's issuer, exactly as its tokens' `iss`.
    pub issuer: String,
    /// This control plane's client id (the `aud` of its ID tokens).
    pub client_id: String,
    client_secret: Option<String>,
    redirect_uri: Option<String>,
    extra_audiences: Vec<String>,
}

/// What the browser flow needs on top of the issuer and client id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BrowserClient<'a> {
    secret: &'a str,
    redirect_uri: &'a str,
}

impl OidcConfig {
    /// The settings, or `None` when the issuer or client id is unset.
    pub fn load<P: Platform>(platform: &P) -> Option<Self> {
        let issuer = platform.variable("oidc_issuer")?.trim().to_owned();
        let client_id = platform.variable("oidc_client_id")?.trim().to_owned();
        if issuer.is_empty() || client_id.is_empty() {
            return None;
        }
        let extra_audiences = platform
            .variable("oidc_extra_audiences")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        Some(Self {
            issuer,
            client_id,
            client_secret: platform.variable("oidc_client_secret"),
            redirect_uri: platform
                .variable("oidc_redirect_uri")
                .map(|u| u.trim().to_owned()),
            extra_audiences,
        })
    }

    /// The settings, or a 503 naming the variables.
    pub(crate) fn require<P: Platform>(platform: &P) -> Result<Self, Failure> {
        Self::load(platform).ok_or_else(|| {
            ApiError::Unavailable(
                "OIDC login is not configured: set the oidc_issuer and oidc_client_id variables"
                    .into(),
            )
            .into()
        })
    }

    /// The confidential client of the browser flow, or a 503 naming what
    /// is missing.
    pub(crate) fn browser(&self) -> Result<BrowserClient<'_>, Failure> {
        match (&self.client_secret, &self.redirect_uri) {
            (Some(secret), Some(redirect_uri)) if redirect_uri.contains("://") => {
                Ok(BrowserClient {
                    secret,
                    redirect_uri,
                })
            }
            _ => Err(ApiError::Unavailable(
                "OIDC browser login is not configured: set the oidc_client_secret and \
                 oidc_redirect_uri variables"
                    .into(),
            )
            .into()),
        }
    }

    /// The audiences `/auth/oidc-token` accepts.
    fn audiences(&self) -> HashSet<String> {
        let mut set: HashSet<String> = self.extra_audiences.iter().cloned().collect();
        set.insert(self.client_id.clone());
        set
    }

    /// This server's public origin (`scheme://host[:port]`), from the
    /// redirect URI registered at the provider.
    pub(crate) fn public_origin(&self) -> Option<&str> {
        let uri = self.redirect_uri.as_deref()?;
        let start = uri.find("://")? + 3;
        let end = uri[start..].find('/').map_or(uri.len(), |i| start + i);
        Some(&uri[..end])
    }
}

/// A random secret (256 bits, base64url) with a prefix.
pub(crate) fn random(prefix: &str) -> Result<String, Failure> {
    cp_crypto::new_token(prefix).map_err(|e| {
        Failure::with_cause(
            ApiError::Internal,
            format!("generating a random value: {e}"),
        )
    })
}

/// An audit entry of this request whose actor is `user_id` (on public
/// routes the pipeline's principal is anonymous; the handler knows better).
pub(crate) fn audit_as<P: Platform>(
    ctx: &RequestContext<'_, P>,
    user_id: &str,
    kind: &str,
    name: &str,
) -> AuditEntry {
    ctx.audit(kind, name).actor(format!("user:{user_id}"))
}

/// The PKCE S256 challenge of a verifier (RFC 7636).
fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

// --- the provider's metadata ---

/// The endpoints and keys of the provider.
#[derive(Debug, Clone)]
pub(crate) struct ProviderMeta {
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    jwks: Json,
    jwks_age_secs: i64,
}

const CACHE_LOOKUP: &str = "SELECT discovery, jwks,
        extract(epoch FROM now() - fetched_at)::int8 AS age_secs,
        extract(epoch FROM now() - jwks_fetched_at)::int8 AS jwks_age_secs
    FROM oidc_provider_cache WHERE issuer = $1";

const CACHE_STORE: &str = "INSERT INTO oidc_provider_cache (issuer, discovery, jwks)
    VALUES ($1, $2, $3)
    ON CONFLICT (issuer) DO UPDATE SET discovery = EXCLUDED.discovery, jwks = EXCLUDED.jwks,
        fetched_at = now(), jwks_fetched_at = now()";

const JWKS_STORE: &str =
    "UPDATE oidc_provider_cache SET jwks = $2, jwks_fetched_at = now() WHERE issuer = $1";

fn upstream(message: &str, cause: impl Into<String>) -> Failure {
    Failure::with_cause(ApiError::Upstream(message.to_owned()), cause)
}

fn outbound(method: &'static str, url: &str) -> OutboundRequest {
    OutboundRequest {
        method,
        url: url.to_owned(),
        headers: vec![("accept".into(), "application/json".into())],
        body: Vec::new(),
        timeout: PROVIDER_TIMEOUT,
    }
}

/// Sends a request to the provider: its status and JSON body (`Null` when
/// the body is not JSON).
async fn send<P: Platform>(platform: &P, req: OutboundRequest) -> Result<(u16, Json), Failure> {
    let resp = platform.http().send(req).await.map_err(|e| {
        let message = match e {
            TransportError::Timeout => "the identity provider timed out",
            TransportError::Denied(_) => {
                "the identity provider is not reachable from here (oidc_allowed_host)"
            }
            TransportError::Connect(_) => "the identity provider is unreachable",
        };
        upstream(message, format!("OIDC provider call: {e}"))
    })?;
    Ok((
        resp.status,
        serde_json::from_slice(&resp.body).unwrap_or(Json::Null),
    ))
}

fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// The metadata from a discovery document and JWKS (`None` when malformed).
fn meta_from(discovery: &Json, jwks: Json, jwks_age_secs: i64) -> Option<ProviderMeta> {
    let text = |k: &str| discovery.get(k).and_then(Json::as_str).map(str::to_owned);
    let url_ok = |u: &String| u.starts_with("https://") || u.starts_with("http://");
    let meta = ProviderMeta {
        authorization_endpoint: text("authorization_endpoint").filter(url_ok)?,
        token_endpoint: text("token_endpoint").filter(url_ok)?,
        jwks_uri: text("jwks_uri").filter(url_ok)?,
        jwks,
        jwks_age_secs,
    };
    meta.jwks.get("keys")?.as_array()?;
    Some(meta)
}

async fn fetch_jwks<P: Platform>(platform: &P, uri: &str) -> Result<Json, Failure> {
    let (status, jwks) = send(platform, outbound("GET", uri)).await?;
    if status != 200 || !jwks.get("keys").is_some_and(Json::is_array) {
        return Err(upstream(
            "the identity provider's JWKS could not be read",
            format!("GET {uri} answered {status} without a key set"),
        ));
    }
    Ok(jwks)
}

/// The provider's metadata: cached, or fetched (and cached) when missing
/// or older than an hour.
pub(crate) async fn provider<P: Platform>(
    ctx: &RequestContext<'_, P>,
    cfg: &OidcConfig,
) -> Result<ProviderMeta, Failure> {
    let cached = ctx
        .db()
        .query_opt(CACHE_LOOKUP, &[cfg.issuer.as_str().into()])
        .await?;
    if let Some(row) = cached {
        if row.i64("age_secs")? < CACHE_TTL_SECS {
            if let Some(meta) = meta_from(
                &row.json("discovery")?,
                row.json("jwks")?,
                row.i64("jwks_age_secs")?,
            ) {
                return Ok(meta);
            }
        }
    }
    let url = discovery_url(&cfg.issuer);
    let (status, discovery) = send(ctx.platform, outbound("GET", &url)).await?;
    if status != 200 {
        return Err(upstream(
            "the identity provider's discovery document could not be read",
            format!("GET {url} answered {status}"),
        ));
    }
    // OpenID Connect Discovery 1.0 §4.3: the document must name exactly
    // the issuer it was fetched for.
    if discovery.get("issuer").and_then(Json::as_str) != Some(cfg.issuer.as_str()) {
        return Err(upstream(
            "the identity provider's discovery document names another issuer than oidc_issuer",
            format!("{url} names issuer {:?}", discovery.get("issuer")),
        ));
    }
    let jwks_uri = discovery
        .get("jwks_uri")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    let jwks = fetch_jwks(ctx.platform, &jwks_uri).await?;
    let meta = meta_from(&discovery, jwks.clone(), 0).ok_or_else(|| {
        upstream(
            "the identity provider's discovery document lacks its endpoints",
            format!("{url} lacks authorization_endpoint, token_endpoint or jwks_uri"),
        )
    })?;
    ctx.db()
        .execute(
            CACHE_STORE,
            &[
                cfg.issuer.as_str().into(),
                Value::Json(discovery),
                Value::Json(jwks),
            ],
        )
        .await?;
    Ok(meta)
}

// --- ID tokens ---

/// A verified ID token's person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The issuer (`iss`).
    pub issuer: String,
    /// The provider's id of the person (`sub`).
    pub subject: String,
    /// Their email, normalised (lowercase).
    pub email: String,
    /// Whether the provider verified the email.
    pub email_verified: bool,
    /// Their name, if given.
    pub name: Option<String>,
    /// The token's `jti`, if it has one.
    pub jti: Option<String>,
    /// When the token expires (Unix seconds).
    pub expires_at_secs: i64,
}

/// Why an ID token was refused. Every case is a 401 saying which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Not a JWT.
    #[error("the ID token is not a valid JWT")]
    Malformed,
    /// Signed with another algorithm than RS256 or ES256.
    #[error("the ID token is signed with {0}; only RS256 and ES256 are accepted")]
    UnsupportedAlgorithm(String),
    /// No published key matches its `kid` and algorithm.
    #[error("the ID token is signed with a key the identity provider does not publish")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the ID token's signature does not verify")]
    InvalidSignature,
    /// Past its `exp`.
    #[error("the ID token has expired")]
    Expired,
    /// Issued in the future (`iat`/`nbf`).
    #[error("the ID token is not valid yet")]
    NotYetValid,
    /// Another `iss`.
    #[error("the ID token was issued by another identity provider")]
    WrongIssuer,
    /// Another `aud`.
    #[error("the ID token was issued for another client (audience)")]
    WrongAudience,
    /// Several audiences without an accepted `azp`, or an `azp` naming
    /// another client (OpenID Connect Core 1.0 §3.1.3.7).
    #[error("the ID token's authorized party (azp) is missing or is not a client accepted here")]
    WrongAuthorizedParty,
    /// Another (or no) `nonce` than the login attempt's.
    #[error("the ID token's nonce does not match this login")]
    WrongNonce,
    /// A required claim is missing.
    #[error("the ID token has no {0} claim")]
    MissingClaim(&'static str),
}

impl From<IdTokenError> for Failure {
    fn from(e: IdTokenError) -> Self {
        ApiError::Unauthorized(e.to_string()).into()
    }
}

/// The claims read beyond the registered ones.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ProviderClaims {
    #[serde(default)]
    email: Option<String>,
    /// A boolean, or (some providers) the string `"true"`.
    #[serde(default)]
    email_verified: Option<Json>,
    #[serde(default)]
    name: Option<String>,
    /// The authorized party: the client the token was issued to.
    #[serde(default)]
    azp: Option<String>,
}

/// The published key a token names: by `kid` when it has one (else the only
/// key of its type), of the token's key type, for signatures.
fn find_key(jwks: &Json, alg: &str, kid: Option<&str>) -> Option<String> {
    let kty = if alg == "RS256" { "RSA" } else { "EC" };
    let candidates: Vec<&Json> = jwks
        .get("keys")?
        .as_array()?
        .iter()
        .filter(|k| k.get("kty").and_then(Json::as_str) == Some(kty))
        .filter(|k| k.get("alg").and_then(Json::as_str).is_none_or(|a| a == alg))
        .filter(|k| {
            k.get("use")
                .and_then(Json::as_str)
                .is_none_or(|u| u == "sig")
        })
        .filter(|k| kid.is_none_or(|kid| k.get("kid").and_then(Json::as_str) == Some(kid)))
        .collect();
    match candidates.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    }
}

fn jwt_error(e: &jwt_simple::Error) -> IdTokenError {
    match e.downcast_ref::<JWTError>() {
        Some(JWTError::TokenHasExpired) => IdTokenError::Expired,
        Some(JWTError::TokenNotValidYet | JWTError::ClockDrift) => IdTokenError::NotYetValid,
        Some(JWTError::RequiredIssuerMismatch | JWTError::RequiredIssuerMissing) => {
            IdTokenError::WrongIssuer
        }
        Some(JWTError::RequiredAudienceMismatch | JWTError::RequiredAudienceMissing) => {
            IdTokenError::WrongAudience
        }
        Some(JWTError::RequiredNonceMismatch | JWTError::RequiredNonceMissing) => {
            IdTokenError::WrongNonce
        }
        Some(JWTError::InvalidSignature) => IdTokenError::InvalidSignature,
        _ => IdTokenError::Malformed,
    }
}

/// Verifies an ID token against a JWKS: signature, `iss`, `aud` (one of
/// `audiences`), `exp`, and `nonce` when one is expected.
pub fn verify_id_token(
    token: &str,
    jwks: &Json,
    issuer: &str,
    audiences: &HashSet<String>,
    nonce: Option<&str>,
) -> Result<VerifiedIdentity, IdTokenError> {
    if token.len() > MAX_ID_TOKEN || !cp_auth::jwt::is_jwt_shaped(token) {
        return Err(IdTokenError::Malformed);
    }
    let metadata = Token::decode_metadata(token).map_err(|_| IdTokenError::Malformed)?;
    let alg = metadata.algorithm();
    if alg != "RS256" && alg != "ES256" {
        return Err(IdTokenError::UnsupportedAlgorithm(alg.to_owned()));
    }
    let jwk = find_key(jwks, alg, metadata.key_id()).ok_or(IdTokenError::UnknownKey)?;
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from([issuer.to_owned()])),
        allowed_audiences: Some(audiences.clone()),
        required_nonce: nonce.map(str::to_owned),
        time_tolerance: Some(jwt_simple::prelude::Duration::from_secs(TOLERANCE_SECS)),
        max_token_length: Some(MAX_ID_TOKEN),
        ..VerificationOptions::default()
    };
    let claims: JWTClaims<ProviderClaims> = if alg == "RS256" {
        RS256PublicKey::from_jwk(&jwk)
            .map_err(|_| IdTokenError::UnknownKey)?
            .verify_token(token, Some(options))
    } else {
        ES256PublicKey::from_jwk(&jwk)
            .map_err(|_| IdTokenError::UnknownKey)?
            .verify_token(token, Some(options))
    }
    .map_err(|e| jwt_error(&e))?;
    let Some(expires_at) = claims.expires_at else {
        return Err(IdTokenError::MissingClaim("exp"));
    };
    // With several audiences the token must name the client it was issued
    // to (`azp`), and an `azp` must be a client accepted here.
    let several = claims
        .audiences
        .as_ref()
        .is_some_and(|a| a.clone().into_set().len() > 1);
    match &claims.custom.azp {
        Some(azp) if !audiences.contains(azp) => return Err(IdTokenError::WrongAuthorizedParty),
        None if several => return Err(IdTokenError::WrongAuthorizedParty),
        _ => {}
    }
    let subject = claims
        .subject
        .filter(|s| !s.is_empty())
        .ok_or(IdTokenError::MissingClaim("sub"))?;
    let email = claims
        .custom
        .email
        .as_deref()
        .map(normalise_email)
        .filter(|e| e.contains('@') && e.len() <= crate::account::MAX_EMAIL)
        .ok_or(IdTokenError::MissingClaim("email"))?;
    let email_verified = match &claims.custom.email_verified {
        Some(Json::Bool(b)) => *b,
        Some(Json::String(s)) => s == "true",
        _ => false,
    };
    // A display name as the profile accepts one: no control characters,
    // at most 100 characters.
    let name = claims
        .custom
        .name
        .map(|n| {
            n.chars()
                .filter(|c| !c.is_control())
                .take(crate::account::MAX_NAME)
                .collect::<String>()
        })
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    Ok(VerifiedIdentity {
        issuer: issuer.to_owned(),
        subject,
        email,
        email_verified,
        name,
        jti: claims.jwt_id.filter(|j| !j.is_empty()),
        expires_at_secs: i64::try_from(expires_at.as_secs()).unwrap_or(i64::MAX),
    })
}

/// Verifies an ID token of the configured provider; a token naming an
/// unknown key refetches the JWKS first (at most once a minute).
pub(crate) async fn verify_with_provider<P: Platform>(
    ctx: &RequestContext<'_, P>,
    cfg: &OidcConfig,
    meta: &mut ProviderMeta,
    token: &str,
    audiences: &HashSet<String>,
    nonce: Option<&str>,
) -> Result<VerifiedIdentity, Failure> {
    match verify_id_token(token, &meta.jwks, &cfg.issuer, audiences, nonce) {
        Err(IdTokenError::UnknownKey) if meta.jwks_age_secs >= JWKS_REFRESH_MIN_SECS => {
            let jwks = fetch_jwks(ctx.platform, &meta.jwks_uri).await?;
            ctx.db()
                .execute(
                    JWKS_STORE,
                    &[cfg.issuer.as_str().into(), Value::Json(jwks.clone())],
                )
                .await?;
            meta.jwks = jwks;
            meta.jwks_age_secs = 0;
            Ok(verify_id_token(
                token,
                &meta.jwks,
                &cfg.issuer,
                audiences,
                nonce,
            )?)
        }
        other => Ok(other?),
    }
}

/// Refuses an identity whose email the provider has not verified.
fn require_verified(identity: &VerifiedIdentity) -> Result<(), Failure> {
    if identity.email_verified {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "the identity provider has not verified the email {}; verify it there and sign in again",
        identity.email
    ))
    .into())
}

// --- users ---

const IDENTITY_USER: &str = "UPDATE user_identities SET email = $3, last_login_at = now()
    WHERE issuer = $1 AND subject = $2 RETURNING user_id::text AS user_id";

const USER_BY_EMAIL: &str = "SELECT id::text AS id, email_verified_at IS NOT NULL AS verified
    FROM users WHERE email = $1 FOR UPDATE";

/// A user without a password ($1 id, $2 email, $3 display name), whose
/// email the provider verified.
const INSERT_USER: &str = "INSERT INTO users (id, email, display_name, email_verified_at)
    VALUES ($1::text::uuid, $2, $3, now()) ON CONFLICT (email) DO NOTHING RETURNING id::text AS id";

/// The user an identity is linked to ($1 issuer, $2 subject).
const IDENTITY_OWNER: &str =
    "SELECT user_id::text AS user_id FROM user_identities WHERE issuer = $1 AND subject = $2";

/// A user's ($1) email, the user locked for the link.
const USER_EMAIL_FOR_UPDATE: &str = "SELECT email FROM users WHERE id = $1::text::uuid FOR UPDATE";

/// Marks user $1's email verified (the provider vouched for it).
const MARK_VERIFIED: &str =
    "UPDATE users SET email_verified_at = COALESCE(email_verified_at, now()),
        updated_at = now()
    WHERE id = $1::text::uuid";

const LINK_IDENTITY: &str = "INSERT INTO user_identities (issuer, subject, user_id, email)
    VALUES ($1, $2, $3::text::uuid, $4) ON CONFLICT (issuer, subject) DO NOTHING";

/// How a sign-in found its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Linked {
    /// Known by `(iss, sub)`.
    Known,
    /// An existing user with the same verified email, linked now.
    ByEmail,
    /// The signed-in caller's account (same email), linked now: signing in
    /// proved control of the account, the provider the email.
    BySignIn,
    /// A new user.
    Created,
}

impl Linked {
    fn as_str(self) -> &'static str {
        match self {
            Self::Known => "known",
            Self::ByEmail => "linkedByEmail",
            Self::BySignIn => "linkedBySignIn",
            Self::Created => "created",
        }
    }
}

/// The user of a verified identity, in the caller's transaction.
pub(crate) async fn link_user<D: Database>(
    db: &D,
    identity: &VerifiedIdentity,
) -> Result<(String, Linked), Failure> {
    let known = db
        .query_opt(
            IDENTITY_USER,
            &[
                identity.issuer.as_str().into(),
                identity.subject.as_str().into(),
                identity.email.as_str().into(),
            ],
        )
        .await?;
    if let Some(row) = known {
        return Ok((row.text("user_id")?, Linked::Known));
    }
    let (user_id, linked) = match db
        .query_opt(USER_BY_EMAIL, &[identity.email.as_str().into()])
        .await?
    {
        // An unverified email proves nothing about who made the account
        // (anyone can sign up with any address): never linked.
        Some(row) if !row.bool("verified")? => {
            return Err(ApiError::Refused {
                status: 409,
                code: UNVERIFIED_ACCOUNT,
                message: format!(
                    "an account with the email {} already exists, but its email is not \
                     verified, so this sign-in is not linked to it; if it is yours, sign in \
                     with its password and send this identity provider's ID token to POST \
                     /api/v1/auth/oidc-token with that session (Authorization: Bearer) to link it",
                    identity.email
                ),
            }
            .into());
        }
        Some(row) => (row.text("id")?, Linked::ByEmail),
        None => {
            let id = cp_http::ids::new_id().to_string();
            let Some(row) = db
                .query_opt(
                    INSERT_USER,
                    &[
                        id.as_str().into(),
                        identity.email.as_str().into(),
                        identity.name.clone().into(),
                    ],
                )
                .await?
            else {
                return Err(ApiError::Conflict(
                    "a concurrent sign-in created this account; sign in again".into(),
                )
                .into());
            };
            (row.text("id")?, Linked::Created)
        }
    };
    db.execute(
        LINK_IDENTITY,
        &[
            identity.issuer.as_str().into(),
            identity.subject.as_str().into(),
            user_id.as_str().into(),
            identity.email.as_str().into(),
        ],
    )
    .await?;
    Ok((user_id, linked))
}

/// The code of a provider sign-in refused because an account with an
/// unverified email holds that email.
pub const UNVERIFIED_ACCOUNT: &str = "ACCOUNT_EMAIL_UNVERIFIED";

/// Links a verified identity to the signed-in caller's account (they proved
/// control of it by signing in; the provider vouches for the email, which
/// must be the account's), and marks the account's email verified.
pub(crate) async fn link_signed_in<D: Database>(
    db: &D,
    identity: &VerifiedIdentity,
    user_id: &str,
) -> Result<Linked, Failure> {
    let Some(row) = db
        .query_opt(USER_EMAIL_FOR_UPDATE, &[user_id.into()])
        .await?
    else {
        return Err(ApiError::Unauthorized("the token's user no longer exists".into()).into());
    };
    if row.text("email")? != identity.email {
        return Err(ApiError::Forbidden(format!(
            "the ID token is for {}, not this account's email; only an identity with the \
             account's own email can be linked to it",
            identity.email
        ))
        .into());
    }
    let owner = db
        .query_opt(
            IDENTITY_OWNER,
            &[
                identity.issuer.as_str().into(),
                identity.subject.as_str().into(),
            ],
        )
        .await?;
    match owner {
        Some(o) if o.text("user_id")? != user_id => {
            return Err(ApiError::Conflict(
                "this identity-provider account is already linked to another user".into(),
            )
            .into());
        }
        Some(_) => {}
        None => {
            db.execute(
                LINK_IDENTITY,
                &[
                    identity.issuer.as_str().into(),
                    identity.subject.as_str().into(),
                    user_id.into(),
                    identity.email.as_str().into(),
                ],
            )
            .await?;
        }
    }
    db.execute(MARK_VERIFIED, &[user_id.into()]).await?;
    Ok(Linked::BySignIn)
}

fn sign_in_detail(identity: &VerifiedIdentity, linked: Linked) -> Json {
    json!({
        "via": "oidc",
        "issuer": identity.issuer,
        "email": identity.email,
        "user": linked.as_str(),
    })
}

// --- /auth/login ---

const PRUNE_ATTEMPTS: &str = "DELETE FROM oidc_login_attempts WHERE expires_at < now()";

/// Stores an attempt ($1 state digest, $2 browser digest, $3 nonce,
/// $4 PKCE verifier, $5 return path, $6 lifetime in seconds).
const INSERT_ATTEMPT: &str = "INSERT INTO oidc_login_attempts
        (state_hash, browser_hash, nonce, code_verifier, return_to, expires_at)
    VALUES ($1, $2, $3, $4, $5, now() + $6::int8 * interval '1 second')";

/// Takes (deletes: single use) the attempt of a state digest.
const TAKE_ATTEMPT: &str = "DELETE FROM oidc_login_attempts WHERE state_hash = $1
    RETURNING browser_hash, nonce, code_verifier, return_to, expires_at > now() AS live";

/// Query parameters of `GET /auth/login`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginParams {
    /// Where to send the browser after the login: a path on this server
    /// (default `/api/v1/auth/me`).
    #[param(
        rename = "returnTo",
        pattern = "^/([!-.0-\\[\\]-~][!-\\[\\]-~]*)?$",
        max_length = 2048
    )]
    pub return_to: Option<String>,
}

/// A `returnTo` that cannot send the browser elsewhere (no open redirect).
fn check_return_to(value: &str) -> Result<String, ApiError> {
    let ok = value.starts_with('/')
        && !value.starts_with("//")
        && value.len() <= 2048
        && value.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ApiError::invalid(
            "returnTo",
            "must be a path on this server, starting with a single /",
        ))
    }
}

/// The path the login cookie is scoped to: the callback's.
fn callback_path(redirect_uri: &str) -> &str {
    redirect_uri
        .find("://")
        .and_then(|i| redirect_uri[i + 3..].find('/').map(|j| i + 3 + j))
        .map_or("/", |start| {
            let path = &redirect_uri[start..];
            path.split(['?', '#']).next().unwrap_or("/")
        })
}

#[operation(get, "/api/v1/auth/login", id = "logInWithOidc", callers = public,
    tag = "auth",
    summary = "Start a browser login: redirect to the identity provider (code flow, PKCE, state, nonce)",
    description = "Stores the attempt server-side (state, nonce, PKCE verifier; 10 minutes, single \
        use) and binds it to this browser with the `cp_login` cookie. The provider sends the \
        browser back to /auth/callback. 503 when OIDC is not configured, 502 when the provider's \
        discovery document cannot be read.",
    params(LoginParams),
    responses((status = 302, description = "To the provider's authorization endpoint",
            headers(("location" = String, description = "The authorization request"),
                ("set-cookie" = String, description = "`cp_login`, binding the attempt to the browser"))),
              (status = 502, body = ErrorBody)))]
pub(crate) async fn login<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let cfg = OidcConfig::require(ctx.platform)?;
    let client = cfg.browser()?;
    let return_to = req
        .query_param("returnTo")
        .map(|r| check_return_to(&r))
        .transpose()?;
    let meta = provider(ctx, &cfg).await?;
    let state = random("")?;
    let nonce = random("")?;
    let verifier = random("")?;
    let browser = random("")?;
    transaction(ctx.db(), async |db| {
        db.execute(PRUNE_ATTEMPTS, &[]).await?;
        db.execute(
            INSERT_ATTEMPT,
            &[
                cp_crypto::token_hash(&state).into(),
                cp_crypto::token_hash(&browser).into(),
                nonce.as_str().into(),
                verifier.as_str().into(),
                return_to.clone().into(),
                Value::Int(ATTEMPT_TTL_SECS),
            ],
        )
        .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    let endpoint = &meta.authorization_endpoint;
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    let location = format!(
        "{endpoint}{separator}response_type=code&client_id={}&redirect_uri={}&scope={}\
         &state={state}&nonce={nonce}&code_challenge={}&code_challenge_method=S256",
        percent_encode(&cfg.client_id),
        percent_encode(client.redirect_uri),
        percent_encode(SCOPE),
        pkce_challenge(&verifier),
    );
    Ok(ApiResponse::empty(302)
        .with_header("location", location)
        .with_header("cache-control", "no-store")
        .with_header(
            "set-cookie",
            cp_auth::set_cookie(
                LOGIN_COOKIE,
                &browser,
                callback_path(client.redirect_uri),
                ATTEMPT_TTL_SECS,
            ),
        ))
}

// --- /auth/callback ---

/// Query parameters of `GET /auth/callback` (set by the provider).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state of the login attempt.
    #[param(required = true, min_length = 1)]
    pub state: Option<String>,
    /// The issuer of the response (RFC 9207), checked when present.
    pub iss: Option<String>,
    /// An error code, when the provider refused the login.
    pub error: Option<String>,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

/// Exchanges an authorization code for the provider's ID token
/// (`client_secret_basic`, with the PKCE verifier).
async fn exchange_code<P: Platform>(
    platform: &P,
    cfg: &OidcConfig,
    client: BrowserClient<'_>,
    meta: &ProviderMeta,
    code: &str,
    verifier: &str,
) -> Result<String, Failure> {
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
        percent_encode(code),
        percent_encode(client.redirect_uri),
        percent_encode(verifier),
    );
    // RFC 6749 §2.3.1: id and secret are form-encoded before base64.
    let basic = STANDARD.encode(format!(
        "{}:{}",
        percent_encode(&cfg.client_id),
        percent_encode(client.secret)
    ));
    let mut req = outbound("POST", &meta.token_endpoint);
    req.headers.push((
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    ));
    req.headers
        .push(("authorization".into(), format!("Basic {basic}")));
    req.body = body.into_bytes();
    let (status, answer) = send(platform, req).await?;
    match status {
        200 => serde_json::from_value::<TokenResponse>(answer)
            .ok()
            .and_then(|t| t.id_token)
            .ok_or_else(|| {
                upstream(
                    "the identity provider answered the code exchange without an ID token",
                    "token endpoint: 200 without id_token",
                )
            }),
        400 | 401 => {
            let error = answer
                .get("error")
                .and_then(Json::as_str)
                .filter(|e| e.len() <= 64 && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
                .unwrap_or("invalid_grant");
            Err(ApiError::Unauthorized(format!(
                "the identity provider refused the authorization code ({error}); sign in again"
            ))
            .into())
        }
        other => Err(upstream(
            "the identity provider's token endpoint failed",
            format!("token endpoint answered {other}"),
        )),
    }
}

#[operation(get, "/api/v1/auth/callback", id = "completeOidcLogin", callers = public,
    tag = "auth",
    summary = "Finish a browser login: check state, exchange the code, verify the ID token, set the session cookie",
    description = "The login attempt is found by `state` (single use; 401 when unknown, used, \
        expired, or started in another browser). The code is exchanged with the PKCE verifier; \
        the ID token's signature (RS256/ES256, the provider's JWKS), `iss`, `aud`, `exp` and \
        `nonce` are checked (401 saying which failed). The user is found by the provider's \
        subject, else linked to the account with that email when that account's email is \
        verified (an unverified one is never linked: 409 ACCOUNT_EMAIL_UNVERIFIED), else \
        created without a password; an email the provider has not verified is a 403. The \
        session cookie `__Host-cp_session` (HttpOnly, Secure, SameSite=Lax, Path=/, no Domain, \
        12 hours) is then set and the browser sent to the login's `returnTo`.",
    params(CallbackParams),
    responses((status = 303, description = "Signed in; to `returnTo` (default /api/v1/auth/me)",
            headers(("location" = String, description = "Where the login asked to return"),
                ("set-cookie" = String, description = "`__Host-cp_session`"))),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub(crate) async fn callback<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let result = complete_login(ctx, req).await;
    // A refused login is audited like a refused password (the pipeline
    // audits only refused writes, and this is a GET).
    if let Err(failure) = &result {
        if matches!(failure.error.status(), 401 | 403 | 409) {
            let entry = ctx.audit("user", "").failed().detail(json!({
                "via": "oidc",
                "status": failure.error.status(),
                "reason": failure.error.message(),
            }));
            if let Err(e) = entry.write(ctx.db()).await {
                eprintln!("request_id={} audit write failed: {e}", ctx.request_id);
            }
        }
    }
    result
}

async fn complete_login<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let cfg = OidcConfig::require(ctx.platform)?;
    let client = cfg.browser()?;
    let state = req
        .query_param("state")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid("state", "is required"))?;
    let Some(attempt) = ctx
        .db()
        .query_opt(TAKE_ATTEMPT, &[cp_crypto::token_hash(&state).into()])
        .await?
    else {
        return Err(ApiError::Unauthorized(
            "unknown or already used login state; start again at /api/v1/auth/login".into(),
        )
        .into());
    };
    if !attempt.bool("live")? {
        return Err(ApiError::Unauthorized(
            "the login attempt expired; start again at /api/v1/auth/login".into(),
        )
        .into());
    }
    let browser = cp_auth::cookie(req, LOGIN_COOKIE).map(cp_crypto::token_hash);
    if browser.as_deref() != Some(attempt.text("browser_hash")?.as_str()) {
        return Err(ApiError::Unauthorized(
            "this login was started in another browser (the cp_login cookie is missing or \
             different); start again at /api/v1/auth/login"
                .into(),
        )
        .into());
    }
    if let Some(error) = req.query_param("error") {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(ApiError::Unauthorized(format!(
            "the identity provider refused the login ({error})"
        ))
        .into());
    }
    if req.query_param("iss").is_some_and(|iss| iss != cfg.issuer) {
        return Err(ApiError::Unauthorized(
            "the authorization response comes from another issuer than oidc_issuer".into(),
        )
        .into());
    }
    let code = req
        .query_param("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::invalid("code", "is required"))?;
    let mut meta = provider(ctx, &cfg).await?;
    let verifier = attempt.text("code_verifier")?;
    let id_token = exchange_code(ctx.platform, &cfg, client, &meta, &code, &verifier).await?;
    let nonce = attempt.text("nonce")?;
    let audiences = HashSet::from([cfg.client_id.clone()]);
    let identity =
        verify_with_provider(ctx, &cfg, &mut meta, &id_token, &audiences, Some(&nonce)).await?;
    require_verified(&identity)?;
    let cookie = transaction(ctx.db(), async |db| {
        let (user_id, linked) = link_user(db, &identity).await?;
        let cookie = session::create(db, &user_id, &identity.email, &identity.issuer).await?;
        audit_as(ctx, &user_id, "user", &user_id)
            .detail(sign_in_detail(&identity, linked))
            .write(db)
            .await?;
        Ok::<_, Failure>(cookie)
    })
    .await?;
    let return_to = attempt
        .opt_text("return_to")?
        .unwrap_or_else(|| DEFAULT_RETURN_TO.to_owned());
    Ok(ApiResponse::empty(303)
        .with_header("location", return_to)
        .with_header("cache-control", "no-store")
        .with_header(
            "set-cookie",
            cp_auth::set_cookie(cp_auth::SESSION_COOKIE, &cookie, "/", SESSION_TTL_SECS),
        ))
}

// --- /auth/oidc-token ---

/// The code of an ID token exchanged a second time.
pub const ID_TOKEN_REPLAYED: &str = "ID_TOKEN_REPLAYED";

/// Drops a few records of tokens that have expired (skipping any in use).
const PRUNE_USED: &str = "DELETE FROM oidc_used_id_tokens WHERE token_key IN (
        SELECT token_key FROM oidc_used_id_tokens WHERE expires_at < now()
        LIMIT 20 FOR UPDATE SKIP LOCKED)";

/// Records an exchanged token ($1 key, $2 expiry in Unix seconds); no row
/// when it was exchanged before.
const RECORD_USE: &str = "INSERT INTO oidc_used_id_tokens (token_key, expires_at)
    VALUES ($1, timestamptz 'epoch' + $2::int8 * interval '1 second')
    ON CONFLICT (token_key) DO NOTHING";

/// Records the exchange of an ID token in the caller's transaction, or
/// refuses it (401 `ID_TOKEN_REPLAYED`) when it was exchanged before: by
/// issuer and `jti`, or by the whole token's digest when it has none. The
/// record lives until the token expires (it cannot be presented later).
async fn use_once<D: Database>(
    db: &D,
    identity: &VerifiedIdentity,
    token: &str,
) -> Result<(), Failure> {
    let key = match &identity.jti {
        Some(jti) => cp_crypto::token_hash(&format!("jti:{}:{jti}", identity.issuer)),
        None => cp_crypto::token_hash(&format!("token:{token}")),
    };
    db.execute(PRUNE_USED, &[]).await?;
    // Kept past `exp` by the verification's clock tolerance.
    let until = identity
        .expires_at_secs
        .saturating_add(i64::try_from(TOLERANCE_SECS).unwrap_or(0) + 60);
    let recorded = db
        .execute(RECORD_USE, &[key.as_str().into(), Value::Int(until)])
        .await?;
    if recorded == 0 {
        return Err(ApiError::Refused {
            status: 401,
            code: ID_TOKEN_REPLAYED,
            message: "this ID token was already exchanged; each is accepted once (get a fresh \
                      one from the identity provider)"
                .into(),
        }
        .into());
    }
    Ok(())
}

/// Body of `POST /auth/oidc-token`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcTokenExchange {
    /// An ID token of the configured identity provider, issued to this
    /// control plane's client id or to one of `oidc_extra_audiences`.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 16384)]
    pub id_token: Option<String>,
}

#[operation(post, "/api/v1/auth/oidc-token", id = "exchangeOidcToken", callers = public, shows_secret,
    tag = "auth",
    summary = "Exchange an ID token of the identity provider for a session JWT (15 minutes)",
    description = "The ID token is verified as in the browser login (signature against the \
        provider's JWKS, `iss`, `aud`, `exp`; no nonce: it was not requested here; with several \
        audiences its `azp` must be an accepted client, and an `azp` always must) and must carry \
        a verified email (403 otherwise). Each ID token is accepted once: a second exchange is a \
        401 ID_TOKEN_REPLAYED. Its user is found, linked or created as there (an existing \
        account whose email is unverified is not linked: 409 ACCOUNT_EMAIL_UNVERIFIED). Sent \
        with the `Authorization: Bearer` of a signed-in user, the identity is linked to that \
        account instead (its email must be the account's; the account's email becomes \
        verified). Answers what POST /auth/token answers.",
    request_body = OidcTokenExchange,
    params(cp_http::params::IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Session>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 502, body = ErrorBody)))]
pub(crate) async fn exchange_id_token<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<OidcTokenExchange>(req)?;
    let token = input
        .id_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::invalid("idToken", "is required"))?;
    if token.len() > MAX_ID_TOKEN {
        return Err(ApiError::invalid("idToken", "must be at most 16384 characters").into());
    }
    // A signed-in caller (Authorization header) links the identity to
    // their own account instead.
    let signed_in = match req.header("authorization") {
        None => None,
        Some(_) => match cp_auth::authenticate(req, ctx.platform).await? {
            cp_platform::Principal::User(u) => Some(u.id),
            _ => {
                return Err(ApiError::Forbidden(
                    "only a signed-in user can link an identity-provider account; send no \
                     Authorization header to sign in with the ID token"
                        .into(),
                )
                .into())
            }
        },
    };
    let cfg = OidcConfig::require(ctx.platform)?;
    let key = JwtKey::for_sign_in(ctx.platform)?;
    let mut meta = provider(ctx, &cfg).await?;
    let identity =
        verify_with_provider(ctx, &cfg, &mut meta, &token, &cfg.audiences(), None).await?;
    require_verified(&identity)?;
    let user = transaction(ctx.db(), async |db| {
        use_once(db, &identity, &token).await?;
        let (user_id, linked) = match &signed_in {
            Some(id) => (id.clone(), link_signed_in(db, &identity, id).await?),
            None => link_user(db, &identity).await?,
        };
        let row = db
            .query_one(&sql::user_by_id(), &[user_id.as_str().into()])
            .await?;
        audit_as(ctx, &user_id, "user", &user_id)
            .detail(sign_in_detail(&identity, linked))
            .write(db)
            .await?;
        Ok::<_, Failure>(User::from_row(&row)?)
    })
    .await?;
    let session = crate::refresh::signed_in(ctx.db(), &key, user, None).await?;
    Ok(ctx.ok(&session))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jwt_simple::prelude::{
        Claims, ECDSAP256KeyPairLike, ES256KeyPair, RS256KeyPair, RSAKeyPairLike,
    };

    const ISSUER: &str = "https://idp.example.com";

    #[derive(Serialize, Deserialize)]
    struct Extra {
        email: String,
        email_verified: bool,
        name: String,
    }

    fn claims(aud: &str, nonce: Option<&str>, secs: u64) -> JWTClaims<Extra> {
        let mut c = Claims::with_custom_claims(
            Extra {
                email: "Ada@Example.com".into(),
                email_verified: true,
                name: "Ada\u{7}  Lovelace".into(),
            },
            jwt_simple::prelude::Duration::from_secs(secs),
        )
        .with_issuer(ISSUER)
        .with_subject("ada-1")
        .with_audience(aud);
        if let Some(n) = nonce {
            c = c.with_nonce(n);
        }
        c
    }

    fn audiences() -> HashSet<String> {
        HashSet::from(["control-plane".to_owned()])
    }

    fn es_key(kid: &str) -> (ES256KeyPair, Json) {
        let key = ES256KeyPair::generate().with_key_id(kid);
        let jwk: Json = serde_json::from_str(&key.public_key().to_jwk()).unwrap();
        (key, jwk)
    }

    #[test]
    fn verifies_es256_and_rs256_tokens_against_the_jwks() {
        let (es, es_jwk) = es_key("es-1");
        let rs = RS256KeyPair::generate(2048).unwrap().with_key_id("rs-1");
        let rs_jwk: Json = serde_json::from_str(&rs.public_key().to_jwk()).unwrap();
        let jwks = json!({"keys": [rs_jwk, es_jwk]});

        let token = es.sign(claims("control-plane", Some("n-1"), 300)).unwrap();
        let id = verify_id_token(&token, &jwks, ISSUER, &audiences(), Some("n-1")).unwrap();
        assert_eq!(id.subject, "ada-1");
        assert_eq!(id.email, "ada@example.com");
        assert!(id.email_verified);
        assert_eq!(id.name.as_deref(), Some("Ada  Lovelace"));

        let token = rs.sign(claims("control-plane", None, 300)).unwrap();
        assert!(verify_id_token(&token, &jwks, ISSUER, &audiences(), None).is_ok());
    }

    #[test]
    fn says_which_check_failed() {
        let (key, jwk) = es_key("k1");
        let jwks = json!({"keys": [jwk]});
        let check = |token: &str, nonce: Option<&str>| {
            verify_id_token(token, &jwks, ISSUER, &audiences(), nonce).unwrap_err()
        };
        let good = key.sign(claims("control-plane", Some("n"), 300)).unwrap();
        assert_eq!(check(&good, Some("other")), IdTokenError::WrongNonce);
        let no_nonce = key.sign(claims("control-plane", None, 300)).unwrap();
        assert_eq!(check(&no_nonce, Some("n")), IdTokenError::WrongNonce);
        let other_aud = key.sign(claims("someone-else", None, 300)).unwrap();
        assert_eq!(check(&other_aud, None), IdTokenError::WrongAudience);
        let other_iss = key
            .sign(claims("control-plane", None, 300).with_issuer("https://evil.example"))
            .unwrap();
        assert_eq!(check(&other_iss, None), IdTokenError::WrongIssuer);
        let mut expired = claims("control-plane", None, 300);
        let past = jwt_simple::prelude::Clock::now_since_epoch()
            - jwt_simple::prelude::Duration::from_secs(60);
        expired.issued_at = Some(past - jwt_simple::prelude::Duration::from_secs(60));
        expired.invalid_before = expired.issued_at;
        expired.expires_at = Some(past);
        assert_eq!(
            check(&key.sign(expired).unwrap(), None),
            IdTokenError::Expired
        );

        // Signed by a key the provider does not publish under that kid.
        let (stranger, _) = es_key("k1");
        let forged = stranger.sign(claims("control-plane", None, 300)).unwrap();
        assert_eq!(check(&forged, None), IdTokenError::InvalidSignature);
        let (unknown, _) = es_key("k9");
        let forged = unknown.sign(claims("control-plane", None, 300)).unwrap();
        assert_eq!(check(&forged, None), IdTokenError::UnknownKey);

        // Tampered claims.
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let mut body: Json =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        body["email"] = json!("mallory@example.com");
        parts[1] = URL_SAFE_NO_PAD.encode(body.to_string());
        assert_eq!(
            check(&parts.join("."), Some("n")),
            IdTokenError::InvalidSignature
        );

        // alg none, HS256 and garbage.
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k1"}"#);
        assert_eq!(
            check(&format!("{header}.{}.c2ln", parts[1]), None),
            IdTokenError::UnsupportedAlgorithm("HS256".into())
        );
        assert_eq!(check("not-a-jwt", None), IdTokenError::Malformed);
    }

    #[test]
    fn unverified_or_missing_emails_are_reported() {
        let (key, jwk) = es_key("k1");
        let jwks = json!({"keys": [jwk]});
        let c = Claims::with_custom_claims(
            json!({"email": "bob@example.com", "email_verified": "false"}),
            jwt_simple::prelude::Duration::from_secs(60),
        )
        .with_issuer(ISSUER)
        .with_subject("bob")
        .with_audience("control-plane");
        let id = verify_id_token(&key.sign(c).unwrap(), &jwks, ISSUER, &audiences(), None).unwrap();
        assert!(!id.email_verified);
        let c = Claims::create(jwt_simple::prelude::Duration::from_secs(60))
            .with_issuer(ISSUER)
            .with_subject("bob")
            .with_audience("control-plane");
        assert_eq!(
            verify_id_token(&key.sign(c).unwrap(), &jwks, ISSUER, &audiences(), None).unwrap_err(),
            IdTokenError::MissingClaim("email")
        );
    }

    #[test]
    fn several_audiences_need_an_accepted_azp() {
        let (key, jwk) = es_key("k1");
        let jwks = json!({"keys": [jwk]});
        let token = |custom: Json, aud: &[&str]| {
            let c =
                Claims::with_custom_claims(custom, jwt_simple::prelude::Duration::from_secs(60))
                    .with_issuer(ISSUER)
                    .with_subject("ada")
                    .with_audiences(aud.iter().copied().collect::<HashSet<_>>())
                    .with_jwt_id("jti-1");
            key.sign(c).unwrap()
        };
        let check = |t: &str| verify_id_token(t, &jwks, ISSUER, &audiences(), None);
        let email = json!({"email": "ada@example.com", "email_verified": true});
        let with_azp = |azp: &str| {
            let mut c = email.clone();
            c["azp"] = json!(azp);
            c
        };
        let two = ["control-plane", "someone-else"];
        assert_eq!(
            check(&token(email.clone(), &two)).unwrap_err(),
            IdTokenError::WrongAuthorizedParty
        );
        assert_eq!(
            check(&token(with_azp("someone-else"), &two)).unwrap_err(),
            IdTokenError::WrongAuthorizedParty
        );
        let ok = check(&token(with_azp("control-plane"), &two)).unwrap();
        assert_eq!(ok.jti.as_deref(), Some("jti-1"));
        assert!(ok.expires_at_secs > 0);
        // One audience: no azp needed, but one naming another client is refused.
        assert!(check(&token(email.clone(), &["control-plane"])).is_ok());
        assert_eq!(
            check(&token(with_azp("someone-else"), &["control-plane"])).unwrap_err(),
            IdTokenError::WrongAuthorizedParty
        );
    }

    #[test]
    fn return_paths_stay_on_this_server() {
        assert!(check_return_to("/api/v1/auth/device/activate?userCode=ABCD-2345").is_ok());
        for bad in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil",
            "relative",
            "/a b",
        ] {
            assert!(check_return_to(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pkce_and_paths() {
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(
            callback_path("http://127.0.0.1:3000/api/v1/auth/callback"),
            "/api/v1/auth/callback"
        );
        assert_eq!(callback_path("https://cp.example.com"), "/");
    }
}
