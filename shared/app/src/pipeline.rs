//! The one execution pipeline. Every intent — signal, Telegram trade, copy, TP/SL, flatten —
//! runs here, one message of `signals.fifo` at a time per trader account:
//!
//! ```text
//! load → validate → risk → effective exec mode (read now) → record SUBMITTED → venue → record → notify
//! ```
//!
//! At most one trade per intent, whatever is redelivered: the intent is recorded as SUBMITTED
//! before the venue sees it and is never deleted; a redelivered intent that is SUBMITTED or
//! AMBIGUOUS is reconciled with the venue ([`Venue::lookup`]) before anything is sent again, and
//! it is sent again at most [`MAX_ATTEMPTS`] times in all. Closes are idempotent per position
//! (the position records the close in flight and the last close applied).
//!
//! Exits always run: reduce-only actions ([`Action::is_reduce_only`]) and a flip's close half are
//! never refused by a pause, an inactive user, the emergency stop, entry-risk rules or an
//! unreadable market list. They act on the account each position was opened on
//! ([`Position::account_or`]) and carry the position's identity, so a venue never closes another
//! trade at the same index. A close refused for good puts the position back to OPEN and ends the
//! intent FAILED with the reason; only an unknown outcome leaves it CLOSING, to be reconciled.

use std::sync::Arc;

use vanta_domain::copy::close_fraction;
use vanta_domain::exec::{EffectiveExec, ExecMode};
use vanta_domain::ids::{IntentId, PositionId, TraderAddress};
use vanta_domain::intent::{Action, Intent, IntentState, OpenOrder, Origin, Transition};
use vanta_domain::market::{PairCatalog, PairInfo, Side};
use vanta_domain::money::{Bps, SignedUsdc};
use vanta_domain::ports::{Lookup, Venue, VenueFill, VenueOrder};
use vanta_domain::position::{PendingClose, Position, PositionStatus, pnl};
use vanta_domain::risk_engine::{self, Exposure};
use vanta_domain::user::User;
use vanta_domain::{DomainError, DomainResult};

use crate::Deps;
use crate::copy;
use crate::risk_check::{self, OpenContext};

// Moved out of this module: the id derivations to `vanta_domain::ids`, queueing and notices to
// `crate::outbox`, the exposure to `crate::risk_check`. Re-exported here only while callers
// elsewhere still name them through the pipeline; new code imports them from where they live.
pub use crate::outbox::{banner, enqueue, html_escape, notify, queue_group};
pub use crate::risk_check::exposure;
pub use vanta_domain::ids::{derived_id, position_id, trading_account as account};

/// Sends of one order to a venue, first try included.
pub const MAX_ATTEMPTS: u32 = 2;

/// What running an intent came to (in the domain, so metrics and callers read it without
/// importing the pipeline).
pub use vanta_domain::intent::Outcome;

/// Runs an intent as far as it can go. `Err` means "try again later" (the queue redelivers).
///
/// One step reads what it needs once: the intent, the user, the effective exec mode (the gate
/// in front of the signer reads it again immediately before anything is signed, and that read
/// is the safety check), for an open the pair list and the user's positions.
#[tracing::instrument(skip(deps), fields(intent = %id))]
pub async fn run(deps: &Deps, id: &IntentId) -> DomainResult<Outcome> {
    let intent = deps.store.get_intent(id).await?.ok_or_else(|| DomainError::NotFound(format!("intent {id}")))?;
    if intent.state.is_final() {
        // A redelivery: the delivery that made it final may have died before its notice was
        // queued. Tell again; the notice's deduplication id (the same intent, the same text)
        // keeps it from reaching the user twice when the first one was queued.
        if let Some(user) = deps.store.get_user(intent.user).await? {
            retell_final(deps, &intent, &user).await?;
            if intent.state == IntentState::Settled && matches!(intent.action, Action::Open(_) | Action::Flip(_)) {
                // A redelivery after the fill: finish the copy fan-out (idempotent) if it was cut short.
                if let Some(p) = deps.store.get_position(intent.user, &position_id(&intent.id)).await? {
                    copy::on_leader_open(deps, &user, &p, &intent).await?;
                }
            }
        }
        return Ok(Outcome::AlreadyFinal(intent.state));
    }
    let user = deps.store.get_user(intent.user).await?.ok_or_else(|| DomainError::NotFound(format!("user {}", intent.user)))?;
    // The effective exec mode, read once for this step.
    let exec = deps.effective_exec().await;
    let mut resolved = None;
    let intent = match intent.state {
        IntentState::Received => match validate(deps, &exec, &intent, &user).await? {
            Ok(pair) => {
                resolved = pair;
                deps.store
                    .transition(&intent.id, &Transition::new(IntentState::Received, IntentState::Validated, deps.clock.now())?)
                    .await?
            }
            Err(reason) => return reject(deps, &exec, &intent, &user, reason).await,
        },
        _ => intent,
    };
    match &intent.action {
        Action::Open(order) => open(deps, &exec, &intent, &user, order, resolved).await,
        Action::Flip(order) => {
            // Close first, then open, in that order; each half is idempotent on its own. The close
            // half is an exit and always runs; the open half is an entry and its rules apply.
            let opposite = positions_matching(deps, &intent, &user, |p| p.pair == order.pair && p.side == order.side.opposite()).await?;
            let closed_any = !opposite.is_empty();
            if let Some(outcome) = close_legs(deps, &exec, &intent, &user, opposite, Bps::FULL, true).await? {
                return Ok(outcome);
            }
            let intent = deps.store.get_intent(&intent.id).await?.ok_or_else(|| DomainError::NotFound(format!("intent {}", intent.id)))?;
            if intent.state == IntentState::Validated {
                let refusal = entry_refusal(&intent, &user)
                    .or_else(|| (!exec.allows_entries()).then(|| "emergency stop: new entries are paused".to_owned()))
                    .or_else(|| unproved_live_entry(deps, &user, exec.mode));
                if let Some(why) = refusal {
                    let reason = if closed_any {
                        format!("{why}. Your {} {} was closed; the {} was not opened", order.side.opposite(), order.pair, order.side)
                    } else {
                        format!("{why}. Nothing was open to close; the {} was not opened", order.side)
                    };
                    return reject(deps, &exec, &intent, &user, reason).await;
                }
            }
            open(deps, &exec, &intent, &user, order, None).await
        }
        Action::Close { pair, side, fraction } => {
            let targets = positions_matching(deps, &intent, &user, |p| &p.pair == pair && p.side == *side).await?;
            if targets.is_empty() && intent.state == IntentState::Validated {
                return reject(deps, &exec, &intent, &user, format!("no open {side} position on {pair}")).await;
            }
            finish_closes(deps, &exec, &intent, &user, targets, *fraction).await
        }
        Action::ClosePosition { position, fraction } => {
            let targets = positions_matching(deps, &intent, &user, |p| &p.id == position).await?;
            if targets.is_empty() && intent.state == IntentState::Validated {
                return reject(deps, &exec, &intent, &user, format!("position {position} is not open")).await;
            }
            finish_closes(deps, &exec, &intent, &user, targets, *fraction).await
        }
        Action::Flatten => {
            let targets = positions_matching(deps, &intent, &user, |_| true).await?;
            finish_closes(deps, &exec, &intent, &user, targets, Bps::FULL).await
        }
        Action::UpdateTpSl { pair, side, tp, sl } => update_tpsl(deps, &exec, &intent, &user, pair.clone(), *side, *tp, *sl).await,
        Action::Pause => {
            let mut u = user.clone();
            u.automation_paused = true;
            deps.store.update_user(&u).await?;
            settle(deps, &exec, &intent, "automation paused").await?;
            notify(deps, &user, intent.mode.unwrap_or(ExecMode::Dry), "⏸ Automation paused by your signal. /resume to restart.").await;
            Ok(Outcome::Settled)
        }
    }
}

