//! Accounts: the owners of keys and collections. A deleted account stays as
//! a tombstone so that its name is never reused.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError, collections, decode, storage, time};

pub(crate) const ACCOUNTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("accounts");

/// Longest account name accepted.
pub const MAX_ACCOUNT_NAME_LEN: usize = 64;

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

impl Store {
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
    /// collections, persons, faces, images, thumbnails and services are
    /// deleted in the same transaction.
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
            let mut tables = crate::faces::FaceTables::open(&tx)?;
            tables.remove_collection_rows(&prefix)?;
            collections::remove_prefix(&mut tables.collections, &prefix)?;
            collections::remove_prefix(&mut tables.models, &prefix)?;
            drop(tables);
            let mut services = tx.open_table(crate::services::SERVICES).map_err(storage)?;
            let owned: Vec<String> = redb::ReadableTable::iter(&services)
                .map_err(storage)?
                .filter_map(|entry| {
                    let (k, v) = entry.ok()?;
                    let service: crate::Service = decode("services", v.value()).ok()?;
                    (service.account == name).then(|| k.value().to_string())
                })
                .collect();
            for id in owned {
                services.remove(id.as_str()).map_err(storage)?;
            }
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

pub(crate) fn read_account(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
) -> Result<Option<Account>, StoreError> {
    match table.get(name).map_err(storage)? {
        Some(value) => Ok(Some(decode("accounts", value.value())?)),
        None => Ok(None),
    }
}

pub(crate) fn write_account(
    table: &mut redb::Table<'_, &'static str, &'static [u8]>,
    account: &Account,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(account).map_err(storage)?;
    table
        .insert(account.name.as_str(), bytes.as_slice())
        .map_err(storage)?;
    Ok(())
}
