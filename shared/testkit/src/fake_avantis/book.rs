//! The fake's in-memory book: positions per trader, the operator's delayed TP/SL updates, and
//! executing an open or a close against it (for the relayer route and the keeper alike).

use alloy::primitives::{Address, U256};
use serde_json::{Value, json};
use vanta_chain::eip712::{CloseTradeReq, OpenTradeReq};

use super::wire::{mul_div, tx_hash, u256_u64};
use super::{FakePosition, LoggedEvent, MAX_TRADES_PER_PAIR, OPEN_FEE_P, PERCENT_100, PendingTpSl, State, history, now_ms};

pub(super) fn find_position(st: &State, trader: Address, pair: u16, index: u32) -> Option<&FakePosition> {
    st.book.iter().find(|p| p.trader == trader && p.pair == pair && p.index == index)
}

/// Lands every accepted TP/SL update whose time has come (the operator's execution).
pub(super) fn apply_due_tpsl(st: &mut State) {
    let now = now_ms();
    let (due, later): (Vec<PendingTpSl>, Vec<PendingTpSl>) =
        std::mem::take(&mut st.pending_tpsl).into_iter().partition(|u| u.due_ms <= now);
    st.pending_tpsl = later;
    for u in due {
        if let Some(p) = st.book.iter_mut().find(|p| p.trader == u.trader && p.pair == u.pair && p.index == u.index) {
            p.tp = u.tp;
            p.sl = u.sl;
        }
    }
}

/// The venue's TP correction (`PairStorage.correctTp`): a TP of 0 is the max-gain cap,
/// `open ± open × maxGain% / leverage`.
pub(super) fn corrected_tp(open_price: u64, leverage: u64, buy: bool, tp: u64, max_gain_p: u64) -> u64 {
    if tp != 0 {
        return tp;
    }
    let delta = mul_div(open_price, u128::from(max_gain_p).saturating_mul(100_000_000), u128::from(leverage.max(1)));
    if buy { open_price.saturating_add(delta) } else { open_price.saturating_sub(delta) }
}

pub(super) fn liquidation_price(p: &FakePosition) -> u64 {
    let delta = mul_div(p.open_price, 9_000_000_000, u128::from(p.leverage.max(1)));
    if p.buy { p.open_price.saturating_sub(delta) } else { p.open_price.saturating_add(delta) }
}

/// Base-asset size, 1e10: notional(1e6) × 1e10 × 1e10 / openPrice / 1e6.
pub(super) fn coin_size(p: &FakePosition) -> u64 {
    let notional = mul_div(p.collateral, u128::from(p.leverage), 10_000_000_000);
    let scaled = u128::from(notional).saturating_mul(10_000_000_000).saturating_mul(10_000_000_000);
    u64::try_from(scaled / u128::from(p.open_price.max(1)) / 1_000_000).unwrap_or(u64::MAX)
}

pub(super) fn trade_t(p: &FakePosition) -> Value {
    json!({
        "trader": p.trader.to_checksum(None), "pairIndex": p.pair, "index": p.index, "initialPosToken": p.collateral.to_string(),
        "positionSizeUSDC": mul_div(p.collateral, u128::from(p.leverage), 10_000_000_000).to_string(), "openPrice": p.open_price.to_string(),
        "buy": p.buy, "leverage": p.leverage.to_string(), "tp": p.tp.to_string(), "sl": p.sl.to_string(), "timestamp": p.opened_at,
    })
}

