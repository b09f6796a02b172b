//! Request bodies: parsed and validated by [`facecore_wire`] (a crate of
//! its own, so the fuzz targets run exactly this code); its errors become
//! API errors through the one table in [`crate::error`].

pub use facecore_wire::{
    COLLECTION_ID_PATTERN, CollectionRequest, CompareRequest, DEFAULT_THRESHOLD, FaceRequest,
    ImageInput, ImageRequest, ImageSource, MAX_FACE_COUNT_DEFAULT, MAX_FACE_COUNT_LIMIT, WireError,
    decode_base64, embedding, image_source, parse_json, query_param, required_collection_id,
    required_query,
};
