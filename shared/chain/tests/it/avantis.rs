//! The Avantis v2 client and venue against the fake Avantis server (vanta-testkit).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, address, b256};
use serde_json::{Value, json};
use vanta_chain::avantis::{AvantisClient, AvantisVenue, catalog_from_trading_snapshot, verify_payload};
use vanta_chain::eip712::{AvantisDomain, IntentKind};
use vanta_chain::signer::LocalKeySigner;
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::ids::TraderAddress;
use vanta_domain::market::{PairIndex, Side};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{Lookup, Signer, Venue, VenueFill, VenueOrder};
use vanta_domain::time::{Clock, ManualClock, SystemClock};
use vanta_testkit::fake_avantis::{Endpoint, FAKE_CHAIN_ID, FAKE_TRADING_ROUTER, FakeAvantis, FakeFailure, FakeOutcome, Stall, StreamCut};

use crate::support::{CountingSigner, iid, relayer_config};

/// The address of anvil's first dev key (`CountingSigner::dev`; a public test value).
const DEV_ADDRESS: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
/// Golden domain separator for chain 31337 and router 0x5FbD…0aa3 (reference §4.2).
const GOLDEN_SEPARATOR: B256 = b256!("fb572dd00c3ff4fce2cb295d37ec01aa4f6f957bb3f49c37e775801257939a46");

struct Setup {
    fake: FakeAvantis,
    venue: AvantisVenue,
    signer: Arc<CountingSigner>,
}

async fn setup() -> Setup {
    let fake = FakeAvantis::start().await.unwrap();
    let signer = CountingSigner::dev();
    let venue = AvantisVenue::from_config(relayer_config(&fake), signer.clone()).unwrap();
    Setup { fake, venue, signer }
}

fn trader() -> TraderAddress {
    TraderAddress::new(DEV_ADDRESS).unwrap()
}

fn open_order(trader: TraderAddress, pair: u16, collateral: &str) -> VenueOrder {
    VenueOrder::Open {
        trader,
        pair: PairIndex(pair),
        side: Side::Long,
        collateral: Usdc::from_str(collateral).unwrap(),
        leverage: Leverage::from_whole(10).unwrap(),
        // Near the fake feed's price of the pair: the EIP-7702 leg's calldata is built at the
        // feed's price and must lie within the order's slippage of the reference.
        reference_price: Price::from_str(match pair {
            1 => "60000",
            2 => "150",
            _ => "3000.5",
        })
        .unwrap(),
        slippage: PercentP::from_str("1").unwrap(),
        tp: None,
        sl: Some(
            Price::from_str(match pair {
                1 => "50000",
                2 => "120",
                _ => "2500",
            })
            .unwrap(),
        ),
    }
}

async fn open_eth(s: &Setup, id: &str) -> DomainResult<VenueFill> {
    s.venue.execute(&iid(id), &open_order(trader(), 0, "100")).await
}

/// The reference data (`../shared/avantis`, or `$VANTA_SHARED_DIR/avantis`); the tests that read
/// it are ignored when the build script did not find it.
fn reference_dir() -> &'static Path {
    Path::new(env!("VANTA_SHARED_AVANTIS"))
}

// -------------------------------------------------------------------------------------------
// Bootstrap
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn meta_bootstrap_gives_the_domain_and_the_catalog() {
    let s = setup().await;
    let client = s.venue.client();
    let meta = client.meta().await.unwrap();
    assert_eq!(meta.chain_id, FAKE_CHAIN_ID);
    assert_eq!(meta.trading_router, FAKE_TRADING_ROUTER);
    assert_eq!(meta.trading_domain.separator(), GOLDEN_SEPARATOR);
    assert!(meta.referral_domain.is_some());

    let pairs = s.venue.pairs().await.unwrap();
    assert_eq!(pairs.resolve("ETH").unwrap().index, PairIndex(0));
    assert_eq!(pairs.resolve("BTC/USD").unwrap().index, PairIndex(1));
    assert_eq!(pairs.resolve("sol-usd").unwrap().index, PairIndex(2));
    let eth = pairs.by_index(PairIndex(0)).unwrap();
    assert!(eth.listed && !eth.close_only);
    assert_eq!(eth.open_fee, PercentP::from_raw(450_000_000)); // 0.045 % exactly
    assert_eq!(eth.spread, PercentP::from_raw(100_000_000)); // 0.01 %
    assert_eq!(eth.min_position, Usdc::from_str("100").unwrap());
    assert_eq!(eth.max_leverage, Leverage::from_whole(75).unwrap());
    assert_eq!(eth.max_gain, PercentP::from_str("2500").unwrap());
    assert_eq!(s.fake.count(Endpoint::Meta), 1);
    assert_eq!(s.fake.count(Endpoint::Trading), 1);
    assert_eq!(s.fake.count(Endpoint::Pairs), 1, "symbols are cross-checked with the tx-builder listing");
    let feeds = client.price_feeds().await.unwrap();
    let eth_feed = &feeds[&vanta_domain::market::PairSymbol::parse("ETH/USD").unwrap()];
    assert!(eth_feed.starts_with("0x") && eth_feed.len() == 66, "{eth_feed}");
    assert_eq!(s.fake.count(Endpoint::Trading), 1, "feeds come from the cached snapshot");
}

