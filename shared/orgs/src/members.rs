//! `/organizations/{orgId}/members`: list, read, change a role, remove.
//!
//! Writes lock the organisation's owner rows first ([`sql::LOCK_OWNERS`])
//! and only then resolve the caller's role and count the owners, so the
//! last-owner rule and the owner-only rules hold under concurrency: two
//! owners demoting each other at once serialise, and the second sees one
//! owner left (409).

use crate::roles::{org_access, OrgAccess, OrgRole};
use cp_http::ids::path_id;
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::resource::{keyset_list, KeysetList, TieBreak};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, FromRow};
use serde_json::json;

use crate::api::{org_id_of, user_id_of, MemberPath, OrgPath};
use crate::model::{OrgMember, OrgMemberUpdate};
use crate::{rules, sql};

/// Cursor scope of a member list.
const MEMBERS_SCOPE: &str = "org-members";

fn member_not_found(user_id: &str) -> Failure {
    ApiError::not_found("ORG_MEMBER", user_id).into()
}

/// Locks the organisation's owner rows, then resolves the caller's access
/// (any role: the rules decide) and counts the owners. A caller who cannot
/// see the organisation gets its 404 before any lock is taken.
pub(crate) async fn lock_and_resolve<P: Platform>(
    ctx: &RequestContext<'_, P>,
    db: &P::Db,
    org_id: &str,
) -> Result<(OrgAccess, usize), Failure> {
    org_access(db, &ctx.principal, org_id, OrgRole::Viewer).await?;
    let owners = db.query(sql::LOCK_OWNERS, &[org_id.into()]).await?.len();
    // Again under the locks: the caller's role may have changed meanwhile.
    let access = org_access(db, &ctx.principal, org_id, OrgRole::Viewer).await?;
    Ok((access, owners))
}

async fn read_member<D: Database>(
    db: &D,
    org_id: &str,
    user_id: &str,
    lock: bool,
) -> Result<OrgMember, Failure> {
    let query = if lock {
        sql::member_for_update()
    } else {
        sql::member()
    };
    let row = db
        .query_opt(&query, &[org_id.into(), user_id.into()])
        .await?
        .ok_or_else(|| member_not_found(user_id))?;
    Ok(OrgMember::from_row(&row)?)
}

#[operation(get, "/api/v1/organizations/{orgId}/members", id = "listOrgMembers", callers = users, kind = "org-member",
    tag = "organizations",
    summary = "List an organisation's members with their roles (viewer and above; keyset pagination, oldest first)",
    params(OrgPath, PageQuery),
    responses((status = 200, body = ListEnvelope<OrgMember>)))]
pub(crate) async fn list_members<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = org_id_of(params)?;
    let page = PageRequest::from_request(req, MEMBERS_SCOPE)?;
    let access = org_access(ctx.db(), &ctx.principal, &org_id, OrgRole::Viewer).await?;
    let list = KeysetList {
        scope: MEMBERS_SCOPE,
        first: &sql::members_first(),
        after: &sql::members_after(),
        tie: TieBreak::Id,
    };
    let org = Some(access.org_id.as_str().into());
    let (members, pagination) = keyset_list(ctx.db(), &page, list, org, |m: &OrgMember| {
        vec![json!(m.joined_micros), json!(m.user_id)]
    })
    .await?;
    Ok(ctx.list(&members, pagination))
}

#[operation(get, "/api/v1/organizations/{orgId}/members/{userId}", id = "getOrgMember", callers = users, kind = "org-member",
    tag = "organizations",
    summary = "Read one membership and its ETag (viewer and above)",
    params(MemberPath),
    responses((status = 200, body = Envelope<OrgMember>)))]
pub(crate) async fn get_member<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = org_id_of(params)?;
    let user_id = path_id(params, "userId")?.to_string();
    let access = org_access(ctx.db(), &ctx.principal, &org_id, OrgRole::Viewer).await?;
    let member = read_member(ctx.db(), &access.org_id, &user_id, false).await?;
    let etag = member.etag();
    Ok(ctx.ok(&member).with_etag(etag))
}

#[operation(patch, "/api/v1/organizations/{orgId}/members/{userId}", id = "updateOrgMember", callers = users, kind = "org-member",
    tag = "organizations",
    summary = "Change a member's role (admin and above; anything touching the owner role needs owner)",
    description = "Granting `owner`, or changing an owner's role, needs the owner role. The last \
        owner can never be demoted: 409 CONFLICT saying so (make another member owner first). \
        `If-Match` with the membership's ETag is honoured (stale: 409). Setting the role a \
        member already has changes nothing and records no event.",
    request_body = OrgMemberUpdate,
    params(MemberPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<OrgMember>)))]
pub(crate) async fn update_member<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = org_id_of(params)?;
    let user_id = path_id(params, "userId")?.to_string();
    let new_role = parse_body::<OrgMemberUpdate>(req)?.validate()?;
    let member = transaction(ctx.db(), async |db| {
        let (access, owners) = lock_and_resolve(ctx, db, &org_id).await?;
        let org_id = access.org_id.as_str();
        let current = read_member(db, org_id, &user_id, true).await?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        rules::check_role_change(access.role, current.role, new_role, owners)
            .map_err(ApiError::from)?;
        let subject = format!("{org_id}/{user_id}");
        if current.role == new_role {
            ctx.audit("org-member", &subject)
                .detail(json!({ "role": new_role, "unchanged": true }))
                .write(db)
                .await?;
            return Ok::<_, Failure>(current);
        }
        db.execute(
            sql::SET_ROLE,
            &[
                org_id.into(),
                user_id.as_str().into(),
                new_role.as_str().into(),
            ],
        )
        .await?;
        crate::roles::event(ctx, org_id, "member.role_changed", &user_id)
            .detail(json!({ "from": current.role, "to": new_role }))
            .write(db)
            .await?;
        ctx.audit("org-member", &subject)
            .detail(json!({ "from": current.role, "to": new_role }))
            .write(db)
            .await?;
        read_member(db, org_id, &user_id, false).await
    })
    .await?;
    let etag = member.etag();
    Ok(ctx.ok(&member).with_etag(etag))
}

#[operation(delete, "/api/v1/organizations/{orgId}/members/{userId}", id = "removeOrgMember", callers = users, kind = "org-member",
    tag = "organizations",
    summary = "Remove a member (admin and above; removing an owner needs owner), or leave (any member, their own userId)",
    description = "The last owner can never be removed nor leave: 409 CONFLICT saying so. The \
        `member.removed` event says whether the member left (`left: true`).",
    params(MemberPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn remove_member<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = org_id_of(params)?;
    let user_id = path_id(params, "userId")?.to_string();
    let caller = user_id_of(ctx);
    transaction(ctx.db(), async |db| {
        let (access, owners) = lock_and_resolve(ctx, db, &org_id).await?;
        let org_id = access.org_id.as_str();
        let target = read_member(db, org_id, &user_id, true).await?;
        let is_self = caller.as_deref() == Some(target.user_id.as_str());
        rules::check_removal(access.role, is_self, target.role, owners).map_err(ApiError::from)?;
        db.execute(
            sql::DELETE_MEMBER,
            &[org_id.into(), user_id.as_str().into()],
        )
        .await?;
        crate::roles::event(ctx, org_id, "member.removed", &user_id)
            .detail(json!({ "role": target.role, "left": is_self }))
            .write(db)
            .await?;
        ctx.audit("org-member", &format!("{org_id}/{user_id}"))
            .detail(json!({ "role": target.role, "left": is_self }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}
