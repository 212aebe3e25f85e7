//! The fake Veranta session behind the `fake-veranta` program (and the SDK-against-fake test):
//! a [`FakeAvantis`] with a funded trader and an active delegate, the one-line JSON greeting and
//! the one-line stdin commands (`ping`, `log`, `clear`, `fail`, `outcome`, `positions`, `balance`,
//! `history`, `price`, `liquidate`, `app_close`, `limit <pair> <long|short> <collateral> <leverage>
//! <price>` (a resting limit order placed for the trader, human units; the keeper fills it when
//! `price` crosses it), `limits`, `cancel_limit <pair> <index>`,
//! and `wrong_digest <on|off>` to make the intent builders answer a wrong digest).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::fake_avantis::{Endpoint, FakeAvantis, FakeFailure, FakeLimitOrder, FakeOutcome, FakePosition, LoggedRequest};
use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use rand::RngCore;
use serde_json::{Value, json};

/// The trader's wallet balance at start, 1e6.
pub const TRADER_USDC: u64 = 10_000_000_000;
const DELEGATION_DAYS: u64 = 30;

/// A throwaway key (retried in the negligible case the bytes are not a valid scalar).
fn fresh_key() -> (PrivateKeySigner, String) {
    let mut rng = rand::rng();
    loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        if let Ok(signer) = PrivateKeySigner::from_slice(&bytes) {
            return (signer, format!("0x{}", alloy::hex::encode(bytes)));
        }
    }
}

pub fn request_json(r: &LoggedRequest) -> Value {
    json!({
        "method": r.method, "path": r.path, "endpoint": r.endpoint.map(Endpoint::name),
        "query": r.query, "body": r.body, "status": r.status,
    })
}

fn position_json(p: &FakePosition) -> Value {
    json!({
        "trader": p.trader.to_checksum(None), "pairIndex": p.pair, "index": p.index, "buy": p.buy, "isPnl": p.is_pnl,
        "collateral": p.collateral.to_string(), "leverage": p.leverage.to_string(), "openPrice": p.open_price.to_string(),
        "tp": p.tp.to_string(), "sl": p.sl.to_string(), "openedAt": p.opened_at,
    })
}

fn limit_order_json(o: &FakeLimitOrder) -> Value {
    json!({
        "trader": o.trader.to_checksum(None), "pairIndex": o.pair, "index": o.index, "buy": o.buy,
        "collateral": o.collateral.to_string(), "leverage": o.leverage.to_string(), "price": o.price.to_string(),
        "tp": o.tp.to_string(), "sl": o.sl.to_string(),
    })
}

/// `limit <pair> <long|short> <collateral USDC> <leverage> <price>` (human decimals).
fn place_limit(fake: &FakeAvantis, trader: Address, rest: &str) -> Value {
    let usage = "usage: limit <pair> <long|short> <collateral USDC> <leverage> <price>";
    let parts: Vec<&str> = rest.split_whitespace().collect();
    let [pair, side, collateral, leverage, price] = parts.as_slice() else { return refuse(usage) };
    let human = |s: &str, scale: u32| vanta_domain::money::parse_scaled(s, scale).ok().and_then(|v| u64::try_from(v).ok());
    let (Ok(pair), Some(buy), Some(collateral), Some(leverage), Some(price)) = (
        pair.parse::<u16>(),
        match *side {
            "long" => Some(true),
            "short" => Some(false),
            _ => None,
        },
        human(collateral, 6),
        human(leverage, 10),
        human(price, 10),
    ) else {
        return refuse(usage);
    };
    match fake.place_limit_order(trader, pair, buy, collateral, leverage, price) {
        Some(o) => json!({ "ok": true, "order": limit_order_json(&o) }),
        None => refuse("not placed: unknown pair, a zero amount, or the pair's trades and orders are at the venue's cap"),
    }
}

