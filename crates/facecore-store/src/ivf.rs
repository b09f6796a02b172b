//! Approximate 1:N search for large collections: an inverted file (IVF) of
//! 8-bit codes, with exact re-scoring of the few rows that can win.
//!
//! # How it works
//!
//! * **Lists.** The vectors are split into `L` lists by spherical k-means
//!   (about `4·√n` lists, a few hundred faces each). Training is two-level
//!   so that it stays cheap at a million faces: `√L` coarse centroids, then
//!   within each coarse group as many fine centroids as its share of the
//!   data. A face belongs to the list of its nearest fine centroid among
//!   the groups of its few nearest coarse centroids: nearly always its
//!   nearest fine centroid overall, which is what a search ranks lists by.
//! * **Memory.** Each list keeps only its faces' [`Sq8Rows`] codes (the
//!   vector quantised to `i8` with one scale and its error, `dim + 8` bytes),
//!   a short code of the face along its 63 principal directions and the
//!   length of what they leave out (4 bits each on a grid learnt per
//!   coordinate, 32 bytes; see `Projection` and [`Sq4Rows`]) and the ids; the
//!   exact `f32` embeddings stay in redb. About 0.65 KB per face in all at
//!   512 dimensions (644 bytes measured at a million faces).
//! * **Search.** The query is compared with every list's centroid (8-bit
//!   estimates); the `probes` closest lists are scanned with the short codes
//!   (a sixteenth of the bytes; up to their 4-bit rounding, a row's estimate is
//!   the most its dot product can be), best-ranked lists first, split over
//!   the cores when large; the best `max(1024, probed/128)` rows get full
//!   8-bit estimates, and every one of those whose upper bound reaches the
//!   best lower bound is fetched from the store ([`ExactRows`]) and re-scored
//!   with the full embedding. So **a returned cosine is always exact**:
//!   approximation can only miss a face (one in an unprobed list, or ranked
//!   out by the short code; the benchmark measures how often), never invent a
//!   match or change a score.
//! * **Writes.** An insert goes to its nearest list, a delete swaps the
//!   last row of its list into the hole: both visible to the next search.
//!   The centroids stay those of the last training ([`IvfModel`]), which
//!   the store saves beside the faces so that a restart only places the
//!   stored faces (see [`crate::load`]); the data file stays the source of
//!   truth.

use std::collections::HashMap;
use std::sync::Arc;

use facecore_scan::{Sq4Grid, Sq4Query, Sq4Rows, Sq8Query, Sq8Rows, unit_query};
use facecore_score::{ScoreError, dot};
use rayon::prelude::*;

use crate::StoreError;
use crate::index::{IndexError, VectorIndex};

/// A probed row: list, row, 8-bit estimate and its error bound.
type Probed = (u32, u32, f32, f32);

/// Scanned rows from which a search is split over the cores (below it,
/// handing work to another thread costs more than it saves).
pub(crate) const PARALLEL_ROWS: usize = 16_384;

/// Where an index that keeps only codes finds the exact embeddings.
pub trait ExactRows: Send + Sync {
    /// The stored embeddings of `face_ids`, in order (`None` for a face that
    /// is not stored).
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn fetch(&self, face_ids: &[&str]) -> Result<Vec<Option<Vec<f32>>>, StoreError>;
}

/// Tuning of an [`IvfIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfParams {
    /// Number of lists; `0` picks [`IvfParams::auto_lists`] of the
    /// training size.
    pub lists: usize,
    /// Lists scanned per query; `0` picks [`IvfParams::auto_probes`].
    pub probes: usize,
    /// k-means iterations at each level.
    pub iterations: usize,
    /// Seed of the (deterministic) sampling and initialisation.
    pub seed: u64,
}

impl Default for IvfParams {
    fn default() -> Self {
        Self {
            lists: 0,
            probes: 0,
            iterations: 10,
            seed: 0x1f2e_3d4c_5b6a_7988,
        }
    }
}

impl IvfParams {
    /// About `4·√n` lists (a few hundred faces each at 1M), at least 16.
    pub fn auto_lists(n: usize) -> usize {
        ((4.0 * (n as f64).sqrt()).round() as usize).clamp(16, 65_536)
    }

    /// Lists probed per query for `lists` lists: seven sixteenths of them,
    /// at least 24. Recall first: on face-like data at a million faces
    /// (`docs/performance.md`, 8,103 counted queries) 7/16 of the lists
    /// find the face exact search finds for 99.84% of enrolled people, half
    /// of them for 99.89%, three eighths for 99.75%; still about twelve
    /// times faster than an exact scan.
    pub fn auto_probes(lists: usize) -> usize {
        (lists * 7 / 16).max(24).min(lists)
    }
}

/// A vector ready to be stored: its list, unit vector and short code.
struct Placed {
    list: usize,
    unit: Vec<f32>,
    /// The packed 4-bit short code, when the index has principal
    /// directions.
    short: Option<Vec<u8>>,
}

/// One list: codes and face ids, row `i` of one is row `i` of the other.
#[derive(Debug, Clone)]
struct List {
    codes: Sq8Rows,
    /// The rows along the principal directions ([`Projection`]) in 4
    /// bits, when the index has them: a cheap first ranking.
    short: Sq4Rows,
    ids: Vec<Box<str>>,
}

/// An inverted-file index over 8-bit codes with exact re-scoring; see the
/// module docs.
pub struct IvfIndex {
    /// The centroids and principal directions the lists were trained to.
    model: IvfModel,
    /// The fine centroids as codes, to rank lists for a query quickly.
    fine_codes: Sq8Rows,
    /// The coarse centroids as codes, to place a face quickly.
    coarse_codes: Sq8Rows,
    lists: Vec<List>,
    /// Face id → (list, row).
    places: HashMap<Box<str>, (u32, u32)>,
    probes: usize,
    exact: Arc<dyn ExactRows>,
}

impl std::fmt::Debug for IvfIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IvfIndex")
            .field("dim", &self.model.dim)
            .field("lists", &self.lists.len())
            .field("probes", &self.probes)
            .field("len", &self.places.len())
            .finish_non_exhaustive()
    }
}

/// A small deterministic generator for sampling and initialisation.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Principal directions of the short code; with the length of what they
/// leave out, the code has 64 coordinates, 32 bytes.
const SHORT_RANK: usize = 63;

/// Embeddings of fewer dimensions get no short code (their 8-bit codes are
/// short enough).
const SHORT_FROM_DIM: usize = 256;

/// Weight of the query's left-out length in the short ranking (see
/// [`Projection`]): at 1 the estimate is an upper bound of the dot product.
/// On the million-face benchmark (with 127 directions then) 0.8 found the
/// same faces within two queries (0.02 points fewer at 2,001 probes).
const RESIDUAL_WEIGHT: f32 = 1.0;