/// The pair an open resolved to, with the catalog it was resolved in.
type Resolved = (Arc<PairCatalog>, PairInfo);

/// Checks that need no venue, made before anything runs. Only an open can be refused here:
/// reduce-only actions ([`Action::is_reduce_only`]) and a flip's close half run for an inactive
/// or paused user, under every stop level and without the market list (they act on recorded
/// positions). A market list that cannot be read is retryable (`Err`), never a refusal. An open
/// that passes comes back with its pair resolved, so the step resolves it once.
async fn validate(deps: &Deps, exec: &EffectiveExec, intent: &Intent, user: &User) -> DomainResult<Result<Option<Resolved>, String>> {
    let Action::Open(order) = &intent.action else { return Ok(Ok(None)) };
    if let Some(why) = entry_refusal(intent, user) {
        return Ok(Err(why));
    }
    let catalog = crate::market::catalog_for_open(deps, deps.venue(exec.mode).1.as_ref())
        .await
        .map_err(|e| DomainError::Unavailable(format!("the venue's market list is unavailable ({e})")))?;
    let pair = match catalog.resolve(order.pair.as_str()) {
        Ok(p) => p.clone(),
        Err(e) => return Ok(Err(e.to_string())),
    };
    Ok(Ok(Some((catalog, pair))))
}

/// Why a new entry of this user is refused before the risk engine looks at it (inactive
/// account, paused automation); None when it may go on.
fn entry_refusal(intent: &Intent, user: &User) -> Option<String> {
    if !user.active {
        return Some("your account is inactive".into());
    }
    let automated = matches!(intent.origin, Origin::Signal { .. } | Origin::Copy { .. });
    if automated && user.automation_paused && intent.action.adds_exposure() {
        return Some("your automation is paused (/resume to restart it)".into());
    }
    None
}

/// Why a LIVE entry may not be signed for this user: only a wallet its owner proved with a
/// signature opens LIVE positions (exits are never refused for it).
fn unproved_live_entry(deps: &Deps, user: &User, mode: ExecMode) -> Option<String> {
    if deps.venue(mode).0 != ExecMode::Live || user.wallet_verified() {
        return None;
    }
    Some(match user.trader {
        Some(t) => format!("your wallet {t} is not verified; LIVE trades need proof that it is yours (/bind {t} and sign the message)"),
        None => "no verified wallet is bound; LIVE trades need one (/bind 0xYourWallet and sign the message)".to_owned(),
    })
}

// ---------------------------------------------------------------------------------------------
// Opens
// ---------------------------------------------------------------------------------------------

#[allow(clippy::too_many_arguments)]
async fn open(
    deps: &Deps,
    exec: &EffectiveExec,
    intent: &Intent,
    user: &User,
    order: &OpenOrder,
    resolved: Option<Resolved>,
) -> DomainResult<Outcome> {
    match intent.state {
        IntentState::Validated => {}
        IntentState::Submitted | IntentState::Ambiguous => return reconcile_open(deps, exec, intent, user, order).await,
        s => return Ok(Outcome::AlreadyFinal(s)),
    }
    let (catalog, pair) = match resolved {
        Some(r) => r,
        None => {
            let catalog = crate::market::catalog_for_open(deps, deps.venue(exec.mode).1.as_ref()).await?;
            match catalog.resolve(order.pair.as_str()) {
                Ok(p) => {
                    let p = p.clone();
                    (catalog, p)
                }
                Err(e) => return reject(deps, exec, intent, user, e.to_string()).await,
            }
        }
    };
    if let Some(why) = crate::market::closed_market(deps, &catalog, &pair) {
        return reject(deps, exec, intent, user, why).await;
    }
    // The limits in force now (the stored item may have tightened them); unreadable: no entry.
    let ops = deps.operator_limits().await?;
    let automated = matches!(intent.origin, Origin::Signal { .. } | Origin::Copy { .. });
    let check =
        risk_check::check_open(deps, user, order, &OpenContext { catalog: &catalog, pair: &pair, exec, ops: &ops, automated }).await?;
    pause_on_daily_loss(deps, Some(exec.mode), user, &check.policy, &check.exposure).await;
    // Any doubt is DRY or no trade; the gate reads the mode again before anything is signed.
    if let Some(why) = unproved_live_entry(deps, user, exec.mode) {
        return reject(deps, exec, intent, user, why).await;
    }
    let approved = match check.verdict {
        Ok(a) => a,
        Err(refusal) => return reject(deps, exec, intent, user, refusal.to_string()).await,
    };
    let (mode, venue) = deps.venue(exec.mode);
    let venue_order = VenueOrder::Open {
        trader: account(user),
        pair: pair.index,
        side: order.side,
        collateral: order.collateral,
        leverage: order.leverage,
        reference_price: approved.reference_price,
        slippage: approved.slippage,
        tp: order.tp,
        sl: order.sl,
    };
    let t = Transition::new(IntentState::Validated, IntentState::Submitted, deps.clock.now())?.with_mode(mode).with_detail(format!(
        "reference price {}, slippage {}%, liquidation {}",
        approved.reference_price, approved.slippage, approved.liquidation_price
    ));
    let intent = deps.store.transition(&intent.id, &t).await?;
    send_open(deps, &intent, user, &pair, venue, &venue_order).await
}

