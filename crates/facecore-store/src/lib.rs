//! Durable facecore state in one [redb] file: accounts and their API keys.
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

pub mod admin;
pub mod collections;
pub mod index;
pub mod ivf;
pub mod load;
pub mod time;

pub use collections::{Collection, NewFace, StoredFace};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ACCOUNTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("accounts");
const KEYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("api_keys");

/// File name of the data file inside a data directory, as the server and the
/// CLI both use it.
pub const DATA_FILE: &str = "facecore.redb";

/// Prefix of every API key this store issues.
pub const KEY_PREFIX: &str = "fc_";
/// Length of the public key id (base32 characters, 60 bits).
const KEY_ID_LEN: usize = 12;
/// Length of the secret part (base32 characters, 160 bits).
const KEY_SECRET_LEN: usize = 32;
/// Longest account name accepted.
pub const MAX_ACCOUNT_NAME_LEN: usize = 64;
/// Longest key label accepted.
pub const MAX_KEY_LABEL_LEN: usize = 128;

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
            Self::InUse { .. } => ErrorKind::InUse,
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

/// An account: the owner of keys (and, later, collections).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Unique name, 1..=64 of `A-Z a-z 0-9 . _ -`.
    pub name: String,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// A disabled account's keys are refused with "forbidden".
    pub disabled: bool,
    /// Set when the account was deleted (kept as a tombstone).
    pub deleted_at: Option<u64>,
}

impl Account {
    /// True when the account may be used: not disabled, not deleted.
    pub fn is_active(&self) -> bool {
        !self.disabled && self.deleted_at.is_none()
    }
}

/// Public facts about an API key (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// Public id, the part after `fc_`.
    pub id: String,
    /// The owning account.
    pub account: String,
    /// Free-form label given at creation.
    pub label: Option<String>,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Revocation time, Unix seconds; a revoked key never works again.
    pub revoked_at: Option<u64>,
}

/// A freshly created key: the only moment its secret is known.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewKey {
    /// The key's public facts.
    pub info: KeyInfo,
    /// The full key to hand to the client, `fc_<id>_<secret>`.
    pub secret: String,
}

