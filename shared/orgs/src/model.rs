//! Organisations, members, invitations and events as the API shows them,
//! and the requests that change them.

use crate::roles::OrgRole;
use cp_http::validate::{integer_schema, pattern_string, Validator, EMAIL_PATTERN, TEXT_PATTERN};
use cp_http::{time, ApiError};
use cp_store::{DbError, FromRow, Row};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::ToSchema;

/// Longest organisation name.
pub const MAX_NAME: usize = 100;
/// Longest email.
pub const MAX_EMAIL: usize = 254;
/// Lifetime of an invitation unless the request says otherwise, in days.
pub const DEFAULT_INVITATION_DAYS: i64 = 7;
/// Longest lifetime of an invitation, in days.
pub const MAX_INVITATION_DAYS: i64 = 30;
/// Prefix of invitation tokens (`cpinv_` + 256 random bits, base64url).
pub const INVITATION_TOKEN_PREFIX: &str = "cpinv_";
/// Longest invitation token accepted in a path (a real one has 49 characters).
pub const MAX_TOKEN: usize = 200;
/// OpenAPI pattern of an invitation token path segment.
pub const TOKEN_PATTERN: &str = "^cpinv_[A-Za-z0-9_-]+$";

fn role_of(row: &Row, column: &str) -> Result<OrgRole, DbError> {
    let stored = row.text(column)?;
    OrgRole::parse(&stored).ok_or_else(|| DbError::Decode(format!("unknown org role {stored:?}")))
}

fn role_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(OrgRole::ALL.map(OrgRole::as_str)))
        .description(Some(
            "Role in the organisation, least to most: viewer (reads), member (also creates, \
             suspends and resumes tenants), admin (also decommissions tenants and manages \
             members and invitations), owner (also grants, changes and removes owners).",
        ))
        .build()
}

fn caller_role_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(
            OrgRole::ALL
                .map(|r| Some(r.as_str()))
                .into_iter()
                .chain([None]),
        ))
        .description(Some(
            "The caller's role; null for operators and access tokens, which see every \
             organisation.",
        ))
        .build()
}

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    /// Organisation id (UUIDv7).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The caller's role in it.
    #[schema(schema_with = caller_role_schema, required = true)]
    pub role: Option<OrgRole>,
    /// How many members it has.
    pub member_count: i64,
    /// The user who created it (their id; kept if they leave).
    pub created_by: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// Creation time in microseconds (the list keyset).
    #[serde(skip)]
    pub created_micros: i64,
    /// Last change in microseconds (the ETag).
    #[serde(skip)]
    pub updated_micros: i64,
}

impl Organization {
    /// The organisation's ETag.
    pub fn etag(&self) -> String {
        cp_http::etag::for_version(&self.updated_micros.to_string())
    }
}

/// Decodes a row of the organisation queries.
impl FromRow for Organization {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let created_micros = row.i64("created_micros")?;
        let updated_micros = row.i64("updated_micros")?;
        Ok(Self {
            id: row.text("id")?,
            name: row.text("name")?,
            role: match row.opt_text("role")? {
                Some(_) => Some(role_of(row, "role")?),
                None => None,
            },
            member_count: row.i64("member_count")?,
            created_by: row.opt_text("created_by")?,
            created_at: time::micros_rfc3339(created_micros),
            updated_at: time::micros_rfc3339(updated_micros),
            created_micros,
            updated_micros,
        })
    }
}

/// A member of an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgMember {
    /// The organisation.
    pub org_id: String,
    /// The member's user id.
    pub user_id: String,
    /// The member's email.
    pub email: String,
    /// The member's display name, if set.
    pub display_name: Option<String>,
    /// The member's role.
    #[schema(schema_with = role_schema)]
    pub role: OrgRole,
    /// When they joined (RFC 3339).
    pub joined_at: String,
    /// When their role last changed (RFC 3339).
    pub updated_at: String,
    /// Join time in microseconds (the list keyset).
    #[serde(skip)]
    pub joined_micros: i64,
    /// Last change in microseconds (the ETag).
    #[serde(skip)]
    pub updated_micros: i64,
}

