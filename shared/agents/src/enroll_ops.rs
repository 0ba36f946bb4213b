//! Agent self-enrolment, the routes: an agent asks to join an organisation
//! (public), an owner or admin approves or rejects it, and the agent
//! collects its key with the claim token it was given (public).
//!
//! Bounded, since anyone may call the public route: enrolments are
//! rate-limited per source address and per organisation
//! ([`ENROLL_ADDRESS`], [`ENROLL_ORG`]), an organisation holds at most
//! `enroll_max_pending_per_org` pending ones (a 429 beyond), and every
//! enrolment expires after 7 days and is then pruned. Only an owner or
//! admin whose verified email the request names is mailed (through the
//! notification outbox, in the same transaction); any other address gets
//! nothing, so the route cannot be used to mail strangers, and the answer
//! is the same either way, so it tells nobody who the admins are.

use cp_http::ids::{id_param, new_id, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, PageQuery};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_orgs::roles::{org_access, ListScope, OrgQuery, OrgRole};
use cp_platform::outbox::Notification;
use cp_platform::throttle::{self, Throttle};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::transaction;
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::api::{audit_detail, check_vaults, new_key};
use crate::enroll_store::{self, enrollment_not_found, ENROLLMENTS_SCOPE};
use crate::enrollment::{
    ClaimedAgent, Enrollment, EnrollmentApproval, EnrollmentClaim, EnrollmentReceipt,
    EnrollmentRejection, EnrollmentRequest, EnrollmentStatus, CLAIM_TOKEN_PREFIX,
};
use crate::model::AgentCreate;
use crate::store::{self, NewAgent};

/// Enrolments from one source address.
pub const ENROLL_ADDRESS: Throttle = Throttle {
    tag: "enroll-address",
    what: "too many agent enrolments from this address",
    max_variable: "enroll_max_per_address",
    max: 10,
    window_variable: "enroll_window_secs",
    window_secs: 3600,
};

/// Enrolments into one organisation.
pub const ENROLL_ORG: Throttle = Throttle {
    tag: "enroll-org",
    what: "too many agent enrolments into this organisation",
    max_variable: "enroll_max_per_org",
    max: 30,
    window_variable: "enroll_window_secs",
    window_secs: 3600,
};

/// The variable of the most pending enrolments one organisation holds.
pub const MAX_PENDING_VARIABLE: &str = "enroll_max_pending_per_org";
/// Its default.
pub const MAX_PENDING: i64 = 50;

/// `{enrollmentId}`, for the OpenAPI document.
pub(crate) struct EnrollmentPath;

impl IntoParams for EnrollmentPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("enrollmentId", "Enrolment id")]
    }
}

fn enrollment_id(params: &PathParams) -> Result<String, Failure> {
    Ok(path_id(params, "enrollmentId")?.to_string())
}

fn max_pending<P: Platform>(platform: &P) -> i64 {
    platform
        .variable(MAX_PENDING_VARIABLE)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|n| (1..=1_000_000).contains(n))
        .unwrap_or(MAX_PENDING)
}

#[operation(post, "/api/v1/agents/enroll", id = "enrollAgent", callers = public, kind = "agent_enrollment", shows_secret,
    tag = "agents",
    summary = "An agent asks to join an organisation; an owner or admin approves it (public)",
    description = "Answers 202 with the enrolment and a claim token (`cpenr_…`, shown once, \
        stored as a SHA-256 digest) that collects the agent's key at \
        `POST /agents/enroll/{enrollmentId}/claim` once approved, within 7 days. When \
        `approverEmail` is the verified address of an owner or admin of the organisation, \
        they are notified (notification outbox); the answer is the same either way. \
        Rate-limited per source address (`enroll_max_per_address`) and per organisation \
        (`enroll_max_per_org`) within `enroll_window_secs`, and at most \
        `enroll_max_pending_per_org` enrolments wait per organisation: 429 RATE_LIMITED with \
        Retry-After. An organisation that does not exist is a 404.",
    request_body = EnrollmentRequest,
    params(IdempotencyKeyHeader),
    responses((status = 202, body = Envelope<EnrollmentReceipt>),
              (status = 429, body = cp_http::error::ErrorBody)))]
