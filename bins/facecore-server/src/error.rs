//! The one table of API errors: every stable code with its HTTP status
//! ([`CODES`]), and the one mapping from the facade's error kinds to them
//! ([`code_for`]). A dialect renders an [`ApiError`] in its own shape; the
//! Face Verification and Face Recognition APIs use
//! `{"code": "...", "message": "..."}` ([`ErrorBody`]).

use facecore::ErrorKind;
use hyper::StatusCode;
use serde::Serialize;

/// One stable error code and its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The stable code clients match on.
    pub code: &'static str,
    /// Its HTTP status.
    pub status: StatusCode,
    /// When it is returned (for the OpenAPI document and the README).
    pub meaning: &'static str,
}

/// Declares `Code` constants and `$list`, the slice of all of them (a
/// dialect with its own codes declares its table with it too).
macro_rules! codes {
    ($list:ident; $($name:ident = $code:literal, $status:ident, $meaning:literal;)*) => {
        $(
            #[doc = $meaning]
            pub const $name: $crate::error::Code = $crate::error::Code {
                code: $code,
                status: hyper::StatusCode::$status,
                meaning: $meaning,
            };
        )*
        /// Every code of this table.
        pub const $list: &[$crate::error::Code] = &[$($name),*];
    };
}
pub(crate) use codes;

codes! {
    CODES;
    MALFORMED_JSON = "ERR_MALFORMED_JSON", BAD_REQUEST,
        "The request body is not valid JSON.";
    VALIDATION = "ERR_VALIDATION", BAD_REQUEST,
        "A field is missing, has the wrong type or is out of range; the message names it.";
    BASE64 = "ERR_BASE64_IMAGE_CANNOT_BE_DECODED", BAD_REQUEST,
        "image.bytes is not valid base64.";
    IMAGE_NOT_DECODABLE = "ERR_IMAGE_CANNOT_BE_DECODED", BAD_REQUEST,
        "The image bytes are corrupt, empty or in an unsupported format.";
    IMAGE_TOO_LARGE = "ERR_IMAGE_TOO_LARGE", BAD_REQUEST,
        "The image is over the encoded-size or pixel limit.";
    IMAGE_URL_NOT_ALLOWED = "ERR_IMAGE_URL_NOT_ALLOWED", BAD_REQUEST,
        "image.url is not http(s), or points at a loopback, private, link-local or metadata address.";
    IMAGE_URL_FETCH_FAILED = "ERR_IMAGE_URL_CANNOT_BE_FETCHED", BAD_REQUEST,
        "image.url could not be downloaded (network error, timeout, non-2xx status, too large, too many redirects).";
    INVALID_EMBEDDING = "ERR_INVALID_EMBEDDING", BAD_REQUEST,
        "An embedding is missing, has the wrong length, or holds non-finite values or only zeros.";
    MODEL_MISMATCH = "ERR_MODEL_MISMATCH", BAD_REQUEST,
        "Embeddings of different models (the request's `model` is not the one the call uses): they cannot be compared.";
    MODEL_NOT_LOADED = "ERR_MODEL_NOT_LOADED", CONFLICT,
        "The collection was made with a model set this server has not loaded (`GET /v1/models` lists them).";
    API_KEY_NOT_PRESENT = "ERR_API_KEY_NOT_PRESENT", UNAUTHORIZED,
        "No Authorization header (use `ApiKey <key>` or `Bearer <token>`).";
    API_KEY_NOT_VALID = "ERR_API_KEY_NOT_VALID", UNAUTHORIZED,
        "The API key or bearer token is not valid (unknown, revoked, expired, or bearer tokens are not configured).";
    ACCOUNT_FORBIDDEN = "ERR_ACCOUNT_FORBIDDEN", FORBIDDEN,
        "The credentials are valid but the account is disabled or does not exist.";
    ORIGIN_NOT_ALLOWED = "ERR_ORIGIN_NOT_ALLOWED", FORBIDDEN,
        "A CORS preflight from an origin that --cors-allow-origins does not list.";
    NOT_FOUND = "ERR_NOT_FOUND", NOT_FOUND,
        "No such route or resource.";
    COLLECTION_NOT_FOUND = "ERR_COLLECTION_NOT_FOUND", NOT_FOUND,
        "The account has no collection with this collectionId.";
    FACE_NOT_FOUND = "ERR_FACE_NOT_FOUND", NOT_FOUND,
        "The collection has no face with this faceId.";
    COLLECTION_EXISTS = "ERR_COLLECTION_ALREADY_EXISTS", CONFLICT,
        "The account already has a collection with this collectionId.";
    METHOD_NOT_ALLOWED = "ERR_METHOD_NOT_ALLOWED", METHOD_NOT_ALLOWED,
        "The route exists but not with this HTTP method.";
    REQUEST_TIMEOUT = "ERR_REQUEST_TIMEOUT", REQUEST_TIMEOUT,
        "The request body did not arrive in time.";
    PAYLOAD_TOO_LARGE = "ERR_PAYLOAD_TOO_LARGE", PAYLOAD_TOO_LARGE,
        "The request body is over the configured limit.";
    OVERLOADED = "ERR_OVERLOADED", SERVICE_UNAVAILABLE,
        "Too many requests are queued for inference; retry after the Retry-After seconds.";
    INTERNAL = "ERR_INTERNAL", INTERNAL_SERVER_ERROR,
        "An unexpected server error; the message says what failed.";
}

