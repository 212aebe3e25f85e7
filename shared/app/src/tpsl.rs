//! What the TP/SL tick does to one position: which trigger a mark fires (pure), the pair's mark,
//! trailing stops moved to a new best, and the close queued (once, however many ticks see the
//! hit) as a `ClosePosition` intent for the one pipeline. The tick itself
//! ([`crate::schedule::tpsl_tick`]) asks the trigger index ([`crate::tpsl_index`]) which
//! positions to look at.

use vanta_domain::exec::ExecMode;
use vanta_domain::ids::PositionId;
use vanta_domain::intent::{Action, CreateOutcome, Intent, IntentState, Origin};
use vanta_domain::market::{PairIndex, PairSymbol, Side};
use vanta_domain::money::{Bps, Price};
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::risk_engine;
use vanta_domain::time::Timestamp;
use vanta_domain::{DomainError, DomainResult};

use crate::Deps;
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
    /// In words, for the user.
    pub fn label(self) -> &'static str {
        match self {
            Trigger::TakeProfit => "take-profit",
            Trigger::StopLoss => "stop-loss",
            Trigger::Trail => "trailing-stop",
            Trigger::Liquidation => "liquidation",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::TakeProfit => "tp",
            Trigger::StopLoss => "sl",
            Trigger::Trail => "trail",
            Trigger::Liquidation => "liquidation",
        }
    }
}

/// Which trigger, if any, `mark` fires for `p` (pure). Vanta's own: the trailing stop.
/// Take-profit, stop-loss and liquidation are the venue's in both modes (Veranta's, or the paper
/// venue's keeper for DRY, [`vanta_domain::ports::Venue::run_triggers`]); the reconciler records
/// their closes. The exception: a DRY position recorded before positions carried their wallet
/// is on no paper account the keeper runs, so the tick still fires its exits (an exit is never
/// dropped). A DRY position whose wallet's paper book lacks its trade is the same case, found
/// by [`evaluate`] (it needs the book).
pub fn trigger(p: &Position, mark: Price) -> Option<Trigger> {
    if p.mode == ExecMode::Dry
        && p.wallet.is_none()
        && let Some(t) = venue_held_trigger(p, mark)
    {
        return Some(t);
    }
    let level = p.trail?.level(p.side);
    if beyond(mark, level, loss_above(p.side)) {
        return Some(Trigger::Trail);
    }
    None
}

fn beyond(mark: Price, level: Price, above: bool) -> bool {
    if above { mark >= level } else { mark <= level }
}

/// A loss is a move up for a short, down for a long.
fn loss_above(side: Side) -> bool {
    side == Side::Short
}

/// Which of the levels the venue holds (liquidation first, then stop-loss, then take-profit)
/// `mark` has crossed for `p` (pure).
pub fn venue_held_trigger(p: &Position, mark: Price) -> Option<Trigger> {
    let loss = loss_above(p.side);
    if let Ok(liq) = p.liquidation_price()
        && beyond(mark, liq, loss)
    {
        return Some(Trigger::Liquidation);
    }
    if let Some(sl) = p.sl
        && beyond(mark, sl, loss)
    {
        return Some(Trigger::StopLoss);
    }
    if let Some(tp) = p.tp
        && beyond(mark, tp, !loss)
    {
        return Some(Trigger::TakeProfit);
    }
    None
}