pub(crate) async fn enroll_agent<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<EnrollmentRequest>(req)?.validate()?;
    let address = throttle::client_address(req);
    throttle::reserve(ctx, &ENROLL_ADDRESS, &address).await?;
    throttle::reserve(ctx, &ENROLL_ORG, &input.org_id).await?;
    let claim_token = cp_crypto::new_token(CLAIM_TOKEN_PREFIX).map_err(|e| {
        Failure::with_cause(ApiError::Internal, format!("generating a claim token: {e}"))
    })?;
    let id = new_id().to_string();
    let limit = max_pending(ctx.platform);
    let row = transaction(ctx.db(), async |db| {
        let Some(pending) = enroll_store::lock_org_pending(db, &input.org_id).await? else {
            return Err(cp_orgs::roles::org_not_found(&input.org_id).into());
        };
        if pending >= limit {
            return Err(ApiError::RateLimited {
                message: format!(
                    "the organisation already has {pending} enrolments waiting; retry once \
                     its owners or admins have decided some"
                ),
                retry_after_secs: 3600,
            }
            .into());
        }
        enroll_store::insert(
            db,
            &id,
            &input,
            &cp_crypto::token_hash(&claim_token),
            &address,
        )
        .await?;
        let notified = enroll_store::is_approver(db, &input.org_id, &input.approver_email).await?;
        if notified {
            Notification {
                kind: "agent.enrollment",
                recipient: input.approver_email.clone(),
                payload: json!({
                    "enrollmentId": id,
                    "orgId": input.org_id,
                    "agentName": input.name,
                    "description": input.description,
                    "requestedScopes": input.scopes,
                    "approve": format!("/api/v1/agents/enrollments/{id}/approve"),
                    "reject": format!("/api/v1/agents/enrollments/{id}/reject"),
                }),
            }
            .write(db, &ctx.request_id)
            .await?;
        }
        ctx.audit("agent_enrollment", &id)
            .actor(format!("enrollment:{id}"))
            .detail(json!({
                "orgId": input.org_id,
                "name": input.name,
                "approverEmail": input.approver_email,
                "approverNotified": notified,
                "sourceAddress": address,
            }))
            .write(db)
            .await?;
        cp_orgs::roles::event(
            ctx,
            &input.org_id,
            "agent.enrollment_requested",
            &input.name,
        )
        .detail(json!({"enrollmentId": id}))
        .write(db)
        .await?;
        enroll_store::enrollment(db, &id, false).await
    })
    .await?;
    let receipt = EnrollmentReceipt {
        id: row.view.id,
        status: "pending",
        expires_at: row.view.expires_at,
        claim_token,
    };
    Ok(cp_http::envelope::data_response(202, &receipt, ctx.meta()))
}

#[operation(get, "/api/v1/agents/enrollments", id = "listAgentEnrollments", callers = users, kind = "agent_enrollment",
    tag = "agents",
    summary = "List agent enrolments (keyset pagination, oldest first; users see their organisations')",
    description = "`?orgId=` keeps one organisation's (a 404 when the caller is not a member). \
        Never a claim token.",
    params(OrgQuery, PageQuery),
    responses((status = 200, body = ListEnvelope<Enrollment>)))]
pub(crate) async fn list_enrollments<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, ENROLLMENTS_SCOPE)?;
    let scope = ListScope::of(ctx.db(), &ctx.principal, req).await?;
    let (items, pagination) = enroll_store::list(ctx.db(), &page, &scope).await?;
    Ok(ctx.list(&items, pagination))
}

