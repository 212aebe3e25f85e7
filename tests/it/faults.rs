//! The fault-injection matrix: each pipeline step (receive, validate, risk, sign, submit,
//! record, notify) × each fault (store error, crash and redelivery, KMS throttling, relay
//! timeout, RPC error, stale or disagreeing oracle, Telegram down), in DRY (paper venue) and
//! LIVE (the Veranta client against the fake venue, signing with a local key behind the
//! exec-mode gate). Every applicable cell runs one signal through the system with the fault
//! injected and checks: the fault fired; at most one trade on the venue; the signal is filled,
//! or refused/failed with the user told, or still retriable (queue or DLQ); and when it ended,
//! the user got a notice. Cells that cannot apply say why. The matrix is printed.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{B256, Signature};
use async_trait::async_trait;
use serde_json::json;
use vanta_app::delegates::{DelegateKey, DelegatePool};
use vanta_app::gate::GatedSigner;
use vanta_app::http::testing::{self, TestRequest};
use vanta_app::{Deps, notifier, signals, worker};
use vanta_chain::avantis::{AvantisClient, AvantisConfig, AvantisVenue};
use vanta_chain::budget::BudgetedVenue;
use vanta_chain::signer::LocalKeySigner;
use vanta_domain::exec::{ExecControl, ExecMode, FlattenRun};
use vanta_domain::ids::{ChatId, IntentId, PositionId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::{AuditEntry, CreateOutcome, Intent, IntentState, Transition};
use vanta_domain::market::{PairCatalog, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue};
use vanta_domain::money::Price;
use vanta_domain::ports::{
    Chat, ControlStore, FollowStore, IntentStore, MarkerStore, OutgoingMessage, PositionStore, Queue, QueueMessage, Signer, SourceStore,
    UserStore, Venue,
};
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{Follow, LeaderRef, SecretText, SignalSource, User};
use vanta_domain::wallet::{AddressClaim, WalletChallenge};
use vanta_domain::{DomainError, DomainResult};
use vanta_runtime::Config;
use vanta_testkit::fake_avantis::{Endpoint, FAKE_CHAIN_ID, FakeAvantis, FakeFailure, Stall};

const ALICE: i64 = 4242;
const TV: &str = "tvFAULTS0123456789abcdef";
const DEV_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

// ----- switches ------------------------------------------------------------------------------

/// A store failure: calls of `method` after `skip` good ones fail `times` times. A crash lets
/// the write land and then fails (the process died before it saw the answer).
#[derive(Debug, Clone)]
struct StoreFault {
    /// Which store handle: "" the functions' own, "gate" the signing gate's.
    scope: &'static str,
    method: &'static str,
    skip: u32,
    times: u32,
    crash: bool,
}

#[derive(Default)]
struct Switches {
    store: Mutex<Option<StoreFault>>,
    fired: AtomicU32,
    kms_throttled: AtomicU32,
    kms_hang: AtomicBool,
    chat_down: AtomicBool,
    notices_hang: AtomicU32,
}

impl Switches {
    /// `Ok(crash)` when the call goes on (`crash`: fail after it), `Err` when it fails now.
    fn store_call(&self, scope: &str, method: &str) -> DomainResult<bool> {
        let mut g = self.store.lock().unwrap();
        let Some(f) = g.as_mut() else { return Ok(false) };
        if f.scope != scope || f.method != method || f.times == 0 {
            return Ok(false);
        }
        if f.skip > 0 {
            f.skip -= 1;
            return Ok(false);
        }
        f.times -= 1;
        self.fired.fetch_add(1, Ordering::SeqCst);
        if f.crash { Ok(true) } else { Err(DomainError::Unavailable(format!("injected store error in {method}"))) }
    }
    fn fire(&self) {
        self.fired.fetch_add(1, Ordering::SeqCst);
    }
}

struct FaultyStore {
    inner: Arc<MemoryStore>,
    sw: Arc<Switches>,
    scope: &'static str,
}

macro_rules! faulty {
    ($self:ident, $name:literal, $call:expr) => {{
        let crash = $self.sw.store_call($self.scope, $name)?;
        let out = $call.await;
        if crash && out.is_ok() {
            return Err(DomainError::Unavailable(format!("injected crash after {}", $name)));
        }
        out
    }};
}

#[async_trait]
impl UserStore for FaultyStore {
    async fn get_or_create_user(&self, user: User) -> DomainResult<User> {
        faulty!(self, "get_or_create_user", self.inner.get_or_create_user(user))
    }
    async fn get_user(&self, id: TelegramUserId) -> DomainResult<Option<User>> {
        faulty!(self, "get_user", self.inner.get_user(id))
    }
    async fn update_user(&self, user: &User) -> DomainResult<()> {
        faulty!(self, "update_user", self.inner.update_user(user))
    }
    async fn bind_address(&self, user: TelegramUserId, address: TraderAddress) -> DomainResult<User> {
        faulty!(self, "bind_address", self.inner.bind_address(user, address))
    }
    async fn user_by_address(&self, address: TraderAddress) -> DomainResult<Option<User>> {
        faulty!(self, "user_by_address", self.inner.user_by_address(address))
    }
    async fn wallet_users(&self) -> DomainResult<Vec<User>> {
        faulty!(self, "wallet_users", self.inner.wallet_users())
    }
    async fn address_claim(&self, address: TraderAddress) -> DomainResult<Option<AddressClaim>> {
        faulty!(self, "address_claim", self.inner.address_claim(address))
    }
    async fn put_challenge(&self, c: &WalletChallenge) -> DomainResult<()> {
        faulty!(self, "put_challenge", self.inner.put_challenge(c))
    }
    async fn get_challenge(&self, nonce: &str) -> DomainResult<Option<WalletChallenge>> {
        faulty!(self, "get_challenge", self.inner.get_challenge(nonce))
    }
    async fn user_challenges(&self, user: TelegramUserId, limit: usize) -> DomainResult<Vec<WalletChallenge>> {
        faulty!(self, "user_challenges", self.inner.user_challenges(user, limit))
    }
    async fn verify_binding(&self, nonce: &str, user: TelegramUserId, now: Timestamp) -> DomainResult<User> {
        faulty!(self, "verify_binding", self.inner.verify_binding(nonce, user, now))
    }
}

#[async_trait]
impl ControlStore for FaultyStore {
    async fn get_exec_control(&self) -> DomainResult<Option<ExecControl>> {
        faulty!(self, "get_exec_control", self.inner.get_exec_control())
    }
    async fn put_exec_control(&self, next: &ExecControl) -> DomainResult<()> {
        faulty!(self, "put_exec_control", self.inner.put_exec_control(next))
    }
    async fn put_heartbeat(&self, job: &str, at: Timestamp) -> DomainResult<()> {
        faulty!(self, "put_heartbeat", self.inner.put_heartbeat(job, at))
    }
    async fn heartbeats(&self) -> DomainResult<Vec<(String, Timestamp)>> {
        faulty!(self, "heartbeats", self.inner.heartbeats())
    }
    async fn get_flatten_run(&self) -> DomainResult<Option<FlattenRun>> {
        faulty!(self, "get_flatten_run", self.inner.get_flatten_run())
    }
    async fn put_flatten_run(&self, run: &FlattenRun) -> DomainResult<()> {
        faulty!(self, "put_flatten_run", self.inner.put_flatten_run(run))
    }
}

#[async_trait]
impl IntentStore for FaultyStore {
    async fn create_intent(&self, intent: &Intent) -> DomainResult<CreateOutcome> {
        faulty!(self, "create_intent", self.inner.create_intent(intent))
    }
    async fn get_intent(&self, id: &IntentId) -> DomainResult<Option<Intent>> {
        faulty!(self, "get_intent", self.inner.get_intent(id))
    }
    async fn transition(&self, id: &IntentId, t: &Transition) -> DomainResult<Intent> {
        let name = match t.to {
            IntentState::Validated => "transition:validated",
            IntentState::Submitted => "transition:submitted",
            _ => "transition",
        };
        let crash = self.sw.store_call(self.scope, name)?;
        let out = self.inner.transition(id, t).await;
        if crash && out.is_ok() {
            return Err(DomainError::Unavailable(format!("injected crash after {name}")));
        }
        out
    }
    async fn settle_with_position(&self, id: &IntentId, t: &Transition, position: &Position) -> DomainResult<Intent> {
        faulty!(self, "settle_with_position", self.inner.settle_with_position(id, t, position))
    }
    async fn user_intents(&self, user: TelegramUserId, limit: usize) -> DomainResult<Vec<Intent>> {
        faulty!(self, "user_intents", self.inner.user_intents(user, limit))
    }
    async fn open_intents(&self) -> DomainResult<Vec<Intent>> {
        faulty!(self, "open_intents", self.inner.open_intents())
    }
    async fn audit_trail(&self, id: &IntentId) -> DomainResult<Vec<AuditEntry>> {
        faulty!(self, "audit_trail", self.inner.audit_trail(id))
    }
}

#[async_trait]
impl PositionStore for FaultyStore {
    async fn insert_position(&self, p: &Position) -> DomainResult<()> {
        faulty!(self, "insert_position", self.inner.insert_position(p))
    }
    async fn get_position(&self, user: TelegramUserId, id: &PositionId) -> DomainResult<Option<Position>> {
        faulty!(self, "get_position", self.inner.get_position(user, id))
    }
    async fn update_position(&self, p: &Position, expected: PositionStatus) -> DomainResult<()> {
        faulty!(self, "update_position", self.inner.update_position(p, expected))
    }
    async fn user_positions(&self, user: TelegramUserId, live_only: bool) -> DomainResult<Vec<Position>> {
        faulty!(self, "user_positions", self.inner.user_positions(user, live_only))
    }
    async fn live_positions(&self) -> DomainResult<Vec<Position>> {
        faulty!(self, "live_positions", self.inner.live_positions())
    }
}

#[async_trait]
impl SourceStore for FaultyStore {
    async fn create_source(&self, s: &SignalSource) -> DomainResult<()> {
        faulty!(self, "create_source", self.inner.create_source(s))
    }
    async fn get_source(&self, id: &SourceId) -> DomainResult<Option<SignalSource>> {
        faulty!(self, "get_source", self.inner.get_source(id))
    }
    async fn source_by_tv_token_hash(&self, hash: &str) -> DomainResult<Option<SignalSource>> {
        faulty!(self, "source_by_tv_token_hash", self.inner.source_by_tv_token_hash(hash))
    }
    async fn user_sources(&self, owner: TelegramUserId) -> DomainResult<Vec<SignalSource>> {
        faulty!(self, "user_sources", self.inner.user_sources(owner))
    }
    async fn rotate_source(&self, owner: TelegramUserId, s: &SignalSource) -> DomainResult<()> {
        faulty!(self, "rotate_source", self.inner.rotate_source(owner, s))
    }
}

#[async_trait]
impl FollowStore for FaultyStore {
    async fn put_follow(&self, f: &Follow) -> DomainResult<()> {
        faulty!(self, "put_follow", self.inner.put_follow(f))
    }
    async fn remove_follow(&self, follower: TelegramUserId, leader: &LeaderRef) -> DomainResult<bool> {
        faulty!(self, "remove_follow", self.inner.remove_follow(follower, leader))
    }
    async fn following(&self, follower: TelegramUserId) -> DomainResult<Vec<Follow>> {
        faulty!(self, "following", self.inner.following(follower))
    }
    async fn followers(&self, leader: &LeaderRef) -> DomainResult<Vec<Follow>> {
        faulty!(self, "followers", self.inner.followers(leader))
    }
}

#[async_trait]
impl MarkerStore for FaultyStore {
    async fn mark_once(&self, key: &str, now: Timestamp, expires_at: Timestamp) -> DomainResult<bool> {
        faulty!(self, "mark_once", self.inner.mark_once(key, now, expires_at))
    }
    async fn hit_window(&self, key: &str, now: Timestamp, expires_at: Timestamp, limit: u32) -> DomainResult<bool> {
        faulty!(self, "hit_window", self.inner.hit_window(key, now, expires_at, limit))
    }
}

/// The delegate key as KMS would serve it: it can throttle, or hang (the function is cut).
struct FaultyKms {
    inner: LocalKeySigner,
    sw: Arc<Switches>,
    signatures: AtomicU32,
}

#[async_trait]
impl Signer for FaultyKms {
    fn address(&self) -> TraderAddress {
        Signer::address(&self.inner)
    }
    async fn sign_digest(&self, digest: B256) -> DomainResult<Signature> {
        if self.sw.kms_hang.swap(false, Ordering::SeqCst) {
            self.sw.fire();
            std::future::pending::<()>().await;
        }
        if self.sw.kms_throttled.load(Ordering::SeqCst) > 0 {
            self.sw.kms_throttled.fetch_sub(1, Ordering::SeqCst);
            self.sw.fire();
            return Err(DomainError::Unavailable("KMS: ThrottlingException: Rate exceeded".into()));
        }
        self.signatures.fetch_add(1, Ordering::SeqCst);
        self.inner.sign_digest(digest).await
    }
}

/// Telegram: records what reached users; can be down.
struct FaultyChat {
    sw: Arc<Switches>,
    delivered: Mutex<Vec<OutgoingMessage>>,
}

#[async_trait]
impl Chat for FaultyChat {
    async fn send(&self, msg: &OutgoingMessage) -> DomainResult<()> {
        if self.sw.chat_down.load(Ordering::SeqCst) {
            self.sw.fire();
            return Err(DomainError::Unavailable("telegram: 502 Bad Gateway".into()));
        }
        self.delivered.lock().unwrap().push(msg.clone());
        Ok(())
    }
}

/// `notifications.fifo`: can hang (the delivery is cut while queueing a notice).
struct FaultyNotices {
    inner: Arc<MemoryQueue>,
    sw: Arc<Switches>,
}

#[async_trait]
impl Queue for FaultyNotices {
    async fn send(&self, msg: QueueMessage) -> DomainResult<()> {
        if self.sw.notices_hang.load(Ordering::SeqCst) > 0 {
            self.sw.notices_hang.fetch_sub(1, Ordering::SeqCst);
            self.sw.fire();
            std::future::pending::<()>().await;
        }
        self.inner.send(msg).await
    }
}

// ----- the system ------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Dry,
    Live,
}

