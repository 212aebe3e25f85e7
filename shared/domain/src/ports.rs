//! The ports: small async traits the handlers depend on. Every port has an in-memory adapter
//! ([`crate::memory`]) used by unit tests and the local runner; the Lambda adapters live in their
//! own crates (DynamoDB, SQS, KMS, Avantis, Telegram).

use std::sync::Arc;

use alloy_primitives::{B256, Signature};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::exec::{ExecControl, ExecMode, FlattenRun};
use crate::ids::{ChatId, IntentId, PositionId, SourceId, TelegramUserId, TraderAddress};
use crate::intent::{AuditEntry, CreateOutcome, Intent, Transition};
use crate::market::{PairCatalog, PairIndex, PairSymbol, Side};
use crate::money::{Bps, Leverage, Price, SlippageP, Usdc};
use crate::position::{Position, PositionStatus};
use crate::time::Timestamp;
use crate::triggers::{KeyRange, TrailBook, TriggerPartition};
use crate::user::{Follow, LeaderRef, SignalSource, User};
use crate::wallet::{AddressClaim, WalletChallenge};

// ---------------------------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------------------------

/// Users and the binding of trader addresses (one address belongs to at most one user).
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user if absent; returns the stored user either way.
    async fn get_or_create_user(&self, user: User) -> DomainResult<User>;
    async fn get_user(&self, id: TelegramUserId) -> DomainResult<Option<User>>;
    /// Saves changes to an existing user (settings, pause, active flag). Never changes `trader`
    /// or `trader_verified_at`.
    async fn update_user(&self, user: &User) -> DomainResult<()>;
    /// Binds `address` to `user` atomically, *unverified*: the address claim and the user's
    /// record change together, or neither does. Refused with `Conflict` if another user holds the
    /// address. Releases the user's previous address, if any (a new address is unverified; the
    /// same address again changes nothing).
    async fn bind_address(&self, user: TelegramUserId, address: TraderAddress) -> DomainResult<User>;
    async fn user_by_address(&self, address: TraderAddress) -> DomainResult<Option<User>>;
    /// Every user with a bound wallet (verified or not), by id: whom the delegation scan asks
    /// about.
    async fn wallet_users(&self) -> DomainResult<Vec<User>>;
    /// Who holds the claim on `address`, and whether they proved it (consistent read).
    async fn address_claim(&self, address: TraderAddress) -> DomainResult<Option<AddressClaim>>;
    /// Stores a new challenge; `Conflict` if its nonce exists.
    async fn put_challenge(&self, c: &WalletChallenge) -> DomainResult<()>;
    async fn get_challenge(&self, nonce: &str) -> DomainResult<Option<WalletChallenge>>;
    /// A user's challenges, newest first.
    async fn user_challenges(&self, user: TelegramUserId, limit: usize) -> DomainResult<Vec<WalletChallenge>>;
    /// Completes the challenge `nonce` of `user`, atomically: the challenge is marked used (once:
    /// `Conflict` if it is used or expired at `now`), the address claim becomes the user's and
    /// verified (`Conflict` if another user's *verified* claim holds it; an unverified claim of
    /// another user is taken over and that user's binding dropped: the owner who proves it wins),
    /// the user's record binds the address as verified at `now`, and the previous address is
    /// released. All of it, or nothing. `NotFound` for an unknown nonce or user; `Forbidden` for
    /// another user's challenge.
    async fn verify_binding(&self, nonce: &str, user: TelegramUserId, now: Timestamp) -> DomainResult<User>;
}

