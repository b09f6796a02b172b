//! Per-stage benchmarks of the face pipeline on a 640×480 one-face JPEG:
//! decode, detect, landmarks, align, embed, and one face end to end.
//! Needs the models (`cargo xtask fetch-models`).

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use facecore::{Engine, EngineConfig};
use std::hint::black_box;

fn stages(c: &mut Criterion) {
    let engine = Engine::load(EngineConfig {
        threads: Some(1),
        ..Default::default()
    })
    .unwrap();
    let jpeg = facecore_benches::one_face_jpeg_640x480();
    let image = engine.decode(&jpeg).unwrap();
    let boxes = engine.detect_boxes(&image).unwrap();
    let bbox = boxes[0].bbox;
    let landmarks = engine.detector().landmarks(&image, &bbox).unwrap();
    let crop = facecore::align::align_face(&image, &landmarks).unwrap();

    let mut g = c.benchmark_group("stage");
    g.bench_function("decode_jpeg_640x480", |b| {
        b.iter(|| engine.decode(black_box(&jpeg)).unwrap())
    });
    g.bench_function("detect", |b| {
        b.iter(|| engine.detect_boxes(black_box(&image)).unwrap())
    });
    g.bench_function("landmarks", |b| {
        b.iter(|| {
            engine
                .detector()
                .landmarks(black_box(&image), &bbox)
                .unwrap()
        })
    });
    g.bench_function("align", |b| {
        b.iter(|| facecore::align::align_face(black_box(&image), &landmarks).unwrap())
    });
    g.bench_function("embed", |b| {
        b.iter(|| engine.embedder().embed(black_box(&crop)).unwrap())
    });
    g.bench_function("end_to_end_one_face", |b| {
        b.iter(|| engine.embed(black_box(&jpeg), 1).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = stages
}
criterion_main!(benches);
