//! The face pipeline: decode → detect → landmarks → align → embed, and
//! comparison, behind one [`Engine`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::{
    Comparison, Detection, Embedding, Embeddings, EngineConfig, Error, Face, FaceEmbedding,
    ImageLimits, Manifest, QualityConfig, RgbImage, StageTimings, default_models_dir,
};

/// A face that passed verification, with its embedding when one was made
/// (to verify it, or because the request asks for embeddings).
type VerifiedFace = (Face, Option<Embedding>);

/// Thread time one face's work spent in landmarks, alignment and embedding.
type FaceTimes = [Duration; 3];

/// Which of an image's detected faces a call processes: the
/// `max_faces` most dominant of those whose detection confidence is above
/// `min_confidence`. A `min_confidence` can only raise the detector's own
/// threshold (faces below it were never reported), never lower it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceSelection {
    /// Most faces to return.
    pub max_faces: usize,
    /// Faces whose confidence is at or below this are left out as if not
    /// detected (a strict `>`, as CompreFace's `det_prob_threshold`).
    pub min_confidence: f32,
}

impl FaceSelection {
    /// The `max_faces` most dominant faces, at the detector's threshold.
    pub fn first(max_faces: usize) -> Self {
        Self {
            max_faces,
            min_confidence: f32::NEG_INFINITY,
        }
    }
}

/// The face pipeline, built once and shared: decode → detect → landmarks →
/// align → embed, and comparison. `Send + Sync`.
pub struct Engine {
    detector: facecore_detect::Detector,
    embedder: facecore_embed::Embedder,
    /// The liveness check, when its model files are present.
    liveness: Option<facecore_liveness::LivenessChecker>,
    limits: ImageLimits,
    quality: QualityConfig,
    /// The norm gate in force: the configured one, else the embedder's
    /// measured one, else 0 (no verification).
    min_embedding_norm: f32,
    score_map: facecore_score::ScoreMap,
    calibrated: bool,
    pool: rayon::ThreadPool,
    manifest: Manifest,
    /// The model set loaded.
    set: crate::manifest::ModelSet,
    models_dir: PathBuf,
    /// The age, gender and pose models, loaded on first use.
    attributes: crate::attributes::AttributeModels,
    /// Which faces the per-face models ran on, for the tests that check no
    /// face is landmarked or embedded twice in one request.
    #[cfg(test)]
    runs: RunLog,
}

/// Test-only record of the per-face work of the engine: the boxes that were
/// landmarked and aligned (as the bits of `x, y, width, height`), and how
/// many crops went through the embedding model.
#[cfg(test)]
#[derive(Debug, Default)]
struct RunLog {
    faces: std::sync::Mutex<Vec<(&'static str, [u32; 4])>>,
    embedded: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("models_dir", &self.models_dir)
            .field("model", &self.embedder.model_id())
            .field("threads", &self.pool.current_num_threads())
            .finish_non_exhaustive()
    }
}

/// The manifest roles of the liveness check's two models.
const LIVENESS_ROLES: [&str; 2] = ["liveness", "eye_state"];

/// The file names of the liveness models in the manifest.
fn liveness_files(manifest: &Manifest) -> Vec<String> {
    LIVENESS_ROLES
        .iter()
        .filter_map(|r| manifest.role(r).ok().map(|m| m.file.clone()))
        .collect()
}

/// The liveness checker when the manifest lists both models and both files
/// are in `dir` (verified like every model); `None` when either is absent,
/// so an engine without them still serves everything else.
fn load_liveness(
    manifest: &Manifest,
    dir: &std::path::Path,
    config: facecore_liveness::LivenessConfig,
) -> Result<Option<facecore_liveness::LivenessChecker>, Error> {
    let (Ok(live), Ok(eye)) = (
        manifest.role(LIVENESS_ROLES[0]),
        manifest.role(LIVENESS_ROLES[1]),
    ) else {
        return Ok(None);
    };
    if !dir.join(&live.file).exists() || !dir.join(&eye.file).exists() {
        return Ok(None);
    }
    let live = manifest.read_verified(dir, live)?;
    let eye = manifest.read_verified(dir, eye)?;
    Ok(Some(facecore_liveness::LivenessChecker::from_bytes(
        &live, &eye, config,
    )?))
}

/// The turns (degrees, counter-clockwise on screen) of the last rescue
/// ([`QualityConfig::rescue_rotations`]): quarter turns first, for faces
/// lying sideways, then half of one either way, for strong tilts.
pub const RESCUE_TURNS: [f64; 4] = [90.0, -90.0, 45.0, -45.0];

/// The detector confidence a face found on a turned photo needs, on top of
/// the norm gate: four more looks at a photo without a face are four more
/// chances of a false one. On faces-dev the faces these passes find score
/// 0.9999 and more; on `no-face/` a cat and a coffee cup, turned, scored
/// 0.92 and 0.71 and passed the norm gate.
pub const TURNED_MIN_CONFIDENCE: f32 = 0.99;

/// The longest side of a turned photo; a larger one is turned at a reduced
/// scale (the detector's input is 320×240 pixels and the embedder's crop
/// 112×112, so this costs a rescued face little and bounds the memory).
pub const TURNED_MAX_SIDE: f64 = 1280.0;

