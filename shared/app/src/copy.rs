//! Copy trading: a leader's opens and exits fan out to followers, one intent (and one FIFO
//! message, grouped by the follower's account) per follower.
//!
//! The fan-out runs in messages of its own: the leader's message only queues a [`FanoutJob`]
//! (group `fanout:<leader position>`), and each job handles followers in id order until
//! [`FANOUT_PAGE`] of them or [`FANOUT_TIME`] are used, then queues the rest as the next job. So
//! a leader's message takes the same time for one follower or thousands, and no fan-out message
//! can outlast the worker's timeout. Every page is idempotent (follower intents have derived ids).
//! A leader has at most `COPY_MAX_FOLLOWERS` active followers ([`follow_refusal`]).
//!
//! Leaders are Vanta users today; an external Avantis trader plugs in through the same
//! [`LeaderEvent`] once the indexer observes its trades ([`fan_out`] is the entry point for both).
//!
//! Rules: only trades opened after the follow began are copied (adopting the leader's open
//! positions is opt-in, [`adopt_existing`]); leverage = min(leader, follower cap); per-trade and
//! daily caps; counter mode opens the other side (with TP and SL swapped); a copy below the
//! venue minimum is skipped with a notice; exits mirror the leader's fraction; a follower's
//! breaker (N losing copies in a row, or a total copy loss) stops the follow.

use std::time::{Duration, Instant};

pub use vanta_domain::copy::{CopySize, FanoutJob, LeaderEvent, Skip, close_fraction, size_copy};
use vanta_domain::ids::{IntentId, TelegramUserId, derived_id, payload_hash, position_id, trading_account as account};
use vanta_domain::intent::{Action, CreateOutcome, Intent, OpenOrder, Origin};
use vanta_domain::money::{Bps, SignedUsdc, Usdc};
use vanta_domain::position::Position;
use vanta_domain::user::{Follow, LeaderRef, User};
use vanta_domain::{DomainError, DomainResult};

use crate::Deps;
use crate::outbox::{enqueue, enqueue_fanout, notify};

/// The copy intent of `follower` for the leader's position `position_ref`.
pub fn copy_intent_id(position_ref: &str, follower: TelegramUserId) -> IntentId {
    derived_id("copy", &[position_ref, &follower.to_string()])
}

/// Called by the pipeline when a Vanta user's open settles (and again on a redelivery, which is
/// harmless: copies have stable ids). An error means some follower's copy is not queued yet.
pub async fn on_leader_open(deps: &Deps, leader: &User, position: &Position, intent: &Intent) -> DomainResult<()> {
    if matches!(intent.origin, Origin::Copy { .. }) {
        return Ok(()); // copies of copies are not copied again
    }
    if !has_followers(deps, &LeaderRef::User(leader.id)).await? {
        return Ok(()); // no follower: not even the equity read
    }
    let (_, venue) = deps.venue(position.mode);
    let leader_equity = venue.equity(account(leader)).await.ok().flatten();
    let event = LeaderEvent::Opened {
        leader: LeaderRef::User(leader.id),
        position_ref: position.id.as_str().to_owned(),
        pair: position.pair.clone(),
        side: position.side,
        collateral: position.collateral,
        leverage: position.leverage,
        price: position.open_price,
        tp: position.tp,
        sl: position.sl,
        leader_equity,
        at: position.opened_at,
    };
    fan_out(deps, &event).await
}

/// Called by the pipeline when a close of `fraction` is applied to a Vanta user's position (and
/// again on a redelivery: exits have stable ids too).
pub async fn on_leader_close(deps: &Deps, leader: &User, position: &Position, fraction: Bps, leg: &IntentId) -> DomainResult<()> {
    let event = LeaderEvent::Closed {
        leader: LeaderRef::User(leader.id),
        position_ref: position.id.as_str().to_owned(),
        close_ref: leg.as_str().to_owned(),
        fraction,
        at: deps.clock.now(),
    };
    fan_out(deps, &event).await
}