/// The operators' exec-mode item, and the scheduled jobs' heartbeats.
#[async_trait]
pub trait ControlStore: Send + Sync {
    async fn get_exec_control(&self) -> DomainResult<Option<ExecControl>>;
    /// Writes `next` if the stored version is `next.version - 1` (or absent for version 1).
    async fn put_exec_control(&self, next: &ExecControl) -> DomainResult<()>;
    /// Records that `job` ran at `at` (overwrites the previous record).
    async fn put_heartbeat(&self, job: &str, at: Timestamp) -> DomainResult<()> {
        let _ = (job, at);
        Ok(())
    }
    /// The last run of every job that recorded one, by job name.
    async fn heartbeats(&self) -> DomainResult<Vec<(String, Timestamp)>> {
        Ok(Vec::new())
    }
    /// The current (or last) FLATTEN stop's run record.
    async fn get_flatten_run(&self) -> DomainResult<Option<FlattenRun>> {
        Ok(None)
    }
    /// Replaces the FLATTEN run record (last write wins; the sweep merges before writing).
    async fn put_flatten_run(&self, run: &FlattenRun) -> DomainResult<()> {
        let _ = run;
        Err(DomainError::Unavailable("this store keeps no flatten record".into()))
    }
    // --- the reconciler's per-wallet records ([`crate::recon::ReconWallet`]) ---
    /// Every wallet the reconciler watches.
    async fn recon_wallets(&self) -> DomainResult<Vec<crate::recon::ReconWallet>> {
        Ok(Vec::new())
    }
    async fn get_recon_wallet(&self, wallet: TraderAddress) -> DomainResult<Option<crate::recon::ReconWallet>> {
        let _ = wallet;
        Ok(None)
    }
    /// Writes `w` if the stored record's version is `w.version` (no record for version 0); the
    /// stored version becomes `w.version + 1`. `Conflict` otherwise (another run wrote first).
    async fn put_recon_wallet(&self, w: &crate::recon::ReconWallet) -> DomainResult<()> {
        let _ = w;
        Err(DomainError::Unavailable("this store keeps no reconciler record".into()))
    }
    /// The stored tightening of the operator limits (`CONTROL`/`LIMITS`), if any.
    async fn get_stored_limits(&self) -> DomainResult<Option<crate::limits::StoredLimits>> {
        Ok(None)
    }
    /// Replaces the stored limits (the ops CLI; last write wins).
    async fn put_stored_limits(&self, limits: &crate::limits::StoredLimits) -> DomainResult<()> {
        let _ = limits;
        Err(DomainError::Unavailable("this store keeps no stored limits".into()))
    }
}

/// How deep the signal queue and its dead-letter queue are (approximate, as SQS reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueDepths {
    pub queued: u64,
    pub in_flight: u64,
    pub dead_letters: u64,
}

#[async_trait]
pub trait QueueStats: Send + Sync {
    async fn depths(&self) -> DomainResult<QueueDepths>;
}

/// Intents, their idempotency records and audit trail.
#[async_trait]
pub trait IntentStore: Send + Sync {
    /// Writes the idempotency record and the intent together, unless the key exists.
    async fn create_intent(&self, intent: &Intent) -> DomainResult<CreateOutcome>;
    async fn get_intent(&self, id: &IntentId) -> DomainResult<Option<Intent>>;
    /// Moves an intent from `t.from` to `t.to` and appends the audit entry, atomically; refused
    /// with `Conflict` if the intent is not in `t.from`.
    async fn transition(&self, id: &IntentId, t: &Transition) -> DomainResult<Intent>;
    /// Settles an intent and records the position it opened, atomically: if either condition
    /// fails (intent not in `t.from`, position id taken) neither item changes.
    async fn settle_with_position(&self, id: &IntentId, t: &Transition, position: &Position) -> DomainResult<Intent>;
    /// A user's intents, newest first.
    async fn user_intents(&self, user: TelegramUserId, limit: usize) -> DomainResult<Vec<Intent>>;
    async fn audit_trail(&self, id: &IntentId) -> DomainResult<Vec<AuditEntry>>;
    /// Every intent whose order outcome is not known yet (SUBMITTED or AMBIGUOUS), oldest
    /// first: what the scan of unresolved intents watches. A resolved intent leaves the list.
    async fn open_intents(&self) -> DomainResult<Vec<Intent>>;
}

/// Positions as Vanta recorded them (the venue is reconciled into them by the indexer).
#[async_trait]
pub trait PositionStore: Send + Sync {
    /// Refused with `Conflict` if the id exists.
    async fn insert_position(&self, p: &Position) -> DomainResult<()>;
    async fn get_position(&self, user: TelegramUserId, id: &PositionId) -> DomainResult<Option<Position>>;
    /// Replaces a position if its stored status is `expected` (and the transition is allowed)
    /// and its stored version is `p.version` (the version it was read at); the stored version
    /// becomes `p.version + 1`. Anything else is `Conflict`: the caller re-reads, so a write
    /// from a stale read never undoes another writer's change.
    async fn update_position(&self, p: &Position, expected: PositionStatus) -> DomainResult<()>;
    async fn user_positions(&self, user: TelegramUserId, live_only: bool) -> DomainResult<Vec<Position>>;
    /// Every live (open or closing) position, for TP/SL and reconciliation.
    async fn live_positions(&self) -> DomainResult<Vec<Position>>;
}

