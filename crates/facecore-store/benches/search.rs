//! Criterion benches of a collection's 1:N search at smaller sizes: exact
//! search at the sizes collections keep it (10k and 50k faces), and the
//! approximate index at 200k, on clustered 512-d data (people with several
//! photos each). `cargo xtask bench-search` measures 1M faces shaped like
//! real ones, with exact search beside it.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use facecore_store::StoreError;
use facecore_store::index::{ExactIndex, VectorIndex};
use facecore_store::ivf::{ExactRows, IvfIndex, IvfParams};

const DIM: usize = 512;

/// xorshift64* with sums of uniforms as rough normals.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn normal(&mut self) -> f32 {
        (0..4)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32)
            .sum::<f32>()
            - 2.0
    }
}

/// `n` photos of people with four photos each; returns ids and rows.
fn clustered(n: usize, rng: &mut Rng) -> (Vec<String>, Vec<f32>) {
    let mut ids = Vec::with_capacity(n);
    let mut data = Vec::with_capacity(n * DIM);
    let mut centre = vec![0.0f32; DIM];
    for i in 0..n {
        if i % 4 == 0 {
            centre.iter_mut().for_each(|c| *c = rng.normal());
        }
        ids.push(format!("face_{i:08}"));
        data.extend(centre.iter().map(|c| c + 0.7 * rng.normal()));
    }
    (ids, data)
}

struct Memory(HashMap<String, Vec<f32>>);

impl ExactRows for Memory {
    fn fetch(&self, face_ids: &[&str]) -> Result<Vec<Option<Vec<f32>>>, StoreError> {
        Ok(face_ids.iter().map(|id| self.0.get(*id).cloned()).collect())
    }
}

fn bench_search(c: &mut Criterion) {
    let mut rng = Rng(0x5eed_1234);
    let mut group = c.benchmark_group("collection_search_512");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    for n in [10_000usize, 50_000] {
        let (ids, data) = clustered(n, &mut rng);
        let mut exact = ExactIndex::new(DIM);
        for (id, v) in ids.iter().zip(data.chunks_exact(DIM)) {
            exact.insert(id, v).expect("valid rows");
        }
        let query = data[DIM..2 * DIM].to_vec();
        group.bench_function(format!("exact_{}k", n / 1000), |b| {
            b.iter(|| exact.best(black_box(&query)).expect("search"))
        });
    }
    let n = 200_000;
    let (ids, data) = clustered(n, &mut rng);
    let rows: HashMap<String, Vec<f32>> = ids
        .iter()
        .zip(data.chunks_exact(DIM))
        .map(|(id, v)| (id.clone(), v.to_vec()))
        .collect();
    let faces: Vec<(&str, &[f32])> = ids
        .iter()
        .map(String::as_str)
        .zip(data.chunks_exact(DIM))
        .collect();
    let params = IvfParams {
        lists: IvfParams::auto_lists(n),
        ..IvfParams::default()
    };
    let ivf = IvfIndex::build(DIM, &faces, params, n, Arc::new(Memory(rows))).expect("build");
    let query = data[DIM..2 * DIM].to_vec();
    group.bench_function("ivf_200k", |b| {
        b.iter(|| ivf.best(black_box(&query)).expect("search"))
    });
    group.finish();
}

criterion_group!(benches, bench_search);
criterion_main!(benches);
