//! Loading a collection's search index from the data file, and keeping
//! what training learned there so that the next load does not train again.
//!
//! The faces in redb are always the source of truth: a load streams every
//! stored embedding into the index (no copy of all of them in memory at
//! once). Only the trained *model* of a large collection (its
//! [`IvfModel`]: centroids and principal directions, about 1 MB) is saved
//! beside the faces, and it is used only after checks against the
//! collection it belongs to: the same incarnation (a deleted and
//! re-created collection never inherits it), the same embedding model and
//! dimension, an intact checksum, and a list count still right for the
//! collection's size (within 2× of [`IvfParams::auto_lists`]). Anything
//! else trains again and saves the new model. Since every face is placed
//! from its stored embedding, a model can only make searches faster or
//! slower, never return a face that is not stored or a wrong score.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use facecore_scan::unit_query;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::collections::{COLLECTIONS, collection_key, face_prefix, prefix_end, read_collection};
use crate::faces::{FACES, extend_f32s, split_face};
use crate::index::{
    CollectionIndex, EXACT_LIMIT, ExactIndex, IndexError, TRAINING_SAMPLE, VectorIndex,
};
use crate::ivf::{ExactRows, IvfIndex, IvfModel, IvfParams};
use crate::{Collection, Store, StoreError, storage};

/// `account \0 collection` -> a saved [`IvfModel`] with its header.
pub(crate) const INDEX_MODELS: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("index_models");

/// Faces placed per parallel batch while loading: bounds the embeddings
/// held at once to 128 MB at 512 dimensions.
const LOAD_CHUNK: usize = 1 << 16;

/// Where a loaded index's lists came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelSource {
    /// An exact index: there is nothing to train.
    Exact,
    /// The model saved by an earlier load or switch, checked and reused.
    Saved,
    /// Trained during this load; `why` says why no saved model was used.
    Trained {
        /// Why training was needed.
        why: String,
    },
}

/// What a load did and how long it took.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoadReport {
    /// Faces in the index.
    pub faces: usize,
    /// Where the lists came from.
    pub model: ModelSource,
    /// Seconds spent training (0 when none).
    pub train_seconds: f64,
    /// Seconds for the whole load (reading, training, placing).
    pub seconds: f64,
    /// Why a newly trained model could not be saved, if it could not (the
    /// load still succeeds; the next one trains again).
    pub save_error: Option<String>,
}

/// The header saved before a model's bytes.
#[derive(Debug, Serialize, Deserialize)]
struct SavedHeader {
    /// The collection incarnation the model was trained on.
    incarnation: String,
    /// The embedding model of the faces it was trained on.
    embedding_model: String,
    /// How many faces the collection had then.
    trained_on: u64,
    /// SHA-256 of the model bytes, hex.
    sha256: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The model metadata of a face record, without the rest of its JSON.
#[derive(Deserialize)]
struct ModelOf<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
}

/// A face value's embedding model, and its embedding decoded into `out`.
fn decode_model_and_embedding<'a>(
    bytes: &'a [u8],
    out: &mut Vec<f32>,
) -> Result<Cow<'a, str>, StoreError> {
    let (meta, rest) = split_face(bytes)?;
    let model = serde_json::from_slice::<ModelOf<'a>>(meta)
        .map_err(|e| StoreError::Corrupt {
            table: "faces",
            message: e.to_string(),
        })?
        .model;
    out.clear();
    extend_f32s(rest, out);
    Ok(model)
}

/// Calls `each` with the id and embedding of every face of the collection
/// at `prefix` made by `model`, in key order, within one read snapshot.
fn each_face(
    faces: &impl ReadableTable<&'static str, &'static [u8]>,
    prefix: &str,
    model: &str,
    mut each: impl FnMut(&str, &[f32]) -> Result<(), IndexError>,
) -> Result<(), IndexError> {
    let end = prefix_end(prefix);
    let mut embedding = Vec::new();
    for entry in faces.range(prefix..end.as_str()).map_err(storage)? {
        let (key, value) = entry.map_err(storage)?;
        let face_id = key.value().strip_prefix(prefix).unwrap_or_default();
        if decode_model_and_embedding(value.value(), &mut embedding)? == model {
            each(face_id, &embedding)?;
        }
    }
    Ok(())
}

