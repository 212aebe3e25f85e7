//! The nonce lease: hands out each nonce of an address exactly once across many processes.
//!
//! Protocol (the same for every implementation):
//!
//! - [`NonceLease::acquire`] returns the lowest nonce that is neither on chain nor held by
//!   anyone: first a nonce given back with [`NonceLease::release_unused`] (or reclaimed from an
//!   expired lease), else the next value of a counter. `chain_pending` (the node's pending nonce)
//!   moves the counter forward when the chain is ahead (another wallet or a lost record used
//!   nonces), and drops given-back nonces the chain has consumed since.
//! - Every acquired nonce is *leased* (a record with an owner token and an expiry) until the
//!   holder calls [`NonceLease::confirm`] (it was broadcast: the nonce is gone for good) or
//!   [`NonceLease::release_unused`] (it was never broadcast: the next `acquire` reuses it).
//! - A holder that dies between `acquire` and either call leaves an expired lease behind; the
//!   next `acquire` reclaims it (if the chain has not consumed it). So a nonce is never lost
//!   silently, and no gap stays open longer than the lease time.
//!
//! A holder must broadcast before its lease expires (it checks [`Lease::expires_at`]); a
//! `confirm` that finds the lease gone returns `Conflict` (the nonce may have been reissued, and
//! one of the two transactions will meet "nonce too low" and lease again).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::Address;
use async_trait::async_trait;
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::time::{Clock, Timestamp};

/// How long a lease is held by default before another process may reclaim it.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(60);

/// A leased nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Address,
    pub nonce: u64,
    /// The holder's random token; `confirm` and `release_unused` check it.
    pub token: String,
    /// After this, another process may reclaim the nonce.
    pub expires_at: Timestamp,
}

/// The nonce-lease port. See the module documentation for the protocol.
#[async_trait]
pub trait NonceLease: Send + Sync {
    /// Leases the lowest free nonce of `address`, at least `chain_pending`.
    async fn acquire(&self, address: Address, chain_pending: u64) -> DomainResult<Lease>;
    /// The nonce was never broadcast: give it back for reuse. A lease already reclaimed by
    /// someone else is left alone (Ok).
    async fn release_unused(&self, lease: &Lease) -> DomainResult<()>;
    /// The nonce was broadcast: it is used for good. `Conflict` if the lease had expired and was
    /// reclaimed meanwhile.
    async fn confirm(&self, lease: &Lease) -> DomainResult<()>;
}

/// A fresh random lease token (128 bits, hex).
pub fn new_token() -> String {
    let bytes: [u8; 16] = rand::random();
    alloy::hex::encode(bytes)
}

// ---------------------------------------------------------------------------------------------
// In memory
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct AddressState {
    next: u64,
    free: BTreeSet<u64>,
    /// nonce → (token, expires_at)
    leased: BTreeMap<u64, (String, Timestamp)>,
}

/// The in-memory lease, for one process (tests, `make run`).
pub struct MemoryNonceLease {
    clock: Arc<dyn Clock>,
    ttl: Duration,
    state: Mutex<HashMap<Address, AddressState>>,
}

impl MemoryNonceLease {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_ttl(clock, DEFAULT_LEASE_TTL)
    }

    pub fn with_ttl(clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self { clock, ttl, state: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> DomainResult<std::sync::MutexGuard<'_, HashMap<Address, AddressState>>> {
        self.state.lock().map_err(|_| DomainError::Internal("the nonce lease lock is poisoned".into()))
    }

    /// The nonces currently given back (for tests and diagnostics).
    pub fn free_nonces(&self, address: Address) -> DomainResult<Vec<u64>> {
        Ok(self.lock()?.get(&address).map(|s| s.free.iter().copied().collect()).unwrap_or_default())
    }
}

#[async_trait]
impl NonceLease for MemoryNonceLease {
    async fn acquire(&self, address: Address, chain_pending: u64) -> DomainResult<Lease> {
        let now = self.clock.now();
        let mut all = self.lock()?;
        let st = all.entry(address).or_default();
        // Reclaim expired leases; forget what the chain has consumed.
        let expired: Vec<u64> = st.leased.iter().filter(|(_, (_, exp))| *exp <= now).map(|(n, _)| *n).collect();
        for n in expired {
            st.leased.remove(&n);
            st.free.insert(n);
        }
        st.free.retain(|n| *n >= chain_pending);
        let nonce = match st.free.pop_first() {
            Some(n) => n,
            None => {
                let n = st.next.max(chain_pending);
                st.next = n.checked_add(1).ok_or_else(|| DomainError::Internal("nonce overflow".into()))?;
                n
            }
        };
        let lease = Lease { address, nonce, token: new_token(), expires_at: now.plus(self.ttl) };
        st.leased.insert(nonce, (lease.token.clone(), lease.expires_at));
        Ok(lease)
    }

    async fn release_unused(&self, lease: &Lease) -> DomainResult<()> {
        let mut all = self.lock()?;
        let st = all.entry(lease.address).or_default();
        if st.leased.get(&lease.nonce).is_some_and(|(t, _)| *t == lease.token) {
            st.leased.remove(&lease.nonce);
            st.free.insert(lease.nonce);
        }
        Ok(())
    }

    async fn confirm(&self, lease: &Lease) -> DomainResult<()> {
        let mut all = self.lock()?;
        let st = all.entry(lease.address).or_default();
        if st.leased.get(&lease.nonce).is_some_and(|(t, _)| *t == lease.token) {
            st.leased.remove(&lease.nonce);
            Ok(())
        } else {
            Err(DomainError::Conflict(format!("the lease on nonce {} expired and was reclaimed", lease.nonce)))
        }
    }
}
