//! [`Refusal`]: why an order was refused, its stable code, and the sentence the user sees.

use std::fmt;

use crate::error::DomainError;
use crate::exec::StopLevel;
use crate::market::{PairSymbol, Side};
use crate::money::{Bps, Leverage, PercentP, Price, SlippageP, Usdc, format_scaled};

/// Why an order was refused. `Display` is the sentence the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// An emergency stop pauses new entries.
    EntriesPaused {
        stop: StopLevel,
    },
    /// The user's automation is paused and the order came from a signal or a copy.
    AutomationPaused,
    /// The order names a pair other than the one it was checked against (a caller bug).
    PairMismatch {
        order: PairSymbol,
        pair: PairSymbol,
    },
    PairNotListed {
        pair: PairSymbol,
    },
    PairCloseOnly {
        pair: PairSymbol,
    },
    PairNotAllowed {
        pair: PairSymbol,
        allowed: Vec<PairSymbol>,
    },
    LeverageBelowPairMin {
        pair: PairSymbol,
        leverage: Leverage,
        min: Leverage,
    },
    LeverageAbovePairMax {
        pair: PairSymbol,
        leverage: Leverage,
        max: Leverage,
    },
    LeverageAboveUserMax {
        leverage: Leverage,
        max: Leverage,
    },
    ZeroCollateral,
    PositionBelowPairMin {
        pair: PairSymbol,
        notional: Usdc,
        min: Usdc,
    },
    PositionAboveUserMax {
        notional: Usdc,
        max: Usdc,
    },
    TooManyOpenPositions {
        open: u32,
        max: u32,
    },
    TooManyOnPairSide {
        pair: PairSymbol,
        side: Side,
        open: u32,
        max: u32,
    },
    /// Open positions plus resting limit orders (placed outside Vanta, each a position once it
    /// fills) reach the user's maximum of open positions.
    RestingOrdersFillSlots {
        open: u32,
        resting: u32,
        max: u32,
    },
    /// The venue's trades on the pair (open, pending market opens, resting limit orders) reach
    /// its cap per trader and pair: the venue would revert the open.
    VenuePairFull {
        pair: PairSymbol,
        trades: u32,
        resting: u32,
        max: u32,
    },
    /// Live positions plus resting limit orders plus this order exceed the exposure cap (the
    /// user's largest position × their maximum of open positions).
    ExposureCapExceeded {
        open_notional: Usdc,
        resting_notional: Usdc,
        notional: Usdc,
        cap: Usdc,
    },
    DailyTradesReached {
        trades: u32,
        max: u32,
    },
    DailyVolumeExceeded {
        volume_today: Usdc,
        notional: Usdc,
        max: Usdc,
    },
    DailyLossReached {
        loss: Usdc,
        limit: Usdc,
    },
    /// `remaining_ms` of the cooldown are left. Without a recorded time of the last loss the
    /// cooldown is taken to start now.
    LossStreakCooldown {
        streak: u32,
        threshold: u32,
        cooldown_minutes: u32,
        remaining_ms: i64,
    },
    SlippageTooHigh {
        slippage: SlippageP,
        max: SlippageP,
    },
    /// No quote at all for the pair.
    NoPrice {
        pair: PairSymbol,
    },
    /// Every quote is older than the maximum age; `age_ms` is the freshest one's.
    StalePrice {
        pair: PairSymbol,
        age_ms: i64,
        max_age_secs: u32,
    },
    /// A quote is dated further in the future than [`MAX_FUTURE_SKEW_MS`](super::MAX_FUTURE_SKEW_MS).
    FuturePrice {
        pair: PairSymbol,
        source: String,
        ahead_ms: i64,
    },
    ZeroPrice {
        pair: PairSymbol,
        source: String,
    },
    /// The fresh quotes are more than `max` apart; `deviation` is rounded up.
    PricesDisagree {
        pair: PairSymbol,
        low: Price,
        low_source: String,
        high: Price,
        high_source: String,
        deviation: Bps,
        max: Bps,
    },
    TakeProfitWrongSide {
        side: Side,
        tp: Price,
        reference: Price,
    },
    StopLossWrongSide {
        side: Side,
        sl: Price,
        reference: Price,
    },
    /// `gain` is rounded up.
    TakeProfitAboveMaxGain {
        pair: PairSymbol,
        tp: Price,
        gain: PercentP,
        max: PercentP,
    },
    /// `loss` is rounded up.
    StopLossAboveMaxSl {
        pair: PairSymbol,
        sl: Price,
        loss: PercentP,
        max: PercentP,
    },
    LiquidationTooClose {
        leverage: Leverage,
        reference: Price,
        liquidation: Price,
        distance: Bps,
        min: Bps,
    },
    StopLossBeyondLiquidation {
        side: Side,
        sl: Price,
        liquidation: Price,
    },
    /// An Upside pair's stop-loss closer than the venue's floor
    /// ([`crate::compute::upside_min_sl`]); `loss` is rounded down.
    StopLossBelowUpsideFloor {
        pair: PairSymbol,
        sl: Price,
        loss: PercentP,
        min: PercentP,
    },
    /// A number too large to check safely.
    Overflow {
        what: &'static str,
    },
}

