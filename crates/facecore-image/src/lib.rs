//! Image decoding for facecore: encoded bytes in, 8-bit RGB pixels out.
//!
//! This crate turns the bytes of an uploaded image file into an [`RgbImage`]
//! that the rest of facecore (detection, alignment, embedding) can work with.
//! It is deliberately defensive, because the bytes usually come from users:
//!
//! * **Format sniffing.** The format is recognised from the file's magic
//!   bytes only ([`sniff`]), never from a file name or MIME type. Accepted
//!   formats are JPEG, PNG, WebP, BMP, GIF, TIFF and ICO (see [`Format`]).
//! * **Limits before decoding.** The encoded size is checked first, then the
//!   image header is parsed and the pixel count is compared with
//!   [`Limits::max_pixels`] *before* any pixel buffer is allocated, so a
//!   small file claiming to be 50000x50000 is refused in microseconds. As
//!   defence in depth the decoders themselves also run under an allocation
//!   budget (see [`Limits`]), which stops a decompression bomb whose header
//!   lies, or a GIF/TIFF with an oversized inner frame.
//! * **ICO files** hold several images; the largest one the directory lists
//!   is decoded. The size checked is the one in the header of that image (a
//!   PNG or a BMP), which is what gets allocated, and it must agree with the
//!   size the directory states (which caps sizes at 256), or the file is
//!   [`ImageError::Corrupt`]. A PNG inside an ICO is decoded as a PNG, under
//!   the same limits.
//! * **EXIF orientation.** When the decoder reports an orientation (JPEG
//!   EXIF, PNG `eXIf`, WebP EXIF, TIFF tag), it is applied, so the returned
//!   image is upright the way a photo viewer would show it.
//! * **One output layout.** Whatever the source (grayscale, palette,
//!   gray+alpha, RGBA, 16-bit, float), the result is 8-bit RGB. Alpha is
//!   composited over black (a fully transparent pixel becomes black). Only the
//!   first frame of an animated GIF, PNG or WebP is decoded, and only one
//!   image of an ICO.
//! * **No panics escape.** Malformed input produces an [`ImageError`]; should
//!   a third-party decoder panic on hostile data anyway, the panic is caught
//!   and reported as [`ImageError::Corrupt`].
//!
//! # Example
//!
//! ```
//! use facecore_image::{Format, Limits, RgbImage, decode};
//!
//! // Any encoded image works; here we make a small PNG in memory.
//! let original = RgbImage::from_pixel(40, 30, image::Rgb([200, 10, 10]));
//! let mut png = Vec::new();
//! original
//!     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//!     .expect("encoding a PNG in memory");
//!
//! let decoded = decode(&png, &Limits::default())?;
//! assert_eq!(decoded.format, Format::Png);
//! assert_eq!(decoded.image.dimensions(), (40, 30));
//! assert_eq!(decoded.orientation, 1);
//! assert_eq!(decoded.image.get_pixel(0, 0).0, [200, 10, 10]);
//!
//! // Limits are checked before decoding.
//! let tiny = Limits { max_pixels: 100, ..Limits::default() };
//! assert!(matches!(
//!     decode(&png, &tiny),
//!     Err(facecore_image::ImageError::TooManyPixels { width: 40, height: 30, .. })
//! ));
//! # Ok::<(), facecore_image::ImageError>(())
//! ```
//!
//! # Limits of this crate
//!
//! * Colour management is not performed: embedded ICC profiles are ignored and
//!   samples are taken as sRGB.
//! * Peak memory while decoding is roughly the decoder's native buffer
//!   (`width * height * bytes_per_pixel`, where the pixel count is at most
//!   [`Limits::max_pixels`]), plus the decoder's own scratch space (capped at
//!   `max_pixels * 4` bytes + 64 MiB), plus the final RGB buffer
//!   (`3 * width * height`). For an ICO whose image is a BMP, add a copy of
//!   that image's encoded data (at most [`Limits::max_encoded_bytes`]).
//! * ICO files are read leniently in one respect: a PNG inside may have any
//!   colour type (Windows wants 32-bit RGBA, but the `image` crate's own ICO
//!   encoder writes RGB as RGB). CUR files (cursors, type 2) are not ICO
//!   files and are refused as [`ImageError::UnsupportedFormat`].
//! * A truncated JPEG (no end-of-image marker after its scan data) is refused
//!   as [`ImageError::Corrupt`] before decoding, although the JPEG decoder
//!   would fill the missing part with grey: a half-grey photo gives a
//!   misleading embedding. Data after the end-of-image marker is ignored. For
//!   other formats a truncated file may either fail with
//!   [`ImageError::Corrupt`] or decode to a partially filled image, depending
//!   on the format's decoder.

