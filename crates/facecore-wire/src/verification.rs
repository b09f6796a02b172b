//! The Face Verification API's bodies: detect-faces and get-face-embeddings
//! (an image and `maxFaceCount`), compare-face-embeddings (two embeddings),
//! and their answers.

use serde::{Deserialize, Serialize};

use crate::{ImageInput, ImageSource, WireError, fast, image_source, parse_json};

/// Default `maxFaceCount`.
pub const MAX_FACE_COUNT_DEFAULT: i64 = 1;
/// Largest `maxFaceCount` accepted.
pub const MAX_FACE_COUNT_LIMIT: i64 = 10;

/// Body of detect-faces and get-face-embeddings.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageRequest {
    /// The image to process.
    #[cfg_attr(feature = "openapi", schema(required = true, nullable = false))]
    pub image: Option<ImageInput>,
    /// How many faces to return, most dominant first: 1 to 10, default 1.
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 10, default = 1, example = 1)
    )]
    #[serde(default, deserialize_with = "crate::whole_number")]
    pub max_face_count: Option<i64>,
}

impl ImageRequest {
    /// `maxFaceCount`, defaulted and range-checked.
    pub fn max_faces(&self) -> Result<usize, WireError> {
        let n = self.max_face_count.unwrap_or(MAX_FACE_COUNT_DEFAULT);
        if !(1..=MAX_FACE_COUNT_LIMIT).contains(&n) {
            return Err(WireError::Invalid(format!(
                "maxFaceCount must be between 1 and {MAX_FACE_COUNT_LIMIT}, got {n}"
            )));
        }
        usize::try_from(n).map_err(|_| WireError::Invalid("maxFaceCount".into()))
    }

    /// The image source: exactly one of `image.bytes` and `image.url`.
    pub fn source(&mut self) -> Result<ImageSource, WireError> {
        image_source(self.image.take())
    }
}

/// Body of compare-face-embeddings; parse it with [`CompareRequest::parse`].
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompareRequest {
    /// Embedding to compare (512 numbers from get-face-embeddings).
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, nullable = false, min_items = 512, max_items = 512)
    )]
    pub embedding1: Option<Vec<f64>>,
    /// Embedding to compare with.
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, nullable = false, min_items = 512, max_items = 512)
    )]
    pub embedding2: Option<Vec<f64>>,
    /// The model (`id@version`, as get-face-embeddings answers it) that
    /// made both embeddings (an addition to the spec's fields). Without it
    /// they are taken to be the server's default model's, the only check
    /// being their length: two 512-d models cannot be told apart by their
    /// vectors. With it, a model the server has not loaded is
    /// `ERR_MODEL_MISMATCH`, and a loaded one is compared on its own
    /// calibration.
    #[cfg_attr(feature = "openapi", schema(example = "fr_feature@0.0.1"))]
    #[serde(default)]
    pub model: Option<String>,
}

impl CompareRequest {
    /// Parses a compare-face-embeddings body. The same as
    /// [`parse_json`], error for error and value for value (see the note on
    /// rounding of unusually long numbers in the source), but a body of the
    /// usual shape (the two keys, each an array of plain numbers) is read in
    /// one pass, 1.5 to 2 times as fast as through serde.
    ///
    /// ```
    /// use facecore_wire::CompareRequest;
    ///
    /// let r = CompareRequest::parse(br#"{"embedding1": [0.5, -1e-3], "embedding2": [2]}"#).unwrap();
    /// assert_eq!(r.embedding1, Some(vec![0.5, -0.001]));
    /// assert_eq!(r.embedding2, Some(vec![2.0]));
    /// ```
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        match fast::compare_body(body) {
            Some((embedding1, embedding2)) => Ok(Self {
                embedding1,
                embedding2,
                model: None,
            }),
            None => parse_json(body),
        }
    }
}

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
    /// A face with detection `confidence` (clamped to [0, 1]), its box in
    /// whole pixels `(x, y, width, height)` and, when asked for, its five
    /// landmarks in pixels.
    pub fn new(
        confidence: f32,
        (x, y, width, height): (u32, u32, u32, u32),
        landmarks: Option<[[f32; 2]; 5]>,
    ) -> Self {
        Self {
            confidence: confidence.clamp(0.0, 1.0),
            bounding_box: BoundingBox {
                x,
                y,
                width,
                height,
            },
            landmarks,
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
    /// The model (`id@version`) that made the embeddings, absent when no
    /// face was found (an addition to the spec's fields). Embeddings of
    /// different models are not comparable: pass it as compare's `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// Body of a compare-face-embeddings answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompareResponse {
    /// Similarity in -1..=100 on the model's calibrated scale: 70 means a
    /// false-positive rate of 1e-3, 80 (recommended) 1e-4, 90 1e-5, 95 1e-6.
    #[cfg_attr(feature = "openapi", schema(example = 85, minimum = -1, maximum = 100))]
    pub similarity: i32,
}
