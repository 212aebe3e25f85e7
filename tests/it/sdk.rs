//! The official client judges our fake: the Veranta SDK (`veranta-sdk==2.2.0`, installed into
//! `.venv` by `make test`) runs its own flows against the fake server
//! (`tests/support/sdk_against_fake.py`): `/v2/meta`, the delegation check, the feed's price, a
//! market open through batched-market with its event stream and replay, `/user-data` positions, a
//! TP/SL update (the SDK waits until `/user-data` shows it), partial TP/SL triggers, a close, and
//! one error of each class (rate limit, validation, relay timeout, digest mismatch).
//!
//! The fake runs in this process; the script talks to it over its stdio with the same commands
//! the `fake-veranta` program takes on stdin (`CMD <command>` lines, answered by one JSON line).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use vanta_chain::avantis::{AvantisConfig, AvantisVenue};
use vanta_chain::signer::LocalKeySigner;
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::{PairIndex, Side};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{Venue, VenueOrder};
use vanta_testkit::fake_avantis::{Endpoint, LoggedRequest};
use vanta_testkit::fake_veranta::Session;

/// Every flow the script must report, each passed.
const FLOWS: [&str; 13] = [
    "meta",
    "delegation",
    "price",
    "market_open",
    "replay",
    "positions",
    "tpsl_update",
    "partial_tpsl",
    "close",
    "error_rate_limit",
    "error_validation",
    "error_relay_timeout",
    "error_digest_mismatch",
];

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the script against the session's fake; returns each flow's `(ok, detail)` and every
/// request the fake saw from the SDK (kept across the script's `clear` commands).
async fn run_sdk_script(session: &Session) -> (BTreeMap<String, (bool, String)>, Vec<LoggedRequest>) {
    let mut seen = Vec::new();
    let root = repo_root();
    let mut child = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/support/sdk_against_fake.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start .venv/bin/python");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    stdin.write_all(format!("{}\n", session.hello()).as_bytes()).await.unwrap();
    stdin.flush().await.unwrap();

    let mut flows = BTreeMap::new();
    let mut done = false;
    let talk = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(command) = line.strip_prefix("CMD ") {
                if command.trim() == "clear" {
                    seen.extend(session.fake.requests());
                }
                let answer = session.command(command);
                stdin.write_all(format!("{answer}\n").as_bytes()).await.unwrap();
                stdin.flush().await.unwrap();
                continue;
            }
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                eprintln!("sdk script: {line}");
                continue;
            };
            if v.get("done").is_some() {
                done = true;
                break;
            }
            if let Some(flow) = v.get("flow").and_then(Value::as_str) {
                let ok = v.get("ok").and_then(Value::as_bool).unwrap_or(false);
                let detail = v.get("detail").and_then(Value::as_str).unwrap_or_default().to_owned();
                eprintln!("sdk flow {flow}: {} {detail}", if ok { "ok" } else { "FAILED" });
                flows.insert(flow.to_owned(), (ok, detail));
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(180), talk).await.expect("the SDK script finished within 180 s");
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert!(done, "the SDK script ended before its last line");
    assert!(status.success(), "the SDK script exited with {status}");
    seen.extend(session.fake.requests());
    (flows, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(vanta_sdk), ignore = "needs the official Veranta SDK in .venv (make test installs veranta-sdk==2.2.0)")]
