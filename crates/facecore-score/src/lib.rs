//! The scoring core of facecore: embedding validation, cosine similarity
//! and the calibrated cosine → score map.
//!
//! Face embeddings are compared by the cosine of the angle between them.
//! This crate checks that embeddings are usable (non-empty, of the expected
//! dimension, finite, non-zero), normalises them, and computes the cosine.
//! It performs no I/O and has no heavy dependencies, so it can sit at the
//! bottom of the dependency graph. Raw cosines stay available through
//! [`cosine`] and [`cosine_unit`]. The 1:N scans built on [`dot`] (exact,
//! and over 8-bit and 4-bit codes) are the `facecore-scan` crate's.
//!
//! # Cosine to score
//!
//! The API reports similarity as an integer score in `[-1, 100]`. A
//! [`ScoreMap`] turns a cosine into that score by piecewise-linear
//! interpolation between `(cosine, score)` anchors. Scores are promises
//! about the false-positive rate of a calibrated map: 70 means FPR 1e-3,
//! 80 means 1e-4, 90 means 1e-5 and 95 means 1e-6
//! ([`ScoreMap::from_fpr_thresholds`] builds such a map from measured
//! thresholds; [`ScoreMap::spec_reference`] is the spec's reference table,
//! measured on another vendor's model). The map covers all of `[-1, 1]`:
//! below the first anchor it falls linearly to `(0, 0)`, negative cosines
//! lie on the line from `(-1, -1)` to `(0, 0)`, and above the last anchor
//! it rises to `(1, 100)`.
//!
//! **Identical rule.** A cosine within float rounding of 1 (at or above
//! [`IDENTICAL_COSINE`], `1 − 1e-5`) counts as 1, so the same face scores
//! 100 whichever path computed its cosine.
//!
//! **Floor rule.** [`ScoreMap::score`] is the *floor* of the continuous
//! [`ScoreMap::score_f`], never rounded up: a pair scores `T` only once its
//! cosine has actually reached the cosine that the map assigns `T`.
//!
//! **Threshold equivalence.** [`ScoreMap::threshold`]`(T)` is the smallest
//! `f32` cosine whose integer score is at least `T`, found to the exact
//! `f32`, so that for every `T` and every cosine `c` (not NaN, not `+inf`):
//!
//! ```text
//! map.score(c) >= T   <=>   c >= map.threshold(T)
//! ```
//!
//! A search can therefore filter raw cosines against `threshold(T)` and
//! accept exactly the pairs that would score `T` or more.
//!
//! # Example
//!
//! ```
//! use facecore_score::{
//!     cosine, cosine_unit, normalized, validate, ScoreError, ScoreMap, EMBEDDING_DIM,
//!     RECOMMENDED_SCORE,
//! };
//!
//! let a: Vec<f32> = (0..EMBEDDING_DIM).map(|i| (i as f32).sin()).collect();
//! let b: Vec<f32> = a.iter().map(|x| 3.0 * x).collect();
//! validate(&a, Some(EMBEDDING_DIM))?;
//!
//! // Cosine ignores the vectors' lengths.
//! assert!((cosine(&a, &b)? - 1.0).abs() < 1e-6);
//!
//! // For embeddings already normalised once, `cosine_unit` is just a dot product.
//! let (ua, ub) = (normalized(&a)?, normalized(&b)?);
//! assert!((cosine_unit(&ua, &ub) - 1.0).abs() < 1e-6);
//!
//! assert_eq!(cosine(&a, &[0.0; EMBEDDING_DIM]), Err(ScoreError::ZeroNorm));
//!
//! // Cosine -> score with the spec's reference table.
//! let map = ScoreMap::spec_reference();
//! assert_eq!(map.score(0.2975), 80); // an anchor maps exactly
//! assert_eq!(map.score(0.2974), 79); // floor, not round
//! assert_eq!(map.score(-0.5), -1);
//! assert_eq!(map.score(1.0), 100);
//!
//! // The threshold for a minimum score, exact to the f32.
//! let t = map.threshold(RECOMMENDED_SCORE);
//! assert_eq!(t, 0.2975);
//! assert!(map.score(t) >= 80 && map.score(t.next_down()) < 80);
//!
//! // The same pair accepted by its cosine against the threshold.
//! let c = cosine_unit(&ua, &ub);
//! assert!(c >= t && map.score(c) == 100);
//! # Ok::<(), ScoreError>(())
//! ```

