//! Skill bundle operations: every write is one transaction with its audit
//! entry (and, for stage changes, its promotion row), so a failure leaves
//! nothing half written.

use std::collections::HashMap;
use std::time::Duration;

use cp_http::pagination::PageRequest;
use cp_http::{ApiError, ApiRequest, PaginationInfo};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, DbError, FromRow, Row, Value};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::model::{
    check_move, BundleRow, Move, SkillBundle, SkillEntitlement, SkillPromotion, SkillVersionRef,
    Stage, ValidCreate, ValidFields,
};
use crate::oci::{
    is_repository_prefix, BackfillItem, BackfillRun, BundleToPush, OciClient, OciConfig, OciError,
    Outcome,
};
use crate::sql;

/// Cursor scope of the bundle list (filtered or not: the key is the same).
pub(crate) const LIST_SCOPE: &str = "skills";

/// Audit resource kind of a bundle.
pub(crate) const BUNDLE_KIND: &str = "skill_bundle";
/// Audit resource kind of the catalog as a whole (the backfill).
pub(crate) const CATALOG_KIND: &str = "skill_catalog";

fn not_found(id: &str) -> Failure {
    ApiError::not_found("SKILL_BUNDLE", id).into()
}

async fn find<D: Database>(db: &D, id: &str) -> Result<Option<BundleRow>, Failure> {
    Ok(db.fetch_opt(&sql::get(), &[id.into()]).await?)
}

fn ids_json(rows: &[BundleRow]) -> Value {
    Value::Json(json!(rows
        .iter()
        .map(|r| r.id.as_str())
        .collect::<Vec<_>>()))
}

fn opt_bytes(r: &Row, column: &str) -> Result<Option<Vec<u8>>, DbError> {
    match r.value(column)? {
        Value::Null => Ok(None),
        Value::Bytes(b) => Ok(Some(b.clone())),
        other => Err(DbError::Decode(format!(
            "column {column}: expected bytea, got {other:?}"
        ))),
    }
}

/// Entitlements and promotion history of these bundles, by id: two queries
/// for a whole page, never one per bundle.
async fn details<D: Database>(db: &D, rows: Vec<BundleRow>) -> Result<Vec<SkillBundle>, Failure> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = ids_json(&rows);
    let mut ents: HashMap<String, Vec<SkillEntitlement>> = HashMap::new();
    for r in db
        .query(sql::ENTITLEMENTS_OF, std::slice::from_ref(&ids))
        .await?
    {
        ents.entry(r.text("bundle_id")?)
            .or_default()
            .push(SkillEntitlement {
                kind: r.text("subject_kind")?,
                name: r.text("subject_name")?,
            });
    }
    let mut promos: HashMap<String, Vec<SkillPromotion>> = HashMap::new();
    for r in db.query(sql::PROMOTIONS_OF, &[ids]).await? {
        promos
            .entry(r.text("bundle_id")?)
            .or_default()
            .push(SkillPromotion {
                from: r.opt_text("from_stage")?,
                to: r.text("to_stage")?,
                actor: r.text("actor")?,
                request_id: r.text("request_id")?,
                at: cp_http::time::micros_rfc3339(r.i64("created_micros")?),
            });
    }
    Ok(rows
        .iter()
        .map(|row| {
            row.view(
                ents.remove(&row.id).unwrap_or_default(),
                promos.remove(&row.id).unwrap_or_default(),
            )
        })
        .collect())
}

pub(crate) async fn list<D: Database>(
    db: &D,
    page: &PageRequest,
    name: Option<&str>,
) -> Result<(Vec<SkillBundle>, PaginationInfo), Failure> {
    let limit = Value::Int(page.fetch_limit());
    let rows = match (&page.after, name) {
        (None, None) => db.query(&sql::list_first(), &[limit]).await?,
        (Some(c), None) => {
            db.query(
                &sql::list_after(),
                &[limit, Value::Int(c.micros_at(0)?), c.id_at(1)?.into()],
            )
            .await?
        }
        (None, Some(n)) => {
            db.query(&sql::list_name_first(), &[limit, n.into()])
                .await?
        }
        (Some(c), Some(n)) => {
            db.query(
                &sql::list_name_after(),
                &[
                    limit,
                    n.into(),
                    Value::Int(c.micros_at(0)?),
                    c.id_at(1)?.into(),
                ],
            )
            .await?
        }
    };
    let rows = rows
        .iter()
        .map(BundleRow::from_row)
        .collect::<Result<Vec<_>, DbError>>()?;
    let (rows, pagination) = page.paginate(LIST_SCOPE, rows, |r| {
        vec![json!(r.created_micros), json!(r.id)]
    });
    Ok((details(db, rows).await?, pagination))
}

