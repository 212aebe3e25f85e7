//! The TP/SL tick's reads, O(pairs + triggered): one price per pair (fetched concurrently), then
//! per pair and side one range query per fixed trigger kind and per live trail epoch, for the
//! levels the price crossed ([`vanta_domain::triggers`]); the trail book of each pair and side is
//! one item, moved once when the price makes a new extreme. Candidates are re-read (strongly
//! consistent) before anything is decided, so an index that lags a write never closes a
//! position on an old level.
//!
//! Migration: a store whose index marker is below [`INDEX_VERSION`] is backfilled, a page of
//! [`BACKFILL_PAGE`] live positions a tick (re-indexed under their version; a trail from before
//! the book is anchored to it), and until the last page is done the tick still reads every live
//! position as before, so nothing is missed meanwhile.

use std::collections::{BTreeMap, BTreeSet};

use vanta_domain::DomainError;
use vanta_domain::DomainResult;
use vanta_domain::ids::{PositionId, TelegramUserId};
use vanta_domain::market::{PairSymbol, Side};
use vanta_domain::money::Price;
use vanta_domain::ports::IndexState;
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::triggers::{INDEX_VERSION, KeyRange, TrailBook, TriggerKind, TriggerPartition, crossed_distance, crossed_fixed};

use vanta_domain::money::Bps;
use vanta_domain::risk_engine;

use crate::Deps;
use crate::tpsl::{TickReport, evaluate, mark_price};

/// Live positions the backfill indexes per tick.
pub const BACKFILL_PAGE: usize = 500;

/// Prices fetched at once.
pub const PRICE_CONCURRENCY: usize = 8;

/// How many times a trail book write is retried when another writer got in between.
const BOOK_ATTEMPTS: usize = 5;

/// Runs the TP/SL part of a tick; the answer is the positions that are CLOSING (for the resend
/// of stalled closes).
pub(crate) async fn run(deps: &Deps, report: &mut TickReport) -> DomainResult<Vec<Position>> {
    if backfill(deps).await? { indexed(deps, report).await } else { full_scan(deps, report).await }
}

/// The trusted mark of every pair, fetched concurrently (at most [`PRICE_CONCURRENCY`] at once),
/// one fetch per pair; a pair without one is reported skipped.
async fn marks(deps: &Deps, pairs: BTreeSet<PairSymbol>, report: &mut TickReport) -> BTreeMap<PairSymbol, Price> {
    let mut out = BTreeMap::new();
    let mut pending = pairs.into_iter();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < PRICE_CONCURRENCY {
            let Some(pair) = pending.next() else { break };
            let deps = deps.clone();
            running.spawn(async move {
                let mark = mark_price(&deps, &pair).await;
                (pair, mark)
            });
        }
        let Some(done) = running.join_next().await else { break };
        match done {
            Ok((pair, Ok(mark))) => {
                out.insert(pair, mark);
            }
            Ok((pair, Err(why))) => {
                tracing::warn!(%pair, reason = %why, "no trusted price; TP/SL skipped for this pair");
                report.skipped_pairs.push(pair.to_string());
            }
            Err(e) => tracing::error!(error = %e, "a price fetch task failed; its pair is skipped this tick"),
        }
    }
    report.skipped_pairs.sort();
    out
}

/// Reads the trail book of (`pair`, `side`), folds `mark` into it, prunes one epoch whose trails
/// are gone (seen empty on two checks a tick or more apart) and writes it back if it changed.
/// The answer is the book as it now stands (None: no trail was ever set there).
async fn step_book(deps: &Deps, pair: &PairSymbol, side: Side, mark: Price) -> DomainResult<Option<TrailBook>> {
    for _ in 0..BOOK_ATTEMPTS {
        let Some(mut book) = deps.store.get_trail_book(pair, side).await? else { return Ok(None) };
        let mut changed = book.observe(side, mark);
        if let Some(e) = book.next_to_prune() {
            changed = true;
            let has_trails = deps.store.any_indexed(&TriggerPartition::trail(pair.clone(), side, e)).await?;
            book.checked(e, has_trails);
        }
        if !changed {
            return Ok(Some(book));
        }
        match deps.store.put_trail_book(pair, side, &book).await {
            Ok(()) => {
                book.version = book.version.saturating_add(1);
                return Ok(Some(book));
            }
            Err(DomainError::Conflict(e)) => tracing::info!(%pair, %side, error = %e, "trail book changed meanwhile; re-reading"),
            Err(e) => return Err(e),
        }
    }
    // Kept changing (trails being set): this tick checks the levels on a fresh read unmoved.
    deps.store.get_trail_book(pair, side).await
}

