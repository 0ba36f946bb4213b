//! Client-side customer-managed keys (CMEK), as the seed's vault does it:
//! the client encrypts values with its own 32-byte key before sending
//! them (`crate::cmek`'s documented format); the server keeps only the
//! key's SHA-256 fingerprint and stores the client's ciphertext inside its
//! own envelope. The key itself reaches the server only for a rotation, in
//! two headers, held in memory for that request.
//!
//! A rotation re-encrypts every version under the old key in batches of
//! [`BATCH`], each batch in its own transaction (a version's bytes and the
//! fingerprint of the key that opens them change together). A rotation
//! that stops part-way (the request dies, the database fails) leaves every
//! version readable with one of the two keys, its fingerprint saying which,
//! and the same request again resumes where it stopped.

use cp_http::ids::{id_param, new_id, path_id};
use cp_http::json::parse_body;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, PathParams};
use cp_macros::operation;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::transaction;
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::Required;
use utoipa::IntoParams;

use crate::access::vault_access;
use crate::api::{crypto_failure, vault_id};
use crate::cmek::{CmekCipher, CmekKey, Fingerprint, NEW_KEY_HEADER, OLD_KEY_HEADER};
use crate::envelope::EncryptedVersion;
use crate::path::SecretPath;
use crate::secrets::{vault_key, version_ref};
use crate::store;
use crate::views::{CmekFingerprintBody, CmekJob, Vault};

/// Versions re-encrypted per transaction.
pub(crate) const BATCH: i64 = 100;

/// `{vaultId}` and `{jobId}`, for the OpenAPI document.
pub(crate) struct JobPath;

impl IntoParams for JobPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            id_param("vaultId", "Vault id"),
            id_param("jobId", "Rotation job id"),
        ]
    }
}

/// The two customer keys of a rotation, for the OpenAPI document.
pub(crate) struct CmekKeyHeaders;

impl IntoParams for CmekKeyHeaders {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let header = |name: &str, description: &str| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(Required::True)
                .description(Some(description))
                .schema(Some(cp_http::validate::pattern_string(
                    false,
                    "^[A-Za-z0-9+/]{43}=$",
                    44,
                    "A 32-byte key in standard base64 with padding.",
                )))
                .build()
        };
        vec![
            header(OLD_KEY_HEADER, "The current customer key (base64)."),
            header(NEW_KEY_HEADER, "The new customer key (base64)."),
        ]
    }
}

fn fingerprint(body: &CmekFingerprintBody) -> Result<Fingerprint, ApiError> {
    Fingerprint::parse(&body.fingerprint).map_err(ApiError::from)
}

#[operation(post, "/api/v1/vaults/{vaultId}/cmek", id = "enableVaultCmek", callers = users, kind = "vault",
    tag = "vaults",
    summary = "Turn on client-side CMEK: values are encrypted by the clients with their key",
    description = "Owners and admins. Only the key's SHA-256 fingerprint is sent and stored, \
        never the key. From then on every secret written must be the client's ciphertext \
        (standard base64 of a 12-byte nonce, the AES-256-GCM ciphertext and its 16-byte tag; \
        anything else is a 400 naming `value`); the server seals it in its own envelope too, \
        and reads return it as it came, with the fingerprint of the key that opens it. A vault \
        with CMEK already on is a 409: rotate instead.",
    request_body = CmekFingerprintBody,
    params(crate::api::VaultPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Vault>, headers(("ETag" = String)))))]
pub(crate) async fn enable_cmek<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let vault = vault_id(params)?;
    let fp = fingerprint(&parse_body::<CmekFingerprintBody>(req)?)?.to_string();
    let row = transaction(ctx.db(), async |db| {
        let access = vault_access(ctx, req, &vault, true).await?;
        access.require_manager()?;
        cp_http::etag::check_if_match(req, &access.vault.etag())?;
        if access.vault.view.cmek_fingerprint.is_some() {
            return Err(ApiError::Conflict(
                "CMEK is already on for this vault: rotate to another key instead".into(),
            )
            .into());
        }
        store::set_cmek(db, &vault, Some(&fp)).await?;
        ctx.audit("vault", &vault)
            .detail(json!({"cmek": "enabled", "fingerprint": fp}))
            .write(db)
            .await?;
        store::vault(db, &vault, false).await
    })
    .await?;
    Ok(ctx.ok(&row.view).with_etag(row.etag()))
}

