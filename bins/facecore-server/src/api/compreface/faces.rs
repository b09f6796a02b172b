//! Recognition, detection and verification on images and embeddings:
//! CompreFace's face objects (`box`, `landmarks`, `embedding`,
//! `execution_time`), its `subjects` and `similarity`, and the face plugins
//! we serve.
//!
//! `similarity` is facecore's calibrated score divided by 100 (before the
//! integer rounding of the other APIs), clamped to 0..1 and rounded to 5
//! decimals as CompreFace rounds: 0.8 is a false-match rate of 1e-4 per
//! comparison, 0.9 of 1e-5; identical images give 1.0; it rises with the
//! cosine.

use std::sync::Arc;
use std::time::Instant;

use facecore::collections::PersonMatch;
use facecore::{
    Attribute, AttributeSet, Embedding, Engine, Face, FaceAttributes, FaceSelection, StageTimings,
};
use hyper::StatusCode;
use serde_json::{Map, Value, json};

use super::{CallRequest, errors, input};
use crate::app::App;
use crate::error::ApiError;
use crate::http::response::{HttpResponse, json_response};

/// The plugins this server has, by slug (`age`, `gender` and `pose` when
/// their model files are in the models directory).
pub const PLUGINS: &[&str] = &["landmarks", "calculator", "age", "gender", "pose"];

/// The attribute plugin of a slug.
fn attribute_of(slug: &str) -> Option<Attribute> {
    match slug {
        "age" => Some(Attribute::Age),
        "gender" => Some(Attribute::Gender),
        "pose" => Some(Attribute::Pose),
        _ => None,
    }
}

/// The plugins this server can serve now.
fn available(app: &App) -> Vec<&'static str> {
    let attributes = app.engine.available_attributes();
    PLUGINS
        .iter()
        .copied()
        .filter(|s| attribute_of(s).is_none_or(|a| attributes.contains(a)))
        .collect()
}

/// What a request asks for of each face.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    limit: usize,
    min_confidence: f32,
    landmarks: bool,
    calculator: bool,
    attributes: AttributeSet,
    status: bool,
}

impl Options {
    /// `limit`, `det_prob_threshold`, `face_plugins` and `status`. A plugin
    /// slug we do not serve (or whose model files are missing) is 400/26
    /// naming the ones we do (CompreFace ignores it; a caller asking for
    /// `mask` should learn it gets none).
    pub fn parse(app: &App, request: &CallRequest) -> Result<Self, ApiError> {
        let limit = input::integer(request, "limit", 0, 0)?;
        let mut options = Self {
            limit: match usize::try_from(limit).unwrap_or(usize::MAX) {
                0 => usize::MAX,
                n => n,
            },
            min_confidence: input::det_prob_threshold(request)?,
            landmarks: false,
            calculator: false,
            attributes: AttributeSet::default(),
            status: input::boolean(request, "status", false)?,
        };
        let served = app.engine.available_attributes();
        let plugins = input::param(request, "face_plugins").unwrap_or_default();
        for slug in plugins
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            match slug {
                "landmarks" => options.landmarks = true,
                "calculator" => options.calculator = true,
                other => match attribute_of(other) {
                    Some(a) if served.contains(a) => {
                        options.attributes = options.attributes.with(a)
                    }
                    _ => {
                        return Err(ApiError::new(
                            errors::INVALID,
                            format!(
                                "face plugin '{other}' is not available on this server; available: {}",
                                available(app).join(", ")
                            ),
                        ));
                    }
                },
            }
        }
        Ok(options)
    }

    fn selection(&self) -> FaceSelection {
        FaceSelection {
            max_faces: self.limit,
            min_confidence: self.min_confidence,
        }
    }
}

/// A cosine as CompreFace's `similarity`.
pub fn similarity(engine: &Engine, cosine: f32) -> f64 {
    let score = f64::from(engine.score_map().score_f(cosine)) / 100.0;
    (score.clamp(0.0, 1.0) * 1e5).round() / 1e5
}

