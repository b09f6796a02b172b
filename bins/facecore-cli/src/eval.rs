//! `facecore eval`: how well the model and its calibration do on labelled
//! data: detection failures, ROC AUC, TAR at FAR 1e-3..1e-6, 10-fold
//! verification accuracy on a pairs file, and the FPR/TPR actually measured
//! at scores 70/80/90/95 of the current calibration, and open-set
//! identification ([`crate::openset`]). With 95 % intervals over the
//! identities, the photos that cost the AUC most and, given an errata file,
//! the figures once more without the photos whose label is wrong
//! ([`crate::errata`]). Writes markdown and a PNG plot (score distributions
//! and ROC curve).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use facecore::Engine;
use facecore::calibrate::{REPORTED_CONFIDENCE, calibrate, fpr_upper_bound, pair_scores, roc_auc};
use image::{Rgb, RgbImage};

use crate::calibrate::{
    Labelled, WithFaces, csv_fields, embed_labelled, is_header, read_labels, with_faces,
};
use crate::errata::{self, Errata};

/// Bootstrap rounds of the identity intervals.
const BOOTSTRAP_ROUNDS: usize = 2000;

/// Seed of the identity intervals (fixed, so a report is reproducible).
const BOOTSTRAP_SEED: u64 = 20_261_207;

/// Photos listed under "where the AUC is lost".
const COSTLIEST: usize = 10;

/// `n` and a noun, in the plural unless `n` is 1.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Writes the TAR rows of a calibration report as a markdown table.
fn tar_table(md: &mut String, report: &facecore::calibrate::CalibrationReport, impostors: usize) {
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
            p.fpr * impostors as f64,
            if p.reliable {
                ""
            } else {
                " (too few: not reliable)"
            }
        );
    }
}

/// The AUC's shortfall per genuine pair of `faces` against the sorted
/// impostor scores, after writing the sentence with the 95 % identity
/// intervals of the AUC and of the TAR at FAR 1e-4.
fn intervals(
    md: &mut String,
    faces: &WithFaces<'_>,
    sorted_impostor: &[f32],
    report: &facecore::calibrate::CalibrationReport,
) -> (Vec<errata::Genuine>, Vec<f64>) {
    let pairs = errata::genuine_pairs(&faces.vectors, &faces.identities);
    let short = errata::shortfalls(&pairs, sorted_impostor);
    if let Some(p) = report.points.iter().find(|p| p.fpr == 1e-4) {
        let (auc, tar) = errata::identity_bootstrap(
            &pairs,
            &short,
            p.threshold,
            BOOTSTRAP_ROUNDS,
            BOOTSTRAP_SEED,
        );
        let _ = writeln!(
            md,
            "\n95 % intervals, resampling the {} identities ({BOOTSTRAP_ROUNDS} rounds; the photos \
             of one person are not independent, so pairs are not resampled one by one): ROC AUC \
             {:.4}–{:.4}, TAR at FAR 1e-4 {:.1}–{:.1} % (its threshold held).",
            faces.identity_count,
            auc.low,
            auc.high,
            tar.low * 100.0,
            tar.high * 100.0
        );
    }
    (pairs, short)
}

/// One row of a pairs file.
#[derive(Debug)]
struct Pair {
    /// Line number in the file, from 1.
    line: usize,
    a: String,
    b: String,
    same: bool,
    fold: usize,
}

