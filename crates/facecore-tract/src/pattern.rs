//! Matching the nodes that follow a convolution in a decluttered tract
//! graph, so that the replacements can fold them into their ops.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::{BinMiniOp, TypedBinOp};
use tract_onnx::tract_core::ops::math::{Add, Max};

/// The only consumer of `outlet`, when it has exactly one and is not a
/// model output: `(node, input slot)`.
fn sole_consumer(model: &TypedModel, outlet: OutletId) -> TractResult<Option<(usize, usize)>> {
    let successors = &model.node(outlet.node).outputs[outlet.slot].successors;
    if successors.len() != 1 || model.output_outlets()?.contains(&outlet) {
        return Ok(None);
    }
    Ok(Some((successors[0].node, successors[0].slot)))
}

/// When `outlet`'s only consumer is the binary op `B` of it and one other
/// operand, with an output of `outlet`'s shape: that node and the other
/// operand.
fn binary_after<B: BinMiniOp>(
    model: &TypedModel,
    outlet: OutletId,
) -> TractResult<Option<(usize, OutletId)>> {
    let Some((next, slot)) = sole_consumer(model, outlet)? else {
        return Ok(None);
    };
    let node = model.node(next);
    let is_op = node
        .op_as::<TypedBinOp>()
        .is_some_and(|b| b.0.is::<B>() && b.1.is_none());
    if !is_op || node.inputs.len() != 2 {
        return Ok(None);
    }
    if model.outlet_fact(OutletId::new(next, 0))?.shape != model.outlet_fact(outlet)?.shape {
        return Ok(None);
    }
    Ok(Some((next, node.inputs[1 - slot])))
}

/// The id of the ReLU node that is the only consumer of `outlet`:
/// `max(x, 0)` with a constant all-zero operand that does not change the
/// shape (how tract-onnx imports ONNX `Relu`).
pub(crate) fn relu_after(model: &TypedModel, outlet: OutletId) -> TractResult<Option<usize>> {
    let Some((next, other)) = binary_after::<Max>(model, outlet)? else {
        return Ok(None);
    };
    let zero = model.outlet_fact(other)?.konst.as_ref().is_some_and(|k| {
        k.datum_type() == f32::datum_type()
            && k.try_as_plain_ram()
                .and_then(|v| Ok(v.as_slice::<f32>()?.iter().all(|&z| z == 0.0)))
                .unwrap_or(false)
    });
    Ok(zero.then_some(next))
}

/// When `outlet`'s only consumer is an `f32` `Add` of it and another
/// operand, with an output of `outlet`'s shape: that node and the other
/// operand.
pub(crate) fn add_after(
    model: &TypedModel,
    outlet: OutletId,
) -> TractResult<Option<(usize, OutletId)>> {
    let Some((next, other)) = binary_after::<Add>(model, outlet)? else {
        return Ok(None);
    };
    let f32_out = model.outlet_fact(OutletId::new(next, 0))?.datum_type == f32::datum_type();
    Ok(f32_out.then_some((next, other)))
}
