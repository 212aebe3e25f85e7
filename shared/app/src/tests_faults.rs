#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Regression tests for what the fault-injection matrix (`tests/it/faults.rs`) found: a worker
//! that died after an intent became final but before its notice was queued left the user
//! untold, because the redelivery found the intent final and did nothing more.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::http::testing::{self, TestRequest};
use vanta_domain::ids::{ChatId, SourceId, TelegramUserId};
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{SourceStore, UserStore};
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{SecretText, SignalSource, User};
use vanta_runtime::Config;

use crate::{Deps, notifier, signals, worker};

const TV: &str = "tvFAULTSunit0123456789ab";

struct Sys {
    deps: Deps,
    queue: Arc<MemoryQueue>,
    notices: Arc<MemoryQueue>,
    clock: Arc<ManualClock>,
}

fn btc() -> PairInfo {
    PairInfo {
        index: PairIndex(1),
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

async fn sys(price_age: Duration) -> Sys {
    let clock = Arc::new(ManualClock::new(Timestamp(1_795_852_800_000)));
    let store = Arc::new(MemoryStore::new());
    let prices = Arc::new(FixedPrices::new());
    let paper = Arc::new(PaperVenue::new(Arc::new(PairCatalog::new([btc()]).unwrap()), prices.clone(), clock.clone()));
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let notices = Arc::new(MemoryQueue::new(clock.clone()));
    let config = Config::from_lookup(|_| None).unwrap();
    let deps = Deps::new(config, store.clone(), queue.clone(), Arc::new(NoChat), clock.clone(), prices.clone(), paper)
        .with_notifications_queue(notices.clone());
    let at = clock.now().minus(price_age);
    for src in ["pyth", "chainlink"] {
        prices.set(PairSymbol::parse("BTC/USD").unwrap(), src, Price::from_str("100000").unwrap(), at).unwrap();
    }
    store.get_or_create_user(User::new(TelegramUserId(7), ChatId(7), clock.now())).await.unwrap();
    store
        .create_source(&SignalSource {
            id: SourceId::parse("strat").unwrap(),
            owner: TelegramUserId(7),
            secret: SecretText::new("k3y").into(),
            tv_token_hash: signals::token_hash(TV),
            active: true,
            created_at: clock.now(),
            rotated_at: None,
        })
        .await
        .unwrap();
    Sys { deps, queue, notices, clock }
}

struct NoChat;

#[async_trait::async_trait]
impl vanta_domain::ports::Chat for NoChat {
    async fn send(&self, _: &vanta_domain::ports::OutgoingMessage) -> vanta_domain::DomainResult<()> {
        Err(vanta_domain::DomainError::Unavailable("notices go through the queue in this test".into()))
    }
}

fn texts(q: &MemoryQueue) -> Vec<String> {
    let all = q.take(100).unwrap();
    let out = all.iter().map(|m| serde_json::from_str::<notifier::Notice>(&m.body).unwrap().html).collect();
    q.put_back(all).unwrap();
    out
}

/// Posts one open signal and runs its first delivery; the signal message's body.
async fn first_delivery(s: &Sys) -> String {
    let body = r#"{"source":"strat","id":"f-1","action":"open","pair":"BTC/USD","side":"long","collateral_usdc":"100","leverage":"5"}"#;
    let req = TestRequest::new("POST", &format!("/signals/tv/{TV}")).with_body(body.to_owned());
    assert_eq!(testing::call(&s.deps, req).await.status, 202);
    let m = s.queue.take(1).unwrap().pop().expect("the signal is queued");
    worker::handle_delivery(&s.deps, &m.body, 1).await.unwrap();
    m.body
}

#[tokio::test]
async fn a_fill_whose_notice_was_lost_is_told_on_the_redelivery_and_only_once() {
    let s = sys(Duration::ZERO).await;
    let body = first_delivery(&s).await;
    let first = texts(&s.notices);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].contains("Opened long BTC/USD"), "{first:?}");
    // The worker died before the notice reached the queue: the redelivery finds the intent
    // settled and must still tell the user, with the same notice.
    let lost = Arc::new(MemoryQueue::new(s.clock.clone()));
    let cut = s.deps.clone().with_notifications_queue(lost.clone());
    worker::handle_delivery(&cut, &body, 2).await.unwrap();
    assert_eq!(texts(&lost), first, "told on the redelivery, the same text");
    // The notice was queued after all: the redelivery's copy is the same FIFO message (dropped).
    worker::handle_delivery(&s.deps, &body, 3).await.unwrap();
    assert_eq!(texts(&s.notices), first, "not told twice");
}

#[tokio::test]
async fn a_refusal_whose_notice_was_lost_is_told_on_the_redelivery() {
    let s = sys(Duration::from_secs(600)).await;
    let body = first_delivery(&s).await;
    let first = texts(&s.notices);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].contains("refused") && first[0].contains("600 s old"), "{first:?}");
    let lost = Arc::new(MemoryQueue::new(s.clock.clone()));
    worker::handle_delivery(&s.deps.clone().with_notifications_queue(lost.clone()), &body, 2).await.unwrap();
    assert_eq!(texts(&lost), first);
    worker::handle_delivery(&s.deps, &body, 3).await.unwrap();
    assert_eq!(texts(&s.notices), first, "not told twice");
}
