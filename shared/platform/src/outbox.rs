//! The notification outbox: mail the platform owes someone (a secret shared
//! with an external address, later an agent's enrolment request), written
//! in the same transaction as the change it announces, so a notification
//! exists exactly when its change does. Delivery is a separate sender's
//! job (it sets `sent_at`). The payload never holds a secret: callers put
//! only ids, names and links there. A message that must carry one (an
//! email verification token) stores it sealed ([`Notification::write_with_secret`]):
//! AES-256-GCM under the `secrets_key` master key, bound to the row, so
//! only a sender holding that key can open it.

use cp_crypto::MasterKey;
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
        let id = uuid::Uuid::now_v7().to_string();
        self.insert(db, request_id, id, Value::Null).await
    }

    /// Writes the notification with `secret` sealed under `key`: the
    /// `sealed` column holds nonce (12 bytes) || ciphertext || tag, with
    /// [`sealed_aad`] of the row's id as associated data.
    pub async fn write_with_secret<D: Database>(
        &self,
        db: &D,
        request_id: &str,
        secret: &str,
        key: &MasterKey,
    ) -> Result<(), crate::Failure> {
        let id = uuid::Uuid::now_v7().to_string();
        let sealed = key.seal(secret.as_bytes(), &sealed_aad(&id)).map_err(|e| {
            crate::Failure::with_cause(
                cp_http::ApiError::Internal,
                format!("sealing an outbox secret: {e}"),
            )
        })?;
        let mut bytes = sealed.nonce;
        bytes.extend(sealed.ciphertext);
        Ok(self.insert(db, request_id, id, Value::Bytes(bytes)).await?)
    }

    async fn insert<D: Database>(
        &self,
        db: &D,
        request_id: &str,
        id: String,
        sealed: Value,
    ) -> Result<(), DbError> {
        db.execute(
            "INSERT INTO notification_outbox (id, kind, recipient, payload, request_id, sealed)
             VALUES ($1::text::uuid, $2, $3, $4, $5, $6)",
            &[
                Value::Text(id),
                self.kind.into(),
                self.recipient.as_str().into(),
                Value::Json(self.payload.clone()),
                request_id.into(),
                sealed,
            ],
        )
        .await?;
        Ok(())
    }
}

/// The associated data of outbox row `id`'s sealed secret.
pub fn sealed_aad(id: &str) -> Vec<u8> {
    format!("cp/outbox/v1/{id}").into_bytes()
}
