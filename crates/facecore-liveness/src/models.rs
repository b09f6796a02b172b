//! The two models: loading them into optimised tract plans, their input
//! crops and tensors, and their raw runs (for checks against onnxruntime).

use std::sync::Arc;

use facecore_detect::{BBox, Landmarks68};
use facecore_image::resize_region_bilinear;
use image::RgbImage;
use tract_onnx::prelude::*;

use crate::LivenessError;

/// Side of the liveness model's square input, in pixels.
pub const LIVENESS_SIZE: u32 = 128;
/// Side of the eye model's square grey input, in pixels.
pub const EYE_SIZE: u32 = 24;
/// How much wider than the face the liveness crop is (side = longer box
/// side × this, capped by the image).
pub const LIVENESS_CONTEXT: f32 = 2.7;
/// Eye crop side as a multiple of the eye's width (corner to corner).
pub const EYE_PADDING: f32 = 1.6;

type Plan = Arc<TypedRunnableModel>;

fn load_plan(which: &'static str, bytes: &[u8], shape: [usize; 4]) -> Result<Plan, LivenessError> {
    let err = |e: TractError| LivenessError::Model {
        which,
        detail: format!("{e:#}"),
    };
    let mut parser = tract_onnx::onnx();
    facecore_tract::register_prelu(&mut parser.op_register);
    facecore_tract::load_decluttered(&parser, bytes, &shape)
        .and_then(facecore_tract::into_plan)
        .map_err(err)
}

fn run_plan(
    which: &'static str,
    plan: &Plan,
    data: Vec<f32>,
    shape: [usize; 4],
) -> Result<Vec<f32>, LivenessError> {
    let err = |e: TractError| LivenessError::Inference {
        which,
        detail: format!("{e:#}"),
    };
    let tensor =
        tract_ndarray::Array4::from_shape_vec((shape[0], shape[1], shape[2], shape[3]), data)
            .map(Tensor::from)
            .map_err(|e| LivenessError::Inference {
                which,
                detail: format!(
                    "input must have {} values: {e}",
                    shape.iter().product::<usize>()
                ),
            })?;
    let out = plan.run(tvec!(tensor.into())).map_err(err)?;
    Ok(out[0]
        .to_plain_array_view::<f32>()
        .map_err(err)?
        .iter()
        .copied()
        .collect())
}

/// Softmax of a few logits.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

/// The square region the liveness model sees around a face box: side =
/// longer box side × [`LIVENESS_CONTEXT`], capped by the image's shorter
/// side, centred on the box and moved inside the image. Returns
/// `(x, y, side)` and the context actually reached (side ÷ longer box
/// side; below [`LIVENESS_CONTEXT`] when the face is too close to fit).
pub fn liveness_crop(bbox: &BBox, width: u32, height: u32) -> Option<((u32, u32, u32), f32)> {
    if width == 0 || height == 0 {
        return None;
    }
    let face = bbox.width.max(bbox.height).max(1.0);
    let side = ((face * LIVENESS_CONTEXT).round() as u32).clamp(1, width.min(height));
    let cx = bbox.x + bbox.width / 2.0;
    let cy = bbox.y + bbox.height / 2.0;
    let x = (cx - side as f32 / 2.0).round().max(0.0) as u32;
    let y = (cy - side as f32 / 2.0).round().max(0.0) as u32;
    let region = (x.min(width - side), y.min(height - side), side);
    Some((region, side as f32 / face))
}

