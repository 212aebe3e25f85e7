//! The scheduled functions (`tpsl`, `indexer`): one tick each per minute.
//!
//! The TP/SL executor never closes anything itself: a hit becomes a `ClosePosition` intent on the
//! queue, so exits go through the one pipeline (exec-mode gate, idempotency, notifications).
//! Triggers use only fresh prices on which the sources agree; otherwise the pair is skipped for
//! this tick (a stale price must not close a position).
//!
//! - DRY positions: take-profit, stop-loss and liquidation are Vanta's to enforce (the paper
//!   venue has no triggers).
//! - LIVE positions: TP and SL rest on Avantis itself (price triggers), so they are not
//!   duplicated here; trailing stops are Vanta's in both modes.

use std::collections::BTreeMap;

use vanta_domain::exec::ExecMode;
use vanta_domain::ids::PositionId;
use vanta_domain::intent::{Action, CreateOutcome, Intent, IntentState, Origin};
use vanta_domain::market::{PairSymbol, Side};
use vanta_domain::money::{Bps, Price};
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::risk_engine;
use vanta_domain::{DomainError, DomainResult};

use crate::Deps;
use crate::metrics::Metrics;
use crate::pipeline::{derived_id, enqueue};

/// What a tick did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    pub job: &'static str,
    pub live_positions: usize,
    /// Close intents queued (TP, SL, trail, liquidation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub triggered: Vec<String>,
    /// Pairs skipped because their price was stale or the sources disagreed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_pairs: Vec<String>,
}

/// Why a position is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    TakeProfit,
    StopLoss,
    Trail,
    Liquidation,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::TakeProfit => "tp",
            Trigger::StopLoss => "sl",
            Trigger::Trail => "trail",
            Trigger::Liquidation => "liquidation",
        }
    }
}

/// Which trigger, if any, `mark` fires for `p` (pure).
pub fn trigger(p: &Position, mark: Price) -> Option<Trigger> {
    let beyond = |level: Price, above: bool| if above { mark >= level } else { mark <= level };
    let (profit_above, loss_above) = match p.side {
        Side::Long => (true, false),
        Side::Short => (false, true),
    };
    if p.mode == ExecMode::Dry {
        if let Ok(liq) = p.liquidation_price()
            && beyond(liq, loss_above)
        {
            return Some(Trigger::Liquidation);
        }
        if let Some(sl) = p.sl
            && beyond(sl, loss_above)
        {
            return Some(Trigger::StopLoss);
        }
        if let Some(tp) = p.tp
            && beyond(tp, profit_above)
        {
            return Some(Trigger::TakeProfit);
        }
    }
    if let Some(t) = p.trail
        && beyond(t.level(p.side), loss_above)
    {
        return Some(Trigger::Trail);
    }
    None
}

