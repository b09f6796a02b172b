//! Persons, faces of persons, stored images and thumbnails: the data model
//! every dialect shares, on a real redb file.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTableMetadata};

use crate::faces::FACES;
use crate::media::{IMAGE_REFS, IMAGES, THUMBNAILS};
use crate::persons::{PERSON_FACES, PERSON_NAMES, PERSONS};
use crate::{
    ImageBlob, NewFace, NewPerson, PersonChange, PersonRef, Store, StoreError, StoredFace,
};

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("facecore.redb")).expect("open");
    (dir, store)
}

fn face(v: f32, person: Option<PersonRef>) -> NewFace {
    NewFace {
        model: "m@1".into(),
        embedding: vec![v, 1.0, 0.5],
        bounding_box: [1, 2, 3, 4],
        confidence: 0.9,
        person,
        ..NewFace::default()
    }
}

fn named(name: &str) -> Option<PersonRef> {
    Some(PersonRef::Named(name.into()))
}

/// Rows of every person/media table, and of the faces table.
fn rows(store: &Store) -> [u64; 7] {
    let tx = store.db.begin_read().expect("tx");
    [
        tx.open_table(FACES).expect("t").len().expect("len"),
        tx.open_table(PERSONS).expect("t").len().expect("len"),
        tx.open_table(PERSON_NAMES).expect("t").len().expect("len"),
        tx.open_table(PERSON_FACES).expect("t").len().expect("len"),
        tx.open_table(IMAGES).expect("t").len().expect("len"),
        tx.open_table(IMAGE_REFS).expect("t").len().expect("len"),
        tx.open_table(THUMBNAILS).expect("t").len().expect("len"),
    ]
}

fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn persons_have_unique_names_metadata_and_pages() {
    let (_dir, store) = temp_store();
    assert!(matches!(
        store.create_person("a", "c", NewPerson::default()),
        Err(StoreError::CollectionNotFound(_))
    ));
    store.create_collection("a", "c", None).expect("create");
    let ann = store
        .create_person(
            "a",
            "c",
            NewPerson {
                name: Some("Ann".into()),
                metadata: meta(&[("team", "blue")]),
            },
        )
        .expect("ann");
    assert!(ann.person_id.starts_with("person_") && ann.person_id.len() == 27);
    assert!(matches!(
        store.create_person(
            "a",
            "c",
            NewPerson {
                name: Some("Ann".into()),
                ..NewPerson::default()
            }
        ),
        Err(StoreError::PersonExists(name)) if name == "Ann"
    ));
    // Names are unique ignoring case, and per collection; white space counts.
    let lower = NewPerson {
        name: Some("ann".into()),
        ..NewPerson::default()
    };
    assert!(matches!(
        store.create_person("a", "c", lower.clone()),
        Err(StoreError::PersonExists(_))
    ));
    store
        .create_person(
            "a",
            "c",
            NewPerson {
                name: Some(" ann".into()),
                ..NewPerson::default()
            },
        )
        .expect("leading space");
    store.create_collection("a", "d", None).expect("create d");
    store
        .create_person("a", "d", lower)
        .expect("other collection");
    let unnamed = store
        .create_person("a", "c", NewPerson::default())
        .expect("unnamed");
    assert_eq!(unnamed.name, None);
    for bad in ["", "   ", "new\nline", &"x".repeat(513)] {
        let err = store
            .create_person(
                "a",
                "c",
                NewPerson {
                    name: Some(bad.into()),
                    ..NewPerson::default()
                },
            )
            .expect_err("invalid name");
        assert!(
            matches!(err, StoreError::Invalid { field: "name", .. }),
            "{err}"
        );
    }
    let too_many = (0..65).map(|i| (format!("k{i}"), String::new())).collect();
    assert!(matches!(
        store.create_person(
            "a",
            "c",
            NewPerson {
                name: None,
                metadata: too_many
            }
        ),
        Err(StoreError::Invalid {
            field: "metadata",
            ..
        })
    ));

    assert_eq!(
        store.person("a", "c", &ann.person_id).expect("get"),
        Some(ann.clone())
    );
    assert_eq!(
        store.person_by_name("a", "c", "aNN").expect("by name"),
        Some(ann.clone())
    );
    assert_eq!(store.person("a", "d", &ann.person_id).expect("get"), None);
    assert_eq!(store.person("a", "c", "../x").expect("odd id"), None);
    let page = store.list_persons("a", "c", 1, 1).expect("page");
    assert_eq!((page.total, page.persons.len()), (3, 1));
    let all = store.list_persons("a", "c", 0, 100).expect("all");
    assert!(
        all.persons
            .windows(2)
            .all(|w| w[0].person_id < w[1].person_id)
    );
    assert_eq!(store.collection("a", "c").unwrap().unwrap().person_count, 3);

    // Rename: onto another's name refused; a respelling of one's own is
    // fine; the old name is freed.
    assert!(matches!(
        store.update_person(
            "a",
            "c",
            &ann.person_id,
            PersonChange {
                name: Some(" ANN".into()),
                ..PersonChange::default()
            }
        ),
        Err(StoreError::PersonExists(_))
    ));
    let respelt = store
        .update_person(
            "a",
            "c",
            &ann.person_id,
            PersonChange {
                name: Some("ANN".into()),
                ..PersonChange::default()
            },
        )
        .expect("respell");
    assert_eq!(respelt.name.as_deref(), Some("ANN"));
    let renamed = store
        .update_person(
            "a",
            "c",
            &ann.person_id,
            PersonChange {
                name: Some("Anna".into()),
                metadata: Some(meta(&[("team", "red")])),
            },
        )
        .expect("rename");
    assert_eq!(renamed.name.as_deref(), Some("Anna"));
    assert_eq!(renamed.metadata, meta(&[("team", "red")]));
    assert_eq!(store.person_by_name("a", "c", "Ann").expect("old"), None);
    store
        .create_person(
            "a",
            "c",
            NewPerson {
                name: Some("Ann".into()),
                ..NewPerson::default()
            },
        )
        .expect("the old name is free again");
    assert!(matches!(
        store.update_person(
            "a",
            "c",
            "person_aaaaaaaaaaaaaaaaaaaa",
            PersonChange::default()
        ),
        Err(StoreError::PersonNotFound(_))
    ));
}

