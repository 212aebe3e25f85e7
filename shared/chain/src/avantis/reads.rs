//! Reads (positions, delegation, nonce) and the core API's price-trigger mutations.

use alloy::primitives::{I256, U256};
use reqwest::Method;
use serde_json::{Value, json};
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::ids::TraderAddress;
use vanta_domain::market::PairIndex;
use vanta_domain::money::{Leverage, Price, Usdc};
use vanta_domain::recon::VenueLimitOrder;

use super::decimal::json_u64;
use super::intents::SignedIntent;
use super::{AvantisClient, CallError, Safety, Service};
use crate::eip712::Intent;

/// A position from core `/user-data` (raw venue units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorePosition {
    /// The trader exactly as the API spelled it (used in global trigger ids).
    pub trader: String,
    pub pair: PairIndex,
    pub index: u32,
    pub buy: bool,
    pub is_pnl: bool,
    pub collateral: Usdc,
    /// Leverage, 1e10.
    pub leverage_raw: u64,
    pub open_price: Price,
    /// 0 = unset.
    pub tp: Price,
    pub sl: Price,
    pub liquidation_price: Option<Price>,
    /// Open timestamp, unix seconds (pass as `openTimestamp`).
    pub opened_at: Option<u64>,
    pub price_triggers: Vec<PriceTrigger>,
}

/// A TP/SL trigger attached to a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceTrigger {
    pub entity_id: String,
    pub is_global: bool,
    /// 0 tp, 1 sl (global), 4 partial tp, 5 partial sl, …
    pub order_type: u64,
    pub trigger_type: u64,
    pub price: Price,
    /// 1e10 base-asset units.
    pub coin_size_raw: u64,
}

/// Core `/user-data`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserData {
    pub positions: Vec<CorePosition>,
    /// Resting limit orders (placed outside Vanta), in domain units.
    pub limit_orders: Vec<VenueLimitOrder>,
}

/// A trade from tx-builder `/v2/positions` (read from chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnchainTrade {
    pub trader: String,
    pub pair: PairIndex,
    pub index: u32,
    pub buy: bool,
    /// `initialPosToken`: the collateral, 1e6.
    pub collateral: Usdc,
    pub position_size: Usdc,
    pub leverage_raw: u64,
    pub open_price: Price,
    pub tp: Price,
    pub sl: Price,
    /// Trade.timestamp, unix seconds.
    pub timestamp: u64,
    pub coin_exposure_raw: Option<u64>,
    pub liquidation_price: Option<Price>,
}

/// `/v2/delegation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegationStatus {
    pub is_enabled: bool,
    /// Unix seconds.
    pub expiry: u64,
    pub can_delegated_action: bool,
    pub can_sign_intents: bool,
}

/// `/v2/allowance`: the trader's USDC wallet balance and allowance (raw 1e6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsdcAccount {
    pub balance: Usdc,
    /// Often `uint256.max`; saturated to `u64::MAX` raw.
    pub allowance_raw: u64,
}

/// `/v2/nonce` (shape undocumented; `nonce` and `used` are read when present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceStatus {
    pub nonce: Option<String>,
    pub used: Option<bool>,
}

fn field_u64(v: &Value, name: &str) -> Option<u64> {
    v.get(name).and_then(json_u64)
}

fn need_u64(v: &Value, name: &str, what: &str) -> DomainResult<u64> {
    field_u64(v, name).ok_or_else(|| DomainError::Internal(format!("{what}: field `{name}` missing or not an integer")))
}

fn price_or_zero(v: &Value, name: &str) -> Price {
    Price::from_raw(field_u64(v, name).unwrap_or(0))
}

fn index_of(v: &Value, name: &str, what: &str) -> DomainResult<u32> {
    u32::try_from(need_u64(v, name, what)?).map_err(|_| DomainError::Internal(format!("{what}: `{name}` out of range")))
}

fn pair_of(v: &Value, what: &str) -> DomainResult<PairIndex> {
    u16::try_from(need_u64(v, "pairIndex", what)?)
        .map(PairIndex)
        .map_err(|_| DomainError::Internal(format!("{what}: pairIndex out of range")))
}

