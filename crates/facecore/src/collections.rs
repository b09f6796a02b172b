//! Face collections: the store's durable faces plus an in-memory search index
//! per collection, kept consistent with every write.
//!
//! Every write to a collection (index, search-or-index, delete) holds that
//! collection's write lock from the search to the redb commit and the index
//! update, so search-or-index is atomic per collection: the same face posted
//! concurrently to an empty collection is indexed once. Searches share a
//! read lock. Indexes are loaded from the store on first use: exact search
//! up to [`EXACT_LIMIT`](facecore_store::index::EXACT_LIMIT) faces, an
//! approximate index with exact re-scoring beyond (see
//! [`CollectionIndex`]). A large collection's trained lists are saved in
//! the data file when it outgrows exact search and when a load trains
//! them, so a restart places the stored faces without training again
//! ([`facecore_store::load`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use facecore_store::collections::CollectionRows;
use facecore_store::index::{CollectionIndex, VectorIndex};
use facecore_store::load::LoadReport;
use facecore_store::{NewFace, Store, StoreError, StoredFace};

use crate::{Embedding, Engine, Error};

/// A match found by a search.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceMatch {
    /// The stored face's id.
    pub face_id: String,
    /// Cosine similarity with the query.
    pub cosine: f32,
    /// Calibrated similarity score, -1..=100.
    pub similarity: i32,
}

/// What is stored with a face besides its embedding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaceDetail {
    /// Bounding box in the source image: x, y, width, height.
    pub bounding_box: [u32; 4],
    /// Detection confidence.
    pub confidence: f32,
    /// Where the face came from (e.g. `sha256:<hex>` of a file), so that a
    /// re-run import does not store it twice.
    pub source: Option<String>,
}

/// Where the face id of a search-or-index came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultSource {
    /// No face in the image: nothing searched or stored.
    None,
    /// An existing face matched.
    Search,
    /// No face matched, so this one was stored.
    Index,
}

/// The outcome of a search-or-index.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOrIndex {
    /// The matched or new face id.
    pub face_id: String,
    /// Where it came from.
    pub source: ResultSource,
    /// The match, for [`ResultSource::Search`].
    pub matched: Option<FaceMatch>,
}

struct LoadedCollection {
    incarnation: String,
    index: CollectionIndex,
}

type Shared = Arc<RwLock<LoadedCollection>>;

/// Told about every load of a collection's index: the account, the
/// collection id and what the load did (see
/// [`Collections::with_load_observer`]).
pub type LoadObserver = Box<dyn Fn(&str, &str, &LoadReport) + Send + Sync>;

/// Collections of faces of all accounts, on one [`Store`].
pub struct Collections {
    store: Arc<Store>,
    engine: Arc<Engine>,
    loaded: Mutex<HashMap<(String, String), Shared>>,
    on_load: Option<LoadObserver>,
}

impl std::fmt::Debug for Collections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collections")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::Store(StoreError::Storage(
        "a collection lock was poisoned by a panic".into(),
    ))
}

impl Collections {
    /// Collections stored in `store`, searched with `engine`'s model and
    /// score map.
    pub fn new(store: Arc<Store>, engine: Arc<Engine>) -> Self {
        Self {
            store,
            engine,
            loaded: Mutex::new(HashMap::new()),
            on_load: None,
        }
    }

