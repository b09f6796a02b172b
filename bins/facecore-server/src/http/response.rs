//! Building responses: JSON, bytes, text, redirects, and the common error
//! shape `{"code", "message"}`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::error::{self, ApiError};

/// Response type of every handler.
pub type HttpResponse = Response<Full<Bytes>>;

/// The JSON error response for `error`, with `Retry-After: retry_after_secs`
/// on 503.
pub fn error_response(error: &ApiError, retry_after_secs: u32) -> HttpResponse {
    let mut response = json_response(error.status(), &error.body());
    if error.status() == StatusCode::SERVICE_UNAVAILABLE
        && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A JSON response.
pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> HttpResponse {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = bytes_response(Bytes::from(body), "application/json");
            *response.status_mut() = status;
            response
        }
        Err(e) => {
            let body = serde_json::json!({
                "code": error::INTERNAL.code,
                "message": format!("the response could not be serialised: {e}"),
            })
            .to_string();
            let mut response = bytes_response(Bytes::from(body), "application/json");
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

/// A 200 response of `body` with `content_type`.
pub fn bytes_response(body: Bytes, content_type: &str) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// A 200 plain-text response.
pub fn text_response(text: String) -> HttpResponse {
    bytes_response(Bytes::from(text), "text/plain; charset=utf-8")
}

/// A 302 to `location`.
pub fn redirect(location: &'static str) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::FOUND;
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    response
}
