//! The direct route: self-broadcast EIP-1559 transactions, for calldata from the tx-builder
//! (`{to, data, value}`).
//!
//! - The [`NonceLease`] port (each nonce handed out once across processes, unused ones given
//!   back, expired leases reclaimed) and the [`TxStore`] port (records with every attempt and the
//!   state history, conditional transitions) are the domain's ([`vanta_domain::direct`],
//!   re-exported here); their DynamoDB adapters are in `vanta_aws::direct`, their in-memory twins
//!   in the domain (feature `test-fakes`).
//! - [`sender`]: [`DirectSender`], which leases, signs, records, broadcasts, tracks and
//!   replaces by fee under a cap.

pub mod sender;
pub mod venue;

#[cfg(test)]
mod tests_redact;

pub use sender::{DirectCall, DirectConfig, DirectOutcome, DirectSender, FeeQuote};
pub use vanta_domain::direct::{
    DEFAULT_LEASE_TTL, Lease, NonceLease, TxAttempt, TxChange, TxEvent, TxNote, TxReceiptInfo, TxRecord, TxState, TxStore,
};