/// Signal sources.
#[async_trait]
pub trait SourceStore: Send + Sync {
    /// Refused with `Conflict` if the id is taken (by anyone).
    async fn create_source(&self, s: &SignalSource) -> DomainResult<()>;
    async fn get_source(&self, id: &SourceId) -> DomainResult<Option<SignalSource>>;
    async fn source_by_tv_token_hash(&self, hash: &str) -> DomainResult<Option<SignalSource>>;
    async fn user_sources(&self, owner: TelegramUserId) -> DomainResult<Vec<SignalSource>>;
    /// Replaces secret and token of a source the owner holds; `Forbidden` for anyone else.
    async fn rotate_source(&self, owner: TelegramUserId, s: &SignalSource) -> DomainResult<()>;
}

/// Copy-trading relations.
#[async_trait]
pub trait FollowStore: Send + Sync {
    async fn put_follow(&self, f: &Follow) -> DomainResult<()>;
    async fn remove_follow(&self, follower: TelegramUserId, leader: &LeaderRef) -> DomainResult<bool>;
    async fn following(&self, follower: TelegramUserId) -> DomainResult<Vec<Follow>>;
    async fn followers(&self, leader: &LeaderRef) -> DomainResult<Vec<Follow>>;
}

/// Seen-once markers with an expiry (Telegram update ids, confirmations, rate windows).
#[async_trait]
pub trait MarkerStore: Send + Sync {
    /// True the first time `key` is marked before `expires_at`; false while a live mark exists.
    async fn mark_once(&self, key: &str, now: Timestamp, expires_at: Timestamp) -> DomainResult<bool>;
    /// Counts one hit on `key` (a fixed window that ends at `expires_at`); true while the count,
    /// this hit included, is at most `limit`. Refused hits are not counted.
    async fn hit_window(&self, key: &str, now: Timestamp, expires_at: Timestamp, limit: u32) -> DomainResult<bool>;
}

/// Where the one-off backfill of the trigger index stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexState {
    /// The index layout the live positions are indexed in ([`crate::triggers::INDEX_VERSION`]
    /// once the backfill is done; 0 before).
    pub version: u32,
    /// Where the backfill goes on (a [`TriggerStore::live_positions_page`] cursor).
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The trigger index ([`crate::triggers`]): every position write keeps a position's entries
/// consistent with it (in the same transaction), so the TP/SL tick reads only crossed levels.
/// Index reads may lag a write by a moment: callers read the position before acting on it.
#[async_trait]
pub trait TriggerStore: Send + Sync {
    /// The open positions indexed under `part` with a key in `range`.
    async fn crossed(&self, part: &TriggerPartition, range: KeyRange) -> DomainResult<Vec<(TelegramUserId, PositionId)>>;
    /// Whether any position is indexed under `part`.
    async fn any_indexed(&self, part: &TriggerPartition) -> DomainResult<bool>;
    /// Every position that is CLOSING.
    async fn closing_positions(&self) -> DomainResult<Vec<Position>>;
    /// Every pair a live position was recorded on (the tick fetches one price for each).
    async fn trigger_pairs(&self) -> DomainResult<Vec<PairSymbol>>;
    async fn get_trail_book(&self, pair: &PairSymbol, side: Side) -> DomainResult<Option<TrailBook>>;
    /// Writes `book` if the stored one is at `book.version` (absent counts as 0); the stored
    /// version becomes `book.version + 1`. Anything else is `Conflict`.
    async fn put_trail_book(&self, pair: &PairSymbol, side: Side, book: &TrailBook) -> DomainResult<()>;
    async fn index_state(&self) -> DomainResult<IndexState>;
    async fn put_index_state(&self, state: &IndexState) -> DomainResult<()>;
    /// Up to `limit` live positions after the cursor `after`, and the cursor of the next page
    /// (None after the last page). For the backfill.
    async fn live_positions_page(&self, after: Option<&str>, limit: usize) -> DomainResult<(Vec<Position>, Option<String>)>;
    /// Writes the index entries of `p` (and records its pair) if the stored position is still
    /// at `p.version`; `Conflict` if it changed (its new write indexed it).
    async fn reindex_position(&self, p: &Position) -> DomainResult<()>;
}

