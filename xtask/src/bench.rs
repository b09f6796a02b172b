//! `cargo xtask bench-report`: facecore's per-stage timings beside an
//! onnxruntime run of the same models on the same machine, in the same run,
//! as ratios. onnxruntime comes from PyPI into a private virtualenv under
//! `target/`; it is a measuring stick, never part of the product.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Runs the report and writes it to `target/bench-report.md`.
pub fn bench_report(root: &Path, models_dir: &Path, runs: usize) -> Result<()> {
    release_build(
        root,
        &["-p", "facecore-benches", "--bin", "stage-report"],
        "the stage-report binary (a cold release build of tract takes minutes)",
    )?;
    let ours = run_json(
        Command::new(root.join("target/release/stage-report"))
            .arg(runs.to_string())
            .env("FACECORE_MODELS", models_dir),
        "stage-report",
    )?;

    let python = python_venv(
        &root.join("target/ort-venv"),
        &["onnxruntime", "numpy"],
        "the onnxruntime reference",
    )?
    .join("bin/python");
    let theirs = run_json(
        Command::new(&python)
            .arg(root.join("benches/reference/ort_stages.py"))
            .arg(models_dir)
            .arg(runs.to_string()),
        "the onnxruntime reference",
    )?;

    let report = render(&ours, &theirs);
    print!("{report}");
    let out = root.join("target/bench-report.md");
    std::fs::write(&out, &report).with_context(|| format!("cannot write {}", out.display()))?;
    println!("written to {}", out.display());
    Ok(())
}

fn run_json(cmd: &mut Command, what: &str) -> Result<Value> {
    let out = cmd.output().with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("{what} printed no JSON: {text}"))
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// Renders the markdown report.
pub fn render(ours: &Value, theirs: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# facecore stage timings vs onnxruntime (same machine, same run)\n"
    );
    let _ = writeln!(
        s,
        "640x480 JPEG with one face; median ms of {} runs, 1 thread, batch 1. onnxruntime {}.\n",
        num(ours, "runs").unwrap_or(0.0),
        theirs
            .get("onnxruntime")
            .and_then(Value::as_str)
            .unwrap_or("?")
    );
    let _ = writeln!(
        s,
        "| stage | facecore (tract) ms | onnxruntime ms | ratio |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|");
    // (label, our key, onnxruntime's key): the stages include what is
    // around the model (resizing, box decoding, NMS, crops); the ratios
    // compare the models alone, as onnxruntime's figures are.
    let rows: [(&str, &str, Option<&str>); 11] = [
        ("decode", "decode", None),
        ("detect (resize, model, boxes, NMS)", "detect", None),
        ("detector model", "detect_model", Some("detect")),
        ("landmarks (crop, model, 5 points)", "landmarks", None),
        ("landmark model", "landmarks_model", Some("landmarks")),
        ("align", "align", None),
        ("embed (crop to unit vector)", "embed", None),
        ("embedding model", "embed_model", Some("embed")),
        ("end_to_end", "end_to_end", None),
        (
            "liveness check (detect, pose, eyes, model)",
            "liveness",
            None,
        ),
        ("liveness model", "liveness_model", None),
    ];
    for (label, key, reference) in rows {
        let a = num(ours, key);
        let b = reference.and_then(|r| num(theirs, r));
        let cell = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
        let ratio = match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
            _ => "-".into(),
        };
        let _ = writeln!(s, "| {label} | {} | {} | {ratio} |", cell(a), cell(b));
    }
    let _ = writeln!(
        s,
        "\nEnd to end with {} threads sharing one engine: {:.1} faces/s (target >= 40).",
        num(ours, "threads").unwrap_or(0.0),
        num(ours, "faces_per_s").unwrap_or(0.0)
    );
    s
}

/// `cargo build --release --quiet ARGS`, saying what it builds.
fn release_build(root: &Path, args: &[&str], what: &str) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!("building {what} in release mode...");
    let status = Command::new(&cargo)
        .current_dir(root)
        .args(["build", "--release", "--quiet"])
        .args(args)
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("building {what} failed");
    }
    Ok(())
}

/// Makes `dir` hold `wanted` with `install`, once: a marker file in `dir`
/// records what was installed, so a later call with the same `wanted` (and
/// `ready` still true) does nothing. On failure nothing half-made is left
/// behind and the error names `source` and what needed it.
fn install_once(
    dir: &Path,
    wanted: &str,
    source: &str,
    purpose: &str,
    ready: impl Fn() -> bool,
    install: impl FnOnce() -> Result<bool>,
) -> Result<()> {
    let marker = dir.join(".facecore-packages");
    if std::fs::read_to_string(&marker).is_ok_and(|have| have == wanted) && ready() {
        return Ok(());
    }
    println!(
        "installing {wanted} from {source} into {}...",
        dir.display()
    );
    let _ = std::fs::remove_dir_all(dir);
    let ok = install()?;
    if !ok || !ready() || std::fs::write(&marker, wanted).is_err() {
        let _ = std::fs::remove_dir_all(dir);
        bail!(
            "cannot install {wanted} into {} for {purpose}: check access to {source}",
            dir.display()
        );
    }
    Ok(())
}

