//! A small HTTP client for driving the stand-in over real sockets.

use cp_kube_standin::{StandIn, StandInConfig};
use cp_standin_kit::TestClient;
use hyper::Method;
use serde_json::{json, Value};

pub const TOKEN: &str = "test-token";
pub const NS: &str = "team-a";
pub const CR: &str = "/apis/opencrane.io/v1alpha1";

pub const JSON: &str = "application/json";
pub const MERGE: &str = "application/merge-patch+json";
pub const JSON_PATCH: &str = "application/json-patch+json";

/// A response: status, headers and the body parsed as JSON (or `Null`).
pub use cp_standin_kit::TestResponse as Resp;

pub struct Api {
    client: TestClient,
    pub token: Option<String>,
}

impl Api {
    pub fn new(base: String, token: Option<&str>) -> Self {
        Self {
            client: TestClient::new(base),
            token: token.map(str::to_string),
        }
    }

    /// Sends a request; `Err` when the connection failed (a dropped one).
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Resp, String> {
        let bearer = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = [
            bearer.as_deref().map(|b| ("authorization", b)),
            content_type.map(|ct| ("content-type", ct)),
        ]
        .into_iter()
        .flatten()
        .collect();
        self.client
            .send(method, path, &headers, body.unwrap_or_default())
            .await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        self.try_send(method, path, content_type, body)
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send_json(Method::POST, path, JSON, body).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send_json(Method::PUT, path, JSON, body).await
    }

    pub async fn patch(&self, path: &str, content_type: &str, body: &Value) -> Resp {
        self.send_json(Method::PATCH, path, content_type, body)
            .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None, None).await
    }

    pub async fn delete_with(&self, path: &str, options: &Value) -> Resp {
        self.send_json(Method::DELETE, path, JSON, options).await
    }

    async fn send_json(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> Resp {
        let body = body.to_string().into_bytes();
        self.send(method, path, Some(content_type), Some(body))
            .await
    }
}

/// A stand-in with the test token, and a client that sends it.
pub async fn start(operator: bool) -> (StandIn, Api) {
    let server = StandIn::start(StandInConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        token: Some(TOKEN.into()),
        operator,
    })
    .await
    .unwrap();
    let api = Api::new(server.url(), Some(TOKEN));
    (server, api)
}

pub fn tenants(ns: &str) -> String {
    format!("{CR}/namespaces/{ns}/tenants")
}

pub fn tenant_path(name: &str) -> String {
    format!("{}/{name}", tenants(NS))
}

pub fn deployments(ns: &str) -> String {
    format!("/apis/apps/v1/namespaces/{ns}/deployments")
}

pub fn service_accounts(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/serviceaccounts")
}

pub fn tenant(name: &str) -> Value {
    json!({
        "apiVersion": "opencrane.io/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name, "labels": {"team": "blue"}},
        "spec": {"email": format!("{name}@example.com"), "displayName": name},
    })
}

pub fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
            },
        },
    })
}

pub fn rv(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}
