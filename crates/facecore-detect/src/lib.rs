//! Face detection and 5-point landmarks, in pure Rust with tract.
//!
//! Two ONNX models do the work:
//!
//! 1. **The detector** (Ultra-Light family, input 320×240). Its graph already
//!    decodes the 4,420 prior boxes, so its outputs are a face probability and a
//!    box (fractions of the input) per prior. We keep the priors whose probability
//!    reaches [`DetectorConfig::score_threshold`], map them to original-image
//!    pixels and run IoU non-maximum suppression sorted by score. (The graph's
//!    final two-class softmax is cut off and done here, in
//!    [`two_class_probability`]: tract spent more on it than on most
//!    convolutions.)
//! 2. **The landmark model** (68 points, iBUG order) on each face: the box made
//!    square (side = box height), moved inside the image, resized to 64×64 grey
//!    values divided by 256. The 68 points are reduced to 5: eye centres, nose tip
//!    and mouth corners ([`Landmarks5`]).
//!
//! # Small faces in large photos
//!
//! A 320×240 input cannot see a face smaller than about 10 detector pixels, so a
//! 60 px face in a 4000 px wide photo (5 detector pixels once the photo is shrunk)
//! is invisible to a single pass. When the image is more than
//! [`DetectorConfig::tile_scale`] × 1.25 times larger than the detector input, a
//! second pass covers the image with overlapping tiles of
//! `tile_scale × (320×240)` original pixels (so faces of about
//! `tile_scale × 16` px and up are found) with [`DetectorConfig::tile_overlap`]
//! overlap. A tile detection that touches an inner tile edge is dropped: the face
//! is cut there and is seen whole by a neighbouring tile or by the whole-image
//! pass. All detections of both passes then go through one NMS. The whole-image
//! pass resizes without keeping the aspect ratio (as the model was trained);
//! tiles keep the detector's 4:3 aspect.
//!
//! # Order
//!
//! Faces are returned **most dominant first**: sorted by `area × confidence`
//! (box area in original pixels), ties broken by confidence, then by position.
//! The first face is the one a user most likely means: the largest clear face.
//!
//! # Speed
//!
//! Both models are loaded through tract with its depthwise convolutions
//! swapped for those of [`facecore_tract`] (3–4× faster here, with the ReLU
//! after each one folded in). On our 2-core machine this took the detector
//! from about 10 to 6.5 ms and the landmark model from 2.0 to 1.1 ms per run
//! (`facecore-tract`'s `op-profile` example prints where the time goes per
//! operator).
//!
//! A [`Detector`] is `Send + Sync`: build it once and share it between threads.

use std::path::Path;
use std::sync::Arc;

use facecore_image::resize_region_bilinear;
use image::RgbImage;
use rayon::prelude::*;
use tract_onnx::prelude::*;

/// Width of the detector input, in pixels.
pub const DETECTOR_WIDTH: u32 = 320;
/// Height of the detector input, in pixels.
pub const DETECTOR_HEIGHT: u32 = 240;
/// Side of the landmark model's square input, in pixels.
pub const LANDMARK_SIZE: u32 = 64;

/// Errors of face detection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// A model could not be read, parsed or optimised.
    #[error("cannot load the {which} model: {detail}")]
    Model {
        /// Which model ("detector" or "landmark").
        which: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// Running a model failed (this points at a bug or a broken model file).
    #[error("{which} inference failed: {detail}")]
    Inference {
        /// Which model ("detector" or "landmark").
        which: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The image has no pixels.
    #[error("the image is empty (0 pixels)")]
    EmptyImage,
    /// A configuration value is out of range.
    #[error("invalid detector configuration: {0}")]
    Config(String),
}

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
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            score_threshold: 0.7,
            nms_iou: 0.3,
            tile_scale: 3.0,
            tile_overlap: 0.25,
            min_face_px: 8.0,
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
        Ok(())
    }
}

