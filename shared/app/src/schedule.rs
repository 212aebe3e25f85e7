//! The scheduled functions (`tpsl`, `indexer`): one tick each per minute.
//!
//! The TP/SL executor never closes anything itself: a hit becomes a `ClosePosition` intent on the
//! queue, so exits go through the one pipeline (exec-mode gate, idempotency, notifications).
//! Triggers use only fresh prices on which the sources agree; otherwise the pair is skipped for
//! this tick (a stale price must not close a position).
//!
//! - Take-profit, stop-loss and liquidation are the venue's in both modes, never Vanta's: on
//!   LIVE they rest on Veranta itself (price triggers); on DRY the paper venue holds them and its
//!   keeper step ([`vanta_domain::ports::Venue::run_triggers`]) runs in the indexer's tick, for
//!   every paper account with DRY positions, right before the reconciler records what it closed
//!   (as it records Veranta's closes). Trailing stops are Vanta's in both modes (this tick).

use std::collections::BTreeMap;

use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{TelegramUserId, TraderAddress};
use vanta_domain::ports::VenuePosition;
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::user::User;
use vanta_domain::{DomainError, DomainResult};

use crate::Deps;
use crate::metrics::Metrics;
use crate::pipeline::enqueue;
pub use crate::tpsl::{MAX_TRIGGER_ATTEMPTS, TickReport, Trigger, mark_price, move_trail, trail_now, trigger, trigger_intent_id};
pub use crate::tpsl_index::set_trail;

/// The TP/SL tick: its reads are O(pairs + triggered), see [`crate::tpsl_index`].
#[tracing::instrument(skip(deps))]
pub async fn tpsl_tick(deps: &Deps) -> DomainResult<TickReport> {
    Metrics::inc(&deps.metrics.schedule_ticks);
    crate::flatten::on_tick(deps).await;
    let mut report = TickReport { job: "tpsl", ..TickReport::default() };
    let closing = crate::tpsl_index::run(deps, &mut report).await?;
    requeue_stalled_closes(deps, &closing, &mut report).await?;
    tracing::info!(examined = report.live_positions, triggered = report.triggered.len(), "tpsl tick");
    // The gauges' reads and the run's record are independent: one round trip, not two.
    tokio::join!(crate::emf::tick_gauges(deps), heartbeat(deps, "tpsl"));
    Ok(report)
}

/// How long a close may stay in flight before the TP/SL tick sends its intent again (longer
/// than the queue's deduplication window and a worker's retries).
pub const STALLED_CLOSE_MS: i64 = 10 * 60_000;

/// Sends again the intent of every close that has been in flight (CLOSING, its intent not final)
/// for [`STALLED_CLOSE_MS`]: its message may have reached the DLQ while the venue could not tell
/// the outcome. The pipeline reconciles the leg with the venue before anything is sent again, so
/// this never makes a second close; a position is never left CLOSING for good.
async fn requeue_stalled_closes(deps: &Deps, live: &[Position], report: &mut TickReport) -> DomainResult<()> {
    let now = deps.clock.now();
    for p in live.iter().filter(|p| p.status == PositionStatus::Closing) {
        let Some(c) = &p.closing else { continue };
        let (Some(id), Ok(leg)) = (c.intent.clone(), vanta_domain::ids::IntentId::parse(&c.leg)) else { continue };
        let Some(intent) = deps.store.get_intent(&id).await? else { continue };
        if intent.state.is_final() {
            // Its intent was given up (a flip's close is under the flip's intent): if the venue
            // says the close never executed, the position is open again.
            let (_, venue) = deps.venue(p.mode);
            match venue.lookup(&leg).await {
                Ok(vanta_domain::ports::Lookup::NotExecuted) => {
                    crate::pipeline::restore_open(deps, p, &leg).await?;
                    report.triggered.push(format!("{}:reopened", p.id));
                    if let Some(user) = deps.store.get_user(p.user).await? {
                        let text = format!("ℹ️ The close of your {} {} did not go through; the position is open again.", p.side, p.pair);
                        crate::pipeline::notify(deps, &user, p.mode, &text).await;
                    }
                }
                _ => tracing::error!(position = %p.id, intent = %id, state = %intent.state, "position CLOSING under a final intent"),
            }
            continue;
        }
        if now.since(intent.updated_at) < STALLED_CLOSE_MS {
            continue;
        }
        let Some(user) = deps.store.get_user(p.user).await? else { continue };
        tracing::warn!(position = %p.id, intent = %id, state = %intent.state, "close in flight for too long; sending it again");
        enqueue(deps, &user, &id).await?;
        report.triggered.push(format!("{}:close-resent", p.id));
    }
    Ok(())
}

/// Records that a job ran (for `/status`); a failure to record is logged, not fatal.
async fn heartbeat(deps: &Deps, job: &str) {
    crate::emf::schedule_run(deps, job);
    if let Err(e) = deps.store.put_heartbeat(job, deps.clock.now()).await {
        tracing::warn!(job, error = %e, "heartbeat not recorded");
    }
}

