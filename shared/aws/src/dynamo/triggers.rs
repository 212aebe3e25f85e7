//! The trigger index on DynamoDB: one small item per position and trigger kind under the
//! position's user (`TRIG#<position>#<kind>`), in gsi1 under `TRIG#<pair>#<side>#<kind>[#<epoch>]`
//! ordered by `<key:020>#<user>#<position>`, written in the same transaction as the position;
//! CLOSING positions in gsi1 `CLOSING` (the position items themselves); trail books, the pair set
//! and the backfill marker as single items.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use vanta_domain::ids::{PositionId, TelegramUserId};
use vanta_domain::market::{PairSymbol, Side};
use vanta_domain::ports::{IndexState, TriggerStore};
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::triggers::{KeyRange, TrailBook, TriggerKind, TriggerPartition, index_entries};
use vanta_domain::{DomainError, DomainResult};

use super::codec::{self, FromItem, Item, data, json, n, opt_n, s};
use super::errors::TxError;
use super::keys as k;
use super::{DynamoStore, Expr, Query, SkOp};

struct Book(TrailBook);

impl FromItem for Book {
    fn from_item(item: &Item) -> DomainResult<Self> {
        let mut b: TrailBook = data(item)?;
        b.version = opt_n(item, k::VERSION)?.unwrap_or(0);
        Ok(Book(b))
    }
}

impl DynamoStore {
    /// The writes that make `p`'s index entries what they must be now: a put for each entry,
    /// and (unless `fresh`, a position written for the first time) a delete for each kind it
    /// has no entry of.
    pub(super) fn index_ops(&self, p: &Position, fresh: bool) -> DomainResult<Vec<TransactWriteItem>> {
        let entries = index_entries(p);
        let mut ops = Vec::new();
        for kind in TriggerKind::ALL {
            match entries.iter().find(|e| e.partition.kind == kind) {
                Some(e) => ops.push(self.tx_put(codec::trigger_item(p, e), None)?),
                None if !fresh => ops.push(self.tx_delete(codec::key(k::user(p.user), &k::trigger_item(&p.id, kind)), Expr::default())?),
                None => {}
            }
        }
        Ok(ops)
    }

    /// Records `pair` in the pair set the tick reads (once per process and pair; the write is
    /// idempotent). Done before the position is written, so a tick never misses its pair.
    pub(super) async fn record_pair(&self, pair: &PairSymbol) -> DomainResult<()> {
        let known = self.known_pairs.lock().map(|g| g.contains(pair.as_str())).unwrap_or(false);
        if known {
            return Ok(());
        }
        let update = Expr::new("ADD #pairs :pair").name("#pairs", k::PAIRS).value(":pair", AttributeValue::Ss(vec![pair.to_string()]));
        self.update(codec::key(k::JOBS.to_owned(), k::TRIGGER_PAIRS), update, Expr::default()).await?;
        if let Ok(mut g) = self.known_pairs.lock() {
            g.insert(pair.to_string());
        }
        Ok(())
    }
}

#[async_trait]
impl TriggerStore for DynamoStore {
    async fn crossed(&self, part: &TriggerPartition, range: KeyRange) -> DomainResult<Vec<(TelegramUserId, PositionId)>> {
        let q = Query::gsi1(k::trigger_partition(part));
        let q = match range {
            KeyRange::AtOrAbove(key) => q.bound(SkOp::AtLeast, k::trigger_from(key)),
            KeyRange::AtOrBelow(key) => q.bound(SkOp::Below, k::trigger_through(key)),
        };
        self.query(q).await?.iter().map(codec::trigger_target).collect()
    }

    async fn any_indexed(&self, part: &TriggerPartition) -> DomainResult<bool> {
        Ok(!self.query(Query::gsi1(k::trigger_partition(part)).max(1)).await?.is_empty())
    }

    async fn closing_positions(&self) -> DomainResult<Vec<Position>> {
        let mut v: Vec<Position> = self.query_as(Query::gsi1(k::CLOSING.to_owned())).await?;
        // gsi1 is eventually consistent: a close that just completed may still be listed.
        v.retain(|p| p.status == PositionStatus::Closing);
        Ok(v)
    }

