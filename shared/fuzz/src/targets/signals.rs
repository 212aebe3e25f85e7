//! The signal body parser and the signal routes (`POST /signals` with HMAC, `POST /signals/tv/{token}`).

use vanta_app::http::testing::{self, TestRequest};
use vanta_app::signals;

use super::world::{self, SOURCE_SECRET, TV_TOKEN, World};
use crate::mutate::Mutator;
use crate::{Check, Target, Verdict};

const SEEDS: &[&str] = &[
    r#"{"source":"strat","id":"alert-42","action":"open","pair":"BTC/USD","side":"long","collateral_usdc":"100","leverage":"10","tp":"120000","sl":"95000","slippage_pct":"0.5"}"#,
    r#"{"source":"strat","id":"a-1","action":"open","pair":"ETH/USD","side":"short","collateral_usdc":250.5,"leverage":5}"#,
    r#"{"source":"strat","id":"f-1","action":"flip","pair":"BTC/USD","side":"short","collateral_usdc":"100","leverage":"3","slippage_pct":"1"}"#,
    r#"{"source":"strat","id":"c-1","action":"close","pair":"BTC/USD","side":"long","fraction":"0.5"}"#,
    r#"{"source":"strat","id":"c-2","action":"close","pair":"ETH/USD","side":"short"}"#,
    r#"{"source":"strat","id":"u-1","action":"update_tpsl","pair":"BTC/USD","side":"long","tp":"130000","sl":null}"#,
    r#"{"source":"strat","id":"p-1","action":"pause"}"#,
    r#"{"source":"strat","id":"x-1","action":"flatten"}"#,
    r#"{"source":"strat:a","id":"b:c","action":"OPEN","pair":"btc","side":"LONG","collateral_usdc":"1e2","leverage":"10"}"#,
    "  {\"source\":\"strat\",\"id\":\"ws\",\"action\":\"pause\"}\n",
];

const DICTIONARY: &[&str] = &[
    "\"source\"",
    "\"id\"",
    "\"action\"",
    "\"pair\"",
    "\"side\"",
    "\"collateral_usdc\"",
    "\"leverage\"",
    "\"tp\"",
    "\"sl\"",
    "\"slippage_pct\"",
    "\"fraction\"",
    "open",
    "close",
    "flip",
    "update_tpsl",
    "pause",
    "flatten",
    "long",
    "short",
    "BTC/USD",
    "ETH/USD",
    "btc",
    "SOL/USD",
    "strat",
    ":",
    "/",
    "null",
    "true",
    "{}",
    "[]",
    "\\u0000",
    "\\ud800",
    "\"",
    ",",
];

fn mutator() -> Mutator {
    Mutator::new(SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect(), DICTIONARY)
}

fn refusal(r: &signals::Refusal) -> Check {
    if !(400..500).contains(&r.status) {
        return Err(format!("refusal with status {} ({})", r.status, r.reason));
    }
    if r.reason.trim().is_empty() {
        return Err(format!("refusal {} without a reason", r.status));
    }
    Ok(Verdict::Refused(format!("{} {}", r.status, r.reason)))
}

/// `signals::parse` and `signals::peek_source`: a signal or a 400/422 with a reason.
pub fn body() -> Target {
    Target {
        name: "signal-body",
        what: "signal JSON body (signals::parse, peek_source, intent ids)",
        mutator: mutator(),
        run: Box::new(|input| {
            if let Err(r) = signals::peek_source(input) {
                refusal(&r)?;
            }
            match signals::parse(input) {
                Ok(sig) => {
                    let hash = sig.payload_hash();
                    if hash.len() != 64 {
                        return Err("payload hash is not SHA-256 hex".into());
                    }
                    // The canonical form written directly is the one `serde_json::Value` prints.
                    if hash != vanta_domain::ids::payload_hash(&sig.canonical_by_value()) {
                        return Err("payload hash differs from the canonical form's by value".into());
                    }
                    match sig.intent_id() {
                        Ok(_) => Ok(Verdict::Accepted),
                        Err(r) => refusal(&r),
                    }
                }
                Err(r) => refusal(&r),
            }
        }),
    }
}

/// Inputs handled on one system before a fresh one (keeps memory flat over a million inputs).
const ROUTE_WORLD_INPUTS: u32 = 2_000;

/// The webhook's signal routes over the in-memory system: bodies signed with the source's
/// secret (so they get past authentication to the parser) or posted to the TradingView URL.
pub fn route() -> Result<Target, String> {
    let rt = world::runtime()?;
    let mut w = rt.block_on(World::new())?;
    let mut router = vanta_app::http::router(w.deps.clone());
    let mut used = 0u32;
    Ok(Target {
        name: "signal-route",
        what: "POST /signals (signed) and /signals/tv/{token} through the HTTP router",
        mutator: mutator(),
        run: Box::new(move |input| {
            used += 1;
            if used > ROUTE_WORLD_INPUTS {
                w = rt.block_on(World::new())?;
                router = vanta_app::http::router(w.deps.clone());
                used = 1;
            }
            w.clock.advance(std::time::Duration::from_millis(50));
            let now = vanta_domain::time::Clock::now(w.clock.as_ref()).secs().to_string();
            let req = match world::fnv(input) % 3 {
                0 => TestRequest::new("POST", &format!("/signals/tv/{TV_TOKEN}"))
                    .with_header("content-type", "text/plain")
                    .with_body(input.to_vec()),
                1 => TestRequest::new("POST", "/signals")
                    .with_header(signals::TIMESTAMP_HEADER, &now)
                    .with_header(signals::SIGNATURE_HEADER, &signals::sign(SOURCE_SECRET, &now, input))
                    .with_body(input.to_vec()),
                // Unsigned or wrongly signed: refused before the body is trusted.
                _ => TestRequest::new("POST", "/signals")
                    .with_header(signals::TIMESTAMP_HEADER, &now)
                    .with_header(signals::SIGNATURE_HEADER, &signals::sign("not-the-secret", &now, input))
                    .with_body(input.to_vec()),
            };
            let resp = rt.block_on(testing::send(&router, req));
            match resp.status {
                200 | 202 => Ok(Verdict::Accepted),
                400..=499 => {
                    let reason = resp.body_json().get("error").and_then(|e| e.as_str()).unwrap_or_default().to_owned();
                    if reason.trim().is_empty() {
                        Err(format!("{} without a reason: {}", resp.status, String::from_utf8_lossy(&resp.body)))
                    } else {
                        Ok(Verdict::Refused(format!("{} {reason}", resp.status)))
                    }
                }
                s => Err(format!("status {s}: {}", String::from_utf8_lossy(&resp.body))),
            }
        }),
    })
}