/// Whether a model with `lists` lists suits `faces` faces.
fn lists_fit(lists: usize, faces: usize) -> Result<(), String> {
    let want = IvfParams::auto_lists(faces);
    if lists * 2 < want || lists > want * 2 {
        return Err(format!(
            "the saved model has {lists} lists, {want} suit {faces} faces"
        ));
    }
    Ok(())
}

impl Store {
    /// The saved model of a collection, if it passes every check (see the
    /// module docs); otherwise why not.
    fn saved_model(
        &self,
        tx: &redb::ReadTransaction,
        account: &str,
        collection: &Collection,
        embedding_model: &str,
        dim: usize,
    ) -> Result<IvfModel, String> {
        let table = tx
            .open_table(INDEX_MODELS)
            .map_err(|e| format!("no saved model ({e})"))?;
        let key = collection_key(account, &collection.collection_id);
        let value = table
            .get(key.as_str())
            .map_err(|e| e.to_string())?
            .ok_or("no saved model")?;
        let bytes = value.value();
        let len = bytes
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or("the saved model is truncated")? as usize;
        let header: SavedHeader = bytes
            .get(4..4 + len)
            .and_then(|h| serde_json::from_slice(h).ok())
            .ok_or("the saved model's header is unreadable")?;
        let body = &bytes[4 + len..];
        if header.incarnation != collection.incarnation {
            return Err("the saved model belongs to an earlier collection of that id".into());
        }
        if header.embedding_model != embedding_model {
            return Err(format!(
                "the saved model was trained on {} embeddings",
                header.embedding_model
            ));
        }
        if header.sha256 != sha256_hex(body) {
            return Err("the saved model fails its checksum".into());
        }
        let model = IvfModel::from_bytes(body).map_err(|e| format!("the saved model: {e}"))?;
        if model.dim() != dim {
            return Err(format!(
                "the saved model is {}-dimensional, not {dim}",
                model.dim()
            ));
        }
        lists_fit(
            model.lists(),
            usize::try_from(collection.face_count).unwrap_or(usize::MAX),
        )?;
        Ok(model)
    }

    /// Saves what a large collection's index was trained to, for the next
    /// load, unless the collection is gone or is not `incarnation` any more
    /// (then nothing is written and `false` returned).
    ///
    /// # Errors
    ///
    /// When the data file cannot be written.
    pub fn save_index_model(
        &self,
        account: &str,
        id: &str,
        incarnation: &str,
        embedding_model: &str,
        model: &IvfModel,
    ) -> Result<bool, StoreError> {
        let body = model.to_bytes();
        let tx = self.db.begin_write().map_err(storage)?;
        let saved = {
            let key = collection_key(account, id);
            let collections = tx.open_table(COLLECTIONS).map_err(storage)?;
            let current = read_collection(&collections, &key)?;
            drop(collections);
            match current {
                Some(collection) if collection.incarnation == incarnation => {
                    let header = serde_json::to_vec(&SavedHeader {
                        incarnation: incarnation.to_string(),
                        embedding_model: embedding_model.to_string(),
                        trained_on: collection.face_count,
                        sha256: sha256_hex(&body),
                    })
                    .map_err(storage)?;
                    let len = u32::try_from(header.len()).map_err(storage)?;
                    let mut value = Vec::with_capacity(4 + header.len() + body.len());
                    value.extend_from_slice(&len.to_le_bytes());
                    value.extend_from_slice(&header);
                    value.extend_from_slice(&body);
                    let mut models = tx.open_table(INDEX_MODELS).map_err(storage)?;
                    models
                        .insert(key.as_str(), value.as_slice())
                        .map_err(storage)?;
                    true
                }
                _ => false,
            }
        };
        if saved {
            self.commit(tx)?;
        }
        Ok(saved)
    }