#[test]
fn faces_belong_to_persons_and_go_with_them() {
    let (_dir, store) = temp_store();
    store.create_collection("a", "c", None).expect("create");
    // A named reference creates the person in the face's transaction.
    let stored = store
        .insert_faces(
            "a",
            "c",
            None,
            vec![
                face(0.1, named("bo")),
                face(0.2, named("bo")),
                face(0.3, None),
            ],
        )
        .expect("insert");
    let bo = store
        .person_by_name("a", "c", "bo")
        .expect("get")
        .expect("created");
    assert_eq!(bo.face_count, 2);
    assert_eq!(stored[0].person_id.as_deref(), Some(bo.person_id.as_str()));
    assert_eq!(stored[2].person_id, None);
    let by_id = store
        .insert_face(
            "a",
            "c",
            None,
            face(0.4, Some(PersonRef::Id(bo.person_id.clone()))),
        )
        .expect("by id");
    assert_eq!(by_id.person_id.as_deref(), Some(bo.person_id.as_str()));

    // A missing person fails the whole batch: nothing of it is written.
    let before = rows(&store);
    let missing = Some(PersonRef::Id("person_bbbbbbbbbbbbbbbbbbbb".into()));
    assert!(matches!(
        store.insert_faces(
            "a",
            "c",
            None,
            vec![face(0.5, named("cy")), face(0.6, missing)]
        ),
        Err(StoreError::PersonNotFound(_))
    ));
    assert_eq!(rows(&store), before);
    assert_eq!(store.person_by_name("a", "c", "cy").expect("get"), None);
    let c = store.collection("a", "c").unwrap().unwrap();
    assert_eq!((c.face_count, c.person_count), (4, 1));

    // Listing: the whole collection, or one person, paged.
    let page = store.list_faces("a", "c", None, 0, 10).expect("list");
    assert_eq!((page.total, page.faces.len()), (4, 4));
    assert!(page.faces.iter().all(|f| f.embedding.is_empty()));
    let page = store
        .list_faces("a", "c", Some(&bo.person_id), 1, 10)
        .expect("list bo");
    assert_eq!((page.total, page.faces.len()), (3, 2));
    assert!(matches!(
        store.list_faces("a", "c", Some("person_bbbbbbbbbbbbbbbbbbbb"), 0, 10),
        Err(StoreError::PersonNotFound(_))
    ));
    let full = store
        .face("a", "c", &by_id.face_id)
        .expect("face")
        .expect("there");
    assert_eq!(full.embedding, vec![0.4, 1.0, 0.5]);

    // Deleting the person deletes its faces, and only those.
    let removed = store
        .delete_person("a", "c", &bo.person_id)
        .expect("delete");
    assert_eq!(removed.persons, 1);
    assert_eq!(removed.face_ids.len(), 3);
    let left = store.list_faces("a", "c", None, 0, 10).expect("list");
    assert_eq!(left.faces.len(), 1);
    assert_eq!(left.faces[0].face_id, stored[2].face_id);
    assert_eq!(rows(&store), [1, 0, 0, 0, 0, 0, 0]);
    let c = store.collection("a", "c").unwrap().unwrap();
    assert_eq!((c.face_count, c.person_count), (1, 0));
}

