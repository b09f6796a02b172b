//! The Face Verification API (`face-verification-api.md`): detect faces,
//! get face embeddings, compare two embeddings.

pub mod openapi;
pub mod wire;

use facecore::Engine;
use hyper::{Method, StatusCode};
use serde::Serialize;

use self::wire::{CompareRequest, CompareResponse, ImageRequest};
use super::{ApiCall, CallRequest};
use crate::app::App;
use crate::error::ApiError;
use crate::http::admission::Timed;
use crate::http::response::{self, HttpResponse, json_response};
use crate::routes::Route;

/// The calls of this dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `POST /v1/face-verification/detect-faces`
    DetectFaces,
    /// `POST /v1/face-verification/get-face-embeddings`
    GetFaceEmbeddings,
    /// `POST /v1/face-verification/compare-face-embeddings`
    CompareFaceEmbeddings,
}

/// The dialect's routes.
pub const ROUTES: &[Route] = &[
    Route::api(
        Method::POST,
        "/v1/face-verification/detect-faces",
        ApiCall::Verification(Call::DetectFaces),
    ),
    Route::api(
        Method::POST,
        "/v1/face-verification/get-face-embeddings",
        ApiCall::Verification(Call::GetFaceEmbeddings),
    ),
    Route::api(
        Method::POST,
        "/v1/face-verification/compare-face-embeddings",
        ApiCall::Verification(Call::CompareFaceEmbeddings),
    ),
];

/// Runs one call.
pub(crate) async fn handle(
    app: &App,
    call: Call,
    request: &CallRequest,
) -> Result<HttpResponse, ApiError> {
    match call {
        Call::DetectFaces => {
            image_call(app, &request.body, Engine::detect, |d| {
                wire::detect_faces_response(d, false)
            })
            .await
        }
        Call::GetFaceEmbeddings => {
            image_call(app, &request.body, Engine::embed, |e| {
                wire::face_embeddings_response(e, false)
            })
            .await
        }
        Call::CompareFaceEmbeddings => compare_face_embeddings(app, &request.body),
    }
}

/// Errors as `{"code", "message"}`.
pub(crate) fn render_error(error: &ApiError, retry_after_secs: u32) -> HttpResponse {
    response::error_response(error, retry_after_secs)
}

/// detect-faces and get-face-embeddings: parse, fetch or decode the image
/// bytes, run `work` on an inference worker, answer `respond(result)`.
async fn image_call<T, R>(
    app: &App,
    body: &[u8],
    work: fn(&Engine, &[u8], usize) -> Result<T, facecore::Error>,
    respond: fn(&T) -> R,
) -> Result<HttpResponse, ApiError>
where
    T: Timed + Send + 'static,
    R: Serialize,
{
    let mut request: ImageRequest = facecore_wire::parse_json(body)?;
    let max_faces = request.max_faces()?;
    let bytes = app.image_bytes(request.image.take()).await?;
    let result = app
        .infer(move |engine| work(engine, &bytes, max_faces))
        .await?;
    Ok(json_response(StatusCode::OK, &respond(&result)))
}

fn compare_face_embeddings(app: &App, body: &[u8]) -> Result<HttpResponse, ApiError> {
    let request = CompareRequest::parse(body)?;
    // The vectors carry no model of their own: the request names it, or
    // they are the default model's (see `CompareRequest::model`).
    let engine = match &request.model {
        None => &app.engine,
        Some(model) => app.model_sets().for_model(model).ok_or_else(|| {
            ApiError::new(
                crate::error::MODEL_MISMATCH,
                format!(
                    "model: `{model}` is not a model this server has loaded ({}); embeddings \
                     of another model cannot be compared here",
                    app.model_sets().loaded_models()
                ),
            )
        })?,
    };
    let dim = engine.embedding_dim();
    let a = facecore_wire::embedding("embedding1", request.embedding1.as_ref(), dim)?;
    let b = facecore_wire::embedding("embedding2", request.embedding2.as_ref(), dim)?;
    let comparison = engine
        .compare_vectors(&a, &b)
        .map_err(|e| ApiError::from_error(&e))?;
    Ok(json_response(
        StatusCode::OK,
        &CompareResponse {
            similarity: comparison.similarity,
        },
    ))
}
