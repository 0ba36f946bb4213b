//! The client against an in-memory fake API server: every request is checked
//! byte for byte (method, URL, headers, body) and every answer is one a real
//! API server (or a proxy in front of it) sends.

#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use cp_http::outbound::{HttpTransport, OutboundRequest, OutboundResponse, TransportError};
use cp_kube::{
    AccessPolicy, ClusterTenant, DeleteOutcome, KubeClient, KubeConfig, KubeError, ObjectMeta,
    Resource, Tenant, TenantSpec, TenantStatus,
};
use serde_json::{json, Value};

const BASE: &str = "https://k8s.test:6443";
const TENANTS: &str =
    "https://k8s.test:6443/apis/opencrane.io/v1alpha1/namespaces/opencrane/tenants";
const TOKEN: &str = "super-secret-sa-token";

// -- harness ----------------------------------------------------------------

/// Records requests and answers them from a queue of canned responses.
#[derive(Default)]
struct FakeApi {
    requests: RefCell<Vec<OutboundRequest>>,
    responses: RefCell<VecDeque<Result<OutboundResponse, TransportError>>>,
}

impl FakeApi {
    fn answering(
        responses: impl IntoIterator<Item = Result<OutboundResponse, TransportError>>,
    ) -> Self {
        Self {
            requests: RefCell::default(),
            responses: RefCell::new(responses.into_iter().collect()),
        }
    }

    fn requests(&self) -> Vec<OutboundRequest> {
        self.requests.borrow().clone()
    }

    fn only_request(&self) -> OutboundRequest {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        requests.into_iter().next().unwrap()
    }
}

impl HttpTransport for FakeApi {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError> {
        self.requests.borrow_mut().push(request);
        self.responses
            .borrow_mut()
            .pop_front()
            .expect("the test queued no response for this request")
    }
}

/// The fake never pends, so one poll finishes any call.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the fake transport never pends"),
    }
}

fn json_response(status: u16, body: Value) -> Result<OutboundResponse, TransportError> {
    Ok(OutboundResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(&body).unwrap(),
    })
}

fn text_response(status: u16, body: &str) -> Result<OutboundResponse, TransportError> {
    Ok(OutboundResponse {
        status,
        headers: vec![("content-type".into(), "text/html".into())],
        body: body.as_bytes().to_vec(),
    })
}

fn config() -> KubeConfig {
    KubeConfig::new(BASE, "opencrane")
        .with_token(TOKEN)
        .with_timeout(Duration::from_secs(7))
}

fn headers(request: &OutboundRequest) -> Vec<(&str, &str)> {
    request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn body_json(request: &OutboundRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

const AUTH: (&str, &str) = ("authorization", "Bearer super-secret-sa-token");
const ACCEPT: (&str, &str) = ("accept", "application/json");
const JSON_BODY: (&str, &str) = ("content-type", "application/json");
const MERGE_PATCH_BODY: (&str, &str) = ("content-type", "application/merge-patch+json");

fn tenant_wire(name: &str, resource_version: &str) -> Value {
    json!({
        "apiVersion": "opencrane.io/v1alpha1",
        "kind": "Tenant",
        "metadata": {
            "name": name,
            "namespace": "opencrane",
            "uid": format!("uid-{name}"),
            "resourceVersion": resource_version,
            "generation": 2,
            "creationTimestamp": "2026-03-01T10:00:00Z",
            "labels": {"opencrane.io/team": "eng"},
            "managedFields": [{"manager": "kubectl"}]
        },
        "spec": {
            "displayName": "Acme",
            "email": "owner@acme.io",
            "team": "eng",
            "monthlyBudgetUsd": 25.5,
            "resources": {"cpu": "500m", "memory": "1Gi", "storage": "10Gi"},
            "skillAllowlist": ["search"],
            "policyRef": "default",
            "suspended": false
        },
        "status": {
            "phase": "Running",
            "ingressHost": format!("{name}.agents.example.com"),
            "observedGeneration": 2,
            "conditions": [{"type": "Ready", "status": "True", "reason": "PodReady",
                            "lastTransitionTime": "2026-03-01T10:01:00Z"}]
        }
    })
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {"name": "acme", "group": "opencrane.io", "kind": "tenants"},
        "code": code
    })
}

