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
/// human-readable text otherwise. Level from `RUST_LOG` (default `info`): a level and
/// `target=level` pairs (`warn,vanta_app=debug`); a value that does not parse means `info`.
/// Safe to call twice. (A target filter, not `EnvFilter`: no regex engine in every binary.)
pub fn init_tracing(json: bool) {
    use tracing_subscriber::prelude::*;
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let layer = tracing_subscriber::fmt::layer().with_target(false);
    let _ = if json {
        tracing_subscriber::registry()
            .with(layer.json().flatten_event(true).with_current_span(false).without_time().with_filter(filter))
            .try_init()
    } else {
        tracing_subscriber::registry().with(layer.with_filter(filter)).try_init()
    };
}

/// The log filter `RUST_LOG` asks for; unset or unreadable is `info`.
pub fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::Targets;
    rust_log.and_then(|v| v.trim().parse::<Targets>().ok()).unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

#[cfg(test)]
mod log_filter_tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn rust_log_sets_levels_by_target_and_anything_unreadable_means_info() {
        assert!(log_filter(None).would_enable("vanta_app", &Level::INFO));
        assert!(!log_filter(None).would_enable("vanta_app", &Level::DEBUG));
        let warn = log_filter(Some("warn"));
        assert!(warn.would_enable("vanta_app", &Level::WARN) && !warn.would_enable("vanta_app", &Level::INFO));
        let mixed = log_filter(Some("warn,vanta_app::pipeline=debug"));
        assert!(mixed.would_enable("vanta_app::pipeline", &Level::DEBUG));
        assert!(!mixed.would_enable("vanta_app::outbox", &Level::INFO));
        let bad = log_filter(Some("=nonsense=,,"));
        assert!(bad.would_enable("x", &Level::INFO) && !bad.would_enable("x", &Level::DEBUG), "unreadable is info");
    }
}
