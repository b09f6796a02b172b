//! The checker: cheap geometric checks first, then the eye model, then the
//! liveness model, stopping at the first failure.

use std::time::{Duration, Instant};

use facecore_detect::{BBox, Face, FaceBox, Landmarks68};
use image::RgbImage;

use crate::{EyeModel, LivenessConfig, LivenessError, LivenessModel};

/// A head pose in degrees, as a pose model estimates it (the caller supplies
/// it, or a way to estimate it: this crate has no pose model).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// Left-right turn.
    pub yaw: f32,
    /// Up-down nod.
    pub pitch: f32,
    /// In-plane tilt.
    pub roll: f32,
}

/// Why a check failed: the stable codes of the Face Search API's
/// `ERR_LIVENESS_ERROR` (`metadata.code`).
///
/// `FACE_IS_OCCLUDED` is not among them: none of the models has an
/// occlusion signal, so it is never reported (sunglasses tend to read as
/// closed eyes, a hand over the mouth goes unseen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LivenessCode {
    /// No face was detected.
    FaceNotFound,
    /// More than one face of comparable size.
    TooManyFaces,
    /// The face runs off the image.
    FaceCropped,
    /// The face is nearly touching an image edge.
    FaceCloseToBorder,
    /// The face is too small for the model to judge.
    FaceTooSmall,
    /// The face fills so much of the image that the model's context crop
    /// does not fit.
    FaceTooClose,
    /// The supplied head pose is beyond the limits.
    FaceAngleTooLarge,
    /// Both eyes are closed.
    EyesClosed,
    /// The liveness model judged the face a presentation attack.
    FaceNotLive,
}

impl LivenessCode {
    /// The code as the API writes it (`FACE_NOT_LIVE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FaceNotFound => "FACE_NOT_FOUND",
            Self::TooManyFaces => "TOO_MANY_FACES",
            Self::FaceCropped => "FACE_CROPPED",
            Self::FaceCloseToBorder => "FACE_CLOSE_TO_BORDER",
            Self::FaceTooSmall => "FACE_TOO_SMALL",
            Self::FaceTooClose => "FACE_TOO_CLOSE",
            Self::FaceAngleTooLarge => "FACE_ANGLE_TOO_LARGE",
            Self::EyesClosed => "EYES_CLOSED",
            Self::FaceNotLive => "FACE_NOT_LIVE",
        }
    }

    /// Every code, in the order the checks run.
    pub const ALL: [LivenessCode; 9] = [
        Self::FaceNotFound,
        Self::TooManyFaces,
        Self::FaceCropped,
        Self::FaceCloseToBorder,
        Self::FaceTooSmall,
        Self::FaceTooClose,
        Self::FaceAngleTooLarge,
        Self::EyesClosed,
        Self::FaceNotLive,
    ];
}

impl std::fmt::Display for LivenessCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One detected face as the checker sees it: its box and confidence, and
/// its 68 landmarks when the caller ran the landmark model on it (the eye
/// check needs them for the dominant face; other faces need only a box).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceObservation {
    /// The box, clipped to the image, in original pixels.
    pub bbox: BBox,
    /// Detection confidence in [0, 1].
    pub confidence: f32,
    /// The 68 landmark points, if computed.
    pub landmarks68: Option<Landmarks68>,
}

impl From<&Face> for FaceObservation {
    fn from(f: &Face) -> Self {
        Self {
            bbox: f.bbox,
            confidence: f.confidence,
            landmarks68: None,
        }
    }
}

impl From<&FaceBox> for FaceObservation {
    fn from(f: &FaceBox) -> Self {
        Self {
            bbox: f.bbox,
            confidence: f.confidence,
            landmarks68: None,
        }
    }
}

/// Time spent per kind of check.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CheckTimings {
    /// Count, size, border, crop and angle checks.
    pub geometry: Duration,
    /// Estimating the pose, when [`LivenessChecker::check_with`] was given
    /// a way to.
    pub pose: Duration,
    /// The eye model (both eyes).
    pub eyes: Duration,
    /// The liveness model.
    pub model: Duration,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct LivenessVerdict {
    /// The first check that failed, or `None` for a live face.
    pub code: Option<LivenessCode>,
    /// Index in the given faces of the face that was checked.
    pub face: Option<usize>,
    /// The liveness model's live probability, when it ran.
    pub live_probability: Option<f32>,
    /// Closed probabilities of the (viewer's) left and right eye, when the
    /// eye model ran.
    pub eyes_closed: Option<[f32; 2]>,
    /// Whether a pose was supplied (without one the angle is not checked).
    pub angle_checked: bool,
    /// Whether the eyes were checked (they need 68 landmarks).
    pub eyes_checked: bool,
    /// Where the time went.
    pub timings: CheckTimings,
}

impl LivenessVerdict {
    /// Whether every check passed.
    pub fn is_live(&self) -> bool {
        self.code.is_none()
    }
}

/// The liveness check: both models, optimised once, and the thresholds.
/// `Send + Sync`.
#[derive(Debug)]
pub struct LivenessChecker {
    liveness: LivenessModel,
    eyes: EyeModel,
    config: LivenessConfig,
}

impl LivenessChecker {
    /// Builds a checker from the bytes of `fr_liveness.onnx` and `fr_eye.onnx`.
    pub fn from_bytes(
        liveness_onnx: &[u8],
        eye_onnx: &[u8],
        config: LivenessConfig,
    ) -> Result<Self, LivenessError> {
        config.validate()?;
        Ok(Self {
            liveness: LivenessModel::from_bytes(liveness_onnx)?,
            eyes: EyeModel::from_bytes(eye_onnx)?,
            config,
        })
    }