/// The enrolment `id` (locked when `lock`) and the caller's role in its
/// organisation, at least `min` (another organisation's is a 404).
async fn enrollment_access<P: Platform, D: cp_store::Database>(
    ctx: &RequestContext<'_, P>,
    db: &D,
    id: &str,
    min: OrgRole,
    lock: bool,
) -> Result<enroll_store::EnrollmentRow, Failure> {
    let row = enroll_store::enrollment(db, id, lock).await?;
    let access = org_access(db, &ctx.principal, &row.view.org_id, OrgRole::Viewer)
        .await
        .map_err(|f| match f.error {
            ApiError::NotFound { .. } => Failure::from(enrollment_not_found(id)),
            _ => f,
        })?;
    access.require(min)?;
    Ok(row)
}

#[operation(get, "/api/v1/agents/enrollments/{enrollmentId}", id = "getAgentEnrollment", callers = users, kind = "agent_enrollment",
    tag = "agents",
    summary = "Get an agent enrolment (any member of its organisation)",
    params(EnrollmentPath),
    responses((status = 200, body = Envelope<Enrollment>)))]
pub(crate) async fn get_enrollment<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id = enrollment_id(params)?;
    let row = enrollment_access(ctx, ctx.db(), &id, OrgRole::Viewer, false).await?;
    Ok(ctx.ok(&row.view))
}

#[operation(post, "/api/v1/agents/enrollments/{enrollmentId}/approve", id = "approveAgentEnrollment", callers = users, kind = "agent_enrollment",
    tag = "agents",
    summary = "Approve an agent enrolment: the agent is registered, its key waits to be claimed (owners and admins)",
    description = "The body decides what the agent gets (`{}`: the name and scopes it \
        asked for, no vault, tokens of an hour); `vaultIds` must be live vaults of the \
        organisation. The agent has no key until the enrolling agent collects it with its \
        claim token. A decided or expired enrolment is a 409 ENROLLMENT_NOT_PENDING.",
    request_body = EnrollmentApproval,
    params(EnrollmentPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Enrollment>)))]
pub(crate) async fn approve_enrollment<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id = enrollment_id(params)?;
    let approval = parse_body::<EnrollmentApproval>(req)?;
    let actor = ctx.principal.actor();
    let row = transaction(ctx.db(), async |db| {
        let row = enrollment_access(ctx, db, &id, OrgRole::Admin, true).await?;
        row.status.decidable()?;
        let e = &row.view;
        let spec = AgentCreate {
            org_id: e.org_id.clone(),
            name: approval.name.clone().unwrap_or_else(|| e.name.clone()),
            description: e.description.clone(),
            scopes: Some(
                approval
                    .scopes
                    .clone()
                    .unwrap_or_else(|| e.requested_scopes.clone()),
            ),
            vault_ids: approval.vault_ids.clone(),
            token_ttl_seconds: approval.token_ttl_seconds,
            intents_api_enabled: approval.intents_api_enabled,
        }
        .validate()?;
        check_vaults(db, &spec).await?;
        let agent_id = new_id().to_string();
        store::insert(
            db,
            NewAgent {
                id: &agent_id,
                spec: &spec,
                key: None,
                created_by: &actor,
            },
        )
        .await?;
        enroll_store::decide(
            db,
            &id,
            EnrollmentStatus::Approved,
            Some(&agent_id),
            &actor,
            None,
        )
        .await?;
        ctx.audit("agent", &agent_id)
            .detail(audit_detail(&spec))
            .write(db)
            .await?;
        ctx.audit("agent_enrollment", &id)
            .detail(json!({"orgId": e.org_id, "status": "approved", "agentId": agent_id}))
            .write(db)
            .await?;
        cp_orgs::roles::event(ctx, &e.org_id, "agent.registered", &spec.name)
            .detail(json!({"agentId": agent_id, "enrollmentId": id}))
            .write(db)
            .await?;
        enroll_store::enrollment(db, &id, false).await
    })
    .await?;
    Ok(ctx.ok(&row.view))
}

