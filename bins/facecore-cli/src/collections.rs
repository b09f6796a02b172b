//! `facecore collections ...`, `facecore index` and `facecore search`: face
//! collections in the data file the server uses.
//!
//! These open the data file themselves. redb lets one process hold the file,
//! so while a server runs on the same data directory they stop with a message
//! that says so (use the server's HTTP API then, or stop it first).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use facecore::Engine;
use facecore::collections::{Collections, FaceDetail};
use facecore::store::{Collection, DATA_FILE, Store, StoreError, time::format_utc};
use serde_json::json;
use sha2::Digest as _;

/// File extensions `facecore index` picks up in directories.
const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff", "ico",
];

/// The collection `facecore index` and `facecore search` work on.
#[derive(Debug, Args)]
pub struct Target {
    /// The collection.
    #[arg(long)]
    pub collection: String,
    /// The account that owns it.
    #[arg(long, default_value = "default")]
    pub account: String,
    /// The server's data directory.
    #[arg(long, env = "FACECORE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

/// Collection management.
#[derive(Debug, Subcommand)]
pub enum CollectionsAction {
    /// Create a collection.
    Create {
        /// Collection id (1 to 512 characters).
        id: String,
        /// Optional description (at most 1024 characters).
        #[arg(long)]
        description: Option<String>,
    },
    /// List the account's collections.
    List,
    /// Show one collection.
    Get {
        /// Collection id.
        id: String,
    },
    /// Set a collection's description (`--description ""` clears it), as
    /// the API's `collection/update` does.
    Update {
        /// Collection id.
        id: String,
        /// New description; without it the description is left as it is.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a collection and its faces (no error when it does not exist).
    Delete {
        /// Collection id.
        id: String,
    },
}

/// Opens the store of `data_dir`, explaining the one case users hit: a
/// server holding it.
pub fn open_store(data_dir: &Path, create: bool) -> Result<Store> {
    let path = data_dir.join(DATA_FILE);
    if !create && !path.exists() {
        bail!(
            "no data file at {} (is --data-dir right? the server's default is ./data)",
            path.display()
        );
    }
    match Store::open(&path) {
        Err(StoreError::InUse { .. }) => bail!(
            "a facecore server is running on {} and holds its data file; use the server's HTTP API \
             (/v1/collection/..., /v1/face/...) or stop the server first",
            data_dir.display()
        ),
        other => Ok(other?),
    }
}

fn view(c: &Collection) -> serde_json::Value {
    json!({
        "collectionId": c.collection_id,
        "description": c.description,
        "createdAt": format_utc(c.created_at),
        "updatedAt": format_utc(c.updated_at),
        "faceCount": c.face_count,
    })
}

/// Runs a collections command and prints JSON.
pub fn collections(action: &CollectionsAction, account: &str, data_dir: &Path) -> Result<()> {
    let store = open_store(data_dir, matches!(action, CollectionsAction::Create { .. }))?;
    let out = match action {
        CollectionsAction::Create { id, description } => {
            view(&store.create_collection(account, id, description.as_deref())?)
        }
        CollectionsAction::List => json!({
            "collections": store.list_collections(account)?.iter().map(view).collect::<Vec<_>>()
        }),
        CollectionsAction::Get { id } => view(
            &store
                .collection(account, id)?
                .ok_or_else(|| StoreError::CollectionNotFound(id.clone()))?,
        ),
        CollectionsAction::Update { id, description } => {
            view(&store.update_collection(account, id, description.as_deref())?)
        }
        CollectionsAction::Delete { id } => {
            json!({"collectionId": id, "deleted": store.delete_collection(account, id)?})
        }
    };
    println!("{out}");
    Ok(())
}

/// Image files under `paths` (directories are walked), sorted.
fn image_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(path) = stack.pop() {
        let meta =
            std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)
                .with_context(|| format!("cannot list {}", path.display()))?
            {
                let entry = entry?.path();
                let is_image = entry
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
                if entry.is_dir() || is_image {
                    stack.push(entry);
                }
            }
        } else {
            out.push(path);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(bytes)
}

#[derive(Default)]
struct Tally {
    indexed: AtomicUsize,
    already: AtomicUsize,
    no_face: AtomicUsize,
    failed: AtomicUsize,
}

/// `facecore index`: the dominant face of every image into a collection, in
/// parallel, resumable (a file already indexed, by content hash, is skipped
/// without running the models).
pub fn index(engine: Arc<Engine>, target: &Target, paths: &[PathBuf]) -> Result<()> {
    let (account, collection) = (target.account.as_str(), target.collection.as_str());
    let store = Arc::new(open_store(&target.data_dir, false)?);
    if store.collection(account, collection)?.is_none() {
        bail!(
            "collection '{collection}' does not exist; create it with `facecore collections create {collection}`"
        );
    }
    let files = image_files(paths)?;
    let collections = Collections::new(Arc::clone(&store), Arc::clone(&engine));
    let tally = Tally::default();
    let next = AtomicUsize::new(0);
    let errors = Mutex::new(Vec::new());
    let started = Instant::now();
    let last_report = Mutex::new(Instant::now());
    eprintln!(
        "indexing {} files into '{collection}' with {} threads",
        files.len(),
        engine.threads()
    );
    std::thread::scope(|s| {
        for _ in 0..engine.threads().max(1) {
            s.spawn(|| {
                while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    match index_one(&engine, &collections, &store, account, collection, path) {
                        Ok(Outcome::Indexed) => tally.indexed.fetch_add(1, Ordering::Relaxed),
                        Ok(Outcome::Already) => tally.already.fetch_add(1, Ordering::Relaxed),
                        Ok(Outcome::NoFace) => tally.no_face.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            if let Ok(mut errors) = errors.lock() {
                                errors.push(format!("{}: {e:#}", path.display()));
                            }
                            tally.failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    report(&tally, files.len(), started, &last_report, false);
                }
            });
        }
    });
    report(&tally, files.len(), started, &last_report, true);
    let seconds = started.elapsed().as_secs_f64();
    let errors = errors.into_inner().unwrap_or_default();
    for e in &errors {
        eprintln!("  error: {e}");
    }
    println!(
        "{}",
        json!({
            "collectionId": collection,
            "files": files.len(),
            "indexed": tally.indexed.load(Ordering::Relaxed),
            "alreadyIndexed": tally.already.load(Ordering::Relaxed),
            "noFace": tally.no_face.load(Ordering::Relaxed),
            "errors": errors.len(),
            "seconds": (seconds * 10.0).round() / 10.0,
            "filesPerSecond": (files.len() as f64 / seconds.max(1e-9) * 10.0).round() / 10.0,
            "peakRssMb": peak_rss_mb(),
        })
    );
    Ok(())
}

/// This process's peak resident memory in MB (`VmHWM`; Linux only, `None`
/// elsewhere), so that a bulk import says what it needed.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

enum Outcome {
    Indexed,
    Already,
    NoFace,
}

fn index_one(
    engine: &Engine,
    collections: &Collections,
    store: &Store,
    account: &str,
    collection: &str,
    path: &Path,
) -> Result<Outcome> {
    let bytes = read_file(path)?;
    let digest = sha2::Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let source = format!("sha256:{hex}");
    if store
        .face_by_source(account, collection, &source)?
        .is_some()
    {
        return Ok(Outcome::Already);
    }
    let embeddings = engine.embed(&bytes, 1)?;
    let Some(face) = embeddings.faces.into_iter().next() else {
        return Ok(Outcome::NoFace);
    };
    let (x, y, w, h) = face
        .face
        .bbox
        .to_pixels(embeddings.width, embeddings.height);
    collections.index(
        account,
        collection,
        &face.embedding,
        FaceDetail {
            bounding_box: [x, y, w, h],
            confidence: face.face.confidence,
            source: Some(source),
        },
    )?;
    Ok(Outcome::Indexed)
}

/// Progress on stderr about once a second: done/total, rate, ETA.
fn report(tally: &Tally, total: usize, started: Instant, last: &Mutex<Instant>, last_line: bool) {
    let Ok(mut last) = last.lock() else { return };
    if !last_line && last.elapsed().as_secs_f64() < 1.0 {
        return;
    }
    *last = Instant::now();
    let indexed = tally.indexed.load(Ordering::Relaxed);
    let already = tally.already.load(Ordering::Relaxed);
    let no_face = tally.no_face.load(Ordering::Relaxed);
    let failed = tally.failed.load(Ordering::Relaxed);
    let done = indexed + already + no_face + failed;
    let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let eta = (total - done.min(total)) as f64 / rate.max(1e-9);
    eprintln!(
        "  {done}/{total}: {indexed} indexed, {already} already there, {no_face} without a face, {failed} errors; {rate:.1} files/s, ETA {eta:.0} s"
    );
}

/// `facecore search`: the best match of an image's dominant face.
pub fn search(engine: Arc<Engine>, target: &Target, image: &Path, threshold: i32) -> Result<()> {
    let store = Arc::new(open_store(&target.data_dir, false)?);
    let collections = Collections::new(store, Arc::clone(&engine));
    let embeddings = engine.embed(&read_file(image)?, 1)?;
    let Some(face) = embeddings.faces.into_iter().next() else {
        println!("{}", json!({"hasFace": false, "faceId": null}));
        return Ok(());
    };
    let found = collections.search(
        &target.account,
        &target.collection,
        &face.embedding,
        threshold,
    )?;
    println!(
        "{}",
        json!({
            "hasFace": true,
            "faceId": found.as_ref().map(|m| m.face_id.clone()),
            "similarity": found.as_ref().map(|m| m.similarity),
            "cosine": found.as_ref().map(|m| m.cosine),
        })
    );
    Ok(())
}