    /// The thresholds in use.
    pub fn config(&self) -> &LivenessConfig {
        &self.config
    }

    /// The liveness model (for raw runs and benchmarks).
    pub fn liveness_model(&self) -> &LivenessModel {
        &self.liveness
    }

    /// The eye model (for raw runs and benchmarks).
    pub fn eye_model(&self) -> &EyeModel {
        &self.eyes
    }

    /// Checks that an image shows one live face.
    ///
    /// `faces` are the image's detections, most dominant first (as
    /// `facecore-detect` returns them); the first is the one checked, and
    /// its `landmarks68` enable the eye check. `pose` enables the angle
    /// check. The checks run in the order of [`LivenessCode::ALL`] and stop
    /// at the first failure, so the liveness model only runs on a face that
    /// passed every cheap check.
    pub fn check(
        &self,
        image: &RgbImage,
        faces: &[FaceObservation],
        pose: Option<Pose>,
    ) -> Result<LivenessVerdict, LivenessError> {
        self.check_with(image, faces, |_| Ok::<_, LivenessError>(pose))
    }

    /// [`LivenessChecker::check`] with the pose estimated on demand:
    /// `pose_of` is called with the dominant face only once the count, crop,
    /// border, size and closeness checks have passed (a pose model costs
    /// more than all of them), and its `None` leaves the angle unchecked.
    /// Its error ends the check.
    pub fn check_with<E: From<LivenessError>>(
        &self,
        image: &RgbImage,
        faces: &[FaceObservation],
        pose_of: impl FnOnce(&FaceObservation) -> Result<Option<Pose>, E>,
    ) -> Result<LivenessVerdict, E> {
        if image.width() == 0 || image.height() == 0 {
            return Err(LivenessError::EmptyImage.into());
        }
        let start = Instant::now();
        let mut verdict = LivenessVerdict {
            code: None,
            face: (!faces.is_empty()).then_some(0),
            live_probability: None,
            eyes_closed: None,
            angle_checked: false,
            eyes_checked: false,
            timings: CheckTimings::default(),
        };
        let placed = self.placement(image, faces);
        verdict.timings.geometry = start.elapsed();
        let face = match placed {
            Err(code) => {
                verdict.code = Some(code);
                return Ok(verdict);
            }
            Ok(face) => face,
        };

        let t = Instant::now();
        let pose = pose_of(face)?;
        verdict.timings.pose = t.elapsed();
        if let Some(p) = pose {
            verdict.angle_checked = true;
            if !self.angle_within_limits(p) {
                verdict.code = Some(LivenessCode::FaceAngleTooLarge);
                return Ok(verdict);
            }
        }

        if let Some(points) = &face.landmarks68 {
            let t = Instant::now();
            let closed = self
                .eyes
                .closed_probabilities(image, points)
                .map_err(E::from)?;
            verdict.timings.eyes = t.elapsed();
            verdict.eyes_closed = closed;
            verdict.eyes_checked = closed.is_some();
            if let Some([l, r]) = closed {
                let limit = self.config.eyes_closed_probability;
                if l >= limit && r >= limit {
                    verdict.code = Some(LivenessCode::EyesClosed);
                    return Ok(verdict);
                }
            }
        }

        let t = Instant::now();
        let (live, _) = self
            .liveness
            .live_probability(image, &face.bbox)
            .map_err(E::from)?;
        verdict.timings.model = t.elapsed();
        verdict.live_probability = Some(live);
        // A NaN probability is not live.
        if live.is_nan() || live < self.config.min_live_probability {
            verdict.code = Some(LivenessCode::FaceNotLive);
        }
        Ok(verdict)
    }

    /// The cheap checks of where the face is, in order: the face to go on
    /// with, or the code of the first failure.
    fn placement<'f>(
        &self,
        image: &RgbImage,
        faces: &'f [FaceObservation],
    ) -> Result<&'f FaceObservation, LivenessCode> {
        let c = &self.config;
        let face = faces.first().ok_or(LivenessCode::FaceNotFound)?;
        let b = face.bbox;
        if faces[1..]
            .iter()
            .any(|o| o.bbox.height >= c.other_face_ratio * b.height)
        {
            return Err(LivenessCode::TooManyFaces);
        }
        let (w, h) = (image.width() as f32, image.height() as f32);
        let gaps = [b.x, b.y, w - (b.x + b.width), h - (b.y + b.height)];
        let nearest = gaps.iter().copied().fold(f32::INFINITY, f32::min);
        if nearest <= c.cropped_edge_px {
            return Err(LivenessCode::FaceCropped);
        }
        let longer = b.width.max(b.height);
        if nearest < c.min_border_margin * longer {
            return Err(LivenessCode::FaceCloseToBorder);
        }
        if longer < c.min_face_px {
            return Err(LivenessCode::FaceTooSmall);
        }
        let context =
            crate::liveness_crop(&b, image.width(), image.height()).map_or(0.0, |(_, ctx)| ctx);
        if context < c.min_context {
            return Err(LivenessCode::FaceTooClose);
        }
        Ok(face)
    }

    /// Whether a head pose is within the configured limits (a NaN angle is
    /// beyond every limit).
    fn angle_within_limits(&self, p: Pose) -> bool {
        let c = &self.config;
        let within = |v: f32, max: f32| v.abs() <= max;
        within(p.yaw, c.max_yaw) && within(p.pitch, c.max_pitch) && within(p.roll, c.max_roll)
    }
}
