//! The official client's maths judges ours: the Veranta SDK's pure `compute/` functions
//! (`veranta-sdk==2.2.0`, installed into `.venv` by `make test`; run, never copied) are fed a
//! table of inputs by `tests/support/sdk_compute.py`, and every figure is compared with
//! `vanta_domain::compute` on the same inputs: liquidation price (with accrued rollover and
//! funding), the skew-adjusted open fee, the maker/taker open and close fees, the Upside
//! take-profit cap and stop-loss floor (also as the SDK's own `validate_order` judges them) and
//! net PnL. Pairs come from one `/v2/trading`-shaped listing that our catalog parser reads too.
//!
//! The SDK computes in whatever numbers it is given; the script gives it `Decimal`s (80 digits),
//! so its results are exact and ours must equal them rounded the documented way (fees up,
//! liquidation distance down, TP cap down, SL floor up, PnL toward zero). Two of its functions
//! mix in float literals of their own (`pnl_order_min_sl`, the fixed-fee branch of `net_pnl`):
//! they run on floats and may differ by one unit of the last place (1e-10 %, 1e-6 USDC), which
//! is binary rounding, not a different formula.

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use vanta_domain::compute::{self, FeeModel};
use vanta_domain::exec::{EffectiveExec, ExecMode, StopLevel};
use vanta_domain::intent::OpenOrder;
use vanta_domain::market::{PairCatalog, PairInfo, Side};
use vanta_domain::money::{Bps, Leverage, PercentP, Price, SignedUsdc, Usdc, format_scaled};
use vanta_domain::ports::PriceQuote;
use vanta_domain::risk::{OperatorLimits, RiskPolicy};
use vanta_domain::risk_engine::{Exposure, RiskInput, check_open_with};
use vanta_domain::time::Timestamp;

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The listing: a balanced major with the flat skew line, a long-heavy major with a sloped skew
/// table and maker/taker rates, an hours-keeping pair with nothing open and a high spread, an
/// Upside (zero-fee, profit-share) pair, and a tiny-priced pair with a huge coin open interest.
fn listing() -> Value {
    let flat: Vec<Value> = (0..10).map(|_| json!([0, 450])).collect();
    json!({"pairInfos": {
        "0": {"index": 0, "from": "ETH", "to": "USD", "groupIndex": 0, "isPairListed": true,
              "leverages": {"minLeverage": 1, "maxLeverage": 75, "pnlMinLeverage": 75, "pnlMaxLeverage": 500},
              "spreadP": 0.01, "openFeeP": 0.045, "closeFeeP": 0.045, "minLevPosUSDC": 100,
              "openInterest": {"long": 312589.24, "short": 417641.1}, "coinOI": {"long": 149.0923800825, "short": 227.7690953251},
              "values": {"maxGainP": 2500, "maxSlP": 80}, "skewEqParams": flat,
              "additionalPairParams2": {"openMakerFeeP": 0.01, "closeMakerFeeP": 0.01, "openTakerFeeP": 0.05, "closeTakerFeeP": 0.05, "closeOnlyMode": false}},
        "1": {"index": 1, "from": "BTC", "to": "USD", "groupIndex": 0, "isPairListed": true,
              "leverages": {"minLeverage": 1.1, "maxLeverage": 100},
              "spreadP": 0.02, "openFeeP": 0.06, "closeFeeP": 0.06, "minLevPosUSDC": 100,
              "openInterest": {"long": 1250000.5, "short": 80000}, "coinOI": {"long": 12.5, "short": 0.8},
              "values": {"maxGainP": 900, "maxSlP": 75},
              "skewEqParams": [[-3, 900], [-2.5, 800], [-1, 600], [0, 450], [0.5, 400], [1, 300], [2, 200], [2.5, 150], [3, 100], [4, 0]],
              "additionalPairParams2": {"openMakerFeeP": 0.008, "closeMakerFeeP": 0.012, "openTakerFeeP": 0.06, "closeTakerFeeP": 0.07, "closeOnlyMode": false}},
        "2": {"index": 2, "from": "XAU", "to": "USD", "groupIndex": 3, "isPairListed": true,
              "leverages": {"minLeverage": 2, "maxLeverage": 50},
              "spreadP": 0.35, "openFeeP": 0.08, "closeFeeP": 0.08, "minLevPosUSDC": 50,
              "openInterest": {"long": 0, "short": 0}, "coinOI": {"long": 0, "short": 0},
              "values": {"maxGainP": 500, "maxSlP": 80}, "skewEqParams": [[1.5, 700], [1.25, 650]],
              "additionalPairParams2": {"openMakerFeeP": 0.03, "closeMakerFeeP": 0.03, "openTakerFeeP": 0.08, "closeTakerFeeP": 0.08}},
        "3": {"index": 3, "from": "BTC_UPSIDE", "to": "USD", "groupIndex": 0, "isPairListed": true,
              "leverages": {"minLeverage": 1, "maxLeverage": 75, "pnlMinLeverage": 75, "pnlMaxLeverage": 500},
              "spreadP": 0.01, "pnlSpreadP": 0.05, "openFeeP": 0, "closeFeeP": 0, "minLevPosUSDC": 100,
              "openInterest": {"long": 5000, "short": 4000}, "coinOI": {"long": 0.05, "short": 0.04},
              "values": {"maxGainP": 2500, "maxSlP": 80},
              "pnlFees": {"numTiers": 10, "tierP": [1, 5, 25, 50, 100, 250, 500, 1500, 2500, 3000], "feesP": [80, 50, 45, 37.5, 27.5, 25, 25, 22.5, 15, 2.5]}},
        "4": {"index": 4, "from": "PEPE", "to": "USD", "groupIndex": 1, "isPairListed": true,
              "leverages": {"minLeverage": 1, "maxLeverage": 25},
              "spreadP": 0.9, "openFeeP": 0.1, "closeFeeP": 0.1, "minLevPosUSDC": 10,
              "openInterest": {"long": 900000, "short": 900000}, "coinOI": {"long": "73170731707.3170731707", "short": "73170731707"},
              "values": {"maxGainP": 500, "maxSlP": 80},
              "skewEqParams": [[0, 1000], [0, 1000], [0, 1000], [0, 1000], [0, 1000], [0, 1000], [0, 1000], [0, 1000], [0, 1000], [-2, 1100]],
              "additionalPairParams2": {"openMakerFeeP": 0.05, "closeMakerFeeP": 0.05, "openTakerFeeP": 0.1, "closeTakerFeeP": 0.1}}
    }})
}