impl Refusal {
    /// A stable machine name for metrics and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::EntriesPaused { .. } => "entries_paused",
            Refusal::AutomationPaused => "automation_paused",
            Refusal::PairMismatch { .. } => "pair_mismatch",
            Refusal::PairNotListed { .. } => "pair_not_listed",
            Refusal::PairCloseOnly { .. } => "pair_close_only",
            Refusal::PairNotAllowed { .. } => "pair_not_allowed",
            Refusal::LeverageBelowPairMin { .. } => "leverage_below_pair_min",
            Refusal::LeverageAbovePairMax { .. } => "leverage_above_pair_max",
            Refusal::LeverageAboveUserMax { .. } => "leverage_above_user_max",
            Refusal::ZeroCollateral => "zero_collateral",
            Refusal::PositionBelowPairMin { .. } => "position_below_pair_min",
            Refusal::PositionAboveUserMax { .. } => "position_above_user_max",
            Refusal::TooManyOpenPositions { .. } => "too_many_open_positions",
            Refusal::TooManyOnPairSide { .. } => "too_many_on_pair_side",
            Refusal::RestingOrdersFillSlots { .. } => "resting_orders_fill_slots",
            Refusal::VenuePairFull { .. } => "venue_pair_full",
            Refusal::ExposureCapExceeded { .. } => "exposure_cap_exceeded",
            Refusal::DailyTradesReached { .. } => "daily_trades_reached",
            Refusal::DailyVolumeExceeded { .. } => "daily_volume_exceeded",
            Refusal::DailyLossReached { .. } => "daily_loss_reached",
            Refusal::LossStreakCooldown { .. } => "loss_streak_cooldown",
            Refusal::SlippageTooHigh { .. } => "slippage_too_high",
            Refusal::NoPrice { .. } => "no_price",
            Refusal::StalePrice { .. } => "stale_price",
            Refusal::FuturePrice { .. } => "future_price",
            Refusal::ZeroPrice { .. } => "zero_price",
            Refusal::PricesDisagree { .. } => "prices_disagree",
            Refusal::TakeProfitWrongSide { .. } => "tp_wrong_side",
            Refusal::StopLossWrongSide { .. } => "sl_wrong_side",
            Refusal::TakeProfitAboveMaxGain { .. } => "tp_above_max_gain",
            Refusal::StopLossAboveMaxSl { .. } => "sl_above_max_sl",
            Refusal::LiquidationTooClose { .. } => "liquidation_too_close",
            Refusal::StopLossBeyondLiquidation { .. } => "sl_beyond_liquidation",
            Refusal::StopLossBelowUpsideFloor { .. } => "sl_below_upside_floor",
            Refusal::Overflow { .. } => "overflow",
        }
    }
}

