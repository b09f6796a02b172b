//! Exact 1:N search over an 8-bit companion of the vectors.
//!
//! A scan of full `f32` rows is bound by memory bandwidth (100k × 512 is
//! 205 MB per query). [`QuantizedVectorSet`] keeps, beside the exact rows
//! of a [`VectorSet`], a copy of every row scalar-quantised to `i8` with one
//! scale per row (a quarter of the bytes), and answers a query in two steps:
//!
//! 1. **Filter.** Integer dot products of the quantised query with every
//!    quantised row give an estimate of each cosine, and with it a
//!    *guaranteed* interval: the quantisation error of each row
//!    (`‖x − x̂‖`, measured once at insert) and of the query bound how far
//!    the estimate can be from the true cosine (Cauchy–Schwarz, plus a
//!    margin for `f32` rounding).
//! 2. **Re-score.** Only rows whose upper bound reaches the `k`-th best
//!    lower bound can be among the best `k`; those few are re-scored with
//!    [`dot`] on the exact rows.
//!
//! The answer is therefore *the same* as [`VectorSet::best_match`] and
//! [`VectorSet::top_k`] give (same rows, same order, bit-identical cosines,
//! ties to the lowest index): the quantisation only decides which rows
//! are worth an exact look, never the result.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;

use facecore_score::{ScoreError, dot};

#[cfg(target_arch = "x86_64")]
use crate::avx2;
use crate::scan::Hit;
use crate::{VectorSet, unit_query};

/// Largest quantised magnitude: codes lie in `-127..=127`, so the integer
/// dot of two 512-d rows (at most `512 × 127²`) fits an `i32` with room,
/// and the AVX2 kernel's pairwise 16-bit sums (`2 × 127²`) cannot saturate.
const Q_MAX: f32 = 127.0;

/// Margin added to every error bound for the `f32` rounding in the
/// estimate (products of three rounded factors) and in [`dot`] itself
/// (at most `d · u · Σ|qᵢxᵢ|` ≈ 3e-5 for unit 512-d rows). Generous on
/// purpose: a larger margin only re-scores a few more rows.
const ROUNDING_MARGIN: f32 = 2e-4;

/// A query quantised for [`Sq8Rows::estimates`]: `i8` codes with one
/// scale, and the quantisation error, so that estimates come with bounds.
#[derive(Debug, Clone)]
pub struct Sq8Query {
    /// `round(x · s)` with `s = 127 / max|x|`.
    codes: Vec<i8>,
    /// `1 / s`: multiplies an integer dot back to the `f32` scale.
    step: f32,
    /// `‖x − codes · step‖`, rounded up.
    error: f32,
}

impl Sq8Query {
    /// Quantises `unit`, a vector of length one (a query normalised by the
    /// caller; the bounds of [`Sq8Rows::bound`] assume unit length).
    pub fn new(unit: &[f32]) -> Self {
        quantise(unit)
    }

    /// The dimension of the query.
    pub fn dim(&self) -> usize {
        self.codes.len()
    }
}

/// Quantises a (unit) vector with a per-vector scale.
fn quantise(x: &[f32]) -> Sq8Query {
    let max = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if max == 0.0 {
        return Sq8Query {
            codes: vec![0; x.len()],
            step: 0.0,
            error: 0.0,
        };
    }
    let scale = Q_MAX / max;
    let step = max / Q_MAX;
    let mut error2 = 0.0f64;
    let codes = x
        .iter()
        .map(|&v| {
            let q = (v * scale).round().clamp(-Q_MAX, Q_MAX);
            let e = f64::from(v) - f64::from(q) * f64::from(step);
            error2 += e * e;
            q as i8
        })
        .collect();
    Sq8Query {
        codes,
        step,
        // Rounded up (relative 1e-6 ≫ the f64 → f32 rounding).
        error: (error2.sqrt() * (1.0 + 1e-6)) as f32,
    }
}

