//! False matches of a 1:N search: the chance that a stranger matches
//! somebody grows with the number of comparisons a search makes.
//!
//! The calibrated scores promise a false-match rate *per comparison*
//! (score 70 = 1e-3, 80 = 1e-4, 90 = 1e-5, 95 = 1e-6; between two of these
//! the rate falls by the same factor per point, which is how the score map
//! interpolates its cosines). A search of a collection of `n` faces makes
//! `n` comparisons, so a stranger matches at least one of them with
//! probability `1 − (1 − p)^n` (independent comparisons; a person's several
//! faces are correlated, so this overstates a little, the safe side).
//! [`per_comparison_rate`] inverts that: the per-comparison rate that keeps
//! the per-search rate at most a given value, and [`min_score_for_rate`]
//! the score whose promise that is.

use crate::Error;

/// The calibrated anchors: `(score, false-match rate per comparison)`. The
/// rate of score 95 is the score map's promise rather than a measurement
/// (1e-6 needs more impostor pairs than the calibration set has; the map
/// puts 95 far above every impostor pair seen, the safe side).
pub const SCORE_RATES: [(f32, f64); 4] = [(70.0, 1e-3), (80.0, 1e-4), (90.0, 1e-5), (95.0, 1e-6)];

/// The lowest score a rate-derived threshold goes to: below 70 the
/// calibration promises nothing, so a looser rate still gets 70.
pub const MIN_RATE_SCORE: f32 = 70.0;

/// The chance that a stranger matches at least one of `comparisons` faces
/// when each comparison matches falsely with probability `per_comparison`.
pub fn search_rate(per_comparison: f64, comparisons: u64) -> f64 {
    if comparisons == 0 {
        return 0.0;
    }
    let p = per_comparison.clamp(0.0, 1.0);
    // 1 − (1 − p)^n, computed without cancellation for tiny p.
    -((comparisons as f64) * (-p).ln_1p()).exp_m1()
}

/// The per-comparison rate at which `comparisons` comparisons give a
/// stranger at most a `per_search` chance of matching: `1 − (1 − r)^(1/n)`
/// (about `r / n`). One comparison or none is the rate itself.
pub fn per_comparison_rate(per_search: f64, comparisons: u64) -> f64 {
    let r = per_search.clamp(0.0, 1.0);
    if comparisons <= 1 {
        return r;
    }
    -((-r).ln_1p() / comparisons as f64).exp_m1()
}

/// The per-comparison false-match rate a calibrated score promises
/// (interpolated between [`SCORE_RATES`]); `None` outside 70..=95, where the
/// calibration says nothing.
pub fn rate_at_score(score: f32) -> Option<f64> {
    SCORE_RATES.windows(2).find_map(|w| {
        let ((s0, r0), (s1, r1)) = (w[0], w[1]);
        (s0..=s1).contains(&score).then(|| {
            let t = f64::from((score - s0) / (s1 - s0));
            10f64.powf(r0.log10() + t * (r1.log10() - r0.log10()))
        })
    })
}

/// The lowest calibrated score whose per-comparison false-match rate is at
/// most `per_comparison`: 70 for any rate of 1e-3 or more, interpolated
/// between [`SCORE_RATES`] below. [`Error::Invalid`] below 1e-6 (or not a
/// rate), where the calibration has no score to offer.
pub fn score_for_rate(per_comparison: f64) -> Result<f32, Error> {
    let (_, lowest) = SCORE_RATES[SCORE_RATES.len() - 1];
    if !(per_comparison > 0.0 && per_comparison <= 1.0) {
        return Err(Error::Invalid {
            field: "max_false_match_rate",
            message: format!("must be a rate in (0, 1], got {per_comparison}"),
        });
    }
    if per_comparison >= SCORE_RATES[0].1 {
        return Ok(MIN_RATE_SCORE);
    }
    if per_comparison < lowest {
        return Err(Error::Invalid {
            field: "max_false_match_rate",
            message: format!(
                "needs a false-match rate of {per_comparison:.3e} per comparison, below the \
                 {lowest:e} the calibration can promise"
            ),
        });
    }
    let log = per_comparison.log10();
    let score = SCORE_RATES
        .windows(2)
        .find_map(|w| {
            let ((s0, r0), (s1, r1)) = (w[0], w[1]);
            let (l0, l1) = (r0.log10(), r1.log10());
            (log <= l0 && log >= l1)
                .then(|| f64::from(s0) + f64::from(s1 - s0) * ((l0 - log) / (l0 - l1)))
        })
        .unwrap_or(f64::from(SCORE_RATES[SCORE_RATES.len() - 1].0));
    // Rounded up to f32, so the threshold is never looser than asked.
    #[allow(clippy::cast_possible_truncation)]
    let rounded = score as f32;
    Ok(if f64::from(rounded) < score {
        rounded.next_up()
    } else {
        rounded
    })
}

