//! Unit and property tests for the domain core.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::Arc;

use proptest::prelude::*;

use crate::exec::*;
use crate::ids::*;
use crate::intent::*;
use crate::market::*;
use crate::memory::*;
use crate::money::*;
use crate::ports::*;
use crate::position::*;
use crate::risk::*;
use crate::time::*;

// ----- money: parsing and formatting -------------------------------------------------------

#[test]
fn usdc_parses_exactly() {
    assert_eq!(Usdc::from_str("100").unwrap().raw(), 100_000_000);
    assert_eq!(Usdc::from_str("0.1").unwrap().raw(), 100_000);
    assert_eq!(Usdc::from_str("0.000001").unwrap().raw(), 1);
    assert_eq!(Usdc::from_str(" 12.50 ").unwrap().raw(), 12_500_000);
    assert_eq!(Usdc::from_str("1.500000000").unwrap().raw(), 1_500_000, "trailing zeros carry no value");
    assert_eq!(Usdc::from_str(".5").unwrap().raw(), 500_000);
    assert_eq!(Usdc::from_str("5.").unwrap().raw(), 5_000_000);
}

#[test]
fn usdc_refuses_what_it_cannot_hold_exactly() {
    assert!(matches!(Usdc::from_str("0.0000001"), Err(AmountError::TooPrecise { .. })), "7 decimals is refused, never rounded");
    assert!(matches!(Usdc::from_str("-1"), Err(AmountError::Negative(_))));
    assert!(matches!(Usdc::from_str("1e3"), Err(AmountError::NotANumber(_))));
    assert!(matches!(Usdc::from_str("NaN"), Err(AmountError::NotANumber(_))));
    assert!(matches!(Usdc::from_str(""), Err(AmountError::NotANumber(_))));
    assert!(matches!(Usdc::from_str("."), Err(AmountError::NotANumber(_))));
    assert!(matches!(Usdc::from_str("1,5"), Err(AmountError::NotANumber(_))));
    assert!(matches!(Usdc::from_str("99999999999999999999"), Err(AmountError::TooLarge(_))));
    assert!(matches!(Usdc::from_str("999999999999999999999999999999999999999999"), Err(AmountError::TooLarge(_))));
}

#[test]
fn the_classic_float_trap_is_exact() {
    // 0.0003 at 1e10 is 3_000_000 exactly (binary floats give 2_999_999).
    assert_eq!(PercentP::from_str("0.0003").unwrap().raw(), 3_000_000);
    assert_eq!(Price::from_str("0.1").unwrap().raw() + Price::from_str("0.2").unwrap().raw(), Price::from_str("0.3").unwrap().raw());
}

#[test]
fn leverage_parses_with_x_and_stays_in_range() {
    assert_eq!(Leverage::from_str("10").unwrap().raw(), 100_000_000_000);
    assert_eq!(Leverage::from_str("2.5x").unwrap().raw(), 25_000_000_000);
    assert_eq!(Leverage::from_str("75X").unwrap(), Leverage::from_whole(75).unwrap());
    assert!(Leverage::from_str("0").is_err());
    assert!(Leverage::from_str("0.5").is_err(), "below 1x is unrepresentable");
    assert!(Leverage::from_str("1001").is_err(), "above 1000x is unrepresentable");
    assert!(Leverage::from_raw(0).is_err());
}

