//! Exits always run, nothing stays CLOSING, positions keep the wallet they were opened on, and
//! position writes never undo each other (issue 8, items 2–5), at pipeline level: in-memory
//! store, paper venues, manual clock, recording chat.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crate::http::testing::{self, TestRequest};
use async_trait::async_trait;
use vanta_domain::exec::{ExecControl, ExecMode, StopLevel};
use vanta_domain::ids::{ChatId, IntentId, PositionId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::IntentState;
use vanta_domain::market::{PairCatalog, PairSymbol, Side};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::{Bps, Leverage, Price, Usdc};
use vanta_domain::ports::*;
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{SecretText, SignalSource, User};
use vanta_domain::{DomainError, DomainResult};
use vanta_runtime::Config;

use crate::tests_support::pair;
use crate::{Deps, pipeline, schedule, signals, worker};

const T0: i64 = 1_795_852_800_000;

// ----- harness ---------------------------------------------------------------------------------

fn catalog() -> Arc<PairCatalog> {
    Arc::new(PairCatalog::new([pair(0, "ETH/USD"), pair(1, "BTC/USD")]).unwrap())
}

/// A venue over a paper book that records every order, can refuse closes with a chosen error
/// (a venue validation, a revoked delegation) and can lose its market list.
struct TestVenue {
    mode: ExecMode,
    book: PaperVenue,
    orders: Mutex<Vec<VenueOrder>>,
    /// Closes still to refuse, and with what.
    refuse_closes: AtomicU32,
    refusal: Mutex<DomainError>,
    pairs_down: AtomicBool,
}

impl TestVenue {
    fn new(mode: ExecMode, prices: Arc<FixedPrices>, clock: Arc<ManualClock>) -> Self {
        Self {
            mode,
            book: PaperVenue::new(catalog(), prices, clock),
            orders: Mutex::new(Vec::new()),
            refuse_closes: AtomicU32::new(0),
            refusal: Mutex::new(DomainError::Refused("venue validation failed".into())),
            pairs_down: AtomicBool::new(false),
        }
    }
    fn refuse_next_closes(&self, n: u32, e: DomainError) {
        *self.refusal.lock().unwrap() = e;
        self.refuse_closes.store(n, Ordering::SeqCst);
    }
    fn orders(&self) -> Vec<VenueOrder> {
        self.orders.lock().unwrap().clone()
    }
    fn closes(&self) -> Vec<VenueOrder> {
        self.orders().into_iter().filter(|o| matches!(o, VenueOrder::Close { .. })).collect()
    }
}

#[async_trait]
impl Venue for TestVenue {
    fn mode(&self) -> ExecMode {
        self.mode
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        if self.pairs_down.load(Ordering::SeqCst) {
            return Err(DomainError::Unavailable("market list timed out".into()));
        }
        self.book.pairs().await
    }
    async fn execute(&self, r: &IntentId, o: &VenueOrder) -> DomainResult<VenueFill> {
        self.orders.lock().unwrap().push(o.clone());
        if matches!(o, VenueOrder::Close { .. }) && self.refuse_closes.load(Ordering::SeqCst) > 0 {
            self.refuse_closes.fetch_sub(1, Ordering::SeqCst);
            return Err(self.refusal.lock().unwrap().clone());
        }
        self.book.execute(r, o).await
    }
    async fn positions(&self, t: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.book.positions(t).await
    }
    async fn lookup(&self, r: &IntentId) -> DomainResult<Lookup> {
        self.book.lookup(r).await
    }
    async fn history(&self, t: TraderAddress, since: Option<Timestamp>) -> DomainResult<Option<vanta_domain::recon::VenueHistory>> {
        self.book.history(t, since).await
    }
    async fn run_triggers(&self, t: TraderAddress, age: u32, dev: Bps) -> DomainResult<Vec<vanta_domain::recon::VenueClose>> {
        self.book.run_triggers(t, age, dev).await
    }
}

struct Sys {
    deps: Deps,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
    prices: Arc<FixedPrices>,
    paper: Arc<TestVenue>,
    live: Arc<TestVenue>,
}

fn sys_with(env: &[(&str, &str)]) -> Sys {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    let paper = Arc::new(TestVenue::new(ExecMode::Dry, prices.clone(), clock.clone()));
    let live = Arc::new(TestVenue::new(ExecMode::Live, prices.clone(), clock.clone()));
    let config = crate::tests_support::config(env);
    let deps = Deps::new(config, store.clone(), queue.clone(), chat.clone(), clock.clone(), prices.clone(), paper.clone())
        .with_live_venue(live.clone());
    let s = Sys { deps, store, queue, chat, clock, prices, paper, live };
    s.set_price("BTC/USD", "100000");
    s.set_price("ETH/USD", "3500");
    s
}

fn sys() -> Sys {
    sys_with(&[])
}

impl Sys {
    fn set_price(&self, sym: &str, p: &str) {
        let now = self.clock.now();
        let price = Price::from_str(p).unwrap();
        self.prices.set(PairSymbol::parse(sym).unwrap(), "pyth", price, now).unwrap();
        self.prices.set(PairSymbol::parse(sym).unwrap(), "chainlink", price, now).unwrap();
    }
    async fn user(&self, id: i64) -> User {
        self.store.get_or_create_user(User::new(TelegramUserId(id), ChatId(id), self.clock.now())).await.unwrap()
    }
    async fn source(&self, owner: i64) {
        self.user(owner).await;
        let s = SignalSource {
            id: SourceId::parse("strat").unwrap(),
            owner: TelegramUserId(owner),
            secret: SecretText::new("k3y").into(),
            tv_token_hash: signals::token_hash("tvtok"),
            active: true,
            created_at: self.clock.now(),
            rotated_at: None,
        };
        self.store.create_source(&s).await.unwrap();
    }
    async fn signal(&self, body: serde_json::Value) -> u16 {
        let body = body.to_string();
        let ts = self.clock.now().secs().to_string();
        let req = TestRequest::new("POST", "/signals")
            .with_header("X-Vanta-Timestamp", &ts)
            .with_header("X-Vanta-Signature", &signals::sign("k3y", &ts, body.as_bytes()))
            .with_body(body);
        testing::call(&self.deps, req).await.status
    }
    /// Runs the worker until the queue is empty; failed messages are put back (retried) up to
    /// the queue's receive limit, as SQS would.
    async fn drain(&self) {
        for _ in 0..20 {
            let batch = self.queue.take(10).unwrap();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                let _ = worker::handle_message(&self.deps, &m.body).await;
            }
        }
    }
    async fn positions(&self, user: i64) -> Vec<Position> {
        self.store.user_positions(TelegramUserId(user), false).await.unwrap()
    }
    async fn only_position(&self, user: i64) -> Position {
        let ps = self.positions(user).await;
        assert_eq!(ps.len(), 1, "{ps:?}");
        ps.into_iter().next().unwrap()
    }
    fn messages_to(&self, chat: i64) -> Vec<String> {
        self.chat.sent().into_iter().filter(|m| m.chat == ChatId(chat)).map(|m| m.html).collect()
    }
    async fn set_exec(&self, mode: ExecMode, stop: StopLevel) {
        let current = self.store.get_exec_control().await.unwrap().map_or(0, |c| c.version);
        let c = ExecControl { mode, stop, updated_by: None, updated_at: self.clock.now(), version: current + 1 };
        self.store.put_exec_control(&c).await.unwrap();
    }
    async fn intent_state(&self, id: &str) -> IntentState {
        self.store.get_intent(&IntentId::parse(id).unwrap()).await.unwrap().unwrap().state
    }
    async fn set_inactive(&self, id: i64) {
        let mut u = self.user(id).await;
        u.active = false;
        self.store.update_user(&u).await.unwrap();
    }
}

