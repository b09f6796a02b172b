//! Persons and their faces: created from a list of photos (each showing
//! exactly one face, refused with the index of the photo that does not),
//! listed in pages, read, renamed or given new metadata, deleted with
//! everything stored for them; faces added to and deleted from a person.
//! Every face keeps a 128-pixel JPEG thumbnail (the searches answer it),
//! not the original photo.

use facecore::collections::{
    Enrol, FacesToStore, NewPerson, OpenCollection, PersonChange, PersonRef, PreparedImage,
};
use facecore_wire::parse_json;
use hyper::StatusCode;

use super::wire::{
    AddFacesRequest, CreatePersonRequest, DeletedFace, DeletedPerson, EnrolledResponse,
    PersonsPage, UpdatePersonRequest, collection_name, decode_image, page, person_view, photos,
    required,
};
use super::{CallRequest, errors, open, param, query_collection, storage};
use crate::app::App;
use crate::error::ApiError;
use crate::http::response::{HttpResponse, json_response};

/// How an enrolment photo is stored: its one face, with a thumbnail.
fn enrolment() -> Enrol {
    Enrol {
        person: None,
        faces: FacesToStore::ExactlyOne,
        min_confidence: f32::NEG_INFINITY,
        keep_image: false,
        thumbnails: true,
    }
}

/// The photos of `faces_base_64`, decoded; a bad one is refused with its
/// index.
fn decoded(texts: Vec<String>) -> Result<Vec<Vec<u8>>, ApiError> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            decode_image(&format!("faces_base_64[{i}]"), text)
                .map_err(|e| ApiError::from(e).with_metadata("index", i.to_string()))
        })
        .collect()
}

/// Each photo's one face, detected and embedded on an inference worker in
/// turn; the first photo with no face, several or no image at all is
/// refused with its index, and nothing is stored.
async fn prepare(
    app: &App,
    target: &OpenCollection,
    images: Vec<Vec<u8>>,
) -> Result<Vec<PreparedImage>, ApiError> {
    let mut prepared = Vec::with_capacity(images.len());
    for (i, image) in images.into_iter().enumerate() {
        let collections = std::sync::Arc::clone(&app.collections);
        let engine = std::sync::Arc::clone(target.engine());
        let one = app
            .infer_on(engine, errors::from_error, move |engine| {
                collections.prepare(engine, &image, &enrolment())
            })
            .await
            .map_err(|mut e| {
                e.message = format!("faces_base_64[{i}]: {}", e.message);
                e.with_metadata("index", i.to_string())
            })?;
        prepared.push(one);
    }
    Ok(prepared)
}

/// `POST /persons`: a person with its faces, all stored in one transaction
/// (201 `{person_id, face_ids}`). The name must be free in the collection
/// (409), checked before any photo is looked at and again at the write.
pub async fn create(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let body: CreatePersonRequest = parse_json(&request.body)?;
    let collection = collection_name(body.collection_name)?;
    let name = required("person_name", body.person_name)?;
    let images = decoded(photos(body.faces_base_64)?)?;
    let person = NewPerson {
        name: Some(name),
        metadata: body.metadata.unwrap_or_default(),
    };
    let (account, checked, check) = (request.account.clone(), collection.clone(), person.clone());
    storage(app, move |c| c.check_new_person(&account, &checked, &check)).await?;
    let target = open(app, request, collection).await?;
    let prepared = prepare(app, &target, images).await?;
    let (person, faces) = storage(app, move |c| c.enrol_person(&target, person, prepared)).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &EnrolledResponse {
            person_id: person.person_id,
            face_ids: faces.into_iter().map(|f| f.stored.face_id).collect(),
        },
    ))
}

