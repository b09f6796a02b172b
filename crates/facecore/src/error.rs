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
    /// An age, gender or pose model failed.
    #[error(transparent)]
    Attributes(#[from] facecore_attributes::AttributeError),
    /// The liveness check failed to run (a face judged not live is a
    /// verdict, not an error).
    #[error(transparent)]
    Liveness(#[from] facecore_liveness::LivenessError),
    /// An embedding is not valid input (wrong length, NaN, zero, ...).
    #[error(transparent)]
    Score(#[from] facecore_score::ScoreError),
    /// An image that had to show a face shows none (above the confidence
    /// asked for).
    #[error("no face was found in the image")]
    NoFace,
    /// An image that had to show exactly one face shows several.
    #[error("{found} faces were found in the image where exactly one was expected")]
    TooManyFaces {
        /// Faces found (above the confidence asked for).
        found: usize,
    },
    /// A service's key was presented where only account keys are taken.
    #[error(
        "this key belongs to the {kind} service '{service}', which is used through the \
         CompreFace API (/api/v1/...); this API takes account keys"
    )]
    ServiceKey {
        /// The service's name.
        service: String,
        /// Its kind (`recognition`, `detection`, `verification`).
        kind: &'static str,
    },
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
        "model files missing in {}: {}; run `{fetch}` (or set FACECORE_MODELS to a directory that has them)",
        dir.display(), missing.join(", ")
    )]
    ModelsMissing {
        /// The models directory searched.
        dir: PathBuf,
        /// File names not found.
        missing: Vec<String>,
        /// The command that fetches them.
        fetch: String,
    },
    /// A model set whose weights are not for commercial use was asked for,
    /// and its terms were not accepted in the models directory.
    #[error(
        "the model set `{set}` is licensed for non-commercial use only and its terms were not \
         accepted in {}: {terms} Read them, and if they fit your use run \
         `cargo xtask fetch-models --set {set} --accept-model-licence`",
        dir.display()
    )]
    LicenceNotAccepted {
        /// The set.
        set: String,
        /// Its terms.
        terms: String,
        /// The models directory.
        dir: PathBuf,
    },
    /// A collection's vectors come from a model this engine has not loaded,
    /// so it can be neither searched nor added to: a vector of another
    /// model would give a meaningless score.
    #[error(
        "collection `{collection}` holds embeddings of `{model}`, which this server has not \
         loaded (it has: {loaded}); start it with that model set's files in the models directory"
    )]
    ModelNotLoaded {
        /// The collection.
        collection: String,
        /// Its embedding model (`id@version`).
        model: String,
        /// The models loaded, comma-separated.
        loaded: String,
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
    /// A value of a request is out of its range, or asks for something the
    /// calibration cannot promise.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as the caller named it.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The store refused or failed an operation.
    #[error(transparent)]
    Store(#[from] facecore_store::StoreError),
    /// A credential was refused (see [`crate::keys::Keys`]).
    #[error(transparent)]
    Auth(#[from] facecore_store::AuthError),
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

/// What kind of failure an [`Error`] is: the one thing a caller (an API
/// dialect, the CLI) needs to decide how to report it. Each dialect maps
/// kinds, not variants, to its status codes, so a new variant deep in a
/// lower crate cannot silently become a server error for a client's
/// mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A value the caller gave is out of its documented range or shape (a
    /// collection id, a description, a setting).
    InvalidInput,
    /// The image is over the encoded-size or pixel limit.
    ImageTooLarge,
    /// The image bytes are empty, corrupt or in an unsupported format.
    ImageUndecodable,
    /// An embedding is malformed (wrong length, non-finite, all zeros) or of
    /// another model.
    InvalidEmbedding,
    /// No account of that name.
    AccountNotFound,
    /// No API key with that id.
    KeyNotFound,
    /// The account has no collection of that id.
    CollectionNotFound,
    /// The collection has no face of that id.
    FaceNotFound,
    /// The account already has a collection of that id.
    CollectionExists,
    /// The collection has no person of that id.
    PersonNotFound,
    /// Another person of the collection has that name.
    PersonExists,
    /// A key of the wrong type: a service key where an account key is
    /// needed, or the other way round.
    WrongKeyType,
    /// No service of that id or name.
    ServiceNotFound,
    /// An image that had to show a face shows none.
    NoFace,
    /// An image that had to show exactly one face shows several.
    TooManyFaces,
    /// The presented API key is unknown or revoked.
    InvalidKey,
    /// The credential is valid but its account is disabled, deleted or gone.
    AccountForbidden,
    /// Two embeddings (or an embedding and a collection) of different
    /// models: no score between them means anything.
    ModelMismatch,
    /// The resource was made with a model this server has not loaded.
    ModelNotLoaded,
    /// Not the caller's fault: models, storage, configuration, a bug.
    Internal,
}

impl Error {
    /// The kind of this error (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Image(e) => image_kind(e),
            Self::Score(_) => ErrorKind::InvalidEmbedding,
            Self::ModelMismatch { .. } => ErrorKind::ModelMismatch,
            Self::NoFace => ErrorKind::NoFace,
            Self::Invalid { .. } => ErrorKind::InvalidInput,
            Self::ServiceKey { .. } => ErrorKind::WrongKeyType,
            Self::TooManyFaces { .. } => ErrorKind::TooManyFaces,
            Self::Store(e) => store_kind(e),
            Self::Auth(e) => auth_kind(e),
            Self::Detect(e) => detect_kind(e),
            // The aligner and the embedder run on a decoded image with points
            // our own landmark model produced and crops our aligner made:
            // whatever kind they fail with, the models or this code are at
            // fault, not the request.
            Self::Align(e) => match e.kind() {
                facecore_align::ErrorKind::Landmarks
                | facecore_align::ErrorKind::Template
                | facecore_align::ErrorKind::OutputTooLarge => ErrorKind::Internal,
                _ => ErrorKind::Internal,
            },
            Self::Embed(e) => match e.kind() {
                facecore_embed::ErrorKind::Model
                | facecore_embed::ErrorKind::WrongCropSize
                | facecore_embed::ErrorKind::Degenerate => ErrorKind::Internal,
                _ => ErrorKind::Internal,
            },
            // The attribute models run on faces our detector found: a crop
            // they cannot make or a model failure is ours, not the caller's.
            Self::Attributes(e) => match e.kind() {
                facecore_attributes::ErrorKind::Model | facecore_attributes::ErrorKind::Face => {
                    ErrorKind::Internal
                }
                _ => ErrorKind::Internal,
            },
            Self::Liveness(e) => match e.kind() {
                facecore_liveness::ErrorKind::EmptyImage => ErrorKind::ImageUndecodable,
                facecore_liveness::ErrorKind::Model | facecore_liveness::ErrorKind::Config => {
                    ErrorKind::Internal
                }
                _ => ErrorKind::Internal,
            },
            Self::ModelNotLoaded { .. } => ErrorKind::ModelNotLoaded,
            Self::ModelsMissing { .. }
            | Self::LicenceNotAccepted { .. }
            | Self::ModelHash { .. }
            | Self::Manifest(_)
            | Self::Io { .. }
            | Self::Config(_) => ErrorKind::Internal,
        }
    }
}

