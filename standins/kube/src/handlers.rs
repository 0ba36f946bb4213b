//! Routing and handlers of the Kubernetes API surface: turns one HTTP
//! request into calls on the [`registry`] and one [`Reply`].
//!
//! Handlers run synchronously with the state locked; they never block on
//! I/O, so holding a `std::sync::Mutex` is fine.

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;

use crate::deployments;
use crate::discovery;
use crate::registry::{self, DeleteOptions, Deleted, ListQuery, PatchType, Target, WriteOptions};
use crate::resources::{self, ResourceType, DEPLOYMENTS, SERVICE_ACCOUNTS};
use crate::selector::{FieldSelector, LabelSelector};
use crate::server::{lock, Shared};
use crate::status::{delete_success, ApiError};
use crate::token;

/// The parts of an HTTP request the handlers look at (the body already
/// read).
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) authorization: Option<String>,
    pub(crate) body: Bytes,
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: &'static str,
    pub(crate) body: Bytes,
    /// `Warning` headers (unknown fields dropped by pruning).
    pub(crate) warnings: Vec<String>,
    pub(crate) retry_after: Option<u32>,
}

impl Reply {
    pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Self {
        // Serialising a serde_json::Value or one of our derive(Serialize)
        // types cannot fail; fall back to an empty object all the same.
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self {
            status,
            content_type: "application/json",
            body: Bytes::from(body),
            warnings: Vec::new(),
            retry_after: None,
        }
    }

    pub(crate) fn text(status: StatusCode, text: &'static str) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from_static(text.as_bytes()),
            warnings: Vec::new(),
            retry_after: None,
        }
    }

    pub(crate) fn error(error: &ApiError) -> Self {
        let mut reply = Self::json(error.http_status(), error.body());
        reply.retry_after = error.retry_after();
        reply
    }

    fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }
}

/// The subresources served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sub {
    Status,
    Scale,
    Token,
}

/// What a path addresses.
#[derive(Debug)]
enum Route {
    Health,
    Version,
    ApiVersions,
    GroupList,
    Group(String),
    ResourceList(String, String),
    Collection(&'static ResourceType, Option<String>),
    Object(&'static ResourceType, String, String),
    Subresource(&'static ResourceType, String, String, Sub),
    Unknown,
}

fn route(path: &str) -> Route {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["healthz" | "readyz" | "livez", ..] => Route::Health,
        ["version"] => Route::Version,
        ["api"] => Route::ApiVersions,
        ["apis"] => Route::GroupList,
        ["apis", group] => Route::Group((*group).to_string()),
        ["api", version] if resources::serves_group_version("", version) => {
            Route::ResourceList(String::new(), (*version).to_string())
        }
        ["apis", group, version] if resources::serves_group_version(group, version) => {
            Route::ResourceList((*group).to_string(), (*version).to_string())
        }
        ["api", version, rest @ ..] => resource_route("", version, rest),
        ["apis", group, version, rest @ ..] => resource_route(group, version, rest),
        _ => Route::Unknown,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let find = |plural: &str| resources::lookup(group, version, plural);
    match rest {
        [plural] => find(plural).map_or(Route::Unknown, |rt| Route::Collection(rt, None)),
        ["namespaces", ns, plural] => find(plural).map_or(Route::Unknown, |rt| {
            Route::Collection(rt, Some((*ns).to_string()))
        }),
        ["namespaces", ns, plural, name] => find(plural).map_or(Route::Unknown, |rt| {
            Route::Object(rt, (*ns).to_string(), (*name).to_string())
        }),
        ["namespaces", ns, plural, name, sub] => {
            let Some(rt) = find(plural) else {
                return Route::Unknown;
            };
            let sub = match *sub {
                "status" if rt.status_subresource => Sub::Status,
                "scale" if rt.scale_subresource => Sub::Scale,
                "token" if std::ptr::eq(rt, &SERVICE_ACCOUNTS) => Sub::Token,
                _ => return Route::Unknown,
            };
            Route::Subresource(rt, (*ns).to_string(), (*name).to_string(), sub)
        }
        _ => Route::Unknown,
    }
}

/// Decoded query parameters, in order.
fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The media type of `Content-Type`, lowercased, without parameters.
fn media_type(req: &ApiRequest) -> String {
    req.content_type
        .as_deref()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The JSON body of a create or update. A missing `Content-Type` is taken
/// as JSON, as the real server takes its first serializer.
fn json_body(req: &ApiRequest, custom: bool) -> Result<Value, ApiError> {
    let media = media_type(req);
    if !media.is_empty() && media != "application/json" {
        return Err(if custom {
            ApiError::unsupported_media_type(&["application/json", "application/yaml"])
        } else {
            ApiError::unsupported_media_type(&[
                "application/json",
                "application/yaml",
                "application/vnd.kubernetes.protobuf",
            ])
        });
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })
}

fn patch_type(req: &ApiRequest, custom: bool) -> Result<PatchType, ApiError> {
    match media_type(req).as_str() {
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/strategic-merge-patch+json" if !custom => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" => Err(ApiError::unsupported_media_type(&[
            "application/json-patch+json",
            "application/merge-patch+json (server-side apply is not implemented by the stand-in)",
        ])),
        _ if custom => Err(ApiError::unsupported_media_type(&[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ])),
        _ => Err(ApiError::unsupported_media_type(&[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
        ])),
    }
}

fn dry_run(params: &[(String, String)]) -> Result<bool, ApiError> {
    match param(params, "dryRun") {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid dry run value: {other:?}; supported values: \"All\""
        ))),
    }
}