fn parse_core_position(p: &Value) -> DomainResult<CorePosition> {
    let what = "/user-data position";
    let triggers = p
        .get("priceTriggers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|t| PriceTrigger {
                    entity_id: t.get("entityId").or_else(|| t.get("documentId")).and_then(Value::as_str).unwrap_or_default().to_owned(),
                    is_global: t.get("isGlobal").and_then(Value::as_bool).unwrap_or(false),
                    order_type: field_u64(t, "orderType").unwrap_or(0),
                    trigger_type: field_u64(t, "triggerType").unwrap_or(0),
                    price: price_or_zero(t, "price"),
                    coin_size_raw: field_u64(t, "coinSize").unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(CorePosition {
        trader: p.get("trader").and_then(Value::as_str).unwrap_or_default().to_owned(),
        pair: pair_of(p, what)?,
        index: index_of(p, "index", what)?,
        buy: p.get("buy").and_then(Value::as_bool).ok_or_else(|| DomainError::Internal(format!("{what}: no `buy`")))?,
        is_pnl: p.get("isPnl").and_then(Value::as_bool).unwrap_or(false),
        collateral: Usdc::from_raw(need_u64(p, "collateral", what)?),
        leverage_raw: need_u64(p, "leverage", what)?,
        open_price: Price::from_raw(need_u64(p, "openPrice", what)?),
        tp: price_or_zero(p, "tp"),
        sl: price_or_zero(p, "sl"),
        liquidation_price: field_u64(p, "liquidationPrice").map(Price::from_raw),
        opened_at: field_u64(p, "openedAt"),
        price_triggers: triggers,
    })
}

/// One `limitOrders[]` entry of `/user-data` (§6.2; field names as the official SDK reads them):
/// `pairIndex`, `index`, `buy` required; `collateral` 1e6 (the SDK falls back to `positionSize`
/// when it is "0"), `leverage` and `price` 1e10, `tp`/`sl` 1e10 (0 = none), `limitOrderType`.
/// Amounts must be raw integers (a human decimal such as `"30.5"` is refused, never rounded); a
/// zero collateral, leverage or price is refused: an order Vanta cannot size is an error, not a
/// zero in the exposure.
pub fn parse_limit_order(o: &Value) -> DomainResult<VenueLimitOrder> {
    use vanta_domain::market::Side;
    let what = "/user-data limit order";
    let buy = o.get("buy").and_then(Value::as_bool).ok_or_else(|| DomainError::Internal(format!("{what}: no `buy`")))?;
    let collateral = match need_u64(o, "collateral", what)? {
        0 => field_u64(o, "positionSize").unwrap_or(0),
        c => c,
    };
    if collateral == 0 {
        return Err(DomainError::Internal(format!("{what}: no collateral (`collateral` and `positionSize` are 0)")));
    }
    let leverage =
        Leverage::from_raw(need_u64(o, "leverage", what)?).map_err(|e| DomainError::Internal(format!("{what}: leverage: {e}")))?;
    let price = need_u64(o, "price", what)?;
    if price == 0 {
        return Err(DomainError::Internal(format!("{what}: price 0")));
    }
    let level = |name: &str| -> DomainResult<Option<Price>> {
        match o.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match json_u64(v) {
                Some(0) => Ok(None),
                Some(raw) => Ok(Some(Price::from_raw(raw))),
                None => Err(DomainError::Internal(format!("{what}: `{name}` is not a raw integer"))),
            },
        }
    };
    let order_type = match o.get("limitOrderType") {
        None | Some(Value::Null) => 0,
        Some(v) => json_u64(v)
            .and_then(|t| u8::try_from(t).ok())
            .ok_or_else(|| DomainError::Internal(format!("{what}: `limitOrderType` out of range")))?,
    };
    Ok(VenueLimitOrder {
        pair: pair_of(o, what)?,
        order_index: index_of(o, "index", what)?,
        side: if buy { Side::Long } else { Side::Short },
        collateral: Usdc::from_raw(collateral),
        leverage,
        price: Price::from_raw(price),
        order_type,
        tp: level("tp")?,
        sl: level("sl")?,
    })
}

