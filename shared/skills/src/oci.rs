//! A minimal OCI distribution client (push only) over the
//! [`HttpTransport`] port, and the per-bundle backfill run built on it.
//!
//! A bundle becomes an OCI artifact `<prefix>/<name>:<tag>`: an image
//! manifest with `artifactType` [`ARTIFACT_TYPE`], the empty config blob
//! (`{}`, [`EMPTY_MEDIA_TYPE`]) and one layer holding the content
//! ([`LAYER_MEDIA_TYPE`]). The manifest is built deterministically, so its
//! digest is known before anything is sent: a tag that already resolves to
//! that digest is `alreadyPresent` and nothing is uploaded; otherwise each
//! blob is checked (`HEAD`) and uploaded only when missing (monolithic
//! upload: `POST …/blobs/uploads/`, then `PUT <location>?digest=`), then the
//! manifest is `PUT` under the tag. Re-running is therefore idempotent.
//!
//! Authentication: HTTP Basic when a username is configured. Bearer token
//! challenges (`WWW-Authenticate: Bearer realm=…`) are not followed; such a
//! registry answers 401 and the bundle is reported `failed` with that status.
//!
//! Error messages name the operation and the HTTP status only: never
//! credentials, never the registry's response body.

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cp_http::outbound::{HttpTransport, OutboundRequest, OutboundResponse, TransportError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::sha256_digest;

/// Media type of the manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// `artifactType` of a skill bundle artifact.
pub const ARTIFACT_TYPE: &str = "application/vnd.opencrane.skill.v1";
/// Media type of the layer holding the bundle's content.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.opencrane.skill.content.v1";
/// Media type of the empty config blob.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty config blob.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// Where and how to reach the registry.
#[derive(Clone)]
pub struct OciConfig {
    /// `scheme://host[:port]`, no trailing slash.
    pub base_url: String,
    /// Repository prefix, e.g. `opencrane/skills`.
    pub prefix: String,
    /// Basic-auth username, if any.
    pub username: Option<String>,
    /// Basic-auth password (never printed).
    pub password: Option<String>,
    /// Upper bound of one registry call.
    pub timeout: Duration,
}

impl fmt::Debug for OciConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciConfig")
            .field("base_url", &self.base_url)
            .field("prefix", &self.prefix)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Checks a repository prefix: `/`-separated path components of lowercase
/// letters and digits, joined by `.`, `_`, `__` or `-`s (the OCI
/// distribution grammar).
pub fn is_repository_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.len() <= 200
        && prefix.split('/').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || b"._-".contains(x))
                && !c.contains("..")
                && !c.contains("___")
                && !c.contains("._")
                && !c.contains("_.")
                && !c.contains(".-")
                && !c.contains("-.")
                && !c.contains("_-")
                && !c.contains("-_")
        })
}

/// Why a registry call failed. `Display` is safe to show to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciError {
    /// No answer (unreachable, timed out, refused by the host's allow-list).
    Transport(TransportError),
    /// The registry answered with an unexpected status.
    Status {
        /// What we were doing.
        op: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// The registry's answer broke the protocol (missing `Location`, another
    /// digest than the one we sent, ...).
    Protocol(String),
}

impl fmt::Display for OciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The transport's own text may carry host details; the kind is enough.
            Self::Transport(TransportError::Timeout) => write!(f, "the registry timed out"),
            Self::Transport(TransportError::Denied(_)) => {
                write!(
                    f,
                    "the host does not allow outbound requests to the registry"
                )
            }
            Self::Transport(TransportError::Connect(_)) => write!(f, "the registry is unreachable"),
            Self::Status { op, status } if *status == 401 || *status == 403 => write!(
                f,
                "the registry refused {op} (HTTP {status}): check oci_username/oci_password"
            ),
            Self::Status { op, status } => write!(f, "the registry answered HTTP {status} to {op}"),
            Self::Protocol(msg) => write!(f, "unexpected registry answer: {msg}"),
        }
    }
}

impl From<TransportError> for OciError {
    fn from(e: TransportError) -> Self {
        Self::Transport(e)
    }
}

