//! Nothing silently dropped, nothing frozen, no credential in the logs: notices through the
//! notifications queue and the notifier (a Telegram outage delays them, it does not lose them),
//! confirmed trades that wait past their confirmation's expiry, copy fan-out in its own messages
//! with a follower cap, every wait bounded under the function timeouts, and request logs that
//! carry the route, never the TradingView token.

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vanta_app::http::testing::{self, TestRequest};
use vanta_app::{Deps, copy, notifier, pipeline, signals, telegram, worker};
use vanta_chain::avantis::{AvantisConfig, AvantisVenue};
use vanta_chain::budget::BudgetedVenue;
use vanta_domain::DomainError;
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{ChatId, IntentId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::IntentState;
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol, Side};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{FollowStore, IntentStore, Lookup, PositionStore, SourceStore, UserStore, Venue, VenueOrder};
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{CopySizing, Follow, LeaderRef, SecretText, SignalSource, User};
use vanta_runtime::Config;
use vanta_telegram::TelegramChat;
use vanta_testkit::fake_avantis::{Endpoint, FAKE_CHAIN_ID, FakeAvantis, Stall};
use vanta_testkit::fake_telegram::FakeTelegram;
use vanta_testkit::net::repo_root;

const T0: i64 = 1_795_852_800_000;
const SECRET: &str = "hook_secret_1";
const TOKEN: &str = "123456:TEST-token";
const ALICE: i64 = 7001;
const TV: &str = "tvTOKEN0123456789abcdefSECRET";

// ----- a system in memory, chatting with a fake Bot API ----------------------------------------

struct Env {
    deps: Deps,
    fake: FakeTelegram,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    notices: Arc<MemoryQueue>,
    clock: Arc<ManualClock>,
    prices: Arc<FixedPrices>,
    receives: Mutex<HashMap<String, u32>>,
    next_update: AtomicI64,
}