/// Milliseconds as seconds, exactly (`1500` → `"1.5"`).
fn secs(ms: i64) -> String {
    format_scaled(i128::from(ms), 3)
}

/// "above" or "below" the reference price: where a take-profit must be for a side.
fn tp_side_word(side: Side) -> &'static str {
    match side {
        Side::Long => "above",
        Side::Short => "below",
    }
}

fn sl_side_word(side: Side) -> &'static str {
    tp_side_word(side.opposite())
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::EntriesPaused { stop } => {
                write!(f, "new positions are paused by the operators (emergency stop {}); closing still works", stop.as_str())
            }
            Refusal::AutomationPaused => {
                f.write_str("your automated trading is paused, so signals and copy trades do not open positions until you resume it")
            }
            Refusal::PairMismatch { order, pair } => write!(f, "the order is for {order} but was checked against {pair}"),
            Refusal::PairNotListed { pair } => write!(f, "{pair} is not listed on Veranta right now"),
            Refusal::PairCloseOnly { pair } => {
                write!(f, "{pair} is close-only on Veranta right now: positions can be closed but not opened")
            }
            Refusal::PairNotAllowed { pair, allowed } => {
                let list = allowed.iter().map(PairSymbol::as_str).collect::<Vec<_>>().join(", ");
                write!(f, "{pair} is not among your allowed pairs ({list})")
            }
            Refusal::LeverageBelowPairMin { pair, leverage, min } => {
                write!(f, "leverage {leverage}x is below the minimum of {min}x for {pair}")
            }
            Refusal::LeverageAbovePairMax { pair, leverage, max } => {
                write!(f, "leverage {leverage}x is above the maximum of {max}x for {pair}")
            }
            Refusal::LeverageAboveUserMax { leverage, max } => write!(f, "leverage {leverage}x is above your limit of {max}x"),
            Refusal::ZeroCollateral => f.write_str("collateral must be more than $0"),
            Refusal::PositionBelowPairMin { pair, notional, min } => {
                write!(f, "position size ${notional} (collateral × leverage) is below the minimum of ${min} for {pair}")
            }
            Refusal::PositionAboveUserMax { notional, max } => {
                write!(f, "position size ${notional} (collateral × leverage) is above your limit of ${max}")
            }
            Refusal::TooManyOpenPositions { open, max } => {
                write!(f, "you have {open} open positions; your limit is {max}")
            }
            Refusal::TooManyOnPairSide { pair, side, open, max } => {
                write!(f, "you have {open} {side} positions on {pair}; the venue allows at most {max} per pair")
            }
            Refusal::RestingOrdersFillSlots { open, resting, max } => write!(
                f,
                "you have {open} open positions and {resting} resting limit orders placed outside Vanta, which open positions \
                 when they fill; together they reach your limit of {max}"
            ),
            Refusal::VenuePairFull { pair, trades, resting, max } => write!(
                f,
                "you have {trades} trades on {pair} on the venue ({resting} of them resting limit orders); the venue allows at \
                 most {max} per pair"
            ),
            Refusal::ExposureCapExceeded { open_notional, resting_notional, notional, cap } => write!(
                f,
                "${notional} more would take your exposure (${open_notional} open, ${resting_notional} in resting limit \
                 orders) above your cap of ${cap} (largest position × open positions)"
            ),
            Refusal::DailyTradesReached { trades, max } => {
                write!(f, "you have opened {trades} positions today; your daily limit is {max}")
            }
            Refusal::DailyVolumeExceeded { volume_today, notional, max } => {
                write!(f, "${notional} more would take today's volume from ${volume_today} above your daily limit of ${max}")
            }
            Refusal::DailyLossReached { loss, limit } => {
                write!(f, "today's loss of ${loss} (realised + unrealised) has reached your daily loss limit of ${limit}")
            }
            Refusal::LossStreakCooldown { streak, threshold, cooldown_minutes, remaining_ms } => {
                let ms = (*remaining_ms).max(0);
                let remaining_min = ms / 60_000 + i64::from(ms % 60_000 != 0);
                write!(
                    f,
                    "{streak} losing trades in a row (your limit is {threshold}) start a {cooldown_minutes}-minute cooldown; try again in {remaining_min} min"
                )
            }
            Refusal::SlippageTooHigh { slippage, max } => write!(f, "slippage {slippage}% is above your limit of {max}%"),
            Refusal::NoPrice { pair } => write!(f, "no price for {pair} is available, so no trade"),
            Refusal::StalePrice { pair, age_ms, max_age_secs } => {
                write!(f, "the latest {pair} price is {} s old; prices older than {max_age_secs} s are not traded on", secs(*age_ms))
            }
            Refusal::FuturePrice { pair, source, ahead_ms } => {
                write!(f, "the {pair} price from {source} is dated {} s in the future; a clock is wrong, so no trade", secs(*ahead_ms))
            }
            Refusal::ZeroPrice { pair, source } => write!(f, "{source} reports a {pair} price of 0, so no trade"),
            Refusal::PricesDisagree { pair, low, low_source, high, high_source, deviation, max } => write!(
                f,
                "{pair} prices disagree: {low_source} says {low} and {high_source} says {high}, {deviation} apart (at most {max} allowed), so no trade"
            ),
            Refusal::TakeProfitWrongSide { side, tp, reference } => {
                write!(f, "a {side} take-profit must be {} the price {reference}, but it is {tp}", tp_side_word(*side))
            }
            Refusal::StopLossWrongSide { side, sl, reference } => {
                write!(f, "a {side} stop-loss must be {} the price {reference}, but it is {sl}", sl_side_word(*side))
            }
            Refusal::TakeProfitAboveMaxGain { pair, tp, gain, max } => {
                write!(f, "take-profit {tp} would be a gain of {gain}% of collateral, above the venue's maximum of {max}% for {pair}")
            }
            Refusal::StopLossAboveMaxSl { pair, sl, loss, max } => {
                write!(f, "stop-loss {sl} would be a loss of {loss}% of collateral, above the venue's maximum of {max}% for {pair}")
            }
            Refusal::LiquidationTooClose { leverage, reference, liquidation, distance, min } => write!(
                f,
                "at {leverage}x the liquidation price {liquidation} is only {distance} from the price {reference}; your minimum distance is {min} (lower the leverage)"
            ),
            Refusal::StopLossBeyondLiquidation { side, sl, liquidation } => {
                let word = match side {
                    Side::Long => "above",
                    Side::Short => "below",
                };
                write!(f, "stop-loss {sl} would trigger after liquidation at {liquidation}; for a {side} it must be {word} {liquidation}")
            }
            Refusal::StopLossBelowUpsideFloor { pair, sl, loss, min } => write!(
                f,
                "stop-loss {sl} would be a loss of only {loss}% of collateral; {pair} (an Upside pair) needs at least {min}% at this leverage"
            ),
            Refusal::Overflow { what } => write!(f, "the order's numbers are too large to check ({what}), so it was refused"),
        }
    }
}

impl std::error::Error for Refusal {}

impl From<Refusal> for DomainError {
    fn from(r: Refusal) -> Self {
        DomainError::Refused(r.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;
    use crate::risk_engine::test_support::*;

    #[test]
    fn refusals_convert_to_a_refused_domain_error() {
        let mut c = Case::good();
        c.order.leverage = lev(50);
        let e: DomainError = c.check().unwrap_err().into();
        assert_eq!(e, DomainError::Refused("leverage 50x is above your limit of 20x".into()));
    }
}
