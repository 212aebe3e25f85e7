//! A [`Store`] that counts what its callers ask of it (a test and bench double, behind
//! `test-fakes`, like the in-memory twins): every trait method delegates to the
//! wrapped store and adds one call (and, for reads, the items returned) to its counter. The TP/SL
//! figures come from it: store reads and writes per tick, as calls and as items (DynamoDB bills
//! items), and the time spent inside the store (so a figure can be split into the caller's own
//! CPU and the store's).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::DomainResult;
use crate::exec::{ExecControl, FlattenRun};
use crate::ids::{IntentId, PositionId, SourceId, TelegramUserId, TraderAddress};
use crate::intent::{AuditEntry, CreateOutcome, Intent, Transition};
use crate::market::{PairSymbol, Side};
use crate::ports::{
    ControlStore, FollowStore, IndexState, IntentStore, MarkerStore, PositionStore, Queue, QueueMessage, SourceStore, Store, TriggerStore,
    UserStore,
};
use crate::position::{Position, PositionStatus};
use crate::time::Timestamp;
use crate::triggers::{KeyRange, TrailBook, TriggerKind, TriggerPartition, index_entries};
use crate::user::{Follow, LeaderRef, SignalSource, User};
use crate::wallet::{AddressClaim, WalletChallenge};
use async_trait::async_trait;

/// Items a position write touches on DynamoDB: the position and one item per trigger kind (a
/// put where the position has that trigger, a delete where it has not), in one transaction.
pub const POSITION_ITEMS: usize = 1 + TriggerKind::ALL.len();

/// Calls, items and time of one store method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Count {
    pub calls: u64,
    /// Items read, or for a write the items it writes as the DynamoDB adapter lays them out
    /// (single-item writes 1, position writes [`POSITION_ITEMS`]).
    pub items: u64,
    pub write: bool,
    /// Wall time spent inside the wrapped store, in ns.
    pub nanos: u64,
}

/// Totals over every method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub read_calls: u64,
    pub items_read: u64,
    pub write_calls: u64,
    pub items_written: u64,
    /// Writes of a position (insert, update, settle, re-index).
    pub position_writes: u64,
    /// Wall time spent inside the wrapped store, in ns.
    pub store_nanos: u64,
}

/// The store methods that write a position.
pub const POSITION_WRITES: [&str; 4] = ["insert_position", "update_position", "settle_with_position", "reindex_position"];

/// Counts calls to the wrapped store.
pub struct CountingStore<S> {
    inner: S,
    counts: Mutex<BTreeMap<&'static str, Count>>,
}

fn nanos_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl<S> CountingStore<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, counts: Mutex::new(BTreeMap::new()) }
    }
    /// The wrapped store (calls to it are not counted).
    pub fn inner(&self) -> &S {
        &self.inner
    }
    fn read(&self, method: &'static str, started: Instant, items: usize) {
        let nanos = nanos_since(started);
        if let Ok(mut g) = self.counts.lock() {
            let c = g.entry(method).or_default();
            c.calls += 1;
            c.items += items as u64;
            c.nanos = c.nanos.saturating_add(nanos);
        }
    }
    fn wrote(&self, method: &'static str, items: usize, started: Instant) {
        let nanos = nanos_since(started);
        if let Ok(mut g) = self.counts.lock() {
            let c = g.entry(method).or_default();
            c.calls += 1;
            c.items += items as u64;
            c.write = true;
            c.nanos = c.nanos.saturating_add(nanos);
        }
    }
    /// Clears every counter.
    pub fn reset(&self) {
        if let Ok(mut g) = self.counts.lock() {
            g.clear();
        }
    }
    /// The counters by method.
    pub fn counts(&self) -> BTreeMap<&'static str, Count> {
        self.counts.lock().map(|g| g.clone()).unwrap_or_default()
    }
    /// The counters summed.
    pub fn totals(&self) -> Totals {
        self.counts().iter().fold(Totals::default(), |mut t, (method, c)| {
            t.store_nanos = t.store_nanos.saturating_add(c.nanos);
            if c.write {
                t.write_calls += c.calls;
                t.items_written += c.items;
                if POSITION_WRITES.contains(method) {
                    t.position_writes += c.calls;
                }
            } else {
                t.read_calls += c.calls;
                t.items_read += c.items;
            }
            t
        })
    }
}

fn n<T>(o: &DomainResult<Option<T>>) -> usize {
    usize::from(matches!(o, Ok(Some(_))))
}

fn v<T>(o: &DomainResult<Vec<T>>) -> usize {
    o.as_ref().map_or(0, Vec::len)
}

