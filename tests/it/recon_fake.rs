//! The reconciler (issue 9, item 4) against the fake Veranta server, in LIVE mode: the real HTTP
//! venue client (relayer route, signing with a local delegate key behind the exec-mode gate)
//! plus the real trade-history client, both pointed at the fake, whose venue acts by itself —
//! the keeper's TP hits, liquidations, closes and opens made in the Veranta app, a position
//! missing from one read, a relayer reply lost after the order executed. The store is the
//! in-memory one (as in the fault matrix's LIVE cells); the clock is manual, started at the real
//! time because the fake checks deadlines against it. The last test runs the direct route on
//! anvil: its close is settled from the venue's trade history.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vanta_app::delegates::{DelegateKey, DelegatePool};
use vanta_app::gate::GatedSigner;
use vanta_app::http::testing::{self, TestRequest};
use vanta_app::reconcile::{self, ReconReport, Settings};
use vanta_app::{Deps, pipeline, schedule, signals, worker};
use vanta_chain::avantis::{AvantisClient, AvantisConfig, AvantisVenue};
use vanta_chain::budget::BudgetedVenue;
use vanta_chain::history::{HistoryClient, WithHistory};
use vanta_chain::signer::LocalKeySigner;
use vanta_domain::exec::{ExecControl, ExecMode};
use vanta_domain::ids::{ChatId, IntentId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::IntentState;
use vanta_domain::market::{PairSymbol, Side};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::{Leverage, Price, SignedUsdc, Usdc};
use vanta_domain::ports::{ControlStore, FollowStore, IntentStore, PositionStore, Signer, SourceStore, UserStore, Venue};
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::recon::CloseReason;
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{CopySizing, Follow, LeaderRef, SecretText, SignalSource, User};
use vanta_domain::wallet::WalletChallenge;
use vanta_runtime::Config;
use vanta_testkit::fake_avantis::{FAKE_CHAIN_ID, FakeAvantis, HISTORY_MAX_LIMIT, HistoryFill};

const BTC: u16 = 1;
const E10: u64 = 10_000_000_000;

fn now_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn tv_token(user: i64) -> String {
    format!("tvRECON{user:06}abcdef0123456789")
}

/// The fake, and Vanta's functions wired to it as the LIVE deployment is.
struct World {
    fake: FakeAvantis,
    deps: Deps,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
    prices: Arc<FixedPrices>,
    delegate: TraderAddress,
}

/// Deps over `store`, LIVE in the environment and in the stored control, with `live` as the venue.
async fn live_deps(
    fake: &FakeAvantis,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
    prices: Arc<FixedPrices>,
) -> (Deps, Config) {
    let u = fake.urls();
    let catalog = AvantisClient::new(AvantisConfig::new(u.tx_builder, u.batched_market, u.core, u.data, FAKE_CHAIN_ID))
        .unwrap()
        .pairs()
        .await
        .unwrap();
    let paper = Arc::new(PaperVenue::new(catalog, prices.clone(), clock.clone()));
    let env = [("COPY_EXECUTION_MODE", "LIVE")];
    let config = Config::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())).unwrap();
    let deps = Deps::new(config.clone(), store.clone(), queue, chat, clock.clone(), prices, paper);
    let mut control = ExecControl::initial(clock.now());
    control.mode = ExecMode::Live;
    control.version += 1;
    store.put_exec_control(&control).await.unwrap();
    (deps, config)
}

