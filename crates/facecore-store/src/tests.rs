use super::*;
use crate::keys::{KEY_ID_LEN, KEY_SECRET_LEN};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

/// Deterministic, well spread values in `[-0.5, 0.5)` (xorshift).
pub(crate) fn uniform(seed: u64) -> impl FnMut() -> f32 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("data").join("facecore.redb")).expect("open");
    (dir, store)
}

#[test]
fn created_key_authenticates_to_its_account() {
    let (_dir, store) = temp_store();
    let key = store.create_key("acme", Some("ci")).expect("create");
    assert!(key.secret.starts_with("fc_"));
    assert_eq!(key.secret.len(), 3 + KEY_ID_LEN + 1 + KEY_SECRET_LEN);
    let account = store.authenticate(&key.secret).expect("valid");
    assert_eq!(account.name, "acme");
    assert!(account.is_active());
    assert_eq!(store.list_accounts().expect("list").len(), 1);
}

#[test]
fn secret_is_not_stored() {
    let (dir, store) = temp_store();
    let key = store.create_key("acme", None).expect("create");
    drop(store);
    let secret_part = key.secret.rsplit('_').next().expect("secret");
    let file = std::fs::read(dir.path().join("data").join("facecore.redb")).expect("read");
    let found = file
        .windows(secret_part.len())
        .any(|w| w == secret_part.as_bytes());
    assert!(!found, "the key's secret must not be in the data file");
}

#[test]
fn wrong_and_malformed_keys_are_invalid() {
    let (_dir, store) = temp_store();
    let key = store.create_key("acme", None).expect("create");
    let mut tampered = key.secret.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(tampered).expect("utf8");
    for bad in [
        tampered.as_str(),
        "",
        "fc_",
        "fc_short_secret",
        "not-a-key",
        &key.secret[..key.secret.len() - 1],
        &format!("{}x", key.secret),
        &key.secret.to_uppercase(),
    ] {
        assert!(
            matches!(store.authenticate(bad), Err(AuthError::InvalidKey)),
            "{bad:?} must be refused"
        );
    }
}

#[test]
fn revoked_key_stops_working_and_others_do_not() {
    let (_dir, store) = temp_store();
    let a = store.create_key("acme", None).expect("a");
    let b = store.create_key("acme", None).expect("b");
    let revoked = store.revoke_key(&a.info.id).expect("revoke");
    assert!(revoked.revoked_at.is_some());
    assert!(matches!(
        store.authenticate(&a.secret),
        Err(AuthError::InvalidKey)
    ));
    assert!(store.authenticate(&b.secret).is_ok());
    // Revoking by the whole key works too, and twice is fine.
    store.revoke_key(&b.secret).expect("revoke by key");
    store.revoke_key(&b.info.id).expect("again");
    assert!(matches!(
        store.authenticate(&b.secret),
        Err(AuthError::InvalidKey)
    ));
    assert_eq!(store.active_key_count().expect("count"), 0);
    assert!(matches!(
        store.revoke_key("zzzzzzzzzzzz"),
        Err(StoreError::KeyNotFound(_))
    ));
}

#[test]
fn disabled_and_deleted_accounts_are_refused_distinctly() {
    let (_dir, store) = temp_store();
    let key = store.create_key("acme", None).expect("create");
    store.set_account_disabled("acme", true).expect("disable");
    assert!(matches!(
        store.authenticate(&key.secret),
        Err(AuthError::AccountDisabled(_))
    ));
    store.set_account_disabled("acme", false).expect("enable");
    assert!(store.authenticate(&key.secret).is_ok());
    store.delete_account("acme").expect("delete");
    assert!(matches!(
        store.authenticate(&key.secret),
        Err(AuthError::AccountNotFound(_))
    ));
    // Names of deleted accounts are not reused, not even through a new key.
    assert!(matches!(
        store.create_key("acme", None),
        Err(StoreError::AccountDeleted(_))
    ));
    assert!(matches!(
        store.create_account("acme"),
        Err(StoreError::AccountDeleted(_))
    ));
}