/// The whole store, as handlers take it.
pub trait Store: UserStore + ControlStore + IntentStore + PositionStore + SourceStore + FollowStore + MarkerStore + TriggerStore {}
impl<T: UserStore + ControlStore + IntentStore + PositionStore + SourceStore + FollowStore + MarkerStore + TriggerStore> Store for T {}

// ---------------------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------------------

/// A message for `signals.fifo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMessage {
    /// FIFO group: the trader account, so one account's intents run in order.
    pub group: String,
    /// Deduplication id: the intent id (SQS drops a repeat within 5 minutes).
    pub dedup_id: String,
    pub body: String,
}

#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, msg: QueueMessage) -> DomainResult<()>;
}

// ---------------------------------------------------------------------------------------------
// Signer
// ---------------------------------------------------------------------------------------------

/// What a signature is for: whether what is signed may open or add exposure, or only reduces
/// or protects it. The exec-mode gate refuses entries under any emergency stop and signs exits
/// under every stop level (in LIVE only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Opens or increases a position (or anything not known to be an exit).
    Entry,
    /// Closes or reduces a position, updates or cancels its triggers.
    Exit,
}

/// Signs 32-byte digests (EIP-712 intents, transactions) with a delegate key.
#[async_trait]
pub trait Signer: Send + Sync {
    fn address(&self) -> TraderAddress;
    /// A 65-byte secp256k1 signature with low `s` and the recovery id, over exactly `digest`.
    /// A gate in front of the key treats a digest signed this way as an [`Purpose::Entry`].
    async fn sign_digest(&self, digest: B256) -> DomainResult<Signature>;
    /// Signs `digest`, stating what it is for (the gate decides by it). Keys themselves ignore it.
    async fn sign_digest_for(&self, digest: B256, purpose: Purpose) -> DomainResult<Signature> {
        let _ = purpose;
        self.sign_digest(digest).await
    }
}

// ---------------------------------------------------------------------------------------------
// Venue
// ---------------------------------------------------------------------------------------------

/// An order as the venue takes it: pair resolved, units in venue terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VenueOrder {
    Open {
        trader: TraderAddress,
        pair: PairIndex,
        side: Side,
        collateral: Usdc,
        leverage: Leverage,
        /// The price the order was priced at (oracle); slippage is measured from it.
        reference_price: Price,
        slippage: SlippageP,
        tp: Option<Price>,
        sl: Option<Price>,
    },
    Close {
        trader: TraderAddress,
        pair: PairIndex,
        trade_index: u32,
        /// Collateral to close (all of it for a full close).
        collateral: Usdc,
        /// What Vanta recorded of the position; a venue with its own book may ignore it (the
        /// paper venue uses it when another instance opened the position).
        #[serde(default)]
        known: Option<KnownPosition>,
    },
    UpdateTpSl {
        trader: TraderAddress,
        pair: PairIndex,
        trade_index: u32,
        /// The new take-profit; `None` leaves the venue's current one as it is.
        tp: Option<Price>,
        /// The new stop-loss; `None` leaves the venue's current one as it is (a venue never
        /// removes a live stop because a leg was not given).
        sl: Option<Price>,
        /// The position's identity as Vanta recorded it: a venue with a book updates the
        /// trade at (pair, index) only if it is this one.
        #[serde(default)]
        known: Option<KnownPosition>,
    },
}

/// A position's identity as Vanta recorded it. A close carries it, and a venue with a book
/// checks that the trade it would close at (pair, trade index) is this one
/// ([`KnownPosition::check`]); a mismatch is refused (`NotFound`), never closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownPosition {
    pub side: Side,
    pub leverage: Leverage,
    /// The open price Vanta recorded (the venue's fill).
    #[serde(default)]
    pub open_price: Option<Price>,
    /// The venue's open time (unix seconds), when it reported one.
    #[serde(default)]
    pub open_time: Option<u64>,
}

