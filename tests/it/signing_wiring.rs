//! The function binaries' signing wiring, cold start included (fake Lambda Runtime API, moto, a
//! fake KMS): the signal worker and the bot load every delegate key of the pool
//! (`KMS_KEY_ID` + `KMS_POOL_KEY_ARNS`), and only the worker could sign; the `tpsl` tick needs no
//! key at all (it only queues intents).

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Child;
use vanta_testkit::fake_kms::FakeKms;
use vanta_testkit::lambda_api::{FakeLambdaApi, Outcome};
use vanta_testkit::moto::Moto;
use vanta_testkit::net::repo_root;

const WAIT: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo_root().join("events").join(name)).unwrap()).unwrap()
}

async fn moto_table() -> (Moto, String) {
    let moto = Moto::start().await.unwrap();
    let cfg = crate::support::sdk_config(&moto.endpoint).await;
    let table = "vanta-signing-wiring".to_owned();
    vanta_aws::dynamo::create_table(&aws_sdk_dynamodb::Client::new(&cfg), &table).await.unwrap();
    (moto, table)
}

fn spawn(bin: &str, api: &FakeLambdaApi, env: &[(&str, String)]) -> Child {
    let mut cmd = crate::support::lambda_command(bin, api);
    cmd.env("RUST_LOG", "warn").stdout(Stdio::null());
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

/// The keys whose public key was read.
fn read_keys(kms: &FakeKms) -> BTreeSet<String> {
    kms.requests_of("GetPublicKey").into_iter().filter_map(|r| r.key_id).collect()
}

#[tokio::test]
async fn the_worker_and_the_bot_load_every_pool_key_and_the_tpsl_tick_needs_none() {
    let (moto, table) = moto_table().await;
    let kms = FakeKms::start().await.unwrap();
    let main = kms.import_key(&[7u8; 32]).unwrap();
    let pool = [kms.create_key(), kms.create_key()].map(|k| kms.key_arn(&k));
    let base = vec![
        ("TABLE_NAME", table.clone()),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_ENDPOINT_URL_KMS", kms.endpoint.clone()),
        ("KMS_KEY_ID", main.clone()),
        ("KMS_POOL_KEY_ARNS", format!("{},{}", pool[0], pool[1])),
    ];
    let expected: BTreeSet<String> = [main.clone(), pool[0].clone(), pool[1].clone()].into();

    // The signal worker: every key loaded at cold start; an unknown intent signs nothing.
    let api = FakeLambdaApi::start().await.unwrap();
    let _worker = spawn("signal-worker", &api, &base);
    let event = fixture("sqs-signal.json");
    let r = response(api.invoke(&event, WAIT).await.unwrap());
    assert_eq!(r["batchItemFailures"][0]["itemIdentifier"], event["Records"][0]["messageId"], "{r}");
    assert_eq!(read_keys(&kms), expected, "the worker holds one signer per pool key");
    assert!(kms.requests_of("Sign").is_empty());

    // The bot: the same public keys (each user's delegate address), never a signature.
    kms.clear_requests();
    let api = FakeLambdaApi::start().await.unwrap();
    let mut bot_env = base.clone();
    bot_env.push(("TELEGRAM_WEBHOOK_SECRET", "s3cret".into()));
    let _bot = spawn("telegram", &api, &bot_env);
    let r = response(api.invoke(&fixture("apigw-telegram-update.json"), WAIT).await.unwrap());
    assert!(r["statusCode"].is_number(), "{r}");
    assert_eq!(read_keys(&kms), expected, "the bot reads every delegate's public key");
    assert!(kms.requests_of("Sign").is_empty(), "the bot never signs");

    // The tpsl tick starts and ticks with no KMS key configured at all.
    let api = FakeLambdaApi::start().await.unwrap();
    let _tpsl = spawn("tpsl", &api, &[("TABLE_NAME", table), ("AWS_ENDPOINT_URL", moto.endpoint.clone())]);
    let r = response(api.invoke(&fixture("schedule-tick.json"), WAIT).await.unwrap());
    assert_eq!(r, json!({ "job": "tpsl", "live_positions": 0 }));
}