mod map;
// The AVX2 builds of `dot` and `fused_sums`.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod simd;

pub use map::{
    IDENTICAL_COSINE, MAX_SCORE, MIN_ACCEPT_SCORE, MIN_SCORE, MapError, RECOMMENDED_SCORE, ScoreMap,
};

/// Dimension of the embeddings produced by the facecore embedding model.
pub const EMBEDDING_DIM: usize = 512;

/// Vectors whose Euclidean norm is at or below this are treated as zero.
const MIN_NORM: f64 = 1e-12;

/// Errors returned when an embedding cannot be scored.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum ScoreError {
    /// The vector has no elements.
    #[error("embedding is empty")]
    Empty,
    /// The two vectors being compared have different lengths.
    #[error("embedding length mismatch: {left} vs {right}")]
    LengthMismatch {
        /// Length of the left-hand vector.
        left: usize,
        /// Length of the right-hand vector.
        right: usize,
    },
    /// The vector does not have the expected dimension.
    #[error("wrong embedding dimension: expected {expected}, got {actual}")]
    WrongDimension {
        /// The required dimension.
        expected: usize,
        /// The vector's actual length.
        actual: usize,
    },
    /// An element is NaN or infinite.
    #[error("embedding element {index} is not finite")]
    NonFinite {
        /// Index of the first non-finite element.
        index: usize,
    },
    /// The vector's norm is (numerically) zero, so it has no direction.
    #[error("embedding has zero norm")]
    ZeroNorm,
}

/// Sum of squares in `f64` (four accumulators).
///
/// Squares of finite `f32` values cannot overflow `f64` (even summed over any
/// addressable length), so the sum is non-finite exactly when some element
/// is.
fn sum_squares(v: &[f32]) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = v.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            let x = f64::from(x);
            *a += x * x;
        }
    }
    let mut sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for &x in rest {
        let x = f64::from(x);
        sum += x * x;
    }
    sum
}

/// Checks the sum of squares of `v`: an error if some element is not finite
/// or the norm is at most [`MIN_NORM`] (compared squared, so no square root
/// is needed). The index search for a non-finite element only runs on the
/// error path.
fn check_sum_squares(sum: f64, v: &[f32]) -> Result<(), ScoreError> {
    if !sum.is_finite() {
        let index = v.iter().position(|x| !x.is_finite()).unwrap_or(0);
        return Err(ScoreError::NonFinite { index });
    }
    if sum > MIN_NORM * MIN_NORM {
        Ok(())
    } else {
        Err(ScoreError::ZeroNorm)
    }
}

/// Turns the sum of squares of `v` into its norm, or the appropriate error.
fn norm_from_sum_squares(sum: f64, v: &[f32]) -> Result<f64, ScoreError> {
    check_sum_squares(sum, v).map(|()| sum.sqrt())
}

/// Validates `v` and returns its Euclidean norm (in `f64`).
fn checked_norm(v: &[f32], expected_dim: Option<usize>) -> Result<f64, ScoreError> {
    if v.is_empty() {
        return Err(ScoreError::Empty);
    }
    if let Some(expected) = expected_dim
        && v.len() != expected
    {
        return Err(ScoreError::WrongDimension {
            expected,
            actual: v.len(),
        });
    }
    norm_from_sum_squares(sum_squares(v), v)
}