#[test]
fn merging_moves_faces_and_deleting_faces_can_drop_empty_persons() {
    let (_dir, store) = temp_store();
    store.create_collection("a", "c", None).expect("create");
    let faces = store
        .insert_faces(
            "a",
            "c",
            None,
            vec![
                face(0.1, named("x")),
                face(0.2, named("y")),
                face(0.3, named("y")),
            ],
        )
        .expect("insert");
    let x = store.person_by_name("a", "c", "x").unwrap().unwrap();
    let y = store.person_by_name("a", "c", "y").unwrap().unwrap();
    let merged = store
        .merge_persons("a", "c", &x.person_id, &y.person_id)
        .expect("merge");
    assert_eq!(
        (merged.person_id.as_str(), merged.face_count),
        (y.person_id.as_str(), 3)
    );
    assert_eq!(store.person_by_name("a", "c", "x").expect("get"), None);
    let moved = store.face("a", "c", &faces[0].face_id).unwrap().unwrap();
    assert_eq!(moved.person_id.as_deref(), Some(y.person_id.as_str()));
    assert_eq!(
        store
            .list_faces("a", "c", Some(&y.person_id), 0, 10)
            .unwrap()
            .faces
            .len(),
        3
    );
    assert_eq!(store.collection("a", "c").unwrap().unwrap().person_count, 1);
    // Into itself: nothing changes.
    assert_eq!(
        store
            .merge_persons("a", "c", &y.person_id, &y.person_id)
            .expect("self")
            .face_count,
        3
    );

    // A batch delete ignores unknown ids; the person stays while it has faces.
    let ids = [
        faces[0].face_id.as_str(),
        "face_nope",
        faces[1].face_id.as_str(),
    ];
    let deleted = store.delete_faces("a", "c", &ids, true).expect("batch");
    assert_eq!(deleted.len(), 2);
    assert_eq!(
        store
            .person("a", "c", &y.person_id)
            .unwrap()
            .unwrap()
            .face_count,
        1
    );
    // Its last face, with drop_empty_persons, takes the person too.
    store
        .delete_faces("a", "c", &[faces[2].face_id.as_str()], true)
        .expect("last");
    assert_eq!(store.person("a", "c", &y.person_id).expect("get"), None);
    assert_eq!(rows(&store), [0; 7]);

    // Without it, and by person, the person stays with no faces.
    store
        .insert_faces(
            "a",
            "c",
            None,
            vec![face(0.1, named("z")), face(0.2, named("z"))],
        )
        .expect("insert");
    let z = store.person_by_name("a", "c", "z").unwrap().unwrap();
    assert_eq!(
        store
            .delete_person_faces("a", "c", &z.person_id)
            .expect("del")
            .len(),
        2
    );
    assert_eq!(
        store
            .person("a", "c", &z.person_id)
            .unwrap()
            .unwrap()
            .face_count,
        0
    );
    assert_eq!(store.collection("a", "c").unwrap().unwrap().face_count, 0);
}

