//! Sharing one secret with one recipient, the part that needs no database:
//! who a share can go to, what a share body must hold, the state a share is
//! in, and which transitions each state allows.
//!
//! - A share to a **user** (or, once agents exist, an **agent**) waits for
//!   the recipient to accept or decline it; it is read by the recipient,
//!   signed in.
//! - A share to an **external email** address or to **anyone with the
//!   link** is opened by its share key (`X-Share-Key`), shown once to the
//!   creator. An external address is also sent a notice through the
//!   outbox, without the key: the creator passes it on through another
//!   channel, so the mail alone never opens the secret.
//! - Every share expires (7 days unless told, at most 90), may carry a
//!   maximum access count, and can be revoked by its creator.

use chrono::{DateTime, Duration, Utc};
use cp_http::json::opt_whole_number;
use cp_http::time::{parse_timestamp, timestamp_schema};
use cp_http::validate::{integer_schema, pattern_string, Validator, EMAIL_PATTERN};
use cp_http::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Object;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::views::SecretValue;

/// What a share key starts with (secret scanners can match it).
pub const SHARE_KEY_PREFIX: &str = "cpshr_";
/// What a share key looks like: the prefix and 256 random bits in
/// unpadded base64url.
pub const SHARE_KEY_PATTERN: &str = "^cpshr_[A-Za-z0-9_-]{43}$";
/// A share's lifetime when the body names none.
pub const DEFAULT_SHARE_DAYS: i64 = 7;
/// The longest a share may live.
pub const MAX_SHARE_DAYS: i64 = 90;
/// The largest access limit.
pub const MAX_ACCESS_LIMIT: i64 = 1_000_000;
/// The longest email address.
const MAX_EMAIL: usize = 254;

/// Whether `text` has the form of a share key ([`SHARE_KEY_PATTERN`]).
pub fn is_share_key(text: &str) -> bool {
    cp_crypto::is_token(text, SHARE_KEY_PREFIX)
}

/// Who a share goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientType {
    /// A user of this platform, by id.
    User,
    /// An agent, by id.
    Agent,
    /// An address outside the platform.
    ExternalEmail,
    /// Whoever holds the link and its key.
    AnyoneWithLink,
}

impl RecipientType {
    /// Every type, as the API spells them.
    pub const NAMES: [&'static str; 4] = ["user", "agent", "external_email", "anyone_with_link"];

    /// The API's (and the database's) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Agent => "agent",
            Self::ExternalEmail => "external_email",
            Self::AnyoneWithLink => "anyone_with_link",
        }
    }

    /// Parses an API name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "user" => Some(Self::User),
            "agent" => Some(Self::Agent),
            "external_email" => Some(Self::ExternalEmail),
            "anyone_with_link" => Some(Self::AnyoneWithLink),
            _ => None,
        }
    }

    /// Whether the share is opened by its key rather than by a signed-in
    /// recipient.
    pub fn opened_by_key(self) -> bool {
        matches!(self, Self::ExternalEmail | Self::AnyoneWithLink)
    }

    /// The status a new share of this type starts in: a named recipient
    /// accepts or declines it first.
    pub fn initial_status(self) -> StoredStatus {
        if self.opened_by_key() {
            StoredStatus::Active
        } else {
            StoredStatus::Pending
        }
    }
}

/// A share's recipient, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A user.
    User(Uuid),
    /// An agent.
    Agent(Uuid),
    /// An external address, lowercased.
    ExternalEmail(String),
    /// Anyone with the link.
    AnyoneWithLink,
}

impl Recipient {
    /// Its type.
    pub fn kind(&self) -> RecipientType {
        match self {
            Self::User(_) => RecipientType::User,
            Self::Agent(_) => RecipientType::Agent,
            Self::ExternalEmail(_) => RecipientType::ExternalEmail,
            Self::AnyoneWithLink => RecipientType::AnyoneWithLink,
        }
    }
}

/// The status stored with a share (revocation is stored apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredStatus {
    /// Waiting for its recipient.
    Pending,
    /// Accepted by its recipient.
    Accepted,
    /// Declined by its recipient.
    Declined,
    /// Opened by key; nothing to accept.
    Active,
}

