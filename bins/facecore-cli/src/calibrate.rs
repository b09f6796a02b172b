//! `facecore calibrate`: embeds every image of a labelled data set, scores all
//! pairs and prints (and optionally writes into the model manifest) the
//! cosine thresholds at FPR 1e-3 … 1e-6.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use facecore::Engine;
use facecore::calibrate::{
    CalibrationReport, REPORTED_CONFIDENCE, calibrate, calibrate_with_confidence, pair_scores,
};
use serde::{Deserialize, Serialize};

/// One cached embedding.
#[derive(Serialize, Deserialize)]
struct Cached {
    path: String,
    model: String,
    /// `None` when no face was detected.
    vector: Option<Vec<f32>>,
}

/// The fields of one CSV line: separated by commas, a field in double quotes
/// may hold commas, and `""` inside quotes is one `"`. Fields are trimmed.
pub(crate) fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => fields.push(std::mem::take(&mut field).trim().to_string()),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    fields.push(field.trim().to_string());
    Ok(fields)
}

/// Whether `fields` are the column names `names` (a header line).
pub(crate) fn is_header(fields: &[String], names: &[&str]) -> bool {
    fields
        .iter()
        .zip(names)
        .all(|(f, n)| f.eq_ignore_ascii_case(n))
        && fields.len() >= names.len()
}

pub fn read_labels(data: &Path) -> Result<Vec<(String, String)>> {
    let file = data.join("labels.csv");
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "cannot read {} (expected `path,identity` rows)",
            file.display()
        )
    })?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", file.display(), n + 1);
        let fields = if line.contains('"') {
            csv_fields(line).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?
        } else {
            // Unquoted: the identity is after the last comma, so a path
            // may hold commas as it is.
            let (path, id) = line.rsplit_once(',').unwrap_or((line, ""));
            vec![path.trim().to_string(), id.trim().to_string()]
        };
        if n == 0 && is_header(&fields, &["path", "identity"]) {
            continue;
        }
        let [path, id] = fields.as_slice() else {
            bail!(
                "{}: expected `path,identity`, got {} fields",
                at(),
                fields.len()
            );
        };
        if path.is_empty() || id.is_empty() {
            bail!("{}: expected `path,identity`, with neither empty", at());
        }
        rows.push((path.clone(), id.clone()));
    }
    if rows.is_empty() {
        bail!("{} has no rows", file.display());
    }
    Ok(rows)
}

fn load_cache(path: &Path, model: &str) -> HashMap<String, Option<Vec<f32>>> {
    let Ok(file) = std::fs::File::open(path) else {
        return HashMap::new();
    };
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<Cached>(&l).ok())
        .filter(|c| c.model == model)
        .map(|c| (c.path, c.vector))
        .collect()
}

/// How many cached embeddings are computed again, before the cache is used,
/// to check it was made by this pipeline.
const CACHE_CHECKS: usize = 8;

/// The least cosine between a cached and a fresh embedding of one image for
/// the cache to count as this pipeline's. Arithmetic changes (another
/// summation order in a kernel) move an embedding by about 1e-6 in cosine; a
/// change to detection, alignment or the model moves it far more.
const CACHE_MIN_COSINE: f32 = 0.9999;

/// The embedding of the dominant face of one image of the data set.
fn embed_one(engine: &Engine, data: &Path, path: &str) -> Result<Option<Vec<f32>>> {
    let bytes = std::fs::read(data.join(path))?;
    Ok(engine
        .embed(&bytes, 1)?
        .faces
        .into_iter()
        .next()
        .map(|f| f.embedding.vector))
}

