//! The reconciler: the venue is the truth, and this module makes Vanta's records follow it.
//!
//! Every indexer run ([`run_all`], every minute) and on demand for one wallet ([`run_wallet`],
//! `/sync`), for every wallet with Vanta positions, pending intents, an owner who proved it, or
//! followers, it reads the venue's positions and its trade history since the wallet's cursor
//! (kept in the store, [`ReconWallet`]), and:
//!
//! - records every venue-side close (TP, SL, liquidation, partial trigger, a close in the Veranta
//!   app) with the venue's close price, fees, net PnL and reason, on the position's own record
//!   (so the day's loss, the loss streak and the copy breakers, which read those records, count
//!   it), tells the user once however runs overlap (a versioned write of the position, then a
//!   close marker), pauses automation when the daily loss limit is reached, and mirrors the exit
//!   to followers' copies through the copy exit path;
//! - settles a direct-route or relayer close left CLOSING (its reply lost) from the history;
//! - resolves SUBMITTED/AMBIGUOUS opens: a matching trade on the wallet becomes the position
//!   (with the venue's pair, index and open time); nothing by the deadline ends it FAILED, and
//!   the user is told;
//! - keeps a position the venue did not list: it closes only when the history shows the close,
//!   or after [`Settings::missing_reads`] reads over [`Settings::missing_grace_secs`];
//! - adopts trades opened outside Vanta on a verified wallet, recorded as external positions
//!   (opened by `ext:…`) that `/close` and `/tpsl` manage like any other;
//! - for a followed outside address (`/follow 0x…`), fans its new trades and exits out to the
//!   followers ([`copy::fan_out`]);
//! - keeps the wallet's resting limit orders (placed outside Vanta: Vanta places none) in the
//!   wallet's record, for the entry check's fallback and `/positions`. An order gone since the
//!   last read that shows up as a new trade on the wallet (same pair, side and leverage, its
//!   collateral less at most 5 % open fee) filled: on a verified wallet the trade is adopted at
//!   once (without waiting [`Settings::adopt_after_secs`]), under the trade's derived id, so
//!   overlapping runs adopt it once. An order gone without such a trade was cancelled or expired
//!   and is simply dropped. (A fill the reconciler did not tie to its order — the trade appeared
//!   while an open was unresolved, between the read of positions and that of orders, or while
//!   the read of orders failed — is still adopted once, by the ordinary rule for trades opened
//!   outside Vanta.)
//!
//! DRY positions are reconciled the same way against the paper venue, for closes only: its keeper
//! (run by the indexer's tick just before) closes paper trades whose TP, SL or liquidation price
//! was crossed and keeps each close in the paper book's history, and [`reconcile_paper_wallet`]
//! records them through the same [`record_close`] (told once, the day's loss and loss streak,
//! followers' copies).
//!
//! Everything it does is idempotent: a close is applied once (the position remembers the venue's
//! close id), intents settle once (state machine), copies and fan-out pages have derived ids,
//! and the wallet record is written under its version (an overlapping run's write loses and the
//! next run starts from what was stored).

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, PositionId, TelegramUserId, TraderAddress, derived_id, position_id};
use vanta_domain::intent::{Action, Intent, IntentState, Transition};
use vanta_domain::money::{SignedUsdc, Usdc};
use vanta_domain::ports::{Lookup, Venue, VenueFill, VenuePosition};
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::recon::{CloseReason, Missing, ReconWallet, SeenTrade, VenueClose, VenueLimitOrder};
use vanta_domain::time::Timestamp;
use vanta_domain::user::LeaderRef;
use vanta_domain::{DomainError, DomainResult};

use crate::Deps;
use crate::copy::{self, LeaderEvent};
use crate::outbox::notify;
use crate::pipeline;

/// How patient the reconciler is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Reads a position must be missing from before it is closed without a history record.
    pub missing_reads: u32,
    /// …and the time since it was first missed.
    pub missing_grace_secs: i64,
    /// An open still SUBMITTED/AMBIGUOUS this long after it was sent, with no fill on the
    /// venue, ends FAILED (the venue's intents expire after 120 s).
    pub intent_deadline_secs: i64,
    /// A trade not known to Vanta is adopted only once it is this old (an open in flight is
    /// recorded by the worker first).
    pub adopt_after_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self { missing_reads: 3, missing_grace_secs: 180, intent_deadline_secs: 300, adopt_after_secs: 120 }
    }
}

