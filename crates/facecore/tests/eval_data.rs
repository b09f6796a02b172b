//! The real pipeline on the labelled evaluation data of `../shared/data`
//! (never copied into the repository). The data directory is read from
//! `FACECORE_EVAL_DATA`; without it these tests say they are skipped.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;
use common::engine;
use facecore::calibrate::roc_auc;

fn data_dir(test: &str) -> Option<PathBuf> {
    match std::env::var_os("FACECORE_EVAL_DATA") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            assert!(
                d.join("faces-dev/labels.csv").exists(),
                "FACECORE_EVAL_DATA={} has no faces-dev/labels.csv",
                d.display()
            );
            Some(d)
        }
        _ => {
            eprintln!(
                "SKIPPED {test}: set FACECORE_EVAL_DATA to the evaluation data directory (e.g. ../shared/data)"
            );
            None
        }
    }
}

/// Rows of a simple CSV file (no quoted commas), header skipped.
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|s| s.trim().to_string()).collect())
        .collect()
}

fn image_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("jpg" | "jpeg" | "png")
            )
        })
        .collect();
    files.sort();
    files
}

/// Runs `f` over `items` on two threads sharing the one engine.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let mut out: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= items.len() {
                            break mine;
                        }
                        mine.push((i, f(&items[i])));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

