//! Transaction records: one per logical transaction (an idempotency id chosen by the caller),
//! with every signed attempt (the first one and each replacement) and the state history.
//!
//! States: `CREATED → SIGNED → SENT → (REPLACED →)* MINED | FAILED` (see
//! [`TxState::can_move_to`]). Every write is conditional on the state the writer read, so two
//! processes cannot both move the same record.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use alloy::primitives::{Address, B256, Bytes, U256};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::time::Timestamp;

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

fn check_attempt_number(record_attempts: usize, a: &TxAttempt) -> DomainResult<()> {
    if usize::try_from(a.n).ok() != record_attempts.checked_add(1) {
        return Err(DomainError::Conflict(format!("attempt {} is not the next one (there are {record_attempts})", a.n)));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// In memory
// ---------------------------------------------------------------------------------------------

/// The in-memory store.
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
