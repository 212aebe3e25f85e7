//! The data service (`{data}/v2/trading`): the venue's pair snapshot, served as stored, and the
//! pair table the other services read from it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::wire::Reply;
use super::{PairRow, State};

/// A three-pair (ETH = 0, BTC = 1, SOL = 2) stand-in for the stored snapshot.
pub fn builtin_snapshot() -> &'static str {
    BUILTIN_SNAPSHOT
}

/// The stored real testnet `/v2/trading` snapshot, or a three-pair stand-in when absent.
pub fn default_snapshot() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/avantis/vectors/trading_snapshot.json");
    std::fs::read_to_string(path).unwrap_or_else(|_| BUILTIN_SNAPSHOT.to_owned())
}

pub(super) const BUILTIN_SNAPSHOT: &str = r#"{"dataVersion":3,"pairCount":3,"maxTradesPerPair":40,"totalOi":0,"maxOpenInterest":100000000,
"groupInfo":{"0":{"name":"CRYPTO1","maxOpenInterestP":26,"isSpreadDynamic":true,"groupMaxOI":26118551.95,"groupOI":0}},
"pairInfos":{
"0":{"index":0,"from":"ETH","feed":{"feedId":"0xff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace"},"to":"USD","groupIndex":0,"isPairListed":true,"leverages":{"minLeverage":1,"maxLeverage":75,"pnlMinLeverage":75,"pnlMaxLeverage":500},"spreadP":0.01,"openFeeP":0.045,"closeFeeP":0.045,"minLevPosUSDC":100,"values":{"maxGainP":2500,"maxSlP":80},"additionalPairParams2":{"closeOnlyMode":false}},
"1":{"index":1,"from":"BTC","feed":{"feedId":"0xe62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43"},"to":"USD","groupIndex":0,"isPairListed":true,"leverages":{"minLeverage":1,"maxLeverage":75,"pnlMinLeverage":75,"pnlMaxLeverage":500},"spreadP":0,"openFeeP":0.045,"closeFeeP":0.045,"minLevPosUSDC":100,"values":{"maxGainP":2500,"maxSlP":80},"additionalPairParams2":{"closeOnlyMode":false}},
"2":{"index":2,"from":"SOL","feed":{"feedId":"0xef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d"},"to":"USD","groupIndex":1,"isPairListed":true,"leverages":{"minLeverage":1,"maxLeverage":75,"pnlMinLeverage":75,"pnlMaxLeverage":500},"spreadP":0.02,"openFeeP":0.045,"closeFeeP":0.045,"minLevPosUSDC":100,"values":{"maxGainP":2500,"maxSlP":80},"additionalPairParams2":{"closeOnlyMode":false}}}}"#;

pub(super) fn pair_rows(snapshot: &str) -> BTreeMap<u16, PairRow> {
    let v: Value = serde_json::from_str(snapshot).unwrap_or(Value::Null);
    let infos = v.get("pairInfos").or_else(|| v.get("data").and_then(|d| d.get("pairInfos")));
    let mut out = BTreeMap::new();
    if let Some(obj) = infos.and_then(Value::as_object) {
        for p in obj.values() {
            let Some(index) = p.get("index").and_then(Value::as_u64).and_then(|i| u16::try_from(i).ok()) else { continue };
            let from = p.get("from").and_then(Value::as_str).unwrap_or_default().to_owned();
            let to = p.get("to").and_then(Value::as_str).unwrap_or_default().to_owned();
            out.insert(
                index,
                PairRow {
                    symbol: format!("{from}/{to}"),
                    from,
                    to,
                    listed: p.get("isPairListed").and_then(Value::as_bool).unwrap_or(false),
                    // Integers only: the fake never reads money through floats.
                    min_position: p.get("minLevPosUSDC").and_then(Value::as_u64).and_then(|m| m.checked_mul(1_000_000)),
                    max_gain_p: p.get("values").and_then(|v| v.get("maxGainP")).and_then(Value::as_u64).unwrap_or(2500),
                },
            );
        }
    }
    out
}

/// `GET /v2/trading`: the snapshot text as-is.
pub(super) fn trading(st: &State) -> Reply {
    Reply { status: 200, body: Value::Null, raw: Some(st.snapshot.clone()) }
}