/// The stored real snapshot: every named slot is in the catalog, read directly and served.
#[tokio::test]
#[cfg_attr(not(vanta_shared), ignore = "../shared/avantis is not present")]
async fn the_stored_snapshot_gives_every_named_slot() {
    let text = std::fs::read_to_string(reference_dir().join("vectors/trading_snapshot.json")).unwrap();
    let catalog = catalog_from_trading_snapshot(&text).unwrap();
    assert_eq!(catalog.len(), 110, "112 slots minus two empty ones");
    assert!(!catalog.resolve("USD/KRW").unwrap().listed);
    let fake = FakeAvantis::start_with_snapshot(text).await.unwrap();
    let venue = AvantisVenue::from_config(relayer_config(&fake), CountingSigner::dev()).unwrap();
    assert_eq!(venue.pairs().await.unwrap().len(), 110);
}

#[tokio::test]
async fn the_built_in_stand_in_catalog_works_too() {
    let fake = FakeAvantis::start_with_snapshot(vanta_testkit::fake_avantis::builtin_snapshot().to_owned()).await.unwrap();
    let signer = CountingSigner::dev();
    let venue = AvantisVenue::from_config(relayer_config(&fake), signer).unwrap();
    let pairs = venue.pairs().await.unwrap();
    assert_eq!(pairs.len(), 3);
    assert_eq!(pairs.resolve("ETH").unwrap().index, PairIndex(0));
    assert_eq!(pairs.resolve("BTC").unwrap().index, PairIndex(1));
    assert_eq!(pairs.resolve("SOL").unwrap().index, PairIndex(2));
    let fill = venue.execute(&iid("builtin"), &open_order(trader(), 1, "100")).await.unwrap();
    assert_eq!(fill.pair, PairIndex(1));
}

#[tokio::test]
async fn a_foreign_chain_id_is_refused_and_nothing_is_signed() {
    let s = setup().await;
    s.fake.set_chain_id(8453);
    let err = s.venue.client().meta().await.unwrap_err();
    assert!(matches!(&err, DomainError::Internal(m) if m.contains("refusing to sign")), "{err:?}");
    let err = open_eth(&s, "chain-1").await.unwrap_err();
    assert!(matches!(err, DomainError::Internal(_)), "{err:?}");
    assert_eq!(s.signer.calls(), 0);
    assert_eq!(s.fake.submissions(), 0);
}

/// Intent-builder payloads assembled from the golden files (`vectors.json`, `eip712_types.json`,
/// `intent_encoding_reference.json`) verify; tampered ones do not.
#[test]
#[cfg_attr(not(vanta_shared), ignore = "../shared/avantis is not present")]
fn golden_payloads_verify_and_tampered_ones_do_not() {
    let dir = reference_dir();
    let read = |rel: &str| std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let (vectors, types, encodings) =
        (read("vectors/vectors.json"), read("eip712_types.json"), read("vectors/intent_encoding_reference.json"));
    let vectors: Value = serde_json::from_str(&vectors).unwrap();
    let types: Value = serde_json::from_str(&types).unwrap();
    let encodings: Value = serde_json::from_str(&encodings).unwrap();
    let d = &vectors["domain"];
    let domain = AvantisDomain::new(
        d["name"].as_str().unwrap(),
        d["version"].as_str().unwrap(),
        d["chainId"].as_u64().unwrap(),
        d["verifyingContract"].as_str().unwrap().parse().unwrap(),
    );
    let mut checked = 0;
    for v in vectors["vectors"].as_array().unwrap() {
        let name = v["kind"].as_str().unwrap();
        let kind: IntentKind = name.parse().unwrap();
        let mut payload = json!({
            "intent": name, "signerRule": "trader-or-delegate", "domain": d, "primaryType": name,
            "types": types["types"][name], "message": v["message"], "digest": v["digest"],
        });
        if let Some(enc) = encodings.get(name) {
            payload["encodedIntent"] = enc.clone();
        }
        let ok = verify_payload(&payload.to_string(), kind, &domain).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(format!("{:#x}", ok.digest), v["digest"].as_str().unwrap().to_lowercase());
        checked += 1;

        // The wrong kind, a foreign domain, drifted types, a changed message: all refused.
        let other = if kind == IntentKind::OpenTradeReq { IntentKind::CloseTradeReq } else { IntentKind::OpenTradeReq };
        assert!(verify_payload(&payload.to_string(), other, &domain).is_err());
        let foreign = AvantisDomain::new(domain.name.clone(), domain.version.clone(), 8453, domain.verifying_contract);
        assert!(verify_payload(&payload.to_string(), kind, &foreign).is_err(), "{name}: chain id");
        let mut drift = payload.clone();
        let first = drift["types"][name][0]["name"].as_str().unwrap().to_owned();
        drift["types"][name][0]["name"] = Value::String(format!("{first}X"));
        assert!(verify_payload(&drift.to_string(), kind, &domain).unwrap_err().to_string().contains("type drift"), "{name}");
        let mut digest = v["digest"].as_str().unwrap().to_owned();
        let last = if digest.ends_with('0') { "1" } else { "0" };
        digest.replace_range(digest.len() - 1.., last);
        payload["digest"] = Value::String(digest);
        assert!(verify_payload(&payload.to_string(), kind, &domain).unwrap_err().to_string().contains("digest mismatch"), "{name}");
    }
    assert_eq!(checked, 17);
}

