//! The fake venue's own events and its trade history (`GET {history}/v2/history/trade-history/
//! {trader}/{page}/{limit}`), and the controls tests use to make the venue act on its own.
//!
//! Every fill the fake executes is recorded once, newest first in the history: market opens and
//! closes (relayer or direct route, or "in the Veranta app": [`FakeAvantis::open_in_app`],
//! [`FakeAvantis::close_in_app`]), the keeper's TP/SL hits and partial TP/SL triggers when the
//! feed price crosses them ([`FakeAvantis::move_price`]), and liquidations at the liquidation
//! price ([`FakeAvantis::liquidate`]).
//!
//! **What the reference says, and what it does not.** The reference fixes the path, that the
//! SDK returns the body raw, the `{success, …}` envelope (`{success: false, errorMessage}` on
//! failure, always HTTP 200), human units, and that the page base is undocumented (the SDK
//! defaults to page 0, limit 20). It does **not** document the record. The record here is built
//! from what the venue's own contracts emit when a trade executes (`MarketExecuted` /
//! `LimitExecuted` / v2 `TpSlExecuted`: the `Trade` fields, `open`, `price`, `orderType` with
//! `LimitOrder` = TP 0, SL 1, LIQ 2, OPEN 3, `percentProfit`, `usdcSentToTrader`, `isPnl`), plus a
//! fee breakdown per fill (`openFee`, `closeFee`, `borrowFee`, `funding`, `profitSharingFee`,
//! `grossPnl`, `netPnl`), all inferred. Field names the venue may spell otherwise and no source
//! gives: `id`, `txHash`, `collateral` (of this fill), `remainingCollateral`, `liquidationFee`,
//! `openTimestamp` (the trade's `Trade.timestamp`), `timestamp` (the fill, unix seconds),
//! `event`. Amounts are JSON numbers in human units (as the one documented history body,
//! profit-loss, has them). Pages are 0-based, newest first, `limit` clamped to 20. The envelope
//! carries the records under `data` (as profit-loss does).

use alloy::primitives::Address;
use serde_json::{Value, json};
use vanta_domain::money::format_scaled;

use super::book::{coin_size, corrected_tp, liquidation_price};
use super::wire::{address, mul_div, tx_hash, u256_u64};
use super::{FakeAvantis, FakePosition, MAX_TRADES_PER_PAIR, OPEN_FEE_P, PERCENT_100, State, lock, now_ms};

/// How long a lost reply keeps the connection silent before the fake answers 504.
pub(super) const LOST_REPLY_SILENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Records per page at most (the SDK's default limit; a larger one is clamped).
pub const HISTORY_MAX_LIMIT: usize = 20;

/// `ITradingStorage.LimitOrder` (OPEN = 3 is a limit open, not a close).
const TP: u8 = 0;
const SL: u8 = 1;
const LIQ: u8 = 2;
const OPEN: u8 = 3;

/// One fill as the venue's indexer keeps it (raw units inside; human units on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryFill {
    pub id: String,
    pub tx_hash: String,
    pub trader: Address,
    pub pair: u16,
    pub index: u32,
    pub buy: bool,
    pub is_pnl: bool,
    /// `MarketExecuted`, `LimitExecuted` or `TpSlExecuted`.
    pub event: &'static str,
    pub open: bool,
    /// `LimitOrder` of a limit execution (None for market fills).
    pub order_type: Option<u8>,
    /// Execution price, 1e10.
    pub price: u64,
    pub open_price: u64,
    pub leverage: u64,
    /// Collateral this fill opened or closed, 1e6.
    pub collateral: u64,
    /// Collateral still open after it, 1e6.
    pub remaining: u64,
    pub open_fee: u64,
    pub close_fee: u64,
    pub liquidation_fee: u64,
    /// 1e6, signed.
    pub gross_pnl: i64,
    pub net_pnl: i64,
    pub usdc_sent: u64,
    /// The trade's open time (`Trade.timestamp`), unix seconds.
    pub opened_at: u64,
    /// The fill's time, unix seconds.
    pub at: u64,
}

