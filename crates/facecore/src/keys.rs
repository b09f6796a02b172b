//! Resolving credentials to accounts: API keys through a small cache in
//! front of the store, and the subjects of already verified bearer tokens.
//!
//! Every dialect authenticates through [`Keys`]; how a credential travels
//! (an `Authorization` header, `x-api-key`, a URL) is the dialect's concern,
//! and so is verifying a token's signature.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use facecore_store::{Account, AuthError, Identity, Store};
use sha2::Digest as _;

use crate::Error;

/// Most keys cached at once; beyond it the cache starts over.
const CACHE_LIMIT: usize = 10_000;

/// Resolves API keys and token subjects to active accounts.
///
/// A busy client should not cost a store read per request, so successful
/// look-ups are cached, keyed by the SHA-256 of the presented key (never the
/// key itself). Entries are trusted only while the store's generation is
/// unchanged: any write (a revoked key, a disabled account) empties the
/// cache for the very next request.
#[derive(Debug)]
pub struct Keys {
    store: Arc<Store>,
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    generation: u64,
    identities: HashMap<[u8; 32], Identity>,
}

impl Keys {
    /// Resolves credentials against `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The active account of account key `key`; [`AuthError::InvalidKey`]
    /// for an unknown or revoked key, [`AuthError::AccountDisabled`] or
    /// [`AuthError::AccountNotFound`] when the key is valid but its account
    /// is not usable, and [`Error::ServiceKey`] for the key of a service
    /// (which only the CompreFace dialect takes: a recognition key must not
    /// reach the account's other collections). The store compares keys by
    /// hash in constant time.
    pub fn authenticate(&self, key: &str) -> Result<Account, Error> {
        let identity = self.identify(key)?;
        match identity.service {
            None => Ok(identity.account),
            Some(service) => Err(Error::ServiceKey {
                service: service.name,
                kind: service.kind.name(),
            }),
        }
    }

    /// Whom API key `key` speaks for: its active account and, for a
    /// service key, the service. Errors as [`Keys::authenticate`], without
    /// the refusal of service keys.
    pub fn identify(&self, key: &str) -> Result<Identity, Error> {
        let digest: [u8; 32] = sha2::Sha256::digest(key.as_bytes()).into();
        let generation = self.store.generation();
        if let Ok(cache) = self.cache.lock()
            && cache.generation == generation
            && let Some(identity) = cache.identities.get(&digest)
        {
            return Ok(identity.clone());
        }
        let identity = self.store.authenticate_identity(key)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.generation != generation || cache.identities.len() >= CACHE_LIMIT {
                cache.identities.clear();
                cache.generation = generation;
            }
            cache.identities.insert(digest, identity.clone());
        }
        Ok(identity)
    }

    /// The active account named `subject`, as a verified bearer token names
    /// it: [`AuthError::AccountDisabled`] or [`AuthError::AccountNotFound`]
    /// when it cannot be used.
    pub fn account_for_subject(&self, subject: &str) -> Result<Account, Error> {
        match self.store.account(subject)? {
            Some(account) if account.is_active() => Ok(account),
            Some(account) if account.disabled => {
                Err(AuthError::AccountDisabled(subject.to_string()).into())
            }
            _ => Err(AuthError::AccountNotFound(subject.to_string()).into()),
        }
    }
}
