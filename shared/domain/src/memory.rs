//! In-memory adapters for every port (the twins): unit tests and the local runner use them. They
//! keep the same rules as the real adapters (conditional writes, atomic pairs, FIFO order, dedup
//! window). Behind the feature `test-fakes`: production builds do not compile them. The paper
//! venue, a production DRY adapter, is [`crate::paper_venue`] (re-exported here for the twins'
//! users).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{DomainError, DomainResult};
use crate::exec::{ExecControl, FlattenRun};
use crate::ids::{IntentId, PositionId, SourceId, TelegramUserId, TraderAddress};
use crate::intent::{AuditEntry, CreateOutcome, Intent, Transition};
use crate::market::PairSymbol;
use crate::money::Price;
use crate::ports::*;
use crate::position::{Position, PositionStatus};
use crate::time::{Clock, Timestamp};
use crate::user::{Follow, LeaderRef, SignalSource, User};
use crate::wallet::{AddressClaim, ChallengeState, WalletChallenge};

#[path = "memory_triggers.rs"]
mod triggers_mem;

pub use crate::paper_venue::{DEFAULT_PAPER_EQUITY, PaperVenue};

fn lock<T>(m: &Mutex<T>) -> DomainResult<MutexGuard<'_, T>> {
    m.lock().map_err(|_| DomainError::Internal("in-memory lock poisoned".into()))
}

#[derive(Default)]
struct Inner {
    users: HashMap<TelegramUserId, User>,
    addresses: HashMap<TraderAddress, AddressClaim>,
    challenges: HashMap<String, WalletChallenge>,
    control: Option<ExecControl>,
    intents: HashMap<IntentId, Intent>,
    audit: HashMap<IntentId, Vec<AuditEntry>>,
    positions: BTreeMap<(TelegramUserId, PositionId), Position>,
    sources: HashMap<SourceId, SignalSource>,
    follows: BTreeMap<(TelegramUserId, String), Follow>,
    markers: HashMap<String, Timestamp>,
    windows: HashMap<String, (Timestamp, u32)>,
    heartbeats: BTreeMap<String, Timestamp>,
    flatten: Option<FlattenRun>,
    recon: BTreeMap<TraderAddress, crate::recon::ReconWallet>,
    /// The trigger index, trail books and backfill marker (`memory_triggers.rs`).
    triggers: triggers_mem::Index,
    stored_limits: Option<crate::limits::StoredLimits>,
}

