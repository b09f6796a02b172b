//! Prints facecore's per-stage timings as one JSON object, for
//! `cargo xtask bench-report`: median milliseconds of each stage on the
//! 640×480 one-face JPEG with one thread, and end-to-end faces per second with
//! all threads sharing one engine.

use std::time::{Duration, Instant};

use facecore::{Engine, EngineConfig};

/// The allocator of the `facecore` and `facecore-server` binaries, so that
/// the figures are theirs: with glibc's malloc, buffers of a few MB freed
/// and taken again on every inference are often handed back to the kernel
/// and faulted in anew (the detector's first layers then took up to 4×
/// longer in some runs).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(30);
    let engine = Engine::load(EngineConfig {
        threads: Some(1),
        ..Default::default()
    })?;
    let jpeg = facecore_benches::one_face_jpeg_640x480();
    let image = engine.decode(&jpeg)?;
    let boxes = engine.detect_boxes(&image)?;
    let bbox = boxes.first().ok_or("no face in the benchmark image")?.bbox;
    let landmarks = engine.detector().landmarks(&image, &bbox)?;
    let crop = facecore::align::align_face(&image, &landmarks)?;

    let mut fail = None;
    let mut keep = |r: Result<(), facecore::Error>| {
        if let Err(e) = r {
            fail = Some(e);
        }
    };
    let decode = median_ms(runs, || keep(engine.decode(&jpeg).map(drop)));
    let detect = median_ms(runs, || keep(engine.detect_boxes(&image).map(drop)));
    let lmk = median_ms(runs, || {
        keep(
            engine
                .detector()
                .landmarks(&image, &bbox)
                .map(drop)
                .map_err(Into::into),
        )
    });
    let align = median_ms(runs, || {
        keep(
            facecore::align::align_face(&image, &landmarks)
                .map(drop)
                .map_err(Into::into),
        )
    });
    let embed = median_ms(runs, || {
        keep(engine.embedder().embed(&crop).map(drop).map_err(Into::into))
    });
    let e2e = median_ms(runs, || keep(engine.embed(&jpeg, 1).map(drop)));
    // The models alone, on prepared inputs: what the onnxruntime figures
    // measure (the stages above add resizing, decoding and NMS).
    let det_input: Vec<f32> = (0..3 * 240 * 320)
        .map(|i| (i % 251) as f32 / 125.0 - 1.0)
        .collect();
    let detect_model = median_ms(runs, || {
        keep(
            engine
                .detector()
                .run_detector_raw(&det_input)
                .map(drop)
                .map_err(Into::into),
        )
    });
    let lmk_input: Vec<f32> = (0..64 * 64).map(|i| (i % 256) as f32 / 256.0).collect();
    let lmk_model = median_ms(runs, || {
        keep(
            engine
                .detector()
                .run_landmark_raw(&lmk_input)
                .map(drop)
                .map_err(Into::into),
        )
    });
    // One crop as the model's input, repeated 8 times: a batch-8 run.
    let plane = 112 * 112;
    let mut one = vec![0f32; 3 * plane];
    for (i, px) in crop.pixels().enumerate() {
        for c in 0..3 {
            one[c * plane + i] = (f32::from(px[c]) - 127.0) / 128.0;
        }
    }
    let batch: Vec<f32> = one.iter().copied().cycle().take(8 * one.len()).collect();
    let embed_model = median_ms(runs, || {
        keep(
            engine
                .embedder()
                .run_raw(&one, 1)
                .map(drop)
                .map_err(Into::into),
        )
    });
    let embed_batched = median_ms(runs.div_ceil(4), || {
        keep(
            engine
                .embedder()
                .run_raw(&batch, 8)
                .map(drop)
                .map_err(Into::into),
        )
    }) / 8.0;
    // The liveness check on the same image (when its models are present):
    // all of it as the Face Search API runs it (detection, 68 landmarks,
    // placement, the pose model, both eyes, the liveness model), and the
    // liveness model alone.
    let mut liveness = String::new();
    if let Some(checker) = engine.liveness_checker() {
        let check = median_ms(runs, || keep(engine.liveness_of(&image, None).map(drop)));
        let input: Vec<f32> = (0..3 * 128 * 128).map(|i| (i % 256) as f32).collect();
        let model = median_ms(runs, || {
            keep(
                checker
                    .liveness_model()
                    .run_raw(&input)
                    .map(drop)
                    .map_err(Into::into),
            )
        });
        liveness = format!(",\"liveness\":{check:.3},\"liveness_model\":{model:.3}");
    }
    if let Some(e) = fail {
        return Err(e.into());
    }

    // Throughput: every core runs whole requests against one shared engine.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let shared = Engine::load(EngineConfig {
        threads: Some(1),
        ..Default::default()
    })?;
    let per_thread = runs.max(10);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    let _ = shared.embed(&jpeg, 1);
                }
            });
        }
    });
    let faces_per_s = (threads * per_thread) as f64 / t.elapsed().as_secs_f64();

    println!(
        "{{\"decode\":{decode:.3},\"detect\":{detect:.3},\"landmarks\":{lmk:.3},\"align\":{align:.3},\"embed\":{embed:.3},\"detect_model\":{detect_model:.3},\"landmarks_model\":{lmk_model:.3},\"embed_model\":{embed_model:.3},\"embed_batched_per_face\":{embed_batched:.3},\"end_to_end\":{e2e:.3},\"threads\":{threads},\"faces_per_s\":{faces_per_s:.1},\"runs\":{runs}{liveness}}}"
    );
    Ok(())
}
