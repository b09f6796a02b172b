//! The application: shared state, the route table, and the handlers. It is
//! independent of the socket loop so that tests can drive it in process.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use facecore::Engine;
use facecore::api::{DetectFacesResponse, FaceEmbeddingsResponse};
use facecore::store::Store;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::auth::{self, JwtVerifier};
use crate::demo::DemoFile;
use crate::error::{self, ApiError};
use crate::fetch::{FetchPolicy, Fetcher};
use crate::input::{self, CompareRequest, ImageRequest, ImageSource};

/// Tunables of the application (the socket-level ones live in
/// [`crate::ServerConfig`]).
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Time allowed to receive the whole body once the headers are in.
    pub body_timeout: Duration,
    /// Requests running inference at the same time.
    pub inference_workers: usize,
    /// Requests allowed to wait for an inference worker; beyond that, 503.
    pub queue_capacity: usize,
    /// Seconds suggested in `Retry-After` when overloaded.
    pub retry_after_secs: u32,
    /// How `image.url` is fetched.
    pub fetch: FetchPolicy,
    /// Bearer-token verification; `None` refuses bearer tokens.
    pub jwt: Option<JwtVerifier>,
}

impl Default for AppConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            max_body_bytes: 20 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            inference_workers: cores,
            queue_capacity: 64,
            retry_after_secs: 1,
            fetch: FetchPolicy::default(),
            jwt: None,
        }
    }
}

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// An authenticated API call with a JSON body.
    Api(ApiCall),
    /// `GET /v1/healthz`
    Healthz,
    /// `GET /openapi.json`
    OpenApi,
    /// `GET /metrics`
    Metrics,
    /// The demo web page and its files.
    Demo(DemoFile),
}

/// The authenticated API calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCall {
    /// `POST /v1/face-verification/detect-faces`
    DetectFaces,
    /// `POST /v1/face-verification/get-face-embeddings`
    GetFaceEmbeddings,
    /// `POST /v1/face-verification/compare-face-embeddings`
    CompareFaceEmbeddings,
    /// `GET /v1/collection/get`
    CollectionGet,
    /// `GET /v1/collection/get-all`
    CollectionGetAll,
    /// `POST /v1/collection/create`
    CollectionCreate,
    /// `PUT /v1/collection/update`
    CollectionUpdate,
    /// `DELETE /v1/collection/delete`
    CollectionDelete,
    /// `POST /v1/face/index`
    FaceIndex,
    /// `POST /v1/face/search`
    FaceSearch,
    /// `POST /v1/face/search-or-index`
    FaceSearchOrIndex,
    /// `DELETE /v1/face/delete`
    FaceDelete,
}

/// One route of the router.
#[derive(Debug, Clone)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Exact path.
    pub path: &'static str,
    /// The handler.
    pub endpoint: Endpoint,
    /// Whether it is part of the public API (and so of the OpenAPI document).
    pub documented: bool,
}

const fn api_route(method: Method, path: &'static str, call: ApiCall) -> Route {
    Route {
        method,
        path,
        endpoint: Endpoint::Api(call),
        documented: true,
    }
}

const fn demo_route(path: &'static str, file: DemoFile) -> Route {
    Route {
        method: Method::GET,
        path,
        endpoint: Endpoint::Demo(file),
        documented: false,
    }
}

