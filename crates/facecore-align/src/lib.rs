//! Five-point face alignment to the standard 112×112 ArcFace template.
//!
//! The pipeline is:
//!
//! 1. take the five facial landmarks reported by a detector (left eye,
//!    right eye, nose tip, left mouth corner, right mouth corner, in image
//!    pixel coordinates);
//! 2. fit the least-squares *similarity* transform (rotation, uniform scale
//!    and translation, never a reflection) that maps them onto
//!    [`TEMPLATE_112`] with [`estimate_similarity`] (Umeyama 1991, closed
//!    form in 2-D);
//! 3. resample the image through that transform into a
//!    [`ALIGNED_SIZE`]×[`ALIGNED_SIZE`] crop with [`warp_bilinear`].
//!
//! [`align_face`] does all three steps.
//!
//! Coordinates follow the OpenCV `warpAffine` convention: pixel centres lie
//! at integer coordinates, so pixel `(x, y)` covers `[x - 0.5, x + 0.5)`, and
//! the identity transform reproduces the image exactly. Samples outside the
//! source image are black.
//!
//! # Example
//!
//! ```
//! use facecore_align::{align_face, estimate_similarity, RgbImage, ALIGNED_SIZE, TEMPLATE_112};
//!
//! // A face whose landmarks are the template scaled by 2 and shifted by (10, 20).
//! let image = RgbImage::from_fn(300, 300, |x, y| image::Rgb([x as u8, y as u8, 128]));
//! let landmarks = TEMPLATE_112.map(|[x, y]| [2.0 * x + 10.0, 2.0 * y + 20.0]);
//!
//! let t = estimate_similarity(&landmarks, &TEMPLATE_112)?;
//! assert!((t.scale() - 0.5).abs() < 1e-6);
//! assert!(t.rotation_radians().abs() < 1e-6);
//!
//! let crop = align_face(&image, &landmarks)?;
//! assert_eq!(crop.dimensions(), (ALIGNED_SIZE, ALIGNED_SIZE));
//! # Ok::<(), facecore_align::AlignError>(())
//! ```

pub use image::RgbImage;

/// Standard ArcFace-style 112x112 template, order: left eye, right eye, nose
/// tip, left mouth corner, right mouth corner (image coordinates, left =
/// viewer's left).
pub const TEMPLATE_112: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// Side length, in pixels, of the square crop produced by [`align_face`].
pub const ALIGNED_SIZE: u32 = 112;

/// Relative threshold below which a point set's spread counts as zero.
///
/// The spread (sum of squared distances to the centroid) is compared with the
/// sum of squared coordinates; `f32` inputs carry about 1e-7 relative
/// precision, so a ratio below 1e-12 means the spread is lost in rounding.
const DEGENERATE_RELATIVE: f64 = 1e-12;

/// Errors returned by the alignment functions.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum AlignError {
    /// The source and destination point sets have different lengths.
    #[error("point count mismatch: {src} source points but {dst} destination points")]
    PointCountMismatch {
        /// Number of source points.
        src: usize,
        /// Number of destination points.
        dst: usize,
    },
    /// Fewer points than a similarity fit needs.
    #[error("too few points: got {got}, need at least {min}")]
    TooFewPoints {
        /// Number of points supplied.
        got: usize,
        /// Minimum number of points required.
        min: usize,
    },
    /// A source point has a NaN or infinite coordinate.
    #[error("source point {index} has a non-finite coordinate")]
    NonFiniteSource {
        /// Index of the offending point.
        index: usize,
    },
    /// A destination point has a NaN or infinite coordinate.
    #[error("destination point {index} has a non-finite coordinate")]
    NonFiniteDestination {
        /// Index of the offending point.
        index: usize,
    },
    /// The source points are all (numerically) identical, so rotation and
    /// scale are undetermined.
    #[error("degenerate source points: they have (numerically) zero spread")]
    DegenerateSource,
    /// The destination points are all (numerically) identical, so the fitted
    /// transform would collapse everything to one point.
    #[error("degenerate destination points: they have (numerically) zero spread")]
    DegenerateDestination,
    /// The transform has zero (or non-finite) scale and cannot be inverted.
    #[error("transform is not invertible")]
    NonInvertible,
    /// The requested output image would not fit in memory addressing.
    #[error("output size {width}x{height} is too large")]
    OutputTooLarge {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
}

