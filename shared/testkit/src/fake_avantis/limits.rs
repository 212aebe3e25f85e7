//! Resting limit orders: placed for a trader (as the Veranta app would place one through the
//! tx-builder's `/v2/trade/open` with `orderType: limit`), served in `limitOrders[]` of
//! `/user-data` and `/v2/positions` in the shape the official SDK reads (§6.2: raw decimal
//! strings, `collateral` 1e6, `price`/`leverage`/`tp`/`sl` 1e10, `limitOrderType` 0), cancelled,
//! or filled by the venue's keeper when the feed price crosses the limit price
//! ([`FakeAvantis::move_price`]): a long fills at or below its price, a short at or above. A fill
//! opens the position at the limit price, the open fee taken from the escrowed collateral, and
//! is recorded in the trade history as `LimitExecuted` with `orderType` 3 (OPEN).

use alloy::primitives::Address;
use serde_json::{Value, json};

use super::book::{corrected_tp, liquidation_price};
use super::history::{self, HistoryFill};
use super::wire::{mul_div, tx_hash};
use super::{FakeAvantis, FakePosition, MAX_TRADES_PER_PAIR, OPEN_FEE_P, PERCENT_100, State, lock, now_ms};

/// A resting limit order in the fake's book (raw venue units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeLimitOrder {
    pub trader: Address,
    pub pair: u16,
    /// The order's index (`orderIndex` of `/v2/limit/*`).
    pub index: u32,
    pub buy: bool,
    /// Escrowed collateral, 1e6 (the open fee is taken from it on the fill).
    pub collateral: u64,
    /// 1e10
    pub leverage: u64,
    /// The trigger price, 1e10.
    pub price: u64,
    /// 1e10, 0 for none.
    pub tp: u64,
    pub sl: u64,
    /// The block it was placed in (a counter here).
    pub block: u64,
}

/// The `limitOrders[]` entry of an order.
pub(super) fn limit_order_json(o: &FakeLimitOrder) -> Value {
    let notional = mul_div(o.collateral, u128::from(o.leverage), 10_000_000_000);
    let as_position = FakePosition {
        trader: o.trader,
        pair: o.pair,
        index: o.index,
        buy: o.buy,
        is_pnl: false,
        collateral: o.collateral,
        leverage: o.leverage,
        open_price: o.price,
        tp: o.tp,
        sl: o.sl,
        opened_at: 0,
    };
    json!({
        "trader": o.trader.to_checksum(None), "pairIndex": o.pair, "index": o.index, "buy": o.buy, "block": o.block,
        "collateral": o.collateral.to_string(), "positionSize": notional.to_string(), "price": o.price.to_string(),
        "leverage": o.leverage.to_string(), "tp": o.tp.to_string(), "sl": o.sl.to_string(), "slippageP": "0",
        "executionFee": "0", "liquidationPrice": liquidation_price(&as_position).to_string(), "limitOrderType": 0,
    })
}

/// The trader's orders as `limitOrders[]`.
pub(super) fn limit_orders_json(st: &State, trader: Option<Address>) -> Vec<Value> {
    trader.map(|t| st.limit_orders.iter().filter(|o| o.trader == t).map(limit_order_json).collect()).unwrap_or_default()
}

/// The keeper at a new price of `pair`: every crossed order opens its position at its limit
/// price (as long as the pair has a free trade slot; otherwise it keeps resting).
pub(super) fn fill_crossed(st: &mut State, pair: u16, price: u64) -> Vec<HistoryFill> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < st.limit_orders.len() {
        let Some(o) = st.limit_orders.get(i).cloned() else { break };
        let crossed = o.pair == pair && if o.buy { price <= o.price } else { price >= o.price };
        let used: Vec<u32> = st.book.iter().filter(|p| p.trader == o.trader && p.pair == o.pair).map(|p| p.index).collect();
        let slot = (0..MAX_TRADES_PER_PAIR).find(|s| !used.contains(s));
        let (true, Some(index)) = (crossed, slot) else {
            i += 1;
            continue;
        };
        st.limit_orders.remove(i);
        let notional = mul_div(o.collateral, u128::from(o.leverage), 10_000_000_000);
        let fee = u64::try_from((u128::from(notional) * OPEN_FEE_P).div_ceil(PERCENT_100)).unwrap_or(u64::MAX);
        let max_gain = st.pairs.get(&pair).map_or(2500, |p| p.max_gain_p);
        let at = now_ms();
        let p = FakePosition {
            trader: o.trader,
            pair,
            index,
            buy: o.buy,
            is_pnl: false,
            collateral: o.collateral.saturating_sub(fee),
            leverage: o.leverage,
            open_price: o.price,
            tp: corrected_tp(o.price, o.leverage, o.buy, o.tp, max_gain),
            sl: o.sl,
            opened_at: at / 1000,
        };
        st.book.push(p.clone());
        let n = st.fresh_id();
        out.push(history::record_limit_open(st, &p, fee, &tx_hash(n, 9), at));
    }
    out
}