fn open_btc(id: &str) -> serde_json::Value {
    serde_json::json!({"source":"strat","id":id,"action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"})
}

fn addr(last: &str) -> TraderAddress {
    TraderAddress::from_str(&format!("0x{:0>40}", last)).unwrap()
}

// ----- item 2: exits always run -----------------------------------------------------------------

#[test]
fn every_action_is_an_entry_an_exit_or_a_setting() {
    use vanta_domain::intent::{Action, OpenOrder};
    let o = OpenOrder {
        pair: PairSymbol::parse("BTC").unwrap(),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::ONE,
        tp: None,
        sl: None,
        slippage: None,
    };
    let btc = PairSymbol::parse("BTC").unwrap();
    let actions = [
        (Action::Open(o.clone()), true, false),
        (Action::Flip(o), true, false),
        (Action::Close { pair: btc.clone(), side: Side::Long, fraction: Bps::FULL }, false, true),
        (Action::ClosePosition { position: PositionId::parse("pos:x").unwrap(), fraction: Bps::FULL }, false, true),
        (Action::Flatten, false, true),
        (Action::UpdateTpSl { pair: btc, side: Side::Long, tp: None, sl: None }, false, true),
        (Action::Pause, false, false),
    ];
    for (a, entry, exit) in actions {
        assert_eq!((a.adds_exposure(), a.is_reduce_only()), (entry, exit), "{a:?}");
        assert!(!(a.adds_exposure() && a.is_reduce_only()));
    }
}

