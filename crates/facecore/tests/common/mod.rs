//! Helpers shared by the integration tests.

use std::sync::OnceLock;

use facecore::{Engine, EngineConfig};

/// One engine per test binary, built with the default models (fetched by
/// `cargo xtask fetch-models`); a load failure names the fix.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| match Engine::load(EngineConfig::default()) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    })
}
