//! The feed service (`{feed}/v2/pairs/{i}/price-update-data`): one price per pair, both legs.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::wire::{Reply, Svc, err, hex, ok};
use super::{PairRow, State, now_s};

/// Fixed feed prices by base asset (1e10); a pair the table does not know trades at 100.
pub(super) fn feed_prices(pairs: &BTreeMap<u16, PairRow>) -> BTreeMap<u16, u64> {
    pairs
        .iter()
        .map(|(i, p)| {
            let human: u64 = match p.from.as_str() {
                "ETH" => 3_000,
                "BTC" => 60_000,
                "SOL" => 150,
                _ => 100,
            };
            (*i, human * 10_000_000_000)
        })
        .collect()
}

/// The feed's answer: both legs (`pro` = Pyth Lazer, `core` = Pyth Hermes) with the human price
/// and placeholder update bytes (`PNAU` + pair + price; no chain verifies them).
pub(super) fn price_update_json(pair: u16, price: u64, now: u64) -> Value {
    let human = vanta_domain::money::format_scaled(i128::from(price), 10);
    let mut bytes = b"PNAU".to_vec();
    bytes.extend_from_slice(&pair.to_be_bytes());
    bytes.extend_from_slice(&price.to_be_bytes());
    bytes.extend_from_slice(&now.to_be_bytes());
    let leg = |source: u8| {
        json!({ "pairIndex": pair, "price": human, "priceRaw": price.to_string(), "publishTime": now,
                "priceSourcing": source, "priceUpdateData": hex(&bytes) })
    };
    json!({ "pairIndex": pair, "pro": leg(1), "core": leg(0) })
}

/// `GET /v2/pairs/{i}/price-update-data`.
pub(super) fn price_update_data(st: &State, svc: Svc, rest: &str) -> Reply {
    let pair = rest.trim_start_matches("/v2/pairs/").trim_end_matches("/price-update-data");
    match pair.parse::<u16>().ok().and_then(|i| st.prices.get(&i).map(|p| (i, *p))) {
        None => err(svc, 404, "NOT_FOUND", &format!("no price for pair {pair}")),
        Some((i, price)) => ok(svc, price_update_json(i, price, now_s())),
    }
}
