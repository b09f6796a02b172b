//! The demo page end to end in a real browser: headless Chromium, driven by
//! playwright-core (`tests/browser/demo_page.cjs`), uses the page against the
//! real server binary as a user would (key, compare, create a collection,
//! index, search, a wrong key; then CompreFace's subjects, examples and
//! recognize with a service key), and this test checks what the page showed
//! against the API's own answers. A screenshot is saved as
//! `target/demo-page.png`.
//!
//! `cargo xtask test` installs playwright-core (pinned, from npm) and sets
//! `FACECORE_PLAYWRIGHT` to it; `.ci/run` installs Debian's `chromium`.
//! `FACECORE_CHROMIUM` names another browser (default `/usr/bin/chromium`).
//! Without `FACECORE_PLAYWRIGHT` this test says so and does nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::process::{admin, start};
use common::{b64, fixture};
use serde_json::{Value, json};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn post(base: &str, key: &str, path: &str, body: &Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("Authorization", format!("ApiKey {key}"))
        .json(body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

/// The similarity of two fixtures' dominant faces, asked of the API.
async fn api_similarity(base: &str, key: &str, a: &str, b: &str) -> i64 {
    let mut embeddings = Vec::new();
    for name in [a, b] {
        let answer = post(
            base,
            key,
            "/v1/face-verification/get-face-embeddings",
            &json!({"image": {"bytes": b64(&fixture(name))}}),
        )
        .await;
        embeddings.push(answer["faces"][0]["embedding"].clone());
    }
    let answer = post(
        base,
        key,
        "/v1/face-verification/compare-face-embeddings",
        &json!({"embedding1": embeddings[0], "embedding2": embeddings[1]}),
    )
    .await;
    answer["similarity"].as_i64().expect("similarity")
}

/// The fixtures side by side in one image.
fn side_by_side(names: &[&str]) -> image::RgbImage {
    let images: Vec<image::RgbImage> = names
        .iter()
        .map(|n| {
            image::load_from_memory(&fixture(n))
                .expect("fixture")
                .to_rgb8()
        })
        .collect();
    let width = images.iter().map(image::RgbImage::width).sum();
    let height = images
        .iter()
        .map(image::RgbImage::height)
        .max()
        .unwrap_or(0);
    let mut out = image::RgbImage::new(width, height);
    let mut x = 0;
    for image in &images {
        image::imageops::replace(&mut out, image, x, 0);
        x += i64::from(image.width());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_page_compares_indexes_and_searches_in_chromium() {
    let Some(playwright) = std::env::var_os("FACECORE_PLAYWRIGHT").filter(|s| !s.is_empty()) else {
        println!("FACECORE_PLAYWRIGHT is not set: skipped (cargo xtask test sets it)");
        return;
    };
    let chromium = std::env::var_os("FACECORE_CHROMIUM")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no browser at {chromium:?}: install Debian's chromium (.ci/run does) or set FACECORE_CHROMIUM"
    );
    let root = repo_root();
    let screenshot = root.join("target/demo-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let dir = tempfile::tempdir().expect("temp");
    let data = dir.path().join("data");
    let server = start(&data);
    let key = server.first_key.clone().expect("first start prints a key");
    let service = admin(
        &data,
        &json!({"op": "create_service", "account": "default", "kind": "recognition", "name": "demo"}),
    );
    let cf_key = service["ok"]["key"]["secret"]
        .as_str()
        .expect("service key")
        .to_string();
    let two_people = dir.path().join("two-people.png");
    side_by_side(&["astronaut.png", "camera.png"])
        .save(&two_people)
        .expect("save");

    let output = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/demo_page.cjs"))
        .env("PLAYWRIGHT_CORE", &playwright)
        .env("CHROMIUM", &chromium)
        .env("BASE", &server.base)
        .env("KEY", &key)
        .env("CF_KEY", &cf_key)
        .env("TWO_PEOPLE", &two_people)
        .env("FIXTURES", root.join("fixtures"))
        .env("SCREENSHOT", &screenshot)
        // Chromium's profile and crash files go to the temp dir.
        .env("HOME", dir.path())
        .output()
        .expect("run node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser script failed:\n{stdout}\n{stderr}"
    );
    let shown: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|l| serde_json::from_str(l).expect("result json"))
        .unwrap_or_else(|| panic!("no RESULT line:\n{stdout}\n{stderr}"));
    println!("{}", serde_json::to_string_pretty(&shown).expect("json"));

    assert_eq!(shown["problems"], json!([]), "errors in the page");
    assert_eq!(shown["disabledWithoutKey"], true);
    assert_eq!(shown["keyInSessionStorage"], true);

    // The page shows exactly the API's similarity, and what it means.
    let different = api_similarity(&server.base, &key, "astronaut.png", "camera.png").await;
    let same = api_similarity(&server.base, &key, "astronaut.png", "astronaut.png").await;
    assert_eq!(shown["different"]["similarity"], different);
    assert_eq!(shown["same"]["similarity"], same);
    assert!(different < 70 && same >= 95, "{different} {same}");
    let text = |v: &Value| v.as_str().expect("text").to_string();
    assert!(text(&shown["different"]["verdict"]).starts_with("Not the same person"));
    assert!(text(&shown["different"]["meaning"]).starts_with("Below 70"));
    assert_eq!(text(&shown["same"]["verdict"]), "Same person");
    assert!(text(&shown["same"]["meaning"]).contains("1e-6"));
    // The face box was drawn on the canvas.
    assert!(shown["same"]["boxPixels"].as_u64().expect("count") > 100);

    // The collection, face and search results are the server's.
    let collection = reqwest::Client::new()
        .get(format!("{}/v1/collection/get", server.base))
        .query(&[("collectionId", "demo e2e")])
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .expect("send")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(collection["recognitionCollection"]["faceCount"], 1);
    assert_eq!(shown["faceCountCell"], "1");
    let search = post(
        &server.base,
        &key,
        "/v1/face/search",
        &json!({"image": {"bytes": b64(&fixture("astronaut.png"))}, "collectionId": "demo e2e"}),
    )
    .await;
    let face_id = search["faceId"].as_str().expect("a match");
    assert!(text(&shown["indexed"]).contains(face_id), "{shown}");
    let found = text(&shown["searchSame"]);
    assert!(
        found.starts_with(&format!(
            "Match: face {face_id}, similarity {}",
            search["similarity"]
        )),
        "{found}"
    );
    assert!(text(&shown["searchOther"]).starts_with("No face in demo e2e reaches similarity 80"));
    assert!(text(&shown["wrongKeyStatus"]).contains("ERR_API_KEY_NOT_VALID"));

    // CompreFace: the examples are the server's, and each person of the photo
    // is recognised as their subject with a match.
    let listed = reqwest::Client::new()
        .get(format!("{}/api/v1/recognition/faces", server.base))
        .header("x-api-key", &cf_key)
        .send()
        .await
        .expect("send")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(listed["total_elements"], 2, "{listed}");
    for face in listed["faces"].as_array().expect("faces") {
        let id = text(&face["image_id"]);
        let subject = text(&face["subject"]);
        assert!(
            shown["cfAdded"]
                .as_array()
                .expect("added")
                .iter()
                .any(|a| text(a) == format!("Example {id} added to {subject}.")),
            "{shown}"
        );
    }
    assert_eq!(shown["cfSubjects"], json!(["Cam", "Eileen"]));
    let recognized: Vec<String> = shown["cfRecognized"]
        .as_array()
        .expect("recognized")
        .iter()
        .map(text)
        .collect();
    assert_eq!(recognized.len(), 2, "{recognized:?}");
    for subject in ["Eileen", "Cam"] {
        assert!(
            recognized
                .iter()
                .any(|r| r.contains(&format!(": {subject}, similarity"))
                    && r.ends_with("(a match at 0.8)")),
            "{recognized:?}"
        );
    }
    assert_eq!(shown["cfKeyInSessionStorage"], true);

    let png = std::fs::read(&screenshot).expect("screenshot saved");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
    println!("screenshot: {}", screenshot.display());
}
