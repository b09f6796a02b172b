//! facecore's HTTP server: every API dialect over hyper + tokio.
//!
//! Thin by design: each dialect under [`api`] parses its own requests, calls
//! the [`facecore`] facade, and renders the answer and its errors; the
//! kinds of facade errors map to status codes in one table ([`error`]).
//! Shared plumbing (bodies, request ids, credentials, the inference queue)
//! is in [`http`], the route table in [`routes`]. [`create_app`] builds the
//! application for in-process use and tests; [`server::serve`] runs it on a
//! socket; [`run`] is the binary.

pub mod admin_socket;
pub mod api;
pub mod app;
pub mod config;
pub mod demo;
pub mod error;
pub mod fetch;
pub mod healthcheck;
pub mod http;
pub mod log_output;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod server;

pub use http::auth;

use std::sync::Arc;

use anyhow::Context as _;

pub use app::{App, AppConfig, create_app, create_app_with_models};
pub use config::{Args, ServerConfig};

pub use facecore::store::DATA_FILE;

/// Account that receives the key made on first start.
pub const FIRST_ACCOUNT: &str = "default";

/// Opens the store in `config.data_dir`, and makes the first key when the
/// store has never had one. Returns the store and that key's secret, if made.
pub fn open_store(
    config: &ServerConfig,
) -> anyhow::Result<(Arc<facecore::store::Store>, Option<String>)> {
    create_private_dir(&config.data_dir)?;
    let store = facecore::store::Store::open(config.data_dir.join(DATA_FILE))?;
    let first_key = if store.list_keys(None)?.is_empty() {
        Some(
            store
                .create_key(FIRST_ACCOUNT, Some("created on first start"))?
                .secret,
        )
    } else {
        None
    };
    Ok((Arc::new(store), first_key))
}

fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Prints a line on stdout, ignoring a closed stdout (a server must not die
/// because whoever started it stopped reading).
fn say(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(text);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// Loads the configured model set as the default and every other
/// installed set beside it.
pub fn load_models(config: &ServerConfig) -> anyhow::Result<Arc<facecore::ModelSets>> {
    let mut engine_config = facecore::EngineConfig {
        threads: Some(config.threads).filter(|&t| t > 0),
        liveness: config.liveness,
        model_set: config.model_set.clone(),
        ..Default::default()
    };
    if let Some(dir) = &config.models_dir {
        engine_config.models_dir = Some(dir.clone());
    }
    Ok(Arc::new(facecore::ModelSets::load(engine_config)?))
}

/// Logs each loaded model set with its licence; a set whose weights are
/// not for commercial use says so loudly, on every start.
fn log_model_sets(models: &facecore::ModelSets) {
    for (i, engine) in models.engines().iter().enumerate() {
        let set = engine.model_set();
        let role = if i == 0 { "default" } else { "also loaded" };
        say(format_args!(
            "facecore-server: model set '{}' ({role}): embedder {}, licence: {}",
            set.name,
            engine.model_id(),
            set.license
        ));
        if !set.commercial_use {
            say(format_args!(
                "facecore-server: WARNING: model set '{}' is for NON-COMMERCIAL use only. {}",
                set.name,
                set.terms.as_deref().unwrap_or_default()
            ));
        }
    }
}

/// Runs the server until SIGINT/SIGTERM: loads the models, opens the store,
/// prints the first key if it made one, binds the HTTP and admin sockets.
pub async fn run(config: ServerConfig) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (store, first_key) = open_store(&config)?;
    let models = tokio::task::spawn_blocking({
        let config = config.clone();
        move || load_models(&config)
    })
    .await??;
    log_model_sets(&models);
    let engine = Arc::clone(models.default_engine());
    if let Some(key) = first_key {
        say(format_args!(
            "facecore-server: this data directory had no API keys, so one was made for account '{FIRST_ACCOUNT}'.\n\
             It is shown only now; keep it:\n\n    {key}\n\n\
             Use it as `Authorization: ApiKey {key}`. Make more with\n    \
             facecore keys create --account NAME --data-dir {}\n",
            config.data_dir.display()
        ));
    }
    let (admin, admin_path) = admin_socket::bind(&config.data_dir).with_context(|| {
        format!(
            "cannot bind the admin socket in {}",
            config.data_dir.display()
        )
    })?;
    tokio::spawn(admin_socket::run(admin, Arc::clone(&store)));
    let app = create_app_with_models(models, store, config.app.clone())?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    say(format_args!(
        "facecore-server: listening on http://{} (model {}, ready in {:.1} s); Swagger UI at /swagger/index.html",
        listener.local_addr()?,
        engine.model_id(),
        started.elapsed().as_secs_f32()
    ));
    let still_open = server::serve(
        listener,
        app,
        config.serve.clone(),
        server::shutdown_signal(),
    )
    .await;
    let _ = std::fs::remove_file(&admin_path);
    say(format_args!(
        "facecore-server: stopped ({still_open} connections cut at shutdown)"
    ));
    Ok(())
}