/// The square region of one eye: centred on the mean of its four lid points,
/// side = corner-to-corner width × [`EYE_PADDING`], clipped to the image.
/// `left` is the viewer's left eye (iBUG points 36–41), else points 42–47.
/// `None` when the crop would be under 2 pixels wide.
pub fn eye_crop(
    points: &Landmarks68,
    left: bool,
    width: u32,
    height: u32,
) -> Option<(u32, u32, u32, u32)> {
    let (corner_a, corner_b, lids) = if left {
        (36, 39, [37, 38, 40, 41])
    } else {
        (42, 45, [43, 44, 46, 47])
    };
    let (mut cx, mut cy) = (0.0f32, 0.0f32);
    for i in lids {
        cx += points[i][0] / 4.0;
        cy += points[i][1] / 4.0;
    }
    let (a, b) = (points[corner_a], points[corner_b]);
    let eye_width = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
    let side = eye_width * EYE_PADDING;
    if !(side.is_finite() && cx.is_finite() && cy.is_finite()) {
        return None;
    }
    let x1 = (cx - side / 2.0).round().clamp(0.0, width as f32) as u32;
    let y1 = (cy - side / 2.0).round().clamp(0.0, height as f32) as u32;
    let x2 = (cx + side / 2.0).round().clamp(0.0, width as f32) as u32;
    let y2 = (cy + side / 2.0).round().clamp(0.0, height as f32) as u32;
    let (w, h) = (x2.saturating_sub(x1), y2.saturating_sub(y1));
    (w >= 2 && h >= 2).then_some((x1, y1, w, h))
}

/// The MiniFASNet-like liveness model (`fr_liveness`, input 128×128 BGR
/// 0..255, 3 logits; class 0 = a live face). `Send + Sync`.
pub struct LivenessModel {
    plan: Plan,
}

impl std::fmt::Debug for LivenessModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivenessModel").finish_non_exhaustive()
    }
}

impl LivenessModel {
    const SHAPE: [usize; 4] = [1, 3, LIVENESS_SIZE as usize, LIVENESS_SIZE as usize];

    /// Builds the model from ONNX bytes.
    pub fn from_bytes(onnx: &[u8]) -> Result<Self, LivenessError> {
        Ok(Self {
            plan: load_plan("liveness", onnx, Self::SHAPE)?,
        })
    }

    /// Runs the model on a prepared `[1, 3, 128, 128]` input (flattened,
    /// row-major) and returns its 3 logits. For checks against a reference.
    pub fn run_raw(&self, input: &[f32]) -> Result<Vec<f32>, LivenessError> {
        run_plan("liveness", &self.plan, input.to_vec(), Self::SHAPE)
    }

    /// The model's input for a face: its [`liveness_crop`] resized to
    /// 128×128 (bilinear) in **BGR** order, raw 0..255, NCHW. Also returns
    /// the context reached (see [`liveness_crop`]).
    pub fn input(image: &RgbImage, bbox: &BBox) -> Option<(Vec<f32>, f32)> {
        let ((x, y, side), context) = liveness_crop(bbox, image.width(), image.height())?;
        let small = resize_region_bilinear(image, (x, y, side, side), LIVENESS_SIZE, LIVENESS_SIZE);
        let plane = (LIVENESS_SIZE * LIVENESS_SIZE) as usize;
        let mut data = vec![0f32; 3 * plane];
        for (i, px) in small.pixels().enumerate() {
            data[i] = px[2] as f32;
            data[plane + i] = px[1] as f32;
            data[2 * plane + i] = px[0] as f32;
        }
        Some((data, context))
    }

    /// The probability that the face in `bbox` is live (softmax class 0),
    /// and the context the crop reached.
    pub fn live_probability(
        &self,
        image: &RgbImage,
        bbox: &BBox,
    ) -> Result<(f32, f32), LivenessError> {
        let (input, context) = Self::input(image, bbox).ok_or(LivenessError::EmptyImage)?;
        let logits = self.run_raw(&input)?;
        if logits.len() != 3 {
            return Err(LivenessError::Inference {
                which: "liveness",
                detail: format!("expected 3 outputs, got {}", logits.len()),
            });
        }
        Ok((softmax(&logits)[0], context))
    }
}