fn round5(v: f32) -> f64 {
    (f64::from(v) * 1e5).round() / 1e5
}

fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e3).round()
}

/// The image a face was found in: its size and the time spent on it.
#[derive(Clone, Copy)]
struct Frame<'a> {
    width: u32,
    height: u32,
    timings: &'a StageTimings,
}

impl<'a> From<&'a facecore::Embeddings> for Frame<'a> {
    fn from(e: &'a facecore::Embeddings) -> Self {
        Self {
            width: e.width,
            height: e.height,
            timings: &e.timings,
        }
    }
}

impl<'a> From<&'a facecore::Detection> for Frame<'a> {
    fn from(d: &'a facecore::Detection) -> Self {
        Self {
            width: d.width,
            height: d.height,
            timings: &d.timings,
        }
    }
}

/// One face as CompreFace writes it.
fn face_object(
    face: &Face,
    embedding: Option<&Embedding>,
    attributes: Option<&FaceAttributes>,
    options: &Options,
    image: Frame<'_>,
) -> Map<String, Value> {
    let timings = image.timings;
    let (x, y, w, h) = face.bbox.to_pixels(image.width, image.height);
    let mut out = Map::new();
    out.insert(
        "box".into(),
        json!({
            "probability": round5(face.confidence.clamp(0.0, 1.0)),
            "x_max": x + w,
            "y_max": y + h,
            "x_min": x,
            "y_min": y,
        }),
    );
    if options.landmarks {
        let points: Vec<[i64; 2]> = face
            .landmarks
            .iter()
            .map(|[px, py]| [px.round() as i64, py.round() as i64])
            .collect();
        out.insert("landmarks".into(), json!(points));
    }
    if options.calculator
        && let Some(e) = embedding
    {
        out.insert("embedding".into(), json!(e.vector));
    }
    if let Some(a) = attributes {
        attribute_fields(&mut out, a);
    }
    if options.status {
        let mut time = json!({
            "detector": millis(timings.decode + timings.detect + timings.landmarks),
            "calculator": millis(timings.align + timings.embed),
        });
        if let (Some(a), Some(time)) = (attributes, time.as_object_mut()) {
            let t = &a.timings;
            for (slug, on, d) in [
                ("age", a.age.is_some(), t.age),
                ("gender", a.gender.is_some(), t.gender),
                ("pose", a.pose.is_some(), t.pose),
            ] {
                if on {
                    time.insert(slug.into(), json!(millis(d)));
                }
            }
        }
        out.insert("execution_time".into(), time);
    }
    out
}

/// CompreFace's `age`, `gender` and `pose` objects.
fn attribute_fields(out: &mut Map<String, Value>, a: &FaceAttributes) {
    if let Some(age) = &a.age {
        out.insert(
            "age".into(),
            json!({"probability": round5(age.probability), "high": age.high, "low": age.low}),
        );
    }
    if let Some(g) = &a.gender {
        out.insert(
            "gender".into(),
            json!({"probability": round5(g.probability), "value": g.value.as_str()}),
        );
    }
    if let Some(p) = &a.pose {
        let deg = |v: f32| (f64::from(v) * 1e2).round() / 1e2;
        out.insert(
            "pose".into(),
            json!({"pitch": deg(p.pitch), "roll": deg(p.roll), "yaw": deg(p.yaw)}),
        );
    }
}

fn plugins_versions(app: &App, options: &Options) -> Value {
    let mut versions = json!({
        "detector": "facecore.UltraLightDetector",
        "calculator": format!("facecore.Calculator@{}", app.engine.model_id()),
    });
    if let Some(map) = versions.as_object_mut() {
        for (attribute, slug, name) in [
            (Attribute::Age, "age", "AgeEstimator"),
            (Attribute::Gender, "gender", "GenderClassifier"),
            (Attribute::Pose, "pose", "PoseEstimator"),
        ] {
            if options.attributes.contains(attribute) {
                let model = app.engine.attribute_model(attribute).unwrap_or_default();
                map.insert(slug.into(), json!(format!("facecore.{name}@{model}")));
            }
        }
    }
    versions
}