/// A Python virtual environment at `venv` with `packages` from PyPI,
/// created on first use; returns `venv`.
pub fn python_venv(venv: &Path, packages: &[&str], purpose: &str) -> Result<PathBuf> {
    install_once(
        venv,
        &packages.join(" "),
        "PyPI",
        purpose,
        || venv.is_dir(),
        || {
            Ok(Command::new("python3")
                .args(["-m", "venv"])
                .arg(venv)
                .status()
                .with_context(|| format!("python3 is needed for {purpose}"))?
                .success()
                && Command::new(venv.join("bin/pip"))
                    .args(["install", "--quiet"])
                    .args(packages)
                    .status()
                    .context("cannot run pip")?
                    .success())
        },
    )?;
    Ok(venv.to_path_buf())
}

/// An npm package installed (exactly `package@version`, saved nowhere
/// else) under `prefix` on first use; returns the package's directory.
pub fn npm_package(prefix: &Path, package: &str, version: &str, purpose: &str) -> Result<PathBuf> {
    let dir = prefix.join("node_modules").join(package);
    let wanted = format!("{package}@{version}");
    install_once(
        prefix,
        &wanted,
        "the npm registry",
        purpose,
        || dir.is_dir(),
        || {
            std::fs::create_dir_all(prefix)?;
            Ok(Command::new("npm")
                .args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--no-save",
                    "--silent",
                ])
                .arg("--prefix")
                .arg(prefix)
                .arg(&wanted)
                .status()
                .with_context(|| format!("npm is needed for {purpose}"))?
                .success())
        },
    )?;
    Ok(dir)
}

/// Builds the release server and runs one of the server's process tests
/// (`tests/<test>.rs`) against it, with `env` set; `failure` says what a
/// failure means.
pub fn release_server_test(
    root: &Path,
    models_dir: &Path,
    test: &str,
    env: &[(&str, String)],
    failure: &str,
) -> Result<()> {
    release_build(
        root,
        &["-p", "facecore-server", "--bin", "facecore-server"],
        "the server",
    )?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(root)
        .args(["test", "--quiet", "-p", "facecore-server", "--test", test])
        .args(["--", "--nocapture"])
        .env("FACECORE_MODELS", models_dir)
        .env(
            "FACECORE_SERVER_BIN",
            root.join("target/release/facecore-server"),
        )
        .envs(env.iter().map(|(k, v)| (k, v)))
        .status()
        .context("cannot run cargo test")?;
    if !status.success() {
        bail!("{failure}");
    }
    Ok(())
}

