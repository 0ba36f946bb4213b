//! Scopes of access tokens: what a token may do, by API area.
//!
//! An area is the first path segment under `/api/v1/` (`tenants`,
//! `policies`, `mcp-servers`, ...): every route of an area is one kind of
//! resource. A scope is `*` (everything), `read` (every read), or
//! `<area>:read` / `<area>:write` (`write` includes `read`). Reads are `GET`;
//! every other method writes.
//!
//! The user-only areas ([`USER_ONLY_AREAS`]: a caller's own account,
//! `/api/v1/auth/...`, and accepting invitations, `/api/v1/invitations/...`)
//! are routed but not nameable in a scope: access tokens reach the one read
//! (`GET /auth/me`) with `*` or `read`, and the writes are for users only,
//! so tokens gain nothing from them.

use cp_http::Method;

/// Declares the scope areas once: [`SCOPE_AREAS`] and their OpenAPI
/// pattern [`SCOPE_PATTERN`] are written from the same list.
macro_rules! scope_areas {
    ($first:literal $(, $area:literal)* $(,)?) => {
        /// The areas scopes can name: every routed area but the
        /// [`USER_ONLY_AREAS`].
        pub const SCOPE_AREAS: &[&str] = &[$first $(, $area)*];

        /// OpenAPI pattern of a scope ([`parse`]).
        pub const SCOPE_PATTERN: &str = concat!(
            "^(\\*|read|(", $first $(, "|", $area)*, "):(read|write))$"
        );
    };
}

scope_areas![
    "tenants",
    "policies",
    "mcp-servers",
    "groups",
    "third-party-sources",
    "skills",
    "access-tokens",
    "organizations",
    "providers",
    "models",
    "ai-budget",
    "keys",
    "fairshare",
    "token-usage",
    "usage",
    "costs",
    "stats",
    "capacity",
    "vaults",
    "agents",
    "chains",
];

/// The routed areas only users act in.
pub const USER_ONLY_AREAS: &[&str] = &[crate::auth::USER_AREA, crate::auth::INVITATIONS_AREA];

/// Every routed API area: the scope areas and the user-only ones. A test
/// checks that every routed path belongs to one of them, so a new route
/// group cannot be forgotten here.
pub const AREAS: &[&[&str]] = &[SCOPE_AREAS, USER_ONLY_AREAS];

/// Whether `area` is a routed API area ([`AREAS`]).
pub fn is_area(area: &str) -> bool {
    AREAS.iter().any(|list| list.contains(&area))
}

/// What a request does to its area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// `GET`.
    Read,
    /// Any other method.
    Write,
}

impl Access {
    /// The access a request method needs.
    pub fn of(method: &Method) -> Self {
        if method.is_mutation() {
            Self::Write
        } else {
            Self::Read
        }
    }
}

/// One parsed scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `*`: everything.
    All,
    /// `read`: every read.
    ReadAll,
    /// `<area>:read` or `<area>:write`.
    Area(&'static str, Access),
}

/// The area of an operation: the one its route declares, else its path's.
pub fn area_of_route<Op>(route: &cp_http::Route<Op>) -> &'static str {
    route.area.unwrap_or_else(|| area_of(route.pattern))
}

