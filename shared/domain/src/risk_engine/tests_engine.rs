//! The engine's tests: every rule's accept and refuse paths, and the properties (no approved
//! order breaks a limit, refusals are deterministic, the generator reaches every rule).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestCaseError, TestRunner};

use super::test_support::*;
use super::*;
use crate::exec::{EffectiveExec, ExecMode, StopLevel};
use crate::intent::OpenOrder;
use crate::market::{PairIndex, PairInfo, Side};
use crate::money::{Bps, Leverage, PercentP, Price, SignedUsdc, Usdc};
use crate::ports::PriceQuote;
use crate::risk::{OperatorLimits, RiskPolicy};
use crate::time::Timestamp;

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
fn resting_limit_orders_take_open_position_slots() {
    let mut c = Case::good();
    c.exposure.open_positions = 3;
    c.exposure.resting_orders = 1;
    c.approved();
    c.exposure.resting_orders = 2;
    c.refused("resting_orders_fill_slots", &["3 open positions", "2 resting limit orders", "limit of 5"]);
}

#[test]
fn the_venues_count_on_the_pair_includes_pending_and_resting_orders() {
    let mut c = Case::good();
    c.exposure.trades_on_pair = 39;
    c.exposure.resting_on_pair = 10;
    c.approved();
    c.exposure.trades_on_pair = 40;
    c.refused("venue_pair_full", &["40 trades on BTC/USD", "10 of them resting", "at most 40"]);
}

#[test]
fn resting_limit_orders_count_toward_the_exposure_cap() {
    // Cap: $10000 largest position × 5 positions = $50000; the order is $500.
    let mut c = Case::good();
    c.exposure.open_notional = usd("20000");
    c.exposure.resting_notional = usd("29500");
    c.approved();
    c.exposure.resting_notional = usd("29500.000001");
    c.refused("exposure_cap_exceeded", &["$500 more", "$20000 open", "$29500.000001 in resting", "cap of $50000"]);
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
            ..Exposure::default()
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
    let policy = (lev_raw(), any::<(u64, u32, u64, u32, u32, u32, u64)>(), any::<(u64, u64)>(), 0u32..=1_000_000, any::<bool>()).prop_map(
        |(l, (pos, open, loss, streak, cooldown, trades, volume), (max_slip, def_slip), min_liq, allow)| RiskPolicy {
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
        },
    );
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
            ..Exposure::default()
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
    let fresh: Vec<&PriceQuote> = mine.iter().copied().filter(|q| i128::from(c.now.0) - i128::from(q.published_at.0) <= max_age).collect();
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