/// Builds the release server and `server-bench`, runs the load test and
/// writes `target/server-bench.md`.
pub fn bench_server(root: &Path, models_dir: &Path, args: &[String]) -> Result<()> {
    release_build(
        root,
        &[
            "-p",
            "facecore-server",
            "-p",
            "facecore-benches",
            "--bin",
            "facecore-server",
            "--bin",
            "server-bench",
        ],
        "the server and its load generator",
    )?;
    let out = Command::new(root.join("target/release/server-bench"))
        .arg(root.join("target/release/facecore-server"))
        .args(args)
        .env("FACECORE_MODELS", models_dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run server-bench")?;
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{report}");
    if !out.status.success() {
        bail!("server-bench failed");
    }
    let path = root.join("target/server-bench.md");
    std::fs::write(&path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    println!("written to {}", path.display());
    Ok(())
}

/// The labelled evaluation data: `FACECORE_EVAL_DATA`, else
/// `../shared/data` beside the repository.
pub fn eval_data(root: &Path) -> PathBuf {
    std::env::var_os("FACECORE_EVAL_DATA")
        .filter(|d| !d.is_empty())
        .map_or_else(|| root.join("../shared/data"), PathBuf::from)
}

/// `cargo xtask bench-enrol`: `facecore index` (release) on `images` distinct
/// face photos into a fresh collection; prints and writes
/// `target/enrol-bench.md`.
pub fn bench_enrol(root: &Path, models_dir: &Path, images: usize) -> Result<()> {
    let source = eval_data(root).join("faces-dev/images");
    if !source.is_dir() {
        bail!(
            "{} is missing: the enrolment set is made from faces-dev photos (set FACECORE_EVAL_DATA)",
            source.display()
        );
    }
    release_build(
        root,
        &[
            "-p",
            "facecore-cli",
            "-p",
            "facecore-benches",
            "--bin",
            "facecore",
            "--bin",
            "enrol-set",
        ],
        "the CLI and the enrolment set maker",
    )?;
    let set = root.join(format!("target/enrol-set-{images}"));
    let status = Command::new(root.join("target/release/enrol-set"))
        .arg(&source)
        .arg(&set)
        .arg(images.to_string())
        .status()
        .context("cannot run enrol-set")?;
    if !status.success() {
        bail!("making the enrolment set failed");
    }
    let data = root.join("target/tmp/enrol-data");
    let _ = std::fs::remove_dir_all(&data);
    let cli = root.join("target/release/facecore");
    let run = |args: &[&std::ffi::OsStr]| -> Result<Value> {
        let out = Command::new(&cli)
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env("FACECORE_MODELS", models_dir)
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("cannot run facecore")?;
        if !out.status.success() {
            bail!("facecore {args:?} failed");
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).with_context(|| format!("facecore printed no JSON: {stdout}"))
    };
    run(&["collections".as_ref(), "create".as_ref(), "enrol".as_ref()])?;
    println!("indexing {images} photos with the release CLI...");
    let summary = run(&[
        "index".as_ref(),
        "--collection".as_ref(),
        "enrol".as_ref(),
        set.as_os_str(),
    ])?;
    let file_bytes = std::fs::metadata(data.join("facecore.redb"))
        .map(|m| m.len())
        .unwrap_or(0);
    let indexed = summary["indexed"].as_u64().unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let report = format!(
        "| measure | value |\n|---|---|\n\
         | photos | {images} (faces-dev, copied, then mirrored and cropped variants) |\n\
         | faces indexed | {indexed} ({} without a face, {} errors) |\n\
         | time | {} s on {cores} cores |\n\
         | throughput | {} images/s |\n\
         | peak RSS of `facecore index` | {} MB |\n\
         | data file | {:.1} MB, {:.2} KB per face |\n",
        summary["noFace"],
        summary["errors"],
        summary["seconds"],
        summary["filesPerSecond"],
        summary["peakRssMb"],
        file_bytes as f64 / 1e6,
        file_bytes as f64 / 1e3 / indexed.max(1) as f64,
    );
    print!("{report}");
    let _ = std::fs::remove_dir_all(&data);
    let path = root.join("target/enrol-bench.md");
    std::fs::write(&path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    println!("written to {}", path.display());
    if summary["errors"].as_u64() != Some(0) {
        bail!("some photos failed to index (see above)");
    }
    Ok(())
}

/// `cargo xtask bench-search`: embeds `data` once with the release CLI (the
/// calibration cache), then runs the `search-bench` example of
/// facecore-store on `faces` face-like embeddings shaped by it; writes
/// `target/search-bench.md`.
pub fn bench_search(
    root: &Path,
    models_dir: &Path,
    data: &Path,
    cache: &Path,
    faces: usize,
    extra: &[std::ffi::OsString],
) -> Result<()> {
    if !data.join("labels.csv").is_file() {
        bail!(
            "{} is missing: the collection is shaped by the faces-dev embeddings (set FACECORE_EVAL_DATA)",
            data.join("labels.csv").display()
        );
    }
    if !cache.is_file() {
        release_build(root, &["-p", "facecore-cli"], "the CLI")?;
        println!(
            "embedding {} once (cached in {})...",
            data.display(),
            cache.display()
        );
        if let Some(parent) = cache.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let status = Command::new(root.join("target/release/facecore"))
            .arg("calibrate")
            .arg("--data")
            .arg(data)
            .arg("--cache")
            .arg(cache)
            .env("FACECORE_MODELS", models_dir)
            .status()
            .context("cannot run facecore calibrate")?;
        if !status.success() {
            bail!("embedding {} failed", data.display());
        }
    }
    release_build(
        root,
        &["-p", "facecore-store", "--example", "search-bench"],
        "the search benchmark",
    )?;
    let status = Command::new(root.join("target/release/examples/search-bench"))
        .arg("--real")
        .arg(cache)
        .arg("--labels")
        .arg(data.join("labels.csv"))
        .arg("--faces")
        .arg(faces.to_string())
        .arg("--out")
        .arg(root.join("target/search-bench.md"))
        .args(extra)
        .status()
        .context("cannot run search-bench")?;
    if !status.success() {
        bail!("the search benchmark failed");
    }
    println!("wrote {}", root.join("target/search-bench.md").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_shows_ratios_against_the_reference() {
        let ours: Value = serde_json::from_str(
            r#"{"decode":1.0,"detect":7.0,"detect_model":6.0,"landmarks":1.0,"landmarks_model":0.9,"align":0.2,"embed":20.0,"embed_model":19.0,"end_to_end":30.0,"threads":2,"faces_per_s":60.0,"runs":5}"#,
        )
        .expect("json");
        let theirs: Value = serde_json::from_str(
            r#"{"onnxruntime":"1.2","detect":3.0,"landmarks":0.5,"embed":10.0}"#,
        )
        .expect("json");
        let r = render(&ours, &theirs);
        assert!(
            r.contains("| detector model | 6.00 | 3.00 | 2.00x |"),
            "{r}"
        );
        assert!(
            r.contains("| detect (resize, model, boxes, NMS) | 7.00 | - | - |"),
            "{r}"
        );
        assert!(
            r.contains("| embedding model | 19.00 | 10.00 | 1.90x |"),
            "{r}"
        );
        assert!(r.contains("| decode | 1.00 | - | - |"), "{r}");
        assert!(r.contains("60.0 faces/s"), "{r}");
    }
}
