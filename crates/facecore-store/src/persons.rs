//! Persons: who a collection's faces belong to.
//!
//! A person lives in one collection of one account. It has an opaque id
//! (`person_` + 20 base32 characters), an optional name unique within the
//! collection (the CompreFace dialect calls it the *subject*), and free-form
//! string metadata. A face belongs to at most one person; faces of the Face
//! Recognition API belong to none.
//!
//! Three tables, all keyed under the collection's `account \0 collection \0`
//! prefix so that deleting a collection or an account drops them with it:
//! `persons` (`… \0 person_id` → JSON), `person_names` (`… \0 folded
//! name` → person id, which keeps names unique) and `person_faces`
//! (`… \0 person_id \0 face_id`, which lists a person's faces without
//! scanning the collection).

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::collections::{collection_key, face_prefix, prefix_end, read_collection};
use crate::faces::FaceTables;
use crate::{Store, StoreError, random_base32, storage, time};

pub(crate) const PERSONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("persons");
pub(crate) const PERSON_NAMES: TableDefinition<'_, &str, &str> =
    TableDefinition::new("person_names");
pub(crate) const PERSON_FACES: TableDefinition<'_, &str, ()> = TableDefinition::new("person_faces");

/// Prefix of person ids.
pub const PERSON_ID_PREFIX: &str = "person_";
/// Longest person name, in characters.
pub const MAX_PERSON_NAME_LEN: usize = 512;
/// Most metadata entries per person.
pub const MAX_METADATA_ENTRIES: usize = 64;
/// Longest metadata key, in characters.
pub const MAX_METADATA_KEY_LEN: usize = 128;
/// Longest metadata value, in characters.
pub const MAX_METADATA_VALUE_LEN: usize = 2048;

/// The key a name is unique under: names differ only if they differ after
/// Unicode lower-casing (`Ann` and `ANN` are one name, as CompreFace's
/// subjects are), and nothing else is changed: no trimming, no
/// normalisation of white space.
fn name_key(prefix: &str, name: &str) -> String {
    format!("{prefix}{}", name.to_lowercase())
}

/// A person of a collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Opaque unique id, `person_` + 20 base32 characters.
    pub person_id: String,
    /// Name, unique within the collection when present (ignoring case),
    /// kept as it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-form string metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Last change of name or metadata, Unix seconds.
    pub updated_at: u64,
    /// Faces that belong to this person.
    pub face_count: u64,
}

/// A person to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPerson {
    /// Name, unique within the collection when present.
    pub name: Option<String>,
    /// Free-form string metadata.
    pub metadata: BTreeMap<String, String>,
}

/// A change to a person; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonChange {
    /// The new name.
    pub name: Option<String>,
    /// The new metadata, replacing the old as a whole.
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Whom a new face belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonRef {
    /// An existing person, by id ([`StoreError::PersonNotFound`] otherwise).
    Id(String),
    /// The person of this name, created (with no metadata) in the same
    /// transaction when the collection has none.
    Named(String),
}

/// A page of a collection's persons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonPage {
    /// The persons of the page, ordered by id.
    pub persons: Vec<Person>,
    /// Persons in the collection.
    pub total: u64,
}

/// What deleting persons removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// Persons deleted.
    pub persons: u64,
    /// Ids of the faces deleted with them.
    pub face_ids: Vec<String>,
}

/// Checks a person name: 1..=512 characters, no control characters, not
/// only white space.
pub fn validate_person_name(name: &str) -> Result<(), StoreError> {
    let len = name.chars().count();
    if len == 0
        || len > MAX_PERSON_NAME_LEN
        || name.chars().any(char::is_control)
        || name.trim().is_empty()
    {
        return Err(StoreError::Invalid {
            field: "name",
            message: format!(
                "must be 1 to {MAX_PERSON_NAME_LEN} characters, not only white space, without \
                 control characters (got {len})"
            ),
        });
    }
    Ok(())
}

