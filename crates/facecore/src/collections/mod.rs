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

use facecore_store::collections::{CollectionRows, validate_collection_id};
use facecore_store::index::{CollectionIndex, VectorIndex};
use facecore_store::load::LoadReport;
use facecore_store::{NewFace, Store};

pub use facecore_store::{
    Collection, FacePage, NewPerson, Person, PersonChange, PersonPage, PersonRef, Removed,
    StoreError, StoredFace,
};

mod enrol;
mod persons;
mod search;

pub use enrol::{Enrol, Enrolled, EnrolledFace, FacesToStore, PreparedImage};
pub use search::{PersonMatch, PersonSearch, PersonSearchResult};

use crate::{Embedding, Embeddings, Engine, Error, Face, ModelSets, StageTimings};

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

impl FaceDetail {
    /// What is stored with `face`, detected in an image of `width × height`
    /// pixels: its box in whole pixels and its confidence in [0, 1].
    pub fn of_face(face: &Face, width: u32, height: u32) -> Self {
        let (x, y, w, h) = face.bbox.to_pixels(width, height);
        Self {
            bounding_box: [x, y, w, h],
            confidence: face.confidence.clamp(0.0, 1.0),
            source: None,
        }
    }
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

/// A face operation of the Face Recognition API's kind: store the dominant
/// face of an image, find its best match, or both atomically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceOp {
    /// Store the face.
    Index,
    /// Find the best match with a similarity of at least `min_similarity`.
    Search {
        /// Lowest calibrated similarity (0..=100) that counts as a match.
        min_similarity: i32,
    },
    /// Find the best match, or store the face when there is none, atomically
    /// for the collection.
    SearchOrIndex {
        /// Lowest calibrated similarity (0..=100) that counts as a match.
        min_similarity: i32,
    },
}

/// The outcome of a [`FaceOp`] on an image.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceOutcome {
    /// The dominant face, `None` when the image has none (then nothing was
    /// searched or stored).
    pub face: Option<Face>,
    /// Width of the (oriented) image.
    pub width: u32,
    /// Height of the (oriented) image.
    pub height: u32,
    /// Faces detected besides the dominant one.
    pub unprocessed: usize,
    /// The stored face (index), the match (search), or either
    /// (search-or-index); `None` when nothing matched or there was no face.
    pub face_id: Option<String>,
    /// The match, when a search found one.
    pub matched: Option<FaceMatch>,
    /// Where `face_id` came from.
    pub source: ResultSource,
    /// Time spent per pipeline stage.
    pub timings: StageTimings,
}

/// A collection resolved for face operations by [`Collections::open`]: its
/// id checked, its existence confirmed and its index loaded, so that a
/// request for a missing collection fails before any inference is spent,
/// and the operation itself needs no second look-up.
pub struct OpenCollection {
    account: String,
    id: String,
    shared: Shared,
    /// The engine of the collection's embedding model.
    engine: Arc<Engine>,
}

impl OpenCollection {
    /// The engine whose model made this collection's vectors: the one to
    /// embed its images with.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
}

impl std::fmt::Debug for OpenCollection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenCollection")
            .field("account", &self.account)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

struct LoadedCollection {
    incarnation: String,
    index: CollectionIndex,
    /// The engine of its embedding model.
    engine: Arc<Engine>,
}

type Shared = Arc<RwLock<LoadedCollection>>;

/// Told about every load of a collection's index: the account, the
/// collection id and what the load did (see
/// [`Collections::with_load_observer`]).
pub type LoadObserver = Box<dyn Fn(&str, &str, &LoadReport) + Send + Sync>;

