//! The liveness models against onnxruntime, every geometric code on
//! hand-made detections, and the whole check on real photos (the fixture,
//! and faces-dev with its synthetic attacks when `FACECORE_EVAL_DATA` is set).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use facecore_detect::{BBox, Detector, DetectorConfig};
use facecore_liveness::synthetic::AttackKind;
use facecore_liveness::{FaceObservation, LivenessChecker, LivenessCode, LivenessConfig, Pose};
use image::RgbImage;

fn models_dir() -> PathBuf {
    std::env::var_os("FACECORE_MODELS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"),
        PathBuf::from,
    )
}

fn read_model(file: &str) -> Vec<u8> {
    let path = models_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `cargo xtask fetch-models` first",
            path.display()
        )
    })
}

fn checker() -> &'static LivenessChecker {
    static C: OnceLock<LivenessChecker> = OnceLock::new();
    C.get_or_init(|| {
        LivenessChecker::from_bytes(
            &read_model("fr_liveness.onnx"),
            &read_model("fr_eye.onnx"),
            LivenessConfig::default(),
        )
        .unwrap()
    })
}

fn detector() -> &'static Detector {
    static D: OnceLock<Detector> = OnceLock::new();
    D.get_or_init(|| {
        Detector::from_bytes(
            &read_model("fr_detect.onnx"),
            &read_model("fr_landmark.onnx"),
            DetectorConfig::default(),
        )
        .unwrap()
    })
}

fn close(actual: &[f32], expected: &[f32], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= 1e-4,
            "{what} output {i}: got {a}, onnxruntime 1.32 gave {e}"
        );
    }
}

#[test]
fn liveness_model_matches_onnxruntime() {
    let m = checker().liveness_model();
    let ramp: Vec<f32> = (0..3 * 128 * 128).map(|i| (i % 256) as f32).collect();
    close(
        &m.run_raw(&ramp).unwrap(),
        &[-1.317_628_1, 4.858_023_6, -3.540_368_6],
        "ramp",
    );
    let ramp7: Vec<f32> = (0..3 * 128 * 128).map(|i| (i * 7 % 256) as f32).collect();
    close(
        &m.run_raw(&ramp7).unwrap(),
        &[-1.506_088_4, 4.864_441, -3.358_328_6],
        "ramp7",
    );
    assert!(m.run_raw(&ramp[..100]).is_err(), "a short input is refused");
}

#[test]
fn eye_model_matches_onnxruntime() {
    let m = checker().eye_model();
    let ramp: Vec<f32> = (0..24 * 24).map(|i| (i % 256) as f32 / 255.0).collect();
    close(&m.run_raw(&ramp).unwrap(), &[8.331_829, -8.158_773], "ramp");
    let ramp7: Vec<f32> = (0..24 * 24).map(|i| (i * 7 % 256) as f32 / 255.0).collect();
    close(
        &m.run_raw(&ramp7).unwrap(),
        &[9.391_983, -7.667_721_7],
        "ramp7",
    );
}

fn face(x: f32, y: f32, w: f32, h: f32) -> FaceObservation {
    FaceObservation {
        bbox: BBox {
            x,
            y,
            width: w,
            height: h,
        },
        confidence: 0.99,
        landmarks68: None,
    }
}

/// Every cheap check on hand-made detections, and that none of them lets
/// the costly model run.
#[test]
fn geometric_codes_fire_before_the_model() {
    let image = RgbImage::from_pixel(640, 480, image::Rgb([128, 128, 128]));
    let c = checker();
    let ok = face(280.0, 180.0, 80.0, 100.0);
    let cases = [
        (vec![], None, LivenessCode::FaceNotFound),
        (
            vec![ok, face(100.0, 100.0, 60.0, 80.0)],
            None,
            LivenessCode::TooManyFaces,
        ),
        (
            vec![face(0.0, 180.0, 80.0, 100.0)],
            None,
            LivenessCode::FaceCropped,
        ),
        (
            vec![face(280.0, 3.0, 80.0, 100.0)],
            None,
            LivenessCode::FaceCloseToBorder,
        ),
        (
            vec![face(300.0, 200.0, 20.0, 30.0)],
            None,
            LivenessCode::FaceTooSmall,
        ),
        (
            vec![face(120.0, 25.0, 400.0, 430.0)],
            None,
            LivenessCode::FaceTooClose,
        ),
        (
            vec![ok],
            Some(Pose {
                yaw: 60.0,
                pitch: 0.0,
                roll: 0.0,
            }),
            LivenessCode::FaceAngleTooLarge,
        ),
        (
            vec![ok],
            Some(Pose {
                yaw: 0.0,
                pitch: f32::NAN,
                roll: 0.0,
            }),
            LivenessCode::FaceAngleTooLarge,
        ),
    ];
    for (faces, pose, code) in cases {
        let v = c.check(&image, &faces, pose).unwrap();
        assert_eq!(v.code, Some(code), "{faces:?} {pose:?}");
        assert_eq!(v.live_probability, None, "{code}: the model must not run");
        assert!(v.timings.model.is_zero());
    }
    // A small background face does not count; a face passing every cheap
    // check reaches the model (a flat grey patch is no live face).
    let v = c
        .check(
            &image,
            &[ok, face(20.0, 20.0, 20.0, 25.0)],
            Some(Pose {
                yaw: 10.0,
                pitch: -5.0,
                roll: 3.0,
            }),
        )
        .unwrap();
    assert!(v.angle_checked && !v.eyes_checked);
    let p = v.live_probability.unwrap();
    assert_eq!(
        v.code,
        (p < c.config().min_live_probability).then_some(LivenessCode::FaceNotLive)
    );
    assert!(c.check(&RgbImage::new(0, 0), &[], None).is_err());
}

