//! How often a stranger matches somebody in a 1:N search, measured on
//! labelled photos against the calibration's prediction
//! (`facecore::false_match::search_rate`).
//!
//! Every photo of `DIR/labels.csv` (`path,identity`) is embedded once. Each
//! photo then plays a stranger: galleries of N faces are drawn (seeded) from
//! the photos of *other* identities, and the search counts as a false match
//! when the best face of the gallery reaches the score. The printed table
//! puts the measured share beside 1 − (1 − p)^N.
//!
//! ```sh
//! cargo run -p facecore --example stranger-rate -- ../shared/data/faces-dev
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use facecore::{Engine, EngineConfig, false_match};

/// Gallery sizes measured.
const SIZES: [usize; 5] = [10, 100, 300, 1000, 2000];
/// Scores measured, with their per-comparison rates.
const SCORES: [(i32, f64); 3] = [(70, 1e-3), (80, 1e-4), (90, 1e-5)];
/// Galleries drawn per stranger photo and size.
const DRAWS: usize = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: stranger-rate DIR (with labels.csv)")?,
    );
    let labels = std::fs::read_to_string(dir.join("labels.csv"))?;
    let engine = Engine::load(EngineConfig::default())?;
    let mut vectors: Vec<(String, Vec<f32>)> = Vec::new();
    let rows: Vec<(String, String)> = labels
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(p, i)| (p.to_string(), i.to_string()))
        .collect();
    for (n, (path, identity)) in rows.iter().enumerate() {
        let bytes = std::fs::read(dir.join(path))?;
        if let Ok(found) = engine.embed(&bytes, 1)
            && let Some(face) = found.faces.first()
        {
            vectors.push((identity.clone(), face.embedding.vector.clone()));
        }
        if n % 200 == 0 {
            eprintln!("embedded {n} of {}", rows.len());
        }
    }
    let thresholds: Vec<f32> = SCORES
        .iter()
        .map(|(s, _)| engine.score_map().threshold(*s))
        .collect();
    let mut state = 0x5eed_5eed_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // (size, score index) -> (false matches, searches)
    let mut counts: BTreeMap<(usize, usize), (u64, u64)> = BTreeMap::new();
    for (identity, probe) in &vectors {
        let others: Vec<&Vec<f32>> = vectors
            .iter()
            .filter(|(i, _)| i != identity)
            .map(|(_, v)| v)
            .collect();
        for &size in SIZES.iter().filter(|&&s| s <= others.len()) {
            for _ in 0..DRAWS {
                // A partial Fisher–Yates draw of `size` distinct faces.
                let mut order: Vec<usize> = (0..others.len()).collect();
                let mut best = f32::NEG_INFINITY;
                for k in 0..size {
                    let j = k + (next() as usize) % (order.len() - k);
                    order.swap(k, j);
                    let cosine = facecore::score::cosine_unit(probe, others[order[k]]);
                    best = best.max(cosine);
                }
                for (t, threshold) in thresholds.iter().enumerate() {
                    let entry = counts.entry((size, t)).or_default();
                    entry.1 += 1;
                    if best >= *threshold {
                        entry.0 += 1;
                    }
                }
            }
        }
    }
    println!(
        "{} photos embedded, {DRAWS} galleries per stranger photo and size\n",
        vectors.len()
    );
    println!("| faces | score | measured | searches | predicted 1 − (1 − p)^N |");
    println!("|---:|---:|---:|---:|---:|");
    for ((size, t), (hits, searches)) in counts {
        let (score, rate) = SCORES[t];
        println!(
            "| {size} | {:.2} | {:.2} % | {searches} | {:.2} % |",
            f64::from(score) / 100.0,
            100.0 * hits as f64 / searches as f64,
            100.0 * false_match::search_rate(rate, size as u64)
        );
    }
    Ok(())
}
