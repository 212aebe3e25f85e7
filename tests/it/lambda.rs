//! The real function binaries, cold start included, run against a fake Lambda Runtime API with
//! DynamoDB in moto and a fake KMS: proves each `main.rs` wires its adapters and answers the
//! event shapes AWS sends (the fixtures in `events/`).

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Child;
use vanta_testkit::fake_kms::FakeKms;
use vanta_testkit::lambda_api::{FakeLambdaApi, Outcome};
use vanta_testkit::moto::Moto;
use vanta_testkit::net::repo_root;

const WAIT: Duration = Duration::from_secs(60);

/// The function binary. All five are built once per test run, in one cargo invocation with the
/// workspace's feature set (a no-op after `cargo test --workspace`, which built them already).
fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo_root().join("events").join(name)).unwrap()).unwrap()
}

struct Env {
    moto: Moto,
    table: String,
}

async fn aws_env() -> Env {
    let moto = Moto::start().await.unwrap();
    let cfg = crate::support::sdk_config(&moto.endpoint).await;
    let table = "vanta-lambda-it".to_owned();
    vanta_aws::dynamo::create_table(&aws_sdk_dynamodb::Client::new(&cfg), &table).await.unwrap();
    Env { moto, table }
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

/// In-memory handler dependencies with `env` as the environment.
fn memory_deps(env: &[(&str, &str)]) -> vanta_app::Deps {
    use std::sync::Arc;
    use vanta_domain::market::PairCatalog;
    use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
    use vanta_domain::time::{ManualClock, Timestamp};
    let m: std::collections::HashMap<String, String> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    let config = vanta_runtime::Config::from_lookup(|k| m.get(k).cloned()).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_795_852_800_000)));
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let prices = Arc::new(FixedPrices::new());
    let paper = Arc::new(PaperVenue::new(Arc::new(PairCatalog::new([]).unwrap()), prices.clone(), clock.clone()));
    vanta_app::Deps::new(config, Arc::new(MemoryStore::new()), queue, Arc::new(RecordingChat::new()), clock, prices, paper)
}

/// What a router saw of a request: method, path, caller IP, the Telegram secret header, body.
fn probe() -> axum::Router {
    axum::Router::new().fallback(|req: axum::extract::Request| async move {
        let ip = vanta_app::http::SourceIp::of(req.extensions()).map(|ip| ip.to_string());
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let secret = parts.headers.get(vanta_app::telegram::SECRET_HEADER).map(|v| v.to_str().unwrap().to_owned());
        vanta_app::http::json(
            200,
            &json!({
                "method": parts.method.as_str(), "path": parts.uri.path(), "source_ip": ip, "secret": secret,
                "body": String::from_utf8_lossy(&body),
            }),
        )
    })
}

async fn body_json(resp: axum::response::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn lambda_request(name: &str) -> lambda_http::Request {
    lambda_http::request::from_str(&std::fs::read_to_string(repo_root().join("events").join(name)).unwrap()).unwrap()
}

#[tokio::test]
async fn api_gateway_events_reach_the_router_as_sent() {
    let deps = memory_deps(&[("TELEGRAM_WEBHOOK_SECRET", "local_dev_webhook_secret")]);
    // What the handlers see, through lambda_http's conversion and the Lambda adapter.
    let (status, seen) = body_json(vanta_lambda::http::call(probe(), &deps, lambda_request("apigw-healthz.json")).await).await;
    assert_eq!(status, 200);
    assert_eq!((seen["method"].as_str(), seen["path"].as_str()), (Some("GET"), Some("/healthz")));
    assert_eq!(seen["source_ip"], "198.51.100.7", "the caller's IP from the request context");
    let (_, tg) = body_json(vanta_lambda::http::call(probe(), &deps, lambda_request("apigw-telegram-update.json")).await).await;
    assert_eq!(tg["secret"], "local_dev_webhook_secret");
    assert!(tg["body"].as_str().unwrap().starts_with("{\"update_id\":900001"), "{tg}");

    // And the functions' routers answer them.
    let api = vanta_app::http::api_router(deps.clone());
    let (status, health) = body_json(vanta_lambda::http::call(api.clone(), &deps, lambda_request("apigw-healthz.json")).await).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let (status, _) = body_json(vanta_lambda::http::call(api, &deps, lambda_request("apigw-telegram-update.json")).await).await;
    assert_eq!(status, 404, "the webhook function does not serve Telegram's route");
    // The signal intake links no market and no RPC: /health and the wallet signing page are the
    // telegram function's (the local runner serves every route).
    let (api, bot, all) =
        (vanta_app::http::api_router(deps.clone()), vanta_app::http::telegram_router(deps.clone()), vanta_app::http::router(deps.clone()));
    for (method, path) in [("GET", "/health"), ("GET", "/link/abc"), ("POST", "/link/abc")] {
        // A route that is absent answers 404 "no route for …" (a missing link nonce is a 404 too,
        // with its own reason).
        let routed = |r: &axum::Router| {
            let r = r.clone();
            async move {
                let resp = vanta_app::http::testing::send(&r, vanta_app::http::testing::TestRequest::new(method, path)).await;
                !String::from_utf8_lossy(&resp.body).contains("no route for")
            }
        };
        assert!(!routed(&api).await, "the webhook does not serve {method} {path}");
        assert!(routed(&bot).await, "the telegram function serves {method} {path}");
        assert!(routed(&all).await, "the local runner serves {method} {path}");
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = vanta_app::http::testing::send(&api, vanta_app::http::testing::TestRequest::new("GET", path)).await;
        assert!(!String::from_utf8_lossy(&r.body).contains("no route for"), "the webhook serves GET {path}");
    }
    let telegram = vanta_app::http::telegram_router(deps.clone());
    let (status, ok) = body_json(vanta_lambda::http::call(telegram, &deps, lambda_request("apigw-telegram-update.json")).await).await;
    assert_eq!((status, ok["ok"].as_bool()), (200, Some(true)));
    assert!(deps.metrics.render().contains("vanta_telegram_updates_total 1"), "{}", deps.metrics.render());
}