/// An axis-aligned box in original-image pixels (floating point).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

impl BBox {
    /// Area in square pixels.
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Intersection over union with another box (0 when disjoint).
    pub fn iou(&self, other: &BBox) -> f32 {
        let x1 = self.x.max(other.x);
        let y1 = self.y.max(other.y);
        let x2 = (self.x + self.width).min(other.x + other.width);
        let y2 = (self.y + self.height).min(other.y + other.height);
        let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The box rounded to whole pixels and clipped to a `width × height` image:
    /// `(x, y, w, h)` with `x + w <= width` and `y + h <= height`.
    pub fn to_pixels(&self, width: u32, height: u32) -> (u32, u32, u32, u32) {
        let x1 = self.x.round().clamp(0.0, width as f32) as u32;
        let y1 = self.y.round().clamp(0.0, height as f32) as u32;
        let x2 = (self.x + self.width).round().clamp(0.0, width as f32) as u32;
        let y2 = (self.y + self.height).round().clamp(0.0, height as f32) as u32;
        (x1, y1, x2.saturating_sub(x1), y2.saturating_sub(y1))
    }
}

/// A face found by the detector, before landmarks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    /// The box, clipped to the image, in original pixels.
    pub bbox: BBox,
    /// Face probability in [0, 1].
    pub confidence: f32,
}

impl FaceBox {
    /// The dominance used to order faces: `area × confidence`.
    pub fn dominance(&self) -> f32 {
        self.bbox.area() * self.confidence
    }
}

/// Five facial points in original-image pixels, in the order of the alignment
/// template: left eye, right eye, nose tip, left mouth corner, right mouth corner
/// ("left" = the viewer's left).
pub type Landmarks5 = [[f32; 2]; 5];

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

type Plan = Arc<TypedRunnableModel>;

/// The face detector and landmark model, optimised once. `Send + Sync`.
pub struct Detector {
    detect: Plan,
    /// Whether the detector plan returns logits (its softmax was cut off).
    detect_logits: bool,
    landmark: Plan,
    config: DetectorConfig,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("config", &self.config)
            .field("detect_logits", &self.detect_logits)
            .finish_non_exhaustive()
    }
}

/// Parses and optimises one model for a fixed input shape, with our
/// replacements of tract's 3×3 and 1×1 convolutions
/// ([`facecore_tract::replace_all`]). With
/// `strip_softmax`, a two-class softmax ending output 0 is cut off, so the
/// plan returns logits (see [`two_class_probability`]); the returned flag
/// says whether it was.
fn load_plan(
    which: &'static str,
    bytes: &[u8],
    shape: [usize; 4],
    strip_softmax: bool,
) -> Result<(Plan, bool), DetectError> {
    let err = |e: TractError| DetectError::Model {
        which,
        detail: format!("{e:#}"),
    };
    let mut reader = std::io::Cursor::new(bytes);
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut reader)
        .and_then(|m| m.with_input_fact(0, f32::fact(shape).into()))
        .and_then(|m| m.into_typed())
        .and_then(|m| m.into_decluttered())
        .map_err(err)?;
    facecore_tract::replace_all(&mut model).map_err(err)?;
    let logits = strip_softmax && strip_two_class_softmax(&mut model).map_err(err)?;
    let plan = model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(err)?;
    Ok((plan, logits))
}

