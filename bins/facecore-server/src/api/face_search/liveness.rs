//! The liveness check of `check_liveness: true`: the one function the
//! search calls, so that a check can be plugged in without touching the
//! route. This server has none yet (it is being built: detection, pose,
//! eyes and an anti-spoofing model, measured on data), so [`check`]
//! refuses every request that asks for one with `ERR_LIVENESS_ERROR` and
//! `metadata.code` [`NOT_AVAILABLE`] (501): it never claims a face is
//! live.

use facecore::{Embeddings, Engine, RgbImage};

/// `metadata.code` when the server has no liveness check.
pub const NOT_AVAILABLE: &str = "LIVENESS_NOT_AVAILABLE";

/// Why a face was not accepted as live: a `metadata.code` of the document
/// (`FACE_NOT_LIVE`, `EYES_CLOSED`, …) or [`NOT_AVAILABLE`], and what was
/// measured, for `metadata.detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The document's code (or ours, [`NOT_AVAILABLE`]).
    pub code: &'static str,
    /// For people.
    pub detail: String,
    /// Whether the check could not run at all (501) rather than refused
    /// the face (400).
    pub unavailable: bool,
}

/// Checks that the dominant face of `image` (the first of `faces`, which
/// holds at least one) is live. Runs on the inference worker after
/// detection, before the search.
pub fn check(_engine: &Engine, _image: &RgbImage, _faces: &Embeddings) -> Result<(), Refusal> {
    Err(Refusal {
        code: NOT_AVAILABLE,
        detail: "check_liveness is not available on this server yet; send check_liveness: false \
                 to search without it"
            .into(),
        unavailable: true,
    })
}
