//! The Telegram bot end to end: real update JSON posted to the `/telegram` route, replies sent by
//! `TelegramChat` (teloxide-core) to a fake Bot API server, trades run by the worker.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vanta_app::http::testing::{self, TestRequest};
use vanta_app::{Deps, telegram, worker};
use vanta_domain::exec::StopLevel;
use vanta_domain::ids::{ChatId, TelegramUserId};
use vanta_domain::intent::IntentState;
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{OutgoingMessage, Store};
use vanta_domain::position::PositionStatus;
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_runtime::Config;
use vanta_telegram::TelegramChat;
use vanta_testkit::fake_telegram::FakeTelegram;

const T0: i64 = 1_795_852_800_000;
const SECRET: &str = "hook_secret_1";
const TOKEN: &str = "123456:TEST-token";
const ALICE: i64 = 7001;
const BOB: i64 = 7002;
const ADMIN: i64 = 500;
const SUPER: i64 = 501;
const GROUP: i64 = -100_777;

struct Bot {
    deps: Deps,
    fake: FakeTelegram,
    store: Arc<dyn Store>,
    _moto: Option<vanta_testkit::moto::Moto>,
    queue: Arc<MemoryQueue>,
    clock: Arc<ManualClock>,
    prices: Arc<FixedPrices>,
    next_update: std::sync::atomic::AtomicI64,
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

async fn bot() -> Bot {
    bot_with(Arc::new(MemoryStore::new()), None).await
}

/// The bot over a DynamoDB table in moto.
async fn bot_on_dynamo() -> Bot {
    use aws_sdk_dynamodb::config::{Credentials, Region};
    let moto = vanta_testkit::moto::Moto::start().await.expect("moto starts");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    vanta_aws::dynamo::create_table(&client, "vanta-telegram-it").await.unwrap();
    bot_with(Arc::new(vanta_aws::dynamo::DynamoStore::new(client, "vanta-telegram-it")), Some(moto)).await
}

async fn bot_with(store: Arc<dyn Store>, moto: Option<vanta_testkit::moto::Moto>) -> Bot {
    let fake = FakeTelegram::start().await.unwrap();
    let env = [
        ("TELEGRAM_WEBHOOK_SECRET", SECRET.to_owned()),
        ("TELEGRAM_BOT_TOKEN", TOKEN.to_owned()),
        ("TELEGRAM_API_URL", fake.url.clone()),
        ("ADMIN_USER_IDS", ADMIN.to_string()),
        ("SUPER_ADMIN_IDS", SUPER.to_string()),
    ];
    let config = Config::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let prices = Arc::new(FixedPrices::new());
    set_prices(&prices, clock.now());
    let catalog = PairCatalog::new([pair(0, "ETH/USD"), pair(1, "BTC/USD")]).unwrap();
    let paper = Arc::new(PaperVenue::new(Arc::new(catalog), prices.clone(), clock.clone()));
    let chat = Arc::new(TelegramChat::new(TOKEN, &fake.url).unwrap().with_max_retry_wait(Duration::from_secs(5)));
    let deps = Deps::new(config, store.clone(), queue.clone(), chat, clock.clone(), prices.clone(), paper).with_queue_stats(queue.clone());
    Bot { deps, fake, store, _moto: moto, queue, clock, prices, next_update: std::sync::atomic::AtomicI64::new(1) }
}

fn set_prices(prices: &FixedPrices, at: Timestamp) {
    for (sym, p) in [("BTC/USD", "100000"), ("ETH/USD", "3500")] {
        for src in ["pyth", "chainlink"] {
            prices.set(PairSymbol::parse(sym).unwrap(), src, Price::from_str(p).unwrap(), at).unwrap();
        }
    }
}

fn from(user: i64) -> Value {
    json!({"id": user, "is_bot": false, "first_name": "Ünïcode 🚀", "username": format!("user{user}"), "language_code": "en"})
}

fn chat(id: i64) -> Value {
    if id < 0 {
        json!({"id": id, "title": "Traders", "type": "supergroup"})
    } else {
        json!({"id": id, "first_name": "A", "type": "private"})
    }
}

impl Bot {
    fn update_id(&self) -> i64 {
        self.next_update.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 880_000
    }
    fn now_secs(&self) -> i64 {
        self.clock.now().secs()
    }
    /// A text message exactly as Telegram sends it.
    fn message(&self, user: i64, chat_id: i64, text: &str) -> Value {
        let len = text.split_whitespace().next().map_or(0, |w| w.encode_utf16().count());
        json!({"update_id": self.update_id(), "message": {
            "message_id": 10, "from": from(user), "chat": chat(chat_id), "date": self.now_secs(), "text": text,
            "entities": [{"offset": 0, "length": len, "type": "bot_command"}]
        }})
    }
    fn press(&self, user: i64, message_id: i64, data: &str) -> Value {
        json!({"update_id": self.update_id(), "callback_query": {
            "id": format!("cb{}", self.update_id()), "from": from(user), "chat_instance": "42", "data": data,
            "message": {"message_id": message_id, "from": {"id": 1, "is_bot": true, "first_name": "Vanta"}, "chat": chat(user), "date": self.now_secs(), "text": "…"}
        }})
    }
    async fn post_raw(&self, body: &str, secret: Option<&str>) -> u16 {
        let mut req = TestRequest::new("POST", "/telegram").with_body(body.to_owned());
        if let Some(s) = secret {
            req = req.with_header(telegram::SECRET_HEADER, s);
        }
        testing::call(&self.deps, req).await.status
    }
    async fn post(&self, update: Value) {
        assert_eq!(self.post_raw(&update.to_string(), Some(SECRET)).await, 200);
    }
    async fn say(&self, user: i64, text: &str) {
        self.post(self.message(user, user, text)).await;
    }
    /// The last message to `chat` that carried buttons: (message id, callback data).
    fn last_buttons(&self, chat: i64) -> (i64, Vec<String>) {
        let sends = self.fake.calls_of("sendMessage");
        let c = sends.iter().rfind(|c| c.chat_id() == Some(chat) && !c.button_data().is_empty()).expect("a message with buttons");
        let id = c.message_id.expect("a message id");
        (id, c.button_data())
    }
    fn answers(&self) -> Vec<String> {
        self.fake.calls_of("answerCallbackQuery").iter().map(|c| c.param("text").unwrap_or_default()).collect()
    }
    async fn drain(&self) {
        for _ in 0..10 {
            let batch = self.queue.take(10).unwrap();
            if batch.is_empty() {
                return;
            }
            for m in batch {
                let _ = worker::handle_message(&self.deps, &m.body).await;
            }
        }
    }
    /// A minute later, prices fresh again (and a new per-user rate budget).
    fn next_minute(&self) {
        self.clock.advance(Duration::from_secs(60));
        set_prices(&self.prices, self.clock.now());
    }
    /// `/long btc 100 5x` confirmed and run: the position it opened.
    async fn open_btc(&self, user: i64) -> vanta_domain::position::Position {
        self.say(user, "/long btc 100 5x").await;
        let (mid, data) = self.last_buttons(user);
        self.post(self.press(user, mid, &data[0])).await;
        self.drain().await;
        self.store.user_positions(TelegramUserId(user), true).await.unwrap().pop().expect("an open position")
    }
}

#[tokio::test]
async fn a_wrong_or_missing_secret_is_refused_and_nothing_is_done() {
    let b = bot().await;
    let body = b.message(ALICE, ALICE, "/start").to_string();
    assert_eq!(b.post_raw(&body, None).await, 401);
    assert_eq!(b.post_raw(&body, Some("hook_secret_2")).await, 401);
    assert_eq!(b.post_raw(&body, Some("")).await, 401);
    assert!(b.fake.calls().is_empty(), "nothing sent");
    assert!(b.store.get_user(TelegramUserId(ALICE)).await.unwrap().is_none(), "nothing stored");
    // The right secret works, and a redelivered update is handled once.
    assert_eq!(b.post_raw(&body, Some(SECRET)).await, 200);
    assert_eq!(b.post_raw(&body, Some(SECRET)).await, 200);
    let texts = b.fake.texts_to(ALICE);
    assert_eq!(texts.len(), 1, "{texts:?} {:?}", b.fake.calls());
    assert!(texts[0].contains("Welcome to Vanta") && texts[0].contains("DRY"));
    assert!(b.fake.calls().iter().all(|c| c.token == TOKEN));
}

#[tokio::test]
async fn long_is_confirmed_then_filled_dry_with_a_banner() {
    let b = bot().await;
    b.post(b.message(ALICE, ALICE, "/long@VantaBot btc 100 5x tp=120000")).await;
    let preview = b.fake.texts_to(ALICE).pop().unwrap();
    for want in [
        "DRY",
        "Open LONG BTC/USD 5x",
        "Collateral: $100",
        "Size: $500",
        "Paper fill ≈ 100005",
        "Open fee ≈ $0.225",
        "Liquidation ≈ 83000",
        "TP: 120000",
    ] {
        assert!(preview.contains(want), "{want} missing in {preview}");
    }
    let (mid, data) = b.last_buttons(ALICE);
    assert_eq!(data.len(), 2);
    let opaque = |d: &str| d.len() == 34 && (d.starts_with("c:") || d.starts_with("x:")) && d[2..].bytes().all(|b| b.is_ascii_hexdigit());
    assert!(data.iter().all(|d| opaque(d)), "callback data are opaque ids, never amounts or pairs: {data:?}");
    assert!(b.queue.is_empty(), "nothing queued before the confirmation");

    b.post(b.press(ALICE, mid, &data[0])).await;
    assert_eq!(b.answers(), vec!["Confirmed".to_owned()]);
    let edited = b.fake.calls_of("editMessageText");
    assert_eq!(edited.len(), 1);
    assert_eq!(edited[0].param("message_id").unwrap(), mid.to_string());
    assert!(edited[0].text().contains("Confirmed"));
    assert_eq!(b.queue.len(), 1);

    b.drain().await;
    let positions = b.store.user_positions(TelegramUserId(ALICE), true).await.unwrap();
    assert_eq!(positions.len(), 1);
    let p = &positions[0];
    assert_eq!((p.mode, p.status, p.collateral), (vanta_domain::exec::ExecMode::Dry, PositionStatus::Open, Usdc::from_str("100").unwrap()));
    assert_eq!(p.tp, Some(Price::from_str("120000").unwrap()));
    let fill = b.fake.texts_to(ALICE).pop().unwrap();
    assert!(fill.contains("<b>DRY</b>") && fill.contains("Opened long BTC/USD"), "{fill}");

    // A second press of the same button does not trade again.
    b.post(b.press(ALICE, mid, &data[0])).await;
    b.drain().await;
    assert_eq!(b.store.user_positions(TelegramUserId(ALICE), false).await.unwrap().len(), 1);

    // /positions shows it with its menu, and closing goes through a confirmation too.
    b.say(ALICE, "/positions").await;
    let (mid, menu) = b.last_buttons(ALICE);
    assert!(menu.contains(&format!("p:c:{}", p.id)), "{menu:?}");
    let shown = b.fake.texts_to(ALICE).pop().unwrap();
    assert!(shown.contains("liq 83004.15 (16.99% away)") && shown.contains("PnL -$0.024998"), "{shown}");
    b.post(b.press(ALICE, mid, &format!("p:c:{}", p.id))).await;
    let (mid, data) = b.last_buttons(ALICE);
    b.post(b.press(ALICE, mid, &data[0])).await;
    b.drain().await;
    assert!(b.store.user_positions(TelegramUserId(ALICE), true).await.unwrap().is_empty());
    assert!(b.fake.texts_to(ALICE).iter().any(|t| t.contains("Closed long BTC/USD") && t.contains("DRY")));

    // /pnl answers with a chart image.
    b.say(ALICE, "/pnl week").await;
    let photos = b.fake.calls_of("sendPhoto");
    assert_eq!(photos.len(), 1);
    assert_eq!(photos[0].params["photo"]["png"], json!(true), "{:?}", photos[0].params);
    assert!(photos[0].text().contains("PnL, last 7 days") && photos[0].text().contains("DRY"));
}

#[tokio::test]
async fn an_expired_or_foreign_confirmation_does_nothing() {
    let b = bot().await;
    b.say(ALICE, "/long btc 100 5x").await;
    let (mid, data) = b.last_buttons(ALICE);
    // Bob presses Alice's button (a forwarded message, a forged callback).
    b.post(b.press(BOB, mid, &data[0])).await;
    assert!(b.answers()[0].contains("someone else"), "{:?}", b.answers());
    assert!(b.queue.is_empty());
    assert!(b.fake.calls_of("editMessageText").is_empty());
    // Three minutes later Alice's own press is too late.
    b.clock.advance(Duration::from_secs(180));
    b.post(b.press(ALICE, mid, &data[0])).await;
    assert!(b.answers()[1].contains("expired"), "{:?}", b.answers());
    assert!(b.queue.is_empty(), "nothing queued");
    let intents = b.store.user_intents(TelegramUserId(ALICE), 10).await.unwrap();
    assert_eq!(intents[0].state, IntentState::Rejected);
    assert_eq!(intents[0].reason.as_deref(), Some("confirmation expired"));
    // And it stays dead.
    b.post(b.press(ALICE, mid, &data[0])).await;
    assert!(b.queue.is_empty());
    b.drain().await;
    assert!(b.store.user_positions(TelegramUserId(ALICE), false).await.unwrap().is_empty());
    // A made-up confirmation id does nothing either.
    b.post(b.press(ALICE, mid, "c:00000000000000000000000000000000")).await;
    assert!(b.answers()[3].contains("unknown or expired"));
    assert!(b.queue.is_empty());
}

#[tokio::test]
async fn only_super_admins_pull_the_emergency_stop() {
    let b = bot().await;
    for who in [ALICE, ADMIN] {
        b.say(who, "/emergency_stop").await;
        let reply = b.fake.texts_to(who).pop().unwrap();
        assert!(reply.contains("Only super-admins"), "{reply}");
    }
    assert!(b.store.get_exec_control().await.unwrap().is_none(), "nothing written");
    b.say(ALICE, "/status").await;
    assert!(b.fake.texts_to(ALICE).pop().unwrap().contains("operators only"));
    b.say(ALICE, "/exec LIVE").await;
    assert!(b.fake.texts_to(ALICE).pop().unwrap().contains("operators only"));

    b.say(SUPER, "/emergency_stop").await;
    let c = b.store.get_exec_control().await.unwrap().unwrap();
    assert_eq!((c.stop, c.updated_by, c.version), (StopLevel::PauseEntries, Some(TelegramUserId(SUPER)), 1));
    assert!(b.fake.texts_to(SUPER).pop().unwrap().contains("Emergency stop"));
    // Entries are refused at once, with the reason.
    b.say(ALICE, "/long btc 100 5x").await;
    assert!(b.fake.texts_to(ALICE).pop().unwrap().contains("Not possible"));
    b.say(SUPER, "/emergency_resume").await;
    assert_eq!(b.store.get_exec_control().await.unwrap().unwrap().stop, StopLevel::None);

    // An admin (not super) can see status; switching to LIVE is for super-admins, with a confirmation.
    b.say(ADMIN, "/status").await;
    let status = b.fake.texts_to(ADMIN).pop().unwrap();
    assert!(status.contains("Queue: 0 waiting, 0 in flight · DLQ: 0") && status.contains("DRY"), "{status}");
    assert!(status.contains("Last scheduled runs: no scheduled run recorded yet"), "{status}");
    vanta_app::schedule::tpsl_tick(&b.deps).await.unwrap();
    b.clock.advance(Duration::from_secs(90));
    b.say(ADMIN, "/status").await;
    let status = b.fake.texts_to(ADMIN).pop().unwrap();
    assert!(status.contains("tpsl 1m ago"), "{status}");
    b.say(ADMIN, "/exec LIVE").await;
    assert!(b.fake.texts_to(ADMIN).pop().unwrap().contains("Only super-admins can switch to LIVE"));
    b.say(SUPER, "/exec LIVE").await;
    let (mid, data) = b.last_buttons(SUPER);
    b.post(b.press(ADMIN, mid, &data[0])).await; // someone else's confirmation
    assert_eq!(b.store.get_exec_control().await.unwrap().unwrap().mode, vanta_domain::exec::ExecMode::Dry);
    b.post(b.press(SUPER, mid, &data[0])).await;
    let c = b.store.get_exec_control().await.unwrap().unwrap();
    assert_eq!((c.mode, c.updated_by), (vanta_domain::exec::ExecMode::Live, Some(TelegramUserId(SUPER))));
    assert!(b.fake.calls_of("editMessageText").last().unwrap().text().contains("deployment is DRY"), "the env ceiling is explained");
}

#[tokio::test]
async fn users_cannot_see_or_touch_each_others_positions_or_sources() {
    let b = bot().await;
    let alices = b.open_btc(ALICE).await;
    b.say(ALICE, "/signals new alice-strat").await;
    let created = b.fake.texts_to(ALICE).pop().unwrap();
    assert!(created.contains("alice-strat") && created.contains("/signals/tv/") && created.contains("X-Vanta-Signature"), "{created}");

    // Bob forges a close of Alice's position id.
    b.post(b.press(BOB, 1, &format!("p:c:{}", alices.id))).await;
    assert!(b.answers().last().unwrap().contains("not yours"));
    assert!(b.store.user_intents(TelegramUserId(BOB), 10).await.unwrap().is_empty(), "no intent for Bob");
    b.say(BOB, "/positions").await;
    let bobs = b.fake.texts_to(BOB).pop().unwrap();
    assert!(bobs.contains("No open positions") && !bobs.contains(alices.id.as_str()));
    b.say(BOB, "/close all").await;
    assert!(b.fake.texts_to(BOB).pop().unwrap().contains("no open positions"));
    // Bob cannot rotate (or learn about) Alice's source.
    b.say(BOB, "/signals rotate alice-strat").await;
    assert!(b.fake.texts_to(BOB).pop().unwrap().contains("You have no source named"));
    b.say(BOB, "/signals").await;
    assert!(!b.fake.texts_to(BOB).pop().unwrap().contains("alice-strat"));
    b.drain().await;
    let still = b.store.get_position(TelegramUserId(ALICE), &alices.id).await.unwrap().unwrap();
    assert_eq!(still.status, PositionStatus::Open);
}

#[tokio::test]
async fn long_replies_are_split_and_flood_control_is_waited_out() {
    let b = bot().await;
    let line = format!("{}\n", "x".repeat(99));
    let text = line.repeat(100);
    assert_eq!(text.chars().count(), 10_000);
    b.deps.chat.send(&OutgoingMessage::text(ChatId(ALICE), text)).await.unwrap();
    let parts = b.fake.texts_to(ALICE);
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|p| p.chars().count() <= 4096));
    assert_eq!(parts.concat().matches('x').count(), 9_900);

    b.fake.clear();
    b.fake.retry_after_once("sendMessage", 1);
    let t = Instant::now();
    b.say(ALICE, "/help").await;
    assert!(t.elapsed() >= Duration::from_secs(1), "waited retry_after");
    let calls: Vec<u16> = b.fake.calls().iter().filter(|c| c.method == "sendMessage").map(|c| c.status).collect();
    assert_eq!(calls, vec![429, 200]);
    assert!(b.fake.texts_to(ALICE)[0].contains("Vanta commands"));
}