/// A DRY position with a wallet whose trade is not in that wallet's paper book (recorded
/// before the book was stored, or the book lost it): the keeper cannot fire its levels, so the
/// tick does. Only asked when a venue-held level was crossed. Not an orphan: a trade the keeper
/// closed since the position opened (the reconciler records that close; a second close is
/// worse). A book that cannot be read now leaves the position to the next tick.
async fn orphan_trigger(deps: &Deps, p: &Position, mark: Price) -> Option<Trigger> {
    if p.mode != ExecMode::Dry {
        return None;
    }
    let wallet = p.wallet?;
    let t = venue_held_trigger(p, mark)?;
    let this = |pair: PairIndex, trade: u32| pair == p.pair_index && Some(trade) == p.trade_index;
    let unreadable = |e: DomainError| {
        tracing::warn!(position = %p.id, error = %e, "paper book unreadable; its levels are checked again next tick");
    };
    let held = deps.paper.positions(wallet).await.map_err(unreadable).ok()?;
    if held.iter().any(|v| this(v.pair, v.trade_index)) {
        return None;
    }
    let history = deps.paper.history(wallet, Some(p.opened_at)).await.map_err(unreadable).ok()?;
    if history.is_some_and(|h| h.closes.iter().any(|c| this(c.pair, c.trade_index))) {
        return None;
    }
    tracing::warn!(position = %p.id, trigger = t.as_str(), "DRY trade missing from its paper book: the tick fires its level");
    Some(t)
}

/// The one place the TP/SL tick gets a pair's mark: fresh quotes on which the sources agree,
/// or the reason there is none (the pair is then skipped this tick: a stale price must not
/// close a position).
pub async fn mark_price(deps: &Deps, pair: &PairSymbol) -> Result<Price, String> {
    let quotes = deps.prices.quotes(pair).await.unwrap_or_default();
    crate::emf::price_quotes(deps, pair, &quotes);
    risk_engine::reference_price(pair, &quotes, deps.clock.now(), deps.ops.max_price_age_secs, deps.ops.max_price_deviation)
        .map_err(|why| why.to_string())
}

/// Checks the triggers of the open position `p` at `mark` (its trail as `book` has it) and
/// queues the close of the one that fires.
pub(crate) async fn evaluate(
    deps: &Deps,
    p: &Position,
    mark: Price,
    book: Option<&vanta_domain::triggers::TrailBook>,
    report: &mut TickReport,
) -> DomainResult<()> {
    let mut current = p.clone();
    current.trail = vanta_domain::triggers::effective_trail(p, book);
    let fired = match trigger(&current, mark) {
        Some(t) => Some(t),
        None => orphan_trigger(deps, &current, mark).await,
    };
    if let Some(t) = fired
        && queue_close(deps, &current, t, mark).await?
    {
        report.triggered.push(format!("{}:{}", p.id, t.as_str()));
    }
    Ok(())
}

/// The trailing stop of `p` as it stands now: its best price is its epoch's in the pair's trail
/// book (what `/positions`-style views and tests should show).
pub async fn trail_now(deps: &Deps, p: &Position) -> DomainResult<Option<vanta_domain::position::TrailingStop>> {
    if p.trail.is_none() {
        return Ok(None);
    }
    let book = deps.store.get_trail_book(&p.pair, p.side).await?;
    Ok(vanta_domain::triggers::effective_trail(p, book.as_ref()))
}

