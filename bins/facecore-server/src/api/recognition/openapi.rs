//! The OpenAPI paths and schemas of the Face Recognition API, merged into
//! the server's document by [`crate::openapi`].

use utoipa::OpenApi;

use super::wire::{
    CollectionIdResponse, CollectionRequest, CollectionView, FaceRequest, FaceResponse,
    GetAllCollectionsResponse, GetCollectionResponse,
};
use crate::error::ErrorBody;

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

/// Update a collection's description (the only mutable field): a missing
/// `description` leaves it unchanged, `null` or `""` clears it.
#[utoipa::path(put, path = "/v1/collection/update", tag = "Face Recognition",
    request_body(content = CollectionRequest, example = json!({"collectionId": "my-collection", "description": "Updated description"})),
    responses(
        (status = 200, description = "Updated", body = CollectionIdResponse),
        (status = 400, description = "Validation failure", body = ErrorBody),
        (status = 404, description = "No such collection (ERR_COLLECTION_NOT_FOUND, one of the common error codes)", body = ErrorBody),
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

/// This dialect's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        collection_get,
        collection_get_all,
        collection_create,
        collection_update,
        collection_delete,
        face_index,
        face_search,
        face_search_or_index,
        face_delete
    ),
    components(schemas(
        CollectionView,
        GetCollectionResponse,
        GetAllCollectionsResponse,
        CollectionIdResponse,
        CollectionRequest,
        FaceRequest,
        FaceResponse
    ))
)]
pub struct Doc;
