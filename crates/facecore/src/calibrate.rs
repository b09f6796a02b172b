//! Score calibration: from embeddings of labelled faces to the cosine
//! thresholds at the false-positive rates the API's scores promise.
//!
//! Every same-identity pair is a genuine pair and every different-identity
//! pair an impostor pair (all of them: tens of millions for a few thousand
//! images, computed row by row as a matrix product over the stored vectors).

use rayon::prelude::*;

/// The false-positive rates behind scores 70, 80, 90 and 95.
pub const TARGET_FPRS: [f64; 4] = [1e-3, 1e-4, 1e-5, 1e-6];

/// Fewer impostor pairs than this above a threshold make its FPR a guess.
pub const MIN_FALSE_POSITIVES: usize = 10;

/// The confidence of the upper bounds reported beside point estimates.
pub const REPORTED_CONFIDENCE: f64 = 0.95;

/// One operating point.
#[derive(Debug, Clone, PartialEq)]
pub struct FprPoint {
    /// Target false-positive rate.
    pub fpr: f64,
    /// Smallest cosine at which at most `fpr` of impostor pairs match.
    pub threshold: f32,
    /// Fraction of genuine pairs at or above the threshold.
    pub tpr: f64,
    /// Impostor pairs at or above the threshold (`≤ fpr × impostor pairs`).
    pub false_positives: usize,
    /// The highest false-positive rate that `false_positives` out of all
    /// impostor pairs cannot rule out, at the report's confidence
    /// ([`fpr_upper_bound`]).
    pub upper_bound: f64,
    /// Point estimates: whether at least [`MIN_FALSE_POSITIVES`] impostor
    /// pairs stand behind this rate (`fpr × impostor pairs`). With a
    /// confidence: whether any threshold keeps the upper bound within the
    /// rate. If not, the figure is not reliable.
    pub reliable: bool,
}

/// The result of a calibration run.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationReport {
    /// Number of genuine (same identity) pairs.
    pub genuine_pairs: usize,
    /// Number of impostor (different identity) pairs.
    pub impostor_pairs: usize,
    /// One point per target rate of [`TARGET_FPRS`].
    pub points: Vec<FprPoint>,
    /// `None` for point estimates (at most `fpr × impostor pairs` above each
    /// threshold); `Some(c)` when each threshold keeps the rate's upper
    /// bound at confidence `c` within the target
    /// ([`calibrate_with_confidence`]).
    pub confidence: Option<f64>,
}

/// Cosines of all genuine and all impostor pairs of unit vectors, given with
/// their identity labels.
pub fn pair_scores(vectors: &[Vec<f32>], identities: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let rows: Vec<(Vec<f32>, Vec<f32>)> = (0..vectors.len())
        .into_par_iter()
        .map(|i| {
            let (mut g, mut imp) = (Vec::new(), Vec::new());
            for j in i + 1..vectors.len() {
                let c = facecore_score::cosine_unit(&vectors[i], &vectors[j]);
                if identities[i] == identities[j] {
                    g.push(c);
                } else {
                    imp.push(c);
                }
            }
            (g, imp)
        })
        .collect();
    let mut genuine = Vec::new();
    let mut impostor = Vec::new();
    for (g, i) in rows {
        genuine.extend(g);
        impostor.extend(i);
    }
    (genuine, impostor)
}

