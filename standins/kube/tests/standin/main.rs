//! Drives the stand-in over real HTTP and checks the Kubernetes API
//! behaviour it promises.
#![allow(clippy::unwrap_used, unreachable_pub, dead_code)]

mod common;
mod crud;
mod errors;
mod faults;
mod operator;
mod process;
mod subresources;
