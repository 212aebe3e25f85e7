//! Where money depends on it, the venue client does what the official SDK does (issue 9,
//! item 3), shown against the fake Veranta server: TP/SL updates keep the live untouched leg and
//! count only once `/user-data` shows them; intents are built locally with the nonce derived
//! from the intent reference (never sent), so a redelivered intent cannot fill twice; a builder
//! intent that disagrees with ours is not signed; market opens leave `openPrice` to the venue's
//! feed; a delegate signs only with the capability its route needs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256, address};
use alloy::sol_types::SolValue;
use secrecy::SecretString;
use serde_json::Value;
use vanta_chain::avantis::local::derived_nonce;
use vanta_chain::avantis::{AvantisClient, AvantisConfig, AvantisVenue};
use vanta_chain::direct::venue::DirectVenue;
use vanta_chain::direct::{DirectConfig, DirectSender, TxStore};
use vanta_chain::eip712::{OpenTradeReq, UpdateTpSlReq};
use vanta_chain::signer::LocalKeySigner;
use vanta_domain::direct::{MemoryNonceLease, MemoryTxStore};
use vanta_domain::error::DomainError;
use vanta_domain::ids::TraderAddress;
use vanta_domain::market::{PairIndex, Side};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{Signer, Venue, VenueOrder};
use vanta_domain::time::SystemClock;
use vanta_testkit::fake_avantis::{CalldataTamper, Endpoint, FAKE_CHAIN_ID, FakeAvantis};

use crate::support::{CountingSigner, avantis_config, iid};

/// Anvil's first two dev keys (public test values).
const TRADER_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const TRADER: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
const DELEGATE_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// The venue's client with quick status polls.
fn sdk_config(fake: &FakeAvantis) -> AvantisConfig {
    let mut cfg = avantis_config(fake);
    cfg.status_poll_interval = Duration::from_millis(50);
    cfg
}

fn trader() -> TraderAddress {
    TraderAddress::new(TRADER).unwrap()
}

fn price(s: &str) -> Price {
    Price::from_str(s).unwrap()
}

fn open(tp: Option<Price>, sl: Option<Price>) -> VenueOrder {
    VenueOrder::Open {
        trader: trader(),
        pair: PairIndex(0),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(10).unwrap(),
        reference_price: price("3000"),
        slippage: PercentP::from_str("1").unwrap(),
        tp,
        sl,
    }
}

fn tpsl(trade_index: u32, tp: Option<Price>, sl: Option<Price>) -> VenueOrder {
    VenueOrder::UpdateTpSl { trader: trader(), pair: PairIndex(0), trade_index, tp, sl, known: None }
}

fn bodies(fake: &FakeAvantis, ep: Endpoint) -> Vec<Value> {
    fake.requests().into_iter().filter(|r| r.endpoint == Some(ep)).filter_map(|r| r.body).collect()
}

fn signed_tpsl(body: &Value) -> UpdateTpSlReq {
    UpdateTpSlReq::abi_decode(&alloy::hex::decode(body["userIntent"].as_str().unwrap()).unwrap()).unwrap()
}

