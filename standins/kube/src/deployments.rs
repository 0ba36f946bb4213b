//! `apps/v1` Deployment specifics: the defaults the real API server fills
//! in, the validation rules clients can trip over, the `autoscaling/v1`
//! `Scale` view of the `/scale` subresource, and the status the
//! deployment controller would report once the pods were running.

use serde_json::{json, Map, Value};

use crate::registry::{self, now};
use crate::resources::DEPLOYMENTS;
use crate::selector::{label_selector_string, LabelSelector};
use crate::status::{ApiError, FieldError};
use crate::store::{generation_of, str_at};

fn ensure_object<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

fn default_field(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.into(), value);
    }
}

/// `SetDefaults_Deployment` and the pod template defaults that show up in
/// every Deployment a real cluster returns.
pub(crate) fn apply_defaults(object: &mut Value) {
    let Value::Object(root) = object else { return };
    let spec = ensure_object(root, "spec");
    default_field(spec, "replicas", json!(1));
    default_field(spec, "revisionHistoryLimit", json!(10));
    default_field(spec, "progressDeadlineSeconds", json!(600));
    let strategy = ensure_object(spec, "strategy");
    default_field(strategy, "type", json!("RollingUpdate"));
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let rolling = ensure_object(strategy, "rollingUpdate");
        default_field(rolling, "maxUnavailable", json!("25%"));
        default_field(rolling, "maxSurge", json!("25%"));
    }
    let template = ensure_object(spec, "template");
    let template_meta = ensure_object(template, "metadata");
    template_meta
        .entry("creationTimestamp")
        .or_insert(Value::Null);
    let pod = ensure_object(template, "spec");
    default_field(pod, "restartPolicy", json!("Always"));
    default_field(pod, "terminationGracePeriodSeconds", json!(30));
    default_field(pod, "dnsPolicy", json!("ClusterFirst"));
    default_field(pod, "securityContext", json!({}));
    default_field(pod, "schedulerName", json!("default-scheduler"));
    if let Some(Value::Array(containers)) = pod.get_mut("containers") {
        for container in containers.iter_mut().filter_map(Value::as_object_mut) {
            let image = container
                .get("image")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            // Images without a tag, or tagged `latest`, are always pulled.
            let last = image.rsplit('/').next().unwrap_or_default();
            let pull = if last.contains('@') || (last.contains(':') && !last.ends_with(":latest")) {
                "IfNotPresent"
            } else {
                "Always"
            };
            default_field(container, "imagePullPolicy", json!(pull));
            default_field(
                container,
                "terminationMessagePath",
                json!("/dev/termination-log"),
            );
            default_field(container, "terminationMessagePolicy", json!("File"));
            default_field(container, "resources", json!({}));
        }
    }
}

/// The validation rules of `ValidateDeployment` a client is likely to hit.
pub(crate) fn validate(object: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let replicas = object.pointer("/spec/replicas");
    match replicas {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|r| r < 0) => {
            errors.push(FieldError::invalid(
                "spec.replicas",
                Value::Number(n.clone()),
                "must be greater than or equal to 0",
            ))
        }
        Some(Value::Number(n)) if n.as_i64().is_none() => errors.push(FieldError::type_invalid(
            "spec.replicas",
            Value::Number(n.clone()),
            "must be an integer",
        )),
        Some(Value::Number(_)) | None => {}
        Some(other) => errors.push(FieldError::type_invalid(
            "spec.replicas",
            other.clone(),
            "must be an integer",
        )),
    }
    let selector = object.pointer("/spec/selector").filter(|s| !s.is_null());
    match selector {
        None => errors.push(FieldError::required("spec.selector", "")),
        Some(selector) => {
            let empty = selector
                .get("matchLabels")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
                && selector
                    .get("matchExpressions")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty);
            if empty {
                errors.push(FieldError::invalid(
                    "spec.selector",
                    selector.clone(),
                    "empty selector is invalid for deployment",
                ));
            } else {
                let template = json!({"metadata": {"labels": object.pointer("/spec/template/metadata/labels").cloned().unwrap_or(Value::Null)}});
                let matches = LabelSelector::parse(&label_selector_string(selector))
                    .map(|s| s.matches(&template))
                    .unwrap_or(false);
                if !matches {
                    errors.push(FieldError::invalid(
                        "spec.template.metadata.labels",
                        object
                            .pointer("/spec/template/metadata/labels")
                            .cloned()
                            .unwrap_or(Value::Null),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
            if let Some(old_selector) = old.and_then(|o| o.pointer("/spec/selector")) {
                if old_selector != selector {
                    errors.push(FieldError::invalid(
                        "spec.selector",
                        selector.clone(),
                        "field is immutable",
                    ));
                }
            }
        }
    }
    match object
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
    {
        None => errors.push(FieldError::required("spec.template.spec.containers", "")),
        Some(containers) if containers.is_empty() => {
            errors.push(FieldError::required("spec.template.spec.containers", ""));
        }
        Some(containers) => {
            for (i, c) in containers.iter().enumerate() {
                let path = format!("spec.template.spec.containers[{i}]");
                let name = str_at(c, "/name");
                if name.is_empty() {
                    errors.push(FieldError::required(format!("{path}.name"), ""));
                } else if !crate::validation::is_dns1123_label(name) {
                    errors.push(FieldError::invalid(
                        format!("{path}.name"),
                        name,
                        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                    ));
                }
                if str_at(c, "/image").is_empty() {
                    errors.push(FieldError::required(format!("{path}.image"), ""));
                }
            }
        }
    }
    errors
}

/// `scaleFromDeployment`: the `autoscaling/v1` `Scale` of a Deployment.
pub(crate) fn scale_of(deployment: &Value) -> Value {
    let mut metadata = Map::new();
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = deployment.pointer(&format!("/metadata/{field}")) {
            metadata.insert(field.into(), v.clone());
        }
    }
    let mut status = Map::new();
    status.insert(
        "replicas".into(),
        deployment
            .pointer("/status/replicas")
            .cloned()
            .unwrap_or(json!(0)),
    );
    let selector = deployment
        .pointer("/spec/selector")
        .map(label_selector_string)
        .unwrap_or_default();
    if !selector.is_empty() {
        status.insert("selector".into(), Value::String(selector));
    }
    let mut spec = Map::new();
    if let Some(replicas) = deployment.pointer("/spec/replicas") {
        spec.insert("replicas".into(), replicas.clone());
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": spec,
        "status": status,
    })
}

