//! The operator's maxima that bound every user's `/setrisk` (`OPERATOR_*`, template parameters).
//! Unset means the built-in default ([`OperatorLimits::default`]); a value that does not parse,
//! or is out of range, stops the cold start with the variable's name.

use vanta_domain::money::{Bps, Leverage, SlippageP, Usdc};
use vanta_domain::risk::OperatorLimits;

use crate::ConfigError;

/// Every variable read here, in the template's order.
pub const OPERATOR_LIMIT_VARS: [&str; 8] = [
    "OPERATOR_MAX_LEVERAGE",
    "OPERATOR_MAX_POSITION_USDC",
    "OPERATOR_MAX_OPEN_POSITIONS",
    "OPERATOR_MAX_DAILY_LOSS_USDC",
    "OPERATOR_MAX_DAILY_TRADES",
    "OPERATOR_MAX_DAILY_VOLUME_USDC",
    "OPERATOR_MAX_SLIPPAGE_PCT",
    "OPERATOR_MIN_LIQ_DISTANCE_BPS",
];

/// The limits from `get` (the environment, or a map in tests).
pub fn operator_limits_from(get: impl Fn(&str) -> Option<String>) -> Result<OperatorLimits, ConfigError> {
    let opt = |k: &str| get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let bad = |name: &'static str, why: String| ConfigError::Invalid { name, reason: why };
    let d = OperatorLimits::default();
    let usdc = |name: &'static str, default: Usdc| -> Result<Usdc, ConfigError> {
        match opt(name) {
            None => Ok(default),
            Some(v) => match v.parse::<Usdc>() {
                Ok(u) if !u.is_zero() => Ok(u),
                Ok(_) => Err(bad(name, "must be above 0".into())),
                Err(e) => Err(bad(name, e.to_string())),
            },
        }
    };
    let count = |name: &'static str, default: u32, max: u32| -> Result<u32, ConfigError> {
        match opt(name) {
            None => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(bad(name, format!("must be a whole number from 1 to {max}"))),
            },
        }
    };
    let max_leverage = match opt("OPERATOR_MAX_LEVERAGE") {
        None => d.max_leverage,
        Some(v) => v.parse::<Leverage>().map_err(|e| bad("OPERATOR_MAX_LEVERAGE", e.to_string()))?,
    };
    let max_slippage = match opt("OPERATOR_MAX_SLIPPAGE_PCT") {
        None => d.max_slippage,
        Some(v) => {
            let bps = Bps::from_percent_str(&v).map_err(|e| bad("OPERATOR_MAX_SLIPPAGE_PCT", e.to_string()))?;
            if bps.raw() == 0 {
                return Err(bad("OPERATOR_MAX_SLIPPAGE_PCT", "must be above 0".into()));
            }
            SlippageP::from_bps(bps)
        }
    };
    let min_liq_distance = match opt("OPERATOR_MIN_LIQ_DISTANCE_BPS") {
        None => d.min_liq_distance,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n <= 5000 => Bps::new(n).map_err(|e| bad("OPERATOR_MIN_LIQ_DISTANCE_BPS", e.to_string()))?,
            _ => return Err(bad("OPERATOR_MIN_LIQ_DISTANCE_BPS", "must be a whole number of bps from 0 to 5000".into())),
        },
    };
    Ok(OperatorLimits {
        max_leverage,
        max_position: usdc("OPERATOR_MAX_POSITION_USDC", d.max_position)?,
        max_open_positions: count("OPERATOR_MAX_OPEN_POSITIONS", d.max_open_positions, 1000)?,
        max_daily_loss: usdc("OPERATOR_MAX_DAILY_LOSS_USDC", d.max_daily_loss)?,
        max_daily_trades: count("OPERATOR_MAX_DAILY_TRADES", d.max_daily_trades, 100_000)?,
        max_daily_volume: usdc("OPERATOR_MAX_DAILY_VOLUME_USDC", d.max_daily_volume)?,
        max_slippage,
        min_liq_distance,
        max_price_age_secs: d.max_price_age_secs,
        max_price_deviation: d.max_price_deviation,
    })
}
