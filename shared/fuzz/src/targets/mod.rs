//! The fuzz targets: every parser that reads input from the internet.

pub mod oracle;
pub mod signals;
pub mod telegram;
pub mod venue;
pub mod world;

use crate::Target;

/// Target names, in table order.
pub const NAMES: &[&str] =
    &["signal-body", "signal-route", "telegram-update", "callback-data", "venue-json", "venue-sse", "oracle-pyth", "oracle-chainlink"];

/// Builds one target by name.
pub fn build(name: &str) -> Result<Target, String> {
    match name {
        "signal-body" => Ok(signals::body()),
        "signal-route" => signals::route(),
        "telegram-update" => telegram::updates(),
        "callback-data" => telegram::callbacks(),
        "venue-json" => venue::json(),
        "venue-sse" => Ok(venue::sse()),
        "oracle-pyth" => oracle::pyth(),
        "oracle-chainlink" => oracle::chainlink(),
        other => Err(format!("no target '{other}' (targets: {})", NAMES.join(", "))),
    }
}
