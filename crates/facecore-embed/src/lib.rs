//! Face embeddings with tract: aligned 112×112 RGB crops in, L2-normalised
//! 512-d `f32` vectors out, each tagged with the id of the model that made it.
//!
//! The default model is a MobileFaceNet-like network (1.19 M parameters). Its
//! input is the aligned crop as `(v − 127) / 128`, NCHW; its raw output is not
//! normalised (norms of about 1.9–3.7), so every vector is L2-normalised here.
//!
//! The model's 33 PReLU layers are imported with a vectorised rewrite of
//! tract's own (bit-identical results, about twice the speed of the whole
//! model; see [`facecore_tract::register_prelu`]), and its 3×3 and 1×1
//! convolutions run on [`facecore_tract::replace_all`]'s implementations.
//!
//! `embed_batch` runs crops in chunks of [`MAX_BATCH`] through a plan
//! optimised once per batch size. With tract 0.23.9 on our 2-core machine a
//! batch of 8 took 38–48 ms per face against 15–23 ms one at a time
//! (`stage-report`, `cargo xtask bench-report`), so the default chunk is 1
//! and parallelism comes from running the shared plan on several threads
//! instead; [`Embedder::run_raw`] still takes any batch size.
//!
//! An [`Embedder`] is `Send + Sync`: build it once and share it between threads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use image::RgbImage;
use tract_onnx::prelude::*;

/// Side of the aligned input crop, in pixels.
pub const INPUT_SIZE: u32 = 112;

/// Errors of the embedder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The model could not be read, parsed or optimised.
    #[error("cannot load the embedding model: {0}")]
    Model(String),
    /// Running the model failed.
    #[error("embedding inference failed: {0}")]
    Inference(String),
    /// A crop is not 112×112.
    #[error("aligned crops must be {INPUT_SIZE}x{INPUT_SIZE}, got {width}x{height}")]
    WrongCropSize {
        /// Width received.
        width: u32,
        /// Height received.
        height: u32,
    },
    /// The model produced a zero or non-finite vector.
    #[error("the model produced a degenerate embedding (zero or non-finite)")]
    Degenerate,
}

/// What kind of failure an [`EmbedError`] is (see [`EmbedError::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The model could not be loaded or run: a broken model file or a bug.
    Model,
    /// A crop is not the size the model takes: the caller's bug.
    WrongCropSize,
    /// The model's output had no direction (zero or non-finite norm).
    Degenerate,
}

impl EmbedError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Model(_) | Self::Inference(_) => ErrorKind::Model,
            Self::WrongCropSize { .. } => ErrorKind::WrongCropSize,
            Self::Degenerate => ErrorKind::Degenerate,
        }
    }
}

/// A unit-length embedding tagged with the id of the model that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// Id of the model (e.g. `fr_feature@0.0.1`). Embeddings of different
    /// models must never be compared.
    pub model: Arc<str>,
    /// The L2-normalised vector.
    pub vector: Vec<f32>,
    /// L2 norm of the model's raw output before normalisation: a face-quality
    /// signal (clear faces give about 2–4; non-faces such as a cat's face or
    /// textures gave under 1.7). `None` for vectors that did not come from the
    /// model (e.g. supplied by a client).
    pub raw_norm: Option<f32>,
}

/// Crops run through the model at once by `embed_batch` (1: batching was
/// measured slower than single runs in tract; see the crate docs).
pub const MAX_BATCH: usize = 1;

/// How crop pixels become model inputs: `(v − mean) / scale` per channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalization {
    /// Subtracted from each 0..255 value.
    pub mean: f32,
    /// The difference is divided by this.
    pub scale: f32,
}

impl Normalization {
    /// The default model's recipe, `(v − 127) / 128`.
    pub const DEFAULT: Self = Self {
        mean: 127.0,
        scale: 128.0,
    };

    /// ArcFace's recipe (InsightFace's embedders), `(v − 127.5) / 127.5`.
    pub const ARCFACE: Self = Self {
        mean: 127.5,
        scale: 127.5,
    };
}

