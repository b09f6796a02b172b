//! The Face Verification API's bodies and answers. They are defined in
//! `facecore-wire` (so that the fuzz targets parse with exactly this code,
//! and the CLI prints exactly these shapes); this module names them for the
//! dialect and turns the facade's results into them.

pub use facecore_wire::ImageInput;
pub use facecore_wire::verification::{
    BoundingBox, CompareRequest, CompareResponse, DetectFacesResponse, DetectedFace,
    FaceEmbeddingsResponse, FaceWithEmbedding, ImageRequest,
};

use facecore::{Detection, Embeddings, Face};

/// `face`, found in an image of `width × height` pixels, as the API shows
/// it: box in whole pixels, confidence in [0, 1], landmarks when asked for.
pub fn detected_face(face: &Face, width: u32, height: u32, with_landmarks: bool) -> DetectedFace {
    DetectedFace::new(
        face.confidence,
        face.bbox.to_pixels(width, height),
        with_landmarks.then_some(face.landmarks),
    )
}

/// The answer of detect-faces.
pub fn detect_faces_response(d: &Detection, with_landmarks: bool) -> DetectFacesResponse {
    DetectFacesResponse {
        faces: d
            .faces
            .iter()
            .map(|f| detected_face(f, d.width, d.height, with_landmarks))
            .collect(),
        unprocessed_face_count: d.unprocessed,
    }
}

/// The answer of get-face-embeddings.
pub fn face_embeddings_response(e: &Embeddings, with_landmarks: bool) -> FaceEmbeddingsResponse {
    FaceEmbeddingsResponse {
        faces: e
            .faces
            .iter()
            .map(|f| FaceWithEmbedding {
                face: detected_face(&f.face, e.width, e.height, with_landmarks),
                embedding: f.embedding.vector.clone(),
            })
            .collect(),
        unprocessed_face_count: e.unprocessed,
        model: e.faces.first().map(|f| f.embedding.model.to_string()),
    }
}