/// Every exact-path route. Swagger UI is served under [`SWAGGER_PREFIX`].
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::POST,
        path: "/v1/face-verification/detect-faces",
        endpoint: Endpoint::Api(ApiCall::DetectFaces),
        documented: true,
    },
    Route {
        method: Method::POST,
        path: "/v1/face-verification/get-face-embeddings",
        endpoint: Endpoint::Api(ApiCall::GetFaceEmbeddings),
        documented: true,
    },
    Route {
        method: Method::POST,
        path: "/v1/face-verification/compare-face-embeddings",
        endpoint: Endpoint::Api(ApiCall::CompareFaceEmbeddings),
        documented: true,
    },
    api_route(Method::GET, "/v1/collection/get", ApiCall::CollectionGet),
    api_route(
        Method::GET,
        "/v1/collection/get-all",
        ApiCall::CollectionGetAll,
    ),
    api_route(
        Method::POST,
        "/v1/collection/create",
        ApiCall::CollectionCreate,
    ),
    api_route(
        Method::PUT,
        "/v1/collection/update",
        ApiCall::CollectionUpdate,
    ),
    api_route(
        Method::DELETE,
        "/v1/collection/delete",
        ApiCall::CollectionDelete,
    ),
    api_route(Method::POST, "/v1/face/index", ApiCall::FaceIndex),
    api_route(Method::POST, "/v1/face/search", ApiCall::FaceSearch),
    api_route(
        Method::POST,
        "/v1/face/search-or-index",
        ApiCall::FaceSearchOrIndex,
    ),
    api_route(Method::DELETE, "/v1/face/delete", ApiCall::FaceDelete),
    Route {
        method: Method::GET,
        path: "/v1/healthz",
        endpoint: Endpoint::Healthz,
        documented: true,
    },
    Route {
        method: Method::GET,
        path: "/openapi.json",
        endpoint: Endpoint::OpenApi,
        documented: false,
    },
    Route {
        method: Method::GET,
        path: "/metrics",
        endpoint: Endpoint::Metrics,
        documented: false,
    },
    demo_route("/", DemoFile::Page),
    demo_route("/demo/app.js", DemoFile::Script),
    demo_route("/demo/style.css", DemoFile::Style),
];

/// Swagger UI lives under this prefix (`/swagger/index.html`).
pub const SWAGGER_PREFIX: &str = "/swagger/";

/// What the access log records about a request besides its method and status.
#[derive(Debug, Default)]
struct RequestContext {
    /// The matched route (empty when none matched; never the raw path).
    route: &'static str,
    /// The authenticated account.
    account: Option<String>,
}

/// The client's `X-Request-Id` when it is 1..=64 of `A-Z a-z 0-9 . _ -`,
/// else a fresh random one.
fn request_id(headers: &hyper::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
        .map(str::to_string)
        .unwrap_or_else(new_request_id)
}

/// A fresh request id: 20 base32 characters, 8 drawn at random once per
/// process and 12 counting requests. Unique within a process, and across
/// restarts but for a 1 in 2^40 chance; no system call per request (drawing
/// all 20 at random cost a `getrandom` call on every request).
fn new_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let prefix = PREFIX.get_or_init(|| {
        facecore::store::random_base32(8).unwrap_or_else(|_| {
            // No randomness from the system: the process id and start time
            // still tell processes apart.
            let seed = u64::from(std::process::id())
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
            (0..8)
                .map(|i| char::from(BASE32[((seed >> (5 * i)) & 31) as usize]))
                .collect()
        })
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = String::with_capacity(20);
    id.push_str(prefix);
    id.extend(
        (0..12)
            .rev()
            .map(|i| char::from(BASE32[((n >> (5 * i)) & 31) as usize])),
    );
    id
}

/// Results that carry the pipeline's stage timings (for the metrics).
pub trait Timed {
    /// Time spent per stage.
    fn timings(&self) -> facecore::StageTimings;
}

impl Timed for facecore::Detection {
    fn timings(&self) -> facecore::StageTimings {
        self.timings
    }
}

impl Timed for facecore::Embeddings {
    fn timings(&self) -> facecore::StageTimings {
        self.timings
    }
}

/// Counts a request in the inference queue until dropped.
struct QueueSlot<'a>(&'a std::sync::atomic::AtomicU64);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Response type of every handler.
pub type HttpResponse = Response<Full<Bytes>>;

