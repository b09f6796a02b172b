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

/// A fresh data file in its own directory, and the engine.
fn fresh(name: &str) -> (std::path::PathBuf, Arc<Store>, Arc<Engine>) {
    let dir = std::env::temp_dir().join(format!("facecore-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(Store::open(dir.join("facecore.redb")).unwrap());
    let engine = Arc::new(Engine::load(EngineConfig::default()).unwrap());
    (dir, store, engine)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn every_index_load_is_reported_once() {
    let (dir, store, engine) = fresh("loads");
    store.create_collection("acme", "staff", None).unwrap();
    let photo = fixture("astronaut.png");
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

/// The operations the dialects call, on a real redb file with the real
/// models: index, search and search-or-index of an image in one call each,
/// errors by kind, and an image without a face touching nothing.
#[test]
fn face_operations_from_images() {
    use facecore::ErrorKind;
    use facecore::collections::{FaceOp, ResultSource};

    let (dir, store, engine) = fresh("ops");
    let collections = Collections::new(Arc::clone(&store), engine);
    let (astronaut, cat) = (fixture("astronaut.png"), fixture("chelsea.png"));
    let search = FaceOp::Search { min_similarity: 80 };

    let missing = collections
        .face_from_image("acme", "staff", &astronaut, FaceOp::Index)
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::CollectionNotFound, "{missing}");
    let invalid = collections.get("acme", "bad\u{7}id").unwrap_err();
    assert_eq!(invalid.kind(), ErrorKind::InvalidInput, "{invalid}");

    let created = collections.create("acme", "staff", Some("d")).unwrap();
    assert_eq!(created.description.as_deref(), Some("d"));
    let again = collections.create("acme", "staff", None).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::CollectionExists);

    let nothing = collections
        .face_from_image("acme", "staff", &astronaut, search)
        .unwrap();
    assert!(nothing.face.is_some());
    assert_eq!(
        (nothing.face_id, nothing.source),
        (None, ResultSource::None)
    );

    let stored = collections
        .face_from_image("acme", "staff", &astronaut, FaceOp::Index)
        .unwrap();
    assert_eq!(stored.source, ResultSource::Index);
    let face_id = stored.face_id.clone().unwrap();
    assert_eq!(collections.get("acme", "staff").unwrap().face_count, 1);

    let found = collections
        .face_from_image("acme", "staff", &astronaut, search)
        .unwrap();
    assert_eq!(found.face_id.as_deref(), Some(face_id.as_str()));
    assert_eq!(found.source, ResultSource::Search);
    assert_eq!(found.matched.unwrap().similarity, 100);

    let either = FaceOp::SearchOrIndex { min_similarity: 80 };
    let same = collections
        .face_from_image("acme", "staff", &astronaut, either)
        .unwrap();
    assert_eq!(
        (same.face_id.as_deref(), same.source),
        (Some(face_id.as_str()), ResultSource::Search)
    );

    // No face in the photo of a cat: nothing stored, nothing searched.
    let no_face = collections
        .face_from_image("acme", "staff", &cat, either)
        .unwrap();
    assert_eq!((no_face.face, no_face.face_id), (None, None));
    assert_eq!(collections.get("acme", "staff").unwrap().face_count, 1);

    // Another account sees none of it.
    let other = collections
        .face_from_image("other", "staff", &astronaut, search)
        .unwrap_err();
    assert_eq!(other.kind(), ErrorKind::CollectionNotFound);

    assert!(collections.delete_collection("acme", "staff").unwrap());
    assert_eq!(
        collections.get("acme", "staff").unwrap_err().kind(),
        ErrorKind::CollectionNotFound
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A data file written by the release before the layout version was
/// recorded (commit 714ad45; see tests/fixtures/README.md) opens, keeps
/// its key, collection and face, finds the face, and takes new ones.
#[test]
fn a_data_file_of_the_previous_release_opens_and_works() {
    use facecore::collections::{FaceOp, ResultSource};
    use facecore::keys::Keys;

    let (dir, _, engine) = fresh("previous-release");
    let path = dir.join("old.redb");
    std::fs::copy(
        format!(
            "{}/tests/fixtures/data-714ad45.redb",
            env!("CARGO_MANIFEST_DIR")
        ),
        &path,
    )
    .unwrap();
    let astronaut = fixture("astronaut.png");
    let search = FaceOp::Search { min_similarity: 80 };
    {
        let store = Arc::new(Store::open(&path).unwrap());
        let keys = Keys::new(Arc::clone(&store));
        let account = keys
            .authenticate("fc_zmefgmrqvwfl_67ixb4pjl7jn2qp5wd6w7f64rfwpfinu")
            .unwrap();
        assert_eq!(account.name, "default");
        let collections = Collections::new(store, Arc::clone(&engine));
        let staff = collections.get("default", "staff").unwrap();
        assert_eq!(staff.description.as_deref(), Some("written by 714ad45"));
        assert_eq!(staff.face_count, 1);
        let found = collections
            .face_from_image("default", "staff", &astronaut, search)
            .unwrap();
        assert_eq!(found.face_id.as_deref(), Some("face_hjyi4towub6uwedx7e3y"));
        assert_eq!(found.matched.unwrap().similarity, 100);
        let added = collections
            .face_from_image("default", "staff", &astronaut, FaceOp::Index)
            .unwrap();
        assert_eq!(added.source, ResultSource::Index);
    }
    // Reopened (now with its layout version recorded), it has both faces,
    // and takes persons, which its layout did not have.
    let store = Arc::new(Store::open(&path).unwrap());
    let collections = Collections::new(store, engine);
    assert_eq!(collections.get("default", "staff").unwrap().face_count, 2);
    let target = collections.open("default", "staff").unwrap();
    let enrol = facecore::collections::Enrol {
        person: Some(facecore::collections::PersonRef::Named("Eileen".into())),
        keep_image: true,
        ..Default::default()
    };
    let enrolled = collections.enrol(&target, &astronaut, &enrol).unwrap();
    let staff = collections.get("default", "staff").unwrap();
    assert_eq!((staff.face_count, staff.person_count), (3, 1));
    // The face written by 714ad45 has no person and is still there.
    let old = collections
        .stored_face("default", "staff", "face_hjyi4towub6uwedx7e3y")
        .unwrap();
    assert_eq!(old.person_id, None);
    assert!(enrolled.faces[0].stored.person_id.is_some());
    std::fs::remove_dir_all(&dir).ok();
}

/// The astronaut and the cameraman side by side: two faces in one photo.
fn two_people() -> Vec<u8> {
    let load = |name: &str| image::load_from_memory(&fixture(name)).unwrap().to_rgb8();
    let (left, right) = (load("astronaut.png"), load("camera.png"));
    let mut both = image::RgbImage::new(left.width() + right.width(), left.height());
    image::imageops::replace(&mut both, &left, 0, 0);
    image::imageops::replace(&mut both, &right, i64::from(left.width()), 0);
    let mut png = Vec::new();
    both.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

/// Enrolment through the real models: the face goes to its person with the
/// original image and a thumbnail; a photo of two people or of none stores
/// nothing; deleting the person takes its faces out of search.
#[test]
fn enrolment_keeps_the_person_the_image_and_a_thumbnail() {
    use facecore::collections::{Enrol, FaceOp, FacesToStore, PersonRef};
    use facecore::{Error, ErrorKind};

    let (dir, store, engine) = fresh("enrol");
    let collections = Collections::new(Arc::clone(&store), Arc::clone(&engine));
    collections.create("acme", "staff", None).unwrap();
    let target = collections.open("acme", "staff").unwrap();
    let astronaut = fixture("astronaut.png");
    let example = Enrol {
        person: Some(PersonRef::Named("Eileen".into())),
        faces: FacesToStore::ExactlyOne,
        keep_image: true,
        thumbnails: true,
        ..Enrol::default()
    };
    let enrolled = collections.enrol(&target, &astronaut, &example).unwrap();
    assert_eq!(enrolled.faces.len(), 1);
    let face = &enrolled.faces[0].stored;
    let eileen = collections
        .person_by_name("acme", "staff", "eileen")
        .unwrap()
        .expect("created by the enrolment");
    assert_eq!(face.person_id.as_deref(), Some(eileen.person_id.as_str()));
    assert_eq!(eileen.face_count, 1);
    // The original, byte for byte; a thumbnail that is a small JPEG.
    assert_eq!(
        collections
            .face_image("acme", "staff", &face.face_id)
            .unwrap()
            .as_deref(),
        Some(astronaut.as_slice())
    );
    let thumb = collections
        .face_thumbnail("acme", "staff", &face.face_id)
        .unwrap()
        .expect("thumbnail");
    assert_eq!(
        image::guess_format(&thumb).unwrap(),
        image::ImageFormat::Jpeg
    );
    let small = image::load_from_memory(&thumb).unwrap();
    assert!(small.width() <= 128 && small.height() <= 128 && small.width() > 64);

    // Two people where one was expected, or nobody: an error, nothing stored.
    let err = collections
        .enrol(&target, &two_people(), &example)
        .expect_err("two faces");
    assert!(matches!(err, Error::TooManyFaces { found: 2 }), "{err}");
    assert_eq!(err.kind(), ErrorKind::TooManyFaces);
    let err = collections
        .enrol(&target, &fixture("chelsea.png"), &example)
        .expect_err("a cat");
    assert_eq!(err.kind(), ErrorKind::NoFace);
    // A confidence floor no detection reaches is the same as no face.
    let strict = Enrol {
        min_confidence: 1.0,
        ..example.clone()
    };
    let err = collections
        .enrol(&target, &astronaut, &strict)
        .expect_err("nothing above 1.0");
    assert_eq!(err.kind(), ErrorKind::NoFace);
    assert_eq!(collections.get("acme", "staff").unwrap().face_count, 1);
    // Both faces of the pair, when asked for up to two, for one person.
    let pair = collections
        .enrol(
            &target,
            &two_people(),
            &Enrol {
                faces: FacesToStore::Up(5),
                ..example.clone()
            },
        )
        .unwrap();
    assert_eq!(pair.faces.len(), 2);
    assert_eq!(
        collections
            .list_faces("acme", "staff", Some(&eileen.person_id), 0, 10)
            .unwrap()
            .total,
        3
    );

    // The best k faces, each with its person: Eileen's three faces (two of
    // them the astronaut) before the cameraman's, best first.
    collections
        .enrol(
            &target,
            &fixture("camera.png"),
            &Enrol {
                person: Some(PersonRef::Named("Cam".into())),
                ..Enrol::default()
            },
        )
        .unwrap();
    let query = engine
        .embed(&astronaut, 1)
        .unwrap()
        .faces
        .remove(0)
        .embedding;
    let top = collections.search_top(&target, &query, 10, None).unwrap();
    let names: Vec<&str> = top
        .iter()
        .map(|m| m.person.as_ref().and_then(|p| p.name.as_deref()).unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(&names[..2], ["Eileen", "Eileen"], "{names:?}");
    assert!(top.windows(2).all(|w| w[0].face.cosine >= w[1].face.cosine));
    assert_eq!(top[0].face.similarity, 100);
    let strict = collections
        .search_top(&target, &query, 10, Some(80))
        .unwrap();
    assert!(strict.iter().all(|m| m.face.similarity >= 80));
    assert!(strict.len() >= 2 && strict.len() < 4, "{}", strict.len());

    // Search finds the enrolled face; after the person is deleted it does not.
    let search = FaceOp::Search { min_similarity: 80 };
    let found = collections
        .face_from_image("acme", "staff", &astronaut, search)
        .unwrap();
    assert!(found.face_id.is_some());
    let removed = collections
        .delete_person("acme", "staff", &eileen.person_id)
        .unwrap();
    assert_eq!(removed.face_ids.len(), 3);
    let found = collections
        .face_from_image("acme", "staff", &astronaut, search)
        .unwrap();
    assert_eq!(found.face_id, None);
    assert_eq!(
        collections
            .face_image("acme", "staff", &face.face_id)
            .unwrap(),
        None
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Service keys: identified with their service, refused where account keys
/// are needed; a collection deleted behind the facade's back (the admin
/// socket deleting a service) is not searched from its stale index.
#[test]
fn service_keys_and_collections_deleted_behind_the_facade() {
    use facecore::ErrorKind;
    use facecore::collections::FaceOp;
    use facecore::keys::Keys;
    use facecore::store::ServiceKind;

    let (dir, store, engine) = fresh("services");
    let keys = Keys::new(Arc::clone(&store));
    let made = store
        .create_service("acme", ServiceKind::Recognition, "office", None)
        .unwrap();
    let who = keys.identify(&made.key.secret).unwrap();
    assert_eq!(who.service.unwrap().collection.as_deref(), Some("office"));
    let err = keys
        .authenticate(&made.key.secret)
        .expect_err("service key");
    assert_eq!(err.kind(), ErrorKind::WrongKeyType);
    assert!(err.to_string().contains("CompreFace"), "{err}");

    let collections = Collections::new(Arc::clone(&store), Arc::clone(&engine));
    let astronaut = fixture("astronaut.png");
    collections
        .face_from_image("acme", "office", &astronaut, FaceOp::Index)
        .unwrap();
    store.delete_service(Some("acme"), "office").unwrap();
    let search = FaceOp::Search { min_similarity: 80 };
    let err = collections
        .face_from_image("acme", "office", &astronaut, search)
        .expect_err("deleted");
    assert_eq!(err.kind(), ErrorKind::CollectionNotFound);
    // Re-created under the same id: empty, not the old index.
    collections.create("acme", "office", None).unwrap();
    let found = collections
        .face_from_image("acme", "office", &astronaut, search)
        .unwrap();
    assert_eq!(found.face_id, None);
    std::fs::remove_dir_all(&dir).ok();
}

/// A person enrolled from several photos in one transaction, searched as a
/// person (one result however many faces match), with a per-search
/// false-match rate that tightens the threshold as the collection grows;
/// one face deleted through its own person only.
#[test]
fn persons_are_enrolled_whole_and_searched_as_persons() {
    use facecore::ErrorKind;
    use facecore::collections::{Enrol, FacesToStore, NewPerson, PersonSearch};

    let (dir, store, engine) = fresh("persons");
    let collections = Collections::new(Arc::clone(&store), Arc::clone(&engine));
    collections.create("acme", "staff", None).unwrap();
    let target = collections.open("acme", "staff").unwrap();
    let how = Enrol {
        faces: FacesToStore::ExactlyOne,
        thumbnails: true,
        ..Enrol::default()
    };
    let astronaut = fixture("astronaut.png");
    let photos = [astronaut.clone(), astronaut.clone()];
    let prepared: Vec<_> = photos
        .iter()
        .map(|p| collections.prepare(target.engine(), p, &how).unwrap())
        .collect();
    assert_eq!(prepared[0].faces().count(), 1);
    // Nothing is stored by preparing.
    assert_eq!(collections.get("acme", "staff").unwrap().face_count, 0);
    let eileen = NewPerson {
        name: Some("Eileen".into()),
        metadata: [("team".to_string(), "crew".to_string())].into(),
    };
    collections
        .check_new_person("acme", "staff", &eileen)
        .unwrap();
    let (person, faces) = collections
        .enrol_person(&target, eileen.clone(), prepared.clone())
        .unwrap();
    assert_eq!((person.face_count, faces.len()), (2, 2));
    assert!(faces.iter().all(|f| f.stored.thumbnail));
    // The name is taken now, in any case: refused before and at the write.
    let again = NewPerson {
        name: Some("EILEEN".into()),
        ..NewPerson::default()
    };
    let err = collections
        .check_new_person("acme", "staff", &again)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PersonExists);
    let err = collections
        .enrol_person(&target, again, prepared)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PersonExists);
    assert_eq!(collections.get("acme", "staff").unwrap().face_count, 2);
    let cam = collections
        .prepare(target.engine(), &fixture("camera.png"), &how)
        .unwrap();
    let (cam, _) = collections
        .enrol_person(&target, NewPerson::default(), vec![cam])
        .unwrap();

    // Two faces of Eileen match: one result for her, then the cameraman.
    let query = engine
        .embed(&astronaut, 1)
        .unwrap()
        .faces
        .remove(0)
        .embedding;
    let search = |max_results, min_score, rate| PersonSearch {
        max_results,
        min_score,
        max_false_match_rate: rate,
    };
    let all = collections
        .search_persons(&target, &query, &search(10, -1.0, None))
        .unwrap();
    let ids: Vec<&str> = all
        .matches
        .iter()
        .map(|m| m.person.as_ref().unwrap().person_id.as_str())
        .collect();
    assert_eq!(ids, [person.person_id.as_str(), cam.person_id.as_str()]);
    assert_eq!(all.comparisons, 3);
    let one = collections
        .search_persons(&target, &query, &search(1, 80.0, None))
        .unwrap();
    assert_eq!(one.matches.len(), 1);
    assert_eq!(one.min_score, 80.0);
    // A rate per search over 3 faces: 1e-4 per search is 3.3e-5 per
    // comparison, a score between 80 and 90.
    let rated = collections
        .search_persons(&target, &query, &search(1, 70.0, Some(1e-4)))
        .unwrap();
    assert!(
        rated.min_score > 80.0 && rated.min_score < 90.0,
        "{rated:?}"
    );
    assert_eq!(rated.matches.len(), 1);
    let err = collections
        .search_persons(&target, &query, &search(1, 70.0, Some(1e-7)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    // One face of Eileen deleted through Eileen; not through the cameraman.
    let first = &faces[0].stored.face_id;
    let err = collections
        .delete_person_face("acme", "staff", &cam.person_id, first)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FaceNotFound);
    collections
        .delete_person_face("acme", "staff", &person.person_id, first)
        .unwrap();
    let left = collections
        .search_persons(&target, &query, &search(10, -1.0, None))
        .unwrap();
    assert_eq!(left.comparisons, 2);
    assert!(left.matches.iter().all(|m| m.face.face_id != *first));
    std::fs::remove_dir_all(&dir).ok();
}
