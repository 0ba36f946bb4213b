//! Write and read semantics of the API server's generic registry
//! (`k8s.io/apiserver/pkg/registry/generic/registry.Store` plus each type's
//! strategy): what create, update, patch, delete and list do to an object
//! before and after it reaches the [`Store`].
//!
//! Everything here runs with the server state locked, so a request and the
//! controller reactions it triggers (see [`crate::controllers`]) are atomic
//! with respect to other requests.

use serde_json::{Map, Value};

use crate::controllers;
use crate::deployments;
use crate::encoding;
use crate::patch::{self, JsonPatchError};
use crate::resources::ResourceType;
use crate::schema;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, FieldError};
use crate::store::{str_at, Key, Store};
use crate::validation;

/// Everything behind the lock: the objects and whether the operator
/// simulation reacts to them.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) store: Store,
    pub(crate) operator: bool,
}

impl State {
    pub(crate) fn new(operator: bool) -> Self {
        Self {
            store: Store::new(),
            operator,
        }
    }

    /// The stored object, or the `NotFound` the real server answers.
    pub(crate) fn existing(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<&Value, ApiError> {
        self.store
            .get(rt, namespace, name)
            .ok_or_else(|| ApiError::not_found(rt, name))
    }
}

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The object itself: a status change is ignored when the type has a
    /// status subresource.
    Main,
    /// `/status`: only the status changes.
    Status,
}

/// Request options shared by writes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WriteOptions {
    /// `dryRun=All`: validate and answer, store nothing.
    pub(crate) dry_run: bool,
    /// `fieldValidation=Strict`: unknown fields are an error rather than a
    /// warning.
    pub(crate) strict: bool,
}

/// A successful write: the object to answer with, and `Warning` headers.
#[derive(Debug)]
pub(crate) struct Written {
    pub(crate) object: Value,
    pub(crate) warnings: Vec<String>,
}

/// The patch formats of `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    Merge,
    Json,
    /// Strategic merge patch. Refused for custom resources (415) as by the
    /// real server; for built-in types it is applied as a JSON merge patch,
    /// which differs from the real thing only for lists with merge keys.
    Strategic,
}

/// `DeleteOptions` that change behaviour here.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOptions {
    pub(crate) precondition_uid: Option<String>,
    pub(crate) precondition_resource_version: Option<String>,
    /// `propagationPolicy: Orphan` (or `orphanDependents: true`).
    pub(crate) orphan: bool,
    pub(crate) dry_run: bool,
}

/// What a DELETE did.
#[derive(Debug)]
pub(crate) enum Deleted {
    /// The object is gone; here is its last state.
    Gone(Value),
    /// The object has finalizers: it is marked with `deletionTimestamp` and
    /// stays until they are removed.
    Pending(Value),
}

/// `limit`, `continue` and selectors of a list request.
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    pub(crate) labels: LabelSelector,
    pub(crate) fields: FieldSelector,
    pub(crate) limit: Option<usize>,
    pub(crate) continue_token: Option<String>,
}

/// Seconds-precision RFC 3339, as `metav1.Time` serialises.
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `metadata` as a mutable map, created when missing or not an object.
pub(crate) fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let Value::Object(map) = object else {
        unreachable!("just made an object")
    };
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// Checks and fills `apiVersion`/`kind` of a request body.
///
/// Custom resources are decoded as unstructured objects, which must name
/// their kind; a wrong kind is a 422 on `kind`. Built-in types default a
/// missing `apiVersion`/`kind` and refuse a wrong kind with a 400.
pub(crate) fn check_type_meta(
    body: &mut Value,
    api_version: &str,
    kind: &str,
    group: &str,
    custom: bool,
) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            match body {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => "null",
            }
        )));
    }
    let got_kind = str_at(body, "/kind").to_string();
    let got_version = str_at(body, "/apiVersion").to_string();
    if custom && got_kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{body}'"
        )));
    }
    if custom && got_version.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'apiVersion' is missing in '{body}'"
        )));
    }
    if !got_version.is_empty() && got_version != api_version {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({got_version}) does not match the expected API version ({api_version})"
        )));
    }
    if !got_kind.is_empty() && got_kind != kind {
        if custom {
            let name = str_at(body, "/metadata/name").to_string();
            return Err(ApiError::invalid(
                &crate::resources::qualify(&got_kind, group),
                group,
                &got_kind,
                &name,
                &[FieldError::invalid(
                    "kind",
                    got_kind.as_str(),
                    format!("must be {kind}"),
                )],
            ));
        }
        let version = api_version.rsplit('/').next().unwrap_or(api_version);
        return Err(ApiError::bad_request(format!(
            "{got_kind} in version {version:?} cannot be handled as a {kind}: no kind {got_kind:?} is registered for version {api_version:?}"
        )));
    }
    if let Value::Object(map) = body {
        map.insert("apiVersion".into(), Value::String(api_version.to_string()));
        map.insert("kind".into(), Value::String(kind.to_string()));
    }
    Ok(())
}

