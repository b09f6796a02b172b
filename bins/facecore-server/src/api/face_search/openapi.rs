//! The OpenAPI paths and schemas of the Face Search API, merged into the
//! server's document by [`crate::openapi`]. Every call takes an account key
//! in `x-api-key` (the `face_search_key` scheme; `Authorization` works too)
//! and answers errors as [`FaceSearchError`].

#![allow(dead_code)]

use utoipa::OpenApi;

use super::errors::FaceSearchError;
use super::wire::{
    AddFacesRequest, CreateCollectionRequest, CreatePersonRequest, DeletedCollection, DeletedFace,
    DeletedPerson, EnrolledResponse, FaceSearchRequest, MultiFaceSearchRequest,
    MultiFaceSearchResponse, NamedCollection, NamedCollections, PersonView, PersonsPage,
    SearchMatch, UpdatePersonRequest,
};

/// Whether `path` is one of this dialect's (its errors are
/// [`FaceSearchError`]).
pub fn owns(path: &str) -> bool {
    [
        "/face-search",
        "/multi-face-search",
        "/collections",
        "/persons",
    ]
    .iter()
    .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// 1:N search: the dominant face of an image against a collection's persons.
#[utoipa::path(post, path = "/face-search", tag = "Face Search",
    request_body(content = FaceSearchRequest, example = json!({"collection_name": "MyCollection", "face_base_64": "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR42mNogAIGyhgAgIQgARDoahcAAAAASUVORK5CYII=", "min_similarity_score": 0.8, "max_results": 1, "check_liveness": false})),
    responses(
        (status = 200, description = "The persons matched, best first (empty when nobody reaches the threshold)", body = Vec<SearchMatch>),
        (status = 400, description = "ERR_FACE_NOT_DETECTED, ERR_BASE64_IMAGE_CANNOT_BE_DECODED, ERR_LIVENESS_ERROR (check_liveness: the face did not pass; metadata.code says which check, metadata.detail what it measured), ERR_VALIDATION (a field, or a max_false_match_rate the calibration cannot promise for this collection), ERR_MALFORMED_JSON, ERR_IMAGE_TOO_LARGE", body = FaceSearchError),
        (status = 404, description = "ERR_NOT_FOUND: no collection of this name", body = FaceSearchError),
        (status = 501, description = "ERR_LIVENESS_ERROR with metadata.code LIVENESS_NOT_AVAILABLE: check_liveness asked of a server whose models directory lacks the liveness models", body = FaceSearchError),
    ),
    security(("face_search_key" = []), ("api_key" = []), ("bearer" = [])))]
fn face_search() {}

/// N:N search: every face of an image against a collection's persons.
#[utoipa::path(post, path = "/multi-face-search", tag = "Face Search",
    request_body(content = MultiFaceSearchRequest, example = json!({"collection_name": "MyCollection", "multi_face_img_base_64": "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR42mNogAIGyhgAgIQgARDoahcAAAAASUVORK5CYII=", "min_similarity_score": 0.8})),
    responses(
        (status = 200, description = "The faces that matched somebody, and thumbnails of the others", body = MultiFaceSearchResponse),
        (status = 400, description = "ERR_FACE_NOT_DETECTED, ERR_BASE64_IMAGE_CANNOT_BE_DECODED, ERR_VALIDATION, ERR_MALFORMED_JSON, ERR_IMAGE_TOO_LARGE", body = FaceSearchError),
        (status = 404, description = "ERR_NOT_FOUND: no collection of this name", body = FaceSearchError),
    ),
    security(("face_search_key" = []), ("api_key" = []), ("bearer" = [])))]
fn multi_face_search() {}

/// Create a collection (the same collection the other APIs see by this id).
#[utoipa::path(post, path = "/collections", tag = "Face Search",
    request_body(content = CreateCollectionRequest, example = json!({"collection_name": "MyCollection", "description": "visitors"})),
    responses(
        (status = 201, description = "Created", body = NamedCollection),
        (status = 400, description = "ERR_VALIDATION, ERR_MALFORMED_JSON", body = FaceSearchError),
        (status = 409, description = "ERR_COLLECTION_ALREADY_EXISTS", body = FaceSearchError),
    ),
    security(("face_search_key" = []), ("api_key" = []), ("bearer" = [])))]
