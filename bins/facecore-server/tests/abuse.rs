//! Abuse: hostile inputs each get the right 4xx quickly, without a memory
//! spike, and without touching anything they should not.
//!
//! Covered elsewhere: a 50000 × 50000 PNG header, truncated PNGs and broken
//! base64 (`verification_api`), slow bodies and headers (slowloris) and
//! chunked bodies over the limit (`verification_api`), private and loopback
//! URLs and redirects to them (`url_and_jwt`), cross-account access
//! (`recognition_api`).

mod common;

use std::io::Cursor;
use std::time::{Duration, Instant};

use common::process::proc_status_bytes;
use common::{TestServer, assert_error, b64, fixture};
use serde_json::{Value, json};

const DETECT: &str = "/v1/face-verification/detect-faces";

/// Peak resident memory of this process so far (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    proc_status_bytes("self", "VmHWM").expect("VmHWM in /proc/self/status")
}

/// A real PNG bomb: all-zero 8-bit gray, 9000 × 9000 (81 MP, 81 MB decoded)
/// in a file of a few hundred kilobytes.
fn png_bomb() -> Vec<u8> {
    let (w, h) = (9000u32, 9000u32);
    let pixels = image::GrayImage::new(w, h);
    let mut out = Cursor::new(Vec::new());
    pixels
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

/// `jpeg` with its frame header (SOF0) patched to claim 65000 × 65000
/// pixels (4.2 GP): every header is valid, the scan data is not enough.
fn jpeg_header_bomb(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let sof = out
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline JPEG has SOF0");
    // Marker (2), length (2), precision (1), then height and width.
    out[sof + 5..sof + 7].copy_from_slice(&65000u16.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&65000u16.to_be_bytes());
    out
}

/// A real JPEG of the astronaut fixture.
fn astronaut_jpeg() -> Vec<u8> {
    let img = image::load_from_memory(&fixture("astronaut.png")).expect("fixture");
    let mut out = Cursor::new(Vec::new());
    img.to_rgb8()
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode");
    out.into_inner()
}

fn image_body(bytes: &[u8]) -> Value {
    json!({"image": {"bytes": b64(bytes)}})
}

/// Sends `body` to detect-faces and checks the answer: status, one of the
/// codes, and the time it took (printed; asserted against `limit`).
async fn expect(server: &TestServer, what: &str, body: Value, status: u16, codes: &[&str]) {
    let started = Instant::now();
    let got = server.post(DETECT, &body).await;
    let took = started.elapsed();
    println!(
        "{what}: {} {} in {took:?} (peak RSS {} MB)",
        got.0,
        got.1["code"],
        peak_rss() / (1024 * 1024)
    );
    assert!(
        took < Duration::from_secs(1),
        "{what}: answered in {took:?}, not within 1 s"
    );
    if status == 200 {
        assert_eq!(got.0, 200, "{what}: {}", got.1);
        return;
    }
    let code = got.1["code"].as_str().unwrap_or_default();
    assert!(codes.contains(&code), "{what}: {} {}", got.0, got.1);
    assert_error(&got, status, code);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_images_and_bodies_are_refused_quickly_without_a_memory_spike() {
    let server = TestServer::default().await;
    // Warm up: models loaded, arenas grown by one real request.
    let jpeg = astronaut_jpeg();
    expect(&server, "a real JPEG", image_body(&jpeg), 200, &[]).await;
    let bomb = png_bomb();
    assert!(bomb.len() < 1_000_000, "the bomb is small: {}", bomb.len());
    // Built before the baseline, so that only the server's memory counts.
    let zeros = format!(
        "{{\"image\": {{\"bytes\": \"{}\"}}}}",
        "A".repeat(10 * 1024 * 1024)
    )
    .into_bytes();
    let before = peak_rss();

    expect(
        &server,
        "PNG bomb (81 MP in a small file)",
        image_body(&bomb),
        400,
        &["ERR_IMAGE_TOO_LARGE"],
    )
    .await;
    expect(
        &server,
        "JPEG header claiming 65000 x 65000",
        image_body(&jpeg_header_bomb(&jpeg)),
        400,
        &["ERR_IMAGE_TOO_LARGE"],
    )
    .await;
    for cut in [jpeg.len() / 2, 600, 3] {
        expect(
            &server,
            &format!("JPEG truncated to {cut} bytes"),
            image_body(&jpeg[..cut]),
            400,
            &["ERR_IMAGE_CANNOT_BE_DECODED"],
        )
        .await;
    }
    // Polyglots: a PNG signature in front of a JPEG is not a PNG; a JPEG
    // with a PNG appended is a JPEG (decoders stop at its end marker).
    let mut png_then_jpeg = b"\x89PNG\r\n\x1a\n".to_vec();
    png_then_jpeg.extend_from_slice(&jpeg);
    expect(
        &server,
        "PNG signature + JPEG",
        image_body(&png_then_jpeg),
        400,
        &["ERR_IMAGE_CANNOT_BE_DECODED"],
    )
    .await;
    let mut jpeg_then_png = jpeg.clone();
    jpeg_then_png.extend_from_slice(&fixture("astronaut.png"));
    expect(&server, "JPEG + PNG", image_body(&jpeg_then_png), 200, &[]).await;
    // 10 MB of base64 zeros: 7.5 MB of zero bytes, no image format.
    let started = Instant::now();
    let got = server.post_raw(DETECT, zeros).await;
    println!(
        "10 MB of base64 zeros: {} in {:?} (peak RSS {} MB)",
        got.0,
        started.elapsed(),
        peak_rss() / (1024 * 1024)
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_error(&got, 400, "ERR_IMAGE_CANNOT_BE_DECODED");

    // Deeply nested JSON: refused by the parser's depth limit, no overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let started = Instant::now();
    let got = server.post_raw(DETECT, deep.into_bytes()).await;
    println!(
        "100000-deep JSON array: {} in {:?}",
        got.0,
        started.elapsed()
    );
    assert_error(&got, 400, "ERR_VALIDATION");
    let deep_field = format!(
        "{{\"image\": {{\"bytes\": {}1{}}}}}",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let got = server.post_raw(DETECT, deep_field.into_bytes()).await;
    assert_error(&got, 400, "ERR_VALIDATION");

    // 100 MB announced: refused from the header, before a byte is read.
    let started = Instant::now();
    let (response, _) = common::raw_request(
        &server.base,
        &format!(
            "POST {DETECT} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            server.key,
            100 * 1024 * 1024
        ),
        "{\"image\": {\"bytes\": \"",
    )
    .await;
    println!("100 MB Content-Length: {:?}", started.elapsed());
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("ERR_PAYLOAD_TOO_LARGE"), "{response}");

    let grown = peak_rss().saturating_sub(before);
    println!("peak RSS grew by {} MB", grown / (1024 * 1024));
    // The largest legitimate holder is the 10 MB body: the collected body,
    // the parsed string and the decoded bytes, about 4x the body. Decoding
    // either bomb would have taken 243 MB (the PNG as RGB) to 12 GB.
    assert!(
        grown < 64 * 1024 * 1024,
        "peak RSS grew by {grown} bytes while refusing hostile input"
    );
    // And the server still works.
    expect(&server, "a real JPEG again", image_body(&jpeg), 200, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_collection_ids_stay_opaque_and_many_collections_stay_fast() {
    let server = TestServer::default().await;
    let data_dir = server
        .store
        .path()
        .parent()
        .expect("data dir")
        .to_path_buf();
    let files_before = std::fs::read_dir(&data_dir).expect("dir").count();

    // SQL- and path-like ids are just text: stored and returned verbatim.
    let opaque = [
        "'; DROP TABLE collections; --",
        "\" OR \"1\"=\"1",
        "../../../../etc/passwd",
        "..",
        "/",
        "C:\\Windows\\system32",
        "%2e%2e%2f%00",
        "<script>alert(1)</script>",
        "${jndi:ldap://x}",
        "名前 with spaces",
    ];
    for id in opaque {
        let got = server
            .post("/v1/collection/create", &json!({"collectionId": id}))
            .await;
        assert_eq!(got, (200, json!({"collectionId": id})), "{id}");
        let got = server
            .client
            .get(format!("{}/v1/collection/get", server.base))
            .query(&[("collectionId", id)])
            .header("Authorization", format!("ApiKey {}", server.key))
            .send()
            .await
            .expect("get");
        assert_eq!(got.status(), 200, "{id}");
        let body: Value = got.json().await.expect("json");
        assert_eq!(body["recognitionCollection"]["collectionId"], id);
    }
    // Control characters (the store's key separator among them) are refused.
    for id in ["a\u{0}b", "line\nbreak", "\u{7f}"] {
        let got = server
            .post("/v1/collection/create", &json!({"collectionId": id}))
            .await;
        assert_error(&got, 400, "ERR_VALIDATION");
    }
    // Nothing was created beside the data file.
    assert_eq!(
        std::fs::read_dir(&data_dir).expect("dir").count(),
        files_before
    );

    // Many collections for one account: listing stays complete and quick.
    let many: usize = std::env::var("FACECORE_ABUSE_COLLECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let started = Instant::now();
    for i in 0..many {
        server
            .store
            .create_collection("tester", &format!("bulk-{i:05}"), None)
            .expect("create");
    }
    println!("{many} collections created in {:?}", started.elapsed());
    let started = Instant::now();
    let (status, all) = server
        .call(reqwest::Method::GET, "/v1/collection/get-all")
        .await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    let listed = all["collections"].as_array().expect("list").len();
    println!("get-all of {listed} collections in {took:?}");
    assert_eq!(listed, many + opaque.len());
    assert!(took < Duration::from_secs(1), "get-all took {took:?}");
    // Another account sees none of them.
    let other = server.store.create_key("other", None).expect("key").secret;
    assert_eq!(
        server
            .call_as(reqwest::Method::GET, "/v1/collection/get-all", &other)
            .await,
        (200, json!({"collections": []}))
    );
}
