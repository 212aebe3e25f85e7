//! The trigger index: which exits of an open position the TP/SL tick must watch, keyed so that a
//! tick asks, per pair and side, only for the positions whose level the current price crossed.
//!
//! - Fixed levels (take-profit, stop-loss, liquidation; DRY positions only, since LIVE TP and SL
//!   rest on the venue) are indexed by their price under `(pair, side, kind)`.
//! - Trailing stops are indexed by their distance under `(pair, side, trail, epoch)`. The best
//!   price a trail follows is not stored on each position: it is the extreme of the pair's
//!   [`TrailBook`] run that holds the trail's epoch, so a new extreme is one write to the book,
//!   whatever the number of trailing positions. See [`TrailBook`].
//!
//! Everything here is pure; the stores keep the index consistent on every position write.

use serde::{Deserialize, Serialize};

use crate::exec::ExecMode;
use crate::market::{PairSymbol, Side};
use crate::money::Price;
use crate::position::{Position, PositionStatus, TrailingStop};

/// What an index entry watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TriggerKind {
    TakeProfit,
    StopLoss,
    Liquidation,
    Trail,
}

impl TriggerKind {
    pub const ALL: [TriggerKind; 4] = [TriggerKind::TakeProfit, TriggerKind::StopLoss, TriggerKind::Liquidation, TriggerKind::Trail];
    /// The fixed-price kinds (one partition per pair and side each).
    pub const FIXED: [TriggerKind; 3] = [TriggerKind::Liquidation, TriggerKind::StopLoss, TriggerKind::TakeProfit];
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::TakeProfit => "tp",
            TriggerKind::StopLoss => "sl",
            TriggerKind::Liquidation => "liq",
            TriggerKind::Trail => "trail",
        }
    }
}

/// One partition of the index: every entry in it is ordered by its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TriggerPartition {
    pub pair: PairSymbol,
    pub side: Side,
    pub kind: TriggerKind,
    /// The trail epoch (0 for the fixed kinds).
    pub epoch: u64,
}

impl TriggerPartition {
    pub fn fixed(pair: PairSymbol, side: Side, kind: TriggerKind) -> Self {
        Self { pair, side, kind, epoch: 0 }
    }
    pub fn trail(pair: PairSymbol, side: Side, epoch: u64) -> Self {
        Self { pair, side, kind: TriggerKind::Trail, epoch }
    }
}

/// A range of keys, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRange {
    AtOrAbove(u64),
    AtOrBelow(u64),
}

impl KeyRange {
    pub fn contains(self, key: u64) -> bool {
        match self {
            KeyRange::AtOrAbove(k) => key >= k,
            KeyRange::AtOrBelow(k) => key <= k,
        }
    }
}

/// One index entry of a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerEntry {
    pub partition: TriggerPartition,
    /// The level's raw price, or for a trail its distance in bps.
    pub key: u64,
}

/// The entries an open position must have now (none for a position that is not open). A trail
/// without an epoch (recorded before the index) is not indexed: the tick's backfill anchors it.
pub fn index_entries(p: &Position) -> Vec<TriggerEntry> {
    let mut out = Vec::new();
    if p.status != PositionStatus::Open {
        return out;
    }
    let fixed = |kind, price: Price| TriggerEntry { partition: TriggerPartition::fixed(p.pair.clone(), p.side, kind), key: price.raw() };
    if p.mode == ExecMode::Dry {
        if let Ok(liq) = p.liquidation_price() {
            out.push(fixed(TriggerKind::Liquidation, liq));
        }
        if let Some(sl) = p.sl {
            out.push(fixed(TriggerKind::StopLoss, sl));
        }
        if let Some(tp) = p.tp {
            out.push(fixed(TriggerKind::TakeProfit, tp));
        }
    }
    if let Some(TrailingStop { distance, epoch: Some(epoch), .. }) = p.trail {
        out.push(TriggerEntry { partition: TriggerPartition::trail(p.pair.clone(), p.side, epoch), key: u64::from(distance.raw()) });
    }
    out
}