fn parse_onchain_trade(t: &Value) -> DomainResult<OnchainTrade> {
    let what = "/v2/positions trade";
    Ok(OnchainTrade {
        trader: t.get("trader").and_then(Value::as_str).unwrap_or_default().to_owned(),
        pair: pair_of(t, what)?,
        index: index_of(t, "index", what)?,
        buy: t.get("buy").and_then(Value::as_bool).ok_or_else(|| DomainError::Internal(format!("{what}: no `buy`")))?,
        collateral: Usdc::from_raw(need_u64(t, "initialPosToken", what)?),
        position_size: Usdc::from_raw(field_u64(t, "positionSizeUSDC").unwrap_or(0)),
        leverage_raw: need_u64(t, "leverage", what)?,
        open_price: Price::from_raw(need_u64(t, "openPrice", what)?),
        tp: price_or_zero(t, "tp"),
        sl: price_or_zero(t, "sl"),
        timestamp: field_u64(t, "timestamp").unwrap_or(0),
        coin_exposure_raw: field_u64(t, "coinExposure"),
        liquidation_price: field_u64(t, "liquidationPrice").map(Price::from_raw),
    })
}

fn u256_u64(v: U256, what: &str) -> DomainResult<u64> {
    u64::try_from(v).map_err(|_| DomainError::Internal(format!("{what} does not fit 64 bits")))
}

fn i256_text(v: I256) -> String {
    v.to_string()
}