async fn send_open(
    deps: &Deps,
    intent: &Intent,
    user: &User,
    pair: &PairInfo,
    venue: Arc<dyn Venue>,
    order: &VenueOrder,
) -> DomainResult<Outcome> {
    match venue.execute(&intent.id, order).await {
        Ok(fill) => {
            let wallet = match order {
                VenueOrder::Open { trader, .. } => *trader,
                _ => account(user),
            };
            settle_open(deps, intent, user, pair, &fill, wallet).await
        }
        Err(e @ (DomainError::Ambiguous(_) | DomainError::Unavailable(_) | DomainError::Internal(_))) => {
            let t = Transition::new(intent.state, IntentState::Ambiguous, deps.clock.now())?.with_detail(e.to_string());
            deps.store.transition(&intent.id, &t).await?;
            if let VenueOrder::Open { trader, .. } = order {
                crate::watch::watch_intent(deps, *trader, user.id, &intent.id).await; // the reconciler resolves it too
            }
            crate::emf::ambiguous(deps, intent);
            Err(DomainError::Unavailable(format!("order outcome unknown, will reconcile: {e}")))
        }
        Err(e) if e.is_refused_before_signing() => refuse_unsigned(deps, intent, user, e.to_string()).await,
        Err(e) => fail(deps, intent, user, e.to_string()).await,
    }
}

/// The venue adapter's own check refused the order before anything was signed (the direct
/// route's calldata differs from the order): nothing was sent, so it is a refusal — told and
/// counted as one (`intent_outcomes{outcome="refused"}`), never as a failed trade. The intent,
/// SUBMITTED already, ends FAILED (the state machine's one final state after SUBMITTED) with the
/// refusal as its reason.
async fn refuse_unsigned(deps: &Deps, intent: &Intent, user: &User, reason: String) -> DomainResult<Outcome> {
    let t = Transition::new(intent.state, IntentState::Failed, deps.clock.now())?.with_reason(reason.clone());
    deps.store.transition(&intent.id, &t).await?;
    notify(deps, user, intent.mode.unwrap_or(ExecMode::Dry), &refused_text(&intent.action, &reason)).await;
    Ok(Outcome::Rejected(reason))
}

async fn reconcile_open(deps: &Deps, exec: &EffectiveExec, intent: &Intent, user: &User, order: &OpenOrder) -> DomainResult<Outcome> {
    let (_, venue) = deps.venue(intent.mode.unwrap_or(ExecMode::Dry));
    let catalog = venue.pairs().await?;
    let pair = catalog.resolve(order.pair.as_str())?.clone();
    match venue.lookup(&intent.id).await? {
        // Found by reconciliation: the order was sent for the account the user trades, read
        // again here (a rebind between the send and this redelivery would misattribute it).
        Lookup::Filled(fill) => settle_open(deps, intent, user, &pair, &fill, account(user)).await,
        Lookup::Unknown => {
            if intent.state == IntentState::Submitted {
                let t =
                    Transition::new(IntentState::Submitted, IntentState::Ambiguous, deps.clock.now())?.with_detail("venue cannot tell yet");
                deps.store.transition(&intent.id, &t).await?;
            }
            crate::emf::ambiguous(deps, intent);
            Err(DomainError::Unavailable("order outcome unknown; will ask the venue again".into()))
        }
        Lookup::NotExecuted if intent.attempts >= MAX_ATTEMPTS => {
            fail(deps, intent, user, format!("not executed after {MAX_ATTEMPTS} attempts")).await
        }
        Lookup::NotExecuted => {
            // Provably not on the venue: send again, once more at most, under the same reference.
            let mut current = intent.clone();
            if current.state == IntentState::Submitted {
                current = deps
                    .store
                    .transition(&intent.id, &Transition::new(IntentState::Submitted, IntentState::Ambiguous, deps.clock.now())?)
                    .await?;
            }
            if order_adds_exposure(&current) && !exec.allows_entries() {
                return fail(deps, &current, user, "emergency stop: new entries are paused".into()).await;
            }
            if current.mode == Some(ExecMode::Live) && exec.mode != ExecMode::Live {
                return fail(deps, &current, user, "the exec mode is no longer LIVE; not resubmitting".into()).await;
            }
            if let Some(why) = current.mode.and_then(|m| unproved_live_entry(deps, user, m)) {
                return fail(deps, &current, user, why).await;
            }
            let current = deps
                .store
                .transition(
                    &intent.id,
                    &Transition::new(IntentState::Ambiguous, IntentState::Submitted, deps.clock.now())?
                        .with_detail("not on the venue: resubmitting"),
                )
                .await?;
            let quotes = deps.prices.quotes(&pair.symbol).await?;
            let reference = risk_engine::reference_price(
                &pair.symbol,
                &quotes,
                deps.clock.now(),
                deps.ops.max_price_age_secs,
                deps.ops.max_price_deviation,
            )
            .map_err(|r| DomainError::Unavailable(r.to_string()))?;
            let policy = user.risk.bounded_by(&deps.ops);
            let venue_order = VenueOrder::Open {
                trader: account(user),
                pair: pair.index,
                side: order.side,
                collateral: order.collateral,
                leverage: order.leverage,
                reference_price: reference,
                slippage: order.slippage.unwrap_or(policy.default_slippage),
                tp: order.tp,
                sl: order.sl,
            };
            send_open(deps, &current, user, &pair, venue, &venue_order).await
        }
    }
}

