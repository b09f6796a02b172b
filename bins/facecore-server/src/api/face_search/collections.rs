//! `POST /collections`, `GET /collections`, `DELETE
//! /collections/{collection_name}`: the account's collections by name, the
//! same collections every API of the server sees.

use facecore_wire::parse_json;
use hyper::StatusCode;

use super::wire::{
    CreateCollectionRequest, DeletedCollection, NamedCollections, collection_name, collection_view,
};
use super::{CallRequest, errors, param, storage};
use crate::app::App;
use crate::error::ApiError;
use crate::http::response::{HttpResponse, json_response};

/// Creates a collection: 201 with it; 409 when the name is taken.
pub async fn create(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let body: CreateCollectionRequest = parse_json(&request.body)?;
    let name = collection_name(body.collection_name)?;
    let account = request.account.clone();
    let created = storage(app, move |c| {
        c.create(&account, &name, body.description.as_deref())
    })
    .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &collection_view(created),
    ))
}

/// The account's collections, by name.
pub async fn list(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let account = request.account.clone();
    let all = storage(app, move |c| c.list(&account)).await?;
    Ok(json_response(
        StatusCode::OK,
        &NamedCollections {
            collections: all.into_iter().map(collection_view).collect(),
        },
    ))
}

/// Deletes a collection with every person, face and thumbnail in it; 404
/// when there is none of that name.
pub async fn delete(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let name = collection_name(Some(param(request, 0)))?;
    let account = request.account.clone();
    let target = name.clone();
    let existed = storage(app, move |c| c.delete_collection(&account, &target)).await?;
    if !existed {
        return Err(ApiError::new(
            errors::NOT_FOUND,
            format!("no collection named '{name}'"),
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &DeletedCollection {
            collection_name: name,
        },
    ))
}
