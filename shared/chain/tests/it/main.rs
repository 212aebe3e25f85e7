#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The chain crate's integration tests, one binary (each module was its own test executable,
//! linking alloy and the SDKs again). Artifacts of the test contracts are in `../contracts/`.

mod avantis;
mod chainlink;
mod direct;
mod direct_purpose;
mod direct_venue;
mod eip1271;
mod eip712_vectors;
mod eip7702_nonce;
mod local_intents;
mod purpose;
mod signers;
mod spread_quotes;
mod support;
mod venue_sdk_match;
