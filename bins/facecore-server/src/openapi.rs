//! The OpenAPI 3 document, generated from the request and response types
//! with `utoipa`, served at `/openapi.json` and shown by Swagger UI: each
//! dialect's paths and schemas (its `openapi` module) merged with the
//! service's own, then the security schemes and common error answers.

use facecore::Engine;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::api;
use crate::error::{CODES, ErrorBody};

/// Health check: the server's UTC time, no authentication.
#[utoipa::path(
    get,
    path = "/v1/healthz",
    tag = "Health",
    responses(
        (status = 200, description = "The server's UTC time in ISO 8601", body = String, content_type = "text/plain",
            example = "2026-02-16T10:30:45Z"),
    )
)]
#[allow(dead_code)]
fn healthz() {}

/// The model sets of the manifest, no authentication: for each, whether it
/// is loaded and the default (the set new collections use), its models
/// with their pinned sha256 and licences, the embedding model id that
/// collections record, and the calibration behind the scores. A set whose
/// weights are not for commercial use says so (`commercial_use: false`,
/// `terms`); one that is not installed names the command that installs it.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "Health",
    responses(
        (status = 200, description = "`{\"sets\": [...]}`, the loaded sets first, the default at the head", body = Object,
            example = json!({"sets": [{"name": "default", "default": true, "loaded": true,
                "description": "UltraFace-style detector, 68-point landmarks and a 512-d embedder",
                "license": "MIT", "commercial_use": true, "embedding_model": "fr_feature@0.0.1",
                "embedding_dim": 512,
                "calibration": {"fpr_1e3": 0.3556, "fpr_1e4": 0.4363, "fpr_1e5": 0.4949, "fpr_1e6": null,
                    "measured_on": "faces-dev"},
                "models": [{"id": "fr_feature", "version": "0.0.1", "role": "embedder",
                    "file": "fr_feature.onnx", "sha256": "87aacdfe…", "license": "MIT",
                    "package": "npm:faceplugin-face-recognition-js@0.0.1"}]}]})),
    )
)]
#[allow(dead_code)]
fn models() {}

/// The error responses every authenticated operation can give, added to each
/// of them here rather than repeated in every path attribute.
const AUTHENTICATED_ERRORS: &[(&str, &str)] = &[
    ("401", "Missing or invalid credentials"),
    ("403", "The account is disabled or does not exist"),
    ("408", "The body did not arrive in time"),
    ("413", "The body is over the size limit"),
    ("503", "Overloaded; retry after the Retry-After seconds"),
    ("500", "Server error"),
];

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            // CompreFace's calls answer auth errors in its own shape and
            // codes (400/20, 404/10), documented on each path.
            if path.starts_with("/api/v1/") {
                continue;
            }
            let operations = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.delete.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                if operation.security.is_none() {
                    continue;
                }
                // The Face Search API answers its own shape, with metadata.
                let schema = if api::face_search::openapi::owns(path) {
                    "FaceSearchError"
                } else {
                    "ErrorBody"
                };
                for (status, description) in AUTHENTICATED_ERRORS {
                    let response = ResponseBuilder::new()
                        .description(*description)
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name(schema)))
                                .build(),
                        )
                        .build();
                    operation
                        .responses
                        .responses
                        .entry((*status).to_string())
                        .or_insert(response.into());
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`ApiKey <key>`: type the word ApiKey, a space, then the key (`facecore keys create --account NAME` makes one)",
            ))),
        );
        components.add_security_scheme(
            "x_api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "A CompreFace service's key (`facecore services create --account A --type recognition|detection|verification --name N`)",
            ))),
        );
        components.add_security_scheme(
            "face_search_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "The Face Search API's header: an account key (`facecore keys create --account NAME`), not a CompreFace service's",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT signed with the operator's key (HS256, RS256 or ES256); `sub` names the account, `exp` is required",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "facecore Face Verification and Face Recognition API",
        description = "Self-hosted face detection, embeddings and calibrated comparison.",
    ),
    paths(healthz, models),
    components(schemas(ErrorBody)),
    tags(
        (name = "Face Verification", description = "Detect faces, extract embeddings, compare them"),
        (name = "Face Recognition", description = "Collections of faces: index, search, search-or-index, delete"),
        (name = "Health", description = "Liveness"),
    )
)]
struct ApiDoc;