#[tokio::test]
async fn every_kind_of_update_is_handled_safely() {
    let b = bot().await;
    // Edited message: never executed.
    let mut edited = b.message(ALICE, ALICE, "/long btc 100 5x");
    let inner = edited["message"].take();
    edited.as_object_mut().unwrap().remove("message");
    edited["edited_message"] = inner;
    edited["edited_message"]["edit_date"] = json!(b.now_secs());
    b.post(edited).await;
    assert!(b.fake.texts_to(ALICE).pop().unwrap().contains("Edited messages are not executed"));
    assert!(b.store.user_intents(TelegramUserId(ALICE), 10).await.unwrap().is_empty());

    // Group chat: market data yes, accounts no.
    b.post(b.message(ALICE, GROUP, "/long@VantaBot btc 100 5x")).await;
    assert!(b.fake.texts_to(GROUP).pop().unwrap().contains("private chat"));
    b.post(b.message(BOB, GROUP, "/price@VantaBot btc")).await;
    assert!(b.fake.texts_to(GROUP).pop().unwrap().contains("100000"));
    assert!(b.store.user_intents(TelegramUserId(ALICE), 10).await.unwrap().is_empty());
    b.post(b.press(ALICE, 1, "ca")).await; // a button under a group message
    let mut grouped = b.press(ALICE, 1, "ca");
    grouped["callback_query"]["message"]["chat"] = chat(GROUP);
    b.post(grouped).await;
    assert!(b.answers().last().unwrap().contains("private chat"));

    // Channel posts, unknown kinds, photos without text, unicode, unknown commands, stale ones.
    let sent = b.fake.calls().len();
    b.post(json!({"update_id": b.update_id(), "channel_post": {"message_id": 1, "chat": {"id": -1001, "type": "channel", "title": "c"}, "date": b.now_secs(), "text": "/long btc 100 5x"}})).await;
    b.post(json!({"update_id": b.update_id(), "poll": {"id": "1", "question": "?", "options": [], "total_voter_count": 0}})).await;
    b.post(json!({"update_id": b.update_id(), "my_chat_member": {"chat": chat(ALICE), "from": from(ALICE), "date": 1}})).await;
    assert_eq!(b.fake.calls().len(), sent, "nothing answered");
    b.post(json!({"update_id": b.update_id(), "message": {"message_id": 3, "from": from(ALICE), "chat": chat(ALICE), "date": b.now_secs(),
        "photo": [{"file_id": "a", "file_unique_id": "b", "width": 90, "height": 90}]}}))
        .await;
    assert!(b.fake.texts_to(ALICE).pop().unwrap().contains("only read text commands"));
    b.say(ALICE, "/bind <b>🚀</b>").await;
    let reply = b.fake.texts_to(ALICE).pop().unwrap();
    assert!(reply.contains("&lt;b&gt;🚀&lt;/b&gt;") && !reply.contains("<b>🚀"), "escaped: {reply}");
    b.say(ALICE, "/frobnicate").await;
    let reply = b.fake.texts_to(ALICE).pop().unwrap();
    assert!(reply.contains("Unknown command /frobnicate") && reply.contains("/long"), "{reply}");
    let mut stale = b.message(ALICE, ALICE, "/long btc 100 5x");
    stale["message"]["date"] = json!(b.now_secs() - 600);
    b.post(stale).await;
    assert!(b.fake.texts_to(ALICE).pop().unwrap().contains("10 minutes old, so it was not executed"));
    // A date Telegram never sends (far in the past): refused in words, not as a huge number.
    let mut ancient = b.message(ALICE, ALICE, "/close all");
    ancient["message"]["date"] = json!(i64::MIN);
    b.post(ancient).await;
    assert!(b.fake.texts_to(ALICE).pop().unwrap().contains("more than a day old"));
    // An old message that is no command still gets the answer a fresh one would.
    let mut old_text = b.message(ALICE, ALICE, "hello");
    old_text["message"]["date"] = json!(b.now_secs() - 7_200);
    b.post(old_text).await;
    assert!(b.fake.texts_to(ALICE).pop().unwrap().contains("I only understand commands"));
    assert!(b.store.user_intents(TelegramUserId(ALICE), 10).await.unwrap().is_empty());
    assert_eq!(b.post_raw("{\"not\":\"an update\"}", Some(SECRET)).await, 200);
}

