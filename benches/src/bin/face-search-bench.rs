//! `face-search-bench`: 1:N search through the Face Search API of the real
//! server binary on loopback. `POST /face-search` is timed end to end (the
//! request, the pipeline on the photo, the search, the stored thumbnail of
//! the match, the answer) against collections of N persons, beside the
//! pipeline alone on the same photo in this process.
//!
//! ```text
//! face-search-bench <facecore-server binary> [PERSONS...]   (default 1000 100000)
//! ```
//!
//! The persons are written to the data file before the server starts (one
//! face each with a 128-px thumbnail; embeddings drawn at random on the unit
//! sphere, so strangers to the query), 1,000 per transaction. One more
//! person, the query's, is enrolled through `POST /persons` from
//! `fixtures/astronaut.png`, so every search has its match to find; its
//! time includes the first load of the collection's index (which trains
//! the approximate index past 50,000 faces). The same searches are timed
//! again with `check_liveness: true` (the photo is live, so each is checked
//! and then searched): the liveness check's cost through the API.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use facecore::{Engine, EngineConfig};
use facecore_store::{NewFace, PersonRef, Store};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const QUERIES: usize = 40;

fn fixture(name: &str) -> Result<Vec<u8>, BoxError> {
    let path = format!("{}/../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    Ok(std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?)
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// A random direction in `dim` dimensions (a sum of uniforms per axis is
/// close enough to a normal for that).
fn random_unit(state: &mut u64, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim)
        .map(|_| {
            (0..4)
                .map(|_| {
                    *state ^= *state << 13;
                    *state ^= *state >> 7;
                    *state ^= *state << 17;
                    (*state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .sum::<f32>()
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// One `POST` with `x-api-key` on a fresh connection: status and body.
fn post(addr: &str, path: &str, key: &str, body: &str) -> Result<(u16, String), BoxError> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nx-api-key: {key}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn start_server(binary: &PathBuf, data: &std::path::Path) -> Result<(Child, String), BoxError> {
    let mut child = Command::new(binary)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("facecore-server: listening on http://") {
            let addr = rest
                .split_whitespace()
                .next()
                .ok_or("no address")?
                .to_string();
            std::thread::spawn(move || lines.for_each(drop));
            return Ok((child, addr));
        }
    }
    Err("the server exited before listening".into())
}

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(
        args.next()
            .ok_or("usage: face-search-bench <facecore-server> [PERSONS...]")?,
    );
    let sizes: Vec<usize> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![1000, 100_000]
    } else {
        sizes
    };
    let engine = Engine::load(EngineConfig::default())?;
    let photo = fixture("astronaut.png")?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&photo);
    let mut pipeline = Vec::new();
    for _ in 0..QUERIES {
        let t = Instant::now();
        engine.embed(&photo, 1)?;
        pipeline.push(t.elapsed());
    }
    pipeline.sort();
    let thumbnail = {
        let found = engine.embed(&photo, 1)?;
        let decoded = engine.decode(&photo)?;
        let (x, y, w, h) = found.faces[0]
            .face
            .bbox
            .to_pixels(found.width, found.height);
        facecore::image::face_thumbnail(&decoded, (x, y, w, h), facecore::image::THUMBNAIL_SIZE)?
    };
    println!(
        "The pipeline alone on fixtures/astronaut.png in this process: p50 {:.1} ms, p95 {:.1} ms.\n",
        percentile_ms(&pipeline, 0.5),
        percentile_ms(&pipeline, 0.95)
    );
    println!(
        "| persons | POST /face-search p50 | p95 | with check_liveness p50 | p95 | first call (POST /persons, loads the index) | data file |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in sizes {
        let data = std::env::temp_dir().join(format!(
            "facecore-face-search-bench-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data)?;
        let key = {
            let store = Store::open(data.join(facecore_store::DATA_FILE))?;
            let key = store.create_key("bench", None)?.secret;
            store.create_collection("bench", "c", None)?;
            let mut state = 0x5eed_u64 ^ n as u64;
            let mut i = 0;
            while i < n {
                let batch: Vec<NewFace> = (i..(i + 1000).min(n))
                    .map(|j| NewFace {
                        model: engine.model_id().to_string(),
                        embedding: random_unit(&mut state, engine.embedding_dim()),
                        bounding_box: [0, 0, 100, 100],
                        confidence: 0.99,
                        person: Some(PersonRef::Named(format!("stranger {j}"))),
                        thumbnail: Some(thumbnail.clone()),
                        ..NewFace::default()
                    })
                    .collect();
                i += batch.len();
                store.insert_faces("bench", "c", None, batch)?;
            }
            key
        };
        let (mut child, addr) = start_server(&binary, &data)?;
        let t = Instant::now();
        let (status, made) = post(
            &addr,
            "/persons",
            &key,
            &format!(
                r#"{{"collection_name": "c", "person_name": "query", "faces_base_64": ["{b64}"]}}"#
            ),
        )?;
        let first = t.elapsed();
        if status != 201 {
            return Err(format!("POST /persons: {status} {made}").into());
        }
        let made: serde_json::Value = serde_json::from_str(&made)?;
        let time = |liveness: bool| -> Result<Vec<Duration>, BoxError> {
            let body = format!(
                r#"{{"collection_name": "c", "face_base_64": "{b64}", "check_liveness": {liveness}}}"#
            );
            let mut times = Vec::new();
            for _ in 0..QUERIES {
                let t = Instant::now();
                let (status, found) = post(&addr, "/face-search", &key, &body)?;
                times.push(t.elapsed());
                let found: serde_json::Value = serde_json::from_str(&found)?;
                if status != 200 || found[0]["person_id"] != made["person_id"] {
                    return Err(format!("POST /face-search: {status} {found}").into());
                }
            }
            times.sort();
            Ok(times)
        };
        let times = time(false)?;
        let live = time(true)?;
        let _ = child.kill();
        let _ = child.wait();
        let bytes = std::fs::metadata(data.join(facecore_store::DATA_FILE))?.len();
        println!(
            "| {n} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} ms | {:.0} MB |",
            percentile_ms(&times, 0.5),
            percentile_ms(&times, 0.95),
            percentile_ms(&live, 0.5),
            percentile_ms(&live, 0.95),
            first.as_secs_f64() * 1e3,
            bytes as f64 / 1e6
        );
        let _ = std::fs::remove_dir_all(&data);
    }
    Ok(())
}