fn acme_spec() -> TenantSpec {
    TenantSpec {
        display_name: "Acme".into(),
        email: "owner@acme.io".into(),
        ..TenantSpec::default()
    }
}

// -- requests ---------------------------------------------------------------

#[test]
fn get_sends_an_authenticated_get_and_decodes_the_object() {
    let api = FakeApi::answering([json_response(200, tenant_wire("acme", "41"))]);
    let kube = KubeClient::new(config(), &api);

    let tenant = block_on(kube.get::<Tenant>("acme")).unwrap();

    let request = api.only_request();
    assert_eq!(request.method, "GET");
    assert_eq!(request.url, format!("{TENANTS}/acme"));
    assert_eq!(headers(&request), [ACCEPT, AUTH]);
    assert!(request.body.is_empty());
    assert_eq!(request.timeout, Duration::from_secs(7));

    assert_eq!(tenant.name(), "acme");
    assert_eq!(tenant.metadata.uid.as_deref(), Some("uid-acme"));
    assert_eq!(tenant.metadata.resource_version.as_deref(), Some("41"));
    assert_eq!(tenant.metadata.generation, Some(2));
    assert_eq!(
        tenant.metadata.creation_timestamp.unwrap().to_rfc3339(),
        "2026-03-01T10:00:00+00:00"
    );
    assert_eq!(tenant.spec.monthly_budget_usd, Some(25.5));
    assert_eq!(
        tenant.spec.resources.unwrap().storage.as_deref(),
        Some("10Gi")
    );
    let status = tenant.status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(status.conditions[0].reason.as_deref(), Some("PodReady"));
}

#[test]
fn no_token_means_no_authorization_header() {
    let api = FakeApi::answering([json_response(200, tenant_wire("acme", "1"))]);
    // Trailing slash on the base URL must not double up.
    let kube = KubeClient::new(KubeConfig::new("http://127.0.0.1:6443/", "opencrane"), &api);

    block_on(kube.get::<Tenant>("acme")).unwrap();

    let request = api.only_request();
    assert_eq!(
        request.url,
        "http://127.0.0.1:6443/apis/opencrane.io/v1alpha1/namespaces/opencrane/tenants/acme"
    );
    assert_eq!(headers(&request), [ACCEPT]);
    assert_eq!(request.timeout, KubeConfig::DEFAULT_TIMEOUT);
}