#[tokio::test]
async fn a_user_who_blocked_the_bot_is_marked_inactive() {
    let b = bot().await;
    b.say(ALICE, "/start").await;
    assert!(b.store.get_user(TelegramUserId(ALICE)).await.unwrap().unwrap().active);
    b.fake.block(ALICE);
    b.say(ALICE, "/help").await;
    assert_eq!(b.fake.calls().last().unwrap().status, 403);
    assert!(!b.store.get_user(TelegramUserId(ALICE)).await.unwrap().unwrap().active);
}

#[tokio::test]
async fn the_command_menu_is_registered() {
    let b = bot().await;
    let chat = TelegramChat::new(TOKEN, &b.fake.url).unwrap();
    chat.set_my_commands(telegram::COMMANDS).await.unwrap();
    let calls = b.fake.calls_of("setMyCommands");
    let names: Vec<&str> = calls[0].params["commands"].as_array().unwrap().iter().map(|c| c["command"].as_str().unwrap()).collect();
    for want in ["start", "long", "close", "positions", "pnl", "signals", "setrisk"] {
        assert!(names.contains(&want), "{names:?}");
    }
    // Long polling reads raw updates the same handler understands.
    b.fake.push_update(b.message(ALICE, ALICE, "/start"));
    let got = chat.get_updates(0, 0).await.unwrap();
    assert_eq!(got.len(), 1);
    telegram::process_update(&b.deps, got[0].to_string().as_bytes()).await.unwrap();
    assert!(b.fake.texts_to(ALICE).pop().unwrap().contains("Welcome"));
}

