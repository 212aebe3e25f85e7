//! The venue's trade maths in integers: liquidation price, open and close fees, the Upside
//! (profit-share) take-profit cap and stop-loss floor, and net PnL. The formulas are the
//! venue's, as its official client's pure `compute/` functions state them (the integration test
//! `tests/it/compute.rs` runs those functions over a table of inputs and compares every figure
//! with these); the arithmetic is exact on rationals and rounds once, at the end, in the
//! direction stated on each function:
//!
//! - fees and profit shares are rounded **up** to the micro-USDC (never understated);
//! - the liquidation distance is rounded **down** (the reported price is never farther from the
//!   entry than the true one);
//! - the Upside take-profit cap is rounded **down** and the stop-loss floor **up** (an order we
//!   accept is never one the venue refuses for a tighter bound);
//! - PnL is rounded toward zero, as [`crate::position::pnl`] does.
//!
//! Units: USDC 1e6 ([`Usdc`]), prices, leverage and percentages 1e10 ([`Price`], [`Leverage`],
//! [`PercentP`]); open interest in coins is a `u128` at 1e10 ([`COIN_SCALE`]).

use std::cmp::Ordering;

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::market::Side;
use crate::money::{Leverage, PercentP, Price, SignedUsdc, Usdc};

/// Coin amounts (`coinOI`, a position's size in coins) are kept at 1e10.
pub const COIN_SCALE: u32 = 10;

/// Share of collateral lost at liquidation (85 %).
pub const LIQ_THRESHOLD: PercentP = PercentP::from_raw(85 * 10_000_000_000);

/// The Upside stop-loss floor's fixed part: 5 % of collateral.
pub const MIN_UPSIDE_SL: PercentP = PercentP::from_raw(5 * 10_000_000_000);

/// Added to the spread before it is scaled by leverage for the stop-loss limit (0.01 %).
pub const SL_BUFFER_SPREAD: PercentP = PercentP::from_raw(100_000_000);

const ONE: u128 = 10_000_000_000;
const USDC_ONE: u128 = 1_000_000;

/// How a trade is charged on a maker/taker pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeeKind {
    Maker,
    Taker,
    Mixed,
}

impl FeeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeeKind::Maker => "maker",
            FeeKind::Taker => "taker",
            FeeKind::Mixed => "mixed",
        }
    }
}

/// A fee: the rate (percent of notional, rounded up) and the amount on the notional (computed
/// from the exact rate, rounded up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fee {
    pub rate: PercentP,
    pub amount: Usdc,
    pub kind: FeeKind,
}

/// One profit-share tier of an Upside pair: from a gross profit of `threshold` % of collateral,
/// `share` % of the profit goes to the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PnlTier {
    pub threshold: PercentP,
    pub share: PercentP,
}

/// What the venue's fee maths needs of a pair, beyond [`crate::market::PairInfo`]: read from the
/// same `/v2/trading` snapshot (open interest as of that snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeModel {
    /// An Upside (profit-share) pair: no open or close fee, a share of the profit instead.
    #[serde(default)]
    pub upside: bool,
    /// `skewEqParams`: ten `[a, b]` lines, 1e10 units (signed).
    #[serde(default)]
    pub skew_eq: Vec<(i64, i64)>,
    /// `openInterest` in USDC.
    #[serde(default)]
    pub oi_long: Usdc,
    #[serde(default)]
    pub oi_short: Usdc,
    /// `coinOI` in coins, 1e10 (kept as decimal text: stores need not read 128-bit numbers).
    #[serde(default, with = "u128_text")]
    pub coin_oi_long: u128,
    #[serde(default, with = "u128_text")]
    pub coin_oi_short: u128,
    /// `additionalPairParams2` maker/taker rates.
    #[serde(default)]
    pub open_maker: PercentP,
    #[serde(default)]
    pub open_taker: PercentP,
    #[serde(default)]
    pub close_maker: PercentP,
    #[serde(default)]
    pub close_taker: PercentP,
    /// `pnlFees`: the tiers, `tierP[i]` with `feesP[i]` (a missing fee is 0).
    #[serde(default)]
    pub pnl_tiers: Vec<PnlTier>,
}

