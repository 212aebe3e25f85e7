//! The direct route on anvil: nonce leases shared through DynamoDB (moto), receipts,
//! replace-by-fee under a cap, reverts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256, address};
use alloy::providers::{DynProvider, Provider};
use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::{Value, json};
use vanta_aws::direct::{DynamoNonceLease, DynamoTxStore};
use vanta_chain::direct::{DirectCall, DirectConfig, DirectSender, Lease, NonceLease, TxRecord, TxState, TxStore};
use vanta_chain::signer::LocalKeySigner;
use vanta_domain::direct::{MemoryNonceLease, MemoryTxStore};
use vanta_domain::error::DomainResult;
use vanta_domain::time::{ManualClock, Timestamp};
use vanta_testkit::anvil::{Anvil, AnvilOptions, DEV_ADDRESS, DEV_KEY};

use crate::support::{Dynamo, ETH, GWEI, clock, direct_config, wait_receipt};

const CHAIN_ID: u64 = 31337;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn provider(anvil: &Anvil) -> DynProvider {
    DirectSender::http_provider(&anvil.endpoint).unwrap()
}

/// [`direct_config`] (anvil's chain id) with a longer tracking budget.
fn config() -> DirectConfig {
    let mut c = direct_config();
    assert_eq!(c.chain_id, CHAIN_ID);
    c.track_timeout = Duration::from_secs(60);
    c
}

/// A fresh key, funded with 10 ETH from anvil's dev account (sent by a `DirectSender` with the
/// well-known dev key; blocks are mined by hand too, in case automine is off).
async fn funded_signer(p: &DynProvider) -> LocalKeySigner {
    let dev = LocalKeySigner::from_secret_hex(&SecretString::from(DEV_KEY)).unwrap().with_chain_id(Some(CHAIN_ID));
    assert_eq!(dev.address().address(), DEV_ADDRESS.parse::<Address>().unwrap());
    let signer = LocalKeySigner::random().unwrap().with_chain_id(Some(CHAIN_ID));
    let to = signer.address().address();
    let funder =
        DirectSender::new(p.clone(), dev, Arc::new(MemoryNonceLease::new(clock())), Arc::new(MemoryTxStore::new()), clock(), config());
    let id = format!("fund-{to}");
    let mut send = tokio::spawn(async move { funder.send(&id, &transfer(to, 10 * ETH)).await });
    let out = loop {
        tokio::select! {
            out = &mut send => break out.unwrap().unwrap(),
            // Not a wait: while the send runs, a block is mined every 200 ms (automine may be off).
            _ = tokio::time::sleep(Duration::from_millis(200)) => mine(p).await,
        }
    };
    assert_eq!(out.state, TxState::Mined, "{out:?}");
    assert_eq!(p.get_balance(to).await.unwrap(), U256::from(10 * ETH));
    signer
}

async fn mine(p: &DynProvider) {
    let _: Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
}

/// Polls the store until `f` holds for the record.
async fn wait_for(store: &dyn TxStore, id: &str, what: &str, f: impl Fn(&TxRecord) -> bool) -> TxRecord {
    let seen = crate::support::poll(Duration::from_secs(20), Duration::from_millis(50), || async {
        store.get(id).await.unwrap().filter(|r| f(r))
    })
    .await;
    match seen {
        Some(r) => r,
        None => panic!("{id}: timed out waiting for {what}: {:?}", store.get(id).await.unwrap()),
    }
}

/// A plain account (not a precompile: those are the low addresses).
fn recipient(n: u8) -> Address {
    let mut bytes = [0x77u8; 20];
    bytes[19] = n;
    Address::from(bytes)
}

fn transfer(to: Address, wei: u128) -> DirectCall {
    DirectCall::new(to, Bytes::new(), U256::from(wei))
}

