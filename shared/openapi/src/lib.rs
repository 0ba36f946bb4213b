//! The OpenAPI 3.1 document of the whole API, assembled from every route
//! group's annotations. The committed `openapi.json` must equal it (tested
//! here and through the running host), so the spec cannot drift.

#![deny(missing_docs)]

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, OpenApi as Doc, Ref, RefOr, Response, ResponseBuilder, SecurityRequirement,
    Server,
};
use utoipa::{OpenApi, PartialSchema};

/// The assembled document.
pub fn document() -> Doc {
    let mut doc = cp_meta::MetaApi::openapi();
    doc.merge(cp_tenants::api::TenantsApi::openapi());
    doc.merge(cp_policies::api::PoliciesApi::openapi());
    doc.merge(cp_catalog::api::CatalogApi::openapi());
    doc.merge(cp_skills::api::SkillsApi::openapi());
    doc.merge(cp_identity::api::IdentityApi::openapi());
    doc.merge(cp_orgs::api::OrgsApi::openapi());
    doc.merge(cp_gateway::api::GatewayApi::openapi());
    doc.merge(cp_vault::api::VaultsApi::openapi());
    doc.merge(cp_agents::AgentsApi::openapi());
    doc.info.title = "Agent platform control plane".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(
        "One API for multi-tenant AI agent platforms: tenants (agent pods), policies, catalogs, \
         tokens, budgets and audit. Conventions (envelopes, errors, pagination, idempotency, \
         ETags) are in the repository's docs/API.md; every operation except the public ones \
         needs `Authorization: Bearer <token>` (or the session cookie where it declares it)."
            .into(),
    );
    doc.info.license = None;
    doc.info.contact = None;
    doc.servers = Some(vec![Server::new("/")]);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    // The browser session of an OIDC sign-in (`cp_auth::SESSION_COOKIE`):
    // the credential of the operations that declare it.
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            "__Host-cp_session",
            "The browser session cookie set by GET /api/v1/auth/callback; cookie-authenticated \
             writes also need an X-Requested-With header",
        ))),
    );
    doc.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    add_standard_responses(&mut doc);
    doc
}

/// What each standard error status means, for every operation it applies to.
const ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "VALIDATION_ERROR: the request is malformed; `fieldErrors` names each bad field",
    ),
    (
        "401",
        "UNAUTHORIZED: missing or invalid `Authorization: Bearer` token",
    ),
    (
        "403",
        "FORBIDDEN (or a more specific code: FIELD_FORBIDDEN and LIMIT_EXCEEDED name the \
         fields in `fieldErrors`): the caller may not do this",
    ),
    (
        "404",
        "`<KIND>_NOT_FOUND`, or NOT_FOUND for an unknown route",
    ),
    (
        "405",
        "METHOD_NOT_ALLOWED: the path exists with other methods (see `Allow`)",
    ),
    (
        "409",
        "CONFLICT: wrong state, duplicate, stale `If-Match`, or the same Idempotency-Key in flight",
    ),
    ("413", "PAYLOAD_TOO_LARGE: the body exceeds 1 MiB"),
    (
        "415",
        "UNSUPPORTED_MEDIA_TYPE: the body is not `application/json`",
    ),
    (
        "422",
        "IDEMPOTENCY_KEY_REUSED: this Idempotency-Key was used with a different request",
    ),
    (
        "429",
        "RATE_LIMITED: too many attempts; retry after `Retry-After` seconds",
    ),
    (
        "500",
        "INTERNAL_ERROR: a bug; the cause is logged with the request id, never returned",
    ),
    (
        "502",
        "UPSTREAM_ERROR: Kubernetes (or another upstream) failed or timed out",
    ),
    (
        "503",
        "UNAVAILABLE: the database is unavailable; retry later",
    ),
];

/// Documents, on every operation, the API.md error responses the shared
/// pipeline can produce (so every error status a client can see is declared,
/// each with the `ErrorBody` envelope), and the `X-Request-Id` header on
/// every response. Statuses an operation's own annotation declares (such as
/// 403 or 502, which only some handlers produce) are kept and completed.
///
/// - all: 400 (a malformed request or path), 404 (unknown route or
///   resource), 405 (with `Allow`), 500, 503;
/// - authenticated operations: 401;
/// - with a request body: 413 and 415;
/// - with an `Idempotency-Key` header: 409 (the key is in flight) and 422.
fn add_standard_responses(doc: &mut Doc) {
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_standard_responses_to(op);
        }
    }
}