    /// Builds the search index of `account`'s collection `id` from the
    /// faces stored with `embedding_model` (of dimension `dim`), streaming
    /// them from one read snapshot: exact up to [`EXACT_LIMIT`] faces,
    /// else an [`IvfIndex`] on the saved model when it passes its checks,
    /// or on a model trained now (from an evenly spread sample of up to
    /// 200k faces) and saved for the next load. Exact rows for re-scoring
    /// come from `rows`. `None` when the collection does not exist.
    ///
    /// # Errors
    ///
    /// When the data file cannot be read or a stored embedding is invalid.
    pub fn load_index(
        &self,
        account: &str,
        id: &str,
        embedding_model: &str,
        dim: usize,
        rows: Arc<dyn ExactRows>,
    ) -> Result<Option<(Collection, CollectionIndex, LoadReport)>, IndexError> {
        let started = Instant::now();
        let tx = self.db.begin_read().map_err(storage)?;
        let collections = tx.open_table(COLLECTIONS).map_err(storage)?;
        let Some(collection) = read_collection(&collections, &collection_key(account, id))? else {
            return Ok(None);
        };
        let faces = tx.open_table(FACES).map_err(storage)?;
        let prefix = face_prefix(account, id);
        let count = usize::try_from(collection.face_count).unwrap_or(usize::MAX);
        let mut report = LoadReport {
            faces: 0,
            model: ModelSource::Exact,
            train_seconds: 0.0,
            seconds: 0.0,
            save_error: None,
        };
        if count <= EXACT_LIMIT {
            let mut index = ExactIndex::new(dim);
            each_face(&faces, &prefix, embedding_model, |face_id, v| {
                index.insert(face_id, v).map_err(IndexError::from)
            })?;
            report.faces = index.len();
            report.seconds = started.elapsed().as_secs_f64();
            return Ok(Some((
                collection,
                CollectionIndex::Exact { index, rows },
                report,
            )));
        }
        let model = match self.saved_model(&tx, account, &collection, embedding_model, dim) {
            Ok(model) => {
                report.model = ModelSource::Saved;
                model
            }
            Err(why) => {
                let training = Instant::now();
                let stride = count.div_ceil(TRAINING_SAMPLE).max(1);
                let mut sample = Vec::with_capacity((count / stride + 1) * dim);
                let mut seen = 0usize;
                each_face(&faces, &prefix, embedding_model, |_, v| {
                    if seen.is_multiple_of(stride) {
                        sample.extend(unit_query(v, dim)?);
                    }
                    seen += 1;
                    Ok(())
                })?;
                if sample.is_empty() {
                    // No face of this model: nothing to search.
                    report.seconds = started.elapsed().as_secs_f64();
                    let index = ExactIndex::new(dim);
                    return Ok(Some((
                        collection,
                        CollectionIndex::Exact { index, rows },
                        report,
                    )));
                }
                let params = IvfParams {
                    lists: IvfParams::auto_lists(count),
                    ..IvfParams::default()
                };
                let model = IvfModel::train(dim, &sample, params)?;
                drop(sample);
                report.train_seconds = training.elapsed().as_secs_f64();
                report.model = ModelSource::Trained { why };
                report.save_error = self
                    .save_index_model(
                        account,
                        id,
                        &collection.incarnation,
                        embedding_model,
                        &model,
                    )
                    .err()
                    .map(|e| e.to_string());
                model
            }
        };
        let mut index = IvfIndex::from_model(model, 0, rows);
        let mut ids: Vec<String> = Vec::with_capacity(LOAD_CHUNK);
        let mut vectors: Vec<f32> = Vec::with_capacity(LOAD_CHUNK * dim);
        let mut flush = |ids: &mut Vec<String>, vectors: &mut Vec<f32>| {
            let batch: Vec<(&str, &[f32])> = ids
                .iter()
                .map(String::as_str)
                .zip(vectors.chunks_exact(dim))
                .collect();
            let placed = index.insert_many(&batch);
            ids.clear();
            vectors.clear();
            placed
        };
        each_face(&faces, &prefix, embedding_model, |face_id, v| {
            if v.len() != dim {
                // Checked here so that the flat batch stays aligned.
                unit_query(v, dim)?;
            }
            ids.push(face_id.to_string());
            vectors.extend_from_slice(v);
            if ids.len() == LOAD_CHUNK {
                flush(&mut ids, &mut vectors)?;
            }
            Ok(())
        })?;
        flush(&mut ids, &mut vectors)?;
        index.shrink_to_fit();
        report.faces = index.len();
        report.seconds = started.elapsed().as_secs_f64();
        Ok(Some((
            collection,
            CollectionIndex::Ivf(Box::new(index)),
            report,
        )))
    }
}
