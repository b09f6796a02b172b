//! A 3×3 depthwise convolution that replaces tract's in the detector,
//! landmark and embedding models.
//!
//! All three are MobileNet-like: a 3×3 depthwise convolution (one filter
//! per channel, padding 1, stride 1 or 2) before most pointwise ones. On
//! tract-onnx 0.23.9 these ran at a fraction of the speed of the pointwise
//! matrix products, and the stride-2 ones far worse: the detector's
//! `Conv_6` (32 channels, 120×160 in, stride 2) alone took 1.6 ms of a
//! 10 ms inference (the `op-profile` example), for 1.4 million
//! multiply-adds.
//!
//! [`replace_depthwise`] walks a decluttered typed model and swaps every
//! such convolution for [`Depthwise3x3`], which owns its weights and bias.
//! At stride 1 it computes a whole plane as one flat loop of nine
//! multiply-adds per value, with column masks standing in for the left and
//! right padding (small stride-2 planes: the same, subsampled); larger
//! stride-2 planes go row by row over rows split into even and odd
//! columns; with AVX-512, planes up to 16×16 use masked loads straight
//! from the input instead. The compiler vectorises the loops; the widest
//! vector unit of the CPU is chosen at run time. The vector paths use fused
//! multiply-adds, the portable one separate multiplies and adds, and the
//! paths sum in different orders: results differ from each other and from
//! tract's in the last bits only, which the tests bound.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::PaddingSpec;
use tract_onnx::tract_core::ops::cnn::conv::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// A 3×3 depthwise convolution with padding 1 on `[N, C, H, W]` or
/// `[C, H, W]` `f32` input, stride 1 or 2 on both axes.
#[derive(Debug, Clone)]
pub struct Depthwise3x3 {
    /// 1 or 2, on both spatial axes.
    stride: usize,
    /// Whether the input carries a batch axis (`NCHW`, else `CHW`).
    batch_axis: bool,
    /// Nine taps per channel, row-major.
    weights: Arc<[f32]>,
    /// One bias per channel.
    bias: Arc<[f32]>,
    /// Whether a ReLU (`max(x, 0)`) that followed the convolution is done
    /// here, as the last step of each row.
    relu: bool,
}

impl PartialEq for Depthwise3x3 {
    fn eq(&self, other: &Self) -> bool {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        self.stride == other.stride
            && self.batch_axis == other.batch_axis
            && self.relu == other.relu
            && bits(&self.weights) == bits(&other.weights)
            && bits(&self.bias) == bits(&other.bias)
    }
}

impl Eq for Depthwise3x3 {}

/// Output length of a padded-by-1, 3-tap axis of `n` inputs.
fn out_len(n: usize, stride: usize) -> usize {
    if n == 0 { 0 } else { (n - 1) / stride + 1 }
}