/// Embeds a few cached images again (spread over the data set) and says why
/// the cache does not belong to this pipeline, or `None` when every checked
/// image agrees. The model id alone does not tell: a change to detection or
/// alignment changes the embeddings of the same model. Images that cannot
/// be read now are not checked (the embedding pass reports them).
fn stale_cache(
    engine: &Engine,
    data: &Path,
    labels: &[(String, String)],
    cached: &HashMap<String, Option<Vec<f32>>>,
) -> Option<String> {
    let present: Vec<&str> = labels
        .iter()
        .map(|(path, _)| path.as_str())
        .filter(|path| cached.contains_key(*path))
        .collect();
    let checks = present.len().min(CACHE_CHECKS);
    (0..checks).find_map(|i| {
        let path = present[i * present.len() / checks];
        let fresh = embed_one(engine, data, path).ok()?;
        match (cached.get(path)?, fresh) {
            (None, None) => None,
            (Some(_), None) => Some(format!("{path}: cached with a face, none found now")),
            (None, Some(_)) => Some(format!("{path}: cached without a face, one found now")),
            (Some(old), Some(new)) => {
                let agree = facecore::score::cosine(old, &new).unwrap_or(-1.0);
                (agree < CACHE_MIN_COSINE).then(|| {
                    format!("{path}: cosine {agree:.6} between the cached and a fresh embedding")
                })
            }
        }
    })
}

/// The embeddings of a labelled data set.
pub struct Labelled {
    /// `(path, identity)` rows of labels.csv.
    pub labels: Vec<(String, String)>,
    /// Embedding of the dominant face per path; `None` when no face was found.
    pub vectors: HashMap<String, Option<Vec<f32>>>,
    /// Images that could not be read or decoded, with the reason.
    pub errors: Vec<String>,
}

/// Embeds every image of `data/labels.csv` (in parallel, with progress on
/// stderr), reusing and extending the cache.
pub fn embed_labelled(
    engine: &Engine,
    data: &Path,
    cache: Option<&PathBuf>,
    threads: usize,
) -> Result<Labelled> {
    let labels = read_labels(data)?;
    let model = engine.model_id().to_string();
    let mut cached = cache.map(|c| load_cache(c, &model)).unwrap_or_default();
    let stale = stale_cache(engine, data, &labels, &cached);
    if let (Some(why), Some(c)) = (&stale, cache) {
        eprintln!(
            "the cache {} was made by another pipeline ({why}); embedding every image again",
            c.display()
        );
        cached.clear();
    }
    let todo: Vec<usize> = (0..labels.len())
        .filter(|&i| !cached.contains_key(&labels[i].0))
        .collect();
    eprintln!(
        "{} images in {} ({} cached, {} to embed with {model})",
        labels.len(),
        data.display(),
        labels.len() - todo.len(),
        todo.len()
    );
    let writer = match cache {
        Some(c) => {
            if let Some(dir) = c.parent() {
                std::fs::create_dir_all(dir).ok();
            }
            Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(stale.is_none())
                    .write(true)
                    .truncate(stale.is_some())
                    .open(c)
                    .with_context(|| format!("cannot open cache {}", c.display()))?,
            ))
        }
        None => None,
    };
    let results: Mutex<HashMap<String, Option<Vec<f32>>>> = Mutex::new(cached);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = todo.get(k) else { break };
                    let path = &labels[i].0;
                    match embed_one(engine, data, path) {
                        Ok(v) => {
                            if let Some(w) = &writer {
                                let line = serde_json::to_string(&Cached {
                                    path: path.clone(),
                                    model: model.clone(),
                                    vector: v.clone(),
                                });
                                if let (Ok(line), Ok(mut f)) = (line, w.lock()) {
                                    let _ = writeln!(f, "{line}");
                                }
                            }
                            if let Ok(mut r) = results.lock() {
                                r.insert(path.clone(), v);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut errs) = errors.lock() {
                                errs.push(format!("{path}: {e:#}"));
                            }
                        }
                    }
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_multiple_of(100) || n == todo.len() {
                        let rate = n as f64 / start.elapsed().as_secs_f64().max(1e-9);
                        let left = (todo.len() - n) as f64 / rate.max(1e-9);
                        eprintln!(
                            "  embedded {n}/{} ({:.0} %, {rate:.1} images/s, {left:.0} s left)",
                            todo.len(),
                            100.0 * n as f64 / todo.len() as f64,
                        );
                    }
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap_or_default();
    for e in &errors {
        eprintln!("  skipped {e}");
    }
    let vectors = results.into_inner().unwrap_or_default();
    Ok(Labelled {
        labels,
        vectors,
        errors,
    })
}

