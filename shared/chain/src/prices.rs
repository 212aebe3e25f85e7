//! Price sources for the Prices port: Pyth Hermes (HTTP) and Chainlink AggregatorV3 feeds on Base
//! (JSON-RPC), and [`CombinedPrices`], which asks several sources at once. Prices are converted
//! to the venue's 1e10 units exactly, from the integers each source publishes. Whether the
//! sources agree, and whether a quote is fresh enough, is the risk engine's decision.

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use alloy::primitives::{Address, I256, U256};
use alloy::providers::DynProvider;
use alloy::sol;
use async_trait::async_trait;
use serde::Deserialize;
use vanta_domain::feeds::{CHAINLINK_FALLBACK, FeedSettings, FeedTable};
use vanta_domain::market::PairSymbol;
use vanta_domain::money::{Bps, Price};
use vanta_domain::ports::{PriceQuote, Prices};
use vanta_domain::time::Timestamp;
use vanta_domain::{DomainError, DomainResult};

use crate::http_error::HttpError;

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
    // An exponent near i32's limits (a hostile or broken reply) is out of range, not an overflow.
    let shift = expo.checked_add(10).ok_or_else(|| DomainError::Invalid(format!("Pyth exponent {expo} is out of range")))?;
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
            .map_err(|e| HttpError::new(e, |e| format!("pyth: {e}")))?;
        if !resp.status().is_success() {
            return Err(DomainError::Unavailable(format!("pyth answered {}", resp.status())));
        }
        let latest: Latest = resp.json().await.map_err(|e| HttpError::new(e, |e| format!("pyth: unreadable reply ({e})")))?;
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
                check_age_secs: None,
                check_band: Bps::default(),
            });
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Chainlink
// ---------------------------------------------------------------------------------------------

sol! {
    /// Chainlink's AggregatorV3Interface, the two reads used here (hand-written).
    #[sol(rpc)]
    interface AggregatorV3 {
        function decimals() external view returns (uint8);
        function latestRoundData()
            external
            view
            returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
    }
}

/// The source name on Chainlink quotes.
pub const CHAINLINK_SOURCE: &str = vanta_domain::feeds::CHAINLINK;

/// Chainlink AggregatorV3 proxies on Base mainnet. Facts copied from the project's research notes
/// (`avantis-and-vanta-bot.md` §4.2, cross-checked there against independent repositories);
/// verify with `description()` on-chain before relying on a new one. USD pairs have 8 decimals.
const BASE_MAINNET_FEEDS: [(&str, &str); 3] = [
    ("BTC/USD", "0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F"),
    ("ETH/USD", "0x71041dddad3595F9CEd3DcCFBe3D1F4b0a16Bb70"),
    ("SOL/USD", "0x975043adBb80fc32276CbF9Bbcfd4A601a12462D"),
];

/// Prices from Chainlink AggregatorV3 feeds, read with `latestRoundData()` over JSON-RPC.
///
/// Each feed's `decimals()` is read once and cached. A round that is incomplete
/// (`answeredInRound < roundId`) or was never updated (`updatedAt == 0`) gives no quote; a
/// non-positive answer, an unreadable reply, an RPC error or a timeout is
/// [`DomainError::Unavailable`]. Staleness is left to the risk engine (`published_at` is the
/// round's `updatedAt`); each quote carries its feed's heartbeat and deviation
/// ([`FeedTable`], embedded defaults unless [`ChainlinkFeeds::with_settings`] gives others), so a
/// quote older than the freshness rule still cross-checks fresh prices within its heartbeat.
pub struct ChainlinkFeeds {
    provider: DynProvider,
    /// The RPC URL as given and as normalised, and its origin: error texts show the origin only
    /// (a provider's URL often carries its API key).
    redact: [String; 2],
    origin: String,
    feeds: HashMap<PairSymbol, Feed>,
    timeout: Duration,
    settings: FeedTable,
}

struct Feed {
    address: Address,
    decimals: tokio::sync::OnceCell<u8>,
}

impl ChainlinkFeeds {
    /// Feeds read through the JSON-RPC endpoint `rpc_url` (e.g. `BASE_RPC_URL`).
    pub fn new(rpc_url: &str, feeds: HashMap<PairSymbol, Address>) -> DomainResult<Self> {
        let url: url::Url = rpc_url.parse().map_err(|_| DomainError::Invalid("chainlink: the RPC URL is not a URL".into()))?;
        let redact = [url.as_str().to_owned(), rpc_url.to_owned()];
        let origin = url.origin().ascii_serialization();
        // Its HTTP client is made on the first call (most cold starts never make one).
        let provider = crate::rpc::provider_for(url);
        let feeds = feeds.into_iter().map(|(pair, address)| (pair, Feed { address, decimals: tokio::sync::OnceCell::new() })).collect();
        Ok(Self { provider, redact, origin, feeds, timeout: Duration::from_secs(4), settings: FeedTable::defaults() })
    }