/// What a per-search false-match rate asks of one search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateThreshold {
    /// Comparisons the search makes (the faces of the collection).
    pub comparisons: u64,
    /// The per-comparison rate that keeps the per-search rate.
    pub per_comparison: f64,
    /// The lowest calibrated score (0..=100) a match must reach.
    pub min_score: f32,
}

/// The threshold at which a search making `comparisons` comparisons lets a
/// stranger match with probability at most `per_search`.
/// [`Error::Invalid`] when that needs a score the calibration cannot
/// promise (the message names the smallest rate this many comparisons
/// allow).
pub fn min_score_for_rate(per_search: f64, comparisons: u64) -> Result<RateThreshold, Error> {
    if !(per_search > 0.0 && per_search <= 1.0) {
        return Err(Error::Invalid {
            field: "max_false_match_rate",
            message: format!("must be a rate in (0, 1], got {per_search}"),
        });
    }
    let per_comparison = per_comparison_rate(per_search, comparisons);
    let min_score = score_for_rate(per_comparison).map_err(|_| {
        let (_, lowest) = SCORE_RATES[SCORE_RATES.len() - 1];
        Error::Invalid {
            field: "max_false_match_rate",
            message: format!(
                "{per_search} over {comparisons} faces needs {per_comparison:.3e} per \
                 comparison, below the {lowest:e} the calibration can promise; the smallest \
                 rate for this collection is {:.3e}",
                search_rate(lowest, comparisons)
            ),
        }
    })?;
    Ok(RateThreshold {
        comparisons,
        per_comparison,
        min_score,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn anchors_round_trip_and_scores_rise_as_rates_fall() {
        for (score, rate) in SCORE_RATES {
            assert!(
                (score_for_rate(rate).unwrap() - score).abs() < 1e-3,
                "{rate}"
            );
            assert!((rate_at_score(score).unwrap() / rate - 1.0).abs() < 1e-9);
        }
        // Half a decade between 1e-4 and 1e-5 is half-way from 80 to 90.
        let mid = 10f64.powf(-4.5);
        assert!((score_for_rate(mid).unwrap() - 85.0).abs() < 1e-3);
        let mut last = 0.0;
        for i in 0..=300 {
            let rate = 10f64.powf(-3.0 - f64::from(i) / 100.0);
            let score = score_for_rate(rate).unwrap();
            assert!(score >= last, "{rate}");
            assert!(rate_at_score(score).unwrap() <= rate * (1.0 + 1e-5));
            last = score;
        }
        assert_eq!(score_for_rate(0.5).unwrap(), MIN_RATE_SCORE);
        assert!(score_for_rate(1e-7).is_err());
        assert!(score_for_rate(0.0).is_err());
        assert!(score_for_rate(f64::NAN).is_err());
        assert_eq!(rate_at_score(60.0), None);
        assert_eq!(rate_at_score(99.0), None);
    }

    #[test]
    fn a_search_rate_is_spread_over_its_comparisons() {
        // 1 − (1 − p)^n against a direct product for small n.
        let p = 1e-4;
        assert!((search_rate(p, 3) - (1.0 - (1.0 - p).powi(3))).abs() < 1e-15);
        assert_eq!(search_rate(p, 0), 0.0);
        for n in [1u64, 10, 1000, 100_000, 10_000_000] {
            for r in [1e-3, 0.01, 0.5] {
                let per = per_comparison_rate(r, n);
                assert!((search_rate(per, n) / r - 1.0).abs() < 1e-9, "{r} {n}");
                // About r / n.
                assert!(per >= r / n as f64 && per < 1.5 * r / n as f64);
            }
        }
        // At score 80 (1e-4), 10,000 faces give a stranger a 63 % chance.
        assert!((search_rate(1e-4, 10_000) - 0.632).abs() < 1e-3);
    }

    #[test]
    fn larger_collections_need_higher_scores_until_the_calibration_ends() {
        let small = min_score_for_rate(0.01, 100).unwrap();
        let large = min_score_for_rate(0.01, 1000).unwrap();
        assert!(large.min_score > small.min_score);
        assert!((small.min_score - 80.0).abs() < 0.05, "{small:?}");
        assert!((large.min_score - 90.0).abs() < 0.05, "{large:?}");
        // A loose rate never goes below 70.
        assert_eq!(min_score_for_rate(0.5, 1).unwrap().min_score, 70.0);
        let err = min_score_for_rate(0.01, 1_000_000).unwrap_err().to_string();
        assert!(
            err.contains("smallest rate for this collection is 6.3"),
            "{err}"
        );
        assert!(min_score_for_rate(0.0, 5).is_err());
        assert!(min_score_for_rate(1.5, 5).is_err());
    }
}