#[test]
fn list_keys_filters_by_account() {
    let (_dir, store) = temp_store();
    store.create_key("a", None).expect("a1");
    store.create_key("a", None).expect("a2");
    store.create_key("b", None).expect("b1");
    assert_eq!(store.list_keys(None).expect("all").len(), 3);
    assert_eq!(store.list_keys(Some("a")).expect("a").len(), 2);
    assert_eq!(store.list_keys(Some("c")).expect("c").len(), 0);
}

#[test]
fn account_names_are_validated() {
    let (_dir, store) = temp_store();
    for bad in [
        "",
        "has space",
        "slash/x",
        "new\nline",
        &"x".repeat(65),
        "ümlaut",
    ] {
        assert!(
            matches!(store.create_key(bad, None), Err(StoreError::Invalid { .. })),
            "{bad:?}"
        );
    }
    store.create_account("ok.name_1-2").expect("valid name");
    assert!(store.create_account("ok.name_1-2").is_err(), "duplicate");
    assert!(matches!(
        store.create_key("x", Some("bad\u{7}label")),
        Err(StoreError::Invalid { field: "label", .. })
    ));
}

#[test]
fn keys_survive_reopen_and_second_open_is_in_use() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("facecore.redb");
    let key = {
        let store = Store::open(&path).expect("open");
        let key = store.create_key("acme", None).expect("create");
        assert!(matches!(Store::open(&path), Err(StoreError::InUse { .. })));
        key
    };
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.authenticate(&key.secret).expect("valid").name, "acme");
}

#[test]
fn random_ids_are_distinct_and_in_alphabet() {
    let ids: std::collections::HashSet<String> = (0..1000)
        .map(|_| random_base32(KEY_SECRET_LEN).expect("random"))
        .collect();
    assert_eq!(ids.len(), 1000);
    assert!(ids.iter().all(|s| s.bytes().all(|b| BASE32.contains(&b))));
}

#[test]
fn generation_changes_on_every_write_only() {
    let (_dir, store) = temp_store();
    let g0 = store.generation();
    let key = store.create_key("acme", None).expect("create");
    let g1 = store.generation();
    assert_ne!(g0, g1);
    store.authenticate(&key.secret).expect("valid");
    store.list_keys(None).expect("list");
    assert_eq!(store.generation(), g1, "reads do not change it");
    store.revoke_key(&key.info.id).expect("revoke");
    assert_ne!(store.generation(), g1);
}

fn face(v: f32) -> NewFace {
    NewFace {
        model: "m@1".into(),
        embedding: vec![v, 1.0, 0.5],
        bounding_box: [1, 2, 3, 4],
        confidence: 0.9,
        source: None,
        ..NewFace::default()
    }
}

#[test]
fn collections_are_per_account_and_validated() {
    let (_dir, store) = temp_store();
    store
        .create_collection("a", "people", Some("staff"))
        .expect("create");
    assert!(matches!(
        store.create_collection("a", "people", None),
        Err(StoreError::CollectionExists(_))
    ));
    store
        .create_collection("b", "people", None)
        .expect("same id, other account");
    assert_eq!(store.list_collections("a").expect("list").len(), 1);
    assert!(store.collection("c", "people").expect("get").is_none());
    let set = store
        .update_collection("a", "people", Some("staff"))
        .expect("update");
    assert_eq!(set.description.as_deref(), Some("staff"));
    let kept = store
        .update_collection("a", "people", None)
        .expect("update");
    assert_eq!(kept.description.as_deref(), Some("staff"), "None leaves it");
    let cleared = store
        .update_collection("a", "people", Some(""))
        .expect("update");
    assert_eq!(cleared.description, None);
    assert_eq!(
        store
            .collection("a", "people")
            .expect("get")
            .expect("there")
            .description,
        None
    );
    assert!(matches!(
        store.update_collection("a", "nobody", None),
        Err(StoreError::CollectionNotFound(_))
    ));
    for bad in ["", "tab\there", &"x".repeat(513)] {
        assert!(matches!(
            store.create_collection("a", bad, None),
            Err(StoreError::Invalid {
                field: "collectionId",
                ..
            })
        ));
    }
    assert!(matches!(
        store.create_collection("a", "x", Some(&"d".repeat(1025))),
        Err(StoreError::Invalid {
            field: "description",
            ..
        })
    ));
    // Ids that look like paths or SQL are just ids.
    store
        .create_collection("a", "../../etc'; DROP TABLE x;--", None)
        .expect("odd id");
}

