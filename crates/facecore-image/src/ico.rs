//! ICO (Windows icon) files: reading the directory and picking the image
//! that is decoded.
//!
//! An ICO file is a 6-byte header (`00 00`, type `01 00`, a 16-bit entry
//! count), then one 16-byte directory entry per image, then the images'
//! data. Each entry states its image's width and height (one byte each, 0
//! meaning 256), a bit depth, and where the data is (length and offset). The
//! data is either a whole PNG file or a BMP without its file header (its
//! height doubled, followed by a 1-bit transparency mask).
//!
//! The directory is read here rather than by the `image` crate's ICO decoder
//! because that decoder opens a PNG entry with no allocation limit at all:
//! a PNG entry is instead decoded as a PNG, under the same limits as any
//! other PNG. BMP entries, whose layout inside an icon only that decoder
//! reads, go to it as a one-entry ICO file ([`Entry::alone`]), so it cannot
//! open a different entry than the one chosen here.

use crate::{Format, ImageError};

/// Length of the header before the directory entries.
const HEADER_LEN: usize = 6;
/// Length of one directory entry.
const ENTRY_LEN: usize = 16;
/// What a PNG entry's data starts with.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// How an entry's image is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Embedded {
    /// A whole PNG file.
    Png,
    /// A BMP without its file header (anything that is not a PNG).
    Bmp,
}

/// The directory entry of the image to decode, and that image's data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    /// The entry's 16 bytes as stored.
    raw: &'a [u8],
    /// The image data, within the file.
    data: &'a [u8],
}

impl<'a> Entry<'a> {
    /// Width stated by the directory, 1..=256.
    pub(crate) fn width(&self) -> u32 {
        side(self.raw[0])
    }

    /// Height stated by the directory, 1..=256.
    pub(crate) fn height(&self) -> u32 {
        side(self.raw[1])
    }

    /// Bit depth stated by the directory (0 when not stated).
    fn bit_depth(&self) -> u16 {
        u16::from_le_bytes([self.raw[6], self.raw[7]])
    }

    /// Pixel count stated by the directory.
    fn stated_pixels(&self) -> u32 {
        self.width() * self.height()
    }

    /// The image data: a PNG file, or a headerless BMP.
    pub(crate) fn data(&self) -> &'a [u8] {
        self.data
    }

    /// How the image is stored, from its first bytes.
    pub(crate) fn embedded(&self) -> Embedded {
        if self.data.starts_with(PNG_SIGNATURE) {
            Embedded::Png
        } else {
            Embedded::Bmp
        }
    }

    /// Whether an image of `width` x `height` agrees with the size the
    /// directory states, which stores 256 and more as 256.
    pub(crate) fn matches(&self, width: u32, height: u32) -> bool {
        self.width() == width.min(256) && self.height() == height.min(256)
    }

    /// An ICO file holding this entry alone, its data right after the
    /// directory (a copy of the data, at most the size of the input).
    pub(crate) fn alone(&self) -> Vec<u8> {
        let offset = (HEADER_LEN + ENTRY_LEN) as u32;
        let mut out = Vec::with_capacity(HEADER_LEN + ENTRY_LEN + self.data.len());
        out.extend_from_slice(&[0, 0, 1, 0, 1, 0]);
        out.extend_from_slice(&self.raw[..12]);
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(self.data);
        out
    }
}

/// A directory size byte: 0 stands for 256.
fn side(stored: u8) -> u32 {
    match stored {
        0 => 256,
        n => u32::from(n),
    }
}

fn corrupt(detail: &str) -> ImageError {
    ImageError::Corrupt {
        format: Format::Ico,
        detail: detail.to_owned(),
    }
}