fn parse_outcome(arg: &str) -> Option<FakeOutcome> {
    match arg {
        "execute" => Some(FakeOutcome::Execute),
        "retry" => Some(FakeOutcome::ExecuteAfterRetry),
        "enqueue_failed" => Some(FakeOutcome::EnqueueFailed),
        _ => match arg.split_once(':') {
            Some(("cancel", reason)) if !reason.is_empty() => Some(FakeOutcome::Cancel(reason.to_owned())),
            Some(("error", code)) if !code.is_empty() => Some(FakeOutcome::Error(code.to_owned())),
            _ => None,
        },
    }
}

fn refuse(message: impl Into<String>) -> Value {
    json!({ "ok": false, "error": message.into() })
}

/// A running fake with its funded trader and active delegate.
pub struct Session {
    pub fake: FakeAvantis,
    pub trader: PrivateKeySigner,
    pub trader_key: String,
    pub delegate: PrivateKeySigner,
    pub delegate_key: String,
}

impl Session {
    /// Starts the fake; the operator takes `tpsl_delay` to execute an accepted TP/SL update.
    pub async fn start(tpsl_delay: Duration) -> Result<Self, String> {
        let fake = FakeAvantis::start().await?;
        fake.set_tpsl_delay(tpsl_delay);
        let (trader, trader_key) = fresh_key();
        let (delegate, delegate_key) = fresh_key();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        fake.set_balance(trader.address(), TRADER_USDC);
        fake.set_delegate(trader.address(), delegate.address(), true, now + DELEGATION_DAYS * 86_400);
        Ok(Self { fake, trader, trader_key, delegate, delegate_key })
    }

    /// The greeting line: URLs, keys, chain id and trading router.
    pub fn hello(&self) -> Value {
        let urls = self.fake.urls();
        json!({
            "urls": { "base": self.fake.base, "tx_builder": urls.tx_builder, "batched_market": urls.batched_market,
                      "core": urls.core, "data": urls.data, "feed": urls.feed, "history": urls.history, "risk_v2": urls.risk_v2 },
            "trader": self.trader.address().to_checksum(None), "trader_private_key": self.trader_key,
            "delegate": self.delegate.address().to_checksum(None), "delegate_private_key": self.delegate_key,
            "chain_id": self.fake.chain_id(), "trading_router": self.fake.trading_router().to_checksum(None),
        })
    }

    /// Answers one command line.
    pub fn command(&self, line: &str) -> Value {
        command(&self.fake, self.trader.address(), line)
    }
}

