//! Users, sessions and personal API keys as the API shows them, and the
//! requests of the `/auth` routes.

use cp_http::validate::{pattern_string, Validator, EMAIL_PATTERN, TEXT_PATTERN};
use cp_http::{time, ApiError};
use cp_store::{DbError, FromRow, Row};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::ToSchema;

use crate::password;

/// Characters of an API key shown in lists (`cpk_` and the first random ones).
pub const SHOWN_KEY_PREFIX_LEN: usize = 12;
/// Longest display name or API key name.
pub const MAX_NAME: usize = 100;
/// Longest email.
pub const MAX_EMAIL: usize = 254;
/// Longest personal API key accepted at `/auth/api-key-token`.
pub const MAX_API_KEY: usize = 200;

/// A user's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// User id (UUIDv7).
    pub id: String,
    /// Email (normalised: lowercase), unique.
    pub email: String,
    /// Whether the email is verified: the identity provider vouched for it
    /// (an OIDC sign-in). A password signup starts unverified; nothing
    /// trusts an unverified email (invitations, linking a provider sign-in).
    pub email_verified: bool,
    /// An email change waiting for verification (`PATCH /auth/me`): not
    /// used for anything (sign-in, invitations) until it is verified.
    pub pending_email: Option<String>,
    /// Display name, if set.
    pub display_name: Option<String>,
    /// When the account was created (RFC 3339).
    pub created_at: String,
    /// When the profile or password last changed (RFC 3339).
    pub updated_at: String,
    /// Last change in microseconds (the ETag).
    #[serde(skip)]
    pub updated_micros: i64,
}

impl User {
    /// The profile's ETag.
    pub fn etag(&self) -> String {
        cp_http::etag::for_version(&self.updated_micros.to_string())
    }
}

/// Decodes a row of the user queries.
impl FromRow for User {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let updated_micros = row.i64("updated_micros")?;
        Ok(Self {
            id: row.text("id")?,
            email: row.text("email")?,
            email_verified: row.bool("email_verified")?,
            pending_email: row.opt_text("pending_email")?,
            display_name: row.opt_text("display_name")?,
            created_at: time::micros_rfc3339(row.i64("created_micros")?),
            updated_at: time::micros_rfc3339(updated_micros),
            updated_micros,
        })
    }
}

/// A signed-in session: the user and a bearer JWT.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The user.
    pub user: User,
    /// The JWT: send it as `Authorization: Bearer <accessToken>`. It expires
    /// after `expiresIn` seconds (15 minutes); log in again for a new one.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires (900).
    pub expires_in: u64,
    /// Trade it for a new `accessToken` (and a new `refreshToken`) at
    /// `POST /api/v1/auth/refresh`; it works once. Shown once, stored as a
    /// SHA-256 digest. Absent where no sign-in happened (an API key
    /// exchanged for a JWT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the refresh token expires (30 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_expires_in: Option<u64>,
}

/// What a signup answers: a session, or (`unverified_login` = `deny`) the
/// account alone until its email is verified.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SignUpResult {
    /// Signed in.
    Session(Box<Session>),
    /// Not signed in until the email is verified.
    VerificationRequired(PendingSignUp),
}

/// An account waiting for its email to be verified before it signs in.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingSignUp {
    /// The new account.
    pub user: User,
    /// Always true: verify the email (the mailed token, at
    /// `POST /auth/verify-email`), then log in.
    pub verification_required: bool,
}

/// Who the caller is (`GET /auth/me`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    /// `operator` (the static token), `accessToken`, `user`, or `anonymous`
    /// (no credentials).
    #[schema(pattern = "^(operator|accessToken|user|anonymous)$")]
    pub kind: &'static str,
    /// The access token's id, for `accessToken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_id: Option<String>,
    /// The account, for `user`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// The browser session, for a `user` signed in with the session cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<crate::session::SessionInfo>,
    /// How one can sign in here, for `anonymous`: `oidc` (browser login at
    /// /auth/login), `device` (CLI login at /auth/device), `password`
    /// (/auth/token), `bearer` (operator token, access tokens, API keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_modes: Option<Vec<&'static str>>,
}