/// Makes output 0 the input of its final softmax when that softmax runs
/// over a last axis of 2 classes. tract 0.23.9 took 0.45 ms for the
/// detector's `[1, 4420, 2]` softmax (row by row), more than most of its
/// convolutions; [`two_class_probability`] does it in microseconds.
fn strip_two_class_softmax(model: &mut TypedModel) -> TractResult<bool> {
    use tract_onnx::tract_core::ops::nn::{Softmax, SoftmaxKind};
    let mut outputs = model.output_outlets()?.to_vec();
    let Some(first) = outputs.first().copied() else {
        return Ok(false);
    };
    let node = model.node(first.node);
    let Some(softmax) = node.op_as::<Softmax>() else {
        return Ok(false);
    };
    let fact = model.outlet_fact(node.inputs[0])?;
    let rank = fact.rank();
    let two_classes = rank > 0 && fact.shape[rank - 1] == 2.to_dim();
    // `two_classes` first: it also guarantees `rank - 1` below is defined.
    if !two_classes
        || softmax.kind != SoftmaxKind::Softmax
        || softmax.quant_output_dt.is_some()
        || softmax.axes.as_slice() != [rank - 1]
        || fact.datum_type != f32::datum_type()
    {
        return Ok(false);
    }
    outputs[0] = node.inputs[0];
    model.select_output_outlets(&outputs)?;
    Ok(true)
}

/// The probability of class 1 from the logits `[l0, l1]` of a two-class
/// softmax: `e^l1 / (e^l0 + e^l1) = 1 / (1 + e^(l0 - l1))`.
pub fn two_class_probability(l0: f32, l1: f32) -> f32 {
    1.0 / (1.0 + (l0 - l1).exp())
}

impl Detector {
    /// Builds a detector from the bytes of the detector and landmark ONNX models.
    pub fn from_bytes(
        detector_onnx: &[u8],
        landmark_onnx: &[u8],
        config: DetectorConfig,
    ) -> Result<Self, DetectError> {
        config.validate()?;
        let (detect, detect_logits) = load_plan(
            "detector",
            detector_onnx,
            [1, 3, DETECTOR_HEIGHT as usize, DETECTOR_WIDTH as usize],
            true,
        )?;
        let (landmark, _) = load_plan(
            "landmark",
            landmark_onnx,
            [1, 1, LANDMARK_SIZE as usize, LANDMARK_SIZE as usize],
            false,
        )?;
        Ok(Self {
            detect,
            detect_logits,
            landmark,
            config,
        })
    }

