//! The [`Detector`]: both models loaded once, and the detection step run on
//! an image's windows.

use std::path::Path;

use facecore_image::resize_region_bilinear;
use image::RgbImage;
use rayon::prelude::*;
use tract_onnx::prelude::*;

use crate::boxes::{nms, sort_by_dominance};
use crate::model::{Plan, inference, load_plan, raw_tensor, two_class_probability};
use crate::scrfd::{SCRFD_NMS_IOU, SCRFD_SCORE_THRESHOLD, Scrfd};
use crate::tensor::rgb_to_nchw;
use crate::windows::{merge_windows, plan_windows};
use crate::{BBox, DetectError, DetectorConfig, Face, FaceBox, LANDMARK_SIZE, Window};

/// Width of the detector input, in pixels.
pub const DETECTOR_WIDTH: u32 = 320;
/// Height of the detector input, in pixels.
pub const DETECTOR_HEIGHT: u32 = 240;

/// The detection model of a [`Detector`].
enum Backend {
    /// The Ultra-Light detector: boxes only, run on windows of the image.
    UltraFace {
        /// Its plan.
        plan: Plan,
        /// Whether the plan returns logits (its softmax was cut off).
        logits: bool,
    },
    /// SCRFD: boxes with five keypoints, on the letterboxed image.
    Scrfd(Scrfd),
}

/// The face detector and landmark model, optimised once. `Send + Sync`.
pub struct Detector {
    detect: Backend,
    /// The landmark model's plan (run in the `landmarks` module).
    pub(crate) landmark: Plan,
    config: DetectorConfig,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, logits) = match &self.detect {
            Backend::UltraFace { logits, .. } => ("ultraface", *logits),
            Backend::Scrfd(_) => ("scrfd", false),
        };
        f.debug_struct("Detector")
            .field("kind", &kind)
            .field("config", &self.config)
            .field("detect_logits", &logits)
            .finish_non_exhaustive()
    }
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
        Self::with_landmarks(
            Backend::UltraFace {
                plan: detect,
                logits: detect_logits,
            },
            landmark_onnx,
            config,
        )
    }

    /// A detector of `detect` with the 68-point landmark model's plan.
    fn with_landmarks(
        detect: Backend,
        landmark_onnx: &[u8],
        config: DetectorConfig,
    ) -> Result<Self, DetectError> {
        let (landmark, _) = load_plan(
            "landmark",
            landmark_onnx,
            [1, 1, LANDMARK_SIZE as usize, LANDMARK_SIZE as usize],
            false,
        )?;
        Ok(Self {
            detect,
            landmark,
            config,
        })
    }

    /// Builds a detector from the bytes of an SCRFD model (boxes with five
    /// keypoints, `kind: scrfd` in the manifest) and the 68-point landmark
    /// model, which then serves only [`Detector::landmarks68`] and boxes
    /// given without keypoints. SCRFD's own score threshold and NMS apply
    /// ([`SCRFD_SCORE_THRESHOLD`], [`SCRFD_NMS_IOU`]); of `config`, only
    /// `min_face_px` does.
    pub fn scrfd_from_bytes(
        scrfd_onnx: &[u8],
        landmark_onnx: &[u8],
        config: DetectorConfig,
    ) -> Result<Self, DetectError> {
        config.validate()?;
        Self::with_landmarks(
            Backend::Scrfd(Scrfd::from_bytes(scrfd_onnx)?),
            landmark_onnx,
            config,
        )
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
        if let Backend::Scrfd(scrfd) = &self.detect {
            let mut faces = scrfd.detect(
                image,
                SCRFD_SCORE_THRESHOLD,
                SCRFD_NMS_IOU,
                self.config.min_face_px,
            )?;
            sort_by_dominance(&mut faces);
            return Ok(faces);
        }
        let windows = self.windows(image.width(), image.height());
        let results = windows
            .par_iter()
            .map(|w| Ok((*w, self.detect_window(image, w)?)))
            .collect::<Result<Vec<_>, DetectError>>()?;
        Ok(merge_windows(
            results,
            image.width(),
            image.height(),
            self.config.nms_iou,
        ))
    }

    /// Runs the detector on one window and returns its candidates (after NMS
    /// within the window), in original pixels; [`merge_windows`] merges the
    /// candidates of all windows.
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
            .ultraface()?
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
                keypoints: None,
            });
        }
        Ok(nms(found, self.config.nms_iou))
    }

    /// The face probability of prior `i` from the detector's first output
    /// (probabilities, or logits when the softmax was cut off).
    fn face_probability(&self, scores: &[f32], i: usize) -> f32 {
        if self.logits() {
            two_class_probability(scores[2 * i], scores[2 * i + 1])
        } else {
            scores[2 * i + 1]
        }
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
            .ultraface()?
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
        if self.logits() {
            for pair in scores.chunks_exact_mut(2) {
                let (l0, l1) = (pair[0], pair[1]);
                pair[0] = two_class_probability(l1, l0);
                pair[1] = two_class_probability(l0, l1);
            }
        }
        Ok((scores, get(1)?))
    }

    /// Runs the SCRFD model on a prepared `[1, 3, 640, 640]` input
    /// (flattened, row-major) and returns its nine outputs flattened, in
    /// the model's order (scores, boxes, keypoints; strides 8, 16, 32). For
    /// numerical checks against a reference; an error for an Ultra-Light
    /// detector.
    pub fn run_scrfd_raw(&self, input: &[f32]) -> Result<Vec<Vec<f32>>, DetectError> {
        match &self.detect {
            Backend::Scrfd(scrfd) => scrfd.run_raw(input),
            Backend::UltraFace { .. } => Err(DetectError::Config(
                "this detector is not an SCRFD model".into(),
            )),
        }
    }

    /// Whether boxes come with their five keypoints (SCRFD).
    pub fn gives_keypoints(&self) -> bool {
        matches!(self.detect, Backend::Scrfd(_))
    }

    fn ultraface(&self) -> Result<&Plan, DetectError> {
        match &self.detect {
            Backend::UltraFace { plan, .. } => Ok(plan),
            Backend::Scrfd(_) => Err(DetectError::Config(
                "this detector is an SCRFD model, which runs on the whole image".into(),
            )),
        }
    }

    fn logits(&self) -> bool {
        matches!(self.detect, Backend::UltraFace { logits: true, .. })
    }
}
