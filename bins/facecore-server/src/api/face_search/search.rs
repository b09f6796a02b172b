//! `POST /face-search` (the dominant face of an image, 1:N) and
//! `POST /multi-face-search` (every face, N:N): persons ranked by the
//! calibrated similarity of their most similar face, each with its
//! metadata and the stored thumbnail of that face.

use std::sync::Arc;
use std::time::Instant;

use facecore::collections::{Collections, OpenCollection, PersonMatch, PersonSearch};
use facecore::{Embeddings, Engine, FaceSelection, StageTimings};
use facecore_wire::parse_json;
use hyper::StatusCode;

use super::wire::{
    FaceSearchRequest, MultiFaceSearchRequest, MultiFaceSearchResponse, SearchMatch,
    collection_name, decode_image, encode_base64, false_match_rate, max_results, min_similarity,
    required, similarity_score,
};
use super::{CallRequest, errors, liveness, open, storage};
use crate::app::App;
use crate::error::ApiError;
use crate::http::admission::Timed;
use crate::http::response::{HttpResponse, json_response};

/// Most faces of one image searched by `POST /multi-face-search`.
pub const MAX_FACES: usize = 100;

/// An image's faces as the search needs them, from the inference worker.
struct Detected {
    embeddings: Embeddings,
    /// The liveness verdict, when asked for and a face was found.
    liveness: Option<Result<(), liveness::Refusal>>,
    /// A thumbnail of each face (N:N), in the order of the faces.
    thumbnails: Vec<Vec<u8>>,
}

impl Timed for Detected {
    fn timings(&self) -> StageTimings {
        self.embeddings.timings
    }
}

/// What to do with an image's faces on the inference worker.
#[derive(Clone, Copy)]
struct Detect {
    max_faces: usize,
    check_liveness: bool,
    thumbnails: bool,
}

fn detect(engine: &Engine, image: &[u8], how: Detect) -> Result<Detected, facecore::Error> {
    let mut timings = StageTimings::default();
    let t = Instant::now();
    let decoded = engine.decode(image)?;
    timings.decode = t.elapsed();
    let selection = FaceSelection {
        max_faces: how.max_faces,
        min_confidence: f32::NEG_INFINITY,
    };
    let embeddings = engine.embed_selected(&decoded, selection, &mut timings)?;
    // "If no face is found, liveness is not checked."
    let liveness = if how.check_liveness && !embeddings.faces.is_empty() {
        Some(liveness::check(engine, &decoded)?)
    } else {
        None
    };
    let mut thumbnails = Vec::new();
    if how.thumbnails {
        for found in &embeddings.faces {
            let (x, y, w, h) = found
                .face
                .bbox
                .to_pixels(embeddings.width, embeddings.height);
            thumbnails.push(facecore::image::face_thumbnail(
                &decoded,
                (x, y, w, h),
                facecore::image::THUMBNAIL_SIZE,
            )?);
        }
    }
    Ok(Detected {
        embeddings,
        liveness,
        thumbnails,
    })
}

async fn detected(
    app: &App,
    target: &OpenCollection,
    image: Vec<u8>,
    how: Detect,
    field: &str,
) -> Result<Detected, ApiError> {
    let engine = Arc::clone(target.engine());
    let found = app
        .infer_on(engine, errors::from_error, move |engine| {
            detect(engine, &image, how)
        })
        .await?;
    if found.embeddings.faces.is_empty() {
        return Err(ApiError::new(
            errors::FACE_NOT_DETECTED,
            format!("no face was found in {field}"),
        ));
    }
    Ok(found)
}

/// One match in this API's shape, with the stored thumbnail of its face.
fn render_match(
    collections: &Collections,
    engine: &Engine,
    account: &str,
    collection: &str,
    m: PersonMatch,
) -> Result<Option<SearchMatch>, facecore::Error> {
    let Some(person) = m.person else {
        return Ok(None);
    };
    let thumbnail = collections.face_thumbnail(account, collection, &m.face.face_id)?;
    Ok(Some(SearchMatch {
        face_base_64: thumbnail.map(|t| encode_base64(&t)).unwrap_or_default(),
        metadata: person.metadata,
        person_id: person.person_id,
        person_name: person.name.unwrap_or_default(),
        similarity_score: similarity_score(engine, m.face.cosine),
    }))
}

