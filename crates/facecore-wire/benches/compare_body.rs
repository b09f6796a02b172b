//! Parsing a compare-face-embeddings body (two 512-number embeddings as
//! the API writes them): the one-pass reader the server uses beside plain
//! serde, in the same run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use facecore_wire::{CompareRequest, parse_json};

/// Two embeddings of plausible values from a fixed generator.
fn body() -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let x = ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2;
        x
    };
    let a: Vec<f32> = (0..512).map(|_| next()).collect();
    let b: Vec<f32> = (0..512).map(|_| next()).collect();
    let body = format!(
        r#"{{"embedding1": {}, "embedding2": {}}}"#,
        serde_json_text(&a),
        serde_json_text(&b)
    );
    body.into_bytes()
}

/// `[x, y, ...]` with each value in its shortest round-trip form.
fn serde_json_text(v: &[f32]) -> String {
    let items: Vec<String> = v.iter().map(f32::to_string).collect();
    format!("[{}]", items.join(","))
}

fn bench_compare_body(c: &mut Criterion) {
    let body = body();
    let mut group = c.benchmark_group("compare_body_2x512");
    group.bench_function("one_pass", |b| {
        b.iter(|| CompareRequest::parse(black_box(&body)).map(|r| r.embedding1.map(|v| v.len())))
    });
    group.bench_function("serde", |b| {
        b.iter(|| {
            parse_json::<CompareRequest>(black_box(&body)).map(|r| r.embedding1.map(|v| v.len()))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_compare_body);
criterion_main!(benches);