/// The faces of one image with the attributes the request asks for, face
/// by face.
struct Analysed<T> {
    found: T,
    attributes: Vec<FaceAttributes>,
}

impl<T> std::ops::Deref for Analysed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.found
    }
}

impl<T> Analysed<T> {
    fn of(&self, index: usize) -> Option<&FaceAttributes> {
        self.attributes.get(index)
    }
}

impl<T: crate::http::admission::Timed> crate::http::admission::Timed for Analysed<T> {
    fn timings(&self) -> StageTimings {
        self.found.timings()
    }
}

/// The attributes of each face (none asked for: an empty list).
fn attributes_of<'f>(
    engine: &facecore::Engine,
    image: &facecore::RgbImage,
    faces: impl Iterator<Item = &'f Face>,
    set: AttributeSet,
) -> Result<Vec<FaceAttributes>, facecore::Error> {
    if set.is_empty() {
        return Ok(Vec::new());
    }
    faces.map(|f| engine.attributes(image, f, set)).collect()
}

/// The decoded image, with the time decoding took.
fn decode_timed(
    engine: &facecore::Engine,
    image: &[u8],
) -> Result<(facecore::RgbImage, StageTimings), facecore::Error> {
    let t = Instant::now();
    let decoded = engine.decode(image)?;
    let timings = StageTimings {
        decode: t.elapsed(),
        ..StageTimings::default()
    };
    Ok((decoded, timings))
}

/// The faces of an image with their embeddings; no face is 400/28.
async fn embed(
    app: &App,
    engine: &Arc<Engine>,
    image: Vec<u8>,
    options: Options,
) -> Result<Analysed<facecore::Embeddings>, ApiError> {
    let embeddings = app
        .infer_on(Arc::clone(engine), errors::from_error, move |engine| {
            let (decoded, mut timings) = decode_timed(engine, &image)?;
            let found = engine.embed_selected(&decoded, options.selection(), &mut timings)?;
            let faces = found.faces.iter().map(|f| &f.face);
            let attributes = attributes_of(engine, &decoded, faces, options.attributes)?;
            Ok(Analysed { found, attributes })
        })
        .await?;
    if embeddings.faces.is_empty() {
        return Err(ApiError::new(
            errors::NO_FACE,
            "No face is found in the given image",
        ));
    }
    Ok(embeddings)
}

/// `detect_faces=false`: the whole image is the face (its box is the image,
/// probability 1; `det_prob_threshold` and `limit` do not apply).
async fn embed_as_face(
    app: &App,
    engine: &Arc<Engine>,
    image: Vec<u8>,
    options: Options,
) -> Result<Analysed<facecore::Embeddings>, ApiError> {
    app.infer_on(Arc::clone(engine), errors::from_error, move |engine| {
        let (decoded, mut timings) = decode_timed(engine, &image)?;
        let found = engine.embed_as_face(&decoded, &mut timings)?;
        let faces = found.faces.iter().map(|f| &f.face);
        let attributes = attributes_of(engine, &decoded, faces, options.attributes)?;
        Ok(Analysed { found, attributes })
    })
    .await
}

fn subjects(engine: &Engine, matches: Vec<PersonMatch>) -> Vec<Value> {
    matches
        .into_iter()
        // Faces without a subject (stored through another API in a shared
        // collection) are not subjects.
        .filter_map(|m| {
            let name = m.person?.name?;
            Some(json!({"subject": name, "similarity": similarity(engine, m.face.cosine)}))
        })
        .collect()
}

