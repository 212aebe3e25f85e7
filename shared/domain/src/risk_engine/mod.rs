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
//!    [`MAX_TRADES_PER_PAIR`] on this pair and side; open positions plus resting limit orders
//!    (placed outside Vanta) below the user's maximum; the venue's own count on the pair (open,
//!    pending and resting) below [`MAX_TRADES_PER_PAIR`]; and the notional of live positions,
//!    resting limit orders and this order within the exposure cap (largest position × maximum
//!    of open positions);
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
//!
//! Layout: `policy` holds what the engine reads (the inputs, the user's exposure, the venue's
//! per-pair cap, the daily-loss rule) and what it answers; `refusal` the [`Refusal`] and its
//! sentences; `price` the reference price and the percentage maths; `engine` the rules
//! themselves ([`check_open`], [`check_open_with`]). Each file has its tests beside it (the
//! engine's in `tests_engine.rs`, with the fixtures they share in `test_support.rs`).

mod engine;
mod policy;
mod price;
mod refusal;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests_engine;

pub use engine::{check_open, check_open_with};
pub use policy::{Approved, Exposure, MAX_TRADES_PER_PAIR, RiskInput, daily_loss_breached};
pub use price::{MAX_FUTURE_SKEW_MS, reference_price};
pub use refusal::Refusal;
