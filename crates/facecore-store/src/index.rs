//! In-memory 1:N search over a collection's faces, behind [`VectorIndex`] so
//! that an approximate index (or an external vector engine) can replace the
//! exact scan without touching the API layer.

use std::collections::HashMap;

use facecore_score::{QuantizedVectorSet, ScoreError};

/// A searchable set of face vectors keyed by face id.
pub trait VectorIndex: Send + Sync {
    /// Adds (or replaces) the vector of `face_id`.
    fn insert(&mut self, face_id: &str, vector: &[f32]) -> Result<(), ScoreError>;
    /// Removes `face_id`; returns whether it was there.
    fn remove(&mut self, face_id: &str) -> bool;
    /// The most similar face: `(face_id, cosine)`, `None` when empty.
    fn best(&self, query: &[f32]) -> Result<Option<(&str, f32)>, ScoreError>;
    /// Number of faces.
    fn len(&self) -> usize;
    /// Whether there are no faces.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Exact search: the scoring core's [`QuantizedVectorSet`], whose 8-bit
/// companion filters and whose exact rows score, so results are those of a
/// full `f32` scan at about a third of its time. Removal swaps the last row
/// into the hole.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    vectors: QuantizedVectorSet,
    ids: Vec<String>,
    rows: HashMap<String, usize>,
}

impl ExactIndex {
    /// An empty index of `dim`-dimensional vectors.
    pub fn new(dim: usize) -> Self {
        Self {
            vectors: QuantizedVectorSet::new(dim),
            ids: Vec::new(),
            rows: HashMap::new(),
        }
    }
}

impl VectorIndex for ExactIndex {
    fn insert(&mut self, face_id: &str, vector: &[f32]) -> Result<(), ScoreError> {
        self.remove(face_id);
        let row = self.vectors.push(vector)?;
        self.ids.push(face_id.to_string());
        self.rows.insert(face_id.to_string(), row);
        Ok(())
    }

    fn remove(&mut self, face_id: &str) -> bool {
        let Some(row) = self.rows.remove(face_id) else {
            return false;
        };
        self.vectors.swap_remove(row);
        self.ids.swap_remove(row);
        if let Some(moved) = self.ids.get(row) {
            self.rows.insert(moved.clone(), row);
        }
        true
    }

    fn best(&self, query: &[f32]) -> Result<Option<(&str, f32)>, ScoreError> {
        Ok(self
            .vectors
            .best_match(query)?
            .and_then(|(row, cosine)| self.ids.get(row).map(|id| (id.as_str(), cosine))))
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_follows_inserts_and_removes() {
        let mut index = ExactIndex::new(3);
        assert!(index.best(&[1.0, 0.0, 0.0]).expect("query").is_none());
        index.insert("a", &[1.0, 0.0, 0.0]).expect("a");
        index.insert("b", &[0.0, 1.0, 0.0]).expect("b");
        index.insert("c", &[0.0, 0.0, 1.0]).expect("c");
        assert_eq!(
            index.best(&[0.1, 0.9, 0.0]).expect("q").map(|m| m.0),
            Some("b")
        );
        assert!(index.remove("a"));
        assert!(!index.remove("a"));
        // "c" moved into row 0 and is still found by its id.
        assert_eq!(
            index.best(&[0.0, 0.1, 0.9]).expect("q").map(|m| m.0),
            Some("c")
        );
        assert_eq!(
            index.best(&[1.0, 0.0, 0.0]).expect("q").map(|m| m.0 == "a"),
            Some(false)
        );
        assert_eq!(index.len(), 2);
        assert!(index.insert("d", &[0.0, 0.0]).is_err(), "wrong dimension");
        assert_eq!(index.len(), 2);
    }
}