#[test]
fn list_follows_continue_tokens_until_the_last_page() {
    let page = |names: &[&str], next: Option<&str>| {
        let mut metadata = json!({"resourceVersion": "900"});
        if let Some(next) = next {
            metadata["continue"] = json!(next);
            metadata["remainingItemCount"] = json!(1);
        }
        json!({
            "apiVersion": "opencrane.io/v1alpha1",
            "kind": "TenantList",
            "metadata": metadata,
            "items": names.iter().map(|n| tenant_wire(n, "5")).collect::<Vec<_>>()
        })
    };
    let api = FakeApi::answering([
        json_response(
            200,
            page(
                &["a", "b"],
                Some("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6OTAwfQ=="),
            ),
        ),
        json_response(200, page(&["c"], Some("second+/token"))),
        json_response(200, page(&["d"], Some(""))),
    ]);
    let kube = KubeClient::new(config(), &api);

    let list = block_on(kube.list::<Tenant>(Some("opencrane.io/team=eng,tier!=gold"))).unwrap();

    let names: Vec<_> = list.items.iter().map(|t| t.name().to_owned()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert_eq!(list.metadata.resource_version.as_deref(), Some("900"));
    assert_eq!(list.metadata.continue_token, None);

    let selector = "labelSelector=opencrane.io%2Fteam%3Deng%2Ctier%21%3Dgold";
    let urls: Vec<_> = api.requests().into_iter().map(|r| r.url).collect();
    assert_eq!(
        urls,
        [
            format!("{TENANTS}?limit=500&{selector}"),
            format!(
                "{TENANTS}?limit=500&{selector}&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6OTAwfQ%3D%3D"
            ),
            format!("{TENANTS}?limit=500&{selector}&continue=second%2B%2Ftoken"),
        ]
    );
    for request in api.requests() {
        assert_eq!(request.method, "GET");
        assert_eq!(headers(&request), [ACCEPT, AUTH]);
    }
}

#[test]
fn list_without_selector_and_with_an_empty_page() {
    let api = FakeApi::answering([json_response(
        200,
        json!({"kind": "AccessPolicyList", "metadata": {"resourceVersion": "3"}, "items": []}),
    )]);
    let kube = KubeClient::new(config(), &api);

    let list = block_on(kube.list::<AccessPolicy>(None)).unwrap();

    assert!(list.items.is_empty());
    assert_eq!(
        api.only_request().url,
        format!("{BASE}/apis/opencrane.io/v1alpha1/namespaces/opencrane/accesspolicies?limit=500")
    );
}

#[test]
fn list_stops_when_the_server_repeats_a_continue_token() {
    let page = json!({"metadata": {"continue": "same"}, "items": []});
    let api = FakeApi::answering([json_response(200, page.clone()), json_response(200, page)]);
    let kube = KubeClient::new(config(), &api);

    let error = block_on(kube.list::<ClusterTenant>(None)).unwrap_err();

    assert!(matches!(error, KubeError::Decode(_)), "{error:?}");
    assert_eq!(api.requests().len(), 2);
}

#[test]
fn create_posts_the_object_to_the_collection() {
    let api = FakeApi::answering([json_response(201, tenant_wire("acme", "1"))]);
    let kube = KubeClient::new(config(), &api);
    let object = Tenant::object("acme", acme_spec());

    let created = block_on(kube.create::<Tenant>(&object)).unwrap();

    let request = api.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, TENANTS);
    assert_eq!(headers(&request), [ACCEPT, AUTH, JSON_BODY]);
    assert_eq!(
        body_json(&request),
        json!({
            "apiVersion": "opencrane.io/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "acme"},
            "spec": {"displayName": "Acme", "email": "owner@acme.io", "suspended": false}
        })
    );
    assert_eq!(created.metadata.resource_version.as_deref(), Some("1"));
}

#[test]
fn create_without_a_name_is_refused_before_sending() {
    let api = FakeApi::default();
    let kube = KubeClient::new(config(), &api);
    let mut object = Tenant::object("acme", acme_spec());
    object.metadata.name = None;

    let error = block_on(kube.create::<Tenant>(&object)).unwrap_err();

    assert!(matches!(error, KubeError::InvalidRequest(_)), "{error:?}");
    assert!(api.requests().is_empty());
}

#[test]
fn replace_puts_the_object_with_its_resource_version() {
    let api = FakeApi::answering([json_response(200, tenant_wire("acme", "42"))]);
    let kube = KubeClient::new(config(), &api);
    let mut object = Tenant::object("acme", acme_spec());
    object.metadata.resource_version = Some("41".into());
    object.metadata.uid = Some("uid-acme".into());
    object.spec.suspended = true;

    let replaced = block_on(kube.replace::<Tenant>(&object)).unwrap();

    let request = api.only_request();
    assert_eq!(request.method, "PUT");
    assert_eq!(request.url, format!("{TENANTS}/acme"));
    assert_eq!(headers(&request), [ACCEPT, AUTH, JSON_BODY]);
    let body = body_json(&request);
    assert_eq!(body["metadata"]["resourceVersion"], "41");
    assert_eq!(body["spec"]["suspended"], true);
    assert_eq!(body, serde_json::to_value(&object).unwrap());
    assert_eq!(replaced.metadata.resource_version.as_deref(), Some("42"));
}

#[test]
fn replace_without_a_resource_version_is_refused_before_sending() {
    let api = FakeApi::default();
    let kube = KubeClient::new(config(), &api);
    let object = Tenant::object("acme", acme_spec());

    let error = block_on(kube.replace::<Tenant>(&object)).unwrap_err();
    let status_error = block_on(kube.replace_status::<Tenant>(&object)).unwrap_err();

    assert!(error.to_string().contains("resourceVersion"), "{error}");
    assert!(matches!(status_error, KubeError::InvalidRequest(_)));
    assert!(api.requests().is_empty());
}

