//! Reading a request's headers and body: the same for every stand-in;
//! what a failure is answered with is the stand-in's.

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::AsHeaderName;
use hyper::HeaderMap;

/// A request body that could not be read: too large, or the connection
/// failed. Its message is the underlying error's.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct BodyError(Box<dyn std::error::Error + Send + Sync>);

impl BodyError {
    /// Whether the body was over the limit (a real server answers 413).
    pub fn is_too_large(&self) -> bool {
        self.0.downcast_ref::<LengthLimitError>().is_some()
    }
}

/// Reads the whole body, refusing more than `limit` bytes.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    Ok(Limited::new(body, limit)
        .collect()
        .await
        .map_err(BodyError)?
        .to_bytes())
}

/// A header's value, when it is there and readable as text.
pub fn header(headers: &HeaderMap, name: impl AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
