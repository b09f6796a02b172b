//! The facade's liveness hook: loaded with the models when their files are
//! present, a clear error naming the fetch command when they are not.

#![allow(clippy::unwrap_used)]

use facecore::image::RgbImage;
use facecore::liveness::{LivenessCode, Pose};
use facecore::{Engine, EngineConfig, Error};

mod common;
use common::engine;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_engine_checks_liveness_when_its_models_are_present() {
    let e = engine();
    assert!(e.has_liveness());
    let v = e.liveness(&fixture("astronaut.png"), None).unwrap();
    assert_eq!(v.code, None, "{v:?}");
    // The pose model is in the default package: the angle is checked
    // with its estimate when the caller gives none.
    assert!(v.eyes_checked && v.angle_checked, "{v:?}");
    assert!(!v.timings.pose.is_zero());
    assert!(v.live_probability.unwrap() > 0.99);
    let turned = Pose {
        yaw: 50.0,
        pitch: 0.0,
        roll: 0.0,
    };
    let v = e.liveness(&fixture("astronaut.png"), Some(turned)).unwrap();
    assert_eq!(v.code, Some(LivenessCode::FaceAngleTooLarge));
    assert_eq!(
        v.live_probability, None,
        "the model must not run after a failed cheap check"
    );
    let flat = RgbImage::from_pixel(320, 240, image::Rgb([90, 100, 110]));
    let v = e.liveness_of(&flat, None).unwrap();
    assert_eq!(v.code, Some(LivenessCode::FaceNotFound));
    assert!(
        !v.angle_checked && v.timings.pose.is_zero(),
        "no pose is estimated for a face that failed a placement check"
    );
    assert!(e.liveness(b"not an image", None).is_err());
}

#[test]
fn without_the_liveness_files_the_engine_loads_and_says_what_is_missing() {
    let models = facecore::default_models_dir();
    let dir = std::env::temp_dir().join(format!("facecore-no-liveness-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["fr_detect.onnx", "fr_landmark.onnx", "fr_feature.onnx"] {
        std::fs::copy(models.join(f), dir.join(f)).unwrap();
    }
    let e = Engine::load(EngineConfig {
        models_dir: Some(dir.clone()),
        threads: Some(1),
        ..EngineConfig::default()
    })
    .unwrap();
    assert!(!e.has_liveness());
    let err = e.liveness(&fixture("astronaut.png"), None).unwrap_err();
    let text = err.to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(err, Error::ModelsMissing { .. }), "{err:?}");
    assert!(
        text.contains("fr_liveness.onnx") && text.contains("cargo xtask fetch-models"),
        "{text}"
    );
}
