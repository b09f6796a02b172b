//! The CompreFace REST API (`compreface-rest-api.md`) under `/api/v1/`:
//! services' keys in `x-api-key`, subjects as the named persons of the
//! recognition service's collection, and CompreFace's error shape. Every
//! operation goes through the facade's
//! [`Collections`](facecore::collections::Collections).

pub mod errors;
mod examples;
mod faces;
pub mod input;
pub mod openapi;
mod subjects;

use facecore::store::ServiceKind;
use hyper::Method;

use super::{ApiCall, CallRequest};
use crate::app::App;
use crate::error::ApiError;
use crate::http::response::HttpResponse;
use crate::routes::Route;

/// The calls of this dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `POST /api/v1/recognition/subjects`
    AddSubject,
    /// `GET /api/v1/recognition/subjects`
    ListSubjects,
    /// `PUT /api/v1/recognition/subjects/{subject}`
    RenameSubject,
    /// `DELETE /api/v1/recognition/subjects/{subject}`
    DeleteSubject,
    /// `DELETE /api/v1/recognition/subjects`
    DeleteAllSubjects,
    /// `POST /api/v1/recognition/faces`
    AddExample,
    /// `GET /api/v1/recognition/faces`
    ListExamples,
    /// `DELETE /api/v1/recognition/faces?subject=`
    DeleteSubjectExamples,
    /// `DELETE /api/v1/recognition/faces/{image_id}`
    DeleteExample,
    /// `POST /api/v1/recognition/faces/delete`
    DeleteExamples,
    /// `GET /api/v1/recognition/faces/{image_id}/img`
    DownloadExample,
    /// `GET /api/v1/static/{api_key}/images/{image_id}`
    StaticImage,
    /// `POST /api/v1/recognition/recognize`
    Recognize,
    /// `POST /api/v1/recognition/faces/{image_id}/verify`
    VerifyWithExample,
    /// `POST /api/v1/recognition/embeddings/recognize`
    RecognizeEmbeddings,
    /// `POST /api/v1/recognition/embeddings/faces/{image_id}/verify`
    VerifyEmbeddingsWithExample,
    /// `POST /api/v1/detection/detect`
    Detect,
    /// `POST /api/v1/verification/verify`
    Verify,
    /// `POST /api/v1/verification/embeddings/verify`
    VerifyEmbeddings,
}

impl Call {
    /// The service type whose keys may make this call.
    pub fn service_kind(self) -> ServiceKind {
        match self {
            Self::Detect => ServiceKind::Detection,
            Self::Verify | Self::VerifyEmbeddings => ServiceKind::Verification,
            _ => ServiceKind::Recognition,
        }
    }

    /// Whether the key is the first segment of the path rather than the
    /// `x-api-key` header.
    pub fn key_in_path(self) -> bool {
        self == Self::StaticImage
    }
}

const fn route(method: Method, path: &'static str, call: Call) -> Route {
    Route::api(method, path, ApiCall::Compreface(call))
}

const SUBJECTS: &str = "/api/v1/recognition/subjects";

