//! The wire conventions of `API.md`, in one place, as plain code with no I/O:
//! the request and response types every component speaks, the success and
//! error envelopes, typed errors mapped to HTTP, request ids, JSON bodies with
//! a size limit, routing, keyset cursors, ETags and field validation.
//!
//! Every route group uses these; none re-implements them.

#![deny(missing_docs)]

pub mod envelope;
pub mod error;
pub mod etag;
pub mod ids;
pub mod json;
pub mod outbound;
pub mod pagination;
pub mod params;
pub mod request;
pub mod request_id;
pub mod router;
pub mod time;
pub mod validate;

pub use envelope::{Envelope, ListEnvelope, Meta, PaginationInfo};
pub use error::{ApiError, FieldError};
pub use request::{ApiRequest, ApiResponse, Method};
pub use router::{Callers, PathParams, Route, RouteMatch};
