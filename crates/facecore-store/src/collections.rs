//! Collections and their faces, per account.
//!
//! Keys are `account \0 collection` and `account \0 collection \0 face`, so one
//! account's collections, and one collection's faces, are a key range. Every
//! face write checks, in the same transaction, that its collection still
//! exists with the same incarnation: a face can never outlive (or leak into a
//! re-created) collection.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError, random_base32, storage, time};

pub(crate) const COLLECTIONS: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("collections");
pub(crate) const FACES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("faces");
/// `account \0 collection \0 source` -> face id: which file a face came from,
/// so that re-running an import does not store the same file twice.
pub(crate) const SOURCES: TableDefinition<'_, &str, &str> = TableDefinition::new("face_sources");

/// Longest collection id, in characters.
pub const MAX_COLLECTION_ID_LEN: usize = 512;
/// Longest collection description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Prefix of face ids.
pub const FACE_ID_PREFIX: &str = "face_";

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
    /// Random id of this incarnation: a collection deleted and created again
    /// under the same id is a different collection.
    pub incarnation: String,
}

/// A face to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFace {
    /// Id of the model that produced the embedding.
    pub model: String,
    /// The embedding (stored as given).
    pub embedding: Vec<f32>,
    /// Bounding box in the source image: x, y, width, height.
    pub bounding_box: [u32; 4],
    /// Detection confidence.
    pub confidence: f32,
    /// Where the face came from (e.g. the SHA-256 of an imported file); a
    /// collection stores at most one face per source.
    pub source: Option<String>,
}

/// A stored face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFace {
    /// Opaque unique id, `face_` + 20 base32 characters.
    pub face_id: String,
    /// Id of the model that produced the embedding.
    pub model: String,
    /// Bounding box in the source image: x, y, width, height.
    pub bounding_box: [u32; 4],
    /// Detection confidence.
    pub confidence: f32,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Where the face came from, if the writer said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The embedding.
    #[serde(skip)]
    pub embedding: Vec<f32>,
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