/// Type-specific pruning, defaulting and validation of a whole object
/// (`old` is the stored object on update). Returns unknown-field warnings.
fn validate_object(
    rt: &ResourceType,
    object: &mut Value,
    old: Option<&Value>,
    options: WriteOptions,
) -> Result<Vec<String>, ApiError> {
    let name = str_at(object, "/metadata/name").to_string();
    let mut errors = Vec::new();
    if let Some(meta) = object.get("metadata") {
        errors.extend(validation::validate_labels_and_annotations(meta));
    }
    let mut unknown = Vec::new();
    if let Some(schema) = schema::schema_for(rt) {
        let outcome = schema::prune_and_validate(object, &schema);
        errors.extend(outcome.errors);
        unknown = outcome.unknown_fields;
    }
    if rt.plural == "deployments" {
        deployments::apply_defaults(object);
        errors.extend(deployments::validate(object, old));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_object(rt, &name, &errors));
    }
    if options.strict && !unknown.is_empty() {
        let list: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field {f:?}"))
            .collect();
        return Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            list.join(", ")
        )));
    }
    Ok(unknown
        .into_iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect())
}

/// Random lowercase alphanumerics for `generateName`, from the same
/// alphabet the real server uses (no vowels, no confusable characters).
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// POST to a collection.
pub(crate) fn create(
    state: &mut State,
    rt: &'static ResourceType,
    namespace: &str,
    mut body: Value,
    options: WriteOptions,
) -> Result<Written, ApiError> {
    check_type_meta(&mut body, &rt.api_version(), rt.kind, rt.group, rt.custom)?;
    let meta = meta_mut(&mut body);
    let body_namespace = meta
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !body_namespace.is_empty() && body_namespace != namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if meta
        .get("resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|rv| !rv.is_empty())
    {
        return Err(ApiError::bad_request(
            "resourceVersion can not be set for Create requests",
        ));
    }
    let mut name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let generate_name = meta
        .get("generateName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let generated = name.is_empty() && !generate_name.is_empty();
    if generated {
        name = format!("{generate_name}{}", random_suffix());
    }
    // Server-owned fields never come from the client.
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "selfLink",
        "managedFields",
    ] {
        meta.remove(field);
    }
    meta.insert("name".into(), Value::String(name.clone()));
    meta.insert("namespace".into(), Value::String(namespace.to_string()));
    if rt.status_subresource {
        if let Value::Object(map) = &mut body {
            map.remove("status");
        }
    }
    let name_errors = validation::validate_name(&name, generated);
    if !name_errors.is_empty() {
        return Err(ApiError::invalid_object(rt, &name, &name_errors));
    }
    let warnings = validate_object(rt, &mut body, None, options)?;
    if state.store.get(rt, namespace, &name).is_some() {
        return Err(ApiError::already_exists(rt, &name));
    }
    let meta = meta_mut(&mut body);
    meta.insert(
        "uid".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    meta.insert("creationTimestamp".into(), Value::String(now()));
    if rt.generation {
        meta.insert("generation".into(), Value::from(1));
    }
    if options.dry_run {
        return Ok(Written {
            object: body,
            warnings,
        });
    }
    let stored = state.store.put(rt, body);
    controllers::after_write(state, rt, namespace, &name);
    Ok(Written {
        object: stored,
        warnings,
    })
}

/// The parts of an object whose change bumps `metadata.generation`:
/// everything but metadata and status (for Deployments that is the spec).
fn generation_relevant(object: &Value) -> Map<String, Value> {
    object
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// PUT, or the second half of PATCH: `new` is the complete desired object.
pub(crate) fn update(
    state: &mut State,
    rt: &'static ResourceType,
    namespace: &str,
    name: &str,
    new: Value,
    target: Target,
    options: WriteOptions,
) -> Result<Written, ApiError> {
    let old = state.existing(rt, namespace, name)?.clone();
    update_from(state, rt, namespace, name, &old, new, target, options)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn update_from(
    state: &mut State,
    rt: &'static ResourceType,
    namespace: &str,
    name: &str,
    old: &Value,
    mut new: Value,
    target: Target,
    options: WriteOptions,
) -> Result<Written, ApiError> {
    check_type_meta(&mut new, &rt.api_version(), rt.kind, rt.group, rt.custom)?;
    let body_name = str_at(&new, "/metadata/name").to_string();
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let body_namespace = str_at(&new, "/metadata/namespace").to_string();
    if !body_namespace.is_empty() && body_namespace != namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    // Optimistic concurrency: a resourceVersion in the body is a
    // precondition; none means an unconditional update (allowed for every
    // type served here).
    let requested_rv = str_at(&new, "/metadata/resourceVersion").to_string();
    let current_rv = str_at(old, "/metadata/resourceVersion").to_string();
    if !requested_rv.is_empty() && requested_rv != current_rv {
        return Err(ApiError::modified(rt, name));
    }
    let body_uid = str_at(&new, "/metadata/uid").to_string();
    let old_uid = str_at(old, "/metadata/uid").to_string();
    if !body_uid.is_empty() && body_uid != old_uid {
        return Err(ApiError::invalid_object(
            rt,
            name,
            &[FieldError::invalid(
                "metadata.uid",
                body_uid.as_str(),
                "field is immutable",
            )],
        ));
    }

    let mut result = match target {
        Target::Status => {
            // The status strategy keeps everything of the stored object but
            // its status.
            let mut result = old.clone();
            if let (Value::Object(r), Some(status)) = (&mut result, new.get("status")) {
                r.insert("status".into(), status.clone());
            } else if let Value::Object(r) = &mut result {
                r.remove("status");
            }
            result
        }
        Target::Main => {
            let mut result = new;
            if rt.status_subresource {
                if let Value::Object(r) = &mut result {
                    match old.get("status") {
                        Some(status) => r.insert("status".into(), status.clone()),
                        None => r.remove("status"),
                    };
                }
            }
            let old_meta = old.get("metadata").and_then(Value::as_object);
            let meta = meta_mut(&mut result);
            meta.remove("managedFields");
            meta.remove("selfLink");
            for field in [
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                match old_meta.and_then(|m| m.get(field)) {
                    Some(v) => meta.insert(field.into(), v.clone()),
                    None => meta.remove(field),
                };
            }
            result
        }
    };
    let meta = meta_mut(&mut result);
    meta.insert("name".into(), Value::String(name.to_string()));
    meta.insert("namespace".into(), Value::String(namespace.to_string()));
    meta.insert("resourceVersion".into(), Value::String(current_rv));

    let warnings = validate_object(rt, &mut result, Some(old), options)?;

    if rt.generation && generation_relevant(&result) != generation_relevant(old) {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta_mut(&mut result).insert("generation".into(), Value::from(generation + 1));
    }

    // An object being deleted goes away once its last finalizer is removed.
    let being_deleted = result.pointer("/metadata/deletionTimestamp").is_some();
    let finalizers_left = result
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if being_deleted && !finalizers_left {
        if !options.dry_run {
            state.store.remove(rt, namespace, name);
            controllers::after_delete(state, &result, false);
        }
        return Ok(Written {
            object: result,
            warnings,
        });
    }

    // A write that changes nothing is not a write: etcd keeps the revision.
    if &result == old || options.dry_run {
        return Ok(Written {
            object: result,
            warnings,
        });
    }
    let stored = state.store.put(rt, result);
    controllers::after_write(state, rt, namespace, name);
    Ok(Written {
        object: stored,
        warnings,
    })
}

/// Parses a patch body of the given type and applies it to `doc`.
pub(crate) fn apply_patch(
    rt: &ResourceType,
    name: &str,
    patch_type: PatchType,
    body: &[u8],
    doc: &mut Value,
) -> Result<(), ApiError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    match patch_type {
        PatchType::Merge | PatchType::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "json: cannot unmarshal non-object into Go value of type map[string]interface {}",
                ));
            }
            patch::merge_patch(doc, &patch);
            Ok(())
        }
        PatchType::Json => patch::json_patch(doc, &patch).map_err(|e| match e {
            JsonPatchError::Decode(m) => ApiError::bad_request(m),
            JsonPatchError::Apply(m) => ApiError::unprocessable(rt, name, m),
        }),
    }
}

