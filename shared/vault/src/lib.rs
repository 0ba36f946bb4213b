//! The pure core of the agent secrets vault: everything the vault's routes
//! decide or compute without a database.
//!
//! - [`path`]: secret paths and listing prefixes, validated once at the edge;
//! - [`glob`] and [`policy`]: which policies cover a path, and the
//!   evaluator deciding a request (default deny, highest priority first,
//!   deny wins a tie);
//! - [`model`]: secret types and the limits on values, tags and
//!   descriptions;
//! - [`envelope`]: envelope encryption (data key per version, vault key per
//!   vault, master key) and master-key rotation;
//! - [`cmek`]: client-side customer-managed keys: fingerprints, the key
//!   headers and the client ciphertext format;
//! - [`kms`]: an AWS KMS client (JSON 1.1, SigV4) over the outbound-HTTP
//!   port, and the KMS-backed master key; [`keyring`]: the deployment's
//!   master keys, by name, and master-key rotation;
//! - [`share`]: shares of a secret: recipients, bodies, states and their
//!   transitions.
//!
//! And the `vault` route group over them: [`api`] (vaults), `secrets`,
//! `policy_ops` (policies), `cmek_ops`, `share_ops` (sharing),
//! `master_key_ops` (rotation), who may do what (`access`) and storage
//! (`store`, `share_store`; SQL in `migrations/sql/0018_vault.sql` to
//! `0021_vault_master_key_id.sql`).
//!
//! Errors that reach API clients convert into [`cp_http::ApiError`] naming
//! the offending field; nothing here ever formats a key or a secret value.

#![deny(missing_docs)]

mod access;
pub mod api;
pub mod cmek;
mod cmek_ops;
pub mod envelope;
pub mod glob;
pub mod keyring;
pub mod kms;
mod master_key_ops;
pub mod model;
pub mod path;
pub mod policy;
mod policy_ops;
mod secrets;
pub mod share;
mod share_ops;
mod share_store;
mod store;
pub mod views;

pub use api::Vaults;
pub use cmek::{CmekCipher, CmekError, CmekKey, Fingerprint};
pub use envelope::{
    EncryptedVersion, EnvelopeError, LocalMasterKey, MasterKeyProvider, SecretBytes, VaultKey,
    VersionRef,
};
pub use glob::PathGlob;
pub use kms::{AwsCredentials, KmsClient, KmsConfig, KmsError, KmsMasterKey};
pub use model::{ModelError, SecretType};
pub use path::{PathError, PathPrefix, SecretPath};
pub use policy::{
    evaluate, AccessRequest, Action, Decision, Effect, Policy, Principal, PrincipalKind, Requester,
};

#[cfg(test)]
pub(crate) mod testing {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Runs a future that never pends (local crypto, fake transports).
    pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the future pended; only ready futures are expected here"),
        }
    }
}