#[test]
fn faces_round_trip_and_go_with_their_collection() {
    let (dir, store) = temp_store();
    let c = store
        .create_collection("a", "people", None)
        .expect("create");
    let f1 = store
        .insert_face("a", "people", Some(&c.incarnation), face(0.1))
        .expect("f1");
    let f2 = store
        .insert_face("a", "people", None, face(0.2))
        .expect("f2");
    assert!(f1.face_id.starts_with("face_") && f1.face_id.len() == 25);
    assert_ne!(f1.face_id, f2.face_id);
    // A face id from another collection or account is not found.
    store.create_collection("a", "other", None).expect("other");
    assert!(matches!(
        store.delete_face("a", "other", &f1.face_id),
        Err(StoreError::FaceNotFound(_))
    ));
    assert!(matches!(
        store.insert_face("b", "people", None, face(0.3)),
        Err(StoreError::CollectionNotFound(_))
    ));
    store
        .delete_face("a", "people", &f2.face_id)
        .expect("delete");
    drop(store);
    let store = Store::open(dir.path().join("data").join("facecore.redb")).expect("reopen");
    let (collection, faces) = store
        .collection_faces("a", "people")
        .expect("read")
        .expect("exists");
    assert_eq!(collection.face_count, 1);
    assert_eq!(faces.len(), 1);
    assert_eq!(faces[0].face_id, f1.face_id);
    assert_eq!(faces[0].embedding, vec![0.1, 1.0, 0.5]);
    assert_eq!(faces[0].bounding_box, [1, 2, 3, 4]);
    // Deleting the collection deletes its faces; a re-created collection
    // starts empty and refuses writes aimed at the old incarnation.
    assert!(store.delete_collection("a", "people").expect("delete"));
    assert!(!store.delete_collection("a", "people").expect("idempotent"));
    let again = store
        .create_collection("a", "people", None)
        .expect("re-create");
    assert_eq!(
        store
            .collection_faces("a", "people")
            .expect("read")
            .expect("exists")
            .1
            .len(),
        0
    );
    assert!(matches!(
        store.insert_face("a", "people", Some(&c.incarnation), face(0.4)),
        Err(StoreError::CollectionNotFound(_))
    ));
    store
        .insert_face("a", "people", Some(&again.incarnation), face(0.4))
        .expect("new incarnation");
    // The other collection was untouched.
    assert!(store.collection("a", "other").expect("get").is_some());
}

#[test]
fn one_face_per_source_until_it_is_deleted() {
    let (_dir, store) = temp_store();
    store.create_collection("a", "c", None).expect("create");
    let sourced = |v| NewFace {
        source: Some("sha256:abc".into()),
        ..face(v)
    };
    let first = store
        .insert_face("a", "c", None, sourced(0.1))
        .expect("first");
    let again = store
        .insert_face("a", "c", None, sourced(0.2))
        .expect("again");
    assert_eq!(first.face_id, again.face_id);
    assert_eq!(
        store
            .collection("a", "c")
            .expect("get")
            .expect("exists")
            .face_count,
        1
    );
    assert_eq!(
        store
            .face_by_source("a", "c", "sha256:abc")
            .expect("lookup"),
        Some(first.face_id.clone())
    );
    store.delete_face("a", "c", &first.face_id).expect("delete");
    assert_eq!(
        store
            .face_by_source("a", "c", "sha256:abc")
            .expect("lookup"),
        None
    );
    let third = store
        .insert_face("a", "c", None, sourced(0.3))
        .expect("third");
    assert_ne!(third.face_id, first.face_id);
    store
        .delete_collection("a", "c")
        .expect("delete collection");
    store.create_collection("a", "c", None).expect("re-create");
    assert_eq!(
        store
            .face_by_source("a", "c", "sha256:abc")
            .expect("lookup"),
        None
    );
}