#[test]
fn images_are_stored_once_and_go_with_their_last_face() {
    let (dir, store) = temp_store();
    store.create_collection("a", "c", None).expect("create");
    let photo = ImageBlob::new(vec![7u8; 4096]);
    let with_media = |v, thumb: &[u8]| NewFace {
        image: Some(photo.clone()),
        thumbnail: Some(thumb.to_vec()),
        ..face(v, named("p"))
    };
    let faces = store
        .insert_faces(
            "a",
            "c",
            None,
            vec![with_media(0.1, b"t1"), with_media(0.2, b"t2")],
        )
        .expect("insert");
    assert_eq!(faces[0].image_sha256.as_deref(), Some(photo.sha256()));
    // One copy of the image, two references, two thumbnails.
    assert_eq!(rows(&store)[4..], [1, 1, 2]);
    // Nothing of the media is in the face records search reads.
    {
        let tx = store.db.begin_read().unwrap();
        let table = tx.open_table(FACES).unwrap();
        for entry in redb::ReadableTable::iter(&table).unwrap() {
            assert!(entry.unwrap().1.value().len() < 1024);
        }
    }
    for (f, thumb) in faces.iter().zip([b"t1", b"t2"]) {
        assert_eq!(
            store.face_image("a", "c", &f.face_id).unwrap().as_deref(),
            Some(photo.bytes())
        );
        assert_eq!(
            store
                .face_thumbnail("a", "c", &f.face_id)
                .unwrap()
                .as_deref(),
            Some(&thumb[..])
        );
    }
    // The same image in another collection is that collection's own copy.
    store.create_collection("a", "d", None).expect("create d");
    store
        .insert_face("a", "d", None, with_media(0.3, b"t3"))
        .expect("insert d");
    assert_eq!(
        store.face_image("a", "c", "face_unknown").expect("unknown"),
        None
    );
    assert_eq!(
        store
            .face_image("a", "d", &faces[0].face_id)
            .expect("other collection"),
        None
    );

    store
        .delete_face("a", "c", &faces[0].face_id)
        .expect("delete");
    assert_eq!(
        store
            .face_image("a", "c", &faces[1].face_id)
            .unwrap()
            .as_deref(),
        Some(photo.bytes())
    );
    assert_eq!(
        store.face_thumbnail("a", "c", &faces[0].face_id).unwrap(),
        None
    );
    store
        .delete_face("a", "c", &faces[1].face_id)
        .expect("delete");
    assert_eq!(
        rows(&store)[4..],
        [1, 1, 1],
        "only collection d's copy is left"
    );

    // Limits: an empty or huge image, an oversize thumbnail.
    for bad in [
        NewFace {
            image: Some(ImageBlob::new(Vec::new())),
            ..face(0.1, None)
        },
        NewFace {
            image: Some(ImageBlob::new(vec![0u8; crate::media::MAX_IMAGE_BYTES + 1])),
            ..face(0.1, None)
        },
        NewFace {
            thumbnail: Some(vec![0u8; crate::media::MAX_THUMBNAIL_BYTES + 1]),
            ..face(0.1, None)
        },
    ] {
        let err = store.insert_face("a", "c", None, bad).expect_err("refused");
        assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    }

    // Survives a reopen.
    drop(store);
    let store = Store::open(dir.path().join("facecore.redb")).expect("reopen");
    assert_eq!(rows(&store)[4..], [1, 1, 1]);
}

#[test]
fn clearing_or_deleting_a_collection_or_account_leaves_no_row_behind() {
    let (_dir, store) = temp_store();
    let fill = |collection: &str| -> Vec<StoredFace> {
        store
            .create_collection("a", collection, None)
            .expect("create");
        store
            .insert_faces(
                "a",
                collection,
                None,
                (0..4)
                    .map(|i| NewFace {
                        image: Some(ImageBlob::new(vec![i as u8; 100])),
                        thumbnail: Some(vec![1, 2, 3]),
                        ..face(i as f32, named(&format!("p{}", i % 2)))
                    })
                    .collect(),
            )
            .expect("insert")
    };
    fill("c");
    fill("d");
    let removed = store.clear_collection("a", "c").expect("clear");
    assert_eq!((removed.persons, removed.face_ids.len()), (2, 4));
    let c = store.collection("a", "c").unwrap().expect("kept");
    assert_eq!((c.face_count, c.person_count), (0, 0));
    let half: Vec<u64> = rows(&store).to_vec();
    assert_eq!(half, [4, 2, 2, 4, 4, 4, 4], "collection d untouched");
    assert!(store.delete_collection("a", "d").expect("delete"));
    assert_eq!(rows(&store), [0; 7]);
    fill("d");
    store.create_account("a").expect("account");
    store.delete_account("a").expect("delete account");
    assert_eq!(rows(&store), [0; 7]);
}