/// One artifact to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact<'c> {
    /// Bundle name (the last repository component).
    pub name: &'c str,
    /// Bundle version (annotated; the tag is derived from it).
    pub version: &'c str,
    /// Tag.
    pub tag: String,
    /// The content.
    pub content: &'c [u8],
}

/// A push that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// The tag already resolved to this manifest: nothing was uploaded.
    AlreadyPresent {
        /// The manifest's digest.
        manifest_digest: String,
    },
    /// Blobs (those missing) and the manifest were uploaded.
    Pushed {
        /// The manifest's digest.
        manifest_digest: String,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<Annotations<'a>>,
}

#[derive(Serialize)]
struct Annotations<'a> {
    #[serde(rename = "org.opencontainers.image.title")]
    title: &'a str,
    #[serde(
        rename = "org.opencontainers.image.version",
        skip_serializing_if = "Option::is_none"
    )]
    version: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    artifact_type: &'a str,
    config: Descriptor<'a>,
    layers: [Descriptor<'a>; 1],
    annotations: Annotations<'a>,
}

/// The manifest of an artifact (deterministic bytes) and its digest.
pub fn manifest_of(artifact: &Artifact<'_>) -> (Vec<u8>, String) {
    let config_digest = sha256_digest(EMPTY_CONFIG);
    let content_digest = sha256_digest(artifact.content);
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE,
        artifact_type: ARTIFACT_TYPE,
        config: Descriptor {
            media_type: EMPTY_MEDIA_TYPE,
            digest: &config_digest,
            size: EMPTY_CONFIG.len(),
            annotations: None,
        },
        layers: [Descriptor {
            media_type: LAYER_MEDIA_TYPE,
            digest: &content_digest,
            size: artifact.content.len(),
            annotations: Some(Annotations {
                title: "SKILL.md",
                version: None,
            }),
        }],
        annotations: Annotations {
            title: artifact.name,
            version: Some(artifact.version),
        },
    };
    // Serialising plain structs of strings and numbers cannot fail.
    let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    let digest = sha256_digest(&bytes);
    (bytes, digest)
}

/// The registry client.
pub struct OciClient<'a, T> {
    config: OciConfig,
    transport: &'a T,
}

impl<'a, T: HttpTransport> OciClient<'a, T> {
    /// A client for `config` over `transport`.
    pub fn new(config: OciConfig, transport: &'a T) -> Self {
        Self { config, transport }
    }

    /// The configuration.
    pub fn config(&self) -> &OciConfig {
        &self.config
    }

    /// The repository of a bundle name.
    pub fn repository(&self, name: &str) -> String {
        format!("{}/{name}", self.config.prefix)
    }

    fn request(&self, method: &'static str, url: String, accept: Option<&str>) -> OutboundRequest {
        let mut headers = Vec::new();
        if let Some(user) = &self.config.username {
            let pass = self.config.password.as_deref().unwrap_or("");
            headers.push((
                "authorization".to_owned(),
                format!("Basic {}", STANDARD.encode(format!("{user}:{pass}"))),
            ));
        }
        if let Some(a) = accept {
            headers.push(("accept".to_owned(), a.to_owned()));
        }
        OutboundRequest {
            method,
            url,
            headers,
            body: Vec::new(),
            timeout: self.config.timeout,
        }
    }

    async fn send(&self, req: OutboundRequest) -> Result<OutboundResponse, OciError> {
        Ok(self.transport.send(req).await?)
    }

    /// `GET /v2/`: is the registry there? 200, or 401 (it wants
    /// credentials, which every call sends), counts as reachable.
    pub async fn ping(&self) -> Result<(), OciError> {
        let url = format!("{}/v2/", self.config.base_url);
        let resp = self.send(self.request("GET", url, None)).await?;
        match resp.status {
            200 | 401 => Ok(()),
            status => Err(OciError::Status {
                op: "the API version check (GET /v2/)",
                status,
            }),
        }
    }