#[tokio::test]
async fn exits_run_for_a_user_marked_inactive() {
    let s = sys();
    s.source(7).await;
    let tp = serde_json::json!({"source":"strat","id":"o","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5","tp":"105000"});
    assert_eq!(s.signal(tp).await, 202);
    let eth =
        serde_json::json!({"source":"strat","id":"e","action":"open","pair":"ETH","side":"short","collateral_usdc":"100","leverage":"5"});
    assert_eq!(s.signal(eth).await, 202);
    s.drain().await;
    s.set_inactive(7).await; // the user blocked the bot

    // A signal's close, a TP/SL update and a TP hit all still run.
    let close = serde_json::json!({"source":"strat","id":"c","action":"close","pair":"ETH","side":"short"});
    assert_eq!(s.signal(close).await, 202);
    let tpsl = serde_json::json!({"source":"strat","id":"t","action":"update_tpsl","pair":"BTC","side":"long","sl":"95000"});
    assert_eq!(s.signal(tpsl).await, 202);
    s.drain().await;
    assert_eq!(s.intent_state("sig:strat:c").await, IntentState::Settled);
    assert_eq!(s.intent_state("sig:strat:t").await, IntentState::Settled);
    s.set_price("BTC/USD", "105500");
    // The take-profit is the paper venue's: its keeper closes the trade and the reconciler
    // records it, for an inactive user too.
    assert!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.is_empty(), "not Vanta's to fire");
    let r = schedule::indexer_tick(&s.deps).await.unwrap();
    assert!(r.triggered.iter().any(|t| t.ends_with(":tp:closed-on-venue")), "{r:?}");
    s.drain().await;
    let ps = s.positions(7).await;
    assert!(ps.iter().all(|p| p.status == PositionStatus::Closed), "{ps:?}");
    assert!(ps.iter().find(|p| p.pair.as_str() == "BTC/USD").unwrap().close_price.is_some(), "recorded with the venue's close");
    assert_eq!(ps.iter().find(|p| p.pair.as_str() == "BTC/USD").unwrap().sl, Some(Price::from_str("95000").unwrap()));
    // A new entry is still refused.
    assert_eq!(s.signal(open_btc("o2")).await, 202);
    s.drain().await;
    assert_eq!(s.intent_state("sig:strat:o2").await, IntentState::Rejected);
}

#[tokio::test]
async fn exits_run_during_the_emergency_stop_and_paused_automation() {
    let s = sys();
    s.source(7).await;
    for id in ["o1", "o2", "o3"] {
        assert_eq!(s.signal(open_btc(id)).await, 202);
    }
    s.drain().await;
    let mut u = s.user(7).await;
    u.automation_paused = true;
    s.store.update_user(&u).await.unwrap();
    s.set_exec(ExecMode::Dry, StopLevel::PauseEntries).await;
    let ids: Vec<PositionId> = s.positions(7).await.into_iter().map(|p| p.id).collect();
    let half = serde_json::json!({"source":"strat","id":"c1","action":"close","pair":"BTC","side":"long","fraction":"0.5"});
    assert_eq!(s.signal(half).await, 202);
    s.drain().await;
    assert_eq!(s.intent_state("sig:strat:c1").await, IntentState::Settled, "a partial close under PAUSE_ENTRIES");
    assert!(s.positions(7).await.iter().all(|p| p.collateral == Usdc::from_str("50").unwrap()));
    // At the most drastic level too: a menu close of one position, then flatten.
    s.set_exec(ExecMode::Dry, StopLevel::Flatten).await;
    let one = pipeline::derived_id("test", &["menu-close"]);
    let intent = vanta_domain::intent::Intent::new(
        one.clone(),
        TelegramUserId(7),
        vanta_domain::intent::Origin::Telegram { update_id: 1 },
        vanta_domain::intent::Action::ClosePosition { position: ids[0].clone(), fraction: Bps::FULL },
        "h".into(),
        s.clock.now(),
    );
    s.store.create_intent(&intent).await.unwrap();
    pipeline::enqueue(&s.deps, &s.user(7).await, &one).await.unwrap();
    assert_eq!(s.signal(serde_json::json!({"source":"strat","id":"fl","action":"flatten"})).await, 202);
    s.drain().await;
    assert!(s.positions(7).await.iter().all(|p| p.status == PositionStatus::Closed));
    assert_eq!(s.intent_state("sig:strat:fl").await, IntentState::Settled);
}

