//! The trigger index (issue 11 item 2) on DynamoDB (moto) and on the in-memory twin, with the
//! same checks: a range query returns exactly the crossed levels at their boundaries (equal
//! price, one tick either side, both sides, TP, SL and trail distances), every position write
//! keeps the index, the CLOSING partition, trail books under their version, the backfill's
//! paging and re-indexing; then a TP/SL tick over DynamoDB.

use std::str::FromStr;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use vanta_aws::dynamo::DynamoStore;
use vanta_domain::DomainError;
use vanta_domain::ids::{ChatId, PositionId, TelegramUserId};
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, PairSymbol, Side};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::{Bps, Leverage, PercentP, Price, Usdc};
use vanta_domain::ports::{IndexState, PositionStore, Store, TriggerStore, UserStore};
use vanta_domain::position::{Position, PositionStatus, TrailingStop};
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::triggers::{KeyRange, TrailBook, TriggerKind, TriggerPartition, crossed_fixed};
use vanta_domain::user::User;
use vanta_testkit::moto::Moto;

use crate::support::{eth_position, moto_table};

struct Fx {
    _moto: Moto,
    client: Client,
    table: String,
    store: DynamoStore,
}

impl Fx {
    async fn new() -> Self {
        let (moto, client, table) = moto_table("vanta-trig").await;
        // Small pages, so every query here also runs the pagination loop.
        let store = DynamoStore::new(client.clone(), table.clone()).with_page_limit(2);
        Self { _moto: moto, client, table, store }
    }

    async fn delete_raw(&self, pk: &str, sk: &str) {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .send()
            .await
            .unwrap();
    }

    async fn remove_attrs(&self, pk: &str, sk: &str, update: &str) {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .update_expression(update)
            .send()
            .await
            .unwrap();
    }
}

fn px(s: &str) -> Price {
    Price::from_str(s).unwrap()
}

fn btc() -> PairSymbol {
    PairSymbol::parse("BTC/USD").unwrap()
}

fn position(id: &str, side: Side) -> Position {
    Position {
        pair: btc(),
        side,
        leverage: Leverage::from_whole(2).unwrap(),
        open_price: px("100000"),
        opened_at: Timestamp(1_000),
        ..eth_position(id, 1, PositionStatus::Open)
    }
}

const MARK: &str = "100000";

fn around(delta: i64) -> Price {
    Price::from_raw(px(MARK).raw().checked_add_signed(delta).unwrap())
}

fn name(side: Side, kind: &str, delta: i64) -> String {
    format!(
        "{}-{kind}-{}",
        side.as_str(),
        match delta {
            -1 => "below",
            0 => "at",
            _ => "above",
        }
    )
}

async fn sorted_ids(s: &dyn Store, part: &TriggerPartition, range: KeyRange) -> Vec<String> {
    let mut v: Vec<String> = s.crossed(part, range).await.unwrap().into_iter().map(|(_, id)| id.to_string()).collect();
    v.sort();
    v
}