/// The indexer's tick. Runs the paper venue's keeper for every paper account with DRY positions
/// (their TP, SL and liquidations), then the reconciler, which records those closes for DRY
/// positions and reconciles LIVE positions with the venue, each on the account it was
/// opened on (never the user's current one): a recorded position that the venue no longer has at
/// its (pair, index), or where the venue now holds another trade (other side, other open time),
/// was closed there (TP/SL trigger or liquidation) and is marked so.
///
/// Positions recorded before wallets were (no `wallet`) are looked up on the user's current
/// account: found there with the same side, leverage and open price, they are stamped with that
/// account; not found, they are left as they are (they may live on a wallet the user bound
/// before) and logged, never marked closed on that evidence.
#[tracing::instrument(skip(deps))]
pub async fn indexer_tick(deps: &Deps) -> DomainResult<TickReport> {
    indexer_tick_within(deps, CATALOG_REFRESH_BUDGET).await
}

/// How long the indexer's tick waits for the venue's pair catalog. A slower venue leaves the
/// stored copy to age (it serves opens for [`crate::signals::STORED_CATALOG_MAX_AGE`], ten
/// ticks) rather than holding the reconciler and the scans behind it; the next tick tries again.
pub const CATALOG_REFRESH_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);

/// The catalog refresh within `budget` (a refresh cut short stores nothing: the catalog is
/// written whole or not at all).
async fn refresh_catalog_within(deps: &Deps, budget: std::time::Duration) -> crate::market::Refresh {
    match tokio::time::timeout(budget, crate::market::refresh_catalog(deps)).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(budget_ms = budget.as_millis(), "pair catalog not refreshed within its budget; the stored copy ages");
            crate::market::Refresh::Failed(format!("no answer within {} ms", budget.as_millis()))
        }
    }
}

async fn indexer_tick_within(deps: &Deps, catalog_budget: std::time::Duration) -> DomainResult<TickReport> {
    Metrics::inc(&deps.metrics.schedule_ticks);
    let live = deps.store.live_positions().await?;
    let mut report = TickReport { job: "indexer", live_positions: live.len(), ..TickReport::default() };
    // The indexer reads the whole live book anyway; the TP/SL tick never does.
    crate::emf::active_positions(deps, &live);
    // The run's record and the catalog refresh are independent: the tick waits for the longer.
    tokio::join!(heartbeat(deps, "indexer"), refresh_catalog_within(deps, catalog_budget));
    // Unresolved intents and delegation expiry: gauges and one-time notices (never fatal).
    let scans = crate::scans::run(deps).await;
    tracing::info!(open_intents = ?scans.open_intents, stuck_told = scans.stuck_told.len(), delegations = ?scans.delegations_checked, expiring_told = scans.expiring_told.len(), "indexer scans");
    // The paper venue's keeper (its TP, SL and liquidations), before the reconciler reads them.
    let dry = crate::reconcile::dry_by_wallet(&live);
    paper_keeper(deps, dry.keys().copied(), &mut report).await;
    if let Some(venue) = deps.live.clone() {
        stamp_legacy(deps, venue.as_ref(), live).await?;
    }
    // The reconciler: venue-side closes, unknown outcomes, missing and outside trades, leaders.
    let r = crate::reconcile::run_all(deps, &crate::reconcile::Settings::default()).await?;
    report.triggered.extend(r.closes.iter().map(|c| format!("{c}:closed-on-venue")));
    report.triggered.extend(r.resolved.iter().map(|i| format!("{i}:resolved")));
    report.triggered.extend(r.failed.iter().map(|i| format!("{i}:failed")));
    report.triggered.extend(r.adopted.iter().map(|p| format!("{p}:adopted")));
    report.triggered.extend(r.leader_events.iter().map(|e| format!("leader:{e}")));
    Ok(report)
}

/// The paper venue's keeper step for each paper account: closes the trades whose TP, SL or
/// liquidation price the trusted mark crossed (the TP/SL tick's freshness rule), in the paper
/// book and its history. A keeper that fails for one account is logged and tried again next tick.
async fn paper_keeper(deps: &Deps, wallets: impl Iterator<Item = TraderAddress>, report: &mut TickReport) {
    for wallet in wallets {
        match deps.paper.run_triggers(wallet, deps.ops.max_price_age_secs, deps.ops.max_price_deviation).await {
            Ok(closes) => report
                .triggered
                .extend(closes.iter().map(|c| format!("paper:{}:{}:{}", c.pair.0, c.trade_index, crate::reconcile::reason_key(c.reason)))),
            Err(e) => tracing::warn!(wallet = %wallet, error = %e, "paper keeper not run for this account this tick"),
        }
    }
}