struct Env {
    #[allow(dead_code)]
    mode: Mode,
    deps: Deps,
    store: Arc<MemoryStore>,
    sw: Arc<Switches>,
    queue: Arc<MemoryQueue>,
    notices: Arc<MemoryQueue>,
    chat: Arc<FaultyChat>,
    clock: Arc<ManualClock>,
    prices: Arc<FixedPrices>,
    paper: Arc<PaperVenue>,
    fake: Option<FakeAvantis>,
    trader: TraderAddress,
    receives: Mutex<HashMap<String, u32>>,
}

fn now_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

const BTC: u16 = 1;

fn btc_pair() -> vanta_domain::market::PairInfo {
    use vanta_domain::money::{Leverage, PercentP, Usdc};
    vanta_domain::market::PairInfo {
        index: vanta_domain::market::PairIndex(BTC),
        symbol: PairSymbol::parse("BTC/USD").unwrap(),
        group: 0,
        listed: true,
        close_only: false,
        min_leverage: Leverage::ONE,
        max_leverage: Leverage::from_whole(75).unwrap(),
        min_position: Usdc::from_str("100").unwrap(),
        open_fee: PercentP::from_str("0.045").unwrap(),
        close_fee: PercentP::from_str("0.045").unwrap(),
        spread: PercentP::from_str("0.01").unwrap(),
        max_gain: PercentP::from_str("2500").unwrap(),
        max_sl: PercentP::from_str("80").unwrap(),
    }
}