fn create_collection() {}

/// List the account's collections.
#[utoipa::path(get, path = "/collections", tag = "Face Search",
    responses(
        (status = 200, description = "The collections, by name", body = NamedCollections),
        (status = 400, description = "ERR_VALIDATION", body = FaceSearchError),
    ),
    security(("face_search_key" = []), ("api_key" = []), ("bearer" = [])))]
fn list_collections() {}

/// Delete a collection with all its persons, faces and thumbnails.
#[utoipa::path(delete, path = "/collections/{collection_name}", tag = "Face Search",
    params(("collection_name" = String, Path, description = "The collection", min_length = 1, max_length = 512, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$")),
    responses(
        (status = 200, description = "Deleted", body = DeletedCollection),
        (status = 400, description = "ERR_VALIDATION", body = FaceSearchError),
        (status = 404, description = "ERR_NOT_FOUND", body = FaceSearchError),
    ),
    security(("face_search_key" = []), ("api_key" = []), ("bearer" = [])))]
fn delete_collection() {}

/// Enrol a person from 1 to 10 photos, each showing exactly one face (all
/// stored, or none).
#[utoipa::path(post, path = "/persons", tag = "Face Search",
    request_body(content = CreatePersonRequest, example = json!({"collection_name": "MyCollection", "person_name": "Jane Doe", "metadata": {"employee_id": "4711"}, "faces_base_64": ["iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR42mNogAIGyhgAgIQgARDoahcAAAAASUVORK5CYII="]})),
    responses(
        (status = 201, description = "The person and its faces, one per photo", body = EnrolledResponse),
        (status = 400, description = "ERR_FACE_NOT_DETECTED or ERR_TOO_MANY_FACES or ERR_BASE64_IMAGE_CANNOT_BE_DECODED (metadata.index names the photo), ERR_VALIDATION, ERR_MALFORMED_JSON", body = FaceSearchError),
        (status = 404, description = "ERR_NOT_FOUND: no collection of this name", body = FaceSearchError),
        (status = 409, description = "ERR_PERSON_NAME_ALREADY_EXISTS", body = FaceSearchError),
    ),
    security(("face_search_key" = []), ("api_key" = []), ("bearer" = [])))]
fn create_person() {}

/// A page of a collection's persons.
#[utoipa::path(get, path = "/persons", tag = "Face Search",
    params(
        ("collection_name" = String, Query, description = "The collection", min_length = 1, max_length = 512, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
        ("offset" = Option<u64>, Query, description = "First person of the page (default 0)"),
        ("limit" = Option<u64>, Query, description = "Page size, 1 to 1000 (default 100)", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "The page", body = PersonsPage),
        (status = 400, description = "ERR_VALIDATION", body = FaceSearchError),
        (status = 404, description = "ERR_NOT_FOUND", body = FaceSearchError),
    ),
    security(("face_search_key" = []), ("api_key" = []), ("bearer" = [])))]
fn list_persons() {}

/// One person with its face ids.
#[utoipa::path(get, path = "/persons/{person_id}", tag = "Face Search",
    params(
        ("person_id" = String, Path, description = "The person"),
        ("collection_name" = String, Query, description = "The collection", min_length = 1, max_length = 512, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
    ),
    responses(
        (status = 200, description = "The person", body = PersonView),
        (status = 400, description = "ERR_VALIDATION", body = FaceSearchError),
        (status = 404, description = "ERR_NOT_FOUND", body = FaceSearchError),
    ),
    security(("face_search_key" = []), ("api_key" = []), ("bearer" = [])))]
fn get_person() {}

