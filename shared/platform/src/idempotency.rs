//! `Idempotency-Key` on mutations: the same key from the same principal with
//! the same request replays the stored status and body (with
//! `Idempotency-Replayed: true`); the same key with a different request is a
//! 422. Keys live 24 hours. Only authenticated callers get replays: every
//! anonymous caller is the same principal, so on public routes the header
//! is validated and otherwise ignored (a retry runs again).
//!
//! The first request claims the key (a `pending` row) before running, so two
//! concurrent requests with one key cannot both run: the second gets a 409
//! while the first is in flight. A response is stored only when it is final
//! for the client (2xx and 4xx); after a 5xx the claim is released so the
//! client's retry runs again.
//!
//! Responses that show a secret once (routes marked
//! [`cp_http::Route::shows_secret`]: a token, key, JWT or TOTP secret) are
//! never stored in plaintext: a successful one is sealed with AES-256-GCM
//! under the `secrets_key` master key, bound to the principal and key. When
//! no usable `secrets_key` is configured, such a response is not stored at
//! all (the claim is released), so a retry with the same key runs again.
//! A sealed response that no longer opens (the key changed) is likewise
//! dropped and the retry runs again.

use cp_crypto::{MacKey, MasterKey, Sealed};
use cp_http::{ApiError, ApiRequest, ApiResponse};
use cp_store::{Database, Value};

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

/// Fingerprint of the request the key was used with: a keyed digest
/// ([`fingerprint_key`]), since bodies may hold passwords (signup, login)
/// that a plain hash would expose to offline guessing.
fn request_hash(req: &ApiRequest, key: &MacKey) -> String {
    key.digest(&[
        req.method.as_str().as_bytes(),
        req.path.as_bytes(),
        req.query.as_bytes(),
        &req.body,
    ])
}

/// The key of request fingerprints: derived from `secrets_key` when one is
/// configured, else from the operator token (`api_token`, a required
/// variable). Changing it only makes a key reused within 24 h look like a
/// different request (422).
pub fn fingerprint_key(master: Option<&MasterKey>, api_token: Option<&str>) -> MacKey {
    const PURPOSE: &str = "idempotency-fingerprint";
    match master {
        Some(m) => m.mac_key(PURPOSE),
        None => MacKey::derive(api_token.unwrap_or_default().as_bytes(), PURPOSE),
    }
}

/// What binds a sealed replay to its principal and key.
fn sealed_aad(principal: &str, key: &str) -> Vec<u8> {
    let mut aad = b"cp/idempotency-replay/v1/".to_vec();
    for part in [principal, key] {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

/// Claims `key` for `principal`, or returns the stored outcome. `master`
/// opens a sealed stored response.
pub async fn claim<D: Database>(
    db: &D,
    principal: &str,
    key: &str,
    req: &ApiRequest,
    master: Option<&MasterKey>,
    fingerprint: &MacKey,
) -> Result<Claim, Failure> {
    let hash = request_hash(req, fingerprint);
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
            "SELECT request_hash, state, status, headers, body, body_nonce FROM idempotency_keys
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
    let stored = row.bytes("body")?;
    let body = match row.value("body_nonce")? {
        Value::Bytes(nonce) => {
            let sealed = Sealed {
                nonce: nonce.clone(),
                ciphertext: stored,
            };
            match master.map(|k| k.open(&sealed, &sealed_aad(principal, key))) {
                Some(Ok(plain)) => plain,
                // Not replayable any more: forget it and run the request again.
                _ => return reclaim(db, principal, key).await,
            }
        }
        _ => stored,
    };
    let mut resp = ApiResponse {
        status,
        headers: Vec::new(),
        body,
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

/// A stored response that cannot be replayed (sealed under a key this
/// component no longer has) goes back to `pending` for this request to run
/// again; a concurrent request doing the same gets the usual 409.
async fn reclaim<D: Database>(db: &D, principal: &str, key: &str) -> Result<Claim, Failure> {
    let reset = db
        .execute(
            "UPDATE idempotency_keys
             SET state = 'pending', status = NULL, headers = NULL, body = NULL, body_nonce = NULL
             WHERE principal = $1 AND key = $2 AND state = 'done'",
            &[principal.into(), key.into()],
        )
        .await?;
    if reset != 1 {
        return Err(ApiError::Conflict(
            "a request with this Idempotency-Key is still being processed; retry shortly".into(),
        )
        .into());
    }
    Ok(Claim::Run(Key {
        principal: principal.to_owned(),
        key: key.to_owned(),
    }))
}

/// Stores the final response for replays; with `seal`, its body is stored
/// sealed under that key (responses showing a secret).
pub async fn complete<D: Database>(
    db: &D,
    key: &Key,
    resp: &ApiResponse,
    seal: Option<&MasterKey>,
) -> Result<(), Failure> {
    let headers: serde_json::Map<String, serde_json::Value> = REPLAYED_HEADERS
        .iter()
        .filter_map(|h| resp.header(h).map(|v| ((*h).to_owned(), v.into())))
        .collect();
    let (body, nonce) = match seal {
        None => (resp.body.clone(), Value::Null),
        Some(master) => {
            let sealed = master
                .seal(&resp.body, &sealed_aad(&key.principal, &key.key))
                .map_err(|e| {
                    Failure::with_cause(ApiError::Internal, format!("sealing a replay: {e}"))
                })?;
            (sealed.ciphertext, Value::Bytes(sealed.nonce))
        }
    };
    db.execute(
        "UPDATE idempotency_keys SET state = 'done', status = $3, headers = $4, body = $5,
             body_nonce = $6
         WHERE principal = $1 AND key = $2",
        &[
            key.principal.as_str().into(),
            key.key.as_str().into(),
            Value::Int(i64::from(resp.status)),
            Value::Json(headers.into()),
            Value::Bytes(body),
            nonce,
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
    fn a_sealed_replay_is_bound_to_its_principal_and_key() {
        assert_ne!(sealed_aad("ab", "c"), sealed_aad("a", "bc"));
        assert_ne!(sealed_aad("user:1", "k"), sealed_aad("user:2", "k"));
        let master = MasterKey::from_bytes(&[5; 32]).unwrap();
        let sealed = master
            .seal(b"{\"token\":1}", &sealed_aad("p", "k"))
            .unwrap();
        assert!(master.open(&sealed, &sealed_aad("p", "k")).is_ok());
        assert!(master.open(&sealed, &sealed_aad("q", "k")).is_err());
    }

    #[test]
    fn hash_depends_on_every_part_and_the_key() {
        let k = fingerprint_key(None, Some("operator-token"));
        let hash = |r: &ApiRequest| request_hash(r, &k);
        let base = ApiRequest::new(Method::Post, "/a?x=1").with_body("{}");
        let h = hash(&base);
        assert_eq!(h, hash(&base.clone()));
        for other in [
            ApiRequest::new(Method::Put, "/a?x=1").with_body("{}"),
            ApiRequest::new(Method::Post, "/b?x=1").with_body("{}"),
            ApiRequest::new(Method::Post, "/a?x=2").with_body("{}"),
            ApiRequest::new(Method::Post, "/a?x=1").with_body("{ }"),
        ] {
            assert_ne!(h, hash(&other));
        }
        // Another server secret, another fingerprint: not guessable offline.
        let master = MasterKey::from_bytes(&[7; 32]).unwrap();
        assert_ne!(
            h,
            request_hash(
                &base,
                &fingerprint_key(Some(&master), Some("operator-token"))
            )
        );
        assert_ne!(
            h,
            request_hash(&base, &fingerprint_key(None, Some("another")))
        );
    }
}
