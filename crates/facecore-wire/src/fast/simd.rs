//! The compare body read with SSSE3: the usual coordinate's digits are
//! found and folded sixteen bytes at a time, with no branch on how many
//! there are (f32 coordinates written shortest have 7 to 11 digits, so a
//! branch on the count is mispredicted often).
//!
//! This is the one place in the crate with `unsafe`: the intrinsics of
//! `std::arch` and the functions compiled for SSSE3, which may only run
//! where the processor has it (checked at run time by the caller).
#![allow(unsafe_code)]

use std::arch::x86_64::{
    __m128i, _mm_cmpeq_epi8, _mm_cvtsi128_si64, _mm_loadu_si128, _mm_madd_epi16, _mm_maddubs_epi16,
    _mm_min_epu8, _mm_movemask_epi8, _mm_set1_epi8, _mm_setr_epi8, _mm_shuffle_epi8, _mm_sub_epi8,
    _mm_unpackhi_epi64,
};

use super::{Cursor, POW10, Pair, ReadNumber, read_body};

/// [`super::compare_body`] on a processor with SSSE3.
pub(super) fn compare_body(body: &[u8]) -> Option<Pair> {
    debug_assert!(std::arch::is_x86_feature_detected!("ssse3"));
    // SAFETY: the caller checked that this processor has SSSE3.
    unsafe { compare_body_ssse3(body) }
}

#[target_feature(enable = "ssse3")]
unsafe fn compare_body_ssse3(body: &[u8]) -> Option<Pair> {
    read_body::<Ssse3>(body)
}

struct Ssse3;

impl ReadNumber for Ssse3 {
    #[inline(always)]
    fn number(c: &mut Cursor<'_>) -> Option<f64> {
        // SAFETY: only reached from `compare_body_ssse3`, which runs on a
        // processor with SSSE3.
        match unsafe { small_fraction(c) } {
            Some(value) => Some(value),
            None => c.general_number(),
        }
    }
}

/// Shuffles that move the first `n` bytes of a vector to its end, zeros
/// before them (row `n`; rows 0 and 16 are never used).
const ALIGN_RIGHT: [[u8; 16]; 17] = {
    let mut rows = [[0x80u8; 16]; 17];
    let mut n = 0;
    while n <= 16 {
        let mut lane = 16 - n;
        while lane < 16 {
            rows[n][lane] = (lane - (16 - n)) as u8;
            lane += 1;
        }
        n += 1;
    }
    rows
};

/// `-?0.` then 1 to 15 digits, no exponent: the value, with the cursor
/// moved past it. `None`, cursor unmoved, for anything else (and for a
/// number within 19 bytes of the end of the body).
#[target_feature(enable = "ssse3")]
#[inline]
unsafe fn small_fraction(c: &mut Cursor<'_>) -> Option<f64> {
    let start = c.at;
    let window: &[u8; 19] = c.bytes.get(start..start + 19)?.try_into().ok()?;
    let negative = window[0] == b'-';
    let at = start + usize::from(negative);
    let head = u16::from_le_bytes([
        window[usize::from(negative)],
        window[1 + usize::from(negative)],
    ]);
    if head != u16::from_le_bytes(*b"0.") {
        return None;
    }
    let digits_at = 2 + usize::from(negative);
    let sixteen: &[u8; 16] = window[digits_at..digits_at + 16].try_into().ok()?;
    // SAFETY: `sixteen` is 16 readable bytes; the load is unaligned.
    let bytes = unsafe { _mm_loadu_si128(sixteen.as_ptr().cast::<__m128i>()) };
    let values = _mm_sub_epi8(bytes, _mm_set1_epi8(b'0' as i8));
    // A digit's value is 0 to 9 as an unsigned byte.
    let is_digit = _mm_cmpeq_epi8(_mm_min_epu8(values, _mm_set1_epi8(9)), values);
    let digit_bits = _mm_movemask_epi8(is_digit) as u32;
    let n = (!digit_bits).trailing_zeros() as usize; // 0..=16
    if n == 0 || n == 16 {
        return None;
    }
    let after = sixteen[n];
    if matches!(after, b'e' | b'E' | b'.') {
        return None;
    }
    // SAFETY: the row is 16 readable bytes.
    let shuffle = unsafe { _mm_loadu_si128(ALIGN_RIGHT[n].as_ptr().cast::<__m128i>()) };
    // The n digits at the end of the vector, zeros before them: the fold
    // below then reads a 16-digit number with leading zeros.
    let aligned = _mm_shuffle_epi8(values, shuffle);
    let pairs = _mm_maddubs_epi16(
        aligned,
        _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1),
    );
    let quads = _mm_madd_epi16(pairs, hundreds_and_ones());
    let low = _mm_cvtsi128_si64(quads) as u64;
    let high = _mm_cvtsi128_si64(_mm_unpackhi_epi64(quads, quads)) as u64;
    let eight = |q: u64| (q & 0xFFFF_FFFF) * 10_000 + (q >> 32);
    let mantissa = eight(low) * 100_000_000 + eight(high);
    c.at = at + 2 + n;
    // Below 10^15 < 2^53: exact as i64 and as f64.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
    let magnitude = mantissa as i64 as f64 / POW10[n];
    Some(f64::from_bits(
        magnitude.to_bits() | (u64::from(negative) << 63),
    ))
}

/// Pairs of 16-bit lanes weighted 100 and 1.
#[target_feature(enable = "ssse3")]
#[inline]
fn hundreds_and_ones() -> __m128i {
    std::arch::x86_64::_mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1)
}