impl OrgMember {
    /// The membership's ETag.
    pub fn etag(&self) -> String {
        cp_http::etag::for_version(&self.updated_micros.to_string())
    }
}

/// Decodes a row of the member queries.
impl FromRow for OrgMember {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let joined_micros = row.i64("joined_micros")?;
        let updated_micros = row.i64("updated_micros")?;
        Ok(Self {
            org_id: row.text("org_id")?,
            user_id: row.text("user_id")?,
            email: row.text("email")?,
            display_name: row.opt_text("display_name")?,
            role: role_of(row, "role")?,
            joined_at: time::micros_rfc3339(joined_micros),
            updated_at: time::micros_rfc3339(updated_micros),
            joined_micros,
            updated_micros,
        })
    }
}

/// A pending invitation, without its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgInvitation {
    /// Invitation id (UUIDv7).
    pub id: String,
    /// The organisation.
    pub org_id: String,
    /// Whom it invites (lowercased); only the user with this email may accept.
    pub email: String,
    /// The role the invitee gets.
    #[schema(schema_with = role_schema)]
    pub role: OrgRole,
    /// Who invited (`user:<id>`, `operator`, `access-token:<id>`).
    pub invited_by: String,
    /// When it stops being acceptable (RFC 3339).
    pub expires_at: String,
    /// Whether that time has passed (re-invite to send a new one).
    pub expired: bool,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Creation time in microseconds (the list keyset).
    #[serde(skip)]
    pub created_micros: i64,
}

impl OrgInvitation {}

/// An invitation just created: the only time its token is returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedOrgInvitation {
    /// The invitation.
    #[serde(flatten)]
    pub invitation: OrgInvitation,
    /// The single-use token (`cpinv_…`) to send to the invitee, who accepts
    /// with `POST /api/v1/invitations/{token}/accept`. Stored only as a
    /// SHA-256 digest and never returned again.
    pub plain_text_token: String,
}

/// Decodes a row of the invitation queries.
impl FromRow for OrgInvitation {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let created_micros = row.i64("created_micros")?;
        Ok(Self {
            id: row.text("id")?,
            org_id: row.text("org_id")?,
            email: row.text("email")?,
            role: role_of(row, "role")?,
            invited_by: row.text("invited_by")?,
            expires_at: time::micros_rfc3339(row.i64("expires_micros")?),
            expired: row.bool("expired")?,
            created_at: time::micros_rfc3339(created_micros),
            created_micros,
        })
    }
}

/// One organisation-visible change.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgEventView {
    /// Event id (UUIDv7).
    pub id: String,
    /// What happened: `org.created`, `member.joined`, `member.role_changed`,
    /// `member.removed`, `invitation.created`, `invitation.replaced`,
    /// `invitation.revoked`, `invitation.accepted`, `tenant.…`.
    pub kind: String,
    /// Who acted (`user:<id>`, `operator`, `access-token:<id>`).
    pub actor: String,
    /// What changed: a user id, an invitation's email, a tenant name.
    pub subject: String,
    /// Non-secret details (roles before and after…).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The request that made the change.
    pub request_id: String,
    /// When it happened (RFC 3339).
    pub created_at: String,
    /// Time in microseconds (the list keyset).
    #[serde(skip)]
    pub created_micros: i64,
}

impl OrgEventView {}

fn name_schema() -> Object {
    let mut s = pattern_string(
        false,
        TEXT_PATTERN,
        MAX_NAME,
        "Display name (1-100 characters, no control characters).",
    );
    s.min_length = Some(1);
    s
}

/// Decodes a row of the event queries.
impl FromRow for OrgEventView {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let created_micros = row.i64("created_micros")?;
        Ok(Self {
            id: row.text("id")?,
            kind: row.text("kind")?,
            actor: row.text("actor")?,
            subject: row.text("subject")?,
            detail: row.json("detail")?,
            request_id: row.text("request_id")?,
            created_at: time::micros_rfc3339(created_micros),
            created_micros,
        })
    }
}

fn email_schema() -> Object {
    pattern_string(
        false,
        EMAIL_PATTERN,
        MAX_EMAIL,
        "Whom to invite (stored lowercased; only the user with this email may accept).",
    )
}

