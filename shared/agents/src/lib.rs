//! Agents: an organisation's non-human identities.
//!
//! An agent is registered by an owner or admin of its organisation
//! ([`api`]), gets an API key shown once (`cpag_…`, stored as a SHA-256
//! digest), and exchanges it for a short-lived JWT ([`token`]). With that
//! token it reaches the vaults it was given, as far as its scopes and the
//! vaults' policies allow (`cp_vault::access`), its own profile
//! (`GET /agents/me`) and nothing else (`cp_platform::auth::Principal`).
//! Deactivating it or rotating its key ends its tokens at once: every
//! request checks the agent's record (`cp_auth`).
//!
//! An agent may also ask to join an organisation itself
//! ([`enrollment`]): an owner or admin approves the request, and the
//! agent collects its key with the claim token it was given.
//!
//! The chains registry ([`chains`]) lists the EVM chains agents may
//! transact on.

#![deny(missing_docs)]

pub mod api;
mod chain_ops;
mod chain_store;
pub mod chains;
mod enroll_ops;
mod enroll_store;
pub mod enrollment;
pub mod evm;
pub mod model;
mod store;
pub mod token;

pub use enroll_ops::{ENROLL_ADDRESS, ENROLL_ORG, MAX_PENDING, MAX_PENDING_VARIABLE};

cp_macros::route_group! {
    /// The agents route group.
    pub struct Agents;
    kind = "agent";
    openapi(
        components(schemas(model::Agent, enrollment::Enrollment, chains::Chain)),
        tags((name = "agents", description = "Agents: an organisation's non-human identities. \
          Each has an API key (`cpag_…`, shown once, stored as a SHA-256 digest) that it \
          exchanges for a short-lived JWT at `POST /auth/agent-token`; with it the agent reaches \
          the vaults it was given (as their policies allow), its own profile and nothing else. \
          Deactivating an agent or rotating its key ends its tokens at once."),
        (name = "chains", description = "The chains registry: the EVM chains agents may \
          transact on, by registry id or EVM chain id. Anyone reads the enabled chains; \
          operators manage them. RPC URLs are write-only (sealed at rest, shown as their \
          origin) and must be reachable from the agents component."))
    );
    operations = [
        api::list_agents,
        api::create_agent,
        api::get_current_agent,
        api::get_agent,
        api::update_agent,
        api::deactivate_agent,
        api::rotate_agent_key,
        token::issue_agent_token,
        enroll_ops::enroll_agent,
        enroll_ops::claim_enrollment,
        enroll_ops::list_enrollments,
        enroll_ops::get_enrollment,
        enroll_ops::approve_enrollment,
        enroll_ops::reject_enrollment,
        chain_ops::list_chains,
        chain_ops::get_chain,
        chain_ops::list_admin_chains,
        chain_ops::create_chain,
        chain_ops::replace_chain,
        chain_ops::delete_chain,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi;

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_routed() {
        let problems = cp_platform::openapi::route_mismatches::<Agents>(&AgentsApi::openapi());
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn the_own_profile_is_routed_before_an_agent_id() {
        let routes = <Agents as cp_platform::RouteGroup>::routes();
        let m = cp_http::router::match_route(routes, &cp_http::Method::Get, "/api/v1/agents/me")
            .map(|m| m.route.operation_id);
        assert_eq!(m.ok(), Some("getCurrentAgent"));
    }
}
