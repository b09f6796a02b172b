//! Collections, per account: the unit of search, holding persons and faces.
//!
//! The data model, top down: an *account* (a tenant; every API key belongs
//! to one) has *collections*; a collection has *persons* ([`crate::persons`],
//! each with an optional name unique in the collection and string metadata)
//! and *faces* ([`crate::faces`]: an embedding with its model id and
//! detection box, optionally belonging to one person, with the original
//! image and a thumbnail kept apart in [`crate::media`]). Every dialect
//! maps onto it: a Face Recognition API face has no person; a CompreFace
//! subject is a named person and its examples are its faces; a Face Search
//! person is a person with metadata.
//!
//! Keys are `account \0 collection` here and `account \0 collection \0 …`
//! in every table below a collection, so one account's collections, and all
//! of one collection's rows, are a key range. Every face write checks, in
//! the same transaction, that its collection still exists with the same
//! incarnation: a face can never outlive (or leak into a re-created)
//! collection.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::faces::{FACES, FaceTables, StoredFace, decode_face};
use crate::{Store, StoreError, random_base32, storage, time};

pub(crate) const COLLECTIONS: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("collections");

/// Longest collection id, in characters.
pub const MAX_COLLECTION_ID_LEN: usize = 512;
/// Longest collection description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 1024;

/// A collection of faces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    /// Its id, unique within the account.
    pub collection_id: String,
    /// Free text.
    pub description: Option<String>,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Last change of its description, Unix seconds.
    pub updated_at: u64,
    /// Faces stored in it.
    pub face_count: u64,
    /// Persons in it (0 in files written before persons existed).
    #[serde(default)]
    pub person_count: u64,
    /// Random id of this incarnation: a collection deleted and created again
    /// under the same id is a different collection.
    pub incarnation: String,
    /// The embedding model (`id@version`) its faces are embedded with,
    /// recorded at creation. `None` in files written before collections
    /// recorded it and for collections created without one (a CompreFace
    /// service's): then its faces say ([`Store::first_face_model`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_model: Option<String>,
}

pub(crate) fn collection_key(account: &str, collection: &str) -> String {
    format!("{account}\0{collection}")
}

pub(crate) fn face_prefix(account: &str, collection: &str) -> String {
    format!("{account}\0{collection}\0")
}

/// Checks a collection id: 1..=512 characters, no control characters.
pub fn validate_collection_id(id: &str) -> Result<(), StoreError> {
    let len = id.chars().count();
    if len == 0 || len > MAX_COLLECTION_ID_LEN || id.chars().any(char::is_control) {
        return Err(StoreError::Invalid {
            field: "collectionId",
            message: format!(
                "must be 1 to {MAX_COLLECTION_ID_LEN} characters without control characters (got {len})"
            ),
        });
    }
    Ok(())
}

/// Checks a description: at most 1024 characters.
pub fn validate_description(description: Option<&str>) -> Result<(), StoreError> {
    if let Some(d) = description
        && d.chars().count() > MAX_DESCRIPTION_LEN
    {
        return Err(StoreError::Invalid {
            field: "description",
            message: format!("must be at most {MAX_DESCRIPTION_LEN} characters"),
        });
    }
    Ok(())
}

pub(crate) fn read_collection(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<Collection>, StoreError> {
    match table.get(key).map_err(storage)? {
        Some(v) => Ok(Some(crate::decode("collections", v.value())?)),
        None => Ok(None),
    }
}

pub(crate) fn write_collection(
    table: &mut redb::Table<'_, &'static str, &'static [u8]>,
    account: &str,
    collection: &Collection,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(collection).map_err(storage)?;
    table
        .insert(
            collection_key(account, &collection.collection_id).as_str(),
            bytes.as_slice(),
        )
        .map_err(storage)?;
    Ok(())
}

/// The first key after every key that starts with `prefix`. All our key
/// prefixes end with the `\0` separator, the smallest character, so that
/// bound is the prefix with its last `\0` raised to `\u{1}`.
pub(crate) fn prefix_end(prefix: &str) -> String {
    let stem = prefix.strip_suffix('\0').unwrap_or(prefix);
    format!("{stem}\u{1}")
}

/// Removes every key that starts with `prefix` (which ends with `\0`) from
/// a table keyed by strings.
pub(crate) fn remove_prefix<V: redb::Value + 'static>(
    table: &mut redb::Table<'_, &'static str, V>,
    prefix: &str,
) -> Result<(), StoreError> {
    let end = prefix_end(prefix);
    let keys: Vec<String> = table
        .range(prefix..end.as_str())
        .map_err(storage)?
        .map(|entry| entry.map(|(k, _)| k.value().to_string()).map_err(storage))
        .collect::<Result<_, _>>()?;
    for key in keys {
        table.remove(key.as_str()).map_err(storage)?;
    }
    Ok(())
}

impl Store {
    /// Creates a collection; [`StoreError::CollectionExists`] when the
    /// account already has one with this id.
    pub fn create_collection(
        &self,
        account: &str,
        id: &str,
        description: Option<&str>,
    ) -> Result<Collection, StoreError> {
        self.create_collection_for_model(account, id, description, None)
    }

