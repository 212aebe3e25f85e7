//! [`BudgetedVenue`]: a hard bound on how long any call to a live venue may wait.
//!
//! The Avantis relayer (order stream, replay by tracking id, status polling, position and nonce
//! reads) and the direct route (broadcast, receipt and fill waits, replacements) each have their
//! own timeouts, but a chain of them can add up to minutes. The signal worker has 25 s, and one
//! slow order must not fail the whole delivery: past the budget an order is `Ambiguous` (it may
//! have been sent) and a lookup says `Unknown`, so the pipeline records the state and the next
//! delivery reconciles (deterministic intent nonces and transaction records make a resend safe).
//!
//! Cutting a call short is no different from the process dying at that point, which both routes
//! already survive; the budget only makes it happen on time and with a clear reason.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::PairCatalog;
use vanta_domain::money::Usdc;
use vanta_domain::ports::{Delegation, Lookup, Venue, VenueFill, VenueOrder, VenuePosition};

/// A venue whose every call ends within `budget`.
pub struct BudgetedVenue {
    inner: Arc<dyn Venue>,
    budget: Duration,
}

impl BudgetedVenue {
    pub fn new(inner: Arc<dyn Venue>, budget: Duration) -> Self {
        Self { inner, budget }
    }

    /// The longest any call waits: the budget itself (nothing runs after it is spent).
    pub fn worst_case_wait(&self) -> Duration {
        self.budget
    }

    async fn read<T>(&self, what: &str, fut: impl std::future::Future<Output = DomainResult<T>>) -> DomainResult<T> {
        tokio::time::timeout(self.budget, fut).await.unwrap_or_else(|_| {
            Err(DomainError::Unavailable(format!("the venue did not answer {what} within {} s", self.budget.as_secs())))
        })
    }
}

#[async_trait]
impl Venue for BudgetedVenue {
    fn mode(&self) -> ExecMode {
        self.inner.mode()
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.read("the pair list", self.inner.pairs()).await
    }
    async fn execute(&self, client_ref: &IntentId, order: &VenueOrder) -> DomainResult<VenueFill> {
        match tokio::time::timeout(self.budget, self.inner.execute(client_ref, order)).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(intent = %client_ref, budget_secs = self.budget.as_secs(), "venue wait budget spent; left to reconciliation");
                Err(DomainError::Ambiguous(format!(
                    "no final answer from the venue within {} s; the order is reconciled before anything is sent again",
                    self.budget.as_secs()
                )))
            }
        }
    }
    async fn positions(&self, trader: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.read("the positions", self.inner.positions(trader)).await
    }
    async fn lookup(&self, client_ref: &IntentId) -> DomainResult<Lookup> {
        match tokio::time::timeout(self.budget, self.inner.lookup(client_ref)).await {
            Ok(r) => r,
            Err(_) => Ok(Lookup::Unknown),
        }
    }
    async fn equity(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        self.read("the equity", self.inner.equity(trader)).await
    }
    async fn wallet_usdc(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        self.read("the wallet balance", self.inner.wallet_usdc(trader)).await
    }
    async fn delegation(&self, trader: TraderAddress, delegate: TraderAddress) -> DomainResult<Option<Delegation>> {
        self.read("the delegation", self.inner.delegation(trader, delegate)).await
    }
    async fn history(
        &self,
        trader: TraderAddress,
        since: Option<vanta_domain::time::Timestamp>,
    ) -> DomainResult<Option<vanta_domain::recon::VenueHistory>> {
        self.read("the trade history", self.inner.history(trader, since)).await
    }
    async fn limit_orders(&self, trader: TraderAddress) -> DomainResult<Option<Vec<vanta_domain::recon::VenueLimitOrder>>> {
        self.read("the limit orders", self.inner.limit_orders(trader)).await
    }
}