fn order_adds_exposure(intent: &Intent) -> bool {
    intent.action.adds_exposure()
}

async fn settle_open(
    deps: &Deps,
    intent: &Intent,
    user: &User,
    pair: &PairInfo,
    fill: &VenueFill,
    wallet: TraderAddress,
) -> DomainResult<Outcome> {
    let (tp, sl) = match &intent.action {
        Action::Open(o) | Action::Flip(o) => (o.tp, o.sl),
        _ => (None, None),
    };
    let position = Position {
        id: position_id(&intent.id),
        user: user.id,
        pair: pair.symbol.clone(),
        pair_index: pair.index,
        trade_index: Some(fill.trade_index),
        side: fill.side,
        collateral: fill.collateral,
        leverage: fill.leverage,
        open_price: fill.price,
        tp,
        sl,
        mode: intent.mode.unwrap_or(ExecMode::Dry),
        status: PositionStatus::Open,
        opened_by: intent.id.clone(),
        opened_at: fill.at,
        closed_at: None,
        close_price: None,
        realised_pnl: None,
        fees: fill.fee,
        closing: None,
        last_close: None,
        last_close_fraction: None,
        trail: None,
        wallet: Some(wallet),
        venue_open_time: fill.open_time,
        copy_of: match &intent.origin {
            Origin::Copy { leader_ref, .. } => Some(leader_ref.clone()),
            _ => None,
        },
        version: 0,
    };
    let mut detail = format!("filled at {} ({}), fee {}", fill.price, fill.venue_ref, fill.fee);
    if let Origin::Copy { leader_price: Some(lp), leader_at, .. } = &intent.origin {
        let diff_bps = (i128::from(fill.price.raw()) - i128::from(lp.raw())) * 10_000 / i128::from(lp.raw().max(1));
        let latency = leader_at.map(|t| fill.at.since(t));
        detail.push_str(&format!(
            "; copy: leader at {lp}, difference {diff_bps} bps, latency {} ms",
            latency.map_or("?".into(), |l| l.to_string())
        ));
    }
    let t = Transition::new(intent.state, IntentState::Settled, deps.clock.now())?.with_detail(detail);
    match deps.store.settle_with_position(&intent.id, &t, &position).await {
        Ok(_) => {}
        // Settled meanwhile by another delivery: the position exists; nothing more to do.
        Err(DomainError::Conflict(_)) if deps.store.get_intent(&intent.id).await?.is_some_and(|i| i.state == IntentState::Settled) => {
            return Ok(Outcome::AlreadyFinal(IntentState::Settled));
        }
        Err(e) => return Err(e),
    }
    tracing::info!(position = %position.id, mode = %position.mode, price = %fill.price, "open filled");
    crate::emf::trade(deps, position.mode, position.leverage, position.collateral);
    notify(deps, user, position.mode, &opened_text(&position, fill.fee)).await;
    copy::on_leader_open(deps, user, &position, intent).await?;
    Ok(Outcome::Settled)
}

// ---------------------------------------------------------------------------------------------
// Closes
// ---------------------------------------------------------------------------------------------

/// The positions an intent acts on: live ones that match, and any this intent already closed.
async fn positions_matching(deps: &Deps, intent: &Intent, user: &User, f: impl Fn(&Position) -> bool) -> DomainResult<Vec<Position>> {
    let all = deps.store.user_positions(user.id, false).await?;
    Ok(all.into_iter().filter(|p| f(p) && (p.status.is_live() || p.last_close.as_deref() == Some(leg_ref(intent, p).as_str()))).collect())
}

fn leg_ref(intent: &Intent, p: &Position) -> IntentId {
    derived_id("leg", &[intent.id.as_str(), p.id.as_str()])
}

async fn finish_closes(
    deps: &Deps,
    exec: &EffectiveExec,
    intent: &Intent,
    user: &User,
    targets: Vec<Position>,
    fraction: Bps,
) -> DomainResult<Outcome> {
    match close_legs(deps, exec, intent, user, targets, fraction, false).await? {
        Some(outcome) => Ok(outcome),
        None => {
            settle(deps, exec, intent, "closed").await?;
            Ok(Outcome::Settled)
        }
    }
}

