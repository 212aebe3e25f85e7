//! The reconciler (issue 9, items 4–5) at app level: in-memory store, a LIVE venue over a paper
//! book with a scripted trade history, manual clock, recording chat.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http::testing::{self, TestRequest};
use async_trait::async_trait;
use vanta_domain::exec::{ExecControl, ExecMode, StopLevel};
use vanta_domain::ids::{ChatId, IntentId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::IntentState;
use vanta_domain::market::{PairCatalog, PairIndex, PairSymbol, Side};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::{Leverage, Price, SignedUsdc, SlippageP, Usdc};
use vanta_domain::ports::*;
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::recon::{CloseReason, ReconWallet, VenueClose, VenueHistory, VenueLimitOrder};
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{CopySizing, Follow, LeaderRef, SecretText, SignalSource, User};
use vanta_domain::{DomainError, DomainResult};

use crate::reconcile::{self, Settings};
use crate::tests_support::pair;
use crate::{Deps, schedule, signals, worker};

const T0: i64 = 1_795_852_800_000;

/// A LIVE venue over a paper book, with a trade history the test writes, and a switch that
/// loses the reply of the next open (executed, or not, as asked).
struct HistVenue {
    mode: ExecMode,
    book: PaperVenue,
    history: Mutex<Vec<(TraderAddress, VenueClose)>>,
    /// Lose the next open's reply; the bool says whether the order executed anyway.
    lose_next_open: Mutex<Option<bool>>,
    no_lookup: AtomicBool,
    /// Resting limit orders per wallet, as the test places (and removes) them.
    limit_orders: Mutex<Vec<(TraderAddress, VenueLimitOrder)>>,
}

impl HistVenue {
    fn new(mode: ExecMode, prices: Arc<FixedPrices>, clock: Arc<ManualClock>) -> Self {
        let catalog = Arc::new(PairCatalog::new([pair(0, "ETH/USD"), pair(1, "BTC/USD")]).unwrap());
        Self {
            mode,
            book: PaperVenue::new(catalog, prices, clock),
            history: Mutex::new(Vec::new()),
            lose_next_open: Mutex::new(None),
            no_lookup: AtomicBool::new(true),
            limit_orders: Mutex::new(Vec::new()),
        }
    }
    /// The venue closes `p` (a trigger, a liquidation, the Veranta app) at `price` and records it.
    async fn venue_close(&self, p: &Position, price: &str, reason: CloseReason, net: i64, fee: &str, at: Timestamp) {
        let order = VenueOrder::Close {
            trader: p.wallet.unwrap(),
            pair: p.pair_index,
            trade_index: p.trade_index.unwrap(),
            collateral: p.collateral,
            known: Some(p.identity()),
        };
        let n = self.history.lock().unwrap().len();
        self.book.execute(&IntentId::parse(&format!("venue:{n}")).unwrap(), &order).await.unwrap();
        self.history.lock().unwrap().push((
            p.wallet.unwrap(),
            VenueClose {
                id: format!("close-{n}"),
                pair: p.pair_index,
                trade_index: p.trade_index.unwrap(),
                open_time: p.venue_open_time,
                side: p.side,
                price: Price::from_str(price).unwrap(),
                collateral: p.collateral,
                remaining: Usdc::ZERO,
                fee: Usdc::from_str(fee).unwrap(),
                net_pnl: SignedUsdc::from_raw(net),
                reason,
                at,
            },
        ));
    }
}

#[async_trait]
impl Venue for HistVenue {
    fn mode(&self) -> ExecMode {
        self.mode
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.book.pairs().await
    }
    async fn execute(&self, r: &IntentId, o: &VenueOrder) -> DomainResult<VenueFill> {
        let lose = if matches!(o, VenueOrder::Open { .. }) { self.lose_next_open.lock().unwrap().take() } else { None };
        if let Some(executed) = lose {
            if executed {
                self.book.execute(r, o).await?;
            }
            return Err(DomainError::Ambiguous("relayer reply lost".into()));
        }
        self.book.execute(r, o).await
    }
    async fn positions(&self, t: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.book.positions(t).await
    }
    async fn lookup(&self, r: &IntentId) -> DomainResult<Lookup> {
        if self.no_lookup.load(Ordering::SeqCst) {
            return Ok(Lookup::Unknown); // a fresh process: nothing recorded of the order
        }
        self.book.lookup(r).await
    }
    async fn history(&self, t: TraderAddress, since: Option<Timestamp>) -> DomainResult<Option<VenueHistory>> {
        let closes = self
            .history
            .lock()
            .unwrap()
            .iter()
            .filter(|(w, c)| *w == t && since.is_none_or(|s| c.at >= s))
            .map(|(_, c)| c.clone())
            .collect();
        Ok(Some(VenueHistory { closes }))
    }
    async fn limit_orders(&self, t: TraderAddress) -> DomainResult<Option<Vec<VenueLimitOrder>>> {
        Ok(Some(self.limit_orders.lock().unwrap().iter().filter(|(w, _)| *w == t).map(|(_, o)| o.clone()).collect()))
    }
}

struct Sys {
    deps: Deps,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
    prices: Arc<FixedPrices>,
    live: Arc<HistVenue>,
}

fn sys() -> Sys {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    let paper = Arc::new(HistVenue::new(ExecMode::Dry, prices.clone(), clock.clone()));
    let live = Arc::new(HistVenue::new(ExecMode::Live, prices.clone(), clock.clone()));
    let config = crate::tests_support::config(&[("COPY_EXECUTION_MODE", "LIVE")]);
    let deps =
        Deps::new(config, store.clone(), queue.clone(), chat.clone(), clock.clone(), prices.clone(), paper).with_live_venue(live.clone());
    let s = Sys { deps, store, queue, chat, clock, prices, live };
    s.fresh_prices();
    s
}

fn addr(last: &str) -> TraderAddress {
    TraderAddress::from_str(&format!("0x{:0>40}", last)).unwrap()
}

impl Sys {
    fn fresh_prices(&self) {
        for (sym, p) in [("BTC/USD", "100000"), ("ETH/USD", "3500")] {
            self.prices.set(PairSymbol::parse(sym).unwrap(), "pyth", Price::from_str(p).unwrap(), self.clock.now()).unwrap();
            self.prices.set(PairSymbol::parse(sym).unwrap(), "chainlink", Price::from_str(p).unwrap(), self.clock.now()).unwrap();
        }
    }
    async fn user(&self, id: i64) -> User {
        self.store.get_or_create_user(User::new(TelegramUserId(id), ChatId(id), self.clock.now())).await.unwrap()
    }
    async fn prove_wallet(&self, user: i64, wallet: TraderAddress) {
        self.user(user).await;
        let site = vanta_domain::wallet::SiweSite::from_base_url(None);
        let c = vanta_domain::wallet::WalletChallenge::new(
            &crate::wallet::new_nonce(),
            TelegramUserId(user),
            wallet,
            &site,
            8453,
            self.clock.now(),
        )
        .unwrap();
        self.store.put_challenge(&c).await.unwrap();
        self.store.verify_binding(&c.nonce, TelegramUserId(user), self.clock.now()).await.unwrap();
    }
    async fn live_user(&self, id: i64, wallet: &str) {
        self.prove_wallet(id, addr(wallet)).await;
        let s = SignalSource {
            id: SourceId::parse(&format!("strat{id}")).unwrap(),
            owner: TelegramUserId(id),
            secret: SecretText::new("k3y").into(),
            tv_token_hash: signals::token_hash(&format!("tvtok{id}")),
            active: true,
            created_at: self.clock.now(),
            rotated_at: None,
        };
        self.store.create_source(&s).await.unwrap();
        let current = self.store.get_exec_control().await.unwrap().map_or(0, |c| c.version);
        if current == 0 {
            let c = ExecControl { mode: ExecMode::Live, stop: StopLevel::None, updated_by: None, updated_at: self.clock.now(), version: 1 };
            self.store.put_exec_control(&c).await.unwrap();
        }
    }
    async fn signal(&self, user: i64, body: serde_json::Value) -> u16 {
        let mut body = body;
        body["source"] = serde_json::Value::String(format!("strat{user}"));
        let body = body.to_string();
        let ts = self.clock.now().secs().to_string();
        let req = TestRequest::new("POST", "/signals")
            .with_header("X-Vanta-Timestamp", &ts)
            .with_header("X-Vanta-Signature", &signals::sign("k3y", &ts, body.as_bytes()))
            .with_body(body);
        testing::call(&self.deps, req).await.status
    }
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
    async fn intent_state(&self, id: &str) -> IntentState {
        self.store.get_intent(&IntentId::parse(id).unwrap()).await.unwrap().unwrap().state
    }
    async fn run(&self) -> reconcile::ReconReport {
        reconcile::run_all(&self.deps, &Settings::default()).await.unwrap()
    }
    async fn open_live(&self, user: i64, id: &str) -> Position {
        assert_eq!(self.signal(user, open_btc(id)).await, 202);
        self.drain().await;
        let p = self.positions(user).await.into_iter().find(|p| p.status == PositionStatus::Open).unwrap();
        assert_eq!(p.mode, ExecMode::Live);
        p
    }
}

fn open_btc(id: &str) -> serde_json::Value {
    serde_json::json!({"id":id,"action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"})
}

// ----- unknown outcomes -------------------------------------------------------------------------

#[tokio::test]
async fn a_lost_relayer_reply_is_resolved_into_a_recorded_position() {
    let s = sys();
    s.live_user(7, "a1").await;
    *s.live.lose_next_open.lock().unwrap() = Some(true); // executed, reply lost
    assert_eq!(s.signal(7, open_btc("o")).await, 202);
    let msg = s.queue.take(1).unwrap().remove(0);
    assert!(worker::handle_message(&s.deps, &msg.body).await.is_err(), "outcome unknown: retried");
    assert_eq!(s.intent_state("sig:strat7:o").await, IntentState::Ambiguous);
    assert!(s.positions(7).await.is_empty());
    let watched = s.store.get_recon_wallet(addr("a1")).await.unwrap().unwrap();
    assert_eq!(watched.pending.len(), 1, "registered with the reconciler");

    let r = s.run().await;
    assert_eq!(r.resolved, ["sig:strat7:o"], "{r:?}");
    assert_eq!(s.intent_state("sig:strat7:o").await, IntentState::Settled);
    let p = s.only_position(7).await;
    let v = &s.live.book.positions(addr("a1")).await.unwrap()[0];
    assert_eq!(
        (p.status, p.wallet, p.pair_index, p.trade_index, p.venue_open_time, p.open_price),
        (PositionStatus::Open, Some(addr("a1")), v.pair, Some(v.trade_index), v.open_time, v.open_price)
    );
    assert!(s.messages_to(7).iter().any(|m| m.contains("Opened")), "the user is told of the fill");
    // The redelivered message finds it settled: no second order, no second position.
    let _ = worker::handle_message(&s.deps, &msg.body).await;
    assert_eq!(s.live.book.positions(addr("a1")).await.unwrap().len(), 1);
    assert_eq!(s.positions(7).await.len(), 1);
    assert!(s.run().await.resolved.is_empty());
}

#[tokio::test]
async fn an_open_with_no_fill_by_its_deadline_fails_and_the_user_is_told() {
    let s = sys();
    s.live_user(7, "a1").await;
    *s.live.lose_next_open.lock().unwrap() = Some(false); // never executed, reply lost
    assert_eq!(s.signal(7, open_btc("o")).await, 202);
    let msg = s.queue.take(1).unwrap().remove(0);
    assert!(worker::handle_message(&s.deps, &msg.body).await.is_err());
    assert!(s.run().await.failed.is_empty(), "before the deadline it waits");
    assert_eq!(s.intent_state("sig:strat7:o").await, IntentState::Ambiguous);
    s.clock.advance(Duration::from_secs(301));
    let r = s.run().await;
    assert_eq!(r.failed, ["sig:strat7:o"], "{r:?}");
    assert_eq!(s.intent_state("sig:strat7:o").await, IntentState::Failed);
    assert!(s.messages_to(7).iter().any(|m| m.contains("failed") && m.contains("no fill")), "{:?}", s.messages_to(7));
    assert!(s.store.get_recon_wallet(addr("a1")).await.unwrap().unwrap().pending.is_empty());
}

// ----- venue-side closes ------------------------------------------------------------------------

#[tokio::test]
async fn a_venue_tp_hit_is_recorded_with_pnl_and_notified_once_across_overlapping_runs() {
    let s = sys();
    s.live_user(7, "a1").await;
    let p = s.open_live(7, "o").await;
    s.clock.advance(Duration::from_secs(600));
    // Veranta's TP at 105 000: +5 % on $500 notional = $25 gross, $0.24 fee → $24.76 net.
    s.live.venue_close(&p, "105000", CloseReason::TakeProfit, 24_760_000, "0.24", s.clock.now()).await;

    let settings = Settings::default();
    let (a, b) = tokio::join!(reconcile::run_all(&s.deps, &settings), reconcile::run_all(&s.deps, &settings));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.closes.len() + b.closes.len(), 1, "{a:?} {b:?}");
    let closed = s.only_position(7).await;
    assert_eq!(closed.status, PositionStatus::Closed);
    assert_eq!(closed.close_price, Some(Price::from_str("105000").unwrap()));
    assert_eq!(closed.realised_pnl, Some(SignedUsdc::from_raw(24_760_000)));
    assert_eq!(closed.fees, p.fees.checked_add(Usdc::from_str("0.24").unwrap()).unwrap());
    assert_eq!(closed.collateral, Usdc::ZERO);
    // A third run, and the old indexer entry point, change nothing and say nothing more.
    assert!(s.run().await.closes.is_empty());
    schedule::indexer_tick(&s.deps).await.unwrap();
    let told: Vec<String> = s.messages_to(7).into_iter().filter(|m| m.contains("Take-profit hit on Veranta")).collect();
    assert_eq!(told.len(), 1, "{:?}", s.messages_to(7));
    assert!(told[0].contains("24.76") && told[0].contains("105000"), "{told:?}");
}

