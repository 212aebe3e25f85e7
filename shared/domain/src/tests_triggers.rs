//! The trigger index's pure parts and its in-memory twin.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;

use crate::exec::ExecMode;
use crate::ids::{IntentId, PositionId, TelegramUserId};
use crate::market::{PairIndex, PairSymbol, Side};
use crate::memory::MemoryStore;
use crate::money::{Bps, Leverage, Price, Usdc};
use crate::ports::{PositionStore, TriggerStore};
use crate::position::{Position, PositionStatus, TrailingStop};
use crate::time::Timestamp;
use crate::triggers::*;

fn px(s: &str) -> Price {
    Price::from_str(s).unwrap()
}

fn position(id: &str, side: Side, mode: ExecMode) -> Position {
    Position {
        id: PositionId::parse(id).unwrap(),
        user: TelegramUserId(7),
        pair: PairSymbol::parse("BTC/USD").unwrap(),
        pair_index: PairIndex(1),
        trade_index: Some(0),
        side,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(5).unwrap(),
        open_price: px("100000"),
        tp: None,
        sl: None,
        mode,
        status: PositionStatus::Open,
        opened_by: IntentId::parse(&format!("sig:{id}")).unwrap(),
        opened_at: Timestamp(1),
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
        copy_of: None,
        version: 0,
    }
}

#[test]
fn fixed_ranges_cross_at_the_level_itself() {
    let mark = px("100");
    // A long's stop at or above the mark has been crossed; its take-profit at or below.
    assert_eq!(crossed_fixed(Side::Long, TriggerKind::StopLoss, mark), KeyRange::AtOrAbove(mark.raw()));
    assert_eq!(crossed_fixed(Side::Long, TriggerKind::Liquidation, mark), KeyRange::AtOrAbove(mark.raw()));
    assert_eq!(crossed_fixed(Side::Long, TriggerKind::TakeProfit, mark), KeyRange::AtOrBelow(mark.raw()));
    assert_eq!(crossed_fixed(Side::Short, TriggerKind::StopLoss, mark), KeyRange::AtOrBelow(mark.raw()));
    assert_eq!(crossed_fixed(Side::Short, TriggerKind::TakeProfit, mark), KeyRange::AtOrAbove(mark.raw()));
    assert!(KeyRange::AtOrAbove(5).contains(5) && !KeyRange::AtOrAbove(5).contains(4));
    assert!(KeyRange::AtOrBelow(5).contains(5) && !KeyRange::AtOrBelow(5).contains(6));
}

#[test]
fn crossed_distance_agrees_with_the_trail_level_at_every_boundary() {
    let extreme = px("102000");
    for side in [Side::Long, Side::Short] {
        for mark in ["100980", "100981", "100979", "103020", "103019", "102000", "51000", "50999"] {
            let mark = px(mark);
            let d = crossed_distance(side, extreme, mark);
            for bps in [1u32, 50, 99, 100, 101, 4_999, 5_000] {
                let t = TrailingStop { distance: Bps::new(bps).unwrap(), best: extreme, epoch: None };
                let fires = match side {
                    Side::Long => mark <= t.level(side),
                    Side::Short => mark >= t.level(side),
                };
                assert_eq!(d.is_some_and(|d| u64::from(bps) <= d), fires, "{side} mark {mark} distance {bps}");
            }
        }
    }
    // 1 % behind 102000 is 100980: fires there, not a tick above.
    assert_eq!(crossed_distance(Side::Long, extreme, px("100980")), Some(100));
    assert_eq!(crossed_distance(Side::Long, extreme, px("100981")), Some(99));
}

#[test]
fn a_new_extreme_moves_the_newest_run_and_merges_what_it_reaches() {
    let mut b = TrailBook::default();
    let a = b.join(Side::Long, px("100"));
    assert!(b.observe(Side::Long, px("110")));
    assert!(!b.observe(Side::Long, px("105")), "not a new best");
    let c = b.join(Side::Long, px("104")); // below the best: its own epoch
    assert_ne!(a, c);
    assert_eq!((b.extreme_of(a), b.extreme_of(c)), (Some(px("110")), Some(px("104"))));
    let same = b.join(Side::Long, px("106")); // at least the newest extreme: joins it and moves it
    assert_eq!(same, c);
    assert_eq!(b.extreme_of(c), Some(px("106")));
    assert!(b.observe(Side::Long, px("110")));
    assert_eq!(b.runs.len(), 1, "110 reached the older run: one run");
    assert_eq!((b.extreme_of(a), b.extreme_of(c)), (Some(px("110")), Some(px("110"))));
    // Shorts mirror it.
    let mut s = TrailBook::default();
    let e = s.join(Side::Short, px("100"));
    assert!(s.observe(Side::Short, px("90")));
    let f = s.join(Side::Short, px("95"));
    assert_ne!(e, f);
    assert_eq!(s.extreme_of(f), Some(px("95")));
    assert!(s.observe(Side::Short, px("89")));
    assert_eq!((s.extreme_of(e), s.extreme_of(f), s.runs.len()), (Some(px("89")), Some(px("89")), 1));
}

