//! Services: CompreFace's unit of access. A service belongs to an account
//! and has a kind (recognition, detection or verification) and its own API
//! keys; a recognition service works on exactly one collection of the
//! account, which its keys are confined to. Detection and verification
//! services touch no collection at all.
//!
//! `services` maps the service id (`svc_` + 12 base32 characters) to its
//! JSON record; a key of a service names the service id in its record.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::accounts::validate_account_name;
use crate::collections::validate_collection_id;
use crate::{NewKey, Store, StoreError, decode, random_base32, storage, time};

pub(crate) const SERVICES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("services");

/// Prefix of service ids.
pub const SERVICE_ID_PREFIX: &str = "svc_";
/// Longest service name, in characters.
pub const MAX_SERVICE_NAME_LEN: usize = 64;

/// What a service's keys may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// Subjects, examples, recognition and verification against stored
    /// examples, in the service's one collection.
    Recognition,
    /// Face detection only.
    Detection,
    /// Comparison of two images (or embeddings) only.
    Verification,
}

impl ServiceKind {
    /// The kind's name as the CLI and CompreFace's messages write it
    /// (`recognition`, `detection`, `verification`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Recognition => "recognition",
            Self::Detection => "detection",
            Self::Verification => "verification",
        }
    }
}

impl std::str::FromStr for ServiceKind {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "recognition" => Ok(Self::Recognition),
            "detection" => Ok(Self::Detection),
            "verification" => Ok(Self::Verification),
            other => Err(StoreError::Invalid {
                field: "type",
                message: format!(
                    "'{other}' is not a service type: use recognition, detection or verification"
                ),
            }),
        }
    }
}

/// A service of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Opaque unique id, `svc_` + 12 base32 characters.
    pub service_id: String,
    /// The owning account.
    pub account: String,
    /// Name, unique among the account's services.
    pub name: String,
    /// What its keys may do.
    pub kind: ServiceKind,
    /// The collection of a recognition service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// Whether the collection was created for the service (and is deleted
    /// with it) rather than an existing one it was given.
    #[serde(default)]
    pub owns_collection: bool,
    /// Creation time, Unix seconds.
    pub created_at: u64,
}

/// A freshly created service with its first key (shown only now).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewService {
    /// The service.
    pub service: Service,
    /// Its key.
    pub key: NewKey,
}

fn validate_service_name(name: &str) -> Result<(), StoreError> {
    let len = name.chars().count();
    if len == 0 || len > MAX_SERVICE_NAME_LEN || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid {
            field: "name",
            message: format!(
                "a service name must be 1 to {MAX_SERVICE_NAME_LEN} characters without control \
                 characters (got {len})"
            ),
        });
    }
    Ok(())
}

fn read_services(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<Service>, StoreError> {
    let mut out = Vec::new();
    for entry in table.iter().map_err(storage)? {
        out.push(decode("services", entry.map_err(storage)?.1.value())?);
    }
    Ok(out)
}

impl Store {
    /// Creates a service of `kind` named `name` in `account` (created when
    /// new) and issues its first key. A recognition service works on
    /// `collection` (created when the account has no such collection) or,
    /// when none is given, on a new collection named like the service
    /// ([`StoreError::CollectionExists`] when that name is taken: give the
    /// collection explicitly to share it). Detection and verification
    /// services take no collection.
    pub fn create_service(
        &self,
        account: &str,
        kind: ServiceKind,
        name: &str,
        collection: Option<&str>,
    ) -> Result<NewService, StoreError> {
        validate_account_name(account)?;
        validate_service_name(name)?;
        if kind != ServiceKind::Recognition && collection.is_some() {
            return Err(StoreError::Invalid {
                field: "collection",
                message: format!("a {} service has no collection", kind.name()),
            });
        }
        if let Some(c) = collection {
            validate_collection_id(c)?;
        }
        if self
            .list_services(Some(account))?
            .iter()
            .any(|s| s.name == name)
        {
            return Err(StoreError::Invalid {
                field: "name",
                message: format!("account '{account}' already has a service named '{name}'"),
            });
        }
        let mut service = Service {
            service_id: format!("{SERVICE_ID_PREFIX}{}", random_base32(12)?),
            account: account.to_string(),
            name: name.to_string(),
            kind,
            collection: None,
            owns_collection: false,
            created_at: time::now_unix(),
        };
        // The key first: it creates the account (or refuses a deleted one).
        let key = self.create_service_key(account, &service.service_id, name)?;
        if kind == ServiceKind::Recognition {
            let id = collection.unwrap_or(name);
            service.owns_collection = match self.create_collection(account, id, None) {
                Ok(_) => true,
                Err(StoreError::CollectionExists(_)) if collection.is_some() => false,
                Err(e) => {
                    let _ = self.revoke_key(&key.info.id);
                    return Err(e);
                }
            };
            service.collection = Some(id.to_string());
        }
        let tx = self.db.begin_write().map_err(storage)?;
        {
            let mut table = tx.open_table(SERVICES).map_err(storage)?;
            let bytes = serde_json::to_vec(&service).map_err(storage)?;
            table
                .insert(service.service_id.as_str(), bytes.as_slice())
                .map_err(storage)?;
        }
        self.commit(tx)?;
        Ok(NewService { service, key })
    }

    /// Issues another key for a service.
    pub fn create_key_for_service(&self, service_id: &str) -> Result<NewKey, StoreError> {
        let service = self
            .service(service_id)?
            .ok_or_else(|| StoreError::ServiceNotFound(service_id.to_string()))?;
        self.create_service_key(&service.account, &service.service_id, &service.name)
    }

    /// One service by id.
    pub fn service(&self, service_id: &str) -> Result<Option<Service>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let table = tx.open_table(SERVICES).map_err(storage)?;
        match table.get(service_id).map_err(storage)? {
            Some(v) => Ok(Some(decode("services", v.value())?)),
            None => Ok(None),
        }
    }

    /// Services, ordered by id, optionally of one account.
    pub fn list_services(&self, account: Option<&str>) -> Result<Vec<Service>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let table = tx.open_table(SERVICES).map_err(storage)?;
        Ok(read_services(&table)?
            .into_iter()
            .filter(|s| account.is_none_or(|a| a == s.account))
            .collect())
    }

    /// Deletes a service (by id, or by name within `account`): its keys are
    /// revoked, and a collection created for it is deleted with all its
    /// persons, faces and images; a collection it was given stays.
    pub fn delete_service(
        &self,
        account: Option<&str>,
        id_or_name: &str,
    ) -> Result<Service, StoreError> {
        let service = self
            .list_services(account)?
            .into_iter()
            .find(|s| s.service_id == id_or_name || s.name == id_or_name)
            .ok_or_else(|| StoreError::ServiceNotFound(id_or_name.to_string()))?;
        for key in self.list_keys(Some(&service.account))? {
            if key.service.as_deref() == Some(service.service_id.as_str())
                && key.revoked_at.is_none()
            {
                self.revoke_key(&key.id)?;
            }
        }
        if service.owns_collection
            && let Some(collection) = &service.collection
        {
            self.delete_collection(&service.account, collection)?;
        }
        let tx = self.db.begin_write().map_err(storage)?;
        {
            let mut table = tx.open_table(SERVICES).map_err(storage)?;
            table.remove(service.service_id.as_str()).map_err(storage)?;
        }
        self.commit(tx)?;
        Ok(service)
    }
}
