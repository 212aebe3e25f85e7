//! Test support shared by the integration tests and the local runner: processes started on free
//! loopback ports (moto, anvil) and small fake servers speaking the real wire protocols.

pub mod anvil;
pub mod fake_avantis;
pub mod fake_kms;
pub mod fake_telegram;
pub mod fake_veranta;
pub mod lambda_api;
pub mod moto;
pub mod net;
pub mod probe;
pub mod server;
