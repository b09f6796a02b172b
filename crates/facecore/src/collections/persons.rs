//! Persons and the faces of a collection as records: create, rename,
//! merge, list and delete them. Every write that removes faces holds the
//! collection's write lock from the store commit to the index update, so a
//! search never returns a face that is no longer stored.

use facecore_store::collections::validate_collection_id;
use facecore_store::index::VectorIndex;
use facecore_store::{
    FacePage, NewPerson, Person, PersonChange, PersonPage, Removed, StoreError, StoredFace,
};

use super::{Collections, poisoned};
use crate::Error;

impl Collections {
    /// Creates a person; [`StoreError::PersonExists`] when another person of
    /// the collection has the name (in any case).
    pub fn create_person(
        &self,
        account: &str,
        collection: &str,
        person: NewPerson,
    ) -> Result<Person, Error> {
        validate_collection_id(collection)?;
        Ok(self.store.create_person(account, collection, person)?)
    }

    /// One person by id; [`StoreError::PersonNotFound`] when the collection
    /// has none of that id ([`StoreError::CollectionNotFound`] first).
    pub fn person(
        &self,
        account: &str,
        collection: &str,
        person_id: &str,
    ) -> Result<Person, Error> {
        self.get(account, collection)?;
        self.store
            .person(account, collection, person_id)?
            .ok_or_else(|| Error::Store(StoreError::PersonNotFound(person_id.to_string())))
    }

    /// The person of a name (in any case), if the collection has one.
    pub fn person_by_name(
        &self,
        account: &str,
        collection: &str,
        name: &str,
    ) -> Result<Option<Person>, Error> {
        self.get(account, collection)?;
        Ok(self.store.person_by_name(account, collection, name)?)
    }

    /// `limit` persons from the `offset`-th, ordered by id, with the total.
    pub fn list_persons(
        &self,
        account: &str,
        collection: &str,
        offset: u64,
        limit: usize,
    ) -> Result<PersonPage, Error> {
        validate_collection_id(collection)?;
        Ok(self
            .store
            .list_persons(account, collection, offset, limit)?)
    }

    /// Renames a person and/or replaces its metadata.
    pub fn update_person(
        &self,
        account: &str,
        collection: &str,
        person_id: &str,
        change: PersonChange,
    ) -> Result<Person, Error> {
        validate_collection_id(collection)?;
        Ok(self
            .store
            .update_person(account, collection, person_id, change)?)
    }

    /// Moves every face of person `from` to `into` and deletes `from`.
    /// Search is unaffected: the faces and their embeddings stay.
    pub fn merge_persons(
        &self,
        account: &str,
        collection: &str,
        from: &str,
        into: &str,
    ) -> Result<Person, Error> {
        validate_collection_id(collection)?;
        Ok(self.store.merge_persons(account, collection, from, into)?)
    }

    /// Runs a store write that removes faces under the collection's write
    /// lock and takes the removed faces out of its index.
    fn removing<T>(
        &self,
        account: &str,
        collection: &str,
        write: impl FnOnce() -> Result<T, StoreError>,
        removed: impl Fn(&T) -> Vec<&str>,
    ) -> Result<T, Error> {
        validate_collection_id(collection)?;
        let shared = self.existing(account, collection)?;
        let mut loaded = shared.write().map_err(poisoned)?;
        let out = write()?;
        for face_id in removed(&out) {
            loaded.index.remove(face_id);
        }
        Ok(out)
    }

    /// Deletes a person with every face (and stored image and thumbnail)
    /// of it.
    pub fn delete_person(
        &self,
        account: &str,
        collection: &str,
        person_id: &str,
    ) -> Result<Removed, Error> {
        self.removing(
            account,
            collection,
            || self.store.delete_person(account, collection, person_id),
            |r| r.face_ids.iter().map(String::as_str).collect(),
        )
    }

