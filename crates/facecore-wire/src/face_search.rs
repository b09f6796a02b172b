//! The Face Search API's bodies (`face-search-api-third-party.md`): 1:N and
//! N:N search, and the enrolment the document assumes (collections,
//! persons with metadata, their faces), all snake_case JSON, with their
//! defaults and ranges in one place.
//!
//! The document marks fields required that it also gives defaults; a
//! missing field with a default takes it. It gives `min_similarity_score`
//! two defaults (0.7 in the field list, 0.8 in the text): this server uses
//! [`DEFAULT_MIN_SIMILARITY`], 0.8, the calibrated false-match rate of 1e-4
//! per comparison that facecore recommends everywhere.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::WireError;

/// Default `min_similarity_score`: 0.8, a false-match rate of 1e-4 per
/// comparison.
pub const DEFAULT_MIN_SIMILARITY: f64 = 0.8;
/// Default `max_results`.
pub const DEFAULT_MAX_RESULTS: i64 = 1;
/// Largest `max_results`.
pub const MAX_RESULTS_LIMIT: i64 = 100;
/// Most photos in one `faces_base_64`.
pub const MAX_PHOTOS: usize = 10;
/// Default page size of `GET /persons`.
pub const DEFAULT_PAGE_LIMIT: u64 = 100;
/// Largest page size of `GET /persons`.
pub const MAX_PAGE_LIMIT: u64 = 1000;

/// Body of `POST /face-search`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FaceSearchRequest {
    /// The collection searched.
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            nullable = false,
            min_length = 1,
            max_length = 512,
            pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$",
            example = "MyCollection"
        )
    )]
    pub collection_name: Option<String>,
    /// Base64 of a JPEG or PNG (WebP, BMP, GIF, TIFF and ICO too) with one
    /// face; of several, the dominant one (largest and clearest) is searched.
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            nullable = false,
            min_length = 1,
            example = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR42mNogAIGyhgAgIQgARDoahcAAAAASUVORK5CYII="
        )
    )]
    pub face_base_64: Option<String>,
    /// Lowest similarity of a match, 0 to 1 (default 0.8: a false-match
    /// rate of 1e-4 per comparison; 0.7 is 1e-3, 0.9 is 1e-5).
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, minimum = 0.0, maximum = 1.0, default = 0.8)
    )]
    pub min_similarity_score: Option<f64>,
    /// Most persons returned, 1 to 100 (default 1).
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, minimum = 1, maximum = 100, default = 1)
    )]
    pub max_results: Option<i64>,
    /// Check that the face is live before searching (default false).
    #[cfg_attr(feature = "openapi", schema(nullable = false, default = false))]
    pub check_liveness: Option<bool>,
    /// facecore's addition: the highest chance, per search, that a stranger
    /// matches anybody. The threshold rises with the collection's size to
    /// keep it (the stricter of this and `min_similarity_score` applies).
    #[cfg_attr(
        feature = "openapi",
        schema(
            nullable = false,
            exclusive_minimum = 0.0,
            maximum = 1.0,
            example = 0.01
        )
    )]
    pub max_false_match_rate: Option<f64>,
}

/// Body of `POST /multi-face-search`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MultiFaceSearchRequest {
    /// The collection searched.
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            nullable = false,
            min_length = 1,
            max_length = 512,
            pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$",
            example = "MyCollection"
        )
    )]
    pub collection_name: Option<String>,
    /// Base64 of an image; every face found in it (up to 100) is searched.
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            nullable = false,
            min_length = 1,
            example = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR42mNogAIGyhgAgIQgARDoahcAAAAASUVORK5CYII="
        )
    )]
    pub multi_face_img_base_64: Option<String>,
    /// Lowest similarity of a match, 0 to 1 (default 0.8).
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, minimum = 0.0, maximum = 1.0, default = 0.8)
    )]
    pub min_similarity_score: Option<f64>,
    /// As in `POST /face-search`, for each face's search.
    #[cfg_attr(
        feature = "openapi",
        schema(
            nullable = false,
            exclusive_minimum = 0.0,
            maximum = 1.0,
            example = 0.01
        )
    )]
    pub max_false_match_rate: Option<f64>,
}

