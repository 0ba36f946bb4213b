//! The route group (placeholder while it is built).

use cp_http::{ApiRequest, ApiResponse, PathParams, Route};
use cp_platform::{Failure, Platform, RequestContext, RouteGroup};

/// The operations of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {}

/// The route group.
pub struct Catalog;

impl RouteGroup for Catalog {
    type Op = Op;

    fn routes() -> &'static [Route<Op>] {
        &[]
    }

    fn operation_id(op: Op) -> &'static str {
        match op {}
    }

    async fn handle<P: Platform>(
        op: Op,
        _ctx: &RequestContext<'_, P>,
        _req: &ApiRequest,
        _params: &PathParams,
    ) -> Result<ApiResponse, Failure> {
        match op {}
    }
}

/// The OpenAPI description of the group's routes.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct CatalogApi;