fn pair(index: u16, sym: &str) -> PairInfo {
    PairInfo {
        index: PairIndex(index),
        symbol: PairSymbol::parse(sym).unwrap(),
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

fn config(extra: &[(&str, &str)], fake: &FakeTelegram) -> Config {
    let mut env: HashMap<String, String> =
        [("TELEGRAM_WEBHOOK_SECRET", SECRET.to_owned()), ("TELEGRAM_BOT_TOKEN", TOKEN.to_owned()), ("TELEGRAM_API_URL", fake.url.clone())]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(|k| env.get(k).cloned()).unwrap()
}

async fn env_with(extra: &[(&str, &str)]) -> Env {
    let fake = FakeTelegram::start().await.unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let notices = Arc::new(MemoryQueue::new(clock.clone()));
    let prices = Arc::new(FixedPrices::new());
    let catalog = PairCatalog::new([pair(0, "ETH/USD"), pair(1, "BTC/USD")]).unwrap();
    let paper = Arc::new(PaperVenue::new(Arc::new(catalog), prices.clone(), clock.clone()));
    let chat = Arc::new(TelegramChat::new(TOKEN, &fake.url).unwrap().with_max_retry_wait(notifier::MAX_RETRY_WAIT));
    let deps = Deps::new(config(extra, &fake), store.clone(), queue.clone(), chat, clock.clone(), prices.clone(), paper)
        .with_notifications_queue(notices.clone());
    let e = Env { deps, fake, store, queue, notices, clock, prices, receives: Mutex::new(HashMap::new()), next_update: AtomicI64::new(1) };
    e.fresh_prices();
    e
}

async fn env() -> Env {
    env_with(&[]).await
}

fn from(user: i64) -> Value {
    json!({"id": user, "is_bot": false, "first_name": "A", "username": format!("user{user}"), "language_code": "en"})
}

impl Env {
    fn fresh_prices(&self) {
        let now = self.clock.now();
        for (sym, p) in [("BTC/USD", "100000"), ("ETH/USD", "3500")] {
            for src in ["pyth", "chainlink"] {
                self.prices.set(PairSymbol::parse(sym).unwrap(), src, Price::from_str(p).unwrap(), now).unwrap();
            }
        }
    }
    async fn user(&self, id: i64) -> User {
        self.store.get_or_create_user(User::new(TelegramUserId(id), ChatId(id), self.clock.now())).await.unwrap()
    }
    async fn tv_source(&self, owner: i64) {
        self.user(owner).await;
        let s = SignalSource {
            id: SourceId::parse("strat").unwrap(),
            owner: TelegramUserId(owner),
            secret: SecretText::new("k3y").into(),
            tv_token_hash: signals::token_hash(TV),
            active: true,
            created_at: self.clock.now(),
            rotated_at: None,
        };
        self.store.create_source(&s).await.unwrap();
    }
    async fn signal(&self, body: Value) -> u16 {
        let req =
            TestRequest::new("POST", &format!("/signals/tv/{TV}")).with_header("content-type", "text/plain").with_body(body.to_string());
        testing::call(&self.deps, req).await.status
    }
    /// Runs the worker until `signals.fifo` is empty; returns the bodies handled.
    async fn drain(&self) -> Vec<String> {
        let mut handled = Vec::new();
        for _ in 0..50 {
            let batch = self.queue.take(10).unwrap();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                let _ = worker::handle_message(&self.deps, &m.body).await;
                handled.push(m.body);
            }
        }
        handled
    }
    /// One pass of the notifier over `notifications.fifo`, as SQS FIFO delivers: in order; at a
    /// failure it and everything behind it stay queued (dead-lettered after the maximum receives).
    /// Returns how many notices were delivered.
    async fn deliver_notices(&self) -> usize {
        let batch = self.notices.take(1000).unwrap();
        let mut rest = Vec::new();
        let mut delivered = 0;
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
            match notifier::handle_delivery(&self.deps, &m.body, n).await {
                Ok(()) => delivered += 1,
                Err(_) if n >= notifier::MAX_RECEIVES => self.notices.dead_letter(m).unwrap(),
                Err(_) => rest.push(m),
            }
        }
        self.notices.put_back(rest).unwrap();
        delivered
    }
    fn texts_to(&self, chat: i64) -> Vec<String> {
        self.fake.texts_to(chat)
    }
    async fn say(&self, user: i64, text: &str) {
        let len = text.split_whitespace().next().map_or(0, |w| w.encode_utf16().count());
        let update = json!({"update_id": self.update_id(), "message": {
            "message_id": 10, "from": from(user), "chat": {"id": user, "first_name": "A", "type": "private"},
            "date": self.clock.now().secs(), "text": text,
            "entities": [{"offset": 0, "length": len, "type": "bot_command"}]
        }});
        self.post(update).await;
    }
    async fn press(&self, user: i64, message_id: i64, data: &str) {
        let update = json!({"update_id": self.update_id(), "callback_query": {
            "id": format!("cb{}", self.update_id()), "from": from(user), "chat_instance": "42", "data": data,
            "message": {"message_id": message_id, "from": {"id": 1, "is_bot": true, "first_name": "Vanta"},
                        "chat": {"id": user, "first_name": "A", "type": "private"}, "date": self.clock.now().secs(), "text": "…"}
        }});
        self.post(update).await;
    }
    async fn post(&self, update: Value) {
        let req = TestRequest::new("POST", "/telegram").with_header(telegram::SECRET_HEADER, SECRET).with_body(update.to_string());
        assert_eq!(testing::call(&self.deps, req).await.status, 200);
    }
    fn update_id(&self) -> i64 {
        self.next_update.fetch_add(1, Ordering::SeqCst) + 990_000
    }
    fn last_buttons(&self, chat: i64) -> (i64, Vec<String>) {
        let sends = self.fake.calls_of("sendMessage");
        let c = sends.iter().rfind(|c| c.chat_id() == Some(chat) && !c.button_data().is_empty()).expect("a message with buttons");
        (c.message_id.expect("a message id"), c.button_data())
    }
}

fn open_btc(id: &str) -> Value {
    json!({"source": "strat", "id": id, "action": "open", "pair": "BTC/USD", "side": "long", "collateral_usdc": "100", "leverage": "5"})
}

fn close_btc(id: &str) -> Value {
    json!({"source": "strat", "id": id, "action": "close", "pair": "BTC/USD", "side": "long"})
}

// ----- item 9: nothing silently dropped -------------------------------------------------------