fn role_input_schema() -> Object {
    let mut s = role_schema();
    s.description =
        Some("The role the invitee or member gets. Granting `owner` needs the owner role.".into());
    s
}

fn days_schema() -> Object {
    integer_schema(
        false,
        1,
        MAX_INVITATION_DAYS,
        "Days until the invitation expires (1-30, default 7).",
    )
}

fn required<'a>(v: &mut Validator, field: &str, value: &'a Option<String>) -> &'a str {
    let s = value.as_deref().unwrap_or_default();
    if s.is_empty() {
        v.error(field, "is required");
    }
    s
}

fn check_role(v: &mut Validator, field: &str, value: &str) -> Option<OrgRole> {
    if value.is_empty() {
        return None;
    }
    let role = OrgRole::parse(value);
    if role.is_none() {
        v.error(field, "must be one of owner, admin, member, viewer");
    }
    role
}

/// Body of `POST /organizations`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrganizationCreate {
    /// Display name.
    #[schema(schema_with = name_schema, required = true)]
    pub name: Option<String>,
}

impl OrganizationCreate {
    /// The organisation's name.
    pub fn validate(self) -> Result<String, ApiError> {
        let mut v = Validator::new();
        let name = required(&mut v, "name", &self.name);
        if !name.is_empty() {
            v.text("name", Some(name), MAX_NAME);
        }
        v.finish()?;
        Ok(name.to_owned())
    }
}

/// Body of `PATCH /organizations/{orgId}/members/{userId}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgMemberUpdate {
    /// The new role.
    #[schema(schema_with = role_input_schema, required = true)]
    pub role: Option<String>,
}

impl OrgMemberUpdate {
    /// The new role.
    pub fn validate(self) -> Result<OrgRole, ApiError> {
        let mut v = Validator::new();
        let raw = required(&mut v, "role", &self.role);
        let role = check_role(&mut v, "role", raw);
        v.finish()?;
        role.ok_or_else(|| ApiError::invalid("role", "is required"))
    }
}

/// Body of `POST /organizations/{orgId}/invitations`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgInvitationCreate {
    /// Whom to invite.
    #[schema(schema_with = email_schema, required = true)]
    pub email: Option<String>,
    /// The role they get on accepting.
    #[schema(schema_with = role_input_schema, required = true)]
    pub role: Option<String>,
    /// Its lifetime.
    #[schema(schema_with = days_schema)]
    #[serde(default, deserialize_with = "whole_number")]
    pub expires_in_days: Option<i64>,
}

/// An optional JSON integer: absent is `None`, `null` is refused like any
/// other non-number (the document says integer, not nullable). JSON Schema
/// counts `7.0` as an integer, so an integral float is accepted too (serde's
/// `i64` refuses it).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error as _;
    let n = serde_json::Number::deserialize(d)?;
    n.as_i64()
        .or_else(|| {
            // Whole floats beyond the valid range are clamped: the range
            // check then names the field as out of range.
            n.as_f64()
                .filter(|f| f.fract() == 0.0)
                .map(|f| f.clamp(-1e15, 1e15) as i64)
        })
        .map(Some)
        .ok_or_else(|| D::Error::custom("must be a whole number"))
}

/// A validated invitation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidInvitation {
    /// Normalised (lowercased) email.
    pub email: String,
    /// The role.
    pub role: OrgRole,
    /// Lifetime in days.
    pub expires_in_days: i64,
}

impl OrgInvitationCreate {
    /// Validates the request.
    pub fn validate(self) -> Result<ValidInvitation, ApiError> {
        let mut v = Validator::new();
        let email = required(&mut v, "email", &self.email);
        // Validated as given (surrounding spaces are a 400, as the schema's
        // pattern says), then stored lowercased like user emails.
        if !email.is_empty() {
            v.email("email", email);
            v.max_chars("email", Some(email), MAX_EMAIL);
        }
        let raw_role = required(&mut v, "role", &self.role);
        let role = check_role(&mut v, "role", raw_role);
        let days = self.expires_in_days.unwrap_or(DEFAULT_INVITATION_DAYS);
        v.check(
            (1..=MAX_INVITATION_DAYS).contains(&days),
            "expiresInDays",
            format!("must be between 1 and {MAX_INVITATION_DAYS}"),
        );
        v.finish()?;
        Ok(ValidInvitation {
            email: email.trim().to_lowercase(),
            role: role.ok_or_else(|| ApiError::invalid("role", "is required"))?,
            expires_in_days: days,
        })
    }
}

