//! Loading an attribute model into an optimised tract plan and running it
//! on a prepared input.

use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::AttributeError;

/// A tract plan optimised for one input shape; `Send + Sync`.
pub(crate) struct Plan {
    which: &'static str,
    shape: [usize; 4],
    plan: Arc<TypedRunnableModel>,
}

impl Plan {
    /// Parses and optimises `bytes` for a batch of one `shape` input, with
    /// our replacements of tract's convolutions ([`facecore_tract::replace_all`]).
    pub(crate) fn load(
        which: &'static str,
        bytes: &[u8],
        shape: [usize; 4],
    ) -> Result<Self, AttributeError> {
        let err = |e: TractError| AttributeError::Model {
            which,
            detail: format!("{e:#}"),
        };
        // The dlib graphs annotate their intermediate and output shapes with
        // a symbolic batch `N`, which cannot unify with the batch of 1 we
        // fix: the shapes are inferred from the input instead.
        let parser = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .with_ignore_output_shapes(true);
        let plan = facecore_tract::load_decluttered(&parser, bytes, &shape)
            .and_then(facecore_tract::into_plan)
            .map_err(err)?;
        Ok(Self { which, shape, plan })
    }

    /// Number of input values the plan takes.
    pub(crate) fn input_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Runs the plan on a flattened input of [`Plan::input_len`] values and
    /// returns every output, flattened, in the model's output order.
    pub(crate) fn run(&self, input: Vec<f32>) -> Result<Vec<Vec<f32>>, AttributeError> {
        let inference = |detail: String| AttributeError::Inference {
            which: self.which,
            detail,
        };
        if input.len() != self.input_len() {
            return Err(inference(format!(
                "expected {} input values, got {}",
                self.input_len(),
                input.len()
            )));
        }
        let tensor = tract_ndarray::Array4::from_shape_vec(
            (self.shape[0], self.shape[1], self.shape[2], self.shape[3]),
            input,
        )
        .map(Tensor::from)
        .map_err(|e| inference(e.to_string()))?;
        let outputs = self
            .plan
            .run(tvec!(tensor.into()))
            .map_err(|e| inference(format!("{e:#}")))?;
        outputs
            .iter()
            .map(|t| {
                t.to_plain_array_view::<f32>()
                    .map(|v| v.iter().copied().collect())
                    .map_err(|e| inference(format!("{e:#}")))
            })
            .collect()
    }
}

/// Packs an RGB image into planar NCHW values, `(v / 255 − mean[c]) /
/// std[c]` per channel (ImageNet statistics for the pose model).
pub(crate) fn planar_normalised(img: &image::RgbImage, mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    let plane = (img.width() * img.height()) as usize;
    let mut data = vec![0f32; 3 * plane];
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            data[c * plane + i] = (f32::from(px[c]) / 255.0 - mean[c]) / std[c];
        }
    }
    data
}

/// Packs an RGB image into planar NCHW values, `(v − mean[c]) · scale`.
pub(crate) fn planar_centred(img: &image::RgbImage, mean: [f32; 3], scale: f32) -> Vec<f32> {
    let plane = (img.width() * img.height()) as usize;
    let mut data = vec![0f32; 3 * plane];
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            data[c * plane + i] = (f32::from(px[c]) - mean[c]) * scale;
        }
    }
    data
}
