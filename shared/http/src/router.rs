//! Routing inside a route group. Spin sends every path under a group's
//! prefix to its component; the component matches the full path against its
//! route table here. Literal segments beat `{params}` (`/tenants/drift` wins
//! over `/tenants/{name}`); a path that exists with another method is a 405
//! listing the allowed methods; anything else a 404 `NOT_FOUND`.

use crate::request::percent_decode;
use crate::{ApiError, Method};

/// Who may call an operation (besides the operator, who may call all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// Anyone: no credentials are read.
    Public,
    /// The operator, and access tokens with the operation's scope.
    Operator,
    /// Also signed-in users, whose role in the resource's organisation the
    /// handler checks.
    Users,
    /// Also tenant gateway keys (usage ingestion).
    GatewayKeys,
    /// Users, and also agents (whose vaults, scopes and vault policies the
    /// handler checks).
    Agents,
}

impl Callers {
    /// The name used in the OpenAPI document and the docs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Operator => "operator",
            Self::Users => "users",
            Self::GatewayKeys => "gateway-keys",
            Self::Agents => "agents",
        }
    }
}

/// One operation of a group, as its `#[operation]` declaration states it:
/// method, path pattern (`/api/v1/tenants/{name}`), the operation it
/// dispatches to, and what the pipeline needs to know about it.
#[derive(Debug, Clone, Copy)]
pub struct Route<Op> {
    /// HTTP method.
    pub method: &'static str,
    /// Path pattern with `{param}` segments.
    pub pattern: &'static str,
    /// Operation handled.
    pub op: Op,
    /// The operation id (`createTenant`), also the audit action.
    pub operation_id: &'static str,
    /// Who may call it.
    pub callers: Callers,
    /// The kind of resource it writes, as audit entries name it (`tenant`);
    /// refused mutations are audited under it too.
    pub kind: &'static str,
    /// The scope area of the operation when it is not the path's first
    /// segment (`/tenants/{name}/keys` mints gateway keys: area `keys`, so
    /// `tenants:write` does not reach it).
    pub area: Option<&'static str>,
    /// Whether a successful response shows a secret once (a token, key, JWT
    /// or TOTP secret): the pipeline then never stores it in plaintext for
    /// `Idempotency-Key` replays.
    pub shows_secret: bool,
}

impl<Op> Route<Op> {
    /// Whether the route needs no authentication.
    pub const fn is_public(&self) -> bool {
        matches!(self.callers, Callers::Public)
    }

    /// The same route dispatching to `op` (how a group numbers the
    /// operations it lists).
    pub const fn with_op<O: Copy>(self, op: O) -> Route<O>
    where
        Op: Copy,
    {
        Route {
            method: self.method,
            pattern: self.pattern,
            op,
            operation_id: self.operation_id,
            callers: self.callers,
            kind: self.kind,
            area: self.area,
            shows_secret: self.shows_secret,
        }
    }

