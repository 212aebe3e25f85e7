//! Cold start of each function's release binary: the process is started with a fake Lambda
//! Runtime API ([`vanta_testkit::lambda_api`]), DynamoDB in moto, a fake KMS, a fake Telegram
//! and a fake venue ([`FakeAvantis`]: every Veranta service URL, as in production) on loopback,
//! and handed its first event at once; the figure is process start → that event's
//! answer (cold start and first invocation, with the store calls it makes: moto answers in
//! about a millisecond, DynamoDB in a few). Then the binary's size and its peak resident memory
//! after that first invocation (`VmHWM` in `/proc/<pid>/status`).
//!
//! The first answer is split: the init phase (process start → the runtime's first poll for an
//! event: configuration, SDK clients, secrets) and the first invocation. The same event is then
//! handed to the same, now warm, process; the cold start's cost proper is the first answer
//! minus that warm answer (what a new instance adds to the event's own work: for the scheduled
//! ticks that work is many store calls, the same warm or cold).
//!
//! The baseline is `bench-noop-lambda`: the same Lambda runtime and release profile with an
//! empty handler, started and invoked the same way.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::Command;
use vanta_testkit::fake_avantis::FakeAvantis;
use vanta_testkit::fake_kms::FakeKms;
use vanta_testkit::fake_telegram::FakeTelegram;
use vanta_testkit::lambda_api::{FakeLambdaApi, Outcome};
use vanta_testkit::moto::Moto;
use vanta_testkit::net::repo_root;

use crate::{Report, Row, median, ms};

const WAIT: Duration = Duration::from_secs(60);
/// Starts per binary (the figure is their median).
const STARTS: usize = 3;

/// The function binaries, in template order, and the event each first answers.
pub const FUNCTIONS: [&str; 6] = ["webhook", "telegram", "signal-worker", "tpsl", "indexer", "notifier"];
pub const BASELINE: &str = "bench-noop-lambda";

#[derive(Debug, Clone, serde::Serialize)]
pub struct Start {
    pub binary: String,
    pub first_answer_ms: f64,
    /// Process start → the first poll for an event.
    pub init_ms: f64,
    /// The same event again, handed to the warm process.
    pub warm_answer_ms: f64,
    pub size_bytes: u64,
    pub peak_rss_kb: u64,
    /// Whether the first answer was a response (not an error report).
    pub answered: bool,
}

