//! Positions: under their user's partition; in gsi2 `LIVE_POS` while open or closing, in gsi1
//! `CLOSING` while closing; their trigger index entries written with them (`triggers.rs`).

use async_trait::async_trait;
use vanta_domain::ids::{PositionId, TelegramUserId};
use vanta_domain::ports::PositionStore;
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::{DomainError, DomainResult};

use super::codec::{self, n, s};
use super::errors::TxError;
use super::keys as k;
use super::{DynamoStore, Expr, Query, new_item};

#[async_trait]
impl PositionStore for DynamoStore {
    async fn insert_position(&self, p: &Position) -> DomainResult<()> {
        self.record_pair(&p.pair).await?;
        let mut ops = vec![self.tx_put(codec::position_item(p)?, Some(new_item()))?];
        ops.extend(self.index_ops(p, true)?);
        match self.transact("insert_position", ops).await {
            Ok(()) => Ok(()),
            Err(TxError::Condition { .. }) => Err(DomainError::Conflict(format!("position {} exists", p.id))),
            Err(TxError::Other(e)) => Err(e),
        }
    }

    async fn get_position(&self, user: TelegramUserId, id: &PositionId) -> DomainResult<Option<Position>> {
        self.get_as(k::user(user), &k::position(id)).await
    }

    async fn update_position(&self, p: &Position, expected: PositionStatus) -> DomainResult<()> {
        let allowed = p.status == expected || expected.can_become(p.status);
        if allowed {
            // The item is replaced whole, so a position that stops being live leaves gsi2; the
            // version condition keeps a write from a stale read from undoing another writer's.
            let version = if p.version == 0 {
                "(attribute_not_exists(#version) OR #version = :version)" // items from before versions
            } else {
                "#version = :version"
            };
            let cond = Expr::new(format!("#status = :expected AND {version}"))
                .name("#status", k::STATUS)
                .value(":expected", s(expected.as_str()))
                .name("#version", k::VERSION)
                .value(":version", n(p.version));
            let mut next = p.clone();
            next.version = p.version.checked_add(1).ok_or_else(|| DomainError::Internal("position version overflow".into()))?;
            // The trigger index entries change in the same transaction.
            let mut ops = vec![self.tx_put(codec::position_item(&next)?, Some(cond))?];
            ops.extend(self.index_ops(&next, false)?);
            match self.transact("update_position", ops).await {
                Ok(()) => return Ok(()),
                Err(TxError::Condition { .. }) => {}
                Err(TxError::Other(e)) => return Err(e),
            }
        }
        // Refused: say why, in the in-memory store's order.
        let stored = self.get_position(p.user, &p.id).await?.ok_or_else(|| DomainError::NotFound(format!("position {}", p.id)))?;
        if stored.status != expected {
            return Err(DomainError::Conflict(format!("position {} is {}, not {}", p.id, stored.status.as_str(), expected.as_str())));
        }
        if !allowed {
            return Err(DomainError::Conflict(format!("a position cannot go from {} to {}", expected.as_str(), p.status.as_str())));
        }
        Err(DomainError::Conflict(format!("position {} changed meanwhile (version {}, not {})", p.id, stored.version, p.version)))
    }

    async fn user_positions(&self, user: TelegramUserId, live_only: bool) -> DomainResult<Vec<Position>> {
        let all: Vec<Position> = self.query_as(Query::table(k::user(user)).prefix(k::POS_PREFIX)).await?;
        Ok(all.into_iter().filter(|p| !live_only || p.status.is_live()).collect())
    }

    async fn live_positions(&self) -> DomainResult<Vec<Position>> {
        let mut live: Vec<Position> = self.query_as(Query::gsi2(k::LIVE_POS.to_owned())).await?;
        // gsi2 is eventually consistent: a position closed a moment ago may still be listed.
        live.retain(|p| p.status.is_live());
        live.sort_by(|a, b| (a.user, &a.id).cmp(&(b.user, &b.id)));
        Ok(live)
    }
}
