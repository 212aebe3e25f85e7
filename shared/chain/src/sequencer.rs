//! Chainlink's L2 sequencer-uptime feed on Base, read over JSON-RPC, for the sequencer gate
//! ([`vanta_domain::sequencer::SequencerGated`]).

use std::time::Duration;

use alloy::primitives::{Address, I256};
use alloy::providers::DynProvider;
use alloy::sol;
use async_trait::async_trait;
use vanta_domain::sequencer::{SequencerReading, SequencerStatus};
use vanta_domain::time::Timestamp;
use vanta_domain::{DomainError, DomainResult};

/// The Base mainnet sequencer-uptime feed (Chainlink's L2 sequencer feeds list; verify with
/// `description()` on-chain before relying on another).
pub const BASE_SEQUENCER_UPTIME_FEED: &str = "0xBCF85224fc0756B9Fa45aA7892530B47e10b6433";

sol! {
    /// The uptime feed is an AggregatorV3: `answer` 0 = up, 1 = down; `startedAt` = since when.
    #[sol(rpc)]
    interface UptimeFeed {
        function latestRoundData()
            external
            view
            returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
    }
}

/// Reads the uptime feed at `address` through `rpc_url`. Anything but a clean "up" or "down"
/// reading (an RPC error, a timeout, an unknown answer, no start time) is an error, which the
/// gate treats as down.
pub struct ChainlinkSequencer {
    provider: DynProvider,
    address: Address,
    origin: String,
    timeout: Duration,
}

impl ChainlinkSequencer {
    pub fn new(rpc_url: &str, address: Address) -> DomainResult<Self> {
        let url: url::Url = rpc_url.parse().map_err(|_| DomainError::Invalid("sequencer feed: the RPC URL is not a URL".into()))?;
        let origin = url.origin().ascii_serialization();
        // Its HTTP client is made on the first call (most cold starts never make one).
        let provider = crate::rpc::provider_for(url);
        Ok(Self { provider, address, origin, timeout: Duration::from_secs(4) })
    }

    /// The Base mainnet feed ([`BASE_SEQUENCER_UPTIME_FEED`]).
    pub fn base_mainnet(rpc_url: &str) -> DomainResult<Self> {
        let address =
            BASE_SEQUENCER_UPTIME_FEED.parse().map_err(|_| DomainError::Internal("the built-in sequencer feed address".into()))?;
        Self::new(rpc_url, address)
    }
}

#[async_trait]
impl SequencerStatus for ChainlinkSequencer {
    async fn status(&self) -> DomainResult<SequencerReading> {
        let feed = UptimeFeed::new(self.address, &self.provider);
        let call = feed.latestRoundData();
        let round = match tokio::time::timeout(self.timeout, call.call()).await {
            Ok(Ok(r)) => r,
            // The error text may carry the RPC URL (and its key): only the origin is shown.
            Ok(Err(_)) => return Err(DomainError::Unavailable(format!("sequencer feed: latestRoundData() failed at {}", self.origin))),
            Err(_) => return Err(DomainError::Unavailable("sequencer feed: latestRoundData() timed out".into())),
        };
        let up = if round.answer == I256::ZERO {
            true
        } else if round.answer == I256::ONE {
            false
        } else {
            return Err(DomainError::Unavailable(format!("sequencer feed: unknown answer {}", round.answer)));
        };
        let since = i64::try_from(round.startedAt)
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| DomainError::Unavailable(format!("sequencer feed: startedAt {} is not a time", round.startedAt)))?;
        Ok(SequencerReading { up, since: Timestamp::from_secs(since) })
    }
}
