//! Label errata and the weak spots of the ROC AUC, for `facecore eval`.
//!
//! Labelled photo sets scraped from the web carry some wrong labels: a photo
//! of another person filed under an identity, or two people under one
//! identity. Each such photo adds genuine pairs that no model can score high,
//! and they weigh heavily on the AUC. An errata file lists them with a reason;
//! the evaluation reports its figures on the labels as given and once more
//! with the errata left out, so both are visible and the list can be checked.
//!
//! The second part finds where the AUC is lost: `1 − AUC` is the mean, over
//! genuine pairs, of the share of impostor pairs that score at least as high
//! (ties half), so each genuine pair, and each photo through its pairs, owns
//! a measurable part of it.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::openset::Rng;

/// The header an errata file starts with (after its comment lines).
pub const HEADER: &str = "path,reason";

/// Labelled photos, or whole identity folders, whose label is wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Errata {
    /// `(path, reason)` in file order. A path is relative to the data
    /// directory, as in `labels.csv`; one ending in `/` names a folder and
    /// leaves out every photo under it.
    pub rows: Vec<(String, String)>,
}

impl Errata {
    /// Parses an errata file: `#` comment lines and blank lines anywhere, the
    /// header [`HEADER`], then one `path,reason` row per photo or folder (the
    /// reason may hold commas). `origin` names the file in error messages.
    ///
    /// # Errors
    ///
    /// A missing or different header, a row without a path or a reason, or
    /// a path given twice, each with its line number.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut seen = HashSet::new();
        let mut header = false;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            let n = n + 1;
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !header {
                if line != HEADER {
                    bail!("{origin}:{n}: expected the header `{HEADER}`, found `{line}`");
                }
                header = true;
                continue;
            }
            let Some((path, reason)) = line.split_once(',') else {
                bail!("{origin}:{n}: expected `path,reason`, found `{line}`");
            };
            let (path, reason) = (path.trim(), reason.trim());
            if path.is_empty() || reason.is_empty() {
                bail!("{origin}:{n}: a row needs both a path and a reason");
            }
            if !seen.insert(path.to_string()) {
                bail!("{origin}:{n}: `{path}` is listed twice");
            }
            rows.push((path.to_string(), reason.to_string()));
        }
        if !header {
            bail!("{origin}: no `{HEADER}` header: not an errata file");
        }
        Ok(Self { rows })
    }

    /// Reads and parses an errata file ([`Errata::parse`]).
    ///
    /// # Errors
    ///
    /// The file cannot be read, or [`Errata::parse`] refuses it.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the errata {}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Whether a row names this labelled path or a folder holding it.
    pub fn excludes(&self, path: &str) -> bool {
        self.rows.iter().any(|(row, _)| row_matches(row, path))
    }

    /// The rows that match none of `paths`: an errata file written for other
    /// data, or gone stale.
    pub fn unmatched<'a, 'p>(&'a self, paths: impl IntoIterator<Item = &'p str>) -> Vec<&'a str> {
        let paths: Vec<&str> = paths.into_iter().collect();
        self.rows
            .iter()
            .filter(|(row, _)| !paths.iter().any(|p| row_matches(row, p)))
            .map(|(row, _)| row.as_str())
            .collect()
    }
}

fn row_matches(row: &str, path: &str) -> bool {
    if row.ends_with('/') {
        path.starts_with(row)
    } else {
        path == row
    }
}

/// One genuine (same-identity) pair of photos with a face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Genuine {
    /// Index of the first photo (in the vectors' order).
    pub a: usize,
    /// Index of the second photo.
    pub b: usize,
    /// Their identity number.
    pub identity: usize,
    /// Their cosine.
    pub cosine: f32,
}

/// Every genuine pair of unit `vectors` labelled by `identities`, in the
/// order of [`facecore::calibrate::pair_scores`]'s genuine list.
pub fn genuine_pairs(vectors: &[Vec<f32>], identities: &[usize]) -> Vec<Genuine> {
    let mut out = Vec::new();
    for a in 0..vectors.len() {
        for b in a + 1..vectors.len() {
            if identities[a] == identities[b] {
                out.push(Genuine {
                    a,
                    b,
                    identity: identities[a],
                    cosine: facecore::score::cosine_unit(&vectors[a], &vectors[b]),
                });
            }
        }
    }
    out
}

