//! The paper venue fills with the venue's spread: the quote where there is one, the catalog's
//! otherwise; no spread refuses an open and never a close.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::error::{DomainError, DomainResult};
use crate::ids::*;
use crate::market::*;
use crate::memory::*;
use crate::money::*;
use crate::paper_venue::PaperVenue;
use crate::ports::*;
use crate::spread::{SpreadAsk, SpreadQuote, SpreadQuotes};
use crate::time::*;

/// Answers every ask with the next scripted answer (the last one again when they run out) and
/// keeps the asks.
struct Scripted {
    answers: Mutex<Vec<DomainResult<SpreadQuote>>>,
    asks: Mutex<Vec<SpreadAsk>>,
}

impl Scripted {
    fn new(answers: Vec<DomainResult<SpreadQuote>>) -> Arc<Self> {
        Arc::new(Self { answers: Mutex::new(answers), asks: Mutex::new(Vec::new()) })
    }
    fn asks(&self) -> Vec<SpreadAsk> {
        self.asks.lock().unwrap().clone()
    }
}

#[async_trait]
impl SpreadQuotes for Scripted {
    async fn spread(&self, ask: &SpreadAsk) -> DomainResult<SpreadQuote> {
        self.asks.lock().unwrap().push(*ask);
        let mut a = self.answers.lock().unwrap();
        if a.len() > 1 { a.remove(0) } else { a[0].clone() }
    }
}

fn p(s: &str) -> Price {
    Price::from_str(s).unwrap()
}

fn trader() -> TraderAddress {
    TraderAddress::from_str("0x1111111111111111111111111111111111111111").unwrap()
}

fn venue(quotes: Option<Arc<Scripted>>) -> (PaperVenue, Arc<FixedPrices>) {
    let clock = Arc::new(ManualClock::new(Timestamp(1_000)));
    let prices = Arc::new(FixedPrices::new());
    prices.set(PairSymbol::parse("BTC").unwrap(), "pyth", p("100000"), Timestamp(1_000)).unwrap();
    let v = PaperVenue::new(Arc::new(crate::tests::catalog()), prices.clone(), clock);
    (
        match quotes {
            Some(q) => v.with_spreads(q),
            None => v,
        },
        prices,
    )
}

fn open(side: Side) -> VenueOrder {
    VenueOrder::Open {
        trader: trader(),
        pair: PairIndex(1),
        side,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(50).unwrap(),
        reference_price: p("100000"),
        slippage: PercentP::from_str("1").unwrap(),
        tp: None,
        sl: None,
    }
}

fn close(trade_index: u32) -> VenueOrder {
    VenueOrder::Close { trader: trader(), pair: PairIndex(1), trade_index, collateral: Usdc::from_str("100").unwrap(), known: None }
}

#[tokio::test]
async fn a_quoted_spread_moves_opens_and_closes_against_the_trader() {
    // 0.075 % quoted (the reference's with-flow example): half is 37.5 on 100 000.
    let q = Scripted::new(vec![Ok(SpreadQuote::Quoted(PercentP::from_raw(750_000_000)))]);
    let (v, _) = venue(Some(q.clone()));
    let long = v.execute(&IntentId::parse("l").unwrap(), &open(Side::Long)).await.unwrap();
    assert_eq!(long.price, p("100037.5"), "a long opens above the oracle price");
    let short = v.execute(&IntentId::parse("s").unwrap(), &open(Side::Short)).await.unwrap();
    assert_eq!(short.price, p("99962.5"), "a short opens below");
    let out = v.execute(&IntentId::parse("lc").unwrap(), &close(long.trade_index)).await.unwrap();
    assert_eq!(out.price, p("99962.5"), "a long closes below");
    assert_eq!(out.venue_ref, "paper:lc");
    let asks = q.asks();
    assert_eq!(asks.len(), 3);
    // 100 × 50 = 5 000 USDC at 100 000 = 0.05 BTC; the leverage rides along.
    assert_eq!(
        (asks[0].coin_size10, asks[0].leverage, asks[0].is_open, asks[0].side),
        (500_000_000, Leverage::from_whole(50).unwrap(), true, Side::Long)
    );
    assert_eq!((asks[2].is_open, asks[2].side, asks[2].trader, asks[2].pair), (false, Side::Long, trader(), PairIndex(1)));
}

