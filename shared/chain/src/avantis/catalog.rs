//! `/v2/meta` (addresses, EIP-712 domains) and the pair catalog (data service `/v2/trading`).

use std::collections::{BTreeMap, HashMap};

use alloy::primitives::Address;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::market::{MarketHours, PairCatalog, PairIndex, PairInfo, PairSymbol};
use vanta_domain::money::{Leverage, PercentP, Usdc};

use super::decimal::{raw_text, scaled_i128, scaled_u64};
use super::parse_address;
use crate::eip712::{AvantisDomain, DOMAIN_NAME, DOMAIN_VERSION};
use vanta_domain::compute::{COIN_SCALE, FeeModel, PnlTier};

/// What `/v2/meta` tells: chain, contract addresses and the EIP-712 domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvantisMeta {
    pub chain_id: u64,
    /// Every `addresses.*` entry that is an address (`tradingRouter`, `tradingStorage`, `usdc`, …).
    pub addresses: BTreeMap<String, Address>,
    pub trading_router: Address,
    pub referral: Option<Address>,
    /// The domain every trading intent is signed under.
    pub trading_domain: AvantisDomain,
    pub referral_domain: Option<AvantisDomain>,
    /// `defaults.intentDeadlineMs`, if given.
    pub intent_deadline_ms: Option<u64>,
}

fn chain_id_of(v: &Value) -> Option<u64> {
    super::decimal::json_u64(v)
}

fn domain_of(v: &Value, what: &str, expected_chain: u64) -> DomainResult<AvantisDomain> {
    let bad = |m: &str| DomainError::Internal(format!("/v2/meta eip712.{what}: {m}"));
    let name = v.get("name").and_then(Value::as_str).ok_or_else(|| bad("no name"))?;
    let version = v.get("version").and_then(Value::as_str).ok_or_else(|| bad("no version"))?;
    let chain = v.get("chainId").and_then(chain_id_of).ok_or_else(|| bad("no chainId"))?;
    let contract = v.get("verifyingContract").and_then(Value::as_str).and_then(parse_address).ok_or_else(|| bad("no verifyingContract"))?;
    if chain != expected_chain {
        return Err(DomainError::Internal(format!(
            "/v2/meta eip712.{what} is for chain {chain}, configured chain is {expected_chain}: refusing to sign"
        )));
    }
    Ok(AvantisDomain::new(name, version, chain, contract))
}

impl AvantisMeta {
    /// Parses the `data` of `/v2/meta`. Refused when the chain id is not `expected_chain`, when
    /// the trading router is missing, or when the advertised trading domain does not verify at
    /// the trading router.
    pub fn parse(text: &str, expected_chain: u64) -> DomainResult<Self> {
        let v: Value = serde_json::from_str(text).map_err(|e| DomainError::Internal(format!("/v2/meta is not JSON: {e}")))?;
        let chain_id = v.get("chainId").and_then(chain_id_of).ok_or_else(|| DomainError::Internal("/v2/meta has no chainId".into()))?;
        if chain_id != expected_chain {
            return Err(DomainError::Internal(format!(
                "Avantis /v2/meta reports chain {chain_id}, configured chain is {expected_chain}: refusing to sign"
            )));
        }
        let mut addresses = BTreeMap::new();
        if let Some(obj) = v.get("addresses").and_then(Value::as_object) {
            for (k, a) in obj {
                if let Some(addr) = a.as_str().and_then(parse_address) {
                    addresses.insert(k.clone(), addr);
                }
            }
        }
        let trading_router = addresses
            .get("tradingRouter")
            .copied()
            .ok_or_else(|| DomainError::Internal("/v2/meta has no addresses.tradingRouter".into()))?;
        let referral = addresses.get("referral").copied();
        let eip712 = v.get("eip712");
        let trading_domain = match eip712.and_then(|e| e.get("trading")) {
            Some(d) => domain_of(d, "trading", expected_chain)?,
            None => AvantisDomain::avantis(chain_id, trading_router),
        };
        if trading_domain.verifying_contract != trading_router {
            return Err(DomainError::Internal(format!(
                "/v2/meta trading domain verifies at {}, not at the trading router {trading_router}",
                trading_domain.verifying_contract
            )));
        }
        if trading_domain.name != DOMAIN_NAME || trading_domain.version != DOMAIN_VERSION {
            tracing::warn!(name = %trading_domain.name, version = %trading_domain.version, "Avantis trading domain name/version changed");
        }
        let referral_domain = match (eip712.and_then(|e| e.get("referral")), referral) {
            (Some(d), _) => Some(domain_of(d, "referral", expected_chain)?),
            (None, Some(r)) => Some(AvantisDomain::avantis(chain_id, r)),
            (None, None) => None,
        };
        let intent_deadline_ms = v.get("defaults").and_then(|d| d.get("intentDeadlineMs")).and_then(super::decimal::json_u64);
        Ok(Self { chain_id, addresses, trading_router, referral, trading_domain, referral_domain, intent_deadline_ms })
    }
}