/// Reads the directory of the ICO file `bytes` and picks the image to
/// decode: the largest by the size the directory states, then the deepest
/// colour; the first of equals.
///
/// Fails with [`ImageError::Corrupt`] when the directory is cut short, lists
/// no image, or the chosen entry's data is empty or runs past the end of the
/// file. Nothing is allocated.
pub(crate) fn select(bytes: &[u8]) -> Result<Entry<'_>, ImageError> {
    const TRUNCATED: &str = "the file is truncated";
    let header = bytes.get(..HEADER_LEN).ok_or_else(|| corrupt(TRUNCATED))?;
    let count = usize::from(u16::from_le_bytes([header[4], header[5]]));
    if count == 0 {
        return Err(corrupt("the ICO directory lists no image"));
    }
    let directory = bytes
        .get(HEADER_LEN..HEADER_LEN + count * ENTRY_LEN)
        .ok_or_else(|| corrupt(TRUNCATED))?;
    let mut best: Option<Entry<'_>> = None;
    for raw in directory.chunks_exact(ENTRY_LEN) {
        let entry = Entry { raw, data: &[] };
        let key = (entry.stated_pixels(), entry.bit_depth());
        if best.is_none_or(|b| key > (b.stated_pixels(), b.bit_depth())) {
            best = Some(entry);
        }
    }
    let Some(mut entry) = best else {
        return Err(corrupt("the ICO directory lists no image"));
    };
    let field = |at: usize| {
        let b = &entry.raw[at..at + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    };
    let (length, offset) = (field(8), field(12));
    if length == 0 {
        return Err(corrupt("the ICO entry holds no image data"));
    }
    let start = usize::try_from(offset).map_err(|_| corrupt(TRUNCATED))?;
    let end =
        usize::try_from(u64::from(offset) + u64::from(length)).map_err(|_| corrupt(TRUNCATED))?;
    entry.data = bytes.get(start..end).ok_or_else(|| corrupt(TRUNCATED))?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ICO file from `(width byte, height byte, bit depth, data)` entries.
    fn ico(entries: &[(u8, u8, u16, &[u8])]) -> Vec<u8> {
        let count = u16::try_from(entries.len()).unwrap_or(u16::MAX);
        let mut out = vec![0, 0, 1, 0];
        out.extend_from_slice(&count.to_le_bytes());
        let mut offset = HEADER_LEN + ENTRY_LEN * entries.len();
        for &(w, h, depth, data) in entries {
            out.extend_from_slice(&[w, h, 0, 0, 1, 0]);
            out.extend_from_slice(&depth.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(offset as u32).to_le_bytes());
            offset += data.len();
        }
        for &(_, _, _, data) in entries {
            out.extend_from_slice(data);
        }
        out
    }

    fn detail(err: ImageError) -> String {
        match err {
            ImageError::Corrupt {
                format: Format::Ico,
                detail,
            } => detail,
            other => panic!("not a corrupt ICO: {other:?}"),
        }
    }

    #[test]
    fn picks_the_largest_then_the_deepest_then_the_first() {
        let bytes = ico(&[
            (16, 16, 32, b"a"),
            (0, 0, 8, b"b"), // 256 x 256
            (48, 48, 32, b"c"),
            (0, 0, 32, b"d"),
            (0, 0, 32, b"e"),
        ]);
        let entry = select(&bytes).expect("a valid directory");
        assert_eq!(entry.data(), b"d");
        assert_eq!((entry.width(), entry.height()), (256, 256));
        assert!(entry.matches(256, 256));
        assert!(entry.matches(1000, 300));
        assert!(!entry.matches(255, 256));
    }

    #[test]
    fn sizes_must_agree_below_256() {
        let bytes = ico(&[(16, 8, 32, b"x")]);
        let entry = select(&bytes).expect("a valid directory");
        assert!(entry.matches(16, 8));
        assert!(!entry.matches(8, 16));
        assert!(!entry.matches(16, 256));
    }

    #[test]
    fn the_png_signature_decides_the_storage() {
        let png = ico(&[(1, 1, 32, b"\x89PNG\r\n\x1a\nrest")]);
        assert_eq!(select(&png).map(|e| e.embedded()).ok(), Some(Embedded::Png));
        let bmp = ico(&[(1, 1, 32, b"\x28\0\0\0")]);
        assert_eq!(select(&bmp).map(|e| e.embedded()).ok(), Some(Embedded::Bmp));
    }

    #[test]
    fn a_bad_directory_is_corrupt() {
        assert_eq!(
            detail(select(b"\0\0\x01\0\x01").expect_err("refused")),
            "the file is truncated"
        );
        assert_eq!(
            detail(select(b"\0\0\x01\0\0\0").expect_err("refused")),
            "the ICO directory lists no image"
        );
        // Two entries announced, one present.
        let mut two = ico(&[(1, 1, 32, b"x")]);
        two[4] = 2;
        assert_eq!(
            detail(select(&two).expect_err("refused")),
            "the file is truncated"
        );
        // Data past the end, an offset near u32::MAX, an empty entry.
        let whole = ico(&[(1, 1, 32, b"xyz")]);
        let cut = &whole[..whole.len() - 1];
        assert_eq!(
            detail(select(cut).expect_err("refused")),
            "the file is truncated"
        );
        let mut far = whole.clone();
        far[18..22].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            detail(select(&far).expect_err("refused")),
            "the file is truncated"
        );
        let empty = ico(&[(1, 1, 32, b"")]);
        assert_eq!(
            detail(select(&empty).expect_err("refused")),
            "the ICO entry holds no image data"
        );
    }

    #[test]
    fn alone_keeps_the_entry_and_moves_its_data() {
        let bytes = ico(&[(4, 4, 8, b"small"), (32, 16, 24, b"chosen")]);
        let entry = select(&bytes).expect("a valid directory");
        let alone = entry.alone();
        assert_eq!(&alone[..6], &[0, 0, 1, 0, 1, 0]);
        // Size, colour count, planes, bit depth, length: as stored.
        assert_eq!(&alone[6..18], &bytes[22..34]);
        assert_eq!(&alone[18..22], &22u32.to_le_bytes());
        assert_eq!(&alone[22..], b"chosen");
        let again = select(&alone).expect("a valid directory");
        assert_eq!(again.data(), b"chosen");
        assert_eq!((again.width(), again.height()), (32, 16));
    }
}
