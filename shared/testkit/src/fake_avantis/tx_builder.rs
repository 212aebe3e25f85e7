//! The tx-builder service (`{tx_builder}`, `{ok, data}` envelope): `GET /v2/meta`, `/v2/pairs`,
//! `/v2/positions`, `/v2/delegation`, `/v2/nonce`, `/v2/allowance`; the intent builders
//! `POST /v2/intents/{open,close,tpsl-update,tpsl-partial,offchain-cancel}` (real EIP-712 typed
//! data, digest and `encodedIntent`); and the calldata builders of the direct route
//! `POST /v2/trade/{open,close}`.

use std::collections::HashMap;

use alloy::primitives::{Address, B256, I256, U256};
use serde_json::{Value, json};
use vanta_chain::avantis::eip7702::DEFAULT_DELEGATION_TEMPLATE;
use vanta_chain::avantis::trading_call::{self, TradingAction, TradingCall};
use vanta_chain::eip712::{
    CancelOffchainOrder, CloseTradeReq, Intent, IntentKind, OpenTradeReq, TpSlReq, Trade, UpdateTpSlReq, random_nonce,
};
use vanta_domain::money::parse_scaled;

use super::book::{coin_size, find_position, liquidation_price};
use super::wire::{Reply, Svc, address, call_trade, err, hex, human, mul_div, ok, text, u256_u64, uint};
use super::{CalldataTamper, FakePosition, INTENT_TTL_MS, PairRow, State, TAMPER_ADDRESS, now_ms, now_s};

pub(super) fn meta(st: &State) -> Value {
    let router = st.router.to_checksum(None);
    json!({
        "chainId": st.chain_id,
        "addresses": {
            "tradingRouter": router,
            "tradingStorage": "0x8a311D7048c35985aa31C131B9A13e03a5f7422d",
            "usdc": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
            "referral": "0x1A110bBA13A1f16cCa4b79758BD39290f29De82D",
            "delegationTemplate": DEFAULT_DELEGATION_TEMPLATE.to_checksum(None),
        },
        "eip712": {
            "trading": { "name": "AvantisTrading", "version": "1", "chainId": st.chain_id, "verifyingContract": router },
            "referral": { "name": "AvantisTrading", "version": "1", "chainId": st.chain_id, "verifyingContract": "0x1A110bBA13A1f16cCa4b79758BD39290f29De82D" },
            "signatureFormat": "rsv-65-bytes",
        },
        "enums": { "openOrderType": { "market": 0, "stop_limit": 1, "limit": 2, "market_pnl": 3 } },
        "units": { "price": "1e10", "leverage": "1e10", "usdc": "1e6" },
        "defaults": { "executionFeeWei": st.execution_fee_wei.to_string(), "intentDeadlineMs": INTENT_TTL_MS, "slippagePercent": "1" },
    })
}

/// `GET /v2/pairs`: index and symbol of every pair with both assets named.
pub(super) fn pairs(st: &State, svc: Svc) -> Reply {
    ok(
        svc,
        Value::Array(
            st.pairs
                .iter()
                .filter(|(_, p)| !p.from.is_empty() && !p.to.is_empty())
                .map(|(i, p)| json!({ "index": i, "symbol": p.symbol, "from": p.from, "to": p.to }))
                .collect(),
        ),
    )
}

/// `GET /v2/positions?trader=`: the trader's open trades as the contract stores them.
pub(super) fn positions(st: &mut State, svc: Svc, q: &HashMap<String, String>) -> Reply {
    let trader = q.get("trader").and_then(|t| address(t));
    let trades: Vec<Value> = trader
        .map(|t| st.book.iter().filter(|p| p.trader == t && !st.events.hides(p)).map(onchain_trade_json).collect())
        .unwrap_or_default();
    if let Some(t) = trader {
        st.events.read_by(t);
    }
    let limit_orders = super::limits::limit_orders_json(st, trader);
    ok(svc, json!({ "trader": trader.map(|t| t.to_checksum(None)), "trades": trades, "limitOrders": limit_orders }))
}