// -------------------------------------------------------------------------------------------
// Market orders
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn market_open_executes_and_the_position_is_visible() {
    let s = setup().await;
    let fill = open_eth(&s, "open-1").await.unwrap();
    assert_eq!(fill.pair, PairIndex(0));
    assert_eq!(fill.trade_index, 0);
    assert_eq!(fill.side, Side::Long);
    assert_eq!(fill.price, Price::from_str("3000.5").unwrap());
    // 1000 USDC notional × 0.045 % = 0.45 USDC open fee, taken from the collateral.
    assert_eq!(fill.fee, Usdc::from_str("0.45").unwrap());
    assert_eq!(fill.collateral, Usdc::from_str("99.55").unwrap());
    assert_eq!(fill.leverage, Leverage::from_whole(10).unwrap());
    assert_eq!(s.signer.calls(), 3, "the intent, the leg's smart-account call and its authorisation");
    assert_eq!(s.fake.submissions(), 1);

    // The stream carried accepted → initiated → executed; the replay has all of it.
    let tracking = fill.venue_ref.strip_prefix("avantis:").unwrap();
    let status = s.venue.client().tracking_status(tracking, None).await.unwrap();
    let kinds: Vec<&str> = status.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["MarketOrderAccepted", "MarketOrderInitiated", "MarketOrderExecuted"]);
    let after = s.venue.client().tracking_status(tracking, Some(1)).await.unwrap();
    assert_eq!(after.events.len(), 1);

    let positions = s.venue.positions(trader()).await.unwrap();
    assert_eq!(positions.len(), 1);
    let p = &positions[0];
    assert_eq!((p.pair, p.trade_index, p.side), (PairIndex(0), 0, Side::Long));
    assert_eq!(p.collateral, Usdc::from_str("99.55").unwrap());
    assert_eq!(p.sl, Some(Price::from_str("2500").unwrap()));
    // Opened without a TP: the venue always holds one, the max-gain cap (open + open × 2500 % / 10),
    // which is the venue's default and not shown as the user's TP.
    assert_eq!(p.tp, None, "the max-gain cap is not the user's TP");
    let raw = s.venue.client().trader_positions(trader()).await.unwrap();
    assert_eq!(raw[0].tp, Price::from_str("10501.75").unwrap(), "the venue holds the cap");
    let onchain = s.venue.client().onchain_positions(trader()).await.unwrap();
    assert_eq!(onchain.len(), 1);
    assert_eq!(onchain[0].collateral, Usdc::from_str("99.55").unwrap());

    // Equity: wallet USDC plus collateral in positions.
    s.fake.set_balance(DEV_ADDRESS, 900_000_000);
    assert_eq!(s.venue.equity(trader()).await.unwrap(), Some(Usdc::from_str("999.55").unwrap()));

    // A second open on the same pair takes the next index.
    let second = open_eth(&s, "open-2").await.unwrap();
    assert_eq!(second.trade_index, 1);

    // Global TP/SL update through the core API.
    let tp = Price::from_str("3500").unwrap();
    let upd = VenueOrder::UpdateTpSl { trader: trader(), pair: PairIndex(0), trade_index: 0, tp: Some(tp), sl: None, known: None };
    let f = s.venue.execute(&iid("tpsl-1"), &upd).await.unwrap();
    assert!(f.venue_ref.contains("global-tp-"), "{}", f.venue_ref);
    let p = s.venue.positions(trader()).await.unwrap().into_iter().find(|p| p.trade_index == 0).unwrap();
    assert_eq!((p.tp, p.sl), (Some(tp), Some(Price::from_str("2500").unwrap())), "the live stop loss is kept");
    assert_eq!(s.fake.count(Endpoint::PriceTriggerPut), 1);

    // Full close of trade 0.
    let close = VenueOrder::Close {
        trader: trader(),
        pair: PairIndex(0),
        trade_index: 0,
        collateral: Usdc::from_str("1000").unwrap(),
        known: None,
    };
    let f = s.venue.execute(&iid("close-1"), &close).await.unwrap();
    assert_eq!(f.collateral, Usdc::from_str("99.55").unwrap());
    assert_eq!(f.trade_index, 0);
    let left = s.venue.positions(trader()).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].trade_index, 1);
    assert_eq!(s.fake.submissions(), 3);
}

