//! Reading a request body whole, under the size limit and the body timeout.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::Request;
use hyper::header;

use crate::error::{self, ApiError};

/// A request body the server can read: any hyper body whose chunks and
/// errors can cross threads (a real connection's, or a test's).
pub trait IncomingBody:
    hyper::body::Body<Data: Send, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
    + Send
    + 'static
{
}

impl<B> IncomingBody for B
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
}

/// What to answer for a body over the limit that is still a plausible
/// request: one whose only large part can be an image over the image limit.
#[derive(Debug, Clone)]
pub struct Oversize {
    /// Bodies up to this many bytes are read to the end, discarded, and
    /// answered with `error`; larger ones get 413 (at once when
    /// `Content-Length` says so).
    pub plausible: u64,
    /// The answer for them.
    pub error: ApiError,
}

/// After a 413, the rest of a body is still read (and discarded) in the
/// background, up to this many bytes in all and within the body timeout:
/// most HTTP clients write the whole body before they read the answer, and
/// a server that stopped reading would leave them a broken pipe instead of
/// the error. A body declared larger by its `Content-Length` is not read at
/// all.
pub const DRAIN_AT_MOST: u64 = 64 << 20;

/// Reads and discards what is left of a refused body, in the background,
/// while the answer goes out; the connection closes when it is done.
fn drain_in_background<B: IncomingBody>(body: B, already: u64, timeout: Duration) {
    tokio::spawn(async move {
        let mut body = std::pin::pin!(body);
        let mut seen = already;
        let _ = tokio::time::timeout(timeout, async {
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    seen += data.remaining() as u64;
                    if seen > DRAIN_AT_MOST {
                        break;
                    }
                }
            }
        })
        .await;
    });
}

/// Drains the body of a request answered without reading it (a refused
/// key, an unknown route, a wrong method) in the background, for the same
/// reason as after a 413: the client must see the answer. Bodies declared
/// larger than [`DRAIN_AT_MOST`] are not read; the connection just closes.
pub fn discard<B: IncomingBody>(request: Request<B>, timeout: Duration) {
    let declared = content_length(&request);
    let chunked = request.headers().contains_key(header::TRANSFER_ENCODING);
    let worth_it = match declared {
        Some(n) => n > 0 && n <= DRAIN_AT_MOST,
        None => chunked,
    };
    if worth_it {
        drain_in_background(request.into_body(), 0, timeout);
    }
}

fn content_length<B>(request: &Request<B>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads the whole body of `request`: 413 past `limit` bytes (at once when
/// `Content-Length` says so; the rest is drained in the background, see
/// [`DRAIN_AT_MOST`]), 408 when it takes longer than `timeout`.
///
/// With `oversize`, a body over `limit` but within `oversize.plausible` is
/// drained without being kept (memory stays at `limit`) and answered with
/// `oversize.error`, so that a client learns what was wrong with it.
pub async fn read_body<B: IncomingBody>(
    request: Request<B>,
    limit: usize,
    timeout: Duration,
    oversize: Option<Oversize>,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            error::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = content_length(&request);
    let plausible = oversize.as_ref().map_or(limit as u64, |o| o.plausible);
    let started = tokio::time::Instant::now();
    if let Some(n) = declared.filter(|&n| n > plausible.max(limit as u64)) {
        if n <= DRAIN_AT_MOST {
            drain_in_background(request.into_body(), 0, timeout);
        }
        return Err(too_large());
    }
    let mut body = Box::pin(request.into_body());
    let read = async {
        let mut kept = BytesMut::new();
        let mut seen: u64 = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                let e = ApiError::new(
                    error::MALFORMED_JSON,
                    format!("the request body could not be read: {e}"),
                );
                (e, 0)
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen += data.remaining() as u64;
            if seen > plausible.max(limit as u64) {
                return Err((too_large(), seen));
            }
            if seen <= limit as u64 {
                kept.put(data);
            }
        }
        match &oversize {
            Some(o) if seen > limit as u64 => Err((o.error.clone(), 0)),
            _ => Ok(kept.freeze()),
        }
    };
    match tokio::time::timeout(timeout, read).await {
        Err(_) => Err(ApiError::new(
            error::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                timeout.as_secs_f32()
            ),
        )),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err((error, seen))) => {
            if seen > 0 {
                drain_in_background(body, seen, timeout.saturating_sub(started.elapsed()));
            }
            Err(error)
        }
    }
}
