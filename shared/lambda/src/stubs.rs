//! Stand-ins for ports a function is not wired for. Each refuses (fails closed): nothing is sent,
//! priced or traded by a function that was not given the real adapter.

use std::sync::Arc;

use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::{PairCatalog, PairSymbol};
use vanta_domain::money::Usdc;
use vanta_domain::ports::{
    Chat, Lookup, OutgoingMessage, PriceQuote, Prices, Queue, QueueMessage, Venue, VenueFill, VenueOrder, VenuePosition,
};
use vanta_domain::{DomainError, DomainResult};

/// The queue of a function that has no `SIGNALS_QUEUE_URL`: refuses to enqueue (nothing is lost:
/// the caller reports the failure).
pub struct NoQueue;

#[async_trait::async_trait]
impl Queue for NoQueue {
    async fn send(&self, _: QueueMessage) -> DomainResult<()> {
        Err(DomainError::Unavailable("SIGNALS_QUEUE_URL is not configured for this function".into()))
    }
}

/// The chat of a function without a Telegram token: logs that a message was not sent.
pub struct NoChat;

#[async_trait::async_trait]
impl Chat for NoChat {
    async fn send(&self, msg: &OutgoingMessage) -> DomainResult<()> {
        tracing::warn!(chat = %msg.chat, "TELEGRAM_BOT_TOKEN not configured; message not sent");
        Err(DomainError::Unavailable("telegram is not configured".into()))
    }
}

/// The prices and paper venue of a function that reads no market (the notifier): every question
/// is `Unavailable`, so nothing is priced, filled or looked up. Its mode is DRY.
pub struct NoMarket(pub &'static str);

impl NoMarket {
    fn refuse(&self) -> DomainError {
        DomainError::Unavailable(format!("{} reads no market (no prices, no venue)", self.0))
    }
}

#[async_trait::async_trait]
impl Prices for NoMarket {
    async fn quotes(&self, _: &PairSymbol) -> DomainResult<Vec<PriceQuote>> {
        Err(self.refuse())
    }
}

#[async_trait::async_trait]
impl Venue for NoMarket {
    fn mode(&self) -> ExecMode {
        ExecMode::Dry
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        Err(self.refuse())
    }
    async fn execute(&self, _: &IntentId, _: &VenueOrder) -> DomainResult<VenueFill> {
        Err(self.refuse())
    }
    async fn positions(&self, _: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        Err(self.refuse())
    }
    async fn lookup(&self, _: &IntentId) -> DomainResult<Lookup> {
        Err(self.refuse())
    }
    async fn equity(&self, _: TraderAddress) -> DomainResult<Option<Usdc>> {
        Err(self.refuse())
    }
    async fn wallet_usdc(&self, _: TraderAddress) -> DomainResult<Option<Usdc>> {
        Err(self.refuse())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

    use vanta_domain::market::{PairIndex, Side};
    use vanta_domain::money::Leverage;

    use super::*;

    #[tokio::test]
    async fn no_market_refuses_every_question_and_never_fills() {
        let m = NoMarket("this test");
        let trader = TraderAddress::paper(*b"no-market-unit-test!");
        let order = VenueOrder::Open {
            trader,
            pair: PairIndex(0),
            side: Side::Long,
            collateral: "10".parse().unwrap(),
            leverage: Leverage::from_whole(2).unwrap(),
            reference_price: "3000".parse().unwrap(),
            slippage: "1".parse().unwrap(),
            tp: None,
            sl: None,
        };
        let id = IntentId::parse("no-market").unwrap();
        assert_eq!(m.mode(), ExecMode::Dry);
        assert!(matches!(m.execute(&id, &order).await, Err(DomainError::Unavailable(_))));
        assert!(matches!(m.lookup(&id).await, Err(DomainError::Unavailable(_))), "not Unknown or NotExecuted: nothing to resubmit on");
        assert!(matches!(m.quotes(&PairSymbol::parse("ETH/USD").unwrap()).await, Err(DomainError::Unavailable(_))));
        assert!(matches!(m.pairs().await, Err(DomainError::Unavailable(_))));
        assert!(matches!(m.positions(trader).await, Err(DomainError::Unavailable(_))));
        assert!(matches!(m.equity(trader).await, Err(DomainError::Unavailable(_))));
        assert!(matches!(m.wallet_usdc(trader).await, Err(DomainError::Unavailable(_))));
        assert!(NoQueue.send(QueueMessage { group: "g".into(), dedup_id: "d".into(), body: "{}".into() }).await.is_err());
    }
}