    /// Feeds given as `"BTC/USD=0x…,ETH/USD=0x…"` (see [`ChainlinkFeeds::parse_feeds`]).
    pub fn from_spec(rpc_url: &str, spec: &str) -> DomainResult<Self> {
        Self::new(rpc_url, Self::parse_feeds(spec)?)
    }

    /// The Base mainnet BTC/USD, ETH/USD and SOL/USD aggregator proxies.
    pub fn base_mainnet_defaults() -> HashMap<PairSymbol, Address> {
        BASE_MAINNET_FEEDS.iter().filter_map(|(pair, address)| Some((PairSymbol::parse(pair).ok()?, address.parse().ok()?))).collect()
    }

    /// Parses `"PAIR=0xADDRESS,PAIR=0xADDRESS"`: pairs as [`PairSymbol::parse`] reads them,
    /// addresses as 20 bytes of hex with the `0x` prefix (any letter case). Empty entries (a
    /// trailing comma) are ignored; a malformed entry or a pair given twice is refused, naming it.
    pub fn parse_feeds(spec: &str) -> DomainResult<HashMap<PairSymbol, Address>> {
        let mut out = HashMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |why: &str| {
                DomainError::Invalid(format!("chainlink feed '{entry}': {why} (expected PAIR=0xADDRESS, e.g. BTC/USD=0x64c9…848F)"))
            };
            let (pair, address) = entry.split_once('=').ok_or_else(|| bad("no '='"))?;
            let pair = PairSymbol::parse(pair).map_err(|_| bad("not a pair"))?;
            let hex = address.trim().strip_prefix("0x").ok_or_else(|| bad("the address must start with 0x"))?;
            if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("the address must be 40 hex digits after 0x"));
            }
            let address: Address = hex.parse().map_err(|_| bad("unreadable address"))?;
            if out.insert(pair.clone(), address).is_some() {
                return Err(bad("this pair is given twice"));
            }
        }
        Ok(out)
    }

    /// Each feed's heartbeat and deviation (default [`FeedTable::defaults`]).
    pub fn with_settings(mut self, settings: FeedTable) -> Self {
        self.settings = settings;
        self
    }

    /// The heartbeat and deviation the quotes of `pair` carry.
    pub fn settings(&self, pair: &PairSymbol) -> FeedSettings {
        self.settings.get(CHAINLINK_SOURCE, pair).unwrap_or(CHAINLINK_FALLBACK)
    }

    /// The time allowed for each RPC call (default 4 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The configured pairs.
    pub fn pairs(&self) -> impl Iterator<Item = &PairSymbol> {
        self.feeds.keys()
    }

    async fn rpc<T, E: std::fmt::Display>(
        &self,
        what: &str,
        pair: &PairSymbol,
        call: impl IntoFuture<Output = Result<T, E>>,
    ) -> DomainResult<T> {
        match tokio::time::timeout(self.timeout, call.into_future()).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                let e = self.redact.iter().fold(e.to_string(), |e, secret| e.replace(secret.as_str(), &self.origin));
                Err(DomainError::Unavailable(format!("chainlink {pair}: {what} failed: {e}")))
            }
            Err(_) => Err(DomainError::Unavailable(format!("chainlink {pair}: {what} timed out after {} ms", self.timeout.as_millis()))),
        }
    }
}

/// A Chainlink `answer` with `decimals` decimals in 1e10 units (`answer × 10^(10 − decimals)`),
/// rounded toward zero; refuses answers that are not positive, or that round to zero or exceed
/// the price range.
pub fn chainlink_to_price(answer: I256, decimals: u8) -> DomainResult<Price> {
    if answer <= I256::ZERO {
        return Err(DomainError::Invalid(format!("chainlink answer {answer} is not positive")));
    }
    let a = answer.into_raw();
    let out_of_range = || DomainError::Invalid(format!("chainlink answer {answer} with {decimals} decimals is out of range"));
    let v = if decimals <= 10 {
        U256::from(10u8).checked_pow(U256::from(10 - decimals)).and_then(|p| a.checked_mul(p)).ok_or_else(out_of_range)?
    } else {
        match U256::from(10u8).checked_pow(U256::from(decimals - 10)) {
            Some(p) => a / p,
            // 10^(decimals − 10) beyond 2^256 is larger than any answer.
            None => U256::ZERO,
        }
    };
    if v.is_zero() {
        return Err(DomainError::Invalid(format!("chainlink answer {answer} with {decimals} decimals rounds to zero")));
    }
    u64::try_from(v).map(Price::from_raw).map_err(|_| out_of_range())
}