    /// [`Store::create_collection`] recording the embedding model its faces
    /// will have (see [`Collection::embedding_model`]).
    pub fn create_collection_for_model(
        &self,
        account: &str,
        id: &str,
        description: Option<&str>,
        embedding_model: Option<&str>,
    ) -> Result<Collection, StoreError> {
        validate_collection_id(id)?;
        validate_description(description)?;
        let now = time::now_unix();
        let collection = Collection {
            collection_id: id.to_string(),
            description: description.map(str::to_string),
            created_at: now,
            updated_at: now,
            face_count: 0,
            person_count: 0,
            incarnation: random_base32(16)?,
            embedding_model: embedding_model.map(str::to_string),
        };
        let tx = self.db.begin_write().map_err(storage)?;
        {
            let mut table = tx.open_table(COLLECTIONS).map_err(storage)?;
            if read_collection(&table, &collection_key(account, id))?.is_some() {
                return Err(StoreError::CollectionExists(id.to_string()));
            }
            write_collection(&mut table, account, &collection)?;
        }
        self.commit(tx)?;
        Ok(collection)
    }

    /// The embedding model of the collection's first stored face (in face
    /// id order), `None` when it has no face: what a collection that did
    /// not record its model holds.
    pub fn first_face_model(&self, account: &str, id: &str) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let faces = tx.open_table(FACES).map_err(storage)?;
        let prefix = face_prefix(account, id);
        let end = prefix_end(&prefix);
        let mut range = faces
            .range(prefix.as_str()..end.as_str())
            .map_err(storage)?;
        match range.next() {
            Some(entry) => {
                let (_, value) = entry.map_err(storage)?;
                let face: StoredFace = decode_face(value.value())?;
                Ok(Some(face.model))
            }
            None => Ok(None),
        }
    }

    /// One collection of the account, if it exists.
    pub fn collection(&self, account: &str, id: &str) -> Result<Option<Collection>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let table = tx.open_table(COLLECTIONS).map_err(storage)?;
        read_collection(&table, &collection_key(account, id))
    }

    /// The account's collections, ordered by id.
    pub fn list_collections(&self, account: &str) -> Result<Vec<Collection>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let table = tx.open_table(COLLECTIONS).map_err(storage)?;
        let start = format!("{account}\0");
        let end = prefix_end(&start);
        let mut out = Vec::new();
        for entry in table.range(start.as_str()..end.as_str()).map_err(storage)? {
            let (_, value) = entry.map_err(storage)?;
            out.push(crate::decode("collections", value.value())?);
        }
        Ok(out)
    }

    /// Updates the description: `Some(text)` sets it, `Some("")` clears it,
    /// `None` leaves it as it is (only the update time moves);
    /// [`StoreError::CollectionNotFound`] when there is no such collection.
    pub fn update_collection(
        &self,
        account: &str,
        id: &str,
        description: Option<&str>,
    ) -> Result<Collection, StoreError> {
        validate_collection_id(id)?;
        validate_description(description)?;
        let tx = self.db.begin_write().map_err(storage)?;
        let collection = {
            let mut table = tx.open_table(COLLECTIONS).map_err(storage)?;
            let mut collection = read_collection(&table, &collection_key(account, id))?
                .ok_or_else(|| StoreError::CollectionNotFound(id.to_string()))?;
            if let Some(d) = description {
                collection.description = (!d.is_empty()).then(|| d.to_string());
            }
            collection.updated_at = time::now_unix();
            write_collection(&mut table, account, &collection)?;
            collection
        };
        self.commit(tx)?;
        Ok(collection)
    }

    /// Deletes a collection with all its persons, faces, images and
    /// thumbnails in one transaction. Returns whether it existed.
    pub fn delete_collection(&self, account: &str, id: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(storage)?;
        let existed = {
            let mut tables = FaceTables::open(&tx)?;
            let existed = tables
                .collections
                .remove(collection_key(account, id).as_str())
                .map_err(storage)?
                .is_some();
            tables.remove_collection_rows(&face_prefix(account, id))?;
            tables
                .models
                .remove(collection_key(account, id).as_str())
                .map_err(storage)?;
            existed
        };
        self.commit(tx)?;
        Ok(existed)
    }

    /// The collection (with its incarnation) and all its faces, read in one
    /// snapshot; `None` when it does not exist.
    pub fn collection_faces(
        &self,
        account: &str,
        id: &str,
    ) -> Result<Option<(Collection, Vec<StoredFace>)>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let collections = tx.open_table(COLLECTIONS).map_err(storage)?;
        let Some(collection) = read_collection(&collections, &collection_key(account, id))? else {
            return Ok(None);
        };
        let faces = tx.open_table(FACES).map_err(storage)?;
        let prefix = face_prefix(account, id);
        let end = prefix_end(&prefix);
        let mut out = Vec::with_capacity(usize::try_from(collection.face_count).unwrap_or(0));
        for entry in faces
            .range(prefix.as_str()..end.as_str())
            .map_err(storage)?
        {
            let (_, value) = entry.map_err(storage)?;
            out.push(decode_face(value.value())?);
        }
        Ok(Some((collection, out)))
    }
}

/// One collection's exact embeddings, read from the store when an
/// approximate index re-scores its candidates.
#[derive(Debug, Clone)]
pub struct CollectionRows {
    store: std::sync::Arc<Store>,
    account: String,
    collection: String,
}

impl CollectionRows {
    /// The rows of `account`'s collection `id` in `store`.
    pub fn new(store: std::sync::Arc<Store>, account: &str, id: &str) -> Self {
        Self {
            store,
            account: account.to_string(),
            collection: id.to_string(),
        }
    }
}

impl crate::ivf::ExactRows for CollectionRows {
    fn fetch(&self, face_ids: &[&str]) -> Result<Vec<Option<Vec<f32>>>, StoreError> {
        self.store
            .face_embeddings(&self.account, &self.collection, face_ids)
    }
}
