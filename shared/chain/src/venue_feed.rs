//! The venue's own price: `GET {feed}/v2/pairs/{index}/price-update-data`, the signed update its
//! keeper posts on-chain and the price its market orders fill at. Each answer carries two legs,
//! `pro` (Pyth Lazer) and `core` (Pyth Hermes), each with the human `price` and its
//! `publishTime` (unix seconds); like the official client, the `pro` leg is preferred and an
//! empty or zero leg skipped. The price is converted to 1e10 units exactly from its text (digits
//! beyond 1e-10 are dropped).
//!
//! [`VenueFeedPrices`] is a price source (`veranta`); [`vanta_domain::feeds::VenueCrossChecked`]
//! makes it required next to the oracles.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use vanta_domain::market::{PairCatalog, PairIndex, PairSymbol};
use vanta_domain::money::{Bps, Price};
use vanta_domain::ports::{PriceQuote, Prices};
use vanta_domain::time::Timestamp;
use vanta_domain::{DomainError, DomainResult};

use crate::avantis::decimal::scaled_i128;
use crate::http_error::HttpError;

/// The source name on the venue's quotes.
pub const VENUE_FEED_SOURCE: &str = vanta_domain::feeds::VENUE;

/// The venue's feed service, for the pairs of a catalog.
pub struct VenueFeedPrices {
    http: reqwest::Client,
    base: String,
    pairs: HashMap<PairSymbol, PairIndex>,
}

impl VenueFeedPrices {
    /// Reads `{feed_url}/v2/pairs/{index}/price-update-data` for the catalog's pairs.
    pub fn new(feed_url: &str, catalog: &PairCatalog) -> DomainResult<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(4))
            .build()
            .map_err(|e| DomainError::Internal(format!("http client: {e}")))?;
        let pairs = catalog.iter().map(|p| (p.symbol.clone(), p.index)).collect();
        Ok(Self { http, base: feed_url.trim_end_matches('/').to_owned(), pairs })
    }
}

/// A human price's text as 1e10 units, digits beyond the scale dropped; None unless positive.
fn price_of(v: &Value) -> Option<Price> {
    let text = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let exact = scaled_i128(&text, 10).ok().or_else(|| {
        // More than ten decimals: cut the text (no exponent form then) and read it again.
        let (int, frac) = text.split_once('.')?;
        let frac: String = frac.chars().take(10).collect();
        scaled_i128(&format!("{int}.{frac}"), 10).ok()
    })?;
    u64::try_from(exact).ok().filter(|p| *p > 0).map(Price::from_raw)
}

/// A `publishTime` in seconds (milliseconds when it is that large).
fn time_of(v: &Value) -> Option<Timestamp> {
    let n = match v {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (n > 0).then(|| if n > 100_000_000_000 { Timestamp(n) } else { Timestamp::from_secs(n) })
}

/// The quote in a `price-update-data` answer (or its `{"data": …}` wrapper): the `pro` leg's,
/// else the `core` leg's.
pub fn parse_price_update(pair: &PairSymbol, body: &Value) -> DomainResult<PriceQuote> {
    let payload = body.get("data").filter(|d| d.is_object()).unwrap_or(body);
    for leg in ["pro", "core"] {
        let Some(l) = payload.get(leg).filter(|l| l.is_object()) else { continue };
        let Some(price) = l.get("price").and_then(price_of) else { continue };
        let Some(at) = l.get("publishTime").and_then(time_of) else {
            return Err(DomainError::Unavailable(format!("the venue's {pair} price has no publishTime")));
        };
        return Ok(PriceQuote {
            pair: pair.clone(),
            price,
            published_at: at,
            source: VENUE_FEED_SOURCE.into(),
            check_age_secs: None,
            check_band: Bps::default(),
        });
    }
    Err(DomainError::Unavailable(format!("the venue's feed has no live price for {pair}")))
}

#[async_trait]
impl Prices for VenueFeedPrices {
    async fn quotes(&self, pair: &PairSymbol) -> DomainResult<Vec<PriceQuote>> {
        let Some(index) = self.pairs.get(pair) else {
            return Err(DomainError::Unavailable(format!("the venue lists no {pair}, so it has no price for it")));
        };
        let url = format!("{}/v2/pairs/{}/price-update-data", self.base, index.0);
        let resp = self.http.get(url).send().await.map_err(|e| HttpError::new(e, |e| format!("the venue's price feed: {e}")))?;
        if !resp.status().is_success() {
            return Err(DomainError::Unavailable(format!("the venue's price feed answered {}", resp.status())));
        }
        let body: Value =
            resp.json().await.map_err(|e| HttpError::new(e, |e| format!("the venue's price feed: unreadable reply ({e})")))?;
        Ok(vec![parse_price_update(pair, &body)?])
    }
}

/// `prices` cross-checked by the venue's feed at `feed_url` (see
/// [`vanta_domain::feeds::VenueCrossChecked`]).
pub fn venue_checked(prices: Arc<dyn Prices>, feed_url: &str, catalog: &PairCatalog) -> DomainResult<Arc<dyn Prices>> {
    let venue: Arc<dyn Prices> = Arc::new(VenueFeedPrices::new(feed_url, catalog)?);
    Ok(Arc::new(vanta_domain::feeds::VenueCrossChecked::new(prices, venue)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
    use serde_json::json;

    use super::*;

    #[test]
    fn the_pro_leg_is_preferred_and_prices_convert_exactly() {
        let btc = PairSymbol::parse("BTC/USD").unwrap();
        let body = json!({"pairIndex": 1, "pro": {"price": "96012.123456789012", "publishTime": 1_790_000_000},
                          "core": {"price": 96000, "publishTime": 1_790_000_001}});
        let q = parse_price_update(&btc, &body).unwrap();
        assert_eq!(q.price, "96012.1234567890".parse().unwrap());
        assert_eq!(q.published_at, Timestamp::from_secs(1_790_000_000));
        assert_eq!(q.source, "veranta");
        // An empty pro leg falls back to core; the data wrapper is read through.
        let body = json!({"data": {"pro": {"price": "0"}, "core": {"price": 96000.5, "publishTime": "1790000001"}}});
        assert_eq!(parse_price_update(&btc, &body).unwrap().price, "96000.5".parse().unwrap());
        // No usable leg, or a leg without a time: no quote.
        assert!(parse_price_update(&btc, &json!({"pro": {"price": ""}, "core": {}})).is_err());
        assert!(parse_price_update(&btc, &json!({"pro": {"price": "1"}})).is_err());
        assert!(parse_price_update(&btc, &json!({"core": {"price": "-5", "publishTime": 1}})).is_err());
    }
}