impl Depthwise3x3 {
    /// The op for a decluttered tract `Conv` node, when it is one this
    /// implementation covers (float, depthwise, 3×3, padding 1, stride 1 or
    /// 2, no dilation, constant weights and bias); `None` otherwise.
    fn for_node(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Self>> {
        let Some(conv) = node.op_as::<Conv>() else {
            return Ok(None);
        };
        let spec = &conv.pool_spec;
        let batch_axis = match spec.data_format {
            DataFormat::NCHW => true,
            DataFormat::CHW => false,
            _ => return Ok(None),
        };
        let channels = spec.input_channels;
        let stride = match spec.strides.as_deref() {
            None => 1,
            Some([a, b]) if a == b && (*a == 1 || *a == 2) => *a,
            Some(_) => return Ok(None),
        };
        let padded_by_one = match &spec.padding {
            PaddingSpec::Explicit(before, after) => {
                before.iter().chain(after.iter()).all(|&p| p == 1) && before.len() == 2
            }
            _ => false,
        };
        let undilated = spec
            .dilations
            .as_deref()
            .is_none_or(|d| d.iter().all(|&x| x == 1));
        if conv.q_params.is_some()
            || conv.kernel_fmt != KernelFormat::OIHW
            || conv.group != channels
            || spec.output_channels != channels
            || spec.kernel_shape.as_slice() != [3, 3]
            || !padded_by_one
            || !undilated
            || node.inputs.len() != 3
        {
            return Ok(None);
        }
        let input = model.outlet_fact(node.inputs[0])?;
        let kernel = model.outlet_fact(node.inputs[1])?;
        let bias = model.outlet_fact(node.inputs[2])?;
        if input.datum_type != f32::datum_type() || input.rank() != 3 + usize::from(batch_axis) {
            return Ok(None);
        }
        let (Some(kernel), Some(bias)) = (kernel.konst.as_ref(), bias.konst.as_ref()) else {
            return Ok(None);
        };
        if kernel.datum_type() != f32::datum_type()
            || bias.datum_type() != f32::datum_type()
            || kernel.shape() != [channels, 1, 3, 3]
        {
            return Ok(None);
        }
        let weights: Arc<[f32]> = kernel.try_as_plain_ram()?.as_slice::<f32>()?.into();
        let bias = bias.try_as_plain_ram()?.as_slice::<f32>()?;
        let bias: Arc<[f32]> = match bias.len() {
            1 => vec![bias[0]; channels].into(),
            n if n == channels => bias.into(),
            _ => return Ok(None),
        };
        Ok(Some(Depthwise3x3 {
            stride,
            batch_axis,
            weights,
            bias,
            relu: false,
        }))
    }

    fn channels(&self) -> usize {
        self.bias.len()
    }
}

impl Op for Depthwise3x3 {
    fn name(&self) -> StaticName {
        "FacecoreDepthwise3x3".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "channels: {} stride: {} relu: {}",
            self.channels(),
            self.stride,
            self.relu
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for Depthwise3x3 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext<'_>, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape();
        let lead = usize::from(self.batch_axis);
        let (n, c, h, w) = (
            if self.batch_axis { shape[0] } else { 1 },
            shape[lead],
            shape[lead + 1],
            shape[lead + 2],
        );
        ensure!(
            c == self.channels(),
            "expected {} channels, got {c}",
            self.channels()
        );
        let (ho, wo) = (out_len(h, self.stride), out_len(w, self.stride));
        let mut out_shape: TVec<usize> = shape.into();
        out_shape[lead + 1] = ho;
        out_shape[lead + 2] = wo;
        if h * w == 0 || n * c == 0 {
            return Ok(tvec!(Tensor::zero::<f32>(&out_shape)?.into_tvalue()));
        }
        // SAFETY: every plane of the output is written whole by
        // `plane_any` (each of its paths stores every output value) before
        // anyone reads it.
        #[allow(unsafe_code)]
        let mut output = unsafe { Tensor::uninitialized::<f32>(&out_shape)? };
        {
            let src = input.try_as_plain_ram()?.as_slice::<f32>()?;
            let mut view = output.try_as_plain_ram_mut()?;
            let dst = view.as_slice_mut::<f32>()?;
            let mut scratch = SCRATCH.take();
            for (plane, (src, dst)) in src
                .chunks_exact(h * w)
                .zip(dst.chunks_exact_mut(ho * wo))
                .enumerate()
                .take(n * c)
            {
                let ch = plane % c;
                let taps: &[f32; 9] = self.weights[9 * ch..9 * ch + 9]
                    .try_into()
                    .map_err(|_| format_err!("weights of channel {ch}"))?;
                let mut job = Plane {
                    src,
                    h,
                    w,
                    taps,
                    bias: self.bias[ch],
                    relu: self.relu,
                    dst,
                };
                run_plane(&mut job, self.stride, &mut scratch);
            }
            SCRATCH.set(scratch);
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for Depthwise3x3 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs[0];
        let lead = usize::from(self.batch_axis);
        ensure!(input.rank() == 3 + lead, "unexpected rank {}", input.rank());
        let mut shape = input.shape.to_tvec();
        for axis in [lead + 1, lead + 2] {
            let n = shape[axis]
                .to_usize()
                .context("depthwise convolution needs concrete spatial sizes")?;
            shape[axis] = out_len(n, self.stride).to_dim();
        }
        Ok(tvec!(f32::fact(shape)))
    }

    as_op!();
}

/// Replaces every depthwise 3×3 convolution of `model` that
/// [`Depthwise3x3`] covers, together with the ReLU right after it when
/// there is one; returns how many convolutions were replaced.
pub fn replace_depthwise(model: &mut TypedModel) -> TractResult<usize> {
    crate::replace_each(model, Depthwise3x3::for_node, |op| op.relu = true)
}

/// One channel plane of one image.
struct Plane<'a> {
    src: &'a [f32],
    h: usize,
    w: usize,
    taps: &'a [f32; 9],
    bias: f32,
    relu: bool,
    dst: &'a mut [f32],
}

/// Runs one plane on the widest vector unit the CPU has.
#[allow(unsafe_code)]
fn run_plane(job: &mut Plane<'_>, stride: usize, scratch: &mut Scratch) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            if job.h * job.w <= MASKED_PIXELS {
                let masks = scratch.masks.fit(job.h, job.w, stride);
                // SAFETY: the CPU has AVX-512F (checked just above); the
                // masks are those of this plane's shape and stride.
                return unsafe { masked::plane(job, masks) };
            }
            // SAFETY: the CPU has AVX-512F (checked just above); the function
            // is safe code compiled with that feature enabled.
            return unsafe { plane_avx512(job, stride, scratch) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: as above, for AVX2 and FMA.
            return unsafe { plane_avx2(job, stride, scratch) };
        }
    }
    plane_any::<false>(job, stride, scratch);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn plane_avx512(job: &mut Plane<'_>, stride: usize, scratch: &mut Scratch) {
    plane_any::<true>(job, stride, scratch);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn plane_avx2(job: &mut Plane<'_>, stride: usize, scratch: &mut Scratch) {
    plane_any::<true>(job, stride, scratch);
}

/// `max(v, 0)` when `relu`, else `v`. A function, not a closure: closures
/// are compiled without their caller's vector features.
#[inline(always)]
fn clip(v: f32, relu: bool) -> f32 {
    if relu { v.max(0.0) } else { v }
}

/// `a · b + c`, rounded once when `FUSED` (only where the CPU has fused
/// multiply-adds: elsewhere `mul_add` is a slow library call).
#[inline(always)]
fn madd<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED { a.mul_add(b, c) } else { a * b + c }
}

