//! `cargo xtask eval-liveness --data DIR`: the liveness check measured on a
//! labelled set of genuine photos (`DIR/labels.csv`, `path,identity`) and on
//! seeded synthetic attacks made from the same photos.
//!
//! Prints, in ISO/IEC 30107-3 terms, the APCER of each attack type (attack
//! presentations accepted as live) and the BPCER (genuine photos rejected),
//! with 95 % Wilson bounds, at the thresholds of `LivenessConfig::default()`;
//! the model alone at other thresholds; how often each code fired; and the
//! time per kind of check. Options:
//!
//! - `--every K`: every K-th image of `labels.csv` (default 1: all).
//! - `--split all|tune|test`: `tune` = identities with an even number,
//!   `test` = odd ones (thresholds were chosen on `tune`).
//! - `--threads N` (default 1), `--scores FILE` (one CSV row per sample:
//!   code, live and eye probabilities, face size, context reached).
//! - `--min-live P`: override the model threshold.
//! - `--set NAME=VALUE`: override any threshold of `LivenessConfig` (repeat
//!   or comma-separate), e.g. `--set max_yaw=180` to see every angle.
//! - `--model-only`: every cheap check off, so the model scores every face
//!   (how the defaults were chosen).
//! - `--save-examples DIR`: write every attack as PNG, to look at.
//! - `--no-pose`: leave the angle unchecked. By default the head pose comes
//!   from `fr_pose.onnx` (facecore-attributes), estimated only for faces
//!   that passed the placement checks, as the server does.
//!
//! The whole set (2,334 photos, 9,336 checks) takes about 20 minutes on
//! two busy cores; the README's figures are `--split test` (1,192 photos).
//!
//! Attack sources are the genuine photos shrunk to at most 1024 px on their
//! longer side; the seed of each attack is the FNV-1a hash of the photo's
//! path with the attack kind.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use facecore_attributes::PoseEstimator;
use facecore_detect::{Detector, DetectorConfig, Face};
use facecore_liveness::synthetic::AttackKind;
use facecore_liveness::{FaceObservation, LivenessChecker, LivenessCode, LivenessConfig, Pose};
use image::RgbImage;

/// Longer side of the photos attacks are made from.
const ATTACK_SOURCE_PX: u32 = 1024;

struct Args {
    data: PathBuf,
    every: usize,
    split: String,
    threads: usize,
    scores: Option<PathBuf>,
    min_live: Option<f32>,
    overrides: Vec<String>,
    save: Option<PathBuf>,
    model_only: bool,
    pose: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        data: PathBuf::new(),
        every: 1,
        split: "all".into(),
        threads: 1,
        scores: None,
        min_live: None,
        overrides: Vec::new(),
        save: None,
        model_only: false,
        pose: true,
    };
    let mut it = std::env::args().skip(1);
    let mut data = None;
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => data = Some(PathBuf::from(value()?)),
            "--every" => a.every = value()?.parse().map_err(|_| "--every takes a number")?,
            "--split" => a.split = value()?,
            "--threads" => a.threads = value()?.parse().map_err(|_| "--threads takes a number")?,
            "--scores" => a.scores = Some(PathBuf::from(value()?)),
            "--save-examples" => a.save = Some(PathBuf::from(value()?)),
            "--model-only" => a.model_only = true,
            "--no-pose" => a.pose = false,
            "--set" => a.overrides.extend(value()?.split(',').map(str::to_string)),
            "--min-live" => {
                a.min_live = Some(value()?.parse().map_err(|_| "--min-live takes a number")?)
            }
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    a.data = data.ok_or("usage: eval-liveness --data DIR [--every K] [--split all|tune|test] [--threads N] [--scores FILE] [--min-live P] [--set NAME=VALUE] [--model-only] [--no-pose] [--save-examples DIR]")?;
    if a.every == 0 || a.threads == 0 || !["all", "tune", "test"].contains(&a.split.as_str()) {
        return Err("--every and --threads must be >= 1; --split is all, tune or test".into());
    }
    Ok(a)
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One checked sample.
struct Sample {
    path: String,
    class: &'static str,
    code: Option<LivenessCode>,
    live_probability: Option<f32>,
    eyes_closed: Option<[f32; 2]>,
    face_px: Option<f32>,
    context: Option<f32>,
    pose: Option<Pose>,
    geometry: Duration,
    pose_time: Duration,
    eyes: Duration,
    model: Duration,
    detect: Duration,
}