/// `GET /v2/delegation?trader=&delegate=`.
pub(super) fn delegation(st: &State, svc: Svc, q: &HashMap<String, String>) -> Reply {
    let (Some(trader), Some(delegate)) = (q.get("trader").and_then(|t| address(t)), q.get("delegate").and_then(|d| address(d))) else {
        return err(svc, 400, "VALIDATION_ERROR", "trader and delegate are required addresses");
    };
    let (enabled, expiry) = st.delegations.get(&(trader, delegate)).copied().unwrap_or((false, 0));
    let active = enabled && expiry > now_s();
    let (action, intents) = st.delegate_caps.get(&(trader, delegate)).copied().unwrap_or((true, true));
    ok(svc, json!({ "isEnabled": enabled, "expiry": expiry, "canDelegatedAction": active && action, "canSignIntents": active && intents }))
}

/// `GET /v2/nonce?trader=[&check=]`: a fresh random nonce, or whether `check` is used.
pub(super) fn nonce(st: &State, svc: Svc, q: &HashMap<String, String>) -> Reply {
    let Some(signer) = q.get("trader").and_then(|t| address(t)) else {
        return err(svc, 400, "VALIDATION_ERROR", "trader must be an address");
    };
    let nonce = match q.get("check") {
        Some(c) => match uint(c) {
            Some(n) => n,
            None => return err(svc, 400, "VALIDATION_ERROR", "check must be a uint256"),
        },
        None => random_nonce(),
    };
    let used = st.used_nonces.contains(&(signer, nonce));
    ok(
        svc,
        json!({ "nonce": nonce.to_string(), "wordPos": (nonce >> 8usize).to_string(), "bitPos": u256_u64(nonce & U256::from(0xffu8)), "used": used }),
    )
}

/// `GET /v2/allowance?trader=`: the wallet balance and an unlimited allowance.
pub(super) fn allowance(st: &State, svc: Svc, q: &HashMap<String, String>) -> Reply {
    let Some(trader) = q.get("trader").and_then(|t| address(t)) else {
        return err(svc, 400, "VALIDATION_ERROR", "trader must be an address");
    };
    let balance = st.balances.get(&trader).copied().unwrap_or(0);
    let human: Value = serde_json::from_str(&vanta_domain::money::format_scaled(i128::from(balance), 6)).unwrap_or(Value::Null);
    ok(
        svc,
        json!({ "trader": trader.to_checksum(None), "spender": "0x8a311D7048c35985aa31C131B9A13e03a5f7422d",
                "balance": balance.to_string(), "allowance": U256::MAX.to_string(), "balanceUsdc": human }),
    )
}

pub(super) fn onchain_trade_json(p: &FakePosition) -> Value {
    json!({
        "trader": p.trader.to_checksum(None), "pairIndex": p.pair.to_string(), "index": p.index.to_string(),
        "initialPosToken": p.collateral.to_string(), "positionSizeUSDC": mul_div(p.collateral, u128::from(p.leverage), 10_000_000_000).to_string(),
        "openPrice": p.open_price.to_string(), "buy": p.buy, "leverage": p.leverage.to_string(), "tp": p.tp.to_string(), "sl": p.sl.to_string(),
        "timestamp": p.opened_at.to_string(), "coinExposure": coin_size(p).to_string(), "liquidationPrice": liquidation_price(p).to_string(),
    })
}

/// The `types` object (without `EIP712Domain`) described by an `encodeType` string.
pub(super) fn types_json(kind: IntentKind) -> Value {
    let enc = kind.encode_type();
    let mut out = serde_json::Map::new();
    for part in enc.split(')').filter(|p| !p.is_empty()) {
        let Some((name, fields)) = part.split_once('(') else { continue };
        let list: Vec<Value> = fields
            .split(',')
            .filter(|f| !f.is_empty())
            .filter_map(|f| f.rsplit_once(' ').map(|(t, n)| json!({ "name": n, "type": t })))
            .collect();
        out.insert(name.to_owned(), Value::Array(list));
    }
    Value::Object(out)
}

