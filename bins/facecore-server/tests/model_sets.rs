//! Model sets through the real server on a loopback port: what
//! `GET /v1/models` says, the model id every embedding and collection
//! carries, and the refusals when vectors of different models meet.

mod common;

use common::{TestServer, assert_error, b64, fixture};
use reqwest::Method;
use serde_json::{Value, json};

/// `GET /v1/models` needs no key and lists every set of the manifest: the
/// loaded default first with its calibration, the non-commercial
/// `buffalo_s` with its terms and, when not loaded, how to install it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_every_set_with_licence_and_calibration() {
    let server = TestServer::default().await;
    let response = server
        .client
        .get(format!("{}/v1/models", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let sets = body["sets"].as_array().expect("sets");
    let default = &sets[0];
    assert_eq!(default["name"], "default");
    assert_eq!(default["default"], true);
    assert_eq!(default["loaded"], true);
    assert_eq!(default["commercial_use"], true);
    assert_eq!(default["embedding_model"], "fr_feature@0.0.1");
    assert_eq!(default["embedding_dim"], 512);
    let fpr = default["calibration"]["fpr_1e4"]
        .as_f64()
        .expect("calibrated");
    assert!((0.3..0.6).contains(&fpr), "{fpr}");
    let roles: Vec<&str> = default["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["role"].as_str().expect("role"))
        .collect();
    assert_eq!(roles, ["detector", "landmarks68", "embedder"]);
    let buffalo = sets
        .iter()
        .find(|s| s["name"] == "buffalo_s")
        .expect("buffalo_s is listed");
    assert_eq!(buffalo["commercial_use"], false);
    assert_eq!(buffalo["default"], false);
    assert!(
        buffalo["terms"]
            .as_str()
            .is_some_and(|t| t.contains("non-commercial")),
        "{buffalo}"
    );
    // This in-process server has only the default set.
    assert_eq!(buffalo["loaded"], false);
    assert_eq!(
        buffalo["install"],
        "cargo xtask fetch-models --set buffalo_s --accept-model-licence"
    );
}

/// get-face-embeddings names the model of its vectors; compare takes it
/// back: the loaded model compares, any other is ERR_MODEL_MISMATCH, and
/// without it the vectors are the default model's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_carry_their_model_and_compare_checks_it() {
    let server = TestServer::default().await;
    let image = json!({"bytes": b64(&fixture("astronaut.png"))});
    let (status, got) = server
        .post(
            "/v1/face-verification/get-face-embeddings",
            &json!({"image": image}),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["model"], "fr_feature@0.0.1");
    let e = got["faces"][0]["embedding"].clone();
    let path = "/v1/face-verification/compare-face-embeddings";
    let same = server
        .post(
            path,
            &json!({"embedding1": e, "embedding2": e, "model": "fr_feature@0.0.1"}),
        )
        .await;
    assert_eq!(same.0, 200, "{}", same.1);
    assert_eq!(same.1["similarity"], 100);
    let untagged = server
        .post(path, &json!({"embedding1": e, "embedding2": e}))
        .await;
    assert_eq!(untagged, same);
    let other = server
        .post(
            path,
            &json!({"embedding1": e, "embedding2": e, "model": "w600k_mbf@buffalo_s"}),
        )
        .await;
    assert_error(&other, 400, "ERR_MODEL_MISMATCH");
    let message = other.1["message"].as_str().expect("message");
    assert!(message.contains("fr_feature@0.0.1"), "{message}");
    // A wrong type for the new field is a validation error like any other.
    let wrong = server
        .post(path, &json!({"embedding1": e, "embedding2": e, "model": 5}))
        .await;
    assert_eq!(wrong.0, 400, "{}", wrong.1);

    // No face: no model to name.
    let (status, none) = server
        .post(
            "/v1/face-verification/get-face-embeddings",
            &json!({"image": {"bytes": b64(&fixture("chelsea.png"))}}),
        )
        .await;
    assert_eq!(status, 200, "{none}");
    assert!(none.get("model").is_none(), "{none}");
}

/// Collections show the model they were made with, in both collection
/// dialects; one whose model this server has not loaded is refused with
/// ERR_MODEL_NOT_LOADED before any inference, and its faces stay stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_record_their_model_and_refuse_an_unloaded_one() {
    let server = TestServer::default().await;
    let (status, _) = server
        .post("/v1/collection/create", &json!({"collectionId": "staff"}))
        .await;
    assert_eq!(status, 200);
    let (_, got) = server
        .call(Method::GET, "/v1/collection/get?collectionId=staff")
        .await;
    assert_eq!(
        got["recognitionCollection"]["embeddingModel"],
        "fr_feature@0.0.1"
    );
    let stored = server
        .store
        .collection("tester", "staff")
        .expect("read")
        .expect("stored");
    assert_eq!(stored.embedding_model.as_deref(), Some("fr_feature@0.0.1"));

    // A collection made by a server that had another model set as default.
    server
        .store
        .create_collection_for_model("tester", "elsewhere", None, Some("w600k_mbf@buffalo_s"))
        .expect("create");
    let image = json!({"bytes": b64(&fixture("astronaut.png"))});
    let refused = server
        .post(
            "/v1/face/index",
            &json!({"collectionId": "elsewhere", "image": image}),
        )
        .await;
    assert_error(&refused, 409, "ERR_MODEL_NOT_LOADED");
    let message = refused.1["message"].as_str().expect("message");
    assert!(
        message.contains("w600k_mbf@buffalo_s") && message.contains("fr_feature@0.0.1"),
        "{message}"
    );
    let (_, all) = server.call(Method::GET, "/v1/collection/get-all").await;
    let models: Vec<&str> = all["collections"]
        .as_array()
        .expect("collections")
        .iter()
        .map(|c| c["embeddingModel"].as_str().expect("model"))
        .collect();
    assert_eq!(models, ["w600k_mbf@buffalo_s", "fr_feature@0.0.1"]);

    // The Face Search API: the same refusal in its own shape.
    let search = server
        .client
        .post(format!("{}/face-search", server.base))
        .header("x-api-key", &server.key)
        .json(&json!({
            "collection_name": "elsewhere",
            "face_base_64": b64(&fixture("astronaut.png")),
        }))
        .send()
        .await
        .expect("send");
    assert_eq!(search.status(), 409);
    let body: Value = search.json().await.expect("json");
    assert_eq!(body["code"], "ERR_MODEL_NOT_LOADED", "{body}");
    let listed = server
        .client
        .get(format!("{}/collections", server.base))
        .header("x-api-key", &server.key)
        .send()
        .await
        .expect("send");
    let listed: Value = listed.json().await.expect("json");
    let names: Vec<(&str, &str)> = listed["collections"]
        .as_array()
        .expect("collections")
        .iter()
        .map(|c| {
            (
                c["collection_name"].as_str().expect("name"),
                c["embedding_model"].as_str().expect("model"),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("elsewhere", "w600k_mbf@buffalo_s"),
            ("staff", "fr_feature@0.0.1")
        ]
    );
}

/// A models directory of links to the repository's model files (all sets),
/// with the non-commercial set's terms accepted or not.
fn models_dir(accepted: bool) -> tempfile::TempDir {
    let source = std::env::var_os("FACECORE_MODELS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models"))
        });
    let dir = tempfile::tempdir().expect("temp");
    for name in ["scrfd_500m_bnkps.onnx", "w600k_mbf.onnx"] {
        assert!(
            source.join(name).is_file(),
            "{name} is missing from {}: run `cargo xtask fetch-models --set buffalo_s \
             --accept-model-licence` (the test suite's `cargo xtask test` does)",
            source.display()
        );
    }
    for entry in std::fs::read_dir(&source).expect("models dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "onnx") {
            std::os::unix::fs::symlink(&path, dir.path().join(path.file_name().expect("name")))
                .expect("link");
        }
    }
    if accepted {
        std::fs::write(dir.path().join("LICENCE-ACCEPTED-buffalo_s"), "accepted").expect("write");
    }
    dir
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let response = client
        .post(format!("{base}{path}"))
        .header("Authorization", format!("ApiKey {key}"))
        .json(body)
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn get(client: &reqwest::Client, base: &str, key: &str, path: &str) -> Value {
    client
        .get(format!("{base}{path}"))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json")
}