fn write_options(params: &[(String, String)]) -> Result<WriteOptions, ApiError> {
    let strict = match param(params, "fieldValidation") {
        None | Some("" | "Warn" | "Ignore") => false,
        Some("Strict") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
            )))
        }
    };
    Ok(WriteOptions {
        dry_run: dry_run(params)?,
        strict,
    })
}

fn warnings_for(params: &[(String, String)], warnings: Vec<String>) -> Vec<String> {
    // fieldValidation=Ignore drops the warnings too.
    if param(params, "fieldValidation") == Some("Ignore") {
        Vec::new()
    } else {
        warnings
    }
}

fn list_query(params: &[(String, String)]) -> Result<ListQuery, ApiError> {
    if matches!(param(params, "watch"), Some("true" | "1")) {
        return Err(ApiError::bad_request(
            "watch is not supported by the stand-in; poll with list instead",
        ));
    }
    let labels = LabelSelector::parse(param(params, "labelSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(param(params, "fieldSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let limit = match param(params, "limit") {
        None | Some("") => None,
        Some(l) => Some(l.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid limit {l:?}: must be a non-negative integer"
            ))
        })?),
    };
    Ok(ListQuery {
        labels,
        fields,
        limit,
        continue_token: param(params, "continue").map(str::to_string),
    })
}

fn delete_options(
    req: &ApiRequest,
    params: &[(String, String)],
) -> Result<DeleteOptions, ApiError> {
    let body: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&req.body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?
    };
    let text = |pointer: &str| {
        body.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let policy = param(params, "propagationPolicy")
        .map(str::to_string)
        .or_else(|| text("/propagationPolicy"));
    if let Some(p) = policy.as_deref() {
        if !matches!(p, "Orphan" | "Background" | "Foreground") {
            return Err(ApiError::invalid(
                "DeleteOptions",
                "",
                "DeleteOptions",
                "",
                &[crate::status::FieldError::not_supported(
                    "propagationPolicy",
                    p,
                    vec!["Foreground".into(), "Background".into(), "Orphan".into()],
                )],
            ));
        }
    }
    let orphan = policy.as_deref() == Some("Orphan")
        || body.get("orphanDependents").and_then(Value::as_bool) == Some(true)
        || param(params, "orphanDependents") == Some("true");
    let body_dry_run = body
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|d| d.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        precondition_uid: text("/preconditions/uid"),
        precondition_resource_version: text("/preconditions/resourceVersion"),
        orphan,
        dry_run: dry_run(params)? || body_dry_run,
    })
}

fn authorized(shared: &Shared, req: &ApiRequest) -> bool {
    let Some(expected) = shared.token.as_deref() else {
        return true;
    };
    let Some(header) = req.authorization.as_deref() else {
        return false;
    };
    let Some((scheme, token)) = header.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && constant_time_eq(token.trim().as_bytes(), expected.as_bytes())
}