#[operation(delete, "/api/v1/vaults/{vaultId}/cmek", id = "disableVaultCmek", callers = users, kind = "vault",
    tag = "vaults",
    summary = "Turn off client-side CMEK: new secrets use server-side encryption alone",
    description = "Owners and admins. Secrets written under CMEK stay as they are: readable only \
        with the customer's key (each read names its fingerprint). A vault without CMEK is a \
        409.",
    params(crate::api::VaultPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 204, description = "Turned off")))]
pub(crate) async fn disable_cmek<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let vault = vault_id(params)?;
    transaction(ctx.db(), async |db| {
        let access = vault_access(ctx, req, &vault, true).await?;
        access.require_manager()?;
        cp_http::etag::check_if_match(req, &access.vault.etag())?;
        if access.vault.view.cmek_fingerprint.is_none() {
            return Err(ApiError::Conflict("CMEK is not on for this vault".into()).into());
        }
        if store::active_job(db, &vault).await?.is_some() {
            return Err(ApiError::Conflict(
                "a CMEK rotation of this vault is unfinished: resume it first".into(),
            )
            .into());
        }
        store::set_cmek(db, &vault, None).await?;
        ctx.audit("vault", &vault)
            .detail(json!({"cmek": "disabled"}))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}

#[operation(post, "/api/v1/vaults/{vaultId}/cmek-rotate", id = "rotateVaultCmek", callers = users, kind = "vault",
    tag = "vaults",
    summary = "Rotate the customer key: re-encrypt every CMEK secret from the old key to the new one",
    description = "Owners and admins. The old and new keys come in the `x-cmek-old-key` and \
        `x-cmek-new-key` headers (standard base64, 32 bytes), the new key's fingerprint in the \
        body; the old key must match the vault's fingerprint and the new one the body's (a 400 \
        naming the header otherwise). The keys are held in memory for this request only. \
        Versions are re-encrypted in batches of 100, each batch in its own transaction; the \
        answer is the job, `completed` once every version is under the new key. A rotation that \
        stopped part-way (the request died, the database failed) resumes when the same keys are \
        sent again; every version stays readable with one of the two keys meanwhile. A \
        rotation to other keys while one is unfinished is a 409.",
    request_body = CmekFingerprintBody,
    params(crate::api::VaultPath, CmekKeyHeaders, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<CmekJob>)))]