impl Env {
    async fn new(mode: Mode) -> Env {
        let sw = Arc::new(Switches::default());
        // The fake venue checks intent deadlines against the real time: the clock starts there.
        let clock = Arc::new(ManualClock::new(Timestamp(now_ms())));
        let store = Arc::new(MemoryStore::new());
        let faulty: Arc<FaultyStore> = Arc::new(FaultyStore { inner: store.clone(), sw: sw.clone(), scope: "" });
        let queue = Arc::new(MemoryQueue::new(clock.clone()));
        let notices = Arc::new(MemoryQueue::new(clock.clone()));
        let prices = Arc::new(FixedPrices::new());
        let fake = if mode == Mode::Live { Some(FakeAvantis::start().await.unwrap()) } else { None };
        let catalog = match &fake {
            Some(f) => {
                let u = f.urls();
                AvantisClient::new(AvantisConfig::new(u.tx_builder, u.batched_market, u.core, u.data, FAKE_CHAIN_ID))
                    .unwrap()
                    .pairs()
                    .await
                    .unwrap()
            }
            None => Arc::new(PairCatalog::new([btc_pair()]).unwrap()),
        };
        let paper = Arc::new(PaperVenue::new(catalog, prices.clone(), clock.clone()));
        let chat = Arc::new(FaultyChat { sw: sw.clone(), delivered: Mutex::new(Vec::new()) });
        let env: &[(&str, &str)] = if mode == Mode::Live { &[("COPY_EXECUTION_MODE", "LIVE")] } else { &[] };
        let config = Config::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())).unwrap();
        let exec_env = config.exec;
        let mut deps = Deps::new(config, faulty.clone(), queue.clone(), chat.clone(), clock.clone(), prices.clone(), paper.clone())
            .with_notifications_queue(Arc::new(FaultyNotices { inner: notices.clone(), sw: sw.clone() }));
        let kms = Arc::new(FaultyKms {
            inner: LocalKeySigner::from_secret_hex(&secrecy::SecretString::from(DEV_KEY.to_owned())).unwrap(),
            sw: sw.clone(),
            signatures: AtomicU32::new(0),
        });
        let delegate = Signer::address(kms.as_ref());
        let wallet = LocalKeySigner::random().unwrap();
        let trader = Signer::address(&wallet);
        if let Some(f) = &fake {
            let u = f.urls();
            let mut cfg = AvantisConfig::new(u.tx_builder, u.batched_market, u.core, u.data, FAKE_CHAIN_ID);
            cfg.sse_max_duration = Duration::from_secs(2);
            cfg.status_poll_timeout = Duration::from_secs(1);
            cfg.retry_backoff = Duration::from_millis(20);
            // The gate reads the exec mode through its own handle, so a fault can hit that read.
            let gate_store = Arc::new(FaultyStore { inner: store.clone(), sw: sw.clone(), scope: "gate" });
            let gated: Arc<dyn Signer> = Arc::new(GatedSigner::new(kms.clone(), gate_store, exec_env));
            let relayer: Arc<dyn Venue> =
                Arc::new(AvantisVenue::new(AvantisClient::new(cfg).unwrap(), gated.clone()).with_clock(clock.clone()));
            let pool = DelegatePool::new(vec![DelegateKey { id: "local-0".into(), address: delegate, signer: Some(gated) }]).unwrap();
            deps = deps.with_delegates(Arc::new(pool)).with_live_venue(Arc::new(BudgetedVenue::new(relayer, Duration::from_secs(4))));
            f.set_delegate(trader.address(), delegate.address(), true, u64::try_from(now_ms() / 1000 + 86_400 * 365).unwrap());
            f.set_balance(trader.address(), 10_000_000_000);
            let mut control = ExecControl::initial(clock.now());
            control.mode = ExecMode::Live;
            control.version += 1;
            store.put_exec_control(&control).await.unwrap();
        }
        let e =
            Env { mode, deps, store, sw, queue, notices, chat, clock, prices, paper, fake, trader, receives: Mutex::new(HashMap::new()) };
        e.fresh_prices();
        // Alice: a proven wallet (the store's commit of a proof: `update_user` never changes a
        // binding, and the signature path is tested in `wallet`), her delegate key, a source.
        let now = e.clock.now();
        e.store.get_or_create_user(User::new(TelegramUserId(ALICE), ChatId(ALICE), now)).await.unwrap();
        let site = vanta_domain::wallet::SiweSite::from_base_url(None);
        let c = WalletChallenge::new("faults4242nonce", TelegramUserId(ALICE), trader, &site, FAKE_CHAIN_ID, now).unwrap();
        e.store.put_challenge(&c).await.unwrap();
        let mut u = e.store.verify_binding(&c.nonce, TelegramUserId(ALICE), now).await.unwrap();
        assert_eq!(u.trader, Some(trader), "the wallet is bound");
        u.delegate_key = Some("local-0".into());
        e.store.update_user(&u).await.unwrap();
        let s = SignalSource {
            id: SourceId::parse("strat").unwrap(),
            owner: TelegramUserId(ALICE),
            secret: SecretText::new("k3y").into(),
            tv_token_hash: signals::token_hash(TV),
            active: true,
            created_at: e.clock.now(),
            rotated_at: None,
        };
        e.store.create_source(&s).await.unwrap();
        e
    }

    /// The venue's BTC price (the fake's in LIVE), fresh from both sources.
    fn btc_price(&self) -> Price {
        match &self.fake {
            Some(f) => Price::from_raw(f.price(BTC).unwrap()),
            None => Price::from_str("100000").unwrap(),
        }
    }
    fn fresh_prices(&self) {
        let p = self.btc_price();
        for src in ["pyth", "chainlink"] {
            self.prices.set(PairSymbol::parse("BTC/USD").unwrap(), src, p, self.clock.now()).unwrap();
        }
    }

    /// Posts the signal as TradingView does, as its sender would: again after a 5xx.
    async fn post(&self, id: &str) -> Vec<u16> {
        let body = json!({"source": "strat", "id": id, "action": "open", "pair": "BTC/USD", "side": "long",
                          "collateral_usdc": "100", "leverage": "5"})
        .to_string();
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let req = TestRequest::new("POST", &format!("/signals/tv/{TV}")).with_body(body.clone());
            let status = testing::call(&self.deps, req).await.status;
            statuses.push(status);
            if status < 500 {
                break;
            }
        }
        statuses
    }

    /// The worker over `signals.fifo` as SQS drives it: a failed or cut delivery is redelivered
    /// (receive count + 1) until the maximum receives, then dead-lettered.
    async fn drain(&self) {
        for _ in 0..40 {
            let Some(m) = self.queue.take(1).unwrap().pop() else { break };
            let n = {
                let mut r = self.receives.lock().unwrap();
                let n = r.entry(m.dedup_id.clone()).or_insert(0);
                *n += 1;
                *n
            };
            // A delivery that does not end within the cut is a crashed function: redelivered.
            let r = tokio::time::timeout(Duration::from_secs(12), worker::handle_delivery(&self.deps, &m.body, n)).await;
            match r {
                Ok(Ok(())) => {}
                _ if n >= worker::MAX_RECEIVES => self.queue.dead_letter(m).unwrap(),
                _ => self.queue.put_back(vec![m]).unwrap(),
            }
        }
    }

    /// The notifier over `notifications.fifo` (in order, a failure keeps the rest queued).
    async fn deliver_notices(&self) {
        let batch = self.notices.take(1000).unwrap();
        let mut rest = Vec::new();
        for m in batch {
            if !rest.is_empty() {
                rest.push(m);
                continue;
            }
            let n = {
                let mut r = self.receives.lock().unwrap();
                let n = r.entry(m.dedup_id.clone()).or_insert(0);
                *n += 1;
                *n
            };
            if notifier::handle_delivery(&self.deps, &m.body, n).await.is_err() {
                rest.push(m);
            }
        }
        self.notices.put_back(rest).unwrap();
    }

    /// Trades for Alice's wallet on every venue (LIVE falls back to paper when in doubt).
    async fn trades(&self) -> usize {
        let live = self.fake.as_ref().map_or(0, |f| f.positions(self.trader.address()).len());
        live + self.paper.positions(self.trader).await.unwrap().len()
    }
    fn told(&self) -> Vec<String> {
        self.chat.delivered.lock().unwrap().iter().filter(|m| m.chat == ChatId(ALICE)).map(|m| m.html.clone()).collect()
    }
    fn queued(&self, intent: &str) -> bool {
        let waiting = self.queue.take(1000).unwrap();
        let found = waiting.iter().any(|m| m.dedup_id == intent);
        self.queue.put_back(waiting).unwrap();
        found || self.queue.dead_letters().iter().any(|m| m.dedup_id == intent)
    }
}

