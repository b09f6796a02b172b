//! Faces: one embedding each, with its detection, optionally a person it
//! belongs to, the original image it came from and a small thumbnail.
//!
//! The `faces` table holds what search reads (`account \0 collection \0
//! face` → a short JSON header and the embedding); images and thumbnails
//! live in their own tables ([`crate::media`]) so that loading an index
//! never reads them. Every write opens all of these tables in one transaction,
//! checks that the collection still exists (with the incarnation the caller
//! saw), keeps the counts of the collection and of each person right, and
//! commits before returning.

use redb::{ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::collections::{
    COLLECTIONS, Collection, collection_key, face_prefix, prefix_end, read_collection,
    remove_prefix, write_collection,
};
use crate::media::{IMAGE_REFS, IMAGES, ImageBlob, THUMBNAILS};
use crate::persons::{PERSON_FACES, PERSON_NAMES, PERSONS, PersonRef};
use crate::{Store, StoreError, random_base32, storage, time};

pub(crate) const FACES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("faces");
/// `account \0 collection \0 source` -> face id: which file a face came from,
/// so that re-running an import does not store the same file twice.
pub(crate) const SOURCES: TableDefinition<'_, &str, &str> = TableDefinition::new("face_sources");

/// Prefix of face ids.
pub const FACE_ID_PREFIX: &str = "face_";

/// A face to store.
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// The person the face belongs to, if any.
    pub person: Option<PersonRef>,
    /// The original image, kept when the caller wants it (stored once per
    /// collection however many faces come from it).
    pub image: Option<ImageBlob>,
    /// A small image of the face (a JPEG, say), at most
    /// [`MAX_THUMBNAIL_BYTES`](crate::media::MAX_THUMBNAIL_BYTES).
    pub thumbnail: Option<Vec<u8>>,
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
    /// The person it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    /// Hex SHA-256 of the stored original image, when one is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_sha256: Option<String>,
    /// Whether a thumbnail is stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub thumbnail: bool,
    /// The embedding (empty where a listing did not read it).
    #[serde(skip)]
    pub embedding: Vec<f32>,
}

/// A page of a collection's faces.
#[derive(Debug, Clone, PartialEq)]
pub struct FacePage {
    /// The faces of the page, ordered by id, without their embeddings.
    pub faces: Vec<StoredFace>,
    /// Faces in the collection (or of the person asked for).
    pub total: u64,
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

/// A face value's metadata, without its embedding.
pub(crate) fn decode_header(bytes: &[u8]) -> Result<StoredFace, StoreError> {
    let (meta, _) = split_face(bytes)?;
    crate::decode("faces", meta)
}

pub(crate) fn decode_face(bytes: &[u8]) -> Result<StoredFace, StoreError> {
    let (meta, rest) = split_face(bytes)?;
    let mut face: StoredFace = crate::decode("faces", meta)?;
    extend_f32s(rest, &mut face.embedding);
    Ok(face)
}

/// Every table a face write touches, open in one write transaction.
pub(crate) struct FaceTables<'tx> {
    pub(crate) collections: Table<'tx, &'static str, &'static [u8]>,
    pub(crate) faces: Table<'tx, &'static str, &'static [u8]>,
    pub(crate) sources: Table<'tx, &'static str, &'static str>,
    pub(crate) persons: Table<'tx, &'static str, &'static [u8]>,
    pub(crate) names: Table<'tx, &'static str, &'static str>,
    pub(crate) members: Table<'tx, &'static str, ()>,
    pub(crate) images: Table<'tx, &'static str, &'static [u8]>,
    pub(crate) image_refs: Table<'tx, &'static str, u64>,
    pub(crate) thumbnails: Table<'tx, &'static str, &'static [u8]>,
    /// Saved index models, keyed by collection (not by prefix).
    pub(crate) models: Table<'tx, &'static str, &'static [u8]>,
}

