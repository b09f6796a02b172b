//! The Face Recognition API (`face-recognition-api.md`): collections of the
//! calling account, and faces indexed into, searched in and deleted from
//! them. Every operation goes through the facade's
//! [`Collections`](facecore::collections::Collections).

pub mod openapi;
pub mod wire;

use facecore::collections::FaceOp;
use hyper::{Method, StatusCode};

use self::wire::{
    CollectionIdResponse, CollectionRequest, FaceRequest, GetAllCollectionsResponse,
    GetCollectionResponse,
};
use super::{ApiCall, CallRequest};
use crate::app::App;
use crate::error::ApiError;
use crate::http::response::{self, HttpResponse, json_response};
use crate::routes::Route;

/// The calls of this dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `GET /v1/collection/get`
    CollectionGet,
    /// `GET /v1/collection/get-all`
    CollectionGetAll,
    /// `POST /v1/collection/create`
    CollectionCreate,
    /// `PUT /v1/collection/update`
    CollectionUpdate,
    /// `DELETE /v1/collection/delete`
    CollectionDelete,
    /// `POST /v1/face/index`
    FaceIndex,
    /// `POST /v1/face/search`
    FaceSearch,
    /// `POST /v1/face/search-or-index`
    FaceSearchOrIndex,
    /// `DELETE /v1/face/delete`
    FaceDelete,
}

const fn route(method: Method, path: &'static str, call: Call) -> Route {
    Route::api(method, path, ApiCall::Recognition(call))
}

/// The dialect's routes.
pub const ROUTES: &[Route] = &[
    route(Method::GET, "/v1/collection/get", Call::CollectionGet),
    route(
        Method::GET,
        "/v1/collection/get-all",
        Call::CollectionGetAll,
    ),
    route(
        Method::POST,
        "/v1/collection/create",
        Call::CollectionCreate,
    ),
    route(Method::PUT, "/v1/collection/update", Call::CollectionUpdate),
    route(
        Method::DELETE,
        "/v1/collection/delete",
        Call::CollectionDelete,
    ),
    route(Method::POST, "/v1/face/index", Call::FaceIndex),
    route(Method::POST, "/v1/face/search", Call::FaceSearch),
    route(
        Method::POST,
        "/v1/face/search-or-index",
        Call::FaceSearchOrIndex,
    ),
    route(Method::DELETE, "/v1/face/delete", Call::FaceDelete),
];

/// Runs one call.
pub(crate) async fn handle(
    app: &App,
    call: Call,
    request: &CallRequest,
) -> Result<HttpResponse, ApiError> {
    let account = request.account.clone();
    let query = request.query.as_deref();
    let body = &request.body[..];
    let collections = app.collections.clone();
    match call {
        Call::CollectionGet => {
            let id = collection_id(Some(required_query(query, "collectionId")?))?;
            let found = app.storage(move || collections.get(&account, &id)).await?;
            Ok(json_response(
                StatusCode::OK,
                &GetCollectionResponse {
                    recognition_collection: wire::collection_view(&found),
                },
            ))
        }
        Call::CollectionGetAll => {
            let all = app.storage(move || collections.list(&account)).await?;
            Ok(json_response(
                StatusCode::OK,
                &GetAllCollectionsResponse {
                    collections: all.iter().map(wire::collection_view).collect(),
                },
            ))
        }
        Call::CollectionCreate | Call::CollectionUpdate => {
            let request: CollectionRequest = facecore_wire::parse_json(body)?;
            let create = call == Call::CollectionCreate;
            let description = if create {
                request.description_to_create()
            } else {
                request.description_to_update()
            }
            .map(str::to_string);
            let id = collection_id(request.collection_id)?;
            let key = id.clone();
            app.storage(move || {
                let description = description.as_deref();
                if create {
                    collections.create(&account, &key, description)
                } else {
                    collections.update(&account, &key, description)
                }
            })
            .await?;
            Ok(json_response(
                StatusCode::OK,
                &CollectionIdResponse { collection_id: id },
            ))
        }
        Call::CollectionDelete => {
            let id = collection_id(Some(required_query(query, "collectionId")?))?;
            app.storage(move || collections.delete_collection(&account, &id))
                .await?;
            Ok(empty())
        }
        Call::FaceDelete => {
            let id = collection_id(Some(required_query(query, "collectionId")?))?;
            let face_id = required_query(query, "faceId")?;
            app.storage(move || collections.delete_face(&account, &id, &face_id))
                .await?;
            Ok(empty())
        }
        Call::FaceIndex | Call::FaceSearch | Call::FaceSearchOrIndex => {
            face_call(app, account, body, call).await
        }
    }
}

/// Errors as `{"code", "message"}`.
pub(crate) fn render_error(error: &ApiError, retry_after_secs: u32) -> HttpResponse {
    response::error_response(error, retry_after_secs)
}

/// index, search and search-or-index: the collection is resolved before
/// any inference is spent (404 first), then the dominant face is embedded
/// on an inference worker, then the facade runs the operation in one store
/// transaction.
async fn face_call(
    app: &App,
    account: String,
    body: &[u8],
    call: Call,
) -> Result<HttpResponse, ApiError> {
    let request: FaceRequest = facecore_wire::parse_json(body)?;
    let min_similarity = request.threshold()?;
    let op = match call {
        Call::FaceIndex => FaceOp::Index,
        Call::FaceSearch => FaceOp::Search { min_similarity },
        _ => FaceOp::SearchOrIndex { min_similarity },
    };
    let id = collection_id(request.collection_id)?;
    let collections = app.collections.clone();
    let target = app.storage(move || collections.open(&account, &id)).await?;
    let bytes = app.image_bytes(request.image).await?;
    let engine = std::sync::Arc::clone(target.engine());
    let embeddings = app
        .infer_on(engine, ApiError::from_error, move |engine| {
            engine.embed(&bytes, 1)
        })
        .await?;
    let collections = app.collections.clone();
    let outcome = app
        .storage(move || collections.apply(&target, op, embeddings))
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &wire::face_response(&outcome, op),
    ))
}

/// `collectionId`, present (the facade checks its form).
fn collection_id(value: Option<String>) -> Result<String, ApiError> {
    Ok(facecore_wire::required_collection_id(value)?)
}

fn required_query(query: Option<&str>, name: &str) -> Result<String, ApiError> {
    Ok(facecore_wire::required_query(query, name)?)
}

fn empty() -> HttpResponse {
    json_response(StatusCode::OK, &serde_json::json!({}))
}