/// Anchors a trail at `mark` in the book of (`pair`, `side`): the epoch to record on the trail.
pub(crate) async fn anchor(deps: &Deps, pair: &PairSymbol, side: Side, mark: Price) -> DomainResult<u64> {
    for _ in 0..BOOK_ATTEMPTS {
        let mut book = deps.store.get_trail_book(pair, side).await?.unwrap_or_default();
        let epoch = book.join(side, mark);
        match deps.store.put_trail_book(pair, side, &book).await {
            Ok(()) => return Ok(epoch),
            Err(DomainError::Conflict(e)) => tracing::info!(%pair, %side, error = %e, "trail book changed meanwhile; re-reading"),
            Err(e) => return Err(e),
        }
    }
    Err(DomainError::Unavailable(format!("the {pair} {side} trail book kept changing; try again")))
}

/// The indexed tick: only crossed levels are read.
async fn indexed(deps: &Deps, report: &mut TickReport) -> DomainResult<Vec<Position>> {
    let pairs: BTreeSet<PairSymbol> = deps.store.trigger_pairs().await?.into_iter().collect();
    let marks = marks(deps, pairs, report).await;
    let mut examined = 0usize;
    for (pair, mark) in &marks {
        for side in [Side::Long, Side::Short] {
            let book = step_book(deps, pair, side, *mark).await?;
            let mut hits: BTreeSet<(TelegramUserId, PositionId)> = BTreeSet::new();
            for kind in TriggerKind::FIXED {
                let part = TriggerPartition::fixed(pair.clone(), side, kind);
                hits.extend(deps.store.crossed(&part, crossed_fixed(side, kind, *mark)).await?);
            }
            for (epoch, extreme) in book.iter().flat_map(TrailBook::epochs) {
                if let Some(d) = crossed_distance(side, extreme, *mark) {
                    hits.extend(deps.store.crossed(&TriggerPartition::trail(pair.clone(), side, epoch), KeyRange::AtOrBelow(d)).await?);
                }
            }
            for (user, id) in hits {
                examined += 1;
                // The index may lag a write: decide on the position as stored now.
                let Some(p) = deps.store.get_position(user, &id).await? else { continue };
                if p.status != PositionStatus::Open || &p.pair != pair || p.side != side {
                    continue;
                }
                evaluate(deps, &p, *mark, book.as_ref(), report).await?;
            }
        }
    }
    let closing = deps.store.closing_positions().await?;
    report.live_positions = examined + closing.len();
    Ok(closing)
}

/// The tick before the index is complete: every live position, as before the index.
async fn full_scan(deps: &Deps, report: &mut TickReport) -> DomainResult<Vec<Position>> {
    let live = deps.store.live_positions().await?;
    report.live_positions = live.len();
    let open: Vec<&Position> = live.iter().filter(|p| p.status == PositionStatus::Open).collect();
    let marks = marks(deps, open.iter().map(|p| p.pair.clone()).collect(), report).await;
    let mut books: BTreeMap<(PairSymbol, Side), Option<TrailBook>> = BTreeMap::new();
    for p in open {
        let Some(mark) = marks.get(&p.pair).copied() else { continue };
        let key = (p.pair.clone(), p.side);
        if !books.contains_key(&key) {
            let book = step_book(deps, &p.pair, p.side, mark).await?;
            books.insert(key.clone(), book);
        }
        let book = books.get(&key).and_then(Option::as_ref);
        // A trail from before the book still follows the price on its own record.
        let moves = p.trail.is_some_and(|mut t| t.epoch.is_none() && t.observe(p.side, mark));
        let current = match moves {
            true => crate::tpsl::move_trail(deps, p, mark).await?.unwrap_or_else(|| p.clone()),
            false => p.clone(),
        };
        if current.status != PositionStatus::Open {
            continue;
        }
        evaluate(deps, &current, mark, book, report).await?;
    }
    Ok(live.into_iter().filter(|p| p.status == PositionStatus::Closing).collect())
}