/// `POST /api/v1/recognition/recognize`: each face (largest first, up to
/// `limit`) with the `prediction_count` most similar stored examples.
pub async fn recognize(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let options = Options::parse(app, request)?;
    let k = usize::try_from(input::integer(request, "prediction_count", 1, 1)?)
        .unwrap_or(usize::MAX)
        .min(10_000);
    let detect_faces = input::boolean(request, "detect_faces", true)?;
    let image = input::images(request, &["file"])?.remove(0);
    let target = super::open(app, request, collection).await?;
    let engine = Arc::clone(target.engine());
    let embeddings = if detect_faces {
        embed(app, &engine, image, options).await?
    } else {
        embed_as_face(app, &engine, image, options).await?
    };
    let collections = Arc::clone(&app.collections);
    let faces = embeddings.faces.clone();
    let matched = app
        .storage_mapped(errors::from_error, move || {
            faces
                .into_iter()
                .map(|f| {
                    let found = collections.search_top(&target, &f.embedding, k, None)?;
                    Ok((f, found))
                })
                .collect::<Result<Vec<_>, facecore::Error>>()
        })
        .await?;
    let result: Vec<Value> = matched
        .into_iter()
        .enumerate()
        .map(|(i, (f, found))| {
            let mut face = face_object(
                &f.face,
                Some(&f.embedding),
                embeddings.of(i),
                &options,
                Frame::from(&*embeddings),
            );
            face.insert("subjects".into(), Value::Array(subjects(&engine, found)));
            Value::Object(face)
        })
        .collect();
    Ok(answer(app, result, &options))
}

fn answer(app: &App, result: Vec<Value>, options: &Options) -> HttpResponse {
    let mut body = Map::new();
    body.insert("result".into(), Value::Array(result));
    if options.status {
        body.insert("plugins_versions".into(), plugins_versions(app, options));
    }
    json_response(StatusCode::OK, &Value::Object(body))
}

/// `POST /api/v1/detection/detect`.
pub async fn detect(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let options = Options::parse(app, request)?;
    let image = input::images(request, &["file"])?.remove(0);
    if options.calculator {
        let embeddings = embed(app, &app.engine, image, options).await?;
        let result = embeddings
            .faces
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Value::Object(face_object(
                    &f.face,
                    Some(&f.embedding),
                    embeddings.of(i),
                    &options,
                    Frame::from(&*embeddings),
                ))
            })
            .collect();
        return Ok(answer(app, result, &options));
    }
    // Without the calculator no face is embedded (but low-confidence
    // detections are still verified by their embedding's norm).
    let detection = app
        .infer_mapped(errors::from_error, move |engine| {
            let (decoded, mut timings) = decode_timed(engine, &image)?;
            let (faces, unprocessed) =
                engine.detect_selected(&decoded, options.selection(), &mut timings)?;
            let attributes = attributes_of(engine, &decoded, faces.iter(), options.attributes)?;
            let found = facecore::Detection {
                width: decoded.width(),
                height: decoded.height(),
                faces,
                unprocessed,
                timings,
            };
            Ok(Analysed { found, attributes })
        })
        .await?;
    if detection.faces.is_empty() {
        return Err(ApiError::new(
            errors::NO_FACE,
            "No face is found in the given image",
        ));
    }
    let result = detection
        .faces
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let frame = Frame::from(&*detection);
            Value::Object(face_object(f, None, detection.of(i), &options, frame))
        })
        .collect();
    Ok(answer(app, result, &options))
}

/// `POST /api/v1/verification/verify`: the one face of `source_image`
/// against each face of `target_image`.
pub async fn verify(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let options = Options::parse(app, request)?;
    let mut images = input::images(request, &["source_image", "target_image"])?;
    let target_image = images.pop().unwrap_or_default();
    let source_image = images.pop().unwrap_or_default();
    let source = embed(app, &app.engine, source_image, options).await?;
    if source.faces.len() + source.unprocessed > 1 && options.limit != 1 {
        return Err(ApiError::new(
            errors::TOO_MANY_FACES,
            "More than one face in the source image",
        ));
    }
    let target = embed(app, &app.engine, target_image, options).await?;
    let reference = &source.faces[0];
    let matches = compared(&app.engine, &reference.embedding, &target, &options)?
        .into_iter()
        .map(Value::Object)
        .collect();
    let mut item = Map::new();
    item.insert(
        "source_image_face".into(),
        Value::Object(face_object(
            &reference.face,
            Some(&reference.embedding),
            source.of(0),
            &options,
            Frame::from(&*source),
        )),
    );
    item.insert("face_matches".into(), Value::Array(matches));
    if options.status {
        item.insert("plugins_versions".into(), plugins_versions(app, &options));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "result": [Value::Object(item)] }),
    ))
}

