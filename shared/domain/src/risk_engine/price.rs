//! The reference price an order is priced at ([`reference_price`]: fresh, agreeing quotes,
//! their median) and the percentage-of-collateral maths the take-profit and stop-loss caps use.

use std::collections::BTreeMap;

use super::Refusal;
use crate::market::PairSymbol;
use crate::money::{Bps, Leverage, PercentP, Price};
use crate::ports::PriceQuote;
use crate::time::Timestamp;

/// clocks differ by up to a second or so; Pyth and Chainlink stamp whole seconds). A quote dated
/// further ahead means a clock is wrong, and then no price is trusted.
pub const MAX_FUTURE_SKEW_MS: i64 = 2_000;

/// Price rule on its own (used by TP/SL too). Returns the reference price for `pair`.
///
/// - Quotes for other pairs are ignored; none left is [`Refusal::NoPrice`].
/// - A quote dated more than [`MAX_FUTURE_SKEW_MS`] after `now` refuses everything
///   ([`Refusal::FuturePrice`]): a clock is wrong, so no age can be trusted.
/// - A quote is fresh when `now − published_at ≤ max_age_secs`. Sources with no fresh quote are
///   left out; none fresh is [`Refusal::StalePrice`].
/// - Each source counts with its freshest quote (all of them, should one source give several at
///   that same instant). A zero price is [`Refusal::ZeroPrice`].
/// - The highest and lowest of those must be within `max_dev` of the lowest:
///   `(high − low) × 10 000 ≤ max_dev × low`, exactly ([`Refusal::PricesDisagree`]).
/// - The reference price is their **median** (for an even count, the mean of the two middle ones,
///   rounded down), so no single source sets the price. It always lies between low and high.
///
/// The result does not depend on the order of `quotes`.
pub fn reference_price(
    pair: &PairSymbol,
    quotes: &[PriceQuote],
    now: Timestamp,
    max_age_secs: u32,
    max_dev: Bps,
) -> Result<Price, Refusal> {
    let mine: Vec<&PriceQuote> = quotes.iter().filter(|q| &q.pair == pair).collect();
    if mine.is_empty() {
        return Err(Refusal::NoPrice { pair: pair.clone() });
    }

    // A quote from the future: report the furthest ahead (ties by source name, for determinism).
    let future = mine
        .iter()
        .map(|q| (q.published_at.since(now), q.source.as_str()))
        .filter(|(ahead, _)| *ahead > MAX_FUTURE_SKEW_MS)
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)));
    if let Some((ahead_ms, source)) = future {
        return Err(Refusal::FuturePrice { pair: pair.clone(), source: source.to_owned(), ahead_ms });
    }

    let max_age_ms = i64::from(max_age_secs).saturating_mul(1000);
    let fresh: Vec<&PriceQuote> = mine.iter().copied().filter(|q| now.since(q.published_at) <= max_age_ms).collect();
    if fresh.is_empty() {
        let age_ms = mine.iter().map(|q| now.since(q.published_at)).min().unwrap_or(i64::MAX);
        return Err(Refusal::StalePrice { pair: pair.clone(), age_ms, max_age_secs });
    }

    // Each source's latest publish time among its fresh quotes.
    let mut latest: BTreeMap<&str, Timestamp> = BTreeMap::new();
    for q in &fresh {
        let at = latest.entry(q.source.as_str()).or_insert(q.published_at);
        if q.published_at > *at {
            *at = q.published_at;
        }
    }
    let mut current: Vec<(Price, &str)> =
        fresh.iter().filter(|q| latest.get(q.source.as_str()) == Some(&q.published_at)).map(|q| (q.price, q.source.as_str())).collect();
    current.sort_unstable();

    if let Some((_, source)) = current.iter().find(|(p, _)| p.is_zero()) {
        return Err(Refusal::ZeroPrice { pair: pair.clone(), source: (*source).to_owned() });
    }
    let (Some(&(low, low_source)), Some(&(high, high_source))) = (current.first(), current.last()) else {
        return Err(Refusal::NoPrice { pair: pair.clone() });
    };
    // high ≥ low > 0; u64 × u32 products fit in u128.
    let spread = u128::from(high.raw().saturating_sub(low.raw()));
    if spread * 10_000 > u128::from(max_dev.raw()) * u128::from(low.raw()) {
        let dev = (spread * 10_000).div_ceil(u128::from(low.raw()));
        let deviation = u32::try_from(dev).ok().and_then(|d| Bps::new(d).ok()).unwrap_or(Bps::MAX);
        return Err(Refusal::PricesDisagree {
            pair: pair.clone(),
            low,
            low_source: low_source.to_owned(),
            high,
            high_source: high_source.to_owned(),
            deviation,
            max: max_dev,
        });
    }

    let n = current.len();
    let upper = current.get(n / 2).map(|(p, _)| p.raw());
    let median = if n % 2 == 1 {
        upper
    } else {
        let lower = (n / 2).checked_sub(1).and_then(|i| current.get(i)).map(|(p, _)| p.raw());
        // Mean of two u64 without overflow: the sum fits in u128 and the mean in u64.
        lower.zip(upper).and_then(|(a, b)| u64::try_from((u128::from(a) + u128::from(b)) / 2).ok())
    };
    let median = median.map(Price::from_raw).ok_or(Refusal::NoPrice { pair: pair.clone() })?;

    // Slow, heartbeat-driven feeds (Chainlink) that have no fresh quote still cross-check the
    // fresh ones while within their heartbeat: the market cannot have moved further from their
    // last answer than their deviation threshold, so a fresh price beyond that (plus the usual
    // tolerance) means one side is wrong.
    let mut slow: BTreeMap<&str, &PriceQuote> = BTreeMap::new();
    for q in mine.iter().filter(|q| q.check_age_secs.is_some() && !latest.contains_key(q.source.as_str())) {
        let e = slow.entry(q.source.as_str()).or_insert(q);
        if q.published_at > e.published_at {
            *e = q;
        }
    }
    for (source, q) in slow {
        let within = q.check_age_secs.is_some_and(|a| now.since(q.published_at) <= i64::from(a).saturating_mul(1000));
        if !within || q.price.is_zero() {
            continue;
        }
        let max = Bps::new(max_dev.raw().saturating_add(q.check_band.raw())).unwrap_or(Bps::MAX);
        let (lo, lo_src, hi, hi_src) =
            if q.price < median { (q.price, source, median, "fresh sources") } else { (median, "fresh sources", q.price, source) };
        let gap = u128::from(hi.raw() - lo.raw());
        if gap * 10_000 > u128::from(max.raw()) * u128::from(lo.raw()) {
            let dev = (gap * 10_000).div_ceil(u128::from(lo.raw()));
            return Err(Refusal::PricesDisagree {
                pair: pair.clone(),
                low: lo,
                low_source: lo_src.to_owned(),
                high: hi,
                high_source: hi_src.to_owned(),
                deviation: u32::try_from(dev).ok().and_then(|d| Bps::new(d).ok()).unwrap_or(Bps::MAX),
                max,
            });
        }
    }
    Ok(median)
}

