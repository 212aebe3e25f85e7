//! The direct route as a `Venue` on anvil: tx-builder calldata from the fake Avantis server →
//! an EIP-1559 transaction signed by our key → the "trading router" (a tiny contract,
//! `tests/contracts/FakeTradingRouter.sol`, compiled artifact next to it) → the fake's keeper sees
//! the mined call and opens the position → `VenueFill`. Nonce leases and records in DynamoDB
//! (moto) or in memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::sol_types::SolCall;
use serde_json::{Value, json};
use vanta_chain::avantis::trading_call::{TradingAction, TradingCall, openTradeCall};
use vanta_chain::avantis::{AvantisClient, AvantisVenue};
use vanta_chain::direct::venue::{DirectVenue, DirectVenueConfig};
use vanta_chain::direct::{DirectSender, NonceLease, TxState, TxStore};
use vanta_chain::signer::LocalKeySigner;
use vanta_domain::direct::{MemoryNonceLease, MemoryTxStore};
use vanta_domain::error::DomainError;
use vanta_domain::ids::TraderAddress;
use vanta_domain::market::{PairIndex, Side};
use vanta_domain::money::{Leverage, Price, Usdc};
use vanta_domain::ports::{Lookup, Venue, VenueFill, VenueOrder};
use vanta_domain::time::{Clock, SystemClock};
use vanta_testkit::anvil::{Anvil, DEV_ADDRESS};
use vanta_testkit::fake_avantis::{CalldataTamper, Endpoint, FakeAvantis};

use crate::support::{
    Dynamo, ETH, avantis_config, clock, deploy_router, direct_config, eth_long, funded_signer, iid, venue_config, wait_receipt,
};

/// The execution fee the fake puts in `value`.
const EXEC_FEE_WEI: u128 = 12_345;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// Pauses (or resumes) the test router: while paused every trading call reverts.
async fn set_paused(p: &DynProvider, router: Address, on: bool) {
    let mut data = alloy::primitives::keccak256("setPaused(bool)")[..4].to_vec();
    data.extend_from_slice(&U256::from(u8::from(on)).to_be_bytes::<32>());
    let tx = json!({"from": DEV_ADDRESS, "to": router, "data": Bytes::from(data), "gas": "0x100000"});
    let hash: B256 = p.raw_request("eth_sendTransaction".into(), (tx,)).await.unwrap();
    assert!(wait_receipt(p, hash).await.status());
}

/// anvil + the deployed router + a funded trader key + the fake Avantis (its router is the
/// deployed contract, its keeper watches anvil).
struct World {
    _anvil: Anvil,
    p: DynProvider,
    fake: FakeAvantis,
    router: Address,
    signer: LocalKeySigner,
}

impl World {
    async fn start() -> Self {
        let anvil = Anvil::start().await.unwrap();
        let p = DirectSender::http_provider(&anvil.endpoint).unwrap();
        let router = deploy_router(&p).await;
        let signer = funded_signer(&p).await;
        let fake = FakeAvantis::start().await.unwrap();
        fake.set_trading_router(router);
        fake.set_execution_fee_wei(EXEC_FEE_WEI);
        fake.start_keeper(&anvil.endpoint).await.unwrap();
        Self { _anvil: anvil, p, fake, router, signer }
    }

    fn trader(&self) -> TraderAddress {
        self.signer.address()
    }

    /// A venue as one process (Lambda instance) would build it.
    fn venue(&self, lease: Arc<dyn NonceLease>, store: Arc<dyn TxStore>, config: DirectVenueConfig) -> DirectVenue {
        let client = AvantisClient::new(avantis_config(&self.fake)).unwrap();
        DirectVenue::new(client, self.p.clone(), self.signer.clone(), lease, store, clock(), direct_config()).with_config(config)
    }

    fn memory_venue(&self) -> (DirectVenue, Arc<MemoryNonceLease>, Arc<MemoryTxStore>) {
        let lease = Arc::new(MemoryNonceLease::new(clock()));
        let store = Arc::new(MemoryTxStore::new());
        (self.venue(lease.clone(), store.clone(), venue_config()), lease, store)
    }

    async fn sent_transactions(&self) -> u64 {
        self.p.get_transaction_count(self.trader().address()).await.unwrap()
    }
}

fn open_order(trader: TraderAddress) -> VenueOrder {
    eth_long(trader, "100", Some("2500"))
}

