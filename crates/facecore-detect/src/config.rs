//! Tuning of the detector and its validation.

use crate::DetectError;

/// Tuning of the detector. The defaults are what facecore ships with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Minimum face probability to keep a box, in (0, 1). Default 0.7.
    /// (The detector alone cannot tell a cat's face from a human one, it
    /// scores 0.97: the `facecore` engine verifies doubtful detections with
    /// the embedding model.)
    pub score_threshold: f32,
    /// IoU above which the weaker of two boxes is suppressed. Default 0.3.
    pub nms_iou: f32,
    /// Scale (original pixels per detector pixel) of the tiled pass for large
    /// images; 0 disables tiling. Default 3.0 (tiles of 960×720 pixels).
    pub tile_scale: f32,
    /// Overlap between neighbouring tiles, as a fraction of the tile. Default 0.25.
    pub tile_overlap: f32,
    /// Boxes narrower or lower than this many original pixels are dropped. Default 8.
    pub min_face_px: f32,
    /// Minimum face probability of the letterboxed rescue passes
    /// ([`Detector::rescue_boxes`](crate::Detector::rescue_boxes)), which
    /// run only when the ordinary passes found no verified face; 0 turns
    /// them off. Default 0.3: lower than `score_threshold` because these
    /// passes only run on photos without a face so far, and the `facecore`
    /// engine verifies every detection under 0.99 by its embedding.
    pub rescue_threshold: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            score_threshold: 0.7,
            nms_iou: 0.3,
            tile_scale: 3.0,
            tile_overlap: 0.25,
            min_face_px: 8.0,
            rescue_threshold: 0.3,
        }
    }
}

impl DetectorConfig {
    /// Checks that every value is in its range.
    pub fn validate(&self) -> Result<(), DetectError> {
        let bad = |msg: String| Err(DetectError::Config(msg));
        if !(self.score_threshold > 0.0 && self.score_threshold < 1.0) {
            return bad(format!(
                "score_threshold must be in (0, 1), got {}",
                self.score_threshold
            ));
        }
        if !(self.nms_iou > 0.0 && self.nms_iou <= 1.0) {
            return bad(format!("nms_iou must be in (0, 1], got {}", self.nms_iou));
        }
        if !(self.tile_scale == 0.0 || (self.tile_scale >= 1.0 && self.tile_scale.is_finite())) {
            return bad(format!(
                "tile_scale must be 0 (off) or at least 1, got {}",
                self.tile_scale
            ));
        }
        if !(0.0..=0.75).contains(&self.tile_overlap) {
            return bad(format!(
                "tile_overlap must be in [0, 0.75], got {}",
                self.tile_overlap
            ));
        }
        if !(self.min_face_px >= 0.0 && self.min_face_px.is_finite()) {
            return bad(format!(
                "min_face_px must be >= 0, got {}",
                self.min_face_px
            ));
        }
        if !(self.rescue_threshold == 0.0
            || (self.rescue_threshold > 0.0 && self.rescue_threshold < 1.0))
        {
            return bad(format!(
                "rescue_threshold must be 0 (off) or in (0, 1), got {}",
                self.rescue_threshold
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_rejects_out_of_range_values() {
        assert!(DetectorConfig::default().validate().is_ok());
        let bad = DetectorConfig {
            score_threshold: f32::NAN,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        let bad = DetectorConfig {
            tile_scale: 0.5,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        for rescue in [-0.1, 1.0, f32::NAN] {
            let bad = DetectorConfig {
                rescue_threshold: rescue,
                ..Default::default()
            };
            assert!(bad.validate().is_err(), "{rescue}");
        }
        let off = DetectorConfig {
            rescue_threshold: 0.0,
            ..Default::default()
        };
        assert!(off.validate().is_ok());
    }
}