#[test]
fn services_have_kinds_keys_and_a_collection_of_their_own() {
    use crate::{AuthError, ServiceKind};
    let (_dir, store) = temp_store();
    let office = store
        .create_service("acme", ServiceKind::Recognition, "office", None)
        .expect("recognition");
    assert!(office.service.service_id.starts_with("svc_"));
    assert_eq!(office.service.collection.as_deref(), Some("office"));
    assert!(office.service.owns_collection);
    assert!(store.collection("acme", "office").unwrap().is_some());
    let who = store
        .authenticate_identity(&office.key.secret)
        .expect("auth");
    assert_eq!(who.account.name, "acme");
    assert_eq!(who.service.as_ref(), Some(&office.service));
    // An account key has no service.
    let plain = store.create_key("acme", None).expect("account key");
    assert_eq!(
        store.authenticate_identity(&plain.secret).unwrap().service,
        None
    );

    // Names are unique per account; a taken collection name must be asked
    // for explicitly, and is then shared, not owned.
    assert!(matches!(
        store.create_service("acme", ServiceKind::Detection, "office", None),
        Err(StoreError::Invalid { field: "name", .. })
    ));
    store
        .create_collection("acme", "staff", None)
        .expect("staff");
    assert!(matches!(
        store.create_service("acme", ServiceKind::Recognition, "staff", None),
        Err(StoreError::CollectionExists(_))
    ));
    let shared = store
        .create_service(
            "acme",
            ServiceKind::Recognition,
            "front-desk",
            Some("staff"),
        )
        .expect("shared collection");
    assert!(!shared.service.owns_collection);
    assert!(matches!(
        store.create_service("acme", ServiceKind::Detection, "d", Some("staff")),
        Err(StoreError::Invalid {
            field: "collection",
            ..
        })
    ));
    let detect = store
        .create_service("acme", ServiceKind::Detection, "d", None)
        .expect("detection");
    assert_eq!(detect.service.collection, None);
    let second = store
        .create_key_for_service(&detect.service.service_id)
        .expect("second key");
    assert_eq!(
        second.info.service.as_deref(),
        Some(detect.service.service_id.as_str())
    );
    assert_eq!(store.list_services(Some("acme")).unwrap().len(), 3);
    assert_eq!(store.list_services(Some("other")).unwrap().len(), 0);
    assert_eq!(
        "verification".parse::<ServiceKind>().unwrap(),
        ServiceKind::Verification
    );
    assert!("admin".parse::<ServiceKind>().is_err());

    // Deleting a service revokes its keys and deletes the collection made
    // for it; a shared one stays.
    store
        .insert_face("acme", "office", None, face(0.1, named("x")))
        .expect("face");
    store
        .delete_service(Some("acme"), "office")
        .expect("by name");
    assert!(matches!(
        store.authenticate_identity(&office.key.secret),
        Err(AuthError::InvalidKey)
    ));
    assert!(store.collection("acme", "office").unwrap().is_none());
    assert_eq!(rows(&store), [0; 7]);
    store
        .delete_service(None, &shared.service.service_id)
        .expect("by id");
    assert!(store.collection("acme", "staff").unwrap().is_some());
    assert!(matches!(
        store.delete_service(None, "office"),
        Err(StoreError::ServiceNotFound(_))
    ));
    // The account's deletion takes its services.
    store.delete_account("acme").expect("delete account");
    assert!(store.list_services(None).unwrap().is_empty());
    assert!(store.authenticate_identity(&second.secret).is_err());
}