impl FakeAvantis {
    /// Places a limit order for `trader` (as the Veranta app would): `collateral` 1e6 (taken
    /// from the wallet balance while it rests), `leverage` and `price` 1e10, no TP/SL. None when
    /// the pair is unknown, the size is zero, or the pair's trades and orders are at the venue's
    /// cap.
    pub fn place_limit_order(
        &self,
        trader: Address,
        pair: u16,
        buy: bool,
        collateral: u64,
        leverage: u64,
        price: u64,
    ) -> Option<FakeLimitOrder> {
        self.place_limit_order_with(FakeLimitOrder { trader, pair, index: 0, buy, collateral, leverage, price, tp: 0, sl: 0, block: 0 })
    }

    /// [`Self::place_limit_order`] with every field given (`index` and `block` are assigned).
    pub fn place_limit_order_with(&self, order: FakeLimitOrder) -> Option<FakeLimitOrder> {
        let mut st = lock(&self.state);
        if !st.pairs.contains_key(&order.pair) || order.collateral == 0 || order.leverage == 0 || order.price == 0 {
            return None;
        }
        let trades = st.book.iter().filter(|p| p.trader == order.trader && p.pair == order.pair).count();
        let used: Vec<u32> = st.limit_orders.iter().filter(|o| o.trader == order.trader && o.pair == order.pair).map(|o| o.index).collect();
        if trades.saturating_add(used.len()) >= MAX_TRADES_PER_PAIR as usize {
            return None;
        }
        let index = (0..MAX_TRADES_PER_PAIR).find(|i| !used.contains(i))?;
        let block = st.fresh_id();
        let o = FakeLimitOrder { index, block, ..order };
        if let Some(b) = st.balances.get_mut(&o.trader) {
            *b = b.saturating_sub(o.collateral);
        }
        st.limit_orders.push(o.clone());
        Some(o)
    }

    /// Cancels the trader's order (the escrowed collateral goes back to the wallet). None when
    /// there is no such order.
    pub fn cancel_limit_order(&self, trader: Address, pair: u16, index: u32) -> Option<FakeLimitOrder> {
        let mut st = lock(&self.state);
        let i = st.limit_orders.iter().position(|o| o.trader == trader && o.pair == pair && o.index == index)?;
        let o = st.limit_orders.remove(i);
        *st.balances.entry(trader).or_insert(0) += o.collateral;
        Some(o)
    }

    /// The trader's resting limit orders.
    pub fn limit_orders(&self, trader: Address) -> Vec<FakeLimitOrder> {
        lock(&self.state).limit_orders.iter().filter(|o| o.trader == trader).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    const E10: u64 = 10_000_000_000;

    #[tokio::test]
    async fn an_order_rests_until_the_price_crosses_it_then_fills_once_at_its_price() {
        let fake = FakeAvantis::start().await.unwrap();
        let trader = Address::repeat_byte(0x11);
        fake.set_balance(trader, 1_000_000_000);
        fake.set_price(1, 65_000 * E10);
        let o = fake.place_limit_order(trader, 1, true, 100_000_000, 5 * E10, 60_000 * E10).unwrap();
        assert_eq!((o.index, fake.balance(trader)), (0, 900_000_000), "escrowed");
        let j = limit_order_json(&o);
        assert_eq!(
            (j["collateral"].as_str(), j["positionSize"].as_str(), j["price"].as_str()),
            (Some("100000000"), Some("500000000"), Some("600000000000000"))
        );
        assert_eq!(j["limitOrderType"], 0);
        assert!(fake.move_price(1, 61_000 * E10).is_empty(), "not crossed");
        let fills = fake.move_price(1, 59_900 * E10);
        assert_eq!(fills.len(), 1);
        assert_eq!((fills[0].event, fills[0].order_type, fills[0].open, fills[0].price), ("LimitExecuted", Some(3), true, 60_000 * E10));
        assert!(fake.limit_orders(trader).is_empty());
        let p = fake.positions(trader);
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].open_price, p[0].collateral, p[0].buy),
            (60_000 * E10, 100_000_000 - 225_000, true),
            "the open fee: 0.045 % of $500"
        );
        assert!(fake.move_price(1, 59_000 * E10).is_empty(), "filled once");
    }

    #[tokio::test]
    async fn a_cancelled_order_returns_its_collateral_and_never_fills() {
        let fake = FakeAvantis::start().await.unwrap();
        let trader = Address::repeat_byte(0x22);
        fake.set_balance(trader, 1_000_000_000);
        let o = fake.place_limit_order(trader, 1, false, 50_000_000, 10 * E10, 70_000 * E10).unwrap();
        assert!(fake.place_limit_order(trader, 999, false, 50_000_000, 10 * E10, 70_000 * E10).is_none(), "unknown pair");
        assert_eq!(fake.cancel_limit_order(trader, 1, o.index), Some(o.clone()));
        assert_eq!(fake.balance(trader), 1_000_000_000);
        assert!(fake.cancel_limit_order(trader, 1, o.index).is_none());
        assert!(fake.move_price(1, 71_000 * E10).is_empty());
        assert!(fake.positions(trader).is_empty());
    }
}
