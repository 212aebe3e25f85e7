//! The TP/SL tick over the trigger index (issue 11 item 2): it reads only the crossed levels,
//! follows every position write, trails fire at their price while a new extreme writes one item,
//! prices are fetched once per pair and concurrently, and a store from before the index is
//! backfilled without missing a trigger meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use vanta_domain::DomainResult;
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{ChatId, IntentId, PositionId, TelegramUserId};
use vanta_domain::market::{PairCatalog, PairIndex, PairSymbol, Side};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::{Bps, Leverage, Price, Usdc};
use vanta_domain::paper::{MemoryPaperBook, PaperAccount, PaperStore};
use vanta_domain::ports::*;
use vanta_domain::position::{Position, PositionStatus, TrailingStop};
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::User;
use vanta_runtime::Config;

use crate::tests_support::pair;
use crate::{Deps, schedule, tpsl_index};

const T0: i64 = 1_795_852_800_000;

fn px(s: &str) -> Price {
    Price::from_str(s).unwrap()
}

/// Prices that count fetches per pair and how many were in flight at once.
struct Counted {
    inner: Arc<FixedPrices>,
    calls: Mutex<BTreeMap<String, usize>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

#[async_trait]
impl Prices for Counted {
    async fn quotes(&self, pair: &PairSymbol) -> DomainResult<Vec<PriceQuote>> {
        *self.calls.lock().unwrap().entry(pair.to_string()).or_default() += 1;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        // Not a wait for anything: the fetch is held open so that overlapping fetches are
        // counted (the concurrency bound is what the test checks).
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.inner.quotes(pair).await
    }
}

struct Sys {
    deps: Deps,
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    prices: Arc<FixedPrices>,
    counted: Arc<Counted>,
    queue: Arc<MemoryQueue>,
    book: Arc<MemoryPaperBook>,
}

const SYMBOLS: [&str; 12] =
    ["BTC/USD", "ETH/USD", "SOL/USD", "ARB/USD", "OP/USD", "DOGE/USD", "LINK/USD", "AVAX/USD", "XRP/USD", "BNB/USD", "LTC/USD", "ADA/USD"];

fn sys() -> Sys {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    let counted = Arc::new(Counted {
        inner: prices.clone(),
        calls: Mutex::default(),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    });
    let catalog = PairCatalog::new(SYMBOLS.iter().enumerate().map(|(i, s)| pair(i as u16, s))).unwrap();
    let book = Arc::new(MemoryPaperBook::new());
    let paper = Arc::new(PaperVenue::new(Arc::new(catalog), prices.clone(), clock.clone()).with_book(book.clone()));
    let config = Config::from_lookup(|_| None).unwrap();
    let deps = Deps::new(config, store.clone(), queue.clone(), chat, clock.clone(), counted.clone(), paper);
    let s = Sys { deps, store, clock, prices, counted, queue, book };
    for sym in SYMBOLS {
        s.set_price(sym, "100000");
    }
    s
}

impl Sys {
    fn set_price(&self, sym: &str, p: &str) {
        let now = self.clock.now();
        self.prices.set(PairSymbol::parse(sym).unwrap(), "pyth", px(p), now).unwrap();
        self.prices.set(PairSymbol::parse(sym).unwrap(), "chainlink", px(p), now).unwrap();
    }
    /// Records an open DRY position (as the pipeline's settle would, on a paper account that
    /// holds its trade) and its user.
    async fn open(&self, n: usize, sym: &str, side: Side, tp: Option<&str>, sl: Option<&str>) -> Position {
        let p = self.record(n, sym, side, tp, sl).await;
        let wallet = p.wallet.unwrap();
        let mut acct = self.book.paper_account(wallet).await.unwrap().unwrap_or_else(|| PaperAccount::fresh(wallet));
        acct.positions.push(VenuePosition {
            trader: wallet,
            pair: p.pair_index,
            trade_index: p.trade_index.unwrap(),
            side,
            collateral: p.collateral,
            leverage: p.leverage,
            open_price: p.open_price,
            tp: p.tp,
            sl: p.sl,
            open_time: None,
        });
        self.book.commit_paper(&acct, None).await.unwrap();
        p
    }
    /// Records an open DRY position on a wallet whose paper book does not hold its trade (one
    /// recorded before the book was stored).
    async fn record(&self, n: usize, sym: &str, side: Side, tp: Option<&str>, sl: Option<&str>) -> Position {
        let user = TelegramUserId(7);
        self.store.get_or_create_user(User::new(user, ChatId(7), self.clock.now())).await.unwrap();
        let p = Position {
            id: PositionId::parse(&format!("pos:t:{n}")).unwrap(),
            user,
            pair: PairSymbol::parse(sym).unwrap(),
            pair_index: PairIndex(SYMBOLS.iter().position(|s| *s == sym).unwrap() as u16),
            trade_index: Some(n as u32),
            side,
            collateral: Usdc::from_str("100").unwrap(),
            leverage: Leverage::from_whole(2).unwrap(),
            open_price: px("100000"),
            tp: tp.map(px),
            sl: sl.map(px),
            mode: ExecMode::Dry,
            status: PositionStatus::Open,
            opened_by: IntentId::parse(&format!("sig:t:{n}")).unwrap(),
            opened_at: self.clock.now(),
            closed_at: None,
            close_price: None,
            realised_pnl: None,
            fees: Usdc::ZERO,
            closing: None,
            last_close: None,
            last_close_fraction: None,
            trail: None,
            wallet: Some(vanta_domain::ids::TraderAddress::new(alloy_primitives::Address::repeat_byte(0x07)).unwrap()),
            venue_open_time: None,
            copy_of: None,
            version: 0,
        };
        self.store.insert_position(&p).await.unwrap();
        p
    }
    async fn get(&self, p: &Position) -> Position {
        self.store.get_position(p.user, &p.id).await.unwrap().unwrap()
    }
    async fn tick(&self) -> schedule::TickReport {
        schedule::tpsl_tick(&self.deps).await.unwrap()
    }
}

fn fired(r: &schedule::TickReport) -> Vec<String> {
    let mut v = r.triggered.clone();
    v.sort();
    v
}

#[tokio::test]
async fn a_tick_examines_only_the_positions_whose_level_was_crossed() {
    let s = sys();
    for n in 0..300 {
        let (side, tp) = if n % 2 == 0 { (Side::Long, "150000") } else { (Side::Short, "50000") };
        s.open(n, SYMBOLS[n % 3], side, Some(tp), None).await;
    }
    // Long TP at the price, short SL at the price, long SL one tick below (not crossed).
    s.open(1_000, "BTC/USD", Side::Long, Some("100000"), None).await;
    s.open(1_001, "BTC/USD", Side::Short, None, Some("100000")).await;
    let below = Price::from_raw(px("100000").raw() - 1).to_string();
    s.open(1_002, "BTC/USD", Side::Long, None, Some(&below)).await;
    // TP, SL and liquidation are the venue's (the paper venue's keeper for DRY): the tick reads
    // only the crossed positions and fires none of them.
    let r = s.tick().await;
    assert!(fired(&r).is_empty(), "{r:?}");
    assert_eq!(r.live_positions, 2, "only the two crossed positions were read: {r:?}");
    assert_eq!(s.queue.len(), 0, "no close intent");
    s.set_price("BTC/USD", &below);
    let r = s.tick().await;
    assert!(r.live_positions >= 1, "the stop one tick below is crossed now: {r:?}");
    assert!(r.triggered.is_empty(), "{r:?}");
}

#[tokio::test]
async fn the_index_follows_tp_changes_and_closes() {
    let s = sys();
    let p = s.open(1, "ETH/USD", Side::Long, Some("120000"), None).await;
    assert!(s.tick().await.triggered.is_empty());
    crate::pipeline::modify_position(&s.deps, p.user, &p.id, |q| {
        q.tp = Some(px("99000"));
        true
    })
    .await
    .unwrap();
    let r = s.tick().await;
    assert_eq!(r.live_positions, 1, "the moved take-profit is found: {r:?}");
    assert!(r.triggered.is_empty(), "and left to the venue: {r:?}");
    // A position that is no longer open is not examined (its entries went with the write).
    let mut q = s.get(&p).await;
    q.status = PositionStatus::Closed;
    s.store.update_position(&q, PositionStatus::Open).await.unwrap();
    let r = s.tick().await;
    assert!(r.triggered.is_empty());
    assert_eq!(r.live_positions, 0);
}

#[tokio::test]
async fn a_dry_trade_missing_from_its_paper_book_has_its_crossed_levels_fired_by_the_tick() {
    let s = sys();
    // Held by the paper book: the keeper's to fire. Missing from it: nobody else would.
    let held = s.open(1, "BTC/USD", Side::Long, Some("100000"), None).await;
    let tp = s.record(2, "BTC/USD", Side::Long, Some("100000"), None).await;
    let sl = s.record(3, "ETH/USD", Side::Short, None, Some("100000")).await;
    let uncrossed = s.record(4, "SOL/USD", Side::Long, Some("150000"), Some("50000")).await;
    // Closed by the keeper a moment ago and not yet recorded by the reconciler: its close is
    // the reconciler's to record, the tick queues none.
    let closed = s.record(5, "ARB/USD", Side::Long, Some("100000"), None).await;
    let wallet = closed.wallet.unwrap();
    let mut acct = s.book.paper_account(wallet).await.unwrap().unwrap();
    acct.record_close(vanta_domain::recon::VenueClose {
        id: "paper-close-5".into(),
        pair: closed.pair_index,
        trade_index: closed.trade_index.unwrap(),
        open_time: None,
        side: Side::Long,
        price: px("100000"),
        collateral: closed.collateral,
        remaining: Usdc::ZERO,
        fee: Usdc::ZERO,
        net_pnl: vanta_domain::money::SignedUsdc::ZERO,
        reason: vanta_domain::recon::CloseReason::TakeProfit,
        at: s.clock.now(),
    });
    s.book.commit_paper(&acct, None).await.unwrap();
    let r = s.tick().await;
    assert_eq!(fired(&r), vec![format!("{}:tp", tp.id), format!("{}:sl", sl.id)], "{r:?}");
    assert_eq!(s.queue.len(), 2, "one close each");
    for quiet in [&held, &uncrossed, &closed] {
        assert!(!fired(&r).iter().any(|t| t.starts_with(&format!("{}:", quiet.id))), "{} fired: {r:?}", quiet.id);
    }
    // Redelivered ticks queue no second close.
    s.tick().await;
    assert_eq!(s.queue.len(), 2, "{:?}", s.queue.len());
}

#[tokio::test]
async fn a_trail_fires_at_its_price_and_a_new_extreme_rewrites_no_position() {
    let s = sys();
    let mut trails = Vec::new();
    for n in 0..50 {
        let p = s.open(n, "BTC/USD", Side::Long, None, None).await;
        schedule::set_trail(&s.deps, p.user, &p.id, Some(Bps::new(100).unwrap())).await.unwrap();
        trails.push(s.get(&p).await);
    }
    let wide = s.open(99, "BTC/USD", Side::Long, None, None).await;
    schedule::set_trail(&s.deps, wide.user, &wide.id, Some(Bps::new(200).unwrap())).await.unwrap();
    let btc = PairSymbol::parse("BTC/USD").unwrap();
    let book_version = |s: &Sys| {
        let store = s.store.clone();
        let btc = btc.clone();
        async move { store.get_trail_book(&btc, Side::Long).await.unwrap().unwrap().version }
    };
    let before = book_version(&s).await;
    for price in ["101000", "102000"] {
        s.set_price("BTC/USD", price);
        assert!(s.tick().await.triggered.is_empty());
    }
    assert_eq!(book_version(&s).await, before + 2, "one book write per new extreme");
    for t in &trails {
        assert_eq!(s.get(t).await.version, t.version, "no trailing position was rewritten");
    }
    assert_eq!(schedule::trail_now(&s.deps, &trails[0]).await.unwrap().unwrap().best, px("102000"));
    // 1 % behind 102000 is 100980.
    s.set_price("BTC/USD", "100981");
    assert!(s.tick().await.triggered.is_empty(), "one tick above the level holds");
    s.set_price("BTC/USD", "100980");
    let r = s.tick().await;
    assert_eq!(r.triggered.len(), 50, "{r:?}");
    assert!(r.triggered.iter().all(|t| t.ends_with(":trail")));
    assert!(!r.triggered.iter().any(|t| t.starts_with("pos:t:99:")), "the 2 % trail holds");
    assert_eq!(s.queue.len(), 50, "one close each");
}

#[tokio::test]
async fn a_trail_set_below_the_extreme_follows_only_what_it_saw() {
    let s = sys();
    let a = s.open(1, "SOL/USD", Side::Long, None, None).await;
    schedule::set_trail(&s.deps, a.user, &a.id, Some(Bps::new(100).unwrap())).await.unwrap();
    s.set_price("SOL/USD", "105000");
    s.tick().await;
    s.set_price("SOL/USD", "104500");
    assert!(s.tick().await.triggered.is_empty(), "A's stop is at 103950");
    let b = s.open(2, "SOL/USD", Side::Long, None, None).await;
    schedule::set_trail(&s.deps, b.user, &b.id, Some(Bps::new(100).unwrap())).await.unwrap();
    assert_eq!(schedule::trail_now(&s.deps, &s.get(&b).await).await.unwrap().unwrap().best, px("104500"), "not A's 105000");
    s.set_price("SOL/USD", "103900");
    assert_eq!(fired(&s.tick().await), ["pos:t:1:trail"], "B's stop is at 103455");
    // A new high reaches both epochs: they share it from now on.
    s.set_price("SOL/USD", "106000");
    s.tick().await;
    let book = s.store.get_trail_book(&a.pair, Side::Long).await.unwrap().unwrap();
    assert_eq!(book.runs.len(), 1);
    assert_eq!(schedule::trail_now(&s.deps, &s.get(&b).await).await.unwrap().unwrap().best, px("106000"));
}

#[tokio::test]
async fn a_short_trail_mirrors_a_long_one() {
    let s = sys();
    let p = s.open(1, "ETH/USD", Side::Short, None, None).await;
    schedule::set_trail(&s.deps, p.user, &p.id, Some(Bps::new(100).unwrap())).await.unwrap();
    s.set_price("ETH/USD", "98000");
    assert!(s.tick().await.triggered.is_empty());
    s.set_price("ETH/USD", "98979"); // 1 % above 98000 is 98980
    assert!(s.tick().await.triggered.is_empty());
    s.set_price("ETH/USD", "98980");
    assert_eq!(fired(&s.tick().await), ["pos:t:1:trail"]);
}

#[tokio::test]
async fn prices_are_fetched_once_per_pair_and_concurrently() {
    let s = sys();
    for (n, sym) in SYMBOLS.iter().enumerate() {
        s.open(n, sym, Side::Long, Some("150000"), None).await;
        s.open(100 + n, sym, Side::Short, Some("50000"), None).await;
    }
    s.tick().await;
    let calls = s.counted.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), SYMBOLS.len());
    assert!(calls.values().all(|c| *c == 1), "{calls:?}");
    let most = s.counted.max_in_flight.load(Ordering::SeqCst);
    assert!(most > 1 && most <= tpsl_index::PRICE_CONCURRENCY, "{most} fetches at once");
}

