//! Copy sizing, pure: how big a follower's copy of a leader's trade is ([`size_copy`]), why a
//! copy is skipped ([`Skip`]) and what share of a position a close took ([`close_fraction`], the
//! fraction a leader's exit is mirrored with), and the leader events copies are made of
//! ([`LeaderEvent`], fanned out in pages: [`FanoutJob`]).

use serde::{Deserialize, Serialize};

use crate::ids::{TelegramUserId, derived_id};
use crate::market::{PairInfo, PairSymbol, Side};
use crate::money::{Bps, Leverage, Price, Usdc, mul_div_floor};
use crate::time::Timestamp;
use crate::user::{CopySizing, Follow, LeaderRef};

/// Why a copy was not made (the follower is told).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    BelowMinimum { notional: Usdc, minimum: Usdc },
    DailyCap { used: Usdc, cap: Usdc },
    EquityUnknown,
    Breaker(String),
    Zero,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::BelowMinimum { notional, minimum } => write!(f, "the copy's size ${notional} is below the venue minimum of ${minimum}"),
            Skip::DailyCap { used, cap } => write!(f, "your daily copy cap of ${cap} is reached (${used} used today)"),
            Skip::EquityUnknown => f.write_str("equity is unknown, so a proportional copy cannot be sized"),
            Skip::Breaker(why) => write!(f, "copying stopped: {why}"),
            Skip::Zero => f.write_str("the copy's size rounds to zero"),
        }
    }
}

/// A copy's size: collateral and leverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopySize {
    pub collateral: Usdc,
    pub leverage: Leverage,
}

/// Sizes one copy (pure). Caps apply after sizing; the venue minimum is checked last.
pub fn size_copy(
    follow: &Follow,
    leader_collateral: Usdc,
    leader_leverage: Leverage,
    follower_equity: Option<Usdc>,
    leader_equity: Option<Usdc>,
    used_today: Usdc,
    pair: &PairInfo,
) -> Result<CopySize, Skip> {
    let raw = match &follow.sizing {
        CopySizing::Fixed { collateral } => *collateral,
        CopySizing::Ratio { ratio } => leader_collateral.mul_bps_floor(*ratio).map_err(|_| Skip::Zero)?,
        CopySizing::Proportional => {
            let (Some(fe), Some(le)) = (follower_equity, leader_equity) else { return Err(Skip::EquityUnknown) };
            if le.is_zero() {
                return Err(Skip::EquityUnknown);
            }
            mul_div_floor(u128::from(leader_collateral.raw()), u128::from(fe.raw()), u128::from(le.raw()))
                .and_then(|v| u64::try_from(v).ok())
                .map(Usdc::from_raw)
                .ok_or(Skip::Zero)?
        }
    };
    let mut collateral = raw;
    if !follow.per_trade_cap.is_zero() {
        collateral = collateral.min(follow.per_trade_cap);
    }
    if !follow.daily_cap.is_zero() {
        let left = follow.daily_cap.checked_sub(used_today).unwrap_or(Usdc::ZERO);
        if left.is_zero() {
            return Err(Skip::DailyCap { used: used_today, cap: follow.daily_cap });
        }
        collateral = collateral.min(left);
    }
    if collateral.is_zero() {
        return Err(Skip::Zero);
    }
    let leverage = leader_leverage.min(follow.max_leverage).min(pair.max_leverage);
    let notional = leverage.notional(collateral).map_err(|_| Skip::Zero)?;
    if notional < pair.min_position {
        return Err(Skip::BelowMinimum { notional, minimum: pair.min_position });
    }
    Ok(CopySize { collateral, leverage })
}

/// The share of `before` that closing `closed` collateral is (rounded down, at least 1 bp).
pub fn close_fraction(before: Usdc, closed: Usdc) -> Bps {
    if before.is_zero() || closed >= before {
        return Bps::FULL;
    }
    let bps = mul_div_floor(u128::from(closed.raw()), 10_000, u128::from(before.raw())).unwrap_or(10_000);
    Bps::new(u32::try_from(bps).unwrap_or(10_000).max(1)).unwrap_or(Bps::FULL)
}

/// Something a leader did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LeaderEvent {
    Opened {
        leader: LeaderRef,
        /// The leader's position (a Vanta position id, or `addr:<trader>:<pair>:<index>`).
        position_ref: String,
        pair: PairSymbol,
        side: Side,
        collateral: Usdc,
        leverage: Leverage,
        price: Price,
        tp: Option<Price>,
        sl: Option<Price>,
        /// The leader's equity when known (proportional sizing needs it).
        leader_equity: Option<Usdc>,
        at: Timestamp,
    },
    Closed {
        leader: LeaderRef,
        position_ref: String,
        /// A reference unique to this close (the leader's close leg).
        close_ref: String,
        fraction: Bps,
        at: Timestamp,
    },
}

/// A page of a leader event's fan-out: the followers after `after` (by user id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutJob {
    pub event: LeaderEvent,
    #[serde(default)]
    pub after: Option<TelegramUserId>,
}