/// `POST /persons/{person_id}/faces`: more faces of an existing person, in
/// one transaction (201 `{person_id, face_ids}`).
pub async fn add_faces(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let body: AddFacesRequest = parse_json(&request.body)?;
    let collection = collection_name(body.collection_name)?;
    let person_id = param(request, 0);
    let images = decoded(photos(body.faces_base_64)?)?;
    let (account, checked, id) = (
        request.account.clone(),
        collection.clone(),
        person_id.clone(),
    );
    storage(app, move |c| c.person(&account, &checked, &id)).await?;
    let target = open(app, request, collection).await?;
    let prepared = prepare(app, &target, images).await?;
    let owner = PersonRef::Id(person_id.clone());
    let faces = storage(app, move |c| {
        c.enrol_prepared(&target, Some(owner), prepared)
    })
    .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &EnrolledResponse {
            person_id,
            face_ids: faces.into_iter().map(|f| f.stored.face_id).collect(),
        },
    ))
}

/// The ids of a person's faces.
fn face_ids(
    c: &facecore::collections::Collections,
    account: &str,
    collection: &str,
    person_id: &str,
) -> Result<Vec<String>, facecore::Error> {
    Ok(
        c.list_faces(account, collection, Some(person_id), 0, usize::MAX)?
            .faces
            .into_iter()
            .map(|f| f.face_id)
            .collect(),
    )
}

/// `GET /persons?collection_name=&offset=&limit=`: a page of persons in id
/// order, with the collection's total.
pub async fn list(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let collection = query_collection(request)?;
    let (offset, limit) = page(request.query.as_deref())?;
    let account = request.account.clone();
    let answer = storage(app, move |c| {
        let found = c.list_persons(&account, &collection, offset, limit)?;
        let mut persons = Vec::with_capacity(found.persons.len());
        for p in found.persons {
            let ids = face_ids(c, &account, &collection, &p.person_id)?;
            persons.push(person_view(p, ids));
        }
        Ok(PersonsPage {
            persons,
            total: found.total,
            offset,
            limit: limit as u64,
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &answer))
}

/// `GET /persons/{person_id}?collection_name=`.
pub async fn get(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let collection = query_collection(request)?;
    let (account, id) = (request.account.clone(), param(request, 0));
    let view = storage(app, move |c| {
        let person = c.person(&account, &collection, &id)?;
        let ids = face_ids(c, &account, &collection, &id)?;
        Ok(person_view(person, ids))
    })
    .await?;
    Ok(json_response(StatusCode::OK, &view))
}

/// `PUT /persons/{person_id}`: a new name and/or new metadata (replacing
/// the old as a whole); the fields left out stay.
pub async fn update(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let body: UpdatePersonRequest = parse_json(&request.body)?;
    let collection = collection_name(body.collection_name)?;
    let change = PersonChange {
        name: body.person_name,
        metadata: body.metadata,
    };
    let (account, id) = (request.account.clone(), param(request, 0));
    let view = storage(app, move |c| {
        c.get(&account, &collection)?;
        let person = c.update_person(&account, &collection, &id, change)?;
        let ids = face_ids(c, &account, &collection, &id)?;
        Ok(person_view(person, ids))
    })
    .await?;
    Ok(json_response(StatusCode::OK, &view))
}

/// `DELETE /persons/{person_id}?collection_name=`: the person with every
/// face and thumbnail of it.
pub async fn delete(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let collection = query_collection(request)?;
    let (account, id) = (request.account.clone(), param(request, 0));
    let person_id = id.clone();
    let removed = storage(app, move |c| c.delete_person(&account, &collection, &id)).await?;
    Ok(json_response(
        StatusCode::OK,
        &DeletedPerson {
            person_id,
            deleted_face_ids: removed.face_ids,
        },
    ))
}

/// `DELETE /persons/{person_id}/faces/{face_id}?collection_name=`: one face
/// of the person (404 when it is not one of theirs); the person stays.
pub async fn delete_face(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let collection = query_collection(request)?;
    let (account, person_id, face_id) = (
        request.account.clone(),
        param(request, 0),
        param(request, 1),
    );
    let (p, f) = (person_id.clone(), face_id.clone());
    storage(app, move |c| {
        c.delete_person_face(&account, &collection, &p, &f)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &DeletedFace { person_id, face_id },
    ))
}