impl<'tx> FaceTables<'tx> {
    pub(crate) fn open(tx: &'tx WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            collections: tx.open_table(COLLECTIONS).map_err(storage)?,
            faces: tx.open_table(FACES).map_err(storage)?,
            sources: tx.open_table(SOURCES).map_err(storage)?,
            persons: tx.open_table(PERSONS).map_err(storage)?,
            names: tx.open_table(PERSON_NAMES).map_err(storage)?,
            members: tx.open_table(PERSON_FACES).map_err(storage)?,
            images: tx.open_table(IMAGES).map_err(storage)?,
            image_refs: tx.open_table(IMAGE_REFS).map_err(storage)?,
            thumbnails: tx.open_table(THUMBNAILS).map_err(storage)?,
            models: tx.open_table(crate::load::INDEX_MODELS).map_err(storage)?,
        })
    }

    /// Removes every row under `prefix` (a collection's or an account's)
    /// from the tables of faces, persons and media. The collection records
    /// and their saved index models are the caller's.
    pub(crate) fn remove_collection_rows(&mut self, prefix: &str) -> Result<(), StoreError> {
        remove_prefix(&mut self.faces, prefix)?;
        remove_prefix(&mut self.sources, prefix)?;
        remove_prefix(&mut self.persons, prefix)?;
        remove_prefix(&mut self.names, prefix)?;
        remove_prefix(&mut self.members, prefix)?;
        remove_prefix(&mut self.images, prefix)?;
        remove_prefix(&mut self.image_refs, prefix)?;
        remove_prefix(&mut self.thumbnails, prefix)?;
        Ok(())
    }

    /// The ids of every face under a collection's `prefix`.
    pub(crate) fn face_ids(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let end = prefix_end(prefix);
        self.faces
            .range(prefix..end.as_str())
            .map_err(storage)?
            .map(|entry| {
                entry
                    .map(|(k, _)| k.value()[prefix.len()..].to_string())
                    .map_err(storage)
            })
            .collect()
    }

    /// Stores one face in the collection at `prefix` (counted in
    /// `collection`). A face whose source is already stored is not stored
    /// again: the result carries the existing face's id.
    pub(crate) fn store_face(
        &mut self,
        prefix: &str,
        collection: &mut Collection,
        face: NewFace,
    ) -> Result<StoredFace, StoreError> {
        let mut stored = StoredFace {
            face_id: format!("{FACE_ID_PREFIX}{}", random_base32(20)?),
            model: face.model,
            bounding_box: face.bounding_box,
            confidence: face.confidence,
            created_at: time::now_unix(),
            source: face.source,
            person_id: None,
            image_sha256: None,
            thumbnail: false,
            embedding: face.embedding,
        };
        if let Some(source) = &stored.source {
            let key = format!("{prefix}{source}");
            let existing = self
                .sources
                .get(key.as_str())
                .map_err(storage)?
                .map(|v| v.value().to_string());
            if let Some(face_id) = existing {
                stored.face_id = face_id;
                return Ok(stored);
            }
            self.sources
                .insert(key.as_str(), stored.face_id.as_str())
                .map_err(storage)?;
        }
        if let Some(person) = &face.person {
            let mut person = self.resolve_person(prefix, collection, person)?;
            person.face_count += 1;
            self.write_person(prefix, &person)?;
            self.members
                .insert(
                    format!("{prefix}{}\0{}", person.person_id, stored.face_id).as_str(),
                    (),
                )
                .map_err(storage)?;
            stored.person_id = Some(person.person_id);
        }
        if let Some(image) = &face.image {
            self.add_image_ref(prefix, image)?;
            stored.image_sha256 = Some(image.sha256().to_string());
        }
        if let Some(thumbnail) = &face.thumbnail {
            crate::media::check_thumbnail(thumbnail)?;
            self.thumbnails
                .insert(
                    format!("{prefix}{}", stored.face_id).as_str(),
                    thumbnail.as_slice(),
                )
                .map_err(storage)?;
            stored.thumbnail = true;
        }
        let key = format!("{prefix}{}", stored.face_id);
        self.faces
            .insert(key.as_str(), encode_face(&stored)?.as_slice())
            .map_err(storage)?;
        collection.face_count += 1;
        Ok(stored)
    }

    /// Removes one face with everything stored for it: its source entry,
    /// its place in its person (which is removed too when
    /// `drop_empty_person` and this was its last face), its reference to
    /// the stored image (the image goes with its last reference) and its
    /// thumbnail. Returns the face without its embedding; `None` when there
    /// is no such face.
    pub(crate) fn remove_face(
        &mut self,
        prefix: &str,
        collection: &mut Collection,
        face_id: &str,
        drop_empty_person: bool,
    ) -> Result<Option<StoredFace>, StoreError> {
        let key = format!("{prefix}{face_id}");
        let face = match self.faces.remove(key.as_str()).map_err(storage)? {
            Some(old) => decode_header(old.value())?,
            None => return Ok(None),
        };
        if let Some(source) = &face.source {
            self.sources
                .remove(format!("{prefix}{source}").as_str())
                .map_err(storage)?;
        }
        if let Some(person_id) = &face.person_id {
            self.members
                .remove(format!("{prefix}{person_id}\0{face_id}").as_str())
                .map_err(storage)?;
            if let Some(mut person) = self.read_person(prefix, person_id)? {
                person.face_count = person.face_count.saturating_sub(1);
                self.write_person(prefix, &person)?;
                if drop_empty_person {
                    self.drop_if_empty(prefix, collection, person_id)?;
                }
            }
        }
        if let Some(sha) = &face.image_sha256 {
            self.release_image_ref(prefix, sha)?;
        }
        if face.thumbnail {
            self.thumbnails.remove(key.as_str()).map_err(storage)?;
        }
        collection.face_count = collection.face_count.saturating_sub(1);
        Ok(Some(face))
    }

    /// Points a stored face at another person (membership rows are the
    /// caller's).
    pub(crate) fn reassign_face(
        &mut self,
        prefix: &str,
        face_id: &str,
        person_id: &str,
    ) -> Result<(), StoreError> {
        let key = format!("{prefix}{face_id}");
        let Some(mut face) = self
            .faces
            .get(key.as_str())
            .map_err(storage)?
            .map(|v| decode_face(v.value()))
            .transpose()?
        else {
            return Ok(());
        };
        face.person_id = Some(person_id.to_string());
        self.faces
            .insert(key.as_str(), encode_face(&face)?.as_slice())
            .map_err(storage)?;
        Ok(())
    }
}

