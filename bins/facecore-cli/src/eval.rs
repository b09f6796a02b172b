//! `facecore eval`: how well the model and its calibration do on labelled
//! data: detection failures, ROC AUC, TAR at FAR 1e-3..1e-6, 10-fold
//! verification accuracy on a pairs file, and the FPR/TPR actually measured
//! at scores 70/80/90/95 of the current calibration. Writes markdown and a
//! PNG plot (score distributions and ROC curve).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use facecore::Engine;
use facecore::calibrate::{calibrate, fpr_upper_bound, pair_scores, roc_auc};
use image::{Rgb, RgbImage};

use crate::calibrate::{Labelled, embed_labelled, with_faces};

/// One row of a pairs file.
struct Pair {
    a: String,
    b: String,
    same: bool,
    fold: usize,
}

fn read_pairs(path: &Path) -> Result<Vec<Pair>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut pairs = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if cols.len() < 3 {
            bail!("{}:{}: expected `a,b,same[,fold]`", path.display(), n + 1);
        }
        let same = match cols[2] {
            "1" => true,
            "0" => false,
            other => bail!(
                "{}:{}: `same` must be 0 or 1, got `{other}`",
                path.display(),
                n + 1
            ),
        };
        // Without a fold column, folds go round-robin over the rows, so each
        // fold holds both kinds of pairs.
        let fold = match cols.get(3) {
            Some(f) => f
                .parse::<usize>()
                .with_context(|| format!("{}:{}: bad fold", path.display(), n + 1))?,
            None => pairs.len() % 10,
        };
        pairs.push(Pair {
            a: cols[0].to_string(),
            b: cols[1].to_string(),
            same,
            fold,
        });
    }
    Ok(pairs)
}

/// The threshold with the best accuracy on `(score, same)` rows: the middle
/// of the gap between the two scores it falls between, so that a held-out
/// pair a little past the training pairs is not misjudged for want of margin
/// (the lowest such threshold sits right on the highest training impostor).
fn best_threshold(rows: &[(f32, bool)]) -> f32 {
    let mut sorted: Vec<(f32, bool)> = rows.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Threshold below everything: all accepted.
    let mut correct = sorted.iter().filter(|r| r.1).count();
    let (mut best, mut best_t) = (correct, f32::NEG_INFINITY);
    for (i, r) in sorted.iter().enumerate() {
        // Moving the threshold just above r rejects it.
        if r.1 {
            correct -= 1;
        } else {
            correct += 1;
        }
        let next = sorted.get(i + 1).map(|n| n.0);
        let next_differs = next.is_none_or(|n| n > r.0);
        if next_differs && correct > best {
            best = correct;
            best_t = match next {
                // Scores lie in [-1, 1]: the sum cannot overflow.
                Some(n) => ((r.0 + n) / 2.0).max(r.0.next_up()),
                None => r.0.next_up(),
            };
        }
    }
    best_t
}

/// 10-fold accuracy: threshold chosen on 9 folds, measured on the 10th.
fn ten_fold(rows: &[(f32, bool, usize)]) -> (f64, f64) {
    let folds: Vec<usize> = {
        let mut f: Vec<usize> = rows.iter().map(|r| r.2).collect();
        f.sort_unstable();
        f.dedup();
        f
    };
    let accs: Vec<f64> = folds
        .iter()
        .map(|&k| {
            let train: Vec<(f32, bool)> = rows
                .iter()
                .filter(|r| r.2 != k)
                .map(|r| (r.0, r.1))
                .collect();
            let t = best_threshold(&train);
            let test: Vec<&(f32, bool, usize)> = rows.iter().filter(|r| r.2 == k).collect();
            let ok = test.iter().filter(|r| (r.0 >= t) == r.1).count();
            ok as f64 / test.len().max(1) as f64
        })
        .collect();
    let mean = accs.iter().sum::<f64>() / accs.len().max(1) as f64;
    let var = accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / accs.len().max(1) as f64;
    (mean, var.sqrt())
}