/// The fill of `open_order`: 0.045 % of the 1,000 USDC notional is taken from the collateral.
fn assert_open_fill(fill: &VenueFill, hash: B256) {
    assert_eq!(fill.pair, PairIndex(0));
    assert_eq!(fill.trade_index, 0);
    assert_eq!(fill.side, Side::Long);
    assert_eq!(fill.price, Price::from_str("3000.5").unwrap());
    assert_eq!(fill.collateral, Usdc::from_str("99.55").unwrap());
    assert_eq!(fill.fee, Usdc::from_str("0.45").unwrap());
    assert_eq!(fill.leverage, Leverage::from_whole(10).unwrap());
    assert_eq!(fill.venue_ref, format!("avantis:{hash:#x}"));
}

// ---------------------------------------------------------------------------------------------
// A market open, end to end (DynamoDB lease and records)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn market_open_is_sent_mined_executed_and_filled() {
    let w = World::start().await;
    let dynamo = Dynamo::start("vanta-direct-venue").await;
    let (lease, store) = dynamo.parts().await;
    let venue = w.venue(lease, store.clone(), venue_config());
    venue.sender().check_chain().await.unwrap();
    assert_eq!(venue.mode(), vanta_domain::exec::ExecMode::Live);

    let fill = venue.execute(&iid("direct-open-1"), &open_order(w.trader())).await.unwrap();

    // One transaction, mined, recorded under the caller's reference.
    let rec = store.get("direct-open-1").await.unwrap().unwrap();
    assert_eq!(rec.state_path(), vec![TxState::Created, TxState::Signed, TxState::Sent, TxState::Mined], "{rec:?}");
    assert_eq!(rec.attempts.len(), 1);
    let hash = rec.attempts[0].hash;
    assert_eq!(rec.receipt.as_ref().unwrap().hash, hash);
    assert_eq!(w.sent_transactions().await, 1);
    // It is the fake's calldata, to the trading router, with the execution fee.
    let tx: Value = w.p.raw_request("eth_getTransactionByHash".into(), (hash,)).await.unwrap();
    assert_eq!(tx["to"].as_str().unwrap().parse::<Address>().unwrap(), w.router);
    assert_eq!(tx["from"].as_str().unwrap().parse::<Address>().unwrap(), w.trader().address());
    assert_eq!(tx["type"], "0x2");
    assert_eq!(U256::from_str(tx["value"].as_str().unwrap()).unwrap(), U256::from(EXEC_FEE_WEI));
    let input = Bytes::from_str(tx["input"].as_str().unwrap()).unwrap();
    assert_eq!(input, rec.data);
    assert_eq!(input[..4], openTradeCall::SELECTOR);
    // Real trading-contract calldata: openTrade of exactly the order, for the trader itself.
    let call = TradingCall::decode(&input).unwrap();
    let TradingAction::Open(open) = call.action else { panic!("{call:?}") };
    assert_eq!(call.on_behalf_of, None);
    assert_eq!(
        (open.t.trader, open.t.leverage, open.t.sl),
        (w.trader().address(), U256::from(100_000_000_000u64), U256::from(25_000_000_000_000u64))
    );
    assert_eq!((rec.to, rec.value), (w.router, U256::from(EXEC_FEE_WEI)));
    // The builder got the order in human units; the record carries the order as a note.
    let built: Vec<_> = w.fake.requests().into_iter().filter(|r| r.endpoint == Some(Endpoint::TradeOpen)).collect();
    assert_eq!(built.len(), 1);
    let body = built[0].body.clone().unwrap();
    assert_eq!(
        (&body["collateralUsdc"], &body["leverage"], &body["openPrice"], &body["side"], &body["stopLoss"], &body["orderType"]),
        (&json!("100"), &json!("10"), &json!("3000.5"), &json!("long"), &json!("2500"), &json!("market"))
    );
    assert!(body.get("delegate").is_none(), "the trader signs: no delegate");
    assert!(rec.notes.iter().any(|n| n.text.starts_with("vanta:direct-order:v1 ")), "{rec:?}");

    // The keeper executed it after the request was mined: the position is there, and is the fill.
    assert_eq!(w.fake.executed_calls(), vec![hash]);
    let positions = w.fake.positions(w.trader().address());
    assert_eq!(positions.len(), 1);
    assert_eq!((positions[0].pair, positions[0].index, positions[0].collateral), (0, 0, 99_550_000));
    assert_open_fill(&fill, hash);
    let listed = venue.positions(w.trader()).await.unwrap();
    assert_eq!((listed.len(), listed[0].trade_index, listed[0].sl), (1, 0, Some(Price::from_str("2500").unwrap())));

    assert_eq!(venue.lookup(&iid("direct-open-1")).await.unwrap(), Lookup::Filled(fill.clone()));
    // Another instance (cold start, same table) finds the fill from the record and positions.
    let (lease2, store2) = dynamo.parts().await;
    let other = w.venue(lease2, store2, venue_config());
    match other.lookup(&iid("direct-open-1")).await.unwrap() {
        Lookup::Filled(f) => assert_open_fill(&f, hash),
        other => panic!("{other:?}"),
    }
    assert_eq!(other.lookup(&iid("never-sent")).await.unwrap(), Lookup::NotExecuted);
}

