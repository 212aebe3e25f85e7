//! Vanta's domain core: pure types and rules, no IO.
//!
//! Money is integers throughout ([`money`]); pairs are resolved through the venue's catalog
//! ([`market`]); every request that can trade is an [`intent::Intent`] with a state machine; the
//! effective execution mode fails closed ([`exec`]). Handlers reach the world only through the
//! [`ports`], each of which has an in-memory twin in `memory` (feature `test-fakes`).

pub mod catalog;
pub mod compute;
pub mod copy;
#[cfg(any(test, feature = "test-fakes"))]
pub mod counting;
pub mod decimal;
pub mod direct;
pub mod error;
pub mod exec;
pub mod feeds;
pub mod gate;
pub mod ids;
pub mod intent;
pub mod limits;
pub mod market;
#[cfg(any(test, feature = "test-fakes"))]
pub mod memory;
#[cfg(any(test, feature = "test-fakes"))]
mod memory_direct;
pub mod money;
pub mod paper;
pub mod paper_venue;
pub mod ports;
pub mod position;
pub mod recon;
pub mod risk;
pub mod risk_engine;
pub mod sealed;
pub mod sequencer;
pub mod spread;
pub mod time;
pub mod triggers;
pub mod user;
pub mod wallet;

pub use error::{DomainError, DomainResult};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_paper_spread;
#[cfg(test)]
mod tests_sealed;
#[cfg(test)]
mod tests_triggers;
#[cfg(test)]
mod tests_wallet;
