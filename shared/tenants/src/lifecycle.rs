//! The tenant lifecycle: one state machine for `/tenants/{name}` and
//! `/organizations/{orgId}/tenants/{tenantId}`.
//!
//! ```text
//!                 CRD reports Running
//!   provisioning ─────────────────────▶ active ◀──── resume ────┐
//!        │                                │                      │
//!        │                                └──── suspend ───▶ suspended
//!        │                                │                      │
//!        └──────────── decommission ──────┴──────────────────────┘
//!                           ▼
//!                    decommissioned (final: CRD deleted, row kept as a
//!                    tombstone, name held for 30 days)
//! ```
//!
//! `provisioning → active` is observed, not requested: the Tenant CRD's
//! `status.phase` is `Running` when a write projects it, when repair
//! rewrites the row, or when a provisioning tenant is read on its own. The
//! projection SQL (`sql::UPSERT_CREATED`, `sql::UPDATE`) derives the state
//! the same way as [`observed`]. Any other move is a 409 naming the
//! current state.

use cp_http::ApiError;
use serde::Serialize;
use utoipa::ToSchema;

/// Days a decommissioned tenant's name stays taken.
pub const NAME_HOLD_DAYS: i64 = 30;

/// The phase the operator reports once the tenant's pod is up.
pub const READY_PHASE: &str = "Running";

/// Where a tenant is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = TenantState)]
pub enum State {
    /// Created; the operator has not reported the pod running yet.
    Provisioning,
    /// Running.
    Active,
    /// Scaled to zero (`spec.suspended`).
    Suspended,
    /// Final: the CRD is deleted and the row is a tombstone.
    Decommissioned,
}

/// A requested lifecycle change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// active → suspended.
    Suspend,
    /// suspended → active.
    Resume,
    /// provisioning | active | suspended → decommissioned.
    Decommission,
}

impl State {
    /// Every state.
    pub const ALL: [Self; 4] = [
        Self::Provisioning,
        Self::Active,
        Self::Suspended,
        Self::Decommissioned,
    ];

    /// The wire and column form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Decommissioned => "decommissioned",
        }
    }

    /// Parses the column form.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

impl Action {
    /// The verb, as in the routes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Decommission => "decommission",
        }
    }

    /// The states this action may start from.
    pub fn from_states(self) -> &'static [State] {
        match self {
            Self::Suspend => &[State::Active],
            Self::Resume => &[State::Suspended],
            Self::Decommission => &[State::Provisioning, State::Active, State::Suspended],
        }
    }

    /// The state it leads to.
    pub fn target(self) -> State {
        match self {
            Self::Suspend => State::Suspended,
            Self::Resume => State::Active,
            Self::Decommission => State::Decommissioned,
        }
    }

    /// The org event recording it.
    pub fn event(self) -> &'static str {
        match self {
            Self::Suspend => "tenant.suspended",
            Self::Resume => "tenant.resumed",
            Self::Decommission => "tenant.decommissioned",
        }
    }
}

/// The state after `action` from `current`, or a 409 `CONFLICT` that names
/// the current state and what the action needs.
pub fn transition(name: &str, current: State, action: Action) -> Result<State, ApiError> {
    if action.from_states().contains(&current) {
        return Ok(action.target());
    }
    let needs = action
        .from_states()
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" or ");
    let why = match current {
        State::Decommissioned => " (decommissioning is final)",
        State::Provisioning => " (it becomes active once its pod reports Running)",
        _ => "",
    };
    let already = if current == action.target() {
        "already "
    } else {
        ""
    };
    Err(ApiError::Conflict(format!(
        "tenant '{name}' is {already}{}{why}; {} needs it {needs}",
        current.as_str(),
        action.as_str()
    )))
}

/// The state a projection shows for a CRD with `suspended` and `phase`
/// (the projected phase), given the row's previous state (`None` for a new
/// row). A tenant that was ever active stays out of provisioning: the
/// operator briefly reports another phase after a resume.
pub fn observed(previous: Option<State>, suspended: bool, phase: &str) -> State {
    match previous {
        Some(State::Decommissioned) => State::Decommissioned,
        _ if suspended => State::Suspended,
        Some(State::Active | State::Suspended) => State::Active,
        _ if phase == READY_PHASE => State::Active,
        _ => State::Provisioning,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn legal_transitions() {
        let legal = [
            (State::Active, Action::Suspend, State::Suspended),
            (State::Suspended, Action::Resume, State::Active),
            (
                State::Provisioning,
                Action::Decommission,
                State::Decommissioned,
            ),
            (State::Active, Action::Decommission, State::Decommissioned),
            (
                State::Suspended,
                Action::Decommission,
                State::Decommissioned,
            ),
        ];
        for (from, action, to) in legal {
            assert_eq!(
                transition("t", from, action).unwrap(),
                to,
                "{from:?} {action:?}"
            );
        }
    }

    #[test]
    fn every_other_transition_is_a_conflict_naming_the_state() {
        for from in State::ALL {
            for action in [Action::Suspend, Action::Resume, Action::Decommission] {
                if action.from_states().contains(&from) {
                    continue;
                }
                let err = transition("acme", from, action).unwrap_err();
                assert_eq!(err.status(), 409);
                let msg = err.to_string();
                assert!(
                    msg.contains(&format!("is {}", from.as_str()))
                        || msg.contains(&format!("is already {}", from.as_str())),
                    "{msg}"
                );
                assert!(msg.contains(action.as_str()), "{msg}");
            }
        }
        let msg = transition("acme", State::Suspended, Action::Suspend)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("tenant 'acme' is already suspended; suspend needs it active"),
            "{msg}"
        );
        let msg = transition("acme", State::Decommissioned, Action::Resume)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("final"), "{msg}");
    }

    #[test]
    fn the_projection_observes_readiness() {
        assert_eq!(observed(None, false, "Pending"), State::Provisioning);
        assert_eq!(observed(None, false, "Running"), State::Active);
        assert_eq!(
            observed(Some(State::Provisioning), false, "Running"),
            State::Active
        );
        assert_eq!(
            observed(Some(State::Provisioning), false, "Pending"),
            State::Provisioning
        );
        // After a resume the operator may still report its old phase.
        assert_eq!(
            observed(Some(State::Suspended), false, "Pending"),
            State::Active
        );
        assert_eq!(
            observed(Some(State::Active), true, "Running"),
            State::Suspended
        );
        assert_eq!(
            observed(Some(State::Decommissioned), false, "Running"),
            State::Decommissioned
        );
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
    }
}