#[tokio::test]
async fn a_flip_under_the_stop_closes_and_says_the_open_was_refused() {
    let s = sys();
    s.source(7).await;
    assert_eq!(s.signal(open_btc("o")).await, 202);
    s.drain().await;
    s.set_exec(ExecMode::Dry, StopLevel::PauseEntries).await;
    let flip =
        serde_json::json!({"source":"strat","id":"f","action":"flip","pair":"BTC","side":"short","collateral_usdc":"100","leverage":"3"});
    assert_eq!(s.signal(flip).await, 202);
    s.drain().await;
    let p = s.only_position(7).await;
    assert_eq!((p.side, p.status), (Side::Long, PositionStatus::Closed), "the close half ran; no short was opened");
    assert_eq!(s.intent_state("sig:strat:f").await, IntentState::Rejected);
    let msgs = s.messages_to(7);
    assert!(msgs.iter().any(|m| m.contains("Closed long BTC/USD")), "{msgs:?}");
    assert!(
        msgs.iter().any(|m| m.contains("emergency stop") && m.contains("long BTC/USD was closed") && m.contains("short was not opened")),
        "{msgs:?}"
    );
}

#[tokio::test]
async fn a_failing_market_list_never_refuses_an_exit_and_only_delays_an_entry() {
    let s = sys();
    s.source(7).await;
    assert_eq!(s.signal(open_btc("o")).await, 202);
    s.drain().await;
    s.paper.pairs_down.store(true, Ordering::SeqCst);
    let close = serde_json::json!({"source":"strat","id":"c","action":"close","pair":"BTC","side":"long"});
    assert_eq!(s.signal(close).await, 202);
    s.drain().await;
    assert_eq!(s.intent_state("sig:strat:c").await, IntentState::Settled);
    assert_eq!(s.only_position(7).await.status, PositionStatus::Closed);
    // An open while the list is down is retried, not refused …
    assert_eq!(s.signal(open_btc("o2")).await, 202);
    let msg = s.queue.take(1).unwrap().remove(0);
    let err = worker::handle_message(&s.deps, &msg.body).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(s.intent_state("sig:strat:o2").await, IntentState::Received);
    // … and goes through once the list is back.
    s.paper.pairs_down.store(false, Ordering::SeqCst);
    worker::handle_message(&s.deps, &msg.body).await.unwrap();
    assert_eq!(s.intent_state("sig:strat:o2").await, IntentState::Settled);
}

#[tokio::test]
async fn a_trigger_whose_close_failed_fires_again_on_the_next_tick() {
    // Vanta's own trigger (the trailing stop; TP, SL and liquidation are the venue's).
    let s = sys();
    s.source(7).await;
    assert_eq!(s.signal(open_btc("o")).await, 202);
    s.drain().await;
    let id = s.only_position(7).await.id;
    schedule::set_trail(&s.deps, TelegramUserId(7), &id, Some(Bps::new(100).unwrap())).await.unwrap();
    s.paper.refuse_next_closes(1, DomainError::Refused("venue validation: market closed".into()));
    s.set_price("BTC/USD", "98500"); // 1.5 % below the best of 100000
    assert_eq!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.len(), 1);
    s.drain().await;
    let p = s.only_position(7).await;
    assert_eq!((p.status, p.closing.clone()), (PositionStatus::Open, None), "not stuck in CLOSING");
    let first = schedule::trigger_intent_id(&p.id, schedule::Trigger::Trail, 1);
    let i = s.store.get_intent(&first).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Failed);
    assert!(i.reason.unwrap().contains("market closed"));
    assert!(s.messages_to(7).iter().any(|m| m.contains("failed") && m.contains("market closed")), "{:?}", s.messages_to(7));

    // The next tick makes attempt 2; overlapping ticks before the worker runs make no third.
    assert_eq!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.len(), 1);
    assert_eq!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.len(), 1);
    let third = schedule::trigger_intent_id(&p.id, schedule::Trigger::Trail, 3);
    assert!(s.store.get_intent(&third).await.unwrap().is_none(), "never two attempts at once");
    s.drain().await;
    let second = schedule::trigger_intent_id(&p.id, schedule::Trigger::Trail, 2);
    assert_eq!(s.store.get_intent(&second).await.unwrap().unwrap().state, IntentState::Settled);
    assert_eq!(s.only_position(7).await.status, PositionStatus::Closed);
    assert!(s.messages_to(7).iter().any(|m| m.contains("Trailing stop hit: closed long BTC/USD")));
    assert!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.is_empty(), "closed: nothing more");
}

#[tokio::test]
async fn a_trigger_that_keeps_failing_stops_after_its_attempts_and_says_so_once() {
    // Vanta's own trigger (the trailing stop; TP, SL and liquidation are the venue's).
    let s = sys();
    s.source(7).await;
    assert_eq!(s.signal(open_btc("o")).await, 202);
    s.drain().await;
    let id = s.only_position(7).await.id;
    schedule::set_trail(&s.deps, TelegramUserId(7), &id, Some(Bps::new(100).unwrap())).await.unwrap();
    s.paper.refuse_next_closes(100, DomainError::Refused("venue validation: market closed".into()));
    s.set_price("BTC/USD", "96000");
    for _ in 0..schedule::MAX_TRIGGER_ATTEMPTS {
        assert_eq!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.len(), 1);
        s.drain().await;
    }
    assert_eq!(s.paper.closes().len(), schedule::MAX_TRIGGER_ATTEMPTS as usize);
    assert!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.is_empty());
    schedule::tpsl_tick(&s.deps).await.unwrap();
    s.drain().await;
    assert_eq!(s.paper.closes().len(), schedule::MAX_TRIGGER_ATTEMPTS as usize, "no more attempts");
    let stopped = s.messages_to(7).into_iter().filter(|m| m.contains("Vanta stopped trying")).count();
    assert_eq!(stopped, 1, "told once");
    assert_eq!(s.only_position(7).await.status, PositionStatus::Open);
}