    async fn trigger_pairs(&self) -> DomainResult<Vec<PairSymbol>> {
        // The set under JOBS, and the one recorded under CONTROL before it moved there: a pair
        // recorded only in the old set still has live positions to watch.
        let mut pairs: Vec<String> = Vec::new();
        for pk in [k::JOBS, k::CONTROL] {
            if let Some(item) = self.get(pk.to_owned(), k::TRIGGER_PAIRS).await?
                && let Some(AttributeValue::Ss(set)) = item.get(k::PAIRS)
            {
                pairs.extend(set.iter().cloned());
            }
        }
        let mut out = Vec::new();
        for p in &pairs {
            match PairSymbol::parse(p) {
                Ok(p) => out.push(p),
                Err(e) => tracing::warn!(pair = %p, error = %e, "unreadable pair in the trigger pair set; skipped"),
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn get_trail_book(&self, pair: &PairSymbol, side: Side) -> DomainResult<Option<TrailBook>> {
        Ok(self.get_as::<Book>(k::trail_book(pair, side), k::TRAIL_BOOK).await?.map(|b| b.0))
    }

    async fn put_trail_book(&self, pair: &PairSymbol, side: Side, book: &TrailBook) -> DomainResult<()> {
        let next = book.version.checked_add(1).ok_or_else(|| DomainError::Internal("trail book version overflow".into()))?;
        let mut item = codec::key(k::trail_book(pair, side), k::TRAIL_BOOK);
        item.insert(k::DATA.into(), json(book)?);
        item.insert(k::VERSION.into(), n(next));
        let cond = if book.version == 0 {
            Expr::new("attribute_not_exists(#pk)").name("#pk", k::PK)
        } else {
            Expr::new("#version = :version").name("#version", k::VERSION).value(":version", n(book.version))
        };
        match self.put(item, Some(cond)).await {
            Err(DomainError::Conflict(_)) => Err(DomainError::Conflict(format!("the {pair} {side} trail book changed meanwhile"))),
            other => other,
        }
    }

    async fn index_state(&self) -> DomainResult<IndexState> {
        // Under JOBS; a marker written before it moved there is still read under CONTROL.
        let item = match self.get(k::JOBS.to_owned(), k::TRIGGER_INDEX).await? {
            Some(item) => item,
            None => match self.get(k::CONTROL.to_owned(), k::TRIGGER_INDEX).await? {
                Some(legacy) => legacy,
                None => return Ok(IndexState::default()),
            },
        };
        let cursor = match item.get(k::CURSOR) {
            Some(AttributeValue::S(c)) => Some(c.clone()),
            _ => None,
        };
        Ok(IndexState { version: opt_n(&item, k::VERSION)?.unwrap_or(0), cursor })
    }

    async fn put_index_state(&self, state: &IndexState) -> DomainResult<()> {
        let mut item = codec::key(k::JOBS.to_owned(), k::TRIGGER_INDEX);
        item.insert(k::VERSION.into(), n(state.version));
        if let Some(c) = &state.cursor {
            item.insert(k::CURSOR.into(), s(c.clone()));
        }
        self.put(item, None).await
    }

    async fn live_positions_page(&self, after: Option<&str>, limit: usize) -> DomainResult<(Vec<Position>, Option<String>)> {
        let limit = limit.max(1);
        let mut q = Query::gsi2(k::LIVE_POS.to_owned()).max(limit);
        if let Some(after) = after {
            q = q.bound(SkOp::After, after);
        }
        let items = self.query(q).await?;
        let next = match (items.len() == limit, items.last().and_then(|i| i.get(k::GSI2SK))) {
            (true, Some(AttributeValue::S(sk))) => Some(sk.clone()),
            _ => None,
        };
        let mut page = items.iter().map(Position::from_item).collect::<DomainResult<Vec<_>>>()?;
        page.retain(|p| p.status.is_live());
        Ok((page, next))
    }

    async fn reindex_position(&self, p: &Position) -> DomainResult<()> {
        self.record_pair(&p.pair).await?;
        // Under the version it was read at: a position written since was indexed by that write.
        let version = if p.version == 0 { "(attribute_not_exists(#version) OR #version = :version)" } else { "#version = :version" };
        let cond = Expr::new(format!("attribute_exists(#pk) AND {version}"))
            .name("#pk", k::PK)
            .name("#version", k::VERSION)
            .value(":version", n(p.version));
        let update = if p.status == PositionStatus::Closing {
            Expr::new("SET #g1pk = :g1pk, #g1sk = :g1sk")
                .value(":g1pk", s(k::CLOSING))
                .value(":g1sk", s(k::live_position(p.opened_at, p.user, &p.id)))
        } else {
            Expr::new("REMOVE #g1pk, #g1sk")
        }
        .name("#g1pk", k::GSI1PK)
        .name("#g1sk", k::GSI1SK);
        let mut ops = vec![self.tx_update(codec::key(k::user(p.user), &k::position(&p.id)), update, cond)?];
        ops.extend(self.index_ops(p, false)?);
        match self.transact("reindex_position", ops).await {
            Ok(()) => Ok(()),
            Err(TxError::Condition { .. }) => Err(DomainError::Conflict(format!("position {} changed meanwhile", p.id))),
            Err(TxError::Other(e)) => Err(e),
        }
    }
}