/// The fake's extra state: the history and the switches of this module.
#[derive(Debug, Default)]
pub(super) struct VenueEvents {
    fills: Vec<HistoryFill>,
    /// (trader, pair, index, reads): hidden from that many more `/user-data` / `/v2/positions` reads.
    hidden: Vec<(Address, u16, u32, usize)>,
    /// Market submissions whose reply is dropped after the order executed.
    drop_replies: usize,
}

impl VenueEvents {
    pub(super) fn take_drop_reply(&mut self) -> bool {
        if self.drop_replies == 0 {
            return false;
        }
        self.drop_replies -= 1;
        true
    }

    /// Whether a position is hidden from this read (one read of the trader used up).
    pub(super) fn hides(&self, p: &FakePosition) -> bool {
        self.hidden.iter().any(|(t, pair, index, n)| *t == p.trader && *pair == p.pair && *index == p.index && *n > 0)
    }

    /// Uses up one hidden read of each of the trader's hidden positions.
    pub(super) fn read_by(&mut self, trader: Address) {
        for h in self.hidden.iter_mut().filter(|h| h.0 == trader) {
            h.3 = h.3.saturating_sub(1);
        }
        self.hidden.retain(|h| h.3 > 0);
    }
}

fn human(raw: i128, scale: u32) -> Value {
    serde_json::from_str(&format_scaled(raw, scale)).unwrap_or(Value::Null)
}

impl HistoryFill {
    /// The record on the wire.
    pub fn to_json(&self) -> Value {
        let notional = mul_div(self.collateral, u128::from(self.leverage), 10_000_000_000);
        // percentProfit as the contracts report it: 1e10 = 1 %, here in human percent.
        let pct = if self.collateral == 0 {
            0
        } else {
            i128::from(self.gross_pnl).saturating_mul(100 * 10_000_000_000) / i128::from(self.collateral)
        };
        json!({
            "id": self.id,
            "txHash": self.tx_hash,
            "trader": self.trader.to_checksum(None),
            "pairIndex": self.pair,
            "index": self.index,
            "buy": self.buy,
            "isPnl": self.is_pnl,
            "event": self.event,
            "open": self.open,
            "orderType": self.order_type,
            "price": human(i128::from(self.price), 10),
            "openPrice": human(i128::from(self.open_price), 10),
            "leverage": human(i128::from(self.leverage), 10),
            "collateral": human(i128::from(self.collateral), 6),
            "remainingCollateral": human(i128::from(self.remaining), 6),
            "positionSize": human(i128::from(notional), 6),
            "openFee": human(i128::from(self.open_fee), 6),
            "closeFee": human(i128::from(self.close_fee), 6),
            "borrowFee": 0,
            "funding": 0,
            "profitSharingFee": 0,
            "liquidationFee": human(i128::from(self.liquidation_fee), 6),
            "grossPnl": human(i128::from(self.gross_pnl), 6),
            "netPnl": human(i128::from(self.net_pnl), 6),
            "percentProfit": human(pct, 10),
            "usdcSentToTrader": human(i128::from(self.usdc_sent), 6),
            "openTimestamp": self.opened_at,
            "timestamp": self.at,
        })
    }
}

/// `GET /v2/history/trade-history/{trader}/{page}/{limit}` (the part after the prefix).
pub(super) fn trade_history(st: &State, rest: &str) -> (u16, Value) {
    let parts: Vec<&str> = rest.trim_start_matches("/v2/history/trade-history/").split('/').collect();
    let (Some(trader), Some(page), Some(limit)) = (parts.first(), parts.get(1), parts.get(2)) else {
        return (200, json!({ "success": false, "errorMessage": "expected /{trader}/{page}/{limit}" }));
    };
    let (Some(trader), Ok(page), Ok(limit)) = (address(trader), page.parse::<usize>(), limit.parse::<usize>()) else {
        return (200, json!({ "success": false, "errorMessage": "invalid trader, page or limit" }));
    };
    if parts.len() != 3 {
        return (200, json!({ "success": false, "errorMessage": "expected /{trader}/{page}/{limit}" }));
    }
    let limit = limit.clamp(1, HISTORY_MAX_LIMIT);
    let rows: Vec<Value> = st
        .events
        .fills
        .iter()
        .rev()
        .filter(|f| f.trader == trader)
        .skip(page.saturating_mul(limit))
        .take(limit)
        .map(HistoryFill::to_json)
        .collect();
    (200, json!({ "success": true, "data": rows }))
}