#[tokio::test]
async fn every_command_answers_and_trades_only_through_confirmed_intents() {
    let b = bot().await;
    let texts = |who: i64| b.fake.texts_to(who);
    let last = |who: i64| b.fake.texts_to(who).pop().unwrap_or_default();

    b.say(ALICE, "/bind 0x000000000000000000000000000000000000dEaD").await;
    assert!(last(ALICE).contains("Prove that") && last(ALICE).contains("<pre>") && last(ALICE).contains("/verify"), "{}", last(ALICE));
    b.say(BOB, "/bind 0x000000000000000000000000000000000000dead").await;
    assert!(last(BOB).contains("Prove that"), "a pending binding locks nobody out: {}", last(BOB));
    b.say(ALICE, "/bind 0x123").await;
    assert!(last(ALICE).contains("not a valid address"));
    b.say(ALICE, "/wallet").await;
    assert!(last(ALICE).contains("0x000000000000000000000000000000000000dEaD") && last(ALICE).contains("DRY"));
    b.say(ALICE, "/markets").await;
    assert!(last(ALICE).contains("BTC/USD</b> 100000 · 75x · $100"), "{}", last(ALICE));
    b.say(ALICE, "/price eth").await;
    assert!(last(ALICE).contains("pyth: 3500") && last(ALICE).contains("Trading reference: 3500"), "{}", last(ALICE));

    // Guided /open: market → side → leverage → collateral → the same confirmation as /long.
    b.say(ALICE, "/open").await;
    let (mid, pairs) = b.last_buttons(ALICE);
    assert_eq!(pairs, vec!["o:0".to_owned(), "o:1".to_owned()]);
    for data in ["o:1", "o:1:l", "o:1:l:2", "o:1:l:2:3"] {
        b.post(b.press(ALICE, mid, data)).await;
    }
    let flow: Vec<String> = b.fake.calls_of("editMessageText").iter().map(|c| c.text()).collect();
    assert!(flow[0].contains("long or short") && flow[1].contains("leverage") && flow[2].contains("collateral"), "{flow:?}");
    let preview = last(ALICE);
    assert!(preview.contains("Open LONG BTC/USD 5x") && preview.contains("Collateral: $100"), "{preview}");
    let (mid, data) = b.last_buttons(ALICE);
    b.post(b.press(ALICE, mid, &data[0])).await;
    b.drain().await;
    let p = b.store.user_positions(TelegramUserId(ALICE), true).await.unwrap().pop().unwrap();

    // TP and SL are intents too.
    b.next_minute();
    b.say(ALICE, "/tp btc 130000").await;
    let (mid, data) = b.last_buttons(ALICE);
    b.post(b.press(ALICE, mid, &data[0])).await;
    b.say(ALICE, "/sl btc long 90000").await;
    let (mid, data) = b.last_buttons(ALICE);
    b.post(b.press(ALICE, mid, &data[0])).await;
    b.drain().await;
    let now = b.store.get_position(TelegramUserId(ALICE), &p.id).await.unwrap().unwrap();
    assert_eq!((now.tp, now.sl), (Some(Price::from_str("130000").unwrap()), Some(Price::from_str("90000").unwrap())));
    b.say(ALICE, "/sl btc 200000").await;
    let (mid, data) = b.last_buttons(ALICE);
    b.post(b.press(ALICE, mid, &data[0])).await;
    b.drain().await;
    assert!(texts(ALICE).iter().any(|t| t.contains("refused") && t.contains("SL")), "a wrong-side SL is refused with the reason");
    b.say(ALICE, "/trail btc 2").await;
    assert!(last(ALICE).contains("stop now at 98000"), "{}", last(ALICE));
    assert!(b.store.get_position(TelegramUserId(ALICE), &p.id).await.unwrap().unwrap().trail.is_some());
    b.say(ALICE, "/tp eth 4000").await;
    assert!(last(ALICE).contains("no open position on ETH/USD"));
    b.say(ALICE, "/orders").await;
    assert!(last(ALICE).contains("TP 130000 · SL 90000") && last(ALICE).contains("not visible to Vanta yet"));
    b.say(ALICE, "/balance").await;
    assert!(last(ALICE).contains("Margin in use: $100 in 1 position") && last(ALICE).contains("bind your wallet first"), "{}", last(ALICE));
    b.say(ALICE, "/history").await;
    assert!(last(ALICE).contains("settled") && last(ALICE).contains("open LONG BTC/USD 5x"), "{}", last(ALICE));

    // Automation and copy settings.
    b.next_minute();
    b.say(ALICE, "/pause").await;
    assert!(b.store.get_user(TelegramUserId(ALICE)).await.unwrap().unwrap().automation_paused);
    b.say(ALICE, "/resume").await;
    assert!(!b.store.get_user(TelegramUserId(ALICE)).await.unwrap().unwrap().automation_paused);
    b.say(ALICE, &format!("/follow {BOB} fixed=50 max_lev=5")).await;
    assert!(last(ALICE).contains("is not a leader"), "only an opted-in leader is followed: {}", last(ALICE));
    b.say(BOB, "/leader on").await;
    assert!(last(BOB).contains("Only a verified wallet"), "{}", last(BOB));
    let bob_key = vanta_chain::signer::LocalKeySigner::random().unwrap();
    b.say(BOB, &format!("/bind {}", bob_key.address())).await;
    b.say(BOB, &crate::wallet::verify_command(b.store.as_ref(), BOB, &bob_key).await).await;
    assert!(last(BOB).contains("verified"), "{}", last(BOB));
    b.say(BOB, "/leader on").await;
    assert!(last(BOB).contains("You are a leader"), "{}", last(BOB));
    b.say(ALICE, &format!("/follow {BOB} fixed=50 max_lev=5")).await;
    assert!(last(ALICE).contains("Following Vanta user") && last(ALICE).contains("fixed $50"), "{}", last(ALICE));
    b.say(ALICE, &format!("/copy {BOB} daily=200 counter")).await;
    assert!(last(ALICE).contains("daily $200") && last(ALICE).contains("counter"));
    b.say(ALICE, "/following").await;
    assert!(last(ALICE).contains(&BOB.to_string()));
    b.say(ALICE, &format!("/unfollow {BOB}")).await;
    assert!(last(ALICE).contains("No longer following"));
    b.say(ALICE, &format!("/follow {ALICE}")).await;
    assert!(last(ALICE).contains("cannot follow yourself"));

    // Risk, bounded by the operator.
    b.next_minute();
    b.say(ALICE, "/setrisk max_leverage=10 daily_loss_limit=200").await;
    assert!(last(ALICE).contains("Updated"));
    b.say(ALICE, "/setrisk max_leverage=500").await;
    assert!(last(ALICE).contains("cannot exceed") && last(ALICE).contains("nothing was changed"));
    b.say(ALICE, "/risk").await;
    assert!(last(ALICE).contains("max_leverage: 10x [75x]") && last(ALICE).contains("daily_loss_limit: $200"), "{}", last(ALICE));
    b.say(ALICE, "/long btc 100 20x").await;
    assert!(last(ALICE).contains("Not possible"), "the new limit applies: {}", last(ALICE));

    // Operators: health, and flatten-all with a confirmation.
    b.say(ADMIN, "/health").await;
    assert!(last(ADMIN).contains("Store: ✅") && last(ADMIN).contains("2 pairs"), "{}", last(ADMIN));
    b.say(ADMIN, "/flatten_all").await;
    assert!(last(ADMIN).contains("Close all 1 live positions of 1 user"));
    let (mid, data) = b.last_buttons(ADMIN);
    b.post(b.press(ADMIN, mid, &data[0])).await;
    b.post(b.press(ADMIN, mid, &data[0])).await; // twice: still one flatten
    b.drain().await;
    assert!(b.store.user_positions(TelegramUserId(ALICE), true).await.unwrap().is_empty());
    assert!(texts(ALICE).iter().any(|t| t.contains("Closed long BTC/USD")));
    assert!(b.answers().last().unwrap().contains("Already handled"));
}

