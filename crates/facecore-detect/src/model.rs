//! Loading the two ONNX models into optimised tract plans, and running
//! them on raw inputs.

use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::DetectError;

/// A tract plan, optimised for one input shape and shared between threads.
pub(crate) type Plan = Arc<TypedRunnableModel>;

/// Parses and optimises one model for a fixed input shape, with our
/// replacements of tract's 3×3 and 1×1 convolutions
/// ([`facecore_tract::replace_all`]). With
/// `strip_softmax`, a two-class softmax ending output 0 is cut off, so the
/// plan returns logits (see [`two_class_probability`]); the returned flag
/// says whether it was.
pub(crate) fn load_plan(
    which: &'static str,
    bytes: &[u8],
    shape: [usize; 4],
    strip_softmax: bool,
) -> Result<(Plan, bool), DetectError> {
    let err = |e: TractError| DetectError::Model {
        which,
        detail: format!("{e:#}"),
    };
    let mut model =
        facecore_tract::load_decluttered(&tract_onnx::onnx(), bytes, &shape).map_err(err)?;
    let logits = strip_softmax && strip_two_class_softmax(&mut model).map_err(err)?;
    let plan = facecore_tract::into_plan(model).map_err(err)?;
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

/// `data` as a tensor of `shape`, or an error naming the model when its
/// length does not fit.
pub(crate) fn raw_tensor(
    which: &'static str,
    data: &[f32],
    shape: [usize; 4],
) -> Result<Tensor, DetectError> {
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

/// A tract error while running the `which` model.
pub(crate) fn inference(which: &'static str, e: TractError) -> DetectError {
    DetectError::Inference {
        which,
        detail: format!("{e:#}"),
    }
}
