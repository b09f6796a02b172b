//! SCRFD, an anchor-free detector that gives five keypoints with each box
//! (InsightFace's SCRFD-500MF with keypoints, `scrfd_500m_bnkps.onnx`).
//!
//! The image is letterboxed: scaled by `min(S / w, S / h)` (aspect kept,
//! bilinear) onto the top-left corner of a black `S × S` canvas, RGB,
//! `(v − 127.5) / 128`, with `S` = [`SCRFD_INPUT`]. The network answers, for
//! each of its strides 8, 16 and 32 and two anchors per cell of that
//! stride's grid, a face score (already a probability), the distances from
//! the cell's corner point to the box's four sides, and the offsets of five
//! keypoints from it, both in units of the stride. Boxes above the score
//! threshold are mapped back to the image, clipped, and thinned by
//! non-maximum suppression.

use facecore_image::resize_region_bilinear;
use image::RgbImage;
use tract_onnx::prelude::*;

use crate::boxes::nms;
use crate::model::{Plan, inference, load_plan, raw_tensor};
use crate::tensor::rgb_to_nchw;
use crate::{BBox, DetectError, FaceBox, Landmarks5};

/// Side of the square input the plan is built for, in pixels.
pub const SCRFD_INPUT: u32 = 640;

/// The face score from which SCRFD's boxes are kept (InsightFace's own
/// default).
pub const SCRFD_SCORE_THRESHOLD: f32 = 0.5;

/// The IoU above which the weaker of two SCRFD boxes is suppressed
/// (InsightFace's own default).
pub const SCRFD_NMS_IOU: f32 = 0.4;

/// How much smaller the image is drawn on the canvas in the second pass
/// of [`Scrfd::detect`], for faces too large for the first.
const RESCUE_SHRINK: f32 = 2.0;

/// The strides of the network's three output levels.
const STRIDES: [usize; 3] = [8, 16, 32];

/// Anchors per grid cell.
const ANCHORS: usize = 2;

/// The SCRFD plan. `Send + Sync`.
pub(crate) struct Scrfd {
    plan: Plan,
}

/// Where the image went on the letterboxed canvas.
#[derive(Debug, Clone, Copy)]
struct Letterbox {
    /// Canvas pixels per image pixel.
    scale: f32,
}

impl Scrfd {
    /// Builds the plan from the ONNX bytes, for a [`SCRFD_INPUT`]² input.
    pub(crate) fn from_bytes(onnx: &[u8]) -> Result<Self, DetectError> {
        let side = SCRFD_INPUT as usize;
        let (plan, _) = load_plan("detector", onnx, [1, 3, side, side], false)?;
        Ok(Self { plan })
    }

    /// The letterboxed input tensor of an image, shrunk `shrink` times
    /// more than the canvas needs (1: the image fills the canvas's width or
    /// height).
    fn input(image: &RgbImage, shrink: f32) -> (Tensor, Letterbox) {
        let (w, h) = (image.width() as f32, image.height() as f32);
        let side = SCRFD_INPUT as f32;
        let scale = (side / w).min(side / h) / shrink;
        // At least one pixel each way, at most the canvas.
        let nw = ((w * scale) as u32).clamp(1, SCRFD_INPUT);
        let nh = ((h * scale) as u32).clamp(1, SCRFD_INPUT);
        let resized = resize_region_bilinear(image, (0, 0, image.width(), image.height()), nw, nh);
        let mut canvas = RgbImage::new(SCRFD_INPUT, SCRFD_INPUT);
        image::imageops::replace(&mut canvas, &resized, 0, 0);
        // The scale that maps back: the resized size over the original.
        let scale = nh as f32 / h;
        (
            rgb_to_nchw(&canvas, 127.5, 1.0 / 128.0),
            Letterbox { scale },
        )
    }