fn check(
    detector: &Detector,
    checker: &LivenessChecker,
    pose_model: Option<&PoseEstimator>,
    image: &RgbImage,
    path: &str,
    class: &'static str,
) -> Sample {
    let t = Instant::now();
    let boxes = detector.detect_boxes(image).unwrap_or_default();
    let mut faces: Vec<FaceObservation> = boxes.iter().map(FaceObservation::from).collect();
    if let Some(first) = faces.first_mut() {
        first.landmarks68 = detector.landmarks68(image, &first.bbox).ok();
    }
    let detect = t.elapsed();
    let mut pose = None;
    let v = checker
        .check_with(image, &faces, |face| {
            pose = match (pose_model, face.landmarks68) {
                (Some(model), Some(points)) => {
                    let face = Face {
                        bbox: face.bbox,
                        confidence: face.confidence,
                        landmarks: facecore_detect::reduce_68_to_5(&|i| points[i]),
                    };
                    let p = model.estimate(image, &face).unwrap();
                    Some(Pose {
                        yaw: p.yaw,
                        pitch: p.pitch,
                        roll: p.roll,
                    })
                }
                _ => None,
            };
            Ok::<_, facecore_liveness::LivenessError>(pose)
        })
        .unwrap();
    Sample {
        path: path.to_string(),
        class,
        code: v.code,
        live_probability: v.live_probability,
        eyes_closed: v.eyes_closed,
        face_px: faces.first().map(|f| f.bbox.width.max(f.bbox.height)),
        context: faces
            .first()
            .and_then(|f| facecore_liveness::liveness_crop(&f.bbox, image.width(), image.height()))
            .map(|(_, c)| c),
        pose,
        geometry: v.timings.geometry,
        pose_time: v.timings.pose,
        eyes: v.timings.eyes,
        model: v.timings.model,
        detect,
    }
}

fn shrink(image: &RgbImage) -> RgbImage {
    let longer = image.width().max(image.height());
    if longer <= ATTACK_SOURCE_PX {
        return image.clone();
    }
    let s = ATTACK_SOURCE_PX as f32 / longer as f32;
    let (w, h) = (
        (image.width() as f32 * s).round() as u32,
        (image.height() as f32 * s).round() as u32,
    );
    image::imageops::resize(
        image,
        w.max(1),
        h.max(1),
        image::imageops::FilterType::Triangle,
    )
}

/// Wilson score interval at 95 %.
fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, 1.959_964);
    let p = k / n;
    let centre = p + z * z / (2.0 * n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let d = 1.0 + z * z / n;
    (
        ((centre - half) / d).max(0.0),
        ((centre + half) / d).min(1.0),
    )
}

fn rate(k: usize, n: usize) -> String {
    let (lo, hi) = wilson(k, n);
    let p = if n == 0 { 0.0 } else { k as f64 / n as f64 };
    format!(
        "{:6.2} % [{:5.2}, {:5.2}]  ({k}/{n})",
        100.0 * p,
        100.0 * lo,
        100.0 * hi
    )
}

