//! The direct route states each transaction's purpose, so the exec-mode gate in front of the
//! key (see `vanta_app::gate`) refuses a new entry under an emergency stop while a close is still
//! signed and sent: here a stand-in gate reads the stated purpose the way the Lambda's does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::consensus::SignableTransaction;
use alloy::network::TxSigner;
use alloy::primitives::{Address, B256, Bytes, Signature, U256};
use alloy::providers::{DynProvider, Provider};
use secrecy::SecretString;
use serde_json::{Value, json};
use vanta_chain::avantis::{AvantisClient, AvantisConfig};
use vanta_chain::direct::venue::{DirectVenue, DirectVenueConfig};
use vanta_chain::direct::{DirectCall, DirectConfig, DirectSender, TxState};
use vanta_chain::signer::{LocalKeySigner, tx_purpose};
use vanta_domain::direct::{MemoryNonceLease, MemoryTxStore};
use vanta_domain::error::DomainError;
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::{PairIndex, Side};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{Purpose, Venue, VenueOrder};
use vanta_domain::time::{Clock, SystemClock};
use vanta_testkit::anvil::{Anvil, DEV_ADDRESS, DEV_KEY};
use vanta_testkit::fake_avantis::{FAKE_CHAIN_ID, FakeAvantis};

const GWEI: u128 = 1_000_000_000;
const ETH: u128 = 1_000_000_000_000_000_000;
const ROUTER_ARTIFACT: &str = include_str!("../contracts/FakeTradingRouter.json");

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn direct_config() -> DirectConfig {
    let mut c = DirectConfig::new(FAKE_CHAIN_ID);
    c.max_fee_cap = 100 * GWEI;
    c.min_priority_fee = GWEI;
    c.poll_interval = Duration::from_millis(100);
    c.replace_after = Duration::from_secs(30);
    c.track_timeout = Duration::from_secs(30);
    c
}

fn venue_config() -> DirectVenueConfig {
    DirectVenueConfig {
        fill_timeout: Duration::from_secs(10),
        fill_poll_interval: Duration::from_millis(100),
        ..DirectVenueConfig::default()
    }
}

fn avantis_config(fake: &FakeAvantis) -> AvantisConfig {
    let u = fake.urls();
    let mut cfg = AvantisConfig::new(u.tx_builder, u.batched_market, u.core, u.data, FAKE_CHAIN_ID);
    cfg.connect_timeout = Duration::from_secs(1);
    cfg.request_timeout = Duration::from_secs(2);
    cfg.retry_backoff = Duration::from_millis(10);
    cfg
}

