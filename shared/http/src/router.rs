//! Routing inside a route group. Spin sends every path under a group's
//! prefix to its component; the component matches the full path against its
//! route table here. Literal segments beat `{params}` (`/tenants/drift` wins
//! over `/tenants/{name}`); a path that exists with another method is a 405
//! listing the allowed methods; anything else a 404 `NOT_FOUND`.

use crate::request::percent_decode;
use crate::{ApiError, Method};

/// One route of a group: method, path pattern (`/api/v1/tenants/{name}`) and
/// the operation it dispatches to.
#[derive(Debug, Clone, Copy)]
pub struct Route<Op> {
    /// HTTP method.
    pub method: &'static str,
    /// Path pattern with `{param}` segments.
    pub pattern: &'static str,
    /// Operation handled.
    pub op: Op,
    /// Whether the route needs no authentication (API.md "public").
    pub public: bool,
    /// Whether a successful response shows a secret once (a token, key, JWT
    /// or TOTP secret): the pipeline then never stores it in plaintext for
    /// `Idempotency-Key` replays.
    pub shows_secret: bool,
    /// The scope area of the operation when it is not the path's first
    /// segment (`/tenants/{name}/keys` mints gateway keys: area `keys`, so
    /// `tenants:write` does not reach it).
    pub area: Option<&'static str>,
}

impl<Op> Route<Op> {
    /// An authenticated route.
    pub const fn new(method: &'static str, pattern: &'static str, op: Op) -> Self {
        Self {
            method,
            pattern,
            op,
            public: false,
            shows_secret: false,
            area: None,
        }
    }

    /// A public route.
    pub const fn public(method: &'static str, pattern: &'static str, op: Op) -> Self {
        Self {
            method,
            pattern,
            op,
            public: true,
            shows_secret: false,
            area: None,
        }
    }

    /// Puts the operation in scope area `area` instead of its path's first
    /// segment.
    pub const fn in_area(mut self, area: &'static str) -> Self {
        self.area = Some(area);
        self
    }

    /// Marks the route's successful responses as showing a secret once.
    pub const fn shows_secret(mut self) -> Self {
        self.shows_secret = true;
        self
    }
}

/// Decoded path parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    /// The value of `{name}`; empty when the pattern has no such parameter
    /// (a programming error caught by the route tests).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// A matched route.
#[derive(Debug, Clone)]
pub struct RouteMatch<'r, Op> {
    /// The route.
    pub route: &'r Route<Op>,
    /// Its decoded parameters.
    pub params: PathParams,
}

/// Finds the route for `method path`.
///
/// Among the patterns the path matches, only the most literal ones count
/// (compared segment by segment, left to right), whatever their method: a
/// path that has a literal route is never served by a `{param}` route, so
/// `PUT /tenants/drift` is a 405 (`Allow: GET`), not an update of a tenant
/// called `drift`, and `Allow` lists exactly the methods of that path.
pub fn match_route<'r, Op>(
    routes: &'r [Route<Op>],
    method: &Method,
    raw_path: &str,
) -> Result<RouteMatch<'r, Op>, ApiError> {
    let segments = split_path(raw_path)?;
    let matches: Vec<(Vec<bool>, &'r Route<Op>, PathParams)> = routes
        .iter()
        .filter_map(|route| {
            match_pattern(route.pattern, &segments).map(|(shape, params)| (shape, route, params))
        })
        .collect();
    let Some(best_shape) = matches.iter().map(|(shape, _, _)| shape).max().cloned() else {
        return Err(ApiError::RouteNotFound(raw_path.to_owned()));
    };
    let mut allowed: Vec<String> = Vec::new();
    for (shape, route, params) in matches {
        if shape != best_shape {
            continue;
        }
        if route.method == method.as_str() {
            return Ok(RouteMatch { route, params });
        }
        if !allowed.iter().any(|m| m == route.method) {
            allowed.push(route.method.to_owned());
        }
    }
    Err(ApiError::MethodNotAllowed {
        method: method.to_string(),
        allow: allowed,
    })
}

fn split_path(raw: &str) -> Result<Vec<String>, ApiError> {
    raw.trim_start_matches('/')
        .split('/')
        .map(|seg| {
            String::from_utf8(percent_decode(seg))
                .map_err(|_| ApiError::invalid("path", "is not valid UTF-8 after percent-decoding"))
        })
        .collect()
}

/// Matches a pattern; returns which segments were literal and the params.
fn match_pattern(pattern: &'static str, segments: &[String]) -> Option<(Vec<bool>, PathParams)> {
    let parts: Vec<&'static str> = pattern.trim_start_matches('/').split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut shape = Vec::with_capacity(parts.len());
    let mut params = Vec::new();
    for (part, seg) in parts.iter().zip(segments) {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if seg.is_empty() {
                return None;
            }
            params.push((name, seg.clone()));
            shape.push(false);
        } else if part == seg {
            shape.push(true);
        } else {
            return None;
        }
    }
    Some((shape, PathParams(params)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Op {
        List,
        Get,
        Drift,
        Put,
        Suspend,
    }

    const ROUTES: &[Route<Op>] = &[
        Route::new("GET", "/api/v1/tenants", Op::List),
        Route::new("GET", "/api/v1/tenants/{name}", Op::Get),
        Route::new("PUT", "/api/v1/tenants/{name}", Op::Put),
        Route::new("GET", "/api/v1/tenants/drift", Op::Drift),
        Route::new("POST", "/api/v1/tenants/{name}/suspend", Op::Suspend),
    ];

    fn op(method: Method, path: &str) -> Result<Op, ApiError> {
        match_route(ROUTES, &method, path).map(|m| m.route.op)
    }

    #[test]
    fn literal_beats_param_regardless_of_order() {
        assert_eq!(op(Method::Get, "/api/v1/tenants/drift").unwrap(), Op::Drift);
        assert_eq!(op(Method::Get, "/api/v1/tenants/acme").unwrap(), Op::Get);
        assert_eq!(op(Method::Get, "/api/v1/tenants").unwrap(), Op::List);
        assert_eq!(
            op(Method::Post, "/api/v1/tenants/a/suspend").unwrap(),
            Op::Suspend
        );
    }

    #[test]
    fn params_are_decoded() {
        let m = match_route(ROUTES, &Method::Get, "/api/v1/tenants/a%2Db").unwrap();
        assert_eq!(m.params.get("name"), "a-b");
        let err = match_route(ROUTES, &Method::Get, "/api/v1/tenants/%ff").unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn not_found_and_method_not_allowed() {
        assert_eq!(op(Method::Get, "/api/v1/nope").unwrap_err().status(), 404);
        assert_eq!(
            op(Method::Get, "/api/v1/tenants/").unwrap_err().status(),
            404
        );
        match op(Method::Delete, "/api/v1/tenants/acme").unwrap_err() {
            ApiError::MethodNotAllowed { allow, .. } => assert_eq!(allow, vec!["GET", "PUT"]),
            other => panic!("unexpected {other:?}"),
        }
        // A literal path is only served by its literal routes.
        match op(Method::Put, "/api/v1/tenants/drift").unwrap_err() {
            ApiError::MethodNotAllowed { allow, .. } => assert_eq!(allow, vec!["GET"]),
            other => panic!("unexpected {other:?}"),
        }
    }
}
