//! Subject examples: the faces of the recognition service's collection,
//! each stored with its subject (a named person) and, unless
//! `compreface_save_images` is off, its original image. CompreFace's
//! `image_id` is the face id.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use facecore::collections::{Collections, Enrol, FacesToStore, PersonRef, StoredFace};
use hyper::StatusCode;
use hyper::header::{self, HeaderValue};
use serde::Serialize;

use super::{CallRequest, errors, input};
use crate::app::App;
use crate::error::ApiError;
use crate::http::response::{HttpResponse, bytes_response, json_response};

/// One example as CompreFace lists and deletes them.
#[derive(Debug, Serialize)]
struct Example {
    image_id: String,
    subject: String,
}

/// Most examples on one page (Spring Data's cap).
const MAX_PAGE_SIZE: u64 = 2000;

fn image_not_found(id: &str) -> ApiError {
    ApiError::new(errors::IMAGE_NOT_FOUND, format!("Image {id} not found"))
}

/// The subject names of `faces`' persons.
fn subjects_of(
    collections: &Collections,
    account: &str,
    collection: &str,
    faces: &[StoredFace],
) -> Result<BTreeMap<String, String>, facecore::Error> {
    let mut names = BTreeMap::new();
    for person_id in faces.iter().filter_map(|f| f.person_id.as_deref()) {
        if !names.contains_key(person_id) {
            let person = collections.person(account, collection, person_id)?;
            names.insert(person_id.to_string(), person.name.unwrap_or_default());
        }
    }
    Ok(names)
}

fn examples(faces: Vec<StoredFace>, names: &BTreeMap<String, String>) -> Vec<Example> {
    faces
        .into_iter()
        .map(|f| Example {
            subject: f
                .person_id
                .as_ref()
                .and_then(|p| names.get(p).cloned())
                .unwrap_or_default(),
            image_id: f.face_id,
        })
        .collect()
}

/// `POST /api/v1/recognition/faces?subject=&det_prob_threshold=`: the one
/// face of the image stored for the subject (created when new). No face is
/// 400/28, two or more 400/31, and nothing is stored.
pub async fn add(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let subject = input::param(request, "subject").ok_or_else(|| {
        ApiError::new(
            errors::MISSING_PARAMETER,
            "Required parameter subject is missing",
        )
    })?;
    if subject.trim().is_empty() {
        return Err(ApiError::new(errors::INVALID, "Subject name is empty"));
    }
    if subject.chars().any(char::is_control) {
        return Err(ApiError::new(
            errors::INVALID,
            "Subject name must not contain control characters",
        ));
    }
    let min_confidence = input::det_prob_threshold(request)?;
    let image = input::images(request, &["file"])?.remove(0);
    let target = super::open(app, request, collection).await?;
    let collections = Arc::clone(&app.collections);
    let how = Enrol {
        person: Some(PersonRef::Named(subject.clone())),
        faces: FacesToStore::ExactlyOne,
        min_confidence,
        keep_image: app.config().compreface_save_images,
        thumbnails: false,
    };
    let enrolled = app
        .infer_mapped(errors::from_error, move |_| {
            collections.enrol(&target, &image, &how)
        })
        .await?;
    let face = enrolled
        .faces
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::new(errors::INTERNAL, "the example was not stored"))?;
    Ok(json_response(
        StatusCode::CREATED,
        &Example {
            image_id: face.stored.face_id,
            subject,
        },
    ))
}

/// `GET /api/v1/recognition/faces?page=&size=&subject=`.
pub async fn list(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let page = input::integer(request, "page", 0, 0)?;
    let size = match input::integer(request, "size", 20, 0)? {
        0 => 20,
        n => n.min(MAX_PAGE_SIZE),
    };
    let subject = input::param(request, "subject");
    let (account, collections) = (request.account.clone(), Arc::clone(&app.collections));
    let (faces, total) = app
        .storage_mapped(errors::from_error, move || {
            let person = match &subject {
                Some(name) => match collections.person_by_name(&account, &collection, name)? {
                    Some(p) => Some(p.person_id),
                    // An unknown subject has no examples (not a 404).
                    None => return Ok((Vec::new(), 0)),
                },
                None => None,
            };
            let offset = page.saturating_mul(size);
            let found = collections.list_faces(
                &account,
                &collection,
                person.as_deref(),
                offset,
                usize::try_from(size).unwrap_or(usize::MAX),
            )?;
            let names = subjects_of(&collections, &account, &collection, &found.faces)?;
            Ok((examples(found.faces, &names), found.total))
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "faces": faces,
            "page_number": page,
            "page_size": size,
            "total_pages": total.div_ceil(size),
            "total_elements": total,
        }),
    ))
}

