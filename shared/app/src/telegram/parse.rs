//! The pure parsers behind the commands: no store, no chat, no clock, so each is tested alone.
//! Errors are user-facing HTML (user text in them is escaped).

use std::str::FromStr;

use vanta_domain::DomainError;
use vanta_domain::ids::{TelegramUserId, TraderAddress};
use vanta_domain::intent::OpenOrder;
use vanta_domain::market::{PairSymbol, Side};
use vanta_domain::money::{Bps, Leverage, Price, Usdc};
use vanta_domain::position::Position;
use vanta_domain::user::{CopySizing, Follow, LeaderRef};

use super::render::esc;

/// Parses `<pair> <collateral> <leverage>x [tp=..] [sl=..] [slip=..]`.
pub fn parse_open(side: Side, args: &[String]) -> Result<OpenOrder, String> {
    let usage = || {
        format!(
            "Usage: <code>/{} &lt;pair&gt; &lt;collateral USDC&gt; &lt;leverage&gt;x [tp=price] [sl=price] [slip=percent]</code>, e.g. <code>/{} btc 100 5x</code>",
            side.as_str(),
            side.as_str()
        )
    };
    let [pair, collateral, leverage, options @ ..] = args else { return Err(usage()) };
    let e = |x: DomainError| esc(&x.to_string());
    let pair = PairSymbol::parse(pair).map_err(e)?;
    let collateral = Usdc::from_str(collateral.trim_start_matches('$')).map_err(|x| esc(&x.to_string()))?;
    if collateral.is_zero() {
        return Err("collateral must be more than 0".into());
    }
    let leverage = Leverage::from_str(leverage).map_err(|x| esc(&x.to_string()))?;
    let mut order = OpenOrder { pair, side, collateral, leverage, tp: None, sl: None, slippage: None };
    for opt in options {
        let Some((k, v)) = opt.split_once('=') else { return Err(format!("'{}' is not key=value. {}", esc(opt), usage())) };
        match k.to_ascii_lowercase().as_str() {
            "tp" => order.tp = Some(Price::from_str(v).map_err(|x| esc(&x.to_string()))?),
            "sl" => order.sl = Some(Price::from_str(v).map_err(|x| esc(&x.to_string()))?),
            "slip" | "slippage" => {
                order.slippage = Some(vanta_domain::money::SlippageP::from_bps(
                    Bps::from_percent_str(v.trim_end_matches('%')).map_err(|x| esc(&x.to_string()))?,
                ))
            }
            other => return Err(format!("unknown option '{}' (tp, sl, slip)", esc(other))),
        }
    }
    Ok(order)
}

/// Realised PnL per bucket over the period, oldest first: (buckets, bucket length in ms).
pub fn pnl_buckets(positions: &[Position], now_ms: i64, buckets: usize, bucket_ms: i64) -> Vec<i64> {
    let mut out = vec![0i64; buckets];
    let start = now_ms - bucket_ms * i64::try_from(buckets).unwrap_or(0);
    for p in positions {
        let (Some(at), Some(pnl)) = (p.closed_at, p.realised_pnl) else { continue };
        if at.millis() <= start || at.millis() > now_ms {
            continue;
        }
        let idx = usize::try_from((at.millis() - start - 1) / bucket_ms).unwrap_or(0);
        if let Some(slot) = out.get_mut(idx) {
            *slot = slot.saturating_add(pnl.raw());
        }
    }
    out
}