/// Checks metadata: at most 64 entries, keys of 1..=128 and values of at
/// most 2048 characters, no control characters in keys.
pub fn validate_metadata(metadata: &BTreeMap<String, String>) -> Result<(), StoreError> {
    let invalid = |message: String| StoreError::Invalid {
        field: "metadata",
        message,
    };
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(invalid(format!(
            "at most {MAX_METADATA_ENTRIES} entries (got {})",
            metadata.len()
        )));
    }
    for (key, value) in metadata {
        let len = key.chars().count();
        if len == 0 || len > MAX_METADATA_KEY_LEN || key.chars().any(char::is_control) {
            return Err(invalid(format!(
                "keys must be 1 to {MAX_METADATA_KEY_LEN} characters without control characters"
            )));
        }
        if value.chars().count() > MAX_METADATA_VALUE_LEN {
            return Err(invalid(format!(
                "the value of '{key}' is longer than {MAX_METADATA_VALUE_LEN} characters"
            )));
        }
    }
    Ok(())
}

/// Checks a person id's shape, so that a malformed id is a clear
/// "not found" rather than a key that could reach into another table.
pub(crate) fn check_person_id(id: &str) -> Result<(), StoreError> {
    let ok = id
        .strip_prefix(PERSON_ID_PREFIX)
        .is_some_and(|rest| rest.len() == 20 && rest.bytes().all(|b| crate::BASE32.contains(&b)));
    if ok {
        Ok(())
    } else {
        Err(StoreError::PersonNotFound(id.to_string()))
    }
}

pub(crate) fn decode_person(bytes: &[u8]) -> Result<Person, StoreError> {
    crate::decode("persons", bytes)
}

impl FaceTables<'_> {
    pub(crate) fn read_person(&self, prefix: &str, id: &str) -> Result<Option<Person>, StoreError> {
        match self
            .persons
            .get(format!("{prefix}{id}").as_str())
            .map_err(storage)?
        {
            Some(v) => Ok(Some(decode_person(v.value())?)),
            None => Ok(None),
        }
    }

    pub(crate) fn write_person(&mut self, prefix: &str, person: &Person) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(person).map_err(storage)?;
        self.persons
            .insert(
                format!("{prefix}{}", person.person_id).as_str(),
                bytes.as_slice(),
            )
            .map_err(storage)?;
        Ok(())
    }

    pub(crate) fn person_id_by_name(
        &self,
        prefix: &str,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .names
            .get(name_key(prefix, name).as_str())
            .map_err(storage)?
            .map(|v| v.value().to_string()))
    }

    /// Creates a person in the collection at `prefix` (counted in
    /// `collection`); [`StoreError::PersonExists`] when the name is taken.
    pub(crate) fn insert_person(
        &mut self,
        prefix: &str,
        collection: &mut crate::Collection,
        new: NewPerson,
    ) -> Result<Person, StoreError> {
        if let Some(name) = &new.name {
            validate_person_name(name)?;
            if self.person_id_by_name(prefix, name)?.is_some() {
                return Err(StoreError::PersonExists(name.clone()));
            }
        }
        validate_metadata(&new.metadata)?;
        let now = time::now_unix();
        let person = Person {
            person_id: format!("{PERSON_ID_PREFIX}{}", random_base32(20)?),
            name: new.name,
            metadata: new.metadata,
            created_at: now,
            updated_at: now,
            face_count: 0,
        };
        if let Some(name) = &person.name {
            self.names
                .insert(name_key(prefix, name).as_str(), person.person_id.as_str())
                .map_err(storage)?;
        }
        self.write_person(prefix, &person)?;
        collection.person_count += 1;
        Ok(person)
    }

    /// The person a new face goes to, creating a named one when asked.
    pub(crate) fn resolve_person(
        &mut self,
        prefix: &str,
        collection: &mut crate::Collection,
        person: &PersonRef,
    ) -> Result<Person, StoreError> {
        match person {
            PersonRef::Id(id) => {
                check_person_id(id)?;
                self.read_person(prefix, id)?
                    .ok_or_else(|| StoreError::PersonNotFound(id.clone()))
            }
            PersonRef::Named(name) => match self.person_id_by_name(prefix, name)? {
                Some(id) => self
                    .read_person(prefix, &id)?
                    .ok_or_else(|| StoreError::Corrupt {
                        table: "person_names",
                        message: format!("name '{name}' points at missing person {id}"),
                    }),
                None => self.insert_person(
                    prefix,
                    collection,
                    NewPerson {
                        name: Some(name.clone()),
                        metadata: BTreeMap::new(),
                    },
                ),
            },
        }
    }

    /// The ids of a person's faces, in id order.
    pub(crate) fn person_face_ids(
        &self,
        prefix: &str,
        person_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let start = format!("{prefix}{person_id}\0");
        let end = prefix_end(&start);
        self.members
            .range(start.as_str()..end.as_str())
            .map_err(storage)?
            .map(|entry| {
                entry
                    .map(|(k, _)| k.value()[start.len()..].to_string())
                    .map_err(storage)
            })
            .collect()
    }

    /// Removes a person and all its faces.
    fn remove_person(
        &mut self,
        prefix: &str,
        collection: &mut crate::Collection,
        person: &Person,
        removed: &mut Removed,
    ) -> Result<(), StoreError> {
        for face_id in self.person_face_ids(prefix, &person.person_id)? {
            if self
                .remove_face(prefix, collection, &face_id, false)?
                .is_some()
            {
                removed.face_ids.push(face_id);
            }
        }
        self.persons
            .remove(format!("{prefix}{}", person.person_id).as_str())
            .map_err(storage)?;
        if let Some(name) = &person.name {
            self.names
                .remove(name_key(prefix, name).as_str())
                .map_err(storage)?;
        }
        collection.person_count = collection.person_count.saturating_sub(1);
        removed.persons += 1;
        Ok(())
    }

    /// Removes a person that just lost its last face, when asked to.
    pub(crate) fn drop_if_empty(
        &mut self,
        prefix: &str,
        collection: &mut crate::Collection,
        person_id: &str,
    ) -> Result<(), StoreError> {
        if let Some(person) = self.read_person(prefix, person_id)?
            && person.face_count == 0
        {
            self.remove_person(prefix, collection, &person, &mut Removed::default())?;
        }
        Ok(())
    }
}