/// TP and SL one tick below, at and one tick above the mark, both sides; trails of 99, 100, 101
/// bps: the query for the mark returns exactly the crossed ones.
async fn check_crossed_boundaries(s: &dyn Store) {
    for side in [Side::Long, Side::Short] {
        for delta in [-1i64, 0, 1] {
            let mut tp = position(&name(side, "tp", delta), side);
            tp.tp = Some(around(delta));
            s.insert_position(&tp).await.unwrap();
            let mut sl = position(&name(side, "sl", delta), side);
            sl.sl = Some(around(delta));
            s.insert_position(&sl).await.unwrap();
        }
    }
    let mark = px(MARK);
    let q = |side, kind| (TriggerPartition::fixed(btc(), side, kind), crossed_fixed(side, kind, mark));
    let (part, range) = q(Side::Long, TriggerKind::TakeProfit);
    assert_eq!(sorted_ids(s, &part, range).await, ["long-tp-at", "long-tp-below"], "a long takes profit at or above its TP");
    let (part, range) = q(Side::Long, TriggerKind::StopLoss);
    assert_eq!(sorted_ids(s, &part, range).await, ["long-sl-above", "long-sl-at"], "a long stops out at or below its SL");
    let (part, range) = q(Side::Short, TriggerKind::TakeProfit);
    assert_eq!(sorted_ids(s, &part, range).await, ["short-tp-above", "short-tp-at"]);
    let (part, range) = q(Side::Short, TriggerKind::StopLoss);
    assert_eq!(sorted_ids(s, &part, range).await, ["short-sl-at", "short-sl-below"]);
    let (part, range) = q(Side::Long, TriggerKind::Liquidation);
    assert!(sorted_ids(s, &part, range).await.is_empty(), "2x liquidations are far away");
    // Trails: by distance, at or below the crossed one.
    for bps in [99u32, 100, 101] {
        let mut t = position(&format!("trail-{bps}"), Side::Long);
        t.trail = Some(TrailingStop { distance: Bps::new(bps).unwrap(), best: mark, epoch: Some(4) });
        s.insert_position(&t).await.unwrap();
    }
    let trail = TriggerPartition::trail(btc(), Side::Long, 4);
    assert_eq!(sorted_ids(s, &trail, KeyRange::AtOrBelow(100)).await, ["trail-100", "trail-99"]);
    assert!(s.any_indexed(&trail).await.unwrap());
    assert!(!s.any_indexed(&TriggerPartition::trail(btc(), Side::Long, 5)).await.unwrap());
    assert_eq!(s.trigger_pairs().await.unwrap(), [btc()]);

    // Every write keeps the index: a moved TP, a position going CLOSING, then closed.
    let mut p = s.get_position(TelegramUserId(1), &PositionId::parse("long-tp-at").unwrap()).await.unwrap().unwrap();
    p.tp = Some(around(1));
    s.update_position(&p, PositionStatus::Open).await.unwrap();
    let (part, range) = q(Side::Long, TriggerKind::TakeProfit);
    assert_eq!(sorted_ids(s, &part, range).await, ["long-tp-below"], "the moved TP is no longer crossed");
    assert_eq!(sorted_ids(s, &part, KeyRange::AtOrBelow(around(1).raw())).await, ["long-tp-above", "long-tp-at", "long-tp-below"]);
    p.version = 1;
    p.status = PositionStatus::Closing;
    s.update_position(&p, PositionStatus::Open).await.unwrap();
    assert_eq!(sorted_ids(s, &part, KeyRange::AtOrBelow(around(1).raw())).await, ["long-tp-above", "long-tp-below"]);
    let closing = s.closing_positions().await.unwrap();
    assert_eq!(closing.iter().map(|p| p.id.to_string()).collect::<Vec<_>>(), ["long-tp-at"]);
    p.version = 2;
    p.status = PositionStatus::Closed;
    s.update_position(&p, PositionStatus::Closing).await.unwrap();
    assert!(s.closing_positions().await.unwrap().is_empty());

    // Trail books: a write from a stale read is refused.
    let mut book = TrailBook::default();
    book.join(Side::Long, mark);
    s.put_trail_book(&btc(), Side::Long, &book).await.unwrap();
    assert!(matches!(s.put_trail_book(&btc(), Side::Long, &book).await, Err(DomainError::Conflict(_))));
    let stored = s.get_trail_book(&btc(), Side::Long).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.runs.len()), (1, 1));
    s.put_trail_book(&btc(), Side::Long, &stored).await.unwrap();
    assert!(s.get_trail_book(&btc(), Side::Short).await.unwrap().is_none());

    // The backfill's pages cover every live position once; a stale re-index is refused.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let (page, next) = s.live_positions_page(cursor.as_deref(), 4).await.unwrap();
        seen.extend(page.iter().map(|p| p.id.to_string()));
        cursor = next;
        if cursor.is_none() {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen.len(), 14, "12 TP/SL (one closed) and 3 trails: {seen:?}");
    seen.dedup();
    assert_eq!(seen.len(), 14, "no position twice");
    let stale = position("long-sl-at", Side::Long);
    let mut fresh = s.get_position(stale.user, &stale.id).await.unwrap().unwrap();
    fresh.sl = Some(around(-1));
    s.update_position(&fresh, PositionStatus::Open).await.unwrap();
    assert!(matches!(s.reindex_position(&stale).await, Err(DomainError::Conflict(_))));
    let mut state = s.index_state().await.unwrap();
    state.cursor = Some("x".into());
    s.put_index_state(&state).await.unwrap();
    assert_eq!(s.index_state().await.unwrap(), state);
}

#[tokio::test]
async fn memory_trigger_index_returns_exactly_the_crossed_levels() {
    check_crossed_boundaries(&MemoryStore::new()).await;
}

#[tokio::test]
async fn dynamo_trigger_index_returns_exactly_the_crossed_levels() {
    let fx = Fx::new().await;
    check_crossed_boundaries(&fx.store).await;
}

