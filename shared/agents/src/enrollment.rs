//! Agent self-enrolment, the pure part: what an enrolment request holds,
//! its states and what each state allows. The routes are
//! [`crate::enroll_ops`], the SQL [`crate::enroll_store`].
//!
//! ```text
//!   pending ──approve──► approved ──claim──► claimed
//!      │                    │
//!      └──reject──► rejected   (pending or approved past expiresAt: expired)
//! ```

use cp_http::ids::id_schema;
use cp_http::validate::{pattern_string, Validator, EMAIL_PATTERN};
use cp_http::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder};
use utoipa::openapi::Type;
use utoipa::ToSchema;

use crate::model::{AGENT_NAME_PATTERN, MAX_DESCRIPTION_CHARS, MAX_NAME};

/// Prefix of claim tokens.
pub const CLAIM_TOKEN_PREFIX: &str = "cpenr_";
/// How long an enrolment may wait to be decided and claimed.
pub const ENROLLMENT_DAYS: i64 = 7;

/// Where an enrolment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollmentStatus {
    /// Waiting for an owner or admin.
    Pending,
    /// Approved: the agent exists; its key waits to be claimed.
    Approved,
    /// Rejected.
    Rejected,
    /// The agent collected its key.
    Claimed,
    /// Pending or approved past its expiry (never stored: derived).
    Expired,
}

impl EnrollmentStatus {
    /// Every stored status name.
    pub const STORED: [&'static str; 4] = ["pending", "approved", "rejected", "claimed"];

    /// The name clients see.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Claimed => "claimed",
            Self::Expired => "expired",
        }
    }

    /// The status of a row stored as `stored`, `expired` past its expiry.
    pub fn of(stored: &str, expired: bool) -> Option<Self> {
        let status = match stored {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "rejected" => Self::Rejected,
            "claimed" => Self::Claimed,
            _ => return None,
        };
        Some(match status {
            Self::Pending | Self::Approved if expired => Self::Expired,
            other => other,
        })
    }

    /// A 409 unless an owner or admin may decide it now (it is pending).
    pub fn decidable(self) -> Result<(), ApiError> {
        match self {
            Self::Pending => Ok(()),
            other => Err(ApiError::Refused {
                status: 409,
                code: "ENROLLMENT_NOT_PENDING",
                message: format!("the enrolment is {}, not pending", other.as_str()),
            }),
        }
    }

    /// Why the enrolling agent cannot collect its key now, if it cannot.
    pub fn claim_refusal(self) -> Option<ApiError> {
        let (status, code, message) = match self {
            Self::Approved => return None,
            Self::Pending => (
                409,
                "ENROLLMENT_PENDING",
                "the enrolment waits for an owner or admin of the organisation; try again later",
            ),
            Self::Rejected => (410, "ENROLLMENT_REJECTED", "the enrolment was rejected"),
            Self::Claimed => (
                410,
                "ENROLLMENT_CLAIMED",
                "the agent's key was already collected; an owner or admin can rotate it",
            ),
            Self::Expired => (
                410,
                "ENROLLMENT_EXPIRED",
                "the enrolment expired; enrol again",
            ),
        };
        Some(ApiError::Refused {
            status,
            code,
            message: message.into(),
        })
    }
}

/// Body of `POST /agents/enroll`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrollmentRequest {
    /// The organisation the agent asks to join.
    #[schema(schema_with = org_id_schema)]
    pub org_id: String,
    /// The name it asks for: 1-64 letters, digits, `.`, `_`, `-`.
    #[schema(schema_with = crate::model::name_schema)]
    pub name: String,
    /// What it is for: at most 1024 characters, no control characters.
    #[serde(default)]
    #[schema(schema_with = crate::model::description_schema)]
    pub description: Option<String>,
    /// The owner or admin of the organisation who should approve it.
    #[schema(schema_with = email_schema)]
    pub approver_email: String,
    /// The scopes it asks for (`vaults:read`, `vaults:write`); the approver
    /// decides. `["vaults:read"]` when absent.
    #[serde(default, deserialize_with = "cp_http::json::present")]
    #[schema(schema_with = crate::model::scopes_schema)]
    pub scopes: Option<Vec<String>>,
}