#[tokio::test]
async fn without_a_quote_service_the_catalogs_spread_applies() {
    let (v, _) = venue(None);
    let fill = v.execute(&IntentId::parse("c").unwrap(), &open(Side::Short)).await.unwrap();
    assert_eq!(fill.price, p("99995"), "a short sells half the catalog's 0.01 % below");
}

#[tokio::test]
async fn no_spread_refuses_an_open_and_books_nothing() {
    for answer in [
        Ok(SpreadQuote::Unavailable("SPREAD_UNAVAILABLE".into())),
        Ok(SpreadQuote::Blocked("roll window".into())),
        Err(DomainError::Unavailable("risk engine down".into())),
    ] {
        let q = Scripted::new(vec![answer.clone()]);
        let (v, _) = venue(Some(q));
        let err = v.execute(&IntentId::parse("o").unwrap(), &open(Side::Long)).await.unwrap_err();
        assert!(matches!(err, DomainError::Refused(_)), "{answer:?}: {err:?}");
        assert!(err.to_string().contains("would not execute"), "{err}");
        assert!(v.positions(trader()).await.unwrap().is_empty());
        assert_eq!(v.wallet_usdc(trader()).await.unwrap(), Some(crate::paper_venue::DEFAULT_PAPER_EQUITY), "no cash moved");
        assert!(matches!(v.lookup(&IntentId::parse("o").unwrap()).await.unwrap(), Lookup::NotExecuted));
    }
}

