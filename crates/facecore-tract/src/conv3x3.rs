//! A full (not depthwise) 3×3 convolution that replaces tract's in all
//! three default models: the detector's first layer (3 → 16 channels,
//! stride 2, on the whole 320×240 input), the seven dilated convolutions
//! of its receptive-field block and its two channels-last heads, and the
//! first layers of the landmark and embedding models.
//!
//! tract-onnx 0.23.9 runs the first layers as a direct convolution at about
//! 12 billion multiply-adds a second, and the dilated ones as an explicit
//! `Pad` plus an im2col matrix product (the pads alone took ~0.45 ms of
//! the detector's ~6 ms). [`Conv3x3`] copies the input once into
//! zero-padded planes (for stride 2 with each row split into its even and
//! its odd columns), where each of the nine taps of an output row is a
//! contiguous run of values; [`Pointwise`]'s kernels then treat the
//! `9 · channels` taps as input channels found at those offsets, one output
//! row at a time, with the bias and a following ReLU folded in as there.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::PaddingSpec;
use tract_onnx::tract_core::ops::cnn::conv::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;

use crate::pwconv::{Isa, Pointwise, Rows, transpose};

/// A 3×3 convolution of `[C, H, W]` or `[1, C, H, W]` `f32` input (or
/// channels last, `[H, W, C]`, `[1, H, W, C]`) with the same stride,
/// dilation and padding on both axes, a bias per output channel and
/// optionally a ReLU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conv3x3 {
    /// The product over the gathered taps: `9 · channels` inputs, weights
    /// in ONNX's `OIHW` order.
    taps: Arc<Pointwise>,
    /// Input channels.
    channels: usize,
    stride: usize,
    dilation: usize,
    padding: usize,
    /// Whether input and output carry a batch axis of 1 (`NCHW`, `NHWC`).
    batch_axis: bool,
    /// Whether channels come last (`NHWC`, `HWC`): the detector's heads.
    channels_last: bool,
}

/// Output length of an axis of `n` inputs, when there is at least one.
fn axis_out(n: usize, stride: usize, dilation: usize, padding: usize) -> Option<usize> {
    let span = 2 * dilation + 1;
    let padded = n + 2 * padding;
    (padded >= span).then(|| (padded - span) / stride + 1)
}

impl Conv3x3 {
    /// Output length of an axis of `n` inputs, when there is at least one.
    fn out_len(&self, n: usize) -> Option<usize> {
        axis_out(n, self.stride, self.dilation, self.padding)
    }