#[tokio::test]
async fn a_store_from_before_the_index_is_backfilled_and_nothing_is_missed_meanwhile() {
    let s = sys();
    for n in 0..tpsl_index::BACKFILL_PAGE + 1 {
        s.open(n, "BTC/USD", Side::Long, Some("150000"), None).await;
    }
    // A trail recorded before the book (no epoch) on a crossed-TP position's neighbour.
    let legacy = s.open(9_000, "BTC/USD", Side::Long, None, None).await;
    let mut q = s.get(&legacy).await;
    q.trail = Some(TrailingStop { distance: Bps::new(100).unwrap(), best: px("100000"), epoch: None });
    s.store.update_position(&q, PositionStatus::Open).await.unwrap();
    s.store.put_index_state(&IndexState::default()).await.unwrap();
    // First tick: a page is indexed, and the tick still reads every live position.
    s.set_price("BTC/USD", "101000");
    let r = s.tick().await;
    assert_eq!(r.live_positions, tpsl_index::BACKFILL_PAGE + 2, "the full read, as before the index");
    let state = s.store.index_state().await.unwrap();
    assert_eq!(state.version, 0);
    assert!(state.cursor.is_some());
    // The legacy trail followed the price (on its own record, or in the book once anchored).
    assert_eq!(schedule::trail_now(&s.deps, &s.get(&legacy).await).await.unwrap().unwrap().best, px("101000"));
    s.tick().await;
    assert_eq!(s.store.index_state().await.unwrap().version, vanta_domain::triggers::INDEX_VERSION);
    let anchored = s.get(&legacy).await.trail.unwrap();
    assert!(anchored.epoch.is_some(), "the backfill anchored the trail at its best");
    // Indexed from here on: the trail fires at 1 % behind its best.
    s.set_price("BTC/USD", "99990");
    let r = s.tick().await;
    assert_eq!(fired(&r), ["pos:t:9000:trail"]);
    assert_eq!(r.live_positions, 1);
}

#[tokio::test]
async fn the_tick_reads_the_closing_positions_only() {
    let s = sys();
    let p = s.open(1, "BTC/USD", Side::Long, None, None).await;
    s.open(2, "BTC/USD", Side::Long, None, None).await;
    let mut q = s.get(&p).await;
    q.status = PositionStatus::Closing;
    s.store.update_position(&q, PositionStatus::Open).await.unwrap();
    let closing = s.store.closing_positions().await.unwrap();
    assert_eq!(closing.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["pos:t:1"]);
    assert_eq!(s.tick().await.live_positions, 1, "the closing one, and no open position");
}