#[tokio::test]
async fn a_mismatching_api_digest_signs_nothing() {
    let s = setup().await;
    s.fake.set_wrong_digest(true);
    let err = open_eth(&s, "digest-1").await.unwrap_err();
    match &err {
        DomainError::Internal(m) => assert!(m.contains("digest mismatch") && m.contains("refusing to sign"), "{m}"),
        other => panic!("expected a digest-mismatch error, got {other:?}"),
    }
    assert_eq!(s.signer.calls(), 0, "nothing may be signed");
    assert_eq!(s.fake.submissions(), 0, "nothing may be submitted");
    assert_eq!(s.fake.count(Endpoint::IntentOpen), 1, "a digest mismatch is not retried");

    // The same through the client's building blocks.
    let err = s.venue.client().offchain_cancel_intent("665f1c2ab7a1b2c3d4e5f601").await.unwrap_err();
    assert!(matches!(&err, DomainError::Internal(m) if m.contains("digest mismatch")), "{err:?}");
    assert_eq!(s.signer.calls(), 0);

    s.fake.set_wrong_digest(false);
    open_eth(&s, "digest-2").await.unwrap();
    assert_eq!(s.signer.calls(), 3, "the intent, the leg's smart-account call and its authorisation");
}

#[tokio::test]
async fn a_relay_timeout_after_the_fill_reconciles_without_resubmitting() {
    let s = setup().await;
    s.fake.stall_next_submission(Stall::FillThenStall(Duration::from_secs(3)));
    let fill = open_eth(&s, "stall-fill").await.unwrap();
    assert_eq!(fill.pair, PairIndex(0));
    assert_eq!(fill.trade_index, 0);
    assert_eq!(fill.price, Price::from_str("3000.5").unwrap());
    assert_eq!(fill.collateral, Usdc::from_str("99.55").unwrap());
    assert_eq!(s.fake.submissions(), 1, "the order filled: no second submission");
    assert_eq!(s.fake.positions(DEV_ADDRESS).len(), 1);
    assert_eq!(s.signer.calls(), 3, "the intent, the leg's smart-account call and its authorisation");
}

#[tokio::test]
async fn a_relay_timeout_before_the_book_resubmits_exactly_once() {
    let s = setup().await;
    s.fake.stall_next_submission(Stall::LoseThenStall(Duration::from_secs(2)));
    let fill = open_eth(&s, "stall-lost").await.unwrap();
    assert_eq!(fill.trade_index, 0);
    assert_eq!(s.fake.submissions(), 2, "one resubmission");
    assert_eq!(s.fake.positions(DEV_ADDRESS).len(), 1, "one fill");
    assert!(s.fake.count(Endpoint::Nonce) >= 1, "the nonce was checked before resubmitting");
    assert_eq!(s.signer.calls(), 3, "the same signed order (intent and leg) was resubmitted, not a new one");
    // Both submissions carried the identical signed payload.
    let bodies: Vec<_> = s.fake.requests().into_iter().filter(|r| r.endpoint == Some(Endpoint::ExecuteBatched)).map(|r| r.body).collect();
    assert_eq!(bodies[0], bodies[1]);
}

#[tokio::test]
async fn two_lost_submissions_end_ambiguous_after_one_resubmission() {
    let s = setup().await;
    s.fake.stall_next_submission(Stall::LoseThenStall(Duration::from_secs(2)));
    s.fake.stall_next_submission(Stall::LoseThenStall(Duration::from_secs(2)));
    let err = open_eth(&s, "stall-twice").await.unwrap_err();
    assert!(matches!(err, DomainError::Ambiguous(_)), "{err:?}");
    assert_eq!(s.fake.submissions(), 2, "never more than one resubmission");
    assert!(s.fake.positions(DEV_ADDRESS).is_empty());
}

