//! Invitations: `/organizations/{orgId}/invitations` (create, list pending,
//! revoke) and `/invitations/{token}/accept`.
//!
//! The token (`cpinv_` + 256 random bits) is returned once, at creation;
//! only its SHA-256 digest is stored, and it is looked up by digest. It
//! never appears in a list, event, audit entry or error message. At most one
//! invitation per (organisation, email) is pending: re-inviting deletes the
//! pending one and creates a new one in one transaction, so the old token
//! stops working. Accepting is for the signed-in user whose verified email
//! the invitation names; an accepted or expired invitation is a 409.

use crate::roles::{org_access, OrgRole};
use cp_http::ids::{new_id, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, PageQuery};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::resource::{keyset_list, KeysetList, TieBreak};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, FromRow, Value};
use serde_json::json;

use crate::api::{member_insert_error, org_id_of, read_org, InvitationPath, OrgPath, TokenPath};
use crate::members::lock_and_resolve;
use crate::model::{
    check_token, CreatedOrgInvitation, OrgInvitation, OrgInvitationCreate, Organization,
    INVITATION_TOKEN_PREFIX,
};
use crate::{rules, sql};

/// Cursor scope of an invitation list.
const INVITATIONS_SCOPE: &str = "org-invitations";

/// How a token is named in messages: never the value itself.
const TOKEN_SHOWN: &str = "cpinv_…";

/// Code of an acceptance refused because the account's email is unverified.
pub(crate) const EMAIL_NOT_VERIFIED: &str = "EMAIL_NOT_VERIFIED";

#[operation(get, "/api/v1/organizations/{orgId}/invitations", id = "listOrgInvitations", callers = users, kind = "invitation",
    tag = "organizations",
    summary = "List an organisation's pending invitations, never their tokens (admin and above; keyset pagination, oldest first)",
    description = "Pending means not accepted; an expired one stays listed (`expired: true`) \
        until it is re-sent or revoked.",
    params(OrgPath, PageQuery),
    responses((status = 200, body = ListEnvelope<OrgInvitation>)))]
pub(crate) async fn list_invitations<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = org_id_of(params)?;
    let page = PageRequest::from_request(req, INVITATIONS_SCOPE)?;
    let access = org_access(ctx.db(), &ctx.principal, &org_id, OrgRole::Admin).await?;
    let list = KeysetList {
        scope: INVITATIONS_SCOPE,
        first: &sql::invitations_first(),
        after: &sql::invitations_after(),
        tie: TieBreak::Id,
    };
    let org = Some(access.org_id.as_str().into());
    let (invitations, pagination) = keyset_list(ctx.db(), &page, list, org, |i: &OrgInvitation| {
        vec![json!(i.created_micros), json!(i.id)]
    })
    .await?;
    Ok(ctx.list(&invitations, pagination))
}

#[operation(post, "/api/v1/organizations/{orgId}/invitations", id = "createOrgInvitation", callers = users, kind = "invitation", shows_secret,
    tag = "organizations",
    summary = "Invite someone by email with a role; the single-use token is returned this once",
    description = "Admin and above; inviting an `owner` needs the owner role. Send the \
        `plainTextToken` to the invitee, who accepts with `POST /api/v1/invitations/{token}/accept` \
        while signed in with that email. It expires after `expiresInDays` (default 7, at most \
        30). Re-inviting an email with a pending invitation replaces it (the old token stops \
        working; event `invitation.replaced`); inviting a current member is a 409.",
    request_body = OrgInvitationCreate,
    params(OrgPath, IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<CreatedOrgInvitation>)))]
