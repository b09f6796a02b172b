//! A real server on a loopback port, driven over HTTP.
#![allow(dead_code)]

pub mod process;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use facecore::{Engine, EngineConfig};
use facecore_server::server::{ServeOptions, serve};
use facecore_server::{AppConfig, create_app};

/// One engine per test binary (models from `cargo xtask fetch-models`).
pub fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    Arc::clone(
        ENGINE.get_or_init(|| match Engine::load(EngineConfig::default()) {
            Ok(e) => Arc::new(e),
            Err(e) => panic!("{e}"),
        }),
    )
}

/// A fixture file of the repository.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Standard base64.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A running server with one key.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// A valid key of account `tester`.
    pub key: String,
    /// The store behind the server.
    pub store: Arc<facecore::store::Store>,
    /// HTTP client.
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<usize>>,
    dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server with `config` on 127.0.0.1:0.
    pub async fn start(config: AppConfig) -> Self {
        Self::start_with(config, ServeOptions::default()).await
    }

    /// Starts a server with `config` and socket `options` on 127.0.0.1:0.
    pub async fn start_with(config: AppConfig, options: ServeOptions) -> Self {
        Self::start_in(tempfile::tempdir().expect("temp dir"), config, options).await
    }

    /// Starts a server on the data file in `dir` (which it keeps).
    pub async fn start_in(
        dir: tempfile::TempDir,
        config: AppConfig,
        options: ServeOptions,
    ) -> Self {
        Self::start_on(engine(), dir, config, options).await
    }

    /// Starts a server with the default configuration on its own `engine`.
    pub async fn with_engine(engine: Arc<Engine>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_on(engine, dir, AppConfig::default(), ServeOptions::default()).await
    }

    async fn start_on(
        engine: Arc<Engine>,
        dir: tempfile::TempDir,
        config: AppConfig,
        options: ServeOptions,
    ) -> Self {
        let store = Arc::new(
            facecore::store::Store::open(dir.path().join("facecore.redb")).expect("store"),
        );
        let key = store.create_key("tester", None).expect("key").secret;
        let app = create_app(engine, Arc::clone(&store), config).expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, options, async {
            let _ = rx.await;
        }));
        Self {
            base,
            key,
            store,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
            dir: Some(dir),
        }
    }

    /// Starts a server with the default configuration.
    pub async fn default() -> Self {
        Self::start(AppConfig::default()).await
    }

    /// POSTs JSON with this server's key; returns status and parsed body.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.post_as(path, body, Some(&format!("ApiKey {}", self.key)))
            .await
    }

    /// POSTs JSON with the given Authorization header (or none).
    pub async fn post_as(
        &self,
        path: &str,
        body: &serde_json::Value,
        authorization: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(auth) = authorization {
            request = request.header("Authorization", auth);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: body is not JSON ({e}): {text}"));
        (status, value)
    }

    /// POSTs raw bytes with this server's key.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("ApiKey {}", self.key))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        let value = response.json().await.expect("json body");
        (status, value)
    }
}

impl TestServer {
    /// Stops the server, waits until it has let go of the data file, and
    /// returns the data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
        let dir = self.dir.take().expect("dir");
        drop(self);
        dir
    }

    /// GETs or DELETEs `path` with this server's key.
    pub async fn call(&self, method: reqwest::Method, path: &str) -> (u16, serde_json::Value) {
        self.call_as(method, path, &self.key).await
    }

    /// GETs or DELETEs `path` with `key`.
    pub async fn call_as(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
    ) -> (u16, serde_json::Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: body is not JSON ({e}): {text}"));
        (status, value)
    }

    /// Starts POSTing `body` to `path` with this server's key in a task;
    /// the task yields the status and the JSON answer.
    pub fn spawn_post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> tokio::task::JoinHandle<(u16, serde_json::Value)> {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("ApiKey {}", self.key))
            .json(body);
        tokio::spawn(async move {
            let response = request.send().await.expect("send");
            let status = response.status().as_u16();
            (status, response.json().await.expect("json"))
        })
    }

    /// PUTs JSON with this server's key.
    pub async fn put(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .client
            .put(format!("{}{path}", self.base))
            .header("Authorization", format!("ApiKey {}", self.key))
            .json(body)
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts an error response: status and code, and a non-empty message.
pub fn assert_error(got: &(u16, serde_json::Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "body: {}", got.1);
    assert_eq!(got.1["code"], code, "body: {}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message missing: {}",
        got.1
    );
    let keys: Vec<&String> = got.1.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["code", "message"], "one error shape");
}

/// Sends `head` and then `body` on a fresh TCP connection and returns what
/// the server answered until it closed or went quiet for two seconds, and
/// whether it closed the connection.
pub async fn raw_request(base: &str, head: &str, body: &str) -> (String, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    // The server may answer (and close) before the whole body is sent.
    let _ = stream.write_all(body.as_bytes()).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(2), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            Ok(_) => break true,
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}