/// PATCH: the patch applies to the stored object, then it is an update.
#[allow(clippy::too_many_arguments)]
pub(crate) fn patch(
    state: &mut State,
    rt: &'static ResourceType,
    namespace: &str,
    name: &str,
    patch_type: PatchType,
    body: &[u8],
    target: Target,
    options: WriteOptions,
) -> Result<Written, ApiError> {
    let old = state.existing(rt, namespace, name)?.clone();
    let mut doc = old.clone();
    apply_patch(rt, name, patch_type, body, &mut doc)?;
    update_from(state, rt, namespace, name, &old, doc, target, options)
}

/// DELETE of one object.
pub(crate) fn delete(
    state: &mut State,
    rt: &'static ResourceType,
    namespace: &str,
    name: &str,
    options: &DeleteOptions,
) -> Result<Deleted, ApiError> {
    let object = state.existing(rt, namespace, name)?.clone();
    let uid = str_at(&object, "/metadata/uid").to_string();
    let rv = str_at(&object, "/metadata/resourceVersion").to_string();
    check_precondition(rt, name, "UID", options.precondition_uid.as_deref(), &uid)?;
    check_precondition(
        rt,
        name,
        "ResourceVersion",
        options.precondition_resource_version.as_deref(),
        &rv,
    )?;
    let has_finalizers = object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if object.pointer("/metadata/deletionTimestamp").is_some() || options.dry_run {
            return Ok(Deleted::Pending(object));
        }
        let mut marked = object;
        let generation = marked
            .pointer("/metadata/generation")
            .and_then(Value::as_i64);
        let meta = meta_mut(&mut marked);
        meta.insert("deletionTimestamp".into(), Value::String(now()));
        meta.insert("deletionGracePeriodSeconds".into(), Value::from(0));
        if let Some(generation) = generation {
            // markAsDeleting bumps the generation, as for a spec change.
            meta.insert("generation".into(), Value::from(generation + 1));
        }
        let stored = state.store.put(rt, marked);
        return Ok(Deleted::Pending(stored));
    }
    if options.dry_run {
        return Ok(Deleted::Gone(object));
    }
    state.store.remove(rt, namespace, name);
    controllers::after_delete(state, &object, options.orphan);
    Ok(Deleted::Gone(object))
}