async fn the_official_sdk_passes_every_flow_against_the_fake() {
    // The operator lands an accepted TP/SL update after 600 ms, so the SDK's wait path polls.
    let session = Session::start(Duration::from_millis(600)).await.unwrap();
    let (flows, _) = run_sdk_script(&session).await;
    let missing: Vec<&str> = FLOWS.iter().copied().filter(|f| !flows.contains_key(*f)).collect();
    let failed: Vec<String> = flows.iter().filter(|(_, (ok, _))| !ok).map(|(name, (_, detail))| format!("{name}: {detail}")).collect();
    assert!(missing.is_empty(), "flows the SDK script never reported: {missing:?}");
    assert!(failed.is_empty(), "flows that failed with the official SDK:\n{}", failed.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Our Rust client and the SDK, request by request
// ---------------------------------------------------------------------------------------------

/// Fields whose values differ by nature between two runs: present and well-formed is enough.
const VOLATILE: [&str; 12] =
    ["nonce", "deadlineMs", "userIntent", "userSignature", "signedMessage", "data", "r", "s", "yParity", "v", "gas", "openTimestamp"];

/// The differences between our client's requests and the SDK's that are known: client bugs
/// (reported for issue 9, item 3) or accepted. Anything else fails the comparison, and so does
/// an entry here that no longer differs (the list stays true). `(endpoint, field path, why)`.
/// Fixed and gone from the list: the untouched TP leg sent as 0 (now the live position's), the
/// nonce our client asked the builders for (intents are built locally, the nonce derived from
/// the intent reference), the reference price sent as `openPrice` on market opens, market
/// orders without the EIP-7702 leg (now built from the checked `/v2/trade/*` calldata).
const KNOWN_DIFFERENCES: [(&str, &str, &str); 1] = [
    // Accepted: an optional guard the SDK leaves out; ours pins the recorded open time.
    ("IntentClose", "openTimestamp", "accepted: optional position guard"),
];

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compares two request bodies field by field; each difference is `(path, what)`.
fn diff(path: &str, ours: &Value, sdk: &Value, out: &mut Vec<(String, String)>) {
    match (ours, sdk) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match b.get(k) {
                    None => out.push((p, "only ours".into())),
                    Some(vb) => diff(&p, va, vb, out),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                out.push((p, "only the SDK's".into()));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push((path.to_owned(), format!("length: ours {} vs the SDK's {}", a.len(), b.len())));
            }
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}.{i}"), va, vb, out);
            }
        }
        _ if kind(ours) != kind(sdk) => out.push((path.to_owned(), format!("type: ours {} vs the SDK's {}", kind(ours), kind(sdk)))),
        _ => {
            let leaf = path.rsplit('.').next().unwrap_or(path);
            let well_formed = |v: &Value| !matches!(v, Value::Null) && v.as_str().is_none_or(|t| !t.is_empty());
            if VOLATILE.contains(&leaf) {
                if !(well_formed(ours) && well_formed(sdk)) {
                    out.push((path.to_owned(), format!("malformed: ours {ours} vs the SDK's {sdk}")));
                }
            } else if ours != sdk {
                out.push((path.to_owned(), format!("value: ours {ours} vs the SDK's {sdk}")));
            }
        }
    }
}

/// The levels and position of a `PUT /price-triggers/global-…` body's signed `UpdateTpSlReq`
/// (trader, deadline and nonce left out: they differ by nature).
fn decoded_tpsl(body: &Value) -> Value {
    use alloy::sol_types::SolValue;
    let hex = body["userIntent"].as_str().expect("userIntent");
    let bytes = alloy::hex::decode(hex).expect("userIntent is hex");
    let m = vanta_chain::eip712::UpdateTpSlReq::abi_decode(&bytes).expect("userIntent is an UpdateTpSlReq");
    serde_json::json!({ "_pairIndex": m._pairIndex.to_string(), "_index": m._index.to_string(),
                        "_newTp": m._newTp.to_string(), "_newSl": m._newSl.to_string() })
}

fn first_body(log: &[LoggedRequest], ep: Endpoint) -> Option<Value> {
    log.iter().find(|r| r.endpoint == Some(ep) && r.status == 200).and_then(|r| r.body.clone())
}

