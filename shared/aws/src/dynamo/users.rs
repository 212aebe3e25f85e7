//! Users, address claims and the exec-control item.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use vanta_domain::exec::{ExecControl, FlattenRun};
use vanta_domain::ids::{TelegramUserId, TraderAddress};
use vanta_domain::ports::{ControlStore, UserStore};
use vanta_domain::time::Timestamp;
use vanta_domain::user::User;
use vanta_domain::wallet::{AddressClaim, ChallengeState, WalletChallenge};
use vanta_domain::{DomainError, DomainResult};

use super::codec::{self, UserRow, json, n, s};
use super::errors::TxError;
use super::keys as k;
use super::{DynamoStore, Expr, OPTIMISTIC_ATTEMPTS, Query, new_item};

/// The profile's revision is still `rev` (a missing `rev` reads as 0).
fn rev_is(rev: u64) -> Expr {
    let text = if rev == 0 { "attribute_exists(#pk) AND (attribute_not_exists(#rev) OR #rev = :rev)" } else { "#rev = :rev" };
    Expr::new(text).name("#pk", k::PK).name("#rev", k::REV).value(":rev", n(rev))
}

impl DynamoStore {
    async fn user_row(&self, id: TelegramUserId) -> DomainResult<Option<UserRow>> {
        self.get_as(k::user(id), k::PROFILE).await
    }

    async fn claim_owner(&self, address: &TraderAddress) -> DomainResult<Option<TelegramUserId>> {
        self.get(k::addr(address), k::CLAIM).await?.as_ref().map(codec::claim_owner).transpose()
    }

    /// `Conflict` if another user holds `address`.
    async fn refuse_foreign_claim(&self, user: TelegramUserId, address: &TraderAddress) -> DomainResult<()> {
        match self.claim_owner(address).await? {
            Some(owner) if owner != user => Err(DomainError::Conflict(format!("{address} is bound to another user"))),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn get_or_create_user(&self, mut user: User) -> DomainResult<User> {
        // The profile is written without gsi2 attributes and without an address: only
        // `bind_address`, which also writes the claim, binds one.
        user.trader = None;
        user.trader_verified_at = None;
        match self.put(codec::user_item(&user, 0)?, Some(new_item())).await {
            Ok(()) => Ok(user),
            Err(DomainError::Conflict(_)) => self
                .user_row(user.id)
                .await?
                .map(|r| r.user)
                .ok_or_else(|| DomainError::Internal(format!("user {} exists and cannot be read", user.id))),
            Err(e) => Err(e),
        }
    }

    async fn get_user(&self, id: TelegramUserId) -> DomainResult<Option<User>> {
        Ok(self.user_row(id).await?.map(|r| r.user))
    }

    async fn update_user(&self, user: &User) -> DomainResult<()> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let row = self.user_row(user.id).await?.ok_or_else(|| DomainError::NotFound(format!("user {}", user.id)))?;
            let mut next = user.clone();
            next.trader = row.user.trader;
            next.trader_verified_at = row.user.trader_verified_at;
            let update = Expr::new("SET #data = :data, #rev = :next")
                .name("#data", k::DATA)
                .name("#rev", k::REV)
                .value(":data", json(&next)?)
                .value(":next", n(row.rev.saturating_add(1)));
            match self.update(codec::key(k::user(user.id), k::PROFILE), update, rev_is(row.rev)).await {
                Ok(()) => return Ok(()),
                Err(DomainError::Conflict(_)) => continue, // changed meanwhile: re-read, keep its trader
                Err(e) => return Err(e),
            }
        }
        Err(DomainError::Conflict(format!("user {} kept changing meanwhile", user.id)))
    }