/// Checks that `v` is a usable embedding.
///
/// # Errors
///
/// In order of precedence: [`ScoreError::Empty`] if `v` is empty,
/// [`ScoreError::WrongDimension`] if `expected_dim` is given and differs from
/// `v.len()`, [`ScoreError::NonFinite`] for the first NaN or infinite element,
/// and [`ScoreError::ZeroNorm`] if the Euclidean norm (computed in `f64`) is
/// at most `1e-12`.
pub fn validate(v: &[f32], expected_dim: Option<usize>) -> Result<(), ScoreError> {
    checked_norm(v, expected_dim).map(|_| ())
}

/// Scales `v` in place to unit Euclidean length.
///
/// The norm and the scaling are computed in `f64`. On error `v` is left
/// unchanged.
///
/// # Errors
///
/// As [`validate`] with no expected dimension.
pub fn l2_normalize(v: &mut [f32]) -> Result<(), ScoreError> {
    let inv = 1.0 / checked_norm(v, None)?;
    for x in v.iter_mut() {
        *x = (f64::from(*x) * inv) as f32;
    }
    Ok(())
}

/// Returns a unit-length copy of `v`.
///
/// # Errors
///
/// As [`validate`] with no expected dimension.
pub fn normalized(v: &[f32]) -> Result<Vec<f32>, ScoreError> {
    let mut out = v.to_vec();
    l2_normalize(&mut out)?;
    Ok(out)
}

/// Number of independent accumulator lanes in [`dot`]: four SSE registers
/// of `f32` (or two AVX ones), enough independent add chains to hide the
/// add latency, few enough to stay in registers.
const LANES: usize = 16;

/// `acc[i] += x[i] * y[i]` over one chunk of lanes. A separate (always
/// inlined) function so that LLVM vectorises it as whole-register
/// operations before it meets the surrounding loop; written inline in the
/// loop, the loop vectoriser instead interleaves sixteen scalar reductions
/// and spends its time shuffling.
#[inline(always)]
fn mul_add_lanes(acc: &mut [f32; LANES], x: &[f32; LANES], y: &[f32; LANES]) {
    for i in 0..LANES {
        acc[i] += x[i] * y[i];
    }
}

/// Dot product of two equally long `f32` slices.
///
/// Uses sixteen independent accumulators so the loop vectorises, then sums
/// them in order. Lengths must be equal (checked with
/// `debug_assert!`); in release builds extra elements of the longer slice
/// are ignored. Does not check for non-finite values. The 1:N scans of
/// `facecore-scan` use this very function per row, so their results are
/// bit-identical to it.
///
/// On x86-64 CPUs with AVX2 the same arithmetic runs in eight-wide
/// registers (about twice as fast), with bit-identical results.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "dot: length mismatch");
    #[cfg(target_arch = "x86_64")]
    if simd::available() {
        return simd::dot_f32(a, b);
    }
    dot_portable(a, b)
}

/// [`dot`] in portable code.
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (ca, ra) = a[..n].as_chunks::<LANES>();
    let (cb, rb) = b[..n].as_chunks::<LANES>();

    let mut acc = [0.0f32; LANES];
    for (x, y) in ca.iter().zip(cb) {
        mul_add_lanes(&mut acc, x, y);
    }
    let mut tail = 0.0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    reduce_lanes(&acc) + tail
}

/// Sum of [`dot`]'s lanes, in lane order.
///
/// Deliberately sequential: with a tree-shaped reduction here LLVM's SLP
/// vectoriser picks two-wide vectors for the *main loop* as well, which
/// measured ~1.6x slower on 512-d rows in cache (SSE2 and AVX2 alike).
#[inline(always)]
fn reduce_lanes(acc: &[f32; LANES]) -> f32 {
    acc.iter().sum()
}

/// Independent `f64` accumulators per sum in [`fused_sums`]: three sums of
/// sixteen lanes fill twelve AVX2 registers and give each add chain a
/// thirty-second of a 512-d vector, enough to hide the multiply-add latency
/// (with eight lanes the AVX2 loop waited on it: a cosine took 99 ns, with
/// sixteen 86 ns).
pub(crate) const F64_LANES: usize = 16;

