//! The OpenAPI paths and schemas of the CompreFace REST API, merged into
//! the server's document by [`crate::openapi`]. Every call takes a
//! service's key in `x-api-key` (the `x_api_key` scheme) and answers errors
//! as [`CompreFaceError`].

#![allow(dead_code)]

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// CompreFace's error body.
#[derive(Serialize, ToSchema)]
pub struct CompreFaceError {
    /// What went wrong.
    #[schema(example = "No face is found in the given image")]
    pub message: String,
    /// CompreFace's numeric code: 5 empty field, 10 no such service for
    /// this key, 20 no x-api-key, 21 bad file or base64, 26 invalid
    /// parameter, 28 no face, 31 several faces, 33 missing parameter, 34
    /// missing part, 36 bad subject character, 42 no such subject, 43
    /// subject exists, 44 no such image, 0 anything else.
    #[schema(example = 28)]
    pub code: u32,
}

/// A subject name.
#[derive(Serialize, ToSchema)]
pub struct SubjectBody {
    /// 1 to 50 characters, none of `;`, `/`, `\`.
    #[schema(example = "Eileen")]
    pub subject: String,
}

/// A saved example.
#[derive(Serialize, ToSchema)]
pub struct ExampleAnswer {
    /// Its id (facecore's face id).
    #[schema(example = "face_hjyi4towub6uwedx7e3y")]
    pub image_id: String,
    /// Its subject.
    pub subject: String,
}

/// A page of examples.
#[derive(Serialize, ToSchema)]
pub struct ExamplesPage {
    /// The examples.
    pub faces: Vec<ExampleAnswer>,
    /// Page number (from 0).
    pub page_number: u64,
    /// Page size asked for (at most 2000).
    pub page_size: u64,
    /// Pages.
    pub total_pages: u64,
    /// Examples in all.
    pub total_elements: u64,
}

/// An image, as base64 JSON (the other form is multipart with a `file` part).
#[derive(Serialize, ToSchema)]
pub struct FileBody {
    /// Base64 of the image (at most 5 MB decoded).
    pub file: String,
}

/// Two images, as base64 JSON.
#[derive(Serialize, ToSchema)]
pub struct TwoImagesBody {
    /// Base64 of the image with one face.
    pub source_image: String,
    /// Base64 of the image whose faces are compared with it.
    pub target_image: String,
}

/// Embeddings to recognise or verify.
#[derive(Serialize, ToSchema)]
pub struct EmbeddingsBody {
    /// Embeddings of this server's model (512 numbers each).
    pub embeddings: Vec<Vec<f64>>,
}

/// A source embedding and targets.
#[derive(Serialize, ToSchema)]
pub struct SourceTargetsBody {
    /// The source embedding.
    pub source: Vec<f64>,
    /// The embeddings compared with it.
    pub targets: Vec<Vec<f64>>,
}

/// The `age` plugin's field of a face: a range of years and the model's
/// probability mass on it (dlib's CC0 age network; overconfident, so a
/// ranking rather than a calibrated probability).
#[derive(Serialize, ToSchema)]
pub struct CompreFaceAge {
    /// The model's probability of an age in `low..=high`.
    pub probability: f64,
    /// Upper end of the range, in years.
    pub high: u32,
    /// Lower end of the range, in years.
    pub low: u32,
}

/// The `gender` plugin's field of a face.
#[derive(Serialize, ToSchema)]
pub struct CompreFaceGender {
    /// The model's probability of `value`, 0.5..1.
    pub probability: f64,
    /// `male` or `female`.
    pub value: String,
}

/// The `pose` plugin's field of a face, in degrees: yaw > 0 turned to the
/// viewer's left, pitch > 0 looking up, roll > 0 tilted clockwise.
#[derive(Serialize, ToSchema)]
pub struct CompreFacePose {
    /// Rotation about the horizontal axis.
    pub pitch: f64,
    /// Rotation in the image plane.
    pub roll: f64,
    /// Rotation about the vertical axis.
    pub yaw: f64,
}