impl World {
    async fn new() -> World {
        let clock = Arc::new(ManualClock::new(Timestamp(now_ms())));
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new(clock.clone()));
        let chat = Arc::new(RecordingChat::new());
        let prices = Arc::new(FixedPrices::new());
        let fake = FakeAvantis::start().await.unwrap();
        let (deps, config) = live_deps(&fake, store.clone(), queue.clone(), chat.clone(), clock.clone(), prices.clone()).await;
        let key = LocalKeySigner::random().unwrap();
        let delegate = Signer::address(&key);
        let gated: Arc<dyn Signer> = Arc::new(GatedSigner::new(Arc::new(key), store.clone(), config.exec));
        let u = fake.urls();
        let mut cfg = AvantisConfig::new(u.tx_builder, u.batched_market, u.core, u.data, FAKE_CHAIN_ID);
        cfg.sse_max_duration = Duration::from_secs(2);
        cfg.status_poll_timeout = Duration::from_secs(1);
        cfg.retry_backoff = Duration::from_millis(20);
        let relayer: Arc<dyn Venue> =
            Arc::new(AvantisVenue::new(AvantisClient::new(cfg).unwrap(), gated.clone()).with_clock(clock.clone()));
        // As the deployment wires it: the venue plus Veranta's trade history, every call budgeted.
        let live: Arc<dyn Venue> = Arc::new(WithHistory::new(relayer, HistoryClient::new(&u.history).unwrap()));
        let pool = DelegatePool::new(vec![DelegateKey { id: "local-0".into(), address: delegate, signer: Some(gated) }]).unwrap();
        let deps = deps.with_delegates(Arc::new(pool)).with_live_venue(Arc::new(BudgetedVenue::new(live, Duration::from_secs(2))));
        let w = World { fake, deps, store, queue, chat, clock, prices, delegate };
        w.fresh_prices();
        w
    }

    /// Oracle prices agreeing with the fake's feed, fresh now.
    fn fresh_prices(&self) {
        let p = Price::from_raw(self.fake.price(BTC).unwrap());
        for src in ["pyth", "chainlink"] {
            self.prices.set(PairSymbol::parse("BTC/USD").unwrap(), src, p, self.clock.now()).unwrap();
        }
    }

    /// Moves the venue's BTC price (its keeper acts on it) and the oracles with it.
    fn move_btc(&self, human: u64) -> Vec<HistoryFill> {
        let fills = self.fake.move_price(BTC, human * E10);
        self.fresh_prices();
        fills
    }

    /// A user with a proven, funded wallet whose delegate is Vanta's key, and a signal source.
    async fn user(&self, id: i64) -> TraderAddress {
        let wallet = Signer::address(&LocalKeySigner::random().unwrap());
        self.fake.set_delegate(wallet.address(), self.delegate.address(), true, u64::try_from(now_ms() / 1000 + 86_400 * 365).unwrap());
        self.fake.set_balance(wallet.address(), 10_000_000_000);
        let now = self.clock.now();
        self.store.get_or_create_user(User::new(TelegramUserId(id), ChatId(id), now)).await.unwrap();
        let site = vanta_domain::wallet::SiweSite::from_base_url(None);
        let c = WalletChallenge::new(&format!("recon{id}nonce"), TelegramUserId(id), wallet, &site, FAKE_CHAIN_ID, now).unwrap();
        self.store.put_challenge(&c).await.unwrap();
        let mut u = self.store.verify_binding(&c.nonce, TelegramUserId(id), now).await.unwrap();
        assert_eq!(u.trader, Some(wallet));
        u.delegate_key = Some("local-0".into());
        self.store.update_user(&u).await.unwrap();
        let s = SignalSource {
            id: SourceId::parse(&format!("strat{id}")).unwrap(),
            owner: TelegramUserId(id),
            secret: SecretText::new("k3y").into(),
            tv_token_hash: signals::token_hash(&tv_token(id)),
            active: true,
            created_at: now,
            rotated_at: None,
        };
        self.store.create_source(&s).await.unwrap();
        wallet
    }

    async fn get_user(&self, id: i64) -> User {
        self.store.get_user(TelegramUserId(id)).await.unwrap().unwrap()
    }

    /// Posts a signal as TradingView does.
    async fn signal(&self, user: i64, body: Value) -> u16 {
        let mut body = body;
        body["source"] = Value::String(format!("strat{user}"));
        let req = TestRequest::new("POST", &format!("/signals/tv/{}", tv_token(user))).with_body(body.to_string());
        testing::call(&self.deps, req).await.status
    }

    /// The worker over everything queued (a failed delivery is not redelivered here).
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

    async fn run(&self) -> ReconReport {
        reconcile::run_all(&self.deps, &Settings::default()).await.unwrap()
    }

    async fn positions(&self, user: i64) -> Vec<Position> {
        self.store.user_positions(TelegramUserId(user), false).await.unwrap()
    }

    async fn only_position(&self, user: i64) -> Position {
        let ps = self.positions(user).await;
        assert_eq!(ps.len(), 1, "{ps:?}");
        ps.into_iter().next().unwrap()
    }

    /// Opens 100 USDC × 5 long BTC for `user` by signal and returns the recorded position.
    async fn open(&self, user: i64, id: &str, extra: Value) -> Position {
        let mut body = json!({"id": id, "action": "open", "pair": "BTC/USD", "side": "long", "collateral_usdc": "100", "leverage": "5"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        assert_eq!(self.signal(user, body).await, 202);
        self.drain().await;
        let p = self.positions(user).await.into_iter().find(|p| p.status == PositionStatus::Open).expect("opened");
        assert_eq!((p.mode, p.pair_index.0), (ExecMode::Live, BTC));
        p
    }

    fn messages_to(&self, chat: i64) -> Vec<String> {
        self.chat.sent().into_iter().filter(|m| m.chat == ChatId(chat)).map(|m| m.html).collect()
    }

    async fn intent_state(&self, id: &str) -> IntentState {
        self.store.get_intent(&IntentId::parse(id).unwrap()).await.unwrap().unwrap().state
    }
}

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

// ----- the fake's trade history, as the client reads it ----------------------------------------

#[tokio::test]
async fn fake_history_records_every_fill_newest_first_in_pages_of_at_most_twenty() {
    let w = World::new().await;
    let trader = w.user(7).await;
    // Eleven trades opened and closed in the Veranta app: 22 fills, more than one page.
    for _ in 0..11 {
        let p = w.fake.open_in_app(trader.address(), BTC, true, 100_000_000, 5 * E10, 0).unwrap();
        w.fake.close_in_app(trader.address(), BTC, p.index, None).unwrap();
    }
    let url = format!("{}/v2/history/trade-history/{}/0/100", w.fake.urls().history, trader.address());
    let body: Value = http_get(&url).await;
    assert_eq!(body["success"], true);
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), HISTORY_MAX_LIMIT, "a larger limit is cut to the page size");
    assert_eq!((rows[0]["open"].clone(), rows[1]["open"].clone()), (json!(false), json!(true)), "newest first");
    assert!(rows[0]["timestamp"].as_u64().unwrap() >= rows[19]["timestamp"].as_u64().unwrap());
    let bad: Value = http_get(&format!("{}/v2/history/trade-history/nobody/0/20", w.fake.urls().history)).await;
    assert_eq!((bad["success"].clone(), bad["errorMessage"].is_string()), (json!(false), true));
    // The client pages through all of it and reads every close (and no open).
    let closes = HistoryClient::new(&w.fake.urls().history).unwrap().closes(trader, None).await.unwrap();
    assert_eq!(closes.len(), 11, "{closes:?}");
    assert!(closes.iter().all(|c| c.reason == CloseReason::Market && c.remaining == Usdc::ZERO));
    let fills = w.fake.history(trader.address());
    let last = fills.last().unwrap();
    let c = closes.last().unwrap();
    assert_eq!(
        (c.price.raw(), c.collateral.raw(), c.net_pnl, c.fee.raw(), c.open_time),
        (last.price, last.collateral, SignedUsdc::from_raw(last.net_pnl), last.close_fee, Some(last.opened_at))
    );
}

