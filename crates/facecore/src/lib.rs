//! facecore: face detection, alignment, embedding and comparison in pure Rust.
//!
//! [`Engine`] is the one entry point: build it once (models are verified by
//! sha256 and optimised once), then share it between threads (`Send + Sync`).
//!
//! ```no_run
//! use facecore::{Engine, EngineConfig};
//!
//! # fn main() -> Result<(), facecore::Error> {
//! // Models come from $FACECORE_MODELS or the repository's models/ directory
//! // (`cargo xtask fetch-models` fetches them).
//! let engine = Engine::load(EngineConfig::default())?;
//!
//! let a = engine.embed(&std::fs::read("a.jpg").unwrap(), 1)?;
//! let b = engine.embed(&std::fs::read("b.jpg").unwrap(), 1)?;
//! if let (Some(fa), Some(fb)) = (a.faces.first(), b.faces.first()) {
//!     let c = engine.compare(&fa.embedding, &fb.embedding)?;
//!     println!("similarity {} (cosine {:.3})", c.similarity, c.cosine);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The stages live in their own crates, re-exported here: [`image`]
//! (decoding and limits), [`detect`] (faces and landmarks), [`align`]
//! (112×112 crops), [`embed`] (512-d vectors), [`score`] (cosine),
//! [`face_attributes`] (age, gender and head pose, through
//! [`Engine::attributes`]) and [`liveness`] (the single-image liveness
//! check, through [`Engine::liveness`]).

pub mod attributes;
pub mod calibrate;
pub mod collections;
mod config;
mod engine;
mod error;
pub mod false_match;
pub mod keys;
pub mod manifest;
mod model_sets;
mod types;

pub use facecore_align as align;
pub use facecore_attributes as face_attributes;
pub use facecore_detect as detect;
pub use facecore_embed as embed;
pub use facecore_image as image;
pub use facecore_liveness as liveness;
pub use facecore_score as score;

pub use attributes::{Attribute, AttributeSet, AttributeTimings, FaceAttributes};
pub use config::{EngineConfig, QualityConfig};
pub use engine::{Engine, FaceSelection, RESCUE_TURNS, TURNED_MAX_SIDE, TURNED_MIN_CONFIDENCE};
pub use error::{Error, ErrorKind};
pub use facecore_detect::{BBox, DetectorConfig, Face, Landmarks5};
pub use facecore_embed::Embedding;
pub use facecore_image::{Format, ImageError, Limits as ImageLimits, RgbImage};
pub use manifest::{FETCH_COMMAND, Manifest, ModelSet, default_models_dir};
pub use model_sets::ModelSets;
pub use types::{Comparison, Detection, Embeddings, FaceEmbedding, StageTimings};

/// The durable store, as far as its users outside the library need it:
/// opening the data file, accounts and API keys, administration (the admin
/// socket's requests), backups, and what a collection is. Faces, search and
/// collection writes go through [`collections::Collections`], credentials
/// through [`keys::Keys`]: the store's tables, indexes and validators are
/// not part of this API.
pub mod store {
    pub use facecore_store::load::{LoadReport, ModelSource};
    pub use facecore_store::{
        Account, AuthError, Collection, DATA_FILE, ErrorKind, Identity, KeyInfo, NewKey,
        NewService, Service, ServiceKind, Store, StoreError, StoredFace, admin, random_base32,
        time,
    };
}

/// The README's library example, compiled as a doc-test.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
