//! Server configuration from flags, `FACECORE_*` environment variables and an
//! optional TOML file, with precedence flag > env > file > default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::app::AppConfig;
use crate::auth::JwtVerifier;
use crate::fetch::{FetchPolicy, IpNet};
use crate::server::ServeOptions;

/// Command-line flags (each setting also read from its `FACECORE_*` variable).
#[derive(Debug, Default, Parser)]
#[command(
    name = "facecore-server",
    version,
    about = "facecore HTTP server: the Face Verification API"
)]
pub struct Args {
    /// TOML file with any of the settings below (flags and env vars win).
    #[arg(long, env = "FACECORE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The settings given on the command line or in the environment.
    #[command(flatten)]
    pub settings: Settings,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Ask the server at the configured bind address for `GET /v1/healthz`
    /// and exit 0 when it answers 200, 1 otherwise (for a container
    /// `HEALTHCHECK`; an unspecified address like 0.0.0.0 is probed on
    /// loopback).
    #[arg(long)]
    pub healthcheck: bool,
}

/// Every setting, optional: as flags and env vars, or as keys of the TOML
/// file (the same names in snake_case).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "FACECORE_BIND")]
    pub bind: Option<String>,
    /// Directory of the data file (keys, accounts) and the admin socket [default: ./data].
    #[arg(long, env = "FACECORE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Directory of the model files [default: the repository's models/].
    #[arg(long, env = "FACECORE_MODELS")]
    pub models_dir: Option<PathBuf>,
    /// The model set new collections and the stateless calls use
    /// (`GET /v1/models` lists what is loaded); every other installed set is
    /// loaded beside it for the collections made with it [default: default].
    #[arg(long, env = "FACECORE_MODEL_SET")]
    pub model_set: Option<String>,
    /// Largest request body in bytes [default: 20971520].
    #[arg(long, env = "FACECORE_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Threads of the inference pool [default: number of cores].
    #[arg(long, env = "FACECORE_THREADS")]
    pub threads: Option<usize>,
    /// Requests running inference at once [default: number of cores].
    #[arg(long, env = "FACECORE_INFERENCE_WORKERS")]
    pub inference_workers: Option<usize>,
    /// Requests that may wait for inference before 503 [default: 64].
    #[arg(long, env = "FACECORE_QUEUE_CAPACITY")]
    pub queue_capacity: Option<usize>,
    /// Seconds allowed for request headers [default: 10].
    #[arg(long, env = "FACECORE_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Seconds allowed for a request body [default: 30].
    #[arg(long, env = "FACECORE_BODY_TIMEOUT_SECS")]
    pub body_timeout_secs: Option<u64>,
    /// Most open connections [default: 1024].
    #[arg(long, env = "FACECORE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Fetch image URLs from loopback/private/link-local addresses too [default: false].
    #[arg(long, env = "FACECORE_URL_ALLOW_PRIVATE", num_args = 0..=1, default_missing_value = "true")]
    pub url_allow_private: Option<bool>,
    /// Networks (CIDR) exempt from the URL address check; repeat or comma-separate.
    #[arg(long, env = "FACECORE_URL_ALLOW_NETWORKS", value_delimiter = ',')]
    pub url_allow_networks: Option<Vec<String>>,
    /// Seconds allowed for a whole image download [default: 15].
    #[arg(long, env = "FACECORE_URL_TIMEOUT_SECS")]
    pub url_timeout_secs: Option<u64>,
    /// Largest image download in bytes [default: 15728640].
    #[arg(long, env = "FACECORE_URL_MAX_BYTES")]
    pub url_max_bytes: Option<usize>,
    /// JWT algorithm for bearer tokens: HS256, RS256 or ES256 [default: HS256 when a secret is set].
    #[arg(long, env = "FACECORE_JWT_ALGORITHM")]
    pub jwt_algorithm: Option<String>,
    /// HS256 secret (at least 32 bytes). Prefer the env var over the flag.
    #[arg(long, env = "FACECORE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM public key file for RS256/ES256 (or a file holding the HS256 secret).
    #[arg(long, env = "FACECORE_JWT_KEY_FILE")]
    pub jwt_key_file: Option<PathBuf>,
    /// Required `iss` of bearer tokens.
    #[arg(long, env = "FACECORE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` of bearer tokens.
    #[arg(long, env = "FACECORE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Keep the original image of every CompreFace example (what its image
    /// download routes return, and what a model upgrade re-embeds from)
    /// [default: true].
    #[arg(long, env = "FACECORE_COMPREFACE_SAVE_IMAGES", num_args = 0..=1, default_missing_value = "true")]
    pub compreface_save_images: Option<bool>,
    /// Origins whose browser apps may call the API (CORS), e.g.
    /// `https://app.example.com`; repeat or comma-separate; `*` for any
    /// [default: none, no CORS headers].
    #[arg(long, env = "FACECORE_CORS_ALLOW_ORIGINS", value_delimiter = ',')]
    pub cors_allow_origins: Option<Vec<String>>,
    /// Thresholds of the Face Search API's liveness check, as `name=value`
    /// (e.g. `max_yaw=25,min_live_probability=0.995`); repeat or
    /// comma-separate. Names: the fields of `LivenessConfig` [default: the
    /// measured defaults of the README's "Liveness" section].
    #[arg(long, env = "FACECORE_LIVENESS_THRESHOLDS", value_delimiter = ',')]
    pub liveness_thresholds: Option<Vec<String>>,
    /// Log format: human or json (one JSON object per line) [default: human].
    #[arg(long, env = "FACECORE_LOG_FORMAT")]
    pub log_format: Option<String>,
}

