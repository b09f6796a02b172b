//! API keys: `fc_<id>_<secret>`, stored as the SHA-256 of the secret and
//! compared in constant time.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::accounts::{ACCOUNTS, read_account, validate_account_name, write_account};
use crate::{Account, AuthError, BASE32, Store, StoreError, decode, random_base32, storage, time};

pub(crate) const KEYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("api_keys");

/// Prefix of every API key this store issues.
pub const KEY_PREFIX: &str = "fc_";
/// Length of the public key id (base32 characters, 60 bits).
pub(crate) const KEY_ID_LEN: usize = 12;
/// Length of the secret part (base32 characters, 160 bits).
pub(crate) const KEY_SECRET_LEN: usize = 32;
/// Longest key label accepted.
pub const MAX_KEY_LABEL_LEN: usize = 128;

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
    /// The service the key belongs to (`svc_…`); `None` for an account key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// Who a valid key speaks for: its account and, for a service key, the
/// service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The key's active account.
    pub account: Account,
    /// The key's service, for a service key.
    pub service: Option<crate::Service>,
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

impl Store {
    /// Issues a new key for `account`, creating the account when it does not
    /// exist yet. The returned secret is not stored and cannot be shown again.
    pub fn create_key(&self, account: &str, label: Option<&str>) -> Result<NewKey, StoreError> {
        self.insert_key(account, label, None)
    }

    /// A key of a service, labelled with the service's name.
    pub(crate) fn create_service_key(
        &self,
        account: &str,
        service_id: &str,
        name: &str,
    ) -> Result<NewKey, StoreError> {
        let label: String = name.chars().take(MAX_KEY_LABEL_LEN).collect();
        self.insert_key(account, Some(&label), Some(service_id))
    }

    fn insert_key(
        &self,
        account: &str,
        label: Option<&str>,
        service: Option<&str>,
    ) -> Result<NewKey, StoreError> {
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
            service: service.map(str::to_string),
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
        Ok(self.authenticate_identity(presented)?.account)
    }

    /// [`Store::authenticate`], with the key's service: a key whose service
    /// record is missing (its creation was cut short) is
    /// [`AuthError::InvalidKey`].
    pub fn authenticate_identity(&self, presented: &str) -> Result<Identity, AuthError> {
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
        let service = match &record.info.service {
            Some(service_id) => {
                let services = tx.open_table(crate::services::SERVICES).map_err(storage)?;
                let found = match services.get(service_id.as_str()).map_err(storage)? {
                    Some(v) => decode("services", v.value())?,
                    None => return Err(AuthError::InvalidKey),
                };
                Some(found)
            }
            None => None,
        };
        let accounts = tx.open_table(ACCOUNTS).map_err(storage)?;
        let account = match read_account(&accounts, &record.info.account)? {
            Some(account) if account.deleted_at.is_some() => {
                return Err(AuthError::AccountNotFound(account.name));
            }
            Some(account) if account.disabled => {
                return Err(AuthError::AccountDisabled(account.name));
            }
            Some(account) => account,
            None => return Err(AuthError::AccountNotFound(record.info.account)),
        };
        Ok(Identity { account, service })
    }
}

/// Splits `fc_<id>_<secret>` into id and secret, checking lengths and alphabet.
fn parse_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let ok = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| BASE32.contains(&b));
    (ok(id, KEY_ID_LEN) && ok(secret, KEY_SECRET_LEN)).then_some((id, secret))
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