pub(super) fn trade_json(t: &Trade) -> Value {
    json!({
        "trader": t.trader.to_checksum(None), "pairIndex": t.pairIndex.to_string(), "index": t.index.to_string(),
        "initialPosToken": t.initialPosToken.to_string(), "positionSizeUSDC": t.positionSizeUSDC.to_string(),
        "openPrice": t.openPrice.to_string(), "buy": t.buy, "leverage": t.leverage.to_string(), "tp": t.tp.to_string(),
        "sl": t.sl.to_string(), "timestamp": t.timestamp.to_string(),
    })
}

pub(super) fn message_json(intent: &Intent) -> Value {
    match intent {
        Intent::OpenTradeReq(m) => json!({
            "_t": trade_json(&m._t), "_type": m._type, "_slippageP": m._slippageP.to_string(),
            "_deadline": m._deadline.to_string(), "_nonce": m._nonce.to_string(),
        }),
        Intent::CloseTradeReq(m) => json!({
            "_trader": m._trader.to_checksum(None), "_pairIndex": m._pairIndex.to_string(), "_index": m._index.to_string(),
            "_openTimestamp": m._openTimestamp.to_string(), "_amount": m._amount.to_string(), "_wantedPrice": m._wantedPrice.to_string(),
            "_deadline": m._deadline.to_string(), "_nonce": m._nonce.to_string(),
        }),
        Intent::UpdateTpSlReq(m) => json!({
            "trader": m.trader.to_checksum(None), "_pairIndex": m._pairIndex.to_string(), "_index": m._index.to_string(),
            "_newTp": m._newTp.to_string(), "_newSl": m._newSl.to_string(), "_deadline": m._deadline.to_string(), "_nonce": m._nonce.to_string(),
        }),
        Intent::TpSlReq(m) => json!({
            "trader": m.trader.to_checksum(None), "pairIndex": m.pairIndex.to_string(), "index": m.index.to_string(),
            "triggerType": m.triggerType, "coinSize": m.coinSize.to_string(), "buy": m.buy, "price": m.price.to_string(),
            "percentage": m.percentage.to_string(), "timestamp": m.timestamp.to_string(), "signTimestamp": m.signTimestamp.to_string(),
            "orderType": m.orderType, "nonce": m.nonce.to_string(),
        }),
        Intent::CancelOffchainOrder(m) => json!({ "entityId": m.entityId }),
        _ => Value::Null,
    }
}

pub(super) fn intent_payload(st: &State, intent: &Intent, meta: Value) -> Value {
    let kind = intent.kind();
    let domain = st.domain();
    let mut digest = intent.digest(&domain);
    if st.wrong_digest {
        let mut b = digest.0;
        b[31] ^= 0x01;
        digest = B256::from(b);
    }
    json!({
        "intent": kind.name(),
        "signerRule": if kind == IntentKind::DelegateReq { "trader-only" } else { "trader-or-delegate" },
        "domain": { "name": domain.name, "version": domain.version, "chainId": domain.chain_id,
                    "verifyingContract": format!("{:#x}", domain.verifying_contract) },
        "primaryType": kind.name(),
        "types": types_json(kind),
        "message": message_json(intent),
        "digest": format!("{digest:#x}"),
        "encodedIntent": hex(&intent.abi_encode()),
        "meta": meta,
    })
}