mod u128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let t = String::deserialize(d)?;
        t.parse().map_err(serde::de::Error::custom)
    }
}

fn overflow(what: &str) -> DomainError {
    DomainError::Internal(format!("{what}: numbers too large"))
}

fn u256(v: u128) -> U256 {
    U256::from(v)
}

/// `n / d` of 256-bit values as u128, rounded down or up; None when it does not fit or `d` is 0.
fn div_round(n: U256, d: U256, up: bool) -> Option<u128> {
    if d.is_zero() {
        return None;
    }
    let (q, r) = n.div_rem(d);
    let q = if up && !r.is_zero() { q.checked_add(U256::from(1u8))? } else { q };
    u128::try_from(q).ok()
}

fn to_u64(v: u128, what: &str) -> DomainResult<u64> {
    u64::try_from(v).map_err(|_| overflow(what))
}

// ---------------------------------------------------------------------------------------------
// Liquidation
// ---------------------------------------------------------------------------------------------

/// Liquidation price of a position opened at `open` with `collateral` × `leverage`, given the
/// rollover and funding fees accrued so far (funding may be negative: received):
/// `distance = open × (collateral × 85 % − rollover − funding) / (collateral × leverage)`,
/// long `open − distance`, short `open + distance`. The distance is rounded down (toward −∞
/// when the fees exceed the threshold and the distance is negative), so the price is never
/// reported farther from the entry than it is. A long's price below zero is zero.
pub fn liquidation_price(
    side: Side,
    open: Price,
    collateral: Usdc,
    leverage: Leverage,
    rollover: Usdc,
    funding: SignedUsdc,
) -> DomainResult<Price> {
    if collateral.is_zero() {
        return Err(DomainError::Invalid("no collateral, so no liquidation price".into()));
    }
    // margin = collateral × 85 / 100 − fees, scaled by 100 to stay integral.
    let margin = i128::from(collateral.raw()) * 85 - 100 * (i128::from(rollover.raw()) + i128::from(funding.raw()));
    let negative = margin < 0;
    // |distance| = open × |margin| × 1e10 / (100 × collateral × leverage).
    let n = u256(u128::from(open.raw())) * u256(margin.unsigned_abs()) * u256(ONE);
    let d = u256(100) * u256(u128::from(collateral.raw())) * u256(u128::from(leverage.raw()));
    // Floor of a negative distance is −ceil(|distance|).
    let dist = div_round(n, d, negative).ok_or_else(|| overflow("liquidation price"))?;
    let open = i128::from(open.raw());
    let dist = i128::try_from(dist).map_err(|_| overflow("liquidation price"))?;
    let dist = if negative { -dist } else { dist };
    let raw = match side {
        Side::Long => open - dist,
        Side::Short => open + dist,
    };
    let raw = u64::try_from(raw.max(0)).map_err(|_| overflow("liquidation price"))?;
    Ok(Price::from_raw(raw))
}

// ---------------------------------------------------------------------------------------------
// Open fee: skew-adjusted
// ---------------------------------------------------------------------------------------------