#[tokio::test]
async fn dynamo_reindex_restores_what_a_record_from_before_the_index_lacks() {
    let fx = Fx::new().await;
    let s = &fx.store;
    let mut p = position("legacy", Side::Long);
    p.sl = Some(px("95000"));
    s.insert_position(&p).await.unwrap();
    let mut c = position("legacy-closing", Side::Long);
    s.insert_position(&c).await.unwrap();
    c.status = PositionStatus::Closing;
    s.update_position(&c, PositionStatus::Open).await.unwrap();
    c.version = 1;
    // As written before the index: no index items, no CLOSING attributes.
    fx.delete_raw("USER#1", "TRIG#legacy#sl").await;
    fx.delete_raw("USER#1", "TRIG#legacy#liq").await;
    fx.remove_attrs("USER#1", "POS#legacy-closing", "REMOVE gsi1pk, gsi1sk").await;
    let sl = TriggerPartition::fixed(btc(), Side::Long, TriggerKind::StopLoss);
    assert!(!s.any_indexed(&sl).await.unwrap());
    assert!(s.closing_positions().await.unwrap().is_empty());
    s.reindex_position(&p).await.unwrap();
    s.reindex_position(&c).await.unwrap();
    assert_eq!(sorted_ids(s, &sl, KeyRange::AtOrAbove(px("95000").raw())).await, ["legacy"]);
    assert_eq!(s.closing_positions().await.unwrap().len(), 1);
    // A re-index never touches the position itself.
    assert_eq!(s.get_position(p.user, &p.id).await.unwrap().unwrap(), p);
}

fn pair_info(index: u16, sym: &str) -> PairInfo {
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
async fn dynamo_tpsl_tick_backfills_then_reads_only_crossed_levels() {
    let fx = Fx::new().await;
    let store = Arc::new(fx.store.clone());
    let clock = Arc::new(ManualClock::new(Timestamp(1_795_852_800_000)));
    let prices = Arc::new(FixedPrices::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let catalog = Arc::new(PairCatalog::new([pair_info(1, "BTC/USD")]).unwrap());
    let book = Arc::new(vanta_domain::paper::MemoryPaperBook::new());
    let paper = Arc::new(PaperVenue::new(catalog, prices.clone(), clock.clone()).with_book(book.clone()));
    let config = vanta_runtime::Config::from_lookup(|_| None).unwrap();
    let deps =
        vanta_app::Deps::new(config, store.clone(), queue.clone(), Arc::new(RecordingChat::new()), clock.clone(), prices.clone(), paper);
    let set = |p: &str| {
        for src in ["pyth", "chainlink"] {
            prices.set(btc(), src, px(p), clock.now()).unwrap();
        }
    };
    set("100000");
    store.get_or_create_user(User::new(TelegramUserId(1), ChatId(1), clock.now())).await.unwrap();
    for n in 0..12 {
        let mut p = position(&format!("far-{n}"), Side::Long);
        p.tp = Some(px("150000"));
        store.insert_position(&p).await.unwrap();
    }
    let mut near = position("near", Side::Long);
    near.sl = Some(px("99000"));
    // On its paper account, as the pipeline records a DRY position.
    let wallet = vanta_domain::ids::TraderAddress::new(alloy::primitives::Address::repeat_byte(0x07)).unwrap();
    near.wallet = Some(wallet);
    store.insert_position(&near).await.unwrap();
    // Its trade on that paper account's book (the keeper's to stop out).
    let mut acct = vanta_domain::paper::PaperAccount::fresh(wallet);
    acct.positions.push(vanta_domain::ports::VenuePosition {
        trader: wallet,
        pair: near.pair_index,
        trade_index: near.trade_index.unwrap(),
        side: near.side,
        collateral: near.collateral,
        leverage: near.leverage,
        open_price: near.open_price,
        tp: near.tp,
        sl: near.sl,
        open_time: None,
    });
    vanta_domain::paper::PaperStore::commit_paper(book.as_ref(), &acct, None).await.unwrap();
    // A fresh table has no index marker: the first tick backfills it (one page here), and from
    // then on only crossed levels are read.
    assert_eq!(store.index_state().await.unwrap().version, 0);
    let r = vanta_app::schedule::tpsl_tick(&deps).await.unwrap();
    assert_eq!(store.index_state().await.unwrap(), IndexState { version: vanta_domain::triggers::INDEX_VERSION, cursor: None });
    assert_eq!((r.live_positions, r.triggered.len()), (0, 0), "{r:?}");
    set("99000");
    let r = vanta_app::schedule::tpsl_tick(&deps).await.unwrap();
    assert_eq!(r.live_positions, 1, "only the crossed level's position is read: {r:?}");
    // The stop is the venue's (the paper venue's keeper fires a DRY one, in the indexer's tick).
    assert!(r.triggered.is_empty(), "{r:?}");
    assert_eq!(queue.len(), 0, "no close queued by the tick");
}