/// The widest stride-2 plane computed as its stride-1 output subsampled
/// (see [`plane_any`]). The landmark model's 8- and 16-wide planes gained
/// (27 -> 20 and 32 -> 25 us per layer); 32 lost (26 -> 38 us).
const SUBSAMPLED_WIDTH: usize = 16;

thread_local! {
    /// This thread's buffers, kept from one call to the next (a few
    /// hundred KB for the detector's largest planes).
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

/// Buffers reused from one plane (and call) to the next. Nothing in them
/// is assumed from an earlier use but the masks, which record their width.
#[derive(Default)]
struct Scratch {
    /// The plane the taps read (see [`plane_any`]).
    source: Vec<f32>,
    /// A stride-1 output before it is subsampled.
    flat: Vec<f32>,
    /// 0 at the first (`left`) or last (`right`) column of each row, 1
    /// elsewhere, for planes of width `mask_width`.
    left: Vec<f32>,
    right: Vec<f32>,
    mask_width: usize,
    /// The lane masks of [`masked::plane`] for the last shape it ran.
    #[cfg(target_arch = "x86_64")]
    masks: masked::Masks,
}

/// Planes of at most this many pixels run on [`masked::plane`] with
/// AVX-512 (the landmark model's up to 16×16; at 32×32 the flat loop of
/// [`plane_any`] was faster: 21 against 30 us for 32 planes).
const MASKED_PIXELS: usize = 256;

/// A whole small plane with AVX-512 masked loads, straight from the input:
/// for each vector of 16 stride-1 outputs (row-major over the plane) and
/// each tap, a lane mask keeps the lanes whose input lies inside the plane
/// and, for the left and right taps, in the same row; masked-off lanes
/// read as zeros, which is the padding. Nothing is copied. At stride 2 the
/// vectors of odd rows are skipped and the kept lanes (even rows, even
/// columns) are packed with a register compress and stored in order.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod masked {
    use super::Plane;
    use std::arch::x86_64::*;

    /// The masks of one plane shape and stride.
    #[derive(Default)]
    pub(super) struct Masks {
        shape: (usize, usize, usize),
        /// Per vector of 16 outputs: the nine taps' load masks, then the
        /// lanes to store (stride 1: inside the plane; stride 2: even row
        /// and column).
        lanes: Vec<[u16; 10]>,
    }

    impl Masks {
        /// The masks for `h × w` planes at `stride`, made when the last
        /// ones were for another shape.
        pub(super) fn fit(&mut self, h: usize, w: usize, stride: usize) -> &Masks {
            if self.shape == (h, w, stride) && !self.lanes.is_empty() {
                return self;
            }
            let n = h * w;
            self.shape = (h, w, stride);
            self.lanes = (0..n.div_ceil(16))
                .map(|v| {
                    let mut m = [0u16; 10];
                    for lane in 0..16 {
                        let j = 16 * v + lane;
                        if j >= n {
                            break;
                        }
                        let (y, x) = (j / w, j % w);
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let inside = (y + ky).checked_sub(1).is_some_and(|r| r < h)
                                    && (x + kx).checked_sub(1).is_some_and(|c| c < w);
                                if inside {
                                    m[3 * ky + kx] |= 1 << lane;
                                }
                            }
                        }
                        if stride == 1 || (y % 2 == 0 && x % 2 == 0) {
                            m[9] |= 1 << lane;
                        }
                    }
                    m
                })
                .collect();
            self
        }
    }

    /// The convolution of one plane.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `masks` were made for this plane's `h`, `w`
    /// and the stride its output was sized for.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn plane(job: &mut Plane<'_>, masks: &Masks) {
        let (src, w) = (job.src, job.w as isize);
        let k = job.taps;
        let offsets: [isize; 9] =
            std::array::from_fn(|t| (t as isize / 3 - 1) * w + (t as isize % 3 - 1));
        let weights: [__m512; 9] = std::array::from_fn(|t| _mm512_set1_ps(k[t]));
        let (bias, zero) = (_mm512_set1_ps(job.bias), _mm512_setzero_ps());
        let mut written = 0;
        for (v, m) in masks.lanes.iter().enumerate() {
            let keep = m[9];
            if keep == 0 {
                continue;
            }
            let at = src.as_ptr().wrapping_add(16 * v);
            let mut acc = bias;
            for t in 0..9 {
                // SAFETY: the mask keeps only lanes whose input lies inside
                // the plane (`Masks::fit`); the others are not read.
                let x = unsafe { _mm512_maskz_loadu_ps(m[t], at.wrapping_offset(offsets[t])) };
                acc = _mm512_fmadd_ps(weights[t], x, acc);
            }
            if job.relu {
                acc = _mm512_max_ps(acc, zero);
            }
            let count = keep.count_ones() as usize;
            let packed = if count == 16 {
                acc
            } else {
                _mm512_maskz_compress_ps(keep, acc)
            };
            assert!(
                written + count <= job.dst.len(),
                "masked plane: output overrun"
            );
            let store = ((1u32 << count) - 1) as u16;
            // SAFETY: `count` lanes from `written`, inside `dst` (checked).
            unsafe { _mm512_mask_storeu_ps(job.dst.as_mut_ptr().add(written), store, packed) };
            written += count;
        }
    }
}

