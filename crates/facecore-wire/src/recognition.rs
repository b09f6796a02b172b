//! The Face Recognition API's bodies: collection create and update, face
//! index, search and search-or-index, and their answers.

use serde::{Deserialize, Serialize};

use crate::verification::DetectedFace;
use crate::{ImageInput, WireError};

/// Default `faceMatchThreshold`: score 80, a false-positive rate of 1e-4.
pub const DEFAULT_THRESHOLD: i64 = 80;
/// What the OpenAPI document says a collection id matches: 1 or more
/// characters, none of them a control character (Unicode `Cc`).
pub const COLLECTION_ID_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$";

/// Body of collection create and update.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CollectionRequest {
    /// Identifier of the collection: 1 to 512 characters, no control
    /// characters; any other text is fine (it is never a path or a query).
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            nullable = false,
            min_length = 1,
            max_length = 512,
            pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"
        )
    )]
    pub collection_id: Option<String>,
    /// Optional description, at most 1024 characters. On update, a missing
    /// `description` leaves it unchanged; `null` or `""` clears it.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, nullable = true, max_length = 1024)
    )]
    pub description: Option<Option<String>>,
}

impl CollectionRequest {
    /// The description to store on create (`null` and `""` are none).
    pub fn description_to_create(&self) -> Option<&str> {
        self.description
            .as_ref()
            .and_then(|d| d.as_deref())
            .filter(|d| !d.is_empty())
    }

    /// The description change of an update: `None` (field missing) leaves
    /// it unchanged, `Some("")` (`null` or `""`) clears it.
    pub fn description_to_update(&self) -> Option<&str> {
        self.description
            .as_ref()
            .map(|d| d.as_deref().unwrap_or(""))
    }
}

/// Deserialises a field that is there (even as `null`) as `Some`, so that a
/// missing field (`None`, through `#[serde(default)]`) can be told apart.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Body of face index, search and search-or-index.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FaceRequest {
    /// The image; only its dominant face is used.
    #[cfg_attr(feature = "openapi", schema(required = true, nullable = false))]
    pub image: Option<ImageInput>,
    /// The collection.
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            nullable = false,
            min_length = 1,
            max_length = 512,
            pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"
        )
    )]
    pub collection_id: Option<String>,
    /// Minimum similarity of a match, 0 to 100 (default 80 = FPR 1e-4).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100, default = 80))]
    #[serde(default, deserialize_with = "crate::whole_number")]
    pub face_match_threshold: Option<i64>,
}

impl FaceRequest {
    /// `faceMatchThreshold`, defaulted and range-checked.
    pub fn threshold(&self) -> Result<i32, WireError> {
        let t = self.face_match_threshold.unwrap_or(DEFAULT_THRESHOLD);
        i32::try_from(t)
            .ok()
            .filter(|t| (0..=100).contains(t))
            .ok_or_else(|| {
                WireError::Invalid(format!(
                    "faceMatchThreshold must be between 0 and 100, got {t}"
                ))
            })
    }
}

/// `collectionId` of a body, which must be there.
pub fn required_collection_id(value: Option<String>) -> Result<String, WireError> {
    value.ok_or_else(|| WireError::Invalid("collectionId is required".into()))
}

/// A collection as the API shows it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The embedding model (`id@version`) of its faces, fixed when it was
    /// created (an addition to the spec's fields; `GET /v1/models` lists
    /// the loaded models).
    pub embedding_model: String,
}

/// Answer of `GET /v1/collection/get`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetCollectionResponse {
    /// The collection.
    pub recognition_collection: CollectionView,
}

/// Answer of `GET /v1/collection/get-all`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetAllCollectionsResponse {
    /// The account's collections (may be empty).
    pub collections: Vec<CollectionView>,
}

/// Answer of create and update.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CollectionIdResponse {
    /// Identifier of the collection.
    pub collection_id: String,
}

/// Answer of index, search and search-or-index.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FaceResponse {
    /// The dominant face; `null` (never left out) when the image has none,
    /// with `hasFace: false`.
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
