//! OpenAPI helpers every route group uses: the links between a resource's
//! operations (what a client, or the stateful spec fuzzer, can call next
//! with the key it got back), and the check that a group's route table and
//! its documented operations are the same set.

use utoipa::openapi::link::{Link, LinkBuilder};
use utoipa::openapi::{OpenApi, RefOr};

use crate::RouteGroup;

/// A link to operation `op_id` with these parameters.
///
/// utoipa 5.5 serialises `Link::operation_id` as `operation_id` instead of
/// the spec's `operationId`, so the id goes in as a (flattened) extension
/// entry under its proper name.
pub fn link(op_id: &str, parameters: &[(&str, &str)]) -> Link {
    let mut b = LinkBuilder::new();
    for (name, expr) in parameters {
        b = b.parameter(*name, *expr);
    }
    let mut link = b.build();
    link.extensions = Some(utoipa::openapi::extensions::Extensions::from_iter([(
        "operationId",
        op_id,
    )]));
    link
}

/// The links of one resource kind: from every response that returns one
/// resource, to each operation taking its key (the conditional update with
/// the ETag just read), and from a page to the same operations with the
/// first item's key and to the next page.
pub struct ResourceLinks<'a> {
    /// The path parameter and body field holding the key (`name`, `id`).
    pub key: &'a str,
    /// (link name, operation id) of every operation taking the key.
    pub by_key: &'a [(&'a str, &'a str)],
    /// The operation id that takes `If-Match` (the update), if any.
    pub update: Option<&'a str>,
    /// (path, method, status) of responses with one resource as `data`.
    pub one: &'a [(&'a str, &'a str, &'a str)],
    /// (path, list operation id) of the list.
    pub list: Option<(&'a str, &'a str)>,
}

impl ResourceLinks<'_> {
    /// Adds the links to `doc`.
    pub fn apply(&self, doc: &mut OpenApi) {
        let path_param = format!("path.{}", self.key);
        let one_expr = format!("$response.body#/data/{}", self.key);
        let first_expr = format!("$response.body#/data/0/{}", self.key);
        let one: Vec<(String, Link)> = self
            .by_key
            .iter()
            .map(|(name, op)| {
                let mut params = vec![(path_param.as_str(), one_expr.as_str())];
                if Some(*op) == self.update {
                    params.push(("header.If-Match", "$response.header.ETag"));
                }
                ((*name).to_owned(), link(op, &params))
            })
            .collect();
        for (path, method, status) in self.one {
            add_links(doc, path, method, status, &one);
        }
        if let Some((path, list_op)) = self.list {
            let mut page: Vec<(String, Link)> = self
                .by_key
                .iter()
                .map(|(name, op)| {
                    let params = [(path_param.as_str(), first_expr.as_str())];
                    ((*name).to_owned(), link(op, &params))
                })
                .collect();
            page.push((
                "NextPage".to_owned(),
                link(
                    list_op,
                    &[("query.cursor", "$response.body#/pagination/nextCursor")],
                ),
            ));
            add_links(doc, path, "get", "200", &page);
        }
    }
}

fn add_links(doc: &mut OpenApi, path: &str, method: &str, status: &str, links: &[(String, Link)]) {
    let Some(item) = doc.paths.paths.get_mut(path) else {
        return;
    };
    let op = match method {
        "get" => item.get.as_mut(),
        "post" => item.post.as_mut(),
        "put" => item.put.as_mut(),
        "patch" => item.patch.as_mut(),
        _ => None,
    };
    if let Some(RefOr::T(resp)) = op.and_then(|op| op.responses.responses.get_mut(status)) {
        for (name, link) in links {
            resp.links.insert(name.clone(), RefOr::T(link.clone()));
        }
    }
}

/// Differences between `G`'s route table and the operations `doc`
/// documents (empty when every route is documented under its operation id
/// and every documented operation is routed). Each group tests it.
pub fn route_mismatches<G: RouteGroup>(doc: &OpenApi) -> Vec<String> {
    let mut problems = Vec::new();
    let mut documented: Vec<(&str, &str)> = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("GET", item.get.as_ref()),
            ("POST", item.post.as_ref()),
            ("PUT", item.put.as_ref()),
            ("PATCH", item.patch.as_ref()),
            ("DELETE", item.delete.as_ref()),
        ];
        for (m, op) in ops {
            let Some(op) = op else { continue };
            documented.push((m, path.as_str()));
            let id = op.operation_id.clone().unwrap_or_default();
            match G::routes()
                .iter()
                .find(|r| r.method == m && cp_http::router::openapi_path(r.pattern) == *path)
            {
                None => problems.push(format!("{m} {path} is documented but not routed")),
                Some(route) if route.operation_id != id => problems.push(format!(
                    "{m} {path}: routed as {} but documented as {id}",
                    route.operation_id
                )),
                // `security(())` documents a public operation; the route
                // table decides whether the pipeline authenticates, and the
                // two must say the same (clients and the authorisation
                // matrix read the document).
                Some(route) if documented_public(op) != route.is_public() => {
                    problems.push(format!(
                        "{m} {path}: the route is {} but the document says {}",
                        if route.is_public() {
                            "public"
                        } else {
                            "authenticated"
                        },
                        if route.is_public() {
                            "authenticated"
                        } else {
                            "public"
                        },
                    ))
                }
                Some(_) => {}
            }
        }
    }
    for r in G::routes() {
        let path = cp_http::router::openapi_path(r.pattern);
        if !documented.contains(&(r.method, path.as_str())) {
            problems.push(format!(
                "{} {} is routed but not documented",
                r.method, r.pattern
            ));
        }
    }
    problems
}

/// Whether an operation is documented as public: one empty security
/// requirement (`security(())`).
fn documented_public(op: &utoipa::openapi::path::Operation) -> bool {
    op.security.as_ref().is_some_and(|reqs| {
        !reqs.is_empty()
            && reqs
                .iter()
                .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
    })
}

/// The schema of a create body: an update body's schema (`update`) with the
/// resource's key (`field`, e.g. `name`) added first and required. Creates
/// and updates parse into one type; deriving the create schema from the
/// update schema keeps their documents from drifting apart.
pub fn create_schema(
    update: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    field: &str,
    field_schema: utoipa::openapi::schema::Object,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::Schema;
    let mut schema = update;
    if let RefOr::T(Schema::Object(obj)) = &mut schema {
        obj.description = Some(description.to_owned());
        obj.properties
            .shift_insert(0, field.to_owned(), field_schema.into());
        obj.required.insert(0, field.to_owned());
    }
    schema
}
