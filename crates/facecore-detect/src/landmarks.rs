//! The landmark model: its square crop of a face box, its run, and the
//! reduction of its 68 points to the 5 the alignment uses.

use facecore_image::resize_region_bilinear;
use image::RgbImage;
use tract_onnx::prelude::*;

use crate::model::{inference, raw_tensor};
use crate::tensor::gray_to_nchw;
use crate::{BBox, DetectError, Detector};

/// Side of the landmark model's square input, in pixels.
pub const LANDMARK_SIZE: u32 = 64;

/// Five facial points in original-image pixels, in the order of the alignment
/// template: left eye, right eye, nose tip, left mouth corner, right mouth corner
/// ("left" = the viewer's left).
pub type Landmarks5 = [[f32; 2]; 5];

/// The landmark model's 68 points (iBUG order, 0-based) in original-image
/// pixels.
pub type Landmarks68 = [[f32; 2]; 68];

/// A detected face with its 5 landmarks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    /// The box, clipped to the image, in original pixels.
    pub bbox: BBox,
    /// Face probability in [0, 1].
    pub confidence: f32,
    /// Eye centres, nose tip and mouth corners, in original pixels.
    pub landmarks: Landmarks5,
}

/// The square crop fed to the landmark model: side = box height (at most the
/// image's shorter side), centred on the box, moved inside the image.
/// Returns `(x, y, side)`, or `None` for an empty image.
pub fn landmark_crop(bbox: &BBox, width: u32, height: u32) -> Option<(u32, u32, u32)> {
    if width == 0 || height == 0 {
        return None;
    }
    let side = (bbox.height.round().max(1.0) as u32).min(width).min(height);
    let cx = bbox.x + bbox.width / 2.0;
    let cy = bbox.y + bbox.height / 2.0;
    let x = (cx - side as f32 / 2.0).round().max(0.0) as u32;
    let y = (cy - side as f32 / 2.0).round().max(0.0) as u32;
    Some((x.min(width - side), y.min(height - side), side))
}

/// Reduces 68 iBUG points (given by index) to the 5 alignment points.
pub fn reduce_68_to_5(p: &dyn Fn(usize) -> [f32; 2]) -> Landmarks5 {
    let mean = |idx: &[usize]| {
        let mut s = [0.0f32; 2];
        for &i in idx {
            let q = p(i);
            s[0] += q[0];
            s[1] += q[1];
        }
        [s[0] / idx.len() as f32, s[1] / idx.len() as f32]
    };
    [
        mean(&[37, 38, 40, 41]),
        mean(&[43, 44, 46, 47]),
        p(30),
        mean(&[48, 60]),
        mean(&[54, 64]),
    ]
}

impl Detector {
    /// Runs the landmark model on one face box and returns its 5 points.
    pub fn landmarks(&self, image: &RgbImage, bbox: &BBox) -> Result<Landmarks5, DetectError> {
        let points = self.landmarks68(image, bbox)?;
        Ok(reduce_68_to_5(&|i| points[i]))
    }

    /// Runs the landmark model on one face box and returns all 68 points
    /// (what the eye crops of a liveness check need).
    pub fn landmarks68(&self, image: &RgbImage, bbox: &BBox) -> Result<Landmarks68, DetectError> {
        let (x, y, side) =
            landmark_crop(bbox, image.width(), image.height()).ok_or(DetectError::EmptyImage)?;
        let small = resize_region_bilinear(image, (x, y, side, side), LANDMARK_SIZE, LANDMARK_SIZE);
        let input = gray_to_nchw(&small);
        let out = self
            .landmark
            .run(tvec!(input.into()))
            .map_err(|e| inference("landmark", e))?;
        let pts = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| inference("landmark", e))?;
        let pts = pts.as_slice().unwrap_or(&[]);
        if pts.len() != 136 {
            return Err(DetectError::Inference {
                which: "landmark",
                detail: format!("expected 136 outputs, got {}", pts.len()),
            });
        }
        let s = side as f32;
        let mut points = [[0.0f32; 2]; 68];
        for (i, p) in points.iter_mut().enumerate() {
            *p = [x as f32 + pts[2 * i] * s, y as f32 + pts[2 * i + 1] * s];
        }
        Ok(points)
    }

    /// Runs the raw landmark model on a prepared `[1, 1, 64, 64]` input
    /// (flattened) and returns its 136 outputs. For numerical checks against a
    /// reference.
    pub fn run_landmark_raw(&self, input: &[f32]) -> Result<Vec<f32>, DetectError> {
        let input = raw_tensor(
            "landmark",
            input,
            [1, 1, LANDMARK_SIZE as usize, LANDMARK_SIZE as usize],
        )?;
        let out = self
            .landmark
            .run(tvec!(input.into()))
            .map_err(|e| inference("landmark", e))?;
        Ok(out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| inference("landmark", e))?
            .iter()
            .copied()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landmark_crop_is_square_and_inside() {
        let b = BBox {
            x: 90.0,
            y: -5.0,
            width: 20.0,
            height: 30.0,
        };
        let (x, y, s) = landmark_crop(&b, 100, 80).unwrap_or((0, 0, 0));
        assert_eq!(s, 30);
        assert!(x + s <= 100 && y + s <= 80);
        let huge = BBox {
            x: 0.0,
            y: 0.0,
            width: 500.0,
            height: 500.0,
        };
        assert_eq!(landmark_crop(&huge, 100, 80), Some((20, 0, 80)));
        assert_eq!(landmark_crop(&huge, 0, 80), None);
    }
}