/// The Deployment a `Scale` update asks for (`scaleUpdatedObjectInfo`):
/// only `spec.replicas` and the `resourceVersion` precondition carry over.
pub(crate) fn apply_scale(
    deployment: &Value,
    mut scale: Value,
    name: &str,
) -> Result<Value, ApiError> {
    registry::check_type_meta(&mut scale, "autoscaling/v1", "Scale", "autoscaling", false)?;
    let scale_name = str_at(&scale, "/metadata/name").to_string();
    if scale_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({scale_name}) does not match the name on the URL ({name})"
        )));
    }
    let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    match replicas.as_i64() {
        Some(r) if r >= 0 => {}
        Some(_) => {
            return Err(ApiError::invalid(
                "Scale.autoscaling",
                "autoscaling",
                "Scale",
                name,
                &[FieldError::invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
            ))
        }
        None => {
            return Err(ApiError::bad_request(format!(
                "Scale in version \"v1\" cannot be handled as a Scale: json: cannot unmarshal {replicas} into Go struct field ScaleSpec.spec.replicas of type int32"
            )))
        }
    }
    let uid = str_at(&scale, "/metadata/uid");
    let deployment_uid = str_at(deployment, "/metadata/uid");
    if !uid.is_empty() && uid != deployment_uid {
        return Err(ApiError::conflict(
            "deployments.apps/scale",
            "apps",
            "deployments/scale",
            name,
            &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {deployment_uid}"),
        ));
    }
    let mut updated = deployment.clone();
    if let Some(spec) = updated.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("replicas".into(), replicas);
    }
    let rv = str_at(&scale, "/metadata/resourceVersion").to_string();
    registry::meta_mut(&mut updated).insert("resourceVersion".into(), Value::String(rv));
    Ok(updated)
}

/// The status the deployment controller would write once every pod is up
/// (there are no pods here: replicas are "ready" at once). Condition
/// timestamps are kept while a condition does not change, as the real
/// controller does, so an unchanged Deployment is not rewritten.
pub(crate) fn desired_status(deployment: &Value) -> Value {
    let replicas = deployment
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let generation = generation_of(deployment);
    let name = str_at(deployment, "/metadata/name");
    let old_conditions = deployment
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let condition = |kind: &str, reason: &str, message: String| -> Value {
        let previous = old_conditions
            .iter()
            .find(|c| str_at(c, "/type") == kind && str_at(c, "/status") == "True");
        let stamp = |field: &str| {
            previous
                .and_then(|p| p.get(field))
                .cloned()
                .unwrap_or_else(|| Value::String(now()))
        };
        let last_update = if previous.is_some_and(|p| str_at(p, "/reason") == reason) {
            stamp("lastUpdateTime")
        } else {
            Value::String(now())
        };
        json!({
            "type": kind,
            "status": "True",
            "lastUpdateTime": last_update,
            "lastTransitionTime": stamp("lastTransitionTime"),
            "reason": reason,
            "message": message,
        })
    };
    let mut status = Map::new();
    status.insert("observedGeneration".into(), json!(generation));
    // Go's omitempty: zero counts are absent, as on a scaled-to-zero
    // Deployment of a real cluster.
    if replicas > 0 {
        for field in [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
        ] {
            status.insert(field.into(), json!(replicas));
        }
    }
    status.insert(
        "conditions".into(),
        json!([
            condition(
                "Available",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into()
            ),
            condition(
                "Progressing",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{name}-standin\" has successfully progressed."),
            ),
        ]),
    );
    Value::Object(status)
}

/// Whether `rt` is the Deployment type.
pub(crate) fn is_deployments(rt: &crate::resources::ResourceType) -> bool {
    std::ptr::eq(rt, &DEPLOYMENTS)
}