fn add_standard_responses_to(op: &mut Operation) {
    // `security(())` on a route marks it public: one empty requirement.
    let public = op.security.as_ref().is_some_and(|reqs| {
        reqs.iter()
            .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
    });
    if public {
        // Public operations never replay (every anonymous caller is the same
        // principal, `cp_platform::idempotency`): the header means nothing
        // there, so it is not offered.
        if let Some(params) = op.parameters.as_mut() {
            params.retain(|p| {
                !(p.parameter_in == ParameterIn::Header
                    && p.name.eq_ignore_ascii_case("Idempotency-Key"))
            });
        }
    }
    let has_body = op.request_body.is_some();
    let idempotent = op.parameters.iter().flatten().any(|p| {
        p.parameter_in == ParameterIn::Header && p.name.eq_ignore_ascii_case("Idempotency-Key")
    });
    let applies = |status: &str| match status {
        "400" | "404" | "405" | "500" | "503" => true,
        // Authenticated operations may refuse the caller: an access token
        // without the scope, a user on an operator's operation, a role too low.
        "401" | "403" => !public,
        "413" | "415" => has_body,
        "409" | "422" => idempotent,
        _ => false,
    };
    let responses = &mut op.responses.responses;
    for (status, description) in ERRORS {
        match responses.get_mut(*status) {
            Some(RefOr::T(resp)) if resp.description.is_empty() => {
                resp.description = (*description).to_owned();
            }
            Some(_) => {}
            None if applies(status) => {
                responses.insert((*status).to_owned(), error_response(description).into());
            }
            None => {}
        }
    }
    for (status, resp) in responses.iter_mut() {
        let RefOr::T(resp) = resp else { continue };
        if resp.description.is_empty() {
            resp.description = success_description(status).to_owned();
        }
        if status == "405" && !resp.headers.contains_key("Allow") {
            resp.headers.insert(
                "Allow".into(),
                HeaderBuilder::new()
                    .schema(String::schema())
                    .description(Some("The methods the path accepts"))
                    .build(),
            );
        }
        if status == "429" && !resp.headers.contains_key("Retry-After") {
            resp.headers.insert(
                "Retry-After".into(),
                HeaderBuilder::new()
                    .schema(u64::schema())
                    .description(Some("Seconds until a retry may succeed"))
                    .build(),
            );
        }
        resp.headers.insert(
            "X-Request-Id".into(),
            HeaderBuilder::new()
                .schema(String::schema())
                .description(Some(
                    "The request id (the client's well-formed `X-Request-Id`, or a new one)",
                ))
                .build(),
        );
    }
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

fn success_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "204" => "No content",
        _ => "Error (see `ErrorBody`)",
    }
}

/// The document as pretty JSON with a trailing newline (the committed form).
pub fn document_json() -> String {
    let mut s = document()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn committed_openapi_json_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json");
        let generated = document_json();
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "openapi.json is out of date with the code: run `make openapi` and commit it"
        );
    }

    #[test]
    fn document_is_openapi_3_1_with_bearer_auth_and_public_meta_routes() {
        let v: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        assert!(v["openapi"].as_str().unwrap().starts_with("3.1"));
        assert_eq!(
            v["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert_eq!(
            v["paths"]["/healthz"]["get"]["security"],
            serde_json::json!([{}])
        );
        assert!(v["paths"]["/api/v1/tenants"]["get"]
            .get("security")
            .is_none());
    }

    #[test]
    fn every_authenticated_path_is_in_a_scope_area() {
        // Access token scopes name areas; a route outside every area could
        // only be reached with `*` or `read`, which is not what its author meant.
        // The area is the operation's declared one (`x-access.scopeArea`:
        // the path's first segment unless the declaration names another).
        let v: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        for (path, item) in v["paths"].as_object().unwrap() {
            for op in item.as_object().unwrap().values() {
                if op["security"] == serde_json::json!([{}]) {
                    continue;
                }
                let area = op["x-access"]["scopeArea"].as_str().unwrap_or_default();
                assert!(
                    cp_platform::scopes::is_area(area),
                    "{path}: area '{area}' is missing from cp_platform::scopes::AREAS"
                );
            }
        }
    }

    #[test]
    fn every_error_status_is_documented_with_the_error_envelope() {
        let v: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        let mut operation_ids = Vec::new();
        for (path, item) in v["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                operation_ids.push(op["operationId"].as_str().unwrap().to_owned());
                let responses = op["responses"].as_object().unwrap();
                let public = op["security"] == serde_json::json!([{}]);
                let has = |s: &str| responses.contains_key(s);
                for s in ["400", "404", "405", "500", "503"] {
                    assert!(has(s), "{method} {path} lacks {s}");
                }
                // Public login routes document their own 401 (bad credentials
                // in the body); every other route answers 401 without a token.
                assert!(public || has("401"), "{method} {path}: 401");
                if op.get("requestBody").is_some() {
                    assert!(has("413") && has("415"), "{method} {path}: 413/415");
                }
                let idempotent = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key"));
                assert_eq!(has("422"), idempotent, "{method} {path}: 422");
                for (status, resp) in responses {
                    assert!(!resp["description"].as_str().unwrap().is_empty());
                    assert!(resp["headers"].get("X-Request-Id").is_some());
                    if status.starts_with('4') || status.starts_with('5') {
                        assert_eq!(
                            resp["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/ErrorBody",
                            "{method} {path} {status}"
                        );
                    }
                }
                assert!(
                    responses["405"]["headers"].get("Allow").is_some(),
                    "{method} {path}"
                );
            }
        }
        // Every link names an existing operation, by its spec field name.
        for item in v["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                for resp in op["responses"].as_object().unwrap().values() {
                    for link in resp["links"]
                        .as_object()
                        .into_iter()
                        .flat_map(|l| l.values())
                    {
                        let target = link["operationId"].as_str().unwrap();
                        assert!(operation_ids.iter().any(|id| id == target), "{target}");
                        assert!(link.get("operation_id").is_none());
                    }
                }
            }
        }
    }
}
