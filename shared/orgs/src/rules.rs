//! Who may change or remove whose membership, as pure functions of the
//! roles involved and the number of owners, so every rule is unit-tested
//! here and the handlers only gather the facts (under the owner rows' locks).
//!
//! The rules: changing roles and removing others needs `admin`; anything
//! touching the `owner` role (granting it, changing an owner, removing an
//! owner) needs `owner`; any member may leave; and the last owner can never
//! be demoted or removed, whoever asks (an organisation always has an
//! owner). Operators and access tokens (`actor: None`) stand above every
//! role but not above the last-owner rule.

use crate::roles::OrgRole;
use cp_http::ApiError;

/// Why a membership change is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The caller's role is too low: 403.
    Forbidden(String),
    /// The change would leave the organisation without an owner: 409.
    LastOwner(String),
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Forbidden(m) => ApiError::Forbidden(m),
            Refusal::LastOwner(m) => ApiError::Conflict(m),
        }
    }
}

fn below(actor: Option<OrgRole>, needed: OrgRole) -> bool {
    actor.is_some_and(|r| r < needed)
}

fn needs(needed: OrgRole, what: &str, actor: Option<OrgRole>) -> Refusal {
    let held = actor.map_or("operator", OrgRole::as_str);
    Refusal::Forbidden(format!(
        "{what} needs the {} role in the organisation; you are {held}",
        needed.as_str()
    ))
}

fn last_owner(what: &str) -> Refusal {
    Refusal::LastOwner(format!(
        "{what}: an organisation always keeps an owner; make another member owner first"
    ))
}

/// May `actor` change a member's role from `current` to `new`, when the
/// organisation has `owners` owners?
pub fn check_role_change(
    actor: Option<OrgRole>,
    current: OrgRole,
    new: OrgRole,
    owners: usize,
) -> Result<(), Refusal> {
    if below(actor, OrgRole::Admin) {
        return Err(needs(OrgRole::Admin, "changing a member's role", actor));
    }
    if (new == OrgRole::Owner || current == OrgRole::Owner) && below(actor, OrgRole::Owner) {
        return Err(needs(
            OrgRole::Owner,
            "granting or changing the owner role",
            actor,
        ));
    }
    if current == OrgRole::Owner && new != OrgRole::Owner && owners <= 1 {
        return Err(last_owner("the last owner cannot be demoted"));
    }
    Ok(())
}

/// May `actor` remove a member whose role is `target` (`is_self`: the
/// caller leaving), when the organisation has `owners` owners?
pub fn check_removal(
    actor: Option<OrgRole>,
    is_self: bool,
    target: OrgRole,
    owners: usize,
) -> Result<(), Refusal> {
    if !is_self {
        if below(actor, OrgRole::Admin) {
            return Err(needs(OrgRole::Admin, "removing another member", actor));
        }
        if target == OrgRole::Owner && below(actor, OrgRole::Owner) {
            return Err(needs(OrgRole::Owner, "removing an owner", actor));
        }
    }
    if target == OrgRole::Owner && owners <= 1 {
        return Err(last_owner(if is_self {
            "you are the last owner and cannot leave"
        } else {
            "the last owner cannot be removed"
        }));
    }
    Ok(())
}

/// May `actor` invite someone with role `role`?
pub fn check_invitation(actor: Option<OrgRole>, role: OrgRole) -> Result<(), Refusal> {
    if below(actor, OrgRole::Admin) {
        return Err(needs(OrgRole::Admin, "inviting members", actor));
    }
    if role == OrgRole::Owner && below(actor, OrgRole::Owner) {
        return Err(needs(OrgRole::Owner, "inviting an owner", actor));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrgRole::{Admin, Member, Owner, Viewer};

    const OPERATOR: Option<OrgRole> = None;

    fn forbidden<T>(r: Result<T, Refusal>) -> bool {
        matches!(r, Err(Refusal::Forbidden(_)))
    }

    fn last<T>(r: Result<T, Refusal>) -> bool {
        matches!(r, Err(Refusal::LastOwner(_)))
    }

    #[test]
    fn role_changes_need_admin_and_owner_changes_need_owner() {
        for actor in [Viewer, Member] {
            assert!(forbidden(check_role_change(Some(actor), Viewer, Member, 1)));
        }
        assert!(check_role_change(Some(Admin), Viewer, Admin, 1).is_ok());
        assert!(check_role_change(Some(Admin), Admin, Member, 1).is_ok());
        // Granting owner, or changing an owner, needs owner.
        assert!(forbidden(check_role_change(Some(Admin), Member, Owner, 1)));
        assert!(forbidden(check_role_change(Some(Admin), Owner, Admin, 2)));
        assert!(check_role_change(Some(Owner), Member, Owner, 1).is_ok());
        assert!(check_role_change(Some(Owner), Owner, Admin, 2).is_ok());
        assert!(check_role_change(OPERATOR, Member, Owner, 1).is_ok());
    }

    #[test]
    fn the_last_owner_is_never_demoted_even_by_an_operator() {
        assert!(last(check_role_change(Some(Owner), Owner, Admin, 1)));
        assert!(last(check_role_change(OPERATOR, Owner, Viewer, 1)));
        // Owner to owner is no demotion.
        assert!(check_role_change(Some(Owner), Owner, Owner, 1).is_ok());
        let Err(Refusal::LastOwner(msg)) = check_role_change(OPERATOR, Owner, Viewer, 1) else {
            panic!("expected a last-owner refusal");
        };
        assert!(msg.contains("last owner"), "{msg}");
    }

    #[test]
    fn removal_rules() {
        // Anyone may leave, except the last owner.
        for role in [Viewer, Member, Admin] {
            assert!(check_removal(Some(role), true, role, 1).is_ok());
        }
        assert!(check_removal(Some(Owner), true, Owner, 2).is_ok());
        assert!(last(check_removal(Some(Owner), true, Owner, 1)));
        // Removing others needs admin; removing an owner needs owner.
        assert!(forbidden(check_removal(Some(Member), false, Viewer, 1)));
        assert!(check_removal(Some(Admin), false, Member, 1).is_ok());
        assert!(check_removal(Some(Admin), false, Admin, 1).is_ok());
        assert!(forbidden(check_removal(Some(Admin), false, Owner, 2)));
        assert!(check_removal(Some(Owner), false, Owner, 2).is_ok());
        assert!(last(check_removal(OPERATOR, false, Owner, 1)));
    }

    #[test]
    fn invitations_need_admin_and_owner_invitations_need_owner() {
        assert!(forbidden(check_invitation(Some(Member), Viewer)));
        assert!(check_invitation(Some(Admin), Admin).is_ok());
        assert!(forbidden(check_invitation(Some(Admin), Owner)));
        assert!(check_invitation(Some(Owner), Owner).is_ok());
        assert!(check_invitation(OPERATOR, Owner).is_ok());
    }

    #[test]
    fn refusals_map_to_403_and_409() {
        let e: ApiError = needs(Owner, "x", Some(Admin)).into();
        assert_eq!(e.status(), 403);
        assert!(e.to_string().contains("owner") && e.to_string().contains("admin"));
        let e: ApiError = last_owner("the last owner cannot be removed").into();
        assert_eq!(e.status(), 409);
    }
}
