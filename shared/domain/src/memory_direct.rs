//! In-memory twins of the direct route's ports ([`crate::direct`]): one process only (tests,
//! the bench). Feature `test-fakes`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::Address;
use async_trait::async_trait;

use crate::direct::{
    DEFAULT_LEASE_TTL, Lease, NonceLease, TxAttempt, TxChange, TxEvent, TxNote, TxRecord, TxState, TxStore, check_attempt_number,
    check_change, new_token,
};
use crate::error::{DomainError, DomainResult};
use crate::time::{Clock, Timestamp};

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

/// The in-memory transaction-record store, for one process (tests).
#[derive(Debug, Default)]
pub struct MemoryTxStore {
    records: Mutex<HashMap<String, TxRecord>>,
}

impl MemoryTxStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> DomainResult<std::sync::MutexGuard<'_, HashMap<String, TxRecord>>> {
        self.records.lock().map_err(|_| DomainError::Internal("the tx store lock is poisoned".into()))
    }

    fn with_record<T>(&self, id: &str, f: impl FnOnce(&mut TxRecord) -> DomainResult<T>) -> DomainResult<T> {
        let mut all = self.lock()?;
        let rec = all.get_mut(id).ok_or_else(|| DomainError::NotFound(format!("transaction {id}")))?;
        f(rec)
    }
}

#[async_trait]
impl TxStore for MemoryTxStore {
    async fn create(&self, record: &TxRecord) -> DomainResult<()> {
        let mut all = self.lock()?;
        if all.contains_key(&record.id) {
            return Err(DomainError::Conflict(format!("transaction {} exists", record.id)));
        }
        all.insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, id: &str) -> DomainResult<Option<TxRecord>> {
        Ok(self.lock()?.get(id).cloned())
    }

    async fn transition(&self, id: &str, expected: TxState, change: &TxChange) -> DomainResult<()> {
        self.with_record(id, |rec| {
            if rec.state != expected {
                return Err(DomainError::Conflict(format!("transaction {id} is {}, not {expected}", rec.state)));
            }
            check_change(rec.attempts.len(), expected, change)?;
            if let Some(a) = &change.attempt {
                rec.attempts.push(a.clone());
            }
            if let Some(n) = change.nonce {
                rec.nonce = Some(n);
            }
            if let Some(r) = &change.receipt {
                rec.receipt = Some(r.clone());
            }
            rec.history.push(TxEvent { at: change.at, from: expected, to: change.to, note: change.note.clone() });
            rec.state = change.to;
            rec.updated_at = change.at;
            Ok(())
        })
    }

    async fn add_attempt(&self, id: &str, expected: TxState, attempt: &TxAttempt) -> DomainResult<()> {
        self.with_record(id, |rec| {
            if rec.state != expected {
                return Err(DomainError::Conflict(format!("transaction {id} is {}, not {expected}", rec.state)));
            }
            check_attempt_number(rec.attempts.len(), attempt)?;
            rec.attempts.push(attempt.clone());
            rec.updated_at = attempt.at;
            Ok(())
        })
    }

    async fn annotate(&self, id: &str, note: &TxNote) -> DomainResult<()> {
        self.with_record(id, |rec| {
            rec.notes.push(note.clone());
            Ok(())
        })
    }
}
