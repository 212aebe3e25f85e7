//! Veranta's trade history (`{history}/v2/history/trade-history/{trader}/{page}/{limit}`), read by
//! the reconciler, and [`WithHistory`]: any venue plus that history.
//!
//! The SDK returns this endpoint's body raw and our reference notes do not fix the record's
//! fields, so the parser is lenient and names every field it reads [INFERRED]: the envelope
//! `{"success": true, "data": [...]}` (or `{"success": false, "errorMessage"}`), one record per
//! fill (opens too), each with `pairIndex`, `index` (trade index), `openTimestamp` (unix s,
//! optional), `buy` (long), `open` (false for a close; or a `closePrice` present), the execution
//! price (`closePrice` or `price`), `collateral` (closed), `remainingCollateral`, the fees
//! (`fees`, or the sum of `closeFee`, `borrowFee`, `profitSharingFee`, `liquidationFee` and a
//! positive `funding`), `netPnl`, the reason (`closeReason` text, or the contracts' `orderType`
//! — TP 0, SL 1, LIQ 2 — with a market fill's absent), `timestamp` (unix s) and an `id`.
//! Amounts are human units (the history API's convention), JSON numbers or strings, parsed
//! exactly as decimal text (an exponent is shifted into the digits) — never through floats.
//! A record that cannot be read is skipped with a warning (the reconciler then falls back to its
//! missing-position rule for that trade), never guessed.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::{PairCatalog, PairIndex, Side};
use vanta_domain::money::{Price, SignedUsdc, Usdc};
use vanta_domain::ports::{Delegation, Lookup, Venue, VenueFill, VenueOrder, VenuePosition};
use vanta_domain::recon::{CloseReason, VenueClose, VenueHistory};
use vanta_domain::time::Timestamp;
use vanta_domain::{DomainError, DomainResult};

use crate::http_error::HttpError;

/// Records asked per page (the SDK's default, and the largest page the venue is known to
/// serve: a larger limit may be cut to it, which would end the paging early), and pages read per
/// call at most (reading stops at a page with nothing at or after the cursor).
pub const PAGE: u32 = 20;
pub const MAX_PAGES: u32 = 10;

#[derive(Clone, Debug)]
pub struct HistoryClient {
    base: String,
    http: reqwest::Client,
}

impl HistoryClient {
    pub fn new(base: &str) -> DomainResult<Self> {
        let parsed = url::Url::parse(base).map_err(|e| DomainError::Invalid(format!("history API URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(DomainError::Invalid("the history API URL is not http(s)".into()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(8))
            .build()
            .map_err(|e| DomainError::Internal(format!("cannot build the history HTTP client: {e}")))?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), http })
    }

    /// One page of the trader's trade history, as the venue returns it.
    pub async fn page(&self, trader: TraderAddress, page: u32, limit: u32) -> DomainResult<Vec<Value>> {
        let url = format!("{}/v2/history/trade-history/{}/{page}/{limit}", self.base, trader.key());
        let resp = self.http.get(&url).send().await.map_err(|e| HttpError::new(e, |e| format!("trade history: {e}")))?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| HttpError::new(e, |e| format!("trade history: unreadable reply: {e}")))?;
        if !status.is_success() {
            return Err(DomainError::Unavailable(format!("trade history: HTTP {}", status.as_u16())));
        }
        if body.get("success").and_then(Value::as_bool) == Some(false) {
            let msg = body.get("errorMessage").and_then(Value::as_str).unwrap_or("no reason given");
            return Err(DomainError::Unavailable(format!("trade history refused: {msg}")));
        }
        Ok(body.get("data").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    /// The trader's closes at or after `since`, oldest first.
    pub async fn closes(&self, trader: TraderAddress, since: Option<Timestamp>) -> DomainResult<Vec<VenueClose>> {
        let mut out = Vec::new();
        for page in 0..MAX_PAGES {
            let rows = self.page(trader, page, PAGE).await?;
            let n = rows.len();
            // The page order is not documented: stop only at a page with nothing new on it.
            let mut all_older = n > 0;
            for row in rows {
                match parse_close(&row) {
                    Ok(Some(c)) if since.is_none_or(|s| c.at >= s) => {
                        all_older = false;
                        out.push(c);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => all_older = false,
                    Err(e) => tracing::warn!(trader = %trader, error = %e, "a trade-history record was not understood; skipped"),
                }
            }
            if all_older || n < PAGE as usize {
                break;
            }
        }
        out.sort_by_key(|c| c.at);
        out.dedup_by(|a, b| a.id == b.id);
        Ok(out)
    }
}

fn text(v: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match v.get(*n) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(x)) => Some(plain_decimal(&x.to_string())),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    })
}