/// Moves the trailing stop of `p` to `mark` if that is a new best, on a fresh read under its
/// version (a concurrent partial close or TP/SL change is kept; a stale read is re-read). The
/// answer is the position as stored after the move, or None when there was nothing to move
/// (closed meanwhile, no trail, not a new best).
pub async fn move_trail(deps: &Deps, p: &Position, mark: Price) -> DomainResult<Option<Position>> {
    let moved = crate::pipeline::modify_position(deps, p.user, &p.id, |q| {
        if q.status != PositionStatus::Open {
            return false;
        }
        let Some(mut t) = q.trail else { return false };
        if !t.observe(q.side, mark) {
            return false;
        }
        q.trail = Some(t);
        true
    });
    match moved.await {
        Ok(v) => Ok(v),
        // Kept changing under us: the next tick moves it; the triggers still run on this read.
        Err(DomainError::Unavailable(e)) => {
            tracing::warn!(position = %p.id, error = %e, "trailing stop not moved this tick");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// How many close attempts one trigger of one position gets (one a tick at most). After the
/// last one fails the user is told once that Vanta stopped trying.
pub const MAX_TRIGGER_ATTEMPTS: u32 = 5;

/// The intent id of attempt `n` (from 1) to close `p` for `why`. Deterministic, so overlapping
/// ticks that see the same hit produce the same id; attempt 1 keeps the id used before attempts
/// were numbered.
pub fn trigger_intent_id(p: &PositionId, why: Trigger, n: u32) -> vanta_domain::ids::IntentId {
    if n <= 1 { derived_id("tpsl", &[p.as_str(), why.as_str()]) } else { derived_id("tpsl", &[p.as_str(), why.as_str(), &n.to_string()]) }
}

/// Queues the close of `p` for `why`; true when a close is queued or in flight. A hit seen on
/// several ticks closes once: while an attempt is not final, nothing new is made (it is sent
/// again only if it never left RECEIVED). An attempt that ended (refused, failed, or settled
/// while the position is still open, so its close did not happen) is followed by the next one.
async fn queue_close(deps: &Deps, p: &Position, why: Trigger, mark: Price) -> DomainResult<bool> {
    let Some(user) = deps.store.get_user(p.user).await? else { return Ok(false) };
    for n in 1..=MAX_TRIGGER_ATTEMPTS {
        let id = trigger_intent_id(&p.id, why, n);
        if let Some(previous) = deps.store.get_intent(&id).await? {
            if !previous.state.is_final() {
                if previous.state == IntentState::Received {
                    enqueue(deps, &user, &id).await?;
                }
                return Ok(true);
            }
            continue;
        }
        if n > 1 {
            // The previous attempt ended: only try again if the position is really still open
            // (the live list may lag a close that just happened).
            match deps.store.get_position(p.user, &p.id).await? {
                Some(fresh) if fresh.status == PositionStatus::Open => {}
                _ => return Ok(false),
            }
        }
        let action = Action::ClosePosition { position: p.id.clone(), fraction: Bps::FULL };
        let hash = if n <= 1 {
            derived_id("h", &[p.id.as_str(), why.as_str()])
        } else {
            derived_id("h", &[p.id.as_str(), why.as_str(), &n.to_string()])
        };
        let intent = Intent::new(
            id.clone(),
            p.user,
            Origin::TpSl { position: p.id.clone(), trigger: Some(why.as_str().to_owned()) },
            action,
            hash.as_str().to_owned(),
            deps.clock.now(),
        );
        let send = match deps.store.create_intent(&intent).await? {
            CreateOutcome::Created => true,
            CreateOutcome::Duplicate(i) => i.state == IntentState::Received,
            CreateOutcome::Mismatch(_) => false,
        };
        if send {
            tracing::info!(position = %p.id, trigger = why.as_str(), attempt = n, %mark, "trigger hit; close queued");
            enqueue(deps, &user, &id).await?;
        }
        return Ok(true);
    }
    // Every attempt ended without the close: tell the user once, and leave it to them.
    let key = format!("tpsl-gave-up:{}:{}", p.id, why.as_str());
    let now = deps.clock.now();
    if deps.store.mark_once(&key, now, Timestamp(now.millis().saturating_add(GAVE_UP_MEMORY_MS))).await? {
        tracing::warn!(position = %p.id, trigger = why.as_str(), "trigger close failed {MAX_TRIGGER_ATTEMPTS} times; not retried");
        crate::pipeline::notify(
            deps,
            &user,
            p.mode,
            &format!(
                "⚠️ Your {} {} hit its {} level, but {MAX_TRIGGER_ATTEMPTS} attempts to close it failed (see the messages before). \
                 Vanta stopped trying: close it yourself (/positions, or in the Veranta app).",
                p.side,
                p.pair,
                why.label()
            ),
        )
        .await;
    }
    Ok(false)
}

/// How long the "stopped trying" notice is remembered (so it is sent once).
const GAVE_UP_MEMORY_MS: i64 = 30 * 24 * 3_600_000;
