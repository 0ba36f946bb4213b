//! HTTP route matching with Spin's syntax and precedence, and the `spin-*` headers it implies.
//!
//! Routes are `/exact`, `/prefix/...` (trailing wildcard) and `/items/:id` (named segment).
//! When several routes match, the one whose segments are most specific wins, compared segment
//! by segment (exact > named > wildcard); on a tie the shorter route wins. So exact routes beat
//! wildcards, and the longest wildcard prefix wins, as in Spin.

use std::cmp::Ordering;
use std::fmt;
use std::net::SocketAddr;

/// Routes of an application, in manifest order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Router {
    routes: Vec<Route>,
}

/// One routable trigger.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The route as written in the manifest.
    raw: String,
    /// The route normalised the way Spin does (absolute, one trailing slash removed).
    based: String,
    component: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Exact(String),
    Param(String),
}

/// The result of routing a request path.
#[derive(Debug, Clone)]
pub(crate) struct RouteMatch<'a> {
    route: &'a Route,
    params: Vec<(String, String)>,
    path_info: String,
}

/// A route that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid route {route:?} of component {component:?}: {reason}")]
pub(crate) struct RouteError {
    route: String,
    component: String,
    reason: String,
}

impl Router {
    /// Builds the router. A route declared twice keeps its first position but is served by
    /// the later declaration, as in Spin; duplicates are reported on stderr.
    pub(crate) fn build<'a>(
        routes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, RouteError> {
        let mut out: Vec<Route> = Vec::new();
        for (raw, component) in routes {
            let route = Route::parse(raw, component)?;
            match out.iter_mut().find(|r| r.raw == route.raw) {
                Some(existing) => {
                    eprintln!(
                        "cp-host: warning: route {:?} of component {:?} duplicates the one of {:?}, which will never be used",
                        route.raw, route.component, existing.component
                    );
                    *existing = route;
                }
                None => out.push(route),
            }
        }
        Ok(Self { routes: out })
    }

    /// The routes in manifest order.
    pub(crate) fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the most specific route matching `path` (the request path, without query).
    pub(crate) fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        self.routes
            .iter()
            .filter_map(|route| route.matches(path).map(|m| (route, m)))
            .fold(
                None::<(&Route, (Vec<(String, String)>, String))>,
                |best, (route, m)| {
                    match best {
                        // Keep the earlier route on a tie.
                        Some((b, bm)) if route.precedence_cmp(b) != Ordering::Greater => {
                            Some((b, bm))
                        }
                        _ => Some((route, m)),
                    }
                },
            )
            .map(|(route, (params, path_info))| RouteMatch {
                route,
                params,
                path_info,
            })
    }
}

impl Route {
    fn parse(raw: &str, component: &str) -> Result<Self, RouteError> {
        let err = |reason: &str| RouteError {
            route: raw.to_string(),
            component: component.to_string(),
            reason: reason.to_string(),
        };
        let absolute = if raw.starts_with('/') {
            raw.to_string()
        } else {
            format!("/{raw}")
        };
        let based = absolute
            .strip_suffix('/')
            .map(str::to_string)
            .unwrap_or(absolute);
        let (prefix, wildcard) = match based
            .strip_suffix("/...")
            .or_else(|| based.strip_suffix("/*"))
        {
            Some(prefix) => (prefix, true),
            None => (based.as_str(), false),
        };
        let mut segments = Vec::new();
        for part in prefix.split('/').filter(|s| !s.is_empty()) {
            if let Some(name) = part.strip_prefix(':') {
                if name.is_empty() {
                    return Err(err("a ':' segment needs a name"));
                }
                segments.push(Segment::Param(name.to_string()));
            } else if part == "..." || part.contains('*') {
                return Err(err("a wildcard is allowed only as the final '/...'"));
            } else {
                segments.push(Segment::Exact(part.to_string()));
            }
        }
        Ok(Self {
            raw: raw.to_string(),
            based,
            component: component.to_string(),
            segments,
            wildcard,
        })
    }

    /// The component serving this route.
    pub(crate) fn component(&self) -> &str {
        &self.component
    }

