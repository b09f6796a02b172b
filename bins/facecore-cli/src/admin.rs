//! `facecore keys ...`, `facecore accounts ...` and `facecore services ...`:
//! through the running server's admin socket when there is one, else
//! directly on the data file.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use facecore::store::admin::{self, AdminRequest, AdminResponse};
use facecore::store::{
    Account, KeyInfo, NewKey, NewService, Service, ServiceKind, time::format_utc,
};

/// Key management.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Make a key for an account (created when new); the key is printed once.
    Create {
        /// Owning account.
        #[arg(long)]
        account: String,
        /// A label to recognise the key by.
        #[arg(long)]
        label: Option<String>,
    },
    /// List keys (ids, accounts, dates; never secrets).
    List {
        /// Only this account's keys.
        #[arg(long)]
        account: Option<String>,
    },
    /// Revoke a key by id (or the whole key); it stops working at once.
    Revoke {
        /// Key id as `keys list` shows it, or the full key.
        id: String,
    },
}

/// Service management (CompreFace's recognition, detection and
/// verification services, each with its own keys).
#[derive(Debug, Subcommand)]
pub enum ServicesAction {
    /// Create a service and its first key (printed once; send it as
    /// `x-api-key`). A recognition service gets a collection of its own,
    /// named like it, unless `--collection` names one to use.
    Create {
        /// Owning account (created when new).
        #[arg(long)]
        account: String,
        /// recognition, detection or verification.
        #[arg(long = "type", value_parser = parse_kind)]
        kind: ServiceKind,
        /// Name, unique in the account.
        #[arg(long)]
        name: String,
        /// The collection a recognition service works on (created when
        /// missing; an existing one is shared, and kept when the service
        /// is deleted).
        #[arg(long)]
        collection: Option<String>,
    },
    /// Issue another key for a service.
    Key {
        /// Service id, as `services list` shows it.
        service: String,
    },
    /// List services.
    List {
        /// Only this account's services.
        #[arg(long)]
        account: Option<String>,
    },
    /// Delete a service: its keys stop working at once, and a collection
    /// created for it is deleted with every face and image in it.
    Delete {
        /// Service id, or name (with --account).
        id: String,
        /// The account, to find the service by name.
        #[arg(long)]
        account: Option<String>,
    },
}

fn parse_kind(text: &str) -> Result<ServiceKind, String> {
    text.parse()
        .map_err(|e: facecore::store::StoreError| e.to_string())
}

impl ServicesAction {
    fn request(&self) -> AdminRequest {
        match self {
            Self::Create {
                account,
                kind,
                name,
                collection,
            } => AdminRequest::CreateService {
                account: account.clone(),
                kind: *kind,
                name: name.clone(),
                collection: collection.clone(),
            },
            Self::Key { service } => AdminRequest::CreateServiceKey {
                service: service.clone(),
            },
            Self::List { account } => AdminRequest::ListServices {
                account: account.clone(),
            },
            Self::Delete { id, account } => AdminRequest::DeleteService {
                account: account.clone(),
                id: id.clone(),
            },
        }
    }
}

/// Runs a services command and prints its result.
pub fn services(action: &ServicesAction, data_dir: &Path) -> Result<()> {
    let value = execute(&action.request(), data_dir)?;
    match action {
        ServicesAction::Create { .. } => {
            let made: NewService = serde_json::from_value(value)?;
            let s = &made.service;
            let collection = match (&s.collection, s.owns_collection) {
                (Some(c), true) => format!(" on its new collection '{c}'"),
                (Some(c), false) => format!(" on the existing collection '{c}'"),
                (None, _) => String::new(),
            };
            println!(
                "Created {} service {} '{}' of account '{}'{collection}. Its key is shown only now:\n\n    {}\n\nSend it as `x-api-key: {}` to /api/v1/{}/...",
                s.kind.name(),
                s.service_id,
                s.name,
                s.account,
                made.key.secret,
                made.key.secret,
                s.kind.name()
            );
        }
        ServicesAction::Key { .. } => {
            let key: NewKey = serde_json::from_value(value)?;
            println!(
                "Created key {} for service {}. It is shown only now:\n\n    {}",
                key.info.id,
                key.info.service.unwrap_or_default(),
                key.secret
            );
        }
        ServicesAction::List { .. } => {
            let services: Vec<Service> = serde_json::from_value(value)?;
            println!(
                "{:<17} {:<13} {:<24} {:<22} {:<24} name",
                "id", "type", "account", "created", "collection"
            );
            for s in services {
                println!(
                    "{:<17} {:<13} {:<24} {:<22} {:<24} {}",
                    s.service_id,
                    s.kind.name(),
                    s.account,
                    format_utc(s.created_at),
                    s.collection.unwrap_or_else(|| "-".into()),
                    s.name
                );
            }
        }
        ServicesAction::Delete { .. } => {
            let s: Service = serde_json::from_value(value)?;
            let collection = match (&s.collection, s.owns_collection) {
                (Some(c), true) => format!("; its collection '{c}' was deleted"),
                (Some(c), false) => format!("; the shared collection '{c}' was kept"),
                (None, _) => String::new(),
            };
            println!(
                "Deleted {} service {} '{}' of account '{}': its keys no longer work{collection}.",
                s.kind.name(),
                s.service_id,
                s.name,
                s.account
            );
        }
    }
    Ok(())
}