#[tokio::test]
async fn the_local_runner_long_polls_into_the_same_handler() {
    let fake = FakeTelegram::start().await.unwrap();
    let env =
        [("VANTA_HTTP_ADDR", "127.0.0.1:0".to_owned()), ("TELEGRAM_BOT_TOKEN", TOKEN.to_owned()), ("TELEGRAM_API_URL", fake.url.clone())];
    let config = Config::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
    let running = vanta_local::System::build(config).unwrap().start().await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    fake.push_update(
        json!({"update_id": 42, "message": {"message_id": 1, "from": from(ALICE), "chat": chat(ALICE), "date": now, "text": "/start"}}),
    );
    // Handled (the reply is sent) and acknowledged (the next poll asks past it).
    let acknowledged = |f: &FakeTelegram| f.calls_of("getUpdates").iter().any(|c| c.param("offset").as_deref() == Some("43"));
    fake.wait_until(Duration::from_secs(20), |f| !f.texts_to(ALICE).is_empty() && acknowledged(f)).await;
    running.stop().await;
    assert!(fake.texts_to(ALICE)[0].contains("Welcome"));
    assert_eq!(fake.calls_of("setMyCommands").len(), 1, "the menu is registered at start");
    let polls = fake.calls_of("getUpdates");
    assert!(polls.iter().any(|c| c.param("offset").as_deref() == Some("43")), "the offset moves past handled updates");
}

