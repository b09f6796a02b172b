//! A 1×1 ("pointwise") convolution that replaces tract's matrix product in
//! all three default models, with the bias, a residual add and a ReLU
//! after it folded in.
//!
//! After declutter, tract-onnx 0.23.9 turns each 1×1 convolution into an
//! `EinSum` `IHW,OI->OHW` followed by a bias `Add`, and optimises it into a
//! matrix product whose activation operand is repacked at every run (an
//! `OptMatMulPack` node per convolution). On the small shapes of these
//! models (32–512 channels, 16–19,200 pixels) the products ran at 15–21
//! billion multiply-adds a second, well below what one core does.
//!
//! [`Pointwise`] reads the activation where it lies: in `CHW` layout one
//! input channel's pixels are contiguous, so a tile of output channels ×
//! pixels is a sum over input channels of one weight (broadcast) times a
//! row of pixels. Each tile keeps 16 to 24 vector accumulators in
//! registers (with AVX-512: 6 channels × 64 pixels, 8 × 48, 12 × 32,
//! 12 × 16 or 8 × 32, picked per layer to waste the fewest lanes; a
//! 24 × 16 tile ran at half the speed), the weights are packed once at
//! load time in the order the tile reads them, and pixel tails use masked
//! loads and stores. The bias, an optional residual and an optional ReLU
//! are applied to the accumulators before the single store. AVX2 runs the
//! same plan with 6 or 4 channels × 16 pixels; other CPUs a plain loop.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

use crate::pattern::{add_after, relu_after};

/// Lanes of an AVX-512 vector.
const LANES_512: usize = 16;

/// Output channels of one AVX2 tile (each over 16 pixels, two vectors)
/// for a block width: 6 when it divides the width, else 4 (every width of
/// [`TILES`] divides by one of them).
fn avx2_channels(block: usize) -> usize {
    if block.is_multiple_of(6) { 6 } else { 4 }
}

/// A 1×1 convolution of `[C, H, W]` (or `[1, C, H, W]`) `f32` input into
/// `[O, H, W]` (or `[1, O, H, W]`, or channels last `[1, H, W, O]`), plus a
/// per-channel bias, optionally plus a residual input of the output's shape
/// (channels first only), optionally followed by a ReLU.
#[derive(Debug, Clone)]
pub struct Pointwise {
    /// Input channels.
    inputs: usize,
    /// Output channels.
    outputs: usize,
    /// Whether the input carries a batch axis of 1 (`NCHW`).
    batch_axis: bool,
    /// Whether the output keeps it (tract drops it when it can).
    batch_out: bool,
    /// Whether the output is `[1, H, W, O]` (the detector's heads) rather
    /// than channels first.
    channels_last: bool,
    /// Pixel vectors (of 16) per AVX-512 tile: 4, 2 or 1.
    vectors: usize,
    /// Output channels per block (per tile): 6 or 12.
    block: usize,
    /// Weights in blocks of `block` output channels: block `b` holds, for
    /// each input channel `i`, the weights of outputs `b·block..` on `i`,
    /// zeros past the last output.
    packed: Arc<[f32]>,
    /// One bias per output channel, zeros up to whole blocks.
    bias: Arc<[f32]>,
    /// Whether a second input, of the output's shape, is added.
    residual: bool,
    /// Whether `max(x, 0)` is applied last.
    relu: bool,
}

impl PartialEq for Pointwise {
    fn eq(&self, other: &Self) -> bool {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        self.inputs == other.inputs
            && self.outputs == other.outputs
            && self.batch_axis == other.batch_axis
            && self.batch_out == other.batch_out
            && self.channels_last == other.channels_last
            && self.vectors == other.vectors
            && self.block == other.block
            && self.residual == other.residual
            && self.relu == other.relu
            && bits(&self.packed) == bits(&other.packed)
            && bits(&self.bias) == bits(&other.bias)
    }
}

impl Eq for Pointwise {}

/// The AVX-512 tile shapes, as (pixel vectors, output channels).
/// 24 accumulators first, then 16 (which fit layers of 8 or 16 channels on
/// rows of 32 or 160 pixels without padding).
const TILES: [(usize, usize); 5] = [(4, 6), (3, 8), (2, 12), (1, 12), (2, 8)];

/// The tile for `pixels` pixels and `outputs` channels: of [`TILES`], the
/// one that computes the fewest padded products, the widest in pixels on a
/// tie.
fn tile_for(pixels: usize, outputs: usize) -> (usize, usize) {
    TILES
        .into_iter()
        .min_by_key(|&(vectors, c)| {
            let px = LANES_512 * vectors;
            (pixels.div_ceil(px) * px) * (outputs.div_ceil(c) * c)
        })
        .unwrap_or(TILES[0])
}

