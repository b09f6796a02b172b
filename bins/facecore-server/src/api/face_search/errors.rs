//! The Face Search API's error shape, `{"code", "message", "metadata"?}`,
//! its codes and the one mapping from the facade's error kinds to them.
//!
//! The codes the document defines keep the document's message word for
//! word (clients may match on it); what this server knows beyond it (which
//! photo of a list, which collection) goes into `metadata`, a map of
//! strings as the document's liveness errors carry, under `detail` and
//! named keys. Codes of our own carry our message.

use std::collections::BTreeMap;

use facecore::ErrorKind;
use hyper::StatusCode;
use serde::Serialize;

use crate::error::{self, ApiError, Code};
use crate::http::response::{HttpResponse, json_response};

crate::error::codes! {
    CODES;
    FACE_NOT_DETECTED = "ERR_FACE_NOT_DETECTED", BAD_REQUEST,
        "No face in the image (for enrolment: in the photo `metadata.index` of faces_base_64).";
    NOT_FOUND = "ERR_NOT_FOUND", NOT_FOUND,
        "No such collection, person or face (of this account); `metadata.detail` says which.";
    LIVENESS = "ERR_LIVENESS_ERROR", BAD_REQUEST,
        "The liveness check refused the face; `metadata.code` says which check (FACE_NOT_LIVE, EYES_CLOSED, FACE_ANGLE_TOO_LARGE, FACE_TOO_SMALL, FACE_TOO_CLOSE, FACE_CLOSE_TO_BORDER, FACE_CROPPED, TOO_MANY_FACES), `metadata.detail` what it measured.";
    LIVENESS_UNAVAILABLE = "ERR_LIVENESS_ERROR", NOT_IMPLEMENTED,
        "check_liveness is true but this server's models directory lacks the liveness models (`metadata.code` LIVENESS_NOT_AVAILABLE); nothing was searched.";
    TOO_MANY_FACES = "ERR_TOO_MANY_FACES", BAD_REQUEST,
        "An enrolment photo (`metadata.index`) shows more than one face.";
    PERSON_EXISTS = "ERR_PERSON_NAME_ALREADY_EXISTS", CONFLICT,
        "Another person of the collection has this person_name (ignoring case).";
    COLLECTION_EXISTS = "ERR_COLLECTION_ALREADY_EXISTS", CONFLICT,
        "The account already has a collection of this collection_name.";
}

/// The messages of the codes the document defines, as it writes them.
const DOCUMENTED: &[(&str, &str)] = &[
    (
        "ERR_FACE_NOT_DETECTED",
        "A face could not be detected in the image(s).",
    ),
    (
        "ERR_API_KEY_NOT_PRESENT",
        "The API key is missing from the request.",
    ),
    ("ERR_API_KEY_NOT_VALID", "The API key is not valid."),
    ("ERR_NOT_FOUND", "The requested entity could not be found."),
    (
        "ERR_LIVENESS_ERROR",
        "A liveness error occurred. Please check the supplied image and the error metadata.",
    ),
    (
        "ERR_BASE64_IMAGE_CANNOT_BE_DECODED",
        "The posted Base64 image(s) could not be decoded as JPEG/PNG bytes.",
    ),
];

/// The body of an error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FaceSearchError {
    /// Stable code, e.g. `ERR_FACE_NOT_DETECTED`.
    #[schema(example = "ERR_FACE_NOT_DETECTED")]
    pub code: String,
    /// The document's message for its codes, ours for the others.
    #[schema(example = "A face could not be detected in the image(s).")]
    pub message: String,
    /// Specifics: `code` for liveness errors, `index` for the photo of a
    /// list, `detail` for what the message does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!({"index": "1", "detail": "faces_base_64[1]: no face was found in the image"}))]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// The code of each kind of facade error in this dialect.