/// Face values: a little-endian u32 length, the JSON metadata, then the
/// embedding as little-endian f32s.
fn encode_face(face: &StoredFace) -> Result<Vec<u8>, StoreError> {
    let meta = serde_json::to_vec(face).map_err(storage)?;
    let len = u32::try_from(meta.len()).map_err(storage)?;
    let mut out = Vec::with_capacity(4 + meta.len() + 4 * face.embedding.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&meta);
    for v in &face.embedding {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// A face value split into its JSON metadata and its embedding bytes.
pub(crate) fn split_face(bytes: &[u8]) -> Result<(&[u8], &[u8]), StoreError> {
    let corrupt = |message: &str| StoreError::Corrupt {
        table: "faces",
        message: message.to_string(),
    };
    let len = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| corrupt("short record"))? as usize;
    let meta = bytes
        .get(4..4 + len)
        .ok_or_else(|| corrupt("short metadata"))?;
    let rest = &bytes[4 + len..];
    if !rest.len().is_multiple_of(4) {
        return Err(corrupt("embedding is not a whole number of f32s"));
    }
    Ok((meta, rest))
}

/// Appends the little-endian `f32`s of `bytes` (a whole number of them,
/// checked by [`split_face`]) to `out`.
pub(crate) fn extend_f32s(bytes: &[u8], out: &mut Vec<f32>) {
    out.extend(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
}

/// The embedding of a face value alone, without parsing its metadata.
fn decode_embedding(bytes: &[u8]) -> Result<Vec<f32>, StoreError> {
    let (_, rest) = split_face(bytes)?;
    let mut embedding = Vec::with_capacity(rest.len() / 4);
    extend_f32s(rest, &mut embedding);
    Ok(embedding)
}

fn decode_face(bytes: &[u8]) -> Result<StoredFace, StoreError> {
    let (meta, rest) = split_face(bytes)?;
    let mut face: StoredFace = crate::decode("faces", meta)?;
    extend_f32s(rest, &mut face.embedding);
    Ok(face)
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

fn write_collection(
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
        validate_collection_id(id)?;
        validate_description(description)?;
        let now = time::now_unix();
        let collection = Collection {
            collection_id: id.to_string(),
            description: description.map(str::to_string),
            created_at: now,
            updated_at: now,
            face_count: 0,
            incarnation: random_base32(16)?,
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

    /// Sets the description (`None` clears it);
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
            collection.description = description.map(str::to_string);
            collection.updated_at = time::now_unix();
            write_collection(&mut table, account, &collection)?;
            collection
        };
        self.commit(tx)?;
        Ok(collection)
    }

    /// Deletes a collection and all its faces in one transaction. Returns
    /// whether it existed.
    pub fn delete_collection(&self, account: &str, id: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(storage)?;
        let existed = {
            let mut collections = tx.open_table(COLLECTIONS).map_err(storage)?;
            let existed = collections
                .remove(collection_key(account, id).as_str())
                .map_err(storage)?
                .is_some();
            let mut faces = tx.open_table(FACES).map_err(storage)?;
            let prefix = face_prefix(account, id);
            remove_prefix(&mut faces, &prefix)?;
            let mut sources = tx.open_table(SOURCES).map_err(storage)?;
            remove_prefix(&mut sources, &prefix)?;
            let mut models = tx.open_table(crate::load::INDEX_MODELS).map_err(storage)?;
            models
                .remove(collection_key(account, id).as_str())
                .map_err(storage)?;
            existed
        };
        self.commit(tx)?;
        Ok(existed)
    }

    /// Stores a face in a collection, committed before returning. Fails with
    /// [`StoreError::CollectionNotFound`] when the collection does not exist,
    /// or no longer is the `incarnation` the caller looked at. When the face
    /// has a `source` the collection already holds a face of, nothing is
    /// written and that face's id is returned in the result (with the
    /// embedding given).
    pub fn insert_face(
        &self,
        account: &str,
        id: &str,
        incarnation: Option<&str>,
        face: NewFace,
    ) -> Result<StoredFace, StoreError> {
        self.insert_faces(account, id, incarnation, vec![face])?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Storage("no face was stored".into()))
    }

    /// Stores several faces in one transaction (one durable commit), with the
    /// same checks as [`Store::insert_face`]; returns them in order.
    pub fn insert_faces(
        &self,
        account: &str,
        id: &str,
        incarnation: Option<&str>,
        faces: Vec<NewFace>,
    ) -> Result<Vec<StoredFace>, StoreError> {
        let prefix = face_prefix(account, id);
        let tx = self.db.begin_write().map_err(storage)?;
        let mut out = Vec::with_capacity(faces.len());
        {
            let mut collections = tx.open_table(COLLECTIONS).map_err(storage)?;
            let mut collection = read_collection(&collections, &collection_key(account, id))?
                .filter(|c| incarnation.is_none_or(|i| i == c.incarnation))
                .ok_or_else(|| StoreError::CollectionNotFound(id.to_string()))?;
            let mut table = tx.open_table(FACES).map_err(storage)?;
            let mut sources = tx.open_table(SOURCES).map_err(storage)?;
            for face in faces {
                let mut stored = StoredFace {
                    face_id: format!("{FACE_ID_PREFIX}{}", random_base32(20)?),
                    model: face.model,
                    bounding_box: face.bounding_box,
                    confidence: face.confidence,
                    created_at: time::now_unix(),
                    source: face.source,
                    embedding: face.embedding,
                };
                if let Some(source) = &stored.source {
                    let key = format!("{prefix}{source}");
                    let existing = sources
                        .get(key.as_str())
                        .map_err(storage)?
                        .map(|v| v.value().to_string());
                    if let Some(face_id) = existing {
                        stored.face_id = face_id;
                        out.push(stored);
                        continue;
                    }
                    sources
                        .insert(key.as_str(), stored.face_id.as_str())
                        .map_err(storage)?;
                }
                let key = format!("{prefix}{}", stored.face_id);
                table
                    .insert(key.as_str(), encode_face(&stored)?.as_slice())
                    .map_err(storage)?;
                collection.face_count += 1;
                out.push(stored);
            }
            write_collection(&mut collections, account, &collection)?;
        }
        self.commit(tx)?;
        Ok(out)
    }

    /// Deletes one face; [`StoreError::CollectionNotFound`] or
    /// [`StoreError::FaceNotFound`] when either is missing.
    pub fn delete_face(&self, account: &str, id: &str, face_id: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(storage)?;
        {
            let mut collections = tx.open_table(COLLECTIONS).map_err(storage)?;
            let mut collection = read_collection(&collections, &collection_key(account, id))?
                .ok_or_else(|| StoreError::CollectionNotFound(id.to_string()))?;
            let mut faces = tx.open_table(FACES).map_err(storage)?;
            let key = format!("{}{face_id}", face_prefix(account, id));
            let source = match faces.remove(key.as_str()).map_err(storage)? {
                Some(old) => decode_face(old.value())?.source,
                None => return Err(StoreError::FaceNotFound(face_id.to_string())),
            };
            if let Some(source) = source {
                let mut sources = tx.open_table(SOURCES).map_err(storage)?;
                let key = format!("{}{source}", face_prefix(account, id));
                sources.remove(key.as_str()).map_err(storage)?;
            }
            collection.face_count = collection.face_count.saturating_sub(1);
            write_collection(&mut collections, account, &collection)?;
        }
        self.commit(tx)?;
        Ok(())
    }

    /// The id of the face stored from `source` in the collection, if any.
    pub fn face_by_source(
        &self,
        account: &str,
        id: &str,
        source: &str,
    ) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let sources = tx.open_table(SOURCES).map_err(storage)?;
        let key = format!("{}{source}", face_prefix(account, id));
        Ok(sources
            .get(key.as_str())
            .map_err(storage)?
            .map(|v| v.value().to_string()))
    }

    /// The stored embeddings of `face_ids` in one collection, read in one
    /// snapshot, in order (`None` for a face that is not there).
    pub fn face_embeddings(
        &self,
        account: &str,
        id: &str,
        face_ids: &[&str],
    ) -> Result<Vec<Option<Vec<f32>>>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let faces = tx.open_table(FACES).map_err(storage)?;
        let prefix = face_prefix(account, id);
        let mut key = String::with_capacity(prefix.len() + 32);
        face_ids
            .iter()
            .map(|face_id| {
                key.clear();
                key.push_str(&prefix);
                key.push_str(face_id);
                match faces.get(key.as_str()).map_err(storage)? {
                    Some(value) => decode_embedding(value.value()).map(Some),
                    None => Ok(None),
                }
            })
            .collect()
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