/// The calibrated score of a `min_similarity_score`. Answers clamp scores
/// below 0 to 0, so 0 lets every face through.
fn min_score(value: Option<f64>) -> Result<f32, ApiError> {
    let v = min_similarity(value)?;
    if v <= 0.0 {
        return Ok(f32::NEG_INFINITY);
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok((v * 100.0) as f32)
}

/// `POST /face-search`: the dominant face of `face_base_64` searched in the
/// collection; up to `max_results` persons at or above the threshold, best
/// first. No face is `ERR_FACE_NOT_DETECTED`; `check_liveness: true` goes
/// through [`liveness::check`] before anything is searched.
pub async fn one_face(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let body: FaceSearchRequest = parse_json(&request.body)?;
    let collection = collection_name(body.collection_name)?;
    let text = required("face_base_64", body.face_base_64)?;
    let search = PersonSearch {
        max_results: max_results(body.max_results)?,
        min_score: min_score(body.min_similarity_score)?,
        max_false_match_rate: false_match_rate(body.max_false_match_rate)?,
    };
    let how = Detect {
        max_faces: 1,
        check_liveness: body.check_liveness.unwrap_or(false),
        thumbnails: false,
    };
    let image = decode_image("face_base_64", &text)?;
    let target = open(app, request, collection.clone()).await?;
    let mut found = detected(app, &target, image, how, "face_base_64").await?;
    if let Some(Err(refusal)) = found.liveness.take() {
        let code = if refusal.unavailable {
            errors::LIVENESS_UNAVAILABLE
        } else {
            errors::LIVENESS
        };
        return Err(ApiError::new(code, refusal.detail).with_metadata("code", refusal.code));
    }
    let embedding = found.embeddings.faces.remove(0).embedding;
    let (account, engine) = (request.account.clone(), Arc::clone(target.engine()));
    let matches = storage(app, move |c| {
        let found = c.search_persons(&target, &embedding, &search)?;
        let mut out = Vec::with_capacity(found.matches.len());
        for m in found.matches {
            out.extend(render_match(c, &engine, &account, &collection, m)?);
        }
        Ok(out)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &matches))
}

/// The best person of each of `embeddings`, or `None`.
fn best_of_each(
    collections: &Collections,
    target: &OpenCollection,
    embeddings: Vec<facecore::Embedding>,
    search: PersonSearch,
) -> Result<Vec<Option<PersonMatch>>, facecore::Error> {
    embeddings
        .iter()
        .map(|e| {
            Ok(collections
                .search_persons(target, e, &search)?
                .matches
                .into_iter()
                .next())
        })
        .collect()
}

/// `POST /multi-face-search`: every face of the image (up to
/// [`MAX_FACES`], largest first) searched; the faces that match somebody
/// give `person_search_results` (best first), the others their thumbnail
/// in `unrecognized_face_thumbnails_base_64`.
pub async fn every_face(app: &App, request: &CallRequest) -> Result<HttpResponse, ApiError> {
    let body: MultiFaceSearchRequest = parse_json(&request.body)?;
    let collection = collection_name(body.collection_name)?;
    let text = required("multi_face_img_base_64", body.multi_face_img_base_64)?;
    let search = PersonSearch {
        max_results: 1,
        min_score: min_score(body.min_similarity_score)?,
        max_false_match_rate: false_match_rate(body.max_false_match_rate)?,
    };
    let how = Detect {
        max_faces: MAX_FACES,
        check_liveness: false,
        thumbnails: true,
    };
    let image = decode_image("multi_face_img_base_64", &text)?;
    let target = open(app, request, collection.clone()).await?;
    let found = detected(app, &target, image, how, "multi_face_img_base_64").await?;
    let embeddings: Vec<_> = found
        .embeddings
        .faces
        .into_iter()
        .map(|f| f.embedding)
        .collect();
    let thumbnails = found.thumbnails;
    let (account, engine) = (request.account.clone(), Arc::clone(target.engine()));
    let answer = storage(app, move |c| {
        let best = best_of_each(c, &target, embeddings, search)?;
        let mut results = Vec::new();
        let mut strangers = Vec::new();
        for (m, thumbnail) in best.into_iter().zip(thumbnails) {
            match m.map(|m| render_match(c, &engine, &account, &collection, m)) {
                Some(rendered) => match rendered? {
                    Some(r) => results.push(r),
                    None => strangers.push(encode_base64(&thumbnail)),
                },
                None => strangers.push(encode_base64(&thumbnail)),
            }
        }
        results.sort_by(|a: &SearchMatch, b| b.similarity_score.total_cmp(&a.similarity_score));
        Ok(MultiFaceSearchResponse {
            person_search_results: results,
            unrecognized_face_thumbnails_base_64: strangers,
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &answer))
}
