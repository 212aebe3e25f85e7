//! Checks on what clients submit: signatures (recovered against the trading domain), and a
//! market submission's intent, deadline, nonce, signer and optional EIP-7702 leg.

use alloy::primitives::{Address, Signature, U256};
use alloy::sol_types::SolValue;
use serde_json::Value;
use vanta_chain::avantis::eip7702::{
    DEFAULT_DELEGATION_TEMPLATE, DecodedExecute, EXECUTION_MODE_OP_DATA, authorization_digest, execute_digest,
};
use vanta_chain::avantis::trading_call::{TradingAction, TradingCall};
use vanta_chain::eip712::{CloseTradeReq, Intent, OpenTradeReq};
use vanta_chain::signer::recover_address;

use super::wire::{address, hex_bytes, signature};
use super::{State, now_ms};

/// Recovers the signer of `intent` from a hex signature.
pub(super) fn signer_of(st: &State, intent: &Intent, sig_hex: &str) -> Option<Address> {
    let sig = signature(sig_hex)?;
    recover_address(intent.digest(&st.domain()), &sig).ok()
}

/// Validates a submission; returns the intent and its signer.
pub(super) fn validate_submission(st: &State, body: &Value) -> Result<(u8, Intent, Address), String> {
    let order_type = body.get("orderType").and_then(Value::as_u64).ok_or("orderType must be a JSON integer")?;
    let order_type = u8::try_from(order_type).map_err(|_| "orderType must be one of the supported values")?;
    if ![0u8, 1, 6, 7, 9, 12, 13, 14, 15, 16].contains(&order_type) {
        return Err("orderType must be one of the supported values".into());
    }
    let erc = body.get("erc712").ok_or("erc712 is required")?;
    let bytes = erc.get("userIntent").and_then(Value::as_str).and_then(hex_bytes).ok_or("erc712.userIntent must be 0x-hex")?;
    let sig = erc.get("userSignature").and_then(Value::as_str).ok_or("erc712.userSignature must be 0x-hex")?;
    let intent = match order_type {
        0 | 6 => Intent::OpenTradeReq(OpenTradeReq::abi_decode(&bytes).map_err(|e| format!("malformed intent: {e}"))?),
        1 | 7 => Intent::CloseTradeReq(CloseTradeReq::abi_decode(&bytes).map_err(|e| format!("malformed intent: {e}"))?),
        _ => return Err(format!("orderType {order_type} is not supported by the fake")),
    };
    let signer = signer_of(st, &intent, sig).ok_or("malformed signature")?;
    let (trader, deadline, nonce) = match &intent {
        Intent::OpenTradeReq(m) => {
            let pnl = m._type == 3;
            if pnl != (order_type == 6) {
                return Err("PnlOrderNotAllowed: order type and intent type differ".into());
            }
            (m._t.trader, m._deadline, m._nonce)
        }
        Intent::CloseTradeReq(m) => (m._trader, m._deadline, m._nonce),
        _ => return Err("unsupported intent".into()),
    };
    if !st.authorized(trader, signer) {
        return Err(format!("signer {signer} is neither the trader nor an active delegate"));
    }
    if deadline < U256::from(now_ms()) {
        return Err("InvalidDeadline: the intent has expired".into());
    }
    if st.used_nonces.contains(&(signer, nonce)) {
        return Err("InvalidNonce: nonce already used".into());
    }
    check_eip7702(st, body, signer, &intent)?;
    Ok((order_type, intent, signer))
}