/// A plain HTTP/1.1 GET of a JSON body (the envelope itself, which the client unwraps).
async fn http_get(url: &str) -> Value {
    let (host_port, path) = url.trim_start_matches("http://").split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host_port).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!("GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap()
}

// ----- must show --------------------------------------------------------------------------------

#[tokio::test]
async fn fake_a_lost_relayer_reply_is_resolved_into_a_recorded_position() {
    let w = World::new().await;
    let wallet = w.user(7).await;
    w.fake.drop_reply_after_fill(1);
    let body = json!({"source": "strat7", "id": "o", "action": "open", "pair": "BTC/USD", "side": "long", "collateral_usdc": "100", "leverage": "5"});
    assert_eq!(w.signal(7, body).await, 202);
    let msg = w.queue.take(1).unwrap().remove(0);
    assert!(worker::handle_message(&w.deps, &msg.body).await.is_err(), "outcome unknown: left to a retry");
    assert_eq!(w.intent_state("sig:strat7:o").await, IntentState::Ambiguous);
    assert!(w.positions(7).await.is_empty(), "nothing recorded yet");
    let on_venue = w.fake.positions(wallet.address());
    assert_eq!(on_venue.len(), 1, "the order did execute");
    assert_eq!(w.store.get_recon_wallet(wallet).await.unwrap().unwrap().pending.len(), 1, "registered with the reconciler");

    w.clock.advance(Duration::from_secs(60));
    let r = w.run().await;
    assert_eq!(r.resolved, ["sig:strat7:o"], "{r:?}");
    assert_eq!(w.intent_state("sig:strat7:o").await, IntentState::Settled);
    let p = w.only_position(7).await;
    let v = &on_venue[0];
    assert_eq!(
        (p.status, p.wallet, p.pair_index.0, p.trade_index, p.venue_open_time, p.open_price.raw(), p.collateral.raw()),
        (PositionStatus::Open, Some(wallet), v.pair, Some(v.index), Some(v.opened_at), v.open_price, v.collateral)
    );
    assert!(w.messages_to(7).iter().any(|m| m.contains("Opened")), "{:?}", w.messages_to(7));
    // The redelivered message finds it settled: no second order, no second position.
    let _ = worker::handle_message(&w.deps, &msg.body).await;
    assert_eq!(w.fake.submissions(), 1);
    assert_eq!(w.fake.positions(wallet.address()).len(), 1);
    assert_eq!(w.positions(7).await.len(), 1);
    assert!(w.run().await.resolved.is_empty());
}