/// What a run did (for the tick report and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReconReport {
    pub wallets: usize,
    /// `<position>:<reason>` per venue-side close recorded.
    pub closes: Vec<String>,
    /// Intents settled from a fill found on the venue.
    pub resolved: Vec<String>,
    /// Intents ended FAILED (no fill by the deadline).
    pub failed: Vec<String>,
    /// External positions adopted.
    pub adopted: Vec<String>,
    /// Positions missing from this read, kept OPEN.
    pub missing: Vec<String>,
    /// Leader events fanned out (`open:<ref>` / `close:<ref>`).
    pub leader_events: Vec<String>,
    /// Wallets that could not be read this run.
    pub unreadable: Vec<String>,
    /// Resting limit orders seen for the first time (`<wallet>:<pair>:<index>`).
    pub limit_orders: Vec<String>,
    /// Orders gone since the last read that filled (a new trade on the wallet).
    pub limit_filled: Vec<String>,
    /// Orders gone without a fill (cancelled or expired).
    pub limit_dropped: Vec<String>,
}

impl ReconReport {
    fn merge(&mut self, o: ReconReport) {
        self.wallets += o.wallets;
        self.closes.extend(o.closes);
        self.resolved.extend(o.resolved);
        self.failed.extend(o.failed);
        self.adopted.extend(o.adopted);
        self.missing.extend(o.missing);
        self.leader_events.extend(o.leader_events);
        self.unreadable.extend(o.unreadable);
        self.limit_orders.extend(o.limit_orders);
        self.limit_filled.extend(o.limit_filled);
        self.limit_dropped.extend(o.limit_dropped);
    }
}

/// Marks how long the "told once" markers of closes live.
const CLOSE_MARKER_DAYS: i64 = 30;

// Registration lives in `crate::watch` (the pipeline registers intents without importing the
// reconciler); re-exported here for the callers that name it through the reconciler.
pub use crate::watch::{watch_intent, watch_leader, watch_owner};

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

/// One run over every wallet (the indexer, every minute): the DRY positions' wallets against the
/// paper venue's history ([`reconcile_paper_wallet`]), then, where a LIVE venue is configured,
/// every LIVE wallet against it.
#[tracing::instrument(skip(deps, settings))]
pub async fn run_all(deps: &Deps, settings: &Settings) -> DomainResult<ReconReport> {
    let mut report = ReconReport::default();
    let live = deps.store.live_positions().await?;
    for (wallet, positions) in dry_by_wallet(&live) {
        match reconcile_paper_wallet(deps, deps.paper.as_ref(), wallet, positions).await {
            Ok(r) => report.merge(r),
            Err(e) => {
                tracing::warn!(wallet = %wallet, error = %e, "paper wallet not reconciled this run");
                report.unreadable.push(wallet.to_string());
            }
        }
    }
    let Some(venue) = deps.live.clone() else { return Ok(report) };
    let mut wallets: BTreeSet<TraderAddress> = deps.store.recon_wallets().await?.into_iter().map(|w| w.wallet).collect();
    wallets.extend(live.iter().filter(|p| p.mode == ExecMode::Live).filter_map(|p| p.wallet));
    for wallet in wallets {
        let positions: Vec<Position> = live.iter().filter(|p| p.mode == ExecMode::Live && p.wallet == Some(wallet)).cloned().collect();
        match reconcile_wallet(deps, venue.as_ref(), wallet, positions, settings).await {
            Ok(r) => report.merge(r),
            Err(e) => {
                tracing::warn!(wallet = %wallet, error = %e, "wallet not reconciled this run");
                report.unreadable.push(wallet.to_string());
            }
        }
    }
    Ok(report)
}

/// The live DRY positions by the paper account they were opened on.
pub(crate) fn dry_by_wallet(live: &[Position]) -> std::collections::BTreeMap<TraderAddress, Vec<Position>> {
    let mut out: std::collections::BTreeMap<TraderAddress, Vec<Position>> = std::collections::BTreeMap::new();
    for p in live.iter().filter(|p| p.mode == ExecMode::Dry && p.status.is_live()) {
        if let Some(wallet) = p.wallet {
            out.entry(wallet).or_default().push(p.clone());
        }
    }
    out
}

