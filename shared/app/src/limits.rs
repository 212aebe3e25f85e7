//! The operator limits in force: the deployment's (`OPERATOR_*` → [`crate::Deps::ops`]) tightened
//! by the stored `CONTROL`/`LIMITS` item. `/setrisk` and the entry risk check use them, `/status`
//! shows them, and the ops CLI's `preflight` calls [`effective_limits`] to check them.

use vanta_domain::DomainResult;
use vanta_domain::limits::StoredLimits;
use vanta_domain::ports::Store;
use vanta_domain::risk::OperatorLimits;

/// The limits in force, with what produced them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveLimits {
    pub limits: OperatorLimits,
    /// The stored item, if any.
    pub stored: Option<StoredLimits>,
    /// Stored values looser than the deployment's, which are ignored.
    pub ignored: Vec<&'static str>,
}

/// Reads the stored item now and applies it to `base` (tightening only). An unreadable item is
/// an error: nothing that adds exposure should run on limits it could not read.
pub async fn effective_limits(store: &dyn Store, base: &OperatorLimits) -> DomainResult<EffectiveLimits> {
    let stored = store.get_stored_limits().await?;
    let (limits, ignored) = match &stored {
        Some(s) => (s.tighten(base), s.ignored(base)),
        None => (base.clone(), Vec::new()),
    };
    Ok(EffectiveLimits { limits, stored, ignored })
}

/// One `/status` block: the limits in force and where they come from.
pub fn describe(e: &EffectiveLimits, base: &OperatorLimits) -> String {
    let l = &e.limits;
    let mark = |tight: bool| if tight { " (stored)" } else { "" };
    let source = match &e.stored {
        None => "deployment parameters".to_owned(),
        Some(_) if e.ignored.is_empty() => "deployment parameters, tightened by the stored item".to_owned(),
        Some(_) => format!("deployment parameters, tightened by the stored item (looser values ignored: {})", e.ignored.join(", ")),
    };
    format!(
        "Operator limits ({source}): leverage ≤ {}x{} · position ≤ ${}{} · open positions ≤ {}{} · daily loss ≤ ${}{} · \
         trades/day ≤ {}{} · volume/day ≤ ${}{} · slippage ≤ {}%{} · liquidation ≥ {} bps away{}",
        l.max_leverage,
        mark(l.max_leverage < base.max_leverage),
        l.max_position,
        mark(l.max_position < base.max_position),
        l.max_open_positions,
        mark(l.max_open_positions < base.max_open_positions),
        l.max_daily_loss,
        mark(l.max_daily_loss < base.max_daily_loss),
        l.max_daily_trades,
        mark(l.max_daily_trades < base.max_daily_trades),
        l.max_daily_volume,
        mark(l.max_daily_volume < base.max_daily_volume),
        l.max_slippage,
        mark(l.max_slippage < base.max_slippage),
        l.min_liq_distance.raw(),
        mark(l.min_liq_distance > base.min_liq_distance),
    )
}
