//! Benchmarks for 512-d cosine similarity.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use facecore_score::{cosine, cosine_unit, dot, normalized};

mod common;
use common::vector;

fn bench_cosine(c: &mut Criterion) {
    let a = vector(1);
    let b = vector(2);
    let (ua, ub) = match (normalized(&a), normalized(&b)) {
        (Ok(ua), Ok(ub)) => (ua, ub),
        _ => panic!("benchmark vectors must be valid"),
    };

    c.bench_function("cosine_512", |bench| {
        bench.iter(|| cosine(black_box(&a), black_box(&b)))
    });
    c.bench_function("cosine_unit_512", |bench| {
        bench.iter(|| cosine_unit(black_box(&ua), black_box(&ub)))
    });
    c.bench_function("dot_512", |bench| {
        bench.iter(|| dot(black_box(&a), black_box(&b)))
    });
}

criterion_group!(benches, bench_cosine);
criterion_main!(benches);