/// `DELETE /api/v1/recognition/faces?subject=`: every example of the
/// subject, and the subject (as CompreFace does); an unknown subject
/// deletes nothing. Without a subject: 400/26 (CompreFace has no
/// "delete every example" here; `DELETE /subjects` is that).
pub async fn delete_by_subject(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let subject = input::param(request, "subject")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::new(errors::INVALID, "Subject name is empty"))?;
    let (account, collections) = (request.account.clone(), Arc::clone(&app.collections));
    let deleted = app
        .storage_mapped(errors::from_error, move || {
            match collections.person_by_name(&account, &collection, &subject)? {
                Some(person) => Ok(collections
                    .delete_person(&account, &collection, &person.person_id)?
                    .face_ids
                    .len()),
                None => Ok(0),
            }
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "deleted": deleted }),
    ))
}

/// Deletes the examples of `ids` that exist; the subjects stay, even when
/// left without examples (as CompreFace's do).
async fn delete_ids(
    app: &App,
    request: &CallRequest,
    collection: String,
    ids: Vec<String>,
) -> Result<Vec<Example>, ApiError> {
    let (account, collections) = (request.account.clone(), Arc::clone(&app.collections));
    app.storage_mapped(errors::from_error, move || {
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        // In the order asked for, each once (a repeated id is already gone
        // the second time); the persons stay, so their names can be read
        // after.
        let out = collections.delete_faces(&account, &collection, &refs, false)?;
        let names = subjects_of(&collections, &account, &collection, &out)?;
        Ok(examples(out, &names))
    })
    .await
}

/// `DELETE /api/v1/recognition/faces/{image_id}`: 404/44 when there is no
/// such example.
pub async fn delete_one(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let id = request.params.first().cloned().unwrap_or_default();
    let mut deleted = delete_ids(app, request, collection, vec![id.clone()]).await?;
    match deleted.pop() {
        Some(example) => Ok(json_response(StatusCode::OK, &example)),
        None => Err(image_not_found(&id)),
    }
}

/// `POST /api/v1/recognition/faces/delete` with a JSON array of ids: the
/// examples deleted, unknown ids skipped.
pub async fn delete_many(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let ids: Vec<String> = serde_json::from_slice(&request.body).map_err(|e| {
        ApiError::new(
            errors::UNDEFINED,
            format!("the body must be a JSON array of image ids: {e}"),
        )
    })?;
    if ids.len() > 10_000 {
        return Err(ApiError::new(
            errors::INVALID,
            format!("at most 10000 image ids per call, got {}", ids.len()),
        ));
    }
    let deleted = delete_ids(app, request, collection, ids).await?;
    Ok(json_response(StatusCode::OK, &deleted))
}

/// `GET .../faces/{image_id}/img` and `GET /api/v1/static/{key}/images/{image_id}`:
/// the stored original. An unknown example (or one stored without its
/// image) is an empty 200, as CompreFace answers.
pub async fn download(
    app: &App,
    request: &CallRequest,
    collection: String,
    id: String,
) -> Result<HttpResponse, ApiError> {
    let (account, collections) = (request.account.clone(), Arc::clone(&app.collections));
    let image = app
        .storage_mapped(errors::from_error, move || {
            collections.face_image(&account, &collection, &id)
        })
        .await?
        .unwrap_or_default();
    let content_type =
        facecore::image::sniff(&image).map_or("application/octet-stream", |f| match f {
            facecore::Format::Jpeg => "image/jpeg",
            facecore::Format::Png => "image/png",
            facecore::Format::Webp => "image/webp",
            facecore::Format::Gif => "image/gif",
            facecore::Format::Bmp => "image/bmp",
            facecore::Format::Tiff => "image/tiff",
            facecore::Format::Ico => "image/x-icon",
        });
    let mut response = bytes_response(Bytes::from(image), content_type);
    // A face is personal data: the browser may keep it, shared caches not.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(response)
}