    /// Matches `path`, returning the named captures and the trailing-wildcard part.
    fn matches(&self, path: &str) -> Option<(Vec<(String, String)>, String)> {
        let trimmed = path.trim_start_matches('/').trim_end_matches('/');
        let parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        if parts.len() < self.segments.len()
            || (!self.wildcard && parts.len() != self.segments.len())
        {
            return None;
        }
        let mut params = Vec::new();
        for (segment, part) in self.segments.iter().zip(&parts) {
            match segment {
                Segment::Exact(text) if text == part => {}
                Segment::Param(name) if !part.is_empty() => {
                    params.push((name.clone(), (*part).to_string()));
                }
                _ => return None,
            }
        }
        let path_info = if self.wildcard {
            // Spin reports the rest with a leading slash, and keeps a trailing slash.
            let rest = parts[self.segments.len()..].join("/");
            match (rest.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_string(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            }
        } else {
            String::new()
        };
        Some((params, path_info))
    }

    /// Orders two routes by specificity: `Greater` means `self` should win.
    fn precedence_cmp(&self, other: &Self) -> Ordering {
        let rank = |route: &Self| -> Vec<u8> {
            let mut ranks: Vec<u8> = route
                .segments
                .iter()
                .map(|s| match s {
                    Segment::Exact(_) => 3,
                    Segment::Param(_) => 2,
                })
                .collect();
            if route.wildcard {
                ranks.push(1);
            }
            ranks
        };
        let (mine, theirs) = (rank(self), rank(other));
        mine.iter()
            .zip(&theirs)
            .map(|(a, b)| a.cmp(b))
            .find(|o| o.is_ne())
            // Same shape up to the shorter one: the shorter (less catch-all) route wins.
            .unwrap_or_else(|| theirs.len().cmp(&mine.len()))
    }
}

impl fmt::Display for Route {
    /// As `spin up` lists it: the path, and ` (wildcard)` for a trailing wildcard.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self
            .based
            .strip_suffix("/...")
            .or_else(|| self.based.strip_suffix("/*"))
            .unwrap_or(&self.based);
        let path = if path.is_empty() { "/" } else { path };
        if self.wildcard {
            write!(f, "{path} (wildcard)")
        } else {
            f.write_str(path)
        }
    }
}

