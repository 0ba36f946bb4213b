//! The `orgs` route group: `/organizations` (the organisations themselves
//! and their events, here), their members ([`crate::members`]) and
//! invitations ([`crate::invitations`]).
//!
//! Every route resolves the caller's access with
//! [`crate::roles::org_access`]: operators and access tokens see every
//! organisation, a user only those they belong to (another organisation is a
//! 404), and a role below what the route needs is a 403 naming both roles.

use crate::roles::{org_access, org_not_found, OrgRole};
use cp_http::error::ErrorBody;
use cp_http::ids::{id_param, new_id, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, PageQuery};
use cp_http::validate::pattern_string;
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams, Route};
use cp_platform::openapi::ResourceLinks;
use cp_platform::{Failure, Platform, RequestContext, RouteGroup};
use cp_store::{transaction, Database, DbError, Value};
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::Required;
use utoipa::{IntoParams, OpenApi};

use crate::model::{
    CreatedOrgInvitation, OrgEventView, OrgInvitation, OrgInvitationCreate, OrgMember,
    OrgMemberUpdate, Organization, OrganizationCreate, MAX_TOKEN, TOKEN_PATTERN,
};
use crate::{invitations, members, sql};

/// Cursor scope of the organisation list.
const ORGS_SCOPE: &str = "organizations";
/// Cursor scope of an organisation's event list.
const EVENTS_SCOPE: &str = "org-events";

/// The operations of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /organizations`
    ListOrgs,
    /// `POST /organizations`
    CreateOrg,
    /// `GET /organizations/{orgId}`
    GetOrg,
    /// `GET /organizations/{orgId}/members`
    ListMembers,
    /// `GET /organizations/{orgId}/members/{userId}`
    GetMember,
    /// `PATCH /organizations/{orgId}/members/{userId}`
    UpdateMember,
    /// `DELETE /organizations/{orgId}/members/{userId}`
    RemoveMember,
    /// `GET /organizations/{orgId}/invitations`
    ListInvitations,
    /// `POST /organizations/{orgId}/invitations`
    CreateInvitation,
    /// `DELETE /organizations/{orgId}/invitations/{invitationId}`
    RevokeInvitation,
    /// `POST /invitations/{token}/accept`
    AcceptInvitation,
    /// `GET /organizations/{orgId}/events`
    ListEvents,
}

const ROUTES: &[Route<Op>] = &[
    Route::new("GET", "/api/v1/organizations", Op::ListOrgs),
    Route::new("POST", "/api/v1/organizations", Op::CreateOrg),
    Route::new("GET", "/api/v1/organizations/{orgId}", Op::GetOrg),
    Route::new(
        "GET",
        "/api/v1/organizations/{orgId}/members",
        Op::ListMembers,
    ),
    Route::new(
        "GET",
        "/api/v1/organizations/{orgId}/members/{userId}",
        Op::GetMember,
    ),
    Route::new(
        "PATCH",
        "/api/v1/organizations/{orgId}/members/{userId}",
        Op::UpdateMember,
    ),
    Route::new(
        "DELETE",
        "/api/v1/organizations/{orgId}/members/{userId}",
        Op::RemoveMember,
    ),
    Route::new(
        "GET",
        "/api/v1/organizations/{orgId}/invitations",
        Op::ListInvitations,
    ),
    // Its response holds the invitation token: replays are stored sealed.
    Route::new(
        "POST",
        "/api/v1/organizations/{orgId}/invitations",
        Op::CreateInvitation,
    )
    .shows_secret(),
    Route::new(
        "DELETE",
        "/api/v1/organizations/{orgId}/invitations/{invitationId}",
        Op::RevokeInvitation,
    ),
    Route::new(
        "POST",
        "/api/v1/invitations/{token}/accept",
        Op::AcceptInvitation,
    ),
    Route::new(
        "GET",
        "/api/v1/organizations/{orgId}/events",
        Op::ListEvents,
    ),
];

/// The organisations route group.
pub struct Orgs;

impl RouteGroup for Orgs {
    type Op = Op;

    fn routes() -> &'static [Route<Op>] {
        ROUTES
    }

    fn operation_id(op: Op) -> &'static str {
        match op {
            Op::ListOrgs => "listOrganizations",
            Op::CreateOrg => "createOrganization",
            Op::GetOrg => "getOrganization",
            Op::ListMembers => "listOrgMembers",
            Op::GetMember => "getOrgMember",
            Op::UpdateMember => "updateOrgMember",
            Op::RemoveMember => "removeOrgMember",
            Op::ListInvitations => "listOrgInvitations",
            Op::CreateInvitation => "createOrgInvitation",
            Op::RevokeInvitation => "revokeOrgInvitation",
            Op::AcceptInvitation => "acceptInvitation",
            Op::ListEvents => "listOrgEvents",
        }
    }

    fn resource_kind(op: Op) -> &'static str {
        match op {
            Op::ListOrgs | Op::CreateOrg | Op::GetOrg | Op::ListEvents => "organization",
            Op::ListMembers | Op::GetMember | Op::UpdateMember | Op::RemoveMember => "org-member",
            Op::ListInvitations
            | Op::CreateInvitation
            | Op::RevokeInvitation
            | Op::AcceptInvitation => "invitation",
        }
    }

    async fn handle<P: Platform>(
        op: Op,
        ctx: &RequestContext<'_, P>,
        req: &ApiRequest,
        params: &PathParams,
    ) -> Result<ApiResponse, Failure> {
        match op {
            Op::ListOrgs => list_orgs(ctx, req).await,
            Op::CreateOrg => create_org(ctx, req).await,
            Op::GetOrg => get_org(ctx, params).await,
            Op::ListMembers => members::list_members(ctx, req, params).await,
            Op::GetMember => members::get_member(ctx, params).await,
            Op::UpdateMember => members::update_member(ctx, req, params).await,
            Op::RemoveMember => members::remove_member(ctx, params).await,
            Op::ListInvitations => invitations::list_invitations(ctx, req, params).await,
            Op::CreateInvitation => invitations::create_invitation(ctx, req, params).await,
            Op::RevokeInvitation => invitations::revoke_invitation(ctx, params).await,
            Op::AcceptInvitation => invitations::accept_invitation(ctx, params).await,
            Op::ListEvents => list_events(ctx, req, params).await,
        }
    }
}

