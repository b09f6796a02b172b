//! The calibrated map from cosine similarity to an integer match score.
//!
//! See the crate documentation for the rules; [`ScoreMap`] holds the
//! implementation notes.

/// Lowest score a [`ScoreMap`] returns (for cosines at or below `-1`, or NaN).
pub const MIN_SCORE: i32 = -1;

/// Highest score a [`ScoreMap`] returns.
pub const MAX_SCORE: i32 = 100;

/// Cosines at or above this count as exactly 1, the same face: score 100
/// (see [`ScoreMap::score_f`]).
///
/// Two embeddings of the same image are the same vector, but their cosine,
/// a 512-term `f32` dot product of vectors normalised in `f32`, comes out a
/// few units of `1e-7` below 1 (the compare path and the search path round
/// differently), which the linear top segment would floor to 99. `1e-5` is
/// well above that rounding (at most about `4e-6` for 512 terms summed
/// eight lanes at a time) and well below any two different photos: a
/// re-encoding at JPEG quality 40 or a rescale of the same photo gives
/// cosines of 0.96–0.97 with the default model.
pub const IDENTICAL_COSINE: f32 = 1.0 - 1e-5;
/// The minimum acceptable score of the API spec: pairs scoring below it must
/// be rejected. Promises a false-positive rate of 1e-3 on a calibrated map.
pub const MIN_ACCEPT_SCORE: i32 = 70;

/// The recommended operating point of the API spec (false-positive rate
/// 1e-4 on a calibrated map).
pub const RECOMMENDED_SCORE: i32 = 80;

/// The anchors of the API spec's threshold reference table (another vendor's
/// model): `(cosine, score)`.
const SPEC_ANCHORS: [(f32, f32); 6] = [
    (0.0, 0.0),
    (0.2372, 70.0),
    (0.2975, 80.0),
    (0.3825, 90.0),
    (0.5899, 95.0),
    (1.0, 100.0),
];

/// Why a list of anchors cannot form a [`ScoreMap`]. Indices refer to the
/// anchor list as passed to [`ScoreMap::new`] (for
/// [`ScoreMap::from_fpr_thresholds`], the list it builds, documented there).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// Fewer than two anchors were given.
    #[error("a score map needs at least 2 anchors, got {count}")]
    TooFewAnchors {
        /// The number of anchors given.
        count: usize,
    },
    /// An anchor's cosine or score is NaN or infinite.
    #[error("anchor {index} is not finite")]
    NonFinite {
        /// Index of the first offending anchor.
        index: usize,
    },
    /// An anchor's cosine lies outside `[-1, 1]`.
    #[error("anchor {index}: cosine {cosine} is outside [-1, 1]")]
    CosineOutOfRange {
        /// Index of the first offending anchor.
        index: usize,
        /// Its cosine.
        cosine: f32,
    },
    /// An anchor's score lies outside `[0, 100]`.
    #[error("anchor {index}: score {score} is outside [0, 100]")]
    ScoreOutOfRange {
        /// Index of the first offending anchor.
        index: usize,
        /// Its score.
        score: f32,
    },
    /// An anchor does not strictly exceed the previous one in both cosine
    /// and score.
    #[error("anchor {index} does not strictly increase in cosine and score over anchor {}", index - 1)]
    NotIncreasing {
        /// Index of the first anchor that is not above its predecessor.
        index: usize,
    },
}

/// A monotone, piecewise-linear map from cosine similarity to a match score
/// in `[-1, 100]`, with exact inverse thresholds.
///
/// The map interpolates linearly between *knots*: the anchors, extended so
/// that the whole cosine range `[-1, 1]` is covered:
///
/// * if the first anchor has a positive cosine, the knot `(0, 0)` is put
///   before it (so a map whose anchors start above `0` falls linearly to
///   score `0` at cosine `0`);
/// * unless the first anchor sits at cosine `-1`, the knot `(-1, -1)` is put
///   first: negative cosines lie on the line from `(-1, -1)` to `(0, 0)`
///   (or to the first anchor if that is at a cosine `<= 0`);
/// * if the last anchor has a cosine below `1`, the knot `(1, 100)` is put
///   last (flat if the last anchor already scores `100`).
///
/// Inputs outside `[-1, 1]` are clamped to it first, and NaN scores `-1`.
///
/// # Numerics
///
/// [`ScoreMap::score_f`] is evaluated in `f64` from the knot nearer to
/// cosine `0` of the segment (so that tiny negative cosines stay negative),
/// returned exactly at knots, kept strictly between the two knot scores
/// inside a segment (so a knot's cosine is exactly where its score is
/// reached), and rounded *down* to `f32`. Every step is monotone, so the
/// computed map is monotone non-decreasing over all `f32`, and `floor` of
/// the `f32` result equals `floor` of the `f64` value. [`ScoreMap::threshold`] relies on that
/// monotonicity: it starts from the analytic inverse and steps one `f32` at
/// a time (falling back to a bisection over the ordered `f32`s) until it
/// holds the exact boundary of the computed [`ScoreMap::score`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreMap {
    /// The anchors as given.
    anchors: Vec<(f32, f32)>,
    /// Knot cosines: strictly increasing, first `-1`, last `1`.
    xs: Vec<f32>,
    /// Knot scores: non-decreasing.
    ys: Vec<f32>,
    /// The segments between consecutive knots, in order.
    segments: Vec<Segment>,
    /// Cosines at or above this score as cosine 1: [`IDENTICAL_COSINE`], or
    /// just above the last knot before 1 when an anchor sits higher (so
    /// every anchor keeps its own score).
    identical: f32,
}

