//! The opt-in `buffalo_s` model set (SCRFD-500MF + w600k_mbf) checked
//! against onnxruntime's figures (`benches/reference/buffalo_reference.py`),
//! and through the whole pipeline. Needs the set fetched with its terms
//! accepted: `cargo xtask fetch-models --set buffalo_s --accept-model-licence`
//! (`cargo xtask test` does it).

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use facecore::{Engine, EngineConfig};

mod common;
use common::{close, ramp};

fn buffalo() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        match Engine::load(EngineConfig {
            model_set: Some("buffalo_s".into()),
            ..EngineConfig::default()
        }) {
            Ok(e) => e,
            Err(e) => panic!(
                "{e}\n(the buffalo_s tests need `cargo xtask fetch-models --set buffalo_s \
                 --accept-model-licence`; `cargo xtask test` runs it)"
            ),
        }
    })
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn w600k_matches_the_onnxruntime_reference() {
    let e = buffalo();
    assert_eq!(e.model_id(), "w600k_mbf@buffalo_s");
    assert_eq!(e.embedding_dim(), 512);
    let out = e.embedder().run_raw(&ramp(3 * 112 * 112), 1).unwrap();
    let expected = [
        -0.12930, 0.05680, -0.48084, 0.24841, 0.17980, -0.33747, 0.13397, -0.48608,
    ];
    for (i, (&a, &e)) in out.iter().zip(expected.iter()).enumerate() {
        close(a, e, 2e-3, &format!("w600k output {i}"));
    }
    close(out.iter().sum(), -0.7254, 2e-2, "w600k sum");
    let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
    close(norm, 7.1723, 5e-3, "w600k norm");
}

#[test]
fn scrfd_matches_the_onnxruntime_reference() {
    let out = buffalo()
        .detector()
        .run_scrfd_raw(&ramp(3 * 640 * 640))
        .unwrap();
    // Per output: length, index and value of the largest element, sum.
    let expected: [(usize, usize, f32, f32); 9] = [
        (12800, 12798, 0.03172, 50.187),
        (3200, 1, 0.0251, 20.364),
        (800, 1, 0.03729, 9.084),
        (51200, 1623, 3.01659, 51146.312),
        (12800, 1317, 3.57448, 24300.281),
        (3200, 3009, 3.60315, 4091.219),
        (128000, 4079, 1.60222, 9554.32),
        (32000, 1217, 1.74518, 3071.282),
        (8000, 2328, 1.51056, -26.299),
    ];
    for (i, (v, (len, at, max, sum))) in out.iter().zip(expected).enumerate() {
        assert_eq!(v.len(), len, "output {i}");
        let (arg, top) = v
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap();
        assert_eq!(arg, at, "output {i}: index of the largest value");
        close(*top, max, 1e-3, &format!("output {i} max"));
        let total: f32 = v.iter().sum();
        close(
            total,
            sum,
            sum.abs().max(1.0) * 1e-3,
            &format!("output {i} sum"),
        );
    }
}

/// The whole detection on a photo: the same box, score and keypoints as the
/// reference decoder written in Python.
#[test]
fn scrfd_detects_the_astronaut_as_the_reference_decoder_does() {
    let e = buffalo();
    let image = e.decode(&fixture("astronaut.png")).unwrap();
    let boxes = e.detect_boxes(&image).unwrap();
    assert_eq!(boxes.len(), 1, "{boxes:?}");
    let b = &boxes[0];
    let want = [180.10, 60.18, 271.58, 179.73];
    let got = [
        b.bbox.x,
        b.bbox.y,
        b.bbox.x + b.bbox.width,
        b.bbox.y + b.bbox.height,
    ];
    for (g, w) in got.iter().zip(want) {
        close(*g, w, 1.0, "box edge");
    }
    close(b.confidence, 0.8002, 0.01, "score");
    let points = b.keypoints.unwrap();
    let want = [
        [204.15, 100.62],
        [246.77, 103.58],
        [223.86, 129.17],
        [201.98, 139.69],
        [245.71, 142.31],
    ];
    for (p, w) in points.iter().zip(want) {
        close(p[0], w[0], 1.0, "keypoint x");
        close(p[1], w[1], 1.0, "keypoint y");
    }
}