/// Makes `buffer` `len` long; what it holds is overwritten by the caller.
fn fit(buffer: &mut Vec<f32>, len: usize) {
    buffer.resize(len, 0.0);
}

/// The convolution of one plane, written so that the loops vectorise.
///
/// Stride 1 runs over the plane as one flat array: output `j` (row-major)
/// reads input `j + (ky − 1)·w + kx − 1` for tap `(ky, kx)`, from a copy of
/// the plane with `w + 1` zeros before and after it (the padding rows).
/// Taps left of column 0 and right of column `w − 1` would read the row
/// before or after; their sums are multiplied by a 0/1 column mask
/// instead. One loop per plane, whatever its size, and no per-row copies.
/// Stride 2 on planes up to [`SUBSAMPLED_WIDTH`] wide does the same and
/// keeps every other row and column (four times the products, but one
/// loop instead of one per tiny row); wider ones read rows split into
/// their even and odd columns and compute row by row.
#[inline(always)]
fn plane_any<const FUSED: bool>(job: &mut Plane<'_>, stride: usize, scratch: &mut Scratch) {
    let (src, h, w, k, bias, relu) = (job.src, job.h, job.w, job.taps, job.bias, job.relu);
    let (ho, wo) = (out_len(h, stride), out_len(w, stride));
    let subsample = stride == 2 && w <= SUBSAMPLED_WIDTH;
    if stride == 1 || subsample {
        let n = h * w;
        fit(&mut scratch.source, n + 2 * w + 2);
        let (before, rest) = scratch.source.split_at_mut(w + 1);
        let (plane, after) = rest.split_at_mut(n);
        before.fill(0.0);
        plane.copy_from_slice(src);
        after.fill(0.0);
        if scratch.mask_width != w || scratch.left.len() != n {
            scratch.left.clear();
            scratch.left.resize(n, 1.0);
            scratch.right.clear();
            scratch.right.resize(n, 1.0);
            for (left, right) in scratch
                .left
                .chunks_exact_mut(w)
                .zip(scratch.right.chunks_exact_mut(w))
            {
                left[0] = 0.0;
                right[w - 1] = 0.0;
            }
            scratch.mask_width = w;
        }
        let source = &scratch.source;
        let tap = |ky: usize, kx: usize| &source[ky * w + kx..][..n];
        let taps = [
            tap(0, 0),
            tap(0, 1),
            tap(0, 2),
            tap(1, 0),
            tap(1, 1),
            tap(1, 2),
            tap(2, 0),
            tap(2, 1),
            tap(2, 2),
        ];
        let masks = [&scratch.left[..], &scratch.right[..]];
        if subsample {
            fit(&mut scratch.flat, n);
            output_flat::<FUSED>(&mut scratch.flat, taps, Some(masks), k, bias, relu);
            for (y, out) in job.dst.chunks_exact_mut(wo).enumerate().take(ho) {
                let row = scratch.flat[2 * y * w..].iter().step_by(2);
                for (o, &v) in out.iter_mut().zip(row) {
                    *o = v;
                }
            }
        } else {
            output_flat::<FUSED>(&mut job.dst[..n], taps, Some(masks), k, bias, relu);
        }
        return;
    }
    // Each padded row split into its even columns (wo + 1 of them) and its
    // odd columns (wo): output column x reads even x, odd x, even x + 1.
    let pw = 2 * wo + 1;
    let source = &mut scratch.source;
    fit(source, (h + 2) * pw);
    source[..pw].fill(0.0);
    source[(h + 1) * pw..].fill(0.0);
    for (r, row) in src.chunks_exact(w).enumerate() {
        let (even, odd) = source[(r + 1) * pw..(r + 2) * pw].split_at_mut(wo + 1);
        // The padding: column 0, and column w + 1 when it is even.
        even[0] = 0.0;
        if w % 2 == 1 {
            even[wo] = 0.0;
        }
        // Padded column p is source column p - 1: source column 2i is odd
        // padded column 2i + 1, source 2i + 1 is even padded column 2i + 2.
        let pairs = row.chunks_exact(2);
        if let [last] = pairs.remainder() {
            odd[w / 2] = *last;
        }
        for ((pair, o), e) in pairs.zip(odd.iter_mut()).zip(even[1..].iter_mut()) {
            *o = pair[0];
            *e = pair[1];
        }
    }
    let source = &scratch.source;
    for (y, out) in job.dst.chunks_exact_mut(wo).enumerate().take(ho) {
        let even = |i: usize, dx: usize| &source[(2 * y + i) * pw + dx..][..wo];
        let odd = |i: usize| &source[(2 * y + i) * pw + wo + 1..][..wo];
        let taps = [
            even(0, 0),
            odd(0),
            even(0, 1),
            even(1, 0),
            odd(1),
            even(1, 1),
            even(2, 0),
            odd(2),
            even(2, 1),
        ];
        output_flat::<FUSED>(out, taps, None, k, bias, relu);
    }
}

