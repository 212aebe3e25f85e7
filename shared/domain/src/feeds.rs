//! Per-feed price settings: each oracle feed (a source and a pair) publishes on its own
//! heartbeat (at least every so many seconds) and deviation threshold (sooner when the market
//! moves that far). A quote older than the global freshness rule still cross-checks the fresh
//! ones while it is within its feed's heartbeat (plus [`FEED_GRACE_SECS`]): the market cannot
//! have moved further from it than the feed's deviation, so a fresh price beyond that (plus the
//! usual tolerance) means one of them is wrong and nothing trades
//! ([`crate::risk_engine::reference_price`]). Past its heartbeat a quote is stale and ignored.
//!
//! Defaults are embedded for the known Chainlink feeds on Base ([`FeedTable::defaults`]);
//! `PRICE_FEED_SETTINGS` overrides or adds entries ([`FeedTable::with_overrides`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::market::PairSymbol;
use crate::money::Bps;
use crate::ports::PriceQuote;

/// Allowed beyond a heartbeat for the round to land on-chain (congestion, block times).
pub const FEED_GRACE_SECS: u32 = 300;

/// One feed's publishing rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedSettings {
    /// The feed publishes at least this often.
    pub heartbeat_secs: u32,
    /// …and whenever the price moves this far from its last answer.
    pub deviation: Bps,
}

impl FeedSettings {
    pub const fn new(heartbeat_secs: u32, deviation_bps: u32) -> Self {
        Self { heartbeat_secs, deviation: Bps::new_const(deviation_bps) }
    }
    /// The oldest a quote of this feed may be and still be believed: heartbeat plus grace.
    pub fn max_age_secs(&self) -> u32 {
        self.heartbeat_secs.saturating_add(FEED_GRACE_SECS)
    }
    /// Whether a quote `age_ms` old is within the feed's heartbeat (plus grace).
    pub fn is_fresh(&self, age_ms: i64) -> bool {
        age_ms <= i64::from(self.max_age_secs()).saturating_mul(1000)
    }
    /// Marks a quote with this feed's rule, for the risk engine's cross-check.
    pub fn stamp(&self, mut q: PriceQuote) -> PriceQuote {
        q.check_age_secs = Some(self.max_age_secs());
        q.check_band = self.deviation;
        q
    }
}

impl fmt::Display for FeedSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s/{}bps", self.heartbeat_secs, self.deviation.raw())
    }
}

/// The source name Chainlink quotes carry.
pub const CHAINLINK: &str = "chainlink";

/// For a Chainlink feed nobody described: hourly, 1 % (the common settings of Base's USD feeds).
pub const CHAINLINK_FALLBACK: FeedSettings = FeedSettings::new(3_600, 100);

/// Heartbeats of the Base mainnet Chainlink feeds Vanta reads by default, from the project's
/// research notes (`avantis-and-vanta-bot.md` §4.2: ETH/USD and the BTC feeds about 1200 s,
/// SOL/USD 3600 s, USDC/USD 24 h). The notes give no deviation thresholds, so each carries the
/// generous 1 % tolerance; check both on data.chain.link and override with
/// `PRICE_FEED_SETTINGS` where they differ.
const CHAINLINK_BASE: [(&str, FeedSettings); 4] = [
    ("BTC/USD", FeedSettings::new(1_200, 100)),
    ("ETH/USD", FeedSettings::new(1_200, 100)),
    ("SOL/USD", FeedSettings::new(3_600, 100)),
    ("USDC/USD", FeedSettings::new(86_400, 100)),
];

/// Settings by (source, pair), with a fallback per source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeedTable {
    feeds: BTreeMap<(String, PairSymbol), FeedSettings>,
    fallback: BTreeMap<String, FeedSettings>,
}

impl FeedTable {
    /// The embedded defaults: the known Base Chainlink feeds and the Chainlink fallback.
    pub fn defaults() -> Self {
        let mut t = Self::default();
        for (pair, s) in CHAINLINK_BASE {
            if let Ok(p) = PairSymbol::parse(pair) {
                t.feeds.insert((CHAINLINK.to_owned(), p), s);
            }
        }
        t.fallback.insert(CHAINLINK.to_owned(), CHAINLINK_FALLBACK);
        t
    }

    /// Sets one feed's settings.
    pub fn set(&mut self, source: &str, pair: PairSymbol, settings: FeedSettings) {
        self.feeds.insert((source.to_ascii_lowercase(), pair), settings);
    }

    /// The settings of `source`'s feed for `pair`: its own, else the source's fallback.
    pub fn get(&self, source: &str, pair: &PairSymbol) -> Option<FeedSettings> {
        let source = source.to_ascii_lowercase();
        self.feeds.get(&(source.clone(), pair.clone())).or_else(|| self.fallback.get(&source)).copied()
    }