/// A personal API key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// Key id (UUIDv7).
    pub id: String,
    /// What the key is for.
    pub name: String,
    /// The key's first characters, to recognise it.
    pub key_prefix: String,
    /// When it was last used (to the minute), if ever.
    pub last_used_at: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Creation time in microseconds (the list keyset).
    #[serde(skip)]
    pub created_micros: i64,
}

impl ApiKey {}

/// The answer to `DELETE /auth/api-keys`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedApiKeys {
    /// How many keys were revoked.
    pub revoked: i64,
}

/// Decodes a row of the key queries.
impl FromRow for ApiKey {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let created_micros = row.i64("created_micros")?;
        Ok(Self {
            id: row.text("id")?,
            name: row.text("name")?,
            key_prefix: row.text("key_prefix")?,
            last_used_at: row.opt_i64("last_used_micros")?.map(time::micros_rfc3339),
            created_at: time::micros_rfc3339(created_micros),
            created_micros,
        })
    }
}

/// A key just created: the only time its plaintext is returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    /// The key.
    #[serde(flatten)]
    pub key: ApiKey,
    /// The secret (`cpk_…`): send it as a bearer token, or exchange it for a
    /// JWT at `/auth/api-key-token`. Stored only as a SHA-256 digest and
    /// never returned again.
    pub plain_text_key: String,
}

fn signup_email_schema() -> Object {
    pattern_string(
        false,
        EMAIL_PATTERN,
        MAX_EMAIL,
        "Email, unique (case-insensitive: it is stored lowercased).",
    )
}

fn new_email_schema() -> Object {
    pattern_string(
        false,
        EMAIL_PATTERN,
        MAX_EMAIL,
        "New email (stored lowercased as `pendingEmail`; it takes effect once verified).",
    )
}

fn login_email_schema() -> Object {
    let mut s = pattern_string(
        false,
        TEXT_PATTERN,
        MAX_EMAIL,
        "The account's email (case-insensitive; surrounding spaces are ignored).",
    );
    s.min_length = Some(1);
    s
}

fn new_password_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .min_length(Some(password::MIN_CHARS))
        .max_length(Some(password::MAX_CHARS))
        .description(Some(format!(
            "A password meeting the policy: {}",
            password::POLICY
        )))
        .build()
}

fn password_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .min_length(Some(1))
        .max_length(Some(password::MAX_CHARS))
        .description(Some("The account's password."))
        .build()
}

fn name_schema(description: &str) -> Object {
    let mut s = pattern_string(false, TEXT_PATTERN, MAX_NAME, description);
    s.min_length = Some(1);
    s
}

fn display_name_schema() -> Object {
    name_schema("Display name (1-100 characters, no control characters).")
}

fn key_name_schema() -> Object {
    name_schema("What the key is for (1-100 characters, no control characters).")
}

fn api_key_schema() -> Object {
    let mut s = pattern_string(
        false,
        "^cpk_[A-Za-z0-9_-]+$",
        MAX_API_KEY,
        "A personal API key (`cpk_…`).",
    );
    s.min_length = Some(5);
    s
}

/// Normalises an email as stored: trimmed and lowercased.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn required<'a>(v: &mut Validator, field: &str, value: &'a Option<String>) -> &'a str {
    let s = value.as_deref().unwrap_or_default();
    if s.is_empty() {
        v.error(field, "is required");
    }
    s
}

fn check_email(v: &mut Validator, field: &str, email: &str) {
    // Validated as given (surrounding spaces are a 400, as the schema's
    // pattern says), then stored lowercased.
    if !email.is_empty() {
        v.email(field, email);
    }
}

fn check_name(v: &mut Validator, field: &str, name: Option<&str>) {
    if let Some(n) = name {
        if n.is_empty() {
            v.error(field, "must not be empty");
        } else {
            v.text(field, Some(n), MAX_NAME);
        }
    }
}

/// Body of `POST /auth/signup`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignUp {
    /// Email.
    #[schema(schema_with = signup_email_schema, required = true)]
    pub email: Option<String>,
    /// Password.
    #[schema(schema_with = new_password_schema, required = true)]
    pub password: Option<String>,
    /// Display name.
    #[schema(schema_with = display_name_schema)]
    pub display_name: Option<String>,
}