/// Face results: `{"result": [...]}` with, per face, `box` (`probability`,
/// `x_min`, `y_min`, `x_max`, `y_max`), `landmarks`, `embedding`, `age`
/// ([`CompreFaceAge`]), `gender` ([`CompreFaceGender`]) and `pose`
/// ([`CompreFacePose`]) when those plugins are asked for, `execution_time`
/// (milliseconds per plugin) with `status=true`, and
/// per call `subjects` (recognize), `subject` + `similarity` (verify
/// against an example), or `source_image_face` + `face_matches`
/// (verification service); `plugins_versions` with `status=true`.
#[derive(Serialize, ToSchema)]
pub struct FaceResults {
    /// One entry per face (or per embedding).
    pub result: Vec<serde_json::Value>,
}

macro_rules! image_call {
    ($fn:ident, $path:literal, $tag:literal, $summary:literal $(, $extra:tt)*) => {
        #[doc = $summary]
        #[utoipa::path(post, path = $path, tag = $tag,
            params(
                ("limit" = Option<u64>, Query, description = "Faces to process, largest first; 0 = all"),
                ("det_prob_threshold" = Option<f64>, Query, description = "Lowest detection confidence, 0..1"),
                ("face_plugins" = Option<String>, Query, description = "Comma-separated: landmarks, calculator, age, gender, pose (another slug is 400, code 26)"),
                ("status" = Option<bool>, Query, description = "Add execution_time and plugins_versions"),
                $($extra,)*
            ),
            request_body(content = FileBody, description = "multipart/form-data with a `file` part, or this JSON"),
            responses(
                (status = 200, description = "The faces", body = FaceResults),
                (status = 400, description = "No face (28), bad file (21), invalid parameter (26)", body = CompreFaceError),
                (status = 404, description = "Not a key of this service type (10)", body = CompreFaceError),
            ),
            security(("x_api_key" = [])))]
        fn $fn() {}
    };
}

image_call!(
    recognize,
    "/api/v1/recognition/recognize",
    "CompreFace Recognition",
    "Recognize the faces of an image (`prediction_count` examples each).",
    ("prediction_count" = Option<u64>, Query, description = "Most similar examples per face (default 1)"),
    ("detect_faces" = Option<bool>, Query, description = "false: the image is a cropped face (no detector; its box is the whole image)")
);
image_call!(
    detect,
    "/api/v1/detection/detect",
    "CompreFace Detection",
    "Detect the faces of an image."
);

