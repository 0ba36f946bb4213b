//! Entity tags and `If-Match`: single resources carry an `ETag` derived from
//! their version; a write with a stale `If-Match` is a 409 `CONFLICT`.

use crate::{ApiError, ApiRequest};

/// A strong ETag for a resource version, e.g. `"42"`.
pub fn for_version(version: &str) -> String {
    format!("\"{version}\"")
}

/// Checks `If-Match` against the current ETag. No header: nothing to check.
/// `*` matches any existing resource. A malformed header is a 400.
pub fn check_if_match(req: &ApiRequest, current: &str) -> Result<(), ApiError> {
    let Some(raw) = req.header("if-match") else {
        return Ok(());
    };
    let raw = raw.trim();
    if raw == "*" {
        return Ok(());
    }
    let mut any = false;
    for tag in raw.split(',').map(str::trim) {
        if !(tag.len() >= 2 && tag.starts_with('"') && tag.ends_with('"')) {
            return Err(ApiError::invalid(
                "If-Match",
                "must be * or a list of quoted entity tags",
            ));
        }
        any = true;
        if tag == current {
            return Ok(());
        }
    }
    if !any {
        return Err(ApiError::invalid("If-Match", "is empty"));
    }
    Err(ApiError::Conflict(format!(
        "If-Match does not match the current version (ETag {current}): the resource changed; re-read it and retry"
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Method;

    fn with(value: &str) -> ApiRequest {
        ApiRequest::new(Method::Put, "/").with_header("if-match", value)
    }

    #[test]
    fn matches_and_mismatches() {
        let cur = for_version("7");
        assert!(check_if_match(&ApiRequest::new(Method::Put, "/"), &cur).is_ok());
        assert!(check_if_match(&with("*"), &cur).is_ok());
        assert!(check_if_match(&with("\"7\""), &cur).is_ok());
        assert!(check_if_match(&with("\"3\", \"7\""), &cur).is_ok());
        assert_eq!(
            check_if_match(&with("\"6\""), &cur).map_err(|e| e.status()),
            Err(409)
        );
        assert_eq!(
            check_if_match(&with("7"), &cur).map_err(|e| e.status()),
            Err(400)
        );
    }
}
