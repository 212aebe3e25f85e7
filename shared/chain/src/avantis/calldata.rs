//! Calldata builders (`POST /v2/trade/*`, reference §3.4): the tx-builder answers `CallData`
//! `{to, from, data, value, chainId, …}` for a transaction the caller signs and broadcasts itself
//! (the direct route, [`crate::direct::venue::DirectVenue`]).
//!
//! The request bodies are the intent builders' (human units as exact decimal strings, built from
//! the same [`OpenRequest`] / [`CloseRequest`]); the intent-only fields (`nonce`, and the close's
//! `openTimestamp`) are not sent. The builders are pure, so they are retried like reads.
//!
//! Avantis v2 has no calldata route for TP/SL updates (reference §2.9 and §3.8: the global TP/SL
//! is an `UpdateTpSlReq` intent PUT to the core API, in direct mode too); other builders of §3.4
//! can be called through [`AvantisClient::build_calldata`].
//!
//! What is checked here: the answer's shape (`to` an address, `data` non-empty 0x-hex, `value`
//! exact wei from `0x` hex or a decimal string), `chainId` (when present) equal to the configured
//! chain, and `from` (when present) equal to who will sign. Whether `to` is the trading contract
//! is checked by the caller against `/v2/meta` ([`CallData::check_target`]), and what the call
//! does — decoded with the trading contract's ABI and compared with the order field by field —
//! by [`super::trading_call`], before anything is signed.

use alloy::primitives::{Address, Bytes, U256};
use reqwest::Method;
use serde_json::{Value, json};
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::ids::TraderAddress;
use vanta_domain::money::format_scaled;

use super::catalog::AvantisMeta;
use super::intents::{CloseRequest, OpenRequest};
use super::{AvantisClient, CallError, Safety, Service};

/// A transaction as the tx-builder built it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallData {
    /// The contract to call.
    pub to: Address,
    /// ABI calldata.
    pub data: Bytes,
    /// Wei to send with the call (execution or oracle fee; usually 0).
    pub value: U256,
    /// Who must sign (the trader, or the delegate when one was named), when the API says.
    pub from: Option<Address>,
    /// The chain the API built it for, when it says.
    pub chain_id: Option<u64>,
    /// The API's human description (e.g. `Open long ETH/USD 10x with 100 USDC (market)`).
    pub description: Option<String>,
}

impl CallData {
    /// The first four bytes of `data`.
    pub fn selector(&self) -> Option<[u8; 4]> {
        self.data.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok())
    }

    /// Refuses calldata whose `to` is not the trading contract (`addresses.tradingRouter` of
    /// `/v2/meta`): a compromised or buggy API must not make us send a transaction elsewhere.
    pub fn check_target(&self, meta: &AvantisMeta) -> DomainResult<()> {
        if self.to != meta.trading_router {
            return Err(DomainError::refused_before_signing(format!(
                "the tx-builder's calldata targets {}, not the trading contract {} from /v2/meta",
                self.to, meta.trading_router
            )));
        }
        Ok(())
    }
}

/// Options of the calldata builders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// The delegate that signs for the trader: the API wraps the call in
    /// `delegatedAction(trader, calldata)` and `from` becomes the delegate.
    pub delegate: Option<TraderAddress>,
    /// `executionFeeWei` (the API's default when `None`).
    pub execution_fee_wei: Option<U256>,
}

impl CallOptions {
    /// Options for a transaction signed by `signer` for `trader` (a delegate when they differ).
    pub fn signed_by(signer: TraderAddress, trader: TraderAddress) -> Self {
        Self { delegate: (signer != trader).then_some(signer), execution_fee_wei: None }
    }

    /// Who signs: the delegate, else the trader.
    fn signer(&self, trader: TraderAddress) -> Address {
        self.delegate.unwrap_or(trader).address()
    }

    fn apply(&self, body: &mut Value) {
        if let Some(d) = self.delegate {
            put(body, "delegate", d.address().to_checksum(None));
        }
        if let Some(fee) = self.execution_fee_wei {
            put(body, "executionFeeWei", fee.to_string());
        }
    }
}

