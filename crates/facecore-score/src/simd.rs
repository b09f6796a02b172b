//! The AVX2 (and FMA) builds of [`crate::dot`] and of the fused sums
//! behind [`crate::cosine`], chosen at run time when the CPU has the
//! features; both give the portable code's results bit for bit.
//!
//! One of the few places in facecore that allow `unsafe` (see the root
//! `Cargo.toml`): the intrinsics' loads and stores take raw pointers, and
//! a `#[target_feature]` function may only be called once the feature is
//! known to be present, which each entry point here asserts.

use std::arch::x86_64::{
    __m256, __m256d, _mm_loadu_ps, _mm256_add_ps, _mm256_cvtps_pd, _mm256_fmadd_pd,
    _mm256_loadu_ps, _mm256_mul_ps, _mm256_setzero_pd, _mm256_setzero_ps, _mm256_storeu_pd,
    _mm256_storeu_ps,
};

/// Whether this CPU runs AVX2 (the standard library caches the answer).
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// [`crate::dot`] in eight-wide registers: the same sixteen lanes, each
/// `acc += x·y` with the product rounded before the sum (no fused
/// multiply-add), then summed in lane order, so that the result is bit
/// for bit the portable loop's on every machine.
pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert!(available(), "the AVX2 kernel needs AVX2");
    // SAFETY: AVX2 (and so AVX) is present (asserted above), which is
    // all that `dot_f32_avx2`'s target feature requires.
    unsafe { dot_f32_avx2(a, b) }
}

/// Whether this CPU also has fused multiply-add, which
/// [`fused_sums`] uses besides AVX2.
pub(crate) fn fma_available() -> bool {
    available() && std::arch::is_x86_feature_detected!("fma")
}

/// [`crate::fused_sums`] in four-wide `f64` registers, with fused
/// multiply-adds: products of `f32`s are exact in `f64`, so rounding
/// `x·y + acc` once is rounding `acc` plus the exact product, which is
/// what the portable code's separate multiply and add compute.
pub(crate) fn fused_sums(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
    assert!(fma_available(), "the kernel needs AVX2 and FMA");
    // SAFETY: AVX2 and FMA are present (asserted above), which is all
    // that `fused_sums_avx2`'s target features require.
    unsafe { fused_sums_avx2(a, b) }
}

/// Four `f32`s as four `f64`s (exact conversions).
#[target_feature(enable = "avx2")]
fn load_f32_as_f64(chunk: &[f32; 4]) -> __m256d {
    // SAFETY: `chunk` is 4 readable floats; the load is unaligned.
    unsafe { _mm256_cvtps_pd(_mm_loadu_ps(chunk.as_ptr())) }
}

/// The lanes of [`crate::fused_sums_lanes`], four to a register.
#[target_feature(enable = "avx2,fma")]
fn fused_sums_avx2(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
    const REGS: usize = crate::F64_LANES / 4;
    let n = a.len().min(b.len());
    let whole = n - n % crate::F64_LANES;
    let (ca, _) = a[..whole].as_chunks::<4>();
    let (cb, _) = b[..whole].as_chunks::<4>();
    let mut aa = [_mm256_setzero_pd(); REGS];
    let mut bb = [_mm256_setzero_pd(); REGS];
    let mut ab = [_mm256_setzero_pd(); REGS];
    for (x, y) in ca.chunks_exact(REGS).zip(cb.chunks_exact(REGS)) {
        for r in 0..REGS {
            let (x, y) = (load_f32_as_f64(&x[r]), load_f32_as_f64(&y[r]));
            aa[r] = _mm256_fmadd_pd(x, x, aa[r]);
            bb[r] = _mm256_fmadd_pd(y, y, bb[r]);
            ab[r] = _mm256_fmadd_pd(x, y, ab[r]);
        }
    }
    let lanes = |acc: [__m256d; REGS]| {
        let mut out = [0.0f64; crate::F64_LANES];
        for (chunk, reg) in out.as_chunks_mut::<4>().0.iter_mut().zip(acc) {
            // SAFETY: `chunk` is 4 writable doubles; the store is
            // unaligned.
            unsafe { _mm256_storeu_pd(chunk.as_mut_ptr(), reg) };
        }
        out
    };
    crate::finish_fused_sums(
        [lanes(aa), lanes(bb), lanes(ab)],
        &a[whole..n],
        &b[whole..n],
    )
}

/// Loads eight `f32`s.
#[target_feature(enable = "avx2")]
fn load_f32(chunk: &[f32; 8]) -> __m256 {
    // SAFETY: `chunk` is 8 readable floats; the load is unaligned.
    unsafe { _mm256_loadu_ps(chunk.as_ptr()) }
}

#[target_feature(enable = "avx2")]
fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let whole = n - n % 16;
    // Lanes 0–7 and 8–15 of each chunk of sixteen.
    let (ca, _) = a[..whole].as_chunks::<8>();
    let (cb, _) = b[..whole].as_chunks::<8>();
    let mut low = _mm256_setzero_ps();
    let mut high = _mm256_setzero_ps();
    for (x, y) in ca.chunks_exact(2).zip(cb.chunks_exact(2)) {
        low = _mm256_add_ps(low, _mm256_mul_ps(load_f32(&x[0]), load_f32(&y[0])));
        high = _mm256_add_ps(high, _mm256_mul_ps(load_f32(&x[1]), load_f32(&y[1])));
    }
    let mut lanes = [0.0f32; 16];
    let (first, second) = lanes.split_at_mut(8);
    // SAFETY: each half of `lanes` is 8 writable floats; the stores
    // are unaligned.
    unsafe {
        _mm256_storeu_ps(first.as_mut_ptr(), low);
        _mm256_storeu_ps(second.as_mut_ptr(), high);
    }
    let mut tail = 0.0f32;
    for (x, y) in a[whole..n].iter().zip(&b[whole..n]) {
        tail += x * y;
    }
    lanes.iter().sum::<f32>() + tail
}
