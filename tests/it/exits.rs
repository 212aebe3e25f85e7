//! Positions on DynamoDB (moto), through the pipeline: a trailing-stop move written from a
//! read taken before a partial close never undoes the close, and items from before position
//! versions and wallets still read and update.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use vanta_app::{Deps, pipeline, schedule};
use vanta_aws::dynamo::{DynamoStore, create_table};
use vanta_domain::DomainError;
use vanta_domain::ids::{ChatId, IntentId, TelegramUserId};
use vanta_domain::intent::{Action, Intent, OpenOrder, Origin};
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol, Side};
use vanta_domain::memory::{FixedPrices, MemoryQueue, PaperVenue, RecordingChat};
use vanta_domain::money::{Bps, Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{IntentStore, PositionStore, UserStore};
use vanta_domain::position::{Position, PositionStatus, TrailingStop};
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::User;
use vanta_runtime::Config;
use vanta_testkit::moto::Moto;

const T0: i64 = 1_795_852_800_000;
static TABLES: AtomicU32 = AtomicU32::new(0);

struct Fx {
    _moto: Moto,
    client: Client,
    table: String,
    store: Arc<DynamoStore>,
    deps: Deps,
    prices: Arc<FixedPrices>,
    clock: Arc<ManualClock>,
}

fn btc() -> PairInfo {
    PairInfo {
        index: PairIndex(1),
        symbol: PairSymbol::parse("BTC/USD").unwrap(),
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

impl Fx {
    async fn new() -> Self {
        let moto = Moto::start().await.expect("moto starts");
        let conf = crate::support::sdk_config(&moto.endpoint).await;
        let client = Client::new(&conf);
        let table = format!("vanta-exits-{}-{}", std::process::id(), TABLES.fetch_add(1, Ordering::SeqCst));
        create_table(&client, &table).await.expect("table created");
        let store = Arc::new(DynamoStore::new(client.clone(), table.clone()));
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let prices = Arc::new(FixedPrices::new());
        let paper = Arc::new(PaperVenue::new(Arc::new(PairCatalog::new([btc()]).unwrap()), prices.clone(), clock.clone()));
        let deps = Deps::new(
            Config::from_lookup(|_| None).unwrap(),
            store.clone(),
            Arc::new(MemoryQueue::new(clock.clone())),
            Arc::new(RecordingChat::new()),
            clock.clone(),
            prices.clone(),
            paper,
        );
        let fx = Self { _moto: moto, client, table, store, deps, prices, clock };
        fx.set_price("100000");
        fx
    }

    fn set_price(&self, p: &str) {
        for src in ["pyth", "chainlink"] {
            self.prices.set(PairSymbol::parse("BTC/USD").unwrap(), src, Price::from_str(p).unwrap(), self.clock.now()).unwrap();
        }
    }

    /// Creates the intent and runs it through the pipeline, as the worker would.
    async fn run(&self, id: &str, action: Action) -> pipeline::Outcome {
        let intent = Intent::new(
            IntentId::parse(id).unwrap(),
            TelegramUserId(7),
            Origin::Telegram { update_id: 1 },
            action,
            format!("hash-{id}"),
            self.clock.now(),
        );
        self.store.create_intent(&intent).await.unwrap();
        pipeline::run(&self.deps, &intent.id).await.unwrap()
    }

    async fn only_position(&self) -> Position {
        let mut ps = self.store.user_positions(TelegramUserId(7), false).await.unwrap();
        assert_eq!(ps.len(), 1, "{ps:?}");
        ps.remove(0)
    }

    async fn raw_version(&self, p: &Position) -> Option<String> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S("USER#7".into()))
            .key("sk", AttributeValue::S(format!("POS#{}", p.id)))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        item.get("version").and_then(|v| v.as_n().ok()).cloned()
    }
}

#[tokio::test]
async fn dynamo_a_trail_move_from_a_stale_read_keeps_the_partial_close() {
    let fx = Fx::new().await;
    fx.store.get_or_create_user(User::new(TelegramUserId(7), ChatId(7), fx.clock.now())).await.unwrap();
    let open = OpenOrder {
        pair: PairSymbol::parse("BTC/USD").unwrap(),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(5).unwrap(),
        tp: None,
        sl: None,
        slippage: None,
    };
    assert_eq!(fx.run("tg:open-1", Action::Open(open)).await, pipeline::Outcome::Settled);
    let id = fx.only_position().await.id;
    schedule::set_trail(&fx.deps, TelegramUserId(7), &id, Some(Bps::new(100).unwrap())).await.unwrap();

    // The TP/SL tick reads the position …
    let stale = fx.only_position().await;
    // … a partial close (in profit) lands in between …
    fx.set_price("102000");
    let half = Action::ClosePosition { position: id.clone(), fraction: Bps::new(5_000).unwrap() };
    assert_eq!(fx.run("tg:close-1", half).await, pipeline::Outcome::Settled);
    let closed = fx.only_position().await;
    assert_eq!((closed.status, closed.collateral), (PositionStatus::Open, Usdc::from_str("50").unwrap()));
    assert!(closed.realised_pnl.unwrap().raw() > 0);
    assert!(closed.last_close.is_some());
    assert_eq!(closed.version, stale.version + 2, "OPEN → CLOSING → OPEN");
    assert_eq!(fx.raw_version(&closed).await, Some(closed.version.to_string()), "a plain attribute beside the JSON");

    // … and the tick writes its move. What the old write did (the whole item from the stale read,
    // conditioned on the status only) is now refused …
    let mut blind = stale.clone();
    blind.trail = Some(TrailingStop {
        distance: Bps::new(100).unwrap(),
        best: Price::from_str("110000").unwrap(),
        epoch: stale.trail.and_then(|t| t.epoch),
    });
    assert!(matches!(fx.store.update_position(&blind, PositionStatus::Open).await, Err(DomainError::Conflict(_))));
    assert_eq!(fx.only_position().await, closed, "nothing changed");
    // … and the tick's own move re-reads: the close's collateral, PnL and marker stay.
    let moved = schedule::move_trail(&fx.deps, &stale, Price::from_str("110000").unwrap()).await.unwrap().unwrap();
    let now = fx.only_position().await;
    assert_eq!(now, moved);
    assert_eq!(now.trail.unwrap().best, Price::from_str("110000").unwrap());
    assert_eq!(
        (now.collateral, now.realised_pnl, &now.last_close, now.fees),
        (closed.collateral, closed.realised_pnl, &closed.last_close, closed.fees)
    );
    assert_eq!(now.version, closed.version + 1);
}

#[tokio::test]
async fn dynamo_a_position_from_before_versions_and_wallets_reads_and_updates_once() {
    let fx = Fx::new().await;
    // An item as the previous release wrote it: no `version` attribute, no wallet, no version
    // or open time in the JSON.
    let json = serde_json::json!({
        "id": "pos:legacy", "user": 7, "pair": "BTC/USD", "pair_index": 1, "trade_index": 0, "side": "long",
        "collateral": "100", "leverage": "5", "open_price": "100000", "tp": null, "sl": null, "mode": "DRY",
        "status": "OPEN", "opened_by": "tg:old", "opened_at": T0, "closed_at": null, "close_price": null,
        "realised_pnl": null, "fees": "0.225"
    });
    fx.client
        .put_item()
        .table_name(&fx.table)
        .item("pk", AttributeValue::S("USER#7".into()))
        .item("sk", AttributeValue::S("POS#pos:legacy".into()))
        .item("status", AttributeValue::S("OPEN".into()))
        .item("data", AttributeValue::S(json.to_string()))
        .send()
        .await
        .unwrap();
    let p = fx.only_position().await;
    assert_eq!((p.version, p.wallet, p.venue_open_time), (0, None, None));
    let mut a = p.clone();
    a.sl = Some(Price::from_str("95000").unwrap());
    fx.store.update_position(&a, PositionStatus::Open).await.unwrap();
    let mut b = p.clone();
    b.tp = Some(Price::from_str("120000").unwrap());
    assert!(
        matches!(fx.store.update_position(&b, PositionStatus::Open).await, Err(DomainError::Conflict(_))),
        "the second stale write loses"
    );
    let stored = fx.only_position().await;
    assert_eq!((stored.version, stored.sl, stored.tp), (1, a.sl, None));
}

// ---------------------------------------------------------------------------------------------
// Avantis (fake server): a close carries the recorded identity and never hits another trade

mod avantis {
    use std::str::FromStr;
    use std::sync::Arc;
    use std::time::Duration;

    use vanta_chain::avantis::{AvantisConfig, AvantisVenue};
    use vanta_chain::signer::LocalKeySigner;
    use vanta_domain::DomainError;
    use vanta_domain::ids::{IntentId, TraderAddress};
    use vanta_domain::market::{PairIndex, Side};
    use vanta_domain::money::{Leverage, PercentP, Price, Usdc};
    use vanta_domain::ports::{KnownPosition, Signer, Venue, VenueFill, VenueOrder};
    use vanta_testkit::fake_avantis::{FAKE_CHAIN_ID, FakeAvantis};

    fn open(trader: TraderAddress, side: Side, leverage: u64) -> VenueOrder {
        VenueOrder::Open {
            trader,
            pair: PairIndex(0),
            side,
            collateral: Usdc::from_str("100").unwrap(),
            leverage: Leverage::from_whole(leverage).unwrap(),
            reference_price: Price::from_str("3000.5").unwrap(),
            slippage: PercentP::from_str("1").unwrap(),
            tp: None,
            sl: None,
        }
    }

    fn close(trader: TraderAddress, fill: &VenueFill, known: Option<KnownPosition>) -> VenueOrder {
        VenueOrder::Close { trader, pair: fill.pair, trade_index: fill.trade_index, collateral: fill.collateral, known }
    }

    fn identity(fill: &VenueFill) -> KnownPosition {
        KnownPosition { side: fill.side, leverage: fill.leverage, open_price: Some(fill.price), open_time: fill.open_time }
    }

    #[tokio::test]
    async fn avantis_close_checks_the_trade_at_the_index_is_the_recorded_one() {
        let fake = FakeAvantis::start().await.unwrap();
        let u = fake.urls();
        let mut cfg = AvantisConfig::new(u.tx_builder, u.batched_market, u.core, u.data, FAKE_CHAIN_ID);
        cfg.request_timeout = Duration::from_secs(2);
        cfg.status_poll_interval = Duration::from_millis(50);
        let signer = Arc::new(LocalKeySigner::random().unwrap());
        let trader = Signer::address(signer.as_ref());
        let venue = AvantisVenue::from_config(cfg, signer).unwrap();
        let id = |s: &str| IntentId::parse(s).unwrap();

        // The open reports the venue's open time, the same one its positions show.
        let first = venue.execute(&id("open-1"), &open(trader, Side::Long, 10)).await.unwrap();
        let open_time = first.open_time.expect("the open reports the trade's open time");
        let listed = venue.positions(trader).await.unwrap();
        assert_eq!(listed[0].open_time, Some(open_time));
        // Closed elsewhere (the app), and another trade takes the same index.
        venue.execute(&id("close-elsewhere"), &close(trader, &first, None)).await.unwrap();
        let other = venue.execute(&id("open-2"), &open(trader, Side::Short, 4)).await.unwrap();
        assert_eq!(other.trade_index, first.trade_index, "the index was reused");

        let refused = venue.execute(&id("close-1"), &close(trader, &first, Some(identity(&first)))).await.unwrap_err();
        assert!(matches!(&refused, DomainError::NotFound(m) if m.contains("not the recorded position")), "{refused}");
        let left = venue.positions(trader).await.unwrap();
        assert_eq!((left.len(), left[0].side), (1, Side::Short), "the other trade is untouched");

        // Nor is the other trade's TP/SL changed for the recorded position.
        let upd = VenueOrder::UpdateTpSl {
            trader,
            pair: first.pair,
            trade_index: first.trade_index,
            tp: None,
            sl: Some(Price::from_str("5000").unwrap()),
            known: Some(identity(&first)),
        };
        assert!(matches!(venue.execute(&id("tpsl-1"), &upd).await, Err(DomainError::NotFound(_))));
        // A trade opened at another time at that index is another trade too …
        let mut later = identity(&other);
        later.open_time = other.open_time.map(|t| t + 1);
        assert!(matches!(venue.execute(&id("close-2"), &close(trader, &other, Some(later))).await, Err(DomainError::NotFound(_))));
        // … and the recorded trade itself closes.
        venue.execute(&id("close-3"), &close(trader, &other, Some(identity(&other)))).await.unwrap();
        assert!(venue.positions(trader).await.unwrap().is_empty());
    }
}