#[tokio::test]
async fn a_tick_that_moves_the_trail_leaves_the_take_profit_to_the_paper_venue() {
    let s = sys();
    s.source(7).await;
    let open = serde_json::json!({"source":"strat","id":"o","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5","tp":"105000"});
    assert_eq!(s.signal(open).await, 202);
    s.drain().await;
    let id = s.only_position(7).await.id;
    schedule::set_trail(&s.deps, TelegramUserId(7), &id, Some(Bps::new(200).unwrap())).await.unwrap();
    s.set_price("BTC/USD", "106000"); // a new high, beyond the TP
    let r = schedule::tpsl_tick(&s.deps).await.unwrap();
    assert!(r.triggered.is_empty(), "the trail moved; the TP is not Vanta's to fire: {r:?}");
    let p = s.only_position(7).await;
    assert_eq!(schedule::trail_now(&s.deps, &p).await.unwrap().unwrap().best, Price::from_str("106000").unwrap());
    // The paper venue's keeper takes the profit; the reconciler records it.
    let r = schedule::indexer_tick(&s.deps).await.unwrap();
    assert!(r.triggered.contains(&format!("{id}:tp:closed-on-venue")), "{r:?}");
    s.drain().await;
    assert_eq!(s.queue.len(), 0, "no close intent: the venue closed it");
    let p = s.only_position(7).await;
    assert_eq!(p.status, PositionStatus::Closed);
    assert!(p.realised_pnl.unwrap().raw() > 0);
}

// ----- item 3: nothing stuck in CLOSING ---------------------------------------------------------

/// Binds `wallet` to `user` as a proven binding (LIVE entries need one): the store's commit of a
/// proof whose signature the wallet tests check.
async fn prove_wallet(s: &Sys, user: i64, wallet: TraderAddress) {
    let site = vanta_domain::wallet::SiweSite::from_base_url(None);
    let c =
        vanta_domain::wallet::WalletChallenge::new(&crate::wallet::new_nonce(), TelegramUserId(user), wallet, &site, 8453, s.clock.now())
            .unwrap();
    s.store.put_challenge(&c).await.unwrap();
    s.store.verify_binding(&c.nonce, TelegramUserId(user), s.clock.now()).await.unwrap();
}

async fn live_position(s: &Sys, wallet: &str) -> Position {
    s.source(7).await;
    prove_wallet(s, 7, addr(wallet)).await;
    s.set_exec(ExecMode::Live, StopLevel::None).await;
    assert_eq!(s.signal(open_btc("o")).await, 202);
    s.drain().await;
    let p = s.only_position(7).await;
    assert_eq!((p.mode, p.wallet), (ExecMode::Live, Some(addr(wallet))));
    p
}

#[tokio::test]
async fn a_live_position_under_a_dry_setting_is_not_signed_and_the_user_is_told_to_use_the_app() {
    let s = sys_with(&[("COPY_EXECUTION_MODE", "LIVE")]);
    live_position(&s, "a1").await;
    s.set_exec(ExecMode::Dry, StopLevel::None).await;
    let close = serde_json::json!({"source":"strat","id":"c","action":"close","pair":"BTC","side":"long"});
    assert_eq!(s.signal(close).await, 202);
    s.drain().await;
    assert!(s.live.closes().is_empty() && s.paper.closes().is_empty(), "nothing was sent anywhere");
    let p = s.only_position(7).await;
    assert_eq!((p.status, p.closing), (PositionStatus::Open, None));
    let i = s.store.get_intent(&IntentId::parse("sig:strat:c").unwrap()).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Failed);
    assert!(i.reason.as_deref().unwrap().contains("Veranta app"), "{:?}", i.reason);
    assert!(s.queue.dead_letters().is_empty() && s.queue.is_empty(), "acknowledged, not dead-lettered");
    let msgs = s.messages_to(7);
    assert!(msgs.iter().any(|m| m.contains("running DRY") && m.contains("Close it in the Veranta app")), "{msgs:?}");
}