impl Settings {
    /// Reads a TOML settings file; unknown keys are an error.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("invalid config file {}: {e}", path.display()))
    }

    /// Fills every unset field of `self` from `lower` (lower precedence).
    pub fn or(self, lower: Settings) -> Settings {
        Settings {
            bind: self.bind.or(lower.bind),
            data_dir: self.data_dir.or(lower.data_dir),
            models_dir: self.models_dir.or(lower.models_dir),
            model_set: self.model_set.or(lower.model_set),
            max_body_bytes: self.max_body_bytes.or(lower.max_body_bytes),
            threads: self.threads.or(lower.threads),
            inference_workers: self.inference_workers.or(lower.inference_workers),
            queue_capacity: self.queue_capacity.or(lower.queue_capacity),
            header_timeout_secs: self.header_timeout_secs.or(lower.header_timeout_secs),
            body_timeout_secs: self.body_timeout_secs.or(lower.body_timeout_secs),
            max_connections: self.max_connections.or(lower.max_connections),
            url_allow_private: self.url_allow_private.or(lower.url_allow_private),
            url_allow_networks: self.url_allow_networks.or(lower.url_allow_networks),
            url_timeout_secs: self.url_timeout_secs.or(lower.url_timeout_secs),
            url_max_bytes: self.url_max_bytes.or(lower.url_max_bytes),
            jwt_algorithm: self.jwt_algorithm.or(lower.jwt_algorithm),
            jwt_secret: self.jwt_secret.or(lower.jwt_secret),
            jwt_key_file: self.jwt_key_file.or(lower.jwt_key_file),
            compreface_save_images: self.compreface_save_images.or(lower.compreface_save_images),
            jwt_issuer: self.jwt_issuer.or(lower.jwt_issuer),
            jwt_audience: self.jwt_audience.or(lower.jwt_audience),
            cors_allow_origins: self.cors_allow_origins.or(lower.cors_allow_origins),
            liveness_thresholds: self.liveness_thresholds.or(lower.liveness_thresholds),
            log_format: self.log_format.or(lower.log_format),
        }
    }
}

/// The effective, validated configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address.
    pub bind: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Models directory (`None`: the library default).
    pub models_dir: Option<PathBuf>,
    /// The default model set (`None`: `default`).
    pub model_set: Option<String>,
    /// Inference pool threads (0: number of cores).
    pub threads: usize,
    /// Thresholds of the liveness check.
    pub liveness: facecore::liveness::LivenessConfig,
    /// Application settings.
    pub app: AppConfig,
    /// Socket settings.
    pub serve: ServeOptions,
    /// Log lines as JSON objects instead of human-readable text.
    pub log_json: bool,
    /// The merged settings, for `--print-config`.
    pub settings: Settings,
}

fn positive<T: PartialOrd + Default + std::fmt::Display>(name: &str, v: T) -> Result<T, String> {
    if v > T::default() {
        Ok(v)
    } else {
        Err(format!("{name} must be greater than 0, got {v}"))
    }
}

