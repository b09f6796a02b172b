//! 4-bit codes on a per-dimension grid: a cheap first ranking for scans
//! that are bound by memory bandwidth.
//!
//! An approximate index reads one short code per probed row, and at a
//! million faces that read is the whole cost of a query (the codes of the
//! probed lists do not fit any cache). [`Sq4Rows`] keeps each coordinate in
//! four bits, half the bytes of an 8-bit code, on a grid that each
//! dimension has learnt from data ([`Sq4Grid`]: coordinates along
//! principal directions have very different spreads, so one scale per row
//! would waste most of the sixteen levels on the narrow ones).
//!
//! The estimates are for *ranking* only: they carry no error bound, and
//! whoever uses them re-checks the best rows with finer codes or the exact
//! vectors.

#[cfg(target_arch = "x86_64")]
use crate::avx2;

/// Codes a dimension's grid has: `0..=15`.
const LEVELS: f32 = 15.0;

/// Dimensions packed per block: a block is 32 bytes, byte `j` holding the
/// code of dimension `j` in its low four bits and of dimension `j + 32`
/// in its high four bits (the layout the AVX2 kernel reads directly).
const BLOCK_DIMS: usize = 64;
/// Bytes per block.
const BLOCK_BYTES: usize = BLOCK_DIMS / 2;

/// Share of the training values left outside each end of a dimension's
/// grid: clipping the rare extremes buys finer steps for everything else
/// (for a normal spread this puts the ends near ±2.6 σ, close to the best
/// uniform 16-level grid).
const CLIP: f64 = 0.005;

/// Where a dimension's sixteen levels lie: code `c` stands for
/// `low + c · step`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sq4Grid {
    low: Vec<f32>,
    step: Vec<f32>,
}

impl Sq4Grid {
    /// Learns the grid of each dimension from `sample` (rows of `dim`
    /// values): the levels span the values between the 0.5% and 99.5%
    /// quantiles. A dimension with no spread gets a tiny step, so that
    /// every step is positive.
    ///
    /// # Panics
    ///
    /// When `dim` is 0 (a caller bug).
    pub fn train(sample: &[f32], dim: usize) -> Self {
        assert!(dim > 0, "Sq4Grid::train: zero dimension");
        let rows = sample.len() / dim;
        let mut low = Vec::with_capacity(dim);
        let mut step = Vec::with_capacity(dim);
        let mut column: Vec<f32> = Vec::with_capacity(rows);
        for d in 0..dim {
            column.clear();
            column.extend(
                sample
                    .chunks_exact(dim)
                    .map(|r| r[d])
                    .filter(|v| v.is_finite()),
            );
            let (lo, hi) = if column.is_empty() {
                (-1.0, 1.0)
            } else {
                column.sort_unstable_by(f32::total_cmp);
                let at = |q: f64| column[((column.len() - 1) as f64 * q).round() as usize];
                (at(CLIP), at(1.0 - CLIP))
            };
            low.push(lo);
            step.push(((hi - lo) / LEVELS).max(f32::MIN_POSITIVE * 1e6));
        }
        Self { low, step }
    }

    /// A grid from its parts (as saved by [`low`](Self::low) and
    /// [`step`](Self::step)).
    ///
    /// # Errors
    ///
    /// When the lengths differ or are zero, or a value is not finite, or a
    /// step is not positive.
    pub fn from_parts(low: Vec<f32>, step: Vec<f32>) -> Result<Self, String> {
        if low.is_empty() || low.len() != step.len() {
            return Err(format!(
                "grid of {} lows and {} steps",
                low.len(),
                step.len()
            ));
        }
        if !low.iter().chain(&step).all(|v| v.is_finite()) {
            return Err("a grid value is not finite".into());
        }
        if !step.iter().all(|&s| s > 0.0) {
            return Err("a grid step is not positive".into());
        }
        Ok(Self { low, step })
    }

    /// The dimension of the rows the grid codes.
    pub fn dim(&self) -> usize {
        self.low.len()
    }

    /// The value of code 0 in each dimension.
    pub fn low(&self) -> &[f32] {
        &self.low
    }

    /// The distance between two levels in each dimension.
    pub fn step(&self) -> &[f32] {
        &self.step
    }

    /// The packed codes of `row` (`dim` values; bytes as [`Sq4Rows`]
    /// stores them, `dim` rounded up to 64 over 2).
    ///
    /// # Panics
    ///
    /// When `row.len()` is not the grid's dimension (a caller bug).
    pub fn encode(&self, row: &[f32]) -> Vec<u8> {
        assert_eq!(row.len(), self.dim(), "Sq4Grid::encode: wrong dimension");
        let mut out = vec![0u8; packed_len(self.dim())];
        for (d, ((&v, &lo), &step)) in row.iter().zip(&self.low).zip(&self.step).enumerate() {
            // NaN maps to 0 (`as` saturates), like any value below the grid.
            let c = ((v - lo) / step).round().clamp(0.0, LEVELS) as u8;
            let (byte, shift) = slot(d);
            out[byte] |= c << shift;
        }
        out
    }

