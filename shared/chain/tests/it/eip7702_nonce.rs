//! The EIP-7702 authorisation of a market order's leg is signed over the signer's account nonce,
//! read over RPC as the official client does (`eth_getTransactionCount(signer, "pending")`), on
//! anvil: an authority with account nonce 3 authorises with nonce 3; an RPC failure signs nothing;
//! without a nonce source a delegate key signs over 0.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, Signature, U256, address};
use alloy::providers::Provider;
use async_trait::async_trait;
use serde_json::Value;
use vanta_chain::avantis::eip7702::{AuthorityNonce, RpcAuthorityNonce, authorization_digest};
use vanta_chain::avantis::{AvantisConfig, AvantisVenue};
use vanta_chain::signer::{LocalKeySigner, recover_address};
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::{PairIndex, Side};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{Signer, Venue, VenueOrder};
use vanta_testkit::anvil::Anvil;
use vanta_testkit::fake_avantis::{Endpoint, FAKE_CHAIN_ID, FakeAvantis};

const TRADER: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

/// A delegate key that counts its signatures.
struct Counting {
    inner: LocalKeySigner,
    calls: AtomicUsize,
}

#[async_trait]
impl Signer for Counting {
    fn address(&self) -> TraderAddress {
        self.inner.address()
    }
    async fn sign_digest(&self, digest: B256) -> DomainResult<Signature> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Signer::sign_digest(&self.inner, digest).await
    }
}

fn delegate() -> Arc<Counting> {
    Arc::new(Counting { inner: LocalKeySigner::random().unwrap(), calls: AtomicUsize::new(0) })
}

fn config(fake: &FakeAvantis) -> AvantisConfig {
    let u = fake.urls();
    let mut cfg = AvantisConfig::new(u.tx_builder, u.batched_market, u.core, u.data, FAKE_CHAIN_ID);
    cfg.connect_timeout = Duration::from_secs(1);
    cfg.request_timeout = Duration::from_secs(2);
    cfg.status_poll_interval = Duration::from_millis(50);
    cfg.retry_backoff = Duration::from_millis(10);
    cfg
}

fn far() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 86_400
}

fn open() -> VenueOrder {
    VenueOrder::Open {
        trader: TraderAddress::new(TRADER).unwrap(),
        pair: PairIndex(0),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(10).unwrap(),
        reference_price: Price::from_str("3000").unwrap(),
        slippage: PercentP::from_str("1").unwrap(),
        tp: None,
        sl: None,
    }
}

async fn set_nonce(anvil: &Anvil, who: Address, nonce: u64) {
    let provider = vanta_chain::rpc::provider(&anvil.endpoint).unwrap();
    let _: Value = provider.raw_request("anvil_setNonce".into(), (who, U256::from(nonce))).await.unwrap();
}

#[tokio::test]
async fn the_authorisation_carries_the_authoritys_account_nonce_read_over_rpc() {
    let anvil = Anvil::start().await.unwrap();
    let fake = FakeAvantis::start().await.unwrap();
    let key = delegate();
    let me = Signer::address(key.as_ref()).address();
    set_nonce(&anvil, me, 3).await;
    let nonces = Arc::new(RpcAuthorityNonce::new(vanta_chain::rpc::provider(&anvil.endpoint).unwrap(), Duration::from_secs(2)));
    assert_eq!(nonces.account_nonce(me).await.unwrap(), 3);
    assert_eq!(nonces.account_nonce(Address::repeat_byte(0x42)).await.unwrap(), 0, "a fresh key: 0");

    fake.set_delegate(TRADER, me, true, far());
    let venue = AvantisVenue::from_config(config(&fake), key.clone()).unwrap().with_authority_nonces(nonces);
    venue.execute(&IntentId::parse("open-7702").unwrap(), &open()).await.unwrap();
    let sent: Vec<Value> =
        fake.requests().into_iter().filter(|r| r.endpoint == Some(Endpoint::ExecuteBatched)).filter_map(|r| r.body).collect();
    assert_eq!(sent.len(), 1);
    let auth = &sent[0]["eip7702"]["authorizationList"][0];
    assert_eq!(auth["nonce"], Value::from("3"));
    // Signed by the authority over nonce 3 (not 0).
    let r = U256::from_str(auth["r"].as_str().unwrap()).unwrap();
    let s = U256::from_str(auth["s"].as_str().unwrap()).unwrap();
    let sig = Signature::new(r, s, auth["yParity"].as_u64().unwrap() == 1);
    let template = Address::from_str(auth["address"].as_str().unwrap()).unwrap();
    assert_eq!(recover_address(authorization_digest(FAKE_CHAIN_ID, template, 3), &sig).unwrap(), me);
    assert_ne!(recover_address(authorization_digest(FAKE_CHAIN_ID, template, 0), &sig).ok(), Some(me));
}

#[tokio::test]
async fn an_rpc_failure_signs_nothing() {
    let fake = FakeAvantis::start().await.unwrap();
    let key = delegate();
    let me = Signer::address(key.as_ref()).address();
    fake.set_delegate(TRADER, me, true, far());
    // Nothing listens there.
    let nowhere = Arc::new(RpcAuthorityNonce::new(vanta_chain::rpc::provider("http://127.0.0.1:9").unwrap(), Duration::from_secs(2)));
    let venue = AvantisVenue::from_config(config(&fake), key.clone()).unwrap().with_authority_nonces(nowhere);
    let err = venue.execute(&IntentId::parse("open-no-rpc").unwrap(), &open()).await.unwrap_err();
    assert!(matches!(&err, DomainError::Unavailable(m) if m.contains("EIP-7702") && m.contains("nothing was signed")), "{err:?}");
    assert!(!err.to_string().contains("127.0.0.1"), "the endpoint is never repeated: {err}");
    assert_eq!(key.calls.load(Ordering::SeqCst), 0, "no signature at all");
    assert_eq!(fake.submissions(), 0, "nothing reached the venue");
}

#[tokio::test]
async fn without_a_nonce_source_a_delegate_key_signs_over_zero() {
    let fake = FakeAvantis::start().await.unwrap();
    // A delegate key never sends a transaction on the relayer route: its account nonce is 0.
    let key = delegate();
    let d = Signer::address(key.as_ref()).address();
    fake.set_delegate(TRADER, d, true, far());
    let venue = AvantisVenue::from_config(config(&fake), key.clone()).unwrap();
    venue.execute(&IntentId::parse("open-delegate-0").unwrap(), &open()).await.unwrap();
    let sent: Vec<Value> =
        fake.requests().into_iter().filter(|r| r.endpoint == Some(Endpoint::ExecuteBatched)).filter_map(|r| r.body).collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["eip7702"]["authorizationList"][0]["nonce"], Value::from("0"));
}