#[async_trait]
impl Prices for ChainlinkFeeds {
    async fn quotes(&self, pair: &PairSymbol) -> DomainResult<Vec<PriceQuote>> {
        let Some(feed) = self.feeds.get(pair) else { return Ok(Vec::new()) };
        let aggregator = AggregatorV3::new(feed.address, &self.provider);
        let decimals = async {
            feed.decimals
                .get_or_try_init(|| async {
                    let call = aggregator.decimals();
                    self.rpc("decimals()", pair, call.call()).await
                })
                .await
                .copied()
        };
        let round = async {
            let call = aggregator.latestRoundData();
            self.rpc("latestRoundData()", pair, call.call()).await
        };
        let (decimals, round) = tokio::join!(decimals, round);
        let (decimals, round) = (decimals?, round?);
        if round.updatedAt.is_zero() {
            tracing::warn!(%pair, feed = %feed.address, "chainlink round never updated; no quote");
            return Ok(Vec::new());
        }
        if round.answeredInRound < round.roundId {
            tracing::warn!(%pair, feed = %feed.address, round = %round.roundId, answered_in = %round.answeredInRound, "chainlink round incomplete; no quote");
            return Ok(Vec::new());
        }
        let price = chainlink_to_price(round.answer, decimals).map_err(|e| DomainError::Unavailable(format!("chainlink {pair}: {e}")))?;
        let updated_at = i64::try_from(round.updatedAt)
            .map_err(|_| DomainError::Unavailable(format!("chainlink {pair}: updatedAt {} is out of range", round.updatedAt)))?;
        Ok(vec![self.settings(pair).stamp(PriceQuote {
            pair: pair.clone(),
            price,
            published_at: Timestamp::from_secs(updated_at),
            source: CHAINLINK_SOURCE.into(),
            check_age_secs: None,
            check_band: Bps::default(),
        })])
    }
}

// ---------------------------------------------------------------------------------------------
// Several sources
// ---------------------------------------------------------------------------------------------

/// Asks several price sources at once and returns all their quotes, in the order the sources
/// were given. A source that fails (or exceeds the timeout) is logged and left out; only when
/// every source fails is the result an error. The risk engine then decides: one fresh source is
/// enough for it, and sources that disagree are refused.
pub struct CombinedPrices {
    sources: Vec<(String, Arc<dyn Prices>)>,
    timeout: Duration,
}

type SourceFuture<'a> = Pin<Box<dyn Future<Output = DomainResult<Vec<PriceQuote>>> + Send + 'a>>;

impl CombinedPrices {
    /// Sources, each with a name for the logs.
    pub fn new(sources: Vec<(String, Arc<dyn Prices>)>) -> Self {
        Self { sources, timeout: Duration::from_secs(6) }
    }

    /// The time allowed for each source (default 6 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Polls every future until all have finished; results in the futures' order.
async fn join_all<T>(mut futures: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut done: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    done.into_iter().flatten().collect()
}

#[async_trait]
impl Prices for CombinedPrices {
    async fn quotes(&self, pair: &PairSymbol) -> DomainResult<Vec<PriceQuote>> {
        let timeout = self.timeout;
        let asks: Vec<SourceFuture<'_>> = self
            .sources
            .iter()
            .map(|(name, source)| -> SourceFuture<'_> {
                Box::pin(async move {
                    tokio::time::timeout(timeout, source.quotes(pair))
                        .await
                        .unwrap_or_else(|_| Err(DomainError::Unavailable(format!("{name}: no answer within {} ms", timeout.as_millis()))))
                })
            })
            .collect();
        let answers = join_all(asks).await;
        let mut quotes = Vec::new();
        let mut failures = Vec::new();
        for ((name, _), answer) in self.sources.iter().zip(answers) {
            match answer {
                Ok(q) => quotes.extend(q),
                Err(e) => {
                    tracing::warn!(%pair, source = %name, error = %e, "price source failed; using the others");
                    failures.push(format!("{name}: {e}"));
                }
            }
        }
        if !self.sources.is_empty() && failures.len() == self.sources.len() {
            return Err(DomainError::Unavailable(format!("every price source failed ({})", failures.join("; "))));
        }
        Ok(quotes)
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

    #[test]
    fn chainlink_answers_convert_exactly() {
        let i = |v: i128| I256::try_from(v).unwrap();
        assert_eq!(chainlink_to_price(i(9_512_345_678_901), 8).unwrap(), "95123.45678901".parse().unwrap());
        assert_eq!(chainlink_to_price(i(7), 0).unwrap(), "7".parse().unwrap());
        assert_eq!(chainlink_to_price(i(95_123_456_789_012_345_678_901), 18).unwrap().raw(), 951_234_567_890_123);
        assert!(chainlink_to_price(i(-1), 8).is_err());
        assert!(chainlink_to_price(I256::ZERO, 8).is_err());
        assert!(chainlink_to_price(i(99), 12).is_err(), "rounds to zero");
        assert!(chainlink_to_price(I256::MAX, 8).is_err(), "beyond the price range");
        assert!(chainlink_to_price(I256::MAX, 255).is_err());
    }

    #[test]
    fn base_defaults_are_all_readable() {
        let d = ChainlinkFeeds::base_mainnet_defaults();
        assert_eq!(d.len(), BASE_MAINNET_FEEDS.len());
        assert_eq!(
            d.get(&PairSymbol::parse("ETH/USD").unwrap()).copied().unwrap(),
            "0x71041dddad3595F9CEd3DcCFBe3D1F4b0a16Bb70".parse::<Address>().unwrap()
        );
    }
}
