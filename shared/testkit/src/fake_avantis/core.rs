//! The core service (`{core}`): `GET /user-data` (positions with their price triggers) and the
//! price triggers: `POST /price-triggers` (partial TP/SL), `PUT /price-triggers/{id}` (a global
//! TP/SL update, landed by the operator after a delay, or a partial replaced), `DELETE`.

use std::collections::HashMap;

use alloy::primitives::{Address, I256, U256};
use alloy::sol_types::SolValue;
use serde_json::{Value, json};
use vanta_chain::eip712::{CancelOffchainOrder, Intent, TpSlReq, UpdateTpSlReq};

use super::book::{coin_size, corrected_tp, find_position, liquidation_price};
use super::validate::signer_of;
use super::wire::{Reply, Svc, address, err, hex_bytes, ok, text, u256_u64, uint};
use super::{FakePosition, PendingTpSl, State, StoredTrigger, now_ms};

pub(super) fn core_position_json(st: &State, p: &FakePosition) -> Value {
    let trader = p.trader.to_checksum(None);
    let mut triggers = Vec::new();
    for (leg, order_type, price) in [("tp", 0u8, p.tp), ("sl", 1u8, p.sl)] {
        if price != 0 {
            triggers.push(json!({
                "entityId": format!("global-{leg}-{trader}-{}-{}", p.pair, p.index), "trader": trader, "pairIndex": p.pair, "index": p.index,
                "timestamp": p.opened_at, "triggerType": 0, "coinSize": coin_size(p).to_string(), "buy": p.buy, "price": price.to_string(),
                "percentage": "0", "signTimestamp": p.opened_at * 1000, "orderType": order_type, "nonce": "0",
                "finalTriggerPrice": price.to_string(), "isGlobal": true,
            }));
        }
    }
    for t in st
        .triggers
        .iter()
        .filter(|t| t.req.trader == p.trader && t.req.pairIndex == U256::from(p.pair) && t.req.index == U256::from(p.index))
    {
        triggers.push(json!({
            "entityId": t.entity_id, "trader": trader, "pairIndex": p.pair, "index": p.index, "timestamp": u256_u64(t.req.timestamp),
            "triggerType": t.req.triggerType, "coinSize": t.req.coinSize.to_string(), "buy": t.req.buy, "price": t.req.price.to_string(),
            "percentage": t.req.percentage.to_string(), "signTimestamp": u256_u64(t.req.signTimestamp), "orderType": t.req.orderType,
            "nonce": t.req.nonce.to_string(), "finalTriggerPrice": t.req.price.to_string(), "isGlobal": false,
        }));
    }
    json!({
        "trader": trader, "pairIndex": p.pair, "index": p.index, "buy": p.buy, "isPnl": p.is_pnl,
        "collateral": p.collateral.to_string(), "leverage": p.leverage.to_string(), "openPrice": p.open_price.to_string(),
        "tp": p.tp.to_string(), "sl": p.sl.to_string(), "liquidationPrice": liquidation_price(p).to_string(),
        "rolloverFee": "0", "unrealisedFundingFee": "0", "lossProtection": "0", "openedAt": p.opened_at, "priceTriggers": triggers,
    })
}

/// `GET /user-data?trader=`: the trader's positions (those the venue does not hide right now).
pub(super) fn user_data(st: &mut State, svc: Svc, q: &HashMap<String, String>) -> Reply {
    let trader = q.get("trader").and_then(|t| address(t));
    let positions: Vec<Value> = trader
        .map(|t| st.book.iter().filter(|p| p.trader == t && !st.events.hides(p)).map(|p| core_position_json(st, p)).collect())
        .unwrap_or_default();
    if let Some(t) = trader {
        st.events.read_by(t);
    }
    let limit_orders = super::limits::limit_orders_json(st, trader);
    ok(svc, json!({ "positions": positions, "limitOrders": limit_orders }))
}

