//! A handler's failure: the error the client sees, plus (for server-side
//! failures) the cause, which the pipeline logs with the request id and
//! never sends.

use cp_http::ApiError;
use cp_kube::KubeError;
use cp_store::DbError;

/// A failed request.
#[derive(Debug)]
pub struct Failure {
    /// What the client is told.
    pub error: ApiError,
    /// What the operator is told (logged, never returned).
    pub cause: Option<String>,
}

impl Failure {
    /// A failure with a logged cause.
    pub fn with_cause(error: ApiError, cause: impl Into<String>) -> Self {
        Self {
            error,
            cause: Some(cause.into()),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Self { error, cause: None }
    }
}

impl From<DbError> for Failure {
    /// Database errors a client can cause (duplicates) are 409s; a lost
    /// database is a 503; anything else is a bug, answered as a bare 500.
    fn from(err: DbError) -> Self {
        let error = match &err {
            DbError::Unavailable(_) => {
                ApiError::Unavailable("the database is unavailable; retry later".into())
            }
            DbError::UniqueViolation { .. } => {
                ApiError::Conflict("the resource already exists".into())
            }
            DbError::TransactionConflict(_) => ApiError::Conflict(
                "a concurrent change conflicted with this request; retry it".into(),
            ),
            DbError::ForeignKeyViolation(_)
            | DbError::CheckViolation(_)
            | DbError::Query { .. }
            | DbError::Decode(_) => ApiError::Internal,
        };
        Self::with_cause(error, err.to_string())
    }
}

impl From<KubeError> for Failure {
    /// Kubernetes trouble is an upstream problem (502) unless the domain
    /// handled the specific case (not found, already exists) before.
    fn from(err: KubeError) -> Self {
        let error = match &err {
            KubeError::Conflict { .. } => ApiError::Conflict(
                "the resource was changed concurrently in Kubernetes; re-read it and retry".into(),
            ),
            // The client is told what kind of failure, not the upstream's text.
            KubeError::Transport(cp_http::outbound::TransportError::Timeout) => {
                ApiError::Upstream("the Kubernetes API timed out".into())
            }
            KubeError::Transport(_) => {
                ApiError::Upstream("the Kubernetes API is unreachable".into())
            }
            other => ApiError::Upstream(match other.http_status() {
                Some(code) => format!("the Kubernetes API answered {code}"),
                None => "the Kubernetes API sent an unexpected response".into(),
            }),
        };
        Self::with_cause(error, err.to_string())
    }
}