/// `(a·a, b·b, a·b)` accumulated in `f64` in a single pass, each over
/// [`F64_LANES`] lanes summed pairwise at the end. Callers guarantee equal
/// lengths.
///
/// Products of `f32`s are exact in `f64`, so only the sums round. On x86-64
/// CPUs with AVX2 and FMA the same arithmetic runs in four-wide registers
/// with fused multiply-adds (a 512-d cosine in ~86 ns instead of ~390), with
/// bit-identical results: the lanes and the order of every add are the
/// same, and a fused multiply-add of an exact product rounds as the
/// separate add does.
fn fused_sums(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if simd::fma_available() {
        return simd::fused_sums(a, b);
    }
    fused_sums_lanes(a, b)
}

/// [`fused_sums`] in portable code.
fn fused_sums_lanes(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
    let n = a.len().min(b.len());
    let (ca, ra) = a[..n].as_chunks::<F64_LANES>();
    let (cb, rb) = b[..n].as_chunks::<F64_LANES>();
    let (mut aa, mut bb, mut ab) = (
        [0.0f64; F64_LANES],
        [0.0f64; F64_LANES],
        [0.0f64; F64_LANES],
    );
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..F64_LANES {
            let (x, y) = (f64::from(x[i]), f64::from(y[i]));
            aa[i] += x * x;
            bb[i] += y * y;
            ab[i] += x * y;
        }
    }
    finish_fused_sums([aa, bb, ab], ra, rb)
}

/// The end of [`fused_sums`], shared by its builds: each sum's lanes added
/// pairwise, then the elements past the last whole chunk in order.
pub(crate) fn finish_fused_sums(
    lanes: [[f64; F64_LANES]; 3],
    rest_a: &[f32],
    rest_b: &[f32],
) -> (f64, f64, f64) {
    // Pairwise: lane i plus lane i + half, halving until one is left.
    let reduce = |mut acc: [f64; F64_LANES]| {
        let mut half = F64_LANES / 2;
        while half > 0 {
            for i in 0..half {
                acc[i] += acc[i + half];
            }
            half /= 2;
        }
        acc[0]
    };
    let [aa, bb, ab] = lanes;
    let (mut saa, mut sbb, mut sab) = (reduce(aa), reduce(bb), reduce(ab));
    for (&x, &y) in rest_a.iter().zip(rest_b) {
        let (x, y) = (f64::from(x), f64::from(y));
        saa += x * x;
        sbb += y * y;
        sab += x * y;
    }
    (saa, sbb, sab)
}

/// Cosine similarity of two embeddings of any (equal) length, in `[-1, 1]`.
///
/// Both vectors are validated and re-normalised, so their lengths do not
/// matter. Norms and the dot product are accumulated in `f64`.
///
/// # Errors
///
/// [`ScoreError::Empty`] if either is empty, [`ScoreError::LengthMismatch`]
/// if the lengths differ, otherwise the errors of [`validate`] for `a`, then
/// for `b`.
pub fn cosine(a: &[f32], b: &[f32]) -> Result<f32, ScoreError> {
    if a.is_empty() || b.is_empty() {
        return Err(ScoreError::Empty);
    }
    if a.len() != b.len() {
        return Err(ScoreError::LengthMismatch {
            left: a.len(),
            right: b.len(),
        });
    }
    // One pass for both norms and the dot product; errors are reported for
    // `a` before `b`, exactly as if each had been validated separately.
    let (aa, bb, ab) = fused_sums(a, b);
    check_sum_squares(aa, a)?;
    check_sum_squares(bb, b)?;
    // One root and one division (a latency chain of their own at this
    // size). `aa·bb` stays within f64's range: each sum passed the check
    // above (so exceeds 1e-24) and is at most the length times 1.2e77 (the
    // square of f32::MAX).
    let c = ab / (aa * bb).sqrt();
    Ok((c as f32).clamp(-1.0, 1.0))
}

