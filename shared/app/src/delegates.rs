//! The delegate-key pool: users are spread over a few KMS keys (`KMS_KEY_ID` plus
//! `KMS_POOL_KEY_ARNS`), so one key's compromise reaches only the traders who registered it.
//!
//! - Each user has one stable delegate: the key stored in [`User::delegate_key`], assigned when
//!   they bind a wallet ([`assign_at_bind`], by a hash of their user id) and never changed unless
//!   an operator edits it. A user bound before keys were assigned (no stored key) keeps the main
//!   key, the one they registered.
//! - `/wallet` and `/bind` show the user's own delegate address ([`address_for`]): the address to
//!   register with Avantis.
//! - Orders are signed by the trader's own key: [`PooledVenue`] routes each order to the venue of
//!   the key of the user who owns the trader account. A key that is not in the pool signs nothing.
//!
//! Without a pool configured, the main key is the pool of one.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, TelegramUserId, TraderAddress};
use vanta_domain::market::PairCatalog;
use vanta_domain::money::Usdc;
use vanta_domain::ports::{Delegation, Lookup, Signer, UserStore, Venue, VenueFill, VenueOrder, VenuePosition};
use vanta_domain::user::User;
use vanta_domain::{DomainError, DomainResult};

use crate::Deps;

/// One key of the pool.
#[derive(Clone)]
pub struct DelegateKey {
    /// How the key is configured (KMS key id or ARN; `local…` for local keys): what
    /// [`User::delegate_key`] stores.
    pub id: String,
    pub address: TraderAddress,
    /// Its signer (behind the exec-mode gate), where this function signs.
    pub signer: Option<Arc<dyn Signer>>,
}

impl std::fmt::Debug for DelegateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegateKey").field("id", &self.id).field("address", &self.address).finish_non_exhaustive()
    }
}

/// The pool: the main key first, then the extra keys, each once.
#[derive(Debug, Clone)]
pub struct DelegatePool {
    keys: Vec<DelegateKey>,
}

impl DelegatePool {
    /// A pool of `keys`, the first being the main key; a key listed twice (by id, or under
    /// another id with the same address, e.g. its id and its ARN) counts once.
    pub fn new(keys: Vec<DelegateKey>) -> DomainResult<Self> {
        let mut unique: Vec<DelegateKey> = Vec::new();
        for k in keys {
            if !unique.iter().any(|u| u.id == k.id || u.address == k.address) {
                unique.push(k);
            }
        }
        if unique.is_empty() {
            return Err(DomainError::Invalid("a delegate pool needs at least one key".into()));
        }
        Ok(Self { keys: unique })
    }

    /// A pool of one signer.
    pub fn single(id: impl Into<String>, signer: Arc<dyn Signer>) -> Self {
        Self { keys: vec![DelegateKey { id: id.into(), address: signer.address(), signer: Some(signer) }] }
    }

    pub fn keys(&self) -> &[DelegateKey] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The main key (`KMS_KEY_ID`).
    pub fn main(&self) -> DomainResult<&DelegateKey> {
        self.keys.first().ok_or_else(|| DomainError::Internal("empty delegate pool".into()))
    }

    pub fn get(&self, id: &str) -> Option<&DelegateKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The key a user gets when first assigned: SHA-256 of their user id, modulo the pool size
    /// (stable for a given pool; stored, so later pool changes move nobody).
    pub fn pick(&self, user: TelegramUserId) -> DomainResult<&DelegateKey> {
        let h = Sha256::digest(format!("vanta-delegate:{user}").as_bytes());
        let mut eight = [0u8; 8];
        eight.copy_from_slice(h.get(..8).unwrap_or(&[0u8; 8]));
        let n = u64::try_from(self.keys.len()).unwrap_or(1).max(1);
        let i = usize::try_from(u64::from_be_bytes(eight) % n).unwrap_or(0);
        self.keys.get(i).ok_or_else(|| DomainError::Internal("empty delegate pool".into()))
    }

    /// The key that signs for `user`: their stored key, or the main key when none is stored (a
    /// user bound before keys were assigned). A stored key the pool does not hold is refused:
    /// nothing is signed for that user until an operator restores the key or moves them.
    pub fn for_user(&self, user: &User) -> DomainResult<&DelegateKey> {
        match &user.delegate_key {
            None => self.main(),
            Some(id) => self.get(id).ok_or_else(|| {
                DomainError::Forbidden(format!(
                    "your delegate key is not configured in this deployment (ask the operators to restore it or move you); key {}",
                    short_key(id)
                ))
            }),
        }
    }

    /// The key `user` will have: [`DelegatePool::for_user`] once bound, else the one binding
    /// will assign.
    pub fn shown_for(&self, user: &User) -> DomainResult<&DelegateKey> {
        if user.delegate_key.is_none() && user.trader.is_none() { self.pick(user.id) } else { self.for_user(user) }
    }
}