/// A delete precondition (`preconditions.uid`, `.resourceVersion`): when
/// set, it must be the object's `actual` value, else the real server's
/// `Conflict` naming `field`.
fn check_precondition(
    rt: &ResourceType,
    name: &str,
    field: &str,
    want: Option<&str>,
    actual: &str,
) -> Result<(), ApiError> {
    match want.filter(|w| !w.is_empty()) {
        Some(want) if want != actual => Err(ApiError::conflict(
            &rt.qualified_resource(),
            rt.group,
            rt.plural,
            name,
            &format!(
                "Precondition failed: {field} in precondition: {want}, {field} in object meta: {actual}"
            ),
        )),
        _ => Ok(()),
    }
}

/// The continue token: where the previous page ended and at which revision
/// the list was taken, base64url-encoded JSON like the real one.
fn encode_continue(revision: u64, last: &Key) -> String {
    let token =
        serde_json::json!({"v": "meta.k8s.io/v1", "rv": revision, "start": [last.0, last.1]});
    encoding::base64url_encode(token.to_string().as_bytes())
}

fn decode_continue(token: &str) -> Result<(u64, Key), ApiError> {
    let invalid = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let bytes = encoding::base64url_decode(token).ok_or_else(|| invalid("illegal base64 data"))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| invalid("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
    let rv = value
        .get("rv")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid("missing rv"))?;
    let start = value
        .get("start")
        .and_then(Value::as_array)
        .filter(|s| s.len() == 2)
        .ok_or_else(|| invalid("missing start"))?;
    let part = |i: usize| start[i].as_str().unwrap_or_default().to_string();
    Ok((rv, (part(0), part(1))))
}