#[async_trait]
impl<S: Store> UserStore for CountingStore<S> {
    async fn get_or_create_user(&self, user: User) -> DomainResult<User> {
        let started = Instant::now();
        let r = self.inner.get_or_create_user(user).await;
        self.wrote("get_or_create_user", 1, started);
        r
    }
    async fn get_user(&self, id: TelegramUserId) -> DomainResult<Option<User>> {
        let started = Instant::now();
        let r = self.inner.get_user(id).await;
        self.read("get_user", started, n(&r));
        r
    }
    async fn update_user(&self, user: &User) -> DomainResult<()> {
        let started = Instant::now();
        let r = self.inner.update_user(user).await;
        self.wrote("update_user", 1, started);
        r
    }
    async fn bind_address(&self, user: TelegramUserId, address: TraderAddress) -> DomainResult<User> {
        let started = Instant::now();
        let r = self.inner.bind_address(user, address).await;
        self.wrote("bind_address", 1, started);
        r
    }
    async fn user_by_address(&self, address: TraderAddress) -> DomainResult<Option<User>> {
        let started = Instant::now();
        let r = self.inner.user_by_address(address).await;
        self.read("user_by_address", started, n(&r));
        r
    }
    async fn wallet_users(&self) -> DomainResult<Vec<User>> {
        let started = Instant::now();
        let r = self.inner.wallet_users().await;
        self.read("wallet_users", started, v(&r));
        r
    }
    async fn address_claim(&self, address: TraderAddress) -> DomainResult<Option<AddressClaim>> {
        let started = Instant::now();
        let r = self.inner.address_claim(address).await;
        self.read("address_claim", started, n(&r));
        r
    }
    async fn put_challenge(&self, c: &WalletChallenge) -> DomainResult<()> {
        let started = Instant::now();
        let r = self.inner.put_challenge(c).await;
        self.wrote("put_challenge", 1, started);
        r
    }
    async fn get_challenge(&self, nonce: &str) -> DomainResult<Option<WalletChallenge>> {
        let started = Instant::now();
        let r = self.inner.get_challenge(nonce).await;
        self.read("get_challenge", started, n(&r));
        r
    }
    async fn user_challenges(&self, user: TelegramUserId, limit: usize) -> DomainResult<Vec<WalletChallenge>> {
        let started = Instant::now();
        let r = self.inner.user_challenges(user, limit).await;
        self.read("user_challenges", started, v(&r));
        r
    }
    async fn verify_binding(&self, nonce: &str, user: TelegramUserId, now: Timestamp) -> DomainResult<User> {
        let started = Instant::now();
        let r = self.inner.verify_binding(nonce, user, now).await;
        self.wrote("verify_binding", 1, started);
        r
    }
}

#[async_trait]
impl<S: Store> ControlStore for CountingStore<S> {
    async fn get_exec_control(&self) -> DomainResult<Option<ExecControl>> {
        let started = Instant::now();
        let r = self.inner.get_exec_control().await;
        self.read("get_exec_control", started, n(&r));
        r
    }
    async fn put_exec_control(&self, next: &ExecControl) -> DomainResult<()> {
        let started = Instant::now();
        let r = self.inner.put_exec_control(next).await;
        self.wrote("put_exec_control", 1, started);
        r
    }
    async fn put_heartbeat(&self, job: &str, at: Timestamp) -> DomainResult<()> {
        let started = Instant::now();
        let r = self.inner.put_heartbeat(job, at).await;
        self.wrote("put_heartbeat", 1, started);
        r
    }
    async fn heartbeats(&self) -> DomainResult<Vec<(String, Timestamp)>> {
        let started = Instant::now();
        let r = self.inner.heartbeats().await;
        self.read("heartbeats", started, v(&r));
        r
    }
    async fn get_flatten_run(&self) -> DomainResult<Option<FlattenRun>> {
        let started = Instant::now();
        let r = self.inner.get_flatten_run().await;
        self.read("get_flatten_run", started, n(&r));
        r
    }
    async fn put_flatten_run(&self, run: &FlattenRun) -> DomainResult<()> {
        let started = Instant::now();
        let r = self.inner.put_flatten_run(run).await;
        self.wrote("put_flatten_run", 1, started);
        r
    }
}

