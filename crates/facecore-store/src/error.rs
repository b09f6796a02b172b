//! The store's errors and their kinds.

use std::path::PathBuf;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (usually a running server) holds the data file.
    #[error(
        "the data file {path} is in use by another process (a running facecore server?); \
         manage it through that server"
    )]
    InUse {
        /// The data file.
        path: PathBuf,
    },
    /// The data file was written by a newer facecore, in a layout this build
    /// does not know; it is left untouched.
    #[error(
        "the data file {path} has layout version {found}, newer than the {supported} this \
         build knows: it was written by a newer facecore; run that version (or restore a \
         backup made before the upgrade)"
    )]
    NewerSchema {
        /// The data file.
        path: PathBuf,
        /// Its layout version.
        found: u64,
        /// The newest this build reads.
        supported: u64,
    },
    /// The data file could not be created or opened.
    #[error("cannot open the data file {path}: {message}")]
    Open {
        /// The data file.
        path: PathBuf,
        /// What redb or the file system said.
        message: String,
    },
    /// A redb transaction, table or commit failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// A stored record could not be read back.
    #[error("corrupt record in table {table}: {message}")]
    Corrupt {
        /// The table name.
        table: &'static str,
        /// The decoding error.
        message: String,
    },
    /// An argument broke a documented rule (names, lengths).
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The offending argument.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The named account does not exist.
    #[error("account '{0}' does not exist")]
    AccountNotFound(String),
    /// The account name belonged to a deleted account; names are never reused,
    /// so that new owners cannot inherit old keys.
    #[error("account '{0}' was deleted; account names are not reused")]
    AccountDeleted(String),
    /// The named key id does not exist.
    #[error("API key '{0}' does not exist")]
    KeyNotFound(String),
    /// The account has no collection with this id.
    #[error("collection '{0}' does not exist")]
    CollectionNotFound(String),
    /// The account already has a collection with this id.
    #[error("collection '{0}' already exists")]
    CollectionExists(String),
    /// The collection has no face with this id.
    #[error("face '{0}' does not exist in this collection")]
    FaceNotFound(String),
    /// The collection has no person with this id.
    #[error("person '{0}' does not exist in this collection")]
    PersonNotFound(String),
    /// Another person of the collection has this name.
    #[error("a person named '{0}' already exists in this collection")]
    PersonExists(String),
    /// No service has this id (or name).
    #[error("service '{0}' does not exist")]
    ServiceNotFound(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
}

/// What kind of failure a [`StoreError`] is, for callers that report
/// errors by kind (see [`StoreError::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument broke a documented rule ([`StoreError::Invalid`]).
    Invalid,
    /// [`StoreError::AccountNotFound`].
    AccountNotFound,
    /// [`StoreError::AccountDeleted`].
    AccountDeleted,
    /// [`StoreError::KeyNotFound`].
    KeyNotFound,
    /// [`StoreError::CollectionNotFound`].
    CollectionNotFound,
    /// [`StoreError::CollectionExists`].
    CollectionExists,
    /// [`StoreError::FaceNotFound`].
    FaceNotFound,
    /// [`StoreError::PersonNotFound`].
    PersonNotFound,
    /// [`StoreError::PersonExists`].
    PersonExists,
    /// [`StoreError::ServiceNotFound`].
    ServiceNotFound,
    /// The data file is held by another process ([`StoreError::InUse`]).
    InUse,
    /// The store itself failed: opening, a transaction, a corrupt record,
    /// the random number generator.
    Storage,
}

impl StoreError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } => ErrorKind::Invalid,
            Self::AccountNotFound(_) => ErrorKind::AccountNotFound,
            Self::AccountDeleted(_) => ErrorKind::AccountDeleted,
            Self::KeyNotFound(_) => ErrorKind::KeyNotFound,
            Self::CollectionNotFound(_) => ErrorKind::CollectionNotFound,
            Self::CollectionExists(_) => ErrorKind::CollectionExists,
            Self::FaceNotFound(_) => ErrorKind::FaceNotFound,
            Self::PersonNotFound(_) => ErrorKind::PersonNotFound,
            Self::PersonExists(_) => ErrorKind::PersonExists,
            Self::ServiceNotFound(_) => ErrorKind::ServiceNotFound,
            Self::InUse { .. } => ErrorKind::InUse,
            Self::NewerSchema { .. } => ErrorKind::Storage,
            Self::Open { .. } | Self::Storage(_) | Self::Corrupt { .. } | Self::Random(_) => {
                ErrorKind::Storage
            }
        }
    }
}

/// Why a presented API key was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Not a key of this store, or revoked.
    #[error("the API key is not valid")]
    InvalidKey,
    /// The key is valid but its account is disabled.
    #[error("account '{0}' is disabled")]
    AccountDisabled(String),
    /// The key is valid but its account was deleted (or never existed).
    #[error("account '{0}' does not exist")]
    AccountNotFound(String),
    /// The store itself failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
