//! `cp-standin-kit`: what the stand-ins (`cp-kube-standin`,
//! `cp-litellm-standin`) share because it belongs to no upstream protocol:
//! fault rules ([`Fault`]), the request log ([`RequestRecord`]), the
//! HTTP server applying them ([`Server`], steered through its [`Handle`]
//! and its `/_standin/` endpoints, [`Handle::admin`]), reading a request
//! ([`read_body`], [`header`]), the binaries' life
//! ([`serve_until_interrupted`]) and the tests' HTTP client
//! ([`TestClient`]).
//! One copy keeps the rule format, the matching and the fault semantics the
//! same for every stand-in, so tests drive them alike.
//!
//! Each stand-in supplies its protocol as an [`Api`]: how a request is read
//! and answered, its `/_standin/` endpoints, and what an injected error
//! looks like (a Kubernetes `Status` object, a LiteLLM `{"error": {...}}`
//! body).

#![deny(missing_docs)]

mod admin;
mod faults;
mod process;
mod request;
mod server;
mod testing;

pub use admin::AdminReply;
pub use faults::{Fault, FaultKind, FaultRule, RequestRecord};
pub use process::serve_until_interrupted;
pub use request::{header, read_body, BodyError};
pub use server::{lock, Answer, Api, Handle, Server, ADMIN_PREFIX};
pub use testing::{TestClient, TestResponse};