/// The whole [`Store`] in memory.
#[derive(Default)]
pub struct MemoryStore(Mutex<Inner>);

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
    /// Makes room for `intents` more intents and their audit trails at once, so that a bench's
    /// load does not pause on the maps' growth (a rehash under the lock is no property of the
    /// store this one stands in for).
    pub fn reserve_intents(&self, intents: usize) -> DomainResult<()> {
        let mut g = lock(&self.0)?;
        g.intents.reserve(intents);
        g.audit.reserve(intents);
        Ok(())
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn get_or_create_user(&self, mut user: User) -> DomainResult<User> {
        let mut g = lock(&self.0)?;
        user.trader = None; // addresses are bound only through bind_address / verify_binding
        user.trader_verified_at = None;
        Ok(g.users.entry(user.id).or_insert(user).clone())
    }
    async fn get_user(&self, id: TelegramUserId) -> DomainResult<Option<User>> {
        Ok(lock(&self.0)?.users.get(&id).cloned())
    }
    async fn update_user(&self, user: &User) -> DomainResult<()> {
        let mut g = lock(&self.0)?;
        let stored = g.users.get_mut(&user.id).ok_or_else(|| DomainError::NotFound(format!("user {}", user.id)))?;
        let (trader, verified) = (stored.trader, stored.trader_verified_at);
        *stored = user.clone();
        stored.trader = trader;
        stored.trader_verified_at = verified;
        Ok(())
    }
    async fn bind_address(&self, user: TelegramUserId, address: TraderAddress) -> DomainResult<User> {
        let mut g = lock(&self.0)?;
        if let Some(claim) = g.addresses.get(&address)
            && claim.owner != user
        {
            return Err(DomainError::Conflict(format!("{address} is bound to another user")));
        }
        let previous = g.users.get(&user).ok_or_else(|| DomainError::NotFound(format!("user {user}")))?.trader;
        if previous == Some(address) {
            return g.users.get(&user).cloned().ok_or_else(|| DomainError::NotFound(format!("user {user}")));
        }
        if let Some(prev) = previous
            && g.addresses.get(&prev).is_some_and(|c| c.owner == user)
        {
            g.addresses.remove(&prev);
        }
        g.addresses.insert(address, AddressClaim { owner: user, verified: false });
        let u = g.users.get_mut(&user).ok_or_else(|| DomainError::NotFound(format!("user {user}")))?;
        u.trader = Some(address);
        u.trader_verified_at = None;
        Ok(u.clone())
    }
    async fn user_by_address(&self, address: TraderAddress) -> DomainResult<Option<User>> {
        let g = lock(&self.0)?;
        Ok(g.addresses.get(&address).and_then(|c| g.users.get(&c.owner)).cloned())
    }
    async fn wallet_users(&self) -> DomainResult<Vec<User>> {
        let mut v: Vec<User> = lock(&self.0)?.users.values().filter(|u| u.trader.is_some()).cloned().collect();
        v.sort_by_key(|u| u.id);
        Ok(v)
    }
    async fn address_claim(&self, address: TraderAddress) -> DomainResult<Option<AddressClaim>> {
        Ok(lock(&self.0)?.addresses.get(&address).copied())
    }
    async fn put_challenge(&self, c: &WalletChallenge) -> DomainResult<()> {
        let mut g = lock(&self.0)?;
        if g.challenges.contains_key(&c.nonce) {
            return Err(DomainError::Conflict(format!("challenge {} exists", c.nonce)));
        }
        g.challenges.insert(c.nonce.clone(), c.clone());
        Ok(())
    }
    async fn get_challenge(&self, nonce: &str) -> DomainResult<Option<WalletChallenge>> {
        Ok(lock(&self.0)?.challenges.get(nonce).cloned())
    }
    async fn user_challenges(&self, user: TelegramUserId, limit: usize) -> DomainResult<Vec<WalletChallenge>> {
        let g = lock(&self.0)?;
        let mut v: Vec<WalletChallenge> = g.challenges.values().filter(|c| c.user == user).cloned().collect();
        v.sort_by(|a, b| b.issued_at.cmp(&a.issued_at).then_with(|| b.nonce.cmp(&a.nonce)));
        v.truncate(limit);
        Ok(v)
    }
    async fn verify_binding(&self, nonce: &str, user: TelegramUserId, now: Timestamp) -> DomainResult<User> {
        let mut g = lock(&self.0)?;
        let c = g.challenges.get(nonce).cloned().ok_or_else(|| DomainError::NotFound(format!("challenge {nonce}")))?;
        if c.user != user {
            return Err(DomainError::Forbidden("this challenge was issued to another user".into()));
        }
        match c.state_at(now) {
            ChallengeState::Used => return Err(DomainError::Conflict("this challenge was used already".into())),
            ChallengeState::Expired => return Err(DomainError::Conflict("this challenge has expired".into())),
            ChallengeState::Open => {}
        }
        let address = c.address;
        let previous = g.users.get(&user).ok_or_else(|| DomainError::NotFound(format!("user {user}")))?.trader;
        // Checks done: from here on everything changes together (one lock).
        let holder = g.addresses.get(&address).copied();
        match holder {
            Some(claim) if claim.owner != user && claim.verified => {
                return Err(DomainError::Conflict(format!("{address} is verified by another user")));
            }
            Some(claim) if claim.owner != user => {
                // An unverified claim gives way to the owner who proved it.
                if let Some(other) = g.users.get_mut(&claim.owner)
                    && other.trader == Some(address)
                {
                    other.trader = None;
                    other.trader_verified_at = None;
                }
            }
            _ => {}
        }
        if let Some(prev) = previous
            && prev != address
            && g.addresses.get(&prev).is_some_and(|c| c.owner == user)
        {
            g.addresses.remove(&prev);
        }
        g.addresses.insert(address, AddressClaim { owner: user, verified: true });
        if let Some(stored) = g.challenges.get_mut(nonce) {
            stored.used = true;
        }
        let u = g.users.get_mut(&user).ok_or_else(|| DomainError::NotFound(format!("user {user}")))?;
        u.trader = Some(address);
        u.trader_verified_at = Some(now);
        Ok(u.clone())
    }
}