    /// The route with audit kind `kind` unless its declaration names one.
    pub const fn or_kind(mut self, kind: &'static str) -> Self
    where
        Op: Copy,
    {
        if self.kind.is_empty() {
            self.kind = kind;
        }
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

    /// The value of `{name}` once `check` accepts it, else a 400 naming the
    /// parameter with `check`'s reason.
    pub fn valid(
        &self,
        name: &str,
        check: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<&str, ApiError> {
        let value = self.get(name);
        check(value).map_err(|msg| ApiError::invalid(name, msg))?;
        Ok(value)
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
    // A fixed order, whatever order the group declares its operations in.
    const ORDER: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    allowed.sort_by_key(|m| ORDER.iter().position(|o| o == m).unwrap_or(ORDER.len()));
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
/// A last part `{name...}` takes the rest of the path (one segment or more,
/// joined with `/`, empty ones kept so the handler's validation names them).
fn match_pattern(pattern: &'static str, segments: &[String]) -> Option<(Vec<bool>, PathParams)> {
    let parts: Vec<&'static str> = pattern.trim_start_matches('/').split('/').collect();
    let rest = parts
        .last()
        .and_then(|p| p.strip_prefix('{'))
        .and_then(|p| p.strip_suffix("...}"));
    let fixed = if rest.is_some() {
        parts.len() - 1
    } else {
        parts.len()
    };
    if segments.len() < fixed || (rest.is_none() && segments.len() != fixed) {
        return None;
    }
    let mut shape = Vec::with_capacity(segments.len());
    let mut params = Vec::new();
    for (part, seg) in parts[..fixed].iter().zip(segments) {
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
    if let Some(name) = rest {
        let tail = &segments[fixed..];
        if tail.is_empty() || tail.iter().all(String::is_empty) {
            return None;
        }
        params.push((name, tail.join("/")));
        shape.extend(tail.iter().map(|_| false));
    }
    Some((shape, PathParams(params)))
}

/// The OpenAPI form of a route pattern: a rest parameter `{name...}` is
/// documented as `{name}` (its value may hold `/`, sent as is or as `%2F`).
pub fn openapi_path(pattern: &str) -> String {
    pattern.replace("...}", "}")
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

    const fn route(method: &'static str, pattern: &'static str, op: Op) -> Route<Op> {
        Route {
            method,
            pattern,
            op,
            operation_id: "",
            callers: Callers::Operator,
            kind: "",
            area: None,
            shows_secret: false,
        }
    }

    const ROUTES: &[Route<Op>] = &[
        route("GET", "/api/v1/tenants", Op::List),
        route("GET", "/api/v1/tenants/{name}", Op::Get),
        route("PUT", "/api/v1/tenants/{name}", Op::Put),
        route("GET", "/api/v1/tenants/drift", Op::Drift),
        route("POST", "/api/v1/tenants/{name}/suspend", Op::Suspend),
    ];

    fn op(method: Method, path: &str) -> Result<Op, ApiError> {
        match_route(ROUTES, &method, path).map(|m| m.route.op)
    }

    #[test]
    fn a_rest_parameter_takes_every_remaining_segment() {
        const REST: &[Route<Op>] = &[
            route("GET", "/api/v1/vaults/{id}/secrets/{path...}", Op::Get),
            route("GET", "/api/v1/vaults/{id}/secrets", Op::List),
            route("GET", "/api/v1/vaults/{id}/versions/{path...}", Op::Drift),
        ];
        let m = |p: &str| match_route(REST, &Method::Get, p);
        let one = m("/api/v1/vaults/v1/secrets/api-keys/openai").unwrap();
        assert_eq!(one.route.op, Op::Get);
        assert_eq!(one.params.get("id"), "v1");
        assert_eq!(one.params.get("path"), "api-keys/openai");
        assert_eq!(
            m("/api/v1/vaults/v1/secrets/db")
                .unwrap()
                .params
                .get("path"),
            "db"
        );
        // An encoded slash is a slash; empty segments reach the handler.
        assert_eq!(
            m("/api/v1/vaults/v1/secrets/a%2Fb/c")
                .unwrap()
                .params
                .get("path"),
            "a/b/c"
        );
        assert_eq!(
            m("/api/v1/vaults/v1/secrets/a//b")
                .unwrap()
                .params
                .get("path"),
            "a//b"
        );
        assert_eq!(m("/api/v1/vaults/v1/secrets").unwrap().route.op, Op::List);
        assert_eq!(
            m("/api/v1/vaults/v1/versions/x/y").unwrap().route.op,
            Op::Drift
        );
        assert!(matches!(
            m("/api/v1/vaults/v1/secrets/"),
            Err(ApiError::RouteNotFound(_))
        ));
        assert_eq!(
            openapi_path("/api/v1/vaults/{id}/secrets/{path...}"),
            "/api/v1/vaults/{id}/secrets/{path}"
        );
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