/// Integer dot product of two rows of codes, portable version.
///
/// Thirty-two independent `i32` lanes, each a widened `i8 × i8` product:
/// the shape that measured fastest on the default x86-64 target (SSE2).
/// Kept out of line on purpose: inlined into the scan loop, LLVM
/// vectorised it three times worse (measured 25 ms against 8 at
/// 100k × 512).
#[inline(never)]
fn dot_i8(query: &[i8], row: &[i8]) -> i32 {
    const W: usize = 32;
    let (cq, rq) = query.as_chunks::<W>();
    let (cr, rr) = row.as_chunks::<W>();
    let mut acc = [0i32; W];
    for (a, b) in cq.iter().zip(cr) {
        for j in 0..W {
            acc[j] += i32::from(a[j]) * i32::from(b[j]);
        }
    }
    let tail: i32 = rq
        .iter()
        .zip(rr)
        .map(|(&a, &b)| i32::from(a) * i32::from(b))
        .sum();
    acc.iter().sum::<i32>() + tail
}

/// Integer dots of `query` with every row of `codes` (rows of
/// `query.len()` codes), appended to `out`: the AVX2 kernel when the CPU
/// has it (checked at run time, so one binary serves every x86-64), the
/// portable one otherwise. Both give the same integers.
fn dots_i8(query: &[i8], codes: &[i8], out: &mut Vec<i32>) {
    let dim = query.len();
    if dim == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        avx2::dots(query, codes, out);
        return;
    }
    out.extend(codes.chunks_exact(dim).map(|row| dot_i8(query, row)));
}

/// The integer dot of one pair of rows, with the kernel [`dots_i8`] would
/// choose.
fn dot_i8_one(query: &[i8], row: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        return avx2::dot(query, row);
    }
    dot_i8(query, row)
}

/// Unit vectors scalar-quantised to `i8`, one scale per row, with each
/// row's quantisation error: an estimate of every cosine with a query, and
/// a guaranteed bound on how far each estimate can be from the truth.
///
/// This is the filter behind [`QuantizedVectorSet`], and the building block
/// for indexes that keep only codes in memory and fetch exact rows from
/// elsewhere (the row's bound tells which rows need an exact look).
/// `dim + 8` bytes per row.
#[derive(Debug, Clone, Default)]
pub struct Sq8Rows {
    dim: usize,
    /// `len * dim` codes, row-major.
    codes: Vec<i8>,
    /// Per row: the step that turns its codes back into values.
    steps: Vec<f32>,
    /// Per row: the quantisation error `‖x − x̂‖`, rounded up.
    errors: Vec<f32>,
}