/// An error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Code and status.
    pub code: Code,
    /// Human-readable detail.
    pub message: String,
    /// Machine-readable specifics (which photo of a list, a liveness
    /// code), for the dialects whose error shape has room for them; the
    /// `{"code", "message"}` shape leaves them out.
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable error code, e.g. `ERR_VALIDATION`.
    #[schema(example = "ERR_VALIDATION")]
    pub code: String,
    /// What went wrong, for people.
    #[schema(example = "maxFaceCount must be between 1 and 10, got 11")]
    pub message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            metadata: std::collections::BTreeMap::new(),
        }
    }

    /// This error with `key` = `value` in its metadata.
    #[must_use]
    pub fn with_metadata(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata.insert(key.to_string(), value.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.code.status
    }

    /// The response body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code.code.to_string(),
            message: self.message.clone(),
        }
    }

    /// Maps a facecore error to its one code, by kind (see [`code_for`]).
    pub fn from_error(error: &facecore::Error) -> Self {
        Self::new(code_for(error.kind()), error.to_string())
    }

    /// Maps a failed image download.
    pub fn from_fetch(error: &crate::fetch::FetchError) -> Self {
        use crate::fetch::FetchError as F;
        let code = match error {
            F::InvalidUrl(_) | F::SchemeNotAllowed(_) | F::AddressNotAllowed { .. } => {
                IMAGE_URL_NOT_ALLOWED
            }
            F::Client(_) => INTERNAL,
            _ => IMAGE_URL_FETCH_FAILED,
        };
        Self::new(code, error.to_string())
    }
}

/// The code of each kind of facecore error: the one table that decides
/// which failures are the client's (4xx) and which are the server's (500).
pub fn code_for(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidInput => VALIDATION,
        ErrorKind::ImageTooLarge => IMAGE_TOO_LARGE,
        ErrorKind::ImageUndecodable => IMAGE_NOT_DECODABLE,
        ErrorKind::InvalidEmbedding => INVALID_EMBEDDING,
        ErrorKind::AccountNotFound | ErrorKind::KeyNotFound => NOT_FOUND,
        ErrorKind::CollectionNotFound => COLLECTION_NOT_FOUND,
        ErrorKind::FaceNotFound => FACE_NOT_FOUND,
        ErrorKind::CollectionExists => COLLECTION_EXISTS,
        // The Face Verification and Recognition APIs have no persons; the
        // person-aware dialects map these kinds in their own tables.
        ErrorKind::PersonNotFound => NOT_FOUND,
        ErrorKind::PersonExists => VALIDATION,
        // Nor do they ask for a face that must be there: an image without
        // one is an answer with no face in them.
        ErrorKind::NoFace | ErrorKind::TooManyFaces => VALIDATION,
        // A CompreFace service's key on these APIs is not a valid key here.
        ErrorKind::WrongKeyType => API_KEY_NOT_VALID,
        ErrorKind::ServiceNotFound => NOT_FOUND,
        ErrorKind::InvalidKey => API_KEY_NOT_VALID,
        ErrorKind::AccountForbidden => ACCOUNT_FORBIDDEN,
        ErrorKind::ModelMismatch => MODEL_MISMATCH,
        ErrorKind::ModelNotLoaded => MODEL_NOT_LOADED,
        ErrorKind::Internal => INTERNAL,
        // `ErrorKind` is non-exhaustive: a kind the facade adds is a server
        // error until it has a row here (a test lists every known kind).
        _ => INTERNAL,
    }
}