/// A validated signup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSignUp {
    /// Normalised email.
    pub email: String,
    /// The password (policy met).
    pub password: String,
    /// Display name.
    pub display_name: Option<String>,
}

impl SignUp {
    /// Validates the request, the password policy included.
    pub fn validate(self) -> Result<ValidSignUp, ApiError> {
        let mut v = Validator::new();
        let email = required(&mut v, "email", &self.email);
        check_email(&mut v, "email", email);
        let pw = required(&mut v, "password", &self.password);
        if !pw.is_empty() {
            if let Err(msg) = password::check_policy(pw, email) {
                v.error("password", msg);
            }
        }
        check_name(&mut v, "displayName", self.display_name.as_deref());
        v.finish()?;
        Ok(ValidSignUp {
            email: normalise_email(email),
            password: pw.to_owned(),
            display_name: self.display_name,
        })
    }
}

/// Body of `POST /auth/token`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogIn {
    /// Email.
    #[schema(schema_with = login_email_schema, required = true)]
    pub email: Option<String>,
    /// Password.
    #[schema(schema_with = password_schema, required = true)]
    pub password: Option<String>,
}

impl LogIn {
    /// The normalised email and the password; only their presence and size
    /// are checked (a wrong one is a 401, not a 400).
    pub fn validate(self) -> Result<(String, String), ApiError> {
        let mut v = Validator::new();
        let email = required(&mut v, "email", &self.email);
        v.text("email", Some(email), MAX_EMAIL);
        let pw = required(&mut v, "password", &self.password);
        v.max_chars("password", Some(pw), password::MAX_CHARS);
        v.finish()?;
        Ok((normalise_email(email), pw.to_owned()))
    }
}

/// Body of `POST /auth/change-password`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePassword {
    /// The current password.
    #[schema(schema_with = password_schema, required = true)]
    pub current_password: Option<String>,
    /// The new password.
    #[schema(schema_with = new_password_schema, required = true)]
    pub new_password: Option<String>,
}

impl ChangePassword {
    /// The current and the new password; the new one meets the policy for
    /// `email`.
    pub fn validate(self, email: &str) -> Result<(String, String), ApiError> {
        let mut v = Validator::new();
        let current = required(&mut v, "currentPassword", &self.current_password);
        v.max_chars("currentPassword", Some(current), password::MAX_CHARS);
        let new = required(&mut v, "newPassword", &self.new_password);
        if !new.is_empty() {
            if let Err(msg) = password::check_policy(new, email) {
                v.error("newPassword", msg);
            }
        }
        v.finish()?;
        Ok((current.to_owned(), new.to_owned()))
    }
}

/// Body of `PATCH /auth/me`: only the fields given change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMe {
    /// New display name.
    #[schema(schema_with = display_name_schema)]
    pub display_name: Option<String>,
    /// New email: stored as `pendingEmail` until verified (the current
    /// email stays in force); the account's own email cancels a pending
    /// change. Needs `currentPassword`.
    #[schema(schema_with = new_email_schema)]
    pub email: Option<String>,
    /// The account's password: required with `email`, and checked whenever
    /// given (re-authentication).
    #[schema(schema_with = password_schema)]
    pub current_password: Option<String>,
}

/// A validated profile change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidUpdateMe {
    /// New display name.
    pub display_name: Option<String>,
    /// New normalised email.
    pub email: Option<String>,
    /// The password re-authenticating the change (always with `email`).
    pub current_password: Option<String>,
}

impl UpdateMe {
    /// Validates the change.
    pub fn validate(self) -> Result<ValidUpdateMe, ApiError> {
        let mut v = Validator::new();
        check_name(&mut v, "displayName", self.display_name.as_deref());
        if let Some(e) = &self.email {
            if e.is_empty() {
                v.error("email", "must not be empty");
            }
            check_email(&mut v, "email", e);
        }
        match (&self.email, self.current_password.as_deref()) {
            (_, Some("")) => v.error("currentPassword", "must not be empty"),
            (Some(_), None) => v.error(
                "currentPassword",
                "is required to change the email (re-authentication)",
            ),
            (_, p) => v.max_chars("currentPassword", p, password::MAX_CHARS),
        }
        v.finish()?;
        Ok(ValidUpdateMe {
            display_name: self.display_name,
            email: self.email.as_deref().map(normalise_email),
            current_password: self.current_password,
        })
    }
}

