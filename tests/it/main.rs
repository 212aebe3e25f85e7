#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Integration tests against services the harness starts (moto, anvil, fake servers).

mod compute;
mod dynamo;
mod envelope;
mod exits;
mod faults;
mod flatten;
mod health;
mod lambda;
mod market;
mod notify;
mod ops;
mod recon_fake;
mod sdk;
mod secrets;
mod sequencer;
mod signing_wiring;
mod spread_sdk;
mod support;
mod telegram;
mod template;
mod template_iam;
mod template_obs;
mod template_veranta;
mod triggers;
mod venue_prices;
mod wallet;