/// Gross PnL (1e6, signed) of closing `amount` of `p` at `price`, and the close fee.
fn pnl(p: &FakePosition, amount: u64, price: u64) -> (i64, u64) {
    let notional = i128::from(mul_div(amount, u128::from(p.leverage), 10_000_000_000));
    let open = i128::from(p.open_price.max(1));
    let moved = i128::from(price) - open;
    let gross = notional.saturating_mul(if p.buy { moved } else { -moved }) / open;
    let fee = u64::try_from((notional.unsigned_abs() * OPEN_FEE_P).div_ceil(PERCENT_100)).unwrap_or(u64::MAX);
    (i64::try_from(gross).unwrap_or(i64::MIN), fee)
}

fn next_fill_id(st: &mut State) -> (String, String) {
    let n = st.fresh_id();
    let hash = tx_hash(n, 7);
    (format!("{hash}-0"), hash)
}

/// Records the open of `p` (its collateral already net of `fee`).
pub(super) fn record_open(st: &mut State, p: &FakePosition, fee: u64, tx: &str, at_ms: u64) {
    let fill = open_fill(st, p, fee, tx, at_ms);
    st.events.fills.push(fill);
}

/// The market open fill of `p`.
fn open_fill(st: &mut State, p: &FakePosition, fee: u64, tx: &str, at_ms: u64) -> HistoryFill {
    let n = st.fresh_id();
    HistoryFill {
        id: format!("{tx}-{n}"),
        tx_hash: tx.to_owned(),
        trader: p.trader,
        pair: p.pair,
        index: p.index,
        buy: p.buy,
        is_pnl: p.is_pnl,
        event: "MarketExecuted",
        open: true,
        order_type: None,
        price: p.open_price,
        open_price: p.open_price,
        leverage: p.leverage,
        collateral: p.collateral,
        remaining: p.collateral,
        open_fee: fee,
        close_fee: 0,
        liquidation_fee: 0,
        gross_pnl: 0,
        net_pnl: 0,
        usdc_sent: 0,
        opened_at: p.opened_at,
        at: at_ms / 1000,
    }
}

/// Records the fill of a resting limit order that opened `p` (`LimitExecuted`, OPEN = 3).
pub(super) fn record_limit_open(st: &mut State, p: &FakePosition, fee: u64, tx: &str, at_ms: u64) -> HistoryFill {
    let fill = HistoryFill { event: "LimitExecuted", order_type: Some(OPEN), ..open_fill(st, p, fee, tx, at_ms) };
    st.events.fills.push(fill.clone());
    fill
}

/// Records a market close of `amount` of `p` (as it was before) at `price`, as the relayer or
/// direct route executed it. Returns the fill's net PnL.
pub(super) fn record_market_close(st: &mut State, p: &FakePosition, amount: u64, price: u64, tx: &str, at_ms: u64) -> i64 {
    let (gross, fee) = pnl(p, amount, price);
    let net = gross.saturating_sub(i64::try_from(fee).unwrap_or(i64::MAX));
    let n = st.fresh_id();
    st.events.fills.push(close_fill(p, amount, price, "MarketExecuted", None, (gross, fee, 0, net), format!("{tx}-{n}"), tx, at_ms));
    net
}

#[allow(clippy::too_many_arguments)]
fn close_fill(
    p: &FakePosition,
    amount: u64,
    price: u64,
    event: &'static str,
    order_type: Option<u8>,
    (gross, close_fee, liquidation_fee, net): (i64, u64, u64, i64),
    id: String,
    tx: &str,
    at_ms: u64,
) -> HistoryFill {
    let sent = i128::from(amount).saturating_add(i128::from(net)).max(0);
    HistoryFill {
        id,
        tx_hash: tx.to_owned(),
        trader: p.trader,
        pair: p.pair,
        index: p.index,
        buy: p.buy,
        is_pnl: p.is_pnl,
        event,
        open: false,
        order_type,
        price,
        open_price: p.open_price,
        leverage: p.leverage,
        collateral: amount,
        remaining: p.collateral.saturating_sub(amount),
        open_fee: 0,
        close_fee,
        liquidation_fee,
        gross_pnl: gross,
        net_pnl: net,
        usdc_sent: u64::try_from(sent).unwrap_or(u64::MAX),
        opened_at: p.opened_at,
        at: at_ms / 1000,
    }
}