#[async_trait]
impl<S: Store> IntentStore for CountingStore<S> {
    async fn create_intent(&self, intent: &Intent) -> DomainResult<CreateOutcome> {
        let started = Instant::now();
        let r = self.inner.create_intent(intent).await;
        self.wrote("create_intent", 1, started);
        r
    }
    async fn get_intent(&self, id: &IntentId) -> DomainResult<Option<Intent>> {
        let started = Instant::now();
        let r = self.inner.get_intent(id).await;
        self.read("get_intent", started, n(&r));
        r
    }
    async fn transition(&self, id: &IntentId, t: &Transition) -> DomainResult<Intent> {
        let started = Instant::now();
        let r = self.inner.transition(id, t).await;
        self.wrote("transition", 1, started);
        r
    }
    async fn settle_with_position(&self, id: &IntentId, t: &Transition, position: &Position) -> DomainResult<Intent> {
        let started = Instant::now();
        let r = self.inner.settle_with_position(id, t, position).await;
        self.wrote("settle_with_position", 1 + POSITION_ITEMS, started);
        r
    }
    async fn user_intents(&self, user: TelegramUserId, limit: usize) -> DomainResult<Vec<Intent>> {
        let started = Instant::now();
        let r = self.inner.user_intents(user, limit).await;
        self.read("user_intents", started, v(&r));
        r
    }
    async fn open_intents(&self) -> DomainResult<Vec<Intent>> {
        let started = Instant::now();
        let r = self.inner.open_intents().await;
        self.read("open_intents", started, v(&r));
        r
    }
    async fn audit_trail(&self, id: &IntentId) -> DomainResult<Vec<AuditEntry>> {
        let started = Instant::now();
        let r = self.inner.audit_trail(id).await;
        self.read("audit_trail", started, v(&r));
        r
    }
}

#[async_trait]
impl<S: Store> PositionStore for CountingStore<S> {
    async fn insert_position(&self, p: &Position) -> DomainResult<()> {
        let started = Instant::now();
        let r = self.inner.insert_position(p).await;
        self.wrote("insert_position", 1 + index_entries(p).len(), started);
        r
    }
    async fn get_position(&self, user: TelegramUserId, id: &PositionId) -> DomainResult<Option<Position>> {
        let started = Instant::now();
        let r = self.inner.get_position(user, id).await;
        self.read("get_position", started, n(&r));
        r
    }
    async fn update_position(&self, p: &Position, expected: PositionStatus) -> DomainResult<()> {
        let started = Instant::now();
        let r = self.inner.update_position(p, expected).await;
        self.wrote("update_position", POSITION_ITEMS, started);
        r
    }
    async fn user_positions(&self, user: TelegramUserId, live_only: bool) -> DomainResult<Vec<Position>> {
        let started = Instant::now();
        let r = self.inner.user_positions(user, live_only).await;
        self.read("user_positions", started, v(&r));
        r
    }
    async fn live_positions(&self) -> DomainResult<Vec<Position>> {
        let started = Instant::now();
        let r = self.inner.live_positions().await;
        self.read("live_positions", started, v(&r));
        r
    }
}

#[async_trait]
impl<S: Store> SourceStore for CountingStore<S> {
    async fn create_source(&self, s: &SignalSource) -> DomainResult<()> {
        let started = Instant::now();
        let r = self.inner.create_source(s).await;
        self.wrote("create_source", 1, started);
        r
    }
    async fn get_source(&self, id: &SourceId) -> DomainResult<Option<SignalSource>> {
        let started = Instant::now();
        let r = self.inner.get_source(id).await;
        self.read("get_source", started, n(&r));
        r
    }
    async fn source_by_tv_token_hash(&self, hash: &str) -> DomainResult<Option<SignalSource>> {
        let started = Instant::now();
        let r = self.inner.source_by_tv_token_hash(hash).await;
        self.read("source_by_tv_token_hash", started, n(&r));
        r
    }
    async fn user_sources(&self, owner: TelegramUserId) -> DomainResult<Vec<SignalSource>> {
        let started = Instant::now();
        let r = self.inner.user_sources(owner).await;
        self.read("user_sources", started, v(&r));
        r
    }
    async fn rotate_source(&self, owner: TelegramUserId, s: &SignalSource) -> DomainResult<()> {
        let started = Instant::now();
        let r = self.inner.rotate_source(owner, s).await;
        self.wrote("rotate_source", 1, started);
        r
    }
}

