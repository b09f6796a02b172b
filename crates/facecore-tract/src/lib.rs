//! Model surgery on tract graphs, shared by the detection and embedding
//! crates: operators that tract-onnx 0.23.9 runs slowly on our models are
//! swapped for implementations of our own after the graph is decluttered
//! and before tract optimises it.
//!
//! * [`replace_depthwise`]: 3×3 depthwise convolutions (padding 1, stride 1
//!   or 2), with the ReLU after them folded in. All three default models
//!   are MobileNet-like and lean on these; see [`dwconv`].
//! * [`replace_conv3x3`]: full 3×3 convolutions (any channel counts,
//!   stride 1 or 2, dilated or not, channels first or last), with the ReLU
//!   after them folded in; see [`conv3x3`].
//! * [`replace_pointwise`]: 1×1 convolutions (tract's `EinSum`
//!   `IHW,OI->OHW`, with or without a batch axis, channels first or last),
//!   with the bias, a residual add and a ReLU after them folded in; see
//!   [`pwconv`].
//! * [`replace_all`]: all three, in the order they must run.
//! * [`register_prelu`]: ONNX `PRelu` imported as `Mul`/`Max`/`Min`/`Add`,
//!   which tract vectorises, instead of a comparison and a select; this one
//!   acts on the ONNX parser, before the graph exists; see [`prelu`].
//!
//! `examples/op-profile.rs` prints where tract spends its time in a model,
//! per operator kind and per node, with and without these replacements:
//!
//! ```text
//! cargo run --release -p facecore-tract --example op-profile -- \
//!     models/fr_detect.onnx 1,3,240,320
//! ```

pub mod conv3x3;
pub mod dwconv;
mod pattern;
pub mod prelu;
pub mod pwconv;

pub use conv3x3::{Conv3x3, replace_conv3x3};
pub use dwconv::{Depthwise3x3, replace_depthwise};
pub use prelu::register_prelu;
pub use pwconv::{Pointwise, replace_pointwise};

use tract_onnx::prelude::*;

/// Reads an ONNX model with `parser`, fixes its input 0 to `f32` of
/// `shape`, types and declutters it, and swaps in this crate's kernels
/// ([`replace_all`]): what every model crate does before it optimises. The
/// caller configures the parser ([`register_prelu`], ignored value infos)
/// and may patch the result further before [`into_plan`].
///
/// # Errors
/// When tract cannot read, type or patch the model.
pub fn load_decluttered(
    parser: &tract_onnx::Onnx,
    bytes: &[u8],
    shape: &[usize],
) -> TractResult<TypedModel> {
    let mut model = parser
        .model_for_read(&mut std::io::Cursor::new(bytes))?
        .with_input_fact(0, f32::fact(shape).into())?
        .into_typed()?
        .into_decluttered()?;
    replace_all(&mut model)?;
    Ok(model)
}

/// Optimises a model from [`load_decluttered`] into a runnable plan.
///
/// # Errors
/// When tract cannot optimise it.
pub fn into_plan(model: TypedModel) -> TractResult<Arc<TypedRunnableModel>> {
    model.into_optimized()?.into_runnable()
}

/// Applies every replacement of this crate to a decluttered `model`, in
/// the order they must run (the depthwise and full 3×3 convolutions before
/// the 1×1 ones, which only tract's declutter has turned into `EinSum`s);
/// returns how many operators were replaced in all.
///
/// # Errors
/// When tract cannot patch the graph.
pub fn replace_all(model: &mut TypedModel) -> TractResult<usize> {
    Ok(replace_depthwise(model)? + replace_conv3x3(model)? + replace_pointwise(model)?)
}

/// Swaps every node of `model` that `make` has an op for with that op (fed
/// the node's first input), together with the ReLU right after it when
/// there is one, which `fold_relu` folds into the op; returns how many
/// nodes were replaced. For ops of one input and one output.
fn replace_each<O: TypedOp>(
    model: &mut TypedModel,
    make: impl Fn(&TypedModel, &TypedNode) -> TractResult<Option<O>>,
    fold_relu: impl Fn(&mut O),
) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(mut op) = make(model, node)? else {
            continue;
        };
        let mut last = OutletId::new(id, 0);
        if let Some(relu) = pattern::relu_after(model, last)? {
            fold_relu(&mut op);
            last = OutletId::new(relu, 0);
        }
        let mut patch = TypedModelPatch::default();
        let input = patch.tap_model(model, node.inputs[0])?;
        let out = patch.wire_node(&node.name, op, &[input])?;
        patch.shunt_outside(model, last, out[0])?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}

/// Helpers of the crate's tests: tract models run and compared.
#[cfg(test)]
pub(crate) mod testing {
    use tract_onnx::prelude::*;

    /// The value, or a panic with tract's whole error chain.
    pub(crate) fn ok<T>(r: TractResult<T>) -> T {
        r.unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// Optimises and runs `model` on `inputs`; its first output, flat.
    pub(crate) fn run(model: TypedModel, inputs: &[Tensor]) -> Vec<f32> {
        let plan = ok(model.into_optimized().and_then(|m| m.into_runnable()));
        let out = ok(plan.run(inputs.iter().map(|t| t.clone().into_tvalue()).collect()));
        ok(out[0].to_plain_array_view::<f32>())
            .iter()
            .copied()
            .collect()
    }

    /// Asserts that `ours` matches tract's `theirs` within 1e-5 relative.
    pub(crate) fn close(ours: &[f32], theirs: &[f32], what: &str) {
        assert_eq!(ours.len(), theirs.len(), "{what}");
        for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "{what}, element {i}: {a} vs tract {b}"
            );
        }
    }
}