#[tokio::test]
async fn notices_written_during_a_telegram_outage_arrive_in_order_once_it_ends() {
    let e = env().await;
    e.tv_source(ALICE).await;
    e.fake.go_down(502);
    assert_eq!(e.signal(open_btc("o-1")).await, 202);
    e.drain().await;
    assert_eq!(e.signal(close_btc("c-1")).await, 202);
    e.drain().await;
    assert_eq!(e.notices.len(), 2, "the fill and the close are queued for the notifier, not sent by the worker");
    for _ in 0..2 {
        assert_eq!(e.deliver_notices().await, 0, "Telegram is down");
    }
    assert!(e.fake.calls().iter().any(|c| c.status == 502), "the notifier did try");
    assert!(e.texts_to(ALICE).is_empty());
    assert_eq!(e.notices.len(), 2, "nothing lost while Telegram is down");
    assert!(e.notices.dead_letters().is_empty());

    e.fake.recover();
    assert_eq!(e.deliver_notices().await, 2);
    let texts = e.texts_to(ALICE);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].contains("Opened long BTC/USD"), "{texts:?}");
    assert!(texts[1].contains("Closed long BTC/USD"), "in the order they happened: {texts:?}");
    assert!(texts.iter().all(|t| t.starts_with("🧪 <b>DRY</b>")), "{texts:?}");
    assert_eq!(e.deliver_notices().await, 0, "each notice delivered once");
}

#[tokio::test]
async fn a_redelivered_intent_does_not_notify_twice_but_equal_notices_of_one_delivery_both_arrive() {
    let e = env().await;
    let alice = e.user(ALICE).await;
    for _ in 0..2 {
        // The same delivery's notices, produced again by a redelivery of the same intent.
        notifier::scope("intent:sig:x".into(), async {
            pipeline::notify(&e.deps, &alice, ExecMode::Dry, "🔻 Closed long BTC/USD: $50").await;
            pipeline::notify(&e.deps, &alice, ExecMode::Dry, "🔻 Closed long BTC/USD: $50").await;
        })
        .await;
    }
    notifier::scope("intent:sig:y".into(), pipeline::notify(&e.deps, &alice, ExecMode::Dry, "🔻 Closed long BTC/USD: $50")).await;
    assert_eq!(e.deliver_notices().await, 3, "two from the first intent (a repeat dropped), one from the other");
    assert_eq!(e.texts_to(ALICE).len(), 3);
}

#[tokio::test]
async fn a_user_who_blocked_the_bot_is_marked_inactive_and_the_notice_dropped() {
    let e = env().await;
    let alice = e.user(ALICE).await;
    e.fake.block(ALICE);
    pipeline::notify(&e.deps, &alice, ExecMode::Dry, "✅ Opened").await;
    assert_eq!(e.deliver_notices().await, 1, "handled: nothing left to deliver to");
    assert!(e.notices.is_empty() && e.notices.dead_letters().is_empty());
    assert!(!e.store.get_user(TelegramUserId(ALICE)).await.unwrap().unwrap().active);
    let inactive = e.store.get_user(TelegramUserId(ALICE)).await.unwrap().unwrap();
    pipeline::notify(&e.deps, &inactive, ExecMode::Dry, "✅ Opened again").await;
    assert!(e.notices.is_empty(), "no more notices for an inactive user");
}

#[tokio::test]
async fn flood_control_longer_than_the_notifier_waits_leaves_the_notice_for_redelivery() {
    let e = env().await;
    let alice = e.user(ALICE).await;
    pipeline::notify(&e.deps, &alice, ExecMode::Dry, "✅ Opened").await;
    e.fake.retry_after_once("sendMessage", 60);
    assert_eq!(e.deliver_notices().await, 0, "a 60 s retry_after is not waited out inside the invocation");
    assert_eq!(e.notices.len(), 1);
    assert_eq!(e.deliver_notices().await, 1);
    assert_eq!(e.texts_to(ALICE).len(), 1);
}

#[tokio::test]
async fn a_notice_that_never_gets_through_ends_in_the_dlq_not_nowhere() {
    /// Telegram unreachable, at once (the fake's 5xx answers cost teloxide's 10 s pause each).
    struct Unreachable;
    #[async_trait::async_trait]
    impl vanta_domain::ports::Chat for Unreachable {
        async fn send(&self, _: &vanta_domain::ports::OutgoingMessage) -> vanta_domain::DomainResult<()> {
            Err(DomainError::Unavailable("telegram unreachable".into()))
        }
    }
    let mut e = env().await;
    let alice = e.user(ALICE).await;
    pipeline::notify(&e.deps, &alice, ExecMode::Dry, "✅ Opened").await;
    e.deps.chat = Arc::new(Unreachable);
    for n in 1..notifier::MAX_RECEIVES {
        e.deliver_notices().await;
        assert_eq!(e.notices.len(), 1, "still queued after {n} deliveries");
    }
    e.deliver_notices().await;
    assert!(e.notices.is_empty());
    assert_eq!(e.notices.dead_letters().len(), 1, "kept for an operator's redrive (the DLQ alarm fires)");
}