/// `POST /api/v1/recognition/faces/{image_id}/verify`: each face of the
/// image against the stored example, with the example's subject.
pub async fn verify_with_example(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let options = Options::parse(app, request)?;
    let id = request.params.first().cloned().unwrap_or_default();
    let image = input::images(request, &["file"])?.remove(0);
    let target = super::open(app, request, collection.clone()).await?;
    let engine = Arc::clone(target.engine());
    let embeddings = embed(app, &engine, image, options).await?;
    let (account, collections) = (request.account.clone(), Arc::clone(&app.collections));
    let (stored, subject) = app
        .storage_mapped(errors::from_error, move || {
            let stored = collections.stored_face(&account, &collection, &id)?;
            let subject = match &stored.person_id {
                Some(p) => collections.person(&account, &collection, p)?.name,
                None => None,
            };
            Ok((stored, subject.unwrap_or_default()))
        })
        .await
        .map_err(incorrect_image_id)?;
    let reference = engine
        .embedding_from_vector(stored.embedding)
        .map_err(|e| errors::from_error(&e))?;
    let result = compared(&engine, &reference, &embeddings, &options)?
        .into_iter()
        .map(|mut face| {
            face.insert("subject".into(), json!(subject));
            Value::Object(face)
        })
        .collect();
    Ok(answer(app, result, &options))
}

fn incorrect_image_id(e: ApiError) -> ApiError {
    if e.code == errors::IMAGE_NOT_FOUND {
        ApiError::new(errors::IMAGE_NOT_FOUND, "Image Id is incorrect")
    } else {
        e
    }
}

/// The cosine of two embeddings of `engine`'s model.
fn cosine(engine: &Engine, a: &Embedding, b: &Embedding) -> Result<f32, ApiError> {
    Ok(engine
        .compare(a, b)
        .map_err(|e| errors::from_error(&e))?
        .cosine)
}

/// Each face of `image` as a face object with its `similarity` to
/// `reference`, in detection order (as CompreFace's matches are).
fn compared(
    engine: &Engine,
    reference: &Embedding,
    image: &Analysed<facecore::Embeddings>,
    options: &Options,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    image
        .faces
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let frame = Frame::from(&**image);
            let mut face = face_object(&f.face, Some(&f.embedding), image.of(i), options, frame);
            face.insert(
                "similarity".into(),
                json!(similarity(engine, cosine(engine, reference, &f.embedding)?)),
            );
            Ok(face)
        })
        .collect()
}