#[tokio::test]
async fn a_dropped_stream_is_completed_by_replay() {
    let s = setup().await;
    s.fake.drop_stream_after_accept(1);
    let fill = open_eth(&s, "dropped").await.unwrap();
    assert_eq!(fill.trade_index, 0);
    assert_eq!(fill.collateral, Usdc::from_str("99.55").unwrap());
    assert!(fill.venue_ref.starts_with("avantis:trk-"), "{}", fill.venue_ref);
    assert_eq!(s.fake.submissions(), 1);
    let polls: Vec<_> = s.fake.requests().into_iter().filter(|r| r.endpoint == Some(Endpoint::Status)).collect();
    assert!(!polls.is_empty(), "the replay was used");
    assert_eq!(polls[0].query, "afterSeq=0", "replay starts after the last seen event");
    assert_eq!(s.fake.positions(DEV_ADDRESS).len(), 1);
}

#[tokio::test]
async fn a_stream_timeout_or_an_early_end_switches_to_replay() {
    let s = setup().await;
    s.fake.cut_stream_after_accept(StreamCut::StreamTimeout);
    s.fake.push_outcome(FakeOutcome::ExecuteAfterRetry);
    let first = open_eth(&s, "st-1").await.unwrap();
    assert_eq!(first.trade_index, 0);
    s.fake.cut_stream_after_accept(StreamCut::EndWithoutTerminal);
    let second = open_eth(&s, "st-2").await.unwrap();
    assert_eq!(second.trade_index, 1);
    assert_eq!(s.fake.submissions(), 2);
    assert!(s.fake.count(Endpoint::Status) >= 2);
    // The AttemptFailed event is informational and kept in the replay.
    let tracking = first.venue_ref.strip_prefix("avantis:").unwrap();
    let kinds: Vec<String> = s.venue.client().tracking_status(tracking, None).await.unwrap().events.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["MarketOrderAccepted", "AttemptFailed", "MarketOrderInitiated", "MarketOrderExecuted"]);
}

#[tokio::test]
async fn retries_only_where_safe() {
    let s = setup().await;
    open_eth(&s, "safe-open").await.unwrap();
    // A read that times out is asked again.
    s.fake.delay_next(Endpoint::UserData, 1, Duration::from_millis(1500));
    let before = s.fake.count(Endpoint::UserData);
    assert_eq!(s.venue.positions(trader()).await.unwrap().len(), 1);
    assert_eq!(s.fake.count(Endpoint::UserData) - before, 2);

    // A state-changing call that times out is not repeated: its outcome is unknown.
    let client = s.venue.client();
    let pos = client.user_data(trader()).await.unwrap().positions.remove(0);
    let req = vanta_chain::avantis::PartialTpSlRequest {
        trader: trader(),
        pair: pos.pair,
        trade_index: pos.index,
        side: Side::Long,
        take_profit: false,
        coin_size_raw: 1_000_000_000,
        price: Price::from_str("2800").unwrap(),
        open_timestamp: pos.opened_at,
    };
    let signed = client.sign_intent(client.tpsl_partial_intent(&req).await.unwrap(), s.signer.as_ref()).await.unwrap();
    s.fake.delay_next(Endpoint::PriceTriggerCreate, 1, Duration::from_millis(1500));
    let err = client.create_price_trigger(&signed).await.unwrap_err();
    assert!(matches!(err, DomainError::Ambiguous(_)), "{err:?}");
    assert_eq!(s.fake.count(Endpoint::PriceTriggerCreate), 1);

    // A 5xx on a submission may follow a delivery: not retried, outcome unknown.
    s.fake.fail_next(Endpoint::PriceTriggerCreate, 1, FakeFailure::new(503, "UNAVAILABLE", "busy"));
    let err = client.create_price_trigger(&signed).await.unwrap_err();
    assert!(matches!(err, DomainError::Ambiguous(_)), "{err:?}");
    assert_eq!(s.fake.count(Endpoint::PriceTriggerCreate), 2);
    // A 4xx is a definite refusal.
    s.fake.fail_next(Endpoint::PriceTriggerCreate, 1, FakeFailure::new(400, "VALIDATION_ERROR", "bad"));
    assert!(matches!(client.create_price_trigger(&signed).await, Err(DomainError::Invalid(_))));

    // A gateway 502 on a market submission is reconciled like a timeout: nothing changed and the
    // nonce is unused, so the same signed order goes once more.
    s.fake.fail_next(Endpoint::ExecuteBatched, 1, FakeFailure::new(502, "BAD_GATEWAY", "upstream"));
    let before = s.fake.submissions();
    let fill = open_eth(&s, "gateway-502").await.unwrap();
    assert_eq!(fill.trade_index, 1);
    assert_eq!(s.fake.submissions() - before, 2);
}