impl KnownPosition {
    /// Whether the venue's trade (side, leverage, open price, open time) is this position.
    /// The side must match. Where both open times are known they decide (the venue names a
    /// trade by pair, index and open time); otherwise leverage and the recorded open price must
    /// match exactly. `Err` says what differs.
    pub fn check(&self, side: Side, leverage: Leverage, open_price: Price, open_time: Option<u64>) -> Result<(), String> {
        if side != self.side {
            return Err(format!("the venue's trade there is a {side}, the recorded position a {}", self.side));
        }
        if let (Some(want), Some(got)) = (self.open_time, open_time) {
            return if want == got { Ok(()) } else { Err(format!("the venue's trade there opened at {got}, the recorded one at {want}")) };
        }
        if leverage != self.leverage {
            return Err(format!("the venue's trade there has leverage {leverage}, the recorded position {}", self.leverage));
        }
        if let Some(want) = self.open_price
            && want != open_price
        {
            return Err(format!("the venue's trade there opened at price {open_price}, the recorded position at {want}"));
        }
        Ok(())
    }
}

/// A fill reported by the venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueFill {
    pub pair: PairIndex,
    pub trade_index: u32,
    pub side: Side,
    pub price: Price,
    pub collateral: Usdc,
    pub leverage: Leverage,
    pub fee: Usdc,
    pub at: Timestamp,
    /// The venue's reference for the order (tracking id, tx hash).
    pub venue_ref: String,
    /// The venue's open time of the trade (unix seconds), where it reports one (opens).
    #[serde(default)]
    pub open_time: Option<u64>,
}

/// A position as the venue reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenuePosition {
    pub trader: TraderAddress,
    pub pair: PairIndex,
    pub trade_index: u32,
    pub side: Side,
    pub collateral: Usdc,
    pub leverage: Leverage,
    pub open_price: Price,
    pub tp: Option<Price>,
    pub sl: Option<Price>,
    /// The venue's open time of the trade (unix seconds), where it reports one.
    #[serde(default)]
    pub open_time: Option<u64>,
}

/// Where orders go: the paper venue in DRY, Avantis in LIVE.
#[async_trait]
pub trait Venue: Send + Sync {
    fn mode(&self) -> ExecMode;
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>>;
    /// Executes `order` for intent `client_ref`. A venue that cannot tell whether the order took
    /// effect returns `Ambiguous`, and the caller reconciles through [`Venue::positions`].
    async fn execute(&self, client_ref: &IntentId, order: &VenueOrder) -> DomainResult<VenueFill>;
    async fn positions(&self, trader: TraderAddress) -> DomainResult<Vec<VenuePosition>>;
    /// What became of an order sent for `client_ref` (after a crash or an ambiguous reply).
    /// A venue that cannot tell answers [`Lookup::Unknown`], and nothing is resubmitted.
    async fn lookup(&self, client_ref: &IntentId) -> DomainResult<Lookup> {
        let _ = client_ref;
        Ok(Lookup::Unknown)
    }
    /// The account's equity (collateral balance plus margin in use), where the venue knows it.
    async fn equity(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        let _ = trader;
        Ok(None)
    }
    /// USDC in the trader's wallet (not in positions), where the venue can read it.
    async fn wallet_usdc(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        let _ = trader;
        Ok(None)
    }
    /// Whether `delegate` may trade for `trader` (None: the venue cannot tell).
    async fn delegation(&self, trader: TraderAddress, delegate: TraderAddress) -> DomainResult<Option<Delegation>> {
        let _ = (trader, delegate);
        Ok(None)
    }
    /// The trader's closes (full and partial, with price, fees, net PnL and reason) at or after
    /// `since` (everything the venue keeps when None), oldest first. None: this venue keeps no
    /// history (the reconciler then relies on positions alone).
    async fn history(&self, trader: TraderAddress, since: Option<Timestamp>) -> DomainResult<Option<crate::recon::VenueHistory>> {
        let _ = (trader, since);
        Ok(None)
    }
    /// The venue's keeper step, for a venue whose keeper Vanta runs (the paper venue): closes
    /// the trader's trades whose take-profit, stop-loss or liquidation price the trusted mark
    /// crossed (prices no older than `max_age_secs` on which the sources agree within
    /// `max_deviation`, as the TP/SL tick's; a stale or missing price closes nothing), and
    /// records each close in the venue's [`Venue::history`], where the reconciler finds it.
    /// Answers the closes this call made (none when another run made them first). A venue that
    /// keeps its own triggers (Veranta) does nothing here.
    async fn run_triggers(
        &self,
        trader: TraderAddress,
        max_age_secs: u32,
        max_deviation: Bps,
    ) -> DomainResult<Vec<crate::recon::VenueClose>> {
        let _ = (trader, max_age_secs, max_deviation);
        Ok(Vec::new())
    }
    /// The trader's resting limit orders (placed outside Vanta). None: this venue has no limit
    /// orders (the paper venue) or cannot read them.
    async fn limit_orders(&self, trader: TraderAddress) -> DomainResult<Option<Vec<crate::recon::VenueLimitOrder>>> {
        let _ = trader;
        Ok(None)
    }
}

