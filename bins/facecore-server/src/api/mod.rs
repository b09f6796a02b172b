//! The API dialects, one folder each: its wire types (defined in
//! `facecore-wire`, re-exported and rendered in its `wire` module), its
//! handlers, its OpenAPI paths and its error rendering. A dialect parses its
//! own format, calls the facade, and renders the answer; it never touches
//! the store. A new dialect adds a folder here, a variant of [`ApiCall`],
//! and its route table to [`DIALECT_ROUTES`].

pub mod compreface;
pub mod face_search;
pub mod recognition;
pub mod verification;

use bytes::Bytes;

use crate::app::App;
use crate::error::ApiError;
use crate::http::response::HttpResponse;
use crate::routes::Route;

/// Each dialect's route table.
pub const DIALECT_ROUTES: &[&[Route]] = &[
    verification::ROUTES,
    recognition::ROUTES,
    compreface::ROUTES,
    face_search::ROUTES,
];

/// An authenticated API call, by dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCall {
    /// The Face Verification API.
    Verification(verification::Call),
    /// The Face Recognition API.
    Recognition(recognition::Call),
    /// The CompreFace REST API.
    Compreface(compreface::Call),
    /// The Face Search API.
    FaceSearch(face_search::Call),
}

/// What a handler gets of an authenticated request. The credential a call
/// takes is its dialect's: `Authorization` with an account key or token for
/// the Face Verification and Recognition APIs, `x-api-key` with a service's
/// key of the call's type for CompreFace's, `x-api-key` with an account key
/// (or `Authorization`) for the Face Search API's.
#[derive(Debug)]
pub struct CallRequest {
    /// The authenticated account.
    pub account: String,
    /// The collection of the calling service (CompreFace's recognition
    /// services); `None` for account keys and other services.
    pub collection: Option<String>,
    /// The segments the route's template captured, in order.
    pub params: Vec<String>,
    /// The query string, if any.
    pub query: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The whole body.
    pub body: Bytes,
}

impl ApiCall {
    /// Runs the call.
    pub(crate) async fn run(
        self,
        app: &App,
        request: &CallRequest,
    ) -> Result<HttpResponse, ApiError> {
        match self {
            Self::Verification(call) => verification::handle(app, call, request).await,
            Self::Recognition(call) => recognition::handle(app, call, request).await,
            Self::Compreface(call) => compreface::handle(app, call, request).await,
            Self::FaceSearch(call) => face_search::handle(app, call, request).await,
        }
    }

    /// Whether the call's body carries one image in `image.bytes` (the
    /// Face Verification and Recognition APIs' image calls) or in
    /// `face_base_64` / `multi_face_img_base_64` (the Face Search API's
    /// searches): a body too
    /// large to read can then only be an image over the image limit, and is
    /// answered as one (400 `ERR_IMAGE_TOO_LARGE`, not 413).
    pub(crate) fn takes_one_image(self) -> bool {
        use face_search::Call as S;
        use recognition::Call as R;
        use verification::Call as V;
        matches!(
            self,
            Self::Verification(V::DetectFaces | V::GetFaceEmbeddings)
                | Self::Recognition(R::FaceIndex | R::FaceSearch | R::FaceSearchOrIndex)
                | Self::FaceSearch(S::FaceSearch | S::MultiFaceSearch)
        )
    }

    /// The dialect's rendering of `error`.
    pub(crate) fn render_error(self, error: &ApiError, retry_after_secs: u32) -> HttpResponse {
        match self {
            Self::Verification(_) => verification::render_error(error, retry_after_secs),
            Self::Recognition(_) => recognition::render_error(error, retry_after_secs),
            Self::Compreface(_) => compreface::render_error(error, retry_after_secs),
            Self::FaceSearch(_) => face_search::render_error(error, retry_after_secs),
        }
    }
}
