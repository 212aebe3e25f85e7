//! The sequencer gate on a real chain: anvil runs as Base (chain id 8453) with an uptime feed at
//! the Base mainnet feed's address (the test aggregator's code put there with `anvil_setCode`),
//! and the production reader (`ChainlinkSequencer::base_mainnet`) feeds the gate
//! (`SequencerGated`) in front of the prices. While the feed says down, or up for less than the
//! grace period, or gives an answer that is neither up nor down, or cannot be read at all, no
//! price passes: no open passes the risk engine and no trigger fires (the app-level effects are
//! shown in `shared/app/src/tests_market.rs` with the same gate).

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, Bytes, I256, U256, aliases::U80};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::sol;
use alloy::sol_types::SolCall;
use async_trait::async_trait;
use serde_json::{Value, json};
use vanta_chain::sequencer::{BASE_SEQUENCER_UPTIME_FEED, ChainlinkSequencer};
use vanta_domain::DomainResult;
use vanta_domain::market::PairSymbol;
use vanta_domain::money::Price;
use vanta_domain::ports::{PriceQuote, Prices};
use vanta_domain::sequencer::SequencerGated;
use vanta_domain::time::{SystemClock, Timestamp};
use vanta_testkit::anvil::{Anvil, AnvilOptions, DEV_ADDRESS};

const AGGREGATOR_ARTIFACT: &str = include_str!("../../shared/chain/tests/contracts/MockAggregator.json");

sol! {
    interface MockAggregator {
        function setRound(uint80 roundId_, int256 answer_, uint256 updatedAt_, uint80 answeredInRound_) external;
    }
}

/// One fresh quote for any pair: what the gate lets through, or not.
struct OneQuote;

#[async_trait]
impl Prices for OneQuote {
    async fn quotes(&self, pair: &PairSymbol) -> DomainResult<Vec<PriceQuote>> {
        Ok(vec![PriceQuote {
            pair: pair.clone(),
            price: Price::from_str("97000").unwrap(),
            published_at: Timestamp::from_secs(now_secs()),
            source: "pyth".into(),
            check_age_secs: None,
            check_band: Default::default(),
        }])
    }
}

fn now_secs() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

struct Base {
    anvil: Anvil,
    p: DynProvider,
    feed: Address,
}

impl Base {
    /// Anvil as Base, with the test aggregator's runtime code at the mainnet uptime feed.
    async fn start() -> Self {
        let anvil = Anvil::start_with(AnvilOptions::default().chain_id(8453)).await.unwrap();
        let p = ProviderBuilder::new().connect_http(anvil.endpoint.parse().unwrap()).erased();
        let artifact: Value = serde_json::from_str(AGGREGATOR_ARTIFACT).unwrap();
        let runtime = Bytes::from_str(artifact["deployedBytecode"].as_str().unwrap()).unwrap();
        let feed = Address::from_str(BASE_SEQUENCER_UPTIME_FEED).unwrap();
        let _: Value = p.raw_request("anvil_setCode".into(), (feed, runtime)).await.unwrap();
        Self { anvil, p, feed }
    }

    /// Sets the feed's latest round: `answer` (0 up, 1 down) since `started_at` (unix seconds).
    async fn set(&self, answer: i64, started_at: i64) {
        let call = MockAggregator::setRoundCall {
            roundId_: U80::from(7u64),
            answer_: I256::try_from(answer).unwrap(),
            updatedAt_: U256::from(u64::try_from(started_at).unwrap()),
            answeredInRound_: U80::from(7u64),
        };
        let tx = json!({"from": DEV_ADDRESS, "to": self.feed, "data": Bytes::from(call.abi_encode()), "gas": "0x100000"});
        let hash: B256 = self.p.raw_request("eth_sendTransaction".into(), (tx,)).await.unwrap();
        // Automine: the receipt exists once the node has answered; poll until it does.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(r) = self.p.get_transaction_receipt(hash).await.unwrap() {
                assert!(r.status(), "setRound reverted");
                return;
            }
            assert!(std::time::Instant::now() < deadline, "no receipt for {hash}");
            tokio::task::yield_now().await;
        }
    }

    fn gated(&self) -> SequencerGated {
        let reader = ChainlinkSequencer::base_mainnet(&self.anvil.endpoint).unwrap();
        SequencerGated::new(Arc::new(OneQuote), Arc::new(reader), Arc::new(SystemClock))
    }
}

fn btc() -> PairSymbol {
    PairSymbol::parse("BTC/USD").unwrap()
}

#[tokio::test]
async fn prices_pass_only_while_the_base_sequencer_has_been_up_for_the_grace_period() {
    let base = Base::start().await;
    let gated = base.gated();
    let now = now_secs();

    // Down: nothing passes.
    base.set(1, now - 30).await;
    let e = gated.quotes(&btc()).await.unwrap_err().to_string();
    assert!(e.contains("sequencer is down"), "{e}");

    // Back for ten minutes: still inside the hour of grace.
    base.set(0, now - 600).await;
    let e = gated.quotes(&btc()).await.unwrap_err().to_string();
    assert!(e.contains("came back") && e.contains("3600 s after"), "{e}");

    // Up for two hours: the quote passes unchanged.
    base.set(0, now - 7_200).await;
    let quotes = gated.quotes(&btc()).await.unwrap();
    assert_eq!(quotes.len(), 1);
    assert_eq!(quotes[0].price, Price::from_str("97000").unwrap());

    // An answer that is neither up nor down, or no start time: not trusted.
    base.set(2, now - 7_200).await;
    let e = gated.quotes(&btc()).await.unwrap_err().to_string();
    assert!(e.contains("cannot be read") && e.contains("unknown answer"), "{e}");
    base.set(0, 0).await;
    let e = gated.quotes(&btc()).await.unwrap_err().to_string();
    assert!(e.contains("startedAt"), "{e}");
}

#[tokio::test]
async fn an_unreachable_uptime_feed_counts_as_down_and_never_shows_the_rpc_url() {
    // A keyed RPC URL where nothing listens: the feed cannot be read.
    let port = vanta_testkit::net::free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}/v2/SECRETKEY");
    let reader = ChainlinkSequencer::base_mainnet(&url).unwrap();
    let gated = SequencerGated::new(Arc::new(OneQuote), Arc::new(reader), Arc::new(SystemClock));
    let e = gated.quotes(&btc()).await.unwrap_err().to_string();
    assert!(e.contains("cannot be read") && e.contains("no prices are trusted"), "{e}");
    // Only the origin may appear, never the path (a keyed RPC URL keeps its key there).
    assert!(!e.contains("SECRETKEY"), "{e}");
}