    /// The op for a decluttered tract `Conv` node, when it is one this
    /// implementation covers (float, not grouped, 3×3, the same stride (1
    /// or 2), dilation and padding on both axes and both sides, constant
    /// weights and bias, concrete input sizes); `None` otherwise.
    fn for_node(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Self>> {
        let Some(conv) = node.op_as::<Conv>() else {
            return Ok(None);
        };
        let spec = &conv.pool_spec;
        let (batch_axis, channels_last) = match spec.data_format {
            DataFormat::NCHW => (true, false),
            DataFormat::CHW => (false, false),
            DataFormat::NHWC => (true, true),
            DataFormat::HWC => (false, true),
        };
        let same = |v: Option<&[usize]>| match v {
            None => Some(1),
            Some([a, b]) if a == b => Some(*a),
            Some(_) => None,
        };
        let (Some(stride), Some(dilation)) = (
            same(spec.strides.as_deref()),
            same(spec.dilations.as_deref()),
        ) else {
            return Ok(None);
        };
        let padding = match &spec.padding {
            PaddingSpec::Explicit(before, after)
                if before.len() == 2
                    && before.iter().chain(after.iter()).all(|&p| p == before[0]) =>
            {
                before[0]
            }
            _ => return Ok(None),
        };
        let channels = spec.input_channels;
        let outputs = spec.output_channels;
        if conv.q_params.is_some()
            || conv.kernel_fmt != KernelFormat::OIHW
            || conv.group != 1
            || spec.kernel_shape.as_slice() != [3, 3]
            || !(stride == 1 || stride == 2)
            || dilation == 0
            || node.inputs.len() != 3
        {
            return Ok(None);
        }
        let input = model.outlet_fact(node.inputs[0])?;
        let Some(dims) = input.shape.as_concrete() else {
            return Ok(None);
        };
        let (c, h, w) = match (batch_axis, channels_last, dims) {
            (false, false, &[c, h, w]) | (true, false, &[1, c, h, w]) => (c, h, w),
            (false, true, &[h, w, c]) | (true, true, &[1, h, w, c]) => (c, h, w),
            _ => return Ok(None),
        };
        let kernel = model.outlet_fact(node.inputs[1])?;
        let bias = model.outlet_fact(node.inputs[2])?;
        let (Some(kernel), Some(bias)) = (kernel.konst.as_ref(), bias.konst.as_ref()) else {
            return Ok(None);
        };
        if input.datum_type != f32::datum_type()
            || c != channels
            || kernel.datum_type() != f32::datum_type()
            || bias.datum_type() != f32::datum_type()
            || kernel.shape() != [outputs, channels, 3, 3]
        {
            return Ok(None);
        }
        let bias = bias.try_as_plain_ram()?;
        let bias = bias.as_slice::<f32>()?;
        let bias = match bias.len() {
            1 => vec![bias[0]; outputs],
            n if n == outputs => bias.to_vec(),
            _ => return Ok(None),
        };
        let (Some(_), Some(wo)) = (
            axis_out(h, stride, dilation, padding),
            axis_out(w, stride, dilation, padding),
        ) else {
            return Ok(None);
        };
        let weights = kernel.try_as_plain_ram()?;
        let taps = Pointwise::new(weights.as_slice::<f32>()?, &bias, 9 * channels, outputs, wo)?;
        Ok(Some(Conv3x3 {
            taps: Arc::new(taps),
            channels,
            stride,
            dilation,
            padding,
            batch_axis,
            channels_last,
        }))
    }

    /// Fills `padded` (already `channels · (h + 2p) · (w + 2p)` long, zero
    /// wherever this never writes) with the input the taps read: per
    /// channel, `h + 2p` rows of `w + 2p` values, zeros in the border; for
    /// stride 2 each row holds its even columns, then its odd ones, so that
    /// every tap of an output row reads a contiguous run. Returns the offset
    /// of each tap (channel-major, row-major taps, as the weights) from the
    /// start of output row 0's reads; output row `y` reads `stride · y`
    /// rows further.
    fn pad(&self, x: &[f32], h: usize, w: usize, padded: &mut [f32]) -> Vec<usize> {
        let (s, d, p) = (self.stride, self.dilation, self.padding);
        let (hp, wp) = (h + 2 * p, w + 2 * p);
        let evens = wp.div_ceil(2);
        for (plane, dst) in x.chunks_exact(h * w).zip(padded.chunks_exact_mut(hp * wp)) {
            for (src, row) in plane.chunks_exact(w).zip(dst.chunks_exact_mut(wp).skip(p)) {
                if s == 1 {
                    row[p..p + w].copy_from_slice(src);
                } else {
                    // Source column j is padded column j + p: of each
                    // pair of source columns (2i, 2i + 1), the first lands
                    // in one half and the second in the other, both at
                    // i plus a fixed shift.
                    let (even, odd) = row.split_at_mut(evens);
                    let (first, second) = if p % 2 == 0 {
                        (&mut even[p / 2..], &mut odd[p / 2..])
                    } else {
                        (&mut odd[p / 2..], &mut even[p / 2 + 1..])
                    };
                    let pairs = src.chunks_exact(2);
                    if let [last] = pairs.remainder() {
                        first[w / 2] = *last;
                    }
                    for ((pair, a), b) in pairs.zip(first.iter_mut()).zip(second.iter_mut()) {
                        *a = pair[0];
                        *b = pair[1];
                    }
                }
            }
        }
        let mut offsets = Vec::with_capacity(9 * self.channels);
        for c in 0..self.channels {
            for ky in 0..3 {
                for kx in 0..3 {
                    let row = c * hp * wp + ky * d * wp;
                    let column = if s == 1 {
                        kx * d
                    } else if (kx * d) % 2 == 0 {
                        kx * d / 2
                    } else {
                        evens + kx * d / 2
                    };
                    offsets.push(row + column);
                }
            }
        }
        offsets
    }

    /// Computes the convolution of `x` (`channels × h × w`) into `out`
    /// (`outputs × ho × wo`), one output row at a time.
    fn compute(&self, isa: Isa, x: &[f32], h: usize, w: usize, out: &mut [f32]) {
        let (Some(ho), Some(wo)) = (self.out_len(h), self.out_len(w)) else {
            return;
        };
        let row_len = w + 2 * self.padding;
        let len = self.channels * (h + 2 * self.padding) * row_len;
        let geometry = [self.channels, h, w, self.stride, self.padding];
        with_scratch(geometry, len, |padded| {
            let offsets = self.pad(x, h, w, padded);
            for y in 0..ho {
                let rows = Rows {
                    x: &padded[self.stride * y * row_len..],
                    offsets: &offsets,
                    residual: None,
                    out_stride: ho * wo,
                    pixels: wo,
                };
                self.taps.compute_rows(isa, &rows, &mut out[y * wo..]);
            }
        });
    }
}

/// Padded buffers kept per thread and per geometry (input channels,
/// height, width, stride, padding), so that a run neither allocates (and
/// faults in) its buffer nor zeroes its border again: every run of one
/// geometry writes the same interior positions and leaves the border as
/// the first zeroed it.
type Geometry = [usize; 5];

/// At most this many geometries are kept per thread (the three default
/// models have nine; all but the detector's first layer's, 0.9 MB, are a
/// few KB).
const KEPT_GEOMETRIES: usize = 16;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<(Geometry, Vec<f32>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's zero-bordered buffer of `len` values for
/// `geometry`, made (zeroed) when it has none yet.
fn with_scratch<R>(geometry: Geometry, len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| {
        // Taken out while `f` runs, so that a nested use cannot alias it.
        let mut kept = cell.take();
        let at = match kept
            .iter()
            .position(|(g, b)| *g == geometry && b.len() == len)
        {
            Some(at) => at,
            None => {
                if kept.len() >= KEPT_GEOMETRIES {
                    kept.remove(0);
                }
                kept.push((geometry, vec![0f32; len]));
                kept.len() - 1
            }
        };
        let result = f(&mut kept[at].1);
        let mut now = cell.borrow_mut();
        // Anything made by a nested use while this ran is dropped.
        *now = kept;
        result
    })
}

impl Conv3x3 {
    /// The axes of channels, height and width in input and output.
    fn axes(&self) -> (usize, usize, usize) {
        let lead = usize::from(self.batch_axis);
        if self.channels_last {
            (lead + 2, lead, lead + 1)
        } else {
            (lead, lead + 1, lead + 2)
        }
    }
}

impl Op for Conv3x3 {
    fn name(&self) -> StaticName {
        "FacecoreConv3x3".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} -> {} channels, stride {}, dilation {}, padding {}",
            self.channels,
            self.taps.outputs(),
            self.stride,
            self.dilation,
            self.padding,
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for Conv3x3 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext<'_>, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let lead = usize::from(self.batch_axis);
        let (c_axis, h_axis, w_axis) = self.axes();
        let shape = input.shape();
        ensure!(
            input.rank() == 3 + lead
                && shape[c_axis] == self.channels
                && (!self.batch_axis || shape[0] == 1),
            "conv3x3: unexpected input shape {shape:?}"
        );
        let (h, w) = (shape[h_axis], shape[w_axis]);
        let (ho, wo) = (
            self.out_len(h).context("conv3x3: input too small")?,
            self.out_len(w).context("conv3x3: input too small")?,
        );
        let mut out_shape: TVec<usize> = shape.into();
        out_shape[c_axis] = self.taps.outputs();
        out_shape[h_axis] = ho;
        out_shape[w_axis] = wo;
        // SAFETY: `compute` writes every element (each chunk of output rows
        // is stored whole, for every output channel) before anyone reads it.
        #[allow(unsafe_code)]
        let mut output = unsafe { Tensor::uninitialized::<f32>(&out_shape)? };
        {
            let x = input.try_as_plain_ram()?;
            let x = x.as_slice::<f32>()?;
            let mut view = output.try_as_plain_ram_mut()?;
            let out = view.as_slice_mut::<f32>()?;
            if self.channels_last {
                // Transposed to channels first and back: the heads this
                // serves are 4×5 pixels.
                let mut planes = vec![0f32; x.len()];
                transpose(x, h * w, &mut planes);
                let mut result = vec![0f32; out.len()];
                self.compute(Isa::best(), &planes, h, w, &mut result);
                transpose(&result, self.taps.outputs(), out);
            } else {
                self.compute(Isa::best(), x, h, w, out);
            }
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for Conv3x3 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs[0];
        let lead = usize::from(self.batch_axis);
        ensure!(input.rank() == 3 + lead, "unexpected rank {}", input.rank());
        let (c_axis, h_axis, w_axis) = self.axes();
        let mut shape = input.shape.to_tvec();
        shape[c_axis] = self.taps.outputs().to_dim();
        for axis in [h_axis, w_axis] {
            let n = shape[axis]
                .to_usize()
                .context("conv3x3 needs concrete spatial sizes")?;
            shape[axis] = self
                .out_len(n)
                .context("conv3x3: input too small")?
                .to_dim();
        }
        Ok(tvec!(f32::fact(shape)))
    }