#[tokio::test]
async fn the_local_runner_delivers_notices_after_an_outage() {
    let fake = FakeTelegram::start().await.unwrap();
    let cfg = config(&[("VANTA_HTTP_ADDR", "127.0.0.1:0")], &fake);
    let sys = vanta_local::System::build(cfg).unwrap();
    let notices = sys.notices.clone();
    let running = sys.start().await.unwrap();
    let deps = running.deps.clone();
    let alice = deps.store.get_or_create_user(User::new(TelegramUserId(ALICE), ChatId(ALICE), deps.clock.now())).await.unwrap();
    fake.go_down(502);
    pipeline::notify(&deps, &alice, ExecMode::Dry, "✅ Opened during the outage").await;
    fake.wait_until(Duration::from_secs(10), |f| f.calls().iter().any(|c| c.status == 502)).await;
    assert!(fake.texts_to(ALICE).is_empty());
    fake.recover();
    fake.wait_until(Duration::from_secs(20), |f| !f.texts_to(ALICE).is_empty()).await;
    assert_eq!(fake.texts_to(ALICE).len(), 1, "delivered late, not never");
    assert!(fake.texts_to(ALICE)[0].contains("during the outage"));
    assert!(notices.dead_letters().is_empty());
    running.stop().await;
}

// ----- item 9: a confirmed trade that waits past its confirmation's expiry ----------------------

#[tokio::test]
async fn a_trade_confirmed_in_time_still_runs_after_the_confirmation_expired_and_the_user_is_told() {
    let e = env().await;
    e.say(ALICE, "/long btc 100 5x").await;
    let (mid, data) = e.last_buttons(ALICE);
    e.press(ALICE, mid, &data[0]).await;
    // The queue is slow: the worker has not run yet when the two minutes are over, and the user
    // sends another command (which expires their unconfirmed proposals).
    e.clock.advance(telegram::CONFIRM_TTL + Duration::from_secs(30));
    e.fresh_prices();
    e.say(ALICE, "/positions").await;
    e.say(ALICE, "/long eth 100 5x").await;
    e.drain().await;
    e.deliver_notices().await;
    let btc = e
        .store
        .user_intents(TelegramUserId(ALICE), 10)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.action.name() == "open" && format!("{:?}", i.action).contains("BTC"))
        .unwrap();
    assert_eq!(btc.state, IntentState::Settled, "confirmed in time, so run: {:?}", btc.reason);
    assert!(e.texts_to(ALICE).iter().any(|t| t.contains("Opened long BTC/USD")), "{:?}", e.texts_to(ALICE));
}

#[tokio::test]
async fn a_confirmed_trade_whose_prices_went_stale_in_the_queue_is_refused_with_a_message() {
    let e = env().await;
    e.say(ALICE, "/long btc 100 5x").await;
    let (mid, data) = e.last_buttons(ALICE);
    e.press(ALICE, mid, &data[0]).await;
    e.clock.advance(telegram::CONFIRM_TTL + Duration::from_secs(30)); // no fresh prices since
    e.say(ALICE, "/long eth 100 5x").await;
    e.drain().await;
    e.deliver_notices().await;
    let texts = e.texts_to(ALICE);
    assert!(texts.iter().any(|t| t.contains("refused") && t.contains("BTC/USD price is 150 s old")), "the user is told why: {texts:?}");
}

// ----- item 11: copy fan-out in its own messages; the follower cap --------------------------------

/// Makes `id` a leader others may copy: a proven wallet (the store's commit of a proof; the
/// signature path is tested with the wallet proofs) and `/leader on`.
async fn lead(e: &Env, id: i64) {
    e.user(id).await;
    let now = e.clock.now();
    let wallet = TraderAddress::from_str(&format!("0x{:040x}", 0x1ead_0000_u64 + u64::try_from(id).unwrap())).unwrap();
    let site = vanta_domain::wallet::SiweSite::from_base_url(None);
    let c = vanta_domain::wallet::WalletChallenge::new(&format!("leader{id}nonce"), TelegramUserId(id), wallet, &site, FAKE_CHAIN_ID, now)
        .unwrap();
    e.store.put_challenge(&c).await.unwrap();
    let mut u = e.store.verify_binding(&c.nonce, TelegramUserId(id), now).await.unwrap();
    u.leader_opt_in = true;
    e.store.update_user(&u).await.unwrap();
}