/// The embedding model, optimised once per batch size. `Send + Sync`.
pub struct Embedder {
    model_id: Arc<str>,
    norm: Normalization,
    /// Whether each crop is embedded with its mirror image too
    /// ([`Embedder::with_flip`]).
    flip: bool,
    onnx: Vec<u8>,
    dim: usize,
    plans: Mutex<HashMap<usize, Arc<TypedRunnableModel>>>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model_id", &self.model_id)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

fn build_plan(onnx: &[u8], batch: usize) -> Result<Arc<TypedRunnableModel>, EmbedError> {
    let size = INPUT_SIZE as usize;
    let mut parser = tract_onnx::onnx();
    facecore_tract::register_prelu(&mut parser.op_register);
    facecore_tract::load_decluttered(&parser, onnx, &[batch, 3, size, size])
        .and_then(facecore_tract::into_plan)
        .map_err(|e: TractError| EmbedError::Model(format!("{e:#}")))
}

impl Embedder {
    /// Builds an embedder from ONNX bytes with the default model's input
    /// recipe ([`Normalization::DEFAULT`]); `model_id` tags every vector.
    pub fn from_bytes(onnx: &[u8], model_id: &str) -> Result<Self, EmbedError> {
        Self::with_normalization(onnx, model_id, Normalization::DEFAULT)
    }

    /// Builds an embedder whose crops are normalised by `norm`.
    pub fn with_normalization(
        onnx: &[u8],
        model_id: &str,
        norm: Normalization,
    ) -> Result<Self, EmbedError> {
        if !(norm.mean.is_finite() && norm.scale.is_finite() && norm.scale > 0.0) {
            return Err(EmbedError::Model(format!(
                "invalid input normalisation {norm:?}: mean and scale must be finite, scale > 0"
            )));
        }
        let plan = build_plan(onnx, 1)?;
        // Probe the output size once with a zero crop.
        let probe = Tensor::zero::<f32>(&[1, 3, INPUT_SIZE as usize, INPUT_SIZE as usize])
            .map_err(|e| EmbedError::Model(format!("{e:#}")))?;
        let out = plan
            .run(tvec!(probe.into()))
            .map_err(|e| EmbedError::Model(format!("{e:#}")))?;
        let dim = out[0].len();
        if dim == 0 {
            return Err(EmbedError::Model("the model has an empty output".into()));
        }
        let mut plans = HashMap::new();
        plans.insert(1, plan);
        Ok(Self {
            model_id: Arc::from(model_id),
            norm,
            flip: false,
            onnx: onnx.to_vec(),
            dim,
            plans: Mutex::new(plans),
        })
    }

    /// With `flip`, each crop's vector is the sum of the model's outputs
    /// for the crop and for its mirror image (the "flip test" of face
    /// recognition evaluations), before normalisation: twice the model
    /// time for a steadier vector. The raw norm reported is the mean of
    /// the two outputs' norms.
    #[must_use]
    pub fn with_flip(mut self, flip: bool) -> Self {
        self.flip = flip;
        self
    }

    /// Whether crops are embedded with their mirror images.
    pub fn flips(&self) -> bool {
        self.flip
    }

    /// Id of the model tagged on every vector.
    pub fn model_id(&self) -> &Arc<str> {
        &self.model_id
    }

    /// Length of the vectors (512 for the default model).
    pub fn dim(&self) -> usize {
        self.dim
    }

    fn plan(&self, batch: usize) -> Result<Arc<TypedRunnableModel>, EmbedError> {
        let mut plans = self
            .plans
            .lock()
            .map_err(|_| EmbedError::Inference("plan cache poisoned".into()))?;
        if let Some(p) = plans.get(&batch) {
            return Ok(p.clone());
        }
        let p = build_plan(&self.onnx, batch)?;
        plans.insert(batch, p.clone());
        Ok(p)
    }

    /// Embeds one aligned crop.
    pub fn embed(&self, crop: &RgbImage) -> Result<Embedding, EmbedError> {
        let mut v = self.embed_batch(std::slice::from_ref(crop))?;
        v.pop().ok_or(EmbedError::Degenerate)
    }

    /// Embeds several aligned crops, in batches of up to [`MAX_BATCH`].
    pub fn embed_batch(&self, crops: &[RgbImage]) -> Result<Vec<Embedding>, EmbedError> {
        let mut out = Vec::with_capacity(crops.len());
        for chunk in crops.chunks(MAX_BATCH) {
            let mut raw = self.run_tensor(pack_with(chunk, self.norm)?, chunk.len())?;
            let mut norms: Vec<f32> = raw.chunks_exact(self.dim).map(norm).collect();
            if self.flip {
                let mirrored: Vec<RgbImage> =
                    chunk.iter().map(image::imageops::flip_horizontal).collect();
                let other = self.run_tensor(pack_with(&mirrored, self.norm)?, chunk.len())?;
                for (n, v) in norms.iter_mut().zip(other.chunks_exact(self.dim)) {
                    *n = (*n + norm(v)) / 2.0;
                }
                for (a, b) in raw.iter_mut().zip(&other) {
                    *a += b;
                }
            }
            for (v, n) in raw.chunks_exact(self.dim).zip(norms) {
                out.push(Embedding {
                    model: self.model_id.clone(),
                    vector: unit(v)?,
                    raw_norm: Some(n),
                });
            }
        }
        Ok(out)
    }

