#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The pair catalog kept in the store (refreshed by the indexer, read by the signal API, the bot
//! and the worker; stale or absent fails opens closed, never exits), market hours, and the DRY
//! paper book shared by every instance.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::http::testing::{self, TestRequest};
use async_trait::async_trait;
use vanta_domain::DomainResult;
use vanta_domain::catalog::{CatalogSource, CatalogStore, MemoryCatalogStore};
use vanta_domain::ids::{ChatId, IntentId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::market::{MarketHours, PairCatalog, PairIndex, PairInfo, PairSymbol, Side};
use vanta_domain::memory::{DEFAULT_PAPER_EQUITY, FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::{Leverage, PercentP, Price, SlippageP, Usdc};
use vanta_domain::paper::MemoryPaperBook;
use vanta_domain::ports::*;
use vanta_domain::position::PositionStatus;
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{SecretText, SignalSource, User};
use vanta_runtime::Config;

use crate::{Deps, schedule, signals, telegram, worker};

const T0: i64 = 1_795_852_800_000;

fn pair(index: u16, sym: &str, group: u16) -> PairInfo {
    PairInfo {
        index: PairIndex(index),
        symbol: PairSymbol::parse(sym).unwrap(),
        group,
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

/// BTC (crypto, always open) and EUR/USD (forex, group 2: keeps hours).
fn catalog(eur: Option<MarketHours>) -> PairCatalog {
    let c = PairCatalog::new([pair(1, "BTC/USD", 0), pair(21, "EUR/USD", 2)]).unwrap();
    match eur {
        Some(h) => c.with_hours(PairIndex(21), h),
        None => c,
    }
}

/// The venue's catalog as the indexer reads it: switchable, counting reads.
struct Source {
    catalog: Mutex<PairCatalog>,
    down: std::sync::atomic::AtomicBool,
    reads: AtomicUsize,
}

#[async_trait]
impl CatalogSource for Source {
    async fn fetch_catalog(&self) -> DomainResult<PairCatalog> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(vanta_domain::DomainError::Unavailable("/v2/trading is down".into()));
        }
        Ok(self.catalog.lock().unwrap().clone())
    }
}

struct Sys {
    deps: Deps,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
    prices: Arc<FixedPrices>,
    source: Arc<Source>,
    catalogs: Arc<MemoryCatalogStore>,
    update: AtomicUsize,
}

fn sys() -> Sys {
    let config = Config::from_lookup(|k| (k == "TELEGRAM_WEBHOOK_SECRET").then(|| "s3cret".to_owned())).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    let open_hours = MarketHours { is_open: true, next_open: 0, next_close: 0 };
    let paper = Arc::new(PaperVenue::new(Arc::new(catalog(Some(open_hours))), prices.clone(), clock.clone()));
    let source = Arc::new(Source { catalog: Mutex::new(catalog(Some(open_hours))), down: false.into(), reads: AtomicUsize::new(0) });
    let catalogs = Arc::new(MemoryCatalogStore::new());
    let deps = Deps::new(config, store.clone(), queue.clone(), chat.clone(), clock.clone(), prices.clone(), paper)
        .with_catalog_store(catalogs.clone(), Some(source.clone()));
    let s = Sys { deps, store, queue, chat, clock, prices, source, catalogs, update: AtomicUsize::new(1) };
    s.set_prices();
    s
}

impl Sys {
    fn set_prices(&self) {
        let now = self.clock.now();
        for (sym, p) in [("BTC/USD", "100000"), ("EUR/USD", "1.1")] {
            for src in ["pyth", "chainlink"] {
                self.prices.set(PairSymbol::parse(sym).unwrap(), src, Price::from_str(p).unwrap(), now).unwrap();
            }
        }
    }
    async fn source(&self, owner: i64, secret: &str) {
        self.store.get_or_create_user(User::new(TelegramUserId(owner), ChatId(owner), self.clock.now())).await.unwrap();
        let s = SignalSource {
            id: SourceId::parse("strat").unwrap(),
            owner: TelegramUserId(owner),
            secret: SecretText::new(secret).into(),
            tv_token_hash: signals::token_hash("tv-strat"),
            active: true,
            created_at: self.clock.now(),
            rotated_at: None,
        };
        self.store.create_source(&s).await.unwrap();
    }
    async fn post(&self, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let body = body.to_string();
        let ts = self.clock.now().secs().to_string();
        let req = TestRequest::new("POST", "/signals")
            .with_header("X-Vanta-Timestamp", &ts)
            .with_header("X-Vanta-Signature", &signals::sign("k3y", &ts, body.as_bytes()))
            .with_body(body);
        let r = testing::call(&self.deps, req).await;
        (r.status, r.body_json())
    }
    async fn drain(&self) {
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
    async fn say(&self, user: i64, text: &str) {
        let id = self.update.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({"update_id": id, "message": {"message_id": id, "date": self.clock.now().secs(),
            "chat": {"id": user, "type": "private"}, "from": {"id": user, "is_bot": false, "first_name": "u"}, "text": text}});
        telegram::process_update(&self.deps, body.to_string().as_bytes()).await.unwrap();
    }
    fn texts_to(&self, chat: i64) -> Vec<String> {
        self.chat.sent().into_iter().filter(|m| m.chat == ChatId(chat)).map(|m| m.html).collect()
    }
    async fn open_positions(&self, user: i64) -> Vec<vanta_domain::position::Position> {
        self.store.user_positions(TelegramUserId(user), true).await.unwrap()
    }
}

fn open(id: &str, pair: &str) -> serde_json::Value {
    serde_json::json!({"source": "strat", "id": id, "action": "open", "pair": pair, "side": "long",
        "collateral_usdc": "100", "leverage": "5"})
}

fn close(id: &str, pair: &str) -> serde_json::Value {
    serde_json::json!({"source": "strat", "id": id, "action": "close", "pair": pair, "side": "long"})
}

// ----- the stored catalog ---------------------------------------------------------------------

#[tokio::test]
async fn the_signal_api_judges_pairs_by_the_stored_catalog_and_a_stale_one_refuses_only_opens() {
    let s = sys();
    s.source(7, "k3y").await;
    // Nothing stored yet: an open is not accepted (503, retry), an exit is.
    let (st, r) = s.post(&open("a1", "BTC/USD")).await;
    assert_eq!(st, 503, "{r}");
    assert_eq!(s.post(&close("a2", "BTC/USD")).await.0, 202);

    // The indexer stores the venue's catalog; the API now knows BTC and refuses DOGE by name.
    schedule::indexer_tick(&s.deps).await.unwrap();
    let stored = s.catalogs.get_catalog().await.unwrap().unwrap();
    assert_eq!((stored.fetched_at, stored.catalog.len()), (s.clock.now(), 2));
    assert_eq!(s.post(&open("a3", "BTC/USD")).await.0, 202);
    let (st, r) = s.post(&open("a4", "DOGE/USD")).await;
    assert_eq!(st, 422, "{r}");
    assert!(r.to_string().contains("DOGE/USD"), "{r}");

    // The venue stops answering; the stored copy serves until it is ten minutes old.
    s.source.down.store(true, Ordering::SeqCst);
    s.clock.advance(std::time::Duration::from_secs(9 * 60));
    schedule::indexer_tick(&s.deps).await.unwrap();
    s.set_prices();
    assert_eq!(s.post(&open("a5", "BTC/USD")).await.0, 202);
    s.clock.advance(std::time::Duration::from_secs(2 * 60));
    schedule::indexer_tick(&s.deps).await.unwrap();
    let (st, r) = s.post(&open("a6", "BTC/USD")).await;
    assert_eq!(st, 503, "{r}");
    assert!(s.store.get_intent(&IntentId::parse("sig:strat:a6").unwrap()).await.unwrap().is_none(), "nothing accepted");
    assert_eq!(s.post(&close("a7", "BTC/USD")).await.0, 202, "an exit is never refused for the catalog");

    // The venue is back: the next tick refreshes and opens are accepted at once.
    s.source.down.store(false, Ordering::SeqCst);
    schedule::indexer_tick(&s.deps).await.unwrap();
    assert_eq!(s.post(&open("a8", "BTC/USD")).await.0, 202);
}

#[tokio::test]
async fn a_stale_catalog_stops_the_worker_opening_but_never_closing() {
    let s = sys();
    s.source(7, "k3y").await;
    schedule::indexer_tick(&s.deps).await.unwrap();
    assert_eq!(s.post(&open("b1", "BTC/USD")).await.0, 202);
    s.drain().await;
    assert_eq!(s.open_positions(7).await.len(), 1);
    // Accepted while fresh, run after the catalog aged out: not opened (retried, never traded).
    assert_eq!(s.post(&open("b2", "BTC/USD")).await.0, 202);
    s.source.down.store(true, Ordering::SeqCst);
    s.clock.advance(std::time::Duration::from_secs(11 * 60));
    s.set_prices();
    s.drain().await;
    assert_eq!(s.open_positions(7).await.len(), 1, "no open on a stale catalog");
    assert_eq!(s.post(&close("b3", "BTC/USD")).await.0, 202);
    s.drain().await;
    assert!(s.open_positions(7).await.is_empty(), "the close ran on a stale catalog");
}

#[tokio::test]
async fn the_bot_proposes_no_open_without_a_fresh_catalog_and_says_why() {
    let s = sys();
    s.say(7, "/long btc 100 5x").await;
    let last = s.texts_to(7).pop().unwrap();
    assert!(last.contains("market list is unavailable"), "{last}");
    schedule::indexer_tick(&s.deps).await.unwrap();
    s.say(7, "/long btc 100 5x").await;
    let last = s.texts_to(7).pop().unwrap();
    assert!(!last.contains("unavailable") && last.contains("BTC/USD"), "{last}");
}

// ----- market hours ---------------------------------------------------------------------------

#[test]
fn market_hours_follow_the_sdk_rule() {
    let at = |s: i64| Timestamp(s * 1000);
    let closed = MarketHours { is_open: false, next_open: 2_000, next_close: 0 };
    assert!(!closed.is_open_at(at(1_999)));
    assert!(!closed.is_open_at(at(2_000)), "open only after next_open (strictly)");
    assert!(closed.is_open_at(Timestamp(2_000_001)));
    let open = MarketHours { is_open: true, next_open: 0, next_close: 5_000 };
    assert!(open.is_open_at(at(4_999)));
    assert!(!open.is_open_at(at(5_000)), "closed from next_close on");
    let c = catalog(Some(closed));
    let eur = c.resolve("EUR/USD").unwrap().clone();
    let why = c.market_closed(&eur, at(1_000)).unwrap();
    assert!(why.contains("EUR/USD market is closed") && why.contains("1970-01-01 00:33 UTC"), "{why}");
    // Crypto groups never close; an hours group without published hours counts as open (SDK).
    let btc = c.resolve("BTC/USD").unwrap().clone();
    let shut = catalog(None).with_hours(PairIndex(1), closed);
    assert_eq!(shut.market_closed(&btc, at(1_000)), None);
    assert_eq!(catalog(None).market_closed(&eur, at(1_000)), None);
}

#[tokio::test]
async fn a_closed_market_refuses_opens_with_the_reason_and_exits_still_run() {
    let s = sys();
    s.source(7, "k3y").await;
    schedule::indexer_tick(&s.deps).await.unwrap();
    assert_eq!(s.post(&open("c1", "EUR/USD")).await.0, 202);
    s.drain().await;
    assert_eq!(s.open_positions(7).await.len(), 1, "opened in market hours");

    // The weekend: the venue's feed says closed, reopening in two days.
    let reopen = u64::try_from(s.clock.now().secs()).unwrap() + 2 * 86_400;
    *s.source.catalog.lock().unwrap() = catalog(Some(MarketHours { is_open: false, next_open: reopen, next_close: 0 }));
    schedule::indexer_tick(&s.deps).await.unwrap();
    assert_eq!(s.post(&open("c2", "EUR/USD")).await.0, 202, "accepted; the worker decides with the reason");
    s.drain().await;
    assert_eq!(s.open_positions(7).await.len(), 1, "no open while the market is closed");
    let told = s.texts_to(7).join("\n");
    assert!(told.contains("EUR/USD market is closed") && told.contains("opens again"), "{told}");
    // BTC trades around the clock.
    assert_eq!(s.post(&open("c3", "BTC/USD")).await.0, 202);
    s.drain().await;
    assert_eq!(s.open_positions(7).await.len(), 2);
    // The bot refuses to propose it, with the reason.
    s.say(7, "/long eurusd 100 5x").await;
    let last = s.texts_to(7).pop().unwrap();
    assert!(last.contains("EUR/USD market is closed"), "{last}");
    // An exit is not refused by Vanta for market hours (the venue's own rules decide).
    assert_eq!(s.post(&close("c4", "EUR/USD")).await.0, 202);
    s.drain().await;
    let left = s.open_positions(7).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].pair.as_str(), "BTC/USD");
    let all = s.store.user_positions(TelegramUserId(7), false).await.unwrap();
    assert!(all.iter().any(|p| p.pair.as_str() == "EUR/USD" && p.status == PositionStatus::Closed));
}

// ----- the shared paper book ------------------------------------------------------------------

fn trader() -> TraderAddress {
    TraderAddress::paper([7u8; 20])
}

fn order_open(collateral: &str) -> VenueOrder {
    VenueOrder::Open {
        trader: trader(),
        pair: PairIndex(1),
        side: Side::Long,
        collateral: Usdc::from_str(collateral).unwrap(),
        leverage: Leverage::from_whole(5).unwrap(),
        reference_price: Price::from_str("100000").unwrap(),
        slippage: SlippageP::from_str("1").unwrap(),
        tp: None,
        sl: None,
    }
}

#[tokio::test]
async fn two_paper_venues_over_one_book_are_one_account() {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let prices = Arc::new(FixedPrices::new());
    let set = |p: &str| prices.set(PairSymbol::parse("BTC/USD").unwrap(), "pyth", Price::from_str(p).unwrap(), clock.now()).unwrap();
    set("100000");
    let book = Arc::new(MemoryPaperBook::new());
    let cat = Arc::new(catalog(None));
    let a = PaperVenue::new(cat.clone(), prices.clone(), clock.clone()).with_book(book.clone());
    let b = PaperVenue::new(cat, prices.clone(), clock.clone()).with_book(book);
    assert_eq!(a.equity(trader()).await.unwrap(), Some(DEFAULT_PAPER_EQUITY));

    let fill = a.execute(&IntentId::parse("o1").unwrap(), &order_open("1000")).await.unwrap();
    // Spread 0.01 %: half against the buyer. Fee 0.045 % of 5 000 notional = 2.25.
    assert_eq!(fill.price, Price::from_str("100005").unwrap());
    assert_eq!(fill.fee, Usdc::from_str("2.25").unwrap());
    let seen = b.positions(trader()).await.unwrap();
    assert_eq!(seen.len(), 1, "the other instance sees the open");
    assert_eq!(b.wallet_usdc(trader()).await.unwrap(), Some(Usdc::from_str("8997.75").unwrap()));
    assert_eq!(a.equity(trader()).await.unwrap(), b.equity(trader()).await.unwrap());
    assert_eq!(b.equity(trader()).await.unwrap(), Some(Usdc::from_str("9997.75").unwrap()));
    // The same order again, on the other instance: the recorded fill, nothing charged twice.
    let again = b.execute(&IntentId::parse("o1").unwrap(), &order_open("1000")).await.unwrap();
    assert_eq!(again, fill);
    assert_eq!(b.positions(trader()).await.unwrap().len(), 1);
    assert!(matches!(b.lookup(&IntentId::parse("o1").unwrap()).await.unwrap(), Lookup::Filled(f) if f == fill));

    // Closed on B at 101 000 (fill 100 994.95 after half the spread): PnL on 5 000 notional
    // from 100 005 is 49.495025…, floored; fee 2.25.
    set("101000");
    let close = VenueOrder::Close {
        trader: trader(),
        pair: PairIndex(1),
        trade_index: fill.trade_index,
        collateral: fill.collateral,
        known: Some(KnownPosition { side: Side::Long, leverage: fill.leverage, open_price: Some(fill.price), open_time: fill.open_time }),
    };
    let out = b.execute(&IntentId::parse("c1").unwrap(), &close).await.unwrap();
    assert_eq!(out.price, Price::from_str("100994.95").unwrap());
    assert!(a.positions(trader()).await.unwrap().is_empty(), "closed for both");
    let pnl = vanta_domain::position::pnl(Side::Long, fill.collateral, fill.leverage, fill.price, out.price).unwrap();
    assert_eq!(pnl.raw(), 49_495_025);
    let expect = 8_997_750_000 + 1_000_000_000 + 49_495_025 - 2_250_000;
    assert_eq!(a.equity(trader()).await.unwrap(), Some(Usdc::from_raw(expect)));
    assert_eq!(b.equity(trader()).await.unwrap(), Some(Usdc::from_raw(expect)));
}

#[tokio::test]
async fn a_paper_open_beyond_the_balance_is_refused_and_set_equity_is_shared() {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let prices = Arc::new(FixedPrices::new());
    prices.set(PairSymbol::parse("BTC/USD").unwrap(), "pyth", Price::from_str("100000").unwrap(), clock.now()).unwrap();
    let book = Arc::new(MemoryPaperBook::new());
    let a = PaperVenue::new(Arc::new(catalog(None)), prices.clone(), clock.clone()).with_book(book.clone());
    let b = PaperVenue::new(Arc::new(catalog(None)), prices, clock).with_book(book);
    a.set_equity(trader(), Usdc::from_str("500").unwrap()).await.unwrap();
    assert_eq!(b.equity(trader()).await.unwrap(), Some(Usdc::from_str("500").unwrap()));
    let e = b.execute(&IntentId::parse("big").unwrap(), &order_open("499")).await.unwrap_err();
    assert!(matches!(&e, vanta_domain::DomainError::Refused(m) if m.contains("paper balance")), "{e}");
    assert!(a.positions(trader()).await.unwrap().is_empty());
    assert!(matches!(a.lookup(&IntentId::parse("big").unwrap()).await.unwrap(), Lookup::NotExecuted));
}

// ----- the sequencer gate ---------------------------------------------------------------------

struct Uptime(Mutex<vanta_domain::sequencer::SequencerReading>);

#[async_trait]
impl vanta_domain::sequencer::SequencerStatus for Uptime {
    async fn status(&self) -> DomainResult<vanta_domain::sequencer::SequencerReading> {
        Ok(*self.0.lock().unwrap())
    }
}

#[tokio::test]
async fn a_sequencer_outage_blocks_opens_and_triggers_until_the_grace_period_has_passed() {
    use vanta_domain::sequencer::{SEQUENCER_GRACE, SequencerGated, SequencerReading};
    let mut s = sys();
    let up_long_ago = SequencerReading { up: true, since: Timestamp(T0 - 2 * 3_600_000) };
    let uptime = Arc::new(Uptime(Mutex::new(up_long_ago)));
    let gated: Arc<dyn Prices> = Arc::new(SequencerGated::new(s.prices.clone(), uptime.clone(), s.clock.clone()));
    s.deps.prices = gated.clone();
    let open_hours = MarketHours { is_open: true, next_open: 0, next_close: 0 };
    s.deps.paper = Arc::new(PaperVenue::new(Arc::new(catalog(Some(open_hours))), gated, s.clock.clone()));
    s.source(7, "k3y").await;
    schedule::indexer_tick(&s.deps).await.unwrap();
    let with_sl = serde_json::json!({"source": "strat", "id": "q1", "action": "open", "pair": "BTC/USD", "side": "long",
        "collateral_usdc": "100", "leverage": "5", "sl": "95000"});
    assert_eq!(s.post(&with_sl).await.0, 202);
    s.drain().await;
    assert_eq!(s.open_positions(7).await.len(), 1, "opened while the sequencer is up");

    // The sequencer goes down: an open is not made …
    *uptime.0.lock().unwrap() = SequencerReading { up: false, since: s.clock.now() };
    assert_eq!(s.post(&open("q2", "BTC/USD")).await.0, 202);
    s.drain().await;
    assert_eq!(s.open_positions(7).await.len(), 1, "no open while the sequencer is down");
    assert_ne!(
        s.store.get_intent(&IntentId::parse("sig:strat:q2").unwrap()).await.unwrap().unwrap().state,
        vanta_domain::intent::IntentState::Settled
    );
    // … and a price through the stop fires nothing.
    for src in ["pyth", "chainlink"] {
        s.prices.set(PairSymbol::parse("BTC/USD").unwrap(), src, Price::from_str("94000").unwrap(), s.clock.now()).unwrap();
    }
    let r = schedule::tpsl_tick(&s.deps).await.unwrap();
    assert!(r.triggered.is_empty(), "{r:?}");
    assert!(r.skipped_pairs.contains(&"BTC/USD".to_owned()), "{r:?}");
    // The stop is the paper venue's: its keeper trusts no price either.
    let r = schedule::indexer_tick(&s.deps).await.unwrap();
    assert!(!r.triggered.iter().any(|t| t.contains(":sl")), "{r:?}");
    s.drain().await;
    assert_eq!(s.open_positions(7).await.len(), 1);

    // Back up, but within the grace period: still nothing.
    s.clock.advance(std::time::Duration::from_secs(600));
    *uptime.0.lock().unwrap() = SequencerReading { up: true, since: s.clock.now() };
    s.clock.advance(SEQUENCER_GRACE - std::time::Duration::from_secs(1));
    for src in ["pyth", "chainlink"] {
        s.prices.set(PairSymbol::parse("BTC/USD").unwrap(), src, Price::from_str("94000").unwrap(), s.clock.now()).unwrap();
    }
    let r = schedule::indexer_tick(&s.deps).await.unwrap();
    assert!(!r.triggered.iter().any(|t| t.contains(":sl")), "no trigger within the grace period: {r:?}");
    assert!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.is_empty(), "no trigger within the grace period");
    assert_eq!(s.open_positions(7).await.len(), 1);

    // After the grace period the stop fires and the close runs.
    s.clock.advance(std::time::Duration::from_secs(2));
    for src in ["pyth", "chainlink"] {
        s.prices.set(PairSymbol::parse("BTC/USD").unwrap(), src, Price::from_str("94000").unwrap(), s.clock.now()).unwrap();
    }
    let r = schedule::indexer_tick(&s.deps).await.unwrap();
    assert!(r.triggered.iter().any(|t| t.ends_with(":sl:closed-on-venue")), "{r:?}");
    s.drain().await;
    assert!(s.open_positions(7).await.is_empty(), "stopped out by the paper venue once prices are trusted");
}

#[test]
fn an_unreadable_or_fresh_sequencer_status_is_not_trusted() {
    use vanta_domain::sequencer::{SEQUENCER_GRACE, SequencerReading, untrusted};
    let now = Timestamp(T0);
    assert!(untrusted(&SequencerReading { up: false, since: Timestamp(0) }, now, SEQUENCER_GRACE).unwrap().contains("down"));
    let just_back = SequencerReading { up: true, since: Timestamp(T0 - 3_599_000) };
    assert!(untrusted(&just_back, now, SEQUENCER_GRACE).unwrap().contains("came back 3599 s ago"));
    assert_eq!(untrusted(&SequencerReading { up: true, since: Timestamp(T0 - 3_600_000) }, now, SEQUENCER_GRACE), None);
}