#[tokio::test]
async fn fake_a_venue_tp_hit_is_recorded_with_pnl_and_notified_exactly_once_across_two_overlapping_runs() {
    let w = World::new().await;
    let wallet = w.user(7).await;
    let p = w.open(7, "o", json!({"tp": "63000"})).await;
    assert_eq!(w.fake.positions(wallet.address())[0].tp, 63_000 * E10, "the venue holds the TP");
    w.clock.advance(Duration::from_secs(600));
    // The price reaches the TP: the venue's keeper closes the trade there, by itself.
    let fills = w.move_btc(63_100);
    assert_eq!(fills.len(), 1, "{fills:?}");
    let fill = &fills[0];
    assert_eq!((fill.event, fill.order_type, fill.price), ("LimitExecuted", Some(0), 63_000 * E10));
    assert!(w.fake.positions(wallet.address()).is_empty());

    let settings = Settings::default();
    let (a, b) = tokio::join!(reconcile::run_all(&w.deps, &settings), reconcile::run_all(&w.deps, &settings));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.closes.len() + b.closes.len(), 1, "{a:?} {b:?}");
    let closed = w.only_position(7).await;
    assert_eq!(closed.status, PositionStatus::Closed);
    assert_eq!(closed.close_price, Some(Price::from_str("63000").unwrap()));
    let net = SignedUsdc::from_raw(fill.net_pnl);
    assert!(fill.net_pnl > 0);
    assert_eq!(closed.realised_pnl, Some(net));
    assert_eq!(closed.fees, p.fees.checked_add(Usdc::from_raw(fill.close_fee)).unwrap());
    assert_eq!(closed.collateral, Usdc::ZERO);
    // Later runs, and the indexer's own tick, change nothing and say nothing more.
    assert!(w.run().await.closes.is_empty());
    schedule::indexer_tick(&w.deps).await.unwrap();
    let told: Vec<String> = w.messages_to(7).into_iter().filter(|m| m.contains("Take-profit hit on Veranta")).collect();
    assert_eq!(told.len(), 1, "{:?}", w.messages_to(7));
    assert!(told[0].contains(&net.to_string()) && told[0].contains("63000"), "{told:?}");
}

#[tokio::test]
async fn fake_a_liquidation_counts_toward_the_daily_loss_limit_and_pauses_the_user() {
    let w = World::new().await;
    let wallet = w.user(7).await;
    let mut u = w.get_user(7).await;
    u.risk.daily_loss_limit = Usdc::from_str("50").unwrap();
    w.store.update_user(&u).await.unwrap();
    let p = w.open(7, "o", json!({})).await;
    w.clock.advance(Duration::from_secs(60));
    let fill = w.fake.liquidate(wallet.address(), BTC, p.trade_index.unwrap()).unwrap();
    assert_eq!(fill.net_pnl, -i64::try_from(p.collateral.raw()).unwrap(), "the collateral is lost");

    let r = w.run().await;
    assert_eq!(r.closes, [format!("{}:liquidation", p.id)], "{r:?}");
    let liq = w.only_position(7).await;
    assert_eq!((liq.status, liq.realised_pnl), (PositionStatus::Liquidated, Some(SignedUsdc::from_raw(fill.net_pnl))));
    assert_eq!(liq.close_price.map(|c| c.raw()), Some(fill.price), "at the liquidation price");
    let u = w.get_user(7).await;
    assert!(u.automation_paused, "a $99.78 loss passed the $50 daily limit");
    assert!(w.messages_to(7).iter().any(|m| m.contains("Liquidated on Veranta")), "{:?}", w.messages_to(7));
    assert!(w.messages_to(7).iter().any(|m| m.contains("Daily loss limit")), "{:?}", w.messages_to(7));
    let exp = pipeline::exposure(&w.deps, &u).await.unwrap();
    assert_eq!((exp.loss_streak, exp.today_realised_pnl), (1, SignedUsdc::from_raw(fill.net_pnl)));
    // Paused: the next entry signal opens nothing (prices fresh: only the pause refuses it).
    w.fresh_prices();
    assert_eq!(
        w.signal(7, json!({"id": "o2", "action": "open", "pair": "BTC/USD", "side": "long", "collateral_usdc": "100", "leverage": "5"}))
            .await,
        202
    );
    w.drain().await;
    assert!(w.fake.positions(wallet.address()).is_empty());
    assert!(w.messages_to(7).iter().any(|m| m.contains("automation is paused")), "{:?}", w.messages_to(7));
}

