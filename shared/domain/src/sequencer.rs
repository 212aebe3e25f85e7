//! The Base sequencer gate. Chainlink's L2 sequencer-uptime feed says whether Base's sequencer
//! is up and since when; while it is down, or back for less than a grace period, oracle prices
//! cannot be trusted (they could not update, and a backlog of transactions may land at once), so
//! [`SequencerGated`] gives no quote at all: no open passes the risk engine, no TP/SL or
//! liquidation trigger fires, and a DRY paper exit (which needs a mark) is retried until the
//! prices are trusted again. A status that cannot be read counts as down (fail closed).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{DomainError, DomainResult};
use crate::market::PairSymbol;
use crate::ports::{PriceQuote, Prices};
use crate::time::{Clock, Timestamp};

/// Chainlink's recommended grace period after the sequencer comes back.
pub const SEQUENCER_GRACE: Duration = Duration::from_secs(3_600);

/// One reading of the uptime feed: `answer` 0 is up, 1 is down; `startedAt` is when that status
/// began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequencerReading {
    pub up: bool,
    pub since: Timestamp,
}

/// Reads the sequencer's status (the uptime feed's `latestRoundData`).
#[async_trait]
pub trait SequencerStatus: Send + Sync {
    async fn status(&self) -> DomainResult<SequencerReading>;
}

/// Why prices are not trusted at `now` given `reading` (None: trusted).
pub fn untrusted(reading: &SequencerReading, now: Timestamp, grace: Duration) -> Option<String> {
    if !reading.up {
        return Some("the Base sequencer is down (Chainlink uptime feed); no prices are trusted until it is back".into());
    }
    let up_for = now.since(reading.since);
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    if up_for < grace_ms {
        return Some(format!(
            "the Base sequencer came back {} s ago; prices are trusted {} s after it is back",
            up_for.max(0) / 1000,
            grace.as_secs()
        ));
    }
    None
}

/// Prices behind the sequencer gate.
pub struct SequencerGated {
    inner: Arc<dyn Prices>,
    status: Arc<dyn SequencerStatus>,
    clock: Arc<dyn Clock>,
    grace: Duration,
}

impl SequencerGated {
    pub fn new(inner: Arc<dyn Prices>, status: Arc<dyn SequencerStatus>, clock: Arc<dyn Clock>) -> Self {
        Self { inner, status, clock, grace: SEQUENCER_GRACE }
    }
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

#[async_trait]
impl Prices for SequencerGated {
    async fn quotes(&self, pair: &PairSymbol) -> DomainResult<Vec<PriceQuote>> {
        // The callers log the reason (the TP/SL tick names the skipped pair, the pipeline retries).
        let reading =
            self.status.status().await.map_err(|e| {
                DomainError::Unavailable(format!("the Base sequencer's status cannot be read ({e}); no prices are trusted"))
            })?;
        if let Some(why) = untrusted(&reading, self.clock.now(), self.grace) {
            return Err(DomainError::Unavailable(why));
        }
        self.inner.quotes(pair).await
    }
}
