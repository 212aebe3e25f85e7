#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Unit tests of the notifier, the fan-out jobs and the request log's route (the end-to-end
//! behaviour is in `tests/it/notify.rs`).

use std::str::FromStr;
use std::sync::Arc;

use vanta_domain::DomainError;
use vanta_domain::DomainResult;
use vanta_domain::ids::{ChatId, TelegramUserId};
use vanta_domain::market::PairSymbol;
use vanta_domain::market::{PairCatalog, Side};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue};
use vanta_domain::money::{Bps, Leverage, Price, Usdc};
use vanta_domain::ports::{Chat, OutgoingMessage, UserStore};
use vanta_domain::time::{ManualClock, Timestamp};
use vanta_domain::user::{LeaderRef, User};
use vanta_runtime::Config;

use crate::copy::{FanoutJob, LeaderEvent};
use crate::{Deps, api, notifier, worker};

struct FailingChat(fn() -> DomainError);

#[async_trait::async_trait]
impl Chat for FailingChat {
    async fn send(&self, _: &OutgoingMessage) -> DomainResult<()> {
        Err((self.0)())
    }
}

fn deps(chat: Arc<dyn Chat>) -> (Deps, Arc<MemoryStore>) {
    let clock = Arc::new(ManualClock::new(Timestamp(1_795_852_800_000)));
    let store = Arc::new(MemoryStore::new());
    let prices = Arc::new(FixedPrices::new());
    let paper = Arc::new(PaperVenue::new(Arc::new(PairCatalog::new([]).unwrap()), prices.clone(), clock.clone()));
    let config = Config::from_lookup(|_| None).unwrap();
    (Deps::new(config, store.clone(), Arc::new(MemoryQueue::new(clock.clone())), chat, clock, prices, paper), store)
}

fn notice() -> String {
    serde_json::to_string(&notifier::Notice { user: TelegramUserId(5), chat: ChatId(5), html: "hi".into() }).unwrap()
}

#[tokio::test]
async fn a_send_that_fails_for_any_other_reason_is_left_for_redelivery() {
    for err in [|| DomainError::Unavailable("telegram unreachable".into()), || DomainError::Invalid("502 Bad Gateway".into())] {
        let (deps, store) = deps(Arc::new(FailingChat(err)));
        store.get_or_create_user(User::new(TelegramUserId(5), ChatId(5), Timestamp(0))).await.unwrap();
        assert!(notifier::handle_delivery(&deps, &notice(), 1).await.is_err());
        assert!(store.get_user(TelegramUserId(5)).await.unwrap().unwrap().active, "still a user we can reach");
    }
}

#[tokio::test]
async fn a_blocked_bot_marks_the_user_inactive_and_acknowledges() {
    let (deps, store) = deps(Arc::new(FailingChat(|| DomainError::Forbidden("the user blocked the bot".into()))));
    store.get_or_create_user(User::new(TelegramUserId(5), ChatId(5), Timestamp(0))).await.unwrap();
    notifier::handle_delivery(&deps, &notice(), 1).await.unwrap();
    assert!(!store.get_user(TelegramUserId(5)).await.unwrap().unwrap().active);
}

#[tokio::test]
async fn an_unreadable_notice_fails_so_it_reaches_the_dlq() {
    let (deps, _) = deps(Arc::new(FailingChat(|| DomainError::Unavailable("x".into()))));
    assert!(notifier::handle_delivery(&deps, "garbage", notifier::MAX_RECEIVES).await.unwrap_err().to_string().contains("unreadable"));
}

#[test]
fn request_logs_name_routes_not_paths() {
    assert_eq!(api::route_template("/signals/tv/abc123SECRET"), "/signals/tv/{token}");
    assert_eq!(api::route_template("/signals/tv/abc123SECRET/"), "/signals/tv/{token}");
    assert_eq!(api::route_template("/signals"), "/signals");
    assert_eq!(api::route_template("/healthz"), "/healthz");
    assert_eq!(api::route_template("/anything/SECRET"), "unmatched");
}

fn opened(position: &str) -> LeaderEvent {
    LeaderEvent::Opened {
        leader: LeaderRef::User(TelegramUserId(1)),
        position_ref: position.into(),
        pair: PairSymbol::parse("BTC/USD").unwrap(),
        side: Side::Long,
        collateral: Usdc::from_whole(100).unwrap(),
        leverage: Leverage::from_whole(5).unwrap(),
        price: Price::from_str("100000").unwrap(),
        tp: None,
        sl: None,
        leader_equity: None,
        at: Timestamp(0),
    }
}

#[test]
fn fanout_jobs_are_grouped_by_leader_position_and_stable_per_page() {
    let first = FanoutJob { event: opened("pos:abc"), after: None };
    let next = FanoutJob { event: opened("pos:abc"), after: Some(TelegramUserId(25)) };
    assert_eq!(first.group(), "fanout:pos:abc");
    assert_eq!(first.group(), next.group(), "one position's pages run in order");
    assert_eq!(first.dedup_id(), FanoutJob { event: opened("pos:abc"), after: None }.dedup_id(), "a repeat is dropped");
    assert_ne!(first.dedup_id(), next.dedup_id());
    let close = FanoutJob {
        event: LeaderEvent::Closed {
            leader: LeaderRef::User(TelegramUserId(1)),
            position_ref: "pos:abc".into(),
            close_ref: "leg:1".into(),
            fraction: Bps::FULL,
            at: Timestamp(0),
        },
        after: None,
    };
    assert_ne!(first.dedup_id(), close.dedup_id());
    // The worker reads what the copy module writes.
    let body = serde_json::json!({ "fanout": first }).to_string();
    let back: worker::FanoutEnvelope = serde_json::from_str(&body).unwrap();
    assert_eq!(back.fanout, first);
}
