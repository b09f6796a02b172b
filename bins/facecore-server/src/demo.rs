//! The demo web page served at `/`: three static files compiled into the
//! binary (no CDN, no build step), which call the public API from the
//! browser with a key the user types in. The page keeps that key in the
//! tab's `sessionStorage` only.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper::header::{self, HeaderValue};

use crate::app::HttpResponse;

/// One of the demo page's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoFile {
    /// `GET /`: the page.
    Page,
    /// `GET /demo/app.js`: its script.
    Script,
    /// `GET /demo/style.css`: its style sheet.
    Style,
}

/// What the page may load and connect to: only this server, so that even a
/// bug that let text reach the page as HTML could neither run script from
/// elsewhere nor send the key anywhere else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; \
     form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

impl DemoFile {
    /// The file's bytes and content type.
    pub fn content(self) -> (&'static [u8], &'static str) {
        match self {
            Self::Page => (
                include_bytes!("../demo/index.html"),
                "text/html; charset=utf-8",
            ),
            Self::Script => (
                include_bytes!("../demo/app.js"),
                "text/javascript; charset=utf-8",
            ),
            Self::Style => (
                include_bytes!("../demo/style.css"),
                "text/css; charset=utf-8",
            ),
        }
    }

    /// The response that serves the file, with a strict content security
    /// policy and no sniffing, framing or referrer.
    pub fn response(self) -> HttpResponse {
        let (body, content_type) = self.content();
        let mut response = Response::new(Full::new(Bytes::from_static(body)));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        // The files change with the binary; revalidating costs little.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}