#[tokio::test]
async fn a_liquidation_counts_toward_the_daily_loss_limit_and_pauses_the_user() {
    let s = sys();
    s.live_user(7, "a1").await;
    let mut u = s.user(7).await;
    u.risk.daily_loss_limit = Usdc::from_str("50").unwrap();
    s.store.update_user(&u).await.unwrap();
    let p = s.open_live(7, "o").await;
    s.clock.advance(Duration::from_secs(60));
    s.live.venue_close(&p, "83000", CloseReason::Liquidation, -90_000_000, "5", s.clock.now()).await;
    let r = s.run().await;
    assert_eq!(r.closes, [format!("{}:liquidation", p.id)]);
    let liq = s.only_position(7).await;
    assert_eq!((liq.status, liq.realised_pnl), (PositionStatus::Liquidated, Some(SignedUsdc::from_raw(-90_000_000))));
    assert!(s.user(7).await.automation_paused, "the day's loss of $90 passed the $50 limit");
    assert!(s.messages_to(7).iter().any(|m| m.contains("Liquidated on Veranta")));
    assert!(s.messages_to(7).iter().any(|m| m.contains("Daily loss limit")));
    // The loss streak and the day's realised loss read the recorded PnL.
    let exp = crate::pipeline::exposure(&s.deps, &s.user(7).await).await.unwrap();
    assert_eq!((exp.loss_streak, exp.today_realised_pnl), (1, SignedUsdc::from_raw(-90_000_000)));
}

