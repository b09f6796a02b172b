//! The compare body read with SSSE3: the usual coordinate's digits are
//! found and folded sixteen bytes at a time, with no branch on how many
//! there are (f32 coordinates written shortest have 7 to 11 digits, so a
//! branch on the count is mispredicted often).
//!
//! This is the one place in the crate with `unsafe`: the intrinsics of
//! `std::arch` and the functions compiled for SSSE3, which may only run
//! where the processor has it (checked at run time, here).
#![allow(unsafe_code)]

use std::arch::x86_64::{
    __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_cvtsi128_si64, _mm_loadu_si128, _mm_madd_epi16,
    _mm_maddubs_epi16, _mm_min_epu8, _mm_movemask_epi8, _mm_set1_epi8, _mm_setr_epi8,
    _mm_setr_epi16, _mm_shuffle_epi8, _mm_sub_epi8, _mm_unpackhi_epi64,
};

use super::{Cursor, POW10, Pair, Portable, ReadNumber, read_body};

/// [`super::compare_body`]: with SSSE3 where this processor has it, with
/// the portable reader otherwise.
pub(super) fn compare_body(body: &[u8]) -> Option<Pair> {
    if !std::arch::is_x86_feature_detected!("ssse3") {
        return read_body::<Portable>(body);
    }
    // SAFETY: this processor has SSSE3 (checked just above).
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

/// Shuffles that move the first `end` bytes of a vector to its end, zeros
/// before them (row `end`).
const ALIGN_RIGHT: [[u8; 16]; 17] = {
    let mut rows = [[0x80u8; 16]; 17];
    let mut end = 0;
    while end <= 16 {
        let mut lane = 16 - end;
        while lane < 16 {
            rows[end][lane] = (lane + end - 16) as u8;
            lane += 1;
        }
        end += 1;
    }
    rows
};

/// Masks that clear a number's `0.` (row 0) or `-0.` (row 1).
const CLEAR_LEAD: [[u8; 16]; 2] = {
    let mut rows = [[0xFFu8; 16]; 2];
    rows[0][0] = 0;
    rows[0][1] = 0;
    rows[1][0] = 0;
    rows[1][1] = 0;
    rows[1][2] = 0;
    rows
};

/// `-?0.` then digits, no exponent, ending within the 16 bytes at the
/// cursor (up to 13 digits, 12 with a sign: every coordinate from 1e-5 up,
/// written shortest): the value, with the cursor moved past it. `None`,
/// cursor unmoved, for anything else.
///
/// Each number's end is where the next one starts, so the time from one
/// cursor to the next bounds the speed: the sign only picks which bits of
/// the digit mask to read (not where to load), and the length is one
/// `tzcnt` of that mask.
#[target_feature(enable = "ssse3")]
#[inline]
unsafe fn small_fraction(c: &mut Cursor<'_>) -> Option<f64> {
    let start = c.at;
    let window: &[u8; 16] = c.bytes.get(start..start + 16)?.try_into().ok()?;
    let negative = window[0] == b'-';
    let lead = 2 + usize::from(negative);
    if window[lead - 2..lead] != *b"0." {
        return None;
    }
    // SAFETY: `window` is 16 readable bytes; the load is unaligned.
    let bytes = unsafe { _mm_loadu_si128(window.as_ptr().cast::<__m128i>()) };
    let values = _mm_sub_epi8(bytes, _mm_set1_epi8(b'0' as i8));
    // A digit's value is 0 to 9 as an unsigned byte.
    let is_digit = _mm_cmpeq_epi8(_mm_min_epu8(values, _mm_set1_epi8(9)), values);
    let stops = !(_mm_movemask_epi8(is_digit) as u32) & 0xFFFF;
    // Bit k: the k-th byte after the point is not a digit.
    let after_point = stops >> lead;
    if after_point == 0 {
        return None; // no end in sight: read generally
    }
    let n = after_point.trailing_zeros() as usize;
    if n == 0 {
        return None;
    }
    let end = lead + n; // at most 15
    if matches!(window[end], b'e' | b'E' | b'.') {
        return None;
    }
    // SAFETY: the rows are 16 readable bytes each.
    let (clear, shuffle) = unsafe {
        (
            _mm_loadu_si128(CLEAR_LEAD[usize::from(negative)].as_ptr().cast::<__m128i>()),
            _mm_loadu_si128(ALIGN_RIGHT[end].as_ptr().cast::<__m128i>()),
        )
    };
    // The digits at the end of the vector, zeros before them: the fold
    // below then reads a 16-digit number with leading zeros.
    let aligned = _mm_shuffle_epi8(_mm_and_si128(values, clear), shuffle);
    let pairs = _mm_maddubs_epi16(
        aligned,
        _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1),
    );
    let quads = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
    let low = _mm_cvtsi128_si64(quads) as u64;
    let high = _mm_cvtsi128_si64(_mm_unpackhi_epi64(quads, quads)) as u64;
    let eight = |q: u64| (q & 0xFFFF_FFFF) * 10_000 + (q >> 32);
    let mantissa = eight(low) * 100_000_000 + eight(high);
    c.at = start + end;
    // Below 10^13 < 2^53: exact as i64 and as f64.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
    let magnitude = mantissa as i64 as f64 / POW10[n];
    Some(f64::from_bits(
        magnitude.to_bits() | (u64::from(negative) << 63),
    ))
}
