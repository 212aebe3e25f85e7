//! Intents: every request that can move money, and the state machine that makes it run at most
//! once.
//!
//! ```text
//! Received ──► Validated ──► Submitted ──► Settled
//!    │             │             │  ▲
//!    │             │             ▼  │ (reconciled: not on the venue → resubmit once)
//!    └──► Rejected ◄┘          Ambiguous ──► Settled | Failed
//!                                │
//!                     Submitted ─┴► Failed
//! ```
//! Received and Validated may also end Failed: the queue gave up on an intent that never
//! reached a venue.
//! `Settled`, `Rejected` and `Failed` are final. An intent is created together with its
//! idempotency record and is never deleted.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::exec::ExecMode;
use crate::ids::{IntentId, PositionId, SignalId, SourceId, TelegramUserId};
use crate::market::{PairSymbol, Side};
use crate::money::{Bps, Leverage, Price, SlippageP, Usdc};
use crate::time::Timestamp;

/// Where an intent came from. Together with the request's own id it forms the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    Signal {
        source: SourceId,
        signal: SignalId,
    },
    Telegram {
        update_id: i64,
    },
    /// A copy of a leader's trade. `leader_ref` names the leader's position (a Vanta position id
    /// or a venue trade seen by the indexer); the leader's fill is kept for latency and price
    /// difference reporting.
    Copy {
        leader_ref: String,
        #[serde(default)]
        leader_price: Option<crate::money::Price>,
        #[serde(default)]
        leader_at: Option<Timestamp>,
    },
    /// Vanta's TP/SL executor; `trigger` says which level was hit (`tp`, `sl`, `trail`,
    /// `liquidation`).
    TpSl {
        position: PositionId,
        #[serde(default)]
        trigger: Option<String>,
    },
    Admin {
        by: TelegramUserId,
    },
}

/// An order to open a position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenOrder {
    pub pair: PairSymbol,
    pub side: Side,
    pub collateral: Usdc,
    pub leverage: Leverage,
    pub tp: Option<Price>,
    pub sl: Option<Price>,
    /// None: the user's default slippage.
    pub slippage: Option<SlippageP>,
}

/// What the intent asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Open(OpenOrder),
    /// Close by pair and side; `fraction` of the position (10 000 = all).
    Close {
        pair: PairSymbol,
        side: Side,
        fraction: Bps,
    },
    /// Close the opposite side (if any), then open this order, in that order.
    Flip(OpenOrder),
    UpdateTpSl {
        pair: PairSymbol,
        side: Side,
        tp: Option<Price>,
        sl: Option<Price>,
    },
    /// Close one known position (a menu button, a TP/SL hit, a copied exit); `fraction` of it.
    ClosePosition {
        position: PositionId,
        fraction: Bps,
    },
    /// Pause the user's automation.
    Pause,
    /// Close every position of the user and cancel their triggers.
    Flatten,
}

impl Action {
    /// Whether the action can add exposure (refused while entries are paused).
    pub fn adds_exposure(&self) -> bool {
        matches!(self, Action::Open(_) | Action::Flip(_))
    }
    /// Whether the action only reduces or manages existing exposure: closes (by pair and side,
    /// of one position, of everything) and TP/SL updates, whatever their origin (a command, a
    /// signal, a TP/SL/trailing/liquidation trigger, a copied exit). These are never refused by
    /// a pause, the user's inactivity, the emergency stop or entry-risk rules. The rule is
    /// total: every action is an entry ([`Action::adds_exposure`]; a flip's close half is
    /// reduce-only, its open half an entry), reduce-only, or `Pause` (a setting, never refused).
    pub fn is_reduce_only(&self) -> bool {
        matches!(self, Action::Close { .. } | Action::ClosePosition { .. } | Action::Flatten | Action::UpdateTpSl { .. })
    }
    pub fn name(&self) -> &'static str {
        match self {
            Action::Open(_) => "open",
            Action::Close { .. } => "close",
            Action::Flip(_) => "flip",
            Action::UpdateTpSl { .. } => "update_tpsl",
            Action::ClosePosition { .. } => "close_position",
            Action::Pause => "pause",
            Action::Flatten => "flatten",
        }
    }
}

/// Where an intent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IntentState {
    Received,
    Validated,
    Submitted,
    Ambiguous,
    Settled,
    Rejected,
    Failed,
}

