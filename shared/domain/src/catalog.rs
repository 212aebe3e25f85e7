//! The venue's pair catalog as the store keeps it: the indexer refreshes it from the venue
//! ([`CatalogSource`]) into the store ([`CatalogStore`]) with the time it was fetched, and the
//! signal API, the bot and the worker read it from there (with a short in-process cache in
//! front), so every instance judges pairs and market hours by the same, recent copy.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::market::PairCatalog;
use crate::time::Timestamp;

/// A catalog and when it was read from the venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCatalog {
    pub catalog: PairCatalog,
    pub fetched_at: Timestamp,
}

/// Where the catalog is kept (one item).
#[async_trait]
pub trait CatalogStore: Send + Sync {
    async fn get_catalog(&self) -> DomainResult<Option<StoredCatalog>>;
    /// Replaces the stored catalog unless the stored one was fetched later (two refreshes that
    /// overlap leave the newer one).
    async fn put_catalog(&self, c: &StoredCatalog) -> DomainResult<()>;
}

/// Reads the catalog from the venue itself (`/v2/trading`, fresh on every call).
#[async_trait]
pub trait CatalogSource: Send + Sync {
    async fn fetch_catalog(&self) -> DomainResult<PairCatalog>;
}

/// [`CatalogStore`] in memory (tests, the local runner).
#[derive(Default)]
pub struct MemoryCatalogStore(Mutex<Option<StoredCatalog>>);

impl MemoryCatalogStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CatalogStore for MemoryCatalogStore {
    async fn get_catalog(&self) -> DomainResult<Option<StoredCatalog>> {
        Ok(self.0.lock().map_err(|_| DomainError::Internal("in-memory lock poisoned".into()))?.clone())
    }
    async fn put_catalog(&self, c: &StoredCatalog) -> DomainResult<()> {
        let mut g = self.0.lock().map_err(|_| DomainError::Internal("in-memory lock poisoned".into()))?;
        if g.as_ref().is_none_or(|old| old.fetched_at <= c.fetched_at) {
            *g = Some(c.clone());
        }
        Ok(())
    }
}

/// A fixed catalog as a [`CatalogSource`] (the local runner's demo pairs, tests).
pub struct StaticCatalog(pub Arc<PairCatalog>);

#[async_trait]
impl CatalogSource for StaticCatalog {
    async fn fetch_catalog(&self) -> DomainResult<PairCatalog> {
        Ok(self.0.as_ref().clone())
    }
}