#[derive(Serialize, Deserialize)]
struct KeyRecord {
    info: KeyInfo,
    /// Hex SHA-256 of the secret part.
    secret_sha256: String,
}

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
    /// Opens the data file, creating it (and its tables) when missing.
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
        tx.open_table(ACCOUNTS).map_err(storage)?;
        tx.open_table(KEYS).map_err(storage)?;
        tx.open_table(collections::COLLECTIONS).map_err(storage)?;
        tx.open_table(collections::FACES).map_err(storage)?;
        tx.open_table(collections::SOURCES).map_err(storage)?;
        tx.open_table(load::INDEX_MODELS).map_err(storage)?;
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

    /// Creates an account. Fails when the name is taken or was ever deleted.
    pub fn create_account(&self, name: &str) -> Result<Account, StoreError> {
        validate_account_name(name)?;
        let tx = self.db.begin_write().map_err(storage)?;
        let account = {
            let mut table = tx.open_table(ACCOUNTS).map_err(storage)?;
            if let Some(existing) = read_account(&table, name)? {
                return Err(if existing.deleted_at.is_some() {
                    StoreError::AccountDeleted(name.to_string())
                } else {
                    StoreError::Invalid {
                        field: "account",
                        message: format!("account '{name}' already exists"),
                    }
                });
            }
            let account = Account {
                name: name.to_string(),
                created_at: time::now_unix(),
                disabled: false,
                deleted_at: None,
            };
            write_account(&mut table, &account)?;
            account
        };
        self.commit(tx)?;
        Ok(account)
    }

    /// The named account, deleted ones included (as tombstones).
    pub fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let table = tx.open_table(ACCOUNTS).map_err(storage)?;
        read_account(&table, name)
    }

    /// Every account, ordered by name, deleted ones included.
    pub fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let table = tx.open_table(ACCOUNTS).map_err(storage)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage)? {
            let (_, value) = entry.map_err(storage)?;
            out.push(decode("accounts", value.value())?);
        }
        Ok(out)
    }

    /// Disables or re-enables an account; its keys are refused while disabled.
    pub fn set_account_disabled(&self, name: &str, disabled: bool) -> Result<Account, StoreError> {
        self.update_account(name, |account| account.disabled = disabled)
    }

    /// Deletes an account: its name stays as a tombstone (never reused), its
    /// keys are refused with "forbidden" from the next request on, and its
    /// collections and faces are deleted in the same transaction.
    pub fn delete_account(&self, name: &str) -> Result<Account, StoreError> {
        let tx = self.db.begin_write().map_err(storage)?;
        let account = {
            let mut accounts = tx.open_table(ACCOUNTS).map_err(storage)?;
            let mut account = read_account(&accounts, name)?
                .ok_or_else(|| StoreError::AccountNotFound(name.to_string()))?;
            if account.deleted_at.is_none() {
                account.deleted_at = Some(time::now_unix());
            }
            write_account(&mut accounts, &account)?;
            let prefix = format!("{name}\0");
            for table in [
                collections::COLLECTIONS,
                collections::FACES,
                load::INDEX_MODELS,
            ] {
                collections::remove_prefix(&mut tx.open_table(table).map_err(storage)?, &prefix)?;
            }
            collections::remove_prefix(
                &mut tx.open_table(collections::SOURCES).map_err(storage)?,
                &prefix,
            )?;
            account
        };
        self.commit(tx)?;
        Ok(account)
    }

    fn update_account(
        &self,
        name: &str,
        change: impl FnOnce(&mut Account),
    ) -> Result<Account, StoreError> {
        let tx = self.db.begin_write().map_err(storage)?;
        let account = {
            let mut table = tx.open_table(ACCOUNTS).map_err(storage)?;
            let mut account = read_account(&table, name)?
                .ok_or_else(|| StoreError::AccountNotFound(name.to_string()))?;
            if account.deleted_at.is_some() {
                return Err(StoreError::AccountDeleted(name.to_string()));
            }
            change(&mut account);
            write_account(&mut table, &account)?;
            account
        };
        self.commit(tx)?;
        Ok(account)
    }

    /// Issues a new key for `account`, creating the account when it does not
    /// exist yet. The returned secret is not stored and cannot be shown again.
    pub fn create_key(&self, account: &str, label: Option<&str>) -> Result<NewKey, StoreError> {
        validate_account_name(account)?;
        if let Some(label) = label
            && (label.chars().count() > MAX_KEY_LABEL_LEN || label.chars().any(char::is_control))
        {
            return Err(StoreError::Invalid {
                field: "label",
                message: format!("at most {MAX_KEY_LABEL_LEN} characters, no control characters"),
            });
        }
        let id = random_base32(KEY_ID_LEN)?;
        let secret = random_base32(KEY_SECRET_LEN)?;
        let info = KeyInfo {
            id: id.clone(),
            account: account.to_string(),
            label: label.map(str::to_string),
            created_at: time::now_unix(),
            revoked_at: None,
        };
        let record = KeyRecord {
            info: info.clone(),
            secret_sha256: sha256_hex(secret.as_bytes()),
        };
        let tx = self.db.begin_write().map_err(storage)?;
        {
            let mut accounts = tx.open_table(ACCOUNTS).map_err(storage)?;
            match read_account(&accounts, account)? {
                Some(existing) if existing.deleted_at.is_some() => {
                    return Err(StoreError::AccountDeleted(account.to_string()));
                }
                Some(_) => {}
                None => write_account(
                    &mut accounts,
                    &Account {
                        name: account.to_string(),
                        created_at: info.created_at,
                        disabled: false,
                        deleted_at: None,
                    },
                )?,
            }
            let mut keys = tx.open_table(KEYS).map_err(storage)?;
            let bytes = serde_json::to_vec(&record).map_err(storage)?;
            keys.insert(id.as_str(), bytes.as_slice())
                .map_err(storage)?;
        }
        self.commit(tx)?;
        Ok(NewKey {
            info,
            secret: format!("{KEY_PREFIX}{id}_{secret}"),
        })
    }

    /// Keys, ordered by id, optionally only those of one account; revoked keys
    /// are included (with `revoked_at`).
    pub fn list_keys(&self, account: Option<&str>) -> Result<Vec<KeyInfo>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let table = tx.open_table(KEYS).map_err(storage)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage)? {
            let (_, value) = entry.map_err(storage)?;
            let record: KeyRecord = decode("api_keys", value.value())?;
            if account.is_none_or(|a| a == record.info.account) {
                out.push(record.info);
            }
        }
        Ok(out)
    }

    /// Number of keys that are not revoked.
    pub fn active_key_count(&self) -> Result<usize, StoreError> {
        Ok(self
            .list_keys(None)?
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .count())
    }

    /// Revokes a key by id (the part after `fc_`, or the whole key). Revoking
    /// twice is not an error; the first revocation time is kept.
    pub fn revoke_key(&self, id_or_key: &str) -> Result<KeyInfo, StoreError> {
        let id = parse_key(id_or_key).map_or(id_or_key, |(id, _)| id);
        let tx = self.db.begin_write().map_err(storage)?;
        let info = {
            let mut table = tx.open_table(KEYS).map_err(storage)?;
            let mut record: KeyRecord = match table.get(id).map_err(storage)? {
                Some(value) => decode("api_keys", value.value())?,
                None => return Err(StoreError::KeyNotFound(id.to_string())),
            };
            if record.info.revoked_at.is_none() {
                record.info.revoked_at = Some(time::now_unix());
            }
            let bytes = serde_json::to_vec(&record).map_err(storage)?;
            table.insert(id, bytes.as_slice()).map_err(storage)?;
            record.info
        };
        self.commit(tx)?;
        Ok(info)
    }

    /// Checks a presented key and returns its account. The secret's hash is
    /// compared in constant time; an unknown id costs the same hash and
    /// comparison as a known one.
    pub fn authenticate(&self, presented: &str) -> Result<Account, AuthError> {
        let Some((id, secret)) = parse_key(presented) else {
            return Err(AuthError::InvalidKey);
        };
        let presented_hash = sha256_hex(secret.as_bytes());
        let tx = self.db.begin_read().map_err(storage)?;
        let keys = tx.open_table(KEYS).map_err(storage)?;
        let record: Option<KeyRecord> = match keys.get(id).map_err(storage)? {
            Some(value) => Some(decode("api_keys", value.value())?),
            None => None,
        };
        let expected = record
            .as_ref()
            .map_or_else(|| "0".repeat(64), |r| r.secret_sha256.clone());
        let equal: bool = presented_hash.as_bytes().ct_eq(expected.as_bytes()).into();
        let record = match record {
            Some(r) if equal && r.info.revoked_at.is_none() => r,
            _ => return Err(AuthError::InvalidKey),
        };
        let accounts = tx.open_table(ACCOUNTS).map_err(storage)?;
        match read_account(&accounts, &record.info.account)? {
            Some(account) if account.deleted_at.is_some() => {
                Err(AuthError::AccountNotFound(account.name))
            }
            Some(account) if account.disabled => Err(AuthError::AccountDisabled(account.name)),
            Some(account) => Ok(account),
            None => Err(AuthError::AccountNotFound(record.info.account)),
        }
    }
}

