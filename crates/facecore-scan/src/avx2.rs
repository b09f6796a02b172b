//! The AVX2 kernels of the scans: the integer dots of the 8-bit codes
//! ([`crate::Sq8Rows`]) and of the packed 4-bit codes ([`crate::Sq4Rows`]),
//! and cache prefetching. Each kernel is chosen at run time, when the CPU
//! has AVX2, and gives the same integers as the portable loop beside its
//! caller.
//!
//! One of the few places in facecore that allow `unsafe` (see the root
//! `Cargo.toml`): the intrinsics' loads take raw pointers, and a
//! `#[target_feature]` function may only be called where the feature is
//! known to be present, which each entry point here asserts. The `f32`
//! kernels of [`facecore_score::dot`] and [`facecore_score::cosine`] are
//! facecore-score's own.

use std::arch::x86_64::{
    __m128i, __m256i, _MM_HINT_T0, _MM_HINT_T1, _mm_add_epi32, _mm_add_ps, _mm_cmpge_ps,
    _mm_cvtepi32_ps, _mm_cvtsi128_si32, _mm_movemask_ps, _mm_mul_ps, _mm_prefetch, _mm_set1_ps,
    _mm_shuffle_epi32, _mm_storeu_ps, _mm256_add_epi16, _mm256_add_epi32, _mm256_and_si256,
    _mm256_castsi256_si128, _mm256_extracti128_si256, _mm256_hadd_epi32, _mm256_loadu_si256,
    _mm256_madd_epi16, _mm256_maddubs_epi16, _mm256_set1_epi8, _mm256_set1_epi16,
    _mm256_setzero_si256, _mm256_sign_epi8, _mm256_srli_epi16,
};

/// Whether this CPU runs AVX2 (the standard library caches the answer).
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// Asks the CPU to start loading every cache line of `data` (a hint:
/// it never faults and changes no result). Plain SSE, which every
/// x86-64 has.
pub(crate) fn prefetch<T>(data: &[T]) {
    let bytes = std::mem::size_of_val(data);
    let start = data.as_ptr().cast::<i8>();
    for offset in (0..bytes).step_by(64) {
        // SAFETY: `offset` is inside `data`, so the pointer stays in
        // its allocation; a prefetch reads nothing architecturally.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset)) }
    }
}

/// Appends the integer dot of `query` with every row of `codes`.
pub(crate) fn dots(query: &[i8], codes: &[i8], out: &mut Vec<i32>) {
    assert!(available(), "the AVX2 kernel needs AVX2");
    // SAFETY: AVX2 is present (asserted above), which is all that
    // `dots_avx2`'s target feature requires.
    unsafe { dots_avx2(query, codes, out) }
}

/// The integer dot of one pair of rows.
pub(crate) fn dot(query: &[i8], row: &[i8]) -> i32 {
    assert!(available(), "the AVX2 kernel needs AVX2");
    // SAFETY: AVX2 is present (asserted above), which is all that
    // `dot_avx2`'s target feature requires.
    unsafe { dot_avx2(query, row) }
}

#[target_feature(enable = "avx2")]
fn dots_avx2(query: &[i8], codes: &[i8], out: &mut Vec<i32>) {
    let dim = query.len();
    out.reserve(codes.len() / dim);
    for row in codes.chunks_exact(dim) {
        out.push(dot_avx2(query, row));
    }
}

/// Loads 32 codes.
#[target_feature(enable = "avx2")]
fn load(chunk: &[i8; 32]) -> __m256i {
    // SAFETY: `chunk` is 32 readable bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) }
}

/// `Σ a·b` over 32 codes at a time: `|a|` as unsigned times `b` with
/// `a`'s sign, summed in pairs to 16 bits (at most `2 × 127²`, no
/// saturation since codes avoid -128), then to 32 bits.
#[target_feature(enable = "avx2")]
fn dot_avx2(query: &[i8], row: &[i8]) -> i32 {
    let (cq, rq) = query.as_chunks::<32>();
    let (cr, rr) = row.as_chunks::<32>();
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_si256();
    for (a, b) in cq.iter().zip(cr) {
        let a = load(a);
        let b = load(b);
        let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
    }
    let s = _mm_add_epi32(
        _mm256_castsi256_si128(acc),
        _mm256_extracti128_si256(acc, 1),
    );
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    let tail: i32 = rq
        .iter()
        .zip(rr)
        .map(|(&a, &b)| i32::from(a) * i32::from(b))
        .sum();
    _mm_cvtsi128_si32(s) + tail
}

