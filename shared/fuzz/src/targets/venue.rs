//! Venue (Veranta) answers: tx-builder, core and data JSON through the client's real HTTP path
//! (envelope, status, decoding) and its pure parsers, and the batched-market SSE stream.

use std::str::FromStr;
use std::time::Duration;

use alloy::primitives::Address;
use serde_json::json;
use vanta_chain::avantis::{AvantisClient, AvantisConfig, AvantisMeta, calldata, trading_snapshot, verify_payload};
use vanta_chain::avantis::{MarketOutcome, fuzzing};
use vanta_chain::eip712::{AvantisDomain, Intent, IntentKind};
use vanta_domain::DomainError;
use vanta_domain::ids::TraderAddress;

use super::world;
use crate::mutate::Mutator;
use crate::replies::Replies;
use crate::{Check, Target, Verdict};

const CHAIN: u64 = 8453;
const ROUTER: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const TRADER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

/// The message of an error (never empty: checked by the targets).
pub fn reason(e: &DomainError) -> &str {
    match e {
        DomainError::Invalid(m)
        | DomainError::Refused(m)
        | DomainError::Forbidden(m)
        | DomainError::NotFound(m)
        | DomainError::Conflict(m)
        | DomainError::Unavailable(m)
        | DomainError::Ambiguous(m)
        | DomainError::Internal(m) => m,
    }
}

pub fn verdict<T>(r: Result<T, DomainError>) -> Check {
    match r {
        Ok(_) => Ok(Verdict::Accepted),
        Err(e) if reason(&e).trim().is_empty() => Err(format!("an error without a reason: {e:?}")),
        Err(e) => Ok(Verdict::Refused(e.to_string())),
    }
}

fn domain() -> Result<AvantisDomain, String> {
    Ok(AvantisDomain::avantis(CHAIN, Address::from_str(ROUTER).map_err(|e| e.to_string())?))
}

/// A valid intent-builder answer (a close), built with the client's own EIP-712 code.
fn payload_seed(domain: &AvantisDomain) -> Result<Vec<u8>, String> {
    let message = json!({"_trader": TRADER, "_pairIndex": "1", "_index": "0", "_openTimestamp": "1795852800",
        "_amount": "100000000", "_wantedPrice": "1000000000000000", "_deadline": "1795852920000", "_nonce": "12345678901234567890"});
    let intent = Intent::from_message(IntentKind::CloseTradeReq, &message).map_err(|e| e.to_string())?;
    let v = json!({
        "intent": "CloseTradeReq", "primaryType": "CloseTradeReq", "signerRule": "trader-or-delegate",
        "domain": {"name": domain.name, "version": domain.version, "chainId": domain.chain_id, "verifyingContract": format!("{:#x}", domain.verifying_contract)},
        "message": message,
        "digest": format!("{:#x}", intent.digest(domain)),
        "encodedIntent": format!("0x{}", hex::encode(intent.abi_encode())),
    });
    Ok(v.to_string().into_bytes())
}

