//! Fixtures shared by the integration tests: the AWS SDK configuration for an emulator, moto
//! with a fresh single-table, and the position and intent most tests start from (ETH/USD, long,
//! 100 USDC at 10×, DRY). A test changes what it needs with struct-update syntax
//! (`Position { sl: …, ..eth_position(…) }`).

use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};
use vanta_aws::dynamo::create_table;
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, PositionId, SignalId, SourceId, TelegramUserId};
use vanta_domain::intent::{Action, Intent, OpenOrder, Origin};
use vanta_domain::market::{PairIndex, PairSymbol, Side};
use vanta_domain::money::{Leverage, Price, Usdc};
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::time::Timestamp;
use vanta_testkit::moto::Moto;

/// The SDK configuration for an emulator at `endpoint` (moto, the fake KMS): us-east-1, test
/// credentials.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await
}

static TABLES: AtomicU32 = AtomicU32::new(0);

/// A new moto, a DynamoDB client on it and a fresh table `<prefix>-<pid>-<n>` (created).
pub async fn moto_table(prefix: &str) -> (Moto, aws_sdk_dynamodb::Client, String) {
    let moto = Moto::start().await.expect("moto starts");
    let client = aws_sdk_dynamodb::Client::new(&sdk_config(&moto.endpoint).await);
    let table = format!("{prefix}-{}-{}", std::process::id(), TABLES.fetch_add(1, Ordering::SeqCst));
    create_table(&client, &table).await.expect("table created");
    (moto, client, table)
}

/// An open order on ETH/USD: long, `collateral` USDC at 10×, no TP/SL, default slippage.
pub fn eth_open_order(collateral: u64) -> Action {
    Action::Open(OpenOrder {
        pair: PairSymbol::parse("ETH/USD").unwrap(),
        side: Side::Long,
        collateral: Usdc::from_whole(collateral).unwrap(),
        leverage: Leverage::from_whole(10).unwrap(),
        tp: None,
        sl: None,
        slippage: None,
    })
}

/// A signal's intent `id` (source `src`, signal id = `id`) for user `user`: [`eth_open_order`]
/// of 100 USDC, payload hash `hash`, created at `at` (ms).
pub fn eth_open_intent(id: &str, user: i64, at: i64, hash: &str) -> Intent {
    let origin = Origin::Signal { source: SourceId::parse("src").unwrap(), signal: SignalId::parse(id).unwrap() };
    Intent::new(IntentId::parse(id).unwrap(), TelegramUserId(user), origin, eth_open_order(100), hash.into(), Timestamp(at))
}

/// Position `id` of user `user` in `status`: ETH/USD (pair 1, trade 0), long, 100 USDC at 10×
/// opened at 3,000 by intent `open-<id>` at t = 0, DRY, no TP/SL, nothing closed.
pub fn eth_position(id: &str, user: i64, status: PositionStatus) -> Position {
    Position {
        id: PositionId::parse(id).unwrap(),
        user: TelegramUserId(user),
        pair: PairSymbol::parse("ETH/USD").unwrap(),
        pair_index: PairIndex(1),
        trade_index: Some(0),
        side: Side::Long,
        collateral: Usdc::from_whole(100).unwrap(),
        leverage: Leverage::from_whole(10).unwrap(),
        open_price: Price::from_whole(3_000).unwrap(),
        tp: None,
        sl: None,
        mode: ExecMode::Dry,
        status,
        opened_by: IntentId::parse(&format!("open-{id}")).unwrap(),
        opened_at: Timestamp(0),
        closed_at: None,
        close_price: None,
        realised_pnl: None,
        fees: Usdc::ZERO,
        closing: None,
        last_close: None,
        last_close_fraction: None,
        trail: None,
        wallet: None,
        venue_open_time: None,
        copy_of: None,
        version: 0,
    }
}