    /// Builds a detector from two ONNX files.
    pub fn from_files(
        detector_onnx: &Path,
        landmark_onnx: &Path,
        config: DetectorConfig,
    ) -> Result<Self, DetectError> {
        let read = |which: &'static str, p: &Path| {
            std::fs::read(p).map_err(|e| DetectError::Model {
                which,
                detail: format!("{}: {e}", p.display()),
            })
        };
        Self::from_bytes(
            &read("detector", detector_onnx)?,
            &read("landmark", landmark_onnx)?,
            config,
        )
    }

    /// The configuration in use.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Detects faces and their landmarks, most dominant first.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Face>, DetectError> {
        let boxes = self.detect_boxes(image)?;
        boxes
            .iter()
            .map(|b| {
                Ok(Face {
                    bbox: b.bbox,
                    confidence: b.confidence,
                    landmarks: self.landmarks(image, &b.bbox)?,
                })
            })
            .collect()
    }

    /// The detection windows for an image: the whole image, then (for large
    /// images) overlapping tiles. See the crate docs.
    pub fn windows(&self, width: u32, height: u32) -> Vec<Window> {
        plan_windows(width, height, &self.config)
    }

    /// Detects face boxes (no landmarks), most dominant first.
    ///
    /// This is the one implementation of the detection step: it runs the
    /// detector on every window of [`Detector::windows`] in parallel on the
    /// current rayon pool (inside `ThreadPool::install`, the caller's pool),
    /// then merges the windows' boxes as the crate docs describe.
    pub fn detect_boxes(&self, image: &RgbImage) -> Result<Vec<FaceBox>, DetectError> {
        if image.width() == 0 || image.height() == 0 {
            return Err(DetectError::EmptyImage);
        }
        let windows = self.windows(image.width(), image.height());
        let results = windows
            .par_iter()
            .map(|w| Ok((*w, self.detect_window(image, w)?)))
            .collect::<Result<Vec<_>, DetectError>>()?;
        Ok(self.finish(results, image.width(), image.height()))
    }

    /// Runs the detector on one window and returns its candidates (after NMS
    /// within the window), in original pixels; [`Detector::finish`] merges
    /// the candidates of all windows.
    fn detect_window(
        &self,
        image: &RgbImage,
        window: &Window,
    ) -> Result<Vec<FaceBox>, DetectError> {
        if image.width() == 0 || image.height() == 0 || window.width == 0 || window.height == 0 {
            return Err(DetectError::EmptyImage);
        }
        // Point-sampled bilinear, as the model's reference recipe: on
        // faces-dev it gives a higher ROC AUC than area averaging, and
        // textures score lower (0.52 against 0.77).
        let region = (window.x, window.y, window.width, window.height);
        let small = resize_region_bilinear(image, region, DETECTOR_WIDTH, DETECTOR_HEIGHT);
        let input = rgb_to_nchw(&small, 127.0, 1.0 / 128.0);
        let out = self
            .detect
            .run(tvec!(input.into()))
            .map_err(|e| inference("detector", e))?;
        let scores = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| inference("detector", e))?;
        let boxes = out[1]
            .to_plain_array_view::<f32>()
            .map_err(|e| inference("detector", e))?;
        let n = scores.len() / 2;
        let scores = scores.as_slice().unwrap_or(&[]);
        let boxes = boxes.as_slice().unwrap_or(&[]);
        if scores.len() != n * 2 || boxes.len() != n * 4 {
            return Err(DetectError::Inference {
                which: "detector",
                detail: format!(
                    "unexpected output sizes {} and {}",
                    scores.len(),
                    boxes.len()
                ),
            });
        }
        let (wx, wy) = (window.x as f32, window.y as f32);
        let (ww, wh) = (window.width as f32, window.height as f32);
        let (img_w, img_h) = (image.width() as f32, image.height() as f32);
        let mut found = Vec::new();
        for i in 0..n {
            let score = self.face_probability(scores, i);
            if score.is_nan() || score < self.config.score_threshold {
                continue;
            }
            let b = &boxes[4 * i..4 * i + 4];
            let x1 = (wx + b[0] * ww).clamp(0.0, img_w);
            let y1 = (wy + b[1] * wh).clamp(0.0, img_h);
            let x2 = (wx + b[2] * ww).clamp(0.0, img_w);
            let y2 = (wy + b[3] * wh).clamp(0.0, img_h);
            if window.is_tile {
                // A face cut by an inner tile edge is seen whole elsewhere.
                let margin = 2.0;
                let cut = (window.x > 0 && x1 <= wx + margin)
                    || (window.y > 0 && y1 <= wy + margin)
                    || (window.x + window.width < image.width() && x2 >= wx + ww - margin)
                    || (window.y + window.height < image.height() && y2 >= wy + wh - margin);
                if cut {
                    continue;
                }
            }
            if x2 - x1 < self.config.min_face_px || y2 - y1 < self.config.min_face_px {
                continue;
            }
            found.push(FaceBox {
                bbox: BBox {
                    x: x1,
                    y: y1,
                    width: x2 - x1,
                    height: y2 - y1,
                },
                confidence: score.clamp(0.0, 1.0),
            });
        }
        Ok(nms(found, self.config.nms_iou))
    }

    /// The face probability of prior `i` from the detector's first output
    /// (probabilities, or logits when the softmax was cut off).
    fn face_probability(&self, scores: &[f32], i: usize) -> f32 {
        if self.detect_logits {
            two_class_probability(scores[2 * i], scores[2 * i + 1])
        } else {
            scores[2 * i + 1]
        }
    }

    /// Merges the results of all windows and sorts them by dominance.
    ///
    /// The whole-image pass is authoritative: tiles only add faces that are
    /// too small for it (under [`TILE_FACE_LIMIT`] detector pixels at the
    /// whole-image scale) and that do not overlap a face it found. (Letting a
    /// tile's box of a large face replace the whole-image box measurably
    /// lowers recognition accuracy: the model's boxes are best at the scale
    /// it sees the face whole.)
    fn finish(
        &self,
        results: Vec<(Window, Vec<FaceBox>)>,
        width: u32,
        height: u32,
    ) -> Vec<FaceBox> {
        let scale = f32::max(
            width as f32 / DETECTOR_WIDTH as f32,
            height as f32 / DETECTOR_HEIGHT as f32,
        );
        let (tiles, whole): (Vec<_>, Vec<_>) = results.into_iter().partition(|(w, _)| w.is_tile);
        let mut kept = nms(
            whole.into_iter().flat_map(|(_, b)| b).collect(),
            self.config.nms_iou,
        );
        let small: Vec<FaceBox> = tiles
            .into_iter()
            .flat_map(|(_, b)| b)
            .filter(|b| b.bbox.width.max(b.bbox.height) < TILE_FACE_LIMIT * scale)
            .filter(|b| {
                kept.iter()
                    .all(|k| overlap_of_smaller(&k.bbox, &b.bbox) < 0.3)
            })
            .collect();
        kept.extend(nms(small, self.config.nms_iou));
        sort_by_dominance(&mut kept);
        kept
    }

    /// Runs the landmark model on one face box and returns its 5 points.
    pub fn landmarks(&self, image: &RgbImage, bbox: &BBox) -> Result<Landmarks5, DetectError> {
        let (x, y, side) =
            landmark_crop(bbox, image.width(), image.height()).ok_or(DetectError::EmptyImage)?;
        let small =
            resize_region_bilinear(image, (x, y, side, side), LANDMARK_SIZE, LANDMARK_SIZE);
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
        let p = |i: usize| [x as f32 + pts[2 * i] * s, y as f32 + pts[2 * i + 1] * s];
        Ok(reduce_68_to_5(&p))
    }

    /// Runs the raw detector on a prepared `[1, 3, 240, 320]` input (flattened,
    /// row-major) and returns `(scores, boxes)` flattened. For numerical checks
    /// against a reference.
    pub fn run_detector_raw(&self, input: &[f32]) -> Result<(Vec<f32>, Vec<f32>), DetectError> {
        let input = raw_tensor(
            "detector",
            input,
            [1, 3, DETECTOR_HEIGHT as usize, DETECTOR_WIDTH as usize],
        )?;
        let out = self
            .detect
            .run(tvec!(input.into()))
            .map_err(|e| inference("detector", e))?;
        let get = |i: usize| -> Result<Vec<f32>, DetectError> {
            Ok(out[i]
                .to_plain_array_view::<f32>()
                .map_err(|e| inference("detector", e))?
                .iter()
                .copied()
                .collect())
        };
        let mut scores = get(0)?;
        if self.detect_logits {
            for pair in scores.chunks_exact_mut(2) {
                let (l0, l1) = (pair[0], pair[1]);
                pair[0] = two_class_probability(l1, l0);
                pair[1] = two_class_probability(l0, l1);
            }
        }
        Ok((scores, get(1)?))
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

fn raw_tensor(which: &'static str, data: &[f32], shape: [usize; 4]) -> Result<Tensor, DetectError> {
    tract_ndarray::Array4::from_shape_vec((shape[0], shape[1], shape[2], shape[3]), data.to_vec())
        .map(Tensor::from)
        .map_err(|e| DetectError::Inference {
            which,
            detail: format!(
                "input must have {} values: {e}",
                shape.iter().product::<usize>()
            ),
        })
}

fn inference(which: &'static str, e: TractError) -> DetectError {
    DetectError::Inference {
        which,
        detail: format!("{e:#}"),
    }
}

/// A region of the image the detector runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Left edge in original pixels.
    pub x: u32,
    /// Top edge in original pixels.
    pub y: u32,
    /// Width in original pixels.
    pub width: u32,
    /// Height in original pixels.
    pub height: u32,
    /// `false` for the whole-image pass, `true` for a tile.
    pub is_tile: bool,
}