#[async_trait]
impl ControlStore for MemoryStore {
    async fn get_exec_control(&self) -> DomainResult<Option<ExecControl>> {
        Ok(lock(&self.0)?.control.clone())
    }
    async fn put_exec_control(&self, next: &ExecControl) -> DomainResult<()> {
        let mut g = lock(&self.0)?;
        let current = g.control.as_ref().map_or(0, |c| c.version);
        if next.version != current + 1 {
            return Err(DomainError::Conflict(format!("exec mode changed meanwhile (version {current})")));
        }
        g.control = Some(next.clone());
        Ok(())
    }
    async fn put_heartbeat(&self, job: &str, at: Timestamp) -> DomainResult<()> {
        lock(&self.0)?.heartbeats.insert(job.to_owned(), at);
        Ok(())
    }
    async fn heartbeats(&self) -> DomainResult<Vec<(String, Timestamp)>> {
        Ok(lock(&self.0)?.heartbeats.iter().map(|(k, v)| (k.clone(), *v)).collect())
    }
    async fn get_flatten_run(&self) -> DomainResult<Option<FlattenRun>> {
        Ok(lock(&self.0)?.flatten.clone())
    }
    async fn put_flatten_run(&self, run: &FlattenRun) -> DomainResult<()> {
        lock(&self.0)?.flatten = Some(run.clone());
        Ok(())
    }
    async fn recon_wallets(&self) -> DomainResult<Vec<crate::recon::ReconWallet>> {
        Ok(lock(&self.0)?.recon.values().cloned().collect())
    }
    async fn get_recon_wallet(&self, wallet: TraderAddress) -> DomainResult<Option<crate::recon::ReconWallet>> {
        Ok(lock(&self.0)?.recon.get(&wallet).cloned())
    }
    async fn put_recon_wallet(&self, w: &crate::recon::ReconWallet) -> DomainResult<()> {
        let mut g = lock(&self.0)?;
        // A stored record has version 1 or more: version 0 means "there is none".
        if g.recon.get(&w.wallet).map_or(0, |r| r.version) != w.version {
            return Err(DomainError::Conflict(format!("reconciler record of {} changed meanwhile", w.wallet)));
        }
        let mut next = w.clone();
        next.version = w.version.saturating_add(1);
        g.recon.insert(w.wallet, next);
        Ok(())
    }
    async fn get_stored_limits(&self) -> DomainResult<Option<crate::limits::StoredLimits>> {
        Ok(lock(&self.0)?.stored_limits.clone())
    }
    async fn put_stored_limits(&self, limits: &crate::limits::StoredLimits) -> DomainResult<()> {
        lock(&self.0)?.stored_limits = Some(limits.clone());
        Ok(())
    }
}