fn median_ms(mut v: Vec<Duration>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let models = std::env::var_os("FACECORE_MODELS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"),
        PathBuf::from,
    );
    let read = |f: &str| {
        std::fs::read(models.join(f)).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `cargo xtask fetch-models`",
                models.join(f).display()
            )
        })
    };
    let detector = Detector::from_bytes(
        &read("fr_detect.onnx"),
        &read("fr_landmark.onnx"),
        DetectorConfig::default(),
    )
    .unwrap();
    let mut config = LivenessConfig::default()
        .with_overrides(&args.overrides)
        .unwrap_or_else(|e| {
            eprintln!("--set: {e}");
            std::process::exit(2)
        });
    if let Some(p) = args.min_live {
        config.min_live_probability = p;
    }
    if args.model_only {
        // Every cheap check off, to see the model's scores on every face.
        config.eyes_closed_probability = 1.0;
        config.min_face_px = 0.0;
        config.min_context = 0.0;
        config.cropped_edge_px = 0.0;
        config.min_border_margin = 0.0;
        config.other_face_ratio = 1.0;
    }
    let checker =
        LivenessChecker::from_bytes(&read("fr_liveness.onnx"), &read("fr_eye.onnx"), config)
            .unwrap();
    let pose_model = (args.pose && !args.model_only)
        .then(|| PoseEstimator::from_bytes(&read("fr_pose.onnx"), "fr_pose@0.0.1").unwrap());

    let labels = std::fs::read_to_string(args.data.join("labels.csv"))
        .unwrap_or_else(|e| panic!("{}: {e}", args.data.join("labels.csv").display()));
    let rows: Vec<(String, u64)> = labels
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (p, id) = l.split_once(',')?;
            Some((p.trim().to_string(), id.trim().parse().ok()?))
        })
        .filter(|(_, id)| match args.split.as_str() {
            "tune" => id % 2 == 0,
            "test" => id % 2 == 1,
            _ => true,
        })
        .enumerate()
        .filter(|(i, _)| i % args.every == 0)
        .map(|(_, r)| r)
        .collect();
    eprintln!(
        "eval-liveness: {} photos of {} (split {}, every {}), 1 live + {} synthetic attacks each, {} thread(s)",
        rows.len(),
        args.data.display(),
        args.split,
        args.every,
        AttackKind::ALL.len(),
        args.threads
    );

    let samples = Mutex::new(Vec::new());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let limits = facecore_image::Limits::default();
    std::thread::scope(|s| {
        for t in 0..args.threads {
            let (rows, samples, done, detector, checker, limits, args) =
                (&rows, &samples, &done, &detector, &checker, &limits, &args);
            let pose_model = pose_model.as_ref();
            s.spawn(move || {
                for (path, _) in rows.iter().skip(t).step_by(args.threads) {
                    let bytes = std::fs::read(args.data.join(path)).unwrap();
                    let Ok(image) = facecore_image::decode_rgb(&bytes, limits) else {
                        eprintln!("  cannot decode {path}: skipped");
                        continue;
                    };
                    let mut local =
                        vec![check(detector, checker, pose_model, &image, path, "live")];
                    let source = shrink(&image);
                    for kind in AttackKind::ALL {
                        let attack = kind.make(&source, fnv1a(path) ^ fnv1a(kind.name()));
                        if let Some(dir) = &args.save {
                            let name = format!("{}-{}.png", path.replace('/', "_"), kind.name());
                            attack.save(dir.join(name)).unwrap();
                        }
                        local.push(check(
                            detector,
                            checker,
                            pose_model,
                            &attack,
                            path,
                            kind.name(),
                        ));
                    }
                    samples.lock().unwrap().extend(local);
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if n % 50 == 0 || n == rows.len() {
                        let secs = started.elapsed().as_secs_f64();
                        eprintln!(
                            "  {n}/{} photos, {:.0} s, about {:.0} s to go",
                            rows.len(),
                            secs,
                            secs / n as f64 * (rows.len() - n) as f64
                        );
                    }
                }
            });
        }
    });
    let samples = samples.into_inner().unwrap();
    report(&samples, checker.config());
    if let Some(path) = &args.scores {
        let mut f = std::fs::File::create(path).unwrap();
        writeln!(
            f,
            "path,class,code,live_probability,eye_left_closed,eye_right_closed,face_px,context,yaw,pitch,roll"
        )
        .unwrap();
        for s in &samples {
            let opt = |v: Option<f32>| v.map_or(String::new(), |v| format!("{v:.5}"));
            writeln!(
                f,
                "{},{},{},{},{},{},{},{},{},{},{}",
                s.path,
                s.class,
                s.code.map_or("LIVE", |c| c.as_str()),
                opt(s.live_probability),
                opt(s.eyes_closed.map(|e| e[0])),
                opt(s.eyes_closed.map(|e| e[1])),
                opt(s.face_px),
                opt(s.context),
                opt(s.pose.map(|p| p.yaw)),
                opt(s.pose.map(|p| p.pitch)),
                opt(s.pose.map(|p| p.roll))
            )
            .unwrap();
        }
        eprintln!("scores written to {}", path.display());
    }
}