/// Closes `fraction` of each target, idempotently. `Ok(None)` when every leg is done (the
/// caller settles); `Ok(Some(outcome))` when the intent ended otherwise.
///
/// Exits run under every stop level. Each leg ends one of three ways:
/// - filled: applied to the position (and mirrored to followers);
/// - refused for good (the exec mode is DRY for a LIVE position, the delegation is revoked or
///   expired, the venue refused the order or holds another trade at the index): the position
///   goes back to OPEN and the intent ends FAILED with the reason, which the user is told;
/// - outcome unknown or venue unavailable: the position stays CLOSING with its leg, and the
///   message is retried and the leg reconciled with the venue before anything is sent again.
#[allow(clippy::too_many_arguments)]
async fn close_legs(
    deps: &Deps,
    exec: &EffectiveExec,
    intent: &Intent,
    user: &User,
    targets: Vec<Position>,
    fraction: Bps,
    part_of_flip: bool,
) -> DomainResult<Option<Outcome>> {
    let mut intent = intent.clone();
    if intent.state == IntentState::Validated && !part_of_flip && !targets.is_empty() {
        // A flip's closes stay under VALIDATED: its open is what gets SUBMITTED (the closes are
        // idempotent through the positions themselves).
        let t = Transition::new(IntentState::Validated, IntentState::Submitted, deps.clock.now())?.with_mode(exec.mode);
        intent = deps.store.transition(&intent.id, &t).await?;
    }
    let mut unknown = false;
    let mut failed: Vec<String> = Vec::new();
    // Whether every leg that failed was refused by our own check before anything was signed.
    let mut refused_unsigned_only = true;
    for p in targets {
        let leg = leg_ref(&intent, &p);
        if p.last_close.as_deref() == Some(leg.as_str()) {
            // Applied already; make sure the followers' exits were queued (idempotent).
            if let Some(f) = p.last_close_fraction {
                copy::on_leader_close(deps, user, &p, f, &leg).await?;
            }
            continue;
        }
        let (_, venue) = deps.venue(p.mode);
        let pending = match (&p.status, &p.closing) {
            (PositionStatus::Closing, Some(c)) if c.leg == leg.as_str() => match venue.lookup(&leg).await? {
                Lookup::Filled(fill) => {
                    apply_close(deps, exec, &intent, user, &p, &fill, &leg).await?;
                    continue;
                }
                Lookup::Unknown => {
                    unknown = true;
                    continue;
                }
                Lookup::NotExecuted => {
                    if let Some(why) = live_exit_blocked(deps, exec, &p).await {
                        restore_open(deps, &p, &leg).await?;
                        failed.push(why);
                        refused_unsigned_only = false;
                        continue;
                    }
                    p.clone()
                }
            },
            (PositionStatus::Closing, _) => {
                unknown = true; // another intent is closing it; wait for that
                continue;
            }
            (PositionStatus::Open, _) => {
                // Nothing is marked CLOSING for an order that would not be signed.
                if let Some(why) = live_exit_blocked(deps, exec, &p).await {
                    failed.push(why);
                    refused_unsigned_only = false;
                    continue;
                }
                match begin_close(deps, &intent.id, p, &leg, fraction).await? {
                    Begin::Started(closing) => *closing,
                    Begin::Nothing => continue,
                    Begin::Busy => {
                        unknown = true;
                        continue;
                    }
                }
            }
            _ => continue,
        };
        let Some(c) = pending.closing.clone() else { continue };
        let order = VenueOrder::Close {
            trader: pending.account_or(account(user)),
            pair: pending.pair_index,
            trade_index: pending.trade_index.unwrap_or(0),
            collateral: c.collateral,
            known: Some(pending.identity()),
        };
        match venue.execute(&leg, &order).await {
            Ok(fill) => apply_close(deps, exec, &intent, user, &pending, &fill, &leg).await?,
            Err(e @ (DomainError::Ambiguous(_) | DomainError::Unavailable(_) | DomainError::Internal(_))) => {
                tracing::warn!(position = %pending.id, error = %e, "close not confirmed; it stays CLOSING and is reconciled");
                unknown = true;
            }
            Err(e) => {
                // Refused for good: nothing is in flight, so the position is open again.
                tracing::warn!(position = %pending.id, error = %e, "close refused; the position is OPEN again");
                refused_unsigned_only &= e.is_refused_before_signing();
                restore_open(deps, &pending, &leg).await?;
                let mut why = format!("your {} {} was not closed: {e}", pending.side, pending.pair);
                if pending.mode == ExecMode::Live {
                    why.push_str(". It is still open: close it in the Veranta app if it must go now");
                }
                failed.push(why);
            }
        }
    }
    if unknown {
        crate::emf::ambiguous(deps, &intent);
        if intent.state == IntentState::Submitted && !part_of_flip {
            deps.store.transition(&intent.id, &Transition::new(IntentState::Submitted, IntentState::Ambiguous, deps.clock.now())?).await?;
        }
        return Err(DomainError::Unavailable("a close is not confirmed yet; will reconcile".into()));
    }
    if !failed.is_empty() {
        // A flip whose close failed does not open the other side either.
        let mut reason = failed.join("; ");
        if part_of_flip {
            reason.push_str("; so the flip's new position was not opened");
        }
        if refused_unsigned_only {
            return refuse_unsigned(deps, &intent, user, reason).await.map(Some);
        }
        return fail(deps, &intent, user, reason).await.map(Some);
    }
    Ok(None)
}

/// How many times a read-modify-write of a position is tried when other writers get in
/// between (each try re-reads the position).
pub const POSITION_WRITE_ATTEMPTS: usize = 5;

/// Re-reads a position and writes `change` of it under the version it read; on a concurrent
/// write it reads again and re-applies `change`, at most [`POSITION_WRITE_ATTEMPTS`] times, so a
/// change made from a stale read never undoes another writer's. `change` returns false when
/// there is nothing to write (then, and when the position is gone, the answer is None);
/// otherwise the answer is the position as stored.
#[tracing::instrument(skip(deps, change), fields(position = %id))]
pub async fn modify_position(
    deps: &Deps,
    user: vanta_domain::ids::TelegramUserId,
    id: &PositionId,
    mut change: impl FnMut(&mut Position) -> bool + Send,
) -> DomainResult<Option<Position>> {
    for _ in 0..POSITION_WRITE_ATTEMPTS {
        let Some(current) = deps.store.get_position(user, id).await? else { return Ok(None) };
        let mut next = current.clone();
        if !change(&mut next) {
            return Ok(None);
        }
        next.version = current.version;
        match deps.store.update_position(&next, current.status).await {
            Ok(()) => {
                next.version = current.version.saturating_add(1);
                return Ok(Some(next));
            }
            Err(DomainError::Conflict(e)) => tracing::info!(position = %id, error = %e, "position changed meanwhile; re-reading"),
            Err(e) => return Err(e),
        }
    }
    Err(DomainError::Unavailable(format!("position {id} kept changing; will try again")))
}