/// A price per pair (human), tiny for PEPE.
fn price_of(index: u16) -> Price {
    let s = match index {
        0 => "3512.34",
        1 => "96012.5",
        2 => "2401.05",
        3 => "96012.5",
        _ => "0.0000123",
    };
    s.parse().unwrap()
}

fn text(raw: u64, scale: u32) -> String {
    format_scaled(i128::from(raw), scale)
}
fn usd(u: Usdc) -> String {
    text(u.raw(), 6)
}
fn x10(raw: u64) -> String {
    text(raw, 10)
}
fn coins(c: u128) -> String {
    format_scaled(i128::try_from(c).unwrap(), 10)
}

/// One comparison: what it is, our figure, the SDK's result key, and how ours rounds.
#[derive(Clone, Copy)]
enum Round {
    Floor,
    Ceil,
    /// Toward zero (PnL).
    Trunc,
}

struct Check {
    what: String,
    key: &'static str,
    ours: i128,
    round: Round,
}

struct Case {
    input: Value,
    checks: Vec<Check>,
    /// Other keys that must equal these JSON values (maker/taker kind, validator verdicts).
    equals: Vec<(&'static str, Value)>,
}

fn check(what: String, key: &'static str, ours: impl Into<i128>, round: Round) -> Check {
    Check { what, key, ours: ours.into(), round }
}

fn pairs() -> (PairCatalog, Vec<(PairInfo, FeeModel)>) {
    let catalog = vanta_chain::avantis::catalog_from_trading_snapshot(&listing().to_string()).unwrap();
    let list = catalog.iter().map(|p| (p.clone(), catalog.fees(p.index).cloned().expect("a fee model for every pair"))).collect();
    (catalog, list)
}

fn leverages(p: &PairInfo, upside: bool) -> Vec<Leverage> {
    let mut v = vec![p.min_leverage, p.max_leverage];
    for l in ["2.5", "10", "33.3", "75", "150", "500"] {
        let l: Leverage = l.parse().unwrap();
        if l > p.min_leverage && l < p.max_leverage {
            v.push(l);
        }
    }
    if upside {
        v.push("1000".parse().unwrap());
    }
    v
}

fn build_cases(list: &[(PairInfo, FeeModel)]) -> Vec<Case> {
    let mut cases = Vec::new();
    let collaterals = ["0.000001", "1", "10.5", "1000", "250000"];
    let sizes = ["0.000001", "1.5", "100", "12345.678901", "5000000"];
    for (p, m) in list {
        let open = price_of(p.index.0);
        let sym = p.symbol.as_str();
        for side in [Side::Long, Side::Short] {
            let long = side == Side::Long;
            // Liquidation, with and without accrued fees (beyond the threshold, and funding received).
            for lev in leverages(p, m.upside) {
                for c in collaterals {
                    let coll: Usdc = c.parse().unwrap();
                    // Fees as shares of the collateral (per 10 000): none, some, funding received,
                    // beyond the 85 % threshold.
                    for (roll_of, fund_of) in [(0i64, 0i64), (37, 12), (0, -50), (9_000, 0)] {
                        let r = Usdc::from_raw(coll.raw() * roll_of.unsigned_abs() / 10_000);
                        let f = SignedUsdc::from_raw(i64::try_from(coll.raw()).unwrap() * fund_of / 10_000);
                        let (roll, fund) = (usd(r), format_scaled(i128::from(f.raw()), 6));
                        let ours = compute::liquidation_price(side, open, coll, lev, r, f).unwrap();
                        cases.push(Case {
                            input: json!({"fn": "liquidation", "open": x10(open.raw()), "collateral": c, "leverage": x10(lev.raw()),
                                          "long": long, "rollover": roll, "funding": fund}),
                            // Long: open − ⌊distance⌋ is the ceiling; short: the floor.
                            checks: vec![check(
                                format!("liquidation {sym} {side} {lev}x ${c} fees {roll}/{fund}"),
                                "price",
                                ours.raw(),
                                if long { Round::Ceil } else { Round::Floor },
                            )],
                            equals: vec![],
                        });
                    }
                }
            }
            for s in sizes {
                let size: Usdc = s.parse().unwrap();
                // Skew-adjusted open fee (pairs with skew lines).
                if !m.skew_eq.is_empty() {
                    let (fee, _) = compute::skew_open_fee(m, side, size, p.open_fee).unwrap();
                    let skew: Vec<Value> = m.skew_eq.iter().map(|(a, b)| json!([text_i(*a), text_i(*b)])).collect();
                    cases.push(Case {
                        input: json!({"fn": "skew_open_fee", "size": s, "long": long, "oi_long": usd(m.oi_long), "oi_short": usd(m.oi_short), "skew": skew}),
                        checks: vec![
                            check(format!("skew open fee rate {sym} {side} ${s}"), "rate", fee.rate.raw(), Round::Ceil),
                            check(format!("skew open fee {sym} {side} ${s}"), "fee", fee.amount.raw(), Round::Ceil),
                        ],
                        equals: vec![],
                    });
                }
                // Maker/taker open and close (the close size may exceed the side's interest).
                let coin = compute::coin_size(size, open).unwrap();
                for (f, fee) in [
                    ("open_maker_taker", compute::open_maker_taker_fee(m, side, coin, size).unwrap()),
                    ("close_maker_taker", compute::close_maker_taker_fee(m, side, coin, size).unwrap()),
                ] {
                    let (maker, taker) =
                        if f == "open_maker_taker" { (m.open_maker, m.open_taker) } else { (m.close_maker, m.close_taker) };
                    cases.push(Case {
                        input: json!({"fn": f, "coin_long": coins(m.coin_oi_long), "coin_short": coins(m.coin_oi_short),
                                      "coin_size": coins(coin), "long": long, "maker": x10(maker.raw()), "taker": x10(taker.raw()), "notional": s}),
                        checks: vec![
                            check(format!("{f} rate {sym} {side} ${s}"), "rate", fee.rate.raw(), Round::Ceil),
                            check(format!("{f} fee {sym} {side} ${s}"), "fee", fee.amount.raw(), Round::Ceil),
                        ],
                        equals: vec![("kind", json!(fee.kind.as_str()))],
                    });
                }
            }
            // Net PnL at prices around the entry.
            for (num, den) in [(1u64, 2u64), (99, 100), (1, 1), (1001, 1000), (3, 2), (7, 1)] {
                let price = Price::from_raw(open.raw() / den * num);
                for lev in leverages(p, m.upside) {
                    for c in ["1", "1000"] {
                        let coll: Usdc = c.parse().unwrap();
                        let tiers = m.upside.then_some(m.pnl_tiers.as_slice());
                        let (roll, fund) = ("0.25", "-0.1");
                        let n = compute::net_pnl(
                            side,
                            open,
                            price,
                            coll,
                            lev,
                            tiers,
                            p.close_fee,
                            roll.parse().unwrap(),
                            fund.parse().unwrap(),
                        )
                        .unwrap();
                        let what = |k: &str| format!("net pnl {k} {sym} {side} {lev}x ${c} at {price}");
                        cases.push(Case {
                            input: json!({"fn": "net_pnl", "upside": m.upside, "price": x10(price.raw()), "open": x10(open.raw()),
                                          "collateral": c, "leverage": x10(lev.raw()), "long": long, "rollover": roll, "funding": fund,
                                          "close_fee": x10(p.close_fee.raw()),
                                          "tiers": m.pnl_tiers.iter().map(|t| x10(t.threshold.raw())).collect::<Vec<_>>(),
                                          "fees": m.pnl_tiers.iter().map(|t| x10(t.share.raw())).collect::<Vec<_>>()}),
                            checks: vec![
                                check(what("gross"), "gross", n.gross.raw(), Round::Trunc),
                                check(what("close fee"), "fee", n.closing_fee.raw(), Round::Ceil),
                                check(what("profit share"), "share", n.profit_share.raw(), Round::Ceil),
                            ],
                            equals: vec![],
                        });
                    }
                }
            }
        }
        // Upside bounds: the TP cap net of the profit share, the SL floor by leverage.
        if m.upside {
            let raw = listing()["pairInfos"][p.index.0.to_string()].clone();
            for g in ["2500", "3000", "1500", "999", "1", "0.5"] {
                let gain: PercentP = g.parse().unwrap();
                let ours = compute::upside_max_gain(gain, &m.pnl_tiers);
                cases.push(Case {
                    input: json!({"fn": "upside_max_gain", "max_gain": g,
                                  "tiers": m.pnl_tiers.iter().map(|t| x10(t.threshold.raw())).collect::<Vec<_>>(),
                                  "fees": m.pnl_tiers.iter().map(|t| x10(t.share.raw())).collect::<Vec<_>>()}),
                    checks: vec![check(format!("upside TP cap at max gain {g}%"), "cap", ours.raw(), Round::Floor)],
                    equals: vec![],
                });
            }
            let cap = compute::upside_max_gain(p.max_gain, &m.pnl_tiers);
            cases.push(Case {
                input: json!({"fn": "tp_cap_validation", "leverage": "100", "ours": x10(cap.raw()), "pair": raw.clone()}),
                checks: vec![],
                equals: vec![("accepts_ours", json!(true)), ("refuses_above", json!(true))],
            });
            for l in ["1", "2.5", "10", "17.3", "25", "50", "75", "100", "137.5", "250", "400", "500", "750", "1000"] {
                let lev: Leverage = l.parse().unwrap();
                let floor = compute::upside_min_sl(lev, Some(p.spread));
                cases.push(Case {
                    input: json!({"fn": "min_sl", "leverage": l, "ours": x10(floor.raw()), "spread": x10(p.spread.raw()), "pair": raw.clone()}),
                    checks: vec![check(format!("pnl_order_min_sl at {l}x"), "curve", compute::pnl_order_min_sl(lev).raw(), Round::Ceil)],
                    equals: vec![("accepts_ours", json!(true)), ("refuses_below", json!(true))],
                });
            }
        }
    }
    cases
}

fn text_i(v: i64) -> String {
    format_scaled(i128::from(v), 10)
}

/// Runs the SDK over the inputs; one result object per case.
async fn sdk(inputs: &[Value]) -> Vec<Value> {
    let root = repo_root();
    let mut child = tokio::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/support/sdk_compute.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start .venv/bin/python");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(Value::Array(inputs.to_vec()).to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "the SDK script failed");
    let v: Value = serde_json::from_slice(&out.stdout).expect("the script prints JSON");
    v.as_array().cloned().unwrap()
}

fn int(v: &Value) -> i128 {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
#[cfg_attr(not(vanta_sdk), ignore = "needs the official Veranta SDK in .venv (make test installs veranta-sdk==2.2.0)")]
async fn every_figure_agrees_with_the_sdks_compute_functions() {
    let (_, list) = pairs();
    assert!(list.iter().any(|(_, m)| m.upside) && list.iter().any(|(_, m)| m.skew_eq.len() == 10));
    let cases = build_cases(&list);
    let results = sdk(&cases.iter().map(|c| c.input.clone()).collect::<Vec<_>>()).await;
    assert_eq!(results.len(), cases.len());
    let (mut compared, mut inexact, mut kinds) = (0, 0, std::collections::BTreeSet::new());
    let mut failures = Vec::new();
    for (case, got) in cases.iter().zip(&results) {
        for c in &case.checks {
            let r = &got[c.key];
            let (floor, ceil, is_float) = (int(&r["floor"]), int(&r["ceil"]), r["float"].as_bool().unwrap());
            let want = match c.round {
                Round::Floor => floor,
                Round::Ceil => ceil,
                Round::Trunc => {
                    if floor < 0 {
                        ceil
                    } else {
                        floor
                    }
                }
            };
            // Floats: one unit of binary rounding either way (see the module documentation).
            let ok = if is_float { (c.ours - want).abs() <= 1 || (c.ours >= floor - 1 && c.ours <= ceil + 1) } else { c.ours == want };
            if !ok {
                failures.push(format!("{}: ours {} vs SDK {} ({})", c.what, c.ours, r["text"], if is_float { "float" } else { "exact" }));
            }
            compared += 1;
            inexact += usize::from(!r["exact"].as_bool().unwrap());
        }
        for (k, v) in &case.equals {
            if &got[*k] != v {
                failures.push(format!("{}: {k} is {} in the SDK, {v} in ours ({})", case.input["fn"], got[*k], case.input));
            }
            if *k == "kind" {
                kinds.insert(v.as_str().unwrap().to_owned());
            }
        }
    }
    assert!(failures.is_empty(), "{} of {compared} figures disagree:\n{}", failures.len(), failures.join("\n"));
    // The table is not trivial: many figures, many needing rounding, every fee kind.
    assert!(compared > 1_500, "only {compared} figures");
    assert!(inexact > 200, "only {inexact} figures needed rounding");
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["maker", "mixed", "taker"]);
}

/// The risk engine (what the worker and the `/open` preview use) prices an order with these
/// figures: open fee and liquidation price as the SDK computes them, and the Upside bounds.
#[tokio::test]
#[cfg_attr(not(vanta_sdk), ignore = "needs the official Veranta SDK in .venv (make test installs veranta-sdk==2.2.0)")]
async fn the_risk_engine_prices_orders_with_the_sdks_figures() {
    let (catalog, list) = pairs();
    let now = Timestamp(1_790_000_000_000);
    let exec = EffectiveExec { mode: ExecMode::Live, stop: StopLevel::None, why: None };
    let ops = OperatorLimits { max_leverage: Leverage::MAX, min_liq_distance: Bps::new(0).unwrap(), ..OperatorLimits::default() };
    let policy = RiskPolicy {
        max_leverage: Leverage::MAX,
        max_position: "10000000".parse().unwrap(),
        min_liq_distance: Bps::new(0).unwrap(),
        ..RiskPolicy::default()
    };
    let exposure = Exposure::default();
    let mut inputs = Vec::new();
    let mut approved = Vec::new();
    for (p, _) in &list {
        let price = price_of(p.index.0);
        let quotes = [PriceQuote {
            pair: p.symbol.clone(),
            price,
            published_at: now,
            source: "pyth".into(),
            check_age_secs: None,
            check_band: Bps::default(),
        }];
        for side in [Side::Long, Side::Short] {
            let lev = p.min_leverage.max("10".parse().unwrap()).min(p.max_leverage);
            let order = OpenOrder {
                pair: p.symbol.clone(),
                side,
                collateral: "250".parse().unwrap(),
                leverage: lev,
                tp: None,
                sl: None,
                slippage: None,
            };
            let input = RiskInput {
                order: &order,
                pair: p,
                policy: &policy,
                ops: &ops,
                exposure: &exposure,
                quotes: &quotes,
                now,
                exec: &exec,
                automated: false,
            };
            let a = check_open_with(&input, catalog.fees(p.index)).unwrap_or_else(|r| panic!("{} {side}: {r}", p.symbol));
            let m = catalog.fees(p.index).unwrap();
            let long = side == Side::Long;
            inputs.push(json!({"fn": "liquidation", "open": x10(price.raw()), "collateral": "250", "leverage": x10(lev.raw()),
                               "long": long, "rollover": "0", "funding": "0"}));
            let skew: Vec<Value> = m.skew_eq.iter().map(|(a, b)| json!([text_i(*a), text_i(*b)])).collect();
            inputs.push(json!({"fn": "skew_open_fee", "size": usd(a.notional), "long": long, "oi_long": usd(m.oi_long),
                               "oi_short": usd(m.oi_short), "skew": skew}));
            approved.push((p.clone(), m.clone(), side, a));
        }
    }
    let got = sdk(&inputs).await;
    for (i, (p, m, side, a)) in approved.iter().enumerate() {
        let liq = &got[2 * i]["price"];
        let want = if *side == Side::Long { int(&liq["ceil"]) } else { int(&liq["floor"]) };
        assert_eq!(i128::from(a.liquidation_price.raw()), want, "{} {side} liquidation", p.symbol);
        let fee = &got[2 * i + 1]["fee"];
        let want = if m.upside {
            0 // an Upside pair charges no open fee
        } else if m.skew_eq.is_empty() {
            i128::from(p.open_fee.of_usdc_ceil(a.notional).unwrap().raw())
        } else {
            int(&fee["ceil"])
        };
        assert_eq!(i128::from(a.open_fee.raw()), want, "{} {side} open fee", p.symbol);
    }

    // Upside: a TP above the net cap and an SL inside the floor are refused, at the cap and the
    // floor they pass.
    let (p, m) = list.iter().find(|(_, m)| m.upside).unwrap();
    let price = price_of(p.index.0);
    let lev: Leverage = "100".parse().unwrap();
    let cap = compute::upside_max_gain(p.max_gain, &m.pnl_tiers);
    let floor = compute::upside_min_sl(lev, Some(p.spread));
    // target = price × (1 ± pct / 100 / leverage)
    let at = |pct: PercentP, up: bool, nudge: i64| {
        let d = u128::from(price.raw()) * u128::from(pct.raw()) / (100 * u128::from(lev.raw()));
        let d = u64::try_from(d).unwrap().checked_add_signed(nudge).unwrap();
        Price::from_raw(if up { price.raw() + d } else { price.raw() - d })
    };
    let quotes = [PriceQuote {
        pair: p.symbol.clone(),
        price,
        published_at: now,
        source: "pyth".into(),
        check_age_secs: None,
        check_band: Bps::default(),
    }];
    let run = |tp: Option<Price>, sl: Option<Price>| {
        let order = OpenOrder {
            pair: p.symbol.clone(),
            side: Side::Long,
            collateral: "250".parse().unwrap(),
            leverage: lev,
            tp,
            sl,
            slippage: None,
        };
        let input = RiskInput {
            order: &order,
            pair: p,
            policy: &policy,
            ops: &ops,
            exposure: &exposure,
            quotes: &quotes,
            now,
            exec: &exec,
            automated: false,
        };
        check_open_with(&input, Some(m)).map(|_| ()).map_err(|r| r.code())
    };
    assert_eq!(run(Some(at(cap, true, -1)), None), Ok(()));
    assert_eq!(run(Some(at(cap, true, 100_000)), None), Err("tp_above_max_gain"));
    assert_eq!(run(None, Some(at(floor, false, 1))), Ok(()));
    assert_eq!(run(None, Some(at(floor, false, -100_000))), Err("sl_below_upside_floor"));
}
