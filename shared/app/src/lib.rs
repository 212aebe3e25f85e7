//! Vanta's handlers. Each Lambda's `main.rs` wires adapters into [`Deps`] and hands events to
//! one of these plain async functions; the local runner calls the very same functions.
//!
//! | function        | entry point                 |
//! |-----------------|-----------------------------|
//! | `webhook`       | [`http::api_router`] (signals, `/healthz`, `/readyz`, `/metrics`) |
//! | `telegram`      | [`http::telegram_router`] (`/telegram`, `/health`, `/link/{nonce}`) |
//! | `signal-worker` | [`worker::handle_message`]  |
//! | `tpsl`          | [`schedule::tpsl_tick`]     |
//! | `indexer`       | [`schedule::indexer_tick`]  |
//! | `notifier`      | [`notifier::handle_delivery`] |

pub mod api;
pub mod copy;
pub mod delegates;
pub mod deps;
pub mod flatten;
pub mod gate;
pub mod http;
pub mod limits;
pub mod market;
pub mod metrics;
pub mod notifier;
pub mod outbox;
pub mod pipeline;
pub mod reconcile;
pub mod risk_check;
pub mod scans;
pub mod schedule;
pub mod signals;
pub mod telegram;
pub mod tpsl;
pub mod tpsl_index;
pub mod wallet;
pub mod watch;
pub mod web;
pub mod worker;
// Observability: EMF metrics, per-component health, alarms to the admins.
pub mod alarms;
pub mod emf;
pub mod health;

pub use deps::Deps;

#[cfg(test)]
mod tests_actions;
#[cfg(test)]
mod tests_copy;
#[cfg(test)]
mod tests_exits;
#[cfg(test)]
mod tests_faults;
#[cfg(test)]
mod tests_gate;
#[cfg(test)]
mod tests_http;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_market;
#[cfg(test)]
mod tests_notify;
#[cfg(test)]
mod tests_obs;
#[cfg(test)]
mod tests_once;
#[cfg(test)]
mod tests_plumbing;
#[cfg(test)]
mod tests_reconcile;
#[cfg(test)]
mod tests_refused_calldata;
#[cfg(test)]
mod tests_scans;
#[cfg(test)]
mod tests_signals;
#[cfg(test)]
mod tests_stop;
#[cfg(test)]
mod tests_support;
#[cfg(test)]
mod tests_tpsl;
#[cfg(test)]
mod tests_tpsl_index;
#[cfg(test)]
mod tests_tpsl_venue;
#[cfg(test)]
mod tests_trace;
#[cfg(test)]
mod tests_veranta;
#[cfg(test)]
mod tests_wallet;
