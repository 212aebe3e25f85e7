//! What the reconciler reads of a wallet's venue history, and what it keeps between runs.
//!
//! The venue is the truth: the reconciler ([`crate::ports::Venue::history`] plus positions) turns
//! what happened on Veranta — a TP, SL or liquidation, a close in the Veranta app, a fill whose
//! reply was lost — into Vanta's records. Per wallet it keeps a [`ReconWallet`] (history cursor,
//! positions missing from the last reads, intents still to resolve, a leader's last seen trades).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{IntentId, PositionId, TelegramUserId, TraderAddress};
use crate::market::{PairIndex, Side};
use crate::money::{Leverage, Price, SignedUsdc, Usdc};
use crate::time::Timestamp;

/// Why the venue closed (part of) a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    TakeProfit,
    StopLoss,
    Liquidation,
    /// A market close by the trader (the Veranta app, the API, another bot).
    Market,
    /// The venue did not say.
    Unknown,
}

impl CloseReason {
    /// Reads the venue's words for it (`TP`, `SL`, `LIQ`, `MARKET`, …); anything else is Unknown.
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "tp" | "take_profit" | "takeprofit" => Self::TakeProfit,
            "sl" | "stop_loss" | "stoploss" => Self::StopLoss,
            "liq" | "liquidation" | "liquidated" => Self::Liquidation,
            "market" | "market_close" | "close" | "manual" | "user" => Self::Market,
            _ => Self::Unknown,
        }
    }

    /// For the user.
    pub fn words(self) -> &'static str {
        match self {
            Self::TakeProfit => "take-profit hit",
            Self::StopLoss => "stop-loss hit",
            Self::Liquidation => "liquidated",
            Self::Market => "closed on Veranta (the app or another client)",
            Self::Unknown => "closed on Veranta",
        }
    }
}

/// One close (full or partial) of a trade, from the venue's trade history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueClose {
    /// The venue's id for this close (unique per close; makes recording it idempotent).
    pub id: String,
    pub pair: PairIndex,
    pub trade_index: u32,
    /// The closed trade's open time (unix seconds), where reported: with (pair, index) it names
    /// the trade.
    #[serde(default)]
    pub open_time: Option<u64>,
    pub side: Side,
    pub price: Price,
    /// Collateral this close took.
    pub collateral: Usdc,
    /// Collateral left open after it (zero for a full close).
    pub remaining: Usdc,
    /// Fees of this close (closing fee, rollover, funding), positive when paid.
    pub fee: Usdc,
    /// Net PnL of this close, after fees, as the venue computed it.
    pub net_pnl: SignedUsdc,
    pub reason: CloseReason,
    pub at: Timestamp,
}

/// A wallet's trade history since a cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueHistory {
    pub closes: Vec<VenueClose>,
}

/// A resting limit order as the venue reports it (`/user-data` → `limitOrders[]`). Vanta never
/// places one (limit orders are tx-builder calldata, not intents): each was placed outside Vanta,
/// in the Veranta app or another client. Until it fills or is cancelled it holds collateral and
/// a trade slot on its pair, so the entry check counts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueLimitOrder {
    pub pair: PairIndex,
    /// The venue's `index` (the `orderIndex` of `/v2/limit/*`).
    pub order_index: u32,
    pub side: Side,
    /// Collateral (the venue's `positionSize` where it reports `collateral` as 0, as the SDK).
    pub collateral: Usdc,
    pub leverage: Leverage,
    /// The trigger price.
    pub price: Price,
    /// `limitOrderType` (0 LIMIT; other values are reserved by the venue).
    #[serde(default)]
    pub order_type: u8,
    #[serde(default)]
    pub tp: Option<Price>,
    #[serde(default)]
    pub sl: Option<Price>,
}

impl VenueLimitOrder {
    /// Collateral × leverage, as the venue rounds it: the position it opens if filled (at the
    /// limit price or anywhere, the notional in USDC is the same).
    pub fn notional(&self) -> Result<Usdc, crate::money::AmountError> {
        self.leverage.notional(self.collateral)
    }

    /// Whether `self` and `other` are the same resting order (pair, index, side, size, price).
    pub fn same_order(&self, other: &VenueLimitOrder) -> bool {
        self.pair == other.pair
            && self.order_index == other.order_index
            && self.side == other.side
            && self.leverage == other.leverage
            && self.price == other.price
    }
}

/// A position Vanta has that the venue did not list: since when, and in how many reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    pub reads: u32,
    pub since: Timestamp,
}

/// A trade of a followed address, as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenTrade {
    pub pair: PairIndex,
    pub trade_index: u32,
    #[serde(default)]
    pub open_time: Option<u64>,
    pub collateral: Usdc,
}

/// What the reconciler keeps per wallet (one item per wallet in the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconWallet {
    pub wallet: TraderAddress,
    /// History was read up to here (the next read asks from it; closes are idempotent by id).
    #[serde(default)]
    pub cursor: Option<Timestamp>,
    /// Vanta positions the venue did not list, by position id.
    #[serde(default)]
    pub missing: BTreeMap<PositionId, Missing>,
    /// SUBMITTED/AMBIGUOUS opens to resolve, by intent id, with their user.
    #[serde(default)]
    pub pending: BTreeMap<IntentId, TelegramUserId>,
    /// Followed by someone (`/follow 0x…`): its opens and exits are fanned out.
    #[serde(default)]
    pub leader: bool,
    /// A followed wallet's trades at the last read (None before the first read).
    #[serde(default)]
    pub seen: Option<Vec<SeenTrade>>,
    /// Watched for positions opened outside Vanta (a verified wallet).
    #[serde(default)]
    pub owner: Option<TelegramUserId>,
    #[serde(default)]
    pub last_run: Option<Timestamp>,
    /// The wallet's resting limit orders at the last read (records written before limit orders
    /// were read have none).
    #[serde(default)]
    pub limit_orders: Vec<VenueLimitOrder>,
    /// Optimistic-lock version (the store writes `version + 1` over `version`).
    #[serde(default)]
    pub version: u64,
}

impl ReconWallet {
    pub fn new(wallet: TraderAddress) -> Self {
        Self {
            wallet,
            cursor: None,
            missing: BTreeMap::new(),
            pending: BTreeMap::new(),
            leader: false,
            seen: None,
            owner: None,
            last_run: None,
            limit_orders: Vec::new(),
            version: 0,
        }
    }
}