/// ROC AUC by the rank sum: the probability that a random genuine pair
/// scores above a random impostor pair (ties count half); NaN when either
/// list is empty.
pub fn roc_auc(genuine: &[f32], impostor: &[f32]) -> f64 {
    let mut all: Vec<(f32, bool)> = genuine
        .iter()
        .map(|&s| (s, true))
        .chain(impostor.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += avg_rank * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (p, n) = (genuine.len() as f64, impostor.len() as f64);
    if p == 0.0 || n == 0.0 {
        return f64::NAN;
    }
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

/// The largest false-positive rate that is still consistent, at the given
/// confidence, with `false_positives` impostor pairs matching out of
/// `impostor_pairs` (the exact one-sided Clopper–Pearson bound: the rate `p`
/// at which `P(X ≤ false_positives)` for `X ~ Binomial(impostor_pairs, p)`
/// falls to `1 − confidence`).
///
/// A measured rate of zero does not prove a rate of zero: with no match among
/// 2.7 million impostor pairs the rate may still be 1.1e-6 at 95% confidence.
/// Returns 1 when there are no impostor pairs or all of them match.
pub fn fpr_upper_bound(false_positives: usize, impostor_pairs: usize, confidence: f64) -> f64 {
    if impostor_pairs == 0 || false_positives >= impostor_pairs {
        return 1.0;
    }
    let (k, n) = (false_positives as f64, impostor_pairs as f64);
    let tail = 1.0 - confidence.clamp(0.0, 1.0);
    // ln P(X ≤ k) at rate p, summed in log space: the first term alone,
    // (1 − p)^n, is far below f64's range for a few thousand expected matches.
    let log_cdf = |p: f64| {
        let (ln_p, ln_q) = (p.ln(), (-p).ln_1p());
        // ln of term i, and the sum so far as `top + ln(scaled)`, rescaled
        // whenever a term exceeds `top` (a running log-sum-exp).
        let mut term = n * ln_q;
        let (mut top, mut scaled) = (term, 1.0f64);
        for i in 0..false_positives {
            let i = i as f64;
            term += (n - i).ln() - (i + 1.0).ln() + ln_p - ln_q;
            if term > top {
                scaled = scaled * (top - term).exp() + 1.0;
                top = term;
            } else {
                scaled += (term - top).exp();
            }
        }
        top + scaled.ln()
    };
    // P(X ≤ k) falls as p rises: bisect between the measured rate and 1.
    let (mut lo, mut hi) = (k / n, 1.0);
    let target = tail.ln();
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if log_cdf(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The thresholds at [`TARGET_FPRS`] from genuine and impostor scores, as
/// point estimates: at most `fpr × impostor pairs` impostors reach each.
pub fn calibrate(genuine: &[f32], impostor: &[f32]) -> CalibrationReport {
    calibrate_at(genuine, impostor, None)
}

/// The thresholds at [`TARGET_FPRS`] chosen so that the promise holds with
/// the given confidence (say 0.95), not only on this sample: at each, the
/// Clopper–Pearson upper bound of the false-positive rate is at most the
/// target. This costs some TPR; a rate whose bound no threshold can meet
/// (1e-6 needs about three million impostor pairs at 95%) is marked not
/// reliable and its threshold sits above every impostor pair.
pub fn calibrate_with_confidence(
    genuine: &[f32],
    impostor: &[f32],
    confidence: f64,
) -> CalibrationReport {
    calibrate_at(genuine, impostor, Some(confidence.clamp(0.0, 1.0)))
}

fn calibrate_at(genuine: &[f32], impostor: &[f32], confidence: Option<f64>) -> CalibrationReport {
    let mut imp: Vec<f32> = impostor.iter().copied().filter(|x| x.is_finite()).collect();
    imp.sort_by(|a, b| b.total_cmp(a));
    let mut gen_sorted: Vec<f32> = genuine.iter().copied().filter(|x| x.is_finite()).collect();
    gen_sorted.sort_by(f32::total_cmp);
    let n = imp.len();
    let bound_at = confidence.unwrap_or(REPORTED_CONFIDENCE);
    let points = TARGET_FPRS
        .iter()
        .map(|&fpr| {
            let point = (fpr * n as f64).floor() as usize;
            let (allowed, reliable) = match confidence {
                None => (point, fpr * n as f64 >= MIN_FALSE_POSITIVES as f64),
                // The bound rises with the count: the most matches whose
                // bound still meets the rate, by bisection below `point`.
                Some(c) => {
                    if fpr_upper_bound(0, n, c) > fpr {
                        (0, false)
                    } else {
                        let (mut lo, mut hi) = (0, point);
                        while lo < hi {
                            let mid = (lo + hi).div_ceil(2);
                            if fpr_upper_bound(mid, n, c) <= fpr {
                                lo = mid;
                            } else {
                                hi = mid - 1;
                            }
                        }
                        (lo, true)
                    }
                }
            };
            // Just above the (allowed+1)-th highest impostor score: at most
            // `allowed` impostors reach it.
            let threshold = match imp.get(allowed) {
                Some(&s) => s.next_up(),
                None => f32::NEG_INFINITY,
            };
            let false_positives = imp.partition_point(|&s| s >= threshold);
            let below = gen_sorted.partition_point(|&s| s < threshold);
            let tpr = if gen_sorted.is_empty() {
                0.0
            } else {
                (gen_sorted.len() - below) as f64 / gen_sorted.len() as f64
            };
            FprPoint {
                fpr,
                threshold,
                tpr,
                false_positives,
                upper_bound: fpr_upper_bound(false_positives, n, bound_at),
                reliable,
            }
        })
        .collect();
    CalibrationReport {
        genuine_pairs: genuine.len(),
        impostor_pairs: impostor.len(),
        points,
        confidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_keep_the_false_positive_rate() {
        // 100k impostors spread over [-0.5, 0.5), genuine over [0.3, 0.9).
        let impostor: Vec<f32> = (0..100_000).map(|i| i as f32 / 100_000.0 - 0.5).collect();
        let genuine: Vec<f32> = (0..1000).map(|i| 0.3 + i as f32 * 0.0006).collect();
        let r = calibrate(&genuine, &impostor);
        assert_eq!(r.points.len(), 4);
        let p = &r.points[0]; // 1e-3: at most 100 impostors above
        assert!(p.false_positives <= 100, "{p:?}");
        assert!((p.threshold - 0.499).abs() < 1e-4, "{p:?}");
        assert!(p.reliable);
        assert!(!r.points[3].reliable, "1e-6 of 100k is 0.1 pairs");
        for w in r.points.windows(2) {
            assert!(w[1].threshold >= w[0].threshold);
            assert!(w[1].tpr <= w[0].tpr);
        }
        // genuine >= 0.499: (0.9 - 0.499) / 0.6 of them
        assert!((p.tpr - (0.9 - 0.499) / 0.6).abs() < 0.01, "{p:?}");
    }

    #[test]
    fn fpr_upper_bound_matches_the_exact_and_tabled_values() {
        // No match: P(X = 0) = (1 − p)^n = 0.05 has a closed form.
        let n = 2_673_961;
        let exact = 1.0 - 0.05f64.powf(1.0 / n as f64);
        let got = fpr_upper_bound(0, n, 0.95);
        assert!((got / exact - 1.0).abs() < 1e-9, "{got} vs {exact}");
        assert!((got * n as f64 - 2.9957).abs() < 1e-3, "{got}");
        // With many pairs the binomial is Poisson: one-sided 95% upper limits
        // of a Poisson mean for 1..5 and 10 observed events, as tabled.
        let n = 1_000_000_000;
        for (k, limit) in [
            (1, 4.744),
            (2, 6.296),
            (3, 7.754),
            (4, 9.154),
            (5, 10.513),
            (10, 16.962),
        ] {
            let got = fpr_upper_bound(k, n, 0.95) * n as f64;
            assert!((got - limit).abs() < 2e-3, "{k}: {got} vs {limit}");
        }
        // Thousands of matches: about k + 1.645·√k, and no underflow.
        let got = fpr_upper_bound(2673, 2_673_961, 0.95) * 2_673_961.0;
        let normal = 2673.0 + 1.645 * 2673f64.sqrt();
        assert!((got - normal).abs() < 3.0, "{got} vs {normal}");
        // A small sample: p with (1 − p)^4 + 4p(1 − p)^3 = 0.05 for 1 of 4.
        let p = fpr_upper_bound(1, 4, 0.95);
        let cdf = (1.0 - p).powi(4) + 4.0 * p * (1.0 - p).powi(3);
        assert!((cdf - 0.05).abs() < 1e-9, "{p}: {cdf}");
        assert_eq!(fpr_upper_bound(3, 3, 0.95), 1.0);
        assert_eq!(fpr_upper_bound(0, 0, 0.95), 1.0);
        // More confidence, a wider bound; more matches, a higher one.
        assert!(fpr_upper_bound(5, 1000, 0.99) > fpr_upper_bound(5, 1000, 0.95));
        assert!(fpr_upper_bound(6, 1000, 0.95) > fpr_upper_bound(5, 1000, 0.95));
    }

    #[test]
    fn a_confidence_keeps_the_bound_within_each_rate() {
        let impostor: Vec<f32> = (0..100_000).map(|i| i as f32 / 100_000.0 - 0.5).collect();
        let genuine: Vec<f32> = (0..1000).map(|i| 0.3 + i as f32 * 0.0006).collect();
        let point = calibrate(&genuine, &impostor);
        let sure = calibrate_with_confidence(&genuine, &impostor, 0.95);
        assert_eq!(point.confidence, None);
        assert_eq!(sure.confidence, Some(0.95));
        let n = impostor.len();
        for (p, s) in point.points.iter().zip(&sure.points) {
            assert!(s.threshold >= p.threshold && s.tpr <= p.tpr, "{p:?} {s:?}");
            if s.reliable {
                // Within the rate, and one more match would not be.
                assert!(s.upper_bound <= s.fpr, "{s:?}");
                assert!(
                    fpr_upper_bound(s.false_positives + 1, n, 0.95) > s.fpr,
                    "{s:?}"
                );
            }
        }
        // 1e-3 of 100k: 100 matches as a point estimate (bound 1.18e-3), 83
        // with 95% confidence (bound 0.996e-3; 84 would give 1.007e-3).
        assert_eq!(point.points[0].false_positives, 100);
        assert!((point.points[0].upper_bound - 1.1807e-3).abs() < 1e-7);
        assert_eq!(sure.points[0].false_positives, 83);
        assert!((sure.points[0].upper_bound - 0.99614e-3).abs() < 1e-8);
        // 1e-5 of 100k: even no match leaves a bound of 3e-5.
        let s = &sure.points[2];
        assert!(!s.reliable && s.false_positives == 0, "{s:?}");
        assert!(s.threshold > 0.49999, "above every impostor: {s:?}");
    }

    #[test]
    fn roc_auc_is_exact_on_small_cases() {
        assert_eq!(roc_auc(&[0.9, 0.8], &[0.1, 0.2]), 1.0);
        assert_eq!(roc_auc(&[0.1], &[0.9]), 0.0);
        assert_eq!(roc_auc(&[0.5], &[0.5]), 0.5);
        assert!(roc_auc(&[], &[0.5]).is_nan());
    }

    #[test]
    fn pairs_are_split_by_identity() {
        let v = vec![vec![1.0, 0.0], vec![1.0, 0.0], vec![0.0, 1.0]];
        let (g, i) = pair_scores(&v, &[1, 1, 2]);
        assert_eq!(g, vec![1.0]);
        assert_eq!(i, vec![0.0, 0.0]);
    }
}