use std::fmt;
use std::io::{BufRead, Cursor, Seek};
use std::panic::{self, AssertUnwindSafe};

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, RgbaImage};

pub use image::RgbImage;

mod ico;
mod thumbnail;
pub use thumbnail::{THUMBNAIL_QUALITY, THUMBNAIL_SIZE, encode_jpeg, face_thumbnail};

/// Extra allocation room given to decoders on top of `max_pixels * 4` bytes,
/// for tables, row buffers, metadata and the like.
const DECODER_SLACK_BYTES: u64 = 64 * 1024 * 1024;

/// Formats we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JPEG / JFIF / EXIF (`FF D8 FF`).
    Jpeg,
    /// PNG (`89 50 4E 47 0D 0A 1A 0A`); for APNG only the default image.
    Png,
    /// WebP, lossy or lossless (`RIFF....WEBP`); for animations the first frame.
    Webp,
    /// Windows bitmap (`BM`).
    Bmp,
    /// GIF 87a / 89a; only the first frame is decoded.
    Gif,
    /// TIFF, little- or big-endian (`II*\0` / `MM\0*`); only the first page.
    Tiff,
    /// Windows icon (`00 00 01 00`); only the largest image of its directory,
    /// stored as PNG or BMP.
    Ico,
}

impl Format {
    /// Every accepted format, in the order used in messages.
    pub const ALL: [Format; 7] = [
        Format::Jpeg,
        Format::Png,
        Format::Webp,
        Format::Bmp,
        Format::Gif,
        Format::Tiff,
        Format::Ico,
    ];

    /// Short lower-case name: `"jpeg"`, `"png"`, `"webp"`, `"bmp"`, `"gif"`,
    /// `"tiff"` or `"ico"`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Bmp => "bmp",
            Format::Gif => "gif",
            Format::Tiff => "tiff",
            Format::Ico => "ico",
        }
    }

    fn to_image_format(self) -> image::ImageFormat {
        match self {
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Png => image::ImageFormat::Png,
            Format::Webp => image::ImageFormat::WebP,
            Format::Bmp => image::ImageFormat::Bmp,
            Format::Gif => image::ImageFormat::Gif,
            Format::Tiff => image::ImageFormat::Tiff,
            Format::Ico => image::ImageFormat::Ico,
        }
    }
}

impl fmt::Display for Format {
    /// Writes [`Format::name`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Limits applied to every decode.
///
/// `Default` is 15 MiB of encoded data (`15 * 1024 * 1024` bytes) and
/// 40 megapixels (`40_000_000` pixels) of decoded image.
///
/// Besides the explicit pixel check made from the image header, decoders run
/// with an allocation budget of `max_pixels * 4` bytes + 64 MiB for their own
/// scratch space (not counting the output buffer), so a file whose header
/// lies, or which hides an oversized frame inside a GIF or TIFF, cannot make
/// them allocate without bound. The PNG inside an ICO is decoded under the
/// same budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted encoded input, in bytes.
    pub max_encoded_bytes: usize,
    /// Largest accepted `width * height` of the image.
    pub max_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_encoded_bytes: 15 * 1024 * 1024,
            max_pixels: 40_000_000,
        }
    }
}

