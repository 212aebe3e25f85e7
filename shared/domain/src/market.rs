//! Sides, pairs and the venue's pair catalog.
//!
//! Pair indices are the venue's and change meaning only by the venue's word, so they are never
//! hard-coded: a [`PairCatalog`] is built from the venue's own listing and every symbol is
//! resolved through it. (A catalog with BTC and ETH swapped would trade the wrong market.)

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::money::{Leverage, PercentP, Usdc};
use crate::time::Timestamp;

/// Long or short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Long,
    Short,
}

impl Side {
    pub fn opposite(self) -> Self {
        match self {
            Side::Long => Side::Short,
            Side::Short => Side::Long,
        }
    }
    /// The venue's `buy` flag.
    pub fn is_buy(self) -> bool {
        self == Side::Long
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Long => "long",
            Side::Short => "short",
        }
    }
}

impl FromStr for Side {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "long" | "buy" => Ok(Side::Long),
            "short" | "sell" => Ok(Side::Short),
            other => Err(DomainError::Invalid(format!("side must be long or short, not '{other}'"))),
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The venue's index of a pair. Only ever obtained from a [`PairCatalog`] or the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PairIndex(pub u16);

impl fmt::Display for PairIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A pair symbol in canonical form `BASE/QUOTE`, upper case (`BTC/USD`, `USD/JPY`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PairSymbol(String);

impl PairSymbol {
    /// Accepts `BTC/USD`, `btc-usd`, `BTC_USD`, `BTCUSD`, `BTCUSDT` (TradingView tickers) and a
    /// bare base (`btc` → `BTC/USD`).
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let s = input.trim().to_ascii_uppercase();
        let bad = || DomainError::Invalid(format!("'{}' is not a pair (try BTC/USD)", input.trim()));
        if s.is_empty() || s.len() > 32 {
            return Err(bad());
        }
        let ok_part = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        for sep in ['/', '-', ':'] {
            if let Some((b, q)) = s.split_once(sep) {
                return if ok_part(b) && ok_part(q) { Ok(Self(format!("{b}/{q}"))) } else { Err(bad()) };
            }
        }
        if !ok_part(&s) {
            return Err(bad());
        }
        for quote in ["USDT", "USDC", "USD"] {
            if let Some(base) = s.strip_suffix(quote)
                && !base.is_empty()
                && !base.ends_with('_')
            {
                return Ok(Self(format!("{base}/USD")));
            }
        }
        Ok(Self(format!("{s}/USD")))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn base(&self) -> &str {
        self.0.split_once('/').map_or(self.0.as_str(), |(b, _)| b)
    }
}

impl TryFrom<String> for PairSymbol {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PairSymbol> for String {
    fn from(p: PairSymbol) -> String {
        p.0
    }
}

impl fmt::Display for PairSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What Vanta needs to know of one pair to size, price and check a trade. Venue units throughout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairInfo {
    pub index: PairIndex,
    pub symbol: PairSymbol,
    /// The venue's group (0 crypto majors, 2 forex, …).
    pub group: u16,
    pub listed: bool,
    /// Opens are refused while the venue keeps the pair close-only.
    pub close_only: bool,
    pub min_leverage: Leverage,
    pub max_leverage: Leverage,
    /// Minimum position notional (collateral × leverage).
    pub min_position: Usdc,
    pub open_fee: PercentP,
    pub close_fee: PercentP,
    pub spread: PercentP,
    /// Highest take-profit gain the venue accepts, percent of collateral (e.g. 2500 %).
    pub max_gain: PercentP,
    /// Highest stop-loss distance, percent of collateral (e.g. 80 %).
    pub max_sl: PercentP,
}

/// The venue's pair listing, indexed both ways. Built once per cold start from the venue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairCatalog {
    by_index: BTreeMap<u16, PairInfo>,
    by_symbol: BTreeMap<String, u16>,
    /// Trading hours by pair index, where the venue's feed publishes them ([`MarketHours`]).
    #[serde(default)]
    hours: BTreeMap<u16, MarketHours>,
    /// The venue's fee maths inputs by pair index, where the listing carries them
    /// ([`crate::compute::FeeModel`]).
    #[serde(default)]
    fees: BTreeMap<u16, crate::compute::FeeModel>,
}

impl PairCatalog {
    /// Builds a catalog, refusing duplicate indices or duplicate symbols (a venue listing with
    /// two BTC/USD would make resolution ambiguous). Delisted slots keep their index.
    pub fn new(pairs: impl IntoIterator<Item = PairInfo>) -> Result<Self, DomainError> {
        let mut c = Self::default();
        for p in pairs {
            if c.by_index.contains_key(&p.index.0) {
                return Err(DomainError::Invalid(format!("pair catalog lists index {} twice", p.index.0)));
            }
            if c.by_symbol.insert(p.symbol.as_str().to_owned(), p.index.0).is_some() {
                return Err(DomainError::Invalid(format!("pair catalog lists {} twice", p.symbol)));
            }
            c.by_index.insert(p.index.0, p);
        }
        Ok(c)
    }
    /// Resolves a user's or a signal's symbol to the venue pair.
    pub fn resolve(&self, symbol: &str) -> Result<&PairInfo, DomainError> {
        let sym = PairSymbol::parse(symbol)?;
        self.by_symbol
            .get(sym.as_str())
            .and_then(|i| self.by_index.get(i))
            .ok_or_else(|| DomainError::Invalid(format!("{sym} is not traded on Veranta (see /markets)")))
    }
    pub fn by_index(&self, index: PairIndex) -> Option<&PairInfo> {
        self.by_index.get(&index.0)
    }
    /// Checks that `index` is the pair the caller believes it is; guards any index that came from
    /// elsewhere (a stored position, a venue event) before it is used to trade.
    pub fn check(&self, index: PairIndex, symbol: &PairSymbol) -> Result<&PairInfo, DomainError> {
        match self.by_index(index) {
            Some(p) if &p.symbol == symbol => Ok(p),
            Some(p) => Err(DomainError::Invalid(format!("venue index {} is {}, not {symbol}", index.0, p.symbol))),
            None => Err(DomainError::Invalid(format!("venue has no pair at index {}", index.0))),
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = &PairInfo> {
        self.by_index.values()
    }
    pub fn len(&self) -> usize {
        self.by_index.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }
    /// Records a pair's trading hours (from the venue's feed attributes).
    pub fn with_hours(mut self, index: PairIndex, hours: MarketHours) -> Self {
        self.hours.insert(index.0, hours);
        self
    }
    /// Records a pair's fee model (from the same listing).
    pub fn with_fees(mut self, index: PairIndex, model: crate::compute::FeeModel) -> Self {
        self.fees.insert(index.0, model);
        self
    }
    /// A pair's fee model, where the listing carried one.
    pub fn fees(&self, index: PairIndex) -> Option<&crate::compute::FeeModel> {
        self.fees.get(&index.0)
    }
    /// A pair's trading hours, where the venue published them.
    pub fn hours(&self, index: PairIndex) -> Option<&MarketHours> {
        self.hours.get(&index.0)
    }
    /// Why an open on `pair` is refused at `now` because its market is closed (None: open).
    /// Only the venue's hours-keeping groups ([`HOURS_GROUPS`]) close; a pair of such a group
    /// without published hours counts as open, as the official SDK's `is_market_open` does.
    pub fn market_closed(&self, pair: &PairInfo, now: Timestamp) -> Option<String> {
        if !HOURS_GROUPS.contains(&pair.group) {
            return None;
        }
        let h = self.hours(pair.index)?;
        if h.is_open_at(now) {
            return None;
        }
        let reopens = if h.next_open > 0 && h.next_open.saturating_mul(1000) > u64::try_from(now.millis()).unwrap_or(0) {
            let (y, mo, d, hh, mi, _) = Timestamp::from_secs(i64::try_from(h.next_open).unwrap_or(i64::MAX / 1000)).civil();
            format!(" (it opens again {y:04}-{mo:02}-{d:02} {hh:02}:{mi:02} UTC)")
        } else {
            String::new()
        };
        Some(format!("the {} market is closed{reopens}; new positions open only in market hours", pair.symbol))
    }
}

/// The venue's pair groups whose markets keep hours (forex, commodities, …); the others trade
/// around the clock (`markets/models.py`, `PairInfo.is_market_open`).
pub const HOURS_GROUPS: [u16; 3] = [2, 3, 6];

/// A pair's trading hours as the venue's feed publishes them (`feed.attributes`: `isOpen`,
/// `nextOpen`, `nextClose`, unix seconds, 0 for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketHours {
    pub is_open: bool,
    pub next_open: u64,
    pub next_close: u64,
}

impl MarketHours {
    /// The SDK's rule: open if the feed says so or its next open has passed, and before the
    /// next close (if one is announced). Compared in milliseconds, so a second's fraction counts
    /// as the SDK's float clock counts it.
    pub fn is_open_at(&self, now: Timestamp) -> bool {
        let now_ms = u64::try_from(now.millis()).unwrap_or(0);
        let opened = self.is_open || (self.next_open > 0 && now_ms > self.next_open.saturating_mul(1000));
        let before_close = self.next_close == 0 || now_ms < self.next_close.saturating_mul(1000);
        opened && before_close
    }
}