    /// Prepares `query` (`dim` values) for [`Sq4Rows::estimates`].
    ///
    /// # Panics
    ///
    /// When `query.len()` is not the grid's dimension (a caller bug).
    pub fn query(&self, query: &[f32]) -> Sq4Query {
        assert_eq!(query.len(), self.dim(), "Sq4Grid::query: wrong dimension");
        // q·x ≈ Σ q·low + Σ (q·step)·c: the first sum is the same for
        // every row, the second an integer dot once the weights are i8.
        let offset: f32 = query.iter().zip(&self.low).map(|(q, l)| q * l).sum();
        let weights: Vec<f32> = query.iter().zip(&self.step).map(|(q, s)| q * s).collect();
        let max = weights.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        let scale = if max > 0.0 && max.is_finite() {
            127.0 / max
        } else {
            0.0
        };
        // The kernel meets each block's 32 low nibbles with the block's
        // first 32 weights and its high nibbles with the next 32: with the
        // layout of `slot`, that is plain dimension order, padded with
        // zeros to whole blocks.
        let mut packed = vec![0i8; 2 * packed_len(self.dim())];
        for (p, &w) in packed.iter_mut().zip(&weights) {
            *p = (w * scale).round().clamp(-127.0, 127.0) as i8;
        }
        Sq4Query {
            weights: packed,
            unit: if scale > 0.0 { 1.0 / scale } else { 0.0 },
            offset,
        }
    }
}

/// Bytes of a packed row of `dim` codes.
fn packed_len(dim: usize) -> usize {
    dim.div_ceil(BLOCK_DIMS) * BLOCK_BYTES
}

/// The byte and bit shift of dimension `d`'s code in a packed row.
fn slot(d: usize) -> (usize, u8) {
    let block = d / BLOCK_DIMS;
    let within = d % BLOCK_DIMS;
    let shift = if within < BLOCK_BYTES { 0 } else { 4 };
    (block * BLOCK_BYTES + within % BLOCK_BYTES, shift)
}

/// A query ready for [`Sq4Rows::estimates`]: its weights per code as
/// `i8`, in the kernel's order, and what turns an integer dot back into an
/// estimate of the dot product.
#[derive(Debug, Clone)]
pub struct Sq4Query {
    /// Per block: the 32 weights of the low-nibble dimensions, then the 32
    /// of the high-nibble ones.
    weights: Vec<i8>,
    /// The value of one unit of the integer dot.
    unit: f32,
    /// `Σ query · low`, shared by every row.
    offset: f32,
}

/// Rows of 4-bit codes (see the module docs): `dim / 2` bytes per row,
/// `dim` rounded up to a multiple of 64, and nothing else.
#[derive(Debug, Clone, Default)]
pub struct Sq4Rows {
    /// Bytes per row.
    width: usize,
    codes: Vec<u8>,
}

impl Sq4Rows {
    /// No rows, of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        Self {
            width: packed_len(dim),
            codes: Vec::new(),
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.codes.len().checked_div(self.width).unwrap_or(0)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Heap bytes held (capacity, not just length).
    pub fn heap_bytes(&self) -> usize {
        self.codes.capacity()
    }

    /// Appends a row coded by [`Sq4Grid::encode`]; returns its row.
    ///
    /// # Panics
    ///
    /// When `packed` is not one row of this width (a caller bug).
    pub fn push(&mut self, packed: &[u8]) -> usize {
        assert_eq!(packed.len(), self.width, "Sq4Rows::push: wrong width");
        self.codes.extend_from_slice(packed);
        self.len() - 1
    }

    /// Removes row `row` by moving the last row into its place. Returns
    /// false when out of range.
    pub fn swap_remove(&mut self, row: usize) -> bool {
        crate::swap_remove_row(&mut self.codes, self.width, row)
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.codes.shrink_to_fit();
    }

    /// Asks the CPU to start loading the first `rows` rows (a scan of many
    /// short lists calls it for the next list, so that the hardware's
    /// stream of reads does not restart cold at every list). A hint only.
    pub fn prefetch(&self, rows: usize) {
        #[cfg(target_arch = "x86_64")]
        avx2::prefetch(&self.codes[..(rows * self.width).min(self.codes.len())]);
    }

