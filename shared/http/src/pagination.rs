//! Keyset pagination with opaque cursors.
//!
//! A cursor encodes the sort key of the last item of a page (for example
//! `(createdAt, name)`) so the next page is `WHERE (created, name) > (...)`
//! on an index, never `OFFSET`. Cursors are base64url JSON, prefixed with a
//! version, and bound to the list they came from (`scope`), so a cursor from
//! another list, or a tampered one, is a 400 rather than a silent wrong page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::{ApiError, ApiRequest, PaginationInfo};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest page size.
pub const MAX_LIMIT: u32 = 1000;

/// The position after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Which list the cursor belongs to (e.g. `tenants`).
    #[serde(rename = "s")]
    pub scope: String,
    /// Sort key parts of the last item seen, in sort order.
    #[serde(rename = "k")]
    pub key: Vec<serde_json::Value>,
}

impl Cursor {
    /// Encodes the cursor as an opaque string.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("v1.{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// Decodes a cursor issued for `scope`.
    pub fn decode(raw: &str, scope: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::invalid("cursor", "is not a cursor issued by this list");
        let payload = raw.strip_prefix("v1.").ok_or_else(bad)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor.scope != scope || cursor.key.is_empty() {
            return Err(bad());
        }
        Ok(cursor)
    }

    /// Key part `i` as a creation time in microseconds since the epoch,
    /// within what the database can represent (1970 to 9999): a forged
    /// cursor is a 400, never a database error.
    pub fn micros_at(&self, i: usize) -> Result<i64, ApiError> {
        const MAX_MICROS: i64 = 253_402_300_799_999_999;
        self.key
            .get(i)
            .and_then(serde_json::Value::as_i64)
            .filter(|m| (0..=MAX_MICROS).contains(m))
            .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor issued by this list"))
    }

    /// Key part `i` as a resource id (a canonical UUID).
    pub fn id_at(&self, i: usize) -> Result<&str, ApiError> {
        let id = self.str_at(i)?;
        crate::ids::parse_id(id)
            .map_err(|_| ApiError::invalid("cursor", "is not a cursor issued by this list"))?;
        Ok(id)
    }

    /// Key part `i` as a string.
    pub fn str_at(&self, i: usize) -> Result<&str, ApiError> {
        self.key
            .get(i)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor issued by this list"))
    }
}

/// `limit` and `cursor` of a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Page size, 1..=1000.
    pub limit: u32,
    /// Where to start, if not at the beginning.
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// Reads `limit` and `cursor` from the query string for list `scope`.
    pub fn from_request(req: &ApiRequest, scope: &str) -> Result<Self, ApiError> {
        let limit = match req.query_param("limit") {
            None => DEFAULT_LIMIT,
            // A plain decimal integer, as the OpenAPI `integer` reads it: no
            // sign, no leading zero (`+5` and `05` are not integers there).
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) && raw == n.to_string() => n,
                _ => {
                    return Err(ApiError::invalid(
                        "limit",
                        format!("must be an integer from 1 to {MAX_LIMIT}"),
                    ))
                }
            },
        };
        let after = match req.query_param("cursor") {
            None => None,
            Some(raw) => Some(Cursor::decode(&raw, scope)?),
        };
        Ok(Self { limit, after })
    }

    /// How many rows to fetch: one more than the page, to learn `hasMore`.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Cuts the fetched rows to a page and builds the pagination block;
    /// `key` gives an item's sort key for the next cursor.
    pub fn paginate<T>(
        &self,
        scope: &str,
        mut rows: Vec<T>,
        key: impl Fn(&T) -> Vec<serde_json::Value>,
    ) -> (Vec<T>, PaginationInfo) {
        let has_more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = if has_more {
            rows.last().map(|last| {
                Cursor {
                    scope: scope.to_owned(),
                    key: key(last),
                }
                .encode()
            })
        } else {
            None
        };
        (
            rows,
            PaginationInfo {
                limit: self.limit,
                has_more,
                next_cursor,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Method;
    use serde_json::json;

    fn req(q: &str) -> ApiRequest {
        ApiRequest::new(Method::Get, &format!("/x?{q}"))
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(PageRequest::from_request(&req(""), "t").unwrap().limit, 100);
        assert_eq!(
            PageRequest::from_request(&req("limit=1000"), "t")
                .unwrap()
                .limit,
            1000
        );
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=-1",
            "limit=abc",
            "limit=",
            "limit=%2B5",
            "limit=05",
        ] {
            let err = PageRequest::from_request(&req(bad), "t").unwrap_err();
            assert_eq!(err.field_errors()[0].field, "limit", "{bad}");
        }
    }

    #[test]
    fn cursor_round_trip_and_rejections() {
        let c = Cursor {
            scope: "tenants".into(),
            key: vec![json!(123), json!("acme")],
        };
        let raw = c.encode();
        let page = PageRequest::from_request(&req(&format!("cursor={raw}")), "tenants").unwrap();
        assert_eq!(page.after, Some(c));
        for bad in ["garbage", "v1.!!!", "v1.e30", &raw.replace("v1.", "v2.")] {
            let err = PageRequest::from_request(&req(&format!("cursor={bad}")), "tenants");
            assert_eq!(err.unwrap_err().field_errors()[0].field, "cursor", "{bad}");
        }
        // A cursor from another list is refused.
        assert!(Cursor::decode(&raw, "policies").is_err());
    }

    #[test]
    fn forged_key_parts_are_refused_before_they_reach_sql() {
        let c = |key: Vec<serde_json::Value>| Cursor {
            scope: "x".into(),
            key,
        };
        assert_eq!(c(vec![json!(5)]).micros_at(0).unwrap(), 5);
        for bad in [json!(-1), json!(i64::MAX), json!("5"), json!(1.5)] {
            assert!(c(vec![bad.clone()]).micros_at(0).is_err(), "{bad}");
        }
        let id = "0190f5c2-7a4b-7c3d-8e9f-0a1b2c3d4e5f";
        assert_eq!(c(vec![json!(0), json!(id)]).id_at(1).unwrap(), id);
        assert!(c(vec![json!(0), json!("acme")]).id_at(1).is_err());
        assert!(c(vec![json!(0)]).id_at(1).is_err());
    }

    #[test]
    fn paginate_sets_has_more_and_cursor() {
        let page = PageRequest {
            limit: 2,
            after: None,
        };
        let (items, info) = page.paginate("n", vec![1, 2, 3], |i| vec![json!(i)]);
        assert_eq!(items, vec![1, 2]);
        assert!(info.has_more);
        let next = Cursor::decode(info.next_cursor.as_deref().unwrap(), "n").unwrap();
        assert_eq!(next.micros_at(0).unwrap(), 2);
        let (items, info) = page.paginate("n", vec![1, 2], |i| vec![json!(i)]);
        assert_eq!(items.len(), 2);
        assert!(!info.has_more);
        assert!(info.next_cursor.is_none());
    }
}
