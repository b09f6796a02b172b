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

use facecore::collections::{NewPerson, PersonChange};
use facecore::store::ServiceKind;
use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::{ApiCall, CallRequest};
use crate::app::App;
use crate::error::ApiError;
use crate::http::response::{HttpResponse, json_response};
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

/// `{"subject": "..."}`: the body of add and rename (other fields, such as
/// the Python SDK's `api_endpoint`, are ignored, as CompreFace does).
#[derive(Debug, Deserialize)]
struct SubjectBody {
    subject: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct SubjectAnswer<'a> {
    subject: &'a str,
}

/// Longest subject name CompreFace accepts when creating or renaming one.
const MAX_SUBJECT_LEN: usize = 50;

/// The subject of a create or rename body, by CompreFace's rules: present,
/// not blank, at most 50 characters, none of `;`, `/`, `\`.
fn subject_of(body: &[u8]) -> Result<String, ApiError> {
    let parsed: SubjectBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            errors::UNDEFINED,
            format!("the body is not a JSON object with a subject: {e}"),
        )
    })?;
    let subject = match parsed.subject {
        Some(serde_json::Value::String(s)) => s,
        None | Some(serde_json::Value::Null) => {
            return Err(ApiError::new(
                errors::INVALID,
                "Subject name cannot be empty",
            ));
        }
        Some(other) => {
            return Err(ApiError::new(
                errors::INVALID,
                format!("subject must be a string, got {other}"),
            ));
        }
    };
    if subject.trim().is_empty() {
        return Err(ApiError::new(
            errors::INVALID,
            "Subject name cannot be empty",
        ));
    }
    if subject.chars().count() > MAX_SUBJECT_LEN {
        return Err(ApiError::new(
            errors::INVALID,
            "Subject name size must be between 1 and 50",
        ));
    }
    if subject.contains([';', '/', '\\']) || subject.chars().any(char::is_control) {
        return Err(ApiError::new(
            errors::BAD_NAME,
            "The name cannot contain the following special characters: ';', '/', '\\' (nor control characters)",
        ));
    }
    Ok(subject)
}

fn subject_not_found(name: &str) -> ApiError {
    ApiError::new(
        errors::SUBJECT_NOT_FOUND,
        format!("Subject {name} not found"),
    )
}

/// Runs one call for the recognition service's collection.
pub(crate) async fn handle(
    app: &App,
    call: Call,
    request: &CallRequest,
) -> Result<HttpResponse, ApiError> {
    if call == Call::StaticImage {
        return match request.collection.clone() {
            Some(collection) => {
                let id = request.params.get(1).cloned().unwrap_or_default();
                examples::download(app, request, collection, id).await
            }
            None => Ok(crate::http::response::bytes_response(
                bytes::Bytes::new(),
                "application/octet-stream",
            )),
        };
    }
    match call {
        Call::Detect => return faces::detect(app, request).await,
        Call::Verify => return faces::verify(app, request).await,
        Call::VerifyEmbeddings => return faces::verify_embeddings(app, request).await,
        _ => {}
    }
    let account = request.account.clone();
    let collection = request.collection.clone().ok_or_else(|| {
        ApiError::new(
            errors::SERVICE_NOT_FOUND,
            "this service has no face collection",
        )
    })?;
    let collections = app.collections.clone();
    match call {
        Call::AddExample => examples::add(app, request, collection).await,
        Call::ListExamples => examples::list(app, request, collection).await,
        Call::DeleteSubjectExamples => examples::delete_by_subject(app, request, collection).await,
        Call::DeleteExample => examples::delete_one(app, request, collection).await,
        Call::DeleteExamples => examples::delete_many(app, request, collection).await,
        Call::DownloadExample => {
            let id = request.params.first().cloned().unwrap_or_default();
            examples::download(app, request, collection, id).await
        }
        Call::Recognize => faces::recognize(app, request, collection).await,
        Call::VerifyWithExample => faces::verify_with_example(app, request, collection).await,
        Call::RecognizeEmbeddings => faces::recognize_embeddings(app, request, collection).await,
        Call::VerifyEmbeddingsWithExample => {
            faces::verify_embeddings_with_example(app, request, collection).await
        }
        Call::StaticImage | Call::Detect | Call::Verify | Call::VerifyEmbeddings => {
            unreachable!("answered above")
        }
        Call::AddSubject => {
            let subject = subject_of(&request.body)?;
            let name = subject.clone();
            app.storage_mapped(errors::from_error, move || {
                collections.create_person(
                    &account,
                    &collection,
                    NewPerson {
                        name: Some(name),
                        ..NewPerson::default()
                    },
                )
            })
            .await
            .map_err(|e| {
                if e.code == errors::SUBJECT_EXISTS {
                    ApiError::new(errors::SUBJECT_EXISTS, "Subject already exists")
                } else {
                    e
                }
            })?;
            Ok(json_response(
                StatusCode::CREATED,
                &SubjectAnswer { subject: &subject },
            ))
        }
        Call::ListSubjects => {
            let mut persons = app
                .storage_mapped(errors::from_error, move || {
                    collections
                        .list_persons(&account, &collection, 0, usize::MAX)
                        .map(|page| page.persons)
                })
                .await?;
            // CompreFace leaves the order to its database; ours is by
            // name, ignoring case, so that it is stable.
            persons.sort_by_cached_key(|p| p.name.as_deref().map(str::to_lowercase));
            let subjects: Vec<String> = persons.into_iter().filter_map(|p| p.name).collect();
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "subjects": subjects }),
            ))
        }
        Call::RenameSubject => {
            let old = request.params.first().cloned().unwrap_or_default();
            let new = subject_of(&request.body)?;
            if old == new {
                return Ok(json_response(
                    StatusCode::OK,
                    &serde_json::json!({ "updated": false }),
                ));
            }
            app.storage_mapped(errors::from_error, move || {
                let Some(from) = collections.person_by_name(&account, &collection, &old)? else {
                    return Ok(Err(subject_not_found(&old)));
                };
                match collections.person_by_name(&account, &collection, &new)? {
                    // Onto another subject: its examples move there and the
                    // target keeps its name.
                    Some(into) if into.person_id != from.person_id => {
                        collections.merge_persons(
                            &account,
                            &collection,
                            &from.person_id,
                            &into.person_id,
                        )?;
                    }
                    _ => {
                        collections.update_person(
                            &account,
                            &collection,
                            &from.person_id,
                            PersonChange {
                                name: Some(new),
                                ..PersonChange::default()
                            },
                        )?;
                    }
                }
                Ok(Ok(()))
            })
            .await??;
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "updated": true }),
            ))
        }
        Call::DeleteSubject => {
            let name = request.params.first().cloned().unwrap_or_default();
            let stored = app
                .storage_mapped(errors::from_error, move || {
                    let Some(person) = collections.person_by_name(&account, &collection, &name)?
                    else {
                        return Ok(Err(subject_not_found(&name)));
                    };
                    collections.delete_person(&account, &collection, &person.person_id)?;
                    Ok(Ok(person.name.unwrap_or(name)))
                })
                .await??;
            Ok(json_response(
                StatusCode::OK,
                &SubjectAnswer { subject: &stored },
            ))
        }
        Call::DeleteAllSubjects => {
            let removed = app
                .storage_mapped(errors::from_error, move || {
                    collections.clear(&account, &collection)
                })
                .await?;
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "deleted": removed.persons }),
            ))
        }
    }
}

/// Renders an error in CompreFace's shape.
pub(crate) fn render_error(error: &ApiError, retry_after_secs: u32) -> HttpResponse {
    errors::render(error, retry_after_secs)
}
