//! CompreFace's error shape, `{"message": "...", "code": <number>}`, its
//! numeric codes and statuses, and the one mapping from the facade's error
//! kinds to them. The codes and statuses are CompreFace's (learnt from its
//! public source); the messages are ours where CompreFace's would leak a
//! secret (it echoes the API key) or say less.

use facecore::ErrorKind;
use hyper::StatusCode;
use serde::Serialize;

use crate::error::{self, ApiError, Code};
use crate::http::response::{HttpResponse, json_response};

crate::error::codes! {
    CODES;
    UNDEFINED = "0", BAD_REQUEST,
        "Anything without a more precise code (a body that is not JSON, say).";
    EMPTY_FIELD = "5", BAD_REQUEST,
        "A required body field is missing or empty.";
    SERVICE_NOT_FOUND = "10", NOT_FOUND,
        "The x-api-key is not a key of a service of the type this path needs.";
    MISSING_HEADER = "20", BAD_REQUEST,
        "No x-api-key header.";
    BAD_FILE = "21", BAD_REQUEST,
        "The file's extension is not an accepted image type, or the value is not base64.";
    INVALID = "26", BAD_REQUEST,
        "A parameter or field breaks its rule (the message says which).";
    NO_FACE = "28", BAD_REQUEST,
        "No face is found in the image (or the image cannot be read).";
    TOO_MANY_FACES = "31", BAD_REQUEST,
        "More than one face where exactly one is needed.";
    MISSING_PARAMETER = "33", BAD_REQUEST,
        "A required query parameter is missing.";
    MISSING_PART = "34", BAD_REQUEST,
        "A required multipart part is missing.";
    BAD_NAME = "36", BAD_REQUEST,
        "A subject name holds a character that is not allowed.";
    SUBJECT_NOT_FOUND = "42", NOT_FOUND,
        "No subject of this name.";
    SUBJECT_EXISTS = "43", BAD_REQUEST,
        "A subject of this name exists already.";
    IMAGE_NOT_FOUND = "44", NOT_FOUND,
        "No example with this image_id.";
    FORBIDDEN = "0", FORBIDDEN,
        "The key is valid but its account is disabled or deleted.";
    INTERNAL = "0", INTERNAL_SERVER_ERROR,
        "An unexpected server error; the message says what failed.";
}

/// The body of an error.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub message: String,
    /// CompreFace's numeric code.
    pub code: u32,
}

/// The code of each kind of facade error in this dialect.
pub fn code_for(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidInput => INVALID,
        ErrorKind::ImageTooLarge => INVALID,
        // CompreFace answers every image its core cannot read with 28.
        ErrorKind::ImageUndecodable | ErrorKind::NoFace => NO_FACE,
        ErrorKind::TooManyFaces => TOO_MANY_FACES,
        // CompreFace has no codes for these: 400 with code 0 and our message.
        ErrorKind::InvalidEmbedding | ErrorKind::ModelMismatch => UNDEFINED,
        ErrorKind::PersonNotFound => SUBJECT_NOT_FOUND,
        ErrorKind::PersonExists => SUBJECT_EXISTS,
        ErrorKind::FaceNotFound => IMAGE_NOT_FOUND,
        ErrorKind::InvalidKey
        | ErrorKind::WrongKeyType
        | ErrorKind::KeyNotFound
        | ErrorKind::ServiceNotFound => SERVICE_NOT_FOUND,
        ErrorKind::AccountForbidden | ErrorKind::AccountNotFound => FORBIDDEN,
        // A recognition service whose collection is gone (deleted through
        // another API) is a service that no longer works.
        ErrorKind::CollectionNotFound | ErrorKind::CollectionExists => SERVICE_NOT_FOUND,
        // Not the client's doing: the server was started without the model
        // set the service's faces were made with (the message names it).
        ErrorKind::ModelNotLoaded | ErrorKind::Internal => INTERNAL,
        _ => INTERNAL,
    }
}

/// A facade error in this dialect's codes.
pub fn from_error(e: &facecore::Error) -> ApiError {
    ApiError::new(code_for(e.kind()), e.to_string())
}

/// Renders `error` in CompreFace's shape. Errors of the shared plumbing
/// (body too large or too slow, overload, routing) keep their status and
/// message, with code 0.
pub fn render(error: &ApiError, retry_after_secs: u32) -> HttpResponse {
    let (status, code) = match error.code.code.parse::<u32>() {
        Ok(code) => (error.code.status, code),
        Err(_) if error.code == error::API_KEY_NOT_PRESENT => (StatusCode::BAD_REQUEST, 20),
        Err(_) => (error.code.status, 0),
    };
    let mut response = json_response(
        status,
        &ErrorBody {
            message: error.message.clone(),
            code,
        },
    );
    if status == StatusCode::SERVICE_UNAVAILABLE
        && let Ok(value) = hyper::header::HeaderValue::from_str(&retry_after_secs.to_string())
    {
        response
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, value);
    }
    response
}