impl Pointwise {
    /// Builds the op from row-major `[outputs, inputs]` weights and
    /// `outputs` biases, for a layer of `pixels` pixels (which only picks
    /// the tile shape).
    ///
    /// # Errors
    /// When the weights or bias do not have those lengths.
    pub fn new(
        weights: &[f32],
        bias: &[f32],
        inputs: usize,
        outputs: usize,
        pixels: usize,
    ) -> TractResult<Self> {
        ensure!(
            weights.len() == inputs * outputs && bias.len() == outputs,
            "{outputs}x{inputs} weights and {outputs} biases expected, got {} and {}",
            weights.len(),
            bias.len()
        );
        let (vectors, block) = tile_for(pixels, outputs);
        let blocks = outputs.div_ceil(block);
        let mut packed = vec![0f32; blocks * block * inputs];
        for (o, row) in weights
            .chunks_exact(inputs.max(1))
            .enumerate()
            .take(outputs)
        {
            let (b, c) = (o / block, o % block);
            for (i, &w) in row.iter().enumerate() {
                packed[(b * inputs + i) * block + c] = w;
            }
        }
        let mut padded = bias.to_vec();
        padded.resize(blocks * block, 0.0);
        Ok(Pointwise {
            inputs,
            outputs,
            batch_axis: false,
            batch_out: false,
            channels_last: false,
            vectors,
            block,
            packed: packed.into(),
            bias: padded.into(),
            residual: false,
            relu: false,
        })
    }

    /// Output channels.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Makes the op end with a ReLU (`max(x, 0)`).
    pub fn set_relu(&mut self) {
        self.relu = true;
    }

    /// The op for a decluttered `EinSum` node `IHW,OI->OHW` (or, with a
    /// batch axis of 1 on either side or both, `IHW,OI->NOHW`,
    /// `NIHW,OI->OHW`, `NIHW,OI->NOHW`; or channels last, `IHW,OI->NHWO`,
    /// `NIHW,OI->NHWO`) with constant `f32` weights, when its input has
    /// concrete sizes; `None` otherwise.
    fn for_node(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Self>> {
        let Some(einsum) = node.op_as::<EinSum>() else {
            return Ok(None);
        };
        let (batch_axis, batch_out, channels_last) = match einsum.axes.to_string().as_str() {
            "IHW,OI->OHW" => (false, false, false),
            "IHW,OI->NOHW" => (false, true, false),
            "NIHW,OI->OHW" => (true, false, false),
            "NIHW,OI->NOHW" => (true, true, false),
            "IHW,OI->NHWO" => (false, true, true),
            "NIHW,OI->NHWO" => (true, true, true),
            _ => return Ok(None),
        };
        if einsum.q_params.is_some()
            || einsum.operating_dt != f32::datum_type()
            || node.inputs.len() != 2
        {
            return Ok(None);
        }
        let input = model.outlet_fact(node.inputs[0])?;
        let kernel = model.outlet_fact(node.inputs[1])?;
        if input.datum_type != f32::datum_type() || input.konst.is_some() {
            return Ok(None);
        }
        let Some(dims) = input.shape.as_concrete() else {
            return Ok(None);
        };
        let (c, h, w) = match (batch_axis, dims) {
            (false, &[c, h, w]) | (true, &[1, c, h, w]) => (c, h, w),
            _ => return Ok(None),
        };
        let Some(kernel) = kernel.konst.as_ref() else {
            return Ok(None);
        };
        if kernel.datum_type() != f32::datum_type() || kernel.rank() != 2 || kernel.shape()[1] != c
        {
            return Ok(None);
        }
        let outputs = kernel.shape()[0];
        let weights = kernel.try_as_plain_ram()?;
        let mut op = Pointwise::new(
            weights.as_slice::<f32>()?,
            &vec![0.0; outputs],
            c,
            outputs,
            h * w,
        )?;
        op.batch_axis = batch_axis;
        op.batch_out = batch_out;
        op.channels_last = channels_last;
        Ok(Some(op))
    }

    /// The output's shape for an input of `shape`.
    fn output_shape<D: Clone>(&self, shape: &[D], outputs: D, one: D) -> TVec<D> {
        let lead = usize::from(self.batch_axis);
        let mut out = TVec::new();
        if self.batch_out {
            out.push(one);
        }
        if !self.channels_last {
            out.push(outputs.clone());
        }
        out.extend(shape[lead + 1..].iter().cloned());
        if self.channels_last {
            out.push(outputs);
        }
        out
    }

    /// Computes the layer into `out` (`outputs × pixels`) from `x`
    /// (`inputs × pixels`) and, when the op has one, `residual` (shaped as
    /// `out`), on the given instruction set.
    fn compute(&self, isa: Isa, x: &[f32], residual: Option<&[f32]>, out: &mut [f32]) {
        let pixels = out.len() / self.outputs.max(1);
        assert!(
            x.len() == self.inputs * pixels
                && out.len() == self.outputs * pixels
                && residual.is_none_or(|r| r.len() == out.len()),
            "pointwise: slice lengths do not match the layer"
        );
        let offsets: Vec<usize> = (0..self.inputs).map(|i| i * pixels).collect();
        let rows = Rows {
            x,
            offsets: &offsets,
            residual,
            out_stride: pixels,
            pixels,
        };
        self.compute_rows(isa, &rows, out);
    }

    /// Computes `rows.pixels` pixels of every output channel into `out`
    /// (see [`Rows`]).
    ///
    /// # Panics
    /// When a row would run past the end of its slice.
    pub(crate) fn compute_rows(&self, isa: Isa, rows: &Rows<'_>, out: &mut [f32]) {
        let Rows {
            x,
            offsets,
            residual,
            out_stride,
            pixels,
        } = *rows;
        if pixels == 0 || self.outputs == 0 {
            return;
        }
        let fits =
            |len: usize| pixels <= out_stride && (self.outputs - 1) * out_stride + pixels <= len;
        assert!(
            offsets.len() == self.inputs
                && offsets.iter().all(|&o| o + pixels <= x.len())
                && fits(out.len())
                && residual.is_none_or(|r| fits(r.len()))
                && residual.is_some() == self.residual,
            "pointwise: slice lengths do not match the layer"
        );
        let layer = Layer {
            op: self,
            x,
            offsets,
            residual,
            out_stride,
            pixels,
        };
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                // SAFETY: `Isa::Avx512` is only chosen (by `Isa::best`, or
                // by a test after the same check) when the CPU has
                // AVX-512F; the lengths were checked above.
                #[allow(unsafe_code)]
                unsafe {
                    layer.run_avx512(out)
                }
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                // SAFETY: as above, for AVX2 and FMA.
                #[allow(unsafe_code)]
                unsafe {
                    layer.run_avx2(out)
                }
            }
            Isa::Portable => layer.run_portable(out),
        }
    }
}

