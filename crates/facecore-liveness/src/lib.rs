//! Single-image liveness (presentation attack detection) for facecore:
//! is the face in this photo a live person in front of the camera, or a
//! printed photo, a screen, a photo of a photo?
//!
//! [`LivenessChecker::check`] runs, in this order, stopping at the first
//! failure (each failure is a [`LivenessCode`] of the Face Search API):
//!
//! 1. **Geometry** (microseconds): a face at all (`FACE_NOT_FOUND`), no
//!    second face of comparable size (`TOO_MANY_FACES`), not running off the
//!    image (`FACE_CROPPED`), not nearly touching an edge
//!    (`FACE_CLOSE_TO_BORDER`), big enough (`FACE_TOO_SMALL`), far enough for
//!    the model's context crop to fit (`FACE_TOO_CLOSE`), and, when the caller
//!    supplies a head [`Pose`], not turned too far (`FACE_ANGLE_TOO_LARGE`).
//! 2. **Eyes** (`fr_eye`, 24×24 grey, well under a millisecond): both eyes
//!    closed is `EYES_CLOSED`. Needs the face's 68 landmarks.
//! 3. **The liveness model** (`fr_liveness`, MiniFASNet-like, 128×128, the
//!    costly step): `FACE_NOT_LIVE` below the live-probability threshold.
//!
//! `FACE_IS_OCCLUDED` is never reported: no model here gives a signal for it.
//!
//! # The models' recipes (checked against onnxruntime)
//!
//! - `fr_liveness`: a square crop around the face box, side = longer box
//!   side × 2.7 (capped by the image, moved inside it), resized to 128×128,
//!   **BGR** order, raw 0..255, NCHW; 3 logits, softmax, **class 0 = live**.
//!   The package's JavaScript feeds RGB (OpenCV.js reads canvases as RGBA);
//!   BGR, as the MiniFASNet family was trained, scored live faces higher and
//!   every synthetic attack lower on faces-dev.
//! - `fr_eye`: a square crop per eye centred on the mean of its four lid
//!   points (iBUG 37, 38, 40, 41 and 43, 44, 46, 47), side = corner-to-corner
//!   width × 1.6, resized to 24×24, grey `0.299 R + 0.587 G + 0.114 B` ÷ 255;
//!   2 logits, softmax, **class 0 = closed** (the most "closed" crops of
//!   faces-dev are closed lids, the most "open" ones open eyes).
//!
//! All thresholds are in [`LivenessConfig`]. A [`LivenessChecker`] is
//! `Send + Sync`: build it once and share it.
//!
//! With the `synthetic` feature, the `synthetic` module makes the seeded screen,
//! print and photo-of-photo attacks the evaluation measures against.

mod check;
mod config;
mod error;
mod models;
#[cfg(feature = "synthetic")]
pub mod synthetic;

pub use check::{
    CheckTimings, FaceObservation, LivenessChecker, LivenessCode, LivenessVerdict, Pose,
};
pub use config::LivenessConfig;
pub use error::{ErrorKind, LivenessError};
pub use models::{
    EYE_PADDING, EYE_SIZE, EyeModel, LIVENESS_CONTEXT, LIVENESS_SIZE, LivenessModel, eye_crop,
    liveness_crop, softmax,
};