/// A number's text without an exponent (`1e-6` → `0.000001`, `2.5E3` → `2500`), by moving the
/// decimal point in the digits; text without one is returned as is.
fn plain_decimal(t: &str) -> String {
    let Some((mantissa, exp)) = t.split_once(['e', 'E']) else { return t.to_owned() };
    let Ok(exp) = exp.parse::<i32>() else { return t.to_owned() };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    // Position of the decimal point within `digits` after the shift.
    let point = i64::try_from(int.len()).unwrap_or(0).saturating_add(i64::from(exp));
    let len = i64::try_from(digits.len()).unwrap_or(0);
    let out = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(usize::try_from(-point).unwrap_or(0)))
    } else if point >= len {
        format!("{digits}{}", "0".repeat(usize::try_from(point - len).unwrap_or(0)))
    } else {
        let (a, b) = digits.split_at(usize::try_from(point).unwrap_or(0));
        format!("{a}.{b}")
    };
    format!("{sign}{out}")
}

/// The sum of the fee fields present (human USDC); a negative funding is a payment to the
/// trader and is left out (it is in the net PnL).
fn fee_sum(v: &Value) -> DomainResult<Usdc> {
    let mut total = Usdc::ZERO;
    for name in ["closeFee", "borrowFee", "profitSharingFee", "liquidationFee", "funding"] {
        let Some(t) = text(v, &[name]) else { continue };
        if t.starts_with('-') {
            continue;
        }
        total = total.checked_add(Usdc::from_str(&t).map_err(|e| bad(name, e))?)?;
    }
    Ok(total)
}

/// The close's reason: the `closeReason` text, else the contracts' `orderType` (`LimitOrder`:
/// TP 0, SL 1, LIQ 2) of a limit or trigger execution, else a market close.
fn reason_of(v: &Value) -> CloseReason {
    if let Some(t) = text(v, &["closeReason", "close_reason"]) {
        return CloseReason::parse(&t);
    }
    match text(v, &["orderType", "order_type"]).as_deref() {
        Some("0") => CloseReason::TakeProfit,
        Some("1") => CloseReason::StopLoss,
        Some("2") => CloseReason::Liquidation,
        Some(t) if t.parse::<u64>().is_err() => CloseReason::parse(t),
        Some(_) => CloseReason::Unknown,
        None => CloseReason::Market,
    }
}

fn need(v: &Value, names: &[&str]) -> DomainResult<String> {
    text(v, names).ok_or_else(|| DomainError::Invalid(format!("trade-history record without {}", names.first().copied().unwrap_or("?"))))
}

fn bad(field: &str, e: impl std::fmt::Display) -> DomainError {
    DomainError::Invalid(format!("trade-history {field}: {e}"))
}

/// One history record as a close; None for a record that is not a close (an open).
pub fn parse_close(v: &Value) -> DomainResult<Option<VenueClose>> {
    let price = match (v.get("open").and_then(Value::as_bool), text(v, &["closePrice", "close_price"])) {
        (Some(true), _) => return Ok(None),
        (_, Some(p)) => p,
        (Some(false), None) => need(v, &["price"])?,
        (None, None) => return Ok(None),
    };
    let price = Price::from_str(&price).map_err(|e| bad("closePrice", e))?;
    if price.is_zero() {
        return Ok(None);
    }
    let pair = need(v, &["pairIndex", "pair_index"])?.parse::<u16>().map_err(|e| bad("pairIndex", e))?;
    let index = need(v, &["index", "tradeIndex", "trade_index"])?.parse::<u32>().map_err(|e| bad("index", e))?;
    let open_time = match text(v, &["openTimestamp", "open_timestamp"]) {
        Some(t) => Some(t.parse::<u64>().map_err(|e| bad("openTimestamp", e))?),
        None => None,
    };
    let side = match need(v, &["buy", "isLong", "is_long"])?.as_str() {
        "true" | "1" => Side::Long,
        "false" | "0" => Side::Short,
        other => return Err(bad("buy", other)),
    };
    let collateral = Usdc::from_str(&need(v, &["collateral", "closedCollateral"])?).map_err(|e| bad("collateral", e))?;
    let remaining = match text(v, &["remainingCollateral", "remaining_collateral"]) {
        Some(r) => Usdc::from_str(&r).map_err(|e| bad("remainingCollateral", e))?,
        None => Usdc::ZERO,
    };
    let fee = match text(v, &["fees", "fee", "closingFee"]) {
        Some(f) => Usdc::from_str(f.trim_start_matches('-')).map_err(|e| bad("fees", e))?,
        None => fee_sum(v)?,
    };
    let net_pnl = SignedUsdc::from_str(&need(v, &["netPnl", "net_pnl", "pnl"])?).map_err(|e| bad("netPnl", e))?;
    let reason = reason_of(v);
    let at = need(v, &["timestamp", "closedAt", "closed_at"])?.parse::<i64>().map_err(|e| bad("timestamp", e))?;
    let id = text(v, &["id", "_id", "txHash", "tx_hash"]).unwrap_or_else(|| format!("{pair}:{index}:{at}:{}", collateral.raw()));
    Ok(Some(VenueClose {
        id,
        pair: PairIndex(pair),
        trade_index: index,
        open_time,
        side,
        price,
        collateral,
        remaining,
        fee,
        net_pnl,
        reason,
        at: Timestamp::from_secs(at),
    }))
}

