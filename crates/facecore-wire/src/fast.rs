//! A single-pass reader for the usual compare-face-embeddings body: one
//! JSON object holding `embedding1` and/or `embedding2`, each an array of
//! plain JSON numbers.
//!
//! Through serde, each of the 1,024 numbers of such a body costs a visitor
//! call and a general number parser, about half of the server's time per
//! request. This reader accepts only that shape, parses the numbers
//! directly, and gives up (`None`) at the first byte it does not expect:
//! another key, a repeated key, an escape, a non-number, anything that is
//! not strict JSON. The caller then parses with serde, which gives the
//! value, or the error message naming the field; so no error changes.
//!
//! The usual coordinate (`-?0.` and a dozen digits or fewer, what an f32
//! written shortest looks like) is read without branching on its length:
//! the 16 bytes at the cursor at once with SSSE3 where the processor has it
//! (`simd`), 8 at a time otherwise. Anything else takes the general number
//! reader below. All give the same bits (tests compare every reader with
//! serde_json).
//!
//! Numbers of up to 19 digits with a small exponent (what the API writes,
//! bar values under 1e-13) get exactly the bits serde_json gives them.
//! Longer numbers and large exponents are rounded correctly by the standard
//! library, where serde_json can be one step off in the last bit; the f32
//! the server uses can then be one step apart too, never more.

#[cfg(target_arch = "x86_64")]
mod simd;

/// Exact powers of ten in `f64` (10^22 is the largest that is exact).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Both embeddings of a compare body, `None` for a key that is absent.
pub(crate) type Pair = (Option<Vec<f64>>, Option<Vec<f64>>);

/// The two embeddings of `body` if it has the usual shape; `None` when
/// serde must decide.
pub(crate) fn compare_body(body: &[u8]) -> Option<Pair> {
    #[cfg(target_arch = "x86_64")]
    return simd::compare_body(body);
    #[cfg(not(target_arch = "x86_64"))]
    read_body::<Portable>(body)
}

