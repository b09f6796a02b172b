//! The Face Verification API over real HTTP on a loopback port, with the real
//! models and real images.

mod common;

use common::{TestServer, assert_error, b64, fixture};
use serde_json::json;

const DETECT: &str = "/v1/face-verification/detect-faces";
const EMBED: &str = "/v1/face-verification/get-face-embeddings";
const COMPARE: &str = "/v1/face-verification/compare-face-embeddings";

/// Two copies of the astronaut side by side: a two-face image.
fn two_faces_png() -> Vec<u8> {
    let one = image::load_from_memory(&fixture("astronaut.png"))
        .expect("decode")
        .to_rgb8();
    let (w, h) = one.dimensions();
    let mut both = image::RgbImage::new(w * 2, h);
    image::imageops::replace(&mut both, &one, 0, 0);
    image::imageops::replace(&mut both, &one, i64::from(w), 0);
    png(&image::DynamicImage::ImageRgb8(both))
}

fn png(image: &image::DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

fn gray_png() -> Vec<u8> {
    png(&image::DynamicImage::ImageRgb8(
        image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128])),
    ))
}

fn embedding_of(body: &serde_json::Value, i: usize) -> Vec<f64> {
    body["faces"][i]["embedding"]
        .as_array()
        .expect("embedding array")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_plain_utc_time_without_auth() {
    let server = TestServer::default().await;
    let response = server
        .client
        .get(format!("{}/v1/healthz", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    let b = text.as_bytes();
    assert_eq!(text.len(), 20, "{text:?}");
    assert!(
        text.starts_with("20") && b[4] == b'-' && b[10] == b'T' && text.ends_with('Z'),
        "{text:?}"
    );
    assert!(
        b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13 | 16 | 19) || c.is_ascii_digit()),
        "{text:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_faces_finds_the_astronaut_inside_the_image() {
    let server = TestServer::default().await;
    let (status, body) = server
        .post(
            DETECT,
            &json!({"image": {"bytes": b64(&fixture("astronaut.png"))}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let faces = body["faces"].as_array().expect("faces");
    assert_eq!(faces.len(), 1, "{body}");
    assert_eq!(body["unprocessedFaceCount"], 0);
    let face = &faces[0];
    let confidence = face["confidence"].as_f64().expect("confidence");
    assert!((0.9..=1.0).contains(&confidence), "{confidence}");
    let bb = &face["boundingBox"];
    let (x, y, w, h) = (
        bb["x"].as_u64().expect("integer x"),
        bb["y"].as_u64().expect("integer y"),
        bb["width"].as_u64().expect("integer width"),
        bb["height"].as_u64().expect("integer height"),
    );
    assert!(w > 50 && h > 50 && x + w <= 512 && y + h <= 512, "{bb}");
    // The astronaut's face is in the upper middle of the 512x512 picture.
    assert!((100..300).contains(&x) && y < 200, "{bb}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_face_count_limits_and_counts_the_rest() {
    let server = TestServer::default().await;
    let image = b64(&two_faces_png());
    let (status, one) = server
        .post(DETECT, &json!({"image": {"bytes": image}}))
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["faces"].as_array().expect("faces").len(), 1);
    assert_eq!(one["unprocessedFaceCount"], 1);
    let (status, all) = server
        .post(
            DETECT,
            &json!({"image": {"bytes": image}, "maxFaceCount": 10}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(all["faces"].as_array().expect("faces").len(), 2);
    assert_eq!(all["unprocessedFaceCount"], 0);
    let (status, emb) = server
        .post(
            EMBED,
            &json!({"image": {"bytes": image}, "maxFaceCount": 2}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(emb["faces"].as_array().expect("faces").len(), 2);
    // The two copies are the same face: the highest score.
    let (status, cmp) = server
        .post(
            COMPARE,
            &json!({"embedding1": embedding_of(&emb, 0), "embedding2": embedding_of(&emb, 1)}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(cmp["similarity"].as_i64().expect("int") >= 95, "{cmp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_face_is_200_with_an_empty_list() {
    let server = TestServer::default().await;
    for (name, bytes) in [("gray", gray_png()), ("cat", fixture("chelsea.png"))] {
        for path in [DETECT, EMBED] {
            let (status, body) = server
                .post(path, &json!({"image": {"bytes": b64(&bytes)}}))
                .await;
            assert_eq!(status, 200, "{name} {path}: {body}");
            assert_eq!(body["faces"], json!([]), "{name} {path}: {body}");
            assert_eq!(body["unprocessedFaceCount"], 0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_are_unit_vectors_and_compare_as_calibrated_scores() {
    let server = TestServer::default().await;
    let (status, astronaut) = server
        .post(
            EMBED,
            &json!({"image": {"bytes": b64(&fixture("astronaut.png"))}, "maxFaceCount": 1}),
        )
        .await;
    assert_eq!(status, 200, "{astronaut}");
    let a = embedding_of(&astronaut, 0);
    assert_eq!(a.len(), 512);
    let norm = a.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "{norm}");
    assert!(astronaut["faces"][0]["face"]["boundingBox"]["width"].is_u64());

    let (_, camera) = server
        .post(
            EMBED,
            &json!({"image": {"bytes": b64(&fixture("camera.png"))}}),
        )
        .await;
    let c = embedding_of(&camera, 0);

    let (status, same) = server
        .post(COMPARE, &json!({"embedding1": a, "embedding2": a}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(same, json!({"similarity": 100}));
    let (status, different) = server
        .post(COMPARE, &json!({"embedding1": a, "embedding2": c}))
        .await;
    assert_eq!(status, 200);
    let score = different["similarity"].as_i64().expect("integer");
    assert!(
        (-1..70).contains(&score),
        "two different people scored {score}"
    );
    // The server's score is the engine's score.
    let a32: Vec<f32> = a.iter().map(|&v| v as f32).collect();
    let c32: Vec<f32> = c.iter().map(|&v| v as f32).collect();
    let engine = common::engine();
    assert_eq!(
        i64::from(
            engine
                .compare_vectors(&a32, &c32)
                .expect("compare")
                .similarity
        ),
        score
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_input_errors_are_400_with_stable_codes() {
    let server = TestServer::default().await;
    let png = fixture("astronaut.png");
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (json!({}), "ERR_VALIDATION"),
        (json!({"image": null}), "ERR_VALIDATION"),
        (json!({"image": {}}), "ERR_VALIDATION"),
        (
            json!({"image": {"bytes": b64(&png), "url": "http://example.com/a.jpg"}}),
            "ERR_VALIDATION",
        ),
        (
            json!({"image": {"bytes": b64(&png)}, "maxFaceCount": 0}),
            "ERR_VALIDATION",
        ),
        (
            json!({"image": {"bytes": b64(&png)}, "maxFaceCount": 11}),
            "ERR_VALIDATION",
        ),
        (
            json!({"image": {"bytes": b64(&png)}, "maxFaceCount": "3"}),
            "ERR_VALIDATION",
        ),
        (
            json!({"image": {"bytes": b64(&png)}, "maxFaceCount": 2.5}),
            "ERR_VALIDATION",
        ),
        (json!({"image": {"bytes": 12}}), "ERR_VALIDATION"),
        (
            json!({"image": {"bytes": "not*base64!"}}),
            "ERR_BASE64_IMAGE_CANNOT_BE_DECODED",
        ),
        (
            json!({"image": {"bytes": b64(&png[..png.len() / 3])}}),
            "ERR_IMAGE_CANNOT_BE_DECODED",
        ),
        (
            json!({"image": {"bytes": b64(b"GIF89a\x10\x00\x10\x00\x80\x00\x00garbage")}}),
            "ERR_IMAGE_CANNOT_BE_DECODED",
        ),
        (
            json!({"image": {"bytes": b64(b"plain text, no image")}}),
            "ERR_IMAGE_CANNOT_BE_DECODED",
        ),
        (
            json!({"image": {"bytes": b64(&huge_png_header())}}),
            "ERR_IMAGE_TOO_LARGE",
        ),
        (
            json!({"image": {"url": "ftp://example.com/a.jpg"}}),
            "ERR_IMAGE_URL_NOT_ALLOWED",
        ),
    ];
    for path in [DETECT, EMBED] {
        for (body, code) in &cases {
            let got = server.post(path, body).await;
            assert_error(&got, 400, code);
            if got.1["code"] == "ERR_VALIDATION" && body.get("maxFaceCount").is_some() {
                assert!(
                    got.1["message"]
                        .as_str()
                        .expect("msg")
                        .contains("maxFaceCount"),
                    "{}",
                    got.1
                );
            }
        }
    }
    // Lenient base64: no padding, line breaks, data URL prefix.
    let text = b64(&png);
    let wrapped: String = text
        .trim_end_matches('=')
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    let (status, body) = server
        .post(
            DETECT,
            &json!({"image": {"bytes": format!("data:image/png;base64,{wrapped}")}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["faces"].as_array().expect("faces").len(), 1);
}

/// A PNG whose header claims 50000x50000 pixels (with empty data chunks).
fn huge_png_header() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = 50_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    for (kind, data) in [(&b"IHDR"[..], &ihdr[..]), (b"IDAT", b""), (b"IEND", b"")] {
        png.extend_from_slice(&u32::try_from(data.len()).expect("len").to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_embeddings_and_bodies_are_400() {
    let server = TestServer::default().await;
    let good: Vec<f64> = (0..512).map(|i| f64::from(i % 7) - 3.0).collect();
    let mut zeros = vec![0.0; 512];
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (json!({"embedding1": good}), "ERR_INVALID_EMBEDDING"),
        (
            json!({"embedding1": null, "embedding2": good}),
            "ERR_INVALID_EMBEDDING",
        ),
        (
            json!({"embedding1": [0.1, 0.2, 0.3], "embedding2": good}),
            "ERR_INVALID_EMBEDDING",
        ),
        (
            json!({"embedding1": good, "embedding2": zeros.clone()}),
            "ERR_INVALID_EMBEDDING",
        ),
        (
            json!({"embedding1": good, "embedding2": "0.1,0.2"}),
            "ERR_VALIDATION",
        ),
        (
            json!({"embedding1": good, "embedding2": [0.1, "x"]}),
            "ERR_VALIDATION",
        ),
        (
            json!({"embedding1": good, "embedding2": [[0.1]]}),
            "ERR_VALIDATION",
        ),
        (json!([1, 2]), "ERR_VALIDATION"),
    ];
    for (body, code) in &cases {
        assert_error(&server.post(COMPARE, body).await, 400, code);
    }
    // Out of f32 range, and JSON that is not JSON (NaN is not a JSON number).
    zeros[0] = 1e300;
    assert_error(
        &server
            .post(COMPARE, &json!({"embedding1": good, "embedding2": zeros}))
            .await,
        400,
        "ERR_INVALID_EMBEDDING",
    );
    for raw in [
        &b"{\"embedding1\": [NaN]"[..],
        b"{\"embedding1\": [1e999]}",
        b"{",
        b"",
        b"null x",
    ] {
        let got = server.post_raw(COMPARE, raw.to_vec()).await;
        assert_eq!(got.0, 400, "{}: {}", String::from_utf8_lossy(raw), got.1);
    }
    let got = server
        .post(
            COMPARE,
            &json!({"embedding1": good, "embedding2": [1, "x"]}),
        )
        .await;
    assert!(
        got.1["message"]
            .as_str()
            .expect("msg")
            .starts_with("embedding2[1]"),
        "{}",
        got.1
    );
    // Unknown fields, wrongly cased ones included, are refused by name
    // (issue 30.6); integers may be written 3.0, not 2.5; both base64
    // alphabets are read.
    let got = server
        .post(
            COMPARE,
            &json!({"embedding1": good, "embedding2": good, "extra": {"a": 1}}),
        )
        .await;
    assert_error(&got, 400, "ERR_VALIDATION");
    assert!(got.1["message"].as_str().expect("msg").contains("`extra`"));
    let photo = b64(&fixture("astronaut.png"));
    let got = server
        .post(
            DETECT,
            &json!({"image": {"bytes": photo}, "MaxFaceCount": 3}),
        )
        .await;
    assert_error(&got, 400, "ERR_VALIDATION");
    assert!(
        got.1["message"]
            .as_str()
            .expect("msg")
            .contains("unknown field `MaxFaceCount`"),
        "{got:?}"
    );
    let (status, _) = server
        .post(
            DETECT,
            &json!({"image": {"bytes": photo}, "maxFaceCount": 3.0}),
        )
        .await;
    assert_eq!(status, 200);
    assert_error(
        &server
            .post(
                DETECT,
                &json!({"image": {"bytes": photo}, "maxFaceCount": 2.5}),
            )
            .await,
        400,
        "ERR_VALIDATION",
    );
    let url_safe = photo.replace('+', "-").replace('/', "_");
    assert_ne!(url_safe, photo);
    let (status, found) = server
        .post(DETECT, &json!({"image": {"bytes": url_safe}}))
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["faces"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_errors_are_401_and_403() {
    let server = TestServer::default().await;
    let body = json!({"embedding1": [1.0], "embedding2": [1.0]});
    assert_error(
        &server.post_as(COMPARE, &body, None).await,
        401,
        "ERR_API_KEY_NOT_PRESENT",
    );
    assert_error(
        &server.post_as(COMPARE, &body, Some("ApiKey")).await,
        401,
        "ERR_API_KEY_NOT_PRESENT",
    );
    assert_error(
        &server
            .post_as(
                COMPARE,
                &body,
                Some("ApiKey fc_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
            )
            .await,
        401,
        "ERR_API_KEY_NOT_VALID",
    );
    assert_error(
        &server
            .post_as(COMPARE, &body, Some("Basic dXNlcjpwYXNz"))
            .await,
        401,
        "ERR_API_KEY_NOT_VALID",
    );
    assert_error(
        &server.post_as(COMPARE, &body, Some("Bearer a.b.c")).await,
        401,
        "ERR_API_KEY_NOT_VALID",
    );
    // The scheme is case-insensitive; a valid key reaches validation.
    let lower = format!("apikey {}", server.key);
    assert_error(
        &server.post_as(COMPARE, &body, Some(&lower)).await,
        400,
        "ERR_INVALID_EMBEDDING",
    );

    // A disabled account is 403; enabled again, 200-path again; revoked key 401.
    server
        .store
        .set_account_disabled("tester", true)
        .expect("disable");
    assert_error(
        &server.post(COMPARE, &body).await,
        403,
        "ERR_ACCOUNT_FORBIDDEN",
    );
    server
        .store
        .set_account_disabled("tester", false)
        .expect("enable");
    assert_error(
        &server.post(COMPARE, &body).await,
        400,
        "ERR_INVALID_EMBEDDING",
    );
    server.store.revoke_key(&server.key).expect("revoke");
    assert_error(
        &server.post(COMPARE, &body).await,
        401,
        "ERR_API_KEY_NOT_VALID",
    );
    // A deleted account's key is 403.
    let other = server.store.create_key("gone", None).expect("key").secret;
    server.store.delete_account("gone").expect("delete");
    assert_error(
        &server
            .post_as(COMPARE, &body, Some(&format!("ApiKey {other}")))
            .await,
        403,
        "ERR_ACCOUNT_FORBIDDEN",
    );
    // Auth comes before the body is even parsed.
    assert_error(
        &server.post_as(DETECT, &json!("garbage"), None).await,
        401,
        "ERR_API_KEY_NOT_PRESENT",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413_or_image_too_large_and_unknown_routes_404() {
    let server = TestServer::start(facecore_server::AppConfig {
        max_body_bytes: 64 * 1024,
        ..Default::default()
    })
    .await;
    // Over the body limit on an image call: only the image can be that big,
    // so the answer says so (issue 30.2)...
    let big = json!({"image": {"bytes": "A".repeat(100 * 1024)}});
    let got = server.post(DETECT, &big).await;
    assert_error(&got, 400, "ERR_IMAGE_TOO_LARGE");
    assert!(
        got.1["message"]
            .as_str()
            .is_some_and(|m| m.contains("65536 bytes")),
        "{got:?}"
    );
    assert_error(
        &server
            .post(
                "/v1/face/index",
                &json!({"image": {"bytes": "A".repeat(100 * 1024)}, "collectionId": "c"}),
            )
            .await,
        400,
        "ERR_IMAGE_TOO_LARGE",
    );
    // ... but past twice the limit, or on a call without an image, it is 413.
    assert_error(
        &server
            .post(DETECT, &json!({"image": {"bytes": "A".repeat(200 * 1024)}}))
            .await,
        413,
        "ERR_PAYLOAD_TOO_LARGE",
    );
    assert_error(
        &server
            .post(
                "/v1/face-verification/compare-face-embeddings",
                &json!({"embedding1": "A".repeat(100 * 1024)}),
            )
            .await,
        413,
        "ERR_PAYLOAD_TOO_LARGE",
    );
    // A body far over the limit (5 MB against 64 KB, more than socket
    // buffers hold) still gets its 413, not a broken pipe: an HTTP client
    // that writes the whole body before reading the answer must see it.
    for _ in 0..3 {
        assert_error(
            &server
                .post(DETECT, &json!({"image": {"bytes": "A".repeat(5 << 20)}}))
                .await,
            413,
            "ERR_PAYLOAD_TOO_LARGE",
        );
    }
    // The same for answers given without reading the body at all.
    let body = json!({"image": {"bytes": "A".repeat(5 << 20)}});
    for _ in 0..3 {
        assert_error(
            &server.post_as(DETECT, &body, Some("ApiKey fc_wrong")).await,
            401,
            "ERR_API_KEY_NOT_VALID",
        );
        assert_error(&server.post("/v1/nope", &body).await, 404, "ERR_NOT_FOUND");
    }
    // Chunked, without Content-Length: the limit holds while reading.
    let (response, _) = common::raw_request(
        &server.base,
        &format!(
            "POST {DETECT} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey {}\r\nTransfer-Encoding: chunked\r\n\r\n",
            server.key
        ),
        &std::iter::repeat_n(format!("2000\r\n{}\r\n", " ".repeat(0x2000)), 20).collect::<String>(),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("ERR_PAYLOAD_TOO_LARGE"), "{response}");

    assert_error(
        &server.post("/v1/nope", &json!({})).await,
        404,
        "ERR_NOT_FOUND",
    );
    let response = server
        .client
        .get(format!("{}{DETECT}", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

/// A real image over the 15 MB image limit, sent as base64 with the default
/// limits, is 400 `ERR_IMAGE_TOO_LARGE` (its body is over the 20 MB body
/// limit, which used to answer 413 first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_over_the_limit_is_400_whichever_way_it_comes() {
    let server = TestServer::default().await;
    // 2,400 x 2,400 pixels of noise do not compress: a ~17 MB PNG.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise = image::RgbImage::from_fn(2400, 2400, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let [r, g, b, ..] = state.to_le_bytes();
        image::Rgb([r, g, b])
    });
    let mut png = Vec::new();
    noise
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    assert!(png.len() > 15 * 1024 * 1024, "{}", png.len());
    let body = json!({"image": {"bytes": common::b64(&png)}});
    assert_error(
        &server.post(DETECT, &body).await,
        400,
        "ERR_IMAGE_TOO_LARGE",
    );
    assert_error(
        &server
            .post("/v1/face-verification/get-face-embeddings", &body)
            .await,
        400,
        "ERR_IMAGE_TOO_LARGE",
    );
    // The server is fine afterwards.
    let (status, _) = server
        .post(
            DETECT,
            &json!({"image": {"bytes": common::b64(&common::fixture("astronaut.png"))}}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_answers_503_with_retry_after() {
    let server = TestServer::start(facecore_server::AppConfig {
        inference_workers: 1,
        queue_capacity: 0,
        ..Default::default()
    })
    .await;
    // A big photo keeps the single worker busy while the others arrive.
    let big = image::load_from_memory(&fixture("astronaut.png")).expect("decode");
    let big = png(&big.resize_exact(2048, 2048, image::imageops::FilterType::Triangle));
    let body = json!({"image": {"bytes": b64(&big)}});
    let requests = (0..6).map(|_| {
        let client = server.client.clone();
        let url = format!("{}{DETECT}", server.base);
        let key = server.key.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let response = client
                .post(url)
                .header("Authorization", format!("ApiKey {key}"))
                .json(&body)
                .send()
                .await
                .expect("send");
            let retry = response.headers().get("retry-after").cloned();
            let status = response.status().as_u16();
            let value: serde_json::Value = response.json().await.expect("json");
            (status, retry, value)
        })
    });
    let mut ok = 0;
    let mut busy = 0;
    for handle in requests.collect::<Vec<_>>() {
        let (status, retry, value) = handle.await.expect("task");
        match status {
            200 => ok += 1,
            503 => {
                busy += 1;
                assert_eq!(value["code"], "ERR_OVERLOADED");
                assert_eq!(retry.expect("Retry-After"), "1");
            }
            other => panic!("unexpected {other}: {value}"),
        }
    }
    assert!(ok >= 1 && busy >= 1, "ok {ok}, busy {busy}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route_and_swagger_ui_is_served() {
    let server = TestServer::default().await;
    let doc: serde_json::Value = server
        .client
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    for route in facecore_server::app::ROUTES.iter().filter(|r| r.documented) {
        let method = route.method.as_str().to_ascii_lowercase();
        let op = &doc["paths"][route.path][&method];
        assert!(
            op.is_object(),
            "{} {} missing from /openapi.json",
            route.method,
            route.path
        );
        let creates = [
            "/api/v1/recognition/subjects",
            "/api/v1/recognition/faces",
            "/collections",
            "/persons",
            "/persons/{person_id}/faces",
        ];
        let ok = if creates.contains(&route.path) && method == "post" {
            "201"
        } else {
            "200"
        };
        assert!(
            op["responses"][ok].is_object(),
            "{} {}",
            route.method,
            route.path
        );
        if route.path.starts_with("/api/v1/static/") {
            // The image link carries its key in the path.
            assert!(op["security"].is_null(), "{}", route.path);
        } else if route.path.starts_with("/api/v1/") {
            // CompreFace's calls: its auth errors are 400/20 and 404/10.
            for status in ["400", "404"] {
                assert!(
                    op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                        == "#/components/schemas/CompreFaceError",
                    "{} {} lacks {status} in CompreFace's shape",
                    route.method,
                    route.path
                );
            }
            assert_eq!(op["security"][0]["x_api_key"], json!([]), "{}", route.path);
        } else if !["/v1/healthz", "/v1/models"].contains(&route.path) {
            // (Those two need no key and refuse nothing.)
            if facecore_server::api::face_search::openapi::owns(route.path) {
                // The Face Search API's errors carry its metadata.
                assert_eq!(
                    op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/FaceSearchError",
                    "{}",
                    route.path
                );
                assert_eq!(
                    op["security"][0]["face_search_key"],
                    json!([]),
                    "{}",
                    route.path
                );
            }
            for status in ["400", "401", "403"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{} lacks {status}",
                    route.path
                );
            }
            assert!(op["security"].is_array(), "{}", route.path);
        }
    }
    // Every documented operation is a route, and the other way round.
    let operations: usize = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().map_or(0, |o| o.len()))
        .sum();
    assert_eq!(
        operations,
        facecore_server::app::ROUTES
            .iter()
            .filter(|r| r.documented)
            .count()
    );
    for schema in [
        "ImageRequest",
        "DetectFacesResponse",
        "FaceEmbeddingsResponse",
        "CompareRequest",
        "CompareResponse",
        "ErrorBody",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());

    for (path, kind) in [
        ("/swagger/index.html", "text/html"),
        ("/swagger/swagger-initializer.js", "javascript"),
    ] {
        let response = server
            .client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200, "{path}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(content_type.contains(kind), "{path}: {content_type}");
        let text = response.text().await.expect("text");
        if path.ends_with(".js") {
            assert!(text.contains("/openapi.json"), "{text}");
        }
    }
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/swagger", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/swagger/index.html");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_page_is_served_self_contained_with_a_strict_policy() {
    let server = TestServer::default().await;
    let mut page = String::new();
    for (path, kind) in [
        ("/", "text/html"),
        ("/demo/app.js", "text/javascript"),
        ("/demo/style.css", "text/css"),
    ] {
        // No key needed: the page asks the user for one.
        let response = server
            .client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with(kind),
            "{path}: {:?}",
            headers["content-type"]
        );
        let policy = headers["content-security-policy"].to_str().expect("ascii");
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(policy.contains("connect-src 'self'"), "{policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        let text = response.text().await.expect("text");
        assert!(!text.is_empty(), "{path}");
        page.push_str(&text);
    }
    // Self-contained: nothing is loaded from another origin, and the script
    // never writes markup from strings.
    for forbidden in [
        "src=\"http",
        "href=\"http",
        "//cdn",
        "innerHTML",
        "localStorage",
    ] {
        assert!(
            !page.contains(forbidden),
            "the demo page contains {forbidden}"
        );
    }
    assert!(page.contains("sessionStorage"));
    // Only GET: the page is not an API.
    let (status, _) = server.post("/", &serde_json::json!({})).await;
    assert_eq!(status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_get_408_and_slow_headers_are_cut() {
    let server = TestServer::start_with(
        facecore_server::AppConfig {
            body_timeout: std::time::Duration::from_millis(400),
            ..Default::default()
        },
        facecore_server::server::ServeOptions {
            header_read_timeout: std::time::Duration::from_millis(400),
            ..Default::default()
        },
    )
    .await;
    // The body promises 100 bytes and sends 10.
    let started = std::time::Instant::now();
    let (response, _) = common::raw_request(
        &server.base,
        &format!(
            "POST {COMPARE} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey {}\r\nContent-Length: 100\r\n\r\n",
            server.key
        ),
        "{\"embeddi",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("ERR_REQUEST_TIMEOUT"), "{response}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    // Headers that never finish (slowloris): the connection is closed.
    let started = std::time::Instant::now();
    let (response, closed) =
        common::raw_request(&server.base, "POST / HTTP/1.1\r\nHost: x\r\n", "").await;
    assert!(
        closed,
        "the server kept a half-sent request open: {response:?}"
    );
    assert!(!response.contains("200 OK"), "{response}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_has_a_request_id() {
    let server = TestServer::default().await;
    let get = |id: Option<&str>| {
        let mut request = server.client.get(format!("{}/v1/healthz", server.base));
        if let Some(id) = id {
            request = request.header("X-Request-Id", id);
        }
        request.send()
    };
    let fresh = get(None).await.expect("send");
    let id = fresh.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(id.len(), 20, "{id}");
    let again = get(None).await.expect("send");
    assert_ne!(again.headers()["x-request-id"].to_str().expect("ascii"), id);
    let echoed = get(Some("client-id.42")).await.expect("send");
    assert_eq!(echoed.headers()["x-request-id"], "client-id.42");
    let replaced = get(Some("bad id with spaces")).await.expect("send");
    assert_ne!(replaced.headers()["x-request-id"], "bad id with spaces");
    // Errors carry it too.
    let error = server
        .client
        .post(format!("{}{COMPARE}", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(error.status(), 401);
    assert!(error.headers().contains_key("x-request-id"));
}
