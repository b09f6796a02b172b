//! Collections on a real redb file with the real models: what a load of a
//! collection's index reports to its observer.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use facecore::collections::{Collections, FaceDetail};
use facecore::store::ModelSource;
use facecore::store::Store;
use facecore::{Engine, EngineConfig};

/// (account, collection, faces, where the lists came from) per load.
type Loads = Arc<Mutex<Vec<(String, String, usize, ModelSource)>>>;

fn observed(store: &Arc<Store>, engine: &Arc<Engine>, loads: &Loads) -> Collections {
    let loads = Arc::clone(loads);
    Collections::new(Arc::clone(store), Arc::clone(engine)).with_load_observer(
        move |account, id, report| {
            loads.lock().unwrap().push((
                account.to_string(),
                id.to_string(),
                report.faces,
                report.model.clone(),
            ));
        },
    )
}

#[test]
fn every_index_load_is_reported_once() {
    let dir = std::env::temp_dir().join(format!("facecore-loads-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(Store::open(dir.join("facecore.redb")).unwrap());
    store.create_collection("acme", "staff", None).unwrap();
    let engine = Arc::new(Engine::load(EngineConfig::default()).unwrap());
    let photo = std::fs::read(format!(
        "{}/../../fixtures/astronaut.png",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let face = engine.embed(&photo, 1).unwrap().faces.remove(0).embedding;
    let detail = FaceDetail {
        bounding_box: [0, 0, 1, 1],
        confidence: 1.0,
        source: None,
    };

    let loads: Loads = Arc::default();
    let first = observed(&store, &engine, &loads);
    first.index("acme", "staff", &face, detail.clone()).unwrap();
    first.index("acme", "staff", &face, detail).unwrap();
    assert!(first.search("acme", "nobody", &face, 0).is_err());
    // One load: the first use; the second insert and the missing
    // collection load nothing.
    assert_eq!(
        *loads.lock().unwrap(),
        vec![("acme".into(), "staff".into(), 0, ModelSource::Exact)]
    );

    // A restart: the index is loaded again, from the two stored faces.
    drop(first);
    let second = observed(&store, &engine, &loads);
    let found = second.search("acme", "staff", &face, 80).unwrap();
    assert!(found.is_some_and(|m| m.similarity >= 99));
    assert_eq!(
        loads.lock().unwrap()[1],
        ("acme".into(), "staff".into(), 2, ModelSource::Exact)
    );
    drop(second);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
