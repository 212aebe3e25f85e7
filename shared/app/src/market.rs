//! The venue's pair catalog kept in the store: the indexer's refresh, and the check every open
//! passes (listed pair, market hours) against the same stored copy.

use std::sync::Arc;

use vanta_domain::DomainResult;
use vanta_domain::catalog::StoredCatalog;
use vanta_domain::market::{PairCatalog, PairInfo};
use vanta_domain::ports::Venue;

use crate::Deps;

/// What a refresh did, for the tick's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// No store or source configured here: nothing to do.
    NotConfigured,
    Stored {
        pairs: usize,
    },
    /// The venue could not be read or the store written; the stored copy ages (and opens stop
    /// once it is [`crate::signals::STORED_CATALOG_MAX_AGE`] old).
    Failed(String),
}

/// Reads the catalog from the venue and stores it with the time it was fetched. Never fails
/// the tick: a failure is logged and reported.
pub async fn refresh_catalog(deps: &Deps) -> Refresh {
    let Some((store, source)) = deps.pair_catalog.refresher() else { return Refresh::NotConfigured };
    let fetched_at = deps.clock.now();
    let result = async {
        let catalog = source.fetch_catalog().await?;
        let pairs = catalog.len();
        store.put_catalog(&StoredCatalog { catalog, fetched_at }).await?;
        DomainResult::Ok(pairs)
    }
    .await;
    match result {
        Ok(pairs) => {
            deps.pair_catalog.forget();
            Refresh::Stored { pairs }
        }
        Err(e) => {
            tracing::warn!(error = %e, "pair catalog not refreshed; the stored copy ages");
            Refresh::Failed(e.to_string())
        }
    }
}

/// The catalog an open is checked against: the stored one where the store keeps it (fails
/// closed when absent or stale), else the venue's own, read now.
pub async fn catalog_for_open(deps: &Deps, venue: &dyn Venue) -> DomainResult<Arc<PairCatalog>> {
    if deps.pair_catalog.is_stored() {
        return deps.pair_catalog.get(venue, deps.clock.now()).await;
    }
    venue.pairs().await
}

/// Why an open on `pair` is refused now: the market is closed (groups that keep hours).
pub fn closed_market(deps: &Deps, catalog: &PairCatalog, pair: &PairInfo) -> Option<String> {
    catalog.market_closed(pair, deps.clock.now())
}
