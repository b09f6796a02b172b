//! Every threshold of the liveness check, in one place.

use crate::LivenessError;

/// The thresholds of [`LivenessChecker`](crate::LivenessChecker). The
/// defaults were chosen with `cargo xtask eval-liveness` on faces-dev (live)
/// and its synthetic attacks; the README's "Liveness" section has the rates
/// they give. Every field is public: a deployment with other cameras should
/// measure its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LivenessConfig {
    /// `FACE_NOT_LIVE` when the model's live probability is below this.
    pub min_live_probability: f32,
    /// `EYES_CLOSED` when both eyes' closed probabilities reach this.
    pub eyes_closed_probability: f32,
    /// `FACE_TOO_SMALL` when the face box's longer side is under this many
    /// pixels.
    pub min_face_px: f32,
    /// `FACE_TOO_CLOSE` when the liveness crop reaches less context than
    /// this (crop side ÷ longer box side; the model was made for 2.7).
    pub min_context: f32,
    /// `FACE_CROPPED` when the face box comes within this many pixels of an
    /// image edge (the detector clips boxes that run off the image).
    pub cropped_edge_px: f32,
    /// `FACE_CLOSE_TO_BORDER` when the gap between the face box and an image
    /// edge is under this fraction of the box's longer side.
    pub min_border_margin: f32,
    /// `TOO_MANY_FACES` when another face's box height is at least this
    /// fraction of the dominant face's (smaller faces, people in the
    /// background, are ignored).
    pub other_face_ratio: f32,
    /// `FACE_ANGLE_TOO_LARGE` when the supplied |yaw| exceeds this (degrees).
    pub max_yaw: f32,
    /// `FACE_ANGLE_TOO_LARGE` when the supplied |pitch| exceeds this.
    pub max_pitch: f32,
    /// `FACE_ANGLE_TOO_LARGE` when the supplied |roll| exceeds this.
    pub max_roll: f32,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        Self {
            min_live_probability: 0.99,
            eyes_closed_probability: 0.9,
            min_face_px: 40.0,
            min_context: 1.2,
            cropped_edge_px: 1.0,
            min_border_margin: 0.05,
            other_face_ratio: 0.5,
            max_yaw: 30.0,
            max_pitch: 25.0,
            max_roll: 30.0,
        }
    }
}

impl LivenessConfig {
    /// Checks that every threshold is finite and in its range.
    pub fn validate(&self) -> Result<(), LivenessError> {
        let probabilities = [
            ("min_live_probability", self.min_live_probability),
            ("eyes_closed_probability", self.eyes_closed_probability),
            ("other_face_ratio", self.other_face_ratio),
        ];
        for (name, v) in probabilities {
            if !(0.0..=1.0).contains(&v) {
                return Err(LivenessError::Config(format!(
                    "{name} must be in [0, 1], got {v}"
                )));
            }
        }
        let non_negative = [
            ("min_face_px", self.min_face_px),
            ("min_context", self.min_context),
            ("cropped_edge_px", self.cropped_edge_px),
            ("min_border_margin", self.min_border_margin),
            ("max_yaw", self.max_yaw),
            ("max_pitch", self.max_pitch),
            ("max_roll", self.max_roll),
        ];
        for (name, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return Err(LivenessError::Config(format!(
                    "{name} must be finite and >= 0, got {v}"
                )));
            }
        }
        Ok(())
    }
}
