//! Gender: dlib's gender network (female, male) on a 32×32 face chip.

use facecore_detect::Face;
use image::RgbImage;

use crate::chip::face_chip;
use crate::model::{Plan, planar_centred};
use crate::{AttributeError, DLIB_MEAN};

/// Side of the gender network's face chip.
pub const GENDER_CHIP: u32 = 32;

/// The two classes of the gender network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gender {
    /// Class 0.
    Female,
    /// Class 1.
    Male,
}

impl Gender {
    /// `"female"` or `"male"`, as CompreFace writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Female => "female",
            Self::Male => "male",
        }
    }
}

/// A classified gender.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenderEstimate {
    /// The more probable class (female on an exact tie, as dlib does).
    pub value: Gender,
    /// The network's probability of `value` (at least 0.5).
    pub probability: f32,
    /// The network's probability of [`Gender::Male`].
    pub male_probability: f32,
}

/// The gender network, optimised once; `Send + Sync`.
pub struct GenderClassifier {
    plan: Plan,
    model_id: String,
}

impl std::fmt::Debug for GenderClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenderClassifier")
            .field("model_id", &self.model_id)
            .finish_non_exhaustive()
    }
}

impl GenderClassifier {
    /// Builds the classifier from the ONNX bytes of `gender-v1.onnx`.
    pub fn from_bytes(onnx: &[u8], model_id: &str) -> Result<Self, AttributeError> {
        let size = GENDER_CHIP as usize;
        Ok(Self {
            plan: Plan::load("gender", onnx, [1, 3, size, size])?,
            model_id: model_id.to_string(),
        })
    }

    /// The model's id (`id@version`).
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The face chip the network sees.
    pub fn chip(&self, image: &RgbImage, face: &Face) -> Result<RgbImage, AttributeError> {
        face_chip(image, &face.landmarks, GENDER_CHIP)
    }

    /// Classifies the gender of a detected face.
    pub fn classify(
        &self,
        image: &RgbImage,
        face: &Face,
    ) -> Result<GenderEstimate, AttributeError> {
        let chip = self.chip(image, face)?;
        let p = self.run_raw(&planar_centred(&chip, DLIB_MEAN, 1.0 / 256.0))?;
        gender_from_probabilities(&p)
    }

    /// Runs the network on a prepared `[1, 3, 32, 32]` input (flattened)
    /// and returns its two probabilities (female, male). For numerical
    /// checks.
    pub fn run_raw(&self, input: &[f32]) -> Result<Vec<f32>, AttributeError> {
        let mut out = self.plan.run(input.to_vec())?;
        let p = out.swap_remove(0);
        if p.len() != 2 {
            return Err(AttributeError::Inference {
                which: "gender",
                detail: format!("expected 2 outputs, got {}", p.len()),
            });
        }
        Ok(p)
    }
}

/// The class of the probabilities `[female, male]`.
pub fn gender_from_probabilities(p: &[f32]) -> Result<GenderEstimate, AttributeError> {
    match *p {
        [female, male] if female.is_finite() && male.is_finite() => {
            let (value, probability) = if female < male {
                (Gender::Male, male)
            } else {
                (Gender::Female, female)
            };
            Ok(GenderEstimate {
                value,
                probability,
                male_probability: male,
            })
        }
        _ => Err(AttributeError::Inference {
            which: "gender",
            detail: format!("not two probabilities: {p:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_larger_probability_wins_and_a_tie_is_female() {
        let m = gender_from_probabilities(&[0.2, 0.8]).expect("class");
        assert_eq!((m.value, m.probability), (Gender::Male, 0.8));
        let f = gender_from_probabilities(&[0.5, 0.5]).expect("class");
        assert_eq!(f.value.as_str(), "female");
        assert!(gender_from_probabilities(&[1.0]).is_err());
        assert!(gender_from_probabilities(&[f32::NAN, 1.0]).is_err());
    }
}
