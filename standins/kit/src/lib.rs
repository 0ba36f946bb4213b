//! `cp-standin-kit`: what the stand-ins (`cp-kube-standin`,
//! `cp-litellm-standin`) share because it belongs to no upstream protocol:
//! fault rules ([`Fault`]), the request log ([`RequestRecord`]), the
//! HTTP server applying them ([`Server`], steered through its [`Handle`])
//! and the binaries' life ([`serve_until_interrupted`]).
//! One copy keeps the rule format, the matching and the fault semantics the
//! same for every stand-in, so tests drive them alike.
//!
//! Each stand-in supplies its protocol as an [`Api`]: how a request is read
//! and answered, its `/_standin/` endpoints, and what an injected error
//! looks like (a Kubernetes `Status` object, a LiteLLM `{"error": {...}}`
//! body).

#![deny(missing_docs)]

mod faults;
mod process;
mod server;

pub use faults::{Fault, FaultKind, FaultRule, RequestRecord};
pub use process::serve_until_interrupted;
pub use server::{lock, Answer, Api, Handle, Server, ADMIN_PREFIX};