fn signed_open(body: &Value) -> OpenTradeReq {
    OpenTradeReq::abi_decode(&alloy::hex::decode(body["erc712"]["userIntent"].as_str().unwrap()).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// TP/SL
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_take_profit_change_keeps_the_live_stop_loss() {
    let fake = FakeAvantis::start().await.unwrap();
    let venue = AvantisVenue::from_config(sdk_config(&fake), CountingSigner::from_key(TRADER_KEY)).unwrap();
    let fill = venue.execute(&iid("open-1"), &open(None, Some(price("2500")))).await.unwrap();
    fake.clear_requests();

    // Only the TP is asked for: the signed intent carries the live SL, never 0 (which would
    // remove the on-chain stop).
    venue.execute(&iid("tp-1"), &tpsl(fill.trade_index, Some(price("4000")), None)).await.unwrap();
    let put = &bodies(&fake, Endpoint::PriceTriggerPut)[0];
    let m = signed_tpsl(put);
    assert_eq!(m._newSl, U256::from(price("2500").raw()), "the live stop loss is kept");
    assert_eq!(m._newTp, U256::from(price("4000").raw()));
    let p = &venue.positions(trader()).await.unwrap()[0];
    assert_eq!((p.tp, p.sl), (Some(price("4000")), Some(price("2500"))));

    // Only the SL is asked for: the live TP (the user's 4000) is kept.
    fake.clear_requests();
    venue.execute(&iid("sl-1"), &tpsl(fill.trade_index, None, Some(price("2700")))).await.unwrap();
    let m = signed_tpsl(&bodies(&fake, Endpoint::PriceTriggerPut)[0]);
    assert_eq!((m._newTp, m._newSl), (U256::from(price("4000").raw()), U256::from(price("2700").raw())));
}

#[tokio::test]
async fn a_stop_change_on_a_position_without_tp_keeps_the_venues_cap_and_does_not_show_it() {
    let fake = FakeAvantis::start().await.unwrap();
    let venue = AvantisVenue::from_config(sdk_config(&fake), CountingSigner::from_key(TRADER_KEY)).unwrap();
    let fill = venue.execute(&iid("open-1"), &open(None, None)).await.unwrap();
    let cap = fake.positions(TRADER)[0].tp;
    assert!(cap > 0, "the venue always holds a TP");
    assert_eq!(venue.positions(trader()).await.unwrap()[0].tp, None, "the cap is not shown as the user's TP");

    venue.execute(&iid("sl-1"), &tpsl(fill.trade_index, None, Some(price("2700")))).await.unwrap();
    let m = signed_tpsl(&bodies(&fake, Endpoint::PriceTriggerPut)[0]);
    assert_eq!(m._newTp, U256::from(cap), "the live TP (the cap) is copied, as the SDK does");
    let p = &venue.positions(trader()).await.unwrap()[0];
    assert_eq!((p.tp, p.sl), (None, Some(price("2700"))));
}

#[tokio::test]
async fn a_tpsl_change_counts_only_once_user_data_shows_it() {
    let fake = FakeAvantis::start().await.unwrap();
    let mut cfg = sdk_config(&fake);
    cfg.tpsl_visible_timeout = Duration::from_secs(5);
    let venue = AvantisVenue::from_config(cfg.clone(), CountingSigner::from_key(TRADER_KEY)).unwrap();
    let fill = venue.execute(&iid("open-1"), &open(None, Some(price("2500")))).await.unwrap();

    // The operator lands it 400 ms after the PUT: the venue waits for it.
    fake.set_tpsl_delay(Duration::from_millis(400));
    fake.clear_requests();
    venue.execute(&iid("sl-1"), &tpsl(fill.trade_index, None, Some(price("2600")))).await.unwrap();
    assert!(fake.count(Endpoint::UserData) >= 2, "polled /user-data after the 2xx");
    assert_eq!(fake.positions(TRADER)[0].sl, price("2600").raw());

    // Never visible within the wait: accepted, not yet visible — not an applied change.
    fake.set_tpsl_delay(Duration::from_secs(30));
    cfg.tpsl_visible_timeout = Duration::from_millis(300);
    let impatient = AvantisVenue::from_config(cfg, CountingSigner::from_key(TRADER_KEY)).unwrap();
    let err = impatient.execute(&iid("sl-2"), &tpsl(fill.trade_index, None, Some(price("2650")))).await.unwrap_err();
    assert!(matches!(&err, DomainError::Ambiguous(m) if m.contains("accepted") && m.contains("not yet visible")), "{err:?}");
    assert_eq!(fake.positions(TRADER)[0].sl, price("2600").raw());
}

#[tokio::test]
async fn a_redelivered_tpsl_change_that_already_shows_signs_nothing() {
    let fake = FakeAvantis::start().await.unwrap();
    let signer = CountingSigner::from_key(TRADER_KEY);
    let venue = AvantisVenue::from_config(sdk_config(&fake), signer.clone()).unwrap();
    let fill = venue.execute(&iid("open-1"), &open(None, Some(price("2500")))).await.unwrap();
    venue.execute(&iid("sl-1"), &tpsl(fill.trade_index, None, Some(price("2600")))).await.unwrap();
    let (signed, puts) = (signer.calls(), fake.count(Endpoint::PriceTriggerPut));
    venue.execute(&iid("sl-1"), &tpsl(fill.trade_index, None, Some(price("2600")))).await.unwrap();
    assert_eq!((signer.calls(), fake.count(Endpoint::PriceTriggerPut)), (signed, puts), "nothing signed or sent again");
}

// ---------------------------------------------------------------------------------------------
// Local intents and nonces
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn intents_are_built_locally_with_the_nonce_of_the_intent_and_a_second_fill_is_refused() {
    let fake = FakeAvantis::start().await.unwrap();
    let signer = CountingSigner::from_key(TRADER_KEY);
    let venue = AvantisVenue::from_config(sdk_config(&fake), signer.clone()).unwrap();
    venue.execute(&iid("sig-42"), &open(None, None)).await.unwrap();

    // As the SDK sends it: no nonce and no openPrice for the builder (the venue resolves the
    // market price from its feed).
    let built = &bodies(&fake, Endpoint::IntentOpen)[0];
    assert!(built.get("nonce").is_none() && built.get("openPrice").is_none(), "{built}");
    let first = signed_open(&bodies(&fake, Endpoint::ExecuteBatched)[0]);
    assert_eq!(first._nonce, derived_nonce(TRADER, "sig-42"), "the nonce is the intent's");
    assert_eq!(first._t.openPrice, U256::from(price("3000").raw()), "slippage is measured from our reference price");

    // Redelivered to a fresh instance (nothing in memory): the same nonce is signed and the
    // chain's nonce bitmap refuses the second fill.
    let cold = AvantisVenue::from_config(sdk_config(&fake), signer.clone()).unwrap();
    let err = cold.execute(&iid("sig-42"), &open(None, None)).await.unwrap_err();
    assert!(err.to_string().contains("InvalidNonce"), "{err:?}");
    let batched = bodies(&fake, Endpoint::ExecuteBatched);
    assert_eq!(batched.len(), 2);
    assert_eq!(signed_open(&batched[1])._nonce, first._nonce, "retried, the same nonce");
    assert_eq!(fake.positions(TRADER).len(), 1, "never a second fill");
}

#[tokio::test]
async fn a_builder_intent_that_differs_from_ours_is_not_signed() {
    let fake = FakeAvantis::start().await.unwrap();
    let signer = CountingSigner::from_key(TRADER_KEY);
    let venue = AvantisVenue::from_config(sdk_config(&fake), signer.clone()).unwrap();
    fake.tamper_next_intents(1);
    let err = venue.execute(&iid("open-1"), &open(None, None)).await.unwrap_err();
    assert!(matches!(&err, DomainError::Internal(m) if m.contains("positionSizeUSDC") && m.contains("refusing to sign")), "{err:?}");
    assert_eq!((signer.calls(), fake.submissions()), (0, 0), "nothing signed, nothing sent");

    // A close too.
    let fill = venue.execute(&iid("open-2"), &open(None, None)).await.unwrap();
    fake.tamper_next_intents(1);
    let close =
        VenueOrder::Close { trader: trader(), pair: PairIndex(0), trade_index: fill.trade_index, collateral: fill.collateral, known: None };
    let err = venue.execute(&iid("close-1"), &close).await.unwrap_err();
    assert!(matches!(&err, DomainError::Internal(m) if m.contains("_amount")), "{err:?}");
    assert_eq!(fake.positions(TRADER).len(), 1, "still open");
}

// ---------------------------------------------------------------------------------------------
// Delegation capabilities
// ---------------------------------------------------------------------------------------------

fn far() -> u64 {
    u64::try_from(vanta_domain::time::Clock::now(&SystemClock).secs()).unwrap() + 86_400
}

#[tokio::test]
async fn the_relayer_route_needs_can_sign_intents() {
    let fake = FakeAvantis::start().await.unwrap();
    let delegate = CountingSigner::from_key(DELEGATE_KEY);
    let key = delegate.address().address();
    fake.set_delegate(TRADER, key, true, far());
    fake.set_delegate_capabilities(TRADER, key, true, false);
    let venue = AvantisVenue::from_config(sdk_config(&fake), delegate.clone()).unwrap();
    let err = venue.execute(&iid("open-1"), &open(None, None)).await.unwrap_err();
    assert!(matches!(&err, DomainError::Forbidden(m) if m.contains("canSignIntents") && m.contains("Nothing was signed")), "{err:?}");
    assert_eq!((delegate.calls(), fake.submissions()), (0, 0));

    fake.set_delegate_capabilities(TRADER, key, false, true);
    let venue = AvantisVenue::from_config(sdk_config(&fake), delegate.clone()).unwrap();
    venue.execute(&iid("open-2"), &open(None, None)).await.unwrap();
}

#[tokio::test]
async fn the_direct_route_needs_can_delegated_action() {
    let fake = FakeAvantis::start().await.unwrap();
    let key = LocalKeySigner::from_secret_hex(&SecretString::from(DELEGATE_KEY.to_owned())).unwrap().with_chain_id(Some(FAKE_CHAIN_ID));
    let delegate = key.address().address();
    fake.set_delegate(TRADER, delegate, true, far());
    fake.set_delegate_capabilities(TRADER, delegate, false, true);
    // No node is needed: the check comes before anything is built, signed or sent.
    let provider = DirectSender::http_provider("http://127.0.0.1:9").unwrap();
    let clock: Arc<dyn vanta_domain::time::Clock> = Arc::new(SystemClock);
    let venue = DirectVenue::new(
        AvantisClient::new(sdk_config(&fake)).unwrap(),
        provider,
        key,
        Arc::new(MemoryNonceLease::new(clock.clone())),
        Arc::new(MemoryTxStore::new()),
        clock,
        DirectConfig::new(FAKE_CHAIN_ID),
    );
    let err = venue.execute(&iid("open-1"), &open(None, None)).await.unwrap_err();
    assert!(matches!(&err, DomainError::Forbidden(m) if m.contains("canDelegatedAction")), "{err:?}");
    assert_eq!(fake.count(Endpoint::TradeOpen), 0, "no calldata was even built");
}

// ---------------------------------------------------------------------------------------------
// Direct-route calldata that differs from the request is not signed (decoded with the trading
// contract's ABI); the same check guards the EIP-7702 leg of the relayer route
// ---------------------------------------------------------------------------------------------

/// The direct route signing with the trader's key; no node is needed: a refused calldata never
/// gets as far as the chain.
fn direct_venue(fake: &FakeAvantis) -> (DirectVenue, Arc<MemoryTxStore>) {
    let key = LocalKeySigner::from_secret_hex(&SecretString::from(TRADER_KEY.to_owned())).unwrap().with_chain_id(Some(FAKE_CHAIN_ID));
    let provider = DirectSender::http_provider("http://127.0.0.1:9").unwrap();
    let clock: Arc<dyn vanta_domain::time::Clock> = Arc::new(SystemClock);
    let store = Arc::new(MemoryTxStore::new());
    let venue = DirectVenue::new(
        AvantisClient::new(sdk_config(fake)).unwrap(),
        provider,
        key,
        Arc::new(MemoryNonceLease::new(clock.clone())),
        store.clone(),
        clock,
        DirectConfig::new(FAKE_CHAIN_ID),
    );
    (venue, store)
}

/// A direct open whose calldata carries `tamper` is refused naming `field`; nothing recorded.
async fn direct_open_refused(tamper: CalldataTamper, field: &str) {
    let fake = FakeAvantis::start().await.unwrap();
    let (venue, store) = direct_venue(&fake);
    fake.tamper_next_calldata(tamper);
    let order = open(Some(price("3300")), Some(price("2700")));
    let err = venue.execute(&iid("direct-open"), &order).await.unwrap_err();
    assert!(matches!(&err, DomainError::Refused(m) if m.contains(field) && m.contains("not signed")), "{tamper:?}: {err:?}");
    assert_eq!(fake.count(Endpoint::TradeOpen), 1, "built, then refused");
    assert!(store.get("direct-open").await.unwrap().is_none(), "nothing recorded, nothing signed");
}

/// A direct close (of a position opened on the relayer route) whose calldata carries `tamper`.
async fn direct_close_refused(tamper: CalldataTamper, field: &str) {
    let fake = FakeAvantis::start().await.unwrap();
    let relayer = AvantisVenue::from_config(sdk_config(&fake), CountingSigner::from_key(TRADER_KEY)).unwrap();
    let fill = relayer.execute(&iid("open"), &open(None, None)).await.unwrap();
    let (venue, store) = direct_venue(&fake);
    fake.tamper_next_calldata(tamper);
    let close = VenueOrder::Close {
        trader: trader(),
        pair: PairIndex(0),
        trade_index: fill.trade_index,
        collateral: Usdc::from_str("10").unwrap(),
        known: None,
    };
    let err = venue.execute(&iid("direct-close"), &close).await.unwrap_err();
    assert!(matches!(&err, DomainError::Refused(m) if m.contains(field) && m.contains("not signed")), "{tamper:?}: {err:?}");
    assert!(store.get("direct-close").await.unwrap().is_none());
    assert_eq!(fake.positions(TRADER)[0].collateral, fill.collateral.raw(), "untouched");
}

/// A relayer-route open whose EIP-7702 leg calldata carries `tamper`: nothing signed or sent.
async fn relayer_open_refused(tamper: CalldataTamper, field: &str) {
    let fake = FakeAvantis::start().await.unwrap();
    let signer = CountingSigner::from_key(TRADER_KEY);
    let venue = AvantisVenue::from_config(sdk_config(&fake), signer.clone()).unwrap();
    fake.tamper_next_calldata(tamper);
    let err = venue.execute(&iid("relayer-open"), &open(Some(price("3300")), Some(price("2700")))).await.unwrap_err();
    assert!(matches!(&err, DomainError::Refused(m) if m.contains(field) && m.contains("not signed")), "{tamper:?}: {err:?}");
    assert_eq!((signer.calls(), fake.submissions()), (0, 0), "nothing signed, nothing sent");
}

macro_rules! refused_calldata_tests {
    ($check:ident: $($name:ident => $tamper:ident, $field:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            $check(CalldataTamper::$tamper, $field).await;
        }
    )*};
}

refused_calldata_tests! { direct_open_refused:
    direct_route_calldata_with_another_pair_is_not_signed => Pair, "pair";
    direct_route_calldata_with_the_other_side_is_not_signed => Side, "side";
    direct_route_calldata_with_another_collateral_is_not_signed => Collateral, "collateral";
    direct_route_calldata_with_another_leverage_is_not_signed => Leverage, "leverage";
    direct_route_calldata_with_another_open_price_is_not_signed => OpenPrice, "open price";
    direct_route_calldata_with_another_slippage_is_not_signed => Slippage, "slippage";
    direct_route_calldata_with_another_take_profit_is_not_signed => TakeProfit, "take profit";
    direct_route_calldata_with_another_stop_loss_is_not_signed => StopLoss, "stop loss";
    direct_route_calldata_for_another_trader_is_not_signed => Trader, "trader";
    direct_route_calldata_with_another_order_type_is_not_signed => OrderType, "order type";
    direct_route_calldata_wrapped_for_another_trader_is_not_signed => DelegatedFor, "delegatedAction";
    direct_route_calldata_with_an_unknown_selector_is_not_signed => Selector, "0xdeadbeef";
}

refused_calldata_tests! { direct_close_refused:
    direct_route_close_calldata_for_another_pair_is_not_signed => Pair, "pair";
    direct_route_close_calldata_for_another_trade_is_not_signed => TradeIndex, "trade index";
    direct_route_close_calldata_with_another_amount_is_not_signed => Collateral, "collateral to close";
}

refused_calldata_tests! { relayer_open_refused:
    relayer_leg_calldata_with_another_pair_is_not_signed => Pair, "pair";
    relayer_leg_calldata_with_another_collateral_is_not_signed => Collateral, "collateral";
    relayer_leg_calldata_with_another_leverage_is_not_signed => Leverage, "leverage";
    relayer_leg_calldata_with_a_price_outside_the_slippage_is_not_signed => OpenPrice, "outside";
    relayer_leg_calldata_with_another_stop_loss_is_not_signed => StopLoss, "stop loss";
    relayer_leg_calldata_with_an_unknown_selector_is_not_signed => Selector, "0xdeadbeef";
}

#[tokio::test]
async fn direct_route_calldata_for_another_contract_is_not_signed() {
    let fake = FakeAvantis::start().await.unwrap();
    let (venue, store) = direct_venue(&fake);
    fake.set_calldata_target(Some(Address::repeat_byte(0x66)));
    let err = venue.execute(&iid("direct-open"), &open(None, None)).await.unwrap_err();
    assert!(matches!(&err, DomainError::Refused(m) if m.contains("not the trading contract")), "{err:?}");
    assert!(store.get("direct-open").await.unwrap().is_none());
}

// ---------------------------------------------------------------------------------------------
// The EIP-7702 leg of market orders
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn market_orders_carry_the_eip7702_leg_and_a_venue_in_7702_mode_takes_them() {
    let fake = FakeAvantis::start().await.unwrap();
    fake.require_eip7702(true);
    let delegate = CountingSigner::from_key(DELEGATE_KEY);
    let key = delegate.address().address();
    fake.set_delegate(TRADER, key, true, far());
    let venue = AvantisVenue::from_config(sdk_config(&fake), delegate.clone()).unwrap();
    let fill = venue.execute(&iid("open-7702"), &open(None, Some(price("2700")))).await.unwrap();
    let close =
        VenueOrder::Close { trader: trader(), pair: PairIndex(0), trade_index: fill.trade_index, collateral: fill.collateral, known: None };
    venue.execute(&iid("close-7702"), &close).await.unwrap();
    assert!(fake.positions(TRADER).is_empty(), "opened and closed through a venue that requires the leg");

    let sent = bodies(&fake, Endpoint::ExecuteBatched);
    assert_eq!(sent.len(), 2);
    for body in &sent {
        let leg = &body["eip7702"];
        assert_eq!(leg["to"].as_str().unwrap().parse::<Address>().unwrap(), key, "the delegate's own smart account");
        assert_eq!((leg["chainId"].as_str(), leg["gas"].as_str()), (Some("31337"), Some("2000000")));
        let auth = &leg["authorizationList"][0];
        assert_eq!(
            auth["address"].as_str().unwrap().parse::<Address>().unwrap(),
            vanta_chain::avantis::eip7702::DEFAULT_DELEGATION_TEMPLATE
        );
        assert_eq!((auth["nonce"].as_str(), auth["chainId"].as_str()), (Some("0"), Some("31337")));
    }
    // The leg's call is the tx-builder's, wrapped for the trader, asked as the official client asks.
    let built = bodies(&fake, Endpoint::TradeOpen);
    assert_eq!(built.len(), 1);
    assert!(built[0].get("openPrice").is_none(), "the venue resolves the price");
    assert_eq!(built[0]["delegate"].as_str().unwrap().parse::<Address>().unwrap(), key);
    // intent, smart-account call and authorisation for each order.
    assert_eq!(delegate.calls(), 6);
}

#[tokio::test]
async fn a_venue_in_7702_mode_refuses_intent_only_and_forged_legs() {
    use vanta_chain::avantis::{MarketSubmission, SubmitError};
    let fake = FakeAvantis::start().await.unwrap();
    fake.require_eip7702(true);
    let signer = CountingSigner::from_key(TRADER_KEY);
    let client = AvantisClient::new(sdk_config(&fake)).unwrap();
    let order = vanta_chain::avantis::OpenRequest {
        trader: trader(),
        pair: PairIndex(0),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(10).unwrap(),
        open_price: price("3000"),
        slippage: PercentP::from_str("1").unwrap(),
        tp: None,
        sl: None,
        pnl: false,
        nonce: Some(U256::from(77u8)),
    };
    let payload = client.open_intent(&order).await.unwrap();
    let signed = client.sign_intent(payload, signer.as_ref()).await.unwrap();
    let rejected = |r: Result<_, SubmitError>| match r {
        Err(SubmitError::Rejected(e)) => e.to_string(),
        other => panic!("{other:?}"),
    };
    // Intent-only.
    let why = rejected(client.submit_market(&MarketSubmission::new(0, &signed)).await);
    assert!(why.contains("eip7702 is required"), "{why}");
    // A leg for another order (twice the collateral) is not the intent's order.
    let mut bigger = order.clone();
    bigger.collateral = Usdc::from_str("200").unwrap();
    let other_call = client.open_leg_calldata(&bigger, trader()).await.unwrap();
    let leg = client.sign_leg(&other_call, signer.as_ref(), vanta_domain::ports::Purpose::Entry, 1_760_000_000_000).await.unwrap();
    let why = rejected(client.submit_market(&MarketSubmission::new(0, &signed).with_leg(&leg)).await);
    assert!(why.contains("collateral differs"), "{why}");
    // A leg signed by another key.
    let call = client.open_leg_calldata(&order, trader()).await.unwrap();
    let stranger = CountingSigner::from_key(DELEGATE_KEY);
    let forged = client.sign_leg(&call, stranger.as_ref(), vanta_domain::ports::Purpose::Entry, 1_760_000_000_000).await.unwrap();
    let why = rejected(client.submit_market(&MarketSubmission::new(0, &signed).with_leg(&forged)).await);
    assert!(why.contains("is not the intent's signer"), "{why}");
    assert_eq!(fake.positions(TRADER).len(), 0);
    // The honest leg executes.
    let good = client.sign_leg(&call, signer.as_ref(), vanta_domain::ports::Purpose::Entry, 1_760_000_000_000).await.unwrap();
    client.submit_market(&MarketSubmission::new(0, &signed).with_leg(&good)).await.unwrap();
    assert_eq!(fake.positions(TRADER).len(), 1);
}
