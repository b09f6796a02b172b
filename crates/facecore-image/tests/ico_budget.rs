//! The PNG inside an ICO is decoded under the crate's allocation budget.
//!
//! The `image` crate's own ICO decoder opens a PNG entry with no allocation
//! limit, so a small icon whose PNG carries a compressed ICC profile that
//! inflates to hundreds of megabytes would be inflated in full while the
//! header is read. This test builds such an icon and measures the process's
//! peak resident memory around `decode`; it is a test binary of its own so
//! that no other test's allocations count.
#![allow(clippy::unwrap_used)]

use facecore_image::{Format, Limits, RgbImage, decode, read_dimensions};
use image::{DynamicImage, ImageFormat, Rgb};

/// Bits written least significant first, as DEFLATE packs them.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u32,
    len: u32,
}

impl Bits {
    fn put(&mut self, value: u32, bits: u32) {
        for i in 0..bits {
            self.acc |= ((value >> i) & 1) << self.len;
            self.len += 1;
            if self.len == 8 {
                self.out.push(self.acc as u8);
                (self.acc, self.len) = (0, 0);
            }
        }
    }

    /// A Huffman code, which DEFLATE packs most significant bit first.
    fn code(&mut self, code: u32, bits: u32) {
        for i in (0..bits).rev() {
            self.put((code >> i) & 1, 1);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.len > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// A zlib stream of `1 + 258 * matches` zero bytes: one fixed-Huffman block
/// holding a literal zero and then `matches` copies of (length 258,
/// distance 1), 13 bits each.
fn zlib_zeros(matches: u32) -> Vec<u8> {
    let mut bits = Bits::default();
    bits.put(1, 1); // the final block
    bits.put(1, 2); // fixed Huffman codes
    bits.code(0x30, 8); // literal 0
    for _ in 0..matches {
        bits.code(0xC5, 8); // length symbol 285: 258 bytes
        bits.code(0, 5); // distance code 0: distance 1
    }
    bits.code(0, 7); // end of block
    let n = 1 + 258 * u64::from(matches);
    let adler = (((n % 65_521) as u32) << 16) | 1;
    let mut out = vec![0x78, 0x01];
    out.extend(bits.finish());
    out.extend_from_slice(&adler.to_be_bytes());
    out
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
    let mut out = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[4..]);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// Peak resident memory of this process so far, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

#[test]
#[cfg(target_os = "linux")]
fn an_icc_bomb_in_an_ico_png_stays_within_the_decoder_budget() {
    const MIB: u64 = 1024 * 1024;
    let img = RgbImage::from_fn(16, 16, |x, y| Rgb([(x * 16) as u8, (y * 16) as u8, 77]));
    // Opaque RGBA, the PNG layout Windows wants in an icon (and the only one
    // the `image` crate's ICO decoder accepts).
    let png = {
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img.clone())
            .to_rgba8()
            .write_to(&mut std::io::Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    };
    // An iCCP chunk right after IHDR (8-byte signature + 25-byte IHDR) whose
    // profile inflates to 512 MiB from about 3.4 MB.
    let inflated = 512 * MIB;
    let mut iccp = b"icc\0\0".to_vec();
    iccp.extend(zlib_zeros(u32::try_from((inflated - 1) / 258).unwrap()));
    let mut bomb = png[..33].to_vec();
    bomb.extend(png_chunk(b"iCCP", &iccp));
    bomb.extend_from_slice(&png[33..]);
    let mut ico = vec![0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0];
    ico.extend_from_slice(&u32::try_from(bomb.len()).unwrap().to_le_bytes());
    ico.extend_from_slice(&22u32.to_le_bytes());
    ico.extend(bomb);
    assert!(ico.len() < 4 * 1024 * 1024, "{}", ico.len());

    // A budget of 1024 + 64 MiB for the decoders' own allocations.
    let limits = Limits {
        max_pixels: 256,
        ..Limits::default()
    };
    let before = peak_rss();
    let grown = || peak_rss().saturating_sub(before) / MIB;
    let header = read_dimensions(&ico, &limits);
    assert!(
        grown() < 200,
        "reading the header grew peak memory by {} MiB: the profile was inflated past the budget",
        grown()
    );
    assert_eq!(header.unwrap(), (Format::Ico, 16, 16));
    // The PNG decoder gives up on a profile over the budget and decodes the
    // pixels without it.
    let decoded = decode(&ico, &limits);
    assert!(
        grown() < 200,
        "decoding grew peak memory by {} MiB: the profile was inflated past the budget",
        grown()
    );
    let decoded = decoded.unwrap();
    assert_eq!(decoded.format, Format::Ico);
    assert_eq!(decoded.image, img);
}