#[tokio::test]
async fn confirmations_work_the_same_on_dynamodb() {
    let b = bot_on_dynamo().await;
    b.say(ALICE, "/long btc 100 5x").await;
    let (stale_mid, stale) = b.last_buttons(ALICE);
    b.clock.advance(Duration::from_secs(150));
    set_prices(&b.prices, b.clock.now());
    b.post(b.press(ALICE, stale_mid, &stale[0])).await;
    assert!(b.answers()[0].contains("expired"));
    b.say(ALICE, "/long btc 100 5x").await;
    let (mid, data) = b.last_buttons(ALICE);
    b.post(b.press(BOB, mid, &data[0])).await;
    assert!(b.answers()[1].contains("someone else"));
    assert!(b.queue.is_empty());
    b.post(b.press(ALICE, mid, &data[0])).await;
    b.drain().await;
    let open = b.store.user_positions(TelegramUserId(ALICE), true).await.unwrap();
    assert_eq!(open.len(), 1, "{:?} {:?} {:?}", b.fake.texts_to(ALICE), b.answers(), b.store.user_intents(TelegramUserId(ALICE), 10).await);
    assert!(b.fake.texts_to(ALICE).iter().any(|t| t.contains("Opened long BTC/USD") && t.contains("DRY")));
    // An unpressed confirmation is closed as expired when the user asks for the next trade.
    b.say(ALICE, "/long eth 100 5x").await;
    b.next_minute();
    b.next_minute();
    b.next_minute();
    b.say(ALICE, "/short eth 100 5x").await;
    let states: Vec<IntentState> = b.store.user_intents(TelegramUserId(ALICE), 10).await.unwrap().iter().map(|i| i.state).collect();
    assert_eq!(states.iter().filter(|s| **s == IntentState::Received).count(), 1, "only the newest is pending: {states:?}");
    assert!(states.contains(&IntentState::Settled) && states.contains(&IntentState::Rejected), "{states:?}");
    b.say(SUPER, "/emergency_stop").await;
    b.say(SUPER, "/emergency_resume").await;
    let c = b.store.get_exec_control().await.unwrap().unwrap();
    assert_eq!((c.stop, c.version), (StopLevel::None, 2), "optimistic versions advance");
}

