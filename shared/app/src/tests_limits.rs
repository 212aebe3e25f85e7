#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Operator limits are settings: `OPERATOR_*` bound `/setrisk`, the stored `CONTROL`/`LIMITS`
//! item tightens them at run time (never loosens them), the entry risk check uses the limits in
//! force, and `/status` shows them.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::http::testing::{self, TestRequest};
use vanta_domain::ids::{ChatId, SourceId, TelegramUserId};
use vanta_domain::limits::StoredLimits;
use vanta_domain::market::{PairCatalog, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::{Bps, Leverage, Price, Usdc};
use vanta_domain::ports::*;
use vanta_domain::risk::OperatorLimits;
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{SecretText, SignalSource, User};
use vanta_runtime::Config;

use crate::tests_support::pair;
use crate::{Deps, signals, telegram, worker};

const T0: i64 = 1_795_852_800_000;
const ADMIN: i64 = 2;
const TRADER: i64 = 7;

struct Sys {
    deps: Deps,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
    update: AtomicUsize,
}

fn sys_with(env: &[(&str, &str)]) -> Sys {
    let mut env: BTreeMap<String, String> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    env.insert("ADMIN_USER_IDS".into(), ADMIN.to_string());
    env.insert("TELEGRAM_WEBHOOK_SECRET".into(), "s3cret".into());
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    let catalog = Arc::new(PairCatalog::new([pair(0, "ETH/USD"), pair(1, "BTC/USD")]).unwrap());
    let paper = Arc::new(PaperVenue::new(catalog, prices.clone(), clock.clone()));
    for src in ["pyth", "chainlink"] {
        prices.set(PairSymbol::parse("BTC/USD").unwrap(), src, Price::from_str("100000").unwrap(), clock.now()).unwrap();
    }
    let deps = Deps::new(config, store.clone(), queue.clone(), chat.clone(), clock.clone(), prices, paper);
    Sys { deps, store, queue, chat, clock, update: AtomicUsize::new(1) }
}

impl Sys {
    async fn say(&self, user: i64, text: &str) -> String {
        let before = self.texts_to(user).len();
        let id = self.update.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({"update_id": id, "message": {"message_id": id, "date": self.clock.now().secs(),
            "chat": {"id": user, "type": "private"}, "from": {"id": user, "is_bot": false, "first_name": "u"}, "text": text}});
        telegram::process_update(&self.deps, body.to_string().as_bytes()).await.unwrap();
        self.texts_to(user)[before..].join("\n")
    }
    fn texts_to(&self, chat: i64) -> Vec<String> {
        self.chat.sent().into_iter().filter(|m| m.chat == ChatId(chat)).map(|m| m.html).collect()
    }
    async fn stored_leverage(&self) -> Leverage {
        self.store.get_user(TelegramUserId(TRADER)).await.unwrap().unwrap().risk.max_leverage
    }
    async fn store_limits(&self, l: StoredLimits) {
        self.store.put_stored_limits(&l).await.unwrap();
    }
    /// A signal of the trader's own source opening BTC long at `leverage`; then the worker runs.
    async fn open_by_signal(&self, id: &str, leverage: &str) -> u16 {
        let sid = SourceId::parse("strat").unwrap();
        if self.store.get_source(&sid).await.unwrap().is_none() {
            self.store.get_or_create_user(User::new(TelegramUserId(TRADER), ChatId(TRADER), self.clock.now())).await.unwrap();
            let s = SignalSource {
                id: sid,
                owner: TelegramUserId(TRADER),
                secret: SecretText::new("k3y").into(),
                tv_token_hash: signals::token_hash("tv"),
                active: true,
                created_at: self.clock.now(),
                rotated_at: None,
            };
            self.store.create_source(&s).await.unwrap();
        }
        let body = serde_json::json!({"source": "strat", "id": id, "action": "open", "pair": "BTC/USD", "side": "long",
            "collateral_usdc": "100", "leverage": leverage})
        .to_string();
        let ts = self.clock.now().secs().to_string();
        let req = TestRequest::new("POST", "/signals")
            .with_header("X-Vanta-Timestamp", &ts)
            .with_header("X-Vanta-Signature", &signals::sign("k3y", &ts, body.as_bytes()))
            .with_body(body);
        let status = testing::call(&self.deps, req).await.status;
        for m in self.queue.take(10).unwrap() {
            let _ = worker::handle_message(&self.deps, &m.body).await;
        }
        status
    }
    async fn open_positions(&self) -> usize {
        self.store.user_positions(TelegramUserId(TRADER), true).await.unwrap().len()
    }
}

fn lev(x: u64) -> Leverage {
    Leverage::from_whole(x).unwrap()
}

#[tokio::test]
async fn the_deployment_parameter_bounds_setrisk() {
    let s = sys_with(&[("OPERATOR_MAX_LEVERAGE", "30")]);
    assert_eq!(s.deps.ops.max_leverage, lev(30));
    let r = s.say(TRADER, "/setrisk max_leverage=40").await;
    assert!(r.contains("cannot exceed the operator's maximum of 30x"), "{r}");
    assert_eq!(s.stored_leverage().await, lev(20), "nothing changed");
    let r = s.say(TRADER, "/setrisk max_leverage=25").await;
    assert!(r.contains("✅ Updated"), "{r}");
    assert_eq!(s.stored_leverage().await, lev(25));
}

#[tokio::test]
async fn a_tightened_stored_limit_refuses_a_setrisk_above_it() {
    let s = sys_with(&[]);
    s.store_limits(StoredLimits { max_leverage: Some(lev(10)), ..StoredLimits::default() }).await;
    let r = s.say(TRADER, "/setrisk max_leverage=15").await;
    assert!(r.contains("cannot exceed the operator's maximum of 10x"), "{r}");
    assert_eq!(s.stored_leverage().await, lev(20), "nothing changed");
    let r = s.say(TRADER, "/setrisk max_leverage=10").await;
    assert!(r.contains("✅ Updated"), "{r}");
    // /risk shows the maximum in force.
    let r = s.say(TRADER, "/risk").await;
    assert!(r.contains("max_leverage: 10x [10x]"), "{r}");
}

#[tokio::test]
async fn loosening_through_the_stored_item_is_ignored() {
    let s = sys_with(&[("OPERATOR_MAX_LEVERAGE", "30"), ("OPERATOR_MAX_OPEN_POSITIONS", "4")]);
    s.store_limits(StoredLimits { max_leverage: Some(lev(100)), max_open_positions: Some(50), ..StoredLimits::default() }).await;
    let r = s.say(TRADER, "/setrisk max_leverage=50").await;
    assert!(r.contains("cannot exceed the operator's maximum of 30x"), "{r}");
    let r = s.say(TRADER, "/setrisk max_open_positions=5").await;
    assert!(r.contains("cannot exceed the operator's maximum of 4"), "{r}");
    let eff = s.deps.operator_limits().await.unwrap();
    assert_eq!(eff.max_leverage, lev(30));
    assert_eq!(eff.max_open_positions, 4);
}

#[tokio::test]
async fn entries_are_checked_against_the_limits_in_force() {
    let s = sys_with(&[]);
    // The trader's own policy allows 20x; the operator tightens everyone to 3x at run time.
    assert_eq!(s.open_by_signal("a1", "5").await, 202);
    assert_eq!(s.open_positions().await, 1, "5x opens under the deployment's limits");
    s.store_limits(StoredLimits { max_leverage: Some(lev(3)), ..StoredLimits::default() }).await;
    assert_eq!(s.open_by_signal("a2", "5").await, 202);
    assert_eq!(s.open_positions().await, 1, "5x is refused once the stored limit is 3x");
    let told = s.texts_to(TRADER).join("\n");
    assert!(told.to_lowercase().contains("leverage"), "the trader is told why: {told}");
    assert_eq!(s.open_by_signal("a3", "3").await, 202);
    assert_eq!(s.open_positions().await, 2, "3x still opens");
}

#[tokio::test]
async fn status_shows_the_effective_limits_and_what_was_ignored() {
    let s = sys_with(&[("OPERATOR_MAX_POSITION_USDC", "50000")]);
    let r = s.say(ADMIN, "/status").await;
    assert!(r.contains("Operator limits (deployment parameters): leverage ≤ 75x"), "{r}");
    assert!(r.contains("position ≤ $50000"), "{r}");
    s.store_limits(StoredLimits { max_leverage: Some(lev(10)), max_daily_trades: Some(1000), ..StoredLimits::default() }).await;
    let r = s.say(ADMIN, "/status").await;
    assert!(r.contains("leverage ≤ 10x (stored)"), "{r}");
    assert!(r.contains("trades/day ≤ 200 ·"), "the looser stored value is not applied: {r}");
    assert!(r.contains("looser values ignored: max_daily_trades"), "{r}");
}

#[test]
fn tightening_takes_the_stricter_of_each_limit() {
    let base = OperatorLimits::default();
    let stored = StoredLimits {
        max_leverage: Some(lev(5)),
        max_position: Some(Usdc::from_str("1000000").unwrap()),
        min_liq_distance: Some(Bps::new(50).unwrap()),
        ..StoredLimits::default()
    };
    let t = stored.tighten(&base);
    assert_eq!(t.max_leverage, lev(5));
    assert_eq!(t.max_position, base.max_position, "a larger maximum is ignored");
    assert_eq!(t.min_liq_distance, base.min_liq_distance, "a smaller minimum is ignored");
    assert_eq!(stored.ignored(&base), vec!["max_position", "min_liq_distance"]);
    let stricter = StoredLimits { min_liq_distance: Some(Bps::new(500).unwrap()), ..StoredLimits::default() };
    assert_eq!(stricter.tighten(&base).min_liq_distance, Bps::new(500).unwrap());
}

#[test]
fn operator_limits_come_from_the_environment_and_bad_values_name_the_variable() {
    let get =
        |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
    let l = vanta_runtime::operator_limits::operator_limits_from(get(&[
        ("OPERATOR_MAX_LEVERAGE", "12.5"),
        ("OPERATOR_MAX_DAILY_LOSS_USDC", "250"),
        ("OPERATOR_MAX_SLIPPAGE_PCT", "0.8"),
        ("OPERATOR_MIN_LIQ_DISTANCE_BPS", "250"),
    ]))
    .unwrap();
    assert_eq!(l.max_leverage, Leverage::from_str("12.5").unwrap());
    assert_eq!(l.max_daily_loss, Usdc::from_str("250").unwrap());
    assert_eq!(l.min_liq_distance, Bps::new(250).unwrap());
    assert_eq!(l.max_open_positions, OperatorLimits::default().max_open_positions);
    for (k, v) in [
        ("OPERATOR_MAX_LEVERAGE", "lots"),
        ("OPERATOR_MAX_POSITION_USDC", "0"),
        ("OPERATOR_MAX_OPEN_POSITIONS", "0"),
        ("OPERATOR_MAX_SLIPPAGE_PCT", "0"),
        ("OPERATOR_MIN_LIQ_DISTANCE_BPS", "9000"),
    ] {
        let e = vanta_runtime::operator_limits::operator_limits_from(|n| (n == k).then(|| v.to_owned())).unwrap_err();
        assert!(e.to_string().starts_with(k), "{e}");
    }
}
