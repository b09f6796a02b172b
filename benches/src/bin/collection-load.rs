//! `collection-load [N]`: how long a restart takes to make a collection of N
//! faces (default 100,000, 512-d) searchable again: reopen the redb file,
//! read every face, build the exact index, answer one search. Also prints the
//! bulk insert rate and the data file size per face.

use std::time::Instant;

use facecore::store::index::{ExactIndex, VectorIndex};
use facecore::store::{NewFace, Store};

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
    let dim = 512;
    let dir = std::env::temp_dir().join(format!("facecore-collection-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("facecore.redb");
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    {
        let store = Store::open(&path)?;
        store.create_collection("bench", "faces", None)?;
        let started = Instant::now();
        let batch = 10_000;
        let mut done = 0;
        while done < n {
            let faces: Vec<NewFace> = (0..batch.min(n - done))
                .map(|_| NewFace {
                    model: "fr_feature@0.0.1".into(),
                    embedding: (0..dim).map(|_| rng.next_f32()).collect(),
                    bounding_box: [10, 20, 100, 120],
                    confidence: 0.99,
                    source: None,
                })
                .collect();
            done += faces.len();
            store.insert_faces("bench", "faces", None, faces)?;
            eprintln!("  inserted {done}/{n}");
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "bulk insert: {n} faces in {secs:.1} s ({:.0} faces/s, batches of {batch})",
            n as f64 / secs
        );
    }
    let size = std::fs::metadata(&path)?.len();
    println!(
        "data file: {:.1} MB ({:.0} bytes/face)",
        size as f64 / 1e6,
        size as f64 / n as f64
    );

    let started = Instant::now();
    let store = Store::open(&path)?;
    let opened = started.elapsed();
    let (_, faces) = store
        .collection_faces("bench", "faces")?
        .ok_or("collection missing")?;
    let read = started.elapsed();
    let mut index = ExactIndex::new(dim);
    for face in &faces {
        index.insert(&face.face_id, &face.embedding)?;
    }
    let built = started.elapsed();
    let query: Vec<f32> = (0..dim).map(|_| rng.next_f32()).collect();
    let best = index.best(&query)?;
    let searched = started.elapsed();
    println!(
        "restart with {n} faces: open {:.0} ms, read faces {:.0} ms, build index {:.0} ms, first search {:.1} ms; searchable after {:.2} s (best cosine {:.3})",
        opened.as_secs_f64() * 1e3,
        (read - opened).as_secs_f64() * 1e3,
        (built - read).as_secs_f64() * 1e3,
        (searched - built).as_secs_f64() * 1e3,
        searched.as_secs_f64(),
        best.map_or(f32::NAN, |b| b.1)
    );
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