/// Appends the integer dot of `weights` with every packed 4-bit row of
/// `codes` (rows of `width` bytes; see `crate::sq4` for the layout).
pub(crate) fn dots_u4(weights: &[i8], codes: &[u8], width: usize, out: &mut Vec<f32>) {
    assert!(available(), "the AVX2 kernel needs AVX2");
    assert_eq!(
        weights.len(),
        2 * width,
        "dots_u4: weights for another width"
    );
    assert!(width.is_multiple_of(32), "dots_u4: width not whole blocks");
    // SAFETY: AVX2 is present (asserted above), which is all that
    // `dots_u4_avx2`'s target feature requires.
    unsafe { dots_u4_avx2(weights, codes, width, out) }
}

/// How far ahead of the rows being scanned the kernels ask for
/// lines into the first-level cache...
const PREFETCH_NEAR: usize = 1024;
/// ...and, a second time, into the second level, further ahead: more
/// lines in flight than the nearer requests alone keep (on this
/// project's 2-core machine, a scan of 2,000 lists of 16 KB on both
/// cores went from 1.6-1.7 ms to 1.25-1.45 ms with it; see
/// docs/performance.md).
const PREFETCH_FAR: usize = 4096;

/// Asks for the lines [`PREFETCH_NEAR`] and [`PREFETCH_FAR`] bytes
/// past each line of `rows` (rows a sequential scan is reading now):
/// the hardware's own prefetcher alone left the scans at about half of
/// what memory delivers, once the rows no longer fit the caches.
#[target_feature(enable = "avx2")]
fn prefetch_ahead<T>(rows: &[T]) {
    let start = rows.as_ptr().cast::<i8>();
    let near = start.wrapping_add(PREFETCH_NEAR);
    let far = start.wrapping_add(PREFETCH_FAR);
    for line in (0..std::mem::size_of_val(rows)).step_by(64) {
        // A prefetch reads nothing architecturally, so the address may
        // lie past the end (`wrapping_add` keeps the pointer arithmetic
        // itself defined).
        _mm_prefetch::<_MM_HINT_T0>(near.wrapping_add(line));
        _mm_prefetch::<_MM_HINT_T1>(far.wrapping_add(line));
    }
}

/// Like [`dots_u4`], but keeps only the rows whose estimate
/// `offset + dot · unit` (computed as `f32`, multiply then add) is at
/// least `cut`, appending `(row, estimate)` to `out`: a scan that wants
/// only its best rows then handles one in hundreds instead of every
/// estimate.
pub(crate) fn dots_u4_above(
    weights: &[i8],
    codes: &[u8],
    width: usize,
    line: (f32, f32),
    cut: f32,
    out: &mut Vec<(u32, f32)>,
) {
    assert!(available(), "the AVX2 kernel needs AVX2");
    assert_eq!(
        weights.len(),
        2 * width,
        "dots_u4_above: weights for another width"
    );
    assert!(
        width.is_multiple_of(32),
        "dots_u4_above: width not whole blocks"
    );
    // SAFETY: AVX2 is present (asserted above), which is all that
    // `dots_u4_above_avx2`'s target feature requires.
    unsafe { dots_u4_above_avx2(weights, codes, width, line, cut, out) }
}

#[target_feature(enable = "avx2")]
fn dots_u4_avx2(weights: &[i8], codes: &[u8], width: usize, out: &mut Vec<f32>) {
    let (weights, _) = weights.as_chunks::<32>();
    let rows = codes.len() / width;
    out.reserve(rows);
    let mut quads = codes.chunks_exact(4 * width);
    for quad in &mut quads {
        let mut four = [0.0f32; 4];
        // SAFETY: `four` is 4 writable floats; the store is unaligned.
        unsafe {
            _mm_storeu_ps(
                four.as_mut_ptr(),
                _mm_cvtepi32_ps(quad_u4(weights, quad, width)),
            )
        };
        out.extend_from_slice(&four);
    }
    for row in quads.remainder().chunks_exact(width) {
        out.push(row_sum_u4(weights, row) as f32);
    }
}