#[tokio::test]
async fn fake_a_leaders_venue_side_close_closes_the_followers_copies() {
    let w = World::new().await;
    let leader_wallet = w.user(7).await;
    let follower_wallet = w.user(8).await;
    let mut leader = w.get_user(7).await;
    leader.leader_opt_in = true;
    w.store.update_user(&leader).await.unwrap();
    w.store.put_follow(&follow(8, LeaderRef::User(TelegramUserId(7)), w.clock.now())).await.unwrap();
    w.clock.advance(Duration::from_secs(5));
    let p = w.open(7, "o", json!({})).await;
    w.drain().await;
    let copy = w.only_position(8).await;
    assert_eq!(copy.status, PositionStatus::Open, "copied");
    assert_eq!(w.fake.positions(follower_wallet.address()).len(), 1, "the copy is on the venue");

    // The leader closes in the Veranta app.
    w.clock.advance(Duration::from_secs(600));
    w.fresh_prices();
    w.fake.close_in_app(leader_wallet.address(), BTC, p.trade_index.unwrap(), None).unwrap();
    let r = w.run().await;
    assert_eq!(r.closes, [format!("{}:market", p.id)], "{r:?}");
    w.drain().await;
    assert_eq!(w.only_position(7).await.status, PositionStatus::Closed);
    assert!(w.messages_to(7).iter().any(|m| m.contains("Closed on Veranta")), "{:?}", w.messages_to(7));
    assert_eq!(w.only_position(8).await.status, PositionStatus::Closed, "the follower's copy followed the leader out");
    assert!(w.fake.positions(follower_wallet.address()).is_empty(), "closed on the venue too");
}

#[tokio::test]
async fn fake_an_outside_leaders_open_is_copied_and_its_exit_too() {
    let w = World::new().await;
    let follower_wallet = w.user(8).await;
    let outside = Signer::address(&LocalKeySigner::random().unwrap());
    w.fake.set_balance(outside.address(), 10_000_000_000);
    // The venue knows open times in seconds: the follow starts at the whole second.
    let since = Timestamp::from_secs(w.clock.now().secs());
    w.store.put_follow(&follow(8, LeaderRef::Address(outside), since)).await.unwrap();
    reconcile::watch_leader(&w.deps, outside).await.unwrap();
    assert!(w.run().await.leader_events.is_empty(), "nothing open yet");

    let opened = w.fake.open_in_app(outside.address(), BTC, false, 1_000_000_000, 3 * E10, 0).unwrap();
    w.clock.advance(Duration::from_secs(30));
    w.fresh_prices();
    let r = w.run().await;
    assert_eq!(r.leader_events.len(), 1, "{r:?}");
    w.drain().await;
    let copy = w.only_position(8).await;
    assert_eq!(
        (copy.side, copy.status, copy.leverage, copy.mode),
        (Side::Short, PositionStatus::Open, Leverage::from_whole(3).unwrap(), ExecMode::Live),
        "{:?}",
        w.messages_to(8)
    );
    assert_eq!(w.fake.positions(follower_wallet.address()).len(), 1, "the copy is on the venue");
    assert!(w.run().await.leader_events.is_empty(), "an open is copied once");

    // The outside leader closes in the Veranta app: the copy follows.
    w.fake.close_in_app(outside.address(), BTC, opened.index, None).unwrap();
    w.clock.advance(Duration::from_secs(30));
    w.fresh_prices();
    let r = w.run().await;
    assert_eq!(r.leader_events.len(), 1, "{r:?}");
    w.drain().await;
    assert_eq!(w.only_position(8).await.status, PositionStatus::Closed);
    assert!(w.fake.positions(follower_wallet.address()).is_empty());
}