pub(super) fn pair_of(st: &State, body: &Value) -> Result<(u16, PairRow), (u16, &'static str, String)> {
    let idx = match text(body, "pairIndex") {
        Some(t) => t.parse::<u16>().map_err(|_| (400, "VALIDATION_ERROR", format!("pairIndex {t:?} is not an index")))?,
        None => {
            let sym = text(body, "pair").ok_or((400, "VALIDATION_ERROR", "pairIndex or pair is required".to_owned()))?.to_ascii_uppercase();
            let exact = st.pairs.iter().find(|(_, p)| p.symbol == sym).map(|(i, _)| *i);
            let rewritten = sym.replace(['-', '_'], "/");
            exact.or_else(|| st.pairs.iter().find(|(_, p)| p.symbol == rewritten).map(|(i, _)| *i)).ok_or((
                400,
                "BAD_REQUEST",
                format!("Unknown pair {sym}"),
            ))?
        }
    };
    let row = st.pairs.get(&idx).cloned().ok_or((400, "BAD_REQUEST", format!("Unknown pair index {idx}")))?;
    Ok((idx, row))
}

/// The request's `deadlineMs`, or now + 120 s.
pub(super) fn deadline_of(body: &Value) -> Option<U256> {
    match text(body, "deadlineMs") {
        Some(t) => uint(&t),
        None => Some(U256::from(now_ms() + INTENT_TTL_MS)),
    }
}

/// The request's `nonce`, or a random one.
pub(super) fn nonce_of(body: &Value) -> Option<U256> {
    match text(body, "nonce") {
        Some(t) => uint(&t),
        None => Some(random_nonce()),
    }
}

/// The fields of a market open (intent or calldata builder), deadline and nonce 0.
pub(super) fn parse_open(st: &State, svc: Svc, body: &Value) -> Result<(OpenTradeReq, PairRow), Reply> {
    let trader = need!(svc, text(body, "trader").and_then(|t| address(&t)), "trader must be an address");
    let (pair, row) = match pair_of(st, body) {
        Ok(p) => p,
        Err((s, c, m)) => return Err(err(svc, s, c, &m)),
    };
    let buy = match text(body, "side").as_deref() {
        Some("long") => true,
        Some("short") => false,
        _ => return Err(err(svc, 400, "VALIDATION_ERROR", "side must be long or short")),
    };
    let order_type = match text(body, "orderType").as_deref().unwrap_or("market") {
        "market" => 0u8,
        "market_pnl" => 3,
        other => return Err(err(svc, 400, "BAD_REQUEST", &format!("the fake only builds market opens, not {other}"))),
    };
    let collateral = need!(svc, text(body, "collateralUsdc").and_then(|t| human(&t, 6)), "collateralUsdc must be a USDC amount");
    let leverage = need!(svc, text(body, "leverage").and_then(|t| human(&t, 10)), "leverage must be a decimal");
    // A market order without `openPrice` is built at the feed's price (the venue resolves it).
    let open_price = match text(body, "openPrice") {
        Some(t) => need!(svc, human(&t, 10), "openPrice must be a decimal"),
        None => need!(svc, st.prices.get(&pair).copied(), "openPrice is required: the feed has no price for this pair"),
    };
    let slippage = need!(svc, human(&text(body, "slippagePercent").unwrap_or_else(|| "1".into()), 10), "slippagePercent must be a decimal");
    let tp = need!(svc, text(body, "takeProfit").map_or(Some(0), |t| human(&t, 10)), "takeProfit must be a decimal");
    let sl = need!(svc, text(body, "stopLoss").map_or(Some(0), |t| human(&t, 10)), "stopLoss must be a decimal");
    let skip = body.get("skipValidation").and_then(Value::as_bool).unwrap_or(false);
    if !skip {
        if !row.listed {
            return Err(err(svc, 400, "BAD_REQUEST", &format!("Pair {} is not listed", row.symbol)));
        }
        if leverage < 10_000_000_000 || open_price == 0 {
            return Err(err(svc, 400, "BAD_REQUEST", "Leverage below 1x or no price"));
        }
        let notional = mul_div(collateral, u128::from(leverage), 10_000_000_000);
        if let Some(min) = row.min_position
            && notional < min
        {
            return Err(err(svc, 400, "BAD_REQUEST", &format!("Below minimum position ({} USDC)", min / 1_000_000)));
        }
    }
    Ok((
        OpenTradeReq {
            _t: Trade {
                trader,
                pairIndex: U256::from(pair),
                index: U256::ZERO,
                initialPosToken: U256::ZERO,
                positionSizeUSDC: U256::from(collateral),
                openPrice: U256::from(open_price),
                buy,
                leverage: U256::from(leverage),
                tp: U256::from(tp),
                sl: U256::from(sl),
                timestamp: U256::ZERO,
            },
            _type: order_type,
            _slippageP: U256::from(slippage),
            _deadline: U256::ZERO,
            _nonce: U256::ZERO,
        },
        row,
    ))
}

