//! The fake Veranta (formerly Avantis) backend as a program, so the official SDK or any client can
//! be pointed at it: `cargo run -p vanta-testkit --bin fake-veranta`.
//!
//! On start it creates a trader holding 10 000 USDC with an active delegation to a fresh delegate
//! key and prints one JSON line:
//! `{"urls":{"base","tx_builder","batched_market","core","data","feed"},"trader","trader_private_key",
//! "delegate","delegate_private_key","chain_id","trading_router"}`.
//! It then reads one command per line on stdin and answers each with one JSON line on stdout:
//! `ping`, `log` (the requests it saw), `clear`, `fail <Endpoint> <n> <status> <CODE> <message>`,
//! `outcome <execute|retry|enqueue_failed|cancel:REASON|error:CODE>`, `positions`, `balance`,
//! `history`, `price <pair> <raw 1e10>`, `liquidate <pair> <index>`, `app_close <pair> <index>`,
//! `limit <pair> <long|short> <collateral> <leverage> <price>` (a resting limit order for the
//! trader, human units; filled by the keeper when `price` crosses it), `limits`,
//! `cancel_limit <pair> <index>` (and `wrong_digest <on|off>`). It stops at the end of stdin. The keys are throwaway test keys.
//!
//! `FAKE_VERANTA_TPSL_DELAY_MS` (default 1000) is how long the fake operator takes to execute an
//! accepted TP/SL update, so a client's wait-until-visible path runs.

use std::io::{BufRead, Write};
use std::time::Duration;

use serde_json::Value;
use vanta_testkit::fake_veranta::Session;

fn emit(out: &mut impl Write, v: &Value) -> std::io::Result<()> {
    writeln!(out, "{v}")?;
    out.flush()
}

fn run() -> Result<(), String> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| format!("no runtime: {e}"))?;
    let delay_ms = std::env::var("FAKE_VERANTA_TPSL_DELAY_MS").ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or(1000);
    let session = runtime.block_on(Session::start(Duration::from_millis(delay_ms)))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    emit(&mut out, &session.hello()).map_err(|e| format!("stdout: {e}"))?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        emit(&mut out, &session.command(&line)).map_err(|e| format!("stdout: {e}"))?;
    }
    drop(session);
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-veranta: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