/// The skew-adjusted open fee of a position of notional `size` on `side`, given the pair's
/// open interest before it: after the trade, `oiPct = ⌊100 × opposite / (same + size +
/// opposite)⌋` (0 when nothing is open), the pair's line `(a, b)` for `oiPct`'s decile (the last
/// line beyond the table) gives `rate = (a × oiPct + b) / 10 000` percent. A pair without lines
/// charges `flat` (its `openFeeP`). A negative rate (a rebate) is charged as zero.
/// Returns the fee and `oiPct`.
pub fn skew_open_fee(model: &FeeModel, side: Side, size: Usdc, flat: PercentP) -> DomainResult<(Fee, u32)> {
    let (same, opposite) = match side {
        Side::Long => (model.oi_long.raw(), model.oi_short.raw()),
        Side::Short => (model.oi_short.raw(), model.oi_long.raw()),
    };
    let total = u128::from(same) + u128::from(size.raw()) + u128::from(opposite);
    let oi_pct = (u128::from(opposite) * 100).checked_div(total).unwrap_or(0);
    let oi_pct = u32::try_from(oi_pct).map_err(|_| overflow("open interest"))?;
    let Some(last) = model.skew_eq.len().checked_sub(1) else {
        return Ok((flat_fee(flat, size)?, oi_pct));
    };
    let line = usize::try_from(oi_pct / 10).unwrap_or(usize::MAX).min(last);
    let (a, b) = model.skew_eq.get(line).copied().ok_or_else(|| overflow("skew table"))?;
    // rate × 1e10 × 10 000 (exact), then the rate rounded up and the fee from the exact rate.
    let scaled = i128::from(a) * i128::from(oi_pct) + i128::from(b);
    let scaled = u128::try_from(scaled.max(0)).unwrap_or(0);
    let rate = to_u64(scaled.div_ceil(10_000), "open fee rate")?;
    // fee = size × scaled / (1e10 × 10 000 × 100)
    let amount =
        div_round(u256(u128::from(size.raw())) * u256(scaled), u256(ONE * 10_000 * 100), true).ok_or_else(|| overflow("open fee"))?;
    Ok((Fee { rate: PercentP::from_raw(rate), amount: Usdc::from_raw(to_u64(amount, "open fee")?), kind: FeeKind::Taker }, oi_pct))
}

fn flat_fee(rate: PercentP, notional: Usdc) -> DomainResult<Fee> {
    Ok(Fee { rate, amount: rate.of_usdc_ceil(notional)?, kind: FeeKind::Taker })
}

// ---------------------------------------------------------------------------------------------
// Maker / taker
// ---------------------------------------------------------------------------------------------

/// Coin open interest on both sides (1e10 coins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoinOi {
    pub long: u128,
    pub short: u128,
}

/// The maker/taker classification of a trade that moves the coin open interest from `before` to
/// `after` by `size` coins: one that worsens the skew (or finds nothing open) is a taker; one
/// that reduces it without crossing 50 % a maker; one that crosses pays maker on the part up to
/// balance and taker on the rest. The fee is `rate` % of `notional`.
pub fn maker_taker_fee(before: CoinOi, after: CoinOi, size: u128, maker: PercentP, taker: PercentP, notional: Usdc) -> DomainResult<Fee> {
    let taker_fee = || flat_fee(taker, notional).map(|f| Fee { kind: FeeKind::Taker, ..f });
    let maker_fee = || flat_fee(maker, notional).map(|f| Fee { kind: FeeKind::Maker, ..f });
    let (b_total, a_total) = (before.long + before.short, after.long + after.short);
    if b_total == 0 || a_total == 0 {
        return taker_fee();
    }
    // Long shares before and after, compared exactly by cross-multiplication.
    let (bl, al) = (u256(before.long), u256(after.long));
    let (bt, at) = (u256(b_total), u256(a_total));
    let before_vs_half = (bl * U256::from(2u8)).cmp(&bt);
    let after_vs_before = (al * bt).cmp(&(bl * at));
    let after_vs_half = (al * U256::from(2u8)).cmp(&at);
    // The imbalance before the trade, on the heavy side, and what is left of the size after it.
    let (imbalance, rest) = match before_vs_half {
        Ordering::Greater => {
            if after_vs_before == Ordering::Greater {
                return taker_fee();
            }
            if after_vs_half != Ordering::Less {
                return maker_fee();
            }
            let imb = before.long - before.short;
            (imb, size.checked_sub(imb))
        }
        Ordering::Less => {
            if after_vs_before == Ordering::Less {
                return taker_fee();
            }
            if after_vs_half != Ordering::Greater {
                return maker_fee();
            }
            let imb = before.short - before.long;
            (imb, size.checked_sub(imb))
        }
        Ordering::Equal => return taker_fee(),
    };
    let rest = rest.ok_or_else(|| DomainError::Internal("maker/taker split: size below the imbalance".into()))?;
    if size == 0 {
        return taker_fee();
    }
    // rate = (maker × imbalance + taker × rest) / size
    let num = u256(u128::from(maker.raw())) * u256(imbalance) + u256(u128::from(taker.raw())) * u256(rest);
    let rate = div_round(num, u256(size), true).ok_or_else(|| overflow("maker/taker rate"))?;
    let amount =
        div_round(num * u256(u128::from(notional.raw())), u256(size) * u256(100 * ONE), true).ok_or_else(|| overflow("maker/taker fee"))?;
    Ok(Fee { rate: PercentP::from_raw(to_u64(rate, "fee rate")?), amount: Usdc::from_raw(to_u64(amount, "fee")?), kind: FeeKind::Mixed })
}

