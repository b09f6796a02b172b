//! JSON shapes of the Face Verification API (camelCase field names exactly as
//! the specification writes them), shared by the server and the CLI.

use serde::{Deserialize, Serialize};

use crate::{Detection, Embeddings, Face};

/// A bounding box in whole pixels, inside the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BoundingBox {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// A detected face as the API reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DetectedFace {
    /// Detection confidence in [0, 1].
    pub confidence: f32,
    /// Box in pixels.
    pub bounding_box: BoundingBox,
    /// The 5 landmarks (eyes, nose, mouth corners) in pixels: an extra field,
    /// present only when asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Vec<f32>>>))]
    pub landmarks: Option<[[f32; 2]; 5]>,
}

impl DetectedFace {
    /// Converts a library face of an image of `width × height` pixels.
    pub fn from_face(face: &Face, width: u32, height: u32, with_landmarks: bool) -> Self {
        let (x, y, w, h) = face.bbox.to_pixels(width, height);
        Self {
            confidence: face.confidence.clamp(0.0, 1.0),
            bounding_box: BoundingBox {
                x,
                y,
                width: w,
                height: h,
            },
            landmarks: with_landmarks.then_some(face.landmarks),
        }
    }
}

/// Response of `detect-faces`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DetectFacesResponse {
    /// The faces, most dominant first.
    pub faces: Vec<DetectedFace>,
    /// Faces found but not returned because of `maxFaceCount`.
    pub unprocessed_face_count: usize,
}

impl DetectFacesResponse {
    /// Builds the response from a detection.
    pub fn from_detection(d: &Detection, with_landmarks: bool) -> Self {
        Self {
            faces: d
                .faces
                .iter()
                .map(|f| DetectedFace::from_face(f, d.width, d.height, with_landmarks))
                .collect(),
            unprocessed_face_count: d.unprocessed,
        }
    }
}

/// One face with its embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FaceWithEmbedding {
    /// The face.
    pub face: DetectedFace,
    /// The L2-normalised embedding.
    pub embedding: Vec<f32>,
}

/// Response of `get-face-embeddings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FaceEmbeddingsResponse {
    /// The faces, most dominant first.
    pub faces: Vec<FaceWithEmbedding>,
    /// Faces found but not embedded because of `maxFaceCount`.
    pub unprocessed_face_count: usize,
}

impl FaceEmbeddingsResponse {
    /// Builds the response from embeddings.
    pub fn from_embeddings(e: &Embeddings, with_landmarks: bool) -> Self {
        Self {
            faces: e
                .faces
                .iter()
                .map(|f| FaceWithEmbedding {
                    face: DetectedFace::from_face(&f.face, e.width, e.height, with_landmarks),
                    embedding: f.embedding.vector.clone(),
                })
                .collect(),
            unprocessed_face_count: e.unprocessed,
        }
    }
}
