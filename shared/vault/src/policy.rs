//! The vault's policy evaluator: who may do what to which secret paths.
//!
//! The rules, in the order they apply:
//! 1. **Nothing is allowed by default.** A request no policy matches is
//!    denied.
//! 2. A policy **matches** a request when its principal covers the requester
//!    (the same user, the same agent, or a group the requester belongs to),
//!    its actions include the request's, its glob covers the path
//!    ([`PathGlob`]) and all its conditions hold.
//! 3. Among the matching policies, the **highest priority number wins**
//!    (priority 100 is considered before priority 10): a specific exception
//!    outranks a broad rule by being given a larger number.
//! 4. **At that priority a deny wins** over any allow, so two equal-ranked
//!    policies that disagree fail closed.
//!
//! The decision names the policy that decided it, so audit entries can say
//! why. When several policies tie (same priority, same effect) the one with
//! the smallest id is named, so the answer does not depend on the order the
//! policies were loaded in.
//!
//! Conditions:
//! - **Source addresses** (`sourceCidrs`, IPv4 and IPv6 networks): the
//!   client address must be inside one of them. A policy listing networks
//!   never matches a request whose client address is unknown. An
//!   IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket
//!   reports for an IPv4 client) is compared as the IPv4 address it is.
//! - **Validity window** (`notBefore`, `notAfter`, either optional): the
//!   policy applies from `notBefore` through `notAfter`, **both inclusive**,
//!   as X.509 validity periods are read.

use std::collections::BTreeSet;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use cp_http::validate::Validator;
use cp_http::ApiError;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::glob::PathGlob;
use crate::model::SecretType;
use crate::path::SecretPath;

/// The most source networks one policy may list.
pub const MAX_SOURCE_CIDRS: usize = 64;
/// The longest group name a policy may name, in characters.
pub const MAX_GROUP_NAME_CHARS: usize = 128;

/// What a request does to a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read a value.
    Read,
    /// Create or update a secret (a new version).
    Write,
    /// Delete a secret.
    Delete,
    /// See that a path exists (listing, metadata).
    List,
    /// Grant others access (create policies on the path).
    Share,
}

/// Whether a matching policy grants or refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Grants the actions.
    Allow,
    /// Refuses the actions, whatever an allow of the same or a lower
    /// priority says.
    Deny,
}

/// Whom a policy is about. On the wire: `{"kind": "user", "id": "<uuid>"}`,
/// `{"kind": "agent", "id": "<uuid>"}`, `{"kind": "group", "id": "<name>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Principal {
    /// One user.
    User(Uuid),
    /// One agent.
    Agent(Uuid),
    /// Every member (user or agent) of an organisation group, by name.
    Group(String),
}

/// What kind of caller is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A person.
    User,
    /// An AI agent.
    Agent,
}

/// The optional conditions of a policy; all must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conditions {
    /// Client networks; empty means any address (and none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_cidrs: Vec<IpNet>,
    /// The first instant the policy applies (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// The last instant the policy applies (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<DateTime<Utc>>,
}

impl Conditions {
    /// Whether the conditions hold for a request from `client_ip` at `now`.
    pub fn hold(&self, client_ip: Option<IpAddr>, now: DateTime<Utc>) -> bool {
        let address_ok = self.source_cidrs.is_empty()
            || client_ip.is_some_and(|ip| {
                let ip = canonical_ip(ip);
                self.source_cidrs.iter().any(|net| net.contains(&ip))
            });
        address_ok
            && self.not_before.is_none_or(|start| now >= start)
            && self.not_after.is_none_or(|end| now <= end)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// One vault policy, validated (see [`PolicyInput::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Its id, named by decisions.
    pub id: Uuid,
    /// Whom it is about.
    pub principal: Principal,
    /// The actions it grants or refuses (never empty).
    pub actions: BTreeSet<Action>,
    /// The paths it covers.
    pub path_glob: PathGlob,
    /// Grant or refuse.
    pub effect: Effect,
    /// Higher numbers win (see the module documentation).
    pub priority: i32,
    /// When it applies.
    #[serde(default)]
    pub conditions: Conditions,
}

impl Policy {
    /// Whether this policy is about `request` at all: principal, action,
    /// path and conditions.
    pub fn matches(&self, request: &AccessRequest<'_>) -> bool {
        self.covers(request.requester)
            && self.actions.contains(&request.action)
            && self.path_glob.matches(request.path)
            && self.conditions.hold(request.client_ip, request.now)
    }

