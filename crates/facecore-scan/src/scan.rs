//! 1:N scans: many dot products against one query, best match and top-k.
//!
//! The scan walks the rows strictly in memory order, one row at a time,
//! each with [`dot`]'s sixteen-lane kernel (plain Rust that LLVM
//! auto-vectorises for whatever the build targets: SSE2 on the default
//! x86-64 target, AVX2/FMA-width registers with `-C target-cpu=native`).
//! A gallery larger than the caches is bound by memory bandwidth, and
//! there a single sequential stream measured faster than interleaving
//! several rows (four rows at a time was ~40% slower at 100k × 512); in
//! cache the difference is small. Because every row goes through [`dot`]
//! itself, a scan's cosines are bit-identical to
//! [`cosine_unit`](facecore_score::cosine_unit) on the same (normalised)
//! vectors.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use facecore_score::{ScoreError, dot, l2_normalize};

use crate::{check_dim, unit_query};

/// Calls `f(i, dot(query, row_i))` for each complete row of `rows` (rows of
/// `query.len()` elements, row-major), in increasing `i`.
#[inline]
fn for_each_dot(query: &[f32], rows: &[f32], mut f: impl FnMut(usize, f32)) {
    let dim = query.len();
    if dim == 0 {
        return;
    }
    for (i, row) in rows.chunks_exact(dim).enumerate() {
        f(i, dot(query, row));
    }
}

/// Dot products of `query` with many rows: `out[i] = dot(query, row_i)`,
/// where row `i` is `rows[i * d..(i + 1) * d]` and `d = query.len()`.
///
/// Fills `min(out.len(), rows.len() / d)` entries (none if `query` is
/// empty) and leaves the rest of `out` untouched; lengths that do not match
/// are a caller bug, caught by `debug_assert!`. Each value is bit-identical
/// to [`dot`] on the same pair. No validation: for unit rows and a unit
/// query the results are cosines (clamp them with `clamp(-1.0, 1.0)` if
/// rounding above 1 matters).
pub fn dot_many(query: &[f32], rows: &[f32], out: &mut [f32]) {
    let dim = query.len();
    if dim == 0 {
        return;
    }
    debug_assert_eq!(rows.len() % dim, 0, "dot_many: rows not a multiple of dim");
    debug_assert_eq!(rows.len() / dim, out.len(), "dot_many: out length");
    let n = out.len().min(rows.len() / dim);
    let out = &mut out[..n];
    for_each_dot(query, &rows[..n * dim], |i, d| out[i] = d);
}

/// A growable set of unit vectors of one dimension, stored contiguously
/// (row-major, unpadded) for fast 1:N scans.
///
/// Vectors are validated and normalised on [`push`](VectorSet::push);
/// queries are validated and normalised by each scan, so the scores
/// returned are cosines in `[-1, 1]`, bit-identical to
/// [`cosine_unit`](facecore_score::cosine_unit) of the normalised query
/// and the stored row. Ties go to the lowest index.
///
/// ```
/// use facecore_scan::VectorSet;
///
/// let mut set = VectorSet::new(3);
/// assert_eq!(set.push(&[1.0, 0.0, 0.0])?, 0);
/// assert_eq!(set.push(&[0.0, 2.0, 0.0])?, 1);
/// assert_eq!(set.push(&[1.0, 1.0, 0.0])?, 2);
///
/// let (index, cosine) = set.best_match(&[0.0, 5.0, 0.1])?.expect("not empty");
/// assert_eq!(index, 1);
/// assert!(cosine > 0.99);
///
/// let top = set.top_k(&[1.0, 0.2, 0.0], 2)?;
/// assert_eq!(top.iter().map(|m| m.0).collect::<Vec<_>>(), [0, 2]);
/// # Ok::<(), facecore_score::ScoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VectorSet {
    /// Dimension of every vector.
    dim: usize,
    /// `len * dim` values, row-major.
    data: Vec<f32>,
}

impl VectorSet {
    /// An empty set of vectors of dimension `dim` (a set of dimension 0
    /// accepts no vectors).
    pub fn new(dim: usize) -> Self {
        Self::with_capacity(dim, 0)
    }