impl Store {
    /// Creates a person in a collection; [`StoreError::CollectionNotFound`]
    /// or [`StoreError::PersonExists`] (the name is taken).
    pub fn create_person(
        &self,
        account: &str,
        collection: &str,
        person: NewPerson,
    ) -> Result<Person, StoreError> {
        self.write_collection_tables(account, collection, None, |tables, prefix, c| {
            tables.insert_person(prefix, c, person)
        })
    }

    /// Creates a person and stores `faces` as its faces, in one transaction
    /// (committed before returning): either the person exists with every
    /// face or nothing was written. Returns the person as stored (with its
    /// face count) and the faces in order. [`StoreError::CollectionNotFound`]
    /// (also when the collection is not `incarnation`),
    /// [`StoreError::PersonExists`] when the name is taken; the faces'
    /// own `person` is ignored.
    pub fn create_person_with_faces(
        &self,
        account: &str,
        collection: &str,
        incarnation: Option<&str>,
        person: NewPerson,
        faces: Vec<crate::NewFace>,
    ) -> Result<(Person, Vec<crate::StoredFace>), StoreError> {
        for face in &faces {
            if let Some(image) = &face.image {
                crate::media::check_image(image)?;
            }
        }
        self.write_collection_tables(account, collection, incarnation, |tables, prefix, c| {
            let created = tables.insert_person(prefix, c, person)?;
            let owner = PersonRef::Id(created.person_id.clone());
            let stored = faces
                .into_iter()
                .map(|mut face| {
                    face.person = Some(owner.clone());
                    tables.store_face(prefix, c, face)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let person = tables
                .read_person(prefix, &created.person_id)?
                .ok_or_else(|| StoreError::Storage("the new person was not stored".into()))?;
            Ok((person, stored))
        })
    }

    /// A person of the collection by id.
    pub fn person(
        &self,
        account: &str,
        collection: &str,
        person_id: &str,
    ) -> Result<Option<Person>, StoreError> {
        if check_person_id(person_id).is_err() {
            return Ok(None);
        }
        let tx = self.db.begin_read().map_err(storage)?;
        let persons = tx.open_table(PERSONS).map_err(storage)?;
        let key = format!("{}{person_id}", face_prefix(account, collection));
        match persons.get(key.as_str()).map_err(storage)? {
            Some(v) => Ok(Some(decode_person(v.value())?)),
            None => Ok(None),
        }
    }

    /// A person of the collection by name, in any case.
    pub fn person_by_name(
        &self,
        account: &str,
        collection: &str,
        name: &str,
    ) -> Result<Option<Person>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let names = tx.open_table(PERSON_NAMES).map_err(storage)?;
        let prefix = face_prefix(account, collection);
        let Some(id) = names
            .get(name_key(&prefix, name).as_str())
            .map_err(storage)?
            .map(|v| v.value().to_string())
        else {
            return Ok(None);
        };
        let persons = tx.open_table(PERSONS).map_err(storage)?;
        match persons
            .get(format!("{prefix}{id}").as_str())
            .map_err(storage)?
        {
            Some(v) => Ok(Some(decode_person(v.value())?)),
            None => Ok(None),
        }
    }

    /// The person each of `face_ids` belongs to, in one snapshot, in order:
    /// `None` for a face with no person (or no longer stored).
    pub fn face_persons(
        &self,
        account: &str,
        collection: &str,
        face_ids: &[&str],
    ) -> Result<Vec<Option<Person>>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let faces = tx.open_table(crate::faces::FACES).map_err(storage)?;
        let persons = tx.open_table(PERSONS).map_err(storage)?;
        let prefix = face_prefix(account, collection);
        let mut seen: BTreeMap<String, Person> = BTreeMap::new();
        let mut out = Vec::with_capacity(face_ids.len());
        for face_id in face_ids {
            let person_id = match faces
                .get(format!("{prefix}{face_id}").as_str())
                .map_err(storage)?
            {
                Some(v) => crate::faces::decode_header(v.value())?.person_id,
                None => None,
            };
            let Some(person_id) = person_id else {
                out.push(None);
                continue;
            };
            if !seen.contains_key(&person_id) {
                match persons
                    .get(format!("{prefix}{person_id}").as_str())
                    .map_err(storage)?
                {
                    Some(v) => {
                        seen.insert(person_id.clone(), decode_person(v.value())?);
                    }
                    None => {
                        out.push(None);
                        continue;
                    }
                }
            }
            out.push(seen.get(&person_id).cloned());
        }
        Ok(out)
    }