/// Body of `POST /collections`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateCollectionRequest {
    /// The name: 1 to 512 characters, no control characters. It is the
    /// collection's id for every API of this server (the Face Recognition
    /// API's `collectionId`).
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            nullable = false,
            min_length = 1,
            max_length = 512,
            pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$",
            example = "MyCollection"
        )
    )]
    pub collection_name: Option<String>,
    /// Free text, at most 1024 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub description: Option<String>,
}

/// Body of `POST /persons`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatePersonRequest {
    /// The collection.
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            nullable = false,
            min_length = 1,
            max_length = 512,
            pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$",
            example = "MyCollection"
        )
    )]
    pub collection_name: Option<String>,
    /// The name, 1 to 512 characters; unique in the collection ignoring
    /// case, kept as written.
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            nullable = false,
            min_length = 1,
            max_length = 512,
            example = "Jane Doe"
        )
    )]
    pub person_name: Option<String>,
    /// String metadata: at most 64 entries, keys of 1 to 128 characters,
    /// values of at most 2048.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub metadata: Option<BTreeMap<String, String>>,
    /// 1 to 10 photos (base64), each showing exactly one face.
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, nullable = false, min_items = 1, max_items = 10)
    )]
    pub faces_base_64: Option<Vec<String>>,
}

/// Body of `PUT /persons/{person_id}`: the fields given change.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdatePersonRequest {
    /// The collection.
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            nullable = false,
            min_length = 1,
            max_length = 512,
            pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$",
            example = "MyCollection"
        )
    )]
    pub collection_name: Option<String>,
    /// A new name.
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, min_length = 1, max_length = 512)
    )]
    pub person_name: Option<String>,
    /// New metadata, replacing the old as a whole.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Body of `POST /persons/{person_id}/faces`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddFacesRequest {
    /// The collection.
    #[cfg_attr(
        feature = "openapi",
        schema(
            required = true,
            nullable = false,
            min_length = 1,
            max_length = 512,
            pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$",
            example = "MyCollection"
        )
    )]
    pub collection_name: Option<String>,
    /// 1 to 10 photos (base64), each showing exactly one face.
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, nullable = false, min_items = 1, max_items = 10)
    )]
    pub faces_base_64: Option<Vec<String>>,
}

/// A field that must be there.
pub fn required<T>(field: &str, value: Option<T>) -> Result<T, WireError> {
    value.ok_or_else(|| WireError::Invalid(format!("{field} is required")))
}

/// `collection_name`, which must be there: 1 to 512 characters, none of
/// them a control character (the store's rule for collection ids).
pub fn collection_name(value: Option<String>) -> Result<String, WireError> {
    let name = required("collection_name", value)?;
    let len = name.chars().count();
    if len == 0 || len > 512 || name.chars().any(char::is_control) {
        return Err(WireError::Invalid(format!(
            "collection_name must be 1 to 512 characters without control characters (got {len})"
        )));
    }
    Ok(name)
}

/// `min_similarity_score`, defaulted and range-checked.
pub fn min_similarity(value: Option<f64>) -> Result<f64, WireError> {
    let v = value.unwrap_or(DEFAULT_MIN_SIMILARITY);
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(WireError::Invalid(format!(
            "min_similarity_score must be between 0 and 1, got {v}"
        )))
    }
}

/// `max_results`, defaulted and range-checked.
pub fn max_results(value: Option<i64>) -> Result<usize, WireError> {
    let v = value.unwrap_or(DEFAULT_MAX_RESULTS);
    usize::try_from(v)
        .ok()
        .filter(|_| (1..=MAX_RESULTS_LIMIT).contains(&v))
        .ok_or_else(|| {
            WireError::Invalid(format!(
                "max_results must be between 1 and {MAX_RESULTS_LIMIT}, got {v}"
            ))
        })
}

/// `max_false_match_rate`, when given: a rate in (0, 1].
pub fn false_match_rate(value: Option<f64>) -> Result<Option<f64>, WireError> {
    match value {
        Some(v) if !(v > 0.0 && v <= 1.0) => Err(WireError::Invalid(format!(
            "max_false_match_rate must be above 0 and at most 1, got {v}"
        ))),
        other => Ok(other),
    }
}

