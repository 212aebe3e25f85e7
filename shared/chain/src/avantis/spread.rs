//! The venue's spread quotes: `POST {risk_v2}/spread` (risk engine v2, the SDK's
//! `markets.spread`), the [`SpreadQuotes`] port the paper venue fills with.
//!
//! The request carries what the official client sends: `pairIndex`, the checksummed `trader`,
//! `coinSize10`, `isLong`, `isOpen`, `orderType` 0 (market) and `leverage10` (so the engine applies
//! the pair's leverage-tiered cap). The quoted spread is `estimatedSpreadPctWithFlow10` when
//! present, else `spreadPctWithoutFlow10` (percent × 1e10). `403` is a blocked spread, `404` (or
//! the codes `SPREAD_BLOCKED` / `SPREAD_UNAVAILABLE`) no spread computable: "do not execute",
//! never zero. One attempt, no retry: a quote that cannot be had is reported as an error and the
//! caller decides (a paper open is refused, a close takes the catalog's spread).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::money::PercentP;
use vanta_domain::spread::{SpreadAsk, SpreadQuote, SpreadQuotes};

use super::{ApiError, Service, read_answer};

/// The risk engine's `orderType` for a market order (not the trade enum).
pub const SPREAD_ORDER_MARKET: u8 = 0;

/// A client of the risk engine v2.
#[derive(Debug, Clone)]
pub struct RiskSpreads {
    url: String,
    http: reqwest::Client,
}

impl RiskSpreads {
    /// For the engine at `base` (e.g. `https://prod-api.veranta.xyz/risk/v2`), each request
    /// bounded by `timeout`.
    pub fn new(base: &str, timeout: Duration) -> DomainResult<Self> {
        let parsed = url::Url::parse(base).map_err(|e| DomainError::Invalid(format!("the risk engine URL is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(DomainError::Invalid("the risk engine URL is not http(s)".into()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .timeout(timeout)
            .build()
            .map_err(|e| DomainError::Internal(format!("cannot build the risk engine HTTP client: {e}")))?;
        Ok(Self { url: format!("{}/spread", base.trim_end_matches('/')), http })
    }
}

/// The request body for `ask`.
pub fn spread_body(ask: &SpreadAsk) -> Value {
    json!({
        "pairIndex": ask.pair.0,
        "trader": ask.trader.address().to_checksum(None),
        "coinSize10": ask.coin_size10.to_string(),
        "isLong": ask.side.is_buy(),
        "isOpen": ask.is_open,
        "orderType": SPREAD_ORDER_MARKET,
        "leverage10": ask.leverage.raw().to_string(),
    })
}

/// A `*Pct10` field: a decimal integer string (or number); None when absent or null.
fn pct10(v: &Value, field: &str) -> Result<Option<PercentP>, String> {
    let raw = match v.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().parse::<u64>().map_err(|_| format!("{field} is not a whole number: {s:?}"))?,
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| format!("{field} is not a whole number: {n}"))?,
        Some(other) => return Err(format!("{field} is not a number: {other}")),
    };
    Ok(Some(PercentP::from_raw(raw)))
}

/// The quote in a `200` answer: with-flow when present, else without-flow.
pub fn read_quote(answer: &Value) -> Result<SpreadQuote, String> {
    let with_flow = pct10(answer, "estimatedSpreadPctWithFlow10")?;
    let without = pct10(answer, "spreadPctWithoutFlow10")?;
    Ok(match with_flow.or(without) {
        Some(s) => SpreadQuote::Quoted(s),
        None => SpreadQuote::Unavailable("the risk engine answered without a spread".into()),
    })
}

/// What an error answer means for the order.
fn read_error(e: &ApiError) -> Option<SpreadQuote> {
    let why = format!("{} {}: {}", e.status, e.code, e.message);
    match (e.code.as_str(), e.status) {
        ("SPREAD_BLOCKED", _) | (_, 403) => Some(SpreadQuote::Blocked(why)),
        ("SPREAD_UNAVAILABLE", _) | (_, 404) => Some(SpreadQuote::Unavailable(why)),
        _ => None,
    }
}

#[async_trait]
impl SpreadQuotes for RiskSpreads {
    async fn spread(&self, ask: &SpreadAsk) -> DomainResult<SpreadQuote> {
        let endpoint = "POST /spread";
        let resp = self.http.post(&self.url).json(&spread_body(ask)).send().await.map_err(|e| {
            let kind = if e.is_timeout() { "timed out" } else { "failed" };
            DomainError::Unavailable(format!("the risk engine's {endpoint} {kind}"))
        })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|_| DomainError::Unavailable(format!("the risk engine's {endpoint} answer was cut")))?;
        match read_answer(Service::Data, status, &bytes, endpoint) {
            Ok(text) => {
                let v: Value = serde_json::from_str(&text).map_err(|e| DomainError::Internal(format!("risk engine {endpoint}: {e}")))?;
                read_quote(&v).map_err(|e| DomainError::Internal(format!("risk engine {endpoint}: {e}")))
            }
            Err(super::CallError::Api(e)) => match read_error(&e) {
                Some(q) => Ok(q),
                None if e.status >= 500 || e.status == 429 => Err(DomainError::Unavailable(format!("the risk engine {endpoint}: {e}"))),
                None => Err(DomainError::Invalid(format!("the risk engine refused the spread request: {e}"))),
            },
            Err(other) => Err(other.for_read()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn the_quote_is_with_flow_when_present_else_without() {
        let both = json!({"spreadPctWithoutFlow10": "500000000", "estimatedSpreadPctWithFlow10": "750000000"});
        assert_eq!(read_quote(&both).unwrap(), SpreadQuote::Quoted(PercentP::from_raw(750_000_000)));
        let without = json!({"spreadPctWithoutFlow10": "500000000", "estimatedSpreadPctWithFlow10": null});
        assert_eq!(read_quote(&without).unwrap(), SpreadQuote::Quoted(PercentP::from_raw(500_000_000)));
        assert!(matches!(read_quote(&json!({"byPass": true})).unwrap(), SpreadQuote::Unavailable(_)));
        assert!(read_quote(&json!({"spreadPctWithoutFlow10": "-5"})).is_err(), "a negative spread is malformed, never a panic");
        assert!(read_quote(&json!({"spreadPctWithoutFlow10": "0.5"})).is_err());
    }
}
