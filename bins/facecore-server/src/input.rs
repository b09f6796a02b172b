//! Request bodies: JSON parsing that names the offending field, the image
//! input (`bytes` or `url`), lenient base64, and embedding validation.

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{self, ApiError};

/// Default and allowed range of `maxFaceCount`.
pub const MAX_FACE_COUNT_DEFAULT: i64 = 1;
/// Largest `maxFaceCount` accepted.
pub const MAX_FACE_COUNT_LIMIT: i64 = 10;

/// The image to process: exactly one of `bytes` and `url`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ImageInput {
    /// Base64 of a JPEG, PNG, WebP, BMP, GIF or TIFF file. Padding may be
    /// missing; whitespace and a `data:image/...;base64,` prefix are ignored.
    /// (The example is a whole 8 × 8 grey PNG: valid, with no face in it.)
    #[schema(
        example = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR42mNogAIGyhgAgIQgARDoahcAAAAASUVORK5CYII="
    )]
    pub bytes: Option<String>,
    /// An http(s) URL of the image. Loopback, private, link-local and metadata
    /// addresses are refused unless the operator allows them.
    #[schema(example = json!(null))]
    pub url: Option<String>,
}

/// Body of detect-faces and get-face-embeddings.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageRequest {
    /// The image to process.
    #[schema(required = true, nullable = false)]
    pub image: Option<ImageInput>,
    /// How many faces to return, most dominant first: 1 to 10, default 1.
    #[schema(minimum = 1, maximum = 10, default = 1, example = 1)]
    pub max_face_count: Option<i64>,
}

/// Body of compare-face-embeddings.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CompareRequest {
    /// Embedding to compare (512 numbers from get-face-embeddings).
    #[schema(required = true, nullable = false, min_items = 512, max_items = 512)]
    pub embedding1: Option<Vec<f64>>,
    /// Embedding to compare with.
    #[schema(required = true, nullable = false, min_items = 512, max_items = 512)]
    pub embedding2: Option<Vec<f64>>,
}

/// Where the image comes from, once validated.
#[derive(Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// Decoded base64 bytes.
    Bytes(Vec<u8>),
    /// A URL to fetch.
    Url(String),
}

/// Parses a JSON body into `T`; syntax errors and wrong types become 400s
/// that name the field (`image.bytes: invalid type: ...`).
pub fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            error::MALFORMED_JSON,
            "the request body is empty; send a JSON object",
        ));
    }
    // The fast path parses directly; only a failure is parsed again to name
    // the field (path tracking costs as much as the parse itself).
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let field = if path == "." {
                "body".to_string()
            } else {
                path
            };
            ApiError::new(error::VALIDATION, format!("{field}: {inner}"))
        } else {
            ApiError::new(
                error::MALFORMED_JSON,
                format!("the request body is not valid JSON: {inner}"),
            )
        }
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            error::MALFORMED_JSON,
            format!("unexpected data after the JSON value: {e}"),
        )
    })?;
    Ok(value)
}

impl ImageRequest {
    /// `maxFaceCount`, defaulted and range-checked.
    pub fn max_faces(&self) -> Result<usize, ApiError> {
        let n = self.max_face_count.unwrap_or(MAX_FACE_COUNT_DEFAULT);
        if !(1..=MAX_FACE_COUNT_LIMIT).contains(&n) {
            return Err(ApiError::new(
                error::VALIDATION,
                format!("maxFaceCount must be between 1 and {MAX_FACE_COUNT_LIMIT}, got {n}"),
            ));
        }
        usize::try_from(n).map_err(|_| ApiError::new(error::VALIDATION, "maxFaceCount"))
    }

    /// The image source: exactly one of `image.bytes` and `image.url`.
    pub fn source(&mut self) -> Result<ImageSource, ApiError> {
        image_source(self.image.take())
    }
}

/// The image source of a request: exactly one of `image.bytes` and
/// `image.url`.
pub fn image_source(image: Option<ImageInput>) -> Result<ImageSource, ApiError> {
    let image = image.ok_or_else(|| {
        ApiError::new(
            error::VALIDATION,
            "image is required: give image.bytes or image.url",
        )
    })?;
    let bytes = image.bytes.filter(|b| !b.trim().is_empty());
    let url = image.url.filter(|u| !u.trim().is_empty());
    match (bytes, url) {
        (Some(b), None) => Ok(ImageSource::Bytes(decode_base64(&b)?)),
        (None, Some(u)) => Ok(ImageSource::Url(u.trim().to_string())),
        (Some(_), Some(_)) => Err(ApiError::new(
            error::VALIDATION,
            "give exactly one of image.bytes and image.url, not both",
        )),
        (None, None) => Err(ApiError::new(
            error::VALIDATION,
            "image needs image.bytes (base64) or image.url",
        )),
    }
}

/// Decodes standard base64, tolerating missing padding, ASCII whitespace
/// (line breaks of MIME-style encoders) and a `data:<type>;base64,` prefix.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, ApiError> {
    let mut text = text.trim();
    if let Some(rest) = text.strip_prefix("data:") {
        let Some((meta, data)) = rest.split_once(',') else {
            return Err(ApiError::new(
                error::BASE64,
                "image.bytes starts like a data URL but has no ','",
            ));
        };
        if !meta.ends_with(";base64") {
            return Err(ApiError::new(
                error::BASE64,
                "image.bytes is a data URL that is not base64-encoded",
            ));
        }
        text = data;
    }
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(&compact).map_err(|e| {
        ApiError::new(
            error::BASE64,
            format!("image.bytes is not valid base64: {e}"),
        )
    })
}