impl AvantisClient {
    /// Core `GET /user-data?trader=`: open positions (with triggers) and resting limit orders.
    pub async fn user_data(&self, trader: TraderAddress) -> DomainResult<UserData> {
        let v: Value = self
            .call_json(
                Service::Core,
                Method::GET,
                "/user-data",
                &[("trader", trader.address().to_checksum(None))],
                None,
                Safety::Idempotent,
            )
            .await
            .map_err(CallError::for_read)?;
        let positions = v
            .get("positions")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(parse_core_position).collect::<DomainResult<Vec<_>>>())
            .transpose()?
            .unwrap_or_default();
        let limit_orders = v
            .get("limitOrders")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(parse_limit_order).collect::<DomainResult<Vec<_>>>())
            .transpose()?
            .unwrap_or_default();
        Ok(UserData { positions, limit_orders })
    }

    /// The trader's resting limit orders (core `/user-data`).
    pub async fn limit_orders(&self, trader: TraderAddress) -> DomainResult<Vec<VenueLimitOrder>> {
        Ok(self.user_data(trader).await?.limit_orders)
    }

    /// tx-builder `GET /v2/positions?trader=`: trades read from chain (with open timestamps).
    pub async fn onchain_positions(&self, trader: TraderAddress) -> DomainResult<Vec<OnchainTrade>> {
        let v: Value = self
            .call_json(
                Service::TxBuilder,
                Method::GET,
                "/v2/positions",
                &[("trader", trader.address().to_checksum(None))],
                None,
                Safety::Idempotent,
            )
            .await
            .map_err(CallError::for_read)?;
        let trades = match &v {
            Value::Array(a) => a.as_slice(),
            _ => v.get("trades").and_then(Value::as_array).map_or(&[][..], Vec::as_slice),
        };
        trades.iter().map(parse_onchain_trade).collect()
    }

    /// tx-builder `GET /v2/delegation?trader=&delegate=`.
    pub async fn delegation(&self, trader: TraderAddress, delegate: TraderAddress) -> DomainResult<DelegationStatus> {
        let q = [("trader", trader.address().to_checksum(None)), ("delegate", delegate.address().to_checksum(None))];
        let v: Value = self
            .call_json(Service::TxBuilder, Method::GET, "/v2/delegation", &q, None, Safety::Idempotent)
            .await
            .map_err(CallError::for_read)?;
        let flag = |n: &str| v.get(n).and_then(Value::as_bool).unwrap_or(false);
        Ok(DelegationStatus {
            is_enabled: flag("isEnabled"),
            expiry: field_u64(&v, "expiry").unwrap_or(0),
            can_delegated_action: flag("canDelegatedAction"),
            can_sign_intents: flag("canSignIntents"),
        })
    }

    /// tx-builder `GET /v2/allowance?trader=` (spender: TradingStorage by default). Amounts are read
    /// from the raw `balance` / `allowance` strings, never from the human float fields.
    pub async fn usdc_account(&self, trader: TraderAddress) -> DomainResult<UsdcAccount> {
        let q = [("trader", trader.address().to_checksum(None))];
        let v: Value = self
            .call_json(Service::TxBuilder, Method::GET, "/v2/allowance", &q, None, Safety::Idempotent)
            .await
            .map_err(CallError::for_read)?;
        let balance = field_u64(&v, "balance").ok_or_else(|| DomainError::Internal("/v2/allowance: no raw `balance`".into()))?;
        let allowance_raw = match v.get("allowance").and_then(Value::as_str) {
            Some(a) if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) => {
                a.parse::<U256>().map_or(u64::MAX, |x| u64::try_from(x).unwrap_or(u64::MAX))
            }
            _ => field_u64(&v, "allowance").unwrap_or(0),
        };
        Ok(UsdcAccount { balance: Usdc::from_raw(balance), allowance_raw })
    }

    /// tx-builder `GET /v2/nonce?trader=[&check=]` (`trader` = the signing address, whose bitmap
    /// holds the nonce).
    pub async fn nonce_status(&self, signer: TraderAddress, check: Option<U256>) -> DomainResult<NonceStatus> {
        let mut q = vec![("trader", signer.address().to_checksum(None))];
        if let Some(n) = check {
            q.push(("check", n.to_string()));
        }
        let v: Value = self
            .call_json(Service::TxBuilder, Method::GET, "/v2/nonce", &q, None, Safety::Idempotent)
            .await
            .map_err(CallError::for_read)?;
        let nonce = match v.get("nonce") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) if n.is_u64() => Some(n.to_string()),
            _ => None,
        };
        Ok(NonceStatus { nonce, used: v.get("used").and_then(Value::as_bool) })
    }

    /// Core `POST /price-triggers`: stores a signed partial TP/SL; returns its `entityId`.
    pub async fn create_price_trigger(&self, signed: &SignedIntent) -> DomainResult<String> {
        let body = tpsl_body(signed)?;
        let v: Value = self
            .call_json(Service::Core, Method::POST, "/price-triggers", &[], Some(&body), Safety::Submission)
            .await
            .map_err(CallError::for_submission)?;
        v.get("entityId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| DomainError::Internal("POST /price-triggers answered without entityId".into()))
    }

    /// Core `PUT /price-triggers/{entityId}`: replaces a partial TP/SL; returns the new id.
    pub async fn replace_price_trigger(&self, entity_id: &str, signed: &SignedIntent) -> DomainResult<String> {
        check_entity_id(entity_id, false)?;
        let body = tpsl_body(signed)?;
        let v: Value = self
            .call_json(Service::Core, Method::PUT, &format!("/price-triggers/{entity_id}"), &[], Some(&body), Safety::Submission)
            .await
            .map_err(CallError::for_submission)?;
        Ok(v.get("result").and_then(|r| r.get("newEntityId")).and_then(Value::as_str).unwrap_or(entity_id).to_owned())
    }

    /// Core `DELETE /price-triggers` with a signed `CancelOffchainOrder`.
    pub async fn delete_price_trigger(&self, signed: &SignedIntent) -> DomainResult<()> {
        let Intent::CancelOffchainOrder(m) = &signed.payload.intent else {
            return Err(DomainError::Internal("DELETE /price-triggers needs a CancelOffchainOrder".into()));
        };
        check_entity_id(&m.entityId, false)?;
        let body = json!({ "entityId": m.entityId, "signedMessage": signed.signature_hex() });
        self.call(Service::Core, Method::DELETE, "/price-triggers", &[], Some(&body), Safety::Submission)
            .await
            .map_err(CallError::for_submission)?;
        Ok(())
    }

    /// Core `PUT /price-triggers/global-{tp|sl}-{trader}-{pair}-{index}` with a signed
    /// `UpdateTpSlReq`. 2xx means accepted, not yet applied. `trader_text` is the trader as
    /// `/user-data` spelled it.
    pub async fn put_global_tpsl(&self, trader_text: &str, signed: &SignedIntent, tp_leg: bool) -> DomainResult<String> {
        let Intent::UpdateTpSlReq(m) = &signed.payload.intent else {
            return Err(DomainError::Internal("the global TP/SL PUT needs an UpdateTpSlReq".into()));
        };
        let trader_ok = trader_text.parse::<alloy::primitives::Address>().ok() == Some(m.trader);
        if !trader_ok {
            return Err(DomainError::Internal("the global TP/SL id's trader differs from the intent's".into()));
        }
        let id = format!(
            "global-{}-{trader_text}-{}-{}",
            if tp_leg { "tp" } else { "sl" },
            u256_u64(m._pairIndex, "pairIndex")?,
            u256_u64(m._index, "index")?
        );
        check_entity_id(&id, true)?;
        let body = json!({ "userIntent": signed.encoded_hex(), "signedMessage": signed.signature_hex() });
        self.call(Service::Core, Method::PUT, &format!("/price-triggers/{id}"), &[], Some(&body), Safety::Submission)
            .await
            .map_err(CallError::for_submission)?;
        Ok(id)
    }
}