/// LIVE positions from before wallets were recorded (no `wallet`): stamped with the user's
/// current account when the venue shows the same trade there.
async fn stamp_legacy(deps: &Deps, venue: &dyn vanta_domain::ports::Venue, live: Vec<Position>) -> DomainResult<()> {
    let mut users: BTreeMap<TelegramUserId, Option<User>> = BTreeMap::new();
    let mut by_account: BTreeMap<(TelegramUserId, TraderAddress), Vec<Position>> = BTreeMap::new();
    for p in live.into_iter().filter(|p| p.mode == ExecMode::Live && p.status == PositionStatus::Open) {
        let current = match users.get(&p.user) {
            Some(u) => u.as_ref().and_then(|u| u.trader),
            None => {
                let u = deps.store.get_user(p.user).await?;
                let trader = u.as_ref().and_then(|u| u.trader);
                users.insert(p.user, u);
                trader
            }
        };
        let Some(wallet) = p.wallet.or(current) else { continue };
        by_account.entry((p.user, wallet)).or_default().push(p);
    }
    for ((user_id, wallet), positions) in by_account {
        if users.get(&user_id).cloned().flatten().is_none() {
            continue;
        }
        // Positions from before wallets were recorded: stamped when the venue shows the same trade.
        if !positions.iter().any(|p| p.wallet.is_none()) {
            continue;
        }
        let on_venue = match venue.positions(wallet).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(user = %user_id, error = %e, "venue positions unavailable; reconcile later");
                continue;
            }
        };
        for p in positions.iter().filter(|p| p.wallet.is_none()) {
            let at = on_venue.iter().find(|v| v.pair == p.pair_index && Some(v.trade_index) == p.trade_index);
            adopt_legacy(deps, p, wallet, at).await?;
        }
    }
    Ok(())
}

/// A position from before wallets were recorded, seen on the user's current account `wallet`:
/// stamped with it when the venue's trade at its (pair, index) is the same one.
async fn adopt_legacy(deps: &Deps, p: &Position, wallet: TraderAddress, at: Option<&VenuePosition>) -> DomainResult<()> {
    let same = at.filter(|v| p.identity().check(v.side, v.leverage, v.open_price, v.open_time).is_ok());
    let Some(v) = same else {
        tracing::warn!(position = %p.id, "position without a recorded wallet is not on the user's current account; left as it is");
        return Ok(());
    };
    let open_time = v.open_time;
    match crate::pipeline::modify_position(deps, p.user, &p.id, |q| {
        if q.wallet.is_some() {
            return false;
        }
        q.wallet = Some(wallet);
        q.venue_open_time = q.venue_open_time.or(open_time);
        true
    })
    .await
    {
        Ok(_) => Ok(()),
        Err(DomainError::Unavailable(e)) => {
            tracing::warn!(position = %p.id, error = %e, "wallet not recorded this tick");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod catalog_budget_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use vanta_domain::DomainResult;
    use vanta_domain::catalog::{CatalogSource, CatalogStore, MemoryCatalogStore, StoredCatalog};
    use vanta_domain::market::PairCatalog;
    use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
    use vanta_domain::ports::ControlStore as _;
    use vanta_domain::time::{ManualClock, Timestamp};
    use vanta_runtime::Config;

    use crate::Deps;

    /// A venue whose `/v2/trading` never answers.
    struct Silent(AtomicUsize);

    #[async_trait]
    impl CatalogSource for Silent {
        async fn fetch_catalog(&self) -> DomainResult<PairCatalog> {
            self.0.fetch_add(1, Ordering::SeqCst);
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_venue_that_never_answers_leaves_the_stored_catalog_and_the_tick_completes() {
        let clock = Arc::new(ManualClock::new(Timestamp(1_795_852_800_000)));
        let store = Arc::new(MemoryStore::new());
        let prices = Arc::new(FixedPrices::new());
        let paper = Arc::new(PaperVenue::new(Arc::new(PairCatalog::new([]).unwrap()), prices.clone(), clock.clone()));
        let catalogs = Arc::new(MemoryCatalogStore::new());
        let stored = StoredCatalog { catalog: PairCatalog::new([]).unwrap(), fetched_at: Timestamp(1_795_852_700_000) };
        catalogs.put_catalog(&stored).await.unwrap();
        let source = Arc::new(Silent(AtomicUsize::new(0)));
        let deps = Deps::new(
            Config::from_lookup(|_| None).unwrap(),
            store.clone(),
            Arc::new(MemoryQueue::new(clock.clone())),
            Arc::new(RecordingChat::new()),
            clock.clone(),
            prices,
            paper,
        )
        .with_catalog_store(catalogs.clone(), Some(source.clone()));
        // Without the budget this tick would never end; the bound here only keeps a failure from hanging the run.
        let report = tokio::time::timeout(Duration::from_secs(60), super::indexer_tick_within(&deps, Duration::from_millis(20)))
            .await
            .expect("the tick answers although the venue does not")
            .unwrap();
        assert_eq!(report.job, "indexer");
        assert_eq!(source.0.load(Ordering::SeqCst), 1, "the refresh was asked");
        assert_eq!(catalogs.get_catalog().await.unwrap().unwrap().fetched_at, stored.fetched_at, "the stored copy is kept");
        assert!(store.heartbeats().await.unwrap().iter().any(|(job, _)| job == "indexer"), "the run is recorded");
    }
}
