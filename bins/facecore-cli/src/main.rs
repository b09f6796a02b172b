//! `facecore`: the command-line face tool. Detects, embeds and compares faces
//! in image files and prints JSON with the field names of the Face
//! Verification API, or a readable table with `--format table`.

mod admin;
mod calibrate;
mod collections;
mod errata;
mod eval;
mod openset;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Parser, Subcommand, ValueEnum};
use facecore::{Engine, EngineConfig};
use facecore_wire::verification::{
    DetectFacesResponse, DetectedFace, FaceEmbeddingsResponse, FaceWithEmbedding,
};
use serde_json::json;

/// jemalloc, not glibc's malloc: the pipeline allocates buffers whose sizes
/// follow each photo's size, and glibc's adaptive mmap threshold then
/// fragments its heap without bound (`facecore index` on 10,000 varied
/// photos peaked at 1.2 GB RSS; with jemalloc, at the same speed, the peak
/// stays flat).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
#[command(
    name = "facecore",
    version,
    about = "Detect, embed and compare faces in images"
)]
struct Cli {
    /// Directory with the model files (default: $FACECORE_MODELS or the repository's models/).
    #[arg(long, global = true, value_name = "DIR")]
    models: Option<PathBuf>,
    /// The model set to use (`facecore models` lists them; default: default).
    #[arg(long, global = true, value_name = "NAME", env = "FACECORE_MODEL_SET")]
    model_set: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Json)]
    format: OutputFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// One JSON object per image, one per line.
    Json,
    /// A readable table.
    Table,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Detect faces in one or more images.
    Detect {
        /// Image files (JPEG, PNG, WebP, BMP, GIF, TIFF, ICO).
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Faces to return per image, most dominant first (1..=100).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
        max_faces: u16,
        /// Also print the 5 landmarks of each face.
        #[arg(long)]
        landmarks: bool,
    },
    /// Print the 512-d embeddings of the faces in an image.
    Embed {
        /// Image file.
        image: PathBuf,
        /// Faces to embed, most dominant first (1..=10).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=10))]
        max_faces: u16,
    },
    /// List the model sets: which are installed, their models, licences
    /// and calibration (loads every installed set).
    Models,
    /// Compare the dominant faces of two images.
    Compare {
        /// First image.
        image1: PathBuf,
        /// Second image.
        image2: PathBuf,
    },
    /// Evaluate the model and its calibration on labelled images.
    Eval {
        /// Directory with `labels.csv` (`path,identity`).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Pairs file `a,b,same[,fold]` (default: DIR/pairs.csv when present).
        #[arg(long, value_name = "FILE")]
        pairs: Option<PathBuf>,
        /// Embedding cache shared with `calibrate`.
        #[arg(long, value_name = "FILE")]
        cache: Option<PathBuf>,
        /// Write `<name>.md` and `<name>.png` into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Label errata (`path,reason` rows: photos, or folders ending in
        /// `/`, whose label is wrong): the report adds its figures without
        /// them.
        #[arg(long, value_name = "FILE")]
        errata: Option<PathBuf>,
    },
    /// Measure the score calibration of the model on labelled images.
    Calibrate {
        /// Directory with `labels.csv` (`path,identity`, paths relative to it).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Embedding cache (JSON lines), so reruns only embed new images.
        #[arg(long, value_name = "FILE")]
        cache: Option<PathBuf>,
        /// Write the thresholds into this model manifest (e.g. models/manifest.json).
        #[arg(long, value_name = "FILE")]
        write_manifest: Option<PathBuf>,
        /// Choose each threshold so that the false-positive rate's upper bound
        /// at this confidence (e.g. 0.95) meets the target, not only the rate
        /// measured on this sample (costs some TPR).
        #[arg(long, value_name = "C", value_parser = parse_confidence, allow_negative_numbers = true)]
        confidence: Option<f64>,
    },
    /// Manage face collections in the server's data file (not while a server holds it).
    Collections {
        /// What to do.
        #[command(subcommand)]
        action: collections::CollectionsAction,
        /// The account that owns the collections.
        #[arg(long, default_value = "default", global = true)]
        account: String,
        /// The server's data directory.
        #[arg(long, env = "FACECORE_DATA_DIR", default_value = "data", global = true)]
        data_dir: PathBuf,
    },
    /// Index the dominant face of each image (files or directories) into a
    /// collection: parallel, with progress, and resumable (files already
    /// indexed are skipped by content hash).
    Index {
        /// Which collection, of which account, in which data directory.
        #[command(flatten)]
        target: collections::Target,
        /// Image files and directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Search a collection for the dominant face of an image.
    Search {
        /// Which collection, of which account, in which data directory.
        #[command(flatten)]
        target: collections::Target,
        /// Minimum similarity, 0..=100 (80 = FPR 1e-4).
        #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(i32).range(0..=100))]
        threshold: i32,
        /// The image.
        image: PathBuf,
    },
    /// Run the HTTP server (the `facecore-server` binary installed beside this
    /// one); arguments after `serve` are passed to it (see `serve --help`).
    Serve {
        /// Arguments for facecore-server.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Manage API keys (works while the server runs, through its admin socket).
    Keys {
        /// What to do.
        #[command(subcommand)]
        action: admin::KeysAction,
        /// The server's data directory.
        #[arg(long, env = "FACECORE_DATA_DIR", default_value = "data", global = true)]
        data_dir: PathBuf,
    },
    /// Manage CompreFace services and their keys (works while the server
    /// runs, through its admin socket).
    Services {
        /// What to do.
        #[command(subcommand)]
        action: admin::ServicesAction,
        /// The server's data directory.
        #[arg(long, env = "FACECORE_DATA_DIR", default_value = "data", global = true)]
        data_dir: PathBuf,
    },
    /// Manage accounts (works while the server runs, through its admin socket).
    Accounts {
        /// What to do.
        #[command(subcommand)]
        action: admin::AccountsAction,
        /// The server's data directory.
        #[arg(long, env = "FACECORE_DATA_DIR", default_value = "data", global = true)]
        data_dir: PathBuf,
    },
}

/// A confidence for `calibrate --confidence`: a number strictly between 0
/// and 1.
fn parse_confidence(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(c) if c > 0.0 && c < 1.0 => Ok(c),
        _ => Err(format!(
            "`{text}` is not a confidence: give a number between 0 and 1, such as 0.95"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn engine(cli: &Cli) -> Result<Engine> {
    Ok(Engine::load(EngineConfig {
        models_dir: cli.models.clone(),
        threads: cli.threads,
        model_set: cli.model_set.clone(),
        ..EngineConfig::default()
    })?)
}

/// `facecore models`: every set of the manifest, the installed ones loaded.
fn models(cli: &Cli) -> Result<ExitCode> {
    let sets = facecore::ModelSets::load(EngineConfig {
        models_dir: cli.models.clone(),
        threads: cli.threads,
        model_set: cli.model_set.clone(),
        ..EngineConfig::default()
    })?
    .describe()?;
    match cli.format {
        OutputFormat::Json => {
            for set in &sets {
                println!("{}", serde_json::to_string(set)?);
            }
        }
        OutputFormat::Table => {
            println!(
                "{:<10} {:<8} {:<8} {:<22} {:<10} licence",
                "set", "default", "loaded", "embedder", "fpr 1e-4"
            );
            for set in &sets {
                let fpr = set
                    .calibration
                    .as_ref()
                    .map_or_else(|| "none".to_string(), |c| format!("{:.4}", c.fpr_1e4));
                println!(
                    "{:<10} {:<8} {:<8} {:<22} {:<10} {}",
                    set.name,
                    if set.default { "yes" } else { "" },
                    if set.loaded { "yes" } else { "no" },
                    set.embedding_model,
                    fpr,
                    set.license
                );
                if let Some(install) = &set.install {
                    println!("{:<10} install: {install}", "");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Replaces this process with `facecore-server` from the same directory.
fn serve(cli: &Cli, args: &[std::ffi::OsString]) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let server = exe.with_file_name("facecore-server");
    if !server.exists() {
        return Err(anyhow!(
            "{} is missing: build it with `cargo build --release -p facecore-server`, \
             or run `cargo xtask serve` from the repository",
            server.display()
        ));
    }
    let mut command = std::process::Command::new(&server);
    command.args(args);
    if let Some(models) = &cli.models {
        command.env("FACECORE_MODELS", models);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let error = command.exec();
        Err(anyhow!("cannot start {}: {error}", server.display()))
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .with_context(|| format!("cannot start {}", server.display()))?;
        Ok(if status.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn run(cli: Cli) -> Result<ExitCode> {
    // Administration needs no models.
    match &cli.command {
        Command::Keys { action, data_dir } => {
            return admin::keys(action, data_dir).map(|()| ExitCode::SUCCESS);
        }
        Command::Accounts { action, data_dir } => {
            return admin::accounts(action, data_dir).map(|()| ExitCode::SUCCESS);
        }
        Command::Services { action, data_dir } => {
            return admin::services(action, data_dir).map(|()| ExitCode::SUCCESS);
        }
        Command::Serve { args } => return serve(&cli, args),
        Command::Collections {
            action,
            account,
            data_dir,
        } => {
            return collections::collections(action, account, data_dir).map(|()| ExitCode::SUCCESS);
        }
        Command::Models => return models(&cli),
        _ => {}
    }
    let engine = engine(&cli)?;
    match &cli.command {
        Command::Detect {
            images,
            max_faces,
            landmarks,
        } => {
            let mut failed = 0;
            for path in images {
                let result = read(path).and_then(|bytes| {
                    engine
                        .detect(&bytes, usize::from(*max_faces))
                        .with_context(|| path.display().to_string())
                });
                match result {
                    Ok(d) => {
                        let resp = DetectFacesResponse {
                            faces: d
                                .faces
                                .iter()
                                .map(|f| api_face(f, d.width, d.height, *landmarks))
                                .collect(),
                            unprocessed_face_count: d.unprocessed,
                        };
                        print_detect(cli.format, path, d.width, d.height, &resp)?;
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {e:#}");
                    }
                }
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Embed { image, max_faces } => {
            let e = engine
                .embed(&read(image)?, usize::from(*max_faces))
                .with_context(|| image.display().to_string())?;
            let resp = FaceEmbeddingsResponse {
                faces: e
                    .faces
                    .iter()
                    .map(|f| FaceWithEmbedding {
                        face: api_face(&f.face, e.width, e.height, false),
                        embedding: f.embedding.vector.clone(),
                    })
                    .collect(),
                unprocessed_face_count: e.unprocessed,
                model: e.faces.first().map(|f| f.embedding.model.to_string()),
            };
            match cli.format {
                OutputFormat::Json => {
                    let mut v = serde_json::to_value(&resp)?;
                    v["image"] = json!(image.display().to_string());
                    v["model"] = json!(engine.model_id());
                    println!("{}", serde_json::to_string(&v)?);
                }
                OutputFormat::Table => {
                    println!(
                        "{}: {} face(s) embedded, {} not processed, model {}",
                        image.display(),
                        resp.faces.len(),
                        resp.unprocessed_face_count,
                        engine.model_id()
                    );
                    for (i, f) in resp.faces.iter().enumerate() {
                        let head: Vec<String> = f
                            .embedding
                            .iter()
                            .take(6)
                            .map(|x| format!("{x:+.4}"))
                            .collect();
                        println!(
                            "  #{i} {}  [{} ...] ({} values)",
                            face_cells(&f.face),
                            head.join(" "),
                            f.embedding.len()
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval {
            data,
            pairs,
            cache,
            out,
            errata,
        } => {
            let md = eval::run(
                &engine,
                data,
                pairs.as_ref(),
                cache.as_ref(),
                out.as_ref(),
                errata.as_ref(),
                engine.threads(),
            )?;
            print!("{md}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Calibrate {
            data,
            cache,
            write_manifest,
            confidence,
        } => {
            let (report, described) =
                calibrate::run(&engine, data, cache.as_ref(), engine.threads(), *confidence)?;
            calibrate::print(&report, &described);
            if let Some(path) = write_manifest {
                calibrate::write_manifest(path, engine.model_id(), &report, &described)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys { .. }
        | Command::Accounts { .. }
        | Command::Services { .. }
        | Command::Collections { .. }
        | Command::Serve { .. }
        | Command::Models => {
            unreachable!("administration is handled before the engine is loaded")
        }
        Command::Index { target, paths } => {
            collections::index(std::sync::Arc::new(engine), target, paths)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Search {
            target,
            threshold,
            image,
        } => {
            collections::search(std::sync::Arc::new(engine), target, image, *threshold)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare { image1, image2 } => {
            let a = engine
                .embed(&read(image1)?, 1)
                .with_context(|| image1.display().to_string())?;
            let b = engine
                .embed(&read(image2)?, 1)
                .with_context(|| image2.display().to_string())?;
            let fa = a
                .faces
                .first()
                .ok_or_else(|| anyhow!("no face detected in {}", image1.display()))?;
            let fb = b
                .faces
                .first()
                .ok_or_else(|| anyhow!("no face detected in {}", image2.display()))?;
            let facecore::Comparison { cosine, similarity } =
                engine.compare(&fa.embedding, &fb.embedding)?;
            let face1 = api_face(&fa.face, a.width, a.height, false);
            let face2 = api_face(&fb.face, b.width, b.height, false);
            match cli.format {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string(&json!({
                        "similarity": similarity,
                        "cosine": cosine,
                        "calibrated": engine.is_calibrated(),
                        "model": engine.model_id(),
                        "image1": { "path": image1.display().to_string(), "face": face1 },
                        "image2": { "path": image2.display().to_string(), "face": face2 },
                    }))?
                ),
                OutputFormat::Table => {
                    println!("{}  {}", image1.display(), face_cells(&face1));
                    println!("{}  {}", image2.display(), face_cells(&face2));
                    println!(
                        "similarity {similarity} (cosine {cosine:.4}, model {}, {})",
                        engine.model_id(),
                        if engine.is_calibrated() {
                            "calibrated score map"
                        } else {
                            "uncalibrated: the API spec's reference map"
                        }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `face`, found in an image of `width × height` pixels, in the Face
/// Verification API's shape (the CLI prints the API's JSON).
fn api_face(face: &facecore::Face, width: u32, height: u32, landmarks: bool) -> DetectedFace {
    DetectedFace::new(
        face.confidence,
        face.bbox.to_pixels(width, height),
        landmarks.then_some(face.landmarks),
    )
}

fn face_cells(f: &DetectedFace) -> String {
    let b = &f.bounding_box;
    format!(
        "confidence {:.3}  box x={} y={} w={} h={}",
        f.confidence, b.x, b.y, b.width, b.height
    )
}

fn print_detect(
    format: OutputFormat,
    path: &Path,
    width: u32,
    height: u32,
    resp: &DetectFacesResponse,
) -> Result<()> {
    match format {
        OutputFormat::Json => {
            let mut v = serde_json::to_value(resp)?;
            v["image"] = json!(path.display().to_string());
            println!("{}", serde_json::to_string(&v)?);
        }
        OutputFormat::Table => {
            println!(
                "{} ({width}x{height}): {} face(s), {} not returned",
                path.display(),
                resp.faces.len(),
                resp.unprocessed_face_count
            );
            for (i, f) in resp.faces.iter().enumerate() {
                println!("  #{i} {}", face_cells(f));
                if let Some(l) = f.landmarks {
                    let pts: Vec<String> = l
                        .iter()
                        .map(|p| format!("({:.1}, {:.1})", p[0], p[1]))
                        .collect();
                    println!("      landmarks {}", pts.join(" "));
                }
            }
        }
    }
    Ok(())
}