// ----- the matrix ------------------------------------------------------------------------------

const STEPS: [&str; 7] = ["receive", "validate", "risk", "sign", "submit", "record", "notify"];
const FAULTS: [&str; 7] =
    ["store error", "crash+redelivery", "KMS throttling", "relay timeout", "RPC error", "stale/split oracle", "Telegram down"];

enum Inject {
    Store(StoreFault),
    KmsThrottle(u32),
    KmsHang,
    RelayTimeout,
    Rpc(Endpoint, usize),
    Oracle { stale: bool },
    NoticesHang,
    TelegramDown,
}

fn store(method: &'static str, skip: u32, crash: bool) -> Inject {
    Inject::Store(StoreFault { scope: "", method, skip, times: 1, crash })
}

/// What each cell injects, or why it does not apply.
fn plan(step: &str, fault: &str, mode: Mode) -> Result<Inject, &'static str> {
    let live = mode == Mode::Live;
    match (step, fault) {
        ("receive", "store error") => Ok(store("create_intent", 0, false)),
        ("receive", "crash+redelivery") => Ok(store("create_intent", 0, true)),
        ("validate", "store error") => Ok(store("transition:validated", 0, false)),
        ("validate", "crash+redelivery") => Ok(store("transition:validated", 0, true)),
        ("risk", "store error") => Ok(store("user_positions", 0, false)),
        ("risk", "crash+redelivery") => Ok(store("user_positions", 0, true)),
        ("risk", "stale/split oracle") => Ok(Inject::Oracle { stale: !live }),
        // The gate's read of the exec mode right before signing fails.
        ("sign", "store error") if live => {
            Ok(Inject::Store(StoreFault { scope: "gate", method: "get_exec_control", skip: 0, times: 1, crash: false }))
        }
        ("sign", "crash+redelivery") if live => Ok(Inject::KmsHang),
        ("sign", "KMS throttling") if live => Ok(Inject::KmsThrottle(3)),
        ("sign", _) if !live => Err("DRY never signs"),
        ("submit", "store error") => Ok(store("transition:submitted", 0, false)),
        ("submit", "crash+redelivery") => Ok(store("transition:submitted", 0, true)),
        ("submit", "relay timeout") if live => Ok(Inject::RelayTimeout),
        ("submit", "RPC error") if live => Ok(Inject::Rpc(Endpoint::ExecuteBatched, 1)),
        ("submit", "relay timeout" | "RPC error") => Err("the paper venue has no relay or RPC"),
        ("validate", "RPC error") if live => Ok(Inject::Rpc(Endpoint::Trading, 2)),
        ("validate", "RPC error") => Err("the paper venue's market list is local"),
        ("record", "store error") => Ok(store("settle_with_position", 0, false)),
        ("record", "crash+redelivery") => Ok(store("settle_with_position", 0, true)),
        ("notify", "crash+redelivery") => Ok(Inject::NoticesHang),
        ("notify", "Telegram down") => Ok(Inject::TelegramDown),
        ("notify", "store error") => Err("a notice is a queue message; the store is not involved"),
        (_, "KMS throttling") => Err("only signing calls KMS"),
        (_, "relay timeout") => Err("only submission calls the relay"),
        (_, "RPC error") => Err("no venue or chain read at this step"),
        (_, "stale/split oracle") => Err("prices are read by the risk check only"),
        (_, "Telegram down") => Err("Telegram is only called to notify"),
        ("sign", _) => Err("no such fault at signing"),
        _ => Err("not applicable"),
    }
}

