#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! What the app's tests share: a whole system in memory ([`Sys`]), pair and config builders, signed
//! requests. The `tests_*` modules that need a world of their own still take their pairs and
//! config from here.

pub(crate) use std::str::FromStr;
pub(crate) use std::sync::Arc;
pub(crate) use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

pub(crate) use crate::http::testing::{self, TestRequest};
pub(crate) use alloy_primitives::{B256, Signature};
pub(crate) use async_trait::async_trait;
pub(crate) use vanta_domain::exec::{ExecControl, ExecMode, StopLevel};
pub(crate) use vanta_domain::ids::{ChatId, IntentId, SourceId, TelegramUserId, TraderAddress};
pub(crate) use vanta_domain::intent::{Action, IntentState, OpenOrder, Origin};
pub(crate) use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol, Side};
pub(crate) use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
pub(crate) use vanta_domain::money::{Bps, Leverage, PercentP, Price, Usdc};
pub(crate) use vanta_domain::ports::*;
pub(crate) use vanta_domain::position::PositionStatus;
pub(crate) use vanta_domain::time::{Clock, ManualClock, Timestamp};
pub(crate) use vanta_domain::user::{CopySizing, Follow, LeaderRef, SecretText, SignalSource, User};
pub(crate) use vanta_domain::{DomainError, DomainResult};
pub(crate) use vanta_runtime::Config;

pub(crate) use crate::gate::GatedSigner;
pub(crate) use crate::pipeline;
pub(crate) use crate::{Deps, copy, schedule, signals, telegram, worker};

pub(crate) const T0: i64 = 1_795_852_800_000;

// ----- a whole system in memory -------------------------------------------------------------

pub(crate) struct Sys {
    pub(crate) deps: Deps,
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) queue: Arc<MemoryQueue>,
    pub(crate) chat: Arc<RecordingChat>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) prices: Arc<FixedPrices>,
    pub(crate) paper: Arc<PaperVenue>,
}

/// A listed pair with the fees and limits of the venue's crypto group; `min` is the minimum position.
pub(crate) fn pair_min(index: u16, sym: &str, min: &str) -> PairInfo {
    PairInfo {
        index: PairIndex(index),
        symbol: PairSymbol::parse(sym).unwrap(),
        group: 0,
        listed: true,
        close_only: false,
        min_leverage: Leverage::ONE,
        max_leverage: Leverage::from_whole(75).unwrap(),
        min_position: Usdc::from_str(min).unwrap(),
        open_fee: PercentP::from_str("0.045").unwrap(),
        close_fee: PercentP::from_str("0.045").unwrap(),
        spread: PercentP::from_str("0.01").unwrap(),
        max_gain: PercentP::from_str("2500").unwrap(),
        max_sl: PercentP::from_str("80").unwrap(),
    }
}

/// A pair with a minimum position of $100.
pub(crate) fn pair(index: u16, sym: &str) -> PairInfo {
    pair_min(index, sym, "100")
}

/// The config `env` gives (the rest from defaults).
pub(crate) fn config(env: &[(&str, &str)]) -> Config {
    let m: std::collections::HashMap<String, String> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    Config::from_lookup(|k| m.get(k).cloned()).unwrap()
}

pub(crate) fn sys_with(env: &[(&str, &str)]) -> Sys {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    let catalog = PairCatalog::new([pair_min(0, "ETH/USD", "100"), pair_min(1, "BTC/USD", "100"), pair_min(2, "SOL/USD", "100")]).unwrap();
    let paper = Arc::new(PaperVenue::new(Arc::new(catalog), prices.clone(), clock.clone()));
    let deps = Deps::new(config(env), store.clone(), queue.clone(), chat.clone(), clock.clone(), prices.clone(), paper.clone());
    let s = Sys { deps, store, queue, chat, clock, prices, paper };
    s.set_price("BTC/USD", "100000");
    s.set_price("ETH/USD", "3500");
    s
}

pub(crate) fn sys() -> Sys {
    sys_with(&[])
}

impl Sys {
    pub(crate) fn set_price(&self, sym: &str, p: &str) {
        let now = self.clock.now();
        let price = Price::from_str(p).unwrap();
        self.prices.set(PairSymbol::parse(sym).unwrap(), "pyth", price, now).unwrap();
        self.prices.set(PairSymbol::parse(sym).unwrap(), "chainlink", price, now).unwrap();
    }
    pub(crate) async fn user(&self, id: i64) -> User {
        self.store.get_or_create_user(User::new(TelegramUserId(id), ChatId(id), self.clock.now())).await.unwrap()
    }
    /// Proves a wallet for the user and opts them in as a leader (copying and LIVE need both).
    pub(crate) async fn lead(&self, id: i64) -> User {
        crate::tests_wallet::verified_leader(&self.store, TelegramUserId(id), self.clock.now()).await
    }
    pub(crate) async fn source(&self, owner: i64, id: &str, secret: &str, tv: &str) {
        self.user(owner).await;
        let s = SignalSource {
            id: SourceId::parse(id).unwrap(),
            owner: TelegramUserId(owner),
            secret: SecretText::new(secret).into(),
            tv_token_hash: signals::token_hash(tv),
            active: true,
            created_at: self.clock.now(),
            rotated_at: None,
        };
        self.store.create_source(&s).await.unwrap();
    }
    /// Runs the worker until the queue is empty (each message once per pass, like SQS would).
    pub(crate) async fn drain(&self) -> usize {
        let mut handled = 0;
        for _ in 0..20 {
            let batch = self.queue.take(10).unwrap();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                handled += 1;
                let _ = worker::handle_message(&self.deps, &m.body).await;
            }
        }
        handled
    }
    pub(crate) async fn positions(&self, user: i64) -> Vec<vanta_domain::position::Position> {
        self.store.user_positions(TelegramUserId(user), false).await.unwrap()
    }
    pub(crate) fn messages_to(&self, chat: i64) -> Vec<String> {
        self.chat.sent().into_iter().filter(|m| m.chat == ChatId(chat)).map(|m| m.html).collect()
    }
    pub(crate) async fn set_exec(&self, mode: ExecMode, stop: StopLevel) {
        let current = self.store.get_exec_control().await.unwrap().map_or(0, |c| c.version);
        let c = ExecControl { mode, stop, updated_by: None, updated_at: self.clock.now(), version: current + 1 };
        self.store.put_exec_control(&c).await.unwrap();
    }
}

pub(crate) fn signed(body: &str, secret: &str, ts: i64) -> TestRequest {
    let ts = ts.to_string();
    TestRequest::new("POST", "/signals")
        .with_header("X-Vanta-Timestamp", &ts)
        .with_header("X-Vanta-Signature", &signals::sign(secret, &ts, body.as_bytes()))
        .with_body(body.to_owned())
}

pub(crate) const OPEN_BTC: &str = r#"{"source":"strat","id":"a-1","action":"open","pair":"BTC/USD","side":"long","collateral_usdc":"100","leverage":"5","slippage_pct":"0.5"}"#;

pub(crate) async fn post(s: &Sys, req: TestRequest) -> (u16, serde_json::Value) {
    let r = testing::call(&s.deps, req).await;
    (r.status, r.body_json())
}

/// Posts a signed signal of source `strat` (secret `k3y`); the status.
pub(crate) async fn signal(s: &Sys, body: serde_json::Value) -> u16 {
    post(s, signed(&body.to_string(), "k3y", s.clock.now().secs())).await.0
}