/// The pose is asked for only once the placement checks passed, and an
/// error while estimating it ends the check.
#[test]
fn the_pose_is_estimated_only_for_a_well_placed_face() {
    let image = RgbImage::from_pixel(640, 480, image::Rgb([128, 128, 128]));
    let c = checker();
    let mut asked = 0;
    let small = [face(300.0, 200.0, 20.0, 30.0)];
    let v = c
        .check_with(&image, &small, |_| {
            asked += 1;
            Ok::<_, facecore_liveness::LivenessError>(None)
        })
        .unwrap();
    assert_eq!((v.code, asked), (Some(LivenessCode::FaceTooSmall), 0));
    assert!(!v.angle_checked && v.timings.pose.is_zero());

    let ok = [face(280.0, 180.0, 80.0, 100.0)];
    let turned = Pose {
        yaw: 0.0,
        pitch: 0.0,
        roll: -40.0,
    };
    let v = c
        .check_with(&image, &ok, |f| {
            asked += 1;
            assert_eq!(f.bbox, ok[0].bbox);
            Ok::<_, facecore_liveness::LivenessError>(Some(turned))
        })
        .unwrap();
    assert_eq!((v.code, asked), (Some(LivenessCode::FaceAngleTooLarge), 1));
    assert!(v.angle_checked && v.live_probability.is_none());

    #[derive(Debug, PartialEq)]
    enum PoseFailed {
        Model,
        Check,
    }
    impl From<facecore_liveness::LivenessError> for PoseFailed {
        fn from(_: facecore_liveness::LivenessError) -> Self {
            Self::Check
        }
    }
    let failed = c.check_with(&image, &ok, |_| Err(PoseFailed::Model));
    assert_eq!(failed.unwrap_err(), PoseFailed::Model);
}

fn observe(image: &RgbImage) -> Vec<FaceObservation> {
    let boxes = detector().detect_boxes(image).unwrap();
    let mut faces: Vec<FaceObservation> = boxes.iter().map(FaceObservation::from).collect();
    if let Some(f) = faces.first_mut() {
        f.landmarks68 = Some(detector().landmarks68(image, &f.bbox).unwrap());
    }
    faces
}

fn fixture() -> RgbImage {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/astronaut.png");
    image::open(&path).unwrap().to_rgb8()
}

#[test]
fn the_astronaut_fixture_is_live_and_its_photo_of_a_photo_is_not() {
    let image = fixture();
    let v = checker().check(&image, &observe(&image), None).unwrap();
    assert!(v.eyes_checked, "{v:?}");
    let [l, r] = v.eyes_closed.unwrap();
    assert!(l < 0.5 && r < 0.5, "her eyes are open: {l} {r}");
    // onnxruntime gave 0.99977 on this crop (a Python port of the recipe).
    let p = v.live_probability.unwrap();
    assert!((p - 0.99977).abs() < 2e-3, "live probability {p}");
    assert_eq!(v.code, None, "{v:?}");
    // Held at arm's length the photo's face shrinks: start from a 2x copy
    // so it stays above the minimum face size and the model has to judge.
    let big = image::imageops::resize(&image, 1024, 1024, image::imageops::FilterType::Triangle);
    let attack = AttackKind::PhotoOfPhoto.make(&big, 1);
    let v = checker().check(&attack, &observe(&attack), None).unwrap();
    assert_eq!(v.code, Some(LivenessCode::FaceNotLive), "{v:?}");
}