/// Cosine similarity of two vectors that are already unit length (e.g. from
/// [`normalized`]): their [`dot`] product clamped to `[-1, 1]`.
///
/// Performs no validation; NaN inputs give NaN, and vectors that are not
/// unit length give a meaningless (but clamped) value.
pub fn cosine_unit(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b).clamp(-1.0, 1.0)
}

/// A tiny xorshift64 PRNG for deterministic test data: the one generator of
/// the tests of this crate and of `facecore-scan` (which turns on the
/// `test-util` feature for its tests). Not part of the scoring API.
#[cfg(any(test, feature = "test-util"))]
pub mod test_rng {
    /// The generator; the seed must not be 0.
    #[derive(Debug, Clone)]
    pub struct XorShift(pub u64);

    impl XorShift {
        /// The next 64 bits of the sequence.
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// Uniform in [0, 1).
        pub fn unit(&mut self) -> f32 {
            (self.next_u64() >> 40) as f32 / (1u32 << 24) as f32
        }

        /// Uniform in [-1, 1).
        pub fn next_f32(&mut self) -> f32 {
            self.unit() * 2.0 - 1.0
        }

        /// `n` values uniform in [-1, 1).
        pub fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.next_f32()).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    use crate::test_rng::XorShift;

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum()
    }

    #[test]
    fn fused_sums_are_the_portable_loop_bit_for_bit() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for n in [0, 1, 3, 4, 15, 16, 17, 31, 33, 100, 511, 512, 513, 2048] {
            let a = rng.vec(n);
            // Wide exponents too, where the order of the sums matters most.
            let b: Vec<f32> = rng
                .vec(n)
                .iter()
                .enumerate()
                .map(|(i, x)| x * [1e-20, 1.0, 1e20][i % 3])
                .collect();
            let (fast, portable) = (fused_sums(&a, &b), fused_sums_lanes(&a, &b));
            assert_eq!(fast.0.to_bits(), portable.0.to_bits(), "a·a, length {n}");
            assert_eq!(fast.1.to_bits(), portable.1.to_bits(), "b·b, length {n}");
            assert_eq!(fast.2.to_bits(), portable.2.to_bits(), "a·b, length {n}");
            let exact = naive_dot(&a, &b);
            assert!(
                (portable.2 - exact).abs() <= 1e-12 * naive_dot(&b, &b).sqrt().max(1.0),
                "length {n}: {} vs {exact}",
                portable.2
            );
        }
    }

    #[test]
    fn dot_is_the_portable_loop_bit_for_bit() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for n in [0, 1, 7, 15, 16, 17, 31, 100, 511, 512, 513, 2048] {
            let a = rng.vec(n);
            let b = rng.vec(n);
            assert_eq!(
                dot(&a, &b).to_bits(),
                dot_portable(&a, &b).to_bits(),
                "length {n}"
            );
            let wide = (dot(&a, &b) as f64 - naive_dot(&a, &b)).abs();
            assert!(
                wide <= 1e-4 * (n as f64).max(1.0),
                "length {n}: off by {wide}"
            );
        }
    }

    #[test]
    fn cosine_identical_opposite_orthogonal() {
        let mut rng = XorShift(1);
        let a = rng.vec(EMBEDDING_DIM);
        assert!((cosine(&a, &a).unwrap() - 1.0).abs() < 1e-6);
        let neg: Vec<f32> = a.iter().map(|x| -x).collect();
        assert!((cosine(&a, &neg).unwrap() + 1.0).abs() < 1e-6);

        let mut e0 = vec![0.0f32; EMBEDDING_DIM];
        let mut e1 = vec![0.0f32; EMBEDDING_DIM];
        e0[3] = 2.0;
        e1[100] = -5.0;
        assert_eq!(cosine(&e0, &e1).unwrap(), 0.0);
        assert_eq!(cosine(&[1.0, 1.0], &[1.0, -1.0]).unwrap(), 0.0);
        assert_eq!(cosine(&e0, &e0).unwrap(), 1.0);
    }

    #[test]
    fn cosine_is_scale_invariant() {
        let mut rng = XorShift(7);
        let a = rng.vec(EMBEDDING_DIM);
        let b = rng.vec(EMBEDDING_DIM);
        let base = cosine(&a, &b).unwrap();
        for s in [1e-9f32, 1e-3, 0.5, 7.0, 1e6, 1e30] {
            let sa: Vec<f32> = a.iter().map(|x| x * s).collect();
            let c = cosine(&sa, &b).unwrap();
            assert!((c - base).abs() < 1e-6, "scale {s}: {c} vs {base}");
        }
        // Huge values do not overflow (squares are summed in f64).
        let big: Vec<f32> = a.iter().map(|x| x * 1e38).collect();
        assert!((cosine(&big, &big).unwrap() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn cosine_is_clamped() {
        let v = [0.1f32, 0.2, 0.3];
        for c in [cosine(&v, &v).unwrap(), cosine_unit(&[1.0], &[1.0 + 1e-6])] {
            assert!(c <= 1.0);
        }
        assert_eq!(cosine_unit(&[2.0], &[3.0]), 1.0);
        assert_eq!(cosine_unit(&[2.0], &[-3.0]), -1.0);
    }

    #[test]
    fn cosine_unit_matches_cosine_on_normalised() {
        let mut rng = XorShift(99);
        for n in [1usize, 7, 8, 9, 100, EMBEDDING_DIM] {
            let a = rng.vec(n);
            let b = rng.vec(n);
            let (ua, ub) = (normalized(&a).unwrap(), normalized(&b).unwrap());
            let c1 = cosine(&a, &b).unwrap();
            let c2 = cosine_unit(&ua, &ub);
            assert!((c1 - c2).abs() < 1e-5, "n={n}: {c1} vs {c2}");
        }
    }

    #[test]
    fn cosine_errors() {
        let v = [1.0f32, 2.0, 3.0];
        assert_eq!(cosine(&[], &[]), Err(ScoreError::Empty));
        assert_eq!(cosine(&v, &[]), Err(ScoreError::Empty));
        assert_eq!(cosine(&[], &v), Err(ScoreError::Empty));
        assert_eq!(
            cosine(&v, &v[..2]),
            Err(ScoreError::LengthMismatch { left: 3, right: 2 })
        );
        assert_eq!(cosine(&v, &[0.0; 3]), Err(ScoreError::ZeroNorm));
        assert_eq!(cosine(&[0.0; 3], &v), Err(ScoreError::ZeroNorm));
        assert_eq!(
            cosine(&v, &[1.0, f32::NAN, 1.0]),
            Err(ScoreError::NonFinite { index: 1 })
        );
        assert_eq!(
            cosine(&[1.0, 1.0, f32::INFINITY], &v),
            Err(ScoreError::NonFinite { index: 2 })
        );
        assert_eq!(
            cosine(&[f32::NEG_INFINITY, 1.0, 1.0], &v),
            Err(ScoreError::NonFinite { index: 0 })
        );
    }

    #[test]
    fn validate_errors() {
        assert_eq!(validate(&[], None), Err(ScoreError::Empty));
        assert_eq!(validate(&[], Some(0)), Err(ScoreError::Empty));
        assert_eq!(
            validate(&[1.0; 3], Some(EMBEDDING_DIM)),
            Err(ScoreError::WrongDimension {
                expected: EMBEDDING_DIM,
                actual: 3
            })
        );
        let mut v = vec![0.5f32; EMBEDDING_DIM];
        assert_eq!(validate(&v, Some(EMBEDDING_DIM)), Ok(()));
        assert_eq!(validate(&v, None), Ok(()));
        v[511] = f32::NAN;
        assert_eq!(
            validate(&v, None),
            Err(ScoreError::NonFinite { index: 511 })
        );
        v[511] = 0.5;
        v[17] = f32::INFINITY;
        v[200] = f32::NAN;
        assert_eq!(validate(&v, None), Err(ScoreError::NonFinite { index: 17 }));
        // +inf and -inf together sum to NaN; still found.
        let w = [f32::INFINITY, f32::NEG_INFINITY];
        assert_eq!(validate(&w, None), Err(ScoreError::NonFinite { index: 0 }));
        assert_eq!(validate(&[0.0; 4], None), Err(ScoreError::ZeroNorm));
        assert_eq!(validate(&[-0.0; 4], None), Err(ScoreError::ZeroNorm));
        // Norm 1e-13 (<= 1e-12) counts as zero; 1e-10 does not.
        assert_eq!(validate(&[1e-13, 0.0], None), Err(ScoreError::ZeroNorm));
        assert_eq!(validate(&[1e-10, 0.0], None), Ok(()));
        // Subnormal values are finite but have no usable norm.
        assert_eq!(
            validate(&[f32::MIN_POSITIVE / 4.0; 8], None),
            Err(ScoreError::ZeroNorm)
        );
        // Extreme finite values are fine.
        assert_eq!(validate(&[f32::MAX, f32::MIN, f32::MAX], None), Ok(()));
    }

    #[test]
    fn normalize_gives_unit_length() {
        let mut rng = XorShift(3);
        for n in [1usize, 3, 8, 13, EMBEDDING_DIM] {
            let v: Vec<f32> = rng.vec(n).iter().map(|x| x * 1000.0).collect();
            let u = normalized(&v).unwrap();
            let norm = naive_dot(&u, &u).sqrt();
            assert!((norm - 1.0).abs() < 1e-6, "n={n}: {norm}");
        }
        let mut big = [f32::MAX, f32::MAX];
        l2_normalize(&mut big).unwrap();
        assert!((big[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-7);
        let mut zero = [0.0f32; 3];
        assert_eq!(l2_normalize(&mut zero), Err(ScoreError::ZeroNorm));
        let mut bad = [1.0f32, f32::NAN];
        assert_eq!(
            l2_normalize(&mut bad),
            Err(ScoreError::NonFinite { index: 1 })
        );
        assert_eq!(bad[0], 1.0, "unchanged on error");
        assert_eq!(normalized(&[]), Err(ScoreError::Empty));
    }

    #[test]
    fn dot_agrees_with_naive_f64() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for n in (0usize..40).chain([127, 128, 129, 511, EMBEDDING_DIM, 513, 4096]) {
            for _ in 0..5 {
                let a = rng.vec(n);
                let b = rng.vec(n);
                let exact = naive_dot(&a, &b);
                let mag = naive_dot(
                    &a.iter().map(|x| x.abs()).collect::<Vec<_>>(),
                    &b.iter().map(|x| x.abs()).collect::<Vec<_>>(),
                );
                let got = f64::from(dot(&a, &b));
                // f32 accumulation error bound, with generous slack.
                let tol = 1e-6 * (n as f64 + 1.0) * mag.max(1e-30);
                assert!((got - exact).abs() <= tol, "n={n}: {got} vs {exact}");
            }
        }
        assert_eq!(dot(&[], &[]), 0.0);
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
    }

    #[test]
    fn cosine_agrees_with_naive_f64() {
        let mut rng = XorShift(12345);
        for _ in 0..20 {
            let a = rng.vec(EMBEDDING_DIM);
            let b = rng.vec(EMBEDDING_DIM);
            let exact = naive_dot(&a, &b) / (naive_dot(&a, &a).sqrt() * naive_dot(&b, &b).sqrt());
            let got = f64::from(cosine(&a, &b).unwrap());
            assert!((got - exact).abs() < 1e-7, "{got} vs {exact}");
        }
    }
}