#[test]
fn deleting_an_account_deletes_its_collections_only() {
    let (_dir, store) = temp_store();
    store.create_key("gone", None).expect("key");
    store.create_key("gone2", None).expect("key");
    for account in ["gone", "gone2"] {
        store.create_collection(account, "c", None).expect("create");
        let sourced = NewFace {
            source: Some("s".into()),
            ..face(0.5)
        };
        store
            .insert_face(account, "c", None, sourced)
            .expect("face");
    }
    store.delete_account("gone").expect("delete");
    assert!(store.list_collections("gone").expect("list").is_empty());
    assert!(store.collection_faces("gone", "c").expect("read").is_none());
    assert_eq!(
        store.face_by_source("gone", "c", "s").expect("lookup"),
        None
    );
    // "gone2" starts with "gone" but is another account: untouched.
    assert_eq!(store.list_collections("gone2").expect("list").len(), 1);
    assert!(
        store
            .face_by_source("gone2", "c", "s")
            .expect("lookup")
            .is_some()
    );
}

/// A collection past the exact-search limit, in a real data file: loaded
/// into the approximate index, it answers with exact cosines read back from
/// redb, and its writes are visible to the next search.
#[test]
fn large_collection_switches_to_the_approximate_index_with_exact_scores() {
    use std::sync::Arc;

    use crate::collections::CollectionRows;
    use crate::index::{CollectionIndex, EXACT_LIMIT, VectorIndex};
    use crate::load::ModelSource;

    let dim = 8;
    let (_dir, store) = temp_store();
    let store = Arc::new(store);
    store
        .create_collection("acme", "big", None)
        .expect("create");
    let mut next = uniform(0x2545_f491_4f6c_dd1d);
    let n = EXACT_LIMIT + 1;
    let mut written = 0;
    while written < n {
        let faces: Vec<NewFace> = (0..(n - written).min(10_000))
            .map(|_| NewFace {
                model: "m".into(),
                embedding: (0..dim).map(|_| next()).collect(),
                bounding_box: [0, 0, 1, 1],
                confidence: 1.0,
                source: None,
                ..NewFace::default()
            })
            .collect();
        written += store
            .insert_faces("acme", "big", None, faces)
            .expect("insert")
            .len();
    }
    // Faces of another embedding model are stored but never searched.
    let other: Vec<NewFace> = (0..3)
        .map(|_| NewFace {
            model: "other".into(),
            embedding: (0..dim).map(|_| next()).collect(),
            bounding_box: [0, 0, 1, 1],
            confidence: 1.0,
            source: None,
            ..NewFace::default()
        })
        .collect();
    store
        .insert_faces("acme", "big", None, other)
        .expect("insert");
    let (_, faces) = store
        .collection_faces("acme", "big")
        .expect("read")
        .expect("exists");
    let faces: Vec<_> = faces.into_iter().filter(|f| f.model == "m").collect();
    let rows = Arc::new(CollectionRows::new(Arc::clone(&store), "acme", "big"));
    let pairs: Vec<(&str, &[f32])> = faces
        .iter()
        .map(|f| (f.face_id.as_str(), f.embedding.as_slice()))
        .collect();
    // One face short of the limit stays exact.
    let exact = CollectionIndex::build(dim, &pairs[..EXACT_LIMIT], rows.clone()).expect("build");
    assert!(!exact.is_approximate());
    // The full collection loads as approximate, training its lists.
    let (_, mut index, report) = store
        .load_index("acme", "big", "m", dim, rows)
        .expect("load")
        .expect("exists");
    assert!(index.is_approximate());
    assert_eq!((index.len(), report.faces), (n, n));
    assert_eq!(
        report.model,
        ModelSource::Trained {
            why: "no saved model".into()
        }
    );
    assert_eq!(report.save_error, None);
    for face in faces.iter().step_by(5_000) {
        let (id, cosine) = index.best(&face.embedding).expect("search").expect("found");
        assert_eq!(id, face.face_id, "a stored face is its own best match");
        let unit = facecore_score::normalized(&face.embedding).expect("valid");
        assert_eq!(cosine, facecore_score::dot(&unit, &unit).clamp(-1.0, 1.0));
    }
    // A face deleted from the store and the index is gone at once; a new
    // one is found at once.
    let gone = &faces[7];
    store
        .delete_face("acme", "big", &gone.face_id)
        .expect("delete");
    assert!(index.remove(&gone.face_id));
    let found = index.best(&gone.embedding).expect("search");
    assert_ne!(found.map(|f| f.0.to_string()), Some(gone.face_id.clone()));
    let fresh: Vec<f32> = (0..dim).map(|_| next()).collect();
    let stored = store
        .insert_face(
            "acme",
            "big",
            None,
            NewFace {
                model: "m".into(),
                embedding: fresh.clone(),
                bounding_box: [0, 0, 1, 1],
                confidence: 1.0,
                source: None,
                ..NewFace::default()
            },
        )
        .expect("insert");
    index.insert(&stored.face_id, &fresh).expect("index");
    assert_eq!(
        index.best(&fresh).expect("search").map(|f| f.0.to_string()),
        Some(stored.face_id.clone())
    );
    assert!(index.heap_bytes() > 0);

    // A restart: the data file reopened. The saved model is checked and
    // used (no training), and the index holds exactly what is stored now.
    let answers = |index: &CollectionIndex| -> Vec<Option<String>> {
        faces
            .iter()
            .step_by(4_999)
            .map(|f| {
                index
                    .best(&f.embedding)
                    .expect("search")
                    .map(|m| m.0.to_string())
            })
            .collect()
    };
    let trained_answers = answers(&index);
    drop((index, exact));
    let path = store.path().to_path_buf();
    drop(store);
    let store = Arc::new(Store::open(&path).expect("reopen"));
    let load = |store: &Arc<Store>| {
        let rows = Arc::new(CollectionRows::new(Arc::clone(store), "acme", "big"));
        store
            .load_index("acme", "big", "m", dim, rows)
            .expect("load")
            .expect("exists")
    };
    let (collection, index, report) = load(&store);
    assert_eq!(report.model, ModelSource::Saved);
    assert_eq!(report.train_seconds, 0.0);
    assert_eq!(index.len(), n);
    assert_eq!(
        answers(&index),
        trained_answers,
        "the same lists, the same answers"
    );
    assert_eq!(
        index.best(&fresh).expect("search").map(|f| f.0.to_string()),
        Some(stored.face_id)
    );
    assert_eq!(
        index
            .best(&gone.embedding)
            .expect("search")
            .map(|f| f.0 == gone.face_id),
        Some(false)
    );
    drop(index);

    // A damaged model is never trusted: it fails its checksum, the load
    // trains again and saves a good one.
    {
        let tx = store.db.begin_write().expect("tx");
        {
            let mut models = tx.open_table(crate::load::INDEX_MODELS).expect("table");
            let key = crate::collections::collection_key("acme", "big");
            let mut value = models
                .get(key.as_str())
                .expect("get")
                .expect("saved")
                .value()
                .to_vec();
            let last = value.len() - 1;
            value[last] ^= 0x40;
            models.insert(key.as_str(), value.as_slice()).expect("put");
        }
        tx.commit().expect("commit");
    }
    let (_, index, report) = load(&store);
    assert_eq!(
        report.model,
        ModelSource::Trained {
            why: "the saved model fails its checksum".into()
        }
    );
    assert_eq!(index.len(), n);
    drop(index);
    assert_eq!(load(&store).2.model, ModelSource::Saved);

    // Saving for another incarnation writes nothing; deleting the
    // collection deletes its model.
    let model = match load(&store).1 {
        CollectionIndex::Ivf(ivf) => ivf.model().clone(),
        CollectionIndex::Exact { .. } => panic!("approximate expected"),
    };
    assert!(
        !store
            .save_index_model("acme", "big", "not-it", "m", &model)
            .expect("save")
    );
    assert!(
        store
            .save_index_model("acme", "big", &collection.incarnation, "m", &model)
            .expect("save")
    );
    assert!(store.delete_collection("acme", "big").expect("delete"));
    use redb::ReadableTableMetadata;
    let tx = store.db.begin_read().expect("tx");
    let models = tx.open_table(crate::load::INDEX_MODELS).expect("table");
    assert_eq!(models.len().expect("read"), 0, "the model went with it");
}

