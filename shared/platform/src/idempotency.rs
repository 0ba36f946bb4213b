//! `Idempotency-Key` on mutations: the same key from the same principal with
//! the same request replays the stored status and body (with
//! `Idempotency-Replayed: true`); the same key with a different request is a
//! 422. Keys live 24 hours.
//!
//! The first request claims the key (a `pending` row) before running, so two
//! concurrent requests with one key cannot both run: the second gets a 409
//! while the first is in flight. A response is stored only when it is final
//! for the client (2xx and 4xx); after a 5xx the claim is released so the
//! client's retry runs again.

use cp_http::{ApiError, ApiRequest, ApiResponse};
use cp_store::{Database, Value};
use sha2::{Digest, Sha256};

use crate::Failure;

/// Header names whose values are stored with a replayable response.
const REPLAYED_HEADERS: &[&str] = &["content-type", "etag", "location"];

/// What to do with a mutation that carries a key.
#[derive(Debug)]
pub enum Claim {
    /// First use: run the request, then [`complete`] or [`release`].
    Run(Key),
    /// Seen before with the same request: send this stored response.
    Replay(ApiResponse),
}

/// A claimed key.
#[derive(Debug, Clone)]
pub struct Key {
    principal: String,
    key: String,
}

/// Reads and validates the `Idempotency-Key` header.
pub fn key_from(req: &ApiRequest) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.header("idempotency-key") else {
        return Ok(None);
    };
    let ok = !raw.is_empty() && raw.len() <= 255 && raw.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(raw.to_owned()))
}

/// Fingerprint of the request the key was used with.
fn request_hash(req: &ApiRequest) -> String {
    let mut h = Sha256::new();
    for part in [
        req.method.as_str().as_bytes(),
        req.path.as_bytes(),
        req.query.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(&req.body);
    hex::encode(h.finalize())
}

/// Claims `key` for `principal`, or returns the stored outcome.
pub async fn claim<D: Database>(
    db: &D,
    principal: &str,
    key: &str,
    req: &ApiRequest,
) -> Result<Claim, Failure> {
    let hash = request_hash(req);
    // Expired keys are reusable; sweep a few on the way so the table stays
    // small without a background job.
    db.execute(
        "DELETE FROM idempotency_keys WHERE (principal, key) IN
           (SELECT principal, key FROM idempotency_keys WHERE expires_at < now() LIMIT 20)",
        &[],
    )
    .await?;
    let inserted = db
        .execute(
            "INSERT INTO idempotency_keys (principal, key, request_hash, state, expires_at)
             VALUES ($1, $2, $3, 'pending', now() + interval '24 hours')
             ON CONFLICT (principal, key) DO NOTHING",
            &[principal.into(), key.into(), hash.as_str().into()],
        )
        .await?;
    if inserted == 1 {
        return Ok(Claim::Run(Key {
            principal: principal.to_owned(),
            key: key.to_owned(),
        }));
    }
    let Some(row) = db
        .query_opt(
            "SELECT request_hash, state, status, headers, body FROM idempotency_keys
             WHERE principal = $1 AND key = $2",
            &[principal.into(), key.into()],
        )
        .await?
    else {
        // Released between our insert and select: the client may retry.
        return Err(ApiError::Conflict(
            "a request with this Idempotency-Key is being processed; retry shortly".into(),
        )
        .into());
    };
    if row.text("request_hash")? != hash {
        return Err(ApiError::IdempotencyKeyReused.into());
    }
    if row.text("state")? != "done" {
        return Err(ApiError::Conflict(
            "a request with this Idempotency-Key is still being processed; retry shortly".into(),
        )
        .into());
    }
    let status = u16::try_from(row.i64("status")?).unwrap_or(500);
    let mut resp = ApiResponse {
        status,
        headers: Vec::new(),
        body: row.bytes("body")?,
    };
    if let serde_json::Value::Object(map) = row.json("headers")? {
        for (k, v) in map {
            if let Some(v) = v.as_str() {
                resp.set_header(&k, v);
            }
        }
    }
    resp.set_header("idempotency-replayed", "true");
    Ok(Claim::Replay(resp))
}

/// Stores the final response for replays.
pub async fn complete<D: Database>(db: &D, key: &Key, resp: &ApiResponse) -> Result<(), Failure> {
    let headers: serde_json::Map<String, serde_json::Value> = REPLAYED_HEADERS
        .iter()
        .filter_map(|h| resp.header(h).map(|v| ((*h).to_owned(), v.into())))
        .collect();
    db.execute(
        "UPDATE idempotency_keys SET state = 'done', status = $3, headers = $4, body = $5
         WHERE principal = $1 AND key = $2",
        &[
            key.principal.as_str().into(),
            key.key.as_str().into(),
            Value::Int(i64::from(resp.status)),
            Value::Json(headers.into()),
            Value::Bytes(resp.body.clone()),
        ],
    )
    .await?;
    Ok(())
}

/// Releases a claim after a server-side failure, so a retry runs again.
pub async fn release<D: Database>(db: &D, key: &Key) -> Result<(), Failure> {
    db.execute(
        "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND state = 'pending'",
        &[key.principal.as_str().into(), key.key.as_str().into()],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cp_http::Method;

    #[test]
    fn validates_keys() {
        let req = |v: &str| ApiRequest::new(Method::Post, "/").with_header("idempotency-key", v);
        assert_eq!(
            key_from(&req("abc-1")).ok().flatten().as_deref(),
            Some("abc-1")
        );
        assert!(key_from(&req("has space")).is_err());
        assert!(key_from(&req(&"k".repeat(256))).is_err());
        assert_eq!(
            key_from(&ApiRequest::new(Method::Post, "/")).ok(),
            Some(None)
        );
    }

    #[test]
    fn hash_depends_on_every_part() {
        let base = ApiRequest::new(Method::Post, "/a?x=1").with_body("{}");
        let h = request_hash(&base);
        assert_eq!(h, request_hash(&base.clone()));
        assert_ne!(
            h,
            request_hash(&ApiRequest::new(Method::Put, "/a?x=1").with_body("{}"))
        );
        assert_ne!(
            h,
            request_hash(&ApiRequest::new(Method::Post, "/b?x=1").with_body("{}"))
        );
        assert_ne!(
            h,
            request_hash(&ApiRequest::new(Method::Post, "/a?x=2").with_body("{}"))
        );
        assert_ne!(
            h,
            request_hash(&ApiRequest::new(Method::Post, "/a?x=1").with_body("{ }"))
        );
    }
}