/// Coarse groups whose fine centroids a face is placed among.
const PLACE_GROUPS: usize = 8;

/// Rows of the training sample used for the principal directions.
const PROJECTION_SAMPLE: usize = 20_000;

/// Shortlists from which the full estimates are split over the cores.
const PARALLEL_SHORTLIST: usize = 1024;

/// Rows ahead of the one being estimated whose codes are prefetched.
const PREFETCH_AHEAD: usize = 6;

/// Rows of the next list whose short codes are prefetched while a list is
/// scanned: 2 KB, the distance the scan kernel itself prefetches ahead, so
/// that a list's first lines are covered too (1 KB at first: on lists no
/// cache holds, the scan alone measured 1.25 times faster than with none,
/// whole lists were no better; a query at a million faces, about 6%
/// faster).
const PREFETCH_LIST_ROWS: usize = 32;

/// Probed rows kept after the short ranking: at least this many...
const SHORTLIST_MIN: usize = 1024;
/// ...or this fraction of the probed rows (1/…).
const SHORTLIST_FRACTION: usize = 128;

/// Coordinates of a short code over `rank` principal directions: one per
/// direction, and the length of the part left out of them.
const fn code_width(rank: usize) -> usize {
    rank + 1
}

/// The principal directions of the faces (top eigenvectors of their
/// uncentred second-moment matrix, where dot products live). Face
/// embeddings are far from isotropic (on faces-dev, 100 directions hold
/// 93% of the energy), so a face's coordinates along the first few dozen,
/// in 4 bits each, rank probed rows well enough to pick the few hundredths
/// that the full 8-bit codes and the exact rows then decide among.
///
/// The code's last coordinate is the length of the part of the face the
/// directions leave out, `‖x_r‖`, and the query weighs it by its own
/// left-out length `‖q_r‖`, so that a row is ranked by
/// `q_p·x_p + ‖q_r‖·‖x_r‖`: the most its dot product with the query can be
/// (Cauchy–Schwarz on the left-out parts). Ranking by the principal part
/// alone put a face with much of its length outside the directions too
/// low, which hurt genuine matches more than the strangers around them: at
/// a million faces with 128 directions, 6 of 8,103 enrolled queries lost
/// their match that way at 1,500 probes, 1 with the bound. The bound ranks
/// so much better that 63 directions (32 bytes a row, half the bytes read)
/// with a shortlist twice as long find more than 128 did without it.
#[derive(Debug, Clone, PartialEq)]
struct Projection {
    /// Principal directions; the code has one coordinate more.
    rank: usize,
    /// `rank × dim`, orthonormal rows.
    basis: Vec<f32>,
    /// The 4-bit grid of each coordinate ([`code_width`]), learnt from the
    /// sample.
    grid: Sq4Grid,
}

