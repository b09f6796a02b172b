//! Integration tests for `facecore-image`: sniffing, limits, orientation,
//! round trips through every format, and hostile input.
#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::time::{Duration, Instant};

use facecore_image::{
    Decoded, Format, ImageError, Limits, RgbImage, crop, decode, decode_rgb, read_dimensions,
    resize_bilinear, sniff,
};
use image::{DynamicImage, ImageEncoder, ImageFormat, Rgb};

// ---------------------------------------------------------------- helpers

/// A smooth, asymmetric test image (odd sizes on purpose).
fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 255 / w.max(2).saturating_sub(1).max(1)) as u8,
            (y * 255 / h.max(2).saturating_sub(1).max(1)) as u8,
            128,
        ])
    })
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// A syntactically valid PNG whose IHDR claims `w` x `h` RGB pixels but whose
/// IDAT holds almost nothing.
fn lying_png(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    // zlib stream of zero bytes (stored block): 78 01, final empty stored block, adler32 = 1
    let idat = [
        0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01,
    ];
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(png_chunk(b"IHDR", &ihdr));
    out.extend(png_chunk(b"IDAT", &idat));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

/// A minimal big-endian TIFF structure with IFD0 holding only the
/// orientation tag (0x0112, SHORT, count 1).
fn exif_tiff_with_orientation(orientation: u16) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"MM\0*");
    t.extend_from_slice(&8u32.to_be_bytes()); // offset of IFD0
    t.extend_from_slice(&1u16.to_be_bytes()); // one entry
    t.extend_from_slice(&0x0112u16.to_be_bytes()); // tag: Orientation
    t.extend_from_slice(&3u16.to_be_bytes()); // type: SHORT
    t.extend_from_slice(&1u32.to_be_bytes()); // count
    t.extend_from_slice(&orientation.to_be_bytes());
    t.extend_from_slice(&[0, 0]); // value padding
    t.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    t
}

/// Inserts an APP1 "Exif\0\0" segment right after SOI.
fn jpeg_with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(exif_tiff_with_orientation(orientation));
    let len = u16::try_from(payload.len() + 2).unwrap();
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// 64x32 image: blue, with a red 16x16 square in the stored top-left corner.
fn marked_image() -> RgbImage {
    RgbImage::from_fn(64, 32, |x, y| {
        if x < 16 && y < 16 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    })
}

fn is_red(p: &Rgb<u8>) -> bool {
    p.0[0] > 200 && p.0[1] < 60 && p.0[2] < 60
}

fn is_blue(p: &Rgb<u8>) -> bool {
    p.0[0] < 60 && p.0[1] < 60 && p.0[2] > 200
}

/// Tiny deterministic PRNG so tests need no extra dependency.
struct XorShift(u64);

impl XorShift {
    fn next_u8(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u8()).collect()
    }
}

fn assert_quick(start: Instant) {
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_millis(500),
        "took {elapsed:?}; the limit must be checked before decoding"
    );
}

// ---------------------------------------------------------------- sniffing

#[test]
fn sniff_recognises_magic_bytes() {
    assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Format::Jpeg));
    assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Format::Png));
    assert_eq!(sniff(b"GIF87a..."), Some(Format::Gif));
    assert_eq!(sniff(b"GIF89a..."), Some(Format::Gif));
    assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8L"), Some(Format::Webp));
    assert_eq!(sniff(b"BM\0\0"), Some(Format::Bmp));
    assert_eq!(sniff(b"II*\0\x08\0\0\0"), Some(Format::Tiff));
    assert_eq!(sniff(b"MM\0*\0\0\0\x08"), Some(Format::Tiff));
    assert_eq!(sniff(b"\0\0\x01\0\x01\0"), Some(Format::Ico));
    assert_eq!(sniff(b"\0\0\x01\0"), Some(Format::Ico));
}

#[test]
fn sniff_rejects_everything_else() {
    assert_eq!(sniff(b""), None);
    assert_eq!(sniff(&[0xFF, 0xD8]), None);
    assert_eq!(sniff(b"\x89PNG\r\n"), None);
    assert_eq!(sniff(b"GIF88a"), None);
    assert_eq!(sniff(b"RIFF\0\0\0\0WAVE"), None);
    assert_eq!(sniff(b"RIFF\0\0\0\0WEB"), None);
    assert_eq!(sniff(b"II+\0"), None);
    assert_eq!(sniff(b"<svg xmlns=..."), None);
    assert_eq!(sniff(b"%PDF-1.7"), None);
    assert_eq!(sniff(b"\0\0\0\x1cftypavif"), None);
    assert_eq!(sniff(b"\0\0\x01"), None);
    assert_eq!(sniff(b"\0\0\x02\0\x01\0"), None); // CUR, a cursor
    assert_eq!(sniff(b"\0\x01\x01\0\x01\0"), None);
}

#[test]
fn format_names() {
    assert_eq!(Format::Jpeg.name(), "jpeg");
    assert_eq!(Format::Png.name(), "png");
    assert_eq!(Format::Webp.name(), "webp");
    assert_eq!(Format::Bmp.name(), "bmp");
    assert_eq!(Format::Gif.name(), "gif");
    assert_eq!(Format::Tiff.name(), "tiff");
    assert_eq!(Format::Ico.name(), "ico");
    assert_eq!(Format::ALL.len(), 7);
    assert!(Format::ALL.contains(&Format::Ico));
}

// ---------------------------------------------------------------- round trips