/// The fields of a market close (intent or calldata builder), deadline and nonce 0.
pub(super) fn parse_close(st: &State, svc: Svc, body: &Value) -> Result<(CloseTradeReq, PairRow), Reply> {
    let trader = need!(svc, text(body, "trader").and_then(|t| address(&t)), "trader must be an address");
    let (pair, row) = match pair_of(st, body) {
        Ok(p) => p,
        Err((s, c, m)) => return Err(err(svc, s, c, &m)),
    };
    let index = need!(svc, text(body, "tradeIndex").and_then(|t| t.parse::<u32>().ok()), "tradeIndex must be an integer");
    let amount = need!(svc, text(body, "collateralToCloseUsdc").and_then(|t| human(&t, 6)), "collateralToCloseUsdc must be a USDC amount");
    let wanted = need!(svc, text(body, "expectedPrice").map_or(Some(0), |t| human(&t, 10)), "expectedPrice must be a decimal");
    let Some(pos) = find_position(st, trader, pair, index) else {
        return Err(err(svc, 400, "BAD_REQUEST", &format!("No open trade {index} on {}", row.symbol)));
    };
    let open_ts = need!(svc, text(body, "openTimestamp").map_or(Some(pos.opened_at), |t| t.parse().ok()), "openTimestamp must be seconds");
    Ok((
        CloseTradeReq {
            _trader: trader,
            _pairIndex: U256::from(pair),
            _index: U256::from(index),
            _openTimestamp: U256::from(open_ts),
            _amount: U256::from(amount),
            _wantedPrice: U256::from(wanted),
            _deadline: U256::ZERO,
            _nonce: U256::ZERO,
        },
        row,
    ))
}

