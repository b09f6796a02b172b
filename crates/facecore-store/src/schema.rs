//! The data file's layout version, recorded in the file, so that a build
//! can tell a file it knows (and bring an older one up to date on open)
//! from one written by a newer facecore, which it refuses rather than
//! misread.
//!
//! Files written before the version was recorded (up to commit 714ad45)
//! have no `meta` table; their layout is version 1.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use crate::{StoreError, storage};

/// Small facts about the file itself.
pub(crate) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

const VERSION_KEY: &str = "schema_version";

/// The layout this build reads and writes.
pub const SCHEMA_VERSION: u64 = 1;

/// A step from version `n` to `n + 1`, run inside the opening transaction:
/// `MIGRATIONS[n - 1]` upgrades version `n`. A layout change adds a step
/// here and bumps [`SCHEMA_VERSION`], with a test that opens a file of the
/// previous version.
type Migration = fn(&WriteTransaction) -> Result<(), StoreError>;

const MIGRATIONS: &[Migration] = &[];

/// Reads the file's version (1 when it has none), refuses a newer one,
/// runs the steps from it to [`SCHEMA_VERSION`] and records the result.
/// Returns the version the file had.
pub(crate) fn upgrade(tx: &WriteTransaction, path: &std::path::Path) -> Result<u64, StoreError> {
    const _: () = assert!(MIGRATIONS.len() as u64 == SCHEMA_VERSION - 1);
    let mut meta = tx.open_table(META).map_err(storage)?;
    let found = meta
        .get(VERSION_KEY)
        .map_err(storage)?
        .map_or(1, |v| v.value());
    if found == 0 {
        return Err(StoreError::Corrupt {
            table: "meta",
            message: "schema_version 0 (versions start at 1)".into(),
        });
    }
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    // `found` is in 1..=SCHEMA_VERSION, so the steps from it exist.
    let done = usize::try_from(found - 1).unwrap_or(MIGRATIONS.len());
    for step in MIGRATIONS.iter().skip(done) {
        step(tx)?;
    }
    meta.insert(VERSION_KEY, SCHEMA_VERSION).map_err(storage)?;
    Ok(found)
}

/// Writes `version` as the file's layout version (tests make "newer"
/// files with it).
#[cfg(test)]
pub(crate) fn set_version(tx: &WriteTransaction, version: u64) -> Result<(), StoreError> {
    let mut meta = tx.open_table(META).map_err(storage)?;
    meta.insert(VERSION_KEY, version).map_err(storage)?;
    Ok(())
}
