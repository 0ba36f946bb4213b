//! The client: one method per API call, each building a request, sending it
//! through the transport and decoding the answer.

use std::fmt;

use cp_http::outbound::{HttpTransport, OutboundRequest, OutboundResponse};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::builtin::{Scale, ServiceAccountToken, TokenRequest, TokenResponse};
use crate::config::KubeConfig;
use crate::error::KubeError;
use crate::object::{ListMeta, ObjectList};
use crate::resource::{ObjectOf, Resource};
use crate::secret::SecretToken;
use crate::url;

/// Objects per page when listing. Large enough that a normal fleet is one
/// request, small enough that one page stays well under component memory
/// and response-size limits.
pub const LIST_PAGE_SIZE: u32 = 500;

const JSON: &str = "application/json";
const MERGE_PATCH: &str = "application/merge-patch+json";

/// What a successful delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The object is gone.
    Deleted,
    /// Deletion started but the object still exists (finalizers pending, or
    /// the server answered 202): it disappears once they are done.
    Pending,
}

/// A typed Kubernetes client over an [`HttpTransport`].
///
/// Cheap to create: build one per request handler around the transport at
/// hand. `Debug` shows the configuration with the token redacted.
pub struct KubeClient<'a, T> {
    config: KubeConfig,
    transport: &'a T,
}

impl<T> fmt::Debug for KubeClient<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A request body and its media type.
struct Body {
    content_type: &'static str,
    bytes: Vec<u8>,
}

impl Body {
    fn json(content_type: &'static str, value: &impl Serialize) -> Result<Self, KubeError> {
        let bytes = serde_json::to_vec(value).map_err(|error| {
            KubeError::InvalidRequest(format!("cannot encode the request body: {error}"))
        })?;
        Ok(Self {
            content_type,
            bytes,
        })
    }
}

/// The object a request is about, for error messages.
struct Target<'n> {
    kind: &'static str,
    name: &'n str,
}

/// `DeleteOptions` (`meta/v1`), the body of every delete.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeleteOptions<'a> {
    api_version: &'static str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    preconditions: Option<Preconditions<'a>>,
}

/// `DeleteOptions.preconditions`: the server deletes only if the object
/// still has this UID, so we never delete a re-created namesake.
#[derive(Serialize)]
struct Preconditions<'a> {
    uid: &'a str,
}

/// The one thing we read from a delete answer: whether the returned object
/// is still there, marked for deletion.
#[derive(Deserialize)]
struct DeletedObject {
    #[serde(default)]
    metadata: DeletedMeta,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeletedMeta {
    deletion_timestamp: Option<serde_json::Value>,
}

impl<'a, T: HttpTransport> KubeClient<'a, T> {
    /// A client for `config`, sending through `transport`.
    pub fn new(config: KubeConfig, transport: &'a T) -> Self {
        Self { config, transport }
    }

    /// The configuration.
    pub fn config(&self) -> &KubeConfig {
        &self.config
    }

    // -- custom resources -------------------------------------------------

    /// `GET …/{plural}/{name}`.
    pub async fn get<R: Resource>(&self, name: &str) -> Result<ObjectOf<R>, KubeError> {
        let url = self.item_url(&api_path::<R>(), R::PLURAL, name)?;
        let response = self.call("GET", url, None, target::<R>(name)).await?;
        decode(&response, R::KIND)
    }