/// `faces_base_64`: 1 to [`MAX_PHOTOS`] photos (still base64; see
/// [`decode_image`]).
pub fn photos(value: Option<Vec<String>>) -> Result<Vec<String>, WireError> {
    let photos = required("faces_base_64", value)?;
    if photos.is_empty() || photos.len() > MAX_PHOTOS {
        return Err(WireError::Invalid(format!(
            "faces_base_64 must hold 1 to {MAX_PHOTOS} photos, got {}",
            photos.len()
        )));
    }
    Ok(photos)
}

/// The image bytes of base64 field `field` (lenient as
/// [`decode_base64`](crate::decode_base64); an empty value is not an image).
pub fn decode_image(field: &str, text: &str) -> Result<Vec<u8>, WireError> {
    let bytes = crate::decode_base64(text)
        .map_err(|e| WireError::Base64(e.to_string().replace("image.bytes", field)))?;
    if bytes.is_empty() {
        return Err(WireError::Base64(format!("{field} is empty")));
    }
    Ok(bytes)
}

/// Standard base64 with padding, as answers carry images.
pub fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `offset` and `limit` of `GET /persons` (defaults 0 and
/// [`DEFAULT_PAGE_LIMIT`]).
pub fn page(query: Option<&str>) -> Result<(u64, usize), WireError> {
    let number = |name: &str, default: u64| -> Result<u64, WireError> {
        match crate::query_param(query, name) {
            None => Ok(default),
            Some(text) => text.trim().parse::<u64>().map_err(|_| {
                WireError::Invalid(format!(
                    "{name} must be a whole number of 0 or more, got '{}'",
                    text.escape_debug()
                ))
            }),
        }
    };
    let offset = number("offset", 0)?;
    let limit = number("limit", DEFAULT_PAGE_LIMIT)?;
    if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
        return Err(WireError::Invalid(format!(
            "limit must be between 1 and {MAX_PAGE_LIMIT}, got {limit}"
        )));
    }
    Ok((offset, usize::try_from(limit).unwrap_or(usize::MAX)))
}

/// One person found by a search.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchMatch {
    /// The stored thumbnail of the matched face: a JPEG of at most 128 × 128
    /// pixels, base64 (empty when the face was stored without one, through
    /// another API).
    pub face_base_64: String,
    /// The person's metadata.
    pub metadata: BTreeMap<String, String>,
    /// The person's id.
    pub person_id: String,
    /// The person's name (empty for a person without one).
    pub person_name: String,
    /// The calibrated similarity, 0 to 1: 0.7 = a false-match rate of 1e-3
    /// per comparison, 0.8 = 1e-4, 0.9 = 1e-5; the same photo gives 1.
    pub similarity_score: f64,
}

/// Answer of `POST /multi-face-search`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MultiFaceSearchResponse {
    /// One entry per face that matched somebody, best first (two faces
    /// matching one person give two entries).
    pub person_search_results: Vec<SearchMatch>,
    /// A thumbnail (JPEG, at most 128 × 128, base64) of each face that
    /// matched nobody, in the order the faces were found (largest first).
    pub unrecognized_face_thumbnails_base_64: Vec<String>,
}

/// A collection as this API shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamedCollection {
    /// The name (the collection's id).
    pub collection_name: String,
    /// Free text.
    pub description: Option<String>,
    /// Persons in it.
    pub person_count: u64,
    /// Faces in it.
    pub face_count: u64,
    /// UTC creation time, e.g. `2026-01-15T10:30:00Z`.
    pub created_at: String,
    /// UTC time of the last change of its description.
    pub updated_at: String,
    /// The embedding model (`id@version`) of its faces, fixed when it was
    /// created (an addition to the document's fields; `GET /v1/models`
    /// lists the loaded models).
    pub embedding_model: String,
}

/// Answer of `GET /collections`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamedCollections {
    /// The account's collections, by name.
    pub collections: Vec<NamedCollection>,
}

/// A person as this API shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonView {
    /// The id, `person_` + 20 characters.
    pub person_id: String,
    /// The name (empty for a person without one).
    pub person_name: String,
    /// String metadata.
    pub metadata: BTreeMap<String, String>,
    /// The ids of its faces, in id order.
    pub face_ids: Vec<String>,
    /// UTC creation time.
    pub created_at: String,
    /// UTC time of the last change of name or metadata.
    pub updated_at: String,
}