/// A venue with Veranta's trade history: everything else is the inner venue's.
pub struct WithHistory {
    inner: Arc<dyn Venue>,
    history: HistoryClient,
}

impl WithHistory {
    pub fn new(inner: Arc<dyn Venue>, history: HistoryClient) -> Self {
        Self { inner, history }
    }
}

#[async_trait]
impl Venue for WithHistory {
    fn mode(&self) -> ExecMode {
        self.inner.mode()
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.inner.pairs().await
    }
    async fn execute(&self, client_ref: &IntentId, order: &VenueOrder) -> DomainResult<VenueFill> {
        self.inner.execute(client_ref, order).await
    }
    async fn positions(&self, trader: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.inner.positions(trader).await
    }
    async fn lookup(&self, client_ref: &IntentId) -> DomainResult<Lookup> {
        self.inner.lookup(client_ref).await
    }
    async fn equity(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        self.inner.equity(trader).await
    }
    async fn wallet_usdc(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        self.inner.wallet_usdc(trader).await
    }
    async fn delegation(&self, trader: TraderAddress, delegate: TraderAddress) -> DomainResult<Option<Delegation>> {
        self.inner.delegation(trader, delegate).await
    }
    async fn history(&self, trader: TraderAddress, since: Option<Timestamp>) -> DomainResult<Option<VenueHistory>> {
        Ok(Some(VenueHistory { closes: self.history.closes(trader, since).await? }))
    }
    async fn limit_orders(&self, trader: TraderAddress) -> DomainResult<Option<Vec<vanta_domain::recon::VenueLimitOrder>>> {
        self.inner.limit_orders(trader).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use serde_json::json;

    use super::*;

    #[test]
    fn exponents_become_plain_decimals() {
        for (t, want) in
            [("1e-6", "0.000001"), ("-2.5e-3", "-0.0025"), ("2.5E3", "2500"), ("1.25e1", "12.5"), ("24.76", "24.76"), ("7", "7")]
        {
            assert_eq!(plain_decimal(t), want, "{t}");
        }
    }

    #[test]
    fn a_fill_record_is_read_by_its_open_flag_order_type_and_fee_breakdown() {
        let open = json!({"id": "a", "pairIndex": 1, "index": 0, "buy": true, "open": true, "price": 100000, "timestamp": 5});
        assert_eq!(parse_close(&open).unwrap(), None, "an open is no close");
        let tp = json!({"id": "b", "pairIndex": 1, "index": 0, "buy": true, "open": false, "orderType": 0, "price": 105000,
                        "collateral": 99.775, "remainingCollateral": 0, "closeFee": 0.225, "borrowFee": 0, "funding": -0.01,
                        "liquidationFee": 0, "netPnl": 24.775, "openTimestamp": 4, "timestamp": 6});
        let c = parse_close(&tp).unwrap().unwrap();
        assert_eq!(c.reason, CloseReason::TakeProfit);
        assert_eq!(
            (c.price, c.fee, c.net_pnl),
            (Price::from_str("105000").unwrap(), Usdc::from_raw(225_000), SignedUsdc::from_raw(24_775_000))
        );
        assert_eq!((c.open_time, c.at), (Some(4), Timestamp::from_secs(6)));
        let market = json!({"id": "c", "pairIndex": 1, "index": 0, "buy": false, "open": false, "orderType": null, "price": 99000,
                            "collateral": 50, "remainingCollateral": 49.775, "netPnl": "-1", "timestamp": 7});
        let c = parse_close(&market).unwrap().unwrap();
        assert_eq!((c.reason, c.remaining), (CloseReason::Market, Usdc::from_raw(49_775_000)));
        let liq = json!({"id": "d", "pairIndex": 1, "index": 0, "buy": true, "open": false, "orderType": 2, "price": 82000,
                         "collateral": 99.775, "liquidationFee": 9.9, "netPnl": -99.775, "timestamp": 8});
        assert_eq!(parse_close(&liq).unwrap().unwrap().reason, CloseReason::Liquidation);
    }
}