pub(super) fn intent_open(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let (mut m, row) = match parse_open(st, svc, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    m._deadline = field!(svc, deadline_of(body), "deadlineMs must be unix milliseconds");
    m._nonce = field!(svc, nonce_of(body), "nonce must be a uint256");
    if st.tamper_intents > 0 {
        st.tamper_intents -= 1;
        m._t.positionSizeUSDC += U256::from(1_000_000u64);
    }
    ok(svc, intent_payload(st, &Intent::OpenTradeReq(m), json!({ "pair": row.symbol })))
}

pub(super) fn intent_close(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let (mut m, row) = match parse_close(st, svc, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    m._deadline = field!(svc, deadline_of(body), "deadlineMs must be unix milliseconds");
    m._nonce = field!(svc, nonce_of(body), "nonce must be a uint256");
    if st.tamper_intents > 0 {
        st.tamper_intents -= 1;
        m._amount += U256::from(1_000_000u64);
    }
    ok(svc, intent_payload(st, &Intent::CloseTradeReq(m), json!({ "pair": row.symbol })))
}

pub(super) fn intent_tpsl_update(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let trader = field!(svc, text(body, "trader").and_then(|t| address(&t)), "trader must be an address");
    let (pair, row) = match pair_of(st, body) {
        Ok(p) => p,
        Err((s, c, m)) => return err(svc, s, c, &m),
    };
    let index = field!(svc, text(body, "tradeIndex").and_then(|t| t.parse::<u32>().ok()), "tradeIndex must be an integer");
    let tp = field!(svc, text(body, "takeProfit").and_then(|t| human(&t, 10)), "takeProfit must be a decimal");
    let sl = field!(svc, text(body, "stopLoss").and_then(|t| human(&t, 10)), "stopLoss must be a decimal");
    let intent = Intent::UpdateTpSlReq(UpdateTpSlReq {
        trader,
        _pairIndex: U256::from(pair),
        _index: U256::from(index),
        _newTp: U256::from(tp),
        _newSl: U256::from(sl),
        _deadline: field!(svc, deadline_of(body), "deadlineMs must be unix milliseconds"),
        _nonce: field!(svc, nonce_of(body), "nonce must be a uint256"),
    });
    ok(svc, intent_payload(st, &intent, json!({ "pair": row.symbol })))
}

pub(super) fn intent_tpsl_partial(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let trader = field!(svc, text(body, "trader").and_then(|t| address(&t)), "trader must be an address");
    let (pair, row) = match pair_of(st, body) {
        Ok(p) => p,
        Err((s, c, m)) => return err(svc, s, c, &m),
    };
    let index = field!(svc, text(body, "tradeIndex").and_then(|t| t.parse::<u32>().ok()), "tradeIndex must be an integer");
    let buy = match text(body, "side").as_deref() {
        Some("long") => true,
        Some("short") => false,
        _ => return err(svc, 400, "VALIDATION_ERROR", "side must be long or short"),
    };
    let order_type = match text(body, "kind").as_deref() {
        Some("take_profit" | "tp") => 4u8,
        Some("stop_loss" | "sl") => 5,
        _ => return err(svc, 400, "VALIDATION_ERROR", "kind must be take_profit or stop_loss"),
    };
    let coin = field!(svc, text(body, "coinExposure").and_then(|t| human(&t, 10)), "coinExposure must be a decimal");
    let (trigger_type, price, percentage) = match text(body, "triggerType").as_deref().unwrap_or("fixed") {
        "fixed" => (0u8, field!(svc, text(body, "price").and_then(|t| human(&t, 10)), "price is required for fixed triggers"), I256::ZERO),
        "percentage" => {
            let p = field!(svc, text(body, "percentage").and_then(|t| parse_scaled(&t, 10).ok()), "percentage must be a decimal");
            (1u8, 0, I256::try_from(p).unwrap_or(I256::ZERO))
        }
        _ => return err(svc, 400, "VALIDATION_ERROR", "triggerType must be fixed or percentage"),
    };
    let Some(pos) = find_position(st, trader, pair, index) else {
        return err(svc, 400, "BAD_REQUEST", &format!("No open trade {index} on {}", row.symbol));
    };
    let ts = field!(svc, text(body, "openTimestamp").map_or(Some(pos.opened_at), |t| t.parse().ok()), "openTimestamp must be seconds");
    let intent = Intent::TpSlReq(TpSlReq {
        trader,
        pairIndex: U256::from(pair),
        index: U256::from(index),
        triggerType: trigger_type,
        coinSize: U256::from(coin),
        buy,
        price: U256::from(price),
        percentage,
        timestamp: U256::from(ts),
        signTimestamp: U256::from(now_ms()),
        orderType: order_type,
        nonce: random_nonce(),
    });
    ok(svc, intent_payload(st, &intent, json!({ "pair": row.symbol })))
}

/// `POST /v2/intents/offchain-cancel`: the `CancelOffchainOrder` to sign for `entityId`.
pub(super) fn intent_offchain_cancel(st: &State, svc: Svc, body: &Value) -> Reply {
    match text(body, "entityId") {
        Some(id) if !id.is_empty() => {
            let intent = Intent::CancelOffchainOrder(CancelOffchainOrder { entityId: id });
            ok(svc, intent_payload(st, &intent, json!({})))
        }
        _ => err(svc, 400, "VALIDATION_ERROR", "entityId is required"),
    }
}

/// The `CallData` answer for `action`, signed by `delegate` when given (else `trader`; a
/// delegate's call is wrapped in `delegatedAction(trader, …)`), with the next tamper applied.
pub(super) fn calldata_reply(st: &mut State, svc: Svc, body: &Value, trader: Address, action: TradingAction, description: String) -> Reply {
    let from = match text(body, "delegate") {
        Some(d) => field!(svc, address(&d), "delegate must be an address"),
        None => trader,
    };
    let value = match text(body, "executionFeeWei") {
        Some(v) => field!(svc, uint(&v), "executionFeeWei must be a uint256"),
        None => U256::from(st.execution_fee_wei),
    };
    let mut call = TradingCall { on_behalf_of: (from != trader).then_some(trader), action };
    let tamper = st.calldata_tampers.pop_front();
    if let Some(t) = tamper {
        tamper_call(&mut call, t);
    }
    let mut data = call.encode();
    if tamper == Some(CalldataTamper::Selector)
        && let Some(sel) = data.get_mut(..4)
    {
        sel.copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    }
    ok(
        svc,
        json!({
            "to": st.calldata_target().to_checksum(None), "from": from.to_checksum(None), "data": hex(&data),
            "value": format!("{value:#x}"), "chainId": st.chain_id, "description": description,
        }),
    )
}

pub(super) fn tamper_call(call: &mut TradingCall, tamper: CalldataTamper) {
    let one_usdc = U256::from(1_000_000u64);
    match (&mut call.action, tamper) {
        (_, CalldataTamper::DelegatedFor) => call.on_behalf_of = Some(TAMPER_ADDRESS),
        (TradingAction::Open(c), CalldataTamper::Pair) => c.t.pairIndex += U256::from(1u8),
        (TradingAction::Open(c), CalldataTamper::Side) => c.t.buy = !c.t.buy,
        (TradingAction::Open(c), CalldataTamper::Collateral) => c.t.positionSizeUSDC += one_usdc,
        (TradingAction::Open(c), CalldataTamper::Leverage) => c.t.leverage *= U256::from(2u8),
        (TradingAction::Open(c), CalldataTamper::OpenPrice) => c.t.openPrice = c.t.openPrice * U256::from(11u8) / U256::from(10u8),
        (TradingAction::Open(c), CalldataTamper::Slippage) => {
            c._slippageP = if c._slippageP.is_zero() { U256::from(50_000_000_000u64) } else { c._slippageP * U256::from(5u8) }
        }
        (TradingAction::Open(c), CalldataTamper::TakeProfit) => c.t.tp += U256::from(1u8),
        (TradingAction::Open(c), CalldataTamper::StopLoss) => c.t.sl += U256::from(1u8),
        (TradingAction::Open(c), CalldataTamper::Trader) => c.t.trader = TAMPER_ADDRESS,
        (TradingAction::Open(c), CalldataTamper::OrderType) => c._type ^= 3,
        (TradingAction::Close(c), CalldataTamper::Pair) => c._pairIndex += U256::from(1u8),
        (TradingAction::Close(c), CalldataTamper::Collateral) => c._amount += one_usdc,
        (TradingAction::Close(c), CalldataTamper::TradeIndex) => c._index += U256::from(1u8),
        _ => {}
    }
}

pub(super) fn trade_open(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let (m, row) = match parse_open(st, svc, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let side = if m._t.buy { "long" } else { "short" };
    let description = format!("Open {side} {} (market)", row.symbol);
    let action =
        TradingAction::Open(Box::new(trading_call::openTradeCall { t: call_trade(&m._t), _type: m._type, _slippageP: m._slippageP }));
    calldata_reply(st, svc, body, m._t.trader, action, description)
}

pub(super) fn trade_close(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let (m, row) = match parse_close(st, svc, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let description = format!("Close trade {} on {}", m._index, row.symbol);
    let action =
        TradingAction::Close(trading_call::closeTradeMarketCall { _pairIndex: m._pairIndex, _index: m._index, _amount: m._amount });
    calldata_reply(st, svc, body, m._trader, action, description)
}