/// Which implementation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Portable,
}

impl Isa {
    /// The widest this CPU has.
    pub(crate) fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }
}

/// Where one run of the kernels reads and writes: input channel `i`'s
/// pixels start at `x[offsets[i]]`, output channel `o`'s (and the
/// residual's) at `o · out_stride` in theirs; `pixels` of each are used.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub(crate) x: &'a [f32],
    pub(crate) offsets: &'a [usize],
    pub(crate) residual: Option<&'a [f32]>,
    pub(crate) out_stride: usize,
    pub(crate) pixels: usize,
}

/// One evaluation's operands, lengths already checked.
struct Layer<'a> {
    op: &'a Pointwise,
    x: &'a [f32],
    /// Where each input channel's pixels start in `x`.
    offsets: &'a [usize],
    residual: Option<&'a [f32]>,
    /// From one output channel's pixels to the next's (and the residual's).
    out_stride: usize,
    pixels: usize,
}

impl Layer<'_> {
    /// The epilogue of one value: bias, residual, ReLU.
    #[inline(always)]
    fn finish(&self, sum: f32, o: usize, p: usize) -> f32 {
        let mut v = sum + self.op.bias[o];
        if let Some(r) = self.residual {
            v += r[o * self.out_stride + p];
        }
        if self.op.relu { v.max(0.0) } else { v }
    }

    /// A plain loop, for CPUs without AVX2.
    fn run_portable(&self, out: &mut [f32]) {
        let (op, n) = (self.op, self.pixels);
        let mut sums = vec![0f32; n];
        for o in 0..op.outputs {
            let (b, c) = (o / op.block, o % op.block);
            sums.fill(0.0);
            for i in 0..op.inputs {
                let w = op.packed[(b * op.inputs + i) * op.block + c];
                let row = &self.x[self.offsets[i]..][..n];
                for (s, &x) in sums.iter_mut().zip(row) {
                    *s += w * x;
                }
            }
            let dst = &mut out[o * self.out_stride..][..n];
            for (p, (dst, &s)) in dst.iter_mut().zip(&sums).enumerate() {
                *dst = self.finish(s, o, p);
            }
        }
    }

    /// AVX-512: tiles of `block` channels × `16 · vectors` pixels.
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(&self, out: &mut [f32]) {
        // SAFETY (all three): the caller has AVX-512F; see `tile_avx512`
        // for the bounds, which `Layer`'s lengths satisfy.
        unsafe {
            match (self.op.vectors, self.op.block) {
                (4, 6) => self.tiles_avx512::<4, 6>(out),
                (3, 8) => self.tiles_avx512::<3, 8>(out),
                (2, 12) => self.tiles_avx512::<2, 12>(out),
                (2, 8) => self.tiles_avx512::<2, 8>(out),
                _ => self.tiles_avx512::<1, 12>(out),
            }
        }
    }

    /// Every tile of the layer, pixel tiles outside (their input rows stay
    /// in cache across the blocks of channels).
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f")]
    unsafe fn tiles_avx512<const P: usize, const C: usize>(&self, out: &mut [f32]) {
        let op = self.op;
        let width = P * LANES_512;
        for p0 in (0..self.pixels).step_by(width) {
            let pixels = (self.pixels - p0).min(width);
            for b in 0..op.outputs.div_ceil(C) {
                let tile = Tile {
                    x: self.x.as_ptr().wrapping_add(p0),
                    weights: op.packed[b * op.inputs * C..].as_ptr(),
                    bias: &op.bias[b * C..(b + 1) * C],
                    residual: self
                        .residual
                        .map(|r| r.as_ptr().wrapping_add(b * C * self.out_stride + p0)),
                    out: out.as_mut_ptr().wrapping_add(b * C * self.out_stride + p0),
                    offsets: self.offsets,
                    out_stride: self.out_stride,
                    rows: (op.outputs - b * C).min(C),
                    pixels,
                    relu: op.relu,
                };
                // SAFETY: the tile's rows and pixels lie inside `x`,
                // `out` and the residual (lengths checked by `compute`),
                // its weights inside `packed`; the CPU has AVX-512F.
                unsafe { tile_avx512::<P, C>(&tile) };
            }
        }
    }

    /// AVX2 and FMA: tiles of 6 channels × 16 pixels.
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, out: &mut [f32]) {
        // SAFETY (both): the caller has AVX2 and FMA.
        unsafe {
            if avx2_channels(self.op.block) == 6 {
                self.tiles_avx2::<6>(out);
            } else {
                self.tiles_avx2::<4>(out);
            }
        }
    }

    /// Every AVX2 tile of the layer, `C` channels each.
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tiles_avx2<const C: usize>(&self, out: &mut [f32]) {
        let op = self.op;
        let block = op.block;
        for p0 in (0..self.pixels).step_by(16) {
            let pixels = (self.pixels - p0).min(16);
            for o0 in (0..op.outputs).step_by(C) {
                let (b, c) = (o0 / block, o0 % block);
                let tile = Tile {
                    x: self.x.as_ptr().wrapping_add(p0),
                    weights: op.packed[b * op.inputs * block + c..].as_ptr(),
                    bias: &op.bias[o0..o0 + C],
                    residual: self
                        .residual
                        .map(|r| r.as_ptr().wrapping_add(o0 * self.out_stride + p0)),
                    out: out.as_mut_ptr().wrapping_add(o0 * self.out_stride + p0),
                    offsets: self.offsets,
                    out_stride: self.out_stride,
                    rows: (op.outputs - o0).min(C),
                    pixels,
                    relu: op.relu,
                };
                // SAFETY: as in `tiles_avx512`; the CPU has AVX2 and FMA.
                unsafe { tile_avx2::<C>(&tile, block) };
            }
        }
    }
}