impl StoredStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Active => "active",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(Self::Pending),
            "accepted" => Some(Self::Accepted),
            "declined" => Some(Self::Declined),
            "active" => Some(Self::Active),
            _ => None,
        }
    }
}

/// What a share is now, as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareStatus {
    /// Waiting for its recipient to accept it.
    Pending,
    /// Accepted: its recipient can read it.
    Accepted,
    /// Opened by key: whoever holds it can read it.
    Active,
    /// Declined by its recipient.
    Declined,
    /// Revoked by its creator.
    Revoked,
    /// Past its expiry.
    Expired,
    /// Every allowed access was used.
    Exhausted,
}

impl ShareStatus {
    /// Every status, as the API spells them.
    pub const NAMES: [&'static str; 7] = [
        "pending",
        "accepted",
        "active",
        "declined",
        "revoked",
        "expired",
        "exhausted",
    ];

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Active => "active",
            Self::Declined => "declined",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Exhausted => "exhausted",
        }
    }

    /// Why a read of a share in this status is refused (`None`: it can be
    /// read).
    pub fn read_refusal(self) -> Option<ApiError> {
        let (status, code, message) = match self {
            Self::Accepted | Self::Active => return None,
            Self::Pending => (
                409,
                "SHARE_NOT_ACCEPTED",
                "the share is pending: its recipient accepts it first (POST /api/v1/shares/{shareId}/accept)",
            ),
            Self::Declined => (410, "SHARE_DECLINED", "the share was declined"),
            Self::Revoked => (410, "SHARE_REVOKED", "the share was revoked by its creator"),
            Self::Expired => (410, "SHARE_EXPIRED", "the share has expired"),
            Self::Exhausted => (
                410,
                "SHARE_EXHAUSTED",
                "the share has been opened as many times as it allows",
            ),
        };
        Some(ApiError::Refused {
            status,
            code,
            message: message.into(),
        })
    }
}

/// A share's state, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareState {
    /// Its stored status.
    pub stored: StoredStatus,
    /// Whether its creator revoked it.
    pub revoked: bool,
    /// When it expires, in microseconds since the epoch.
    pub expires_micros: i64,
    /// How many times it was opened.
    pub access_count: i64,
    /// How many times it may be opened.
    pub max_access_count: Option<i64>,
}

impl ShareState {
    /// The share's status at `now_micros`. What ends a share for good wins
    /// over what its recipient said: revoked, then declined, expired and
    /// exhausted.
    pub fn status(&self, now_micros: i64) -> ShareStatus {
        if self.revoked {
            ShareStatus::Revoked
        } else if self.stored == StoredStatus::Declined {
            ShareStatus::Declined
        } else if self.expires_micros <= now_micros {
            ShareStatus::Expired
        } else if self
            .max_access_count
            .is_some_and(|max| self.access_count >= max)
        {
            ShareStatus::Exhausted
        } else {
            match self.stored {
                StoredStatus::Pending => ShareStatus::Pending,
                StoredStatus::Accepted => ShareStatus::Accepted,
                StoredStatus::Active | StoredStatus::Declined => ShareStatus::Active,
            }
        }
    }

    /// The recipient's answer to a pending share: the status to store, or a
    /// 409 naming the status the share is in.
    pub fn respond(&self, accept: bool, now_micros: i64) -> Result<StoredStatus, ApiError> {
        match self.status(now_micros) {
            ShareStatus::Pending if accept => Ok(StoredStatus::Accepted),
            ShareStatus::Pending => Ok(StoredStatus::Declined),
            // Declining what one accepted is how a recipient drops a share.
            ShareStatus::Accepted if !accept => Ok(StoredStatus::Declined),
            status => Err(ApiError::Conflict(format!(
                "the share is {}: only a pending share can be {}",
                status.as_str(),
                if accept { "accepted" } else { "declined" }
            ))),
        }
    }

