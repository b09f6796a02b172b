//! The liveness check of `check_liveness: true`: the one function the
//! search calls. It runs the facade's single-image check
//! ([`Engine::liveness_of`]: placement, head pose, eyes, then the
//! anti-spoofing model) and turns a failed check into the document's
//! `ERR_LIVENESS_ERROR` with its `metadata.code`. A server whose models
//! directory lacks the liveness models answers [`NOT_AVAILABLE`] (501): it
//! never claims a face is live without checking.

use facecore::liveness::{LivenessCode, LivenessVerdict};
use facecore::{Engine, RgbImage};

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

/// Checks that the dominant face of `image` is live. Runs on the inference
/// worker after the search's own detection found a face ("if no face is
/// found, liveness is not checked").
///
/// # Errors
/// The facade's error when the check could not run (a model failed);
/// a [`Refusal`] inside `Ok` when it ran and the face did not pass.
pub fn check(engine: &Engine, image: &RgbImage) -> Result<Result<(), Refusal>, facecore::Error> {
    if !engine.has_liveness() {
        return Ok(Err(Refusal {
            code: NOT_AVAILABLE,
            detail: "check_liveness needs the liveness models (fr_liveness.onnx, fr_eye.onnx), \
                     which this server's models directory lacks; run `cargo xtask fetch-models`, \
                     or send check_liveness: false to search without it"
                .into(),
            unavailable: true,
        }));
    }
    let verdict = engine.liveness_of(image, None)?;
    Ok(match verdict.code {
        None => Ok(()),
        Some(code) => Err(Refusal {
            code: code.as_str(),
            detail: explain(code, &verdict, engine),
            unavailable: false,
        }),
    })
}

/// What a failed check measured, in words.
fn explain(code: LivenessCode, v: &LivenessVerdict, engine: &Engine) -> String {
    let limits = engine
        .liveness_checker()
        .map(|c| *c.config())
        .unwrap_or_default();
    match code {
        LivenessCode::FaceNotLive => format!(
            "the anti-spoofing model gave the face a live probability of {:.3}, under the \
             threshold {}",
            v.live_probability.unwrap_or(f32::NAN),
            limits.min_live_probability
        ),
        LivenessCode::EyesClosed => format!(
            "both eyes look closed (probabilities {}; threshold {})",
            v.eyes_closed
                .map_or_else(|| "?".into(), |[l, r]| format!("{l:.2} and {r:.2}")),
            limits.eyes_closed_probability
        ),
        LivenessCode::FaceAngleTooLarge => format!(
            "the head is turned too far (limits: yaw {}°, pitch {}°, roll {}°)",
            limits.max_yaw, limits.max_pitch, limits.max_roll
        ),
        LivenessCode::FaceTooSmall => format!(
            "the face is smaller than {} pixels; come closer or send a larger image",
            limits.min_face_px
        ),
        LivenessCode::FaceTooClose => {
            "the face fills too much of the image for the check to see around it; step back".into()
        }
        LivenessCode::FaceCloseToBorder => {
            "the face is too close to an edge of the image; centre it".into()
        }
        LivenessCode::FaceCropped => "the face runs off the edge of the image".into(),
        LivenessCode::TooManyFaces => {
            "more than one face of similar size is in the image; only one person may be in view"
                .into()
        }
        LivenessCode::FaceNotFound => "the liveness check found no face".into(),
        _ => format!("the liveness check refused the face ({code})"),
    }
}