#[target_feature(enable = "avx2")]
fn dots_u4_above_avx2(
    weights: &[i8],
    codes: &[u8],
    width: usize,
    (offset, unit): (f32, f32),
    cut: f32,
    out: &mut Vec<(u32, f32)>,
) {
    let (weights, _) = weights.as_chunks::<32>();
    let (offsets, units, cuts) = (_mm_set1_ps(offset), _mm_set1_ps(unit), _mm_set1_ps(cut));
    let mut quads = codes.chunks_exact(4 * width);
    let mut row = 0u32;
    for quad in &mut quads {
        let dots = _mm_cvtepi32_ps(quad_u4(weights, quad, width));
        let estimates = _mm_add_ps(offsets, _mm_mul_ps(dots, units));
        let mut above = _mm_movemask_ps(_mm_cmpge_ps(estimates, cuts));
        if above != 0 {
            let mut four = [0.0f32; 4];
            // SAFETY: `four` is 4 writable floats; the store is unaligned.
            unsafe { _mm_storeu_ps(four.as_mut_ptr(), estimates) };
            while above != 0 {
                let lane = above.trailing_zeros();
                out.push((row + lane, four[lane as usize]));
                above &= above - 1;
            }
        }
        row += 4;
    }
    for codes in quads.remainder().chunks_exact(width) {
        let estimate = offset + row_sum_u4(weights, codes) as f32 * unit;
        if estimate >= cut {
            out.push((row, estimate));
        }
        row += 1;
    }
}

/// The integer dots of four consecutive packed rows (`quad`, rows of
/// `width` bytes), asking for the lines ahead of them first.
#[target_feature(enable = "avx2")]
fn quad_u4(weights: &[[i8; 32]], quad: &[u8], width: usize) -> __m128i {
    prefetch_ahead(quad);
    let (a, rest) = quad.split_at(width);
    let (b, rest) = rest.split_at(width);
    let (c, d) = rest.split_at(width);
    // Four rows share one horizontal reduction.
    let ab = _mm256_hadd_epi32(row_u4(weights, a), row_u4(weights, b));
    let cd = _mm256_hadd_epi32(row_u4(weights, c), row_u4(weights, d));
    let abcd = _mm256_hadd_epi32(ab, cd);
    _mm_add_epi32(
        _mm256_castsi256_si128(abcd),
        _mm256_extracti128_si256(abcd, 1),
    )
}

/// The integer dot of one packed row.
#[target_feature(enable = "avx2")]
fn row_sum_u4(weights: &[[i8; 32]], row: &[u8]) -> i32 {
    let acc = row_u4(weights, row);
    horizontal(_mm_add_epi32(
        _mm256_castsi256_si128(acc),
        _mm256_extracti128_si256(acc, 1),
    ))
}

/// The sum of four `i32` lanes.
#[target_feature(enable = "avx2")]
fn horizontal(s: __m128i) -> i32 {
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}

/// Eight partial sums of one packed row's dot with the weights: per
/// block of 32 bytes, the low nibbles meet the block's first 32
/// weights and the high nibbles its next 32 (`u8 × i8` pairs summed
/// to 16 bits: at most `2 × 15 × 127` each, two of them `7,620`, no
/// saturation), widened to 32 bits.
#[target_feature(enable = "avx2")]
fn row_u4(weights: &[[i8; 32]], row: &[u8]) -> __m256i {
    let (blocks, _) = row.as_chunks::<32>();
    let mask = _mm256_set1_epi8(0x0f);
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_si256();
    for (block, w) in blocks.iter().zip(weights.chunks_exact(2)) {
        // SAFETY: `block` is 32 readable bytes; the load is unaligned.
        let v = unsafe { _mm256_loadu_si256(block.as_ptr().cast()) };
        let low = _mm256_and_si256(v, mask);
        let high = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
        let pairs = _mm256_add_epi16(
            _mm256_maddubs_epi16(low, load(&w[0])),
            _mm256_maddubs_epi16(high, load(&w[1])),
        );
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
    }
    acc
}
