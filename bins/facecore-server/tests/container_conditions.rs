//! The container's run conditions, proved without Docker (no engine runs on
//! the build machines): the server binary runs with
//!
//! * a read-only models directory (files 0444, directory 0555) that it must
//!   leave untouched,
//! * a fresh, empty data directory,
//! * its address from the environment (`FACECORE_BIND`), as in the image,
//! * a low open-files limit (`ulimit -n 128`), and
//! * when the test runs as root, as the unprivileged user `nobody` (65534),
//!   as the image's non-root user, so the read-only permissions bind,
//!
//! and must answer the whole API flow, survive more connections than it has
//! file descriptors, and stop cleanly on SIGTERM.
//! `FACECORE_SERVER_BIN` points it at the release build.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::process::{proc_status, server_exe, sigterm, spawn};
use common::{b64, fixture};
use serde_json::{Value, json};

const NOBODY: u32 = 65534;
const OPEN_FILES: u32 = 128;

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Name, size and modification time of every entry: what "untouched" means.
fn listing(dir: &Path) -> Vec<(String, u64, SystemTime)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            let e = e.expect("entry");
            let m = e.metadata().expect("metadata");
            (
                e.file_name().to_string_lossy().into_owned(),
                m.len(),
                m.modified().expect("mtime"),
            )
        })
        .collect();
    out.sort();
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_with_read_only_models_fresh_data_env_port_and_few_files() {
    let root = tempfile::tempdir().expect("temp");
    set_mode(root.path(), 0o755);
    let as_root = nix_uid() == 0;

    // Read-only models: the files the manifest names, copied.
    let source = facecore::manifest::default_models_dir();
    let models = root.path().join("models");
    std::fs::create_dir(&models).expect("mkdir");
    for entry in std::fs::read_dir(&source).expect("models dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name == "manifest.json" || name.ends_with(".onnx") {
            std::fs::copy(&path, models.join(&name)).expect("copy");
            set_mode(&models.join(&name), 0o444);
        }
    }
    set_mode(&models, 0o555);
    let models_before = listing(&models);
    assert!(models_before.len() >= 4, "{models_before:?}");

    // A fresh data dir, writable by the server's user only.
    let data = root.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    set_mode(&data, 0o700);
    if as_root {
        std::os::unix::fs::chown(&data, Some(NOBODY), Some(NOBODY)).expect("chown");
    }

    let port = free_port();
    let script = format!("ulimit -n {OPEN_FILES} && exec \"$0\" \"$@\"");
    let mut command = if as_root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid",
            &NOBODY.to_string(),
            "--regid",
            &NOBODY.to_string(),
            "--clear-groups",
            "--",
            "sh",
            "-c",
            &script,
        ]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    command
        .arg(server_exe())
        .env_remove("FACECORE_CONFIG")
        .env("FACECORE_BIND", format!("127.0.0.1:{port}"))
        .env("FACECORE_DATA_DIR", &data)
        .env("FACECORE_MODELS", &models)
        .env("FACECORE_LOG_FORMAT", "json");
    let mut server = spawn(command);
    assert_eq!(server.base, format!("http://127.0.0.1:{port}"));
    let key = server
        .first_key
        .take()
        .expect("a fresh data dir prints a key");
    let pid = server.child.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(&OPEN_FILES.to_string())),
        "{limits}"
    );
    if as_root {
        let uid = proc_status(&pid.to_string(), "Uid").expect("Uid line");
        assert!(uid.contains(&NOBODY.to_string()), "{uid}");
    }

    // The API flow.
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let auth = format!("ApiKey {key}");
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .header("Authorization", &auth)
            .json(&body)
            .send()
    };
    let health = client
        .get(format!("{base}/v1/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let image = json!({"bytes": b64(&fixture("astronaut.png"))});
    let detected: Value = post(
        "/v1/face-verification/detect-faces",
        json!({"image": image}),
    )
    .await
    .expect("detect")
    .json()
    .await
    .expect("json");
    assert_eq!(
        detected["faces"].as_array().map(Vec::len),
        Some(1),
        "{detected}"
    );
    let embedded: Value = post(
        "/v1/face-verification/get-face-embeddings",
        json!({"image": image}),
    )
    .await
    .expect("embed")
    .json()
    .await
    .expect("json");
    let embedding = embedded["faces"][0]["embedding"].clone();
    let compared: Value = post(
        "/v1/face-verification/compare-face-embeddings",
        json!({"embedding1": embedding, "embedding2": embedding}),
    )
    .await
    .expect("compare")
    .json()
    .await
    .expect("json");
    assert_eq!(compared["similarity"], 100, "{compared}");
    let created = post("/v1/collection/create", json!({"collectionId": "staff"}))
        .await
        .expect("create");
    assert_eq!(created.status(), 200);
    let indexed: Value = post(
        "/v1/face/index",
        json!({"image": image, "collectionId": "staff"}),
    )
    .await
    .expect("index")
    .json()
    .await
    .expect("json");
    let found: Value = post(
        "/v1/face/search",
        json!({"image": image, "collectionId": "staff"}),
    )
    .await
    .expect("search")
    .json()
    .await
    .expect("json");
    assert_eq!(found["faceId"], indexed["faceId"], "{found}");

    // More connections than file descriptors: some are refused while the
    // limit is hit, the server keeps running and serves afterwards.
    let mut idle = Vec::new();
    for _ in 0..OPEN_FILES + 40 {
        if let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            idle.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(idle);
    let mut healthy = false;
    for _ in 0..50 {
        let fresh = reqwest::Client::new();
        if let Ok(r) = fresh.get(format!("{base}/v1/healthz")).send().await
            && r.status() == 200
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        healthy,
        "the server did not recover from running out of descriptors"
    );
    assert!(
        server.child.try_wait().expect("wait").is_none(),
        "server exited"
    );

    // A clean stop, and the models exactly as they were.
    sigterm(&server.child);
    let exit = server.child.wait().expect("wait");
    assert!(exit.success(), "{exit}");
    assert_eq!(listing(&models), models_before);
    let db = std::fs::metadata(data.join(facecore_server::DATA_FILE)).expect("data file");
    if as_root {
        assert_eq!(db.uid(), NOBODY);
    }
}

/// The effective uid of this process (from /proc, no libc needed).
fn nix_uid() -> u32 {
    proc_status("self", "Uid")
        .and_then(|v| v.split_whitespace().nth(1)?.parse().ok())
        .expect("uid")
}