/// Followers one fan-out message handles at most.
pub const FANOUT_PAGE: usize = 25;
/// Time one fan-out message spends on followers before it hands the rest to the next message
/// (well inside the worker's time budget, whatever the venue's latency).
pub const FANOUT_TIME: Duration = Duration::from_secs(8);

/// The leader position an event is about (what a fan-out's log lines carry).
fn event_position(event: &LeaderEvent) -> &str {
    match event {
        LeaderEvent::Opened { position_ref, .. } | LeaderEvent::Closed { position_ref, .. } => position_ref,
    }
}

/// Queues the fan-out of a leader's event (its first page) on `signals.fifo`; nothing when the
/// leader has no active follower.
#[tracing::instrument(skip(deps, event), fields(leader_position = event_position(event)))]
pub async fn fan_out(deps: &Deps, event: &LeaderEvent) -> DomainResult<()> {
    let leader = match event {
        LeaderEvent::Opened { leader, .. } | LeaderEvent::Closed { leader, .. } => leader,
    };
    if matches!(event, LeaderEvent::Opened { .. }) && !accepts_copies(deps, leader).await? {
        return Ok(()); // exits still fan out: copies already held follow the leader out
    }
    if !has_followers(deps, leader).await? {
        return Ok(());
    }
    enqueue_fanout(deps, &FanoutJob { event: event.clone(), after: None }).await
}

async fn has_followers(deps: &Deps, leader: &LeaderRef) -> DomainResult<bool> {
    Ok(deps.store.followers(leader).await?.iter().any(|f| f.active && LeaderRef::User(f.follower) != *leader))
}

/// Runs one page of a fan-out (the worker, for a `fanout` message): one intent per active
/// follower, then the next page queued if followers are left. `Err` (retryable) means some
/// follower's copy is not queued yet: the page runs again (the copies made stay made).
#[tracing::instrument(skip(deps, job), fields(fanout = %job.group(), after = ?job.after))]
pub async fn run_fanout(deps: &Deps, job: &FanoutJob) -> DomainResult<usize> {
    let started = Instant::now();
    let leader = match &job.event {
        LeaderEvent::Opened { leader, .. } | LeaderEvent::Closed { leader, .. } => leader,
    };
    let mut follows: Vec<Follow> =
        deps.store.followers(leader).await?.into_iter().filter(|f| job.after.is_none_or(|a| f.follower.0 > a.0)).collect();
    follows.sort_by_key(|f| f.follower.0);
    let mut made = 0;
    let mut retry: Option<DomainError> = None;
    let mut last = None;
    let mut handled = 0;
    let total = follows.len();
    for follow in follows {
        if handled >= FANOUT_PAGE || (handled > 0 && started.elapsed() >= FANOUT_TIME) {
            break;
        }
        handled += 1;
        last = Some(follow.follower);
        match copy_one(deps, &follow, leader, &job.event).await {
            Ok(true) => made += 1,
            Ok(false) => {}
            Err(e) if e.is_retryable() => {
                tracing::warn!(follower = %follow.follower, error = %e, "copy not queued yet; this fan-out page will be retried");
                retry = Some(e);
            }
            Err(e) => tracing::warn!(follower = %follow.follower, error = %e, "copy not made"),
        }
    }
    if let Some(after) = last
        && handled < total
    {
        enqueue_fanout(deps, &FanoutJob { event: job.event.clone(), after: Some(after) }).await?;
    }
    match retry {
        Some(e) => Err(e),
        None => Ok(made),
    }
}

/// Whether a leader's new trades may be copied: a Vanta user only while opted in (`/leader on`)
/// with a verified wallet.
async fn accepts_copies(deps: &Deps, leader: &LeaderRef) -> DomainResult<bool> {
    let LeaderRef::User(id) = leader else { return Ok(true) };
    Ok(deps.store.get_user(*id).await?.is_some_and(|u| u.leader_opt_in && u.wallet_verified()))
}

