//! Face attributes (age, gender, head pose) of detected faces, with their
//! models loaded on first use.
//!
//! The attribute models are optional: an engine loads without them, and
//! [`Engine::available_attributes`] says which ones have their files in
//! the models directory. Asking for one whose file is missing is
//! [`Error::ModelsMissing`], naming the fetch command; a file with the
//! wrong sha256 is [`Error::ModelHash`].

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use facecore_attributes::{
    AgeEstimate, AgeEstimator, GenderClassifier, GenderEstimate, Pose, PoseEstimator,
};

use crate::{Engine, Error, Face, Manifest, RgbImage};

/// One face attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attribute {
    /// Age in years, with a range.
    Age,
    /// Female or male.
    Gender,
    /// Yaw, pitch and roll.
    Pose,
}

impl Attribute {
    /// All attributes, in a fixed order.
    pub const ALL: [Attribute; 3] = [Attribute::Age, Attribute::Gender, Attribute::Pose];

    /// The manifest role of the attribute's model.
    pub fn role(self) -> &'static str {
        match self {
            Self::Age => "age",
            Self::Gender => "gender",
            Self::Pose => "pose",
        }
    }
}

/// Which attributes a call asks for (or which are available).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AttributeSet {
    /// The age.
    pub age: bool,
    /// The gender.
    pub gender: bool,
    /// The head pose.
    pub pose: bool,
}

impl AttributeSet {
    /// Every attribute.
    pub const ALL: AttributeSet = AttributeSet {
        age: true,
        gender: true,
        pose: true,
    };

    /// Whether `attribute` is in the set.
    pub fn contains(self, attribute: Attribute) -> bool {
        match attribute {
            Attribute::Age => self.age,
            Attribute::Gender => self.gender,
            Attribute::Pose => self.pose,
        }
    }

    /// The set with `attribute` added.
    pub fn with(mut self, attribute: Attribute) -> Self {
        match attribute {
            Attribute::Age => self.age = true,
            Attribute::Gender => self.gender = true,
            Attribute::Pose => self.pose = true,
        }
        self
    }

    /// True when no attribute is asked for.
    pub fn is_empty(self) -> bool {
        !(self.age || self.gender || self.pose)
    }
}

/// The attributes of one face; each is `Some` when it was asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaceAttributes {
    /// The estimated age.
    pub age: Option<AgeEstimate>,
    /// The classified gender.
    pub gender: Option<GenderEstimate>,
    /// The head pose.
    pub pose: Option<Pose>,
    /// Time each model's step took (crop and inference; the first call of
    /// a model also loads it).
    pub timings: AttributeTimings,
}

/// Time spent per attribute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttributeTimings {
    /// The age.
    pub age: Duration,
    /// The gender.
    pub gender: Duration,
    /// The head pose.
    pub pose: Duration,
}

/// A model loaded on first use and kept.
struct Lazy<T>(Mutex<Option<Arc<T>>>);

impl<T> Lazy<T> {
    fn new() -> Self {
        Self(Mutex::new(None))
    }

    fn get(&self, load: impl FnOnce() -> Result<T, Error>) -> Result<Arc<T>, Error> {
        let mut slot = self.0.lock().map_err(|_| {
            Error::Config("an attribute model failed to load in another thread".into())
        })?;
        if let Some(model) = slot.as_ref() {
            return Ok(Arc::clone(model));
        }
        let model = Arc::new(load()?);
        *slot = Some(Arc::clone(&model));
        Ok(model)
    }
}

/// The engine's attribute models, each loaded on first use.
pub(crate) struct AttributeModels {
    age: Lazy<AgeEstimator>,
    gender: Lazy<GenderClassifier>,
    pose: Lazy<PoseEstimator>,
}

impl AttributeModels {
    pub(crate) fn new() -> Self {
        Self {
            age: Lazy::new(),
            gender: Lazy::new(),
            pose: Lazy::new(),
        }
    }
}

fn read(manifest: &Manifest, dir: &Path, attribute: Attribute) -> Result<(Vec<u8>, String), Error> {
    let entry = manifest.role(attribute.role())?;
    Ok((manifest.read_verified(dir, entry)?, entry.tag()))
}

impl Engine {
    /// The attributes whose model files are in the models directory (their
    /// hashes are checked when they are first used).
    pub fn available_attributes(&self) -> AttributeSet {
        Attribute::ALL
            .into_iter()
            .filter(|a| {
                self.manifest()
                    .role(a.role())
                    .is_ok_and(|m| self.models_dir().join(&m.file).is_file())
            })
            .fold(AttributeSet::default(), AttributeSet::with)
    }

    /// The model tag (`id@version`) of an attribute, from the manifest.
    pub fn attribute_model(&self, attribute: Attribute) -> Option<String> {
        self.manifest().role(attribute.role()).ok().map(|m| m.tag())
    }

    /// The attributes in `set` of a face detected in `image` (its box and
    /// landmarks as the detector gave them). Each model is loaded and
    /// verified on its first use.
    ///
    /// # Errors
    /// [`Error::ModelsMissing`] when an asked-for model's file is not in the
    /// models directory, [`Error::ModelHash`] when it does not match its
    /// pin, [`Error::Attributes`] when a model fails.
    pub fn attributes(
        &self,
        image: &RgbImage,
        face: &Face,
        set: AttributeSet,
    ) -> Result<FaceAttributes, Error> {
        let mut out = FaceAttributes::default();
        if set.age {
            let t = Instant::now();
            out.age = Some(self.age_estimator()?.estimate(image, face)?);
            out.timings.age = t.elapsed();
        }
        if set.gender {
            let t = Instant::now();
            out.gender = Some(self.gender_classifier()?.classify(image, face)?);
            out.timings.gender = t.elapsed();
        }
        if set.pose {
            let t = Instant::now();
            out.pose = Some(self.pose_estimator()?.estimate(image, face)?);
            out.timings.pose = t.elapsed();
        }
        Ok(out)
    }

    /// The age model, loaded (and verified) if it was not yet: for
    /// per-stage use and numerical checks.
    pub fn age_estimator(&self) -> Result<Arc<AgeEstimator>, Error> {
        let (manifest, dir) = (self.manifest(), self.models_dir());
        self.attribute_models().age.get(|| {
            let (bytes, tag) = read(manifest, dir, Attribute::Age)?;
            Ok(AgeEstimator::from_bytes(&bytes, &tag)?)
        })
    }

    /// The gender model, loaded (and verified) if it was not yet.
    pub fn gender_classifier(&self) -> Result<Arc<GenderClassifier>, Error> {
        let (manifest, dir) = (self.manifest(), self.models_dir());
        self.attribute_models().gender.get(|| {
            let (bytes, tag) = read(manifest, dir, Attribute::Gender)?;
            Ok(GenderClassifier::from_bytes(&bytes, &tag)?)
        })
    }

    /// The pose model, loaded (and verified) if it was not yet.
    pub fn pose_estimator(&self) -> Result<Arc<PoseEstimator>, Error> {
        let (manifest, dir) = (self.manifest(), self.models_dir());
        self.attribute_models().pose.get(|| {
            let (bytes, tag) = read(manifest, dir, Attribute::Pose)?;
            Ok(PoseEstimator::from_bytes(&bytes, &tag)?)
        })
    }
}