/// Answer of `GET /persons`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonsPage {
    /// The persons of the page, in id order.
    pub persons: Vec<PersonView>,
    /// Persons in the collection.
    pub total: u64,
    /// Index of the first person of the page.
    pub offset: u64,
    /// Page size asked for.
    pub limit: u64,
}

/// Answer of `POST /persons` and `POST /persons/{person_id}/faces`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolledResponse {
    /// The person.
    pub person_id: String,
    /// The faces stored, one per photo, in the order of `faces_base_64`.
    pub face_ids: Vec<String>,
}

/// Answer of `DELETE /persons/{person_id}`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletedPerson {
    /// The person deleted.
    pub person_id: String,
    /// Its faces, deleted with their thumbnails.
    pub deleted_face_ids: Vec<String>,
}

/// Answer of `DELETE /persons/{person_id}/faces/{face_id}`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletedFace {
    /// The person, which stays (even with no face left).
    pub person_id: String,
    /// The face deleted.
    pub face_id: String,
}

/// Answer of `DELETE /collections/{collection_name}`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletedCollection {
    /// The collection deleted with all its persons and faces.
    pub collection_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_json;

    #[test]
    fn missing_fields_with_defaults_take_them() {
        let req: FaceSearchRequest =
            parse_json(br#"{"collection_name": "c", "face_base_64": "aGk="}"#).expect("ok");
        assert_eq!(min_similarity(req.min_similarity_score), Ok(0.8));
        assert_eq!(max_results(req.max_results), Ok(1));
        assert_eq!(req.check_liveness, None);
        assert_eq!(false_match_rate(req.max_false_match_rate), Ok(None));
        assert_eq!(min_similarity(Some(0.67)), Ok(0.67));
        for bad in [-0.1, 1.01, f64::NAN] {
            assert!(min_similarity(Some(bad)).is_err(), "{bad}");
        }
        for (given, ok) in [
            (1, true),
            (100, true),
            (0, false),
            (101, false),
            (-3, false),
        ] {
            assert_eq!(max_results(Some(given)).is_ok(), ok, "{given}");
        }
        for (given, ok) in [(0.01, true), (1.0, true), (0.0, false), (1.5, false)] {
            assert_eq!(false_match_rate(Some(given)).is_ok(), ok, "{given}");
        }
    }

    #[test]
    fn wrong_types_and_bad_photos_name_the_field() {
        let err = parse_json::<FaceSearchRequest>(br#"{"max_results": "3"}"#).expect_err("type");
        assert!(err.to_string().starts_with("max_results:"), "{err}");
        let err = parse_json::<CreatePersonRequest>(br#"{"metadata": {"a": 1}}"#)
            .expect_err("metadata values are strings");
        assert!(err.to_string().starts_with("metadata.a:"), "{err}");
        let err = parse_json::<CreatePersonRequest>(br#"{"faces_base_64": [1]}"#)
            .expect_err("photos are strings");
        assert!(err.to_string().starts_with("faces_base_64[0]:"), "{err}");
        assert!(photos(None).is_err());
        assert!(photos(Some(vec![])).is_err());
        assert!(photos(Some(vec![String::new(); 11])).is_err());
        assert_eq!(photos(Some(vec!["aGk=".into()])).map(|p| p.len()), Ok(1));
        let err = decode_image("faces_base_64[2]", "@@").expect_err("not base64");
        assert!(
            matches!(&err, WireError::Base64(m) if m.starts_with("faces_base_64[2] ")),
            "{err:?}"
        );
        assert!(matches!(decode_image("f", ""), Err(WireError::Base64(_))));
        assert_eq!(decode_image("f", "aGk="), Ok(b"hi".to_vec()));
        assert_eq!(encode_base64(b"hi"), "aGk=");
    }

    #[test]
    fn pages_have_defaults_and_limits() {
        assert_eq!(page(None), Ok((0, 100)));
        assert!(collection_name(None).is_err());
        assert!(collection_name(Some(String::new())).is_err());
        assert!(collection_name(Some("a\u{7}".into())).is_err());
        assert_eq!(
            collection_name(Some("My Collection".into())),
            Ok("My Collection".into())
        );
        assert_eq!(page(Some("offset=5&limit=2")), Ok((5, 2)));
        for bad in ["limit=0", "limit=1001", "offset=-1", "offset=x"] {
            assert!(page(Some(bad)).is_err(), "{bad}");
        }
    }
}