/// A validated [`EnrollmentRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEnrollment {
    /// Canonical organisation id.
    pub org_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// The approver's email, normalised (trimmed, lower case).
    pub approver_email: String,
    /// Requested scopes, without repeats.
    pub scopes: Vec<String>,
}

impl EnrollmentRequest {
    /// Checks every field, naming each bad one.
    pub fn validate(self) -> Result<ValidEnrollment, ApiError> {
        let mut v = Validator::new();
        let org_id = cp_http::ids::parse_id(&self.org_id);
        if let Err(msg) = &org_id {
            v.error("orgId", msg.clone());
        }
        crate::model::check_name(&mut v, &self.name);
        v.text(
            "description",
            self.description.as_deref(),
            MAX_DESCRIPTION_CHARS,
        );
        let approver_email = self.approver_email.trim().to_lowercase();
        v.email("approverEmail", &approver_email);
        let scopes = crate::model::check_scopes(
            &mut v,
            self.scopes.unwrap_or_else(|| vec!["vaults:read".into()]),
        );
        v.finish()?;
        Ok(ValidEnrollment {
            org_id: org_id.map(|id| id.to_string()).unwrap_or_default(),
            name: self.name,
            description: self.description,
            approver_email,
            scopes,
        })
    }
}

/// An enrolment as its organisation's members see it (never the claim
/// token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    /// Enrolment id.
    pub id: String,
    /// The organisation.
    pub org_id: String,
    /// The name the agent asked for.
    pub name: String,
    /// What it says it is for.
    pub description: Option<String>,
    /// Who it asked to approve it.
    pub approver_email: String,
    /// The scopes it asked for.
    pub requested_scopes: Vec<String>,
    /// `pending`, `approved`, `rejected`, `claimed` or `expired`.
    #[schema(schema_with = status_schema)]
    pub status: String,
    /// The agent made by the approval.
    pub agent_id: Option<String>,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    /// When (RFC 3339).
    pub decided_at: Option<String>,
    /// The reason given with a rejection.
    pub reason: Option<String>,
    /// Until when it can be decided and claimed (RFC 3339).
    pub expires_at: String,
    /// RFC 3339.
    pub created_at: String,
}

/// The answer to `POST /agents/enroll`: the enrolment and the token that
/// collects the agent's key once it is approved, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentReceipt {
    /// Enrolment id.
    pub id: String,
    /// `pending`.
    pub status: &'static str,
    /// Until when it can be decided and claimed (RFC 3339).
    pub expires_at: String,
    /// The claim token (`cpenr_…`): send it to
    /// `POST /agents/enroll/{id}/claim` once approved. Stored only as a
    /// SHA-256 digest; never shown again.
    pub claim_token: String,
}

/// Body of `POST /agents/enrollments/{enrollmentId}/approve`: what the
/// approver decides the agent gets (the request's name and scopes when
/// absent).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrollmentApproval {
    /// The agent's name.
    #[serde(default)]
    #[schema(schema_with = optional_name_schema)]
    pub name: Option<String>,
    /// Its scopes.
    #[serde(default, deserialize_with = "cp_http::json::present")]
    #[schema(schema_with = crate::model::scopes_schema)]
    pub scopes: Option<Vec<String>>,
    /// Vaults of the organisation it may use (none when absent).
    #[serde(default, deserialize_with = "cp_http::json::present")]
    #[schema(schema_with = crate::model::vault_ids_schema)]
    pub vault_ids: Option<Vec<String>>,
    /// Lifetime of its tokens, 60 to 86400 seconds (3600 when absent).
    #[serde(default, deserialize_with = "cp_http::json::opt_whole_number")]
    #[schema(schema_with = crate::model::ttl_schema)]
    pub token_ttl_seconds: Option<i64>,
    /// Whether it uses the intents API.
    #[serde(default)]
    pub intents_api_enabled: Option<bool>,
}

/// Body of `POST /agents/enrollments/{enrollmentId}/reject`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrollmentRejection {
    /// Why (at most 1024 characters, no control characters).
    #[serde(default)]
    #[schema(schema_with = crate::model::description_schema)]
    pub reason: Option<String>,
}

