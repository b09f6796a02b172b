//! The facade's error type and its kinds.

use std::path::PathBuf;

use crate::manifest;

/// Everything that can go wrong in facecore.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image could not be decoded or is over a limit.
    #[error(transparent)]
    Image(#[from] facecore_image::ImageError),
    /// Detection failed.
    #[error(transparent)]
    Detect(#[from] facecore_detect::DetectError),
    /// Alignment failed.
    #[error(transparent)]
    Align(#[from] facecore_align::AlignError),
    /// Embedding failed.
    #[error(transparent)]
    Embed(#[from] facecore_embed::EmbedError),
    /// An embedding is not valid input (wrong length, NaN, zero, ...).
    #[error(transparent)]
    Score(#[from] facecore_score::ScoreError),
    /// Two embeddings come from different models and cannot be compared.
    #[error("embeddings of different models cannot be compared: `{left}` vs `{right}`")]
    ModelMismatch {
        /// Model of the first embedding.
        left: String,
        /// Model of the second embedding.
        right: String,
    },
    /// Model files are missing from the models directory.
    #[error(
        "model files missing in {}: {}; run `{}` (or set FACECORE_MODELS to a directory that has them)",
        dir.display(), missing.join(", "), manifest::FETCH_COMMAND
    )]
    ModelsMissing {
        /// The models directory searched.
        dir: PathBuf,
        /// File names not found.
        missing: Vec<String>,
    },
    /// A model file does not have the pinned sha256.
    #[error(
        "model file {} has sha256 {actual}, expected {expected}; delete it and run `{}`",
        path.display(), manifest::FETCH_COMMAND
    )]
    ModelHash {
        /// The file.
        path: PathBuf,
        /// Pinned hash.
        expected: String,
        /// Hash found.
        actual: String,
    },
    /// The manifest is invalid.
    #[error("invalid model manifest: {0}")]
    Manifest(String),
    /// A file could not be read.
    #[error("cannot read {}: {detail}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// An invalid setting.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The store refused or failed an operation.
    #[error(transparent)]
    Store(#[from] facecore_store::StoreError),
}

impl From<facecore_store::index::IndexError> for Error {
    fn from(e: facecore_store::index::IndexError) -> Self {
        match e {
            facecore_store::index::IndexError::Score(e) => Self::Score(e),
            facecore_store::index::IndexError::Store(e) => Self::Store(e),
            other => Self::Store(facecore_store::StoreError::Storage(other.to_string())),
        }
    }
}
