//! What the pipeline returns: faces, embeddings, comparisons and timings.

use std::time::Duration;

use crate::{Embedding, Face};

/// Time spent in each stage of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimings {
    /// Decoding the image bytes.
    pub decode: Duration,
    /// Running the face detector.
    pub detect: Duration,
    /// Running the landmark model.
    pub landmarks: Duration,
    /// Aligning faces to 112×112.
    pub align: Duration,
    /// Running the embedding model.
    pub embed: Duration,
}

/// Faces found in an image.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Width of the (oriented) image.
    pub width: u32,
    /// Height of the (oriented) image.
    pub height: u32,
    /// Faces returned, most dominant first, each with landmarks.
    pub faces: Vec<Face>,
    /// Faces detected but not returned because of the face limit.
    pub unprocessed: usize,
    /// Stage timings.
    pub timings: StageTimings,
}

/// The result of comparing two embeddings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Cosine similarity in [-1, 1].
    pub cosine: f32,
    /// The API's similarity score in -1..=100 from the model's calibrated
    /// score map: at or above 80, the pair matches at a false-positive rate of
    /// at most 1e-4 (70: 1e-3, 90: 1e-5, 95: 1e-6).
    pub similarity: i32,
}

/// A face with its embedding.
#[derive(Debug, Clone)]
pub struct FaceEmbedding {
    /// The face.
    pub face: Face,
    /// Its embedding.
    pub embedding: Embedding,
}

/// Embeddings of the faces in an image.
#[derive(Debug, Clone)]
pub struct Embeddings {
    /// Width of the (oriented) image.
    pub width: u32,
    /// Height of the (oriented) image.
    pub height: u32,
    /// The faces embedded, most dominant first.
    pub faces: Vec<FaceEmbedding>,
    /// Faces detected but not embedded because of the face limit.
    pub unprocessed: usize,
    /// Stage timings.
    pub timings: StageTimings,
}
