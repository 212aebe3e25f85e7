//! The DRY paper book as the store keeps it: one account per trader address (cash, open paper
//! trades, a version for optimistic writes) and one fill record per order reference. Every
//! instance of every function reads and writes the same book, so DRY behaves like one account:
//! `/balance`, proportional copy sizing and closes see what any instance did. The account also
//! keeps the paper venue's own closes (its keeper's TP, SL and liquidation fills), which the
//! reconciler reads as the paper venue's trade history, as it reads Veranta's.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::ids::{IntentId, TraderAddress};
use crate::money::Usdc;
use crate::paper_venue::DEFAULT_PAPER_EQUITY;
use crate::ports::{VenueFill, VenuePosition};
use crate::recon::VenueClose;

/// One trader's paper account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperAccount {
    pub trader: TraderAddress,
    /// USDC not in positions (starts at [`DEFAULT_PAPER_EQUITY`]).
    pub cash: Usdc,
    pub positions: Vec<VenuePosition>,
    /// The venue-side closes of its trades (TP, SL, liquidation by the paper venue's keeper),
    /// oldest first, the last [`PAPER_HISTORY_KEPT`] of them (accounts stored before the keeper
    /// have none).
    #[serde(default)]
    pub closes: Vec<VenueClose>,
    /// The stored version this account was read at (0: never stored).
    pub version: u64,
}

impl PaperAccount {
    /// The account of a trader nobody traded for yet.
    pub fn fresh(trader: TraderAddress) -> Self {
        Self { trader, cash: DEFAULT_PAPER_EQUITY, positions: Vec::new(), closes: Vec::new(), version: 0 }
    }
    /// Appends a venue-side close to the history, keeping the last [`PAPER_HISTORY_KEPT`].
    pub fn record_close(&mut self, close: VenueClose) {
        self.closes.push(close);
        let over = self.closes.len().saturating_sub(PAPER_HISTORY_KEPT);
        self.closes.drain(..over);
    }
    /// Margin in use: the collateral of the open paper trades.
    pub fn margin(&self) -> DomainResult<Usdc> {
        self.positions.iter().try_fold(Usdc::ZERO, |a, p| a.checked_add(p.collateral)).map_err(DomainError::from)
    }
    /// Cash plus margin in use (as the venue reports equity; unrealised PnL not included).
    pub fn equity(&self) -> DomainResult<Usdc> {
        self.cash.checked_add(self.margin()?).map_err(DomainError::from)
    }
}

/// How many venue-side closes a paper account keeps (the reconciler reads them every minute; a
/// close is recorded on its position once, by its id, however often it is read).
pub const PAPER_HISTORY_KEPT: usize = 200;

/// The paper book's storage. Both adapters keep the same rules.
#[async_trait]
pub trait PaperStore: Send + Sync {
    async fn paper_account(&self, trader: TraderAddress) -> DomainResult<Option<PaperAccount>>;
    /// The fill recorded for an order reference.
    async fn paper_fill(&self, client_ref: &IntentId) -> DomainResult<Option<VenueFill>>;
    /// Writes `account` as version `account.version + 1` if the stored version is
    /// `account.version` (absent for 0) and, with `fill`, records the fill under its reference if
    /// none is recorded: both or neither. Anything else is `Conflict` (the caller re-reads).
    async fn commit_paper(&self, account: &PaperAccount, fill: Option<(&IntentId, &VenueFill)>) -> DomainResult<()>;
}

/// [`PaperStore`] in memory (unit tests, the local runner, a venue nobody gave a store).
#[derive(Default)]
pub struct MemoryPaperBook(Mutex<(HashMap<TraderAddress, PaperAccount>, HashMap<IntentId, VenueFill>)>);

impl MemoryPaperBook {
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned<T>(_: T) -> DomainError {
    DomainError::Internal("in-memory lock poisoned".into())
}

#[async_trait]
impl PaperStore for MemoryPaperBook {
    async fn paper_account(&self, trader: TraderAddress) -> DomainResult<Option<PaperAccount>> {
        Ok(self.0.lock().map_err(poisoned)?.0.get(&trader).cloned())
    }
    async fn paper_fill(&self, client_ref: &IntentId) -> DomainResult<Option<VenueFill>> {
        Ok(self.0.lock().map_err(poisoned)?.1.get(client_ref).cloned())
    }
    async fn commit_paper(&self, account: &PaperAccount, fill: Option<(&IntentId, &VenueFill)>) -> DomainResult<()> {
        let mut g = self.0.lock().map_err(poisoned)?;
        let stored = g.0.get(&account.trader).map_or(0, |a| a.version);
        if stored != account.version {
            return Err(DomainError::Conflict(format!("paper account changed meanwhile (version {stored})")));
        }
        if let Some((r, _)) = fill
            && g.1.contains_key(r)
        {
            return Err(DomainError::Conflict(format!("order {r} is filled already")));
        }
        let mut next = account.clone();
        next.version = account.version + 1;
        g.0.insert(account.trader, next);
        if let Some((r, f)) = fill {
            g.1.insert(r.clone(), f.clone());
        }
        Ok(())
    }
}