fn json_seeds(domain: &AvantisDomain) -> Result<Vec<Vec<u8>>, String> {
    let mut seeds: Vec<Vec<u8>> = [
        // 0 /v2/meta
        json!({"chainId": CHAIN, "addresses": {"tradingRouter": ROUTER, "referral": TRADER},
               "eip712": {"trading": {"name": domain.name, "version": domain.version, "chainId": CHAIN, "verifyingContract": ROUTER}},
               "defaults": {"intentDeadlineMs": 120000}}),
        // 1 /v2/trading (data service)
        json!({"pairInfos": {"0": {"index": 0, "from": "ETH", "to": "USD", "groupIndex": 0, "isPairListed": true,
            "leverages": {"minLeverage": 1, "maxLeverage": 75}, "pairMinLevPosUSDC": "100", "openFeeP": "0.045", "closeFeeP": "0.045",
            "spreadP": "0.01", "maxGainP": 2500, "maxSlP": 80, "feed": {"feedId": "0xff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace"}}}}),
        // 2 calldata
        json!({"to": ROUTER, "data": "0x12345678aabbcc", "value": "0x10", "from": TRADER, "chainId": CHAIN, "description": "close"}),
        // 4 an error envelope
        json!({"ok": false, "error": {"code": "VALIDATION_ERROR", "message": "bad leverage", "details": {"field": "leverage"}}}),
        json!({"statusCode": 400, "message": ["pair closed", "x"], "error": "Bad Request", "code": "BAD_REQUEST"}),
        // 5 /user-data
        json!({"positions": [{"trader": TRADER, "pairIndex": 1, "index": 0, "buy": true, "isPnl": false, "collateral": "100000000",
            "leverage": "50000000000", "openPrice": "1000000000000000", "tp": "0", "sl": "950000000000000", "liquidationPrice": "820000000000000",
            "openedAt": 1795852800, "priceTriggers": [{"entityId": "t1", "isGlobal": true, "orderType": 0, "triggerType": 0, "price": "1200000000000000", "coinSize": "0"}]}],
            "limitOrders": []}),
        // 6 /v2/positions (envelope)
        json!({"ok": true, "data": {"trades": [{"trader": TRADER, "pairIndex": "1", "index": "0", "buy": false, "initialPosToken": "100000000",
            "positionSizeUSDC": "500000000", "leverage": "50000000000", "openPrice": "1000000000000000", "tp": "0", "sl": "0", "timestamp": "1795852800",
            "coinExposure": "5000000000", "liquidationPrice": "1180000000000000"}]}}),
        // 7 /v2/delegation
        json!({"ok": true, "data": {"isEnabled": true, "expiry": 1895852800u64, "canDelegatedAction": true, "canSignIntents": true}}),
        // 8 /v2/allowance
        json!({"ok": true, "data": {"balance": "250000000", "allowance": "115792089237316195423570985008687907853269984665640564039457584007913129639935"}}),
        // 9 /v2/nonce
        json!({"ok": true, "data": {"nonce": "12345678901234567890", "used": false}}),
    ]
    .iter()
    .map(|v| v.to_string().into_bytes())
    .collect();
    seeds.push(payload_seed(domain)?);
    Ok(seeds)
}

const DICTIONARY: &[&str] = &[
    "\"ok\"",
    "\"data\"",
    "\"error\"",
    "\"code\"",
    "\"message\"",
    "\"details\"",
    "\"chainId\"",
    "\"addresses\"",
    "\"tradingRouter\"",
    "\"eip712\"",
    "\"trading\"",
    "\"verifyingContract\"",
    "\"pairInfos\"",
    "\"positions\"",
    "\"trades\"",
    "\"pairIndex\"",
    "\"index\"",
    "\"buy\"",
    "\"collateral\"",
    "\"leverage\"",
    "\"openPrice\"",
    "\"priceTriggers\"",
    "\"primaryType\"",
    "\"digest\"",
    "\"encodedIntent\"",
    "\"types\"",
    "\"balance\"",
    "\"allowance\"",
    "\"nonce\"",
    "\"used\"",
    "\"isEnabled\"",
    "\"expiry\"",
    "OpenTradeReq",
    "CloseTradeReq",
    "UpdateTpSlReq",
    "VALIDATION_ERROR",
    "RATE_LIMITED",
    "BAD_REQUEST",
    "0x",
    ROUTER,
    TRADER,
    "8453",
    "84532",
];