    /// Runs the model on a prepared `[batch, 3, 112, 112]` input (flattened,
    /// row-major) and returns the raw (not normalised) outputs, flattened. For
    /// numerical checks against a reference.
    pub fn run_raw(&self, input: &[f32], batch: usize) -> Result<Vec<f32>, EmbedError> {
        let side = INPUT_SIZE as usize;
        let tensor = tract_ndarray::Array4::from_shape_vec((batch, 3, side, side), input.to_vec())
            .map(Tensor::from)
            .map_err(|e| EmbedError::Inference(format!("wrong input size: {e}")))?;
        self.run_tensor(tensor, batch)
    }

    fn run_tensor(&self, input: Tensor, batch: usize) -> Result<Vec<f32>, EmbedError> {
        let plan = self.plan(batch)?;
        let out = plan
            .run(tvec!(input.into()))
            .map_err(|e| EmbedError::Inference(format!("{e:#}")))?;
        let view = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| EmbedError::Inference(format!("{e:#}")))?;
        let v: Vec<f32> = view.iter().copied().collect();
        if v.len() != batch * self.dim {
            return Err(EmbedError::Inference(format!(
                "expected {} outputs, got {}",
                batch * self.dim,
                v.len()
            )));
        }
        Ok(v)
    }
}

/// Packs aligned crops into a `[n, 3, 112, 112]` tensor, `(v − 127) / 128`.
pub fn pack(crops: &[RgbImage]) -> Result<Tensor, EmbedError> {
    pack_with(crops, Normalization::DEFAULT)
}

/// [`pack`] with the input recipe `norm`.
pub fn pack_with(crops: &[RgbImage], norm: Normalization) -> Result<Tensor, EmbedError> {
    let side = INPUT_SIZE as usize;
    let plane = side * side;
    let mut data = vec![0f32; crops.len() * 3 * plane];
    for (n, crop) in crops.iter().enumerate() {
        if crop.width() != INPUT_SIZE || crop.height() != INPUT_SIZE {
            return Err(EmbedError::WrongCropSize {
                width: crop.width(),
                height: crop.height(),
            });
        }
        let base = n * 3 * plane;
        for (i, px) in crop.pixels().enumerate() {
            for c in 0..3 {
                data[base + c * plane + i] = (px[c] as f32 - norm.mean) / norm.scale;
            }
        }
    }
    tract_ndarray::Array4::from_shape_vec((crops.len(), 3, side, side), data)
        .map(Tensor::from)
        .map_err(|e| EmbedError::Inference(e.to_string()))
}

/// L2 norm of a raw output.
fn norm(v: &[f32]) -> f32 {
    v.iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        .sqrt() as f32
}

/// L2-normalises a raw output; refuses zero or non-finite vectors.
fn unit(v: &[f32]) -> Result<Vec<f32>, EmbedError> {
    let norm = v
        .iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        .sqrt();
    if !(norm.is_finite() && norm > 1e-12) {
        return Err(EmbedError::Degenerate);
    }
    Ok(v.iter().map(|&x| (x as f64 / norm) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_normalises_and_refuses_degenerate_vectors() {
        let v = unit(&[3.0, 4.0]).expect("unit");
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
        assert!(unit(&[0.0, 0.0]).is_err());
        assert!(unit(&[f32::NAN, 1.0]).is_err());
    }

    #[test]
    fn pack_refuses_wrong_sizes_and_normalises_pixels() {
        let bad = RgbImage::new(100, 112);
        assert!(matches!(
            pack(&[bad]),
            Err(EmbedError::WrongCropSize { width: 100, .. })
        ));
        let crop = RgbImage::from_pixel(112, 112, image::Rgb([255, 127, 0]));
        let t = pack(&[crop.clone(), crop]).expect("pack");
        assert_eq!(t.shape(), &[2, 3, 112, 112]);
        let view = t.to_plain_array_view::<f32>().expect("f32");
        let s = view.as_slice().expect("contiguous");
        assert!((s[0] - 1.0).abs() < 1e-6);
        assert_eq!(s[112 * 112], 0.0);
        assert!((s[2 * 112 * 112] + 127.0 / 128.0).abs() < 1e-6);
    }
}
