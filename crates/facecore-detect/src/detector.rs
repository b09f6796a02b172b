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

/// The zooms of the letterboxed rescue passes ([`Detector::rescue_boxes`]):
/// 1 makes the image as large as the input allows, 1.6 leaves a grey margin
/// around it.
pub const RESCUE_ZOOMS: [f32; 2] = [1.0, 1.6];

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

    /// Runs the detector on a prepared 320×240 input and returns the priors
    /// whose face probability reaches `threshold`: `(probability, [x1, y1,
    /// x2, y2])` with the box in fractions of the input.
    fn candidates(
        &self,
        small: &RgbImage,
        threshold: f32,
    ) -> Result<Vec<(f32, [f32; 4])>, DetectError> {
        let input = rgb_to_nchw(small, 127.0, 1.0 / 128.0);
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
        let mut found = Vec::new();
        for i in 0..n {
            let score = self.face_probability(scores, i);
            if score.is_nan() || score < threshold {
                continue;
            }
            let b = &boxes[4 * i..4 * i + 4];
            found.push((score.clamp(0.0, 1.0), [b[0], b[1], b[2], b[3]]));
        }
        Ok(found)
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
        let (wx, wy) = (window.x as f32, window.y as f32);
        let (ww, wh) = (window.width as f32, window.height as f32);
        let (img_w, img_h) = (image.width() as f32, image.height() as f32);
        let mut found = Vec::new();
        for (score, b) in self.candidates(&small, self.config.score_threshold)? {
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
            if let Some(face) = self.face_box(score, [x1, y1, x2, y2]) {
                found.push(face);
            }
        }
        Ok(nms(found, self.config.nms_iou))
    }

    /// A face box from corners in original pixels, or `None` when it is
    /// smaller than [`DetectorConfig::min_face_px`].
    fn face_box(&self, confidence: f32, [x1, y1, x2, y2]: [f32; 4]) -> Option<FaceBox> {
        if x2 - x1 < self.config.min_face_px || y2 - y1 < self.config.min_face_px {
            return None;
        }
        Some(FaceBox {
            bbox: BBox {
                x: x1,
                y: y1,
                width: x2 - x1,
                height: y2 - y1,
            },
            confidence,
            keypoints: None,
        })
    }

    /// The rescue passes, for an image in which the ordinary passes found no
    /// face that passed verification (the `facecore` engine runs them only
    /// then): the whole image **letterboxed** (its aspect ratio kept, the
    /// rest of the 320×240 input mid-grey) at each of
    /// [`RESCUE_ZOOMS`] (1 fills the input's width or height; 1.6 shrinks
    /// the image further, so a face filling most of a close-up fits the
    /// detector's largest prior boxes), at the lower
    /// [`DetectorConfig::rescue_threshold`]. The boxes of all passes go
    /// through one NMS and come most dominant first. Empty when the rescue
    /// is off (`rescue_threshold` 0).
    ///
    /// The ordinary whole-image pass stretches the image to 4:3, as the
    /// model was trained; a portrait or square photo then squashes the face
    /// (a 404×604 portrait becomes 2× wider than tall) and the detector can
    /// miss it or box it badly. These passes see it undistorted. Their
    /// detections are mostly below the verification confidence, so the
    /// engine checks them by their embedding like any doubtful detection.
    pub fn rescue_boxes(&self, image: &RgbImage) -> Result<Vec<FaceBox>, DetectError> {
        if image.width() == 0 || image.height() == 0 {
            return Err(DetectError::EmptyImage);
        }
        // SCRFD runs its own second pass (see `Detector::detect_boxes`).
        if self.config.rescue_threshold <= 0.0 || self.gives_keypoints() {
            return Ok(Vec::new());
        }
        let found = RESCUE_ZOOMS
            .par_iter()
            .map(|&zoom| self.detect_letterboxed(image, zoom))
            .collect::<Result<Vec<_>, DetectError>>()?;
        let mut kept = nms(found.into_iter().flatten().collect(), self.config.nms_iou);
        sort_by_dominance(&mut kept);
        Ok(kept)
    }

    /// One letterboxed pass at `zoom` (see [`Detector::rescue_boxes`]).
    fn detect_letterboxed(&self, image: &RgbImage, zoom: f32) -> Result<Vec<FaceBox>, DetectError> {
        let (w, h) = (image.width() as f32, image.height() as f32);
        // Original pixels per detector pixel.
        let scale = f32::max(w / DETECTOR_WIDTH as f32, h / DETECTOR_HEIGHT as f32) * zoom;
        let cw = ((w / scale).round() as u32).clamp(1, DETECTOR_WIDTH);
        let ch = ((h / scale).round() as u32).clamp(1, DETECTOR_HEIGHT);
        let (ox, oy) = ((DETECTOR_WIDTH - cw) / 2, (DETECTOR_HEIGHT - ch) / 2);
        let content = resize_region_bilinear(image, (0, 0, image.width(), image.height()), cw, ch);
        // Mid-grey is 0 after the detector's normalisation.
        let mut input = RgbImage::from_pixel(DETECTOR_WIDTH, DETECTOR_HEIGHT, image::Rgb([127; 3]));
        image::imageops::replace(&mut input, &content, i64::from(ox), i64::from(oy));
        // Detector pixels → original pixels (the content's own scale, so
        // that rounding its size does not shift the boxes).
        let (sx, sy) = (w / cw as f32, h / ch as f32);
        let to_x = |f: f32| ((f * DETECTOR_WIDTH as f32 - ox as f32) * sx).clamp(0.0, w);
        let to_y = |f: f32| ((f * DETECTOR_HEIGHT as f32 - oy as f32) * sy).clamp(0.0, h);
        let found = self
            .candidates(&input, self.config.rescue_threshold)?
            .into_iter()
            .filter_map(|(score, b)| {
                self.face_box(score, [to_x(b[0]), to_y(b[1]), to_x(b[2]), to_y(b[3])])
            })
            .collect();
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