/// One wallet, now (`/sync`, an operator): its DRY positions against the paper venue's history,
/// and, where a LIVE venue is configured, the wallet against it (watched from then on).
pub async fn run_wallet(deps: &Deps, wallet: TraderAddress, settings: &Settings) -> DomainResult<ReconReport> {
    let all = deps.store.live_positions().await?;
    let paper = match dry_by_wallet(&all).remove(&wallet) {
        Some(positions) => Some(reconcile_paper_wallet(deps, deps.paper.as_ref(), wallet, positions).await?),
        None => None,
    };
    let Some(venue) = deps.live.clone() else {
        return paper.ok_or_else(|| DomainError::Unavailable("no LIVE venue is configured".into()));
    };
    let positions: Vec<Position> = all.into_iter().filter(|p| p.mode == ExecMode::Live && p.wallet == Some(wallet)).collect();
    let mut report = reconcile_wallet(deps, venue.as_ref(), wallet, positions, settings).await?;
    if let Some(p) = paper {
        report.merge(ReconReport { wallets: 0, ..p });
    }
    Ok(report)
}

/// The DRY positions of a paper account against the paper venue's history: every close its
/// keeper made (TP, SL, liquidation) is recorded on its position by the same [`record_close`] as
/// a LIVE venue-side close (close price, fee, net PnL, reason; the user told once; the day's
/// loss and the loss streak; followers' copies closed). Only closes: the paper venue has no
/// outside trades, limit orders or leaders, and the wallet's reconciler record (its cursor) is
/// the LIVE venue's. The whole kept history is read each run (a close is recorded once, by its
/// id, however often it is read).
pub async fn reconcile_paper_wallet(
    deps: &Deps,
    paper: &dyn Venue,
    wallet: TraderAddress,
    vanta: Vec<Position>,
) -> DomainResult<ReconReport> {
    let mut report = ReconReport { wallets: 1, ..ReconReport::default() };
    let Some(history) = paper.history(wallet, None).await? else { return Ok(report) };
    let mut closes = history.closes;
    closes.sort_by_key(|c| c.at);
    let mut vanta = vanta;
    for c in &closes {
        let Some(p) = vanta.iter().find(|p| p.mode == ExecMode::Dry && names_trade(p, c)).cloned() else { continue };
        if let Some(done) = record_close(deps, &p, c).await? {
            report.closes.push(format!("{}:{}", p.id, reason_key(c.reason)));
            // Later closes of the same wallet see the position as it is now.
            if let Some(slot) = vanta.iter_mut().find(|q| q.id == done.id) {
                *slot = done;
            }
        }
    }
    Ok(report)
}

