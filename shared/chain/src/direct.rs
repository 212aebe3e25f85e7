//! The direct route: self-broadcast EIP-1559 transactions, for calldata from the tx-builder
//! (`{to, data, value}`).
//!
//! - [`lease`]: the [`NonceLease`] port (each nonce handed out once across processes, unused
//!   ones given back, expired leases reclaimed) and its in-memory adapter. The DynamoDB adapter
//!   is in `vanta_aws::direct`.
//! - [`store`]: the [`TxStore`] port (records with every attempt and the state history,
//!   conditional transitions) and its in-memory adapter.
//! - [`sender`]: [`DirectSender`], which leases, signs, records, broadcasts, tracks and
//!   replaces by fee under a cap.

pub mod lease;
pub mod sender;
pub mod store;
pub mod venue;

#[cfg(test)]
mod tests_redact;

pub use lease::{Lease, MemoryNonceLease, NonceLease};
pub use sender::{DirectCall, DirectConfig, DirectOutcome, DirectSender, FeeQuote};
pub use store::{MemoryTxStore, TxAttempt, TxChange, TxEvent, TxNote, TxReceiptInfo, TxRecord, TxState, TxStore};
