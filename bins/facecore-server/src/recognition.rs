//! The Face Recognition API: collections and faces of the calling account.

use facecore::api::DetectedFace;
use facecore::collections::{FaceDetail, ResultSource};
use facecore::store::collections::{validate_collection_id, validate_description};
use facecore::store::{Collection, time::format_utc};
use hyper::StatusCode;
use serde::Serialize;

use crate::app::{App, HttpResponse, json_response};
use crate::error::{self, ApiError};
use crate::input::{self, CollectionRequest, FaceRequest};

pub use crate::input::{COLLECTION_ID_PATTERN, DEFAULT_THRESHOLD, query_param};

/// A collection as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionView {
    /// Identifier of the collection.
    pub collection_id: String,
    /// Optional description.
    pub description: Option<String>,
    /// UTC creation time, e.g. `2026-01-15T10:30:00Z`.
    pub created_at: String,
    /// UTC time of the last update.
    pub updated_at: String,
    /// Faces stored (an addition to the spec's fields).
    pub face_count: u64,
}

impl From<&Collection> for CollectionView {
    fn from(c: &Collection) -> Self {
        Self {
            collection_id: c.collection_id.clone(),
            description: c.description.clone(),
            created_at: format_utc(c.created_at),
            updated_at: format_utc(c.updated_at),
            face_count: c.face_count,
        }
    }
}

/// Answer of `GET /v1/collection/get`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetCollectionResponse {
    /// The collection.
    pub recognition_collection: CollectionView,
}

/// Answer of `GET /v1/collection/get-all`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GetAllCollectionsResponse {
    /// The account's collections (may be empty).
    pub collections: Vec<CollectionView>,
}

/// Answer of create and update.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionIdResponse {
    /// Identifier of the collection.
    pub collection_id: String,
}

/// Answer of index, search and search-or-index.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaceResponse {
    /// The dominant face, when there is one.
    pub face: Option<DetectedFace>,
    /// The matched or stored face id (`null` when none).
    pub face_id: Option<String>,
    /// Whether the image had a face.
    pub has_face: bool,
    /// Faces detected besides the dominant one.
    pub unprocessed_face_count: usize,
    /// The match's calibrated similarity (search results only; an addition
    /// to the spec's fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<i32>,
    /// `None`, `Search` or `Index` (search-or-index only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_source: Option<&'static str>,
}

/// Which face operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceOp {
    /// Store the face.
    Index,
    /// Find the best match.
    Search,
    /// Find, or store when not found, atomically.
    SearchOrIndex,
}

fn collection_id(value: Option<String>) -> Result<String, ApiError> {
    let id = input::required_collection_id(value)?;
    validate_collection_id(&id).map_err(|e| ApiError::from_store(&e))?;
    Ok(id)
}

fn required_query(query: Option<&str>, name: &str) -> Result<String, ApiError> {
    Ok(input::required_query(query, name)?)
}

fn empty() -> HttpResponse {
    json_response(StatusCode::OK, &serde_json::json!({}))
}

/// Runs a store or collection operation off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, facecore::Error> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::new(error::INTERNAL, format!("storage task failed: {e}")))?
        .map_err(|e| ApiError::from_engine(&e))
}

impl App {
    /// `GET /v1/collection/get?collectionId=`
    pub(crate) async fn collection_get(
        &self,
        account: &str,
        query: Option<&str>,
    ) -> Result<HttpResponse, ApiError> {
        let id = collection_id(Some(required_query(query, "collectionId")?))?;
        let (store, account_name, key) = (
            self.collections.store().clone(),
            account.to_string(),
            id.clone(),
        );
        let found = blocking(move || Ok(store.collection(&account_name, &key)?)).await?;
        let collection = found.ok_or_else(|| collection_not_found(&id))?;
        Ok(json_response(
            StatusCode::OK,
            &GetCollectionResponse {
                recognition_collection: CollectionView::from(&collection),
            },
        ))
    }

    /// `GET /v1/collection/get-all`
    pub(crate) async fn collection_get_all(&self, account: &str) -> Result<HttpResponse, ApiError> {
        let (store, account) = (self.collections.store().clone(), account.to_string());
        let all = blocking(move || Ok(store.list_collections(&account)?)).await?;
        Ok(json_response(
            StatusCode::OK,
            &GetAllCollectionsResponse {
                collections: all.iter().map(CollectionView::from).collect(),
            },
        ))
    }