#[tokio::test]
async fn a_position_missing_from_one_read_stays_open_and_closes_only_after_the_grace_period() {
    let s = sys();
    s.live_user(7, "a1").await;
    let p = s.open_live(7, "o").await;
    // Gone from the venue's positions, with no close in the history (a lagging read).
    let order = VenueOrder::Close {
        trader: addr("a1"),
        pair: p.pair_index,
        trade_index: p.trade_index.unwrap(),
        collateral: p.collateral,
        known: None,
    };
    s.live.book.execute(&IntentId::parse("venue:x").unwrap(), &order).await.unwrap();
    let r = s.run().await;
    assert_eq!(r.missing, [p.id.as_str().to_owned()], "{r:?}");
    assert_eq!(s.only_position(7).await.status, PositionStatus::Open);
    s.clock.advance(Duration::from_secs(60));
    s.run().await;
    assert_eq!(s.only_position(7).await.status, PositionStatus::Open, "two reads in a minute: still open");
    s.clock.advance(Duration::from_secs(150));
    let r = s.run().await;
    assert_eq!(r.closes, [format!("{}:unrecorded", p.id)], "{r:?}");
    let closed = s.only_position(7).await;
    assert_eq!((closed.status, closed.realised_pnl), (PositionStatus::Closed, None));
    assert!(s.messages_to(7).iter().any(|m| m.contains("no longer on Veranta")));
}