/// One linear piece of a [`ScoreMap`], with its evaluation constants.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    /// Right knot's cosine (the left one is the previous segment's `x1`).
    x1: f32,
    /// The knot the value is computed from: the one nearer cosine 0.
    base_x: f64,
    /// Score at `base_x`.
    base_y: f64,
    /// Slope `dy/dx`.
    slope: f64,
    /// Left knot's score.
    y0: f64,
    /// Interior values are clamped to `[lo, hi]`: strictly between the knot
    /// scores for a rising segment, `y0` for a flat one.
    lo: f64,
    /// See `lo`.
    hi: f64,
}

impl ScoreMap {
    /// Builds a map from `(cosine, score)` anchors.
    ///
    /// Anchors must be finite, have cosines in `[-1, 1]` and scores in
    /// `[0, 100]`, number at least two, and strictly increase in both
    /// coordinates. See [`ScoreMap`] for how the ends are extended.
    ///
    /// # Errors
    ///
    /// [`MapError::TooFewAnchors`], then for the first offending anchor in
    /// order: [`MapError::NonFinite`], [`MapError::CosineOutOfRange`],
    /// [`MapError::ScoreOutOfRange`], [`MapError::NotIncreasing`].
    pub fn new(anchors: Vec<(f32, f32)>) -> Result<Self, MapError> {
        if anchors.len() < 2 {
            return Err(MapError::TooFewAnchors {
                count: anchors.len(),
            });
        }
        for (index, &(cosine, score)) in anchors.iter().enumerate() {
            if !cosine.is_finite() || !score.is_finite() {
                return Err(MapError::NonFinite { index });
            }
            if !(-1.0..=1.0).contains(&cosine) {
                return Err(MapError::CosineOutOfRange { index, cosine });
            }
            if !(0.0..=100.0).contains(&score) {
                return Err(MapError::ScoreOutOfRange { index, score });
            }
            if index > 0 {
                let (pc, ps) = anchors[index - 1];
                if cosine <= pc || score <= ps {
                    return Err(MapError::NotIncreasing { index });
                }
            }
        }
        Ok(Self::from_valid(anchors))
    }

    /// The reference map of the API spec's "Threshold Reference" table
    /// (calibrated on another vendor's model, so only a placeholder for
    /// facecore's own embeddings):
    ///
    /// | cosine   | score |
    /// |----------|-------|
    /// | `0.0000` | 0     |
    /// | `0.2372` | 70    |
    /// | `0.2975` | 80    |
    /// | `0.3825` | 90    |
    /// | `0.5899` | 95    |
    /// | `1.0000` | 100   |
    ///
    /// Negative cosines map onto `[-1, 0)` as for every map.
    pub fn spec_reference() -> Self {
        Self::from_valid(SPEC_ANCHORS.to_vec())
    }

    /// Builds the map for a model calibrated on impostor pairs, from the
    /// cosines at which its false-positive rate is 1e-3, 1e-4, 1e-5 and
    /// (optionally; it needs a very large impostor set) 1e-6.
    ///
    /// The anchors are, in this order: `(0, 0)`, `(t_1e3, 70)`,
    /// `(t_1e4, 80)`, `(t_1e5, 90)`, `(t_1e6, 95)` if given, and `(1, 100)`.
    /// Negative cosines lie on the line from `(-1, -1)` to `(0, 0)`, so the
    /// score range is `[-1, 100]`; without `t_1e6` the map runs straight
    /// from `(t_1e5, 90)` to `(1, 100)`.
    ///
    /// # Errors
    ///
    /// As [`ScoreMap::new`] on the anchor list above (so the thresholds must
    /// be finite and satisfy `0 < t_1e3 < t_1e4 < t_1e5 [< t_1e6] < 1`;
    /// error indices count `(0, 0)` as anchor 0).
    pub fn from_fpr_thresholds(
        t_1e3: f32,
        t_1e4: f32,
        t_1e5: f32,
        t_1e6: Option<f32>,
    ) -> Result<Self, MapError> {
        let mut anchors = vec![(0.0, 0.0), (t_1e3, 70.0), (t_1e4, 80.0), (t_1e5, 90.0)];
        if let Some(t) = t_1e6 {
            anchors.push((t, 95.0));
        }
        anchors.push((1.0, 100.0));
        Self::new(anchors)
    }