#[test]
fn merge_patch_sends_a_merge_patch() {
    let api = FakeApi::answering([json_response(200, tenant_wire("acme", "43"))]);
    let kube = KubeClient::new(config(), &api);
    let patch = json!({"spec": {"suspended": true, "team": null}});

    block_on(kube.merge_patch::<Tenant>("acme", &patch)).unwrap();

    let request = api.only_request();
    assert_eq!(request.method, "PATCH");
    assert_eq!(request.url, format!("{TENANTS}/acme"));
    assert_eq!(headers(&request), [ACCEPT, AUTH, MERGE_PATCH_BODY]);
    assert_eq!(body_json(&request), patch);
}

#[test]
fn replace_status_puts_to_the_status_subresource() {
    let api = FakeApi::answering([json_response(200, tenant_wire("acme", "44"))]);
    let kube = KubeClient::new(config(), &api);
    let mut object = Tenant::object("acme", acme_spec());
    object.metadata.resource_version = Some("43".into());
    object.status = Some(TenantStatus {
        phase: Some("Suspended".into()),
        ..TenantStatus::default()
    });

    block_on(kube.replace_status::<Tenant>(&object)).unwrap();

    let request = api.only_request();
    assert_eq!(request.method, "PUT");
    assert_eq!(request.url, format!("{TENANTS}/acme/status"));
    assert_eq!(headers(&request), [ACCEPT, AUTH, JSON_BODY]);
    let body = body_json(&request);
    assert_eq!(body["status"], json!({"phase": "Suspended"}));
    assert_eq!(body["metadata"]["resourceVersion"], "43");
}

#[test]
fn delete_sends_delete_options_with_the_uid_precondition() {
    let gone = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                      "details": {"name": "acme", "group": "opencrane.io", "kind": "tenants",
                                  "uid": "uid-acme"}});
    let api = FakeApi::answering([json_response(200, gone)]);
    let kube = KubeClient::new(config(), &api);

    let outcome = block_on(kube.delete::<Tenant>("acme", Some("uid-acme"))).unwrap();

    assert_eq!(outcome, DeleteOutcome::Deleted);
    let request = api.only_request();
    assert_eq!(request.method, "DELETE");
    assert_eq!(request.url, format!("{TENANTS}/acme"));
    assert_eq!(headers(&request), [ACCEPT, AUTH, JSON_BODY]);
    assert_eq!(
        body_json(&request),
        json!({"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "uid-acme"}})
    );
}

#[test]
fn delete_without_precondition_and_the_pending_outcomes() {
    let mut finalizing = tenant_wire("acme", "50");
    finalizing["metadata"]["deletionTimestamp"] = json!("2026-03-02T00:00:00Z");
    finalizing["metadata"]["finalizers"] = json!(["opencrane.io/cleanup"]);
    let api = FakeApi::answering([
        json_response(200, finalizing),
        json_response(202, tenant_wire("acme", "51")),
        json_response(200, tenant_wire("acme", "52")),
    ]);
    let kube = KubeClient::new(config(), &api);

    assert_eq!(
        block_on(kube.delete::<Tenant>("acme", None)).unwrap(),
        DeleteOutcome::Pending
    );
    assert_eq!(
        block_on(kube.delete::<Tenant>("acme", None)).unwrap(),
        DeleteOutcome::Pending
    );
    // The last state of an object deleted at once, without a deletionTimestamp.
    assert_eq!(
        block_on(kube.delete::<Tenant>("acme", None)).unwrap(),
        DeleteOutcome::Deleted
    );
    assert_eq!(
        body_json(&api.requests()[0]),
        json!({"apiVersion": "v1", "kind": "DeleteOptions"})
    );
}

#[test]
fn names_and_namespaces_are_percent_encoded() {
    let api = FakeApi::answering([json_response(404, status_body(404, "NotFound", "nope"))]);
    let kube = KubeClient::new(KubeConfig::new(BASE, "team a"), &api);

    let _ = block_on(kube.get::<Tenant>("../x/y?z=1#f"));

    assert_eq!(
        api.only_request().url,
        format!(
            "{BASE}/apis/opencrane.io/v1alpha1/namespaces/team%20a/tenants/..%2Fx%2Fy%3Fz%3D1%23f"
        )
    );
}

#[test]
fn names_that_would_change_the_url_are_refused() {
    let api = FakeApi::default();
    let kube = KubeClient::new(config(), &api);
    for name in ["", ".", ".."] {
        let error = block_on(kube.get::<Tenant>(name)).unwrap_err();
        assert!(matches!(error, KubeError::InvalidRequest(_)), "{error:?}");
        let error = block_on(kube.delete::<Tenant>(name, None)).unwrap_err();
        assert!(matches!(error, KubeError::InvalidRequest(_)), "{error:?}");
    }
    let empty_namespace = KubeClient::new(KubeConfig::new(BASE, ""), &api);
    assert!(matches!(
        block_on(empty_namespace.list::<Tenant>(None)),
        Err(KubeError::InvalidRequest(_))
    ));
    assert!(api.requests().is_empty());
}

/// A core-group resource, to check the `/api/v1` path form.
enum ConfigMap {}

impl Resource for ConfigMap {
    type Spec = Value;
    type Status = Value;
    const GROUP: &'static str = "";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "ConfigMap";
    const PLURAL: &'static str = "configmaps";
}

#[test]
fn core_group_resources_live_under_api() {
    let api = FakeApi::answering([json_response(
        200,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "spec": {}}),
    )]);
    let kube = KubeClient::new(config(), &api);

    block_on(kube.get::<ConfigMap>("c")).unwrap();

    assert_eq!(ConfigMap::api_version(), "v1");
    assert_eq!(
        api.only_request().url,
        format!("{BASE}/api/v1/namespaces/opencrane/configmaps/c")
    );
}

