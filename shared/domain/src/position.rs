//! Positions and their arithmetic (PnL, liquidation price), in integers.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::exec::ExecMode;
use crate::ids::{IntentId, PositionId, TelegramUserId, TraderAddress};
use crate::market::{PairIndex, PairSymbol, Side};
use crate::money::{AmountError, Bps, Leverage, Price, SignedUsdc, Usdc};
use crate::time::Timestamp;

/// Where a position is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PositionStatus {
    Open,
    /// A close was submitted and is not yet confirmed.
    Closing,
    Closed,
    Liquidated,
}

impl PositionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PositionStatus::Open => "OPEN",
            PositionStatus::Closing => "CLOSING",
            PositionStatus::Closed => "CLOSED",
            PositionStatus::Liquidated => "LIQUIDATED",
        }
    }
    pub fn is_live(self) -> bool {
        matches!(self, PositionStatus::Open | PositionStatus::Closing)
    }
    pub fn can_become(self, next: PositionStatus) -> bool {
        use PositionStatus::*;
        matches!(
            (self, next),
            (Open, Closing) | (Open, Closed) | (Open, Liquidated) | (Closing, Closed) | (Closing, Open) | (Closing, Liquidated)
        )
    }
}

/// Share of collateral lost at liquidation on Avantis v2 (85 %, before fees).
pub const LIQUIDATION_LOSS: Bps = Bps::new_const(8_500);

/// A position as Vanta records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub id: PositionId,
    pub user: TelegramUserId,
    pub pair: PairSymbol,
    pub pair_index: PairIndex,
    /// The venue's trade index within the pair (Avantis: 0–39).
    pub trade_index: Option<u32>,
    pub side: Side,
    pub collateral: Usdc,
    pub leverage: Leverage,
    pub open_price: Price,
    pub tp: Option<Price>,
    pub sl: Option<Price>,
    pub mode: ExecMode,
    pub status: PositionStatus,
    pub opened_by: IntentId,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    pub close_price: Option<Price>,
    pub realised_pnl: Option<SignedUsdc>,
    /// Fees paid so far (open + close).
    pub fees: Usdc,
    /// The close in flight while status is CLOSING: its venue reference and amount.
    #[serde(default)]
    pub closing: Option<PendingClose>,
    /// The venue reference of the last close applied to this position (makes closes idempotent).
    #[serde(default)]
    pub last_close: Option<String>,
    /// The fraction of the position the last applied close took (for mirroring it).
    #[serde(default)]
    pub last_close_fraction: Option<Bps>,
    /// A trailing stop run by Vanta's TP/SL executor.
    #[serde(default)]
    pub trail: Option<TrailingStop>,
    /// The trading account the position was opened on. Closes, TP/SL updates and reconciliation
    /// act on this account only, whatever the user is bound to later. None only on records from
    /// before wallets were recorded (see [`Position::account_or`]).
    #[serde(default)]
    pub wallet: Option<TraderAddress>,
    /// The venue's open time of the trade (unix seconds), where the venue reports one: with
    /// (pair, trade index) it names the venue's trade, so a close never hits another trade that
    /// reuses the index.
    #[serde(default)]
    pub venue_open_time: Option<u64>,
    /// The leader's position (or event) this position copies: set on every copy opened since
    /// copies were recorded so. None for a trader's own positions, and on copies recorded
    /// before, which [`Position::is_copy`] still tells by their opening intent's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<String>,
    /// Optimistic-lock version: every stored update must carry the version it read and the
    /// store increments it (records from before versions read as 0).
    #[serde(default)]
    pub version: u64,
}

/// A stop that follows the best price seen by a fixed distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailingStop {
    /// Distance behind the best price, in bps of it.
    pub distance: Bps,
    /// Best price since the trail was set (highest for a long, lowest for a short). With an
    /// `epoch`, the price when it was set: the best since is the epoch's extreme in the pair's
    /// trail book ([`crate::triggers::TrailBook`]), which the tick moves instead of each trail.
    pub best: Price,
    /// The trail book epoch the trail is anchored to (None: recorded before the book; the tick's
    /// backfill anchors it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
}

impl TrailingStop {
    /// The stop level now: `best ∓ best × distance`, rounded toward the position's favour never.
    pub fn level(&self, side: Side) -> Price {
        let best = u128::from(self.best.raw());
        let gap = best * u128::from(self.distance.raw()) / 10_000;
        let raw = match side {
            Side::Long => best.saturating_sub(gap),
            Side::Short => best + gap,
        };
        Price::from_raw(u64::try_from(raw).unwrap_or(u64::MAX))
    }
    /// Moves the best price if `mark` is better; true when it moved.
    pub fn observe(&mut self, side: Side, mark: Price) -> bool {
        let better = match side {
            Side::Long => mark > self.best,
            Side::Short => mark < self.best,
        };
        if better {
            self.best = mark;
        }
        better
    }
}