fn put(body: &mut Value, key: &str, value: String) {
    if let Some(o) = body.as_object_mut() {
        o.insert(key.to_owned(), Value::String(value));
    }
}

/// The `POST /v2/trade/open` body of a market open (the `/v2/intents/open` fields but `nonce`).
pub fn open_body(r: &OpenRequest, opts: &CallOptions) -> Value {
    let mut body = json!({
        "trader": r.trader.address().to_checksum(None),
        "pairIndex": r.pair.0.to_string(),
        "side": r.side.as_str(),
        "orderType": if r.pnl { "market_pnl" } else { "market" },
        "collateralUsdc": r.collateral.to_string(),
        "leverage": format_scaled(i128::from(r.leverage.raw()), 10),
        "openPrice": r.open_price.to_string(),
        "slippagePercent": r.slippage.to_string(),
    });
    if let Some(tp) = r.tp {
        put(&mut body, "takeProfit", tp.to_string());
    }
    if let Some(sl) = r.sl {
        put(&mut body, "stopLoss", sl.to_string());
    }
    opts.apply(&mut body);
    body
}

/// The `POST /v2/trade/close` body of a market close.
pub fn close_body(r: &CloseRequest, opts: &CallOptions) -> Value {
    let mut body = json!({
        "trader": r.trader.address().to_checksum(None),
        "pairIndex": r.pair.0.to_string(),
        "tradeIndex": r.trade_index.to_string(),
        "collateralToCloseUsdc": r.collateral.to_string(),
    });
    if let Some(p) = r.expected_price {
        put(&mut body, "expectedPrice", p.to_string());
    }
    opts.apply(&mut body);
    body
}

/// Wei from the API's `value`: `0x` hex, a decimal string, or a JSON integer. Exact.
pub fn parse_wei(v: &Value) -> Option<U256> {
    match v {
        Value::String(s) => {
            let s = s.trim();
            if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                if h.is_empty() || h.len() > 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                U256::from_str_radix(h, 16).ok()
            } else if !s.is_empty() && s.len() <= 78 && s.bytes().all(|b| b.is_ascii_digit()) {
                U256::from_str_radix(s, 10).ok()
            } else {
                None
            }
        }
        Value::Number(n) => n.as_u64().map(U256::from),
        _ => None,
    }
}

/// Reads a `CallData` answer (the envelope's `data`). `signer` is who will sign, checked against
/// `from` when the API gives it.
pub fn parse_calldata(text: &str, chain_id: u64, signer: Option<Address>) -> DomainResult<CallData> {
    let bad = |m: String| DomainError::Internal(format!("Avantis calldata: {m}; not sent"));
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let to = v.get("to").and_then(Value::as_str).and_then(super::parse_address).ok_or_else(|| bad("no `to` address".into()))?;
    let data_hex = v.get("data").and_then(Value::as_str).ok_or_else(|| bad("no `data`".into()))?;
    let data =
        data_hex.trim().strip_prefix("0x").and_then(|h| alloy::hex::decode(h).ok()).ok_or_else(|| bad("`data` is not 0x-hex".into()))?;
    if data.len() < 4 {
        return Err(bad("`data` has no function selector".into()));
    }
    let value = match v.get("value") {
        None | Some(Value::Null) => U256::ZERO,
        Some(raw) => parse_wei(raw).ok_or_else(|| bad(format!("`value` {raw} is not wei")))?,
    };
    let from = match v.get("from") {
        None | Some(Value::Null) => None,
        Some(f) => Some(f.as_str().and_then(super::parse_address).ok_or_else(|| bad("`from` is not an address".into()))?),
    };
    if let (Some(f), Some(s)) = (from, signer)
        && f != s
    {
        return Err(bad(format!("it must be signed by {f}, not by {s}")));
    }
    let answered_chain = match v.get("chainId") {
        None | Some(Value::Null) => None,
        Some(c) => Some(super::decimal::json_u64(c).ok_or_else(|| bad("`chainId` is not an integer".into()))?),
    };
    if let Some(c) = answered_chain
        && c != chain_id
    {
        return Err(bad(format!("built for chain {c}, configured chain is {chain_id}")));
    }
    let description = v.get("description").and_then(Value::as_str).map(str::to_owned);
    Ok(CallData { to, data: Bytes::from(data), value, from, chain_id: answered_chain, description })
}

