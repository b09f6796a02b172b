//! Cross-origin requests (CORS) for browser apps served from another origin.
//!
//! Off by default: without allowed origins no CORS header is ever sent and
//! `OPTIONS` stays 405, so existing deployments see no change. With
//! `--cors-allow-origins`, a request whose `Origin` is on the list gets
//! `Access-Control-Allow-Origin` (that origin, with `Vary: Origin`) and the
//! response headers a client may read; a preflight (`OPTIONS` with
//! `Access-Control-Request-Method`) of a known route is answered 204 with the
//! route's methods and the request headers the APIs take. Credentials are
//! headers (`Authorization`, `x-api-key`), never cookies, so
//! `Access-Control-Allow-Credentials` is not sent.

use hyper::header::{self, HeaderMap, HeaderValue};

/// Request headers a browser may send cross-origin.
const ALLOW_HEADERS: &str = "authorization, content-type, x-api-key, x-request-id";
/// Response headers a browser app may read.
const EXPOSE_HEADERS: &str = "x-request-id, retry-after, content-disposition";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE_SECS: &str = "600";

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    /// Allowed origins, lowercased (`scheme://host[:port]`).
    origins: Vec<String>,
    /// `*`: every origin.
    any: bool,
}

impl CorsPolicy {
    /// A policy from a list of origins (`https://app.example.com`,
    /// `http://localhost:3000`) or `*` for any. An entry with a path, a
    /// query, no scheme or another scheme than http/https is refused, since
    /// a browser's `Origin` never has one and the entry could never match.
    pub fn new<S: AsRef<str>>(list: &[S]) -> Result<Self, String> {
        let mut policy = Self::default();
        for entry in list {
            let entry = entry.as_ref().trim();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                policy.any = true;
                continue;
            }
            let lower = entry.to_ascii_lowercase();
            let rest = lower
                .strip_prefix("https://")
                .or_else(|| lower.strip_prefix("http://"))
                .ok_or_else(|| {
                    format!("cors_allow_origins: '{entry}' is not an http(s)://host[:port] origin")
                })?;
            if rest.is_empty() || rest.contains(['/', '?', '#', ' ', '@']) {
                return Err(format!(
                    "cors_allow_origins: '{entry}' is not an origin (scheme://host[:port], no path)"
                ));
            }
            policy.origins.push(lower);
        }
        Ok(policy)
    }

    /// Whether any origin is allowed at all.
    pub fn is_enabled(&self) -> bool {
        self.any || !self.origins.is_empty()
    }

    /// The request's `Origin`, when this policy allows it.
    pub fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        (self.any || self.origins.iter().any(|o| o.eq_ignore_ascii_case(text)))
            .then(|| origin.clone())
    }

    /// Adds the headers of an allowed cross-origin answer.
    pub fn decorate(origin: HeaderValue, headers: &mut HeaderMap) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.append(header::VARY, HeaderValue::from_static("origin"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }

    /// Adds the headers of a preflight answer for a route taking `methods`.
    pub fn preflight(methods: &[&str], headers: &mut HeaderMap) {
        let mut methods = methods.to_vec();
        methods.push("OPTIONS");
        if let Ok(value) = HeaderValue::from_str(&methods.join(", ")) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, value);
        }
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_SECS),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn only_listed_origins_are_allowed() {
        let policy =
            CorsPolicy::new(&["https://App.example.com", " http://localhost:3000 "]).expect("ok");
        assert!(policy.is_enabled());
        assert!(
            policy
                .allowed_origin(&origin("https://app.example.com"))
                .is_some()
        );
        assert!(
            policy
                .allowed_origin(&origin("http://localhost:3000"))
                .is_some()
        );
        for other in [
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://evil.example.com",
            "null",
        ] {
            assert!(policy.allowed_origin(&origin(other)).is_none(), "{other}");
        }
        assert!(policy.allowed_origin(&HeaderMap::new()).is_none());
    }

    #[test]
    fn off_by_default_and_star_allows_any() {
        assert!(!CorsPolicy::default().is_enabled());
        assert!(
            CorsPolicy::default()
                .allowed_origin(&origin("https://a.example"))
                .is_none()
        );
        let any = CorsPolicy::new(&["*"]).expect("ok");
        assert!(any.allowed_origin(&origin("https://a.example")).is_some());
    }

    #[test]
    fn entries_that_are_not_origins_are_refused() {
        for bad in [
            "app.example.com",
            "ftp://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://",
            "https://user@app.example.com",
        ] {
            let err = CorsPolicy::new(&[bad]).expect_err(bad);
            assert!(err.contains("cors_allow_origins"), "{err}");
        }
    }
}
