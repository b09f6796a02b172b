//! Benchmarks for 1:N scans over 512-d unit vectors on one core.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use facecore_scan::{QuantizedVectorSet, Sq4Grid, Sq4Rows, Sq8Query, Sq8Rows, VectorSet, dot_many};
use facecore_score::EMBEDDING_DIM;

/// Tiny xorshift64 PRNG for deterministic data.
struct XorShift(u64);

impl XorShift {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u32 << 24) as f32) * 2.0 - 1.0
    }

    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next_f32()).collect()
    }
}

fn random_set(rng: &mut XorShift, n: usize) -> VectorSet {
    let mut set = VectorSet::with_capacity(EMBEDDING_DIM, n);
    for _ in 0..n {
        if set.push(&rng.vec(EMBEDDING_DIM)).is_err() {
            panic!("random vectors are valid");
        }
    }
    set
}

fn bench_scan(c: &mut Criterion) {
    let mut rng = XorShift(0x5eed);
    let query = rng.vec(EMBEDDING_DIM);
    for (name, n) in [("1k", 1_000usize), ("10k", 10_000), ("100k", 100_000)] {
        let set = random_set(&mut rng, n);
        let bytes = (n * EMBEDDING_DIM * std::mem::size_of::<f32>()) as u64;
        let mut group = c.benchmark_group(format!("scan_{name}_512"));
        group.throughput(Throughput::Bytes(bytes));
        if n >= 100_000 {
            group.sample_size(20);
            group.measurement_time(Duration::from_secs(4));
        }
        group.bench_function(format!("scan_best_{name}_512"), |b| {
            b.iter(|| set.best_match(black_box(&query)))
        });
        group.bench_function(format!("scan_top10_{name}_512"), |b| {
            b.iter(|| set.top_k(black_box(&query), 10))
        });
        // The same vectors with the 8-bit companion: identical answers.
        let mut quantized = QuantizedVectorSet::with_capacity(EMBEDDING_DIM, n);
        for i in 0..n {
            if let Some(row) = set.get(i)
                && quantized.push(row).is_err()
            {
                panic!("stored rows are valid");
            }
        }
        group.bench_function(format!("sq8_best_{name}_512"), |b| {
            b.iter(|| quantized.best_match(black_box(&query)))
        });
        group.bench_function(format!("sq8_top10_{name}_512"), |b| {
            b.iter(|| quantized.top_k(black_box(&query), 10))
        });
        let mut out = vec![0.0f32; n];
        group.bench_function(format!("dot_many_{name}_512"), |b| {
            b.iter(|| dot_many(black_box(&query), set.as_slice(), &mut out))
        });
        group.finish();
    }
}

/// The short codes an IVF index ranks probed rows with: 128 coordinates
/// per row in 8 bits (one scale per row) or in 4 bits (a grid per
/// coordinate), every estimate or only those above a cut. At a million
/// rows none fits a cache, so this measures what the bytes cost.
///
/// Two widths: 128 coordinates (the index's first short codes, which the
/// figures in docs/performance.md name) and 64, what the index scans now
/// (63 principal directions plus the length left out of them).
fn bench_short_codes(c: &mut Criterion) {
    for width in [128, 64] {
        short_codes(c, width);
    }
}

/// The short-code groups for rows of `width` coordinates.
fn short_codes(c: &mut Criterion, width: usize) {
    let mut rng = XorShift(0xc0de);
    let sample: Vec<f32> = (0..20_000).flat_map(|_| unit(&mut rng, width)).collect();
    let grid = Sq4Grid::train(&sample, width);
    let query = unit(&mut rng, width);
    let (q8, q4) = (Sq8Query::new(&query), grid.query(&query));
    for (name, n) in [("100k", 100_000usize), ("1m", 1_000_000)] {
        let mut sq8 = Sq8Rows::with_capacity(width, n);
        let mut sq4 = Sq4Rows::new(width);
        for _ in 0..n {
            let row = unit(&mut rng, width);
            sq8.push(&row);
            sq4.push(&grid.encode(&row));
        }
        let mut group = c.benchmark_group(format!("short_codes_{name}_{width}"));
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(4));
        let mut out = Vec::with_capacity(n);
        group.bench_function(format!("sq8_estimates_{name}_{width}"), |b| {
            b.iter(|| {
                out.clear();
                sq8.estimates(black_box(&q8), &mut out);
            })
        });
        group.bench_function(format!("sq4_estimates_{name}_{width}"), |b| {
            b.iter(|| {
                out.clear();
                sq4.estimates(black_box(&q4), &mut out);
            })
        });
        // What an index's short ranking does: only the rows above a cut
        // (here the best 1 in 256) come back.
        out.clear();
        sq4.estimates(&q4, &mut out);
        out.sort_unstable_by(|a, b| b.total_cmp(a));
        let cut = out[n / 256];
        let mut above = Vec::with_capacity(n / 128);
        group.bench_function(format!("sq4_above_{name}_{width}"), |b| {
            b.iter(|| {
                above.clear();
                sq4.estimates_above(black_box(&q4), cut, &mut above);
            })
        });
        group.finish();
    }
}

/// A random unit vector of `dim` values.
fn unit(rng: &mut XorShift, dim: usize) -> Vec<f32> {
    let mut v = rng.vec(dim);
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

criterion_group!(benches, bench_scan, bench_short_codes);
criterion_main!(benches);