/// The EIP-7702 leg (`RelayRequestParamsDto`), optional unless [`FakeAvantis::require_eip7702`].
/// When sent it must be a type-4 relay the chain would run as the same order: the smart account
/// is the intent's signer's own EOA, the calldata an ERC-7821 `execute(bytes32,bytes)` in op-data
/// mode signed by that EOA, running one call to the trading router that is the intent's order
/// (open price aside: the venue fills at its own), every authorisation for the delegation
/// template, this chain, signed by the EOA. Numbers are strings.
pub(super) fn check_eip7702(st: &State, body: &Value, signer: Address, intent: &Intent) -> Result<(), String> {
    let Some(leg) = body.get("eip7702") else {
        if st.require_eip7702 {
            return Err("eip7702 is required: this deployment executes market orders through EIP-7702".into());
        }
        return Ok(());
    };
    let s = |name: &str| leg.get(name).and_then(Value::as_str).ok_or_else(|| format!("eip7702.{name} must be a string"));
    let digits = |name: &str, v: &str| {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            Ok(())
        } else {
            Err(format!("eip7702.{name} must be a decimal string"))
        }
    };
    let chain = s("chainId")?;
    digits("chainId", chain)?;
    if chain != st.chain_id.to_string() {
        return Err(format!("eip7702.chainId {chain} is not chain {}", st.chain_id));
    }
    let to = address(s("to")?).ok_or("eip7702.to must be an address")?;
    if to != signer {
        return Err(format!("eip7702.to {to} is not the intent's signer {signer}"));
    }
    let data = hex_bytes(s("data")?).ok_or("eip7702.data must be 0x-hex")?;
    let exec = DecodedExecute::decode(&data).map_err(|e| format!("eip7702.data: {e}"))?;
    if exec.mode != EXECUTION_MODE_OP_DATA {
        return Err("eip7702.data: not the ERC-7821 op-data batch mode".into());
    }
    let sig = Signature::from_raw(&exec.signature).map_err(|_| "eip7702.data: malformed smart-account signature")?;
    if recover_address(execute_digest(signer, st.chain_id, &exec.calls, exec.nonce), &sig).ok() != Some(signer) {
        return Err(format!("eip7702.data: the smart-account call is not signed by {signer}"));
    }
    let [call] = exec.calls.as_slice() else {
        return Err(format!("eip7702.data runs {} calls, not the one order", exec.calls.len()));
    };
    if call.to != st.router {
        return Err(format!("eip7702.data calls {}, not the trading router", call.to));
    }
    let order = TradingCall::decode(&call.data).map_err(|e| format!("eip7702.data: {e}"))?;
    same_order(intent, &order, signer).map_err(|f| format!("eip7702.data is not the intent's order ({f} differs)"))?;
    digits("gas", s("gas")?)?;
    let auths = leg.get("authorizationList").and_then(Value::as_array).ok_or("eip7702.authorizationList must be an array")?;
    if auths.is_empty() {
        return Err("eip7702.authorizationList must not be empty (a type-4 transaction carries one)".into());
    }
    for a in auths {
        let f =
            |name: &str| a.get(name).and_then(Value::as_str).ok_or_else(|| format!("eip7702.authorizationList[].{name} must be a string"));
        let template = address(f("address")?).ok_or("eip7702.authorizationList[].address must be an address")?;
        if template != DEFAULT_DELEGATION_TEMPLATE {
            return Err(format!("eip7702.authorizationList[].address {template} is not the delegation template"));
        }
        if f("chainId")? != st.chain_id.to_string() {
            return Err("eip7702.authorizationList[].chainId is not this chain".into());
        }
        let nonce = f("nonce")?;
        digits("authorizationList[].nonce", nonce)?;
        digits("authorizationList[].v", f("v")?)?;
        let mut rs = [U256::ZERO; 2];
        for (slot, name) in rs.iter_mut().zip(["r", "s"]) {
            let b = hex_bytes(f(name)?)
                .filter(|b| b.len() <= 32)
                .ok_or_else(|| format!("eip7702.authorizationList[].{name} must be 32-byte hex"))?;
            *slot = U256::from_be_slice(&b);
        }
        let parity = match a.get("yParity").and_then(Value::as_u64) {
            Some(p @ (0 | 1)) => p == 1,
            _ => return Err("eip7702.authorizationList[].yParity must be 0 or 1".into()),
        };
        let nonce: u64 = nonce.parse().map_err(|_| "eip7702.authorizationList[].nonce is too large")?;
        let auth_sig = Signature::new(rs[0], rs[1], parity);
        if recover_address(authorization_digest(st.chain_id, template, nonce), &auth_sig).ok() != Some(signer) {
            return Err(format!("eip7702.authorizationList[] is not signed by {signer}"));
        }
    }
    Ok(())
}

/// Whether the leg's trading call is the intent's order; `Err` names the first field that differs.
pub(super) fn same_order(intent: &Intent, call: &TradingCall, signer: Address) -> Result<(), &'static str> {
    let first = |checks: &[(&'static str, bool)]| checks.iter().find(|(_, same)| !same).map_or(Ok(()), |(f, _)| Err(*f));
    match (intent, &call.action) {
        (Intent::OpenTradeReq(m), TradingAction::Open(c)) => first(&[
            ("trader", call.acting_for(signer) == m._t.trader && c.t.trader == m._t.trader),
            ("pair", c.t.pairIndex == m._t.pairIndex),
            ("side", c.t.buy == m._t.buy),
            ("collateral", c.t.positionSizeUSDC == m._t.positionSizeUSDC),
            ("leverage", c.t.leverage == m._t.leverage),
            ("tp", c.t.tp == m._t.tp),
            ("sl", c.t.sl == m._t.sl),
            ("order type", c._type == m._type),
            ("slippage", c._slippageP == m._slippageP),
        ]),
        (Intent::CloseTradeReq(m), TradingAction::Close(c)) => first(&[
            ("trader", call.acting_for(signer) == m._trader),
            ("pair", c._pairIndex == m._pairIndex),
            ("trade index", c._index == m._index),
            ("amount", c._amount == m._amount),
        ]),
        _ => Err("the function"),
    }
}