impl Store {
    /// Runs `change` on the face tables of one collection in one write
    /// transaction, with the collection's record (checked against
    /// `incarnation` when given), writes the record back and commits.
    /// [`StoreError::CollectionNotFound`] when the collection is missing or
    /// is not that incarnation; any error aborts the whole transaction.
    pub(crate) fn write_collection_tables<T>(
        &self,
        account: &str,
        id: &str,
        incarnation: Option<&str>,
        change: impl FnOnce(&mut FaceTables<'_>, &str, &mut Collection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self.db.begin_write().map_err(storage)?;
        let out = {
            let mut tables = FaceTables::open(&tx)?;
            let mut collection =
                read_collection(&tables.collections, &collection_key(account, id))?
                    .filter(|c| incarnation.is_none_or(|i| i == c.incarnation))
                    .ok_or_else(|| StoreError::CollectionNotFound(id.to_string()))?;
            let out = change(&mut tables, &face_prefix(account, id), &mut collection)?;
            if collection.face_count == 0 {
                // Nothing is left to search: a saved index model (trained
                // on faces now deleted) goes too.
                tables
                    .models
                    .remove(collection_key(account, id).as_str())
                    .map_err(storage)?;
            }
            write_collection(&mut tables.collections, account, &collection)?;
            out
        };
        self.commit(tx)?;
        Ok(out)
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
    /// same checks as [`Store::insert_face`]; returns them in order. A face
    /// for a missing person ([`StoreError::PersonNotFound`]), an image over
    /// [`MAX_IMAGE_BYTES`](crate::media::MAX_IMAGE_BYTES) or a thumbnail
    /// over [`MAX_THUMBNAIL_BYTES`](crate::media::MAX_THUMBNAIL_BYTES) fails
    /// the whole batch.
    pub fn insert_faces(
        &self,
        account: &str,
        id: &str,
        incarnation: Option<&str>,
        faces: Vec<NewFace>,
    ) -> Result<Vec<StoredFace>, StoreError> {
        for face in &faces {
            if let Some(image) = &face.image {
                crate::media::check_image(image)?;
            }
        }
        self.write_collection_tables(account, id, incarnation, |tables, prefix, collection| {
            faces
                .into_iter()
                .map(|face| tables.store_face(prefix, collection, face))
                .collect()
        })
    }

    /// Deletes one face with its image reference and thumbnail;
    /// [`StoreError::CollectionNotFound`] or [`StoreError::FaceNotFound`]
    /// when either is missing. A person left without faces stays.
    pub fn delete_face(&self, account: &str, id: &str, face_id: &str) -> Result<(), StoreError> {
        self.write_collection_tables(account, id, None, |tables, prefix, collection| {
            tables
                .remove_face(prefix, collection, face_id, false)?
                .map(|_| ())
                .ok_or_else(|| StoreError::FaceNotFound(face_id.to_string()))
        })
    }

    /// Deletes one face of one person (its image reference and thumbnail
    /// with it); the person stays, even without faces. A face that does not
    /// exist, or belongs to another person or none, is
    /// [`StoreError::FaceNotFound`] and nothing changes; an unknown person
    /// is [`StoreError::PersonNotFound`]. The check and the delete are one
    /// transaction, so a concurrent merge cannot slip between them.
    pub fn delete_person_face(
        &self,
        account: &str,
        id: &str,
        person_id: &str,
        face_id: &str,
    ) -> Result<StoredFace, StoreError> {
        crate::persons::check_person_id(person_id)?;
        self.write_collection_tables(account, id, None, |tables, prefix, collection| {
            if tables.read_person(prefix, person_id)?.is_none() {
                return Err(StoreError::PersonNotFound(person_id.to_string()));
            }
            let owner = tables
                .faces
                .get(format!("{prefix}{face_id}").as_str())
                .map_err(storage)?
                .map(|v| decode_header(v.value()))
                .transpose()?
                .and_then(|face| face.person_id);
            if owner.as_deref() != Some(person_id) {
                return Err(StoreError::FaceNotFound(face_id.to_string()));
            }
            tables
                .remove_face(prefix, collection, face_id, false)?
                .ok_or_else(|| StoreError::FaceNotFound(face_id.to_string()))
        })
    }

    /// Deletes the faces of `face_ids` that exist (the others are ignored)
    /// in one transaction, and returns the deleted ones (without
    /// embeddings). With `drop_empty_persons`, a person whose last face
    /// this removes is deleted too.
    pub fn delete_faces(
        &self,
        account: &str,
        id: &str,
        face_ids: &[&str],
        drop_empty_persons: bool,
    ) -> Result<Vec<StoredFace>, StoreError> {
        self.write_collection_tables(account, id, None, |tables, prefix, collection| {
            let mut out = Vec::new();
            for face_id in face_ids {
                if let Some(face) =
                    tables.remove_face(prefix, collection, face_id, drop_empty_persons)?
                {
                    out.push(face);
                }
            }
            Ok(out)
        })
    }

    /// Deletes every face of a person and keeps the person (with no faces);
    /// returns the deleted face ids. [`StoreError::PersonNotFound`].
    pub fn delete_person_faces(
        &self,
        account: &str,
        id: &str,
        person_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.write_collection_tables(account, id, None, |tables, prefix, collection| {
            if tables.read_person(prefix, person_id)?.is_none() {
                return Err(StoreError::PersonNotFound(person_id.to_string()));
            }
            let ids = tables.person_face_ids(prefix, person_id)?;
            for face_id in &ids {
                tables.remove_face(prefix, collection, face_id, false)?;
            }
            Ok(ids)
        })
    }

    /// One face of a collection, with its embedding.
    pub fn face(
        &self,
        account: &str,
        id: &str,
        face_id: &str,
    ) -> Result<Option<StoredFace>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let faces = tx.open_table(FACES).map_err(storage)?;
        let key = format!("{}{face_id}", face_prefix(account, id));
        faces
            .get(key.as_str())
            .map_err(storage)?
            .map(|v| decode_face(v.value()))
            .transpose()
    }

    /// `limit` faces from the `offset`-th, ordered by id, of the whole
    /// collection or of one person, with their total, in one snapshot and
    /// without embeddings. [`StoreError::CollectionNotFound`], or
    /// [`StoreError::PersonNotFound`] for a person that is not there.
    pub fn list_faces(
        &self,
        account: &str,
        id: &str,
        person_id: Option<&str>,
        offset: u64,
        limit: usize,
    ) -> Result<FacePage, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let collections = tx.open_table(COLLECTIONS).map_err(storage)?;
        let collection = read_collection(&collections, &collection_key(account, id))?
            .ok_or_else(|| StoreError::CollectionNotFound(id.to_string()))?;
        let faces = tx.open_table(FACES).map_err(storage)?;
        let prefix = face_prefix(account, id);
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let Some(person_id) = person_id else {
            let end = prefix_end(&prefix);
            let mut page = Vec::new();
            for entry in faces
                .range(prefix.as_str()..end.as_str())
                .map_err(storage)?
                .skip(skip)
                .take(limit)
            {
                page.push(decode_header(entry.map_err(storage)?.1.value())?);
            }
            return Ok(FacePage {
                faces: page,
                total: collection.face_count,
            });
        };
        let persons = tx.open_table(PERSONS).map_err(storage)?;
        let person = persons
            .get(format!("{prefix}{person_id}").as_str())
            .map_err(storage)?
            .map(|v| crate::persons::decode_person(v.value()))
            .transpose()?
            .ok_or_else(|| StoreError::PersonNotFound(person_id.to_string()))?;
        let members = tx.open_table(PERSON_FACES).map_err(storage)?;
        let start = format!("{prefix}{person_id}\0");
        let end = prefix_end(&start);
        let mut page = Vec::new();
        for entry in members
            .range(start.as_str()..end.as_str())
            .map_err(storage)?
            .skip(skip)
            .take(limit)
        {
            let (key, _) = entry.map_err(storage)?;
            let face_key = format!("{prefix}{}", &key.value()[start.len()..]);
            if let Some(v) = faces.get(face_key.as_str()).map_err(storage)? {
                page.push(decode_header(v.value())?);
            }
        }
        Ok(FacePage {
            faces: page,
            total: person.face_count,
        })
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
}
