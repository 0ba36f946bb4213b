//! The `orgs` route group: `/organizations` (the organisations themselves
//! and their events, here), their members ([`crate::members`]) and
//! invitations ([`crate::invitations`]).
//!
//! Every route resolves the caller's access with
//! [`crate::roles::org_access`]: operators and access tokens see every
//! organisation, a user only those they belong to (another organisation is a
//! 404), and a role below what the route needs is a 403 naming both roles.

use crate::roles::{org_access, org_not_found, OrgRole};
use cp_http::ids::{id_param, new_id, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, PageQuery};
use cp_http::validate::pattern_string;
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::openapi::ResourceLinks;
use cp_platform::resource::{keyset_list, KeysetList, TieBreak};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, DbError, FromRow, Value};
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::model::{
    CreatedOrgInvitation, OrgEventView, OrgInvitation, OrgInvitationCreate, OrgMember,
    OrgMemberUpdate, Organization, OrganizationCreate, MAX_TOKEN, TOKEN_PATTERN,
};
use crate::{invitations, members, sql};

/// Cursor scope of the organisation list.
const ORGS_SCOPE: &str = "organizations";
/// Cursor scope of an organisation's event list.
const EVENTS_SCOPE: &str = "org-events";

cp_macros::route_group! {
    /// The organisations route group.
    pub struct Orgs;
    kind = "organization";
    openapi(
        components(schemas(OrgMember, OrgMemberUpdate, OrgInvitation, OrgInvitationCreate,
        CreatedOrgInvitation)),
        modifiers(&OrgLinks),
        tags((name = "organizations", description = "Organisations, their members and roles \
          (viewer < member < admin < owner), invitations by email (single-use `cpinv_…` \
          tokens, shown once, stored as SHA-256 digests) and the organisation event stream. \
          Users see only their organisations (another one is a 404); operators and access \
          tokens see all."),
        (name = "invitations", description = "Accepting an invitation: by the signed-in user \
          whose email it was sent to."))
    );
    operations = [
        list_orgs,
        create_org,
        get_org,
        list_events,
        members::list_members,
        members::get_member,
        members::update_member,
        members::remove_member,
        invitations::list_invitations,
        invitations::create_invitation,
        invitations::revoke_invitation,
        invitations::accept_invitation,
    ];
}

/// The `{orgId}` path parameter, as a canonical UUID (else a 400 naming it).
pub(crate) fn org_id_of(params: &PathParams) -> Result<String, ApiError> {
    Ok(path_id(params, "orgId")?.to_string())
}

/// The calling user's id, if the caller is a user.
pub(crate) fn user_id_of<P: Platform>(ctx: &RequestContext<'_, P>) -> Option<String> {
    ctx.principal.user().map(|u| u.id.clone())
}

/// Organisation `org_id` as the caller sees it (with their role).
pub(crate) async fn read_org<D: Database>(
    db: &D,
    org_id: &str,
    user_id: Option<&str>,
) -> Result<Organization, Failure> {
    let row = db
        .query_opt(
            &sql::org_by_id(),
            &[org_id.into(), user_id.map(str::to_owned).into()],
        )
        .await?
        .ok_or_else(|| org_not_found(org_id))?;
    Ok(Organization::from_row(&row)?)
}

/// A membership insert that names a user deleted meanwhile fails its
/// foreign key: for the caller that is their own account gone (401), not a
/// server error.
pub(crate) fn member_insert_error(e: DbError) -> Failure {
    match e {
        DbError::ForeignKeyViolation(_) => {
            ApiError::Unauthorized("the token's user no longer exists".into()).into()
        }
        other => other.into(),
    }
}

/// The `{orgId}` path parameter, for the OpenAPI document.
pub struct OrgPath;

impl IntoParams for OrgPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("orgId", "Organisation id")]
    }
}

/// The `{orgId}` and `{userId}` path parameters.
pub struct MemberPath;

