//! Fixtures shared by the integration tests: the AWS SDK configuration for an emulator, moto
//! with a fresh single-table, the function binaries under the fake Lambda runtime API, and the position and intent most tests start from (ETH/USD, long,
//! 100 USDC at 10×, DRY). A test changes what it needs with struct-update syntax
//! (`Position { sl: …, ..eth_position(…) }`).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};
use tokio::process::Command;
use vanta_aws::dynamo::create_table;
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, PositionId, SignalId, SourceId, TelegramUserId};
use vanta_domain::intent::{Action, Intent, OpenOrder, Origin};
use vanta_domain::market::{PairIndex, PairSymbol, Side};
use vanta_domain::money::{Leverage, Price, Usdc};
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::time::Timestamp;
use vanta_testkit::lambda_api::FakeLambdaApi;
use vanta_testkit::moto::Moto;
use vanta_testkit::net::repo_root;

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

// ---------------------------------------------------------------------------------------------
// The function binaries under a fake Lambda runtime API
// ---------------------------------------------------------------------------------------------

/// The path of function binary `name`, after building the workspace's binaries once per run.
pub fn function_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<bool> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "--quiet", "--workspace", "--bins"]).current_dir(repo_root());
        cmd.status().map(|s| s.success()).unwrap_or(false)
    });
    assert!(*built, "building the function binaries failed");
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| repo_root().join("target"));
    let path = target.join("debug").join(name);
    assert!(path.exists(), "{} missing", path.display());
    path
}

/// Function `bin` as the Lambda runtime starts it against `api`: a clean environment with the
/// runtime's variables and test AWS credentials, stderr piped, killed on drop. The caller adds
/// `RUST_LOG`, stdout and the function's settings, then spawns.
pub fn lambda_command(bin: &str, api: &FakeLambdaApi) -> Command {
    let mut cmd = Command::new(function_binary(bin));
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.runtime_api())
        .env("AWS_LAMBDA_FUNCTION_NAME", bin)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}