async fn wait_receipt(p: &DynProvider, hash: B256) -> alloy::rpc::types::TransactionReceipt {
    for _ in 0..100 {
        if let Some(r) = p.get_transaction_receipt(hash).await.unwrap() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no receipt for {hash}");
}

/// Deploys the test router from anvil's (unlocked) dev account.
async fn deploy_router(p: &DynProvider) -> Address {
    let artifact: Value = serde_json::from_str(ROUTER_ARTIFACT).unwrap();
    let code = artifact["bytecode"].as_str().unwrap();
    let deploy = json!({"from": DEV_ADDRESS, "data": code, "gas": "0x100000"});
    let hash: B256 = p.raw_request("eth_sendTransaction".into(), (deploy,)).await.unwrap();
    let router = wait_receipt(p, hash).await.contract_address.unwrap();
    let runtime = artifact["deployedBytecode"].as_str().unwrap();
    assert_eq!(p.get_code_at(router).await.unwrap(), Bytes::from_str(runtime).unwrap());
    router
}

/// A fresh key funded with 10 ETH by the dev account.
async fn funded_signer(p: &DynProvider) -> LocalKeySigner {
    let dev = LocalKeySigner::from_secret_hex(&SecretString::from(DEV_KEY)).unwrap().with_chain_id(Some(FAKE_CHAIN_ID));
    let signer = LocalKeySigner::random().unwrap().with_chain_id(Some(FAKE_CHAIN_ID));
    let to = signer.address().address();
    let funder = DirectSender::new(
        p.clone(),
        dev,
        Arc::new(MemoryNonceLease::new(clock())),
        Arc::new(MemoryTxStore::new()),
        clock(),
        direct_config(),
    );
    let out = funder.send(&format!("fund-{to}"), &DirectCall::new(to, Bytes::new(), U256::from(10 * ETH))).await.unwrap();
    assert_eq!(out.state, TxState::Mined, "{out:?}");
    signer
}

/// A key behind a stand-in gate: records the purpose stated around each signature and, while
/// `stopped`, refuses entries.
struct StopGate {
    inner: LocalKeySigner,
    stopped: AtomicBool,
    seen: Mutex<Vec<Purpose>>,
}

#[async_trait::async_trait]
impl TxSigner<Signature> for StopGate {
    fn address(&self) -> Address {
        self.inner.address().address()
    }
    async fn sign_transaction(&self, tx: &mut dyn SignableTransaction<Signature>) -> alloy::signers::Result<Signature> {
        let purpose = tx_purpose();
        self.seen.lock().unwrap().push(purpose);
        if purpose == Purpose::Entry && self.stopped.load(Ordering::SeqCst) {
            return Err(alloy::signers::Error::other(DomainError::Refused("not signed: emergency stop".into())));
        }
        TxSigner::sign_transaction(&self.inner, tx).await
    }
}

fn open_order(trader: TraderAddress) -> VenueOrder {
    VenueOrder::Open {
        trader,
        pair: PairIndex(0),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(10).unwrap(),
        reference_price: Price::from_str("3000.5").unwrap(),
        slippage: PercentP::from_str("1").unwrap(),
        tp: None,
        sl: None,
    }
}

#[tokio::test]
async fn under_a_stop_the_direct_route_signs_closes_and_no_new_entry() {
    let anvil = Anvil::start().await.unwrap();
    let p = DirectSender::http_provider(&anvil.endpoint).unwrap();
    let router = deploy_router(&p).await;
    let key = funded_signer(&p).await;
    let trader = key.address();
    let fake = FakeAvantis::start().await.unwrap();
    fake.set_trading_router(router);
    fake.start_keeper(&anvil.endpoint).await.unwrap();
    let gate = Arc::new(StopGate { inner: key, stopped: AtomicBool::new(false), seen: Mutex::new(Vec::new()) });
    let client = AvantisClient::new(avantis_config(&fake)).unwrap();
    let venue = DirectVenue::new(
        client,
        p.clone(),
        SharedGate(gate.clone()),
        Arc::new(MemoryNonceLease::new(clock())),
        Arc::new(MemoryTxStore::new()),
        clock(),
        direct_config(),
    )
    .with_config(venue_config());
    let id = |s: &str| IntentId::parse(s).unwrap();

    venue.execute(&id("open-1"), &open_order(trader)).await.unwrap();
    assert_eq!(*gate.seen.lock().unwrap(), [Purpose::Entry]);

    gate.stopped.store(true, Ordering::SeqCst);
    let err = venue.execute(&id("open-2"), &open_order(trader)).await.unwrap_err();
    assert!(err.to_string().contains("emergency stop"), "{err}");
    assert_eq!(p.get_transaction_count(trader.address()).await.unwrap(), 1, "the refused entry was never sent");

    let close = VenueOrder::Close { trader, pair: PairIndex(0), trade_index: 0, collateral: Usdc::from_str("1000").unwrap(), known: None };
    // The close is mined; its fill price is only in the keeper's event (ambiguous here, as in
    // the route's own tests), and the position is gone.
    let _ = venue.execute(&id("close-1"), &close).await;
    assert!(fake.positions(trader.address()).is_empty(), "closed under the stop");
    assert_eq!(p.get_transaction_count(trader.address()).await.unwrap(), 2);
    assert_eq!(*gate.seen.lock().unwrap(), [Purpose::Entry, Purpose::Entry, Purpose::Exit]);
}

/// The gate shared with the test (the venue takes its signer by value).
struct SharedGate(Arc<StopGate>);

#[async_trait::async_trait]
impl TxSigner<Signature> for SharedGate {
    fn address(&self) -> Address {
        TxSigner::address(&*self.0)
    }
    async fn sign_transaction(&self, tx: &mut dyn SignableTransaction<Signature>) -> alloy::signers::Result<Signature> {
        self.0.sign_transaction(tx).await
    }
}