/// One step of the backfill; true when the index is complete.
async fn backfill(deps: &Deps) -> DomainResult<bool> {
    let state = deps.store.index_state().await?;
    if state.version >= INDEX_VERSION {
        return Ok(true);
    }
    let (page, next) = deps.store.live_positions_page(state.cursor.as_deref(), BACKFILL_PAGE).await?;
    for p in &page {
        let legacy_trail = p.status == PositionStatus::Open && p.trail.is_some_and(|t| t.epoch.is_none());
        let done = if legacy_trail { anchor_legacy(deps, p).await } else { deps.store.reindex_position(p).await };
        match done {
            Ok(()) => {}
            // Written since it was read: that write indexed it.
            Err(DomainError::Conflict(_) | DomainError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let complete = next.is_none();
    let state =
        if complete { IndexState { version: INDEX_VERSION, cursor: None } } else { IndexState { version: state.version, cursor: next } };
    deps.store.put_index_state(&state).await?;
    if complete {
        tracing::info!(version = INDEX_VERSION, "trigger index backfilled");
    }
    Ok(complete)
}

/// Anchors a trail recorded before the book at its own best price (a price it saw, so the
/// anchored trail's best is never better than what it saw) and indexes the position.
async fn anchor_legacy(deps: &Deps, p: &Position) -> DomainResult<()> {
    let Some(t) = p.trail else { return Ok(()) };
    let epoch = anchor(deps, &p.pair, p.side, t.best).await?;
    let written = crate::pipeline::modify_position(deps, p.user, &p.id, |q| match q.trail.as_mut() {
        Some(qt) if qt.epoch.is_none() && q.status == PositionStatus::Open => {
            qt.epoch = Some(epoch);
            true
        }
        _ => false,
    })
    .await?;
    if written.is_none() {
        // Changed meanwhile (trail cleared, closed): make sure whatever it is now is indexed.
        if let Some(fresh) = deps.store.get_position(p.user, &p.id).await? {
            deps.store.reindex_position(&fresh).await?;
        }
    }
    Ok(())
}

/// Sets or clears a trailing stop on a live position of `user` (for `/trail`).
pub async fn set_trail(
    deps: &Deps,
    user: vanta_domain::ids::TelegramUserId,
    id: &PositionId,
    distance: Option<Bps>,
) -> DomainResult<Position> {
    let p = deps.store.get_position(user, id).await?.ok_or_else(|| DomainError::NotFound(format!("position {id}")))?;
    if p.status != PositionStatus::Open {
        return Err(DomainError::Refused(format!("position {id} is not open")));
    }
    let mut next = p.clone();
    next.trail = match distance {
        None => None,
        Some(d) if d.raw() == 0 || d > Bps::new_const(5_000) => {
            return Err(DomainError::Invalid("a trail must be between 0.01% and 50%".into()));
        }
        Some(d) => {
            let quotes = deps.prices.quotes(&p.pair).await?;
            let mark =
                risk_engine::reference_price(&p.pair, &quotes, deps.clock.now(), deps.ops.max_price_age_secs, deps.ops.max_price_deviation)
                    .map_err(|r| DomainError::Refused(r.to_string()))?;
            let epoch = anchor(deps, &p.pair, p.side, mark).await?;
            Some(vanta_domain::position::TrailingStop { distance: d, best: mark, epoch: Some(epoch) })
        }
    };
    let trail = next.trail;
    crate::pipeline::modify_position(deps, user, id, |q| {
        if q.status != PositionStatus::Open {
            return false;
        }
        q.trail = trail;
        true
    })
    .await?
    .ok_or_else(|| DomainError::Refused(format!("position {id} is not open")))
}
