//! The app in memory, as the handlers' own tests build it: in-memory store and queue, paper
//! venue, fixed fresh prices, a manual clock, and a chat that records every answer.

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use vanta_app::{Deps, signals};
use vanta_domain::DomainResult;
use vanta_domain::ids::{ChatId, SourceId, TelegramUserId};
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{Chat, OutgoingMessage, OutgoingPhoto, SourceStore, UserStore};
use vanta_domain::time::{ManualClock, Timestamp};
use vanta_domain::user::{SecretText, SignalSource, User};
use vanta_runtime::Config;

pub const T0: i64 = 1_795_852_800_000;
pub const ALICE: i64 = 7001;
pub const WEBHOOK_SECRET: &str = "fuzz-webhook-secret";
pub const SOURCE: &str = "strat";
pub const SOURCE_SECRET: &str = "k3y-fuzz";
pub const TV_TOKEN: &str = "tvTOKENfuzz0123456789abcdef";

/// What the bot said, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    Message { chat: i64, html: String },
    Answer { text: Option<String> },
}

#[derive(Default)]
pub struct Recorder(Mutex<Vec<Said>>);

impl Recorder {
    pub fn len(&self) -> usize {
        self.0.lock().map(|g| g.len()).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn since(&self, n: usize) -> Vec<Said> {
        self.0.lock().map(|g| g.get(n..).map(<[Said]>::to_vec).unwrap_or_default()).unwrap_or_default()
    }
    fn push(&self, s: Said) {
        if let Ok(mut g) = self.0.lock() {
            g.push(s);
        }
    }
}

#[async_trait]
impl Chat for Recorder {
    async fn send(&self, msg: &OutgoingMessage) -> DomainResult<()> {
        self.push(Said::Message { chat: msg.chat.0, html: msg.html.clone() });
        Ok(())
    }
    async fn send_photo(&self, photo: &OutgoingPhoto) -> DomainResult<()> {
        self.push(Said::Message { chat: photo.chat.0, html: photo.caption_html.clone() });
        Ok(())
    }
    async fn answer_callback(&self, _: &str, text: Option<&str>, _: bool) -> DomainResult<()> {
        self.push(Said::Answer { text: text.map(str::to_owned) });
        Ok(())
    }
    async fn edit(&self, _: i64, msg: &OutgoingMessage) -> DomainResult<()> {
        self.send(msg).await
    }
}

pub fn pair(index: u16, sym: &str) -> Option<PairInfo> {
    Some(PairInfo {
        index: PairIndex(index),
        symbol: PairSymbol::parse(sym).ok()?,
        group: 0,
        listed: true,
        close_only: false,
        min_leverage: Leverage::ONE,
        max_leverage: Leverage::from_whole(75).ok()?,
        min_position: Usdc::from_str("100").ok()?,
        open_fee: PercentP::from_str("0.045").ok()?,
        close_fee: PercentP::from_str("0.045").ok()?,
        spread: PercentP::from_str("0.01").ok()?,
        max_gain: PercentP::from_str("2500").ok()?,
        max_sl: PercentP::from_str("80").ok()?,
    })
}

pub struct World {
    pub deps: Deps,
    pub chat: Arc<Recorder>,
    pub clock: Arc<ManualClock>,
}

impl World {
    /// A fresh system with one user (Alice) owning the signal source `strat`.
    pub async fn new() -> Result<Self, String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let env = [
            ("TELEGRAM_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("SIGNAL_RATE_PER_MIN", "10000"),
            ("ADMIN_USER_IDS", "9001"),
            ("SUPER_ADMIN_IDS", "9002"),
        ];
        let config = Config::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())).map_err(|e| err(&e))?;
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new(clock.clone()));
        let prices = Arc::new(FixedPrices::new());
        for (sym, p) in [("BTC/USD", "100000"), ("ETH/USD", "3500")] {
            let pair = PairSymbol::parse(sym).map_err(|e| err(&e))?;
            let price = Price::from_str(p).map_err(|e| err(&e))?;
            for src in ["pyth", "chainlink"] {
                prices.set(pair.clone(), src, price, Timestamp(T0)).map_err(|e| err(&e))?;
            }
        }
        let pairs = [pair(0, "ETH/USD"), pair(1, "BTC/USD")].into_iter().flatten();
        let catalog = Arc::new(PairCatalog::new(pairs).map_err(|e| err(&e))?);
        let paper = Arc::new(PaperVenue::new(catalog, prices.clone(), clock.clone()));
        let chat = Arc::new(Recorder::default());
        let deps = Deps::new(config, store.clone(), queue, chat.clone(), clock.clone(), prices, paper);
        store.get_or_create_user(User::new(TelegramUserId(ALICE), ChatId(ALICE), Timestamp(T0))).await.map_err(|e| err(&e))?;
        let source = SignalSource {
            id: SourceId::parse(SOURCE).map_err(|e| err(&e))?,
            owner: TelegramUserId(ALICE),
            secret: SecretText::new(SOURCE_SECRET).into(),
            tv_token_hash: signals::token_hash(TV_TOKEN),
            active: true,
            created_at: Timestamp(T0),
            rotated_at: None,
        };
        store.create_source(&source).await.map_err(|e| err(&e))?;
        Ok(Self { deps, chat, clock })
    }
}

/// A current-thread Tokio runtime for one target.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())
}

/// FNV-1a of an input: choices a target makes from the input alone (so a replay makes them too).
pub fn fnv(input: &[u8]) -> u64 {
    input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