/// Checks the `{token}` path segment of an invitation: its shape only (a
/// wrong token is a 404). The message never repeats the value.
pub fn check_token(token: &str) -> Result<(), ApiError> {
    let ok = token.len() <= MAX_TOKEN
        && token
            .strip_prefix(INVITATION_TOKEN_PREFIX)
            .is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "token",
            "must be an invitation token (cpinv_…)",
        ))
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
    fn invitations_lowercase_the_email_and_default_to_seven_days() {
        let ok: OrgInvitationCreate =
            serde_json::from_value(json!({"email": "Ada@Example.COM", "role": "admin"})).unwrap();
        let ok = ok.validate().unwrap();
        assert_eq!(ok.email, "ada@example.com");
        assert_eq!(ok.role, OrgRole::Admin);
        assert_eq!(ok.expires_in_days, 7);
        let whole: OrgInvitationCreate = serde_json::from_value(
            json!({"email": "a@example.com", "role": "admin", "expiresInDays": 3.0}),
        )
        .unwrap();
        assert_eq!(whole.validate().unwrap().expires_in_days, 3);
    }

    #[test]
    fn an_explicit_null_lifetime_is_refused() {
        // The document says integer (not nullable): null is not "absent".
        let null = json!({"email": "a@example.com", "role": "admin", "expiresInDays": null});
        assert!(serde_json::from_value::<OrgInvitationCreate>(null).is_err());
    }

    #[test]
    fn invitations_name_each_bad_field() {
        let bad: OrgInvitationCreate = serde_json::from_value(
            json!({"email": "not-an-email", "role": "boss", "expiresInDays": 31}),
        )
        .unwrap();
        assert_eq!(
            fields(&bad.validate().unwrap_err()),
            ["email", "role", "expiresInDays"]
        );
        let none: OrgInvitationCreate = serde_json::from_value(json!({})).unwrap();
        assert_eq!(fields(&none.validate().unwrap_err()), ["email", "role"]);
        assert!(
            serde_json::from_value::<OrgInvitationCreate>(json!({"email": "a@b.co", "x": 1}))
                .is_err()
        );
    }

    #[test]
    fn names_and_roles_are_checked() {
        let f = |v: serde_json::Value| {
            serde_json::from_value::<OrganizationCreate>(v)
                .unwrap()
                .validate()
        };
        assert_eq!(f(json!({"name": "Acme"})).unwrap(), "Acme");
        assert_eq!(fields(&f(json!({})).unwrap_err()), ["name"]);
        assert_eq!(fields(&f(json!({"name": "a\u{7}"})).unwrap_err()), ["name"]);
        assert_eq!(
            fields(&f(json!({"name": "x".repeat(101)})).unwrap_err()),
            ["name"]
        );
        let r = |v: serde_json::Value| {
            serde_json::from_value::<OrgMemberUpdate>(v)
                .unwrap()
                .validate()
        };
        assert_eq!(r(json!({"role": "viewer"})).unwrap(), OrgRole::Viewer);
        assert_eq!(fields(&r(json!({"role": "Owner"})).unwrap_err()), ["role"]);
        assert_eq!(fields(&r(json!({})).unwrap_err()), ["role"]);
    }

    #[test]
    fn token_shape_is_checked_without_echoing_it() {
        let token = format!("{INVITATION_TOKEN_PREFIX}{}", "A".repeat(43));
        assert!(check_token(&token).is_ok());
        for bad in ["", "cpinv_", "cpat_abc", "cpinv_a b", &"cpinv_a".repeat(40)] {
            let err = check_token(bad).unwrap_err();
            assert_eq!(fields(&err), ["token"]);
            // The message never repeats a (possibly real) token.
            assert!(bad.len() < 8 || !err.to_string().contains(bad), "{bad}");
        }
    }
}