// -- scale and TokenRequest -------------------------------------------------

fn scale_wire(spec_replicas: Option<i32>, status_replicas: i32) -> Value {
    let spec = match spec_replicas {
        Some(replicas) => json!({"replicas": replicas}),
        None => json!({}),
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": "tenant-acme", "namespace": "opencrane", "uid": "d-1",
                     "resourceVersion": "77", "creationTimestamp": "2026-03-01T10:00:00Z"},
        "spec": spec,
        "status": {"replicas": status_replicas, "selector": "app=openclaw,tenant=acme"}
    })
}

#[test]
fn get_deployment_scale() {
    let api = FakeApi::answering([json_response(200, scale_wire(Some(1), 1))]);
    let kube = KubeClient::new(config(), &api);

    let scale = block_on(kube.get_deployment_scale("tenant-acme")).unwrap();

    let request = api.only_request();
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.url,
        format!("{BASE}/apis/apps/v1/namespaces/opencrane/deployments/tenant-acme/scale")
    );
    assert_eq!(headers(&request), [ACCEPT, AUTH]);
    assert_eq!(scale.spec.replicas, 1);
    assert_eq!(scale.status.replicas, 1);
    assert_eq!(
        scale.status.selector.as_deref(),
        Some("app=openclaw,tenant=acme")
    );
    assert_eq!(scale.metadata.resource_version.as_deref(), Some("77"));
}

#[test]
fn set_deployment_replicas_merge_patches_the_scale() {
    // Scaled to zero: the server omits spec.replicas.
    let api = FakeApi::answering([json_response(200, scale_wire(None, 1))]);
    let kube = KubeClient::new(config(), &api);

    let scale = block_on(kube.set_deployment_replicas("tenant-acme", 0)).unwrap();

    let request = api.only_request();
    assert_eq!(request.method, "PATCH");
    assert_eq!(
        request.url,
        format!("{BASE}/apis/apps/v1/namespaces/opencrane/deployments/tenant-acme/scale")
    );
    assert_eq!(headers(&request), [ACCEPT, AUTH, MERGE_PATCH_BODY]);
    assert_eq!(body_json(&request), json!({"spec": {"replicas": 0}}));
    assert_eq!(scale.spec.replicas, 0);
    assert_eq!(scale.status.replicas, 1);
}