/// Rename a person and/or replace its metadata.
#[utoipa::path(put, path = "/persons/{person_id}", tag = "Face Search",
    params(("person_id" = String, Path, description = "The person")),
    request_body(content = UpdatePersonRequest, example = json!({"collection_name": "MyCollection", "person_name": "Jane Smith", "metadata": {"employee_id": "4711"}})),
    responses(
        (status = 200, description = "The person as it now is", body = PersonView),
        (status = 400, description = "ERR_VALIDATION, ERR_MALFORMED_JSON", body = FaceSearchError),
        (status = 404, description = "ERR_NOT_FOUND", body = FaceSearchError),
        (status = 409, description = "ERR_PERSON_NAME_ALREADY_EXISTS", body = FaceSearchError),
    ),
    security(("face_search_key" = []), ("api_key" = []), ("bearer" = [])))]
fn update_person() {}

/// Delete a person with all its faces and thumbnails.
#[utoipa::path(delete, path = "/persons/{person_id}", tag = "Face Search",
    params(
        ("person_id" = String, Path, description = "The person"),
        ("collection_name" = String, Query, description = "The collection", min_length = 1, max_length = 512, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
    ),
    responses(
        (status = 200, description = "Deleted", body = DeletedPerson),
        (status = 400, description = "ERR_VALIDATION", body = FaceSearchError),
        (status = 404, description = "ERR_NOT_FOUND", body = FaceSearchError),
    ),
    security(("face_search_key" = []), ("api_key" = []), ("bearer" = [])))]
fn delete_person() {}

/// Add faces to a person from 1 to 10 photos, each showing exactly one face.
#[utoipa::path(post, path = "/persons/{person_id}/faces", tag = "Face Search",
    params(("person_id" = String, Path, description = "The person")),
    request_body(content = AddFacesRequest, example = json!({"collection_name": "MyCollection", "faces_base_64": ["iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR42mNogAIGyhgAgIQgARDoahcAAAAASUVORK5CYII="]})),
    responses(
        (status = 201, description = "The new faces, one per photo", body = EnrolledResponse),
        (status = 400, description = "ERR_FACE_NOT_DETECTED or ERR_TOO_MANY_FACES or ERR_BASE64_IMAGE_CANNOT_BE_DECODED (metadata.index names the photo), ERR_VALIDATION", body = FaceSearchError),
        (status = 404, description = "ERR_NOT_FOUND", body = FaceSearchError),
    ),
    security(("face_search_key" = []), ("api_key" = []), ("bearer" = [])))]
fn add_faces() {}

/// Delete one face of a person (the person stays).
#[utoipa::path(delete, path = "/persons/{person_id}/faces/{face_id}", tag = "Face Search",
    params(
        ("person_id" = String, Path, description = "The person"),
        ("face_id" = String, Path, description = "One of its faces"),
        ("collection_name" = String, Query, description = "The collection", min_length = 1, max_length = 512, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"),
    ),
    responses(
        (status = 200, description = "Deleted", body = DeletedFace),
        (status = 400, description = "ERR_VALIDATION", body = FaceSearchError),
        (status = 404, description = "ERR_NOT_FOUND (also a face of another person)", body = FaceSearchError),
    ),
    security(("face_search_key" = []), ("api_key" = []), ("bearer" = [])))]
fn delete_face() {}

/// The dialect's part of the document.
#[derive(OpenApi)]
#[openapi(
    paths(face_search, multi_face_search, create_collection, list_collections,
        delete_collection, create_person, list_persons, get_person, update_person,
        delete_person, add_faces, delete_face),
    components(schemas(FaceSearchError, SearchMatch, MultiFaceSearchResponse, FaceSearchRequest,
        MultiFaceSearchRequest, CreateCollectionRequest, NamedCollection, NamedCollections,
        CreatePersonRequest, UpdatePersonRequest, AddFacesRequest, PersonView, PersonsPage,
        EnrolledResponse, DeletedPerson, DeletedFace, DeletedCollection)),
    tags((name = "Face Search", description = "1:N and N:N search of persons with metadata, and their enrolment (face-search-api-third-party.md)"))
)]
pub struct Doc;
