//! The crate's error type and its kinds.

/// Errors of the liveness checker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LivenessError {
    /// A model could not be read, parsed or optimised.
    #[error("cannot load the {which} model: {detail}")]
    Model {
        /// Which model (`liveness`, `eye`).
        which: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// Running a model failed.
    #[error("{which} inference failed: {detail}")]
    Inference {
        /// Which model.
        which: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The image has no pixels.
    #[error("the image is empty")]
    EmptyImage,
    /// A threshold is out of its range.
    #[error("invalid liveness configuration: {0}")]
    Config(String),
}

/// What kind of failure a [`LivenessError`] is (see [`LivenessError::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A model could not be loaded or run: a broken model file or a bug.
    Model,
    /// The caller passed an empty image.
    EmptyImage,
    /// The caller's configuration is invalid.
    Config,
}

impl LivenessError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Model { .. } | Self::Inference { .. } => ErrorKind::Model,
            Self::EmptyImage => ErrorKind::EmptyImage,
            Self::Config(_) => ErrorKind::Config,
        }
    }
}