#[test]
fn pruning_needs_two_empty_checks_and_never_takes_the_joinable_epoch() {
    let mut b = TrailBook::default();
    let a = b.join(Side::Long, px("100"));
    let c = b.join(Side::Long, px("90"));
    assert_eq!(b.joinable(), Some(c));
    assert_eq!(b.next_to_prune(), Some(a));
    assert!(!b.checked(a, false), "first empty check: suspect only");
    assert_eq!(b.next_to_prune(), Some(a), "the joinable epoch is never a candidate");
    assert!(b.checked(a, false));
    assert_eq!(b.extreme_of(a), None);
    assert_eq!(b.next_to_prune(), None);
    // A trail seen between two checks clears the suspicion.
    let mut b = TrailBook::default();
    let a = b.join(Side::Long, px("100"));
    b.join(Side::Long, px("90"));
    assert!(!b.checked(a, false));
    assert!(!b.checked(a, true));
    assert!(!b.checked(a, false));
    assert!(b.extreme_of(a).is_some());
}

#[test]
fn effective_trail_takes_the_epoch_extreme() {
    let mut b = TrailBook::default();
    let e = b.join(Side::Long, px("100000"));
    b.observe(Side::Long, px("102000"));
    let mut p = position("pos:t", Side::Long, ExecMode::Live);
    p.trail = Some(TrailingStop { distance: Bps::new(100).unwrap(), best: px("100000"), epoch: Some(e) });
    assert_eq!(effective_trail(&p, Some(&b)).unwrap().best, px("102000"));
    assert_eq!(effective_trail(&p, None).unwrap().best, px("100000"));
}

#[test]
fn live_tp_and_sl_are_not_indexed_only_their_trail() {
    let mut p = position("pos:l", Side::Long, ExecMode::Live);
    p.tp = Some(px("110000"));
    p.sl = Some(px("90000"));
    assert!(index_entries(&p).is_empty(), "LIVE TP and SL rest on the venue");
    p.trail = Some(TrailingStop { distance: Bps::new(100).unwrap(), best: px("100000"), epoch: Some(3) });
    let e = index_entries(&p);
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].partition.kind, e[0].partition.epoch, e[0].key), (TriggerKind::Trail, 3, 100));
    let mut d = position("pos:d", Side::Long, ExecMode::Dry);
    d.tp = Some(px("110000"));
    let kinds: Vec<_> = index_entries(&d).iter().map(|e| e.partition.kind).collect();
    assert_eq!(kinds, [TriggerKind::Liquidation, TriggerKind::TakeProfit]);
    d.status = PositionStatus::Closing;
    assert!(index_entries(&d).is_empty());
}

#[tokio::test]
async fn the_memory_index_follows_every_write() {
    let s = MemoryStore::new();
    let mut p = position("pos:m", Side::Long, ExecMode::Dry);
    p.sl = Some(px("95000"));
    s.insert_position(&p).await.unwrap();
    let sl = TriggerPartition::fixed(p.pair.clone(), Side::Long, TriggerKind::StopLoss);
    let hit = vec![(p.user, p.id.clone())];
    assert_eq!(s.crossed(&sl, KeyRange::AtOrAbove(px("95000").raw())).await.unwrap(), hit, "at the level");
    assert!(s.crossed(&sl, KeyRange::AtOrAbove(px("95000").raw() + 1)).await.unwrap().is_empty());
    assert_eq!(s.trigger_pairs().await.unwrap(), vec![p.pair.clone()]);
    // Moved stop: the old entry is gone.
    let mut moved = p.clone();
    moved.sl = Some(px("94000"));
    s.update_position(&moved, PositionStatus::Open).await.unwrap();
    assert!(s.crossed(&sl, KeyRange::AtOrAbove(px("95000").raw())).await.unwrap().is_empty());
    assert_eq!(s.crossed(&sl, KeyRange::AtOrAbove(px("94000").raw())).await.unwrap(), hit);
    // CLOSING: out of the trigger index, into the closing set; closed: out of both.
    let mut closing = moved.clone();
    closing.version = 1;
    closing.status = PositionStatus::Closing;
    s.update_position(&closing, PositionStatus::Open).await.unwrap();
    assert!(s.crossed(&sl, KeyRange::AtOrAbove(0)).await.unwrap().is_empty());
    assert_eq!(s.closing_positions().await.unwrap().len(), 1);
    let mut closed = closing.clone();
    closed.version = 2;
    closed.status = PositionStatus::Closed;
    s.update_position(&closed, PositionStatus::Closing).await.unwrap();
    assert!(s.closing_positions().await.unwrap().is_empty());
    assert!(!s.any_indexed(&TriggerPartition::fixed(p.pair.clone(), Side::Long, TriggerKind::Liquidation)).await.unwrap());
}

#[tokio::test]
async fn a_trail_book_write_from_a_stale_read_is_refused() {
    let s = MemoryStore::new();
    let pair = PairSymbol::parse("BTC/USD").unwrap();
    let mut b = TrailBook::default();
    b.join(Side::Long, px("100"));
    s.put_trail_book(&pair, Side::Long, &b).await.unwrap();
    assert!(s.put_trail_book(&pair, Side::Long, &b).await.is_err(), "version 0 is taken");
    let stored = s.get_trail_book(&pair, Side::Long).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    s.put_trail_book(&pair, Side::Long, &stored).await.unwrap();
}