    async fn bind_address(&self, user: TelegramUserId, address: TraderAddress) -> DomainResult<User> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let Some(row) = self.user_row(user).await? else {
                self.refuse_foreign_claim(user, &address).await?;
                return Err(DomainError::NotFound(format!("user {user}")));
            };
            if row.user.trader == Some(address) {
                return Ok(row.user); // the same address again: nothing changes (a proof stays)
            }
            let mut next = row.user.clone();
            next.trader = Some(address);
            next.trader_verified_at = None;
            let me = n(user.0);
            let mut ops = vec![
                self.tx_put(
                    codec::claim_item(&address, user),
                    Some(
                        Expr::new("attribute_not_exists(#pk) OR #owner = :me")
                            .name("#pk", k::PK)
                            .name("#owner", k::OWNER)
                            .value(":me", me.clone()),
                    ),
                )?,
                self.tx_update(
                    codec::key(k::user(user), k::PROFILE),
                    Expr::new("SET #data = :data, #rev = :next, #g2pk = :g2pk, #g2sk = :g2sk, #g1pk = :g1pk, #g1sk = :g1sk")
                        .name("#data", k::DATA)
                        .name("#rev", k::REV)
                        .name("#g2pk", k::GSI2PK)
                        .name("#g2sk", k::GSI2SK)
                        .name("#g1pk", k::GSI1PK)
                        .name("#g1sk", k::GSI1SK)
                        .value(":data", json(&next)?)
                        .value(":next", n(row.rev.saturating_add(1)))
                        .value(":g2pk", s(k::addr(&address)))
                        .value(":g2sk", s(k::user(user)))
                        // The sparse list of users with a wallet (the delegation scan).
                        .value(":g1pk", s(k::WALLET_USER))
                        .value(":g1sk", s(k::user(user))),
                    rev_is(row.rev),
                )?,
            ];
            // Release the previous address, but only a claim this user really holds.
            if let Some(prev) = row.user.trader.filter(|p| *p != address)
                && self.claim_owner(&prev).await? == Some(user)
            {
                let cond = Expr::new("#owner = :me").name("#owner", k::OWNER).value(":me", me.clone());
                ops.push(self.tx_delete(codec::key(k::addr(&prev), k::CLAIM), cond)?);
            }
            match self.transact("bind_address", ops).await {
                Ok(()) => return Ok(next),
                Err(e) if e.failed(0) => return Err(DomainError::Conflict(format!("{address} is bound to another user"))),
                // The profile or the old claim changed meanwhile (or the service did not say which
                // condition failed): check the address again, then retry on fresh reads.
                Err(TxError::Condition { .. }) => self.refuse_foreign_claim(user, &address).await?,
                Err(TxError::Other(e)) => return Err(e),
            }
        }
        Err(DomainError::Conflict(format!("user {user} kept changing meanwhile")))
    }

    async fn user_by_address(&self, address: TraderAddress) -> DomainResult<Option<User>> {
        let rows: Vec<UserRow> = self.query_as(Query::gsi2(k::addr(&address)).prefix("USER#")).await?;
        Ok(rows.into_iter().map(|r| r.user).find(|u| u.trader == Some(address)))
    }

    async fn wallet_users(&self) -> DomainResult<Vec<User>> {
        let rows: Vec<UserRow> = self.query_as(Query::gsi1(k::WALLET_USER.to_owned()).prefix("USER#")).await?;
        // The index is eventually consistent: a user who lost the wallet meanwhile is left out.
        let mut users: Vec<User> = rows.into_iter().map(|r| r.user).filter(|u| u.trader.is_some()).collect();
        users.sort_by_key(|u| u.id);
        Ok(users)
    }

    async fn address_claim(&self, address: TraderAddress) -> DomainResult<Option<AddressClaim>> {
        self.get(k::addr(&address), k::CLAIM).await?.as_ref().map(codec::claim_of).transpose()
    }

    async fn put_challenge(&self, c: &WalletChallenge) -> DomainResult<()> {
        match self.put(codec::challenge_item(c), Some(new_item())).await {
            Err(DomainError::Conflict(_)) => Err(DomainError::Conflict(format!("challenge {} exists", c.nonce))),
            other => other,
        }
    }

    async fn get_challenge(&self, nonce: &str) -> DomainResult<Option<WalletChallenge>> {
        self.get_as(k::challenge(nonce), k::CHALLENGE).await
    }

    async fn user_challenges(&self, user: TelegramUserId, limit: usize) -> DomainResult<Vec<WalletChallenge>> {
        self.query_as(Query::gsi1(k::user(user)).prefix(k::CHALLENGE_PREFIX).newest_first().max(limit)).await
    }

    async fn verify_binding(&self, nonce: &str, user: TelegramUserId, now: Timestamp) -> DomainResult<User> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let c = self.get_challenge(nonce).await?.ok_or_else(|| DomainError::NotFound(format!("challenge {nonce}")))?;
            if c.user != user {
                return Err(DomainError::Forbidden("this challenge was issued to another user".into()));
            }
            refuse_closed(&c, now)?;
            let address = c.address;
            let row = self.user_row(user).await?.ok_or_else(|| DomainError::NotFound(format!("user {user}")))?;
            let claim = self.address_claim(address).await?;
            let me = n(user.0);
            let (f, t) = (AttributeValue::Bool(false), AttributeValue::Bool(true));
            // The claim must still be what was read: absent, ours, or another user's unverified one.
            let claim_cond = match claim {
                None => new_item(),
                Some(cl) if cl.owner == user => Expr::new("#owner = :me").name("#owner", k::OWNER).value(":me", me.clone()),
                Some(cl) if cl.verified => return Err(DomainError::Conflict(format!("{address} is verified by another user"))),
                Some(cl) => Expr::new("#owner = :other AND (attribute_not_exists(#verified) OR #verified = :f)")
                    .name("#owner", k::OWNER)
                    .name("#verified", k::VERIFIED)
                    .value(":other", n(cl.owner.0))
                    .value(":f", f.clone()),
            };
            let mut next = row.user.clone();
            next.trader = Some(address);
            next.trader_verified_at = Some(now);
            let mut ops = vec![
                self.tx_update(
                    codec::key(k::challenge(nonce), k::CHALLENGE),
                    Expr::new("SET #used = :t").name("#used", k::USED).value(":t", t),
                    Expr::new("#owner = :me AND #used = :f AND #exp > :now")
                        .name("#owner", k::OWNER)
                        .name("#used", k::USED)
                        .name("#exp", k::EXPIRES_AT)
                        .value(":me", me.clone())
                        .value(":f", f)
                        .value(":now", n(now.millis())),
                )?,
                self.tx_put(codec::verified_claim_item(&address, user, now), Some(claim_cond))?,
                self.tx_update(
                    codec::key(k::user(user), k::PROFILE),
                    Expr::new("SET #data = :data, #rev = :next, #g2pk = :g2pk, #g2sk = :g2sk, #g1pk = :g1pk, #g1sk = :g1sk")
                        .name("#data", k::DATA)
                        .name("#rev", k::REV)
                        .name("#g2pk", k::GSI2PK)
                        .name("#g2sk", k::GSI2SK)
                        .name("#g1pk", k::GSI1PK)
                        .name("#g1sk", k::GSI1SK)
                        .value(":data", json(&next)?)
                        .value(":next", n(row.rev.saturating_add(1)))
                        .value(":g2pk", s(k::addr(&address)))
                        .value(":g2sk", s(k::user(user)))
                        // The sparse list of users with a wallet (the delegation scan).
                        .value(":g1pk", s(k::WALLET_USER))
                        .value(":g1sk", s(k::user(user))),
                    rev_is(row.rev),
                )?,
            ];
            if let Some(prev) = row.user.trader.filter(|p| *p != address)
                && self.claim_owner(&prev).await? == Some(user)
            {
                let cond = Expr::new("#owner = :me").name("#owner", k::OWNER).value(":me", me.clone());
                ops.push(self.tx_delete(codec::key(k::addr(&prev), k::CLAIM), cond)?);
            }
            // The owner who proves it wins: an unverified binding of the address gives way.
            if let Some(cl) = claim.filter(|cl| cl.owner != user)
                && let Some(other) = self.user_row(cl.owner).await?
                && other.user.trader == Some(address)
            {
                let mut dropped = other.user.clone();
                dropped.trader = None;
                dropped.trader_verified_at = None;
                ops.push(
                    self.tx_update(
                        codec::key(k::user(cl.owner), k::PROFILE),
                        Expr::new("SET #data = :data, #rev = :next REMOVE #g2pk, #g2sk, #g1pk, #g1sk")
                            .name("#data", k::DATA)
                            .name("#rev", k::REV)
                            .name("#g2pk", k::GSI2PK)
                            .name("#g2sk", k::GSI2SK)
                            .name("#g1pk", k::GSI1PK)
                            .name("#g1sk", k::GSI1SK)
                            .value(":data", json(&dropped)?)
                            .value(":next", n(other.rev.saturating_add(1))),
                        rev_is(other.rev),
                    )?,
                );
            }
            match self.transact("verify_binding", ops).await {
                Ok(()) => return Ok(next),
                Err(e) if e.failed(0) => {
                    // Used or expired meanwhile (or never this user's): say which.
                    let c = self.get_challenge(nonce).await?.ok_or_else(|| DomainError::NotFound(format!("challenge {nonce}")))?;
                    refuse_closed(&c, now)?;
                    return Err(DomainError::Conflict("this challenge changed meanwhile".into()));
                }
                // The claim or a profile changed meanwhile: re-read and decide again.
                Err(TxError::Condition { .. }) => continue,
                Err(TxError::Other(e)) => return Err(e),
            }
        }
        Err(DomainError::Conflict(format!("user {user} kept changing meanwhile")))
    }
}

