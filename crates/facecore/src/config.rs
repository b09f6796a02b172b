//! How an [`Engine`](crate::Engine) is built.

use std::path::PathBuf;

use crate::{DetectorConfig, ImageLimits, Manifest};

/// How to build an [`Engine`](crate::Engine).
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Directory holding the model files; default [`default_models_dir`](crate::default_models_dir).
    pub models_dir: Option<PathBuf>,
    /// Manifest to use; default: `manifest.json` in the models directory if it
    /// exists, else the manifest built into this library.
    pub manifest: Option<Manifest>,
    /// Detector tuning.
    pub detector: DetectorConfig,
    /// Decoding limits.
    pub image_limits: ImageLimits,
    /// Worker threads for the parallel stages; default: all cores.
    pub threads: Option<usize>,
    /// Face verification of low-confidence detections.
    pub quality: QualityConfig,
    /// Thresholds of the liveness check ([`Engine::liveness`](crate::Engine::liveness)).
    pub liveness: facecore_liveness::LivenessConfig,
    /// The model set to load (detector, landmarks, embedder); default
    /// [`DEFAULT_SET`](crate::manifest::DEFAULT_SET). A set whose weights are
    /// not for commercial use loads only once its terms were accepted in
    /// the models directory.
    pub model_set: Option<String>,
}

/// Verification of doubtful detections by the embedding model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityConfig {
    /// Detections with a confidence below this are verified. Default 0.99.
    pub verify_confidence_below: f32,
    /// A verified detection whose raw embedding norm is below this is not a
    /// face and is dropped; `Some(0.0)` turns verification off. Default
    /// `None`: the embedder's own measured norm, the manifest's
    /// `min_embedding_norm` of the model (1.8 for `fr_feature`: faces gave
    /// about 1.8–4.2 on our test data, a cat's face 1.44, textures 1.5–1.7),
    /// and no verification for an embedder without one (a gate measured on
    /// one model means nothing for another: `w600k_mbf`'s norms are about
    /// 20).
    pub min_embedding_norm: Option<f32>,
    /// When neither the ordinary nor the rescue passes find a verified face,
    /// look again with the photo turned by ±90° and ±45° (a face lying
    /// sideways or strongly tilted, which detectors trained on upright faces
    /// miss), and keep the turn whose best face is the most confident. Only
    /// with the norm gate on, since every face these passes find is
    /// verified. Default true.
    pub rescue_rotations: bool,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            verify_confidence_below: 0.99,
            min_embedding_norm: None,
            rescue_rotations: true,
        }
    }
}