/// A delegation as the venue reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    pub enabled: bool,
    /// When it ends, if it does.
    pub expires_at: Option<Timestamp>,
    /// Whether the delegate may sign trading intents for the trader.
    pub can_trade: bool,
}

/// The venue's answer to "did this order execute?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Filled(VenueFill),
    /// Provably never executed (and will not): safe to submit again.
    NotExecuted,
    Unknown,
}

// ---------------------------------------------------------------------------------------------
// Prices
// ---------------------------------------------------------------------------------------------

/// A price with its publish time and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceQuote {
    pub pair: PairSymbol,
    pub price: Price,
    pub published_at: Timestamp,
    pub source: String,
    /// For a slow, heartbeat-driven feed (Chainlink): how old its quote may be and still serve
    /// as a cross-check of the fresh sources. None: only the freshness rule applies.
    #[serde(default)]
    pub check_age_secs: Option<u32>,
    /// How far such a feed may lag the market before it publishes again (its deviation
    /// threshold); added to the agreement tolerance when it is used as a cross-check.
    #[serde(default)]
    pub check_band: Bps,
}

#[async_trait]
pub trait Prices: Send + Sync {
    /// Every source's latest quote for `pair` (the caller checks freshness and agreement).
    async fn quotes(&self, pair: &PairSymbol) -> DomainResult<Vec<PriceQuote>>;
}

// ---------------------------------------------------------------------------------------------
// Chat
// ---------------------------------------------------------------------------------------------

/// An inline button: a label and opaque callback data (never amounts or addresses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    pub data: String,
}

/// A message to a chat, HTML-formatted (the text is already escaped by whoever built it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMessage {
    pub chat: ChatId,
    pub html: String,
    pub buttons: Vec<Vec<Button>>,
}

impl OutgoingMessage {
    pub fn text(chat: ChatId, html: impl Into<String>) -> Self {
        Self { chat, html: html.into(), buttons: Vec::new() }
    }
}

/// A PNG image with an HTML caption (charts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingPhoto {
    pub chat: ChatId,
    pub png: Vec<u8>,
    pub caption_html: String,
}

/// Sends to chats. Only `send` is required; the other methods have plain fallbacks so simple
/// adapters (console, recording) need nothing more.
#[async_trait]
pub trait Chat: Send + Sync {
    async fn send(&self, msg: &OutgoingMessage) -> DomainResult<()>;
    /// Sends an image; the fallback sends the caption alone.
    async fn send_photo(&self, photo: &OutgoingPhoto) -> DomainResult<()> {
        self.send(&OutgoingMessage::text(photo.chat, photo.caption_html.clone())).await
    }
    /// Acknowledges a button press (Telegram shows `text` as a toast, or an alert when `alert`).
    async fn answer_callback(&self, callback_id: &str, text: Option<&str>, alert: bool) -> DomainResult<()> {
        let _ = (callback_id, text, alert);
        Ok(())
    }
    /// Replaces the text (and buttons) of a message the bot sent; the fallback sends a new one.
    async fn edit(&self, message_id: i64, msg: &OutgoingMessage) -> DomainResult<()> {
        let _ = message_id;
        self.send(msg).await
    }
}

// ---------------------------------------------------------------------------------------------
// Contract wallets (EIP-1271)
// ---------------------------------------------------------------------------------------------

/// Asks a contract wallet whether it accepts a signature (EIP-1271 `isValidSignature`).
#[async_trait]
pub trait ContractWallets: Send + Sync {
    /// `Some(verdict)` from a contract wallet; `None` when `wallet` has no code (an EOA, whose
    /// signatures are checked by recovery alone).
    async fn is_valid_signature(&self, wallet: TraderAddress, hash: B256, signature: &[u8]) -> DomainResult<Option<bool>>;
}