/// One follower's copy of `event` (`Ok(true)` when an intent was queued).
async fn copy_one(deps: &Deps, follow: &Follow, leader: &LeaderRef, event: &LeaderEvent) -> DomainResult<bool> {
    if !follow.active || LeaderRef::User(follow.follower) == *leader {
        return Ok(false);
    }
    let Some(follower) = deps.store.get_user(follow.follower).await? else { return Ok(false) };
    match event {
        LeaderEvent::Opened { at, .. } if *at < follow.since => Ok(false), // opened before the follow
        LeaderEvent::Opened { .. } => copy_open(deps, follow, &follower, event).await,
        LeaderEvent::Closed { .. } => copy_close(deps, &follower, event).await,
    }
}

/// Why `follower` may not start following `leader`, if they may not: the leader has the most
/// active followers a leader may have (`COPY_MAX_FOLLOWERS`). Changing an existing follow is
/// always allowed.
pub async fn follow_refusal(deps: &Deps, follower: TelegramUserId, leader: &LeaderRef) -> DomainResult<Option<String>> {
    let cap = deps.config.copy_max_followers;
    let follows = deps.store.followers(leader).await?;
    if follows.iter().any(|f| f.follower == follower && f.active) {
        return Ok(None);
    }
    let active = follows.iter().filter(|f| f.active).count();
    if active >= cap as usize {
        return Ok(Some(format!("this leader already has {active} followers, the most one leader may have ({cap})")));
    }
    Ok(None)
}

async fn copy_open(deps: &Deps, follow: &Follow, follower: &User, event: &LeaderEvent) -> DomainResult<bool> {
    let LeaderEvent::Opened { position_ref, pair, side, collateral, leverage, price, tp, sl, leader_equity, at, .. } = event else {
        return Ok(false);
    };
    let mode = deps.effective_exec().await.mode;
    let (_, venue) = deps.venue(mode);
    let catalog = venue.pairs().await?;
    let info = catalog.resolve(pair.as_str())?.clone();
    if let Some(why) = breaker(deps, follow).await? {
        let mut stopped = follow.clone();
        stopped.active = false;
        deps.store.put_follow(&stopped).await?;
        notify(deps, follower, mode, &format!("🛑 Copying stopped: {why}. /copy to review, /follow to start again.")).await;
        return Ok(false);
    }
    let used = used_today(deps, follower).await?;
    let follower_equity = venue.equity(account(follower)).await?;
    let size = match size_copy(follow, *collateral, *leverage, follower_equity, *leader_equity, used, &info) {
        Ok(s) => s,
        Err(skip) => {
            notify(deps, follower, mode, &format!("⏭ Copy of {side} {pair} skipped: {skip}.")).await;
            return Ok(false);
        }
    };
    let (side, tp, sl) = if follow.counter { (side.opposite(), *sl, *tp) } else { (*side, *tp, *sl) };
    let action =
        Action::Open(OpenOrder { pair: pair.clone(), side, collateral: size.collateral, leverage: size.leverage, tp, sl, slippage: None });
    let origin = Origin::Copy { leader_ref: position_ref.clone(), leader_price: Some(*price), leader_at: Some(*at) };
    create_and_enqueue(deps, follower, copy_intent_id(position_ref, follower.id), origin, action).await
}

async fn copy_close(deps: &Deps, follower: &User, event: &LeaderEvent) -> DomainResult<bool> {
    let LeaderEvent::Closed { position_ref, close_ref, fraction, .. } = event else { return Ok(false) };
    let copy_position = position_id(&copy_intent_id(position_ref, follower.id));
    match deps.store.get_position(follower.id, &copy_position).await? {
        Some(p) if p.status.is_live() => {}
        _ => return Ok(false), // never copied, or already closed by the follower
    }
    let action = Action::ClosePosition { position: copy_position, fraction: *fraction };
    let origin = Origin::Copy { leader_ref: close_ref.clone(), leader_price: None, leader_at: None };
    create_and_enqueue(deps, follower, derived_id("copyx", &[close_ref, &follower.id.to_string()]), origin, action).await
}

