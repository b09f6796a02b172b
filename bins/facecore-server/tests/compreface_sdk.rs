//! CompreFace's own client SDKs against the real server binary on
//! loopback: a CompreFace user's code must run unchanged.
//!
//! `cargo xtask test` installs the Python SDK (`compreface-sdk` 0.6.0 with
//! `urllib3<2`, which it needs to import) and the JavaScript one
//! (`@exadel/compreface-js-sdk` 1.0.0) into `target/` and sets
//! `FACECORE_COMPREFACE_PYTHON` (that interpreter) and
//! `FACECORE_COMPREFACE_JS` (the package's directory); the flows use the
//! labelled photos of `FACECORE_EVAL_DATA/faces-dev`. Without them, a test
//! says so and does nothing.

mod common;

use std::process::Command;

use common::process::{admin, start};
use serde_json::json;

/// The value of `name`, or `None` after saying why the test is skipped.
fn required(name: &str) -> Option<std::ffi::OsString> {
    let value = std::env::var_os(name).filter(|s| !s.is_empty());
    if value.is_none() {
        println!("{name} is not set: skipped (cargo xtask test sets it)");
    }
    value
}

/// Starts the server, makes a service of each type, and runs `program`
/// with `args`, then the port, the three keys and the faces-dev directory.
fn run_flows(program: &std::ffi::OsStr, args: &[&std::ffi::OsStr], data: &std::ffi::OsStr) {
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
    let output = Command::new(program)
        .args(args)
        .arg(&port)
        .args(&keys)
        .arg(std::path::Path::new(data).join("faces-dev"))
        .output()
        .expect("run the SDK script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the SDK flows failed (above)");
    assert!(stdout.contains("all SDK flows passed"), "{stdout}");
}

#[test]
fn the_javascript_sdk_runs_its_flows_unchanged() {
    let (Some(sdk), Some(data)) = (
        required("FACECORE_COMPREFACE_JS"),
        required("FACECORE_EVAL_DATA"),
    ) else {
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/compreface_js.mjs");
    run_flows(
        std::ffi::OsStr::new("node"),
        &[std::ffi::OsStr::new(script), &sdk],
        &data,
    );
}

#[test]
fn the_python_sdk_runs_its_flows_unchanged() {
    let (Some(python), Some(data)) = (
        required("FACECORE_COMPREFACE_PYTHON"),
        required("FACECORE_EVAL_DATA"),
    ) else {
        return;
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/compreface_python.py"
    );
    run_flows(&python, &[std::ffi::OsStr::new(script)], &data);
}