// ---------------------------------------------------------------------------------------------
// The same reference twice: the record is resumed, nothing is sent again
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_same_reference_twice_sends_one_transaction() {
    let w = World::start().await;
    let (venue, lease, store) = w.memory_venue();
    let order = open_order(w.trader());
    let first = venue.execute(&iid("twice"), &order).await.unwrap();
    let again = venue.execute(&iid("twice"), &order).await.unwrap();
    assert_eq!(again, first);

    // A new process with the same lease and store: resumes the MINED record, rebuilds nothing.
    let cold = w.venue(lease.clone(), store.clone(), venue_config());
    let resumed = cold.execute(&iid("twice"), &order).await.unwrap();
    let hash = store.get("twice").await.unwrap().unwrap().attempts[0].hash;
    assert_open_fill(&resumed, hash);
    assert_eq!(w.fake.count(Endpoint::TradeOpen), 1, "the calldata is built once");
    assert_eq!(w.sent_transactions().await, 1, "one transaction");
    assert_eq!(w.fake.positions(w.trader().address()).len(), 1, "one position");
    assert_eq!(w.fake.executed_calls().len(), 1);

    // A close: the position goes away, but its execution price is only in the keeper's event.
    let close = VenueOrder::Close {
        trader: w.trader(),
        pair: PairIndex(0),
        trade_index: 0,
        collateral: Usdc::from_str("1000").unwrap(),
        known: None,
    };
    let err = venue.execute(&iid("close-1"), &close).await.unwrap_err();
    assert!(matches!(&err, DomainError::Ambiguous(m) if m.contains("execution price")), "{err:?}");
    assert!(w.fake.positions(w.trader().address()).is_empty());
    assert_eq!(store.get("close-1").await.unwrap().unwrap().state, TxState::Mined);
    assert_eq!(venue.lookup(&iid("close-1")).await.unwrap(), Lookup::Unknown);
    assert_eq!(w.sent_transactions().await, 2);
}

