//! A [`Store`] that counts what its callers ask of it: every trait method delegates to the
//! wrapped store and adds one call (and, for reads, the items returned) to its counter. The TP/SL
//! figures come from it: store reads per tick, as calls and as items (DynamoDB bills items).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use vanta_domain::DomainResult;
use vanta_domain::exec::{ExecControl, FlattenRun};
use vanta_domain::ids::{IntentId, PositionId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::{AuditEntry, CreateOutcome, Intent, Transition};
use vanta_domain::market::{PairSymbol, Side};
use vanta_domain::ports::{
    ControlStore, FollowStore, IndexState, IntentStore, MarkerStore, PositionStore, SourceStore, Store, TriggerStore, UserStore,
};
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::time::Timestamp;
use vanta_domain::triggers::{KeyRange, TrailBook, TriggerPartition};
use vanta_domain::user::{Follow, LeaderRef, SignalSource, User};
use vanta_domain::wallet::{AddressClaim, WalletChallenge};

/// Calls and items of one store method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Count {
    pub calls: u64,
    /// Items read (0 for writes).
    pub items: u64,
    pub write: bool,
}

/// Totals over every method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub read_calls: u64,
    pub items_read: u64,
    pub write_calls: u64,
}

/// Counts calls to the wrapped store.
pub struct CountingStore<S> {
    inner: S,
    counts: Mutex<BTreeMap<&'static str, Count>>,
}

