//! Subjects: the named persons of the recognition service's collection.

use std::sync::Arc;

use facecore::collections::{NewPerson, PersonChange};
use hyper::StatusCode;
use serde::{Deserialize, Serialize};

use super::{CallRequest, errors};
use crate::app::App;
use crate::error::ApiError;
use crate::http::response::{HttpResponse, json_response};

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

/// `POST /api/v1/recognition/subjects`: 201, or 400/43 when the name is taken in any case.
pub async fn add(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let (account, collections) = (request.account.clone(), Arc::clone(&app.collections));
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

/// `GET /api/v1/recognition/subjects`.
pub async fn list(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let (account, collections) = (request.account.clone(), Arc::clone(&app.collections));
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

/// `PUT /api/v1/recognition/subjects/{subject}`: the same name is "not updated"; onto another subject, a merge.
pub async fn rename(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let (account, collections) = (request.account.clone(), Arc::clone(&app.collections));
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

/// `DELETE /api/v1/recognition/subjects/{subject}`: answers the stored spelling; 404/42.
pub async fn delete(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let (account, collections) = (request.account.clone(), Arc::clone(&app.collections));
    let name = request.params.first().cloned().unwrap_or_default();
    let stored = app
        .storage_mapped(errors::from_error, move || {
            let Some(person) = collections.person_by_name(&account, &collection, &name)? else {
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

/// `DELETE /api/v1/recognition/subjects`: every subject and example.
pub async fn delete_all(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let (account, collections) = (request.account.clone(), Arc::clone(&app.collections));
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
