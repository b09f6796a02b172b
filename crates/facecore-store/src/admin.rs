//! Administrative operations on accounts, keys and services, as data.
//!
//! The server runs these for the CLI over its local admin socket (the data file
//! can only be open in one process), and the CLI runs them directly on the file
//! when no server holds it. Both paths go through [`execute`], so they behave
//! the same. The wire format is one JSON [`AdminRequest`] per line, answered by
//! one JSON [`AdminResponse`] per line.

use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// File name of the admin socket inside the server's data directory.
pub const SOCKET_NAME: &str = "admin.sock";

/// One administrative operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminRequest {
    /// Issue a key (creating the account when needed).
    CreateKey {
        /// Owning account.
        account: String,
        /// Optional label.
        #[serde(default)]
        label: Option<String>,
    },
    /// List keys, optionally of one account.
    ListKeys {
        /// Only this account's keys.
        #[serde(default)]
        account: Option<String>,
    },
    /// Revoke a key by id or by the whole key.
    RevokeKey {
        /// Key id (or the full key).
        id: String,
    },
    /// Create an account without a key.
    CreateAccount {
        /// Account name.
        name: String,
    },
    /// List accounts.
    ListAccounts,
    /// Disable (`true`) or re-enable (`false`) an account.
    SetAccountDisabled {
        /// Account name.
        name: String,
        /// New state.
        disabled: bool,
    },
    /// Delete an account (its name is never reused).
    DeleteAccount {
        /// Account name.
        name: String,
    },
    /// Create a service with its first key (creating the account when
    /// needed).
    CreateService {
        /// Owning account.
        account: String,
        /// Its kind.
        kind: crate::ServiceKind,
        /// Its name, unique in the account.
        name: String,
        /// A recognition service's collection (default: one named like the
        /// service, created for it).
        #[serde(default)]
        collection: Option<String>,
    },
    /// Issue another key for a service.
    CreateServiceKey {
        /// Service id.
        service: String,
    },
    /// List services, optionally of one account.
    ListServices {
        /// Only this account's services.
        #[serde(default)]
        account: Option<String>,
    },
    /// Delete a service: its keys are revoked, a collection made for it is
    /// deleted.
    DeleteService {
        /// The account, to find a service by name.
        #[serde(default)]
        account: Option<String>,
        /// Service id, or name within the account.
        id: String,
    },
}

/// The answer to an [`AdminRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminResponse {
    /// Success, with the operation's result as JSON (a key, a list, ...).
    Ok(serde_json::Value),
    /// Failure, with the store's message.
    Error(String),
}

/// Runs one request against a store.
pub fn execute(store: &Store, request: &AdminRequest) -> Result<serde_json::Value, StoreError> {
    fn json<T: Serialize>(value: T) -> Result<serde_json::Value, StoreError> {
        serde_json::to_value(value).map_err(|e| StoreError::Storage(e.to_string()))
    }
    match request {
        AdminRequest::CreateKey { account, label } => {
            json(store.create_key(account, label.as_deref())?)
        }
        AdminRequest::ListKeys { account } => json(store.list_keys(account.as_deref())?),
        AdminRequest::RevokeKey { id } => json(store.revoke_key(id)?),
        AdminRequest::CreateAccount { name } => json(store.create_account(name)?),
        AdminRequest::ListAccounts => json(store.list_accounts()?),
        AdminRequest::SetAccountDisabled { name, disabled } => {
            json(store.set_account_disabled(name, *disabled)?)
        }
        AdminRequest::DeleteAccount { name } => json(store.delete_account(name)?),
        AdminRequest::CreateService {
            account,
            kind,
            name,
            collection,
        } => json(store.create_service(account, *kind, name, collection.as_deref())?),
        AdminRequest::CreateServiceKey { service } => json(store.create_key_for_service(service)?),
        AdminRequest::ListServices { account } => json(store.list_services(account.as_deref())?),
        AdminRequest::DeleteService { account, id } => {
            json(store.delete_service(account.as_deref(), id)?)
        }
    }
}

/// Parses one request line and runs it, never failing: errors become
/// [`AdminResponse::Error`].
pub fn handle_line(store: &Store, line: &str) -> AdminResponse {
    match serde_json::from_str::<AdminRequest>(line) {
        Ok(request) => match execute(store, &request) {
            Ok(value) => AdminResponse::Ok(value),
            Err(e) => AdminResponse::Error(e.to_string()),
        },
        Err(e) => AdminResponse::Error(format!("bad admin request: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_through_the_store() {
        let dir = tempfile::tempdir().expect("temp");
        let store = Store::open(dir.path().join("db.redb")).expect("open");
        let created = handle_line(&store, r#"{"op":"create_key","account":"acme"}"#);
        let AdminResponse::Ok(value) = created else {
            panic!("create failed: {created:?}");
        };
        let secret = value["secret"].as_str().expect("secret").to_string();
        assert_eq!(store.authenticate(&secret).expect("valid").name, "acme");
        let id = value["info"]["id"].as_str().expect("id");
        let revoke = format!(r#"{{"op":"revoke_key","id":"{id}"}}"#);
        assert!(matches!(handle_line(&store, &revoke), AdminResponse::Ok(_)));
        assert!(store.authenticate(&secret).is_err());
        assert!(matches!(
            handle_line(&store, r#"{"op":"drop_tables"}"#),
            AdminResponse::Error(_)
        ));
        assert!(matches!(
            handle_line(&store, r#"{"op":"delete_account","name":"nobody"}"#),
            AdminResponse::Error(m) if m.contains("does not exist")
        ));
        let created = handle_line(
            &store,
            r#"{"op":"create_service","account":"acme","kind":"recognition","name":"office"}"#,
        );
        let AdminResponse::Ok(value) = created else {
            panic!("create service failed: {created:?}");
        };
        let secret = value["key"]["secret"].as_str().expect("secret");
        let who = store.authenticate_identity(secret).expect("valid");
        assert_eq!(who.service.expect("service").name, "office");
        let AdminResponse::Ok(list) =
            handle_line(&store, r#"{"op":"list_services","account":"acme"}"#)
        else {
            panic!("list failed");
        };
        assert_eq!(list.as_array().map(Vec::len), Some(1));
        assert!(matches!(
            handle_line(&store, r#"{"op":"create_service","account":"acme","kind":"admin","name":"x"}"#),
            AdminResponse::Error(m) if m.contains("bad admin request")
        ));
        assert!(matches!(
            handle_line(
                &store,
                r#"{"op":"delete_service","account":"acme","id":"office"}"#
            ),
            AdminResponse::Ok(_)
        ));
        assert!(store.authenticate_identity(secret).is_err());
    }
}
