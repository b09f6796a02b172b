//! Open-set identification for `facecore eval`: a gallery of one photo per
//! enrolled person, probes of enrolled people (mated) and of people who are
//! not enrolled (non-mated), FNIR at a fixed FPIR, rank-1, and how the
//! threshold that holds an FPIR moves with the gallery size (measured on the
//! data, predicted beyond it from the impostor score tail).
//!
//! Definitions (ISO/IEC 19795-1 style, one gallery entry per person):
//! - FPIR(t): share of non-mated probes whose best gallery score is ≥ t.
//! - FNIR(t): share of mated probes whose own gallery entry is not the top-1
//!   candidate with a score ≥ t (a miss or a wrong person first both count).

use std::fmt::Write as _;

use facecore::calibrate::fpr_upper_bound;
use facecore::false_match::per_comparison_rate;

/// The FPIRs the report holds fixed.
pub const TARGET_FPIRS: [f64; 2] = [1e-2, 1e-3];

/// Random splits of the identities the FNIR figures are averaged over.
pub const SPLITS: u64 = 10;

/// Gallery sizes (photos) measured on the data, when it has enough photos.
pub const MEASURED_SIZES: [usize; 6] = [100, 200, 500, 1000, 2000, 5000];

/// Gallery sizes only predicted from the impostor tail.
pub const PREDICTED_SIZES: [usize; 4] = [10_000, 100_000, 1_000_000, 10_000_000];

/// Random galleries drawn per probe photo and gallery size.
pub const DRAWS: usize = 10;

/// The score tail's share (FAR) from which the exponential tail is fitted.
pub const TAIL_FROM: f64 = 1e-4;

/// Where the second, more conservative tail fit starts (more pairs, further
/// from the far tail), for the spread of the prediction.
pub const TAIL_FROM_ALT: f64 = 1e-3;

/// A measured FAR needs at least this many impostor pairs behind it to be
/// used directly; rarer rates come from the tail fit.
pub const MIN_PAIRS_BEHIND: f64 = 10.0;

/// A small deterministic generator (splitmix64), so splits are seeded and
/// reproducible without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) * n as f64) as usize % n.max(1)
    }

    /// Shuffles `v` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// The scores of one open-set trial.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trial {
    /// Per mated probe: the score of its own gallery entry when that entry
    /// is the top-1 candidate, `None` when another person's entry scores
    /// higher.
    pub mated: Vec<Option<f32>>,
    /// Per non-mated probe: its best gallery score.
    pub non_mated: Vec<f32>,
}

impl Trial {
    /// Scores probes against a gallery. `score(p, g)` is the similarity of
    /// probe `p` and gallery entry `g`; `gallery` holds `(entry, person)`,
    /// `probes` holds `(probe, person)`, and a probe is mated when its person
    /// has a gallery entry. Ties for the top-1 go to the probe's own entry.
    pub fn score(
        score: impl Fn(usize, usize) -> f32,
        gallery: &[(usize, usize)],
        probes: &[(usize, usize)],
    ) -> Self {
        let mut trial = Self::default();
        for &(p, person) in probes {
            let mut own: Option<f32> = None;
            let mut best_other = f32::NEG_INFINITY;
            for &(g, owner) in gallery {
                let s = score(p, g);
                if owner == person {
                    own = Some(own.map_or(s, |o| o.max(s)));
                } else {
                    best_other = best_other.max(s);
                }
            }
            match own {
                Some(s) => trial.mated.push((s >= best_other).then_some(s)),
                None => trial.non_mated.push(best_other),
            }
        }
        trial
    }

    /// FPIR at threshold `t`.
    pub fn fpir(&self, t: f32) -> f64 {
        share(
            self.non_mated.iter().filter(|&&s| s >= t).count(),
            self.non_mated.len(),
        )
    }

    /// FNIR at threshold `t`.
    pub fn fnir(&self, t: f32) -> f64 {
        let missed = self
            .mated
            .iter()
            .filter(|s| s.is_none_or(|s| s < t))
            .count();
        share(missed, self.mated.len())
    }

    /// Rank-1 identification rate of the mated probes (closed set: no
    /// threshold).
    pub fn rank1(&self) -> f64 {
        share(
            self.mated.iter().filter(|s| s.is_some()).count(),
            self.mated.len(),
        )
    }