#[test]
fn round_trip_every_format() {
    let original = gradient(37, 23);
    let dynamic = DynamicImage::ImageRgb8(original.clone());
    let cases = [
        (ImageFormat::Png, Format::Png, 0.0),
        (ImageFormat::Bmp, Format::Bmp, 0.0),
        (ImageFormat::Tiff, Format::Tiff, 0.0),
        (ImageFormat::WebP, Format::Webp, 0.0), // lossless encoder
        (ImageFormat::Jpeg, Format::Jpeg, 6.0),
        (ImageFormat::Gif, Format::Gif, 12.0), // 256-colour quantisation
        (ImageFormat::Ico, Format::Ico, 0.0),  // a PNG inside
    ];
    for (image_format, format, tolerance) in cases {
        let bytes = encode(&dynamic, image_format);
        assert_eq!(sniff(&bytes), Some(format), "{format}");
        let decoded = decode(&bytes, &Limits::default()).unwrap();
        assert_eq!(decoded.format, format);
        assert_eq!(decoded.orientation, 1, "{format}");
        assert_eq!(decoded.image.dimensions(), (37, 23), "{format}");
        let diff = mean_abs_diff(&decoded.image, &original);
        assert!(
            diff <= tolerance,
            "{format}: mean abs diff {diff} > {tolerance}"
        );
        assert_eq!(
            read_dimensions(&bytes, &Limits::default()).unwrap(),
            (format, 37, 23)
        );
        assert_eq!(
            decode_rgb(&bytes, &Limits::default()).unwrap(),
            decoded.image
        );
    }
}

#[test]
fn gif_decodes_first_frame_only() {
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame, Rgba, RgbaImage};

    let red = RgbaImage::from_pixel(8, 6, Rgba([255, 0, 0, 255]));
    let green = RgbaImage::from_pixel(8, 6, Rgba([0, 255, 0, 255]));
    let mut bytes = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut bytes);
        let delay = Delay::from_numer_denom_ms(100, 1);
        enc.encode_frame(Frame::from_parts(red, 0, 0, delay))
            .unwrap();
        enc.encode_frame(Frame::from_parts(green, 0, 0, delay))
            .unwrap();
    }
    let img = decode_rgb(&bytes, &Limits::default()).unwrap();
    assert_eq!(img.dimensions(), (8, 6));
    assert!(img.pixels().all(is_red));
}

#[test]
fn grayscale_is_replicated_to_rgb() {
    let gray = image::GrayImage::from_fn(5, 4, |x, y| image::Luma([(x * 40 + y) as u8]));
    let bytes = encode(&DynamicImage::ImageLuma8(gray), ImageFormat::Png);
    let img = decode_rgb(&bytes, &Limits::default()).unwrap();
    assert_eq!(img.get_pixel(3, 2).0, [122, 122, 122]);
}

#[test]
fn alpha_is_composited_over_black() {
    let rgba = image::RgbaImage::from_fn(2, 1, |x, _| {
        if x == 0 {
            image::Rgba([200, 100, 50, 255])
        } else {
            image::Rgba([200, 100, 50, 0])
        }
    });
    let bytes = encode(&DynamicImage::ImageRgba8(rgba), ImageFormat::Png);
    let img = decode_rgb(&bytes, &Limits::default()).unwrap();
    assert_eq!(img.get_pixel(0, 0).0, [200, 100, 50]);
    assert_eq!(img.get_pixel(1, 0).0, [0, 0, 0]);

    let la = image::GrayAlphaImage::from_pixel(1, 1, image::LumaA([200, 128]));
    let bytes = encode(&DynamicImage::ImageLumaA8(la), ImageFormat::Png);
    let img = decode_rgb(&bytes, &Limits::default()).unwrap();
    assert_eq!(img.get_pixel(0, 0).0, [100, 100, 100]);
}

#[test]
fn sixteen_bit_is_scaled_to_eight() {
    let rgb16 = image::ImageBuffer::<Rgb<u16>, Vec<u16>>::from_pixel(3, 2, Rgb([65535, 32896, 0]));
    let bytes = encode(&DynamicImage::ImageRgb16(rgb16), ImageFormat::Png);
    let img = decode_rgb(&bytes, &Limits::default()).unwrap();
    assert_eq!(img.get_pixel(0, 0).0, [255, 128, 0]);

    let rgba16 = image::ImageBuffer::<image::Rgba<u16>, Vec<u16>>::from_pixel(
        1,
        1,
        image::Rgba([65535, 65535, 65535, 0]),
    );
    let bytes = encode(&DynamicImage::ImageRgba16(rgba16), ImageFormat::Png);
    let img = decode_rgb(&bytes, &Limits::default()).unwrap();
    assert_eq!(img.get_pixel(0, 0).0, [0, 0, 0]);

    let l16 =
        image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_pixel(1, 1, image::Luma([257 * 7]));
    let bytes = encode(&DynamicImage::ImageLuma16(l16), ImageFormat::Tiff);
    let img = decode_rgb(&bytes, &Limits::default()).unwrap();
    assert_eq!(img.get_pixel(0, 0).0, [7, 7, 7]);
}

// ---------------------------------------------------------------- fixtures

#[test]
fn fixture_astronaut() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/astronaut.png"
    ))
    .unwrap();
    let Decoded {
        image,
        format,
        orientation,
    } = decode(&bytes, &Limits::default()).unwrap();
    assert_eq!(format, Format::Png);
    assert_eq!(orientation, 1);
    assert_eq!(image.dimensions(), (512, 512));
    // A colour photograph: plenty of pixels where the channels differ.
    let colourful = image
        .pixels()
        .filter(|p| p.0[0].abs_diff(p.0[1]) > 20 || p.0[1].abs_diff(p.0[2]) > 20)
        .count();
    assert!(colourful > 512 * 512 / 10, "{colourful}");
}

#[test]
fn fixture_camera_grayscale() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/camera.png"
    ))
    .unwrap();
    let image = decode_rgb(&bytes, &Limits::default()).unwrap();
    assert_eq!(image.dimensions(), (512, 512));
    assert!(image.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]));
    let distinct: std::collections::HashSet<u8> = image.pixels().map(|p| p.0[0]).collect();
    assert!(distinct.len() > 100);
}