    /// Applies `PRICE_FEED_SETTINGS`: entries `source:PAIR=<heartbeat>s/<deviation>bps`
    /// separated by commas (`chainlink:BTC/USD=1200s/50bps`; a bare `PAIR=…` means Chainlink;
    /// `source:*=…` sets the source's fallback). A malformed entry is refused, naming it.
    pub fn with_overrides(mut self, spec: &str) -> Result<Self, DomainError> {
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |why: &str| {
                DomainError::Invalid(format!(
                    "PRICE_FEED_SETTINGS entry '{entry}': {why} (expected source:PAIR=<seconds>s/<bps>bps, e.g. chainlink:BTC/USD=1200s/50bps)"
                ))
            };
            let (feed, rule) = entry.split_once('=').ok_or_else(|| bad("no '='"))?;
            let (source, pair) = match feed.split_once(':') {
                Some((s, p)) => (s.trim().to_ascii_lowercase(), p.trim()),
                None => (CHAINLINK.to_owned(), feed.trim()),
            };
            if source.is_empty() || !source.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                return Err(bad("the source must be a name such as chainlink"));
            }
            let (hb, dev) = rule.split_once('/').ok_or_else(|| bad("no '/' between heartbeat and deviation"))?;
            let hb: u32 =
                hb.trim().strip_suffix('s').ok_or_else(|| bad("the heartbeat must end in s"))?.parse().map_err(|_| bad("bad heartbeat"))?;
            let dev: u32 = dev
                .trim()
                .strip_suffix("bps")
                .ok_or_else(|| bad("the deviation must end in bps"))?
                .parse()
                .map_err(|_| bad("bad deviation"))?;
            if hb == 0 {
                return Err(bad("the heartbeat must be at least 1 s"));
            }
            let settings = FeedSettings { heartbeat_secs: hb, deviation: Bps::new(dev).map_err(|_| bad("deviation out of range"))? };
            if pair == "*" {
                self.fallback.insert(source, settings);
            } else {
                let pair = PairSymbol::parse(pair).map_err(|_| bad("not a pair"))?;
                self.feeds.insert((source, pair), settings);
            }
        }
        Ok(self)
    }
}

/// The source name the venue's own price carries (`price-update-data`).
pub const VENUE: &str = "veranta";

/// Prices cross-checked by the venue's own feed: every answer holds the oracles' quotes and the
/// venue's, so the risk engine refuses an open, and the TP/SL executor fires no trigger, when the
/// venue's price and the oracles' disagree beyond the tolerance (or a slow feed's band). The
/// venue's price is required: while it cannot be read there is no quote at all (fail closed, as
/// behind [`crate::sequencer::SequencerGated`]): no new exposure and no trigger; closes the user
/// asks for go to the venue without a price as always (a DRY paper close waits for one).
pub struct VenueCrossChecked {
    inner: std::sync::Arc<dyn crate::ports::Prices>,
    venue: std::sync::Arc<dyn crate::ports::Prices>,
}

impl VenueCrossChecked {
    pub fn new(inner: std::sync::Arc<dyn crate::ports::Prices>, venue: std::sync::Arc<dyn crate::ports::Prices>) -> Self {
        Self { inner, venue }
    }
}