/// One tile: `rows` output channels × `pixels` pixels.
///
/// Pointers: `x` at the tile's first pixel, plus `offsets[i]` for input
/// channel `i`; `out` and `residual` at the tile's first
/// output channel and pixel (channel `o` is `o · out_stride` further),
/// `weights` at the tile's first channel in its block (input channel `i`'s
/// weights `i · block` further).
#[cfg(target_arch = "x86_64")]
struct Tile<'a> {
    x: *const f32,
    weights: *const f32,
    bias: &'a [f32],
    residual: Option<*const f32>,
    out: *mut f32,
    offsets: &'a [usize],
    out_stride: usize,
    rows: usize,
    pixels: usize,
    relu: bool,
}

/// `C` channels × `P` vectors of 16 pixels, summed in registers.
///
/// # Safety
/// The CPU has AVX-512F; for every input channel `i < inputs`,
/// `x + offsets[i]` is readable for `pixels` floats and `weights + i·C` for
/// `C`; for every row `r < rows`, `out + r·out_stride` (and `residual`'s)
/// for `pixels`; `bias` has `C` values; `pixels <= 16·P`, `rows <= C`.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile_avx512<const P: usize, const C: usize>(t: &Tile<'_>) {
    use std::arch::x86_64::*;
    let masks: [__mmask16; P] = std::array::from_fn(|p| {
        let left = t.pixels.saturating_sub(LANES_512 * p).min(LANES_512);
        ((1u32 << left) - 1) as __mmask16
    });
    let mut acc = [[_mm512_setzero_ps(); P]; C];
    for (i, &offset) in t.offsets.iter().enumerate() {
        let row = t.x.wrapping_add(offset);
        // SAFETY: masked-off lanes are not read; the rest lie in the
        // input channel's row (the function's contract).
        let xs: [__m512; P] = std::array::from_fn(|p| unsafe {
            _mm512_maskz_loadu_ps(masks[p], row.wrapping_add(LANES_512 * p))
        });
        let w = t.weights.wrapping_add(i * C);
        for (c, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `C` weights per input channel (the contract).
            let wc = _mm512_set1_ps(unsafe { *w.add(c) });
            for (a, &x) in acc.iter_mut().zip(&xs) {
                *a = _mm512_fmadd_ps(wc, x, *a);
            }
        }
    }
    let zero = _mm512_setzero_ps();
    for (c, acc) in acc.iter().enumerate() {
        if c >= t.rows {
            break;
        }
        let bias = _mm512_set1_ps(t.bias[c]);
        for (p, &a) in acc.iter().enumerate() {
            if masks[p] == 0 {
                break;
            }
            let at = c * t.out_stride + LANES_512 * p;
            let mut v = _mm512_add_ps(a, bias);
            if let Some(r) = t.residual {
                // SAFETY: as for the input rows, in the residual's row `c`.
                let r = unsafe { _mm512_maskz_loadu_ps(masks[p], r.wrapping_add(at)) };
                v = _mm512_add_ps(v, r);
            }
            if t.relu {
                v = _mm512_max_ps(v, zero);
            }
            // SAFETY: masked-off lanes are not written; the rest lie in
            // output row `c` (the contract).
            unsafe { _mm512_mask_storeu_ps(t.out.wrapping_add(at), masks[p], v) };
        }
    }
}

