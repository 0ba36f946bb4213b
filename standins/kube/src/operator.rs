//! A simulation of the **OpenCrane operator**, not of the API server: in a
//! real cluster the operator watches Tenants and reconciles them; here the
//! same effects happen synchronously after every Tenant write so that the
//! control plane sees a cluster that behaves as if the operator ran.
//!
//! For each Tenant that is not being deleted:
//! - a ServiceAccount named after the tenant (so TokenRequests for the
//!   tenant's pod succeed);
//! - a Deployment named after the tenant, labelled
//!   `app.kubernetes.io/name=openclaw` and `opencrane.io/tenant=<name>`,
//!   with `replicas` 0 when `spec.suspended` is true and 1 otherwise;
//! - the Tenant's `status`: `phase` (`Running` or `Suspended`),
//!   `ingressHost` (`<name>.tenants.localhost`), `observedGeneration` and a
//!   `Ready` condition.
//!
//! Both children carry an `ownerReference` (controller) to the Tenant, so
//! the garbage collector removes them when the Tenant is deleted. A child
//! that already exists without that owner is left alone, as a real
//! operator refuses to adopt objects it does not control; a child deleted
//! while its Tenant lives is recreated (see [`crate::controllers`]). The
//! operator only
//! sets `replicas` when the tenant's generation changes (a new spec);
//! scaling the Deployment through `/scale` is therefore not undone.
//!
//! Disable it with `--no-operator` (or `StandInConfig::operator = false`)
//! to test the control plane against a cluster whose operator is down.

use serde_json::{json, Value};

use crate::controllers;
use crate::registry::{now, State};
use crate::resources::{DEPLOYMENTS, SERVICE_ACCOUNTS, TENANTS};
use crate::store::{generation_of, str_at};

/// The image the simulated tenant Deployment runs (never pulled here).
const OPENCLAW_IMAGE: &str = "ghcr.io/opencrane/openclaw:latest";

fn labels(tenant: &str) -> Value {
    json!({
        "app.kubernetes.io/name": "openclaw",
        "app.kubernetes.io/managed-by": "opencrane-operator",
        "opencrane.io/tenant": tenant,
    })
}

fn owner_reference(tenant: &Value) -> Value {
    json!({
        "apiVersion": TENANTS.api_version(),
        "kind": TENANTS.kind,
        "name": str_at(tenant, "/metadata/name"),
        "uid": str_at(tenant, "/metadata/uid"),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

fn controlled_by(object: &Value, tenant_uid: &str) -> bool {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                str_at(r, "/uid") == tenant_uid && r.get("controller") == Some(&json!(true))
            })
        })
}

fn new_child_metadata(tenant: &Value, name: &str, namespace: &str) -> Value {
    json!({
        "name": name,
        "namespace": namespace,
        "uid": uuid::Uuid::new_v4().to_string(),
        "creationTimestamp": now(),
        "labels": labels(name),
        "ownerReferences": [owner_reference(tenant)],
    })
}

/// Brings the cluster in line with Tenant `namespace/name`.
pub(crate) fn reconcile_tenant(state: &mut State, namespace: &str, name: &str) {
    let Some(tenant) = state.store.get(&TENANTS, namespace, name).cloned() else {
        return;
    };
    if tenant.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let uid = str_at(&tenant, "/metadata/uid").to_string();
    let generation = generation_of(&tenant);
    let observed = tenant
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    let suspended = tenant.pointer("/spec/suspended").and_then(Value::as_bool) == Some(true);
    let replicas = if suspended { 0 } else { 1 };

    if state
        .store
        .get(&SERVICE_ACCOUNTS, namespace, name)
        .is_none()
    {
        let sa = json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": new_child_metadata(&tenant, name, namespace),
        });
        state.store.put(&SERVICE_ACCOUNTS, sa);
    }

    match state.store.get(&DEPLOYMENTS, namespace, name).cloned() {
        None => {
            let mut metadata = new_child_metadata(&tenant, name, namespace);
            metadata["generation"] = json!(1);
            let mut deployment = json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": metadata,
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {
                        "app.kubernetes.io/name": "openclaw",
                        "opencrane.io/tenant": name,
                    }},
                    "template": {
                        "metadata": {"labels": labels(name)},
                        "spec": {
                            "serviceAccountName": name,
                            "containers": [{
                                "name": "openclaw",
                                "image": OPENCLAW_IMAGE,
                                "env": [{"name": "OPENCRANE_TENANT", "value": name}],
                                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            }],
                        },
                    },
                },
            });
            crate::deployments::apply_defaults(&mut deployment);
            state.store.put(&DEPLOYMENTS, deployment);
            controllers::after_write(state, &DEPLOYMENTS, namespace, name);
        }
        Some(existing) if controlled_by(&existing, &uid) && observed != Some(generation) => {
            let current = existing.pointer("/spec/replicas").and_then(Value::as_i64);
            if current != Some(replicas) {
                let mut updated = existing;
                updated["spec"]["replicas"] = json!(replicas);
                let g = generation_of(&updated);
                updated["metadata"]["generation"] = json!(g + 1);
                state.store.put(&DEPLOYMENTS, updated);
                controllers::after_write(state, &DEPLOYMENTS, namespace, name);
            }
        }
        Some(_) => {}
    }

    let phase = if suspended { "Suspended" } else { "Running" };
    let previous_ready = tenant
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| str_at(c, "/type") == "Ready"))
        .cloned();
    let (reason, message) = if suspended {
        (
            "Suspended",
            "Tenant is suspended; its deployment is scaled to zero.",
        )
    } else {
        ("Reconciled", "Tenant deployment is available.")
    };
    let transition = previous_ready
        .as_ref()
        .filter(|c| str_at(c, "/reason") == reason)
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| Value::String(now()));
    let mut status = tenant.get("status").cloned().unwrap_or_else(|| json!({}));
    if !status.is_object() {
        status = json!({});
    }
    status["phase"] = json!(phase);
    status["ingressHost"] = json!(format!("{name}.tenants.localhost"));
    status["observedGeneration"] = json!(generation);
    let ready = json!({
        "type": "Ready",
        "status": if suspended { "False" } else { "True" },
        "observedGeneration": generation,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    });
    // Conditions other writers set are kept; only `Ready` is the operator's.
    let mut conditions = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match conditions
        .iter_mut()
        .find(|c| str_at(c, "/type") == "Ready")
    {
        Some(existing) => *existing = ready,
        None => conditions.push(ready),
    }
    status["conditions"] = Value::Array(conditions);
    if tenant.get("status") != Some(&status) {
        let mut updated = tenant;
        updated["status"] = status;
        state.store.put(&TENANTS, updated);
    }
}