    as_op!();
}

/// Replaces every full 3×3 convolution of a decluttered `model` that
/// [`Conv3x3`] covers, together with the ReLU right after it when there is
/// one; returns how many convolutions were replaced.
///
/// # Errors
/// When tract cannot patch the graph.
pub fn replace_conv3x3(model: &mut TypedModel) -> TractResult<usize> {
    crate::replace_each(model, Conv3x3::for_node, |op| {
        Arc::make_mut(&mut op.taps).set_relu();
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::PoolSpec;
    use tract_onnx::tract_core::ops::math;

    use crate::testing::{close, ok};

    /// One geometry: channels in, out, height, width, stride, dilation,
    /// padding.
    type Case = (usize, usize, usize, usize, usize, usize, usize);

    /// A model of one tract convolution on `[1, c, h, w]`, and a ReLU after
    /// it when `relu`.
    fn conv_model(case: Case, relu: bool) -> TypedModel {
        conv_model_in(case, relu, DataFormat::NCHW)
    }

    /// As [`conv_model`], the input `[1, h, w, c]` when `format` is `NHWC`.
    fn conv_model_in(case: Case, relu: bool, format: DataFormat) -> TypedModel {
        let (c, o, h, w, stride, dilation, padding) = case;
        let mut model = TypedModel::default();
        let shape = if format == DataFormat::NHWC {
            [1, h, w, c]
        } else {
            [1, c, h, w]
        };
        let x = ok(model.add_source("x", f32::fact(shape)));
        let mut v = 7u32;
        let mut next = move || {
            v = v.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (v >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let kernel: Vec<f32> = (0..o * c * 9).map(|_| next()).collect();
        let bias: Vec<f32> = (0..o).map(|_| next()).collect();
        let kernel = tract_ndarray::Array4::from_shape_vec((o, c, 3, 3), kernel);
        let k = ok(model.add_const("k", Tensor::from(ok(kernel.map_err(Into::into)))));
        let b = ok(model.add_const("b", tensor1(&bias)));
        let spec = PoolSpec {
            data_format: format,
            kernel_shape: tvec![3, 3],
            padding: PaddingSpec::Explicit(tvec![padding, padding], tvec![padding, padding]),
            dilations: Some(tvec![dilation, dilation]),
            strides: Some(tvec![stride, stride]),
            input_channels: c,
            output_channels: o,
        };
        let conv = Conv::new(spec, KernelFormat::OIHW, 1, None);
        let mut y = ok(model.wire_node("conv", conv, &[x, k, b]));
        if relu {
            let zero = ok(model.add_const("zero", ok(Tensor::zero::<f32>(&[1, 1, 1, 1]))));
            y = ok(model.wire_node("relu", math::max(), &[y[0], zero]));
        }
        ok(model.select_output_outlets(&y));
        model
    }

    fn run(model: TypedModel, input: &Tensor) -> Vec<f32> {
        crate::testing::run(model, std::slice::from_ref(input))
    }

    const CASES: [Case; 9] = [
        (3, 16, 24, 32, 2, 1, 1),
        (3, 5, 7, 9, 2, 1, 1),
        (2, 3, 8, 11, 2, 2, 2),
        (4, 7, 9, 10, 2, 1, 0),
        (8, 12, 6, 10, 1, 1, 1),
        (5, 16, 12, 13, 1, 2, 2),
        (16, 6, 10, 12, 1, 3, 3),
        (6, 4, 11, 12, 1, 5, 5),
        (1, 2, 5, 5, 1, 1, 0),
    ];

    #[test]
    fn matches_tract_on_strides_dilations_paddings_and_with_relu() {
        for case in CASES {
            let (c, _, h, w, ..) = case;
            let input = Tensor::from(tract_ndarray::Array4::from_shape_fn(
                (1, c, h, w),
                |(_, ch, y, x)| ((ch * 31 + y * 7 + x * 3) % 23) as f32 / 11.0 - 1.0,
            ));
            for relu in [false, true] {
                let mut model = conv_model(case, relu);
                assert_eq!(ok(replace_conv3x3(&mut model)), 1, "{case:?} is ours");
                let model = ok(model.into_decluttered());
                let ops: Vec<String> = model
                    .nodes()
                    .iter()
                    .map(|n| n.op().name().to_string())
                    .collect();
                assert_eq!(ops, ["Source", "FacecoreConv3x3"], "{case:?} relu {relu}");
                // Twice: the second run reuses this thread's padded buffer.
                let ours = run(model.clone(), &input);
                assert_eq!(ours, run(model, &input), "{case:?}: a reused buffer");
                let theirs = run(conv_model(case, relu), &input);
                if relu {
                    assert!(theirs.contains(&0.0) && ours.iter().all(|&v| v >= 0.0));
                }
                close(&ours, &theirs, &format!("{case:?} relu {relu}"));
            }
        }
    }

    #[test]
    fn channels_last_matches_tract() {
        // The detector's heads: NHWC, 4x5 pixels, many channels in.
        for case in [(64, 6, 4, 5, 1, 1, 1), (5, 3, 6, 7, 2, 1, 1)] {
            let (c, _, h, w, ..) = case;
            let input = Tensor::from(tract_ndarray::Array4::from_shape_fn(
                (1, h, w, c),
                |(_, y, x, ch)| ((ch * 13 + y * 7 + x * 3) % 19) as f32 / 9.0 - 1.0,
            ));
            for relu in [false, true] {
                let mut model = conv_model_in(case, relu, DataFormat::NHWC);
                assert_eq!(ok(replace_conv3x3(&mut model)), 1, "{case:?}");
                let ours = run(model, &input);
                let theirs = run(conv_model_in(case, relu, DataFormat::NHWC), &input);
                close(&ours, &theirs, &format!("{case:?} relu {relu}"));
            }
        }
    }

    #[test]
    fn every_instruction_set_gives_the_same_convolution() {
        let mut isas = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                isas.push(Isa::Avx2);
            }
            if std::is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
        }
        for case in CASES {
            let (c, o, h, w, ..) = case;
            let model = conv_model(case, false);
            let id = ok(model.eval_order())
                .into_iter()
                .find(|&id| model.node(id).op_is::<Conv>());
            let node = model.node(id.unwrap_or_else(|| panic!("no conv in {case:?}")));
            let op = ok(Conv3x3::for_node(&model, node)).unwrap_or_else(|| panic!("{case:?}"));
            let x: Vec<f32> = (0..c * h * w)
                .map(|i| (i % 13) as f32 / 6.0 - 1.0)
                .collect();
            let (ho, wo) = (op.out_len(h).unwrap_or(0), op.out_len(w).unwrap_or(0));
            let mut results = isas.iter().map(|&isa| {
                let mut out = vec![f32::NAN; o * ho * wo];
                op.compute(isa, &x, h, w, &mut out);
                assert!(
                    out.iter().all(|v| v.is_finite()),
                    "{isa:?} {case:?}: every value written"
                );
                out
            });
            let first = results.next().unwrap_or_default();
            for other in results {
                for (a, b) in first.iter().zip(&other) {
                    assert!(
                        (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                        "{case:?}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn grouped_and_other_kernels_are_left_to_tract() {
        // A depthwise 3x3 (groups = channels) and a 5x5 are not ours.
        for (group, kernel) in [(4, 3), (1, 5)] {
            let mut model = TypedModel::default();
            let x = ok(model.add_source("x", f32::fact([1, 4, 9, 9])));
            let per_group = 4 / group;
            let k = ok(model.add_const(
                "k",
                ok(Tensor::zero::<f32>(&[4, per_group, kernel, kernel])),
            ));
            let b = ok(model.add_const("b", tensor1(&[0f32; 4])));
            let spec = PoolSpec {
                data_format: DataFormat::NCHW,
                kernel_shape: tvec![kernel, kernel],
                padding: PaddingSpec::Explicit(tvec![1, 1], tvec![1, 1]),
                dilations: None,
                strides: None,
                input_channels: 4,
                output_channels: 4,
            };
            let conv = Conv::new(spec, KernelFormat::OIHW, group, None);
            ok(model.wire_node("conv", conv, &[x, k, b]));
            assert_eq!(
                ok(replace_conv3x3(&mut model)),
                0,
                "group {group} kernel {kernel}"
            );
        }
    }
}
