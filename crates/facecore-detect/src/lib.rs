//! Face detection and 5-point landmarks, in pure Rust with tract.
//!
//! Two ONNX models do the work:
//!
//! 1. **The detector** (Ultra-Light family, input 320×240). Its graph already
//!    decodes the 4,420 prior boxes, so its outputs are a face probability and a
//!    box (fractions of the input) per prior. We keep the priors whose probability
//!    reaches [`DetectorConfig::score_threshold`], map them to original-image
//!    pixels and run IoU non-maximum suppression sorted by score. (The graph's
//!    final two-class softmax is cut off and done here, in
//!    [`two_class_probability`]: tract spent more on it than on most
//!    convolutions.)
//! 2. **The landmark model** (68 points, iBUG order) on each face: the box made
//!    square (side = box height), moved inside the image, resized to 64×64 grey
//!    values divided by 256. The 68 points are reduced to 5: eye centres, nose tip
//!    and mouth corners ([`Landmarks5`]).
//!
//! # Small faces in large photos
//!
//! A 320×240 input cannot see a face smaller than about 10 detector pixels, so a
//! 60 px face in a 4000 px wide photo (5 detector pixels once the photo is shrunk)
//! is invisible to a single pass. When the image is more than
//! [`DetectorConfig::tile_scale`] × 1.25 times larger than the detector input, a
//! second pass covers the image with overlapping tiles of
//! `tile_scale × (320×240)` original pixels (so faces of about
//! `tile_scale × 16` px and up are found) with [`DetectorConfig::tile_overlap`]
//! overlap. A tile detection that touches an inner tile edge is dropped: the face
//! is cut there and is seen whole by a neighbouring tile or by the whole-image
//! pass. All detections of both passes then go through one NMS. The whole-image
//! pass resizes without keeping the aspect ratio (as the model was trained);
//! tiles keep the detector's 4:3 aspect.
//!
//! [`Detector::detect_boxes`] runs the windows in parallel on the current
//! rayon pool (the `facecore` engine calls it on its own worker pool).
//!
//! # Rescue passes
//!
//! When the passes above find no face that the engine's verification keeps,
//! the engine asks for [`Detector::rescue_boxes`]: the whole image
//! letterboxed (aspect ratio kept, grey margins) at two zooms
//! ([`RESCUE_ZOOMS`]), at the lower [`DetectorConfig::rescue_threshold`].
//! They find faces that the stretched 320×240 input squashes (portrait and
//! square photos) and faces just under the ordinary threshold; on faces-dev
//! they took the photos with no face from 9 to 5, and the no-face test
//! images stayed without faces. Only photos without a face pay for them.
//!
//! # Order
//!
//! Faces are returned **most dominant first**: sorted by `area × confidence`
//! (box area in original pixels), ties broken by confidence, then by position.
//! The first face is the one a user most likely means: the largest clear face.
//!
//! # Speed
//!
//! Both models are loaded through tract with its depthwise convolutions
//! swapped for those of [`facecore_tract`] (3–4× faster here, with the ReLU
//! after each one folded in). On our 2-core machine this took the detector
//! from about 10 to 6.5 ms and the landmark model from 2.0 to 1.1 ms per run
//! (`facecore-tract`'s `op-profile` example prints where the time goes per
//! operator).
//!
//! A [`Detector`] is `Send + Sync`: build it once and share it between threads.

mod boxes;
mod config;
mod detector;
mod error;
mod landmarks;
mod model;
mod scrfd;
mod tensor;
mod windows;

pub use boxes::{BBox, FaceBox, nms, sort_by_dominance};
pub use config::DetectorConfig;
pub use detector::{DETECTOR_HEIGHT, DETECTOR_WIDTH, Detector, RESCUE_ZOOMS};
pub use error::{DetectError, ErrorKind};
pub use landmarks::{Face, LANDMARK_SIZE, Landmarks5, Landmarks68, landmark_crop, reduce_68_to_5};
pub use model::two_class_probability;
pub use scrfd::{SCRFD_INPUT, SCRFD_NMS_IOU, SCRFD_SCORE_THRESHOLD};
pub use tensor::{gray_to_nchw, rgb_to_nchw};
pub use windows::{TILE_FACE_LIMIT, Window};
