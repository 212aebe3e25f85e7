//! The venue's own price (`GET {feed}/v2/pairs/{i}/price-update-data`) cross-checks the
//! oracles, on the fake server: while they agree an open passes and the TP/SL executor gets a
//! mark; when the venue's price is further off than the tolerance the open is refused and no
//! trigger mark exists; when the feed cannot be read there is no quote at all (no new exposure,
//! no trigger).

use std::sync::Arc;

use vanta_chain::avantis::catalog_from_trading_snapshot;
use vanta_chain::venue_feed::{VenueFeedPrices, venue_checked};
use vanta_domain::exec::{EffectiveExec, ExecMode, StopLevel};
use vanta_domain::intent::OpenOrder;
use vanta_domain::market::{PairSymbol, Side};
use vanta_domain::memory::FixedPrices;
use vanta_domain::money::{Leverage, Price};
use vanta_domain::ports::Prices;
use vanta_domain::risk::{OperatorLimits, RiskPolicy};
use vanta_domain::risk_engine::{Exposure, Refusal, RiskInput, check_open_with, reference_price};
use vanta_domain::time::Timestamp;
use vanta_testkit::fake_avantis::{Endpoint, FakeAvantis, FakeFailure, default_snapshot};

fn now() -> Timestamp {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    Timestamp(i64::try_from(ms).unwrap())
}

#[tokio::test]
async fn the_venues_price_must_agree_with_the_oracles_before_anything_trades() {
    let fake = FakeAvantis::start().await.unwrap();
    let catalog = catalog_from_trading_snapshot(&default_snapshot()).unwrap();
    let eth = PairSymbol::parse("ETH/USD").unwrap();
    let index = catalog.resolve("ETH/USD").unwrap().index;
    let pair = catalog.resolve("ETH/USD").unwrap().clone();

    // The venue's feed alone: its price and publish time, read from the fake's answer.
    let venue = VenueFeedPrices::new(&fake.urls().feed, &catalog).unwrap();
    let q = venue.quotes(&eth).await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].source.as_str(), q[0].price), ("veranta", Price::from_raw(fake.price(index.0).unwrap())));
    assert!(now().since(q[0].published_at) < 5_000, "a fresh quote");

    // The oracles say 3000.5 (within 50 bps of the venue's 3000).
    let oracles = Arc::new(FixedPrices::new());
    oracles.set(eth.clone(), "pyth", "3000.5".parse().unwrap(), now()).unwrap();
    let prices = venue_checked(oracles.clone(), &fake.urls().feed, &catalog).unwrap();

    let ops = OperatorLimits::default();
    let policy = RiskPolicy::default();
    let exposure = Exposure::default();
    let exec = EffectiveExec { mode: ExecMode::Live, stop: StopLevel::None, why: None };
    let order = OpenOrder {
        pair: eth.clone(),
        side: Side::Long,
        collateral: "100".parse().unwrap(),
        leverage: Leverage::from_whole(2).unwrap(),
        tp: None,
        sl: None,
        slippage: None,
    };
    let open = |quotes: &[vanta_domain::ports::PriceQuote]| {
        check_open_with(
            &RiskInput {
                order: &order,
                pair: &pair,
                policy: &policy,
                ops: &ops,
                exposure: &exposure,
                quotes,
                now: now(),
                exec: &exec,
                automated: false,
            },
            catalog.fees(index),
        )
    };
    // The TP/SL executor's mark comes from the same rule (`schedule::mark_price`).
    let mark =
        |quotes: &[vanta_domain::ports::PriceQuote]| reference_price(&eth, quotes, now(), ops.max_price_age_secs, ops.max_price_deviation);

    let quotes = prices.quotes(&eth).await.unwrap();
    assert_eq!(quotes.iter().map(|q| q.source.as_str()).collect::<Vec<_>>(), ["pyth", "veranta"]);
    let a = open(&quotes).expect("agreeing prices: the open passes");
    assert_eq!(a.reference_price, "3000.25".parse().unwrap(), "between the oracle and the venue");
    assert!(mark(&quotes).is_ok());

    // The venue moves 1 % away from the oracles: no open, no trigger mark.
    fake.set_price(index.0, 30_300_000_000_000);
    let quotes = prices.quotes(&eth).await.unwrap();
    match open(&quotes) {
        Err(Refusal::PricesDisagree { high_source, low_source, .. }) => {
            assert_eq!((low_source.as_str(), high_source.as_str()), ("pyth", "veranta"));
        }
        other => panic!("expected the disagreement to refuse the open, got {other:?}"),
    }
    assert!(matches!(mark(&quotes), Err(Refusal::PricesDisagree { .. })));

    // The feed fails: no quote at all, whatever the oracles say (fail closed).
    fake.set_price(index.0, 30_000_000_000_000);
    fake.fail_next(Endpoint::PriceUpdateData, 1, FakeFailure::new(503, "UNAVAILABLE", "feed down"));
    let err = prices.quotes(&eth).await.unwrap_err().to_string();
    assert!(err.contains("cannot be read") && err.contains("no new positions"), "{err}");
    // A pair the feed has no price for (404) is unreadable too. SOL/USD is listed in the stored
    // snapshot and in the fake's built-in one, so the feed is asked (and its 404 used up) either way.
    let unknown = PairSymbol::parse("SOL/USD").unwrap();
    oracles.set(unknown.clone(), "pyth", "0.1".parse().unwrap(), now()).unwrap();
    fake.fail_next(Endpoint::PriceUpdateData, 1, FakeFailure::new(404, "NOT_FOUND", "no price for pair"));
    assert!(prices.quotes(&unknown).await.is_err());
    // Back up: trading resumes.
    let quotes = prices.quotes(&eth).await.unwrap();
    assert!(open(&quotes).is_ok());
    assert!(fake.count(Endpoint::PriceUpdateData) >= 5);
}
