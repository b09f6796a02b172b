//! The request bodies of facecore's HTTP APIs, parsed and validated with no
//! I/O: JSON parsing that names the offending field, the image input
//! (`bytes` or `url`), lenient base64, `maxFaceCount`, `faceMatchThreshold`,
//! query parameters and embedding validation.
//!
//! It is its own crate, free of the models and the HTTP stack, so that
//! everything a client can send reaches the same code in the server and in
//! the fuzz targets (`fuzz/`). The server maps each [`WireError`] variant to
//! one stable error code.
//!
//! ```
//! use facecore_wire::{parse_json, ImageRequest, ImageSource};
//!
//! let mut request: ImageRequest =
//!     parse_json(br#"{"image": {"bytes": "aGk="}, "maxFaceCount": 3}"#).unwrap();
//! assert_eq!(request.max_faces().unwrap(), 3);
//! assert_eq!(request.source().unwrap(), ImageSource::Bytes(b"hi".to_vec()));
//!
//! let err = parse_json::<ImageRequest>(br#"{"maxFaceCount": "3"}"#).unwrap_err();
//! assert!(err.to_string().starts_with("maxFaceCount: invalid type"));
//! ```

use base64::Engine as _;
use serde::Deserialize;

pub mod face_search;
mod fast;
pub mod multipart;
pub mod recognition;
pub mod verification;

pub use recognition::{
    COLLECTION_ID_PATTERN, CollectionRequest, DEFAULT_THRESHOLD, FaceRequest,
    required_collection_id,
};
pub use verification::{
    CompareRequest, ImageRequest, MAX_FACE_COUNT_DEFAULT, MAX_FACE_COUNT_LIMIT,
};

/// Why a request body was refused. Every message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body is empty, not JSON, or has data after the JSON value.
    #[error("{0}")]
    MalformedJson(String),
    /// A field is missing, has the wrong type or is out of range.
    #[error("{0}")]
    Invalid(String),
    /// `image.bytes` is not base64 (or a base64 data URL).
    #[error("{0}")]
    Base64(String),
    /// An embedding is missing, has the wrong length, or holds non-finite
    /// values or only zeros.
    #[error("{0}")]
    Embedding(String),
}

/// The image to process: exactly one of `bytes` and `url`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageInput {
    /// Base64 of a JPEG, PNG, WebP, BMP, GIF, TIFF or ICO file. Padding may be
    /// missing; whitespace and a `data:image/...;base64,` prefix are ignored.
    /// (The example is a whole 8 × 8 grey PNG: valid, with no face in it.)
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR42mNogAIGyhgAgIQgARDoahcAAAAASUVORK5CYII="
        )
    )]
    pub bytes: Option<String>,
    /// An http(s) URL of the image. Loopback, private, link-local and metadata
    /// addresses are refused unless the operator allows them.
    #[cfg_attr(feature = "openapi", schema(example = json!(null)))]
    pub url: Option<String>,
}

/// Where the image comes from, once validated.
#[derive(Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// Decoded base64 bytes.
    Bytes(Vec<u8>),
    /// A URL to fetch.
    Url(String),
}

/// Parses a JSON body into `T`; syntax errors and wrong types become errors
/// that name the field (`image.bytes: invalid type: ...`). Unknown fields are
/// ignored.
pub fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, WireError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WireError::MalformedJson(
            "the request body is empty; send a JSON object".into(),
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
            let field = if path == "." { "body" } else { &path };
            WireError::Invalid(format!("{field}: {inner}"))
        } else {
            WireError::MalformedJson(format!("the request body is not valid JSON: {inner}"))
        }
    })?;
    de.end().map_err(|e| {
        WireError::MalformedJson(format!("unexpected data after the JSON value: {e}"))
    })?;
    Ok(value)
}

/// Deserialises an optional integer field that may be written as a whole
/// number with a fraction part of zero (`80.0`, which is the same JSON number
/// as `80` and what some encoders write); `80.5` and numbers out of the
/// `i64` range are an error naming the value.
pub fn whole_number<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    let Some(value) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(n) = value.as_i64() {
        return Ok(Some(n));
    }
    match value.as_f64() {
        // Every whole f64 strictly inside ±2^63 converts exactly.
        Some(f) if f.fract() == 0.0 && f.abs() < 9.223_372_036_854_776e18 => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!(
            "expected a whole number, got {value}"
        ))),
    }
}

