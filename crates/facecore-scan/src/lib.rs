//! The vector scans of facecore: exact 1:N search over unit vectors, and
//! the 8-bit and 4-bit codes (with their AVX2 kernels) that make it fast.
//!
//! The arithmetic comes from `facecore-score`: every cosine returned here
//! is [`facecore_score::dot`] of a normalised query with a stored row, and
//! vectors are validated and normalised by its rules
//! ([`facecore_score::validate`], [`facecore_score::normalized`]), with its
//! [`ScoreError`] for the vectors it refuses. This crate adds the storage
//! and the scans; it depends on no other crate of facecore.
//!
//! # Exact 1:N search
//!
//! [`VectorSet`] stores unit vectors contiguously (row-major) and scans
//! them in memory order with [`dot`](facecore_score::dot)'s kernel
//! ([`dot_many`] exposes the raw scan) for [`VectorSet::best_match`] and
//! [`VectorSet::top_k`]; its cosines are bit-identical to
//! [`cosine_unit`](facecore_score::cosine_unit) on the normalised vectors.
//! A large gallery is bound by memory bandwidth: 100k × 512 `f32` is
//! 205 MB per query (11–23 ms on one core here).
//!
//! [`QuantizedVectorSet`] adds an 8-bit copy of every row (+25% memory)
//! and scans that instead, with a proven error bound per row; only rows
//! that could still be among the best are re-scored on the exact `f32`
//! rows. Its answers are *identical* to [`VectorSet`]'s (same rows, same
//! bit-exact cosines) at about a third of the time (3.6–7.7 ms for the best
//! match in 100k × 512 on one core, `cargo bench -p facecore-scan`).
//!
//! # Codes for indexes
//!
//! The building blocks of an approximate index, which keeps codes in
//! memory and fetches exact rows from elsewhere: [`Sq8Rows`] (8-bit codes
//! with a guaranteed bound on every estimate, queried with an
//! [`Sq8Query`]; [`candidates`] and [`ScanPart`] pick the rows worth an
//! exact look) and [`Sq4Rows`] (4-bit codes on a per-dimension
//! [`Sq4Grid`], for a first ranking without bounds).
//!
//! # Example
//!
//! ```
//! use facecore_scan::{QuantizedVectorSet, VectorSet};
//! use facecore_score::{EMBEDDING_DIM, ScoreError, ScoreMap};
//!
//! let a: Vec<f32> = (0..EMBEDDING_DIM).map(|i| (i as f32).sin()).collect();
//! let b: Vec<f32> = a.iter().map(|x| 3.0 * x).collect();
//!
//! // 1:N search; the best cosine's score decides acceptance.
//! let mut gallery = VectorSet::new(EMBEDDING_DIM);
//! gallery.push(&b)?;
//! let (index, c) = gallery.best_match(&a)?.expect("gallery is not empty");
//! assert_eq!(index, 0);
//! let map = ScoreMap::spec_reference();
//! assert!(c >= map.threshold(80) && map.score(c) == 100);
//!
//! // The 8-bit companion gives the same answer.
//! let mut quantized = QuantizedVectorSet::new(EMBEDDING_DIM);
//! quantized.push(&b)?;
//! assert_eq!(quantized.best_match(&a)?, Some((index, c)));
//! # Ok::<(), ScoreError>(())
//! ```

mod scan;
mod sq4;
mod sq8;

// The AVX2 kernels of the 8-bit and 4-bit scans.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2;

pub use facecore_score::ScoreError;
pub use scan::{VectorSet, dot_many};
pub use sq4::{Sq4Grid, Sq4Query, Sq4Rows};
pub use sq8::{QuantizedVectorSet, ScanPart, Sq8Query, Sq8Rows, candidates};

/// Validates `query` as a vector of dimension `dim` and returns it
/// normalised to unit length, exactly as
/// [`normalized`](facecore_score::normalized) would (the same `f64`
/// arithmetic, so the same bits).
///
/// # Errors
///
/// As [`validate`](facecore_score::validate) with `Some(dim)`.
pub fn unit_query(query: &[f32], dim: usize) -> Result<Vec<f32>, ScoreError> {
    check_dim(query, dim)?;
    facecore_score::normalized(query)
}

/// The dimension check of [`validate`](facecore_score::validate) with
/// `Some(dim)`, in its order: an empty vector is left for the caller's
/// normalisation to refuse as [`ScoreError::Empty`], so that it is reported
/// before a wrong dimension.
pub(crate) fn check_dim(v: &[f32], dim: usize) -> Result<(), ScoreError> {
    if v.is_empty() || v.len() == dim {
        Ok(())
    } else {
        Err(ScoreError::WrongDimension {
            expected: dim,
            actual: v.len(),
        })
    }
}

/// `Vec::swap_remove` for rows of `width` values stored flat: moves the
/// last row into row `row` and drops the last. False, changing nothing,
/// when `row` is out of range (or `width` is 0).
pub(crate) fn swap_remove_row<T: Copy>(rows: &mut Vec<T>, width: usize, row: usize) -> bool {
    let len = rows.len().checked_div(width).unwrap_or(0);
    if row >= len {
        return false;
    }
    let last = len - 1;
    if row != last {
        let (head, tail) = rows.split_at_mut(last * width);
        head[row * width..(row + 1) * width].copy_from_slice(&tail[..width]);
    }
    rows.truncate(last * width);
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use facecore_score::{normalized, validate};

    #[test]
    fn unit_query_is_validate_then_normalized() {
        let v = [3.0f32, 0.0, 4.0, 1e-3];
        let unit = unit_query(&v, 4).unwrap();
        let want = normalized(&v).unwrap();
        assert_eq!(
            unit.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        // The errors, in validate's order of precedence.
        for (query, dim) in [
            (&[][..], 4),
            (&[][..], 0),
            (&[1.0, 2.0][..], 4),
            (&[f32::NAN, 1.0][..], 3),
            (&[f32::NAN, 1.0][..], 2),
            (&[0.0, 0.0][..], 2),
        ] {
            assert_eq!(
                unit_query(query, dim).map(|_| ()),
                validate(query, Some(dim)),
                "{query:?} as dimension {dim}"
            );
        }
    }
}