// ---------------------------------------------------------------------------------------------
// (a) Many instances, one address, one DynamoDB lease
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_sends_from_four_instances_get_contiguous_nonces() {
    let anvil = Anvil::start().await.unwrap();
    let dynamo = Dynamo::start("vanta-direct").await;
    let signer = funded_signer(&provider(&anvil)).await;
    let from = signer.address().address();

    let mut instances = tokio::task::JoinSet::new();
    for instance in 0..4u32 {
        // Each "Lambda instance" has its own provider, DynamoDB client, lease and store objects;
        // only the table is shared.
        let client = dynamo.client().await;
        let lease: Arc<dyn NonceLease> = Arc::new(DynamoNonceLease::new(client.clone(), dynamo.table.clone(), clock()));
        let store: Arc<dyn TxStore> = Arc::new(DynamoTxStore::new(client, dynamo.table.clone()));
        let sender = Arc::new(DirectSender::new(provider(&anvil), signer.clone(), lease, store, clock(), config()));
        sender.check_chain().await.unwrap();
        instances.spawn(async move {
            let mut sends = tokio::task::JoinSet::new();
            for k in 0..5u32 {
                let sender = sender.clone();
                sends.spawn(async move {
                    let id = format!("i{instance}-k{k}");
                    let to = recipient(u8::try_from(instance * 5 + k + 1).unwrap());
                    let out = sender.send(&id, &transfer(to, 1_000 + u128::from(k))).await.unwrap();
                    (id, out)
                });
            }
            let mut outs = Vec::new();
            while let Some(r) = sends.join_next().await {
                outs.push(r.unwrap());
            }
            outs
        });
    }
    let mut outcomes = Vec::new();
    while let Some(r) = instances.join_next().await {
        outcomes.extend(r.unwrap());
    }
    assert_eq!(outcomes.len(), 20);

    let store = DynamoTxStore::new(dynamo.client().await, dynamo.table.clone());
    let mut nonces = BTreeSet::new();
    for (id, out) in &outcomes {
        assert_eq!(out.state, TxState::Mined, "{id}: {out:?}");
        let rec = store.get(id).await.unwrap().unwrap();
        assert_eq!(rec.state, TxState::Mined);
        assert_eq!(rec.state_path(), vec![TxState::Created, TxState::Signed, TxState::Sent, TxState::Mined], "{id}: {rec:?}");
        assert_eq!(rec.attempts.len(), 1);
        let receipt = rec.receipt.as_ref().unwrap();
        assert!(receipt.success);
        assert_eq!(receipt.hash, rec.attempts[0].hash);
        assert!(nonces.insert(rec.nonce.unwrap()), "nonce {:?} used twice", rec.nonce);
    }
    assert_eq!(nonces, (0..20).collect::<BTreeSet<u64>>());
    let p = provider(&anvil);
    assert_eq!(p.get_transaction_count(from).await.unwrap(), 20);
    assert_eq!(p.get_transaction_count(from).pending().await.unwrap(), 20, "nothing left in the pool");
    for i in 1..=20u8 {
        assert!(p.get_balance(recipient(i)).await.unwrap() >= U256::from(1_000));
    }

    // The next acquire continues the sequence.
    let lease = DynamoNonceLease::new(dynamo.client().await, dynamo.table.clone(), clock());
    let l = lease.acquire(from, 20).await.unwrap();
    assert_eq!(l.nonce, 20);
}