/// A decoded image together with what was learned while decoding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The pixels, 8-bit RGB, already rotated/flipped to be upright.
    pub image: RgbImage,
    /// The format the bytes were in.
    pub format: Format,
    /// EXIF orientation applied (1..=8, 1 = none).
    pub orientation: u8,
}

/// Why an image could not be decoded.
///
/// Every message is a single line meant to be shown to an end user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The input has zero bytes.
    #[error("the image file is empty (0 bytes)")]
    Empty,
    /// The magic bytes match none of the accepted formats.
    #[error(
        "unrecognised image format; accepted formats are JPEG, PNG, WebP, BMP, GIF, TIFF and ICO"
    )]
    UnsupportedFormat,
    /// The encoded input is larger than [`Limits::max_encoded_bytes`].
    #[error("image file is {bytes} bytes, more than the limit of {limit} bytes")]
    EncodedTooLarge {
        /// Size of the input.
        bytes: usize,
        /// The limit it exceeded.
        limit: usize,
    },
    /// The header announces more pixels than [`Limits::max_pixels`].
    #[error(
        "image is {width}x{height} = {} pixels, more than the limit of {limit}",
        pixel_count(*.width, *.height)
    )]
    TooManyPixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// The limit it exceeded.
        limit: u64,
    },
    /// The header announces a width or height of zero.
    #[error("image has zero width or height")]
    ZeroSize,
    /// The decoder rejected the data: truncated, malformed, using an
    /// unsupported feature of the format, or needing more memory than the
    /// limits allow.
    #[error("could not decode the {format} image: {detail}")]
    Corrupt {
        /// The sniffed format.
        format: Format,
        /// What went wrong, one line.
        detail: String,
    },
    /// An image could not be encoded (a thumbnail of a box outside the
    /// image, say): a fault of the caller's code, not of the input.
    #[error("could not encode the image: {0}")]
    Encode(String),
}

/// What kind of failure an [`ImageError`] is (see [`ImageError::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Over the encoded-size or pixel limit: the image may be fine, but it
    /// is larger than this decoder accepts.
    TooLarge,
    /// Empty, of an unsupported format, or not decodable.
    Undecodable,
    /// Not the input's fault ([`ImageError::Encode`]).
    Internal,
}

impl ImageError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::EncodedTooLarge { .. } | Self::TooManyPixels { .. } => ErrorKind::TooLarge,
            Self::Empty | Self::UnsupportedFormat | Self::ZeroSize | Self::Corrupt { .. } => {
                ErrorKind::Undecodable
            }
            Self::Encode(_) => ErrorKind::Internal,
        }
    }
}

fn pixel_count(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height)
}

/// Recognises the format from the magic bytes at the start of `bytes`.
///
/// Only the content is looked at, never a file name. Returns `None` for
/// anything that is not one of the [`Format`]s.
#[must_use]
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if bytes.starts_with(PNG) {
        Some(Format::Png)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(Format::Gif)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some(Format::Webp)
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some(Format::Tiff)
    } else if bytes.starts_with(b"BM") {
        Some(Format::Bmp)
    } else if bytes.starts_with(&[0x00, 0x00, 0x01, 0x00]) {
        Some(Format::Ico)
    } else {
        None
    }
}

/// Decodes `bytes` into an upright 8-bit RGB image.
///
/// In order: refuses empty input ([`ImageError::Empty`]) and input over
/// [`Limits::max_encoded_bytes`] ([`ImageError::EncodedTooLarge`]); sniffs the
/// format ([`ImageError::UnsupportedFormat`]); reads the header and refuses
/// zero-sized images ([`ImageError::ZeroSize`]) and images over
/// [`Limits::max_pixels`] ([`ImageError::TooManyPixels`]); only then decodes
/// the pixels ([`ImageError::Corrupt`] on failure). Conversion to RGB and EXIF
/// orientation are described in the [crate documentation](crate).
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Decoded, ImageError> {
    let format = check_encoded(bytes, limits)?;
    guarded(format, || decode_inner(bytes, format, limits))
}

