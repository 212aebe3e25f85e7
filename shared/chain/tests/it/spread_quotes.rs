//! The venue's spread quote over HTTP: [`RiskSpreads`] against the fake's risk engine
//! (`POST /risk/v2/spread`), and the paper venue filling with it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use vanta_chain::avantis::spread::RiskSpreads;
use vanta_chain::avantis::{AvantisClient, AvantisConfig};
use vanta_domain::error::DomainError;
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::{PairIndex, Side};
use vanta_domain::memory::FixedPrices;
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::paper_venue::PaperVenue;
use vanta_domain::ports::{Venue, VenueOrder};
use vanta_domain::spread::{SpreadAsk, SpreadQuote, SpreadQuotes};
use vanta_domain::time::{ManualClock, Timestamp};
use vanta_testkit::fake_avantis::{Endpoint, FAKE_CHAIN_ID, FakeAvantis, FakeFailure, FakeSpread};

fn trader() -> TraderAddress {
    TraderAddress::from_str("0xfd4509a4e64b178ca938faa65a3b6690213d8cb4").unwrap()
}

fn ask(pair: u16, side: Side, is_open: bool) -> SpreadAsk {
    SpreadAsk { pair: PairIndex(pair), trader: trader(), side, is_open, coin_size10: 0, leverage: Leverage::from_whole(25).unwrap() }
        .sized(Usdc::from_str("100").unwrap(), Price::from_str("3000").unwrap())
}

#[tokio::test]
async fn the_quote_request_carries_the_sdk_fields_and_the_answer_is_read_as_the_sdk_reads_it() {
    let fake = FakeAvantis::start().await.unwrap();
    let risk = RiskSpreads::new(&fake.urls().risk_v2, Duration::from_secs(2)).unwrap();
    assert_eq!(risk.spread(&ask(0, Side::Long, true)).await.unwrap(), SpreadQuote::Quoted(PercentP::from_raw(750_000_000)), "with flow");
    let sent = fake.requests().into_iter().find(|r| r.endpoint == Some(Endpoint::Spread)).unwrap();
    // 100 × 25 = 2 500 USDC at 3 000 = 0.8333333333 ETH.
    assert_eq!(
        sent.body.unwrap(),
        json!({"pairIndex": 0, "trader": "0xfd4509A4E64b178ca938fAa65a3B6690213d8cb4", "coinSize10": "8333333333",
               "isLong": true, "isOpen": true, "orderType": 0, "leverage10": "250000000000"})
    );
    fake.set_spread(1, FakeSpread::Quote { without_flow10: 400_000_000, with_flow10: None });
    assert_eq!(
        risk.spread(&ask(1, Side::Short, false)).await.unwrap(),
        SpreadQuote::Quoted(PercentP::from_raw(400_000_000)),
        "without flow"
    );
    fake.set_spread(1, FakeSpread::Blocked);
    assert!(matches!(risk.spread(&ask(1, Side::Short, true)).await.unwrap(), SpreadQuote::Blocked(w) if w.contains("SPREAD_BLOCKED")));
    fake.set_spread(1, FakeSpread::Unavailable);
    assert!(
        matches!(risk.spread(&ask(1, Side::Short, true)).await.unwrap(), SpreadQuote::Unavailable(w) if w.contains("SPREAD_UNAVAILABLE"))
    );
    fake.fail_next(Endpoint::Spread, 1, FakeFailure::new(502, "UPSTREAM_ERROR", "engine down"));
    assert!(matches!(risk.spread(&ask(0, Side::Long, true)).await, Err(DomainError::Unavailable(_))));
    // Nothing listens: an error, never a quote.
    let nowhere = RiskSpreads::new("http://127.0.0.1:9/risk/v2", Duration::from_millis(300)).unwrap();
    assert!(nowhere.spread(&ask(0, Side::Long, true)).await.is_err());
    assert!(RiskSpreads::new("ftp://x", Duration::from_secs(1)).is_err());
}

#[tokio::test]
async fn paper_fills_take_the_quoted_spread_and_a_close_survives_a_missing_one() {
    let fake = FakeAvantis::start().await.unwrap();
    let u = fake.urls();
    let client = AvantisClient::new(AvantisConfig::new(u.tx_builder, u.batched_market, u.core, u.data, FAKE_CHAIN_ID)).unwrap();
    let catalog = client.pairs().await.unwrap();
    let eth = catalog.by_index(PairIndex(0)).unwrap().clone();
    let prices = Arc::new(FixedPrices::new());
    prices.set(eth.symbol.clone(), "pyth", Price::from_str("3000").unwrap(), Timestamp(1_000)).unwrap();
    let risk = Arc::new(RiskSpreads::new(&u.risk_v2, Duration::from_secs(2)).unwrap());
    let venue = PaperVenue::new(catalog, prices, Arc::new(ManualClock::new(Timestamp(1_000)))).with_spreads(risk);
    let open = VenueOrder::Open {
        trader: trader(),
        pair: PairIndex(0),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(25).unwrap(),
        reference_price: Price::from_str("3000").unwrap(),
        slippage: PercentP::from_str("1").unwrap(),
        tp: None,
        sl: None,
    };
    let fill = venue.execute(&IntentId::parse("o1").unwrap(), &open).await.unwrap();
    // Half of the quoted 0.075 % above 3 000.
    assert_eq!(fill.price, Price::from_str("3001.125").unwrap());
    fake.set_spread(0, FakeSpread::Unavailable);
    let refused = venue.execute(&IntentId::parse("o2").unwrap(), &open).await.unwrap_err();
    assert!(matches!(&refused, DomainError::Refused(w) if w.contains("SPREAD_UNAVAILABLE")), "{refused:?}");
    let close =
        VenueOrder::Close { trader: trader(), pair: PairIndex(0), trade_index: fill.trade_index, collateral: fill.collateral, known: None };
    let out = venue.execute(&IntentId::parse("c1").unwrap(), &close).await.unwrap();
    let catalog_fill = vanta_domain::spread::spread_price(Price::from_str("3000").unwrap(), eth.spread, false).unwrap();
    assert_eq!(out.price, catalog_fill, "the close fills with the catalog's spread");
    assert!(out.venue_ref.contains("catalog's spread"), "{}", out.venue_ref);
    assert!(venue.positions(trader()).await.unwrap().is_empty());
}
