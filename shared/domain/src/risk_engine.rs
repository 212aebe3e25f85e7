//! The risk engine: whether an order to open a position may go ahead, and if so at what reference
//! price, notional, fee and liquidation price. Pure and IO-free: the caller loads the user's
//! [`Exposure`], the pair, the quotes and the effective exec mode, and asks [`check_open`].
//!
//! Every rule refuses with its own [`Refusal`], whose `Display` is a sentence for the user that
//! carries the numbers involved. The rules run in a fixed order, so the same input always gives
//! the same answer (quotes may come in any order):
//!
//! 1. entries are not paused by an emergency stop ([`EffectiveExec::allows_entries`]);
//! 2. an automated order (signal, copy) is refused while the user's automation is paused;
//! 3. the order is for the pair it was checked against; the pair is listed and not close-only;
//! 4. the pair is among the user's allowed pairs (none listed: all pairs);
//! 5. leverage lies within the pair's `[min, max]` and at most the user's maximum;
//! 6. collateral is not zero; notional (collateral × leverage, as the venue rounds it) is at least
//!    the pair's minimum position and at most the user's maximum position;
//! 7. fewer open positions than the user's maximum, and fewer than the venue's
//!    [`MAX_TRADES_PER_PAIR`] on this pair and side;
//! 8. fewer trades today than the daily cap, and today's volume plus this notional within the
//!    daily volume cap;
//! 9. the day's loss (realised + unrealised) has not reached the daily loss limit;
//! 10. no loss-streak cooldown is running;
//! 11. the slippage (the order's, or the user's default) is at most the user's maximum;
//! 12. prices are fresh and agree ([`reference_price`]);
//! 13. take-profit and stop-loss are on the right side of the reference price, the take-profit's
//!     gain is at most the pair's `max_gain` and the stop-loss's loss at most its `max_sl` (both as
//!     a percentage of collateral: `|target − ref| / ref × leverage × 100`);
//!     On an Upside pair (with its fee model, [`check_open_with`]) the take-profit cap is net of
//!     the profit share and the stop-loss must be at least the venue's floor;
//! 14. the liquidation price is at least the user's minimum distance from the reference price,
//!     and a stop-loss triggers before it.
//!
//! The open fee and the liquidation price follow the venue's formulas ([`crate::compute`]).
//!
//! The policy is bounded by the operator's limits again inside the engine
//! ([`RiskPolicy::bounded_by`] is idempotent), so a caller that forgot cannot loosen them.
//! Arithmetic is integer and checked; a value too large to check is refused
//! ([`Refusal::Overflow`]), never wrapped and never a panic.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::compute::{self, FeeModel};
use crate::error::DomainError;
use crate::exec::{EffectiveExec, StopLevel};
use crate::intent::OpenOrder;
use crate::market::{PairInfo, PairSymbol, Side};
use crate::money::{Bps, Leverage, PercentP, Price, SignedUsdc, SlippageP, Usdc, format_scaled};
use crate::ports::PriceQuote;
use crate::position::distance_bps;
use crate::risk::{OperatorLimits, RiskPolicy};
use crate::time::Timestamp;

/// The venue's cap on open trades per pair (Avantis: 40 per trader and pair).
pub const MAX_TRADES_PER_PAIR: u32 = 40;

/// How far in the future a quote may be dated and still count as fresh (publisher and Lambda
/// clocks differ by up to a second or so; Pyth and Chainlink stamp whole seconds). A quote dated
/// further ahead means a clock is wrong, and then no price is trusted.
pub const MAX_FUTURE_SKEW_MS: i64 = 2_000;

/// What the engine knows about the user right now (the caller loads it from the store).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// Live positions (open or closing) across all pairs.
    pub open_positions: u32,
    /// Live positions on the order's pair and side.
    pub positions_on_pair_side: u32,
    /// PnL realised since 00:00 UTC today (after fees).
    pub today_realised_pnl: SignedUsdc,
    /// PnL of the live positions at current prices.
    pub unrealised_pnl: SignedUsdc,
    /// Positions opened since 00:00 UTC today.
    pub trades_today: u32,
    /// Notional opened since 00:00 UTC today.
    pub volume_today: Usdc,
    /// Consecutive losing trades up to now (zero after a win).
    pub loss_streak: u32,
    /// When the last losing trade closed.
    pub last_loss_at: Option<Timestamp>,
    /// The user's automation (signals, copy trading) is paused.
    pub automation_paused: bool,
}

/// Everything [`check_open`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct RiskInput<'a> {
    pub order: &'a OpenOrder,
    /// The venue's pair the order resolved to (its symbol must be the order's).
    pub pair: &'a PairInfo,
    /// The user's policy; bounded by `ops` (the engine bounds it again).
    pub policy: &'a RiskPolicy,
    pub ops: &'a OperatorLimits,
    pub exposure: &'a Exposure,
    /// Every source's latest quotes for the pair (others are ignored).
    pub quotes: &'a [PriceQuote],
    pub now: Timestamp,
    pub exec: &'a EffectiveExec,
    /// A signal or a copy trade: refused while the user's automation is paused.
    pub automated: bool,
}

/// An order the engine let through, with what it computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approved {
    /// The price the order is priced at (see [`reference_price`]).
    pub reference_price: Price,
    /// The slippage to send: the order's, or the user's default.
    pub slippage: SlippageP,
    /// Collateral × leverage, rounded down as the venue does.
    pub notional: Usdc,
    /// The pair's open fee on the notional, rounded up.
    pub open_fee: Usdc,
    /// Where the position would be liquidated if filled at the reference price.
    pub liquidation_price: Price,
    /// Distance from the reference price to the liquidation price, bps of the reference, rounded
    /// down.
    pub liq_distance: Bps,
}

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
    /// A quote is dated further in the future than [`MAX_FUTURE_SKEW_MS`].
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

/// The day's loss (realised + unrealised) as a positive number of micro-USDC; zero or negative
/// when the day is in profit. Computed in `i128`, so it cannot overflow.
fn day_loss(exposure: &Exposure) -> i128 {
    -(i128::from(exposure.today_realised_pnl.raw()) + i128::from(exposure.unrealised_pnl.raw()))
}

/// Whether the day's loss (realised + unrealised) has reached the limit: the caller then pauses
/// the user. Pass the bounded policy; a limit of zero is off (as [`RiskPolicy`] documents;
/// [`RiskPolicy::bounded_by`] replaces a user's zero by the operator's maximum).
pub fn daily_loss_breached(policy: &RiskPolicy, exposure: &Exposure) -> bool {
    let limit = policy.daily_loss_limit.raw();
    limit > 0 && day_loss(exposure) >= i128::from(limit)
}