/// The keys of a fixed-kind partition that `mark` has crossed (see `schedule::trigger`): a long's
/// stop and liquidation fire at or below their level, its take-profit at or above; a short the
/// other way round.
pub fn crossed_fixed(side: Side, kind: TriggerKind, mark: Price) -> KeyRange {
    let loss = matches!(kind, TriggerKind::StopLoss | TriggerKind::Liquidation | TriggerKind::Trail);
    match (side, loss) {
        // Long: loss when mark <= level, i.e. level >= mark; profit when level <= mark.
        (Side::Long, true) | (Side::Short, false) => KeyRange::AtOrAbove(mark.raw()),
        (Side::Long, false) | (Side::Short, true) => KeyRange::AtOrBelow(mark.raw()),
    }
}

/// The largest distance (bps) whose trail level, behind `extreme`, `mark` has reached: every trail
/// of that run with a distance at or below it fires. Exactly [`TrailingStop::level`]'s rounding.
pub fn crossed_distance(side: Side, extreme: Price, mark: Price) -> Option<u64> {
    let fires = |d: u32| {
        let level = TrailingStop { distance: crate::money::Bps::new_const(d), best: extreme, epoch: None }.level(side);
        match side {
            Side::Long => mark <= level,
            Side::Short => mark >= level,
        }
    };
    // The level moves away from the extreme as the distance grows, so `fires` holds on a prefix
    // of 0..=10_000 (bps of the extreme).
    if !fires(0) {
        return None;
    }
    let (mut lo, mut hi) = (0u32, 10_000u32);
    if fires(hi) {
        return Some(u64::from(hi));
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fires(mid) { lo = mid } else { hi = mid }
    }
    Some(u64::from(lo))
}

/// Whether `a` is a better price than `b` for a trail on `side` (higher for a long).
fn better(side: Side, a: Price, b: Price) -> bool {
    match side {
        Side::Long => a > b,
        Side::Short => a < b,
    }
}

/// A run of trail epochs that share one extreme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailRun {
    pub epochs: Vec<u64>,
    /// The best price seen since the oldest of these epochs began.
    pub extreme: Price,
}

/// The trailing stops of one pair and side, as a stack of runs.
///
/// A trail is anchored to an epoch when it is set; its best price is the best price seen since
/// then. The book keeps, for every live epoch, that best price — shared by the epoch's trails —
/// as a stack of runs whose extremes get strictly worse from the oldest run to the newest:
///
/// - a price seen ([`TrailBook::observe`], once a tick) moves the newest run's extreme if it is
///   better, and merges every older run it reaches into it (their epochs have now seen that
///   price too);
/// - a trail set at a price at least as good as the newest run's extreme joins that run (moving it);
///   otherwise it opens a new epoch (its best is its own price, not the better one seen before).
///
/// So a new extreme is one write to this book, whatever the number of trails; a tick finds the
/// trails that fire with one range query per live epoch (by distance, see [`crossed_distance`]).
/// Epochs whose trails are all gone are pruned one per tick ([`TrailBook::oldest_epoch`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailBook {
    /// The last epoch handed out (epochs start at 1).
    pub last_epoch: u64,
    pub runs: Vec<TrailRun>,
    /// Where pruning looks next (round robin over the epochs).
    #[serde(default)]
    pub prune_cursor: u64,
    /// Epochs found without trails once: pruned when found so on the next check too (a tick
    /// or more later, so a trail whose write is landing is never lost).
    #[serde(default)]
    pub suspects: Vec<u64>,
    /// Optimistic-lock version, kept by the store (incremented on every write).
    #[serde(default)]
    pub version: u64,
}