async fn follow(e: &Env, follower: i64, leader: i64) {
    e.user(follower).await;
    e.store
        .put_follow(&Follow {
            follower: TelegramUserId(follower),
            leader: LeaderRef::User(TelegramUserId(leader)),
            sizing: CopySizing::Fixed { collateral: Usdc::from_whole(25).unwrap() },
            max_leverage: Leverage::from_whole(10).unwrap(),
            per_trade_cap: Usdc::ZERO,
            daily_cap: Usdc::ZERO,
            counter: false,
            adopt_existing: false,
            stop_after_losses: 0,
            max_drawdown: Usdc::ZERO,
            active: true,
            since: e.clock.now(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_leaders_trade_fans_out_to_sixty_followers_in_messages_of_its_own() {
    let e = env().await;
    e.tv_source(ALICE).await;
    lead(&e, ALICE).await;
    let followers: Vec<i64> = (1..=60).map(|i| 20_000 + i).collect();
    for f in &followers {
        follow(&e, *f, ALICE).await;
    }
    e.clock.advance(Duration::from_secs(1));
    e.fresh_prices();
    assert_eq!(e.signal(open_btc("o-1")).await, 202);

    // The leader's own message: it fills the leader and queues one fan-out job, whatever the
    // number of followers.
    let leader_msg = e.queue.take(1).unwrap().remove(0);
    worker::handle_message(&e.deps, &leader_msg.body).await.unwrap();
    let queued = e.queue.take(100).unwrap();
    assert_eq!(queued.len(), 1, "one fan-out message, no follower intent in the leader's message");
    assert!(queued[0].group.starts_with("fanout:") && queued[0].body.contains("\"fanout\""), "{:?}", queued[0]);
    e.queue.put_back(queued).unwrap();

    let handled = e.drain().await;
    let pages = handled.iter().filter(|b| b.contains("\"fanout\"")).count();
    assert_eq!(pages, 60usize.div_ceil(copy::FANOUT_PAGE), "paged {} followers a message", copy::FANOUT_PAGE);
    for f in &followers {
        assert_eq!(e.store.user_positions(TelegramUserId(*f), true).await.unwrap().len(), 1, "follower {f} copied once");
    }

    // The exit mirrors the same way.
    assert_eq!(e.signal(close_btc("c-1")).await, 202);
    let leader_msg = e.queue.take(1).unwrap().remove(0);
    worker::handle_message(&e.deps, &leader_msg.body).await.unwrap();
    assert_eq!(e.queue.len(), 1, "the leader's close queues one fan-out message");
    e.drain().await;
    for f in &followers {
        assert!(e.store.user_positions(TelegramUserId(*f), true).await.unwrap().is_empty(), "follower {f} closed");
    }
}

#[tokio::test]
async fn a_fanout_page_that_is_delivered_again_makes_no_second_copy() {
    let e = env().await;
    e.tv_source(ALICE).await;
    lead(&e, ALICE).await;
    for f in 1..=3 {
        follow(&e, 30_000 + f, ALICE).await;
    }
    e.clock.advance(Duration::from_secs(1));
    e.fresh_prices();
    e.signal(open_btc("o-1")).await;
    let leader_msg = e.queue.take(1).unwrap().remove(0);
    worker::handle_message(&e.deps, &leader_msg.body).await.unwrap();
    let page = e.queue.take(1).unwrap().remove(0);
    worker::handle_message(&e.deps, &page.body).await.unwrap();
    worker::handle_message(&e.deps, &page.body).await.unwrap();
    // The leader's message redelivered too: its fan-out job is queued again and runs again.
    worker::handle_message(&e.deps, &leader_msg.body).await.unwrap();
    e.drain().await;
    for f in 1..=3 {
        assert_eq!(e.store.user_positions(TelegramUserId(30_000 + f), false).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn the_follow_beyond_the_leaders_cap_is_refused_with_a_reason() {
    let e = env_with(&[("COPY_MAX_FOLLOWERS", "2")]).await;
    lead(&e, ALICE).await;
    follow(&e, 40_001, ALICE).await;
    follow(&e, 40_002, ALICE).await;
    let leader = LeaderRef::User(TelegramUserId(ALICE));
    assert_eq!(copy::follow_refusal(&e.deps, TelegramUserId(40_001), &leader).await.unwrap(), None, "changing a follow is fine");
    let why = copy::follow_refusal(&e.deps, TelegramUserId(40_003), &leader).await.unwrap().expect("refused");
    assert!(why.contains("(2)"), "{why}");

    e.say(40_003, &format!("/follow {ALICE}")).await;
    let reply = e.texts_to(40_003).pop().unwrap_or_default();
    assert!(reply.contains("Not followed") && reply.contains("the most one leader may have (2)"), "{reply}");
    assert!(e.store.following(TelegramUserId(40_003)).await.unwrap().is_empty());
}

// ----- item 11: every wait bounded under the function timeouts -----------------------------------

/// The number after `key:` in the block of `resource` (a top-level resource of template.yaml).
fn template_value(yaml: &str, resource: &str, key: &str) -> u64 {
    let header = format!("  {resource}:");
    let block: Vec<&str> =
        yaml.lines().skip_while(|l| *l != header).skip(1).take_while(|l| l.trim().is_empty() || l.starts_with("   ")).collect();
    assert!(!block.is_empty(), "{resource} not in template.yaml");
    let line = block.iter().find(|l| l.trim_start().starts_with(&format!("{key}:"))).unwrap_or_else(|| panic!("{resource}.{key} missing"));
    let value = line.trim_start()[key.len() + 1..].split('#').next().unwrap().trim();
    value.parse().unwrap_or_else(|_| panic!("{resource}.{key} = {value:?} is not a number"))
}

#[test]
fn the_worst_case_venue_wait_and_every_delivery_end_inside_the_function_timeouts() {
    let yaml = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let timeout = Duration::from_secs(template_value(&yaml, "SignalWorkerFunction", "Timeout"));
    let visibility = Duration::from_secs(template_value(&yaml, "SignalsQueue", "VisibilityTimeout"));

    // The largest venue budget an operator may configure, through the real wiring's wrapper.
    let max =
        Config::from_lookup(|k| (k == "VENUE_WAIT_BUDGET_SECS").then(|| vanta_runtime::config::MAX_VENUE_WAIT_BUDGET_SECS.to_string()))
            .unwrap();
    let inner: Arc<dyn Venue> = Arc::new(PaperVenue::new(
        Arc::new(PairCatalog::new([pair(0, "ETH/USD")]).unwrap()),
        Arc::new(FixedPrices::new()),
        Arc::new(ManualClock::new(Timestamp(T0))),
    ));
    let worst_venue = BudgetedVenue::new(inner, max.venue_wait_budget()).worst_case_wait();
    let over = Config::from_lookup(|k| {
        (k == "VENUE_WAIT_BUDGET_SECS").then(|| (vanta_runtime::config::MAX_VENUE_WAIT_BUDGET_SECS + 1).to_string())
    });
    assert!(over.is_err(), "a budget above the maximum is refused at cold start");
    let margin = Duration::from_secs(3);
    assert!(
        worst_venue + margin <= worker::TIME_BUDGET,
        "venue {worst_venue:?} + store writes fit the delivery budget {:?}",
        worker::TIME_BUDGET
    );
    assert!(
        worker::TIME_BUDGET + margin <= timeout,
        "a delivery ({:?}) ends before the function timeout ({timeout:?})",
        worker::TIME_BUDGET
    );
    assert!(visibility >= timeout, "AWS requires visibility ({visibility:?}) >= the function timeout ({timeout:?})");
    assert!(visibility <= Duration::from_secs(40), "a failure is retried within about 30 s, not {visibility:?}");
    assert_eq!(template_value(&yaml, "SignalWorkerQueueMapping", "BatchSize"), 1, "one message per invocation");
    assert_eq!(template_value(&yaml, "SignalsQueue", "maxReceiveCount"), u64::from(worker::MAX_RECEIVES));

    // The notifier: the longest one send can take (every attempt timing out, the longest
    // flood-control waits between) fits its timeout, and its queue's visibility covers it.
    let notifier_timeout = Duration::from_secs(template_value(&yaml, "NotifierFunction", "Timeout"));
    let attempts = vanta_telegram::MAX_SEND_ATTEMPTS;
    let worst_send =
        (vanta_telegram::SEND_TIMEOUT + vanta_telegram::SERVER_ERROR_DELAY) * attempts + notifier::MAX_RETRY_WAIT * (attempts - 1);
    assert!(worst_send + margin <= notifier_timeout, "{worst_send:?} vs {notifier_timeout:?}");
    assert_eq!(template_value(&yaml, "NotifierQueueMapping", "BatchSize"), 1);
    assert!(Duration::from_secs(template_value(&yaml, "NotificationsQueue", "VisibilityTimeout")) >= notifier_timeout);
    assert_eq!(template_value(&yaml, "NotificationsQueue", "maxReceiveCount"), u64::from(notifier::MAX_RECEIVES));
}

/// Anvil's first dev key (a public test value).
const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

#[tokio::test]
async fn a_relayer_order_that_never_answers_is_ambiguous_within_the_budget() {
    let fake = FakeAvantis::start().await.unwrap();
    let u = fake.urls();
    // Production timeouts (a 15 s request timeout, a long stream), so only the budget bounds it.
    let cfg = AvantisConfig::new(u.tx_builder, u.batched_market, u.core, u.data, FAKE_CHAIN_ID);
    let signer = Arc::new(vanta_chain::signer::LocalKeySigner::from_secret_hex(&secrecy::SecretString::from(DEV_KEY.to_owned())).unwrap());
    let trader = vanta_domain::ports::Signer::address(signer.as_ref());
    let relayer: Arc<dyn Venue> = Arc::new(AvantisVenue::from_config(cfg, signer).unwrap());
    let budget = Duration::from_secs(2);
    let venue = BudgetedVenue::new(relayer, budget);
    fake.stall_next_submission(Stall::LoseThenStall(Duration::from_secs(60)));
    let order = VenueOrder::Open {
        trader,
        pair: PairIndex(0),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(10).unwrap(),
        reference_price: Price::from_str("3000.5").unwrap(),
        slippage: PercentP::from_str("1").unwrap(),
        tp: None,
        sl: None,
    };
    let started = Instant::now();
    let r = venue.execute(&IntentId::parse("sig:budget:1").unwrap(), &order).await;
    let took = started.elapsed();
    assert!(matches!(r, Err(DomainError::Ambiguous(_))), "{r:?}");
    assert!(took < budget + Duration::from_millis(500), "ended after {took:?}");
    assert_eq!(fake.submissions(), 1, "the order was sent; its outcome is left to reconciliation");
    // A lookup that cannot finish in time says "unknown": nothing is resubmitted on a guess.
    fake.delay_next(Endpoint::Nonce, 5, Duration::from_secs(60));
    let started = Instant::now();
    let looked = venue.lookup(&IntentId::parse("sig:budget:1").unwrap()).await.unwrap();
    assert_eq!(looked, Lookup::Unknown);
    assert!(started.elapsed() < budget + Duration::from_millis(500), "{:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_delivery_stuck_on_a_silent_venue_ends_within_the_time_budget() {
    struct Silent;
    #[async_trait::async_trait]
    impl Venue for Silent {
        fn mode(&self) -> ExecMode {
            ExecMode::Dry
        }
        async fn pairs(&self) -> vanta_domain::DomainResult<Arc<PairCatalog>> {
            std::future::pending().await
        }
        async fn execute(&self, _: &IntentId, _: &VenueOrder) -> vanta_domain::DomainResult<vanta_domain::ports::VenueFill> {
            std::future::pending().await
        }
        async fn positions(&self, _: TraderAddress) -> vanta_domain::DomainResult<Vec<vanta_domain::ports::VenuePosition>> {
            std::future::pending().await
        }
    }
    let e = env().await;
    e.tv_source(ALICE).await;
    assert_eq!(e.signal(open_btc("o-1")).await, 202);
    let mut deps = e.deps.clone();
    deps.paper = Arc::new(Silent);
    let msg = e.queue.take(1).unwrap().remove(0);
    let started = tokio::time::Instant::now();
    let r = worker::handle_delivery(&deps, &msg.body, 1).await;
    let took = started.elapsed();
    assert!(matches!(&r, Err(DomainError::Unavailable(m)) if m.contains("not finished within")), "{r:?}");
    assert!(took >= worker::TIME_BUDGET && took < worker::TIME_BUDGET + Duration::from_secs(1), "{took:?}");
}

// ----- item 8: credentials stay out of logs -----------------------------------------------------

/// A tracing writer into memory.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buf {
    type Writer = Buf;
    fn make_writer(&'a self) -> Buf {
        self.clone()
    }
}

#[tokio::test]
async fn the_tradingview_route_logs_its_route_never_the_token_or_its_hash() {
    let buf = Buf::default();
    let subscriber = tracing_subscriber::fmt().json().with_writer(buf.clone()).with_max_level(tracing::Level::TRACE).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let e = env().await;
    e.tv_source(ALICE).await;
    // Accepted, duplicate, wrong token, and through the local runner's router as well.
    assert_eq!(e.signal(open_btc("o-1")).await, 202);
    assert_eq!(e.signal(open_btc("o-1")).await, 200);
    let wrong = TestRequest::new("POST", "/signals/tv/NOTTHETOKEN99").with_body(open_btc("o-2").to_string());
    assert_eq!(testing::call(&e.deps, wrong).await.status, 401);
    let local = TestRequest::new("POST", &format!("/signals/tv/{TV}")).with_body(open_btc("o-3").to_string());
    assert_eq!(testing::call(&e.deps, local).await.status, 202);
    e.drain().await;
    e.deliver_notices().await;

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains(r#""route":"/signals/tv/{token}""#), "the route is logged: {logs}");
    assert!(logs.contains(r#""status":202"#) && logs.contains(r#""status":401"#), "{logs}");
    assert!(!logs.contains(TV), "the token reached the logs");
    assert!(!logs.contains(&signals::token_hash(TV)), "the token's hash reached the logs");
    assert!(!logs.contains("NOTTHETOKEN99"), "a wrong token is a credential guess; not logged either");
}

#[tokio::test]
async fn the_webhook_binary_logs_the_tradingview_route_without_the_token() {
    use vanta_testkit::lambda_api::{FakeLambdaApi, Outcome};
    let moto = vanta_testkit::moto::Moto::start().await.unwrap();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    vanta_aws::dynamo::create_table(&aws_sdk_dynamodb::Client::new(&sdk), "vanta-notify-it").await.unwrap();
    let api = FakeLambdaApi::start().await.unwrap();
    let mut child =
        spawn_function("webhook", &api, &[("TABLE_NAME", "vanta-notify-it".into()), ("AWS_ENDPOINT_URL", moto.endpoint.clone())]);
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("events").join("apigw-healthz.json")).unwrap()).unwrap();
    let path = format!("/signals/tv/{TV}");
    event["routeKey"] = json!("POST /signals/tv/{token}");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["method"] = json!("POST");
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["routeKey"] = json!("POST /signals/tv/{token}");
    event["pathParameters"] = json!({ "token": TV });
    event["body"] = json!(open_btc("o-1").to_string());
    let r = match api.invoke(&event, Duration::from_secs(60)).await.unwrap() {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("{e}"),
    };
    assert_eq!(r["statusCode"], 401, "unknown token: {r}");
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let logs = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(logs.contains("/signals/tv/{token}"), "the request line is logged with its route: {logs}");
    assert!(!logs.contains(TV) && !logs.contains(&signals::token_hash(TV)), "a credential reached the logs: {logs}");
}

#[tokio::test]
async fn the_notifier_binary_delivers_a_queued_notice_and_reports_one_it_could_not() {
    use vanta_testkit::lambda_api::{FakeLambdaApi, Outcome};
    let fake = FakeTelegram::start().await.unwrap();
    let api = FakeLambdaApi::start().await.unwrap();
    let _child = spawn_function(
        "notifier",
        &api,
        &[
            ("TABLE_NAME", "unused-unless-a-user-blocked-the-bot".into()),
            ("TELEGRAM_BOT_TOKEN", TOKEN.into()),
            ("TELEGRAM_API_URL", fake.url.clone()),
        ],
    );
    let notice = notifier::Notice { user: TelegramUserId(ALICE), chat: ChatId(ALICE), html: "🧪 <b>DRY</b> · ✅ Opened".into() };
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("events").join("sqs-signal.json")).unwrap()).unwrap();
    event["Records"][0]["body"] = json!(serde_json::to_string(&notice).unwrap());
    let invoke = |event: Value| {
        let api = &api;
        async move {
            match api.invoke(&event, Duration::from_secs(60)).await.unwrap() {
                Outcome::Response(v) => v,
                Outcome::Error(e) => panic!("{e}"),
            }
        }
    };
    fake.go_down(502);
    let r = invoke(event.clone()).await;
    assert_eq!(r["batchItemFailures"][0]["itemIdentifier"], event["Records"][0]["messageId"], "left for redelivery: {r}");
    fake.recover();
    let r = invoke(event.clone()).await;
    assert_eq!(r["batchItemFailures"], json!([]), "{r}");
    assert_eq!(fake.texts_to(ALICE), ["🧪 <b>DRY</b> · ✅ Opened"]);
}

fn spawn_function(bin: &str, api: &vanta_testkit::lambda_api::FakeLambdaApi, env: &[(&str, String)]) -> tokio::process::Child {
    let mut cmd = crate::support::lambda_command(bin, api);
    cmd.env("RUST_LOG", "info").stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}