#[tokio::test]
async fn fake_a_position_missing_from_one_read_stays_open() {
    let w = World::new().await;
    let wallet = w.user(7).await;
    let p = w.open(7, "o", json!({})).await;
    w.clock.advance(Duration::from_secs(60));
    w.fake.hide_position(wallet.address(), BTC, p.trade_index.unwrap(), 1);
    let r = w.run().await;
    assert_eq!(r.missing, [p.id.as_str().to_owned()], "{r:?}");
    assert!(r.closes.is_empty());
    assert_eq!(w.only_position(7).await.status, PositionStatus::Open);
    // Back in the next read, past the grace period: still open, no longer counted missing.
    w.clock.advance(Duration::from_secs(600));
    let r = w.run().await;
    assert!(r.missing.is_empty() && r.closes.is_empty(), "{r:?}");
    assert_eq!(w.only_position(7).await.status, PositionStatus::Open);
    assert!(w.store.get_recon_wallet(wallet).await.unwrap().unwrap().missing.is_empty());
    assert!(!w.messages_to(7).iter().any(|m| m.contains("no longer on Veranta")));
    // It closes when the history shows the close (made in the Veranta app), with its price.
    let fill = w.fake.close_in_app(wallet.address(), BTC, p.trade_index.unwrap(), None).unwrap();
    let r = w.run().await;
    assert_eq!(r.closes, [format!("{}:market", p.id)], "{r:?}");
    let closed = w.only_position(7).await;
    assert_eq!((closed.status, closed.realised_pnl), (PositionStatus::Closed, Some(SignedUsdc::from_raw(fill.net_pnl))));
}

// ----- resting limit orders (placed outside Vanta) ----------------------------------------------

#[tokio::test]
async fn fake_resting_limit_orders_are_recorded_a_fill_is_adopted_once_across_overlapping_runs_and_a_cancel_dropped() {
    let w = World::new().await;
    let wallet = w.user(7).await;
    reconcile::watch_owner(&w.deps, wallet, TelegramUserId(7)).await;
    let px = w.fake.price(BTC).unwrap();
    // Placed in the Veranta app: a long below the price and a short above it.
    let long = w.fake.place_limit_order(wallet.address(), BTC, true, 100_000_000, 5 * E10, px - 1_000 * E10).unwrap();
    let short = w.fake.place_limit_order(wallet.address(), BTC, false, 50_000_000, 10 * E10, px + 1_000 * E10).unwrap();
    let r = w.run().await;
    assert_eq!(r.limit_orders.len(), 2, "{r:?}");
    let stored = w.store.get_recon_wallet(wallet).await.unwrap().unwrap().limit_orders;
    assert_eq!(stored.len(), 2);
    let l = stored.iter().find(|o| o.side == Side::Long).unwrap();
    assert_eq!(
        (l.pair.0, l.order_index, l.collateral.raw(), l.leverage.raw(), l.price.raw(), l.tp, l.sl),
        (BTC, long.index, long.collateral, long.leverage, long.price, None, None),
        "read from /user-data in raw units"
    );

    // The short is cancelled in the app; the price falls through the long's limit: it fills.
    w.fake.cancel_limit_order(wallet.address(), BTC, short.index).unwrap();
    let fills = w.move_btc(px / E10 - 1_500);
    assert_eq!((fills.len(), fills[0].order_type, fills[0].open), (1, Some(3), true), "{fills:?}");
    let settings = Settings::default();
    let (a, b) = tokio::join!(reconcile::run_all(&w.deps, &settings), reconcile::run_all(&w.deps, &settings));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.adopted.len() + b.adopted.len(), 1, "{a:?} {b:?}");
    let dropped: Vec<String> = a.limit_dropped.iter().chain(&b.limit_dropped).cloned().collect();
    assert!(!dropped.is_empty() && dropped.iter().all(|k| k.ends_with(&format!(":{BTC}:{}", short.index))), "{dropped:?}");
    let p = w.only_position(7).await;
    assert!(reconcile::is_external(&p));
    let v = &w.fake.positions(wallet.address())[0];
    assert_eq!(
        (p.status, p.side, p.open_price.raw(), p.collateral.raw(), p.trade_index, p.venue_open_time),
        (PositionStatus::Open, Side::Long, long.price, v.collateral, Some(v.index), Some(v.opened_at))
    );
    // Later runs change nothing; the user was told once.
    w.clock.advance(Duration::from_secs(600));
    let r = w.run().await;
    assert!(r.adopted.is_empty() && r.limit_filled.is_empty() && r.limit_dropped.is_empty(), "{r:?}");
    assert_eq!(w.positions(7).await.len(), 1);
    let told: Vec<String> = w.messages_to(7).into_iter().filter(|m| m.contains("resting limit order")).collect();
    assert_eq!(told.len(), 1, "{:?}", w.messages_to(7));
    assert!(w.store.get_recon_wallet(wallet).await.unwrap().unwrap().limit_orders.is_empty());
}