#[tokio::test]
async fn a_position_back_in_the_next_read_is_not_counted_missing_any_more() {
    let s = sys();
    s.live_user(7, "a1").await;
    let p = s.open_live(7, "o").await;
    let mut w = s.store.get_recon_wallet(addr("a1")).await.unwrap().unwrap_or_else(|| ReconWallet::new(addr("a1")));
    w.missing.insert(p.id.clone(), vanta_domain::recon::Missing { reads: 2, since: s.clock.now() });
    s.store.put_recon_wallet(&w).await.unwrap();
    s.clock.advance(Duration::from_secs(600));
    let r = s.run().await;
    assert!(r.missing.is_empty() && r.closes.is_empty(), "{r:?}");
    assert!(s.store.get_recon_wallet(addr("a1")).await.unwrap().unwrap().missing.is_empty());
}

// ----- copies -----------------------------------------------------------------------------------

fn follow(follower: i64, leader: LeaderRef, since: Timestamp) -> Follow {
    Follow {
        follower: TelegramUserId(follower),
        leader,
        sizing: CopySizing::Fixed { collateral: Usdc::from_str("100").unwrap() },
        max_leverage: Leverage::from_whole(10).unwrap(),
        per_trade_cap: Usdc::ZERO,
        daily_cap: Usdc::ZERO,
        counter: false,
        adopt_existing: false,
        stop_after_losses: 0,
        max_drawdown: Usdc::ZERO,
        active: true,
        since,
    }
}

