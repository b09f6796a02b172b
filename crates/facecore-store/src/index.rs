//! In-memory 1:N search over a collection's faces, behind [`VectorIndex`] so
//! that an approximate index (or an external vector engine) can replace the
//! exact scan without touching the API layer.
//!
//! [`CollectionIndex`] is what collections use: exact search up to
//! [`EXACT_LIMIT`] faces, and beyond it the [`IvfIndex`]
//! (8-bit codes in memory, exact re-scoring from the store), switched
//! automatically.

use std::collections::HashMap;
use std::sync::Arc;

use facecore_scan::QuantizedVectorSet;
use facecore_score::ScoreError;
use rayon::prelude::*;

use crate::StoreError;
use crate::ivf::{ExactRows, IvfIndex, IvfParams, PARALLEL_ROWS};

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The query is not a usable embedding.
    #[error(transparent)]
    Score(#[from] ScoreError),
    /// The exact embeddings could not be read back from the store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A searchable set of face vectors keyed by face id.
pub trait VectorIndex: Send + Sync {
    /// Adds (or replaces) the vector of `face_id`.
    fn insert(&mut self, face_id: &str, vector: &[f32]) -> Result<(), ScoreError>;
    /// Removes `face_id`; returns whether it was there.
    fn remove(&mut self, face_id: &str) -> bool;
    /// The most similar face: `(face_id, cosine)`, `None` when empty.
    ///
    /// # Errors
    ///
    /// An invalid query, or a store that cannot be read.
    fn best(&self, query: &[f32]) -> Result<Option<(&str, f32)>, IndexError> {
        Ok(self.top_k(query, 1)?.into_iter().next())
    }
    /// The `k` most similar faces, best first (equal cosines in a stable
    /// order); fewer when the index holds fewer.
    ///
    /// # Errors
    ///
    /// An invalid query, or a store that cannot be read.
    fn top_k(&self, query: &[f32], k: usize) -> Result<Vec<(&str, f32)>, IndexError>;
    /// Number of faces.
    fn len(&self) -> usize;
    /// Whether there are no faces.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Exact search: facecore-scan's [`QuantizedVectorSet`], whose 8-bit
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

    fn top_k(&self, query: &[f32], k: usize) -> Result<Vec<(&str, f32)>, IndexError> {
        // A large set is filtered on every core, in one contiguous range of
        // rows each; the answer is the same as a single pass.
        let found = self.vectors.top_k_split(query, k, |len, scan| {
            let threads = rayon::current_num_threads();
            if len < PARALLEL_ROWS || threads < 2 {
                return vec![scan(0..len)];
            }
            let step = len.div_ceil(threads);
            (0..threads)
                .into_par_iter()
                .map(|i| scan((i * step).min(len)..((i + 1) * step).min(len)))
                .collect()
        })?;
        Ok(found
            .into_iter()
            .filter_map(|(row, cosine)| self.ids.get(row).map(|id| (id.as_str(), cosine)))
            .collect())
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

impl ExactIndex {
    /// Heap bytes held by the index (vectors, codes, ids and id map; an
    /// estimate that leaves out allocator overhead).
    pub fn heap_bytes(&self) -> usize {
        let dim = self.vectors.dim();
        let ids: usize = self.ids.iter().map(|id| 2 * id.capacity()).sum();
        let entry = std::mem::size_of::<(String, usize)>() + 1;
        self.ids.capacity() * (4 * dim + dim + 8 + std::mem::size_of::<String>())
            + ids
            + self.rows.capacity() * entry
    }

    /// The exact rows in insertion order (moved by removals), with ids.
    fn rows(&self) -> impl Iterator<Item = (&str, &[f32])> {
        self.ids
            .iter()
            .enumerate()
            .filter_map(|(row, id)| self.vectors.get(row).map(|v| (id.as_str(), v)))
    }
}

/// Largest collection searched exactly. Beyond it a collection switches to
/// the approximate [`IvfIndex`] (exact scores, 8-bit codes in memory); at
/// this size an exact search, split over the cores, takes about 1.9 ms
/// on the 2-core development machine (`docs/performance.md`).
pub const EXACT_LIMIT: usize = 50_000;

/// Most faces a list is trained on when a large collection is loaded.
pub(crate) const TRAINING_SAMPLE: usize = 200_000;

/// A collection's index: exact up to [`EXACT_LIMIT`] faces, an
/// [`IvfIndex`] beyond. A growing collection switches when an insert takes
/// it past the limit (trained on its faces then, in a few seconds at 50k,
/// while the caller holds the collection's write lock); a shrinking one
/// stays approximate until it is next loaded.
pub enum CollectionIndex {
    /// Every face in memory, exact `f32` and 8-bit, scanned in full.
    Exact {
        /// The index.
        index: ExactIndex,
        /// Where an approximate index will fetch exact rows from.
        rows: Arc<dyn ExactRows>,
    },
    /// Lists of 8-bit codes; exact rows fetched from the store (boxed:
    /// far larger than the exact variant's handles).
    Ivf(Box<IvfIndex>),
}

impl std::fmt::Debug for CollectionIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact { index, .. } => f.debug_tuple("Exact").field(&index.len()).finish(),
            Self::Ivf(ivf) => f.debug_tuple("Ivf").field(ivf).finish(),
        }
    }
}