#[tokio::test]
async fn a_live_position_under_a_dry_deployment_is_not_closed_on_the_paper_venue() {
    // The deployment's ceiling is DRY: the stored LIVE setting does not count.
    let s = sys_with(&[("COPY_EXECUTION_MODE", "LIVE")]);
    live_position(&s, "a1").await;
    let deps = Deps::new(
        Config::from_lookup(|_| None).unwrap(),
        s.store.clone(),
        s.queue.clone(),
        s.chat.clone(),
        s.clock.clone(),
        s.prices.clone(),
        s.paper.clone(),
    );
    let id = s.only_position(7).await.id;
    let intent = vanta_domain::intent::Intent::new(
        IntentId::parse("tg:close-1").unwrap(),
        TelegramUserId(7),
        vanta_domain::intent::Origin::Telegram { update_id: 1 },
        vanta_domain::intent::Action::ClosePosition { position: id, fraction: Bps::FULL },
        "h".into(),
        s.clock.now(),
    );
    s.store.create_intent(&intent).await.unwrap();
    let out = pipeline::run(&deps, &intent.id).await.unwrap();
    assert!(matches!(&out, pipeline::Outcome::Failed(r) if r.contains("COPY_EXECUTION_MODE") && r.contains("Veranta app")), "{out:?}");
    assert!(s.paper.closes().is_empty(), "a LIVE position is never closed on paper");
    assert_eq!(s.only_position(7).await.status, PositionStatus::Open);
}

#[tokio::test]
async fn a_revoked_delegation_restores_open_fails_the_intent_and_tells_the_user() {
    let s = sys_with(&[("COPY_EXECUTION_MODE", "LIVE")]);
    live_position(&s, "a1").await;
    s.live.refuse_next_closes(1, DomainError::Forbidden("key 0xd is not an active delegate of 0xa1 on Avantis".into()));
    let close = serde_json::json!({"source":"strat","id":"c","action":"close","pair":"BTC","side":"long"});
    assert_eq!(s.signal(close).await, 202);
    s.drain().await;
    let p = s.only_position(7).await;
    assert_eq!((p.status, p.closing.clone()), (PositionStatus::Open, None), "not left CLOSING");
    assert_eq!(s.intent_state("sig:strat:c").await, IntentState::Failed);
    assert!(s.messages_to(7).iter().any(|m| m.contains("not an active delegate") && m.contains("Veranta app")));
    // An ambiguous outcome, by contrast, keeps it CLOSING for reconciliation.
    s.live.refuse_next_closes(1, DomainError::Ambiguous("stream dropped".into()));
    let again = serde_json::json!({"source":"strat","id":"c2","action":"close","pair":"BTC","side":"long"});
    assert_eq!(s.signal(again).await, 202);
    let msg = s.queue.take(1).unwrap().remove(0);
    assert!(worker::handle_message(&s.deps, &msg.body).await.is_err());
    assert_eq!(s.only_position(7).await.status, PositionStatus::Closing);
    worker::handle_message(&s.deps, &msg.body).await.unwrap(); // redelivered: not executed → sent again
    assert_eq!(s.only_position(7).await.status, PositionStatus::Closed);
}

// ----- item 4: a position belongs to the wallet it was opened on --------------------------------

#[tokio::test]
async fn a_rebind_does_not_move_positions_to_the_new_wallet() {
    let s = sys_with(&[("COPY_EXECUTION_MODE", "LIVE")]);
    let p = live_position(&s, "a1").await;
    // The user binds another wallet (changed in the store directly).
    s.store.bind_address(TelegramUserId(7), addr("b2")).await.unwrap();
    assert_eq!(s.user(7).await.trader, Some(addr("b2")));

    // Reconciliation reads the old wallet, where the trade still is: not marked closed.
    let r = schedule::indexer_tick(&s.deps).await.unwrap();
    assert!(r.triggered.is_empty(), "{r:?}");
    assert_eq!(s.only_position(7).await.status, PositionStatus::Open);

    // TP/SL update and close go to the old wallet, with the recorded identity.
    let tpsl = serde_json::json!({"source":"strat","id":"t","action":"update_tpsl","pair":"BTC","side":"long","sl":"95000"});
    assert_eq!(s.signal(tpsl).await, 202);
    let close = serde_json::json!({"source":"strat","id":"c","action":"close","pair":"BTC","side":"long"});
    assert_eq!(s.signal(close).await, 202);
    s.drain().await;
    let orders = s.live.orders();
    let trader_of = |o: &VenueOrder| match o {
        VenueOrder::Open { trader, .. } | VenueOrder::Close { trader, .. } | VenueOrder::UpdateTpSl { trader, .. } => *trader,
    };
    assert_eq!(orders.len(), 3, "{orders:?}");
    assert!(orders.iter().all(|o| trader_of(o) == addr("a1")), "{orders:?}");
    let Some(VenueOrder::Close { known: Some(k), .. }) = orders.last() else { panic!("{orders:?}") };
    assert_eq!((k.side, k.open_price, k.open_time), (Side::Long, Some(p.open_price), p.venue_open_time));
    let closed = s.only_position(7).await;
    assert_eq!((closed.status, closed.sl), (PositionStatus::Closed, Some(Price::from_str("95000").unwrap())));
    assert!(s.live.book.positions(addr("a1")).await.unwrap().is_empty(), "closed on the old wallet");
}

