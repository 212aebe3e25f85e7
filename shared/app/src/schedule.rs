//! The scheduled functions (`tpsl`, `indexer`): one tick each per minute.
//!
//! Their logic is their own issues; a tick today reads what it will work on and reports it.

use vanta_domain::DomainResult;

use crate::Deps;
use crate::metrics::Metrics;

/// What a tick did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    pub job: &'static str,
    pub live_positions: usize,
}

pub async fn tpsl_tick(deps: &Deps) -> DomainResult<TickReport> {
    tick(deps, "tpsl").await
}

pub async fn indexer_tick(deps: &Deps) -> DomainResult<TickReport> {
    tick(deps, "indexer").await
}

async fn tick(deps: &Deps, job: &'static str) -> DomainResult<TickReport> {
    Metrics::inc(&deps.metrics.schedule_ticks);
    let live = deps.store.live_positions().await?;
    tracing::info!(job, live_positions = live.len(), "scheduled tick");
    Ok(TickReport { job, live_positions: live.len() })
}