async fn reconcile_wallet(
    deps: &Deps,
    venue: &dyn Venue,
    wallet: TraderAddress,
    vanta: Vec<Position>,
    settings: &Settings,
) -> DomainResult<ReconReport> {
    let mut report = ReconReport { wallets: 1, ..ReconReport::default() };
    let now = deps.clock.now();
    let mut st = deps.store.get_recon_wallet(wallet).await?.unwrap_or_else(|| ReconWallet::new(wallet));
    if st.owner.is_none()
        && let Some(claim) = deps.store.address_claim(wallet).await?
        && claim.verified
    {
        st.owner = Some(claim.owner);
    }
    let on_venue = venue.positions(wallet).await?;
    // After the positions (the read a position may be missing from). An order that fills
    // between the two reads is seen neither resting nor open: dropped as cancelled this run, its
    // trade adopted once later by the ordinary rule for trades opened outside Vanta.
    let limit_orders = match venue.limit_orders(wallet).await {
        Ok(orders) => orders,
        Err(e) => {
            tracing::warn!(wallet = %wallet, error = %e, "limit orders unavailable; the last read is kept this run");
            None
        }
    };
    let history = match venue.history(wallet, st.cursor).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(wallet = %wallet, error = %e, "trade history unavailable; positions alone this run");
            None
        }
    };
    let have_history = history.is_some();
    let mut closes = history.map(|h| h.closes).unwrap_or_default();
    closes.sort_by_key(|c| c.at);

    // 1. Venue-side closes, from the history.
    let mut closed_now: BTreeSet<PositionId> = BTreeSet::new();
    for c in &closes {
        st.cursor = Some(st.cursor.map_or(c.at, |t| t.max(c.at)));
        let Some(p) = vanta.iter().find(|p| names_trade(p, c)) else { continue };
        if let Some(done) = record_close(deps, p, c).await? {
            report.closes.push(format!("{}:{}", p.id, reason_key(c.reason)));
            if done.collateral.is_zero() {
                closed_now.insert(p.id.clone());
            }
        }
    }

    // 2. Opens whose outcome is unknown.
    let claimed = |store_positions: &[Position], v: &VenuePosition| store_positions.iter().any(|p| on_trade(p, v));
    let mut fresh: Vec<Position> = vanta.iter().filter(|p| !closed_now.contains(&p.id)).cloned().collect();
    let mut unresolved = false;
    for (id, _user) in st.pending.clone() {
        let Some(intent) = deps.store.get_intent(&id).await? else {
            st.pending.remove(&id);
            continue;
        };
        if intent.state.is_final() || !matches!(intent.action, Action::Open(_) | Action::Flip(_)) {
            st.pending.remove(&id);
            continue;
        }
        if !matches!(intent.state, IntentState::Submitted | IntentState::Ambiguous) {
            unresolved = true;
            continue;
        }
        match resolve_open(deps, venue, &intent, wallet, &on_venue, &fresh, settings).await? {
            Resolution::Filled(p) => {
                report.resolved.push(id.as_str().to_owned());
                fresh.push(*p);
                st.pending.remove(&id);
            }
            Resolution::Failed => {
                report.failed.push(id.as_str().to_owned());
                st.pending.remove(&id);
            }
            Resolution::Wait => unresolved = true,
        }
    }

    // 3. Positions the venue did not list.
    for p in vanta.iter().filter(|p| p.status == PositionStatus::Open && !closed_now.contains(&p.id)) {
        if on_venue.iter().any(|v| on_trade(p, v)) {
            st.missing.remove(&p.id);
            continue;
        }
        let m = st.missing.entry(p.id.clone()).or_insert(Missing { reads: 0, since: now });
        m.reads = m.reads.saturating_add(1);
        if m.reads >= settings.missing_reads && now.since(m.since) >= settings.missing_grace_secs.saturating_mul(1000) {
            let why = if have_history { "the venue's history has no record of the close" } else { "this venue keeps no history" };
            if close_unrecorded(deps, p, why).await? {
                report.closes.push(format!("{}:unrecorded", p.id));
            }
            st.missing.remove(&p.id);
        } else {
            report.missing.push(p.id.as_str().to_owned());
        }
    }
    st.missing.retain(|id, _| vanta.iter().any(|p| &p.id == id && p.status.is_live()));

    // 4a. Resting limit orders: gone ones filled (a new trade) or were cancelled.
    let mut limit_fills: Vec<(VenuePosition, VenueLimitOrder)> = Vec::new();
    if let Some(orders) = limit_orders {
        let key = |o: &VenueLimitOrder| format!("{wallet}:{}:{}", o.pair.0, o.order_index);
        for o in st.limit_orders.iter().filter(|o| !orders.iter().any(|n| n.same_order(o))) {
            let fill = on_venue
                .iter()
                .filter(|v| !claimed(&fresh, v) && !limit_fills.iter().any(|(f, _)| f == *v))
                .find(|v| fills_order(v, o, st.last_run));
            match fill {
                Some(v) => {
                    report.limit_filled.push(key(o));
                    limit_fills.push((v.clone(), o.clone()));
                }
                None => report.limit_dropped.push(key(o)),
            }
        }
        report.limit_orders.extend(orders.iter().filter(|n| !st.limit_orders.iter().any(|o| o.same_order(n))).map(key));
        st.limit_orders = orders;
    }

    // 4b. Trades opened outside Vanta, on a wallet its owner proved (a limit order's fill at once).
    if let Some(owner) = st.owner
        && !unresolved
    {
        let verified = deps.store.address_claim(wallet).await?.is_some_and(|c| c.verified && c.owner == owner);
        let old_enough = |v: &VenuePosition| v.open_time.is_some_and(|t| now.secs().saturating_sub(t as i64) >= settings.adopt_after_secs);
        let from_limit = |v: &VenuePosition| limit_fills.iter().find(|(f, _)| f == v).map(|(_, o)| o);
        let candidates: Vec<&VenuePosition> =
            on_venue.iter().filter(|v| !claimed(&fresh, v) && (old_enough(v) || from_limit(v).is_some())).collect();
        if verified && !candidates.is_empty() {
            // Read again right before: the worker may have recorded a fill since the run began.
            let current: Vec<Position> = deps.store.live_positions().await?.into_iter().filter(|p| p.wallet == Some(wallet)).collect();
            for v in candidates.into_iter().filter(|v| !claimed(&current, v)) {
                if let Some(id) = adopt(deps, owner, wallet, v, from_limit(v)).await? {
                    report.adopted.push(id.as_str().to_owned());
                }
            }
        }
    }

    // 5. A followed outside address: its opens and exits go to the followers.
    if st.leader {
        report.leader_events.extend(follow_leader(deps, &mut st, &on_venue).await?);
    }

    st.last_run = Some(now);
    match deps.store.put_recon_wallet(&st).await {
        Ok(()) => {}
        Err(DomainError::Conflict(e)) => {
            tracing::info!(wallet = %wallet, error = %e, "an overlapping run wrote first; the next run goes on from it")
        }
        Err(e) => return Err(e),
    }
    Ok(report)
}

