//! The risk policy: a user's limits, always bounded by the operator's maxima.
//!
//! Defaults are deliberate (the engine that enforces them lives with the signal pipeline):
//! - max leverage 20x — high enough for majors, far below the venue's 75x/500x, where a 1–2 %
//!   wick liquidates;
//! - max position notional $10 000 and max 5 open positions — a new user cannot lose more than
//!   they meant to by a typo or a runaway signal;
//! - daily loss limit $500 (realised + unrealised), then the user's automation pauses;
//! - after 3 losses in a row, 60 minutes of cooldown;
//! - 50 trades and $100 000 volume a day;
//! - slippage at most 1 %, default 0.5 %;
//! - a new position must keep at least 3 % between entry and its liquidation price (at 20x the
//!   liquidation is about 4.25 % away, so the two defaults agree);
//! - prices older than 30 s, or two sources more than 50 bps apart, mean no trade.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::market::PairSymbol;
use crate::money::{Bps, Leverage, SlippageP, Usdc};

/// One user's limits (all of them apply; the operator's maxima bound each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskPolicy {
    pub max_leverage: Leverage,
    /// Largest position notional (collateral × leverage).
    pub max_position: Usdc,
    pub max_open_positions: u32,
    /// Realised + unrealised loss in one UTC day that pauses the user. Zero disables (operators
    /// may forbid that with [`OperatorLimits::max_daily_loss`]).
    pub daily_loss_limit: Usdc,
    /// Consecutive losing trades that start a cooldown.
    pub loss_streak: u32,
    pub cooldown_minutes: u32,
    pub max_daily_trades: u32,
    pub max_daily_volume: Usdc,
    pub max_slippage: SlippageP,
    pub default_slippage: SlippageP,
    /// Minimum distance from entry to liquidation, in bps of the entry price.
    pub min_liq_distance: Bps,
    /// Pairs this user allows; empty means every listed pair.
    pub allowed_pairs: Vec<PairSymbol>,
}

/// The operator's maxima, which no user setting can exceed, and the freshness rules for prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorLimits {
    pub max_leverage: Leverage,
    pub max_position: Usdc,
    pub max_open_positions: u32,
    pub max_daily_loss: Usdc,
    pub max_daily_trades: u32,
    pub max_daily_volume: Usdc,
    pub max_slippage: SlippageP,
    /// Users cannot set a liquidation buffer below this.
    pub min_liq_distance: Bps,
    pub max_price_age_secs: u32,
    pub max_price_deviation: Bps,
}

const fn lev(x: u64) -> Leverage {
    // Only called with small whole numbers below.
    match Leverage::from_whole_const(x) {
        Some(l) => l,
        None => Leverage::ONE,
    }
}

impl Leverage {
    /// `const` constructor for whole leverages used in defaults.
    pub const fn from_whole_const(x: u64) -> Option<Self> {
        if x == 0 || x > 1000 {
            return None;
        }
        Some(Self::from_raw_unchecked(x * Self::ONE_RAW))
    }
}

impl Default for RiskPolicy {
    fn default() -> Self {
        Self {
            max_leverage: lev(20),
            max_position: Usdc::from_raw(10_000_000_000),
            max_open_positions: 5,
            daily_loss_limit: Usdc::from_raw(500_000_000),
            loss_streak: 3,
            cooldown_minutes: 60,
            max_daily_trades: 50,
            max_daily_volume: Usdc::from_raw(100_000_000_000),
            max_slippage: SlippageP::from_raw(10_000_000_000),
            default_slippage: SlippageP::from_raw(5_000_000_000),
            min_liq_distance: Bps::new_const(300),
            allowed_pairs: Vec::new(),
        }
    }
}

impl Default for OperatorLimits {
    fn default() -> Self {
        Self {
            max_leverage: lev(75),
            max_position: Usdc::from_raw(100_000_000_000),
            max_open_positions: 20,
            max_daily_loss: Usdc::from_raw(10_000_000_000),
            max_daily_trades: 200,
            max_daily_volume: Usdc::from_raw(1_000_000_000_000),
            max_slippage: SlippageP::from_raw(30_000_000_000),
            min_liq_distance: Bps::new_const(100),
            max_price_age_secs: 30,
            max_price_deviation: Bps::new_const(50),
        }
    }
}

impl Bps {
    /// `const` constructor for defaults; values above the maximum are clamped.
    pub const fn new_const(v: u32) -> Self {
        if v > 1_000_000 { Self::from_raw_const(1_000_000) } else { Self::from_raw_const(v) }
    }
}