fn close_order(p: &Position, trader: TraderAddress) -> VenueOrder {
    VenueOrder::Close { trader, pair: p.pair_index, trade_index: p.trade_index.unwrap(), collateral: p.collateral, known: None }
}

#[tokio::test]
async fn reconciliation_marks_a_position_closed_only_when_its_own_wallet_lost_it() {
    let s = sys_with(&[("COPY_EXECUTION_MODE", "LIVE")]);
    let p = live_position(&s, "a1").await;
    s.store.bind_address(TelegramUserId(7), addr("b2")).await.unwrap();
    // Closed on the venue (an Avantis TP) on the wallet it was opened on.
    s.live.book.execute(&IntentId::parse("venue:tp").unwrap(), &close_order(&p, addr("a1"))).await.unwrap();
    // Missing from one read (and no history here): kept OPEN until the grace period is over.
    let r = schedule::indexer_tick(&s.deps).await.unwrap();
    assert!(r.triggered.is_empty(), "{r:?}");
    assert_eq!(s.only_position(7).await.status, PositionStatus::Open);
    for _ in 0..3 {
        s.clock.advance(std::time::Duration::from_secs(90));
        schedule::indexer_tick(&s.deps).await.unwrap();
    }
    assert_eq!(s.only_position(7).await.status, PositionStatus::Closed);
}

#[tokio::test]
async fn a_close_never_hits_another_trade_that_took_the_index() {
    let s = sys();
    s.source(7).await;
    assert_eq!(s.signal(open_btc("o")).await, 202);
    s.drain().await;
    let p = s.only_position(7).await;
    let trader = p.wallet.unwrap();
    // Closed elsewhere, then another trade (a short) opened at the same index of the same pair.
    s.paper.book.execute(&IntentId::parse("venue:gone").unwrap(), &close_order(&p, trader)).await.unwrap();
    let other = VenueOrder::Open {
        trader,
        pair: p.pair_index,
        side: Side::Short,
        collateral: Usdc::from_str("300").unwrap(),
        leverage: Leverage::from_whole(2).unwrap(),
        reference_price: Price::from_str("100000").unwrap(),
        slippage: vanta_domain::money::SlippageP::from_str("1").unwrap(),
        tp: None,
        sl: None,
    };
    let fill = s.paper.book.execute(&IntentId::parse("venue:other").unwrap(), &other).await.unwrap();
    assert_eq!(Some(fill.trade_index), p.trade_index, "the index was reused");
    let close = serde_json::json!({"source":"strat","id":"c","action":"close","pair":"BTC","side":"long"});
    assert_eq!(s.signal(close).await, 202);
    s.drain().await;
    let book = s.paper.book.positions(trader).await.unwrap();
    assert_eq!(book.len(), 1);
    assert_eq!((book[0].side, book[0].collateral), (Side::Short, Usdc::from_str("300").unwrap()), "the other trade is untouched");
}

#[test]
fn identity_checks_decide_by_open_time_else_by_leverage_and_price() {
    let k = KnownPosition {
        side: Side::Long,
        leverage: Leverage::from_whole(5).unwrap(),
        open_price: Some(Price::from_str("100000").unwrap()),
        open_time: Some(1_700),
    };
    let (lev, price) = (Leverage::from_whole(5).unwrap(), Price::from_str("100000").unwrap());
    assert!(k.check(Side::Long, lev, price, Some(1_700)).is_ok());
    assert!(k.check(Side::Short, lev, price, Some(1_700)).is_err(), "the side always counts");
    assert!(k.check(Side::Long, lev, price, Some(1_701)).is_err(), "another open time is another trade");
    assert!(k.check(Side::Long, Leverage::from_whole(4).unwrap(), price, Some(1_700)).is_ok(), "margin changes do not matter then");
    let no_time = KnownPosition { open_time: None, ..k };
    assert!(no_time.check(Side::Long, lev, price, Some(1_700)).is_ok());
    assert!(no_time.check(Side::Long, Leverage::from_whole(4).unwrap(), price, None).is_err());
    assert!(no_time.check(Side::Long, lev, Price::from_str("99000").unwrap(), None).is_err());
}

// ----- item 5: no lost updates --------------------------------------------------------------------