#[tokio::test]
async fn a_flood_of_commands_is_cut_off_with_one_notice() {
    let b = bot().await;
    for _ in 0..telegram::USER_RATE_PER_MIN + 5 {
        b.say(ALICE, "/risk").await;
    }
    let texts = b.fake.texts_to(ALICE);
    assert_eq!(texts.len() as u32, telegram::USER_RATE_PER_MIN + 1);
    assert!(texts.last().unwrap().contains("More than 30 commands a minute"));
    b.clock.advance(Duration::from_secs(60));
    b.say(ALICE, "/help").await;
    assert!(b.fake.texts_to(ALICE).last().unwrap().contains("Vanta commands"), "a new minute, a new budget");
}

#[tokio::test]
async fn bind_checks_the_delegation_on_avantis_and_balance_reads_the_wallet() {
    use vanta_chain::avantis::{AvantisConfig, AvantisVenue};
    use vanta_chain::signer::LocalKeySigner;
    use vanta_testkit::fake_avantis::FakeAvantis;
    let mut b = bot().await;
    let avantis = FakeAvantis::start().await.unwrap();
    let u = avantis.urls();
    let cfg = AvantisConfig::new(u.tx_builder, u.batched_market, u.core, u.data, vanta_testkit::fake_avantis::FAKE_CHAIN_ID);
    let delegate = Arc::new(LocalKeySigner::random().unwrap());
    let venue = AvantisVenue::from_config(cfg, delegate.clone()).unwrap();
    b.deps.delegate = Some(delegate.address());
    b.deps.live = Some(Arc::new(venue));
    let last = |b: &Bot, who: i64| b.fake.texts_to(who).pop().unwrap_or_default();

    let key = LocalKeySigner::random().unwrap();
    let wallet = key.address().to_string();
    b.say(ALICE, &format!("/bind {wallet}")).await;
    b.say(ALICE, &crate::wallet::verify_command(b.store.as_ref(), ALICE, &key).await).await;
    let reply = last(&b, ALICE);
    assert!(reply.contains("verified"), "{reply}");
    assert!(reply.contains(&delegate.address().to_string()), "the delegate address to register: {reply}");
    assert!(reply.contains("not registered"), "{reply}");

    let trader = vanta_domain::ids::TraderAddress::from_str(&wallet).unwrap().address();
    let in_a_year = (T0 / 1000 + 365 * 86_400) as u64;
    avantis.set_delegate(trader, delegate.address().address(), true, in_a_year);
    b.say(ALICE, "/wallet").await;
    assert!(last(&b, ALICE).contains("Delegation: ✅ active"), "{}", last(&b, ALICE));

    avantis.set_balance(trader, 1_234_500_000);
    b.say(ALICE, "/balance").await;
    assert!(last(&b, ALICE).contains("USDC in your wallet: $1234.5"), "{}", last(&b, ALICE));
}