pub(crate) async fn rotate_cmek<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let vault = vault_id(params)?;
    // Who may rotate is decided before the keys are even looked at.
    vault_access(ctx, req, &vault, false)
        .await?
        .require_manager()?;
    let new_fp = fingerprint(&parse_body::<CmekFingerprintBody>(req)?)?;
    let header = |name: &'static str| {
        CmekKey::from_header(name, req.header(name).unwrap_or_default()).map_err(ApiError::from)
    };
    let old_key = header(OLD_KEY_HEADER)?;
    let new_key = header(NEW_KEY_HEADER)?;
    new_key
        .check(&new_fp, NEW_KEY_HEADER)
        .map_err(ApiError::from)?;
    let actor = ctx.principal.actor();

    // Start (or find the unfinished) job.
    let (job, vault_row) = transaction(ctx.db(), async |db| {
        let access = vault_access(ctx, req, &vault, true).await?;
        access.require_manager()?;
        let Some(current) = access.vault.view.cmek_fingerprint.clone() else {
            return Err(ApiError::Conflict("CMEK is not on for this vault".into()).into());
        };
        if let Some(job) = store::active_job(db, &vault).await? {
            // The same keys again: resume. Other keys: finish that first.
            if job.new_fingerprint != new_fp.to_string()
                || !old_key.matches(
                    &Fingerprint::parse(&job.old_fingerprint)
                        .map_err(|e| crypto_failure("stored fingerprint", e))?,
                )
            {
                return Err(ApiError::Conflict(format!(
                    "rotation {} of this vault is unfinished: send its keys again to resume it",
                    job.view.id
                ))
                .into());
            }
            return Ok((job, access.vault));
        }
        let current_fp =
            Fingerprint::parse(&current).map_err(|e| crypto_failure("stored fingerprint", e))?;
        old_key
            .check(&current_fp, OLD_KEY_HEADER)
            .map_err(ApiError::from)?;
        if current == new_fp.to_string() {
            return Err(ApiError::invalid(
                "fingerprint",
                "is the vault's current key: rotate to another key",
            )
            .into());
        }
        let total = store::cmek_count(db, &vault, &current).await?;
        let id = new_id().to_string();
        let job = store::insert_job(
            db,
            &id,
            &vault,
            &current,
            &new_fp.to_string(),
            total,
            &actor,
        )
        .await?;
        ctx.audit("vault", &vault)
            .detail(
                json!({"cmek": "rotation started", "jobId": id, "versions": total,
                           "fingerprint": new_fp.to_string()}),
            )
            .write(db)
            .await?;
        Ok::<_, Failure>((job, access.vault))
    })
    .await?;

    // Batches, each in its own transaction.
    let vault_uuid = vault_row.uuid()?;
    let key = vault_key(ctx, &vault_row).await?;
    loop {
        let done = transaction(ctx.db(), async |db| {
            let batch = store::cmek_batch(db, &vault, &job.old_fingerprint, BATCH).await?;
            for v in &batch {
                let path = SecretPath::parse(&v.path)
                    .map_err(|e| crypto_failure("stored secret path", e))?;
                let at = version_ref(vault_uuid, &path, v.version)?;
                let sealed = EncryptedVersion::from_bytes(&v.sealed)
                    .map_err(|e| crypto_failure("stored secret version", e))?;
                let blob = key
                    .open_version(&at, &sealed)
                    .map_err(|e| crypto_failure("opening a secret", e))?;
                let text = std::str::from_utf8(blob.expose())
                    .map_err(|_| crypto_failure("client ciphertext", "not UTF-8"))?;
                let client = CmekCipher::decode(text).map_err(|e| {
                    Failure::from(ApiError::Conflict(format!(
                        "version {} of {:?} is not client ciphertext ({e})",
                        v.version, v.path
                    )))
                })?;
                let rotated = CmekCipher::reencrypt(&old_key, &new_key, &client).map_err(|_| {
                    Failure::from(ApiError::Conflict(format!(
                        "version {} of {:?} does not open with the old key; it is left as it is",
                        v.version, v.path
                    )))
                })?;
                let resealed = key
                    .seal_version(&at, CmekCipher::encode(&rotated).as_bytes())
                    .map_err(|e| crypto_failure("sealing a secret", e))?;
                store::cmek_update_version(db, v, resealed.to_bytes(), &job.new_fingerprint)
                    .await?;
            }
            let n = i64::try_from(batch.len()).unwrap_or(i64::MAX);
            if n > 0 {
                store::job_progress(db, &job.view.id, n).await?;
            }
            Ok::<_, Failure>(n < BATCH)
        })
        .await;
        match done {
            Ok(false) => continue,
            Ok(true) => break,
            Err(failure) => {
                // A version the old key does not open ends the job (the
                // same keys could never finish it); anything else (the
                // database, the master key) leaves it resumable.
                if matches!(failure.error, ApiError::Conflict(_)) {
                    let message = failure.error.to_string();
                    transaction(ctx.db(), async |db| {
                        store::finish_job(db, &job.view.id, "failed", Some(&message)).await
                    })
                    .await?;
                }
                return Err(failure);
            }
        }
    }

    // Every version is under the new key: switch the vault and finish.
    let finished = transaction(ctx.db(), async |db| {
        vault_access(ctx, req, &vault, true).await?;
        // Written under the old key while the batches ran: one more pass.
        if store::cmek_count(db, &vault, &job.old_fingerprint).await? > 0 {
            return Ok::<_, Failure>(None);
        }
        store::set_cmek(db, &vault, Some(&job.new_fingerprint)).await?;
        store::finish_job(db, &job.view.id, "completed", None).await?;
        ctx.audit("vault", &vault)
            .detail(json!({"cmek": "rotated", "jobId": job.view.id,
                           "fingerprint": job.new_fingerprint}))
            .write(db)
            .await?;
        Ok(Some(store::job(db, &vault, &job.view.id).await?))
    })
    .await?;
    match finished {
        Some(job) => Ok(ctx.ok(&job.view)),
        None => Err(ApiError::Conflict(
            "secrets were written under the old key during the rotation: send the same keys \
             again to finish it"
                .into(),
        )
        .into()),
    }
}

#[operation(get, "/api/v1/vaults/{vaultId}/cmek-rotate/{jobId}", id = "getVaultCmekRotation", callers = users, kind = "vault",
    tag = "vaults",
    summary = "A CMEK rotation's status: pending, running, completed or failed, with its counts",
    params(JobPath),
    responses((status = 200, body = Envelope<CmekJob>)))]
pub(crate) async fn get_rotation<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let vault = vault_id(params)?;
    let id = path_id(params, "jobId")?.to_string();
    vault_access(ctx, req, &vault, false).await?;
    let job = store::job(ctx.db(), &vault, &id).await?;
    Ok(ctx.ok(&job.view))
}