    /// Builds the knots from anchors that passed validation.
    fn from_valid(anchors: Vec<(f32, f32)>) -> Self {
        let mut knots: Vec<(f32, f32)> = Vec::with_capacity(anchors.len() + 3);
        let (c0, _) = anchors[0];
        if c0 > -1.0 {
            knots.push((-1.0, -1.0));
        }
        if c0 > 0.0 {
            knots.push((0.0, 0.0));
        }
        knots.extend_from_slice(&anchors);
        if let Some(&(cl, _)) = anchors.last()
            && cl < 1.0
        {
            knots.push((1.0, 100.0));
        }
        let xs: Vec<f32> = knots.iter().map(|k| k.0).collect();
        let ys: Vec<f32> = knots.iter().map(|k| k.1).collect();
        let segments = knots
            .windows(2)
            .map(|w| {
                let ((x0, y0), (x1, y1)) = (w[0], w[1]);
                let (y0, y1) = (f64::from(y0), f64::from(y1));
                let slope = (y1 - y0) / (f64::from(x1) - f64::from(x0));
                let (base_x, base_y) = if x1.abs() < x0.abs() {
                    (x1, y1)
                } else {
                    (x0, y0)
                };
                // Knot scores are f32s, so a rising segment's open interval
                // holds many f64s.
                let (lo, hi) = if y1 > y0 {
                    (y0.next_up(), y1.next_down())
                } else {
                    (y0, y0)
                };
                Segment {
                    x1,
                    base_x: f64::from(base_x),
                    base_y,
                    slope,
                    y0,
                    lo,
                    hi,
                }
            })
            .collect();
        let below_one = xs[xs.len() - 2];
        Self {
            anchors,
            identical: IDENTICAL_COSINE.max(below_one.next_up()),
            xs,
            ys,
            segments,
        }
    }

    /// The anchors the map was built from (without the implied end knots).
    pub fn anchors(&self) -> &[(f32, f32)] {
        &self.anchors
    }

    /// The map in `f64` for a cosine already clamped to `[-1, 1]` (not NaN).
    fn value(&self, c: f32) -> f64 {
        // The segment holding c: the first whose right knot is above it
        // (maps are short, so a linear scan is fastest).
        let Some(i) = self.segments.iter().position(|seg| c < seg.x1) else {
            // c == 1, the last knot.
            return f64::from(self.ys[self.ys.len() - 1]);
        };
        let seg = &self.segments[i];
        if c == self.xs[i] {
            return seg.y0;
        }
        // Strictly inside a segment the exact value lies strictly between
        // the knot scores; keep it there even where f64 rounding
        // (absorption next to cosine 0) would reach a knot's score.
        (seg.base_y + (f64::from(c) - seg.base_x) * seg.slope).clamp(seg.lo, seg.hi)
    }

    /// The continuous score of a cosine, in `[-1, 100]`.
    ///
    /// Cosines outside `[-1, 1]` are clamped to it; NaN gives `-1`; a
    /// cosine at or above [`IDENTICAL_COSINE`] counts as 1 (score 100 on
    /// every map whose anchors do not end lower). The
    /// result is the piecewise-linear map rounded *down* to `f32`, exact at
    /// every anchor, and monotone non-decreasing in `cosine`.
    pub fn score_f(&self, cosine: f32) -> f32 {
        if cosine.is_nan() {
            return MIN_SCORE as f32;
        }
        let c = if cosine >= self.identical {
            1.0
        } else {
            cosine.clamp(-1.0, 1.0)
        };
        round_down_f32(self.value(c))
    }

    /// The integer score of a cosine: `floor(score_f(cosine))`, in
    /// `[-1, 100]`.
    ///
    /// Flooring (not rounding) makes a score a promise: `score(c) >= T`
    /// holds exactly when `c >= threshold(T)`.
    pub fn score(&self, cosine: f32) -> i32 {
        // score_f is within [-1, 100], so the cast cannot saturate.
        (self.score_f(cosine).floor() as i32).clamp(MIN_SCORE, MAX_SCORE)
    }

    /// The smallest cosine whose integer score is at least `score`: the
    /// search threshold for a minimum score.
    ///
    /// For every `T` and every cosine `c` that is not NaN or `+inf`:
    /// `self.score(c) >= T` exactly when `c >= self.threshold(T)`.
    ///
    /// Returns `-inf` when every cosine qualifies (`T` at or below the score
    /// of cosine `-1`, e.g. `T <= -1`), `+inf` when none does (`T > 100`, or
    /// above the map's top score), and otherwise a cosine in `[-1, 1]`
    /// (`+0.0` rather than `-0.0`). Non-decreasing in `T`.
    pub fn threshold(&self, score: i32) -> f32 {
        if self.score(-1.0) >= score {
            return f32::NEG_INFINITY;
        }
        if self.score(1.0) < score {
            return f32::INFINITY;
        }
        // Scores reached only by the identical rule start exactly there.
        if self.score(self.identical.next_down()) < score {
            return self.identical;
        }
        let t = f64::from(score);
        // First knot scoring at least `t`; knot 0 scores below `t` (checked
        // above), so j >= 1 and the segment j-1 rises through `t`.
        let j = self.ys.partition_point(|&y| f64::from(y) < t).max(1);
        let c = self
            .nudge(self.inverse_estimate(j - 1, t), score)
            .unwrap_or_else(|| self.bisect(score));
        // -0.0 and +0.0 compare equal; report the positive one.
        if c == 0.0 { 0.0 } else { c }
    }