fn detect_kind(e: &facecore_detect::DetectError) -> ErrorKind {
    match e.kind() {
        // A decoded image of zero pixels cannot be reached through decode
        // (it refuses zero sizes), but a library caller can pass one.
        facecore_detect::ErrorKind::EmptyImage => ErrorKind::ImageUndecodable,
        facecore_detect::ErrorKind::Model | facecore_detect::ErrorKind::Config => {
            ErrorKind::Internal
        }
        _ => ErrorKind::Internal,
    }
}

fn image_kind(e: &facecore_image::ImageError) -> ErrorKind {
    match e.kind() {
        facecore_image::ErrorKind::TooLarge => ErrorKind::ImageTooLarge,
        facecore_image::ErrorKind::Internal => ErrorKind::Internal,
        _ => ErrorKind::ImageUndecodable,
    }
}

fn store_kind(e: &facecore_store::StoreError) -> ErrorKind {
    use facecore_store::ErrorKind as S;
    match e.kind() {
        S::Invalid => ErrorKind::InvalidInput,
        S::AccountNotFound => ErrorKind::AccountNotFound,
        S::KeyNotFound => ErrorKind::KeyNotFound,
        S::CollectionNotFound => ErrorKind::CollectionNotFound,
        S::FaceNotFound => ErrorKind::FaceNotFound,
        S::CollectionExists => ErrorKind::CollectionExists,
        S::PersonNotFound => ErrorKind::PersonNotFound,
        S::PersonExists => ErrorKind::PersonExists,
        S::ServiceNotFound => ErrorKind::ServiceNotFound,
        S::AccountDeleted => ErrorKind::AccountForbidden,
        _ => ErrorKind::Internal,
    }
}

fn auth_kind(e: &facecore_store::AuthError) -> ErrorKind {
    match e {
        facecore_store::AuthError::InvalidKey => ErrorKind::InvalidKey,
        facecore_store::AuthError::AccountDisabled(_)
        | facecore_store::AuthError::AccountNotFound(_) => ErrorKind::AccountForbidden,
        facecore_store::AuthError::Store(e) => store_kind(e),
    }
}