/// Splits `len` into windows of `tile` with at least `overlap` between them;
/// returns their start offsets (first 0, last `len - tile`).
fn tile_starts(len: u32, tile: u32, overlap: f32) -> Vec<u32> {
    if tile >= len {
        return vec![0];
    }
    let stride = ((tile as f32) * (1.0 - overlap)).max(1.0);
    let count = (((len - tile) as f32) / stride).ceil() as u32 + 1;
    let span = (len - tile) as f32;
    (0..count)
        .map(|i| ((span * i as f32) / (count - 1) as f32).round() as u32)
        .collect()
}

fn plan_windows(width: u32, height: u32, config: &DetectorConfig) -> Vec<Window> {
    let mut windows = vec![Window {
        x: 0,
        y: 0,
        width,
        height,
        is_tile: false,
    }];
    let scale = f32::max(
        width as f32 / DETECTOR_WIDTH as f32,
        height as f32 / DETECTOR_HEIGHT as f32,
    );
    if config.tile_scale >= 1.0 && scale > config.tile_scale * 1.25 {
        let tw = ((DETECTOR_WIDTH as f32 * config.tile_scale).round() as u32).min(width);
        let th = ((DETECTOR_HEIGHT as f32 * config.tile_scale).round() as u32).min(height);
        for y in tile_starts(height, th, config.tile_overlap) {
            for x in tile_starts(width, tw, config.tile_overlap) {
                windows.push(Window {
                    x,
                    y,
                    width: tw,
                    height: th,
                    is_tile: true,
                });
            }
        }
    }
    windows
}