#[tokio::test]
async fn a_reference_executes_at_most_once_and_lookup_reports_it() {
    let s = setup().await;
    assert_eq!(s.venue.lookup(&iid("never-sent")).await.unwrap(), Lookup::NotExecuted, "its nonce is unused");
    let fill = open_eth(&s, "once").await.unwrap();
    assert_eq!(s.venue.lookup(&iid("once")).await.unwrap(), Lookup::Filled(fill.clone()));
    // Same process, same reference: the recorded fill, nothing sent.
    assert_eq!(open_eth(&s, "once").await.unwrap(), fill);
    assert_eq!(s.fake.submissions(), 1);

    // A cold start (new venue, same key) cannot execute the reference again: same nonce.
    let cold = AvantisVenue::from_config(relayer_config(&s.fake), s.signer.clone()).unwrap();
    let err = cold.execute(&iid("once"), &open_order(trader(), 0, "100")).await.unwrap_err();
    assert!(err.is_client_error() && err.to_string().contains("InvalidNonce"), "{err:?}");
    assert_eq!(s.fake.positions(DEV_ADDRESS).len(), 1, "never a second fill");
    assert_eq!(cold.lookup(&iid("once")).await.unwrap(), Lookup::Unknown, "executed, but the fill is not known here");
}

#[tokio::test]
async fn lookup_after_an_ambiguous_submission_waits_for_the_deadline() {
    let fake = FakeAvantis::start().await.unwrap();
    let mut cfg = relayer_config(&fake);
    cfg.intent_deadline = Some(Duration::from_millis(3000));
    let signer = CountingSigner::dev();
    // The venue's clock decides the intent deadline and whether it has passed.
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let venue = AvantisVenue::from_config(cfg, signer.clone()).unwrap().with_clock(clock.clone());
    fake.stall_next_submission(Stall::LoseThenStall(Duration::from_secs(2)));
    fake.stall_next_submission(Stall::LoseThenStall(Duration::from_secs(2)));
    let order = open_order(trader(), 2, "100");
    let err = venue.execute(&iid("amb"), &order).await.unwrap_err();
    assert!(matches!(err, DomainError::Ambiguous(_)), "{err:?}");
    assert_eq!(venue.lookup(&iid("amb")).await.unwrap(), Lookup::Unknown, "the signed order may still execute");
    clock.advance(Duration::from_millis(2900));
    assert_eq!(venue.lookup(&iid("amb")).await.unwrap(), Lookup::Unknown, "not yet past the deadline");
    // 3.1 s after the signing, by the venue's clock (and no earlier than the real now, so the
    // fake, which checks deadlines on the system clock, takes the next intent).
    clock.set(SystemClock.now().max(clock.now().plus(Duration::from_millis(200))));
    assert_eq!(venue.lookup(&iid("amb")).await.unwrap(), Lookup::NotExecuted, "expired and its nonce unused");
    let fill = venue.execute(&iid("amb"), &order).await.unwrap();
    assert_eq!(fill.pair, PairIndex(2));
    assert_eq!(fake.positions(DEV_ADDRESS).len(), 1);
    assert_eq!(venue.lookup(&iid("amb")).await.unwrap(), Lookup::Filled(fill));
}

// -------------------------------------------------------------------------------------------
// Errors
// -------------------------------------------------------------------------------------------

fn kind(e: &DomainError) -> &'static str {
    match e {
        DomainError::Invalid(_) => "Invalid",
        DomainError::Refused(_) => "Refused",
        DomainError::Forbidden(_) => "Forbidden",
        DomainError::NotFound(_) => "NotFound",
        DomainError::Conflict(_) => "Conflict",
        DomainError::Unavailable(_) => "Unavailable",
        DomainError::Ambiguous(_) => "Ambiguous",
        DomainError::Internal(_) => "Internal",
    }
}

