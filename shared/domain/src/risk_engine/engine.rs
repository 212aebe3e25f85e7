//! The rules: [`check_open`] and [`check_open_with`] check an order to open a position, in the
//! order the module documentation lists, and answer the first [`Refusal`] or an [`Approved`].

use super::policy::day_loss;
use super::price::{pct_ceil, pct_of_collateral_numerator, within_pct};
use super::{Approved, MAX_TRADES_PER_PAIR, Refusal, RiskInput, daily_loss_breached, reference_price};
use crate::compute::{self, FeeModel};
use crate::market::Side;
use crate::money::{PercentP, SignedUsdc, Usdc};
use crate::position::distance_bps;

/// Maps any arithmetic error to [`Refusal::Overflow`].
fn overflow<E>(what: &'static str) -> impl Fn(E) -> Refusal {
    move |_| Refusal::Overflow { what }
}

/// Checks an order to open a position against every rule (see the module documentation), in
/// that order, and returns the first refusal or what the order will be sent with.
pub fn check_open(input: &RiskInput<'_>) -> Result<Approved, Refusal> {
    check_open_with(input, None)
}

/// [`check_open`] with the pair's fee model ([`PairCatalog::fees`](crate::market::PairCatalog::fees)):
/// the open fee is then the venue's skew-adjusted fee (none on an Upside pair), and an Upside
/// pair's take-profit cap is net of the profit share ([`compute::upside_max_gain`]) and its
/// stop-loss must be at least the venue's floor ([`compute::upside_min_sl`], with the pair's
/// spread). Without a model the pair's flat `openFeeP` applies.
pub fn check_open_with(input: &RiskInput<'_>, model: Option<&FeeModel>) -> Result<Approved, Refusal> {
    let upside = model.is_some_and(|m| m.upside);
    let RiskInput { order, pair, policy, ops, exposure, quotes, now, exec, automated } = *input;
    let policy = policy.bounded_by(ops);

    // Exec stop and automation pause.
    if !exec.allows_entries() {
        return Err(Refusal::EntriesPaused { stop: exec.stop });
    }
    if automated && exposure.automation_paused {
        return Err(Refusal::AutomationPaused);
    }

    // The pair.
    if order.pair != pair.symbol {
        return Err(Refusal::PairMismatch { order: order.pair.clone(), pair: pair.symbol.clone() });
    }
    if !pair.listed {
        return Err(Refusal::PairNotListed { pair: pair.symbol.clone() });
    }
    if pair.close_only {
        return Err(Refusal::PairCloseOnly { pair: pair.symbol.clone() });
    }
    if !policy.allowed_pairs.is_empty() && !policy.allowed_pairs.contains(&pair.symbol) {
        return Err(Refusal::PairNotAllowed { pair: pair.symbol.clone(), allowed: policy.allowed_pairs.clone() });
    }

    // Leverage.
    let leverage = order.leverage;
    if leverage < pair.min_leverage {
        return Err(Refusal::LeverageBelowPairMin { pair: pair.symbol.clone(), leverage, min: pair.min_leverage });
    }
    if leverage > pair.max_leverage {
        return Err(Refusal::LeverageAbovePairMax { pair: pair.symbol.clone(), leverage, max: pair.max_leverage });
    }
    if leverage > policy.max_leverage {
        return Err(Refusal::LeverageAboveUserMax { leverage, max: policy.max_leverage });
    }

    // Size.
    if order.collateral.is_zero() {
        return Err(Refusal::ZeroCollateral);
    }
    let notional = leverage.notional(order.collateral).map_err(overflow("notional"))?;
    if notional < pair.min_position {
        return Err(Refusal::PositionBelowPairMin { pair: pair.symbol.clone(), notional, min: pair.min_position });
    }
    if notional > policy.max_position {
        return Err(Refusal::PositionAboveUserMax { notional, max: policy.max_position });
    }

    // Counts and daily caps.
    if exposure.open_positions >= policy.max_open_positions {
        return Err(Refusal::TooManyOpenPositions { open: exposure.open_positions, max: policy.max_open_positions });
    }
    if exposure.positions_on_pair_side >= MAX_TRADES_PER_PAIR {
        return Err(Refusal::TooManyOnPairSide {
            pair: pair.symbol.clone(),
            side: order.side,
            open: exposure.positions_on_pair_side,
            max: MAX_TRADES_PER_PAIR,
        });
    }
    if exposure.resting_orders > 0 && exposure.open_positions.saturating_add(exposure.resting_orders) >= policy.max_open_positions {
        return Err(Refusal::RestingOrdersFillSlots {
            open: exposure.open_positions,
            resting: exposure.resting_orders,
            max: policy.max_open_positions,
        });
    }
    if exposure.trades_on_pair >= MAX_TRADES_PER_PAIR {
        return Err(Refusal::VenuePairFull {
            pair: pair.symbol.clone(),
            trades: exposure.trades_on_pair,
            resting: exposure.resting_on_pair,
            max: MAX_TRADES_PER_PAIR,
        });
    }
    let cap = u64::from(policy.max_open_positions)
        .checked_mul(policy.max_position.raw())
        .map(Usdc::from_raw)
        .ok_or(Refusal::Overflow { what: "exposure cap" })?;
    let exposure_after = exposure
        .open_notional
        .checked_add(exposure.resting_notional)
        .and_then(|x| x.checked_add(notional))
        .map_err(overflow("exposure"))?;
    if exposure_after > cap {
        return Err(Refusal::ExposureCapExceeded {
            open_notional: exposure.open_notional,
            resting_notional: exposure.resting_notional,
            notional,
            cap,
        });
    }
    if exposure.trades_today >= policy.max_daily_trades {
        return Err(Refusal::DailyTradesReached { trades: exposure.trades_today, max: policy.max_daily_trades });
    }
    let volume_after = exposure.volume_today.checked_add(notional).map_err(overflow("daily volume"))?;
    if volume_after > policy.max_daily_volume {
        return Err(Refusal::DailyVolumeExceeded { volume_today: exposure.volume_today, notional, max: policy.max_daily_volume });
    }
    if daily_loss_breached(&policy, exposure) {
        let loss = Usdc::from_raw(u64::try_from(day_loss(exposure)).unwrap_or(u64::MAX));
        return Err(Refusal::DailyLossReached { loss, limit: policy.daily_loss_limit });
    }

    // Loss-streak cooldown.
    if policy.loss_streak > 0 && exposure.loss_streak >= policy.loss_streak {
        let cooldown_ms = i64::from(policy.cooldown_minutes) * 60_000;
        // No recorded time: the cooldown starts now. A loss dated in the future counts as now.
        let elapsed = exposure.last_loss_at.map_or(0, |t| now.since(t)).max(0);
        if elapsed < cooldown_ms {
            return Err(Refusal::LossStreakCooldown {
                streak: exposure.loss_streak,
                threshold: policy.loss_streak,
                cooldown_minutes: policy.cooldown_minutes,
                remaining_ms: cooldown_ms - elapsed,
            });
        }
    }

    // Slippage.
    let slippage = order.slippage.unwrap_or(policy.default_slippage);
    if slippage > policy.max_slippage {
        return Err(Refusal::SlippageTooHigh { slippage, max: policy.max_slippage });
    }

    // Prices.
    let reference = reference_price(&pair.symbol, quotes, now, ops.max_price_age_secs, ops.max_price_deviation)?;

    // Take-profit and stop-loss: side, then the venue's caps.
    if let Some(tp) = order.tp {
        let right_side = match order.side {
            Side::Long => tp > reference,
            Side::Short => tp < reference,
        };
        if !right_side {
            return Err(Refusal::TakeProfitWrongSide { side: order.side, tp, reference });
        }
        let num = pct_of_collateral_numerator(reference, tp, leverage).ok_or(Refusal::Overflow { what: "take-profit" })?;
        let cap = match model {
            Some(m) if upside => compute::upside_max_gain(pair.max_gain, &m.pnl_tiers),
            _ => pair.max_gain,
        };
        if !within_pct(num, reference, cap).ok_or(Refusal::Overflow { what: "take-profit" })? {
            return Err(Refusal::TakeProfitAboveMaxGain { pair: pair.symbol.clone(), tp, gain: pct_ceil(num, reference), max: cap });
        }
    }
    if let Some(sl) = order.sl {
        let right_side = match order.side {
            Side::Long => sl < reference,
            Side::Short => sl > reference,
        };
        if !right_side {
            return Err(Refusal::StopLossWrongSide { side: order.side, sl, reference });
        }
        let num = pct_of_collateral_numerator(reference, sl, leverage).ok_or(Refusal::Overflow { what: "stop-loss" })?;
        if !within_pct(num, reference, pair.max_sl).ok_or(Refusal::Overflow { what: "stop-loss" })? {
            return Err(Refusal::StopLossAboveMaxSl { pair: pair.symbol.clone(), sl, loss: pct_ceil(num, reference), max: pair.max_sl });
        }
        if upside {
            let min = compute::upside_min_sl(leverage, Some(pair.spread));
            // loss% = num / reference; below the floor when num < min × reference.
            let at_least = u128::from(min.raw()).checked_mul(u128::from(reference.raw())).ok_or(Refusal::Overflow { what: "stop-loss" })?;
            if num < at_least {
                let loss = PercentP::from_raw(u64::try_from(num / u128::from(reference.raw()).max(1)).unwrap_or(u64::MAX));
                return Err(Refusal::StopLossBelowUpsideFloor { pair: pair.symbol.clone(), sl, loss, min });
            }
        }
    }

    // Liquidation.
    // At entry no rollover or funding has accrued.
    let liquidation = compute::liquidation_price(order.side, reference, order.collateral, leverage, Usdc::ZERO, SignedUsdc::ZERO)
        .map_err(overflow("liquidation price"))?;
    let liq_distance = distance_bps(reference, liquidation);
    if liq_distance < policy.min_liq_distance {
        return Err(Refusal::LiquidationTooClose {
            leverage,
            reference,
            liquidation,
            distance: liq_distance,
            min: policy.min_liq_distance,
        });
    }
    if let Some(sl) = order.sl {
        let before_liquidation = match order.side {
            Side::Long => sl > liquidation,
            Side::Short => sl < liquidation,
        };
        if !before_liquidation {
            return Err(Refusal::StopLossBeyondLiquidation { side: order.side, sl, liquidation });
        }
    }

    let open_fee = compute::open_fee(model, order.side, notional, pair.open_fee).map_err(overflow("open fee"))?;
    Ok(Approved { reference_price: reference, slippage, notional, open_fee, liquidation_price: liquidation, liq_distance })
}