// ---------------------------------------------------------------------------------------------
// (b) A stuck transaction is replaced with higher fees and mined
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn stuck_transaction_is_replaced_by_fee_and_mined() {
    let anvil = Anvil::start_with(AnvilOptions::default().no_mining()).await.unwrap();
    let p = provider(&anvil);
    let signer = funded_signer(&p).await;
    let store = Arc::new(MemoryTxStore::new());
    let mut cfg = config();
    cfg.replace_after = Duration::from_millis(800);
    let sender =
        Arc::new(DirectSender::new(p.clone(), signer, Arc::new(MemoryNonceLease::new(clock())), store.clone(), clock(), cfg.clone()));

    let task = {
        let sender = sender.clone();
        tokio::spawn(async move { sender.send("stuck", &transfer(address!("00000000000000000000000000000000000000aa"), 5)).await })
    };
    // Nothing mines until we say so: the sender gives up waiting and replaces.
    let rec = wait_for(store.as_ref(), "stuck", "REPLACED", |r| r.state == TxState::Replaced).await;
    mine(&p).await;
    let out = task.await.unwrap().unwrap();

    assert_eq!(out.state, TxState::Mined, "{out:?}");
    let rec_final = store.get("stuck").await.unwrap().unwrap();
    assert_eq!(
        rec_final.state_path(),
        vec![TxState::Created, TxState::Signed, TxState::Sent, TxState::Replaced, TxState::Mined],
        "{rec_final:?}"
    );
    assert_eq!(rec_final.attempts.len(), 2, "{rec_final:?}");
    let (a1, a2) = (&rec_final.attempts[0], &rec_final.attempts[1]);
    assert_eq!(a1.nonce, a2.nonce);
    assert_ne!(a1.hash, a2.hash);
    assert!(a2.max_fee_per_gas * 100 >= a1.max_fee_per_gas * 115, "{a1:?} → {a2:?}");
    assert!(a2.max_priority_fee_per_gas * 100 >= a1.max_priority_fee_per_gas * 115, "{a1:?} → {a2:?}");
    assert!(a2.max_fee_per_gas <= cfg.max_fee_cap);
    assert_eq!(rec.attempts.len(), 2);
    // The replacement is what was mined; the original is gone.
    assert_eq!(rec_final.receipt.as_ref().unwrap().hash, a2.hash);
    assert!(p.get_transaction_receipt(a1.hash).await.unwrap().is_none());
    assert_eq!(p.get_transaction_count(sender.from()).await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// (c) The fee cap stops replacements
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn replacements_stop_at_the_fee_cap() {
    let anvil = Anvil::start_with(AnvilOptions::default().no_mining()).await.unwrap();
    let p = provider(&anvil);
    let signer = funded_signer(&p).await;
    let store = Arc::new(CountingStore::default());
    let mut cfg = config();
    cfg.replace_after = Duration::from_millis(500);
    // The cap leaves room for one +15 % bump, not for a second +12.5 %.
    let probe = DirectSender::new(p.clone(), signer.clone(), Arc::new(MemoryNonceLease::new(clock())), store.clone(), clock(), cfg.clone());
    let first = probe.quote_fees().await.unwrap();
    assert!(!first.capped);
    cfg.max_fee_cap = first.max_fee_per_gas * 120 / 100;
    let sender =
        Arc::new(DirectSender::new(p.clone(), signer, Arc::new(MemoryNonceLease::new(clock())), store.clone(), clock(), cfg.clone()));

    let task = {
        let sender = sender.clone();
        tokio::spawn(async move { sender.send("capped", &transfer(address!("00000000000000000000000000000000000000bb"), 7)).await })
    };
    let rec = wait_for(store.as_ref(), "capped", "the fee-cap note", |r| r.notes.iter().any(|n| n.text.contains("fee cap"))).await;
    // Several more replacement periods pass (the tracker reads the record once per poll, and
    // 15 polls of 100 ms span three periods of 500 ms): nothing else is signed or sent.
    store.wait_for_reads(15).await;
    let rec_later = store.get("capped").await.unwrap().unwrap();
    assert_eq!(rec_later.attempts, rec.attempts);
    assert_eq!(rec.state, TxState::Replaced);
    assert_eq!(rec.attempts.len(), 2, "{rec:?}");
    for a in &rec.attempts {
        assert!(a.max_fee_per_gas <= cfg.max_fee_cap, "{a:?} above the cap {}", cfg.max_fee_cap);
    }
    assert_eq!(rec.attempts[0].max_fee_per_gas, first.max_fee_per_gas);
    let note = rec.notes.iter().find(|n| n.text.contains("fee cap")).unwrap();
    assert!(note.text.contains(&cfg.max_fee_cap.to_string()), "{}", note.text);
    // Still tracked: once a block comes, the last attempt is mined.
    mine(&p).await;
    let out = task.await.unwrap().unwrap();
    assert_eq!(out.state, TxState::Mined);
    assert_eq!(out.receipt.unwrap().hash, rec.attempts[1].hash);
}

// ---------------------------------------------------------------------------------------------
// (d) Reverts end FAILED
// ---------------------------------------------------------------------------------------------

/// Init code deploying the runtime `PUSH1 0 PUSH1 0 REVERT` (every call reverts).
const ALWAYS_REVERT_INIT: &str = "0x6460006000fd6000526005601bf3";

#[tokio::test]
async fn reverting_call_ends_failed() {
    let anvil = Anvil::start().await.unwrap();
    let p = provider(&anvil);
    let signer = funded_signer(&p).await;
    let deploy = json!({"from": DEV_ADDRESS, "data": ALWAYS_REVERT_INIT, "gas": "0x100000"});
    let hash: B256 = p.raw_request("eth_sendTransaction".into(), (deploy,)).await.unwrap();
    let target = wait_receipt(&p, hash).await.contract_address.unwrap();
    assert_eq!(p.get_code_at(target).await.unwrap(), Bytes::from_static(&[0x60, 0x00, 0x60, 0x00, 0xfd]));

    let store = Arc::new(MemoryTxStore::new());
    let lease = Arc::new(MemoryNonceLease::new(clock()));
    let sender = DirectSender::new(p.clone(), signer, lease.clone(), store.clone(), clock(), config());

    // Sent with a fixed gas limit (no simulation): mined, status 0.
    let out = sender.send("revert-mined", &DirectCall::new(target, Bytes::new(), U256::ZERO).with_gas_limit(60_000)).await.unwrap();
    assert_eq!(out.state, TxState::Failed, "{out:?}");
    let receipt = out.receipt.clone().unwrap();
    assert!(!receipt.success);
    let rec = store.get("revert-mined").await.unwrap().unwrap();
    assert_eq!(rec.state_path(), vec![TxState::Created, TxState::Signed, TxState::Sent, TxState::Failed]);
    assert_eq!(receipt.hash, rec.attempts[0].hash);
    assert!(!p.get_transaction_receipt(receipt.hash).await.unwrap().unwrap().status());

    // With gas estimation: the simulation reverts, nothing is broadcast, the nonce is given back.
    let out = sender.send("revert-simulated", &DirectCall::new(target, Bytes::new(), U256::ZERO)).await.unwrap();
    assert_eq!(out.state, TxState::Failed);
    assert!(out.reason.as_deref().unwrap_or_default().contains("simulation reverted"), "{out:?}");
    let rec = store.get("revert-simulated").await.unwrap().unwrap();
    assert!(rec.attempts.is_empty());
    assert_eq!(rec.state_path(), vec![TxState::Created, TxState::Failed]);
    assert_eq!(lease.free_nonces(sender.from()).unwrap(), vec![1]);

    // The given-back nonce is the next one used: no gap.
    let out = sender.send("after", &transfer(address!("00000000000000000000000000000000000000cc"), 1)).await.unwrap();
    assert_eq!(out.state, TxState::Mined);
    assert_eq!(out.nonce, Some(1));
    assert_eq!(p.get_transaction_count(sender.from()).await.unwrap(), 2);

    // Sending the same id again returns the recorded outcome; nothing new is sent.
    let again = sender.send("after", &transfer(address!("00000000000000000000000000000000000000cc"), 1)).await.unwrap();
    assert_eq!(again, out);
    assert_eq!(p.get_transaction_count(sender.from()).await.unwrap(), 2);
}

// ---------------------------------------------------------------------------------------------
// "nonce too low": another instance used the nonce
// ---------------------------------------------------------------------------------------------

/// A memory store that counts record reads, so a test can wait for a tracker's polls.
#[derive(Default)]
struct CountingStore {
    inner: MemoryTxStore,
    reads: AtomicU32,
    read: tokio::sync::Notify,
}

impl CountingStore {
    /// Waits until the record has been read `n` more times (bounded: 30 s).
    async fn wait_for_reads(&self, n: u32) {
        let target = self.reads.load(Ordering::SeqCst) + n;
        let reached = async {
            loop {
                let notified = self.read.notified();
                if self.reads.load(Ordering::SeqCst) >= target {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), reached).await.expect("the tracker stopped polling");
    }
}

#[async_trait]
impl TxStore for CountingStore {
    async fn create(&self, record: &TxRecord) -> DomainResult<()> {
        self.inner.create(record).await
    }
    async fn get(&self, id: &str) -> DomainResult<Option<TxRecord>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.read.notify_waiters();
        self.inner.get(id).await
    }
    async fn transition(&self, id: &str, expected: TxState, change: &vanta_chain::direct::TxChange) -> DomainResult<()> {
        self.inner.transition(id, expected, change).await
    }
    async fn add_attempt(&self, id: &str, expected: TxState, attempt: &vanta_chain::direct::TxAttempt) -> DomainResult<()> {
        self.inner.add_attempt(id, expected, attempt).await
    }
    async fn annotate(&self, id: &str, note: &vanta_chain::direct::TxNote) -> DomainResult<()> {
        self.inner.annotate(id, note).await
    }
}

/// Hands out a nonce the chain has already used once (as a lease that lagged behind another
/// instance would), then behaves.
struct StaleOnce {
    inner: MemoryNonceLease,
    stale: AtomicBool,
}

#[async_trait]
impl NonceLease for StaleOnce {
    async fn acquire(&self, address: Address, chain_pending: u64) -> DomainResult<Lease> {
        if self.stale.swap(false, Ordering::SeqCst) {
            return self.inner.acquire(address, 0).await;
        }
        self.inner.acquire(address, chain_pending).await
    }
    async fn release_unused(&self, lease: &Lease) -> DomainResult<()> {
        self.inner.release_unused(lease).await
    }
    async fn confirm(&self, lease: &Lease) -> DomainResult<()> {
        self.inner.confirm(lease).await
    }
}

#[tokio::test]
async fn nonce_too_low_leases_again_and_sends() {
    let anvil = Anvil::start().await.unwrap();
    let p = provider(&anvil);
    let signer = funded_signer(&p).await;
    // Another instance sends first and takes nonce 0.
    let other = DirectSender::new(
        p.clone(),
        signer.clone(),
        Arc::new(MemoryNonceLease::new(clock())),
        Arc::new(MemoryTxStore::new()),
        clock(),
        config(),
    );
    assert_eq!(other.send("other", &transfer(recipient(9), 1)).await.unwrap().nonce, Some(0));

    let store = Arc::new(MemoryTxStore::new());
    let lease = Arc::new(StaleOnce { inner: MemoryNonceLease::new(clock()), stale: AtomicBool::new(true) });
    let sender = DirectSender::new(p.clone(), signer, lease, store.clone(), clock(), config());
    let out = sender.send("late", &transfer(recipient(10), 1)).await.unwrap();
    assert_eq!(out.state, TxState::Mined, "{out:?}: {:?}", store.get("late").await.unwrap());
    assert_eq!(out.nonce, Some(1));
    let rec = store.get("late").await.unwrap().unwrap();
    assert_eq!(rec.state_path(), vec![TxState::Created, TxState::Signed, TxState::Signed, TxState::Sent, TxState::Mined], "{rec:?}");
    assert_eq!(rec.attempts.iter().map(|a| a.nonce).collect::<Vec<_>>(), vec![0, 1]);
    assert!(rec.history[1].note.as_deref().unwrap_or_default().contains("nonce"), "{rec:?}");
}

// ---------------------------------------------------------------------------------------------
// The lease protocol on DynamoDB (give back, reclaim after expiry, resync)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn dynamo_lease_gives_back_reclaims_and_resyncs() {
    let dynamo = Dynamo::start("vanta-direct").await;
    let manual = Arc::new(ManualClock::new(Timestamp::from_secs(1_000_000)));
    let lease = DynamoNonceLease::new(dynamo.client().await, dynamo.table.clone(), manual.clone()).with_ttl(Duration::from_secs(30));
    lease_protocol(&lease, &manual).await;
}

#[tokio::test]
async fn memory_lease_gives_back_reclaims_and_resyncs() {
    let manual = Arc::new(ManualClock::new(Timestamp::from_secs(1_000_000)));
    let lease = MemoryNonceLease::with_ttl(manual.clone(), Duration::from_secs(30));
    lease_protocol(&lease, &manual).await;
}

async fn lease_protocol(lease: &dyn NonceLease, manual: &ManualClock) {
    let who = recipient(0x42);

    let a = lease.acquire(who, 0).await.unwrap();
    let b = lease.acquire(who, 0).await.unwrap();
    let c = lease.acquire(who, 0).await.unwrap();
    assert_eq!((a.nonce, b.nonce, c.nonce), (0, 1, 2));
    // 1 was never broadcast: it comes back first.
    lease.release_unused(&b).await.unwrap();
    lease.confirm(&a).await.unwrap();
    let b2 = lease.acquire(who, 1).await.unwrap();
    assert_eq!(b2.nonce, 1);
    assert_ne!(b2.token, b.token);
    // A release with the old token does nothing.
    lease.release_unused(&b).await.unwrap();
    let d3 = lease.acquire(who, 1).await.unwrap();
    assert_eq!(d3.nonce, 3);
    lease.confirm(&b2).await.unwrap();
    lease.confirm(&d3).await.unwrap();
    // c's holder dies: after the lease time its nonce is reclaimed, and its late confirm fails.
    manual.advance(Duration::from_secs(31));
    let c2 = lease.acquire(who, 1).await.unwrap();
    assert_eq!(c2.nonce, 2);
    assert!(lease.confirm(&c).await.is_err());
    lease.confirm(&c2).await.unwrap();
    // The chain is ahead (nonces used elsewhere): jump to it.
    assert_eq!(lease.acquire(who, 10).await.unwrap().nonce, 10);
    assert_eq!(lease.acquire(who, 0).await.unwrap().nonce, 11);
    // A given-back nonce the chain has consumed since is dropped, not reissued.
    let d = lease.acquire(who, 0).await.unwrap();
    assert_eq!(d.nonce, 12);
    lease.release_unused(&d).await.unwrap();
    assert_eq!(lease.acquire(who, 13).await.unwrap().nonce, 13);
    // Addresses are independent.
    assert_eq!(lease.acquire(recipient(0x43), 0).await.unwrap().nonce, 0);
}

// ---------------------------------------------------------------------------------------------
// Our nonce taken by a transaction that is not ours
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn nonce_used_by_a_foreign_transaction_ends_failed() {
    let anvil = Anvil::start_with(AnvilOptions::default().no_mining()).await.unwrap();
    let p = provider(&anvil);
    let signer = funded_signer(&p).await;
    let store = Arc::new(MemoryTxStore::new());
    let mut cfg = config();
    cfg.consumed_grace = Duration::from_millis(300);
    let sender =
        Arc::new(DirectSender::new(p.clone(), signer.clone(), Arc::new(MemoryNonceLease::new(clock())), store.clone(), clock(), cfg));
    let task = {
        let sender = sender.clone();
        tokio::spawn(async move { sender.send("ours", &transfer(recipient(20), 1)).await })
    };
    wait_for(store.as_ref(), "ours", "SENT", |r| r.state == TxState::Sent).await;

    // Something else (say, the same key used from a wallet app) replaces it in the pool with a
    // different transaction on the same nonce, at higher fees.
    let mut rude = config();
    rude.min_priority_fee = 10 * GWEI;
    let lease = Arc::new(StaleOnce { inner: MemoryNonceLease::new(clock()), stale: AtomicBool::new(true) });
    let their_store = Arc::new(MemoryTxStore::new());
    let other = Arc::new(DirectSender::new(p.clone(), signer, lease, their_store.clone(), clock(), rude));
    let theirs = {
        let other = other.clone();
        tokio::spawn(async move { other.send("theirs", &transfer(recipient(21), 2)).await })
    };
    // Theirs is in the pool (broadcast and recorded) before the block comes.
    wait_for(their_store.as_ref(), "theirs", "SENT", |r| r.state == TxState::Sent).await;
    mine(&p).await;
    let theirs = theirs.await.unwrap().unwrap();
    assert_eq!((theirs.state, theirs.nonce), (TxState::Mined, Some(0)));

    let out = task.await.unwrap().unwrap();
    assert_eq!(out.state, TxState::Failed, "{out:?}");
    assert!(out.receipt.is_none());
    assert!(out.reason.as_deref().unwrap_or_default().contains("none of this record's attempts"), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// The record store's conditions (memory and DynamoDB behave alike)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tx_stores_enforce_states_and_attempt_numbers() {
    store_contract(&MemoryTxStore::new()).await;
    let dynamo = Dynamo::start("vanta-direct").await;
    store_contract(&DynamoTxStore::new(dynamo.client().await, dynamo.table.clone())).await;
}

async fn store_contract(store: &dyn TxStore) {
    use vanta_chain::direct::{TxAttempt, TxChange, TxNote, TxReceiptInfo};
    use vanta_domain::error::DomainError;
    let at = Timestamp::from_secs(1_800_000_000);
    let rec = TxRecord::new("t1", CHAIN_ID, recipient(1), recipient(2), U256::from(5u8), Bytes::from_static(&[0xab, 0xcd]), at);
    store.create(&rec).await.unwrap();
    assert!(matches!(store.create(&rec).await, Err(DomainError::Conflict(_))));
    assert_eq!(store.get("t1").await.unwrap().unwrap(), rec);
    assert!(store.get("nope").await.unwrap().is_none());

    let attempt = |n: u32, fee: u128| TxAttempt {
        n,
        hash: B256::repeat_byte(u8::try_from(n).unwrap()),
        nonce: 7,
        gas_limit: 21_000,
        max_fee_per_gas: fee,
        max_priority_fee_per_gas: fee / 10,
        at,
    };
    // Wrong expected state, skipped attempt number, not-allowed move, unknown id.
    let signed = TxChange::to(TxState::Signed, at).with_attempt(attempt(1, 100));
    assert!(matches!(store.transition("t1", TxState::Signed, &TxChange::to(TxState::Sent, at)).await, Err(DomainError::Conflict(_))));
    let skipped = TxChange::to(TxState::Signed, at).with_attempt(attempt(2, 100));
    assert!(matches!(store.transition("t1", TxState::Created, &skipped).await, Err(DomainError::Conflict(_))));
    assert!(matches!(store.transition("t1", TxState::Created, &TxChange::to(TxState::Mined, at)).await, Err(DomainError::Internal(_))));
    assert!(matches!(store.transition("nope", TxState::Created, &signed).await, Err(DomainError::NotFound(_))));

    store.transition("t1", TxState::Created, &signed).await.unwrap();
    store.transition("t1", TxState::Signed, &TxChange::to(TxState::Sent, at)).await.unwrap();
    assert!(matches!(store.add_attempt("t1", TxState::Signed, &attempt(2, 115)).await, Err(DomainError::Conflict(_))));
    store.add_attempt("t1", TxState::Sent, &attempt(2, 115)).await.unwrap();
    assert!(matches!(store.add_attempt("t1", TxState::Sent, &attempt(2, 115)).await, Err(DomainError::Conflict(_))));
    store.transition("t1", TxState::Sent, &TxChange::to(TxState::Replaced, at).with_note("bumped")).await.unwrap();
    store.annotate("t1", &TxNote { at, text: "fee cap reached".into() }).await.unwrap();
    let receipt = TxReceiptInfo { hash: B256::repeat_byte(2), block_number: 9, gas_used: 21_000, effective_gas_price: 90, success: true };
    store.transition("t1", TxState::Replaced, &TxChange::to(TxState::Mined, at).with_receipt(receipt.clone())).await.unwrap();
    // Terminal.
    assert!(store.transition("t1", TxState::Mined, &TxChange::to(TxState::Failed, at)).await.is_err());

    let got = store.get("t1").await.unwrap().unwrap();
    assert_eq!(got.state, TxState::Mined);
    assert_eq!(got.nonce, Some(7));
    assert_eq!(got.attempts, vec![attempt(1, 100), attempt(2, 115)]);
    assert_eq!(got.state_path(), vec![TxState::Created, TxState::Signed, TxState::Sent, TxState::Replaced, TxState::Mined]);
    assert_eq!(got.history[2].note.as_deref(), Some("bumped"));
    assert_eq!(got.notes.len(), 1);
    assert_eq!(got.receipt, Some(receipt));
    assert_eq!((got.to, got.value, got.data.clone()), (recipient(2), U256::from(5u8), Bytes::from_static(&[0xab, 0xcd])));
}