/// Faces at least this many detector pixels wide at the whole-image scale are
/// left to the whole-image pass; tiles only add smaller ones.
pub const TILE_FACE_LIMIT: f32 = 40.0;

/// Intersection area divided by the area of the smaller box.
fn overlap_of_smaller(a: &BBox, b: &BBox) -> f32 {
    let x1 = a.x.max(b.x);
    let y1 = a.y.max(b.y);
    let x2 = (a.x + a.width).min(b.x + b.width);
    let y2 = (a.y + a.height).min(b.y + b.height);
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    let smaller = a.area().min(b.area());
    if smaller <= 0.0 { 0.0 } else { inter / smaller }
}

/// Greedy IoU non-maximum suppression: highest confidence first.
pub fn nms(mut boxes: Vec<FaceBox>, iou: f32) -> Vec<FaceBox> {
    boxes.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let mut kept: Vec<FaceBox> = Vec::with_capacity(boxes.len().min(64));
    for b in boxes {
        if kept.iter().all(|k| k.bbox.iou(&b.bbox) <= iou) {
            kept.push(b);
        }
    }
    kept
}

/// Sorts faces most dominant first (`area × confidence`, then confidence, then
/// top-left position, so the order is deterministic).
pub fn sort_by_dominance(faces: &mut [FaceBox]) {
    faces.sort_by(|a, b| {
        b.dominance()
            .total_cmp(&a.dominance())
            .then(b.confidence.total_cmp(&a.confidence))
            .then(a.bbox.y.total_cmp(&b.bbox.y))
            .then(a.bbox.x.total_cmp(&b.bbox.x))
    });
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

/// Packs an RGB image into a `[1, 3, h, w]` tensor with `(v - mean) * scale`.
pub fn rgb_to_nchw(img: &RgbImage, mean: f32, scale: f32) -> Tensor {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let plane = w * h;
    let mut data = vec![0f32; 3 * plane];
    for (i, px) in img.pixels().enumerate() {
        data[i] = (px[0] as f32 - mean) * scale;
        data[plane + i] = (px[1] as f32 - mean) * scale;
        data[2 * plane + i] = (px[2] as f32 - mean) * scale;
    }
    tract_ndarray::Array4::from_shape_vec((1, 3, h, w), data)
        .map(Tensor::from)
        .unwrap_or_else(|_| Tensor::from(tract_ndarray::Array4::<f32>::zeros((1, 3, h, w))))
}

/// Packs an RGB image as grey (`0.299 R + 0.587 G + 0.114 B`, rounded) into a
/// `[1, 1, h, w]` tensor divided by 256, as the landmark model expects.
pub fn gray_to_nchw(img: &RgbImage) -> Tensor {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let data: Vec<f32> = img
        .pixels()
        .map(|p| {
            let g = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
            g.round() / 256.0
        })
        .collect();
    tract_ndarray::Array4::from_shape_vec((1, 1, h, w), data)
        .map(Tensor::from)
        .unwrap_or_else(|_| Tensor::from(tract_ndarray::Array4::<f32>::zeros((1, 1, h, w))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fb(x: f32, y: f32, w: f32, h: f32, c: f32) -> FaceBox {
        FaceBox {
            bbox: BBox {
                x,
                y,
                width: w,
                height: h,
            },
            confidence: c,
        }
    }

    #[test]
    fn iou_of_identical_and_disjoint_boxes() {
        let a = fb(0.0, 0.0, 10.0, 10.0, 1.0).bbox;
        let b = fb(20.0, 20.0, 10.0, 10.0, 1.0).bbox;
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&b), 0.0);
        let c = fb(5.0, 0.0, 10.0, 10.0, 1.0).bbox;
        assert!((a.iou(&c) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn nms_keeps_the_strongest_of_overlapping_boxes() {
        let kept = nms(
            vec![
                fb(0.0, 0.0, 10.0, 10.0, 0.8),
                fb(1.0, 1.0, 10.0, 10.0, 0.9),
                fb(50.0, 50.0, 10.0, 10.0, 0.75),
            ],
            0.3,
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].confidence, 0.9);
        assert_eq!(kept[1].confidence, 0.75);
    }

    #[test]
    fn dominance_prefers_large_clear_faces() {
        let mut faces = vec![
            fb(0.0, 0.0, 10.0, 10.0, 0.99),
            fb(0.0, 0.0, 100.0, 100.0, 0.8),
            fb(0.0, 0.0, 50.0, 50.0, 0.99),
        ];
        sort_by_dominance(&mut faces);
        assert_eq!(faces[0].bbox.width, 100.0);
        assert_eq!(faces[1].bbox.width, 50.0);
        assert_eq!(faces[2].bbox.width, 10.0);
    }

    #[test]
    fn windows_cover_large_images_with_overlapping_tiles() {
        let cfg = DetectorConfig::default();
        assert_eq!(plan_windows(640, 480, &cfg).len(), 1);
        let w = plan_windows(4000, 3000, &cfg);
        assert!(w.len() > 1);
        assert!(!w[0].is_tile);
        for t in &w[1..] {
            assert_eq!((t.width, t.height), (960, 720));
            assert!(t.x + t.width <= 4000 && t.y + t.height <= 3000);
        }
        // every pixel is inside some tile, and neighbours overlap by >= 25%
        let xs = tile_starts(4000, 960, 0.25);
        assert_eq!(xs[0], 0);
        assert_eq!(*xs.last().unwrap_or(&0), 4000 - 960);
        for pair in xs.windows(2) {
            assert!(pair[1] - pair[0] <= 720);
        }
        let off = DetectorConfig {
            tile_scale: 0.0,
            ..cfg
        };
        assert_eq!(plan_windows(4000, 3000, &off).len(), 1);
    }

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

    #[test]
    fn pixels_are_clipped_to_the_image() {
        let b = BBox {
            x: -3.4,
            y: 5.6,
            width: 200.0,
            height: 10.0,
        };
        assert_eq!(b.to_pixels(100, 50), (0, 6, 100, 10));
    }

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
    }
}
