//! Helpers shared by the integration tests.

use std::sync::OnceLock;

use facecore::{Engine, EngineConfig};

/// One engine per test binary, built with the default models (fetched by
/// `cargo xtask fetch-models`); a load failure names the fix.
#[allow(dead_code)] // the buffalo_s tests load their own set
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| match Engine::load(EngineConfig::default()) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    })
}

/// The ramp input of the onnxruntime reference checks (MODELS.md): element
/// i = ((i mod 255) − 127) / 128.
#[allow(dead_code)] // not every test binary checks a model against onnxruntime
pub fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i % 255) as f32 - 127.0) / 128.0).collect()
}

/// Asserts that a model output is within `tol` of onnxruntime's figure.
#[allow(dead_code)] // as `ramp`
pub fn close(actual: f32, expected: f32, tol: f32, what: &str) {
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: got {actual}, onnxruntime reference {expected} (tolerance {tol})"
    );
}