#[tokio::test]
async fn a_leaders_venue_side_close_closes_the_followers_copies() {
    let s = sys();
    s.live_user(7, "a1").await;
    s.live_user(8, "b2").await;
    let mut leader = s.user(7).await;
    leader.leader_opt_in = true;
    s.store.update_user(&leader).await.unwrap();
    s.store.put_follow(&follow(8, LeaderRef::User(TelegramUserId(7)), s.clock.now())).await.unwrap();
    s.clock.advance(Duration::from_secs(5));
    let p = s.open_live(7, "o").await;
    s.drain().await;
    let copy = s.only_position(8).await;
    assert_eq!(copy.status, PositionStatus::Open, "copied");
    s.clock.advance(Duration::from_secs(600));
    s.live.venue_close(&p, "99000", CloseReason::StopLoss, -5_240_000, "0.24", s.clock.now()).await;
    s.run().await;
    s.drain().await;
    assert_eq!(s.only_position(7).await.status, PositionStatus::Closed);
    assert_eq!(s.only_position(8).await.status, PositionStatus::Closed, "the follower's copy followed the leader out");
    assert!(s.live.book.positions(addr("b2")).await.unwrap().is_empty(), "closed on the venue too");
}

#[tokio::test]
async fn an_outside_leaders_open_and_exit_are_copied() {
    let s = sys();
    s.live_user(8, "b2").await;
    let outside = addr("c3");
    s.store.put_follow(&follow(8, LeaderRef::Address(outside), s.clock.now())).await.unwrap();
    reconcile::watch_leader(&s.deps, outside).await.unwrap();
    assert!(s.run().await.leader_events.is_empty(), "nothing open yet");
    s.clock.advance(Duration::from_secs(30));
    let open = VenueOrder::Open {
        trader: outside,
        pair: PairIndex(1),
        side: Side::Short,
        collateral: Usdc::from_str("1000").unwrap(),
        leverage: Leverage::from_whole(3).unwrap(),
        reference_price: Price::from_str("100000").unwrap(),
        slippage: SlippageP::from_str("1").unwrap(),
        tp: None,
        sl: None,
    };
    let fill = s.live.book.execute(&IntentId::parse("outside:1").unwrap(), &open).await.unwrap();
    s.clock.advance(Duration::from_secs(30));
    s.fresh_prices();
    let r = s.run().await;
    assert_eq!(r.leader_events.len(), 1, "{r:?}");
    s.drain().await;
    assert_eq!(s.positions(8).await.len(), 1, "{:?}", s.messages_to(8));
    let copy = s.only_position(8).await;
    assert_eq!((copy.side, copy.collateral, copy.status), (Side::Short, Usdc::from_str("100").unwrap(), PositionStatus::Open));
    assert!(s.run().await.leader_events.is_empty(), "an open is copied once");
    // The leader closes in the Veranta app: the copy follows.
    let close =
        VenueOrder::Close { trader: outside, pair: PairIndex(1), trade_index: fill.trade_index, collateral: fill.collateral, known: None };
    s.live.book.execute(&IntentId::parse("outside:2").unwrap(), &close).await.unwrap();
    let r = s.run().await;
    assert_eq!(r.leader_events.len(), 1, "{r:?}");
    s.drain().await;
    assert_eq!(s.only_position(8).await.status, PositionStatus::Closed);
}