/// An exact index grows into the approximate one on the insert that passes
/// the limit.
#[test]
fn exact_index_switches_when_an_insert_passes_the_limit() {
    use std::sync::Arc;

    use crate::index::{CollectionIndex, EXACT_LIMIT, VectorIndex};
    use crate::ivf::ExactRows;

    struct None_;
    impl ExactRows for None_ {
        fn fetch(&self, ids: &[&str]) -> Result<Vec<Option<Vec<f32>>>, StoreError> {
            Ok(vec![None; ids.len()])
        }
    }
    let dim = 4;
    let mut index = CollectionIndex::build(dim, &[], Arc::new(None_)).expect("empty");
    for i in 0..EXACT_LIMIT {
        let v = [1.0 + i as f32, (i % 7) as f32, (i % 11) as f32, 1.0];
        index.insert(&format!("f{i}"), &v).expect("insert");
    }
    assert!(!index.is_approximate());
    index.insert("last", &[1.0, 2.0, 3.0, 4.0]).expect("insert");
    assert!(index.is_approximate());
    assert_eq!(index.len(), EXACT_LIMIT + 1);
    // With no exact rows to read back, nothing can be returned as a match.
    assert_eq!(index.best(&[1.0, 2.0, 3.0, 4.0]).expect("search"), None);
}