/// Like [`decode`], returning only the image.
pub fn decode_rgb(bytes: &[u8], limits: &Limits) -> Result<RgbImage, ImageError> {
    decode(bytes, limits).map(|d| d.image)
}

/// Reads the format and size from the header, without decoding pixels.
///
/// The size is the one [`decode`] would return, i.e. with EXIF orientation
/// taken into account (width and height swapped for orientations 5 to 8).
/// The same checks as [`decode`] are made up to the pixel limit, so an image
/// this accepts is one `decode` will not refuse for its size; it may still
/// turn out to be [`ImageError::Corrupt`] further in.
pub fn read_dimensions(bytes: &[u8], limits: &Limits) -> Result<(Format, u32, u32), ImageError> {
    let format = check_encoded(bytes, limits)?;
    guarded(format, || {
        let mut decoder = open(bytes, format, limits)?;
        let (width, height) = decoder.dimensions();
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        if swaps_axes(orientation) {
            Ok((format, height, width))
        } else {
            Ok((format, width, height))
        }
    })
}

/// Resizes to exactly `w` x `h` by bilinear sampling; see
/// [`resize_region_bilinear`], of which this is the whole-image case.
///
/// A zero target size gives an empty image; an empty source gives a black
/// image of the requested size.
#[must_use]
pub fn resize_bilinear(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    resize_region_bilinear(img, (0, 0, img.width(), img.height()), w, h)
}

/// Bilinear resampling of the region `(x, y, width, height)` of `image` to
/// `w` x `h`, with pixel centres at half-integers and edge clamping (the
/// convention of OpenCV's `INTER_LINEAR`): each output pixel reads only its
/// 4 nearest source pixels, with no prefilter when shrinking.
///
/// This is the resampling the detection models were trained with, and the
/// detector's and landmark model's inputs are made with it. The region is
/// clipped to the image; an empty region gives a black image.
#[must_use]
pub fn resize_region_bilinear(
    image: &RgbImage,
    region: (u32, u32, u32, u32),
    w: u32,
    h: u32,
) -> RgbImage {
    let (rx, ry) = (region.0.min(image.width()), region.1.min(image.height()));
    let sw = region.2.min(image.width() - rx);
    let sh = region.3.min(image.height() - ry);
    let mut out = RgbImage::new(w, h);
    if sw == 0 || sh == 0 || w == 0 {
        return out;
    }
    let fx = sw as f32 / w as f32;
    let fy = sh as f32 / h as f32;
    let coord = |o: u32, f: f32, n: u32| {
        let s = ((o as f32 + 0.5) * f - 0.5).clamp(0.0, (n - 1) as f32);
        let i = (s.floor() as u32).min(n - 1);
        (i, (i + 1).min(n - 1), s - i as f32)
    };
    // Byte offsets of the two source columns of every output column, worked
    // out once, so the inner loop is plain slice reads: this runs on every
    // detector input (76,800 pixels per pass) and every landmark crop.
    let cols: Vec<(usize, usize, f32)> = (0..w)
        .map(|x| {
            let (x0, x1, wx) = coord(x, fx, sw);
            (3 * (rx + x0) as usize, 3 * (rx + x1) as usize, wx)
        })
        .collect();
    let stride = 3 * image.width() as usize;
    let raw = image.as_raw();
    let source_row = |r: u32| &raw[(ry + r) as usize * stride..][..stride];
    for (y, row) in out.chunks_exact_mut(3 * w as usize).enumerate() {
        let (y0, y1, wy) = coord(y as u32, fy, sh);
        let (top_row, bottom_row) = (source_row(y0), source_row(y1));
        for (&(x0, x1, wx), px) in cols.iter().zip(row.chunks_exact_mut(3)) {
            let (a, b) = (&top_row[x0..x0 + 3], &top_row[x1..x1 + 3]);
            let (c, d) = (&bottom_row[x0..x0 + 3], &bottom_row[x1..x1 + 3]);
            for k in 0..3 {
                let top = a[k] as f32 * (1.0 - wx) + b[k] as f32 * wx;
                let bottom = c[k] as f32 * (1.0 - wx) + d[k] as f32 * wx;
                px[k] = round_to_u8(top * (1.0 - wy) + bottom * wy);
            }
        }
    }
    out
}

