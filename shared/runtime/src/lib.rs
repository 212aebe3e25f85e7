//! Cold-start plumbing shared by every function and the local runner: typed configuration from
//! the environment and tracing. No Lambda or AWS dependency: the SDK configuration and the SQS
//! FIFO batch rule live in `vanta-lambda`.

pub mod config;
pub mod operator_limits;
#[cfg(test)]
mod tests_risk_v2;
#[cfg(test)]
mod tests_veranta;

pub use config::{AvantisRoute, Config, ConfigError, VerantaNetwork};

/// Installs the global tracing subscriber: JSON lines under Lambda (or `VANTA_LOG_FORMAT=json`),
/// human-readable text otherwise. Level from `RUST_LOG` (default `info`). Safe to call twice.
pub fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if json { builder.json().flatten_event(true).with_current_span(false).without_time().try_init() } else { builder.try_init() };
}