/// What marking a position CLOSING came to.
enum Begin {
    /// Marked CLOSING with this leg (the position as stored).
    Started(Box<Position>),
    /// Nothing to close (a fraction that rounds to zero, or it closed meanwhile).
    Nothing,
    /// Another close is in flight.
    Busy,
}

/// Marks `p` CLOSING for `leg`, taking `fraction` of its collateral as it is when written.
async fn begin_close(deps: &Deps, intent: &IntentId, p: Position, leg: &IntentId, fraction: Bps) -> DomainResult<Begin> {
    let mut current = p;
    for _ in 0..POSITION_WRITE_ATTEMPTS {
        match current.status {
            PositionStatus::Open => {}
            PositionStatus::Closing => return Ok(Begin::Busy),
            PositionStatus::Closed | PositionStatus::Liquidated => return Ok(Begin::Nothing),
        }
        let amount = if fraction == Bps::FULL { current.collateral } else { current.collateral.mul_bps_floor(fraction)? };
        if amount.is_zero() {
            return Ok(Begin::Nothing);
        }
        let mut closing = current.clone();
        closing.status = PositionStatus::Closing;
        closing.closing = Some(PendingClose { leg: leg.as_str().to_owned(), collateral: amount, intent: Some(intent.clone()) });
        match deps.store.update_position(&closing, PositionStatus::Open).await {
            Ok(()) => {
                closing.version = current.version.saturating_add(1);
                return Ok(Begin::Started(Box::new(closing)));
            }
            Err(DomainError::Conflict(_)) => {
                // Another writer (a trailing stop, a reconciliation) got in between: read again.
                match deps.store.get_position(current.user, &current.id).await? {
                    Some(fresh) => current = fresh,
                    None => return Ok(Begin::Nothing),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Begin::Busy)
}

/// Puts a position whose close `leg` was refused for good back to OPEN (nothing is in flight).
pub(crate) async fn restore_open(deps: &Deps, p: &Position, leg: &IntentId) -> DomainResult<()> {
    modify_position(deps, p.user, &p.id, |q| {
        if q.status != PositionStatus::Closing || q.closing.as_ref().is_none_or(|c| c.leg != leg.as_str()) {
            return false; // not ours (any more)
        }
        q.status = PositionStatus::Open;
        q.closing = None;
        true
    })
    .await
    .map(|_| ())
}

/// Why an order for the LIVE position `p` must not be signed now: the effective mode is DRY (an
/// operator's setting, the deployment's ceiling, an unreadable setting) or no LIVE venue is
/// configured. The words are for the user. None for DRY positions and when LIVE is on.
async fn live_exit_blocked(deps: &Deps, exec: &EffectiveExec, p: &Position) -> Option<String> {
    if p.mode != ExecMode::Live {
        return None;
    }
    if exec.mode == ExecMode::Live && deps.live.is_some() {
        return None;
    }
    let why = exec.why.clone().unwrap_or_else(|| "the operators switched to DRY".to_owned());
    Some(format!(
        "your LIVE {} {} is still open: Vanta is running DRY ({why}) and signs nothing on Veranta. Close it in the Veranta app, \
         or wait until Vanta is LIVE again",
        p.side, p.pair
    ))
}

#[allow(clippy::too_many_arguments)]
async fn apply_close(
    deps: &Deps,
    exec: &EffectiveExec,
    intent: &Intent,
    user: &User,
    p: &Position,
    fill: &VenueFill,
    leg: &IntentId,
) -> DomainResult<()> {
    let closed = fill.collateral.min(p.collateral);
    let gross = pnl(p.side, closed, p.leverage, p.open_price, fill.price)?;
    let net = gross.checked_sub(SignedUsdc::from_usdc(fill.fee)?)?;
    let mut next = p.clone();
    next.collateral = p.collateral.checked_sub(closed)?;
    next.fees = p.fees.checked_add(fill.fee)?;
    next.realised_pnl = Some(p.realised_pnl.unwrap_or(SignedUsdc::ZERO).checked_add(net)?);
    next.closing = None;
    next.last_close = Some(leg.as_str().to_owned());
    let fraction = close_fraction(p.collateral, closed);
    next.last_close_fraction = Some(fraction);
    next.close_price = Some(fill.price);
    let trigger = match &intent.origin {
        Origin::TpSl { trigger, .. } => trigger.as_deref(),
        _ => None,
    };
    if next.collateral.is_zero() {
        next.status = if trigger == Some("liquidation") { PositionStatus::Liquidated } else { PositionStatus::Closed };
        next.closed_at = Some(fill.at);
    } else {
        next.status = PositionStatus::Open;
    }
    deps.store.update_position(&next, PositionStatus::Closing).await?;
    crate::emf::trade(deps, p.mode, p.leverage, closed);
    let what = match (trigger, next.status) {
        (Some("tp"), _) => "🎯 Take-profit hit: closed",
        (Some("sl"), _) => "🛑 Stop-loss hit: closed",
        (Some("trail"), _) => "📉 Trailing stop hit: closed",
        (_, PositionStatus::Liquidated) => "💥 Liquidated:",
        (_, PositionStatus::Closed) => "🔻 Closed",
        _ => "🔻 Partly closed",
    };
    notify(deps, user, p.mode, &format!("{what} {} {}: ${} at {}, PnL ${net}.", p.side, p.pair, closed, fill.price)).await;
    if next.realised_pnl.is_some_and(|x| x.is_negative()) {
        let policy = user.risk.bounded_by(&deps.ops);
        if let Ok(exp) = exposure(deps, user).await {
            pause_on_daily_loss(deps, Some(exec.mode), user, &policy, &exp).await;
        }
    }
    copy::on_leader_close(deps, user, p, fraction, leg).await
}

/// Pauses the user's automation once the day's loss (realised + unrealised) reaches their limit,
/// and tells them (under `mode`, the step's, or read now when the caller has none). Manual
/// trades are still refused by the risk engine for the rest of the day.
async fn pause_on_daily_loss(
    deps: &Deps,
    mode: Option<ExecMode>,
    user: &User,
    policy: &vanta_domain::risk::RiskPolicy,
    exposure: &Exposure,
) {
    if user.automation_paused || !risk_engine::daily_loss_breached(policy, exposure) {
        return;
    }
    let Ok(Some(mut fresh)) = deps.store.get_user(user.id).await else { return };
    if fresh.automation_paused {
        return;
    }
    fresh.automation_paused = true;
    if deps.store.update_user(&fresh).await.is_ok() {
        notify(
            deps,
            user,
            match mode {
                Some(m) => m,
                None => deps.effective_exec().await.mode,
            },
            &format!("⏸ Daily loss limit of ${} reached: your automation is paused. /resume when you are ready.", policy.daily_loss_limit),
        )
        .await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn update_tpsl(
    deps: &Deps,
    exec: &EffectiveExec,
    intent: &Intent,
    user: &User,
    pair: vanta_domain::market::PairSymbol,
    side: Side,
    tp: Option<vanta_domain::money::Price>,
    sl: Option<vanta_domain::money::Price>,
) -> DomainResult<Outcome> {
    let targets: Vec<Position> =
        deps.store.user_positions(user.id, true).await?.into_iter().filter(|p| p.pair == pair && p.side == side).collect();
    if targets.is_empty() {
        return reject(deps, exec, intent, user, format!("no open {side} position on {pair}")).await;
    }
    for p in &targets {
        let mark = deps.prices.quotes(&p.pair).await?.into_iter().max_by_key(|q| q.published_at).map(|q| q.price);
        if let Some(mark) = mark {
            let wrong =
                |level: Option<vanta_domain::money::Price>, above: bool| level.is_some_and(|l| if above { l <= mark } else { l >= mark });
            let (tp_above, sl_above) = (side == Side::Long, side == Side::Short);
            if wrong(tp, tp_above) || wrong(sl, sl_above) {
                return reject(deps, exec, intent, user, format!("TP must be beyond and SL before the current price {mark} for a {side}"))
                    .await;
            }
        }
    }
    let mut intent = intent.clone();
    if intent.state == IntentState::Validated {
        intent = deps
            .store
            .transition(
                &intent.id,
                &Transition::new(IntentState::Validated, IntentState::Submitted, deps.clock.now())?.with_mode(exec.mode),
            )
            .await?;
    }
    // Managing an existing position's exits: never refused by a pause, inactivity or the stop.
    let mut failed: Vec<String> = Vec::new();
    let mut not_visible: Vec<String> = Vec::new();
    for p in targets {
        if let Some(why) = live_exit_blocked(deps, exec, &p).await {
            failed.push(format!("TP/SL not changed: {why}"));
            continue;
        }
        let (_, venue) = deps.venue(p.mode);
        let (new_tp, new_sl) = (tp.or(p.tp), sl.or(p.sl));
        let order = VenueOrder::UpdateTpSl {
            // The account the position was opened on, whatever the user is bound to now.
            trader: p.account_or(account(user)),
            pair: p.pair_index,
            trade_index: p.trade_index.unwrap_or(0),
            // Only the legs asked for: the venue keeps the other one as it has it live.
            tp,
            sl,
            known: Some(p.identity()),
        };
        match venue.execute(&derived_id("tpsl", &[intent.id.as_str(), p.id.as_str()]), &order).await {
            Ok(_) => {}
            Err(DomainError::Ambiguous(why)) => {
                // Accepted (or maybe accepted) but not visible on the venue yet: said as it is,
                // and the position record is not claimed updated.
                not_visible.push(format!("your {} {}: {why}", p.side, p.pair));
                continue;
            }
            Err(e @ (DomainError::Unavailable(_) | DomainError::Internal(_))) => {
                // Redelivered, the same reference is sent again (at most one update takes effect).
                return Err(DomainError::Unavailable(format!("TP/SL update not confirmed: {e}")));
            }
            Err(e) => {
                failed.push(format!("TP/SL of your {} {} not changed: {e}", p.side, p.pair));
                continue;
            }
        }
        // Written on a fresh read, so a concurrent close or trail move is kept.
        modify_position(deps, p.user, &p.id, |q| {
            if !q.status.is_live() || (q.tp, q.sl) == (new_tp, new_sl) {
                return false;
            }
            q.tp = new_tp;
            q.sl = new_sl;
            true
        })
        .await?;
    }
    if !failed.is_empty() {
        failed.extend(not_visible.iter().map(|w| format!("TP/SL of {w}")));
        return fail(deps, &intent, user, failed.join("; ")).await;
    }
    if !not_visible.is_empty() {
        settle(deps, exec, &intent, "TP/SL accepted by the venue, not yet visible").await?;
        let text = format!(
            "⏳ TP/SL change on {side} {pair} accepted by the venue but not yet visible on the position, so Vanta does not show it as set ({}). Check /positions in a minute.",
            not_visible.join("; ")
        );
        notify(deps, user, exec.mode, &text).await;
        return Ok(Outcome::Settled);
    }
    settle(deps, exec, &intent, "TP/SL updated").await?;
    notify(deps, user, exec.mode, &format!("🎯 TP/SL updated on {side} {pair}.")).await;
    Ok(Outcome::Settled)
}

// ---------------------------------------------------------------------------------------------
// Exposure, endings, notifications
// ---------------------------------------------------------------------------------------------

/// Settles an intent whose work is done (from whatever state it reached).
async fn settle(deps: &Deps, exec: &EffectiveExec, intent: &Intent, detail: &str) -> DomainResult<()> {
    let mut state = deps.store.get_intent(&intent.id).await?.map_or(intent.state, |i| i.state);
    if state == IntentState::Validated {
        let mode = exec.mode;
        state = deps
            .store
            .transition(&intent.id, &Transition::new(state, IntentState::Submitted, deps.clock.now())?.with_mode(mode))
            .await?
            .state;
    }
    if !state.is_final() {
        deps.store.transition(&intent.id, &Transition::new(state, IntentState::Settled, deps.clock.now())?.with_detail(detail)).await?;
    }
    Ok(())
}

/// The notice of an open's fill.
fn opened_text(position: &Position, fee: vanta_domain::money::Usdc) -> String {
    let liq = position.liquidation_price().map(|p| p.to_string()).unwrap_or_else(|_| "?".into());
    format!(
        "✅ Opened {} {} {}x: collateral ${}, entry {}, liquidation {liq}, fee ${}.",
        position.side, position.pair, position.leverage, position.collateral, position.open_price, fee
    )
}

/// The final notice of an intent found final on a redelivery, made again exactly as the
/// delivery that ended it made it: an open's fill (while its position is as the fill left it),
/// a refusal or a failure with its reason. Closes and other settles tell per leg as they run.
async fn retell_final(deps: &Deps, intent: &Intent, user: &User) -> DomainResult<()> {
    match intent.state {
        IntentState::Settled if matches!(intent.action, Action::Open(_) | Action::Flip(_)) => {
            if let Some(p) = deps.store.get_position(intent.user, &position_id(&intent.id)).await?
                && p.version == 0
                && p.status == PositionStatus::Open
            {
                notify(deps, user, p.mode, &opened_text(&p, p.fees)).await;
            }
        }
        IntentState::Rejected => {
            let text = refused_text(&intent.action, intent.reason.as_deref().unwrap_or_default());
            notify(deps, user, deps.effective_exec().await.mode, &text).await;
        }
        IntentState::Failed => {
            let reason = intent.reason.as_deref().unwrap_or_default();
            let refused = DomainError::Refused(reason.to_owned()).is_refused_before_signing();
            let text = if refused { refused_text(&intent.action, reason) } else { failed_text(&intent.action, reason) };
            notify(deps, user, intent.mode.unwrap_or(ExecMode::Dry), &text).await;
        }
        _ => {}
    }
    Ok(())
}

async fn reject(deps: &Deps, exec: &EffectiveExec, intent: &Intent, user: &User, reason: String) -> DomainResult<Outcome> {
    let t = Transition::new(intent.state, IntentState::Rejected, deps.clock.now())?.with_reason(reason.clone());
    deps.store.transition(&intent.id, &t).await?;
    notify(deps, user, exec.mode, &refused_text(&intent.action, &reason)).await;
    Ok(Outcome::Rejected(reason))
}

async fn fail(deps: &Deps, intent: &Intent, user: &User, reason: String) -> DomainResult<Outcome> {
    let t = Transition::new(intent.state, IntentState::Failed, deps.clock.now())?.with_reason(reason.clone());
    deps.store.transition(&intent.id, &t).await?;
    notify(deps, user, intent.mode.unwrap_or(ExecMode::Dry), &failed_text(&intent.action, &reason)).await;
    Ok(Outcome::Failed(reason))
}

fn refused_text(action: &Action, reason: &str) -> String {
    format!("⛔ {} refused: {}", describe(action), html_escape(reason))
}

fn failed_text(action: &Action, reason: &str) -> String {
    format!("❌ {} failed: {}", describe(action), html_escape(reason))
}

fn describe(a: &Action) -> String {
    match a {
        Action::Open(o) => format!("Open {} {} {}x ${}", o.side, o.pair, o.leverage, o.collateral),
        Action::Flip(o) => format!("Flip to {} {}", o.side, o.pair),
        Action::Close { pair, side, .. } => format!("Close {side} {pair}"),
        Action::ClosePosition { position, .. } => format!("Close position {position}"),
        Action::UpdateTpSl { pair, side, .. } => format!("TP/SL on {side} {pair}"),
        Action::Pause => "Pause".into(),
        Action::Flatten => "Flatten".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Entry points for the reconciler (`crate::reconcile`)
// ---------------------------------------------------------------------------------------------

/// Settles a SUBMITTED/AMBIGUOUS open whose fill the reconciler found on the venue (`wallet`'s
/// positions): the position is recorded with the venue's identity, the user told, copies fanned
/// out, exactly as if the venue's reply had arrived.
pub async fn settle_found_open(deps: &Deps, intent: &Intent, fill: &VenueFill, wallet: TraderAddress) -> DomainResult<Outcome> {
    let user = deps.store.get_user(intent.user).await?.ok_or_else(|| DomainError::NotFound(format!("user {}", intent.user)))?;
    let order = match &intent.action {
        Action::Open(o) | Action::Flip(o) => o,
        _ => return Err(DomainError::Invalid(format!("intent {} is not an open", intent.id))),
    };
    let (_, venue) = deps.venue(intent.mode.unwrap_or(ExecMode::Live));
    let catalog = venue.pairs().await?;
    let pair = catalog.resolve(order.pair.as_str())?.clone();
    settle_open(deps, intent, &user, &pair, fill, wallet).await
}

/// Ends a SUBMITTED/AMBIGUOUS open FAILED that the venue shows no fill of by its deadline, and
/// tells the user.
pub async fn fail_unfilled_open(deps: &Deps, intent: &Intent, reason: String) -> DomainResult<Outcome> {
    let user = deps.store.get_user(intent.user).await?.ok_or_else(|| DomainError::NotFound(format!("user {}", intent.user)))?;
    fail(deps, intent, &user, reason).await
}

/// After a realised loss recorded outside the pipeline (a venue-side SL or liquidation): pauses
/// the user's automation if the day's loss reached their limit.
pub async fn after_realised_loss(deps: &Deps, user: &User) {
    let policy = user.risk.bounded_by(&deps.ops);
    if let Ok(exp) = exposure(deps, user).await {
        pause_on_daily_loss(deps, None, user, &policy, &exp).await;
    }
}