/// The venue closes `amount` of the book's position `i` by itself (keeper, liquidator, or the
/// trader in the Veranta app): book, wallet balance and history change together.
fn venue_close(st: &mut State, i: usize, amount: u64, price: u64, event: &'static str, order_type: Option<u8>) -> Option<HistoryFill> {
    let p = st.book.get(i).cloned()?;
    let amount = amount.min(p.collateral);
    let (gross, close_fee) = pnl(&p, amount, price);
    let (close_fee, liq_fee, net) = if order_type == Some(LIQ) {
        // The trader loses the collateral; what equity was left is the venue's.
        let left = i128::from(amount).saturating_add(i128::from(gross)).max(0);
        (0, u64::try_from(left).unwrap_or(0), -i64::try_from(amount).unwrap_or(i64::MAX))
    } else {
        (close_fee, 0, gross.saturating_sub(i64::try_from(close_fee).unwrap_or(i64::MAX)))
    };
    let (id, tx) = next_fill_id(st);
    let fill = close_fill(&p, amount, price, event, order_type, (gross, close_fee, liq_fee, net), id, &tx, now_ms());
    *st.balances.entry(p.trader).or_insert(0) += fill.usdc_sent;
    if fill.remaining == 0 {
        st.book.remove(i);
        st.triggers.retain(|t| {
            !(t.req.trader == p.trader && u256_u64(t.req.pairIndex) == u64::from(p.pair) && u256_u64(t.req.index) == u64::from(p.index))
        });
    } else if let Some(q) = st.book.get_mut(i) {
        q.collateral = fill.remaining;
    }
    st.events.fills.push(fill.clone());
    Some(fill)
}

fn find(st: &State, trader: Address, pair: u16, index: u32) -> Option<usize> {
    st.book.iter().position(|p| p.trader == trader && p.pair == pair && p.index == index)
}

/// What the keeper does at a new price of `pair`: liquidations first, then stop losses, take
/// profits and partial triggers crossed by it.
fn keeper_at(st: &mut State, pair: u16, price: u64) -> Vec<HistoryFill> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < st.book.len() {
        let Some(p) = st.book.get(i).cloned() else { break };
        if p.pair != pair {
            i += 1;
            continue;
        }
        let below = |level: u64| level != 0 && price <= level;
        let above = |level: u64| level != 0 && price >= level;
        let liq = liquidation_price(&p);
        let hit = if (p.buy && below(liq)) || (!p.buy && above(liq)) {
            Some((LIQ, liq))
        } else if (p.buy && below(p.sl)) || (!p.buy && above(p.sl)) {
            Some((SL, p.sl))
        } else if (p.buy && above(p.tp)) || (!p.buy && below(p.tp)) {
            Some((TP, p.tp))
        } else {
            None
        };
        if let Some((kind, level)) = hit {
            out.extend(venue_close(st, i, p.collateral, level, "LimitExecuted", Some(kind)));
            continue; // the position at `i` is gone: the next one moved up
        }
        // Partial TP/SL orders (fixed trigger price) of this trade.
        let crossed: Vec<usize> = st
            .triggers
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                t.req.trader == p.trader
                    && u256_u64(t.req.pairIndex) == u64::from(p.pair)
                    && u256_u64(t.req.index) == u64::from(p.index)
                    && t.req.triggerType == 0
            })
            .filter(|(_, t)| {
                let level = u256_u64(t.req.price);
                match (t.req.orderType, p.buy) {
                    (TP, true) | (SL, false) => above(level),
                    (TP, false) | (SL, true) => below(level),
                    _ => false,
                }
            })
            .map(|(j, _)| j)
            .collect();
        if let Some(&j) = crossed.first() {
            let Some(t) = st.triggers.get(j).cloned() else { break };
            st.triggers.remove(j);
            let size = coin_size(&p).max(1);
            let amount = mul_div(p.collateral, u128::from(u256_u64(t.req.coinSize)), u128::from(size));
            out.extend(venue_close(st, i, amount, u256_u64(t.req.price), "TpSlExecuted", Some(t.req.orderType)));
            continue; // the same slot again: another trigger may be crossed (or the next trade moved up)
        }
        i += 1;
    }
    out
}