/// `PUT /price-triggers/{id}`: a global TP/SL update (`global-…` ids) or a partial replaced.
pub(super) fn price_trigger_put(st: &mut State, svc: Svc, rest: &str, body: &Value) -> Reply {
    let id = rest.trim_start_matches("/price-triggers/").to_owned();
    if id.starts_with("global-") { global_tpsl(st, svc, &id, body) } else { trigger_replace(st, svc, &id, body) }
}

pub(super) fn tpsl_from_body(body: &Value) -> Option<TpSlReq> {
    let num = |n: &str| text(body, n).and_then(|t| uint(&t));
    Some(TpSlReq {
        trader: address(&text(body, "trader")?)?,
        pairIndex: num("pairIndex")?,
        index: num("index")?,
        triggerType: u8::try_from(num("triggerType")?).ok()?,
        coinSize: num("coinSize")?,
        buy: body.get("buy")?.as_bool()?,
        price: num("price")?,
        percentage: I256::from_dec_str(&text(body, "percentage")?).ok()?,
        timestamp: num("timestamp")?,
        signTimestamp: num("signTimestamp")?,
        orderType: u8::try_from(num("orderType")?).ok()?,
        nonce: num("nonce").unwrap_or(U256::ZERO),
    })
}

pub(super) fn verified_tpsl(st: &State, svc: Svc, body: &Value) -> Result<(TpSlReq, Address), Reply> {
    let req = tpsl_from_body(body).ok_or_else(|| err(svc, 400, "VALIDATION_ERROR", "malformed TpSlReq fields"))?;
    let sig = text(body, "signedMessage").ok_or_else(|| err(svc, 400, "VALIDATION_ERROR", "signedMessage is required"))?;
    let signer =
        signer_of(st, &Intent::TpSlReq(req.clone()), &sig).ok_or_else(|| err(svc, 400, "VALIDATION_ERROR", "malformed signature"))?;
    if !st.authorized(req.trader, signer) {
        return Err(err(svc, 403, "FORBIDDEN", "signature is neither the trader's nor an active delegate's"));
    }
    if req.signTimestamp > U256::from(now_ms() + 5_000) {
        return Err(err(svc, 400, "VALIDATION_ERROR", "signTimestamp is in the future"));
    }
    let pair = u16::try_from(req.pairIndex).unwrap_or(u16::MAX);
    let index = u32::try_from(req.index).unwrap_or(u32::MAX);
    match find_position(st, req.trader, pair, index) {
        Some(p) if U256::from(p.opened_at) == req.timestamp => Ok((req, signer)),
        Some(_) => Err(err(svc, 400, "BAD_REQUEST", "PositionMismatch: timestamp differs from the position's")),
        None => Err(err(svc, 404, "NOT_FOUND", "no such position")),
    }
}

pub(super) fn entity_id(st: &mut State) -> String {
    let n = st.fresh_id();
    format!("665f1c2ab7a1b2c3{n:08x}")
}