    /// Whether its creator may revoke it now (a 409 once it is revoked).
    pub fn revocable(&self) -> Result<(), ApiError> {
        if self.revoked {
            return Err(ApiError::Conflict("the share is already revoked".into()));
        }
        Ok(())
    }
}

/// A new share of a secret.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShareCreate {
    /// Who it goes to: `user` (with `userId`), `agent` (with `agentId`),
    /// `external_email` (with `email`) or `anyone_with_link`.
    #[schema(schema_with = recipient_type_schema)]
    pub recipient_type: String,
    /// The recipient user's id (`user` only).
    #[serde(default)]
    #[schema(schema_with = uuid_schema)]
    pub user_id: Option<String>,
    /// The recipient agent's id (`agent` only).
    #[serde(default)]
    #[schema(schema_with = uuid_schema)]
    pub agent_id: Option<String>,
    /// The recipient's address (`external_email` only).
    #[serde(default)]
    #[schema(schema_with = email_schema)]
    pub email: Option<String>,
    /// RFC 3339, in the future and at most 90 days ahead (absent: 7 days).
    #[serde(default)]
    #[schema(schema_with = share_expiry_schema)]
    pub expires_at: Option<String>,
    /// How many times the share may be opened (absent: until it expires).
    #[serde(default, deserialize_with = "opt_whole_number")]
    #[schema(schema_with = max_access_schema)]
    pub max_access_count: Option<i64>,
    /// Share this version only (absent: whatever version is the latest
    /// when the share is opened).
    #[serde(default, deserialize_with = "opt_whole_number")]
    #[schema(schema_with = version_schema)]
    pub version: Option<i64>,
}

/// A share body, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidShare {
    /// The recipient.
    pub recipient: Recipient,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// Its access limit.
    pub max_access_count: Option<i64>,
    /// A pinned version.
    pub version: Option<i64>,
}

impl ShareCreate {
    /// Checks every field at `now`, naming each bad one.
    pub fn validate(self, now: DateTime<Utc>) -> Result<ValidShare, ApiError> {
        let mut v = Validator::new();
        let kind = RecipientType::parse(&self.recipient_type);
        if kind.is_none() {
            v.error(
                "recipientType",
                format!("must be one of {}", RecipientType::NAMES.join(", ")),
            );
        }
        // Each recipient field belongs to one type: a stray one is refused
        // rather than ignored, so a mistyped share never goes elsewhere.
        let fields = [
            ("userId", self.user_id.is_some(), RecipientType::User),
            ("agentId", self.agent_id.is_some(), RecipientType::Agent),
            ("email", self.email.is_some(), RecipientType::ExternalEmail),
        ];
        for (field, present, owner) in fields {
            match kind {
                Some(k) if k == owner && !present => v.error(field, "is required"),
                Some(k) if k != owner && present => v.error(
                    field,
                    format!("is only for recipientType {}", owner.as_str()),
                ),
                _ => {}
            }
        }
        let id = |v: &mut Validator, field: &str, text: &Option<String>| -> Option<Uuid> {
            let text = text.as_deref()?;
            let parsed = Uuid::try_parse(text).ok();
            if parsed.is_none() {
                v.error(field, "must be a UUID");
            }
            parsed
        };
        let user = id(&mut v, "userId", &self.user_id);
        let agent = id(&mut v, "agentId", &self.agent_id);
        if let Some(email) = &self.email {
            v.email("email", email);
            v.max_chars("email", Some(email), MAX_EMAIL);
        }
        let latest = now + Duration::days(MAX_SHARE_DAYS);
        let expires_at = match &self.expires_at {
            None => now + Duration::days(DEFAULT_SHARE_DAYS),
            Some(text) => match parse_timestamp(text) {
                None => {
                    v.error(
                        "expiresAt",
                        "must be an RFC 3339 timestamp such as 2026-11-25T10:00:00Z",
                    );
                    now
                }
                Some(t) if t <= now => {
                    v.error("expiresAt", "must be in the future");
                    now
                }
                Some(t) if t > latest => {
                    v.error(
                        "expiresAt",
                        format!("must be at most {MAX_SHARE_DAYS} days ahead"),
                    );
                    now
                }
                Some(t) => t,
            },
        };
        if let Some(max) = self.max_access_count {
            v.check(
                (1..=MAX_ACCESS_LIMIT).contains(&max),
                "maxAccessCount",
                format!("must be between 1 and {MAX_ACCESS_LIMIT}"),
            );
        }
        if let Some(version) = self.version {
            v.check(
                (1..=i64::from(i32::MAX)).contains(&version),
                "version",
                "must be a version number (1 or more)",
            );
        }
        v.finish()?;
        let recipient = match kind {
            Some(RecipientType::User) => Recipient::User(user.unwrap_or_default()),
            Some(RecipientType::Agent) => Recipient::Agent(agent.unwrap_or_default()),
            Some(RecipientType::ExternalEmail) => {
                Recipient::ExternalEmail(self.email.unwrap_or_default().trim().to_lowercase())
            }
            // `finish` refused an unknown type.
            Some(RecipientType::AnyoneWithLink) | None => Recipient::AnyoneWithLink,
        };
        Ok(ValidShare {
            recipient,
            expires_at,
            max_access_count: self.max_access_count,
            version: self.version,
        })
    }
}