async fn create_and_enqueue(deps: &Deps, user: &User, id: IntentId, origin: Origin, action: Action) -> DomainResult<bool> {
    let hash = payload_hash(&serde_json::to_vec(&(&origin, &action)).map_err(|e| DomainError::Internal(e.to_string()))?);
    let intent = Intent::new(id.clone(), user.id, origin, action, hash, deps.clock.now());
    match deps.store.create_intent(&intent).await? {
        CreateOutcome::Created => {}
        CreateOutcome::Duplicate(existing) if existing.state.is_final() => return Ok(false),
        CreateOutcome::Duplicate(_) => {}
        CreateOutcome::Mismatch(_) => return Ok(false),
    }
    enqueue(deps, user, &id).await?;
    Ok(true)
}

/// Collateral the follower put into copies opened today.
async fn used_today(deps: &Deps, follower: &User) -> DomainResult<Usdc> {
    let today = deps.clock.now().day();
    let mut used = Usdc::ZERO;
    for p in deps.store.user_positions(follower.id, false).await? {
        if p.opened_at.day() == today && p.is_copy() {
            used = used.checked_add(p.collateral)?;
        }
    }
    Ok(used)
}

/// Whether the follower's breaker has tripped, and why.
async fn breaker(deps: &Deps, follow: &Follow) -> DomainResult<Option<String>> {
    if follow.stop_after_losses == 0 && follow.max_drawdown.is_zero() {
        return Ok(None);
    }
    let mut copies: Vec<Position> = deps
        .store
        .user_positions(follow.follower, false)
        .await?
        .into_iter()
        .filter(|p| p.is_copy() && !p.status.is_live() && p.opened_at >= follow.since)
        .collect();
    copies.sort_by_key(|p| std::cmp::Reverse(p.closed_at));
    let streak = copies.iter().take_while(|p| p.realised_pnl.is_some_and(|x| x.is_negative())).count();
    if follow.stop_after_losses > 0 && streak >= follow.stop_after_losses as usize {
        return Ok(Some(format!("{streak} losing copies in a row")));
    }
    let total = copies.iter().try_fold(SignedUsdc::ZERO, |acc, p| acc.checked_add(p.realised_pnl.unwrap_or(SignedUsdc::ZERO)))?;
    if !follow.max_drawdown.is_zero() && total.loss() >= follow.max_drawdown {
        return Ok(Some(format!("copies lost ${} in total (limit ${})", total.loss(), follow.max_drawdown)));
    }
    Ok(None)
}

/// Copies the leader's currently open positions to a new follower who opted in.
pub async fn adopt_existing(deps: &Deps, follow: &Follow) -> DomainResult<usize> {
    let LeaderRef::User(leader_id) = follow.leader else { return Ok(0) };
    let Some(leader) = deps.store.get_user(leader_id).await? else { return Ok(0) };
    let Some(follower) = deps.store.get_user(follow.follower).await? else { return Ok(0) };
    let mut made = 0;
    for p in deps.store.user_positions(leader_id, true).await? {
        let (_, venue) = deps.venue(p.mode);
        let event = LeaderEvent::Opened {
            leader: follow.leader.clone(),
            position_ref: p.id.as_str().to_owned(),
            pair: p.pair.clone(),
            side: p.side,
            collateral: p.collateral,
            leverage: p.leverage,
            price: p.open_price,
            tp: p.tp,
            sl: p.sl,
            leader_equity: venue.equity(account(&leader)).await.ok().flatten(),
            at: p.opened_at,
        };
        if copy_open(deps, follow, &follower, &event).await? {
            made += 1;
        }
    }
    Ok(made)
}