#[tokio::test]
async fn error_envelopes_map_to_domain_errors() {
    let s = setup().await;
    s.venue.pairs().await.unwrap();
    let cases: [(u16, &str, usize, &str); 7] = [
        (400, "VALIDATION_ERROR", 1, "Invalid"),
        (400, "BAD_REQUEST", 1, "Refused"),
        (429, "RATE_LIMITED", 1, "Unavailable"),
        (451, "GEO_RESTRICTED", 1, "Forbidden"),
        (404, "NOT_FOUND", 1, "NotFound"),
        (500, "INTERNAL_ERROR", 1, "Internal"),
        (502, "UPSTREAM_ERROR", 3, "Unavailable"), // retried twice, then given up
    ];
    for (status, code, n, expected) in cases {
        s.fake.fail_next(Endpoint::IntentOpen, n, FakeFailure::new(status, code, "injected"));
        let err = open_eth(&s, "err").await.unwrap_err();
        assert_eq!(kind(&err), expected, "{code}: {err:?}");
        assert!(err.to_string().contains(code), "{err}");
    }
    assert_eq!(s.signer.calls(), 0);
    assert_eq!(s.fake.submissions(), 0);

    // The fake's own pre-trade check: 5 USDC × 10 = 50 USDC notional, below 100.
    let err = s.venue.execute(&iid("small"), &open_order(trader(), 0, "5")).await.unwrap_err();
    assert!(matches!(&err, DomainError::Refused(m) if m.contains("Below minimum position")), "{err:?}");

    // A transient 503 on a read is retried.
    let client = AvantisClient::new(relayer_config(&s.fake)).unwrap();
    s.fake.fail_next(Endpoint::Meta, 1, FakeFailure::new(503, "UPSTREAM_ERROR", "busy"));
    let before = s.fake.count(Endpoint::Meta);
    client.meta().await.unwrap();
    assert_eq!(s.fake.count(Endpoint::Meta) - before, 2);

    // A NestJS rejection of the submission: not accepted, nothing to reconcile.
    s.fake.fail_next(Endpoint::ExecuteBatched, 1, FakeFailure::new(400, "BAD_REQUEST", "orderType must be one of the supported values"));
    let err = open_eth(&s, "rejected").await.unwrap_err();
    assert!(err.is_client_error() && err.to_string().contains("orderType must be one of the supported values"), "{err:?}");
    assert_eq!(s.fake.submissions(), 1);

    // Market outcomes: canceled and a persisted error are refusals; ENQUEUE_FAILED is resubmitted once.
    s.fake.push_outcome(FakeOutcome::Cancel("SLIPPAGE_EXCEEDED".into()));
    let err = open_eth(&s, "canceled").await.unwrap_err();
    assert!(matches!(&err, DomainError::Refused(m) if m.contains("SLIPPAGE_EXCEEDED")), "{err:?}");
    s.fake.push_outcome(FakeOutcome::Error("ATTEMPTS_EXHAUSTED".into()));
    let err = open_eth(&s, "failed").await.unwrap_err();
    assert!(matches!(&err, DomainError::Refused(m) if m.contains("ATTEMPTS_EXHAUSTED")), "{err:?}");
    let before = s.fake.submissions();
    s.fake.push_outcome(FakeOutcome::EnqueueFailed);
    let fill = open_eth(&s, "enqueue").await.unwrap();
    assert_eq!(s.fake.submissions() - before, 2);
    assert_eq!(fill.trade_index, 0);
    assert_eq!(s.fake.positions(DEV_ADDRESS).len(), 1);

    // Closing a trade that does not exist.
    let close =
        VenueOrder::Close { trader: trader(), pair: PairIndex(1), trade_index: 7, collateral: Usdc::from_str("1").unwrap(), known: None };
    assert!(matches!(s.venue.execute(&iid("close-x"), &close).await, Err(DomainError::NotFound(_))));
}

#[tokio::test]
async fn a_connection_refused_submission_is_unavailable_not_ambiguous() {
    let fake = FakeAvantis::start().await.unwrap();
    let mut cfg = relayer_config(&fake);
    let port = vanta_testkit::net::free_port().unwrap();
    cfg.batched_market_url = format!("http://127.0.0.1:{port}");
    let signer = CountingSigner::dev();
    let venue = AvantisVenue::from_config(cfg, signer.clone()).unwrap();
    let err = venue.execute(&iid("refused"), &open_order(trader(), 0, "100")).await.unwrap_err();
    assert!(matches!(err, DomainError::Unavailable(_)), "{err:?}");
    assert!(fake.positions(DEV_ADDRESS).is_empty());
}

#[tokio::test]
async fn a_delegate_needs_an_active_delegation() {
    let fake = FakeAvantis::start().await.unwrap();
    let delegate = CountingSigner::new(LocalKeySigner::random().unwrap());
    let venue = AvantisVenue::from_config(relayer_config(&fake), delegate.clone()).unwrap();
    let owner = address!("1111111111111111111111111111111111111111");
    let order = open_order(TraderAddress::new(owner).unwrap(), 1, "100");
    let err = venue.execute(&iid("deleg-1"), &order).await.unwrap_err();
    assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
    assert_eq!(delegate.calls(), 0);

    let expiry = u64::try_from(chrono_now_s() + 3600).unwrap();
    fake.set_delegate(owner, delegate.address().address(), true, expiry);
    let fill = venue.execute(&iid("deleg-2"), &order).await.unwrap();
    assert_eq!(fill.pair, PairIndex(1));
    assert_eq!(fake.positions(owner).len(), 1);
    assert_eq!(delegate.calls(), 3);
}

