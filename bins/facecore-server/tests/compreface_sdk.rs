//! CompreFace's own client SDKs against the real server binary on
//! loopback: a CompreFace user's code must run unchanged.
//!
//! `cargo xtask test` installs the Python SDK (`compreface-sdk` 0.6.0 with
//! `urllib3<2`, which it needs to import) into `target/` and sets
//! `FACECORE_COMPREFACE_PYTHON` to that interpreter; the flows use the
//! labelled photos of `FACECORE_EVAL_DATA/faces-dev`. Without either, the
//! test says so and does nothing.

mod common;

use std::process::Command;

use common::process::{admin, start};
use serde_json::json;

#[test]
fn the_python_sdk_runs_its_flows_unchanged() {
    let Some(python) = std::env::var_os("FACECORE_COMPREFACE_PYTHON").filter(|s| !s.is_empty())
    else {
        println!("FACECORE_COMPREFACE_PYTHON is not set: skipped (cargo xtask test sets it)");
        return;
    };
    let Some(data) = std::env::var_os("FACECORE_EVAL_DATA").filter(|s| !s.is_empty()) else {
        println!("FACECORE_EVAL_DATA is not set: skipped (the flows use faces-dev)");
        return;
    };
    let dir = tempfile::tempdir().expect("temp");
    let data_dir = dir.path().join("data");
    let server = start(&data_dir);
    let key = |kind: &str, name: &str| {
        let made = admin(
            &data_dir,
            &json!({"op": "create_service", "account": "acme", "kind": kind, "name": name}),
        );
        made["ok"]["key"]["secret"]
            .as_str()
            .unwrap_or_else(|| panic!("service not made: {made}"))
            .to_string()
    };
    let keys = [
        key("recognition", "office"),
        key("detection", "cams"),
        key("verification", "gate"),
    ];
    let port = server.base.rsplit(':').next().expect("port").to_string();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/compreface_python.py"
    );
    let output = Command::new(&python)
        .arg(script)
        .arg(&port)
        .args(&keys)
        .arg(std::path::Path::new(&data).join("faces-dev"))
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the SDK flows failed (above)");
    assert!(stdout.contains("all SDK flows passed"), "{stdout}");
}