    /// The lowest threshold whose FPIR is at most `fpir`: just above the
    /// `(⌊fpir·n⌋+1)`-th best non-mated score.
    pub fn threshold_at_fpir(&self, fpir: f64) -> f32 {
        threshold_at_rate(&self.non_mated, fpir)
    }
}

/// `k / n`, 0 for an empty set.
fn share(k: usize, n: usize) -> f64 {
    if n == 0 { 0.0 } else { k as f64 / n as f64 }
}

/// The lowest threshold that at most `⌊rate·n⌋` of `scores` reach.
pub fn threshold_at_rate(scores: &[f32], rate: f64) -> f32 {
    let mut sorted = scores.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let allowed = (rate * sorted.len() as f64).floor() as usize;
    sorted
        .get(allowed)
        .map_or(f32::NEG_INFINITY, |s| s.next_up())
}

/// The Wilson score interval of `k` successes in `n` at about 95%
/// (z = 1.96): `(low, high)`.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (z, n_f) = (1.96f64, n as f64);
    let p = k as f64 / n_f;
    let denom = 1.0 + z * z / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z * z / (4.0 * n_f * n_f)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// An exponential fit of the impostor score tail: above `t0` (where the
/// measured FAR is `p0`), `FAR(t) = p0 · exp(−rate · (t − t0))`, with `rate`
/// the maximum-likelihood estimate from the `k` scores above `t0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailFit {
    /// Where the tail starts.
    pub t0: f64,
    /// The measured FAR at `t0`.
    pub p0: f64,
    /// Decay of the FAR per unit of cosine.
    pub rate: f64,
    /// Impostor scores the fit rests on.
    pub k: usize,
}

impl TailFit {
    /// Fits the tail of `sorted_desc` (impostor scores, highest first) from
    /// the score that a share `from` of them reach; `None` with fewer than
    /// two scores in the tail.
    pub fn fit(sorted_desc: &[f32], from: f64) -> Option<Self> {
        let k = (from * sorted_desc.len() as f64).floor() as usize;
        if k < 2 || k >= sorted_desc.len() {
            return None;
        }
        let t0 = f64::from(sorted_desc[k]);
        let excess: f64 = sorted_desc[..k].iter().map(|&s| f64::from(s) - t0).sum();
        if excess <= 0.0 {
            return None;
        }
        Some(Self {
            t0,
            p0: k as f64 / sorted_desc.len() as f64,
            rate: k as f64 / excess,
            k,
        })
    }

    /// The threshold at which the fitted FAR is `far`, with the rate at
    /// `rate_factor` times its estimate (for the uncertainty: the estimate's
    /// relative standard error is `1/√k`).
    pub fn threshold(&self, far: f64, rate_factor: f64) -> f64 {
        self.t0 + (self.p0 / far).ln() / (self.rate * rate_factor)
    }
}

/// The cosine threshold at which the all-pairs FAR is `far`: measured from
/// the impostor scores while at least [`MIN_PAIRS_BEHIND`] pairs are behind
/// it, else from the tail fit. The flag says whether it was measured.
fn far_threshold(sorted_desc: &[f32], fit: Option<&TailFit>, far: f64) -> Option<(f64, bool)> {
    if far * sorted_desc.len() as f64 >= MIN_PAIRS_BEHIND {
        let allowed = (far * sorted_desc.len() as f64).floor() as usize;
        return sorted_desc
            .get(allowed)
            .map(|s| (f64::from(s.next_up()), true));
    }
    fit.map(|f| (f.threshold(far, 1.0), false))
}

/// Inputs of the open-set report: the unit embeddings of the photos with a
/// face and their identities (0..identity_count), and the all-pairs
/// impostor scores.
pub struct Data<'a> {
    /// One unit vector per photo.
    pub vectors: &'a [Vec<f32>],
    /// Identity of each photo.
    pub identities: &'a [usize],
    /// Number of identities.
    pub identity_count: usize,
    /// All impostor pair cosines.
    pub impostor: &'a [f32],
}