impl Sq8Rows {
    /// No rows, of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        Self::with_capacity(dim, 0)
    }

    /// No rows, with room for `capacity` of dimension `dim`.
    pub fn with_capacity(dim: usize, capacity: usize) -> Self {
        Self {
            dim,
            codes: Vec::with_capacity(dim.saturating_mul(capacity)),
            steps: Vec::with_capacity(capacity),
            errors: Vec::with_capacity(capacity),
        }
    }

    /// The dimension of the rows.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Heap bytes held (capacity, not just length).
    pub fn heap_bytes(&self) -> usize {
        self.codes.capacity() + 4 * (self.steps.capacity() + self.errors.capacity())
    }

    /// Quantises and appends `unit`, which the caller has validated and
    /// normalised (the bounds assume length one); returns its row.
    ///
    /// # Panics
    ///
    /// When `unit.len()` is not the dimension (a caller bug).
    pub fn push(&mut self, unit: &[f32]) -> usize {
        assert_eq!(unit.len(), self.dim, "Sq8Rows::push: wrong dimension");
        let q = quantise(unit);
        self.codes.extend_from_slice(&q.codes);
        self.steps.push(q.step);
        self.errors.push(q.error);
        self.steps.len() - 1
    }

    /// Removes row `row` by moving the last row into its place. Returns
    /// false when out of range.
    pub fn swap_remove(&mut self, row: usize) -> bool {
        if row >= self.len() {
            return false;
        }
        crate::swap_remove_row(&mut self.codes, self.dim, row);
        self.steps.swap_remove(row);
        self.errors.swap_remove(row);
        true
    }

    /// Removes every row, keeping the allocations.
    pub fn clear(&mut self) {
        self.codes.clear();
        self.steps.clear();
        self.errors.clear();
    }

    /// Releases spare capacity (after a bulk load, where growth by
    /// doubling leaves up to half of each allocation unused).
    pub fn shrink_to_fit(&mut self) {
        self.codes.shrink_to_fit();
        self.steps.shrink_to_fit();
        self.errors.shrink_to_fit();
    }

    /// Appends to `out` the estimated cosine of `query` with every row, in
    /// row order.
    ///
    /// # Panics
    ///
    /// When the query's dimension is not the rows' (a caller bug).
    pub fn estimates(&self, query: &Sq8Query, out: &mut Vec<f32>) {
        self.estimates_of(query, 0..self.len(), out);
    }

    /// Appends to `out` the estimated cosine of `query` with the rows in
    /// `rows`, in row order (a slice of [`estimates`](Self::estimates), for
    /// scans split over threads).
    ///
    /// # Panics
    ///
    /// When the range goes past the last row or the query's dimension is
    /// not the rows' (caller bugs).
    pub fn estimates_of(&self, query: &Sq8Query, rows: Range<usize>, out: &mut Vec<f32>) {
        assert_eq!(query.dim(), self.dim, "Sq8Rows::estimates: wrong dimension");
        let codes = &self.codes[rows.start * self.dim..rows.end * self.dim];
        let mut dots = Vec::with_capacity(rows.len());
        dots_i8(&query.codes, codes, &mut dots);
        out.extend(
            dots.iter()
                .zip(&self.steps[rows])
                .map(|(&d, &step)| d as f32 * (query.step * step)),
        );
    }

    /// Asks the CPU to start loading row `row` (its codes, step and error)
    /// into the cache: a scan that visits rows in an order the hardware
    /// cannot predict calls it a few rows ahead. A hint only; a row out of
    /// range is ignored.
    pub fn prefetch(&self, row: usize) {
        #[cfg(target_arch = "x86_64")]
        if let Some(codes) = self.codes.get(row * self.dim..(row + 1) * self.dim) {
            avx2::prefetch(codes);
            avx2::prefetch(&self.steps[row..=row]);
            avx2::prefetch(&self.errors[row..=row]);
        }
    }

    /// The estimated cosine of `query` with row `row` alone.
    ///
    /// # Panics
    ///
    /// When `row` is out of range or the dimensions differ (caller bugs).
    pub fn estimate(&self, row: usize, query: &Sq8Query) -> f32 {
        assert_eq!(query.dim(), self.dim, "Sq8Rows::estimate: wrong dimension");
        let codes = &self.codes[row * self.dim..(row + 1) * self.dim];
        dot_i8_one(&query.codes, codes) as f32 * (query.step * self.steps[row])
    }

    /// How far the estimate of row `row` with `query` can be from the true
    /// cosine of the unit vectors they stand for: `‖x̂‖ ≤ 1 + ‖e_x‖` for a
    /// unit `x`, so `|cos − estimate| ≤ ‖e_x‖ + ‖e_q‖·(1 + ‖e_x‖)` plus a
    /// margin for `f32` rounding.
    ///
    /// # Panics
    ///
    /// When `row` is out of range.
    pub fn bound(&self, row: usize, query: &Sq8Query) -> f32 {
        let e = self.errors[row];
        e + query.error * (1.0 + e) + ROUNDING_MARGIN
    }
}

/// A [`VectorSet`] with an 8-bit companion for fast, exact 1:N search.
///
/// Costs `dim + 8` bytes per vector on top of the exact rows (520 bytes
/// for 512-d, +25%) and answers [`best_match`](Self::best_match) and
/// [`top_k`](Self::top_k) with exactly the results of the plain
/// [`VectorSet`] scans while reading about a quarter of the memory.
///
/// How: every row is also stored as `i8` codes with one scale
/// ([`Sq8Rows`]), and its quantisation error `‖x − x̂‖` is measured at
/// insert. A query is quantised the same way; integer dot products then
/// estimate every cosine within a bound that follows from Cauchy–Schwarz
/// (plus a margin for `f32` rounding). Only rows whose upper bound reaches
/// the `k`-th best lower bound can be in the answer, and only those are
/// re-scored with [`dot`] on the exact rows, so the quantisation decides
/// which rows get an exact look, never the result.
///
/// ```
/// use facecore_scan::QuantizedVectorSet;
///
/// let mut set = QuantizedVectorSet::new(3);
/// set.push(&[1.0, 0.0, 0.0])?;
/// set.push(&[0.0, 2.0, 0.0])?;
/// set.push(&[1.0, 1.0, 0.0])?;
/// let (index, cosine) = set.best_match(&[0.0, 5.0, 0.1])?.expect("not empty");
/// assert_eq!(index, 1);
/// assert_eq!(Some((index, cosine)), set.exact().best_match(&[0.0, 5.0, 0.1])?);
/// # Ok::<(), facecore_score::ScoreError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct QuantizedVectorSet {
    /// The exact unit rows: the source of every returned cosine.
    exact: VectorSet,
    /// Their 8-bit twins.
    codes: Sq8Rows,
}

