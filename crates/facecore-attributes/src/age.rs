//! Age: dlib's age network (81 classes, years 0–80) on a 64×64 face chip.

use facecore_detect::Face;
use image::RgbImage;

use crate::chip::face_chip;
use crate::model::{Plan, planar_centred};
use crate::{AttributeError, DLIB_MEAN};

/// Side of the age network's face chip.
pub const AGE_CHIP: u32 = 64;

/// Number of age classes (years 0 to 80).
pub const AGE_CLASSES: usize = 81;

/// Half-width, in years, of the narrowest range [`AgeEstimate`] reports.
pub const MIN_HALF_RANGE: u32 = 3;

/// An estimated age.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgeEstimate {
    /// The expected age in years: Σ class weight × probability, the class
    /// weights being 0.25 for class 0 and `k` for class `k` (dlib's own
    /// rule).
    pub years: f32,
    /// Lower end of the reported range, in whole years.
    pub low: u32,
    /// Upper end of the reported range, in whole years.
    pub high: u32,
    /// The model's probability mass on `low..=high`. The model is
    /// overconfident (half the faces of our evaluation put more than 0.79
    /// on one year): read it as a ranking, not a calibrated probability.
    pub probability: f32,
}

/// The age network, optimised once; `Send + Sync`.
pub struct AgeEstimator {
    plan: Plan,
    model_id: String,
}

impl std::fmt::Debug for AgeEstimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgeEstimator")
            .field("model_id", &self.model_id)
            .finish_non_exhaustive()
    }
}

impl AgeEstimator {
    /// Builds the estimator from the ONNX bytes of `age-v1.onnx`.
    pub fn from_bytes(onnx: &[u8], model_id: &str) -> Result<Self, AttributeError> {
        let size = AGE_CHIP as usize;
        Ok(Self {
            plan: Plan::load("age", onnx, [1, 3, size, size])?,
            model_id: model_id.to_string(),
        })
    }

    /// The model's id (`id@version`).
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The face chip the network sees.
    pub fn chip(&self, image: &RgbImage, face: &Face) -> Result<RgbImage, AttributeError> {
        face_chip(image, &face.landmarks, AGE_CHIP)
    }

    /// Estimates the age of a detected face.
    pub fn estimate(&self, image: &RgbImage, face: &Face) -> Result<AgeEstimate, AttributeError> {
        let chip = self.chip(image, face)?;
        let probabilities = self.run_raw(&planar_centred(&chip, DLIB_MEAN, 1.0 / 256.0))?;
        age_from_probabilities(&probabilities)
    }

    /// Runs the network on a prepared `[1, 3, 64, 64]` input (flattened)
    /// and returns its 81 probabilities. For numerical checks.
    pub fn run_raw(&self, input: &[f32]) -> Result<Vec<f32>, AttributeError> {
        let mut out = self.plan.run(input.to_vec())?;
        let probabilities = out.swap_remove(0);
        if probabilities.len() != AGE_CLASSES {
            return Err(AttributeError::Inference {
                which: "age",
                detail: format!(
                    "expected {AGE_CLASSES} outputs, got {}",
                    probabilities.len()
                ),
            });
        }
        Ok(probabilities)
    }
}

/// The estimate of 81 class probabilities: the expected age, and a range:
/// the interquartile range of the distribution, widened when narrower to
/// the rounded expected age ± [`MIN_HALF_RANGE`] (clamped to 0..=80), with
/// the probability mass on it.
pub fn age_from_probabilities(p: &[f32]) -> Result<AgeEstimate, AttributeError> {
    if p.len() != AGE_CLASSES || p.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(AttributeError::Inference {
            which: "age",
            detail: format!("not {AGE_CLASSES} probabilities: {p:?}"),
        });
    }
    let weight = |k: usize| if k == 0 { 0.25 } else { k as f64 };
    let years = p
        .iter()
        .enumerate()
        .map(|(k, &v)| weight(k) * f64::from(v))
        .sum::<f64>();
    let quantile = |q: f64| {
        let mut acc = 0.0;
        for (k, &v) in p.iter().enumerate() {
            acc += f64::from(v);
            if acc >= q {
                return k as u32;
            }
        }
        (AGE_CLASSES - 1) as u32
    };
    let centre = years.round().clamp(0.0, 80.0) as u32;
    let low = quantile(0.25).min(centre.saturating_sub(MIN_HALF_RANGE));
    let high = quantile(0.75).max((centre + MIN_HALF_RANGE).min(80));
    let probability = p[low as usize..=high as usize]
        .iter()
        .map(|&v| f64::from(v))
        .sum::<f64>()
        .min(1.0);
    Ok(AgeEstimate {
        years: years as f32,
        low,
        high,
        probability: probability as f32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot(k: usize) -> Vec<f32> {
        let mut p = vec![0.0; AGE_CLASSES];
        p[k] = 1.0;
        p
    }

    #[test]
    fn a_certain_age_gets_the_narrowest_range() {
        let e = age_from_probabilities(&one_hot(30)).expect("estimate");
        assert_eq!((e.years, e.low, e.high), (30.0, 27, 33));
        assert!((e.probability - 1.0).abs() < 1e-6);
        // Class 0 weighs a quarter of a year; the range stops at 0.
        let e = age_from_probabilities(&one_hot(0)).expect("estimate");
        assert_eq!((e.years, e.low, e.high), (0.25, 0, 3));
        let e = age_from_probabilities(&one_hot(80)).expect("estimate");
        assert_eq!((e.low, e.high), (77, 80));
    }

    #[test]
    fn a_spread_distribution_gets_its_interquartile_range() {
        // Uniform over 20..=59: quartiles at 29 and 49, mean 39.5.
        let mut p = vec![0.0; AGE_CLASSES];
        for v in &mut p[20..60] {
            *v = 1.0 / 40.0;
        }
        let e = age_from_probabilities(&p).expect("estimate");
        assert!((e.years - 39.5).abs() < 1e-4);
        assert_eq!((e.low, e.high), (29, 49));
        assert!((e.probability - 21.0 / 40.0).abs() < 1e-5);
    }

    #[test]
    fn bad_outputs_are_refused() {
        assert!(age_from_probabilities(&[0.5; 3]).is_err());
        let mut p = one_hot(3);
        p[4] = f32::NAN;
        assert!(age_from_probabilities(&p).is_err());
    }
}
