//! Fixtures shared by the chain's integration tests: the fake venue's client settings, anvil
//! with the test router and funded keys, moto's table for the direct route's lease and records,
//! a counting signer, and bounded waits (a poll with a deadline, never a guessed sleep).

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, Signature, U256};
use alloy::providers::{DynProvider, Provider};
use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use secrecy::SecretString;
use serde_json::{Value, json};
use vanta_aws::direct::{DynamoNonceLease, DynamoTxStore};
use vanta_chain::avantis::AvantisConfig;
use vanta_chain::direct::venue::DirectVenueConfig;
use vanta_chain::direct::{DirectCall, DirectConfig, DirectSender, NonceLease, TxState, TxStore};
use vanta_chain::eip712::AvantisDomain;
use vanta_chain::signer::LocalKeySigner;
use vanta_domain::direct::{MemoryNonceLease, MemoryTxStore};
use vanta_domain::error::DomainResult;
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::{PairIndex, Side};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{Signer, VenueOrder};
use vanta_domain::time::{Clock, SystemClock};
use vanta_testkit::anvil::{DEV_ADDRESS, DEV_KEY};
use vanta_testkit::fake_avantis::{FAKE_CHAIN_ID, FakeAvantis};
use vanta_testkit::moto::Moto;

pub const GWEI: u128 = 1_000_000_000;
pub const ETH: u128 = 1_000_000_000_000_000_000;
/// The compiled test router (solc-js; see `contracts/compile.cjs`).
pub const ROUTER_ARTIFACT: &str = include_str!("../contracts/FakeTradingRouter.json");

pub fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

pub fn iid(s: &str) -> IntentId {
    IntentId::parse(s).unwrap()
}

/// The EIP-712 domain of a golden-vector file (`{"domain": {name, version, chainId, verifyingContract}}`).
pub fn vector_domain(vectors: &Value) -> AvantisDomain {
    let d = &vectors["domain"];
    AvantisDomain::new(
        d["name"].as_str().unwrap(),
        d["version"].as_str().unwrap(),
        d["chainId"].as_u64().unwrap(),
        Address::from_str(d["verifyingContract"].as_str().unwrap()).unwrap(),
    )
}

/// A 10× long on pair 0 (ETH/USD) at 3000.5 with 1 % slippage, no take-profit.
pub fn eth_long(trader: TraderAddress, collateral: &str, sl: Option<&str>) -> VenueOrder {
    VenueOrder::Open {
        trader,
        pair: PairIndex(0),
        side: Side::Long,
        collateral: Usdc::from_str(collateral).unwrap(),
        leverage: Leverage::from_whole(10).unwrap(),
        reference_price: Price::from_str("3000.5").unwrap(),
        slippage: PercentP::from_str("1").unwrap(),
        tp: None,
        sl: sl.map(|p| Price::from_str(p).unwrap()),
    }
}

// ---------------------------------------------------------------------------------------------
// Bounded waits
// ---------------------------------------------------------------------------------------------

/// Asks `probe` every `every` until it answers `Some`, for at most `within` (then `None`). The
/// interval is how often to look, not a guess at how long the thing takes.
pub async fn poll<T, Fut: Future<Output = Option<T>>>(within: Duration, every: Duration, mut probe: impl FnMut() -> Fut) -> Option<T> {
    tokio::time::timeout(within, async {
        loop {
            if let Some(v) = probe().await {
                return v;
            }
            tokio::time::sleep(every).await;
        }
    })
    .await
    .ok()
}

/// The receipt of `hash`, waited for at most 5 s.
pub async fn wait_receipt(p: &DynProvider, hash: B256) -> alloy::rpc::types::TransactionReceipt {
    poll(Duration::from_secs(5), Duration::from_millis(50), || async { p.get_transaction_receipt(hash).await.unwrap() })
        .await
        .unwrap_or_else(|| panic!("no receipt for {hash}"))
}

// ---------------------------------------------------------------------------------------------
// The fake venue's client
// ---------------------------------------------------------------------------------------------

/// A client of the fake venue with short timeouts.
pub fn avantis_config(fake: &FakeAvantis) -> AvantisConfig {
    let u = fake.urls();
    let mut cfg = AvantisConfig::new(u.tx_builder, u.batched_market, u.core, u.data, FAKE_CHAIN_ID);
    cfg.connect_timeout = Duration::from_secs(1);
    cfg.request_timeout = Duration::from_secs(2);
    cfg.retry_backoff = Duration::from_millis(10);
    cfg
}

