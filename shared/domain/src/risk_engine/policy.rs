//! What the engine reads and what it answers: the order's context ([`RiskInput`]), the user's
//! [`Exposure`], the venue's per-pair cap, the daily-loss rule, and an [`Approved`] order.

use serde::{Deserialize, Serialize};

use crate::exec::EffectiveExec;
use crate::intent::OpenOrder;
use crate::market::PairInfo;
use crate::money::{Bps, Price, SignedUsdc, SlippageP, Usdc};
use crate::ports::PriceQuote;
use crate::risk::{OperatorLimits, RiskPolicy};
use crate::time::Timestamp;

/// The venue's cap on trades per trader and pair (Avantis: 40; open trades, pending market opens
/// and resting limit orders together).
pub const MAX_TRADES_PER_PAIR: u32 = 40;

/// What the engine knows about the user right now (the caller loads it from the store).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// Live positions (open or closing) across all pairs.
    pub open_positions: u32,
    /// Live positions on the order's pair and side.
    pub positions_on_pair_side: u32,
    /// PnL realised since 00:00 UTC today (after fees).
    pub today_realised_pnl: SignedUsdc,
    /// PnL of the live positions at current prices.
    pub unrealised_pnl: SignedUsdc,
    /// Positions opened since 00:00 UTC today.
    pub trades_today: u32,
    /// Notional opened since 00:00 UTC today.
    pub volume_today: Usdc,
    /// Consecutive losing trades up to now (zero after a win).
    pub loss_streak: u32,
    /// When the last losing trade closed.
    pub last_loss_at: Option<Timestamp>,
    /// The user's automation (signals, copy trading) is paused.
    pub automation_paused: bool,
    /// Notional (collateral × leverage) of the live positions.
    #[serde(default)]
    pub open_notional: Usdc,
    /// Resting limit orders on the user's wallet (placed outside Vanta; each opens a position
    /// when it fills).
    #[serde(default)]
    pub resting_orders: u32,
    /// Their notional at the limit price (collateral × leverage).
    #[serde(default)]
    pub resting_notional: Usdc,
    /// The wallet's trades on the order's pair as the venue counts them against
    /// [`MAX_TRADES_PER_PAIR`]: live positions on the pair (both sides), opens sent and not yet
    /// resolved, and resting limit orders on the pair. Zero when not assembled (the per-side
    /// count still applies).
    #[serde(default)]
    pub trades_on_pair: u32,
    /// …of which resting limit orders.
    #[serde(default)]
    pub resting_on_pair: u32,
}

/// Everything [`check_open`](super::check_open) looks at.
#[derive(Debug, Clone, Copy)]
pub struct RiskInput<'a> {
    pub order: &'a OpenOrder,
    /// The venue's pair the order resolved to (its symbol must be the order's).
    pub pair: &'a PairInfo,
    /// The user's policy; bounded by `ops` (the engine bounds it again).
    pub policy: &'a RiskPolicy,
    pub ops: &'a OperatorLimits,
    pub exposure: &'a Exposure,
    /// Every source's latest quotes for the pair (others are ignored).
    pub quotes: &'a [PriceQuote],
    pub now: Timestamp,
    pub exec: &'a EffectiveExec,
    /// A signal or a copy trade: refused while the user's automation is paused.
    pub automated: bool,
}

/// An order the engine let through, with what it computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approved {
    /// The price the order is priced at (see [`reference_price`](super::reference_price)).
    pub reference_price: Price,
    /// The slippage to send: the order's, or the user's default.
    pub slippage: SlippageP,
    /// Collateral × leverage, rounded down as the venue does.
    pub notional: Usdc,
    /// The pair's open fee on the notional, rounded up.
    pub open_fee: Usdc,
    /// Where the position would be liquidated if filled at the reference price.
    pub liquidation_price: Price,
    /// Distance from the reference price to the liquidation price, bps of the reference, rounded
    /// down.
    pub liq_distance: Bps,
}

/// The day's loss (realised + unrealised) as a positive number of micro-USDC; zero or negative
/// when the day is in profit. Computed in `i128`, so it cannot overflow.
pub(super) fn day_loss(exposure: &Exposure) -> i128 {
    -(i128::from(exposure.today_realised_pnl.raw()) + i128::from(exposure.unrealised_pnl.raw()))
}

/// Whether the day's loss (realised + unrealised) has reached the limit: the caller then pauses
/// the user. Pass the bounded policy; a limit of zero is off (as [`RiskPolicy`] documents;
/// [`RiskPolicy::bounded_by`] replaces a user's zero by the operator's maximum).
pub fn daily_loss_breached(policy: &RiskPolicy, exposure: &Exposure) -> bool {
    let limit = policy.daily_loss_limit.raw();
    limit > 0 && day_loss(exposure) >= i128::from(limit)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;
    use crate::risk_engine::test_support::*;

    #[test]
    fn daily_loss_breached_counts_realised_and_unrealised() {
        let policy = policy();
        let mut x = Exposure { today_realised_pnl: signed("200"), unrealised_pnl: signed("-699.999999"), ..Exposure::default() };
        assert!(!daily_loss_breached(&policy, &x), "net loss 499.999999 < 500");
        x.unrealised_pnl = signed("-700");
        assert!(daily_loss_breached(&policy, &x), "net loss 500 reaches the limit");
        x.today_realised_pnl = SignedUsdc::from_raw(i64::MIN);
        x.unrealised_pnl = SignedUsdc::from_raw(i64::MIN);
        assert!(daily_loss_breached(&policy, &x), "no overflow on extreme values");
        let off = RiskPolicy { daily_loss_limit: Usdc::ZERO, ..policy };
        assert!(!daily_loss_breached(&off, &x), "a zero limit is off");
        let bounded = off.bounded_by(&ops());
        assert!(daily_loss_breached(&bounded, &x), "but bounding turns it into the operator's maximum");
    }
}
