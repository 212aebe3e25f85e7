//! The stored tightening of the operator limits: `CONTROL`/`LIMITS`, plain attributes so an
//! operator can write it with the AWS CLI (each optional; strings or numbers):
//! `max_leverage` ("10"), `max_position_usdc`, `max_daily_loss_usdc`, `max_daily_volume_usdc`
//! (USDC, "5000.5"), `max_open_positions`, `max_daily_trades` (whole numbers),
//! `max_slippage_pct` ("1.5"), `min_liq_distance_bps` (whole bps), `updated_by`, `updated_at`.
//! Under `CONTROL`, which only the bot's role and the operator may write (the scheduled
//! functions keep their own state under `JOBS`; see `partitions.rs`). A present but unreadable
//! attribute is an error, never skipped: callers then refuse new exposure.

use aws_sdk_dynamodb::types::AttributeValue;
use vanta_domain::limits::StoredLimits;
use vanta_domain::money::{Bps, SlippageP};
use vanta_domain::time::Timestamp;
use vanta_domain::{DomainError, DomainResult};

use super::codec::{Item, n, s};
use super::keys as k;

pub(crate) const LIMITS: &str = "LIMITS";

fn text(item: &Item, name: &str) -> Option<String> {
    match item.get(name)? {
        AttributeValue::S(v) | AttributeValue::N(v) => Some(v.trim().to_owned()),
        _ => Some(String::from("\u{0}")),
    }
}

fn parsed<T>(item: &Item, name: &str, parse: impl Fn(&str) -> Result<T, String>) -> DomainResult<Option<T>> {
    match text(item, name) {
        None => Ok(None),
        Some(v) => parse(&v).map(Some).map_err(|e| DomainError::Internal(format!("stored limits: {name} is unreadable: {e}"))),
    }
}

pub(crate) fn limits_of(item: &Item) -> DomainResult<StoredLimits> {
    let num = |v: &str| v.parse::<u32>().map_err(|e| e.to_string());
    Ok(StoredLimits {
        max_leverage: parsed(item, "max_leverage", |v| v.parse().map_err(|e: vanta_domain::money::AmountError| e.to_string()))?,
        max_position: parsed(item, "max_position_usdc", |v| v.parse().map_err(|e: vanta_domain::money::AmountError| e.to_string()))?,
        max_open_positions: parsed(item, "max_open_positions", num)?,
        max_daily_loss: parsed(item, "max_daily_loss_usdc", |v| v.parse().map_err(|e: vanta_domain::money::AmountError| e.to_string()))?,
        max_daily_trades: parsed(item, "max_daily_trades", num)?,
        max_daily_volume: parsed(item, "max_daily_volume_usdc", |v| {
            v.parse().map_err(|e: vanta_domain::money::AmountError| e.to_string())
        })?,
        max_slippage: parsed(item, "max_slippage_pct", |v| Bps::from_percent_str(v).map(SlippageP::from_bps).map_err(|e| e.to_string()))?,
        min_liq_distance: parsed(item, "min_liq_distance_bps", |v| {
            v.parse::<u32>().map_err(|e| e.to_string()).and_then(|b| Bps::new(b).map_err(|e| e.to_string()))
        })?,
        updated_by: parsed(item, k::UPDATED_BY, |v| v.parse::<i64>().map_err(|e| e.to_string()))?,
        updated_at: Timestamp(parsed(item, k::UPDATED_AT, |v| v.parse::<i64>().map_err(|e| e.to_string()))?.unwrap_or(0)),
    })
}

pub(crate) fn limits_item(l: &StoredLimits) -> Item {
    let mut item = Item::new();
    item.insert(k::PK.into(), s(k::CONTROL));
    item.insert(k::SK.into(), s(LIMITS));
    if let Some(v) = l.max_leverage {
        item.insert("max_leverage".into(), s(v.to_string()));
    }
    if let Some(v) = l.max_position {
        item.insert("max_position_usdc".into(), s(v.to_string()));
    }
    if let Some(v) = l.max_open_positions {
        item.insert("max_open_positions".into(), n(v));
    }
    if let Some(v) = l.max_daily_loss {
        item.insert("max_daily_loss_usdc".into(), s(v.to_string()));
    }
    if let Some(v) = l.max_daily_trades {
        item.insert("max_daily_trades".into(), n(v));
    }
    if let Some(v) = l.max_daily_volume {
        item.insert("max_daily_volume_usdc".into(), s(v.to_string()));
    }
    if let Some(v) = l.max_slippage {
        item.insert("max_slippage_pct".into(), s(v.to_string()));
    }
    if let Some(v) = l.min_liq_distance {
        item.insert("min_liq_distance_bps".into(), n(v.raw()));
    }
    if let Some(v) = l.updated_by {
        item.insert(k::UPDATED_BY.into(), n(v));
    }
    item.insert(k::UPDATED_AT.into(), n(l.updated_at.millis()));
    item
}
