//! Every face (up to five) of every labelled photo, with its box,
//! confidence and embedding, as JSON lines: the input of the face-choice
//! analysis of issue 29 (which of a photo's faces the identity's other
//! photos match, against which one the dominance rule picks).
//!
//! `cargo run --release -p facecore --example faces-of-photos -- DATA [SET] > faces.jsonl`
//! with DATA a directory holding `labels.csv` (`path,identity`).

use facecore::{Engine, EngineConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = std::path::PathBuf::from(args.next().ok_or("usage: faces-of-photos DATA [SET]")?);
    let engine = Engine::load(EngineConfig {
        model_set: args.next(),
        ..EngineConfig::default()
    })?;
    let labels = std::fs::read_to_string(data.join("labels.csv"))?;
    for line in labels.lines().skip(1) {
        let Some((path, identity)) = line.split_once(',') else {
            continue;
        };
        let bytes = std::fs::read(data.join(path))?;
        let faces = match engine.embed(&bytes, 5) {
            Ok(e) => e
                .faces
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "box": [f.face.bbox.x, f.face.bbox.y, f.face.bbox.width, f.face.bbox.height],
                        "confidence": f.face.confidence,
                        "embedding": f.embedding.vector,
                    })
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        let (w, h) = image::image_dimensions(data.join(path)).unwrap_or((0, 0));
        println!(
            "{}",
            serde_json::json!({"path": path, "identity": identity, "width": w, "height": h, "faces": faces})
        );
    }
    Ok(())
}