/// Applies one `key=value` copy setting.
pub fn apply_copy_setting(f: &mut Follow, opt: &str) -> Result<(), String> {
    let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
    match k.to_ascii_lowercase().as_str() {
        "fixed" => f.sizing = CopySizing::Fixed { collateral: Usdc::from_str(v.trim_start_matches('$')).map_err(|x| esc(&x.to_string()))? },
        "ratio" => f.sizing = CopySizing::Ratio { ratio: Bps::from_percent_str(v.trim_end_matches('%')).map_err(|x| esc(&x.to_string()))? },
        "proportional" => f.sizing = CopySizing::Proportional,
        "max_lev" | "max_leverage" => f.max_leverage = Leverage::from_str(v).map_err(|x| esc(&x.to_string()))?,
        "per_trade" => f.per_trade_cap = Usdc::from_str(v.trim_start_matches('$')).map_err(|x| esc(&x.to_string()))?,
        "daily" => f.daily_cap = Usdc::from_str(v.trim_start_matches('$')).map_err(|x| esc(&x.to_string()))?,
        "counter" => f.counter = !matches!(v, "off" | "0" | "false" | "no"),
        "adopt" => f.adopt_existing = !matches!(v, "off" | "0" | "false" | "no"),
        "stop_after" => f.stop_after_losses = v.parse().map_err(|_| format!("'{}' is not a whole number", esc(v)))?,
        "max_dd" => f.max_drawdown = Usdc::from_str(v.trim_start_matches('$')).map_err(|x| esc(&x.to_string()))?,
        "on" => f.active = true,
        "off" => f.active = false,
        other => {
            return Err(format!(
                "unknown setting '{}' (fixed=USDC, ratio=PCT, proportional, max_lev=N, per_trade=USDC, daily=USDC, counter, adopt, stop_after=N, max_dd=USDC, on, off)",
                esc(other)
            ));
        }
    }
    Ok(())
}

/// Parses a leader (`/follow`, `/unfollow`, `/copy`): a Vanta user id or a `0x` address, never
/// the user (`me`) or their own wallet.
pub fn parse_leader(raw: &str, me: TelegramUserId, my_wallet: Option<TraderAddress>) -> Result<LeaderRef, String> {
    let leader = if raw.starts_with("0x") || raw.starts_with("0X") {
        LeaderRef::Address(TraderAddress::from_str(raw).map_err(|e| esc(&e.to_string()))?)
    } else {
        LeaderRef::User(TelegramUserId::from_str(raw).map_err(|e| esc(&e.to_string()))?)
    };
    if leader == LeaderRef::User(me) || my_wallet.is_some_and(|t| leader == LeaderRef::Address(t)) {
        return Err("you cannot follow yourself".into());
    }
    Ok(leader)
}