#[test]
fn deployment_errors_name_the_deployment() {
    let api = FakeApi::answering([json_response(
        404,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
               "message": "deployments.apps \"tenant-x\" not found", "code": 404,
               "details": {"name": "tenant-x", "group": "apps", "kind": "deployments"}}),
    )]);
    let kube = KubeClient::new(config(), &api);

    let error = block_on(kube.set_deployment_replicas("tenant-x", 1)).unwrap_err();

    assert_eq!(
        error,
        KubeError::NotFound {
            kind: "Deployment",
            name: "tenant-x".into()
        }
    );
}

#[test]
fn request_service_account_token() {
    let api = FakeApi::answering([json_response(
        201,
        json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": "tenant-acme", "namespace": "opencrane",
                         "creationTimestamp": null},
            "spec": {"audiences": ["openclaw-session"], "expirationSeconds": 600,
                     "boundObjectRef": null},
            "status": {"token": "eyJhbGciOiJSUzI1NiJ9.minted.sig",
                       "expirationTimestamp": "2026-03-01T10:10:00Z"}
        }),
    )]);
    let kube = KubeClient::new(config(), &api);
    let audiences = vec!["openclaw-session".to_owned()];

    let minted =
        block_on(kube.request_service_account_token("tenant-acme", &audiences, 600)).unwrap();

    let request = api.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.url,
        format!("{BASE}/api/v1/namespaces/opencrane/serviceaccounts/tenant-acme/token")
    );
    assert_eq!(headers(&request), [ACCEPT, AUTH, JSON_BODY]);
    assert_eq!(
        body_json(&request),
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"audiences": ["openclaw-session"], "expirationSeconds": 600}
        })
    );
    assert_eq!(minted.token.expose(), "eyJhbGciOiJSUzI1NiJ9.minted.sig");
    assert_eq!(
        minted.expiration_timestamp.to_rfc3339(),
        "2026-03-01T10:10:00+00:00"
    );
    let printed = format!("{minted:?}");
    assert!(!printed.contains("minted"), "{printed}");
}

#[test]
fn a_malformed_token_response_does_not_leak_the_token() {
    let bodies = [
        json!({"status": {"token": "leaked-token-1", "expirationTimestamp": "not a time"}}),
        json!({"status": "leaked-token-2"}),
        json!({"status": {"token": ["leaked-token-3"], "expirationTimestamp": "2026-03-01T10:10:00Z"}}),
        json!({"status": {"token": "", "expirationTimestamp": "2026-03-01T10:10:00Z"}}),
    ];
    let api = FakeApi::answering(bodies.into_iter().map(|b| json_response(201, b)));
    let kube = KubeClient::new(config(), &api);
    let audiences = vec!["a".to_owned()];

    for _ in 0..4 {
        let error = block_on(kube.request_service_account_token("tenant-acme", &audiences, 600))
            .unwrap_err();
        assert!(matches!(error, KubeError::Decode(_)), "{error:?}");
        let printed = format!("{error} {error:?}");
        assert!(!printed.contains("leaked"), "{printed}");
    }
}

// -- error mapping ----------------------------------------------------------

fn error_for(response: Result<OutboundResponse, TransportError>) -> KubeError {
    let api = FakeApi::answering([response]);
    let kube = KubeClient::new(config(), &api);
    block_on(kube.get::<Tenant>("acme")).unwrap_err()
}

#[test]
fn not_found() {
    let error = error_for(json_response(
        404,
        status_body(404, "NotFound", "tenants.opencrane.io \"acme\" not found"),
    ));
    assert_eq!(
        error,
        KubeError::NotFound {
            kind: "Tenant",
            name: "acme".into()
        }
    );
    assert!(!error.is_retryable());
    assert_eq!(error.to_string(), "Tenant \"acme\" not found");
}