/// `|target − reference| × leverage × 100` in venue units: divided by `reference`, it is the move
/// to `target` as a percentage of collateral in [`PercentP`] units.
pub(super) fn pct_of_collateral_numerator(reference: Price, target: Price, leverage: Leverage) -> Option<u128> {
    u128::from(reference.raw().abs_diff(target.raw())).checked_mul(u128::from(leverage.raw()))?.checked_mul(100)
}

/// Whether `numerator / reference ≤ cap`, exactly.
pub(super) fn within_pct(numerator: u128, reference: Price, cap: PercentP) -> Option<bool> {
    Some(numerator <= u128::from(cap.raw()).checked_mul(u128::from(reference.raw()))?)
}

/// `numerator / reference`, rounded up, for messages (saturates).
pub(super) fn pct_ceil(numerator: u128, reference: Price) -> PercentP {
    let r = u128::from(reference.raw());
    let v = if r == 0 { u128::MAX } else { numerator.div_ceil(r) };
    PercentP::from_raw(u64::try_from(v).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use proptest::prelude::*;

    use super::*;
    use crate::risk_engine::test_support::*;

    #[test]
    fn a_slow_feed_within_its_heartbeat_cross_checks_the_fresh_price() {
        let max_dev = Bps::new(50).unwrap();
        let btc = sym("BTC/USD");
        // 20 minutes old, 1.5 % away at most (50 bps + its 100 bps band): agreed.
        let ok = [quote("pyth", "100000", 1_000), slow_quote("101500", 1_200_000)];
        assert_eq!(reference_price(&btc, &ok, NOW, 30, max_dev).unwrap(), px("100000"), "the fresh source sets the price");
        // 2 % away: one of them is wrong, so no trade.
        let off = [quote("pyth", "100000", 1_000), slow_quote("98000", 1_200_000)];
        match reference_price(&btc, &off, NOW, 30, max_dev) {
            Err(Refusal::PricesDisagree { max, low_source, .. }) => {
                assert_eq!(max, Bps::new(150).unwrap());
                assert_eq!(low_source, "chainlink");
            }
            other => panic!("expected a disagreement, got {other:?}"),
        }
        // Past its heartbeat it is ignored; without a declared heartbeat, stale quotes never count.
        let old = [quote("pyth", "100000", 1_000), slow_quote("90000", 4_000_000)];
        assert!(reference_price(&btc, &old, NOW, 30, max_dev).is_ok());
        let plain = [quote("pyth", "100000", 1_000), quote("chainlink", "90000", 1_200_000)];
        assert!(reference_price(&btc, &plain, NOW, 30, max_dev).is_ok());
        // When fresh itself, it takes part in the ordinary 50 bps agreement.
        let fresh = [quote("pyth", "100000", 1_000), slow_quote("100600", 2_000)];
        assert!(matches!(reference_price(&btc, &fresh, NOW, 30, max_dev), Err(Refusal::PricesDisagree { .. })));
    }

    // ----- reference_price ---------------------------------------------------------------------

    fn refp(quotes: &[PriceQuote]) -> Result<Price, Refusal> {
        reference_price(&sym("BTC/USD"), quotes, NOW, 30, Bps::new(50).unwrap())
    }

    #[test]
    fn reference_price_with_no_quotes_or_only_other_pairs() {
        assert_eq!(refp(&[]).unwrap_err().code(), "no_price");
        let eth = [quote_at("ETH/USD", "pyth", "3000", NOW)];
        assert_eq!(refp(&eth).unwrap_err().code(), "no_price");
    }

    #[test]
    fn reference_price_refuses_stale_quotes_and_accepts_the_boundary() {
        let r = refp(&[quote("pyth", "100000", 30_001)]).unwrap_err();
        assert_eq!(r.code(), "stale_price");
        assert!(r.to_string().contains("30.001 s old"), "{r}");
        assert_eq!(refp(&[quote("pyth", "100000", 30_000)]).unwrap(), px("100000"));
    }

    #[test]
    fn reference_price_leaves_out_a_stale_source() {
        let q = [quote("pyth", "100000", 1_000), quote("chainlink", "90000", 60_000)];
        assert_eq!(refp(&q).unwrap(), px("100000"));
    }

    #[test]
    fn reference_price_takes_each_sources_freshest_quote() {
        let q = [quote("pyth", "90000", 20_000), quote("pyth", "100000", 1_000), quote("chainlink", "100000", 3_000)];
        assert_eq!(refp(&q).unwrap(), px("100000"), "pyth's older 90000 is superseded");
    }

    #[test]
    fn reference_price_sources_50_bps_apart_agree_51_do_not() {
        let ok = [quote("pyth", "100000", 1_000), quote("chainlink", "100500", 1_000)];
        assert_eq!(refp(&ok).unwrap(), px("100250"), "the median of two is their mean");
        let bad = [quote("pyth", "100000", 1_000), quote("chainlink", "100510", 1_000)];
        let r = refp(&bad).unwrap_err();
        assert_eq!(r.code(), "prices_disagree");
        assert!(r.to_string().contains("0.51% apart"), "{r}");
        // Just above 50 bps (by one raw unit) is refused: the comparison is exact.
        let hair = [quote("pyth", "100000", 1_000), quote("chainlink", "100500.0000000001", 1_000)];
        assert_eq!(refp(&hair).unwrap_err().code(), "prices_disagree");
    }

    #[test]
    fn reference_price_is_the_median() {
        let q = [quote("a", "100300", 1_000), quote("b", "100000", 1_000), quote("c", "100100", 1_000)];
        assert_eq!(refp(&q).unwrap(), px("100100"));
        let odd_sum = [quote("a", "0.0000000001", 0), quote("b", "0.0000000002", 0)];
        assert_eq!(reference_price(&sym("BTC/USD"), &odd_sum, NOW, 30, Bps::MAX).unwrap().raw(), 1, "rounded down");
    }

    #[test]
    fn reference_price_refuses_a_future_dated_quote() {
        let q = [quote("pyth", "100000", 1_000), quote("chainlink", "100000", -10_000)];
        let r = refp(&q).unwrap_err();
        assert_eq!(r.code(), "future_price");
        assert!(r.to_string().contains("chainlink") && r.to_string().contains("10 s in the future"), "{r}");
        // Within the skew tolerance it counts as fresh.
        let q = [quote("pyth", "100000", -MAX_FUTURE_SKEW_MS)];
        assert_eq!(refp(&q).unwrap(), px("100000"));
    }

    #[test]
    fn reference_price_refuses_a_zero_price() {
        let q = [quote("pyth", "0", 1_000)];
        assert_eq!(refp(&q).unwrap_err().code(), "zero_price");
    }

    #[test]
    fn reference_price_catches_one_source_contradicting_itself() {
        let q = [quote("pyth", "100000", 1_000), quote("pyth", "101000", 1_000)];
        assert_eq!(refp(&q).unwrap_err().code(), "prices_disagree");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn reference_price_is_between_the_sources_and_order_free(
            quotes in proptest::collection::vec((0usize..3, any::<u64>(), prop_oneof![any::<i64>(), -40_000i64..=40_000]), 0..=6),
            now in prop_oneof![Just(NOW.0), any::<i64>()],
            age in any::<u32>(),
            dev in 0u32..=1_000_000,
        ) {
            let quotes: Vec<PriceQuote> = quotes
                .into_iter()
                .map(|(s, price, delta)| PriceQuote {
                    pair: sym("BTC/USD"),
                    price: Price::from_raw(price),
                    published_at: Timestamp(now.saturating_sub(delta)),
                    source: ["pyth", "chainlink", "api"][s].to_owned(),
                    check_age_secs: None,
                    check_band: Bps::default(),
                })
                .collect();
            let dev = Bps::new(dev).unwrap();
            let got = reference_price(&sym("BTC/USD"), &quotes, Timestamp(now), age, dev);
            let mut rev = quotes.clone();
            rev.reverse();
            prop_assert_eq!(&got, &reference_price(&sym("BTC/USD"), &rev, Timestamp(now), age, dev));
            if let Ok(p) = got {
                let fresh: Vec<&PriceQuote> =
                    quotes.iter().filter(|q| i128::from(now) - i128::from(q.published_at.0) <= i128::from(age) * 1000).collect();
                prop_assert!(!fresh.is_empty());
                prop_assert!(fresh.iter().any(|q| q.price <= p) && fresh.iter().any(|q| q.price >= p));
                prop_assert!(quotes.iter().all(|q| i128::from(q.published_at.0) - i128::from(now) <= i128::from(MAX_FUTURE_SKEW_MS)));
            }
        }
    }
}