impl EnrollmentRejection {
    /// Checks the reason.
    pub fn validate(self) -> Result<Option<String>, ApiError> {
        let mut v = Validator::new();
        v.text("reason", self.reason.as_deref(), MAX_DESCRIPTION_CHARS);
        v.finish()?;
        Ok(self.reason)
    }
}

/// Body of `POST /agents/enroll/{enrollmentId}/claim`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrollmentClaim {
    /// The claim token `POST /agents/enroll` answered.
    #[schema(schema_with = claim_token_schema)]
    pub claim_token: String,
}

/// The agent's credentials, collected by the enrolling agent.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimedAgent {
    /// The agent's id.
    pub agent_id: String,
    /// Its organisation.
    pub org_id: String,
    /// Its API key (`cpag_…`), shown this once: exchange it at
    /// `POST /auth/agent-token`.
    pub api_key: String,
}

fn org_id_schema() -> Object {
    id_schema("The organisation's id.")
}

fn optional_name_schema() -> Object {
    let mut s = pattern_string(true, AGENT_NAME_PATTERN, MAX_NAME, "Agent name.");
    s.min_length = Some(1);
    s
}

fn email_schema() -> Object {
    pattern_string(false, EMAIL_PATTERN, 254, "An email address.")
}

fn claim_token_schema() -> Object {
    pattern_string(
        false,
        "^cpenr_[A-Za-z0-9_-]{43}$",
        49,
        "A claim token (cpenr_ and 43 base64url characters).",
    )
}

fn status_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([
            "pending", "approved", "rejected", "claimed", "expired",
        ]))
        .build()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;
    use EnrollmentStatus::*;

    #[test]
    fn only_a_pending_enrolment_is_decided_and_only_an_approved_one_claimed() {
        assert!(Pending.decidable().is_ok());
        for s in [Approved, Rejected, Claimed, Expired] {
            let e = s.decidable().unwrap_err();
            assert_eq!(
                (e.status(), e.code()),
                (409, "ENROLLMENT_NOT_PENDING".into())
            );
            assert!(e.message().contains(s.as_str()), "{e}");
        }
        assert!(Approved.claim_refusal().is_none());
        let codes: Vec<(u16, String)> = [Pending, Rejected, Claimed, Expired]
            .into_iter()
            .map(|s| {
                let e = s.claim_refusal().unwrap();
                (e.status(), e.code())
            })
            .collect();
        assert_eq!(
            codes,
            [
                (409, "ENROLLMENT_PENDING".into()),
                (410, "ENROLLMENT_REJECTED".into()),
                (410, "ENROLLMENT_CLAIMED".into()),
                (410, "ENROLLMENT_EXPIRED".into()),
            ]
        );
    }

    #[test]
    fn expiry_applies_to_what_is_still_open() {
        assert_eq!(EnrollmentStatus::of("pending", true), Some(Expired));
        assert_eq!(EnrollmentStatus::of("approved", true), Some(Expired));
        assert_eq!(EnrollmentStatus::of("rejected", true), Some(Rejected));
        assert_eq!(EnrollmentStatus::of("claimed", true), Some(Claimed));
        assert_eq!(EnrollmentStatus::of("pending", false), Some(Pending));
        assert_eq!(EnrollmentStatus::of("other", false), None);
        for stored in EnrollmentStatus::STORED {
            assert_eq!(
                EnrollmentStatus::of(stored, false).unwrap().as_str(),
                stored
            );
        }
    }

    #[test]
    fn a_request_names_each_bad_field_and_normalises_the_approver() {
        let ok = serde_json::from_value::<EnrollmentRequest>(json!({
            "orgId": "0190a000-0000-7000-8000-000000000001", "name": "ci-bot",
            "approverEmail": "Ops@Example.COM",
        }))
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!(ok.approver_email, "ops@example.com");
        assert_eq!(ok.scopes, ["vaults:read"]);
        let err = serde_json::from_value::<EnrollmentRequest>(json!({
            "orgId": "x", "name": "", "approverEmail": "nobody", "scopes": ["*"],
        }))
        .unwrap()
        .validate()
        .unwrap_err();
        let fields: Vec<&str> = err
            .field_errors()
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["orgId", "name", "approverEmail", "scopes[0]"]);
    }
}
