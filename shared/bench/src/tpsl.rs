//! The TP/SL tick ([`vanta_app::schedule::tpsl_tick`]) over books of open DRY longs spread over
//! the three pairs. Every fourth position has a trailing stop (anchored in its pair's trail book,
//! 5 % behind), `triggering` of them have crossed their exit: a 1 % trail in an older trail epoch
//! whose extreme is 2 % above it (take-profit and stop-loss are the venue's, the paper venue's
//! keeper for DRY, so the tick fires trailing stops only). Each size gets a fresh
//! store and one warm-up tick (which queues the closes); then `repeats` rounds of measured ticks
//! go round all the books, one tick each (they find the closes queued and send nothing new), so
//! every size is measured under the same conditions at the same time. Before each measured tick every price
//! rises by one bp, a new extreme for every trailing stop: the tick moves the pair's trail book
//! (one item) and must not rewrite a trailing position. The figures are the median tick, and
//! one measured tick's store reads and writes (calls and items).
//!
//! Method. Every book is built before any is measured, and the measured ticks go round the
//! books, so a burst of load on the machine falls on every size alike; the figure is the median
//! of `repeats` (31 in `make bench`). Measuring each size in turn, 5 ticks right after building
//! its book, made the 100k tick look 2.3× the 1k one (0.08 → 0.18 ms) while its reads were
//! flat: the tick itself does not grow. 20 000 ticks in a row at 1k and at 100k take 0.114 and
//! 0.120 ms (median), and nothing in the tick path is O(n): per pair and side it asks the index
//! for crossed levels only, reads one trail book, and re-reads the crossed positions.
//!
//! Time split: the tick's time is reported whole and outside the store (whole tick minus the
//! time spent inside the store's calls, timed by the counting wrapper): the part outside is the
//! product's own CPU (it includes the tokio task hand-offs of the concurrent price fetches); the
//! part inside is the in-memory twin's `BTreeMap` lookups, O(log n), which production does not
//! pay (on DynamoDB a keyed read or a range query costs its round trip and the items it returns,
//! what the item counts show). The flatness goal is read on both; neither figure is adjusted.
//!
//! The baseline is the work a tick needs at the least: a tick over a book holding only the
//! triggering positions (with the same trail books).

use std::str::FromStr;
use std::time::{Duration, Instant};

use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, PositionId, TelegramUserId};
use vanta_domain::market::{PairIndex, PairSymbol, Side};
use vanta_domain::money::{Bps, Leverage, Price, Usdc};
use vanta_domain::ports::{PositionStore, TriggerStore};
use vanta_domain::position::{Position, PositionStatus, TrailingStop};
use vanta_domain::time::Clock;
use vanta_domain::triggers::TrailBook;

use crate::counting::{Count, Totals};
use crate::world::{PAIRS, World};
use crate::{Report, Row, median, ms};

/// Users the book is spread over (positions per user stay realistic).
const USERS: usize = 1_000;

/// One position in this many has a trailing stop.
pub const TRAIL_EVERY: usize = 4;
/// The trailing stops that do not fire: 5 % behind the newest extreme.
const TRAIL_BPS: u32 = 500;
/// The trailing stops that fire: 1 % behind an older extreme 2 % above the price.
const FIRING_TRAIL_BPS: u32 = 100;
const OLD_EXTREME_BPS: u64 = 10_200;

/// The trail epochs of each pair's book: the older run (extreme 2 % above) and the newest.
const OLD_EPOCH: u64 = 1;
const NEW_EPOCH: u64 = 2;

/// What one book size measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tick {
    pub open_positions: usize,
    pub trailing_positions: usize,
    pub median_ms: f64,
    /// The median tick's time spent outside the store (the product's own work).
    pub median_outside_store_ms: f64,
    /// The median of the time spent inside the store per tick.
    pub median_store_ms: f64,
    pub triggered: usize,
    /// One measured tick's store calls and items (reads and writes).
    pub store: Totals,
    pub by_method: std::collections::BTreeMap<&'static str, Count>,
    /// Messages the measured tick sent (each an SQS request in production).
    pub queue_sends: u64,
    /// Measured ticks whose price was a new extreme that moved every pair's trail book.
    pub extremes_moved: usize,
}

fn price_of(raw: u64, bps: u64) -> Price {
    Price::from_raw(raw / 10_000 * bps)
}