pub(crate) async fn create_invitation<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = org_id_of(params)?;
    let input = parse_body::<OrgInvitationCreate>(req)?.validate()?;
    let token = cp_crypto::new_token(INVITATION_TOKEN_PREFIX)
        .map_err(|e| Failure::with_cause(ApiError::Internal, format!("generating a token: {e}")))?;
    let id = new_id().to_string();
    let invitation = transaction(ctx.db(), async |db| {
        let (access, _) = lock_and_resolve(ctx, db, &org_id).await?;
        let org_id = access.org_id.as_str();
        rules::check_invitation(access.role, input.role).map_err(ApiError::from)?;
        if let Some(row) = db
            .query_opt(
                sql::MEMBER_BY_EMAIL,
                &[org_id.into(), input.email.as_str().into()],
            )
            .await?
        {
            return Err(ApiError::Conflict(format!(
                "{} is already a member of the organisation (role {}); change their role instead",
                input.email,
                row.text("role")?
            ))
            .into());
        }
        let replaced = match db
            .query_opt(
                sql::DELETE_PENDING,
                &[org_id.into(), input.email.as_str().into()],
            )
            .await?
        {
            Some(row) => Some(row.text("id")?),
            None => None,
        };
        let row = db
            .query_one(
                &sql::insert_invitation(),
                &[
                    id.as_str().into(),
                    org_id.into(),
                    input.email.as_str().into(),
                    input.role.as_str().into(),
                    cp_crypto::token_hash(&token).into(),
                    ctx.principal.actor().into(),
                    Value::Int(input.expires_in_days),
                ],
            )
            .await?;
        let invitation = OrgInvitation::from_row(&row)?;
        let detail = json!({
            "invitationId": id,
            "role": input.role,
            "expiresAt": invitation.expires_at,
            "replacedInvitationId": replaced,
        });
        let kind = if replaced.is_some() {
            "invitation.replaced"
        } else {
            "invitation.created"
        };
        crate::roles::event(ctx, org_id, kind, &input.email)
            .detail(detail.clone())
            .write(db)
            .await?;
        ctx.audit("invitation", &id)
            .detail(json!({ "orgId": org_id, "email": input.email, "detail": detail }))
            .write(db)
            .await?;
        Ok::<_, Failure>(invitation)
    })
    .await?;
    Ok(ctx.created(&CreatedOrgInvitation {
        invitation,
        plain_text_token: token,
    }))
}

