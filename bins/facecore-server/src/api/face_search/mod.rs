//! The Face Search API (`face-search-api-third-party.md`): 1:N and N:N
//! search of a collection's persons, answered with their metadata and the
//! stored thumbnail of the matched face, and the enrolment the document
//! assumes (collections by name, persons with metadata and their faces),
//! all snake_case JSON with an account key in `x-api-key`.
//!
//! A `collection_name` is the account's collection of that id, the same
//! one the Face Recognition API calls `collectionId` (one namespace); a
//! person is a person of the data model, its faces its faces. Every
//! operation goes through the facade's
//! [`Collections`](facecore::collections::Collections).

mod collections;
pub mod errors;
pub mod liveness;
pub mod openapi;
mod persons;
mod search;
pub mod wire;

use hyper::Method;

use super::{ApiCall, CallRequest};
use crate::app::App;
use crate::error::ApiError;
use crate::http::response::HttpResponse;
use crate::routes::Route;

/// The calls of this dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `POST /face-search`
    FaceSearch,
    /// `POST /multi-face-search`
    MultiFaceSearch,
    /// `POST /collections`
    CreateCollection,
    /// `GET /collections`
    ListCollections,
    /// `DELETE /collections/{collection_name}`
    DeleteCollection,
    /// `POST /persons`
    CreatePerson,
    /// `GET /persons?collection_name=`
    ListPersons,
    /// `GET /persons/{person_id}?collection_name=`
    GetPerson,
    /// `PUT /persons/{person_id}`
    UpdatePerson,
    /// `DELETE /persons/{person_id}?collection_name=`
    DeletePerson,
    /// `POST /persons/{person_id}/faces`
    AddFaces,
    /// `DELETE /persons/{person_id}/faces/{face_id}?collection_name=`
    DeleteFace,
}

const fn route(method: Method, path: &'static str, call: Call) -> Route {
    Route::api(method, path, ApiCall::FaceSearch(call))
}

/// The dialect's routes. None of them is under `/v1/` (the Face
/// Verification and Recognition APIs) or `/api/v1/` (CompreFace's).
pub const ROUTES: &[Route] = &[
    route(Method::POST, "/face-search", Call::FaceSearch),
    route(Method::POST, "/multi-face-search", Call::MultiFaceSearch),
    route(Method::POST, "/collections", Call::CreateCollection),
    route(Method::GET, "/collections", Call::ListCollections),
    route(
        Method::DELETE,
        "/collections/{collection_name}",
        Call::DeleteCollection,
    ),
    route(Method::POST, "/persons", Call::CreatePerson),
    route(Method::GET, "/persons", Call::ListPersons),
    route(Method::GET, "/persons/{person_id}", Call::GetPerson),
    route(Method::PUT, "/persons/{person_id}", Call::UpdatePerson),
    route(Method::DELETE, "/persons/{person_id}", Call::DeletePerson),
    route(Method::POST, "/persons/{person_id}/faces", Call::AddFaces),
    route(
        Method::DELETE,
        "/persons/{person_id}/faces/{face_id}",
        Call::DeleteFace,
    ),
];

/// Runs one call.
pub(crate) async fn handle(
    app: &App,
    call: Call,
    request: &CallRequest,
) -> Result<HttpResponse, ApiError> {
    match call {
        Call::FaceSearch => search::one_face(app, request).await,
        Call::MultiFaceSearch => search::every_face(app, request).await,
        Call::CreateCollection => collections::create(app, request).await,
        Call::ListCollections => collections::list(app, request).await,
        Call::DeleteCollection => collections::delete(app, request).await,
        Call::CreatePerson => persons::create(app, request).await,
        Call::ListPersons => persons::list(app, request).await,
        Call::GetPerson => persons::get(app, request).await,
        Call::UpdatePerson => persons::update(app, request).await,
        Call::DeletePerson => persons::delete(app, request).await,
        Call::AddFaces => persons::add_faces(app, request).await,
        Call::DeleteFace => persons::delete_face(app, request).await,
    }
}

/// The `i`-th segment the route's template captured.
fn param(request: &CallRequest, i: usize) -> String {
    request.params.get(i).cloned().unwrap_or_default()
}

/// `collection_name` of the query string, which must be there.
fn query_collection(request: &CallRequest) -> Result<String, ApiError> {
    let name = facecore_wire::query_param(request.query.as_deref(), "collection_name");
    Ok(facecore_wire::face_search::collection_name(name)?)
}

/// Runs a collection operation with this dialect's error mapping.
async fn storage<T: Send + 'static>(
    app: &App,
    work: impl FnOnce(&facecore::collections::Collections) -> Result<T, facecore::Error>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    let collections = std::sync::Arc::clone(&app.collections);
    app.storage_mapped(errors::from_error, move || work(&collections))
        .await
}

/// The collection opened for face operations (404 before any inference).
async fn open(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<facecore::collections::OpenCollection, ApiError> {
    let account = request.account.clone();
    storage(app, move |c| c.open(&account, &collection)).await
}

/// Renders an error in this dialect's shape.
pub(crate) fn render_error(error: &ApiError, retry_after_secs: u32) -> HttpResponse {
    errors::render(error, retry_after_secs)
}