    /// Calls `observer` after each load of a collection's index from the
    /// store (the first use of a collection after a start), with what the
    /// load did: how many faces, exact or approximate, whether the lists
    /// were reused or trained and why, how long it took. A server logs it,
    /// so that an operator can see why a restart took the time it took.
    ///
    /// The observer runs while other loads wait; keep it quick.
    #[must_use]
    pub fn with_load_observer(
        mut self,
        observer: impl Fn(&str, &str, &LoadReport) + Send + Sync + 'static,
    ) -> Self {
        self.on_load = Some(Box::new(observer));
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The collection's search index, loading it on first use. `None` when
    /// the collection does not exist.
    fn collection(&self, account: &str, id: &str) -> Result<Option<Shared>, Error> {
        let key = (account.to_string(), id.to_string());
        let mut loaded = self.loaded.lock().map_err(poisoned)?;
        if let Some(shared) = loaded.get(&key) {
            return Ok(Some(Arc::clone(shared)));
        }
        let Some((collection, index, report)) = self.store.load_index(
            account,
            id,
            self.engine.model_id(),
            self.engine.embedding_dim(),
            Arc::new(CollectionRows::new(Arc::clone(&self.store), account, id)),
        )?
        else {
            return Ok(None);
        };
        if let Some(observer) = &self.on_load {
            observer(account, id, &report);
        }
        let shared = Arc::new(RwLock::new(LoadedCollection {
            incarnation: collection.incarnation,
            index,
        }));
        loaded.insert(key, Arc::clone(&shared));
        Ok(Some(shared))
    }

    fn not_found(id: &str) -> Error {
        Error::Store(StoreError::CollectionNotFound(id.to_string()))
    }

    fn check_model(&self, embedding: &Embedding) -> Result<(), Error> {
        if &*embedding.model != self.engine.model_id() {
            return Err(Error::ModelMismatch {
                left: embedding.model.to_string(),
                right: self.engine.model_id().to_string(),
            });
        }
        Ok(())
    }

    fn best(
        &self,
        index: &CollectionIndex,
        embedding: &Embedding,
        min_similarity: i32,
    ) -> Result<Option<FaceMatch>, Error> {
        let threshold = self.engine.score_map().threshold(min_similarity);
        Ok(index
            .best(&embedding.vector)?
            .filter(|(_, cosine)| *cosine >= threshold)
            .map(|(face_id, cosine)| FaceMatch {
                face_id: face_id.to_string(),
                cosine,
                similarity: self.engine.similarity(cosine),
            }))
    }

    /// Whether the account has this collection (cheap; no index load).
    pub fn exists(&self, account: &str, id: &str) -> Result<bool, Error> {
        Ok(self.store.collection(account, id)?.is_some())
    }

    /// The best match with similarity at least `min_similarity` (0..=100).
    pub fn search(
        &self,
        account: &str,
        id: &str,
        embedding: &Embedding,
        min_similarity: i32,
    ) -> Result<Option<FaceMatch>, Error> {
        self.check_model(embedding)?;
        let shared = self
            .collection(account, id)?
            .ok_or_else(|| Self::not_found(id))?;
        let loaded = shared.read().map_err(poisoned)?;
        self.best(&loaded.index, embedding, min_similarity)
    }

    fn insert_locked(
        &self,
        loaded: &mut LoadedCollection,
        account: &str,
        id: &str,
        embedding: &Embedding,
        detail: FaceDetail,
    ) -> Result<StoredFace, Error> {
        let stored = self.store.insert_face(
            account,
            id,
            Some(&loaded.incarnation),
            NewFace {
                model: embedding.model.to_string(),
                embedding: embedding.vector.clone(),
                bounding_box: detail.bounding_box,
                confidence: detail.confidence,
                source: detail.source,
            },
        )?;
        let was_approximate = loaded.index.is_approximate();
        loaded.index.insert(&stored.face_id, &embedding.vector)?;
        if let CollectionIndex::Ivf(ivf) = &loaded.index
            && !was_approximate
        {
            // The collection just outgrew exact search and trained its
            // lists: keep them for the next load. The face is stored and
            // searchable either way, so a failed save only costs that load
            // a training run.
            let _ = self.store.save_index_model(
                account,
                id,
                &loaded.incarnation,
                self.engine.model_id(),
                ivf.model(),
            );
        }
        Ok(stored)
    }

    /// Stores a face (committed before returning) and makes it searchable.
    /// With a `source` in `detail` (say, a file's hash) the collection keeps
    /// at most one face per source: indexing the same source again returns
    /// the face stored the first time.
    pub fn index(
        &self,
        account: &str,
        id: &str,
        embedding: &Embedding,
        detail: FaceDetail,
    ) -> Result<StoredFace, Error> {
        self.check_model(embedding)?;
        let shared = self
            .collection(account, id)?
            .ok_or_else(|| Self::not_found(id))?;
        let mut loaded = shared.write().map_err(poisoned)?;
        self.insert_locked(&mut loaded, account, id, embedding, detail)
    }

    /// Searches, and stores the face when nothing matches, atomically for
    /// this collection.
    pub fn search_or_index(
        &self,
        account: &str,
        id: &str,
        embedding: &Embedding,
        min_similarity: i32,
        detail: FaceDetail,
    ) -> Result<SearchOrIndex, Error> {
        self.check_model(embedding)?;
        let shared = self
            .collection(account, id)?
            .ok_or_else(|| Self::not_found(id))?;
        let mut loaded = shared.write().map_err(poisoned)?;
        if let Some(found) = self.best(&loaded.index, embedding, min_similarity)? {
            return Ok(SearchOrIndex {
                face_id: found.face_id.clone(),
                source: ResultSource::Search,
                matched: Some(found),
            });
        }
        let stored = self.insert_locked(&mut loaded, account, id, embedding, detail)?;
        Ok(SearchOrIndex {
            face_id: stored.face_id,
            source: ResultSource::Index,
            matched: None,
        })
    }

    /// Deletes one face (committed before returning).
    pub fn delete_face(&self, account: &str, id: &str, face_id: &str) -> Result<(), Error> {
        let shared = self
            .collection(account, id)?
            .ok_or_else(|| Self::not_found(id))?;
        let mut loaded = shared.write().map_err(poisoned)?;
        self.store.delete_face(account, id, face_id)?;
        loaded.index.remove(face_id);
        Ok(())
    }

    /// Deletes a collection and its faces; returns whether it existed.
    pub fn delete_collection(&self, account: &str, id: &str) -> Result<bool, Error> {
        let mut loaded = self.loaded.lock().map_err(poisoned)?;
        let existed = self.store.delete_collection(account, id)?;
        loaded.remove(&(account.to_string(), id.to_string()));
        Ok(existed)
    }
}