impl ServerConfig {
    /// Merges flags/env with the optional file and defaults, and validates.
    pub fn from_args(args: &Args) -> Result<Self, String> {
        let file = match &args.config {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        Self::from_settings(args.settings.clone().or(file))
    }

    /// Validates merged settings, applying defaults.
    pub fn from_settings(s: Settings) -> Result<Self, String> {
        let bind_text = s
            .bind
            .clone()
            .unwrap_or_else(|| "127.0.0.1:8080".to_string());
        let bind: SocketAddr = bind_text.parse().map_err(|e| {
            format!("bind: '{bind_text}' is not an address like 127.0.0.1:8080: {e}")
        })?;
        let defaults = AppConfig::default();
        let mut fetch = FetchPolicy::default();
        if let Some(allow) = s.url_allow_private {
            fetch.allow_private = allow;
        }
        for net in s.url_allow_networks.iter().flatten() {
            let net = net.trim();
            if net.is_empty() {
                continue;
            }
            fetch.allowed_networks.push(
                net.parse::<IpNet>()
                    .map_err(|e| format!("url_allow_networks: {e}"))?,
            );
        }
        if let Some(secs) = s.url_timeout_secs {
            fetch.total_timeout = Duration::from_secs(positive("url_timeout_secs", secs)?);
            fetch.connect_timeout = fetch.connect_timeout.min(fetch.total_timeout);
        }
        if let Some(bytes) = s.url_max_bytes {
            fetch.max_bytes = positive("url_max_bytes", bytes)?;
        }
        let jwt = jwt_from(&s)?;
        let log_json = match s.log_format.as_deref().unwrap_or("human") {
            "human" => false,
            "json" => true,
            other => return Err(format!("log_format: '{other}' is not human or json")),
        };
        let app = AppConfig {
            max_body_bytes: positive(
                "max_body_bytes",
                s.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            )?,
            body_timeout: Duration::from_secs(positive(
                "body_timeout_secs",
                s.body_timeout_secs
                    .unwrap_or(defaults.body_timeout.as_secs()),
            )?),
            inference_workers: positive(
                "inference_workers",
                s.inference_workers.unwrap_or(defaults.inference_workers),
            )?,
            queue_capacity: s.queue_capacity.unwrap_or(defaults.queue_capacity),
            retry_after_secs: defaults.retry_after_secs,
            fetch,
            jwt,
            compreface_save_images: s
                .compreface_save_images
                .unwrap_or(defaults.compreface_save_images),
            cors: crate::http::cors::CorsPolicy::new(
                s.cors_allow_origins.as_deref().unwrap_or_default(),
            )?,
        };
        let serve_defaults = ServeOptions::default();
        let serve = ServeOptions {
            header_read_timeout: Duration::from_secs(positive(
                "header_timeout_secs",
                s.header_timeout_secs
                    .unwrap_or(serve_defaults.header_read_timeout.as_secs()),
            )?),
            max_connections: positive(
                "max_connections",
                s.max_connections.unwrap_or(serve_defaults.max_connections),
            )?,
            shutdown_grace: serve_defaults.shutdown_grace,
        };
        Ok(Self {
            bind,
            data_dir: s.data_dir.clone().unwrap_or_else(|| PathBuf::from("data")),
            models_dir: s.models_dir.clone(),
            model_set: s.model_set.clone(),
            threads: s.threads.unwrap_or(0),
            liveness: facecore::liveness::LivenessConfig::default()
                .with_overrides(s.liveness_thresholds.as_deref().unwrap_or_default())
                .map_err(|e| format!("liveness_thresholds: {e}"))?,
            app,
            serve,
            log_json,
            settings: s,
        })
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_toml(&self) -> String {
        let mut shown = self.settings.clone();
        shown.bind = Some(self.bind.to_string());
        shown.data_dir = Some(self.data_dir.clone());
        shown.max_body_bytes = Some(self.app.max_body_bytes);
        shown.threads = Some(self.threads);
        shown.inference_workers = Some(self.app.inference_workers);
        shown.queue_capacity = Some(self.app.queue_capacity);
        shown.header_timeout_secs = Some(self.serve.header_read_timeout.as_secs());
        shown.body_timeout_secs = Some(self.app.body_timeout.as_secs());
        shown.max_connections = Some(self.serve.max_connections);
        shown.url_allow_private = Some(self.app.fetch.allow_private);
        shown.compreface_save_images = Some(self.app.compreface_save_images);
        shown.url_allow_networks = Some(
            self.app
                .fetch
                .allowed_networks
                .iter()
                .map(ToString::to_string)
                .collect(),
        );
        shown.url_timeout_secs = Some(self.app.fetch.total_timeout.as_secs());
        shown.url_max_bytes = Some(self.app.fetch.max_bytes);
        shown.log_format = Some(if self.log_json { "json" } else { "human" }.to_string());
        if shown.jwt_secret.is_some() {
            shown.jwt_secret = Some("<redacted>".to_string());
        }
        toml::to_string(&shown)
            .unwrap_or_else(|e| format!("# cannot print the configuration: {e}\n"))
    }
}

fn jwt_from(s: &Settings) -> Result<Option<JwtVerifier>, String> {
    let key: Vec<u8> = match (&s.jwt_secret, &s.jwt_key_file) {
        (Some(_), Some(_)) => {
            return Err("set only one of jwt_secret and jwt_key_file".to_string());
        }
        (Some(secret), None) => secret.as_bytes().to_vec(),
        (None, Some(path)) => std::fs::read(path)
            .map_err(|e| format!("cannot read jwt_key_file {}: {e}", path.display()))?,
        (None, None) => {
            if s.jwt_algorithm.is_some() {
                return Err(
                    "jwt_algorithm is set but neither jwt_secret nor jwt_key_file".to_string(),
                );
            }
            return Ok(None);
        }
    };
    let algorithm = s.jwt_algorithm.as_deref().unwrap_or("HS256");
    JwtVerifier::new(
        algorithm,
        &key,
        s.jwt_issuer.as_deref(),
        s.jwt_audience.as_deref(),
    )
    .map(Some)
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        let mut argv = vec!["facecore-server"];
        argv.extend_from_slice(list);
        Args::try_parse_from(argv).expect("args")
    }

    #[test]
    fn defaults_are_documented_ones() {
        let config = ServerConfig::from_settings(Settings::default()).expect("defaults");
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert_eq!(config.app.max_body_bytes, 20 * 1024 * 1024);
        assert!(!config.app.fetch.allow_private);
        assert!(config.app.jwt.is_none());
    }

    #[test]
    fn flags_beat_file_and_file_beats_defaults() {
        let dir = tempfile::tempdir().expect("temp");
        let file = dir.path().join("facecore.toml");
        std::fs::write(
            &file,
            "bind = \"0.0.0.0:9000\"\nmax_body_bytes = 1000\nqueue_capacity = 3\n",
        )
        .expect("write");
        let a = args(&[
            "--config",
            file.to_str().expect("utf8"),
            "--bind",
            "127.0.0.1:7000",
        ]);
        let config = ServerConfig::from_args(&a).expect("config");
        assert_eq!(config.bind.to_string(), "127.0.0.1:7000");
        assert_eq!(config.app.max_body_bytes, 1000);
        assert_eq!(config.app.queue_capacity, 3);
        assert_eq!(config.serve.max_connections, 1024);
    }

    #[test]
    fn invalid_settings_fail_clearly() {
        let dir = tempfile::tempdir().expect("temp");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "bnid = \"x\"\n").expect("write");
        let err = ServerConfig::from_args(&args(&["--config", file.to_str().expect("utf8")]))
            .expect_err("unknown key");
        assert!(err.contains("bnid"), "{err}");
        let err = ServerConfig::from_args(&args(&["--bind", "localhost"])).expect_err("bind");
        assert!(err.contains("bind"), "{err}");
        let err = ServerConfig::from_args(&args(&["--max-body-bytes", "0"])).expect_err("zero");
        assert!(err.contains("max_body_bytes"), "{err}");
        let err = ServerConfig::from_args(&args(&["--url-allow-networks", "10.0.0.0/33"]))
            .expect_err("cidr");
        assert!(err.contains("url_allow_networks"), "{err}");
        let err = ServerConfig::from_args(&args(&["--log-format", "xml"])).expect_err("log");
        assert!(err.contains("log_format"), "{err}");
        let err = ServerConfig::from_args(&args(&["--jwt-secret", "short"])).expect_err("short");
        assert!(err.contains("32 bytes"), "{err}");
    }

