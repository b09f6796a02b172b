//! The OpenAPI paths and schemas of the Face Verification API, merged into
//! the server's document by [`crate::openapi`].

use utoipa::OpenApi;

use super::wire::{
    BoundingBox, CompareRequest, CompareResponse, DetectFacesResponse, DetectedFace,
    FaceEmbeddingsResponse, FaceWithEmbedding, ImageInput, ImageRequest,
};
use crate::error::ErrorBody;

/// Detect faces: boxes and confidences, most dominant face first.
#[utoipa::path(
    post,
    path = "/v1/face-verification/detect-faces",
    tag = "Face Verification",
    request_body(content = ImageRequest, example = json!({"image": {"bytes": "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR42mNogAIGyhgAgIQgARDoahcAAAAASUVORK5CYII=", "url": null}, "maxFaceCount": 10})),
    responses(
        (status = 200, description = "The faces found (the array is empty when there is none)", body = DetectFacesResponse,
            example = json!({"faces": [{"confidence": 0.9876, "boundingBox": {"x": 120, "y": 80, "width": 200, "height": 250}}], "unprocessedFaceCount": 0})),
        (status = 400, description = "Invalid request: no image, bad base64, undecodable image, maxFaceCount out of 1..=10, refused URL", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
#[allow(dead_code)]
fn detect_faces() {}

/// Get face embeddings: a 512-d unit vector per face, most dominant first.
#[utoipa::path(
    post,
    path = "/v1/face-verification/get-face-embeddings",
    tag = "Face Verification",
    request_body(content = ImageRequest, example = json!({"image": {"bytes": "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR42mNogAIGyhgAgIQgARDoahcAAAAASUVORK5CYII=", "url": null}, "maxFaceCount": 1})),
    responses(
        (status = 200, description = "Faces with their embeddings (the array is empty when there is none)", body = FaceEmbeddingsResponse,
            example = json!({"faces": [{"face": {"confidence": 0.9876, "boundingBox": {"x": 120, "y": 80, "width": 200, "height": 250}}, "embedding": [0.123, -0.456, 0.789]}], "unprocessedFaceCount": 0})),
        (status = 400, description = "Invalid request: no image, bad base64, undecodable image, maxFaceCount out of 1..=10, refused URL", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
#[allow(dead_code)]
fn get_face_embeddings() {}

/// Compare two embeddings: the calibrated similarity, -1..=100.
#[utoipa::path(
    post,
    path = "/v1/face-verification/compare-face-embeddings",
    tag = "Face Verification",
    request_body(content = CompareRequest, example = json!({"embedding1": [0.123, -0.456, 0.789], "embedding2": [0.125, -0.450, 0.792]})),
    responses(
        (status = 200, description = "The similarity", body = CompareResponse),
        (status = 400, description = "Malformed body or invalid embeddings (missing, wrong length, non-finite, all zeros)", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
#[allow(dead_code)]
fn compare_face_embeddings() {}

/// This dialect's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(detect_faces, get_face_embeddings, compare_face_embeddings),
    components(schemas(
        ImageRequest,
        ImageInput,
        CompareRequest,
        CompareResponse,
        DetectFacesResponse,
        DetectedFace,
        BoundingBox,
        FaceEmbeddingsResponse,
        FaceWithEmbedding
    ))
)]
pub struct Doc;