/// A close sent (or about to be sent) to the venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingClose {
    /// The venue client reference of this leg.
    pub leg: String,
    /// Collateral being closed.
    pub collateral: Usdc,
    /// The intent this leg belongs to, so a close left in flight (its message dead-lettered) is
    /// found and run again by the TP/SL tick. None on records from before it was kept.
    #[serde(default)]
    pub intent: Option<IntentId>,
}

/// The id prefix of copy intents ([`Position::is_copy`] reads it only on records from before
/// [`Position::copy_of`]).
const LEGACY_COPY_PREFIX: &str = "copy:";

impl Position {
    /// Whether this position is a follower's copy of a leader's trade: by [`Position::copy_of`],
    /// or, on records from before that field, by the opening intent's `copy:` id.
    pub fn is_copy(&self) -> bool {
        self.copy_of.is_some() || self.opened_by.as_str().starts_with(LEGACY_COPY_PREFIX)
    }
    /// The account this position lives on: the recorded wallet, or for a record from before
    /// wallets were recorded, `current` (the user's account now). Such a legacy position is
    /// only ever closed after the venue shows a trade with its side, leverage and open price at
    /// its (pair, index) on that account, so a rebind can never make Vanta close a trade of the
    /// new wallet in its place.
    pub fn account_or(&self, current: TraderAddress) -> TraderAddress {
        self.wallet.unwrap_or(current)
    }

    /// What the venue must show at (pair, trade index) before this position is closed there.
    pub fn identity(&self) -> crate::ports::KnownPosition {
        crate::ports::KnownPosition {
            side: self.side,
            leverage: self.leverage,
            open_price: Some(self.open_price),
            open_time: self.venue_open_time,
        }
    }

    pub fn notional(&self) -> Result<Usdc, AmountError> {
        self.leverage.notional(self.collateral)
    }

    /// PnL at `mark`, before fees: notional × (mark − open) / open, sign by side, rounded toward
    /// zero.
    pub fn pnl_at(&self, mark: Price) -> Result<SignedUsdc, DomainError> {
        pnl(self.side, self.collateral, self.leverage, self.open_price, mark)
    }

    /// Liquidation price: where the loss reaches [`LIQUIDATION_LOSS`] of collateral.
    pub fn liquidation_price(&self) -> Result<Price, DomainError> {
        liquidation_price(self.side, self.open_price, self.leverage)
    }
}

/// PnL of a position at `mark`, before fees, rounded toward zero.
pub fn pnl(side: Side, collateral: Usdc, leverage: Leverage, open: Price, mark: Price) -> Result<SignedUsdc, DomainError> {
    if open.is_zero() {
        return Err(DomainError::Invalid("open price is zero".into()));
    }
    let notional = i128::from(leverage.notional(collateral)?.raw());
    let diff = i128::from(mark.raw()) - i128::from(open.raw());
    let signed = match side {
        Side::Long => diff,
        Side::Short => -diff,
    };
    let v = notional.checked_mul(signed).ok_or_else(|| DomainError::Internal("pnl overflow".into()))? / i128::from(open.raw());
    i64::try_from(v).map(SignedUsdc::from_raw).map_err(|_| DomainError::Internal("pnl overflow".into()))
}

/// Liquidation price for an entry: `open ∓ open × 85 % / leverage` (long below, short above).
/// The distance is rounded down, so the reported price is never farther than the true one.
/// This is [`crate::compute::liquidation_price`] with no fees accrued (collateral then cancels
/// out of the venue's formula).
pub fn liquidation_price(side: Side, open: Price, leverage: Leverage) -> Result<Price, DomainError> {
    crate::compute::liquidation_price(side, open, Usdc::from_raw(1_000_000), leverage, Usdc::ZERO, SignedUsdc::ZERO)
}

/// Distance from `price` to `liq`, in bps of `price`, rounded down.
pub fn distance_bps(price: Price, liq: Price) -> Bps {
    if price.is_zero() {
        return Bps::new_const(0);
    }
    let p = u128::from(price.raw());
    let d = p.abs_diff(u128::from(liq.raw()));
    Bps::new_const(u32::try_from(d * 10_000 / p).unwrap_or(u32::MAX))
}