/// Splits `fc_<id>_<secret>` into id and secret, checking lengths and alphabet.
fn parse_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let ok = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| BASE32.contains(&b));
    (ok(id, KEY_ID_LEN) && ok(secret, KEY_SECRET_LEN)).then_some((id, secret))
}

/// Checks an account name: 1..=64 of `A-Z a-z 0-9 . _ -`.
pub fn validate_account_name(name: &str) -> Result<(), StoreError> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if name.is_empty() || name.len() > MAX_ACCOUNT_NAME_LEN || !valid_chars {
        return Err(StoreError::Invalid {
            field: "account",
            message: format!(
                "'{}' is not a valid account name: use 1 to {MAX_ACCOUNT_NAME_LEN} of A-Z a-z 0-9 . _ -",
                name.escape_debug()
            ),
        });
    }
    Ok(())
}

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// `len` characters of lowercase base32, 5 random bits each.
pub fn random_base32(len: usize) -> Result<String, StoreError> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(bytes
        .iter()
        .map(|b| char::from(BASE32[usize::from(b & 31)]))
        .collect())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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

fn read_account(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
) -> Result<Option<Account>, StoreError> {
    match table.get(name).map_err(storage)? {
        Some(value) => Ok(Some(decode("accounts", value.value())?)),
        None => Ok(None),
    }
}

fn write_account(
    table: &mut redb::Table<'_, &'static str, &'static [u8]>,
    account: &Account,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(account).map_err(storage)?;
    table
        .insert(account.name.as_str(), bytes.as_slice())
        .map_err(storage)?;
    Ok(())
}

#[cfg(test)]
mod tests;
