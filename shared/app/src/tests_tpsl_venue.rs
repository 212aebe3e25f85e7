//! TP/SL updates at pipeline level (issue 9, item 3): only the legs asked for go to the venue
//! (the venue keeps the other one as it has it live, never 0 from Vanta's record), and a change
//! the venue accepted but does not show yet is reported as such, without claiming the position
//! record updated.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::http::testing::{self, TestRequest};
use async_trait::async_trait;
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{ChatId, IntentId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::IntentState;
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::*;
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{SecretText, SignalSource, User};
use vanta_domain::{DomainError, DomainResult};
use vanta_runtime::Config;

use crate::{Deps, signals, worker};

const T0: i64 = 1_795_852_800_000;

fn catalog() -> Arc<PairCatalog> {
    let btc = PairInfo {
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
    };
    Arc::new(PairCatalog::new([btc]).unwrap())
}

/// A paper book that records every order and can answer TP/SL updates "accepted, not visible".
struct Recording {
    book: PaperVenue,
    orders: Mutex<Vec<VenueOrder>>,
    not_visible: AtomicBool,
}

#[async_trait]
impl Venue for Recording {
    fn mode(&self) -> ExecMode {
        ExecMode::Dry
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.book.pairs().await
    }
    async fn execute(&self, r: &IntentId, o: &VenueOrder) -> DomainResult<VenueFill> {
        self.orders.lock().unwrap().push(o.clone());
        if matches!(o, VenueOrder::UpdateTpSl { .. }) && self.not_visible.load(Ordering::SeqCst) {
            return Err(DomainError::Ambiguous(
                "Veranta accepted the TP/SL change, but the position does not show it after 5s: not yet visible".into(),
            ));
        }
        self.book.execute(r, o).await
    }
    async fn positions(&self, t: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.book.positions(t).await
    }
    async fn lookup(&self, r: &IntentId) -> DomainResult<Lookup> {
        self.book.lookup(r).await
    }
}

struct Sys {
    deps: Deps,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
    venue: Arc<Recording>,
}

async fn sys() -> Sys {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    let btc = PairSymbol::parse("BTC/USD").unwrap();
    for src in ["pyth", "chainlink"] {
        prices.set(btc.clone(), src, Price::from_str("100000").unwrap(), clock.now()).unwrap();
    }
    let venue = Arc::new(Recording {
        book: PaperVenue::new(catalog(), prices.clone(), clock.clone()),
        orders: Mutex::new(Vec::new()),
        not_visible: AtomicBool::new(false),
    });
    let config = Config::from_lookup(|_| None).unwrap();
    let deps = Deps::new(config, store.clone(), queue.clone(), chat.clone(), clock.clone(), prices, venue.clone());
    let s = Sys { deps, store, queue, chat, clock, venue };
    s.store.get_or_create_user(User::new(TelegramUserId(7), ChatId(7), s.clock.now())).await.unwrap();
    let src = SignalSource {
        id: SourceId::parse("strat").unwrap(),
        owner: TelegramUserId(7),
        secret: SecretText::new("k3y").into(),
        tv_token_hash: signals::token_hash("tvtok"),
        active: true,
        created_at: s.clock.now(),
        rotated_at: None,
    };
    s.store.create_source(&src).await.unwrap();
    s
}

impl Sys {
    async fn signal(&self, body: serde_json::Value) {
        let body = body.to_string();
        let ts = self.clock.now().secs().to_string();
        let req = TestRequest::new("POST", "/signals")
            .with_header("X-Vanta-Timestamp", &ts)
            .with_header("X-Vanta-Signature", &signals::sign("k3y", &ts, body.as_bytes()))
            .with_body(body);
        assert_eq!(testing::call(&self.deps, req).await.status, 202);
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
    fn tpsl_orders(&self) -> Vec<(Option<Price>, Option<Price>)> {
        self.venue
            .orders
            .lock()
            .unwrap()
            .iter()
            .filter_map(|o| match o {
                VenueOrder::UpdateTpSl { tp, sl, .. } => Some((*tp, *sl)),
                _ => None,
            })
            .collect()
    }
}

fn p(s: &str) -> Option<Price> {
    Some(Price::from_str(s).unwrap())
}

#[tokio::test]
async fn only_the_legs_asked_for_go_to_the_venue_and_the_other_leg_is_kept() {
    let s = sys().await;
    let open = serde_json::json!({"source":"strat","id":"o","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5","sl":"95000"});
    s.signal(open).await;
    s.signal(serde_json::json!({"source":"strat","id":"t","action":"update_tpsl","pair":"BTC","side":"long","tp":"110000"})).await;
    // The SL was not asked for: the venue is not told a stop (from the record or 0), it keeps its own.
    assert_eq!(s.tpsl_orders(), vec![(p("110000"), None)]);
    let rec = s.store.user_positions(TelegramUserId(7), true).await.unwrap().remove(0);
    assert_eq!((rec.tp, rec.sl), (p("110000"), p("95000")));
    let user = s.store.get_or_create_user(User::new(TelegramUserId(7), ChatId(7), s.clock.now())).await.unwrap();
    let live = s.venue.positions(rec.account_or(crate::pipeline::account(&user))).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!((live[0].tp, live[0].sl), (p("110000"), p("95000")), "the paper book kept the stop");
}

#[tokio::test]
async fn a_change_accepted_but_not_visible_is_reported_and_not_recorded() {
    let s = sys().await;
    let open = serde_json::json!({"source":"strat","id":"o","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5","sl":"95000"});
    s.signal(open).await;
    s.venue.not_visible.store(true, Ordering::SeqCst);
    s.signal(serde_json::json!({"source":"strat","id":"t","action":"update_tpsl","pair":"BTC","side":"long","sl":"96000"})).await;
    assert_eq!(s.tpsl_orders().len(), 1, "sent once, not retried into a loop");
    let rec = s.store.user_positions(TelegramUserId(7), true).await.unwrap().remove(0);
    assert_eq!(rec.sl, p("95000"), "the record is not claimed updated");
    let intent = s.store.get_intent(&IntentId::parse("sig:strat:t").unwrap()).await.unwrap().unwrap();
    assert_eq!(intent.state, IntentState::Settled);
    let said: Vec<String> = s.chat.sent().into_iter().map(|m| m.html).collect();
    assert!(said.iter().any(|m| m.contains("not yet visible") && !m.contains("TP/SL updated")), "{said:?}");
    assert!(!said.iter().any(|m| m.contains("🎯 TP/SL updated")), "{said:?}");
}