// ---------------------------------------------------------------------------------------------
// Pair catalog
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct Snapshot {
    #[serde(rename = "pairInfos")]
    pair_infos: Option<BTreeMap<String, RawPair>>,
    data: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPair {
    index: Box<RawValue>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    group_index: Option<Box<RawValue>>,
    is_pair_listed: Option<bool>,
    leverages: Option<RawLeverages>,
    #[serde(rename = "minLevPosUSDC")]
    min_lev_pos_usdc: Option<Box<RawValue>>,
    open_fee_p: Option<Box<RawValue>>,
    close_fee_p: Option<Box<RawValue>>,
    spread_p: Option<Box<RawValue>>,
    pnl_spread_p: Option<Box<RawValue>>,
    values: Option<RawValues>,
    additional_pair_params2: Option<RawParams2>,
    feed: Option<RawFeed>,
    open_interest: Option<RawSides>,
    #[serde(rename = "coinOI")]
    coin_oi: Option<RawSides>,
    skew_eq_params: Option<Vec<Vec<Box<RawValue>>>>,
    pnl_fees: Option<RawPnlFees>,
}

#[derive(Deserialize)]
struct RawSides {
    long: Option<Box<RawValue>>,
    short: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPnlFees {
    #[serde(default)]
    tier_p: Vec<Box<RawValue>>,
    #[serde(default)]
    fees_p: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFeed {
    feed_id: Option<String>,
    attributes: Option<RawFeedAttributes>,
}

/// `feed.attributes`: the market hours of pairs whose groups keep them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFeedAttributes {
    is_open: Option<bool>,
    next_open: Option<Box<RawValue>>,
    next_close: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLeverages {
    min_leverage: Option<Box<RawValue>>,
    max_leverage: Option<Box<RawValue>>,
    pnl_min_leverage: Option<Box<RawValue>>,
    pnl_max_leverage: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawValues {
    max_gain_p: Option<Box<RawValue>>,
    max_sl_p: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawParams2 {
    close_only_mode: Option<bool>,
    open_maker_fee_p: Option<Box<RawValue>>,
    open_taker_fee_p: Option<Box<RawValue>>,
    close_maker_fee_p: Option<Box<RawValue>>,
    close_taker_fee_p: Option<Box<RawValue>>,
}

fn num(raw: Option<&RawValue>, scale: u32, field: &str) -> Result<u64, String> {
    match raw {
        None => Ok(0),
        Some(r) if r.get().trim() == "null" => Ok(0),
        Some(r) => {
            let t = raw_text(r).map_err(|e| format!("{field}: {e}"))?;
            scaled_u64(&t, scale).map_err(|e| format!("{field}: {e}"))
        }
    }
}

/// Whether a pair is an Upside (PnL-fee) pair: a symbol ending in `_UPSIDE`.
pub(crate) fn is_upside(symbol: &PairSymbol) -> bool {
    symbol.as_str().split('/').any(|part| part.ends_with("_UPSIDE"))
}

fn pair_info(p: &RawPair) -> Result<Option<PairInfo>, String> {
    let index = num(Some(&p.index), 0, "index")?;
    let index = u16::try_from(index).map_err(|_| format!("index {index} out of range"))?;
    let (from, to) = (p.from.as_deref().unwrap_or("").trim(), p.to.as_deref().unwrap_or("").trim());
    if from.is_empty() || to.is_empty() {
        return Ok(None); // an empty (never used or wiped) slot
    }
    let symbol = PairSymbol::parse(&format!("{from}/{to}")).map_err(|e| format!("pair {index}: {e}"))?;
    if !symbol.as_str().eq_ignore_ascii_case(&format!("{from}/{to}")) {
        return Err(format!("pair {index}: symbol {from}/{to} does not round-trip ({symbol})"));
    }
    let upside = is_upside(&symbol);
    let lev = p.leverages.as_ref();
    let (min_lev, max_lev) = if upside {
        (lev.and_then(|l| l.pnl_min_leverage.as_deref()), lev.and_then(|l| l.pnl_max_leverage.as_deref()))
    } else {
        (lev.and_then(|l| l.min_leverage.as_deref()), lev.and_then(|l| l.max_leverage.as_deref()))
    };
    let min_leverage =
        Leverage::from_raw(num(min_lev, 10, "minLeverage")?.max(Leverage::ONE_RAW)).map_err(|e| format!("pair {index}: {e}"))?;
    let max_leverage = Leverage::from_raw(num(max_lev, 10, "maxLeverage")?).map_err(|e| format!("pair {index} maxLeverage: {e}"))?;
    let spread = if upside { p.pnl_spread_p.as_deref().or(p.spread_p.as_deref()) } else { p.spread_p.as_deref() };
    let values = p.values.as_ref();
    Ok(Some(PairInfo {
        index: PairIndex(index),
        symbol,
        group: u16::try_from(num(p.group_index.as_deref(), 0, "groupIndex")?).map_err(|_| format!("pair {index}: group out of range"))?,
        listed: p.is_pair_listed.unwrap_or(false),
        close_only: p.additional_pair_params2.as_ref().and_then(|a| a.close_only_mode).unwrap_or(false),
        min_leverage,
        max_leverage,
        min_position: Usdc::from_raw(num(p.min_lev_pos_usdc.as_deref(), Usdc::SCALE, "minLevPosUSDC")?),
        open_fee: PercentP::from_raw(num(p.open_fee_p.as_deref(), PercentP::SCALE, "openFeeP")?),
        close_fee: PercentP::from_raw(num(p.close_fee_p.as_deref(), PercentP::SCALE, "closeFeeP")?),
        spread: PercentP::from_raw(num(spread, PercentP::SCALE, "spreadP")?),
        max_gain: PercentP::from_raw(num(values.and_then(|v| v.max_gain_p.as_deref()), PercentP::SCALE, "values.maxGainP")?),
        max_sl: PercentP::from_raw(num(values.and_then(|v| v.max_sl_p.as_deref()), PercentP::SCALE, "values.maxSlP")?),
    }))
}

/// `text × 10^scale` truncated toward zero (digits beyond the scale dropped, not refused): for
/// the fee model's open-interest inputs, which the venue publishes with any precision.
fn truncated(text: &str, scale: u32) -> Option<i128> {
    if let Ok(v) = scaled_i128(text, scale) {
        return Some(v);
    }
    let s = text.trim();
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(pos) => (rest.get(..pos)?, rest.get(pos + 1..)?.parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = int_part.chars().chain(frac_part.chars()).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Keep the digits up to `scale` places after the decimal point, padding with zeros.
    let keep = i64::try_from(int_part.len()).ok()?.checked_add(exp)?.checked_add(i64::from(scale))?;
    if keep <= 0 {
        return Some(0);
    }
    let keep = usize::try_from(keep).ok()?;
    let mut kept: String = digits.chars().take(keep).collect();
    while kept.len() < keep {
        kept.push('0');
    }
    let v: i128 = kept.trim_start_matches('0').parse().unwrap_or(0);
    Some(if negative { -v } else { v })
}

/// The fee model of a pair (`skewEqParams`, open interest, maker/taker rates, profit-share
/// tiers). Never fails: a value that cannot be read is left at its default (with a warning), as
/// the SDK's models default a missing field.
fn fee_model(p: &RawPair, upside: bool, index: u16) -> FeeModel {
    let warn = |field: &str| tracing::warn!(pair = index, field, "unreadable fee-model field; default used");
    let unsigned = |raw: Option<&RawValue>, scale: u32, field: &str| -> u128 {
        let Some(r) = raw else { return 0 };
        match raw_text(r).ok().and_then(|t| truncated(&t, scale)).and_then(|v| u128::try_from(v).ok()) {
            Some(v) => v,
            None => {
                warn(field);
                0
            }
        }
    };
    let usdc = |raw: Option<&RawValue>, field: &str| Usdc::from_raw(u64::try_from(unsigned(raw, Usdc::SCALE, field)).unwrap_or(u64::MAX));
    let pct =
        |raw: Option<&RawValue>, field: &str| PercentP::from_raw(u64::try_from(unsigned(raw, PercentP::SCALE, field)).unwrap_or(u64::MAX));
    let signed = |raw: &RawValue| raw_text(raw).ok().and_then(|t| truncated(&t, 10)).and_then(|v| i64::try_from(v).ok());
    let mut skew_eq = Vec::new();
    for line in p.skew_eq_params.iter().flatten() {
        match (line.first().and_then(|a| signed(a)), line.get(1).and_then(|b| signed(b))) {
            (Some(a), Some(b)) => skew_eq.push((a, b)),
            _ => {
                warn("skewEqParams");
                skew_eq.clear();
                break;
            }
        }
    }
    let oi = p.open_interest.as_ref();
    let coin = p.coin_oi.as_ref();
    let a2 = p.additional_pair_params2.as_ref();
    let pnl_tiers = p
        .pnl_fees
        .as_ref()
        .map(|f| {
            f.tier_p
                .iter()
                .enumerate()
                .map(|(i, t)| PnlTier {
                    threshold: pct(Some(t.as_ref()), "pnlFees.tierP"),
                    share: f.fees_p.get(i).map_or(PercentP::ZERO, |v| pct(Some(v.as_ref()), "pnlFees.feesP")),
                })
                .collect()
        })
        .unwrap_or_default();
    FeeModel {
        upside,
        skew_eq,
        oi_long: usdc(oi.and_then(|o| o.long.as_deref()), "openInterest.long"),
        oi_short: usdc(oi.and_then(|o| o.short.as_deref()), "openInterest.short"),
        coin_oi_long: unsigned(coin.and_then(|o| o.long.as_deref()), COIN_SCALE, "coinOI.long"),
        coin_oi_short: unsigned(coin.and_then(|o| o.short.as_deref()), COIN_SCALE, "coinOI.short"),
        open_maker: pct(a2.and_then(|a| a.open_maker_fee_p.as_deref()), "openMakerFeeP"),
        open_taker: pct(a2.and_then(|a| a.open_taker_fee_p.as_deref()), "openTakerFeeP"),
        close_maker: pct(a2.and_then(|a| a.close_maker_fee_p.as_deref()), "closeMakerFeeP"),
        close_taker: pct(a2.and_then(|a| a.close_taker_fee_p.as_deref()), "closeTakerFeeP"),
        pnl_tiers,
    }
}

/// Builds the domain catalog from a `/v2/trading` snapshot (or its `{"data": …}` wrapper). Indices
/// come from each entry's `index` (map keys must agree), amounts are converted exactly from their
/// JSON text. A listed pair that cannot be converted fails the whole catalog; an unlisted one is
/// left out with a warning; empty slots are skipped.
pub fn catalog_from_trading_snapshot(text: &str) -> DomainResult<PairCatalog> {
    trading_snapshot(text).map(|(catalog, _)| catalog)
}

/// The catalog and each pair's Pyth feed id (`feed.feedId`, bytes32 hex) from one snapshot.
pub fn trading_snapshot(text: &str) -> DomainResult<(PairCatalog, HashMap<PairSymbol, String>)> {
    let bad = |m: String| DomainError::Internal(format!("Avantis pair catalog: {m}"));
    let snap: Snapshot = serde_json::from_str(text).map_err(|e| bad(format!("not a /v2/trading snapshot: {e}")))?;
    let infos = match (snap.pair_infos, snap.data) {
        (Some(p), _) => p,
        (None, Some(inner)) => serde_json::from_str::<Snapshot>(inner.get())
            .map_err(|e| bad(format!("not a /v2/trading snapshot: {e}")))?
            .pair_infos
            .ok_or_else(|| bad("no pairInfos".into()))?,
        (None, None) => return Err(bad("no pairInfos".into())),
    };
    let mut pairs = Vec::new();
    let mut hours = Vec::new();
    let mut models = Vec::new();
    let mut feeds = HashMap::new();
    for (key, raw) in &infos {
        let listed = raw.is_pair_listed.unwrap_or(false);
        match pair_info(raw) {
            Ok(Some(info)) => {
                if key.parse::<u16>().ok().is_some_and(|k| k != info.index.0) {
                    return Err(bad(format!("entry {key:?} carries index {}", info.index.0)));
                }
                let feed = raw.feed.as_ref().and_then(|f| f.feed_id.as_deref()).map(str::trim).unwrap_or_default();
                let hex = feed.strip_prefix("0x").unwrap_or(feed);
                if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    feeds.insert(info.symbol.clone(), feed.to_owned());
                }
                if let Some(a) = raw.feed.as_ref().and_then(|f| f.attributes.as_ref()) {
                    // The SDK's defaults: open, no next open, no next close.
                    let at = |v: Option<&RawValue>, what: &str| num(v, 0, what).map_err(|e| bad(format!("pair {key}: {e}")));
                    let h = MarketHours {
                        is_open: a.is_open.unwrap_or(true),
                        next_open: at(a.next_open.as_deref(), "feed.attributes.nextOpen")?,
                        next_close: at(a.next_close.as_deref(), "feed.attributes.nextClose")?,
                    };
                    hours.push((info.index, h));
                }
                models.push((info.index, fee_model(raw, is_upside(&info.symbol), info.index.0)));
                pairs.push(info);
            }
            Ok(None) => {}
            Err(e) if listed => return Err(bad(e)),
            Err(e) => tracing::warn!(pair = %key, error = %e, "skipping an unlisted Avantis pair"),
        }
    }
    let catalog = hours.into_iter().fold(PairCatalog::new(pairs)?, |c, (i, h)| c.with_hours(i, h));
    let catalog = models.into_iter().fold(catalog, |c, (i, m)| c.with_fees(i, m));
    Ok((catalog, feeds))
}

/// Cross-checks the catalog against tx-builder `/v2/pairs` (`[{index, symbol | from+to}]`): every
/// pair both list must carry the same symbol at the same index.
pub(crate) fn check_against_tx_builder(catalog: &PairCatalog, listing: &str) -> DomainResult<()> {
    let v: Value = serde_json::from_str(listing).map_err(|e| DomainError::Internal(format!("/v2/pairs is not JSON: {e}")))?;
    let items = match &v {
        Value::Array(a) => a.as_slice(),
        Value::Object(o) => o.get("pairs").and_then(Value::as_array).map_or(&[][..], Vec::as_slice),
        _ => &[],
    };
    for item in items {
        let Some(index) = item.get("index").and_then(super::decimal::json_u64) else { continue };
        let symbol = match (
            item.get("symbol").and_then(Value::as_str),
            item.get("from").and_then(Value::as_str),
            item.get("to").and_then(Value::as_str),
        ) {
            (Some(s), _, _) if !s.trim().is_empty() => s.to_owned(),
            (_, Some(f), Some(t)) if !f.is_empty() && !t.is_empty() => format!("{f}/{t}"),
            _ => continue,
        };
        let Ok(index) = u16::try_from(index) else { continue };
        let Ok(symbol) = PairSymbol::parse(&symbol) else { continue };
        if let Some(p) = catalog.by_index(PairIndex(index)) {
            catalog.check(PairIndex(index), &symbol).map_err(|e| {
                DomainError::Internal(format!(
                    "Avantis data service and tx-builder disagree on pair {index} ({} vs {symbol}): {e}",
                    p.symbol
                ))
            })?;
        }
    }
    Ok(())
}

/// The indexer's source of the catalog it stores: `/v2/trading` read afresh (and cross-checked
/// as [`super::AvantisClient::refresh_pairs`] does), market hours included.
#[async_trait::async_trait]
impl vanta_domain::catalog::CatalogSource for super::AvantisClient {
    async fn fetch_catalog(&self) -> DomainResult<PairCatalog> {
        Ok(self.refresh_pairs().await?.as_ref().clone())
    }
}