#[tokio::test]
async fn fake_resting_limit_orders_that_break_the_exposure_cap_refuse_an_open_but_not_a_close() {
    let w = World::new().await;
    let wallet = w.user(7).await;
    let p = w.open(7, "o", json!({})).await;
    // $4 950 × 10 resting above the price: $49 500 that opens when it fills. With the $500 open
    // and $500 more the exposure would be $50 500, above $10 000 × 5 positions.
    let px = w.fake.price(BTC).unwrap();
    w.fake.place_limit_order(wallet.address(), BTC, false, 4_950_000_000, 10 * E10, px + 5_000 * E10).unwrap();
    let before = w.fake.submissions();
    let body = json!({"id": "o2", "action": "open", "pair": "BTC/USD", "side": "long", "collateral_usdc": "100", "leverage": "5"});
    assert_eq!(w.signal(7, body).await, 202);
    w.drain().await;
    assert_eq!(w.intent_state("sig:strat7:o2").await, IntentState::Rejected);
    assert_eq!(w.fake.submissions(), before, "nothing sent to the venue");
    assert!(w.messages_to(7).iter().any(|m| m.contains("resting limit orders") && m.contains("cap of $50000")), "{:?}", w.messages_to(7));
    // The close in the same state goes through, on the venue too.
    assert_eq!(w.signal(7, json!({"id": "c", "action": "close", "pair": "BTC/USD", "side": "long"})).await, 202);
    w.drain().await;
    assert_eq!(w.store.get_position(TelegramUserId(7), &p.id).await.unwrap().unwrap().status, PositionStatus::Closed);
    assert!(w.fake.positions(wallet.address()).is_empty());
    assert_eq!(w.fake.limit_orders(wallet.address()).len(), 1, "the order rests on");
}

// ----- the direct route on anvil ----------------------------------------------------------------

mod direct {
    use alloy::primitives::{Address, B256, Bytes, U256};
    use alloy::providers::{DynProvider, Provider};
    use vanta_chain::direct::venue::{DirectVenue, DirectVenueConfig};
    use vanta_chain::direct::{DirectCall, DirectConfig, DirectSender, TxState};
    use vanta_domain::direct::{MemoryNonceLease, MemoryTxStore};
    use vanta_domain::time::SystemClock;
    use vanta_testkit::anvil::{Anvil, DEV_ADDRESS, DEV_KEY};

    use super::*;

    const GWEI: u128 = 1_000_000_000;
    const ETH: u128 = 1_000_000_000_000_000_000;
    const ROUTER_ARTIFACT: &str = include_str!("../../shared/chain/tests/contracts/FakeTradingRouter.json");

    fn direct_config() -> DirectConfig {
        let mut c = DirectConfig::new(FAKE_CHAIN_ID);
        c.max_fee_cap = 100 * GWEI;
        c.min_priority_fee = GWEI;
        c.poll_interval = Duration::from_millis(100);
        c.replace_after = Duration::from_secs(30);
        c.track_timeout = Duration::from_secs(30);
        c
    }

