//! Head pose: a Hopenet-like network (ShuffleNet V2 body) with 66 bins of
//! 3° per angle, on the face box grown by a quarter on each side.

use facecore_detect::Face;
use image::RgbImage;

use crate::AttributeError;
use crate::chip::grown_box_crop;
use crate::model::{Plan, planar_normalised};

/// Side of the pose network's input.
pub const POSE_INPUT: u32 = 224;

/// Bins per angle.
pub const POSE_BINS: usize = 66;

const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Head rotation in degrees, as seen by the camera.
///
/// Signs, measured against landmark geometry on our evaluation photos:
/// `yaw` is positive when the face turns towards the viewer's left (the
/// nose moves left of the eyes' midpoint), `roll` is positive when the head
/// tilts clockwise in the image (the viewer's right eye lower), `pitch` is
/// positive when the face looks up (the nose tip moves towards the eyes).
/// A mirrored photo gives the opposite yaw and roll.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// Rotation about the vertical axis.
    pub yaw: f32,
    /// Rotation about the horizontal axis.
    pub pitch: f32,
    /// Rotation in the image plane.
    pub roll: f32,
}

/// The pose network, optimised once; `Send + Sync`.
pub struct PoseEstimator {
    plan: Plan,
    model_id: String,
}

impl std::fmt::Debug for PoseEstimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoseEstimator")
            .field("model_id", &self.model_id)
            .finish_non_exhaustive()
    }
}

impl PoseEstimator {
    /// Builds the estimator from the ONNX bytes of `fr_pose.onnx`.
    pub fn from_bytes(onnx: &[u8], model_id: &str) -> Result<Self, AttributeError> {
        let size = POSE_INPUT as usize;
        Ok(Self {
            plan: Plan::load("pose", onnx, [1, 3, size, size])?,
            model_id: model_id.to_string(),
        })
    }

    /// The model's id (`id@version`).
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The crop the network sees.
    pub fn crop(&self, image: &RgbImage, face: &Face) -> Result<RgbImage, AttributeError> {
        grown_box_crop(image, &face.bbox, POSE_INPUT)
    }

    /// Estimates the head pose of a detected face.
    pub fn estimate(&self, image: &RgbImage, face: &Face) -> Result<Pose, AttributeError> {
        let crop = self.crop(image, face)?;
        let bins = self.run_raw(&planar_normalised(&crop, IMAGENET_MEAN, IMAGENET_STD))?;
        pose_from_bins(&bins)
    }

    /// Runs the network on a prepared `[1, 3, 224, 224]` input (flattened)
    /// and returns its three outputs of 66 logits, concatenated in the
    /// model's order (yaw, pitch, roll). For numerical checks.
    pub fn run_raw(&self, input: &[f32]) -> Result<Vec<f32>, AttributeError> {
        let out = self.plan.run(input.to_vec())?;
        if out.len() != 3 || out.iter().any(|o| o.len() != POSE_BINS) {
            return Err(AttributeError::Inference {
                which: "pose",
                detail: format!("expected 3 outputs of {POSE_BINS}, got {}", out.len()),
            });
        }
        Ok(out.concat())
    }
}

/// Yaw, pitch and roll from 3 × 66 logits: each angle is the expected bin
/// under a softmax, times 3°, minus 99° (bins cover −99° to +99°).
pub fn pose_from_bins(logits: &[f32]) -> Result<Pose, AttributeError> {
    if logits.len() != 3 * POSE_BINS || logits.iter().any(|v| !v.is_finite()) {
        return Err(AttributeError::Inference {
            which: "pose",
            detail: format!(
                "expected {} finite logits, got {}",
                3 * POSE_BINS,
                logits.len()
            ),
        });
    }
    let angle = |bins: &[f32]| {
        let max = bins.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let (mut sum, mut weighted) = (0.0f64, 0.0f64);
        for (k, &l) in bins.iter().enumerate() {
            let e = f64::from(l - max).exp();
            sum += e;
            weighted += e * k as f64;
        }
        (weighted / sum * 3.0 - 99.0) as f32
    };
    let mut angles = logits.chunks_exact(POSE_BINS).map(angle);
    let (yaw, pitch, roll) = (
        angles.next().unwrap_or_default(),
        angles.next().unwrap_or_default(),
        angles.next().unwrap_or_default(),
    );
    Ok(Pose { yaw, pitch, roll })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_decode_to_degrees() {
        // A peak at bin 33 is 0°, at bin 43 is +30°; equal logits average to
        // bin 32.5, −1.5°.
        let mut logits = vec![0.0f32; 3 * POSE_BINS];
        logits[33] = 50.0;
        logits[POSE_BINS + 43] = 50.0;
        let p = pose_from_bins(&logits).expect("pose");
        assert!(p.yaw.abs() < 1e-3, "{p:?}");
        assert!((p.pitch - 30.0).abs() < 1e-3, "{p:?}");
        assert!((p.roll + 1.5).abs() < 1e-3, "{p:?}");
        assert!(pose_from_bins(&logits[1..]).is_err());
    }
}
