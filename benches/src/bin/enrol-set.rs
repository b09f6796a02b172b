//! `enrol-set <images dir> <out dir> <N>`: writes N distinct face photos for
//! the bulk-enrolment benchmark (`cargo xtask bench-enrol`), made from the
//! JPEG and PNG photos under `<images dir>` (e.g. `../shared/data/faces-dev`).
//!
//! The first pass copies the photos as they are; each later pass writes every
//! photo again, mirrored on odd passes and cropped by a few per cent more each
//! time, as a JPEG of quality 90. Every file is a different image (so the
//! CLI's content-hash resume skips none of them) and still a real face photo
//! that costs the models what a real one costs. Files already there are kept,
//! so a rerun writes nothing.

use std::path::{Path, PathBuf};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn photos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            photos(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Pass `pass` (1, 2, ...) of `image`: cropped by `3 × pass` per cent of each
/// side (at most 30), mirrored when `pass` is odd.
fn variant(image: &image::DynamicImage, pass: usize) -> image::DynamicImage {
    let (w, h) = (image.width(), image.height());
    let percent = (3 * pass).min(30) as u32;
    let (dx, dy) = (w * percent / 200, h * percent / 200);
    let cropped = image.crop_imm(dx, dy, w - 2 * dx, h - 2 * dy);
    if !pass.is_multiple_of(2) {
        cropped.fliph()
    } else {
        cropped
    }
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, out, n] = args.as_slice() else {
        return Err("usage: enrol-set <images dir> <out dir> <N>".into());
    };
    let n: usize = n.parse()?;
    let mut sources = Vec::new();
    photos(Path::new(source), &mut sources)?;
    sources.sort();
    if sources.is_empty() {
        return Err(format!("no JPEG or PNG photos under {source}").into());
    }
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    let mut written = 0usize;
    for k in 0..n {
        let (pass, photo) = (k / sources.len(), &sources[k % sources.len()]);
        let name = out.join(format!("{k:06}.jpg"));
        if name.exists() {
            continue;
        }
        if pass == 0 {
            std::fs::copy(photo, &name)?;
        } else {
            let image = image::open(photo).map_err(|e| format!("{}: {e}", photo.display()))?;
            let mut file = std::io::BufWriter::new(std::fs::File::create(&name)?);
            variant(&image, pass).to_rgb8().write_with_encoder(
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut file, 90),
            )?;
        }
        written += 1;
        if written.is_multiple_of(1000) {
            eprintln!("  enrol set: {written} written ({}/{n})", k + 1);
        }
    }
    eprintln!(
        "enrol set: {n} photos in {} ({written} written now) from {} sources",
        out.display(),
        sources.len()
    );
    Ok(())
}