/// Draws a straight line (one dot per pixel step along the longer axis),
/// clipped to the image.
fn draw_line_segment_mut(img: &mut RgbImage, from: (f32, f32), to: (f32, f32), color: Rgb<u8>) {
    let steps = (to.0 - from.0)
        .abs()
        .max((to.1 - from.1).abs())
        .ceil()
        .max(1.0) as usize;
    for k in 0..=steps {
        let t = k as f32 / steps as f32;
        let (x, y) = (from.0 + (to.0 - from.0) * t, from.1 + (to.1 - from.1) * t);
        if x >= 0.0 && y >= 0.0 && (x as u32) < img.width() && (y as u32) < img.height() {
            img.put_pixel(x as u32, y as u32, color);
        }
    }
}

/// Draws score histograms (left: genuine green, impostor red) and the ROC
/// curve (right: TPR against log10 FPR from 1e-6 to 1).
fn plot(genuine: &[f32], impostor: &[f32], path: &Path) -> Result<()> {
    let (w, h) = (1000u32, 420u32);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let axis = Rgb([60, 60, 60]);
    let (left, right, top, bottom) = (40.0f32, 480.0f32, 20.0f32, 390.0f32);
    // Histograms of cosine in [-0.5, 1] in 75 bins, as densities.
    let bins = 75usize;
    let bin =
        |c: f32| (((c + 0.5) / 1.5 * bins as f32) as isize).clamp(0, bins as isize - 1) as usize;
    let density = |scores: &[f32]| {
        let mut h = vec![0f32; bins];
        for &s in scores {
            h[bin(s)] += 1.0;
        }
        let n = scores.len().max(1) as f32;
        h.iter_mut().for_each(|v| *v /= n);
        h
    };
    let (g, i) = (density(genuine), density(impostor));
    let peak = g.iter().chain(i.iter()).fold(1e-9f32, |m, &v| m.max(v));
    for (hist, color) in [(&i, Rgb([200, 40, 40])), (&g, Rgb([30, 150, 60]))] {
        for k in 0..bins - 1 {
            let x = |k: usize| left + (right - left) * (k as f32 + 0.5) / bins as f32;
            let y = |v: f32| bottom - (bottom - top) * v / peak;
            draw_line_segment_mut(
                &mut img,
                (x(k), y(hist[k])),
                (x(k + 1), y(hist[k + 1])),
                color,
            );
        }
    }
    draw_line_segment_mut(&mut img, (left, bottom), (right, bottom), axis);
    draw_line_segment_mut(&mut img, (left, top), (left, bottom), axis);
    // Cosine 0 marker.
    let x0 = left + (right - left) * (0.5 / 1.5);
    draw_line_segment_mut(&mut img, (x0, bottom), (x0, bottom - 8.0), axis);

    // ROC: TPR against log10(FPR) in [-6, 0].
    let (l2, r2) = (540.0f32, 980.0f32);
    let mut imp = impostor.to_vec();
    imp.sort_by(|a, b| b.total_cmp(a));
    let mut gen_sorted = genuine.to_vec();
    gen_sorted.sort_by(f32::total_cmp);
    let mut last: Option<(f32, f32)> = None;
    for step in 0..=240 {
        let lf = -6.0 + 6.0 * step as f64 / 240.0;
        let fpr = 10f64.powf(lf);
        let k = ((fpr * imp.len() as f64) as usize).min(imp.len().saturating_sub(1));
        let t = imp.get(k).copied().unwrap_or(f32::NEG_INFINITY);
        let tpr = (gen_sorted.len() - gen_sorted.partition_point(|&s| s < t)) as f32
            / gen_sorted.len().max(1) as f32;
        let p = (
            l2 + (r2 - l2) * (lf as f32 + 6.0) / 6.0,
            bottom - (bottom - top) * tpr,
        );
        if let Some(q) = last {
            draw_line_segment_mut(&mut img, q, p, Rgb([30, 60, 200]));
        }
        last = Some(p);
    }
    draw_line_segment_mut(&mut img, (l2, bottom), (r2, bottom), axis);
    draw_line_segment_mut(&mut img, (l2, top), (l2, bottom), axis);
    for d in 0..=6 {
        let x = l2 + (r2 - l2) * d as f32 / 6.0;
        draw_line_segment_mut(&mut img, (x, bottom), (x, bottom + 6.0), axis);
    }
    img.save(path)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Runs the evaluation, prints the report and writes it (markdown + PNG)
/// into `out` when given.
pub fn run(
    engine: &Engine,
    data: &Path,
    pairs_file: Option<&PathBuf>,
    cache: Option<&PathBuf>,
    out: Option<&PathBuf>,
    threads: usize,
) -> Result<String> {
    let Labelled {
        labels,
        vectors,
        errors,
    } = embed_labelled(engine, data, cache, threads)?;
    let name = data
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "data".into());
    let faces = with_faces(&labels, &vectors);
    let no_face = &faces.no_face;
    let (genuine, impostor) = pair_scores(&faces.vectors, &faces.identities);
    let report = calibrate(&genuine, &impostor);
    let mut md = String::new();
    let _ = writeln!(md, "# Evaluation of `{}` on {name}\n", engine.model_id());
    let _ = writeln!(
        md,
        "{} images, {} identities; {} with no face detected{}; {} unreadable.\n",
        labels.len(),
        faces.identity_count,
        no_face.len(),
        if no_face.is_empty() {
            String::new()
        } else {
            format!(" ({})", no_face.join(", "))
        },
        errors.len()
    );
    let _ = writeln!(
        md,
        "## All pairs\n\n{} genuine and {} impostor pairs of the images with a face. ROC AUC {:.4}.\n",
        genuine.len(),
        impostor.len(),
        roc_auc(&genuine, &impostor)
    );
    let _ = writeln!(
        md,
        "| FAR | cosine threshold | TAR | impostor pairs behind the rate |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|");
    for p in &report.points {
        let _ = writeln!(
            md,
            "| {:e} | {:.4} | {:.1} % | {:.1}{} |",
            p.fpr,
            p.threshold,
            p.tpr * 100.0,
            p.fpr * impostor.len() as f64,
            if p.reliable {
                ""
            } else {
                " (too few: not reliable)"
            }
        );
    }
    let _ = writeln!(
        md,
        "\n## The promise of the scores ({})\n",
        if engine.is_calibrated() {
            "calibrated map of the manifest"
        } else {
            "uncalibrated: the API spec's reference map"
        }
    );
    let _ = writeln!(
        md,
        "| score | promised FPR | cosine | measured FPR | FPR, 95% upper bound | measured TPR |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|");
    for (score, promised) in [(70, 1e-3), (80, 1e-4), (90, 1e-5), (95, 1e-6)] {
        let t = engine.score_map().threshold(score);
        let fp = impostor.iter().filter(|&&s| s >= t).count();
        let tp = genuine.iter().filter(|&&s| s >= t).count();
        let _ = writeln!(
            md,
            "| {score} | {promised:e} | {t:.4} | {:.2e} ({fp} pairs) | {:.2e} | {:.1} % |",
            fp as f64 / impostor.len().max(1) as f64,
            fpr_upper_bound(fp, impostor.len(), 0.95),
            100.0 * tp as f64 / genuine.len().max(1) as f64
        );
    }
    let _ = writeln!(
        md,
        "\nThe upper bound is the highest false-positive rate these {} impostor pairs \
         cannot rule out at 95% confidence (Clopper–Pearson): a promise is only as \
         firm as the number of impostor pairs behind it.",
        impostor.len()
    );

    let pairs_path = pairs_file
        .cloned()
        .or_else(|| Some(data.join("pairs.csv")).filter(|p| p.exists()));
    if let Some(pp) = pairs_path {
        let pairs = read_pairs(&pp)?;
        // A pair naming an image the labels do not list is a mistake in the
        // file, not an undetected face: say so instead of scoring it -1.
        let listed: std::collections::HashSet<&str> =
            labels.iter().map(|(path, _)| path.as_str()).collect();
        if let Some((n, unknown)) = pairs.iter().enumerate().find_map(|(n, pr)| {
            [&pr.a, &pr.b]
                .into_iter()
                .find(|p| !listed.contains(p.as_str()))
                .map(|p| (n, p))
        }) {
            bail!(
                "{}:{}: `{unknown}` is not in {}",
                pp.display(),
                n + 2,
                data.join("labels.csv").display()
            );
        }
        let score = |p: &str| vectors.get(p).cloned().flatten();
        let mut rows = Vec::new();
        let mut missing = 0;
        for pr in &pairs {
            let s = match (score(&pr.a), score(&pr.b)) {
                (Some(a), Some(b)) => facecore::score::cosine_unit(&a, &b),
                _ => {
                    missing += 1;
                    -1.0
                }
            };
            rows.push((s, pr.same, pr.fold));
        }
        let (mean, std) = ten_fold(&rows);
        let g: Vec<f32> = rows.iter().filter(|r| r.1).map(|r| r.0).collect();
        let i: Vec<f32> = rows.iter().filter(|r| !r.1).map(|r| r.0).collect();
        let _ = writeln!(
            md,
            "\n## Pairs file `{}`\n\n{} pairs ({} with an undetected face, scored -1). ROC AUC {:.4}; \
             10-fold verification accuracy {:.2} % ± {:.2} (threshold chosen on 9 folds, \
             measured on the 10th).",
            pp.file_name()
                .map(|f| f.to_string_lossy())
                .unwrap_or_default(),
            rows.len(),
            missing,
            roc_auc(&g, &i),
            mean * 100.0,
            std * 100.0
        );
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let png = dir.join(format!("{name}.png"));
        plot(&genuine, &impostor, &png)?;
        let _ = writeln!(
            md,
            "\n![score distributions and ROC]({name}.png)\n\nLeft: cosine distributions of genuine \
             (green) and impostor (red) pairs, cosine -0.5 to 1 (tick at 0). Right: ROC, TAR \
             against FAR on a log axis from 1e-6 to 1 (one tick per decade)."
        );
        let file = dir.join(format!("{name}.md"));
        std::fs::write(&file, &md).with_context(|| format!("cannot write {}", file.display()))?;
        eprintln!("wrote {} and {}", file.display(), png.display());
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_threshold_on_a_small_case() {
        let rows = [(0.9, true), (0.8, true), (0.3, false), (0.1, false)];
        let t = best_threshold(&rows);
        assert!(
            (t - 0.55).abs() < 1e-6,
            "{t}: the middle of the gap 0.3..0.8"
        );
        // Nothing to separate: all accepted.
        assert_eq!(best_threshold(&[(0.5, true)]), f32::NEG_INFINITY);
        // Only impostors: just above the highest.
        assert_eq!(best_threshold(&[(0.5, false)]), 0.5f32.next_up());
        // Adjacent floats: the threshold still separates them.
        let a = 0.5f32;
        let t = best_threshold(&[(a, false), (a.next_up(), true)]);
        assert!(t > a && t <= a.next_up(), "{t}");
    }

    #[test]
    fn ten_fold_is_perfect_on_separable_data() {
        let rows: Vec<(f32, bool, usize)> = (0..100)
            .map(|i| (if i % 2 == 0 { 0.9 } else { 0.1 }, i % 2 == 0, i % 10))
            .collect();
        let (mean, std) = ten_fold(&rows);
        assert_eq!(mean, 1.0);
        assert_eq!(std, 0.0);
    }
}
