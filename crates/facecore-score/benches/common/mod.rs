//! Inputs shared by the scoring benchmarks.

use facecore_score::EMBEDDING_DIM;

/// Deterministic test vector with values in roughly [-1, 1] (xorshift64).
pub fn vector(seed: u64) -> Vec<f32> {
    let mut s = seed.max(1);
    (0..EMBEDDING_DIM)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u32 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}