#[tokio::test]
async fn an_outside_leaders_trade_from_before_the_follow_is_not_copied() {
    let s = sys();
    s.live_user(8, "b2").await;
    let outside = addr("c3");
    let open = VenueOrder::Open {
        trader: outside,
        pair: PairIndex(1),
        side: Side::Long,
        collateral: Usdc::from_str("1000").unwrap(),
        leverage: Leverage::from_whole(3).unwrap(),
        reference_price: Price::from_str("100000").unwrap(),
        slippage: SlippageP::from_str("1").unwrap(),
        tp: None,
        sl: None,
    };
    s.live.book.execute(&IntentId::parse("outside:1").unwrap(), &open).await.unwrap();
    s.clock.advance(Duration::from_secs(30));
    s.store.put_follow(&follow(8, LeaderRef::Address(outside), s.clock.now())).await.unwrap();
    reconcile::watch_leader(&s.deps, outside).await.unwrap();
    s.run().await;
    s.drain().await;
    assert!(s.positions(8).await.is_empty());
}

// ----- trades opened outside Vanta ----------------------------------------------------------------

#[tokio::test]
async fn a_trade_opened_outside_vanta_on_a_verified_wallet_is_adopted_as_external_and_closable() {
    let s = sys();
    s.live_user(7, "a1").await;
    reconcile::watch_owner(&s.deps, addr("a1"), TelegramUserId(7)).await;
    let open = VenueOrder::Open {
        trader: addr("a1"),
        pair: PairIndex(0),
        side: Side::Long,
        collateral: Usdc::from_str("200").unwrap(),
        leverage: Leverage::from_whole(2).unwrap(),
        reference_price: Price::from_str("3500").unwrap(),
        slippage: SlippageP::from_str("1").unwrap(),
        tp: None,
        sl: None,
    };
    s.live.book.execute(&IntentId::parse("app:1").unwrap(), &open).await.unwrap();
    assert!(s.run().await.adopted.is_empty(), "too fresh: an open in flight is the worker's to record");
    s.clock.advance(Duration::from_secs(180));
    let r = s.run().await;
    assert_eq!(r.adopted.len(), 1, "{r:?}");
    assert!(s.run().await.adopted.is_empty(), "adopted once");
    let p = s.only_position(7).await;
    assert!(reconcile::is_external(&p));
    assert_eq!((p.wallet, p.collateral, p.status), (Some(addr("a1")), Usdc::from_str("200").unwrap(), PositionStatus::Open));
    assert!(s.messages_to(7).iter().any(|m| m.contains("opened outside Vanta")));
    // Managed from Telegram like any other: a close by signal closes it on the venue.
    let close = serde_json::json!({"id":"c","action":"close","pair":"ETH","side":"long"});
    assert_eq!(s.signal(7, close).await, 202);
    s.drain().await;
    assert_eq!(s.only_position(7).await.status, PositionStatus::Closed);
    assert!(s.live.book.positions(addr("a1")).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unverified_wallets_outside_trades_are_not_adopted() {
    let s = sys();
    s.user(7).await;
    s.store.bind_address(TelegramUserId(7), addr("a1")).await.unwrap(); // bound, never proved
    reconcile::watch_owner(&s.deps, addr("a1"), TelegramUserId(7)).await;
    let open = VenueOrder::Open {
        trader: addr("a1"),
        pair: PairIndex(0),
        side: Side::Long,
        collateral: Usdc::from_str("200").unwrap(),
        leverage: Leverage::from_whole(2).unwrap(),
        reference_price: Price::from_str("3500").unwrap(),
        slippage: SlippageP::from_str("1").unwrap(),
        tp: None,
        sl: None,
    };
    s.live.book.execute(&IntentId::parse("app:1").unwrap(), &open).await.unwrap();
    s.clock.advance(Duration::from_secs(600));
    assert!(s.run().await.adopted.is_empty());
    assert!(s.positions(7).await.is_empty());
}

// ----- the store's record -------------------------------------------------------------------------

#[tokio::test]
async fn the_wallet_record_is_written_under_its_version() {
    let store = MemoryStore::new();
    let w = ReconWallet::new(addr("a1"));
    store.put_recon_wallet(&w).await.unwrap();
    assert!(matches!(store.put_recon_wallet(&w).await, Err(DomainError::Conflict(_))), "a second writer from the same read loses");
    let stored = store.get_recon_wallet(addr("a1")).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    store.put_recon_wallet(&stored).await.unwrap();
    assert_eq!(store.recon_wallets().await.unwrap()[0].version, 2);
}

// ----- resting limit orders (placed outside Vanta) ----------------------------------------------

fn limit_order(pair: u16, index: u32, side: Side, collateral: &str, leverage: u64, price: &str) -> VenueLimitOrder {
    VenueLimitOrder {
        pair: PairIndex(pair),
        order_index: index,
        side,
        collateral: Usdc::from_str(collateral).unwrap(),
        leverage: Leverage::from_whole(leverage).unwrap(),
        price: Price::from_str(price).unwrap(),
        order_type: 0,
        tp: None,
        sl: None,
    }
}

impl Sys {
    fn place_limit(&self, wallet: &str, o: VenueLimitOrder) {
        self.live.limit_orders.lock().unwrap().push((addr(wallet), o));
    }
    fn remove_limit(&self, wallet: &str, pair: u16, index: u32) -> VenueLimitOrder {
        let mut all = self.live.limit_orders.lock().unwrap();
        let i = all.iter().position(|(w, o)| *w == addr(wallet) && o.pair.0 == pair && o.order_index == index).unwrap();
        all.remove(i).1
    }
    /// The venue fills `o` for `wallet`: the order leaves the list and its trade opens.
    async fn fill_limit(&self, wallet: &str, o: &VenueLimitOrder, n: u32) {
        self.remove_limit(wallet, o.pair.0, o.order_index);
        let sym = PairSymbol::parse(if o.pair.0 == 0 { "ETH/USD" } else { "BTC/USD" }).unwrap();
        for src in ["pyth", "chainlink"] {
            self.prices.set(sym.clone(), src, o.price, self.clock.now()).unwrap();
        }
        let open = VenueOrder::Open {
            trader: addr(wallet),
            pair: o.pair,
            side: o.side,
            collateral: o.collateral,
            leverage: o.leverage,
            reference_price: o.price,
            slippage: SlippageP::from_str("1").unwrap(),
            tp: None,
            sl: None,
        };
        self.live.book.execute(&IntentId::parse(&format!("limit:{n}")).unwrap(), &open).await.unwrap();
    }
}

#[tokio::test]
async fn resting_limit_orders_are_recorded_per_wallet_and_a_cancelled_one_is_dropped() {
    let s = sys();
    s.live_user(7, "a1").await;
    reconcile::watch_owner(&s.deps, addr("a1"), TelegramUserId(7)).await;
    s.place_limit("a1", limit_order(0, 0, Side::Long, "200", 2, "3400"));
    s.place_limit("a1", limit_order(1, 0, Side::Short, "50", 10, "110000"));
    let r = s.run().await;
    assert_eq!(r.limit_orders, [format!("{}:0:0", addr("a1")), format!("{}:1:0", addr("a1"))], "{r:?}");
    let stored = s.store.get_recon_wallet(addr("a1")).await.unwrap().unwrap();
    assert_eq!(stored.limit_orders.len(), 2);
    assert!(s.run().await.limit_orders.is_empty(), "recorded once");

    // /positions lists them, as placed outside Vanta.
    let update = serde_json::json!({
        "update_id": 1,
        "message": {"message_id": 1, "from": {"id": 7, "is_bot": false, "first_name": "T"}, "chat": {"id": 7, "type": "private"},
                    "date": s.clock.now().secs(), "text": "/positions"}
    });
    crate::telegram::process_update(&s.deps, update.to_string().as_bytes()).await.unwrap();
    let shown = s.messages_to(7).into_iter().find(|m| m.contains("resting limit order")).expect("listed");
    assert!(shown.contains("placed outside Vanta") && shown.contains("LONG ETH/USD 2x") && shown.contains("at 3400"), "{shown}");

    // Cancelled on the venue: gone without a fill, simply dropped.
    s.remove_limit("a1", 1, 0);
    s.clock.advance(Duration::from_secs(600));
    let r = s.run().await;
    assert_eq!(
        (r.limit_dropped.clone(), r.limit_filled.clone(), r.adopted.clone()),
        (vec![format!("{}:1:0", addr("a1"))], vec![], vec![]),
        "{r:?}"
    );
    let stored = s.store.get_recon_wallet(addr("a1")).await.unwrap().unwrap();
    assert_eq!(stored.limit_orders, [limit_order(0, 0, Side::Long, "200", 2, "3400")]);
    assert!(s.positions(7).await.is_empty());
}

#[tokio::test]
async fn a_filled_limit_order_is_adopted_at_once_and_only_once_across_two_overlapping_runs() {
    let s = sys();
    s.live_user(7, "a1").await;
    reconcile::watch_owner(&s.deps, addr("a1"), TelegramUserId(7)).await;
    let o = limit_order(0, 0, Side::Long, "200", 2, "3400");
    s.place_limit("a1", o.clone());
    s.run().await;
    s.clock.advance(Duration::from_secs(60));
    s.fill_limit("a1", &o, 1).await;

    // The fill is fresh (well under the adoption delay), but it is the order's: adopted now.
    let settings = Settings::default();
    let (a, b) = tokio::join!(reconcile::run_all(&s.deps, &settings), reconcile::run_all(&s.deps, &settings));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.adopted.len() + b.adopted.len(), 1, "{a:?} {b:?}");
    assert!(a.limit_dropped.is_empty() && b.limit_dropped.is_empty(), "a fill is no cancel");
    assert!(!a.limit_filled.is_empty() || !b.limit_filled.is_empty());
    let p = s.only_position(7).await;
    assert!(reconcile::is_external(&p));
    assert_eq!((p.pair_index, p.side, p.leverage, p.status), (o.pair, o.side, o.leverage, PositionStatus::Open));
    // Later runs (past the adoption delay too) change nothing.
    s.clock.advance(Duration::from_secs(600));
    let r = s.run().await;
    assert!(r.adopted.is_empty() && r.limit_filled.is_empty(), "{r:?}");
    assert_eq!(s.positions(7).await.len(), 1);
    let told: Vec<String> = s.messages_to(7).into_iter().filter(|m| m.contains("resting limit order")).collect();
    assert_eq!(told.len(), 1, "{:?}", s.messages_to(7));
    assert!(told[0].contains("filled") && told[0].contains("at 3400"), "{told:?}");
    assert!(s.store.get_recon_wallet(addr("a1")).await.unwrap().unwrap().limit_orders.is_empty());
}

#[tokio::test]
async fn resting_limit_orders_that_break_the_exposure_cap_refuse_an_open_but_never_a_close() {
    let s = sys();
    s.live_user(7, "a1").await;
    let p = s.open_live(7, "o1").await;
    // $49 500 resting on ETH: with the open $500 and another $500 the exposure would be $50 500,
    // above the cap of $10 000 × 5 positions.
    s.place_limit("a1", limit_order(0, 0, Side::Short, "4950", 10, "3600"));
    assert_eq!(s.signal(7, open_btc("o2")).await, 202);
    s.drain().await;
    assert_eq!(s.intent_state("sig:strat7:o2").await, IntentState::Rejected);
    assert!(s.messages_to(7).iter().any(|m| m.contains("resting limit orders") && m.contains("cap of $50000")), "{:?}", s.messages_to(7));
    assert_eq!(s.live.book.positions(addr("a1")).await.unwrap().len(), 1, "nothing more opened");
    // The exit in the same state goes through.
    let close = serde_json::json!({"id":"c","action":"close","pair":"BTC","side":"long"});
    assert_eq!(s.signal(7, close).await, 202);
    s.drain().await;
    let closed = s.store.get_position(TelegramUserId(7), &p.id).await.unwrap().unwrap();
    assert_eq!(closed.status, PositionStatus::Closed);
    assert!(s.live.book.positions(addr("a1")).await.unwrap().is_empty());
    // Once the order is gone the same open is allowed again.
    s.remove_limit("a1", 0, 0);
    s.fresh_prices();
    s.open_live(7, "o3").await;
}
