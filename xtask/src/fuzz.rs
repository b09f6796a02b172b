//! `cargo xtask fuzz`: the cargo-fuzz (libFuzzer) targets of `fuzz/`, built
//! with AddressSanitizer and run for a fixed time each from the committed
//! seeds, with a report of what each run covered.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The cargo-fuzz release used (pinned, installed into `target/`).
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// The fuzz targets, in `fuzz/fuzz_targets/<name>.rs`, with what each covers.
pub const TARGETS: &[(&str, &str)] = &[
    (
        "image_decode",
        "image decoding, every format, with size and pixel limits",
    ),
    (
        "requests",
        "JSON bodies of every endpoint, base64, query strings, multipart bodies, field validation",
    ),
    (
        "score",
        "score maps, embedding validation, quantised scan against exact",
    ),
];

/// What one target's run did, from libFuzzer's own lines.
#[derive(Debug, Default, PartialEq)]
pub struct RunFigures {
    /// Inputs executed.
    pub runs: u64,
    /// Seconds it ran.
    pub seconds: u64,
    /// Coverage counters reached (`cov:`).
    pub coverage: u64,
    /// Inputs in the corpus at the end (`corp:`).
    pub corpus: u64,
}

/// Reads the last `cov:`/`corp:` status line and the `Done N runs in S
/// second(s)` line of libFuzzer's output.
pub fn parse_libfuzzer(output: &str) -> RunFigures {
    let mut figures = RunFigures::default();
    let number_after = |line: &str, key: &str| -> Option<u64> {
        let rest = &line[line.find(key)? + key.len()..];
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("Done ") {
            let mut words = rest.split_whitespace();
            figures.runs = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            figures.seconds = words.nth(2).and_then(|n| n.parse().ok()).unwrap_or(0);
        } else if line.starts_with('#') && line.contains(" cov: ") {
            figures.coverage = number_after(line, " cov:").unwrap_or(figures.coverage);
            figures.corpus = number_after(line, " corp:").unwrap_or(figures.corpus);
        }
    }
    figures
}

/// `cargo-fuzz` of the pinned version under `target/cargo-fuzz`, installed
/// from crates.io on first use.
fn cargo_fuzz(root: &Path) -> Result<PathBuf> {
    let prefix = root.join("target/cargo-fuzz");
    let exe = prefix.join("bin/cargo-fuzz");
    let have = Command::new(&exe)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if have.as_deref() == Some(&format!("cargo-fuzz {CARGO_FUZZ_VERSION}")) {
        return Ok(exe);
    }
    println!(
        "installing cargo-fuzz {CARGO_FUZZ_VERSION} into {}...",
        prefix.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["install", "--quiet", "--locked", "cargo-fuzz", "--version"])
        .arg(CARGO_FUZZ_VERSION)
        .arg("--root")
        .arg(&prefix)
        .status()
        .context("cannot run cargo install")?;
    if !status.success() {
        bail!("cannot install cargo-fuzz {CARGO_FUZZ_VERSION}: check access to crates.io");
    }
    Ok(exe)
}

/// A `cargo fuzz` command in `fuzz/`, building into `target/fuzz` with
/// AddressSanitizer. The sanitizer flag is nightly-only;
/// `RUSTC_BOOTSTRAP=1` lets the stable compiler accept it.
fn fuzz_command(root: &Path, exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.current_dir(root.join("fuzz"))
        .env("CARGO_TARGET_DIR", root.join("target/fuzz"))
        .env("RUSTC_BOOTSTRAP", "1");
    cmd
}

/// Builds every target, then runs each (or those named) for `seconds`.
pub fn fuzz(root: &Path, seconds: u64, only: &[String]) -> Result<()> {
    for name in only {
        if !TARGETS.iter().any(|(t, _)| t == name) {
            let names: Vec<_> = TARGETS.iter().map(|(t, _)| *t).collect();
            bail!(
                "no fuzz target `{name}`; the targets are {}",
                names.join(", ")
            );
        }
    }
    let exe = cargo_fuzz(root)?;
    println!("building the fuzz targets (release, AddressSanitizer)...");
    let status = fuzz_command(root, &exe)
        .args(["build", "-O"])
        .status()
        .context("cannot run cargo fuzz build")?;
    if !status.success() {
        bail!("building the fuzz targets failed");
    }
    let mut report = String::from(
        "| target | covers | seconds | runs | runs/s | coverage | corpus | crashes |\n|---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (target, covers) in TARGETS
        .iter()
        .filter(|(t, _)| only.is_empty() || only.iter().any(|o| o == t))
    {
        // New inputs go to a working corpus under target/; the committed
        // seeds stay as they are.
        let corpus = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&corpus)?;
        println!("fuzzing {target} for {seconds} s...");
        let output = fuzz_command(root, &exe)
            .args(["run", "-O", target])
            .arg(&corpus)
            .arg(root.join("fuzz/seeds").join(target))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            // A slow input (10 s) or a big allocation (2 GB) is a finding.
            .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .context("cannot run cargo fuzz run")?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
            bail!(
                "fuzz target {target} found a problem (above); the input is in fuzz/artifacts/{target}/ \
                 and `cargo fuzz run -O {target} <input>` in fuzz/ replays it"
            );
        }
        let f = parse_libfuzzer(&stderr);
        let rate = f.runs / f.seconds.max(1);
        println!(
            "  {target}: {} runs in {} s ({rate}/s), coverage {}, corpus {}, 0 crashes",
            f.runs, f.seconds, f.coverage, f.corpus
        );
        report.push_str(&format!(
            "| {target} | {covers} | {} | {} | {rate} | {} | {} | 0 |\n",
            f.seconds, f.runs, f.coverage, f.corpus
        ));
    }
    print!("\n{report}");
    let path = root.join("target/fuzz-report.md");
    std::fs::write(&path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    println!("written to {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libfuzzer_figures_are_read() {
        let out = "INFO: Seed: 1\n#2\tINITED cov: 10 ft: 11 corp: 3/30b exec/s: 0 rss: 30Mb\n\
                   #72914\tREDUCE cov: 2861 ft: 7288 corp: 1112/65Kb lim: 139 exec/s: 3645 rss: 473Mb\n\
                   #73131\tDONE   cov: 2863 ft: 7288 corp: 1113/65Kb lim: 139 exec/s: 3482 rss: 474Mb\n\
                   Done 73131 runs in 21 second(s)\n";
        assert_eq!(
            parse_libfuzzer(out),
            RunFigures {
                runs: 73131,
                seconds: 21,
                coverage: 2863,
                corpus: 1113
            }
        );
    }

    #[test]
    fn every_target_has_a_source_and_seeds() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let manifest = std::fs::read_to_string(root.join("fuzz/Cargo.toml")).expect("fuzz crate");
        for (target, _) in TARGETS {
            assert!(
                root.join(format!("fuzz/fuzz_targets/{target}.rs"))
                    .is_file(),
                "{target}"
            );
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "{target}"
            );
            let seeds = std::fs::read_dir(root.join("fuzz/seeds").join(target))
                .expect("seed dir")
                .count();
            assert!(seeds > 0, "{target} has no seeds");
        }
    }
}
