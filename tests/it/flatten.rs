//! The FLATTEN stop on DynamoDB (moto): an operator writes only `mode` and `stop` on the control
//! item with the AWS CLI, the `tpsl` tick notices it, the sweep's intents close every position
//! through the pipeline, and the run record and progress survive from tick to tick (each tick is
//! a new Lambda invocation that shares nothing but the table).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use vanta_app::{Deps, flatten, pipeline, schedule, worker};
use vanta_aws::dynamo::{DynamoStore, create_table};
use vanta_domain::exec::StopLevel;
use vanta_domain::ids::{ChatId, IntentId, TelegramUserId};
use vanta_domain::intent::{Action, Intent, OpenOrder, Origin};
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol, Side};
use vanta_domain::memory::{FixedPrices, MemoryQueue, PaperVenue, RecordingChat};
use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{ControlStore, IntentStore, PositionStore, UserStore};
use vanta_domain::time::{Clock, SystemClock};
use vanta_domain::user::User;
use vanta_runtime::Config;
use vanta_testkit::moto::Moto;

static TABLES: AtomicU32 = AtomicU32::new(0);

fn pair(index: u16, sym: &str) -> PairInfo {
    PairInfo {
        index: PairIndex(index),
        symbol: PairSymbol::parse(sym).unwrap(),
        group: 0,
        listed: true,
        close_only: false,
        min_leverage: Leverage::ONE,
        max_leverage: Leverage::from_whole(75).unwrap(),
        min_position: Usdc::from_str("100").unwrap(),
        open_fee: PercentP::from_str("0.045").unwrap(),
        close_fee: PercentP::from_str("0.045").unwrap(),
        spread: PercentP::from_str("0.01").unwrap(),
        max_gain: PercentP::from_str("2500").unwrap(),
        max_sl: PercentP::from_str("80").unwrap(),
    }
}

#[tokio::test]
async fn a_cli_written_flatten_closes_everything_on_dynamodb_and_reports_once() {
    let moto = Moto::start().await.expect("moto starts");
    let conf = crate::support::sdk_config(&moto.endpoint).await;
    let client = Client::new(&conf);
    let table = format!("vanta-flatten-{}-{}", std::process::id(), TABLES.fetch_add(1, Ordering::SeqCst));
    create_table(&client, &table).await.unwrap();
    let store = Arc::new(DynamoStore::new(client.clone(), table.clone()));

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let prices = Arc::new(FixedPrices::new());
    for (sym, p) in [("BTC/USD", "100000"), ("ETH/USD", "3500")] {
        for src in ["pyth", "chainlink"] {
            prices.set(PairSymbol::parse(sym).unwrap(), src, Price::from_str(p).unwrap(), clock.now()).unwrap();
        }
    }
    let catalog = Arc::new(PairCatalog::new([pair(0, "ETH/USD"), pair(1, "BTC/USD")]).unwrap());
    let paper = Arc::new(PaperVenue::new(catalog, prices.clone(), clock.clone()));
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let config = Config::from_lookup(|k| (k == "ADMIN_USER_IDS").then(|| "2,3".to_owned())).unwrap();
    let deps = Deps::new(config, store.clone(), queue.clone(), chat.clone(), clock.clone(), prices, paper);

    // Two users with open DRY positions.
    for (u, sym) in [(7, "BTC/USD"), (8, "ETH/USD")] {
        let user = store.get_or_create_user(User::new(TelegramUserId(u), ChatId(u), clock.now())).await.unwrap();
        let order = OpenOrder {
            pair: PairSymbol::parse(sym).unwrap(),
            side: Side::Long,
            collateral: Usdc::from_str("100").unwrap(),
            leverage: Leverage::from_whole(5).unwrap(),
            tp: None,
            sl: None,
            slippage: None,
        };
        let id = IntentId::parse(&format!("tg:open:{u}")).unwrap();
        let intent = Intent::new(id.clone(), user.id, Origin::Telegram { update_id: u }, Action::Open(order), format!("h{u}"), clock.now());
        store.create_intent(&intent).await.unwrap();
        assert_eq!(pipeline::run(&deps, &id).await.unwrap(), pipeline::Outcome::Settled);
    }
    assert_eq!(store.live_positions().await.unwrap().len(), 2);

    // The operator's CLI write: only mode and stop.
    client
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("CONTROL".into()))
        .item("sk", AttributeValue::S("EXEC_MODE".into()))
        .item("mode", AttributeValue::S("DRY".into()))
        .item("stop", AttributeValue::S("FLATTEN".into()))
        .send()
        .await
        .unwrap();

    let drain = || async {
        loop {
            let batch = queue.take(10).unwrap();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                let _ = worker::handle_message(&deps, &m.body).await;
            }
        }
    };
    schedule::tpsl_tick(&deps).await.unwrap();
    let run = store.get_flatten_run().await.unwrap().unwrap();
    assert_eq!(run.targets.len(), 2);
    assert_eq!(run.by, None, "pulled by the CLI");
    drain().await;
    assert!(store.live_positions().await.unwrap().is_empty(), "every position closed");

    schedule::tpsl_tick(&deps).await.unwrap();
    schedule::tpsl_tick(&deps).await.unwrap();
    let to_admin: Vec<String> = chat.sent().into_iter().filter(|m| m.chat == ChatId(2)).map(|m| m.html).collect();
    assert_eq!(to_admin.len(), 2, "the start and the end, once each: {to_admin:?}");
    assert!(to_admin[0].contains("0 of 2 positions closed"), "{}", to_admin[0]);
    assert!(to_admin[1].contains("2 of 2 positions closed"), "{}", to_admin[1]);
    assert_eq!(chat.sent().iter().filter(|m| m.chat == ChatId(3)).count(), 2, "every configured admin is told");

    // Released by the CLI: the run ends.
    client
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("CONTROL".into()))
        .item("sk", AttributeValue::S("EXEC_MODE".into()))
        .item("mode", AttributeValue::S("DRY".into()))
        .item("stop", AttributeValue::S("NONE".into()))
        .send()
        .await
        .unwrap();
    assert!(!flatten::sweep(&deps).await.unwrap().active);
    assert!(store.get_flatten_run().await.unwrap().unwrap().ended_at.is_some());
    assert_eq!(store.get_exec_control().await.unwrap().unwrap().stop, StopLevel::None);
}
