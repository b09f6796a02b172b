//! Any bytes through the image decoder (every format it sniffs), with small
//! limits so that a run explores formats rather than big allocations. It
//! must return an image within the limits or a typed error: never panic,
//! hang, or allocate past the limits (libFuzzer's `-rss_limit_mb` and
//! `-timeout` catch those).
#![no_main]

use facecore_image::{Limits, decode, read_dimensions};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    max_encoded_bytes: 1 << 20,
    max_pixels: 4_000_000,
};

fuzz_target!(|data: &[u8]| {
    let header = read_dimensions(data, &LIMITS);
    match decode(data, &LIMITS) {
        Ok(decoded) => {
            let (w, h) = decoded.image.dimensions();
            assert!(w > 0 && h > 0, "an empty image was returned");
            assert!(u64::from(w) * u64::from(h) <= LIMITS.max_pixels);
            // Whatever decoded, its header was readable too.
            assert!(
                header.is_ok(),
                "decoded, but the header check failed: {header:?}"
            );
        }
        Err(e) => {
            // Every error says something.
            assert!(!e.to_string().is_empty());
        }
    }
});
