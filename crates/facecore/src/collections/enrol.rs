//! Enrolment: the faces of images stored in a collection, optionally for
//! a person, with the original image and a thumbnail of each face kept
//! when asked — CompreFace's "add an example of a subject" and the Face
//! Search API's persons.
//!
//! Enrolment has two steps so that a caller can spend inference before it
//! takes any lock: [`Collections::prepare`] detects, embeds and cuts the
//! thumbnails of one image (no store access), then
//! [`Collections::enrol_prepared`] or [`Collections::enrol_person`] stores
//! the faces of any number of prepared images in one transaction.
//! [`Collections::enrol`] is both for one image.

use std::time::Instant;

use facecore_store::{ImageBlob, NewFace, NewPerson, Person, PersonRef, StoredFace};

use super::{Collections, FaceDetail, OpenCollection, poisoned};
use crate::{Engine, Error, Face, FaceSelection, StageTimings};

/// How many of an image's faces to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FacesToStore {
    /// The image must show exactly one face: none is [`Error::NoFace`],
    /// several are [`Error::TooManyFaces`] and nothing is stored
    /// (CompreFace's examples).
    ExactlyOne,
    /// The most dominant face; others are ignored. None is
    /// [`Error::NoFace`].
    Dominant,
    /// Up to this many faces, most dominant first. None is
    /// [`Error::NoFace`].
    Up(usize),
}

/// How to enrol the faces of an image.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrol {
    /// The person the faces belong to (a named one is created when the
    /// collection has none of that name). [`Collections::prepare`] ignores
    /// it: the store step names the person.
    pub person: Option<PersonRef>,
    /// Which faces.
    pub faces: FacesToStore,
    /// Faces at or below this detection confidence count as not there.
    pub min_confidence: f32,
    /// Keep the original image (once, however many faces it gives).
    pub keep_image: bool,
    /// Keep a small JPEG of each face
    /// ([`face_thumbnail`](facecore_image::face_thumbnail)).
    pub thumbnails: bool,
}

impl Default for Enrol {
    /// The dominant face, no person, nothing kept but the face.
    fn default() -> Self {
        Self {
            person: None,
            faces: FacesToStore::Dominant,
            min_confidence: f32::NEG_INFINITY,
            keep_image: false,
            thumbnails: false,
        }
    }
}

/// A face stored by [`Collections::enrol`].
#[derive(Debug, Clone, PartialEq)]
pub struct EnrolledFace {
    /// The detected face.
    pub face: Face,
    /// What was stored (with its new id and person).
    pub stored: StoredFace,
}

/// What [`Collections::enrol`] stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrolled {
    /// The stored faces, most dominant first.
    pub faces: Vec<EnrolledFace>,
    /// Width of the (oriented) image.
    pub width: u32,
    /// Height of the (oriented) image.
    pub height: u32,
    /// Time spent per pipeline stage.
    pub timings: StageTimings,
}

/// The faces of one image, detected, embedded and (when asked) cut into
/// thumbnails by [`Collections::prepare`], ready to be stored.
#[derive(Debug, Clone)]
pub struct PreparedImage {
    faces: Vec<(Face, NewFace)>,
    /// Width of the (oriented) image.
    pub width: u32,
    /// Height of the (oriented) image.
    pub height: u32,
    /// Time spent per pipeline stage.
    pub timings: StageTimings,
}

impl PreparedImage {
    /// The faces that will be stored, most dominant first.
    pub fn faces(&self) -> impl Iterator<Item = &Face> {
        self.faces.iter().map(|(face, _)| face)
    }
}

impl Collections {
    /// Detects and embeds the faces of `image` that `how` asks for, with
    /// the original image and thumbnails as asked, without touching the
    /// store (run it on an inference worker, then store the result with
    /// [`Collections::enrol_prepared`] or [`Collections::enrol_person`]).
    /// An image with no face above `how.min_confidence` is
    /// [`Error::NoFace`]; with [`FacesToStore::ExactlyOne`], one with
    /// several is [`Error::TooManyFaces`].
    ///
    /// `engine` embeds the faces: the collection's own
    /// ([`OpenCollection::engine`]); faces of another model are refused when
    /// they are stored.
    pub fn prepare(
        &self,
        engine: &Engine,
        image: &[u8],
        how: &Enrol,
    ) -> Result<PreparedImage, Error> {
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let decoded = engine.decode(image)?;
        timings.decode = t.elapsed();
        let max_faces = match how.faces {
            FacesToStore::ExactlyOne | FacesToStore::Dominant => 1,
            FacesToStore::Up(n) => n,
        };
        let selection = FaceSelection {
            max_faces,
            min_confidence: how.min_confidence,
        };
        let embeddings = engine.embed_selected(&decoded, selection, &mut timings)?;
        if embeddings.faces.is_empty() {
            return Err(Error::NoFace);
        }
        if how.faces == FacesToStore::ExactlyOne && embeddings.unprocessed > 0 {
            return Err(Error::TooManyFaces {
                found: embeddings.faces.len() + embeddings.unprocessed,
            });
        }
        let (width, height) = (embeddings.width, embeddings.height);
        let blob = how.keep_image.then(|| ImageBlob::new(image.to_vec()));
        let mut faces = Vec::with_capacity(embeddings.faces.len());
        for found in embeddings.faces {
            let detail = FaceDetail::of_face(&found.face, width, height);
            let [x, y, w, h] = detail.bounding_box;
            let thumbnail = if how.thumbnails {
                Some(facecore_image::face_thumbnail(
                    &decoded,
                    (x, y, w, h),
                    facecore_image::THUMBNAIL_SIZE,
                )?)
            } else {
                None
            };
            let new = NewFace {
                model: found.embedding.model.to_string(),
                embedding: found.embedding.vector,
                bounding_box: detail.bounding_box,
                confidence: detail.confidence,
                source: None,
                person: None,
                image: blob.clone(),
                thumbnail,
            };
            faces.push((found.face, new));
        }
        Ok(PreparedImage {
            faces,
            width,
            height,
            timings,
        })
    }