/// A `/pnl` period: its label, the number of buckets and a bucket's length in ms; `None` for an
/// unknown one.
pub fn pnl_period(arg: Option<&str>) -> Option<(&'static str, usize, i64)> {
    match arg.map(str::to_ascii_lowercase).as_deref() {
        None | Some("day") => Some(("last 24 hours", 24, 3_600_000)),
        Some("week") => Some(("last 7 days", 7, 86_400_000)),
        Some("month") => Some(("last 30 days", 30, 86_400_000)),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use vanta_domain::money::SignedUsdc;
    use vanta_domain::time::Timestamp;

    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_trade_commands_exactly() {
        let o = parse_open(Side::Long, &args("btc 100 5x tp=120000 sl=95000.5 slip=0.3")).unwrap();
        assert_eq!(o.pair.as_str(), "BTC/USD");
        assert_eq!(o.collateral, Usdc::from_raw(100_000_000));
        assert_eq!(o.leverage, Leverage::from_whole(5).unwrap());
        assert_eq!(o.tp, Some(Price::from_str("120000").unwrap()));
        assert_eq!(o.sl.unwrap().raw(), 950_005_000_000_000);
        assert_eq!(o.slippage.unwrap().to_bps_floor().raw(), 30);
        assert_eq!(parse_open(Side::Short, &args("ETH/USD $12.5 2.5X")).unwrap().collateral, Usdc::from_raw(12_500_000));
        for bad in [
            "btc",
            "btc 100",
            "btc abc 5x",
            "btc 100 0x",
            "btc 0 5x",
            "btc 100 5x tp",
            "btc 100 5x foo=1",
            "btc 1e3 5x",
            "btc 100 5x tp=-1",
        ] {
            assert!(parse_open(Side::Long, &args(bad)).is_err(), "{bad}");
        }
        // User text in errors comes back escaped.
        let e = parse_open(Side::Long, &args("btc 100 5x <b>=1")).unwrap_err();
        assert!(e.contains("&lt;b&gt;") && !e.contains("<b>="), "{e}");
    }

    #[test]
    fn copy_settings_parse() {
        let mut f = Follow {
            follower: TelegramUserId(1),
            leader: LeaderRef::User(TelegramUserId(2)),
            sizing: CopySizing::Proportional,
            max_leverage: Leverage::ONE,
            per_trade_cap: Usdc::ZERO,
            daily_cap: Usdc::ZERO,
            counter: false,
            adopt_existing: false,
            stop_after_losses: 0,
            max_drawdown: Usdc::ZERO,
            active: true,
            since: Timestamp(0),
        };
        for o in ["fixed=50", "max_lev=7x", "per_trade=80", "daily=$300", "counter", "stop_after=3", "off"] {
            apply_copy_setting(&mut f, o).unwrap();
        }
        assert_eq!(f.sizing, CopySizing::Fixed { collateral: Usdc::from_whole(50).unwrap() });
        assert_eq!(f.max_leverage, Leverage::from_whole(7).unwrap());
        assert!(f.counter && !f.active && f.stop_after_losses == 3);
        apply_copy_setting(&mut f, "ratio=50%").unwrap();
        assert_eq!(f.sizing, CopySizing::Ratio { ratio: Bps::new(5000).unwrap() });
        assert!(apply_copy_setting(&mut f, "yolo=1").is_err());
    }

    #[test]
    fn pnl_buckets_count_closes_in_their_hour() {
        let hour = 3_600_000;
        let now = 100 * hour;
        // From JSON, so fields added later with defaults do not break this test.
        let pos = |closed: i64, pnl: i64| -> Position {
            serde_json::from_value(serde_json::json!({
                "id": "p", "user": 1, "pair": "BTC/USD", "pair_index": 1, "trade_index": null, "side": "long",
                "collateral": "0", "leverage": "1", "open_price": "1", "tp": null, "sl": null, "mode": "DRY",
                "status": "CLOSED", "opened_by": "i", "opened_at": 0, "closed_at": closed, "close_price": null,
                "realised_pnl": SignedUsdc::from_raw(pnl), "fees": "0"
            }))
            .unwrap()
        };
        let b = pnl_buckets(&[pos(now, 5), pos(now - hour / 2, 1), pos(now - 23 * hour - 1, -3), pos(now - 25 * hour, 100)], now, 24, hour);
        assert_eq!(b.len(), 24);
        assert_eq!(b[23], 6);
        assert_eq!(b[0], -3);
        assert_eq!(b.iter().sum::<i64>(), 3);
    }

    #[test]
    fn leaders_parse_and_never_name_the_user() {
        let me = TelegramUserId(1);
        let wallet = TraderAddress::from_str("0x00000000000000000000000000000000000000aa").unwrap();
        assert_eq!(parse_leader("2", me, None).unwrap(), LeaderRef::User(TelegramUserId(2)));
        let other = "0x00000000000000000000000000000000000000bb";
        assert_eq!(parse_leader(other, me, Some(wallet)).unwrap(), LeaderRef::Address(TraderAddress::from_str(other).unwrap()));
        assert!(parse_leader("1", me, None).unwrap_err().contains("yourself"));
        assert!(parse_leader("0x00000000000000000000000000000000000000AA", me, Some(wallet)).unwrap_err().contains("yourself"));
        for bad in ["abc", "0x12", "-", ""] {
            assert!(parse_leader(bad, me, None).is_err(), "{bad}");
        }
        assert!(parse_leader("<b>", me, None).unwrap_err().contains("&lt;b&gt;"));
    }

    #[test]
    fn pnl_periods() {
        assert_eq!(pnl_period(None), Some(("last 24 hours", 24, 3_600_000)));
        assert_eq!(pnl_period(Some("WEEK")), Some(("last 7 days", 7, 86_400_000)));
        assert_eq!(pnl_period(Some("month")).map(|p| p.1), Some(30));
        assert_eq!(pnl_period(Some("year")), None);
    }
}
