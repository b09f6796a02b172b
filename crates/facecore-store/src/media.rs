//! Stored images and thumbnails, apart from the vectors.
//!
//! An original image is stored once per collection however many faces came
//! from it: `images` maps `account \0 collection \0 sha256` to the bytes and
//! `image_refs` counts the faces that point at it; the bytes go with the
//! last face. A thumbnail belongs to one face (`thumbnails`, keyed like the
//! face). Neither table is read when an index loads or a search runs, and
//! both are written in the face's own transaction, so an acknowledged face
//! always has its image and a deleted one leaves nothing behind.

use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::collections::face_prefix;
use crate::faces::{FACES, FaceTables, decode_header};
use crate::{Store, StoreError, storage};

pub(crate) const IMAGES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("images");
pub(crate) const IMAGE_REFS: TableDefinition<'_, &str, u64> = TableDefinition::new("image_refs");
pub(crate) const THUMBNAILS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("thumbnails");

/// Largest original image the store keeps (the dialects cap uploads lower).
pub const MAX_IMAGE_BYTES: usize = 32 << 20;
/// Largest thumbnail the store keeps.
pub const MAX_THUMBNAIL_BYTES: usize = 256 << 10;

/// The bytes of an original image with their SHA-256, computed once however
/// many faces of the image are stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageBlob {
    sha256: String,
    bytes: Arc<[u8]>,
}

impl std::fmt::Debug for ImageBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageBlob")
            .field("sha256", &self.sha256)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl ImageBlob {
    /// The image `bytes`, hashed.
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        let bytes = bytes.into();
        let sha256 = crate::keys::sha256_hex(&bytes);
        Self { sha256, bytes }
    }

    /// Lowercase hex SHA-256 of the bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

pub(crate) fn check_image(image: &ImageBlob) -> Result<(), StoreError> {
    if image.bytes.is_empty() || image.bytes.len() > MAX_IMAGE_BYTES {
        return Err(StoreError::Invalid {
            field: "image",
            message: format!(
                "a stored image must be 1 to {MAX_IMAGE_BYTES} bytes (got {})",
                image.bytes.len()
            ),
        });
    }
    Ok(())
}

pub(crate) fn check_thumbnail(thumbnail: &[u8]) -> Result<(), StoreError> {
    if thumbnail.is_empty() || thumbnail.len() > MAX_THUMBNAIL_BYTES {
        return Err(StoreError::Invalid {
            field: "thumbnail",
            message: format!(
                "a thumbnail must be 1 to {MAX_THUMBNAIL_BYTES} bytes (got {})",
                thumbnail.len()
            ),
        });
    }
    Ok(())
}

impl FaceTables<'_> {
    /// Counts one more face of `image`, storing the bytes on the first.
    pub(crate) fn add_image_ref(
        &mut self,
        prefix: &str,
        image: &ImageBlob,
    ) -> Result<(), StoreError> {
        let key = format!("{prefix}{}", image.sha256);
        let count = self
            .image_refs
            .get(key.as_str())
            .map_err(storage)?
            .map_or(0, |v| v.value());
        if count == 0 {
            self.images
                .insert(key.as_str(), image.bytes())
                .map_err(storage)?;
        }
        self.image_refs
            .insert(key.as_str(), count + 1)
            .map_err(storage)?;
        Ok(())
    }

    /// Counts one face fewer of the image `sha`, deleting the bytes with
    /// the last.
    pub(crate) fn release_image_ref(&mut self, prefix: &str, sha: &str) -> Result<(), StoreError> {
        let key = format!("{prefix}{sha}");
        let count = self
            .image_refs
            .get(key.as_str())
            .map_err(storage)?
            .map_or(0, |v| v.value());
        if count <= 1 {
            self.image_refs.remove(key.as_str()).map_err(storage)?;
            self.images.remove(key.as_str()).map_err(storage)?;
        } else {
            self.image_refs
                .insert(key.as_str(), count - 1)
                .map_err(storage)?;
        }
        Ok(())
    }
}

impl Store {
    /// The original image a face was stored from, when it was kept.
    pub fn face_image(
        &self,
        account: &str,
        collection: &str,
        face_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let faces = tx.open_table(FACES).map_err(storage)?;
        let prefix = face_prefix(account, collection);
        let Some(sha) = faces
            .get(format!("{prefix}{face_id}").as_str())
            .map_err(storage)?
            .map(|v| decode_header(v.value()))
            .transpose()?
            .and_then(|face| face.image_sha256)
        else {
            return Ok(None);
        };
        let images = tx.open_table(IMAGES).map_err(storage)?;
        Ok(images
            .get(format!("{prefix}{sha}").as_str())
            .map_err(storage)?
            .map(|v| v.value().to_vec()))
    }

    /// The thumbnail stored with a face, if any.
    pub fn face_thumbnail(
        &self,
        account: &str,
        collection: &str,
        face_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let thumbnails = tx.open_table(THUMBNAILS).map_err(storage)?;
        let key = format!("{}{face_id}", face_prefix(account, collection));
        Ok(thumbnails
            .get(key.as_str())
            .map_err(storage)?
            .map(|v| v.value().to_vec()))
    }
}