impl RouteMatch<'_> {
    /// The component serving the matched route.
    pub(crate) fn component(&self) -> &str {
        &self.route.component
    }

    /// The headers Spin adds to a request it hands to a component. `full_url` is the
    /// request's absolute URL (scheme, authority, path and query).
    pub(crate) fn spin_headers(
        &self,
        full_url: &str,
        client_addr: SocketAddr,
    ) -> Vec<(String, String)> {
        let raw = &self.route.raw;
        let mut headers = vec![
            ("spin-full-url".to_string(), full_url.to_string()),
            ("spin-path-info".to_string(), self.path_info.clone()),
            ("spin-matched-route".to_string(), self.route.based.clone()),
            ("spin-base-path".to_string(), "/".to_string()),
            ("spin-raw-component-route".to_string(), raw.clone()),
            (
                "spin-component-route".to_string(),
                raw.strip_suffix("/...").unwrap_or(raw).to_string(),
            ),
            ("spin-client-addr".to_string(), client_addr.to_string()),
        ];
        for (name, value) in &self.params {
            // Spin derives the header from SPIN_PATH_MATCH_<NAME>, so `_` becomes `-`.
            let name = name.to_ascii_lowercase().replace('_', "-");
            headers.push((format!("spin-path-match-{name}"), value.clone()));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::build(routes.iter().map(|(r, c)| (*r, *c))).unwrap()
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component().to_string())
    }

    #[test]
    fn exact_routes() {
        let r = router(&[("/foo", "foo"), ("/foo/bar", "foobar"), ("/", "root")]);
        assert_eq!(component(&r, "/foo").as_deref(), Some("foo"));
        assert_eq!(component(&r, "/foo/").as_deref(), Some("foo"));
        assert_eq!(component(&r, "/foo/bar").as_deref(), Some("foobar"));
        assert_eq!(component(&r, "/").as_deref(), Some("root"));
        assert_eq!(component(&r, "/foo/baz"), None);
        assert_eq!(component(&r, "/foobar"), None);
    }

    #[test]
    fn exact_beats_wildcard_and_longest_prefix_wins() {
        let r = router(&[
            ("/...", "all"),
            ("/one/...", "one"),
            ("/one/two/three/...", "three"),
            ("/one/two/...", "two"),
            ("/one", "one-exact"),
        ]);
        assert_eq!(component(&r, "/one").as_deref(), Some("one-exact"));
        assert_eq!(component(&r, "/one/x").as_deref(), Some("one"));
        assert_eq!(component(&r, "/one/two").as_deref(), Some("two"));
        assert_eq!(
            component(&r, "/one/two/three/four").as_deref(),
            Some("three")
        );
        assert_eq!(component(&r, "/other").as_deref(), Some("all"));
        assert_eq!(component(&r, "/").as_deref(), Some("all"));
    }

    #[test]
    fn named_segments_rank_between_exact_and_wildcard() {
        let r = router(&[
            ("/items/...", "items-any"),
            ("/items/:id", "item"),
            ("/items/special", "special"),
            ("/items/:id/...", "item-sub"),
        ]);
        assert_eq!(component(&r, "/items/special").as_deref(), Some("special"));
        assert_eq!(component(&r, "/items/42").as_deref(), Some("item"));
        assert_eq!(component(&r, "/items/42/x/y").as_deref(), Some("item-sub"));
        assert_eq!(component(&r, "/items").as_deref(), Some("items-any"));
    }

    #[test]
    fn duplicate_route_last_declaration_wins() {
        let r = router(&[("/a", "first"), ("/b", "b"), ("/a", "second")]);
        assert_eq!(component(&r, "/a").as_deref(), Some("second"));
        assert_eq!(r.routes().len(), 2);
        assert_eq!(r.routes()[0].component(), "second");
    }

    #[test]
    fn invalid_routes_are_rejected() {
        assert!(Router::build([("/a/:/b", "c")]).is_err());
        assert!(Router::build([("/a/.../b", "c")]).is_err());
    }

    fn headers(r: &Router, path: &str) -> std::collections::HashMap<String, String> {
        let m = r.route(path).unwrap();
        let url = format!("http://127.0.0.1:3000{path}?q=1");
        m.spin_headers(&url, "127.0.0.1:48568".parse().unwrap())
            .into_iter()
            .collect()
    }

    #[test]
    fn headers_for_a_wildcard_route() {
        let r = router(&[("/api/v1/p2/...", "p2")]);
        let h = headers(&r, "/api/v1/p2/x");
        assert_eq!(h["spin-full-url"], "http://127.0.0.1:3000/api/v1/p2/x?q=1");
        assert_eq!(h["spin-path-info"], "/x");
        assert_eq!(h["spin-matched-route"], "/api/v1/p2/...");
        assert_eq!(h["spin-raw-component-route"], "/api/v1/p2/...");
        assert_eq!(h["spin-component-route"], "/api/v1/p2");
        assert_eq!(h["spin-base-path"], "/");
        assert_eq!(h["spin-client-addr"], "127.0.0.1:48568");

        assert_eq!(headers(&r, "/api/v1/p2")["spin-path-info"], "");
        assert_eq!(headers(&r, "/api/v1/p2/")["spin-path-info"], "/");
        assert_eq!(headers(&r, "/api/v1/p2/a/b/")["spin-path-info"], "/a/b/");
    }

    #[test]
    fn headers_for_exact_and_named_routes() {
        let r = router(&[("/exact", "e"), ("/users/:user_id/posts/:post/...", "p")]);
        let h = headers(&r, "/exact");
        assert_eq!(h["spin-path-info"], "");
        assert_eq!(h["spin-component-route"], "/exact");

        let h = headers(&r, "/users/42/posts/7/comments");
        assert_eq!(h["spin-path-match-user-id"], "42");
        assert_eq!(h["spin-path-match-post"], "7");
        assert_eq!(h["spin-path-info"], "/comments");
        assert_eq!(h["spin-component-route"], "/users/:user_id/posts/:post");
    }

    #[test]
    fn display_matches_spin_up() {
        let r = router(&[
            ("/api/v1/tenants/...", "t"),
            ("/health", "h"),
            ("/...", "all"),
        ]);
        let shown: Vec<String> = r.routes().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec!["/api/v1/tenants (wildcard)", "/health", "/ (wildcard)"]
        );
    }
}
