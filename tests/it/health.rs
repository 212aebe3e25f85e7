//! `/health` and `/readyz` over the real DynamoDB adapter: with moto answering the store is `ok`
//! and the function ready; with nothing listening where the table should be, the store is
//! `down`, `/health` says so (and still answers), and `/readyz` is 503.

use std::str::FromStr;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use vanta_app::Deps;
use vanta_app::http::testing::{self, TestRequest};
use vanta_aws::dynamo::{DynamoStore, create_table};
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, PaperVenue, RecordingChat};
use vanta_domain::money::{Leverage, PercentP, Usdc};
use vanta_domain::ports::ControlStore;
use vanta_domain::time::{ManualClock, Timestamp};
use vanta_runtime::Config;
use vanta_testkit::moto::Moto;

async fn client(endpoint: &str) -> Client {
    let conf = crate::support::sdk_config(endpoint).await;
    Client::new(&conf)
}

fn deps(store: DynamoStore) -> Deps {
    let clock = Arc::new(ManualClock::new(Timestamp(1_750_000_000_000)));
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let prices = Arc::new(FixedPrices::new());
    let pair = PairInfo {
        index: PairIndex(0),
        symbol: PairSymbol::parse("ETH/USD").unwrap(),
        group: 0,
        listed: true,
        close_only: false,
        min_leverage: Leverage::ONE,
        max_leverage: Leverage::from_whole(50).unwrap(),
        min_position: Usdc::from_str("100").unwrap(),
        open_fee: "0.045".parse::<PercentP>().unwrap(),
        close_fee: "0.045".parse::<PercentP>().unwrap(),
        spread: "0.01".parse::<PercentP>().unwrap(),
        max_gain: "2500".parse::<PercentP>().unwrap(),
        max_sl: "80".parse::<PercentP>().unwrap(),
    };
    let paper = Arc::new(PaperVenue::new(Arc::new(PairCatalog::new([pair]).unwrap()), prices.clone(), clock.clone()));
    let config = Config::from_lookup(|_| None).unwrap();
    Deps::new(config, Arc::new(store), queue.clone(), Arc::new(RecordingChat::new()), clock, prices, paper).with_queue_stats(queue)
}

#[tokio::test]
async fn a_down_store_is_down_in_health_and_not_ready() {
    // Up: moto with the table.
    let moto = Moto::start().await.expect("moto starts");
    let up = client(&moto.endpoint).await;
    create_table(&up, "vanta-health").await.unwrap();
    let store = DynamoStore::new(up, "vanta-health");
    store.put_heartbeat("tpsl", Timestamp(1_750_000_000_000)).await.unwrap();
    let ok = deps(store);
    assert_eq!(testing::call(&ok, TestRequest::new("GET", "/readyz")).await.status, 200);
    let h = testing::call(&ok, TestRequest::new("GET", "/health")).await.body_json();
    assert_eq!(h["components"]["store"]["status"], "ok", "{h}");
    let jobs = h["components"]["schedules"]["jobs"].as_array().unwrap();
    assert_eq!(jobs.iter().find(|j| j["job"] == "tpsl").unwrap()["status"], "ok", "read back from DynamoDB: {h}");

    // Down: nothing listens where the store should be.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let down = deps(DynamoStore::new(client(&endpoint).await, "vanta-health"));
    let started = std::time::Instant::now();
    let r = testing::call(&down, TestRequest::new("GET", "/readyz")).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body_json()["components"]["store"]["status"], "down");
    let r = testing::call(&down, TestRequest::new("GET", "/health")).await;
    assert_eq!(r.status, 200, "health answers, whatever is down");
    let h = r.body_json();
    assert_eq!(h["status"], "down", "{h}");
    assert_eq!(h["components"]["store"]["status"], "down");
    assert_eq!(h["components"]["schedules"]["status"], "down", "unreadable runs are not ok");
    assert_eq!(h["exec_mode"], "DRY", "an unreadable setting reads as DRY");
    assert!(!h.to_string().contains(&endpoint), "no endpoint in the answer");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "probes are bounded");
}
