//! The dialect's types (parsed and validated in
//! [`facecore_wire::face_search`]) and the rendering of facade results in
//! them.

use facecore::collections::{Collection, Person};
use facecore::store::time::format_utc;

pub use facecore_wire::face_search::*;

/// A cosine as this API's `similarity_score`: the calibrated score / 100,
/// clamped to 0..1 and rounded to 5 decimals (0.8 = a false-match rate of
/// 1e-4 per comparison; the same photo gives 1).
pub fn similarity_score(engine: &facecore::Engine, cosine: f32) -> f64 {
    let score = f64::from(engine.score_map().score_f(cosine)) / 100.0;
    (score.clamp(0.0, 1.0) * 1e5).round() / 1e5
}

/// A collection as this API shows it.
pub fn collection_view(c: Collection) -> NamedCollection {
    NamedCollection {
        collection_name: c.collection_id,
        description: c.description,
        person_count: c.person_count,
        face_count: c.face_count,
        created_at: format_utc(c.created_at),
        updated_at: format_utc(c.updated_at),
        embedding_model: c.embedding_model.unwrap_or_default(),
    }
}

/// A person with the ids of its faces.
pub fn person_view(p: Person, face_ids: Vec<String>) -> PersonView {
    PersonView {
        person_id: p.person_id,
        person_name: p.name.unwrap_or_default(),
        metadata: p.metadata,
        face_ids,
        created_at: format_utc(p.created_at),
        updated_at: format_utc(p.updated_at),
    }
}
