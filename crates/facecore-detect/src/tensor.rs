//! Packing images into the tensors the models take.

use image::RgbImage;
use tract_onnx::prelude::*;

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
