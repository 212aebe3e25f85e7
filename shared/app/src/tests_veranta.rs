#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Users read Veranta (formerly Avantis): the welcome, help, wallet replies and the link to
//! Veranta's delegate page.

use std::str::FromStr;
use std::sync::Arc;

use crate::http::testing::{self, TestRequest};
use vanta_domain::ids::{ChatId, TelegramUserId, TraderAddress};
use vanta_domain::market::{PairCatalog, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::Price;
use vanta_domain::ports::*;
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::User;
use vanta_runtime::Config;

use crate::tests_support::pair;
use crate::{Deps, telegram, wallet};

const T0: i64 = 1_795_852_800_000;
const SECRET: &str = "veranta_test_secret";

struct Sys {
    deps: Deps,
    store: Arc<MemoryStore>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
}

fn sys() -> Sys {
    let config = Config::from_lookup(|k| (k == "TELEGRAM_WEBHOOK_SECRET").then(|| SECRET.to_owned())).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    prices.set(PairSymbol::parse("BTC/USD").unwrap(), "pyth", Price::from_str("100000").unwrap(), clock.now()).unwrap();
    let catalog = Arc::new(PairCatalog::new([pair(1, "BTC/USD")]).unwrap());
    let paper = Arc::new(PaperVenue::new(catalog, prices.clone(), clock.clone()));
    let deps = Deps::new(config, store.clone(), queue, chat.clone(), clock.clone(), prices, paper);
    Sys { deps, store, chat, clock }
}

impl Sys {
    /// Sends `text` as user 7 and returns what the bot answered.
    async fn say(&self, update_id: i64, text: &str) -> String {
        let before = self.chat.sent().len();
        let body = serde_json::json!({
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "from": {"id": 7, "is_bot": false, "first_name": "Vera"},
                "chat": {"id": 7, "type": "private"},
                "date": T0 / 1000,
                "text": text,
            }
        });
        let req = TestRequest::new("POST", "/telegram").with_header(telegram::SECRET_HEADER, SECRET).with_body(body.to_string());
        assert_eq!(testing::call(&self.deps, req).await.status, 200);
        let sent = self.chat.sent();
        sent[before..].iter().filter(|m| m.chat == ChatId(7)).map(|m| m.html.clone()).collect::<Vec<_>>().join("\n")
    }
}

#[tokio::test]
async fn the_welcome_says_veranta_formerly_avantis_and_help_says_veranta() {
    let s = sys();
    let welcome = s.say(1, "/start").await;
    assert!(welcome.contains("Veranta (formerly Avantis)"), "{welcome}");
    assert!(welcome.contains("register Vanta's delegate with Veranta"), "{welcome}");
    let help = s.say(2, "/help").await;
    assert!(!help.contains("Avantis"), "after the first mention it is Veranta: {help}");
    // The command menu registered with Telegram.
    let bind = telegram::COMMANDS.iter().find(|(c, _)| *c == "bind").unwrap();
    assert_eq!(bind.1, "Bind your Veranta wallet: /bind 0x…");
    assert!(telegram::COMMANDS.iter().all(|(_, d)| !d.contains("Avantis")));
}

#[tokio::test]
async fn a_verified_wallet_is_sent_to_veranta_s_delegate_page() {
    let s = sys();
    let user = s.store.get_or_create_user(User::new(TelegramUserId(7), ChatId(7), s.clock.now())).await.unwrap();
    let address = TraderAddress::from_str("0x1111111111111111111111111111111111111111").unwrap();
    let html = wallet::verified_html(&s.deps, &user, &address);
    assert!(html.contains("register Vanta's delegate with Veranta at https://delegate.veranta.xyz"), "{html}");
    assert!(!html.contains("Avantis"), "{html}");
    assert_eq!(wallet::DELEGATE_UI_URL, "https://delegate.veranta.xyz");
}

#[tokio::test]
async fn the_sign_in_statement_names_veranta() {
    let s = sys();
    s.say(1, "/start").await;
    let user = s.store.get_user(TelegramUserId(7)).await.unwrap().unwrap();
    let address = TraderAddress::from_str("0x1111111111111111111111111111111111111111").unwrap();
    let c = wallet::issue(&s.deps, &user, address).await.unwrap();
    assert!(c.message.contains("the delegate you register with Veranta; it can never withdraw."), "{}", c.message);
    assert!(!c.message.contains("Avantis"), "{}", c.message);
}
