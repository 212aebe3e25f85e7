//! Users, their signal sources and whom they follow.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{ChatId, SourceId, TelegramUserId, TraderAddress};
use crate::money::{Bps, Leverage, Usdc};
use crate::risk::RiskPolicy;
use crate::time::Timestamp;

/// A Vanta user, known by their Telegram user id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: TelegramUserId,
    /// Where to send notifications (their private chat with the bot).
    pub chat: ChatId,
    pub username: Option<String>,
    /// The Avantis trading account this user trades for, once bound.
    pub trader: Option<TraderAddress>,
    /// When the owner of `trader` proved it with a signature (None: bound before proofs existed,
    /// or not proved). Only a verified binding trades LIVE, shows balances or can be followed.
    #[serde(default)]
    pub trader_verified_at: Option<Timestamp>,
    /// The user opted in to be followed (`/leader on`); nobody copies a user who has not.
    #[serde(default)]
    pub leader_opt_in: bool,
    /// Which delegate key (KMS key id or alias) signs for this user.
    pub delegate_key: Option<String>,
    /// False once the user blocked the bot; notifications stop.
    pub active: bool,
    /// The user's own automation switch (`/pause`, `/resume`, daily-loss pause).
    pub automation_paused: bool,
    pub risk: RiskPolicy,
    pub created_at: Timestamp,
}

impl User {
    pub fn new(id: TelegramUserId, chat: ChatId, at: Timestamp) -> Self {
        Self {
            id,
            chat,
            username: None,
            trader: None,
            trader_verified_at: None,
            leader_opt_in: false,
            delegate_key: None,
            active: true,
            automation_paused: false,
            risk: RiskPolicy::default(),
            created_at: at,
        }
    }
}

impl User {
    /// Whether the bound wallet was proved by its owner's signature.
    pub fn wallet_verified(&self) -> bool {
        self.trader.is_some() && self.trader_verified_at.is_some()
    }
}

/// Secret text (an HMAC key, a token): never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(String);

impl SecretText {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the one place that needs it (HMAC, storage).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText([redacted])")
    }
}

/// A signal source: one strategy or TradingView alert set, owned by one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalSource {
    /// Globally unique, chosen by its owner.
    pub id: SourceId,
    pub owner: TelegramUserId,
    /// HMAC-SHA256 key for `POST /signals`: sealed ([`crate::sealed`]), or plain on sources
    /// created before envelope encryption.
    pub secret: crate::sealed::SourceSecret,
    /// The path token of `POST /signals/tv/{token}`; stored only as its SHA-256 hex.
    pub tv_token_hash: String,
    pub active: bool,
    pub created_at: Timestamp,
    pub rotated_at: Option<Timestamp>,
}

/// Whom a follower copies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum LeaderRef {
    /// Another Vanta user.
    User(TelegramUserId),
    /// Any Avantis trader, observed on chain by the indexer.
    Address(TraderAddress),
}

impl LeaderRef {
    /// Stable text form used in storage keys.
    pub fn key(&self) -> String {
        match self {
            LeaderRef::User(u) => format!("user:{u}"),
            LeaderRef::Address(a) => format!("addr:{}", a.key()),
        }
    }
}

/// How a copy is sized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum CopySizing {
    /// The same collateral every time.
    Fixed { collateral: Usdc },
    /// The leader's collateral × ratio.
    Ratio { ratio: Bps },
    /// The same share of equity as the leader put in.
    Proportional,
}

/// One follow relation and its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Follow {
    pub follower: TelegramUserId,
    pub leader: LeaderRef,
    pub sizing: CopySizing,
    pub max_leverage: Leverage,
    pub per_trade_cap: Usdc,
    pub daily_cap: Usdc,
    /// Open the opposite side of what the leader opens.
    pub counter: bool,
    /// Also adopt positions the leader had open before the follow began.
    pub adopt_existing: bool,
    /// Breaker: stop copying after this many losing copies in a row (0 = never).
    #[serde(default)]
    pub stop_after_losses: u32,
    /// Breaker: stop copying once copied trades have lost this much in total (0 = never).
    #[serde(default)]
    pub max_drawdown: Usdc,
    pub active: bool,
    pub since: Timestamp,
}

/// Signal sources belong to users; this is how a source is looked up and listed.
pub type SourceRef = (TelegramUserId, SourceId);