impl IntoParams for MemberPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            id_param("orgId", "Organisation id"),
            id_param("userId", "The member's user id"),
        ]
    }
}

/// The `{orgId}` and `{invitationId}` path parameters.
pub struct InvitationPath;

impl IntoParams for InvitationPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            id_param("orgId", "Organisation id"),
            id_param("invitationId", "Invitation id"),
        ]
    }
}

/// The `{token}` path parameter of an invitation.
pub struct TokenPath;

impl IntoParams for TokenPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let description = "The invitation's single-use token (`cpinv_…`), as returned when it \
                           was created";
        let mut schema = pattern_string(false, TOKEN_PATTERN, MAX_TOKEN, description);
        schema.min_length = Some(7);
        vec![cp_http::params::path_param("token", description, schema)]
    }
}

#[operation(get, "/api/v1/organizations", id = "listOrganizations", callers = users,
    tag = "organizations",
    summary = "List organisations: a user's own (with their role), or every one for operators and access tokens",
    description = "Keyset pagination, oldest first.",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<Organization>)))]
async fn list_orgs<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, ORGS_SCOPE)?;
    let db = ctx.db();
    let limit = Value::Int(page.fetch_limit());
    let rows = match (user_id_of(ctx), &page.after) {
        (Some(user), None) => db.query(&sql::mine_first(), &[limit, user.into()]).await?,
        (Some(user), Some(c)) => {
            db.query(
                &sql::mine_after(),
                &[
                    limit,
                    user.into(),
                    Value::Int(c.micros_at(0)?),
                    c.id_at(1)?.into(),
                ],
            )
            .await?
        }
        (None, None) => db.query(&sql::all_first(), &[limit]).await?,
        (None, Some(c)) => {
            db.query(
                &sql::all_after(),
                &[limit, Value::Int(c.micros_at(0)?), c.id_at(1)?.into()],
            )
            .await?
        }
    };
    let orgs = rows
        .iter()
        .map(Organization::from_row)
        .collect::<Result<Vec<_>, DbError>>()?;
    let (orgs, pagination) = page.paginate(ORGS_SCOPE, orgs, |o| {
        vec![json!(o.created_micros), json!(o.id)]
    });
    Ok(ctx.list(&orgs, pagination))
}

#[operation(post, "/api/v1/organizations", id = "createOrganization", callers = users,
    tag = "organizations",
    summary = "Create an organisation; the signed-in user creating it becomes its owner",
    description = "Users only: an organisation always has an owner, and operators and access \
        tokens (which see every organisation anyway) cannot be one, so they get a 403. The \
        organisation and the owner's membership are created in one transaction, with the \
        `org.created` and `member.joined` events.",
    request_body = OrganizationCreate,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Organization>)))]
async fn create_org<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name = parse_body::<OrganizationCreate>(req)?.validate()?;
    let Some(user) = ctx.principal.user() else {
        return Err(ApiError::Forbidden(
            "an organisation is created by a signed-in user, who becomes its owner; operators \
             and access tokens cannot own one"
                .into(),
        )
        .into());
    };
    let id = new_id().to_string();
    let org = transaction(ctx.db(), async |db| {
        db.execute(
            sql::INSERT_ORG,
            &[
                id.as_str().into(),
                name.as_str().into(),
                user.id.as_str().into(),
            ],
        )
        .await?;
        db.execute(
            sql::INSERT_MEMBER,
            &[
                id.as_str().into(),
                user.id.as_str().into(),
                OrgRole::Owner.as_str().into(),
            ],
        )
        .await
        .map_err(member_insert_error)?;
        crate::roles::event(ctx, &id, "org.created", &id)
            .detail(json!({ "name": name }))
            .write(db)
            .await?;
        crate::roles::event(ctx, &id, "member.joined", &user.id)
            .detail(json!({ "role": OrgRole::Owner }))
            .write(db)
            .await?;
        ctx.audit("organization", &id)
            .detail(json!({ "name": name, "owner": user.id }))
            .write(db)
            .await?;
        read_org(db, &id, Some(&user.id)).await
    })
    .await?;
    let etag = org.etag();
    Ok(ctx.created(&org).with_etag(etag))
}