/// The images of a data set that have a face, grouped by identity.
pub struct WithFaces<'a> {
    /// Embedding of each image with a face, in labels.csv order.
    pub vectors: Vec<Vec<f32>>,
    /// Path of each of those images.
    pub paths: Vec<&'a str>,
    /// Identity number (0, 1, ...) of each vector.
    pub identities: Vec<usize>,
    /// Number of distinct identities among them.
    pub identity_count: usize,
    /// Paths of the images with no face detected.
    pub no_face: Vec<&'a str>,
}

/// Groups embedded labels by identity; images without a face are listed,
/// unreadable ones (absent from `vectors`) left out.
pub fn with_faces<'a>(
    labels: &'a [(String, String)],
    vectors: &HashMap<String, Option<Vec<f32>>>,
) -> WithFaces<'a> {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut out = WithFaces {
        vectors: Vec::new(),
        paths: Vec::new(),
        identities: Vec::new(),
        identity_count: 0,
        no_face: Vec::new(),
    };
    for (path, id) in labels {
        match vectors.get(path) {
            Some(Some(v)) => {
                let n = ids.len();
                out.identities.push(*ids.entry(id.as_str()).or_insert(n));
                out.vectors.push(v.clone());
                out.paths.push(path.as_str());
            }
            Some(None) => out.no_face.push(path.as_str()),
            None => {}
        }
    }
    out.identity_count = ids.len();
    out
}

/// Runs the calibration; returns the report with a one-line description of
/// the data.
pub fn run(
    engine: &Engine,
    data: &Path,
    cache: Option<&PathBuf>,
    threads: usize,
    confidence: Option<f64>,
) -> Result<(CalibrationReport, String)> {
    let Labelled {
        labels,
        vectors: results,
        errors,
    } = embed_labelled(engine, data, cache, threads)?;
    let WithFaces {
        vectors,
        identities,
        no_face,
        ..
    } = with_faces(&labels, &results);
    eprintln!(
        "{} images with a face, {} without a face{}, {} unreadable",
        vectors.len(),
        no_face.len(),
        if no_face.is_empty() {
            String::new()
        } else {
            format!(" ({})", no_face.join(", "))
        },
        errors.len()
    );
    let t = Instant::now();
    let (genuine, impostor) = pair_scores(&vectors, &identities);
    let report = match confidence {
        Some(c) => calibrate_with_confidence(&genuine, &impostor, c),
        None => calibrate(&genuine, &impostor),
    };
    eprintln!(
        "scored {} pairs in {:.2} s",
        genuine.len() + impostor.len(),
        t.elapsed().as_secs_f64()
    );
    let name = data
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| data.display().to_string());
    let described = format!(
        "{name}: {} images with a face of {} ({} without a face), {} genuine and {} impostor pairs{}",
        vectors.len(),
        labels.len(),
        no_face.len(),
        report.genuine_pairs,
        report.impostor_pairs,
        match confidence {
            Some(c) => format!("; each rate's upper bound at {}% confidence", c * 100.0),
            None => String::new(),
        }
    );
    Ok((report, described))
}

/// Prints the report as a table.
pub fn print(report: &CalibrationReport, described: &str) {
    let confidence = report.confidence.unwrap_or(REPORTED_CONFIDENCE) * 100.0;
    println!("calibration on {described}");
    println!(
        "| score | FPR | cosine threshold | TPR | impostor pairs above | FPR bound ({confidence}%) | reliable |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---|");
    for (p, score) in report.points.iter().zip([70, 80, 90, 95]) {
        println!(
            "| {score} | {:e} | {:.4} | {:.1} % | {} | {:.2e} | {} |",
            p.fpr,
            p.threshold,
            p.tpr * 100.0,
            p.false_positives,
            p.upper_bound,
            match (p.reliable, report.confidence) {
                (true, _) => "yes".to_string(),
                (false, None) => format!(
                    "no: only {:.1} impostor pairs behind this rate (need {})",
                    p.fpr * report.impostor_pairs as f64,
                    facecore::calibrate::MIN_FALSE_POSITIVES
                ),
                (false, Some(_)) => format!(
                    "no: even no match among {} impostor pairs allows more at {confidence}%",
                    report.impostor_pairs
                ),
            }
        );
    }
}