pub(super) fn execute_open(st: &mut State, m: &OpenTradeReq, is_pnl: bool, order_id: u64, at: u64) -> LoggedEvent {
    let t = &m._t;
    let pair = u16::try_from(t.pairIndex).unwrap_or(u16::MAX);
    let used: Vec<u32> = st.book.iter().filter(|p| p.trader == t.trader && p.pair == pair).map(|p| p.index).collect();
    let Some(index) = (0..MAX_TRADES_PER_PAIR).find(|i| !used.contains(i)) else {
        return LoggedEvent {
            seq: 2,
            kind: "Error".into(),
            payload: json!({ "code": "MaxTradesPerPair", "message": "too many trades" }),
            at,
        };
    };
    let collateral = u256_u64(t.positionSizeUSDC);
    let leverage = u256_u64(t.leverage);
    let notional = mul_div(collateral, u128::from(leverage), 10_000_000_000);
    let fee = u64::try_from((u128::from(notional) * OPEN_FEE_P).div_ceil(PERCENT_100)).unwrap_or(u64::MAX);
    let pos = FakePosition {
        trader: t.trader,
        pair,
        index,
        buy: t.buy,
        is_pnl,
        collateral: collateral.saturating_sub(fee),
        leverage,
        open_price: u256_u64(t.openPrice),
        tp: corrected_tp(u256_u64(t.openPrice), leverage, t.buy, u256_u64(t.tp), st.pairs.get(&pair).map_or(2500, |p| p.max_gain_p)),
        sl: u256_u64(t.sl),
        opened_at: at / 1000,
    };
    let payload = json!({
        "orderId": order_id, "open": true, "price": pos.open_price.to_string(),
        "positionSizeUSDC": mul_div(pos.collateral, u128::from(leverage), 10_000_000_000).to_string(),
        "percentProfit": "0", "usdcSentToTrader": "0", "isPnl": is_pnl, "coinExposure": coin_size(&pos).to_string(),
        "isCoinExposureFixed": false, "t": trade_t(&pos), "transactionHash": tx_hash(order_id, 2),
    });
    if let Some(b) = st.balances.get_mut(&t.trader) {
        *b = b.saturating_sub(collateral);
    }
    history::record_open(st, &pos, fee, &tx_hash(order_id, 2), at);
    st.book.push(pos);
    LoggedEvent { seq: 2, kind: "MarketOrderExecuted".into(), payload, at }
}

pub(super) fn execute_close(st: &mut State, m: &CloseTradeReq, order_id: u64, at: u64) -> Result<LoggedEvent, String> {
    let pair = u16::try_from(m._pairIndex).unwrap_or(u16::MAX);
    let index = u32::try_from(m._index).unwrap_or(u32::MAX);
    let pos_i = st.book.iter().position(|p| p.trader == m._trader && p.pair == pair && p.index == index).ok_or("PositionMismatch")?;
    let pos = st.book.get(pos_i).cloned().ok_or("PositionMismatch")?;
    if m._openTimestamp != U256::ZERO && m._openTimestamp != U256::from(pos.opened_at) {
        return Err("PositionMismatch".into());
    }
    let amount = u256_u64(m._amount).min(pos.collateral);
    let price = if m._wantedPrice == U256::ZERO { pos.open_price } else { u256_u64(m._wantedPrice) };
    let remaining = pos.collateral - amount;
    *st.balances.entry(m._trader).or_insert(0) += amount;
    history::record_market_close(st, &pos, amount, price, &tx_hash(order_id, 2), at);
    let mut after = pos.clone();
    after.collateral = remaining;
    if remaining == 0 {
        st.book.remove(pos_i);
    } else if let Some(p) = st.book.get_mut(pos_i) {
        p.collateral = remaining;
    }
    Ok(LoggedEvent {
        seq: 2,
        kind: "MarketOrderExecuted".into(),
        payload: json!({
            "orderId": order_id, "open": false, "price": price.to_string(),
            "positionSizeUSDC": mul_div(amount, u128::from(pos.leverage), 10_000_000_000).to_string(),
            "percentProfit": "0", "usdcSentToTrader": amount.to_string(), "isPnl": pos.is_pnl, "coinExposure": "0",
            "isCoinExposureFixed": false, "t": trade_t(&after), "transactionHash": tx_hash(order_id, 2),
        }),
        at,
    })
}
