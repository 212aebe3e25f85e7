//! Veranta's trade history (`{history}/v2/history/trade-history/{trader}/{page}/{limit}`), read by
//! the reconciler, and [`WithHistory`]: any venue plus that history.
//!
//! The SDK returns this endpoint's body raw and our reference notes do not fix the close
//! record's fields, so the parser is lenient and names every field it reads [INFERRED]: the
//! envelope `{"success": true, "data": [...]}` (or `{"success": false, "errorMessage"}`), each
//! record with `pairIndex`, `index` (trade index), `openTimestamp` (unix s, optional), `buy`
//! (long), `closePrice`, `collateral` (closed), `remainingCollateral`, `fees`, `netPnl`,
//! `closeReason` (`TP`/`SL`/`LIQ`/`MARKET`), `timestamp` (unix s) and an `id`. Amounts are human
//! units (the history API's convention), parsed exactly as decimals — never through floats.
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

/// Records asked per page, and pages read per call at most (newest first: reading stops at the
/// first record older than the cursor).
pub const PAGE: u32 = 50;
pub const MAX_PAGES: u32 = 4;

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
        let resp = self.http.get(&url).send().await.map_err(|e| DomainError::Unavailable(format!("trade history: {}", e.without_url())))?;
        let status = resp.status();
        let body: Value =
            resp.json().await.map_err(|e| DomainError::Unavailable(format!("trade history: unreadable reply: {}", e.without_url())))?;
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
        Some(Value::Number(x)) => Some(x.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    })
}

fn need(v: &Value, names: &[&str]) -> DomainResult<String> {
    text(v, names).ok_or_else(|| DomainError::Invalid(format!("trade-history record without {}", names.first().copied().unwrap_or("?"))))
}

fn bad(field: &str, e: impl std::fmt::Display) -> DomainError {
    DomainError::Invalid(format!("trade-history {field}: {e}"))
}

/// One history record as a close; None for a record that is not a close (an open).
pub fn parse_close(v: &Value) -> DomainResult<Option<VenueClose>> {
    let Some(price) = text(v, &["closePrice", "close_price"]) else { return Ok(None) };
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
        None => Usdc::ZERO,
    };
    let net_pnl = SignedUsdc::from_str(&need(v, &["netPnl", "net_pnl", "pnl"])?).map_err(|e| bad("netPnl", e))?;
    let reason = CloseReason::parse(&text(v, &["closeReason", "close_reason", "orderType"]).unwrap_or_default());
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
}