/// Per genuine pair, the share of impostor pairs scoring at least as high
/// (ties half): its part of `1 − AUC`, whose mean over the pairs is exactly
/// `1 − AUC`. `sorted_impostor` must be sorted ascending.
pub fn shortfalls(genuine: &[Genuine], sorted_impostor: &[f32]) -> Vec<f64> {
    let n = sorted_impostor.len().max(1) as f64;
    genuine
        .iter()
        .map(|g| {
            let below = sorted_impostor.partition_point(|&s| s < g.cosine);
            let not_above = sorted_impostor.partition_point(|&s| s <= g.cosine);
            1.0 - (below as f64 + 0.5 * (not_above - below) as f64) / n
        })
        .collect()
}

/// A two-sided interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// 95 % intervals of the AUC and of the TAR at `threshold`, by resampling
/// the identities with replacement (`rounds` times, seeded): the photos of
/// one person are not independent, so resampling pairs would claim too much
/// precision. The impostor scores are held as measured: with millions of
/// impostor pairs their own sampling error is far smaller than the spread
/// between people.
///
/// Returns `(auc, tar)`; both are NaN intervals without genuine pairs.
pub fn identity_bootstrap(
    genuine: &[Genuine],
    shortfall: &[f64],
    threshold: f32,
    rounds: usize,
    seed: u64,
) -> (Interval, Interval) {
    // Per identity: pairs, summed shortfall, pairs at or over the threshold.
    let count = genuine.iter().map(|g| g.identity + 1).max().unwrap_or(0);
    let mut per = vec![(0.0f64, 0.0f64, 0.0f64); count];
    for (g, s) in genuine.iter().zip(shortfall) {
        let e = &mut per[g.identity];
        e.0 += 1.0;
        e.1 += s;
        e.2 += f64::from(u8::from(g.cosine >= threshold));
    }
    let nan = Interval {
        low: f64::NAN,
        high: f64::NAN,
    };
    if genuine.is_empty() {
        return (nan, nan);
    }
    let mut rng = Rng::new(seed);
    let (mut aucs, mut tars) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let (mut pairs, mut short, mut accepted) = (0.0, 0.0, 0.0);
        for _ in 0..count {
            let (p, s, a) = per[rng.below(count)];
            pairs += p;
            short += s;
            accepted += a;
        }
        if pairs > 0.0 {
            aucs.push(1.0 - short / pairs);
            tars.push(accepted / pairs);
        }
    }
    (central_95(&mut aucs), central_95(&mut tars))
}

fn central_95(values: &mut [f64]) -> Interval {
    if values.is_empty() {
        return Interval {
            low: f64::NAN,
            high: f64::NAN,
        };
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Interval {
        low: at(0.025),
        high: at(0.975),
    }
}

/// One photo's part of the AUC's shortfall.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costly {
    /// Index of the photo.
    pub index: usize,
    /// Its genuine pairs.
    pub pairs: usize,
    /// The AUC over the other genuine pairs (the impostors as they are).
    pub auc_without: f64,
}