/// The image source of a request: exactly one of `image.bytes` and
/// `image.url` (an empty or blank one counts as absent).
pub fn image_source(image: Option<ImageInput>) -> Result<ImageSource, WireError> {
    let image = image.ok_or_else(|| {
        WireError::Invalid("image is required: give image.bytes or image.url".into())
    })?;
    let bytes = image.bytes.filter(|b| !b.trim().is_empty());
    let url = image.url.filter(|u| !u.trim().is_empty());
    match (bytes, url) {
        (Some(b), None) => Ok(ImageSource::Bytes(decode_base64(&b)?)),
        (None, Some(u)) => Ok(ImageSource::Url(u.trim().to_string())),
        (Some(_), Some(_)) => Err(WireError::Invalid(
            "give exactly one of image.bytes and image.url, not both".into(),
        )),
        (None, None) => Err(WireError::Invalid(
            "image needs image.bytes (base64) or image.url".into(),
        )),
    }
}

/// Decodes standard base64, tolerating missing padding, ASCII whitespace
/// (line breaks of MIME-style encoders) and a `data:<type>;base64,` prefix.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, WireError> {
    let mut text = text.trim();
    if let Some(rest) = text.strip_prefix("data:") {
        let Some((meta, data)) = rest.split_once(',') else {
            return Err(WireError::Base64(
                "image.bytes starts like a data URL but has no ','".into(),
            ));
        };
        if !meta.ends_with(";base64") {
            return Err(WireError::Base64(
                "image.bytes is a data URL that is not base64-encoded".into(),
            ));
        }
        text = data;
    }
    // The URL-safe alphabet (`-`, `_` for `+`, `/`) is read too: neither
    // character means anything else in base64, and some encoders default to it.
    let compact: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'-' => b'+',
            b'_' => b'/',
            b => b,
        })
        .collect();
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT
        .decode(&compact)
        .map_err(|e| WireError::Base64(format!("image.bytes is not valid base64: {e}")))
}