    /// `GET …/{plural}?limit=500[&labelSelector=…]`, following `continue`
    /// tokens until the last page. Returns all items; `metadata` carries the
    /// list's `resourceVersion` and no `continue`.
    ///
    /// A `continue` token expires after a few minutes on a real server; if
    /// paging takes that long the call fails with `Rejected { code: 410 }`
    /// and should be repeated from the start.
    pub async fn list<R: Resource>(
        &self,
        label_selector: Option<&str>,
    ) -> Result<ObjectList<ObjectOf<R>>, KubeError> {
        let collection = self.collection_url(&api_path::<R>(), R::PLURAL)?;
        let limit = LIST_PAGE_SIZE.to_string();
        let label_selector = label_selector.filter(|selector| !selector.is_empty());
        let mut items = Vec::new();
        let mut continue_token: Option<String> = None;
        loop {
            let mut query = vec![("limit", limit.as_str())];
            if let Some(selector) = label_selector {
                query.push(("labelSelector", selector));
            }
            if let Some(token) = continue_token.as_deref() {
                query.push(("continue", token));
            }
            let url = format!("{collection}{}", url::query(&query));
            let response = self.call("GET", url, None, target::<R>("")).await?;
            let page: ObjectList<ObjectOf<R>> = decode(&response, R::KIND)?;
            items.extend(page.items);
            match page.metadata.continue_token.filter(|next| !next.is_empty()) {
                None => {
                    return Ok(ObjectList {
                        metadata: ListMeta {
                            continue_token: None,
                            resource_version: page.metadata.resource_version,
                        },
                        items,
                    })
                }
                // A server that hands back the token it was given would
                // have us loop forever.
                Some(next) if continue_token.as_deref() == Some(next.as_str()) => {
                    return Err(KubeError::Decode(format!(
                        "{} list: the server repeated the continue token",
                        R::KIND
                    )))
                }
                Some(next) => continue_token = Some(next),
            }
        }
    }

    /// `POST …/{plural}`. The object needs `metadata.name`; `apiVersion` and
    /// `kind` are sent as they are (build it with [`Resource::object`]).
    pub async fn create<R: Resource>(
        &self,
        object: &ObjectOf<R>,
    ) -> Result<ObjectOf<R>, KubeError> {
        let name = object_name::<R>(object)?;
        let url = self.collection_url(&api_path::<R>(), R::PLURAL)?;
        let body = Body::json(JSON, object)?;
        let response = self
            .call("POST", url, Some(body), target::<R>(name))
            .await?;
        decode(&response, R::KIND)
    }

    /// `PUT …/{plural}/{name}`: replaces the whole object. The body carries
    /// `metadata.resourceVersion`, which is required: the server rejects the
    /// write with [`KubeError::Conflict`] if the object changed since it was
    /// read, so concurrent writers cannot silently overwrite each other.
    /// `status` is ignored by the server here; see
    /// [`KubeClient::replace_status`].
    pub async fn replace<R: Resource>(
        &self,
        object: &ObjectOf<R>,
    ) -> Result<ObjectOf<R>, KubeError> {
        let name = versioned_object_name::<R>(object)?;
        let url = self.item_url(&api_path::<R>(), R::PLURAL, name)?;
        let body = Body::json(JSON, object)?;
        let response = self.call("PUT", url, Some(body), target::<R>(name)).await?;
        decode(&response, R::KIND)
    }

    /// `PATCH …/{plural}/{name}` with a JSON merge patch (RFC 7386): the
    /// given fields are set, `null` removes one, everything else is kept —
    /// including fields this crate does not model. Put
    /// `{"metadata":{"resourceVersion":"…"}}` in the patch to make it
    /// conditional.
    pub async fn merge_patch<R: Resource>(
        &self,
        name: &str,
        patch: &serde_json::Value,
    ) -> Result<ObjectOf<R>, KubeError> {
        let url = self.item_url(&api_path::<R>(), R::PLURAL, name)?;
        let body = Body::json(MERGE_PATCH, patch)?;
        let response = self
            .call("PATCH", url, Some(body), target::<R>(name))
            .await?;
        decode(&response, R::KIND)
    }

    /// `PUT …/{plural}/{name}/status`: replaces the status (the spec in the
    /// body is ignored by the server). Requires `metadata.resourceVersion`
    /// like [`KubeClient::replace`].
    pub async fn replace_status<R: Resource>(
        &self,
        object: &ObjectOf<R>,
    ) -> Result<ObjectOf<R>, KubeError> {
        let name = versioned_object_name::<R>(object)?;
        let url = format!(
            "{}/status",
            self.item_url(&api_path::<R>(), R::PLURAL, name)?
        );
        let body = Body::json(JSON, object)?;
        let response = self.call("PUT", url, Some(body), target::<R>(name)).await?;
        decode(&response, R::KIND)
    }