    async fn receipt(p: &DynProvider, hash: B256) -> alloy::rpc::types::TransactionReceipt {
        for _ in 0..200 {
            if let Some(r) = p.get_transaction_receipt(hash).await.unwrap() {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no receipt for {hash}");
    }

    async fn deploy_router(p: &DynProvider) -> Address {
        let artifact: Value = serde_json::from_str(ROUTER_ARTIFACT).unwrap();
        let deploy = json!({"from": DEV_ADDRESS, "data": artifact["bytecode"].as_str().unwrap(), "gas": "0x100000"});
        let hash: B256 = p.raw_request("eth_sendTransaction".into(), (deploy,)).await.unwrap();
        receipt(p, hash).await.contract_address.unwrap()
    }

    async fn funded_signer(p: &DynProvider) -> LocalKeySigner {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let dev = LocalKeySigner::from_secret_hex(&secrecy::SecretString::from(DEV_KEY)).unwrap().with_chain_id(Some(FAKE_CHAIN_ID));
        let signer = LocalKeySigner::random().unwrap().with_chain_id(Some(FAKE_CHAIN_ID));
        let to = signer.address().address();
        let funder = DirectSender::new(
            p.clone(),
            dev,
            Arc::new(MemoryNonceLease::new(clock.clone())),
            Arc::new(MemoryTxStore::new()),
            clock,
            direct_config(),
        );
        let out = funder.send(&format!("fund-{to}"), &DirectCall::new(to, Bytes::new(), U256::from(10 * ETH))).await.unwrap();
        assert_eq!(out.state, TxState::Mined, "{out:?}");
        signer
    }

    #[tokio::test]
    async fn anvil_a_direct_route_close_is_settled_from_the_trade_history_once() {
        let anvil = Anvil::start().await.unwrap();
        let p = DirectSender::http_provider(&anvil.endpoint).unwrap();
        let router = deploy_router(&p).await;
        let signer = funded_signer(&p).await;
        let fake = FakeAvantis::start().await.unwrap();
        fake.set_trading_router(router);
        fake.start_keeper(&anvil.endpoint).await.unwrap();

        let clock = Arc::new(ManualClock::new(Timestamp(now_ms())));
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new(clock.clone()));
        let chat = Arc::new(RecordingChat::new());
        let prices = Arc::new(FixedPrices::new());
        let (deps, _) = live_deps(&fake, store.clone(), queue.clone(), chat.clone(), clock.clone(), prices.clone()).await;
        let u = fake.urls();
        let mut cfg = AvantisConfig::new(u.tx_builder, u.batched_market, u.core, u.data, FAKE_CHAIN_ID);
        cfg.retry_backoff = Duration::from_millis(10);
        let venue_cfg = DirectVenueConfig {
            fill_timeout: Duration::from_secs(10),
            fill_poll_interval: Duration::from_millis(100),
            ..DirectVenueConfig::default()
        };
        let trader = signer.address();
        let direct = DirectVenue::new(
            AvantisClient::new(cfg).unwrap(),
            p.clone(),
            signer,
            Arc::new(MemoryNonceLease::new(clock.clone())),
            Arc::new(MemoryTxStore::new()),
            clock.clone(),
            direct_config(),
        )
        .with_config(venue_cfg);
        let live: Arc<dyn Venue> = Arc::new(WithHistory::new(Arc::new(direct), HistoryClient::new(&u.history).unwrap()));
        let deps = deps.with_live_venue(Arc::new(BudgetedVenue::new(live, Duration::from_secs(20))));
        let w = World { fake, deps, store, queue, chat, clock, prices, delegate: trader };
        w.fresh_prices();

        // The trader's own key sends (no delegate): a proven wallet and a signal source.
        let now = w.clock.now();
        w.store.get_or_create_user(User::new(TelegramUserId(7), ChatId(7), now)).await.unwrap();
        let site = vanta_domain::wallet::SiweSite::from_base_url(None);
        let c = WalletChallenge::new("recon7direct", TelegramUserId(7), trader, &site, FAKE_CHAIN_ID, now).unwrap();
        w.store.put_challenge(&c).await.unwrap();
        w.store.verify_binding(&c.nonce, TelegramUserId(7), now).await.unwrap();
        w.fake.set_balance(trader.address(), 10_000_000_000);
        let s = SignalSource {
            id: SourceId::parse("strat7").unwrap(),
            owner: TelegramUserId(7),
            secret: SecretText::new("k3y").into(),
            tv_token_hash: signals::token_hash(&tv_token(7)),
            active: true,
            created_at: now,
            rotated_at: None,
        };
        w.store.create_source(&s).await.unwrap();

        let p0 = w.open(7, "o", json!({})).await;
        assert_eq!(w.fake.positions(trader.address()).len(), 1, "opened on the venue by the mined call");
        // The price moves up 2 %, then the trader closes by signal: the close transaction is
        // mined and executed, but the direct route cannot read its price from the receipt.
        w.clock.advance(Duration::from_secs(300));
        w.move_btc(61_200);
        assert_eq!(w.signal(7, json!({"id": "c", "action": "close", "pair": "BTC/USD", "side": "long"})).await, 202);
        w.drain().await;
        assert!(w.fake.positions(trader.address()).is_empty(), "closed on the venue");
        let before = w.only_position(7).await;
        assert_eq!(before.close_price, None, "no close price from the direct route itself: {before:?}");
        assert!(before.status.is_live(), "{before:?}");

        let fill = w.fake.history(trader.address()).into_iter().rfind(|f| !f.open).unwrap();
        let r = w.run().await;
        assert_eq!(r.closes, [format!("{}:market", p0.id)], "{r:?}");
        let closed = w.only_position(7).await;
        assert_eq!(closed.status, PositionStatus::Closed);
        assert_eq!(closed.close_price.map(|c| c.raw()), Some(fill.price));
        assert_eq!(closed.realised_pnl, Some(SignedUsdc::from_raw(fill.net_pnl)));
        assert_eq!(w.intent_state("sig:strat7:c").await, IntentState::Settled, "the close intent settles from the history");
        // Once: later runs change nothing, and the user is told once.
        assert!(w.run().await.closes.is_empty());
        let told = w.messages_to(7).into_iter().filter(|m| m.contains("Closed on Veranta")).count();
        assert_eq!(told, 1, "{:?}", w.messages_to(7));
        drop(anvil);
    }
}