pub(super) fn trigger_create(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let (req, _) = match verified_tpsl(st, svc, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = entity_id(st);
    let reply = json!({ "entityId": id, "trader": req.trader.to_checksum(None), "pairIndex": u256_u64(req.pairIndex),
                        "index": u256_u64(req.index), "isGlobal": false, "orderType": req.orderType });
    st.triggers.push(StoredTrigger { entity_id: id, req });
    ok(svc, reply)
}

pub(super) fn trigger_replace(st: &mut State, svc: Svc, id: &str, body: &Value) -> Reply {
    let Some(pos) = st.triggers.iter().position(|t| t.entity_id == id) else {
        return err(svc, 404, "NOT_FOUND", "no such price trigger");
    };
    let (req, _) = match verified_tpsl(st, svc, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    st.triggers.remove(pos);
    let new_id = entity_id(st);
    st.triggers.push(StoredTrigger { entity_id: new_id.clone(), req });
    ok(svc, json!({ "success": true, "result": { "oldEntityId": id, "newEntityId": new_id } }))
}

pub(super) fn trigger_delete(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let id = field!(svc, text(body, "entityId"), "entityId is required");
    let sig = field!(svc, text(body, "signedMessage"), "signedMessage is required");
    let Some(pos) = st.triggers.iter().position(|t| t.entity_id == id) else {
        return err(svc, 404, "NOT_FOUND", "no such price trigger");
    };
    let Some(signer) = signer_of(st, &Intent::CancelOffchainOrder(CancelOffchainOrder { entityId: id.clone() }), &sig) else {
        return err(svc, 400, "VALIDATION_ERROR", "malformed signature");
    };
    let owner = st.triggers.get(pos).map_or(Address::ZERO, |t| t.req.trader);
    if !st.authorized(owner, signer) {
        return err(svc, 403, "FORBIDDEN", "signature is neither the trader's nor an active delegate's");
    }
    st.triggers.remove(pos);
    ok(svc, json!({}))
}

pub(super) fn global_tpsl(st: &mut State, svc: Svc, id: &str, body: &Value) -> Reply {
    // global-{tp|sl}-{trader}-{pair}-{index}
    let parts: Vec<&str> = id.split('-').collect();
    let (Some(leg), Some(trader), Some(pair), Some(index)) = (parts.get(1), parts.get(2), parts.get(3), parts.get(4)) else {
        return err(svc, 400, "VALIDATION_ERROR", "malformed global trigger id");
    };
    let (Some(trader), Ok(pair), Ok(index)) = (address(trader), pair.parse::<u16>(), index.parse::<u32>()) else {
        return err(svc, 400, "VALIDATION_ERROR", "malformed global trigger id");
    };
    if !matches!(*leg, "tp" | "sl") || parts.len() != 5 {
        return err(svc, 400, "VALIDATION_ERROR", "malformed global trigger id");
    }
    let Some(bytes) = text(body, "userIntent").and_then(|t| hex_bytes(&t)) else {
        return err(svc, 400, "VALIDATION_ERROR", "userIntent must be 0x-hex");
    };
    let Ok(m) = UpdateTpSlReq::abi_decode(&bytes) else {
        return err(svc, 400, "VALIDATION_ERROR", "userIntent is not an UpdateTpSlReq");
    };
    let sig = field!(svc, text(body, "signedMessage"), "signedMessage is required");
    let Some(signer) = signer_of(st, &Intent::UpdateTpSlReq(m.clone()), &sig) else {
        return err(svc, 400, "VALIDATION_ERROR", "malformed signature");
    };
    if m.trader != trader || m._pairIndex != U256::from(pair) || m._index != U256::from(index) {
        return err(svc, 400, "BAD_REQUEST", "the id does not match the signed intent");
    }
    if !st.authorized(trader, signer) {
        return err(svc, 403, "FORBIDDEN", "signature is neither the trader's nor an active delegate's");
    }
    if m._deadline < U256::from(now_ms()) {
        return err(svc, 400, "BAD_REQUEST", "InvalidDeadline");
    }
    if !st.used_nonces.insert((signer, m._nonce)) {
        return err(svc, 400, "BAD_REQUEST", "InvalidNonce");
    }
    let max_gain = st.pairs.get(&pair).map_or(2500, |p| p.max_gain_p);
    let Some(p) = st.book.iter().find(|p| p.trader == trader && p.pair == pair && p.index == index) else {
        return err(svc, 404, "NOT_FOUND", "no such position");
    };
    // Accepted, not executed: the operator lands it after `tpsl_delay` (a TP of 0 resets to the
    // max-gain cap), and only then does `/user-data` show it.
    let update = PendingTpSl {
        due_ms: now_ms().saturating_add(u64::try_from(st.tpsl_delay.as_millis()).unwrap_or(u64::MAX)),
        trader,
        pair,
        index,
        tp: corrected_tp(p.open_price, p.leverage, p.buy, u256_u64(m._newTp), max_gain),
        sl: u256_u64(m._newSl),
    };
    st.pending_tpsl.push(update);
    ok(svc, json!({ "success": true, "accepted": true }))
}