/// A positive delegation check is trusted for a minute by the venue's clock, then asked again.
#[tokio::test]
async fn a_delegation_check_is_cached_for_a_minute_of_the_venues_clock() {
    let fake = FakeAvantis::start().await.unwrap();
    let delegate = CountingSigner::new(LocalKeySigner::random().unwrap());
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let venue = AvantisVenue::from_config(relayer_config(&fake), delegate.clone()).unwrap().with_clock(clock.clone());
    let owner = address!("1111111111111111111111111111111111111111");
    let order = open_order(TraderAddress::new(owner).unwrap(), 1, "100");
    let expiry = u64::try_from(chrono_now_s() + 3600).unwrap();
    fake.set_delegate(owner, delegate.address().address(), true, expiry);
    venue.execute(&iid("cache-1"), &order).await.unwrap();
    let checks = fake.count(Endpoint::Delegation);
    assert!(checks >= 1);

    clock.advance(Duration::from_secs(59));
    venue.execute(&iid("cache-2"), &order).await.unwrap();
    assert_eq!(fake.count(Endpoint::Delegation), checks, "trusted within the minute");

    fake.set_delegate(owner, delegate.address().address(), false, expiry);
    clock.advance(Duration::from_secs(2));
    let err = venue.execute(&iid("cache-3"), &order).await.unwrap_err();
    assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
    assert!(fake.count(Endpoint::Delegation) > checks, "asked again after the minute");
    assert_eq!(fake.positions(owner).len(), 2);
}

fn chrono_now_s() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

// -------------------------------------------------------------------------------------------
// Price triggers
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn price_trigger_create_and_delete_round_trip() {
    let s = setup().await;
    open_eth(&s, "trig-open").await.unwrap();
    let client = s.venue.client();
    let pos = client.user_data(trader()).await.unwrap().positions.remove(0);
    assert!(pos.opened_at.is_some());
    let req = vanta_chain::avantis::PartialTpSlRequest {
        trader: trader(),
        pair: pos.pair,
        trade_index: pos.index,
        side: Side::Long,
        take_profit: true,
        coin_size_raw: 1_000_000_000, // 0.1 ETH
        price: Price::from_str("3300").unwrap(),
        open_timestamp: pos.opened_at,
    };
    let payload = client.tpsl_partial_intent(&req).await.unwrap();
    let signed = client.sign_intent(payload, s.signer.as_ref()).await.unwrap();
    let id = client.create_price_trigger(&signed).await.unwrap();
    assert_eq!(s.fake.trigger_ids(DEV_ADDRESS), [id.as_str()]);
    let listed = client.user_data(trader()).await.unwrap();
    let triggers = &listed.positions[0].price_triggers;
    let partial = triggers.iter().find(|t| t.entity_id == id).expect("the new trigger is listed");
    assert!(!partial.is_global);
    assert_eq!(partial.order_type, 4);
    assert_eq!(partial.price, Price::from_str("3300").unwrap());
    assert!(triggers.iter().any(|t| t.is_global && t.entity_id.starts_with("global-sl-")), "the position's SL is a global trigger");

    // Replace: a fresh signature, a new id.
    let payload = client
        .tpsl_partial_intent(&vanta_chain::avantis::PartialTpSlRequest { price: Price::from_str("3400").unwrap(), ..req.clone() })
        .await
        .unwrap();
    let signed = client.sign_intent(payload, s.signer.as_ref()).await.unwrap();
    let new_id = client.replace_price_trigger(&id, &signed).await.unwrap();
    assert_ne!(new_id, id);
    assert_eq!(s.fake.trigger_ids(DEV_ADDRESS), [new_id.as_str()]);

    // Delete with a CancelOffchainOrder signature.
    let payload = client.offchain_cancel_intent(&new_id).await.unwrap();
    let signed = client.sign_intent(payload, s.signer.as_ref()).await.unwrap();
    client.delete_price_trigger(&signed).await.unwrap();
    assert!(s.fake.trigger_ids(DEV_ADDRESS).is_empty());
    let listed = client.user_data(trader()).await.unwrap();
    assert!(listed.positions[0].price_triggers.iter().all(|t| t.is_global));

    // Deleting it again: the core API no longer knows it.
    let payload = client.offchain_cancel_intent(&new_id).await.unwrap();
    let signed = client.sign_intent(payload, s.signer.as_ref()).await.unwrap();
    assert!(matches!(client.delete_price_trigger(&signed).await, Err(DomainError::NotFound(_))));
}