/// `v.round().clamp(0.0, 255.0) as u8` (halves away from zero) without the
/// `roundf` library call that `f32::round` becomes on baseline x86-64:
/// `v − ⌊v⌋` is exact for these small values, so comparing it with 0.5
/// rounds exactly as `round` does.
#[inline]
fn round_to_u8(v: f32) -> u8 {
    let v = v.clamp(0.0, 255.0);
    let whole = v as u32;
    let up = u32::from(v - whole as f32 >= 0.5);
    (whole + up).min(255) as u8
}

/// Copies the `w` x `h` rectangle whose top-left corner is (`x`, `y`).
///
/// The rectangle is clamped to the image, so the result may be smaller than
/// requested, or empty if (`x`, `y`) lies outside the image.
#[must_use]
pub fn crop(img: &RgbImage, x: u32, y: u32, w: u32, h: u32) -> RgbImage {
    let x = x.min(img.width());
    let y = y.min(img.height());
    let w = w.min(img.width() - x);
    let h = h.min(img.height() - y);
    image::imageops::crop_imm(img, x, y, w, h).to_image()
}

/// Checks emptiness, encoded size and format, cheapest first.
fn check_encoded(bytes: &[u8], limits: &Limits) -> Result<Format, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.len() > limits.max_encoded_bytes {
        return Err(ImageError::EncodedTooLarge {
            bytes: bytes.len(),
            limit: limits.max_encoded_bytes,
        });
    }
    sniff(bytes).ok_or(ImageError::UnsupportedFormat)
}

/// Runs `f`, turning a panic inside a third-party decoder into `Corrupt`.
fn guarded<T>(format: Format, f: impl FnOnce() -> Result<T, ImageError>) -> Result<T, ImageError> {
    // The closure only reads the input slice and owns everything it builds,
    // so nothing observable is left half-modified by an unwind.
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(ImageError::Corrupt {
            format,
            detail: "the decoder failed on malformed data".to_owned(),
        })
    })
}

/// The `image` crate limits for the decoders' own allocations.
fn decoder_limits(limits: &Limits, max_side: Option<u32>) -> image::Limits {
    let mut l = image::Limits::default();
    l.max_alloc = Some(
        limits
            .max_pixels
            .saturating_mul(4)
            .saturating_add(DECODER_SLACK_BYTES),
    );
    l.max_image_width = max_side;
    l.max_image_height = max_side;
    l
}

/// An `image` crate decoder of `format` over `reader`, its header parsed.
fn reader_decoder<'a, R: BufRead + Seek + 'a>(
    reader: R,
    format: image::ImageFormat,
    limits: &Limits,
) -> Result<Box<dyn ImageDecoder + 'a>, image::ImageError> {
    let mut reader = image::ImageReader::with_format(reader, format);
    // No per-side limit yet: we want to see the real dimensions so that an
    // oversized image is reported as `TooManyPixels`, not as a decoder error.
    reader.limits(decoder_limits(limits, None));
    Ok(Box::new(reader.into_decoder()?))
}

