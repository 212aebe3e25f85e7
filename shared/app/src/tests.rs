#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::http::testing::{self, TestRequest};
use alloy_primitives::{B256, Signature};
use async_trait::async_trait;
use vanta_domain::exec::{ExecControl, ExecMode, StopLevel};
use vanta_domain::ids::{ChatId, IntentId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::{Action, IntentState, OpenOrder, Origin};
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol, Side};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::{Bps, Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::*;
use vanta_domain::position::PositionStatus;
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{CopySizing, Follow, LeaderRef, SecretText, SignalSource, User};
use vanta_domain::{DomainError, DomainResult};
use vanta_runtime::Config;

use crate::gate::GatedSigner;
use crate::pipeline;
use crate::{Deps, copy, schedule, signals, telegram, worker};

const T0: i64 = 1_795_852_800_000;

// ----- a whole system in memory -------------------------------------------------------------

struct Sys {
    deps: Deps,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
    prices: Arc<FixedPrices>,
    paper: Arc<PaperVenue>,
}

fn pair(index: u16, sym: &str, min: &str) -> PairInfo {
    PairInfo {
        index: PairIndex(index),
        symbol: PairSymbol::parse(sym).unwrap(),
        group: 0,
        listed: true,
        close_only: false,
        min_leverage: Leverage::ONE,
        max_leverage: Leverage::from_whole(75).unwrap(),
        min_position: Usdc::from_str(min).unwrap(),
        open_fee: PercentP::from_str("0.045").unwrap(),
        close_fee: PercentP::from_str("0.045").unwrap(),
        spread: PercentP::from_str("0.01").unwrap(),
        max_gain: PercentP::from_str("2500").unwrap(),
        max_sl: PercentP::from_str("80").unwrap(),
    }
}

fn config(env: &[(&str, &str)]) -> Config {
    let m: std::collections::HashMap<String, String> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    Config::from_lookup(|k| m.get(k).cloned()).unwrap()
}

fn sys_with(env: &[(&str, &str)]) -> Sys {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    let catalog = PairCatalog::new([pair(0, "ETH/USD", "100"), pair(1, "BTC/USD", "100"), pair(2, "SOL/USD", "100")]).unwrap();
    let paper = Arc::new(PaperVenue::new(Arc::new(catalog), prices.clone(), clock.clone()));
    let deps = Deps::new(config(env), store.clone(), queue.clone(), chat.clone(), clock.clone(), prices.clone(), paper.clone());
    let s = Sys { deps, store, queue, chat, clock, prices, paper };
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
    /// Proves a wallet for the user and opts them in as a leader (copying and LIVE need both).
    async fn lead(&self, id: i64) -> User {
        crate::tests_wallet::verified_leader(&self.store, TelegramUserId(id), self.clock.now()).await
    }
    async fn source(&self, owner: i64, id: &str, secret: &str, tv: &str) {
        self.user(owner).await;
        let s = SignalSource {
            id: SourceId::parse(id).unwrap(),
            owner: TelegramUserId(owner),
            secret: SecretText::new(secret).into(),
            tv_token_hash: signals::token_hash(tv),
            active: true,
            created_at: self.clock.now(),
            rotated_at: None,
        };
        self.store.create_source(&s).await.unwrap();
    }
    /// Runs the worker until the queue is empty (each message once per pass, like SQS would).
    async fn drain(&self) -> usize {
        let mut handled = 0;
        for _ in 0..20 {
            let batch = self.queue.take(10).unwrap();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                handled += 1;
                let _ = worker::handle_message(&self.deps, &m.body).await;
            }
        }
        handled
    }
    async fn positions(&self, user: i64) -> Vec<vanta_domain::position::Position> {
        self.store.user_positions(TelegramUserId(user), false).await.unwrap()
    }
    fn messages_to(&self, chat: i64) -> Vec<String> {
        self.chat.sent().into_iter().filter(|m| m.chat == ChatId(chat)).map(|m| m.html).collect()
    }
    async fn set_exec(&self, mode: ExecMode, stop: StopLevel) {
        let current = self.store.get_exec_control().await.unwrap().map_or(0, |c| c.version);
        let c = ExecControl { mode, stop, updated_by: None, updated_at: self.clock.now(), version: current + 1 };
        self.store.put_exec_control(&c).await.unwrap();
    }
}

fn signed(body: &str, secret: &str, ts: i64) -> TestRequest {
    let ts = ts.to_string();
    TestRequest::new("POST", "/signals")
        .with_header("X-Vanta-Timestamp", &ts)
        .with_header("X-Vanta-Signature", &signals::sign(secret, &ts, body.as_bytes()))
        .with_body(body.to_owned())
}

const OPEN_BTC: &str = r#"{"source":"strat","id":"a-1","action":"open","pair":"BTC/USD","side":"long","collateral_usdc":"100","leverage":"5","slippage_pct":"0.5"}"#;

async fn post(s: &Sys, req: TestRequest) -> (u16, serde_json::Value) {
    let r = testing::call(&s.deps, req).await;
    (r.status, r.body_json())
}

// ----- health and plumbing ------------------------------------------------------------------

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[tokio::test]
async fn health_routes_answer() {
    let s = sys();
    let r = testing::call(&s.deps, TestRequest::new("GET", "/healthz")).await;
    assert_eq!((r.status, r.body_json()["status"].as_str()), (200, Some("ok")));
    assert_eq!(testing::call(&s.deps, TestRequest::new("GET", "/readyz")).await.status, 200);
    let h = testing::call(&s.deps, TestRequest::new("GET", "/health")).await.body_json();
    assert_eq!(h["exec_mode"], "DRY", "no operator setting means DRY");
    let m = testing::call(&s.deps, TestRequest::new("GET", "/metrics")).await;
    assert!(String::from_utf8_lossy(&m.body).contains("vanta_http_requests_total 4"));
}

#[tokio::test]
async fn unknown_routes_and_methods_say_why() {
    let s = sys();
    let r = testing::call(&s.deps, TestRequest::new("GET", "/nope")).await;
    assert_eq!(r.status, 404);
    assert!(r.body_json()["error"].as_str().unwrap().contains("/nope"));
    assert_eq!(testing::call(&s.deps, TestRequest::new("DELETE", "/healthz")).await.status, 405);
}

