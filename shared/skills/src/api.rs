//! The `skills` route group: routes, request parsing, responses, and the
//! OpenAPI description of each route (generated from these annotations).

use cp_http::error::ErrorBody;
use cp_http::ids::{id_param, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::validate::dns_label;
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::{Failure, Platform, RequestContext};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::model::{
    name_schema, SkillBundle, SkillBundleCreate, SkillBundleUpdate, SkillEntitlement,
    SkillPromotion, SkillVersionRef,
};
use crate::oci::{BackfillItem, Outcome};
use crate::service::{self, BackfillReport};

cp_macros::route_group! {
    /// The skills route group.
    pub struct Skills;
    kind = "skill_bundle";
    openapi(
        modifiers(&BundleLinks),
        components(schemas(SkillBundle, SkillEntitlement, SkillPromotion, SkillVersionRef,
                       SkillBundleCreate, SkillBundleUpdate, BackfillReport, BackfillItem, Outcome)),
        tags((name = "skills", description = "Skill bundles: versions, entitlements, promotions, OCI backfill"))
    );
    operations = [
        list_skill_bundles,
        create_skill_bundle,
        backfill_skill_bundles,
        get_skill_bundle,
        update_skill_bundle,
        delete_skill_bundle,
    ];
}

/// The `{id}` path parameter, canonical lowercase (a 400 naming `id`).
fn bundle_id(params: &PathParams) -> Result<String, Failure> {
    Ok(path_id(params, "id")?.to_string())
}

/// The `{id}` path parameter, for the OpenAPI document.
pub struct BundlePath;

impl IntoParams for BundlePath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("id", "Skill bundle id")]
    }
}

/// The list's `name` filter, for the OpenAPI document.
pub struct NameQuery;

impl IntoParams for NameQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![cp_http::params::query_param(
            "name",
            "Only the versions of this bundle name",
            name_schema(),
        )]
    }
}

#[operation(get, "/api/v1/skills/catalog", id = "listSkillBundles", callers = operator,
    tag = "skills",
    summary = "List skill bundles with entitlements and promotion history (keyset pagination, oldest first)",
    params(NameQuery, PageQuery),
    responses((status = 200, body = ListEnvelope<SkillBundle>)))]
async fn list_skill_bundles<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name = req.query_param("name");
    if let Some(n) = &name {
        dns_label(n).map_err(|msg| ApiError::invalid("name", msg))?;
    }
    let page = PageRequest::from_request(req, service::LIST_SCOPE)?;
    let (items, pagination) = service::list(ctx.db(), &page, name.as_deref()).await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/skills/catalog", id = "createSkillBundle", callers = operator,
    tag = "skills",
    summary = "Publish a skill bundle version (starts at `draft` unless `stage` says otherwise)",
    request_body = SkillBundleCreate,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<SkillBundle>, headers(("ETag" = String)))))]
async fn create_skill_bundle<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<SkillBundleCreate>(req)?.validate()?;
    let id = service::create(ctx, input).await?;
    let (bundle, etag) = service::get(ctx.db(), &id).await?;
    Ok(ctx.created(&bundle).with_etag(&etag))
}

#[operation(get, "/api/v1/skills/catalog/{id}", id = "getSkillBundle", callers = operator,
    tag = "skills",
    summary = "Get a skill bundle with its content, entitlements, promotion history and sibling versions",
    params(BundlePath),
    responses((status = 200, body = Envelope<SkillBundle>, headers(("ETag" = String)))))]
async fn get_skill_bundle<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: &str = &bundle_id(params)?;
    let (bundle, etag) = service::get(ctx.db(), id).await?;
    Ok(ctx.ok(&bundle).with_etag(&etag))
}

#[operation(put, "/api/v1/skills/catalog/{id}", id = "updateSkillBundle", callers = operator,
    tag = "skills",
    summary = "Replace a skill bundle's fields and entitlements; a stage change is recorded as a promotion \
               (one step forward or back to draft, else 409); once published, content and digest are immutable (409)",
    request_body = SkillBundleUpdate,
    params(BundlePath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<SkillBundle>, headers(("ETag" = String)))))]
async fn update_skill_bundle<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: &str = &bundle_id(params)?;
    let input = parse_body::<SkillBundleUpdate>(req)?.validate()?;
    service::update(ctx, req, id, input).await?;
    let (bundle, etag) = service::get(ctx.db(), id).await?;
    Ok(ctx.ok(&bundle).with_etag(&etag))
}

#[operation(delete, "/api/v1/skills/catalog/{id}", id = "deleteSkillBundle", callers = operator,
    tag = "skills",
    summary = "Delete a skill bundle with its entitlements and promotion history",
    params(BundlePath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted")))]
async fn delete_skill_bundle<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: &str = &bundle_id(params)?;
    service::delete(ctx, id).await?;
    Ok(ApiResponse::empty(204))
}

#[operation(post, "/api/v1/skills/catalog/backfill", id = "backfillSkillBundles", callers = operator, kind = "skill_catalog",
    tag = "skills",
    summary = "Push every published bundle's content to the OCI registry (idempotent; per-bundle outcomes)",
    description = "Each published bundle becomes `<oci_repository_prefix>/<name>:<version>` (`+` in the \
                   version becomes `_`). Outcomes: `pushed`, `alreadyPresent` (the tag already holds this \
                   artifact), `failed` (with `error`), `skipped` (no content). 200 with the outcomes even \
                   when some failed; 502 when the registry is not configured or cannot be reached at all.",
    params(IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<BackfillReport>), (status = 502, body = ErrorBody)))]
async fn backfill_skill_bundles<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let report = service::backfill(ctx).await?;
    Ok(ctx.ok(&report))
}

/// Links between the bundle operations (what a client, or the stateful
/// fuzzer, can call next with the id it got).
struct BundleLinks;

impl utoipa::Modify for BundleLinks {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        cp_platform::openapi::ResourceLinks {
            key: "id",
            by_key: &[
                ("GetSkillBundle", "getSkillBundle"),
                ("UpdateSkillBundle", "updateSkillBundle"),
                ("DeleteSkillBundle", "deleteSkillBundle"),
            ],
            update: Some("updateSkillBundle"),
            one: &[
                ("/api/v1/skills/catalog", "post", "201"),
                ("/api/v1/skills/catalog/{id}", "get", "200"),
                ("/api/v1/skills/catalog/{id}", "put", "200"),
            ],
            list: Some(("/api/v1/skills/catalog", "listSkillBundles")),
        }
        .apply(doc);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use utoipa::OpenApi;

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_routed() {
        let problems = cp_platform::openapi::route_mismatches::<Skills>(&SkillsApi::openapi());
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn request_schemas_carry_the_enforced_constraints() {
        let doc = serde_json::to_value(SkillsApi::openapi()).unwrap();
        let create = &doc["components"]["schemas"]["SkillBundleCreate"];
        assert_eq!(
            create["properties"]["version"]["pattern"],
            crate::model::SEMVER_PATTERN
        );
        assert_eq!(
            create["properties"]["digest"]["pattern"],
            crate::model::DIGEST_PATTERN
        );
        assert_eq!(create["properties"]["entitlements"]["maxItems"], 200);
        assert_eq!(create["properties"]["entitlements"]["uniqueItems"], true);
        let required: Vec<&str> = create["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(required, ["name", "version", "digest", "scope"]);
    }
}