/// A close reason in the words of the reports (`tp`, `sl`, `liquidation`, …).
pub(crate) fn reason_key(r: CloseReason) -> &'static str {
    match r {
        CloseReason::TakeProfit => "tp",
        CloseReason::StopLoss => "sl",
        CloseReason::Liquidation => "liquidation",
        CloseReason::Market => "market",
        CloseReason::Unknown => "unknown",
    }
}

/// Whether the venue's trade `v` is the recorded position `p` (pair, index, side, and the open
/// time where both know it).
fn on_trade(p: &Position, v: &VenuePosition) -> bool {
    v.pair == p.pair_index
        && Some(v.trade_index) == p.trade_index
        && v.side == p.side
        && !matches!((p.venue_open_time, v.open_time), (Some(a), Some(b)) if a != b)
}

/// Whether the venue's trade `v` is what the resting order `o` opened: same pair, side and
/// leverage, collateral at most the order's and at least 95 % of it (the open fee), and opened
/// after the read that last saw the order resting (a minute's slack) where both times are known.
fn fills_order(v: &VenuePosition, o: &VenueLimitOrder, last_seen: Option<Timestamp>) -> bool {
    v.pair == o.pair
        && v.side == o.side
        && v.leverage == o.leverage
        && v.collateral <= o.collateral
        && u128::from(v.collateral.raw()) * 100 >= u128::from(o.collateral.raw()) * 95
        && !matches!((v.open_time, last_seen), (Some(t), Some(seen)) if (t as i64) < seen.secs().saturating_sub(60))
}

/// Whether the history's close `c` is of the live position `p`.
fn names_trade(p: &Position, c: &VenueClose) -> bool {
    p.status.is_live()
        && c.pair == p.pair_index
        && Some(c.trade_index) == p.trade_index
        && c.side == p.side
        && c.at >= p.opened_at.minus(std::time::Duration::from_secs(60))
        && !matches!((p.venue_open_time, c.open_time), (Some(a), Some(b)) if a != b)
        && p.last_close.as_deref() != Some(close_leg(p, c).as_str())
}

/// The close leg a venue-side close is recorded under (unique per position and venue close).
fn close_leg(p: &Position, c: &VenueClose) -> IntentId {
    derived_id("vclose", &[p.id.as_str(), &c.id])
}

// ---------------------------------------------------------------------------------------------
// Closes
// ---------------------------------------------------------------------------------------------