fn check_entity_id(id: &str, global: bool) -> DomainResult<()> {
    let ok = !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if !ok {
        return Err(DomainError::Invalid(format!("not a price-trigger id: {id:?}")));
    }
    if id.starts_with("global-") != global {
        return Err(DomainError::Invalid(format!(
            "{id:?}: global TP/SL ids are managed only through the global update, partial ones only through the partial API"
        )));
    }
    Ok(())
}

/// The flattened `TpSlReq` submission body (numbers where the SDK sends numbers).
fn tpsl_body(signed: &SignedIntent) -> DomainResult<Value> {
    let Intent::TpSlReq(m) = &signed.payload.intent else {
        return Err(DomainError::Internal("a price-trigger submission needs a TpSlReq".into()));
    };
    Ok(json!({
        "trader": m.trader.to_checksum(None),
        "pairIndex": u256_u64(m.pairIndex, "pairIndex")?,
        "index": u256_u64(m.index, "index")?,
        "triggerType": m.triggerType,
        "coinSize": m.coinSize.to_string(),
        "buy": m.buy,
        "price": m.price.to_string(),
        "percentage": i256_text(m.percentage),
        "timestamp": u256_u64(m.timestamp, "timestamp")?,
        "signTimestamp": u256_u64(m.signTimestamp, "signTimestamp")?,
        "orderType": m.orderType,
        "nonce": m.nonce.to_string(),
        "signedMessage": signed.signature_hex(),
    }))
}

/// A trader's position in either positions source's terms (core `/user-data` or tx-builder
/// `/v2/positions`, as configured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraderPosition {
    pub trader_text: String,
    pub pair: vanta_domain::market::PairIndex,
    pub index: u32,
    pub buy: bool,
    pub is_pnl: bool,
    pub collateral: vanta_domain::money::Usdc,
    pub leverage_raw: u64,
    pub open_price: vanta_domain::money::Price,
    pub tp: vanta_domain::money::Price,
    pub sl: vanta_domain::money::Price,
    /// Unix seconds, when the source gives it.
    pub opened_at: Option<u64>,
}

impl TraderPosition {
    /// The domain's view of the position.
    pub fn to_venue(&self, trader: TraderAddress) -> DomainResult<vanta_domain::ports::VenuePosition> {
        use vanta_domain::market::Side;
        Ok(vanta_domain::ports::VenuePosition {
            trader,
            pair: self.pair,
            trade_index: self.index,
            side: if self.buy { Side::Long } else { Side::Short },
            collateral: self.collateral,
            leverage: vanta_domain::money::Leverage::from_raw(self.leverage_raw)
                .map_err(|e| DomainError::Internal(format!("Avantis position leverage: {e}")))?,
            open_price: self.open_price,
            tp: (!self.tp.is_zero()).then_some(self.tp),
            sl: (!self.sl.is_zero()).then_some(self.sl),
            open_time: self.opened_at.filter(|t| *t > 0),
        })
    }
}