fn read_pairs(path: &Path) -> Result<Vec<Pair>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut pairs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), n + 1);
        let cols = csv_fields(line).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        if n == 0 && is_header(&cols, &["a", "b", "same"]) {
            continue;
        }
        if !(3..=4).contains(&cols.len()) {
            bail!(
                "{}: expected `a,b,same[,fold]`, got {} fields (quote a path that holds a comma)",
                at(),
                cols.len()
            );
        }
        let same = match cols[2].as_str() {
            "1" => true,
            "0" => false,
            other => bail!("{}: `same` must be 0 or 1, got `{other}`", at()),
        };
        // Without a fold column, folds go round-robin over the rows, so each
        // fold holds both kinds of pairs.
        let fold = match cols.get(3) {
            Some(f) => f
                .parse::<usize>()
                .with_context(|| format!("{}: bad fold `{f}`", at()))?,
            None => pairs.len() % 10,
        };
        pairs.push(Pair {
            line: n + 1,
            a: cols[0].clone(),
            b: cols[1].clone(),
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

/// Draws `text` with its top-left corner at `(x, y)` in the 8×8 bitmap
/// font, each font pixel a `scale × scale` square; clipped to the image.
/// Characters outside ASCII are drawn as `?`.
fn draw_text(img: &mut RgbImage, x: i32, y: i32, text: &str, color: Rgb<u8>, scale: u32) {
    let s = scale.max(1) as i32;
    for (n, ch) in text.chars().enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY
            .get(ch as usize)
            .unwrap_or(&font8x8::legacy::BASIC_LEGACY[usize::from(b'?')]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 0 {
                    continue;
                }
                let (px, py) = (x + (n as i32 * 8 + col) * s, y + row as i32 * s);
                for (dx, dy) in (0..s).flat_map(|dx| (0..s).map(move |dy| (dx, dy))) {
                    let (u, v) = (px + dx, py + dy);
                    if u >= 0 && v >= 0 && (u as u32) < img.width() && (v as u32) < img.height() {
                        img.put_pixel(u as u32, v as u32, color);
                    }
                }
            }
        }
    }
}

/// Width in pixels of `text` drawn by [`draw_text`] at `scale`.
fn text_width(text: &str, scale: u32) -> f32 {
    (text.chars().count() as u32 * 8 * scale.max(1)) as f32
}

/// A dashed vertical line from `top` to `bottom` at `x`.
fn dashed_vertical(img: &mut RgbImage, x: f32, top: f32, bottom: f32, color: Rgb<u8>) {
    let mut y = top;
    while y < bottom {
        draw_line_segment_mut(img, (x, y), (x, (y + 4.0).min(bottom)), color);
        y += 8.0;
    }
}

/// One plot panel: its box in pixels.
struct Panel {
    left: f32,
    right: f32,
    top: f32,
    bottom: f32,
}

impl Panel {
    /// Axes, a title above and a label under the x axis.
    fn frame(&self, img: &mut RgbImage, title: &str, x_label: &str) {
        let (ink, axis) = (Rgb([20, 20, 20]), Rgb([60, 60, 60]));
        let (l, r, t, b) = (self.left, self.right, self.top, self.bottom);
        draw_line_segment_mut(img, (l, b), (r, b), axis);
        draw_line_segment_mut(img, (l, t), (l, b), axis);
        draw_text(img, l as i32, t as i32 - 40, title, ink, 2);
        let x = (l + r - text_width(x_label, 1)) / 2.0;
        draw_text(img, x as i32, b as i32 + 26, x_label, ink, 1);
    }

    /// A tick under the x axis at `x`, labelled below it.
    fn x_tick(&self, img: &mut RgbImage, x: f32, label: &str) {
        let axis = Rgb([60, 60, 60]);
        draw_line_segment_mut(img, (x, self.bottom), (x, self.bottom + 5.0), axis);
        let at = x - text_width(label, 1) / 2.0;
        draw_text(img, at as i32, self.bottom as i32 + 9, label, axis, 1);
    }
}