/// Records the venue's close `c` on `p`: collateral, fees, net PnL, close price, reason. Returns
/// the position as written, or None when another run (or the pipeline) recorded it first.
async fn record_close(deps: &Deps, p: &Position, c: &VenueClose) -> DomainResult<Option<Position>> {
    let leg = close_leg(p, c);
    let closing_intent = p.closing.as_ref().and_then(|cl| cl.intent.clone());
    let written = pipeline::modify_position(deps, p.user, &p.id, |q| {
        if !q.status.is_live() || q.last_close.as_deref() == Some(leg.as_str()) || q.version != p.version {
            return false; // changed since it was read: applied already, or the next run decides
        }
        let closed = c.collateral.min(q.collateral);
        let (Ok(left), Ok(fees), Ok(net)) = (
            if c.remaining.is_zero() { Ok(Usdc::ZERO) } else { q.collateral.checked_sub(closed) },
            q.fees.checked_add(c.fee),
            q.realised_pnl.unwrap_or(SignedUsdc::ZERO).checked_add(c.net_pnl),
        ) else {
            return false;
        };
        q.last_close_fraction = Some(copy::close_fraction(q.collateral, q.collateral.checked_sub(left).unwrap_or(q.collateral)));
        q.collateral = left;
        q.fees = fees;
        q.realised_pnl = Some(net);
        q.close_price = Some(c.price);
        q.last_close = Some(leg.as_str().to_owned());
        if left.is_zero() {
            q.status = if c.reason == CloseReason::Liquidation { PositionStatus::Liquidated } else { PositionStatus::Closed };
            q.closed_at = Some(c.at);
            q.closing = None;
        }
        true
    })
    .await?;
    let Some(done) = written else { return Ok(None) };
    // A close of ours whose reply was lost (the direct route ends a mined close AMBIGUOUS):
    // the history settles its intent too.
    if done.collateral.is_zero()
        && let Some(id) = closing_intent
    {
        settle_close_intent(deps, &id, c).await;
    }
    let user = deps.store.get_user(p.user).await?;
    let now = deps.clock.now();
    let first = deps
        .store
        .mark_once(
            &format!("recon-close:{}", leg.as_str()),
            now,
            now.plus(std::time::Duration::from_secs(86_400 * CLOSE_MARKER_DAYS as u64)),
        )
        .await
        .unwrap_or(true);
    if let Some(user) = &user {
        if first {
            let on = if p.mode == ExecMode::Dry { "by the paper venue" } else { "on Veranta" };
            let what = match (c.reason, done.status) {
                (CloseReason::TakeProfit, _) => format!("🎯 Take-profit hit {on}:"),
                (CloseReason::StopLoss, _) => format!("🛑 Stop-loss hit {on}:"),
                (CloseReason::Liquidation, _) | (_, PositionStatus::Liquidated) => format!("💥 Liquidated {on}:"),
                (_, PositionStatus::Closed) => format!("🔻 Closed {on}:"),
                _ => format!("🔻 Partly closed {on}:"),
            };
            let left = if done.collateral.is_zero() { String::new() } else { format!(", ${} still open", done.collateral) };
            notify(
                deps,
                user,
                p.mode,
                &format!("{what} {} {} ${} at {}, fees ${}, net PnL ${}{left}.", p.side, p.pair, c.collateral, c.price, c.fee, c.net_pnl),
            )
            .await;
        }
        if c.net_pnl.is_negative() {
            pipeline::after_realised_loss(deps, user).await;
        }
        let fraction = done.last_close_fraction.unwrap_or(vanta_domain::money::Bps::FULL);
        copy::on_leader_close(deps, user, p, fraction, &leg).await?;
    }
    Ok(Some(done))
}

async fn settle_close_intent(deps: &Deps, id: &IntentId, c: &VenueClose) {
    let Ok(Some(intent)) = deps.store.get_intent(id).await else { return };
    if !matches!(intent.state, IntentState::Submitted | IntentState::Ambiguous) {
        return;
    }
    let t = match Transition::new(intent.state, IntentState::Settled, deps.clock.now()) {
        Ok(t) => t.with_detail(format!("settled from the venue's history: closed at {} (venue close {})", c.price, c.id)),
        Err(_) => return,
    };
    if let Err(e) = deps.store.transition(id, &t).await {
        tracing::info!(intent = %id, error = %e, "close intent not settled from the history (settled meanwhile?)");
    }
}