impl From<facecore_wire::WireError> for ApiError {
    /// Maps a refused request body to its one code.
    fn from(error: facecore_wire::WireError) -> Self {
        use facecore_wire::WireError as W;
        match error {
            W::MalformedJson(m) => Self::new(MALFORMED_JSON, m),
            W::Invalid(m) => Self::new(VALIDATION, m),
            W::Base64(m) => Self::new(BASE64, m),
            W::Embedding(m) => Self::new(INVALID_EMBEDDING, m),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.code.status.as_u16(),
            self.code.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_errors() {
        let mut seen = std::collections::HashSet::new();
        for code in CODES {
            assert!(seen.insert(code.code), "duplicate {}", code.code);
            assert!(code.code.starts_with("ERR_"));
            assert!(!code.status.is_success());
        }
    }

    #[test]
    fn request_errors_map_to_their_codes() {
        use facecore_wire::{ImageRequest, decode_base64, embedding, parse_json};
        let code = |e: facecore_wire::WireError| ApiError::from(e).code;
        assert_eq!(
            code(parse_json::<ImageRequest>(b"{").expect_err("refused 1")),
            MALFORMED_JSON
        );
        assert_eq!(
            code(parse_json::<ImageRequest>(br#"{"maxFaceCount": "x"}"#).expect_err("refused 2")),
            VALIDATION
        );
        assert_eq!(code(decode_base64("@@").expect_err("refused 3")), BASE64);
        assert_eq!(
            code(embedding("e", Some(&vec![0.0; 4]), 4).expect_err("refused 4")),
            INVALID_EMBEDDING
        );
        let err = ApiError::from(
            parse_json::<ImageRequest>(br#"{"maxFaceCount": "x"}"#).expect_err("refused 5"),
        );
        assert!(err.message.starts_with("maxFaceCount:"), "{}", err.message);
    }

    /// Each kind the facade names has the code the API documents; input
    /// problems are never a 500.
    #[test]
    fn every_kind_has_its_code() {
        use facecore::ErrorKind as K;
        let table = [
            (K::InvalidInput, VALIDATION),
            (K::ImageTooLarge, IMAGE_TOO_LARGE),
            (K::ImageUndecodable, IMAGE_NOT_DECODABLE),
            (K::InvalidEmbedding, INVALID_EMBEDDING),
            (K::AccountNotFound, NOT_FOUND),
            (K::KeyNotFound, NOT_FOUND),
            (K::CollectionNotFound, COLLECTION_NOT_FOUND),
            (K::FaceNotFound, FACE_NOT_FOUND),
            (K::CollectionExists, COLLECTION_EXISTS),
            (K::PersonNotFound, NOT_FOUND),
            (K::PersonExists, VALIDATION),
            (K::NoFace, VALIDATION),
            (K::TooManyFaces, VALIDATION),
            (K::WrongKeyType, API_KEY_NOT_VALID),
            (K::ServiceNotFound, NOT_FOUND),
            (K::InvalidKey, API_KEY_NOT_VALID),
            (K::AccountForbidden, ACCOUNT_FORBIDDEN),
            (K::ModelMismatch, MODEL_MISMATCH),
            (K::ModelNotLoaded, MODEL_NOT_LOADED),
            (K::Internal, INTERNAL),
        ];
        for (kind, code) in table {
            assert_eq!(code_for(kind), code, "{kind:?}");
        }
        let empty_image = facecore::Error::Detect(facecore::detect::DetectError::EmptyImage);
        assert_eq!(ApiError::from_error(&empty_image).code, IMAGE_NOT_DECODABLE);
        let revoked = facecore::Error::Auth(facecore::store::AuthError::InvalidKey);
        let e = ApiError::from_error(&revoked);
        assert_eq!(
            (e.code, e.message.as_str()),
            (API_KEY_NOT_VALID, "the API key is not valid")
        );
        let deleted =
            facecore::Error::Store(facecore::store::StoreError::AccountDeleted("a".into()));
        assert_eq!(ApiError::from_error(&deleted).code, ACCOUNT_FORBIDDEN);
    }

    #[test]
    fn image_errors_are_client_errors() {
        let too_big = facecore::Error::Image(facecore::image::ImageError::TooManyPixels {
            width: 50_000,
            height: 50_000,
            limit: 40_000_000,
        });
        assert_eq!(ApiError::from_error(&too_big).code, IMAGE_TOO_LARGE);
        let empty = facecore::Error::Image(facecore::image::ImageError::Empty);
        assert_eq!(
            ApiError::from_error(&empty).status(),
            StatusCode::BAD_REQUEST
        );
        let internal = facecore::Error::Config("x".into());
        assert_eq!(ApiError::from_error(&internal).code, INTERNAL);
    }
}
