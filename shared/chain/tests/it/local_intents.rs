//! The local intent builder against the official SDK's golden vectors: built from a request's
//! fields (as the venue builds every open, close and TP/SL update), each intent must encode
//! byte-exact as `../shared/avantis/vectors/intent_encoding_reference.json` says and hash to the
//! digest of `vectors.json`. Reported as ignored when `../shared/avantis` is absent (see `build.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::{Path, PathBuf};
use std::str::FromStr;

use alloy::primitives::{Address, U256, address, hex};
use serde_json::Value;
use vanta_chain::avantis::local::{self, IntentTerms};
use vanta_chain::avantis::{CloseRequest, OpenRequest};
use vanta_domain::ids::TraderAddress;
use vanta_domain::market::{PairIndex, Side};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};

use crate::support::vector_domain;

/// The reference data (`../shared/avantis`, or `$VANTA_SHARED_DIR/avantis`); the tests that read
/// it are ignored when the build script did not find it.
fn reference_dir() -> PathBuf {
    PathBuf::from(env!("VANTA_SHARED_AVANTIS"))
}

fn load(dir: &Path, rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(rel)).unwrap()).unwrap()
}

fn vector(vectors: &Value, kind: &str) -> Value {
    vectors["vectors"].as_array().unwrap().iter().find(|v| v["kind"] == kind).unwrap_or_else(|| panic!("no {kind} vector")).clone()
}

fn n(v: &Value) -> u64 {
    v.as_str().map_or_else(|| v.as_u64().unwrap(), |s| s.parse().unwrap())
}

fn terms(m: &Value, deadline: &str, nonce: &str) -> IntentTerms {
    IntentTerms { deadline_ms: n(&m[deadline]), nonce: U256::from_str(m[nonce].as_str().unwrap()).unwrap() }
}

fn trader(s: &Value) -> TraderAddress {
    TraderAddress::new(Address::from_str(s.as_str().unwrap()).unwrap()).unwrap()
}

fn price(v: &Value) -> Option<Price> {
    let raw = n(v);
    (raw != 0).then(|| Price::from_raw(raw))
}

fn reference_bytes(reference: &Value, kind: &str) -> Vec<u8> {
    hex::decode(reference[kind].as_str().unwrap()).unwrap()
}

#[test]
#[cfg_attr(not(vanta_shared), ignore = "../shared/avantis is not present")]
fn a_locally_built_open_is_byte_exact_with_the_sdk_reference() {
    let dir = reference_dir();
    let (vectors, reference) = (load(&dir, "vectors/vectors.json"), load(&dir, "vectors/intent_encoding_reference.json"));
    let v = vector(&vectors, "OpenTradeReq");
    let (m, t) = (&v["message"], &v["message"]["_t"]);
    let req = OpenRequest {
        trader: trader(&t["trader"]),
        pair: PairIndex(u16::try_from(n(&t["pairIndex"])).unwrap()),
        side: if t["buy"].as_bool().unwrap() { Side::Long } else { Side::Short },
        collateral: Usdc::from_raw(n(&t["positionSizeUSDC"])),
        leverage: Leverage::from_raw(n(&t["leverage"])).unwrap(),
        open_price: Price::from_raw(n(&t["openPrice"])),
        slippage: PercentP::from_raw(n(&m["_slippageP"])),
        tp: price(&t["tp"]),
        sl: price(&t["sl"]),
        pnl: n(&m["_type"]) == 3,
        nonce: None,
    };
    // The vector's trade carries a timestamp (a market open of Vanta's leaves it 0).
    let intent = local::open_trade_at(&req, n(&t["timestamp"]), terms(m, "_deadline", "_nonce"));
    assert_eq!(hex::encode_prefixed(intent.abi_encode()), hex::encode_prefixed(reference_bytes(&reference, "OpenTradeReq")));
    let payload = local::payload(intent, &vector_domain(&vectors));
    assert_eq!(payload.digest.to_string(), v["digest"].as_str().unwrap());
    assert_eq!(payload.encoded_intent, reference_bytes(&reference, "OpenTradeReq"));
}

#[test]
#[cfg_attr(not(vanta_shared), ignore = "../shared/avantis is not present")]
fn a_locally_built_close_is_byte_exact_with_the_sdk_reference() {
    let dir = reference_dir();
    let (vectors, reference) = (load(&dir, "vectors/vectors.json"), load(&dir, "vectors/intent_encoding_reference.json"));
    let v = vector(&vectors, "CloseTradeReq");
    let m = &v["message"];
    let req = CloseRequest {
        trader: trader(&m["_trader"]),
        pair: PairIndex(u16::try_from(n(&m["_pairIndex"])).unwrap()),
        trade_index: u32::try_from(n(&m["_index"])).unwrap(),
        collateral: Usdc::from_raw(n(&m["_amount"])),
        open_timestamp: Some(n(&m["_openTimestamp"])),
        expected_price: price(&m["_wantedPrice"]),
        nonce: None,
    };
    let intent = local::close_trade(&req, terms(m, "_deadline", "_nonce"));
    assert_eq!(hex::encode_prefixed(intent.abi_encode()), hex::encode_prefixed(reference_bytes(&reference, "CloseTradeReq")));
    assert_eq!(local::payload(intent, &vector_domain(&vectors)).digest.to_string(), v["digest"].as_str().unwrap());
}

#[test]
#[cfg_attr(not(vanta_shared), ignore = "../shared/avantis is not present")]
fn a_locally_built_tpsl_update_hashes_to_the_sdk_digest() {
    let dir = reference_dir();
    let vectors = load(&dir, "vectors/vectors.json");
    let v = vector(&vectors, "UpdateTpSlReq");
    let m = &v["message"];
    let intent = local::update_tpsl(
        trader(&m["trader"]),
        PairIndex(u16::try_from(n(&m["_pairIndex"])).unwrap()),
        u32::try_from(n(&m["_index"])).unwrap(),
        n(&m["_newTp"]),
        n(&m["_newSl"]),
        terms(m, "_deadline", "_nonce"),
    );
    assert_eq!(local::payload(intent, &vector_domain(&vectors)).digest.to_string(), v["digest"].as_str().unwrap());
}

#[test]
fn the_nonce_is_derived_from_the_signer_and_the_intent_reference() {
    let (a, b) = (address!("0x1111111111111111111111111111111111111111"), address!("0x2222222222222222222222222222222222222222"));
    assert_eq!(local::derived_nonce(a, "intent-1"), local::derived_nonce(a, "intent-1"), "same intent, same nonce");
    assert_ne!(local::derived_nonce(a, "intent-1"), local::derived_nonce(a, "intent-2"));
    assert_ne!(local::derived_nonce(a, "intent-1"), local::derived_nonce(b, "intent-1"));
}