#[async_trait]
impl IntentStore for MemoryStore {
    async fn create_intent(&self, intent: &Intent) -> DomainResult<CreateOutcome> {
        let mut g = lock(&self.0)?;
        if let Some(existing) = g.intents.get(&intent.id) {
            return Ok(if existing.payload_hash == intent.payload_hash {
                CreateOutcome::Duplicate(existing.clone())
            } else {
                CreateOutcome::Mismatch(existing.clone())
            });
        }
        g.intents.insert(intent.id.clone(), intent.clone());
        g.audit.entry(intent.id.clone()).or_default().push(AuditEntry {
            intent: intent.id.clone(),
            at: intent.created_at,
            state: intent.state,
            reason: None,
            detail: None,
        });
        Ok(CreateOutcome::Created)
    }
    async fn get_intent(&self, id: &IntentId) -> DomainResult<Option<Intent>> {
        Ok(lock(&self.0)?.intents.get(id).cloned())
    }
    async fn transition(&self, id: &IntentId, t: &Transition) -> DomainResult<Intent> {
        let mut g = lock(&self.0)?;
        let i = g.intents.get_mut(id).ok_or_else(|| DomainError::NotFound(format!("intent {id}")))?;
        t.apply(i)?;
        let out = i.clone();
        g.audit.entry(id.clone()).or_default().push(audit_of(id, t));
        Ok(out)
    }
    async fn settle_with_position(&self, id: &IntentId, t: &Transition, position: &Position) -> DomainResult<Intent> {
        let mut g = lock(&self.0)?;
        let key = (position.user, position.id.clone());
        if g.positions.contains_key(&key) {
            return Err(DomainError::Conflict(format!("position {} exists", position.id)));
        }
        let i = g.intents.get_mut(id).ok_or_else(|| DomainError::NotFound(format!("intent {id}")))?;
        let mut next = i.clone();
        t.apply(&mut next)?;
        *i = next.clone();
        g.triggers.write(None, position);
        g.positions.insert(key, position.clone());
        g.audit.entry(id.clone()).or_default().push(audit_of(id, t));
        Ok(next)
    }
    async fn user_intents(&self, user: TelegramUserId, limit: usize) -> DomainResult<Vec<Intent>> {
        let g = lock(&self.0)?;
        let mut v: Vec<Intent> = g.intents.values().filter(|i| i.user == user).cloned().collect();
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        v.truncate(limit);
        Ok(v)
    }
    async fn audit_trail(&self, id: &IntentId) -> DomainResult<Vec<AuditEntry>> {
        Ok(lock(&self.0)?.audit.get(id).cloned().unwrap_or_default())
    }
    async fn open_intents(&self) -> DomainResult<Vec<Intent>> {
        let g = lock(&self.0)?;
        let mut v: Vec<Intent> = g.intents.values().filter(|i| i.state.outcome_unknown()).cloned().collect();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(v)
    }
}

fn audit_of(id: &IntentId, t: &Transition) -> AuditEntry {
    AuditEntry { intent: id.clone(), at: t.at, state: t.to, reason: t.reason.clone(), detail: t.detail.clone() }
}

#[async_trait]
impl PositionStore for MemoryStore {
    async fn insert_position(&self, p: &Position) -> DomainResult<()> {
        let mut g = lock(&self.0)?;
        let key = (p.user, p.id.clone());
        if g.positions.contains_key(&key) {
            return Err(DomainError::Conflict(format!("position {} exists", p.id)));
        }
        g.triggers.write(None, p);
        g.positions.insert(key, p.clone());
        Ok(())
    }
    async fn get_position(&self, user: TelegramUserId, id: &PositionId) -> DomainResult<Option<Position>> {
        Ok(lock(&self.0)?.positions.get(&(user, id.clone())).cloned())
    }
    async fn update_position(&self, p: &Position, expected: PositionStatus) -> DomainResult<()> {
        let mut g = lock(&self.0)?;
        let stored = g.positions.get_mut(&(p.user, p.id.clone())).ok_or_else(|| DomainError::NotFound(format!("position {}", p.id)))?;
        if stored.status != expected {
            return Err(DomainError::Conflict(format!("position {} is {}, not {}", p.id, stored.status.as_str(), expected.as_str())));
        }
        if p.status != expected && !expected.can_become(p.status) {
            return Err(DomainError::Conflict(format!("a position cannot go from {} to {}", expected.as_str(), p.status.as_str())));
        }
        if stored.version != p.version {
            return Err(DomainError::Conflict(format!(
                "position {} changed meanwhile (version {}, not {})",
                p.id, stored.version, p.version
            )));
        }
        let old = std::mem::replace(stored, p.clone());
        stored.version = p.version.saturating_add(1);
        g.triggers.write(Some(&old), p);
        Ok(())
    }
    async fn user_positions(&self, user: TelegramUserId, live_only: bool) -> DomainResult<Vec<Position>> {
        let g = lock(&self.0)?;
        Ok(g.positions.values().filter(|p| p.user == user && (!live_only || p.status.is_live())).cloned().collect())
    }
    async fn live_positions(&self) -> DomainResult<Vec<Position>> {
        Ok(lock(&self.0)?.positions.values().filter(|p| p.status.is_live()).cloned().collect())
    }
}