/// Every venue JSON answer the client reads. Which reader gets an input is decided by the
/// input's hash; HTTP readers are served the input through a loopback server, with a 4xx or
/// 5xx status one time in eight.
pub fn json() -> Result<Target, String> {
    let rt = world::runtime()?;
    let server = rt.block_on(Replies::start()).map_err(|e| e.to_string())?;
    let mut cfg = AvantisConfig::new(server.url.clone(), server.url.clone(), server.url.clone(), server.url.clone(), CHAIN);
    cfg.retries = 0;
    cfg.request_timeout = Duration::from_secs(5);
    cfg.check_pairs_with_tx_builder = false;
    let client = AvantisClient::new(cfg).map_err(|e| e.to_string())?;
    let domain = domain()?;
    let trader = TraderAddress::new(Address::from_str(TRADER).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let seeds = json_seeds(&domain)?;
    Ok(Target {
        name: "venue-json",
        what: "venue answers: /v2/meta, /v2/trading, calldata, intents, errors, /user-data, /v2/positions, /v2/delegation, /v2/allowance, /v2/nonce",
        mutator: Mutator::new(seeds, DICTIONARY),
        run: Box::new(move |input| {
            let h = world::fnv(input);
            let text = String::from_utf8_lossy(input).into_owned();
            let status = match (h >> 8) % 16 {
                0 => 400,
                1 => 503,
                _ => 200,
            };
            let body = input.to_vec();
            server.set(Box::new(move |_, _| (status, "application/json", body.clone())));
            match h % 10 {
                0 => verdict(AvantisMeta::parse(&text, CHAIN)),
                1 => verdict(trading_snapshot(&text)),
                2 => verdict(calldata::parse_calldata(&text, CHAIN, Some(trader.address()))),
                3 => verdict(verify_payload(&text, IntentKind::CloseTradeReq, &domain)),
                4 => {
                    let e = fuzzing::api_error(400 + u16::try_from((h >> 16) % 200).unwrap_or(0), &text);
                    verdict::<()>(Err(e))
                }
                5 => verdict(rt.block_on(client.user_data(trader))),
                6 => verdict(rt.block_on(client.onchain_positions(trader))),
                7 => verdict(rt.block_on(client.delegation(trader, trader))),
                8 => verdict(rt.block_on(client.usdc_account(trader))),
                _ => verdict(rt.block_on(client.nonce_status(trader, None))),
            }
        }),
    })
}

const SSE_SEEDS: &[&str] = &[
    "id: 1\nevent: MarketOrderAccepted\ndata: {\"trackingId\":\"trk-1\",\"orderId\":\"7\"}\n\nid: 2\nevent: MarketOrderExecuted\ndata: {\"trackingId\":\"trk-1\",\"transactionHash\":\"0xabc\"}\n\n",
    ": heartbeat\n\nid: 1\nevent: MarketOrderAccepted\ndata: {\"trackingId\":\"t\"}\n\nevent: Error\ndata: {\"code\":\"STREAM_TIMEOUT\",\"message\":\"timed out\"}\n\n",
    "id: 1\r\nevent: MarketOrderAccepted\r\ndata: {\"trackingId\":\"t\"}\r\n\r\nid: 2\r\nevent: AttemptFailed\r\ndata: {\"attempt\":1,\"code\":\"NO_PRICE\"}\r\n\r\nid: 3\r\nevent: MarketOrderCanceled\r\ndata: {\"reason\":\"slippage\"}\r\n\r\n",
    "event: Error\ndata: {\"code\":\"ENQUEUE_FAILED\",\"message\":\"could not enqueue\"}\n\n",
    "id: 9\nevent: PositionSizeIncreased\ndata: {\"trackingId\":\"t\",\n data: \"orderId\": 18446744073709551616}\n\nretry: 100\n\n",
    "data: not json\n\ndata: [1,2]\n\nid: x\nevent:\n\n",
];

/// The batched-market SSE stream: events and settlement must not depend on how the bytes were
/// cut into chunks (the input is parsed whole and in pieces cut where its hash says).
pub fn sse() -> Target {
    Target {
        name: "venue-sse",
        what: "batched-market SSE frames, in any chunking, and their settlement",
        mutator: Mutator::new(
            SSE_SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect(),
            &[
                "id: ",
                "event: ",
                "data: ",
                "retry: ",
                ": ",
                "\n",
                "\r\n",
                "\n\n",
                "MarketOrderAccepted",
                "MarketOrderExecuted",
                "MarketOrderCanceled",
                "PositionSizeIncreased",
                "AttemptFailed",
                "Error",
                "STREAM_TIMEOUT",
                "ENQUEUE_FAILED",
                "\"trackingId\"",
                "\"orderId\"",
                "\"transactionHash\"",
                "\"code\"",
                "\"message\"",
                "{",
                "}",
            ],
        ),
        run: Box::new(|input| {
            let whole = fuzzing::sse_events(&[input]);
            let mut h = world::fnv(input);
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut rest = input;
            while !rest.is_empty() {
                let n = usize::try_from(h % 17).unwrap_or(1).max(1).min(rest.len());
                let (a, b) = rest.split_at(n);
                pieces.push(a);
                rest = b;
                h = h.rotate_left(7) ^ 0x9E37_79B9;
            }
            let chunked = fuzzing::sse_events(&pieces);
            if whole != chunked {
                return Err(format!("events depend on chunking: {} whole, {} in pieces", whole.len(), chunked.len()));
            }
            match fuzzing::settle(&whole) {
                Ok(Some(MarketOutcome::Executed { .. })) => Ok(Verdict::Accepted),
                Ok(Some(MarketOutcome::Canceled { .. })) => Ok(Verdict::Refused("canceled".into())),
                Ok(Some(MarketOutcome::Failed { code, .. })) => Ok(Verdict::Refused(format!("failed {code}"))),
                Ok(None) => Ok(Verdict::Refused("no outcome".into())),
                Err(()) => Ok(Verdict::Refused("poll the replay".into())),
            }
        }),
    }
}