/// Answers one stdin command.
fn command(fake: &FakeAvantis, trader: Address, line: &str) -> Value {
    let line = line.trim();
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    match name {
        "ping" => json!({ "ok": true, "pong": true }),
        "log" => json!({ "ok": true, "requests": fake.requests().iter().map(request_json).collect::<Vec<_>>() }),
        "clear" => {
            fake.clear_requests();
            json!({ "ok": true })
        }
        "positions" => json!({ "ok": true, "positions": fake.positions(trader).iter().map(position_json).collect::<Vec<_>>() }),
        "balance" => {
            let raw = fake.balance(trader);
            json!({ "ok": true, "balance": raw.to_string(), "balanceUsdc": vanta_domain::money::format_scaled(i128::from(raw), 6) })
        }
        "outcome" => match parse_outcome(rest.trim()) {
            Some(outcome) => {
                fake.push_outcome(outcome);
                json!({ "ok": true })
            }
            None => refuse("usage: outcome <execute|retry|enqueue_failed|cancel:REASON|error:CODE>"),
        },
        "fail" => {
            let mut parts = rest.trim().splitn(5, ' ');
            let usage = "usage: fail <Endpoint> <n> <status> <CODE> <message>";
            let (Some(ep), Some(n), Some(status), Some(code), Some(message)) =
                (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return refuse(usage);
            };
            let Some(endpoint) = Endpoint::from_name(ep) else {
                let names: Vec<String> = Endpoint::ALL.iter().map(|e| e.name()).collect();
                return refuse(format!("unknown endpoint {ep:?}; one of {}", names.join(", ")));
            };
            let (Ok(n), Ok(status)) = (n.parse::<usize>(), status.parse::<u16>()) else { return refuse(usage) };
            if !(400..=599).contains(&status) {
                return refuse("status must be an HTTP error status (400-599)");
            }
            fake.fail_next(endpoint, n, FakeFailure::new(status, code, message));
            json!({ "ok": true })
        }
        "wrong_digest" => match rest.trim() {
            "on" | "off" => {
                fake.set_wrong_digest(rest.trim() == "on");
                json!({ "ok": true })
            }
            _ => refuse("usage: wrong_digest <on|off>"),
        },
        "history" => json!({ "ok": true, "history": fake.history(trader).iter().map(|f| f.to_json()).collect::<Vec<_>>() }),
        // The venue acting by itself: `price <pair> <raw 1e10>` (the keeper closes what the price
        // reaches), `liquidate <pair> <index>`, `app_close <pair> <index>` (closed in the Veranta app).
        "price" | "liquidate" | "app_close" => {
            let mut parts = rest.split_whitespace();
            let (Some(Ok(pair)), Some(Ok(arg))) = (parts.next().map(str::parse::<u16>), parts.next().map(str::parse::<u64>)) else {
                return refuse(format!("usage: {name} <pair> <{}>", if name == "price" { "raw price" } else { "index" }));
            };
            let fills = match name {
                "price" => fake.move_price(pair, arg),
                "liquidate" => fake.liquidate(trader, pair, u32::try_from(arg).unwrap_or(u32::MAX)).into_iter().collect(),
                _ => fake.close_in_app(trader, pair, u32::try_from(arg).unwrap_or(u32::MAX), None).into_iter().collect(),
            };
            json!({ "ok": true, "fills": fills.iter().map(|f| f.to_json()).collect::<Vec<_>>() })
        }
        "limit" => place_limit(fake, trader, rest),
        "limits" => json!({ "ok": true, "orders": fake.limit_orders(trader).iter().map(limit_order_json).collect::<Vec<_>>() }),
        "cancel_limit" => {
            let mut parts = rest.split_whitespace();
            let (Some(Ok(pair)), Some(Ok(index))) = (parts.next().map(str::parse::<u16>), parts.next().map(str::parse::<u32>)) else {
                return refuse("usage: cancel_limit <pair> <index>");
            };
            match fake.cancel_limit_order(trader, pair, index) {
                Some(o) => json!({ "ok": true, "order": limit_order_json(&o) }),
                None => refuse("no such limit order"),
            }
        }
        "" => refuse("empty command"),
        other => refuse(format!(
            "unknown command {other:?}; one of ping, log, clear, fail, outcome, positions, balance, wrong_digest, history, price, liquidate, app_close, \
             limit, limits, cancel_limit"
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    #[tokio::test]
    async fn the_limit_commands_place_list_fill_and_cancel_orders() {
        let fake = FakeAvantis::start().await.unwrap();
        let trader = Address::repeat_byte(0x33);
        fake.set_balance(trader, TRADER_USDC);
        let placed = command(&fake, trader, "limit 1 long 100 5 60000");
        assert_eq!(placed["ok"], true, "{placed}");
        assert_eq!(
            (placed["order"]["collateral"].as_str(), placed["order"]["price"].as_str()),
            (Some("100000000"), Some("600000000000000"))
        );
        assert_eq!(command(&fake, trader, "limit 1 short 100 5 70000")["order"]["index"], 1);
        assert_eq!(command(&fake, trader, "limits")["orders"].as_array().unwrap().len(), 2);
        for bad in ["limit 1 up 100 5 60000", "limit 1 long 1.0000001 5 60000", "limit 1 long 100 5", "limit x long 100 5 1"] {
            assert_eq!(command(&fake, trader, bad)["ok"], false, "{bad}");
        }
        assert_eq!(command(&fake, trader, "cancel_limit 1 1")["ok"], true);
        assert_eq!(command(&fake, trader, "cancel_limit 1 1")["ok"], false, "gone");
        let fills = command(&fake, trader, "price 1 599000000000000");
        assert_eq!(fills["fills"][0]["orderType"], 3, "{fills}");
        assert_eq!(command(&fake, trader, "positions")["positions"].as_array().unwrap().len(), 1);
        assert!(command(&fake, trader, "limits")["orders"].as_array().unwrap().is_empty());
    }
}