#[async_trait]
impl SourceStore for MemoryStore {
    async fn create_source(&self, s: &SignalSource) -> DomainResult<()> {
        let mut g = lock(&self.0)?;
        if g.sources.contains_key(&s.id) {
            return Err(DomainError::Conflict(format!("source id '{}' is taken", s.id)));
        }
        g.sources.insert(s.id.clone(), s.clone());
        Ok(())
    }
    async fn get_source(&self, id: &SourceId) -> DomainResult<Option<SignalSource>> {
        Ok(lock(&self.0)?.sources.get(id).cloned())
    }
    async fn source_by_tv_token_hash(&self, hash: &str) -> DomainResult<Option<SignalSource>> {
        Ok(lock(&self.0)?.sources.values().find(|s| s.tv_token_hash == hash).cloned())
    }
    async fn user_sources(&self, owner: TelegramUserId) -> DomainResult<Vec<SignalSource>> {
        let g = lock(&self.0)?;
        let mut v: Vec<_> = g.sources.values().filter(|s| s.owner == owner).cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(v)
    }
    async fn rotate_source(&self, owner: TelegramUserId, s: &SignalSource) -> DomainResult<()> {
        let mut g = lock(&self.0)?;
        let stored = g.sources.get_mut(&s.id).ok_or_else(|| DomainError::NotFound(format!("source {}", s.id)))?;
        if stored.owner != owner || s.owner != owner {
            return Err(DomainError::Forbidden(format!("source {} is not yours", s.id)));
        }
        *stored = s.clone();
        Ok(())
    }
}

#[async_trait]
impl FollowStore for MemoryStore {
    async fn put_follow(&self, f: &Follow) -> DomainResult<()> {
        lock(&self.0)?.follows.insert((f.follower, f.leader.key()), f.clone());
        Ok(())
    }
    async fn remove_follow(&self, follower: TelegramUserId, leader: &LeaderRef) -> DomainResult<bool> {
        Ok(lock(&self.0)?.follows.remove(&(follower, leader.key())).is_some())
    }
    async fn following(&self, follower: TelegramUserId) -> DomainResult<Vec<Follow>> {
        Ok(lock(&self.0)?.follows.values().filter(|f| f.follower == follower).cloned().collect())
    }
    async fn followers(&self, leader: &LeaderRef) -> DomainResult<Vec<Follow>> {
        Ok(lock(&self.0)?.follows.values().filter(|f| &f.leader == leader).cloned().collect())
    }
}

#[async_trait]
impl MarkerStore for MemoryStore {
    async fn mark_once(&self, key: &str, now: Timestamp, expires_at: Timestamp) -> DomainResult<bool> {
        let mut g = lock(&self.0)?;
        match g.markers.get(key) {
            Some(exp) if *exp > now => Ok(false),
            _ => {
                g.markers.insert(key.to_owned(), expires_at);
                Ok(true)
            }
        }
    }
    async fn hit_window(&self, key: &str, now: Timestamp, expires_at: Timestamp, limit: u32) -> DomainResult<bool> {
        let mut g = lock(&self.0)?;
        let entry = g.windows.entry(key.to_owned()).or_insert((expires_at, 0));
        if entry.0 <= now {
            *entry = (expires_at, 0);
        }
        if entry.1 >= limit {
            return Ok(false);
        }
        entry.1 += 1;
        Ok(true)
    }
}

// ---------------------------------------------------------------------------------------------

/// A FIFO queue with SQS's rules: per-group order and a 5-minute deduplication window.
pub struct MemoryQueue {
    clock: Arc<dyn Clock>,
    inner: Mutex<QueueInner>,
    notify: tokio::sync::Notify,
}

#[derive(Default)]
struct QueueInner {
    messages: VecDeque<QueueMessage>,
    seen: HashMap<String, Timestamp>,
    dead: Vec<QueueMessage>,
}

/// SQS FIFO's deduplication interval.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(300);

