//! A venue adapter's own check refusing an order before anything is signed (the direct route's
//! tx-builder calldata differing from the order) is a refusal: the user is told it was refused
//! and `intent_outcomes` counts it `refused`, never `failed`; the success rate gets no sample. A
//! venue's refusal after signing (a revert) stays a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{ChatId, IntentId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::IntentState;
use vanta_domain::market::{PairCatalog, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::Price;
use vanta_domain::ports::*;
use vanta_domain::position::PositionStatus;
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{SecretText, SignalSource, User};
use vanta_domain::{DomainError, DomainResult};

use crate::emf::names;
use crate::http::testing::{self, TestRequest};
use crate::tests_support::pair;
use crate::{Deps, signals, worker};

const T0: i64 = 1_750_000_000_000;

/// What the venue answers the next order with (None: it executes).
#[derive(Clone, Copy)]
enum Answer {
    /// Refused by our own calldata check, nothing signed.
    CalldataDiffers,
    /// Signed, sent and reverted on chain.
    Reverted,
}

struct CheckingVenue {
    book: PaperVenue,
    next: Mutex<Option<Answer>>,
}

#[async_trait]
impl Venue for CheckingVenue {
    fn mode(&self) -> ExecMode {
        ExecMode::Dry
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.book.pairs().await
    }
    async fn execute(&self, r: &IntentId, o: &VenueOrder) -> DomainResult<VenueFill> {
        let next = self.next.lock().unwrap().take();
        match next {
            Some(Answer::CalldataDiffers) => Err(DomainError::refused_before_signing(
                "the tx-builder's calldata differs from the order in leverage (asked 5, calldata has 10)",
            )),
            Some(Answer::Reverted) => Err(DomainError::Refused("the Avantis transaction t1 failed: execution reverted".into())),
            None => self.book.execute(r, o).await,
        }
    }
    async fn positions(&self, t: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.book.positions(t).await
    }
}

struct Sys {
    deps: Deps,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
    venue: Arc<CheckingVenue>,
}

async fn sys() -> Sys {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    for src in ["pyth", "chainlink"] {
        prices.set(PairSymbol::parse("BTC/USD").unwrap(), src, Price::from_str("100000").unwrap(), clock.now()).unwrap();
    }
    let catalog = Arc::new(PairCatalog::new([pair(0, "ETH/USD"), pair(1, "BTC/USD")]).unwrap());
    let venue = Arc::new(CheckingVenue { book: PaperVenue::new(catalog, prices.clone(), clock.clone()), next: Mutex::new(None) });
    let deps =
        Deps::new(crate::tests_support::config(&[]), store.clone(), queue.clone(), chat.clone(), clock.clone(), prices, venue.clone());
    deps.metrics.emf.capture();
    store.get_or_create_user(User::new(TelegramUserId(7), ChatId(7), clock.now())).await.unwrap();
    let source = SignalSource {
        id: SourceId::parse("strat").unwrap(),
        owner: TelegramUserId(7),
        secret: SecretText::new("k3y").into(),
        tv_token_hash: signals::token_hash("tvtok"),
        active: true,
        created_at: clock.now(),
        rotated_at: None,
    };
    store.create_source(&source).await.unwrap();
    Sys { deps, store, queue, chat, clock, venue }
}

impl Sys {
    /// Posts a signal and runs the worker over it; the queue messages it ran.
    async fn signal(&self, body: Value) -> Vec<String> {
        let (body, ts) = (body.to_string(), self.clock.now().secs().to_string());
        let req = TestRequest::new("POST", "/signals")
            .with_header("X-Vanta-Timestamp", &ts)
            .with_header("X-Vanta-Signature", &signals::sign("k3y", &ts, body.as_bytes()))
            .with_body(body);
        assert_eq!(testing::call(&self.deps, req).await.status, 202);
        let mut bodies = Vec::new();
        for m in self.queue.take(10).unwrap() {
            let _ = worker::handle_message(&self.deps, &m.body).await;
            bodies.push(m.body);
        }
        bodies
    }
    /// The `intent_outcomes` labels recorded since the last call, and whether a success-rate
    /// sample was written.
    fn outcomes(&self) -> (Vec<String>, bool) {
        let lines: Vec<Value> =
            self.deps.metrics.emf.take_lines(self.clock.now()).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let outcomes = lines.iter().filter(|l| l.get(names::INTENT_OUTCOMES).is_some()).map(|l| l["outcome"].as_str().unwrap().to_owned());
        (outcomes.collect(), lines.iter().any(|l| l.get(names::INTENT_SUCCESS_RATE).is_some()))
    }
    async fn state(&self, id: &str) -> IntentState {
        self.store.get_intent(&IntentId::parse(id).unwrap()).await.unwrap().unwrap().state
    }
    fn last_message(&self) -> String {
        self.chat.sent().into_iter().filter(|m| m.chat == ChatId(7)).map(|m| m.html).next_back().unwrap()
    }
}

fn open_btc(id: &str) -> Value {
    json!({"source":"strat","id":id,"action":"open","pair":"BTC/USD","side":"long","collateral_usdc":"100","leverage":"5"})
}

#[tokio::test]
async fn an_open_whose_calldata_differs_is_counted_refused_not_failed() {
    let s = sys().await;
    *s.venue.next.lock().unwrap() = Some(Answer::CalldataDiffers);
    let bodies = s.signal(open_btc("o1")).await;
    assert_eq!(s.outcomes(), (vec!["refused".to_owned()], false), "a refusal: no failure, no success-rate sample");
    assert_eq!(s.state("sig:strat:o1").await, IntentState::Failed, "SUBMITTED ends FAILED, with the refusal as its reason");
    let told = s.last_message();
    assert!(told.contains("refused") && told.contains("not signed") && !told.contains("failed:"), "{told}");
    assert!(s.store.user_positions(TelegramUserId(7), false).await.unwrap().is_empty());

    // A redelivery tells it again as a refusal and counts nothing.
    let before = s.chat.sent().len();
    let _ = worker::handle_message(&s.deps, &bodies[0]).await;
    assert!(s.outcomes().0.is_empty());
    assert!(s.chat.sent().len() > before && s.last_message().contains("refused"), "{}", s.last_message());

    // A revert after signing is still a failure.
    *s.venue.next.lock().unwrap() = Some(Answer::Reverted);
    s.signal(open_btc("o2")).await;
    assert_eq!(s.outcomes(), (vec!["failed".to_owned()], true));
}

#[tokio::test]
async fn a_close_whose_calldata_differs_is_counted_refused_and_the_position_stays_open() {
    let s = sys().await;
    s.signal(open_btc("o1")).await;
    assert_eq!(s.outcomes().0, ["filled"]);
    *s.venue.next.lock().unwrap() = Some(Answer::CalldataDiffers);
    s.signal(json!({"source":"strat","id":"c1","action":"close","pair":"BTC/USD","side":"long"})).await;
    assert_eq!(s.outcomes(), (vec!["refused".to_owned()], false));
    let ps = s.store.user_positions(TelegramUserId(7), false).await.unwrap();
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].status, PositionStatus::Open, "nothing was sent: the position is open again");
    assert!(s.last_message().contains("refused"), "{}", s.last_message());
}