/// A share, as its creator and its recipient see it: never the key, never
/// the value.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Share {
    /// Share id.
    pub id: String,
    /// The shared secret's id.
    pub secret_id: String,
    /// Its vault.
    pub vault_id: String,
    /// Its path.
    pub path: String,
    /// Its type.
    #[serde(rename = "type")]
    pub secret_type: String,
    /// The pinned version (`null`: the latest when opened).
    pub version: Option<i64>,
    /// `user`, `agent`, `external_email` or `anyone_with_link`.
    pub recipient_type: String,
    /// The recipient user or agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    /// The recipient address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `pending`, `accepted`, `active`, `declined`, `revoked`, `expired` or
    /// `exhausted`.
    #[schema(schema_with = share_status_schema)]
    pub status: String,
    /// How many times it was opened.
    pub access_count: i64,
    /// How many times it may be opened (`null`: until it expires).
    pub max_access_count: Option<i64>,
    /// When it expires.
    pub expires_at: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: String,
    /// When it was last opened.
    pub last_accessed_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

/// A new share: the share, and (for a share opened by key) its key, shown
/// this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShareCreated {
    /// The share.
    #[serde(flatten)]
    pub share: Share,
    /// Where it is opened: `GET` this path.
    pub url: String,
    /// The key that opens it, sent as `X-Share-Key` (external_email and
    /// anyone_with_link shares). Shown once; only its digest is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_key: Option<String>,
}

/// A shared secret's value, as its recipient reads it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedSecretValue {
    /// The value and what it is.
    #[serde(flatten)]
    pub secret: SecretValue,
    /// The share it was read through.
    pub share_id: String,
    /// How many times the share has been opened, this time included.
    pub access_count: i64,
    /// How many times it may be opened.
    pub max_access_count: Option<i64>,
}

fn recipient_type_schema() -> Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(RecipientType::NAMES))
        .description(Some("Who the share goes to."))
        .build()
}

fn share_status_schema() -> Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(ShareStatus::NAMES))
        .build()
}

fn uuid_schema() -> Object {
    cp_http::ids::id_schema("A user's or an agent's id.")
}

fn email_schema() -> Object {
    pattern_string(false, EMAIL_PATTERN, MAX_EMAIL, "An email address.")
}

fn share_expiry_schema() -> Object {
    timestamp_schema(false, "When the share expires (at most 90 days ahead).")
}

fn max_access_schema() -> Object {
    integer_schema(
        false,
        1,
        MAX_ACCESS_LIMIT,
        "How many times the share may be opened.",
    )
}

