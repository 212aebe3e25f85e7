//! The risk engine v2 (`{risk_v2}/spread`): the spread quote the venue prices market orders with.
//!
//! Request, as the official client sends it (`markets.spread`): `pairIndex` (number), `trader`
//! (checksummed address; the zero address for anonymous quotes), `coinSize10` (decimal string),
//! `isLong`, `isOpen` (booleans), `orderType` (risk enum 0–4), optionally `leverage10` and
//! `wantedPrice10` (decimal strings). Answer: `{spreadMechanism, byPass,
//! spreadPctWithoutFlow10, estimatedSpreadPctWithFlow10?, flowParams}` (percent × 1e10 as decimal
//! strings). `400` malformed, `403 SPREAD_BLOCKED`, `404 SPREAD_UNAVAILABLE` (no spread computable).

use serde_json::{Value, json};

use super::wire::{Reply, Svc, err, ok};
use super::{FakeSpread, State};

fn decimal_string(body: &Value, field: &str) -> Result<Option<u128>, String> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u128>().map(Some).map_err(|e| format!("{field}: {e}"))
        }
        Some(other) => Err(format!("{field} must be a decimal integer string, not {other}")),
    }
}

/// `POST /spread`.
pub(super) fn spread(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let pair = match body.get("pairIndex").and_then(Value::as_u64).and_then(|p| u16::try_from(p).ok()) {
        Some(p) => p,
        None => return err(svc, 400, "VALIDATION_ERROR", "pairIndex must be a number"),
    };
    let trader = body.get("trader").and_then(Value::as_str).unwrap_or_default();
    match trader.parse::<alloy::primitives::Address>() {
        Ok(a) if a.to_checksum(None) == trader => {}
        _ => return err(svc, 400, "VALIDATION_ERROR", "trader must be a checksummed address"),
    }
    for flag in ["isLong", "isOpen"] {
        if !body.get(flag).is_some_and(Value::is_boolean) {
            return err(svc, 400, "VALIDATION_ERROR", &format!("{flag} must be a boolean"));
        }
    }
    if body.get("orderType").and_then(Value::as_u64).is_none_or(|t| t > 4) {
        return err(svc, 400, "VALIDATION_ERROR", "orderType must be 0..4 (market, limit, tp, sl, liquidation)");
    }
    let coin = match decimal_string(body, "coinSize10") {
        Ok(Some(c)) => c,
        Ok(None) => return err(svc, 400, "VALIDATION_ERROR", "coinSize10 is required"),
        Err(e) => return err(svc, 400, "VALIDATION_ERROR", &e),
    };
    for field in ["leverage10", "wantedPrice10"] {
        if let Err(e) = decimal_string(body, field) {
            return err(svc, 400, "VALIDATION_ERROR", &e);
        }
    }
    if !st.pairs.contains_key(&pair) {
        return err(svc, 404, "SPREAD_UNAVAILABLE", &format!("no spread mechanism for pair {pair}"));
    }
    let quote = st.spreads.get(&pair).cloned().unwrap_or_default();
    match quote {
        FakeSpread::Blocked => err(svc, 403, "SPREAD_BLOCKED", &format!("spread blocked for pair {pair} (roll window)")),
        FakeSpread::Unavailable => err(svc, 404, "SPREAD_UNAVAILABLE", &format!("no spread computable for pair {pair}")),
        FakeSpread::Quote { without_flow10, with_flow10 } => {
            let mut out = json!({
                "spreadMechanism": 5,
                "byPass": false,
                "spreadPctWithoutFlow10": without_flow10.to_string(),
                "flowParams": { "impactParam10": "1000000000000", "depth10": "5000000000000", "maxSpreadPct10": "100000000000" },
            });
            if let (Some(w), Some(o)) = (with_flow10, out.as_object_mut()) {
                // A zero-size quote has no flow.
                if coin > 0 {
                    o.insert("estimatedSpreadPctWithFlow10".into(), Value::String(w.to_string()));
                }
            }
            ok(svc, out)
        }
    }
}