impl AvantisClient {
    /// `POST /v2/{path}` of a calldata builder (e.g. `trade/open`) with `body`; the answer is
    /// checked by [`parse_calldata`]. Pure on the server side: retried like a read.
    pub async fn build_calldata(&self, path: &str, body: &Value, signer: Option<Address>) -> DomainResult<CallData> {
        let path = format!("/v2/{}", path.trim_start_matches('/'));
        let text =
            self.call(Service::TxBuilder, Method::POST, &path, &[], Some(body), Safety::Idempotent).await.map_err(CallError::for_read)?;
        parse_calldata(&text, self.cfg.chain_id, signer)
    }

    /// Calldata of a market open (`/v2/trade/open`).
    pub async fn open_calldata(&self, r: &OpenRequest, opts: &CallOptions) -> DomainResult<CallData> {
        self.build_calldata("trade/open", &open_body(r, opts), Some(opts.signer(r.trader))).await
    }

    /// Calldata of a market close (`/v2/trade/close`).
    pub async fn close_calldata(&self, r: &CloseRequest, opts: &CallOptions) -> DomainResult<CallData> {
        self.build_calldata("trade/close", &close_body(r, opts), Some(opts.signer(r.trader))).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wei_is_read_exactly() {
        assert_eq!(parse_wei(&json!("0x0")), Some(U256::ZERO));
        assert_eq!(parse_wei(&json!("0x1")), Some(U256::from(1u8)));
        assert_eq!(parse_wei(&json!("0xde0b6b3a7640000")), Some(U256::from(1_000_000_000_000_000_000u128)));
        assert_eq!(parse_wei(&json!("1000")), Some(U256::from(1000u16)));
        assert_eq!(parse_wei(&json!(7)), Some(U256::from(7u8)));
        assert_eq!(parse_wei(&json!("0x")), None);
        assert_eq!(parse_wei(&json!("1.5")), None);
        assert_eq!(parse_wei(&json!(1.5)), None);
        assert_eq!(parse_wei(&json!("-1")), None);
    }

    #[test]
    fn calldata_answers_are_checked() {
        let me = Address::repeat_byte(0x11);
        let ok = r#"{"to":"0x5FbDB2315678afecb367f032d93F642f64180aa3","from":"0x1111111111111111111111111111111111111111","data":"0xdeadbeef","value":"0x0","chainId":31337,"description":"Open long ETH/USD"}"#;
        let c = parse_calldata(ok, 31337, Some(me)).unwrap();
        assert_eq!(c.selector(), Some([0xde, 0xad, 0xbe, 0xef]));
        assert_eq!((c.value, c.from, c.chain_id), (U256::ZERO, Some(me), Some(31337)));
        assert!(parse_calldata(ok, 8453, Some(me)).is_err(), "other chain");
        assert!(parse_calldata(ok, 31337, Some(Address::repeat_byte(0x22))).is_err(), "other signer");
        assert!(parse_calldata(r#"{"to":"0x5FbDB2315678afecb367f032d93F642f64180aa3","data":"0x","value":"0x0"}"#, 31337, None).is_err());
        assert!(parse_calldata(r#"{"to":"nope","data":"0xdeadbeef"}"#, 31337, None).is_err());
        assert!(
            parse_calldata(r#"{"to":"0x5FbDB2315678afecb367f032d93F642f64180aa3","data":"0xdeadbeef","value":"1e18"}"#, 31337, None)
                .is_err()
        );
    }
}