impl TrailBook {
    /// Folds a price seen into the book; true when the book changed.
    pub fn observe(&mut self, side: Side, mark: Price) -> bool {
        let Some(top) = self.runs.last_mut() else { return false };
        if !better(side, mark, top.extreme) {
            return false;
        }
        top.extreme = mark;
        while let [.., older, newer] = self.runs.as_slice() {
            if better(side, older.extreme, newer.extreme) {
                break;
            }
            let Some(newer) = self.runs.pop() else { break };
            if let Some(older) = self.runs.last_mut() {
                older.epochs.extend(newer.epochs);
                older.extreme = newer.extreme;
            }
        }
        true
    }

    /// The epoch a trail set now, at `mark`, is anchored to (the book changes: write it back).
    pub fn join(&mut self, side: Side, mark: Price) -> u64 {
        if let Some(top) = self.runs.last()
            && !better(side, top.extreme, mark)
        {
            self.observe(side, mark);
            if let Some(epoch) = self.runs.last().and_then(|r| r.epochs.last()) {
                return *epoch;
            }
        }
        self.last_epoch = self.last_epoch.saturating_add(1);
        self.runs.push(TrailRun { epochs: vec![self.last_epoch], extreme: mark });
        self.last_epoch
    }

    /// The best price of `epoch`'s trails, if the book has the epoch.
    pub fn extreme_of(&self, epoch: u64) -> Option<Price> {
        self.runs.iter().find(|r| r.epochs.contains(&epoch)).map(|r| r.extreme)
    }

    /// Every live epoch with its run's extreme.
    pub fn epochs(&self) -> impl Iterator<Item = (u64, Price)> + '_ {
        self.runs.iter().flat_map(|r| r.epochs.iter().map(move |e| (*e, r.extreme)))
    }

    /// The epoch a trail set now at a price as good as the newest extreme joins (never pruned).
    pub fn joinable(&self) -> Option<u64> {
        self.runs.last().and_then(|r| r.epochs.last()).copied()
    }

    /// The next epoch pruning should look at (round robin, never the joinable one), moving the
    /// cursor past it.
    pub fn next_to_prune(&mut self) -> Option<u64> {
        let joinable = self.joinable();
        let mut all: Vec<u64> = self.epochs().map(|(e, _)| e).filter(|e| Some(*e) != joinable).collect();
        all.sort_unstable();
        let next = all.iter().copied().find(|e| *e > self.prune_cursor).or_else(|| all.first().copied())?;
        self.prune_cursor = next;
        Some(next)
    }

    /// Records what a pruning check of `epoch` found; true when the epoch was dropped.
    pub fn checked(&mut self, epoch: u64, has_trails: bool) -> bool {
        let seen_empty = self.suspects.contains(&epoch);
        self.suspects.retain(|e| *e != epoch);
        if has_trails {
            return false;
        }
        if seen_empty {
            self.prune(epoch);
            return true;
        }
        self.suspects.push(epoch);
        false
    }

    /// Oldest live epoch (for tests and reports).
    pub fn oldest_epoch(&self) -> Option<u64> {
        self.epochs().map(|(e, _)| e).min()
    }

    /// Drops `epoch` (no trail is anchored to it any more); a run left empty goes.
    pub fn prune(&mut self, epoch: u64) {
        for r in &mut self.runs {
            r.epochs.retain(|e| *e != epoch);
        }
        self.runs.retain(|r| !r.epochs.is_empty());
    }
}

/// The trailing stop of `p` as it stands with `book` (its best price is its epoch's extreme, or
/// its own best if that is better, or the book lacks the epoch).
pub fn effective_trail(p: &Position, book: Option<&TrailBook>) -> Option<TrailingStop> {
    let mut t = p.trail?;
    if let (Some(epoch), Some(book)) = (t.epoch, book)
        && let Some(extreme) = book.extreme_of(epoch)
        && better(p.side, extreme, t.best)
    {
        t.best = extreme;
    }
    Some(t)
}

/// The version of the trigger index layout; a store whose marker is below it backfills.
pub const INDEX_VERSION: u32 = 1;
