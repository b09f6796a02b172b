//! The Face Recognition API's bodies and answers. They are defined in
//! `facecore-wire` (where the fuzz targets parse with exactly this code);
//! this module names them for the dialect and turns the facade's results
//! into them.

pub use facecore_wire::recognition::{
    COLLECTION_ID_PATTERN, CollectionIdResponse, CollectionRequest, CollectionView,
    DEFAULT_THRESHOLD, FaceRequest, FaceResponse, GetAllCollectionsResponse, GetCollectionResponse,
};

use facecore::collections::{FaceOp, FaceOutcome, ResultSource};
use facecore::store::{Collection, time::format_utc};

use crate::api::verification::wire::detected_face;

/// A collection as the API shows it.
pub fn collection_view(c: &Collection) -> CollectionView {
    CollectionView {
        collection_id: c.collection_id.clone(),
        description: c.description.clone(),
        created_at: format_utc(c.created_at),
        updated_at: format_utc(c.updated_at),
        face_count: c.face_count,
        embedding_model: c.embedding_model.clone().unwrap_or_default(),
    }
}

/// The answer of index, search and search-or-index: `resultSource` only for
/// search-or-index, `similarity` only when a search matched.
pub fn face_response(outcome: &FaceOutcome, op: FaceOp) -> FaceResponse {
    let result_source =
        matches!(op, FaceOp::SearchOrIndex { .. }).then_some(match outcome.source {
            ResultSource::None => "None",
            ResultSource::Search => "Search",
            ResultSource::Index => "Index",
        });
    FaceResponse {
        face: outcome
            .face
            .as_ref()
            .map(|f| detected_face(f, outcome.width, outcome.height, false)),
        face_id: outcome.face_id.clone(),
        has_face: outcome.face.is_some(),
        unprocessed_face_count: outcome.unprocessed,
        similarity: outcome.matched.as_ref().map(|m| m.similarity),
        result_source,
    }
}