/// Every dialect's paths and schemas with the service's, security applied.
fn api_doc() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(api::verification::openapi::Doc::openapi());
    doc.merge(api::recognition::openapi::Doc::openapi());
    doc.merge(api::compreface::openapi::Doc::openapi());
    doc.merge(api::face_search::openapi::Doc::openapi());
    Security.modify(&mut doc);
    doc
}

/// The OpenAPI document as a value, with the engine's model, its score
/// calibration and the error-code table in the description.
pub fn document(engine: &Engine) -> utoipa::openapi::OpenApi {
    let mut doc = api_doc();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut description = format!(
        "Self-hosted face detection, embeddings and calibrated comparison.\n\n\
         Embeddings come from model `{}` ({} dimensions, unit length); embeddings of \
         different models must not be compared.\n\n\
         Scores are {}: 70 = FPR 1e-3, 80 = FPR 1e-4 (recommended), 90 = FPR 1e-5, 95 = FPR 1e-6.\n\n\
         Every error is `{{\"code\": \"...\", \"message\": \"...\"}}`:\n\n| code | status | when |\n|---|---|---|\n",
        engine.model_id(),
        engine.embedding_dim(),
        if engine.is_calibrated() {
            "calibrated for this model on labeled data"
        } else {
            "on the reference scale (this model is not calibrated)"
        }
    );
    for code in CODES {
        description.push_str(&format!(
            "| `{}` | {} | {} |\n",
            code.code,
            code.status.as_u16(),
            code.meaning
        ));
    }
    doc.info.description = Some(description);
    doc
}

/// The OpenAPI document as JSON bytes.
pub fn document_json(engine: &Engine) -> Vec<u8> {
    serde_json::to_vec(&document(engine)).unwrap_or_else(|e| {
        format!(r#"{{"error": "the OpenAPI document could not be serialised: {e}"}}"#).into_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::recognition::wire::COLLECTION_ID_PATTERN;

    /// Every `pattern` in `value`, with the name it belongs to.
    fn patterns(value: &serde_json::Value, name: &str, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(map) => {
                let here = map
                    .get("name")
                    .and_then(|n| n.as_str())
                    .unwrap_or(name)
                    .to_string();
                for (key, child) in map {
                    if key == "pattern" {
                        out.push((here.clone(), child.as_str().unwrap_or_default().into()));
                    } else {
                        let inherit = key == "properties" || key == "schema";
                        patterns(child, if inherit { &here } else { key }, out);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    patterns(item, name, out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_collection_id_has_the_pattern_the_store_enforces() {
        let doc = serde_json::to_value(api_doc()).expect("json");
        let mut found = Vec::new();
        patterns(&doc, "", &mut found);
        // Face Recognition: two bodies (create/update and the face
        // requests) and three query parameters (get, delete collection,
        // delete face). Face Search: six bodies, one path parameter and
        // four query parameters (persons: list, get, delete, delete face).
        let named = |n: &str| found.iter().filter(|(name, _)| name == n).count();
        assert_eq!(named("collectionId"), 5, "{found:?}");
        assert_eq!(named("collection_name"), 11, "{found:?}");
        assert_eq!(found.len(), 16, "{found:?}");
        for (_, pattern) in &found {
            assert_eq!(pattern, COLLECTION_ID_PATTERN);
        }
    }

    /// The pattern's class is exactly what `char::is_control` (the store's
    /// rule) refuses: C0 controls, DEL and the C1 controls.
    #[test]
    fn the_pattern_class_is_the_control_characters() {
        assert_eq!(
            COLLECTION_ID_PATTERN,
            "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"
        );
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let in_class = matches!(u32::from(c), 0x00..=0x1F | 0x7F..=0x9F);
            assert_eq!(c.is_control(), in_class, "{:#x}", u32::from(c));
        }
    }
}