/// Runs one cell; the outcome for the table, or why the cell fails.
async fn cell(step: &str, fault: &str, mode: Mode, id: &str) -> Result<String, String> {
    let inject = match plan(step, fault, mode) {
        Ok(i) => i,
        Err(why) => return Ok(format!("n/a: {why}")),
    };
    let e = Env::new(mode).await;
    match inject {
        Inject::Store(f) => *e.sw.store.lock().unwrap() = Some(f),
        Inject::KmsThrottle(n) => e.sw.kms_throttled.store(n, Ordering::SeqCst),
        Inject::KmsHang => e.sw.kms_hang.store(true, Ordering::SeqCst),
        Inject::RelayTimeout => {
            e.fake.as_ref().unwrap().stall_next_submission(Stall::LoseThenStall(Duration::from_secs(30)));
            e.sw.fire();
        }
        Inject::Rpc(endpoint, n) => {
            e.fake.as_ref().unwrap().fail_next(endpoint, n, FakeFailure::new(503, "UPSTREAM_ERROR", "rpc: upstream unavailable"));
            e.sw.fire();
        }
        Inject::Oracle { stale } => {
            let p = e.btc_price();
            let pair = PairSymbol::parse("BTC/USD").unwrap();
            if stale {
                let old = e.clock.now().minus(Duration::from_secs(600));
                for src in ["pyth", "chainlink"] {
                    e.prices.set(pair.clone(), src, p, old).unwrap();
                }
            } else {
                e.prices.set(pair, "chainlink", Price::from_raw(p.raw() / 10 * 9), e.clock.now()).unwrap();
            }
            e.sw.fire();
        }
        Inject::NoticesHang => e.sw.notices_hang.store(1, Ordering::SeqCst),
        Inject::TelegramDown => e.sw.chat_down.store(true, Ordering::SeqCst),
    }
    let statuses = e.post(id).await;
    e.drain().await;
    e.deliver_notices().await;
    // Telegram comes back; the notifier's retries deliver what waited.
    e.sw.chat_down.store(false, Ordering::SeqCst);
    e.deliver_notices().await;

    if e.sw.fired.load(Ordering::SeqCst) == 0 {
        return Err("the fault never fired".into());
    }
    let trades = e.trades().await;
    if trades > 1 {
        return Err(format!("{trades} trades for one signal"));
    }
    let intent_id = format!("sig:strat:{id}");
    let intent = e.store.get_intent(&IntentId::parse(&intent_id).unwrap()).await.unwrap();
    let told = e.told();
    let accepted = statuses.last().is_some_and(|s| *s == 202 || *s == 200);
    let state = intent.as_ref().map(|i| i.state);
    let outcome = match state {
        None if !accepted => format!("not accepted (HTTP {statuses:?}): the sender keeps the signal"),
        None => return Err(format!("accepted ({statuses:?}) but no intent")),
        Some(IntentState::Settled) => {
            if trades != 1 {
                return Err(format!("settled with {trades} trades on the venue"));
            }
            let fills = told.iter().filter(|t| t.contains("Opened")).count();
            if fills == 0 {
                return Err(format!("filled but the user was not told: {told:?}"));
            }
            if fills > 1 {
                return Err(format!("the user was told of the fill {fills} times: {told:?}"));
            }
            let how = intent.as_ref().and_then(|i| i.mode).map_or_else(|| "?".to_owned(), |m| format!("{m:?}").to_uppercase());
            format!("filled x1 {how}, told{}", if statuses.len() > 1 { format!(" (HTTP {statuses:?})") } else { String::new() })
        }
        Some(s @ (IntentState::Rejected | IntentState::Failed)) => {
            if trades != 0 {
                return Err(format!("{s} but {trades} trade(s) on the venue"));
            }
            let reason = intent.as_ref().and_then(|i| i.reason.clone()).unwrap_or_default();
            if told.is_empty() {
                return Err(format!("{s} ({reason}) and the user was not told"));
            }
            format!("{} ({}), told", s.as_str().to_lowercase(), reason.chars().take(40).collect::<String>())
        }
        Some(s) => {
            if !e.queued(&intent_id) {
                return Err(format!("left {s} and neither queued nor dead-lettered: lost"));
            }
            format!("{} and queued for redelivery", s.as_str().to_lowercase())
        }
    };
    Ok(outcome)
}