/// Maker/taker fee of opening `size` coins (notional `notional`) on `side`.
pub fn open_maker_taker_fee(model: &FeeModel, side: Side, size: u128, notional: Usdc) -> DomainResult<Fee> {
    let before = CoinOi { long: model.coin_oi_long, short: model.coin_oi_short };
    let after = match side {
        Side::Long => CoinOi { long: before.long.checked_add(size).ok_or_else(|| overflow("open interest"))?, ..before },
        Side::Short => CoinOi { short: before.short.checked_add(size).ok_or_else(|| overflow("open interest"))?, ..before },
    };
    maker_taker_fee(before, after, size, model.open_maker, model.open_taker, notional)
}

/// Maker/taker fee of closing `size` coins (notional `notional`) of a `side` position; the size
/// is first clamped to that side's open interest, as the venue's contract does.
pub fn close_maker_taker_fee(model: &FeeModel, side: Side, size: u128, notional: Usdc) -> DomainResult<Fee> {
    let before = CoinOi { long: model.coin_oi_long, short: model.coin_oi_short };
    let closing_side = match side {
        Side::Long => before.long,
        Side::Short => before.short,
    };
    let size = size.min(closing_side);
    let after = match side {
        Side::Long => CoinOi { long: before.long - size, ..before },
        Side::Short => CoinOi { short: before.short - size, ..before },
    };
    maker_taker_fee(before, after, size, model.close_maker, model.close_taker, notional)
}

/// A position's size in coins (1e10): `notional / price`, rounded down.
pub fn coin_size(notional: Usdc, price: Price) -> DomainResult<u128> {
    // notional (1e6) × 1e10 × 1e10 / (price (1e10) × 1e6)
    div_round(u256(u128::from(notional.raw())) * u256(ONE) * u256(ONE), u256(u128::from(price.raw())) * u256(USDC_ONE), false)
        .ok_or_else(|| overflow("coin size"))
}

// ---------------------------------------------------------------------------------------------
// The fees Vanta charges an order with
// ---------------------------------------------------------------------------------------------

/// The open fee of a market order: zero on an Upside pair, else the skew-adjusted fee (the
/// pair's `openFeeP` when it publishes no skew lines).
pub fn open_fee(model: Option<&FeeModel>, side: Side, notional: Usdc, flat: PercentP) -> DomainResult<Usdc> {
    match model {
        Some(m) if m.upside => Ok(Usdc::ZERO),
        Some(m) => Ok(skew_open_fee(m, side, notional, flat)?.0.amount),
        None => Ok(flat.of_usdc_ceil(notional)?),
    }
}

