//! Avantis on Base: EIP-712 intents, signers (KMS and local key), the Avantis v2 client,
//! the direct (self-broadcast) route and the paper venue used in DRY mode.

pub mod avantis;
pub mod budget;
pub mod direct;
pub mod eip1271;
pub mod eip712;
pub mod gated_tx;
pub mod history;
pub mod http_error;
pub mod market_feed;
pub mod prices;
pub mod redact;
pub mod rpc;
pub mod sequencer;
pub mod signer;
pub mod venue_feed;

#[cfg(test)]
mod tests_errors;