#[operation(post, "/api/v1/agents/enrollments/{enrollmentId}/reject", id = "rejectAgentEnrollment", callers = users, kind = "agent_enrollment",
    tag = "agents",
    summary = "Reject an agent enrolment (owners and admins)",
    description = "A decided or expired enrolment is a 409 ENROLLMENT_NOT_PENDING.",
    request_body = EnrollmentRejection,
    params(EnrollmentPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Enrollment>)))]
pub(crate) async fn reject_enrollment<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id = enrollment_id(params)?;
    let reason = parse_body::<EnrollmentRejection>(req)?.validate()?;
    let actor = ctx.principal.actor();
    let row = transaction(ctx.db(), async |db| {
        let row = enrollment_access(ctx, db, &id, OrgRole::Admin, true).await?;
        row.status.decidable()?;
        enroll_store::decide(
            db,
            &id,
            EnrollmentStatus::Rejected,
            None,
            &actor,
            reason.as_deref(),
        )
        .await?;
        ctx.audit("agent_enrollment", &id)
            .detail(json!({"orgId": row.view.org_id, "status": "rejected"}))
            .write(db)
            .await?;
        enroll_store::enrollment(db, &id, false).await
    })
    .await?;
    Ok(ctx.ok(&row.view))
}

#[operation(post, "/api/v1/agents/enroll/{enrollmentId}/claim", id = "claimAgentEnrollment", callers = public, kind = "agent_enrollment", shows_secret,
    tag = "agents",
    summary = "The enrolling agent collects its API key, once, after approval (public)",
    description = "With the claim token `POST /agents/enroll` answered. A wrong token is the \
        404 of an enrolment that does not exist. Still pending: 409 ENROLLMENT_PENDING (try \
        again later); rejected, already collected or expired: 410 ENROLLMENT_REJECTED, \
        ENROLLMENT_CLAIMED, ENROLLMENT_EXPIRED.",
    request_body = EnrollmentClaim,
    params(EnrollmentPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<ClaimedAgent>),
              (status = 409, body = cp_http::error::ErrorBody, description = "ENROLLMENT_PENDING"),
              (status = 410, body = cp_http::error::ErrorBody,
               description = "ENROLLMENT_REJECTED, ENROLLMENT_CLAIMED or ENROLLMENT_EXPIRED")))]
pub(crate) async fn claim_enrollment<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id = enrollment_id(params)?;
    let claim = parse_body::<EnrollmentClaim>(req)?;
    if !cp_crypto::is_token(&claim.claim_token, CLAIM_TOKEN_PREFIX) {
        return Err(ApiError::invalid(
            "claimToken",
            "must be a claim token (cpenr_ and 43 base64url characters)",
        )
        .into());
    }
    let digest = cp_crypto::token_hash(&claim.claim_token);
    let key = new_key()?;
    let claimed = transaction(ctx.db(), async |db| {
        let row = enroll_store::enrollment(db, &id, true).await?;
        if !cp_auth::tokens_equal(&row.claim_hash, &digest) {
            return Err(enrollment_not_found(&id).into());
        }
        if let Some(refusal) = row.status.claim_refusal() {
            return Err(refusal.into());
        }
        let Some(agent_id) = row.view.agent_id.clone() else {
            // The agent was deleted with its organisation's data.
            return Err(EnrollmentStatus::Expired
                .claim_refusal()
                .unwrap_or(ApiError::Internal)
                .into());
        };
        store::rotate(db, &agent_id, &key.prefix, &key.hash).await?;
        enroll_store::mark_claimed(db, &id).await?;
        ctx.audit("agent", &agent_id)
            .actor(format!("agent:{agent_id}"))
            .detail(json!({"enrollmentId": id, "keyPrefix": key.prefix}))
            .write(db)
            .await?;
        Ok::<_, Failure>(ClaimedAgent {
            agent_id,
            org_id: row.view.org_id,
            api_key: key.key.clone(),
        })
    })
    .await?;
    Ok(ctx.ok(&claimed))
}