/// `bias + Σ k[t] · taps[t][j]` for every `j`, then the ReLU when asked.
/// The nine tap slices are already shifted so that element `j` of each is
/// that tap's input. With `masks` (a flattened stride-1 plane, see
/// [`plane_any`]), the sums of the left and of the right tap column are
/// multiplied by the left and right column masks.
#[inline(always)]
fn output_flat<const FUSED: bool>(
    out: &mut [f32],
    taps: [&[f32]; 9],
    masks: Option<[&[f32]; 2]>,
    k: &[f32; 9],
    bias: f32,
    relu: bool,
) {
    // Every slice exactly `n` long, so the loops have no bounds checks and
    // vectorise.
    let n = out.len();
    let [a0, a1, a2, b0, b1, b2, c0, c1, c2] = taps;
    let (a0, a1, a2) = (&a0[..n], &a1[..n], &a2[..n]);
    let (b0, b1, b2) = (&b0[..n], &b1[..n], &b2[..n]);
    let (c0, c1, c2) = (&c0[..n], &c1[..n], &c2[..n]);
    let k = *k;
    let f = madd::<FUSED>;
    match masks {
        Some([ml, mr]) => {
            let (ml, mr) = (&ml[..n], &mr[..n]);
            for j in 0..n {
                let left = f(k[0], a0[j], f(k[3], b0[j], k[6] * c0[j]));
                let middle = f(k[1], a1[j], f(k[4], b1[j], f(k[7], c1[j], bias)));
                let right = f(k[2], a2[j], f(k[5], b2[j], k[8] * c2[j]));
                out[j] = clip(f(left, ml[j], f(right, mr[j], middle)), relu);
            }
        }
        None => {
            for j in 0..n {
                let top = f(k[0], a0[j], f(k[1], a1[j], f(k[2], a2[j], bias)));
                let middle = f(k[3], b0[j], f(k[4], b1[j], k[5] * b2[j]));
                let bottom = f(k[6], c0[j], f(k[7], c1[j], k[8] * c2[j]));
                out[j] = clip(top + middle + bottom, relu);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::PoolSpec;

    /// A 3×3, padding-1 NCHW convolution's geometry; `None` leaves the
    /// stride unset (1), as some importers do.
    fn spec_3x3(inputs: usize, outputs: usize, stride: Option<usize>) -> PoolSpec {
        PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![3, 3],
            padding: PaddingSpec::Explicit(tvec![1, 1], tvec![1, 1]),
            dilations: None,
            strides: stride.map(|s| tvec![s, s]),
            input_channels: inputs,
            output_channels: outputs,
        }
    }

    /// A model of one tract depthwise convolution, `[1, c, h, w]` in, and
    /// a ReLU after it (as tract-onnx imports one) when `relu`.
    fn conv_model(c: usize, h: usize, w: usize, stride: usize, relu: bool) -> TypedModel {
        let mut model = TypedModel::default();
        let x = model
            .add_source("x", f32::fact([1, c, h, w]))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut v = 9u32;
        let mut next = move || {
            v = v.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (v >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let kernel: Vec<f32> = (0..9 * c).map(|_| next()).collect();
        let bias: Vec<f32> = (0..c).map(|_| next()).collect();
        let kernel = tract_ndarray::Array4::from_shape_vec((c, 1, 3, 3), kernel)
            .unwrap_or_else(|e| panic!("{e}"));
        let k = model
            .add_const("k", Tensor::from(kernel))
            .unwrap_or_else(|e| panic!("{e}"));
        let b = model
            .add_const("b", tensor1(&bias))
            .unwrap_or_else(|e| panic!("{e}"));
        let spec = spec_3x3(c, c, Some(stride));
        let conv = Conv::new(spec, KernelFormat::OIHW, c, None);
        let mut y = model
            .wire_node("conv", conv, &[x, k, b])
            .unwrap_or_else(|e| panic!("{e}"));
        if relu {
            let zero = model
                .add_const(
                    "zero",
                    Tensor::zero::<f32>(&[1, 1, 1, 1]).unwrap_or_else(|e| panic!("{e}")),
                )
                .unwrap_or_else(|e| panic!("{e}"));
            y = model
                .wire_node(
                    "relu",
                    tract_onnx::tract_core::ops::math::max(),
                    &[y[0], zero],
                )
                .unwrap_or_else(|e| panic!("{e}"));
        }
        model
            .select_output_outlets(&y)
            .unwrap_or_else(|e| panic!("{e}"));
        model
    }

    fn run(model: TypedModel, input: &Tensor) -> Vec<f32> {
        crate::testing::run(model, std::slice::from_ref(input))
    }

    #[test]
    fn matches_tract_on_odd_and_even_sizes_both_strides_and_with_relu() {
        for (c, h, w, stride, relu) in [
            (3, 7, 5, 1, false),
            (3, 7, 5, 2, false),
            (4, 8, 10, 2, true),
            (2, 1, 1, 1, false),
            (2, 1, 1, 2, true),
            (2, 0, 4, 1, false),
            (2, 3, 0, 2, false),
            (5, 2, 3, 2, false),
            (16, 24, 32, 1, true),
            (16, 24, 32, 2, false),
            // Wider planes, odd widths (the column masks at every row end).
            (3, 5, 40, 1, true),
            (2, 3, 33, 1, false),
        ] {
            let input = Tensor::from(tract_ndarray::Array4::from_shape_fn(
                (1, c, h, w),
                |(_, ch, y, x)| ((ch * 31 + y * 7 + x * 3) % 23) as f32 / 11.0 - 1.0,
            ));
            let ours = {
                let mut model = conv_model(c, h, w, stride, relu);
                let n = replace_depthwise(&mut model).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(n, 1, "the convolution is one we cover");
                let model = model.into_decluttered().unwrap_or_else(|e| panic!("{e}"));
                // The ReLU went into our op: nothing else is left to run.
                let ops: Vec<String> = model
                    .nodes()
                    .iter()
                    .map(|n| n.op().name().to_string())
                    .collect();
                assert_eq!(ops, ["Source", "FacecoreDepthwise3x3"], "relu {relu}");
                run(model, &input)
            };
            let theirs = run(conv_model(c, h, w, stride, relu), &input);
            if relu {
                assert!(theirs.contains(&0.0) && ours.iter().all(|&v| v >= 0.0));
            }
            assert_eq!(ours.len(), c * out_len(h, stride) * out_len(w, stride));
            crate::testing::close(&ours, &theirs, &format!("{c}x{h}x{w} stride {stride}"));
        }
    }

    #[test]
    fn the_portable_loop_agrees_with_the_vector_paths() {
        let taps = [0.3, -0.2, 0.1, 0.5, -0.4, 0.25, -0.1, 0.2, 0.15];
        for (h, w, stride) in [(8, 8, 1), (5, 7, 1), (8, 8, 2), (9, 40, 2), (3, 33, 1)] {
            let src: Vec<f32> = (0..h * w).map(|i| (i % 11) as f32 / 5.0 - 1.0).collect();
            let n = out_len(h, stride) * out_len(w, stride);
            let mut outs = [vec![f32::NAN; n], vec![f32::NAN; n]];
            for (fused, dst) in outs.iter_mut().enumerate() {
                let mut job = Plane {
                    src: &src,
                    h,
                    w,
                    taps: &taps,
                    bias: 0.05,
                    relu: false,
                    dst,
                };
                let mut scratch = Scratch::default();
                if fused == 0 {
                    plane_any::<false>(&mut job, stride, &mut scratch);
                } else {
                    run_plane(&mut job, stride, &mut scratch);
                }
            }
            for (a, b) in outs[0].iter().zip(&outs[1]) {
                assert!((a - b).abs() <= 1e-5, "{h}x{w} stride {stride}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn other_convolutions_are_left_to_tract() {
        // A full (not depthwise) 3x3 convolution is not ours to replace.
        let mut model = TypedModel::default();
        let x = model
            .add_source("x", f32::fact([1, 2, 5, 5]))
            .unwrap_or_else(|e| panic!("{e}"));
        let k = model
            .add_const(
                "k",
                Tensor::zero::<f32>(&[3, 2, 3, 3]).unwrap_or_else(|e| panic!("{e}")),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let b = model
            .add_const("b", tensor1(&[0f32, 0.0, 0.0]))
            .unwrap_or_else(|e| panic!("{e}"));
        let spec = spec_3x3(2, 3, None);
        model
            .wire_node(
                "conv",
                Conv::new(spec, KernelFormat::OIHW, 1, None),
                &[x, k, b],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            replace_depthwise(&mut model).unwrap_or_else(|e| panic!("{e}")),
            0
        );
    }
}