/// Writes the thresholds into the embedder entry of a manifest file,
/// keeping everything else as it is.
/// `model` is the calibrated embedder's tag (`id@version`); its entry, not
/// merely the first embedder, receives the thresholds.
pub fn write_manifest(
    path: &Path,
    model: &str,
    report: &CalibrationReport,
    described: &str,
) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut manifest: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let t = |i: usize| report.points.get(i).map(|p| (p.threshold, p.reliable));
    let (Some((t3, true)), Some((t4, true)), Some((t5, r5))) = (t(0), t(1), t(2)) else {
        bail!("too few impostor pairs for FPR 1e-4: use a larger labelled set");
    };
    if !r5 {
        bail!("too few impostor pairs for FPR 1e-5: use a larger labelled set");
    }
    let t6 = t(3).and_then(|(v, ok)| ok.then_some(v));
    let calibration = facecore::manifest::Calibration {
        fpr_1e3: t3,
        fpr_1e4: t4,
        fpr_1e5: t5,
        fpr_1e6: t6,
        measured_on: described.to_string(),
    };
    calibration.score_map()?; // refuse thresholds that do not make a map
    let models = manifest
        .get_mut("models")
        .and_then(|m| m.as_array_mut())
        .context("the manifest has no `models` list")?;
    let id = model.split('@').next().unwrap_or(model);
    let embedder = models
        .iter_mut()
        .find(|m| {
            m.get("role").and_then(|r| r.as_str()) == Some("embedder")
                && m.get("id").and_then(|r| r.as_str()) == Some(id)
        })
        .with_context(|| format!("the manifest has no embedder `{id}`"))?;
    embedder["calibration"] = serde_json::to_value(&calibration)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&manifest)? + "\n")
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    eprintln!("wrote the calibration into {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Vec<String> {
        match csv_fields(line) {
            Ok(f) => f,
            Err(e) => panic!("{line}: {e}"),
        }
    }

    #[test]
    fn csv_fields_follow_the_quoting_rules() {
        assert_eq!(fields("a.jpg,7"), ["a.jpg", "7"]);
        assert_eq!(fields(" a.jpg , 7 "), ["a.jpg", "7"]);
        assert_eq!(fields("\"x, y.jpg\",7"), ["x, y.jpg", "7"]);
        assert_eq!(
            fields("\"say \"\"hi\"\".jpg\",b,1"),
            ["say \"hi\".jpg", "b", "1"]
        );
        assert_eq!(fields("a,,b"), ["a", "", "b"]);
        assert_eq!(fields("a,"), ["a", ""]);
        assert_eq!(
            fields("it\"s.jpg,3"),
            ["it\"s.jpg", "3"],
            "a quote inside a field"
        );
        assert!(csv_fields("\"open,7").is_err());
        assert!(is_header(&fields("Path,Identity"), &["path", "identity"]));
        assert!(is_header(&fields("a,b,same,fold"), &["a", "b", "same"]));
        assert!(!is_header(&fields("a.jpg,7"), &["path", "identity"]));
        assert!(!is_header(&fields("a,b"), &["a", "b", "same"]));
    }

    #[test]
    fn labels_may_omit_the_header_and_quote_paths() {
        let dir = std::env::temp_dir().join(format!("facecore-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let read = |text: &str| {
            std::fs::write(dir.join("labels.csv"), text).unwrap_or_else(|e| panic!("{e}"));
            read_labels(&dir).map_err(|e| e.to_string())
        };
        let rows = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            read("path,identity\na.jpg,1\n"),
            Ok(rows(&[("a.jpg", "1")]))
        );
        // No header: the first row is data, not dropped.
        assert_eq!(
            read("a.jpg,1\n\nb.jpg,2\n"),
            Ok(rows(&[("a.jpg", "1"), ("b.jpg", "2")]))
        );
        assert_eq!(
            read("\"x, y.jpg\",1\nold, style.jpg,2\n"),
            Ok(rows(&[("x, y.jpg", "1"), ("old, style.jpg", "2")]))
        );
        for bad in ["a.jpg\n", "a.jpg,\n", "\"a.jpg,1\n", "path,identity\n"] {
            let err = read(bad).expect_err(bad);
            assert!(err.contains("labels.csv"), "{bad}: {err}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