impl QuantizedVectorSet {
    /// An empty set of vectors of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        Self::with_capacity(dim, 0)
    }

    /// An empty set with room for `capacity` vectors of dimension `dim`.
    pub fn with_capacity(dim: usize, capacity: usize) -> Self {
        Self {
            exact: VectorSet::with_capacity(dim, capacity),
            codes: Sq8Rows::with_capacity(dim, capacity),
        }
    }

    /// The exact rows, e.g. for a plain scan to compare against.
    pub fn exact(&self) -> &VectorSet {
        &self.exact
    }

    /// The dimension of the vectors.
    pub fn dim(&self) -> usize {
        self.exact.dim()
    }

    /// The number of vectors stored.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether the set holds no vectors.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The stored (unit-length, exact) vector at `index`, if any.
    pub fn get(&self, index: usize) -> Option<&[f32]> {
        self.exact.get(index)
    }

    /// Validates `v`, stores a unit-length copy (and its quantised twin) and
    /// returns its index.
    ///
    /// # Errors
    ///
    /// As [`VectorSet::push`]; the set is unchanged on error.
    pub fn push(&mut self, v: &[f32]) -> Result<usize, ScoreError> {
        let index = self.exact.push(v)?;
        let unit = self.exact.get(index).unwrap_or_default();
        self.codes.push(unit);
        Ok(index)
    }

    /// Removes the vector at `index` by moving the last one into its place,
    /// as [`VectorSet::swap_remove`]. Returns false when out of range.
    pub fn swap_remove(&mut self, index: usize) -> bool {
        if !self.exact.swap_remove(index) {
            return false;
        }
        self.codes.swap_remove(index)
    }

    /// Removes all vectors, keeping the allocations.
    pub fn clear(&mut self) {
        self.exact.clear();
        self.codes.clear();
    }

    /// The stored vector most similar to `query`: exactly
    /// [`VectorSet::best_match`] on the same vectors.
    ///
    /// # Errors
    ///
    /// As [`validate`](facecore_score::validate) of `query` with `Some(self.dim())`.
    pub fn best_match(&self, query: &[f32]) -> Result<Option<(usize, f32)>, ScoreError> {
        Ok(self.top_k(query, 1)?.into_iter().next())
    }

    /// The `k` stored vectors most similar to `query`: exactly
    /// [`VectorSet::top_k`] on the same vectors (same rows, same order,
    /// bit-identical cosines).
    ///
    /// # Errors
    ///
    /// As [`validate`](facecore_score::validate) of `query` with `Some(self.dim())`.
    pub fn top_k(&self, query: &[f32], k: usize) -> Result<Vec<(usize, f32)>, ScoreError> {
        self.top_k_split(query, k, |rows, scan| vec![scan(0..rows)])
    }

    /// [`top_k`](Self::top_k) with the filter pass split by the caller,
    /// e.g. over threads: `split(len, scan)` must call `scan` on ranges that
    /// together cover `0..len` once each, and return their parts in any
    /// order. The answer is the same however the rows are split.
    ///
    /// ```
    /// use facecore_scan::QuantizedVectorSet;
    ///
    /// let mut set = QuantizedVectorSet::new(2);
    /// for v in [[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]] {
    ///     set.push(&v)?;
    /// }
    /// let halves = set.top_k_split(&[0.1, 1.0], 2, |len, scan| {
    ///     vec![scan(0..len / 2), scan(len / 2..len)]
    /// })?;
    /// assert_eq!(halves, set.top_k(&[0.1, 1.0], 2)?);
    /// # Ok::<(), facecore_score::ScoreError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`validate`](facecore_score::validate) of `query` with `Some(self.dim())`.
    pub fn top_k_split<S>(
        &self,
        query: &[f32],
        k: usize,
        split: S,
    ) -> Result<Vec<(usize, f32)>, ScoreError>
    where
        S: FnOnce(usize, &(dyn Fn(Range<usize>) -> ScanPart + Sync)) -> Vec<ScanPart>,
    {
        let unit = unit_query(query, self.dim())?;
        let k = k.min(self.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        let q = Sq8Query::new(&unit);
        // Pass 1, per part: estimates, streaming the codes in memory order,
        // keeping the rows that can still reach the part's k-th best.
        let scan = |rows: Range<usize>| ScanPart::scan(&self.codes, &q, rows, k);
        let parts = split(self.len(), &scan);
        // Pass 2: the rows that can reach the top k overall, re-scored.
        let floor = ScanPart::floor(&parts, k);
        let mut hits: Vec<Hit> = parts
            .iter()
            .flat_map(|p| &p.rows)
            .filter(|&&(_, upper)| upper >= floor)
            .filter_map(|&(row, _)| self.exact.get(row).map(|x| Hit(row, dot(&unit, x))))
            .collect();
        hits.sort_unstable_by(|a, b| b.cmp(a));
        hits.truncate(k);
        Ok(hits
            .into_iter()
            .map(|Hit(row, d)| (row, d.clamp(-1.0, 1.0)))
            .collect())
    }
}

