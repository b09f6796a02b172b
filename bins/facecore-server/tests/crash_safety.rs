//! Crash safety: no acknowledged write is ever lost (Face Recognition API
//! faces, CompreFace examples with their original images, and Face Search
//! persons with all their faces and thumbnails).
//!
//! The real server binary runs on a data directory kept across runs while
//! eight clients index faces as fast as it answers. At a random moment the
//! server is killed with SIGKILL (no shutdown code runs). Then:
//!
//! 1. the redb file must open cleanly in this process,
//! 2. every face whose index request was answered 200, in this run or any
//!    earlier one, must be stored, and
//! 3. the restarted server must count and search them.
//!
//! `FACECORE_CRASH_RUNS` sets the number of kill/restart cycles (default 3;
//! `cargo xtask crash-test --runs 20` runs more on a release build), and
//! `FACECORE_CRASH_SEED` replays a run's kill times.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::process::start;
use common::{b64, fixture};
use facecore::store::{DATA_FILE, Store};
use serde_json::{Value, json};

const CLIENTS: usize = 8;
const COLLECTION: &str = "crash";
/// The account of the key a first start prints.
const ACCOUNT: &str = "default";

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Next value of a xorshift64 generator (the kill times).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Indexes faces until the server stops answering; returns the face ids that
/// were acknowledged with a 200.
async fn index_until_gone(
    client: reqwest::Client,
    url: String,
    auth: String,
    body: Value,
) -> Vec<String> {
    let mut acked = Vec::new();
    loop {
        let sent = client
            .post(&url)
            .header("Authorization", &auth)
            .json(&body)
            .send()
            .await;
        let Ok(response) = sent else {
            return acked; // the server is gone
        };
        let status = response.status().as_u16();
        let Ok(text) = response.text().await else {
            return acked; // killed mid-response: not acknowledged
        };
        match status {
            200 => {
                let v: Value = serde_json::from_str(&text).expect("a 200 body is JSON");
                let id = v["faceId"].as_str().expect("faceId in a 200").to_string();
                acked.push(id);
            }
            503 => tokio::time::sleep(Duration::from_millis(20)).await,
            other => panic!("index answered {other}: {text}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_server_loses_no_acknowledged_write() {
    let runs = env_u64("FACECORE_CRASH_RUNS").unwrap_or(3).max(1);
    let seed = env_u64("FACECORE_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1
    });
    println!("crash safety: {runs} runs, seed {seed} (FACECORE_CRASH_SEED replays it)");
    let mut rng = seed;

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let body = json!({
        "image": {"bytes": b64(&fixture("astronaut.png"))},
        "collectionId": COLLECTION,
    });
    let mut key = String::new();
    let mut acknowledged: HashSet<String> = HashSet::new();
    let mut stored_after_crash = 0u64;

    for run in 1..=runs {
        let mut server = start(&data);
        if let Some(first) = server.first_key.take() {
            key = first;
        }
        let auth = format!("ApiKey {key}");
        if run == 1 {
            let created = client
                .post(format!("{}/v1/collection/create", server.base))
                .header("Authorization", &auth)
                .json(&json!({"collectionId": COLLECTION}))
                .send()
                .await
                .expect("create");
            assert_eq!(created.status(), 200);
        } else {
            // 3. The restarted server counts and searches every face so far.
            let got: Value = client
                .get(format!(
                    "{}/v1/collection/get?collectionId={COLLECTION}",
                    server.base
                ))
                .header("Authorization", &auth)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            // Exactly what the file held after the crash: acknowledged
            // writes plus any committed whose answer never arrived.
            let count = got["recognitionCollection"]["faceCount"]
                .as_u64()
                .expect("faceCount");
            assert_eq!(count, stored_after_crash, "{got}");
            let found = client
                .post(format!("{}/v1/face/search", server.base))
                .header("Authorization", &auth)
                .json(&body)
                .send()
                .await
                .expect("search");
            assert_eq!(found.status(), 200);
        }

        let url = format!("{}/v1/face/index", server.base);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                tokio::spawn(index_until_gone(
                    client.clone(),
                    url.clone(),
                    auth.clone(),
                    body.clone(),
                ))
            })
            .collect();
        let delay = Duration::from_millis(300 + next(&mut rng) % 2200);
        tokio::time::sleep(delay).await;
        // SIGKILL: no handler, no flush, no graceful anything.
        server.child.kill().expect("kill -9");
        server.child.wait().expect("wait");
        let killed = Instant::now();
        let mut this_run = 0;
        for task in clients {
            let ids = task.await.expect("client task");
            this_run += ids.len();
            acknowledged.extend(ids);
        }

        // 1. The file opens cleanly after the crash; 2. nothing acked is lost.
        let opened = Instant::now();
        let store = Store::open(data.join(DATA_FILE)).expect("redb opens after kill -9");
        let open_time = opened.elapsed();
        let (_, faces) = store
            .collection_faces(ACCOUNT, COLLECTION)
            .expect("read")
            .expect("collection exists");
        let stored: HashSet<&str> = faces.iter().map(|f| f.face_id.as_str()).collect();
        let lost: Vec<&String> = acknowledged
            .iter()
            .filter(|id| !stored.contains(id.as_str()))
            .collect();
        println!(
            "run {run}: killed after {} ms, {this_run} writes acknowledged (total {}), \
             {} stored, {} lost, reopened in {} ms ({} ms after the kill)",
            delay.as_millis(),
            acknowledged.len(),
            stored.len(),
            lost.len(),
            open_time.as_millis(),
            killed.elapsed().as_millis()
        );
        assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
        stored_after_crash = stored.len() as u64;
        drop(store);
    }
    assert!(
        !acknowledged.is_empty(),
        "no index request was acknowledged: the test proved nothing"
    );
}

