//! The OpenAPI 3 document, generated from the request and response types
//! with `utoipa`, served at `/openapi.json` and shown by Swagger UI.

use facecore::Engine;
use facecore::api::{
    BoundingBox, DetectFacesResponse, DetectedFace, FaceEmbeddingsResponse, FaceWithEmbedding,
};
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::error::{CODES, ErrorBody};
use crate::input::{CollectionRequest, CompareRequest, FaceRequest, ImageInput, ImageRequest};
use crate::recognition::{
    CollectionIdResponse, CollectionView, FaceResponse, GetAllCollectionsResponse,
    GetCollectionResponse,
};

/// Body of a compare-face-embeddings answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompareResponse {
    /// Similarity in -1..=100 on the model's calibrated scale: 70 means a
    /// false-positive rate of 1e-3, 80 (recommended) 1e-4, 90 1e-5, 95 1e-6.
    #[schema(example = 85, minimum = -1, maximum = 100)]
    pub similarity: i32,
}

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

/// Get one collection of the calling account.
#[utoipa::path(get, path = "/v1/collection/get", tag = "Face Recognition",
    params(("collectionId" = String, Query, description = "The collection identifier", min_length = 1, max_length = 512, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")),
    responses(
        (status = 200, description = "The collection", body = GetCollectionResponse),
        (status = 400, description = "collectionId missing or invalid", body = ErrorBody),
        (status = 404, description = "No such collection", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
#[allow(dead_code)]
fn collection_get() {}

/// List the calling account's collections.
#[utoipa::path(get, path = "/v1/collection/get-all", tag = "Face Recognition",
    responses(
        (status = 200, description = "The collections (may be empty)", body = GetAllCollectionsResponse),
        (status = 400, description = "Invalid request", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
#[allow(dead_code)]
fn collection_get_all() {}

/// Create a collection.
#[utoipa::path(post, path = "/v1/collection/create", tag = "Face Recognition",
    request_body(content = CollectionRequest, example = json!({"collectionId": "new-collection", "description": "Collection for customer verification"})),
    responses(
        (status = 200, description = "Created", body = CollectionIdResponse),
        (status = 400, description = "collectionId missing or over 512 characters, description over 1024", body = ErrorBody),
        (status = 409, description = "The collection already exists", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
#[allow(dead_code)]
fn collection_create() {}

/// Update a collection's description.
#[utoipa::path(put, path = "/v1/collection/update", tag = "Face Recognition",
    request_body(content = CollectionRequest, example = json!({"collectionId": "my-collection", "description": "Updated description"})),
    responses(
        (status = 200, description = "Updated", body = CollectionIdResponse),
        (status = 400, description = "Validation failure", body = ErrorBody),
        (status = 404, description = "No such collection", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
#[allow(dead_code)]
fn collection_update() {}

/// Delete a collection and its faces (idempotent).
#[utoipa::path(delete, path = "/v1/collection/delete", tag = "Face Recognition",
    params(("collectionId" = String, Query, description = "The collection identifier", min_length = 1, max_length = 512, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")),
    responses(
        (status = 200, description = "Deleted, or did not exist", body = Object, example = json!({})),
        (status = 400, description = "collectionId missing or invalid", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
#[allow(dead_code)]
fn collection_delete() {}

/// Index the dominant face of an image into a collection.
#[utoipa::path(post, path = "/v1/face/index", tag = "Face Recognition",
    request_body(content = FaceRequest, example = json!({"image": {"bytes": "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR42mNogAIGyhgAgIQgARDoahcAAAAASUVORK5CYII="}, "collectionId": "my-collection"})),
    responses(
        (status = 200, description = "Indexed (or hasFace false: nothing stored)", body = FaceResponse),
        (status = 400, description = "Invalid request or image", body = ErrorBody),
        (status = 404, description = "No such collection", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
#[allow(dead_code)]
fn face_index() {}

/// Search a collection for the dominant face of an image.
#[utoipa::path(post, path = "/v1/face/search", tag = "Face Recognition",
    request_body(content = FaceRequest, example = json!({"image": {"bytes": "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR42mNogAIGyhgAgIQgARDoahcAAAAASUVORK5CYII="}, "collectionId": "my-collection", "faceMatchThreshold": 80})),
    responses(
        (status = 200, description = "The best match at or above the threshold (faceId null when none)", body = FaceResponse),
        (status = 400, description = "Invalid request, image or threshold", body = ErrorBody),
        (status = 404, description = "No such collection", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
#[allow(dead_code)]
fn face_search() {}

/// Search, and index the face when nothing matches: atomic per collection.
#[utoipa::path(post, path = "/v1/face/search-or-index", tag = "Face Recognition",
    request_body(content = FaceRequest, example = json!({"image": {"bytes": "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR42mNogAIGyhgAgIQgARDoahcAAAAASUVORK5CYII="}, "collectionId": "my-collection", "faceMatchThreshold": 80})),
    responses(
        (status = 200, description = "resultSource says whether the id was found (Search) or stored (Index)", body = FaceResponse),
        (status = 400, description = "Invalid request, image or threshold", body = ErrorBody),
        (status = 404, description = "No such collection", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
#[allow(dead_code)]
fn face_search_or_index() {}

/// Delete a face from a collection.
#[utoipa::path(delete, path = "/v1/face/delete", tag = "Face Recognition",
    params(("collectionId" = String, Query, description = "The collection", min_length = 1, max_length = 512, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"), ("faceId" = String, Query, description = "The face")),
    responses(
        (status = 200, description = "Deleted", body = Object, example = json!({})),
        (status = 400, description = "Missing parameters", body = ErrorBody),
        (status = 404, description = "No such collection or face", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
#[allow(dead_code)]
fn face_delete() {}

/// Health check: the server's UTC time, no authentication.
#[utoipa::path(
    get,
    path = "/v1/healthz",
    tag = "Health",
    responses(
        (status = 200, description = "The server's UTC time in ISO 8601", body = String, content_type = "text/plain",
            example = "2026-02-16T10:30:45Z"),
    )
)]
#[allow(dead_code)]
fn healthz() {}

/// The error responses every authenticated operation can give, added to each
/// of them here rather than repeated in every path attribute.
const AUTHENTICATED_ERRORS: &[(&str, &str)] = &[
    ("401", "Missing or invalid credentials"),
    ("403", "The account is disabled or does not exist"),
    ("408", "The body did not arrive in time"),
    ("413", "The body is over the size limit"),
    ("503", "Overloaded; retry after the Retry-After seconds"),
    ("500", "Server error"),
];

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.delete.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                if operation.security.is_none() {
                    continue;
                }
                for (status, description) in AUTHENTICATED_ERRORS {
                    let response = ResponseBuilder::new()
                        .description(*description)
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build(),
                        )
                        .build();
                    operation
                        .responses
                        .responses
                        .entry((*status).to_string())
                        .or_insert(response.into());
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`ApiKey <key>`: type the word ApiKey, a space, then the key (`facecore keys create --account NAME` makes one)",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT signed with the operator's key (HS256, RS256 or ES256); `sub` names the account, `exp` is required",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "facecore Face Verification and Face Recognition API",
        description = "Self-hosted face detection, embeddings and calibrated comparison.",
    ),
    paths(
        detect_faces, get_face_embeddings, compare_face_embeddings, collection_get,
        collection_get_all, collection_create, collection_update, collection_delete, face_index,
        face_search, face_search_or_index, face_delete, healthz
    ),
    components(schemas(
        ImageRequest, ImageInput, CompareRequest, CompareResponse, DetectFacesResponse,
        DetectedFace, BoundingBox, FaceEmbeddingsResponse, FaceWithEmbedding, ErrorBody,
        CollectionView, GetCollectionResponse, GetAllCollectionsResponse, CollectionIdResponse,
        CollectionRequest, FaceRequest, FaceResponse
    )),
    modifiers(&Security),
    tags(
        (name = "Face Verification", description = "Detect faces, extract embeddings, compare them"),
        (name = "Face Recognition", description = "Collections of faces: index, search, search-or-index, delete"),
        (name = "Health", description = "Liveness"),
    )
)]
struct ApiDoc;

/// The OpenAPI document as a value, with the engine's model, its score
/// calibration and the error-code table in the description.
pub fn document(engine: &Engine) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut description = format!(
        "Self-hosted face detection, embeddings and calibrated comparison.\n\n\
         Embeddings come from model `{}` ({} dimensions, unit length); embeddings of \
         different models must not be compared.\n\n\
         Scores are {}: 70 = FPR 1e-3, 80 = FPR 1e-4 (recommended), 90 = FPR 1e-5, 95 = FPR 1e-6.\n\n\
         Every error is `{{\"code\": \"...\", \"message\": \"...\"}}`:\n\n| code | status | when |\n|---|---|---|\n",
        engine.model_id(),
        engine.embedding_dim(),
        if engine.is_calibrated() {
            "calibrated for this model on labeled data"
        } else {
            "on the reference scale (this model is not calibrated)"
        }
    );
    for code in CODES {
        description.push_str(&format!(
            "| `{}` | {} | {} |\n",
            code.code,
            code.status.as_u16(),
            code.meaning
        ));
    }
    doc.info.description = Some(description);
    doc
}

/// The OpenAPI document as JSON bytes.
pub fn document_json(engine: &Engine) -> Vec<u8> {
    serde_json::to_vec(&document(engine)).unwrap_or_else(|e| {
        format!(r#"{{"error": "the OpenAPI document could not be serialised: {e}"}}"#).into_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recognition::COLLECTION_ID_PATTERN;

    /// Every `pattern` in `value`, with the name it belongs to.
    fn patterns(value: &serde_json::Value, name: &str, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(map) => {
                let here = map
                    .get("name")
                    .and_then(|n| n.as_str())
                    .unwrap_or(name)
                    .to_string();
                for (key, child) in map {
                    if key == "pattern" {
                        out.push((here.clone(), child.as_str().unwrap_or_default().into()));
                    } else {
                        let inherit = key == "properties" || key == "schema";
                        patterns(child, if inherit { &here } else { key }, out);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    patterns(item, name, out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_collection_id_has_the_pattern_the_store_enforces() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("json");
        let mut found = Vec::new();
        patterns(&doc, "", &mut found);
        // Two bodies (create/update and the face requests) and three
        // query parameters (get, delete collection, delete face).
        assert_eq!(found.len(), 5, "{found:?}");
        for (name, pattern) in &found {
            assert_eq!(name, "collectionId");
            assert_eq!(pattern, COLLECTION_ID_PATTERN);
        }
    }

    /// The pattern's class is exactly what `char::is_control` (the store's
    /// rule) refuses: C0 controls, DEL and the C1 controls.
    #[test]
    fn the_pattern_class_is_the_control_characters() {
        assert_eq!(
            COLLECTION_ID_PATTERN,
            "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"
        );
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let in_class = matches!(u32::from(c), 0x00..=0x1F | 0x7F..=0x9F);
            assert_eq!(c.is_control(), in_class, "{:#x}", u32::from(c));
        }
    }
}
