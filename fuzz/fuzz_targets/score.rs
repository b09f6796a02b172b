//! The scoring core under arbitrary numbers:
//!
//! * score maps built from fuzzed anchors (mostly valid ones, made
//!   increasing; sometimes raw ones, which must be refused cleanly) keep
//!   their promises: exact at the anchors, monotone, in [-1, 100], and
//!   `score(c) >= T` exactly when `c >= threshold(T)`;
//! * embedding validation refuses empty, mismatched, non-finite and zero
//!   vectors, and a cosine of two valid vectors is finite and in [-1, 1];
//! * the quantised scan answers exactly as the exact one (same rows, same
//!   order, bit-identical cosines).
#![no_main]

use facecore_scan::{QuantizedVectorSet, VectorSet};
use facecore_score::{ScoreMap, cosine, validate};
use libfuzzer_sys::fuzz_target;

type Input = (
    Vec<(u16, u16)>,
    Vec<(f32, f32)>,
    Vec<f32>,
    Vec<i8>,
    u8,
    Vec<f32>,
);

fn check_map(map: &ScoreMap, cosines: &[f32], scores: &[i8]) {
    for &(c, s) in map.anchors() {
        assert_eq!(map.score_f(c), s, "anchor ({c}, {s}) is not exact");
    }
    let mut sorted: Vec<f32> = cosines.iter().copied().filter(|c| !c.is_nan()).collect();
    sorted.sort_by(f32::total_cmp);
    for pair in sorted.windows(2) {
        assert!(
            map.score(pair[0]) <= map.score(pair[1]),
            "not monotone at {pair:?}"
        );
    }
    for &c in cosines {
        let s = map.score(c);
        assert!((-1..=100).contains(&s), "score {s} of {c} out of range");
        if c.is_nan() || c == f32::INFINITY {
            continue;
        }
        for t in scores
            .iter()
            .map(|&t| i32::from(t))
            .chain([s, s + 1, 70, 80, 90, 95])
        {
            assert_eq!(
                s >= t,
                c >= map.threshold(t),
                "score({c}) = {s}, threshold({t}) = {}",
                map.threshold(t)
            );
        }
    }
}

fuzz_target!(|input: Input| {
    let (knots, raw, cosines, scores, dim, values) = input;

    // Valid anchors from the knots: sorted, strictly increasing in both.
    let mut anchors: Vec<(f32, f32)> = knots
        .iter()
        .map(|&(c, s)| {
            (
                f32::from(c) / f32::from(u16::MAX) * 2.0 - 1.0,
                f32::from(s) / f32::from(u16::MAX) * 100.0,
            )
        })
        .collect();
    anchors.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut increasing: Vec<(f32, f32)> = Vec::new();
    for a in anchors {
        if increasing.last().is_none_or(|l| a.0 > l.0 && a.1 > l.1) {
            increasing.push(a);
        }
    }
    if let Ok(map) = ScoreMap::new(increasing.clone()) {
        check_map(&map, &cosines, &scores);
    } else {
        assert!(
            increasing.len() < 2,
            "valid anchors refused: {increasing:?}"
        );
    }
    if let Ok(map) = ScoreMap::new(raw) {
        check_map(&map, &cosines, &scores);
    }
    check_map(&ScoreMap::spec_reference(), &cosines, &scores);

    // Embeddings: rows of `dim` values, validated, then scanned both ways.
    let dim = usize::from(dim % 16) + 1;
    let rows: Vec<&[f32]> = values.chunks_exact(dim).collect();
    let mut exact = VectorSet::new(dim);
    let mut quantised = QuantizedVectorSet::new(dim);
    for row in &rows {
        let valid = validate(row, Some(dim));
        assert_eq!(valid.is_ok(), exact.push(row).is_ok());
        assert_eq!(valid.is_ok(), quantised.push(row).is_ok());
        if valid.is_ok() {
            if let Some(first) = rows.first().filter(|r| validate(r, Some(dim)).is_ok()) {
                let c = cosine(first, row).expect("two valid vectors");
                assert!(c.is_finite() && (-1.0..=1.0).contains(&c), "cosine {c}");
            }
        }
    }
    for query in rows.iter().take(4) {
        let a = exact.top_k(query, 3);
        let b = quantised.top_k(query, 3);
        match (a, b) {
            (Ok(a), Ok(b)) => {
                let bits = |v: &[(usize, f32)]| {
                    v.iter().map(|&(i, c)| (i, c.to_bits())).collect::<Vec<_>>()
                };
                assert_eq!(bits(&a), bits(&b), "quantised scan differs");
            }
            (Err(_), Err(_)) => {}
            (a, b) => panic!("exact {a:?} but quantised {b:?}"),
        }
    }
});
