//! The entry check an open passes, once, wherever it is asked: the user's exposure (from one read
//! of their positions, and in LIVE their wallet's resting limit orders and unresolved opens), the
//! pair's quotes and the risk engine's verdict. The pipeline runs it
//! before an open is recorded ([`crate::pipeline`]); the bot runs the very same check before it
//! proposes an order for confirmation, so what the user confirms is what the pipeline checks.

use vanta_domain::DomainResult;
use vanta_domain::exec::{EffectiveExec, ExecMode};
use vanta_domain::intent::{Action, IntentState, OpenOrder};
use vanta_domain::market::{PairCatalog, PairInfo};
use vanta_domain::money::SignedUsdc;
use vanta_domain::position::Position;
use vanta_domain::recon::VenueLimitOrder;
use vanta_domain::risk::{OperatorLimits, RiskPolicy};
use vanta_domain::risk_engine::{self, Approved, Exposure, Refusal, RiskInput};
use vanta_domain::user::User;

use crate::Deps;

/// What an open is checked in: the resolved pair (and the catalog it came from, for its fee
/// model), the effective exec mode read for this step, the operator limits in force, and whether
/// an automation (signal, copy) asked for it.
pub struct OpenContext<'a> {
    pub catalog: &'a PairCatalog,
    pub pair: &'a PairInfo,
    pub exec: &'a EffectiveExec,
    pub ops: &'a OperatorLimits,
    pub automated: bool,
}

/// What the check found: the exposure and policy it judged by, and the verdict.
pub struct OpenCheck {
    pub exposure: Exposure,
    pub policy: RiskPolicy,
    pub verdict: Result<Approved, Refusal>,
}

/// Checks `order` for `user`: positions read once, quotes of the pair, the risk engine.
/// `Err` is a read that failed (retry); a refusal is in [`OpenCheck::verdict`].
pub async fn check_open(deps: &Deps, user: &User, order: &OpenOrder, ctx: &OpenContext<'_>) -> DomainResult<OpenCheck> {
    let positions = deps.store.user_positions(user.id, false).await?;
    let mut exposure = exposure_of(deps, user, &positions).await?;
    exposure.positions_on_pair_side =
        u32::try_from(positions.iter().filter(|p| p.status.is_live() && p.pair == ctx.pair.symbol && p.side == order.side).count())
            .unwrap_or(u32::MAX);
    add_venue_side(deps, user, &positions, ctx, &mut exposure).await?;
    let quotes = deps.prices.quotes(&ctx.pair.symbol).await?;
    let policy = user.risk.bounded_by(ctx.ops);
    let verdict = risk_engine::check_open_with(
        &RiskInput {
            order,
            pair: ctx.pair,
            policy: &policy,
            ops: ctx.ops,
            exposure: &exposure,
            quotes: &quotes,
            now: deps.clock.now(),
            exec: ctx.exec,
            automated: ctx.automated,
        },
        ctx.catalog.fees(ctx.pair.index),
    );
    Ok(OpenCheck { exposure, policy, verdict })
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The wallet's resting limit orders, for an open in `mode`: none in DRY or without a wallet;
/// in LIVE read from the venue now (a failed read is an `Err`: no entry without it), or, where
/// the venue cannot list them, the reconciler's last read.
pub async fn resting_limit_orders(deps: &Deps, user: &User, mode: ExecMode) -> DomainResult<Vec<VenueLimitOrder>> {
    let (mode, venue) = deps.venue(mode);
    let Some(wallet) = user.trader.filter(|_| mode == ExecMode::Live) else { return Ok(Vec::new()) };
    if let Some(orders) = venue.limit_orders(wallet).await? {
        return Ok(orders);
    }
    Ok(deps.store.get_recon_wallet(wallet).await?.map(|w| w.limit_orders).unwrap_or_default())
}

/// What the venue counts beside Vanta's records, in LIVE: the wallet's resting limit orders
/// (placed outside Vanta; they take open-position slots and exposure) and, for the venue's cap
/// per trader and pair, its live positions on the pair (both sides), opens sent and not yet
/// resolved, and resting orders on the pair.
async fn add_venue_side(deps: &Deps, user: &User, positions: &[Position], ctx: &OpenContext<'_>, e: &mut Exposure) -> DomainResult<()> {
    if deps.venue(ctx.exec.mode).0 != ExecMode::Live {
        return Ok(());
    }
    let orders = resting_limit_orders(deps, user, ctx.exec.mode).await?;
    e.resting_orders = count(orders.len());
    for o in &orders {
        e.resting_notional = e.resting_notional.checked_add(o.notional()?)?;
    }
    let on_pair = |p: &Position| p.status.is_live() && p.mode == ExecMode::Live && p.pair_index == ctx.pair.index;
    let pending = deps
        .store
        .user_intents(user.id, PENDING_SCAN)
        .await?
        .into_iter()
        .filter(|i| matches!(i.state, IntentState::Submitted | IntentState::Ambiguous))
        .filter(|i| matches!(&i.action, Action::Open(o) | Action::Flip(o) if o.pair == ctx.pair.symbol))
        .count();
    e.resting_on_pair = count(orders.iter().filter(|o| o.pair == ctx.pair.index).count());
    e.trades_on_pair =
        count(positions.iter().filter(|p| on_pair(p)).count()).saturating_add(count(pending)).saturating_add(e.resting_on_pair);
    Ok(())
}

/// How many of the user's latest intents are looked at for opens still in flight.
const PENDING_SCAN: usize = 100;

/// What the risk engine needs to know about the user now (reads their positions).
pub async fn exposure(deps: &Deps, user: &User) -> DomainResult<Exposure> {
    let all = deps.store.user_positions(user.id, false).await?;
    exposure_of(deps, user, &all).await
}

/// [`exposure`] of positions already read (all of the user's, live and closed).
pub async fn exposure_of(deps: &Deps, user: &User, all: &[Position]) -> DomainResult<Exposure> {
    let now = deps.clock.now();
    let mut e = Exposure { automation_paused: user.automation_paused, ..Exposure::default() };
    let mut closed: Vec<&Position> = Vec::new();
    for p in all {
        if p.status.is_live() {
            e.open_positions += 1;
            e.open_notional = e.open_notional.checked_add(p.notional()?)?;
            if let Some(mark) = deps.prices.quotes(&p.pair).await?.into_iter().max_by_key(|q| q.published_at).map(|q| q.price) {
                e.unrealised_pnl = e.unrealised_pnl.checked_add(p.pnl_at(mark)?)?;
            }
        } else {
            closed.push(p);
        }
        if p.opened_at.day() == now.day() {
            e.trades_today += 1;
            e.volume_today = e.volume_today.checked_add(p.notional()?)?;
        }
        if p.closed_at.is_some_and(|t| t.day() == now.day()) {
            e.today_realised_pnl = e.today_realised_pnl.checked_add(p.realised_pnl.unwrap_or(SignedUsdc::ZERO))?;
        }
    }
    closed.sort_by_key(|p| std::cmp::Reverse(p.closed_at));
    for p in closed {
        if p.realised_pnl.is_some_and(|x| x.is_negative()) {
            e.loss_streak += 1;
            if e.last_loss_at.is_none() {
                e.last_loss_at = p.closed_at;
            }
        } else {
            break;
        }
    }
    Ok(e)
}