    /// `POST /v1/collection/create` and `PUT /v1/collection/update`.
    pub(crate) async fn collection_write(
        &self,
        account: &str,
        body: &[u8],
        create: bool,
    ) -> Result<HttpResponse, ApiError> {
        let request: CollectionRequest = input::parse_json(body)?;
        let id = collection_id(request.collection_id)?;
        validate_description(request.description.as_deref())
            .map_err(|e| ApiError::from_store(&e))?;
        let (store, account, key) = (
            self.collections.store().clone(),
            account.to_string(),
            id.clone(),
        );
        let description = request.description;
        blocking(move || {
            if create {
                store.create_collection(&account, &key, description.as_deref())?;
            } else {
                store.update_collection(&account, &key, description.as_deref())?;
            }
            Ok(())
        })
        .await?;
        Ok(json_response(
            StatusCode::OK,
            &CollectionIdResponse { collection_id: id },
        ))
    }

    /// `DELETE /v1/collection/delete?collectionId=` (idempotent).
    pub(crate) async fn collection_delete(
        &self,
        account: &str,
        query: Option<&str>,
    ) -> Result<HttpResponse, ApiError> {
        let id = collection_id(Some(required_query(query, "collectionId")?))?;
        let (collections, account) = (self.collections.clone(), account.to_string());
        blocking(move || collections.delete_collection(&account, &id)).await?;
        Ok(empty())
    }

    /// `DELETE /v1/face/delete?collectionId=&faceId=`
    pub(crate) async fn face_delete(
        &self,
        account: &str,
        query: Option<&str>,
    ) -> Result<HttpResponse, ApiError> {
        let id = collection_id(Some(required_query(query, "collectionId")?))?;
        let face_id = required_query(query, "faceId")?;
        let (collections, account) = (self.collections.clone(), account.to_string());
        blocking(move || collections.delete_face(&account, &id, &face_id)).await?;
        Ok(empty())
    }

    /// `POST /v1/face/index`, `/v1/face/search` and `/v1/face/search-or-index`.
    pub(crate) async fn face_call(
        &self,
        account: &str,
        body: &[u8],
        op: FaceOp,
    ) -> Result<HttpResponse, ApiError> {
        let request: FaceRequest = input::parse_json(body)?;
        let threshold = request.threshold()?;
        let id = collection_id(request.collection_id)?;
        // A missing collection is 404 before any inference is spent.
        let (collections, account) = (self.collections.clone(), account.to_string());
        let (c, a, i) = (collections.clone(), account.clone(), id.clone());
        if !blocking(move || c.exists(&a, &i)).await? {
            return Err(collection_not_found(&id));
        }
        let bytes = self.image_bytes(request.image).await?;
        let embeddings = self.infer(move |engine| engine.embed(&bytes, 1)).await?;
        let Some(found) = embeddings.faces.into_iter().next() else {
            return Ok(json_response(
                StatusCode::OK,
                &FaceResponse {
                    face: None,
                    face_id: None,
                    has_face: false,
                    unprocessed_face_count: 0,
                    similarity: None,
                    result_source: (op == FaceOp::SearchOrIndex).then_some("None"),
                },
            ));
        };
        let face = DetectedFace::from_face(&found.face, embeddings.width, embeddings.height, false);
        let bb = face.bounding_box;
        let detail = FaceDetail {
            bounding_box: [bb.x, bb.y, bb.width, bb.height],
            confidence: face.confidence,
            source: None,
        };
        let embedding = found.embedding;
        let (face_id, similarity, source) = blocking(move || {
            Ok(match op {
                FaceOp::Index => {
                    let stored = collections.index(&account, &id, &embedding, detail)?;
                    (Some(stored.face_id), None, None)
                }
                FaceOp::Search => {
                    let matched = collections.search(&account, &id, &embedding, threshold)?;
                    let similarity = matched.as_ref().map(|m| m.similarity);
                    (matched.map(|m| m.face_id), similarity, None)
                }
                FaceOp::SearchOrIndex => {
                    let outcome = collections
                        .search_or_index(&account, &id, &embedding, threshold, detail)?;
                    let source = match outcome.source {
                        ResultSource::None => "None",
                        ResultSource::Search => "Search",
                        ResultSource::Index => "Index",
                    };
                    (
                        Some(outcome.face_id),
                        outcome.matched.map(|m| m.similarity),
                        Some(source),
                    )
                }
            })
        })
        .await?;
        Ok(json_response(
            StatusCode::OK,
            &FaceResponse {
                face: Some(face),
                face_id,
                has_face: true,
                unprocessed_face_count: embeddings.unprocessed,
                similarity,
                result_source: source,
            },
        ))
    }
}

fn collection_not_found(id: &str) -> ApiError {
    ApiError::new(
        error::COLLECTION_NOT_FOUND,
        format!("collection '{id}' does not exist"),
    )
}
