//! The route table: every exact path the server answers, each dialect's
//! routes from its own folder under [`crate::api`], and the service routes
//! (health, OpenAPI, metrics, the demo page).

use std::sync::LazyLock;

use hyper::Method;

use crate::api::{self, ApiCall};
use crate::demo::DemoFile;

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// An authenticated call of one of the API dialects.
    Api(ApiCall),
    /// `GET /v1/healthz`
    Healthz,
    /// `GET /openapi.json`
    OpenApi,
    /// `GET /metrics`
    Metrics,
    /// The demo web page and its files.
    Demo(DemoFile),
}

/// One route of the router.
#[derive(Debug, Clone)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Exact path.
    pub path: &'static str,
    /// The handler.
    pub endpoint: Endpoint,
    /// Whether it is part of the public API (and so of the OpenAPI document).
    pub documented: bool,
}

impl Route {
    /// A documented, authenticated API route.
    pub const fn api(method: Method, path: &'static str, call: ApiCall) -> Self {
        Self {
            method,
            path,
            endpoint: Endpoint::Api(call),
            documented: true,
        }
    }

    const fn service(
        method: Method,
        path: &'static str,
        endpoint: Endpoint,
        documented: bool,
    ) -> Self {
        Self {
            method,
            path,
            endpoint,
            documented,
        }
    }
}

/// The service's own routes, beside the dialects'.
const SERVICE_ROUTES: &[Route] = &[
    Route::service(Method::GET, "/v1/healthz", Endpoint::Healthz, true),
    Route::service(Method::GET, "/openapi.json", Endpoint::OpenApi, false),
    Route::service(Method::GET, "/metrics", Endpoint::Metrics, false),
    Route::service(Method::GET, "/", Endpoint::Demo(DemoFile::Page), false),
    Route::service(
        Method::GET,
        "/demo/app.js",
        Endpoint::Demo(DemoFile::Script),
        false,
    ),
    Route::service(
        Method::GET,
        "/demo/style.css",
        Endpoint::Demo(DemoFile::Style),
        false,
    ),
];

/// Every exact-path route: each dialect's table, then the service's. A new
/// dialect adds its table to [`api::DIALECT_ROUTES`]. Swagger UI is served
/// under [`SWAGGER_PREFIX`].
pub static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
    api::DIALECT_ROUTES
        .iter()
        .flat_map(|routes| routes.iter())
        .chain(SERVICE_ROUTES)
        .cloned()
        .collect()
});

/// Swagger UI lives under this prefix (`/swagger/index.html`).
pub const SWAGGER_PREFIX: &str = "/swagger/";

/// What matching a request's method and path found.
#[derive(Debug)]
pub enum Matched {
    /// A route for this path and method.
    Found(&'static Route),
    /// The path exists, with other methods (for `Allow`).
    WrongMethod {
        /// The route's path, as the table spells it (for logs and metrics).
        path: &'static str,
        /// The methods it accepts.
        allowed: Vec<&'static str>,
    },
    /// No route has this path.
    NoPath,
}

/// Finds the route of `method` and `path` (`HEAD` is served as `GET`).
pub fn find(method: &Method, path: &str) -> Matched {
    let mut allowed = Vec::new();
    let mut found = None;
    let mut known = None;
    for route in ROUTES.iter().filter(|r| r.path == path) {
        known = Some(route.path);
        if route.method == method || (route.method == Method::GET && method == Method::HEAD) {
            found = Some(route);
        }
        allowed.push(route.method.as_str());
    }
    match (found, known) {
        (Some(route), _) => Matched::Found(route),
        (None, Some(path)) => Matched::WrongMethod { path, allowed },
        (None, None) => Matched::NoPath,
    }
}