/// Adds CompreFace examples (multipart, as the SDKs send them) until the
/// server stops answering; returns the image ids answered 201.
async fn add_examples_until_gone(
    client: reqwest::Client,
    url: String,
    key: String,
    image: Vec<u8>,
) -> Vec<String> {
    let boundary = "crashBoundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&image);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut acked = Vec::new();
    loop {
        let sent = client
            .post(&url)
            .header("x-api-key", &key)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body.clone())
            .send()
            .await;
        let Ok(response) = sent else {
            return acked;
        };
        let status = response.status().as_u16();
        let Ok(text) = response.text().await else {
            return acked;
        };
        match status {
            201 => {
                let v: Value = serde_json::from_str(&text).expect("a 201 body is JSON");
                acked.push(v["image_id"].as_str().expect("image_id").to_string());
            }
            503 => tokio::time::sleep(Duration::from_millis(20)).await,
            other => panic!("add example answered {other}: {text}"),
        }
    }
}

/// The same for CompreFace examples: every acknowledged example is stored
/// with its subject and its original image, byte for byte, after kill -9.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_server_loses_no_acknowledged_example_or_image() {
    let runs = env_u64("FACECORE_CRASH_RUNS").unwrap_or(3).max(1);
    let mut rng = env_u64("FACECORE_CRASH_SEED").unwrap_or(0x5eed_cafe) | 1;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let image = fixture("astronaut.png");
    let mut key = String::new();
    let mut acknowledged: HashSet<String> = HashSet::new();
    for run in 1..=runs {
        let server = start(&data);
        if run == 1 {
            let made = common::process::admin(
                &data,
                &json!({"op": "create_service", "account": "acme", "kind": "recognition", "name": "office"}),
            );
            key = made["ok"]["key"]["secret"]
                .as_str()
                .expect("key")
                .to_string();
        }
        let url = format!("{}/api/v1/recognition/faces", server.base);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                tokio::spawn(add_examples_until_gone(
                    client.clone(),
                    format!("{url}?subject=person{}", i % 3),
                    key.clone(),
                    image.clone(),
                ))
            })
            .collect();
        let delay = Duration::from_millis(300 + next(&mut rng) % 2200);
        tokio::time::sleep(delay).await;
        let mut server = server;
        server.child.kill().expect("kill -9");
        server.child.wait().expect("wait");
        let mut this_run = 0;
        for task in clients {
            let ids = task.await.expect("client task");
            this_run += ids.len();
            acknowledged.extend(ids);
        }
        let store = Store::open(data.join(DATA_FILE)).expect("redb opens after kill -9");
        let mut missing = Vec::new();
        for id in &acknowledged {
            let face = store.face("acme", "office", id).expect("read");
            let with_subject = face.as_ref().is_some_and(|f| f.person_id.is_some());
            let original = store.face_image("acme", "office", id).expect("read image");
            if !with_subject || original.as_deref() != Some(image.as_slice()) {
                missing.push(id.clone());
            }
        }
        println!(
            "examples run {run}: killed after {} ms, {this_run} acknowledged (total {}), {} incomplete",
            delay.as_millis(),
            acknowledged.len(),
            missing.len()
        );
        assert!(
            missing.is_empty(),
            "acknowledged but lost or without image: {missing:?}"
        );
        drop(store);
    }
    assert!(
        !acknowledged.is_empty(),
        "no example was acknowledged: the test proved nothing"
    );
}

