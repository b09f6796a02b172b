//! The CompreFace REST API over real HTTP on a real redb file: service keys
//! in `x-api-key`, subjects, and CompreFace's error shape and codes.

mod common;

use common::TestServer;
use facecore::store::ServiceKind;
use reqwest::Method;
use serde_json::{Value, json};

struct Compreface<'a> {
    server: &'a TestServer,
    key: String,
}

impl Compreface<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .server
            .client
            .request(method, format!("{}{path}", self.server.base))
            .header("x-api-key", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

fn service(server: &TestServer, kind: ServiceKind, name: &str) -> String {
    server
        .store
        .create_service("acme", kind, name, None)
        .expect("service")
        .key
        .secret
}

/// CompreFace's error: `{"message": ..., "code": n}` with its status.
fn assert_compreface_error(got: &(u16, Value), status: u16, code: u64) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"].as_u64(), Some(code), "{}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        got.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_are_the_named_persons_of_the_services_collection() {
    let server = TestServer::default().await;
    let cf = Compreface {
        key: service(&server, ServiceKind::Recognition, "office"),
        server: &server,
    };
    let subjects = "/api/v1/recognition/subjects";
    assert_eq!(
        cf.send(Method::GET, subjects, None).await,
        (200, json!({"subjects": []}))
    );
    for name in ["Ann", "Bob", "Cy Young"] {
        assert_eq!(
            cf.send(Method::POST, subjects, Some(json!({"subject": name})))
                .await,
            (201, json!({"subject": name}))
        );
    }
    // Names are unique ignoring case; the rules of create.
    assert_compreface_error(
        &cf.send(Method::POST, subjects, Some(json!({"subject": "ann"})))
            .await,
        400,
        43,
    );
    for (bad, code) in [
        (json!({"subject": ""}), 26),
        (json!({"subject": "   "}), 26),
        (json!({}), 26),
        (json!({"subject": "x".repeat(51)}), 26),
        (json!({"subject": "a/b"}), 36),
        (json!({"subject": 7}), 26),
    ] {
        assert_compreface_error(&cf.send(Method::POST, subjects, Some(bad)).await, 400, code);
    }
    // The trailing slash of the documented list call works; oldest first.
    assert_eq!(
        cf.send(Method::GET, "/api/v1/recognition/subjects/", None)
            .await,
        (200, json!({"subjects": ["Ann", "Bob", "Cy Young"]}))
    );

    // Rename: the same name is "not updated"; a new one renames (the
    // Python SDK's extra field is ignored); onto another subject merges.
    let rename = |from: &str| format!("{subjects}/{}", from.replace(' ', "%20"));
    assert_eq!(
        cf.send(Method::PUT, &rename("Ann"), Some(json!({"subject": "Ann"})))
            .await,
        (200, json!({"updated": false}))
    );
    assert_eq!(
        cf.send(
            Method::PUT,
            &rename("Cy Young"),
            Some(json!({"subject": "Cy", "api_endpoint": "Cy Young"}))
        )
        .await,
        (200, json!({"updated": true}))
    );
    let office = |name: &str| {
        server
            .store
            .person_by_name("acme", "office", name)
            .expect("read")
    };
    // An example of Ann (through the facade, with the real models).
    let collections = facecore::collections::Collections::new(
        std::sync::Arc::clone(&server.store),
        common::engine(),
    );
    let target = collections.open("acme", "office").expect("open");
    let enrol = facecore::collections::Enrol {
        person: Some(facecore::collections::PersonRef::Id(
            office("Ann").expect("ann").person_id,
        )),
        ..Default::default()
    };
    collections
        .enrol(&target, &common::fixture("astronaut.png"), &enrol)
        .expect("example");
    assert_eq!(
        cf.send(Method::PUT, &rename("ann"), Some(json!({"subject": "bob"})))
            .await,
        (200, json!({"updated": true}))
    );
    let bob = office("Bob").expect("bob kept its name");
    assert_eq!(bob.face_count, 1, "Ann's example moved to Bob");
    assert!(office("Ann").is_none());
    assert_compreface_error(
        &cf.send(
            Method::PUT,
            &rename("Nobody"),
            Some(json!({"subject": "X"})),
        )
        .await,
        404,
        42,
    );

    // Delete one (answering the stored spelling), then all.
    assert_eq!(
        cf.send(Method::DELETE, &rename("BOB"), None).await,
        (200, json!({"subject": "Bob"}))
    );
    assert_compreface_error(
        &cf.send(Method::DELETE, &rename("Bob"), None).await,
        404,
        42,
    );
    assert_eq!(
        cf.send(Method::DELETE, subjects, None).await,
        (200, json!({"deleted": 1}))
    );
    assert_eq!(
        cf.send(Method::GET, subjects, None).await,
        (200, json!({"subjects": []}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked_by_service_type_in_compreface_codes() {
    let server = TestServer::default().await;
    let subjects = "/api/v1/recognition/subjects";
    let recognition = service(&server, ServiceKind::Recognition, "office");
    let detection = service(&server, ServiceKind::Detection, "cams");
    let as_key = |key: &str| Compreface {
        key: key.to_string(),
        server: &server,
    };
    // No header at all.
    let response = server
        .client
        .get(format!("{}{subjects}", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"message": "Missing header: x-api-key", "code": 20})
    );
    // A detection key, an account key, garbage: 404/10, the key never echoed.
    for key in [detection.as_str(), server.key.as_str(), "nonsense"] {
        let got = as_key(key).send(Method::GET, subjects, None).await;
        assert_compreface_error(&got, 404, 10);
        assert!(!got.1.to_string().contains(key), "{}", got.1);
    }
    assert_eq!(
        as_key(&recognition)
            .send(Method::GET, subjects, None)
            .await
            .0,
        200
    );
    // Another service's subjects are not this one's.
    let other = service(&server, ServiceKind::Recognition, "branch");
    as_key(&other)
        .send(Method::POST, subjects, Some(json!({"subject": "Zed"})))
        .await;
    assert_eq!(
        as_key(&recognition).send(Method::GET, subjects, None).await,
        (200, json!({"subjects": []}))
    );
    // A body that is not JSON: 400 in this dialect's shape.
    let response = server
        .client
        .post(format!("{}{subjects}", server.base))
        .header("x-api-key", &recognition)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], 0, "{body}");
    // The service keys stay out of the account-key APIs.
    let (status, body) = server
        .call_as(Method::GET, "/v1/collection/get-all", &recognition)
        .await;
    assert_eq!(status, 401, "{body}");
}