impl Projection {
    /// Orthogonal iteration on the second-moment matrix of (up to
    /// [`PROJECTION_SAMPLE`] rows of) `sample`.
    fn train(sample: &[f32], dim: usize, rank: usize, rng: &mut SplitMix) -> Self {
        let m = sample.len() / dim;
        let stride = m.div_ceil(PROJECTION_SAMPLE).max(1);
        let rows: Vec<&[f32]> = sample.chunks_exact(dim).step_by(stride).collect();
        // Second moment, one row of the matrix per task.
        let moment: Vec<f32> = (0..dim)
            .into_par_iter()
            .flat_map_iter(|i| {
                let mut row = vec![0.0f32; dim];
                for x in &rows {
                    let xi = x[i];
                    for (r, &xj) in row.iter_mut().zip(x.iter()) {
                        *r += xi * xj;
                    }
                }
                row
            })
            .collect();
        let mut basis: Vec<f32> = (0..rank * dim)
            .map(|_| (rng.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            .collect();
        orthonormalise(&mut basis, dim);
        for _ in 0..30 {
            basis = basis
                .par_chunks_exact(dim)
                .flat_map_iter(|q| {
                    moment
                        .chunks_exact(dim)
                        .map(|row| dot(row, q))
                        .collect::<Vec<f32>>()
                })
                .collect();
            orthonormalise(&mut basis, dim);
        }
        let coordinates: Vec<f32> = rows
            .par_iter()
            .flat_map_iter(|x| coordinates(&basis, x, 1.0))
            .collect();
        let grid = Sq4Grid::train(&coordinates, code_width(rank));
        Self { rank, basis, grid }
    }

    /// Coordinates of a short code.
    fn width(&self) -> usize {
        code_width(self.rank)
    }

    /// The 4-bit short code of `v`.
    fn encode(&self, v: &[f32]) -> Vec<u8> {
        self.grid.encode(&coordinates(&self.basis, v, 1.0))
    }

    /// `query` ready to rank short codes by their bound.
    fn query(&self, query: &[f32]) -> Sq4Query {
        self.grid
            .query(&coordinates(&self.basis, query, RESIDUAL_WEIGHT))
    }
}

/// The coordinates of `v` along the rows of `basis`, then the length of
/// what they leave out times `weight`.
fn coordinates(basis: &[f32], v: &[f32], weight: f32) -> Vec<f32> {
    let mut out = project(basis, v);
    let inside: f32 = out.iter().map(|x| x * x).sum();
    let left = (dot(v, v) - inside).max(0.0).sqrt();
    out.push(weight * left);
    out
}

/// The coordinates of `v` along the rows of `basis`.
fn project(basis: &[f32], v: &[f32]) -> Vec<f32> {
    basis.chunks_exact(v.len()).map(|b| dot(b, v)).collect()
}

/// Modified Gram–Schmidt on the rows of `basis` (rows of `dim`).
fn orthonormalise(basis: &mut [f32], dim: usize) {
    let rank = basis.len() / dim;
    for i in 0..rank {
        let (done, rest) = basis.split_at_mut(i * dim);
        let row = &mut rest[..dim];
        for prev in done.chunks_exact(dim) {
            let d = dot(row, prev);
            row.iter_mut().zip(prev).for_each(|(r, p)| *r -= d * p);
        }
        if !normalise(row) {
            row.fill(0.0);
        }
    }
}

/// The 8-bit codes of `centroids` (`k × dim`, unit rows).
fn codes_of(centroids: &[f32], dim: usize) -> Sq8Rows {
    let mut codes = Sq8Rows::with_capacity(dim, centroids.len() / dim);
    for c in centroids.chunks_exact(dim) {
        codes.push(c);
    }
    codes
}

/// The row of `centroids` (`k × dim`) with the largest dot product with `v`.
fn nearest(centroids: &[f32], dim: usize, v: &[f32]) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, c) in centroids.chunks_exact(dim).enumerate() {
        let d = dot(v, c);
        if d > best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// Keeps the `keep` rows of highest estimate (`keep ≥ 1`, fewer rows than
/// that are left alone) and returns the lowest estimate kept.
fn best_first(rows: &mut Vec<(u32, u32, f32)>, keep: usize) -> f32 {
    if rows.len() > keep {
        rows.select_nth_unstable_by(keep - 1, |a, b| b.2.total_cmp(&a.2));
        rows.truncate(keep);
    }
    rows.iter().map(|r| r.2).fold(f32::INFINITY, f32::min)
}

/// Normalises `v` in place; false when it is zero.
fn normalise(v: &mut [f32]) -> bool {
    let n = dot(v, v).sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter_mut().for_each(|x| *x /= n);
        true
    } else {
        false
    }
}

/// Spherical k-means of the unit rows `data` (`m × dim`) into `k` unit
/// centroids: `iterations` rounds of assignment (parallel) and
/// re-centring. An emptied cluster is re-seeded with a random row.
fn kmeans(data: &[f32], dim: usize, k: usize, iterations: usize, rng: &mut SplitMix) -> Vec<f32> {
    let m = data.len() / dim;
    let k = k.clamp(1, m.max(1));
    let mut centroids = Vec::with_capacity(k * dim);
    // Initialise with k distinct rows (a partial Fisher–Yates shuffle).
    let mut order: Vec<usize> = (0..m).collect();
    for i in 0..k.min(m) {
        let j = i + rng.below(m - i);
        order.swap(i, j);
        centroids.extend_from_slice(&data[order[i] * dim..(order[i] + 1) * dim]);
    }
    for _ in 0..iterations {
        let assignment: Vec<usize> = data
            .par_chunks_exact(dim)
            .map(|v| nearest(&centroids, dim, v))
            .collect();
        let mut sums = vec![0.0f32; k * dim];
        for (v, &c) in data.chunks_exact(dim).zip(&assignment) {
            for (s, x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(v) {
                *s += x;
            }
        }
        for (c, sum) in sums.chunks_exact_mut(dim).enumerate() {
            if !normalise(sum) {
                let r = rng.below(m);
                sum.copy_from_slice(&data[r * dim..(r + 1) * dim]);
            }
            centroids[c * dim..(c + 1) * dim].copy_from_slice(sum);
        }
    }
    centroids
}

/// What training an [`IvfIndex`] learns: the coarse and fine centroids and
/// the principal directions. It is all an index needs besides the faces,
/// so a saved model (see [`to_bytes`](Self::to_bytes)) lets a restart
/// place the stored faces without training again. Any model gives exact
/// scores; a model trained on other data only finds fewer faces.
#[derive(Debug, Clone, PartialEq)]
pub struct IvfModel {
    dim: usize,
    /// Coarse centroids, `groups.len() × dim`, unit length.
    coarse: Vec<f32>,
    /// For each coarse centroid, the range of its fine centroids; the
    /// ranges follow each other from 0 to the number of lists.
    groups: Vec<std::ops::Range<usize>>,
    /// Fine centroids (one per list), `lists × dim`, unit length.
    fine: Vec<f32>,
    projection: Option<Projection>,
}

/// First bytes of a saved [`IvfModel`], with the format version.
const MODEL_MAGIC: &[u8; 8] = b"fcivf\0\0\x03";

impl IvfModel {
    /// The dimension of the vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of lists.
    pub fn lists(&self) -> usize {
        self.fine.len() / self.dim.max(1)
    }

    /// The model as bytes (little-endian: a magic with the format version,
    /// the sizes, the group ends, then the coarse and fine centroids, the
    /// principal directions and their grids' lows and steps as `f32`,
    /// the grids one coordinate longer than the directions).
    /// About 1 MB at 4,000 lists.
    pub fn to_bytes(&self) -> Vec<u8> {
        let rank = self.projection.as_ref().map_or(0, |p| p.rank);
        let floats = self.coarse.len()
            + self.fine.len()
            + self
                .projection
                .as_ref()
                .map_or(0, |p| p.basis.len() + 2 * p.width());
        let mut out = Vec::with_capacity(MODEL_MAGIC.len() + 16 + 4 * (self.groups.len() + floats));
        out.extend_from_slice(MODEL_MAGIC);
        for n in [self.dim, self.groups.len(), self.lists(), rank] {
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        for g in &self.groups {
            out.extend_from_slice(&(g.end as u32).to_le_bytes());
        }
        let basis = self
            .projection
            .iter()
            .flat_map(|p| p.basis.iter().chain(p.grid.low()).chain(p.grid.step()));
        for v in self.coarse.iter().chain(&self.fine).chain(basis) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads a model written by [`to_bytes`](Self::to_bytes), checking
    /// everything a search relies on: the sizes add up, the groups cover
    /// the lists in order, every value is finite. The error says what is
    /// wrong (the caller then trains again).
    ///
    /// # Errors
    ///
    /// When the bytes are not a whole, consistent model.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let body = bytes
            .strip_prefix(MODEL_MAGIC.as_slice())
            .ok_or("not an IVF model of this format version")?;
        if !body.len().is_multiple_of(4) || body.len() < 16 {
            return Err("truncated".into());
        }
        let words: Vec<[u8; 4]> = body
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect();
        let size = |i: usize| u32::from_le_bytes(words[i]) as usize;
        let (dim, groups, lists, rank) = (size(0), size(1), size(2), size(3));
        if dim == 0 || groups == 0 || lists < groups || rank > dim {
            return Err(format!(
                "inconsistent sizes: dim {dim}, groups {groups}, lists {lists}, rank {rank}"
            ));
        }
        let grids = if rank > 0 { code_width(rank) } else { 0 };
        let floats = (groups + lists + rank)
            .checked_mul(dim)
            .and_then(|f| f.checked_add(2 * grids))
            .ok_or("sizes overflow")?;
        let expected = floats.checked_add(4 + groups).ok_or("sizes overflow")?;
        if words.len() != expected {
            return Err(format!(
                "{} words after the magic, expected {expected}",
                words.len()
            ));
        }
        let mut ranges = Vec::with_capacity(groups);
        let mut start = 0;
        for i in 0..groups {
            let end = size(4 + i);
            if end <= start || end > lists {
                return Err("groups do not cover the lists in order".into());
            }
            ranges.push(start..end);
            start = end;
        }
        if start != lists {
            return Err("groups do not cover the lists".into());
        }
        let values: Vec<f32> = words[4 + groups..]
            .iter()
            .map(|&w| f32::from_le_bytes(w))
            .collect();
        if !values.iter().all(|v| v.is_finite()) {
            return Err("a value is not finite".into());
        }
        let (coarse, rest) = values.split_at(groups * dim);
        let (fine, rest) = rest.split_at(lists * dim);
        let (basis, rest) = rest.split_at(rank * dim);
        let (low, step) = rest.split_at(grids);
        let projection = if rank > 0 {
            Some(Projection {
                rank,
                basis: basis.to_vec(),
                grid: Sq4Grid::from_parts(low.to_vec(), step.to_vec())?,
            })
        } else {
            None
        };
        Ok(Self {
            dim,
            coarse: coarse.to_vec(),
            groups: ranges,
            fine: fine.to_vec(),
            projection,
        })
    }

    /// Trains the lists on `sample` (unit rows, `m × dim`, say every face of
    /// a collection or an evenly spread 200k of them; with `params.lists`
    /// 0, the list count follows the sample size).
    ///
    /// # Errors
    ///
    /// [`ScoreError::Empty`] for an empty sample or a zero dimension.
    pub fn train(dim: usize, sample: &[f32], params: IvfParams) -> Result<Self, ScoreError> {
        if dim == 0 || sample.len() < dim {
            return Err(ScoreError::Empty);
        }
        let m = sample.len() / dim;
        let sample = &sample[..m * dim];
        let lists = if params.lists == 0 {
            IvfParams::auto_lists(m)
        } else {
            params.lists
        }
        .clamp(1, m);
        let mut rng = SplitMix(params.seed);
        let k1 = ((lists as f64).sqrt().ceil() as usize).clamp(1, lists);
        // Coarse centroids from an evenly spread subset (128 rows per
        // centroid is plenty), so training stays seconds at a million.
        let stride = m.div_ceil(128 * k1).max(1);
        let subset: Vec<f32> = sample
            .chunks_exact(dim)
            .step_by(stride)
            .flatten()
            .copied()
            .collect();
        let coarse = kmeans(&subset, dim, k1, params.iterations, &mut rng);
        drop(subset);
        let k1 = coarse.len() / dim;
        // Members of each coarse group.
        let assignment: Vec<usize> = sample
            .par_chunks_exact(dim)
            .map(|v| nearest(&coarse, dim, v))
            .collect();
        let mut members: Vec<Vec<f32>> = vec![Vec::new(); k1];
        for (v, &g) in sample.chunks_exact(dim).zip(&assignment) {
            members[g].extend_from_slice(v);
        }
        // Fine centroids per group, in proportion to its share.
        let seeds: Vec<u64> = (0..k1).map(|_| rng.next()).collect();
        let fine_per_group: Vec<Vec<f32>> = members
            .par_iter()
            .zip(&seeds)
            .enumerate()
            .map(|(g, (rows, &seed))| {
                let count = rows.len() / dim;
                if count == 0 {
                    return coarse[g * dim..(g + 1) * dim].to_vec();
                }
                let share =
                    ((lists as f64 * count as f64 / m as f64).round() as usize).clamp(1, count);
                // At most 64 training rows per fine centroid.
                let rows = &rows[..count.min(64 * share) * dim];
                kmeans(rows, dim, share, params.iterations, &mut SplitMix(seed))
            })
            .collect();
        let mut groups = Vec::with_capacity(k1);
        let mut fine = Vec::new();
        for centroids in fine_per_group {
            let start = fine.len() / dim;
            fine.extend_from_slice(&centroids);
            groups.push(start..fine.len() / dim);
        }
        let projection =
            (dim >= SHORT_FROM_DIM).then(|| Projection::train(sample, dim, SHORT_RANK, &mut rng));
        Ok(Self {
            dim,
            coarse,
            groups,
            fine,
            projection,
        })
    }
}

impl IvfIndex {
    /// Trains the lists on `sample` (see [`IvfModel::train`]) and returns
    /// an empty index that re-scores through `exact`.
    ///
    /// # Errors
    ///
    /// [`ScoreError::Empty`] for an empty sample or a zero dimension.
    pub fn train(
        dim: usize,
        sample: &[f32],
        params: IvfParams,
        exact: Arc<dyn ExactRows>,
    ) -> Result<Self, ScoreError> {
        let model = IvfModel::train(dim, sample, params)?;
        Ok(Self::from_model(model, params.probes, exact))
    }

    /// An empty index with the lists of `model` (trained earlier, e.g. read
    /// back with [`IvfModel::from_bytes`]), probing `probes` lists per
    /// query (`0`: [`IvfParams::auto_probes`]).
    pub fn from_model(model: IvfModel, probes: usize, exact: Arc<dyn ExactRows>) -> Self {
        let dim = model.dim;
        let fine_codes = codes_of(&model.fine, dim);
        let coarse_codes = codes_of(&model.coarse, dim);
        let lists = model.lists();
        let probes = if probes == 0 {
            IvfParams::auto_probes(lists)
        } else {
            probes.min(lists)
        };
        let short_dim = model.projection.as_ref().map_or(0, Projection::width);
        Self {
            model,
            fine_codes,
            coarse_codes,
            lists: (0..lists)
                .map(|_| List {
                    codes: Sq8Rows::new(dim),
                    short: Sq4Rows::new(short_dim),
                    ids: Vec::new(),
                })
                .collect(),
            places: HashMap::new(),
            probes,
            exact,
        }
    }

    /// What this index was trained to (for saving).
    pub fn model(&self) -> &IvfModel {
        &self.model
    }

    /// Trains on an evenly spread sample of at most `sample_size` of
    /// `faces` and adds them all: what a collection does when it switches
    /// to (or loads) an approximate index.
    ///
    /// # Errors
    ///
    /// When an embedding is invalid, or there are none.
    pub fn build(
        dim: usize,
        faces: &[(&str, &[f32])],
        params: IvfParams,
        sample_size: usize,
        exact: Arc<dyn ExactRows>,
    ) -> Result<Self, ScoreError> {
        let stride = faces.len().div_ceil(sample_size.max(1)).max(1);
        let mut sample = Vec::with_capacity((faces.len() / stride + 1) * dim);
        for (_, v) in faces.iter().step_by(stride) {
            sample.extend(unit_query(v, dim)?);
        }
        let mut ivf = Self::train(dim, &sample, params, exact)?;
        drop(sample);
        ivf.insert_many(faces)?;
        ivf.shrink_to_fit();
        Ok(ivf)
    }

    /// The number of lists.
    pub fn lists(&self) -> usize {
        self.lists.len()
    }

    /// Lists scanned per query.
    pub fn probes(&self) -> usize {
        self.probes
    }

    /// Changes the lists scanned per query (clamped to 1..=lists).
    pub fn set_probes(&mut self, probes: usize) {
        self.probes = probes.clamp(1, self.lists.len());
    }

    /// The list a unit vector belongs to: the list that vector would rank
    /// first as a query (by the same 8-bit estimates of the fine centroids
    /// a search ranks lists by), looking among the groups of its
    /// [`PLACE_GROUPS`] closest coarse centroids.
    ///
    /// Looking only in the closest coarse group put faces near a group's
    /// border in a list that queries like them rank far down: at a million
    /// faces it cost 0.9 points of rank-1 agreement at 250 probes. The 8-bit
    /// estimates keep eight groups cheap enough for a restart.
    fn list_of(&self, unit: &[f32]) -> usize {
        let q = Sq8Query::new(unit);
        let mut scores = Vec::with_capacity(self.model.groups.len());
        self.coarse_codes.estimates(&q, &mut scores);
        let mut groups = [(f32::NEG_INFINITY, usize::MAX); PLACE_GROUPS];
        for (g, &d) in scores.iter().enumerate() {
            if d > groups[PLACE_GROUPS - 1].0 {
                groups[PLACE_GROUPS - 1] = (d, g);
                groups.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
            }
        }
        let mut best = (f32::NEG_INFINITY, 0);
        for &(_, g) in groups.iter().filter(|(_, g)| *g != usize::MAX) {
            let range = self.model.groups[g].clone();
            scores.clear();
            self.fine_codes.estimates_of(&q, range.clone(), &mut scores);
            for (list, &score) in range.zip(&scores) {
                if score > best.0 {
                    best = (score, list);
                }
            }
        }
        best.1
    }

    fn place(&mut self, face_id: &str, placed: Placed) {
        self.remove(face_id);
        let list = placed.list;
        let target = &mut self.lists[list];
        let row = target.codes.push(&placed.unit);
        if let Some(short) = placed.short {
            target.short.push(&short);
        }
        target.ids.push(face_id.into());
        self.places
            .insert(face_id.into(), (list as u32, row as u32));
    }

    /// Adds many faces at once, finding their lists in parallel (the bulk
    /// path of a build or a load; call [`shrink_to_fit`](Self::shrink_to_fit)
    /// after the last batch).
    ///
    /// # Errors
    ///
    /// When a vector is invalid; the faces before it are added.
    pub fn insert_many(&mut self, faces: &[(&str, &[f32])]) -> Result<(), ScoreError> {
        // In chunks, so that the normalised vectors waiting to be placed
        // stay a few hundred megabytes at most even for a million faces.
        for chunk in faces.chunks(1 << 16) {
            let placed: Vec<Result<Placed, ScoreError>> =
                chunk.par_iter().map(|(_, v)| self.locate(v)).collect();
            for ((face_id, _), placed) in chunk.iter().zip(placed) {
                self.place(face_id, placed?);
            }
        }
        Ok(())
    }

    /// Releases the spare capacity the lists' growth left (up to half of
    /// each), once a bulk load is done.
    pub fn shrink_to_fit(&mut self) {
        for list in &mut self.lists {
            list.codes.shrink_to_fit();
            list.short.shrink_to_fit();
            list.ids.shrink_to_fit();
        }
        self.places.shrink_to_fit();
    }

    /// Where a vector goes, with what is stored of it (the costly part of an
    /// insert, free of `&mut self` so that bulk inserts run it in parallel).
    fn locate(&self, vector: &[f32]) -> Result<Placed, ScoreError> {
        let unit = unit_query(vector, self.model.dim)?;
        Ok(Placed {
            list: self.list_of(&unit),
            short: self.model.projection.as_ref().map(|p| p.encode(&unit)),
            unit,
        })
    }

    /// Heap bytes of the search structures: codes, ids, the id map and the
    /// centroids (a close estimate: allocator overhead is not counted).
    pub fn heap_bytes(&self) -> usize {
        let ids: usize = self
            .lists
            .iter()
            .map(|l| {
                l.codes.heap_bytes()
                    + l.short.heap_bytes()
                    + l.ids.capacity() * std::mem::size_of::<Box<str>>()
                    + l.ids.iter().map(|id| id.len()).sum::<usize>()
            })
            .sum();
        let entry = std::mem::size_of::<(Box<str>, (u32, u32))>() + 1;
        let places =
            self.places.capacity() * entry + self.places.keys().map(|k| k.len()).sum::<usize>();
        ids + places
            + 4 * (self.model.coarse.capacity() + self.model.fine.capacity())
            + self.fine_codes.heap_bytes()
            + self.coarse_codes.heap_bytes()
            + self
                .model
                .projection
                .as_ref()
                .map_or(0, |p| 4 * (p.basis.capacity() + 2 * p.width()))
    }

    /// Runs `scan` over `lists`, split over the cores (rayon) when they
    /// hold many rows, and returns the parts' results. The parts take the
    /// lists in turn, so that each scans from the best-ranked list down
    /// (its cut then rises early).
    fn scan_parts<T: Send>(
        lists: &[usize],
        probed: usize,
        scan: impl Fn(&[usize]) -> T + Sync + Send,
    ) -> Vec<T> {
        if probed >= PARALLEL_ROWS {
            let parts = rayon::current_num_threads().clamp(1, lists.len().max(1));
            let dealt: Vec<Vec<usize>> = (0..parts)
                .map(|p| lists.iter().skip(p).step_by(parts).copied().collect())
                .collect();
            dealt.par_iter().map(|part| scan(part)).collect()
        } else {
            vec![scan(lists)]
        }
    }

    /// Every probed row's 8-bit estimate and bound; those whose upper bound
    /// reaches the `k`-th best lower bound (any row that can be among the
    /// best `k` by its exact score).
    fn scan_full(&self, q: &Sq8Query, lists: &[usize], probed: usize, k: usize) -> Vec<Probed> {
        let parts = Self::scan_parts(lists, probed, |lists| {
            let mut rows: Vec<Probed> = Vec::new();
            let mut estimates = Vec::new();
            let mut floor = KthBest::new(k);
            for &l in lists {
                let list = &self.lists[l];
                estimates.clear();
                list.codes.estimates(q, &mut estimates);
                for (r, &est) in estimates.iter().enumerate() {
                    let bound = list.codes.bound(r, q);
                    // Rows that cannot reach this part's k-th best are
                    // dropped early (the floor only rises); the global
                    // floor below.
                    if est + bound >= floor.get() {
                        floor.offer(est - bound);
                        rows.push((l as u32, r as u32, est, bound));
                    }
                }
            }
            rows
        });
        let mut rows: Vec<Probed> = parts.into_iter().flatten().collect();
        retain_reachable(&mut rows, k);
        rows
    }

    /// Ranks the probed rows by their short codes, keeps the best
    /// (`max(1024, probed / 128)`), and estimates those with the full codes:
    /// the ones whose upper bound reaches the best lower bound.
    fn shortlist(
        &self,
        q: &Sq8Query,
        projection: &Projection,
        unit: &[f32],
        lists: &[usize],
        probed: usize,
        k: usize,
    ) -> Vec<Probed> {
        let sq = projection.query(unit);
        let keep = (probed / SHORTLIST_FRACTION).max(SHORTLIST_MIN).max(k);
        let parts = Self::scan_parts(lists, probed, |lists| {
            // Each part's best `keep`, by a running cut: rows below the
            // `keep`-th best seen so far are never stored, and the buffer
            // is cut back to `keep` whenever it doubles.
            let mut rows: Vec<(u32, u32, f32)> = Vec::with_capacity(2 * keep);
            let mut cut = f32::NEG_INFINITY;
            let mut above = Vec::new();
            for (i, &l) in lists.iter().enumerate() {
                // The next list's first rows are asked for now, so that
                // its reads do not start cold when this list is done.
                if let Some(&next) = lists.get(i + 1) {
                    self.lists[next].short.prefetch(PREFETCH_LIST_ROWS);
                }
                // The kernel drops the rows below the cut as it was when
                // the list began; the cut may rise within the list.
                above.clear();
                self.lists[l].short.estimates_above(&sq, cut, &mut above);
                for &(r, e) in &above {
                    if e < cut {
                        continue;
                    }
                    rows.push((l as u32, r, e));
                    if rows.len() == 2 * keep {
                        cut = best_first(&mut rows, keep);
                    }
                }
            }
            rows
        });
        let mut ranked: Vec<(u32, u32, f32)> = parts.into_iter().flatten().collect();
        if keep < ranked.len() {
            best_first(&mut ranked, keep);
        }
        // Full 8-bit estimates of the shortlist: a random read of a row
        // each (asked for a few rows ahead, so that the reads overlap),
        // split over the cores when there are many.
        let full = |rows: &[(u32, u32, f32)]| -> Vec<Probed> {
            let mut out = Vec::with_capacity(rows.len());
            for (i, &(l, r, _)) in rows.iter().enumerate() {
                if let Some(&(al, ar, _)) = rows.get(i + PREFETCH_AHEAD) {
                    self.lists[al as usize].codes.prefetch(ar as usize);
                }
                let codes = &self.lists[l as usize].codes;
                out.push((
                    l,
                    r,
                    codes.estimate(r as usize, q),
                    codes.bound(r as usize, q),
                ));
            }
            out
        };
        let mut rows: Vec<Probed> = if ranked.len() >= PARALLEL_SHORTLIST {
            let chunk = ranked.len().div_ceil(rayon::current_num_threads().max(1));
            ranked.par_chunks(chunk).flat_map_iter(full).collect()
        } else {
            full(&ranked)
        };
        retain_reachable(&mut rows, k);
        rows
    }

    /// Every list's estimated closeness to the query (its centroid's 8-bit
    /// estimate) with its number.
    fn rank_lists(&self, q: &Sq8Query) -> Vec<(f32, u32)> {
        let mut scores = Vec::with_capacity(self.lists.len());
        self.fine_codes.estimates(q, &mut scores);
        scores.into_iter().zip(0u32..).collect()
    }

    /// The best `k` matches among the probed lists, re-scored exactly,
    /// best first (ties by id).
    fn search(&self, query: &[f32], k: usize) -> Result<Vec<(&str, f32)>, IndexError> {
        let unit = unit_query(query, self.model.dim)?;
        if self.places.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        // A large search splits its scans over the cores. Called from
        // outside the thread pool, it runs whole on one of the pool's
        // threads: the caller then waits for the pool once, instead of once
        // per parallel step, and the steps' hand-offs stay inside the pool.
        if self.places.len() >= PARALLEL_ROWS && rayon::current_thread_index().is_none() {
            return rayon::scope(|_| self.search_unit(&unit, k));
        }
        self.search_unit(&unit, k)
    }

    /// [`search`](Self::search) of a unit query, in a non-empty index.
    fn search_unit(&self, unit: &[f32], k: usize) -> Result<Vec<(&str, f32)>, IndexError> {
        let q = Sq8Query::new(unit);
        let mut ranked = self.rank_lists(&q);
        let probes = self.probes.min(ranked.len());
        if probes < ranked.len() {
            ranked.select_nth_unstable_by(probes - 1, |a, b| b.0.total_cmp(&a.0));
            ranked.truncate(probes);
        }
        // Best first: the short ranking's cut then rises early.
        ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let order: Vec<usize> = ranked.iter().map(|&(_, l)| l as usize).collect();
        let probed: usize = order.iter().map(|&l| self.lists[l].ids.len()).sum();
        let rows = match &self.model.projection {
            Some(projection) => self.shortlist(&q, projection, unit, &order, probed, k),
            None => self.scan_full(&q, &order, probed, k),
        };
        let ids: Vec<&str> = rows
            .iter()
            .map(|&(l, r, _, _)| &*self.lists[l as usize].ids[r as usize])
            .collect();
        let vectors = self.exact.fetch(&ids)?;
        let mut scored: Vec<(&str, f32)> = ids
            .into_iter()
            .zip(vectors)
            .filter_map(|(id, vector)| {
                // A face the store no longer has cannot be a match.
                let v = unit_query(&vector?, self.model.dim).ok()?;
                Some((id, dot(unit, &v).clamp(-1.0, 1.0)))
            })
            .collect();
        scored.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        scored.truncate(k);
        Ok(scored)
    }
}

/// The `k`-th largest of the values offered so far (−∞ until `k` were).
struct KthBest {
    k: usize,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<OrdF32>>,
}

/// An `f32` ordered by `total_cmp`.
struct OrdF32(f32);

impl PartialEq for OrdF32 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for OrdF32 {}

impl PartialOrd for OrdF32 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrdF32 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl KthBest {
    fn new(k: usize) -> Self {
        Self {
            k: k.max(1),
            heap: std::collections::BinaryHeap::with_capacity(k.max(1) + 1),
        }
    }

    fn offer(&mut self, v: f32) {
        if self.heap.len() < self.k {
            self.heap.push(std::cmp::Reverse(OrdF32(v)));
        } else if self.heap.peek().is_some_and(|m| v > m.0.0) {
            self.heap.pop();
            self.heap.push(std::cmp::Reverse(OrdF32(v)));
        }
    }

    fn get(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.heap.peek().map_or(f32::NEG_INFINITY, |m| m.0.0)
        }
    }
}

/// Keeps the rows whose upper bound reaches the `k`-th best lower bound:
/// the only ones that can be among the best `k` by exact score.
fn retain_reachable(rows: &mut Vec<Probed>, k: usize) {
    let mut floor = KthBest::new(k);
    for &(_, _, est, bound) in rows.iter() {
        floor.offer(est - bound);
    }
    let floor = floor.get();
    rows.retain(|&(_, _, est, bound)| est + bound >= floor);
}

impl VectorIndex for IvfIndex {
    fn insert(&mut self, face_id: &str, vector: &[f32]) -> Result<(), ScoreError> {
        let placed = self.locate(vector)?;
        self.place(face_id, placed);
        Ok(())
    }

    fn remove(&mut self, face_id: &str) -> bool {
        let Some((l, r)) = self.places.remove(face_id) else {
            return false;
        };
        let list = &mut self.lists[l as usize];
        list.codes.swap_remove(r as usize);
        list.short.swap_remove(r as usize);
        list.ids.swap_remove(r as usize);
        if let Some(moved) = list.ids.get(r as usize)
            && let Some(place) = self.places.get_mut(moved)
        {
            place.1 = r;
        }
        true
    }

    fn top_k(&self, query: &[f32], k: usize) -> Result<Vec<(&str, f32)>, IndexError> {
        self.search(query, k)
    }

    fn len(&self) -> usize {
        self.places.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use super::*;
    use crate::index::ExactIndex;

    /// Exact rows from memory, recording how many were fetched.
    #[derive(Default)]
    struct Memory {
        rows: Mutex<HashMap<String, Vec<f32>>>,
        fetched: Mutex<usize>,
    }

    impl ExactRows for Memory {
        fn fetch(&self, face_ids: &[&str]) -> Result<Vec<Option<Vec<f32>>>, StoreError> {
            *self.fetched.lock().unwrap() += face_ids.len();
            let rows = self.rows.lock().unwrap();
            Ok(face_ids.iter().map(|id| rows.get(*id).cloned()).collect())
        }
    }

    fn clustered(rng: &mut SplitMix, dim: usize, people: usize, each: usize) -> Vec<Vec<f32>> {
        let mut gauss = || {
            // Sum of uniforms: close enough to normal for test data.
            (0..6)
                .map(|_| rng.next() as f32 / u64::MAX as f32)
                .sum::<f32>()
                - 3.0
        };
        let mut out = Vec::new();
        for _ in 0..people {
            let centre: Vec<f32> = (0..dim).map(|_| gauss()).collect();
            for _ in 0..each {
                let mut v: Vec<f32> = centre.iter().map(|c| c + 0.8 * gauss()).collect();
                normalise(&mut v);
                out.push(v);
            }
        }
        out
    }

    #[test]
    fn a_model_survives_its_bytes_and_damage_is_refused() {
        // 256 dimensions, so the model has principal directions too.
        let dim = SHORT_FROM_DIM;
        let mut rng = SplitMix(11);
        let flat: Vec<f32> = clustered(&mut rng, dim, 60, 5)
            .into_iter()
            .flatten()
            .collect();
        let model = IvfModel::train(dim, &flat, IvfParams::default()).unwrap();
        assert!(model.projection.is_some());
        let bytes = model.to_bytes();
        assert_eq!(IvfModel::from_bytes(&bytes).unwrap(), model);
        // An index on the read-back model places faces as the original.
        let memory: Arc<dyn ExactRows> = Arc::new(Memory::default());
        let a = IvfIndex::from_model(model.clone(), 0, Arc::clone(&memory));
        let b = IvfIndex::from_model(IvfModel::from_bytes(&bytes).unwrap(), 0, memory);
        for v in flat.chunks_exact(dim).step_by(7) {
            let (pa, pb) = (a.locate(v).unwrap(), b.locate(v).unwrap());
            assert_eq!((pa.list, pa.short), (pb.list, pb.short));
        }
        assert!(IvfModel::from_bytes(&bytes[..bytes.len() - 4]).is_err());
        assert!(IvfModel::from_bytes(&bytes[1..]).is_err());
        assert!(IvfModel::from_bytes(b"").is_err());
        let mut nan = bytes.clone();
        let at = nan.len() - 4;
        nan[at..].copy_from_slice(&f32::NAN.to_le_bytes());
        assert_eq!(
            IvfModel::from_bytes(&nan).unwrap_err(),
            "a value is not finite"
        );
        // Group ends that do not cover the lists.
        let mut groups = bytes.clone();
        let first_end = MODEL_MAGIC.len() + 16;
        groups[first_end..first_end + 4].copy_from_slice(&0u32.to_le_bytes());
        assert!(IvfModel::from_bytes(&groups).is_err());
        let mut huge = bytes.clone();
        huge[MODEL_MAGIC.len()..MODEL_MAGIC.len() + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(IvfModel::from_bytes(&huge).is_err());
        // The last value is the last grid step: zero would collapse a
        // dimension's levels.
        let mut flat_grid = bytes.clone();
        flat_grid[at..].copy_from_slice(&0f32.to_le_bytes());
        assert_eq!(
            IvfModel::from_bytes(&flat_grid).unwrap_err(),
            "a grid step is not positive"
        );
        // Models saved by earlier formats (8-bit short codes; short codes
        // without the left-out length) are refused, so a load trains again
        // instead of misreading.
        for version in [1, 2] {
            let mut old = bytes.clone();
            old[MODEL_MAGIC.len() - 1] = version;
            assert_eq!(
                IvfModel::from_bytes(&old).unwrap_err(),
                "not an IVF model of this format version"
            );
        }
    }

    #[test]
    fn short_coordinates_bound_the_dot_product() {
        let (dim, rank) = (32, 6);
        let mut rng = SplitMix(5);
        let mut random_unit = || {
            let mut v: Vec<f32> = (0..dim)
                .map(|_| (rng.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
                .collect();
            normalise(&mut v);
            v
        };
        let mut basis: Vec<f32> = (0..rank).flat_map(|_| random_unit()).collect();
        orthonormalise(&mut basis, dim);
        for i in 0..500 {
            let q = random_unit();
            // Every other pair is close, where the bound must be close too.
            let close = i % 2 == 0;
            let x = if close {
                let mut x: Vec<f32> = q
                    .iter()
                    .zip(random_unit())
                    .map(|(a, b)| a + 0.05 * b)
                    .collect();
                normalise(&mut x);
                x
            } else {
                random_unit()
            };
            let (cq, cx) = (coordinates(&basis, &q, 1.0), coordinates(&basis, &x, 1.0));
            assert_eq!(cx.len(), rank + 1);
            // A unit vector's length is all there: inside and left out.
            assert!((dot(&cx, &cx) - 1.0).abs() < 1e-4);
            let (bound, exact) = (dot(&cq, &cx), dot(&q, &x));
            assert!(bound >= exact - 1e-5, "{bound} < {exact}");
            if close {
                assert!(bound - exact < 0.01, "{bound} vs {exact}");
            }
        }
        // The query's weight scales the left-out part only.
        let q = random_unit();
        let (one, half) = (coordinates(&basis, &q, 1.0), coordinates(&basis, &q, 0.5));
        assert_eq!(one[..rank], half[..rank]);
        assert!((one[rank] - 2.0 * half[rank]).abs() < 1e-6);
    }

    #[test]
    fn faces_go_to_the_list_they_would_search_first() {
        // Searches rank lists by their fine centroids alone, so a face must
        // sit in the list it would rank first itself, not merely the best
        // within its nearest coarse group (which misplaced 16% of these
        // weakly clustered faces; 1.1% now).
        let dim = 64;
        let mut rng = SplitMix(5);
        let data = clustered(&mut rng, dim, 2000, 4);
        let flat: Vec<f32> = data.iter().flatten().copied().collect();
        let params = IvfParams {
            lists: 400,
            ..IvfParams::default()
        };
        let model = IvfModel::train(dim, &flat, params).unwrap();
        let ivf = IvfIndex::from_model(model, 0, Arc::new(Memory::default()));
        let misplaced = data
            .iter()
            .filter(|v| {
                let placed = ivf.locate(v).unwrap();
                let mut scores = Vec::new();
                ivf.fine_codes
                    .estimates(&Sq8Query::new(&placed.unit), &mut scores);
                let first = (0..scores.len())
                    .max_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(b.cmp(&a)))
                    .unwrap();
                placed.list != first
            })
            .count();
        assert!(
            misplaced * 50 <= data.len(),
            "{misplaced} of {} faces are not in the list they rank first",
            data.len()
        );
    }

    #[test]
    fn finds_what_exact_search_finds_with_exact_scores() {
        let dim = 64;
        let mut rng = SplitMix(7);
        let data = clustered(&mut rng, dim, 400, 5);
        let memory = Arc::new(Memory::default());
        let flat: Vec<f32> = data.iter().flatten().copied().collect();
        let mut ivf = IvfIndex::train(dim, &flat, IvfParams::default(), memory.clone()).unwrap();
        assert!(ivf.lists() >= 16 && ivf.probes() <= ivf.lists());
        let mut exact = ExactIndex::new(dim);
        let ids: Vec<String> = (0..data.len()).map(|i| format!("face_{i}")).collect();
        // Every fifth face is held out as a query of an enrolled person.
        let mut faces = Vec::new();
        for (i, v) in data.iter().enumerate() {
            if i % 5 != 0 {
                memory
                    .rows
                    .lock()
                    .unwrap()
                    .insert(ids[i].clone(), v.clone());
                exact.insert(&ids[i], v).unwrap();
                faces.push((ids[i].as_str(), v.as_slice()));
            }
        }
        ivf.insert_many(&faces).unwrap();
        assert_eq!(ivf.len(), exact.len());
        let mut agree = 0;
        let queries: Vec<&Vec<f32>> = data.iter().step_by(5).collect();
        for q in &queries {
            let want = exact.best(q).unwrap().unwrap();
            let got = ivf.best(q).unwrap().unwrap();
            if got.0 == want.0 {
                agree += 1;
                assert_eq!(got.1, want.1, "a found face has its exact cosine");
            } else {
                assert!(got.1 <= want.1, "approximation never beats exact");
            }
        }
        // Uniformly spread random people are the hard case for lists (real
        // faces are measured by `cargo xtask bench-search`); most are found.
        assert!(
            agree * 100 >= queries.len() * 90,
            "{agree}/{}",
            queries.len()
        );
        // Few rows are fetched per query: the bounds prune the rest.
        let fetched = *memory.fetched.lock().unwrap();
        assert!(fetched < queries.len() * 20, "{fetched} rows fetched");
    }

    #[test]
    fn top_k_with_every_list_probed_is_the_exact_top_k() {
        let dim = 64;
        let mut rng = SplitMix(11);
        let data = clustered(&mut rng, dim, 300, 4);
        let memory = Arc::new(Memory::default());
        let flat: Vec<f32> = data.iter().flatten().copied().collect();
        let mut ivf = IvfIndex::train(dim, &flat, IvfParams::default(), memory.clone()).unwrap();
        ivf.set_probes(ivf.lists());
        let mut exact = ExactIndex::new(dim);
        let ids: Vec<String> = (0..data.len()).map(|i| format!("face_{i:04}")).collect();
        let mut faces = Vec::new();
        for (id, v) in ids.iter().zip(&data).skip(1) {
            memory.rows.lock().unwrap().insert(id.clone(), v.clone());
            exact.insert(id, v).unwrap();
            faces.push((id.as_str(), v.as_slice()));
        }
        ivf.insert_many(&faces).unwrap();
        for q in data.iter().step_by(37) {
            for k in [1, 5, 40] {
                let want = exact.top_k(q, k).unwrap();
                let got = ivf.top_k(q, k).unwrap();
                assert_eq!(got.len(), k);
                assert_eq!(
                    got.iter().map(|m| m.1).collect::<Vec<_>>(),
                    want.iter().map(|m| m.1).collect::<Vec<_>>(),
                    "k = {k}"
                );
                assert!(got.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
            }
        }
        // More than it holds: all of it; none asked for: nothing.
        assert_eq!(ivf.top_k(&data[0], 10_000).unwrap().len(), ivf.len());
        assert!(ivf.top_k(&data[0], 0).unwrap().is_empty());
    }

    #[test]
    fn writes_are_visible_to_the_next_search() {
        let dim = 16;
        let mut rng = SplitMix(3);
        let data = clustered(&mut rng, dim, 50, 4);
        let memory = Arc::new(Memory::default());
        let flat: Vec<f32> = data.iter().flatten().copied().collect();
        let mut ivf = IvfIndex::train(dim, &flat, IvfParams::default(), memory.clone()).unwrap();
        ivf.set_probes(usize::MAX);
        assert_eq!(ivf.probes(), ivf.lists());
        assert_eq!(ivf.best(&data[0]).unwrap(), None);
        for (i, v) in data.iter().enumerate() {
            memory
                .rows
                .lock()
                .unwrap()
                .insert(format!("f{i}"), v.clone());
            ivf.insert(&format!("f{i}"), v).unwrap();
        }
        // Probing every list is exact: each face is its own best match.
        for (i, v) in data.iter().enumerate() {
            let (id, cosine) = ivf.best(v).unwrap().unwrap();
            assert_eq!(id, format!("f{i}"));
            assert!(cosine > 0.9999);
        }
        // Deleting moves rows within lists; every survivor is still found.
        for i in (0..data.len()).step_by(3) {
            assert!(ivf.remove(&format!("f{i}")));
            assert!(!ivf.remove(&format!("f{i}")));
        }
        for (i, v) in data.iter().enumerate() {
            let found = ivf.best(v).unwrap().unwrap().0.to_string();
            assert_eq!(found == format!("f{i}"), i % 3 != 0, "face {i}");
        }
        // Re-inserting an id replaces it.
        ivf.insert("f1", &data[0]).unwrap();
        assert_eq!(ivf.len(), data.len() - data.len().div_ceil(3));
        assert!(ivf.best(&[0.0; 16]).is_err());
        assert!(ivf.insert("x", &[1.0; 3]).is_err());
        assert!(ivf.heap_bytes() > 0);
    }
}