impl MemoryQueue {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, inner: Mutex::new(QueueInner::default()), notify: tokio::sync::Notify::new() }
    }
    /// Makes room for `messages` more messages at once (see [`MemoryStore::reserve_intents`]).
    pub fn reserve(&self, messages: usize) -> DomainResult<()> {
        let mut g = lock(&self.inner)?;
        g.messages.reserve(messages);
        g.seen.reserve(messages);
        Ok(())
    }
    /// Takes up to `max` messages in send order.
    pub fn take(&self, max: usize) -> DomainResult<Vec<QueueMessage>> {
        let mut g = lock(&self.inner)?;
        let n = max.min(g.messages.len());
        Ok(g.messages.drain(..n).collect())
    }
    /// Puts messages back at the front (a failed batch), keeping their order.
    pub fn put_back(&self, msgs: Vec<QueueMessage>) -> DomainResult<()> {
        let mut g = lock(&self.inner)?;
        for m in msgs.into_iter().rev() {
            g.messages.push_front(m);
        }
        Ok(())
    }
    pub fn len(&self) -> usize {
        lock(&self.inner).map(|g| g.messages.len()).unwrap_or(0)
    }
    /// Moves a message to the dead-letter list (what SQS does after too many receives).
    pub fn dead_letter(&self, msg: QueueMessage) -> DomainResult<()> {
        lock(&self.inner)?.dead.push(msg);
        Ok(())
    }
    /// The dead-lettered messages, oldest first.
    pub fn dead_letters(&self) -> Vec<QueueMessage> {
        lock(&self.inner).map(|g| g.dead.clone()).unwrap_or_default()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Waits until a message may be available.
    pub async fn wait(&self) {
        self.notify.notified().await;
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, msg: QueueMessage) -> DomainResult<()> {
        if msg.group.is_empty() || msg.dedup_id.is_empty() {
            return Err(DomainError::Invalid("FIFO messages need a group and a deduplication id".into()));
        }
        let now = self.clock.now();
        {
            let mut g = lock(&self.inner)?;
            if let Some(at) = g.seen.get(&msg.dedup_id)
                && now.since(*at) < DEDUP_WINDOW.as_millis() as i64
            {
                return Ok(()); // accepted and dropped, as SQS does
            }
            g.seen.insert(msg.dedup_id.clone(), now);
            g.messages.push_back(msg);
        }
        self.notify.notify_one();
        Ok(())
    }
}

#[async_trait]
impl QueueStats for MemoryQueue {
    async fn depths(&self) -> DomainResult<QueueDepths> {
        let g = lock(&self.inner)?;
        Ok(QueueDepths { queued: g.messages.len() as u64, in_flight: 0, dead_letters: g.dead.len() as u64 })
    }
}

// ---------------------------------------------------------------------------------------------

/// Prices set by hand (tests) or by a replayed feed (local runner).
#[derive(Default)]
pub struct FixedPrices(Mutex<HashMap<PairSymbol, Vec<PriceQuote>>>);

impl FixedPrices {
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets one source's quote for a pair, replacing that source's previous one.
    pub fn set(&self, pair: PairSymbol, source: &str, price: Price, at: Timestamp) -> DomainResult<()> {
        let mut g = lock(&self.0)?;
        let v = g.entry(pair.clone()).or_default();
        v.retain(|q| q.source != source);
        v.push(PriceQuote {
            pair,
            price,
            published_at: at,
            source: source.to_owned(),
            check_age_secs: None,
            check_band: crate::money::Bps::default(),
        });
        Ok(())
    }
}

#[async_trait]
impl Prices for FixedPrices {
    async fn quotes(&self, pair: &PairSymbol) -> DomainResult<Vec<PriceQuote>> {
        Ok(lock(&self.0)?.get(pair).cloned().unwrap_or_default())
    }
}

/// Keeps every message "sent" (tests read them; the local runner prints them).
#[derive(Default)]
pub struct RecordingChat(Mutex<Vec<OutgoingMessage>>);

impl RecordingChat {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn sent(&self) -> Vec<OutgoingMessage> {
        lock(&self.0).map(|g| g.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Chat for RecordingChat {
    async fn send(&self, msg: &OutgoingMessage) -> DomainResult<()> {
        lock(&self.0)?.push(msg.clone());
        Ok(())
    }
}