    /// An empty set with room for `capacity` vectors of dimension `dim`.
    pub fn with_capacity(dim: usize, capacity: usize) -> Self {
        Self {
            dim,
            data: Vec::with_capacity(dim.saturating_mul(capacity)),
        }
    }

    /// The dimension of the vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of vectors stored.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether the set holds no vectors.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The stored (unit-length) vector at `index`, if any.
    pub fn get(&self, index: usize) -> Option<&[f32]> {
        let start = index.checked_mul(self.dim)?;
        self.data.get(start..start.checked_add(self.dim)?)
    }

    /// All stored values, row-major (`len() * dim()` of them), e.g. for
    /// [`dot_many`].
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Removes all vectors, keeping the allocation.
    pub fn clear(&mut self) {
        self.data.clear();
    }

    /// Removes the vector at `index` in O(dim) by moving the last vector into
    /// its place (so the last vector's index becomes `index`). Returns false,
    /// changing nothing, when `index` is out of range.
    pub fn swap_remove(&mut self, index: usize) -> bool {
        crate::swap_remove_row(&mut self.data, self.dim, index)
    }

    /// Validates `v`, stores a unit-length copy and returns its index.
    ///
    /// Normalisation is done in `f64`, exactly as by
    /// [`normalized`](facecore_score::normalized).
    ///
    /// # Errors
    ///
    /// As [`validate`](facecore_score::validate) with `Some(self.dim())`; the set is
    /// unchanged on error.
    pub fn push(&mut self, v: &[f32]) -> Result<usize, ScoreError> {
        check_dim(v, self.dim)?;
        let index = self.len();
        let start = self.data.len();
        // Normalised where it will live; `l2_normalize` changes nothing on
        // error, and the copy is dropped again.
        self.data.extend_from_slice(v);
        if let Err(e) = l2_normalize(&mut self.data[start..]) {
            self.data.truncate(start);
            return Err(e);
        }
        Ok(index)
    }

    /// Validates `query` and returns a unit-length copy.
    fn unit_query(&self, query: &[f32]) -> Result<Vec<f32>, ScoreError> {
        unit_query(query, self.dim)
    }

    /// The stored vector most similar to `query`: `(index, cosine)`, or
    /// `None` if the set is empty. Ties go to the lowest index.
    ///
    /// # Errors
    ///
    /// As [`validate`](facecore_score::validate) of `query` with `Some(self.dim())`.
    pub fn best_match(&self, query: &[f32]) -> Result<Option<(usize, f32)>, ScoreError> {
        let q = self.unit_query(query)?;
        let mut best: Option<(usize, f32)> = None;
        let mut best_dot = f32::NEG_INFINITY;
        for_each_dot(&q, &self.data, |i, d| {
            if d > best_dot {
                best_dot = d;
                best = Some((i, d));
            }
        });
        Ok(best.map(|(i, d)| (i, d.clamp(-1.0, 1.0))))
    }