/// How one number is read: the portable reader, or a vector one (the
/// whole body is then read by code compiled for that instruction set, so
/// that its number reader is inlined).
trait ReadNumber {
    /// One JSON number at the cursor.
    fn number(c: &mut Cursor<'_>) -> Option<f64>;
}

/// The reader for any machine.
struct Portable;

impl ReadNumber for Portable {
    #[inline(always)]
    fn number(c: &mut Cursor<'_>) -> Option<f64> {
        match c.small_fraction() {
            Some(value) => Some(value),
            None => c.general_number(),
        }
    }
}

#[inline(always)]
fn read_body<R: ReadNumber>(body: &[u8]) -> Option<Pair> {
    let mut c = Cursor { bytes: body, at: 0 };
    let mut pair: Pair = (None, None);
    c.space();
    c.expect(b'{')?;
    c.space();
    if !c.eat(b'}') {
        loop {
            let slot = match c.key()? {
                1 => &mut pair.0,
                _ => &mut pair.1,
            };
            if slot.is_some() {
                return None; // a repeated key: serde's error
            }
            c.space();
            c.expect(b':')?;
            c.space();
            *slot = Some(c.numbers::<R>()?);
            c.space();
            if c.eat(b'}') {
                break;
            }
            c.expect(b',')?;
            c.space();
        }
    }
    c.space();
    (c.at == body.len()).then_some(pair)
}

/// A number of any shape at `at`: its value and where it ends. Not inlined,
/// and taking no reference to the caller's cursor, so that the cursor of
/// the hot loop stays in a register.
#[inline(never)]
fn any_number(bytes: &[u8], at: usize) -> Option<(f64, usize)> {
    let mut c = Cursor { bytes, at };
    let value = c.any_number()?;
    Some((value, c.at))
}

/// Powers of ten as integers, for joining digit groups.
const POW10_INT: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// The value of eight ASCII digits packed little-endian in `word` (the
/// first digit in the lowest byte), or `None` if any byte is not a digit.
#[inline(always)]
fn eight_digits(word: u64) -> Option<u64> {
    const LANES: u64 = 0x0101_0101_0101_0101;
    // A byte is a digit when its high nibble is 3 and adding 6 does not
    // carry into the high nibble.
    let high = word & (0xF0 * LANES);
    let carried = (word.wrapping_add(0x06 * LANES) & (0xF0 * LANES)) >> 4;
    if high | carried != 0x33 * LANES {
        return None;
    }
    Some(fold_eight(word - 0x30 * LANES))
}

/// The number whose eight decimal digits (values 0 to 9, not ASCII) are
/// the bytes of `d`, the first digit in the lowest byte.
#[inline(always)]
fn fold_eight(d: u64) -> u64 {
    // Pairwise: each 16-bit lane becomes a two-digit number, then each
    // 32-bit lane a four-digit one, then the whole word eight digits.
    let pairs = (d * 10 + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs * 100 + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    (quads * 10_000 + (quads >> 32)) & 0xFFFF_FFFF
}

/// A read position in a body.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        self.at += usize::from(hit);
        hit
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    /// Skips JSON whitespace.
    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    /// `"embedding1"` → 1, `"embedding2"` → 2; any other key → `None`.
    fn key(&mut self) -> Option<u8> {
        const LEN: usize = b"\"embedding1\"".len();
        let which = match self.bytes.get(self.at..self.at + LEN)? {
            b"\"embedding1\"" => 1,
            b"\"embedding2\"" => 2,
            _ => return None,
        };
        self.at += LEN;
        Some(which)
    }

    /// A JSON array of numbers.
    #[inline(always)]
    fn numbers<R: ReadNumber>(&mut self) -> Option<Vec<f64>> {
        self.expect(b'[')?;
        let mut out = Vec::with_capacity(512);
        self.space();
        if self.eat(b']') {
            return Some(out);
        }
        loop {
            out.push(R::number(self)?);
            // Branches, not `eat`: the next number's position must not wait
            // for these bytes to load (`eat`'s `at += hit` would make every
            // number depend on the separator before it), and the predictor
            // learns a body's separators within a few numbers.
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Some(out);
                }
                _ => {
                    self.space();
                    if self.eat(b']') {
                        return Some(out);
                    }
                    self.expect(b',')?;
                }
            }
            self.space();
        }
    }

    /// Consecutive ASCII digits folded into `mantissa` while it has room
    /// for 19 of them; returns how many digits there were and how many did
    /// not fit. Inlined, so that the cursor stays in registers.
    #[inline(always)]
    fn digits(&mut self, mantissa: &mut u64) -> (usize, usize) {
        let (mut count, mut dropped) = (0, 0);
        // Eight digits at a time while they fit (most of an embedding's
        // numbers are 8 or 9 digits), then one at a time.
        while *mantissa < 10_000_000_000 {
            let Some(eight) = self.bytes.get(self.at..self.at + 8) else {
                break;
            };
            let mut word = [0u8; 8];
            word.copy_from_slice(eight);
            let Some(value) = eight_digits(u64::from_le_bytes(word)) else {
                break;
            };
            *mantissa = *mantissa * 100_000_000 + value;
            count += 8;
            self.at += 8;
        }
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            if *mantissa < 1_000_000_000_000_000_000 {
                *mantissa = *mantissa * 10 + u64::from(d - b'0');
            } else {
                dropped += 1;
            }
            count += 1;
            self.at += 1;
        }
        (count, dropped)
    }

    /// The usual embedding coordinate, `-?0.` and 8 to 15 digits with no
    /// exponent, read without a branch on its sign or on how many digits
    /// past the eighth it has: the digits are found and folded eight bytes
    /// at a time. `None`, with the cursor unmoved, for anything else
    /// (fewer digits, which is rare, or a number within 19 bytes of the end
    /// of the body), which `general_number` then reads.
    #[inline(always)]
    fn small_fraction(&mut self) -> Option<f64> {
        const LANES: u64 = 0x0101_0101_0101_0101;
        let start = self.at;
        let window: &[u8; 19] = self.bytes.get(start..start + 19)?.try_into().ok()?;
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&window[i..i + 8]);
            u64::from_le_bytes(w)
        };
        // Both placements are loaded and one is picked without a branch
        // (signs are random) and without a load that waits for the sign.
        let negative = window[0] == b'-';
        let pick = 0u64.wrapping_sub(u64::from(negative));
        let choose = |plus: u64, minus: u64| (minus & pick) | (plus & !pick);
        let head = choose(word(0), word(1)) & 0xFFFF;
        if head != u64::from(u16::from_le_bytes(*b"0.")) {
            return None;
        }
        let low = choose(word(2), word(3)) ^ (0x30 * LANES);
        let high = choose(word(10), word(11)) ^ (0x30 * LANES);
        let at = start + usize::from(negative);
        // Per byte: its value minus '0', and whether it is not a digit
        // (that value is 10 or more; the high bit is cleared first so that
        // the addition cannot carry into the next byte).
        let not_digit = |x: u64| (((x & (0x7F * LANES)) + 0x76 * LANES) | x) & (0x80 * LANES);
        let low_stop = not_digit(low);
        let high_stop = not_digit(high);
        if low_stop != 0 {
            return None; // fewer than eight digits: rare, read generally
        }
        // Digits in `high`: 0..=7 here (8 would make 16 in all, too many
        // for an exact mantissa; read generally).
        let n = (high_stop.trailing_zeros() / 8) as usize;
        if n == 8 {
            return None;
        }
        // The `n` digits moved to the top of the word, zeros below them:
        // leading zeros to the pairwise fold.
        let shift = 8 * (8 - n) as u32;
        let tail = (high << (shift - 8)) << 8;
        let mantissa = fold_eight(low) * POW10_INT[n] + fold_eight(tail);
        // The byte after the digits (n < 8, so it is in `high`'s range).
        let after = ((high >> (8 * n)) as u8) ^ 0x30;
        if matches!(after, b'e' | b'E' | b'.') {
            return None;
        }
        self.at = at + 10 + n;
        // Below 10^15 < 2^53: exact as i64 and as f64 (and a signed
        // conversion is one instruction).
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
        let magnitude = mantissa as i64 as f64 / POW10[8 + n];
        Some(f64::from_bits(
            magnitude.to_bits() | (u64::from(negative) << 63),
        ))
    }

    /// One number in strict JSON syntax
    /// (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`), of any shape.
    #[inline(always)]
    fn general_number(&mut self) -> Option<f64> {
        let (value, end) = any_number(self.bytes, self.at)?;
        self.at = end;
        Some(value)
    }

    /// The body of [`general_number`](Self::general_number).
    fn any_number(&mut self) -> Option<f64> {
        let start = self.at;
        let negative = self.eat(b'-');
        let mut mantissa = 0u64;
        let mut exact = true;
        if self.eat(b'0') {
            if self.peek().is_some_and(|d| d.is_ascii_digit()) {
                return None; // a leading zero is not JSON
            }
        } else {
            let (count, dropped) = self.digits(&mut mantissa);
            if count == 0 {
                return None;
            }
            exact &= dropped == 0;
        }
        let mut exponent = 0i64;
        if self.eat(b'.') {
            let (count, dropped) = self.digits(&mut mantissa);
            if count == 0 {
                return None;
            }
            exact &= dropped == 0;
            exponent -= i64::try_from(count).ok()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let minus = self.eat(b'-');
            if !minus {
                self.eat(b'+');
            }
            let mut written = 0u64;
            let (count, dropped) = self.digits(&mut written);
            if count == 0 {
                return None;
            }
            match i64::try_from(written) {
                Ok(w) if dropped == 0 && w < 10_000 => exponent += if minus { -w } else { w },
                _ => exact = false,
            }
        }
        // With every digit kept in the mantissa and a small exponent, do
        // what serde_json's own parser does (the mantissa as f64, times or
        // over an exact power of ten), so both give the same bits. Below
        // 2^53 this is one correctly rounded operation (Clinger's fast path);
        // above, as close as serde gets. Anything else goes to the standard
        // library's correctly rounded parser.
        let magnitude = match usize::try_from(exponent.unsigned_abs()) {
            Ok(e) if exact && e < POW10.len() => {
                #[allow(clippy::cast_precision_loss)] // as serde_json does
                let m = mantissa as f64;
                if exponent < 0 {
                    m / POW10[e]
                } else {
                    m * POW10[e]
                }
            }
            _ => {
                let text = std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
                // serde_json refuses a number too large for f64; so do we.
                return text.parse().ok().filter(|v: &f64| v.is_finite());
            }
        };
        Some(if negative { -magnitude } else { magnitude })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompareRequest, parse_json};

    /// The slow path's answer, with the embeddings as `f32`, as the server
    /// uses them.
    /// Both embeddings as `f32`.
    type Pair32 = (Option<Vec<f32>>, Option<Vec<f32>>);

    fn by_serde(body: &str) -> Option<Pair32> {
        let r: CompareRequest = parse_json(body.as_bytes()).ok()?;
        Some((as_f32(r.embedding1), as_f32(r.embedding2)))
    }

    #[allow(clippy::cast_possible_truncation)]
    fn as_f32(v: Option<Vec<f64>>) -> Option<Vec<f32>> {
        v.map(|v| v.into_iter().map(|x| x as f32).collect())
    }

    /// The next value of a xorshift generator (test data only).
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    fn fast(body: &str) -> Option<Pair32> {
        compare_body(body.as_bytes()).map(|(a, b)| (as_f32(a), as_f32(b)))
    }

    #[test]
    fn usual_bodies_read_as_serde_reads_them() {
        // Embeddings as the API writes them (shortest round-trip f32s),
        // from a small deterministic generator.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            #[allow(clippy::cast_precision_loss)]
            let unit = (xorshift(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
            unit
        };
        for scale in [1e-9, 1e-3, 0.1, 1.0, 1e6, 1e30] {
            #[allow(clippy::cast_possible_truncation)]
            let a: Vec<f32> = (0..512).map(|_| ((next() - 0.5) * scale) as f32).collect();
            let b: Vec<f32> = a.iter().rev().map(|x| -x).collect();
            // As f64 (17 digits, what serde_json writes for a widened f32)
            // and as f32 (the 9 or fewer digits the API itself writes).
            let text = |v: &[f32]| {
                let items: Vec<String> = v.iter().map(f32::to_string).collect();
                format!("[{}]", items.join(", "))
            };
            for body in [
                serde_json::json!({"embedding1": a, "embedding2": b}).to_string(),
                format!(
                    r#"{{"embedding1": {}, "embedding2": {}}}"#,
                    text(&a),
                    text(&b)
                ),
            ] {
                let ours = compare_body(body.as_bytes());
                assert!(ours.is_some(), "refused, scale {scale}");
                let (x, y) = ours.clone().unwrap_or_default();
                assert!(as_f32(x) == Some(a.clone()), "scale {scale}");
                assert!(as_f32(y) == Some(b.clone()), "scale {scale}");
                assert!(
                    fast(&body) == by_serde(&body),
                    "the f32s the server uses, scale {scale}"
                );
                if scale >= 1e-3 {
                    // Small exponents: serde_json's own arithmetic.
                    let serde: Option<CompareRequest> = parse_json(body.as_bytes()).ok();
                    let serde = serde.map(|r| (r.embedding1, r.embedding2));
                    assert!(ours == serde, "bit for bit, scale {scale}");
                }
            }
        }
        for body in [
            r#"{"embedding2": [1, -2.5], "embedding1": [0]}"#,
            "\n{ \"embedding1\" :\t[ 1e3 , -0.0 , 0 , 2E-2, 3e+1 ] }\r\n",
            r#"{"embedding1": []}"#,
            "{}",
            r#"{"embedding1": [12345678901234567890123, 0.1234567890123456789012345]}"#,
            r#"{"embedding1": [1e-400, 5e-324, 1.7976931348623157e308]}"#,
            r#"{"embedding1": [9007199254740993, 1e23, 123456789e-30]}"#,
        ] {
            assert!(fast(body).is_some(), "fast path refused {body}");
            assert_eq!(fast(body), by_serde(body), "{body}");
        }
        let (a, _) = compare_body(br#"{"embedding1": [-0.0, 0.3]}"#).expect("fast");
        let a = a.expect("embedding1");
        assert!(a[0] == 0.0 && a[0].is_sign_negative());
        assert_eq!(a[1], 0.3, "correctly rounded, like the standard library");
    }

    #[test]
    fn eight_digits_at_once() {
        let word = |s: &[u8; 8]| u64::from_le_bytes(*s);
        assert_eq!(eight_digits(word(b"12345678")), Some(12_345_678));
        assert_eq!(eight_digits(word(b"00000000")), Some(0));
        assert_eq!(eight_digits(word(b"99999999")), Some(99_999_999));
        assert_eq!(eight_digits(word(b"09080706")), Some(9_080_706));
        for bad in [
            b"1234567,",
            b"/2345678",
            b"1234:678",
            b"1234e678",
            b"12\x0045678",
        ] {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bad[..8]);
            assert_eq!(eight_digits(u64::from_le_bytes(w)), None, "{bad:?}");
        }
        for n in (0..100_000_000u64).step_by(999_983) {
            let text = format!("{n:08}");
            let mut w = [0u8; 8];
            w.copy_from_slice(text.as_bytes());
            assert_eq!(eight_digits(u64::from_le_bytes(w)), Some(n));
        }
    }

    /// A body reader.
    type Reader = fn(&[u8]) -> Option<Pair>;

    /// Every reader this machine can run, by name.
    fn readers() -> Vec<(&'static str, Reader)> {
        let mut all: Vec<(&'static str, Reader)> = vec![("portable", read_body::<Portable>)];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("ssse3") {
            all.push(("ssse3", simd::compare_body));
        }
        all
    }

    #[test]
    fn every_reader_gives_serde_bits_for_every_digit_count() {
        // "0." and 1 to 19 digits (the quick readers take 1 to 13 of them
        // with SSSE3, 8 to 15 without; longer ones, exponents and integer
        // parts go the general way; past 19 digits serde_json may be a step
        // off, see the module docs), each sign, with each of the endings a
        // body can have, at the start, in the middle and within a few bytes
        // of the end.
        let mut state = 0x0123_4567_89AB_CDEFu64;
        let mut digit = || char::from(b'0' + (xorshift(&mut state) % 10) as u8);
        let mut numbers = Vec::new();
        for count in 1..=19 {
            for sign in ["", "-"] {
                for tail in ["", "e-3", "E+2", "e0"] {
                    let digits: String = (0..count).map(|_| digit()).collect();
                    numbers.push(format!("{sign}0.{digits}{tail}"));
                }
            }
        }
        numbers.extend(["0", "-0", "7", "12.5", "0.0", "-0.000000000000001"].map(String::from));
        for separator in [",", ", ", " ,\n "] {
            let list = numbers.join(separator);
            for body in [
                format!(r#"{{"embedding1": [{list}], "embedding2": [{list}]}}"#),
                format!(r#"{{"embedding1":[{list}]}}"#),
            ] {
                let serde: CompareRequest = parse_json(body.as_bytes()).expect("valid JSON");
                let serde = Some((serde.embedding1, serde.embedding2));
                for (name, read) in readers() {
                    let ours = read(body.as_bytes());
                    let bits = |p: &Option<Pair>| {
                        p.as_ref().map(|(a, b)| {
                            let f = |v: &Option<Vec<f64>>| {
                                v.as_ref()
                                    .map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
                            };
                            (f(a), f(b))
                        })
                    };
                    assert!(bits(&ours) == bits(&serde), "{name}: {body}");
                }
            }
        }
        // One number, alone, so that it ends within the last bytes.
        for number in &numbers {
            let body = format!(r#"{{"embedding1":[{number}]}}"#);
            let serde: CompareRequest = parse_json(body.as_bytes()).expect("valid JSON");
            for (name, read) in readers() {
                let (a, b) = read(body.as_bytes()).expect("read");
                assert!(b.is_none());
                assert_eq!(
                    a.map(|v| v[0].to_bits()),
                    serde.embedding1.as_ref().map(|v| v[0].to_bits()),
                    "{name}: {body}"
                );
            }
        }
    }

    #[test]
    fn every_reader_refuses_what_is_not_a_number() {
        for body in [
            r#"{"embedding1": [0.12345678901234567x, 1]}"#,
            r#"{"embedding1": [0.1234567890123.5, 0.1, 0.1, 0.1, 0.1, 0.1]}"#,
            r#"{"embedding1": [-0.123456789012e, 0.1, 0.1, 0.1, 0.1, 0.1]}"#,
            r#"{"embedding1": [0., 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]}"#,
            r#"{"embedding1": [--0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]}"#,
            r#"{"embedding1": [0.12345678 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]}"#,
            r#"{"embedding1": [0.1234567890:, 0.1, 0.1, 0.1, 0.1, 0.1]}"#,
        ] {
            for (name, read) in readers() {
                assert_eq!(read(body.as_bytes()), None, "{name}: {body}");
            }
        }
    }

    #[test]
    fn anything_unusual_is_left_to_serde() {
        for body in [
            "",
            "[]",
            r#"{"embedding1": [1], "extra": 2}"#,
            r#"{"embedding1": [1], "embedding1": [2]}"#,
            r#"{"embedding\u0031": [1]}"#,
            r#"{"embedding1": null}"#,
            r#"{"embedding1": [1, "2"]}"#,
            r#"{"embedding1": [1, [2]]}"#,
            r#"{"embedding1": [01]}"#,
            r#"{"embedding1": [1.]}"#,
            r#"{"embedding1": [.5]}"#,
            r#"{"embedding1": [+1]}"#,
            r#"{"embedding1": [-]}"#,
            r#"{"embedding1": [1e]}"#,
            r#"{"embedding1": [NaN]}"#,
            r#"{"embedding1": [1e400]}"#,
            r#"{"embedding1": [-1e400]}"#,
            r#"{"embedding1": [1,]}"#,
            r#"{"embedding1": [1 2]}"#,
            r#"{"embedding1": [1]"#,
            r#"{"embedding1": [1]} x"#,
            r#"{"embedding1": [1],}"#,
        ] {
            assert_eq!(compare_body(body.as_bytes()), None, "{body}");
        }
    }

    #[test]
    fn the_public_parser_answers_exactly_as_serde_does() {
        for body in [
            r#"{"embedding1": [1, 2], "embedding2": [3]}"#,
            r#"{"embedding1": [1], "extra": {"a": [1, 2]}}"#,
            r#"{"embedding1": [1], "embedding1": [2]}"#,
            r#"{"embedding1": "no"}"#,
            r#"{"embedding1": [1e400]}"#,
            "not json",
        ] {
            let ours = CompareRequest::parse(body.as_bytes());
            let serde = parse_json::<CompareRequest>(body.as_bytes());
            match (ours, serde) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{body}"),
                (Err(a), Err(b)) => assert_eq!(a, b, "{body}"),
                (a, b) => panic!("{body}: {a:?} vs {b:?}"),
            }
        }
    }
}