/// The `{orgId}` path parameter, as a canonical UUID (else a 400 naming it).
pub(crate) fn org_id_of(params: &PathParams) -> Result<String, ApiError> {
    Ok(path_id(params, "orgId")?.to_string())
}

/// The calling user's id, if the caller is a user.
pub(crate) fn user_id_of<P: Platform>(ctx: &RequestContext<'_, P>) -> Option<String> {
    ctx.principal.user().map(|u| u.id.clone())
}

/// A response with the resource's ETag.
pub(crate) fn with_etag(mut resp: ApiResponse, etag: String) -> ApiResponse {
    resp.set_header("etag", etag);
    resp
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
        vec![ParameterBuilder::new()
            .name("token")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some(description))
            .schema(Some(schema))
            .build()]
    }
}

#[utoipa::path(get, path = "/api/v1/organizations", tag = "organizations", operation_id = "listOrganizations",
    summary = "List organisations: a user's own (with their role), or every one for operators and access tokens",
    description = "Keyset pagination, oldest first.",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<Organization>)))]
async fn list_orgs<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
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

#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations", operation_id = "createOrganization",
    summary = "Create an organisation; the signed-in user creating it becomes its owner",
    description = "Users only: an organisation always has an owner, and operators and access \
        tokens (which see every organisation anyway) cannot be one, so they get a 403. The \
        organisation and the owner's membership are created in one transaction, with the \
        `org.created` and `member.joined` events.",
    request_body = OrganizationCreate,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Organization>), (status = 403, body = ErrorBody)))]
async fn create_org<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
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
    Ok(with_etag(ctx.created(&org), etag))
}

#[utoipa::path(get, path = "/api/v1/organizations/{orgId}", tag = "organizations", operation_id = "getOrganization",
    summary = "Read an organisation, with the caller's role and its member count (another organisation's id is a 404)",
    params(OrgPath),
    responses((status = 200, body = Envelope<Organization>)))]
async fn get_org<P: Platform>(
    ctx: &RequestContext<'_, P>,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = org_id_of(params)?;
    let access = org_access(ctx.db(), &ctx.principal, &org_id, OrgRole::Viewer).await?;
    let org = read_org(ctx.db(), &access.org_id, user_id_of(ctx).as_deref()).await?;
    let etag = org.etag();
    Ok(with_etag(ctx.ok(&org), etag))
}

#[utoipa::path(get, path = "/api/v1/organizations/{orgId}/events", tag = "organizations", operation_id = "listOrgEvents",
    summary = "An organisation's events, newest first (viewer and above)",
    description = "Every organisation-visible change (`org.created`, `member.joined`, \
        `member.role_changed`, `member.removed`, `invitation.created`, `invitation.replaced`, \
        `invitation.revoked`, `invitation.accepted`, tenant lifecycle events) is recorded in the \
        same transaction as the change. Keyset pagination: pass `pagination.nextCursor` back \
        for older events.",
    params(OrgPath, PageQuery),
    responses((status = 200, body = ListEnvelope<OrgEventView>), (status = 403, body = ErrorBody)))]
async fn list_events<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = org_id_of(params)?;
    let page = PageRequest::from_request(req, EVENTS_SCOPE)?;
    let access = org_access(ctx.db(), &ctx.principal, &org_id, OrgRole::Viewer).await?;
    let db = ctx.db();
    let limit = Value::Int(page.fetch_limit());
    let org: Value = access.org_id.as_str().into();
    let rows = match &page.after {
        None => db.query(&sql::events_first(), &[limit, org]).await?,
        Some(c) => {
            db.query(
                &sql::events_after(),
                &[limit, org, Value::Int(c.micros_at(0)?), c.id_at(1)?.into()],
            )
            .await?
        }
    };
    let events = rows
        .iter()
        .map(OrgEventView::from_row)
        .collect::<Result<Vec<_>, DbError>>()?;
    let (events, pagination) = page.paginate(EVENTS_SCOPE, events, |e| {
        vec![json!(e.created_micros), json!(e.id)]
    });
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

/// The OpenAPI description of the group's routes.
#[derive(OpenApi)]
#[openapi(
    paths(list_orgs, create_org, get_org, list_events,
        members::list_members, members::get_member, members::update_member,
        members::remove_member,
        invitations::list_invitations, invitations::create_invitation,
        invitations::revoke_invitation, invitations::accept_invitation),
    components(schemas(OrgMember, OrgMemberUpdate, OrgInvitation, OrgInvitationCreate,
        CreatedOrgInvitation)),
    modifiers(&OrgLinks),
    tags((name = "organizations", description = "Organisations, their members and roles \
          (viewer < member < admin < owner), invitations by email (single-use `cpinv_…` \
          tokens, shown once, stored as SHA-256 digests) and the organisation event stream. \
          Users see only their organisations (another one is a 404); operators and access \
          tokens see all."),
        (name = "invitations", description = "Accepting an invitation: by the signed-in user \
          whose email it was sent to.")),
)]
pub struct OrgsApi;

#[cfg(test)]
mod tests {
    use super::*;

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