/// Checks an embedding from a request: present, `dim` numbers, finite as
/// 32-bit floats, not all zeros. Returns it as `f32`.
pub fn embedding(field: &str, value: Option<&Vec<f64>>, dim: usize) -> Result<Vec<f32>, WireError> {
    use facecore_score::ScoreError;
    let invalid = WireError::Embedding;
    let values = value.ok_or_else(|| invalid(format!("{field} is required")))?;
    #[allow(clippy::cast_possible_truncation)]
    let out: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    // The scoring core's own check, with messages that name the field.
    facecore_score::validate(&out, Some(dim)).map_err(|e| match e {
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

/// The value of query parameter `name` in `query` (the part of a URL after
/// `?`), percent-decoded; the first one when it repeats.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// As [`query_param`], but the parameter must be there.
pub fn required_query(query: Option<&str>, name: &str) -> Result<String, WireError> {
    query_param(query, name)
        .ok_or_else(|| WireError::Invalid(format!("query parameter {name} is required")))
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
            assert!(matches!(err, WireError::Base64(_)), "{bad:?}: {err:?}");
        }
    }

    /// Issue 30.6: the URL-safe alphabet decodes to the same bytes.
    #[test]
    fn url_safe_base64_is_read_too() {
        // 0xfb 0xff 0xbf is "+/+/" in the standard alphabet.
        assert_eq!(decode_base64("-_-_").expect("url-safe"), [0xfb, 0xff, 0xbf]);
        assert_eq!(decode_base64("+/+/").expect("standard"), [0xfb, 0xff, 0xbf]);
    }

    /// Issue 30.6: `80.0` is the number 80; `80.5` is no whole number; a
    /// field that is not in the body's schema (wrong case included) is named.
    #[test]
    fn whole_numbers_and_unknown_fields() {
        let r: ImageRequest = parse_json(br#"{"maxFaceCount": 3.0}"#).expect("3.0");
        assert_eq!(r.max_face_count, Some(3));
        let r: crate::recognition::FaceRequest =
            parse_json(br#"{"faceMatchThreshold": 80.0, "collectionId": "c"}"#).expect("80.0");
        assert_eq!(r.face_match_threshold, Some(80));
        for bad in [r#"{"maxFaceCount": 2.5}"#, r#"{"maxFaceCount": 1e30}"#] {
            let err = parse_json::<ImageRequest>(bad.as_bytes()).expect_err(bad);
            let WireError::Invalid(message) = err else {
                panic!("{bad}: {err:?}")
            };
            assert!(
                message.contains("maxFaceCount") && message.contains("whole number"),
                "{message}"
            );
        }
        for (body, field) in [
            (r#"{"MaxFaceCount": 3}"#, "MaxFaceCount"),
            (r#"{"image": {"bytes": "", "URL": "x"}}"#, "URL"),
        ] {
            let err = parse_json::<ImageRequest>(body.as_bytes()).expect_err(body);
            let WireError::Invalid(message) = err else {
                panic!("{body}: {err:?}")
            };
            assert!(
                message.contains(&format!("unknown field `{field}`")),
                "{message}"
            );
        }
        let err = CompareRequest::parse(br#"{"embedding1": [1], "embedding2": [1], "e3": []}"#)
            .expect_err("unknown");
        assert!(matches!(err, WireError::Invalid(m) if m.contains("unknown field `e3`")));
        let err = parse_json::<crate::recognition::CollectionRequest>(
            br#"{"collectionId": "c", "Description": "x"}"#,
        )
        .expect_err("unknown");
        assert!(matches!(err, WireError::Invalid(m) if m.contains("`Description`")));
    }

    #[test]
    fn json_errors_name_the_field() {
        let err = parse_json::<ImageRequest>(br#"{"maxFaceCount": "3"}"#).expect_err("type");
        assert!(
            matches!(&err, WireError::Invalid(m) if m.starts_with("maxFaceCount:")),
            "{err:?}"
        );
        let err = parse_json::<ImageRequest>(br#"{"image": {"bytes": 5}}"#).expect_err("type");
        assert!(err.to_string().starts_with("image.bytes:"), "{err}");
        for (body, what) in [
            (&br#"{"image": "#[..], "syntax"),
            (b"", "empty"),
            (b"{} {}", "trailing"),
        ] {
            let err = parse_json::<ImageRequest>(body).expect_err(what);
            assert!(
                matches!(err, WireError::MalformedJson(_)),
                "{what}: {err:?}"
            );
        }
        let err = parse_json::<ImageRequest>(b"[1,2]").expect_err("array");
        assert!(matches!(err, WireError::Invalid(_)), "{err:?}");
        // Unknown fields are refused, by name (issue 30.6).
        let err = parse_json::<ImageRequest>(br#"{"maxFaceCount": 2, "extra": [1]}"#)
            .expect_err("unknown");
        assert!(matches!(err, WireError::Invalid(m) if m.contains("`extra`")));
    }

    #[test]
    fn max_face_count_and_threshold_ranges() {
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
        for (given, want) in [
            (None, Some(80)),
            (Some(0), Some(0)),
            (Some(100), Some(100)),
            (Some(101), None),
            (Some(-1), None),
            (Some(i64::MAX), None),
        ] {
            let req = FaceRequest {
                face_match_threshold: given,
                ..FaceRequest::default()
            };
            assert_eq!(req.threshold().ok(), want, "{given:?}");
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
        assert!(matches!(both.source(), Err(WireError::Invalid(_))));
        let mut none = ImageRequest {
            image: Some(ImageInput::default()),
            max_face_count: None,
        };
        assert!(matches!(none.source(), Err(WireError::Invalid(_))));
        let mut missing = ImageRequest::default();
        assert!(matches!(missing.source(), Err(WireError::Invalid(_))));
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
        assert!(
            matches!(&err, WireError::Embedding(m) if m.contains("embedding2[0]")),
            "{err:?}"
        );
    }

    #[test]
    fn query_parameters_are_percent_decoded() {
        let q = Some("collectionId=a%20b%2Fc&faceId=1&collectionId=second");
        assert_eq!(query_param(q, "collectionId").as_deref(), Some("a b/c"));
        assert_eq!(query_param(q, "faceId").as_deref(), Some("1"));
        assert_eq!(query_param(None, "faceId"), None);
        assert!(matches!(
            required_query(q, "missing"),
            Err(WireError::Invalid(m)) if m == "query parameter missing is required"
        ));
    }
}
