//! Embedded defaults for the local runner (DRY only): a small pair catalog with Avantis' real
//! indices and parameters for the three majors, a moving price feed from two sources, and a
//! demo trader with a demo signal source.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::sync::watch;
use vanta_app::{Deps, signals};
use vanta_domain::ids::{ChatId, SourceId, TelegramUserId};
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol};
use vanta_domain::memory::FixedPrices;
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::time::Clock;
use vanta_domain::user::{SecretText, SignalSource, User};
use vanta_domain::{DomainError, DomainResult};

/// The demo trader's Telegram id (a private chat with the bot has the same id).
pub const DEMO_USER: TelegramUserId = TelegramUserId(1_000_001);
/// The demo source's TradingView path token (printed at start; local only).
pub const DEMO_TV_TOKEN: &str = "demo-tradingview-token";

fn pct(s: &str) -> DomainResult<PercentP> {
    s.parse().map_err(DomainError::from)
}

fn pair(index: u16, symbol: &str, group: u16, max_lev: u64, min_pos: u64) -> DomainResult<PairInfo> {
    Ok(PairInfo {
        index: PairIndex(index),
        symbol: PairSymbol::parse(symbol)?,
        group,
        listed: true,
        close_only: false,
        min_leverage: Leverage::ONE,
        max_leverage: Leverage::from_whole(max_lev)?,
        min_position: Usdc::from_whole(min_pos)?,
        open_fee: pct("0.045")?,
        close_fee: pct("0.045")?,
        spread: pct("0.01")?,
        max_gain: pct("2500")?,
        max_sl: pct("80")?,
    })
}

/// ETH/USD = 0, BTC/USD = 1, SOL/USD = 2 as on Avantis (Base mainnet), 1–75x, $100 minimum.
pub fn catalog() -> DomainResult<PairCatalog> {
    PairCatalog::new([pair(0, "ETH/USD", 0, 75, 100)?, pair(1, "BTC/USD", 0, 75, 100)?, pair(2, "SOL/USD", 1, 75, 100)?])
}

/// Starting prices of the demo feed (USD).
const START: [(&str, &str); 3] = [("ETH/USD", "3500"), ("BTC/USD", "95000"), ("SOL/USD", "180")];

/// Publishes a price for every pair from two sources ("pyth" and "chainlink", 2 bps apart) every
/// second, drifting by up to ±0.05 % a tick.
pub async fn run_price_feed(prices: Arc<FixedPrices>, clock: Arc<dyn Clock>, mut stop: watch::Receiver<bool>) {
    let mut current: Vec<(PairSymbol, u64)> =
        START.iter().filter_map(|(s, p)| Some((PairSymbol::parse(s).ok()?, p.parse::<Price>().ok()?.raw()))).collect();
    let mut tick: u64 = 0;
    loop {
        let now = clock.now();
        for (i, (sym, raw)) in current.iter_mut().enumerate() {
            // A deterministic wobble: no floats, no randomness needed.
            let step = ((tick.wrapping_mul(2_654_435_761).wrapping_add(i as u64 * 97)) % 11) as i64 - 5; // -5..=5
            let delta = (*raw as i128 * i128::from(step) / 10_000) as i64; // ±0.05 %
            *raw = raw.saturating_add_signed(delta).max(1);
            let _ = prices.set(sym.clone(), "pyth", Price::from_raw(*raw), now);
            let _ = prices.set(sym.clone(), "chainlink", Price::from_raw(*raw + *raw / 5_000), now);
        }
        tick += 1;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Seeds prices once (so the first request finds them) and the demo trader and source.
pub async fn seed(deps: &Deps, prices: &FixedPrices) -> DomainResult<()> {
    let now = deps.clock.now();
    for (s, p) in START {
        let sym = PairSymbol::parse(s)?;
        let price: Price = p.parse()?;
        prices.set(sym.clone(), "pyth", price, now)?;
        prices.set(sym, "chainlink", price, now)?;
    }
    let user = User { username: Some("demo".into()), ..User::new(DEMO_USER, ChatId(DEMO_USER.0), now) };
    deps.store.get_or_create_user(user).await?;
    let id = SourceId::parse(&deps.config.demo_source_id)?;
    // Sealed like every source (under the dev-only local key in `make run`).
    let sealed = deps.source_secrets.seal(&id, &SecretText::new(deps.config.demo_source_secret.expose_secret())).await?;
    let source = SignalSource {
        id,
        owner: DEMO_USER,
        secret: sealed.into(),
        tv_token_hash: signals::token_hash(DEMO_TV_TOKEN),
        active: true,
        created_at: now,
        rotated_at: None,
    };
    match deps.store.create_source(&source).await {
        Ok(()) | Err(DomainError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
