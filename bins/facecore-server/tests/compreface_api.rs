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
    /// A multipart body with one part per `(name, filename, bytes)`, parts
    /// without a Content-Type (as the Python SDK sends them).
    async fn upload(
        &self,
        method: Method,
        path: &str,
        parts: &[(&str, &str, &[u8])],
        content_type_boundary: bool,
    ) -> (u16, Value) {
        let boundary = "facecoreTestBoundary42";
        let mut body = Vec::new();
        for (name, filename, bytes) in parts {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let content_type = if content_type_boundary {
            format!("multipart/form-data; boundary={boundary}")
        } else {
            "multipart/form-data".to_string()
        };
        let response = self
            .server
            .client
            .request(method, format!("{}{path}", self.server.base))
            .header("x-api-key", &self.key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn bytes(&self, path: &str, with_key: bool) -> (u16, Vec<u8>) {
        let mut request = self
            .server
            .client
            .get(format!("{}{path}", self.server.base));
        if with_key {
            request = request.header("x-api-key", &self.key);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        (status, response.bytes().await.expect("body").to_vec())
    }

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
    // The trailing slash of the documented list call works; by name.
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

/// The astronaut and the cameraman side by side: two faces in one photo.
fn two_people() -> Vec<u8> {
    let load = |name: &str| {
        image::load_from_memory(&common::fixture(name))
            .expect("fixture")
            .to_rgb8()
    };
    let (left, right) = (load("astronaut.png"), load("camera.png"));
    let mut both = image::RgbImage::new(left.width() + right.width(), left.height());
    image::imageops::replace(&mut both, &left, 0, 0);
    image::imageops::replace(&mut both, &right, i64::from(left.width()), 0);
    let mut png = Vec::new();
    both.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    png
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_are_added_listed_downloaded_and_deleted() {
    let server = TestServer::default().await;
    let cf = Compreface {
        key: service(&server, ServiceKind::Recognition, "office"),
        server: &server,
    };
    let astronaut = common::fixture("astronaut.png");
    let faces = "/api/v1/recognition/faces";
    // Multipart (no part Content-Type), multipart without a boundary in
    // the header (the JS SDK's Buffer uploads), and base64 JSON; the SDK's
    // `?&` query strings.
    let (status, first) = cf
        .upload(
            Method::POST,
            &format!("{faces}?&subject=Eileen&det_prob_threshold=0.8"),
            &[("file", "astronaut.png", &astronaut)],
            true,
        )
        .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["subject"], "Eileen");
    let first_id = first["image_id"].as_str().expect("image_id").to_string();
    let (status, second) = cf
        .upload(
            Method::POST,
            &format!("{faces}?subject=Eileen"),
            &[("file", "example.jpg", &astronaut)],
            false,
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let (status, third) = cf
        .send(
            Method::POST,
            &format!("{faces}?subject=Cam"),
            Some(json!({"file": common::b64(&common::fixture("camera.png"))})),
        )
        .await;
    assert_eq!(status, 201, "{third}");

    // Refusals, each with CompreFace's code, and nothing stored by them.
    let upload = |query: &str, name: &'static str, filename: &'static str, bytes: Vec<u8>| {
        let path = format!("{faces}{query}");
        let cf = &cf;
        async move {
            cf.upload(Method::POST, &path, &[(name, filename, &bytes)], true)
                .await
        }
    };
    assert_compreface_error(
        &upload("?subject=X", "file", "two.png", two_people()).await,
        400,
        31,
    );
    assert_compreface_error(
        &upload(
            "?subject=X",
            "file",
            "cat.png",
            common::fixture("chelsea.png"),
        )
        .await,
        400,
        28,
    );
    assert_compreface_error(
        &upload(
            "?subject=X",
            "file",
            "bad.jpg",
            b"\xff\xd8\xff\xe0 truncated".to_vec(),
        )
        .await,
        400,
        28,
    );
    assert_compreface_error(
        &upload("?subject=X", "file", "notes.txt", astronaut.clone()).await,
        400,
        21,
    );
    assert_compreface_error(
        &upload("?subject=X", "image", "a.png", astronaut.clone()).await,
        400,
        34,
    );
    assert_compreface_error(
        &upload("", "file", "a.png", astronaut.clone()).await,
        400,
        33,
    );
    assert_compreface_error(
        &upload(
            "?subject=X&det_prob_threshold=2",
            "file",
            "a.png",
            astronaut.clone(),
        )
        .await,
        400,
        28,
    );
    let big = vec![0u8; 6 * 1024 * 1024];
    assert_compreface_error(&upload("?subject=X", "file", "big.jpg", big).await, 400, 0);
    assert_compreface_error(
        &cf.send(
            Method::POST,
            &format!("{faces}?subject=X"),
            Some(json!({"file": "@@@"})),
        )
        .await,
        400,
        21,
    );
    assert_compreface_error(
        &cf.send(Method::POST, &format!("{faces}?subject=X"), Some(json!({})))
            .await,
        400,
        5,
    );

    // Listing, paged; by subject.
    let (status, all) = cf.send(Method::GET, faces, None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total_elements"], 3);
    assert_eq!(
        (all["page_number"].clone(), all["page_size"].clone()),
        (json!(0), json!(20))
    );
    let (_, page) = cf
        .send(Method::GET, &format!("{faces}?page=1&size=2"), None)
        .await;
    assert_eq!(page["faces"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["total_pages"], 2);
    let (_, cam) = cf
        .send(Method::GET, &format!("{faces}?subject=Cam"), None)
        .await;
    assert_eq!(cam["total_elements"], 1);
    assert_eq!(cam["faces"][0]["subject"], "Cam");
    let (_, nobody) = cf
        .send(Method::GET, &format!("{faces}?subject=Nobody"), None)
        .await;
    assert_eq!(nobody["total_elements"], 0);

    // Downloads: the original bytes, by header key and by the static link;
    // an unknown id or a wrong key is an empty 200.
    let (status, bytes) = cf.bytes(&format!("{faces}/{first_id}/img"), true).await;
    assert_eq!((status, bytes == astronaut), (200, true));
    let (status, bytes) = cf
        .bytes(
            &format!("/api/v1/static/{}/images/{first_id}", cf.key),
            false,
        )
        .await;
    assert_eq!((status, bytes == astronaut), (200, true));
    let (status, bytes) = cf
        .bytes(&format!("/api/v1/static/wrong/images/{first_id}"), false)
        .await;
    assert_eq!((status, bytes.len()), (200, 0));
    let (status, bytes) = cf.bytes(&format!("{faces}/face_unknown/img"), true).await;
    assert_eq!((status, bytes.len()), (200, 0));

    // Delete one, then again (404/44); a batch skips unknown ids; the
    // subject stays without examples.
    assert_eq!(
        cf.send(Method::DELETE, &format!("{faces}/{first_id}"), None)
            .await,
        (200, json!({"image_id": first_id, "subject": "Eileen"}))
    );
    assert_compreface_error(
        &cf.send(Method::DELETE, &format!("{faces}/{first_id}"), None)
            .await,
        404,
        44,
    );
    let second_id = second["image_id"].as_str().expect("id");
    assert_eq!(
        cf.send(
            Method::POST,
            &format!("{faces}/delete"),
            Some(json!([second_id, "face_nope", second_id]))
        )
        .await,
        (200, json!([{"image_id": second_id, "subject": "Eileen"}]))
    );
    let (_, subjects) = cf
        .send(Method::GET, "/api/v1/recognition/subjects", None)
        .await;
    assert_eq!(subjects, json!({"subjects": ["Cam", "Eileen"]}));
    // By subject: its examples and the subject go.
    assert_eq!(
        cf.send(Method::DELETE, &format!("{faces}?subject=cam"), None)
            .await,
        (200, json!({"deleted": 1}))
    );
    assert_compreface_error(&cf.send(Method::DELETE, faces, None).await, 400, 26);
    let (_, subjects) = cf
        .send(Method::GET, "/api/v1/recognition/subjects", None)
        .await;
    assert_eq!(subjects, json!({"subjects": ["Eileen"]}));
    let (_, all) = cf.send(Method::GET, faces, None).await;
    assert_eq!(all["total_elements"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recognize_detect_and_verify_with_images_and_embeddings() {
    let server = TestServer::default().await;
    let cf = Compreface {
        key: service(&server, ServiceKind::Recognition, "office"),
        server: &server,
    };
    let astronaut = common::fixture("astronaut.png");
    let camera = common::fixture("camera.png");
    let faces = "/api/v1/recognition/faces";
    let mut ids = Vec::new();
    for (subject, image) in [("Eileen", &astronaut), ("Cam", &camera)] {
        let (status, added) = cf
            .upload(
                Method::POST,
                &format!("{faces}?subject={subject}"),
                &[("file", "x.png", image)],
                true,
            )
            .await;
        assert_eq!(status, 201, "{added}");
        ids.push(added["image_id"].as_str().expect("id").to_string());
    }

    // Recognize with plugins and status, as the Python SDK writes them.
    let (status, got) = cf
        .upload(
            Method::POST,
            "/api/v1/recognition/recognize?&limit=0&prediction_count=2&face_plugins=landmarks,calculator&status=True",
            &[("file", "a.png", &astronaut)],
            true,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let face = &got["result"][0];
    assert_eq!(face["subjects"][0]["subject"], "Eileen");
    assert_eq!(face["subjects"][0]["similarity"], 1.0, "the same image");
    let other = face["subjects"][1]["similarity"].as_f64().expect("second");
    assert!(other < 0.5, "a different person scores low: {other}");
    assert_eq!(face["landmarks"].as_array().map(Vec::len), Some(5));
    let embedding = face["embedding"].clone();
    assert_eq!(embedding.as_array().map(Vec::len), Some(512));
    assert!(face["execution_time"]["detector"].is_number());
    assert!(face["box"]["x_max"].as_u64() > face["box"]["x_min"].as_u64());
    assert!(got["plugins_versions"]["calculator"].is_string());
    // Without status or plugins: only box and subjects.
    let (_, plain) = cf
        .upload(
            Method::POST,
            "/api/v1/recognition/recognize",
            &[("file", "two.png", &two_people())],
            true,
        )
        .await;
    let results = plain["result"].as_array().expect("result");
    assert_eq!(results.len(), 2, "{plain}");
    let mut top: Vec<&str> = results
        .iter()
        .map(|f| f["subjects"][0]["subject"].as_str().expect("subject"))
        .collect();
    top.sort_unstable();
    assert_eq!(top, ["Cam", "Eileen"]);
    assert!(results[0].get("embedding").is_none() && plain.get("plugins_versions").is_none());
    for query in [
        "?face_plugins=mask",
        "?prediction_count=0",
        "?limit=-1",
        "?status=maybe",
    ] {
        assert_compreface_error(
            &cf.upload(
                Method::POST,
                &format!("/api/v1/recognition/recognize{query}"),
                &[("file", "a.png", &astronaut)],
                true,
            )
            .await,
            400,
            26,
        );
    }
    let (_, refused) = cf
        .upload(
            Method::POST,
            "/api/v1/recognition/recognize?face_plugins=age,mask",
            &[("file", "a.png", &astronaut)],
            true,
        )
        .await;
    assert!(
        refused["message"].as_str().is_some_and(
            |m| m.contains("'mask'") && m.contains("landmarks, calculator, age, gender, pose")
        ),
        "{refused}"
    );

    // Verify against a stored example.
    let (status, got) = cf
        .upload(
            Method::POST,
            &format!("{faces}/{}/verify", ids[0]),
            &[("file", "a.png", &astronaut)],
            true,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["result"][0]["subject"], "Eileen");
    assert_eq!(got["result"][0]["similarity"], 1.0);
    assert_compreface_error(
        &cf.upload(
            Method::POST,
            &format!("{faces}/face_unknown/verify"),
            &[("file", "a.png", &astronaut)],
            true,
        )
        .await,
        404,
        44,
    );

    // Embeddings: recognize, verify against an example, verify two sets.
    let (status, got) = cf
        .send(
            Method::POST,
            "/api/v1/recognition/embeddings/recognize?prediction_count=1",
            Some(json!({"embeddings": [embedding]})),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["result"][0]["similarities"][0]["subject"], "Eileen");
    let far: Vec<f64> = (0..512)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let (status, got) = cf
        .send(
            Method::POST,
            &format!("/api/v1/recognition/embeddings/faces/{}/verify", ids[0]),
            Some(json!({"embeddings": [far, embedding]})),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let first = got["result"][0]["similarity"].as_f64().expect("sim");
    let second = got["result"][1]["similarity"].as_f64().expect("sim");
    assert!(first >= second && first > 0.99, "best first: {got}");
    for (body, code) in [
        (json!({}), 5),
        (json!({"embeddings": []}), 5),
        (json!({"embeddings": [[1.0, 2.0]]}), 0),
        (json!({"embeddings": [["x"]]}), 5),
    ] {
        assert_compreface_error(
            &cf.send(
                Method::POST,
                "/api/v1/recognition/embeddings/recognize",
                Some(body),
            )
            .await,
            400,
            code,
        );
    }

    // The detection and verification services, with their own keys.
    let detection = Compreface {
        key: service(&server, ServiceKind::Detection, "cams"),
        server: &server,
    };
    let (status, got) = detection
        .upload(
            Method::POST,
            "/api/v1/detection/detect?face_plugins=landmarks",
            &[("file", "two.png", &two_people())],
            true,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["result"].as_array().map(Vec::len), Some(2));
    assert!(got["result"][0]["landmarks"].is_array());
    assert_compreface_error(
        &detection
            .upload(
                Method::POST,
                "/api/v1/detection/detect",
                &[("file", "cat.png", &common::fixture("chelsea.png"))],
                true,
            )
            .await,
        400,
        28,
    );
    assert_compreface_error(
        &cf.upload(
            Method::POST,
            "/api/v1/detection/detect",
            &[("file", "a.png", &astronaut)],
            true,
        )
        .await,
        404,
        10,
    );
    let verification = Compreface {
        key: service(&server, ServiceKind::Verification, "gate"),
        server: &server,
    };
    let (status, got) = verification
        .upload(
            Method::POST,
            "/api/v1/verification/verify",
            &[
                ("source_image", "s.png", &astronaut),
                ("target_image", "t.png", &two_people()),
            ],
            true,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let matches = got["result"][0]["face_matches"]
        .as_array()
        .expect("matches");
    assert_eq!(matches.len(), 2);
    let mut sims: Vec<f64> = matches
        .iter()
        .map(|m| m["similarity"].as_f64().expect("s"))
        .collect();
    sims.sort_by(f64::total_cmp);
    assert!(sims[1] > 0.8 && sims[0] < 0.5, "{sims:?}");
    assert!(got["result"][0]["source_image_face"]["box"].is_object());
    assert_compreface_error(
        &verification
            .upload(
                Method::POST,
                "/api/v1/verification/verify",
                &[
                    ("source_image", "s.png", &two_people()),
                    ("target_image", "t.png", &astronaut),
                ],
                true,
            )
            .await,
        400,
        31,
    );
    let (status, got) = verification
        .send(
            Method::POST,
            "/api/v1/verification/embeddings/verify",
            Some(json!({"source": embedding, "targets": [far, embedding]})),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["result"][0]["similarity"], 1.0);
}

/// ICO, in CompreFace's list of formats, is an example like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ico_file_is_an_example_too() {
    let server = TestServer::default().await;
    let cf = Compreface {
        key: service(&server, ServiceKind::Recognition, "office"),
        server: &server,
    };
    let astronaut = image::load_from_memory(&common::fixture("astronaut.png")).expect("png");
    let mut ico = Vec::new();
    astronaut
        .resize_exact(256, 256, image::imageops::FilterType::Triangle)
        .write_to(&mut std::io::Cursor::new(&mut ico), image::ImageFormat::Ico)
        .expect("ico");
    assert_eq!(&ico[..4], &[0, 0, 1, 0]);
    let (status, added) = cf
        .upload(
            Method::POST,
            "/api/v1/recognition/faces?subject=Eileen",
            &[("file", "eileen.ico", &ico)],
            true,
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let id = added["image_id"].as_str().expect("id");
    let (status, bytes) = cf
        .bytes(&format!("/api/v1/recognition/faces/{id}/img"), true)
        .await;
    assert_eq!((status, bytes == ico), (200, true));
}

/// `detect_faces=false`: a face cut out of a photo is recognised without the
/// detector, and its box is the whole image it was sent as.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cropped_face_is_recognised_without_the_detector() {
    let server = TestServer::default().await;
    let cf = Compreface {
        key: service(&server, ServiceKind::Recognition, "crops"),
        server: &server,
    };
    let astronaut = common::fixture("astronaut.png");
    for (subject, name) in [("Eileen", "astronaut.png"), ("Cam", "camera.png")] {
        let (status, added) = cf
            .upload(
                Method::POST,
                &format!("/api/v1/recognition/faces?subject={subject}"),
                &[("file", "x.png", &common::fixture(name))],
                true,
            )
            .await;
        assert_eq!(status, 201, "{added}");
    }
    // Cut the detected face out, with the margin a face crop usually has.
    let (_, detected) = cf
        .upload(
            Method::POST,
            "/api/v1/recognition/recognize",
            &[("file", "a.png", &astronaut)],
            true,
        )
        .await;
    let b = &detected["result"][0]["box"];
    let edge = |k: &str| b[k].as_u64().expect("box edge") as u32;
    let (x0, y0, x1, y1) = (edge("x_min"), edge("y_min"), edge("x_max"), edge("y_max"));
    let image = image::load_from_memory(&astronaut).expect("png").to_rgb8();
    let margin = (x1 - x0) / 8;
    let (cx, cy) = (x0.saturating_sub(margin), y0.saturating_sub(margin));
    let (cw, ch) = (
        (x1 + margin).min(image.width()) - cx,
        (y1 + margin).min(image.height()) - cy,
    );
    let crop = image::imageops::crop_imm(&image, cx, cy, cw, ch).to_image();
    let mut png = Vec::new();
    crop.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");

    let (status, got) = cf
        .upload(
            Method::POST,
            "/api/v1/recognition/recognize?detect_faces=false&prediction_count=2&face_plugins=landmarks&det_prob_threshold=0.99999",
            &[("file", "crop.png", &png)],
            true,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let faces = got["result"].as_array().expect("result");
    assert_eq!(faces.len(), 1, "one face: the whole image");
    let face = &faces[0];
    assert_eq!(
        face["box"],
        json!({"probability": 1.0, "x_min": 0, "y_min": 0, "x_max": cw, "y_max": ch})
    );
    assert_eq!(face["subjects"][0]["subject"], "Eileen", "{got}");
    let best = face["subjects"][0]["similarity"]
        .as_f64()
        .expect("similarity");
    assert!(best >= 0.9, "the same face, cut out, still matches: {best}");
    let other = face["subjects"][1]["similarity"].as_f64().expect("second");
    assert!(other < 0.5, "{other}");
    // The five points land inside the crop, eyes above the mouth.
    let points = face["landmarks"].as_array().expect("landmarks");
    assert_eq!(points.len(), 5);
    let y = |i: usize| points[i][1].as_i64().expect("y");
    assert!(y(0) < y(3) && y(1) < y(4), "{points:?}");
    for p in points {
        let (px, py) = (p[0].as_i64().expect("x"), p[1].as_i64().expect("y"));
        assert!((0..i64::from(cw)).contains(&px) && (0..i64::from(ch)).contains(&py));
    }
    // A bad value is still a 400 in CompreFace's shape.
    assert_compreface_error(
        &cf.upload(
            Method::POST,
            "/api/v1/recognition/recognize?detect_faces=perhaps",
            &[("file", "crop.png", &png)],
            true,
        )
        .await,
        400,
        26,
    );
}

fn png(image: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// The fixture's mirror image, as PNG bytes.
fn mirrored(bytes: &[u8]) -> Vec<u8> {
    let image = image::load_from_memory(bytes).expect("decode").to_rgb8();
    png(&image::imageops::flip_horizontal(&image))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn age_gender_and_pose_plugins_answer_in_compreface_shapes() {
    let server = TestServer::default().await;
    let detection = Compreface {
        key: service(&server, ServiceKind::Detection, "cams"),
        server: &server,
    };
    let camera = common::fixture("camera.png");
    let detect = "/api/v1/detection/detect?face_plugins=age,gender,pose&status=true";
    let (status, got) = detection
        .upload(Method::POST, detect, &[("file", "c.png", &camera)], true)
        .await;
    assert_eq!(status, 200, "{got}");
    let face = &got["result"][0];
    // The cameraman: a man, looking to the viewer's right.
    assert_eq!(face["gender"]["value"], "male", "{face}");
    let p = face["gender"]["probability"].as_f64().expect("probability");
    assert!(p > 0.9 && p <= 1.0, "{face}");
    let (low, high) = (
        face["age"]["low"].as_u64().expect("low"),
        face["age"]["high"].as_u64().expect("high"),
    );
    assert!(
        low < high && (15..=45).contains(&low) && high <= 50,
        "{face}"
    );
    let p = face["age"]["probability"].as_f64().expect("probability");
    assert!(p > 0.0 && p <= 1.0, "{face}");
    let yaw = face["pose"]["yaw"].as_f64().expect("yaw");
    assert!(yaw < -30.0, "{face}");
    assert!(face["pose"]["pitch"].is_number() && face["pose"]["roll"].is_number());
    for slug in ["detector", "age", "gender", "pose"] {
        assert!(face["execution_time"][slug].is_number(), "{slug}: {face}");
    }
    let versions = &got["plugins_versions"];
    assert!(
        versions["age"]
            .as_str()
            .is_some_and(|v| v.contains("dlib_age@1")),
        "{versions}"
    );
    assert!(
        versions["gender"]
            .as_str()
            .is_some_and(|v| v.contains("dlib_gender@1"))
    );
    assert!(
        versions["pose"]
            .as_str()
            .is_some_and(|v| v.contains("fr_pose@0.0.1"))
    );
    assert!(face.get("embedding").is_none() && face.get("landmarks").is_none());

    // The mirror image turns the other way.
    let (status, got) = detection
        .upload(
            Method::POST,
            detect,
            &[("file", "m.png", &mirrored(&camera))],
            true,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let mirror_yaw = got["result"][0]["pose"]["yaw"].as_f64().expect("yaw");
    assert!(
        mirror_yaw > 30.0 && (yaw + mirror_yaw).abs() < 12.0,
        "{yaw} {mirror_yaw}"
    );
    assert_eq!(got["result"][0]["gender"]["value"], "male");

    // Without status: the plugins' fields, no timings or versions.
    let (_, got) = detection
        .upload(
            Method::POST,
            "/api/v1/detection/detect?face_plugins=gender",
            &[("file", "a.png", &common::fixture("astronaut.png"))],
            true,
        )
        .await;
    assert_eq!(got["result"][0]["gender"]["value"], "female", "{got}");
    assert!(got["result"][0].get("age").is_none() && got["result"][0].get("pose").is_none());
    assert!(
        got.get("plugins_versions").is_none() && got["result"][0].get("execution_time").is_none()
    );

    // Recognition and verification serve them too.
    let recognition = Compreface {
        key: service(&server, ServiceKind::Recognition, "office"),
        server: &server,
    };
    let (status, got) = recognition
        .upload(
            Method::POST,
            "/api/v1/recognition/recognize?face_plugins=age,gender",
            &[("file", "c.png", &camera)],
            true,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["result"][0]["gender"]["value"], "male", "{got}");
    assert!(got["result"][0]["age"]["high"].is_u64());
    let verification = Compreface {
        key: service(&server, ServiceKind::Verification, "doors"),
        server: &server,
    };
    let (status, got) = verification
        .upload(
            Method::POST,
            "/api/v1/verification/verify?face_plugins=pose",
            &[
                ("source_image", "a.png", &camera),
                ("target_image", "b.png", &mirrored(&camera)),
            ],
            true,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let source = got["result"][0]["source_image_face"]["pose"]["yaw"].as_f64();
    let target = got["result"][0]["face_matches"][0]["pose"]["yaw"].as_f64();
    assert!(source < Some(-30.0) && target > Some(30.0), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attribute_plugin_without_its_model_file_is_refused() {
    // A models directory with the pipeline's three models only.
    let models = tempfile::tempdir().expect("temp");
    let full = common::engine();
    for role in ["detector", "landmarks68", "embedder"] {
        let file = &full.manifest().role(role).expect("role").file;
        std::fs::copy(full.models_dir().join(file), models.path().join(file)).expect("copy");
    }
    let engine = facecore::Engine::load(facecore::EngineConfig {
        models_dir: Some(models.path().to_path_buf()),
        ..facecore::EngineConfig::default()
    })
    .expect("engine");
    let server = TestServer::with_engine(std::sync::Arc::new(engine)).await;
    let detection = Compreface {
        key: service(&server, ServiceKind::Detection, "cams"),
        server: &server,
    };
    let camera = common::fixture("camera.png");
    let got = detection
        .upload(
            Method::POST,
            "/api/v1/detection/detect?face_plugins=landmarks,gender",
            &[("file", "c.png", &camera)],
            true,
        )
        .await;
    assert_compreface_error(&got, 400, 26);
    let message = got.1["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'gender'") && message.ends_with("available: landmarks, calculator"),
        "{message}"
    );
    // The other plugins still work.
    let (status, got) = detection
        .upload(
            Method::POST,
            "/api/v1/detection/detect?face_plugins=landmarks",
            &[("file", "c.png", &camera)],
            true,
        )
        .await;
    assert_eq!(status, 200, "{got}");
}