    /// `limit` persons of the collection from the `offset`-th, ordered by
    /// id, with the collection's person count, in one snapshot;
    /// [`StoreError::CollectionNotFound`] when it does not exist.
    pub fn list_persons(
        &self,
        account: &str,
        collection: &str,
        offset: u64,
        limit: usize,
    ) -> Result<PersonPage, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let collections = tx
            .open_table(crate::collections::COLLECTIONS)
            .map_err(storage)?;
        let found = read_collection(&collections, &collection_key(account, collection))?
            .ok_or_else(|| StoreError::CollectionNotFound(collection.to_string()))?;
        let persons = tx.open_table(PERSONS).map_err(storage)?;
        let prefix = face_prefix(account, collection);
        let end = prefix_end(&prefix);
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let mut page = Vec::new();
        for entry in persons
            .range(prefix.as_str()..end.as_str())
            .map_err(storage)?
            .skip(skip)
            .take(limit)
        {
            let (_, value) = entry.map_err(storage)?;
            page.push(decode_person(value.value())?);
        }
        Ok(PersonPage {
            persons: page,
            total: found.person_count,
        })
    }

    /// Renames a person and/or replaces its metadata;
    /// [`StoreError::PersonNotFound`], or [`StoreError::PersonExists`] when
    /// another person has the new name.
    pub fn update_person(
        &self,
        account: &str,
        collection: &str,
        person_id: &str,
        change: PersonChange,
    ) -> Result<Person, StoreError> {
        check_person_id(person_id)?;
        if let Some(name) = &change.name {
            validate_person_name(name)?;
        }
        if let Some(metadata) = &change.metadata {
            validate_metadata(metadata)?;
        }
        self.write_collection_tables(account, collection, None, |tables, prefix, _| {
            let mut person = tables
                .read_person(prefix, person_id)?
                .ok_or_else(|| StoreError::PersonNotFound(person_id.to_string()))?;
            if let Some(name) = change.name {
                // Another person of this name (in any case) is a conflict;
                // this person's own name in another case is a respelling.
                if tables
                    .person_id_by_name(prefix, &name)?
                    .is_some_and(|holder| holder != person_id)
                {
                    return Err(StoreError::PersonExists(name));
                }
                if let Some(old) = &person.name {
                    tables
                        .names
                        .remove(name_key(prefix, old).as_str())
                        .map_err(storage)?;
                }
                tables
                    .names
                    .insert(name_key(prefix, &name).as_str(), person_id)
                    .map_err(storage)?;
                person.name = Some(name);
            }
            if let Some(metadata) = change.metadata {
                person.metadata = metadata;
            }
            person.updated_at = time::now_unix();
            tables.write_person(prefix, &person)?;
            Ok(person)
        })
    }

    /// Moves every face of person `from` to person `into` and deletes
    /// `from`, in one transaction; returns `into` as it now is. Both must
    /// exist ([`StoreError::PersonNotFound`]); merging a person into itself
    /// changes nothing.
    pub fn merge_persons(
        &self,
        account: &str,
        collection: &str,
        from: &str,
        into: &str,
    ) -> Result<Person, StoreError> {
        check_person_id(from)?;
        check_person_id(into)?;
        self.write_collection_tables(account, collection, None, |tables, prefix, c| {
            let source = tables
                .read_person(prefix, from)?
                .ok_or_else(|| StoreError::PersonNotFound(from.to_string()))?;
            let mut target = tables
                .read_person(prefix, into)?
                .ok_or_else(|| StoreError::PersonNotFound(into.to_string()))?;
            if from == into {
                return Ok(target);
            }
            for face_id in tables.person_face_ids(prefix, from)? {
                tables.reassign_face(prefix, &face_id, into)?;
                tables
                    .members
                    .remove(format!("{prefix}{from}\0{face_id}").as_str())
                    .map_err(storage)?;
                tables
                    .members
                    .insert(format!("{prefix}{into}\0{face_id}").as_str(), ())
                    .map_err(storage)?;
                target.face_count += 1;
            }
            target.updated_at = time::now_unix();
            tables.write_person(prefix, &target)?;
            let emptied = Person {
                face_count: 0,
                ..source
            };
            tables.remove_person(prefix, c, &emptied, &mut Removed::default())?;
            Ok(target)
        })
    }

    /// Deletes a person and every face (with its stored image and
    /// thumbnail) that belongs to it; [`StoreError::PersonNotFound`].
    pub fn delete_person(
        &self,
        account: &str,
        collection: &str,
        person_id: &str,
    ) -> Result<Removed, StoreError> {
        check_person_id(person_id)?;
        self.write_collection_tables(account, collection, None, |tables, prefix, c| {
            let person = tables
                .read_person(prefix, person_id)?
                .ok_or_else(|| StoreError::PersonNotFound(person_id.to_string()))?;
            let mut removed = Removed::default();
            tables.remove_person(prefix, c, &person, &mut removed)?;
            Ok(removed)
        })
    }

    /// Deletes every person of the collection and every face (persons' or
    /// not), with their images and thumbnails, in one transaction. The
    /// collection itself stays.
    pub fn clear_collection(&self, account: &str, collection: &str) -> Result<Removed, StoreError> {
        self.write_collection_tables(account, collection, None, |tables, prefix, c| {
            let removed = Removed {
                persons: c.person_count,
                face_ids: tables.face_ids(prefix)?,
            };
            tables.remove_collection_rows(prefix)?;
            c.person_count = 0;
            c.face_count = 0;
            Ok(removed)
        })
    }
}