    fn covers(&self, requester: &Requester) -> bool {
        match &self.principal {
            Principal::User(id) => requester.kind == PrincipalKind::User && *id == requester.id,
            Principal::Agent(id) => requester.kind == PrincipalKind::Agent && *id == requester.id,
            Principal::Group(name) => requester.groups.iter().any(|group| group == name),
        }
    }
}

/// Who is asking: a user or an agent, and the organisation groups it is a
/// member of (resolved by the caller from the organisation's membership).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// User or agent.
    pub kind: PrincipalKind,
    /// The user's or agent's id.
    pub id: Uuid,
    /// Names of the groups it belongs to.
    pub groups: Vec<String>,
}

/// One request to decide.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    /// Who asks.
    pub requester: &'a Requester,
    /// What it wants to do.
    pub action: Action,
    /// To which secret path.
    pub path: &'a SecretPath,
    /// The client's address, when known.
    pub client_ip: Option<IpAddr>,
    /// The request's time (the pipeline's fixed `now`).
    pub now: DateTime<Utc>,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An allow policy decided.
    Allowed {
        /// The deciding policy.
        policy: Uuid,
    },
    /// A deny policy decided (`Some`), or no policy matched (`None`).
    Denied {
        /// The deciding policy, if any.
        policy: Option<Uuid>,
    },
}

impl Decision {
    /// Whether the request may go ahead.
    pub fn is_allowed(self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// The policy that decided, if any.
    pub fn policy(self) -> Option<Uuid> {
        match self {
            Self::Allowed { policy } => Some(policy),
            Self::Denied { policy } => policy,
        }
    }
}

/// Decides `request` under `policies` (see the module documentation).
pub fn evaluate(policies: &[Policy], request: &AccessRequest<'_>) -> Decision {
    // The best so far: (priority, deny?, smallest id), compared so that a
    // higher priority, then a deny, then a smaller id is better.
    let mut best: Option<&Policy> = None;
    for policy in policies.iter().filter(|p| p.matches(request)) {
        let better = match best {
            None => true,
            Some(current) => {
                let rank = |p: &Policy| (p.priority, p.effect == Effect::Deny);
                rank(policy) > rank(current)
                    || (rank(policy) == rank(current) && policy.id < current.id)
            }
        };
        if better {
            best = Some(policy);
        }
    }
    match best {
        Some(policy) if policy.effect == Effect::Allow => Decision::Allowed { policy: policy.id },
        Some(policy) => Decision::Denied {
            policy: Some(policy.id),
        },
        None => Decision::Denied { policy: None },
    }
}

/// Whether a listing by `listing`'s requester (from its address, at its
/// time) may show `path`: `list` evaluated on that one path. Its `action`
/// and `path` are ignored, so the same request serves a whole listing.
pub fn may_list(policies: &[Policy], listing: &AccessRequest<'_>, path: &SecretPath) -> bool {
    evaluate(
        policies,
        &AccessRequest {
            action: Action::List,
            path,
            ..*listing
        },
    )
    .is_allowed()
}

/// The code of the `403` answered when [`direct_read_forbidden`] holds.
pub const DIRECT_READ_FORBIDDEN: &str = "DIRECT_READ_FORBIDDEN";

/// Whether a direct read of a `secret_type` secret is refused, whatever the
/// policies say: an agent with the intents API enabled uses private and SSH
/// keys through intents (sign, decrypt, connect) and never receives them,
/// so a compromised agent cannot exfiltrate them.
pub fn direct_read_forbidden(
    principal_kind: PrincipalKind,
    intents_api_enabled: bool,
    secret_type: SecretType,
) -> bool {
    principal_kind == PrincipalKind::Agent && intents_api_enabled && secret_type.is_key_material()
}

/// The `403 DIRECT_READ_FORBIDDEN` a route answers when
/// [`direct_read_forbidden`] holds.
pub fn direct_read_refusal(secret_type: SecretType) -> ApiError {
    ApiError::Refused {
        status: 403,
        code: DIRECT_READ_FORBIDDEN,
        message: format!(
            "agents with the intents API enabled cannot read {secret_type} secrets directly; use an intent instead"
        ),
    }
}

/// A policy's conditions as a client sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionsInput {
    /// Networks (`10.0.0.0/8`, `2001:db8::/32`) or single addresses.
    #[serde(default)]
    pub source_cidrs: Vec<String>,
    /// RFC 3339; inclusive.
    #[serde(default)]
    pub not_before: Option<DateTime<Utc>>,
    /// RFC 3339; inclusive.
    #[serde(default)]
    pub not_after: Option<DateTime<Utc>>,
}