/// The dialect's routes.
pub const ROUTES: &[Route] = &[
    route(Method::POST, SUBJECTS, Call::AddSubject),
    route(Method::GET, SUBJECTS, Call::ListSubjects),
    route(Method::DELETE, SUBJECTS, Call::DeleteAllSubjects),
    route(
        Method::PUT,
        "/api/v1/recognition/subjects/{subject}",
        Call::RenameSubject,
    ),
    route(
        Method::DELETE,
        "/api/v1/recognition/subjects/{subject}",
        Call::DeleteSubject,
    ),
    route(Method::POST, FACES, Call::AddExample),
    route(Method::GET, FACES, Call::ListExamples),
    route(Method::DELETE, FACES, Call::DeleteSubjectExamples),
    route(
        Method::DELETE,
        "/api/v1/recognition/faces/{image_id}",
        Call::DeleteExample,
    ),
    route(
        Method::POST,
        "/api/v1/recognition/faces/delete",
        Call::DeleteExamples,
    ),
    route(
        Method::GET,
        "/api/v1/recognition/faces/{image_id}/img",
        Call::DownloadExample,
    ),
    route(
        Method::GET,
        "/api/v1/static/{api_key}/images/{image_id}",
        Call::StaticImage,
    ),
    route(
        Method::POST,
        "/api/v1/recognition/recognize",
        Call::Recognize,
    ),
    route(
        Method::POST,
        "/api/v1/recognition/faces/{image_id}/verify",
        Call::VerifyWithExample,
    ),
    route(
        Method::POST,
        "/api/v1/recognition/embeddings/recognize",
        Call::RecognizeEmbeddings,
    ),
    route(
        Method::POST,
        "/api/v1/recognition/embeddings/faces/{image_id}/verify",
        Call::VerifyEmbeddingsWithExample,
    ),
    route(Method::POST, "/api/v1/detection/detect", Call::Detect),
    route(Method::POST, "/api/v1/verification/verify", Call::Verify),
    route(
        Method::POST,
        "/api/v1/verification/embeddings/verify",
        Call::VerifyEmbeddings,
    ),
];

const FACES: &str = "/api/v1/recognition/faces";

/// Runs one call: the detection and verification services' on their own,
/// the recognition service's on its collection.
pub(crate) async fn handle(
    app: &App,
    call: Call,
    request: &CallRequest,
) -> Result<HttpResponse, ApiError> {
    let collection = || {
        request.collection.clone().ok_or_else(|| {
            ApiError::new(
                errors::SERVICE_NOT_FOUND,
                "this service has no face collection",
            )
        })
    };
    match call {
        // A wrong key in the link is an empty answer, as an unknown image.
        Call::StaticImage => match request.collection.clone() {
            Some(collection) => {
                let id = request.params.get(1).cloned().unwrap_or_default();
                examples::download(app, request, collection, id).await
            }
            None => Ok(crate::http::response::bytes_response(
                bytes::Bytes::new(),
                "application/octet-stream",
            )),
        },
        Call::Detect => faces::detect(app, request).await,
        Call::Verify => faces::verify(app, request).await,
        Call::VerifyEmbeddings => faces::verify_embeddings(app, request).await,
        Call::AddSubject => subjects::add(app, request, collection()?).await,
        Call::ListSubjects => subjects::list(app, request, collection()?).await,
        Call::RenameSubject => subjects::rename(app, request, collection()?).await,
        Call::DeleteSubject => subjects::delete(app, request, collection()?).await,
        Call::DeleteAllSubjects => subjects::delete_all(app, request, collection()?).await,
        Call::AddExample => examples::add(app, request, collection()?).await,
        Call::ListExamples => examples::list(app, request, collection()?).await,
        Call::DeleteSubjectExamples => {
            examples::delete_by_subject(app, request, collection()?).await
        }
        Call::DeleteExample => examples::delete_one(app, request, collection()?).await,
        Call::DeleteExamples => examples::delete_many(app, request, collection()?).await,
        Call::DownloadExample => {
            let id = request.params.first().cloned().unwrap_or_default();
            examples::download(app, request, collection()?, id).await
        }
        Call::Recognize => faces::recognize(app, request, collection()?).await,
        Call::VerifyWithExample => faces::verify_with_example(app, request, collection()?).await,
        Call::RecognizeEmbeddings => faces::recognize_embeddings(app, request, collection()?).await,
        Call::VerifyEmbeddingsWithExample => {
            faces::verify_embeddings_with_example(app, request, collection()?).await
        }
    }
}

/// The service's collection opened for face operations (checked before any
/// inference is spent).
async fn open(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<facecore::collections::OpenCollection, ApiError> {
    let (account, collections) = (request.account.clone(), app.collections.clone());
    app.storage_mapped(errors::from_error, move || {
        collections.open(&account, &collection)
    })
    .await
}

/// Renders an error in CompreFace's shape.
pub(crate) fn render_error(error: &ApiError, retry_after_secs: u32) -> HttpResponse {
    errors::render(error, retry_after_secs)
}