/// Parses the header and enforces the size limits; no pixel data is decoded.
fn open<'a>(
    bytes: &'a [u8],
    format: Format,
    limits: &Limits,
) -> Result<Box<dyn ImageDecoder + 'a>, ImageError> {
    let icon = match format {
        Format::Ico => Some(ico::select(bytes)?),
        _ => None,
    };
    let decoder = match icon {
        None => reader_decoder(Cursor::new(bytes), format.to_image_format(), limits),
        // A whole PNG file: decoded as one, under our limits (the `image`
        // crate's ICO decoder opens it with no allocation limit at all).
        Some(entry) if entry.embedded() == ico::Embedded::Png => {
            reader_decoder(Cursor::new(entry.data()), image::ImageFormat::Png, limits)
        }
        // A headerless BMP and its mask, which only the `image` crate's ICO
        // decoder reads: it gets the chosen entry alone, so it cannot pick
        // another one (a PNG, say).
        Some(entry) => reader_decoder(Cursor::new(entry.alone()), image::ImageFormat::Ico, limits),
    };
    let mut decoder = decoder.map_err(|e| corrupt(format, e))?;

    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ImageError::ZeroSize);
    }
    if pixel_count(width, height) > limits.max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    // The directory states every image's size (capped at 256); an image of
    // another size is refused before its pixels are allocated.
    if let Some(entry) = icon
        && !entry.matches(width, height)
    {
        return Err(ImageError::Corrupt {
            format,
            detail: format!(
                "the ICO directory states {}x{} but its image is {width}x{height}",
                entry.width(),
                entry.height()
            ),
        });
    }
    // Defence in depth: no side may exceed the pixel budget either (matters
    // for decoders that check frame sizes against these limits).
    let max_side = u32::try_from(limits.max_pixels).unwrap_or(u32::MAX);
    decoder
        .set_limits(decoder_limits(limits, Some(max_side)))
        .map_err(|e| corrupt(format, e))?;
    Ok(decoder)
}

fn decode_inner(bytes: &[u8], format: Format, limits: &Limits) -> Result<Decoded, ImageError> {
    if format == Format::Jpeg && !jpeg_is_complete(bytes) {
        return Err(ImageError::Corrupt {
            format,
            detail: "truncated: no end-of-image marker after the scan data".into(),
        });
    }
    let mut decoder = open(bytes, format, limits)?;
    // A malformed EXIF block is not worth refusing the image for.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let decoded = DynamicImage::from_decoder(decoder).map_err(|e| corrupt(format, e))?;
    let mut upright = DynamicImage::ImageRgb8(into_rgb8(decoded));
    upright.apply_orientation(orientation);
    Ok(Decoded {
        image: upright.into_rgb8(),
        format,
        orientation: orientation.to_exif(),
    })
}

/// Whether a JPEG's marker structure runs to an end-of-image marker (EOI)
/// after at least one scan.
///
/// Walks the segments by their lengths (so an EOI inside an EXIF thumbnail
/// does not count) and the entropy-coded data of each scan, where `FF` is
/// always followed by a stuffed `00` or a restart marker `D0`..`D7` until the
/// next real marker. Stray bytes between segments are skipped, as libjpeg
/// does, so only a file that really ends early is refused.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    const SOS: u8 = 0xDA;
    const EOI: u8 = 0xD9;
    let mut i = 2; // after SOI
    let mut scanned = false;
    loop {
        // The next marker. Like libjpeg, skip stray bytes before it (some
        // encoders write them), then fill bytes (repeated FF).
        while bytes.get(i).is_some_and(|&b| b != 0xFF) {
            i += 1;
        }
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            EOI => return scanned,
            // Standalone markers: no length.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = bytes
            .get(i..i + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            return false;
        };
        if len < 2 {
            return false;
        }
        i += len;
        if marker == SOS {
            scanned = true;
            // Entropy-coded data up to the next marker that is not a stuffed
            // zero or a restart marker.
            loop {
                match (bytes.get(i), bytes.get(i + 1)) {
                    (Some(&0xFF), Some(&next)) if next == 0x00 || (0xD0..=0xD7).contains(&next) => {
                        i += 2;
                    }
                    (Some(&0xFF), Some(_)) => break,
                    (Some(_), _) => i += 1,
                    (None, _) => return false,
                }
            }
        }
    }
}

fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Converts any layout to 8-bit RGB, compositing alpha over black.
fn into_rgb8(img: DynamicImage) -> RgbImage {
    match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        DynamicImage::ImageRgba8(rgba) => composite_over_black(&rgba),
        other if other.color().has_alpha() => composite_over_black(&other.to_rgba8()),
        other => other.to_rgb8(),
    }
}

fn composite_over_black(rgba: &RgbaImage) -> RgbImage {
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = src.0;
        let a = u16::from(a);
        // (c * a + 127) / 255 <= 255, so the narrowing is lossless.
        let mul = |c: u8| ((u16::from(c) * a + 127) / 255) as u8;
        dst.0 = [mul(r), mul(g), mul(b)];
    }
    out
}

/// Maps an `image` crate error to a one-line `Corrupt` error.
fn corrupt(format: Format, err: image::ImageError) -> ImageError {
    use image::error::{LimitErrorKind, ParameterErrorKind};
    let detail = match &err {
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file is truncated".to_owned()
        }
        image::ImageError::Limits(l) if l.kind() == LimitErrorKind::DimensionError => {
            "the image or one of its frames is larger than the pixel limit".to_owned()
        }
        image::ImageError::Limits(_) => {
            "decoding it would need more memory than the limits allow".to_owned()
        }
        image::ImageError::Parameter(p) if p.kind() == ParameterErrorKind::NoMoreData => {
            "the file contains no image data".to_owned()
        }
        other => {
            let text = other.to_string();
            // The `image` crate prefixes "Format error decoding Png: "; our
            // message already names the format.
            match text.strip_prefix("Format error decoding ") {
                Some(rest) => rest
                    .split_once(": ")
                    .map_or(text.clone(), |(_, why)| why.to_owned()),
                None => text,
            }
        }
    };
    ImageError::Corrupt {
        format,
        detail: one_line(&detail),
    }
}

