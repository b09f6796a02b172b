//! What CompreFace requests carry besides JSON: images as multipart parts or
//! base64 JSON fields, and query parameters written the way its SDKs write
//! them (`?&limit=0&status=True`).

use facecore_wire::multipart;

use super::CallRequest;
use super::errors;
use crate::error::ApiError;

/// Largest image file CompreFace accepts (its `MAX_FILE_SIZE`).
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;

/// File extensions CompreFace accepts (`image.types` in its configuration).
pub const EXTENSIONS: &[&str] = &[
    "jpeg", "jpg", "ico", "png", "bmp", "gif", "tif", "tiff", "webp",
];

/// The images named `fields` of a request, in that order: parts of a
/// multipart body, or base64 strings of a JSON object. CompreFace's errors:
/// a missing part 400/34, a missing JSON field 400/5, a file name with an
/// extension it does not take 400/21, a value that is not base64 400/21,
/// a file over 5 MB 400 (code 0).
pub fn images(request: &CallRequest, fields: &[&str]) -> Result<Vec<Vec<u8>>, ApiError> {
    let content_type = request.content_type.as_deref();
    let images = if multipart::is_multipart(content_type) {
        let parts = multipart::parse(content_type, &request.body)
            .map_err(|e| ApiError::new(errors::UNDEFINED, e.to_string()))?;
        fields
            .iter()
            .map(|field| {
                let part = parts.iter().find(|p| p.name == *field).ok_or_else(|| {
                    ApiError::new(
                        errors::MISSING_PART,
                        format!("Required part {field} is missing"),
                    )
                })?;
                if let Some(name) = &part.filename
                    && let Some((_, extension)) = name.rsplit_once('.')
                    && !EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str())
                {
                    return Err(ApiError::new(
                        errors::BAD_FILE,
                        format!(
                            "File [{name}] has an unavailable extension (accepted: {})",
                            EXTENSIONS.join(", ")
                        ),
                    ));
                }
                Ok(part.data.to_vec())
            })
            .collect::<Result<Vec<_>, _>>()?
    } else if request.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        let value: serde_json::Value = serde_json::from_slice(&request.body)
            .map_err(|e| ApiError::new(errors::UNDEFINED, format!("the body is not JSON: {e}")))?;
        fields
            .iter()
            .map(|field| match value.get(field) {
                Some(serde_json::Value::String(text)) if !text.is_empty() => {
                    facecore_wire::decode_base64(text).map_err(|_| {
                        ApiError::new(
                            errors::BAD_FILE,
                            format!("Provided value is not Base64 ({field})"),
                        )
                    })
                }
                _ => Err(ApiError::new(
                    errors::EMPTY_FIELD,
                    format!("Field {field} cannot be empty"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        return Err(ApiError::new(
            errors::UNDEFINED,
            format!(
                "send the image as multipart/form-data (part '{}') or as JSON {{\"{}\": \"<base64>\"}}",
                fields.join("', '"),
                fields.join("\": \"<base64>\", \"")
            ),
        ));
    };
    for (field, image) in fields.iter().zip(&images) {
        if image.len() > MAX_FILE_BYTES {
            return Err(ApiError::new(
                errors::UNDEFINED,
                format!(
                    "{field} is {} bytes; the largest image accepted is 5 MB ({MAX_FILE_BYTES} bytes)",
                    image.len()
                ),
            ));
        }
    }
    Ok(images)
}

/// Query parameter `name`, percent-decoded; an empty value counts as
/// absent (as Spring reads it).
pub fn param(request: &CallRequest, name: &str) -> Option<String> {
    facecore_wire::query_param(request.query.as_deref(), name).filter(|v| !v.is_empty())
}

/// A whole-number parameter, at least `min`; absent is `default`.
pub fn integer(request: &CallRequest, name: &str, default: u64, min: u64) -> Result<u64, ApiError> {
    let Some(text) = param(request, name) else {
        return Ok(default);
    };
    let value: i64 = text.trim().parse().map_err(|_| {
        ApiError::new(
            errors::INVALID,
            format!("{name} must be a whole number, got '{text}'"),
        )
    })?;
    if value < 0 || (value as u64) < min {
        return Err(ApiError::new(
            errors::INVALID,
            format!("{name} should be equal or greater than {min}"),
        ));
    }
    Ok(value as u64)
}

/// A boolean parameter as Spring reads one: true/on/yes/1 or
/// false/off/no/0, in any case (the Python SDK sends `True`).
pub fn boolean(request: &CallRequest, name: &str, default: bool) -> Result<bool, ApiError> {
    let Some(text) = param(request, name) else {
        return Ok(default);
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(ApiError::new(
            errors::INVALID,
            format!("{name} must be true or false, got '{text}'"),
        )),
    }
}

/// `det_prob_threshold`: a detection confidence in 0..=1 (a face must be
/// strictly above it); absent is `f32::NEG_INFINITY` (the detector's own
/// threshold). Out of range is CompreFace's 400/28.
pub fn det_prob_threshold(request: &CallRequest) -> Result<f32, ApiError> {
    let Some(text) = param(request, "det_prob_threshold") else {
        return Ok(f32::NEG_INFINITY);
    };
    let value: f64 = text.trim().parse().map_err(|_| {
        ApiError::new(
            errors::INVALID,
            format!("det_prob_threshold must be a number, got '{text}'"),
        )
    })?;
    if !(0.0..=1.0).contains(&value) {
        return Err(ApiError::new(
            errors::NO_FACE,
            "Detection threshold incorrect (0 <= det_prob_threshold <= 1)",
        ));
    }
    Ok(value as f32)
}