    /// The digest the tag resolves to, if the tag exists.
    async fn tag_digest(&self, repo: &str, tag: &str) -> Result<Option<String>, OciError> {
        let url = format!("{}/v2/{repo}/manifests/{tag}", self.config.base_url);
        let resp = self
            .send(self.request("HEAD", url, Some(MANIFEST_MEDIA_TYPE)))
            .await?;
        match resp.status {
            // Without the header we cannot tell: push again (idempotent).
            200 => Ok(Some(
                resp.header("docker-content-digest")
                    .unwrap_or_default()
                    .to_owned(),
            )),
            404 => Ok(None),
            status => Err(OciError::Status {
                op: "the manifest check (HEAD manifest)",
                status,
            }),
        }
    }

    async fn blob_exists(&self, repo: &str, digest: &str) -> Result<bool, OciError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.config.base_url);
        let resp = self.send(self.request("HEAD", url, None)).await?;
        match resp.status {
            200 => Ok(true),
            404 => Ok(false),
            status => Err(OciError::Status {
                op: "the blob check (HEAD blob)",
                status,
            }),
        }
    }

    /// Resolves an upload `Location` against the registry. A location on
    /// another origin is refused: the request would carry our credentials.
    fn upload_url(&self, location: &str) -> Result<String, OciError> {
        if location.starts_with('/') {
            return Ok(format!("{}{location}", self.config.base_url));
        }
        let same_origin = location
            .strip_prefix(&self.config.base_url)
            .is_some_and(|rest| rest.starts_with('/'));
        if same_origin {
            Ok(location.to_owned())
        } else {
            Err(OciError::Protocol(
                "the upload location is not on the registry's origin".into(),
            ))
        }
    }

    /// Uploads a blob unless the repository already has it.
    async fn ensure_blob(&self, repo: &str, digest: &str, bytes: &[u8]) -> Result<(), OciError> {
        if self.blob_exists(repo, digest).await? {
            return Ok(());
        }
        let url = format!("{}/v2/{repo}/blobs/uploads/", self.config.base_url);
        let resp = self.send(self.request("POST", url, None)).await?;
        if resp.status != 202 {
            return Err(OciError::Status {
                op: "starting a blob upload (POST blobs/uploads)",
                status: resp.status,
            });
        }
        let location = resp
            .header("location")
            .ok_or_else(|| OciError::Protocol("the upload answer has no Location".into()))?;
        let mut url = self.upload_url(location)?;
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("digest=");
        url.push_str(&digest.replace(':', "%3A"));
        let mut req = self.request("PUT", url, None);
        req.headers
            .push(("content-type".into(), "application/octet-stream".into()));
        req.body = bytes.to_vec();
        let resp = self.send(req).await?;
        if resp.status != 201 {
            return Err(OciError::Status {
                op: "the blob upload (PUT blob)",
                status: resp.status,
            });
        }
        Ok(())
    }

    /// Pushes an artifact (see the module docs for the sequence).
    pub async fn push(&self, artifact: &Artifact<'_>) -> Result<Pushed, OciError> {
        let repo = self.repository(artifact.name);
        let (manifest, manifest_digest) = manifest_of(artifact);
        if self.tag_digest(&repo, &artifact.tag).await?.as_deref() == Some(&manifest_digest) {
            return Ok(Pushed::AlreadyPresent { manifest_digest });
        }
        self.ensure_blob(&repo, &sha256_digest(EMPTY_CONFIG), EMPTY_CONFIG)
            .await?;
        self.ensure_blob(&repo, &sha256_digest(artifact.content), artifact.content)
            .await?;
        let url = format!(
            "{}/v2/{repo}/manifests/{}",
            self.config.base_url, artifact.tag
        );
        let mut req = self.request("PUT", url, None);
        req.headers
            .push(("content-type".into(), MANIFEST_MEDIA_TYPE.into()));
        req.body = manifest;
        let resp = self.send(req).await?;
        if resp.status != 201 {
            return Err(OciError::Status {
                op: "the manifest upload (PUT manifest)",
                status: resp.status,
            });
        }
        if let Some(d) = resp.header("docker-content-digest") {
            if d != manifest_digest {
                return Err(OciError::Protocol(format!(
                    "the registry stored the manifest as {d}, expected {manifest_digest}"
                )));
            }
        }
        Ok(Pushed::Pushed { manifest_digest })
    }
}

