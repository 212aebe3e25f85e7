//! The operator limits preflight checks: the `OPERATOR_*` settings, read by the same runtime
//! config code the functions use (a stored `CONTROL`/`LIMITS` item can only tighten them, so the
//! settings are the loosest limits any user can reach).

use vanta_domain::money::{Bps, Leverage, Usdc};
use vanta_domain::risk::OperatorLimits;

use crate::settings::Settings;

/// The limits the deployed functions apply, read as they read them.
pub fn operator_limits(settings: &Settings) -> Result<OperatorLimits, String> {
    Ok(settings.config.operator_limits.clone())
}

/// What is wrong with `l` for LIVE trading (empty: nothing). The bounds are the product's:
/// prices at most a minute old and sources within 2 %, leverage at most the venue's 500x, and
/// every maximum above zero.
pub fn problems(l: &OperatorLimits) -> Vec<String> {
    let mut p = Vec::new();
    if !(1..=60).contains(&l.max_price_age_secs) {
        p.push(format!("max price age {} s is outside 1-60 s", l.max_price_age_secs));
    }
    if l.max_price_deviation.raw() == 0 || l.max_price_deviation > Bps::new_const(200) {
        p.push(format!("max price deviation {} bps is outside 1-200 bps", l.max_price_deviation.raw()));
    }
    if l.max_leverage > Leverage::from_whole_const(500).unwrap_or(Leverage::ONE) {
        p.push("max leverage is above 500x".to_owned());
    }
    for (name, v) in [("max position", l.max_position), ("max daily loss", l.max_daily_loss), ("max daily volume", l.max_daily_volume)] {
        if v == Usdc::ZERO {
            p.push(format!("{name} is zero"));
        }
    }
    if l.max_open_positions == 0 || l.max_daily_trades == 0 {
        p.push("max open positions and max daily trades must be above zero".to_owned());
    }
    p
}

pub fn summary(l: &OperatorLimits) -> String {
    format!(
        "leverage <= {}, position <= {} USDC, {} open, daily loss <= {} USDC, {} trades and {} USDC a day, prices <= {} s within {} bps",
        l.max_leverage,
        l.max_position,
        l.max_open_positions,
        l.max_daily_loss,
        l.max_daily_trades,
        l.max_daily_volume,
        l.max_price_age_secs,
        l.max_price_deviation.raw()
    )
}