impl FakeAvantis {
    /// Moves the feed price of `pair` (1e10) and lets the venue's keeper act on it: positions
    /// whose liquidation price, stop loss or take profit the price reached are closed at that
    /// level, crossed partial TP/SL orders close their share, and crossed resting limit orders
    /// open their positions. Returns the fills.
    pub fn move_price(&self, pair: u16, raw: u64) -> Vec<HistoryFill> {
        let mut st = lock(&self.state);
        st.prices.insert(pair, raw);
        let mut fills = keeper_at(&mut st, pair, raw);
        fills.extend(super::limits::fill_crossed(&mut st, pair, raw));
        fills
    }

    /// The venue liquidates the trade at its liquidation price (the trader loses the
    /// collateral). None when there is no such trade.
    pub fn liquidate(&self, trader: Address, pair: u16, index: u32) -> Option<HistoryFill> {
        let mut st = lock(&self.state);
        let i = find(&st, trader, pair, index)?;
        let p = st.book.get(i).cloned()?;
        venue_close(&mut st, i, p.collateral, liquidation_price(&p), "LimitExecuted", Some(LIQ))
    }

    /// The trader closes `amount` (None: all) of the trade in the Veranta app, at the feed price.
    pub fn close_in_app(&self, trader: Address, pair: u16, index: u32, amount: Option<u64>) -> Option<HistoryFill> {
        let mut st = lock(&self.state);
        let i = find(&st, trader, pair, index)?;
        let p = st.book.get(i).cloned()?;
        let price = st.prices.get(&pair).copied().unwrap_or(p.open_price);
        venue_close(&mut st, i, amount.unwrap_or(p.collateral), price, "MarketExecuted", None)
    }

    /// The trader opens a market trade in the Veranta app at the feed price (`collateral` 1e6
    /// before the open fee, `leverage` 1e10, `tp`/`sl` 1e10, 0 for none). None when the pair has
    /// no price or no free slot.
    pub fn open_in_app(&self, trader: Address, pair: u16, buy: bool, collateral: u64, leverage: u64, sl: u64) -> Option<FakePosition> {
        let mut st = lock(&self.state);
        let price = st.prices.get(&pair).copied()?;
        let used: Vec<u32> = st.book.iter().filter(|p| p.trader == trader && p.pair == pair).map(|p| p.index).collect();
        let index = (0..MAX_TRADES_PER_PAIR).find(|i| !used.contains(i))?;
        let notional = mul_div(collateral, u128::from(leverage), 10_000_000_000);
        let fee = u64::try_from((u128::from(notional) * OPEN_FEE_P).div_ceil(PERCENT_100)).unwrap_or(u64::MAX);
        let max_gain = st.pairs.get(&pair).map_or(2500, |p| p.max_gain_p);
        let at = now_ms();
        let p = FakePosition {
            trader,
            pair,
            index,
            buy,
            is_pnl: false,
            collateral: collateral.saturating_sub(fee),
            leverage,
            open_price: price,
            tp: corrected_tp(price, leverage, buy, 0, max_gain),
            sl,
            opened_at: at / 1000,
        };
        if let Some(b) = st.balances.get_mut(&trader) {
            *b = b.saturating_sub(collateral);
        }
        st.book.push(p.clone());
        let (_, tx) = next_fill_id(&mut st);
        record_open(&mut st, &p, fee, &tx, at);
        Some(p)
    }

    /// Hides the trade from the trader's next `reads` position reads (`/user-data`,
    /// `/v2/positions`): a lagging venue read.
    pub fn hide_position(&self, trader: Address, pair: u16, index: u32, reads: usize) {
        lock(&self.state).events.hidden.push((trader, pair, index, reads));
    }

    /// The next `n` market submissions execute, and then their reply is lost: the connection
    /// stays silent (no status, no event) for a minute, then ends with a 504. The client gives up
    /// first and cannot know the outcome; the trade shows in the positions and the history.
    pub fn drop_reply_after_fill(&self, n: usize) {
        lock(&self.state).events.drop_replies += n;
    }