/// Token comparison that does not stop at the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Answers one Kubernetes API request.
pub(crate) fn handle(shared: &Shared, req: &ApiRequest) -> Reply {
    let route = route(&req.path);
    // Health endpoints stay open, as the real server's anonymous access to
    // them lets probes work without credentials.
    if !matches!(route, Route::Health) && !authorized(shared, req) {
        return Reply::error(&ApiError::unauthorized());
    }
    match dispatch(shared, req, route) {
        Ok(reply) => reply,
        Err(error) => Reply::error(&error),
    }
}

fn dispatch(shared: &Shared, req: &ApiRequest, route: Route) -> Result<Reply, ApiError> {
    let params = query_params(req.query.as_deref());
    let ok = |value: &Value| Ok(Reply::json(StatusCode::OK, value));
    let get_only = |value: Value| {
        if req.method == Method::GET {
            Ok(Reply::json(StatusCode::OK, &value))
        } else {
            Err(ApiError::method_not_allowed())
        }
    };
    match route {
        Route::Health => match req.method {
            Method::GET | Method::HEAD => Ok(Reply::text(StatusCode::OK, "ok")),
            _ => Err(ApiError::method_not_allowed()),
        },
        Route::Version => get_only(discovery::version()),
        Route::ApiVersions => get_only(discovery::api_versions(&shared.addr.to_string())),
        Route::GroupList => get_only(discovery::api_group_list()),
        Route::Group(group) => {
            let group = discovery::api_group(&group).ok_or_else(ApiError::unknown_path)?;
            get_only(group)
        }
        Route::ResourceList(group, version) => {
            get_only(discovery::api_resource_list(&group, &version))
        }
        Route::Unknown => Err(ApiError::unknown_path()),

        Route::Collection(rt, None) => match req.method {
            Method::GET => {
                let query = list_query(&params)?;
                let state = lock(&shared.state);
                ok(&registry::list(&state, rt, None, &query)?)
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        Route::Collection(rt, Some(ns)) => match req.method {
            Method::GET => {
                let query = list_query(&params)?;
                let state = lock(&shared.state);
                ok(&registry::list(&state, rt, Some(&ns), &query)?)
            }
            Method::POST => {
                let options = write_options(&params)?;
                let body = json_body(req, rt.custom)?;
                let mut state = lock(&shared.state);
                let written = registry::create(&mut state, rt, &ns, body, options)?;
                Ok(Reply::json(StatusCode::CREATED, &written.object)
                    .with_warnings(warnings_for(&params, written.warnings)))
            }
            Method::DELETE => {
                let query = list_query(&params)?;
                let options = delete_options(req, &params)?;
                let mut state = lock(&shared.state);
                ok(&registry::delete_collection(
                    &mut state, rt, &ns, &query, &options,
                )?)
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        Route::Object(rt, ns, name) => match req.method {
            Method::DELETE => {
                let options = delete_options(req, &params)?;
                let mut state = lock(&shared.state);
                match registry::delete(&mut state, rt, &ns, &name, &options)? {
                    Deleted::Gone(object) if !rt.return_deleted_object => {
                        let uid = crate::store::str_at(&object, "/metadata/uid");
                        Ok(Reply::json(StatusCode::OK, &delete_success(rt, &name, uid)))
                    }
                    Deleted::Gone(object) | Deleted::Pending(object) => ok(&object),
                }
            }
            _ => handle_object(shared, req, &params, rt, &ns, &name, Target::Main),
        },
        Route::Subresource(rt, ns, name, Sub::Status) => {
            handle_object(shared, req, &params, rt, &ns, &name, Target::Status)
        }
        Route::Subresource(_, ns, name, Sub::Scale) => {
            handle_scale(shared, req, &params, &ns, &name)
        }
        Route::Subresource(_, ns, name, Sub::Token) => match req.method {
            Method::POST => {
                let body = if req.body.iter().all(u8::is_ascii_whitespace) {
                    Value::Null
                } else {
                    json_body(req, false)?
                };
                let state = lock(&shared.state);
                let response = token::create_token(&state, &ns, &name, body)?;
                Ok(Reply::json(StatusCode::CREATED, &response))
            }
            _ => Err(ApiError::method_not_allowed()),
        },
    }
}

/// GET, PUT and PATCH of one object or its `/status`: the same verbs,
/// with `target` choosing which part a write may change.
fn handle_object(
    shared: &Shared,
    req: &ApiRequest,
    params: &[(String, String)],
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    target: Target,
) -> Result<Reply, ApiError> {
    let written = match req.method {
        Method::GET => {
            let state = lock(&shared.state);
            return Ok(Reply::json(StatusCode::OK, state.existing(rt, ns, name)?));
        }
        Method::PUT => {
            let options = write_options(params)?;
            let body = json_body(req, rt.custom)?;
            let mut state = lock(&shared.state);
            registry::update(&mut state, rt, ns, name, body, target, options)?
        }
        Method::PATCH => {
            let options = write_options(params)?;
            let patch_type = patch_type(req, rt.custom)?;
            let mut state = lock(&shared.state);
            registry::patch(
                &mut state, rt, ns, name, patch_type, &req.body, target, options,
            )?
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    Ok(Reply::json(StatusCode::OK, &written.object)
        .with_warnings(warnings_for(params, written.warnings)))
}

/// `/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale`.
fn handle_scale(
    shared: &Shared,
    req: &ApiRequest,
    params: &[(String, String)],
    ns: &str,
    name: &str,
) -> Result<Reply, ApiError> {
    let rt = &DEPLOYMENTS;
    let mut state = lock(&shared.state);
    let current = || state.existing(rt, ns, name).cloned();
    match req.method {
        Method::GET => Ok(Reply::json(
            StatusCode::OK,
            &deployments::scale_of(&current()?),
        )),
        Method::PUT | Method::PATCH => {
            let options = write_options(params)?;
            let old = current()?;
            let scale = if req.method == Method::PUT {
                json_body(req, false)?
            } else {
                let patch_type = patch_type(req, false)?;
                let mut scale = deployments::scale_of(&old);
                registry::apply_patch(rt, name, patch_type, &req.body, &mut scale)?;
                scale
            };
            let desired = deployments::apply_scale(&old, scale, name)?;
            let written = registry::update_from(
                &mut state,
                rt,
                ns,
                name,
                &old,
                desired,
                Target::Main,
                options,
            )?;
            Ok(Reply::json(
                StatusCode::OK,
                &deployments::scale_of(&written.object),
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(matches!(route("/healthz"), Route::Health));
        assert!(matches!(
            route("/apis/opencrane.io/v1alpha1/namespaces/a/tenants"),
            Route::Collection(_, Some(_))
        ));
        assert!(matches!(
            route("/apis/opencrane.io/v1alpha1/tenants"),
            Route::Collection(_, None)
        ));
        assert!(matches!(
            route("/apis/apps/v1/namespaces/a/deployments/x/scale"),
            Route::Subresource(_, _, _, Sub::Scale)
        ));
        assert!(matches!(
            route("/api/v1/namespaces/a/serviceaccounts/x/token"),
            Route::Subresource(_, _, _, Sub::Token)
        ));
        assert!(matches!(
            route("/apis/opencrane.io/v1alpha1/namespaces/a/tenants/x/scale"),
            Route::Unknown
        ));
        assert!(matches!(
            route("/apis/apps/v1/namespaces/a/pods"),
            Route::Unknown
        ));
        assert!(matches!(route("/api/v1"), Route::ResourceList(_, _)));
    }

    #[test]
    fn query_decoding() {
        let params = query_params(Some(
            "labelSelector=app.kubernetes.io%2Fname%3Dopenclaw&limit=2&x",
        ));
        assert_eq!(
            param(&params, "labelSelector"),
            Some("app.kubernetes.io/name=openclaw")
        );
        assert_eq!(param(&params, "limit"), Some("2"));
        assert_eq!(param(&params, "x"), Some(""));
        assert_eq!(query_params(Some("a=b%2")), [("a".into(), "b%2".into())]);
    }
}
