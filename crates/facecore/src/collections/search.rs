//! 1:N search for the best `k` faces of a collection, each with the person
//! it belongs to: CompreFace's `prediction_count` and the Face Search API's
//! `max_results`.

use facecore_store::Person;
use facecore_store::index::VectorIndex;

use super::{Collections, FaceMatch, OpenCollection, poisoned};
use crate::{Embedding, Error};

/// A face found by [`Collections::search_top`], with its person.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonMatch {
    /// The face, its cosine and calibrated similarity.
    pub face: FaceMatch,
    /// The person it belongs to, if any.
    pub person: Option<Person>,
}

impl Collections {
    /// The `k` faces of an opened collection most similar to `embedding`,
    /// best first, each with its person; with `min_similarity`, only those
    /// of at least that calibrated similarity (0..=100). A person with
    /// several faces can appear more than once: the ranking is of faces.
    pub fn search_top(
        &self,
        target: &OpenCollection,
        embedding: &Embedding,
        k: usize,
        min_similarity: Option<i32>,
    ) -> Result<Vec<PersonMatch>, Error> {
        self.check_model(embedding)?;
        let threshold = min_similarity.map(|s| self.engine.score_map().threshold(s));
        // The read lock is held until the persons are read: a delete holds
        // the write lock through its commit, so every face found is still
        // stored with the person it had.
        let loaded = target.shared.read().map_err(poisoned)?;
        let faces: Vec<FaceMatch> = loaded
            .index
            .top_k(&embedding.vector, k)?
            .into_iter()
            .filter(|(_, cosine)| threshold.is_none_or(|t| *cosine >= t))
            .map(|(face_id, cosine)| FaceMatch {
                face_id: face_id.to_string(),
                cosine,
                similarity: self.engine.similarity(cosine),
            })
            .collect();
        let ids: Vec<&str> = faces.iter().map(|f| f.face_id.as_str()).collect();
        let persons = self.store.face_persons(&target.account, &target.id, &ids)?;
        drop(loaded);
        Ok(faces
            .into_iter()
            .zip(persons)
            .map(|(face, person)| PersonMatch { face, person })
            .collect())
    }
}