/// Body of `POST /auth/api-keys`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyCreate {
    /// What the key is for.
    #[schema(schema_with = key_name_schema, required = true)]
    pub name: Option<String>,
}

impl ApiKeyCreate {
    /// The key's name.
    pub fn validate(self) -> Result<String, ApiError> {
        let mut v = Validator::new();
        let name = required(&mut v, "name", &self.name);
        check_name(&mut v, "name", Some(name).filter(|n| !n.is_empty()));
        v.finish()?;
        Ok(name.to_owned())
    }
}

/// Body of `POST /auth/api-key-token`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyExchange {
    /// The key.
    #[schema(schema_with = api_key_schema, required = true)]
    pub api_key: Option<String>,
}

impl ApiKeyExchange {
    /// The key; only its presence and size are checked (a wrong one is a 401).
    pub fn validate(self) -> Result<String, ApiError> {
        let mut v = Validator::new();
        let key = required(&mut v, "apiKey", &self.api_key);
        v.max_chars("apiKey", Some(key), MAX_API_KEY);
        v.finish()?;
        Ok(key.to_owned())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn fields(err: &ApiError) -> Vec<&str> {
        err.field_errors()
            .iter()
            .map(|f| f.field.as_str())
            .collect()
    }

    #[test]
    fn signup_normalises_the_email_and_names_bad_fields() {
        let ok: SignUp = serde_json::from_value(
            json!({"email": "Ada@Example.COM", "password": "violet-otter-river-42"}),
        )
        .unwrap();
        assert_eq!(ok.validate().unwrap().email, "ada@example.com");
        let bad: SignUp = serde_json::from_value(
            json!({"email": " ada@example.com", "password": "short", "displayName": ""}),
        )
        .unwrap();
        assert_eq!(
            fields(&bad.validate().unwrap_err()),
            ["email", "password", "displayName"]
        );
        let none: SignUp = serde_json::from_value(json!({})).unwrap();
        assert_eq!(fields(&none.validate().unwrap_err()), ["email", "password"]);
    }

    #[test]
    fn the_policy_applies_to_the_new_password_only() {
        let req: ChangePassword = serde_json::from_value(
            json!({"currentPassword": "x", "newPassword": "aaaaaaaaaaaaaaa"}),
        )
        .unwrap();
        assert_eq!(
            fields(&req.validate("a@example.com").unwrap_err()),
            ["newPassword"]
        );
    }

    #[test]
    fn an_email_change_needs_the_current_password() {
        let update = |v: serde_json::Value| serde_json::from_value::<UpdateMe>(v).unwrap();
        let err = update(json!({"email": "b@example.com"}))
            .validate()
            .unwrap_err();
        assert_eq!(fields(&err), ["currentPassword"]);
        // Re-authentication without an email change is allowed (and checked).
        let reauth = update(json!({"displayName": "B", "currentPassword": "x"}))
            .validate()
            .unwrap();
        assert_eq!(reauth.current_password.as_deref(), Some("x"));
        let ok = update(json!({"email": "B@Example.com", "currentPassword": "pw"}))
            .validate()
            .unwrap();
        assert_eq!(ok.email.as_deref(), Some("b@example.com"));
        assert_eq!(ok.current_password.as_deref(), Some("pw"));
        for empty in [
            json!({"currentPassword": ""}),
            json!({"email": "b@example.com", "currentPassword": ""}),
        ] {
            let err = update(empty).validate().unwrap_err();
            assert_eq!(fields(&err), ["currentPassword"]);
            assert!(err.to_string().contains("must not be empty"), "{err}");
        }
        let name_only = update(json!({"displayName": "B"})).validate().unwrap();
        assert_eq!(name_only.email, None);
    }

    #[test]
    fn login_trims_and_lowercases() {
        let req: LogIn =
            serde_json::from_value(json!({"email": " Ada@Example.com ", "password": "x"})).unwrap();
        assert_eq!(req.validate().unwrap().0, "ada@example.com");
    }
}
