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

/// What kind of failure a [`DetectError`] is (see [`DetectError::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The image has no pixels: the caller's input.
    EmptyImage,
    /// A model could not be loaded or run: a broken model file or a bug.
    Model,
    /// A detector setting is out of range: the configuration.
    Config,
}

impl DetectError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::EmptyImage => ErrorKind::EmptyImage,
            Self::Model { .. } | Self::Inference { .. } => ErrorKind::Model,
            Self::Config(_) => ErrorKind::Config,
        }
    }
}
