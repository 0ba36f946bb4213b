//! A small HTTP client for driving the stand-in over real sockets.

use bytes::Bytes;
use cp_kube_standin::{StandIn, StandInConfig};
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

pub const TOKEN: &str = "test-token";
pub const NS: &str = "team-a";
pub const CR: &str = "/apis/opencrane.io/v1alpha1";

pub const JSON: &str = "application/json";
pub const MERGE: &str = "application/merge-patch+json";
pub const JSON_PATCH: &str = "application/json-patch+json";

/// A response: status, headers and the body parsed as JSON (or `Null`).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

pub struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    pub base: String,
    pub token: Option<String>,
}

impl Api {
    pub fn new(base: String, token: Option<&str>) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base,
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
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            body,
            text,
        })
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
        self.send(
            Method::POST,
            path,
            Some(JSON),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(
            Method::PUT,
            path,
            Some(JSON),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn patch(&self, path: &str, content_type: &str, body: &Value) -> Resp {
        self.send(
            Method::PATCH,
            path,
            Some(content_type),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None, None).await
    }

    pub async fn delete_with(&self, path: &str, options: &Value) -> Resp {
        self.send(
            Method::DELETE,
            path,
            Some(JSON),
            Some(options.to_string().into_bytes()),
        )
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