#[test]
fn conflict_409_already_exists_on_create() {
    let api = FakeApi::answering([json_response(
        409,
        status_body(
            409,
            "AlreadyExists",
            "tenants.opencrane.io \"acme\" already exists",
        ),
    )]);
    let kube = KubeClient::new(config(), &api);

    let error = block_on(kube.create::<Tenant>(&Tenant::object("acme", acme_spec()))).unwrap_err();

    assert_eq!(
        error,
        KubeError::AlreadyExists {
            kind: "Tenant",
            name: "acme".into()
        }
    );
    assert!(!error.is_retryable());
}

#[test]
fn conflict_409_stale_resource_version_and_failed_precondition() {
    let stale = "Operation cannot be fulfilled on tenants.opencrane.io \"acme\": the object has \
                 been modified; please apply your changes to the latest version and try again";
    let precondition = "Operation cannot be fulfilled on tenants.opencrane.io \"acme\": \
                        Precondition failed: UID in precondition: uid-old, UID in object meta: uid-new";
    let api = FakeApi::answering([
        json_response(409, status_body(409, "Conflict", stale)),
        json_response(409, status_body(409, "Conflict", precondition)),
    ]);
    let kube = KubeClient::new(config(), &api);
    let mut object = Tenant::object("acme", acme_spec());
    object.metadata.resource_version = Some("1".into());

    let replace_error = block_on(kube.replace::<Tenant>(&object)).unwrap_err();
    let delete_error = block_on(kube.delete::<Tenant>("acme", Some("uid-old"))).unwrap_err();

    assert_eq!(
        replace_error,
        KubeError::Conflict {
            kind: "Tenant",
            name: "acme".into(),
            message: stale.into()
        }
    );
    assert!(
        matches!(&delete_error, KubeError::Conflict { message, .. } if message.contains("Precondition failed"))
    );
    assert!(!replace_error.is_retryable());
}

#[test]
fn invalid_422() {
    let message = "Tenant.opencrane.io \"acme\" is invalid: spec.email: Invalid value: \"nope\": \
                   spec.email in body should match '^.+@.+$'";
    let mut body = status_body(422, "Invalid", message);
    body["details"]["causes"] = json!([{"reason": "FieldValueInvalid",
        "message": "Invalid value: \"nope\"", "field": "spec.email"}]);
    let error = error_for(json_response(422, body));
    assert_eq!(
        error,
        KubeError::Invalid {
            message: message.into()
        }
    );
    assert!(!error.is_retryable());
}

#[test]
fn forbidden_403_is_a_rejection_of_the_control_plane() {
    let message = "tenants.opencrane.io \"acme\" is forbidden: User \
                   \"system:serviceaccount:opencrane:control-plane\" cannot get resource \
                   \"tenants\" in API group \"opencrane.io\" in the namespace \"opencrane\"";
    let error = error_for(json_response(403, status_body(403, "Forbidden", message)));
    assert_eq!(
        error,
        KubeError::Rejected {
            code: 403,
            reason: "Forbidden".into(),
            message: message.into()
        }
    );
    assert!(!error.is_retryable());
}

#[test]
fn unauthorized_401_and_unsupported_media_type_415() {
    let unauthorized = error_for(json_response(
        401,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Unauthorized", "reason": "Unauthorized", "code": 401}),
    ));
    assert!(
        matches!(unauthorized, KubeError::Rejected { code: 401, ref reason, .. } if reason == "Unauthorized")
    );
    let unsupported = error_for(json_response(
        415,
        status_body(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format",
        ),
    ));
    assert!(matches!(unsupported, KubeError::Rejected { code: 415, .. }));
}

#[test]
fn too_many_requests_429_is_retryable() {
    let mut body = status_body(429, "TooManyRequests", "storage is (re)initializing");
    body["details"]["retryAfterSeconds"] = json!(1);
    let error = error_for(json_response(429, body));
    assert!(matches!(error, KubeError::Rejected { code: 429, .. }));
    assert!(error.is_retryable());
}

