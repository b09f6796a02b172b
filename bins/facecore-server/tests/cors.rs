//! Cross-origin requests (issue 30.5): off by default, and with
//! `--cors-allow-origins` preflights answered for every route and the
//! answers readable by an allowed origin's page, proven in headless Chromium
//! with a page served from another loopback port.

mod common;

use std::path::Path;
use std::process::Command;

use common::{TestServer, fixture};
use facecore_server::AppConfig;
use facecore_server::http::cors::CorsPolicy;
use reqwest::Method;
use serde_json::{Value, json};

async fn with_origins(origins: &[&str]) -> TestServer {
    TestServer::start(AppConfig {
        cors: CorsPolicy::new(origins).expect("origins"),
        ..AppConfig::default()
    })
    .await
}

async fn preflight(
    server: &TestServer,
    path: &str,
    origin: &str,
    method: &str,
) -> reqwest::Response {
    server
        .client
        .request(Method::OPTIONS, format!("{}{path}", server.base))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("send")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_allowed_origins_nothing_changes() {
    let server = TestServer::default().await;
    let response = preflight(
        &server,
        "/v1/face-verification/detect-faces",
        "https://app.example.com",
        "POST",
    )
    .await;
    assert_eq!(response.status(), 405);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let got = server
        .client
        .get(format!("{}/v1/collection/get-all", server.base))
        .header("authorization", format!("ApiKey {}", server.key))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("send");
    assert_eq!(got.status(), 200);
    assert!(got.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_are_answered_for_every_route_of_an_allowed_origin() {
    let app = "https://app.example.com";
    let server = with_origins(&[app, "http://localhost:3000"]).await;
    for route in facecore_server::app::ROUTES.iter() {
        // A template's parameter filled in, as a real request has it.
        let path = route
            .path
            .split('/')
            .map(|s| if s.starts_with('{') { "x1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let response = preflight(&server, &path, app, route.method.as_str()).await;
        assert_eq!(response.status(), 204, "{} {path}", route.method);
        let h = response.headers();
        assert_eq!(h["access-control-allow-origin"], app);
        let methods = h["access-control-allow-methods"].to_str().expect("text");
        assert!(
            methods.split(", ").any(|m| m == route.method.as_str()),
            "{path}: {methods}"
        );
        let headers = h["access-control-allow-headers"].to_str().expect("text");
        for needed in ["authorization", "content-type", "x-api-key"] {
            assert!(headers.contains(needed), "{headers}");
        }
        assert_eq!(h["access-control-max-age"], "600");
    }
    // Another origin, or an unknown path: refused in the API's error shape.
    let other = preflight(
        &server,
        "/v1/face/index",
        "https://evil.example.com",
        "POST",
    )
    .await;
    assert_eq!(other.status(), 403);
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let body: Value = other.json().await.expect("json");
    assert_eq!(body["code"], "ERR_ORIGIN_NOT_ALLOWED");
    let unknown = preflight(&server, "/v1/nowhere", app, "POST").await;
    assert_eq!(unknown.status(), 404);

    // The real request of an allowed origin carries the headers, errors too.
    for (key, status) in [(server.key.as_str(), 200), ("fc_wrong", 401)] {
        let got = server
            .client
            .get(format!("{}/v1/collection/get-all", server.base))
            .header("authorization", format!("ApiKey {key}"))
            .header("origin", app)
            .send()
            .await
            .expect("send");
        assert_eq!(got.status(), status);
        assert_eq!(got.headers()["access-control-allow-origin"], app);
        assert_eq!(got.headers()["vary"], "origin");
        let exposed = got.headers()["access-control-expose-headers"]
            .to_str()
            .expect("text");
        assert!(exposed.contains("x-request-id"), "{exposed}");
    }
}

/// Serves one HTML page on a loopback port of its own: the other origin.
async fn page_server() -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let page = "<!doctype html><title>another origin</title><p>app</p>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (base, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_calls_the_api_in_chromium() {
    let Some(playwright) = std::env::var_os("FACECORE_PLAYWRIGHT").filter(|s| !s.is_empty()) else {
        println!("FACECORE_PLAYWRIGHT is not set: skipped (cargo xtask test sets it)");
        return;
    };
    let chromium = std::env::var_os("FACECORE_CHROMIUM")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    let (allowed, _a) = page_server().await;
    let (stranger, _b) = page_server().await;
    // The API knows the allowed page's origin only; a second server knows
    // none, as every server did before.
    let server = with_origins(&[&allowed]).await;
    let closed = TestServer::default().await;
    let home = tempfile::tempdir().expect("temp");
    let image = home.path().join("astronaut.png");
    std::fs::write(&image, fixture("astronaut.png")).expect("write");
    let run = |api: &str, key: &str, pages: &[&str]| {
        let output = Command::new("node")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/cors_page.cjs"))
            .env("PLAYWRIGHT_CORE", &playwright)
            .env("CHROMIUM", &chromium)
            .env("PAGES", json!(pages).to_string())
            .env("API", api)
            .env("KEY", key)
            .env("IMAGE", &image)
            .env("HOME", home.path())
            .output()
            .expect("run node (is Node.js installed?)");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "the browser script failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .map(|l| serde_json::from_str::<Value>(l).expect("json"))
            .expect("a RESULT line")
    };
    let allowed_page = format!("{allowed}/app.html");
    let stranger_page = format!("{stranger}/app.html");
    let got = run(&server.base, &server.key, &[&allowed_page, &stranger_page]);
    println!("{}", serde_json::to_string_pretty(&got).expect("json"));

    let mine = &got[&allowed_page];
    assert_eq!(mine["detect"]["status"], 200, "{mine}");
    let faces = mine["detect"]["body"]["faces"].as_array().expect("faces");
    assert_eq!(faces.len(), 1, "{mine}");
    assert!(mine["detect"]["requestId"].is_string(), "exposed header");
    assert_eq!(mine["wrongKey"]["status"], 401);
    assert_eq!(mine["wrongKey"]["body"]["code"], "ERR_API_KEY_NOT_VALID");
    // CompreFace's answer to an unknown key, in its own shape.
    assert_eq!(mine["compreface"]["status"], 404, "{mine}");
    assert_eq!(mine["compreface"]["body"]["code"], 10);
    // The page of an origin not on the list learns nothing.
    let theirs = &got[&stranger_page];
    for call in ["detect", "wrongKey", "compreface"] {
        assert!(theirs[call]["blocked"].is_string(), "{call}: {theirs}");
    }
    // Nor does any page when the server allows no origin.
    let got = run(&closed.base, &closed.key, &[&allowed_page]);
    assert!(got[&allowed_page]["detect"]["blocked"].is_string(), "{got}");
}