#[test]
fn a_person_is_created_with_all_its_faces_or_not_at_all() {
    let (_dir, store) = temp_store();
    store.create_collection("a", "c", None).expect("create");
    let with_thumb = |v: f32| NewFace {
        thumbnail: Some(vec![0xff, 0xd8, 0xff]),
        ..face(v, None)
    };
    let (ann, faces) = store
        .create_person_with_faces(
            "a",
            "c",
            None,
            NewPerson {
                name: Some("Ann".into()),
                metadata: meta(&[("role", "pilot")]),
            },
            vec![with_thumb(0.1), with_thumb(0.2)],
        )
        .expect("ann");
    assert_eq!(ann.face_count, 2);
    assert_eq!(ann.metadata, meta(&[("role", "pilot")]));
    assert!(
        faces
            .iter()
            .all(|f| f.person_id.as_deref() == Some(ann.person_id.as_str()) && f.thumbnail)
    );
    let collection = store.collection("a", "c").unwrap().unwrap();
    assert_eq!((collection.person_count, collection.face_count), (1, 2));
    // faces, persons, names, memberships, no images, two thumbnails.
    assert_eq!(rows(&store), [2, 1, 1, 2, 0, 0, 2]);

    // A taken name, a bad thumbnail or a stale incarnation writes nothing.
    let before = rows(&store);
    assert!(matches!(
        store.create_person_with_faces(
            "a",
            "c",
            None,
            NewPerson {
                name: Some("ANN".into()),
                ..NewPerson::default()
            },
            vec![face(0.3, None)],
        ),
        Err(StoreError::PersonExists(_))
    ));
    let huge = NewFace {
        thumbnail: Some(vec![0; crate::media::MAX_THUMBNAIL_BYTES + 1]),
        ..face(0.4, None)
    };
    assert!(
        store
            .create_person_with_faces(
                "a",
                "c",
                None,
                NewPerson::default(),
                vec![face(0.5, None), huge]
            )
            .is_err()
    );
    assert!(matches!(
        store.create_person_with_faces(
            "a",
            "c",
            Some("not-this-one"),
            NewPerson::default(),
            vec![face(0.6, None)]
        ),
        Err(StoreError::CollectionNotFound(_))
    ));
    assert_eq!(rows(&store), before);
    let collection = store.collection("a", "c").unwrap().unwrap();
    assert_eq!((collection.person_count, collection.face_count), (1, 2));
}

#[test]
fn a_face_is_deleted_only_through_its_own_person() {
    let (_dir, store) = temp_store();
    store.create_collection("a", "c", None).expect("create");
    let ann = store
        .insert_face("a", "c", None, face(0.1, named("Ann")))
        .expect("ann");
    let bob = store
        .insert_face("a", "c", None, face(0.2, named("Bob")))
        .expect("bob");
    let loose = store
        .insert_face("a", "c", None, face(0.3, None))
        .expect("x");
    let ann_id = ann.person_id.clone().unwrap();
    let bob_id = bob.person_id.clone().unwrap();
    // Another person's face, a face of nobody, an unknown face: not found.
    for face_id in [
        &bob.face_id,
        &loose.face_id,
        &"face_AAAAAAAAAAAAAAAAAAAA".to_string(),
    ] {
        assert!(matches!(
            store.delete_person_face("a", "c", &ann_id, face_id),
            Err(StoreError::FaceNotFound(_))
        ));
    }
    assert!(matches!(
        store.delete_person_face("a", "c", "person_AAAAAAAAAAAAAAAAAAAA", &ann.face_id),
        Err(StoreError::PersonNotFound(_))
    ));
    assert_eq!(store.collection("a", "c").unwrap().unwrap().face_count, 3);
    let deleted = store
        .delete_person_face("a", "c", &ann_id, &ann.face_id)
        .expect("delete");
    assert_eq!(deleted.face_id, ann.face_id);
    // The person stays, with no face; Bob is untouched.
    assert_eq!(
        store.person("a", "c", &ann_id).unwrap().unwrap().face_count,
        0
    );
    assert_eq!(
        store.person("a", "c", &bob_id).unwrap().unwrap().face_count,
        1
    );
    assert!(store.face("a", "c", &ann.face_id).unwrap().is_none());
    assert_eq!(store.collection("a", "c").unwrap().unwrap().face_count, 2);
}
