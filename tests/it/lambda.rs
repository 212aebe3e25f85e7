//! The real function binaries, cold start included, run against a fake Lambda Runtime API with
//! DynamoDB in moto and a fake KMS: proves each `main.rs` wires its adapters and answers the
//! event shapes AWS sends (the fixtures in `events/`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::{Credentials, Region};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use vanta_testkit::fake_kms::FakeKms;
use vanta_testkit::lambda_api::{FakeLambdaApi, Outcome};
use vanta_testkit::moto::Moto;
use vanta_testkit::net::repo_root;

const WAIT: Duration = Duration::from_secs(60);

/// The function binary. All five are built once per test run, in one cargo invocation with the
/// workspace's feature set (a no-op after `cargo test --workspace`, which built them already).
fn binary(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
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

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo_root().join("events").join(name)).unwrap()).unwrap()
}

struct Env {
    moto: Moto,
    table: String,
}

async fn aws_env() -> Env {
    let moto = Moto::start().await.unwrap();
    let cfg = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    let table = "vanta-lambda-it".to_owned();
    vanta_aws::dynamo::create_table(&aws_sdk_dynamodb::Client::new(&cfg), &table).await.unwrap();
    Env { moto, table }
}

fn spawn(bin: &str, api: &FakeLambdaApi, env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(binary(bin));
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
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn response(o: Outcome) -> Value {
    match o {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("function reported an error: {e}"),
    }
}

#[tokio::test]
async fn webhook_binary_answers_api_gateway_events() {
    let env = aws_env().await;
    let api = FakeLambdaApi::start().await.unwrap();
    let _child = spawn("webhook", &api, &[("TABLE_NAME", env.table.clone()), ("AWS_ENDPOINT_URL", env.moto.endpoint.clone())]);
    let r = response(api.invoke(&fixture("apigw-healthz.json"), WAIT).await.unwrap());
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(serde_json::from_str::<Value>(r["body"].as_str().unwrap()).unwrap()["status"], "ok");
    let mut ready = fixture("apigw-healthz.json");
    ready["rawPath"] = json!("/readyz");
    ready["requestContext"]["http"]["path"] = json!("/readyz");
    let r = response(api.invoke(&ready, WAIT).await.unwrap());
    assert_eq!(r["statusCode"], 200, "the store (moto) answers: {r}");
}

#[tokio::test]
async fn signal_worker_binary_signs_with_kms_and_reports_failed_messages() {
    let env = aws_env().await;
    let kms = FakeKms::start().await.unwrap();
    let key = kms.import_key(&[7u8; 32]).unwrap();
    let api = FakeLambdaApi::start().await.unwrap();
    let _child = spawn(
        "signal-worker",
        &api,
        &[
            ("TABLE_NAME", env.table.clone()),
            ("AWS_ENDPOINT_URL", env.moto.endpoint.clone()),
            ("AWS_ENDPOINT_URL_KMS", kms.endpoint.clone()),
            ("KMS_KEY_ID", key),
        ],
    );
    let event = fixture("sqs-signal.json");
    let r = response(api.invoke(&event, WAIT).await.unwrap());
    // The intent is unknown: the message is reported failed (SQS retries, then the DLQ), never dropped.
    assert_eq!(r["batchItemFailures"][0]["itemIdentifier"], event["Records"][0]["messageId"], "{r}");
    assert!(kms.requests_of("GetPublicKey").len() == 1, "the delegate key was loaded from KMS at cold start");
}

#[tokio::test]
async fn scheduled_binaries_tick() {
    let env = aws_env().await;
    let api = FakeLambdaApi::start().await.unwrap();
    let _child = spawn("indexer", &api, &[("TABLE_NAME", env.table.clone()), ("AWS_ENDPOINT_URL", env.moto.endpoint.clone())]);
    let r = response(api.invoke(&fixture("schedule-tick.json"), WAIT).await.unwrap());
    assert_eq!(r, json!({ "job": "indexer", "live_positions": 0 }));
}

#[tokio::test]
async fn a_function_without_its_table_refuses_to_start_and_says_why() {
    let api = FakeLambdaApi::start().await.unwrap();
    let child = spawn("telegram", &api, &[("TELEGRAM_BOT_TOKEN", "123:do-not-print-me".into())]);
    let out = tokio::time::timeout(WAIT, child.wait_with_output()).await.unwrap().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TABLE_NAME is required"), "{stderr}");
    assert!(!stderr.contains("do-not-print-me"), "a secret reached the logs: {stderr}");
}