    /// The `k` stored vectors most similar to `query`, as `(index, cosine)`
    /// sorted by decreasing cosine, ties by increasing index. Returns fewer
    /// than `k` only when the set is smaller.
    ///
    /// # Errors
    ///
    /// As [`validate`](facecore_score::validate) of `query` with `Some(self.dim())`.
    pub fn top_k(&self, query: &[f32], k: usize) -> Result<Vec<(usize, f32)>, ScoreError> {
        let q = self.unit_query(query)?;
        let k = k.min(self.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        // Min-heap (by `Hit` order, best greatest) of the best k so far.
        let mut heap: BinaryHeap<std::cmp::Reverse<Hit>> = BinaryHeap::with_capacity(k + 1);
        let mut floor = f32::NEG_INFINITY;
        for_each_dot(&q, &self.data, |i, d| {
            // Later indices lose ties, so only a strictly better dot enters
            // a full heap.
            if heap.len() < k {
                heap.push(std::cmp::Reverse(Hit(i, d)));
                if heap.len() == k {
                    floor = heap.peek().map_or(f32::NEG_INFINITY, |h| h.0.1);
                }
            } else if d > floor {
                heap.pop();
                heap.push(std::cmp::Reverse(Hit(i, d)));
                floor = heap.peek().map_or(f32::NEG_INFINITY, |h| h.0.1);
            }
        });
        let mut hits: Vec<Hit> = heap.into_iter().map(|r| r.0).collect();
        hits.sort_unstable_by(|a, b| b.cmp(a));
        Ok(hits
            .into_iter()
            .map(|Hit(i, d)| (i, d.clamp(-1.0, 1.0)))
            .collect())
    }

    /// Cosines of `query` with every stored vector, in index order.
    ///
    /// # Errors
    ///
    /// As [`validate`](facecore_score::validate) of `query` with `Some(self.dim())`.
    pub fn cosines(&self, query: &[f32]) -> Result<Vec<f32>, ScoreError> {
        let q = self.unit_query(query)?;
        let mut out = vec![0.0; self.len()];
        dot_many(&q, &self.data, &mut out);
        for d in &mut out {
            *d = d.clamp(-1.0, 1.0);
        }
        Ok(out)
    }
}

/// A scan hit `(index, dot)`, ordered so that better is greater: higher dot,
/// then lower index. Dots are never NaN (validated unit vectors).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit(pub(crate) usize, pub(crate) f32);

impl PartialEq for Hit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Hit {}

impl PartialOrd for Hit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Hit {
    fn cmp(&self, other: &Self) -> Ordering {
        self.1
            .total_cmp(&other.1)
            .then_with(|| other.0.cmp(&self.0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use facecore_score::{EMBEDDING_DIM, cosine_unit, dot, normalized};

    use facecore_score::test_rng::XorShift;

    fn random_set(rng: &mut XorShift, dim: usize, n: usize) -> VectorSet {
        let mut set = VectorSet::with_capacity(dim, n);
        for i in 0..n {
            assert_eq!(set.push(&rng.vec(dim)).unwrap(), i);
        }
        set
    }

    /// Reference: cosine_unit of the normalised query against every row.
    fn reference(set: &VectorSet, query: &[f32]) -> Vec<f32> {
        let q = normalized(query).unwrap();
        (0..set.len())
            .map(|i| cosine_unit(&q, set.get(i).unwrap()))
            .collect()
    }

    #[test]
    fn swap_remove_moves_the_last_row_into_the_hole() {
        let mut rng = XorShift(11);
        let mut set = random_set(&mut rng, 4, 3);
        let last = set.get(2).unwrap().to_vec();
        let first = set.get(0).unwrap().to_vec();
        assert!(set.swap_remove(1));
        assert_eq!(set.len(), 2);
        assert_eq!(set.get(0).unwrap(), first.as_slice());
        assert_eq!(set.get(1).unwrap(), last.as_slice());
        assert!(!set.swap_remove(2));
        assert!(set.swap_remove(1));
        assert!(set.swap_remove(0));
        assert!(set.is_empty());
        assert!(!set.swap_remove(0));
    }

    #[test]
    fn dot_many_matches_dot_bitwise() {
        let mut rng = XorShift(5);
        for dim in [1usize, 3, 7, 8, 9, 15, 16, 17, 100, EMBEDDING_DIM] {
            for n in [0usize, 1, 3, 4, 5, 8, 13] {
                let q = rng.vec(dim);
                let rows = rng.vec(dim * n);
                let mut out = vec![f32::NAN; n];
                dot_many(&q, &rows, &mut out);
                for (i, &d) in out.iter().enumerate() {
                    let want = dot(&q, &rows[i * dim..(i + 1) * dim]);
                    assert_eq!(d.to_bits(), want.to_bits(), "dim={dim} n={n} i={i}");
                }
            }
        }
        // Empty query: nothing written.
        let mut out = [7.0f32; 2];
        dot_many(&[], &[1.0, 2.0], &mut out);
        assert_eq!(out, [7.0, 7.0]);
    }

    #[test]
    fn push_validates_and_normalises() {
        let mut set = VectorSet::new(4);
        assert!(set.is_empty());
        assert_eq!(set.push(&[3.0, 0.0, 4.0, 0.0]).unwrap(), 0);
        assert_eq!(set.get(0).unwrap(), &[0.6, 0.0, 0.8, 0.0]);
        assert_eq!(
            set.push(&[1.0; 3]),
            Err(ScoreError::WrongDimension {
                expected: 4,
                actual: 3
            })
        );
        assert_eq!(set.push(&[0.0; 4]), Err(ScoreError::ZeroNorm));
        assert_eq!(
            set.push(&[1.0, f32::NAN, 0.0, 0.0]),
            Err(ScoreError::NonFinite { index: 1 })
        );
        assert_eq!(set.push(&[]), Err(ScoreError::Empty));
        assert_eq!(set.len(), 1);
        assert_eq!(set.as_slice().len(), 4);
        assert_eq!(set.get(1), None);
        assert_eq!(set.get(usize::MAX), None);
        let v = [1.0f32, 2.0, -3.0, 0.5];
        set.push(&v).unwrap();
        assert_eq!(set.get(1).unwrap(), normalized(&v).unwrap().as_slice());
        set.clear();
        assert!(set.is_empty());
        assert_eq!(set.len(), 0);

        let mut zero = VectorSet::new(0);
        assert_eq!(zero.push(&[]), Err(ScoreError::Empty));
        assert_eq!(zero.len(), 0);
        assert_eq!(zero.best_match(&[]), Err(ScoreError::Empty));
    }

    #[test]
    fn empty_set_and_bad_queries() {
        let set = VectorSet::new(3);
        assert_eq!(set.best_match(&[1.0, 0.0, 0.0]), Ok(None));
        assert_eq!(set.top_k(&[1.0, 0.0, 0.0], 5), Ok(vec![]));
        assert_eq!(set.cosines(&[1.0, 0.0, 0.0]), Ok(vec![]));
        assert_eq!(set.best_match(&[0.0; 3]), Err(ScoreError::ZeroNorm));
        assert_eq!(
            set.top_k(&[1.0; 2], 1),
            Err(ScoreError::WrongDimension {
                expected: 3,
                actual: 2
            })
        );
    }

    #[test]
    fn scans_agree_with_reference() {
        let mut rng = XorShift(11);
        for (dim, n) in [
            (1usize, 9usize),
            (5, 1),
            (5, 6),
            (17, 31),
            (EMBEDDING_DIM, 203),
        ] {
            let set = random_set(&mut rng, dim, n);
            for _ in 0..5 {
                let q = rng.vec(dim);
                let want = reference(&set, &q);
                let got = set.cosines(&q).unwrap();
                assert_eq!(got.len(), n);
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!(g.to_bits(), w.to_bits());
                }

                let (bi, bc) = set.best_match(&q).unwrap().unwrap();
                let max = want.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                assert_eq!(bc, max);
                assert_eq!(bi, want.iter().position(|&c| c == max).unwrap());

                let mut order: Vec<(usize, f32)> = want.iter().copied().enumerate().collect();
                order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                for k in [0usize, 1, 2, 3, 10, n, n + 5] {
                    let top = set.top_k(&q, k).unwrap();
                    assert_eq!(top, order[..k.min(n)].to_vec(), "dim={dim} n={n} k={k}");
                }
            }
        }
    }

    #[test]
    fn ties_go_to_lowest_index() {
        let mut set = VectorSet::new(2);
        for v in [
            [0.0, 1.0],
            [1.0, 0.0],
            [2.0, 0.0],
            [0.0, -1.0],
            [3.0, 0.0],
            [1.0, 0.0],
        ] {
            set.push(&v).unwrap();
        }
        assert_eq!(set.best_match(&[1.0, 0.0]).unwrap(), Some((1, 1.0)));
        assert_eq!(
            set.top_k(&[1.0, 0.0], 3).unwrap(),
            vec![(1, 1.0), (2, 1.0), (4, 1.0)]
        );
        assert_eq!(
            set.top_k(&[1.0, 0.0], 5).unwrap(),
            vec![(1, 1.0), (2, 1.0), (4, 1.0), (5, 1.0), (0, 0.0)]
        );
        assert_eq!(set.best_match(&[0.0, -2.0]).unwrap(), Some((3, 1.0)));
    }

    #[test]
    fn hit_order() {
        assert!(Hit(0, 0.5) > Hit(1, 0.4));
        assert!(Hit(0, 0.5) > Hit(1, 0.5));
        assert!(Hit(2, 0.5) < Hit(1, 0.5));
        assert_eq!(Hit(1, 0.5), Hit(1, 0.5));
        assert_eq!(Hit(1, 0.5).partial_cmp(&Hit(1, 0.5)), Some(Ordering::Equal));
    }
}