/// Per split: the identities enrolled (half, seeded), the gallery (one
/// seeded photo of each enrolled identity) and all other photos as probes.
fn split_trial(data: &Data<'_>, sims: &[f32], seed: u64) -> Trial {
    let n = data.vectors.len();
    let mut rng = Rng::new(seed);
    let mut people: Vec<usize> = (0..data.identity_count).collect();
    rng.shuffle(&mut people);
    let mut enrolled = vec![false; data.identity_count];
    for &p in &people[..data.identity_count / 2] {
        enrolled[p] = true;
    }
    let mut photos: Vec<Vec<usize>> = vec![Vec::new(); data.identity_count];
    for (i, &id) in data.identities.iter().enumerate() {
        photos[id].push(i);
    }
    let mut gallery = Vec::new();
    for (id, list) in photos.iter().enumerate() {
        if enrolled[id] && !list.is_empty() {
            gallery.push((list[rng.below(list.len())], id));
        }
    }
    let in_gallery: std::collections::HashSet<usize> = gallery.iter().map(|g| g.0).collect();
    let probes: Vec<(usize, usize)> = (0..n)
        .filter(|i| !in_gallery.contains(i))
        .map(|i| (i, data.identities[i]))
        .collect();
    Trial::score(|p, g| sims[p * n + g], &gallery, &probes)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The best score of each probe photo against [`DRAWS`] random galleries of
/// `size` photos of other identities (or `None` when a probe has fewer
/// other photos than that).
fn best_of_random_galleries(
    data: &Data<'_>,
    sims: &[f32],
    size: usize,
    seed: u64,
) -> Option<Vec<f32>> {
    let n = data.vectors.len();
    let mut rng = Rng::new(seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut best = Vec::with_capacity(n * DRAWS);
    for p in 0..n {
        let own = data.identities[p];
        let others = data.identities.iter().filter(|&&id| id != own).count();
        if others < size {
            return None;
        }
        for _ in 0..DRAWS {
            // A partial Fisher–Yates shuffle, skipping the probe's own
            // identity: a uniform sample of `size` other photos.
            let (mut taken, mut top, mut i) = (0, f32::NEG_INFINITY, 0);
            while taken < size {
                let j = i + rng.below(n - i);
                order.swap(i, j);
                let g = order[i];
                i += 1;
                if data.identities[g] == own {
                    continue;
                }
                taken += 1;
                top = top.max(sims[p * n + g]);
            }
            best.push(top);
        }
    }
    Some(best)
}

/// Mean, lowest and highest of some values.
fn mean_range(values: &[f64]) -> (f64, f64, f64) {
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, lo, hi)
}

/// Writes the open-set section of the evaluation report into `md`.
pub fn report(md: &mut String, data: &Data<'_>) {
    let n = data.vectors.len();
    if data.identity_count < 4 || n < 10 {
        let _ = writeln!(md, "\n## Open-set identification\n\nToo few identities.");
        return;
    }
    let mut sims = vec![0f32; n * n];
    for i in 0..n {
        for j in i..n {
            let s = dot(&data.vectors[i], &data.vectors[j]);
            sims[i * n + j] = s;
            sims[j * n + i] = s;
        }
    }
    let trials: Vec<Trial> = (0..SPLITS)
        .map(|seed| split_trial(data, &sims, seed))
        .collect();
    let first = &trials[0];
    let gallery = n - first.mated.len() - first.non_mated.len();
    let _ = writeln!(
        md,
        "\n## Open-set identification\n\n\
         Half of the {} identities (seeded) are enrolled with one photo each (seeded): a gallery \
         of {gallery} faces. Every other photo is a probe: {} mated probes (other photos of \
         enrolled people) and {} non-mated probes (all photos of the people not enrolled). A \
         non-mated probe is a false positive when its best gallery score reaches the threshold \
         (FPIR); a mated probe is a miss when its own gallery entry is not the best candidate or \
         scores under the threshold (FNIR). Figures are the mean over {SPLITS} random splits, \
         with their lowest and highest; the interval of the first split is Wilson's at 95 %.\n",
        data.identity_count,
        first.mated.len(),
        first.non_mated.len(),
    );
    let rank1: Vec<f64> = trials.iter().map(Trial::rank1).collect();
    let (r_mean, r_lo, r_hi) = mean_range(&rank1);
    let _ = writeln!(
        md,
        "Rank-1 identification rate (closed set, no threshold): {:.1} % (splits {:.1}–{:.1} %).\n",
        r_mean * 100.0,
        r_lo * 100.0,
        r_hi * 100.0
    );
    let _ = writeln!(
        md,
        "| FPIR | non-mated probes behind it | cosine threshold (splits) | FPIR reached, split 1 | FNIR, mean (splits) | FNIR of split 1, 95 % interval |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|");
    for fpir in TARGET_FPIRS {
        let thresholds: Vec<f64> = trials
            .iter()
            .map(|t| f64::from(t.threshold_at_fpir(fpir)))
            .collect();
        let fnirs: Vec<f64> = trials
            .iter()
            .map(|t| t.fnir(t.threshold_at_fpir(fpir)))
            .collect();
        let (t_mean, t_lo, t_hi) = mean_range(&thresholds);
        let (f_mean, f_lo, f_hi) = mean_range(&fnirs);
        let behind = fpir * first.non_mated.len() as f64;
        let t1 = first.threshold_at_fpir(fpir);
        let missed = first
            .mated
            .iter()
            .filter(|s| s.is_none_or(|s| s < t1))
            .count();
        let (w_lo, w_hi) = wilson(missed, first.mated.len());
        let _ = writeln!(
            md,
            "| {fpir:e} | {behind:.1}{} | {t_mean:.4} ({t_lo:.4}–{t_hi:.4}) | {:.2e} | {:.1} % ({:.1}–{:.1} %) | {:.1} % ({:.1}–{:.1} %) |",
            if behind < MIN_PAIRS_BEHIND {
                " (too few: not reliable)"
            } else {
                ""
            },
            first.fpir(t1),
            f_mean * 100.0,
            f_lo * 100.0,
            f_hi * 100.0,
            100.0 * missed as f64 / first.mated.len().max(1) as f64,
            w_lo * 100.0,
            w_hi * 100.0,
        );
    }
    let _ = writeln!(
        md,
        "\nAt FPIR 1e-3 the threshold rests on the one or two best non-mated probes of a split, \
         so the figure moves a lot between splits: read it as an order of magnitude, not a \
         measurement."
    );
    gallery_sizes(md, data, &sims);
}

/// The table of thresholds against gallery size.
fn gallery_sizes(md: &mut String, data: &Data<'_>, sims: &[f32]) {
    let mut imp: Vec<f32> = data
        .impostor
        .iter()
        .copied()
        .filter(|s| s.is_finite())
        .collect();
    imp.sort_by(|a, b| b.total_cmp(a));
    let fit = TailFit::fit(&imp, TAIL_FROM);
    let fit_alt = TailFit::fit(&imp, TAIL_FROM_ALT);
    let _ = writeln!(
        md,
        "\n### The threshold that holds an FPIR, by gallery size\n\n\
         Measured: every photo with a face is a stranger probe against {DRAWS} random galleries \
         of N photos of other people (a person may have several photos in one gallery, so the N \
         comparisons are a little less independent than N distinct people), and the threshold is \
         the one the stated share of these searches reaches. Predicted: with independent \
         impostors a gallery of N gives FPIR(t) = 1 − (1 − FAR(t))^N, so the threshold is the \
         all-pairs threshold at FAR = 1 − (1 − FPIR)^(1/N) (about FPIR / N). FAR(t) is read \
         from the {} impostor pairs while at least {MIN_PAIRS_BEHIND} pairs are behind it, and \
         beyond that from an exponential fit of the tail (marked *fit*).\n",
        imp.len()
    );
    if let Some(f) = &fit {
        let se = 1.0 / (f.k as f64).sqrt();
        let _ = writeln!(
            md,
            "The fit: above cosine {:.4} (FAR {:.0e}, {} pairs), FAR(t) = {:.0e} · exp(−{:.1} · (t − {:.4})), \
             the rate being the maximum-likelihood estimate (relative standard error {:.1} %). \
             Against the measured thresholds further out (whose pairs are part of the fitted tail, so this is a check of its shape, not an independent test): {}. Its uncertainty is \
             mostly the model, not the sampling: the same fit started at FAR {:.0e} gives {}. The \
             predicted thresholds below give the fit's value and, in brackets, the range of the \
             two fits and of ±2 standard errors of the rate.\n",
            f.t0,
            f.p0,
            f.k,
            f.p0,
            f.rate,
            f.t0,
            se * 100.0,
            [1e-5, 1e-6]
                .iter()
                .map(|&far| {
                    let allowed = (far * imp.len() as f64).floor() as usize;
                    let measured = imp.get(allowed).map_or(f64::NAN, |s| f64::from(*s));
                    format!(
                        "at FAR {far:.0e} it predicts {:.4}, measured {measured:.4} ({:.1} pairs behind)",
                        f.threshold(far, 1.0),
                        far * imp.len() as f64
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            TAIL_FROM_ALT,
            match &fit_alt {
                Some(g) => format!("a rate of {:.1} (at FAR 1e-8: {:.4} against {:.4})", g.rate, g.threshold(1e-8, 1.0), f.threshold(1e-8, 1.0)),
                None => "no fit (too few pairs)".to_string(),
            }
        );
    }
    let _ = writeln!(
        md,
        "| gallery size N | measured, FPIR 1e-2 | predicted, FPIR 1e-2 | measured, FPIR 1e-3 | predicted, FPIR 1e-3 |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|");
    let predict = |size: usize, fpir: f64| -> String {
        let far = per_comparison_rate(fpir, size as u64);
        match far_threshold(&imp, fit.as_ref(), far) {
            Some((t, true)) => format!("{t:.4}"),
            Some((t, false)) => {
                let se = fit.map_or(0.0, |f| 2.0 / (f.k as f64).sqrt());
                let mut ends = vec![
                    fit.map_or(t, |f| f.threshold(far, 1.0 + se)),
                    fit.map_or(t, |f| f.threshold(far, 1.0 - se)),
                ];
                if let Some(g) = &fit_alt {
                    ends.push(g.threshold(far, 1.0));
                }
                let lo = ends.iter().copied().fold(t, f64::min);
                let hi = ends.iter().copied().fold(t, f64::max);
                format!("{t:.4} *fit* ({lo:.4}–{hi:.4})")
            }
            None => "—".to_string(),
        }
    };
    for (k, &size) in MEASURED_SIZES.iter().enumerate() {
        let Some(best) = best_of_random_galleries(data, sims, size, 1000 + k as u64) else {
            continue;
        };
        let measured = |fpir: f64| {
            let behind = fpir * best.len() as f64;
            let t = threshold_at_rate(&best, fpir);
            format!(
                "{t:.4} ({behind:.0} searches behind{})",
                if behind < MIN_PAIRS_BEHIND {
                    ": not reliable"
                } else {
                    ""
                }
            )
        };
        let _ = writeln!(
            md,
            "| {size} | {} | {} | {} | {} |",
            measured(1e-2),
            predict(size, 1e-2),
            measured(1e-3),
            predict(size, 1e-3)
        );
    }
    for size in PREDICTED_SIZES {
        let _ = writeln!(
            md,
            "| {size} | — | {} | — | {} |",
            predict(size, 1e-2),
            predict(size, 1e-3)
        );
    }
    let bound = fpr_upper_bound(0, imp.len(), 0.95);
    let _ = writeln!(
        md,
        "\nThe data cannot check the predictions past about 2,000 faces: no impostor pair at all \
         only proves a FAR under {bound:.1e} (95 %), while a gallery of 1,000,000 at FPIR 1e-3 \
         needs a FAR of 1e-9. `cargo xtask bench-search` has a synthetic gallery of that size, \
         but its people are drawn to match the mean genuine and impostor cosines of faces-dev, \
         not the extreme impostor tail that sets these thresholds, so it is not used here. A \
         threshold above about 0.75 (score 95) also costs most of the genuine matches (the \
         all-pairs table above)."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three gallery people (0, 1, 2), probes with known scores: the answer
    /// is worked out by hand.
    #[test]
    fn fnir_and_fpir_on_a_hand_built_case() {
        // Gallery entries 0, 1, 2 of persons 0, 1, 2.
        let gallery = [(0, 0), (1, 1), (2, 2)];
        // Probes 10.. ; persons 0..2 are mated, 7 and 8 are not enrolled.
        let probes = [
            (10, 0), // own 0.9, best other 0.2: hit at 0.9
            (11, 1), // own 0.5, other 0.6: wrong person first
            (12, 2), // own 0.3, other 0.1: hit at 0.3
            (13, 7), // best 0.7
            (14, 8), // best 0.4
            (15, 8), // best 0.2
            (16, 7), // best 0.1
        ];
        let table: &[(usize, [f32; 3])] = &[
            (10, [0.9, 0.2, 0.1]),
            (11, [0.6, 0.5, 0.0]),
            (12, [0.1, 0.0, 0.3]),
            (13, [0.7, 0.1, 0.0]),
            (14, [0.2, 0.4, 0.3]),
            (15, [0.2, 0.1, 0.0]),
            (16, [0.0, 0.1, 0.05]),
        ];
        let score =
            |p: usize, g: usize| table.iter().find(|r| r.0 == p).map_or(f32::NAN, |r| r.1[g]);
        let t = Trial::score(score, &gallery, &probes);
        assert_eq!(t.mated, vec![Some(0.9), None, Some(0.3)]);
        assert_eq!(t.non_mated, vec![0.7, 0.4, 0.2, 0.1]);
        assert!((t.rank1() - 2.0 / 3.0).abs() < 1e-12);
        // At 0.35: non-mated 0.7 and 0.4 pass; mated: 0.9 found, the wrong
        // person and 0.3 missed.
        assert_eq!(t.fpir(0.35), 0.5);
        assert!((t.fnir(0.35) - 2.0 / 3.0).abs() < 1e-12);
        // At 0.25: one more hit (0.3).
        assert!((t.fnir(0.25) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(t.fpir(0.25), 0.5);
        // FPIR 0.25 allows one of four: the threshold sits just above 0.4.
        let th = t.threshold_at_fpir(0.25);
        assert_eq!(th, 0.4f32.next_up());
        assert_eq!(t.fpir(th), 0.25);
        // FPIR 0 allows none: just above the best non-mated score.
        assert_eq!(t.threshold_at_fpir(0.0), 0.7f32.next_up());
        assert_eq!(t.fpir(t.threshold_at_fpir(0.0)), 0.0);
        // Everything allowed: no threshold.
        assert_eq!(t.threshold_at_fpir(1.0), f32::NEG_INFINITY);
    }

    #[test]
    fn wilson_interval_brackets_the_share() {
        let (lo, hi) = wilson(10, 100);
        assert!(lo < 0.1 && hi > 0.1);
        assert!(
            (lo - 0.0552).abs() < 1e-3 && (hi - 0.1744).abs() < 1e-3,
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 10).0, 0.0);
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn an_exponential_tail_is_recovered() {
        // Scores t0 + x with x exponential of rate 20 above 0.5: FAR at
        // 0.5 + x is exp(-20 x) in the tail; the quantiles give it exactly.
        let n = 100_000;
        let mut scores: Vec<f32> = (0..n)
            .map(|i| {
                let u = (i as f64 + 0.5) / n as f64;
                (0.5 - u.ln() / 20.0) as f32
            })
            .collect();
        scores.sort_by(|a, b| b.total_cmp(a));
        let fit = TailFit::fit(&scores, 0.01).expect("fit");
        assert!((fit.rate - 20.0).abs() < 0.5, "{fit:?}");
        // FAR 1e-6 at 0.5 + ln(1e6)/20.
        let want = 0.5 + (1e6f64).ln() / 20.0;
        assert!((fit.threshold(1e-6, 1.0) - want).abs() < 0.02, "{fit:?}");
    }

    #[test]
    fn random_galleries_exclude_the_probes_identity() {
        // Identity 0's vectors are all the same; others orthogonal to it.
        let e = |k: usize| {
            let mut v = vec![0.0; 4];
            v[k] = 1.0;
            v
        };
        let vectors = vec![e(0), e(0), e(1), e(2), e(3), e(1)];
        let identities = vec![0, 0, 1, 2, 3, 1];
        let data = Data {
            vectors: &vectors,
            identities: &identities,
            identity_count: 4,
            impostor: &[],
        };
        let n = vectors.len();
        let sims: Vec<f32> = (0..n * n)
            .map(|k| dot(&vectors[k / n], &vectors[k % n]))
            .collect();
        // Probe 0 (identity 0) would score 1 against photo 1, which must
        // never be in its gallery.
        let best = best_of_random_galleries(&data, &sims, 3, 7).expect("enough photos");
        assert_eq!(best.len(), n * DRAWS);
        assert!(best.iter().all(|&s| s == 0.0), "{best:?}");
        assert!(best_of_random_galleries(&data, &sims, 5, 7).is_none());
    }
}