// ---------------------------------------------------------------------------------------------
// Calldata that is not for the trading contract is never signed
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn calldata_for_another_contract_is_refused_before_signing() {
    let w = World::start().await;
    let (venue, lease, store) = w.memory_venue();
    let elsewhere = Address::repeat_byte(0x66);
    w.fake.set_calldata_target(Some(elsewhere));

    let err = venue.execute(&iid("evil-to"), &open_order(w.trader())).await.unwrap_err();
    assert!(matches!(&err, DomainError::Refused(m) if m.contains("not the trading contract")), "{err:?}");
    assert_eq!(w.fake.count(Endpoint::TradeOpen), 1, "built, then refused");
    assert!(store.get("evil-to").await.unwrap().is_none(), "nothing recorded");
    assert_eq!(w.sent_transactions().await, 0, "nothing sent");
    assert_eq!(lease.free_nonces(w.trader().address()).unwrap(), Vec::<u64>::new(), "no nonce leased");
    assert_eq!(venue.lookup(&iid("evil-to")).await.unwrap(), Lookup::NotExecuted);

    // A value above the allowed maximum is refused the same way.
    w.fake.set_calldata_target(None);
    w.fake.set_execution_fee_wei(ETH);
    let err = venue.execute(&iid("evil-value"), &open_order(w.trader())).await.unwrap_err();
    assert!(matches!(&err, DomainError::Refused(m) if m.contains("wei")), "{err:?}");
    assert!(store.get("evil-value").await.unwrap().is_none());
    // So is a selector outside an allow-list.
    w.fake.set_execution_fee_wei(0);
    let strict = DirectVenueConfig { allowed_selectors: Some(vec![[0x12, 0x34, 0x56, 0x78]]), ..venue_config() };
    let venue = w.venue(lease, store.clone(), strict);
    let err = venue.execute(&iid("evil-selector"), &open_order(w.trader())).await.unwrap_err();
    assert!(matches!(&err, DomainError::Refused(m) if m.contains("selector")), "{err:?}");
    assert_eq!(w.sent_transactions().await, 0);
    assert!(w.fake.positions(w.trader().address()).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Reverts
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn reverting_calls_are_refused_and_looked_up_as_not_executed() {
    let w = World::start().await;
    let (venue, lease, store) = w.memory_venue();

    // The router reverts every trading call while paused (the calldata itself is the order's).
    set_paused(&w.p, w.router, true).await;
    // Estimated: the simulation reverts, nothing is broadcast.
    let err = venue.execute(&iid("revert-sim"), &open_order(w.trader())).await.unwrap_err();
    assert!(matches!(&err, DomainError::Refused(m) if m.contains("simulation reverted")), "{err:?}");
    let rec = store.get("revert-sim").await.unwrap().unwrap();
    assert_eq!(rec.state_path(), vec![TxState::Created, TxState::Failed]);
    assert_eq!(rec.data[..4], openTradeCall::SELECTOR);
    assert_eq!(venue.lookup(&iid("revert-sim")).await.unwrap(), Lookup::NotExecuted);
    assert_eq!(w.sent_transactions().await, 0);

    // Sent with a fixed gas limit: mined with status 0.
    let fixed = w.venue(lease.clone(), store.clone(), DirectVenueConfig { gas_limit: Some(200_000), ..venue_config() });
    let err = fixed.execute(&iid("revert-mined"), &open_order(w.trader())).await.unwrap_err();
    assert!(matches!(&err, DomainError::Refused(m) if m.contains("reverted")), "{err:?}");
    let rec = store.get("revert-mined").await.unwrap().unwrap();
    assert_eq!(rec.state_path(), vec![TxState::Created, TxState::Signed, TxState::Sent, TxState::Failed]);
    let receipt = rec.receipt.clone().unwrap();
    assert!(!receipt.success);
    assert!(!w.p.get_transaction_receipt(receipt.hash).await.unwrap().unwrap().status());
    assert_eq!(fixed.lookup(&iid("revert-mined")).await.unwrap(), Lookup::NotExecuted);
    assert_eq!(venue.lookup(&iid("revert-mined")).await.unwrap(), Lookup::NotExecuted, "from the record alone");
    // Again with the same reference: the recorded failure, nothing new is sent.
    let again = fixed.execute(&iid("revert-mined"), &open_order(w.trader())).await.unwrap_err();
    assert!(matches!(again, DomainError::Refused(_)));
    assert_eq!(w.sent_transactions().await, 1);
    let mined_in = receipt.block_number;
    w.fake.keeper_processed(mined_in, Duration::from_secs(10)).await.unwrap();
    assert!(w.fake.executed_calls().is_empty(), "the keeper ignores reverted calls");
    assert!(w.fake.positions(w.trader().address()).is_empty());

    // Resumed: the next order goes through with the next nonce.
    set_paused(&w.p, w.router, false).await;
    let fill = venue.execute(&iid("after-reverts"), &open_order(w.trader())).await.unwrap();
    let rec = store.get("after-reverts").await.unwrap().unwrap();
    assert_eq!(rec.nonce, Some(1));
    assert_open_fill(&fill, rec.attempts[0].hash);
}

// ---------------------------------------------------------------------------------------------
// Lookups and what has no calldata route
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_references_and_tpsl_without_a_route() {
    let w = World::start().await;
    let (venue, _, store) = w.memory_venue();
    assert_eq!(venue.lookup(&iid("nothing-here")).await.unwrap(), Lookup::NotExecuted);

    let tpsl = VenueOrder::UpdateTpSl {
        trader: w.trader(),
        pair: PairIndex(0),
        trade_index: 0,
        tp: None,
        sl: Some(Price::from_str("2600").unwrap()),
        known: None,
    };
    let err = venue.execute(&iid("tpsl-1"), &tpsl).await.unwrap_err();
    assert!(matches!(&err, DomainError::Refused(m) if m.contains("no calldata route")), "{err:?}");
    assert!(store.get("tpsl-1").await.unwrap().is_none());
    assert_eq!(w.sent_transactions().await, 0);

    // Closing what is not open: not found, nothing built or sent.
    let close = VenueOrder::Close {
        trader: w.trader(),
        pair: PairIndex(0),
        trade_index: 3,
        collateral: Usdc::from_str("10").unwrap(),
        known: None,
    };
    assert!(matches!(venue.execute(&iid("close-none"), &close).await, Err(DomainError::NotFound(_))));
    assert_eq!(w.fake.count(Endpoint::TradeClose), 0);
    assert_eq!(w.sent_transactions().await, 0);
    // With the intent route configured, TP/SL updates go there (signed intent, core PUT); no
    // transaction is sent for them.
    let intents = AvantisVenue::from_config(avantis_config(&w.fake), Arc::new(w.signer.clone())).unwrap();
    let (lease, store) = (Arc::new(MemoryNonceLease::new(clock())), Arc::new(MemoryTxStore::new()));
    let routed = w.venue(lease, store.clone(), venue_config()).with_tpsl_route(Arc::new(intents));
    routed.execute(&iid("open-for-tpsl"), &open_order(w.trader())).await.unwrap();
    let f = routed.execute(&iid("tpsl-2"), &tpsl).await.unwrap();
    assert_eq!((f.pair, f.trade_index), (PairIndex(0), 0));
    assert_eq!(w.fake.positions(w.trader().address())[0].sl, 26_000_000_000_000);
    assert!(store.get("tpsl-2").await.unwrap().is_none());
    assert_eq!(w.sent_transactions().await, 1, "only the open");
}

// ---------------------------------------------------------------------------------------------
// A delegate's key; a keeper that does not execute (Ambiguous), executed later (lookup)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_delegate_sends_for_the_trader_and_a_late_execution_is_found_by_lookup() {
    let w = World::start().await;
    let (venue, _, store) = w.memory_venue();
    let delegate = w.signer.address().address();
    let expiry = u64::try_from(SystemClock.now().secs()).unwrap() + 3_600;

    // The key is an active delegate of the trader: the builder is asked to wrap the call, the
    // transaction is the delegate's, the position the trader's.
    let trader = TraderAddress::new(Address::repeat_byte(0x11)).unwrap();
    w.fake.set_delegate(trader.address(), delegate, true, expiry);
    let fill = venue.execute(&iid("delegated"), &open_order(trader)).await.unwrap();
    let rec = store.get("delegated").await.unwrap().unwrap();
    assert_eq!(rec.from, delegate);
    assert_open_fill(&fill, rec.attempts[0].hash);
    let body = w.fake.requests().into_iter().find(|r| r.endpoint == Some(Endpoint::TradeOpen)).unwrap().body.unwrap();
    assert_eq!(body["trader"], json!(trader.address().to_checksum(None)));
    assert_eq!(body["delegate"], json!(delegate.to_checksum(None)));
    assert_eq!(w.fake.positions(trader.address()).len(), 1);

    // Not a delegate of this one: refused before anything is built or signed.
    let stranger = TraderAddress::new(Address::repeat_byte(0x22)).unwrap();
    let quick = w.venue(
        Arc::new(MemoryNonceLease::new(clock())),
        store.clone(),
        DirectVenueConfig { fill_timeout: Duration::from_secs(1), ..venue_config() },
    );
    let refused = quick.execute(&iid("not-a-delegate"), &open_order(stranger)).await.unwrap_err();
    assert!(matches!(&refused, DomainError::Forbidden(m) if m.contains("not enabled")), "{refused:?}");
    assert!(store.get("not-a-delegate").await.unwrap().is_none(), "nothing was sent");

    // A delegate, but the venue has not acted: the request is mined, the keeper does not execute it.
    w.fake.set_delegate(stranger.address(), delegate, true, expiry);
    w.fake.pause_keeper(true);
    let err = quick.execute(&iid("not-executed"), &open_order(stranger)).await.unwrap_err();
    assert!(matches!(&err, DomainError::Ambiguous(m) if m.contains("did not show")), "{err:?}");
    assert_eq!(quick.lookup(&iid("not-executed")).await.unwrap(), Lookup::Unknown);

    // The keeper executes it late (reported by hand here, at the request's block time).
    let rec = store.get("not-executed").await.unwrap().unwrap();
    assert_eq!(rec.state, TxState::Mined);
    let receipt = rec.receipt.clone().unwrap();
    let block = w.p.get_block_by_number(receipt.block_number.into()).await.unwrap().unwrap();
    w.fake.pause_keeper(false);
    assert!(w.fake.report_mined_call(receipt.hash, delegate, w.router, &rec.data, block.header.timestamp).unwrap());
    assert!(!w.fake.report_mined_call(receipt.hash, delegate, w.router, &rec.data, block.header.timestamp).unwrap(), "once");
    match quick.lookup(&iid("not-executed")).await.unwrap() {
        Lookup::Filled(f) => assert_open_fill(&f, receipt.hash),
        other => panic!("{other:?}"),
    }
    // And a retry of the reference now returns that fill, sending nothing.
    let retried = quick.execute(&iid("not-executed"), &open_order(stranger)).await.unwrap();
    assert_open_fill(&retried, receipt.hash);
    assert_eq!(w.sent_transactions().await, 2);
    assert_eq!(w.fake.count(Endpoint::TradeOpen), 2);
}

// ---------------------------------------------------------------------------------------------
// Calldata that differs from the order is never signed (the trading contract's ABI)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn direct_route_calldata_that_differs_from_the_request_is_not_signed_on_anvil() {
    let w = World::start().await;
    let (venue, lease, store) = w.memory_venue();
    let open_tampers = [
        (CalldataTamper::Pair, "pair"),
        (CalldataTamper::Side, "side"),
        (CalldataTamper::Collateral, "collateral"),
        (CalldataTamper::Leverage, "leverage"),
        (CalldataTamper::OpenPrice, "open price"),
        (CalldataTamper::Slippage, "slippage"),
        (CalldataTamper::TakeProfit, "take profit"),
        (CalldataTamper::StopLoss, "stop loss"),
        (CalldataTamper::Trader, "trader"),
        (CalldataTamper::OrderType, "order type"),
        (CalldataTamper::DelegatedFor, "delegatedAction"),
        (CalldataTamper::Selector, "0xdeadbeef"),
    ];
    for (i, (tamper, field)) in open_tampers.into_iter().enumerate() {
        w.fake.tamper_next_calldata(tamper);
        let id = format!("tampered-open-{i}");
        let err = venue.execute(&iid(&id), &open_order(w.trader())).await.unwrap_err();
        assert!(matches!(&err, DomainError::Refused(m) if m.contains(field) && m.contains("not signed")), "{tamper:?}: {err:?}");
        assert!(store.get(&id).await.unwrap().is_none(), "{tamper:?}: nothing recorded");
        assert_eq!(venue.lookup(&iid(&id)).await.unwrap(), Lookup::NotExecuted);
    }
    assert_eq!(w.fake.count(Endpoint::TradeOpen), open_tampers.len(), "each was built, then refused");
    assert_eq!(w.sent_transactions().await, 0, "nothing signed or sent");
    assert_eq!(lease.free_nonces(w.trader().address()).unwrap(), Vec::<u64>::new(), "no nonce leased");

    // The honest calldata still goes through; then a close whose calldata is tampered with.
    venue.execute(&iid("honest-open"), &open_order(w.trader())).await.unwrap();
    let close = VenueOrder::Close {
        trader: w.trader(),
        pair: PairIndex(0),
        trade_index: 0,
        collateral: Usdc::from_str("10").unwrap(),
        known: None,
    };
    for (i, (tamper, field)) in
        [(CalldataTamper::Pair, "pair"), (CalldataTamper::TradeIndex, "trade index"), (CalldataTamper::Collateral, "collateral to close")]
            .into_iter()
            .enumerate()
    {
        w.fake.tamper_next_calldata(tamper);
        let id = format!("tampered-close-{i}");
        let err = venue.execute(&iid(&id), &close).await.unwrap_err();
        assert!(matches!(&err, DomainError::Refused(m) if m.contains(field)), "{tamper:?}: {err:?}");
        assert!(store.get(&id).await.unwrap().is_none());
    }
    assert_eq!(w.sent_transactions().await, 1, "only the honest open");
    assert_eq!(w.fake.positions(w.trader().address())[0].collateral, 99_550_000, "untouched");
}