/// The eye-state model (`fr_eye`, input 24×24 grey ÷ 255, 2 logits;
/// class 0 = closed). `Send + Sync`.
pub struct EyeModel {
    plan: Plan,
}

impl std::fmt::Debug for EyeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EyeModel").finish_non_exhaustive()
    }
}

impl EyeModel {
    const SHAPE: [usize; 4] = [1, 1, EYE_SIZE as usize, EYE_SIZE as usize];

    /// Builds the model from ONNX bytes.
    pub fn from_bytes(onnx: &[u8]) -> Result<Self, LivenessError> {
        Ok(Self {
            plan: load_plan("eye", onnx, Self::SHAPE)?,
        })
    }

    /// Runs the model on a prepared `[1, 1, 24, 24]` input and returns its 2
    /// logits. For checks against a reference.
    pub fn run_raw(&self, input: &[f32]) -> Result<Vec<f32>, LivenessError> {
        run_plan("eye", &self.plan, input.to_vec(), Self::SHAPE)
    }

    /// The model's input for an eye region: resized to 24×24 (bilinear),
    /// grey `0.299 R + 0.587 G + 0.114 B` rounded, divided by 255.
    pub fn input(image: &RgbImage, region: (u32, u32, u32, u32)) -> Vec<f32> {
        let small = resize_region_bilinear(image, region, EYE_SIZE, EYE_SIZE);
        small
            .pixels()
            .map(|p| {
                (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32).round() / 255.0
            })
            .collect()
    }

    /// The probability that each eye (viewer's left, right) is closed, or
    /// `None` when an eye crop is degenerate.
    pub fn closed_probabilities(
        &self,
        image: &RgbImage,
        points: &Landmarks68,
    ) -> Result<Option<[f32; 2]>, LivenessError> {
        let mut out = [0.0f32; 2];
        for (k, left) in [true, false].into_iter().enumerate() {
            let Some(region) = eye_crop(points, left, image.width(), image.height()) else {
                return Ok(None);
            };
            let logits = self.run_raw(&Self::input(image, region))?;
            if logits.len() != 2 {
                return Err(LivenessError::Inference {
                    which: "eye",
                    detail: format!("expected 2 outputs, got {}", logits.len()),
                });
            }
            out[k] = softmax(&logits)[0];
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_crop_is_square_inside_and_reports_its_context() {
        let b = BBox {
            x: 40.0,
            y: 40.0,
            width: 20.0,
            height: 30.0,
        };
        let ((x, y, s), ctx) = liveness_crop(&b, 400, 300).unwrap_or(((0, 0, 0), 0.0));
        assert_eq!(s, 81);
        assert!((ctx - 2.7).abs() < 1e-6);
        assert_eq!((x, y), (10, 15));
        // A face filling most of the image cannot get its context.
        let close = BBox {
            x: 10.0,
            y: 0.0,
            width: 90.0,
            height: 100.0,
        };
        let ((x, y, s), ctx) = liveness_crop(&close, 120, 100).unwrap_or(((9, 9, 9), 9.0));
        assert_eq!((x, y, s), (5, 0, 100));
        assert!((ctx - 1.0).abs() < 1e-6);
        assert!(liveness_crop(&b, 0, 10).is_none());
    }

    #[test]
    fn eye_crop_is_centred_on_the_lids_and_padded() {
        let mut p = [[0.0f32; 2]; 68];
        p[36] = [100.0, 50.0];
        p[39] = [120.0, 50.0];
        for i in [37, 38, 40, 41] {
            p[i] = [110.0, 52.0];
        }
        assert_eq!(eye_crop(&p, true, 400, 400), Some((94, 36, 32, 32)));
        // The other eye collapsed to one point: no crop.
        assert_eq!(eye_crop(&p, false, 400, 400), None);
    }

    #[test]
    fn softmax_sums_to_one() {
        let s = softmax(&[1.0, 2.0, 3.0]);
        assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(s[2] > s[1] && s[1] > s[0]);
    }
}
