//! The OpenAPI 3.1 document of the whole API, assembled from every route
//! group's annotations. The committed `openapi.json` must equal it (tested
//! here and through the running host), so the spec cannot drift.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Doc, SecurityRequirement, Server};
use utoipa::OpenApi;

/// The assembled document.
pub fn document() -> Doc {
    let mut doc = crate::MetaApi::openapi();
    doc.merge(cp_tenants::api::TenantsApi::openapi());
    doc.info.title = "Agent platform control plane".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(
        "One API for multi-tenant AI agent platforms: tenants (agent pods), policies, catalogs, \
         tokens, budgets and audit. Conventions (envelopes, errors, pagination, idempotency, \
         ETags) are in API.md; every route except the public ones needs \
         `Authorization: Bearer <token>`."
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
    doc.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    doc
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
}