impl AvantisClient {
    /// The trader's open positions from the configured source.
    pub async fn trader_positions(&self, trader: TraderAddress) -> DomainResult<Vec<TraderPosition>> {
        Ok(match self.cfg.positions_source {
            super::PositionsSource::Core => self
                .user_data(trader)
                .await?
                .positions
                .into_iter()
                .map(|p| TraderPosition {
                    trader_text: p.trader,
                    pair: p.pair,
                    index: p.index,
                    buy: p.buy,
                    is_pnl: p.is_pnl,
                    collateral: p.collateral,
                    leverage_raw: p.leverage_raw,
                    open_price: p.open_price,
                    tp: p.tp,
                    sl: p.sl,
                    opened_at: p.opened_at,
                })
                .collect(),
            super::PositionsSource::TxBuilder => self
                .onchain_positions(trader)
                .await?
                .into_iter()
                .map(|t| TraderPosition {
                    trader_text: t.trader,
                    pair: t.pair,
                    index: t.index,
                    buy: t.buy,
                    is_pnl: false,
                    collateral: t.collateral,
                    leverage_raw: t.leverage_raw,
                    open_price: t.open_price,
                    tp: t.tp,
                    sl: t.sl,
                    opened_at: Some(t.timestamp),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod limit_order_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

    use serde_json::json;
    use vanta_domain::market::Side;

    use super::*;

    /// The reference's `/user-data` example entry.
    fn reference() -> Value {
        json!({"trader": "0x1111111111111111111111111111111111111111", "pairIndex": 21, "index": 0, "buy": false,
               "block": 35961058, "collateral": "30000000", "positionSize": "3000000000",
               "price": "37600000000000", "leverage": "1000000000000", "tp": "37528560000000", "sl": "37670000000000",
               "slippageP": "30000000000", "executionFee": "0", "liquidationPrice": "37919600000000", "limitOrderType": 0})
    }

    #[test]
    fn the_reference_entry_is_read_in_raw_units() {
        let o = parse_limit_order(&reference()).unwrap();
        assert_eq!(
            o,
            VenueLimitOrder {
                pair: PairIndex(21),
                order_index: 0,
                side: Side::Short,
                collateral: Usdc::from_raw(30_000_000),
                leverage: Leverage::from_whole(100).unwrap(),
                price: Price::from_raw(37_600_000_000_000),
                order_type: 0,
                tp: Some(Price::from_raw(37_528_560_000_000)),
                sl: Some(Price::from_raw(37_670_000_000_000)),
            }
        );
        assert_eq!(o.notional().unwrap(), Usdc::from_raw(3_000_000_000), "$30 × 100");
    }

    #[test]
    fn numbers_zero_levels_and_the_position_size_fallback() {
        let mut v = reference();
        v["pairIndex"] = json!("21");
        v["collateral"] = json!("0");
        v["tp"] = json!("0");
        v.as_object_mut().unwrap().remove("sl");
        v.as_object_mut().unwrap().remove("limitOrderType");
        let o = parse_limit_order(&v).unwrap();
        assert_eq!(o.collateral, Usdc::from_raw(3_000_000_000), "collateral 0: positionSize, as the SDK reads it");
        assert_eq!((o.tp, o.sl, o.order_type), (None, None, 0));
    }

    #[test]
    fn missing_fields_and_bad_units_are_errors_not_panics() {
        for field in ["pairIndex", "index", "buy", "collateral", "leverage", "price"] {
            let mut v = reference();
            v.as_object_mut().unwrap().remove(field);
            let e = parse_limit_order(&v).unwrap_err().to_string();
            assert!(e.contains("limit order"), "{field}: {e}");
        }
        for (field, bad) in [
            ("collateral", json!("30.5")),
            ("collateral", json!(-1)),
            ("leverage", json!("100.0")),
            ("leverage", json!("0")),
            ("price", json!("0")),
            ("price", json!(3.76e13)),
            ("tp", json!("1e10")),
            ("pairIndex", json!(70000)),
            ("index", json!("4294967296")),
            ("limitOrderType", json!(256)),
            ("buy", json!("false")),
        ] {
            let mut v = reference();
            v[field] = bad.clone();
            assert!(parse_limit_order(&v).is_err(), "{field} = {bad} accepted");
        }
        let mut v = reference();
        v["collateral"] = json!("0");
        v["positionSize"] = json!("0");
        assert!(parse_limit_order(&v).is_err(), "no size at all");
        assert!(parse_limit_order(&json!("not an object")).is_err());
    }
}
