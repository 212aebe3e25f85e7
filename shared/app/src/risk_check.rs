//! The entry check an open passes, once, wherever it is asked: the user's exposure (from one read
//! of their positions), the pair's quotes and the risk engine's verdict. The pipeline runs it
//! before an open is recorded ([`crate::pipeline`]); the bot runs the very same check before it
//! proposes an order for confirmation, so what the user confirms is what the pipeline checks.

use vanta_domain::DomainResult;
use vanta_domain::exec::EffectiveExec;
use vanta_domain::intent::OpenOrder;
use vanta_domain::market::{PairCatalog, PairInfo};
use vanta_domain::money::SignedUsdc;
use vanta_domain::position::Position;
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
