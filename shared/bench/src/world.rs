//! A whole system in memory, as the benchmarks need it: the in-memory store (behind a
//! [`CountingStore`]), the in-memory queue, a chat that drops messages, a manual clock and fixed,
//! fresh prices on three pairs.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use vanta_app::Deps;
use vanta_domain::DomainResult;
use vanta_domain::ids::{ChatId, TelegramUserId, TraderAddress};
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{Chat, OutgoingMessage, UserStore};
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::User;
use vanta_domain::wallet::{SiweSite, WalletChallenge};
use vanta_runtime::Config;

use crate::counting::{CountingQueue, CountingStore};

/// 2026-11-26 00:00 UTC: a fixed clock, so prices stay fresh however long a section runs.
pub const T0: i64 = 1_795_852_800_000;

/// The pairs and their prices.
pub const PAIRS: [(u16, &str, &str); 3] = [(0, "ETH/USD", "3500"), (1, "BTC/USD", "100000"), (2, "SOL/USD", "200")];

/// Drops every message (counted), so chat costs nothing here.
#[derive(Default)]
pub struct NullChat(std::sync::atomic::AtomicU64);

impl NullChat {
    pub fn sent(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[async_trait]
impl Chat for NullChat {
    async fn send(&self, _: &OutgoingMessage) -> DomainResult<()> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

pub struct World {
    pub deps: Deps,
    pub store: Arc<CountingStore<MemoryStore>>,
    pub queue: Arc<MemoryQueue>,
    /// The queue as handlers see it (counts every send).
    pub sends: Arc<CountingQueue>,
    pub clock: Arc<ManualClock>,
    pub prices: Arc<FixedPrices>,
    pub paper: Arc<PaperVenue>,
    pub chat: Arc<NullChat>,
    pub catalog: Arc<PairCatalog>,
}

fn pair(index: u16, sym: &str) -> Result<PairInfo, String> {
    let p = |s: &str| PercentP::from_str(s).map_err(|e| e.to_string());
    Ok(PairInfo {
        index: PairIndex(index),
        symbol: PairSymbol::parse(sym).map_err(|e| e.to_string())?,
        group: 0,
        listed: true,
        close_only: false,
        min_leverage: Leverage::ONE,
        max_leverage: Leverage::from_whole(75).map_err(|e| e.to_string())?,
        min_position: Usdc::from_str("100").map_err(|e| e.to_string())?,
        open_fee: p("0.045")?,
        close_fee: p("0.045")?,
        spread: p("0.01")?,
        max_gain: p("2500")?,
        max_sl: p("80")?,
    })
}

/// The config from `env` (names as in `.env.example`).
pub fn config(env: &[(&str, &str)]) -> Result<Config, String> {
    let m: std::collections::HashMap<String, String> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Config::from_lookup(|k| m.get(k).cloned()).map_err(|e| e.to_string())
}

impl World {
    pub fn new(env: &[(&str, &str)]) -> Result<Self, String> {
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let store = Arc::new(CountingStore::new(MemoryStore::new()));
        let queue = Arc::new(MemoryQueue::new(clock.clone()));
        let chat = Arc::new(NullChat::default());
        let prices = Arc::new(FixedPrices::new());
        let catalog = Arc::new(
            PairCatalog::new(PAIRS.iter().map(|(i, s, _)| pair(*i, s)).collect::<Result<Vec<_>, _>>()?).map_err(|e| e.to_string())?,
        );
        let paper = Arc::new(PaperVenue::new(catalog.clone(), prices.clone(), clock.clone()));
        let sends = Arc::new(CountingQueue::new(queue.clone()));
        let deps = Deps::new(config(env)?, store.clone(), sends.clone(), chat.clone(), clock.clone(), prices.clone(), paper.clone());
        let w = Self { deps, store, queue, sends, clock, prices, paper, chat, catalog };
        for (_, sym, price) in PAIRS {
            w.set_price(sym, price)?;
        }
        Ok(w)
    }

    /// Two agreeing sources at `price`, published now.
    pub fn set_price(&self, sym: &str, price: &str) -> Result<(), String> {
        self.set_price_at(sym, Price::from_str(price).map_err(|e| e.to_string())?)
    }

    /// Two agreeing sources at `price`, published now.
    pub fn set_price_at(&self, sym: &str, price: Price) -> Result<(), String> {
        let now = self.clock.now();
        let pair = PairSymbol::parse(sym).map_err(|e| e.to_string())?;
        self.prices.set(pair.clone(), "pyth", price, now).map_err(|e| e.to_string())?;
        self.prices.set(pair, "chainlink", price, now).map_err(|e| e.to_string())
    }

    pub async fn user(&self, id: i64) -> Result<User, String> {
        self.store.get_or_create_user(User::new(TelegramUserId(id), ChatId(id), self.clock.now())).await.map_err(|e| e.to_string())
    }

    /// A user whose wallet is proved (store level: the challenge is completed as `/verify`
    /// would after checking the signature), optionally opted in as a leader.
    pub async fn verified_user(&self, id: i64, leader: bool) -> Result<User, String> {
        self.user(id).await?;
        let mut raw = [0u8; 20];
        raw[..8].copy_from_slice(&id.to_be_bytes());
        raw[19] = 0x5a;
        let address = TraderAddress::new(alloy_primitives::Address::from(raw)).map_err(|e| e.to_string())?;
        let site = SiweSite::from_base_url(None);
        let now = self.clock.now();
        let c = WalletChallenge::new(&vanta_app::wallet::new_nonce(), TelegramUserId(id), address, &site, 8453, now)
            .map_err(|e| e.to_string())?;
        self.store.put_challenge(&c).await.map_err(|e| e.to_string())?;
        let mut u = self.store.verify_binding(&c.nonce, TelegramUserId(id), now).await.map_err(|e| e.to_string())?;
        if leader {
            u.leader_opt_in = true;
            self.store.update_user(&u).await.map_err(|e| e.to_string())?;
        }
        self.store.get_user(TelegramUserId(id)).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("user {id} missing"))
    }
}