    /// Appends to `out` the estimated dot product of `query` with every
    /// row, in row order.
    ///
    /// # Panics
    ///
    /// When the query was made for another dimension (a caller bug).
    pub fn estimates(&self, query: &Sq4Query, out: &mut Vec<f32>) {
        assert_eq!(
            query.weights.len(),
            2 * self.width,
            "Sq4Rows::estimates: wrong dimension"
        );
        let start = out.len();
        dots_u4(&query.weights, &self.codes, self.width, out);
        for e in &mut out[start..] {
            *e = query.offset + *e * query.unit;
        }
    }

    /// Appends `(row, estimate)` for the rows whose estimate (the value
    /// [`estimates`](Self::estimates) gives, bit for bit) is at least
    /// `cut`, in row order: what a scan that keeps only its best rows
    /// needs, without handling every estimate (at a million faces an
    /// index's short ranking keeps one row in hundreds).
    ///
    /// # Panics
    ///
    /// When the query was made for another dimension (a caller bug).
    pub fn estimates_above(&self, query: &Sq4Query, cut: f32, out: &mut Vec<(u32, f32)>) {
        assert_eq!(
            query.weights.len(),
            2 * self.width,
            "Sq4Rows::estimates_above: wrong dimension"
        );
        dots_u4_above(
            &query.weights,
            &self.codes,
            self.width,
            (query.offset, query.unit),
            cut,
            out,
        );
    }
}

/// Appends `(row, estimate)` for every packed row of `codes` whose
/// estimate `offset + dot · unit` is at least `cut`: the AVX2 kernel when
/// the CPU has it, the portable loop otherwise, with the same results.
fn dots_u4_above(
    weights: &[i8],
    codes: &[u8],
    width: usize,
    (offset, unit): (f32, f32),
    cut: f32,
    out: &mut Vec<(u32, f32)>,
) {
    if width == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        avx2::dots_u4_above(weights, codes, width, (offset, unit), cut, out);
        return;
    }
    dots_u4_above_portable(weights, codes, width, (offset, unit), cut, out);
}

/// [`dots_u4_above`] without SIMD.
fn dots_u4_above_portable(
    weights: &[i8],
    codes: &[u8],
    width: usize,
    (offset, unit): (f32, f32),
    cut: f32,
    out: &mut Vec<(u32, f32)>,
) {
    for (row, codes) in (0u32..).zip(codes.chunks_exact(width)) {
        let estimate = offset + dot_u4(weights, codes) as f32 * unit;
        if estimate >= cut {
            out.push((row, estimate));
        }
    }
}

/// Appends the integer dot of `weights` with every packed row of `codes`
/// (rows of `width` bytes), as `f32` (exact: the sums stay far below
/// 2^24): the AVX2 kernel when the CPU has it, the portable loop
/// otherwise, with the same results.
fn dots_u4(weights: &[i8], codes: &[u8], width: usize, out: &mut Vec<f32>) {
    if width == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        avx2::dots_u4(weights, codes, width, out);
        return;
    }
    out.extend(
        codes
            .chunks_exact(width)
            .map(|row| dot_u4(weights, row) as f32),
    );
}