impl CollectionIndex {
    /// Builds the index of `faces` (face id, embedding): exact when there
    /// are at most [`EXACT_LIMIT`], else an [`IvfIndex`] trained on (up to
    /// 200k of) them.
    ///
    /// # Errors
    ///
    /// When an embedding is invalid.
    pub fn build(
        dim: usize,
        faces: &[(&str, &[f32])],
        rows: Arc<dyn ExactRows>,
    ) -> Result<Self, ScoreError> {
        if faces.len() <= EXACT_LIMIT {
            let mut index = ExactIndex::new(dim);
            for (id, v) in faces {
                index.insert(id, v)?;
            }
            return Ok(Self::Exact { index, rows });
        }
        Ok(Self::Ivf(Box::new(train_ivf(dim, faces, rows)?)))
    }

    /// Whether searches are approximate (an [`IvfIndex`]).
    pub fn is_approximate(&self) -> bool {
        matches!(self, Self::Ivf(_))
    }

    /// Heap bytes of the search structures (see the variants' own).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Self::Exact { index, .. } => index.heap_bytes(),
            Self::Ivf(ivf) => ivf.heap_bytes(),
        }
    }
}

/// An IVF index over `faces` with the automatic list count, trained on an
/// evenly spread sample of them.
fn train_ivf(
    dim: usize,
    faces: &[(&str, &[f32])],
    rows: Arc<dyn ExactRows>,
) -> Result<IvfIndex, ScoreError> {
    let params = IvfParams {
        lists: IvfParams::auto_lists(faces.len()),
        ..IvfParams::default()
    };
    IvfIndex::build(dim, faces, params, TRAINING_SAMPLE, rows)
}

impl VectorIndex for CollectionIndex {
    fn insert(&mut self, face_id: &str, vector: &[f32]) -> Result<(), ScoreError> {
        match self {
            Self::Ivf(ivf) => ivf.insert(face_id, vector),
            Self::Exact { index, rows } => {
                index.insert(face_id, vector)?;
                if index.len() > EXACT_LIMIT {
                    let faces: Vec<(&str, &[f32])> = index.rows().collect();
                    let ivf = train_ivf(index.vectors.dim(), &faces, Arc::clone(rows))?;
                    *self = Self::Ivf(Box::new(ivf));
                }
                Ok(())
            }
        }
    }

    fn remove(&mut self, face_id: &str) -> bool {
        match self {
            Self::Exact { index, .. } => index.remove(face_id),
            Self::Ivf(ivf) => ivf.remove(face_id),
        }
    }

    fn top_k(&self, query: &[f32], k: usize) -> Result<Vec<(&str, f32)>, IndexError> {
        match self {
            Self::Exact { index, .. } => index.top_k(query, k),
            Self::Ivf(ivf) => ivf.top_k(query, k),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Exact { index, .. } => index.len(),
            Self::Ivf(ivf) => ivf.len(),
        }
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

    #[test]
    fn a_scan_split_over_threads_is_still_exact() {
        // More rows than PARALLEL_ROWS, on a pool of 3 threads so that the
        // rows are cut into uneven parts even on a 1-core runner.
        let dim = 64;
        let mut next = crate::tests::uniform(0x1234_5678_9abc_def0);
        let rows: Vec<Vec<f32>> = (0..PARALLEL_ROWS + 1001)
            .map(|_| (0..dim).map(|_| next()).collect())
            .collect();
        let mut index = ExactIndex::new(dim);
        let mut plain = facecore_scan::VectorSet::new(dim);
        for (i, v) in rows.iter().enumerate() {
            index.insert(&format!("f{i}"), v).expect("insert");
            plain.push(v).expect("push");
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("pool");
        // Stored rows (each its own best) and fresh vectors (a near tie
        // somewhere among 17k rows).
        let fresh: Vec<Vec<f32>> = (0..8).map(|_| (0..dim).map(|_| next()).collect()).collect();
        pool.install(|| {
            for q in rows.iter().step_by(2003).chain(&fresh) {
                let (row, cosine) = plain.best_match(q).expect("q").expect("rows");
                let expected = format!("f{row}");
                assert_eq!(index.best(q).expect("q"), Some((expected.as_str(), cosine)));
            }
        });
    }
}