    /// Stores the faces of prepared images, all in one transaction
    /// (committed before returning), for `person` when given, and makes
    /// them searchable. Returns them in order, image by image.
    pub fn enrol_prepared(
        &self,
        target: &OpenCollection,
        person: Option<PersonRef>,
        images: Vec<PreparedImage>,
    ) -> Result<Vec<EnrolledFace>, Error> {
        let (detected, new_faces) = split(images, person);
        let mut loaded = target.shared.write().map_err(poisoned)?;
        check_models(&loaded.engine, &new_faces)?;
        let stored =
            self.insert_many_locked(&mut loaded, &target.account, &target.id, new_faces)?;
        Ok(zip(detected, stored))
    }

    /// Creates `person` with the faces of prepared images as its faces, in
    /// one transaction: either the person exists with all of them, or
    /// nothing was written ([`StoreError::PersonExists`](facecore_store::StoreError::PersonExists)
    /// when the name is taken). Returns the person as stored and its faces
    /// in order, image by image.
    pub fn enrol_person(
        &self,
        target: &OpenCollection,
        person: NewPerson,
        images: Vec<PreparedImage>,
    ) -> Result<(Person, Vec<EnrolledFace>), Error> {
        let (detected, new_faces) = split(images, None);
        let mut loaded = target.shared.write().map_err(poisoned)?;
        check_models(&loaded.engine, &new_faces)?;
        let (person, stored) = self.store.create_person_with_faces(
            &target.account,
            &target.id,
            Some(&loaded.incarnation),
            person,
            new_faces,
        )?;
        self.index_stored(&mut loaded, &target.account, &target.id, &stored)?;
        Ok((person, zip(detected, stored)))
    }

    /// Detects and embeds the faces of `image` that `how` asks for and
    /// stores them in one transaction, committed before returning, with
    /// their person, the original image and thumbnails as asked
    /// ([`Collections::prepare`], then [`Collections::enrol_prepared`]).
    /// An image with no face above `how.min_confidence` is
    /// [`Error::NoFace`]; with [`FacesToStore::ExactlyOne`], one with
    /// several is [`Error::TooManyFaces`]. Either way nothing is stored.
    pub fn enrol(
        &self,
        target: &OpenCollection,
        image: &[u8],
        how: &Enrol,
    ) -> Result<Enrolled, Error> {
        let prepared = self.prepare(&target.engine, image, how)?;
        let (width, height, timings) = (prepared.width, prepared.height, prepared.timings);
        let faces = self.enrol_prepared(target, how.person.clone(), vec![prepared])?;
        Ok(Enrolled {
            faces,
            width,
            height,
            timings,
        })
    }
}

/// The detected faces and the faces to store (for `person`) of `images`.
fn split(images: Vec<PreparedImage>, person: Option<PersonRef>) -> (Vec<Face>, Vec<NewFace>) {
    images
        .into_iter()
        .flat_map(|image| image.faces)
        .map(|(face, mut new)| {
            new.person.clone_from(&person);
            (face, new)
        })
        .unzip()
}

fn zip(detected: Vec<Face>, stored: Vec<StoredFace>) -> Vec<EnrolledFace> {
    detected
        .into_iter()
        .zip(stored)
        .map(|(face, stored)| EnrolledFace { face, stored })
        .collect()
}

/// Refuses faces embedded by another model than the collection's.
fn check_models(engine: &Engine, faces: &[NewFace]) -> Result<(), Error> {
    match faces.iter().find(|f| f.model != engine.model_id()) {
        Some(f) => Err(Error::ModelMismatch {
            left: f.model.clone(),
            right: engine.model_id().to_string(),
        }),
        None => Ok(()),
    }
}