/// What the backfill did with one bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Uploaded now.
    Pushed,
    /// The registry already had exactly this artifact.
    AlreadyPresent,
    /// Not pushed; see `error`.
    Failed,
    /// Not pushed: the bundle has no content.
    Skipped,
}

/// One bundle's backfill result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackfillItem {
    /// Bundle id.
    pub id: String,
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// What happened.
    pub outcome: Outcome,
    /// Target repository (`<prefix>/<name>`).
    pub repository: String,
    /// Target tag (the version, `+` as `_`).
    pub tag: String,
    /// Digest of the manifest the tag resolves to (pushed or alreadyPresent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A published bundle to back fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleToPush {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The stored digest of the content.
    pub digest: String,
    /// The content, if the bundle has one.
    pub content: Option<Vec<u8>>,
}

/// A backfill run: pushes bundles one after another; once the registry
/// stops answering, the remaining bundles fail without being tried, so a
/// dead registry costs one timeout, not one per bundle.
#[derive(Debug, Default)]
pub struct BackfillRun {
    unreachable: Option<String>,
}

impl BackfillRun {
    /// A fresh run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pushes one bundle and reports the outcome.
    pub async fn push<T: HttpTransport>(
        &mut self,
        client: &OciClient<'_, T>,
        bundle: &BundleToPush,
    ) -> BackfillItem {
        let tag = crate::model::oci_tag(&bundle.version);
        let mut item = BackfillItem {
            id: bundle.id.clone(),
            name: bundle.name.clone(),
            version: bundle.version.clone(),
            outcome: Outcome::Failed,
            repository: client.repository(&bundle.name),
            tag: tag.clone(),
            manifest_digest: None,
            error: None,
        };
        let Some(content) = &bundle.content else {
            item.outcome = Outcome::Skipped;
            item.error = Some("the bundle has no content".into());
            return item;
        };
        if sha256_digest(content) != bundle.digest {
            item.error = Some("the stored content does not match the bundle's digest".into());
            return item;
        }
        if let Some(why) = &self.unreachable {
            item.error = Some(format!("not attempted: {why}"));
            return item;
        }
        let artifact = Artifact {
            name: &bundle.name,
            version: &bundle.version,
            tag,
            content,
        };
        match client.push(&artifact).await {
            Ok(Pushed::Pushed { manifest_digest }) => {
                item.outcome = Outcome::Pushed;
                item.manifest_digest = Some(manifest_digest);
            }
            Ok(Pushed::AlreadyPresent { manifest_digest }) => {
                item.outcome = Outcome::AlreadyPresent;
                item.manifest_digest = Some(manifest_digest);
            }
            Err(e) => {
                if matches!(e, OciError::Transport(_)) {
                    self.unreachable = Some(e.to_string());
                }
                item.error = Some(e.to_string());
            }
        }
        item
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    struct FakeRegistry {
        requests: RefCell<Vec<OutboundRequest>>,
        responses: RefCell<VecDeque<Result<OutboundResponse, TransportError>>>,
    }

    impl FakeRegistry {
        fn answering(
            r: impl IntoIterator<Item = Result<OutboundResponse, TransportError>>,
        ) -> Self {
            Self {
                requests: RefCell::default(),
                responses: RefCell::new(r.into_iter().collect()),
            }
        }

        fn calls(&self) -> Vec<String> {
            self.requests
                .borrow()
                .iter()
                .map(|r| format!("{} {}", r.method, r.url))
                .collect()
        }
    }

    impl HttpTransport for FakeRegistry {
        async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError> {
            self.requests.borrow_mut().push(request);
            self.responses
                .borrow_mut()
                .pop_front()
                .expect("no response queued")
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(o) => o,
            Poll::Pending => panic!("the fake never pends"),
        }
    }

    fn status(code: u16, headers: &[(&str, &str)]) -> Result<OutboundResponse, TransportError> {
        Ok(OutboundResponse {
            status: code,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
        })
    }

    const BASE: &str = "http://reg:5000";

    fn config(user: Option<&str>) -> OciConfig {
        OciConfig {
            base_url: BASE.into(),
            prefix: "opencrane/skills".into(),
            username: user.map(str::to_owned),
            password: user.map(|_| "s3cret-pw".to_owned()),
            timeout: Duration::from_secs(3),
        }
    }

    fn bundle(content: &[u8]) -> BundleToPush {
        BundleToPush {
            id: "b1".into(),
            name: "search".into(),
            version: "1.0.0+b.1".into(),
            digest: sha256_digest(content),
            content: Some(content.to_vec()),
        }
    }

    #[test]
    fn first_push_uploads_blobs_then_the_manifest() {
        let b = bundle(b"# Search");
        let (_, mdigest) = manifest_of(&Artifact {
            name: "search",
            version: "1.0.0+b.1",
            tag: "1.0.0_b.1".into(),
            content: b"# Search",
        });
        let fake = FakeRegistry::answering([
            status(404, &[]),
            // config blob already there, content blob missing
            status(200, &[]),
            status(404, &[]),
            status(
                202,
                &[(
                    "location",
                    "/v2/opencrane/skills/search/blobs/uploads/u1?_state=x",
                )],
            ),
            status(201, &[]),
            status(201, &[("docker-content-digest", &mdigest)]),
        ]);
        let client = OciClient::new(config(Some("robot")), &fake);
        let item = block_on(BackfillRun::new().push(&client, &b));
        assert_eq!(item.outcome, Outcome::Pushed, "{item:?}");
        assert_eq!(item.manifest_digest.as_deref(), Some(mdigest.as_str()));
        assert_eq!(item.repository, "opencrane/skills/search");
        assert_eq!(item.tag, "1.0.0_b.1");
        let repo = format!("{BASE}/v2/opencrane/skills/search");
        assert_eq!(
            fake.calls(),
            [
                format!("HEAD {repo}/manifests/1.0.0_b.1"),
                format!("HEAD {repo}/blobs/{}", sha256_digest(b"{}")),
                format!("HEAD {repo}/blobs/{}", b.digest),
                format!("POST {repo}/blobs/uploads/"),
                format!(
                    "PUT {repo}/blobs/uploads/u1?_state=x&digest={}",
                    b.digest.replace(':', "%3A")
                ),
                format!("PUT {repo}/manifests/1.0.0_b.1"),
            ]
        );
        let reqs = fake.requests.borrow();
        assert_eq!(reqs[4].body, b"# Search");
        let manifest: serde_json::Value = serde_json::from_slice(&reqs[5].body).unwrap();
        assert_eq!(manifest["artifactType"], ARTIFACT_TYPE);
        assert_eq!(manifest["config"]["mediaType"], EMPTY_MEDIA_TYPE);
        assert_eq!(manifest["layers"][0]["digest"], b.digest.as_str());
        assert_eq!(manifest["layers"][0]["size"], 8);
        assert!(reqs.iter().all(|r| r.headers.contains(&(
            "authorization".into(),
            format!("Basic {}", STANDARD.encode("robot:s3cret-pw"))
        ))));
        assert!(reqs[5]
            .headers
            .contains(&("content-type".into(), MANIFEST_MEDIA_TYPE.into())));
    }

    #[test]
    fn a_tag_with_the_same_manifest_is_already_present() {
        let b = bundle(b"# Search");
        let (_, mdigest) = manifest_of(&Artifact {
            name: "search",
            version: "1.0.0+b.1",
            tag: "1.0.0_b.1".into(),
            content: b"# Search",
        });
        let fake = FakeRegistry::answering([status(200, &[("docker-content-digest", &mdigest)])]);
        let client = OciClient::new(config(None), &fake);
        let item = block_on(BackfillRun::new().push(&client, &b));
        assert_eq!(item.outcome, Outcome::AlreadyPresent);
        assert_eq!(fake.calls().len(), 1, "nothing uploaded");
        assert!(fake.requests.borrow()[0]
            .headers
            .iter()
            .all(|(k, _)| k != "authorization"));
    }

    #[test]
    fn a_tag_with_other_content_is_overwritten() {
        let b = bundle(b"v2");
        let fake = FakeRegistry::answering([
            status(200, &[("docker-content-digest", "sha256:other")]),
            status(200, &[]),
            status(200, &[]),
            status(201, &[]),
        ]);
        let client = OciClient::new(config(None), &fake);
        let item = block_on(BackfillRun::new().push(&client, &b));
        assert_eq!(item.outcome, Outcome::Pushed, "{item:?}");
        assert_eq!(fake.calls().len(), 4);
    }

    #[test]
    fn errors_are_mapped_without_secrets_and_a_dead_registry_is_tried_once() {
        // 401 on the manifest check: failed, naming the credentials variables.
        let fake = FakeRegistry::answering([status(401, &[])]);
        let client = OciClient::new(config(Some("robot")), &fake);
        let item = block_on(BackfillRun::new().push(&client, &bundle(b"x")));
        assert_eq!(item.outcome, Outcome::Failed);
        let err = item.error.unwrap();
        assert!(
            err.contains("HTTP 401") && err.contains("oci_username"),
            "{err}"
        );
        assert!(!err.contains("s3cret") && !err.contains("robot"), "{err}");

        // Upload without Location.
        let fake = FakeRegistry::answering([
            status(404, &[]),
            status(200, &[]),
            status(404, &[]),
            status(202, &[]),
        ]);
        let client = OciClient::new(config(None), &fake);
        let item = block_on(BackfillRun::new().push(&client, &bundle(b"x")));
        assert!(item.error.unwrap().contains("no Location"));

        // A Location on another origin is refused before credentials leak.
        let fake = FakeRegistry::answering([
            status(404, &[]),
            status(200, &[]),
            status(404, &[]),
            status(202, &[("location", "http://evil:80/upload")]),
        ]);
        let client = OciClient::new(config(Some("robot")), &fake);
        let item = block_on(BackfillRun::new().push(&client, &bundle(b"x")));
        assert!(item.error.unwrap().contains("origin"));
        assert_eq!(fake.calls().len(), 4);

        // Unreachable: the first bundle fails, the next is not attempted.
        let fake = FakeRegistry::answering([Err(TransportError::Connect(
            "connection refused to reg:5000".into(),
        ))]);
        let client = OciClient::new(config(None), &fake);
        let mut run = BackfillRun::new();
        let first = block_on(run.push(&client, &bundle(b"x")));
        let second = block_on(run.push(&client, &bundle(b"y")));
        assert_eq!(first.outcome, Outcome::Failed);
        assert_eq!(first.error.as_deref(), Some("the registry is unreachable"));
        assert_eq!(second.outcome, Outcome::Failed);
        assert!(second.error.unwrap().starts_with("not attempted"));
        assert_eq!(fake.calls().len(), 1);

        // Timeout wording.
        assert_eq!(
            OciError::Transport(TransportError::Timeout).to_string(),
            "the registry timed out"
        );
    }

    #[test]
    fn no_content_is_skipped_and_a_digest_mismatch_fails_without_calls() {
        let fake = FakeRegistry::answering([]);
        let client = OciClient::new(config(None), &fake);
        let mut b = bundle(b"x");
        b.content = None;
        assert_eq!(
            block_on(BackfillRun::new().push(&client, &b)).outcome,
            Outcome::Skipped
        );
        let mut b = bundle(b"x");
        b.digest = sha256_digest(b"y");
        assert_eq!(
            block_on(BackfillRun::new().push(&client, &b)).outcome,
            Outcome::Failed
        );
        assert!(fake.calls().is_empty());
    }

    #[test]
    fn ping_accepts_200_and_401_only() {
        for (code, ok) in [(200, true), (401, true), (404, false), (500, false)] {
            let fake = FakeRegistry::answering([status(code, &[])]);
            let client = OciClient::new(config(None), &fake);
            assert_eq!(block_on(client.ping()).is_ok(), ok, "{code}");
        }
    }

    #[test]
    fn prefixes_and_debug() {
        for ok in ["opencrane/skills", "a", "a.b/c-d/e__f"] {
            assert!(is_repository_prefix(ok), "{ok}");
        }
        for bad in ["", "/a", "a/", "A/b", "a//b", "a/-b", "a b"] {
            assert!(!is_repository_prefix(bad), "{bad}");
        }
        let text = format!("{:?}", config(Some("robot")));
        assert!(!text.contains("s3cret"), "{text}");
    }
}