    /// Deletes every face of a person and keeps the person; returns the
    /// deleted face ids.
    pub fn delete_person_faces(
        &self,
        account: &str,
        collection: &str,
        person_id: &str,
    ) -> Result<Vec<String>, Error> {
        self.removing(
            account,
            collection,
            || {
                self.store
                    .delete_person_faces(account, collection, person_id)
            },
            |ids| ids.iter().map(String::as_str).collect(),
        )
    }

    /// Deletes every person and face of the collection and keeps the
    /// collection.
    pub fn clear(&self, account: &str, collection: &str) -> Result<Removed, Error> {
        self.removing(
            account,
            collection,
            || self.store.clear_collection(account, collection),
            |r| r.face_ids.iter().map(String::as_str).collect(),
        )
    }

    /// Deletes the faces of `face_ids` that exist (others are ignored) and
    /// returns them; with `drop_empty_persons` a person left without faces
    /// goes too.
    pub fn delete_faces(
        &self,
        account: &str,
        collection: &str,
        face_ids: &[&str],
        drop_empty_persons: bool,
    ) -> Result<Vec<StoredFace>, Error> {
        self.removing(
            account,
            collection,
            || {
                self.store
                    .delete_faces(account, collection, face_ids, drop_empty_persons)
            },
            |faces| faces.iter().map(|f| f.face_id.as_str()).collect(),
        )
    }

    /// Deletes one face of a person, which stays even without faces; a
    /// face of another person or of none is [`StoreError::FaceNotFound`].
    pub fn delete_person_face(
        &self,
        account: &str,
        collection: &str,
        person_id: &str,
        face_id: &str,
    ) -> Result<StoredFace, Error> {
        self.removing(
            account,
            collection,
            || {
                self.store
                    .delete_person_face(account, collection, person_id, face_id)
            },
            |face| vec![face.face_id.as_str()],
        )
    }

    /// Checks a person before inference is spent on its photos: its name
    /// and metadata valid and the name free in the collection (which must
    /// exist). The store checks again when the person is written.
    pub fn check_new_person(
        &self,
        account: &str,
        collection: &str,
        person: &NewPerson,
    ) -> Result<(), Error> {
        if let Some(name) = &person.name {
            facecore_store::persons::validate_person_name(name)?;
        }
        facecore_store::persons::validate_metadata(&person.metadata)?;
        self.get(account, collection)?;
        if let Some(name) = &person.name
            && self
                .store
                .person_by_name(account, collection, name)?
                .is_some()
        {
            return Err(Error::Store(StoreError::PersonExists(name.clone())));
        }
        Ok(())
    }

    /// `limit` faces from the `offset`-th, ordered by id, of the collection
    /// or of one person, without embeddings.
    pub fn list_faces(
        &self,
        account: &str,
        collection: &str,
        person_id: Option<&str>,
        offset: u64,
        limit: usize,
    ) -> Result<FacePage, Error> {
        validate_collection_id(collection)?;
        Ok(self
            .store
            .list_faces(account, collection, person_id, offset, limit)?)
    }

    /// One stored face with its embedding; [`StoreError::FaceNotFound`].
    pub fn stored_face(
        &self,
        account: &str,
        collection: &str,
        face_id: &str,
    ) -> Result<StoredFace, Error> {
        self.get(account, collection)?;
        self.store
            .face(account, collection, face_id)?
            .ok_or_else(|| Error::Store(StoreError::FaceNotFound(face_id.to_string())))
    }

    /// The original image a face was stored from, when it was kept.
    pub fn face_image(
        &self,
        account: &str,
        collection: &str,
        face_id: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        validate_collection_id(collection)?;
        Ok(self.store.face_image(account, collection, face_id)?)
    }

    /// The thumbnail stored with a face, if any.
    pub fn face_thumbnail(
        &self,
        account: &str,
        collection: &str,
        face_id: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        validate_collection_id(collection)?;
        Ok(self.store.face_thumbnail(account, collection, face_id)?)
    }
}
