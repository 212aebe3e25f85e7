//! Oracle replies: Pyth Hermes JSON and Chainlink `decimals()` / `latestRoundData()` over
//! JSON-RPC, through the real clients against a loopback server answering with the input.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use alloy::primitives::Address;
use serde_json::{Value, json};
use vanta_chain::prices::{ChainlinkFeeds, PythHermes};
use vanta_domain::market::PairSymbol;
use vanta_domain::ports::Prices;

use super::venue::verdict;
use super::world;
use crate::mutate::Mutator;
use crate::replies::Replies;
use crate::{Check, Target};

const FEED: &str = "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43";
const AGGREGATOR: &str = "0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F";

fn checked(r: Result<Vec<vanta_domain::ports::PriceQuote>, vanta_domain::DomainError>) -> Check {
    if let Ok(quotes) = &r
        && let Some(q) = quotes.iter().find(|q| q.price.is_zero())
    {
        return Err(format!("a zero price was quoted: {q:?}"));
    }
    verdict(r)
}

pub fn pyth() -> Result<Target, String> {
    let rt = world::runtime()?;
    let server = rt.block_on(Replies::start()).map_err(|e| e.to_string())?;
    let pair = PairSymbol::parse("BTC/USD").map_err(|e| e.to_string())?;
    let hermes = PythHermes::new(&server.url, HashMap::from([(pair.clone(), format!("0x{FEED}"))])).map_err(|e| e.to_string())?;
    let seeds = [
        json!({"binary": {"encoding": "hex", "data": ["00"]}, "parsed": [{"id": FEED, "price": {"price": "9512345678901", "conf": "4512345", "expo": -8, "publish_time": 1795852800},
            "ema_price": {"price": "9512345678901", "conf": "4512345", "expo": -8, "publish_time": 1795852800}, "metadata": {"slot": 1}}]}),
        json!({"parsed": [{"id": format!("0x{}", FEED.to_uppercase()), "price": {"price": "123", "conf": "0", "expo": 2, "publish_time": 1}},
                           {"id": "ff", "price": {"price": "1", "conf": "0", "expo": -8, "publish_time": 1}}]}),
        json!({"parsed": []}),
    ];
    Ok(Target {
        name: "oracle-pyth",
        what: "Pyth Hermes /v2/updates/price/latest replies through PythHermes",
        mutator: Mutator::new(
            seeds.iter().map(|v| v.to_string().into_bytes()).collect(),
            &[
                "\"parsed\"",
                "\"id\"",
                "\"price\"",
                "\"conf\"",
                "\"expo\"",
                "\"publish_time\"",
                FEED,
                "-8",
                "-12",
                "2147483647",
                "-2147483648",
            ],
        ),
        run: Box::new(move |input| {
            let body = input.to_vec();
            let status = if world::fnv(input).is_multiple_of(16) { 503 } else { 200 };
            server.set(Box::new(move |_, _| (status, "application/json", body.clone())));
            checked(rt.block_on(hermes.quotes(&pair)))
        }),
    })
}

fn word(v: &str) -> String {
    format!("{v:0>64}")
}

/// A JSON-RPC answer (the id is the request's, put in by the server).
fn rpc(result: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": "@ID@", "result": result})
}

/// Inputs served to one Chainlink client.
const CLIENT_INPUTS: u32 = 200;

pub fn chainlink() -> Result<Target, String> {
    let rt = world::runtime()?;
    let server = rt.block_on(Replies::start()).map_err(|e| e.to_string())?;
    let pair = PairSymbol::parse("BTC/USD").map_err(|e| e.to_string())?;
    let aggregator = Address::from_str(AGGREGATOR).map_err(|e| e.to_string())?;
    let round = |id: &str, answer: &str, updated: &str, answered: &str| {
        format!("0x{}{}{}{}{}", word(id), word(answer), word(updated), word(updated), word(answered))
    };
    let seeds = [
        rpc(&round("1", "8a7ac1e1fd5", "6afd4a80", "1")),
        rpc(&round("5", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff00", "6afd4a80", "5")),
        rpc(&round("5", "1", "0", "4")),
        rpc(&round("ffffffffffffffffffff", "8a7ac1e1fd5", "ffffffffffffffffffffffffffffffff", "ffffffffffffffffffff")),
        json!({"jsonrpc": "2.0", "id": "@ID@", "error": {"code": -32000, "message": "execution reverted"}}),
        rpc("0x"),
    ];
    let url = server.url.clone();
    let fresh = move || {
        ChainlinkFeeds::new(&url, HashMap::from([(pair.clone(), aggregator)]))
            .map(|f| f.with_timeout(Duration::from_secs(5)))
            .map_err(|e| e.to_string())
    };
    let mut feeds = fresh()?;
    let mut used = 0u32;
    let pair = PairSymbol::parse("BTC/USD").map_err(|e| e.to_string())?;
    Ok(Target {
        name: "oracle-chainlink",
        what: "Chainlink decimals()/latestRoundData() JSON-RPC replies through ChainlinkFeeds",
        mutator: Mutator::new(
            seeds.iter().map(|v| v.to_string().into_bytes()).collect(),
            &["\"jsonrpc\"", "\"id\"", "\"result\"", "\"error\"", "0x", "00", "ff", "\"2.0\"", "@ID@"],
        ),
        run: Box::new(move |input| {
            let h = world::fnv(input);
            // decimals(): the same mutated reply one time in four, else a well-formed one with
            // decimals at the edges.
            let decimals = [8u8, 0, 18, 10, 11, 77, 255].get(usize::try_from((h >> 4) % 7).unwrap_or(0)).copied().unwrap_or(8);
            let decimals_reply = if h.is_multiple_of(4) {
                input.to_vec()
            } else {
                rpc(&format!("0x{}", word(&format!("{decimals:x}")))).to_string().into_bytes()
            };
            let round_reply = input.to_vec();
            server.set(Box::new(move |_, req| {
                let req: Value = serde_json::from_slice(req).unwrap_or(Value::Null);
                let id = req.get("id").map_or_else(|| "0".to_owned(), Value::to_string);
                let call =
                    req.pointer("/params/0/input").or_else(|| req.pointer("/params/0/data")).and_then(Value::as_str).unwrap_or_default();
                let reply = if call.starts_with("0x313ce567") { &decimals_reply } else { &round_reply };
                let text = String::from_utf8_lossy(reply).replace("\"@ID@\"", &id);
                (200, "application/json", text.into_bytes())
            }));
            // decimals() is cached per feed once read: a fresh client now and then reads it again
            // (a client per input would cost more than the call).
            used += 1;
            if used.is_multiple_of(CLIENT_INPUTS) {
                feeds = fresh()?;
            }
            checked(rt.block_on(feeds.quotes(&pair)))
        }),
    })
}