pub fn code_for(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidInput | ErrorKind::InvalidEmbedding => error::VALIDATION,
        ErrorKind::ImageTooLarge => error::IMAGE_TOO_LARGE,
        // The document's code covers bytes that are not an image as well
        // as text that is not base64.
        ErrorKind::ImageUndecodable => error::BASE64,
        ErrorKind::NoFace => FACE_NOT_DETECTED,
        ErrorKind::TooManyFaces => TOO_MANY_FACES,
        ErrorKind::CollectionNotFound
        | ErrorKind::PersonNotFound
        | ErrorKind::FaceNotFound
        | ErrorKind::KeyNotFound
        | ErrorKind::ServiceNotFound => NOT_FOUND,
        ErrorKind::CollectionExists => COLLECTION_EXISTS,
        ErrorKind::PersonExists => PERSON_EXISTS,
        ErrorKind::InvalidKey | ErrorKind::WrongKeyType => error::API_KEY_NOT_VALID,
        ErrorKind::AccountForbidden | ErrorKind::AccountNotFound => error::ACCOUNT_FORBIDDEN,
        ErrorKind::ModelMismatch => error::MODEL_MISMATCH,
        ErrorKind::ModelNotLoaded => error::MODEL_NOT_LOADED,
        ErrorKind::Internal => error::INTERNAL,
        _ => error::INTERNAL,
    }
}

/// A facade error in this dialect's codes. The store names a collection
/// id `collectionId`; here it is `collection_name`.
pub fn from_error(e: &facecore::Error) -> ApiError {
    let message = e
        .to_string()
        .replace("collectionId", "collection_name")
        .replace("invalid name:", "invalid person_name:");
    ApiError::new(code_for(e.kind()), message)
}

/// Renders `error` in this dialect's shape: the document's message for its
/// codes (the specific message then goes to `metadata.detail`), with
/// `Retry-After` on 503.
pub fn render(error: &ApiError, retry_after_secs: u32) -> HttpResponse {
    let mut metadata = error.metadata.clone();
    let message = match DOCUMENTED.iter().find(|(code, _)| *code == error.code.code) {
        Some((_, documented)) => {
            if !error.message.is_empty() && error.message != *documented {
                metadata.insert("detail".into(), error.message.clone());
            }
            (*documented).to_string()
        }
        None => error.message.clone(),
    };
    let body = FaceSearchError {
        code: error.code.code.to_string(),
        message,
        metadata: (!metadata.is_empty()).then_some(metadata),
    };
    let mut response = json_response(error.code.status, &body);
    if error.code.status == StatusCode::SERVICE_UNAVAILABLE
        && let Ok(value) = hyper::header::HeaderValue::from_str(&retry_after_secs.to_string())
    {
        response
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_codes_keep_the_documents_message() {
        let e = ApiError::new(FACE_NOT_DETECTED, "faces_base_64[1]: no face")
            .with_metadata("index", "1");
        let response = render(&e, 1);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let own = render(&ApiError::new(PERSON_EXISTS, "Ann is taken"), 1);
        assert_eq!(own.status(), StatusCode::CONFLICT);
        // Every documented code is one this dialect answers.
        let ours: Vec<&str> = CODES.iter().chain(error::CODES).map(|c| c.code).collect();
        for (code, _) in DOCUMENTED {
            assert!(ours.contains(code), "{code}");
        }
    }

    #[test]
    fn every_kind_has_its_code() {
        use facecore::ErrorKind as K;
        for (kind, code) in [
            (K::NoFace, FACE_NOT_DETECTED),
            (K::TooManyFaces, TOO_MANY_FACES),
            (K::ImageUndecodable, error::BASE64),
            (K::CollectionNotFound, NOT_FOUND),
            (K::PersonNotFound, NOT_FOUND),
            (K::FaceNotFound, NOT_FOUND),
            (K::PersonExists, PERSON_EXISTS),
            (K::CollectionExists, COLLECTION_EXISTS),
            (K::InvalidInput, error::VALIDATION),
            (K::InvalidKey, error::API_KEY_NOT_VALID),
            (K::WrongKeyType, error::API_KEY_NOT_VALID),
            (K::Internal, error::INTERNAL),
        ] {
            assert_eq!(code_for(kind), code, "{kind:?}");
        }
    }
}
