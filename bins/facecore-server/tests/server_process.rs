//! The real `facecore-server` binary: first-start key, the admin socket the
//! CLI uses while the server runs (the CLI side is tested in facecore-cli), config errors, and graceful shutdown on
//! SIGTERM with a request in flight.

mod common;

use std::process::Command;
use std::time::Duration;

use common::process::{admin, sigterm, start};
use common::{b64, fixture};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_key_admin_socket_cli_and_graceful_shutdown() {
    let dir = tempfile::tempdir().expect("temp");
    let data = dir.path().join("data");
    let mut server = start(&data);
    let key = server.first_key.clone().expect("first start prints a key");
    let client = reqwest::Client::new();
    let compare = format!(
        "{}/v1/face-verification/compare-face-embeddings",
        server.base
    );
    let v: Vec<f64> = (0..512).map(|i| f64::from(i % 3) - 1.0).collect();
    let body = json!({"embedding1": v, "embedding2": v});
    let response = client
        .post(&compare)
        .header("Authorization", format!("ApiKey {key}"))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);

    // The admin socket works while the server holds the data file, and a key
    // made through it works at once; a revoked one stops at once.
    let made = admin(&data, &json!({"op": "create_key", "account": "acme"}));
    let secret = made["ok"]["secret"].as_str().expect("secret").to_string();
    let post = |auth: String| {
        client
            .post(&compare)
            .header("Authorization", auth)
            .json(&body)
            .send()
    };
    assert_eq!(
        post(format!("ApiKey {secret}"))
            .await
            .expect("send")
            .status(),
        200
    );
    let id = made["ok"]["info"]["id"].as_str().expect("id");
    admin(&data, &json!({"op": "revoke_key", "id": id}));
    assert_eq!(
        post(format!("ApiKey {secret}"))
            .await
            .expect("send")
            .status(),
        401
    );

    // A CompreFace service made through the socket: its key is refused by
    // the account-key APIs with a message that says where it belongs.
    let service = admin(
        &data,
        &json!({"op": "create_service", "account": "acme", "kind": "recognition", "name": "office"}),
    );
    let service_key = service["ok"]["key"]["secret"]
        .as_str()
        .expect("service key")
        .to_string();
    let refused = post(format!("ApiKey {service_key}")).await.expect("send");
    assert_eq!(refused.status(), 401);
    let refused: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(refused["code"], "ERR_API_KEY_NOT_VALID");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("recognition service 'office'")),
        "{refused}"
    );
    let listed = admin(&data, &json!({"op": "list_services", "account": "acme"}));
    assert_eq!(listed["ok"][0]["collection"], "office");
    let deleted = admin(
        &data,
        &json!({"op": "delete_service", "account": "acme", "id": "office"}),
    );
    assert_eq!(deleted["ok"]["owns_collection"], true);

    // SIGTERM with a slow request in flight: it still completes.
    let big = image::load_from_memory(&fixture("astronaut.png")).expect("decode");
    let mut png = std::io::Cursor::new(Vec::new());
    big.resize_exact(2400, 2400, image::imageops::FilterType::Triangle)
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("encode");
    let detect = client
        .post(format!("{}/v1/face-verification/detect-faces", server.base))
        .header("Authorization", format!("ApiKey {key}"))
        .json(&json!({"image": {"bytes": b64(png.get_ref())}}))
        .send();
    let in_flight = tokio::spawn(detect);
    tokio::time::sleep(Duration::from_millis(150)).await;
    sigterm(&server.child);
    let response = in_flight
        .await
        .expect("task")
        .expect("in-flight request completes");
    assert_eq!(response.status(), 200);
    let status = server.child.wait().expect("wait");
    assert!(status.success(), "{status}");
    assert!(
        !data.join("admin.sock").exists(),
        "socket removed at shutdown"
    );
    // One JSON log line per request, with the account, never a key.
    let mut logged = Vec::new();
    while let Ok(line) = server.lines.try_recv() {
        assert!(
            !line.contains(&secret) && !line.contains(&key),
            "keys are never logged: {line}"
        );
        if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) {
            logged.push(entry);
        }
    }
    let compare_ok = logged.iter().find(|e| {
        e["route"] == "/v1/face-verification/compare-face-embeddings" && e["status"] == 200
    });
    let entry = compare_ok.unwrap_or_else(|| panic!("no access log line in {logged:?}"));
    assert_eq!(entry["method"], "POST");
    assert_eq!(entry["account"], "default");
    assert!(entry["latency_ms"].as_f64().is_some() && entry["request_id"].is_string());
    assert!(
        logged.iter().any(|e| e["status"] == 401),
        "refused requests are logged too"
    );

    // A second start does not make another key, and the old one still works.
    let mut again = start(&data);
    assert!(again.first_key.is_none());
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1/face-verification/compare-face-embeddings",
            again.base
        ))
        .header("Authorization", format!("ApiKey {key}"))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    sigterm(&again.child);
    assert!(again.child.wait().expect("wait").success());

    // With the server stopped, the data file holds everything the admin
    // socket changed.
    let store = facecore::store::Store::open(data.join("facecore.redb")).expect("open");
    let keys = store.list_keys(Some("acme")).expect("keys");
    assert_eq!(keys.len(), 2, "the account key and the service's");
    assert!(keys.iter().all(|k| k.revoked_at.is_some()));
    assert!(store.list_services(None).expect("services").is_empty());
    assert!(store.collection("acme", "office").expect("read").is_none());
}

#[test]
fn invalid_configuration_fails_at_start_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_facecore-server"))
        .args(["--bind", "not-an-address"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid configuration") && err.contains("bind"),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_facecore-server"))
        .args(["--print-config", "--bind", "0.0.0.0:9999"])
        .env("FACECORE_JWT_SECRET", "x".repeat(40))
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bind = \"0.0.0.0:9999\""), "{text}");
    assert!(
        text.contains("jwt_secret = \"<redacted>\"") && !text.contains(&"x".repeat(40)),
        "{text}"
    );
}

/// `--healthcheck` (the container's HEALTHCHECK) exits 0 while the server
/// answers and 1 once it is gone.
#[test]
fn healthcheck_flag_reports_the_running_server() {
    let dir = tempfile::tempdir().expect("temp");
    let server = start(&dir.path().join("data"));
    let bind = server.base.trim_start_matches("http://").to_string();
    let probe = || {
        Command::new(common::process::server_exe())
            .args(["--healthcheck", "--bind", &bind])
            .env_remove("FACECORE_CONFIG")
            .output()
            .expect("run --healthcheck")
    };
    let up = probe();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    drop(server); // kills and reaps it
    let down = probe();
    assert_eq!(down.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(
        stderr.contains("unhealthy") && stderr.contains(&bind),
        "{stderr}"
    );
}
