//! Chainlink AggregatorV3 feeds on anvil (a mock aggregator, `tests/contracts/MockAggregator.sol`,
//! compiled artifact next to it): exact conversion, incomplete rounds, refused answers, RPC
//! failures, the feeds setting, and `CombinedPrices` over Chainlink and a fake Pyth Hermes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, Bytes, I256, U256, aliases::U80};
use alloy::providers::{DynProvider, Provider};
use alloy::sol;
use alloy::sol_types::SolCall;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vanta_chain::direct::DirectSender;
use vanta_chain::prices::{ChainlinkFeeds, CombinedPrices, PythHermes};
use vanta_domain::DomainError;
use vanta_domain::market::PairSymbol;
use vanta_domain::money::{Bps, Price};
use vanta_domain::ports::{PriceQuote, Prices};
use vanta_domain::risk_engine::reference_price;
use vanta_domain::time::Timestamp;
use vanta_testkit::anvil::{Anvil, DEV_ADDRESS};
use vanta_testkit::net::free_port;

const AGGREGATOR_ARTIFACT: &str = include_str!("../contracts/MockAggregator.json");

sol! {
    /// The mock's setters (the reads are `ChainlinkFeeds`' business).
    interface MockAggregator {
        function setDecimals(uint8 decimals_) external;
        function setRound(uint80 roundId_, int256 answer_, uint256 updatedAt_, uint80 answeredInRound_) external;
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn pair(s: &str) -> PairSymbol {
    PairSymbol::parse(s).unwrap()
}

fn px(s: &str) -> Price {
    s.parse().unwrap()
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn int(v: i128) -> I256 {
    I256::try_from(v).unwrap()
}

struct Chain {
    anvil: Anvil,
    p: DynProvider,
}

impl Chain {
    async fn start() -> Self {
        let anvil = Anvil::start().await.unwrap();
        let p = DirectSender::http_provider(&anvil.endpoint).unwrap();
        Self { anvil, p }
    }

    /// Sends a transaction from anvil's (unlocked) dev account and waits for its success.
    async fn send(&self, to: Option<Address>, data: Bytes) -> alloy::rpc::types::TransactionReceipt {
        let mut tx = json!({"from": DEV_ADDRESS, "data": data, "gas": "0x200000"});
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        let hash: B256 = self.p.raw_request("eth_sendTransaction".into(), (tx,)).await.unwrap();
        let r = crate::support::wait_receipt(&self.p, hash).await;
        assert!(r.status(), "transaction reverted: {r:?}");
        r
    }

    /// Deploys a mock aggregator with `decimals` decimals.
    async fn deploy(&self, decimals: u8) -> Address {
        let artifact: Value = serde_json::from_str(AGGREGATOR_ARTIFACT).unwrap();
        let mut code = Bytes::from_str(artifact["bytecode"].as_str().unwrap()).unwrap().to_vec();
        code.extend_from_slice(&U256::from(decimals).to_be_bytes::<32>());
        let addr = self.send(None, code.into()).await.contract_address.unwrap();
        let runtime = artifact["deployedBytecode"].as_str().unwrap();
        assert_eq!(self.p.get_code_at(addr).await.unwrap(), Bytes::from_str(runtime).unwrap());
        addr
    }

    async fn set_round(&self, feed: Address, round: u64, answer: I256, updated_at: u64, answered_in: u64) {
        let call = MockAggregator::setRoundCall {
            roundId_: U80::from(round),
            answer_: answer,
            updatedAt_: U256::from(updated_at),
            answeredInRound_: U80::from(answered_in),
        };
        self.send(Some(feed), call.abi_encode().into()).await;
    }

    async fn set_decimals(&self, feed: Address, decimals: u8) {
        self.send(Some(feed), MockAggregator::setDecimalsCall { decimals_: decimals }.abi_encode().into()).await;
    }

    fn feeds(&self, feeds: &[(&str, Address)]) -> ChainlinkFeeds {
        ChainlinkFeeds::new(&self.anvil.endpoint, feeds.iter().map(|(s, a)| (pair(s), *a)).collect()).unwrap()
    }
}

/// A loopback URL where nothing listens.
fn unreachable_url() -> String {
    format!("http://127.0.0.1:{}", free_port().unwrap())
}

/// A fake Pyth Hermes: answers every request with `price` (mantissa, expo −8) for `feed_id`,
/// published at `publish_time`.
async fn fake_hermes(feed_id: &str, price: &str, publish_time: u64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let body = json!({"parsed": [{"id": feed_id, "price": {"price": price, "conf": "1000", "expo": -8, "publish_time": publish_time}}]})
        .to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else { return };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(reply.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    url
}

/// A server that accepts connections and never answers.
async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    (url, task)
}

fn assert_unavailable(r: Result<Vec<PriceQuote>, DomainError>, what: &str) -> String {
    match r {
        Err(DomainError::Unavailable(m)) => m,
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// ChainlinkFeeds
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn eight_decimal_answers_convert_exactly_and_decimals_are_read_once() {
    let chain = Chain::start().await;
    let feed = chain.deploy(8).await;
    let at = now_secs();
    chain.set_round(feed, 7, int(9_512_345_678_901), at, 7).await;
    let feeds = chain.feeds(&[("BTC/USD", feed)]);

    let q = feeds.quotes(&pair("BTC/USD")).await.unwrap();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].pair, pair("BTC/USD"));
    assert_eq!(q[0].price, px("95123.45678901"));
    assert_eq!(q[0].published_at, Timestamp::from_secs(i64::try_from(at).unwrap()));
    assert_eq!(q[0].source, "chainlink");

    // The cached decimals are kept: a feed's decimals do not change under a running instance.
    chain.set_decimals(feed, 10).await;
    chain.set_round(feed, 8, int(9_512_345_678_902), at + 1, 8).await;
    let q = feeds.quotes(&pair("BTC/USD")).await.unwrap();
    assert_eq!(q[0].price, px("95123.45678902"));
    // A new instance reads them afresh.
    let q = chain.feeds(&[("BTC/USD", feed)]).quotes(&pair("BTC/USD")).await.unwrap();
    assert_eq!(q[0].price, px("951.2345678902"));

    // A pair without a feed has no quotes (not an error).
    assert!(feeds.quotes(&pair("DOGE/USD")).await.unwrap().is_empty());
}

#[tokio::test]
async fn eighteen_decimal_answers_convert_exactly_rounding_toward_zero() {
    let chain = Chain::start().await;
    let feed = chain.deploy(18).await;
    chain.set_round(feed, 1, int(95_123_456_789_012_345_678_901), now_secs(), 1).await;
    let q = chain.feeds(&[("ETH/USD", feed)]).quotes(&pair("ETH/USD")).await.unwrap();
    assert_eq!(q[0].price.raw(), 951_234_567_890_123, "95123.456789012345678901 in 1e10 units, truncated");
    assert_eq!(q[0].price, px("95123.4567890123"));
}

#[tokio::test]
async fn incomplete_or_never_updated_rounds_give_no_quote() {
    let chain = Chain::start().await;
    let feed = chain.deploy(8).await;
    let feeds = chain.feeds(&[("SOL/USD", feed)]);
    let sol = pair("SOL/USD");

    // Nothing published yet: every field is zero.
    assert!(feeds.quotes(&sol).await.unwrap().is_empty());
    // Answered in an earlier round than the latest: the answer is carried over, not current.
    chain.set_round(feed, 5, int(15_000_000_000), now_secs(), 4).await;
    assert!(feeds.quotes(&sol).await.unwrap().is_empty());
    // Never updated.
    chain.set_round(feed, 5, int(15_000_000_000), 0, 5).await;
    assert!(feeds.quotes(&sol).await.unwrap().is_empty());
    // A complete round.
    chain.set_round(feed, 6, int(15_000_000_000), now_secs(), 6).await;
    let q = feeds.quotes(&sol).await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].price, px("150"));
}

#[tokio::test]
async fn negative_and_zero_answers_are_refused() {
    let chain = Chain::start().await;
    let feed = chain.deploy(8).await;
    let feeds = chain.feeds(&[("BTC/USD", feed)]);
    chain.set_round(feed, 1, int(-9_512_345_678_901), now_secs(), 1).await;
    let m = assert_unavailable(feeds.quotes(&pair("BTC/USD")).await, "negative answer");
    assert!(m.contains("not positive"), "{m}");
    chain.set_round(feed, 2, I256::ZERO, now_secs(), 2).await;
    assert_unavailable(feeds.quotes(&pair("BTC/USD")).await, "zero answer");
}

#[tokio::test]
async fn rpc_failures_are_unavailable() {
    // Nothing listens. The URL's path and query (a provider's API key) stay out of the error.
    let feeds =
        ChainlinkFeeds::new(&format!("{}/v2/SECRETKEY?key=HIDDEN", unreachable_url()), ChainlinkFeeds::base_mainnet_defaults()).unwrap();
    let m = assert_unavailable(feeds.quotes(&pair("BTC/USD")).await, "unreachable RPC");
    assert!(m.contains("http://127.0.0.1:") && !m.contains("SECRETKEY") && !m.contains("HIDDEN"), "{m}");

    // A server that never answers: the call times out.
    let (url, _server) = silent_server().await;
    let feeds = ChainlinkFeeds::new(&url, ChainlinkFeeds::base_mainnet_defaults()).unwrap().with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let m = assert_unavailable(feeds.quotes(&pair("ETH/USD")).await, "silent RPC");
    assert!(m.contains("timed out"), "{m}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // An address without a contract: the reply is unreadable.
    let chain = Chain::start().await;
    let nothing = Address::repeat_byte(0x42);
    assert_unavailable(chain.feeds(&[("BTC/USD", nothing)]).quotes(&pair("BTC/USD")).await, "no contract");

    // A URL that is not one is refused at construction.
    assert!(matches!(ChainlinkFeeds::new("not a url", HashMap::new()), Err(DomainError::Invalid(_))));
}

#[test]
fn feeds_setting_parses_and_refuses_malformed_entries() {
    let btc: Address = "0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F".parse().unwrap();
    let eth: Address = "0x71041dddad3595F9CEd3DcCFBe3D1F4b0a16Bb70".parse().unwrap();
    let f = ChainlinkFeeds::parse_feeds(
        " BTC/USD=0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F , eth-usd=0x71041dddad3595f9ced3dccfbe3d1f4b0a16bb70,",
    )
    .unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(f[&pair("BTC/USD")], btc);
    assert_eq!(f[&pair("ETH/USD")], eth, "pairs are normalised and addresses read in any case");
    assert!(ChainlinkFeeds::parse_feeds("").unwrap().is_empty());

    for (spec, why) in [
        ("BTC/USD", "no '='"),
        ("BTC/USD 0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F", "no '='"),
        ("=0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F", "not a pair"),
        ("BTC/USD/X=0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F", "not a pair"),
        ("BTC/USD=64c911996D3c6aC71f9b455B1E8E7266BcbD848F", "must start with 0x"),
        ("BTC/USD=0x64c911996D3c6aC71f9b455B1E8E7266BcbD84", "40 hex digits"),
        ("BTC/USD=0x64c911996D3c6aC71f9b455B1E8E7266BcbD848Z", "40 hex digits"),
        ("BTC/USD=0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F,btcusd=0x71041dddad3595F9CEd3DcCFBe3D1F4b0a16Bb70", "given twice"),
    ] {
        match ChainlinkFeeds::parse_feeds(spec) {
            Err(DomainError::Invalid(m)) => {
                assert!(m.contains(why) && m.contains("PAIR=0xADDRESS"), "{spec}: {m}");
            }
            other => panic!("{spec}: expected Invalid, got {other:?}"),
        }
    }

    let defaults = ChainlinkFeeds::base_mainnet_defaults();
    assert_eq!(defaults.len(), 3);
    assert_eq!(defaults[&pair("BTC/USD")], btc);
    assert_eq!(defaults[&pair("ETH/USD")], eth);
    assert_eq!(defaults[&pair("SOL/USD")], "0x975043adBb80fc32276CbF9Bbcfd4A601a12462D".parse::<Address>().unwrap());

    let built = ChainlinkFeeds::from_spec("http://127.0.0.1:1", "BTC/USD=0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F").unwrap();
    assert_eq!(built.pairs().collect::<Vec<_>>(), vec![&pair("BTC/USD")]);
    assert!(ChainlinkFeeds::from_spec("http://127.0.0.1:1", "BTC/USD=0x1").is_err());
}

// ---------------------------------------------------------------------------------------------
// CombinedPrices
// ---------------------------------------------------------------------------------------------

const PYTH_BTC: &str = "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43";

#[tokio::test]
async fn combined_prices_return_every_source_and_survive_one_failing() {
    let chain = Chain::start().await;
    let feed = chain.deploy(8).await;
    let at = now_secs();
    chain.set_round(feed, 3, int(9_512_345_678_901), at, 3).await;
    let btc = pair("BTC/USD");
    let hermes = fake_hermes(PYTH_BTC, "9513000000000", at).await;
    let pyth: Arc<dyn Prices> = Arc::new(PythHermes::new(&hermes, HashMap::from([(btc.clone(), PYTH_BTC.to_owned())])).unwrap());
    let chainlink: Arc<dyn Prices> = Arc::new(chain.feeds(&[("BTC/USD", feed)]));
    let now = Timestamp::from_secs(i64::try_from(at).unwrap());

    // Both answer: both quotes, in the sources' order; they agree within 50 bps.
    let both = CombinedPrices::new(vec![("pyth".into(), pyth.clone()), ("chainlink".into(), chainlink.clone())]);
    let q = both.quotes(&btc).await.unwrap();
    let got: Vec<(&str, Price)> = q.iter().map(|q| (q.source.as_str(), q.price)).collect();
    assert_eq!(got, vec![("pyth", px("95130")), ("chainlink", px("95123.45678901"))]);
    assert!(reference_price(&btc, &q, now, 30, Bps::new_const(50)).is_ok());

    // Chainlink far off: the risk engine refuses the disagreement.
    chain.set_round(feed, 4, int(9_000_000_000_000), at, 4).await;
    let q = both.quotes(&btc).await.unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(reference_price(&btc, &q, now, 30, Bps::new_const(50)).unwrap_err().code(), "prices_disagree");

    // One source down: the other's quotes still come back.
    let down: Arc<dyn Prices> = Arc::new(ChainlinkFeeds::new(&unreachable_url(), ChainlinkFeeds::base_mainnet_defaults()).unwrap());
    let one = CombinedPrices::new(vec![("pyth".into(), pyth.clone()), ("chainlink".into(), down.clone())]);
    let q = one.quotes(&btc).await.unwrap();
    assert_eq!(q.iter().map(|q| q.source.as_str()).collect::<Vec<_>>(), vec!["pyth"]);
    assert_eq!(reference_price(&btc, &q, now, 30, Bps::new_const(50)).unwrap(), px("95130"), "one fresh source is enough");

    // A source that hangs is cut off by the combined timeout.
    let (silent, _server) = silent_server().await;
    let hung: Arc<dyn Prices> =
        Arc::new(ChainlinkFeeds::new(&silent, ChainlinkFeeds::base_mainnet_defaults()).unwrap().with_timeout(Duration::from_secs(30)));
    let slow =
        CombinedPrices::new(vec![("chainlink".into(), hung), ("pyth".into(), pyth.clone())]).with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let q = slow.quotes(&btc).await.unwrap();
    assert_eq!(q.iter().map(|q| q.source.as_str()).collect::<Vec<_>>(), vec!["pyth"]);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // Every source down: an error naming them.
    let pyth_down: Arc<dyn Prices> =
        Arc::new(PythHermes::new(&unreachable_url(), HashMap::from([(btc.clone(), PYTH_BTC.to_owned())])).unwrap());
    let none = CombinedPrices::new(vec![("pyth".into(), pyth_down), ("chainlink".into(), down)]);
    let m = assert_unavailable(none.quotes(&btc).await, "every source down");
    assert!(m.contains("pyth") && m.contains("chainlink"), "{m}");

    // No source knows the pair: no quotes, no error.
    assert!(both.quotes(&pair("DOGE/USD")).await.unwrap().is_empty());
}
