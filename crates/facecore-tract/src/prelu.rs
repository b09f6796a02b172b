//! ONNX `PRelu` wired from operators tract runs with its vector kernels.
//!
//! tract-onnx 0.23.9 imports `PRelu(x, slope)` as `x > 0 ? x : slope·x`: a
//! comparison into a boolean tensor and a select. Both run through tract's
//! generic element-wise path (an `ndarray` zip over dynamic shapes). On the
//! default embedding model, whose 33 PReLUs follow its convolutions, they
//! took about a third of the inference time (perf on `stage-report`).
//!
//! Here the same function is built from `Mul`, `Max`, `Min` and `Add`
//! only, which tract compiles to its linalg "by scalar" and "unicast"
//! kernels (a per-channel slope is a scalar over each channel's plane):
//!
//! * `max(x, slope · x)` when every slope of the layer is at most 1, and
//!   `min(x, slope · x)` when every one is at least 1: two passes. With
//!   `s ≤ 1`, `s·x ≤ x` for `x ≥ 0` and `s·x ≥ x` for `x < 0`, also for a
//!   negative `s`, and rounding to nearest keeps both inequalities (`x`
//!   itself is a float), so the result is exactly `x` or the original's
//!   rounded `s·x`; mirrored for `s ≥ 1`.
//! * `max(x, 0) + slope · min(x, 0)` otherwise (slopes on both sides of 1):
//!   four passes, exact because one of the two terms is zero.
//!
//! Every output is therefore the same float as the original's; the test
//! checks the whole network bit for bit. On the default model (32 layers
//! of the first kind, one of the second) embedding one face went from
//! about 36 ms to 15–17 ms on one core (`stage-report`, old and new
//! binaries alternated in one session).
//!
//! Unlike the other replacements of this crate, this one works at import
//! time: [`register_prelu`] makes an ONNX parser wire `PRelu` this way, so
//! the slow form never enters the graph and there is nothing for a typed
//! graph rewrite like [`crate::replace_all`] to match.

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::expandable::expand;
use tract_onnx::tract_hir::ops::math;

/// Makes the parser whose operator register is `ops` import ONNX `PRelu`
/// as the vectorised expansion of this module (bit-identical results):
/// `register_prelu(&mut parser.op_register)` before reading a model.
pub fn register_prelu(ops: &mut OnnxOpRegister) {
    ops.insert("PRelu", parse);
}

fn parse(
    _ctx: &ParsingContext<'_>,
    _node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(Prelu), vec![]))
}

/// `PRelu(x, slope)` as an expansion into optimisable binary operators.
#[derive(Debug, Clone)]
struct Prelu;

impl Expansion for Prelu {
    fn name(&self) -> StaticName {
        "PreluVectorised".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        name: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let x = inputs[0];
        let mut slope = inputs[1];
        let rank = model.outlet_fact(x)?.rank();
        // Some(true) when every slope is at most 1, Some(false) when every
        // one is at least 1 (read before the reshape, while it is known).
        let slope_side = model
            .outlet_fact(slope)?
            .konst
            .as_ref()
            .and_then(|k| {
                k.cast_to::<f32>()
                    .ok()?
                    .to_plain_array_view::<f32>()
                    .ok()
                    .map(|v| {
                        if v.iter().all(|&s| s <= 1.0) {
                            Some(true)
                        } else if v.iter().all(|&s| s >= 1.0) {
                            Some(false)
                        } else {
                            None
                        }
                    })
            })
            .flatten();
        // ONNX broadcasts the slope from the right: give it x's rank.
        while model.outlet_fact(slope)?.rank() < rank {
            let axes = model.outlet_fact(slope)?.rank();
            slope = model.wire_node(
                format!("{name}.slope-axis-{axes}"),
                AxisOp::Add(0),
                &[slope],
            )?[0];
        }
        if let Some(side) = slope_side {
            let scaled = model.wire_node(format!("{name}.scaled"), math::mul(), &[x, slope])?[0];
            let pick = if side { math::max() } else { math::min() };
            return model.wire_node(format!("{name}.pick"), pick, &[x, scaled]);
        }
        let dt = model.outlet_fact(x)?.datum_type;
        let zero = tensor0(0.0f32)
            .cast_to_dt(dt)?
            .into_owned()
            .broadcast_into_rank(rank)?;
        let zero = model.add_const(format!("{name}.zero"), zero)?;
        let positive = model.wire_node(format!("{name}.positive"), math::max(), &[x, zero])?[0];
        let negative = model.wire_node(format!("{name}.negative"), math::min(), &[x, zero])?[0];
        let negative = model.wire_node(
            format!("{name}.negative-scaled"),
            math::mul(),
            &[negative, slope],
        )?[0];
        model.wire_node(format!("{name}.sum"), math::add(), &[positive, negative])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default embedding model, fetched by `cargo xtask fetch-models`.
    fn model_bytes() -> Vec<u8> {
        let dir = std::env::var_os("FACECORE_MODELS").map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"),
            std::path::PathBuf::from,
        );
        let path = dir.join("fr_feature.onnx");
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `cargo xtask fetch-models` first",
                path.display()
            )
        })
    }

    fn run(parser: &tract_onnx::model::Onnx, onnx: &[u8], input: &Tensor) -> Vec<f32> {
        let plan = parser
            .model_for_read(&mut std::io::Cursor::new(onnx))
            .and_then(|m| m.with_input_fact(0, f32::fact(input.shape()).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .expect("plan");
        let out = plan.run(tvec!(input.clone().into())).expect("run");
        out[0]
            .to_plain_array_view::<f32>()
            .expect("f32")
            .iter()
            .copied()
            .collect()
    }

    /// How many nodes of the parsed (typed, unoptimised) model end with
    /// `suffix`: which form each parser wired.
    fn wired(parser: &tract_onnx::model::Onnx, onnx: &[u8], suffix: &str) -> usize {
        parser
            .model_for_read(&mut std::io::Cursor::new(onnx))
            .and_then(|m| m.into_typed())
            .expect("typed")
            .nodes()
            .iter()
            .filter(|n| n.name.ends_with(suffix))
            .count()
    }

    /// The rewritten PReLUs give tract's own results bit for bit, through
    /// the real model (33 PReLUs, both forms) on an input with negative and
    /// positive pre-activations.
    #[test]
    fn matches_the_stock_import_exactly() {
        let onnx = model_bytes();
        let input = Tensor::from_shape(
            &[1, 3, 112, 112],
            &(0..3 * 112 * 112)
                .map(|i| ((i * 7919) % 256) as f32 / 128.0 - 1.0)
                .collect::<Vec<f32>>(),
        )
        .expect("input");
        let stock_parser = tract_onnx::onnx();
        let mut parser = tract_onnx::onnx();
        register_prelu(&mut parser.op_register);
        assert_eq!(wired(&stock_parser, &onnx, ".iff"), 33);
        // Both forms are in the default model: 32 layers whose slopes are
        // all at most 1, one with slopes from -0.56 to 1.23.
        assert_eq!(wired(&parser, &onnx, ".iff"), 0);
        assert_eq!(wired(&parser, &onnx, ".pick"), 32);
        assert_eq!(wired(&parser, &onnx, ".negative-scaled"), 1);
        let stock = run(&stock_parser, &onnx, &input);
        assert_eq!(stock.len(), 512);
        assert!(stock.iter().any(|&v| v != 0.0));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        assert_eq!(bits(&run(&parser, &onnx, &input)), bits(&stock));
    }
}