    /// Runs the plan and returns its nine outputs, flattened: scores,
    /// box distances and keypoint offsets, each for strides 8, 16, 32.
    fn run(&self, input: Tensor) -> Result<Vec<Vec<f32>>, DetectError> {
        let out = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| inference("detector", e))?;
        if out.len() != 9 {
            return Err(DetectError::Inference {
                which: "detector",
                detail: format!("expected 9 outputs, got {}", out.len()),
            });
        }
        out.iter()
            .map(|t| {
                Ok(t.to_plain_array_view::<f32>()
                    .map_err(|e| inference("detector", e))?
                    .iter()
                    .copied()
                    .collect())
            })
            .collect()
    }

    /// Runs the plan on a prepared `[1, 3, 640, 640]` input (flattened,
    /// row-major) and returns its nine outputs flattened, in the model's
    /// order. For numerical checks against a reference.
    pub(crate) fn run_raw(&self, input: &[f32]) -> Result<Vec<Vec<f32>>, DetectError> {
        let side = SCRFD_INPUT as usize;
        self.run(raw_tensor("detector", input, [1, 3, side, side])?)
    }

    /// The faces of an image above `threshold`, with their keypoints, after
    /// NMS at `nms_iou`; boxes narrower or lower than `min_face_px` are
    /// dropped. Unordered.
    ///
    /// A face that fills the photo (a tight portrait) is larger on the
    /// canvas than the network's largest anchors, and is missed: on
    /// faces-dev, 15 of 2,334 photos. When the first pass finds nothing,
    /// a second one runs with the image at half that size on the canvas
    /// ([`RESCUE_SHRINK`]); it costs nothing on photos where a face was
    /// found.
    pub(crate) fn detect(
        &self,
        image: &RgbImage,
        threshold: f32,
        nms_iou: f32,
        min_face_px: f32,
    ) -> Result<Vec<FaceBox>, DetectError> {
        let found = self.detect_at(image, 1.0, threshold, nms_iou, min_face_px)?;
        if !found.is_empty() {
            return Ok(found);
        }
        self.detect_at(image, RESCUE_SHRINK, threshold, nms_iou, min_face_px)
    }

    /// One pass of [`Scrfd::detect`] with the image shrunk `shrink` times
    /// more than the canvas needs.
    fn detect_at(
        &self,
        image: &RgbImage,
        shrink: f32,
        threshold: f32,
        nms_iou: f32,
        min_face_px: f32,
    ) -> Result<Vec<FaceBox>, DetectError> {
        if image.width() == 0 || image.height() == 0 {
            return Err(DetectError::EmptyImage);
        }
        let (input, letterbox) = Self::input(image, shrink);
        let out = self.run(input)?;
        let (img_w, img_h) = (image.width() as f32, image.height() as f32);
        let side = SCRFD_INPUT as usize;
        let mut found = Vec::new();
        for (level, &stride) in STRIDES.iter().enumerate() {
            let cells = side / stride;
            let (scores, boxes, kps) = (&out[level], &out[level + 3], &out[level + 6]);
            let n = cells * cells * ANCHORS;
            if scores.len() != n || boxes.len() != 4 * n || kps.len() != 10 * n {
                return Err(DetectError::Inference {
                    which: "detector",
                    detail: format!(
                        "stride {stride}: expected {n} anchors, got {} scores, {} box and {} keypoint values",
                        scores.len(),
                        boxes.len(),
                        kps.len()
                    ),
                });
            }
            let s = stride as f32;
            for (i, &score) in scores.iter().enumerate() {
                if score.is_nan() || score < threshold {
                    continue;
                }
                let cell = i / ANCHORS;
                let cx = (cell % cells) as f32 * s;
                let cy = (cell / cells) as f32 * s;
                let d = &boxes[4 * i..4 * i + 4];
                let back = |v: f32, limit: f32| (v / letterbox.scale).clamp(0.0, limit);
                let x1 = back(cx - d[0] * s, img_w);
                let y1 = back(cy - d[1] * s, img_h);
                let x2 = back(cx + d[2] * s, img_w);
                let y2 = back(cy + d[3] * s, img_h);
                if x2 - x1 < min_face_px || y2 - y1 < min_face_px {
                    continue;
                }
                let k = &kps[10 * i..10 * i + 10];
                let mut points: Landmarks5 = [[0.0; 2]; 5];
                for (j, p) in points.iter_mut().enumerate() {
                    *p = [
                        (cx + k[2 * j] * s) / letterbox.scale,
                        (cy + k[2 * j + 1] * s) / letterbox.scale,
                    ];
                }
                found.push(FaceBox {
                    bbox: BBox {
                        x: x1,
                        y: y1,
                        width: x2 - x1,
                        height: y2 - y1,
                    },
                    confidence: score.clamp(0.0, 1.0),
                    keypoints: Some(points),
                });
            }
        }
        Ok(nms(found, nms_iou))
    }
}