/// Checks an embedding from a request: present, the model's length, finite,
/// not all zeros. Returns it as f32.
pub fn embedding(field: &str, value: Option<&Vec<f64>>, dim: usize) -> Result<Vec<f32>, ApiError> {
    use facecore::score::ScoreError;
    let invalid = |message: String| ApiError::new(error::INVALID_EMBEDDING, message);
    let values = value.ok_or_else(|| invalid(format!("{field} is required")))?;
    #[allow(clippy::cast_possible_truncation)]
    let out: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    // The scoring core's own check, with messages that name the field.
    facecore::score::validate(&out, Some(dim)).map_err(|e| match e {
        ScoreError::Empty | ScoreError::WrongDimension { .. } => invalid(format!(
            "{field} must have {dim} numbers (an embedding from get-face-embeddings), got {}",
            values.len()
        )),
        ScoreError::NonFinite { index } => invalid(format!(
            "{field}[{index}] is not a finite 32-bit number: {}",
            values[index]
        )),
        ScoreError::ZeroNorm => invalid(format!("{field} has zero length and no direction")),
        other => invalid(format!("{field}: {other}")),
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_lenient_where_it_should_be() {
        let want = b"hello world!?".to_vec();
        for text in [
            "aGVsbG8gd29ybGQhPw==",
            "aGVsbG8gd29ybGQhPw",
            "aGVsbG8g\nd29y bGQh\r\nPw==",
            "data:image/png;base64,aGVsbG8gd29ybGQhPw==",
            "  aGVsbG8gd29ybGQhPw==  ",
        ] {
            assert_eq!(decode_base64(text).expect(text), want, "{text:?}");
        }
        for bad in [
            "@@@",
            "aGVsbG8*",
            "data:image/png,aGVsbG8=",
            "data:nocomma",
            "a",
        ] {
            let err = decode_base64(bad).expect_err(bad);
            assert_eq!(err.code, error::BASE64, "{bad:?}");
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        let err = parse_json::<ImageRequest>(br#"{"maxFaceCount": "3"}"#).expect_err("type");
        assert_eq!(err.code, error::VALIDATION);
        assert!(err.message.starts_with("maxFaceCount:"), "{}", err.message);
        let err = parse_json::<ImageRequest>(br#"{"image": {"bytes": 5}}"#).expect_err("type");
        assert!(err.message.starts_with("image.bytes:"), "{}", err.message);
        let err = parse_json::<ImageRequest>(br#"{"image": "#).expect_err("syntax");
        assert_eq!(err.code, error::MALFORMED_JSON);
        let err = parse_json::<ImageRequest>(b"").expect_err("empty");
        assert_eq!(err.code, error::MALFORMED_JSON);
        let err = parse_json::<ImageRequest>(b"[1,2]").expect_err("array");
        assert_eq!(err.code, error::VALIDATION);
        let err = parse_json::<ImageRequest>(b"{} {}").expect_err("trailing");
        assert_eq!(err.code, error::MALFORMED_JSON);
        // Unknown fields are ignored.
        let ok = parse_json::<ImageRequest>(br#"{"maxFaceCount": 2, "extra": [1]}"#).expect("ok");
        assert_eq!(ok.max_faces().expect("range"), 2);
    }

    #[test]
    fn max_face_count_range() {
        for (given, want) in [
            (None, Some(1)),
            (Some(1), Some(1)),
            (Some(10), Some(10)),
            (Some(0), None),
            (Some(11), None),
            (Some(-1), None),
        ] {
            let req = ImageRequest {
                image: None,
                max_face_count: given,
            };
            assert_eq!(req.max_faces().ok(), want, "{given:?}");
        }
    }

    #[test]
    fn image_source_needs_exactly_one() {
        let mut both = ImageRequest {
            image: Some(ImageInput {
                bytes: Some("aGk=".into()),
                url: Some("http://x/".into()),
            }),
            max_face_count: None,
        };
        assert_eq!(both.source().expect_err("both").code, error::VALIDATION);
        let mut none = ImageRequest {
            image: Some(ImageInput::default()),
            max_face_count: None,
        };
        assert_eq!(none.source().expect_err("none").code, error::VALIDATION);
        let mut missing = ImageRequest::default();
        assert_eq!(
            missing.source().expect_err("missing").code,
            error::VALIDATION
        );
        let mut url = ImageRequest {
            image: Some(ImageInput {
                bytes: Some(String::new()),
                url: Some(" http://x/a.jpg ".into()),
            }),
            max_face_count: None,
        };
        assert_eq!(
            url.source().expect("url"),
            ImageSource::Url("http://x/a.jpg".into())
        );
    }

    #[test]
    fn embeddings_are_validated() {
        let good = vec![0.5; 4];
        assert_eq!(
            embedding("e", Some(&good), 4).expect("good"),
            vec![0.5f32; 4]
        );
        assert!(embedding("e", None, 4).is_err());
        assert!(embedding("e", Some(&vec![0.5; 3]), 4).is_err());
        assert!(embedding("e", Some(&vec![0.0; 4]), 4).is_err());
        let huge = vec![1e300, 0.0, 0.0, 0.0];
        let err = embedding("embedding2", Some(&huge), 4).expect_err("inf");
        assert!(err.message.contains("embedding2[0]"), "{}", err.message);
    }
}