/// Collections of faces of all accounts, on one [`Store`].
pub struct Collections {
    store: Arc<Store>,
    models: Arc<ModelSets>,
    /// Loaded indexes with the incarnation each was loaded from.
    loaded: Mutex<HashMap<(String, String), (String, Shared)>>,
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
        Self::with_model_sets(store, Arc::new(ModelSets::single(engine)))
    }

    /// Collections on `store` with several model sets: new collections use
    /// the default set's model, every collection is searched and written
    /// with the engine of the model it records.
    pub fn with_model_sets(store: Arc<Store>, models: Arc<ModelSets>) -> Self {
        Self {
            store,
            models,
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

    /// Creates a collection (committed before returning);
    /// [`StoreError::CollectionExists`] when the account has it already.
    pub fn create(
        &self,
        account: &str,
        id: &str,
        description: Option<&str>,
    ) -> Result<Collection, Error> {
        let model = self.models.default_engine().model_id();
        Ok(self
            .store
            .create_collection_for_model(account, id, description, Some(model))?)
    }

    /// Updates a collection's description: `Some(text)` sets it, `Some("")`
    /// clears it, `None` leaves it unchanged.
    pub fn update(
        &self,
        account: &str,
        id: &str,
        description: Option<&str>,
    ) -> Result<Collection, Error> {
        self.resolved(
            account,
            self.store.update_collection(account, id, description)?,
        )
    }

    /// One collection of the account; [`StoreError::CollectionNotFound`]
    /// when there is none (an invalid id is refused first).
    pub fn get(&self, account: &str, id: &str) -> Result<Collection, Error> {
        validate_collection_id(id)?;
        self.store
            .collection(account, id)?
            .ok_or_else(|| Self::not_found(id))
            .and_then(|c| self.resolved(account, c))
    }

    /// `collection` with its [`Collection::embedding_model`] filled in
    /// ([`Collections::model_of`]), as the APIs show it.
    fn resolved(&self, account: &str, mut collection: Collection) -> Result<Collection, Error> {
        if collection.embedding_model.is_none() {
            collection.embedding_model = Some(self.model_of(account, &collection)?);
        }
        Ok(collection)
    }

    /// The account's collections, ordered by id.
    pub fn list(&self, account: &str) -> Result<Vec<Collection>, Error> {
        self.store
            .list_collections(account)?
            .into_iter()
            .map(|c| self.resolved(account, c))
            .collect()
    }

    /// The collection's search index, loading it on first use. `None` when
    /// the collection does not exist.
    fn collection(&self, account: &str, id: &str) -> Result<Option<Shared>, Error> {
        let key = (account.to_string(), id.to_string());
        let mut loaded = self.loaded.lock().map_err(poisoned)?;
        if let Some((incarnation, shared)) = loaded.get(&key) {
            // The store is the truth: a collection deleted or re-created
            // behind this cache (by the admin socket deleting a service or
            // an account) must not be searched from a stale index.
            match self.store.collection(account, id)? {
                Some(current) if current.incarnation == *incarnation => {
                    return Ok(Some(Arc::clone(shared)));
                }
                Some(_) => {
                    loaded.remove(&key);
                }
                None => {
                    loaded.remove(&key);
                    return Ok(None);
                }
            }
        }
        let Some(recorded) = self.store.collection(account, id)? else {
            return Ok(None);
        };
        let engine = Arc::clone(self.engine_for(account, &recorded)?);
        let Some((collection, index, report)) = self.store.load_index(
            account,
            id,
            engine.model_id(),
            engine.embedding_dim(),
            Arc::new(CollectionRows::new(Arc::clone(&self.store), account, id)),
        )?
        else {
            return Ok(None);
        };
        if let Some(observer) = &self.on_load {
            observer(account, id, &report);
        }
        let shared = Arc::new(RwLock::new(LoadedCollection {
            incarnation: collection.incarnation.clone(),
            index,
            engine,
        }));
        loaded.insert(key, (collection.incarnation, Arc::clone(&shared)));
        Ok(Some(shared))
    }

    fn not_found(id: &str) -> Error {
        Error::Store(StoreError::CollectionNotFound(id.to_string()))
    }

    /// The model sets in use.
    pub fn model_sets(&self) -> &Arc<ModelSets> {
        &self.models
    }

    /// The embedding model of a collection: the one it recorded at
    /// creation, else the one of its first face, else (an empty collection
    /// that recorded none) the default set's.
    pub fn model_of(&self, account: &str, collection: &Collection) -> Result<String, Error> {
        if let Some(model) = &collection.embedding_model {
            return Ok(model.clone());
        }
        Ok(
            match self
                .store
                .first_face_model(account, &collection.collection_id)?
            {
                Some(model) => model,
                None => self.models.default_engine().model_id().to_string(),
            },
        )
    }

    /// The engine of a collection's model, or [`Error::ModelNotLoaded`].
    fn engine_for(&self, account: &str, collection: &Collection) -> Result<&Arc<Engine>, Error> {
        let model = self.model_of(account, collection)?;
        self.models
            .for_model(&model)
            .ok_or_else(|| Error::ModelNotLoaded {
                collection: collection.collection_id.clone(),
                model,
                loaded: self.models.loaded_models(),
            })
    }

    fn check_model(engine: &Engine, embedding: &Embedding) -> Result<(), Error> {
        if &*embedding.model != engine.model_id() {
            return Err(Error::ModelMismatch {
                left: embedding.model.to_string(),
                right: engine.model_id().to_string(),
            });
        }
        Ok(())
    }

    fn best(
        loaded: &LoadedCollection,
        embedding: &Embedding,
        min_similarity: i32,
    ) -> Result<Option<FaceMatch>, Error> {
        let engine = &loaded.engine;
        let threshold = engine.score_map().threshold(min_similarity);
        Ok(loaded
            .index
            .best(&embedding.vector)?
            .filter(|(_, cosine)| *cosine >= threshold)
            .map(|(face_id, cosine)| FaceMatch {
                face_id: face_id.to_string(),
                cosine,
                similarity: engine.similarity(cosine),
            }))
    }

    /// The collection's loaded index, or [`StoreError::CollectionNotFound`].
    fn existing(&self, account: &str, id: &str) -> Result<Shared, Error> {
        self.collection(account, id)?
            .ok_or_else(|| Self::not_found(id))
    }

    /// Resolves a collection for [`Collections::apply`]: checks the id, and
    /// fails with [`StoreError::CollectionNotFound`] when the account has no
    /// such collection; loads its index on first use.
    pub fn open(&self, account: &str, id: &str) -> Result<OpenCollection, Error> {
        validate_collection_id(id)?;
        let shared = self.existing(account, id)?;
        let engine = Arc::clone(&shared.read().map_err(poisoned)?.engine);
        Ok(OpenCollection {
            account: account.to_string(),
            id: id.to_string(),
            shared,
            engine,
        })
    }

    /// Runs `op` with the dominant face of `embeddings` (the result of
    /// [`Engine::embed`] with a face limit of 1) on an opened collection: at
    /// most one store transaction, committed before returning. An image
    /// without a face stores and searches nothing.
    pub fn apply(
        &self,
        target: &OpenCollection,
        op: FaceOp,
        embeddings: Embeddings,
    ) -> Result<FaceOutcome, Error> {
        let (width, height) = (embeddings.width, embeddings.height);
        let mut outcome = FaceOutcome {
            face: None,
            width,
            height,
            unprocessed: 0,
            face_id: None,
            matched: None,
            source: ResultSource::None,
            timings: embeddings.timings,
        };
        let Some(found) = embeddings.faces.into_iter().next() else {
            return Ok(outcome);
        };
        Self::check_model(&target.engine, &found.embedding)?;
        let (account, id) = (target.account.as_str(), target.id.as_str());
        let detail = FaceDetail::of_face(&found.face, width, height);
        match op {
            FaceOp::Index => {
                let mut loaded = target.shared.write().map_err(poisoned)?;
                let stored =
                    self.insert_locked(&mut loaded, account, id, &found.embedding, detail)?;
                outcome.face_id = Some(stored.face_id);
                outcome.source = ResultSource::Index;
            }
            FaceOp::Search { min_similarity } => {
                let loaded = target.shared.read().map_err(poisoned)?;
                outcome.matched = Self::best(&loaded, &found.embedding, min_similarity)?;
                outcome.face_id = outcome.matched.as_ref().map(|m| m.face_id.clone());
                if outcome.matched.is_some() {
                    outcome.source = ResultSource::Search;
                }
            }
            FaceOp::SearchOrIndex { min_similarity } => {
                let mut loaded = target.shared.write().map_err(poisoned)?;
                let result = self.search_or_index_locked(
                    &mut loaded,
                    account,
                    id,
                    &found.embedding,
                    min_similarity,
                    detail,
                )?;
                outcome.face_id = Some(result.face_id);
                outcome.matched = result.matched;
                outcome.source = result.source;
            }
        }
        outcome.face = Some(found.face);
        outcome.unprocessed = embeddings.unprocessed;
        Ok(outcome)
    }

    /// [`Collections::open`], [`Engine::embed`] of the image's dominant face
    /// and [`Collections::apply`] in one call.
    pub fn face_from_image(
        &self,
        account: &str,
        id: &str,
        image: &[u8],
        op: FaceOp,
    ) -> Result<FaceOutcome, Error> {
        let target = self.open(account, id)?;
        let embeddings = target.engine.embed(image, 1)?;
        self.apply(&target, op, embeddings)
    }

    /// The best match with similarity at least `min_similarity` (0..=100).
    pub fn search(
        &self,
        account: &str,
        id: &str,
        embedding: &Embedding,
        min_similarity: i32,
    ) -> Result<Option<FaceMatch>, Error> {
        let shared = self.existing(account, id)?;
        let loaded = shared.read().map_err(poisoned)?;
        Self::check_model(&loaded.engine, embedding)?;
        Self::best(&loaded, embedding, min_similarity)
    }

    fn insert_locked(
        &self,
        loaded: &mut LoadedCollection,
        account: &str,
        id: &str,
        embedding: &Embedding,
        detail: FaceDetail,
    ) -> Result<StoredFace, Error> {
        let face = NewFace {
            model: embedding.model.to_string(),
            embedding: embedding.vector.clone(),
            bounding_box: detail.bounding_box,
            confidence: detail.confidence,
            source: detail.source,
            ..NewFace::default()
        };
        self.insert_many_locked(loaded, account, id, vec![face])?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Store(StoreError::Storage("no face was stored".into())))
    }

    /// Stores `faces` in one transaction (committed before returning) and
    /// makes them searchable; the caller holds the collection's write lock.
    fn insert_many_locked(
        &self,
        loaded: &mut LoadedCollection,
        account: &str,
        id: &str,
        faces: Vec<NewFace>,
    ) -> Result<Vec<StoredFace>, Error> {
        let stored = self
            .store
            .insert_faces(account, id, Some(&loaded.incarnation), faces)?;
        self.index_stored(loaded, account, id, &stored)?;
        Ok(stored)
    }

    /// Makes faces just committed searchable; the caller holds the
    /// collection's write lock.
    fn index_stored(
        &self,
        loaded: &mut LoadedCollection,
        account: &str,
        id: &str,
        stored: &[StoredFace],
    ) -> Result<(), Error> {
        let was_approximate = loaded.index.is_approximate();
        for face in stored {
            loaded.index.insert(&face.face_id, &face.embedding)?;
        }
        if let CollectionIndex::Ivf(ivf) = &loaded.index
            && !was_approximate
        {
            // The collection just outgrew exact search and trained its
            // lists: keep them for the next load. The faces are stored and
            // searchable either way, so a failed save only costs that load
            // a training run.
            let _ = self.store.save_index_model(
                account,
                id,
                &loaded.incarnation,
                loaded.engine.model_id(),
                ivf.model(),
            );
        }
        Ok(())
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
        let shared = self.existing(account, id)?;
        let mut loaded = shared.write().map_err(poisoned)?;
        Self::check_model(&loaded.engine, embedding)?;
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
        let shared = self.existing(account, id)?;
        let mut loaded = shared.write().map_err(poisoned)?;
        Self::check_model(&loaded.engine, embedding)?;
        self.search_or_index_locked(&mut loaded, account, id, embedding, min_similarity, detail)
    }

    fn search_or_index_locked(
        &self,
        loaded: &mut LoadedCollection,
        account: &str,
        id: &str,
        embedding: &Embedding,
        min_similarity: i32,
        detail: FaceDetail,
    ) -> Result<SearchOrIndex, Error> {
        if let Some(found) = Self::best(loaded, embedding, min_similarity)? {
            return Ok(SearchOrIndex {
                face_id: found.face_id.clone(),
                source: ResultSource::Search,
                matched: Some(found),
            });
        }
        let stored = self.insert_locked(loaded, account, id, embedding, detail)?;
        Ok(SearchOrIndex {
            face_id: stored.face_id,
            source: ResultSource::Index,
            matched: None,
        })
    }

    /// Deletes one face (committed before returning).
    pub fn delete_face(&self, account: &str, id: &str, face_id: &str) -> Result<(), Error> {
        validate_collection_id(id)?;
        let shared = self.existing(account, id)?;
        let mut loaded = shared.write().map_err(poisoned)?;
        self.store.delete_face(account, id, face_id)?;
        loaded.index.remove(face_id);
        Ok(())
    }

    /// Deletes a collection and its faces; returns whether it existed.
    pub fn delete_collection(&self, account: &str, id: &str) -> Result<bool, Error> {
        validate_collection_id(id)?;
        let mut loaded = self.loaded.lock().map_err(poisoned)?;
        let existed = self.store.delete_collection(account, id)?;
        loaded.remove(&(account.to_string(), id.to_string()));
        Ok(existed)
    }
}