#[test]
fn server_errors_500_and_503_are_retryable() {
    let internal = error_for(json_response(
        500,
        status_body(
            500,
            "InternalError",
            "Internal error occurred: etcdserver: request timed out",
        ),
    ));
    assert_eq!(
        internal,
        KubeError::ServerError {
            code: 500,
            message: "Internal error occurred: etcdserver: request timed out".into()
        }
    );
    assert!(internal.is_retryable());
    let unavailable = error_for(json_response(
        503,
        status_body(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
    ));
    assert!(matches!(
        unavailable,
        KubeError::ServerError { code: 503, .. }
    ));
    assert!(unavailable.is_retryable());
}

#[test]
fn a_non_json_502_from_a_proxy_falls_back_to_the_http_code() {
    let error = error_for(text_response(
        502,
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body>\r\n</html>\r\n",
    ));
    assert_eq!(
        error,
        KubeError::ServerError {
            code: 502,
            message:
                "<html> <head><title>502 Bad Gateway</title></head> <body>nginx</body> </html>"
                    .into()
        }
    );
    assert!(error.is_retryable());
    let empty = error_for(text_response(503, ""));
    assert_eq!(
        empty,
        KubeError::ServerError {
            code: 503,
            message: "ServiceUnavailable".into()
        }
    );
    let bare_404 = error_for(text_response(404, "404 page not found\n"));
    assert!(matches!(bare_404, KubeError::NotFound { .. }));
    let bare_409 = error_for(text_response(409, ""));
    assert!(matches!(bare_409, KubeError::Conflict { .. }));
}

#[test]
fn transport_errors() {
    let timeout = error_for(Err(TransportError::Timeout));
    assert_eq!(timeout, KubeError::Transport(TransportError::Timeout));
    assert!(timeout.is_retryable());
    let refused = error_for(Err(TransportError::Connect("connection refused".into())));
    assert!(refused.is_retryable());
    let denied = error_for(Err(TransportError::Denied("k8s.test:6443".into())));
    assert!(matches!(
        denied,
        KubeError::Transport(TransportError::Denied(_))
    ));
    assert!(!denied.is_retryable(), "a denied destination stays denied");
}

#[test]
fn an_undecodable_success_body_is_a_decode_error() {
    let error = error_for(text_response(200, "<html>login</html>"));
    assert!(matches!(error, KubeError::Decode(_)), "{error:?}");
    let error = error_for(json_response(
        200,
        json!({"kind": "Tenant", "spec": "wrong"}),
    ));
    assert!(matches!(error, KubeError::Decode(_)), "{error:?}");
    assert!(!error.is_retryable());
}

// -- the token stays secret -------------------------------------------------

#[test]
fn the_token_never_shows_in_debug_or_display() {
    let config = config();
    let api = FakeApi::answering([
        json_response(401, status_body(401, "Unauthorized", "Unauthorized")),
        json_response(403, status_body(403, "Forbidden", "forbidden")),
        json_response(404, status_body(404, "NotFound", "not found")),
        json_response(409, status_body(409, "Conflict", "conflict")),
        json_response(422, status_body(422, "Invalid", "invalid")),
        json_response(500, status_body(500, "InternalError", "boom")),
        text_response(502, "bad gateway"),
        Err(TransportError::Timeout),
        Err(TransportError::Connect("tls handshake failed".into())),
        text_response(200, "not json"),
    ]);
    let kube = KubeClient::new(config.clone(), &api);

    let mut printed = vec![
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{kube:?}"),
        format!("{kube:#?}"),
    ];
    for _ in 0..10 {
        let error = block_on(kube.get::<Tenant>("acme")).unwrap_err();
        printed.push(format!("{error}"));
        printed.push(format!("{error:?}"));
    }
    let mut object = Tenant::object("acme", acme_spec());
    object.metadata = ObjectMeta::default();
    let error = block_on(kube.replace::<Tenant>(&object)).unwrap_err();
    printed.push(format!("{error} {error:?}"));

    for text in &printed {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
    }
    assert!(printed[0].contains("<redacted>"));
    // The token was really sent, so the check above means something.
    assert!(api
        .requests()
        .iter()
        .all(|request| headers(request).contains(&AUTH)));
}
