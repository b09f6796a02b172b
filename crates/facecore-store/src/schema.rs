//! The data file's layout version, recorded in the file, so that a build
//! can tell a file it knows (and bring an older one up to date on open)
//! from one written by a newer facecore, which it refuses rather than
//! misread.
//!
//! Files written before the version was recorded (up to commit 714ad45)
//! have no `meta` table; their layout is version 1.
//!
//! | version | layout |
//! |---|---|
//! | 1 | accounts, keys, collections, faces, face sources, saved index models |
//! | 2 | + persons, person names, person faces, images, image refs, thumbnails, services; a face may name its person, image and thumbnail; a collection counts its persons; a key may name its service |

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use crate::{StoreError, storage};

/// Small facts about the file itself.
pub(crate) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

const VERSION_KEY: &str = "schema_version";

/// The layout this build reads and writes.
pub const SCHEMA_VERSION: u64 = 2;

/// A step from version `n` to `n + 1`, run inside the opening transaction:
/// `MIGRATIONS[n - 1]` upgrades version `n`. A layout change adds a step
/// here and bumps [`SCHEMA_VERSION`], with a test that opens a file of the
/// previous version.
type Migration = fn(&WriteTransaction) -> Result<(), StoreError>;

const MIGRATIONS: &[Migration] = &[v1_to_v2];

/// The tables of layout 1, created in a new file.
fn v1_tables(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(crate::accounts::ACCOUNTS).map_err(storage)?;
    tx.open_table(crate::keys::KEYS).map_err(storage)?;
    tx.open_table(crate::collections::COLLECTIONS)
        .map_err(storage)?;
    tx.open_table(crate::faces::FACES).map_err(storage)?;
    tx.open_table(crate::faces::SOURCES).map_err(storage)?;
    tx.open_table(crate::load::INDEX_MODELS).map_err(storage)?;
    Ok(())
}

/// Persons, stored media and services arrive. Existing records need no
/// rewrite: a face without `person_id`, `image_sha256` or `thumbnail` reads
/// as one that has none, a collection without `person_count` has no
/// persons and a key without `service` is an account key, which is exactly
/// what a layout-1 file holds. The new tables are created empty.
fn v1_to_v2(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(crate::persons::PERSONS).map_err(storage)?;
    tx.open_table(crate::persons::PERSON_NAMES)
        .map_err(storage)?;
    tx.open_table(crate::persons::PERSON_FACES)
        .map_err(storage)?;
    tx.open_table(crate::media::IMAGES).map_err(storage)?;
    tx.open_table(crate::media::IMAGE_REFS).map_err(storage)?;
    tx.open_table(crate::media::THUMBNAILS).map_err(storage)?;
    tx.open_table(crate::services::SERVICES).map_err(storage)?;
    Ok(())
}

/// Creates the tables of a new file, reads the file's version (1 when it
/// has none; a new file is version 1 until its steps ran), refuses a newer
/// one, runs the steps from it to [`SCHEMA_VERSION`] and records the
/// result. Returns the version the file had.
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
    if found == 1 {
        v1_tables(tx)?;
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
