//! The cluster-side reactions a real cluster has to API writes, run
//! synchronously right after each write (before the response is sent, so a
//! following read sees them), each as its own write with its own
//! `resourceVersion`, as the real controllers' writes would be:
//!
//! - the **deployment controller** (kube-controller-manager): since no
//!   kubelet runs pods here, a Deployment's `status` reports every replica
//!   ready as soon as its spec changes;
//! - the **garbage collector** (kube-controller-manager): deleting an
//!   object deletes its dependents (objects whose `ownerReferences` name
//!   it), or orphans them with `propagationPolicy: Orphan`;
//! - the **OpenCrane operator** simulation, when enabled (see
//!   [`crate::operator`]).

use serde_json::Value;

use crate::deployments;
use crate::operator;
use crate::registry::{self, DeleteOptions, State};
use crate::resources::{self, ResourceType, TENANTS};
use crate::store::str_at;

/// Reacts to a create or update of `rt` `namespace/name`.
pub(crate) fn after_write(
    state: &mut State,
    rt: &'static ResourceType,
    namespace: &str,
    name: &str,
) {
    if deployments::is_deployments(rt) {
        reconcile_deployment_status(state, namespace, name);
    } else if std::ptr::eq(rt, &TENANTS) && state.operator {
        operator::reconcile_tenant(state, namespace, name);
    }
}

/// Reacts to the removal of `object` from storage.
pub(crate) fn after_delete(state: &mut State, object: &Value, orphan: bool) {
    collect_garbage(state, object, orphan);
    // The operator watches what it owns: a Tenant's Deployment or
    // ServiceAccount deleted by someone else is recreated. (When the Tenant
    // itself is gone, as during garbage collection, there is nothing to do.)
    if state.operator {
        if let Some(tenant) = controlling_tenant(object) {
            let namespace = str_at(object, "/metadata/namespace").to_string();
            operator::reconcile_tenant(state, &namespace, &tenant);
        }
    }
}

/// The name of the Tenant that controls `object`, if one does.
fn controlling_tenant(object: &Value) -> Option<String> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| {
            str_at(r, "/kind") == TENANTS.kind
                && str_at(r, "/apiVersion") == TENANTS.api_version()
                && r.get("controller") == Some(&Value::Bool(true))
        })
        .map(|r| str_at(r, "/name").to_string())
}

/// The deployment controller: status follows spec immediately.
fn reconcile_deployment_status(state: &mut State, namespace: &str, name: &str) {
    let Some(deployment) = state
        .store
        .get(&resources::DEPLOYMENTS, namespace, name)
        .cloned()
    else {
        return;
    };
    if deployment.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let desired = deployments::desired_status(&deployment);
    if deployment.get("status") == Some(&desired) {
        return;
    }
    let mut updated = deployment;
    if let Value::Object(map) = &mut updated {
        map.insert("status".into(), desired);
    }
    state.store.put(&resources::DEPLOYMENTS, updated);
}

/// Whether `object` lists `uid` among its owners.
fn owned_by(object: &Value, uid: &str) -> bool {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| refs.iter().any(|r| str_at(r, "/uid") == uid))
}

/// The garbage collector, for one deleted owner. Dependents with other
/// owners left only lose the reference; the rest are deleted (background
/// propagation) unless the owner was deleted with `Orphan`.
fn collect_garbage(state: &mut State, owner: &Value, orphan: bool) {
    let uid = str_at(owner, "/metadata/uid").to_string();
    let namespace = str_at(owner, "/metadata/namespace").to_string();
    if uid.is_empty() {
        return;
    }
    for rt in resources::ALL {
        let dependents: Vec<Value> = state
            .store
            .list(rt, Some(&namespace), None)
            .filter(|(_, obj)| owned_by(obj, &uid))
            .map(|(_, obj)| obj.clone())
            .collect();
        for dependent in dependents {
            let name = str_at(&dependent, "/metadata/name").to_string();
            let other_owners = dependent
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| refs.iter().any(|r| str_at(r, "/uid") != uid));
            if orphan || other_owners {
                let mut updated = dependent;
                let meta = registry::meta_mut(&mut updated);
                if let Some(Value::Array(refs)) = meta.get_mut("ownerReferences") {
                    refs.retain(|r| str_at(r, "/uid") != uid);
                    if refs.is_empty() {
                        meta.remove("ownerReferences");
                    }
                }
                state.store.put(rt, updated);
            } else {
                // Errors cannot happen here (the object exists and there are
                // no preconditions); a dependent with finalizers is only
                // marked, as the real collector leaves it.
                let _ = registry::delete(state, rt, &namespace, &name, &DeleteOptions::default());
            }
        }
    }
}