#[test]
fn the_layout_version_is_recorded_and_a_newer_file_is_refused_unchanged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("facecore.redb");
    let version = |db: &redb::Database| {
        let tx = db.begin_read().expect("tx");
        let meta = tx.open_table(crate::schema::META).expect("meta");
        meta.get("schema_version").expect("get").map(|v| v.value())
    };
    let secret = {
        let store = Store::open(&path).expect("open");
        let key = store.create_key("acme", None).expect("key");
        assert_eq!(version(&store.db), Some(SCHEMA_VERSION));
        let tx = store.db.begin_write().expect("tx");
        crate::schema::set_version(&tx, SCHEMA_VERSION + 1).expect("set");
        tx.commit().expect("commit");
        key.secret
    };
    let err = Store::open(&path).expect_err("a newer layout is refused");
    assert!(
        matches!(err, StoreError::NewerSchema { found, supported, .. }
            if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("newer facecore"), "{err}");
    // Nothing was written: the version and the data are as they were.
    let db = redb::Database::open(&path).expect("open with redb");
    assert_eq!(version(&db), Some(SCHEMA_VERSION + 1));
    let tx = db.begin_read().expect("tx");
    let keys = tx.open_table(crate::keys::KEYS).expect("keys");
    assert_eq!(keys.len().expect("len"), 1);
    drop((keys, tx, db));
    // Back at a version this build knows, the file opens and works.
    {
        let db = redb::Database::open(&path).expect("open with redb");
        let tx = db.begin_write().expect("tx");
        crate::schema::set_version(&tx, SCHEMA_VERSION).expect("set");
        tx.commit().expect("commit");
    }
    let store = Store::open(&path).expect("open");
    assert_eq!(store.authenticate(&secret).expect("auth").name, "acme");
}