/// Compare the faces of an image with a stored example.
#[utoipa::path(post, path = "/api/v1/recognition/faces/{image_id}/verify", tag = "CompreFace Recognition",
    params(
        ("image_id" = String, Path, description = "The example"),
        ("limit" = Option<u64>, Query, description = "Faces to process, largest first; 0 = all"),
        ("det_prob_threshold" = Option<f64>, Query, description = "Lowest detection confidence, 0..1"),
        ("face_plugins" = Option<String>, Query, description = "Comma-separated: landmarks, calculator, age, gender, pose (another slug is 400, code 26)"),
        ("status" = Option<bool>, Query, description = "Add execution_time and plugins_versions"),
    ),
    request_body(content = FileBody, description = "multipart/form-data with a `file` part, or this JSON"),
    responses(
        (status = 200, description = "Each face with the example's subject and similarity", body = FaceResults),
        (status = 400, description = "No face (28), bad file (21), invalid parameter (26)", body = CompreFaceError),
        (status = 404, description = "No such example (44) or not a recognition key (10)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn verify_with_example() {}

/// Compare the face of `source_image` with each face of `target_image`.
#[utoipa::path(post, path = "/api/v1/verification/verify", tag = "CompreFace Verification",
    params(
        ("face_plugins" = Option<String>, Query, description = "Comma-separated: landmarks, calculator, age, gender, pose (another slug is 400, code 26)"),
        ("status" = Option<bool>, Query, description = "Add execution_time and plugins_versions"),
    ),
    request_body(content = TwoImagesBody, description = "multipart/form-data with `source_image` and `target_image` parts, or this JSON"),
    responses(
        (status = 200, description = "The matches", body = FaceResults),
        (status = 400, description = "No face (28), several source faces (31), bad file (21)", body = CompreFaceError),
        (status = 404, description = "Not a verification key (10)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn verify() {}

/// Add a subject.
#[utoipa::path(post, path = "/api/v1/recognition/subjects", tag = "CompreFace Recognition",
    request_body = SubjectBody,
    responses(
        (status = 201, description = "Created", body = SubjectBody),
        (status = 400, description = "Exists (43), invalid name (26, 36)", body = CompreFaceError),
        (status = 404, description = "Not a recognition key (10)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn add_subject() {}

/// List the subjects (by name).
#[utoipa::path(get, path = "/api/v1/recognition/subjects", tag = "CompreFace Recognition",
    responses(
        (status = 200, description = "`{\"subjects\": [...]}`", body = serde_json::Value),
        (status = 400, description = "No x-api-key (20)", body = CompreFaceError),
        (status = 404, description = "Not a recognition key (10)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn list_subjects() {}

/// Delete every subject and example.
#[utoipa::path(delete, path = "/api/v1/recognition/subjects", tag = "CompreFace Recognition",
    responses(
        (status = 200, description = "`{\"deleted\": <subjects>}`", body = serde_json::Value),
        (status = 400, description = "No x-api-key (20)", body = CompreFaceError),
        (status = 404, description = "Not a recognition key (10)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn delete_subjects() {}

/// Rename a subject; onto an existing one, merge into it.
#[utoipa::path(put, path = "/api/v1/recognition/subjects/{subject}", tag = "CompreFace Recognition",
    params(("subject" = String, Path, description = "The subject (any case)")),
    request_body = SubjectBody,
    responses(
        (status = 200, description = "`{\"updated\": true|false}`", body = serde_json::Value),
        (status = 400, description = "Invalid name (26, 36)", body = CompreFaceError),
        (status = 404, description = "No such subject (42)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn rename_subject() {}

/// Delete a subject and its examples.
#[utoipa::path(delete, path = "/api/v1/recognition/subjects/{subject}", tag = "CompreFace Recognition",
    params(("subject" = String, Path, description = "The subject (any case)")),
    responses(
        (status = 200, description = "The subject as stored", body = SubjectBody),
        (status = 400, description = "No x-api-key (20)", body = CompreFaceError),
        (status = 404, description = "No such subject (42)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn delete_subject() {}

/// Add an example of a subject (created when new): exactly one face.
#[utoipa::path(post, path = "/api/v1/recognition/faces", tag = "CompreFace Recognition",
    params(
        ("subject" = String, Query, description = "The subject"),
        ("det_prob_threshold" = Option<f64>, Query, description = "Lowest detection confidence, 0..1"),
    ),
    request_body(content = FileBody, description = "multipart/form-data with a `file` part, or this JSON"),
    responses(
        (status = 201, description = "Saved", body = ExampleAnswer),
        (status = 400, description = "No face (28), several (31), bad file (21), over 5 MB (0)", body = CompreFaceError),
        (status = 404, description = "Not a recognition key (10)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn add_example() {}

/// List examples, paged.
#[utoipa::path(get, path = "/api/v1/recognition/faces", tag = "CompreFace Recognition",
    params(
        ("page" = Option<u64>, Query, description = "Page, from 0"),
        ("size" = Option<u64>, Query, description = "Page size, default 20, at most 2000"),
        ("subject" = Option<String>, Query, description = "Only this subject's"),
    ),
    responses(
        (status = 200, description = "A page", body = ExamplesPage),
        (status = 400, description = "Invalid paging (26)", body = CompreFaceError),
        (status = 404, description = "Not a recognition key (10)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn list_examples() {}

/// Delete every example of a subject, and the subject.
#[utoipa::path(delete, path = "/api/v1/recognition/faces", tag = "CompreFace Recognition",
    params(("subject" = String, Query, description = "The subject")),
    responses(
        (status = 200, description = "`{\"deleted\": <examples>}`", body = serde_json::Value),
        (status = 400, description = "No subject (26)", body = CompreFaceError),
        (status = 404, description = "Not a recognition key (10)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn delete_subject_examples() {}

/// Delete one example.
#[utoipa::path(delete, path = "/api/v1/recognition/faces/{image_id}", tag = "CompreFace Recognition",
    params(("image_id" = String, Path, description = "The example")),
    responses(
        (status = 200, description = "Deleted", body = ExampleAnswer),
        (status = 400, description = "No x-api-key (20)", body = CompreFaceError),
        (status = 404, description = "No such example (44)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn delete_example() {}

/// Delete several examples; unknown ids are skipped.
#[utoipa::path(post, path = "/api/v1/recognition/faces/delete", tag = "CompreFace Recognition",
    request_body(content = Vec<String>, description = "Image ids"),
    responses(
        (status = 200, description = "The deleted examples", body = Vec<ExampleAnswer>),
        (status = 400, description = "Not a JSON array of ids (0)", body = CompreFaceError),
        (status = 404, description = "Not a recognition key (10)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn delete_examples() {}

/// Download an example's original image (empty when there is none).
#[utoipa::path(get, path = "/api/v1/recognition/faces/{image_id}/img", tag = "CompreFace Recognition",
    params(("image_id" = String, Path, description = "The example")),
    responses(
        (status = 200, description = "The image bytes (empty if none)", content_type = "application/octet-stream"),
        (status = 400, description = "No x-api-key (20)", body = CompreFaceError),
        (status = 404, description = "Not a recognition key (10)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn download_example() {}

/// Download an example's image by a link that carries the key (for `<img>`).
#[utoipa::path(get, path = "/api/v1/static/{api_key}/images/{image_id}", tag = "CompreFace Recognition",
    params(
        ("api_key" = String, Path, description = "The recognition service's key"),
        ("image_id" = String, Path, description = "The example"),
    ),
    responses(
        (status = 200, description = "The image bytes (empty for an unknown key or image)", content_type = "application/octet-stream"),
    ))]
fn static_image() {}

/// Recognize embeddings.
#[utoipa::path(post, path = "/api/v1/recognition/embeddings/recognize", tag = "CompreFace Recognition",
    params(("prediction_count" = Option<u64>, Query, description = "Examples per embedding, at least 1")),
    request_body = EmbeddingsBody,
    responses(
        (status = 200, description = "Per embedding: `embedding`, `similarities`", body = FaceResults),
        (status = 400, description = "Missing (5) or invalid (0) embeddings", body = CompreFaceError),
        (status = 404, description = "Not a recognition key (10)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn recognize_embeddings() {}

/// Compare embeddings with a stored example (best first).
#[utoipa::path(post, path = "/api/v1/recognition/embeddings/faces/{image_id}/verify", tag = "CompreFace Recognition",
    params(("image_id" = String, Path, description = "The example")),
    request_body = EmbeddingsBody,
    responses(
        (status = 200, description = "Per embedding: `embedding`, `similarity`", body = FaceResults),
        (status = 400, description = "Missing (5) or invalid (0) embeddings", body = CompreFaceError),
        (status = 404, description = "No such example (44) or not a recognition key (10)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn verify_embeddings_with_example() {}

/// Compare target embeddings with a source embedding (best first).
#[utoipa::path(post, path = "/api/v1/verification/embeddings/verify", tag = "CompreFace Verification",
    request_body = SourceTargetsBody,
    responses(
        (status = 200, description = "Per target: `embedding`, `similarity`", body = FaceResults),
        (status = 400, description = "Missing (5) or invalid (0) embeddings", body = CompreFaceError),
        (status = 404, description = "Not a verification key (10)", body = CompreFaceError),
    ),
    security(("x_api_key" = [])))]
fn verify_embeddings() {}

/// This dialect's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        add_subject, list_subjects, delete_subjects, rename_subject, delete_subject,
        add_example, list_examples, delete_subject_examples, delete_example, delete_examples,
        download_example, static_image, recognize, verify_with_example, recognize_embeddings,
        verify_embeddings_with_example, detect, verify, verify_embeddings
    ),
    components(schemas(
        CompreFaceError, SubjectBody, ExampleAnswer, ExamplesPage, FileBody, TwoImagesBody,
        EmbeddingsBody, SourceTargetsBody, FaceResults, CompreFaceAge, CompreFaceGender,
        CompreFacePose
    )),
    tags(
        (name = "CompreFace Recognition", description = "CompreFace's recognition service: subjects, examples, recognize, verify (x-api-key of a recognition service)"),
        (name = "CompreFace Detection", description = "CompreFace's detection service (x-api-key of a detection service)"),
        (name = "CompreFace Verification", description = "CompreFace's verification service (x-api-key of a verification service)"),
    )
)]
pub struct Doc;
