//! Times `Engine::embed(bytes, 10)` in-process on given photos and records
//! what it returned, so that a pipeline change can be checked for speed and
//! for identical results in one go:
//!
//! ```text
//! cargo run --release -p facecore-benches --example embed-timing -- \
//!     [--calls 50] [--runs 3] [--save out.json] [--check before.json] PHOTO...
//! ```
//!
//! For each photo it prints the median milliseconds per call of each run
//! (after three warm-up calls) and the median of those runs. `--save` writes
//! every face's box, confidence, landmarks and embedding as JSON; `--check`
//! compares them with such a file (boxes and landmarks equal, embeddings
//! within 1e-6) and fails on any difference.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use facecore::{Embeddings, Engine, EngineConfig};
use serde_json::{Value, json};

/// The allocator of the shipped binaries, so that the figures are theirs
/// (see `stage-report`: glibc's malloc made the detector's first layers
/// slower in some runs).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Faces asked for per call: more than any of the test photos has.
const MAX_FACES: usize = 10;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

/// What a call returned, as JSON (every `f32` is written exactly, as an
/// `f64`).
fn results(e: &Embeddings) -> Value {
    let faces: Vec<Value> = e
        .faces
        .iter()
        .map(|f| {
            let b = f.face.bbox;
            json!({
                "bbox": [b.x, b.y, b.width, b.height],
                "confidence": f.face.confidence,
                "landmarks": f.face.landmarks.iter().flatten().collect::<Vec<_>>(),
                "raw_norm": f.embedding.raw_norm,
                "embedding": f.embedding.vector,
            })
        })
        .collect();
    json!({ "width": e.width, "height": e.height, "unprocessed": e.unprocessed, "faces": faces })
}

/// A recorded number or array of numbers as the `f32`s it was written
/// from: serde_json's parser may be off by an `f64` ulp, never by an `f32` one.
fn as_f32s(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(a) => a.iter().flat_map(as_f32s).collect(),
        Value::Object(m) => m.values().flat_map(as_f32s).collect(),
        other => other.as_f64().map(|x| x as f32).into_iter().collect(),
    }
}

/// Differences between two recorded results of one photo.
fn differences(name: &str, got: &Value, want: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let (gf, wf) = (got["faces"].as_array(), want["faces"].as_array());
    let (Some(gf), Some(wf)) = (gf, wf) else {
        return vec![format!("{name}: no faces array")];
    };
    if gf.len() != wf.len() || got["unprocessed"] != want["unprocessed"] {
        out.push(format!(
            "{name}: {} faces ({} left out), expected {} ({})",
            gf.len(),
            got["unprocessed"],
            wf.len(),
            want["unprocessed"]
        ));
        return out;
    }
    for (i, (g, w)) in gf.iter().zip(wf).enumerate() {
        for key in ["bbox", "confidence", "landmarks", "raw_norm"] {
            if as_f32s(&g[key]) != as_f32s(&w[key]) {
                out.push(format!("{name} face {i}: {key} {} vs {}", g[key], w[key]));
            }
        }
        let vec = |v: &Value| -> Vec<f64> {
            v["embedding"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default()
        };
        let (gv, wv) = (vec(g), vec(w));
        let worst = gv
            .iter()
            .zip(&wv)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f64, f64::max);
        if gv.len() != wv.len() || worst > 1e-6 {
            out.push(format!("{name} face {i}: embedding differs by {worst:e}"));
        }
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut calls = 50;
    let mut runs = 3;
    let mut save = None;
    let mut check = None;
    let mut photos = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--calls" => calls = args.next().ok_or("--calls N")?.parse()?,
            "--runs" => runs = args.next().ok_or("--runs N")?.parse()?,
            "--save" => save = Some(args.next().ok_or("--save FILE")?),
            "--check" => check = Some(args.next().ok_or("--check FILE")?),
            _ => photos.push(a),
        }
    }
    let engine = Engine::load(EngineConfig::default())?;
    println!("threads: {}", engine.threads());
    let mut recorded = serde_json::Map::new();
    for path in &photos {
        let bytes = std::fs::read(path)?;
        let name = std::path::Path::new(path)
            .file_name()
            .map_or(path.clone(), |n| n.to_string_lossy().into_owned());
        let first = engine.embed(&bytes, MAX_FACES)?;
        for _ in 0..2 {
            engine.embed(&bytes, MAX_FACES)?;
        }
        let mut medians = Vec::new();
        for _ in 0..runs {
            let mut times = Vec::with_capacity(calls);
            for _ in 0..calls {
                let t = Instant::now();
                let e = engine.embed(&bytes, MAX_FACES)?;
                times.push(t.elapsed());
                std::hint::black_box(e);
            }
            medians.push(median(times));
        }
        let mut sorted = medians.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "{name}: {} faces, ms/call per run {:?}, median {:.2}",
            first.faces.len(),
            medians
                .iter()
                .map(|m| format!("{m:.2}"))
                .collect::<Vec<_>>(),
            sorted[sorted.len() / 2]
        );
        recorded.insert(name, results(&first));
    }
    let recorded = Value::Object(recorded);
    if let Some(file) = save {
        std::fs::write(&file, serde_json::to_string(&recorded)?)?;
    }
    if let Some(file) = check {
        let want: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
        let mut diffs = Vec::new();
        for (name, got) in recorded.as_object().into_iter().flatten() {
            diffs.extend(differences(name, got, &want[name]));
        }
        if !diffs.is_empty() {
            return Err(diffs.join("\n").into());
        }
        let exact = recorded
            .as_object()
            .into_iter()
            .flatten()
            .all(|(name, got)| as_f32s(&got["faces"]) == as_f32s(&want[name]["faces"]));
        println!("results identical to {file} (embeddings bit for bit: {exact})");
    }
    Ok(())
}
