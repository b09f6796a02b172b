//! The crate's error type.

/// Errors of face detection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// A model could not be read, parsed or optimised.
    #[error("cannot load the {which} model: {detail}")]
    Model {
        /// Which model ("detector" or "landmark").
        which: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// Running a model failed (this points at a bug or a broken model file).
    #[error("{which} inference failed: {detail}")]
    Inference {
        /// Which model ("detector" or "landmark").
        which: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The image has no pixels.
    #[error("the image is empty (0 pixels)")]
    EmptyImage,
    /// A configuration value is out of range.
    #[error("invalid detector configuration: {0}")]
    Config(String),
}