#[operation(get, "/api/v1/organizations/{orgId}", id = "getOrganization", callers = users,
    tag = "organizations",
    summary = "Read an organisation, with the caller's role and its member count (another organisation's id is a 404)",
    params(OrgPath),
    responses((status = 200, body = Envelope<Organization>)))]
async fn get_org<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = org_id_of(params)?;
    let access = org_access(ctx.db(), &ctx.principal, &org_id, OrgRole::Viewer).await?;
    let org = read_org(ctx.db(), &access.org_id, user_id_of(ctx).as_deref()).await?;
    let etag = org.etag();
    Ok(ctx.ok(&org).with_etag(etag))
}

#[operation(get, "/api/v1/organizations/{orgId}/events", id = "listOrgEvents", callers = users,
    tag = "organizations",
    summary = "An organisation's events, newest first (viewer and above)",
    description = "Every organisation-visible change (`org.created`, `member.joined`, \
        `member.role_changed`, `member.removed`, `invitation.created`, `invitation.replaced`, \
        `invitation.revoked`, `invitation.accepted`, tenant lifecycle events) is recorded in the \
        same transaction as the change. Keyset pagination: pass `pagination.nextCursor` back \
        for older events.",
    params(OrgPath, PageQuery),
    responses((status = 200, body = ListEnvelope<OrgEventView>)))]
async fn list_events<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = org_id_of(params)?;
    let page = PageRequest::from_request(req, EVENTS_SCOPE)?;
    let access = org_access(ctx.db(), &ctx.principal, &org_id, OrgRole::Viewer).await?;
    let list = KeysetList {
        scope: EVENTS_SCOPE,
        first: &sql::events_first(),
        after: &sql::events_after(),
        tie: TieBreak::Id,
    };
    let org = Some(access.org_id.as_str().into());
    let (events, pagination) = keyset_list(ctx.db(), &page, list, org, |e: &OrgEventView| {
        vec![json!(e.created_micros), json!(e.id)]
    })
    .await?;
    Ok(ctx.list(&events, pagination))
}

struct OrgLinks;

impl utoipa::Modify for OrgLinks {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        // Only the lists' next pages: the resources' keys (`id`, `userId`)
        // are not the path parameters' names (`orgId`).
        for (path, op) in [
            ("/api/v1/organizations", "listOrganizations"),
            ("/api/v1/organizations/{orgId}/members", "listOrgMembers"),
            (
                "/api/v1/organizations/{orgId}/invitations",
                "listOrgInvitations",
            ),
            ("/api/v1/organizations/{orgId}/events", "listOrgEvents"),
        ] {
            ResourceLinks {
                key: "id",
                by_key: &[],
                update: None,
                one: &[],
                list: Some((path, op)),
            }
            .apply(doc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi;

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_routed() {
        let problems = cp_platform::openapi::route_mismatches::<Orgs>(&OrgsApi::openapi());
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn lists_link_to_their_next_page() {
        let doc = serde_json::to_value(OrgsApi::openapi()).unwrap_or_default();
        let links = &doc["paths"]["/api/v1/organizations/{orgId}/events"]["get"]["responses"]
            ["200"]["links"];
        assert!(links.get("NextPage").is_some(), "{links}");
    }

    #[test]
    fn the_if_match_header_is_documented_on_the_role_change() {
        let doc = serde_json::to_value(OrgsApi::openapi()).unwrap_or_default();
        let params = doc["paths"]["/api/v1/organizations/{orgId}/members/{userId}"]["patch"]
            ["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(params.iter().any(|p| p["name"] == "If-Match"), "{params:?}");
    }
}