/// `C` channels × 2 vectors of 8 pixels, summed in registers; the tile's
/// weights are `block` apart from one input channel to the next.
///
/// # Safety
/// As [`tile_avx512`] with `P = 2` and the CPU having AVX2 and FMA; input
/// channel `i`'s weights start at `weights + i·block`.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_avx2<const C: usize>(t: &Tile<'_>, block: usize) {
    use std::arch::x86_64::*;
    const P: usize = 2;
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let counts: [usize; P] = std::array::from_fn(|p| t.pixels.saturating_sub(8 * p).min(8));
    let masks: [__m256i; P] =
        std::array::from_fn(|p| _mm256_cmpgt_epi32(_mm256_set1_epi32(counts[p] as i32), lanes));
    let mut acc = [[_mm256_setzero_ps(); P]; C];
    for (i, &offset) in t.offsets.iter().enumerate() {
        let row = t.x.wrapping_add(offset);
        // SAFETY: masked-off lanes are not read (the contract for the rest).
        let xs: [__m256; P] = std::array::from_fn(|p| unsafe {
            _mm256_maskload_ps(row.wrapping_add(8 * p), masks[p])
        });
        let w = t.weights.wrapping_add(i * block);
        for (c, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `C` weights per input channel (the contract).
            let wc = _mm256_set1_ps(unsafe { *w.add(c) });
            for (a, &x) in acc.iter_mut().zip(&xs) {
                *a = _mm256_fmadd_ps(wc, x, *a);
            }
        }
    }
    let zero = _mm256_setzero_ps();
    for (c, acc) in acc.iter().enumerate() {
        if c >= t.rows {
            break;
        }
        let bias = _mm256_set1_ps(t.bias[c]);
        for (p, &a) in acc.iter().enumerate() {
            if counts[p] == 0 {
                break;
            }
            let at = c * t.out_stride + 8 * p;
            let mut v = _mm256_add_ps(a, bias);
            if let Some(r) = t.residual {
                // SAFETY: as for the input rows, in the residual's row `c`.
                let r = unsafe { _mm256_maskload_ps(r.wrapping_add(at), masks[p]) };
                v = _mm256_add_ps(v, r);
            }
            if t.relu {
                v = _mm256_max_ps(v, zero);
            }
            // SAFETY: masked-off lanes are not written (the contract).
            unsafe { _mm256_maskstore_ps(t.out.wrapping_add(at), masks[p], v) };
        }
    }
}