/// `image` turned by `degrees` (counter-clockwise on screen) onto a canvas
/// that holds all of it, black outside, at the original scale up to
/// [`TURNED_MAX_SIDE`]; with the map from the turned canvas back onto
/// `image`. `None` for an empty image.
fn turn(image: &RgbImage, degrees: f64) -> Option<(RgbImage, facecore_align::Similarity)> {
    let (w, h) = (f64::from(image.width()), f64::from(image.height()));
    if w == 0.0 || h == 0.0 {
        return None;
    }
    // Counter-clockwise on screen is a negative angle in image coordinates
    // (y points down).
    let angle = -degrees.to_radians();
    // The turned corners' bounds at scale 1.
    let unit = facecore_align::Similarity::from_parts(1.0, angle, 0.0, 0.0);
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for [x, y] in [[0.0, 0.0], [w, 0.0], [0.0, h], [w, h]].map(|p| unit.apply_f64(p)) {
        lo = [lo[0].min(x), lo[1].min(y)];
        hi = [hi[0].max(x), hi[1].max(y)];
    }
    let scale = (TURNED_MAX_SIDE / (hi[0] - lo[0]).max(hi[1] - lo[1])).min(1.0);
    // The turn is linear: the scaled canvas's bounds are these, scaled.
    let (lo, hi) = (lo.map(|v| v * scale), hi.map(|v| v * scale));
    let to_turned = facecore_align::Similarity::from_parts(scale, angle, -lo[0], -lo[1]);
    let (tw, th) = (
        ((hi[0] - lo[0]).round() as u32).max(1),
        ((hi[1] - lo[1]).round() as u32).max(1),
    );
    let turned = facecore_align::warp_bilinear(image, &to_turned, tw, th).ok()?;
    Some((turned, to_turned.inverse()?))
}

/// Adds the wall time of parallel work to `timings`, shared among the
/// stages in proportion to the thread time `spent` in each, so that the
/// stages still add up to the request's time.
fn add_wall_shares(timings: &mut StageTimings, wall: Duration, spent: &StageTimings) {
    let all = spent.detect + spent.landmarks + spent.align + spent.embed;
    if all.is_zero() {
        return;
    }
    let share = |stage: Duration| wall.mul_f64(stage.as_secs_f64() / all.as_secs_f64());
    timings.detect += share(spent.detect);
    timings.landmarks += share(spent.landmarks);
    timings.align += share(spent.align);
    timings.embed += share(spent.embed);
}

fn elapsed(t: Instant) -> Duration {
    t.elapsed()
}