    /// The trader's history, oldest first.
    pub fn history(&self, trader: Address) -> Vec<HistoryFill> {
        lock(&self.state).events.fills.iter().filter(|f| f.trader == trader).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    fn pos(buy: bool) -> FakePosition {
        FakePosition {
            trader: Address::repeat_byte(1),
            pair: 1,
            index: 0,
            buy,
            is_pnl: false,
            collateral: 100_000_000,
            leverage: 50_000_000_000,
            open_price: 1_000_000_000_000_000,
            tp: 0,
            sl: 0,
            opened_at: 1,
        }
    }

    #[test]
    fn pnl_is_signed_by_side_and_the_fee_is_on_notional() {
        // $100 × 5 = $500 notional; +5 % → +$25 long, −$25 short; fee 0.045 % of $500 = $0.225.
        let up = 1_050_000_000_000_000;
        assert_eq!(pnl(&pos(true), 100_000_000, up), (25_000_000, 225_000));
        assert_eq!(pnl(&pos(false), 100_000_000, up), (-25_000_000, 225_000));
    }

    #[tokio::test]
    async fn the_keeper_fills_a_crossed_partial_trigger_then_the_tp_and_the_liquidator_takes_the_collateral() {
        use alloy::primitives::{I256, U256};
        use vanta_chain::eip712::TpSlReq;
        let fake = FakeAvantis::start().await.unwrap();
        let mut p = pos(true);
        p.tp = 1_100_000_000_000_000; // 110 000
        fake.insert_position(p.clone());
        let half = coin_size(&p) / 2;
        let req = TpSlReq {
            trader: p.trader,
            pairIndex: U256::from(1u8),
            index: U256::ZERO,
            triggerType: 0,
            coinSize: U256::from(half),
            buy: true,
            price: U256::from(1_050_000_000_000_000u64),
            percentage: I256::ZERO,
            timestamp: U256::from(1u8),
            signTimestamp: U256::from(1000u16),
            orderType: TP,
            nonce: U256::ZERO,
        };
        lock(&fake.state).triggers.push(super::super::StoredTrigger { entity_id: "t1".into(), req });
        assert!(fake.move_price(1, 1_040_000_000_000_000).is_empty(), "nothing crossed yet");
        let fills = fake.move_price(1, 1_060_000_000_000_000);
        assert_eq!(fills.len(), 1, "{fills:?}");
        assert_eq!(
            (fills[0].event, fills[0].order_type, fills[0].collateral, fills[0].remaining),
            ("TpSlExecuted", Some(TP), 50_000_000, 50_000_000)
        );
        assert_eq!(fills[0].price, 1_050_000_000_000_000, "filled at its trigger price");
        assert_eq!(fake.positions(p.trader)[0].collateral, 50_000_000);
        let fills = fake.move_price(1, 1_100_000_000_000_000);
        assert_eq!((fills.len(), fills[0].event, fills[0].order_type, fills[0].remaining), (1, "LimitExecuted", Some(TP), 0));
        assert!(fake.positions(p.trader).is_empty());
        assert_eq!(fake.history(p.trader).len(), 2);
        // A short, liquidated at its liquidation price: the trader gets nothing back.
        let mut q = pos(false);
        q.index = 1;
        fake.insert_position(q.clone());
        let before = fake.balance(q.trader);
        let liq = fake.liquidate(q.trader, 1, 1).unwrap();
        assert_eq!((liq.order_type, liq.price, liq.net_pnl, liq.usdc_sent), (Some(LIQ), liquidation_price(&q), -100_000_000, 0));
        assert_eq!(fake.balance(q.trader), before);
        assert!(fake.liquidate(q.trader, 1, 1).is_none(), "gone");
    }

    #[test]
    fn amounts_are_human_numbers() {
        let f = close_fill(
            &pos(true),
            100_000_000,
            1_050_000_000_000_000,
            "LimitExecuted",
            Some(TP),
            (25_000_000, 225_000, 0, 24_775_000),
            "x".into(),
            "0x",
            5_000,
        );
        let j = f.to_json();
        assert_eq!(j["netPnl"].to_string(), "24.775");
        assert_eq!(j["price"].to_string(), "105000");
        assert_eq!(j["usdcSentToTrader"].to_string(), "124.775");
        assert_eq!(j["orderType"], 0);
        assert_eq!(j["timestamp"], 5);
        assert_eq!(j["percentProfit"].to_string(), "25");
    }
}
