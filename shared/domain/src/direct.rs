//! The direct route's ports: the [`NonceLease`] (each nonce of an address handed out once
//! across processes) and the [`TxStore`] (transaction records with every attempt and the state
//! history), with the types they carry. The direct route itself is in `vanta_chain::direct`; the
//! DynamoDB adapters are in `vanta_aws::direct`; the in-memory twins (feature `test-fakes`) are
//! [`MemoryNonceLease`] and [`MemoryTxStore`].
//!
//! ## The nonce lease
//!
//! Hands out each nonce of an address exactly once across many processes.
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
//!
//! ## Transaction records
//!
//! One record per logical transaction (an idempotency id chosen by the caller),
//! with every signed attempt (the first one and each replacement) and the state history.
//!
//! States: `CREATED → SIGNED → SENT → (REPLACED →)* MINED | FAILED` (see
//! [`TxState::can_move_to`]). Every write is conditional on the state the writer read, so two
//! processes cannot both move the same record.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U256};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::time::Timestamp;

#[cfg(any(test, feature = "test-fakes"))]
pub use crate::memory_direct::{MemoryNonceLease, MemoryTxStore};

// ---------------------------------------------------------------------------------------------
// The nonce lease
// ---------------------------------------------------------------------------------------------

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
    alloy_primitives::hex::encode(bytes)
}

// ---------------------------------------------------------------------------------------------
// Transaction records
// ---------------------------------------------------------------------------------------------

/// Where a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TxState {
    /// Recorded; nothing signed yet.
    Created,
    /// An attempt is signed (and persisted) but not known to be broadcast.
    Signed,
    /// The first attempt was broadcast.
    Sent,
    /// A replacement (same nonce, higher fees) was broadcast.
    Replaced,
    /// Mined with status 1.
    Mined,
    /// Mined with status 0 (reverted), or refused before broadcast (simulation reverted, the node
    /// rejected it), or its nonce was consumed by another transaction.
    Failed,
}

impl TxState {
    pub fn as_str(self) -> &'static str {
        match self {
            TxState::Created => "CREATED",
            TxState::Signed => "SIGNED",
            TxState::Sent => "SENT",
            TxState::Replaced => "REPLACED",
            TxState::Mined => "MINED",
            TxState::Failed => "FAILED",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, TxState::Mined | TxState::Failed)
    }

    /// Whether something may be in the mempool under this state.
    pub fn is_in_flight(self) -> bool {
        matches!(self, TxState::Sent | TxState::Replaced)
    }

    /// The allowed transitions. `SIGNED → SIGNED` is a re-sign with a fresh nonce (the first one
    /// was taken); `REPLACED → REPLACED` is a further replacement.
    pub fn can_move_to(self, to: TxState) -> bool {
        use TxState::*;
        matches!(
            (self, to),
            (Created, Signed | Failed)
                | (Signed, Signed | Sent | Failed)
                | (Sent, Replaced | Mined | Failed)
                | (Replaced, Replaced | Mined | Failed)
        )
    }
}

impl fmt::Display for TxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TxState {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "CREATED" => TxState::Created,
            "SIGNED" => TxState::Signed,
            "SENT" => TxState::Sent,
            "REPLACED" => TxState::Replaced,
            "MINED" => TxState::Mined,
            "FAILED" => TxState::Failed,
            other => return Err(DomainError::Internal(format!("unknown transaction state {other:?}"))),
        })
    }
}

/// One signed transaction (the first one, or a replacement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxAttempt {
    /// 1, 2, … in signing order.
    pub n: u32,
    pub hash: B256,
    pub nonce: u64,
    pub gas_limit: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    pub at: Timestamp,
}

/// A state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxEvent {
    pub at: Timestamp,
    pub from: TxState,
    pub to: TxState,
    pub note: Option<String>,
}

/// A remark that is not a state change (e.g. the fee cap stopped a replacement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxNote {
    pub at: Timestamp,
    pub text: String,
}

/// What the chain says about the mined attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxReceiptInfo {
    pub hash: B256,
    pub block_number: u64,
    pub gas_used: u64,
    pub effective_gas_price: u128,
    /// Receipt status 1.
    pub success: bool,
}