#[tokio::test]
async fn a_trail_move_from_a_stale_read_keeps_a_partial_close() {
    let s = sys();
    s.source(7).await;
    assert_eq!(s.signal(open_btc("o")).await, 202);
    s.drain().await;
    let id = s.only_position(7).await.id;
    schedule::set_trail(&s.deps, TelegramUserId(7), &id, Some(Bps::new(100).unwrap())).await.unwrap();
    let stale = s.only_position(7).await; // the TP/SL tick read this …
    let half = serde_json::json!({"source":"strat","id":"c","action":"close","pair":"BTC","side":"long","fraction":"0.5"});
    assert_eq!(s.signal(half).await, 202);
    s.drain().await; // … then a partial close landed …
    let closed = s.only_position(7).await;
    assert_eq!(closed.collateral, Usdc::from_str("50").unwrap());
    // … and the tick writes its move: a plain write from the stale read is refused …
    let mut blind = stale.clone();
    blind.trail = Some(vanta_domain::position::TrailingStop {
        distance: Bps::new(100).unwrap(),
        best: Price::from_str("110000").unwrap(),
        epoch: stale.trail.and_then(|t| t.epoch),
    });
    assert!(matches!(s.store.update_position(&blind, PositionStatus::Open).await, Err(DomainError::Conflict(_))));
    // … and the tick's move re-reads, so the close's collateral, PnL and marker stay.
    let moved = schedule::move_trail(&s.deps, &stale, Price::from_str("110000").unwrap()).await.unwrap().unwrap();
    let now = s.only_position(7).await;
    assert_eq!(now, moved);
    assert_eq!(now.trail.unwrap().best, Price::from_str("110000").unwrap());
    assert_eq!((now.collateral, now.realised_pnl, now.last_close.clone()), (closed.collateral, closed.realised_pnl, closed.last_close));
    assert_eq!(now.version, closed.version + 1);
}

#[tokio::test]
async fn a_close_left_in_flight_is_sent_again_by_the_tick_and_completes() {
    let s = sys();
    s.source(7).await;
    assert_eq!(s.signal(open_btc("o")).await, 202);
    s.drain().await;
    s.paper.refuse_next_closes(1, DomainError::Ambiguous("stream dropped".into()));
    let close = serde_json::json!({"source":"strat","id":"c","action":"close","pair":"BTC","side":"long"});
    assert_eq!(s.signal(close).await, 202);
    s.drain().await; // failed, and (in this harness) the message is gone, as after the DLQ
    assert_eq!(s.only_position(7).await.status, PositionStatus::Closing);
    assert_eq!(s.intent_state("sig:strat:c").await, IntentState::Ambiguous);
    assert!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.is_empty(), "not stalled yet");
    s.clock.advance(std::time::Duration::from_millis(schedule::STALLED_CLOSE_MS as u64 + 1_000));
    s.set_price("BTC/USD", "100000");
    let r = schedule::tpsl_tick(&s.deps).await.unwrap();
    assert!(r.triggered.iter().any(|t| t.ends_with(":close-resent")), "{r:?}");
    s.drain().await;
    assert_eq!(s.only_position(7).await.status, PositionStatus::Closed);
    assert_eq!(s.intent_state("sig:strat:c").await, IntentState::Settled);
    assert_eq!(s.paper.closes().len(), 2, "sent once more after the venue said it never executed");
}

#[tokio::test]
async fn a_flip_given_up_with_its_close_in_flight_reopens_the_position() {
    let s = sys();
    s.source(7).await;
    assert_eq!(s.signal(open_btc("o")).await, 202);
    s.drain().await;
    s.paper.refuse_next_closes(1, DomainError::Unavailable("venue timed out before sending".into()));
    let flip =
        serde_json::json!({"source":"strat","id":"f","action":"flip","pair":"BTC","side":"short","collateral_usdc":"100","leverage":"3"});
    assert_eq!(s.signal(flip).await, 202);
    s.drain().await;
    assert_eq!(s.only_position(7).await.status, PositionStatus::Closing);
    // The queue gives up on the flip (still VALIDATED: its open never started).
    let id = IntentId::parse("sig:strat:f").unwrap();
    let t = vanta_domain::intent::Transition::new(IntentState::Validated, IntentState::Failed, s.clock.now()).unwrap();
    s.store.transition(&id, &t).await.unwrap();
    let r = schedule::tpsl_tick(&s.deps).await.unwrap();
    assert!(r.triggered.iter().any(|t| t.ends_with(":reopened")), "{r:?}");
    let p = s.only_position(7).await;
    assert_eq!((p.status, p.closing), (PositionStatus::Open, None));
    assert!(s.messages_to(7).iter().any(|m| m.contains("did not go through") && m.contains("open again")));
}