fn telegram_fixture_request() -> TestRequest {
    let ev: serde_json::Value = serde_json::from_str(&fixture("apigw-telegram-update.json")).unwrap();
    TestRequest::new("POST", "/telegram").with_body(ev["body"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn telegram_needs_the_secret_and_dedupes_updates() {
    let s = sys_with(&[("TELEGRAM_WEBHOOK_SECRET", "local_dev_webhook_secret")]);
    let req = telegram_fixture_request();
    assert_eq!(testing::call(&s.deps, req.clone()).await.status, 401, "missing secret");
    let bad = req.clone().with_header(telegram::SECRET_HEADER, "local_dev_webhook_secreT");
    assert_eq!(testing::call(&s.deps, bad).await.status, 401, "wrong secret");
    let good = req.with_header(telegram::SECRET_HEADER, "local_dev_webhook_secret");
    assert_eq!(testing::call(&s.deps, good.clone()).await.status, 200);
    assert_eq!(testing::call(&s.deps, good).await.status, 200);
    let counts = s.deps.metrics.render();
    assert!(counts.contains("vanta_telegram_updates_total 2") && counts.contains("vanta_telegram_duplicate_updates_total 1"), "{counts}");
}

#[tokio::test]
async fn telegram_without_a_configured_secret_refuses_everything() {
    let s = sys();
    let req = telegram_fixture_request().with_header(telegram::SECRET_HEADER, "");
    assert_eq!(testing::call(&s.deps, req).await.status, 503);
}

#[tokio::test]
async fn telegram_acknowledges_unreadable_authentic_updates() {
    let s = sys_with(&[("TELEGRAM_WEBHOOK_SECRET", "s3cret")]);
    let req = TestRequest::new("POST", "/telegram").with_header(telegram::SECRET_HEADER, "s3cret").with_body("not json");
    assert_eq!(testing::call(&s.deps, req).await.status, 200, "Telegram would retry anything else forever");
}

#[tokio::test]
async fn worker_fails_unknown_and_unreadable_messages_so_they_reach_the_dlq() {
    let s = sys();
    let ev: serde_json::Value = serde_json::from_str(&fixture("sqs-signal.json")).unwrap();
    let body = ev["Records"][0]["body"].as_str().unwrap();
    let err = worker::handle_message(&s.deps, body).await.unwrap_err();
    assert!(err.to_string().contains("intent"), "{err}");
    assert!(worker::handle_message(&s.deps, "garbage").await.unwrap_err().to_string().contains("unreadable"));
}

#[tokio::test]
async fn the_last_delivery_records_why_the_intent_was_dropped() {
    let s = sys();
    // An intent whose user record is missing fails on every delivery.
    let order = OpenOrder {
        pair: PairSymbol::parse("BTC").unwrap(),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(5).unwrap(),
        tp: None,
        sl: None,
        slippage: None,
    };
    let id = IntentId::parse("tg:orphan").unwrap();
    let intent = vanta_domain::intent::Intent::new(
        id.clone(),
        TelegramUserId(99),
        Origin::Telegram { update_id: 1 },
        Action::Open(order),
        "h".into(),
        s.clock.now(),
    );
    s.store.create_intent(&intent).await.unwrap();
    let body = serde_json::json!({ "intent_id": id }).to_string();
    for n in 1..worker::MAX_RECEIVES {
        assert!(worker::handle_delivery(&s.deps, &body, n).await.is_err());
        assert_eq!(s.store.get_intent(&id).await.unwrap().unwrap().state, IntentState::Received, "kept for the next delivery");
    }
    assert!(worker::handle_delivery(&s.deps, &body, worker::MAX_RECEIVES).await.is_err(), "still failed: SQS moves it to the DLQ");
    let i = s.store.get_intent(&id).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Failed);
    assert!(i.reason.unwrap().contains(&format!("gave up after {} attempts", worker::MAX_RECEIVES)));
}

#[tokio::test]
async fn scheduled_ticks_run() {
    let s = sys();
    assert_eq!(schedule::tpsl_tick(&s.deps).await.unwrap().live_positions, 0);
    assert_eq!(schedule::indexer_tick(&s.deps).await.unwrap().job, "indexer");
}

// ----- the signal API: every reply code of the contract -------------------------------------

#[tokio::test]
async fn signal_accepted_then_duplicate_then_conflict() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let now = s.clock.now().secs();
    let (code, body) = post(&s, signed(OPEN_BTC, "k3y", now)).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!((body["status"].as_str(), body["id"].as_str()), (Some("accepted"), Some("a-1")));
    // The same signal again (a TradingView retry): 200 duplicate, nothing new queued.
    let (code, body) = post(&s, signed(OPEN_BTC, "k3y", now)).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("duplicate")));
    // The same id with numbers written differently is still the same request.
    let same = OPEN_BTC.replace(r#""collateral_usdc":"100""#, r#""collateral_usdc":100.000"#);
    assert_eq!(post(&s, signed(&same, "k3y", now)).await.0, 200);
    // The same id with a different payload: 409, and the first one stands.
    let other = OPEN_BTC.replace(r#""leverage":"5""#, r#""leverage":"6""#);
    let (code, body) = post(&s, signed(&other, "k3y", now)).await;
    assert_eq!(code, 409);
    assert!(body["error"].as_str().unwrap().contains("a-1"));
    assert_eq!(s.drain().await, 1, "one message, though the duplicates re-sent while it waited were dropped by FIFO dedup");
    assert_eq!(s.positions(7).await.len(), 1);
}

#[tokio::test]
async fn signal_auth_failures_are_401_with_a_reason() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let now = s.clock.now().secs();
    assert_eq!(post(&s, signed(OPEN_BTC, "wrong", now)).await.0, 401, "bad signature");
    let (code, body) = post(&s, signed(OPEN_BTC, "k3y", now - 301)).await;
    assert_eq!(code, 401, "stale timestamp");
    assert!(body["error"].as_str().unwrap().contains("replay window"));
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", now + 301)).await.0, 401, "timestamp from the future");
    let unsigned = TestRequest::new("POST", "/signals").with_body(OPEN_BTC);
    let (code, body) = post(&s, unsigned).await;
    assert_eq!(code, 401);
    assert!(body["error"].as_str().unwrap().contains("X-Vanta-Timestamp"));
    let unknown = OPEN_BTC.replace("strat", "nobody");
    assert_eq!(post(&s, signed(&unknown, "k3y", now)).await.0, 401, "unknown source");
    // A tampered body under a valid signature of the original.
    let ts = now.to_string();
    let sig = signals::sign("k3y", &ts, OPEN_BTC.as_bytes());
    let tampered = OPEN_BTC.replace(r#""collateral_usdc":"100""#, r#""collateral_usdc":"1000""#);
    let req = TestRequest::new("POST", "/signals")
        .with_header("x-vanta-timestamp", &ts)
        .with_header("x-vanta-signature", &sig)
        .with_body(tampered);
    assert_eq!(post(&s, req).await.0, 401);
    assert!(s.queue.is_empty(), "nothing refused was queued");
}

#[tokio::test]
async fn invalid_signals_get_400_or_422_with_the_reason() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let now = s.clock.now().secs();
    let cases: &[(&str, u16, &str)] = &[
        ("not json", 400, "JSON"),
        (
            r#"{"source":"strat","id":"x","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":true}"#,
            400,
            "decimal",
        ),
        (r#"{"source":"strat","id":"x","action":"teleport"}"#, 422, "unknown action"),
        (r#"{"source":"strat","id":"x","action":"open","pair":"BTC","side":"long","leverage":"5"}"#, 422, "collateral_usdc is required"),
        (r#"{"source":"strat","id":"x","action":"open","pair":"BTC","side":"up","collateral_usdc":"100","leverage":"5"}"#, 422, "side"),
        (
            r#"{"source":"strat","id":"x","action":"open","pair":"BTC","side":"long","collateral_usdc":"1.0000001","leverage":"5"}"#,
            422,
            "decimal places",
        ),
        (
            r#"{"source":"strat","id":"x","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"0"}"#,
            422,
            "leverage",
        ),
        (r#"{"source":"strat","id":"x","action":"close","pair":"BTC","side":"long","fraction":"1.5"}"#, 422, "fraction"),
        (r#"{"source":"strat","id":"x","action":"close","pair":"BTC","side":"long","leverage":"3"}"#, 422, "not used by action"),
        (
            r#"{"source":"strat","id":"x","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5","colour":"red"}"#,
            422,
            "unknown field",
        ),
        (r#"{"source":"strat","id":"x","action":"update_tpsl","pair":"BTC","side":"long"}"#, 422, "tp, sl or both"),
        (r#"{"source":"strat","id":"bad id!","action":"pause"}"#, 422, "signal id"),
    ];
    for (body, want, reason) in cases {
        let (code, reply) = post(&s, signed(body, "k3y", now)).await;
        assert_eq!(code, *want, "{body} → {reply}");
        assert!(reply["error"].as_str().unwrap().contains(reason), "{body}: '{}' lacks '{reason}'", reply["error"]);
    }
    // Exact numbers are fine as JSON numbers too.
    let numeric = r#"{"source":"strat","id":"n","action":"open","pair":"BTC","side":"long","collateral_usdc":100.5,"leverage":5}"#;
    assert_eq!(post(&s, signed(numeric, "k3y", now)).await.0, 202);
}

#[tokio::test]
async fn oversized_signals_are_413_and_bursts_are_429() {
    let s = sys_with(&[("SIGNAL_RATE_PER_MIN", "3")]);
    s.source(7, "strat", "k3y", "tvtok").await;
    let now = s.clock.now().secs();
    let huge = format!(r#"{{"source":"strat","id":"big","action":"pause","pad":"{}"}}"#, "x".repeat(10_000));
    assert_eq!(post(&s, signed(&huge, "k3y", now)).await.0, 413);
    for i in 0..3 {
        let body = format!(r#"{{"source":"strat","id":"p{i}","action":"pause"}}"#);
        assert_eq!(post(&s, signed(&body, "k3y", now)).await.0, 202);
    }
    let (code, reply) = post(&s, signed(r#"{"source":"strat","id":"p9","action":"pause"}"#, "k3y", now)).await;
    assert_eq!(code, 429);
    assert!(reply["error"].as_str().unwrap().contains("3 signals a minute"));
    s.clock.advance(std::time::Duration::from_secs(61));
    let later = s.clock.now().secs();
    assert_eq!(
        post(&s, signed(r#"{"source":"strat","id":"p9","action":"pause"}"#, "k3y", later)).await.0,
        202,
        "a new minute, a new budget"
    );
}

#[tokio::test]
async fn tradingview_route_takes_text_plain_json_with_the_path_token() {
    let s = sys();
    s.source(7, "strat", "k3y", "tv-secret-token").await;
    let tv = |token: &str, body: &str| {
        TestRequest::new("POST", &format!("/signals/tv/{token}"))
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body.to_owned())
    };
    let (code, reply) = post(&s, tv("tv-secret-token", OPEN_BTC)).await;
    assert_eq!(code, 202, "{reply}");
    assert_eq!(post(&s, tv("tv-secret-token", OPEN_BTC)).await.0, 200);
    assert_eq!(post(&s, tv("wrong-token", OPEN_BTC)).await.0, 401);
    let other_source = OPEN_BTC.replace("strat", "someone-else");
    assert_eq!(post(&s, tv("tv-secret-token", &other_source)).await.0, 401, "the token's source must be the body's");
    s.drain().await;
    assert_eq!(s.positions(7).await.len(), 1);
}

// ----- exactly once ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_identical_posts_make_one_trade() {
    let s = Arc::new(sys_with(&[("SIGNAL_RATE_PER_MIN", "1000")]));
    s.source(7, "strat", "k3y", "tvtok").await;
    let now = s.clock.now().secs();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { post(&s, signed(OPEN_BTC, "k3y", now)).await.0 }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 202).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 99);
    s.drain().await;
    // Even if the message came again after the queue's dedup window, the pipeline runs the intent once.
    s.clock.advance(std::time::Duration::from_secs(400));
    pipeline::enqueue(&s.deps, &s.user(7).await, &IntentId::parse("sig:strat:a-1").unwrap()).await.unwrap();
    assert_eq!(s.drain().await, 1);
    assert_eq!(s.positions(7).await.len(), 1);
    assert_eq!(s.paper.positions(pipeline::account(&s.user(7).await)).await.unwrap().len(), 1, "one trade on the venue");
}

/// A venue that executes, then loses the reply (a crash or a timeout after sending).
struct LosesReplies {
    inner: Arc<PaperVenue>,
    lose: AtomicU32,
}

#[async_trait]
impl Venue for LosesReplies {
    fn mode(&self) -> ExecMode {
        ExecMode::Dry
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.inner.pairs().await
    }
    async fn execute(&self, r: &IntentId, o: &VenueOrder) -> DomainResult<VenueFill> {
        let fill = self.inner.execute(r, o).await?;
        if self.lose.load(Ordering::SeqCst) > 0 {
            self.lose.fetch_sub(1, Ordering::SeqCst);
            return Err(DomainError::Ambiguous("connection reset after sending".into()));
        }
        Ok(fill)
    }
    async fn positions(&self, t: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.inner.positions(t).await
    }
    async fn lookup(&self, r: &IntentId) -> DomainResult<Lookup> {
        self.inner.lookup(r).await
    }
}

#[tokio::test]
async fn a_lost_reply_is_reconciled_not_resubmitted() {
    let mut s = sys();
    let venue = Arc::new(LosesReplies { inner: s.paper.clone(), lose: AtomicU32::new(1) });
    s.deps.paper = venue;
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    let msg = s.queue.take(1).unwrap().remove(0);
    assert!(worker::handle_message(&s.deps, &msg.body).await.is_err(), "ambiguous: the message is retried");
    let id = IntentId::parse("sig:strat:a-1").unwrap();
    assert_eq!(s.store.get_intent(&id).await.unwrap().unwrap().state, IntentState::Ambiguous);
    // SQS redelivers: the venue says it filled, so the fill is recorded without a second order.
    worker::handle_message(&s.deps, &msg.body).await.unwrap();
    let intent = s.store.get_intent(&id).await.unwrap().unwrap();
    assert_eq!((intent.state, intent.attempts), (IntentState::Settled, 1));
    assert_eq!(s.paper.positions(pipeline::account(&s.user(7).await)).await.unwrap().len(), 1);
    let trail: Vec<IntentState> = s.store.audit_trail(&id).await.unwrap().into_iter().map(|a| a.state).collect();
    assert_eq!(
        trail,
        [IntentState::Received, IntentState::Validated, IntentState::Submitted, IntentState::Ambiguous, IntentState::Settled]
    );
}

#[tokio::test]
async fn a_crash_after_submission_then_redelivery_makes_no_second_trade() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    let id = IntentId::parse("sig:strat:a-1").unwrap();
    let user = s.user(7).await;
    // What the worker did before the crash: validated, recorded SUBMITTED, sent the order…
    use vanta_domain::intent::Transition;
    s.store.transition(&id, &Transition::new(IntentState::Received, IntentState::Validated, s.clock.now()).unwrap()).await.unwrap();
    s.store
        .transition(&id, &Transition::new(IntentState::Validated, IntentState::Submitted, s.clock.now()).unwrap().with_mode(ExecMode::Dry))
        .await
        .unwrap();
    let order = VenueOrder::Open {
        trader: pipeline::account(&user),
        pair: PairIndex(1),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(5).unwrap(),
        reference_price: Price::from_str("100000").unwrap(),
        slippage: PercentP::from_str("0.5").unwrap(),
        tp: None,
        sl: None,
    };
    s.paper.execute(&id, &order).await.unwrap();
    // …and died before recording the fill. SQS redelivers the message:
    assert_eq!(s.drain().await, 1);
    assert_eq!(s.store.get_intent(&id).await.unwrap().unwrap().state, IntentState::Settled);
    assert_eq!(s.paper.positions(pipeline::account(&user)).await.unwrap().len(), 1, "still one trade");
    assert_eq!(s.positions(7).await.len(), 1, "and it is recorded");
}

#[tokio::test]
async fn an_order_that_never_reached_the_venue_is_resubmitted_exactly_once() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    let id = IntentId::parse("sig:strat:a-1").unwrap();
    use vanta_domain::intent::Transition;
    s.store.transition(&id, &Transition::new(IntentState::Received, IntentState::Validated, s.clock.now()).unwrap()).await.unwrap();
    s.store
        .transition(&id, &Transition::new(IntentState::Validated, IntentState::Submitted, s.clock.now()).unwrap().with_mode(ExecMode::Dry))
        .await
        .unwrap();
    // Crashed before sending: the venue has nothing for it.
    s.drain().await;
    let intent = s.store.get_intent(&id).await.unwrap().unwrap();
    assert_eq!((intent.state, intent.attempts), (IntentState::Settled, 2));
    assert_eq!(s.positions(7).await.len(), 1);
}

// ----- the exec-mode gate ---------------------------------------------------------------------

/// A LIVE venue that must sign each order; counts signatures.
struct SigningVenue {
    inner: Arc<PaperVenue>,
    signer: Arc<dyn Signer>,
}

struct CountingSigner(AtomicUsize);

#[async_trait]
impl Signer for CountingSigner {
    fn address(&self) -> TraderAddress {
        TraderAddress::from_str("0x00000000000000000000000000000000000000aa").unwrap()
    }
    async fn sign_digest(&self, _: B256) -> DomainResult<Signature> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Signature::test_signature())
    }
}

#[async_trait]
impl Venue for SigningVenue {
    fn mode(&self) -> ExecMode {
        ExecMode::Live
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.inner.pairs().await
    }
    async fn execute(&self, r: &IntentId, o: &VenueOrder) -> DomainResult<VenueFill> {
        self.signer.sign_digest(B256::ZERO).await?;
        self.inner.execute(r, o).await
    }
    async fn positions(&self, t: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.inner.positions(t).await
    }
    async fn lookup(&self, r: &IntentId) -> DomainResult<Lookup> {
        self.inner.lookup(r).await
    }
}

fn live_sys() -> (Sys, Arc<CountingSigner>) {
    let mut s = sys_with(&[("COPY_EXECUTION_MODE", "LIVE")]);
    let counter = Arc::new(CountingSigner(AtomicUsize::new(0)));
    let gated = Arc::new(GatedSigner::new(counter.clone(), s.store.clone(), s.deps.config.exec));
    let live_book =
        Arc::new(PaperVenue::new(Arc::new(PairCatalog::new([pair(1, "BTC/USD", "100")]).unwrap()), s.prices.clone(), s.clock.clone()));
    s.deps.live = Some(Arc::new(SigningVenue { inner: live_book, signer: gated }));
    (s, counter)
}

#[tokio::test]
async fn live_mode_signs_and_the_emergency_stop_after_enqueue_signs_nothing() {
    let (s, signatures) = live_sys();
    s.set_exec(ExecMode::Live, StopLevel::None).await;
    s.source(7, "strat", "k3y", "tvtok").await;
    s.lead(7).await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    assert_eq!(signatures.0.load(Ordering::SeqCst), 1, "LIVE signs");
    assert!(s.messages_to(7).iter().any(|m| m.contains("LIVE") && m.contains("Opened")));

    // A second signal is queued, then an operator pulls the stop before the worker runs.
    let second = OPEN_BTC.replace("a-1", "a-2");
    assert_eq!(post(&s, signed(&second, "k3y", s.clock.now().secs())).await.0, 202);
    s.set_exec(ExecMode::Live, StopLevel::PauseEntries).await;
    s.drain().await;
    assert_eq!(signatures.0.load(Ordering::SeqCst), 1, "nothing more was signed");
    let intent = s.store.get_intent(&IntentId::parse("sig:strat:a-2").unwrap()).await.unwrap().unwrap();
    assert_eq!(intent.state, IntentState::Rejected);
    assert!(intent.reason.unwrap().contains("paused"));
}

#[tokio::test]
async fn switching_to_dry_between_enqueue_and_execution_signs_nothing() {
    let (s, signatures) = live_sys();
    s.set_exec(ExecMode::Live, StopLevel::None).await;
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    s.set_exec(ExecMode::Dry, StopLevel::None).await;
    s.drain().await;
    assert_eq!(signatures.0.load(Ordering::SeqCst), 0);
    let p = &s.positions(7).await[0];
    assert_eq!(p.mode, ExecMode::Dry, "it ran on the paper venue instead");
    assert!(s.messages_to(7).iter().any(|m| m.contains("DRY")));
}

#[tokio::test]
async fn the_gate_refuses_to_sign_when_the_setting_is_unreadable_or_dry() {
    struct Broken;
    #[async_trait]
    impl ControlStore for Broken {
        async fn get_exec_control(&self) -> DomainResult<Option<ExecControl>> {
            Err(DomainError::Unavailable("timeout".into()))
        }
        async fn put_exec_control(&self, _: &ExecControl) -> DomainResult<()> {
            Ok(())
        }
    }
    let counter = Arc::new(CountingSigner(AtomicUsize::new(0)));
    let env = vanta_domain::exec::EnvExec { mode: ExecMode::Live, emergency_stop: false };
    let gated = GatedSigner::new(counter.clone(), Arc::new(Broken), env);
    assert!(gated.sign_digest(B256::ZERO).await.unwrap_err().to_string().contains("DRY"));
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
}

// ----- actions --------------------------------------------------------------------------------

async fn signal(s: &Sys, body: serde_json::Value) -> u16 {
    post(s, signed(&body.to_string(), "k3y", s.clock.now().secs())).await.0
}

#[tokio::test]
async fn close_by_pair_and_side_with_a_fraction_then_all() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    s.set_price("BTC/USD", "101000");
    let half = serde_json::json!({"source":"strat","id":"c-1","action":"close","pair":"btc","side":"long","fraction":"0.5"});
    assert_eq!(signal(&s, half).await, 202);
    s.drain().await;
    let p = &s.positions(7).await[0];
    assert_eq!((p.status, p.collateral), (PositionStatus::Open, Usdc::from_str("50").unwrap()));
    assert!(p.realised_pnl.unwrap().raw() > 0, "closed half in profit");
    let rest = serde_json::json!({"source":"strat","id":"c-2","action":"close","pair":"BTC/USD","side":"long"});
    assert_eq!(signal(&s, rest).await, 202);
    s.drain().await;
    let p = &s.positions(7).await[0];
    assert_eq!(p.status, PositionStatus::Closed);
    let nothing = serde_json::json!({"source":"strat","id":"c-3","action":"close","pair":"BTC/USD","side":"long"});
    assert_eq!(signal(&s, nothing).await, 202);
    s.drain().await;
    let i = s.store.get_intent(&IntentId::parse("sig:strat:c-3").unwrap()).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Rejected);
    assert!(s.messages_to(7).iter().any(|m| m.contains("no open long position on BTC/USD")));
}

#[tokio::test]
async fn a_flip_closes_before_it_opens() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    let flip = serde_json::json!({"source":"strat","id":"f-1","action":"flip","pair":"BTC/USD","side":"short","collateral_usdc":"200","leverage":"3"});
    assert_eq!(signal(&s, flip).await, 202);
    s.drain().await;
    let ps = s.positions(7).await;
    assert_eq!(ps.len(), 2);
    let long = ps.iter().find(|p| p.side == Side::Long).unwrap();
    let short = ps.iter().find(|p| p.side == Side::Short).unwrap();
    assert_eq!((long.side, long.status), (Side::Long, PositionStatus::Closed));
    assert_eq!((short.side, short.status, short.collateral), (Side::Short, PositionStatus::Open, Usdc::from_str("200").unwrap()));
    let msgs = s.messages_to(7);
    let closed = msgs.iter().position(|m| m.contains("Closed long BTC/USD")).unwrap();
    let opened = msgs.iter().position(|m| m.contains("Opened short BTC/USD")).unwrap();
    assert!(closed < opened, "the close was reported (and done) before the open: {msgs:?}");
}

#[tokio::test]
async fn update_tpsl_pause_and_flatten() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    let eth =
        serde_json::json!({"source":"strat","id":"e-1","action":"open","pair":"ETH","side":"short","collateral_usdc":"50","leverage":"4"});
    assert_eq!(signal(&s, eth).await, 202);
    s.drain().await;
    let tpsl =
        serde_json::json!({"source":"strat","id":"t-1","action":"update_tpsl","pair":"BTC","side":"long","tp":"110000","sl":"95000"});
    assert_eq!(signal(&s, tpsl).await, 202);
    s.drain().await;
    let btc = s.positions(7).await.into_iter().find(|p| p.pair.as_str() == "BTC/USD").unwrap();
    assert_eq!((btc.tp, btc.sl), (Some(Price::from_str("110000").unwrap()), Some(Price::from_str("95000").unwrap())));
    let wrong_side = serde_json::json!({"source":"strat","id":"t-2","action":"update_tpsl","pair":"BTC","side":"long","tp":"90000"});
    assert_eq!(signal(&s, wrong_side).await, 202);
    s.drain().await;
    assert_eq!(s.store.get_intent(&IntentId::parse("sig:strat:t-2").unwrap()).await.unwrap().unwrap().state, IntentState::Rejected);
    assert_eq!(signal(&s, serde_json::json!({"source":"strat","id":"fl","action":"flatten"})).await, 202);
    s.drain().await;
    assert!(s.positions(7).await.iter().all(|p| p.status == PositionStatus::Closed));
    assert_eq!(signal(&s, serde_json::json!({"source":"strat","id":"pz","action":"pause"})).await, 202);
    s.drain().await;
    assert!(s.user(7).await.automation_paused);
    let blocked = OPEN_BTC.replace("a-1", "a-9");
    assert_eq!(post(&s, signed(&blocked, "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    let i = s.store.get_intent(&IntentId::parse("sig:strat:a-9").unwrap()).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Rejected);
    assert!(i.reason.unwrap().contains("paused"));
}

#[tokio::test]
async fn risk_refusals_reach_the_user_with_the_reason_and_the_audit_trail_keeps_it() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let big = serde_json::json!({"source":"strat","id":"r-1","action":"open","pair":"BTC","side":"long","collateral_usdc":"5000","leverage":"10"});
    assert_eq!(signal(&s, big).await, 202);
    s.drain().await;
    let id = IntentId::parse("sig:strat:r-1").unwrap();
    let i = s.store.get_intent(&id).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Rejected);
    let trail = s.store.audit_trail(&id).await.unwrap();
    assert_eq!(trail.last().unwrap().state, IntentState::Rejected);
    assert!(trail.last().unwrap().reason.as_ref().unwrap().contains("10000"), "{:?}", trail.last());
    assert!(s.messages_to(7).iter().any(|m| m.contains("refused")), "{:?}", s.messages_to(7));
    let tiny =
        serde_json::json!({"source":"strat","id":"r-2","action":"open","pair":"BTC","side":"long","collateral_usdc":"10","leverage":"2"});
    assert_eq!(signal(&s, tiny).await, 202);
    s.drain().await;
    let r = s.store.get_intent(&IntentId::parse("sig:strat:r-2").unwrap()).await.unwrap().unwrap().reason.unwrap();
    assert!(r.contains("100"), "below the venue minimum: {r}");
    // Stale prices: no trade.
    s.clock.advance(std::time::Duration::from_secs(120));
    let stale = OPEN_BTC.replace("a-1", "r-3");
    assert_eq!(post(&s, signed(&stale, "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    let r = s.store.get_intent(&IntentId::parse("sig:strat:r-3").unwrap()).await.unwrap().unwrap();
    assert_eq!(r.state, IntentState::Rejected);
}

// ----- copy trading ---------------------------------------------------------------------------

fn follow(follower: i64, leader: i64, sizing: CopySizing, max_lev: u64, at: Timestamp) -> Follow {
    Follow {
        follower: TelegramUserId(follower),
        leader: LeaderRef::User(TelegramUserId(leader)),
        sizing,
        max_leverage: Leverage::from_whole(max_lev).unwrap(),
        per_trade_cap: Usdc::from_str("500").unwrap(),
        daily_cap: Usdc::from_str("2000").unwrap(),
        counter: false,
        adopt_existing: false,
        active: true,
        since: at,
        stop_after_losses: 3,
        max_drawdown: Usdc::ZERO,
    }
}

#[tokio::test]
async fn a_leaders_trade_fans_out_with_each_sizing_mode_caps_and_leverage() {
    let s = sys();
    s.source(1, "leader", "k3y", "tvtok").await;
    s.lead(1).await;
    for id in [2, 3, 4, 5] {
        s.user(id).await;
    }
    let at = s.clock.now();
    s.store.put_follow(&follow(2, 1, CopySizing::Fixed { collateral: Usdc::from_str("150").unwrap() }, 20, at)).await.unwrap();
    s.store.put_follow(&follow(3, 1, CopySizing::Ratio { ratio: Bps::new(5_000).unwrap() }, 5, at)).await.unwrap();
    s.store.put_follow(&follow(4, 1, CopySizing::Proportional, 20, at)).await.unwrap();
    s.store.put_follow(&follow(5, 1, CopySizing::Fixed { collateral: Usdc::from_str("5").unwrap() }, 20, at)).await.unwrap();
    // Equity: leader $10 000 (paper default), follower 4 $25 000.
    s.paper.set_equity(pipeline::account(&s.user(4).await), Usdc::from_str("25000").unwrap()).await.unwrap();
    s.clock.advance(std::time::Duration::from_secs(1));
    let open = serde_json::json!({"source":"leader","id":"L1","action":"open","pair":"BTC","side":"long","collateral_usdc":"400","leverage":"10","tp":"120000"});
    assert_eq!(post(&s, signed(&open.to_string(), "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;

    let only = |ps: Vec<vanta_domain::position::Position>| ps.into_iter().next().expect("a copy");
    let f2 = only(s.positions(2).await);
    assert_eq!(
        (f2.collateral, f2.leverage),
        (Usdc::from_str("150").unwrap(), Leverage::from_whole(10).unwrap()),
        "fixed $150 at the leader's 10x"
    );
    let f3 = only(s.positions(3).await);
    assert_eq!(
        (f3.collateral, f3.leverage),
        (Usdc::from_str("200").unwrap(), Leverage::from_whole(5).unwrap()),
        "50 % of $400, leverage capped at 5x"
    );
    let f4 = only(s.positions(4).await);
    assert_eq!(f4.collateral, Usdc::from_str("500").unwrap(), "proportional 400 × 25000/10000 = 1000, capped at $500 per trade");
    assert_eq!(f4.tp, Some(Price::from_str("120000").unwrap()), "TP copied");
    assert!(s.positions(5).await.is_empty(), "$5 × 10x = $50 is below the $100 minimum");
    let notice = s.messages_to(5);
    assert!(notice.iter().any(|m| m.contains("skipped") && m.contains("below the venue minimum")), "{notice:?}");
    // Copies record latency and price difference.
    let trail = s.store.audit_trail(&f2.opened_by).await.unwrap();
    assert!(trail.last().unwrap().detail.as_ref().unwrap().contains("latency"), "{trail:?}");

    // Exits mirror the leader: half, then the rest.
    let close = serde_json::json!({"source":"leader","id":"L2","action":"close","pair":"BTC","side":"long","fraction":"0.5"});
    assert_eq!(post(&s, signed(&close.to_string(), "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    assert_eq!(only(s.positions(2).await).collateral, Usdc::from_str("75").unwrap());
    assert_eq!(only(s.positions(3).await).collateral, Usdc::from_str("100").unwrap());
}

#[tokio::test]
async fn a_copy_below_the_venue_minimum_is_skipped_with_a_notice() {
    let s = sys();
    s.source(1, "leader", "k3y", "tvtok").await;
    s.lead(1).await;
    s.user(2).await;
    let at = s.clock.now();
    s.store.put_follow(&follow(2, 1, CopySizing::Ratio { ratio: Bps::new(1_000).unwrap() }, 20, at)).await.unwrap();
    s.clock.advance(std::time::Duration::from_secs(1));
    let open =
        serde_json::json!({"source":"leader","id":"L1","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"});
    assert_eq!(post(&s, signed(&open.to_string(), "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    assert!(s.positions(2).await.is_empty());
    let msgs = s.messages_to(2);
    assert!(msgs.iter().any(|m| m.contains("skipped") && m.contains("below the venue minimum of $100")), "{msgs:?}");
}

#[tokio::test]
async fn only_trades_after_the_follow_are_copied_and_counter_mode_takes_the_other_side() {
    let s = sys();
    s.source(1, "leader", "k3y", "tvtok").await;
    s.lead(1).await;
    s.user(2).await;
    let open = serde_json::json!({"source":"leader","id":"L0","action":"open","pair":"ETH","side":"long","collateral_usdc":"100","leverage":"5","tp":"4000","sl":"3000"});
    assert_eq!(post(&s, signed(&open.to_string(), "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    s.clock.advance(std::time::Duration::from_secs(1));
    let mut f = follow(2, 1, CopySizing::Fixed { collateral: Usdc::from_str("100").unwrap() }, 20, s.clock.now());
    f.counter = true;
    s.store.put_follow(&f).await.unwrap();
    s.clock.advance(std::time::Duration::from_secs(1));
    let open = serde_json::json!({"source":"leader","id":"L1","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5","tp":"110000","sl":"95000"});
    assert_eq!(post(&s, signed(&open.to_string(), "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    let ps = s.positions(2).await;
    assert_eq!(ps.len(), 1, "the ETH trade from before the follow was not copied");
    assert_eq!(ps[0].side, Side::Short);
    assert_eq!((ps[0].tp, ps[0].sl), (Some(Price::from_str("95000").unwrap()), Some(Price::from_str("110000").unwrap())), "TP and SL swap");
    // Adopting the leader's open positions is opt-in.
    let mut adopt = follow(3, 1, CopySizing::Fixed { collateral: Usdc::from_str("100").unwrap() }, 20, s.clock.now());
    adopt.adopt_existing = true;
    s.user(3).await;
    s.store.put_follow(&adopt).await.unwrap();
    assert_eq!(copy::adopt_existing(&s.deps, &adopt).await.unwrap(), 2);
    s.drain().await;
    assert_eq!(s.positions(3).await.len(), 2);
}

#[tokio::test]
async fn the_follower_breaker_stops_copying_after_losses() {
    let s = sys();
    s.source(1, "leader", "k3y", "tvtok").await;
    s.lead(1).await;
    s.user(2).await;
    let mut f = follow(2, 1, CopySizing::Fixed { collateral: Usdc::from_str("100").unwrap() }, 20, s.clock.now());
    f.stop_after_losses = 2;
    s.store.put_follow(&f).await.unwrap();
    for n in 0..2 {
        s.clock.advance(std::time::Duration::from_secs(1));
        s.set_price("BTC/USD", "100000");
        let open = serde_json::json!({"source":"leader","id":format!("o{n}"),"action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"});
        assert_eq!(signal(&s, open).await, 202);
        s.drain().await;
        s.set_price("BTC/USD", "99000");
        let close = serde_json::json!({"source":"leader","id":format!("c{n}"),"action":"close","pair":"BTC","side":"long"});
        assert_eq!(signal(&s, close).await, 202);
        s.drain().await;
    }
    assert_eq!(s.positions(2).await.iter().filter(|p| p.realised_pnl.unwrap().is_negative()).count(), 2);
    s.clock.advance(std::time::Duration::from_secs(1));
    s.set_price("BTC/USD", "100000");
    let open =
        serde_json::json!({"source":"leader","id":"o9","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"});
    assert_eq!(signal(&s, open).await, 202);
    s.drain().await;
    assert_eq!(s.positions(2).await.len(), 2, "no third copy");
    assert!(!s.store.following(TelegramUserId(2)).await.unwrap()[0].active);
    assert!(s.messages_to(2).iter().any(|m| m.contains("Copying stopped")));
}

#[test]
fn copy_sizing_is_pure_and_bounded() {
    let p = pair(1, "BTC/USD", "100");
    let at = Timestamp(0);
    let f = follow(2, 1, CopySizing::Ratio { ratio: Bps::new(20_000).unwrap() }, 50, at);
    let size = copy::size_copy(&f, Usdc::from_str("400").unwrap(), Leverage::from_whole(100).unwrap(), None, None, Usdc::ZERO, &p).unwrap();
    assert_eq!(size.collateral, Usdc::from_str("500").unwrap(), "2× of 400 = 800, capped at 500");
    assert_eq!(size.leverage, Leverage::from_whole(50).unwrap(), "min(leader 100x, follower 50x, pair 75x)");
    let used = Usdc::from_str("1800").unwrap();
    let size = copy::size_copy(&f, Usdc::from_str("400").unwrap(), Leverage::from_whole(10).unwrap(), None, None, used, &p).unwrap();
    assert_eq!(size.collateral, Usdc::from_str("200").unwrap(), "what is left of the $2000 daily cap");
    let full = copy::size_copy(
        &f,
        Usdc::from_str("400").unwrap(),
        Leverage::from_whole(10).unwrap(),
        None,
        None,
        Usdc::from_str("2000").unwrap(),
        &p,
    );
    assert!(matches!(full, Err(copy::Skip::DailyCap { .. })));
    let prop = follow(2, 1, CopySizing::Proportional, 50, at);
    assert!(matches!(
        copy::size_copy(&prop, Usdc::from_str("400").unwrap(), Leverage::ONE, None, None, Usdc::ZERO, &p),
        Err(copy::Skip::EquityUnknown)
    ));
}

#[tokio::test]
async fn copies_carry_their_origin() {
    let s = sys();
    s.source(1, "leader", "k3y", "tvtok").await;
    s.lead(1).await;
    s.user(2).await;
    s.store.put_follow(&follow(2, 1, CopySizing::Fixed { collateral: Usdc::from_str("100").unwrap() }, 20, s.clock.now())).await.unwrap();
    s.clock.advance(std::time::Duration::from_secs(1));
    let open =
        serde_json::json!({"source":"leader","id":"L1","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"});
    assert_eq!(signal(&s, open).await, 202);
    s.drain().await;
    let intents = s.store.user_intents(TelegramUserId(2), 10).await.unwrap();
    assert_eq!(intents.len(), 1);
    assert!(matches!(intents[0].origin, Origin::Copy { .. }));
    assert!(matches!(intents[0].action, Action::Open(OpenOrder { side: Side::Long, .. })));
}

// ----- TP/SL executor -------------------------------------------------------------------------

#[tokio::test]
async fn take_profit_hits_once_and_closes_through_the_pipeline() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let open = serde_json::json!({"source":"strat","id":"o","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5","tp":"105000","sl":"97000"});
    assert_eq!(signal(&s, open).await, 202);
    s.drain().await;
    s.set_price("BTC/USD", "104000");
    assert!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.is_empty(), "not there yet");
    s.set_price("BTC/USD", "105500");
    let r = schedule::tpsl_tick(&s.deps).await.unwrap();
    assert_eq!(r.triggered.len(), 1);
    assert!(r.triggered[0].ends_with(":tp"));
    schedule::tpsl_tick(&s.deps).await.unwrap(); // seen again before the worker ran
    assert_eq!(s.drain().await, 1, "one close, however many ticks saw the hit");
    let p = &s.positions(7).await[0];
    assert_eq!(p.status, PositionStatus::Closed);
    assert!(p.realised_pnl.unwrap().raw() > 0);
    assert!(s.messages_to(7).iter().any(|m| m.contains("Take-profit hit: closed long BTC/USD")), "{:?}", s.messages_to(7));
}

#[tokio::test]
async fn stop_loss_short_side_and_liquidation_and_stale_prices() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let short = serde_json::json!({"source":"strat","id":"s","action":"open","pair":"BTC","side":"short","collateral_usdc":"100","leverage":"5","sl":"102000"});
    assert_eq!(signal(&s, short).await, 202);
    let eth =
        serde_json::json!({"source":"strat","id":"e","action":"open","pair":"ETH","side":"long","collateral_usdc":"100","leverage":"20"});
    assert_eq!(signal(&s, eth).await, 202);
    s.drain().await;
    // A stale price triggers nothing.
    s.clock.advance(std::time::Duration::from_secs(120));
    let r = schedule::tpsl_tick(&s.deps).await.unwrap();
    assert!(r.triggered.is_empty());
    assert_eq!(r.skipped_pairs.len(), 2);
    s.set_price("BTC/USD", "102500"); // short's stop
    s.set_price("ETH/USD", "3300"); // 20x long liquidates about 4.25 % down (3351)
    let r = schedule::tpsl_tick(&s.deps).await.unwrap();
    assert_eq!(r.triggered.len(), 2, "{r:?}");
    assert!(r.triggered.iter().any(|t| t.ends_with(":sl")) && r.triggered.iter().any(|t| t.ends_with(":liquidation")));
    s.drain().await;
    let ps = s.positions(7).await;
    let status = |pair: &str| ps.iter().find(|p| p.pair.as_str() == pair).unwrap().status;
    assert_eq!(status("BTC/USD"), PositionStatus::Closed);
    assert_eq!(status("ETH/USD"), PositionStatus::Liquidated);
    let msgs = s.messages_to(7);
    assert!(msgs.iter().any(|m| m.contains("Stop-loss hit: closed short BTC/USD")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("Liquidated: long ETH/USD")), "{msgs:?}");
}

#[tokio::test]
async fn trailing_stop_follows_the_best_price() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(
        signal(
            &s,
            serde_json::json!({"source":"strat","id":"o","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"})
        )
        .await,
        202
    );
    s.drain().await;
    let id = s.positions(7).await[0].id.clone();
    assert!(schedule::set_trail(&s.deps, TelegramUserId(8), &id, Some(Bps::new(100).unwrap())).await.is_err(), "only the owner");
    schedule::set_trail(&s.deps, TelegramUserId(7), &id, Some(Bps::new(100).unwrap())).await.unwrap();
    s.set_price("BTC/USD", "110000");
    schedule::tpsl_tick(&s.deps).await.unwrap();
    let p = s.positions(7).await[0].clone();
    assert_eq!(schedule::trail_now(&s.deps, &p).await.unwrap().unwrap().best, Price::from_str("110000").unwrap());
    s.set_price("BTC/USD", "109000"); // 0.9 % below the best: holds
    assert!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.is_empty());
    s.set_price("BTC/USD", "108800"); // 1.09 % below: trail hit
    assert_eq!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.len(), 1);
    s.drain().await;
    let p = &s.positions(7).await[0];
    assert_eq!(p.status, PositionStatus::Closed);
    assert!(p.realised_pnl.unwrap().raw() > 0, "the trail locked in profit");
}

#[tokio::test]
async fn reaching_the_daily_loss_limit_pauses_automation_and_says_so() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let mut u = s.user(7).await;
    u.risk.daily_loss_limit = Usdc::from_str("20").unwrap();
    s.store.update_user(&u).await.unwrap();
    let open =
        serde_json::json!({"source":"strat","id":"o1","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"10"});
    assert_eq!(signal(&s, open).await, 202);
    s.drain().await;
    s.set_price("BTC/USD", "97000"); // -3 % at 10x: about -$30
    assert_eq!(signal(&s, serde_json::json!({"source":"strat","id":"c1","action":"close","pair":"BTC","side":"long"})).await, 202);
    s.drain().await;
    assert!(s.user(7).await.automation_paused, "the day's loss passed $20");
    assert!(s.messages_to(7).iter().any(|m| m.contains("Daily loss limit of $20 reached")), "{:?}", s.messages_to(7));
    let again =
        serde_json::json!({"source":"strat","id":"o2","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"});
    assert_eq!(signal(&s, again).await, 202);
    s.drain().await;
    let i = s.store.get_intent(&IntentId::parse("sig:strat:o2").unwrap()).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Rejected);
}

#[tokio::test]
async fn a_dry_position_opened_on_one_instance_closes_on_another() {
    let mut s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    // A cold start: a new paper venue with an empty book of its own (Lambda instances share the
    // table, not memory).
    let catalog = PairCatalog::new([pair(0, "ETH/USD", "100"), pair(1, "BTC/USD", "100")]).unwrap();
    s.deps.paper = Arc::new(PaperVenue::new(Arc::new(catalog), s.prices.clone(), s.clock.clone()));
    // This instance opens a short on the same pair: its own book reuses trade index 0.
    let short =
        serde_json::json!({"source":"strat","id":"s","action":"open","pair":"BTC","side":"short","collateral_usdc":"100","leverage":"5"});
    assert_eq!(signal(&s, short).await, 202);
    let tpsl = serde_json::json!({"source":"strat","id":"t","action":"update_tpsl","pair":"BTC","side":"long","sl":"95000"});
    assert_eq!(signal(&s, tpsl).await, 202);
    let close = serde_json::json!({"source":"strat","id":"c","action":"close","pair":"BTC","side":"long","fraction":"0.5"});
    assert_eq!(signal(&s, close).await, 202);
    s.drain().await;
    let ps = s.positions(7).await;
    let short = ps.iter().find(|p| p.side == Side::Short).unwrap();
    assert_eq!((short.status, short.collateral), (PositionStatus::Open, Usdc::from_str("100").unwrap()), "the short is untouched");
    let p = ps.iter().find(|p| p.side == Side::Long).unwrap();
    assert_eq!(p.sl, Some(Price::from_str("95000").unwrap()));
    assert_eq!((p.status, p.collateral), (PositionStatus::Open, Usdc::from_str("50").unwrap()));
    assert_eq!(p.fees, Usdc::from_str("0.3375").unwrap(), "open fee on $500 plus close fee on $250");
}