#[async_trait::async_trait]
impl crate::ports::Prices for VenueCrossChecked {
    async fn quotes(&self, pair: &PairSymbol) -> crate::DomainResult<Vec<PriceQuote>> {
        let venue = self.venue.quotes(pair).await.map_err(|e| {
            DomainError::Unavailable(format!(
                "the venue's own {pair} price cannot be read ({e}); no new positions or triggers until it can"
            ))
        })?;
        if !venue.iter().any(|q| &q.pair == pair) {
            return Err(DomainError::Unavailable(format!("the venue gave no {pair} price; no new positions or triggers until it does")));
        }
        let mut all = self.inner.quotes(pair).await?;
        all.extend(venue);
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::money::Price;
    use crate::risk_engine::{Refusal, reference_price};
    use crate::time::Timestamp;

    const NOW: Timestamp = Timestamp(1_790_000_000_000);
    const HOUR_MS: i64 = 3_600_000;

    fn sym(s: &str) -> PairSymbol {
        PairSymbol::parse(s).unwrap()
    }

    fn quote(source: &str, price: &str, age_ms: i64) -> PriceQuote {
        PriceQuote {
            pair: sym("EUR/USD"),
            price: price.parse::<Price>().unwrap(),
            published_at: Timestamp(NOW.0 - age_ms),
            source: source.to_owned(),
            check_age_secs: None,
            check_band: Bps::default(),
        }
    }

    /// A 24 h and a 1 h Chainlink feed, 30 bps and 100 bps.
    fn table() -> FeedTable {
        FeedTable::defaults().with_overrides("chainlink:EUR/USD=86400s/30bps, GBP/USD=3600s/100bps").unwrap()
    }

    #[test]
    fn a_24h_feed_two_hours_old_is_fresh_and_a_1h_feed_is_stale() {
        let t = table();
        let daily = t.get("chainlink", &sym("EUR/USD")).unwrap();
        let hourly = t.get("Chainlink", &sym("GBP/USD")).unwrap();
        assert_eq!((daily.heartbeat_secs, daily.deviation.raw()), (86_400, 30));
        assert_eq!((hourly.heartbeat_secs, hourly.deviation.raw()), (3_600, 100));
        assert!(daily.is_fresh(2 * HOUR_MS));
        assert!(!hourly.is_fresh(2 * HOUR_MS));
        assert!(hourly.is_fresh(HOUR_MS), "within its heartbeat");
        // Unknown Chainlink feeds take the fallback; other sources have none.
        assert_eq!(t.get("chainlink", &sym("XAU/USD")), Some(CHAINLINK_FALLBACK));
        assert_eq!(t.get("pyth", &sym("EUR/USD")), None);
    }

    #[test]
    fn the_risk_engine_judges_each_feed_by_its_own_heartbeat_and_deviation() {
        let t = table();
        let eur = sym("EUR/USD");
        let max_dev = Bps::new(50).unwrap();
        let daily = t.get("chainlink", &eur).unwrap();
        let hourly = t.get("chainlink", &sym("GBP/USD")).unwrap();
        let disagree = |quotes: &[PriceQuote]| match reference_price(&eur, quotes, NOW, 30, max_dev) {
            Err(Refusal::PricesDisagree { max, .. }) => Some(max.raw()),
            Ok(_) => None,
            Err(other) => panic!("expected agreement or a disagreement, got {other}"),
        };
        // The 24 h feed, 2 h old, is believed: 70 bps from the fresh price is within its
        // 30 bps plus the 50 bps tolerance; 100 bps is not.
        assert_eq!(disagree(&[quote("pyth", "1.0000", 1_000), daily.stamp(quote("chainlink", "1.0070", 2 * HOUR_MS))]), None);
        assert_eq!(disagree(&[quote("pyth", "1.0000", 1_000), daily.stamp(quote("chainlink", "1.0100", 2 * HOUR_MS))]), Some(80));
        // The same 100 bps gap from a 100 bps feed (half an hour old) is within its band.
        assert_eq!(disagree(&[quote("pyth", "1.0000", 1_000), hourly.stamp(quote("chainlink", "1.0100", HOUR_MS / 2))]), None);
        assert_eq!(disagree(&[quote("pyth", "1.0000", 1_000), hourly.stamp(quote("chainlink", "1.0200", HOUR_MS / 2))]), Some(150));
        // The 1 h feed 2 h old is stale: ignored, however far off.
        assert_eq!(disagree(&[quote("pyth", "1.0000", 1_000), hourly.stamp(quote("chainlink", "1.0500", 2 * HOUR_MS))]), None);
        // A stale feed alone gives no price at all.
        assert!(matches!(
            reference_price(&eur, &[hourly.stamp(quote("chainlink", "1.0", 2 * HOUR_MS))], NOW, 30, max_dev),
            Err(Refusal::StalePrice { .. })
        ));
    }

    #[test]
    fn overrides_are_read_exactly_or_refused() {
        let t = FeedTable::defaults().with_overrides("pyth:*=30s/20bps,ETH/USD=600s/15bps").unwrap();
        assert_eq!(t.get("pyth", &sym("DOGE/USD")), Some(FeedSettings::new(30, 20)));
        assert_eq!(t.get("chainlink", &sym("ETH/USD")), Some(FeedSettings::new(600, 15)));
        assert_eq!(t.get("chainlink", &sym("BTC/USD")), Some(FeedSettings::new(1_200, 100)), "defaults stay");
        for bad in ["BTC/USD", "BTC/USD=1200/50bps", "BTC/USD=1200s/50", "BTC/USD=0s/5bps", "x y:BTC/USD=1s/1bps", "BTC/USD=1s/2000000bps"]
        {
            let e = FeedTable::defaults().with_overrides(bad).unwrap_err().to_string();
            assert!(e.contains(bad.split(',').next().unwrap()), "{e}");
        }
    }
}
