//! Model surgery on tract graphs, shared by the detection and embedding
//! crates: operators that tract-onnx 0.23.9 runs slowly on our models are
//! swapped for implementations of our own after the graph is decluttered
//! and before tract optimises it.
//!
//! * [`replace_depthwise`]: 3×3 depthwise convolutions (padding 1, stride 1
//!   or 2), with the ReLU after them folded in. All three default models
//!   are MobileNet-like and lean on these; see [`dwconv`].
//! * [`replace_conv3x3`]: full 3×3 convolutions (any channel counts,
//!   stride 1 or 2, dilated or not), with the ReLU after them folded in;
//!   see [`conv3x3`].
//! * [`replace_pointwise`]: 1×1 convolutions (tract's `EinSum`
//!   `IHW,OI->OHW`), with the bias, a residual add and a ReLU after them
//!   folded in; see [`pwconv`].
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
pub mod pwconv;

pub use conv3x3::{Conv3x3, replace_conv3x3};
pub use dwconv::{Depthwise3x3, replace_depthwise};
pub use pwconv::{Pointwise, replace_pointwise};

use tract_onnx::prelude::{TractResult, TypedModel};

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