/// `Conflict` for a challenge that can no longer be completed.
fn refuse_closed(c: &WalletChallenge, now: Timestamp) -> DomainResult<()> {
    match c.state_at(now) {
        ChallengeState::Used => Err(DomainError::Conflict("this challenge was used already".into())),
        ChallengeState::Expired => Err(DomainError::Conflict("this challenge has expired".into())),
        ChallengeState::Open => Ok(()),
    }
}

#[async_trait]
impl ControlStore for DynamoStore {
    async fn get_exec_control(&self) -> DomainResult<Option<ExecControl>> {
        self.get_as(k::CONTROL.to_owned(), k::EXEC_MODE).await
    }

    async fn put_exec_control(&self, next: &ExecControl) -> DomainResult<()> {
        let written = match next.version.checked_sub(1) {
            None => Err(DomainError::Conflict("version 0 is never written".into())),
            Some(prev) => {
                // An item an operator wrote by hand has no version: it counts as version 0.
                let text = if prev == 0 {
                    "attribute_not_exists(#pk) OR attribute_not_exists(#version) OR #version = :prev OR #version = :prev_s"
                } else {
                    "#version = :prev OR #version = :prev_s"
                };
                let cond = Expr::new(text)
                    .name("#pk", k::PK)
                    .name("#version", k::VERSION)
                    .value(":prev", n(prev))
                    .value(":prev_s", s(prev.to_string()));
                self.put(codec::control_item(next), Some(cond)).await
            }
        };
        match written {
            Err(DomainError::Conflict(_)) => {
                let current = self.get_exec_control().await.ok().flatten().map_or(0, |c| c.version);
                Err(DomainError::Conflict(format!("exec mode changed meanwhile (version {current})")))
            }
            other => other,
        }
    }

