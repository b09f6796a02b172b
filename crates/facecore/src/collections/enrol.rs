//! Enrolment: the faces of one image stored in a collection, optionally for
//! a person, with the original image and a thumbnail of each face kept
//! when asked — CompreFace's "add an example of a subject" and the Face
//! Search API's enrolment.

use std::time::Instant;

use facecore_store::{ImageBlob, NewFace, PersonRef, StoredFace};

use super::{Collections, FaceDetail, OpenCollection, poisoned};
use crate::{Error, Face, FaceSelection, StageTimings};

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
    /// collection has none of that name).
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

impl Collections {
    /// Detects and embeds the faces of `image` that `how` asks for and
    /// stores them in one transaction, committed before returning, with
    /// their person, the original image and thumbnails as asked. An image
    /// with no face above `how.min_confidence` is [`Error::NoFace`]; with
    /// [`FacesToStore::ExactlyOne`], one with several is
    /// [`Error::TooManyFaces`]. Either way nothing is stored.
    pub fn enrol(
        &self,
        target: &OpenCollection,
        image: &[u8],
        how: &Enrol,
    ) -> Result<Enrolled, Error> {
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let decoded = self.engine.decode(image)?;
        timings.decode = t.elapsed();
        let max_faces = match how.faces {
            FacesToStore::ExactlyOne | FacesToStore::Dominant => 1,
            FacesToStore::Up(n) => n,
        };
        let selection = FaceSelection {
            max_faces,
            min_confidence: how.min_confidence,
        };
        let embeddings = self
            .engine
            .embed_selected(&decoded, selection, &mut timings)?;
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
        let mut new_faces = Vec::with_capacity(embeddings.faces.len());
        let mut faces = Vec::with_capacity(embeddings.faces.len());
        for found in embeddings.faces {
            self.check_model(&found.embedding)?;
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
            new_faces.push(NewFace {
                model: found.embedding.model.to_string(),
                embedding: found.embedding.vector,
                bounding_box: detail.bounding_box,
                confidence: detail.confidence,
                source: None,
                person: how.person.clone(),
                image: blob.clone(),
                thumbnail,
            });
            faces.push(found.face);
        }
        let stored = {
            let mut loaded = target.shared.write().map_err(poisoned)?;
            self.insert_many_locked(&mut loaded, &target.account, &target.id, new_faces)?
        };
        Ok(Enrolled {
            faces: faces
                .into_iter()
                .zip(stored)
                .map(|(face, stored)| EnrolledFace { face, stored })
                .collect(),
            width,
            height,
            timings,
        })
    }
}