/// Collapses whitespace (including newlines) and bounds the length.
fn one_line(s: &str) -> String {
    const MAX_CHARS: usize = 300;
    let mut out = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = out.char_indices().nth(MAX_CHARS) {
        out.truncate(cut);
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("unknown decoder error");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_collapses_and_truncates() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
        assert_eq!(one_line(""), "unknown decoder error");
        let long = "x".repeat(1000);
        assert_eq!(one_line(&long).chars().count(), 301);
    }

    #[test]
    fn composite_is_over_black() {
        let rgba = RgbaImage::from_fn(3, 1, |x, _| match x {
            0 => image::Rgba([200, 100, 50, 255]),
            1 => image::Rgba([200, 100, 50, 0]),
            _ => image::Rgba([200, 100, 50, 128]),
        });
        let rgb = composite_over_black(&rgba);
        assert_eq!(rgb.get_pixel(0, 0).0, [200, 100, 50]);
        assert_eq!(rgb.get_pixel(1, 0).0, [0, 0, 0]);
        assert_eq!(rgb.get_pixel(2, 0).0, [100, 50, 25]);
    }

    #[test]
    fn format_names_and_display() {
        let names: Vec<_> = Format::ALL.iter().map(|f| f.to_string()).collect();
        assert_eq!(names, ["jpeg", "png", "webp", "bmp", "gif", "tiff", "ico"]);
    }

    #[test]
    fn round_to_u8_rounds_like_round_then_clamp() {
        let mut values: Vec<f32> = vec![
            -3.0, -0.5, -0.0, 0.0, 0.49999997, 0.5, 1.5, 2.5, 254.5, 255.0, 255.49, 300.0,
        ];
        // Every value a bilinear blend of bytes can take, on a fine grid.
        values.extend((0..=2_560_000).map(|i| i as f32 / 10_000.0));
        for v in values {
            assert_eq!(round_to_u8(v), v.round().clamp(0.0, 255.0) as u8, "{v}");
        }
    }

    /// The resampling rule written out pixel by pixel, in `f64`, to check
    /// the slice-based implementation against.
    fn resize_reference(
        image: &RgbImage,
        (rx, ry, sw, sh): (u32, u32, u32, u32),
        width: u32,
        height: u32,
    ) -> Vec<[f64; 3]> {
        let coord = |o: u32, n_out: u32, n: u32| {
            let s = ((o as f64 + 0.5) * n as f64 / n_out as f64 - 0.5).clamp(0.0, (n - 1) as f64);
            let i = s.floor() as u32;
            (i, (i + 1).min(n - 1), s - i as f64)
        };
        let mut out = Vec::new();
        for y in 0..height {
            let (y0, y1, wy) = coord(y, height, sh);
            for x in 0..width {
                let (x0, x1, wx) = coord(x, width, sw);
                let p = |xx: u32, yy: u32| *image.get_pixel(rx + xx, ry + yy);
                let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
                out.push(std::array::from_fn(|k| {
                    let top = a[k] as f64 * (1.0 - wx) + b[k] as f64 * wx;
                    let bottom = c[k] as f64 * (1.0 - wx) + d[k] as f64 * wx;
                    top * (1.0 - wy) + bottom * wy
                }));
            }
        }
        out
    }

    #[test]
    fn resize_matches_the_written_out_rule_on_regions() {
        let image = RgbImage::from_fn(97, 61, |x, y| {
            let v = x.wrapping_mul(37) ^ y.wrapping_mul(91);
            image::Rgb([
                (v % 256) as u8,
                ((v / 3) % 256) as u8,
                ((x * y) % 256) as u8,
            ])
        });
        // Shrinking, enlarging, the whole image and an inner region.
        for (region, w, h) in [
            ((0, 0, 97, 61), 32, 24),
            ((10, 5, 40, 40), 64, 64),
            ((50, 20, 47, 41), 13, 7),
            ((0, 0, 97, 61), 97, 61),
            ((96, 60, 1, 1), 3, 3),
        ] {
            let got = resize_region_bilinear(&image, region, w, h);
            let want = resize_reference(&image, region, w, h);
            for (px, r) in got.pixels().zip(&want) {
                for k in 0..3 {
                    // f32 against f64 arithmetic: the same byte, or the
                    // neighbour when the exact value sits on a half.
                    let diff = (px[k] as f64 - r[k].round()).abs();
                    assert!(diff <= 1.0, "{region:?} {w}x{h}: {} vs {}", px[k], r[k]);
                    if (r[k] - r[k].floor() - 0.5).abs() > 1e-3 {
                        assert_eq!(px[k] as f64, r[k].round(), "{region:?} {w}x{h}");
                    }
                }
            }
        }
        // A region reaching past the image is clipped, not a panic.
        let clipped = resize_region_bilinear(&image, (90, 50, 100, 100), 4, 4);
        assert_eq!(
            clipped,
            resize_region_bilinear(&image, (90, 50, 7, 11), 4, 4)
        );
        let empty = resize_region_bilinear(&image, (97, 0, 5, 5), 4, 4);
        assert!(empty.pixels().all(|p| p.0 == [0, 0, 0]));
        // The whole-image form is the region form over the whole image.
        assert_eq!(
            resize_bilinear(&image, 32, 24),
            resize_region_bilinear(&image, (0, 0, 97, 61), 32, 24)
        );
    }

    #[test]
    fn decoder_budget_saturates() {
        let l = decoder_limits(
            &Limits {
                max_encoded_bytes: usize::MAX,
                max_pixels: u64::MAX,
            },
            None,
        );
        assert_eq!(l.max_alloc, Some(u64::MAX));
    }
}