/// The filter pass of [`QuantizedVectorSet::top_k_split`] over one range
/// of rows: the rows whose upper bound reached the range's running `k`-th
/// best lower bound, and the range's `k` best lower bounds.
#[derive(Debug, Clone, Default)]
pub struct ScanPart {
    /// `(row, upper bound)` of every row kept.
    rows: Vec<(usize, f32)>,
    /// The best `k` lower bounds in the range (fewer when it is short).
    lows: Vec<f32>,
}

impl ScanPart {
    /// Estimates `rows` against `q` and keeps the rows that can be among
    /// the best `k` of the range.
    fn scan(codes: &Sq8Rows, q: &Sq8Query, rows: Range<usize>, k: usize) -> Self {
        let mut estimates = Vec::with_capacity(rows.len());
        codes.estimates_of(q, rows.clone(), &mut estimates);
        let mut lows: BinaryHeap<Reverse<Hit>> = BinaryHeap::with_capacity(k + 1);
        let mut kept = Vec::new();
        let mut floor = f32::NEG_INFINITY;
        for (row, est) in rows.zip(estimates) {
            let bound = codes.bound(row, q);
            let (low, upper) = (est - bound, est + bound);
            // `floor` is the k-th best lower bound seen so far, and only
            // rises: a row below it cannot be among the best k.
            if upper < floor {
                continue;
            }
            kept.push((row, upper));
            if lows.len() < k {
                lows.push(Reverse(Hit(row, low)));
            } else if lows.peek().is_some_and(|min| low > min.0.1) {
                lows.pop();
                lows.push(Reverse(Hit(row, low)));
            }
            if lows.len() == k {
                floor = lows.peek().map_or(floor, |min| min.0.1);
            }
        }
        Self {
            rows: kept,
            lows: lows.into_iter().map(|Reverse(Hit(_, low))| low).collect(),
        }
    }

    /// The `k`-th best lower bound over all parts (−∞ with fewer than `k`).
    fn floor(parts: &[Self], k: usize) -> f32 {
        let mut lows: Vec<f32> = parts.iter().flat_map(|p| p.lows.iter().copied()).collect();
        if lows.len() < k {
            return f32::NEG_INFINITY;
        }
        let (_, kth, _) = lows.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
        *kth
    }
}