/// The record of one logical transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRecord {
    pub id: String,
    pub chain_id: u64,
    pub from: Address,
    pub to: Address,
    pub value: U256,
    pub data: Bytes,
    pub state: TxState,
    /// The nonce of the current attempts (set when signed).
    pub nonce: Option<u64>,
    /// Every attempt, in order.
    pub attempts: Vec<TxAttempt>,
    pub history: Vec<TxEvent>,
    pub notes: Vec<TxNote>,
    pub receipt: Option<TxReceiptInfo>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl TxRecord {
    pub fn new(id: impl Into<String>, chain_id: u64, from: Address, to: Address, value: U256, data: Bytes, at: Timestamp) -> Self {
        Self {
            id: id.into(),
            chain_id,
            from,
            to,
            value,
            data,
            state: TxState::Created,
            nonce: None,
            attempts: Vec::new(),
            history: Vec::new(),
            notes: Vec::new(),
            receipt: None,
            created_at: at,
            updated_at: at,
        }
    }

    /// The latest attempt.
    pub fn last_attempt(&self) -> Option<&TxAttempt> {
        self.attempts.last()
    }

    /// The attempts with the current nonce (earlier ones, signed with a nonce another
    /// transaction took, can never be mined).
    pub fn live_attempts(&self) -> impl Iterator<Item = &TxAttempt> {
        let nonce = self.nonce;
        self.attempts.iter().filter(move |a| Some(a.nonce) == nonce)
    }

    /// The states the record went through, starting with `CREATED`.
    pub fn state_path(&self) -> Vec<TxState> {
        let mut path = vec![TxState::Created];
        path.extend(self.history.iter().map(|e| e.to));
        path
    }
}

/// A state change, with what comes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxChange {
    pub to: TxState,
    pub at: Timestamp,
    /// An attempt to persist with the change (numbered next).
    pub attempt: Option<TxAttempt>,
    /// Sets the record's nonce.
    pub nonce: Option<u64>,
    pub receipt: Option<TxReceiptInfo>,
    pub note: Option<String>,
}

impl TxChange {
    pub fn to(to: TxState, at: Timestamp) -> Self {
        Self { to, at, attempt: None, nonce: None, receipt: None, note: None }
    }
    pub fn with_attempt(mut self, attempt: TxAttempt) -> Self {
        self.nonce = Some(attempt.nonce);
        self.attempt = Some(attempt);
        self
    }
    pub fn with_receipt(mut self, receipt: TxReceiptInfo) -> Self {
        self.receipt = Some(receipt);
        self
    }
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Storage of transaction records.
#[async_trait]
pub trait TxStore: Send + Sync {
    /// Creates a record in `CREATED`; `Conflict` if the id exists.
    async fn create(&self, record: &TxRecord) -> DomainResult<()>;
    /// The record with its attempts (strongly consistent).
    async fn get(&self, id: &str) -> DomainResult<Option<TxRecord>>;
    /// Moves the record from `expected` to `change.to` (which must be allowed), persisting the
    /// attempt if any (its `n` must be the next number). `Conflict` if the record is not in
    /// `expected` (or the attempt number is taken); `NotFound` if there is no record.
    async fn transition(&self, id: &str, expected: TxState, change: &TxChange) -> DomainResult<()>;
    /// Persists a (replacement) attempt without changing the state, before it is broadcast.
    /// Conditional on the state and on `attempt.n` being the next number.
    async fn add_attempt(&self, id: &str, expected: TxState, attempt: &TxAttempt) -> DomainResult<()>;
    /// Appends a note (not conditional).
    async fn annotate(&self, id: &str, note: &TxNote) -> DomainResult<()>;
}

/// Checks a transition's shape (shared by the implementations).
pub fn check_change(record_attempts: usize, expected: TxState, change: &TxChange) -> DomainResult<()> {
    if !expected.can_move_to(change.to) {
        return Err(DomainError::Internal(format!("transaction state {expected} cannot move to {}", change.to)));
    }
    if let Some(a) = &change.attempt {
        check_attempt_number(record_attempts, a)?;
    }
    Ok(())
}

pub(crate) fn check_attempt_number(record_attempts: usize, a: &TxAttempt) -> DomainResult<()> {
    if usize::try_from(a.n).ok() != record_attempts.checked_add(1) {
        return Err(DomainError::Conflict(format!("attempt {} is not the next one (there are {record_attempts})", a.n)));
    }
    Ok(())
}
