//! Fixtures the risk engine's tests share: a BTC/USD pair, quotes, the limits the tests assume,
//! and [`Case`], everything `check_open` takes, owned.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use super::{Approved, Exposure, Refusal, RiskInput, check_open};
use crate::exec::{EffectiveExec, ExecMode, StopLevel};
use crate::intent::OpenOrder;
use crate::market::{PairIndex, PairInfo, PairSymbol, Side};
use crate::money::{Bps, Leverage, PercentP, Price, SignedUsdc, Usdc};
use crate::ports::PriceQuote;
use crate::risk::{OperatorLimits, RiskPolicy};
use crate::time::Timestamp;

pub(super) const NOW: Timestamp = Timestamp(1_790_000_000_000);

pub(super) fn sym(s: &str) -> PairSymbol {
    PairSymbol::parse(s).unwrap()
}
pub(super) fn usd(s: &str) -> Usdc {
    s.parse().unwrap()
}
pub(super) fn px(s: &str) -> Price {
    s.parse().unwrap()
}
pub(super) fn pct(s: &str) -> PercentP {
    s.parse().unwrap()
}
pub(super) fn lev(x: u64) -> Leverage {
    Leverage::from_whole(x).unwrap()
}
pub(super) fn signed(s: &str) -> SignedUsdc {
    s.parse().unwrap()
}

pub(super) fn btc_pair() -> PairInfo {
    PairInfo {
        index: PairIndex(1),
        symbol: sym("BTC/USD"),
        group: 0,
        listed: true,
        close_only: false,
        min_leverage: lev(1),
        max_leverage: lev(75),
        min_position: usd("100"),
        open_fee: pct("0.045"),
        close_fee: pct("0.045"),
        spread: pct("0.01"),
        max_gain: pct("2500"),
        max_sl: pct("80"),
    }
}

pub(super) fn quote_at(pair: &str, source: &str, price: &str, published_at: Timestamp) -> PriceQuote {
    PriceQuote {
        pair: sym(pair),
        price: px(price),
        published_at,
        source: source.to_owned(),
        check_age_secs: None,
        check_band: Bps::default(),
    }
}

/// A BTC/USD quote `age_ms` old.
pub(super) fn quote(source: &str, price: &str, age_ms: i64) -> PriceQuote {
    quote_at("BTC/USD", source, price, Timestamp(NOW.0 - age_ms))
}

/// A slow (heartbeat) Chainlink-style quote `age_ms` old.
pub(super) fn slow_quote(price: &str, age_ms: i64) -> PriceQuote {
    PriceQuote { check_age_secs: Some(3_900), check_band: Bps::new(100).unwrap(), ..quote("chainlink", price, age_ms) }
}

/// The user's limits the unit tests assume, spelled out (the defaults may change).
pub(super) fn policy() -> RiskPolicy {
    RiskPolicy {
        max_leverage: lev(20),
        max_position: usd("10000"),
        max_open_positions: 5,
        daily_loss_limit: usd("500"),
        loss_streak: 3,
        cooldown_minutes: 60,
        max_daily_trades: 50,
        max_daily_volume: usd("100000"),
        max_slippage: pct("1"),
        default_slippage: pct("0.5"),
        min_liq_distance: Bps::new(1000).unwrap(),
        allowed_pairs: Vec::new(),
    }
}

pub(super) fn ops() -> OperatorLimits {
    OperatorLimits {
        max_leverage: lev(75),
        max_position: usd("100000"),
        max_open_positions: 20,
        max_daily_loss: usd("10000"),
        max_daily_trades: 200,
        max_daily_volume: usd("1000000"),
        max_slippage: pct("3"),
        min_liq_distance: Bps::new(300).unwrap(),
        max_price_age_secs: 30,
        max_price_deviation: Bps::new(50).unwrap(),
    }
}

pub(super) fn live() -> EffectiveExec {
    EffectiveExec { mode: ExecMode::Live, stop: StopLevel::None, why: None }
}

/// Everything `check_open` takes, owned.
#[derive(Debug, Clone)]
pub(super) struct Case {
    pub(super) order: OpenOrder,
    pub(super) pair: PairInfo,
    pub(super) policy: RiskPolicy,
    pub(super) ops: OperatorLimits,
    pub(super) exposure: Exposure,
    pub(super) quotes: Vec<PriceQuote>,
    pub(super) now: Timestamp,
    pub(super) exec: EffectiveExec,
    pub(super) automated: bool,
}

impl Case {
    /// A 5x $100 long on BTC/USD at 100 000, TP 110 000, SL 95 000, default limits: accepted.
    pub(super) fn good() -> Self {
        Self {
            order: OpenOrder {
                pair: sym("BTC/USD"),
                side: Side::Long,
                collateral: usd("100"),
                leverage: lev(5),
                tp: Some(px("110000")),
                sl: Some(px("95000")),
                slippage: None,
            },
            pair: btc_pair(),
            policy: policy(),
            ops: ops(),
            exposure: Exposure::default(),
            quotes: vec![quote("pyth", "100000", 1_000), quote("chainlink", "100000", 5_000)],
            now: NOW,
            exec: live(),
            automated: true,
        }
    }
    pub(super) fn short() -> Self {
        let mut c = Self::good();
        c.order.side = Side::Short;
        c.order.tp = Some(px("90000"));
        c.order.sl = Some(px("105000"));
        c
    }
    pub(super) fn input(&self) -> RiskInput<'_> {
        RiskInput {
            order: &self.order,
            pair: &self.pair,
            policy: &self.policy,
            ops: &self.ops,
            exposure: &self.exposure,
            quotes: &self.quotes,
            now: self.now,
            exec: &self.exec,
            automated: self.automated,
        }
    }
    pub(super) fn check(&self) -> Result<Approved, Refusal> {
        check_open(&self.input())
    }
    pub(super) fn approved(&self) -> Approved {
        match self.check() {
            Ok(a) => a,
            Err(r) => panic!("expected approval, got {}: {r}", r.code()),
        }
    }
    /// Asserts a refusal with `code` whose text mentions every one of `mentions`.
    pub(super) fn refused(&self, code: &str, mentions: &[&str]) -> Refusal {
        let r = match self.check() {
            Ok(a) => panic!("expected refusal {code}, got approval {a:?}"),
            Err(r) => r,
        };
        assert_eq!(r.code(), code, "refusal was: {r}");
        let text = r.to_string();
        for m in mentions {
            assert!(text.contains(m), "'{text}' does not mention '{m}'");
        }
        r
    }
}