/// Enrols Face Search persons (two photos each, a new name per request)
/// until the server stops answering; returns `(person_id, face_ids)` of
/// those answered 201.
async fn enrol_persons_until_gone(
    client: reqwest::Client,
    url: String,
    key: String,
    client_id: usize,
    photos: [String; 2],
) -> Vec<(String, Vec<String>)> {
    let mut acked = Vec::new();
    for n in 0.. {
        let body = json!({"collection_name": COLLECTION, "person_name": format!("c{client_id}-{n}-{}", std::process::id()),
            "metadata": {"client": client_id.to_string()}, "faces_base_64": photos});
        let sent = client
            .post(&url)
            .header("x-api-key", &key)
            .json(&body)
            .send()
            .await;
        let Ok(response) = sent else {
            return acked;
        };
        let status = response.status().as_u16();
        let Ok(text) = response.text().await else {
            return acked;
        };
        match status {
            201 => {
                let v: Value = serde_json::from_str(&text).expect("a 201 body is JSON");
                let faces = v["face_ids"]
                    .as_array()
                    .expect("face_ids")
                    .iter()
                    .map(|f| f.as_str().expect("id").to_string())
                    .collect();
                acked.push((v["person_id"].as_str().expect("id").to_string(), faces));
            }
            // A name taken by a request killed after its commit but before
            // its answer cannot happen (names are unique per run and
            // process), so every other status is a failure.
            503 => tokio::time::sleep(Duration::from_millis(20)).await,
            other => panic!("enrolment answered {other}: {text}"),
        }
    }
    acked
}

/// Face Search enrolment: every acknowledged person is stored after kill -9
/// with its metadata, both of its faces and their thumbnails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_server_loses_no_acknowledged_person() {
    let runs = env_u64("FACECORE_CRASH_RUNS").unwrap_or(3).max(1);
    let mut rng = env_u64("FACECORE_CRASH_SEED").unwrap_or(0x5eed_f00d) | 1;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let photos = [b64(&fixture("astronaut.png")), b64(&fixture("camera.png"))];
    let mut key = String::new();
    let mut acknowledged: Vec<(String, Vec<String>)> = Vec::new();
    for run in 1..=runs {
        let server = start(&data);
        if run == 1 {
            key = server.first_key.clone().expect("first start prints a key");
            let created = client
                .post(format!("{}/collections", server.base))
                .header("x-api-key", &key)
                .json(&json!({"collection_name": COLLECTION}))
                .send()
                .await
                .expect("create");
            assert_eq!(created.status().as_u16(), 201);
        }
        let url = format!("{}/persons", server.base);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                tokio::spawn(enrol_persons_until_gone(
                    client.clone(),
                    url.clone(),
                    key.clone(),
                    run as usize * 100 + i,
                    photos.clone(),
                ))
            })
            .collect();
        // An enrolment of two photos takes longer than one face's index:
        // kill later, so that every run acknowledges some.
        let delay = Duration::from_millis(1500 + next(&mut rng) % 2500);
        tokio::time::sleep(delay).await;
        let mut server = server;
        server.child.kill().expect("kill -9");
        server.child.wait().expect("wait");
        let mut this_run = 0;
        for task in clients {
            let persons = task.await.expect("client task");
            this_run += persons.len();
            acknowledged.extend(persons);
        }
        let store = Store::open(data.join(DATA_FILE)).expect("redb opens after kill -9");
        let mut missing = Vec::new();
        for (person_id, faces) in &acknowledged {
            let person = store.person(ACCOUNT, COLLECTION, person_id).expect("read");
            let whole = person
                .as_ref()
                .is_some_and(|p| p.face_count == 2 && p.metadata.contains_key("client"));
            let faces_ok = faces.len() == 2
                && faces.iter().all(|f| {
                    store
                        .face(ACCOUNT, COLLECTION, f)
                        .expect("read face")
                        .is_some_and(|face| face.person_id.as_deref() == Some(person_id))
                        && store
                            .face_thumbnail(ACCOUNT, COLLECTION, f)
                            .expect("read thumbnail")
                            .is_some()
                });
            if !whole || !faces_ok {
                missing.push(person_id.clone());
            }
        }
        // Nothing half-written either: every stored person has both faces.
        let page = store
            .list_persons(ACCOUNT, COLLECTION, 0, usize::MAX)
            .expect("list");
        let partial: Vec<_> = page
            .persons
            .iter()
            .filter(|p| p.face_count != 2)
            .map(|p| p.person_id.clone())
            .collect();
        println!(
            "persons run {run}: killed after {} ms, {this_run} acknowledged (total {}), {} incomplete, {} stored",
            delay.as_millis(),
            acknowledged.len(),
            missing.len(),
            page.total
        );
        assert!(
            missing.is_empty(),
            "acknowledged but lost or partial: {missing:?}"
        );
        assert!(partial.is_empty(), "stored without all faces: {partial:?}");
        drop(store);
    }
    assert!(
        !acknowledged.is_empty(),
        "no person was acknowledged: the test proved nothing"
    );
}