/// The area of a route pattern or path: its first segment under `/api/v1/`.
pub fn area_of(path: &str) -> &str {
    path.strip_prefix("/api/v1/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("")
}

/// Parses a scope string.
pub fn parse(text: &str) -> Result<Scope, String> {
    match text {
        "*" => return Ok(Scope::All),
        "read" => return Ok(Scope::ReadAll),
        _ => {}
    }
    let invalid = || {
        format!(
            "must be '*', 'read', or '<area>:read' / '<area>:write' with an area among {}",
            SCOPE_AREAS.join(", ")
        )
    };
    let (area, access) = text.split_once(':').ok_or_else(invalid)?;
    let area = SCOPE_AREAS
        .iter()
        .find(|a| **a == area)
        .copied()
        .ok_or_else(invalid)?;
    let access = match access {
        "read" => Access::Read,
        "write" => Access::Write,
        _ => return Err(invalid()),
    };
    Ok(Scope::Area(area, access))
}

impl Scope {
    /// Whether this scope permits `access` to `area`.
    pub fn allows(&self, access: Access, area: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::ReadAll => access == Access::Read,
            Scope::Area(a, granted) => *a == area && access <= *granted,
        }
    }

    /// Whether everything this scope permits, `held` permits too (a token
    /// may only hand out what it holds).
    pub fn within(&self, held: &[Scope]) -> bool {
        let allowed = |access, area: &str| held.iter().any(|h| h.allows(access, area));
        match self {
            Scope::All => held.contains(&Scope::All),
            Scope::ReadAll => {
                held.iter()
                    .any(|h| matches!(h, Scope::All | Scope::ReadAll))
                    || SCOPE_AREAS.iter().all(|a| allowed(Access::Read, a))
            }
            Scope::Area(area, access) => allowed(*access, area),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scopes(items: &[&str]) -> Vec<Scope> {
        items.iter().map(|s| parse(s).unwrap()).collect()
    }

    #[test]
    fn parses_the_grammar_and_names_the_areas_on_error() {
        assert_eq!(parse("*").unwrap(), Scope::All);
        assert_eq!(parse("read").unwrap(), Scope::ReadAll);
        assert_eq!(
            parse("tenants:write").unwrap(),
            Scope::Area("tenants", Access::Write)
        );
        for bad in [
            "",
            "write",
            "tenant:read",
            "tenants:admin",
            "tenants",
            ":read",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("access-tokens"), "{bad}: {err}");
        }
    }

    #[test]
    fn write_includes_read_and_areas_are_separate() {
        let s = scopes(&["tenants:write", "policies:read"]);
        let allows = |access, area| s.iter().any(|x| x.allows(access, area));
        assert!(allows(Access::Read, "tenants"));
        assert!(allows(Access::Write, "tenants"));
        assert!(allows(Access::Read, "policies"));
        assert!(!allows(Access::Write, "policies"));
        assert!(!allows(Access::Read, "skills"));
        assert!(parse("read").unwrap().allows(Access::Read, "skills"));
        assert!(!parse("read").unwrap().allows(Access::Write, "skills"));
    }

    #[test]
    fn a_token_cannot_hand_out_more_than_it_holds() {
        let held = scopes(&["tenants:write", "read"]);
        assert!(parse("tenants:read").unwrap().within(&held));
        assert!(parse("tenants:write").unwrap().within(&held));
        assert!(parse("skills:read").unwrap().within(&held));
        assert!(parse("read").unwrap().within(&held));
        assert!(!parse("skills:write").unwrap().within(&held));
        assert!(!parse("*").unwrap().within(&held));
        assert!(parse("*").unwrap().within(&scopes(&["*"])));
        let per_area: Vec<String> = SCOPE_AREAS.iter().map(|a| format!("{a}:read")).collect();
        let per_area: Vec<&str> = per_area.iter().map(String::as_str).collect();
        assert!(parse("read").unwrap().within(&scopes(&per_area)));
    }

    #[test]
    fn the_openapi_pattern_lists_exactly_the_areas() {
        let expected = format!("^(\\*|read|({}):(read|write))$", SCOPE_AREAS.join("|"));
        assert_eq!(SCOPE_PATTERN, expected);
    }

    #[test]
    fn the_user_only_areas_are_routed_but_not_scopable() {
        assert!(is_area("auth") && is_area("invitations") && is_area("tenants"));
        assert!(!is_area("nothing"));
        assert!(parse("auth:read").is_err());
        assert!(parse("invitations:write").is_err());
        assert!(parse("read").unwrap().allows(Access::Read, "auth"));
        assert!(!parse("tenants:write")
            .unwrap()
            .allows(Access::Write, "auth"));
    }

    #[test]
    fn areas_come_from_the_first_segment() {
        assert_eq!(area_of("/api/v1/tenants/{name}/datasets"), "tenants");
        assert_eq!(area_of("/api/v1/skills/catalog"), "skills");
        assert_eq!(area_of("/api/v1/access-tokens"), "access-tokens");
        assert_eq!(area_of("/healthz"), "");
    }
}