/// One bundle with its content and sibling versions, and its ETag.
pub(crate) async fn get<D: Database>(db: &D, id: &str) -> Result<(SkillBundle, String), Failure> {
    let row = find(db, id).await?.ok_or_else(|| not_found(id))?;
    let etag = row.etag();
    let name = row.name.clone();
    let mut bundle = details(db, vec![row])
        .await?
        .pop()
        .ok_or_else(|| not_found(id))?;
    if let Some(r) = db.query_opt(sql::CONTENT, &[id.into()]).await? {
        bundle.content =
            opt_bytes(&r, "content")?.map(|b| String::from_utf8_lossy(&b).into_owned());
    }
    let versions = db
        .query(sql::VERSIONS, &[name.into()])
        .await?
        .iter()
        .map(|r| {
            Ok(SkillVersionRef {
                id: r.text("id")?,
                version: r.text("version")?,
                stage: r.text("stage")?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    bundle.versions = Some(versions);
    Ok((bundle, etag))
}

/// Checks that every entitlement names an existing group or a live tenant
/// (a 400 naming `entitlements[i].name` otherwise), locking those groups and
/// tenants until the transaction ends (`cp_catalog::subjects`).
async fn check_subjects<D: Database>(db: &D, ents: &[SkillEntitlement]) -> Result<(), Failure> {
    let subjects: Vec<(&str, &str)> = ents
        .iter()
        .map(|e| (e.kind.as_str(), e.name.as_str()))
        .collect();
    cp_catalog::subjects::check(db, "entitlements", &subjects).await
}

async fn write_entitlements<D: Database>(
    db: &D,
    id: &str,
    ents: &[SkillEntitlement],
) -> Result<(), Failure> {
    db.execute(sql::ENTITLEMENTS_CLEAR, &[id.into()]).await?;
    if !ents.is_empty() {
        db.execute(
            sql::ENTITLEMENTS_INSERT,
            &[id.into(), Value::Json(json!(ents))],
        )
        .await?;
    }
    Ok(())
}

async fn record_promotion<P: Platform>(
    ctx: &RequestContext<'_, P>,
    db: &P::Db,
    id: &str,
    from: Option<Stage>,
    to: Stage,
) -> Result<(), Failure> {
    db.execute(
        sql::PROMOTION_INSERT,
        &[
            cp_http::ids::new_id().to_string().into(),
            id.into(),
            from.map(Stage::as_str).into(),
            to.as_str().into(),
            ctx.principal.actor().into(),
            ctx.request_id.as_str().into(),
        ],
    )
    .await?;
    Ok(())
}

fn content_value(content: &Option<Vec<u8>>) -> Value {
    content.clone().map_or(Value::Null, Value::Bytes)
}

pub(crate) async fn create<P: Platform>(
    ctx: &RequestContext<'_, P>,
    input: ValidCreate,
) -> Result<String, Failure> {
    let id = cp_http::ids::new_id().to_string();
    let f = &input.fields;
    let stage = f.stage.unwrap_or(Stage::Draft);
    transaction(ctx.db(), async |db| {
        check_subjects(db, &f.entitlements).await?;
        let inserted = db
            .execute(
                sql::INSERT,
                &[
                    id.as_str().into(),
                    input.name.as_str().into(),
                    input.version.as_str().into(),
                    f.digest.as_str().into(),
                    f.scope.as_str().into(),
                    stage.as_str().into(),
                    f.description.clone().into(),
                    content_value(&f.content),
                ],
            )
            .await;
        match inserted {
            Err(DbError::UniqueViolation { constraint })
                if constraint == sql::NAME_VERSION_CONSTRAINT =>
            {
                return Err(ApiError::Conflict(format!(
                    "skill bundle '{}' version '{}' already exists; publish another version",
                    input.name, input.version
                ))
                .into())
            }
            other => other?,
        };
        write_entitlements(db, &id, &f.entitlements).await?;
        // The creation opens the history (from: null).
        record_promotion(ctx, db, &id, None, stage).await?;
        ctx.audit(BUNDLE_KIND, &id)
            .detail(json!({
                "name": input.name, "version": input.version, "stage": stage.as_str(),
                "scope": f.scope, "digest": f.digest, "entitlements": f.entitlements,
            }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(id)
}

pub(crate) async fn update<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    id: &str,
    f: ValidFields,
) -> Result<(), Failure> {
    transaction(ctx.db(), async |db| {
        let row: BundleRow = db
            .fetch_opt(&sql::get_for_update(), &[id.into()])
            .await?
            .ok_or_else(|| not_found(id))?;
        cp_http::etag::check_if_match(req, &row.etag())?;
        let target = f.stage.unwrap_or(row.stage);
        let mv = check_move(row.stage, target)?;
        // A version that was ever released keeps its bits: a demotion
        // withdraws it, it does not make it editable (history is append-only,
        // so it answers "ever published" reliably).
        let released = row.stage == Stage::Published
            || db
                .query_opt(sql::EVER_PUBLISHED, &[id.into()])
                .await?
                .is_some();
        if released {
            let stored = match db.query_opt(sql::CONTENT, &[id.into()]).await? {
                Some(r) => opt_bytes(&r, "content")?,
                None => None,
            };
            if stored != f.content || row.digest != f.digest {
                return Err(ApiError::Conflict(format!(
                    "skill bundle '{}' version '{}' has been published: its content and digest \
                     are immutable; publish a new version instead",
                    row.name, row.version
                ))
                .into());
            }
        }
        check_subjects(db, &f.entitlements).await?;
        db.execute(
            sql::UPDATE,
            &[
                id.into(),
                f.digest.as_str().into(),
                f.scope.as_str().into(),
                target.as_str().into(),
                f.description.clone().into(),
                content_value(&f.content),
            ],
        )
        .await?;
        write_entitlements(db, id, &f.entitlements).await?;
        if mv != Move::Unchanged {
            record_promotion(ctx, db, id, Some(row.stage), target).await?;
        }
        ctx.audit(BUNDLE_KIND, id)
            .detail(json!({
                "name": row.name, "version": row.version,
                "stage": { "from": row.stage.as_str(), "to": target.as_str() },
                "scope": f.scope, "digest": f.digest, "entitlements": f.entitlements,
            }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await
}

pub(crate) async fn delete<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: &str,
) -> Result<(), Failure> {
    transaction(ctx.db(), async |db| {
        let gone = db
            .query_opt(sql::DELETE, &[id.into()])
            .await?
            .ok_or_else(|| not_found(id))?;
        ctx.audit(BUNDLE_KIND, id)
            .detail(json!({ "name": gone.text("name")?, "version": gone.text("version")? }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await
}

/// Result of `POST /skills/catalog/backfill`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackfillReport {
    /// The registry pushed to (`scheme://host[:port]`).
    pub registry: String,
    /// The repository prefix (`<prefix>/<name>` per bundle).
    pub repository_prefix: String,
    /// Bundles pushed now.
    pub pushed: usize,
    /// Bundles the registry already had.
    pub already_present: usize,
    /// Bundles that failed (see their `error`).
    pub failed: usize,
    /// Published bundles without content.
    pub skipped: usize,
    /// One entry per published bundle, oldest first.
    pub bundles: Vec<BackfillItem>,
}

fn upstream(message: &str) -> Failure {
    ApiError::Upstream(message.to_owned()).into()
}

/// The registry settings from the component's variables.
fn oci_config(variable: impl Fn(&str) -> Option<String>) -> Result<OciConfig, Failure> {
    let url = variable("oci_registry_url")
        .ok_or_else(|| upstream("the OCI registry is not configured (oci_registry_url)"))?;
    let base_url = url.trim_end_matches('/').to_owned();
    let authority = base_url
        .strip_prefix("http://")
        .or_else(|| base_url.strip_prefix("https://"));
    // Credentials belong in oci_username/oci_password, never in the URL
    // (it is shown in responses and audit entries).
    if !authority.is_some_and(|a| !a.is_empty() && !a.contains(['/', '@', '?', '#'])) {
        return Err(upstream(
            "oci_registry_url must be scheme://host[:port] (http or https, no path or credentials)",
        ));
    }
    let prefix = variable("oci_repository_prefix").unwrap_or_else(|| "opencrane/skills".into());
    if !is_repository_prefix(&prefix) {
        return Err(upstream(
            "oci_repository_prefix is not a valid OCI repository path",
        ));
    }
    let timeout = variable("oci_timeout_ms")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map_or(Duration::from_secs(30), Duration::from_millis);
    Ok(OciConfig {
        base_url,
        prefix,
        username: variable("oci_username"),
        password: variable("oci_password"),
        timeout,
    })
}

/// The registry failed the initial check: nothing was tried. The client
/// hears what kind of failure; the transport's detail is only logged.
fn ping_failure(e: OciError) -> Failure {
    let error = ApiError::Upstream(format!("OCI registry: {e}; nothing was pushed"));
    match e {
        OciError::Transport(t) => Failure::with_cause(error, t.to_string()),
        _ => error.into(),
    }
}

pub(crate) async fn backfill<P: Platform>(
    ctx: &RequestContext<'_, P>,
) -> Result<BackfillReport, Failure> {
    let config = oci_config(|name| ctx.platform.variable(name))?;
    let client = OciClient::new(config, ctx.platform.http());
    let published = ctx.db().query(sql::PUBLISHED, &[]).await?;
    let mut bundles = Vec::with_capacity(published.len());
    if !published.is_empty() {
        // Nothing reachable: 502 rather than a report of N identical failures.
        client.ping().await.map_err(ping_failure)?;
    }
    let mut run = BackfillRun::new();
    for r in &published {
        let id = r.text("id")?;
        // One bundle's content in memory at a time.
        let content = match ctx
            .db()
            .query_opt(sql::CONTENT, &[id.as_str().into()])
            .await?
        {
            Some(c) => opt_bytes(&c, "content")?,
            None => None,
        };
        let bundle = BundleToPush {
            id,
            name: r.text("name")?,
            version: r.text("version")?,
            digest: r.text("digest")?,
            content,
        };
        bundles.push(run.push(&client, &bundle).await);
    }
    let count = |o: Outcome| bundles.iter().filter(|b| b.outcome == o).count();
    let report = BackfillReport {
        registry: client.config().base_url.clone(),
        repository_prefix: client.config().prefix.clone(),
        pushed: count(Outcome::Pushed),
        already_present: count(Outcome::AlreadyPresent),
        failed: count(Outcome::Failed),
        skipped: count(Outcome::Skipped),
        bundles: Vec::new(),
    };
    transaction(ctx.db(), async |db| {
        for b in &bundles {
            let outcome = match b.outcome {
                Outcome::Pushed => "pushed",
                Outcome::AlreadyPresent => "alreadyPresent",
                Outcome::Failed | Outcome::Skipped => continue,
            };
            db.execute(
                sql::PUSH_RECORD,
                &[
                    b.id.as_str().into(),
                    report.registry.as_str().into(),
                    b.repository.as_str().into(),
                    b.tag.as_str().into(),
                    b.manifest_digest.clone().unwrap_or_default().into(),
                    outcome.into(),
                    ctx.request_id.as_str().into(),
                ],
            )
            .await?;
        }
        ctx.audit(CATALOG_KIND, "backfill")
            .detail(json!({
                "registry": report.registry, "repositoryPrefix": report.repository_prefix,
                "pushed": report.pushed, "alreadyPresent": report.already_present,
                "failed": report.failed, "skipped": report.skipped,
            }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(BackfillReport { bundles, ..report })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cp_http::outbound::TransportError;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn registry_configuration() {
        let c = oci_config(vars(&[
            ("oci_registry_url", "https://reg.example:5000/"),
            ("oci_username", "robot"),
            ("oci_password", "pw"),
            ("oci_timeout_ms", "1500"),
        ]))
        .unwrap();
        assert_eq!(c.base_url, "https://reg.example:5000");
        assert_eq!(c.prefix, "opencrane/skills");
        assert_eq!(c.username.as_deref(), Some("robot"));
        assert_eq!(c.timeout, Duration::from_millis(1500));

        for bad in [
            vec![],
            vec![("oci_registry_url", "ftp://reg")],
            vec![("oci_registry_url", "https://user:pw@reg")],
            vec![("oci_registry_url", "https://reg/v2")],
            vec![
                ("oci_registry_url", "https://reg"),
                ("oci_repository_prefix", "Bad/Prefix"),
            ],
        ] {
            let f = oci_config(vars(&bad)).unwrap_err();
            assert_eq!(f.error.status(), 502, "{bad:?}");
            assert!(!f.error.message().contains("pw@"), "{bad:?}");
        }
    }

    #[test]
    fn an_unreachable_registry_is_a_502_without_detail() {
        let f = ping_failure(OciError::Transport(TransportError::Connect(
            "tcp connect to 10.0.0.7:5000 refused".into(),
        )));
        assert_eq!(f.error.code(), "UPSTREAM_ERROR");
        assert_eq!(
            f.error.message(),
            "OCI registry: the registry is unreachable; nothing was pushed"
        );
        assert!(f.cause.unwrap().contains("10.0.0.7"), "logged, not sent");
        let f = ping_failure(OciError::Status {
            op: "the API version check (GET /v2/)",
            status: 404,
        });
        assert_eq!(f.error.status(), 502);
        assert!(f.error.message().contains("HTTP 404"));
    }
}
