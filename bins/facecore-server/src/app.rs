//! The application: shared state, and answering one request (request id,
//! routing, authentication, the dialect's handler, the access log). It is
//! independent of the socket loop so that tests can drive it in process.
//! The route table is in [`crate::routes`], the dialects under
//! [`crate::api`], the shared HTTP plumbing under [`crate::http`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use facecore::collections::Collections;
use facecore::keys::Keys;
use facecore::store::Store;
use facecore::{Engine, ModelSets};
use facecore_wire::ImageSource;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request};

use crate::api::CallRequest;
use crate::error::{self, ApiError};
use crate::fetch::{FetchPolicy, Fetcher};
use crate::http::admission::{Admission, Timed};
use crate::http::auth::{self, JwtVerifier};
use crate::http::body::{self, IncomingBody};
use crate::http::cors::CorsPolicy;
use crate::http::request_id;
use crate::http::response::{bytes_response, redirect, text_response};
use crate::routes::{Endpoint, Matched, SWAGGER_PREFIX};

pub use crate::http::response::{HttpResponse, error_response, json_response};
pub use crate::routes::{ROUTES, Route};

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
    /// Keep the original image of CompreFace examples.
    pub compreface_save_images: bool,
    /// Origins whose browser apps may call the API (none by default).
    pub cors: crate::http::cors::CorsPolicy,
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
            compreface_save_images: true,
            cors: crate::http::cors::CorsPolicy::default(),
        }
    }
}

/// What the access log records about a request besides its method and status.
#[derive(Debug, Default)]
struct RequestContext {
    /// The matched route (empty when none matched; never the raw path).
    route: &'static str,
    /// The authenticated account.
    account: Option<String>,
}