fn report(samples: &[Sample], config: &LivenessConfig) {
    let classes: Vec<&str> = std::iter::once("live")
        .chain(AttackKind::ALL.iter().map(|k| k.name()))
        .collect();
    fn of<'s>(samples: &'s [Sample], class: &'s str) -> impl Iterator<Item = &'s Sample> + 's {
        samples.iter().filter(move |s| s.class == class)
    }
    let of = |class: &'static str| of(samples, class);
    println!(
        "\nLiveness at the default thresholds (min live probability {}, eyes closed {}, min face {} px)",
        config.min_live_probability, config.eyes_closed_probability, config.min_face_px
    );
    println!(
        "ISO/IEC 30107-3 rates, 95 % Wilson bounds; a sample counts as accepted only if every check passed.\n"
    );
    let live_n = of("live").count();
    let live_rejected = of("live").filter(|s| s.code.is_some()).count();
    println!(
        "BPCER (genuine rejected)          {}",
        rate(live_rejected, live_n)
    );
    for kind in AttackKind::ALL {
        let n = of(kind.name()).count();
        let accepted = of(kind.name()).filter(|s| s.code.is_none()).count();
        println!("APCER {:<27} {}", kind.name(), rate(accepted, n));
    }
    println!("\nThe model alone, on samples that reached it (passed every cheap check):");
    println!(
        "{:>10}  {:>32}  {}",
        "threshold",
        "BPCER (live below)",
        AttackKind::ALL
            .map(|k| format!("APCER {} (above)", k.name()))
            .join("  ")
    );
    for t in [0.5f32, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995] {
        let live: Vec<f32> = of("live").filter_map(|s| s.live_probability).collect();
        let mut line = format!(
            "{t:>10}  {:>32}",
            rate(live.iter().filter(|&&p| p < t).count(), live.len())
        );
        for kind in AttackKind::ALL {
            let a: Vec<f32> = of(kind.name()).filter_map(|s| s.live_probability).collect();
            line.push_str(&format!(
                "  {:>32}",
                rate(a.iter().filter(|&&p| p >= t).count(), a.len())
            ));
        }
        println!("{line}");
    }
    println!("\nOutcome per class (share of samples):");
    print!("{:<22}", "code");
    for c in &classes {
        print!("{c:>16}");
    }
    println!();
    for code in std::iter::once(None).chain(LivenessCode::ALL.iter().map(|c| Some(*c))) {
        print!("{:<22}", code.map_or("(live)", |c| c.as_str()));
        for c in &classes {
            let n = of(c).count().max(1);
            let k = of(c).filter(|s| s.code == code).count();
            print!("{:>15.1}%", 100.0 * k as f64 / n as f64);
        }
        println!();
    }
    let live_poses: Vec<Pose> = of("live").filter_map(|s| s.pose).collect();
    if !live_poses.is_empty() {
        println!(
            "\nHead pose of the genuine photos that reached the angle check ({}; limits yaw {}, pitch {}, roll {}):",
            live_poses.len(),
            config.max_yaw,
            config.max_pitch,
            config.max_roll
        );
        for (name, axis) in [("yaw", 0), ("pitch", 1), ("roll", 2)] {
            let mut v: Vec<f32> = live_poses
                .iter()
                .map(|p| [p.yaw, p.pitch, p.roll][axis].abs())
                .collect();
            v.sort_by(f32::total_cmp);
            let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
            println!(
                "  |{name}|  median {:5.1}   90th {:5.1}   95th {:5.1}   99th {:5.1} degrees",
                at(0.5),
                at(0.9),
                at(0.95),
                at(0.99)
            );
        }
    }
    println!("\nLatency per check (median ms over the samples that ran it; 1 thread per sample):");
    let all = |f: fn(&Sample) -> Duration| {
        samples
            .iter()
            .map(f)
            .filter(|d| !d.is_zero())
            .collect::<Vec<_>>()
    };
    println!(
        "  geometric checks   {:8.4}",
        median_ms(all(|s| s.geometry))
    );
    println!(
        "  pose model         {:8.3}",
        median_ms(all(|s| s.pose_time))
    );
    println!("  eye model (2 eyes) {:8.3}", median_ms(all(|s| s.eyes)));
    println!("  liveness model     {:8.3}", median_ms(all(|s| s.model)));
    println!(
        "  (detection + 68 landmarks, not part of the check: {:.2})",
        median_ms(all(|s| s.detect))
    );
}