/// GET of a collection: a `<Kind>List`.
///
/// Pages after the first are read from the current state (the real server
/// serves them from the snapshot of the first page); the `resourceVersion`
/// of every page is the first page's, as on a real cluster.
pub(crate) fn list(
    state: &State,
    rt: &ResourceType,
    namespace: Option<&str>,
    query: &ListQuery,
) -> Result<Value, ApiError> {
    let (revision, after) = match query.continue_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => {
            let (rv, key) = decode_continue(token)?;
            (rv, Some(key))
        }
        None => (state.store.revision(), None),
    };
    let mut matching = state
        .store
        .list(rt, namespace, after.as_ref())
        .filter(|(_, obj)| query.labels.matches(obj) && query.fields.matches(obj));
    let mut items = Vec::new();
    let mut last_key: Option<Key> = None;
    let limit = query.limit.filter(|l| *l > 0);
    for (key, object) in matching.by_ref() {
        if limit.is_some_and(|l| items.len() >= l) {
            // There is at least one more: remember where this page ended.
            break;
        }
        let mut item = object.clone();
        if !rt.custom {
            // Typed lists carry apiVersion/kind only on the list itself.
            if let Value::Object(map) = &mut item {
                map.remove("apiVersion");
                map.remove("kind");
            }
        }
        items.push(item);
        last_key = Some(key.clone());
    }
    let more = limit.is_some_and(|l| items.len() >= l)
        && state
            .store
            .list(rt, namespace, last_key.as_ref())
            .any(|(_, obj)| query.labels.matches(obj) && query.fields.matches(obj));
    let mut metadata = Map::new();
    metadata.insert(
        "resourceVersion".into(),
        Value::String(revision.to_string()),
    );
    if more {
        if let Some(last) = &last_key {
            metadata.insert(
                "continue".into(),
                Value::String(encode_continue(revision, last)),
            );
            if query.labels.is_empty() && query.fields.is_empty() {
                let remaining = state.store.list(rt, namespace, Some(last)).count();
                metadata.insert("remainingItemCount".into(), Value::from(remaining));
            }
        }
    }
    Ok(serde_json::json!({
        "apiVersion": rt.api_version(),
        "kind": rt.list_kind(),
        "metadata": metadata,
        "items": items,
    }))
}

/// DELETE of a collection: deletes every matching object, answers with the
/// list of what was deleted.
pub(crate) fn delete_collection(
    state: &mut State,
    rt: &'static ResourceType,
    namespace: &str,
    query: &ListQuery,
    options: &DeleteOptions,
) -> Result<Value, ApiError> {
    let names: Vec<String> = state
        .store
        .list(rt, Some(namespace), None)
        .filter(|(_, obj)| query.labels.matches(obj) && query.fields.matches(obj))
        .map(|(key, _)| key.1.clone())
        .collect();
    let mut items = Vec::new();
    for name in names {
        match delete(state, rt, namespace, &name, options) {
            Ok(Deleted::Gone(obj) | Deleted::Pending(obj)) => items.push(obj),
            // Deleted meanwhile by garbage collection of an earlier item.
            Err(e) if e.http_status() == hyper::StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    Ok(serde_json::json!({
        "apiVersion": rt.api_version(),
        "kind": rt.list_kind(),
        "metadata": {"resourceVersion": state.store.revision().to_string()},
        "items": items,
    }))
}
