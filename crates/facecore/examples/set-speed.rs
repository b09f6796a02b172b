//! End-to-end speed of each installed model set: decode, detect, align and
//! embed the dominant face of the first N photos of a labelled set, the
//! sets taking turns, three rounds; prints photos per second per round
//! and the ratio to the `default` set measured in the same round.
//!
//! `cargo run --release -p facecore --example set-speed -- DATA [N]`

use std::time::Instant;

use facecore::{EngineConfig, ModelSets};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = std::path::PathBuf::from(args.next().ok_or("usage: set-speed DATA [N]")?);
    let n: usize = args.next().map_or(Ok(200), |s| s.parse())?;
    let sets = ModelSets::load(EngineConfig::default())?;
    let labels = std::fs::read_to_string(data.join("labels.csv"))?;
    let photos: Vec<Vec<u8>> = labels
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .take(n)
        .map(|(path, _)| std::fs::read(data.join(path)))
        .collect::<Result<_, _>>()?;
    for engine in sets.engines() {
        engine.embed(&photos[0], 1)?; // warm-up
    }
    for round in 1..=3 {
        let mut baseline = None;
        for engine in sets.engines() {
            let t = Instant::now();
            let (mut detect, mut embed) = (0.0, 0.0);
            for p in &photos {
                if let Ok(e) = engine.embed(p, 1) {
                    detect += e.timings.detect.as_secs_f64();
                    embed +=
                        (e.timings.landmarks + e.timings.align + e.timings.embed).as_secs_f64();
                }
            }
            let rate = photos.len() as f64 / t.elapsed().as_secs_f64();
            let base = *baseline.get_or_insert(rate);
            let per = |total: f64| total * 1e3 / photos.len() as f64;
            println!(
                "round {round}: {:<10} {:>6.1} photos/s ({:.2}x default), detect {:.1} ms, \
                 landmarks+align+embed {:.1} ms per photo, {} threads",
                engine.model_set().name,
                rate,
                rate / base,
                per(detect),
                per(embed),
                engine.threads()
            );
        }
    }
    Ok(())
}