    /// `DELETE …/{plural}/{name}` with a `DeleteOptions` body. With
    /// `precondition_uid` the server deletes only the object with that UID
    /// and answers [`KubeError::Conflict`] otherwise — so a delete based on
    /// an old read never removes a re-created object of the same name.
    pub async fn delete<R: Resource>(
        &self,
        name: &str,
        precondition_uid: Option<&str>,
    ) -> Result<DeleteOutcome, KubeError> {
        let url = self.item_url(&api_path::<R>(), R::PLURAL, name)?;
        let options = DeleteOptions {
            api_version: "v1",
            kind: "DeleteOptions",
            preconditions: precondition_uid.map(|uid| Preconditions { uid }),
        };
        let body = Body::json(JSON, &options)?;
        let response = self
            .call("DELETE", url, Some(body), target::<R>(name))
            .await?;
        Ok(delete_outcome(&response))
    }

    // -- Deployments' scale subresource -----------------------------------

    /// `GET /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale`.
    pub async fn get_deployment_scale(&self, name: &str) -> Result<Scale, KubeError> {
        let url = self.deployment_scale_url(name)?;
        let response = self.call("GET", url, None, deployment(name)).await?;
        decode(&response, "Scale")
    }

    /// Sets a Deployment's desired replicas (0 suspends a tenant) with a
    /// merge patch on its `scale` subresource. Unconditional on purpose:
    /// the last suspend/resume wins, there is nothing to merge.
    pub async fn set_deployment_replicas(
        &self,
        name: &str,
        replicas: i32,
    ) -> Result<Scale, KubeError> {
        let url = self.deployment_scale_url(name)?;
        let patch = serde_json::json!({ "spec": { "replicas": replicas } });
        let body = Body::json(MERGE_PATCH, &patch)?;
        let response = self
            .call("PATCH", url, Some(body), deployment(name))
            .await?;
        decode(&response, "Scale")
    }

    // -- TokenRequest -----------------------------------------------------

    /// Mints a short-lived token for service account `sa_name`, valid for
    /// `audiences`, via
    /// `POST /api/v1/namespaces/{ns}/serviceaccounts/{sa_name}/token`.
    /// The server may shorten `expiration_seconds` (and refuses less than
    /// 600); trust the returned `expiration_timestamp`.
    pub async fn request_service_account_token(
        &self,
        sa_name: &str,
        audiences: &[String],
        expiration_seconds: i64,
    ) -> Result<ServiceAccountToken, KubeError> {
        let url = format!(
            "{}/token",
            self.item_url("api/v1", "serviceaccounts", sa_name)?
        );
        let body = Body::json(JSON, &TokenRequest::new(audiences, expiration_seconds))?;
        let target = Target {
            kind: "ServiceAccount",
            name: sa_name,
        };
        let response = self.call("POST", url, Some(body), target).await?;
        // Not `decode`: serde's messages can quote the input, and this input
        // holds a token. Report only where the body went wrong.
        let parsed: TokenResponse = serde_json::from_slice(&response.body).map_err(|error| {
            KubeError::Decode(format!(
                "TokenRequest response: {:?} error at line {} column {}",
                error.classify(),
                error.line(),
                error.column()
            ))
        })?;
        if parsed.status.token.trim().is_empty() {
            return Err(KubeError::Decode(
                "TokenRequest response: empty token".to_owned(),
            ));
        }
        Ok(ServiceAccountToken {
            token: SecretToken::new(parsed.status.token),
            expiration_timestamp: parsed.status.expiration_timestamp,
        })
    }

    // -- plumbing ---------------------------------------------------------

    /// `{base}/{api}/namespaces/{ns}/{plural}`.
    fn collection_url(&self, api: &str, plural: &str) -> Result<String, KubeError> {
        let namespace = url::segment("namespace", &self.config.namespace)?;
        Ok(format!(
            "{}/{api}/namespaces/{namespace}/{plural}",
            self.config.base()
        ))
    }

