//! `collection-load [N] [IMAGE_KB]`: how long a restart takes to make a
//! collection of N faces (default 100,000, 512-d) searchable again: reopen
//! the redb file, load the collection's index as the server does (the first
//! load trains and saves the lists of a collection past 50,000 faces; a
//! restart reuses them), answer one search. Also prints the bulk insert
//! rate and the data file size per face.
//!
//! With `IMAGE_KB` > 0 every face also keeps a distinct original image of
//! that size and a 4 KB thumbnail, as the CompreFace dialect stores them:
//! comparing the load times with and without shows what the separate
//! media tables cost a restart.

use std::sync::Arc;
use std::time::Instant;

use facecore_store::collections::CollectionRows;
use facecore_store::index::VectorIndex;
use facecore_store::{ImageBlob, NewFace, Store};

/// The embedding model the faces are tagged with.
const MODEL: &str = "fr_feature@0.0.1";

/// A small deterministic generator (no dependency needed for noise).
struct XorShift(u64);

impl XorShift {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let image_kb: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(0);
    let dim = 512;
    let dir = std::env::temp_dir().join(format!("facecore-collection-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("facecore.redb");
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    {
        let store = Store::open(&path)?;
        store.create_collection("bench", "faces", None)?;
        let started = Instant::now();
        let batch = if image_kb > 0 { 500 } else { 10_000 };
        let mut done = 0;
        while done < n {
            let faces: Vec<NewFace> = (0..batch.min(n - done))
                .map(|_| {
                    let embedding: Vec<f32> = (0..dim).map(|_| rng.next_f32()).collect();
                    let mut media = |len: usize| -> Vec<u8> {
                        (0..len).map(|_| (rng.next_f32() * 255.0) as u8).collect()
                    };
                    let (image, thumbnail) = if image_kb > 0 {
                        (
                            Some(ImageBlob::new(media(image_kb << 10))),
                            Some(media(4 << 10)),
                        )
                    } else {
                        (None, None)
                    };
                    NewFace {
                        model: MODEL.into(),
                        embedding,
                        bounding_box: [10, 20, 100, 120],
                        confidence: 0.99,
                        image,
                        thumbnail,
                        ..NewFace::default()
                    }
                })
                .collect();
            done += faces.len();
            store.insert_faces("bench", "faces", None, faces)?;
            eprintln!("  inserted {done}/{n}");
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "bulk insert: {n} faces with {image_kb} KB images in {secs:.1} s ({:.0} faces/s, batches of {batch})",
            n as f64 / secs
        );
    }
    let size = std::fs::metadata(&path)?.len();
    println!(
        "data file: {:.1} MB ({:.0} bytes/face)",
        size as f64 / 1e6,
        size as f64 / n as f64
    );

    // As the server does: the first load after the import (which trains
    // and saves the lists of a large collection), then a restart.
    let query: Vec<f32> = (0..dim).map(|_| rng.next_f32()).collect();
    for what in ["first load", "restart"] {
        let started = Instant::now();
        let store = Arc::new(Store::open(&path)?);
        let opened = started.elapsed();
        let rows = Arc::new(CollectionRows::new(Arc::clone(&store), "bench", "faces"));
        let (_, index, report) = store
            .load_index("bench", "faces", MODEL, dim, rows)?
            .ok_or("collection missing")?;
        let loaded = started.elapsed();
        let best = index.best(&query)?;
        let searched = started.elapsed();
        println!(
            "{what} with {n} faces: open {:.0} ms, load index {:.0} ms ({}, lists {:?}, training {:.0} ms), first search {:.1} ms; searchable after {:.2} s (best cosine {:.3})",
            opened.as_secs_f64() * 1e3,
            (loaded - opened).as_secs_f64() * 1e3,
            if index.is_approximate() {
                "approximate"
            } else {
                "exact"
            },
            report.model,
            report.train_seconds * 1e3,
            (searched - loaded).as_secs_f64() * 1e3,
            searched.as_secs_f64(),
            best.map_or(f32::NAN, |b| b.1)
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