#[test]
fn json_amounts_come_from_text_never_floats() {
    #[derive(serde::Deserialize)]
    struct T {
        a: Usdc,
    }
    assert_eq!(serde_json::from_str::<T>(r#"{"a":"1.5"}"#).unwrap().a.raw(), 1_500_000);
    assert_eq!(serde_json::from_str::<T>(r#"{"a":100}"#).unwrap().a.raw(), 100_000_000);
    let err = serde_json::from_str::<T>(r#"{"a":1.5}"#).err().unwrap().to_string();
    assert!(err.contains("strings"), "{err}");
    let raw: Box<serde_json::value::RawValue> = serde_json::from_str("0.30000000000000004").unwrap();
    let t = DecimalText::from_json_raw(&raw).unwrap();
    assert!(matches!(t.0.parse::<Usdc>(), Err(AmountError::TooPrecise { .. })));
    let raw: Box<serde_json::value::RawValue> = serde_json::from_str("12.25").unwrap();
    assert_eq!(DecimalText::from_json_raw(&raw).unwrap().0.parse::<Usdc>().unwrap().raw(), 12_250_000);
    let raw: Box<serde_json::value::RawValue> = serde_json::from_str("true").unwrap();
    assert!(DecimalText::from_json_raw(&raw).is_err());
}

#[test]
fn amounts_serialise_as_strings() {
    let v = serde_json::to_value(Usdc::from_str("100.25").unwrap()).unwrap();
    assert_eq!(v, serde_json::json!("100.25"));
    let v = serde_json::to_value(Leverage::from_whole(10).unwrap()).unwrap();
    assert_eq!(v, serde_json::json!("10"));
}

#[test]
fn bps_and_percent_conversions() {
    assert_eq!(Bps::from_percent_str("0.5").unwrap().raw(), 50);
    assert_eq!(Bps::from_percent_str("12.34%").unwrap().raw(), 1234);
    assert!(Bps::from_percent_str("0.001").is_err(), "bps cannot hold a thousandth of a percent");
    assert_eq!(PercentP::from_bps(Bps::new(50).unwrap()).raw(), 5_000_000_000);
    let p = PercentP::from_str("0.015").unwrap();
    assert_eq!(p.to_bps_floor().raw(), 1);
    assert_eq!(p.to_bps_ceil().raw(), 2);
}

#[test]
fn fees_round_up_notional_rounds_down() {
    // 0.045 % of $1 000.000001 = 0.450000000450 → fee rounds up to 0.450001.
    let fee = PercentP::from_str("0.045").unwrap().of_usdc_ceil(Usdc::from_raw(1_000_000_001)).unwrap();
    assert_eq!(fee.raw(), 450_001);
    // $0.000001 at 2.5x = 0.0000025 → notional rounds down to 0.000002.
    assert_eq!(Leverage::from_str("2.5").unwrap().notional(Usdc::from_raw(1)).unwrap().raw(), 2);
    assert_eq!(Leverage::from_str("3").unwrap().collateral_for(Usdc::from_raw(10)).unwrap().raw(), 4, "collateral rounds up");
}

proptest! {
    #[test]
    fn usdc_round_trips(raw in any::<u64>()) {
        let u = Usdc::from_raw(raw);
        let text = u.to_string();
        prop_assert_eq!(Usdc::from_str(&text).unwrap(), u);
        // Canonical form: no trailing zeros after a decimal point.
        prop_assert!(!(text.contains('.') && text.ends_with('0')));
        let json = serde_json::to_string(&u).unwrap();
        prop_assert_eq!(serde_json::from_str::<Usdc>(&json).unwrap(), u);
    }

    #[test]
    fn price_round_trips(raw in any::<u64>()) {
        let p = Price::from_raw(raw);
        prop_assert_eq!(Price::from_str(&p.to_string()).unwrap(), p);
    }

    #[test]
    fn signed_usdc_round_trips(raw in any::<i64>()) {
        let p = SignedUsdc::from_raw(raw);
        prop_assert_eq!(SignedUsdc::from_str(&p.to_string()).unwrap(), p);
    }

    #[test]
    fn leverage_round_trips(raw in Leverage::ONE_RAW..=Leverage::MAX.raw()) {
        let l = Leverage::from_raw(raw).unwrap();
        prop_assert_eq!(Leverage::from_str(&l.to_string()).unwrap(), l);
        prop_assert_eq!(Leverage::from_str(&format!("{l}x")).unwrap(), l);
    }

    #[test]
    fn parse_matches_integer_maths(int in 0u64..1_000_000_000, frac in 0u64..1_000_000, digits in 0usize..=6) {
        // "int.frac" with `digits` fraction digits parses to int*1e6 + frac*10^(6-digits).
        let frac = frac % 10u64.pow(digits as u32);
        let text = if digits == 0 { int.to_string() } else { format!("{int}.{frac:0digits$}") };
        let want = int * 1_000_000 + frac * 10u64.pow(6 - digits as u32);
        prop_assert_eq!(Usdc::from_str(&text).unwrap().raw(), want);
    }

    #[test]
    fn more_precision_than_the_unit_is_refused(int in 0u64..1_000_000, extra in 1u64..10) {
        // A seventh non-zero decimal never silently rounds.
        let text = format!("{int}.000000{extra}");
        prop_assert!(matches!(Usdc::from_str(&text), Err(AmountError::TooPrecise { .. })), "{}", text);
    }

    #[test]
    fn bps_to_percent_and_back_is_exact(b in 0u32..=1_000_000) {
        let bps = Bps::new(b).unwrap();
        let p = PercentP::from_bps(bps);
        prop_assert_eq!(p.to_bps_floor(), bps);
        prop_assert_eq!(p.to_bps_ceil(), bps);
        prop_assert_eq!(Bps::from_percent_str(&bps.to_percent_string()).unwrap(), bps);
    }

    #[test]
    fn percent_to_bps_rounds_in_the_stated_direction(raw in 0u64..100_000_000_000_000) {
        let p = PercentP::from_raw(raw);
        let lo = PercentP::from_bps(p.to_bps_floor()).raw();
        let hi = PercentP::from_bps(p.to_bps_ceil()).raw();
        prop_assert!(lo <= raw && raw <= hi);
        prop_assert!(hi - lo <= 100_000_000);
    }

    #[test]
    fn notional_and_collateral_bracket_exactly(coll in 1u64..1_000_000_000_000, lev in Leverage::ONE_RAW..=Leverage::MAX.raw()) {
        let l = Leverage::from_raw(lev).unwrap();
        let c = Usdc::from_raw(coll);
        let n = l.notional(c).unwrap();
        // floor: never more than the exact product, less by under one unit.
        let exact_times_one = u128::from(coll) * u128::from(lev);
        prop_assert!(u128::from(n.raw()) * u128::from(Leverage::ONE_RAW) <= exact_times_one);
        prop_assert!(u128::from(n.raw() + 1) * u128::from(Leverage::ONE_RAW) > exact_times_one);
        // ceil: the collateral asked back for that notional is never more than what was put in.
        prop_assert!(l.collateral_for(n).unwrap() <= c);
    }

    #[test]
    fn fee_is_never_understated(amount in 0u64..u64::MAX / 2, fee_raw in 0u64..10_000_000_000) {
        let fee = PercentP::from_raw(fee_raw).of_usdc_ceil(Usdc::from_raw(amount)).unwrap();
        let exact = u128::from(amount) * u128::from(fee_raw);
        let hundred = u128::from(PercentP::HUNDRED.raw());
        prop_assert!(u128::from(fee.raw()) * hundred >= exact);
        prop_assert!(u128::from(fee.raw()) * hundred < exact + hundred);
    }

    #[test]
    fn checked_arithmetic_never_wraps(a in any::<u64>(), b in any::<u64>()) {
        let (x, y) = (Usdc::from_raw(a), Usdc::from_raw(b));
        match a.checked_add(b) { Some(s) => prop_assert_eq!(x.checked_add(y).unwrap().raw(), s), None => prop_assert!(x.checked_add(y).is_err()) }
        match a.checked_sub(b) { Some(s) => prop_assert_eq!(x.checked_sub(y).unwrap().raw(), s), None => prop_assert!(x.checked_sub(y).is_err()) }
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC*") {
        let _ = Usdc::from_str(&s);
        let _ = Leverage::from_str(&s);
        let _ = Bps::from_percent_str(&s);
        let _ = PairSymbol::parse(&s);
        let _ = TraderAddress::from_str(&s);
        let _ = SourceId::parse(&s);
    }

    #[test]
    fn liquidation_is_on_the_losing_side_and_pnl_there_is_85_percent(open in 1_000_000u64..10_000_000_000_000_000, lev in 1u64..=500, long in any::<bool>()) {
        let side = if long { Side::Long } else { Side::Short };
        let l = Leverage::from_whole(lev).unwrap();
        let p = Price::from_raw(open);
        let liq = liquidation_price(side, p, l).unwrap();
        if long { prop_assert!(liq <= p) } else { prop_assert!(liq >= p) }
        let coll = Usdc::from_raw(1_000_000_000);
        let loss = pnl(side, coll, l, p, liq).unwrap();
        // Loss at the liquidation price is 85 % of collateral, never more (distance rounds down).
        prop_assert!(loss.raw() <= 0);
        prop_assert!(loss.raw() >= -850_000_000);
        prop_assert!(loss.raw() <= -849_000_000 || open < 10_000_000_000);
    }
}

// ----- markets ------------------------------------------------------------------------------

fn pair(index: u16, sym: &str) -> PairInfo {
    PairInfo {
        index: PairIndex(index),
        symbol: PairSymbol::parse(sym).unwrap(),
        group: 0,
        listed: true,
        close_only: false,
        min_leverage: Leverage::from_whole(1).unwrap(),
        max_leverage: Leverage::from_whole(75).unwrap(),
        min_position: Usdc::from_str("100").unwrap(),
        open_fee: PercentP::from_str("0.045").unwrap(),
        close_fee: PercentP::from_str("0.045").unwrap(),
        spread: PercentP::from_str("0.01").unwrap(),
        max_gain: PercentP::from_str("2500").unwrap(),
        max_sl: PercentP::from_str("80").unwrap(),
    }
}

pub(crate) fn catalog() -> PairCatalog {
    PairCatalog::new([pair(0, "ETH/USD"), pair(1, "BTC/USD"), pair(2, "SOL/USD")]).unwrap()
}

#[test]
fn pairs_resolve_by_symbol_in_any_spelling() {
    let c = catalog();
    for s in ["BTC/USD", "btc-usd", "BTCUSD", "BTCUSDT", "btc", "BTC:USD"] {
        assert_eq!(c.resolve(s).unwrap().index, PairIndex(1), "{s}");
    }
    assert_eq!(c.resolve("eth").unwrap().index, PairIndex(0));
    assert!(c.resolve("DOGE").unwrap_err().to_string().contains("not traded"));
    assert!(c.check(PairIndex(0), &PairSymbol::parse("BTC").unwrap()).is_err(), "a swapped index is caught");
}

#[test]
fn catalog_refuses_duplicates() {
    assert!(PairCatalog::new([pair(0, "ETH/USD"), pair(0, "BTC/USD")]).is_err());
    assert!(PairCatalog::new([pair(0, "ETH/USD"), pair(1, "ETH/USD")]).is_err());
}

#[test]
fn addresses_check_their_checksum() {
    let good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    assert_eq!(TraderAddress::from_str(good).unwrap().to_string(), good);
    assert!(TraderAddress::from_str(&good.to_ascii_lowercase()).is_ok(), "all lower case has no checksum to check");
    let typo = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
    assert!(TraderAddress::from_str(typo).unwrap_err().to_string().contains("checksum"));
    assert!(TraderAddress::from_str("0x0000000000000000000000000000000000000000").is_err());
    assert!(TraderAddress::from_str("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").is_err());
}

// ----- exec mode ------------------------------------------------------------------------------

#[test]
fn effective_mode_is_the_safest_and_fails_closed() {
    let live_env = EnvExec { mode: ExecMode::Live, emergency_stop: false };
    let stored = |mode, stop| Ok(Some(ExecControl { mode, stop, updated_by: None, updated_at: Timestamp(0), version: 1 }));
    assert_eq!(effective_exec(live_env, stored(ExecMode::Live, StopLevel::None)).mode, ExecMode::Live);
    assert_eq!(effective_exec(live_env, stored(ExecMode::Dry, StopLevel::None)).mode, ExecMode::Dry);
    assert_eq!(effective_exec(EnvExec::default(), stored(ExecMode::Live, StopLevel::None)).mode, ExecMode::Dry);
    assert_eq!(effective_exec(live_env, Ok(None)).mode, ExecMode::Dry, "no stored item means DRY");
    let e = effective_exec(live_env, Err(crate::DomainError::Unavailable("timeout".into())));
    assert_eq!(e.mode, ExecMode::Dry, "a read error means DRY");
    assert!(e.why.unwrap().contains("unreadable"));
    let stop_env = EnvExec { mode: ExecMode::Live, emergency_stop: true };
    assert!(!effective_exec(stop_env, stored(ExecMode::Live, StopLevel::None)).allows_entries());
    assert_eq!(effective_exec(live_env, stored(ExecMode::Live, StopLevel::Flatten)).stop, StopLevel::Flatten);
}

// ----- risk policy ----------------------------------------------------------------------------

#[test]
fn user_policy_is_bounded_by_operator_maxima() {
    let ops = OperatorLimits { max_leverage: Leverage::from_whole(10).unwrap(), ..OperatorLimits::default() };
    let user = RiskPolicy { max_leverage: Leverage::from_whole(50).unwrap(), daily_loss_limit: Usdc::ZERO, ..RiskPolicy::default() };
    let b = user.bounded_by(&ops);
    assert_eq!(b.max_leverage, Leverage::from_whole(10).unwrap());
    assert_eq!(b.daily_loss_limit, ops.max_daily_loss, "a disabled daily loss limit becomes the operator's");
    let mut p = RiskPolicy::default();
    assert!(p.set("max_leverage", "100", &ops).unwrap_err().to_string().contains("operator"));
    p.set("max_leverage", "5x", &ops).unwrap();
    assert_eq!(p.max_leverage, Leverage::from_whole(5).unwrap());
    p.set("slippage", "0.3", &ops).unwrap();
    assert_eq!(p.default_slippage, PercentP::from_str("0.3").unwrap());
    assert!(p.set("nonsense", "1", &ops).is_err());
    assert!(p.set("max_position", "lots", &ops).is_err());
    p.set("allowed_pairs", "btc,ETH-USD", &ops).unwrap();
    assert_eq!(p.allowed_pairs.len(), 2);
}

#[test]
fn default_max_position_is_ten_thousand_dollars_not_one_hundred() {
    assert_eq!(RiskPolicy::default().max_position, Usdc::from_str("10000").unwrap());
}

// ----- intents --------------------------------------------------------------------------------

#[test]
fn intent_state_machine() {
    use IntentState::*;
    assert!(Received.can_become(Validated));
    assert!(Submitted.can_become(Ambiguous));
    assert!(Ambiguous.can_become(Submitted));
    for s in [Settled, Rejected, Failed] {
        assert!(s.is_final());
        for n in [Received, Validated, Submitted, Ambiguous, Settled, Rejected, Failed] {
            assert!(!s.can_become(n), "{s} is final");
        }
    }
    assert!(!Received.can_become(Submitted), "nothing is submitted unvalidated");
    assert!(Transition::new(Received, Settled, Timestamp(0)).is_err());
}

fn open_intent(id: &str) -> Intent {
    Intent::new(
        IntentId::parse(id).unwrap(),
        TelegramUserId(7),
        Origin::Telegram { update_id: 1 },
        Action::Open(OpenOrder {
            pair: PairSymbol::parse("BTC").unwrap(),
            side: Side::Long,
            collateral: Usdc::from_str("100").unwrap(),
            leverage: Leverage::from_whole(5).unwrap(),
            tp: None,
            sl: None,
            slippage: None,
        }),
        "h1".into(),
        Timestamp(1),
    )
}

#[tokio::test]
async fn memory_store_keeps_idempotency_and_transitions() {
    let s = MemoryStore::new();
    let i = open_intent("i-1");
    assert_eq!(s.create_intent(&i).await.unwrap(), CreateOutcome::Created);
    assert!(matches!(s.create_intent(&i).await.unwrap(), CreateOutcome::Duplicate(_)));
    let mut other = i.clone();
    other.payload_hash = "h2".into();
    assert!(matches!(s.create_intent(&other).await.unwrap(), CreateOutcome::Mismatch(_)));
    let t = Transition::new(IntentState::Validated, IntentState::Submitted, Timestamp(2)).unwrap();
    assert!(matches!(s.transition(&i.id, &t).await, Err(crate::DomainError::Conflict(_))), "wrong from-state refused");
    s.transition(&i.id, &Transition::new(IntentState::Received, IntentState::Validated, Timestamp(2)).unwrap()).await.unwrap();
    let after = s.transition(&i.id, &t).await.unwrap();
    assert_eq!(after.attempts, 1);
    assert_eq!(s.audit_trail(&i.id).await.unwrap().len(), 3);
}

#[tokio::test]
async fn memory_queue_dedups_within_the_window_and_keeps_order() {
    let clock = Arc::new(ManualClock::new(Timestamp(0)));
    let q = MemoryQueue::new(clock.clone());
    for (n, id) in ["a", "b", "a", "c"].iter().enumerate() {
        q.send(QueueMessage { group: "g".into(), dedup_id: (*id).into(), body: n.to_string() }).await.unwrap();
    }
    let got: Vec<String> = q.take(10).unwrap().into_iter().map(|m| m.dedup_id).collect();
    assert_eq!(got, ["a", "b", "c"]);
    clock.advance(DEDUP_WINDOW);
    q.send(QueueMessage { group: "g".into(), dedup_id: "a".into(), body: "late".into() }).await.unwrap();
    assert_eq!(q.len(), 1, "after the window the same id is a new message");
}

#[tokio::test]
async fn paper_venue_fills_with_spread_and_fee_and_respects_slippage() {
    let clock = Arc::new(ManualClock::new(Timestamp(1_000)));
    let prices = Arc::new(FixedPrices::new());
    prices.set(PairSymbol::parse("BTC").unwrap(), "pyth", Price::from_str("100000").unwrap(), Timestamp(1_000)).unwrap();
    let venue = PaperVenue::new(Arc::new(catalog()), prices.clone(), clock);
    let trader = TraderAddress::from_str("0x1111111111111111111111111111111111111111").unwrap();
    let order = VenueOrder::Open {
        trader,
        pair: PairIndex(1),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(10).unwrap(),
        reference_price: Price::from_str("100000").unwrap(),
        slippage: PercentP::from_str("0.5").unwrap(),
        tp: None,
        sl: None,
    };
    let fill = venue.execute(&IntentId::parse("x").unwrap(), &order).await.unwrap();
    assert_eq!(fill.price, Price::from_str("100005").unwrap(), "long pays half the 0.01 % spread");
    assert_eq!(fill.fee, Usdc::from_str("0.45").unwrap(), "0.045 % of $1000 notional");
    assert_eq!(venue.positions(trader).await.unwrap().len(), 1);
    // The market runs away: 1 % above the reference is beyond 0.5 % slippage.
    prices.set(PairSymbol::parse("BTC").unwrap(), "pyth", Price::from_str("101000").unwrap(), Timestamp(1_000)).unwrap();
    let err = venue.execute(&IntentId::parse("y").unwrap(), &order).await.unwrap_err();
    assert!(err.to_string().contains("slippage"), "{err}");
    let close = VenueOrder::Close {
        trader,
        pair: PairIndex(1),
        trade_index: fill.trade_index,
        collateral: Usdc::from_str("100").unwrap(),
        known: None,
    };
    let out = venue.execute(&IntentId::parse("z").unwrap(), &close).await.unwrap();
    assert_eq!(out.price, Price::from_str("100994.95").unwrap(), "a long's close sells half a spread below the (new) mark");
    assert!(venue.positions(trader).await.unwrap().is_empty());
}

#[test]
fn derived_ids_and_paper_accounts_are_always_valid() {
    let id = IntentId::derived("pos", &[0xab; 32]);
    assert_eq!(id.as_str(), format!("pos:{}", "ab".repeat(20)));
    assert!(IntentId::parse(id.as_str()).is_ok());
    assert_eq!(IntentId::derived("a b/c", &[1]).as_str(), "abc:01", "the prefix keeps letters and digits only");
    let a = TraderAddress::paper([0u8; 20]);
    assert!(!a.address().is_zero());
    assert!(TraderAddress::from_str(&a.to_string()).is_ok());
}
