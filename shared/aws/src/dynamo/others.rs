//! Signal sources, follows and seen-once markers.

use async_trait::async_trait;
use vanta_domain::ids::{SourceId, TelegramUserId};
use vanta_domain::ports::{FollowStore, MarkerStore, SourceStore};
use vanta_domain::time::Timestamp;
use vanta_domain::user::{Follow, LeaderRef, SignalSource};
use vanta_domain::{DomainError, DomainResult};

use super::codec::{self, n};
use super::keys as k;
use super::{DynamoStore, Expr, OPTIMISTIC_ATTEMPTS, Query, new_item};

#[async_trait]
impl SourceStore for DynamoStore {
    async fn create_source(&self, src: &SignalSource) -> DomainResult<()> {
        match self.put(codec::source_item(src)?, Some(new_item())).await {
            Err(DomainError::Conflict(_)) => Err(DomainError::Conflict(format!("source id '{}' is taken", src.id))),
            other => other,
        }
    }

    async fn get_source(&self, id: &SourceId) -> DomainResult<Option<SignalSource>> {
        self.get_as(k::source(id), k::SOURCE).await
    }

    async fn source_by_tv_token_hash(&self, hash: &str) -> DomainResult<Option<SignalSource>> {
        let found: Vec<SignalSource> = self.query_as(Query::gsi2(k::tv_token(hash))).await?;
        Ok(found.into_iter().find(|src| src.tv_token_hash == hash))
    }

    async fn user_sources(&self, owner: TelegramUserId) -> DomainResult<Vec<SignalSource>> {
        self.query_as(Query::gsi1(k::user(owner)).prefix(k::SOURCE_PREFIX)).await
    }

    async fn rotate_source(&self, owner: TelegramUserId, src: &SignalSource) -> DomainResult<()> {
        if src.owner == owner {
            let cond = Expr::new("#owner = :owner").name("#owner", k::OWNER).value(":owner", n(owner.0));
            match self.put(codec::source_item(src)?, Some(cond)).await {
                Ok(()) => return Ok(()),
                Err(DomainError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        match self.get(k::source(&src.id), k::SOURCE).await? {
            None => Err(DomainError::NotFound(format!("source {}", src.id))),
            Some(_) => Err(DomainError::Forbidden(format!("source {} is not yours", src.id))),
        }
    }
}

#[async_trait]
impl FollowStore for DynamoStore {
    async fn put_follow(&self, f: &Follow) -> DomainResult<()> {
        self.put(codec::follow_item(f)?, None).await
    }

    async fn remove_follow(&self, follower: TelegramUserId, leader: &LeaderRef) -> DomainResult<bool> {
        self.delete(codec::key(k::user(follower), &k::follow(leader))).await
    }

    async fn following(&self, follower: TelegramUserId) -> DomainResult<Vec<Follow>> {
        self.query_as(Query::table(k::user(follower)).prefix(k::FOLLOW_PREFIX)).await
    }

    async fn followers(&self, leader: &LeaderRef) -> DomainResult<Vec<Follow>> {
        let mut v: Vec<Follow> = self.query_as(Query::gsi1(k::leader(leader)).prefix("FOLLOWER#")).await?;
        // The sort key orders follower ids as text; the port's order is numeric.
        v.sort_by_key(|f| f.follower);
        Ok(v)
    }
}

#[async_trait]
impl MarkerStore for DynamoStore {
    async fn mark_once(&self, key: &str, now: Timestamp, expires_at: Timestamp) -> DomainResult<bool> {
        // TTL deletion is lazy (up to days on DynamoDB, never on moto): expiry is decided here.
        let cond = Expr::new("attribute_not_exists(#pk) OR #exp <= :now")
            .name("#pk", k::PK)
            .name("#exp", k::EXPIRES_AT)
            .value(":now", n(now.millis()));
        match self.put(codec::marker_item(key, expires_at), Some(cond)).await {
            Ok(()) => Ok(true),
            Err(DomainError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn hit_window(&self, key: &str, now: Timestamp, expires_at: Timestamp, limit: u32) -> DomainResult<bool> {
        if limit == 0 {
            return Ok(false);
        }
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            // A live window under its limit counts the hit.
            let inc = Expr::new("SET #count = #count + :one").name("#count", k::COUNT).value(":one", n(1));
            let live_with_room = Expr::new("#exp > :now AND #count < :limit")
                .name("#exp", k::EXPIRES_AT)
                .name("#count", k::COUNT)
                .value(":now", n(now.millis()))
                .value(":limit", n(limit));
            match self.update(codec::key(k::window(key), k::WINDOW), inc, live_with_room).await {
                Ok(()) => return Ok(true),
                Err(DomainError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            // Full, expired or absent. A live full window refuses the hit (and does not count it).
            if let Some(item) = self.get(k::window(key), k::WINDOW).await? {
                let (exp, count) = codec::window_state(&item)?;
                if exp > now {
                    if count >= limit {
                        return Ok(false);
                    }
                    continue; // another writer just opened it: count there
                }
            }
            // Absent or expired: open a new window with this hit in it.
            let stale = Expr::new("attribute_not_exists(#pk) OR #exp <= :now")
                .name("#pk", k::PK)
                .name("#exp", k::EXPIRES_AT)
                .value(":now", n(now.millis()));
            match self.put(codec::window_item(key, expires_at), Some(stale)).await {
                Ok(()) => return Ok(true),
                Err(DomainError::Conflict(_)) => continue, // another writer opened it first
                Err(e) => return Err(e),
            }
        }
        Err(DomainError::Unavailable(format!("rate window {key} is contended; try again")))
    }
}
