//! Run-time tightening of the operator's maxima: the stored `CONTROL`/`LIMITS` item (written by
//! the ops CLI, or by hand with the AWS CLI) can lower any maximum (or raise the minimum
//! liquidation distance) below what the deployment's parameters allow, never the other way:
//! a stored value looser than the deployment's is ignored.

use serde::{Deserialize, Serialize};

use crate::money::{Bps, Leverage, SlippageP, Usdc};
use crate::risk::OperatorLimits;
use crate::time::Timestamp;

/// The stored limits; each is optional (absent: the deployment's value holds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLimits {
    pub max_leverage: Option<Leverage>,
    pub max_position: Option<Usdc>,
    pub max_open_positions: Option<u32>,
    pub max_daily_loss: Option<Usdc>,
    pub max_daily_trades: Option<u32>,
    pub max_daily_volume: Option<Usdc>,
    pub max_slippage: Option<SlippageP>,
    pub min_liq_distance: Option<Bps>,
    /// Who wrote it (a Telegram user id; none for the CLI) and when.
    pub updated_by: Option<i64>,
    pub updated_at: Timestamp,
}

fn tighter_max<T: Ord + Copy>(base: T, stored: Option<T>) -> T {
    stored.map_or(base, |s| s.min(base))
}

impl StoredLimits {
    /// `base` with every stored limit that is tighter applied; looser ones change nothing.
    pub fn tighten(&self, base: &OperatorLimits) -> OperatorLimits {
        OperatorLimits {
            max_leverage: tighter_max(base.max_leverage, self.max_leverage),
            max_position: tighter_max(base.max_position, self.max_position),
            max_open_positions: tighter_max(base.max_open_positions, self.max_open_positions),
            max_daily_loss: tighter_max(base.max_daily_loss, self.max_daily_loss),
            max_daily_trades: tighter_max(base.max_daily_trades, self.max_daily_trades),
            max_daily_volume: tighter_max(base.max_daily_volume, self.max_daily_volume),
            max_slippage: tighter_max(base.max_slippage, self.max_slippage),
            min_liq_distance: self.min_liq_distance.map_or(base.min_liq_distance, |s| s.max(base.min_liq_distance)),
            max_price_age_secs: base.max_price_age_secs,
            max_price_deviation: base.max_price_deviation,
        }
    }

    /// The names of the stored limits that are looser than `base` (and so ignored), for
    /// `/status` and the ops preflight.
    pub fn ignored(&self, base: &OperatorLimits) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut check = |name: &'static str, looser: bool| {
            if looser {
                out.push(name);
            }
        };
        check("max_leverage", self.max_leverage.is_some_and(|v| v > base.max_leverage));
        check("max_position", self.max_position.is_some_and(|v| v > base.max_position));
        check("max_open_positions", self.max_open_positions.is_some_and(|v| v > base.max_open_positions));
        check("max_daily_loss", self.max_daily_loss.is_some_and(|v| v > base.max_daily_loss));
        check("max_daily_trades", self.max_daily_trades.is_some_and(|v| v > base.max_daily_trades));
        check("max_daily_volume", self.max_daily_volume.is_some_and(|v| v > base.max_daily_volume));
        check("max_slippage", self.max_slippage.is_some_and(|v| v > base.max_slippage));
        check("min_liq_distance", self.min_liq_distance.is_some_and(|v| v < base.min_liq_distance));
        out
    }
}
