//! The TP/SL tick ([`vanta_app::schedule::tpsl_tick`]) over books of open DRY positions spread
//! over the three pairs, none with a trailing stop, `triggering` of them with a take-profit the
//! current price has crossed. Each size gets a fresh store; one warm-up tick (which queues the
//! closes) is followed by `repeats` measured ticks (which find the closes queued and send
//! nothing new): the figure is the median, and the store reads are one measured tick's.
//!
//! The baseline is the work a tick needs at the least: a tick over a book holding only the
//! triggering positions.

use std::str::FromStr;
use std::time::Instant;

use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, PositionId, TelegramUserId};
use vanta_domain::market::{PairIndex, PairSymbol, Side};
use vanta_domain::money::{Leverage, Price, Usdc};
use vanta_domain::ports::PositionStore;
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::time::Clock;

use crate::counting::Totals;
use crate::world::{PAIRS, World};
use crate::{Report, Row, median, ms};

/// Users the book is spread over (positions per user stay realistic).
const USERS: usize = 1_000;

/// What one book size measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tick {
    pub open_positions: usize,
    pub median_ms: f64,
    pub triggered: usize,
    pub store: Totals,
    pub by_method: std::collections::BTreeMap<&'static str, crate::counting::Count>,
}

async fn book(world: &World, n: usize, triggering: usize) -> Result<(), String> {
    for k in 0..n {
        let Some(&(index, sym, price)) = PAIRS.get(k % PAIRS.len()) else { continue };
        let price = Price::from_str(price).map_err(|e| e.to_string())?;
        let user = TelegramUserId((k % USERS) as i64 + 1);
        if k < USERS {
            world.user(user.0).await?;
        }
        let raw = price.raw();
        let at = |bps: u64| Price::from_raw(raw / 10_000 * bps);
        // A long at the current price: stop-loss 10 % below, take-profit 10 % above, or (for the
        // triggering ones) 1 % below, which the current price has crossed.
        let tp = if k < triggering { at(9_900) } else { at(11_000) };
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
            sl: Some(at(9_000)),
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
            trail: None,
            wallet: None,
            venue_open_time: None,
            version: 0,
        };
        world.store.insert_position(&p).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn measure(n: usize, triggering: usize, repeats: usize) -> Result<Tick, String> {
    let world = World::new(&[])?;
    book(&world, n, triggering).await?;
    let warm = vanta_app::schedule::tpsl_tick(&world.deps).await.map_err(|e| e.to_string())?;
    if warm.triggered.len() != triggering {
        return Err(format!("tpsl bench: {} of {triggering} positions triggered: {:?}", warm.triggered.len(), warm.triggered));
    }
    let mut times = Vec::with_capacity(repeats);
    let mut store = Totals::default();
    let mut by_method = Default::default();
    let mut triggered = 0;
    for _ in 0..repeats.max(1) {
        world.store.reset();
        let t = Instant::now();
        let r = vanta_app::schedule::tpsl_tick(&world.deps).await.map_err(|e| e.to_string())?;
        times.push(t.elapsed());
        store = world.store.totals();
        by_method = world.store.counts();
        triggered = r.triggered.len();
    }
    Ok(Tick { open_positions: n, median_ms: ms(median(times)), triggered, store, by_method })
}

pub async fn run(report: &mut Report, books: &[usize], triggering: usize, repeats: usize) -> Result<(), String> {
    let ideal = measure(triggering, triggering, repeats).await?;
    let mut ticks = Vec::new();
    for &n in books {
        ticks.push(measure(n, triggering, repeats).await?);
    }
    let s = "tpsl tick";
    let of = format!("{triggering} triggering positions alone");
    for t in &ticks {
        report.rows.push(
            Row::new(s, format!("{} open, {} triggering: time", t.open_positions, t.triggered), t.median_ms, "ms")
                .against(ideal.median_ms, of.clone()),
        );
        report.rows.push(
            Row::new(s, format!("{} open: store items read", t.open_positions), t.store.items_read as f64, "items")
                .against(ideal.store.items_read as f64, of.clone()),
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
    }
    report.details.insert("tpsl".into(), serde_json::json!({ "ideal": ideal, "ticks": ticks }));
    Ok(())
}
