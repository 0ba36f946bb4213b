//! The request pipeline shared by every route group.

use cp_http::{json, request_id, router, ApiError, ApiRequest, ApiResponse};

use crate::audit::AuditEntry;
use crate::auth::{Authenticator, Principal};
use crate::idempotency::{self, Claim};
use crate::{Failure, Platform, RequestContext, RouteGroup};

/// Serves one request of group `G` on `platform`, authenticating callers
/// with `A`.
pub async fn serve<G: RouteGroup, A: Authenticator, P: Platform>(
    platform: &P,
    req: ApiRequest,
) -> ApiResponse {
    let request_id = request_id::resolve(req.header("x-request-id"));
    let mut resp = match run::<G, A, P>(platform, &req, &request_id).await {
        Ok(resp) => resp,
        Err(failure) => render_failure::<G>(&req, &request_id, failure),
    };
    resp.set_header("x-request-id", request_id);
    resp
}

fn render_failure<G: RouteGroup>(
    req: &ApiRequest,
    request_id: &str,
    failure: Failure,
) -> ApiResponse {
    let status = failure.error.status();
    if let Some(cause) = &failure.cause {
        // The route's pattern, not the path: a path segment may carry a
        // secret (an invitation token), and logs never hold one.
        let route = router::match_route(G::routes(), &req.method, &req.path)
            .map_or("(unrouted)", |m| m.route.pattern);
        eprintln!(
            "request_id={request_id} method={} route={route} status={status} code={} cause={cause}",
            req.method,
            failure.error.code()
        );
    }
    failure.error.to_response(request_id)
}

async fn run<G: RouteGroup, A: Authenticator, P: Platform>(
    platform: &P,
    req: &ApiRequest,
    request_id: &str,
) -> Result<ApiResponse, Failure> {
    json::check_size(req)?;
    let matched = router::match_route(G::routes(), &req.method, &req.path)?;
    let route = matched.route;
    let principal = if route.is_public() {
        Principal::Anonymous
    } else {
        let principal = A::authenticate(req, platform).await?;
        let access = crate::scopes::Access::of(&req.method);
        principal.authorize(access, crate::scopes::area_of_route(route), route.callers)?;
        principal
    };
    let ctx = RequestContext {
        platform,
        request_id: request_id.to_owned(),
        principal,
        now: chrono::Utc::now(),
        operation_id: route.operation_id,
    };

    // Opens and seals stored responses that show a secret (none without it).
    let mut master = None;
    let claim = match idempotency::key_from(req)? {
        // Anonymous callers get no replay: they share one principal, so a
        // stored response would go to whoever sends the same key next (a
        // device code, a login challenge). Their retries simply run again.
        Some(_) if ctx.principal == Principal::Anonymous => None,
        Some(key) if req.method.is_mutation() => {
            master = crate::config::secrets_key(platform).ok();
            let fingerprint = idempotency::fingerprint_key(
                master.as_ref(),
                platform.variable("api_token").as_deref(),
            );
            let principal = ctx.principal.actor();
            let claimed = idempotency::claim(
                platform.db(),
                &principal,
                &key,
                req,
                master.as_ref(),
                &fingerprint,
            );
            match claimed.await? {
                Claim::Replay(resp) => return Ok(resp),
                Claim::Run(claimed) => Some(claimed),
            }
        }
        _ => None,
    };

    let result = G::handle(route.op, &ctx, req, &matched.params).await;
    // A response that shows a secret once is never kept by a cache.
    let result = result.map(|mut resp| {
        if route.shows_secret {
            resp.set_header("cache-control", "no-store");
        }
        resp
    });

    if req.method.is_mutation() {
        if let Err(failure) = &result {
            audit_refusal(&ctx, route.kind, &matched.params, &failure.error).await;
        }
    }

    if let Some(claimed) = claim {
        let final_resp = match &result {
            Ok(resp) => Some(resp.clone()),
            Err(f) if f.error.status() < 500 => Some(f.error.to_response(request_id)),
            Err(_) => None,
        };
        // Bookkeeping failures must not turn a done change into an error:
        // worst case the key is not replayable and a retry runs again.
        // A secret shown once is stored sealed, or (no secrets_key) not at all.
        let stored = match &final_resp {
            Some(resp) if route.shows_secret && (200..300).contains(&resp.status) => {
                match &master {
                    Some(k) => idempotency::complete(platform.db(), &claimed, resp, Some(k)).await,
                    None => idempotency::release(platform.db(), &claimed).await,
                }
            }
            Some(resp) => idempotency::complete(platform.db(), &claimed, resp, None).await,
            None => idempotency::release(platform.db(), &claimed).await,
        };
        if let Err(f) = stored {
            eprintln!(
                "request_id={request_id} idempotency bookkeeping failed: {}",
                f.cause.unwrap_or_default()
            );
        }
        if let Some(resp) = final_resp {
            return Ok(resp);
        }
    }
    result
}

/// Records a refused or failed mutation. Client mistakes about the request's
/// shape (400, 404, 405, 413, 415) are not audited: nothing was attempted.
/// Nor is a lost database (503): there is nowhere to write.
async fn audit_refusal<P: Platform>(
    ctx: &RequestContext<'_, P>,
    kind: &str,
    params: &cp_http::PathParams,
    error: &ApiError,
) {
    if matches!(error.status(), 400 | 404 | 405 | 413 | 415 | 503) {
        return;
    }
    let name = ["name", "id"]
        .iter()
        .map(|p| params.get(p))
        .find(|v| !v.is_empty())
        .unwrap_or("");
    let entry: AuditEntry = ctx
        .audit(kind, name)
        .failed()
        .detail(serde_json::json!({ "status": error.status(), "code": error.code() }));
    if let Err(e) = entry.write(ctx.db()).await {
        eprintln!("request_id={} audit write failed: {e}", ctx.request_id);
    }
}
