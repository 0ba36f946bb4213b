//! The audit trail: every mutation writes an [`AuditEntry`] in the same
//! database transaction as the change it records, so there is never a change
//! without its entry or an entry without its change. Entries never hold
//! secrets: callers put only names and non-secret fields in `detail`.

use cp_store::{Database, DbError, Value};

/// Whether the audited action took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The change was made.
    Success,
    /// The change was refused or failed.
    Failure,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// One audit record.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Who acted (`operator`, later user/token ids).
    pub actor: String,
    /// The operation id (`createTenant`).
    pub action: String,
    /// Kind of the resource (`tenant`).
    pub resource_kind: String,
    /// Its name or id.
    pub resource_name: String,
    /// The tenant concerned, when there is one.
    pub tenant: Option<String>,
    /// The request id.
    pub request_id: String,
    /// Success or failure.
    pub outcome: Outcome,
    /// Non-secret details (changed fields, error code).
    pub detail: serde_json::Value,
}

impl AuditEntry {
    /// Sets the tenant.
    pub fn tenant(mut self, tenant: &str) -> Self {
        self.tenant = Some(tenant.to_owned());
        self
    }

    /// Sets who acted, where the request's principal does not say it (a
    /// public route whose caller proved who they are with a token or key).
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    /// Sets the detail.
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    /// Marks the entry as a failure.
    pub fn failed(mut self) -> Self {
        self.outcome = Outcome::Failure;
        self
    }

    /// Writes the entry (call inside the change's transaction).
    pub async fn write<D: Database>(&self, db: &D) -> Result<(), DbError> {
        db.execute(
            "INSERT INTO audit_log (id, actor, action, resource_kind, resource_name, tenant, request_id, outcome, detail)
             VALUES ($1::text::uuid, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                Value::Text(uuid::Uuid::now_v7().to_string()),
                self.actor.as_str().into(),
                self.action.as_str().into(),
                self.resource_kind.as_str().into(),
                self.resource_name.as_str().into(),
                self.tenant.clone().into(),
                self.request_id.as_str().into(),
                self.outcome.as_str().into(),
                Value::Json(self.detail.clone()),
            ],
        )
        .await?;
        Ok(())
    }
}