async fn matrix(mode: Mode) {
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut n = 0;
    for step in STEPS {
        for fault in FAULTS {
            n += 1;
            let id = format!("{}-{n}", if mode == Mode::Live { "live" } else { "dry" });
            let r = cell(step, fault, mode, &id).await;
            let text = match &r {
                Ok(o) => o.clone(),
                Err(why) => {
                    failures.push(format!("{step} × {fault}: {why}"));
                    format!("FAIL: {why}")
                }
            };
            rows.push(format!("{:<9} {:<19} {text}", step, fault));
        }
    }
    println!("fault matrix, {mode:?} ({} cells):\n{:<9} {:<19} outcome\n{}", rows.len(), "step", "fault", rows.join("\n"));
    assert!(failures.is_empty(), "{mode:?} cells failed:\n{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_dry() {
    matrix(Mode::Dry).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_live() {
    matrix(Mode::Live).await;
}

// The TP/SL trigger index: faults injected like every other store call.
#[async_trait]
impl vanta_domain::ports::TriggerStore for FaultyStore {
    async fn crossed(
        &self,
        part: &vanta_domain::triggers::TriggerPartition,
        range: vanta_domain::triggers::KeyRange,
    ) -> DomainResult<Vec<(TelegramUserId, PositionId)>> {
        faulty!(self, "crossed", self.inner.crossed(part, range))
    }
    async fn any_indexed(&self, part: &vanta_domain::triggers::TriggerPartition) -> DomainResult<bool> {
        faulty!(self, "any_indexed", self.inner.any_indexed(part))
    }
    async fn closing_positions(&self) -> DomainResult<Vec<Position>> {
        faulty!(self, "closing_positions", self.inner.closing_positions())
    }
    async fn trigger_pairs(&self) -> DomainResult<Vec<PairSymbol>> {
        faulty!(self, "trigger_pairs", self.inner.trigger_pairs())
    }
    async fn get_trail_book(
        &self,
        pair: &PairSymbol,
        side: vanta_domain::market::Side,
    ) -> DomainResult<Option<vanta_domain::triggers::TrailBook>> {
        faulty!(self, "get_trail_book", self.inner.get_trail_book(pair, side))
    }
    async fn put_trail_book(
        &self,
        pair: &PairSymbol,
        side: vanta_domain::market::Side,
        book: &vanta_domain::triggers::TrailBook,
    ) -> DomainResult<()> {
        faulty!(self, "put_trail_book", self.inner.put_trail_book(pair, side, book))
    }
    async fn index_state(&self) -> DomainResult<vanta_domain::ports::IndexState> {
        faulty!(self, "index_state", self.inner.index_state())
    }
    async fn put_index_state(&self, state: &vanta_domain::ports::IndexState) -> DomainResult<()> {
        faulty!(self, "put_index_state", self.inner.put_index_state(state))
    }
    async fn live_positions_page(&self, after: Option<&str>, limit: usize) -> DomainResult<(Vec<Position>, Option<String>)> {
        faulty!(self, "live_positions_page", self.inner.live_positions_page(after, limit))
    }
    async fn reindex_position(&self, p: &Position) -> DomainResult<()> {
        faulty!(self, "reindex_position", self.inner.reindex_position(p))
    }
}