impl IntentState {
    /// SUBMITTED or AMBIGUOUS: the order may have reached the venue and its outcome is not
    /// known yet.
    pub fn outcome_unknown(self) -> bool {
        matches!(self, IntentState::Submitted | IntentState::Ambiguous)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            IntentState::Received => "RECEIVED",
            IntentState::Validated => "VALIDATED",
            IntentState::Submitted => "SUBMITTED",
            IntentState::Ambiguous => "AMBIGUOUS",
            IntentState::Settled => "SETTLED",
            IntentState::Rejected => "REJECTED",
            IntentState::Failed => "FAILED",
        }
    }
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Ok(match s {
            "RECEIVED" => IntentState::Received,
            "VALIDATED" => IntentState::Validated,
            "SUBMITTED" => IntentState::Submitted,
            "AMBIGUOUS" => IntentState::Ambiguous,
            "SETTLED" => IntentState::Settled,
            "REJECTED" => IntentState::Rejected,
            "FAILED" => IntentState::Failed,
            other => return Err(DomainError::Internal(format!("unknown intent state '{other}'"))),
        })
    }
    pub fn is_final(self) -> bool {
        matches!(self, IntentState::Settled | IntentState::Rejected | IntentState::Failed)
    }
    /// The allowed transitions (see the module diagram).
    pub fn can_become(self, next: IntentState) -> bool {
        use IntentState::*;
        matches!(
            (self, next),
            (Received, Validated)
                | (Received, Rejected)
                | (Received, Failed)
                | (Validated, Submitted)
                | (Validated, Rejected)
                | (Validated, Failed)
                | (Submitted, Settled)
                | (Submitted, Failed)
                | (Submitted, Ambiguous)
                | (Ambiguous, Settled)
                | (Ambiguous, Failed)
                | (Ambiguous, Submitted)
        )
    }
}

impl fmt::Display for IntentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request that can move money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The idempotency key: the same request always maps to the same id.
    pub id: IntentId,
    pub user: TelegramUserId,
    pub origin: Origin,
    pub action: Action,
    pub state: IntentState,
    /// Decided right before signing; None until then.
    pub mode: Option<ExecMode>,
    /// Why it was rejected or failed, in words for the user.
    pub reason: Option<String>,
    /// SHA-256 hex of the canonical request, to tell a duplicate from a conflicting reuse of an id.
    pub payload_hash: String,
    /// How many times it was sent to a venue (at most one fill whatever this says).
    pub attempts: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Intent {
    pub fn new(id: IntentId, user: TelegramUserId, origin: Origin, action: Action, payload_hash: String, at: Timestamp) -> Self {
        Self {
            id,
            user,
            origin,
            action,
            state: IntentState::Received,
            mode: None,
            reason: None,
            payload_hash,
            attempts: 0,
            created_at: at,
            updated_at: at,
        }
    }
}

/// A requested state change, applied atomically with its audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: IntentState,
    pub to: IntentState,
    pub at: Timestamp,
    pub mode: Option<ExecMode>,
    pub reason: Option<String>,
    /// Detail for the audit trail (venue ids, prices), not shown as an error.
    pub detail: Option<String>,
}

impl Transition {
    pub fn new(from: IntentState, to: IntentState, at: Timestamp) -> Result<Self, DomainError> {
        if !from.can_become(to) {
            return Err(DomainError::Conflict(format!("an intent cannot go from {from} to {to}")));
        }
        Ok(Self { from, to, at, mode: None, reason: None, detail: None })
    }
    pub fn with_reason(mut self, r: impl Into<String>) -> Self {
        self.reason = Some(r.into());
        self
    }
    pub fn with_mode(mut self, m: ExecMode) -> Self {
        self.mode = Some(m);
        self
    }
    pub fn with_detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
    /// Applies to an in-memory intent (adapters use the same rule).
    pub fn apply(&self, intent: &mut Intent) -> Result<(), DomainError> {
        if intent.state != self.from {
            return Err(DomainError::Conflict(format!("intent {} is {}, not {}", intent.id, intent.state, self.from)));
        }
        intent.state = self.to;
        intent.updated_at = self.at;
        if let Some(m) = self.mode {
            intent.mode = Some(m);
        }
        if let Some(r) = &self.reason {
            intent.reason = Some(r.clone());
        }
        if self.to == IntentState::Submitted {
            intent.attempts = intent.attempts.saturating_add(1);
        }
        Ok(())
    }
}

/// One line of an intent's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub intent: IntentId,
    pub at: Timestamp,
    pub state: IntentState,
    pub reason: Option<String>,
    pub detail: Option<String>,
}

/// Outcome of creating an intent under its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// Same key, same payload: a retry. Carries what is stored.
    Duplicate(Intent),
    /// Same key, different payload: a client bug or an attack. Nothing was stored.
    Mismatch(Intent),
}

/// What running an intent came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Settled,
    Rejected(String),
    Failed(String),
    /// Already final when it arrived (a redelivery).
    AlreadyFinal(IntentState),
}