#[async_trait]
impl<S: Store> FollowStore for CountingStore<S> {
    async fn put_follow(&self, f: &Follow) -> DomainResult<()> {
        let started = Instant::now();
        let r = self.inner.put_follow(f).await;
        self.wrote("put_follow", 1, started);
        r
    }
    async fn remove_follow(&self, follower: TelegramUserId, leader: &LeaderRef) -> DomainResult<bool> {
        let started = Instant::now();
        let r = self.inner.remove_follow(follower, leader).await;
        self.wrote("remove_follow", 1, started);
        r
    }
    async fn following(&self, follower: TelegramUserId) -> DomainResult<Vec<Follow>> {
        let started = Instant::now();
        let r = self.inner.following(follower).await;
        self.read("following", started, v(&r));
        r
    }
    async fn followers(&self, leader: &LeaderRef) -> DomainResult<Vec<Follow>> {
        let started = Instant::now();
        let r = self.inner.followers(leader).await;
        self.read("followers", started, v(&r));
        r
    }
}

#[async_trait]
impl<S: Store> MarkerStore for CountingStore<S> {
    async fn mark_once(&self, key: &str, now: Timestamp, expires_at: Timestamp) -> DomainResult<bool> {
        let started = Instant::now();
        let r = self.inner.mark_once(key, now, expires_at).await;
        self.wrote("mark_once", 1, started);
        r
    }
    async fn hit_window(&self, key: &str, now: Timestamp, expires_at: Timestamp, limit: u32) -> DomainResult<bool> {
        let started = Instant::now();
        let r = self.inner.hit_window(key, now, expires_at, limit).await;
        self.wrote("hit_window", 1, started);
        r
    }
}

#[async_trait]
impl<S: Store> TriggerStore for CountingStore<S> {
    async fn crossed(&self, part: &TriggerPartition, range: KeyRange) -> DomainResult<Vec<(TelegramUserId, PositionId)>> {
        let started = Instant::now();
        let r = self.inner.crossed(part, range).await;
        self.read("crossed", started, v(&r));
        r
    }
    async fn any_indexed(&self, part: &TriggerPartition) -> DomainResult<bool> {
        let started = Instant::now();
        let r = self.inner.any_indexed(part).await;
        self.read("any_indexed", started, usize::from(matches!(r, Ok(true))));
        r
    }
    async fn closing_positions(&self) -> DomainResult<Vec<Position>> {
        let started = Instant::now();
        let r = self.inner.closing_positions().await;
        self.read("closing_positions", started, v(&r));
        r
    }
    async fn trigger_pairs(&self) -> DomainResult<Vec<PairSymbol>> {
        let started = Instant::now();
        let r = self.inner.trigger_pairs().await;
        // One item holds every pair.
        self.read("trigger_pairs", started, 1);
        r
    }
    async fn get_trail_book(&self, pair: &PairSymbol, side: Side) -> DomainResult<Option<TrailBook>> {
        let started = Instant::now();
        let r = self.inner.get_trail_book(pair, side).await;
        self.read("get_trail_book", started, n(&r));
        r
    }
    async fn put_trail_book(&self, pair: &PairSymbol, side: Side, book: &TrailBook) -> DomainResult<()> {
        let started = Instant::now();
        let r = self.inner.put_trail_book(pair, side, book).await;
        self.wrote("put_trail_book", 1, started);
        r
    }
    async fn index_state(&self) -> DomainResult<IndexState> {
        let started = Instant::now();
        let r = self.inner.index_state().await;
        self.read("index_state", started, 1);
        r
    }
    async fn put_index_state(&self, state: &IndexState) -> DomainResult<()> {
        let started = Instant::now();
        let r = self.inner.put_index_state(state).await;
        self.wrote("put_index_state", 1, started);
        r
    }
    async fn live_positions_page(&self, after: Option<&str>, limit: usize) -> DomainResult<(Vec<Position>, Option<String>)> {
        let started = Instant::now();
        let r = self.inner.live_positions_page(after, limit).await;
        self.read("live_positions_page", started, r.as_ref().map_or(0, |(p, _)| p.len()));
        r
    }
    async fn reindex_position(&self, p: &Position) -> DomainResult<()> {
        let started = Instant::now();
        let r = self.inner.reindex_position(p).await;
        self.wrote("reindex_position", POSITION_ITEMS, started);
        r
    }
}

/// A [`Queue`] that counts the messages sent through it (each one SQS `SendMessage`).
pub struct CountingQueue {
    inner: std::sync::Arc<dyn Queue>,
    sent: std::sync::atomic::AtomicU64,
}

impl CountingQueue {
    pub fn new(inner: std::sync::Arc<dyn Queue>) -> Self {
        Self { inner, sent: std::sync::atomic::AtomicU64::new(0) }
    }
    /// Messages sent since the start (accepted or dropped as duplicates: both are requests).
    pub fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[async_trait]
impl Queue for CountingQueue {
    async fn send(&self, msg: QueueMessage) -> DomainResult<()> {
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.send(msg).await
    }
}
