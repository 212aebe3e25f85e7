//! The pair catalog and the DRY paper book in DynamoDB (moto), as two Lambda instances see them:
//! the indexer stores the catalog and another instance's signal API judges pairs by it; two
//! handler sets over one table trade one paper account.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::Client;
use vanta_app::http::testing::{self, TestRequest};
use vanta_app::{Deps, pipeline, schedule, signals, telegram};
use vanta_aws::dynamo::{DynamoStore, create_table};
use vanta_domain::catalog::{CatalogStore, StaticCatalog};
use vanta_domain::ids::{ChatId, IntentId, SourceId, TelegramUserId};
use vanta_domain::intent::{Action, Intent, OpenOrder, Origin};
use vanta_domain::market::{MarketHours, PairCatalog, PairIndex, PairInfo, PairSymbol, Side};
use vanta_domain::memory::{DEFAULT_PAPER_EQUITY, FixedPrices, MemoryQueue, PaperVenue, RecordingChat};
use vanta_domain::money::{Bps, Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{IntentStore, PositionStore, SourceStore, UserStore};
use vanta_domain::position::PositionStatus;
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{SecretText, SignalSource, User};
use vanta_runtime::Config;
use vanta_testkit::moto::Moto;

const T0: i64 = 1_795_852_800_000;
static TABLES: AtomicU32 = AtomicU32::new(0);

fn pair(index: u16, sym: &str, group: u16) -> PairInfo {
    PairInfo {
        index: PairIndex(index),
        symbol: PairSymbol::parse(sym).unwrap(),
        group,
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

fn catalog() -> Arc<PairCatalog> {
    let hours = MarketHours { is_open: false, next_open: 1_900_000_000, next_close: 0 };
    Arc::new(PairCatalog::new([pair(1, "BTC/USD", 0), pair(21, "EUR/USD", 2)]).unwrap().with_hours(PairIndex(21), hours))
}

/// One instance: its own queue, chat and paper venue, over the shared table.
struct Instance {
    deps: Deps,
    chat: Arc<RecordingChat>,
}

struct Fx {
    _moto: Moto,
    store: Arc<DynamoStore>,
    clock: Arc<ManualClock>,
    prices: Arc<FixedPrices>,
    a: Instance,
    b: Instance,
}

impl Fx {
    async fn new() -> Self {
        let moto = Moto::start().await.expect("moto starts");
        let conf = crate::support::sdk_config(&moto.endpoint).await;
        let client = Client::new(&conf);
        let table = format!("vanta-market-{}-{}", std::process::id(), TABLES.fetch_add(1, Ordering::SeqCst));
        create_table(&client, &table).await.expect("table created");
        let store = Arc::new(DynamoStore::new(client, table));
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let prices = Arc::new(FixedPrices::new());
        let instance = |refresher: bool| {
            let chat = Arc::new(RecordingChat::new());
            let paper = Arc::new(PaperVenue::new(catalog(), prices.clone(), clock.clone()).with_book(store.clone()));
            let source: Option<Arc<dyn vanta_domain::catalog::CatalogSource>> =
                refresher.then(|| Arc::new(StaticCatalog(catalog())) as Arc<dyn vanta_domain::catalog::CatalogSource>);
            let deps = Deps::new(
                Config::from_lookup(|_| None).unwrap(),
                store.clone(),
                Arc::new(MemoryQueue::new(clock.clone())),
                chat.clone(),
                clock.clone(),
                prices.clone(),
                paper,
            )
            .with_catalog_store(store.clone(), source);
            Instance { deps, chat }
        };
        let (a, b) = (instance(true), instance(false));
        let fx = Self { _moto: moto, store, clock, prices, a, b };
        fx.set_price("100000");
        fx.store.get_or_create_user(User::new(TelegramUserId(7), ChatId(7), fx.clock.now())).await.unwrap();
        fx
    }

    fn set_price(&self, p: &str) {
        for src in ["pyth", "chainlink"] {
            self.prices.set(PairSymbol::parse("BTC/USD").unwrap(), src, Price::from_str(p).unwrap(), self.clock.now()).unwrap();
        }
    }

    /// Creates the intent and runs it on one instance's pipeline, as that instance's worker would.
    async fn run(&self, on: &Instance, id: &str, action: Action) -> pipeline::Outcome {
        let intent = Intent::new(
            IntentId::parse(id).unwrap(),
            TelegramUserId(7),
            Origin::Telegram { update_id: 1 },
            action,
            format!("hash-{id}"),
            self.clock.now(),
        );
        self.store.create_intent(&intent).await.unwrap();
        pipeline::run(&on.deps, &intent.id).await.unwrap()
    }

    async fn equity(&self, on: &Instance) -> Option<Usdc> {
        let user = self.store.get_user(TelegramUserId(7)).await.unwrap().unwrap();
        on.deps.paper.equity(pipeline::account(&user)).await.unwrap()
    }

    /// `/balance` on one instance: its paper-equity line.
    async fn balance_line(&self, on: &Instance, update: i64) -> String {
        let body = serde_json::json!({"update_id": update, "message": {"message_id": update, "date": self.clock.now().secs(),
            "chat": {"id": 7, "type": "private"}, "from": {"id": 7, "is_bot": false, "first_name": "u"}, "text": "/balance"}});
        telegram::process_update(&on.deps, body.to_string().as_bytes()).await.unwrap();
        let text = on.chat.sent().last().unwrap().html.clone();
        text.lines().find(|l| l.contains("Paper equity")).unwrap_or_else(|| panic!("no equity line in {text}")).to_owned()
    }
}

#[tokio::test]
async fn dynamo_two_dry_instances_share_one_paper_account() {
    let fx = Fx::new().await;
    assert_eq!(fx.equity(&fx.a).await, Some(DEFAULT_PAPER_EQUITY));
    schedule::indexer_tick(&fx.a.deps).await.unwrap();
    let open = OpenOrder {
        pair: PairSymbol::parse("BTC/USD").unwrap(),
        side: Side::Long,
        collateral: Usdc::from_str("1000").unwrap(),
        leverage: Leverage::from_whole(5).unwrap(),
        tp: None,
        sl: None,
        slippage: None,
    };
    assert!(matches!(fx.run(&fx.a, "open-1", Action::Open(open)).await, pipeline::Outcome::Settled), "opened on A");

    // B's venue holds the trade A opened, and both report the same account.
    let user = fx.store.get_user(TelegramUserId(7)).await.unwrap().unwrap();
    let on_b = fx.b.deps.paper.positions(pipeline::account(&user)).await.unwrap();
    assert_eq!(on_b.len(), 1, "{on_b:?}");
    let after_open = fx.equity(&fx.a).await.unwrap();
    assert_eq!(after_open, Usdc::from_str("9997.75").unwrap(), "10 000 less the 0.045 % open fee on 5 000");
    assert_eq!(fx.equity(&fx.b).await, Some(after_open));
    let (line_a, line_b) = (fx.balance_line(&fx.a, 1).await, fx.balance_line(&fx.b, 2).await);
    assert_eq!(line_a, line_b);
    assert!(line_a.contains("9,997.75") || line_a.contains("9997.75"), "{line_a}");

    // Closed on B after a 1 % rise: the PnL lands in the one account both see.
    fx.set_price("101000");
    let close = Action::Close { pair: PairSymbol::parse("BTC/USD").unwrap(), side: Side::Long, fraction: Bps::FULL };
    fx.run(&fx.b, "close-1", close).await;
    let ps = fx.store.user_positions(TelegramUserId(7), false).await.unwrap();
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].status, PositionStatus::Closed, "{ps:?}");
    assert!(fx.a.deps.paper.positions(pipeline::account(&user)).await.unwrap().is_empty(), "gone from A's view too");
    let after_close = fx.equity(&fx.b).await.unwrap();
    assert_eq!(fx.equity(&fx.a).await, Some(after_close));
    // 9 997.75 + PnL 49.495025 (fills at 100 005 and 100 994.95) − close fee 2.25.
    assert_eq!(after_close, Usdc::from_raw(10_044_995_025));
    assert_eq!(fx.balance_line(&fx.a, 3).await, fx.balance_line(&fx.b, 4).await);
}

#[tokio::test]
async fn dynamo_the_indexer_stores_the_catalog_and_another_instance_refuses_an_unknown_pair() {
    let fx = Fx::new().await;
    let id = SourceId::parse("strat").unwrap();
    let sealed = fx.b.deps.source_secrets.seal(&id, &SecretText::new("k3y")).await.unwrap();
    let s = SignalSource {
        id,
        owner: TelegramUserId(7),
        secret: sealed.into(),
        tv_token_hash: signals::token_hash("tv-strat"),
        active: true,
        created_at: fx.clock.now(),
        rotated_at: None,
    };
    fx.store.create_source(&s).await.unwrap();
    let post = |body: serde_json::Value| {
        let body = body.to_string();
        let ts = fx.clock.now().secs().to_string();
        TestRequest::new("POST", "/signals")
            .with_header("X-Vanta-Timestamp", &ts)
            .with_header("X-Vanta-Signature", &signals::sign("k3y", &ts, body.as_bytes()))
            .with_body(body)
    };
    let open = |id: &str, pair: &str| {
        serde_json::json!({"source": "strat", "id": id, "action": "open", "pair": pair, "side": "long",
            "collateral_usdc": "100", "leverage": "5"})
    };
    // Nothing stored yet: B accepts no open.
    assert_eq!(testing::call(&fx.b.deps, post(open("s1", "BTC/USD"))).await.status, 503);
    // A's indexer tick stores the catalog (hours included) in the table.
    schedule::indexer_tick(&fx.a.deps).await.unwrap();
    let stored = fx.store.get_catalog().await.unwrap().unwrap();
    assert_eq!(stored.fetched_at, fx.clock.now());
    assert_eq!(&stored.catalog, catalog().as_ref());
    let r = testing::call(&fx.b.deps, post(open("s2", "DOGE/USD"))).await;
    assert_eq!(r.status, 422, "{}", r.body_json());
    assert!(r.body_json().to_string().contains("DOGE/USD"));
    assert_eq!(testing::call(&fx.b.deps, post(open("s3", "BTC/USD"))).await.status, 202);
    // An older refresh landing late never replaces the newer catalog.
    let older = vanta_domain::catalog::StoredCatalog { catalog: PairCatalog::default(), fetched_at: Timestamp(T0 - 60_000) };
    fx.store.put_catalog(&older).await.unwrap();
    assert_eq!(fx.store.get_catalog().await.unwrap().unwrap().fetched_at, fx.clock.now());
}

#[test]
fn the_catalog_reads_market_hours_from_the_feed_attributes() {
    let snap = r#"{"pairInfos":{
        "1":{"index":1,"from":"BTC","to":"USD","groupIndex":0,"isPairListed":true,"leverages":{"minLeverage":1,"maxLeverage":75},
             "spreadP":0,"openFeeP":0.045,"closeFeeP":0.045,"minLevPosUSDC":100,"values":{"maxGainP":2500,"maxSlP":80}},
        "21":{"index":21,"from":"EUR","to":"USD","groupIndex":2,"isPairListed":true,"leverages":{"minLeverage":1,"maxLeverage":100},
             "feed":{"feedId":"0xa995d00bb36a63cef7fd2c287dc105fc8f3d93779f062f09551b0af3e81ec30b",
                     "attributes":{"isOpen":false,"nextOpen":1795939200,"nextClose":0}},
             "spreadP":0.0005,"openFeeP":0.01,"closeFeeP":0.01,"minLevPosUSDC":500,"values":{"maxGainP":2500,"maxSlP":80}}}}"#;
    let c = vanta_chain::avantis::catalog_from_trading_snapshot(snap).unwrap();
    assert_eq!(c.hours(PairIndex(21)), Some(&MarketHours { is_open: false, next_open: 1_795_939_200, next_close: 0 }));
    assert_eq!(c.hours(PairIndex(1)), None, "no attributes: the SDK's default (open)");
    let eur = c.resolve("EUR/USD").unwrap().clone();
    assert!(c.market_closed(&eur, Timestamp(T0)).is_some());
    assert!(c.market_closed(&eur, Timestamp(1_795_939_200_001)).is_none(), "open once next_open has passed");
}
