//! The direct route states each transaction's purpose, so the exec-mode gate in front of the
//! key (see `vanta_app::gate`) refuses a new entry under an emergency stop while a close is still
//! signed and sent: here a stand-in gate reads the stated purpose the way the Lambda's does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use alloy::consensus::SignableTransaction;
use alloy::network::TxSigner;
use alloy::primitives::{Address, Signature};
use alloy::providers::Provider;
use vanta_chain::avantis::AvantisClient;
use vanta_chain::direct::DirectSender;
use vanta_chain::direct::venue::DirectVenue;
use vanta_chain::signer::{LocalKeySigner, tx_purpose};
use vanta_domain::direct::{MemoryNonceLease, MemoryTxStore};
use vanta_domain::error::DomainError;
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::PairIndex;
use vanta_domain::money::Usdc;
use vanta_domain::ports::{Purpose, Venue, VenueOrder};
use vanta_testkit::anvil::Anvil;
use vanta_testkit::fake_avantis::FakeAvantis;

use crate::support::{avantis_config, clock, deploy_router, direct_config, eth_long, funded_signer, venue_config};

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
    eth_long(trader, "100", None)
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