    /// The smallest cosine whose continuous score ([`ScoreMap::score_f`])
    /// is at least `score`: the threshold for a fractional minimum score
    /// (a 0..1 similarity times 100, say).
    ///
    /// For every cosine `c` that is not NaN or `+inf`:
    /// `self.score_f(c) >= score` exactly when `c >= self.threshold_f(score)`.
    /// Returns `-inf` when every cosine qualifies (a NaN `score` counts as
    /// `-inf`), `+inf` when none does. Non-decreasing in `score`.
    pub fn threshold_f(&self, score: f32) -> f32 {
        if score.is_nan() || self.score_f(-1.0) >= score {
            return f32::NEG_INFINITY;
        }
        if self.score_f(1.0) < score {
            return f32::INFINITY;
        }
        // score_f is monotone over the ordered f32s, so a bisection over
        // them finds the exact boundary (at most 32 steps).
        let (mut lo, mut hi) = (order_key(-1.0), order_key(1.0));
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.score_f(from_order_key(mid)) >= score {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let c = from_order_key(hi);
        if c == 0.0 { 0.0 } else { c }
    }

    /// The analytic inverse of segment `i` at score `t` (which lies in
    /// `(ys[i], ys[i + 1]]`), computed from the same knot as
    /// [`ScoreMap::value`] for accuracy near cosine 0. Exactly the right
    /// knot's cosine when `t` is its score.
    fn inverse_estimate(&self, i: usize, t: f64) -> f32 {
        let seg = &self.segments[i];
        if t == f64::from(self.ys[i + 1]) {
            return seg.x1;
        }
        (seg.base_x + (t - seg.base_y) / seg.slope) as f32
    }

    /// Walks from `start` to the boundary of `score(c) >= t` one `f32` at a
    /// time; gives up (None) after a few steps. Requires
    /// `score(-1) < t <= score(1)`.
    fn nudge(&self, start: f32, t: i32) -> Option<f32> {
        const MAX_STEPS: usize = 64;
        let mut c = start.clamp(-1.0, 1.0);
        if self.score(c) >= t {
            for _ in 0..MAX_STEPS {
                let below = c.next_down();
                if self.score(below) < t {
                    return Some(c);
                }
                c = below;
            }
        } else {
            for _ in 0..MAX_STEPS {
                c = c.next_up();
                if self.score(c) >= t {
                    return Some(c);
                }
            }
        }
        None
    }

    /// Bisection over the ordered `f32`s of `[-1, 1]` for the smallest `c`
    /// with `score(c) >= t`. Requires `score(-1) < t <= score(1)`.
    fn bisect(&self, t: i32) -> f32 {
        let (mut lo, mut hi) = (order_key(-1.0), order_key(1.0));
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.score(from_order_key(mid)) >= t {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        from_order_key(hi)
    }
}

/// `v` rounded towards negative infinity to `f32`.
fn round_down_f32(v: f64) -> f32 {
    let f = v as f32;
    if f64::from(f) > v { f.next_down() } else { f }
}

/// An integer key ordered like the (non-NaN) `f32`s; both zeros map to 0.
fn order_key(f: f32) -> i64 {
    let bits = f.to_bits();
    let magnitude = i64::from(bits & 0x7fff_ffff);
    if bits >> 31 == 1 {
        -magnitude
    } else {
        magnitude
    }
}

/// Inverse of [`order_key`] (0 maps to `+0.0`).
fn from_order_key(k: i64) -> f32 {
    let magnitude = (k.unsigned_abs() & 0x7fff_ffff) as u32;
    if k < 0 {
        f32::from_bits(magnitude | 0x8000_0000)
    } else {
        f32::from_bits(magnitude)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    use crate::test_rng::XorShift;

    impl XorShift {
        /// Uniform in [-1, 1).
        fn cosine(&mut self) -> f32 {
            self.unit() * 2.0 - 1.0
        }

        /// A "nasty" f32 in [-1, 1]: uniform bits of either sign, so tiny
        /// and subnormal magnitudes are common.
        fn any_cosine(&mut self) -> f32 {
            let bits = (self.next_u64() >> 32) as u32;
            let magnitude = f32::from_bits(bits & 0x7fff_ffff);
            let m = if magnitude <= 1.0 {
                magnitude
            } else {
                self.unit()
            };
            if bits >> 31 == 1 { -m } else { m }
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }
    }

    /// A random valid map: 2..=8 anchors with strictly increasing cosines
    /// and scores, sometimes starting at or below zero, sometimes with
    /// fractional scores, sometimes touching -1 / 1 / 0 / 100 exactly.
    fn random_map(rng: &mut XorShift) -> ScoreMap {
        loop {
            let n = 2 + rng.below(7) as usize;
            let mut cs: Vec<f32> = (0..n)
                .map(|_| match rng.below(6) {
                    0 => rng.cosine(),
                    1 => rng.any_cosine(),
                    _ => rng.unit(),
                })
                .collect();
            let mut ss: Vec<f32> = (0..n)
                .map(|_| match rng.below(3) {
                    0 => rng.below(101) as f32,
                    _ => rng.unit() * 100.0,
                })
                .collect();
            match rng.below(5) {
                0 => cs[0] = -1.0,
                1 => cs[0] = 0.0,
                _ => {}
            }
            if rng.below(3) == 0 {
                cs[n - 1] = 1.0;
            }
            if rng.below(4) == 0 {
                ss[n - 1] = 100.0;
            }
            cs.sort_by(f32::total_cmp);
            ss.sort_by(f32::total_cmp);
            if let Ok(m) = ScoreMap::new(cs.into_iter().zip(ss).collect()) {
                return m;
            }
        }
    }

    /// All scores from -2 to 101.
    fn all_scores() -> std::ops::RangeInclusive<i32> {
        (MIN_SCORE - 1)..=(MAX_SCORE + 1)
    }

    /// Checks `score(c) >= T <=> c >= threshold(T)` for all T, given the
    /// thresholds table `thr[T + 2]`.
    fn check_equivalence(map: &ScoreMap, thr: &[f32], c: f32) {
        let s = map.score(c);
        for t in all_scores() {
            let th = thr[(t + 2) as usize];
            assert_eq!(
                s >= t,
                c >= th,
                "c={c:e} ({:#x}) score={s} T={t} threshold={th:e} map={:?}",
                c.to_bits(),
                map.anchors()
            );
        }
    }

    fn thresholds(map: &ScoreMap) -> Vec<f32> {
        all_scores().map(|t| map.threshold(t)).collect()
    }

    /// The same face scores 100 whatever rounding its cosine went through,
    /// and search thresholds agree: 100 is reached from `IDENTICAL_COSINE`
    /// on, 99 just below it.
    #[test]
    fn identical_faces_score_100() {
        let map = ScoreMap::from_fpr_thresholds(0.3556, 0.4363, 0.4949, None).unwrap();
        for c in [1.0, 0.999_999_9, 0.999_999, IDENTICAL_COSINE, 1.5] {
            assert_eq!(map.score(c), 100, "{c}");
        }
        assert_eq!(map.score(IDENTICAL_COSINE.next_down()), 99);
        assert_eq!(map.threshold(100), IDENTICAL_COSINE);
        assert!(map.threshold(99) < IDENTICAL_COSINE);
        // An anchor above the rule's cosine keeps its own score.
        let high = ScoreMap::new(vec![(0.5, 50.0), (0.999_999, 95.0)]).unwrap();
        assert_eq!(high.score_f(0.999_999), 95.0);
        assert_eq!(high.score(0.999_999_9), 100);
        assert_eq!(high.threshold(100), 0.999_999f32.next_up());
    }

    #[test]
    fn spec_reference_values() {
        let m = ScoreMap::spec_reference();
        assert_eq!(ScoreMap::new(SPEC_ANCHORS.to_vec()).unwrap(), m);
        for &(c, s) in &SPEC_ANCHORS {
            assert_eq!(m.score_f(c), s);
            assert_eq!(m.score(c), s as i32);
            let expected = if c == 1.0 { IDENTICAL_COSINE } else { c };
            assert_eq!(m.threshold(s as i32), expected, "score {s}");
        }
        // The line below the first anchor and the negative line.
        assert_eq!(m.score(-1.0), -1);
        assert_eq!(m.score_f(-1.0), -1.0);
        assert_eq!(m.score_f(-0.5), -0.5);
        assert_eq!(m.score(-1e-30), -1);
        assert_eq!(m.score(-f32::from_bits(1)), -1);
        assert_eq!(m.score(0.0), 0);
        assert_eq!(m.score(-0.0), 0);
        assert_eq!(m.score(f32::from_bits(1)), 0);
        assert!((m.score_f(0.1186) - 35.0).abs() < 1e-4);
        // Interpolation inside segments.
        assert!((m.score_f(0.26735) - 75.0).abs() < 1e-3);
        assert!((m.score_f(0.79495) - 97.5).abs() < 1e-3);
        assert_eq!(m.score(0.2972), 79);
        assert_eq!(m.score(0.2975f32.next_down()), 79);
        assert_eq!(m.score(0.2975), 80);
        assert_eq!(m.score(0.2372f32.next_down()), 69);
        // Clamping and NaN.
        assert_eq!(m.score(1.5), 100);
        assert_eq!(m.score(f32::INFINITY), 100);
        assert_eq!(m.score(-3.0), -1);
        assert_eq!(m.score(f32::NEG_INFINITY), -1);
        assert_eq!(m.score(f32::NAN), -1);
        assert_eq!(m.score_f(f32::NAN), -1.0);
        // Threshold ends.
        assert_eq!(m.threshold(-1), f32::NEG_INFINITY);
        assert_eq!(m.threshold(i32::MIN), f32::NEG_INFINITY);
        assert_eq!(m.threshold(0), 0.0);
        assert!(m.threshold(0).is_sign_positive());
        assert_eq!(m.threshold(101), f32::INFINITY);
        assert_eq!(m.threshold(i32::MAX), f32::INFINITY);
        assert_eq!(m.threshold(MIN_ACCEPT_SCORE), 0.2372);
        assert_eq!(m.threshold(RECOMMENDED_SCORE), 0.2975);
    }

    /// `threshold_f` is the exact boundary of `score_f >= s`, agrees with
    /// `threshold` at whole scores, and handles the ends.
    #[test]
    fn fractional_thresholds_are_exact_boundaries() {
        let m = ScoreMap::spec_reference();
        let mut rng = XorShift(0x5eed_f00d);
        for _ in 0..2000 {
            let s = rng.unit() * 102.0 - 1.5;
            let t = m.threshold_f(s);
            if t.is_finite() {
                assert!(m.score_f(t) >= s, "{s}: {t}");
                assert!(m.score_f(t.next_down()) < s, "{s}: {t}");
            }
            let c = rng.cosine();
            assert_eq!(m.score_f(c) >= s, c >= t, "{s} at {c}");
        }
        for whole in -1..=100 {
            assert_eq!(m.threshold_f(whole as f32), m.threshold(whole), "{whole}");
        }
        assert!(m.threshold_f(67.0) < m.threshold_f(67.5));
        assert_eq!(m.threshold_f(f32::NAN), f32::NEG_INFINITY);
        assert_eq!(m.threshold_f(-2.0), f32::NEG_INFINITY);
        assert_eq!(m.threshold_f(100.5), f32::INFINITY);
    }

    #[test]
    fn fpr_thresholds_map() {
        let m = ScoreMap::from_fpr_thresholds(0.2372, 0.2975, 0.3825, Some(0.5899)).unwrap();
        assert_eq!(m, ScoreMap::spec_reference());
        let m = ScoreMap::from_fpr_thresholds(0.3, 0.4, 0.5, None).unwrap();
        assert_eq!(
            m.anchors(),
            &[
                (0.0, 0.0),
                (0.3, 70.0),
                (0.4, 80.0),
                (0.5, 90.0),
                (1.0, 100.0)
            ]
        );
        assert_eq!(m.threshold(90), 0.5);
        assert!((m.score_f(0.75) - 95.0).abs() < 1e-4);
        assert_eq!(m.score(-0.25), -1);
        assert_eq!(
            ScoreMap::from_fpr_thresholds(0.3, 0.3, 0.5, None),
            Err(MapError::NotIncreasing { index: 2 })
        );
        assert_eq!(
            ScoreMap::from_fpr_thresholds(0.0, 0.3, 0.5, None),
            Err(MapError::NotIncreasing { index: 1 })
        );
        assert_eq!(
            ScoreMap::from_fpr_thresholds(0.2, 0.3, 0.5, Some(1.0)),
            Err(MapError::NotIncreasing { index: 5 })
        );
        assert_eq!(
            ScoreMap::from_fpr_thresholds(0.2, f32::NAN, 0.5, None),
            Err(MapError::NonFinite { index: 2 })
        );
        assert_eq!(
            ScoreMap::from_fpr_thresholds(0.2, 0.3, 1.5, None),
            Err(MapError::CosineOutOfRange {
                index: 3,
                cosine: 1.5
            })
        );
    }

    #[test]
    fn new_validates() {
        assert_eq!(
            ScoreMap::new(vec![]),
            Err(MapError::TooFewAnchors { count: 0 })
        );
        assert_eq!(
            ScoreMap::new(vec![(0.5, 50.0)]),
            Err(MapError::TooFewAnchors { count: 1 })
        );
        assert_eq!(
            ScoreMap::new(vec![(0.0, 0.0), (f32::INFINITY, 50.0)]),
            Err(MapError::NonFinite { index: 1 })
        );
        assert_eq!(
            ScoreMap::new(vec![(0.0, f32::NAN), (0.5, 50.0)]),
            Err(MapError::NonFinite { index: 0 })
        );
        assert_eq!(
            ScoreMap::new(vec![(-1.5, 0.0), (0.5, 50.0)]),
            Err(MapError::CosineOutOfRange {
                index: 0,
                cosine: -1.5
            })
        );
        assert_eq!(
            ScoreMap::new(vec![(0.0, 0.0), (0.5, 100.5)]),
            Err(MapError::ScoreOutOfRange {
                index: 1,
                score: 100.5
            })
        );
        assert_eq!(
            ScoreMap::new(vec![(0.0, -1.0), (0.5, 50.0)]),
            Err(MapError::ScoreOutOfRange {
                index: 0,
                score: -1.0
            })
        );
        assert_eq!(
            ScoreMap::new(vec![(0.0, 0.0), (0.5, 50.0), (0.5, 60.0)]),
            Err(MapError::NotIncreasing { index: 2 })
        );
        assert_eq!(
            ScoreMap::new(vec![(0.0, 0.0), (0.5, 50.0), (0.6, 50.0)]),
            Err(MapError::NotIncreasing { index: 2 })
        );
        let e = MapError::NotIncreasing { index: 3 };
        assert!(e.to_string().contains("over anchor 2"), "{e}");
        // The extremes are accepted.
        assert!(ScoreMap::new(vec![(-1.0, 0.0), (1.0, 100.0)]).is_ok());
    }

    #[test]
    fn end_extensions() {
        // Anchors inside (0, 1): line down to (0, 0), up to (1, 100).
        let m = ScoreMap::new(vec![(0.2, 10.0), (0.6, 90.0)]).unwrap();
        assert!((m.score_f(0.1) - 5.0).abs() < 1e-5);
        assert!((m.score_f(0.8) - 95.0).abs() < 1e-4);
        assert_eq!(m.score(1.0), 100);
        assert_eq!(m.score_f(-0.25), -0.25);
        // A last anchor at 100 below cosine 1 makes the top flat.
        let m = ScoreMap::new(vec![(0.0, 0.0), (0.5, 100.0)]).unwrap();
        assert_eq!(m.score(0.75), 100);
        assert_eq!(m.threshold(100), 0.5);
        // A first anchor at a negative cosine: the line from (-1, -1) to it.
        let m = ScoreMap::new(vec![(-0.5, 0.0), (0.5, 100.0)]).unwrap();
        assert!((m.score_f(-0.75) + 0.5).abs() < 1e-6);
        assert!((m.score_f(0.0) - 50.0).abs() < 1e-5);
        // A first anchor at -1 sets the minimum score.
        let m = ScoreMap::new(vec![(-1.0, 5.0), (1.0, 100.0)]).unwrap();
        assert_eq!(m.score(-1.0), 5);
        assert_eq!(m.score(f32::NEG_INFINITY), 5);
        assert_eq!(m.threshold(5), f32::NEG_INFINITY);
        assert_eq!(m.threshold(6), m.threshold(6).clamp(-1.0, 1.0));
        // A first anchor at (0, s > 0): the negative line rises to it.
        let m = ScoreMap::new(vec![(0.0, 50.0), (1.0, 100.0)]).unwrap();
        assert!((m.score_f(-0.5) - 24.5).abs() < 1e-5);
        assert_eq!(m.score(0.0), 50);
        assert_eq!(m.threshold(50), 0.0);
    }

    #[test]
    fn order_keys_round_trip() {
        for f in [
            -1.0f32,
            -0.5,
            -1e-30,
            -f32::from_bits(1),
            0.0,
            1e-40,
            0.3,
            1.0,
        ] {
            assert_eq!(from_order_key(order_key(f)), f);
        }
        assert_eq!(order_key(-0.0), 0);
        let mut prev = order_key(-1.0);
        let mut c = -1.0f32;
        for _ in 0..1000 {
            c = c.next_up();
            let k = order_key(c);
            assert_eq!(k, prev + 1);
            prev = k;
        }
        assert_eq!(
            order_key(f32::from_bits(1)) - order_key(-f32::from_bits(1)),
            2
        );
    }

    #[test]
    fn round_down_is_below_and_tight() {
        for v in [
            70.0f64 - 1e-12,
            0.1,
            -0.1,
            1.0 / 3.0,
            -2.0 / 3.0,
            99.99999999,
        ] {
            let f = round_down_f32(v);
            assert!(f64::from(f) <= v);
            assert!(f64::from(f.next_up()) > v);
        }
        assert_eq!(round_down_f32(70.0 - 1e-12), 70.0f32.next_down());
        assert_eq!(round_down_f32(70.0).floor(), 70.0);
    }

    /// Anchors map exactly to their scores, for random maps too.
    #[test]
    fn anchors_map_exactly() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2000 {
            let m = random_map(&mut rng);
            for &(c, s) in m.anchors() {
                assert_eq!(m.score_f(c), s, "{:?}", m.anchors());
                assert_eq!(m.score(c), s.floor() as i32);
                // A first anchor (c > 0, 0) follows the implied knot (0, 0)
                // on a flat segment, so score 0 is reached at cosine 0.
                let flat_start = s == 0.0 && c > 0.0;
                if s.fract() == 0.0 && c > -1.0 && !flat_start {
                    // An integer anchor is its own threshold.
                    let th = m.threshold(s as i32);
                    // An anchor at cosine 1 is reached from the identical
                    // rule's cosine on.
                    let expected = match c {
                        0.0 => 0.0,
                        c if c >= m.identical => m.identical,
                        c => c,
                    };
                    assert_eq!(th, expected, "{:?}", m.anchors());
                    assert!(m.score(th.next_down()) < s as i32);
                }
            }
        }
    }

    /// The score is monotone non-decreasing: over sorted random cosines, and
    /// over neighbouring f32s.
    #[test]
    fn score_is_monotone() {
        let mut rng = XorShift(42);
        for round in 0..300 {
            let m = if round == 0 {
                ScoreMap::spec_reference()
            } else {
                random_map(&mut rng)
            };
            let mut cs: Vec<f32> = (0..2000)
                .map(|i| {
                    if i % 2 == 0 {
                        rng.cosine()
                    } else {
                        rng.any_cosine()
                    }
                })
                .chain(m.anchors().iter().map(|a| a.0))
                .chain([-1.0, -0.0, 0.0, 1.0])
                .collect();
            cs.sort_by(f32::total_cmp);
            for w in cs.windows(2) {
                assert!(
                    m.score_f(w[0]) <= m.score_f(w[1]),
                    "{w:?} {:?}",
                    m.anchors()
                );
            }
            for &c in &cs {
                let (lo, hi) = (c.next_down().max(-1.0), c.next_up().min(1.0));
                assert!(m.score_f(lo) <= m.score_f(c) && m.score_f(c) <= m.score_f(hi));
                let f = m.score_f(c);
                assert!((-1.0..=100.0).contains(&f));
                assert_eq!(m.score(c), f.floor() as i32);
            }
        }
    }

    /// Thresholds are non-decreasing in T and equal the bisection result.
    #[test]
    fn threshold_is_monotone_and_exact() {
        let mut rng = XorShift(7);
        for round in 0..500 {
            let m = if round == 0 {
                ScoreMap::spec_reference()
            } else {
                random_map(&mut rng)
            };
            let thr = thresholds(&m);
            for w in thr.windows(2) {
                assert!(w[0] <= w[1], "{thr:?}");
            }
            for t in all_scores() {
                let th = m.threshold(t);
                if th.is_finite() {
                    assert_eq!(th, m.bisect(t), "T={t} {:?}", m.anchors());
                    assert!((-1.0..=1.0).contains(&th));
                }
            }
        }
    }

    /// The analytic estimate plus nudging finds the boundary almost always
    /// without the bisection fallback (which stays as a safety net).
    #[test]
    fn nudge_suffices() {
        let mut rng = XorShift(99);
        let mut fallbacks = 0;
        let mut total = 0;
        for round in 0..2000 {
            let m = if round == 0 {
                ScoreMap::spec_reference()
            } else {
                random_map(&mut rng)
            };
            for t in all_scores() {
                let th = m.threshold(t);
                // `threshold` answers the identical rule's scores itself.
                if !th.is_finite() || th == m.identical {
                    continue;
                }
                total += 1;
                let j = m.ys.partition_point(|&y| y < t as f32).max(1);
                let est = m.inverse_estimate(j - 1, f64::from(t));
                match m.nudge(est, t) {
                    Some(c) => assert_eq!(c, th),
                    None => {
                        assert!(round > 0, "spec map needed bisection for {t}");
                        fallbacks += 1;
                    }
                }
            }
        }
        assert!(total > 10_000);
        // Only where a threshold lies among the dense f32s next to 0 and
        // the segment's knots are far from 0 (f64 error ~1e-16 there).
        assert!(
            fallbacks * 10_000 < total,
            "{fallbacks} of {total} needed bisection"
        );
    }

    /// `score(c) >= T <=> c >= threshold(T)` for every T in -2..=101: on
    /// every f32 within 300 ulps of each threshold and each anchor, and on
    /// random cosines (uniform and with uniformly random bits).
    #[test]
    fn threshold_equivalence() {
        let mut rng = XorShift(2024);
        for round in 0..150 {
            let m = if round == 0 {
                ScoreMap::spec_reference()
            } else {
                random_map(&mut rng)
            };
            let thr = thresholds(&m);
            let centres: Vec<f32> = thr
                .iter()
                .copied()
                .filter(|t| t.is_finite())
                .chain(m.anchors().iter().map(|a| a.0))
                .chain([-1.0, 0.0, 1.0])
                .collect();
            for centre in centres {
                let mut c = centre;
                for _ in 0..300 {
                    c = c.next_down();
                }
                for _ in 0..601 {
                    check_equivalence(&m, &thr, c);
                    c = c.next_up();
                }
            }
            for _ in 0..2000 {
                check_equivalence(&m, &thr, rng.cosine());
                check_equivalence(&m, &thr, rng.any_cosine());
            }
            for c in [f32::NEG_INFINITY, -2.0, -1.0, -0.0, 0.0, 1.0, 2.0, f32::MAX] {
                check_equivalence(&m, &thr, c);
            }
        }
    }

    /// Every f32 in [-1, 1] for the spec map (about 2.1e9 values):
    /// `cargo test --release -p facecore-score -- --ignored exhaustive`.
    #[test]
    #[ignore = "slow: sweeps every f32 in [-1, 1]; run in release"]
    fn exhaustive_spec_reference() {
        let m = ScoreMap::spec_reference();
        let thr = thresholds(&m);
        let lo = order_key(-1.0);
        let hi = order_key(1.0);
        let mut prev = (MIN_SCORE as f32, MIN_SCORE);
        for k in lo..=hi {
            let c = from_order_key(k);
            let f = m.score_f(c);
            let s = m.score(c);
            assert!(f >= prev.0 && s >= prev.1, "not monotone at {c:e}");
            prev = (f, s);
            // Equivalence for all T, given thresholds monotone in T.
            assert!(c >= thr[(s + 2) as usize], "{c:e} below threshold({s})");
            assert!(
                c < thr[(s + 3) as usize],
                "{c:e} reaches threshold({})",
                s + 1
            );
        }
    }
}

/// Property tests with shrinking (proptest): the same three promises as the
/// sweeps above, on maps built the way calibration builds them.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Calibrated maps: four strictly increasing thresholds in (0, 1), the
    /// last one (FPR 1e-6) sometimes absent.
    fn calibrated_map() -> impl Strategy<Value = ScoreMap> {
        (
            proptest::collection::vec(1e-6f32..0.999_999, 4),
            any::<bool>(),
        )
            .prop_filter_map("thresholds must be distinct", |(mut t, with_1e6)| {
                t.sort_by(f32::total_cmp);
                t.dedup();
                if t.len() < 4 {
                    return None;
                }
                ScoreMap::from_fpr_thresholds(t[0], t[1], t[2], with_1e6.then_some(t[3])).ok()
            })
    }

    /// Cosines in [-1, 1], with extra weight on the ends and on zero.
    fn cosine() -> impl Strategy<Value = f32> {
        prop_oneof![
            8 => -1.0f32..=1.0,
            1 => Just(-1.0f32),
            1 => Just(0.0f32),
            1 => Just(1.0f32),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// A higher cosine never gets a lower score.
        #[test]
        fn score_is_monotone(map in calibrated_map(), a in cosine(), b in cosine()) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(map.score_f(lo) <= map.score_f(hi));
            prop_assert!(map.score(lo) <= map.score(hi));
            prop_assert!((MIN_SCORE..=MAX_SCORE).contains(&map.score(a)));
        }

        /// Every anchor maps to its own score, exactly.
        #[test]
        fn anchors_are_exact(map in calibrated_map()) {
            for &(c, s) in map.anchors() {
                prop_assert_eq!(map.score_f(c), s);
                prop_assert_eq!(map.score(c), s as i32);
                let expected = if c >= map.identical { map.identical } else { c };
                prop_assert_eq!(map.threshold(s as i32), expected);
            }
        }

        /// `score(c) >= T` exactly when `c >= threshold(T)`, for every T in
        /// 0..=100, at random cosines and at the f32 neighbours of every
        /// threshold.
        #[test]
        fn threshold_is_exact(map in calibrated_map(), c in cosine()) {
            for t in 0..=MAX_SCORE {
                let th = map.threshold(t);
                prop_assert_eq!(map.score(c) >= t, c >= th, "c={} T={} threshold={}", c, t, th);
                for near in [th.next_down(), th, th.next_up()] {
                    prop_assert_eq!(map.score(near) >= t, near >= th, "c={} T={}", near, t);
                }
            }
        }
    }
}