pub async fn tpsl_tick(deps: &Deps) -> DomainResult<TickReport> {
    Metrics::inc(&deps.metrics.schedule_ticks);
    crate::flatten::on_tick(deps).await;
    let live: Vec<Position> = deps.store.live_positions().await?;
    let mut report = TickReport { job: "tpsl", live_positions: live.len(), ..TickReport::default() };
    let mut marks: BTreeMap<PairSymbol, Option<Price>> = BTreeMap::new();
    for p in live.iter().filter(|p| p.status == PositionStatus::Open) {
        if !marks.contains_key(&p.pair) {
            let quotes = deps.prices.quotes(&p.pair).await.unwrap_or_default();
            let mark =
                risk_engine::reference_price(&p.pair, &quotes, deps.clock.now(), deps.ops.max_price_age_secs, deps.ops.max_price_deviation);
            if let Err(why) = &mark {
                tracing::warn!(pair = %p.pair, reason = %why, "no trusted price; TP/SL skipped for this pair");
                report.skipped_pairs.push(p.pair.to_string());
            }
            marks.insert(p.pair.clone(), mark.ok());
        }
        let Some(mark) = marks.get(&p.pair).copied().flatten() else { continue };
        // Trailing stops follow the best price.
        if let Some(mut t) = p.trail
            && t.observe(p.side, mark)
        {
            let mut moved = p.clone();
            moved.trail = Some(t);
            match deps.store.update_position(&moved, PositionStatus::Open).await {
                Ok(()) | Err(DomainError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            continue;
        }
        if let Some(t) = trigger(p, mark) {
            queue_close(deps, p, t, mark).await?;
            report.triggered.push(format!("{}:{}", p.id, t.as_str()));
        }
    }
    tracing::info!(live = report.live_positions, triggered = report.triggered.len(), "tpsl tick");
    heartbeat(deps, "tpsl").await;
    Ok(report)
}

/// Records that a job ran (for `/status`); a failure to record is logged, not fatal.
async fn heartbeat(deps: &Deps, job: &str) {
    if let Err(e) = deps.store.put_heartbeat(job, deps.clock.now()).await {
        tracing::warn!(job, error = %e, "heartbeat not recorded");
    }
}

/// Queues the close of `p` for `why`. The intent id is stable per position and trigger, so a
/// hit seen on several ticks closes once.
async fn queue_close(deps: &Deps, p: &Position, why: Trigger, mark: Price) -> DomainResult<()> {
    let Some(user) = deps.store.get_user(p.user).await? else { return Ok(()) };
    let id = derived_id("tpsl", &[p.id.as_str(), why.as_str()]);
    let action = Action::ClosePosition { position: p.id.clone(), fraction: Bps::FULL };
    let hash = derived_id("h", &[p.id.as_str(), why.as_str()]).as_str().to_owned();
    let intent = Intent::new(
        id.clone(),
        p.user,
        Origin::TpSl { position: p.id.clone(), trigger: Some(why.as_str().to_owned()) },
        action,
        hash,
        deps.clock.now(),
    );
    let send = match deps.store.create_intent(&intent).await? {
        CreateOutcome::Created => true,
        CreateOutcome::Duplicate(i) => i.state == IntentState::Received,
        CreateOutcome::Mismatch(_) => false,
    };
    if send {
        tracing::info!(position = %p.id, trigger = why.as_str(), %mark, "trigger hit; close queued");
        enqueue(deps, &user, &id).await?;
    }
    Ok(())
}

/// Sets or clears a trailing stop on a live position of `user` (for `/trail`).
pub async fn set_trail(
    deps: &Deps,
    user: vanta_domain::ids::TelegramUserId,
    id: &PositionId,
    distance: Option<Bps>,
) -> DomainResult<Position> {
    let p = deps.store.get_position(user, id).await?.ok_or_else(|| DomainError::NotFound(format!("position {id}")))?;
    if p.status != PositionStatus::Open {
        return Err(DomainError::Refused(format!("position {id} is not open")));
    }
    let mut next = p.clone();
    next.trail = match distance {
        None => None,
        Some(d) if d.raw() == 0 || d > Bps::new_const(5_000) => {
            return Err(DomainError::Invalid("a trail must be between 0.01% and 50%".into()));
        }
        Some(d) => {
            let quotes = deps.prices.quotes(&p.pair).await?;
            let mark =
                risk_engine::reference_price(&p.pair, &quotes, deps.clock.now(), deps.ops.max_price_age_secs, deps.ops.max_price_deviation)
                    .map_err(|r| DomainError::Refused(r.to_string()))?;
            Some(vanta_domain::position::TrailingStop { distance: d, best: mark })
        }
    };
    deps.store.update_position(&next, PositionStatus::Open).await?;
    Ok(next)
}

/// The indexer's tick. Reconciles LIVE positions with the venue: a recorded position the venue
/// no longer has was closed there (TP/SL trigger or liquidation) and is marked so.
pub async fn indexer_tick(deps: &Deps) -> DomainResult<TickReport> {
    Metrics::inc(&deps.metrics.schedule_ticks);
    let live = deps.store.live_positions().await?;
    let mut report = TickReport { job: "indexer", live_positions: live.len(), ..TickReport::default() };
    heartbeat(deps, "indexer").await;
    let Some(venue) = deps.live.clone() else { return Ok(report) };
    let mut by_trader: BTreeMap<vanta_domain::ids::TelegramUserId, Vec<Position>> = BTreeMap::new();
    for p in live.into_iter().filter(|p| p.mode == ExecMode::Live && p.status == PositionStatus::Open) {
        by_trader.entry(p.user).or_default().push(p);
    }
    for (user_id, positions) in by_trader {
        let Some(user) = deps.store.get_user(user_id).await? else { continue };
        let Some(trader) = user.trader else { continue };
        let on_venue = match venue.positions(trader).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(user = %user_id, error = %e, "venue positions unavailable; reconcile later");
                continue;
            }
        };
        for p in positions {
            let present = on_venue.iter().any(|v| v.pair == p.pair_index && Some(v.trade_index) == p.trade_index);
            if !present {
                let mut closed = p.clone();
                closed.status = PositionStatus::Closed;
                closed.closed_at = Some(deps.clock.now());
                if deps.store.update_position(&closed, PositionStatus::Open).await.is_ok() {
                    report.triggered.push(format!("{}:closed-on-venue", p.id));
                    crate::pipeline::notify(
                        deps,
                        &user,
                        ExecMode::Live,
                        &format!("ℹ️ {} {} was closed on Avantis (TP/SL or liquidation).", p.side, p.pair),
                    )
                    .await;
                }
            }
        }
    }
    Ok(report)
}
