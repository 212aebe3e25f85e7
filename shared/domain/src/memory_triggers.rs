//! The in-memory twin of the trigger index: ordered sets, kept under the store's one lock by
//! every position write, so it is always consistent with the positions.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::error::{DomainError, DomainResult};
use crate::ids::{PositionId, TelegramUserId};
use crate::market::{PairSymbol, Side};
use crate::ports::{IndexState, TriggerStore};
use crate::position::{Position, PositionStatus};
use crate::triggers::{INDEX_VERSION, KeyRange, TrailBook, TriggerPartition, index_entries};

type Partition = BTreeMap<u64, BTreeSet<(TelegramUserId, PositionId)>>;

pub(super) struct Index {
    entries: BTreeMap<TriggerPartition, Partition>,
    closing: BTreeSet<(TelegramUserId, PositionId)>,
    pairs: BTreeSet<PairSymbol>,
    books: BTreeMap<(PairSymbol, Side), TrailBook>,
    state: IndexState,
}

impl Default for Index {
    fn default() -> Self {
        // Every write indexes, so a store that starts empty needs no backfill.
        Self {
            entries: BTreeMap::new(),
            closing: BTreeSet::new(),
            pairs: BTreeSet::new(),
            books: BTreeMap::new(),
            state: IndexState { version: INDEX_VERSION, cursor: None },
        }
    }
}

impl Index {
    /// Replaces the entries of `old` (None: a new position) by those of `new`.
    pub(super) fn write(&mut self, old: Option<&Position>, new: &Position) {
        if let Some(old) = old {
            for e in index_entries(old) {
                let Some(part) = self.entries.get_mut(&e.partition) else { continue };
                if let Some(at) = part.get_mut(&e.key) {
                    at.remove(&(old.user, old.id.clone()));
                    if at.is_empty() {
                        part.remove(&e.key);
                    }
                }
                if part.is_empty() {
                    self.entries.remove(&e.partition);
                }
            }
            self.closing.remove(&(old.user, old.id.clone()));
        }
        for e in index_entries(new) {
            self.entries.entry(e.partition).or_default().entry(e.key).or_default().insert((new.user, new.id.clone()));
        }
        if new.status == PositionStatus::Closing {
            self.closing.insert((new.user, new.id.clone()));
        }
        if new.status.is_live() {
            self.pairs.insert(new.pair.clone());
        }
    }
}

#[async_trait]
impl TriggerStore for MemoryStore {
    async fn crossed(&self, part: &TriggerPartition, range: KeyRange) -> DomainResult<Vec<(TelegramUserId, PositionId)>> {
        let g = lock(&self.0)?;
        let (lo, hi) = match range {
            KeyRange::AtOrAbove(k) => (k, u64::MAX),
            KeyRange::AtOrBelow(k) => (0, k),
        };
        let Some(at) = g.triggers.entries.get(part) else { return Ok(Vec::new()) };
        Ok(at.range(lo..=hi).flat_map(|(_, ids)| ids.iter().cloned()).collect())
    }
    async fn any_indexed(&self, part: &TriggerPartition) -> DomainResult<bool> {
        Ok(lock(&self.0)?.triggers.entries.get(part).is_some_and(|p| !p.is_empty()))
    }
    async fn closing_positions(&self) -> DomainResult<Vec<Position>> {
        let g = lock(&self.0)?;
        Ok(g.triggers.closing.iter().filter_map(|k| g.positions.get(k)).cloned().collect())
    }
    async fn trigger_pairs(&self) -> DomainResult<Vec<PairSymbol>> {
        Ok(lock(&self.0)?.triggers.pairs.iter().cloned().collect())
    }
    async fn get_trail_book(&self, pair: &PairSymbol, side: Side) -> DomainResult<Option<TrailBook>> {
        Ok(lock(&self.0)?.triggers.books.get(&(pair.clone(), side)).cloned())
    }
    async fn put_trail_book(&self, pair: &PairSymbol, side: Side, book: &TrailBook) -> DomainResult<()> {
        let mut g = lock(&self.0)?;
        let stored = g.triggers.books.get(&(pair.clone(), side)).map_or(0, |b| b.version);
        if stored != book.version {
            return Err(DomainError::Conflict(format!("the {pair} {side} trail book changed meanwhile")));
        }
        let mut next = book.clone();
        next.version = book.version.saturating_add(1);
        g.triggers.books.insert((pair.clone(), side), next);
        Ok(())
    }
    async fn index_state(&self) -> DomainResult<IndexState> {
        Ok(lock(&self.0)?.triggers.state.clone())
    }
    async fn put_index_state(&self, state: &IndexState) -> DomainResult<()> {
        lock(&self.0)?.triggers.state = state.clone();
        Ok(())
    }
    async fn live_positions_page(&self, after: Option<&str>, limit: usize) -> DomainResult<(Vec<Position>, Option<String>)> {
        let g = lock(&self.0)?;
        // The cursor is how many live positions came before (enough for an in-memory twin).
        let skip: usize = after.map(str::parse).transpose().map_err(|_| DomainError::Invalid("bad backfill cursor".into()))?.unwrap_or(0);
        let page: Vec<Position> = g.positions.values().filter(|p| p.status.is_live()).skip(skip).take(limit.max(1)).cloned().collect();
        let next = (page.len() == limit.max(1)).then(|| (skip + page.len()).to_string());
        Ok((page, next))
    }
    async fn reindex_position(&self, p: &Position) -> DomainResult<()> {
        let mut g = lock(&self.0)?;
        let stored =
            g.positions.get(&(p.user, p.id.clone())).cloned().ok_or_else(|| DomainError::NotFound(format!("position {}", p.id)))?;
        if stored.version != p.version {
            return Err(DomainError::Conflict(format!("position {} changed meanwhile", p.id)));
        }
        g.triggers.write(Some(&stored), &stored);
        Ok(())
    }
}