#[test]
fn no_face_images_have_no_faces() {
    let Some(data) = data_dir("no_face_images_have_no_faces") else {
        return;
    };
    let files = image_files(&data.join("no-face"));
    assert!(files.len() >= 8);
    for f in files {
        let d = engine().detect(&std::fs::read(&f).unwrap(), 10).unwrap();
        assert!(
            d.faces.is_empty(),
            "{}: found {:?}",
            f.display(),
            d.faces
                .iter()
                .map(|x| (x.bbox, x.confidence))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn multi_face_images_have_the_annotated_number_of_faces() {
    let Some(data) = data_dir("multi_face_images_have_the_annotated_number_of_faces") else {
        return;
    };
    let dir = data.join("multi-face");
    let rows = csv_rows(&dir.join("annotations.csv"));
    assert_eq!(rows.len(), 6);
    let mut failures = Vec::new();
    for r in rows {
        let (min, max): (usize, usize) = (r[1].parse().unwrap(), r[2].parse().unwrap());
        let d = engine()
            .detect(&std::fs::read(dir.join(&r[0])).unwrap(), 100)
            .unwrap();
        println!("{}: {} faces (expected {min}..={max})", r[0], d.faces.len());
        if d.faces.len() < min || d.faces.len() > max {
            failures.push(format!(
                "{}: {} faces, expected {min}..={max}",
                r[0],
                d.faces.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_sample_of_faces_dev_has_every_face_detected() {
    let Some(data) = data_dir("a_sample_of_faces_dev_has_every_face_detected") else {
        return;
    };
    let dir = data.join("faces-dev");
    // Every 12th image: about 200 images over all identities.
    let sample: Vec<String> = csv_rows(&dir.join("labels.csv"))
        .into_iter()
        .step_by(12)
        .map(|r| r[0].clone())
        .collect();
    let found = parallel_map(&sample, |p| {
        let d = engine()
            .detect(&std::fs::read(dir.join(p)).unwrap(), 1)
            .unwrap();
        d.faces.len()
    });
    let missed: Vec<&String> = sample
        .iter()
        .zip(&found)
        .filter(|(_, n)| **n == 0)
        .map(|(p, _)| p)
        .collect();
    println!(
        "faces-dev sample: {} images, {} without a face: {missed:?}",
        sample.len(),
        missed.len()
    );
    // MODELS.md: the same recipe run in onnxruntime finds no face in three
    // images of identity 7308, in 7325/193834.jpg and in 7386/139333.jpg. Only
    // those may be missed; any other miss is a regression.
    let unexpected: Vec<&&String> = missed
        .iter()
        .filter(|p| {
            !(p.starts_with("images/7308/")
                || p.as_str() == "images/7325/193834.jpg"
                || p.as_str() == "images/7386/139333.jpg")
        })
        .collect();
    assert!(unexpected.is_empty(), "no face detected in {unexpected:?}");
    assert!(missed.len() <= 2, "too many misses: {missed:?}");
}

/// For each faces-dev photo of `photos`: `without` (the engine with a rescue
/// turned off) finds no face, and the shipped engine finds exactly one,
/// which is returned.
fn found_only_by_a_rescue(
    dir: &Path,
    without: facecore::QualityConfig,
    detector: facecore::DetectorConfig,
    photos: &[&str],
) -> Vec<(String, facecore::Face)> {
    let without = facecore::Engine::load(facecore::EngineConfig {
        detector,
        quality: without,
        ..Default::default()
    })
    .unwrap();
    photos
        .iter()
        .map(|p| {
            let bytes = std::fs::read(dir.join(p)).unwrap();
            assert!(without.detect(&bytes, 1).unwrap().faces.is_empty(), "{p}");
            let d = engine().detect(&bytes, 10).unwrap();
            assert_eq!(d.faces.len(), 1, "{p}: {:?}", d.faces);
            (p.to_string(), d.faces[0])
        })
        .collect()
}

/// Photos the ordinary passes miss and the letterboxed rescue passes find
/// (`facecore_detect::Detector::rescue_boxes`): a portrait and a square photo
/// squashed by the 4:3 resize, and two faces found only below the ordinary
/// threshold, each verified by its embedding.
#[test]
fn the_rescue_passes_find_faces_the_ordinary_passes_miss() {
    let Some(data) = data_dir("the_rescue_passes_find_faces_the_ordinary_passes_miss") else {
        return;
    };
    found_only_by_a_rescue(
        &data.join("faces-dev"),
        facecore::QualityConfig {
            rescue_rotations: false,
            ..Default::default()
        },
        facecore::DetectorConfig {
            rescue_threshold: 0.0,
            ..Default::default()
        },
        &[
            "images/7325/193834.jpg",
            "images/7438/192923.jpg",
            "images/7308/141226.jpg",
            "images/7449/161912.jpg",
        ],
    );
}

/// The last rescue: four photos of faces-dev whose face is lying sideways
/// or strongly tilted, which no upright pass finds, are found on the photo
/// turned by a quarter or an eighth, with the landmarks inside the box.
#[test]
fn the_turned_passes_find_faces_lying_sideways() {
    let Some(data) = data_dir("the_turned_passes_find_faces_lying_sideways") else {
        return;
    };
    let found = found_only_by_a_rescue(
        &data.join("faces-dev"),
        facecore::QualityConfig {
            rescue_rotations: false,
            ..Default::default()
        },
        facecore::DetectorConfig::default(),
        &[
            "images/7308/008482.jpg",
            "images/7308/047644.jpg",
            "images/7386/139333.jpg",
            "images/7439/188969.jpg",
        ],
    );
    for (p, face) in found {
        let b = face.bbox;
        let margin = 0.1 * b.width.max(b.height);
        for q in face.landmarks {
            assert!(
                q[0] >= b.x - margin
                    && q[0] <= b.x + b.width + margin
                    && q[1] >= b.y - margin
                    && q[1] <= b.y + b.height + margin,
                "{p}: landmark {q:?} outside {b:?}"
            );
        }
    }
}

#[test]
fn pairs_are_separated_with_roc_auc_of_at_least_0_97() {
    let Some(data) = data_dir("pairs_are_separated_with_roc_auc_of_at_least_0_97") else {
        return;
    };
    let dir = data.join("faces-dev");
    let pairs = csv_rows(&dir.join("pairs.csv"));
    assert_eq!(pairs.len(), 6000);
    let mut images: Vec<String> = pairs
        .iter()
        .flat_map(|r| [r[0].clone(), r[1].clone()])
        .collect();
    images.sort();
    images.dedup();
    let start = std::time::Instant::now();
    let embeddings = parallel_map(&images, |p| {
        let e = engine()
            .embed(&std::fs::read(dir.join(p)).unwrap(), 1)
            .unwrap();
        e.faces.into_iter().next().map(|f| f.embedding)
    });
    let secs = start.elapsed().as_secs_f64();
    let no_face = embeddings.iter().filter(|e| e.is_none()).count();
    let index = |p: &str| images.binary_search_by(|x| x.as_str().cmp(p)).unwrap();
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for r in &pairs {
        // A pair with an undetected face counts as the worst score.
        let s = match (&embeddings[index(&r[0])], &embeddings[index(&r[1])]) {
            (Some(a), Some(b)) => engine().compare(a, b).unwrap().cosine,
            _ => -1.0,
        };
        if r[2] == "1" {
            genuine.push(s);
        } else {
            impostor.push(s);
        }
    }
    let auc = roc_auc(&genuine, &impostor);
    println!(
        "faces-dev pairs: {} images embedded in {secs:.1} s ({:.1} images/s), {no_face} without a face; \
         {} genuine, {} impostor pairs; ROC AUC {auc:.4} (onnxruntime reference 0.975)",
        images.len(),
        images.len() as f64 / secs,
        genuine.len(),
        impostor.len()
    );
    assert!(auc >= 0.97, "ROC AUC {auc:.4} < 0.97");
}