impl RiskPolicy {
    /// This policy with every limit brought within the operator's maxima. A user's daily loss
    /// limit of zero ("off") becomes the operator's maximum.
    pub fn bounded_by(&self, ops: &OperatorLimits) -> Self {
        let daily_loss = if self.daily_loss_limit.is_zero() { ops.max_daily_loss } else { self.daily_loss_limit.min(ops.max_daily_loss) };
        let max_slippage = self.max_slippage.min(ops.max_slippage);
        Self {
            max_leverage: self.max_leverage.min(ops.max_leverage),
            max_position: self.max_position.min(ops.max_position),
            max_open_positions: self.max_open_positions.min(ops.max_open_positions),
            daily_loss_limit: daily_loss,
            loss_streak: self.loss_streak,
            cooldown_minutes: self.cooldown_minutes,
            max_daily_trades: self.max_daily_trades.min(ops.max_daily_trades),
            max_daily_volume: self.max_daily_volume.min(ops.max_daily_volume),
            max_slippage,
            default_slippage: self.default_slippage.min(max_slippage),
            min_liq_distance: self.min_liq_distance.max(ops.min_liq_distance),
            allowed_pairs: self.allowed_pairs.clone(),
        }
    }

    /// Applies one `key=value` setting from a user (`/setrisk max_leverage=10`), refusing values
    /// beyond the operator's maxima with a reason rather than silently clamping them.
    pub fn set(&mut self, key: &str, value: &str, ops: &OperatorLimits) -> Result<(), DomainError> {
        let over = |what: &str, max: String| DomainError::Refused(format!("{what} cannot exceed the operator's maximum of {max}"));
        let parse_u32 =
            |v: &str| v.trim().parse::<u32>().map_err(|_| DomainError::Invalid(format!("'{}' is not a whole number", v.trim())));
        match key.trim() {
            "max_leverage" => {
                let v: Leverage = value.parse()?;
                if v > ops.max_leverage {
                    return Err(over("max_leverage", format!("{}x", ops.max_leverage)));
                }
                self.max_leverage = v;
            }
            "max_position" => {
                let v: Usdc = value.parse()?;
                if v > ops.max_position {
                    return Err(over("max_position", format!("${}", ops.max_position)));
                }
                self.max_position = v;
            }
            "max_open_positions" => {
                let v = parse_u32(value)?;
                if v > ops.max_open_positions {
                    return Err(over("max_open_positions", ops.max_open_positions.to_string()));
                }
                self.max_open_positions = v;
            }
            "daily_loss_limit" => {
                let v: Usdc = value.parse()?;
                if v > ops.max_daily_loss || v.is_zero() {
                    return Err(over("daily_loss_limit", format!("${} (and cannot be 0)", ops.max_daily_loss)));
                }
                self.daily_loss_limit = v;
            }
            "loss_streak" => self.loss_streak = parse_u32(value)?,
            "cooldown_minutes" => self.cooldown_minutes = parse_u32(value)?,
            "max_daily_trades" => {
                let v = parse_u32(value)?;
                if v > ops.max_daily_trades {
                    return Err(over("max_daily_trades", ops.max_daily_trades.to_string()));
                }
                self.max_daily_trades = v;
            }
            "max_daily_volume" => {
                let v: Usdc = value.parse()?;
                if v > ops.max_daily_volume {
                    return Err(over("max_daily_volume", format!("${}", ops.max_daily_volume)));
                }
                self.max_daily_volume = v;
            }
            "max_slippage" | "slippage" => {
                let v = SlippageP::from_bps(Bps::from_percent_str(value)?);
                if v > ops.max_slippage {
                    return Err(over("max_slippage", format!("{}%", ops.max_slippage)));
                }
                let default_target = key.trim() == "slippage";
                if default_target {
                    if v > self.max_slippage {
                        return Err(DomainError::Refused(format!("slippage cannot exceed your max_slippage of {}%", self.max_slippage)));
                    }
                    self.default_slippage = v;
                } else {
                    self.max_slippage = v;
                    self.default_slippage = self.default_slippage.min(v);
                }
            }
            "min_liq_distance" => {
                let v = Bps::from_percent_str(value)?;
                if v < ops.min_liq_distance {
                    return Err(DomainError::Refused(format!("min_liq_distance cannot be below the operator's {}", ops.min_liq_distance)));
                }
                self.min_liq_distance = v;
            }
            "allowed_pairs" => {
                let v = value.trim();
                self.allowed_pairs = if v.is_empty() || v.eq_ignore_ascii_case("all") {
                    Vec::new()
                } else {
                    v.split(',').map(PairSymbol::parse).collect::<Result<_, _>>()?
                };
            }
            other => {
                return Err(DomainError::Invalid(format!(
                    "unknown risk setting '{other}'; known: max_leverage, max_position, max_open_positions, daily_loss_limit, loss_streak, cooldown_minutes, max_daily_trades, max_daily_volume, max_slippage, slippage, min_liq_distance, allowed_pairs"
                )));
            }
        }
        Ok(())
    }
}