/// The integer dot of one packed row with the weights, portable version.
fn dot_u4(weights: &[i8], row: &[u8]) -> i32 {
    let mut sum = 0i32;
    for (block, w) in row
        .chunks_exact(BLOCK_BYTES)
        .zip(weights.chunks_exact(BLOCK_DIMS))
    {
        let (low, high) = w.split_at(BLOCK_BYTES);
        for ((&b, &wl), &wh) in block.iter().zip(low).zip(high) {
            sum += i32::from(b & 0x0f) * i32::from(wl) + i32::from(b >> 4) * i32::from(wh);
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use facecore_score::dot;
    use facecore_score::test_rng::XorShift;

    fn rows(rng: &mut XorShift, n: usize, dim: usize) -> Vec<f32> {
        // Spreads that shrink with the dimension, like principal
        // coordinates (sums of uniforms: near enough to normal).
        (0..n * dim)
            .map(|i| {
                let g: f32 = (0..4).map(|_| rng.next_f32()).sum();
                g / (1.0 + (i % dim) as f32 / 8.0)
            })
            .collect()
    }

    #[test]
    fn estimates_track_the_dot_products() {
        let mut rng = XorShift(7);
        for dim in [64, 100, 128] {
            let sample = rows(&mut rng, 4000, dim);
            let grid = Sq4Grid::train(&sample, dim);
            let mut set = Sq4Rows::new(dim);
            for r in sample.chunks_exact(dim).take(500) {
                set.push(&grid.encode(r));
            }
            assert_eq!(set.len(), 500);
            let q = &rows(&mut rng, 1, dim);
            let mut est = Vec::new();
            set.estimates(&grid.query(q), &mut est);
            let truth: Vec<f32> = sample
                .chunks_exact(dim)
                .take(500)
                .map(|r| dot(q, r))
                .collect();
            // Close on average, and the ranking mostly kept.
            let spread = truth.iter().map(|t| t * t).sum::<f32>() / 500.0;
            let err = est
                .iter()
                .zip(&truth)
                .map(|(e, t)| (e - t) * (e - t))
                .sum::<f32>()
                / 500.0;
            assert!(err < 0.02 * spread, "dim {dim}: mse {err} vs {spread}");
            let best = |v: &[f32]| {
                (0..v.len())
                    .max_by(|&a, &b| v[a].total_cmp(&v[b]))
                    .unwrap_or(0)
            };
            let mut order: Vec<usize> = (0..500).collect();
            order.sort_by(|&a, &b| est[b].total_cmp(&est[a]));
            assert!(order[..10].contains(&best(&truth)), "dim {dim}");
        }
    }

    #[test]
    fn the_kernel_is_the_portable_loop() {
        let mut rng = XorShift(11);
        let dim = 192;
        let sample = rows(&mut rng, 300, dim);
        let grid = Sq4Grid::train(&sample, dim);
        let mut set = Sq4Rows::new(dim);
        for r in sample.chunks_exact(dim) {
            set.push(&grid.encode(r));
        }
        let q = grid.query(&rows(&mut rng, 1, dim));
        let mut fast = Vec::new();
        dots_u4(&q.weights, &set.codes, set.width, &mut fast);
        let slow: Vec<f32> = set
            .codes
            .chunks_exact(set.width)
            .map(|r| dot_u4(&q.weights, r) as f32)
            .collect();
        assert_eq!(fast, slow);
        // Extreme codes and weights do not overflow.
        let full = vec![0xffu8; set.width];
        let heavy = vec![-127i8; 2 * set.width];
        let mut out = Vec::new();
        dots_u4(&heavy, &full, set.width, &mut out);
        assert_eq!(out, vec![(-127 * 15 * dim as i32) as f32]);
    }

    #[test]
    fn rows_above_a_cut_are_the_estimates_that_reach_it() {
        let mut rng = XorShift(23);
        let dim = 128;
        let sample = rows(&mut rng, 400, dim);
        let grid = Sq4Grid::train(&sample, dim);
        let q = grid.query(&rows(&mut rng, 1, dim));
        // Every remainder of the four-row groups, and none.
        for n in [0, 1, 2, 3, 4, 5, 7, 250, 399] {
            let mut set = Sq4Rows::new(dim);
            for r in sample.chunks_exact(dim).take(n) {
                set.push(&grid.encode(r));
            }
            let mut all = Vec::new();
            set.estimates(&q, &mut all);
            let mut sorted = all.clone();
            sorted.sort_by(f32::total_cmp);
            let cuts = [
                f32::NEG_INFINITY,
                sorted.first().copied().unwrap_or(0.0),
                sorted.get(n / 2).copied().unwrap_or(0.0),
                sorted.last().copied().unwrap_or(0.0),
                f32::INFINITY,
            ];
            for cut in cuts {
                let want: Vec<(u32, f32)> = (0u32..)
                    .zip(all.iter().copied())
                    .filter(|&(_, e)| e >= cut)
                    .collect();
                let mut got = vec![(9, 9.0)];
                set.estimates_above(&q, cut, &mut got);
                assert_eq!(got[0], (9, 9.0), "appends");
                assert_eq!(got[1..], want[..], "{n} rows, cut {cut}");
                // The portable loop gives the same.
                let mut portable = Vec::new();
                let line = (q.offset, q.unit);
                dots_u4_above_portable(&q.weights, &set.codes, set.width, line, cut, &mut portable);
                assert_eq!(portable, want, "{n} rows, cut {cut}");
            }
        }
    }

    #[test]
    fn swap_remove_moves_the_last_row() {
        let grid =
            Sq4Grid::from_parts(vec![0.0; 64], vec![1.0; 64]).unwrap_or_else(|e| panic!("{e}"));
        let mut set = Sq4Rows::new(64);
        for v in 0..3 {
            set.push(&grid.encode(&[v as f32; 64]));
        }
        assert!(set.swap_remove(0));
        assert!(!set.swap_remove(2));
        let mut est = Vec::new();
        let mut q = vec![0.0; 64];
        q[0] = 1.0;
        set.estimates(&grid.query(&q), &mut est);
        assert_eq!(est, vec![2.0, 1.0]);
    }

    #[test]
    fn bad_grids_are_refused() {
        assert!(Sq4Grid::from_parts(vec![], vec![]).is_err());
        assert!(Sq4Grid::from_parts(vec![0.0], vec![0.0]).is_err());
        assert!(Sq4Grid::from_parts(vec![f32::NAN], vec![1.0]).is_err());
        assert!(Sq4Grid::from_parts(vec![0.0, 1.0], vec![1.0]).is_err());
    }
}