impl<S> CountingStore<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, counts: Mutex::new(BTreeMap::new()) }
    }
    fn read(&self, method: &'static str, items: usize) {
        if let Ok(mut g) = self.counts.lock() {
            let c = g.entry(method).or_default();
            c.calls += 1;
            c.items += items as u64;
        }
    }
    fn wrote(&self, method: &'static str) {
        if let Ok(mut g) = self.counts.lock() {
            let c = g.entry(method).or_default();
            c.calls += 1;
            c.write = true;
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
        self.counts().values().fold(Totals::default(), |mut t, c| {
            if c.write {
                t.write_calls += c.calls;
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
        self.wrote("get_or_create_user");
        self.inner.get_or_create_user(user).await
    }
    async fn get_user(&self, id: TelegramUserId) -> DomainResult<Option<User>> {
        let r = self.inner.get_user(id).await;
        self.read("get_user", n(&r));
        r
    }
    async fn update_user(&self, user: &User) -> DomainResult<()> {
        self.wrote("update_user");
        self.inner.update_user(user).await
    }
    async fn bind_address(&self, user: TelegramUserId, address: TraderAddress) -> DomainResult<User> {
        self.wrote("bind_address");
        self.inner.bind_address(user, address).await
    }
    async fn user_by_address(&self, address: TraderAddress) -> DomainResult<Option<User>> {
        let r = self.inner.user_by_address(address).await;
        self.read("user_by_address", n(&r));
        r
    }
    async fn wallet_users(&self) -> DomainResult<Vec<User>> {
        let r = self.inner.wallet_users().await;
        self.read("wallet_users", v(&r));
        r
    }
    async fn address_claim(&self, address: TraderAddress) -> DomainResult<Option<AddressClaim>> {
        let r = self.inner.address_claim(address).await;
        self.read("address_claim", n(&r));
        r
    }
    async fn put_challenge(&self, c: &WalletChallenge) -> DomainResult<()> {
        self.wrote("put_challenge");
        self.inner.put_challenge(c).await
    }
    async fn get_challenge(&self, nonce: &str) -> DomainResult<Option<WalletChallenge>> {
        let r = self.inner.get_challenge(nonce).await;
        self.read("get_challenge", n(&r));
        r
    }
    async fn user_challenges(&self, user: TelegramUserId, limit: usize) -> DomainResult<Vec<WalletChallenge>> {
        let r = self.inner.user_challenges(user, limit).await;
        self.read("user_challenges", v(&r));
        r
    }
    async fn verify_binding(&self, nonce: &str, user: TelegramUserId, now: Timestamp) -> DomainResult<User> {
        self.wrote("verify_binding");
        self.inner.verify_binding(nonce, user, now).await
    }
}

#[async_trait]
impl<S: Store> ControlStore for CountingStore<S> {
    async fn get_exec_control(&self) -> DomainResult<Option<ExecControl>> {
        let r = self.inner.get_exec_control().await;
        self.read("get_exec_control", n(&r));
        r
    }
    async fn put_exec_control(&self, next: &ExecControl) -> DomainResult<()> {
        self.wrote("put_exec_control");
        self.inner.put_exec_control(next).await
    }
    async fn put_heartbeat(&self, job: &str, at: Timestamp) -> DomainResult<()> {
        self.wrote("put_heartbeat");
        self.inner.put_heartbeat(job, at).await
    }
    async fn heartbeats(&self) -> DomainResult<Vec<(String, Timestamp)>> {
        let r = self.inner.heartbeats().await;
        self.read("heartbeats", v(&r));
        r
    }
    async fn get_flatten_run(&self) -> DomainResult<Option<FlattenRun>> {
        let r = self.inner.get_flatten_run().await;
        self.read("get_flatten_run", n(&r));
        r
    }
    async fn put_flatten_run(&self, run: &FlattenRun) -> DomainResult<()> {
        self.wrote("put_flatten_run");
        self.inner.put_flatten_run(run).await
    }
}

#[async_trait]
impl<S: Store> IntentStore for CountingStore<S> {
    async fn create_intent(&self, intent: &Intent) -> DomainResult<CreateOutcome> {
        self.wrote("create_intent");
        self.inner.create_intent(intent).await
    }
    async fn get_intent(&self, id: &IntentId) -> DomainResult<Option<Intent>> {
        let r = self.inner.get_intent(id).await;
        self.read("get_intent", n(&r));
        r
    }
    async fn transition(&self, id: &IntentId, t: &Transition) -> DomainResult<Intent> {
        self.wrote("transition");
        self.inner.transition(id, t).await
    }
    async fn settle_with_position(&self, id: &IntentId, t: &Transition, position: &Position) -> DomainResult<Intent> {
        self.wrote("settle_with_position");
        self.inner.settle_with_position(id, t, position).await
    }
    async fn user_intents(&self, user: TelegramUserId, limit: usize) -> DomainResult<Vec<Intent>> {
        let r = self.inner.user_intents(user, limit).await;
        self.read("user_intents", v(&r));
        r
    }
    async fn open_intents(&self) -> DomainResult<Vec<Intent>> {
        let r = self.inner.open_intents().await;
        self.read("open_intents", v(&r));
        r
    }
    async fn audit_trail(&self, id: &IntentId) -> DomainResult<Vec<AuditEntry>> {
        let r = self.inner.audit_trail(id).await;
        self.read("audit_trail", v(&r));
        r
    }
}

#[async_trait]
impl<S: Store> PositionStore for CountingStore<S> {
    async fn insert_position(&self, p: &Position) -> DomainResult<()> {
        self.wrote("insert_position");
        self.inner.insert_position(p).await
    }
    async fn get_position(&self, user: TelegramUserId, id: &PositionId) -> DomainResult<Option<Position>> {
        let r = self.inner.get_position(user, id).await;
        self.read("get_position", n(&r));
        r
    }
    async fn update_position(&self, p: &Position, expected: PositionStatus) -> DomainResult<()> {
        self.wrote("update_position");
        self.inner.update_position(p, expected).await
    }
    async fn user_positions(&self, user: TelegramUserId, live_only: bool) -> DomainResult<Vec<Position>> {
        let r = self.inner.user_positions(user, live_only).await;
        self.read("user_positions", v(&r));
        r
    }
    async fn live_positions(&self) -> DomainResult<Vec<Position>> {
        let r = self.inner.live_positions().await;
        self.read("live_positions", v(&r));
        r
    }
}

#[async_trait]
impl<S: Store> SourceStore for CountingStore<S> {
    async fn create_source(&self, s: &SignalSource) -> DomainResult<()> {
        self.wrote("create_source");
        self.inner.create_source(s).await
    }
    async fn get_source(&self, id: &SourceId) -> DomainResult<Option<SignalSource>> {
        let r = self.inner.get_source(id).await;
        self.read("get_source", n(&r));
        r
    }
    async fn source_by_tv_token_hash(&self, hash: &str) -> DomainResult<Option<SignalSource>> {
        let r = self.inner.source_by_tv_token_hash(hash).await;
        self.read("source_by_tv_token_hash", n(&r));
        r
    }
    async fn user_sources(&self, owner: TelegramUserId) -> DomainResult<Vec<SignalSource>> {
        let r = self.inner.user_sources(owner).await;
        self.read("user_sources", v(&r));
        r
    }
    async fn rotate_source(&self, owner: TelegramUserId, s: &SignalSource) -> DomainResult<()> {
        self.wrote("rotate_source");
        self.inner.rotate_source(owner, s).await
    }
}

#[async_trait]
impl<S: Store> FollowStore for CountingStore<S> {
    async fn put_follow(&self, f: &Follow) -> DomainResult<()> {
        self.wrote("put_follow");
        self.inner.put_follow(f).await
    }
    async fn remove_follow(&self, follower: TelegramUserId, leader: &LeaderRef) -> DomainResult<bool> {
        self.wrote("remove_follow");
        self.inner.remove_follow(follower, leader).await
    }
    async fn following(&self, follower: TelegramUserId) -> DomainResult<Vec<Follow>> {
        let r = self.inner.following(follower).await;
        self.read("following", v(&r));
        r
    }
    async fn followers(&self, leader: &LeaderRef) -> DomainResult<Vec<Follow>> {
        let r = self.inner.followers(leader).await;
        self.read("followers", v(&r));
        r
    }
}

#[async_trait]
impl<S: Store> MarkerStore for CountingStore<S> {
    async fn mark_once(&self, key: &str, now: Timestamp, expires_at: Timestamp) -> DomainResult<bool> {
        self.wrote("mark_once");
        self.inner.mark_once(key, now, expires_at).await
    }
    async fn hit_window(&self, key: &str, now: Timestamp, expires_at: Timestamp, limit: u32) -> DomainResult<bool> {
        self.wrote("hit_window");
        self.inner.hit_window(key, now, expires_at, limit).await
    }
}

#[async_trait]
impl<S: Store> TriggerStore for CountingStore<S> {
    async fn crossed(&self, part: &TriggerPartition, range: KeyRange) -> DomainResult<Vec<(TelegramUserId, PositionId)>> {
        let r = self.inner.crossed(part, range).await;
        self.read("crossed", v(&r));
        r
    }
    async fn any_indexed(&self, part: &TriggerPartition) -> DomainResult<bool> {
        let r = self.inner.any_indexed(part).await;
        self.read("any_indexed", usize::from(matches!(r, Ok(true))));
        r
    }
    async fn closing_positions(&self) -> DomainResult<Vec<Position>> {
        let r = self.inner.closing_positions().await;
        self.read("closing_positions", v(&r));
        r
    }
    async fn trigger_pairs(&self) -> DomainResult<Vec<PairSymbol>> {
        let r = self.inner.trigger_pairs().await;
        // One item holds every pair.
        self.read("trigger_pairs", 1);
        r
    }
    async fn get_trail_book(&self, pair: &PairSymbol, side: Side) -> DomainResult<Option<TrailBook>> {
        let r = self.inner.get_trail_book(pair, side).await;
        self.read("get_trail_book", n(&r));
        r
    }
    async fn put_trail_book(&self, pair: &PairSymbol, side: Side, book: &TrailBook) -> DomainResult<()> {
        self.wrote("put_trail_book");
        self.inner.put_trail_book(pair, side, book).await
    }
    async fn index_state(&self) -> DomainResult<IndexState> {
        let r = self.inner.index_state().await;
        self.read("index_state", 1);
        r
    }
    async fn put_index_state(&self, state: &IndexState) -> DomainResult<()> {
        self.wrote("put_index_state");
        self.inner.put_index_state(state).await
    }
    async fn live_positions_page(&self, after: Option<&str>, limit: usize) -> DomainResult<(Vec<Position>, Option<String>)> {
        let r = self.inner.live_positions_page(after, limit).await;
        self.read("live_positions_page", r.as_ref().map_or(0, |(p, _)| p.len()));
        r
    }
    async fn reindex_position(&self, p: &Position) -> DomainResult<()> {
        self.wrote("reindex_position");
        self.inner.reindex_position(p).await
    }
}