/// The embeddings of a JSON field: arrays of numbers of this model's
/// length, finite, not all zero; missing or empty is 400/5.
fn vectors(
    engine: &Engine,
    value: Option<&Value>,
    field: &str,
) -> Result<Vec<Embedding>, ApiError> {
    let empty = || {
        ApiError::new(
            errors::EMPTY_FIELD,
            format!("Field {field} cannot be empty"),
        )
    };
    let list = value
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(empty)?;
    if list.len() > 1000 {
        return Err(ApiError::new(
            errors::INVALID,
            format!(
                "{field}: at most 1000 embeddings per call, got {}",
                list.len()
            ),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| vector(engine, Some(v), &format!("{field}[{i}]")))
        .collect()
}

fn vector(engine: &Engine, value: Option<&Value>, field: &str) -> Result<Embedding, ApiError> {
    let numbers: Option<Vec<f64>> = value
        .and_then(Value::as_array)
        .map(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
        .unwrap_or(None);
    let numbers = numbers.ok_or_else(|| {
        ApiError::new(
            errors::EMPTY_FIELD,
            format!("Field {field} cannot be empty (an array of numbers)"),
        )
    })?;
    let vector = facecore_wire::embedding(field, Some(&numbers), engine.embedding_dim())
        .map_err(|e| ApiError::new(errors::UNDEFINED, e.to_string()))?;
    engine
        .embedding_from_vector(vector)
        .map_err(|e| ApiError::new(errors::UNDEFINED, e.to_string()))
}

fn body_json(request: &CallRequest) -> Result<Value, ApiError> {
    serde_json::from_slice(&request.body)
        .map_err(|e| ApiError::new(errors::UNDEFINED, format!("the body is not JSON: {e}")))
}

/// `POST /api/v1/recognition/embeddings/recognize`.
pub async fn recognize_embeddings(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let k = usize::try_from(input::integer(request, "prediction_count", 1, 1)?)
        .unwrap_or(usize::MAX)
        .min(10_000);
    let body = body_json(request)?;
    let target = super::open(app, request, collection).await?;
    let engine = Arc::clone(target.engine());
    let queries = vectors(&engine, body.get("embeddings"), "embeddings")?;
    let collections = Arc::clone(&app.collections);
    let found = app
        .storage_mapped(errors::from_error, move || {
            queries
                .into_iter()
                .map(|q| Ok((collections.search_top(&target, &q, k, None)?, q)))
                .collect::<Result<Vec<_>, facecore::Error>>()
        })
        .await?;
    let result: Vec<Value> = found
        .into_iter()
        .map(|(matches, q)| json!({"embedding": q.vector, "similarities": subjects(&engine, matches)}))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "result": result })))
}

/// Each embedding's similarity with `reference`, best first.
fn ranked(
    engine: &Engine,
    reference: &Embedding,
    others: Vec<Embedding>,
) -> Result<Vec<Value>, ApiError> {
    let mut scored = Vec::with_capacity(others.len());
    for other in others {
        scored.push((cosine(engine, reference, &other)?, other));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(scored
        .into_iter()
        .map(|(cosine, e)| json!({"embedding": e.vector, "similarity": similarity(engine, cosine)}))
        .collect())
}

/// `POST /api/v1/recognition/embeddings/faces/{image_id}/verify`.
pub async fn verify_embeddings_with_example(
    app: &App,
    request: &CallRequest,
    collection: String,
) -> Result<HttpResponse, ApiError> {
    let id = request.params.first().cloned().unwrap_or_default();
    let body = body_json(request)?;
    let target = super::open(app, request, collection.clone()).await?;
    let engine = Arc::clone(target.engine());
    let queries = vectors(&engine, body.get("embeddings"), "embeddings")?;
    let (account, collections) = (request.account.clone(), Arc::clone(&app.collections));
    let stored = app
        .storage_mapped(errors::from_error, move || {
            collections.stored_face(&account, &collection, &id)
        })
        .await
        .map_err(incorrect_image_id)?;
    let reference = engine
        .embedding_from_vector(stored.embedding)
        .map_err(|e| errors::from_error(&e))?;
    let result = ranked(&engine, &reference, queries)?;
    Ok(json_response(StatusCode::OK, &json!({ "result": result })))
}

/// `POST /api/v1/verification/embeddings/verify`.
pub async fn verify_embeddings(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let body = body_json(request)?;
    if body
        .get("source")
        .is_none_or(|s| s.as_array().is_none_or(Vec::is_empty))
    {
        return Err(ApiError::new(
            errors::EMPTY_FIELD,
            "Field source cannot be empty",
        ));
    }
    let source = vector(&app.engine, body.get("source"), "source")?;
    let targets = vectors(&app.engine, body.get("targets"), "targets")?;
    let result = ranked(&app.engine, &source, targets)?;
    Ok(json_response(StatusCode::OK, &json!({ "result": result })))
}