/// The close fee of closing `notional` (at `price`) of a `side` position: zero on an Upside
/// pair, the maker/taker blend where the pair publishes maker/taker rates, else `flat` (its
/// `closeFeeP`). The base is the notional closed.
pub fn close_fee(model: Option<&FeeModel>, side: Side, notional: Usdc, price: Price, flat: PercentP) -> DomainResult<Usdc> {
    match model {
        Some(m) if m.upside => Ok(Usdc::ZERO),
        Some(m) if (!m.close_maker.is_zero() || !m.close_taker.is_zero()) && !price.is_zero() => {
            Ok(close_maker_taker_fee(m, side, coin_size(notional, price)?, notional)?.amount)
        }
        _ => Ok(flat.of_usdc_ceil(notional)?),
    }
}

// ---------------------------------------------------------------------------------------------
// Upside: profit share, TP cap, SL floor
// ---------------------------------------------------------------------------------------------

/// The profit share (percent of the profit) at a gross profit of `profit` % of collateral: the
/// highest tier whose threshold it reaches; below every tier, the first tier's share.
pub fn profit_share_at(tiers: &[PnlTier], profit: PercentP) -> PercentP {
    tiers.iter().rev().find(|t| profit >= t.threshold).or_else(|| tiers.first()).map_or(PercentP::ZERO, |t| t.share)
}

/// The highest take-profit of an Upside pair, percent of collateral, net of the profit share at
/// that level: `max_gain × (100 − share(max_gain)) / 100`, rounded down. Without tiers it is
/// `max_gain`.
pub fn upside_max_gain(max_gain: PercentP, tiers: &[PnlTier]) -> PercentP {
    if tiers.is_empty() {
        return max_gain;
    }
    let share = profit_share_at(tiers, max_gain);
    let keep = u128::from(PercentP::HUNDRED.raw().saturating_sub(share.raw()));
    let v = u128::from(max_gain.raw()) * keep / u128::from(PercentP::HUNDRED.raw());
    PercentP::from_raw(u64::try_from(v).unwrap_or(u64::MAX))
}

/// The venue's minimum stop-loss of an Upside order, percent of collateral, by leverage: a
/// piecewise-linear curve from 0 % at 0x through 1.5 % at 10x, 3.75 % at 25x, 7.5 % at 50x,
/// 11.25 % at 100x, 30 % at 250x, 45 % at 500x to 54 % at 1000x (and beyond). Rounded up.
pub fn pnl_order_min_sl(leverage: Leverage) -> PercentP {
    // (from leverage, to leverage, percent at from, percent at to), whole units.
    const CURVE: [(u128, u128, u128, u128); 7] = [
        (0, 10, 0, 150),
        (10, 25, 150, 375),
        (25, 50, 375, 750),
        (50, 100, 750, 1125),
        (100, 250, 1125, 3000),
        (250, 500, 3000, 4500),
        (500, 1000, 4500, 5400),
    ];
    let l = u128::from(leverage.raw());
    for (lo, hi, p_lo, p_hi) in CURVE {
        if l <= hi * ONE {
            // percent×100 scaled: p_lo + (l − lo) × (p_hi − p_lo) / (hi − lo), in 1e10/100 units.
            let num = (l - lo * ONE) * (p_hi - p_lo);
            let den = (hi - lo) * 100;
            let v = p_lo * ONE / 100 + num.div_ceil(den);
            return PercentP::from_raw(u64::try_from(v).unwrap_or(u64::MAX));
        }
    }
    PercentP::from_raw(54 * 10_000_000_000)
}

/// The stop-loss limit from the spread: `(spread + 0.01 %) × leverage`, rounded up.
pub fn spread_sl_limit(spread: PercentP, leverage: Leverage) -> PercentP {
    let v = (u128::from(spread.raw()) + u128::from(SL_BUFFER_SPREAD.raw())) * u128::from(leverage.raw());
    PercentP::from_raw(u64::try_from(v.div_ceil(ONE)).unwrap_or(u64::MAX))
}