// ---------------------------------------------------------------- orientation

#[test]
fn jpeg_exif_orientation_all_eight() {
    let jpeg = encode(&DynamicImage::ImageRgb8(marked_image()), ImageFormat::Jpeg);
    // (orientation, output size, a point inside the red square, a point outside)
    let cases = [
        (1u16, (64, 32), (8, 8), (55, 23)),
        (2, (64, 32), (55, 8), (8, 8)),
        (3, (64, 32), (55, 23), (8, 8)),
        (4, (64, 32), (8, 23), (8, 8)),
        (5, (32, 64), (8, 8), (23, 55)),
        (6, (32, 64), (23, 8), (8, 8)),
        (7, (32, 64), (23, 55), (8, 8)),
        (8, (32, 64), (8, 55), (8, 8)),
    ];
    for (orientation, size, red_at, blue_at) in cases {
        let bytes = jpeg_with_orientation(&jpeg, orientation);
        let decoded = decode(&bytes, &Limits::default()).unwrap();
        assert_eq!(u16::from(decoded.orientation), orientation);
        assert_eq!(
            decoded.image.dimensions(),
            size,
            "orientation {orientation}"
        );
        assert!(
            is_red(decoded.image.get_pixel(red_at.0, red_at.1)),
            "orientation {orientation}: {:?}",
            decoded.image.get_pixel(red_at.0, red_at.1)
        );
        assert!(
            is_blue(decoded.image.get_pixel(blue_at.0, blue_at.1)),
            "orientation {orientation}"
        );
        let (format, w, h) = read_dimensions(&bytes, &Limits::default()).unwrap();
        assert_eq!((format, (w, h)), (Format::Jpeg, size));
    }
}

#[test]
fn invalid_exif_orientation_is_ignored() {
    let jpeg = encode(&DynamicImage::ImageRgb8(marked_image()), ImageFormat::Jpeg);
    for bogus in [0u16, 9, 0xFFFF] {
        let decoded = decode(&jpeg_with_orientation(&jpeg, bogus), &Limits::default()).unwrap();
        assert_eq!(decoded.orientation, 1);
        assert_eq!(decoded.image.dimensions(), (64, 32));
    }
}

#[test]
fn png_exif_orientation_is_honoured() {
    let png = encode(&DynamicImage::ImageRgb8(marked_image()), ImageFormat::Png);
    // Insert an eXIf chunk right after IHDR (8-byte signature + 25-byte IHDR).
    let mut bytes = png[..33].to_vec();
    bytes.extend(png_chunk(b"eXIf", &exif_tiff_with_orientation(6)));
    bytes.extend_from_slice(&png[33..]);
    let decoded = decode(&bytes, &Limits::default()).unwrap();
    assert_eq!(decoded.orientation, 6);
    assert_eq!(decoded.image.dimensions(), (32, 64));
    assert_eq!(decoded.image.get_pixel(23, 8).0, [255, 0, 0]);
    assert_eq!(decoded.image.get_pixel(8, 8).0, [0, 0, 255]);
}

// ---------------------------------------------------------------- limits