/// What kind of failure an [`AlignError`] is (see [`AlignError::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The source points (the landmarks) cannot define a transform: too
    /// few, a count unlike the template's, non-finite, or collapsed.
    Landmarks,
    /// The destination template cannot define a transform.
    Template,
    /// The requested crop is larger than allowed.
    OutputTooLarge,
}

impl AlignError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::PointCountMismatch { .. }
            | Self::TooFewPoints { .. }
            | Self::NonFiniteSource { .. }
            | Self::DegenerateSource => ErrorKind::Landmarks,
            Self::NonFiniteDestination { .. }
            | Self::DegenerateDestination
            | Self::NonInvertible => ErrorKind::Template,
            Self::OutputTooLarge { .. } => ErrorKind::OutputTooLarge,
        }
    }
}

/// A 2-D similarity transform (rotation + uniform scale + translation):
///
/// ```text
/// x' = a*x - b*y + tx
/// y' = b*x + a*y + ty
/// ```
///
/// with `a = s·cos θ`, `b = s·sin θ`. It never reflects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// `scale * cos(rotation)`.
    pub a: f64,
    /// `scale * sin(rotation)`.
    pub b: f64,
    /// Translation along x.
    pub tx: f64,
    /// Translation along y.
    pub ty: f64,
}

impl Similarity {
    /// The identity transform.
    pub const IDENTITY: Similarity = Similarity {
        a: 1.0,
        b: 0.0,
        tx: 0.0,
        ty: 0.0,
    };

    /// Builds a transform from a scale factor, a rotation (radians,
    /// counter-clockwise in a y-up frame, i.e. clockwise on screen for image
    /// coordinates) and a translation.
    pub fn from_parts(scale: f64, rotation_radians: f64, tx: f64, ty: f64) -> Similarity {
        let (sin, cos) = rotation_radians.sin_cos();
        Similarity {
            a: scale * cos,
            b: scale * sin,
            tx,
            ty,
        }
    }

    /// Maps one point (computed in `f64`, returned as `f32`).
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        let [x, y] = self.apply_f64([f64::from(p[0]), f64::from(p[1])]);
        [x as f32, y as f32]
    }

    /// Maps one point in full `f64` precision.
    pub fn apply_f64(&self, [x, y]: [f64; 2]) -> [f64; 2] {
        [
            self.a * x - self.b * y + self.tx,
            self.b * x + self.a * y + self.ty,
        ]
    }

    /// The inverse transform, or `None` if the scale is zero or any
    /// coefficient (of `self` or of the result) is non-finite.
    pub fn inverse(&self) -> Option<Similarity> {
        let det = self.a * self.a + self.b * self.b;
        let invertible = det > 0.0 && det.is_finite() && self.tx.is_finite() && self.ty.is_finite();
        if !invertible {
            return None;
        }
        let a = self.a / det;
        let b = -self.b / det;
        let inv = Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        };
        inv.is_finite().then_some(inv)
    }

    /// The composition `self ∘ first`: apply `first`, then `self`.
    pub fn compose(&self, first: &Similarity) -> Similarity {
        let [tx, ty] = self.apply_f64([first.tx, first.ty]);
        Similarity {
            a: self.a * first.a - self.b * first.b,
            b: self.b * first.a + self.a * first.b,
            tx,
            ty,
        }
    }

    /// The uniform scale factor `sqrt(a² + b²)`.
    pub fn scale(&self) -> f64 {
        self.a.hypot(self.b)
    }

    /// The rotation angle `atan2(b, a)` in radians, in `(-π, π]`.
    pub fn rotation_radians(&self) -> f64 {
        self.b.atan2(self.a)
    }

    fn is_finite(&self) -> bool {
        self.a.is_finite() && self.b.is_finite() && self.tx.is_finite() && self.ty.is_finite()
    }
}

/// Centroid and spread of a point set, in `f64`.
struct Stats {
    mean: [f64; 2],
    /// Sum of squared distances to the centroid.
    spread: f64,
    /// Sum of squared raw coordinates (scale reference for degeneracy).
    magnitude: f64,
}

