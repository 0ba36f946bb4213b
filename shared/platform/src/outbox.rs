//! The notification outbox: mail the platform owes someone (a secret shared
//! with an external address, later an agent's enrolment request), written
//! in the same transaction as the change it announces, so a notification
//! exists exactly when its change does. Delivery is a separate sender's
//! job (it sets `sent_at`). A notification never holds a secret: callers
//! put only ids, names and links that need a credential of their own.

use cp_store::{Database, DbError, Value};

/// One notification waiting to be sent.
#[derive(Debug, Clone)]
pub struct Notification {
    /// What it announces (`vault.share`).
    pub kind: &'static str,
    /// Who gets it: an email address.
    pub recipient: String,
    /// What the message says, as data (the sender renders it).
    pub payload: serde_json::Value,
}

impl Notification {
    /// Writes the notification (call inside the change's transaction),
    /// tagged with the request that caused it.
    pub async fn write<D: Database>(&self, db: &D, request_id: &str) -> Result<(), DbError> {
        db.execute(
            "INSERT INTO notification_outbox (id, kind, recipient, payload, request_id)
             VALUES ($1::text::uuid, $2, $3, $4, $5)",
            &[
                Value::Text(uuid::Uuid::now_v7().to_string()),
                self.kind.into(),
                self.recipient.as_str().into(),
                Value::Json(self.payload.clone()),
                request_id.into(),
            ],
        )
        .await?;
        Ok(())
    }
}