fn eval_data() -> Option<PathBuf> {
    match std::env::var_os("FACECORE_EVAL_DATA") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d).join("faces-dev")),
        _ => {
            eprintln!(
                "SKIPPED: set FACECORE_EVAL_DATA to the evaluation data directory (e.g. ../shared/data)"
            );
            None
        }
    }
}

/// Every 100th photo of faces-dev (24 photos) and one attack of each kind
/// made from each. The bounds are looser than what `eval-liveness`
/// measured on the whole set (BPCER about 15 %; an attack scored below its
/// own source photo for 94 % of screens, 83 % of prints and 99 % of
/// photos of photos), so they catch a broken recipe, not noise.
#[test]
fn faces_dev_photos_pass_and_their_attacks_score_lower() {
    let Some(dir) = eval_data() else { return };
    let labels = std::fs::read_to_string(dir.join("labels.csv")).unwrap();
    let paths: Vec<&str> = labels
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .step_by(100)
        .collect();
    assert!(paths.len() >= 20, "{} photos", paths.len());
    let limits = facecore_image::Limits::default();
    let (mut live, mut checked) = (0, 0);
    let mut lower = [0usize; 3];
    let mut compared = [0usize; 3];
    let mut accepted_photo_of_photo = 0;
    for path in &paths {
        let image =
            facecore_image::decode_rgb(&std::fs::read(dir.join(path)).unwrap(), &limits).unwrap();
        let v = checker().check(&image, &observe(&image), None).unwrap();
        checked += 1;
        live += usize::from(v.is_live());
        let source = if image.width().max(image.height()) > 1024 {
            let s = 1024.0 / image.width().max(image.height()) as f32;
            image::imageops::resize(
                &image,
                (image.width() as f32 * s) as u32,
                (image.height() as f32 * s) as u32,
                image::imageops::FilterType::Triangle,
            )
        } else {
            image.clone()
        };
        for (k, kind) in AttackKind::ALL.into_iter().enumerate() {
            let attack = kind.make(&source, k as u64 + 1);
            let a = checker().check(&attack, &observe(&attack), None).unwrap();
            if kind == AttackKind::PhotoOfPhoto {
                accepted_photo_of_photo += usize::from(a.is_live());
            }
            if let (Some(pl), Some(pa)) = (v.live_probability, a.live_probability) {
                compared[k] += 1;
                lower[k] += usize::from(pa < pl);
            }
        }
    }
    eprintln!(
        "{live}/{checked} genuine passed; attacks below their source: {lower:?} of {compared:?}; \
         photos of photos accepted: {accepted_photo_of_photo}"
    );
    assert!(
        live * 10 >= checked * 7,
        "only {live} of {checked} genuine photos passed"
    );
    for (k, kind) in AttackKind::ALL.into_iter().enumerate() {
        assert!(
            compared[k] >= 15,
            "{}: {} compared",
            kind.name(),
            compared[k]
        );
        assert!(
            lower[k] * 10 >= compared[k] * 7,
            "{}: only {} of {} attacks scored below their source",
            kind.name(),
            lower[k],
            compared[k]
        );
    }
    assert!(
        accepted_photo_of_photo * 4 <= checked,
        "{accepted_photo_of_photo} photos of photos accepted"
    );
}

/// Real photos for the two codes hand-made boxes cannot show: a woman
/// looking down with her lids closed (faces-dev), and photos of two or
/// three people of similar size (`multi-face`).
#[test]
fn closed_eyes_and_several_people_in_real_photos() {
    let Some(dir) = eval_data() else { return };
    let limits = facecore_image::Limits::default();
    let load = |p: &Path| facecore_image::decode_rgb(&std::fs::read(p).unwrap(), &limits).unwrap();
    let image = load(&dir.join("images/7325/182965.jpg"));
    let v = checker().check(&image, &observe(&image), None).unwrap();
    assert_eq!(v.code, Some(LivenessCode::EyesClosed), "{v:?}");
    assert_eq!(
        v.live_probability, None,
        "closed eyes stop before the model"
    );
    let multi = dir.parent().unwrap().join("multi-face");
    for name in [
        "face_recognition__two_people.jpg",
        "face_recognition__obama_and_biden.jpg",
        "face_recognition__kit_with_rose.jpg",
    ] {
        let image = load(&multi.join(name));
        let v = checker().check(&image, &observe(&image), None).unwrap();
        assert_eq!(v.code, Some(LivenessCode::TooManyFaces), "{name}: {v:?}");
    }
}
