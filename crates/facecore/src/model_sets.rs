//! Several model sets loaded side by side: one [`Engine`] per set, one of
//! them the default for everything that does not say otherwise (new
//! collections, the stateless APIs).
//!
//! Embeddings of two sets never compare: a collection records the embedding
//! model it was created with, and [`ModelSets::for_model`] finds the engine
//! that made its vectors, so that a collection made with one set keeps
//! working after the default moves to another.

use std::path::Path;
use std::sync::Arc;

use crate::manifest::{DEFAULT_SET, ModelSet};
use crate::{Engine, EngineConfig, Error, Manifest, default_models_dir};

/// The engines of the loaded model sets, the default first.
#[derive(Debug, Clone)]
pub struct ModelSets {
    /// Never empty; the default set's engine at index 0.
    engines: Vec<Arc<Engine>>,
}

impl ModelSets {
    /// One set only: `engine` is the default and the only one.
    pub fn single(engine: Arc<Engine>) -> Self {
        Self {
            engines: vec![engine],
        }
    }

    /// Loads `config.model_set` (default `default`) as the default set and
    /// then every other set of the manifest that is installed in the models
    /// directory ([`ModelSets::installed`]). The default set must load; a
    /// further set that fails to load is an error too (its files are
    /// there, so a failure means a damaged file, not a choice).
    pub fn load(config: EngineConfig) -> Result<Self, Error> {
        let default = Arc::new(Engine::load(config.clone())?);
        let mut engines = vec![Arc::clone(&default)];
        let dir = default.models_dir().to_path_buf();
        for name in Self::installed(default.manifest(), &dir) {
            if name == default.model_set().name {
                continue;
            }
            let mut more = config.clone();
            more.model_set = Some(name);
            more.models_dir = Some(dir.clone());
            more.manifest = Some(default.manifest().clone());
            engines.push(Arc::new(Engine::load(more)?));
        }
        Ok(Self { engines })
    }

    /// The sets of `manifest` whose files are all in `dir` and that may be
    /// loaded there (a non-commercial set only once its terms were
    /// accepted), the `default` set first when it is among them.
    pub fn installed(manifest: &Manifest, dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = manifest
            .sets
            .iter()
            .filter(|set| Manifest::licence_accepted(dir, set))
            .filter(|set| {
                set.models(manifest)
                    .is_ok_and(|models| models.iter().all(|m| dir.join(&m.file).is_file()))
            })
            .map(|set| set.name.clone())
            .collect();
        names.sort_by_key(|n| n != DEFAULT_SET);
        names
    }

    /// The installed sets of the default models directory and manifest.
    pub fn installed_by_default() -> Result<Vec<String>, Error> {
        let dir = default_models_dir();
        Ok(Self::installed(&Manifest::builtin()?, &dir))
    }

    /// The default set's engine.
    pub fn default_engine(&self) -> &Arc<Engine> {
        &self.engines[0]
    }

    /// Every loaded engine, the default first.
    pub fn engines(&self) -> &[Arc<Engine>] {
        &self.engines
    }

    /// The engine whose embedder is `model` (`id@version`).
    pub fn for_model(&self, model: &str) -> Option<&Arc<Engine>> {
        self.engines.iter().find(|e| e.model_id() == model)
    }

    /// The engine of the set called `name`.
    pub fn by_name(&self, name: &str) -> Option<&Arc<Engine>> {
        self.engines.iter().find(|e| e.model_set().name == name)
    }

    /// The loaded embedding models, comma-separated (for messages).
    pub fn loaded_models(&self) -> String {
        self.engines
            .iter()
            .map(|e| e.model_id().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The loaded sets, the default first.
    pub fn sets(&self) -> impl Iterator<Item = &ModelSet> {
        self.engines.iter().map(|e| e.model_set())
    }
}

/// One model of a set, as `GET /v1/models` and `facecore models` show it.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct ModelInfo {
    /// Model id.
    pub id: String,
    /// Model version.
    pub version: String,
    /// Its role in the set (`detector`, `landmarks68`, `embedder`).
    pub role: String,
    /// The detector's format, where the manifest says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// File name in the models directory.
    pub file: String,
    /// Pinned sha256 of the file.
    pub sha256: String,
    /// Licence of the weights.
    pub license: String,
    /// The registry package it comes from, `registry:name@version`.
    pub package: String,
}

/// A model set of the manifest, loaded or not.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct SetInfo {
    /// Set name, as `--model-set` takes it.
    pub name: String,
    /// Whether new collections and the stateless calls use it.
    pub default: bool,
    /// Whether this server has it loaded.
    pub loaded: bool,
    /// What it is.
    pub description: String,
    /// Licence of its weights.
    pub license: String,
    /// Whether its weights may be used commercially.
    pub commercial_use: bool,
    /// Terms of a non-commercial set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms: Option<String>,
    /// The embedding model id (`id@version`) collections record.
    pub embedding_model: String,
    /// Length of its embeddings (when loaded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_dim: Option<usize>,
    /// The cosine thresholds behind the scores, measured on labelled data;
    /// `None` for a set with no calibration (the specification's reference
    /// table is used then).
    pub calibration: Option<crate::manifest::Calibration>,
    /// The command that installs it, for a set that is not loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
    /// Its models.
    pub models: Vec<ModelInfo>,
}

impl ModelSets {
    /// Every set of the manifest, the loaded ones first (the default at
    /// the head), each with its models, licence and calibration.
    pub fn describe(&self) -> Result<Vec<SetInfo>, Error> {
        let manifest = self.default_engine().manifest();
        let mut out = Vec::with_capacity(manifest.sets.len());
        let loaded: Vec<&str> = self.sets().map(|s| s.name.as_str()).collect();
        let mut sets: Vec<&ModelSet> = manifest.sets.iter().collect();
        sets.sort_by_key(|s| {
            loaded
                .iter()
                .position(|n| *n == s.name)
                .unwrap_or(usize::MAX)
        });
        for set in sets {
            let engine = self.by_name(&set.name);
            let embedder = set.model(manifest, "embedder")?;
            let mut models = Vec::new();
            for (role, id) in set.roles() {
                let m = manifest.model(id)?;
                let p = manifest.package_of(m)?;
                models.push(ModelInfo {
                    id: m.id.clone(),
                    version: m.version.clone(),
                    role: role.to_string(),
                    kind: m.kind.clone(),
                    file: m.file.clone(),
                    sha256: m.sha256.clone(),
                    license: m.license.clone(),
                    package: format!("{}:{}@{}", p.registry, p.name, p.version),
                });
            }
            out.push(SetInfo {
                name: set.name.clone(),
                default: self.default_engine().model_set().name == set.name,
                loaded: engine.is_some(),
                description: set.description.clone(),
                license: set.license.clone(),
                commercial_use: set.commercial_use,
                terms: set.terms.clone(),
                embedding_model: embedder.tag(),
                embedding_dim: engine.map(|e| e.embedding_dim()),
                calibration: embedder.calibration.clone(),
                install: engine
                    .is_none()
                    .then(|| manifest.fetch_command_for(embedder)),
                models,
            });
        }
        Ok(out)
    }
}