    async fn put_heartbeat(&self, job: &str, at: Timestamp) -> DomainResult<()> {
        let mut item = codec::Item::new();
        item.insert(k::PK.into(), s(k::JOBS));
        item.insert(k::SK.into(), s(format!("{}{job}", k::HEARTBEAT_PREFIX)));
        item.insert(k::UPDATED_AT.into(), n(at.millis()));
        self.put(item, None).await
    }

    async fn get_flatten_run(&self) -> DomainResult<Option<FlattenRun>> {
        // Under JOBS; a run recorded before it moved there is still read under CONTROL.
        let item = match self.get(k::JOBS.to_owned(), k::FLATTEN_RUN).await? {
            Some(item) => item,
            None => match self.get(k::CONTROL.to_owned(), k::FLATTEN_RUN).await? {
                Some(legacy) => legacy,
                None => return Ok(None),
            },
        };
        let data =
            item.get(k::DATA).and_then(|v| v.as_s().ok()).ok_or_else(|| DomainError::Internal("the flatten record has no data".into()))?;
        serde_json::from_str(data).map(Some).map_err(|e| DomainError::Internal(format!("unreadable flatten record: {e}")))
    }

    async fn put_flatten_run(&self, run: &FlattenRun) -> DomainResult<()> {
        let mut item = codec::Item::new();
        item.insert(k::PK.into(), s(k::JOBS));
        item.insert(k::SK.into(), s(k::FLATTEN_RUN));
        item.insert(k::DATA.into(), s(serde_json::to_string(run).map_err(|e| DomainError::Internal(e.to_string()))?));
        self.put(item, None).await
    }

    async fn recon_wallets(&self) -> DomainResult<Vec<vanta_domain::recon::ReconWallet>> {
        self.recon_wallets_impl().await
    }

    async fn get_recon_wallet(&self, wallet: TraderAddress) -> DomainResult<Option<vanta_domain::recon::ReconWallet>> {
        self.get_recon_wallet_impl(wallet).await
    }

    async fn put_recon_wallet(&self, w: &vanta_domain::recon::ReconWallet) -> DomainResult<()> {
        self.put_recon_wallet_impl(w).await
    }

    async fn get_stored_limits(&self) -> DomainResult<Option<vanta_domain::limits::StoredLimits>> {
        self.get(k::CONTROL.to_owned(), super::limits::LIMITS).await?.as_ref().map(super::limits::limits_of).transpose()
    }

    async fn put_stored_limits(&self, l: &vanta_domain::limits::StoredLimits) -> DomainResult<()> {
        self.put(super::limits::limits_item(l), None).await
    }

    async fn heartbeats(&self) -> DomainResult<Vec<(String, Timestamp)>> {
        // Under JOBS, and under CONTROL where they were written before: the later of the two.
        let mut items = self.query(Query::table(k::JOBS.to_owned()).prefix(k::HEARTBEAT_PREFIX)).await?;
        items.extend(self.query(Query::table(k::CONTROL.to_owned()).prefix(k::HEARTBEAT_PREFIX)).await?);
        let mut latest: std::collections::BTreeMap<String, Timestamp> = std::collections::BTreeMap::new();
        for (job, at) in items.iter().filter_map(|i| {
            let job = i.get(k::SK)?.as_s().ok()?.strip_prefix(k::HEARTBEAT_PREFIX)?.to_owned();
            let at = i.get(k::UPDATED_AT)?.as_n().ok()?.parse::<i64>().ok()?;
            Some((job, Timestamp(at)))
        }) {
            let slot = latest.entry(job).or_insert(at);
            *slot = (*slot).max(at);
        }
        Ok(latest.into_iter().collect())
    }
}