/// Account management.
#[derive(Debug, Subcommand)]
pub enum AccountsAction {
    /// Create an account without a key.
    Create {
        /// Account name: 1 to 64 of A-Z a-z 0-9 . _ -
        name: String,
    },
    /// List accounts.
    List,
    /// Disable an account: its keys are refused with 403 until enabled.
    Disable {
        /// Account name.
        name: String,
    },
    /// Enable a disabled account.
    Enable {
        /// Account name.
        name: String,
    },
    /// Delete an account; its keys are refused with 403 and the name is never reused.
    Delete {
        /// Account name.
        name: String,
    },
}

impl KeysAction {
    fn request(&self) -> AdminRequest {
        match self {
            Self::Create { account, label } => AdminRequest::CreateKey {
                account: account.clone(),
                label: label.clone(),
            },
            Self::List { account } => AdminRequest::ListKeys {
                account: account.clone(),
            },
            Self::Revoke { id } => AdminRequest::RevokeKey { id: id.clone() },
        }
    }
}

impl AccountsAction {
    fn request(&self) -> AdminRequest {
        match self {
            Self::Create { name } => AdminRequest::CreateAccount { name: name.clone() },
            Self::List => AdminRequest::ListAccounts,
            Self::Disable { name } => AdminRequest::SetAccountDisabled {
                name: name.clone(),
                disabled: true,
            },
            Self::Enable { name } => AdminRequest::SetAccountDisabled {
                name: name.clone(),
                disabled: false,
            },
            Self::Delete { name } => AdminRequest::DeleteAccount { name: name.clone() },
        }
    }
}

/// Runs a keys command and prints its result.
pub fn keys(action: &KeysAction, data_dir: &Path) -> Result<()> {
    let value = execute(&action.request(), data_dir)?;
    match action {
        KeysAction::Create { .. } => {
            let key: NewKey = serde_json::from_value(value)?;
            println!(
                "Created key {} for account '{}'. It is shown only now:\n\n    {}\n\nUse it as `Authorization: ApiKey {}`.",
                key.info.id, key.info.account, key.secret, key.secret
            );
        }
        KeysAction::List { .. } => {
            let keys: Vec<KeyInfo> = serde_json::from_value(value)?;
            println!(
                "{:<14} {:<24} {:<22} {:<22} {:<17} label",
                "id", "account", "created", "revoked", "service"
            );
            for k in keys {
                println!(
                    "{:<14} {:<24} {:<22} {:<22} {:<17} {}",
                    k.id,
                    k.account,
                    format_utc(k.created_at),
                    k.revoked_at.map_or_else(|| "-".to_string(), format_utc),
                    k.service.unwrap_or_else(|| "-".into()),
                    k.label.unwrap_or_default()
                );
            }
        }
        KeysAction::Revoke { .. } => {
            let k: KeyInfo = serde_json::from_value(value)?;
            println!("Revoked key {} of account '{}'.", k.id, k.account);
        }
    }
    Ok(())
}

/// Runs an accounts command and prints its result.
pub fn accounts(action: &AccountsAction, data_dir: &Path) -> Result<()> {
    let value = execute(&action.request(), data_dir)?;
    let print = |a: &Account| {
        let state = if a.deleted_at.is_some() {
            "deleted"
        } else if a.disabled {
            "disabled"
        } else {
            "active"
        };
        println!("{:<24} {:<9} {}", a.name, state, format_utc(a.created_at));
    };
    if let AccountsAction::List = action {
        let accounts: Vec<Account> = serde_json::from_value(value)?;
        println!("{:<24} {:<9} created", "account", "state");
        accounts.iter().for_each(print);
    } else {
        print(&serde_json::from_value(value)?);
    }
    Ok(())
}

/// Sends the request to the running server's admin socket, or, when no
/// server is running, opens the data file itself.
fn execute(request: &AdminRequest, data_dir: &Path) -> Result<serde_json::Value> {
    let socket = data_dir.join(admin::SOCKET_NAME);
    match std::os::unix::net::UnixStream::connect(&socket) {
        Ok(stream) => via_socket(stream, request, &socket),
        Err(_) => {
            let creates = matches!(
                request,
                AdminRequest::CreateKey { .. }
                    | AdminRequest::CreateAccount { .. }
                    | AdminRequest::CreateService { .. }
            );
            let store = crate::collections::open_store(data_dir, creates)?;
            Ok(admin::execute(&store, request)?)
        }
    }
}

fn via_socket(
    mut stream: std::os::unix::net::UnixStream,
    request: &AdminRequest,
    socket: &Path,
) -> Result<serde_json::Value> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let line = serde_json::to_string(request)?;
    writeln!(stream, "{line}").with_context(|| format!("writing to {}", socket.display()))?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .with_context(|| format!("reading from {}", socket.display()))?;
    match serde_json::from_str::<AdminResponse>(&answer)
        .with_context(|| format!("unexpected answer from the server: {answer:?}"))?
    {
        AdminResponse::Ok(value) => Ok(value),
        AdminResponse::Error(message) => Err(anyhow!(message)),
    }
}