fn version_schema() -> Object {
    integer_schema(
        false,
        1,
        i64::from(i32::MAX),
        "The version to share (absent: the latest).",
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn now() -> DateTime<Utc> {
        parse_timestamp("2026-12-07T12:00:00Z").unwrap()
    }

    fn body(json: serde_json::Value) -> ShareCreate {
        serde_json::from_value(json).unwrap()
    }

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::Validation { fields, .. } => fields.into_iter().map(|f| f.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    fn state(stored: StoredStatus) -> ShareState {
        ShareState {
            stored,
            revoked: false,
            expires_micros: now().timestamp_micros() + 1_000_000,
            access_count: 0,
            max_access_count: None,
        }
    }

    #[test]
    fn each_recipient_type_takes_exactly_its_own_field() {
        let user = Uuid::now_v7();
        let ok = body(serde_json::json!({"recipientType": "user", "userId": user.to_string()}))
            .validate(now())
            .unwrap();
        assert_eq!(ok.recipient, Recipient::User(user));
        let email = body(
            serde_json::json!({"recipientType": "external_email", "email": "Ada@Example.COM"}),
        )
        .validate(now())
        .unwrap();
        assert_eq!(
            email.recipient,
            Recipient::ExternalEmail("ada@example.com".into())
        );
        let link = body(serde_json::json!({"recipientType": "anyone_with_link"}))
            .validate(now())
            .unwrap();
        assert_eq!(link.recipient, Recipient::AnyoneWithLink);

        let missing = body(serde_json::json!({"recipientType": "user"})).validate(now());
        assert_eq!(fields(missing.unwrap_err()), ["userId"]);
        let stray = body(serde_json::json!({
            "recipientType": "anyone_with_link", "email": "a@b.co", "userId": user.to_string()
        }))
        .validate(now());
        assert_eq!(fields(stray.unwrap_err()), ["userId", "email"]);
        let unknown = body(serde_json::json!({"recipientType": "group"})).validate(now());
        assert_eq!(fields(unknown.unwrap_err()), ["recipientType"]);
        let bad =
            body(serde_json::json!({"recipientType": "agent", "agentId": "x"})).validate(now());
        assert_eq!(fields(bad.unwrap_err()), ["agentId"]);
        let bad = body(serde_json::json!({"recipientType": "external_email", "email": "nope"}))
            .validate(now());
        assert_eq!(fields(bad.unwrap_err()), ["email"]);
    }

    #[test]
    fn a_share_expires_within_ninety_days_and_in_seven_by_default() {
        let link = |extra: serde_json::Value| {
            let mut json = serde_json::json!({"recipientType": "anyone_with_link"});
            json.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body(json).validate(now())
        };
        let default = link(serde_json::json!({})).unwrap();
        assert_eq!(default.expires_at, now() + Duration::days(7));
        let edge = link(serde_json::json!({"expiresAt": "2027-03-07T12:00:00Z"})).unwrap();
        assert_eq!(edge.expires_at, now() + Duration::days(90));
        for bad in [
            "2027-03-07T12:00:01Z",
            "2026-12-07T12:00:00Z",
            "2025-01-01T00:00:00Z",
            "tomorrow",
        ] {
            let err = link(serde_json::json!({"expiresAt": bad})).unwrap_err();
            assert_eq!(fields(err), ["expiresAt"], "{bad}");
        }
        for (field, value) in [
            ("maxAccessCount", 0),
            ("maxAccessCount", 1_000_001),
            ("version", 0),
        ] {
            let err = link(serde_json::json!({ field: value })).unwrap_err();
            assert_eq!(fields(err), [field]);
        }
        let limited = link(serde_json::json!({"maxAccessCount": 5.0, "version": 2})).unwrap();
        assert_eq!(
            (limited.max_access_count, limited.version),
            (Some(5), Some(2))
        );
    }

    #[test]
    fn what_ends_a_share_wins_over_what_its_recipient_said() {
        let at = now().timestamp_micros();
        let mut s = state(StoredStatus::Accepted);
        assert_eq!(s.status(at), ShareStatus::Accepted);
        s.max_access_count = Some(2);
        s.access_count = 2;
        assert_eq!(s.status(at), ShareStatus::Exhausted);
        s.expires_micros = at;
        assert_eq!(s.status(at), ShareStatus::Expired);
        s.stored = StoredStatus::Declined;
        assert_eq!(s.status(at), ShareStatus::Declined);
        s.revoked = true;
        assert_eq!(s.status(at), ShareStatus::Revoked);
        assert_eq!(
            state(StoredStatus::Pending).status(at),
            ShareStatus::Pending
        );
        assert_eq!(state(StoredStatus::Active).status(at), ShareStatus::Active);
    }

    #[test]
    fn only_accepted_and_active_shares_can_be_read() {
        let at = now().timestamp_micros();
        let readable: Vec<_> = [
            StoredStatus::Pending,
            StoredStatus::Accepted,
            StoredStatus::Declined,
            StoredStatus::Active,
        ]
        .into_iter()
        .filter(|s| state(*s).status(at).read_refusal().is_none())
        .collect();
        assert_eq!(readable, [StoredStatus::Accepted, StoredStatus::Active]);
        let code = |status: ShareStatus| match status.read_refusal() {
            Some(ApiError::Refused { status, code, .. }) => (status, code),
            other => panic!("{other:?}"),
        };
        assert_eq!(code(ShareStatus::Pending), (409, "SHARE_NOT_ACCEPTED"));
        assert_eq!(code(ShareStatus::Exhausted), (410, "SHARE_EXHAUSTED"));
        assert_eq!(code(ShareStatus::Revoked), (410, "SHARE_REVOKED"));
        assert_eq!(code(ShareStatus::Expired), (410, "SHARE_EXPIRED"));
        assert_eq!(code(ShareStatus::Declined), (410, "SHARE_DECLINED"));
    }

    #[test]
    fn a_recipient_answers_a_pending_share_once_and_may_drop_an_accepted_one() {
        let at = now().timestamp_micros();
        let pending = state(StoredStatus::Pending);
        assert_eq!(pending.respond(true, at).unwrap(), StoredStatus::Accepted);
        assert_eq!(pending.respond(false, at).unwrap(), StoredStatus::Declined);
        let accepted = state(StoredStatus::Accepted);
        assert_eq!(accepted.respond(false, at).unwrap(), StoredStatus::Declined);
        assert!(matches!(
            accepted.respond(true, at),
            Err(ApiError::Conflict(m)) if m.contains("accepted")
        ));
        assert!(state(StoredStatus::Declined).respond(true, at).is_err());
        assert!(state(StoredStatus::Active).respond(true, at).is_err());
        let mut revoked = state(StoredStatus::Pending);
        revoked.revoked = true;
        assert!(matches!(
            revoked.respond(true, at),
            Err(ApiError::Conflict(m)) if m.contains("revoked")
        ));
        assert!(revoked.revocable().is_err());
        assert!(pending.revocable().is_ok());
        let mut expired = state(StoredStatus::Pending);
        expired.expires_micros = at - 1;
        assert!(expired.respond(true, at).is_err());
    }

    #[test]
    fn share_keys_are_recognised_by_their_form() {
        let key = cp_crypto::new_token(SHARE_KEY_PREFIX).unwrap();
        assert!(is_share_key(&key));
        assert!(!is_share_key(&key[1..]));
        assert!(!is_share_key(&format!("{key}x")));
        assert!(!is_share_key(&key.replace("cpshr_", "cpat__")));
        assert!(!is_share_key(&format!("cpshr_{}", "=".repeat(43))));
    }

    #[test]
    fn named_recipients_accept_first_and_keyed_shares_are_active_at_once() {
        assert_eq!(RecipientType::User.initial_status(), StoredStatus::Pending);
        assert_eq!(RecipientType::Agent.initial_status(), StoredStatus::Pending);
        assert_eq!(
            RecipientType::ExternalEmail.initial_status(),
            StoredStatus::Active
        );
        assert_eq!(
            RecipientType::AnyoneWithLink.initial_status(),
            StoredStatus::Active
        );
        for name in RecipientType::NAMES {
            assert_eq!(RecipientType::parse(name).unwrap().as_str(), name);
        }
    }
}