impl Op for Pointwise {
    fn name(&self) -> StaticName {
        "FacecorePointwise".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} -> {} channels, tile {}x{}, residual: {}, relu: {}",
            self.inputs,
            self.outputs,
            self.block,
            16 * self.vectors,
            self.residual,
            self.relu
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for Pointwise {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext<'_>, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(
            inputs.len() == 1 + usize::from(self.residual),
            "pointwise: {} inputs",
            inputs.len()
        );
        let input = &inputs[0];
        let shape = self.output_shape(input.shape(), self.outputs, 1);
        let lead = usize::from(self.batch_axis);
        ensure!(
            input.rank() == 3 + lead
                && input.shape()[lead] == self.inputs
                && (!self.batch_axis || input.shape()[0] == 1),
            "pointwise: unexpected input shape {:?}",
            input.shape()
        );
        // SAFETY: `compute` writes every element of the output before
        // anyone reads it (each output channel × pixel is stored once by
        // exactly one tile; an empty layer has no elements).
        #[allow(unsafe_code)]
        let mut output = unsafe { Tensor::uninitialized::<f32>(&shape)? };
        {
            let x = input.try_as_plain_ram()?;
            let residual = match inputs.get(1) {
                Some(r) => {
                    ensure!(r.shape() == &*shape, "pointwise: residual shape");
                    Some(r.try_as_plain_ram()?)
                }
                None => None,
            };
            let residual = match &residual {
                Some(r) => Some(r.as_slice::<f32>()?),
                None => None,
            };
            let mut view = output.try_as_plain_ram_mut()?;
            let out = view.as_slice_mut::<f32>()?;
            if self.channels_last {
                // Channels first into a buffer, then transposed: the heads
                // this serves have 4-12 outputs on at most 1,200 pixels.
                let mut planes = vec![0f32; out.len()];
                self.compute(Isa::best(), x.as_slice::<f32>()?, residual, &mut planes);
                transpose(&planes, self.outputs, out);
            } else {
                self.compute(Isa::best(), x.as_slice::<f32>()?, residual, out);
            }
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for Pointwise {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs[0];
        let lead = usize::from(self.batch_axis);
        ensure!(input.rank() == 3 + lead, "unexpected rank {}", input.rank());
        let shape = self.output_shape(&input.shape.to_tvec(), self.outputs.to_dim(), 1.to_dim());
        Ok(tvec!(f32::fact(shape)))
    }

    as_op!();
}

/// Writes `rows × columns` row-major `src` into `dst` column-major (its
/// transpose, `columns × rows` row-major), `rows = src.len() / columns`.
pub(crate) fn transpose(src: &[f32], rows: usize, dst: &mut [f32]) {
    let columns = src.len() / rows.max(1);
    for (r, row) in src.chunks_exact(columns.max(1)).enumerate().take(rows) {
        for (c, &v) in row.iter().enumerate() {
            dst[c * rows + r] = v;
        }
    }
}

/// When `outlet`'s only consumer adds a constant `[outputs, 1, 1]` (or
/// `[1, outputs, 1, 1]`; channels last, `[1, 1, 1, outputs]`) bias to it:
/// that node and the bias.
fn bias_after(
    model: &TypedModel,
    outlet: OutletId,
    outputs: usize,
    channels_last: bool,
) -> TractResult<Option<(usize, Vec<f32>)>> {
    let Some((add, other)) = add_after(model, outlet)? else {
        return Ok(None);
    };
    let Some(k) = model.outlet_fact(other)?.konst.as_ref() else {
        return Ok(None);
    };
    let fits = if channels_last {
        k.shape() == [1, 1, 1, outputs]
    } else {
        k.shape() == [outputs, 1, 1] || k.shape() == [1, outputs, 1, 1]
    };
    if k.datum_type() != f32::datum_type() || !fits {
        return Ok(None);
    }
    Ok(Some((
        add,
        k.try_as_plain_ram()?.as_slice::<f32>()?.to_vec(),
    )))
}

/// Replaces every 1×1 convolution of a decluttered `model` that
/// [`Pointwise`] covers, together with the bias `Add`, a residual `Add`
/// and a ReLU right after it when they are there (in that order); returns
/// how many convolutions were replaced.
///
/// # Errors
/// When tract cannot patch the graph.
pub fn replace_pointwise(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(mut op) = Pointwise::for_node(model, node)? else {
            continue;
        };
        let input = node.inputs[0];
        let mut last = OutletId::new(id, 0);
        if let Some((add, bias)) = bias_after(model, last, op.outputs, op.channels_last)? {
            let mut padded = bias;
            padded.resize(op.bias.len(), 0.0);
            op.bias = padded.into();
            last = OutletId::new(add, 0);
        }
        let mut residual = None;
        // A residual: another computed tensor of the output's own shape
        // (not a broadcast one).
        if let Some((add, other)) = add_after(model, last)?
            && !op.channels_last
            && model.outlet_fact(other)?.konst.is_none()
            && model.outlet_fact(other)?.shape == model.outlet_fact(last)?.shape
            && model.outlet_fact(other)?.datum_type == f32::datum_type()
        {
            op.residual = true;
            residual = Some(other);
            last = OutletId::new(add, 0);
        }
        if let Some(relu) = relu_after(model, last)? {
            op.relu = true;
            last = OutletId::new(relu, 0);
        }
        let name = model.node(id).name.clone();
        let mut patch = TypedModelPatch::default();
        let mut wires = tvec![patch.tap_model(model, input)?];
        if let Some(r) = residual {
            wires.push(patch.tap_model(model, r)?);
        }
        let out = patch.wire_node(&name, op, &wires)?;
        patch.shunt_outside(model, last, out[0])?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::conv::{Conv, KernelFormat};
    use tract_onnx::tract_core::ops::cnn::{PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::konst::Const;
    use tract_onnx::tract_core::ops::math;
    use tract_onnx::tract_core::ops::nn::DataFormat;

    use crate::testing::{close, ok, run};

    /// Deterministic values in [-0.5, 0.5).
    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut v = seed;
        (0..n)
            .map(|_| {
                v = v.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (v >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// Every instruction set this CPU can run.
    fn isas() -> Vec<Isa> {
        let mut all = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                all.push(Isa::Avx2);
            }
            if std::is_x86_feature_detected!("avx512f") {
                all.push(Isa::Avx512);
            }
        }
        all
    }

    #[test]
    fn every_path_computes_the_layer_on_ragged_sizes() {
        for (inputs, outputs, pixels) in [
            (1, 1, 1),
            (3, 5, 7),
            (16, 32, 65),
            (4, 6, 64),
            (33, 7, 17),
            (8, 13, 16),
            (5, 25, 33),
            (2, 40, 200),
            (24, 24, 80),
            (7, 12, 1),
            // No input channels: the bias alone, whatever the pixels.
            (0, 3, 70),
        ] {
            let weights = values(inputs * outputs, 1);
            let bias = values(outputs, 2);
            let x = values(inputs * pixels, 3);
            let residual = values(outputs * pixels, 4);
            for (with_residual, relu) in
                [(false, false), (true, false), (false, true), (true, true)]
            {
                let mut op = ok(Pointwise::new(&weights, &bias, inputs, outputs, pixels));
                op.residual = with_residual;
                op.relu = relu;
                let expected: Vec<f32> = (0..outputs * pixels)
                    .map(|at| {
                        let (o, p) = (at / pixels, at % pixels);
                        let mut v = f64::from(bias[o]);
                        for i in 0..inputs {
                            v += f64::from(weights[o * inputs + i]) * f64::from(x[i * pixels + p]);
                        }
                        if with_residual {
                            v += f64::from(residual[at]);
                        }
                        let v = v as f32;
                        if relu { v.max(0.0) } else { v }
                    })
                    .collect();
                for isa in isas() {
                    let mut out = vec![f32::NAN; outputs * pixels];
                    op.compute(isa, &x, with_residual.then_some(&residual[..]), &mut out);
                    for (at, (a, b)) in out.iter().zip(&expected).enumerate() {
                        assert!(
                            (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                            "{isa:?} {inputs}->{outputs} x {pixels} px, residual {with_residual}, \
                             relu {relu}, element {at}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn tile_shapes_waste_the_fewest_lanes() {
        // Pixels and channels both fill whole tiles.
        assert_eq!(tile_for(64, 66), (4, 6));
        assert_eq!(tile_for(1200, 64), (3, 8));
        assert_eq!(tile_for(16, 256), (1, 12));
        assert_eq!(tile_for(160, 16), (2, 8));
        // 80 pixels: 6 x 64 would compute 128 pixels, 12 x 16 exactly 80.
        assert_eq!(tile_for(80, 48), (1, 12));
        // A tie goes to the tile with more accumulators.
        assert_eq!(tile_for(32, 72), (2, 12));
    }

    /// A decluttered-looking graph: `[c, h, w]` input, a 1×1 convolution
    /// as tract's `EinSum`, a bias, a residual from a second input, a ReLU.
    fn einsum_model(c: usize, o: usize, h: usize, w: usize, r_shape: [usize; 3]) -> TypedModel {
        let mut model = TypedModel::default();
        let x = ok(model.add_source("x", f32::fact([c, h, w])));
        let r = ok(model.add_source("r", f32::fact(r_shape)));
        let weights = tract_ndarray::Array2::from_shape_vec((o, c), values(o * c, 5));
        let k = ok(model.add_const("k", Tensor::from(ok(weights.map_err(Into::into)))));
        let bias = tract_ndarray::Array3::from_shape_vec((o, 1, 1), values(o, 6));
        let b = ok(model.add_const("b", Tensor::from(ok(bias.map_err(Into::into)))));
        let zero = ok(model.add_const("zero", ok(Tensor::zero::<f32>(&[1, 1, 1]))));
        let axes = ok("IHW,OI->OHW".parse());
        let y = ok(model.wire_node("conv", EinSum::new(axes, f32::datum_type()), &[x, k]));
        let y = ok(model.wire_node("bias", math::add(), &[y[0], b]));
        let y = ok(model.wire_node("residual", math::add(), &[r, y[0]]));
        let y = ok(model.wire_node("relu", math::max(), &[y[0], zero]));
        ok(model.select_output_outlets(&y));
        model
    }

    fn ops(model: &TypedModel) -> Vec<String> {
        model
            .nodes()
            .iter()
            .filter(|n| !n.op_is::<Const>())
            .map(|n| n.op().name().to_string())
            .collect()
    }

    #[test]
    fn bias_residual_and_relu_fold_in_and_match_tract() {
        for (c, o, h, w) in [(3, 5, 4, 7), (16, 32, 12, 16), (32, 8, 1, 1)] {
            let inputs = [
                Tensor::from(tract_ndarray::Array3::from_shape_fn(
                    (c, h, w),
                    |(a, b, d)| ((a * 31 + b * 7 + d * 3) % 23) as f32 / 11.0 - 1.0,
                )),
                Tensor::from(tract_ndarray::Array3::from_shape_fn(
                    (o, h, w),
                    |(a, b, d)| ((a * 13 + b * 5 + d) % 19) as f32 / 9.0 - 1.0,
                )),
            ];
            let mut model = einsum_model(c, o, h, w, [o, h, w]);
            assert_eq!(ok(replace_pointwise(&mut model)), 1);
            let model = ok(model.into_decluttered());
            assert_eq!(ops(&model), ["Source", "Source", "FacecorePointwise"]);
            let ours = run(model, &inputs);
            assert!(ours.contains(&0.0), "the ReLU clipped something");
            let theirs = run(einsum_model(c, o, h, w, [o, h, w]), &inputs);
            close(&ours, &theirs, "{c}->{o}");
        }
    }

    #[test]
    fn a_channels_last_head_matches_tract() {
        // As the detector's heads: CHW in, [1, H, W, O] out, a bias, a ReLU.
        let (c, o, h, w) = (16, 6, 5, 7);
        let build = || {
            let mut model = TypedModel::default();
            let x = ok(model.add_source("x", f32::fact([c, h, w])));
            let weights = tract_ndarray::Array2::from_shape_vec((o, c), values(o * c, 9));
            let k = ok(model.add_const("k", Tensor::from(ok(weights.map_err(Into::into)))));
            let bias = tract_ndarray::Array4::from_shape_vec((1, 1, 1, o), values(o, 10));
            let b = ok(model.add_const("b", Tensor::from(ok(bias.map_err(Into::into)))));
            let zero = ok(model.add_const("zero", ok(Tensor::zero::<f32>(&[1, 1, 1, 1]))));
            let axes = ok("IHW,OI->NHWO".parse());
            let y = ok(model.wire_node("conv", EinSum::new(axes, f32::datum_type()), &[x, k]));
            let y = ok(model.wire_node("bias", math::add(), &[y[0], b]));
            let y = ok(model.wire_node("relu", math::max(), &[y[0], zero]));
            ok(model.select_output_outlets(&y));
            model
        };
        let input = Tensor::from(tract_ndarray::Array3::from_shape_fn(
            (c, h, w),
            |(a, b, d)| ((a * 7 + b * 3 + d) % 13) as f32 / 6.0 - 1.0,
        ));
        let mut model = build();
        assert_eq!(ok(replace_pointwise(&mut model)), 1);
        let model = ok(model.into_decluttered());
        assert_eq!(
            ops(&model),
            ["Source", "FacecorePointwise"],
            "bias and ReLU in"
        );
        let ours = run(model, std::slice::from_ref(&input));
        assert!(ours.contains(&0.0), "the ReLU clipped something");
        close(&ours, &run(build(), &[input]), "channels last");
    }

    #[test]
    fn a_broadcast_addend_is_not_taken_for_a_residual() {
        let (c, o, h, w) = (4, 6, 3, 5);
        let inputs = [
            Tensor::from(tract_ndarray::Array3::from_shape_fn(
                (c, h, w),
                |(a, b, d)| (a + 2 * b + 3 * d) as f32 / 10.0 - 1.0,
            )),
            Tensor::from(tract_ndarray::Array3::from_shape_fn(
                (o, 1, 1),
                |(a, _, _)| a as f32 / 4.0 - 0.5,
            )),
        ];
        let mut model = einsum_model(c, o, h, w, [o, 1, 1]);
        assert_eq!(ok(replace_pointwise(&mut model)), 1);
        let model = ok(model.into_decluttered());
        let names = ops(&model);
        assert!(names.contains(&"Add".to_string()), "{names:?}");
        let ours = run(model, &inputs);
        close(
            &ours,
            &run(einsum_model(c, o, h, w, [o, 1, 1]), &inputs),
            "broadcast",
        );
    }

    #[test]
    fn an_onnx_style_convolution_is_found_after_declutter() {
        // As tract-onnx imports a 1x1 Conv on a batch of one, then declutters
        // it into `NIHW,OI->OHW` plus a bias.
        let (c, o, h, w) = (6, 10, 5, 9);
        let build = || {
            let mut model = TypedModel::default();
            let x = ok(model.add_source("x", f32::fact([1, c, h, w])));
            let kernel = tract_ndarray::Array4::from_shape_vec((o, c, 1, 1), values(o * c, 7));
            let k = ok(model.add_const("k", Tensor::from(ok(kernel.map_err(Into::into)))));
            let b = ok(model.add_const("b", tensor1(&values(o, 8))));
            let spec = PoolSpec {
                data_format: DataFormat::NCHW,
                kernel_shape: tvec![1, 1],
                padding: PaddingSpec::Valid,
                dilations: None,
                strides: None,
                input_channels: c,
                output_channels: o,
            };
            let conv = Conv::new(spec, KernelFormat::OIHW, 1, None);
            let y = ok(model.wire_node("conv", conv, &[x, k, b]));
            ok(model.select_output_outlets(&y));
            ok(model.into_decluttered())
        };
        let input = Tensor::from(tract_ndarray::Array4::from_shape_fn(
            (1, c, h, w),
            |(_, a, b, d)| ((a * 3 + b * 5 + d * 7) % 17) as f32 / 8.0 - 1.0,
        ));
        let mut model = build();
        let info: Vec<_> = model.nodes().iter().map(|n| ok(n.op().info())).collect();
        assert_eq!(ok(replace_pointwise(&mut model)), 1, "{info:?}");
        let model = ok(model.into_decluttered());
        assert_eq!(
            ops(&model),
            ["Source", "FacecorePointwise"],
            "the bias folded in"
        );
        let ours = run(model, std::slice::from_ref(&input));
        close(&ours, &run(build(), &[input]), "onnx-style");
    }

    #[test]
    fn other_products_are_left_to_tract() {
        // A plain matrix product is not a 1x1 convolution.
        let mut model = TypedModel::default();
        let x = ok(model.add_source("x", f32::fact([3, 4])));
        let k = ok(model.add_const(
            "k",
            Tensor::from(tract_ndarray::Array2::<f32>::zeros((4, 2))),
        ));
        let axes = ok("mk,kn->mn".parse());
        ok(model.wire_node("mm", EinSum::new(axes, f32::datum_type()), &[x, k]));
        assert_eq!(ok(replace_pointwise(&mut model)), 0);
    }
}