    /// `{base}/{api}/namespaces/{ns}/{plural}/{name}`.
    fn item_url(&self, api: &str, plural: &str, name: &str) -> Result<String, KubeError> {
        let name = url::segment("name", name)?;
        Ok(format!("{}/{name}", self.collection_url(api, plural)?))
    }

    fn deployment_scale_url(&self, name: &str) -> Result<String, KubeError> {
        Ok(format!(
            "{}/scale",
            self.item_url("apis/apps/v1", "deployments", name)?
        ))
    }

    /// Builds the request: `Accept` always, the bearer token when
    /// configured, `Content-Type` when there is a body.
    fn request(&self, method: &'static str, url: String, body: Option<Body>) -> OutboundRequest {
        let mut headers = vec![("accept".to_owned(), JSON.to_owned())];
        if let Some(token) = self.config.bearer() {
            headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        }
        let body = match body {
            Some(body) => {
                headers.push(("content-type".to_owned(), body.content_type.to_owned()));
                body.bytes
            }
            None => Vec::new(),
        };
        OutboundRequest {
            method,
            url,
            headers,
            body,
            timeout: self.config.timeout,
        }
    }

    /// Sends and turns every non-2xx answer into a [`KubeError`].
    async fn call(
        &self,
        method: &'static str,
        url: String,
        body: Option<Body>,
        target: Target<'_>,
    ) -> Result<OutboundResponse, KubeError> {
        let response = self.transport.send(self.request(method, url, body)).await?;
        if (200..300).contains(&response.status) {
            Ok(response)
        } else {
            Err(KubeError::from_response(
                &response,
                target.kind,
                target.name,
            ))
        }
    }
}

/// `apis/{group}/{version}`, or `api/{version}` for the core group.
fn api_path<R: Resource>() -> String {
    if R::GROUP.is_empty() {
        format!("api/{}", R::VERSION)
    } else {
        format!("apis/{}/{}", R::GROUP, R::VERSION)
    }
}

fn target<R: Resource>(name: &str) -> Target<'_> {
    Target {
        kind: R::KIND,
        name,
    }
}

fn deployment(name: &str) -> Target<'_> {
    Target {
        kind: "Deployment",
        name,
    }
}

fn object_name<R: Resource>(object: &ObjectOf<R>) -> Result<&str, KubeError> {
    match object.metadata.name.as_deref() {
        Some(name) if !name.is_empty() => Ok(name),
        _ => Err(KubeError::InvalidRequest(format!(
            "{} object has no metadata.name",
            R::KIND
        ))),
    }
}

/// The name of an object about to be replaced, which must also carry the
/// `resourceVersion` it was read at: without one the write would not be
/// conditional (and the API server refuses it for custom resources anyway).
fn versioned_object_name<R: Resource>(object: &ObjectOf<R>) -> Result<&str, KubeError> {
    let name = object_name::<R>(object)?;
    match object.metadata.resource_version.as_deref() {
        Some(version) if !version.is_empty() => Ok(name),
        _ => Err(KubeError::InvalidRequest(format!(
            "{} {name:?} has no metadata.resourceVersion; read it before replacing it",
            R::KIND
        ))),
    }
}

fn decode<X: DeserializeOwned>(response: &OutboundResponse, what: &str) -> Result<X, KubeError> {
    serde_json::from_slice(&response.body)
        .map_err(|error| KubeError::Decode(format!("{what}: {error}")))
}

/// 202 means the server accepted a deletion it has not finished. A 200
/// carries either a `Status` (gone) or the object: still there, with a
/// `deletionTimestamp`, while finalizers run.
fn delete_outcome(response: &OutboundResponse) -> DeleteOutcome {
    if response.status == 202 {
        return DeleteOutcome::Pending;
    }
    match serde_json::from_slice::<DeletedObject>(&response.body) {
        Ok(object) if object.metadata.deletion_timestamp.is_some() => DeleteOutcome::Pending,
        _ => DeleteOutcome::Deleted,
    }
}