/// The rows that can be among the best `k` given estimates and their
/// bounds: those whose upper bound (`estimate + bound`) reaches the `k`-th
/// best lower bound (`estimate − bound`). Re-scoring exactly these rows
/// and keeping the best `k` gives the exact top `k`. In row order.
pub fn candidates(estimates: &[f32], k: usize, bound: impl Fn(usize) -> f32) -> Vec<usize> {
    if k == 0 || estimates.is_empty() {
        return Vec::new();
    }
    let mut lows: BinaryHeap<Reverse<Hit>> = BinaryHeap::with_capacity(k + 1);
    for (row, &est) in estimates.iter().enumerate() {
        let low = est - bound(row);
        if lows.len() < k {
            lows.push(Reverse(Hit(row, low)));
        } else if lows.peek().is_some_and(|min| low > min.0.1) {
            lows.pop();
            lows.push(Reverse(Hit(row, low)));
        }
    }
    let floor = if lows.len() < k {
        f32::NEG_INFINITY
    } else {
        lows.peek().map_or(f32::NEG_INFINITY, |min| min.0.1)
    };
    estimates
        .iter()
        .enumerate()
        .filter(|&(row, &est)| est + bound(row) >= floor)
        .map(|(row, _)| row)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use facecore_score::EMBEDDING_DIM;
    use facecore_score::test_rng::XorShift;

    fn both(rng: &mut XorShift, dim: usize, n: usize) -> QuantizedVectorSet {
        let mut set = QuantizedVectorSet::with_capacity(dim, n);
        for i in 0..n {
            assert_eq!(set.push(&rng.vec(dim)).unwrap(), i);
        }
        set
    }

    #[test]
    fn integer_dot_is_exact() {
        let mut rng = XorShift(3);
        for n in [0usize, 1, 15, 16, 17, 33, EMBEDDING_DIM] {
            let a: Vec<i8> = (0..n).map(|_| (rng.next_f32() * 127.0) as i8).collect();
            let b: Vec<i8> = (0..n).map(|_| (rng.next_f32() * 127.0) as i8).collect();
            let want: i32 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum();
            assert_eq!(dot_i8(&a, &b), want, "n={n}");
        }
        let a = vec![127i8; EMBEDDING_DIM];
        let b = vec![-127i8; EMBEDDING_DIM];
        assert_eq!(dot_i8(&a, &b), -127 * 127 * EMBEDDING_DIM as i32);
    }

    #[test]
    fn dispatched_kernel_agrees_with_the_portable_one() {
        let mut rng = XorShift(11);
        for dim in [1usize, 31, 32, 33, 64, 100, EMBEDDING_DIM] {
            let q: Vec<i8> = (0..dim).map(|_| (rng.next_f32() * 127.0) as i8).collect();
            let mut rows: Vec<i8> = (0..dim * 9)
                .map(|_| (rng.next_f32() * 127.0) as i8)
                .collect();
            // Extremes: the largest products must not saturate.
            rows[..dim].fill(127);
            rows[dim..2 * dim].fill(-127);
            let mut got = Vec::new();
            dots_i8(&q, &rows, &mut got);
            let want: Vec<i32> = rows.chunks_exact(dim).map(|r| dot_i8(&q, r)).collect();
            assert_eq!(got, want, "dim={dim}");
        }
        let full = vec![-127i8; EMBEDDING_DIM];
        let mut got = Vec::new();
        dots_i8(&full, &full, &mut got);
        assert_eq!(got, [127 * 127 * EMBEDDING_DIM as i32]);
    }

    #[test]
    fn candidates_hold_the_exact_top_k() {
        // Estimates 0.5, 0.4, 0.45 with bound 0.03: row 1's upper bound
        // (0.43) is below row 0's lower bound (0.47), so k = 1 keeps rows 0
        // and 2 only.
        let est = [0.5f32, 0.4, 0.45];
        assert_eq!(candidates(&est, 1, |_| 0.03), vec![0, 2]);
        assert_eq!(candidates(&est, 5, |_| 0.03), vec![0, 1, 2]);
        assert!(candidates(&est, 0, |_| 0.03).is_empty());
        assert!(candidates(&[], 1, |_| 0.03).is_empty());
    }

    #[test]
    fn quantisation_error_is_measured_and_small() {
        let mut rng = XorShift(9);
        let v = facecore_score::normalized(&rng.vec(EMBEDDING_DIM)).unwrap();
        let q = quantise(&v);
        let recon: Vec<f32> = q.codes.iter().map(|&c| f32::from(c) * q.step).collect();
        let err = v
            .iter()
            .zip(&recon)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(f64::from(q.error) >= err);
        assert!(q.error < 0.01, "error {}", q.error);
        assert!(q.codes.iter().any(|&c| c.abs() == 127));
        let zero = quantise(&[0.0; 4]);
        assert_eq!((zero.step, zero.error), (0.0, 0.0));
    }

    #[test]
    fn same_answers_as_the_exact_scan() {
        let mut rng = XorShift(21);
        for (dim, n) in [(1usize, 7usize), (3, 50), (17, 300), (EMBEDDING_DIM, 2000)] {
            let set = both(&mut rng, dim, n);
            for _ in 0..10 {
                let q = rng.vec(dim);
                assert_eq!(
                    set.best_match(&q).unwrap(),
                    set.exact().best_match(&q).unwrap()
                );
                for k in [0usize, 1, 2, 10, n, n + 3] {
                    assert_eq!(
                        set.top_k(&q, k).unwrap(),
                        set.exact().top_k(&q, k).unwrap(),
                        "dim={dim} n={n} k={k}"
                    );
                }
            }
        }
    }

    #[test]
    fn split_scans_give_the_same_answers() {
        let mut rng = XorShift(33);
        for (dim, n) in [(3usize, 40usize), (EMBEDDING_DIM, 1500)] {
            let set = both(&mut rng, dim, n);
            // Halves, uneven thirds (one empty part) and single rows, in
            // reverse order: however the rows are cut, the answer holds.
            let halves = |len: usize, scan: &(dyn Fn(Range<usize>) -> ScanPart + Sync)| {
                vec![scan(len / 2..len), scan(0..len / 2)]
            };
            let thirds = |len: usize, scan: &(dyn Fn(Range<usize>) -> ScanPart + Sync)| {
                vec![scan(0..0), scan(len / 7..len), scan(0..len / 7)]
            };
            let singles = |len: usize, scan: &(dyn Fn(Range<usize>) -> ScanPart + Sync)| {
                (0..len).rev().map(|r| scan(r..r + 1)).collect()
            };
            for _ in 0..5 {
                let q = rng.vec(dim);
                for k in [1usize, 3, 25, n + 1] {
                    let want = set.exact().top_k(&q, k).unwrap();
                    assert_eq!(set.top_k_split(&q, k, halves).unwrap(), want);
                    assert_eq!(set.top_k_split(&q, k, thirds).unwrap(), want);
                    assert_eq!(set.top_k_split(&q, k, singles).unwrap(), want);
                }
            }
        }
    }

    #[test]
    fn near_duplicates_and_ties_resolve_like_the_exact_scan() {
        // Rows closer to each other than the quantisation step: the filter
        // cannot tell them apart, the exact re-score must.
        let mut rng = XorShift(5);
        let base = rng.vec(EMBEDDING_DIM);
        let mut set = QuantizedVectorSet::new(EMBEDDING_DIM);
        for i in 0..200 {
            let mut v = base.clone();
            v[i % EMBEDDING_DIM] += 1e-4 * (i as f32);
            set.push(&v).unwrap();
        }
        set.push(&base).unwrap();
        set.push(&base).unwrap(); // an exact tie: the lower index wins
        let got = set.top_k(&base, 5).unwrap();
        let q = Sq8Query::new(&facecore_score::normalized(&base).unwrap());
        let mut all = Vec::new();
        set.codes.estimates(&q, &mut all);
        for (row, &e) in all.iter().enumerate() {
            assert_eq!(set.codes.estimate(row, &q), e);
        }
        assert_eq!(got, set.exact().top_k(&base, 5).unwrap());
        assert_eq!(
            set.best_match(&base).unwrap(),
            set.exact().best_match(&base).unwrap()
        );
    }

    #[test]
    fn removal_keeps_rows_and_codes_in_step() {
        let mut rng = XorShift(8);
        let mut set = both(&mut rng, 16, 40);
        for index in [0usize, 39 - 1, 5, 5, 20] {
            assert!(set.swap_remove(index));
        }
        assert!(!set.swap_remove(set.len()));
        assert_eq!(set.len(), 35);
        assert_eq!(set.exact().len(), 35);
        for _ in 0..10 {
            let q = rng.vec(16);
            assert_eq!(set.top_k(&q, 3).unwrap(), set.exact().top_k(&q, 3).unwrap());
        }
        // Each row's codes still belong to it: a row is its own best match.
        for row in 0..set.len() {
            let v = set.get(row).unwrap().to_vec();
            assert_eq!(set.best_match(&v).unwrap().unwrap().0, row);
        }
        set.clear();
        assert!(set.is_empty());
        assert_eq!(set.best_match(&[1.0; 16]).unwrap(), None);
    }

    #[test]
    fn bad_queries_are_refused() {
        let set = both(&mut XorShift(1), 4, 3);
        assert_eq!(set.best_match(&[0.0; 4]), Err(ScoreError::ZeroNorm));
        assert_eq!(
            set.top_k(&[1.0; 3], 1),
            Err(ScoreError::WrongDimension {
                expected: 4,
                actual: 3
            })
        );
        assert_eq!(
            set.best_match(&[1.0, f32::NAN, 0.0, 0.0]),
            Err(ScoreError::NonFinite { index: 1 })
        );
    }
}