impl Stats {
    fn of(points: &[[f32; 2]]) -> Stats {
        let n = points.len() as f64;
        let (mut sx, mut sy, mut mag) = (0.0f64, 0.0f64, 0.0f64);
        for p in points {
            let (x, y) = (f64::from(p[0]), f64::from(p[1]));
            sx += x;
            sy += y;
            mag += x * x + y * y;
        }
        let mean = [sx / n, sy / n];
        let spread = points
            .iter()
            .map(|p| {
                let dx = f64::from(p[0]) - mean[0];
                let dy = f64::from(p[1]) - mean[1];
                dx * dx + dy * dy
            })
            .sum();
        Stats {
            mean,
            spread,
            magnitude: mag,
        }
    }

    fn is_degenerate(&self) -> bool {
        // Inputs are finite, so neither side is NaN; zero spread is caught
        // because the magnitude is non-negative.
        self.spread <= DEGENERATE_RELATIVE * self.magnitude
    }
}

fn first_non_finite(points: &[[f32; 2]]) -> Option<usize> {
    points
        .iter()
        .position(|p| !(p[0].is_finite() && p[1].is_finite()))
}

/// Least-squares similarity transform mapping `src` onto `dst`
/// (Umeyama 1991, restricted to rotations, so never a reflection).
///
/// Minimises `Σ |T(src[i]) - dst[i]|²` over rotation, uniform scale and
/// translation. With centred coordinates `(x, y)` (source) and `(x', y')`
/// (destination) the solution is
/// `a = Σ(x·x' + y·y') / Σ(x² + y²)`, `b = Σ(x·y' − y·x') / Σ(x² + y²)`, and
/// the translation maps the source centroid to the destination centroid.
/// All arithmetic is in `f64`.
///
/// # Errors
///
/// * [`AlignError::PointCountMismatch`] if the slices differ in length;
/// * [`AlignError::TooFewPoints`] for fewer than two points;
/// * [`AlignError::NonFiniteSource`] / [`AlignError::NonFiniteDestination`]
///   for NaN or infinite coordinates;
/// * [`AlignError::DegenerateSource`] / [`AlignError::DegenerateDestination`]
///   if either set has (numerically) zero spread, e.g. all points equal.
pub fn estimate_similarity(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Result<Similarity, AlignError> {
    if src.len() != dst.len() {
        return Err(AlignError::PointCountMismatch {
            src: src.len(),
            dst: dst.len(),
        });
    }
    if src.len() < 2 {
        return Err(AlignError::TooFewPoints {
            got: src.len(),
            min: 2,
        });
    }
    if let Some(index) = first_non_finite(src) {
        return Err(AlignError::NonFiniteSource { index });
    }
    if let Some(index) = first_non_finite(dst) {
        return Err(AlignError::NonFiniteDestination { index });
    }

    let s = Stats::of(src);
    let d = Stats::of(dst);
    if s.is_degenerate() {
        return Err(AlignError::DegenerateSource);
    }
    if d.is_degenerate() {
        return Err(AlignError::DegenerateDestination);
    }

    let (mut num_a, mut num_b) = (0.0f64, 0.0f64);
    for (p, q) in src.iter().zip(dst) {
        let x = f64::from(p[0]) - s.mean[0];
        let y = f64::from(p[1]) - s.mean[1];
        let xd = f64::from(q[0]) - d.mean[0];
        let yd = f64::from(q[1]) - d.mean[1];
        num_a += x * xd + y * yd;
        num_b += x * yd - y * xd;
    }
    let a = num_a / s.spread;
    let b = num_b / s.spread;
    // Both sets are spread out but may be completely uncorrelated (e.g. the
    // destination is a mirrored arrangement whose best rotation fit is zero);
    // a zero-scale fit cannot be used for alignment.
    if a * a + b * b <= 0.0 {
        return Err(AlignError::DegenerateDestination);
    }
    let t = Similarity {
        a,
        b,
        tx: d.mean[0] - (a * s.mean[0] - b * s.mean[1]),
        ty: d.mean[1] - (b * s.mean[0] + a * s.mean[1]),
    };
    if t.is_finite() {
        Ok(t)
    } else {
        Err(AlignError::NonInvertible)
    }
}

/// Resamples `src` through `dst_from_src` into a `width`×`height` image.
///
/// Each output pixel centre `(u, v)` is mapped back into the source with the
/// inverse transform and bilinearly interpolated from the four surrounding
/// source pixels (pixel centres at integer coordinates, as in OpenCV
/// `warpAffine`). Neighbours outside the source count as black, so samples
/// entirely outside the source are `(0, 0, 0)` and samples within half a
/// pixel of the border fade towards black. The identity transform reproduces
/// the image exactly.
///
/// # Errors
///
/// * [`AlignError::NonInvertible`] if `dst_from_src` has zero or non-finite
///   scale or translation;
/// * [`AlignError::OutputTooLarge`] if `width * height * 3` overflows `usize`.
pub fn warp_bilinear(
    src: &RgbImage,
    dst_from_src: &Similarity,
    width: u32,
    height: u32,
) -> Result<RgbImage, AlignError> {
    let inv = dst_from_src.inverse().ok_or(AlignError::NonInvertible)?;
    let len = (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(3))
        .ok_or(AlignError::OutputTooLarge { width, height })?;

    let (sw, sh) = src.dimensions();
    let sw_us = sw as usize;
    let (swf, shf) = (f64::from(sw), f64::from(sh));
    let data: &[u8] = src.as_raw();
    let mut out = vec![0u8; len];
    if width == 0 || height == 0 || sw == 0 || sh == 0 {
        return RgbImage::from_raw(width, height, out)
            .ok_or(AlignError::OutputTooLarge { width, height });
    }

    let row_len = width as usize * 3;
    for (v, row) in out.chunks_exact_mut(row_len).enumerate() {
        let vf = v as f64;
        // Source position of output pixel (u, v) is (row_x + a*u, row_y + b*u).
        let row_x = inv.tx - inv.b * vf;
        let row_y = inv.ty + inv.a * vf;
        for (u, px) in row.chunks_exact_mut(3).enumerate() {
            let uf = u as f64;
            let x = inv.a * uf + row_x;
            let y = inv.b * uf + row_y;
            // Entirely outside (also rejects NaN): leave black.
            if !(x > -1.0 && x < swf && y > -1.0 && y < shf) {
                continue;
            }
            let x0f = x.floor();
            let y0f = y.floor();
            let fx = (x - x0f) as f32;
            let fy = (y - y0f) as f32;
            // x0f, y0f are in [-1, sw-1] / [-1, sh-1], exactly representable.
            let x0 = x0f as i64;
            let y0 = y0f as i64;
            let w00 = (1.0 - fx) * (1.0 - fy);
            let w10 = fx * (1.0 - fy);
            let w01 = (1.0 - fx) * fy;
            let w11 = fx * fy;

            if x0 >= 0 && y0 >= 0 && x0 + 1 < i64::from(sw) && y0 + 1 < i64::from(sh) {
                // Fast path: all four neighbours inside.
                let i00 = (y0 as usize * sw_us + x0 as usize) * 3;
                let i01 = i00 + sw_us * 3;
                let (r0, r1) = (&data[i00..i00 + 6], &data[i01..i01 + 6]);
                for c in 0..3 {
                    let val = w00 * f32::from(r0[c])
                        + w10 * f32::from(r0[c + 3])
                        + w01 * f32::from(r1[c])
                        + w11 * f32::from(r1[c + 3]);
                    px[c] = (val + 0.5) as u8;
                }
            } else {
                // Border: neighbours outside contribute black.
                let mut acc = [0.0f32; 3];
                let neighbours = [
                    (x0, y0, w00),
                    (x0 + 1, y0, w10),
                    (x0, y0 + 1, w01),
                    (x0 + 1, y0 + 1, w11),
                ];
                for (nx, ny, w) in neighbours {
                    if nx < 0 || ny < 0 || nx >= i64::from(sw) || ny >= i64::from(sh) {
                        continue;
                    }
                    let i = (ny as usize * sw_us + nx as usize) * 3;
                    for (c, a) in acc.iter_mut().enumerate() {
                        *a += w * f32::from(data[i + c]);
                    }
                }
                for (p, a) in px.iter_mut().zip(acc) {
                    *p = (a + 0.5) as u8;
                }
            }
        }
    }
    RgbImage::from_raw(width, height, out).ok_or(AlignError::OutputTooLarge { width, height })
}

/// Aligns a face to the [`ALIGNED_SIZE`]×[`ALIGNED_SIZE`] template.
///
/// `landmarks` are the five points in the order of [`TEMPLATE_112`] (left
/// eye, right eye, nose tip, left mouth corner, right mouth corner) in
/// `image` pixel coordinates. The least-squares similarity mapping them onto
/// [`TEMPLATE_112`] is estimated and the image is resampled bilinearly;
/// regions outside the source image are black.
///
/// # Errors
///
/// Any error of [`estimate_similarity`] (non-finite or degenerate
/// landmarks) or [`warp_bilinear`].
pub fn align_face(image: &RgbImage, landmarks: &[[f32; 2]; 5]) -> Result<RgbImage, AlignError> {
    let t = estimate_similarity(landmarks, &TEMPLATE_112)?;
    warp_bilinear(image, &t, ALIGNED_SIZE, ALIGNED_SIZE)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use image::Rgb;
    use std::f64::consts::PI;

    fn assert_close(t: &Similarity, expected: &Similarity, tol: f64) {
        let ok = (t.a - expected.a).abs() <= tol
            && (t.b - expected.b).abs() <= tol
            && (t.tx - expected.tx).abs() <= tol
            && (t.ty - expected.ty).abs() <= tol;
        assert!(ok, "{t:?} != {expected:?} (tol {tol})");
    }

    /// Deterministic pseudo-random noise in [-1, 1].
    struct XorShift(u64);
    impl XorShift {
        fn next_unit(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        }
    }

    fn known() -> Similarity {
        Similarity::from_parts(1.7, 20f64.to_radians(), 31.5, -12.25)
    }

    fn map_points(t: &Similarity, pts: &[[f32; 2]]) -> Vec<[f32; 2]> {
        pts.iter().map(|&p| t.apply(p)).collect()
    }

    #[test]
    fn similarity_parts_roundtrip() {
        let t = known();
        assert!((t.scale() - 1.7).abs() < 1e-12);
        assert!((t.rotation_radians() - 20f64.to_radians()).abs() < 1e-12);
        let id = t.compose(&t.inverse().unwrap());
        assert_close(&id, &Similarity::IDENTITY, 1e-12);
        let id = t.inverse().unwrap().compose(&t);
        assert_close(&id, &Similarity::IDENTITY, 1e-12);
        let p = [12.0f32, -7.5];
        let q = t.inverse().unwrap().apply(t.apply(p));
        assert!((q[0] - p[0]).abs() < 1e-4 && (q[1] - p[1]).abs() < 1e-4);
    }

    #[test]
    fn inverse_rejects_singular() {
        let zero = Similarity {
            a: 0.0,
            b: 0.0,
            tx: 1.0,
            ty: 2.0,
        };
        assert_eq!(zero.inverse(), None);
        let nan = Similarity {
            a: f64::NAN,
            ..Similarity::IDENTITY
        };
        assert_eq!(nan.inverse(), None);
        let inf_t = Similarity {
            tx: f64::INFINITY,
            ..Similarity::IDENTITY
        };
        assert_eq!(inf_t.inverse(), None);
    }

    #[test]
    fn estimate_recovers_known_transform_exactly() {
        let t = known();
        let dst = map_points(&t, &TEMPLATE_112);
        let est = estimate_similarity(&TEMPLATE_112, &dst).unwrap();
        // Only f32 rounding of the destination points limits the accuracy.
        assert_close(&est, &t, 1e-4);
        assert!((est.scale() - 1.7).abs() < 1e-6);
        assert!((est.rotation_radians() - 20f64.to_radians()).abs() < 1e-6);
    }

    #[test]
    fn estimate_is_exact_in_f64_terms() {
        // Points and transform chosen so every destination is exact in f32.
        let t = Similarity {
            a: 1.5,
            b: -0.5,
            tx: 4.0,
            ty: -2.0,
        };
        let src = [
            [0.0f32, 0.0],
            [4.0, 0.0],
            [0.0, 8.0],
            [2.0, 2.0],
            [6.0, 4.0],
        ];
        let dst = map_points(&t, &src);
        let est = estimate_similarity(&src, &dst).unwrap();
        assert_close(&est, &t, 1e-12);
    }

    #[test]
    fn estimate_with_two_points() {
        let t = known();
        let src = [[10.0f32, 10.0], [50.0, 30.0]];
        let est = estimate_similarity(&src, &map_points(&t, &src)).unwrap();
        assert_close(&est, &t, 1e-4);
    }

    #[test]
    fn estimate_with_noise_is_approximate() {
        let t = known();
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let dst: Vec<[f32; 2]> = map_points(&t, &TEMPLATE_112)
            .into_iter()
            .map(|[x, y]| {
                [
                    x + (0.3 * rng.next_unit()) as f32,
                    y + (0.3 * rng.next_unit()) as f32,
                ]
            })
            .collect();
        let est = estimate_similarity(&TEMPLATE_112, &dst).unwrap();
        assert!((est.scale() - 1.7).abs() < 0.02, "{}", est.scale());
        assert!(
            (est.rotation_radians() - 20f64.to_radians()).abs() < 0.02,
            "{}",
            est.rotation_radians()
        );
        // Mapped template points land within noise of their targets.
        for (p, q) in TEMPLATE_112.iter().zip(&dst) {
            let m = est.apply(*p);
            assert!((m[0] - q[0]).hypot(m[1] - q[1]) < 1.0);
        }
    }

    #[test]
    fn estimate_never_reflects() {
        // Mirror image of an asymmetric shape: a reflection would fit it
        // exactly, a rotation cannot, so the fit must leave a residual.
        let src = [[0.0f32, 0.0], [10.0, 0.0], [0.0, 20.0], [3.0, 3.0]];
        let mirrored: Vec<[f32; 2]> = src.iter().map(|&[x, y]| [-x, y]).collect();
        let est = estimate_similarity(&src, &mirrored).unwrap();
        let residual: f32 = src
            .iter()
            .zip(&mirrored)
            .map(|(p, q)| {
                let m = est.apply(*p);
                (m[0] - q[0]).hypot(m[1] - q[1])
            })
            .sum();
        assert!(residual > 10.0);
    }

    #[test]
    fn estimate_errors() {
        let three = [[0.0f32, 0.0], [1.0, 0.0], [0.0, 1.0]];
        assert_eq!(
            estimate_similarity(&three, &three[..2]),
            Err(AlignError::PointCountMismatch { src: 3, dst: 2 })
        );
        assert_eq!(
            estimate_similarity(&three[..1], &three[..1]),
            Err(AlignError::TooFewPoints { got: 1, min: 2 })
        );
        assert_eq!(
            estimate_similarity(&[], &[]),
            Err(AlignError::TooFewPoints { got: 0, min: 2 })
        );

        let mut bad = three;
        bad[1][1] = f32::NAN;
        assert_eq!(
            estimate_similarity(&bad, &three),
            Err(AlignError::NonFiniteSource { index: 1 })
        );
        bad[1][1] = 0.0;
        bad[2][0] = f32::INFINITY;
        assert_eq!(
            estimate_similarity(&three, &bad),
            Err(AlignError::NonFiniteDestination { index: 2 })
        );

        let same = [[5.0f32, 7.0]; 4];
        let spread = [[0.0f32, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
        assert_eq!(
            estimate_similarity(&same, &spread),
            Err(AlignError::DegenerateSource)
        );
        assert_eq!(
            estimate_similarity(&spread, &same),
            Err(AlignError::DegenerateDestination)
        );
        // Spread far below f32 resolution at this magnitude is degenerate too.
        let tiny = [[1.0e6f32, 1.0e6], [1.0e6, 1.0e6], [1.0e6, 1.0e6]];
        assert_eq!(
            estimate_similarity(&tiny, &spread[..3]),
            Err(AlignError::DegenerateSource)
        );
    }

    #[test]
    fn align_face_errors() {
        let img = RgbImage::new(8, 8);
        let mut lm = TEMPLATE_112;
        lm[3][0] = f32::NAN;
        assert_eq!(
            align_face(&img, &lm),
            Err(AlignError::NonFiniteSource { index: 3 })
        );
        assert_eq!(
            align_face(&img, &[[1.0, 1.0]; 5]),
            Err(AlignError::DegenerateSource)
        );
    }

    #[test]
    fn warp_rejects_non_invertible() {
        let img = RgbImage::new(4, 4);
        let t = Similarity {
            a: 0.0,
            b: 0.0,
            tx: 0.0,
            ty: 0.0,
        };
        assert_eq!(
            warp_bilinear(&img, &t, 4, 4),
            Err(AlignError::NonInvertible)
        );
    }

    /// Smooth colour gradient plus a few distinct coloured squares.
    fn synthetic(w: u32, h: u32) -> RgbImage {
        let squares: [(u32, u32, u32, [u8; 3]); 4] = [
            (40, 50, 20, [255, 0, 0]),
            (120, 40, 25, [0, 255, 0]),
            (70, 120, 18, [0, 0, 255]),
            (140, 130, 22, [255, 255, 0]),
        ];
        RgbImage::from_fn(w, h, |x, y| {
            for &(sx, sy, size, c) in &squares {
                if (sx..sx + size).contains(&x) && (sy..sy + size).contains(&y) {
                    return Rgb(c);
                }
            }
            Rgb([
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                (((x + y) * 255) / (w + h)) as u8,
            ])
        })
    }

    fn max_channel_diff(a: &Rgb<u8>, b: &Rgb<u8>) -> u8 {
        a.0.iter()
            .zip(b.0)
            .map(|(&x, y)| x.abs_diff(y))
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn identity_warp_is_exact() {
        let img = synthetic(200, 180);
        let out = warp_bilinear(&img, &Similarity::IDENTITY, 200, 180).unwrap();
        assert_eq!(out, img);
        // Integer translation is exact too (with black fill).
        let shift = Similarity {
            tx: 3.0,
            ty: -2.0,
            ..Similarity::IDENTITY
        };
        let out = warp_bilinear(&img, &shift, 200, 180).unwrap();
        for (x, y, p) in out.enumerate_pixels() {
            let (sx, sy) = (i64::from(x) - 3, i64::from(y) + 2);
            if sx < 0 || sy >= 180 {
                assert_eq!(p.0, [0, 0, 0]);
            } else {
                assert_eq!(p, img.get_pixel(sx as u32, sy as u32));
            }
        }
    }

    #[test]
    fn outside_is_black_and_half_pixel_interpolates() {
        let img = RgbImage::from_pixel(4, 4, Rgb([200, 100, 50]));
        // Shift far away: everything black.
        let far = Similarity {
            tx: 100.0,
            ..Similarity::IDENTITY
        };
        let out = warp_bilinear(&img, &far, 4, 4).unwrap();
        assert!(out.pixels().all(|p| p.0 == [0, 0, 0]));
        // Half-pixel shift: interior samples are the constant colour, the
        // first column blends half with the black outside.
        let half = Similarity {
            tx: 0.5,
            ..Similarity::IDENTITY
        };
        let out = warp_bilinear(&img, &half, 4, 4).unwrap();
        assert_eq!(out.get_pixel(0, 1).0, [100, 50, 25]);
        assert_eq!(out.get_pixel(2, 1).0, [200, 100, 50]);
        // Empty source or empty output are fine.
        let empty = RgbImage::new(0, 0);
        let out = warp_bilinear(&empty, &Similarity::IDENTITY, 3, 2).unwrap();
        assert!(out.pixels().all(|p| p.0 == [0, 0, 0]));
        let out = warp_bilinear(&img, &Similarity::IDENTITY, 0, 5).unwrap();
        assert_eq!(out.dimensions(), (0, 5));
    }

    #[test]
    fn warp_then_estimate_then_align_back() {
        let (w, h) = (200u32, 180u32);
        let img = synthetic(w, h);
        // Warp the original with a known T (upscale + rotate + shift).
        let t = Similarity::from_parts(1.3, 25f64.to_radians(), 60.0, -20.0);
        let (ww, wh) = (320u32, 320u32);
        let warped = warp_bilinear(&img, &t, ww, wh).unwrap();

        // Landmarks: square corners in the original, mapped through T.
        let orig_pts: [[f32; 2]; 6] = [
            [40.0, 50.0],
            [120.0, 40.0],
            [70.0, 120.0],
            [140.0, 130.0],
            [100.0, 90.0],
            [30.0, 150.0],
        ];
        let mut rng = XorShift(42);
        let warped_pts: Vec<[f32; 2]> = orig_pts
            .iter()
            .map(|&p| {
                let [x, y] = t.apply(p);
                // Sub-pixel "detector" noise.
                [
                    x + (0.05 * rng.next_unit()) as f32,
                    y + (0.05 * rng.next_unit()) as f32,
                ]
            })
            .collect();

        let back = estimate_similarity(&warped_pts, &orig_pts).unwrap();
        let expected = t.inverse().unwrap();
        assert!((back.scale() - expected.scale()).abs() < 1e-3);
        assert!((back.rotation_radians() - expected.rotation_radians()).abs() < 1e-3);

        let restored = warp_bilinear(&warped, &back, w, h).unwrap();

        // Compare pixels whose footprint is well inside the warped image.
        let is_square_edge = |x: u32, y: u32| {
            let squares = [(40, 50, 20), (120, 40, 25), (70, 120, 18), (140, 130, 22)];
            squares.iter().any(|&(sx, sy, s)| {
                let near = |v: u32, lo: u32, hi: u32| v + 2 >= lo && v <= hi + 2;
                let on_x = near(x, sx, sx) || near(x, sx + s - 1, sx + s - 1);
                let on_y = near(y, sy, sy) || near(y, sy + s - 1, sy + s - 1);
                let in_x = near(x, sx, sx + s - 1);
                let in_y = near(y, sy, sy + s - 1);
                (on_x && in_y) || (on_y && in_x)
            })
        };
        let (mut n, mut total, mut worst_smooth) = (0u64, 0u64, 0u8);
        for (x, y, p) in restored.enumerate_pixels() {
            if x < 3 || y < 3 || x + 3 >= w || y + 3 >= h {
                continue;
            }
            let [wx, wy] = t.apply_f64([f64::from(x), f64::from(y)]);
            if !(wx > 2.0 && wy > 2.0 && wx < f64::from(ww) - 3.0 && wy < f64::from(wh) - 3.0) {
                continue;
            }
            let d = max_channel_diff(p, img.get_pixel(x, y));
            n += 1;
            total += u64::from(d);
            if !is_square_edge(x, y) {
                worst_smooth = worst_smooth.max(d);
            }
        }
        assert!(n > 20_000, "too few interior pixels compared: {n}");
        let mean = total as f64 / n as f64;
        assert!(mean < 1.5, "mean abs diff {mean}");
        assert!(worst_smooth <= 3, "max diff away from edges {worst_smooth}");
    }

    #[test]
    fn align_face_with_template_landmarks_is_identity() {
        let img = synthetic(112, 112);
        let out = align_face(&img, &TEMPLATE_112).unwrap();
        assert_eq!(out, img);
    }

    #[test]
    fn align_face_undoes_a_scaled_rotated_face() {
        // Render the 112x112 "face" into a bigger canvas with a known T,
        // move the template landmarks with T, and align back.
        let face = synthetic(112, 112);
        let t = Similarity::from_parts(2.0, -PI / 9.0, 80.0, 90.0);
        let canvas = warp_bilinear(&face, &t, 400, 400).unwrap();
        let lm = TEMPLATE_112.map(|p| t.apply(p));
        let out = align_face(&canvas, &lm).unwrap();
        assert_eq!(out.dimensions(), (ALIGNED_SIZE, ALIGNED_SIZE));
        let (mut n, mut total) = (0u64, 0u64);
        for (x, y, p) in out.enumerate_pixels() {
            if (2..110).contains(&x) && (2..110).contains(&y) {
                n += 1;
                total += u64::from(max_channel_diff(p, face.get_pixel(x, y)));
            }
        }
        let mean = total as f64 / n as f64;
        assert!(mean < 1.5, "mean abs diff {mean}");
    }
}
