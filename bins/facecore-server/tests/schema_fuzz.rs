//! Schema fuzzing: schemathesis reads `/openapi.json` of the real server and
//! sends generated requests to every operation (examples, boundary
//! "coverage" cases, random fuzzing, and stateful sequences that create a
//! collection and then use it). It must find no server error (5xx), no
//! response that breaks the document (status, content type, headers, body
//! schema), no schema-invalid request that is accepted, and no operation
//! that works without auth.
//!
//! One check is left out, `positive_data_acceptance` ("a schema-valid
//! request must be accepted"): a JSON schema cannot say that `image.bytes`
//! must decode to an image, that exactly one of `bytes` and `url` is set, or
//! that an embedding must not be all zeros, so a random schema-valid
//! request is rightly refused with a 400.
//!
//! `cargo xtask test` installs schemathesis (pinned) and sets
//! `FACECORE_SCHEMATHESIS`; without it this test says so and does nothing.
//! `FACECORE_SCHEMA_EXAMPLES` sets the examples per operation (default 25).

mod common;

use std::process::Command;

use common::process::start;

#[test]
fn openapi_document_survives_schemathesis() {
    let Some(schemathesis) = std::env::var_os("FACECORE_SCHEMATHESIS").filter(|s| !s.is_empty())
    else {
        println!("FACECORE_SCHEMATHESIS is not set: skipped (cargo xtask test sets it)");
        return;
    };
    let examples = std::env::var("FACECORE_SCHEMA_EXAMPLES").unwrap_or_else(|_| "25".into());
    let dir = tempfile::tempdir().expect("temp");
    let server = start(&dir.path().join("data"));
    let key = server.first_key.clone().expect("first start prints a key");
    let output = Command::new(&schemathesis)
        .arg("run")
        .arg(format!("{}/openapi.json", server.base))
        .args(["--header", &format!("Authorization: ApiKey {key}")])
        // The Face Search API's header, with the same account key (the
        // CompreFace calls answer it as a key of no service of theirs).
        .args(["--header", &format!("x-api-key: {key}")])
        .args(["--checks", "all"])
        .args(["--exclude-checks", "positive_data_acceptance"])
        .args(["--max-examples", &examples])
        // Fixed, so that a CI failure reproduces; change it to explore.
        .args(["--seed", "20261126"])
        // One worker: with two, hypothesis (4.32.5) hit a thread-safety bug of
        // its own ("AST constructor recursion depth mismatch").
        .args(["--workers", "1"])
        .args(["--request-timeout", "30"])
        .arg("--no-color")
        .current_dir(dir.path())
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "schemathesis found problems (above); reproduce with the same seed"
    );
    assert!(stdout.contains("passed"), "no test case ran: {stdout}");
}