/// The tail of a key id, enough for an operator to recognise it.
fn short_key(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// The delegate address `user` must register with Avantis (None: no key in this function).
pub fn address_for(deps: &Deps, user: &User) -> Option<TraderAddress> {
    match &deps.delegates {
        Some(pool) => pool.shown_for(user).ok().map(|k| k.address),
        None => deps.delegate,
    }
}

/// Stores the user's delegate key when they bind `address` (call after a successful bind with
/// the user as they were before it). A stored key is kept; a user rebinding the address they had
/// keeps the main key they registered for it; anyone else gets [`DelegatePool::pick`].
/// Returns the user as stored afterwards.
pub async fn assign_at_bind(deps: &Deps, before: &User, address: TraderAddress) -> DomainResult<User> {
    let missing = || DomainError::NotFound(format!("user {}", before.id));
    let Some(pool) = &deps.delegates else { return deps.store.get_user(before.id).await?.ok_or_else(missing) };
    for _ in 0..3 {
        let mut fresh = deps.store.get_user(before.id).await?.ok_or_else(missing)?;
        if fresh.delegate_key.is_some() {
            return Ok(fresh);
        }
        let key = if before.trader == Some(address) && before.delegate_key.is_none() { pool.main()? } else { pool.pick(before.id)? };
        fresh.delegate_key = Some(key.id.clone());
        match deps.store.update_user(&fresh).await {
            Ok(()) => {
                tracing::info!(user = %before.id, delegate = %key.address, "delegate key assigned");
                return Ok(fresh);
            }
            Err(DomainError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(DomainError::Unavailable("the delegate key could not be recorded; try again".into()))
}

// ---------------------------------------------------------------------------------------------
// Routing orders to the trader's own key
// ---------------------------------------------------------------------------------------------

/// The LIVE venue over a pool: one venue per key (each signing with that key), and each order
/// sent through the venue of the key of the user who owns the trader account.
pub struct PooledVenue {
    users: Arc<dyn UserStore>,
    pool: Arc<DelegatePool>,
    venues: BTreeMap<String, Arc<dyn Venue>>,
}

impl PooledVenue {
    /// `venues` by key id; every key of the pool needs one.
    pub fn new(users: Arc<dyn UserStore>, pool: Arc<DelegatePool>, venues: BTreeMap<String, Arc<dyn Venue>>) -> DomainResult<Self> {
        if let Some(k) = pool.keys().iter().find(|k| !venues.contains_key(&k.id)) {
            return Err(DomainError::Invalid(format!("no venue for delegate key {}", short_key(&k.id))));
        }
        Ok(Self { users, pool, venues })
    }

    fn main(&self) -> DomainResult<&Arc<dyn Venue>> {
        let id = &self.pool.main()?.id;
        self.venues.get(id).ok_or_else(|| DomainError::Internal("no venue for the main delegate key".into()))
    }

    /// The venue that signs for `trader`'s owner.
    async fn venue_for(&self, trader: TraderAddress) -> DomainResult<&Arc<dyn Venue>> {
        let user = self
            .users
            .user_by_address(trader)
            .await?
            .ok_or_else(|| DomainError::Forbidden(format!("{trader} is not bound to a Vanta user: no delegate key signs for it")))?;
        let key = self.pool.for_user(&user)?;
        self.venues.get(&key.id).ok_or_else(|| DomainError::Internal(format!("no venue for delegate key {}", short_key(&key.id))))
    }
}

fn order_trader(order: &VenueOrder) -> TraderAddress {
    match order {
        VenueOrder::Open { trader, .. } | VenueOrder::Close { trader, .. } | VenueOrder::UpdateTpSl { trader, .. } => *trader,
    }
}

#[async_trait]
impl Venue for PooledVenue {
    fn mode(&self) -> ExecMode {
        ExecMode::Live
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.main()?.pairs().await
    }
    async fn execute(&self, client_ref: &IntentId, order: &VenueOrder) -> DomainResult<VenueFill> {
        self.venue_for(order_trader(order)).await?.execute(client_ref, order).await
    }
    async fn positions(&self, trader: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.main()?.positions(trader).await
    }
    /// Asks every key's venue (a reference carries no trader): a fill anywhere is the fill; "not
    /// executed" only when every key says so; anything else is unknown.
    async fn lookup(&self, client_ref: &IntentId) -> DomainResult<Lookup> {
        let mut all_not_executed = true;
        for v in self.venues.values() {
            match v.lookup(client_ref).await? {
                Lookup::Filled(f) => return Ok(Lookup::Filled(f)),
                Lookup::NotExecuted => {}
                Lookup::Unknown => all_not_executed = false,
            }
        }
        Ok(if all_not_executed { Lookup::NotExecuted } else { Lookup::Unknown })
    }
    async fn equity(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        self.main()?.equity(trader).await
    }
    async fn wallet_usdc(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        self.main()?.wallet_usdc(trader).await
    }
    async fn delegation(&self, trader: TraderAddress, delegate: TraderAddress) -> DomainResult<Option<Delegation>> {
        self.main()?.delegation(trader, delegate).await
    }
    async fn history(
        &self,
        trader: TraderAddress,
        since: Option<vanta_domain::time::Timestamp>,
    ) -> DomainResult<Option<vanta_domain::recon::VenueHistory>> {
        self.main()?.history(trader, since).await
    }
    async fn limit_orders(&self, trader: TraderAddress) -> DomainResult<Option<Vec<vanta_domain::recon::VenueLimitOrder>>> {
        self.main()?.limit_orders(trader).await
    }
}