impl Engine {
    /// Loads and verifies the models and builds the pipeline.
    pub fn load(config: EngineConfig) -> Result<Self, Error> {
        let dir = config.models_dir.unwrap_or_else(default_models_dir);
        let manifest = match config.manifest {
            Some(m) => m,
            None => {
                let local = dir.join("manifest.json");
                match std::fs::read_to_string(&local) {
                    Ok(text) => Manifest::parse(&text)?,
                    Err(_) => Manifest::builtin()?,
                }
            }
        };
        if config.threads == Some(0) {
            return Err(Error::Config("threads must be at least 1".into()));
        }
        let q = config.quality;
        let valid = q
            .min_embedding_norm
            .is_none_or(|n| n >= 0.0 && n.is_finite())
            && (0.0..=1.0).contains(&q.verify_confidence_below);
        if !valid {
            return Err(Error::Config(format!(
                "quality: min_embedding_norm must be >= 0 and verify_confidence_below in [0, 1], got {q:?}"
            )));
        }
        let set = manifest
            .set(
                config
                    .model_set
                    .as_deref()
                    .unwrap_or(crate::manifest::DEFAULT_SET),
            )?
            .clone();
        if !Manifest::licence_accepted(&dir, &set) {
            return Err(Error::LicenceNotAccepted {
                set: set.name.clone(),
                terms: set.terms.clone().unwrap_or_default(),
                dir,
            });
        }
        let det = set.model(&manifest, "detector")?;
        let lmk = set.model(&manifest, "landmarks68")?;
        let emb = set.model(&manifest, "embedder")?;
        let det_bytes = manifest.read_verified(&dir, det)?;
        let lmk_bytes = manifest.read_verified(&dir, lmk)?;
        let emb_bytes = manifest.read_verified(&dir, emb)?;
        let detector = match det.kind.as_deref() {
            None | Some("ultraface") => {
                facecore_detect::Detector::from_bytes(&det_bytes, &lmk_bytes, config.detector)?
            }
            Some("scrfd") => facecore_detect::Detector::scrfd_from_bytes(
                &det_bytes,
                &lmk_bytes,
                config.detector,
            )?,
            Some(other) => {
                return Err(Error::Manifest(format!(
                    "detector `{}` is of kind `{other}`, which this build does not know",
                    det.id
                )));
            }
        };
        let recipe = emb.input.clone().unwrap_or_default();
        let defaults = facecore_embed::Normalization::DEFAULT;
        let embedder = facecore_embed::Embedder::with_normalization(
            &emb_bytes,
            &emb.tag(),
            facecore_embed::Normalization {
                mean: recipe.mean.unwrap_or(defaults.mean),
                scale: recipe.scale.unwrap_or(defaults.scale),
            },
        )?
        .with_flip(recipe.flip.unwrap_or(false));
        let liveness = load_liveness(&manifest, &dir, config.liveness)?;
        let (score_map, calibrated) = match &emb.calibration {
            Some(c) => (c.score_map()?, true),
            None => (facecore_score::ScoreMap::spec_reference(), false),
        };
        let mut pool = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("facecore-{i}"));
        if let Some(n) = config.threads {
            pool = pool.num_threads(n);
        }
        let pool = pool
            .build()
            .map_err(|e| Error::Config(format!("cannot start worker threads: {e}")))?;
        Ok(Self {
            detector,
            embedder,
            liveness,
            limits: config.image_limits,
            quality: config.quality,
            min_embedding_norm: config
                .quality
                .min_embedding_norm
                .or(emb.min_embedding_norm)
                .unwrap_or(0.0),
            score_map,
            calibrated,
            pool,
            manifest,
            set,
            models_dir: dir,
            attributes: crate::attributes::AttributeModels::new(),
            #[cfg(test)]
            runs: RunLog::default(),
        })
    }

    /// Id of the embedding model (`id@version`), stored with every embedding.
    pub fn model_id(&self) -> &str {
        self.embedder.model_id()
    }

    /// Length of the embeddings (512 for the default model).
    pub fn embedding_dim(&self) -> usize {
        self.embedder.dim()
    }

    /// The model set loaded (its name, licence, and model ids).
    pub fn model_set(&self) -> &crate::manifest::ModelSet {
        &self.set
    }

    /// The manifest in use.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The models directory in use.
    pub fn models_dir(&self) -> &std::path::Path {
        &self.models_dir
    }

    /// The lazily loaded attribute models.
    pub(crate) fn attribute_models(&self) -> &crate::attributes::AttributeModels {
        &self.attributes
    }

    /// The decoding limits in use.
    pub fn image_limits(&self) -> &ImageLimits {
        &self.limits
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// The detector (for per-stage use and benchmarks).
    pub fn detector(&self) -> &facecore_detect::Detector {
        &self.detector
    }

    /// The embedder (for per-stage use and benchmarks).
    pub fn embedder(&self) -> &facecore_embed::Embedder {
        &self.embedder
    }

    /// Whether the liveness models were found, so [`Engine::liveness`] works.
    pub fn has_liveness(&self) -> bool {
        self.liveness.is_some()
    }

    /// The liveness checker, when its models were found.
    pub fn liveness_checker(&self) -> Option<&facecore_liveness::LivenessChecker> {
        self.liveness.as_ref()
    }

    /// Checks that encoded image bytes show one live face (see
    /// [`facecore_liveness::LivenessChecker::check`] for the checks and their
    /// order). `pose` gives the head pose in degrees; with `None` it is
    /// estimated by the pose model (`fr_pose`) when its file is present, and
    /// only for a face that passed the placement checks. Without either the
    /// angle is not checked (`angle_checked` is false in the verdict).
    /// [`Error::ModelsMissing`] when the liveness models were not found when
    /// the engine was loaded.
    pub fn liveness(
        &self,
        bytes: &[u8],
        pose: Option<facecore_liveness::Pose>,
    ) -> Result<facecore_liveness::LivenessVerdict, Error> {
        let image = self.decode(bytes)?;
        self.liveness_of(&image, pose)
    }

    /// [`Engine::liveness`] on a decoded image: detects the faces, runs the
    /// 68-point landmark model on the dominant one (for its eyes) and checks.
    pub fn liveness_of(
        &self,
        image: &RgbImage,
        pose: Option<facecore_liveness::Pose>,
    ) -> Result<facecore_liveness::LivenessVerdict, Error> {
        let checker = self.liveness.as_ref().ok_or_else(|| Error::ModelsMissing {
            dir: self.models_dir.clone(),
            missing: liveness_files(&self.manifest),
            fetch: crate::FETCH_COMMAND.to_string(),
        })?;
        let boxes = self.detect_boxes(image)?;
        let mut faces: Vec<facecore_liveness::FaceObservation> =
            boxes.iter().map(Into::into).collect();
        if let Some(first) = faces.first_mut() {
            first.landmarks68 = Some(self.detector.landmarks68(image, &first.bbox)?);
        }
        let estimate = pose.is_none() && self.available_attributes().pose;
        self.pool.install(|| {
            checker.check_with(image, &faces, |face| match (pose, face.landmarks68) {
                (Some(given), _) => Ok(Some(given)),
                (None, Some(points)) if estimate => {
                    let face = facecore_detect::Face {
                        bbox: face.bbox,
                        confidence: face.confidence,
                        landmarks: facecore_detect::reduce_68_to_5(&|i| points[i]),
                    };
                    let p = self.pose_estimator()?.estimate(image, &face)?;
                    Ok::<_, Error>(Some(facecore_liveness::Pose {
                        yaw: p.yaw,
                        pitch: p.pitch,
                        roll: p.roll,
                    }))
                }
                _ => Ok(None),
            })
        })
    }

    /// Decodes image bytes (any supported format, EXIF orientation applied)
    /// under the engine's limits.
    pub fn decode(&self, bytes: &[u8]) -> Result<RgbImage, Error> {
        Ok(facecore_image::decode(bytes, &self.limits)?.image)
    }

    /// Detects face boxes in a decoded image, most dominant first:
    /// [`facecore_detect::Detector::detect_boxes`] run on the engine's worker
    /// threads, so the windows of a large image run in parallel there.
    pub fn detect_boxes(&self, image: &RgbImage) -> Result<Vec<facecore_detect::FaceBox>, Error> {
        Ok(self.pool.install(|| self.detector.detect_boxes(image))?)
    }

    /// Detects faces (with landmarks) in a decoded image; returns at most
    /// `max_faces`, most dominant first, and how many were left out.
    ///
    /// Detections below [`QualityConfig::verify_confidence_below`] are
    /// verified by the embedding model: a raw embedding norm under
    /// [`QualityConfig::min_embedding_norm`] means "not a face" (on the no-face
    /// test images a cat's face scored 0.97 with the detector but its
    /// embedding norm was 1.4, where faces give 2–4), and the detection is
    /// dropped. When no face is left, the detector's rescue passes
    /// ([`facecore_detect::Detector::rescue_boxes`]) run and their faces are
    /// verified the same way; when they find none either, the photo turned
    /// by [`RESCUE_TURNS`] ([`QualityConfig::rescue_rotations`]).
    pub fn detect_image(
        &self,
        image: &RgbImage,
        max_faces: usize,
        timings: &mut StageTimings,
    ) -> Result<(Vec<Face>, usize), Error> {
        self.detect_selected(image, FaceSelection::first(max_faces), timings)
    }

    /// [`Engine::detect_image`] of the faces `selection` picks.
    pub fn detect_selected(
        &self,
        image: &RgbImage,
        selection: FaceSelection,
        timings: &mut StageTimings,
    ) -> Result<(Vec<Face>, usize), Error> {
        let (faces, unprocessed) = self.verified_faces(image, selection, false, timings)?;
        Ok((faces.into_iter().map(|(f, _)| f).collect(), unprocessed))
    }

    fn needs_verification(&self, confidence: f32) -> bool {
        self.min_embedding_norm > 0.0 && confidence < self.quality.verify_confidence_below
    }

    /// Notes in the test-only log that `stage` ran on the face in `bbox`;
    /// compiles to nothing outside tests.
    fn note(&self, stage: &'static str, bbox: &facecore_detect::BBox) {
        #[cfg(test)]
        if let Ok(mut faces) = self.runs.faces.lock() {
            let key = [bbox.x, bbox.y, bbox.width, bbox.height].map(f32::to_bits);
            faces.push((stage, key));
        }
        #[cfg(not(test))]
        let _ = (self, stage, bbox);
    }

    /// The five points of one box, as a face: the detector's own keypoints
    /// when it gives them (SCRFD), else the landmark model's.
    fn landmarked(&self, image: &RgbImage, b: &facecore_detect::FaceBox) -> Result<Face, Error> {
        self.note("landmarks", &b.bbox);
        let landmarks = match b.keypoints {
            Some(points) => points,
            None => self.detector.landmarks(image, &b.bbox)?,
        };
        Ok(Face {
            bbox: b.bbox,
            confidence: b.confidence,
            landmarks,
        })
    }

    /// Aligns one face and embeds its crop; also returns how long each of
    /// the two took.
    fn embed_face(
        &self,
        image: &RgbImage,
        face: &Face,
    ) -> Result<(Embedding, Duration, Duration), Error> {
        self.note("align", &face.bbox);
        let t = Instant::now();
        let crop = facecore_align::align_face(image, &face.landmarks)?;
        let align = elapsed(t);
        #[cfg(test)]
        self.runs
            .embedded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = Instant::now();
        // One crop per run, as `embed_crops` does: batching was measured
        // slower in tract (see `facecore_embed::MAX_BATCH`).
        let embedding = self.embedder.embed(&crop)?;
        Ok((embedding, align, elapsed(t)))
    }

    /// Runs the per-face work of `work`, pairs of a box index and whether
    /// that face needs an embedding, in one parallel pass on the worker
    /// threads: each face is landmarked and, when asked, aligned and
    /// embedded by the same task, so no thread waits for a stage barrier.
    ///
    /// The pass's wall time is added to `timings`, shared among the three
    /// stages in proportion to the thread time each took, so that the stages
    /// still add up to the request's time.
    fn per_face_pass(
        &self,
        image: &RgbImage,
        boxes: &[facecore_detect::FaceBox],
        work: &[(usize, bool)],
        timings: &mut StageTimings,
    ) -> Result<Vec<(usize, VerifiedFace)>, Error> {
        if work.is_empty() {
            return Ok(Vec::new());
        }
        let t = Instant::now();
        let done = self.pool.install(|| {
            work.par_iter()
                .map(|&(i, embed)| {
                    let t = Instant::now();
                    let face = self.landmarked(image, &boxes[i])?;
                    let mut times: FaceTimes = [elapsed(t), Duration::ZERO, Duration::ZERO];
                    let embedding = if embed {
                        let (embedding, align, run) = self.embed_face(image, &face)?;
                        times[1] = align;
                        times[2] = run;
                        Some(embedding)
                    } else {
                        None
                    };
                    Ok((i, (face, embedding), times))
                })
                .collect::<Result<Vec<_>, Error>>()
        })?;
        let mut spent = StageTimings::default();
        for (_, _, [landmarks, align, embed]) in &done {
            spent.landmarks += *landmarks;
            spent.align += *align;
            spent.embed += *embed;
        }
        add_wall_shares(timings, elapsed(t), &spent);
        Ok(done.into_iter().map(|(i, face, _)| (i, face)).collect())
    }

    /// Faces that passed verification, most dominant first (at most
    /// `max_faces`), and the number of verified faces left out. With
    /// `embed`, every face comes with its embedding; without, only the
    /// verified ones do.
    ///
    /// Each face that is returned or verified is landmarked exactly once, and
    /// aligned and embedded at most once: the embedding that verified a face
    /// is the one returned.
    fn verified_faces(
        &self,
        image: &RgbImage,
        selection: FaceSelection,
        embed: bool,
        timings: &mut StageTimings,
    ) -> Result<(Vec<VerifiedFace>, usize), Error> {
        let t = Instant::now();
        let boxes = self.detect_boxes(image)?;
        timings.detect += elapsed(t);
        let found = self.verify_boxes(image, boxes, selection, embed, false, timings)?;
        if !found.0.is_empty() || found.1 > 0 {
            return Ok(found);
        }
        // No face passed: the detector's rescue passes (letterboxed, at a
        // lower threshold). Each of their detections is verified, whatever
        // its confidence: a non-face the ordinary pass rejected must not come
        // back through them. They cost nothing on a photo with a face.
        let t = Instant::now();
        let rescued = self.pool.install(|| self.detector.rescue_boxes(image))?;
        timings.detect += elapsed(t);
        if !rescued.is_empty() {
            let found = self.verify_boxes(image, rescued, selection, embed, true, timings)?;
            if !found.0.is_empty() || found.1 > 0 {
                return Ok(found);
            }
        }
        self.turned_faces(image, selection, embed, timings)
    }

    /// The last rescue ([`QualityConfig::rescue_rotations`]): the ordinary
    /// passes on the photo turned by each of [`RESCUE_TURNS`], every face of
    /// at least [`TURNED_MIN_CONFIDENCE`] verified, and the faces of the turn
    /// whose best face is the most confident, mapped back onto the photo. Landmarks map back exactly
    /// (alignment undoes the turn); a box keeps its size around its mapped
    /// centre (its width and height swapped for a quarter turn). The
    /// embeddings come from the turned photo, which keeps the original scale
    /// up to [`TURNED_MAX_SIDE`] pixels.
    fn turned_faces(
        &self,
        image: &RgbImage,
        selection: FaceSelection,
        embed: bool,
        timings: &mut StageTimings,
    ) -> Result<(Vec<VerifiedFace>, usize), Error> {
        if !self.quality.rescue_rotations || self.min_embedding_norm <= 0.0 {
            return Ok((Vec::new(), 0));
        }
        // The turns run side by side on the worker threads (a turned copy
        // is at most TURNED_MAX_SIDE² pixels: under 5 MB each).
        type Turned = (f32, facecore_align::Similarity, Vec<VerifiedFace>, usize);
        let wall = Instant::now();
        let tried = self.pool.install(|| {
            RESCUE_TURNS
                .par_iter()
                .map(
                    |&degrees| -> Result<(Option<Turned>, StageTimings), Error> {
                        let mut local = StageTimings::default();
                        let t = Instant::now();
                        let Some((turned, to_photo)) = turn(image, degrees) else {
                            return Ok((None, local));
                        };
                        let mut boxes = self.detector.detect_boxes(&turned)?;
                        local.detect += elapsed(t);
                        boxes.retain(|b| b.confidence >= TURNED_MIN_CONFIDENCE);
                        if boxes.is_empty() {
                            return Ok((None, local));
                        }
                        let (faces, left_out) =
                            self.verify_boxes(&turned, boxes, selection, embed, true, &mut local)?;
                        let top = faces
                            .iter()
                            .map(|(f, _)| f.confidence)
                            .fold(f32::NEG_INFINITY, f32::max);
                        let found = (!faces.is_empty()).then_some((top, to_photo, faces, left_out));
                        Ok((found, local))
                    },
                )
                .collect::<Result<Vec<_>, Error>>()
        })?;
        let spent = tried
            .iter()
            .fold(StageTimings::default(), |mut sum, (_, t)| {
                sum.detect += t.detect;
                sum.landmarks += t.landmarks;
                sum.align += t.align;
                sum.embed += t.embed;
                sum
            });
        add_wall_shares(timings, elapsed(wall), &spent);
        // The turn whose best face is the most confident (the first of
        // equals, in the order of RESCUE_TURNS).
        let best =
            tried
                .into_iter()
                .filter_map(|(found, _)| found)
                .fold(None::<Turned>, |best, t| match best {
                    Some(b) if b.0 >= t.0 => Some(b),
                    _ => Some(t),
                });
        let Some((_, to_photo, faces, left_out)) = best else {
            return Ok((Vec::new(), 0));
        };
        let (w, h) = (image.width() as f32, image.height() as f32);
        // A quarter turn swaps the box's sides (cos 90° = 0).
        let quarter = to_photo.a.abs() < 1e-6 * to_photo.scale();
        let faces = faces
            .into_iter()
            .map(|(mut face, embedding)| {
                face.landmarks = face.landmarks.map(|p| to_photo.apply(p));
                let b = face.bbox;
                let [cx, cy] = to_photo.apply([b.x + b.width / 2.0, b.y + b.height / 2.0]);
                let s = to_photo.scale() as f32;
                let (bw, bh) = if quarter {
                    (b.height * s, b.width * s)
                } else {
                    (b.width * s, b.height * s)
                };
                let (x0, y0) = ((cx - bw / 2.0).clamp(0.0, w), (cy - bh / 2.0).clamp(0.0, h));
                let (x1, y1) = ((cx + bw / 2.0).clamp(0.0, w), (cy + bh / 2.0).clamp(0.0, h));
                face.bbox = facecore_detect::BBox {
                    x: x0,
                    y: y0,
                    width: x1 - x0,
                    height: y1 - y0,
                };
                (face, embedding)
            })
            .collect();
        Ok((faces, left_out))
    }

    /// [`Engine::verified_faces`] of the boxes of one detection step; with
    /// `verify_all`, every box is verified (when verification is on), not
    /// only those under [`QualityConfig::verify_confidence_below`].
    fn verify_boxes(
        &self,
        image: &RgbImage,
        mut boxes: Vec<facecore_detect::FaceBox>,
        selection: FaceSelection,
        embed: bool,
        verify_all: bool,
        timings: &mut StageTimings,
    ) -> Result<(Vec<VerifiedFace>, usize), Error> {
        let max_faces = selection.max_faces;
        let verify = |confidence: f32| {
            self.needs_verification(confidence) || (verify_all && self.min_embedding_norm > 0.0)
        };
        boxes.retain(|b| b.confidence > selection.min_confidence);

        // The faces that may be returned and every face to verify. A face
        // among the first `max_faces` that needs no verification is always
        // returned (at most `i` faces are kept before face `i`), so when the
        // request wants embeddings it is embedded in this pass too.
        let first: Vec<(usize, bool)> = (0..boxes.len())
            .filter_map(|i| {
                let check = verify(boxes[i].confidence);
                (i < max_faces || check).then_some((i, check || embed))
            })
            .collect();
        let mut faces: Vec<Option<VerifiedFace>> = vec![None; boxes.len()];
        for (i, face) in self.per_face_pass(image, &boxes, &first, timings)? {
            faces[i] = Some(face);
        }

        let mut kept = Vec::new();
        let mut left_out = 0;
        for (i, b) in boxes.iter().enumerate() {
            if verify(b.confidence) {
                let norm = faces[i]
                    .as_ref()
                    .and_then(|(_, e)| e.as_ref()?.raw_norm)
                    .unwrap_or(0.0);
                if norm < self.min_embedding_norm {
                    continue;
                }
            }
            if kept.len() == max_faces {
                left_out += 1;
                continue;
            }
            kept.push(i);
        }

        // Faces moved up into the first `max_faces` because verification
        // dropped faces before them were not in the first pass.
        let late: Vec<(usize, bool)> = kept
            .iter()
            .filter(|&&i| faces[i].is_none())
            .map(|&i| (i, embed))
            .collect();
        for (i, face) in self.per_face_pass(image, &boxes, &late, timings)? {
            faces[i] = Some(face);
        }
        // Every kept face went through one of the two passes.
        let kept = kept.into_iter().filter_map(|i| faces[i].take()).collect();
        Ok((kept, left_out))
    }

    /// Decodes an image and detects up to `max_faces` faces in it.
    pub fn detect(&self, bytes: &[u8], max_faces: usize) -> Result<Detection, Error> {
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let image = self.decode(bytes)?;
        timings.decode = elapsed(t);
        let (faces, unprocessed) = self.detect_image(&image, max_faces, &mut timings)?;
        Ok(Detection {
            width: image.width(),
            height: image.height(),
            faces,
            unprocessed,
            timings,
        })
    }

    /// Aligns faces of a decoded image to 112×112 crops (in parallel).
    pub fn align(&self, image: &RgbImage, faces: &[Face]) -> Result<Vec<RgbImage>, Error> {
        self.pool.install(|| {
            faces
                .par_iter()
                .map(|f| Ok(facecore_align::align_face(image, &f.landmarks)?))
                .collect()
        })
    }

    /// Embeds up to `max_faces` faces of a decoded image, most dominant first.
    pub fn embed_image(&self, image: &RgbImage, max_faces: usize) -> Result<Embeddings, Error> {
        let mut timings = StageTimings::default();
        self.embed_selected(image, FaceSelection::first(max_faces), &mut timings)
    }

    /// Embeds the faces of a decoded image that `selection` picks, most
    /// dominant first, adding the time spent to `timings`.
    pub fn embed_selected(
        &self,
        image: &RgbImage,
        selection: FaceSelection,
        timings: &mut StageTimings,
    ) -> Result<Embeddings, Error> {
        let (faces, unprocessed) = self.verified_faces(image, selection, true, timings)?;
        let faces = faces
            .into_iter()
            .map(|(face, embedding)| {
                // `verified_faces` embeds every face it returns when asked to.
                let embedding = embedding.ok_or(facecore_embed::EmbedError::Degenerate)?;
                Ok(FaceEmbedding { face, embedding })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Embeddings {
            width: image.width(),
            height: image.height(),
            faces,
            unprocessed,
            timings: *timings,
        })
    }

    /// Embeds a decoded image that is already a face crop, without running
    /// the detector: the face is the whole image (confidence 1), its five
    /// points come from the landmark model run on it as if the detector had
    /// boxed it, and it is aligned and embedded as usual. This is
    /// CompreFace's `detect_faces=false`. A crop much looser than a
    /// detector's box (a head-and-shoulders shot) gives poorer landmarks and
    /// so a poorer embedding: the detector is the better choice whenever it
    /// finds the face.
    pub fn embed_as_face(
        &self,
        image: &RgbImage,
        timings: &mut StageTimings,
    ) -> Result<Embeddings, Error> {
        let whole = facecore_detect::FaceBox {
            bbox: facecore_detect::BBox {
                x: 0.0,
                y: 0.0,
                width: image.width() as f32,
                height: image.height() as f32,
            },
            confidence: 1.0,
            keypoints: None,
        };
        let t = Instant::now();
        let face = self.landmarked(image, &whole)?;
        timings.landmarks += elapsed(t);
        let (embedding, align, embed) = self.embed_face(image, &face)?;
        timings.align += align;
        timings.embed += embed;
        Ok(Embeddings {
            width: image.width(),
            height: image.height(),
            faces: vec![FaceEmbedding { face, embedding }],
            unprocessed: 0,
            timings: *timings,
        })
    }

    /// Embeds aligned 112×112 crops, spread over the worker threads.
    pub fn embed_crops(&self, crops: &[RgbImage]) -> Result<Vec<Embedding>, Error> {
        if crops.len() <= 1 {
            return Ok(self.embedder.embed_batch(crops)?);
        }
        let parts = self.pool.install(|| {
            crops
                .par_chunks(facecore_embed::MAX_BATCH)
                .map(|c| self.embedder.embed_batch(c))
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Decodes an image and embeds up to `max_faces` faces, most dominant first.
    pub fn embed(&self, bytes: &[u8], max_faces: usize) -> Result<Embeddings, Error> {
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let image = self.decode(bytes)?;
        timings.decode = elapsed(t);
        self.embed_selected(&image, FaceSelection::first(max_faces), &mut timings)
    }

    /// The cosine → score map in use: the model's measured calibration from
    /// the manifest, or the API specification's reference table when the
    /// model has none (see [`Engine::is_calibrated`]).
    pub fn score_map(&self) -> &facecore_score::ScoreMap {
        &self.score_map
    }

    /// Whether the score map was measured for this model.
    pub fn is_calibrated(&self) -> bool {
        self.calibrated
    }

    /// The API's integer similarity (−1..=100) of a cosine.
    pub fn similarity(&self, cosine: f32) -> i32 {
        self.score_map.score(cosine)
    }

    /// Compares two embeddings of the same model: their cosine and the
    /// calibrated similarity score.
    pub fn compare(&self, a: &Embedding, b: &Embedding) -> Result<Comparison, Error> {
        if a.model != b.model {
            return Err(Error::ModelMismatch {
                left: a.model.to_string(),
                right: b.model.to_string(),
            });
        }
        self.compare_vectors(&a.vector, &b.vector)
    }

    /// Compares two raw vectors that are taken to come from this engine's
    /// model: both are validated (length, finite, non-zero) and re-normalised
    /// first.
    pub fn compare_vectors(&self, a: &[f32], b: &[f32]) -> Result<Comparison, Error> {
        let dim = self.embedder.dim();
        if a.len() != dim || b.len() != dim {
            // Report as validating each in turn would (a's faults first).
            facecore_score::validate(a, Some(dim))?;
            facecore_score::validate(b, Some(dim))?;
        }
        // Validates both (non-finite values, zero norm; `a` before `b`) in
        // the pass that computes the dot product.
        let cosine = facecore_score::cosine(a, b)?;
        Ok(Comparison {
            cosine,
            similarity: self.similarity(cosine),
        })
    }

    /// Wraps a raw vector as an embedding of this engine's model.
    pub fn embedding_from_vector(&self, vector: Vec<f32>) -> Result<Embedding, Error> {
        facecore_score::validate(&vector, Some(self.embedder.dim()))?;
        Ok(Embedding {
            model: Arc::clone(self.embedder.model_id()),
            vector: facecore_score::normalized(&vector)?,
            raw_norm: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn engine_is_send_and_sync() {
        assert_send_sync::<Engine>();
    }

    #[test]
    fn builtin_manifest_parses_and_names_every_role() {
        let m = Manifest::builtin().expect("manifest");
        for role in ["detector", "landmarks68", "embedder"] {
            let e = m.role(role).expect(role);
            assert_eq!(e.sha256.len(), 64);
            assert!(e.bytes > 0);
        }
        assert_eq!(m.package.name, "faceplugin-face-recognition-js");
    }

    #[test]
    fn missing_models_name_the_fetch_command() {
        let dir = std::env::temp_dir().join(format!("facecore-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let err = Engine::load(EngineConfig {
            models_dir: Some(dir.clone()),
            ..Default::default()
        })
        .expect_err("must fail");
        let msg = err.to_string();
        assert!(matches!(err, Error::ModelsMissing { .. }), "{msg}");
        assert!(msg.contains("cargo xtask fetch-models"), "{msg}");
        assert!(msg.contains("fr_detect.onnx"), "{msg}");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The box of a face as the run log keys it.
    fn key(b: &facecore_detect::BBox) -> [u32; 4] {
        [b.x, b.y, b.width, b.height].map(f32::to_bits)
    }

    /// Takes the run log: the boxes of each stage, and the crops embedded.
    fn take_runs(engine: &Engine) -> (Vec<[u32; 4]>, Vec<[u32; 4]>, usize) {
        let faces = std::mem::take(&mut *engine.runs.faces.lock().expect("log"));
        let of = |stage: &str| -> Vec<[u32; 4]> {
            let mut v: Vec<_> = faces.iter().filter(|f| f.0 == stage).map(|f| f.1).collect();
            v.sort_unstable();
            v
        };
        let embedded = engine
            .runs
            .embedded
            .swap(0, std::sync::atomic::Ordering::Relaxed);
        (of("landmarks"), of("align"), embedded)
    }

    fn sorted(mut v: Vec<[u32; 4]>) -> Vec<[u32; 4]> {
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Every face of a request is landmarked exactly once when it is returned
    /// or verified, and aligned and embedded at most once: a face verified by
    /// its embedding keeps that embedding. Checked against the sets of faces
    /// the rules ask for, with verification off, at the default threshold and
    /// for every face, and with `max_faces` below, at and above the number of
    /// faces.
    #[test]
    fn each_face_is_landmarked_once_and_embedded_at_most_once() {
        let mut engine = Engine::load(EngineConfig::default()).expect("models");
        let png = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/astronaut.png"
        ))
        .expect("fixture");
        let astronaut = engine.decode(&png).expect("decode");
        // The face at three sizes, so the confidences differ.
        let mut image = RgbImage::from_pixel(1100, 520, image::Rgb([90, 100, 110]));
        image::imageops::replace(&mut image, &astronaut, 0, 0);
        for (side, x, y) in [(256, 560, 40), (160, 880, 300)] {
            let small = image::imageops::resize(
                &astronaut,
                side,
                side,
                image::imageops::FilterType::Triangle,
            );
            image::imageops::replace(&mut image, &small, x, y);
        }
        let boxes = engine.detect_boxes(&image).expect("detect");
        assert!(boxes.len() >= 3, "{boxes:?}");
        for below in [0.0, 0.99, 1.0] {
            engine.quality.verify_confidence_below = below;
            for max_faces in [1, 2, boxes.len() + 1] {
                let what = format!("verify below {below}, max_faces {max_faces}");
                take_runs(&engine);
                let got = engine.embed_image(&image, max_faces).expect("embed");
                let (landmarked, aligned, embedded) = take_runs(&engine);
                let returned: Vec<_> = got.faces.iter().map(|f| key(&f.face.bbox)).collect();
                let verified: Vec<_> = boxes
                    .iter()
                    .filter(|b| engine.needs_verification(b.confidence))
                    .map(|b| key(&b.bbox))
                    .collect();
                let first: Vec<_> = boxes.iter().take(max_faces).map(|b| key(&b.bbox)).collect();
                let want_aligned = sorted([verified.clone(), returned.clone()].concat());
                let want_landmarked = sorted([verified, returned, first].concat());
                assert_eq!(aligned, want_aligned, "{what}: aligned");
                assert_eq!(embedded, aligned.len(), "{what}: embedded");
                assert_eq!(landmarked, want_landmarked, "{what}: landmarked");

                // Detection alone embeds only the faces it verifies.
                let detected = engine
                    .detect_image(&image, max_faces, &mut StageTimings::default())
                    .expect("detect");
                let (landmarked, aligned, embedded) = take_runs(&engine);
                assert_eq!(detected.0.len(), got.faces.len(), "{what}");
                let verified = sorted(
                    boxes
                        .iter()
                        .filter(|b| engine.needs_verification(b.confidence))
                        .map(|b| key(&b.bbox))
                        .collect(),
                );
                assert_eq!(aligned, verified, "{what}: aligned by detect");
                assert_eq!(embedded, aligned.len(), "{what}: embedded by detect");
                assert_eq!(landmarked, sorted(landmarked.clone()), "{what}: twice");
            }
        }
    }

    #[test]
    fn a_tampered_model_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("facecore-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let m = Manifest::builtin().expect("manifest");
        for e in &m.models {
            std::fs::write(dir.join(&e.file), b"not a model").expect("write");
        }
        let err = Engine::load(EngineConfig {
            models_dir: Some(dir.clone()),
            ..Default::default()
        })
        .expect_err("must fail");
        assert!(matches!(err, Error::ModelHash { .. }), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