/// The embedding-norm gate was measured for the default set's embedder
/// only (w600k_mbf's raw norms are about 20, far above fr_feature's 1.8):
/// with every detection up for verification, buffalo_s still runs no
/// embedding to detect, while the default set embeds to verify.
#[test]
fn only_the_default_set_verifies_detections_by_embedding_norm() {
    let verify_all = EngineConfig {
        quality: facecore::QualityConfig {
            verify_confidence_below: 1.0,
            min_embedding_norm: None,
            ..Default::default()
        },
        ..EngineConfig::default()
    };
    let embed_time = |set: &str| {
        let engine = Engine::load(EngineConfig {
            model_set: Some(set.into()),
            ..verify_all.clone()
        })
        .unwrap();
        let image = engine.decode(&fixture("astronaut.png")).unwrap();
        let mut timings = facecore::StageTimings::default();
        let (faces, _) = engine.detect_image(&image, 5, &mut timings).unwrap();
        assert_eq!(faces.len(), 1, "{set}");
        timings.embed
    };
    assert_eq!(embed_time("buffalo_s"), std::time::Duration::ZERO);
    assert!(embed_time("default") > std::time::Duration::ZERO);
}

/// Through the engine: the keypoints align the face, the embedding is a
/// unit vector of the set's model, and the same face shrunk still matches
/// far above an unrelated face.
#[test]
fn the_buffalo_pipeline_embeds_and_compares() {
    let e = buffalo();
    let astronaut = e.embed(&fixture("astronaut.png"), 1).unwrap();
    let a = &astronaut.faces[0].embedding;
    assert_eq!(&*a.model, "w600k_mbf@buffalo_s");
    let n: f32 = a.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    close(n, 1.0, 1e-4, "unit length");
    let image = e.decode(&fixture("astronaut.png")).unwrap();
    let small = image::imageops::resize(&image, 256, 256, image::imageops::FilterType::Triangle);
    let mut png = std::io::Cursor::new(Vec::new());
    small.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let shrunk = e.embed(png.get_ref(), 1).unwrap();
    let same = e.compare(a, &shrunk.faces[0].embedding).unwrap();
    let camera = e.embed(&fixture("camera.png"), 1).unwrap();
    let other = e.compare(a, &camera.faces[0].embedding).unwrap();
    assert!(same.cosine > 0.8, "same face: {}", same.cosine);
    assert!(other.cosine < 0.3, "different faces: {}", other.cosine);
    // A vector of the default set is refused, never scored.
    let default = facecore::Embedding {
        model: "fr_feature@0.0.1".into(),
        vector: a.vector.clone(),
        raw_norm: None,
    };
    assert!(matches!(
        e.compare(a, &default),
        Err(facecore::Error::ModelMismatch { .. })
    ));
}

/// The set's embedder runs the flip test: a crop's vector is the unit sum
/// of the model's outputs for the crop and its mirror image.
#[test]
fn the_embedding_sums_the_crop_and_its_mirror() {
    let e = buffalo();
    assert!(e.embedder().flips());
    let image = e.decode(&fixture("astronaut.png")).unwrap();
    let faces = e
        .detect_image(&image, 1, &mut Default::default())
        .unwrap()
        .0;
    let crop = e.align(&image, &faces).unwrap().remove(0);
    let arcface = facecore::embed::Normalization::ARCFACE;
    let raw = |c: &facecore::RgbImage| {
        let t = facecore::embed::pack_with(std::slice::from_ref(c), arcface).unwrap();
        let v: Vec<f32> = t
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect();
        e.embedder().run_raw(&v, 1).unwrap()
    };
    let a = raw(&crop);
    let b = raw(&image::imageops::flip_horizontal(&crop));
    let sum: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let n = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
    let got = e
        .embed_crops(std::slice::from_ref(&crop))
        .unwrap()
        .remove(0);
    for (g, s) in got.vector.iter().zip(&sum) {
        close(*g, s / n, 1e-5, "flip-test vector");
    }
}

/// A face that fills the photo is larger on SCRFD's canvas than its
/// largest anchors; the second, shrunk pass finds it.
#[test]
fn a_face_filling_the_photo_is_found_by_the_second_pass() {
    let e = buffalo();
    let image = e.decode(&fixture("astronaut.png")).unwrap();
    let tight = image::imageops::crop_imm(&image, 185, 70, 82, 100).to_image();
    let big = image::imageops::resize(&tight, 560, 680, image::imageops::FilterType::Triangle);
    let boxes = e.detect_boxes(&big).unwrap();
    assert_eq!(boxes.len(), 1, "{boxes:?}");
    assert!(boxes[0].bbox.width > 350.0, "{boxes:?}");
}

/// Degenerate shapes never fail or panic: tiny, one pixel high or wide,
/// far from square.
#[test]
fn odd_shapes_are_searched_without_failing() {
    let e = buffalo();
    for (w, h) in [(1, 1), (2, 3), (1, 900), (900, 1), (4000, 7), (31, 640)] {
        let image = facecore::RgbImage::from_pixel(w, h, image::Rgb([120, 110, 100]));
        let boxes = e
            .detect_boxes(&image)
            .unwrap_or_else(|err| panic!("{w}x{h}: {err}"));
        assert!(boxes.is_empty(), "{w}x{h}: {boxes:?}");
    }
}