/// A policy as a client sends it; [`PolicyInput::validate`] makes it a
/// [`Policy`], naming each bad field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyInput {
    /// Whom it is about.
    pub principal: Principal,
    /// At least one action.
    pub actions: Vec<Action>,
    /// The glob text.
    pub path_glob: String,
    /// Grant or refuse.
    pub effect: Effect,
    /// Higher wins; 0 when absent.
    #[serde(default)]
    pub priority: i32,
    /// Conditions, if any.
    #[serde(default)]
    pub conditions: Option<ConditionsInput>,
}

/// Parses a network or a single address (a host network: `/32`, `/128`).
/// Host bits are cleared (`10.1.2.3/8` is `10.0.0.0/8`).
pub fn parse_cidr(text: &str) -> Option<IpNet> {
    // Only the canonical spellings (what the documented pattern accepts):
    // a prefix length of digits without a leading zero, and no IPv6 with
    // an embedded IPv4 address.
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p == "0" || !p.starts_with('0'))
    });
    if !prefix_ok || (address.contains('.') && address.contains(':')) {
        return None;
    }
    text.parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .ok()
}

impl PolicyInput {
    /// Checks every field and builds the policy with `id`. Fields named in
    /// errors: `principal.id`, `actions`, `pathGlob`,
    /// `conditions.sourceCidrs` / `conditions.sourceCidrs[i]`,
    /// `conditions.notAfter`.
    pub fn validate(self, id: Uuid) -> Result<Policy, ApiError> {
        let mut v = Validator::new();
        if let Principal::Group(name) = &self.principal {
            let chars = name.chars().count();
            v.check(
                (1..=MAX_GROUP_NAME_CHARS).contains(&chars) && !name.chars().any(char::is_control),
                "principal.id",
                format!(
                    "must be a group name of 1-{MAX_GROUP_NAME_CHARS} characters without control characters"
                ),
            );
        }
        v.check(
            !self.actions.is_empty(),
            "actions",
            "must name at least one action",
        );
        let glob = PathGlob::parse(&self.path_glob);
        if let Err(error) = &glob {
            v.error("pathGlob", error.to_string());
        }
        let conditions = self.conditions.unwrap_or_default();
        let mut source_cidrs = Vec::new();
        if conditions.source_cidrs.len() > MAX_SOURCE_CIDRS {
            v.error(
                "conditions.sourceCidrs",
                format!("must list at most {MAX_SOURCE_CIDRS} networks"),
            );
        } else {
            for (index, text) in conditions.source_cidrs.iter().enumerate() {
                match parse_cidr(text) {
                    Some(net) => source_cidrs.push(net),
                    None => v.error(
                        format!("conditions.sourceCidrs[{index}]"),
                        "must be an IPv4 or IPv6 network (192.0.2.0/24, 2001:db8::/32) or address",
                    ),
                }
            }
        }
        if let (Some(start), Some(end)) = (conditions.not_before, conditions.not_after) {
            v.check(
                end >= start,
                "conditions.notAfter",
                "must not be before notBefore",
            );
        }
        v.finish()?;
        let path_glob = glob.map_err(|_| ApiError::Internal)?;
        Ok(Policy {
            id,
            principal: self.principal,
            actions: self.actions.into_iter().collect(),
            path_glob,
            effect: self.effect,
            priority: self.priority,
            conditions: Conditions {
                source_cidrs,
                not_before: conditions.not_before,
                not_after: conditions.not_after,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    const ALICE: Uuid = Uuid::from_u128(0xa11ce);
    const BOB: Uuid = Uuid::from_u128(0xb0b);
    const BOT: Uuid = Uuid::from_u128(0xb07);

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    /// A policy builder for the table: `P(n)` has id `n`.
    #[derive(Clone)]
    struct P(Policy);

    impl P {
        fn new(
            id: u128,
            principal: Principal,
            actions: &[Action],
            glob: &str,
            effect: Effect,
        ) -> Self {
            Self(Policy {
                id: Uuid::from_u128(id),
                principal,
                actions: actions.iter().copied().collect(),
                path_glob: PathGlob::parse(glob).unwrap(),
                effect,
                priority: 0,
                conditions: Conditions::default(),
            })
        }
        fn priority(mut self, priority: i32) -> Self {
            self.0.priority = priority;
            self
        }
        fn cidrs(mut self, cidrs: &[&str]) -> Self {
            self.0.conditions.source_cidrs = cidrs.iter().map(|c| parse_cidr(c).unwrap()).collect();
            self
        }
        fn window(mut self, start: Option<i64>, end: Option<i64>) -> Self {
            self.0.conditions.not_before = start.map(at);
            self.0.conditions.not_after = end.map(at);
            self
        }
    }

    use Action::*;
    use Effect::*;

    fn user(id: Uuid) -> Principal {
        Principal::User(id)
    }
    fn agent(id: Uuid) -> Principal {
        Principal::Agent(id)
    }
    fn group(name: &str) -> Principal {
        Principal::Group(name.into())
    }

    struct Case {
        name: &'static str,
        policies: Vec<P>,
        kind: PrincipalKind,
        id: Uuid,
        groups: &'static [&'static str],
        action: Action,
        path: &'static str,
        ip: Option<&'static str>,
        now: i64,
        want: Decision,
    }

    /// A request by Alice (a user in no group) to read `db/password` from
    /// no known address at t=0, to be adjusted per case.
    fn case(name: &'static str, policies: Vec<P>, want: Decision) -> Case {
        Case {
            name,
            policies,
            kind: PrincipalKind::User,
            id: ALICE,
            groups: &[],
            action: Read,
            path: "db/password",
            ip: None,
            now: 0,
            want,
        }
    }

    impl Case {
        fn by(mut self, kind: PrincipalKind, id: Uuid) -> Self {
            self.kind = kind;
            self.id = id;
            self
        }
        fn groups(mut self, groups: &'static [&'static str]) -> Self {
            self.groups = groups;
            self
        }
        fn action(mut self, action: Action) -> Self {
            self.action = action;
            self
        }
        fn path(mut self, path: &'static str) -> Self {
            self.path = path;
            self
        }
        fn ip(mut self, ip: &'static str) -> Self {
            self.ip = Some(ip);
            self
        }
        fn now(mut self, now: i64) -> Self {
            self.now = now;
            self
        }
    }

    fn allowed(id: u128) -> Decision {
        Decision::Allowed {
            policy: Uuid::from_u128(id),
        }
    }
    fn denied(id: u128) -> Decision {
        Decision::Denied {
            policy: Some(Uuid::from_u128(id)),
        }
    }
    const DEFAULT_DENY: Decision = Decision::Denied { policy: None };

    fn cases() -> Vec<Case> {
        use PrincipalKind::{Agent as AgentKind, User as UserKind};
        let allow_alice = |id| P::new(id, user(ALICE), &[Read], "db/**", Allow);
        vec![
            // -- default deny and the basics
            case("no policies at all", vec![], DEFAULT_DENY),
            case("a matching allow", vec![allow_alice(1)], allowed(1)),
            case(
                "a matching deny alone",
                vec![P::new(1, user(ALICE), &[Read], "**", Deny)],
                denied(1),
            ),
            case(
                "another user's allow",
                vec![P::new(1, user(BOB), &[Read], "**", Allow)],
                DEFAULT_DENY,
            ),
            case("wrong action", vec![allow_alice(1)], DEFAULT_DENY).action(Write),
            case(
                "one of several actions",
                vec![P::new(1, user(ALICE), &[Write, Read, List], "**", Allow)],
                allowed(1),
            ),
            case(
                "share is not implied by write",
                vec![P::new(1, user(ALICE), &[Write, Read], "**", Allow)],
                DEFAULT_DENY,
            )
            .action(Share),
            case(
                "delete needs delete",
                vec![P::new(1, user(ALICE), &[Write], "**", Allow)],
                DEFAULT_DENY,
            )
            .action(Delete),
            case(
                "delete granted",
                vec![P::new(1, user(ALICE), &[Delete], "**", Allow)],
                allowed(1),
            )
            .action(Delete),
            // -- priorities
            case(
                "higher priority deny beats allow",
                vec![
                    allow_alice(1).priority(10),
                    P::new(2, user(ALICE), &[Read], "db/*", Deny).priority(20),
                ],
                denied(2),
            ),
            case(
                "higher priority allow beats deny",
                vec![
                    allow_alice(1).priority(20),
                    P::new(2, user(ALICE), &[Read], "db/*", Deny).priority(10),
                ],
                allowed(1),
            ),
            case(
                "deny wins a priority tie",
                vec![
                    allow_alice(1).priority(5),
                    P::new(2, user(ALICE), &[Read], "**", Deny).priority(5),
                ],
                denied(2),
            ),
            case(
                "deny wins a tie whatever the order",
                vec![
                    P::new(2, user(ALICE), &[Read], "**", Deny).priority(5),
                    allow_alice(1).priority(5),
                ],
                denied(2),
            ),
            case(
                "negative priorities rank below zero",
                vec![
                    allow_alice(1).priority(-1),
                    P::new(2, user(ALICE), &[Read], "**", Deny).priority(-5),
                ],
                allowed(1),
            ),
            case(
                "tied allows name the smallest id",
                vec![allow_alice(9), allow_alice(3), allow_alice(7)],
                allowed(3),
            ),
            case(
                "tied denies name the smallest id",
                vec![
                    P::new(8, user(ALICE), &[Read], "**", Deny),
                    P::new(4, group("ops"), &[Read], "**", Deny),
                ],
                denied(4),
            )
            .groups(&["ops"]),
            case(
                "a non-matching high deny is ignored",
                vec![
                    allow_alice(1),
                    P::new(2, user(ALICE), &[Read], "other/**", Deny).priority(100),
                ],
                allowed(1),
            ),
            case(
                "a high deny on another action is ignored",
                vec![
                    allow_alice(1),
                    P::new(2, user(ALICE), &[Write], "**", Deny).priority(100),
                ],
                allowed(1),
            ),
            case(
                "extreme priorities",
                vec![
                    allow_alice(1).priority(i32::MAX),
                    P::new(2, user(ALICE), &[Read], "**", Deny).priority(i32::MIN),
                ],
                allowed(1),
            ),
            // -- globs
            case(
                "glob does not cover the path",
                vec![P::new(1, user(ALICE), &[Read], "db/*", Allow)],
                DEFAULT_DENY,
            )
            .path("db/replica/password"),
            case("double star covers depth", vec![allow_alice(1)], allowed(1))
                .path("db/replica/password"),
            case(
                "double star covers the directory itself",
                vec![allow_alice(1)],
                allowed(1),
            )
            .path("db"),
            case(
                "a prefix that is not a segment",
                vec![allow_alice(1)],
                DEFAULT_DENY,
            )
            .path("dbx/password"),
            case(
                "star inside a segment",
                vec![P::new(1, user(ALICE), &[Read], "*/pass*", Allow)],
                allowed(1),
            ),
            case(
                "middle double star",
                vec![P::new(1, user(ALICE), &[Read], "a/**/z", Allow)],
                allowed(1),
            )
            .path("a/b/c/z"),
            // -- groups
            case(
                "group member allowed",
                vec![P::new(1, group("ops"), &[Read], "**", Allow)],
                allowed(1),
            )
            .groups(&["dev", "ops"]),
            case(
                "not a member",
                vec![P::new(1, group("ops"), &[Read], "**", Allow)],
                DEFAULT_DENY,
            )
            .groups(&["dev"]),
            case(
                "group names are case-sensitive",
                vec![P::new(1, group("ops"), &[Read], "**", Allow)],
                DEFAULT_DENY,
            )
            .groups(&["Ops"]),
            case(
                "group deny beats a personal allow at equal priority",
                vec![
                    allow_alice(1),
                    P::new(2, group("contractors"), &[Read], "db/**", Deny),
                ],
                denied(2),
            )
            .groups(&["contractors"]),
            case(
                "personal allow outranks a group deny",
                vec![
                    allow_alice(1).priority(10),
                    P::new(2, group("contractors"), &[Read], "db/**", Deny),
                ],
                allowed(1),
            )
            .groups(&["contractors"]),
            case(
                "agents are group members too",
                vec![P::new(1, group("bots"), &[Read], "**", Allow)],
                allowed(1),
            )
            .by(AgentKind, BOT)
            .groups(&["bots"]),
            // -- agent vs user
            case(
                "an agent policy does not cover a user with the same id",
                vec![P::new(1, agent(ALICE), &[Read], "**", Allow)],
                DEFAULT_DENY,
            ),
            case(
                "a user policy does not cover an agent with the same id",
                vec![P::new(1, user(BOT), &[Read], "**", Allow)],
                DEFAULT_DENY,
            )
            .by(AgentKind, BOT),
            case(
                "agent allowed",
                vec![P::new(1, agent(BOT), &[Read], "**", Allow)],
                allowed(1),
            )
            .by(AgentKind, BOT),
            case(
                "another agent",
                vec![P::new(1, agent(BOT), &[Read], "**", Allow)],
                DEFAULT_DENY,
            )
            .by(AgentKind, BOB),
            case(
                "user kind with the right id",
                vec![P::new(1, user(BOB), &[List], "**", Allow)],
                allowed(1),
            )
            .by(UserKind, BOB)
            .action(List),
            // -- source addresses
            case(
                "IPv4 inside",
                vec![allow_alice(1).cidrs(&["10.0.0.0/8"])],
                allowed(1),
            )
            .ip("10.20.30.40"),
            case(
                "IPv4 outside",
                vec![allow_alice(1).cidrs(&["10.0.0.0/8"])],
                DEFAULT_DENY,
            )
            .ip("11.0.0.1"),
            case(
                "IPv4 network edge",
                vec![allow_alice(1).cidrs(&["192.0.2.0/30"])],
                allowed(1),
            )
            .ip("192.0.2.3"),
            case(
                "just past the IPv4 network",
                vec![allow_alice(1).cidrs(&["192.0.2.0/30"])],
                DEFAULT_DENY,
            )
            .ip("192.0.2.4"),
            case(
                "any of several networks",
                vec![allow_alice(1).cidrs(&["10.0.0.0/8", "2001:db8::/32"])],
                allowed(1),
            )
            .ip("2001:db8:1::5"),
            case(
                "IPv6 outside",
                vec![allow_alice(1).cidrs(&["2001:db8::/32"])],
                DEFAULT_DENY,
            )
            .ip("2001:db9::1"),
            case(
                "IPv4 client against an IPv6-only list",
                vec![allow_alice(1).cidrs(&["2001:db8::/32"])],
                DEFAULT_DENY,
            )
            .ip("10.0.0.1"),
            case(
                "IPv4-mapped IPv6 client in an IPv4 network",
                vec![allow_alice(1).cidrs(&["10.0.0.0/8"])],
                allowed(1),
            )
            .ip("::ffff:10.1.2.3"),
            case(
                "single address condition",
                vec![allow_alice(1).cidrs(&["203.0.113.7"])],
                allowed(1),
            )
            .ip("203.0.113.7"),
            case(
                "missing client address fails the condition",
                vec![allow_alice(1).cidrs(&["0.0.0.0/0", "::/0"])],
                DEFAULT_DENY,
            ),
            case(
                "missing client address: a deny with networks does not apply",
                vec![
                    allow_alice(1),
                    P::new(2, user(ALICE), &[Read], "**", Deny)
                        .priority(9)
                        .cidrs(&["0.0.0.0/0"]),
                ],
                allowed(1),
            ),
            case(
                "no networks listed: any address",
                vec![allow_alice(1)],
                allowed(1),
            )
            .ip("198.51.100.1"),
            case(
                "a deny limited to a network",
                vec![
                    allow_alice(1),
                    P::new(2, user(ALICE), &[Read], "**", Deny).cidrs(&["198.51.100.0/24"]),
                ],
                denied(2),
            )
            .ip("198.51.100.1"),
            // -- validity window
            case(
                "inside the window",
                vec![allow_alice(1).window(Some(-10), Some(10))],
                allowed(1),
            ),
            case(
                "at notBefore exactly",
                vec![allow_alice(1).window(Some(0), Some(10))],
                allowed(1),
            ),
            case(
                "at notAfter exactly",
                vec![allow_alice(1).window(Some(-10), Some(0))],
                allowed(1),
            ),
            case(
                "one second before notBefore",
                vec![allow_alice(1).window(Some(0), None)],
                DEFAULT_DENY,
            )
            .now(-1),
            case(
                "one second after notAfter",
                vec![allow_alice(1).window(None, Some(0))],
                DEFAULT_DENY,
            )
            .now(1),
            case(
                "open-ended start",
                vec![allow_alice(1).window(None, Some(100))],
                allowed(1),
            )
            .now(-1_000_000),
            case(
                "open-ended end",
                vec![allow_alice(1).window(Some(-100), None)],
                allowed(1),
            )
            .now(1_000_000),
            case(
                "an expired deny no longer applies",
                vec![
                    allow_alice(1),
                    P::new(2, user(ALICE), &[Read], "**", Deny)
                        .priority(9)
                        .window(None, Some(-1)),
                ],
                allowed(1),
            ),
            case(
                "all conditions must hold",
                vec![allow_alice(1).cidrs(&["10.0.0.0/8"]).window(Some(5), None)],
                DEFAULT_DENY,
            )
            .ip("10.0.0.1"),
        ]
    }

    #[test]
    fn decision_table() {
        let cases = cases();
        assert!(cases.len() >= 40, "{} cases", cases.len());
        for c in cases {
            let requester = Requester {
                kind: c.kind,
                id: c.id,
                groups: c.groups.iter().map(|g| g.to_string()).collect(),
            };
            let path = SecretPath::parse(c.path).unwrap();
            let policies: Vec<Policy> = c.policies.into_iter().map(|p| p.0).collect();
            let request = AccessRequest {
                requester: &requester,
                action: c.action,
                path: &path,
                client_ip: c.ip.map(|ip| ip.parse().unwrap()),
                now: at(c.now),
            };
            assert_eq!(evaluate(&policies, &request), c.want, "{}", c.name);
        }
    }

    #[test]
    fn decisions_report_their_policy() {
        let id = Uuid::from_u128(5);
        assert!(Decision::Allowed { policy: id }.is_allowed());
        assert_eq!(Decision::Allowed { policy: id }.policy(), Some(id));
        assert!(!Decision::Denied { policy: Some(id) }.is_allowed());
        assert_eq!(Decision::Denied { policy: Some(id) }.policy(), Some(id));
        assert_eq!(DEFAULT_DENY.policy(), None);
    }

    #[test]
    fn listing_evaluates_list_per_path() {
        let policies = vec![
            P::new(1, user(ALICE), &[List], "team/**", Allow).0,
            P::new(2, user(ALICE), &[List], "team/private/**", Deny).0,
            P::new(3, user(ALICE), &[Read], "other/**", Allow).0,
        ];
        let requester = Requester {
            kind: PrincipalKind::User,
            id: ALICE,
            groups: vec![],
        };
        let anchor = SecretPath::parse("team").unwrap();
        // The listing request's own action and path do not matter.
        let listing = AccessRequest {
            requester: &requester,
            action: Read,
            path: &anchor,
            client_ip: None,
            now: at(0),
        };
        let shown: Vec<&str> = ["team/a", "team/private/b", "other/c", "team/x/y"]
            .into_iter()
            .filter(|p| may_list(&policies, &listing, &SecretPath::parse(p).unwrap()))
            .collect();
        assert_eq!(shown, ["team/a", "team/x/y"]);
    }

    #[test]
    fn intents_agents_never_read_key_material_directly() {
        use PrincipalKind::{Agent as AgentKind, User as UserKind};
        for secret_type in SecretType::ALL {
            let key = matches!(secret_type, SecretType::PrivateKey | SecretType::SshKey);
            assert_eq!(
                direct_read_forbidden(AgentKind, true, secret_type),
                key,
                "{secret_type}"
            );
            assert!(!direct_read_forbidden(AgentKind, false, secret_type));
            assert!(!direct_read_forbidden(UserKind, true, secret_type));
            assert!(!direct_read_forbidden(UserKind, false, secret_type));
        }
        let refusal = direct_read_refusal(SecretType::SshKey);
        assert_eq!(refusal.status(), 403);
        assert_eq!(refusal.code(), "DIRECT_READ_FORBIDDEN");
        assert!(refusal.to_string().contains("ssh_key"));
    }

    #[test]
    fn cidrs_parse_networks_and_addresses() {
        assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("192.0.2.1").unwrap().to_string(), "192.0.2.1/32");
        assert_eq!(
            parse_cidr("2001:db8::1").unwrap().to_string(),
            "2001:db8::1/128"
        );
        assert_eq!(
            parse_cidr("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0",
            "example.com",
            "10.0.0.0/8 ",
            "1.2.3.4/-1",
        ] {
            assert_eq!(parse_cidr(bad), None, "{bad:?}");
        }
    }

    fn input(value: serde_json::Value) -> PolicyInput {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn inputs_validate_into_policies() {
        let policy = input(json!({
            "principal": {"kind": "group", "id": "ops"},
            "actions": ["read", "list", "read"],
            "pathGlob": "team/**",
            "effect": "deny",
            "priority": 7,
            "conditions": {
                "sourceCidrs": ["10.0.0.1/8", "2001:db8::1"],
                "notBefore": "2026-01-01T00:00:00Z",
                "notAfter": "2026-01-01T00:00:00Z"
            }
        }))
        .validate(Uuid::from_u128(1))
        .unwrap();
        assert_eq!(policy.principal, Principal::Group("ops".into()));
        assert_eq!(policy.actions, BTreeSet::from([Read, List]));
        assert_eq!(policy.path_glob.as_str(), "team/**");
        assert_eq!(policy.effect, Deny);
        assert_eq!(policy.priority, 7);
        assert_eq!(
            policy.conditions.source_cidrs,
            vec![
                parse_cidr("10.0.0.0/8").unwrap(),
                parse_cidr("2001:db8::1/128").unwrap()
            ]
        );
        // Stored and read back unchanged.
        let stored = serde_json::to_value(&policy).unwrap();
        assert_eq!(stored["principal"], json!({"kind": "group", "id": "ops"}));
        assert_eq!(
            stored["conditions"]["sourceCidrs"],
            json!(["10.0.0.0/8", "2001:db8::1/128"])
        );
        assert_eq!(serde_json::from_value::<Policy>(stored).unwrap(), policy);

        let minimal = input(json!({
            "principal": {"kind": "agent", "id": BOT},
            "actions": ["read"],
            "pathGlob": "**",
            "effect": "allow"
        }))
        .validate(Uuid::from_u128(2))
        .unwrap();
        assert_eq!(minimal.priority, 0);
        assert_eq!(minimal.conditions, Conditions::default());
        assert_eq!(minimal.principal, Principal::Agent(BOT));
    }

    #[test]
    fn invalid_inputs_name_each_field() {
        let error = input(json!({
            "principal": {"kind": "group", "id": ""},
            "actions": [],
            "pathGlob": "a**/b",
            "effect": "allow",
            "conditions": {
                "sourceCidrs": ["10.0.0.0/8", "not-a-network"],
                "notBefore": "2026-01-02T00:00:00Z",
                "notAfter": "2026-01-01T00:00:00Z"
            }
        }))
        .validate(Uuid::nil())
        .unwrap_err();
        let ApiError::Validation { fields, .. } = &error else {
            panic!("{error:?}");
        };
        let named: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            named,
            [
                "principal.id",
                "actions",
                "pathGlob",
                "conditions.sourceCidrs[1]",
                "conditions.notAfter"
            ]
        );
        assert_eq!(
            fields[2].message,
            "'**' must be a whole segment (between slashes)"
        );

        let many: Vec<String> = (0..=MAX_SOURCE_CIDRS)
            .map(|i| format!("10.0.{i}.0/24"))
            .collect();
        let error = input(json!({
            "principal": {"kind": "user", "id": ALICE},
            "actions": ["read"],
            "pathGlob": "**",
            "effect": "allow",
            "conditions": {"sourceCidrs": many}
        }))
        .validate(Uuid::nil())
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid conditions.sourceCidrs: must list at most 64 networks"
        );
        // Unknown fields and actions are refused while parsing.
        assert!(serde_json::from_value::<PolicyInput>(json!({
            "principal": {"kind": "user", "id": ALICE},
            "actions": ["admin"], "pathGlob": "**", "effect": "allow"
        }))
        .is_err());
        assert!(serde_json::from_value::<PolicyInput>(json!({
            "principal": {"kind": "user", "id": ALICE},
            "actions": ["read"], "pathGlob": "**", "effect": "allow", "extra": 1
        }))
        .is_err());
    }
}