/// The shared application state.
pub struct App {
    pub(crate) engine: Arc<Engine>,
    store: Arc<Store>,
    pub(crate) collections: Arc<Collections>,
    keys: Keys,
    pub(crate) metrics: crate::metrics::Metrics,
    config: AppConfig,
    fetcher: Fetcher,
    admission: Admission,
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
fn log_load(account: &str, collection: &str, report: &facecore::store::LoadReport) {
    use facecore::store::ModelSource;
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
    create_app_with_models(Arc::new(ModelSets::single(engine)), store, config)
}

/// [`create_app`] with several model sets: the default set's engine serves
/// the stateless calls and new collections, each collection is served by
/// the engine of the model it records.
pub fn create_app_with_models(
    models: Arc<ModelSets>,
    store: Arc<Store>,
    config: AppConfig,
) -> Result<Arc<App>, crate::fetch::FetchError> {
    let fetcher = Fetcher::new(config.fetch.clone())?;
    let engine = Arc::clone(models.default_engine());
    let openapi_json = Bytes::from(crate::openapi::document_json(&engine));
    let collections = Arc::new(
        Collections::with_model_sets(Arc::clone(&store), models).with_load_observer(log_load),
    );
    Ok(Arc::new(App {
        engine,
        collections,
        keys: Keys::new(Arc::clone(&store)),
        store,
        metrics: crate::metrics::Metrics::default(),
        fetcher,
        admission: Admission::new(config.inference_workers, config.queue_capacity),
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
        B: IncomingBody,
    {
        let started = std::time::Instant::now();
        let retry_after = self.config.retry_after_secs;
        let request_id = request_id::request_id(request.headers());
        let method = request.method().clone();
        let cors_origin = self.config.cors.allowed_origin(request.headers());
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
        if let Some(origin) = cors_origin {
            CorsPolicy::decorate(origin, response.headers_mut());
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

    /// A CORS preflight: 204 with the route's methods for an allowed
    /// origin, 403 for another origin, 404 for an unknown path.
    fn preflight<B>(
        &self,
        request: &Request<B>,
        context: &mut RequestContext,
    ) -> Result<HttpResponse, ApiError> {
        let path = request.uri().path();
        let Some((route, methods)) = crate::routes::methods_of(path) else {
            return Err(ApiError::new(error::NOT_FOUND, format!("no route {path}")));
        };
        context.route = route;
        if self.config.cors.allowed_origin(request.headers()).is_none() {
            return Err(ApiError::new(
                error::ORIGIN_NOT_ALLOWED,
                "this origin may not call the API from a browser (see --cors-allow-origins)",
            ));
        }
        let mut response = HttpResponse::new(http_body_util::Full::new(Bytes::new()));
        *response.status_mut() = hyper::StatusCode::NO_CONTENT;
        CorsPolicy::preflight(&methods, response.headers_mut());
        Ok(response)
    }

    async fn route<B>(
        self: Arc<Self>,
        request: Request<B>,
        context: &mut RequestContext,
    ) -> Result<HttpResponse, ApiError>
    where
        B: IncomingBody,
    {
        let path = request.uri().path();
        if let Some(tail) = path.strip_prefix(SWAGGER_PREFIX) {
            context.route = SWAGGER_PREFIX;
            return self.swagger_file(request.method(), tail);
        }
        if path == "/swagger" {
            return Ok(redirect("/swagger/index.html"));
        }
        if request.method() == Method::OPTIONS
            && self.config.cors.is_enabled()
            && request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return self.preflight(&request, context);
        }
        let (route, params) = match crate::routes::find(request.method(), path) {
            Matched::Found(route, params) => (route, params),
            Matched::WrongMethod { path, allowed } => {
                context.route = path;
                body::discard(request, self.config.body_timeout);
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
            }
            Matched::NoPath => {
                let error = ApiError::new(
                    error::NOT_FOUND,
                    format!("no route {} {path}", request.method()),
                );
                body::discard(request, self.config.body_timeout);
                return Err(error);
            }
        };
        context.route = route.path;
        match route.endpoint {
            Endpoint::Healthz => Ok(text_response(facecore::store::time::format_utc(
                facecore::store::time::now_unix(),
            ))),
            Endpoint::Models => {
                let sets = self
                    .model_sets()
                    .describe()
                    .map_err(|e| ApiError::from_error(&e))?;
                Ok(crate::http::response::json_response(
                    hyper::StatusCode::OK,
                    &serde_json::json!({ "sets": sets }),
                ))
            }
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
            Endpoint::Api(call) => match self.api_call(request, call, params, context).await {
                Ok(call_request) => match call.run(&self, &call_request).await {
                    Ok(response) => Ok(response),
                    Err(e) => Ok(call.render_error(&e, self.config.retry_after_secs)),
                },
                Err(e) => Ok(call.render_error(&e, self.config.retry_after_secs)),
            },
        }
    }

    /// Authenticates an API request (by its dialect's credential) and reads
    /// its body.
    async fn api_call<B>(
        &self,
        request: Request<B>,
        call: crate::api::ApiCall,
        params: Vec<String>,
        context: &mut RequestContext,
    ) -> Result<CallRequest, ApiError>
    where
        B: IncomingBody,
    {
        let credentials = match call {
            crate::api::ApiCall::Compreface(call) if call.key_in_path() => {
                // The image link CompreFace puts in <img> tags carries the
                // key in its path; a wrong key is an empty answer, as an
                // unknown image is.
                match auth::service_of(
                    params.first().map_or("", String::as_str),
                    &self.keys,
                    call.service_kind(),
                ) {
                    Ok(service) => Ok((service.account, service.collection)),
                    Err(_) => Ok((String::new(), None)),
                }
            }
            crate::api::ApiCall::Compreface(call) => {
                auth::service_key(request.headers(), &self.keys, call.service_kind())
                    .map(|service| (service.account, service.collection))
            }
            crate::api::ApiCall::FaceSearch(_) => auth::x_api_key_or_authorization(
                request.headers(),
                &self.keys,
                self.config.jwt.as_ref(),
            )
            .map(|account| (account.name, None)),
            _ => auth::authenticate(request.headers(), &self.keys, self.config.jwt.as_ref())
                .map(|account| (account.name, None)),
        };
        let (account, collection) = match credentials {
            Ok(found) => found,
            Err(refused) => {
                body::discard(request, self.config.body_timeout);
                return Err(refused);
            }
        };
        context.account = Some(account.clone());
        let query = request.uri().query().map(str::to_string);
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // A body too large for an image call of the primary APIs can only
        // hold an image over the image limit: drain up to twice the body
        // limit and say so (issue 30.2); beyond that it is no request.
        let oversize = call.takes_one_image().then(|| body::Oversize {
            plausible: 2 * self.config.max_body_bytes as u64,
            error: ApiError::new(
                error::IMAGE_TOO_LARGE,
                format!(
                    "the image is larger than the limit of {} bytes (the request body exceeds {} bytes)",
                    self.engine.image_limits().max_encoded_bytes,
                    self.config.max_body_bytes
                ),
            ),
        });
        let body = body::read_body(
            request,
            self.config.max_body_bytes,
            self.config.body_timeout,
            oversize,
        )
        .await?;
        Ok(CallRequest {
            account,
            collection,
            params,
            query,
            content_type,
            body,
        })
    }

    /// The image bytes of a request: decoded base64 or a safe download.
    pub(crate) async fn image_bytes(
        &self,
        image: Option<facecore_wire::ImageInput>,
    ) -> Result<Vec<u8>, ApiError> {
        match facecore_wire::image_source(image)? {
            ImageSource::Bytes(bytes) => Ok(bytes),
            ImageSource::Url(url) => self
                .fetcher
                .fetch(&url)
                .await
                .map_err(|e| ApiError::from_fetch(&e)),
        }
    }

    /// Runs `work` with the engine on the blocking pool once an inference
    /// worker is free; answers 503 at once when the queue is full.
    pub(crate) async fn infer<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Timed + Send + 'static,
        F: FnOnce(&Engine) -> Result<T, facecore::Error> + Send + 'static,
    {
        self.infer_mapped(ApiError::from_error, work).await
    }

    /// [`App::infer`] with the dialect's own mapping of facade errors.
    pub(crate) async fn infer_mapped<T, F>(
        &self,
        map: fn(&facecore::Error) -> ApiError,
        work: F,
    ) -> Result<T, ApiError>
    where
        T: Timed + Send + 'static,
        F: FnOnce(&Engine) -> Result<T, facecore::Error> + Send + 'static,
    {
        self.infer_on(Arc::clone(&self.engine), map, work).await
    }

    /// [`App::infer_mapped`] with the engine of a given model set (a
    /// collection's, [`facecore::collections::OpenCollection::engine`]).
    pub(crate) async fn infer_on<T, F>(
        &self,
        engine: Arc<Engine>,
        map: fn(&facecore::Error) -> ApiError,
        work: F,
    ) -> Result<T, ApiError>
    where
        T: Timed + Send + 'static,
        F: FnOnce(&Engine) -> Result<T, facecore::Error> + Send + 'static,
    {
        self.admission
            .run_mapped(&self.metrics, map, move || work(&engine))
            .await
    }

    /// The loaded model sets.
    pub fn model_sets(&self) -> &Arc<ModelSets> {
        self.collections.model_sets()
    }

    /// Runs a store or collection operation off the async runtime (not on
    /// an inference worker: it waits on the disk, not the CPU).
    pub(crate) async fn storage<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, facecore::Error> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.storage_mapped(ApiError::from_error, work).await
    }

    /// [`App::storage`] with the dialect's own mapping of facade errors.
    pub(crate) async fn storage_mapped<T: Send + 'static>(
        &self,
        map: fn(&facecore::Error) -> ApiError,
        work: impl FnOnce() -> Result<T, facecore::Error> + Send + 'static,
    ) -> Result<T, ApiError> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::new(error::INTERNAL, format!("storage task failed: {e}")))?
            .map_err(|e| map(&e))
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