/// The tightest stop-loss an Upside order may carry, percent of collateral:
/// `max(spread limit, 5 %, pnl_order_min_sl(leverage))` (the spread limit only when a spread is
/// known). A tighter one reverts on-chain.
pub fn upside_min_sl(leverage: Leverage, spread: Option<PercentP>) -> PercentP {
    let limit = spread.map_or(PercentP::ZERO, |s| spread_sl_limit(s, leverage));
    limit.max(MIN_UPSIDE_SL).max(pnl_order_min_sl(leverage))
}

// ---------------------------------------------------------------------------------------------
// PnL
// ---------------------------------------------------------------------------------------------

/// A position's PnL at a price, broken down as the venue settles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NetPnl {
    /// `(price − open) × dir / open × leverage × collateral`, rounded toward zero.
    pub gross: SignedUsdc,
    /// Close fee on the notional (fixed-fee pairs), rounded up.
    pub closing_fee: Usdc,
    /// The venue's share of a profit (Upside pairs), rounded up.
    pub profit_share: Usdc,
    /// `gross − closing_fee − profit_share − rollover − funding`.
    pub net: SignedUsdc,
}

/// Net PnL of a position at `price`: on a fixed-fee pair the close fee is `close_fee_rate` % of
/// the notional; on an Upside pair the venue takes its tiered share of a gross profit (judged as
/// a percentage of collateral) and no close fee. Loss protection is not modelled.
#[allow(clippy::too_many_arguments)]
pub fn net_pnl(
    side: Side,
    open: Price,
    price: Price,
    collateral: Usdc,
    leverage: Leverage,
    upside: Option<&[PnlTier]>,
    close_fee_rate: PercentP,
    rollover: Usdc,
    funding: SignedUsdc,
) -> DomainResult<NetPnl> {
    let gross = crate::position::pnl(side, collateral, leverage, open, price)?;
    let notional = leverage.notional(collateral)?;
    let (closing_fee, profit_share) = match upside {
        Some(tiers) => {
            let share = if gross.raw() > 0 && !collateral.is_zero() {
                // gross % of collateral, from the exact gross: notional × |Δ| / open / collateral × 100
                let delta = u128::from(price.raw().abs_diff(open.raw()));
                let pct = div_round(
                    u256(u128::from(notional.raw())) * u256(delta) * u256(100 * ONE),
                    u256(u128::from(open.raw())) * u256(u128::from(collateral.raw())),
                    false,
                )
                .ok_or_else(|| overflow("profit percentage"))?;
                let rate = profit_share_at(tiers, PercentP::from_raw(u64::try_from(pct).unwrap_or(u64::MAX)));
                // share = exact gross × rate / 100
                let amount = div_round(
                    u256(u128::from(notional.raw())) * u256(delta) * u256(u128::from(rate.raw())),
                    u256(u128::from(open.raw())) * u256(100 * ONE),
                    true,
                )
                .ok_or_else(|| overflow("profit share"))?;
                Usdc::from_raw(to_u64(amount, "profit share")?)
            } else {
                Usdc::ZERO
            };
            (Usdc::ZERO, share)
        }
        None => (close_fee_rate.of_usdc_ceil(notional)?, Usdc::ZERO),
    };
    let net = i128::from(gross.raw())
        - i128::from(closing_fee.raw())
        - i128::from(profit_share.raw())
        - i128::from(rollover.raw())
        - i128::from(funding.raw());
    let net = i64::try_from(net).map_err(|_| overflow("net pnl"))?;
    Ok(NetPnl { gross, closing_fee, profit_share, net: SignedUsdc::from_raw(net) })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn px(s: &str) -> Price {
        s.parse().unwrap()
    }
    fn usd(s: &str) -> Usdc {
        s.parse().unwrap()
    }
    fn pct(s: &str) -> PercentP {
        s.parse().unwrap()
    }
    fn lev(s: &str) -> Leverage {
        s.parse().unwrap()
    }

    #[test]
    fn liquidation_without_fees_is_85_percent_over_leverage() {
        let l = liquidation_price(Side::Long, px("100000"), usd("100"), lev("5"), Usdc::ZERO, SignedUsdc::ZERO).unwrap();
        assert_eq!(l, px("83000"));
        let s = liquidation_price(Side::Short, px("100000"), usd("100"), lev("5"), Usdc::ZERO, SignedUsdc::ZERO).unwrap();
        assert_eq!(s, px("117000"));
        // Fees accrued move it toward the entry: $5 of $100 → (85 − 5) % / 5x = 16 %.
        let f = liquidation_price(Side::Long, px("100000"), usd("100"), lev("5"), usd("3"), "2".parse().unwrap()).unwrap();
        assert_eq!(f, px("84000"));
        // Fees beyond the threshold put a long's price above the entry.
        let over = liquidation_price(Side::Long, px("100"), usd("10"), lev("2"), usd("9"), SignedUsdc::ZERO).unwrap();
        assert_eq!(over, px("102.5"));
    }

    #[test]
    fn the_skew_fee_reads_the_line_of_the_decile() {
        let m = FeeModel {
            skew_eq: (0..10).map(|i| (-10_000_000_000 * i, 600 * 10_000_000_000)).collect(),
            oi_long: usd("700"),
            oi_short: usd("200"),
            ..FeeModel::default()
        };
        // A $100 long: oiPct = ⌊100 × 200 / 1000⌋ = 20 → line 2: (−2 × 20 + 600) / 10 000 = 0.056 %.
        let (fee, oi) = skew_open_fee(&m, Side::Long, usd("100"), pct("0.045")).unwrap();
        assert_eq!(oi, 20);
        assert_eq!(fee.rate, pct("0.056"));
        assert_eq!(fee.amount, usd("0.056"));
    }

    #[test]
    fn crossing_the_balance_blends_maker_and_taker() {
        let m = FeeModel {
            coin_oi_long: 10 * ONE,
            coin_oi_short: 6 * ONE,
            open_maker: pct("0.01"),
            open_taker: pct("0.05"),
            ..FeeModel::default()
        };
        // A 2-coin short only reduces the skew: maker.
        assert_eq!(open_maker_taker_fee(&m, Side::Short, 2 * ONE, usd("1000")).unwrap().kind, FeeKind::Maker);
        // A 6-coin short: 4 coins maker, 2 taker → (0.04 + 0.10) / 6 %.
        let f = open_maker_taker_fee(&m, Side::Short, 6 * ONE, usd("600")).unwrap();
        assert_eq!(f.kind, FeeKind::Mixed);
        assert_eq!(f.amount, usd("0.14"));
        // A long adds to the skew: taker.
        assert_eq!(open_maker_taker_fee(&m, Side::Long, ONE, usd("100")).unwrap().kind, FeeKind::Taker);
    }

    #[test]
    fn the_upside_bounds() {
        let tiers: Vec<PnlTier> = [(1, "80"), (5, "50"), (25, "45"), (2500, "15"), (3000, "2.5")]
            .iter()
            .map(|(t, f)| PnlTier { threshold: PercentP::from_raw(t * 10_000_000_000), share: pct(f) })
            .collect();
        assert_eq!(upside_max_gain(pct("2500"), &tiers), pct("2125"));
        assert_eq!(pnl_order_min_sl(lev("10")), pct("1.5"));
        assert_eq!(pnl_order_min_sl(lev("75")), pct("9.375"));
        assert_eq!(pnl_order_min_sl(lev("500")), pct("45"));
        assert_eq!(pnl_order_min_sl(lev("1000")), pct("54"));
        assert_eq!(upside_min_sl(lev("20"), None), pct("5"));
        assert_eq!(upside_min_sl(lev("500"), Some(pct("0.1"))), pct("55"));
    }
}