#[tokio::test]
async fn no_spread_never_refuses_a_close_which_says_what_it_used() {
    let q = Scripted::new(vec![Ok(SpreadQuote::Quoted(PercentP::ZERO)), Ok(SpreadQuote::Unavailable("SPREAD_UNAVAILABLE".into()))]);
    let (v, _) = venue(Some(q));
    let fill = v.execute(&IntentId::parse("o").unwrap(), &open(Side::Long)).await.unwrap();
    assert_eq!(fill.price, p("100000"), "a zero quote is the venue's answer");
    let out = v.execute(&IntentId::parse("c").unwrap(), &close(fill.trade_index)).await.unwrap();
    assert_eq!(out.price, p("99995"), "closed with the catalog's 0.01 %");
    assert!(out.venue_ref.starts_with("paper:c ("), "{}", out.venue_ref);
    assert!(out.venue_ref.contains("catalog's spread of 0.01%"), "{}", out.venue_ref);
    assert!(v.positions(trader()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_close_without_quote_or_catalog_spread_fills_at_the_oracle_price() {
    let mut btc = crate::tests::catalog().by_index(PairIndex(1)).unwrap().clone();
    btc.spread = PercentP::ZERO;
    let clock = Arc::new(ManualClock::new(Timestamp(1_000)));
    let prices = Arc::new(FixedPrices::new());
    prices.set(PairSymbol::parse("BTC").unwrap(), "pyth", p("100000"), Timestamp(1_000)).unwrap();
    let q = Scripted::new(vec![Ok(SpreadQuote::Quoted(PercentP::ZERO)), Err(DomainError::Unavailable("timeout".into()))]);
    let v = PaperVenue::new(Arc::new(PairCatalog::new([btc]).unwrap()), prices, clock).with_spreads(q);
    let fill = v.execute(&IntentId::parse("o").unwrap(), &open(Side::Short)).await.unwrap();
    let out = v.execute(&IntentId::parse("c").unwrap(), &close(fill.trade_index)).await.unwrap();
    assert_eq!(out.price, p("100000"));
    assert!(out.venue_ref.contains("closed at the oracle price"), "{}", out.venue_ref);
}

#[tokio::test]
async fn a_spread_that_leaves_no_price_refuses_an_open_but_never_a_close() {
    let huge = PercentP::from_str("300").unwrap();
    let q = Scripted::new(vec![Ok(SpreadQuote::Quoted(PercentP::ZERO)), Ok(SpreadQuote::Quoted(huge))]);
    let (v, _) = venue(Some(q));
    let fill = v.execute(&IntentId::parse("o").unwrap(), &open(Side::Long)).await.unwrap();
    let out = v.execute(&IntentId::parse("c").unwrap(), &close(fill.trade_index)).await.unwrap();
    assert_eq!(out.price, p("100000"), "the oracle price, never a refusal");
    let err = v.execute(&IntentId::parse("s").unwrap(), &open(Side::Short)).await.unwrap_err();
    assert!(matches!(err, DomainError::Refused(_)), "{err:?}");
}

// ----- the paper venue's keeper: venue-held TP, SL and liquidation ----------------------------

const AGE: u32 = 30;

fn dev() -> Bps {
    Bps::new(100).unwrap()
}

/// A paper venue with its clock and prices, BTC at 100 000 now.
fn keeper_venue(quotes: Option<Arc<Scripted>>) -> (PaperVenue, Arc<FixedPrices>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(1_795_852_800_000)));
    let prices = Arc::new(FixedPrices::new());
    prices.set(PairSymbol::parse("BTC").unwrap(), "pyth", p("100000"), clock.now()).unwrap();
    let v = PaperVenue::new(Arc::new(crate::tests::catalog()), prices.clone(), clock.clone());
    (
        match quotes {
            Some(q) => v.with_spreads(q),
            None => v,
        },
        prices,
        clock,
    )
}

fn open_with(side: Side, leverage: u64, tp: Option<&str>, sl: Option<&str>) -> VenueOrder {
    VenueOrder::Open {
        trader: trader(),
        pair: PairIndex(1),
        side,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(leverage).unwrap(),
        reference_price: p("100000"),
        slippage: PercentP::from_str("1").unwrap(),
        tp: tp.map(p),
        sl: sl.map(p),
    }
}

#[tokio::test]
async fn the_keeper_closes_a_crossed_take_profit_once_with_the_venues_spread_and_fee() {
    // 0.075 % quoted: half is 37.5 on 100 000.
    let q = Scripted::new(vec![Ok(SpreadQuote::Quoted(PercentP::from_raw(750_000_000)))]);
    let (v, prices, clock) = keeper_venue(Some(q));
    let opened = v.execute(&IntentId::parse("o").unwrap(), &open_with(Side::Long, 5, Some("102000"), Some("98000"))).await.unwrap();
    let held = v.positions(trader()).await.unwrap();
    assert_eq!((held[0].tp, held[0].sl), (Some(p("102000")), Some(p("98000"))), "the book holds the TP and SL");
    assert!(v.run_triggers(trader(), AGE, dev()).await.unwrap().is_empty(), "not crossed");
    clock.advance(std::time::Duration::from_secs(60));
    prices.set(PairSymbol::parse("BTC").unwrap(), "pyth", p("102100"), clock.now()).unwrap();
    let closed = v.run_triggers(trader(), AGE, dev()).await.unwrap();
    assert_eq!(closed.len(), 1);
    let c = &closed[0];
    assert_eq!(c.reason, crate::recon::CloseReason::TakeProfit);
    assert_eq!((c.pair, c.trade_index, c.side, c.open_time), (PairIndex(1), opened.trade_index, Side::Long, opened.open_time));
    assert_eq!(c.price, p("102061.7125"), "at the mark less half the quoted spread (0.0375 % of 102 100)");
    assert_eq!((c.collateral, c.remaining), (Usdc::from_str("100").unwrap(), Usdc::ZERO));
    // The close fee is the catalog's on the notional (0.045 % × $500).
    assert_eq!(c.fee, Usdc::from_str("0.225").unwrap());
    let gross = crate::position::pnl(Side::Long, c.collateral, Leverage::from_whole(5).unwrap(), opened.price, c.price).unwrap();
    assert_eq!(c.net_pnl, gross.checked_sub(SignedUsdc::from_usdc(c.fee).unwrap()).unwrap());
    assert_eq!(c.at, clock.now());
    // The book: the trade is gone, its collateral back with the net PnL.
    assert!(v.positions(trader()).await.unwrap().is_empty());
    let cash = v.wallet_usdc(trader()).await.unwrap().unwrap();
    let start = i128::from(crate::paper_venue::DEFAULT_PAPER_EQUITY.raw());
    assert_eq!(i128::from(cash.raw()), start - i128::from(opened.fee.raw()) + i128::from(c.net_pnl.raw()));
    // In the history, once, however often the keeper runs.
    assert!(v.run_triggers(trader(), AGE, dev()).await.unwrap().is_empty(), "a second run closes nothing");
    let h = v.history(trader(), None).await.unwrap().unwrap();
    assert_eq!(h.closes, closed);
    assert!(v.history(trader(), Some(clock.now().plus(std::time::Duration::from_secs(1)))).await.unwrap().unwrap().closes.is_empty());
    assert_eq!(v.wallet_usdc(trader()).await.unwrap().unwrap(), cash);
}

#[tokio::test]
async fn the_keeper_fires_stops_and_liquidations_and_nothing_at_a_stale_price() {
    let (v, prices, clock) = keeper_venue(None);
    v.execute(&IntentId::parse("s").unwrap(), &open_with(Side::Short, 5, None, Some("101000"))).await.unwrap();
    v.execute(&IntentId::parse("l").unwrap(), &open_with(Side::Long, 50, None, None)).await.unwrap();
    // The stop moved by an update is the level the keeper fires on.
    let update =
        VenueOrder::UpdateTpSl { trader: trader(), pair: PairIndex(1), trade_index: 0, tp: None, sl: Some(p("102000")), known: None };
    v.execute(&IntentId::parse("u").unwrap(), &update).await.unwrap();
    // A stale price past every level fires nothing.
    clock.advance(std::time::Duration::from_secs(120));
    prices.set(PairSymbol::parse("BTC").unwrap(), "pyth", p("103000"), clock.now().minus(std::time::Duration::from_secs(120))).unwrap();
    assert!(v.run_triggers(trader(), AGE, dev()).await.unwrap().is_empty(), "stale");
    assert_eq!(v.positions(trader()).await.unwrap().len(), 2);
    // Nor does a missing one.
    let empty = PaperVenue::new(Arc::new(crate::tests::catalog()), Arc::new(FixedPrices::new()), clock.clone());
    assert!(empty.run_triggers(trader(), AGE, dev()).await.unwrap().is_empty());
    // Between the old stop and the new: nothing.
    prices.set(PairSymbol::parse("BTC").unwrap(), "pyth", p("101500"), clock.now()).unwrap();
    assert!(v.run_triggers(trader(), AGE, dev()).await.unwrap().is_empty(), "the stop was moved to 102 000");
    // Through it: the short's stop (the 50x long is up, far from its liquidation).
    prices.set(PairSymbol::parse("BTC").unwrap(), "pyth", p("102500"), clock.now()).unwrap();
    let closed = v.run_triggers(trader(), AGE, dev()).await.unwrap();
    assert_eq!(closed.iter().map(|c| c.reason).collect::<Vec<_>>(), [crate::recon::CloseReason::StopLoss]);
    assert!(closed[0].net_pnl.is_negative());
    // 3 % down at 50x: past the long's liquidation (85 % of its collateral lost near 98 300),
    // a loss of 150 % before the floor.
    prices.set(PairSymbol::parse("BTC").unwrap(), "pyth", p("97000"), clock.now()).unwrap();
    let closed = v.run_triggers(trader(), AGE, dev()).await.unwrap();
    assert_eq!(closed.iter().map(|c| c.reason).collect::<Vec<_>>(), [crate::recon::CloseReason::Liquidation]);
    assert_eq!(closed[0].net_pnl, SignedUsdc::from_raw(-100_000_000), "a loss never beyond the collateral");
    assert!(v.positions(trader()).await.unwrap().is_empty());
    assert_eq!(v.history(trader(), None).await.unwrap().unwrap().closes.len(), 2);
}
