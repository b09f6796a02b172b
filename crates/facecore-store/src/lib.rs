//! Durable facecore state in one [redb] file: accounts and their API keys,
//! and the data model every API dialect shares (see [`collections`]):
//! account → collection → person → face, with stored images and
//! thumbnails apart from the vectors.
//!
//! Every write is one redb transaction committed with the default (immediate)
//! durability before the call returns, so anything a caller acknowledges is on
//! disk. One process holds the file at a time; the server exposes the admin
//! operations over a local socket so that the CLI can manage keys while it runs.
//!
//! API keys look like `fc_<id>_<secret>`: a 12-character public id used to find
//! the record and a 32-character secret (160 random bits). Only the SHA-256 of
//! the secret is stored, and it is compared in constant time. A fast hash is
//! the right tool here because the secret is random, not a password.
//!
//! ```no_run
//! # fn main() -> Result<(), facecore_store::StoreError> {
//! let store = facecore_store::Store::open("data/facecore.redb")?;
//! let key = store.create_key("acme", Some("ci"))?;
//! println!("give this to the client once: {}", key.secret);
//! let account = store.authenticate(&key.secret).expect("fresh key is valid");
//! assert_eq!(account.name, "acme");
//! # Ok(()) }
//! ```

mod accounts;
pub mod admin;
pub mod collections;
mod error;
pub mod faces;
pub mod index;
pub mod ivf;
mod keys;
pub mod load;
pub mod media;
pub mod persons;
mod schema;
pub mod services;
pub mod time;

pub use accounts::{Account, MAX_ACCOUNT_NAME_LEN, validate_account_name};
pub use collections::Collection;
pub use error::{AuthError, ErrorKind, StoreError};
pub use faces::{FacePage, NewFace, StoredFace};
pub use keys::{Identity, KEY_PREFIX, KeyInfo, MAX_KEY_LABEL_LEN, NewKey};
pub use media::ImageBlob;
pub use persons::{NewPerson, Person, PersonChange, PersonPage, PersonRef, Removed};
pub use schema::SCHEMA_VERSION;
pub use services::{NewService, Service, ServiceKind};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;

/// File name of the data file inside a data directory, as the server and the
/// CLI both use it.
pub const DATA_FILE: &str = "facecore.redb";

/// The redb-backed store.
pub struct Store {
    db: redb::Database,
    path: PathBuf,
    /// Bumped after every committed write, so callers can cache reads (the
    /// server caches authenticated keys) and know when to drop them.
    generation: AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

pub(crate) fn storage<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Storage(e.to_string())
}

impl Store {
    /// Opens the data file, creating it (and its tables) when missing. A
    /// file of an older layout is brought up to date in the same
    /// transaction; one written by a newer facecore is refused
    /// ([`StoreError::NewerSchema`]) and left untouched.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                path: path.clone(),
                message: e.to_string(),
            })?;
        }
        let db = redb::Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse { path: path.clone() },
            other => StoreError::Open {
                path: path.clone(),
                message: other.to_string(),
            },
        })?;
        let tx = db.begin_write().map_err(storage)?;
        schema::upgrade(&tx, &path)?;
        tx.commit().map_err(storage)?;
        Ok(Self {
            db,
            path,
            generation: AtomicU64::new(0),
        })
    }

    /// The data file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A number that changes after every committed write of this store. A
    /// cached read (say, an authenticated key) is still valid while the
    /// generation is the one it was read at.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Commits `tx` and bumps the generation.
    pub(crate) fn commit(&self, tx: redb::WriteTransaction) -> Result<(), StoreError> {
        tx.commit().map_err(storage)?;
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
}

pub(crate) const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// `len` characters of lowercase base32, 5 random bits each.
pub fn random_base32(len: usize) -> Result<String, StoreError> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(bytes
        .iter()
        .map(|b| char::from(BASE32[usize::from(b & 31)]))
        .collect())
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    table: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
