//! The fake's wire plumbing: the answer envelope per service ([`Svc`], [`Reply`], [`ok`],
//! [`err`]), query and body field parsing, hex and integer helpers, and the conversions between
//! the intent and the calldata `Trade` types.

use std::collections::HashMap;
use std::convert::Infallible;
use std::str::FromStr;

use alloy::primitives::{Address, Signature, U256};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};
use vanta_chain::avantis::trading_call;
use vanta_chain::eip712::Trade;
use vanta_domain::money::parse_scaled;

pub(super) type Body = BoxBody<Bytes, std::io::Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Svc {
    TxBuilder,
    Data,
    Batched,
    Core,
    Feed,
    History,
    /// The risk engine v2 (`/risk/v2`).
    Risk,
}

pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: Value,
    /// Served as-is instead of `body` (the snapshot).
    pub(super) raw: Option<String>,
}

impl Reply {
    pub(super) fn json(status: u16, body: Value) -> Self {
        Self { status, body, raw: None }
    }
}

pub(super) fn ok(svc: Svc, data: Value) -> Reply {
    match svc {
        Svc::TxBuilder => Reply::json(200, json!({ "ok": true, "data": data })),
        _ => Reply::json(200, data),
    }
}

pub(super) fn err(svc: Svc, status: u16, code: &str, message: &str) -> Reply {
    match svc {
        // The history API answers HTTP 200 with `{success: false, errorMessage}`, except for a
        // rate limit or an outage, which a gateway answers with its own status.
        Svc::History if status < 429 => Reply::json(200, json!({ "success": false, "errorMessage": message })),
        Svc::History => Reply::json(status, json!({ "success": false, "errorMessage": message })),
        Svc::TxBuilder => Reply::json(status, json!({ "ok": false, "error": { "code": code, "message": message, "details": null } })),
        _ => {
            let error = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
            Reply::json(status, json!({ "statusCode": status, "message": [message], "error": error, "code": code }))
        }
    }
}

pub(super) fn full(status: u16, content_type: &str, text: String) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(text)).map_err(|never: Infallible| match never {}).boxed());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

pub(super) fn render(reply: Reply) -> Response<Body> {
    let text = reply.raw.unwrap_or_else(|| reply.body.to_string());
    full(reply.status, "application/json", text)
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(h) = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(h);
            i += 3;
            continue;
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn query_map(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// A request field as text: strings as-is, numbers as their JSON text.
pub(super) fn text(body: &Value, name: &str) -> Option<String> {
    match body.get(name)? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(super) fn address(s: &str) -> Option<Address> {
    Address::from_str(s.trim()).ok()
}

pub(super) fn uint(s: &str) -> Option<U256> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    U256::from_str_radix(s, 10).ok()
}

/// A human decimal at `scale` as raw units (exact; refused if too precise or negative).
pub(super) fn human(s: &str, scale: u32) -> Option<u64> {
    parse_scaled(s, scale).ok().and_then(|v| u64::try_from(v).ok())
}

pub(super) fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let h = s.trim().strip_prefix("0x")?;
    alloy::hex::decode(h).ok()
}

pub(super) fn hex(bytes: &[u8]) -> String {
    format!("0x{}", alloy::hex::encode(bytes))
}

pub(super) fn signature(s: &str) -> Option<Signature> {
    let b = hex_bytes(s)?;
    if b.len() != 65 {
        return None;
    }
    Signature::from_raw(&b).ok()
}

pub(super) fn u256_u64(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

pub(super) fn mul_div(a: u64, b: u128, d: u128) -> u64 {
    if d == 0 {
        return 0;
    }
    u64::try_from(u128::from(a).saturating_mul(b) / d).unwrap_or(u64::MAX)
}

pub(super) fn tx_hash(id: u64, tag: u8) -> String {
    let mut b = [0u8; 32];
    b[0] = tag;
    b[24..].copy_from_slice(&id.to_be_bytes());
    hex(&b)
}

pub(super) fn call_trade(t: &Trade) -> trading_call::Trade {
    trading_call::Trade {
        trader: t.trader,
        pairIndex: t.pairIndex,
        index: t.index,
        initialPosToken: t.initialPosToken,
        positionSizeUSDC: t.positionSizeUSDC,
        openPrice: t.openPrice,
        buy: t.buy,
        leverage: t.leverage,
        tp: t.tp,
        sl: t.sl,
        timestamp: t.timestamp,
    }
}

pub(super) fn intent_trade(t: &trading_call::Trade) -> Trade {
    Trade {
        trader: t.trader,
        pairIndex: t.pairIndex,
        index: t.index,
        initialPosToken: t.initialPosToken,
        positionSizeUSDC: t.positionSizeUSDC,
        openPrice: t.openPrice,
        buy: t.buy,
        leverage: t.leverage,
        tp: t.tp,
        sl: t.sl,
        timestamp: t.timestamp,
    }
}

macro_rules! field {
    ($svc:expr, $e:expr, $msg:expr) => {
        match $e {
            Some(v) => v,
            None => return err($svc, 400, "VALIDATION_ERROR", $msg),
        }
    };
}

/// Like `field!`, for parsers that return `Result<_, Reply>`.
macro_rules! need {
    ($svc:expr, $e:expr, $msg:expr) => {
        match $e {
            Some(v) => v,
            None => return Err(err($svc, 400, "VALIDATION_ERROR", $msg)),
        }
    };
}
