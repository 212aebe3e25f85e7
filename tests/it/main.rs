#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Integration tests against services the harness starts (moto, anvil, fake servers).

mod dynamo;
mod lambda;
mod notify;
mod telegram;