/// The shared application state.
pub struct App {
    pub(crate) engine: Arc<Engine>,
    store: Arc<Store>,
    pub(crate) collections: Arc<facecore::collections::Collections>,
    keys: auth::KeyCache,
    pub(crate) metrics: crate::metrics::Metrics,
    config: AppConfig,
    fetcher: Fetcher,
    /// Permits for requests admitted to inference (running or queued).
    admission: Arc<Semaphore>,
    /// Permits for requests running inference.
    workers: Arc<Semaphore>,
    openapi_json: Bytes,
    swagger: Arc<utoipa_swagger_ui::Config<'static>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Logs a collection's index load: a restart of a large collection takes
/// seconds, and this says how many and why (saved lists reused, or trained
/// and for what reason).
fn log_load(account: &str, collection: &str, report: &facecore::store::load::LoadReport) {
    use facecore::store::load::ModelSource;
    let lists = match &report.model {
        ModelSource::Exact => "none (exact search)".to_string(),
        ModelSource::Saved => "saved lists, checked and reused".to_string(),
        ModelSource::Trained { why } => format!("trained ({why})"),
        other => format!("{other:?}"),
    };
    tracing::info!(
        account,
        collection,
        faces = report.faces,
        lists = %lists,
        train_s = report.train_seconds,
        load_s = report.seconds,
        "collection loaded"
    );
    if let Some(error) = &report.save_error {
        tracing::warn!(
            account,
            collection,
            error = %error,
            "the trained lists could not be saved; the next load trains again"
        );
    }
}

/// Builds the application around a loaded engine and an open store.
pub fn create_app(
    engine: Arc<Engine>,
    store: Arc<Store>,
    config: AppConfig,
) -> Result<Arc<App>, crate::fetch::FetchError> {
    let fetcher = Fetcher::new(config.fetch.clone())?;
    let workers = config.inference_workers.max(1);
    let openapi_json = Bytes::from(crate::openapi::document_json(&engine));
    let collections = Arc::new(
        facecore::collections::Collections::new(Arc::clone(&store), Arc::clone(&engine))
            .with_load_observer(log_load),
    );
    Ok(Arc::new(App {
        engine,
        collections,
        store,
        keys: auth::KeyCache::default(),
        metrics: crate::metrics::Metrics::default(),
        fetcher,
        admission: Arc::new(Semaphore::new(workers + config.queue_capacity)),
        workers: Arc::new(Semaphore::new(workers)),
        config,
        openapi_json,
        swagger: Arc::new(utoipa_swagger_ui::Config::new(["/openapi.json"])),
    }))
}

impl App {
    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// Answers one request. Never fails: every error becomes its JSON error
    /// response, and a panicking handler becomes a 500. Every response carries
    /// `X-Request-Id` (the client's, when it sent a sane one), and one log line
    /// per request records method, route, status, latency and account (never
    /// keys or bodies).
    pub async fn handle<B>(self: Arc<Self>, request: Request<B>) -> HttpResponse
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = std::time::Instant::now();
        let retry_after = self.config.retry_after_secs;
        let request_id = request_id(request.headers());
        let method = request.method().clone();
        let app = Arc::clone(&self);
        let task = tokio::spawn(async move {
            let mut context = RequestContext::default();
            let result = self.route(request, &mut context).await;
            (result, context)
        });
        let (mut response, context) = match task.await {
            Ok((Ok(response), context)) => (response, context),
            Ok((Err(error), context)) => (error_response(&error, retry_after), context),
            Err(join) => (
                error_response(
                    &ApiError::new(
                        error::INTERNAL,
                        format!("the request handler failed: {join}"),
                    ),
                    retry_after,
                ),
                RequestContext::default(),
            ),
        };
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-request-id", value);
        }
        let route = if context.route.is_empty() {
            "-"
        } else {
            context.route
        };
        app.metrics
            .observe_request(route, response.status().as_u16(), started.elapsed());
        tracing::info!(
            request_id = %request_id,
            method = %method,
            route = route,
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1e3,
            account = context.account.as_deref().unwrap_or("-"),
            "request"
        );
        response
    }

    async fn route<B>(
        self: Arc<Self>,
        request: Request<B>,
        context: &mut RequestContext,
    ) -> Result<HttpResponse, ApiError>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = request.uri().path();
        if let Some(tail) = path.strip_prefix(SWAGGER_PREFIX) {
            context.route = SWAGGER_PREFIX;
            return self.swagger_file(request.method(), tail);
        }
        if path == "/swagger" {
            return Ok(redirect("/swagger/index.html"));
        }
        let mut allowed = Vec::new();
        let mut found = None;
        for route in ROUTES.iter().filter(|r| r.path == path) {
            context.route = route.path;
            if route.method == request.method()
                || (route.method == Method::GET && request.method() == Method::HEAD)
            {
                found = Some(route.endpoint);
            }
            allowed.push(route.method.as_str());
        }
        let Some(endpoint) = found else {
            if allowed.is_empty() {
                return Err(ApiError::new(
                    error::NOT_FOUND,
                    format!("no route {} {path}", request.method()),
                ));
            }
            let mut response = error_response(
                &ApiError::new(
                    error::METHOD_NOT_ALLOWED,
                    format!("{path} accepts {}", allowed.join(", ")),
                ),
                self.config.retry_after_secs,
            );
            if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return Ok(response);
        };
        match endpoint {
            Endpoint::Healthz => Ok(text_response(facecore::store::time::format_utc(
                facecore::store::time::now_unix(),
            ))),
            Endpoint::Demo(file) => Ok(file.response()),
            Endpoint::OpenApi => Ok(bytes_response(
                self.openapi_json.clone(),
                "application/json",
            )),
            Endpoint::Metrics => {
                let app = Arc::clone(&self);
                let text = tokio::task::spawn_blocking(move || app.metrics.render(&app.store))
                    .await
                    .map_err(|e| ApiError::new(error::INTERNAL, format!("metrics: {e}")))?;
                Ok(bytes_response(
                    Bytes::from(text),
                    "text/plain; version=0.0.4; charset=utf-8",
                ))
            }
            Endpoint::Api(call) => {
                let account = auth::authenticate(
                    request.headers(),
                    &self.store,
                    &self.keys,
                    self.config.jwt.as_ref(),
                )?;
                let account = account.name;
                context.account = Some(account.clone());
                let query = request.uri().query().map(str::to_string);
                let query = query.as_deref();
                let body = self.read_body(request).await?;
                use crate::recognition::FaceOp;
                match call {
                    ApiCall::DetectFaces => {
                        self.image_call(&body, Engine::detect, |d| {
                            DetectFacesResponse::from_detection(d, false)
                        })
                        .await
                    }
                    ApiCall::GetFaceEmbeddings => {
                        self.image_call(&body, Engine::embed, |e| {
                            FaceEmbeddingsResponse::from_embeddings(e, false)
                        })
                        .await
                    }
                    ApiCall::CompareFaceEmbeddings => self.compare_face_embeddings(&body),
                    ApiCall::CollectionGet => self.collection_get(&account, query).await,
                    ApiCall::CollectionGetAll => self.collection_get_all(&account).await,
                    ApiCall::CollectionCreate => self.collection_write(&account, &body, true).await,
                    ApiCall::CollectionUpdate => {
                        self.collection_write(&account, &body, false).await
                    }
                    ApiCall::CollectionDelete => self.collection_delete(&account, query).await,
                    ApiCall::FaceIndex => self.face_call(&account, &body, FaceOp::Index).await,
                    ApiCall::FaceSearch => self.face_call(&account, &body, FaceOp::Search).await,
                    ApiCall::FaceSearchOrIndex => {
                        self.face_call(&account, &body, FaceOp::SearchOrIndex).await
                    }
                    ApiCall::FaceDelete => self.face_delete(&account, query).await,
                }
            }
        }
    }

    /// Reads the whole body under the size limit and the body timeout.
    async fn read_body<B>(&self, request: Request<B>) -> Result<Bytes, ApiError>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let limit = self.config.max_body_bytes;
        let too_large = || {
            ApiError::new(
                error::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than the limit of {limit} bytes"),
            )
        };
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let body = Limited::new(request.into_body(), limit);
        match tokio::time::timeout(self.config.body_timeout, body.collect()).await {
            Err(_) => Err(ApiError::new(
                error::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    self.config.body_timeout.as_secs_f32()
                ),
            )),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
            Ok(Err(e)) => Err(ApiError::new(
                error::MALFORMED_JSON,
                format!("the request body could not be read: {e}"),
            )),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
        }
    }

    /// The image bytes of a request: decoded base64 or a safe download.
    pub(crate) async fn image_bytes(
        &self,
        image: Option<input::ImageInput>,
    ) -> Result<Vec<u8>, ApiError> {
        match input::image_source(image)? {
            ImageSource::Bytes(bytes) => Ok(bytes),
            ImageSource::Url(url) => self
                .fetcher
                .fetch(&url)
                .await
                .map_err(|e| ApiError::from_fetch(&e)),
        }
    }

    /// Runs `work` on the blocking pool once an inference worker is free;
    /// answers 503 at once when the queue is full.
    pub(crate) async fn infer<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Timed + Send + 'static,
        F: FnOnce(&Engine) -> Result<T, facecore::Error> + Send + 'static,
    {
        let Ok(_admitted) = self.admission.clone().try_acquire_owned() else {
            self.metrics.rejections.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::new(
                error::OVERLOADED,
                format!(
                    "the server is busy: {} requests are running or queued; retry shortly",
                    self.config.inference_workers + self.config.queue_capacity
                ),
            ));
        };
        self.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
        let depth = QueueSlot(&self.metrics.queue_depth);
        let _worker = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| ApiError::new(error::INTERNAL, e.to_string()))?;
        let engine = Arc::clone(&self.engine);
        let result = tokio::task::spawn_blocking(move || work(&engine))
            .await
            .map_err(|e| ApiError::new(error::INTERNAL, format!("inference failed: {e}")))?
            .map_err(|e| ApiError::from_engine(&e))?;
        drop(depth);
        self.metrics.observe_stages(&result.timings());
        Ok(result)
    }

    /// detect-faces and get-face-embeddings: parse, fetch or decode the
    /// image bytes, run `work` on an inference worker, answer `respond(result)`.
    async fn image_call<T, R>(
        &self,
        body: &[u8],
        work: fn(&Engine, &[u8], usize) -> Result<T, facecore::Error>,
        respond: fn(&T) -> R,
    ) -> Result<HttpResponse, ApiError>
    where
        T: Timed + Send + 'static,
        R: Serialize,
    {
        let mut request: ImageRequest = input::parse_json(body)?;
        let max_faces = request.max_faces()?;
        let bytes = self.image_bytes(request.image.take()).await?;
        let result = self
            .infer(move |engine| work(engine, &bytes, max_faces))
            .await?;
        Ok(json_response(StatusCode::OK, &respond(&result)))
    }

    fn compare_face_embeddings(&self, body: &[u8]) -> Result<HttpResponse, ApiError> {
        let request = CompareRequest::parse(body)?;
        let dim = self.engine.embedding_dim();
        let a = input::embedding("embedding1", request.embedding1.as_ref(), dim)?;
        let b = input::embedding("embedding2", request.embedding2.as_ref(), dim)?;
        let comparison = self
            .engine
            .compare_vectors(&a, &b)
            .map_err(|e| ApiError::from_engine(&e))?;
        Ok(json_response(
            StatusCode::OK,
            &crate::openapi::CompareResponse {
                similarity: comparison.similarity,
            },
        ))
    }

    fn swagger_file(&self, method: &Method, tail: &str) -> Result<HttpResponse, ApiError> {
        if method != Method::GET && method != Method::HEAD {
            return Err(ApiError::new(
                error::METHOD_NOT_ALLOWED,
                "Swagger UI files accept GET",
            ));
        }
        let file = utoipa_swagger_ui::serve(tail, Arc::clone(&self.swagger))
            .map_err(|e| ApiError::new(error::INTERNAL, format!("swagger ui: {e}")))?
            .ok_or_else(|| {
                ApiError::new(error::NOT_FOUND, format!("no Swagger UI file '{tail}'"))
            })?;
        let mut response = bytes_response(Bytes::from(file.bytes.into_owned()), &file.content_type);
        if file.gzpipped {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        Ok(response)
    }
}

/// The JSON error response for `error`, with `Retry-After: retry_after_secs`
/// on 503.
pub fn error_response(error: &ApiError, retry_after_secs: u32) -> HttpResponse {
    let mut response = json_response(error.status(), &error.body());
    if error.status() == StatusCode::SERVICE_UNAVAILABLE
        && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A JSON response.
pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> HttpResponse {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = bytes_response(Bytes::from(body), "application/json");
            *response.status_mut() = status;
            response
        }
        Err(e) => {
            let body = serde_json::json!({
                "code": error::INTERNAL.code,
                "message": format!("the response could not be serialised: {e}"),
            })
            .to_string();
            let mut response = bytes_response(Bytes::from(body), "application/json");
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

fn bytes_response(body: Bytes, content_type: &str) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn text_response(text: String) -> HttpResponse {
    bytes_response(Bytes::from(text), "text/plain; charset=utf-8")
}

fn redirect(location: &'static str) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::FOUND;
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    response
}