impl FanoutJob {
    /// The leader event this job fans out, as text unique to it (position or close leg).
    fn event_ref(&self) -> (&'static str, &str) {
        match &self.event {
            LeaderEvent::Opened { position_ref, .. } => ("open", position_ref),
            LeaderEvent::Closed { close_ref, .. } => ("close", close_ref),
        }
    }
    /// One group per leader position, so a position's pages run in order and never hold up a
    /// trader account's own queue.
    pub fn group(&self) -> String {
        let position = match &self.event {
            LeaderEvent::Opened { position_ref, .. } | LeaderEvent::Closed { position_ref, .. } => position_ref,
        };
        format!("fanout:{position}")
    }
    /// Stable per (event, page): a redelivered leader message queues the same job again, and
    /// the queue drops the repeat.
    pub fn dedup_id(&self) -> String {
        let (kind, r) = self.event_ref();
        let after = self.after.map_or_else(|| "start".to_owned(), |a| a.to_string());
        derived_id("fanout", &[kind, r, &after]).as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

    use std::str::FromStr;

    use super::*;
    use crate::ids::TelegramUserId;
    use crate::market::{PairIndex, PairSymbol};
    use crate::money::PercentP;
    use crate::time::Timestamp;

    fn pair_min(index: u16, sym: &str, min: &str) -> PairInfo {
        PairInfo {
            index: PairIndex(index),
            symbol: PairSymbol::parse(sym).unwrap(),
            group: 0,
            listed: true,
            close_only: false,
            min_leverage: Leverage::ONE,
            max_leverage: Leverage::from_whole(75).unwrap(),
            min_position: Usdc::from_str(min).unwrap(),
            open_fee: PercentP::from_str("0.045").unwrap(),
            close_fee: PercentP::from_str("0.045").unwrap(),
            spread: PercentP::from_str("0.01").unwrap(),
            max_gain: PercentP::from_str("2500").unwrap(),
            max_sl: PercentP::from_str("80").unwrap(),
        }
    }

    fn follow(follower: i64, leader: i64, sizing: CopySizing, max_lev: u64, at: Timestamp) -> Follow {
        Follow {
            follower: TelegramUserId(follower),
            leader: LeaderRef::User(TelegramUserId(leader)),
            sizing,
            max_leverage: Leverage::from_whole(max_lev).unwrap(),
            per_trade_cap: Usdc::from_str("500").unwrap(),
            daily_cap: Usdc::from_str("2000").unwrap(),
            counter: false,
            adopt_existing: false,
            active: true,
            since: at,
            stop_after_losses: 3,
            max_drawdown: Usdc::ZERO,
        }
    }

    #[test]
    fn copy_sizing_is_pure_and_bounded() {
        let p = pair_min(1, "BTC/USD", "100");
        let at = Timestamp(0);
        let f = follow(2, 1, CopySizing::Ratio { ratio: Bps::new(20_000).unwrap() }, 50, at);
        let size = size_copy(&f, Usdc::from_str("400").unwrap(), Leverage::from_whole(100).unwrap(), None, None, Usdc::ZERO, &p).unwrap();
        assert_eq!(size.collateral, Usdc::from_str("500").unwrap(), "2× of 400 = 800, capped at 500");
        assert_eq!(size.leverage, Leverage::from_whole(50).unwrap(), "min(leader 100x, follower 50x, pair 75x)");
        let used = Usdc::from_str("1800").unwrap();
        let size = size_copy(&f, Usdc::from_str("400").unwrap(), Leverage::from_whole(10).unwrap(), None, None, used, &p).unwrap();
        assert_eq!(size.collateral, Usdc::from_str("200").unwrap(), "what is left of the $2000 daily cap");
        let full = size_copy(
            &f,
            Usdc::from_str("400").unwrap(),
            Leverage::from_whole(10).unwrap(),
            None,
            None,
            Usdc::from_str("2000").unwrap(),
            &p,
        );
        assert!(matches!(full, Err(Skip::DailyCap { .. })));
        let prop = follow(2, 1, CopySizing::Proportional, 50, at);
        assert!(matches!(
            size_copy(&prop, Usdc::from_str("400").unwrap(), Leverage::ONE, None, None, Usdc::ZERO, &p),
            Err(Skip::EquityUnknown)
        ));
    }

    #[test]
    fn a_close_fraction_is_the_share_taken_rounded_down_and_at_least_one_bp() {
        let usdc = |s: &str| Usdc::from_str(s).unwrap();
        assert_eq!(close_fraction(usdc("100"), usdc("100")), Bps::FULL);
        assert_eq!(close_fraction(usdc("100"), usdc("150")), Bps::FULL, "more than held is all of it");
        assert_eq!(close_fraction(Usdc::ZERO, usdc("1")), Bps::FULL);
        assert_eq!(close_fraction(usdc("300"), usdc("100")), Bps::new(3_333).unwrap());
        assert_eq!(close_fraction(usdc("1000000"), usdc("0.000001")), Bps::new(1).unwrap());
    }

    #[test]
    fn copies_are_told_by_their_field_and_records_from_before_it_by_their_intent_id() {
        let record = |extra: serde_json::Value| -> crate::position::Position {
            let mut v = serde_json::json!({
                "id": "pos:1", "user": 2, "pair": "BTC/USD", "pair_index": 1, "trade_index": 0, "side": "long",
                "collateral": "100", "leverage": "5", "open_price": "100000", "tp": null, "sl": null, "mode": "DRY",
                "status": "OPEN", "opened_by": "sig:s:1", "opened_at": 0, "closed_at": null, "close_price": null,
                "realised_pnl": null, "fees": "0"
            });
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            serde_json::from_value(v).unwrap()
        };
        let own = record(serde_json::json!({}));
        assert_eq!(own.copy_of, None, "a record without the field reads");
        assert!(!own.is_copy());
        let legacy = record(serde_json::json!({ "opened_by": "copy:0123456789abcdef" }));
        assert!(legacy.is_copy(), "a copy recorded before the field, by its intent id");
        let copy = record(serde_json::json!({ "opened_by": "tg:1", "copy_of": "pos:leader" }));
        assert!(copy.is_copy());
        assert_eq!(serde_json::to_value(&copy).unwrap()["copy_of"], "pos:leader");
        assert!(serde_json::to_value(&own).unwrap().get("copy_of").is_none(), "nothing written for a trader's own position");
    }
}
