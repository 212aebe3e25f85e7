//! The venue's spread: the quote port ([`SpreadQuotes`], `POST {risk_v2}/spread` in production)
//! and the spread-adjusted execution price the paper venue fills at.
//!
//! A spread is a percent × 1e10 ([`PercentP`]) of the oracle price: the width between the price
//! a buyer pays and a seller gets. Each side pays half of it: a long opens above and closes below
//! the oracle price, a short the reverse ([`spread_price`], integer maths in venue price units,
//! rounded against the trader).

use async_trait::async_trait;

use crate::error::{DomainError, DomainResult};
use crate::ids::TraderAddress;
use crate::market::{PairIndex, Side};
use crate::money::{Leverage, PercentP, Price};

/// What a spread is asked for (the fields of the venue's quote request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpreadAsk {
    pub pair: PairIndex,
    /// The trader the quote is for (the venue's spread can depend on the wallet).
    pub trader: TraderAddress,
    /// The position's side (a close of a long is asked as a long with `is_open` false).
    pub side: Side,
    pub is_open: bool,
    /// The position's size in coins × 1e10 (`coinSize10`).
    pub coin_size10: u128,
    /// Sent so the venue applies the pair's leverage-tiered spread cap (`leverage10`).
    pub leverage: Leverage,
}

impl SpreadAsk {
    /// With the coin size of `collateral` at this ask's leverage at `price`.
    pub fn sized(mut self, collateral: crate::money::Usdc, price: Price) -> Self {
        self.coin_size10 = self.leverage.notional(collateral).ok().and_then(|n| coin_size10(n, price)).unwrap_or(0);
        self
    }
}

/// The venue's answer to a spread request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpreadQuote {
    /// The quoted spread (with-flow when the venue gives one, else without-flow).
    Quoted(PercentP),
    /// The venue refused to quote (roll window, closed market, wallet): `403`, `SPREAD_BLOCKED`.
    Blocked(String),
    /// The venue has no spread for this order (`404`, `SPREAD_UNAVAILABLE`): "do not execute",
    /// never zero.
    Unavailable(String),
}

/// The venue's spread quotes. An `Err` is a failure to ask (transport, malformed answer); what
/// the venue said is in the [`SpreadQuote`].
#[async_trait]
pub trait SpreadQuotes: Send + Sync {
    async fn spread(&self, ask: &SpreadAsk) -> DomainResult<SpreadQuote>;
}

/// `price` moved against the trader by half of `spread` (percent × 1e10): up for a buyer, down
/// for a seller, the half spread rounded up (against the trader either way).
pub fn spread_price(price: Price, spread: PercentP, buy: bool) -> DomainResult<Price> {
    let p = u128::from(price.raw());
    let half = crate::money::mul_div_ceil(p, u128::from(spread.raw()), 2 * u128::from(PercentP::HUNDRED.raw()))
        .ok_or_else(|| DomainError::Internal("spread overflow".into()))?;
    let v = if buy { p.checked_add(half) } else { p.checked_sub(half) };
    let v = v.ok_or_else(|| DomainError::Refused(format!("the spread ({spread}%) leaves no price")))?;
    u64::try_from(v).map(Price::from_raw).map_err(|_| DomainError::Internal("price overflow".into()))
}

/// Coins × 1e10 of a position of `notional` (USDC) at `price`: `notional / price`, rounded down.
pub fn coin_size10(notional: crate::money::Usdc, price: Price) -> Option<u128> {
    // notional raw is 1e6 USDC, price raw 1e10 USD: coins × 1e10 = notional × 1e14 / price.
    crate::money::mul_div_floor(u128::from(notional.raw()), 100_000_000_000_000, u128::from(price.raw().max(1)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
    use std::str::FromStr;

    use super::*;
    use crate::money::Usdc;

    fn p(s: &str) -> Price {
        Price::from_str(s).unwrap()
    }

    #[test]
    fn a_buyer_pays_half_the_spread_above_and_a_seller_gets_half_below() {
        // ETH at 3 000 with the catalog's 0.01 %: half is 0.005 % = 0.15.
        let s = PercentP::from_str("0.01").unwrap();
        assert_eq!(spread_price(p("3000"), s, true).unwrap(), p("3000.15"));
        assert_eq!(spread_price(p("3000"), s, false).unwrap(), p("2999.85"));
        // The quote example of the reference: with-flow 0.075 % on 100 000 → ±37.5.
        let q = PercentP::from_raw(750_000_000);
        assert_eq!(spread_price(p("100000"), q, true).unwrap(), p("100037.5"));
        assert_eq!(spread_price(p("100000"), q, false).unwrap(), p("99962.5"));
        assert_eq!(spread_price(p("100000"), PercentP::ZERO, true).unwrap(), p("100000"));
    }

    #[test]
    fn the_half_spread_rounds_against_the_trader() {
        // 1e-10 price units: 0.01 % of 12345 raw units is 1.2345 → half 0.61725 → 1 unit.
        let s = PercentP::from_str("0.01").unwrap();
        assert_eq!(spread_price(Price::from_raw(12_345), s, true).unwrap(), Price::from_raw(12_346));
        assert_eq!(spread_price(Price::from_raw(12_345), s, false).unwrap(), Price::from_raw(12_344));
        // A spread beyond 200 % leaves no price for a seller: refused, never a panic.
        assert!(spread_price(p("1"), PercentP::from_str("300").unwrap(), false).is_err());
        assert!(spread_price(Price::from_raw(u64::MAX), PercentP::from_str("300").unwrap(), true).is_err());
    }

    #[test]
    fn coin_size_is_notional_over_price() {
        // 5 000 USDC at 100 000 = 0.05 BTC = 5e8 × 1e-10.
        assert_eq!(coin_size10(Usdc::from_str("5000").unwrap(), p("100000")), Some(500_000_000));
        assert_eq!(coin_size10(Usdc::from_str("1").unwrap(), p("3")), Some(3_333_333_333));
    }
}
