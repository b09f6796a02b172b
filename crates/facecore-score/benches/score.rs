//! Benchmarks for the cosine -> score map on 512-d embeddings.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use facecore_score::{ScoreMap, cosine, cosine_unit, normalized};

mod common;
use common::vector;

fn bench_score(c: &mut Criterion) {
    let a = vector(1);
    let b = vector(2);
    let (ua, ub) = match (normalized(&a), normalized(&b)) {
        (Ok(ua), Ok(ub)) => (ua, ub),
        _ => panic!("benchmark vectors must be valid"),
    };
    let map = ScoreMap::spec_reference();

    // The API's path: embeddings are stored normalised, so cosine is a dot.
    c.bench_function("cosine_and_map_512", |bench| {
        bench.iter(|| map.score(cosine_unit(black_box(&ua), black_box(&ub))))
    });
    // With full validation and f64 re-normalisation of both vectors.
    c.bench_function("cosine_checked_and_map_512", |bench| {
        bench.iter(|| cosine(black_box(&a), black_box(&b)).map(|c| map.score(c)))
    });
    c.bench_function("score_map_only", |bench| {
        bench.iter(|| map.score(black_box(0.31)))
    });
    c.bench_function("threshold_80", |bench| {
        bench.iter(|| map.threshold(black_box(80)))
    });
}

criterion_group!(benches, bench_score);
criterion_main!(benches);
