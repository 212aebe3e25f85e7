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
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
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

/// Runs the script against a fresh fake and returns each flow's `(ok, detail)`.
async fn run_sdk_script() -> BTreeMap<String, (bool, String)> {
    // The operator lands an accepted TP/SL update after 600 ms, so the SDK's wait path polls.
    let session = Session::start(Duration::from_millis(600)).await.unwrap();
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
    flows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(vanta_sdk), ignore = "needs the official Veranta SDK in .venv (make test installs veranta-sdk==2.2.0)")]
async fn the_official_sdk_passes_every_flow_against_the_fake() {
    let flows = run_sdk_script().await;
    let missing: Vec<&str> = FLOWS.iter().copied().filter(|f| !flows.contains_key(*f)).collect();
    let failed: Vec<String> = flows.iter().filter(|(_, (ok, _))| !ok).map(|(name, (_, detail))| format!("{name}: {detail}")).collect();
    assert!(missing.is_empty(), "flows the SDK script never reported: {missing:?}");
    assert!(failed.is_empty(), "flows that failed with the official SDK:\n{}", failed.join("\n"));
}