fn fixture(name: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(repo_root().join("events").join(name)).map_err(|e| format!("events/{name}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// Peak resident set of a running process, in kB.
fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

struct Services {
    moto: Moto,
    table: String,
    kms: FakeKms,
    key: String,
    telegram: FakeTelegram,
    venue: FakeAvantis,
}

async fn services() -> Result<Services, String> {
    let moto = Moto::start().await?;
    let cfg = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    let table = "vanta-bench".to_owned();
    vanta_aws::dynamo::create_table(&aws_sdk_dynamodb::Client::new(&cfg), &table).await.map_err(|e| e.to_string())?;
    let kms = FakeKms::start().await?;
    let key = kms.import_key(&[7u8; 32])?;
    let telegram = FakeTelegram::start().await?;
    let venue = FakeAvantis::start().await?;
    Ok(Services { moto, table, kms, key, telegram, venue })
}

/// Environment variables of a function process.
type Env = Vec<(&'static str, String)>;

fn env_and_event(bin: &str, s: &Services) -> Result<(Env, Value), String> {
    let mut env = vec![("TABLE_NAME", s.table.clone()), ("AWS_ENDPOINT_URL", s.moto.endpoint.clone())];
    // The venue the functions call in production, reachable: the indexer's first tick refreshes
    // the pair catalog from it (an unreachable one measured its timeout, not the start).
    let urls = s.venue.urls();
    env.extend([
        ("VERANTA_TX_BUILDER_URL", urls.tx_builder),
        ("VERANTA_BATCHED_MARKET_URL", urls.batched_market),
        ("VERANTA_CORE_API_URL", urls.core),
        ("VERANTA_DATA_API_URL", urls.data),
        ("VERANTA_FEED_URL", urls.feed),
        ("VERANTA_HISTORY_API_URL", urls.history),
    ]);
    let kms = [("AWS_ENDPOINT_URL_KMS", s.kms.endpoint.clone()), ("KMS_KEY_ID", s.key.clone())];
    let telegram = [("TELEGRAM_BOT_TOKEN", "123456:bench-token".to_owned()), ("TELEGRAM_API_URL", s.telegram.url.clone())];
    let event = match bin {
        "webhook" => fixture("apigw-healthz.json")?,
        "telegram" => {
            env.extend(kms);
            env.extend(telegram);
            env.push(("TELEGRAM_WEBHOOK_SECRET", "local_dev_webhook_secret".into()));
            fixture("apigw-telegram-update.json")?
        }
        "signal-worker" => {
            env.extend(kms);
            fixture("sqs-signal.json")?
        }
        "notifier" => {
            env.extend(telegram);
            let mut e = fixture("sqs-signal.json")?;
            let notice = vanta_app::notifier::Notice {
                user: vanta_domain::ids::TelegramUserId(7),
                chat: vanta_domain::ids::ChatId(7),
                html: "🧪 <b>DRY</b> · ✅ Opened".into(),
            };
            if let Some(r) = e.get_mut("Records").and_then(|r| r.get_mut(0)) {
                r["body"] = json!(serde_json::to_string(&notice).map_err(|e| e.to_string())?);
            }
            e
        }
        _ => fixture("schedule-tick.json")?,
    };
    Ok((env, event))
}

/// One cold start: (start → first answer, start → first poll, the same event warm, peak RSS kB,
/// whether the first answer was a response).
struct Once {
    first: Duration,
    init: Duration,
    warm: Duration,
    hwm_kb: u64,
    answered: bool,
}

async fn start_once(path: &Path, bin: &str, env: &[(&'static str, String)], event: &Value) -> Result<Once, String> {
    let api = FakeLambdaApi::start().await.map_err(|e| e.to_string())?;
    let mut cmd = Command::new(path);
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.runtime_api())
        .env("AWS_LAMBDA_FUNCTION_NAME", bin)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    // Its logs, for when a start fails: target/bench-logs/<binary>.log.
    let logs = release_dir().with_file_name("bench-logs");
    let _ = std::fs::create_dir_all(&logs);
    match std::fs::File::create(logs.join(format!("{bin}.log"))) {
        Ok(f) => cmd.stderr(f),
        Err(_) => cmd.stderr(Stdio::null()),
    };
    for (k, v) in env {
        cmd.env(k, v);
    }
    // The clock runs from the spawn; the event is queued at once, before the runtime's first poll.
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", path.display()))?;
    let outcome = tokio::select! {
        o = api.invoke(event, WAIT) => o.map_err(|e| format!("{bin}: {e}"))?,
        exit = child.wait() => {
            return Err(format!("{bin} exited before answering ({}); its log is in target/bench-logs/{bin}.log", exit.map_or_else(|e| e.to_string(), |s| s.to_string())));
        }
    };
    let took = started.elapsed();
    let hwm = child.id().and_then(vm_hwm_kb).unwrap_or(0);
    let init = api.first_poll().map_or(took, |t| t.duration_since(started));
    // The same event again, warm: what the event's own work takes without the start.
    let again = Instant::now();
    api.invoke(event, WAIT).await.map_err(|e| format!("{bin} (warm): {e}"))?;
    let warm = again.elapsed();
    let _ = child.start_kill();
    let _ = child.wait().await;
    Ok(Once { first: took, init, warm, hwm_kb: hwm, answered: matches!(outcome, Outcome::Response(_)) })
}

async fn measure(dir: &Path, bin: &str, s: &Services) -> Result<Start, String> {
    let path = dir.join(bin);
    let size_bytes = std::fs::metadata(&path).map_err(|e| format!("{}: {e} (run `make bench`, which builds it)", path.display()))?.len();
    let (env, event) = if bin == BASELINE { (Vec::new(), fixture("schedule-tick.json")?) } else { env_and_event(bin, s)? };
    start_once(&path, bin, &env, &event).await?; // warm the page cache: every start after it is alike
    let (mut times, mut inits, mut warms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut peak, mut answered) = (0, true);
    for _ in 0..STARTS {
        let once = start_once(&path, bin, &env, &event).await?;
        times.push(once.first);
        inits.push(once.init);
        warms.push(once.warm);
        peak = peak.max(once.hwm_kb);
        answered &= once.answered;
    }
    Ok(Start {
        binary: bin.to_owned(),
        first_answer_ms: ms(median(times)),
        init_ms: ms(median(inits)),
        warm_answer_ms: ms(median(warms)),
        size_bytes,
        peak_rss_kb: peak,
        answered,
    })
}

/// Where the release binaries are (`CARGO_TARGET_DIR` or `target/`, then `release/`).
pub fn release_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| repo_root().join("target")).join("release")
}

pub async fn run(report: &mut Report, dir: &Path) -> Result<(), String> {
    let s = services().await?;
    let base = measure(dir, BASELINE, &s).await?;
    let mut starts = Vec::new();
    for bin in FUNCTIONS {
        starts.push(measure(dir, bin, &s).await?);
    }
    let sec = "cold start";
    let mb = |b: u64| b as f64 / 1_048_576.0;
    let of = "empty-handler Lambda";
    for st in &starts {
        // Only the signal worker signs (the bot reads the delegate's address, never signs).
        let signs = st.binary == "signal-worker";
        let goal = if signs { "" } else { "≤ 20 ms" };
        report.rows.push(
            Row::new(sec, format!("{}: start → first answer", st.binary), st.first_answer_ms, "ms").against(base.first_answer_ms, of),
        );
        report.rows.push(
            Row::new(sec, format!("{}: init (start → ready for its first event)", st.binary), st.init_ms, "ms").against(base.init_ms, of),
        );
        report.rows.push(
            Row::new(
                sec,
                format!("{}: cold start's cost (first answer − the same event warm)", st.binary),
                st.first_answer_ms - st.warm_answer_ms,
                "ms",
            )
            .against(st.warm_answer_ms, "the same event, warm")
            .goal(goal),
        );
        let size_goal = if st.binary == "webhook" { "≤ 8 MB" } else { "links only what it uses" };
        report.rows.push(
            Row::new(sec, format!("{}: binary size", st.binary), mb(st.size_bytes), "MB").against(mb(base.size_bytes), of).goal(size_goal),
        );
        report.rows.push(
            Row::new(sec, format!("{}: peak RSS, first invocation", st.binary), st.peak_rss_kb as f64 / 1024.0, "MB")
                .against(base.peak_rss_kb as f64 / 1024.0, of)
                .goal("≤ 32 MB"),
        );
    }
    starts.push(base);
    report.details.insert("cold_start".into(), json!({ "starts_per_binary": STARTS, "binaries": starts }));
    Ok(())
}
