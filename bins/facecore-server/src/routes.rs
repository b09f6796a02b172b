//! The route table: every path the server answers, each dialect's routes
//! from its own folder under [`crate::api`], and the service routes
//! (health, OpenAPI, metrics, the demo page).
//!
//! A path is exact, or a template whose `{name}` segments match one
//! non-empty segment each (OpenAPI's notation, so the table's paths are the
//! document's). The segments matched are percent-decoded and handed to the
//! handler in order.

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
    /// `GET /v1/models`
    Models,
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
    /// Exact path, or a template with `{name}` segments.
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
    Route::service(Method::GET, "/v1/models", Endpoint::Models, true),
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

/// Every route: each dialect's table, then the service's. A new
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
    /// A route for this path and method, with the template's segments.
    Found(&'static Route, Vec<String>),
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

/// The segments `template` captures from `path`, or `None` when it does not
/// match (or a captured segment is not UTF-8 once percent-decoded).
fn captures(template: &str, path: &str) -> Option<Vec<String>> {
    if !template.contains('{') {
        return (template == path).then(Vec::new);
    }
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    let mut out = Vec::new();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(out),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return None;
                }
                let decoded = percent_encoding::percent_decode_str(g).decode_utf8().ok()?;
                out.push(decoded.into_owned());
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// Finds the route of `method` and `path` (`HEAD` is served as `GET`). A
/// path under `/api/v1/` may end with one `/` (CompreFace's clients write
/// `/api/v1/recognition/subjects/`). Of several templates that fit, those
/// with the fewest captures are the path's (`/faces/delete` before
/// `/faces/{id}`).
pub fn find(method: &Method, path: &str) -> Matched {
    let path = match path.strip_suffix('/') {
        Some(stem) if path.starts_with("/api/v1/") => stem,
        _ => path,
    };
    // The templates that fit with the fewest captures are the path's; the
    // others (`/faces/{id}` for `/faces/delete`) are not, even for `Allow`.
    let mut fitting: Vec<(&'static Route, Vec<String>)> = ROUTES
        .iter()
        .filter_map(|route| captures(route.path, path).map(|params| (route, params)))
        .collect();
    let Some(fewest) = fitting.iter().map(|(_, p)| p.len()).min() else {
        return Matched::NoPath;
    };
    fitting.retain(|(_, p)| p.len() == fewest);
    let allowed: Vec<&'static str> = fitting.iter().map(|(r, _)| r.method.as_str()).collect();
    let known = fitting[0].0.path;
    match fitting.into_iter().find(|(route, _)| {
        route.method == method || (route.method == Method::GET && method == Method::HEAD)
    }) {
        Some((route, params)) => Matched::Found(route, params),
        None => Matched::WrongMethod {
            path: known,
            allowed,
        },
    }
}

/// The path as the route table spells it and the methods it accepts, or
/// `None` when no route has this path (for CORS preflights).
pub fn methods_of(path: &str) -> Option<(&'static str, Vec<&'static str>)> {
    match find(&Method::OPTIONS, path) {
        Matched::WrongMethod { path, allowed } => Some((path, allowed)),
        Matched::Found(route, _) => Some((route.path, vec![route.method.as_str()])),
        Matched::NoPath => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_capture_decoded_segments() {
        let t = "/api/v1/recognition/subjects/{subject}";
        assert_eq!(
            captures(t, "/api/v1/recognition/subjects/John%20Smith"),
            Some(vec!["John Smith".to_string()])
        );
        assert_eq!(captures(t, "/api/v1/recognition/subjects/"), None);
        assert_eq!(captures(t, "/api/v1/recognition/subjects/a/b"), None);
        assert_eq!(captures(t, "/api/v1/recognition/subjects/%FF"), None);
        assert_eq!(
            captures("/a/{x}/b/{y}", "/a/1/b/%C3%A9"),
            Some(vec!["1".to_string(), "é".to_string()])
        );
        assert_eq!(captures("/v1/healthz", "/v1/healthz"), Some(vec![]));
        assert_eq!(captures("/v1/healthz", "/v1/healthz/"), None);
    }

    #[test]
    fn an_exact_path_beats_a_template_also_for_allow() {
        let path = "/api/v1/recognition/faces/delete";
        assert!(matches!(find(&Method::POST, path), Matched::Found(r, p)
            if r.path == path && p.is_empty()));
        // DELETE fits only the template /faces/{image_id}, which is not this
        // path's: the path allows POST alone.
        match find(&Method::DELETE, path) {
            Matched::WrongMethod { allowed, .. } => assert_eq!(allowed, ["POST"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            find(&Method::DELETE, "/api/v1/recognition/faces/face_x"),
            Matched::Found(_, p) if p == ["face_x"]
        ));
        assert!(matches!(
            find(&Method::GET, "/api/v1/recognition/subjects/"),
            Matched::Found(r, _) if r.path == "/api/v1/recognition/subjects"
        ));
        assert!(matches!(
            find(&Method::GET, "/v1/healthz/"),
            Matched::NoPath
        ));
    }
}