/// Draws the score distributions (left: genuine green, impostor red, with
/// the cosines of scores 70, 80 and 90 dashed) and the ROC curve (right: TAR
/// against FAR on a log axis from 1e-6 to 1), labelled.
fn plot(
    genuine: &[f32],
    impostor: &[f32],
    thresholds: &[(i32, f32)],
    auc: f64,
    path: &Path,
) -> Result<()> {
    let (w, h) = (1100u32, 500u32);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let (axis, grid) = (Rgb([60, 60, 60]), Rgb([225, 225, 225]));
    let (green, red, blue) = (Rgb([30, 150, 60]), Rgb([200, 40, 40]), Rgb([30, 60, 200]));

    // Histograms of cosine in [-0.5, 1] in 75 bins, as shares of each kind.
    let dist = Panel {
        left: 60.0,
        right: 510.0,
        top: 70.0,
        bottom: 430.0,
    };
    let x_of = |c: f32| dist.left + (dist.right - dist.left) * (c + 0.5) / 1.5;
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
    for (n, &(score, cosine)) in thresholds.iter().enumerate() {
        if (-0.5..=1.0).contains(&cosine) {
            let x = x_of(cosine);
            dashed_vertical(&mut img, x, dist.top, dist.bottom, Rgb([150, 150, 150]));
            // One row per line: neighbouring cosines are a few pixels apart.
            let y = dist.top as i32 + 2 + 10 * n as i32;
            draw_text(&mut img, x as i32 + 3, y, &score.to_string(), axis, 1);
        }
    }
    for (hist, color) in [(&i, red), (&g, green)] {
        let x = |k: usize| dist.left + (dist.right - dist.left) * (k as f32 + 0.5) / bins as f32;
        // The top sixth of the panel is the legend's.
        let y = |v: f32| dist.bottom - (dist.bottom - dist.top) * 0.84 * v / peak;
        for k in 0..bins - 1 {
            draw_line_segment_mut(
                &mut img,
                (x(k), y(hist[k])),
                (x(k + 1), y(hist[k + 1])),
                color,
            );
        }
    }
    dist.frame(&mut img, "Cosine of pairs", "cosine similarity");
    for (c, label) in [(-0.5, "-0.5"), (0.0, "0"), (0.5, "0.5"), (1.0, "1")] {
        dist.x_tick(&mut img, x_of(c), label);
    }
    draw_text(&mut img, 8, dist.top as i32 - 24, "share of pairs", axis, 1);
    let legend = [
        (green, format!("genuine ({} pairs)", genuine.len())),
        (red, format!("impostor ({} pairs)", impostor.len())),
        (
            Rgb([150, 150, 150]),
            "- - cosine of score 70/80/90".to_string(),
        ),
    ];
    for (n, (color, label)) in legend.iter().enumerate() {
        let y = dist.top + 8.0 + 14.0 * n as f32;
        draw_text(&mut img, dist.left as i32 + 10, y as i32, label, *color, 1);
    }

    // ROC: TPR against log10(FPR) in [-6, 0].
    let roc = Panel {
        left: 620.0,
        right: 1070.0,
        top: 70.0,
        bottom: 430.0,
    };
    let y_of = |tpr: f32| roc.bottom - (roc.bottom - roc.top) * tpr;
    for k in 0..=5 {
        let tpr = k as f32 / 5.0;
        draw_line_segment_mut(
            &mut img,
            (roc.left, y_of(tpr)),
            (roc.right, y_of(tpr)),
            grid,
        );
        let label = format!("{tpr:.1}");
        let x = roc.left - 6.0 - text_width(&label, 1);
        draw_text(&mut img, x as i32, y_of(tpr) as i32 - 4, &label, axis, 1);
    }
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
            roc.left + (roc.right - roc.left) * (lf as f32 + 6.0) / 6.0,
            y_of(tpr),
        );
        if let Some(q) = last {
            draw_line_segment_mut(&mut img, q, p, blue);
        }
        last = Some(p);
    }
    roc.frame(
        &mut img,
        &format!("ROC, AUC {auc:.4}"),
        "false accept rate (impostor pairs accepted), log scale",
    );
    for (d, label) in ["1e-6", "1e-5", "1e-4", "1e-3", "0.01", "0.1", "1"]
        .iter()
        .enumerate()
    {
        let x = roc.left + (roc.right - roc.left) * d as f32 / 6.0;
        roc.x_tick(&mut img, x, label);
    }
    draw_text(
        &mut img,
        roc.left as i32 - 40,
        roc.top as i32 - 24,
        "true accept rate",
        axis,
        1,
    );
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
    errata_file: Option<&PathBuf>,
    threads: usize,
) -> Result<String> {
    // Refuse a broken or stale errata file before the long embedding run.
    let errata = match errata_file {
        Some(file) => {
            let e = Errata::read(file)?;
            let labels = read_labels(data)?;
            let stale = e.unmatched(labels.iter().map(|(p, _)| p.as_str()));
            if !stale.is_empty() {
                bail!(
                    "{}: {} photos that {} does not list: {}",
                    file.display(),
                    if stale.len() == 1 {
                        "a row names"
                    } else {
                        "rows name"
                    },
                    data.join("labels.csv").display(),
                    stale.join(", ")
                );
            }
            Some(e)
        }
        None => None,
    };
    let Labelled {
        labels,
        vectors,
        errors,
    } = embed_labelled(engine, data, cache, threads)?;
    let name = data
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "data".into());
    // Each model set's report beside the default set's.
    let file_name = match engine.model_set().name.as_str() {
        facecore::manifest::DEFAULT_SET => name.clone(),
        set => format!("{name}-{set}"),
    };
    let faces = with_faces(&labels, &vectors);
    let no_face = &faces.no_face;
    let (genuine, mut impostor) = pair_scores(&faces.vectors, &faces.identities);
    impostor.sort_by(f32::total_cmp);
    let report = calibrate(&genuine, &impostor);
    let auc = roc_auc(&genuine, &impostor);
    let confidence = REPORTED_CONFIDENCE * 100.0;
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
        "## All pairs\n\n{} genuine and {} impostor pairs of the images with a face. ROC AUC {auc:.4}.\n",
        genuine.len(),
        impostor.len(),
    );
    tar_table(&mut md, &report, impostor.len());
    let (pairs, short) = intervals(&mut md, &faces, &impostor, &report);
    let _ = writeln!(
        md,
        "\n### Where the AUC is lost\n\n1 − AUC ({:.4}) is the mean, over the genuine pairs, of the \
         share of impostor pairs that score at least as high as the pair. These {COSTLIEST} photos' \
         genuine pairs hold the largest parts of it (a pair counts for both its photos); a photo \
         of another person under the identity's label, or the wrong face of a group photo, shows \
         up here first.\n",
        1.0 - auc
    );
    let _ = writeln!(
        md,
        "| photo | genuine pairs | AUC without its pairs | in the errata |"
    );
    let _ = writeln!(md, "|---|---:|---:|---|");
    for c in errata::costliest(&pairs, &short, faces.vectors.len(), COSTLIEST) {
        let path = faces.paths[c.index];
        let listed = match &errata {
            Some(e) if e.excludes(path) => "yes",
            Some(_) => "no",
            None => "(no errata file)",
        };
        let _ = writeln!(
            md,
            "| {path} | {} | {:.4} | {listed} |",
            c.pairs, c.auc_without
        );
    }
    if let (Some(e), Some(file)) = (&errata, errata_file) {
        let kept: Vec<(String, String)> = labels
            .iter()
            .filter(|(p, _)| !e.excludes(p))
            .cloned()
            .collect();
        let left_out = labels.len() - kept.len();
        let corrected = with_faces(&kept, &vectors);
        let (g, mut i) = pair_scores(&corrected.vectors, &corrected.identities);
        i.sort_by(f32::total_cmp);
        let corrected_report = calibrate(&g, &i);
        let _ = writeln!(
            md,
            "\n## Labels corrected\n\n`{}` lists {} ({}) whose label we judge wrong, with the \
             reason for each and how they were found (only the photos the scores point at were \
             checked by eye). Without them: {} photos with a face, {} identities, {} \
             genuine and {} impostor pairs, ROC AUC {:.4}. The thresholds, the score promise, the \
             pairs file and the open-set figures of this report use the labels as given.\n",
            file.file_name()
                .map(|f| f.to_string_lossy())
                .unwrap_or_default(),
            plural(e.rows.len(), "row"),
            plural(left_out, "photo"),
            corrected.vectors.len(),
            corrected.identity_count,
            g.len(),
            i.len(),
            roc_auc(&g, &i),
        );
        tar_table(&mut md, &corrected_report, i.len());
        intervals(&mut md, &corrected, &i, &corrected_report);
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
        "| score | promised FPR | cosine | measured FPR | FPR, {confidence}% upper bound | measured TPR |"
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
            fpr_upper_bound(fp, impostor.len(), REPORTED_CONFIDENCE),
            100.0 * tp as f64 / genuine.len().max(1) as f64
        );
    }
    let _ = writeln!(
        md,
        "\nThe upper bound is the highest false-positive rate these {} impostor pairs \
         cannot rule out at {confidence}% confidence (Clopper–Pearson): a promise is only as \
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
        if let Some((line, unknown)) = pairs.iter().find_map(|pr| {
            [&pr.a, &pr.b]
                .into_iter()
                .find(|p| !listed.contains(p.as_str()))
                .map(|p| (pr.line, p))
        }) {
            bail!(
                "{}:{line}: `{unknown}` is not in {}",
                pp.display(),
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
    crate::openset::report(
        &mut md,
        &crate::openset::Data {
            vectors: &faces.vectors,
            identities: &faces.identities,
            identity_count: faces.identity_count,
            impostor: &impostor,
        },
    );
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let png = dir.join(format!("{file_name}.png"));
        let thresholds: Vec<(i32, f32)> = [70, 80, 90]
            .into_iter()
            .map(|score| (score, engine.score_map().threshold(score)))
            .collect();
        plot(&genuine, &impostor, &thresholds, auc, &png)?;
        let _ = writeln!(
            md,
            "\n![score distributions and ROC]({file_name}.png)\n\nLeft: the cosines of genuine (green) \
             and impostor (red) pairs, each kind's share per bin of 0.02, with the cosines behind \
             scores 70, 80 and 90 dashed. Right: ROC, the share of genuine pairs accepted \
             against the share of impostor pairs accepted, on a log axis from 1e-6 to 1."
        );
        let file = dir.join(format!("{file_name}.md"));
        std::fs::write(&file, &md).with_context(|| format!("cannot write {}", file.display()))?;
        eprintln!("wrote {} and {}", file.display(), png.display());
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_drawn_from_the_bitmap_font_and_clipped() {
        let ink = Rgb([1, 2, 3]);
        let glyph = font8x8::legacy::BASIC_LEGACY[usize::from(b'7')];
        let mut img = RgbImage::from_pixel(20, 10, Rgb([255, 255, 255]));
        draw_text(&mut img, 2, 1, "7", ink, 1);
        for (x, y, p) in img.enumerate_pixels() {
            let (col, row) = (x as i32 - 2, y as i32 - 1);
            let on = (0..8).contains(&col)
                && (0..8).contains(&row)
                && glyph[row as usize] >> col & 1 == 1;
            assert_eq!(*p == ink, on, "pixel {x},{y}");
        }
        // Scale 2: each font pixel a 2x2 square.
        let mut big = RgbImage::from_pixel(16, 16, Rgb([255, 255, 255]));
        draw_text(&mut big, 0, 0, "7", ink, 2);
        for (x, y, p) in big.enumerate_pixels() {
            let on = glyph[(y / 2) as usize] >> (x / 2) & 1 == 1;
            assert_eq!(*p == ink, on, "pixel {x},{y}");
        }
        // Partly or wholly outside, and non-ASCII: no panic, drawn as `?`.
        let mut small = RgbImage::from_pixel(4, 4, Rgb([255, 255, 255]));
        draw_text(&mut small, -6, -3, "cosine ±", ink, 3);
        draw_text(&mut small, 500, 500, "x", ink, 1);
        let mut q = RgbImage::from_pixel(16, 8, Rgb([255, 255, 255]));
        draw_text(&mut q, 0, 0, "±", ink, 1);
        let mut expected = RgbImage::from_pixel(16, 8, Rgb([255, 255, 255]));
        draw_text(&mut expected, 0, 0, "?", ink, 1);
        assert_eq!(q, expected);
        assert_eq!(text_width("0.01", 1), 32.0);
        assert_eq!(text_width("ROC", 2), 48.0);
    }

    #[test]
    fn pairs_files_with_and_without_a_header() {
        let file = std::env::temp_dir().join(format!("facecore-pairs-{}.csv", std::process::id()));
        let read = |text: &str| {
            std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
            read_pairs(&file).map_err(|e| format!("{e:#}"))
        };
        let pairs = read("a,b,same\nx.jpg,y.jpg,1\n\n\"p, q.jpg\",y.jpg,0,3\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<_> = pairs
            .iter()
            .map(|p| (p.line, p.a.as_str(), p.b.as_str(), p.same, p.fold))
            .collect();
        assert_eq!(
            got,
            [
                (2, "x.jpg", "y.jpg", true, 0),
                (4, "p, q.jpg", "y.jpg", false, 3)
            ]
        );
        // No header: the first line is a pair.
        let pairs = read("x.jpg,y.jpg,1\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((pairs.len(), pairs[0].line), (1, 1));
        for (bad, says) in [
            ("x.jpg,y.jpg\n", "got 2 fields"),
            ("p, q.jpg,r, s.jpg,1\n", "got 5 fields (quote a path"),
            ("p, q.jpg,y.jpg,1\n", "`same` must be 0 or 1, got `y.jpg`"),
            ("a,b,same\nx.jpg,y.jpg,yes\n", ":2: `same` must be 0 or 1"),
            ("x.jpg,y.jpg,1,first\n", "bad fold `first`"),
            ("\"x.jpg,y.jpg,1\n", "not closed"),
        ] {
            let err = read(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
        std::fs::remove_file(&file).ok();
    }

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