#[test]
fn huge_png_header_is_refused_before_decoding() {
    let bytes = lying_png(50_000, 50_000);
    let start = Instant::now();
    let err = decode(&bytes, &Limits::default()).unwrap_err();
    assert_quick(start);
    assert!(
        matches!(
            err,
            ImageError::TooManyPixels {
                width: 50_000,
                height: 50_000,
                limit: 40_000_000
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "image is 50000x50000 = 2500000000 pixels, more than the limit of 40000000"
    );
    let err = read_dimensions(&bytes, &Limits::default()).unwrap_err();
    assert!(matches!(err, ImageError::TooManyPixels { .. }), "{err:?}");
}

#[test]
fn long_thin_png_is_reported_with_its_dimensions() {
    let bytes = lying_png(1, 50_000_000);
    let err = decode(&bytes, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::TooManyPixels {
                width: 1,
                height: 50_000_000,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn lying_png_within_limits_fails_cleanly() {
    // 4000x4000 is within the pixel limit; the data is missing.
    let err = decode(&lying_png(4000, 4000), &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::Corrupt {
                format: Format::Png,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn huge_jpeg_sof_is_refused_before_decoding() {
    let mut jpeg = encode(
        &DynamicImage::ImageRgb8(gradient(16, 16)),
        ImageFormat::Jpeg,
    );
    // Find the SOFn marker and patch height and width.
    let sof = jpeg
        .windows(2)
        .position(|w| w[0] == 0xFF && matches!(w[1], 0xC0..=0xC2))
        .unwrap();
    jpeg[sof + 5..sof + 7].copy_from_slice(&50_000u16.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&50_000u16.to_be_bytes());
    let start = Instant::now();
    let err = decode(&jpeg, &Limits::default()).unwrap_err();
    assert_quick(start);
    assert!(
        matches!(
            err,
            ImageError::TooManyPixels {
                width: 50_000,
                height: 50_000,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn huge_gif_screen_is_refused_before_decoding() {
    let mut gif = encode(&DynamicImage::ImageRgb8(gradient(16, 16)), ImageFormat::Gif);
    gif[6..8].copy_from_slice(&65_535u16.to_le_bytes());
    gif[8..10].copy_from_slice(&65_535u16.to_le_bytes());
    let start = Instant::now();
    let err = decode(&gif, &Limits::default()).unwrap_err();
    assert_quick(start);
    assert!(
        matches!(
            err,
            ImageError::TooManyPixels {
                width: 65_535,
                height: 65_535,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn gif_frame_larger_than_screen_is_refused() {
    // 10x10 logical screen holding a 65535x65535 frame.
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&10u16.to_le_bytes());
    gif.extend_from_slice(&10u16.to_le_bytes());
    gif.extend_from_slice(&[0x80, 0, 0]); // global colour table of 2 entries
    gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    gif.push(0x2C); // image descriptor
    gif.extend_from_slice(&[0, 0, 0, 0]);
    gif.extend_from_slice(&65_535u16.to_le_bytes());
    gif.extend_from_slice(&65_535u16.to_le_bytes());
    gif.push(0);
    gif.push(2); // LZW minimum code size
    gif.extend_from_slice(&[2, 0x4C, 0x01, 0]); // a clear code and end
    gif.push(0x3B);
    let limits = Limits {
        max_pixels: 1_000_000,
        ..Limits::default()
    };
    let start = Instant::now();
    let result = decode(&gif, &limits);
    assert_quick(start);
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::Corrupt {
                format: Format::Gif,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn huge_tiff_header_is_refused_before_decoding() {
    // Little-endian TIFF, IFD0 with 9 entries, 8-bit gray, one strip.
    let entries: [(u16, u16, u32); 9] = [
        (256, 4, 50_000), // ImageWidth, LONG
        (257, 4, 50_000), // ImageLength, LONG
        (258, 3, 8),      // BitsPerSample
        (259, 3, 1),      // Compression: none
        (262, 3, 1),      // Photometric: BlackIsZero
        (273, 4, 200),    // StripOffsets
        (277, 3, 1),      // SamplesPerPixel
        (278, 4, 50_000), // RowsPerStrip
        (279, 4, 16),     // StripByteCounts
    ];
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&u16::try_from(entries.len()).unwrap().to_le_bytes());
    for (tag, kind, value) in entries {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        if kind == 3 {
            tiff.extend_from_slice(&u16::try_from(value).unwrap().to_le_bytes());
            tiff.extend_from_slice(&[0, 0]);
        } else {
            tiff.extend_from_slice(&value.to_le_bytes());
        }
    }
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.resize(216, 0);
    let start = Instant::now();
    let err = decode(&tiff, &Limits::default()).unwrap_err();
    assert_quick(start);
    assert!(
        matches!(
            err,
            ImageError::TooManyPixels {
                width: 50_000,
                height: 50_000,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn pixel_limit_is_inclusive() {
    let bytes = encode(&DynamicImage::ImageRgb8(gradient(10, 10)), ImageFormat::Png);
    let exact = Limits {
        max_pixels: 100,
        ..Limits::default()
    };
    assert!(decode(&bytes, &exact).is_ok());
    let under = Limits {
        max_pixels: 99,
        ..Limits::default()
    };
    assert!(matches!(
        decode(&bytes, &under),
        Err(ImageError::TooManyPixels {
            width: 10,
            height: 10,
            limit: 99
        })
    ));
}

#[test]
fn encoded_size_limit() {
    let bytes = encode(&DynamicImage::ImageRgb8(gradient(10, 10)), ImageFormat::Png);
    let limits = Limits {
        max_encoded_bytes: 50,
        ..Limits::default()
    };
    let err = decode(&bytes, &limits).unwrap_err();
    match err {
        ImageError::EncodedTooLarge { bytes: n, limit } => {
            assert_eq!(n, bytes.len());
            assert_eq!(limit, 50);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read_dimensions(&bytes, &limits),
        Err(ImageError::EncodedTooLarge { .. })
    ));
    // The size is checked before the format: unknown but too large is "too large".
    let junk = vec![0u8; 51];
    assert!(matches!(
        decode(&junk, &limits),
        Err(ImageError::EncodedTooLarge {
            bytes: 51,
            limit: 50
        })
    ));
    let at_limit = Limits {
        max_encoded_bytes: bytes.len(),
        ..Limits::default()
    };
    assert!(decode(&bytes, &at_limit).is_ok());
}

#[test]
fn default_limits() {
    let l = Limits::default();
    assert_eq!(l.max_encoded_bytes, 15 * 1024 * 1024);
    assert_eq!(l.max_pixels, 40_000_000);
}

// ---------------------------------------------------------------- bad input

#[test]
fn empty_and_unknown() {
    assert!(matches!(
        decode(&[], &Limits::default()),
        Err(ImageError::Empty)
    ));
    assert!(matches!(
        read_dimensions(&[], &Limits::default()),
        Err(ImageError::Empty)
    ));
    for junk in [&b"hello world"[..], b"\0", b"<svg></svg>", b"GIF8"] {
        assert!(
            matches!(
                decode(junk, &Limits::default()),
                Err(ImageError::UnsupportedFormat)
            ),
            "{junk:?}"
        );
    }
}

#[test]
fn zero_size_is_refused() {
    let mut gif = encode(&DynamicImage::ImageRgb8(gradient(4, 4)), ImageFormat::Gif);
    gif[6..8].copy_from_slice(&0u16.to_le_bytes());
    let err = decode(&gif, &Limits::default()).unwrap_err();
    assert!(matches!(err, ImageError::ZeroSize), "{err:?}");
}

#[test]
fn garbage_after_magic_is_corrupt() {
    let magics: [(&[u8], Format); 8] = [
        (&[0xFF, 0xD8, 0xFF], Format::Jpeg),
        (b"\x89PNG\r\n\x1a\n", Format::Png),
        (b"GIF89a", Format::Gif),
        (b"RIFF\xF0\0\0\0WEBP", Format::Webp),
        (b"BM", Format::Bmp),
        (b"II*\0", Format::Tiff),
        (b"MM\0*", Format::Tiff),
        (b"\0\0\x01\0", Format::Ico),
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for (magic, format) in magics {
        for _ in 0..4 {
            let mut bytes = magic.to_vec();
            bytes.extend(rng.bytes(300));
            let err = decode(&bytes, &Limits::default()).unwrap_err();
            match &err {
                ImageError::Corrupt { format: f, .. } => assert_eq!(*f, format),
                // A random header can, legitimately, announce an absurd or
                // empty size; that is refused just as well.
                ImageError::TooManyPixels { .. } | ImageError::ZeroSize => {}
                other => panic!("{format}: unexpected {other:?}"),
            }
        }
        // Magic alone, nothing after it.
        let err = decode(magic, &Limits::default()).unwrap_err();
        assert!(
            matches!(err, ImageError::Corrupt { .. }),
            "{format}: {err:?}"
        );
    }
}

#[test]
fn truncated_jpeg_never_panics() {
    let jpeg = encode(
        &DynamicImage::ImageRgb8(gradient(64, 48)),
        ImageFormat::Jpeg,
    );
    let half = &jpeg[..jpeg.len() / 2];
    match decode(half, &Limits::default()) {
        Ok(d) => assert_eq!(d.image.dimensions(), (64, 48)),
        Err(ImageError::Corrupt { format, .. }) => assert_eq!(format, Format::Jpeg),
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn every_truncation_of_every_format_is_handled() {
    let dynamic = DynamicImage::ImageRgb8(gradient(19, 13));
    for image_format in [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::Bmp,
        ImageFormat::Gif,
        ImageFormat::Tiff,
        ImageFormat::WebP,
        ImageFormat::Ico,
    ] {
        let bytes = encode(&dynamic, image_format);
        for len in 1..bytes.len() {
            match decode(&bytes[..len], &Limits::default()) {
                Ok(d) => assert_eq!(d.image.dimensions(), (19, 13)),
                Err(
                    ImageError::Corrupt { .. }
                    | ImageError::UnsupportedFormat
                    | ImageError::ZeroSize
                    | ImageError::TooManyPixels { .. },
                ) => {}
                Err(other) => panic!("{image_format:?} cut at {len}: {other:?}"),
            }
        }
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    let dynamic = DynamicImage::ImageRgb8(gradient(23, 17));
    let mut rng = XorShift(12345);
    for image_format in [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::Bmp,
        ImageFormat::Gif,
        ImageFormat::Tiff,
        ImageFormat::WebP,
        ImageFormat::Ico,
    ] {
        let bytes = encode(&dynamic, image_format);
        for _ in 0..200 {
            let mut damaged = bytes.clone();
            for _ in 0..4 {
                let i = usize::from(rng.next_u8()) * damaged.len() / 256;
                damaged[i] = rng.next_u8();
            }
            let _ = decode(&damaged, &Limits::default());
            let _ = read_dimensions(&damaged, &Limits::default());
        }
    }
}

#[test]
fn error_messages_are_single_lines() {
    let errors = [
        ImageError::Empty,
        ImageError::UnsupportedFormat,
        ImageError::EncodedTooLarge {
            bytes: 20_000_000,
            limit: 15_728_640,
        },
        ImageError::TooManyPixels {
            width: 50_000,
            height: 50_000,
            limit: 40_000_000,
        },
        ImageError::ZeroSize,
        decode(b"\x89PNG\r\n\x1a\ngarbage", &Limits::default()).unwrap_err(),
        decode(&[0xFF, 0xD8, 0xFF, 1, 2, 3], &Limits::default()).unwrap_err(),
    ];
    for e in &errors {
        let msg = e.to_string();
        assert!(!msg.is_empty());
        assert!(!msg.contains('\n'), "{msg}");
    }
    assert_eq!(
        errors[1].to_string(),
        "unrecognised image format; accepted formats are JPEG, PNG, WebP, BMP, GIF, TIFF and ICO"
    );
    assert_eq!(
        errors[2].to_string(),
        "image file is 20000000 bytes, more than the limit of 15728640 bytes"
    );
    assert!(
        errors[5]
            .to_string()
            .starts_with("could not decode the png image: ")
    );
}

// ---------------------------------------------------------------- ICO

/// An ICO file from `(width byte, height byte, bit depth, data)` entries
/// (a size byte of 0 means 256), the data stored in order after the
/// directory.
fn ico_file(entries: &[(u8, u8, u16, &[u8])]) -> Vec<u8> {
    let mut out = vec![0, 0, 1, 0];
    out.extend_from_slice(&u16::try_from(entries.len()).unwrap().to_le_bytes());
    let mut offset = 6 + 16 * entries.len();
    for &(w, h, depth, data) in entries {
        out.extend_from_slice(&[w, h, 0, 0, 1, 0]);
        out.extend_from_slice(&depth.to_le_bytes());
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        out.extend_from_slice(&u32::try_from(offset).unwrap().to_le_bytes());
        offset += data.len();
    }
    for &(_, _, _, data) in entries {
        out.extend_from_slice(data);
    }
    out
}

/// An image in which neighbouring pixels differ, so that a shifted, flipped
/// or scaled decode cannot pass for the original.
fn pattern(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 7 + y * 3) as u8,
            ((x * 31) ^ (y * 17)) as u8,
            (x + y * w) as u8,
        ])
    })
}

/// `img` as an ICO frame holding a PNG.
fn png_frame(img: &RgbImage) -> image::codecs::ico::IcoFrame<'static> {
    image::codecs::ico::IcoFrame::as_png(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap()
}

fn ico_of(frames: &[image::codecs::ico::IcoFrame<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::ico::IcoEncoder::new(&mut out)
        .encode_images(frames)
        .unwrap();
    out
}

/// The BMP form an ICO stores: a BITMAPINFOHEADER with the height doubled,
/// 24-bit BGR rows bottom-up (each padded to 4 bytes), then the 1-bit AND
/// mask, also bottom-up and padded, in which a set bit means transparent.
fn icon_bmp(img: &RgbImage, transparent: impl Fn(u32, u32) -> bool) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let mut out = Vec::new();
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&i32::try_from(w).unwrap().to_le_bytes());
    out.extend_from_slice(&i32::try_from(2 * h).unwrap().to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // planes
    out.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
    out.extend_from_slice(&[0; 24]); // no compression, sizes, resolution, colours
    let row = usize::try_from((w * 3).div_ceil(4) * 4).unwrap();
    for y in (0..h).rev() {
        let start = out.len();
        for x in 0..w {
            let [r, g, b] = img.get_pixel(x, y).0;
            out.extend_from_slice(&[b, g, r]);
        }
        out.resize(start + row, 0);
    }
    let mask_row = usize::try_from(w.div_ceil(32) * 4).unwrap();
    for y in (0..h).rev() {
        let mut bits = vec![0u8; mask_row];
        for x in (0..w).filter(|&x| transparent(x, y)) {
            bits[usize::try_from(x / 8).unwrap()] |= 0x80 >> (x % 8);
        }
        out.extend(bits);
    }
    out
}

#[test]
fn ico_from_the_encoder_decodes_to_its_exact_pixels() {
    // 256 is stored as 0 in the directory.
    for (w, h) in [(45, 30), (1, 1), (256, 256), (256, 17), (3, 256)] {
        let original = pattern(w, h);
        let mut bytes = Vec::new();
        image::codecs::ico::IcoEncoder::new(&mut bytes)
            .write_image(original.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        assert_eq!(sniff(&bytes), Some(Format::Ico));
        let decoded = decode(&bytes, &Limits::default()).unwrap();
        assert_eq!(decoded.format, Format::Ico, "{w}x{h}");
        assert_eq!(decoded.orientation, 1);
        assert_eq!(decoded.image.dimensions(), (w, h));
        assert!(decoded.image == original, "{w}x{h}: pixels differ");
        assert_eq!(
            read_dimensions(&bytes, &Limits::default()).unwrap(),
            (Format::Ico, w, h)
        );
    }
}

#[test]
fn ico_decodes_its_largest_image_wherever_it_is_listed() {
    let (small, large, wide) = (pattern(16, 16), pattern(48, 32), pattern(40, 8));
    for frames in [
        [png_frame(&small), png_frame(&large), png_frame(&wide)],
        [png_frame(&large), png_frame(&wide), png_frame(&small)],
        [png_frame(&wide), png_frame(&small), png_frame(&large)],
    ] {
        let bytes = ico_of(&frames);
        assert_eq!(decode_rgb(&bytes, &Limits::default()).unwrap(), large);
        assert_eq!(
            read_dimensions(&bytes, &Limits::default()).unwrap(),
            (Format::Ico, 48, 32)
        );
    }
}

#[test]
fn ico_alpha_is_composited_over_black() {
    let alpha = [255, 0, 128, 255];
    let rgba = image::RgbaImage::from_fn(4, 2, |x, _| {
        image::Rgba([200, 100, 50, alpha[usize::try_from(x).unwrap()]])
    });
    let frame =
        image::codecs::ico::IcoFrame::as_png(rgba.as_raw(), 4, 2, image::ExtendedColorType::Rgba8)
            .unwrap();
    let img = decode_rgb(&ico_of(&[frame]), &Limits::default()).unwrap();
    let row: Vec<_> = (0..4).map(|x| img.get_pixel(x, 1).0).collect();
    assert_eq!(
        row,
        [[200, 100, 50], [0, 0, 0], [100, 50, 25], [200, 100, 50]]
    );
}

#[test]
fn ico_bmp_image_decodes_with_its_mask() {
    let original = pattern(5, 3);
    // Transparent: the top-left pixel and the whole bottom row.
    let masked = |x: u32, y: u32| (x, y) == (0, 0) || y == 2;
    let bmp = icon_bmp(&original, masked);
    // A PNG listed too, smaller: the BMP is the largest, so it is decoded.
    let png = encode(&DynamicImage::ImageRgb8(pattern(2, 2)), ImageFormat::Png);
    let bytes = ico_file(&[(2, 2, 32, &png), (5, 3, 24, &bmp)]);
    let decoded = decode(&bytes, &Limits::default()).unwrap();
    assert_eq!(decoded.format, Format::Ico);
    assert_eq!(decoded.image.dimensions(), (5, 3));
    for (x, y, px) in decoded.image.enumerate_pixels() {
        let want = if masked(x, y) {
            [0, 0, 0]
        } else {
            original.get_pixel(x, y).0
        };
        assert_eq!(px.0, want, "({x}, {y})");
    }
    // With no mask at all (the data ends with the pixels), nothing is masked.
    let unmasked = &bmp[..bmp.len() - 3 * 4];
    let bytes = ico_file(&[(5, 3, 24, unmasked)]);
    assert_eq!(decode_rgb(&bytes, &Limits::default()).unwrap(), original);
}

#[test]
fn every_truncation_of_an_ico_is_corrupt() {
    let png_ico = encode(&DynamicImage::ImageRgb8(pattern(19, 13)), ImageFormat::Ico);
    let bmp_ico = ico_file(&[(19, 13, 24, &icon_bmp(&pattern(19, 13), |_, _| false))]);
    for bytes in [png_ico, bmp_ico] {
        assert!(decode(&bytes, &Limits::default()).is_ok());
        for len in 1..bytes.len() {
            let cut = &bytes[..len];
            for result in [
                decode(cut, &Limits::default()).map(|_| ()),
                read_dimensions(cut, &Limits::default()).map(|_| ()),
            ] {
                match result {
                    Err(ImageError::UnsupportedFormat) if len < 4 => {}
                    Err(ImageError::Corrupt {
                        format: Format::Ico,
                        detail,
                    }) if len >= 4 => {
                        assert_eq!(detail, "the file is truncated", "cut at {len}");
                    }
                    other => panic!("cut at {len}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn ico_with_a_broken_directory_is_corrupt() {
    let png = encode(&DynamicImage::ImageRgb8(pattern(4, 4)), ImageFormat::Png);
    let good = ico_file(&[(4, 4, 32, &png)]);
    let mut none = good.clone();
    none[4..6].copy_from_slice(&0u16.to_le_bytes());
    let mut many = good.clone();
    many[4..6].copy_from_slice(&u16::MAX.to_le_bytes());
    let mut far = good.clone();
    far[18..22].copy_from_slice(&u32::MAX.to_le_bytes()); // data offset
    let mut long = good.clone();
    long[14..18].copy_from_slice(&u32::MAX.to_le_bytes()); // data length
    let empty = ico_file(&[(4, 4, 32, &[])]);
    for (name, bytes, want) in [
        ("no entries", none, "the ICO directory lists no image"),
        ("65535 entries", many, "the file is truncated"),
        ("offset past the end", far, "the file is truncated"),
        ("length past the end", long, "the file is truncated"),
        ("empty entry", empty, "the ICO entry holds no image data"),
    ] {
        match decode(&bytes, &Limits::default()) {
            Err(ImageError::Corrupt {
                format: Format::Ico,
                detail,
            }) => assert_eq!(detail, want, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(decode(&good, &Limits::default()).is_ok());
}

#[test]
fn ico_image_claiming_a_huge_size_is_refused_before_decoding() {
    // The directory can state at most 256 x 256 (a 0 byte); the image inside
    // claims 50000 x 50000 (a PNG) or 30000 x 30000 (a BMP, whose decoder
    // refuses a stored height, doubled, over 65535 anyway).
    let mut huge_bmp = icon_bmp(&pattern(4, 4), |_, _| false);
    huge_bmp[4..8].copy_from_slice(&30_000i32.to_le_bytes());
    huge_bmp[8..12].copy_from_slice(&60_000i32.to_le_bytes()); // doubled
    for (bytes, size) in [
        (ico_file(&[(0, 0, 32, &lying_png(50_000, 50_000))]), 50_000),
        (
            ico_file(&[(16, 16, 32, &lying_png(50_000, 50_000))]),
            50_000,
        ),
        (ico_file(&[(0, 0, 24, &huge_bmp)]), 30_000),
    ] {
        let start = Instant::now();
        let err = decode(&bytes, &Limits::default()).unwrap_err();
        assert_quick(start);
        assert!(
            matches!(
                err,
                ImageError::TooManyPixels { width, height, limit: 40_000_000 }
                    if width == size && height == size
            ),
            "{err:?}"
        );
        let err = read_dimensions(&bytes, &Limits::default()).unwrap_err();
        assert!(matches!(err, ImageError::TooManyPixels { .. }), "{err:?}");
    }
    // The limit applies to the image's own size, not to the directory's
    // (which records anything from 256 up as 256).
    let limits = Limits {
        max_pixels: 256 * 256,
        ..Limits::default()
    };
    let fits = encode(
        &DynamicImage::ImageRgb8(pattern(256, 256)),
        ImageFormat::Png,
    );
    assert!(decode(&ico_file(&[(0, 0, 32, &fits)]), &limits).is_ok());
    let over = encode(
        &DynamicImage::ImageRgb8(pattern(300, 256)),
        ImageFormat::Png,
    );
    assert!(matches!(
        decode(&ico_file(&[(0, 0, 32, &over)]), &limits),
        Err(ImageError::TooManyPixels {
            width: 300,
            height: 256,
            ..
        })
    ));
}

#[test]
fn ico_image_larger_than_its_directory_states_is_refused_before_decoding() {
    // 6000 x 6000 is within the pixel limit (it would mean a 144 MB buffer),
    // but the directory says 16 x 16: refused from the headers alone.
    let mut big_bmp = icon_bmp(&pattern(4, 4), |_, _| false);
    big_bmp[4..8].copy_from_slice(&6_000i32.to_le_bytes());
    big_bmp[8..12].copy_from_slice(&12_000i32.to_le_bytes());
    for bytes in [
        ico_file(&[(16, 16, 32, &lying_png(6_000, 6_000))]),
        ico_file(&[(16, 16, 24, &big_bmp)]),
    ] {
        let start = Instant::now();
        for result in [
            decode(&bytes, &Limits::default()).map(|_| ()),
            read_dimensions(&bytes, &Limits::default()).map(|_| ()),
        ] {
            match result {
                Err(ImageError::Corrupt {
                    format: Format::Ico,
                    detail,
                }) => assert_eq!(
                    detail,
                    "the ICO directory states 16x16 but its image is 6000x6000"
                ),
                other => panic!("{other:?}"),
            }
        }
        assert_quick(start);
    }
    // The real size is accepted, a transposed one is not, and 256 stands
    // for anything from 256 up.
    let png = encode(&DynamicImage::ImageRgb8(pattern(20, 10)), ImageFormat::Png);
    assert!(decode(&ico_file(&[(20, 10, 32, &png)]), &Limits::default()).is_ok());
    assert!(matches!(
        decode(&ico_file(&[(10, 20, 32, &png)]), &Limits::default()),
        Err(ImageError::Corrupt { .. })
    ));
    let png = encode(
        &DynamicImage::ImageRgb8(pattern(300, 256)),
        ImageFormat::Png,
    );
    let img = decode_rgb(&ico_file(&[(0, 0, 32, &png)]), &Limits::default()).unwrap();
    assert_eq!(img.dimensions(), (300, 256));
}

// ---------------------------------------------------------------- helpers for other crates

#[test]
fn resize_bilinear_sizes_and_values() {
    let flat = RgbImage::from_pixel(10, 8, Rgb([10, 20, 30]));
    let up = resize_bilinear(&flat, 25, 3);
    assert_eq!(up.dimensions(), (25, 3));
    assert!(up.pixels().all(|p| p.0 == [10, 20, 30]));

    let g = gradient(64, 64);
    let down = resize_bilinear(&g, 16, 16);
    assert_eq!(down.dimensions(), (16, 16));
    // The horizontal ramp survives: left is dark, right is bright.
    assert!(down.get_pixel(0, 8).0[0] < 30);
    assert!(down.get_pixel(15, 8).0[0] > 225);

    assert_eq!(resize_bilinear(&g, 64, 64), g);
    assert_eq!(resize_bilinear(&g, 0, 5).dimensions(), (0, 5));
    assert_eq!(
        resize_bilinear(&RgbImage::new(0, 0), 3, 2),
        RgbImage::new(3, 2)
    );
}

#[test]
fn crop_is_clamped() {
    let g = gradient(20, 10);
    let c = crop(&g, 5, 2, 4, 3);
    assert_eq!(c.dimensions(), (4, 3));
    assert_eq!(c.get_pixel(0, 0), g.get_pixel(5, 2));
    assert_eq!(c.get_pixel(3, 2), g.get_pixel(8, 4));

    assert_eq!(crop(&g, 15, 8, 100, 100).dimensions(), (5, 2));
    assert_eq!(crop(&g, 30, 30, 5, 5).dimensions(), (0, 0));
    assert_eq!(crop(&g, 0, 0, u32::MAX, u32::MAX), g);
}

#[test]
fn truncated_jpeg_is_corrupt_but_trailing_data_is_ignored() {
    let img = DynamicImage::ImageRgb8(gradient(64, 48));
    let jpeg = encode(&img, ImageFormat::Jpeg);
    assert!(decode(&jpeg, &Limits::default()).is_ok());
    // Cut anywhere after the headers, even one byte short: refused, where
    // the decoder alone would fill the rest with grey.
    for cut in [jpeg.len() / 2, jpeg.len() - 1, 200, 3] {
        match decode(&jpeg[..cut], &Limits::default()) {
            Err(ImageError::Corrupt { format, detail }) => {
                assert_eq!(format, Format::Jpeg);
                assert!(detail.contains("truncated"), "{detail}");
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    // Data after the end-of-image marker (a PNG appended, say) is ignored.
    let mut polyglot = jpeg.clone();
    polyglot.extend_from_slice(&encode(&img, ImageFormat::Png));
    assert_eq!(
        decode(&polyglot, &Limits::default())
            .unwrap()
            .image
            .dimensions(),
        (64, 48)
    );
    // Stray bytes between segments (some encoders write them; libjpeg skips
    // them with a warning) do not make a whole JPEG look truncated.
    let first_end = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    let mut stray = jpeg[..first_end].to_vec();
    stray.extend_from_slice(&[0x00, 0x13, 0x37]);
    stray.extend_from_slice(&jpeg[first_end..]);
    assert_eq!(
        decode(&stray, &Limits::default())
            .unwrap()
            .image
            .dimensions(),
        (64, 48)
    );
    // End-of-image markers inside an application segment do not count.
    let app15 = [0xFF, 0xD8, 0xFF, 0xEF, 0x00, 0x06, 0xFF, 0xD9, 0xFF, 0xD9];
    let mut whole = app15.to_vec();
    whole.extend_from_slice(&jpeg[2..]);
    assert!(decode(&whole, &Limits::default()).is_ok());
    let mut cut = app15.to_vec();
    cut.extend_from_slice(&jpeg[2..jpeg.len() / 2]);
    assert!(matches!(
        decode(&cut, &Limits::default()),
        Err(ImageError::Corrupt { .. })
    ));
}

// ---------------------------------------------------------------- fuzz seeds

/// The committed seed corpus of the `image_decode` fuzz target
/// (`fuzz/seeds/image_decode/`): one tiny image per format plus an
/// EXIF-rotated JPEG, each of which must sniff as its format and decode.
/// `FACECORE_WRITE_SEEDS=1 cargo test -p facecore-image fuzz_seed` writes
/// them anew.
#[test]
fn fuzz_seed_corpus_covers_every_format_and_decodes() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/image_decode");
    let img = DynamicImage::ImageRgb8(gradient(9, 7));
    let jpeg = encode(&img, ImageFormat::Jpeg);
    let seeds = [
        ("seed.png", Format::Png, encode(&img, ImageFormat::Png)),
        ("seed.jpg", Format::Jpeg, jpeg.clone()),
        (
            "seed-exif6.jpg",
            Format::Jpeg,
            jpeg_with_orientation(&jpeg, 6),
        ),
        ("seed.gif", Format::Gif, encode(&img, ImageFormat::Gif)),
        ("seed.bmp", Format::Bmp, encode(&img, ImageFormat::Bmp)),
        ("seed.tiff", Format::Tiff, encode(&img, ImageFormat::Tiff)),
        ("seed.webp", Format::Webp, encode(&img, ImageFormat::WebP)),
        ("seed.ico", Format::Ico, encode(&img, ImageFormat::Ico)),
    ];
    if std::env::var_os("FACECORE_WRITE_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, _, bytes) in &seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    for format in Format::ALL {
        assert!(
            seeds.iter().any(|(_, f, _)| *f == format),
            "no fuzz seed for {format}"
        );
    }
    for (name, format, _) in &seeds {
        let bytes = std::fs::read(dir.join(name))
            .unwrap_or_else(|e| panic!("fuzz seed {name}: {e} (FACECORE_WRITE_SEEDS=1 writes it)"));
        assert!(
            bytes.len() < 4096,
            "{name} is {} bytes: keep seeds small",
            bytes.len()
        );
        assert_eq!(sniff(&bytes), Some(*format), "{name}");
        let decoded = decode(&bytes, &Limits::default()).unwrap();
        let want = if name.contains("exif6") {
            (7, 9)
        } else {
            (9, 7)
        };
        assert_eq!(decoded.image.dimensions(), want, "{name}");
    }
}
