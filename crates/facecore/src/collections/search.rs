//! 1:N search for the best `k` faces of a collection, each with the person
//! it belongs to (CompreFace's `prediction_count`), and for the best `k`
//! persons, each by its most similar face, with a threshold that can be a
//! false-match rate per search (the Face Search API's `max_results` and
//! `max_false_match_rate`).

use facecore_store::Person;
use facecore_store::index::VectorIndex;

use super::{Collections, FaceMatch, OpenCollection, poisoned};
use crate::{Embedding, Error, false_match};

/// What [`Collections::search_persons`] looks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersonSearch {
    /// Most persons returned.
    pub max_results: usize,
    /// Lowest calibrated score (0..=100, fractional: a 0..1 similarity
    /// times 100) of a match.
    pub min_score: f32,
    /// With a rate, the threshold also keeps the chance that a stranger
    /// matches anybody in this search at most that rate: the larger the
    /// collection, the higher the score it needs
    /// ([`false_match::min_score_for_rate`]). The stricter of the two
    /// thresholds applies.
    pub max_false_match_rate: Option<f64>,
}

/// What [`Collections::search_persons`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonSearchResult {
    /// One match per person (by its most similar face), best first; every
    /// one has its person.
    pub matches: Vec<PersonMatch>,
    /// The threshold applied (the stricter of the minimum score and the
    /// rate's), as a calibrated score.
    pub min_score: f32,
    /// Faces the query was compared with.
    pub comparisons: u64,
}

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
        let engine = &target.engine;
        Self::check_model(engine, embedding)?;
        let threshold = min_similarity.map(|s| engine.score_map().threshold(s));
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
                similarity: engine.similarity(cosine),
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

    /// The `search.max_results` persons of an opened collection whose most
    /// similar face is most similar to `embedding`, best first, each at
    /// least at the threshold `search` asks for. Faces that belong to no
    /// person (stored through the Face Recognition API in a shared
    /// collection) are not persons and are skipped. A rate the
    /// calibration cannot promise for this collection's size (or any rate
    /// on an uncalibrated model) is [`Error::Invalid`].
    pub fn search_persons(
        &self,
        target: &OpenCollection,
        embedding: &Embedding,
        search: &PersonSearch,
    ) -> Result<PersonSearchResult, Error> {
        let engine = &target.engine;
        Self::check_model(engine, embedding)?;
        let loaded = target.shared.read().map_err(poisoned)?;
        let comparisons = loaded.index.len() as u64;
        let mut min_score = search.min_score;
        if let Some(rate) = search.max_false_match_rate {
            if !engine.is_calibrated() {
                return Err(Error::Invalid {
                    field: "max_false_match_rate",
                    message: "this model has no calibration, so no score promises a rate".into(),
                });
            }
            min_score =
                min_score.max(false_match::min_score_for_rate(rate, comparisons)?.min_score);
        }
        let threshold = engine.score_map().threshold_f(min_score);
        let mut matches: Vec<PersonMatch> = Vec::new();
        if search.max_results == 0 || comparisons == 0 {
            return Ok(PersonSearchResult {
                matches,
                min_score,
                comparisons,
            });
        }
        // A person with many faces takes several places among the best
        // faces: widen the look until enough persons are found, the faces
        // fall below the threshold, or the collection is exhausted.
        let mut k = search.max_results.saturating_mul(4).max(16);
        loop {
            let found = loaded.index.top_k(&embedding.vector, k)?;
            let exhausted = found.len() < k || k as u64 >= comparisons;
            let faces: Vec<FaceMatch> = found
                .iter()
                .filter(|(_, cosine)| *cosine >= threshold)
                .map(|(face_id, cosine)| FaceMatch {
                    face_id: face_id.to_string(),
                    cosine: *cosine,
                    similarity: engine.similarity(*cosine),
                })
                .collect();
            let below = faces.len() < found.len();
            let ids: Vec<&str> = faces.iter().map(|f| f.face_id.as_str()).collect();
            let persons = self.store.face_persons(&target.account, &target.id, &ids)?;
            matches.clear();
            let mut seen = std::collections::HashSet::new();
            for (face, person) in faces.into_iter().zip(persons) {
                if let Some(person) = person
                    && seen.insert(person.person_id.clone())
                {
                    matches.push(PersonMatch {
                        face,
                        person: Some(person),
                    });
                }
            }
            if matches.len() >= search.max_results || exhausted || below {
                break;
            }
            k = k.saturating_mul(4);
        }
        drop(loaded);
        matches.truncate(search.max_results);
        Ok(PersonSearchResult {
            matches,
            min_score,
            comparisons,
        })
    }
}