/// The trail book of each pair: an older run whose extreme is 2 % above the price, and the
/// newest, at the price.
async fn books(world: &World) -> Result<(), String> {
    for (_, sym, price) in PAIRS {
        let raw = Price::from_str(price).map_err(|e| e.to_string())?.raw();
        let mut book = TrailBook::default();
        let old = book.join(Side::Long, price_of(raw, OLD_EXTREME_BPS));
        let new = book.join(Side::Long, price_of(raw, 10_000));
        if (old, new) != (OLD_EPOCH, NEW_EPOCH) {
            return Err(format!("tpsl bench: trail book epochs {old}, {new}"));
        }
        world
            .store
            .put_trail_book(&PairSymbol::parse(sym).map_err(|e| e.to_string())?, Side::Long, &book)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Inserts `n` positions; the answer is how many have a trailing stop.
async fn book(world: &World, n: usize, triggering: usize) -> Result<usize, String> {
    books(world).await?;
    let mut trailing = 0;
    for k in 0..n {
        let Some(&(index, sym, price)) = PAIRS.get(k % PAIRS.len()) else { continue };
        let price = Price::from_str(price).map_err(|e| e.to_string())?;
        let user = TelegramUserId((k % USERS) as i64 + 1);
        if k < USERS {
            world.user(user.0).await?;
        }
        let raw = price.raw();
        // A long at the current price: stop-loss 10 % below, take-profit 10 % above, and (for
        // the triggering ones) a trail that has fired. Take-profit and stop-loss are the
        // venue's (the paper venue's keeper for DRY): the tick fires trailing stops only.
        let firing_trail = k < triggering;
        let tp = price_of(raw, 11_000);
        let trail = if firing_trail {
            Some(TrailingStop {
                distance: Bps::new(FIRING_TRAIL_BPS).map_err(|e| e.to_string())?,
                best: price_of(raw, OLD_EXTREME_BPS),
                epoch: Some(OLD_EPOCH),
            })
        } else if k % TRAIL_EVERY == TRAIL_EVERY - 1 {
            Some(TrailingStop { distance: Bps::new(TRAIL_BPS).map_err(|e| e.to_string())?, best: price, epoch: Some(NEW_EPOCH) })
        } else {
            None
        };
        trailing += usize::from(trail.is_some());
        let p = Position {
            id: PositionId::parse(&format!("pos:bench:{k}")).map_err(|e| e.to_string())?,
            user,
            pair: PairSymbol::parse(sym).map_err(|e| e.to_string())?,
            pair_index: PairIndex(index),
            trade_index: Some((k % 40) as u32),
            side: Side::Long,
            collateral: Usdc::from_str("100").map_err(|e| e.to_string())?,
            leverage: Leverage::from_whole(5).map_err(|e| e.to_string())?,
            open_price: price,
            tp: Some(tp),
            sl: Some(price_of(raw, 9_000)),
            mode: ExecMode::Dry,
            status: PositionStatus::Open,
            opened_by: IntentId::parse(&format!("sig:bench:o{k}")).map_err(|e| e.to_string())?,
            opened_at: world.clock.now(),
            closed_at: None,
            close_price: None,
            realised_pnl: None,
            fees: Usdc::ZERO,
            closing: None,
            last_close: None,
            last_close_fraction: None,
            trail,
            // On a paper account, as the pipeline records a DRY position (its TP and SL are the
            // paper venue's to fire; the tick fires the trails).
            wallet: Some(vanta_domain::ids::TraderAddress::new(alloy_primitives::Address::repeat_byte(0x07)).map_err(|e| e.to_string())?),
            venue_open_time: None,
            copy_of: None,
            version: 0,
        };
        world.store.insert_position(&p).await.map_err(|e| e.to_string())?;
    }
    Ok(trailing)
}

/// Every pair's price `bps_up` bps above its base price.
fn set_prices(world: &World, bps_up: u64) -> Result<(), String> {
    for (_, sym, price) in PAIRS {
        let raw = Price::from_str(price).map_err(|e| e.to_string())?.raw();
        world.set_price_at(sym, price_of(raw, 10_000 + bps_up))?;
    }
    Ok(())
}

/// The newest extreme of each pair's long trail book (read past the counters).
async fn extremes(world: &World) -> Result<Vec<Option<Price>>, String> {
    let mut out = Vec::new();
    for (_, sym, _) in PAIRS {
        let pair = PairSymbol::parse(sym).map_err(|e| e.to_string())?;
        let book = world.store.inner().get_trail_book(&pair, Side::Long).await.map_err(|e| e.to_string())?;
        out.push(book.and_then(|b| b.runs.last().map(|r| r.extreme)));
    }
    Ok(out)
}

fn ns(d: u64) -> Duration {
    Duration::from_nanos(d)
}

/// One book under measurement: its world and what its measured ticks gave so far.
struct Bench {
    world: World,
    open: usize,
    trailing: usize,
    times: Vec<Duration>,
    outside: Vec<Duration>,
    inside: Vec<Duration>,
    store: Totals,
    by_method: std::collections::BTreeMap<&'static str, Count>,
    triggered: usize,
    queue_sends: u64,
    extremes_moved: usize,
}

/// A fresh store with the book, after its warm-up tick (which queues the closes).
async fn prepare(n: usize, triggering: usize) -> Result<Bench, String> {
    let world = World::new(&[])?;
    let trailing = book(&world, n, triggering).await?;
    let warm = vanta_app::schedule::tpsl_tick(&world.deps).await.map_err(|e| e.to_string())?;
    if warm.triggered.len() != triggering {
        return Err(format!("tpsl bench: {} of {triggering} positions triggered: {:?}", warm.triggered.len(), warm.triggered));
    }
    Ok(Bench {
        world,
        open: n,
        trailing,
        times: Vec::new(),
        outside: Vec::new(),
        inside: Vec::new(),
        store: Totals::default(),
        by_method: Default::default(),
        triggered: 0,
        queue_sends: 0,
        extremes_moved: 0,
    })
}

/// Measured tick `i` (1, 2, ...): every price `i` bps above its base, a new extreme.
async fn step(b: &mut Bench, i: usize) -> Result<(), String> {
    let world = &b.world;
    set_prices(world, i as u64)?;
    let before = extremes(world).await?;
    world.store.reset();
    let sent = world.sends.sent();
    let t = Instant::now();
    let r = vanta_app::schedule::tpsl_tick(&world.deps).await.map_err(|e| e.to_string())?;
    let took = t.elapsed();
    b.store = world.store.totals();
    b.times.push(took);
    b.inside.push(ns(b.store.store_nanos));
    b.outside.push(took.saturating_sub(ns(b.store.store_nanos)));
    b.by_method = world.store.counts();
    b.queue_sends = world.sends.sent() - sent;
    b.triggered = r.triggered.len();
    let after = extremes(world).await?;
    b.extremes_moved += usize::from(before.iter().zip(&after).all(|(x, y)| x != y && y.is_some()));
    Ok(())
}

impl Bench {
    fn result(self) -> Tick {
        Tick {
            open_positions: self.open,
            trailing_positions: self.trailing,
            median_ms: ms(median(self.times)),
            median_outside_store_ms: ms(median(self.outside)),
            median_store_ms: ms(median(self.inside)),
            triggered: self.triggered,
            store: self.store,
            by_method: self.by_method,
            queue_sends: self.queue_sends,
            extremes_moved: self.extremes_moved,
        }
    }
}

pub async fn run(report: &mut Report, books: &[usize], triggering: usize, repeats: usize) -> Result<(), String> {
    // Every book is built first, then the measured ticks go round the books (ideal, 1k, 10k,
    // 100k, ideal, ...): each size is measured under the same machine conditions, and a burst
    // of load from elsewhere falls on all of them alike.
    let mut benches = vec![prepare(triggering, triggering).await?];
    for &n in books {
        benches.push(prepare(n, triggering).await?);
    }
    for i in 1..=repeats.max(1) {
        for b in &mut benches {
            step(b, i).await?;
        }
    }
    let mut results = benches.into_iter().map(Bench::result);
    let ideal = results.next().ok_or("tpsl bench: no baseline")?;
    let ticks: Vec<Tick> = results.collect();
    let s = "tpsl tick";
    let of = format!("{triggering} triggering positions alone");
    for t in &ticks {
        let head = format!("{} open ({} trailing)", t.open_positions, t.trailing_positions);
        report
            .rows
            .push(Row::new(s, format!("{head}, {} triggering: time", t.triggered), t.median_ms, "ms").against(ideal.median_ms, of.clone()));
        report.rows.push(
            Row::new(s, format!("{} open: time outside the store (product CPU)", t.open_positions), t.median_outside_store_ms, "ms")
                .against(ideal.median_outside_store_ms, of.clone()),
        );
        report.rows.push(
            Row::new(s, format!("{} open: store items read", t.open_positions), t.store.items_read as f64, "items")
                .against(ideal.store.items_read as f64, of.clone()),
        );
        report.rows.push(
            Row::new(s, format!("{} open, new extreme: store items written", t.open_positions), t.store.items_written as f64, "items")
                .against(ideal.store.items_written as f64, of.clone()),
        );
        report.rows.push(
            Row::new(
                s,
                format!("{} open, new extreme: items written per trailing position", t.open_positions),
                t.store.items_written as f64,
                "items",
            )
            .against(t.trailing_positions as f64, format!("{} trailing positions", t.trailing_positions)),
        );
    }
    if let (Some(first), Some(last)) = (ticks.first(), ticks.last())
        && ticks.len() > 1
    {
        report.rows.push(
            Row::new(s, format!("time at {} open", last.open_positions), last.median_ms, "ms")
                .against(first.median_ms, format!("time at {} open", first.open_positions))
                .goal("≤ 1.20 (flat within 20 %)"),
        );
        report.rows.push(
            Row::new(s, format!("time outside the store at {} open", last.open_positions), last.median_outside_store_ms, "ms")
                .against(first.median_outside_store_ms, format!("same at {} open", first.open_positions))
                .goal("≤ 1.20 (flat within 20 %)"),
        );
    }
    report.details.insert(
        "tpsl".into(),
        serde_json::json!({
            "ideal": ideal, "ticks": ticks,
            "per_tick": ticks.first().map(|t| crate::cost::PerUnit::of_run(1, t.median_ms, &t.store, t.queue_sends, 0, 0)),
            "method": "median of the measured ticks; time outside the store = whole tick − time inside the store's calls (timed by the counting wrapper)",
        }),
    );
    Ok(())
}