/// The two sets side by side in the real binary: a collection made under
/// the default set keeps its model when the server restarts with
/// `--model-set buffalo_s`; new collections take the new default; each is
/// searched with its own model. The non-commercial set says so at start,
/// and does not load without its terms accepted; a collection of a set that
/// is not loaded is refused, and its faces are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sets_side_by_side_through_the_real_server() {
    use common::process::{sigterm, start_with};
    let dir = tempfile::tempdir().expect("temp");
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    let astronaut = json!({"bytes": b64(&fixture("astronaut.png"))});
    let models = models_dir(false);
    let models_arg = models.path().to_str().expect("utf-8").to_string();

    // 1. Only the default set (buffalo_s is not accepted here).
    let mut server = start_with(&data, &["--models-dir", &models_arg], &[]);
    let key = server.first_key.clone().expect("first start prints a key");
    let base = server.base.clone();
    let (status, _) = send(
        &client,
        &base,
        &key,
        "/v1/collection/create",
        &json!({"collectionId": "old"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, indexed) = send(
        &client,
        &base,
        &key,
        "/v1/face/index",
        &json!({"collectionId": "old", "image": astronaut}),
    )
    .await;
    assert_eq!(status, 200, "{indexed}");
    sigterm(&server.child);
    server.child.wait().expect("wait");

    // 2. Without the acceptance, buffalo_s cannot be the default.
    let out = std::process::Command::new(common::process::server_exe())
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .args(["--models-dir", &models_arg, "--model-set", "buffalo_s"])
        .env_remove("FACECORE_CONFIG")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("non-commercial") && err.contains("--accept-model-licence"),
        "{err}"
    );

    // 3. Accepted, and the default: both sets load; it says so at start.
    let models = models_dir(true);
    let models_arg = models.path().to_str().expect("utf-8").to_string();
    let mut server = start_with(
        &data,
        &["--models-dir", &models_arg, "--model-set", "buffalo_s"],
        &[],
    );
    let said = server.startup.join("\n");
    assert!(
        said.contains("NON-COMMERCIAL") && said.contains("'default' (also loaded)"),
        "{said}"
    );
    let base = server.base.clone();
    let listed: Value = client
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let sets = listed["sets"].as_array().expect("sets");
    assert_eq!(
        (&sets[0]["name"], &sets[0]["default"], &sets[0]["loaded"]),
        (&json!("buffalo_s"), &json!(true), &json!(true))
    );
    assert_eq!(sets[1]["loaded"], true);
    let (status, _) = send(
        &client,
        &base,
        &key,
        "/v1/collection/create",
        &json!({"collectionId": "new"}),
    )
    .await;
    assert_eq!(status, 200);
    for (collection, model) in [("old", "fr_feature@0.0.1"), ("new", "w600k_mbf@buffalo_s")] {
        let got = get(
            &client,
            &base,
            &key,
            &format!("/v1/collection/get?collectionId={collection}"),
        )
        .await;
        assert_eq!(
            got["recognitionCollection"]["embeddingModel"], model,
            "{got}"
        );
    }
    let (status, _) = send(
        &client,
        &base,
        &key,
        "/v1/face/index",
        &json!({"collectionId": "new", "image": astronaut}),
    )
    .await;
    assert_eq!(status, 200);
    // The same photo is found in both, each by its own model.
    for collection in ["old", "new"] {
        let (status, found) = send(
            &client,
            &base,
            &key,
            "/v1/face/search",
            &json!({"collectionId": collection, "image": astronaut, "faceMatchThreshold": 80}),
        )
        .await;
        assert_eq!(status, 200, "{found}");
        assert!(
            found["similarity"].as_i64().unwrap_or(0) >= 95,
            "{collection}: {found}"
        );
    }
    // The stateless calls use the new default, and say which model.
    let (status, embedded) = send(
        &client,
        &base,
        &key,
        "/v1/face-verification/get-face-embeddings",
        &json!({"image": astronaut}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(embedded["model"], "w600k_mbf@buffalo_s");
    let e = embedded["faces"][0]["embedding"].clone();
    for model in ["w600k_mbf@buffalo_s", "fr_feature@0.0.1"] {
        let (status, compared) = send(
            &client,
            &base,
            &key,
            "/v1/face-verification/compare-face-embeddings",
            &json!({"embedding1": e, "embedding2": e, "model": model}),
        )
        .await;
        assert_eq!(
            (status, &compared["similarity"]),
            (200, &json!(100)),
            "{model}"
        );
    }
    sigterm(&server.child);
    server.child.wait().expect("wait");

    // 4. Back to the default set alone: "new" is refused, nothing is lost.
    let models = models_dir(false);
    let models_arg = models.path().to_str().expect("utf-8").to_string();
    let server = start_with(&data, &["--models-dir", &models_arg], &[]);
    let base = server.base.clone();
    let refused = send(
        &client,
        &base,
        &key,
        "/v1/face/search",
        &json!({"collectionId": "new", "image": astronaut}),
    )
    .await;
    assert_error(&refused, 409, "ERR_MODEL_NOT_LOADED");
    let got: Value = get(&client, &base, &key, "/v1/collection/get?collectionId=new").await;
    assert_eq!(got["recognitionCollection"]["faceCount"], 1, "{got}");
    let (status, found) = send(
        &client,
        &base,
        &key,
        "/v1/face/search",
        &json!({"collectionId": "old", "image": astronaut}),
    )
    .await;
    assert_eq!(status, 200, "{found}");
}
