//! Decoding of the typed-data `message` JSON (as returned by `POST /v2/intents/*`) into intents.
//!
//! Integers may be decimal strings, `0x` hex strings (unsigned only) or JSON integers; unknown
//! or missing fields are errors. This parses what an API returned; it does not replace building
//! the intent locally and comparing digests (see [`super::verify_digest`]).

use alloy::primitives::{Address, B256, I256, U256};
use serde_json::{Map, Value};

use super::types::{
    CancelOffchainOrder, CloseTradeCoinExposureReq, CloseTradeReq, DelegateReq, IncreasePositionSizeReq,
    IncreasePositionSizeWithCoinExposureReq, OpenTradeCoinExposureReq, OpenTradeReq, RegisterCodeReq, RfqCloseOrder, RfqOpenOrder,
    SetTraderReferralCodeByUserReq, TpSlReq, Trade, TwapCancelReq, TwapCloseOrder, TwapOpenOrder, UpdatePositionSize, UpdateTpSlReq,
};
use super::{Eip712Error, Intent, IntentKind};

/// Reads the fields of one JSON object, remembering which were consumed.
struct Fields<'a> {
    kind: IntentKind,
    prefix: String,
    obj: &'a Map<String, Value>,
    seen: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(kind: IntentKind, prefix: String, value: &'a Value) -> Result<Self, Eip712Error> {
        match value.as_object() {
            Some(obj) => Ok(Self { kind, prefix, obj, seen: Vec::new() }),
            None => Err(Eip712Error::Message {
                kind,
                field: if prefix.is_empty() { "<message>".to_owned() } else { prefix },
                reason: "expected a JSON object".to_owned(),
            }),
        }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_owned() } else { format!("{}.{name}", self.prefix) }
    }

    fn err(&self, name: &str, reason: impl Into<String>) -> Eip712Error {
        Eip712Error::Message { kind: self.kind, field: self.path(name), reason: reason.into() }
    }

    fn get(&mut self, name: &'static str) -> Result<&'a Value, Eip712Error> {
        self.seen.push(name);
        self.obj.get(name).ok_or_else(|| self.err(name, "missing"))
    }

    fn str(&mut self, name: &'static str) -> Result<&'a str, Eip712Error> {
        let v = self.get(name)?;
        v.as_str().ok_or_else(|| self.err(name, "expected a string"))
    }

    fn uint(&mut self, name: &'static str) -> Result<U256, Eip712Error> {
        let v = self.get(name)?;
        parse_uint(v).ok_or_else(|| self.err(name, format!("not a uint256: {v}")))
    }

    fn u8(&mut self, name: &'static str) -> Result<u8, Eip712Error> {
        let v = self.uint(name)?;
        u8::try_from(v).map_err(|_| self.err(name, format!("{v} does not fit uint8")))
    }

    fn int(&mut self, name: &'static str) -> Result<I256, Eip712Error> {
        let v = self.get(name)?;
        parse_int(v).ok_or_else(|| self.err(name, format!("not an int256: {v}")))
    }

    fn bool(&mut self, name: &'static str) -> Result<bool, Eip712Error> {
        let v = self.get(name)?;
        v.as_bool().ok_or_else(|| self.err(name, "expected a JSON bool"))
    }

    fn address(&mut self, name: &'static str) -> Result<Address, Eip712Error> {
        let s = self.str(name)?;
        parse_hex_exact::<20>(s).map(Address::from).ok_or_else(|| self.err(name, format!("not an address: {s:?}")))
    }

    fn bytes32(&mut self, name: &'static str) -> Result<B256, Eip712Error> {
        let s = self.str(name)?;
        parse_hex_exact::<32>(s).map(B256::from).ok_or_else(|| self.err(name, format!("not a bytes32: {s:?}")))
    }

    fn string(&mut self, name: &'static str) -> Result<String, Eip712Error> {
        self.str(name).map(str::to_owned)
    }

    fn nested(&mut self, name: &'static str) -> Result<Fields<'a>, Eip712Error> {
        let v = self.get(name)?;
        Fields::new(self.kind, self.path(name), v)
    }

    /// Fails if the object has fields that were not read.
    fn finish(self) -> Result<(), Eip712Error> {
        match self.obj.keys().find(|k| !self.seen.contains(&k.as_str())) {
            Some(extra) => Err(self.err(extra, "unexpected field")),
            None => Ok(()),
        }
    }
}

fn parse_uint(v: &Value) -> Option<U256> {
    match v {
        Value::Number(n) => n.as_u64().map(U256::from),
        Value::String(s) => {
            if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                U256::from_str_radix(hex, 16).ok()
            } else {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                U256::from_str_radix(s, 10).ok()
            }
        }
        _ => None,
    }
}

fn parse_int(v: &Value) -> Option<I256> {
    match v {
        Value::Number(n) => n.as_i64().and_then(|i| I256::try_from(i).ok()),
        Value::String(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            I256::from_dec_str(s).ok()
        }
        _ => None,
    }
}

/// `0x` followed by exactly `2 * N` hex digits (any case; no checksum check).
fn parse_hex_exact<const N: usize>(s: &str) -> Option<[u8; N]> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if hex.len() != 2 * N || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    let bytes = hex.as_bytes();
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *slot = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

fn trade(mut f: Fields<'_>) -> Result<Trade, Eip712Error> {
    let t = Trade {
        trader: f.address("trader")?,
        pairIndex: f.uint("pairIndex")?,
        index: f.uint("index")?,
        initialPosToken: f.uint("initialPosToken")?,
        positionSizeUSDC: f.uint("positionSizeUSDC")?,
        openPrice: f.uint("openPrice")?,
        buy: f.bool("buy")?,
        leverage: f.uint("leverage")?,
        tp: f.uint("tp")?,
        sl: f.uint("sl")?,
        timestamp: f.uint("timestamp")?,
    };
    f.finish()?;
    Ok(t)
}

fn update_position_size(mut f: Fields<'_>) -> Result<UpdatePositionSize, Eip712Error> {
    let u = UpdatePositionSize {
        trader: f.address("trader")?,
        pairIndex: f.uint("pairIndex")?,
        index: f.uint("index")?,
        openPrice: f.uint("openPrice")?,
        initialPosToken: f.uint("initialPosToken")?,
        leverage: f.uint("leverage")?,
    };
    f.finish()?;
    Ok(u)
}

/// Builds an intent of `kind` from its typed-data `message` object.
pub(super) fn decode(kind: IntentKind, message: &Value) -> Result<Intent, Eip712Error> {
    let mut f = Fields::new(kind, String::new(), message)?;
    let intent = match kind {
        IntentKind::OpenTradeReq => Intent::OpenTradeReq(OpenTradeReq {
            _t: trade(f.nested("_t")?)?,
            _type: f.u8("_type")?,
            _slippageP: f.uint("_slippageP")?,
            _deadline: f.uint("_deadline")?,
            _nonce: f.uint("_nonce")?,
        }),
        IntentKind::OpenTradeCoinExposureReq => Intent::OpenTradeCoinExposureReq(OpenTradeCoinExposureReq {
            _t: trade(f.nested("_t")?)?,
            _type: f.u8("_type")?,
            _coinExposure: f.uint("_coinExposure")?,
            _minLeverage: f.uint("_minLeverage")?,
            _maxLeverage: f.uint("_maxLeverage")?,
            _slippageP: f.uint("_slippageP")?,
            _deadline: f.uint("_deadline")?,
            _nonce: f.uint("_nonce")?,
        }),
        IntentKind::CloseTradeReq => Intent::CloseTradeReq(CloseTradeReq {
            _trader: f.address("_trader")?,
            _pairIndex: f.uint("_pairIndex")?,
            _index: f.uint("_index")?,
            _openTimestamp: f.uint("_openTimestamp")?,
            _amount: f.uint("_amount")?,
            _wantedPrice: f.uint("_wantedPrice")?,
            _deadline: f.uint("_deadline")?,
            _nonce: f.uint("_nonce")?,
        }),
        IntentKind::CloseTradeCoinExposureReq => Intent::CloseTradeCoinExposureReq(CloseTradeCoinExposureReq {
            _trader: f.address("_trader")?,
            _pairIndex: f.uint("_pairIndex")?,
            _index: f.uint("_index")?,
            _openTimestamp: f.uint("_openTimestamp")?,
            _coinExposure: f.uint("_coinExposure")?,
            _wantedPrice: f.uint("_wantedPrice")?,
            _deadline: f.uint("_deadline")?,
            _nonce: f.uint("_nonce")?,
        }),
        IntentKind::IncreasePositionSizeReq => Intent::IncreasePositionSizeReq(IncreasePositionSizeReq {
            _updateInfo: update_position_size(f.nested("_updateInfo")?)?,
            _slippageP: f.uint("_slippageP")?,
            _deadline: f.uint("_deadline")?,
            _nonce: f.uint("_nonce")?,
        }),
        IntentKind::IncreasePositionSizeWithCoinExposureReq => {
            Intent::IncreasePositionSizeWithCoinExposureReq(IncreasePositionSizeWithCoinExposureReq {
                _updateInfo: update_position_size(f.nested("_updateInfo")?)?,
                _coinExposure: f.uint("_coinExposure")?,
                _minLeverage: f.uint("_minLeverage")?,
                _maxLeverage: f.uint("_maxLeverage")?,
                _slippageP: f.uint("_slippageP")?,
                _deadline: f.uint("_deadline")?,
                _nonce: f.uint("_nonce")?,
            })
        }
        IntentKind::UpdateTpSlReq => Intent::UpdateTpSlReq(UpdateTpSlReq {
            trader: f.address("trader")?,
            _pairIndex: f.uint("_pairIndex")?,
            _index: f.uint("_index")?,
            _newTp: f.uint("_newTp")?,
            _newSl: f.uint("_newSl")?,
            _deadline: f.uint("_deadline")?,
            _nonce: f.uint("_nonce")?,
        }),
        IntentKind::TpSlReq => Intent::TpSlReq(TpSlReq {
            trader: f.address("trader")?,
            pairIndex: f.uint("pairIndex")?,
            index: f.uint("index")?,
            triggerType: f.u8("triggerType")?,
            coinSize: f.uint("coinSize")?,
            buy: f.bool("buy")?,
            price: f.uint("price")?,
            percentage: f.int("percentage")?,
            timestamp: f.uint("timestamp")?,
            signTimestamp: f.uint("signTimestamp")?,
            orderType: f.u8("orderType")?,
            nonce: f.uint("nonce")?,
        }),
        IntentKind::TwapOpenOrder => Intent::TwapOpenOrder(TwapOpenOrder {
            trader: f.address("trader")?,
            pairIndex: f.uint("pairIndex")?,
            collateral: f.uint("collateral")?,
            buy: f.bool("buy")?,
            isCoin: f.bool("isCoin")?,
            coinSize: f.uint("coinSize")?,
            defaultLeverage: f.uint("defaultLeverage")?,
            maxLeverage: f.uint("maxLeverage")?,
            runTime: f.uint("runTime")?,
            nonce: f.uint("nonce")?,
            deadline: f.uint("deadline")?,
            __reserved1: f.uint("__reserved1")?,
        }),
        IntentKind::TwapCloseOrder => Intent::TwapCloseOrder(TwapCloseOrder {
            trader: f.address("trader")?,
            pairIndex: f.uint("pairIndex")?,
            index: f.uint("index")?,
            coinSizeToClose: f.uint("coinSizeToClose")?,
            runTime: f.uint("runTime")?,
            nonce: f.uint("nonce")?,
            deadline: f.uint("deadline")?,
            __reserved1: f.uint("__reserved1")?,
        }),
        IntentKind::TwapCancelReq => Intent::TwapCancelReq(TwapCancelReq {
            trader: f.address("trader")?,
            twapId: f.uint("twapId")?,
            nonce: f.uint("nonce")?,
            deadline: f.uint("deadline")?,
        }),
        IntentKind::CancelOffchainOrder => Intent::CancelOffchainOrder(CancelOffchainOrder { entityId: f.string("entityId")? }),
        IntentKind::RfqOpenOrder => Intent::RfqOpenOrder(RfqOpenOrder {
            trader: f.address("trader")?,
            pairIndex: f.uint("pairIndex")?,
            collateral: f.uint("collateral")?,
            buy: f.bool("buy")?,
            isCoin: f.bool("isCoin")?,
            coinSize: f.uint("coinSize")?,
            defaultLeverage: f.uint("defaultLeverage")?,
            maxLeverage: f.uint("maxLeverage")?,
            wantedPrice: f.uint("wantedPrice")?,
            maxSlippageP: f.uint("maxSlippageP")?,
            nonce: f.uint("nonce")?,
            deadline: f.uint("deadline")?,
        }),
        IntentKind::RfqCloseOrder => Intent::RfqCloseOrder(RfqCloseOrder {
            trader: f.address("trader")?,
            pairIndex: f.uint("pairIndex")?,
            index: f.uint("index")?,
            coinSizeToClose: f.uint("coinSizeToClose")?,
            wantedPrice: f.uint("wantedPrice")?,
            maxSlippageP: f.uint("maxSlippageP")?,
            nonce: f.uint("nonce")?,
            deadline: f.uint("deadline")?,
        }),
        IntentKind::DelegateReq => Intent::DelegateReq(DelegateReq {
            trader: f.address("trader")?,
            delegate: f.address("delegate")?,
            expiry: f.uint("expiry")?,
            deadline: f.uint("deadline")?,
            tnc: f.string("tnc")?,
            nonce: f.uint("nonce")?,
        }),
        IntentKind::RegisterCodeReq => Intent::RegisterCodeReq(RegisterCodeReq {
            _code: f.bytes32("_code")?,
            _referrer: f.address("_referrer")?,
            _deadline: f.uint("_deadline")?,
            _nonce: f.uint("_nonce")?,
        }),
        IntentKind::SetTraderReferralCodeByUserReq => Intent::SetTraderReferralCodeByUserReq(SetTraderReferralCodeByUserReq {
            _code: f.bytes32("_code")?,
            _referee: f.address("_referee")?,
            _deadline: f.uint("_deadline")?,
            _nonce: f.uint("_nonce")?,
        }),
    };
    f.finish()?;
    Ok(intent)
}
