//! Price sources for the Prices port: Pyth Hermes (HTTP). Prices are converted to the venue's
//! 1e10 units exactly, from the integer mantissa and exponent Pyth publishes.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use vanta_domain::market::PairSymbol;
use vanta_domain::money::{Bps, Price};
use vanta_domain::ports::{PriceQuote, Prices};
use vanta_domain::time::Timestamp;
use vanta_domain::{DomainError, DomainResult};

/// Pyth Hermes `GET /v2/updates/price/latest?ids[]=…&parsed=true`.
pub struct PythHermes {
    http: reqwest::Client,
    base: String,
    /// Pyth feed id (hex, no 0x) per pair, from the venue's catalog.
    feeds: HashMap<PairSymbol, String>,
    /// Quotes whose confidence interval is wider than this are not used.
    max_confidence: Bps,
}

#[derive(Deserialize)]
struct Latest {
    parsed: Vec<Parsed>,
}

#[derive(Deserialize)]
struct Parsed {
    id: String,
    price: PythPrice,
}

#[derive(Deserialize)]
struct PythPrice {
    price: String,
    conf: String,
    expo: i32,
    publish_time: i64,
}

impl PythHermes {
    pub fn new(base: &str, feeds: HashMap<PairSymbol, String>) -> DomainResult<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(4))
            .build()
            .map_err(|e| DomainError::Internal(format!("http client: {e}")))?;
        let feeds = feeds.into_iter().map(|(k, v)| (k, v.trim_start_matches("0x").to_ascii_lowercase())).collect();
        Ok(Self { http, base: base.trim_end_matches('/').to_owned(), feeds, max_confidence: Bps::new_const(50) })
    }
}

/// `mantissa × 10^expo` in 1e10 units, rounded toward zero; refuses negative prices.
pub fn pyth_to_price(mantissa: &str, expo: i32) -> DomainResult<Price> {
    let m: i128 = mantissa.trim().parse().map_err(|_| DomainError::Invalid(format!("bad Pyth price '{mantissa}'")))?;
    if m <= 0 {
        return Err(DomainError::Invalid("Pyth price is not positive".into()));
    }
    let shift = expo + 10;
    let v = if shift >= 0 {
        10i128.checked_pow(shift.unsigned_abs()).and_then(|p| m.checked_mul(p))
    } else {
        10i128.checked_pow(shift.unsigned_abs()).map(|p| m / p)
    }
    .ok_or_else(|| DomainError::Invalid("Pyth price out of range".into()))?;
    u64::try_from(v).map(Price::from_raw).map_err(|_| DomainError::Invalid("Pyth price out of range".into()))
}

#[async_trait]
impl Prices for PythHermes {
    async fn quotes(&self, pair: &PairSymbol) -> DomainResult<Vec<PriceQuote>> {
        let Some(feed) = self.feeds.get(pair) else { return Ok(Vec::new()) };
        let url = format!("{}/v2/updates/price/latest", self.base);
        let resp = self
            .http
            .get(url)
            .query(&[("ids[]", feed.as_str()), ("parsed", "true")])
            .send()
            .await
            .map_err(|e| DomainError::Unavailable(format!("pyth: {}", e.without_url())))?;
        if !resp.status().is_success() {
            return Err(DomainError::Unavailable(format!("pyth answered {}", resp.status())));
        }
        let latest: Latest =
            resp.json().await.map_err(|e| DomainError::Unavailable(format!("pyth: unreadable reply ({})", e.without_url())))?;
        let mut out = Vec::new();
        for p in latest.parsed.into_iter().filter(|p| p.id.trim_start_matches("0x").eq_ignore_ascii_case(feed)) {
            let price = pyth_to_price(&p.price.price, p.price.expo)?;
            let conf = pyth_to_price(&p.price.conf, p.price.expo).unwrap_or(Price::ZERO);
            // A wide confidence interval means the feed itself is unsure: do not use it.
            if u128::from(conf.raw()) * 10_000 > u128::from(price.raw()) * u128::from(self.max_confidence.raw()) {
                tracing::warn!(%pair, "pyth confidence too wide; quote ignored");
                continue;
            }
            out.push(PriceQuote {
                pair: pair.clone(),
                price,
                published_at: Timestamp::from_secs(p.price.publish_time),
                source: "pyth".into(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pyth_prices_convert_exactly() {
        assert_eq!(pyth_to_price("9512345678901", -8).unwrap(), "95123.45678901".parse().unwrap());
        assert_eq!(pyth_to_price("123", 2).unwrap(), "12300".parse().unwrap());
        assert_eq!(pyth_to_price("123456789012345", -12).unwrap().raw(), 1_234_567_890_123, "beyond 1e10 precision rounds toward zero");
        assert!(pyth_to_price("-5", -8).is_err());
        assert!(pyth_to_price("x", -8).is_err());
    }
}
