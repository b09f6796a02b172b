//! Model surgery on tract graphs, shared by the detection and embedding
//! crates: operators that tract-onnx 0.23.9 runs slowly on our models are
//! swapped for implementations of our own after the graph is decluttered
//! and before tract optimises it.
//!
//! * [`replace_depthwise`]: 3×3 depthwise convolutions (padding 1, stride 1
//!   or 2), with the ReLU after them folded in. All three default models
//!   are MobileNet-like and lean on these; see [`dwconv`].
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

pub mod dwconv;
pub mod pwconv;

pub use dwconv::{Depthwise3x3, replace_depthwise};
pub use pwconv::{Pointwise, replace_pointwise};