/// The `top` photos whose genuine pairs hold the largest summed shortfall,
/// largest first (a pair counts for both its photos).
pub fn costliest(genuine: &[Genuine], shortfall: &[f64], photos: usize, top: usize) -> Vec<Costly> {
    let mut per = vec![(0usize, 0.0f64); photos];
    for (g, s) in genuine.iter().zip(shortfall) {
        for i in [g.a, g.b] {
            per[i].0 += 1;
            per[i].1 += s;
        }
    }
    let total: f64 = shortfall.iter().sum();
    let mut order: Vec<usize> = (0..photos).filter(|&i| per[i].0 > 0).collect();
    order.sort_by(|&x, &y| per[y].1.total_cmp(&per[x].1).then(x.cmp(&y)));
    order
        .into_iter()
        .take(top)
        .map(|index| {
            let (pairs, short) = per[index];
            let rest = genuine.len() - pairs;
            Costly {
                index,
                pairs,
                auc_without: if rest == 0 {
                    f64::NAN
                } else {
                    1.0 - (total - short) / rest as f64
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const FILE: &str = "# comment\n\npath,reason\nimages/1/a.jpg,another person, clearly\n# more\nimages/2/,two people\n";

    #[test]
    fn errata_rows_photos_and_folders() {
        let e = Errata::parse(FILE, "e.csv").unwrap();
        assert_eq!(e.rows.len(), 2);
        assert_eq!(e.rows[0].1, "another person, clearly");
        assert!(e.excludes("images/1/a.jpg"));
        assert!(!e.excludes("images/1/b.jpg"));
        assert!(e.excludes("images/2/x.jpg"));
        assert!(!e.excludes("images/22/x.jpg"));
        assert_eq!(
            e.unmatched(["images/1/a.jpg", "images/3/c.jpg"]),
            vec!["images/2/"]
        );
    }

    #[test]
    fn errata_refusals_name_the_line() {
        for (text, needle) in [
            ("a,b\n", "e.csv:1: expected the header"),
            ("# only comments\n", "no `path,reason` header"),
            (
                "path,reason\nimages/1/a.jpg\n",
                "e.csv:2: expected `path,reason`",
            ),
            (
                "path,reason\nimages/1/a.jpg,\n",
                "e.csv:2: a row needs both",
            ),
            ("path,reason\nx,y\nx,z\n", "e.csv:3: `x` is listed twice"),
        ] {
            let err = Errata::parse(text, "e.csv").unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    fn unit(x: f32) -> Vec<f32> {
        vec![x, (1.0 - x * x).max(0.0).sqrt()]
    }

    #[test]
    fn shortfalls_average_to_one_minus_the_auc() {
        // Three identities; one photo of identity 0 points elsewhere.
        let vectors = vec![
            unit(1.0),
            unit(0.98),
            unit(0.0),
            unit(0.5),
            unit(0.52),
            unit(-0.9),
            unit(-0.88),
        ];
        let identities = vec![0, 0, 0, 1, 1, 2, 2];
        let (g, mut imp) = facecore::calibrate::pair_scores(&vectors, &identities);
        let pairs = genuine_pairs(&vectors, &identities);
        assert_eq!(pairs.iter().map(|p| p.cosine).collect::<Vec<_>>(), g);
        imp.sort_by(f32::total_cmp);
        let s = shortfalls(&pairs, &imp);
        let mean = s.iter().sum::<f64>() / s.len() as f64;
        let auc = facecore::calibrate::roc_auc(&g, &imp);
        assert!((mean - (1.0 - auc)).abs() < 1e-12, "{mean} vs {auc}");
        // The stray photo (index 2) costs the most; without its pairs the
        // rest are perfectly separated.
        let top = costliest(&pairs, &s, vectors.len(), 2);
        assert_eq!(top[0].index, 2);
        assert_eq!(top[0].pairs, 2);
        assert!((top[0].auc_without - 1.0).abs() < 1e-12, "{top:?}");
    }

    #[test]
    fn bootstrap_brackets_the_estimate_and_is_seeded() {
        let vectors: Vec<Vec<f32>> = (0..40)
            .map(|i| unit(((i * 7) % 40) as f32 / 40.0))
            .collect();
        let identities: Vec<usize> = (0..40).map(|i| i / 4).collect();
        let (_, mut imp) = facecore::calibrate::pair_scores(&vectors, &identities);
        imp.sort_by(f32::total_cmp);
        let pairs = genuine_pairs(&vectors, &identities);
        let s = shortfalls(&pairs, &imp);
        let auc = 1.0 - s.iter().sum::<f64>() / s.len() as f64;
        let (a, t) = identity_bootstrap(&pairs, &s, 0.9, 500, 7);
        assert!(a.low <= auc && auc <= a.high, "{a:?} {auc}");
        assert!(a.low < a.high && t.low <= t.high);
        assert_eq!(identity_bootstrap(&pairs, &s, 0.9, 500, 7), (a, t));
        let (none, _) = identity_bootstrap(&[], &[], 0.9, 10, 1);
        assert!(none.low.is_nan());
    }
}