/// The relayer route's client: [`avantis_config`] with quick request, stream and status waits
/// (the tests drive timeouts and stalls).
pub fn relayer_config(fake: &FakeAvantis) -> AvantisConfig {
    let mut cfg = avantis_config(fake);
    cfg.request_timeout = Duration::from_millis(700);
    cfg.sse_idle_timeout = Duration::from_secs(2);
    cfg.status_poll_interval = Duration::from_millis(50);
    cfg.status_poll_timeout = Duration::from_secs(3);
    cfg
}

/// A signer that counts its calls.
pub struct CountingSigner {
    inner: LocalKeySigner,
    calls: AtomicUsize,
}

impl CountingSigner {
    pub fn new(inner: LocalKeySigner) -> Arc<Self> {
        Arc::new(Self { inner, calls: AtomicUsize::new(0) })
    }
    /// The signer of a (public test) key in hex.
    pub fn from_key(key: &str) -> Arc<Self> {
        Self::new(LocalKeySigner::from_secret_hex(&SecretString::from(key.to_owned())).unwrap())
    }
    /// anvil's dev key.
    pub fn dev() -> Arc<Self> {
        Self::from_key(DEV_KEY)
    }
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Signer for CountingSigner {
    fn address(&self) -> TraderAddress {
        self.inner.address()
    }
    async fn sign_digest(&self, digest: B256) -> DomainResult<Signature> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Signer::sign_digest(&self.inner, digest).await
    }
}

// ---------------------------------------------------------------------------------------------
// The direct route on anvil
// ---------------------------------------------------------------------------------------------

pub fn direct_config() -> DirectConfig {
    let mut c = DirectConfig::new(FAKE_CHAIN_ID);
    c.max_fee_cap = 100 * GWEI;
    c.min_priority_fee = GWEI;
    c.poll_interval = Duration::from_millis(100);
    c.replace_after = Duration::from_secs(30);
    c.track_timeout = Duration::from_secs(30);
    c
}

pub fn venue_config() -> DirectVenueConfig {
    DirectVenueConfig {
        fill_timeout: Duration::from_secs(10),
        fill_poll_interval: Duration::from_millis(100),
        ..DirectVenueConfig::default()
    }
}

/// Deploys the test router from anvil's (unlocked) dev account.
pub async fn deploy_router(p: &DynProvider) -> Address {
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
pub async fn funded_signer(p: &DynProvider) -> LocalKeySigner {
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

// ---------------------------------------------------------------------------------------------
// DynamoDB (moto) for the lease and the records
// ---------------------------------------------------------------------------------------------

/// moto with one table of the single-table design.
///
/// moto's threaded server does not make each DynamoDB request atomic: a conditional write's
/// check and write can interleave with another request's, and a cancelled `TransactWriteItems`
/// restores a snapshot of the whole table taken before it, undoing writes that other requests
/// committed meanwhile (moto 5.2 `dynamodb/models/__init__.py::transact_write_items`). Real
/// DynamoDB is atomic per request, so for the concurrency test moto runs with its WSGI app
/// behind a lock: requests still arrive concurrently (threaded server, keep-alive), but each one
/// executes alone.
pub struct Dynamo {
    _moto: Moto,
    pub endpoint: String,
    pub table: String,
}

static TABLES: AtomicU32 = AtomicU32::new(0);

impl Dynamo {
    /// A new moto and table `<prefix>-<pid>-<n>`.
    pub async fn start(prefix: &str) -> Self {
        let moto = Moto::start().await.unwrap();
        let endpoint = moto.endpoint.clone();
        let table = format!("{prefix}-{}-{}", std::process::id(), TABLES.fetch_add(1, Ordering::SeqCst));
        vanta_aws::dynamo::create_table(&Self::client_for(&endpoint).await, &table).await.unwrap();
        Self { _moto: moto, endpoint, table }
    }

    pub async fn client_for(endpoint: &str) -> aws_sdk_dynamodb::Client {
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .load()
            .await;
        aws_sdk_dynamodb::Client::new(&conf)
    }

    /// A new client, as a separate Lambda instance would have.
    pub async fn client(&self) -> aws_sdk_dynamodb::Client {
        Self::client_for(&self.endpoint).await
    }

    /// A lease and a store with their own client, as a separate Lambda instance has.
    pub async fn parts(&self) -> (Arc<dyn NonceLease>, Arc<dyn TxStore>) {
        let client = self.client().await;
        (
            Arc::new(DynamoNonceLease::new(client.clone(), self.table.clone(), clock())),
            Arc::new(DynamoTxStore::new(client, self.table.clone())),
        )
    }
}