#[operation(delete, "/api/v1/organizations/{orgId}/invitations/{invitationId}", id = "revokeOrgInvitation", callers = users, kind = "invitation",
    tag = "organizations",
    summary = "Revoke a pending invitation (admin and above; an owner invitation needs owner); its token stops working",
    params(InvitationPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Revoked")))]
pub(crate) async fn revoke_invitation<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = org_id_of(params)?;
    let invitation_id = path_id(params, "invitationId")?.to_string();
    transaction(ctx.db(), async |db| {
        let (access, _) = lock_and_resolve(ctx, db, &org_id).await?;
        let org_id = access.org_id.as_str();
        access.require(OrgRole::Admin)?;
        // Deleted first, then checked against its role: a refusal rolls the
        // delete back.
        let Some(row) = db
            .query_opt(
                sql::DELETE_INVITATION,
                &[org_id.into(), invitation_id.as_str().into()],
            )
            .await?
        else {
            return Err(ApiError::not_found("INVITATION", &invitation_id).into());
        };
        let email = row.text("email")?;
        let role = row.text("role")?;
        let parsed = OrgRole::parse(&role).unwrap_or(OrgRole::Owner);
        rules::check_invitation(access.role, parsed).map_err(ApiError::from)?;
        crate::roles::event(ctx, org_id, "invitation.revoked", &email)
            .detail(json!({ "invitationId": invitation_id, "role": role }))
            .write(db)
            .await?;
        ctx.audit("invitation", &invitation_id)
            .detail(json!({ "orgId": org_id, "email": email, "role": role }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}

#[operation(post, "/api/v1/invitations/{token}/accept", id = "acceptInvitation", callers = users, kind = "invitation",
    tag = "invitations",
    summary = "Accept an invitation: the signed-in user joins the organisation with the invited role",
    description = "Only the user whose (case-insensitive) email the invitation names may accept \
        it (403 otherwise, and for operators and access tokens), and only when that email is \
        verified (an identity-provider sign-in verifies it; a password signup's email is not): \
        403 EMAIL_NOT_VERIFIED otherwise. A pending email change does not count. An unknown or revoked token is a \
        404; an invitation already accepted, or expired, is a 409 CONFLICT (ask for a new one); \
        an existing member is a 409. Answers the organisation with the caller's new role.",
    params(TokenPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Organization>)))]
pub(crate) async fn accept_invitation<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let token = params.get("token");
    check_token(token)?;
    let Some(user) = ctx.principal.user() else {
        return Err(ApiError::Forbidden(
            "an invitation is accepted by the signed-in user it was sent to".into(),
        )
        .into());
    };
    let digest = cp_crypto::token_hash(token);
    let org = transaction(ctx.db(), async |db| {
        let Some(row) = db
            .query_opt(&sql::invitation_by_token(), &[digest.as_str().into()])
            .await?
        else {
            return Err(ApiError::not_found("INVITATION", TOKEN_SHOWN).into());
        };
        let invitation = OrgInvitation::from_row(&row)?;
        // The account's email as stored now (a pending change is not it),
        // and whether it is verified.
        let Some(acceptor) = db
            .query_opt(sql::ACCEPTOR, &[user.id.as_str().into()])
            .await?
        else {
            return Err(ApiError::Unauthorized("the token's user no longer exists".into()).into());
        };
        // The email first: someone else holding the token learns nothing
        // about the invitation's state.
        if invitation.email != acceptor.text("email")? {
            return Err(ApiError::Forbidden(
                "this invitation was sent to another email address; sign in as that user".into(),
            )
            .into());
        }
        // Anyone can sign up with any address: only a verified email proves
        // the invitation reached this person.
        if !acceptor.bool("verified")? {
            return Err(ApiError::Refused {
                status: 403,
                code: EMAIL_NOT_VERIFIED,
                message: "your account's email is not verified, so it cannot accept an \
                          invitation sent to it; sign in through the identity provider (which \
                          verifies it) and accept again"
                    .into(),
            }
            .into());
        }
        if row.bool("accepted")? {
            return Err(ApiError::Conflict(
                "this invitation has already been accepted; it can be used once".into(),
            )
            .into());
        }
        if invitation.expired {
            return Err(ApiError::Conflict(format!(
                "this invitation expired at {}; ask for a new one",
                invitation.expires_at
            ))
            .into());
        }
        let org_id = invitation.org_id.as_str();
        if let Some(row) = db
            .query_opt(&sql::member(), &[org_id.into(), user.id.as_str().into()])
            .await?
        {
            return Err(ApiError::Conflict(format!(
                "you are already a member of this organisation (role {})",
                row.text("role")?
            ))
            .into());
        }
        db.execute(
            sql::INSERT_MEMBER,
            &[
                org_id.into(),
                user.id.as_str().into(),
                invitation.role.as_str().into(),
            ],
        )
        .await
        .map_err(member_insert_error)?;
        db.execute(
            sql::MARK_ACCEPTED,
            &[invitation.id.as_str().into(), user.id.as_str().into()],
        )
        .await?;
        crate::roles::event(ctx, org_id, "invitation.accepted", &invitation.email)
            .detail(json!({ "invitationId": invitation.id, "userId": user.id }))
            .write(db)
            .await?;
        crate::roles::event(ctx, org_id, "member.joined", &user.id)
            .detail(json!({ "role": invitation.role, "invitationId": invitation.id }))
            .write(db)
            .await?;
        ctx.audit("invitation", &invitation.id)
            .detail(json!({ "orgId": org_id, "userId": user.id, "role": invitation.role }))
            .write(db)
            .await?;
        read_org(db, org_id, Some(&user.id)).await
    })
    .await?;
    let etag = org.etag();
    Ok(ctx.ok(&org).with_etag(etag))
}
