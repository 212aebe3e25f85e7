//! The official client judges our spread quote and our fake's risk engine: the Veranta SDK's
//! `markets.spread` (`veranta-sdk==2.2.0` in `.venv`; run by `tests/support/sdk_spread.py`, never
//! copied) asks the fake for a table of orders, and our [`RiskSpreads`] asks for the same ones:
//! both requests must be the same field by field, and both must read the same quoted spread
//! (with-flow when present, else without-flow) or the same refusal (403 blocked, 404 unavailable).
//!
//! The SDK has no pure function for the spread-adjusted fill price (its `compute/` only uses the
//! spread in `validate_order`'s stop-loss floor and sanity checks), so the fill price itself is
//! tested against worked numbers in `vanta_domain::spread` and the paper venue's tests.

use std::process::Stdio;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use vanta_chain::avantis::spread::RiskSpreads;
use vanta_domain::ids::TraderAddress;
use vanta_domain::market::{PairIndex, Side};
use vanta_domain::money::{Leverage, Price, Usdc};
use vanta_domain::spread::{SpreadAsk, SpreadQuote, SpreadQuotes};
use vanta_testkit::fake_avantis::{Endpoint, FakeAvantis, FakeSpread};

const TRADER: &str = "0xfd4509A4E64b178ca938fAa65a3B6690213d8cb4";

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `(pair, long, open, collateral, leverage)`; prices are the fake feed's (ETH 3 000, BTC 60 000,
/// SOL 150).
const CASES: [(u16, bool, bool, &str, &str); 5] = [
    (0, true, true, "100", "25"),
    (0, false, false, "73.5", "7.5"),
    (1, true, true, "1000", "3"),
    (2, false, true, "12.345678", "50"),
    (1, false, true, "250", "10"),
];

/// Runs the SDK over the cases; each line of its answer.
async fn sdk_answers(fake: &FakeAvantis) -> Vec<Value> {
    let root = repo_root();
    let cases: Vec<Value> = CASES
        .iter()
        .map(|(pair, long, open, coll, lev)| {
            json!({"pair": pair.to_string(), "is_long": long, "is_open": open, "collateral": coll, "leverage": lev,
                   "wanted_price": null, "trader": TRADER})
        })
        .collect();
    let mut child = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/support/sdk_spread.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start .venv/bin/python");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{}\n", json!({"base": fake.base, "cases": cases})).as_bytes()).await.unwrap();
    stdin.flush().await.unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("sdk_spread.py: {line}"));
            if v.get("done").is_some() {
                return;
            }
            out.push(v);
        }
        panic!("sdk_spread.py ended before its last line");
    };
    tokio::time::timeout(Duration::from_secs(60), read).await.expect("the SDK script finished within 60 s");
    drop(stdin);
    assert!(child.wait().await.unwrap().success());
    out
}

fn spread_bodies(fake: &FakeAvantis) -> Vec<Value> {
    fake.requests().into_iter().filter(|r| r.endpoint == Some(Endpoint::Spread)).filter_map(|r| r.body).collect()
}

#[tokio::test]
#[cfg_attr(not(vanta_sdk), ignore = "needs the official Veranta SDK in .venv (make test installs veranta-sdk==2.2.0)")]
async fn our_spread_requests_and_readings_match_the_official_clients() {
    let fake = FakeAvantis::start().await.unwrap();
    // ETH: the default quote (with flow); BTC: without flow only; SOL: blocked.
    fake.set_spread(1, FakeSpread::Quote { without_flow10: 1_234_567_890, with_flow10: None });
    fake.set_spread(2, FakeSpread::Blocked);
    let sdk = sdk_answers(&fake).await;
    let theirs = spread_bodies(&fake);
    assert_eq!((sdk.len(), theirs.len()), (CASES.len(), CASES.len()), "{sdk:?}");
    fake.clear_requests();

    let risk = RiskSpreads::new(&format!("{}/risk/v2", fake.base), Duration::from_secs(2)).unwrap();
    let trader = TraderAddress::from_str(TRADER).unwrap();
    for (i, (pair, long, open, coll, lev)) in CASES.iter().enumerate() {
        let price = Price::from_raw(fake.price(*pair).unwrap());
        let ask = SpreadAsk {
            pair: PairIndex(*pair),
            trader,
            side: if *long { Side::Long } else { Side::Short },
            is_open: *open,
            coin_size10: 0,
            leverage: Leverage::from_str(lev).unwrap(),
        }
        .sized(Usdc::from_str(coll).unwrap(), price);
        let ours = risk.spread(&ask).await.unwrap();
        let body = spread_bodies(&fake).pop().unwrap();
        assert_eq!(body, theirs[i], "case {i}: the request, field by field");
        match (&ours, sdk[i]["ok"].as_bool().unwrap()) {
            (SpreadQuote::Quoted(s), true) => assert_eq!(s.raw().to_string(), sdk[i]["spreadPct10"].as_str().unwrap(), "case {i}"),
            (SpreadQuote::Blocked(_), false) => {
                assert!(sdk[i]["error"].as_str().unwrap().contains("SPREAD_BLOCKED"), "case {i}: {}", sdk[i])
            }
            other => panic!("case {i}: ours {other:?}, the SDK's {}", sdk[i]),
        }
    }
}