    #[test]
    fn liveness_thresholds_come_from_flags_and_files() {
        let config = ServerConfig::from_args(&args(&[
            "--liveness-thresholds",
            "max_yaw=20,min_live_probability=0.995",
        ]))
        .expect("config");
        assert_eq!(config.liveness.max_yaw, 20.0);
        assert_eq!(config.liveness.min_live_probability, 0.995);
        assert_eq!(
            config.liveness.max_pitch,
            facecore::liveness::LivenessConfig::default().max_pitch
        );
        let dir = tempfile::tempdir().expect("temp");
        let file = dir.path().join("facecore.toml");
        std::fs::write(&file, "liveness_thresholds = [\"min_face_px=64\"]\n").expect("write");
        let config = ServerConfig::from_args(&args(&["--config", file.to_str().expect("utf8")]))
            .expect("config");
        assert_eq!(config.liveness.min_face_px, 64.0);
        for (bad, says) in [
            ("max_jaw=20", "max_jaw"),
            ("min_live_probability=2", "[0, 1]"),
        ] {
            let err = ServerConfig::from_args(&args(&["--liveness-thresholds", bad]))
                .expect_err("bad threshold");
            assert!(
                err.contains("liveness_thresholds") && err.contains(says),
                "{err}"
            );
        }
    }

    #[test]
    fn print_config_redacts_the_jwt_secret() {
        let secret = "s".repeat(40);
        let config =
            ServerConfig::from_args(&args(&["--jwt-secret", &secret, "--url-allow-private"]))
                .expect("config");
        let text = config.to_toml();
        assert!(!text.contains(&secret), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        assert!(text.contains("url_allow_private = true"), "{text}");
    }
}