/// Price rule on its own (used by TP/SL too). Returns the reference price for `pair`.
///
/// - Quotes for other pairs are ignored; none left is [`Refusal::NoPrice`].
/// - A quote dated more than [`MAX_FUTURE_SKEW_MS`] after `now` refuses everything
///   ([`Refusal::FuturePrice`]): a clock is wrong, so no age can be trusted.
/// - A quote is fresh when `now − published_at ≤ max_age_secs`. Sources with no fresh quote are
///   left out; none fresh is [`Refusal::StalePrice`].
/// - Each source counts with its freshest quote (all of them, should one source give several at
///   that same instant). A zero price is [`Refusal::ZeroPrice`].
/// - The highest and lowest of those must be within `max_dev` of the lowest:
///   `(high − low) × 10 000 ≤ max_dev × low`, exactly ([`Refusal::PricesDisagree`]).
/// - The reference price is their **median** (for an even count, the mean of the two middle ones,
///   rounded down), so no single source sets the price. It always lies between low and high.
///
/// The result does not depend on the order of `quotes`.
pub fn reference_price(
    pair: &PairSymbol,
    quotes: &[PriceQuote],
    now: Timestamp,
    max_age_secs: u32,
    max_dev: Bps,
) -> Result<Price, Refusal> {
    let mine: Vec<&PriceQuote> = quotes.iter().filter(|q| &q.pair == pair).collect();
    if mine.is_empty() {
        return Err(Refusal::NoPrice { pair: pair.clone() });
    }

    // A quote from the future: report the furthest ahead (ties by source name, for determinism).
    let future = mine
        .iter()
        .map(|q| (q.published_at.since(now), q.source.as_str()))
        .filter(|(ahead, _)| *ahead > MAX_FUTURE_SKEW_MS)
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)));
    if let Some((ahead_ms, source)) = future {
        return Err(Refusal::FuturePrice { pair: pair.clone(), source: source.to_owned(), ahead_ms });
    }

    let max_age_ms = i64::from(max_age_secs).saturating_mul(1000);
    let fresh: Vec<&PriceQuote> = mine.iter().copied().filter(|q| now.since(q.published_at) <= max_age_ms).collect();
    if fresh.is_empty() {
        let age_ms = mine.iter().map(|q| now.since(q.published_at)).min().unwrap_or(i64::MAX);
        return Err(Refusal::StalePrice { pair: pair.clone(), age_ms, max_age_secs });
    }

    // Each source's latest publish time among its fresh quotes.
    let mut latest: BTreeMap<&str, Timestamp> = BTreeMap::new();
    for q in &fresh {
        let at = latest.entry(q.source.as_str()).or_insert(q.published_at);
        if q.published_at > *at {
            *at = q.published_at;
        }
    }
    let mut current: Vec<(Price, &str)> =
        fresh.iter().filter(|q| latest.get(q.source.as_str()) == Some(&q.published_at)).map(|q| (q.price, q.source.as_str())).collect();
    current.sort_unstable();

    if let Some((_, source)) = current.iter().find(|(p, _)| p.is_zero()) {
        return Err(Refusal::ZeroPrice { pair: pair.clone(), source: (*source).to_owned() });
    }
    let (Some(&(low, low_source)), Some(&(high, high_source))) = (current.first(), current.last()) else {
        return Err(Refusal::NoPrice { pair: pair.clone() });
    };
    // high ≥ low > 0; u64 × u32 products fit in u128.
    let spread = u128::from(high.raw().saturating_sub(low.raw()));
    if spread * 10_000 > u128::from(max_dev.raw()) * u128::from(low.raw()) {
        let dev = (spread * 10_000).div_ceil(u128::from(low.raw()));
        let deviation = u32::try_from(dev).ok().and_then(|d| Bps::new(d).ok()).unwrap_or(Bps::MAX);
        return Err(Refusal::PricesDisagree {
            pair: pair.clone(),
            low,
            low_source: low_source.to_owned(),
            high,
            high_source: high_source.to_owned(),
            deviation,
            max: max_dev,
        });
    }

    let n = current.len();
    let upper = current.get(n / 2).map(|(p, _)| p.raw());
    let median = if n % 2 == 1 {
        upper
    } else {
        let lower = (n / 2).checked_sub(1).and_then(|i| current.get(i)).map(|(p, _)| p.raw());
        // Mean of two u64 without overflow: the sum fits in u128 and the mean in u64.
        lower.zip(upper).and_then(|(a, b)| u64::try_from((u128::from(a) + u128::from(b)) / 2).ok())
    };
    let median = median.map(Price::from_raw).ok_or(Refusal::NoPrice { pair: pair.clone() })?;

    // Slow, heartbeat-driven feeds (Chainlink) that have no fresh quote still cross-check the
    // fresh ones while within their heartbeat: the market cannot have moved further from their
    // last answer than their deviation threshold, so a fresh price beyond that (plus the usual
    // tolerance) means one side is wrong.
    let mut slow: BTreeMap<&str, &PriceQuote> = BTreeMap::new();
    for q in mine.iter().filter(|q| q.check_age_secs.is_some() && !latest.contains_key(q.source.as_str())) {
        let e = slow.entry(q.source.as_str()).or_insert(q);
        if q.published_at > e.published_at {
            *e = q;
        }
    }
    for (source, q) in slow {
        let within = q.check_age_secs.is_some_and(|a| now.since(q.published_at) <= i64::from(a).saturating_mul(1000));
        if !within || q.price.is_zero() {
            continue;
        }
        let max = Bps::new(max_dev.raw().saturating_add(q.check_band.raw())).unwrap_or(Bps::MAX);
        let (lo, lo_src, hi, hi_src) =
            if q.price < median { (q.price, source, median, "fresh sources") } else { (median, "fresh sources", q.price, source) };
        let gap = u128::from(hi.raw() - lo.raw());
        if gap * 10_000 > u128::from(max.raw()) * u128::from(lo.raw()) {
            let dev = (gap * 10_000).div_ceil(u128::from(lo.raw()));
            return Err(Refusal::PricesDisagree {
                pair: pair.clone(),
                low: lo,
                low_source: lo_src.to_owned(),
                high: hi,
                high_source: hi_src.to_owned(),
                deviation: u32::try_from(dev).ok().and_then(|d| Bps::new(d).ok()).unwrap_or(Bps::MAX),
                max,
            });
        }
    }
    Ok(median)
}

/// `|target − reference| × leverage × 100` in venue units: divided by `reference`, it is the move
/// to `target` as a percentage of collateral in [`PercentP`] units.
fn pct_of_collateral_numerator(reference: Price, target: Price, leverage: Leverage) -> Option<u128> {
    u128::from(reference.raw().abs_diff(target.raw())).checked_mul(u128::from(leverage.raw()))?.checked_mul(100)
}

/// Whether `numerator / reference ≤ cap`, exactly.
fn within_pct(numerator: u128, reference: Price, cap: PercentP) -> Option<bool> {
    Some(numerator <= u128::from(cap.raw()).checked_mul(u128::from(reference.raw()))?)
}

