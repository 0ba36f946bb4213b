//! The success envelopes of API.md: `{data, meta}` and, for lists,
//! `{data, meta, pagination}`.

use serde::Serialize;
use utoipa::ToSchema;

use crate::ApiResponse;

/// `meta` of every success response.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// The request id (also in `X-Request-Id`).
    pub request_id: String,
    /// Server time of the response, RFC 3339.
    pub timestamp: String,
}

/// `{data, meta}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// The resource.
    pub data: T,
    /// Request metadata.
    pub meta: Meta,
}

/// Pagination block of list responses.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaginationInfo {
    /// The page size used.
    pub limit: u32,
    /// Whether another page exists.
    pub has_more: bool,
    /// Opaque cursor for the next page; only when `hasMore`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `{data: [...], meta, pagination}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListEnvelope<T> {
    /// One page of items.
    pub data: Vec<T>,
    /// Request metadata.
    pub meta: Meta,
    /// Where the next page starts.
    pub pagination: PaginationInfo,
}

impl Meta {
    /// Meta for a request at `now`.
    pub fn new(request_id: &str, now: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            request_id: request_id.to_owned(),
            timestamp: crate::time::rfc3339(now),
        }
    }
}

/// Serialises `{data, meta}` with the given status.
pub fn data_response<T: Serialize>(status: u16, data: &T, meta: Meta) -> ApiResponse {
    let body = serde_json::to_vec(&Envelope { data, meta }).unwrap_or_else(|_| b"{}".to_vec());
    ApiResponse::json(status, body)
}

/// Serialises `{data, meta, pagination}` (status 200).
pub fn list_response<T: Serialize>(
    items: &[T],
    pagination: PaginationInfo,
    meta: Meta,
) -> ApiResponse {
    #[derive(Serialize)]
    struct Borrowed<'a, T> {
        data: &'a [T],
        meta: Meta,
        pagination: PaginationInfo,
    }
    let body = serde_json::to_vec(&Borrowed {
        data: items,
        meta,
        pagination,
    })
    .unwrap_or_else(|_| b"{}".to_vec());
    ApiResponse::json(200, body)
}