/// Our venue (signing with the delegate key, as the SDK script does) opens ETH long 100 USDC × 10, sets a stop at 2700,
/// and closes — the SDK script's flows — on the same fake; returns the requests it sent.
async fn rust_client_flows(session: &Session) -> Vec<LoggedRequest> {
    let urls = session.fake.urls();
    let mut cfg = AvantisConfig::new(urls.tx_builder, urls.batched_market, urls.core, urls.data, session.fake.chain_id());
    cfg.status_poll_interval = Duration::from_millis(50);
    let signer = Arc::new(LocalKeySigner::from_secret_hex(&SecretString::from(session.delegate_key.clone())).unwrap());
    let venue = AvantisVenue::from_config(cfg, signer).unwrap();
    let trader = TraderAddress::new(session.trader.address()).unwrap();
    session.fake.clear_requests();
    let open = VenueOrder::Open {
        trader,
        pair: PairIndex(0),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(10).unwrap(),
        reference_price: Price::from_str("3000").unwrap(),
        slippage: PercentP::from_str("1").unwrap(),
        tp: None,
        sl: None,
    };
    let fill = venue.execute(&IntentId::parse("cmp-open").unwrap(), &open).await.unwrap();
    let sl = Price::from_str("2700").unwrap();
    let upd = VenueOrder::UpdateTpSl { trader, pair: PairIndex(0), trade_index: fill.trade_index, tp: None, sl: Some(sl), known: None };
    venue.execute(&IntentId::parse("cmp-tpsl").unwrap(), &upd).await.unwrap();
    let close = VenueOrder::Close { trader, pair: PairIndex(0), trade_index: fill.trade_index, collateral: fill.collateral, known: None };
    venue.execute(&IntentId::parse("cmp-close").unwrap(), &close).await.unwrap();
    session.fake.requests()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(vanta_sdk), ignore = "needs the official Veranta SDK in .venv (make test installs veranta-sdk==2.2.0)")]
async fn our_client_sends_what_the_sdk_sends_for_open_close_and_tpsl() {
    let session = Session::start(Duration::from_millis(600)).await.unwrap();
    let (flows, sdk_log) = run_sdk_script(&session).await;
    assert!(flows.values().all(|(ok, _)| *ok), "the SDK flows must pass first: {flows:?}");
    let ours = rust_client_flows(&session).await;

    let mut unexpected = Vec::new();
    let mut report = Vec::new();
    let mut seen_known = std::collections::BTreeSet::new();
    for ep in [
        Endpoint::IntentOpen,
        Endpoint::TradeOpen,
        Endpoint::IntentClose,
        Endpoint::TradeClose,
        Endpoint::ExecuteBatched,
        Endpoint::PriceTriggerPut,
    ] {
        let name = ep.name();
        let sdk = first_body(&sdk_log, ep).unwrap_or_else(|| panic!("the SDK sent no successful {name}"));
        let Some(rust) = first_body(&ours, ep) else {
            unexpected.push(format!("{name}: our client sent none (the SDK did)"));
            continue;
        };
        let mut diffs = Vec::new();
        diff("", &rust, &sdk, &mut diffs);
        if ep == Endpoint::PriceTriggerPut {
            // The signed UpdateTpSlReq carries the levels: compare them decoded.
            let (a, b) = (decoded_tpsl(&rust), decoded_tpsl(&sdk));
            diff("userIntent", &a, &b, &mut diffs);
        }
        for (path, what) in diffs {
            let known = KNOWN_DIFFERENCES.iter().position(|(e, p, _)| *e == name && (path == *p || path.starts_with(&format!("{p}."))));
            let line = format!("{name} {path}: {what}");
            match known {
                Some(i) => {
                    seen_known.insert(i);
                    report.push(format!("known ({}) {line}", KNOWN_DIFFERENCES[i].2));
                }
                None => report.push(format!("UNEXPECTED {line}")),
            }
            let known = known.is_some();
            if !known {
                unexpected.push(line);
            }
        }
    }
    // The SDK's own requests for the same flows that our client never makes.
    // (The venue client takes prices from the price layer, which reads price-update-data itself.)
    let ep = Endpoint::PriceUpdateData;
    let (s, o) = (sdk_log.iter().filter(|r| r.endpoint == Some(ep)).count(), ours.iter().filter(|r| r.endpoint == Some(ep)).count());
    if s > 0 && o == 0 {
        report.push(format!("known {}: sent by the SDK ({s}), never by our client", ep.name()));
    }
    eprintln!("Rust client vs the official SDK, request by request:\n{}", report.join("\n"));
    assert!(unexpected.is_empty(), "requests where our client and the SDK differ beyond the known list:\n{}", unexpected.join("\n"));
    let stale: Vec<_> = KNOWN_DIFFERENCES.iter().enumerate().filter(|(i, _)| !seen_known.contains(i)).map(|(_, k)| k).collect();
    assert!(stale.is_empty(), "known differences that no longer occur (remove them from the list): {stale:?}");
}
