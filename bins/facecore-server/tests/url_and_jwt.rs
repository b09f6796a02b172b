//! `image.url` fetching (refused for private addresses by default, allowed by
//! configuration) and JWT bearer tokens.

mod common;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{TestServer, assert_error, fixture};
use facecore_server::AppConfig;
use facecore_server::auth::JwtVerifier;
use facecore_server::fetch::FetchPolicy;
use serde_json::json;

const DETECT: &str = "/v1/face-verification/detect-faces";
const COMPARE: &str = "/v1/face-verification/compare-face-embeddings";

/// A tiny image host on 127.0.0.1: `/astronaut.png`, `/redirect` (to the
/// same image on 127.0.0.2), anything else 404.
async fn image_host() -> SocketAddr {
    use http_body_util::Full;
    use hyper::{Response, body::Bytes};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let png = Bytes::from(fixture("astronaut.png"));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let png = png.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let png = png.clone();
                        async move {
                            let response = match request.uri().path() {
                                "/astronaut.png" => Response::builder()
                                    .header("content-type", "image/png")
                                    .body(Full::new(png)),
                                "/redirect" => Response::builder()
                                    .status(302)
                                    .header(
                                        "location",
                                        format!("http://127.0.0.2:{}/astronaut.png", addr.port()),
                                    )
                                    .body(Full::new(Bytes::new())),
                                _ => Response::builder()
                                    .status(404)
                                    .body(Full::new(Bytes::new())),
                            };
                            Ok::<_, std::convert::Infallible>(response.expect("response"))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_urls_are_refused_by_default() {
    let host = image_host().await;
    let server = TestServer::default().await;
    for url in [
        format!("http://{host}/astronaut.png"),
        format!("http://localhost:{}/astronaut.png", host.port()),
        "http://[::1]/a.png".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/a.png".to_string(),
        "file:///etc/passwd".to_string(),
    ] {
        let got = server.post(DETECT, &json!({"image": {"url": url}})).await;
        assert_error(&got, 400, "ERR_IMAGE_URL_NOT_ALLOWED");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_network_is_fetched_and_redirects_are_rechecked() {
    let host = image_host().await;
    let server = TestServer::start(AppConfig {
        fetch: FetchPolicy {
            allowed_networks: vec!["127.0.0.1/32".parse().expect("cidr")],
            ..FetchPolicy::default()
        },
        ..AppConfig::default()
    })
    .await;
    let (status, body) = server
        .post(
            DETECT,
            &json!({"image": {"url": format!("http://{host}/astronaut.png")}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["faces"].as_array().expect("faces").len(), 1);
    // The redirect target (127.0.0.2) is not in the allowed network.
    let got = server
        .post(
            DETECT,
            &json!({"image": {"url": format!("http://{host}/redirect")}}),
        )
        .await;
    assert_error(&got, 400, "ERR_IMAGE_URL_NOT_ALLOWED");
    let got = server
        .post(
            DETECT,
            &json!({"image": {"url": format!("http://{host}/missing.png")}}),
        )
        .await;
    assert_error(&got, 400, "ERR_IMAGE_URL_CANNOT_BE_FETCHED");
}

const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!!";

fn token(sub: &str, exp_offset: i64, secret: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": sub, "exp": now + exp_offset}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_are_verified_with_the_configured_key() {
    let server = TestServer::start(AppConfig {
        jwt: Some(JwtVerifier::new("HS256", SECRET.as_bytes(), None, None).expect("jwt")),
        ..AppConfig::default()
    })
    .await;
    let v: Vec<f64> = (0..512).map(|i| f64::from(i % 5) - 2.0).collect();
    let body = json!({"embedding1": v, "embedding2": v});
    let bearer = |t: String| format!("Bearer {t}");
    let (status, ok) = server
        .post_as(COMPARE, &body, Some(&bearer(token("tester", 600, SECRET))))
        .await;
    assert_eq!((status, ok), (200, json!({"similarity": 100})));
    assert_error(
        &server
            .post_as(
                COMPARE,
                &body,
                Some(&bearer(token("tester", -3600, SECRET))),
            )
            .await,
        401,
        "ERR_API_KEY_NOT_VALID",
    );
    assert_error(
        &server
            .post_as(
                COMPARE,
                &body,
                Some(&bearer(token(
                    "tester",
                    600,
                    "another-secret-that-is-32-bytes-long!",
                ))),
            )
            .await,
        401,
        "ERR_API_KEY_NOT_VALID",
    );
    assert_error(
        &server
            .post_as(
                COMPARE,
                &body,
                Some(&bearer(token("stranger", 600, SECRET))),
            )
            .await,
        403,
        "ERR_ACCOUNT_FORBIDDEN",
    );
    server
        .store
        .set_account_disabled("tester", true)
        .expect("disable");
    assert_error(
        &server
            .post_as(COMPARE, &body, Some(&bearer(token("tester", 600, SECRET))))
            .await,
        403,
        "ERR_ACCOUNT_FORBIDDEN",
    );
}