/// `numerator / reference`, rounded up, for messages (saturates).
fn pct_ceil(numerator: u128, reference: Price) -> PercentP {
    let r = u128::from(reference.raw());
    let v = if r == 0 { u128::MAX } else { numerator.div_ceil(r) };
    PercentP::from_raw(u64::try_from(v).unwrap_or(u64::MAX))
}

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{TestCaseError, TestRunner};

    use super::*;
    use crate::exec::ExecMode;
    use crate::market::PairIndex;

    const NOW: Timestamp = Timestamp(1_790_000_000_000);

    fn sym(s: &str) -> PairSymbol {
        PairSymbol::parse(s).unwrap()
    }
    fn usd(s: &str) -> Usdc {
        s.parse().unwrap()
    }
    fn px(s: &str) -> Price {
        s.parse().unwrap()
    }
    fn pct(s: &str) -> PercentP {
        s.parse().unwrap()
    }
    fn lev(x: u64) -> Leverage {
        Leverage::from_whole(x).unwrap()
    }
    fn signed(s: &str) -> SignedUsdc {
        s.parse().unwrap()
    }

    fn btc_pair() -> PairInfo {
        PairInfo {
            index: PairIndex(1),
            symbol: sym("BTC/USD"),
            group: 0,
            listed: true,
            close_only: false,
            min_leverage: lev(1),
            max_leverage: lev(75),
            min_position: usd("100"),
            open_fee: pct("0.045"),
            close_fee: pct("0.045"),
            spread: pct("0.01"),
            max_gain: pct("2500"),
            max_sl: pct("80"),
        }
    }

    fn quote_at(pair: &str, source: &str, price: &str, published_at: Timestamp) -> PriceQuote {
        PriceQuote {
            pair: sym(pair),
            price: px(price),
            published_at,
            source: source.to_owned(),
            check_age_secs: None,
            check_band: Bps::default(),
        }
    }

    /// A BTC/USD quote `age_ms` old.
    fn quote(source: &str, price: &str, age_ms: i64) -> PriceQuote {
        quote_at("BTC/USD", source, price, Timestamp(NOW.0 - age_ms))
    }

    /// A slow (heartbeat) Chainlink-style quote `age_ms` old.
    fn slow_quote(price: &str, age_ms: i64) -> PriceQuote {
        PriceQuote { check_age_secs: Some(3_900), check_band: Bps::new(100).unwrap(), ..quote("chainlink", price, age_ms) }
    }

    #[test]
    fn a_slow_feed_within_its_heartbeat_cross_checks_the_fresh_price() {
        let max_dev = Bps::new(50).unwrap();
        let btc = sym("BTC/USD");
        // 20 minutes old, 1.5 % away at most (50 bps + its 100 bps band): agreed.
        let ok = [quote("pyth", "100000", 1_000), slow_quote("101500", 1_200_000)];
        assert_eq!(reference_price(&btc, &ok, NOW, 30, max_dev).unwrap(), px("100000"), "the fresh source sets the price");
        // 2 % away: one of them is wrong, so no trade.
        let off = [quote("pyth", "100000", 1_000), slow_quote("98000", 1_200_000)];
        match reference_price(&btc, &off, NOW, 30, max_dev) {
            Err(Refusal::PricesDisagree { max, low_source, .. }) => {
                assert_eq!(max, Bps::new(150).unwrap());
                assert_eq!(low_source, "chainlink");
            }
            other => panic!("expected a disagreement, got {other:?}"),
        }
        // Past its heartbeat it is ignored; without a declared heartbeat, stale quotes never count.
        let old = [quote("pyth", "100000", 1_000), slow_quote("90000", 4_000_000)];
        assert!(reference_price(&btc, &old, NOW, 30, max_dev).is_ok());
        let plain = [quote("pyth", "100000", 1_000), quote("chainlink", "90000", 1_200_000)];
        assert!(reference_price(&btc, &plain, NOW, 30, max_dev).is_ok());
        // When fresh itself, it takes part in the ordinary 50 bps agreement.
        let fresh = [quote("pyth", "100000", 1_000), slow_quote("100600", 2_000)];
        assert!(matches!(reference_price(&btc, &fresh, NOW, 30, max_dev), Err(Refusal::PricesDisagree { .. })));
    }

    /// The user's limits the unit tests assume, spelled out (the defaults may change).
    fn policy() -> RiskPolicy {
        RiskPolicy {
            max_leverage: lev(20),
            max_position: usd("10000"),
            max_open_positions: 5,
            daily_loss_limit: usd("500"),
            loss_streak: 3,
            cooldown_minutes: 60,
            max_daily_trades: 50,
            max_daily_volume: usd("100000"),
            max_slippage: pct("1"),
            default_slippage: pct("0.5"),
            min_liq_distance: Bps::new(1000).unwrap(),
            allowed_pairs: Vec::new(),
        }
    }

    fn ops() -> OperatorLimits {
        OperatorLimits {
            max_leverage: lev(75),
            max_position: usd("100000"),
            max_open_positions: 20,
            max_daily_loss: usd("10000"),
            max_daily_trades: 200,
            max_daily_volume: usd("1000000"),
            max_slippage: pct("3"),
            min_liq_distance: Bps::new(300).unwrap(),
            max_price_age_secs: 30,
            max_price_deviation: Bps::new(50).unwrap(),
        }
    }

    fn live() -> EffectiveExec {
        EffectiveExec { mode: ExecMode::Live, stop: StopLevel::None, why: None }
    }

    /// Everything `check_open` takes, owned.
    #[derive(Debug, Clone)]
    struct Case {
        order: OpenOrder,
        pair: PairInfo,
        policy: RiskPolicy,
        ops: OperatorLimits,
        exposure: Exposure,
        quotes: Vec<PriceQuote>,
        now: Timestamp,
        exec: EffectiveExec,
        automated: bool,
    }

    impl Case {
        /// A 5x $100 long on BTC/USD at 100 000, TP 110 000, SL 95 000, default limits: accepted.
        fn good() -> Self {
            Self {
                order: OpenOrder {
                    pair: sym("BTC/USD"),
                    side: Side::Long,
                    collateral: usd("100"),
                    leverage: lev(5),
                    tp: Some(px("110000")),
                    sl: Some(px("95000")),
                    slippage: None,
                },
                pair: btc_pair(),
                policy: policy(),
                ops: ops(),
                exposure: Exposure::default(),
                quotes: vec![quote("pyth", "100000", 1_000), quote("chainlink", "100000", 5_000)],
                now: NOW,
                exec: live(),
                automated: true,
            }
        }
        fn short() -> Self {
            let mut c = Self::good();
            c.order.side = Side::Short;
            c.order.tp = Some(px("90000"));
            c.order.sl = Some(px("105000"));
            c
        }
        fn input(&self) -> RiskInput<'_> {
            RiskInput {
                order: &self.order,
                pair: &self.pair,
                policy: &self.policy,
                ops: &self.ops,
                exposure: &self.exposure,
                quotes: &self.quotes,
                now: self.now,
                exec: &self.exec,
                automated: self.automated,
            }
        }
        fn check(&self) -> Result<Approved, Refusal> {
            check_open(&self.input())
        }
        fn approved(&self) -> Approved {
            match self.check() {
                Ok(a) => a,
                Err(r) => panic!("expected approval, got {}: {r}", r.code()),
            }
        }
        /// Asserts a refusal with `code` whose text mentions every one of `mentions`.
        fn refused(&self, code: &str, mentions: &[&str]) -> Refusal {
            let r = match self.check() {
                Ok(a) => panic!("expected refusal {code}, got approval {a:?}"),
                Err(r) => r,
            };
            assert_eq!(r.code(), code, "refusal was: {r}");
            let text = r.to_string();
            for m in mentions {
                assert!(text.contains(m), "'{text}' does not mention '{m}'");
            }
            r
        }
    }

    // ----- accept paths ----------------------------------------------------------------------

    #[test]
    fn a_sound_long_is_approved_with_its_numbers() {
        let a = Case::good().approved();
        assert_eq!(a.reference_price, px("100000"));
        assert_eq!(a.slippage, pct("0.5"), "the user's default slippage");
        assert_eq!(a.notional, usd("500"));
        assert_eq!(a.open_fee, usd("0.225"), "0.045 % of $500");
        assert_eq!(a.liquidation_price, px("83000"), "85 % / 5x = 17 % below");
        assert_eq!(a.liq_distance, Bps::new(1700).unwrap());
    }

    #[test]
    fn a_sound_short_is_approved() {
        let a = Case::short().approved();
        assert_eq!(a.liquidation_price, px("117000"));
        assert_eq!(a.liq_distance, Bps::new(1700).unwrap());
    }

    #[test]
    fn an_order_without_tp_or_sl_is_approved() {
        let mut c = Case::good();
        c.order.tp = None;
        c.order.sl = None;
        c.approved();
    }

    #[test]
    fn the_orders_own_slippage_is_used_up_to_the_limit() {
        let mut c = Case::good();
        c.order.slippage = Some(pct("1"));
        assert_eq!(c.approved().slippage, pct("1"));
    }

    #[test]
    fn a_manual_order_goes_through_while_automation_is_paused() {
        let mut c = Case::good();
        c.exposure.automation_paused = true;
        c.automated = false;
        c.approved();
    }

    #[test]
    fn an_allowed_pair_passes() {
        let mut c = Case::good();
        c.policy.allowed_pairs = vec![sym("ETH/USD"), sym("BTC/USD")];
        c.approved();
    }

    #[test]
    fn limits_are_inclusive_where_the_rule_says_at_most() {
        let mut c = Case::good();
        // Volume: 99 500 + 500 = 100 000, exactly the cap.
        c.exposure.volume_today = usd("99500");
        // Positions and trades: one below the cap.
        c.exposure.open_positions = 4;
        c.exposure.trades_today = 49;
        c.exposure.positions_on_pair_side = 39;
        // Loss: one micro-dollar short of the limit.
        c.exposure.today_realised_pnl = signed("-300");
        c.exposure.unrealised_pnl = signed("-199.999999");
        // Position: exactly the minimum and the maximum.
        c.approved();
        c.order.collateral = usd("20");
        assert_eq!(c.approved().notional, usd("100"));
        c.exposure.volume_today = usd("0");
        c.order.collateral = usd("2000");
        assert_eq!(c.approved().notional, usd("10000"));
    }

    #[test]
    fn the_cooldown_ends() {
        let mut c = Case::good();
        c.exposure.loss_streak = 3;
        c.exposure.last_loss_at = Some(Timestamp(NOW.0 - 60 * 60_000));
        c.approved();
        c.exposure.loss_streak = 2;
        c.exposure.last_loss_at = Some(NOW);
        c.approved();
    }

    #[test]
    fn tp_and_sl_caps_are_inclusive() {
        let mut c = Case::good();
        c.pair.max_gain = pct("500");
        c.order.tp = Some(px("200000")); // +100 % × 5 = 500 %
        c.order.sl = Some(px("84000")); // −16 % × 5 = 80 %
        c.approved();
    }

    // ----- refusals, one per rule ---------------------------------------------------------------

    #[test]
    fn entries_paused_by_an_emergency_stop() {
        let mut c = Case::good();
        c.exec.stop = StopLevel::PauseEntries;
        c.refused("entries_paused", &["paused", "PAUSE_ENTRIES"]);
        c.exec.stop = StopLevel::Flatten;
        c.refused("entries_paused", &["FLATTEN"]);
    }

    #[test]
    fn automation_paused_refuses_automated_orders() {
        let mut c = Case::good();
        c.exposure.automation_paused = true;
        c.refused("automation_paused", &["paused"]);
    }

    #[test]
    fn pair_mismatch() {
        let mut c = Case::good();
        c.order.pair = sym("ETH/USD");
        c.refused("pair_mismatch", &["ETH/USD", "BTC/USD"]);
    }

    #[test]
    fn pair_not_listed_or_close_only() {
        let mut c = Case::good();
        c.pair.listed = false;
        c.refused("pair_not_listed", &["BTC/USD"]);
        c.pair.listed = true;
        c.pair.close_only = true;
        c.refused("pair_close_only", &["BTC/USD", "close-only"]);
    }

    #[test]
    fn pair_not_allowed() {
        let mut c = Case::good();
        c.policy.allowed_pairs = vec![sym("ETH/USD"), sym("SOL/USD")];
        c.refused("pair_not_allowed", &["BTC/USD", "ETH/USD, SOL/USD"]);
    }

    #[test]
    fn leverage_outside_the_pair_range() {
        let mut c = Case::good();
        c.pair.min_leverage = lev(2);
        c.order.leverage = lev(1);
        c.refused("leverage_below_pair_min", &["1x", "2x", "BTC/USD"]);
        let mut c = Case::good();
        c.pair.max_leverage = lev(4);
        c.refused("leverage_above_pair_max", &["5x", "4x", "BTC/USD"]);
    }

    #[test]
    fn leverage_above_the_users_limit() {
        let mut c = Case::good();
        c.order.leverage = lev(50);
        c.refused("leverage_above_user_max", &["leverage 50x is above your limit of 20x"]);
    }

    #[test]
    fn the_operator_bounds_an_unbounded_policy() {
        let mut c = Case::good();
        c.pair.max_leverage = lev(100);
        c.policy.max_leverage = lev(100);
        c.order.leverage = lev(80);
        c.refused("leverage_above_user_max", &["80x", "75x"]);
    }

    #[test]
    fn zero_collateral() {
        let mut c = Case::good();
        c.order.collateral = Usdc::ZERO;
        c.pair.min_position = Usdc::ZERO;
        c.refused("zero_collateral", &["$0"]);
    }

    #[test]
    fn position_below_the_pair_minimum() {
        let mut c = Case::good();
        c.order.collateral = usd("10");
        c.refused("position_below_pair_min", &["$50", "$100", "BTC/USD"]);
    }

    #[test]
    fn position_above_the_users_maximum() {
        let mut c = Case::good();
        c.order.collateral = usd("3000");
        c.refused("position_above_user_max", &["$15000", "$10000"]);
    }

    #[test]
    fn too_many_open_positions() {
        let mut c = Case::good();
        c.exposure.open_positions = 5;
        c.refused("too_many_open_positions", &["5 open positions", "limit is 5"]);
    }

    #[test]
    fn too_many_on_the_pair() {
        let mut c = Case::good();
        c.exposure.positions_on_pair_side = 40;
        c.refused("too_many_on_pair_side", &["40 long", "BTC/USD", "at most 40"]);
    }

    #[test]
    fn daily_trades_reached() {
        let mut c = Case::good();
        c.exposure.trades_today = 50;
        c.refused("daily_trades_reached", &["50 positions today", "limit is 50"]);
    }

    #[test]
    fn daily_volume_exceeded() {
        let mut c = Case::good();
        c.exposure.volume_today = usd("99600");
        c.refused("daily_volume_exceeded", &["$500", "$99600", "$100000"]);
    }

    #[test]
    fn daily_loss_reached() {
        let mut c = Case::good();
        c.exposure.today_realised_pnl = signed("-300");
        c.exposure.unrealised_pnl = signed("-200");
        c.refused("daily_loss_reached", &["$500", "limit of $500"]);
        assert!(daily_loss_breached(&c.policy, &c.exposure));
    }

    #[test]
    fn daily_loss_breached_counts_realised_and_unrealised() {
        let policy = policy();
        let mut x = Exposure { today_realised_pnl: signed("200"), unrealised_pnl: signed("-699.999999"), ..Exposure::default() };
        assert!(!daily_loss_breached(&policy, &x), "net loss 499.999999 < 500");
        x.unrealised_pnl = signed("-700");
        assert!(daily_loss_breached(&policy, &x), "net loss 500 reaches the limit");
        x.today_realised_pnl = SignedUsdc::from_raw(i64::MIN);
        x.unrealised_pnl = SignedUsdc::from_raw(i64::MIN);
        assert!(daily_loss_breached(&policy, &x), "no overflow on extreme values");
        let off = RiskPolicy { daily_loss_limit: Usdc::ZERO, ..policy };
        assert!(!daily_loss_breached(&off, &x), "a zero limit is off");
        let bounded = off.bounded_by(&ops());
        assert!(daily_loss_breached(&bounded, &x), "but bounding turns it into the operator's maximum");
    }

    #[test]
    fn loss_streak_cooldown() {
        let mut c = Case::good();
        c.exposure.loss_streak = 3;
        c.exposure.last_loss_at = Some(Timestamp(NOW.0 - 10 * 60_000));
        c.refused("loss_streak_cooldown", &["3 losing trades", "limit is 3", "60-minute", "in 50 min"]);
        c.exposure.last_loss_at = Some(Timestamp(NOW.0 - 60 * 60_000 + 1));
        c.refused("loss_streak_cooldown", &["in 1 min"]);
        // Unknown time of the last loss: the cooldown starts now.
        c.exposure.last_loss_at = None;
        c.refused("loss_streak_cooldown", &["in 60 min"]);
        // A threshold of 0 is off.
        c.policy.loss_streak = 0;
        c.approved();
    }

    #[test]
    fn slippage_above_the_limit() {
        let mut c = Case::good();
        c.order.slippage = Some(pct("2"));
        c.refused("slippage_too_high", &["slippage 2% is above your limit of 1%"]);
    }

    #[test]
    fn no_price() {
        let mut c = Case::good();
        c.quotes.clear();
        c.refused("no_price", &["BTC/USD"]);
    }

    #[test]
    fn stale_price() {
        let mut c = Case::good();
        c.quotes = vec![quote("pyth", "100000", 31_000), quote("chainlink", "100000", 45_000)];
        c.refused("stale_price", &["31 s old", "30 s"]);
    }

    #[test]
    fn prices_that_disagree() {
        let mut c = Case::good();
        c.quotes = vec![quote("pyth", "100000", 1_000), quote("chainlink", "100510", 1_000)];
        c.refused("prices_disagree", &["pyth says 100000", "chainlink says 100510", "0.51%", "0.5%"]);
    }

    #[test]
    fn take_profit_on_the_wrong_side() {
        let mut c = Case::good();
        c.order.tp = Some(px("99000"));
        c.refused("tp_wrong_side", &["long", "above", "100000", "99000"]);
        c.order.tp = Some(px("100000"));
        c.refused("tp_wrong_side", &["100000"]);
        let mut c = Case::short();
        c.order.tp = Some(px("101000"));
        c.refused("tp_wrong_side", &["short", "below", "101000"]);
    }

    #[test]
    fn stop_loss_on_the_wrong_side() {
        let mut c = Case::good();
        c.order.sl = Some(px("101000"));
        c.refused("sl_wrong_side", &["long", "below", "100000", "101000"]);
        let mut c = Case::short();
        c.order.sl = Some(px("99000"));
        c.refused("sl_wrong_side", &["short", "above", "99000"]);
    }

    #[test]
    fn take_profit_above_the_pairs_max_gain() {
        let mut c = Case::good();
        c.pair.max_gain = pct("500");
        c.order.tp = Some(px("200001")); // just above +100 % × 5
        c.refused("tp_above_max_gain", &["200001", "500.005%", "maximum of 500%", "BTC/USD"]);
        let mut c = Case::short();
        c.pair.max_gain = pct("50");
        c.order.tp = Some(px("80000")); // −20 % × 5 = 100 %
        c.refused("tp_above_max_gain", &["100%", "50%"]);
    }

    #[test]
    fn stop_loss_above_the_pairs_max_sl() {
        let mut c = Case::good();
        c.order.sl = Some(px("83999")); // −16.001 % × 5 = 80.005 %
        c.refused("sl_above_max_sl", &["83999", "80.005%", "maximum of 80%"]);
        let mut c = Case::short();
        c.order.sl = Some(px("120000")); // +20 % × 5 = 100 %
        c.refused("sl_above_max_sl", &["120000", "100%", "80%"]);
    }

    #[test]
    fn liquidation_too_close() {
        let mut c = Case::good();
        c.order.leverage = lev(10);
        c.order.sl = Some(px("97000"));
        c.refused("liquidation_too_close", &["10x", "91500", "8.5%", "100000", "10%"]);
    }

    #[test]
    fn stop_loss_must_trigger_before_liquidation() {
        let mut c = Case::good();
        c.pair.max_sl = pct("100");
        c.order.sl = Some(px("83000")); // exactly the liquidation price
        c.refused("sl_beyond_liquidation", &["83000", "above"]);
        c.order.sl = Some(px("83000.0000000001"));
        c.approved();
        let mut c = Case::short();
        c.pair.max_sl = pct("100");
        c.order.sl = Some(px("117500"));
        c.refused("sl_beyond_liquidation", &["117500", "117000", "below"]);
    }

    #[test]
    fn overflow_is_a_refusal() {
        let mut c = Case::good();
        c.pair.max_leverage = lev(1000);
        c.policy.max_leverage = lev(1000);
        c.ops.max_leverage = lev(1000);
        c.order.leverage = lev(2);
        c.order.collateral = Usdc::from_raw(u64::MAX);
        c.refused("overflow", &["notional"]);
    }

    #[test]
    fn refusals_convert_to_a_refused_domain_error() {
        let mut c = Case::good();
        c.order.leverage = lev(50);
        let e: DomainError = c.check().unwrap_err().into();
        assert_eq!(e, DomainError::Refused("leverage 50x is above your limit of 20x".into()));
    }

    // ----- reference_price ---------------------------------------------------------------------

    fn refp(quotes: &[PriceQuote]) -> Result<Price, Refusal> {
        reference_price(&sym("BTC/USD"), quotes, NOW, 30, Bps::new(50).unwrap())
    }

    #[test]
    fn reference_price_with_no_quotes_or_only_other_pairs() {
        assert_eq!(refp(&[]).unwrap_err().code(), "no_price");
        let eth = [quote_at("ETH/USD", "pyth", "3000", NOW)];
        assert_eq!(refp(&eth).unwrap_err().code(), "no_price");
    }

    #[test]
    fn reference_price_refuses_stale_quotes_and_accepts_the_boundary() {
        let r = refp(&[quote("pyth", "100000", 30_001)]).unwrap_err();
        assert_eq!(r.code(), "stale_price");
        assert!(r.to_string().contains("30.001 s old"), "{r}");
        assert_eq!(refp(&[quote("pyth", "100000", 30_000)]).unwrap(), px("100000"));
    }

    #[test]
    fn reference_price_leaves_out_a_stale_source() {
        let q = [quote("pyth", "100000", 1_000), quote("chainlink", "90000", 60_000)];
        assert_eq!(refp(&q).unwrap(), px("100000"));
    }

    #[test]
    fn reference_price_takes_each_sources_freshest_quote() {
        let q = [quote("pyth", "90000", 20_000), quote("pyth", "100000", 1_000), quote("chainlink", "100000", 3_000)];
        assert_eq!(refp(&q).unwrap(), px("100000"), "pyth's older 90000 is superseded");
    }

    #[test]
    fn reference_price_sources_50_bps_apart_agree_51_do_not() {
        let ok = [quote("pyth", "100000", 1_000), quote("chainlink", "100500", 1_000)];
        assert_eq!(refp(&ok).unwrap(), px("100250"), "the median of two is their mean");
        let bad = [quote("pyth", "100000", 1_000), quote("chainlink", "100510", 1_000)];
        let r = refp(&bad).unwrap_err();
        assert_eq!(r.code(), "prices_disagree");
        assert!(r.to_string().contains("0.51% apart"), "{r}");
        // Just above 50 bps (by one raw unit) is refused: the comparison is exact.
        let hair = [quote("pyth", "100000", 1_000), quote("chainlink", "100500.0000000001", 1_000)];
        assert_eq!(refp(&hair).unwrap_err().code(), "prices_disagree");
    }

    #[test]
    fn reference_price_is_the_median() {
        let q = [quote("a", "100300", 1_000), quote("b", "100000", 1_000), quote("c", "100100", 1_000)];
        assert_eq!(refp(&q).unwrap(), px("100100"));
        let odd_sum = [quote("a", "0.0000000001", 0), quote("b", "0.0000000002", 0)];
        assert_eq!(reference_price(&sym("BTC/USD"), &odd_sum, NOW, 30, Bps::MAX).unwrap().raw(), 1, "rounded down");
    }

    #[test]
    fn reference_price_refuses_a_future_dated_quote() {
        let q = [quote("pyth", "100000", 1_000), quote("chainlink", "100000", -10_000)];
        let r = refp(&q).unwrap_err();
        assert_eq!(r.code(), "future_price");
        assert!(r.to_string().contains("chainlink") && r.to_string().contains("10 s in the future"), "{r}");
        // Within the skew tolerance it counts as fresh.
        let q = [quote("pyth", "100000", -MAX_FUTURE_SKEW_MS)];
        assert_eq!(refp(&q).unwrap(), px("100000"));
    }

    #[test]
    fn reference_price_refuses_a_zero_price() {
        let q = [quote("pyth", "0", 1_000)];
        assert_eq!(refp(&q).unwrap_err().code(), "zero_price");
    }

    #[test]
    fn reference_price_catches_one_source_contradicting_itself() {
        let q = [quote("pyth", "100000", 1_000), quote("pyth", "101000", 1_000)];
        assert_eq!(refp(&q).unwrap_err().code(), "prices_disagree");
    }

    // ----- properties --------------------------------------------------------------------------

    /// A `x` in `0..n` that is zero: true about once in `n` (no floats).
    fn one_in(n: u8) -> impl Strategy<Value = bool> {
        (0..n).prop_map(|x| x == 0)
    }

    /// Mostly `usual`, once in `n` anything from `rare`: each rule passes often enough for
    /// approvals to be common, and fails often enough to be exercised.
    fn mostly<T: std::fmt::Debug + Clone + 'static>(
        usual: impl Strategy<Value = T> + 'static,
        rare: impl Strategy<Value = T> + 'static,
        n: u32,
    ) -> BoxedStrategy<T> {
        prop_oneof![n.saturating_sub(1) => usual, 1 => rare].boxed()
    }

    fn whole_lev(r: std::ops::RangeInclusive<u64>) -> impl Strategy<Value = Leverage> {
        r.prop_map(lev)
    }

    fn whole_usd(r: std::ops::RangeInclusive<u64>) -> impl Strategy<Value = Usdc> {
        r.prop_map(|x| Usdc::from_whole(x).unwrap())
    }

    fn bps_strategy(r: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = Bps> {
        r.prop_map(|x| Bps::new(x).unwrap())
    }

    prop_compose! {
        fn near_pair()(
            not_listed in one_in(50), close_only in one_in(50),
            min_lev in mostly(Just(lev(1)), whole_lev(2..=5), 15), max_lev in mostly(whole_lev(25..=100), whole_lev(2..=25), 15),
            min_pos in mostly(whole_usd(0..=300), whole_usd(300..=5_000), 20), open_fee in 0u64..=1_000_000_000,
            max_gain in mostly(50u64..=2_500, 1u64..=50, 10), max_sl in mostly(50u64..=100, 5u64..=50, 10),
        ) -> PairInfo {
            PairInfo {
                index: PairIndex(1),
                symbol: sym("BTC/USD"),
                group: 0,
                listed: !not_listed,
                close_only,
                min_leverage: min_lev,
                max_leverage: max_lev,
                min_position: min_pos,
                open_fee: PercentP::from_raw(open_fee),
                close_fee: PercentP::from_raw(open_fee),
                spread: PercentP::from_raw(100_000_000),
                max_gain: PercentP::from_raw(max_gain * PercentP::ONE_RAW),
                max_sl: PercentP::from_raw(max_sl * PercentP::ONE_RAW),
            }
        }
    }

    prop_compose! {
        fn near_policy()(
            max_lev in mostly(whole_lev(10..=100), whole_lev(1..=10), 15),
            max_pos in mostly(whole_usd(20_000..=100_000), whole_usd(50..=20_000), 15),
            max_open in mostly(6u32..=20, 0u32..=6, 15),
            loss in mostly(whole_usd(300..=2_000), whole_usd(0..=300), 15),
            streak_cooldown in (0u32..=5, 0u32..=120),
            daily in (mostly(70u32..=200, 0u32..=70, 15), mostly(whole_usd(100_000..=500_000), whole_usd(0..=100_000), 15)),
            slippage in (mostly(100u32..=300, 0u32..=100, 15), 0u32..=200),
            min_liq in mostly(0u32..=600, 600u32..=3_000, 15),
            allowed in 0u8..30,
        ) -> RiskPolicy {
            RiskPolicy {
                max_leverage: max_lev,
                max_position: max_pos,
                max_open_positions: max_open,
                daily_loss_limit: loss,
                loss_streak: streak_cooldown.0,
                cooldown_minutes: streak_cooldown.1,
                max_daily_trades: daily.0,
                max_daily_volume: daily.1,
                max_slippage: PercentP::from_bps(Bps::new(slippage.0).unwrap()),
                default_slippage: PercentP::from_bps(Bps::new(slippage.1).unwrap()),
                min_liq_distance: Bps::new(min_liq).unwrap(),
                allowed_pairs: match allowed {
                    0 => vec![sym("ETH/USD")],
                    1..=5 => vec![sym("ETH/USD"), sym("BTC/USD")],
                    _ => Vec::new(),
                },
            }
        }
    }

    prop_compose! {
        fn near_ops()(
            max_lev in mostly(whole_lev(20..=100), whole_lev(1..=20), 15),
            max_pos in mostly(whole_usd(20_000..=100_000), whole_usd(100..=20_000), 15),
            max_open in mostly(6u32..=20, 0u32..=6, 15),
            max_loss in mostly(whole_usd(300..=10_000), whole_usd(0..=300), 15),
            max_slip in mostly(100u32..=300, 0u32..=100, 15),
            min_liq in 0u32..=500,
            age in mostly(20u32..=60, 0u32..=20, 10),
            dev in mostly(bps_strategy(30..=100), bps_strategy(0..=30), 10),
        ) -> OperatorLimits {
            OperatorLimits {
                max_leverage: max_lev,
                max_position: max_pos,
                max_open_positions: max_open,
                max_daily_loss: max_loss,
                max_slippage: PercentP::from_bps(Bps::new(max_slip).unwrap()),
                min_liq_distance: Bps::new(min_liq).unwrap(),
                max_price_age_secs: age,
                max_price_deviation: dev,
                ..ops()
            }
        }
    }

    fn signed_usd(r: std::ops::RangeInclusive<i64>) -> impl Strategy<Value = SignedUsdc> {
        r.prop_map(|x| SignedUsdc::from_raw(x * 1_000_000))
    }

    prop_compose! {
        fn near_exposure()(
            open in mostly(0u32..=5, 0u32..=25, 15),
            pair_side in mostly(0u32..=3, 35u32..=45, 25),
            realised in mostly(signed_usd(-200..=1_000), signed_usd(-3_000..=-200), 15),
            unrealised in mostly(signed_usd(-100..=1_000), signed_usd(-3_000..=-100), 15),
            trades in mostly(0u32..=60, 0u32..=250, 15),
            volume in mostly(whole_usd(0..=50_000), whole_usd(50_000..=1_000_000), 15),
            streak in mostly(0u32..=1, 0u32..=8, 5),
            last_loss in proptest::option::of(-60_000i64..=10_800_000),
            paused in one_in(20),
        ) -> Exposure {
            Exposure {
                open_positions: open,
                positions_on_pair_side: pair_side,
                today_realised_pnl: realised,
                unrealised_pnl: unrealised,
                trades_today: trades,
                volume_today: volume,
                loss_streak: streak,
                last_loss_at: last_loss.map(|ago| Timestamp(NOW.0 - ago)),
                automation_paused: paused,
            }
        }
    }

    prop_compose! {
        fn near_quote(base: u64)(
            source in 0usize..3,
            offset in mostly(-1_000i64..=1_000, -20_000i64..=20_000, 10),
            age in mostly(0i64..=15_000, -10_000i64..=120_000, 15),
            other_pair in one_in(20),
        ) -> PriceQuote {
            // `offset` in hundredths of a bp.
            let price = i128::from(base) * (1_000_000 + i128::from(offset)) / 1_000_000;
            PriceQuote {
                pair: sym(if other_pair { "ETH/USD" } else { "BTC/USD" }),
                price: Price::from_raw(u64::try_from(price).unwrap()),
                published_at: Timestamp(NOW.0 - age),
                source: ["pyth", "chainlink", "api"][source].to_owned(),
                check_age_secs: None,
                check_band: Bps::default(),
            }
        }
    }

    /// A price `bps` away from `base` (negative: below), never below zero.
    fn bps_of(base: u64, bps: i64) -> Price {
        let v = i128::from(base) * (10_000 + i128::from(bps)) / 10_000;
        Price::from_raw(u64::try_from(v.max(0)).unwrap())
    }

    fn near_case() -> impl Strategy<Value = Case> {
        (1_000_000_000u64..=2_000_000_000_000_000).prop_flat_map(|base| {
            // TP and SL as a distance in bps, usually on the right side; the leverage is mostly
            // low enough for the usual distances to pass the venue caps and the liquidation rule.
            let order = (
                any::<bool>(),
                mostly(whole_usd(50..=1_000), (0u64..=50_000_000).prop_map(Usdc::from_raw), 20),
                mostly(10_000_000_000u64..=80_000_000_000, 10_000_000_000u64..=1_000_000_000_000, 15),
                proptest::option::of((mostly(1i64..=2_000, 1i64..=10_000, 10), one_in(20))),
                proptest::option::of((mostly(1i64..=500, 1i64..=3_000, 10), one_in(20))),
                proptest::option::of(mostly(0u32..=100, 0u32..=400, 10)),
                one_in(50),
            )
                .prop_map(move |(long, collateral, leverage, tp, sl, slippage, wrong_pair)| {
                    let up = if long { 1 } else { -1 };
                    OpenOrder {
                        pair: sym(if wrong_pair { "ETH/USD" } else { "BTC/USD" }),
                        side: if long { Side::Long } else { Side::Short },
                        collateral,
                        leverage: Leverage::from_raw(leverage).unwrap(),
                        tp: tp.map(|(d, flip)| bps_of(base, if flip { -up * d } else { up * d })),
                        sl: sl.map(|(d, flip)| bps_of(base, if flip { up * d } else { -up * d })),
                        slippage: slippage.map(|b| PercentP::from_bps(Bps::new(b).unwrap())),
                    }
                });
            let exec = (0u8..40).prop_map(|s| EffectiveExec {
                mode: ExecMode::Dry,
                stop: match s {
                    0 => StopLevel::PauseEntries,
                    1 => StopLevel::Flatten,
                    _ => StopLevel::None,
                },
                why: None,
            });
            (
                order,
                near_pair(),
                near_policy(),
                near_ops(),
                near_exposure(),
                proptest::collection::vec(near_quote(base), 0..=4),
                exec,
                one_in(2),
            )
                .prop_map(|(order, pair, policy, ops, exposure, quotes, exec, automated)| Case {
                    order,
                    pair,
                    policy,
                    ops,
                    exposure,
                    quotes,
                    now: NOW,
                    exec,
                    automated,
                })
        })
    }

    /// Anything at all, including absurd values, to look for panics and nondeterminism.
    fn wild_case() -> impl Strategy<Value = Case> {
        let lev_raw = || Leverage::ONE_RAW..=Leverage::MAX.raw();
        let pair = (any::<(bool, bool)>(), lev_raw(), lev_raw(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
            |((listed, close_only), a, b, min_position, open_fee, max_gain, max_sl)| PairInfo {
                index: PairIndex(1),
                symbol: sym("BTC/USD"),
                group: 0,
                listed,
                close_only,
                min_leverage: Leverage::from_raw(a.min(b)).unwrap(),
                max_leverage: Leverage::from_raw(a.max(b)).unwrap(),
                min_position: Usdc::from_raw(min_position),
                open_fee: PercentP::from_raw(open_fee),
                close_fee: PercentP::ZERO,
                spread: PercentP::ZERO,
                max_gain: PercentP::from_raw(max_gain),
                max_sl: PercentP::from_raw(max_sl),
            },
        );
        let policy = (lev_raw(), any::<(u64, u32, u64, u32, u32, u32, u64)>(), any::<(u64, u64)>(), 0u32..=1_000_000, any::<bool>())
            .prop_map(|(l, (pos, open, loss, streak, cooldown, trades, volume), (max_slip, def_slip), min_liq, allow)| RiskPolicy {
                max_leverage: Leverage::from_raw(l).unwrap(),
                max_position: Usdc::from_raw(pos),
                max_open_positions: open,
                daily_loss_limit: Usdc::from_raw(loss),
                loss_streak: streak,
                cooldown_minutes: cooldown,
                max_daily_trades: trades,
                max_daily_volume: Usdc::from_raw(volume),
                max_slippage: PercentP::from_raw(max_slip),
                default_slippage: PercentP::from_raw(def_slip),
                min_liq_distance: Bps::new(min_liq).unwrap(),
                allowed_pairs: if allow { vec![sym("BTC/USD")] } else { Vec::new() },
            });
        let ops = (lev_raw(), any::<(u64, u32, u64, u32, u64, u64)>(), 0u32..=1_000_000, any::<u32>(), 0u32..=1_000_000).prop_map(
            |(l, (pos, open, loss, trades, volume, slip), min_liq, age, dev)| OperatorLimits {
                max_leverage: Leverage::from_raw(l).unwrap(),
                max_position: Usdc::from_raw(pos),
                max_open_positions: open,
                max_daily_loss: Usdc::from_raw(loss),
                max_daily_trades: trades,
                max_daily_volume: Usdc::from_raw(volume),
                max_slippage: PercentP::from_raw(slip),
                min_liq_distance: Bps::new(min_liq).unwrap(),
                max_price_age_secs: age,
                max_price_deviation: Bps::new(dev).unwrap(),
            },
        );
        let exposure = (any::<(u32, u32, i64, i64, u32, u64, u32)>(), proptest::option::of(any::<i64>()), any::<bool>()).prop_map(
            |((open, side, realised, unrealised, trades, volume, streak), last, paused)| Exposure {
                open_positions: open,
                positions_on_pair_side: side,
                today_realised_pnl: SignedUsdc::from_raw(realised),
                unrealised_pnl: SignedUsdc::from_raw(unrealised),
                trades_today: trades,
                volume_today: Usdc::from_raw(volume),
                loss_streak: streak,
                last_loss_at: last.map(Timestamp),
                automation_paused: paused,
            },
        );
        let order = (any::<(bool, u64)>(), lev_raw(), any::<(Option<u64>, Option<u64>, Option<u64>)>()).prop_map(
            |((long, collateral), l, (tp, sl, slip))| OpenOrder {
                pair: sym("BTC/USD"),
                side: if long { Side::Long } else { Side::Short },
                collateral: Usdc::from_raw(collateral),
                leverage: Leverage::from_raw(l).unwrap(),
                tp: tp.map(Price::from_raw),
                sl: sl.map(Price::from_raw),
                slippage: slip.map(PercentP::from_raw),
            },
        );
        let quotes = proptest::collection::vec((0usize..3, any::<u64>(), prop_oneof![any::<i64>(), -100_000i64..=100_000]), 0..=5);
        (order, pair, policy, ops, exposure, quotes, any::<i64>(), 0u8..3, any::<bool>()).prop_map(
            |(order, pair, policy, ops, exposure, quotes, now, stop, automated)| Case {
                order,
                pair,
                policy,
                ops,
                exposure,
                quotes: quotes
                    .into_iter()
                    .map(|(s, price, delta)| PriceQuote {
                        pair: sym("BTC/USD"),
                        price: Price::from_raw(price),
                        published_at: Timestamp(now.saturating_sub(delta)),
                        source: ["pyth", "chainlink", "api"][s].to_owned(),
                        check_age_secs: None,
                        check_band: Bps::default(),
                    })
                    .collect(),
                now: Timestamp(now),
                exec: EffectiveExec {
                    mode: ExecMode::Live,
                    stop: [StopLevel::None, StopLevel::PauseEntries, StopLevel::Flatten][usize::from(stop)],
                    why: None,
                },
                automated,
            },
        )
    }

    /// Every rule, recomputed from first principles (never through the engine's helpers or
    /// `bounded_by`), holds for an approved order.
    fn assert_within_limits(c: &Case, a: &Approved) -> Result<(), TestCaseError> {
        let (o, p, ops, x, pair) = (&c.order, &c.policy, &c.ops, &c.exposure, &c.pair);
        const ONE: u128 = 10_000_000_000;

        // Stop, pause, pair.
        prop_assert_eq!(c.exec.stop, StopLevel::None);
        prop_assert!(!(c.automated && x.automation_paused));
        prop_assert_eq!(&o.pair, &pair.symbol);
        prop_assert!(pair.listed && !pair.close_only);
        prop_assert!(p.allowed_pairs.is_empty() || p.allowed_pairs.contains(&pair.symbol));

        // Leverage.
        let l = u128::from(o.leverage.raw());
        prop_assert!(l >= u128::from(pair.min_leverage.raw()) && l <= u128::from(pair.max_leverage.raw()));
        prop_assert!(l <= u128::from(p.max_leverage.raw()) && l <= u128::from(ops.max_leverage.raw()));

        // Size.
        prop_assert!(o.collateral.raw() > 0);
        let notional = u128::from(o.collateral.raw()) * l / ONE;
        prop_assert_eq!(u128::from(a.notional.raw()), notional);
        prop_assert!(notional >= u128::from(pair.min_position.raw()));
        prop_assert!(notional <= u128::from(p.max_position.raw().min(ops.max_position.raw())));

        // Counts and daily caps.
        prop_assert!(x.open_positions < p.max_open_positions.min(ops.max_open_positions));
        prop_assert!(x.positions_on_pair_side < 40);
        prop_assert!(x.trades_today < p.max_daily_trades.min(ops.max_daily_trades));
        prop_assert!(u128::from(x.volume_today.raw()) + notional <= u128::from(p.max_daily_volume.raw().min(ops.max_daily_volume.raw())));
        let limit =
            if p.daily_loss_limit.raw() == 0 { ops.max_daily_loss.raw() } else { p.daily_loss_limit.raw().min(ops.max_daily_loss.raw()) };
        if limit > 0 {
            let loss = -(i128::from(x.today_realised_pnl.raw()) + i128::from(x.unrealised_pnl.raw()));
            prop_assert!(loss < i128::from(limit), "loss {} reached limit {}", loss, limit);
        }
        if p.loss_streak > 0 && x.loss_streak >= p.loss_streak {
            // No recorded time of the last loss: the cooldown starts now.
            let elapsed = x.last_loss_at.map_or(0, |t| (i128::from(c.now.0) - i128::from(t.0)).max(0));
            prop_assert!(elapsed >= i128::from(p.cooldown_minutes) * 60_000, "cooldown still running");
        }

        // Slippage.
        let max_slip = p.max_slippage.min(ops.max_slippage);
        let slip = o.slippage.unwrap_or(p.default_slippage.min(max_slip));
        prop_assert_eq!(a.slippage, slip);
        prop_assert!(slip <= max_slip);

        // Prices: all dated at most the skew ahead; each source's latest fresh quote within the
        // deviation of the others; the reference between them.
        let mine: Vec<&PriceQuote> = c.quotes.iter().filter(|q| q.pair == pair.symbol).collect();
        for q in &mine {
            prop_assert!(i128::from(q.published_at.0) - i128::from(c.now.0) <= i128::from(MAX_FUTURE_SKEW_MS));
        }
        let max_age = i128::from(ops.max_price_age_secs) * 1000;
        let fresh: Vec<&PriceQuote> =
            mine.iter().copied().filter(|q| i128::from(c.now.0) - i128::from(q.published_at.0) <= max_age).collect();
        prop_assert!(!fresh.is_empty());
        let mut used: Vec<u128> = Vec::new();
        for q in &fresh {
            let newest = fresh.iter().filter(|r| r.source == q.source).map(|r| r.published_at).max().unwrap();
            if q.published_at == newest {
                used.push(u128::from(q.price.raw()));
            }
        }
        let low = *used.iter().min().unwrap();
        let high = *used.iter().max().unwrap();
        let r = u128::from(a.reference_price.raw());
        prop_assert!(low > 0);
        prop_assert!(low <= r && r <= high);
        prop_assert!((high - low) * 10_000 <= u128::from(ops.max_price_deviation.raw()) * low);

        // TP / SL: side and caps, as a percentage of collateral.
        let long = o.side == Side::Long;
        if let Some(tp) = o.tp {
            let tp = u128::from(tp.raw());
            let right_side = if long { tp > r } else { tp < r };
            prop_assert!(right_side, "take-profit on the wrong side");
            prop_assert!(tp.abs_diff(r) * l * 100 <= u128::from(pair.max_gain.raw()) * r);
        }
        if let Some(sl) = o.sl {
            let sl = u128::from(sl.raw());
            let right_side = if long { sl < r } else { sl > r };
            prop_assert!(right_side, "stop-loss on the wrong side");
            prop_assert!(sl.abs_diff(r) * l * 100 <= u128::from(pair.max_sl.raw()) * r);
        }

        // Liquidation at 85 % of collateral: exact distance 85 % / leverage.
        let min_liq = u128::from(p.min_liq_distance.raw().max(ops.min_liq_distance.raw()));
        prop_assert!(8_500 * ONE >= min_liq * l, "85 % / leverage is below the minimum distance");
        prop_assert!(u128::from(a.liq_distance.raw()) >= min_liq);
        let liq = u128::from(a.liquidation_price.raw());
        // Exact liquidation price × 10 000 × leverage, as a numerator.
        let exact_liq_num = if long { r * (10_000 * l - 8_500 * ONE) } else { r * (10_000 * l + 8_500 * ONE) };
        if long {
            prop_assert!(liq < r && liq * 10_000 * l >= exact_liq_num, "reported liquidation is never farther than the true one");
        } else {
            prop_assert!(liq > r && liq * 10_000 * l <= exact_liq_num);
        }
        if let Some(sl) = o.sl {
            let sl = u128::from(sl.raw()) * 10_000 * l;
            let before = if long { sl > exact_liq_num } else { sl < exact_liq_num };
            prop_assert!(before, "stop-loss after liquidation");
        }

        // Fee: the pair's open fee on the notional, rounded up.
        prop_assert_eq!(u128::from(a.open_fee.raw()), (notional * u128::from(pair.open_fee.raw())).div_ceil(100 * ONE));
        Ok(())
    }

    fn reversed(c: &Case) -> Case {
        let mut r = c.clone();
        r.quotes.reverse();
        r
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn no_approved_order_breaks_a_limit(c in near_case()) {
            if let Ok(a) = c.check() {
                assert_within_limits(&c, &a)?;
            }
        }

        #[test]
        fn no_approved_wild_order_breaks_a_limit_and_nothing_panics(c in wild_case()) {
            let first = c.check();
            prop_assert_eq!(&first, &c.check(), "deterministic");
            prop_assert_eq!(&first, &reversed(&c).check(), "independent of the quotes' order");
            match &first {
                Ok(a) => assert_within_limits(&c, a)?,
                Err(r) => prop_assert!(!r.to_string().is_empty() && !r.code().is_empty()),
            }
        }

        #[test]
        fn refusals_are_deterministic(c in near_case()) {
            let first = c.check();
            prop_assert_eq!(&first, &c.check());
            prop_assert_eq!(&first, &reversed(&c).check());
            if let Err(r) = &first {
                prop_assert!(!r.to_string().is_empty());
            }
        }

        #[test]
        fn reference_price_is_between_the_sources_and_order_free(
            quotes in proptest::collection::vec((0usize..3, any::<u64>(), prop_oneof![any::<i64>(), -40_000i64..=40_000]), 0..=6),
            now in prop_oneof![Just(NOW.0), any::<i64>()],
            age in any::<u32>(),
            dev in 0u32..=1_000_000,
        ) {
            let quotes: Vec<PriceQuote> = quotes
                .into_iter()
                .map(|(s, price, delta)| PriceQuote {
                    pair: sym("BTC/USD"),
                    price: Price::from_raw(price),
                    published_at: Timestamp(now.saturating_sub(delta)),
                    source: ["pyth", "chainlink", "api"][s].to_owned(),
                    check_age_secs: None,
                    check_band: Bps::default(),
                })
                .collect();
            let dev = Bps::new(dev).unwrap();
            let got = reference_price(&sym("BTC/USD"), &quotes, Timestamp(now), age, dev);
            let mut rev = quotes.clone();
            rev.reverse();
            prop_assert_eq!(&got, &reference_price(&sym("BTC/USD"), &rev, Timestamp(now), age, dev));
            if let Ok(p) = got {
                let fresh: Vec<&PriceQuote> =
                    quotes.iter().filter(|q| i128::from(now) - i128::from(q.published_at.0) <= i128::from(age) * 1000).collect();
                prop_assert!(!fresh.is_empty());
                prop_assert!(fresh.iter().any(|q| q.price <= p) && fresh.iter().any(|q| q.price >= p));
                prop_assert!(quotes.iter().all(|q| i128::from(q.published_at.0) - i128::from(now) <= i128::from(MAX_FUTURE_SKEW_MS)));
            }
        }
    }

    /// The property above is not vacuous: the generator yields approvals and every kind of
    /// refusal that near-valid inputs can reach.
    #[test]
    fn the_near_valid_generator_reaches_every_rule() {
        let mut runner = TestRunner::deterministic();
        let strategy = near_case();
        let mut approved = 0u32;
        let mut seen = std::collections::BTreeMap::new();
        let total = 20_000u32;
        for _ in 0..total {
            let c = strategy.new_tree(&mut runner).unwrap().current();
            match c.check() {
                Ok(_) => approved += 1,
                Err(r) => {
                    *seen.entry(r.code()).or_insert(0u32) += 1;
                }
            }
        }
        assert!(approved * 10 >= total, "only {approved} of {total} approved: {seen:?}");
        let expected = [
            "entries_paused",
            "automation_paused",
            "pair_mismatch",
            "pair_not_listed",
            "pair_close_only",
            "pair_not_allowed",
            "leverage_below_pair_min",
            "leverage_above_pair_max",
            "leverage_above_user_max",
            "position_below_pair_min",
            "position_above_user_max",
            "too_many_open_positions",
            "too_many_on_pair_side",
            "daily_trades_reached",
            "daily_volume_exceeded",
            "daily_loss_reached",
            "loss_streak_cooldown",
            "slippage_too_high",
            "no_price",
            "stale_price",
            "future_price",
            "prices_disagree",
            "tp_wrong_side",
            "sl_wrong_side",
            "tp_above_max_gain",
            "sl_above_max_sl",
            "liquidation_too_close",
            "sl_beyond_liquidation",
        ];
        let missing: Vec<_> = expected.iter().filter(|c| !seen.contains_key(*c)).collect();
        assert!(missing.is_empty(), "never reached: {missing:?} (approved {approved})");
    }
}