/// Closes a position the venue has not listed for the grace period, without a close record
/// (price and PnL unknown). True when this run closed it.
async fn close_unrecorded(deps: &Deps, p: &Position, why: &str) -> DomainResult<bool> {
    let now = deps.clock.now();
    let written = pipeline::modify_position(deps, p.user, &p.id, |q| {
        if q.status != PositionStatus::Open || q.version != p.version {
            return false;
        }
        q.status = PositionStatus::Closed;
        q.closed_at = Some(now);
        q.last_close_fraction = Some(vanta_domain::money::Bps::FULL);
        true
    })
    .await?;
    if written.is_none() {
        return Ok(false);
    }
    if let Some(user) = deps.store.get_user(p.user).await? {
        notify(
            deps,
            &user,
            p.mode,
            &format!(
                "ℹ️ {} {} is no longer on Veranta and was marked closed; {why}, so its close price and PnL are unknown.",
                p.side, p.pair
            ),
        )
        .await;
        let leg = derived_id("vgone", &[p.id.as_str()]);
        copy::on_leader_close(deps, &user, p, vanta_domain::money::Bps::FULL, &leg).await?;
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Opens whose outcome is unknown
// ---------------------------------------------------------------------------------------------

enum Resolution {
    Filled(Box<Position>),
    Failed,
    Wait,
}

async fn resolve_open(
    deps: &Deps,
    venue: &dyn Venue,
    intent: &Intent,
    wallet: TraderAddress,
    on_venue: &[VenuePosition],
    known: &[Position],
    settings: &Settings,
) -> DomainResult<Resolution> {
    let (Action::Open(order) | Action::Flip(order)) = &intent.action else { return Ok(Resolution::Wait) };
    let now = deps.clock.now();
    let fill = match venue.lookup(&intent.id).await {
        Ok(Lookup::Filled(f)) => Some(f),
        _ => {
            let catalog = venue.pairs().await?;
            let pair = catalog.resolve(order.pair.as_str())?.index;
            let sent = intent.updated_at.secs();
            on_venue
                .iter()
                .filter(|v| !known.iter().any(|p| on_trade(p, v)))
                .filter(|v| v.pair == pair && v.side == order.side && v.leverage == order.leverage)
                // Collateral net of the open fee: at most what was sent, at least 95 % of it.
                .filter(|v| {
                    v.collateral <= order.collateral && u128::from(v.collateral.raw()) * 100 >= u128::from(order.collateral.raw()) * 95
                })
                .filter(|v| v.open_time.is_none_or(|t| t as i64 >= sent.saturating_sub(120)))
                .min_by_key(|v| v.open_time.unwrap_or(u64::MAX))
                .map(|v| VenueFill {
                    pair: v.pair,
                    trade_index: v.trade_index,
                    side: v.side,
                    price: v.open_price,
                    collateral: v.collateral,
                    leverage: v.leverage,
                    fee: order.collateral.checked_sub(v.collateral).unwrap_or(Usdc::ZERO),
                    at: v.open_time.map_or(now, |t| Timestamp::from_secs(t as i64)),
                    venue_ref: format!("reconciled:{}:{}", v.pair.0, v.trade_index),
                    open_time: v.open_time,
                })
        }
    };
    if let Some(fill) = fill {
        pipeline::settle_found_open(deps, intent, &fill, wallet).await?;
        let p = deps.store.get_position(intent.user, &position_id(&intent.id)).await?;
        return Ok(match p {
            Some(p) => Resolution::Filled(Box::new(p)),
            None => Resolution::Wait,
        });
    }
    if now.since(intent.updated_at) >= settings.intent_deadline_secs.saturating_mul(1000) {
        let reason = format!("the venue shows no fill {} s after it was sent; nothing was opened", now.since(intent.updated_at) / 1000);
        pipeline::fail_unfilled_open(deps, intent, reason).await?;
        return Ok(Resolution::Failed);
    }
    Ok(Resolution::Wait)
}

// ---------------------------------------------------------------------------------------------
// Trades opened outside Vanta
// ---------------------------------------------------------------------------------------------

fn trade_digest(wallet: TraderAddress, v_pair: u16, index: u32, open_time: Option<u64>) -> Vec<u8> {
    let text = format!("{}:{v_pair}:{index}:{}", wallet.key(), open_time.map_or_else(|| "?".to_owned(), |t| t.to_string()));
    Sha256::digest(text.as_bytes()).to_vec()
}

/// The id an external position of this trade is recorded under (stable: adopting twice is a
/// conflict, never a second record).
pub fn external_position_id(wallet: TraderAddress, v: &VenuePosition) -> PositionId {
    PositionId::derived("ext", &trade_digest(wallet, v.pair.0, v.trade_index, v.open_time))
}

/// Whether a position was adopted from the venue rather than opened by Vanta.
pub fn is_external(p: &Position) -> bool {
    p.opened_by.as_str().starts_with("ext:")
}

async fn adopt(
    deps: &Deps,
    owner: TelegramUserId,
    wallet: TraderAddress,
    v: &VenuePosition,
    from_limit: Option<&VenueLimitOrder>,
) -> DomainResult<Option<PositionId>> {
    let Some(user) = deps.store.get_user(owner).await? else { return Ok(None) };
    let catalog = match deps.live.as_ref() {
        Some(venue) => venue.pairs().await?,
        None => return Ok(None),
    };
    let Some(pair) = catalog.by_index(v.pair).cloned() else {
        tracing::warn!(wallet = %wallet, pair = v.pair.0, "a trade on a pair the catalog does not list; not adopted");
        return Ok(None);
    };
    let id = external_position_id(wallet, v);
    if deps.store.get_position(owner, &id).await?.is_some() {
        return Ok(None); // adopted before (and perhaps closed since)
    }
    let opened_at = v.open_time.map_or(deps.clock.now(), |t| Timestamp::from_secs(t as i64));
    let p = Position {
        id: id.clone(),
        user: owner,
        pair: pair.symbol.clone(),
        pair_index: v.pair,
        trade_index: Some(v.trade_index),
        side: v.side,
        collateral: v.collateral,
        leverage: v.leverage,
        open_price: v.open_price,
        tp: v.tp,
        sl: v.sl,
        mode: ExecMode::Live,
        status: PositionStatus::Open,
        opened_by: IntentId::derived("ext", &trade_digest(wallet, v.pair.0, v.trade_index, v.open_time)),
        opened_at,
        closed_at: None,
        close_price: None,
        realised_pnl: None,
        fees: Usdc::ZERO,
        closing: None,
        last_close: None,
        last_close_fraction: None,
        trail: None,
        wallet: Some(wallet),
        venue_open_time: v.open_time,
        copy_of: None,
        version: 0,
    };
    match deps.store.insert_position(&p).await {
        Ok(()) => {}
        Err(DomainError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e),
    }
    let found = match from_limit {
        Some(o) => format!(
            "📥 Your resting limit order (placed outside Vanta) at {} filled: {} {} {}x (${} at {}).",
            o.price, p.side, p.pair, p.leverage, p.collateral, p.open_price
        ),
        None => format!(
            "📥 Found a {} {} {}x (${} at {}) opened outside Vanta on your wallet.",
            p.side, p.pair, p.leverage, p.collateral, p.open_price
        ),
    };
    notify(
        deps,
        &user,
        ExecMode::Live,
        &format!("{found} It is shown as external in /positions; /close and /tpsl manage it like any other."),
    )
    .await;
    Ok(Some(id))
}

// ---------------------------------------------------------------------------------------------
// Outside leaders
// ---------------------------------------------------------------------------------------------

/// The leader position reference of an outside address's trade.
pub fn leader_position_ref(wallet: TraderAddress, pair: u16, index: u32, open_time: Option<u64>) -> String {
    format!("addr:{}:{pair}:{index}:{}", wallet.key(), open_time.map_or_else(|| "?".to_owned(), |t| t.to_string()))
}

async fn follow_leader(deps: &Deps, st: &mut ReconWallet, on_venue: &[VenuePosition]) -> DomainResult<Vec<String>> {
    let wallet = st.wallet;
    let leader = LeaderRef::Address(wallet);
    let now = deps.clock.now();
    let mut events = Vec::new();
    let current: Vec<SeenTrade> = on_venue
        .iter()
        .map(|v| SeenTrade { pair: v.pair, trade_index: v.trade_index, open_time: v.open_time, collateral: v.collateral })
        .collect();
    let prev = st.seen.clone().unwrap_or_default();
    let same = |a: &SeenTrade, b: &SeenTrade| a.pair == b.pair && a.trade_index == b.trade_index && a.open_time == b.open_time;
    let catalog = match deps.live.as_ref() {
        Some(v) => Some(v.pairs().await?),
        None => None,
    };
    let equity = match deps.live.as_ref() {
        Some(v) => v.equity(wallet).await.ok().flatten(),
        None => None,
    };
    for v in on_venue {
        let seen = SeenTrade { pair: v.pair, trade_index: v.trade_index, open_time: v.open_time, collateral: v.collateral };
        if prev.iter().any(|p| same(p, &seen)) {
            continue;
        }
        // Copied only when the open time is known (a copy never follows a trade opened before
        // the follow began: the fan-out compares it with each follow's start).
        let (Some(open_time), Some(pair)) = (v.open_time, catalog.as_ref().and_then(|c| c.by_index(v.pair))) else { continue };
        let position_ref = leader_position_ref(wallet, v.pair.0, v.trade_index, v.open_time);
        let event = LeaderEvent::Opened {
            leader: leader.clone(),
            position_ref: position_ref.clone(),
            pair: pair.symbol.clone(),
            side: v.side,
            collateral: v.collateral,
            leverage: v.leverage,
            price: v.open_price,
            tp: v.tp,
            sl: v.sl,
            leader_equity: equity,
            at: Timestamp::from_secs(open_time as i64),
        };
        copy::fan_out(deps, &event).await?;
        events.push(format!("open:{position_ref}"));
    }
    for p in &prev {
        let position_ref = leader_position_ref(wallet, p.pair.0, p.trade_index, p.open_time);
        let now_seen = current.iter().find(|c| same(c, p));
        let (fraction, close_ref) = match now_seen {
            Some(c) if c.collateral < p.collateral => {
                let taken = p.collateral.checked_sub(c.collateral).unwrap_or(p.collateral);
                (copy::close_fraction(p.collateral, taken), format!("{position_ref}:to:{}", c.collateral.raw()))
            }
            Some(_) => continue,
            None => (vanta_domain::money::Bps::FULL, format!("{position_ref}:closed")),
        };
        let event = LeaderEvent::Closed { leader: leader.clone(), position_ref, close_ref: close_ref.clone(), fraction, at: now };
        copy::fan_out(deps, &event).await?;
        events.push(format!("close:{close_ref}"));
    }
    st.seen = Some(current);
    Ok(events)
}
